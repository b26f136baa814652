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
/// to run, 565 ms with the compile). It also plans every execution of a
/// prepared statement with its values (`plan_cache_mode`): a generic plan
/// cannot know how many ids an `unnest` holds, and the claim's turned a
/// few primary-key lookups into 13 ms under the queue bench's backlog
/// (12,855 ms of run against 338 of plan). Preparing still saves a round
/// trip and the parse of every call.
pub fn pool(url: &str, size: usize) -> Result<DbPool, BuildError> {
    let mut config = ManagerConfig::default();
    config.recycling_method = RecyclingMethod::Fast;
    config.custom_setup = Box::new(|url| {
        Box::pin(async move {
            use diesel_async::{AsyncConnection, SimpleAsyncConnection};
            let mut conn = AsyncPgConnection::establish(url).await?;
            conn.batch_execute("SET jit = off; SET plan_cache_mode = force_custom_plan")
                .await
                .map_err(|e| diesel::ConnectionError::BadConnection(e.to_string()))?;
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
