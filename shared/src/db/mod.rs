//! Postgres access: the diesel schema, one model file per table, the
//! connection pool and the embedded migrations.

pub mod models;
pub mod prepared;
pub mod schema;

/// The columns of [`models::Job`], each after `$prefix` (`""` or `"jobs."`),
/// as one literal for `concat!`: a prepared statement names its columns,
/// so a column a later migration adds cannot change its result type (with
/// `*`, Postgres would refuse to run it again: "cached plan must not
/// change result type").
#[macro_export]
macro_rules! job_columns {
    ($p:literal) => {
        concat!(
            $p,
            "id, ",
            $p,
            "tenant_id, ",
            $p,
            "kind, ",
            $p,
            "queue, ",
            $p,
            "priority, ",
            $p,
            "status, ",
            $p,
            "attempts, ",
            $p,
            "max_attempts, ",
            $p,
            "run_at, ",
            $p,
            "payload, ",
            $p,
            "progress, ",
            $p,
            "result, ",
            $p,
            "error_code, ",
            $p,
            "error_message, ",
            $p,
            "idempotency_key, ",
            $p,
            "request_hash, ",
            $p,
            "callback_url, ",
            $p,
            "dispatch_seq, ",
            $p,
            "dispatched_at, ",
            $p,
            "worker, ",
            $p,
            "cancel_requested_at, ",
            $p,
            "created_at, ",
            $p,
            "started_at, ",
            $p,
            "heartbeat_at, ",
            $p,
            "finished_at"
        )
    };
}

use diesel_async::pooled_connection::deadpool::{BuildError, Object, Pool};
use diesel_async::pooled_connection::{AsyncDieselConnectionManager, ManagerConfig, RecyclingMethod};
use diesel_async::AsyncPgConnection;
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};

pub type DbPool = Pool<AsyncPgConnection>;
pub type DbConn = Object<AsyncPgConnection>;
pub type PoolError = diesel_async::pooled_connection::deadpool::PoolError;

/// The migrations in `migrations/`, compiled in.
pub const MIGRATIONS: EmbeddedMigrations = embed_migrations!("../migrations");

/// Builds a pool; connections are opened lazily. A connection handed out
/// again is checked without a round trip (its socket is open, no
/// transaction is left over): a `SELECT 1` per checkout cost more than
/// two round trips per job. One whose server went away fails its first
/// statement and is then dropped by the pool.
///
/// Each new connection turns Postgres's JIT off (one statement when it
/// opens): our statements are short, and the dispatch statement's estimate
/// crossed `jit_above_cost`, so Postgres compiled it on every call (0.85 ms
/// to run, 565 ms with the compile). Prepared statements keep Postgres's
/// plan cache, which plans a statement's first five executions with their
/// values and then reuses one generic plan while it costs no more: what
/// planning every execution would cost is 21–29% of Postgres's time per
/// job in the queue bench. [`Plans`] says which kind of pool this is.
pub fn pool(url: &str, size: usize) -> Result<DbPool, BuildError> {
    pool_with(url, size, Plans::Cached)
}

/// How a pool's connections plan prepared statements.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Plans {
    /// Postgres's default: a generic plan once it is as cheap.
    Cached,
    /// Every execution planned with its values (`plan_cache_mode =
    /// force_custom_plan`). For the worker's claim and completion, which
    /// join `jobs` to the `unnest` of a few ids: their generic plans, made
    /// while the table was small, scanned all of it instead of looking the
    /// ids up by primary key, and were kept as it grew (seq scans and hash
    /// joins of up to 80,000 rows a claim in the queue bench, until
    /// autovacuum's next analyze).
    Custom,
}

/// A pool whose connections plan as `plans` says.
pub fn pool_with(url: &str, size: usize, plans: Plans) -> Result<DbPool, BuildError> {
    let mut config = ManagerConfig::default();
    config.recycling_method = RecyclingMethod::Fast;
    let setup = match plans {
        Plans::Cached => "SET jit = off",
        Plans::Custom => "SET jit = off; SET plan_cache_mode = force_custom_plan",
    };
    config.custom_setup = Box::new(move |url| {
        Box::pin(async move {
            use diesel_async::{AsyncConnection, SimpleAsyncConnection};
            let mut conn = AsyncPgConnection::establish(url).await?;
            conn.batch_execute(setup).await.map_err(|e| diesel::ConnectionError::BadConnection(e.to_string()))?;
            Ok(conn)
        })
    });
    let manager = AsyncDieselConnectionManager::<AsyncPgConnection>::new_with_config(url, config);
    Pool::builder(manager)
        .max_size(size)
        .wait_timeout(Some(std::time::Duration::from_secs(10)))
        .runtime(deadpool::Runtime::Tokio1)
        .build()
}

/// Runs pending migrations on `url`. Safe to run concurrently from several
/// processes: diesel takes its own lock on the migrations table.
pub async fn migrate(url: &str) -> anyhow::Result<usize> {
    use diesel::Connection;
    use diesel_async::async_connection_wrapper::AsyncConnectionWrapper;
    let url = url.to_string();
    tokio::task::spawn_blocking(move || -> anyhow::Result<usize> {
        let mut conn = AsyncConnectionWrapper::<AsyncPgConnection>::establish(&url)?;
        let applied = conn.run_pending_migrations(MIGRATIONS).map_err(|e| anyhow::anyhow!("migrations: {e}"))?;
        Ok(applied.len())
    })
    .await?
}

/// One round trip to Postgres, for readiness checks.
pub async fn ping(pool: &DbPool) -> anyhow::Result<()> {
    use diesel_async::RunQueryDsl;
    let mut conn = pool.get().await?;
    diesel::sql_query("SELECT 1").execute(&mut conn).await?;
    Ok(())
}
