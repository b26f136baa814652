//! Verified API keys kept in memory for `api.key_cache_ms`, so that a
//! request costs no database round trip. At most `api.key_cache_max`
//! entries. A revocation reaches every API process at once: each listens on
//! the broker's keys channel and drops the key; after a lost connection it
//! drops everything, since it may have missed a message.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chorus_shared::error::ServiceResult;
use chorus_shared::queue::Broker;
use chorus_shared::services::{auth, Principal};
use chorus_shared::Ctx;
use futures::StreamExt;
use uuid::Uuid;

pub struct KeyCache {
    ttl: Duration,
    max: usize,
    /// By the key's hash: who it is and when it was verified.
    entries: Mutex<HashMap<String, (Principal, Instant)>>,
    /// Bumped by every drop, so that a lookup that raced a revocation does
    /// not put the revoked key back.
    epoch: AtomicU64,
}

impl KeyCache {
    pub fn new(ttl: Duration, max: usize) -> Self {
        Self { ttl, max, entries: Mutex::default(), epoch: AtomicU64::new(0) }
    }

    fn entries(&self) -> std::sync::MutexGuard<'_, HashMap<String, (Principal, Instant)>> {
        self.entries.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The caller a bearer secret names: from memory while fresh, else
    /// from Postgres (then remembered).
    pub async fn authenticate(&self, ctx: &Ctx, secret: &str) -> ServiceResult<Principal> {
        if self.ttl.is_zero() {
            return auth::authenticate(&ctx.pool, secret).await;
        }
        let hash = auth::hash_key(secret);
        if let Some((p, at)) = self.entries().get(&hash) {
            if at.elapsed() < self.ttl {
                return Ok(*p);
            }
        }
        let epoch = self.epoch.load(Ordering::SeqCst);
        let principal = auth::authenticate_hash(&ctx.pool, &hash).await?;
        let mut entries = self.entries();
        if self.epoch.load(Ordering::SeqCst) == epoch {
            if entries.len() >= self.max {
                entries.retain(|_, (_, at)| at.elapsed() < self.ttl);
            }
            if entries.len() >= self.max {
                // Still full of fresh keys: start over rather than grow.
                entries.clear();
            }
            entries.insert(hash, (principal, Instant::now()));
        }
        Ok(principal)
    }

    /// Forgets key `key_id`.
    pub fn forget(&self, key_id: Uuid) {
        self.epoch.fetch_add(1, Ordering::SeqCst);
        self.entries().retain(|_, (p, _)| p.key_id != key_id);
    }

    /// Forgets every key.
    pub fn clear(&self) {
        self.epoch.fetch_add(1, Ordering::SeqCst);
        self.entries().clear();
    }

    /// Follows the broker's announcements of revoked keys for as long as
    /// the process runs, resubscribing after a lost connection.
    pub fn listen(self: &Arc<Self>, broker: Broker) {
        let cache = Arc::downgrade(self);
        tokio::spawn(async move {
            loop {
                match broker.subscribe(&broker.keys_channel()).await {
                    Ok(revoked) => {
                        // Announcements before this subscription are unknown.
                        let Some(c) = cache.upgrade() else { return };
                        c.clear();
                        drop(c);
                        let mut revoked = std::pin::pin!(revoked);
                        while let Some(id) = revoked.next().await {
                            let Some(cache) = cache.upgrade() else { return };
                            match id.parse() {
                                Ok(id) => cache.forget(id),
                                Err(_) => cache.clear(),
                            }
                        }
                    }
                    Err(e) => tracing::warn!(error = %e, "cannot follow key revocations"),
                }
                // The subscription ended: whatever was announced meanwhile
                // is unknown, so nothing cached is trusted.
                let Some(c) = cache.upgrade() else { return };
                c.clear();
                drop(c);
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        });
    }
}
