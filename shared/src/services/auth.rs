//! API keys: creation, verification, listing and revocation.
//!
//! A key looks like `chorus_<8 hex prefix>_<32 hex secret>`. Only its
//! SHA-256 is stored; the prefix is kept in clear so people can tell keys
//! apart in listings.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use serde_json::json;
use sha2::{Digest, Sha256};
use utoipa::ToSchema;
use uuid::Uuid;

use super::Principal;
use crate::db::models::{ApiKey, NewApiKey, Tenant};
use crate::db::schema::{api_keys, tenants};
use crate::db::DbPool;
use crate::domain::Role;
use crate::error::{ErrorCode, ServiceError, ServiceResult};

/// A key as listed: never the secret.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ApiKeyView {
    pub id: Uuid,
    pub name: String,
    pub role: Role,
    pub prefix: String,
    pub created_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

/// A key just created: the only time its secret is shown.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct CreatedApiKey {
    #[serde(flatten)]
    pub key: ApiKeyView,
    /// The bearer secret. Store it now; it cannot be shown again.
    pub secret: String,
}

fn view(k: &ApiKey) -> ApiKeyView {
    ApiKeyView {
        id: k.id,
        name: k.name.clone(),
        role: Role::parse(&k.role).unwrap_or(Role::Viewer),
        prefix: k.prefix.clone(),
        created_at: k.created_at,
        last_used_at: k.last_used_at,
        revoked_at: k.revoked_at,
    }
}

/// SHA-256 of a secret, hex encoded.
pub fn hash_key(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// Finds or creates the tenant called `name`.
pub async fn ensure_tenant(pool: &DbPool, name: &str) -> ServiceResult<Tenant> {
    let mut conn = pool.get().await?;
    diesel::insert_into(tenants::table)
        .values((tenants::id.eq(Uuid::now_v7()), tenants::name.eq(name)))
        .on_conflict(tenants::name)
        .do_nothing()
        .execute(&mut conn)
        .await?;
    Ok(tenants::table.filter(tenants::name.eq(name)).select(Tenant::as_select()).first(&mut conn).await?)
}

/// Creates a key for `tenant_id` with `role`, audited as made by `actor`
/// (none: the command line).
pub async fn create_key(
    pool: &DbPool,
    tenant_id: Uuid,
    name: &str,
    role: Role,
    actor: Option<Uuid>,
) -> ServiceResult<CreatedApiKey> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 100 {
        return Err(ServiceError::new(ErrorCode::InvalidPayload, "name must be 1 to 100 characters"));
    }
    let mut bytes = [0u8; 20];
    rand::rng().fill_bytes(&mut bytes);
    let prefix = hex::encode(&bytes[..4]);
    let secret = format!("chorus_{prefix}_{}", hex::encode(&bytes[4..]));
    let hash = hash_key(&secret);
    let mut conn = pool.get().await?;
    let key = (*conn)
        .transaction::<_, diesel::result::Error, _>(async |conn: &mut AsyncPgConnection| {
            let new = NewApiKey {
                id: Uuid::now_v7(),
                tenant_id,
                name,
                role: role.as_str(),
                prefix: &prefix,
                key_hash: &hash,
            };
            let key: ApiKey = diesel::insert_into(api_keys::table)
                .values(new)
                .returning(ApiKey::as_returning())
                .get_result(conn)
                .await?;
            let selector = json!({"key_id": key.id, "name": name, "role": role.as_str()});
            super::audit::record(conn, tenant_id, actor, "key.create", &selector, &json!({}), None).await?;
            Ok(key)
        })
        .await?;
    Ok(CreatedApiKey { key: view(&key), secret })
}

/// How stale `last_used_at` may get before a request refreshes it; keeps
/// authentication a read, not a write, on busy keys.
const LAST_USED_RESOLUTION: chrono::TimeDelta = chrono::TimeDelta::seconds(60);

/// Verifies a bearer secret; revoked and unknown keys are refused alike.
pub async fn authenticate(pool: &DbPool, secret: &str) -> ServiceResult<Principal> {
    authenticate_hash(pool, &hash_key(secret)).await
}

/// [`authenticate`] for a secret already hashed with [`hash_key`].
pub async fn authenticate_hash(pool: &DbPool, hash: &str) -> ServiceResult<Principal> {
    let mut conn = pool.get().await?;
    let key: Option<ApiKey> = api_keys::table
        .filter(api_keys::key_hash.eq(hash))
        .filter(api_keys::revoked_at.is_null())
        .select(ApiKey::as_select())
        .first(&mut conn)
        .await
        .optional()?;
    let key = key.ok_or_else(|| ServiceError::new(ErrorCode::InvalidApiKey, "the API key is unknown or revoked"))?;
    let now = Utc::now();
    if key.last_used_at.is_none_or(|t| now - t > LAST_USED_RESOLUTION) {
        diesel::update(api_keys::table.find(key.id)).set(api_keys::last_used_at.eq(now)).execute(&mut conn).await?;
    }
    let role = Role::parse(&key.role).ok_or_else(|| ServiceError::internal("bad role in api_keys"))?;
    Ok(Principal { tenant_id: key.tenant_id, key_id: key.id, role })
}

/// The tenant's keys, newest first.
pub async fn list_keys(pool: &DbPool, tenant_id: Uuid) -> ServiceResult<Vec<ApiKeyView>> {
    let mut conn = pool.get().await?;
    let keys: Vec<ApiKey> = api_keys::table
        .filter(api_keys::tenant_id.eq(tenant_id))
        .order(api_keys::created_at.desc())
        .select(ApiKey::as_select())
        .load(&mut conn)
        .await?;
    Ok(keys.iter().map(view).collect())
}

/// Revokes a key of the tenant; revoking twice is harmless. Every API
/// process hears of it at once (Redis pub/sub) and drops the key from its
/// cache; one that misses the message drops it when the entry expires.
pub async fn revoke_key(
    ctx: &crate::Ctx,
    tenant_id: Uuid,
    key_id: Uuid,
    actor: Option<Uuid>,
) -> ServiceResult<ApiKeyView> {
    let mut conn = ctx.pool.get().await?;
    let key: Option<ApiKey> = (*conn)
        .transaction::<_, diesel::result::Error, _>(async |conn: &mut AsyncPgConnection| {
            let key: Option<ApiKey> =
                diesel::update(
                    api_keys::table.filter(api_keys::id.eq(key_id)).filter(api_keys::tenant_id.eq(tenant_id)),
                )
                .set(api_keys::revoked_at.eq(diesel::dsl::sql::<
                    diesel::sql_types::Nullable<diesel::sql_types::Timestamptz>,
                >("COALESCE(revoked_at, now())")))
                .returning(ApiKey::as_returning())
                .get_result(conn)
                .await
                .optional()?;
            if key.is_some() {
                let selector = json!({"key_id": key_id});
                super::audit::record(conn, tenant_id, actor, "key.revoke", &selector, &json!({}), None).await?;
            }
            Ok(key)
        })
        .await?;
    let key = key.ok_or_else(|| ServiceError::new(ErrorCode::ApiKeyNotFound, "no such API key"))?;
    if let Err(e) = ctx.broker.publish_key_revoked(key.id).await {
        tracing::warn!(key_id = %key.id, error = %e, "revocation not announced; caches drop the key on expiry");
    }
    Ok(view(&key))
}
