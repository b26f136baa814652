//! What every process of one deployment must agree on, checked at start:
//! the secrets key. A process with another key would write secrets the
//! others cannot read (and fail to read theirs), so it refuses to start.

use chrono::Utc;
use diesel::prelude::*;
use diesel_async::RunQueryDsl;

use crate::db::models::DeploymentFact;
use crate::db::schema::deployment_facts as f;
use crate::error::{ErrorCode, ServiceError, ServiceResult};
use crate::Ctx;

const KEY_FINGERPRINT: &str = "secrets_key_fingerprint";

/// Records this process's secrets-key fingerprint if none is recorded, then
/// refuses (`secrets_key_mismatch`) when the recorded one differs.
pub async fn check_secrets_key(ctx: &Ctx) -> ServiceResult<()> {
    let mine = ctx.secrets.fingerprint();
    let mut conn = ctx.pool.get().await?;
    diesel::insert_into(f::table)
        .values(DeploymentFact { name: KEY_FINGERPRINT.into(), value: mine.clone(), recorded_at: Utc::now() })
        .on_conflict_do_nothing()
        .execute(&mut conn)
        .await?;
    let recorded: String = f::table.find(KEY_FINGERPRINT).select(f::value).first(&mut conn).await?;
    if recorded == mine {
        // Signing secrets from before they were sealed get sealed now.
        let sealed = super::webhooks::seal_plain_secrets(ctx).await?;
        if sealed > 0 {
            tracing::info!(rows = sealed, "sealed webhook and callback signing secrets stored plainly");
        }
        return Ok(());
    }
    let source = if ctx.settings.secrets.key.is_empty() {
        format!("secrets.key_file {}", ctx.settings.secrets.key_file)
    } else {
        "secrets.key".to_string()
    };
    Err(ServiceError::new(
        ErrorCode::Unavailable,
        format!(
            "this process's secrets key (from {source}, fingerprint {mine}) is not the deployment's (fingerprint \
             {recorded}): its processes would not read each other's secrets. Give every API and worker process the \
             same key (CHORUS__SECRETS__KEY, or one secrets.key_file they all read)"
        ),
    ))
}
