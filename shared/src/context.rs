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
    /// Asks this process's dispatch tasks to push due jobs to Redis.
    pub nudger: crate::queue::dispatcher::Nudger,
    /// Inserts submitted jobs, many per statement.
    pub inserter: crate::queue::inserter::Inserter,
    /// This process's metrics.
    pub metrics: crate::metrics::Metrics,
    /// Where document originals are kept.
    pub blobs: Arc<dyn crate::knowledge::blob::BlobStore>,
    /// The vector store, in the processes that may use it (see
    /// [`crate::vectors::open_for_worker`]); the API never has one.
    pub vectors: Option<crate::vectors::Vectors>,
    /// The configured language-model providers and their breakers.
    pub llm: Arc<crate::llm::registry::Registry>,
    /// Registries of tenants with providers or models of their own
    /// (see [`crate::services::llm_catalog::registry_for`]).
    pub llm_tenants: Arc<crate::llm::catalog::Tenants>,
    /// Encrypts secrets at rest (providers' API keys).
    pub secrets: crate::secrets::Cipher,
    /// Rate limits, and the tenants' limits as last read.
    pub limits: Arc<crate::limits::Limiter>,
}

impl Ctx {
    /// Builds the pool and connects to Redis. Postgres connections open
    /// lazily, so this only fails on a bad URL or an unreachable Redis.
    pub async fn connect(settings: Settings) -> anyhow::Result<Self> {
        let pool = crate::db::pool(&settings.database.url, settings.database.pool_size)?;
        let broker = Broker::connect(&settings.redis.url, &settings.redis.namespace)
            .await
            .map_err(|e| anyhow::anyhow!("cannot connect to Redis at {}: {e}", settings.redis.url))?;
        let blobs =
            crate::knowledge::blob::Blobs::open(&settings.blobs, &settings.knowledge.blob_dir).map_err(|e| {
                let at = if settings.blobs.url.is_empty() { &settings.knowledge.blob_dir } else { &settings.blobs.url };
                anyhow::anyhow!("cannot use the blob store at {at}: {e}")
            })?;
        let llm = crate::llm::registry::Registry::new(&settings.llm)
            .map_err(|e| anyhow::anyhow!("invalid llm settings: {e}"))?;
        let secrets = crate::secrets::Cipher::from_settings(&settings.secrets).map_err(|e| anyhow::anyhow!(e))?;
        Ok(Self {
            llm: Arc::new(llm),
            llm_tenants: Arc::new(crate::llm::catalog::Tenants::new(Arc::new(
                crate::webhooks::guard::GuardedResolver::new(&settings.webhooks),
            ))),
            secrets,
            limits: Arc::new(crate::limits::Limiter::new(settings.limits.clone())),
            nudger: crate::queue::dispatcher::Nudger::new(pool.clone(), broker.clone(), &settings),
            inserter: crate::queue::inserter::Inserter::new(pool.clone(), settings.api.submit_batch_max),
            pool,
            broker,
            settings: Arc::new(settings),
            metrics: crate::metrics::Metrics::new(),
            blobs: Arc::new(blobs),
            vectors: None,
        })
    }

    /// This context with the vector store it may use.
    pub fn with_vectors(mut self, vectors: Option<crate::vectors::Vectors>) -> Self {
        self.vectors = vectors;
        self
    }

    /// The vector store, or an error for a job that landed in a process
    /// without one (another worker may take it).
    pub fn vectors(&self) -> Result<&crate::vectors::Vectors, crate::queue::JobError> {
        self.vectors.as_ref().ok_or_else(|| {
            crate::queue::JobError::retryable("no_vector_store", "this worker does not own the vector store")
        })
    }
}

impl std::fmt::Debug for Ctx {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ctx").field("broker", &self.broker).finish_non_exhaustive()
    }
}
