//! The handles every service needs, built once per process.

use std::sync::Arc;

use crate::config::Settings;
use crate::db::DbPool;
use crate::queue::Broker;

/// Postgres, Redis and the settings, cheap to clone.
#[derive(Clone)]
pub struct Ctx {
    pub pool: DbPool,
    pub broker: Broker,
    pub settings: Arc<Settings>,
    /// This process's metrics.
    pub metrics: crate::metrics::Metrics,
    /// Where document originals are kept.
    pub blobs: Arc<dyn crate::knowledge::blob::BlobStore>,
}

impl Ctx {
    /// Builds the pool and connects to Redis. Postgres connections open
    /// lazily, so this only fails on a bad URL or an unreachable Redis.
    pub async fn connect(settings: Settings) -> anyhow::Result<Self> {
        let pool = crate::db::pool(&settings.database.url, settings.database.pool_size)?;
        let broker = Broker::connect(&settings.redis.url, &settings.redis.namespace)
            .await
            .map_err(|e| anyhow::anyhow!("cannot connect to Redis at {}: {e}", settings.redis.url))?;
        let blobs = crate::knowledge::blob::LocalDir::new(&settings.knowledge.blob_dir)
            .map_err(|e| anyhow::anyhow!("cannot use blob directory {}: {e}", settings.knowledge.blob_dir))?;
        Ok(Self {
            pool,
            broker,
            settings: Arc::new(settings),
            metrics: crate::metrics::Metrics::new(),
            blobs: Arc::new(blobs),
        })
    }
}

impl std::fmt::Debug for Ctx {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ctx").field("broker", &self.broker).finish_non_exhaustive()
    }
}
