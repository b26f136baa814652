//! The registries built for tenants with providers or models of their own,
//! cached by tenant with a fingerprint of the rows they were built from.
//! [`crate::services::llm_catalog::registry_for`] reads the rows and uses
//! this cache; a tenant without rows of its own shares the configured
//! registry (and its breakers).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use uuid::Uuid;

use super::registry::{Pin, Registry};
use crate::config::LlmSettings;

/// Registries built for tenants, by tenant, with their rows' fingerprint,
/// and the resolver their own providers connect through.
pub struct Tenants {
    built: Mutex<HashMap<Uuid, (u64, Arc<Registry>)>>,
    pin: Pin,
}

impl std::fmt::Debug for Tenants {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tenants").finish_non_exhaustive()
    }
}

impl Tenants {
    /// `pin` resolves the hosts of tenants' own providers.
    pub fn new(pin: Pin) -> Self {
        Self { built: Mutex::default(), pin }
    }

    /// The registry of `tenant` built from `settings` (whose rows hash to
    /// `fingerprint`): the cached one while the fingerprint matches, else a
    /// new one, cached.
    pub fn registry(&self, tenant: Uuid, fingerprint: u64, settings: &LlmSettings) -> Result<Arc<Registry>, String> {
        let mut built = self.built.lock().unwrap();
        if let Some((f, r)) = built.get(&tenant) {
            if *f == fingerprint {
                return Ok(r.clone());
            }
        }
        let registry = Arc::new(Registry::pinned(settings, Some(&self.pin))?);
        built.insert(tenant, (fingerprint, registry.clone()));
        Ok(registry)
    }
}
