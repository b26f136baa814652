//! The registry a tenant's chat jobs use. A tenant without providers or
//! models of its own shares the configured registry (and its breakers);
//! one with some gets a registry built from the configuration plus its rows
//! ([`crate::services::llm_catalog::tenant_settings`]), rebuilt when a row
//! changes (a fingerprint of the rows is compared on every use).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use diesel_async::AsyncPgConnection;
use uuid::Uuid;

use super::registry::Registry;
use crate::Ctx;

/// Registries built for tenants, by tenant, with their rows' fingerprint.
#[derive(Debug, Default)]
pub struct Tenants(Mutex<HashMap<Uuid, (u64, Arc<Registry>)>>);

impl Tenants {
    /// The registry for `tenant` as its rows stand now.
    pub async fn registry(
        &self,
        ctx: &Ctx,
        conn: &mut AsyncPgConnection,
        tenant: Uuid,
    ) -> Result<Arc<Registry>, String> {
        let (fingerprint, settings) = crate::services::llm_catalog::tenant_settings(ctx, conn, tenant).await?;
        if settings.providers.len() == ctx.settings.llm.providers.len()
            && settings.models.len() == ctx.settings.llm.models.len()
        {
            return Ok(ctx.llm.clone());
        }
        let mut built = self.0.lock().unwrap();
        if let Some((f, r)) = built.get(&tenant) {
            if *f == fingerprint {
                return Ok(r.clone());
            }
        }
        let registry = Arc::new(Registry::new(&settings)?);
        built.insert(tenant, (fingerprint, registry.clone()));
        Ok(registry)
    }
}
