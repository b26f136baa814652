//! `TestApp`: the harness of the black-box suite (zero2prod and crates.io
//! style). Each test gets its own Postgres database, copied from a migrated
//! template, and its own Redis namespace, on the real servers that
//! `just test` starts (`CHORUS_TEST_PG`, `CHORUS_TEST_REDIS`). The API runs
//! in-process on a free port; workers run in-process or as real processes.

pub mod chaos;
pub mod cli;
pub mod pdf;
pub mod provider;
pub mod receiver;
pub mod sse;

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use chorus_shared::config::Settings;
use chorus_shared::domain::{JobStatus, JobView, Role};
use chorus_shared::Ctx;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use serde_json::Value;
use tokio::sync::OnceCell;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

const TEMPLATE: &str = "chorus_template";

fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("{name} is not set: run the suite with `just test`"))
}

/// `postgres://…` of the server, without a database name.
pub fn pg_server() -> String {
    env("CHORUS_TEST_PG")
}

pub fn redis_url() -> String {
    env("CHORUS_TEST_REDIS")
}

/// The Qdrant server that `just test` started (`CHORUS_TEST_QDRANT`, its
/// gRPC URL), if its binary was there.
pub fn qdrant_url() -> Option<String> {
    std::env::var("CHORUS_TEST_QDRANT").ok().filter(|u| !u.is_empty())
}

/// The vector engine a test runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    /// qdrant-edge in the one worker that owns `embed` and `search`.
    Embedded,
    /// The Qdrant server, shared by every worker.
    Server,
}

impl Engine {
    /// Points `s` at this engine. On the server, the test's collections
    /// and aliases carry its Redis namespace, so tests share the server
    /// without meeting.
    pub fn apply(self, s: &mut Settings) {
        if self == Self::Server {
            s.vectors.url = qdrant_url().expect("no Qdrant server: check Engine::skipped first");
            s.vectors.prefix = format!("{}-", s.redis.namespace);
        }
    }

    /// Whether a test on this engine must be skipped (no server here); it
    /// says so on stderr.
    pub fn skipped(self, test: &str) -> bool {
        let skip = self == Self::Server && qdrant_url().is_none();
        if skip {
            eprintln!("SKIPPED: {test} on the Qdrant server: no server (CHORUS_TEST_QDRANT is unset)");
        }
        skip
    }
}

/// Declares `$name(engine)` as two tests, `$name::embedded` and
/// `$name::qdrant_server`; the second reports itself skipped without a
/// server.
#[macro_export]
macro_rules! on_both_engines {
    ($name:ident) => {
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn embedded() {
                super::$name($crate::Engine::Embedded).await
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn qdrant_server() {
                if !$crate::Engine::Server.skipped(stringify!($name)) {
                    super::$name($crate::Engine::Server).await
                }
            }
        }
    };
}

/// A fresh bucket on the suite's S3 server (`CHORUS_TEST_S3`, PyPI moto),
/// as blob settings.
pub async fn s3_bucket() -> chorus_shared::config::BlobSettings {
    let endpoint = env("CHORUS_TEST_S3");
    let bucket = format!("t{}", &Uuid::new_v4().simple().to_string()[..12]);
    let made = reqwest::Client::new().put(format!("{endpoint}/{bucket}")).send().await.expect("S3 server");
    assert!(made.status().is_success(), "bucket {bucket}: {}", made.status());
    chorus_shared::config::BlobSettings {
        url: format!("s3://{bucket}"),
        endpoint,
        region: "us-east-1".into(),
        access_key_id: "test".into(),
        secret_access_key: "test".into(),
        allow_http: true,
    }
}

static TEMPLATE_READY: OnceCell<()> = OnceCell::const_new();

/// Creates the migrated template once per server (an advisory lock guards
/// it across test processes).
async fn ensure_template() {
    TEMPLATE_READY
        .get_or_init(|| async {
            let mut admin = AsyncPgConnection::establish(&format!("{}/postgres", pg_server()))
                .await
                .expect("connect to test postgres");
            diesel::sql_query("SELECT pg_advisory_lock(7242)").execute(&mut admin).await.unwrap();
            let exists = diesel::sql_query(format!("SELECT 1 FROM pg_database WHERE datname = '{TEMPLATE}'"))
                .execute(&mut admin)
                .await
                .unwrap()
                > 0;
            if !exists {
                diesel::sql_query(format!("CREATE DATABASE {TEMPLATE}")).execute(&mut admin).await.unwrap();
                chorus_shared::db::migrate(&format!("{}/{TEMPLATE}", pg_server())).await.expect("migrate template");
            }
            diesel::sql_query("SELECT pg_advisory_unlock(7242)").execute(&mut admin).await.unwrap();
        })
        .await;
}

/// A fresh database for one test; returns its URL.
pub async fn fresh_database() -> String {
    ensure_template().await;
    let name = format!("chorus_test_{}", Uuid::new_v4().simple());
    let mut admin = AsyncPgConnection::establish(&format!("{}/postgres", pg_server())).await.unwrap();
    diesel::sql_query(format!("CREATE DATABASE {name} TEMPLATE {TEMPLATE}")).execute(&mut admin).await.unwrap();
    format!("{}/{name}", pg_server())
}

/// Settings for tests: fresh database and namespace, fast timers.
pub async fn test_settings() -> Settings {
    settings_on(fresh_database().await, redis_url())
}

/// The suite's settings (fast timers, loopback allowed, a fresh Redis
/// namespace, vector and blob directories of their own) on `database` and
/// `redis`.
pub fn settings_on(database: String, redis: String) -> Settings {
    let mut s = Settings::default();
    s.database.url = database;
    s.database.pool_size = 5;
    s.redis.url = redis;
    s.redis.namespace = format!("t{}", &Uuid::new_v4().simple().to_string()[..12]);
    s.api.port = 0;
    s.worker.metrics_port = 0;
    s.worker.heartbeat_ms = 200;
    s.worker.rescue_after_ms = 3_000;
    s.worker.maintenance_ms = 500;
    s.worker.shutdown_grace_ms = 5_000;
    s.dispatch.interval_ms = 100;
    s.retry.base_ms = 200;
    s.retry.max_ms = 2_000;
    // Test receivers listen on loopback over plain HTTP.
    s.webhooks.allow_http = true;
    s.webhooks.allow_networks = vec!["127.0.0.0/8".into()];
    // Tools have an allowlist of their own; the suite's servers are local.
    s.tools.allow_http = true;
    s.tools.allow_networks = vec!["127.0.0.0/8".into()];
    s.webhooks.retry_schedule_ms = vec![200, 400, 800];
    s.webhooks.progress_throttle_ms = 200;
    let models =
        std::env::var("CHORUS_TEST_MODELS").expect("CHORUS_TEST_MODELS is not set: run the suite with `just test`");
    s.embed.model_dir = format!("{models}/all-MiniLM-L6-v2");
    s.embed.ort_library = format!("{models}/libonnxruntime.so");
    s.vectors.path = std::env::temp_dir()
        .join("chorus-test-vectors")
        .join(Uuid::new_v4().simple().to_string())
        .display()
        .to_string();
    s.vectors.reconcile_interval_secs = 0;
    if let Ok(url) = std::env::var("CHORUS_TEST_LLM") {
        s.llm.providers.get_mut("local").expect("the default provider").base_url = url;
    }
    s.secrets.key = chorus_shared::secrets::Cipher::generate_key();
    // TestApp's admin key belongs to `acme`, which operates the deployment.
    s.api.operator_tenant = "acme".into();
    s.knowledge.blob_dir =
        std::env::temp_dir().join("chorus-test-blobs").join(Uuid::new_v4().simple().to_string()).display().to_string();
    s
}

/// A worker running inside the test process.
pub struct InProcessWorker {
    pub stop: CancellationToken,
    pub metrics_port: u16,
    pub task: tokio::task::JoinHandle<anyhow::Result<()>>,
}

impl InProcessWorker {
    /// SIGTERM-equivalent: stops it and waits for its graceful exit.
    pub async fn shutdown(self) {
        self.stop.cancel();
        self.task.await.unwrap().unwrap();
    }
}

pub struct TestApp {
    pub settings: Settings,
    pub address: String,
    pub ctx: Ctx,
    pub admin_key: String,
    pub client: reqwest::Client,
    pub workers: Vec<InProcessWorker>,
    /// Worker processes this app started; any still running when it is
    /// dropped (a test that failed before stopping them) are killed.
    processes: std::sync::Mutex<Vec<u32>>,
}

impl TestApp {
    /// API plus one in-process worker, default test settings.
    pub async fn spawn() -> Self {
        Self::spawn_with(1, |_| {}).await
    }

    /// API plus `workers` in-process workers, after `tweak` edits the settings.
    pub async fn spawn_with(workers: usize, tweak: impl FnOnce(&mut Settings)) -> Self {
        let mut settings = test_settings().await;
        tweak(&mut settings);
        let ctx = Ctx::connect(settings.clone()).await.expect("connect");
        let app = chorus_api::startup::Application::build(ctx.clone()).expect("bind api");
        let address = format!("http://127.0.0.1:{}", app.port);
        tokio::spawn(app.server);
        let tenant = chorus_shared::services::auth::ensure_tenant(&ctx.pool, "acme").await.unwrap();
        let admin_key = chorus_shared::services::auth::create_key(&ctx.pool, tenant.id, "admin", Role::Admin, None)
            .await
            .unwrap()
            .secret;
        let client = reqwest::Client::new();
        let mut app =
            Self { settings, address, ctx, admin_key, client, workers: Vec::new(), processes: Default::default() };
        for _ in 0..workers {
            app.start_worker().await;
        }
        app
    }

    /// API plus `workers` in-process workers on `engine`.
    pub async fn spawn_on(engine: Engine, workers: usize, tweak: impl FnOnce(&mut Settings)) -> Self {
        Self::spawn_with(workers, |s| {
            engine.apply(s);
            tweak(s)
        })
        .await
    }

    /// Starts one more in-process worker.
    pub async fn start_worker(&mut self) -> usize {
        self.start_worker_with(|_| {}).await
    }

    /// Starts one more in-process worker whose settings `tweak` edits (its
    /// queues, say).
    pub async fn start_worker_with(&mut self, tweak: impl FnOnce(&mut Settings)) -> usize {
        let stop = CancellationToken::new();
        let (tx, rx) = tokio::sync::oneshot::channel();
        let mut settings = self.settings.clone();
        tweak(&mut settings);
        let ctx = Ctx::connect(settings).await.unwrap();
        let task = tokio::spawn(chorus_worker::run(ctx, stop.clone(), Some(tx)));
        let metrics_port = rx.await.expect("worker started");
        self.workers.push(InProcessWorker { stop, metrics_port, task });
        self.workers.len() - 1
    }

    /// A key for `tenant` (created if new) with `role`.
    pub async fn key(&self, tenant: &str, role: Role) -> String {
        let t = chorus_shared::services::auth::ensure_tenant(&self.ctx.pool, tenant).await.unwrap();
        chorus_shared::services::auth::create_key(&self.ctx.pool, t.id, "test", role, None).await.unwrap().secret
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.address, path)
    }

    pub fn get(&self, key: &str, path: &str) -> reqwest::RequestBuilder {
        self.client.get(self.url(path)).bearer_auth(key)
    }

    /// GETs `path` as `key` and parses the JSON body, whatever the status.
    pub async fn get_json(&self, key: &str, path: &str) -> Value {
        self.get(key, path).send().await.unwrap().json().await.unwrap()
    }

    pub fn post(&self, key: &str, path: &str) -> reqwest::RequestBuilder {
        self.client.post(self.url(path)).bearer_auth(key)
    }

    /// POSTs `body` to `path` as `key` and parses the JSON answer, whatever
    /// the status.
    pub async fn post_json(&self, key: &str, path: &str, body: &Value) -> Value {
        self.post(key, path).json(body).send().await.unwrap().json().await.unwrap()
    }

    /// Submits a job as admin; panics unless it is accepted.
    pub async fn submit(&self, body: Value) -> Uuid {
        let resp = self.post(&self.admin_key, "/v1/jobs").json(&body).send().await.unwrap();
        assert_eq!(resp.status(), 202, "{}", resp.text().await.unwrap());
        let v: Value = resp.json().await.unwrap();
        v["id"].as_str().unwrap().parse().unwrap()
    }

    pub async fn job(&self, id: Uuid) -> JobView {
        let resp = self.get(&self.admin_key, &format!("/v1/jobs/{id}")).send().await.unwrap();
        assert_eq!(resp.status(), 200);
        resp.json().await.unwrap()
    }

    /// The message that claims job `id` as it stands (its current
    /// `dispatch_seq`), for tests that play the worker's part.
    pub async fn message_of(&self, id: Uuid) -> chorus_shared::queue::JobMessage {
        use chorus_shared::db::schema::jobs as j;
        use diesel::QueryDsl;
        let mut conn = self.ctx.pool.get().await.unwrap();
        let seq: i32 = j::table.find(id).select(j::dispatch_seq).first(&mut conn).await.unwrap();
        chorus_shared::queue::JobMessage { job_id: id, dispatch_seq: seq }
    }

    /// Polls until the job satisfies `done`, at most `within`.
    pub async fn wait_for(&self, id: Uuid, within: Duration, done: impl Fn(&JobView) -> bool) -> JobView {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let job = self.job(id).await;
            if done(&job) {
                return job;
            }
            assert!(tokio::time::Instant::now() < deadline, "job {id} did not get there in {within:?}: {job:#?}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits until the job is in `status`.
    pub async fn wait_for_status(&self, id: Uuid, status: JobStatus, within: Duration) -> JobView {
        self.wait_for(id, within, |j| j.status == status).await
    }

    /// Waits for a job of another key's tenant, returning its result.
    pub async fn wait_for_status_as(&self, key: &str, id: Uuid, status: JobStatus) -> Value {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        loop {
            let job: Value = self.get(key, &format!("/v1/jobs/{id}")).send().await.unwrap().json().await.unwrap();
            if job["status"] == status.as_str() {
                return job["result"].clone();
            }
            assert!(tokio::time::Instant::now() < deadline, "job {id}: {job}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The job's events as recorded.
    pub async fn history(&self, id: Uuid) -> Vec<chorus_shared::domain::JobEventView> {
        chorus_shared::services::events::after(&self.ctx.pool, id, 0).await.unwrap()
    }

    /// Starts the real `chorus-worker` binary against this app's stores.
    pub fn spawn_worker_process(&self, name: &str, extra_env: &[(&str, String)]) -> Child {
        let mut cmd = worker_command(&self.settings, name);
        for (k, v) in extra_env {
            cmd.env(k, v);
        }
        let child = cmd.spawn().expect("start chorus-worker (run `cargo build --bins` first)");
        self.processes.lock().unwrap_or_else(|e| e.into_inner()).push(child.id());
        child
    }
}

/// The real `chorus-worker` binary, named `name`, set up with `s`'s stores
/// and timers; by default it takes the queues beside the vector owner.
pub fn worker_command(s: &Settings, name: &str) -> Command {
    let mut cmd = Command::new(binary("chorus-worker"));
    cmd.arg("--name")
        .arg(name)
        .arg("--metrics-port")
        .arg("0")
        .env("CHORUS__DATABASE__URL", &s.database.url)
        .env("CHORUS__DATABASE__POOL_SIZE", "4")
        .env("CHORUS__REDIS__URL", &s.redis.url)
        .env("CHORUS__REDIS__NAMESPACE", &s.redis.namespace)
        .env("CHORUS__WORKER__HEARTBEAT_MS", s.worker.heartbeat_ms.to_string())
        .env("CHORUS__WORKER__RESCUE_AFTER_MS", s.worker.rescue_after_ms.to_string())
        .env("CHORUS__WORKER__MAINTENANCE_MS", s.worker.maintenance_ms.to_string())
        .env("CHORUS__DISPATCH__INTERVAL_MS", s.dispatch.interval_ms.to_string())
        .env("CHORUS__KNOWLEDGE__BLOB_DIR", &s.knowledge.blob_dir)
        .env("CHORUS__BLOBS__URL", &s.blobs.url)
        .env("CHORUS__BLOBS__ENDPOINT", &s.blobs.endpoint)
        .env("CHORUS__BLOBS__REGION", &s.blobs.region)
        .env("CHORUS__BLOBS__ACCESS_KEY_ID", &s.blobs.access_key_id)
        .env("CHORUS__BLOBS__SECRET_ACCESS_KEY", &s.blobs.secret_access_key)
        .env("CHORUS__BLOBS__ALLOW_HTTP", s.blobs.allow_http.to_string())
        .env("CHORUS__VECTORS__PATH", &s.vectors.path)
        .env("CHORUS__VECTORS__URL", &s.vectors.url)
        .env("CHORUS__VECTORS__PREFIX", &s.vectors.prefix)
        .env("CHORUS__SECRETS__KEY", &s.secrets.key)
        .env("CHORUS__LLM__PROVIDERS__LOCAL__BASE_URL", &s.llm.providers["local"].base_url)
        .env("CHORUS__VECTORS__RECONCILE_INTERVAL_SECS", "0")
        // The in-process worker owns the embedded vector store; extra
        // processes take the other queues unless a test says otherwise.
        .env("CHORUS__WORKER__QUEUES", NON_VECTOR_QUEUES.join(","))
        .env("CHORUS__EMBED__MODEL_DIR", &s.embed.model_dir)
        .env("CHORUS__EMBED__ORT_LIBRARY", &s.embed.ort_library)
        .env("CHORUS__WEBHOOKS__ALLOW_HTTP", s.webhooks.allow_http.to_string())
        .env("CHORUS__WEBHOOKS__ALLOW_NETWORKS", s.webhooks.allow_networks.join(","))
        .env("CHORUS__TOOLS__ALLOW_HTTP", s.tools.allow_http.to_string())
        .env("CHORUS__TOOLS__ALLOW_NETWORKS", s.tools.allow_networks.join(","))
        .env(
            "CHORUS__WEBHOOKS__RETRY_SCHEDULE_MS",
            s.webhooks.retry_schedule_ms.iter().map(u64::to_string).collect::<Vec<_>>().join(","),
        )
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit());
    cmd
}

/// The queues a worker may take beside the vector owner.
pub const NON_VECTOR_QUEUES: [&str; 5] = {
    let [a, b, c, d, e] = chorus_shared::domain::Queue::NON_VECTOR;
    [a.as_str(), b.as_str(), c.as_str(), d.as_str(), e.as_str()]
};

/// How long a finished test waits for its running jobs to end.
const RUNNING_GRACE: Duration = Duration::from_secs(20);

/// Jobs still `running` in `url` after up to `grace`, as `kind id` lines.
async fn still_running(url: &str, grace: Duration) -> Vec<String> {
    #[derive(diesel::QueryableByName)]
    struct Row {
        #[diesel(sql_type = diesel::sql_types::Text)]
        line: String,
    }
    let Ok(mut conn) = AsyncPgConnection::establish(url).await else { return Vec::new() };
    let deadline = tokio::time::Instant::now() + grace;
    loop {
        let rows: Vec<Row> =
            diesel::sql_query("SELECT kind || ' ' || id::text AS line FROM jobs WHERE status = 'running'")
                .load(&mut conn)
                .await
                .unwrap_or_default();
        if rows.is_empty() || tokio::time::Instant::now() > deadline {
            return rows.into_iter().map(|r| r.line).collect();
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Drops a test's database (closing whatever still uses it).
fn drop_database(url: &str) {
    let Some(name) = url.rsplit('/').next().filter(|n| n.starts_with("chorus_test_")).map(str::to_string) else {
        return;
    };
    let admin = format!("{}/postgres", pg_server());
    let dropped = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async {
            let mut conn = AsyncPgConnection::establish(&admin).await.map_err(|e| e.to_string())?;
            diesel::sql_query(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                .execute(&mut conn)
                .await
                .map_err(|e| e.to_string())
        })
    })
    .join();
    if let Ok(Err(e)) = dropped {
        eprintln!("test database not dropped: {e}");
    }
}

/// After each test (crates.io style): no job may be left `running` once
/// its workers had `RUNNING_GRACE` to finish it; then the test's database
/// is dropped. A test that already failed skips the check.
impl Drop for TestApp {
    fn drop(&mut self) {
        use tokio::runtime::{Handle, RuntimeFlavor};
        let url = self.settings.database.url.clone();
        let multi = Handle::try_current().is_ok_and(|h| h.runtime_flavor() == RuntimeFlavor::MultiThread);
        let left = if multi && !std::thread::panicking() {
            tokio::task::block_in_place(|| Handle::current().block_on(still_running(&url, RUNNING_GRACE)))
        } else {
            Vec::new()
        };
        for w in &self.workers {
            w.stop.cancel();
        }
        // `kill -9` on a process that already ended (and was waited for)
        // finds nothing; one a failed test left behind is stopped here.
        for pid in self.processes.lock().unwrap_or_else(|e| e.into_inner()).drain(..) {
            let _ = Command::new("kill").arg("-9").arg(pid.to_string()).stderr(Stdio::null()).status();
        }
        drop_database(&url);
        assert!(left.is_empty(), "jobs left running after the test: {left:?}");
    }
}

/// Waits for a child process to exit, at most `within`.
pub async fn wait_exit(child: &mut Child, within: Duration) -> std::process::ExitStatus {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        assert!(tokio::time::Instant::now() < deadline, "process did not exit in {within:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Path of a workspace binary of the same profile: beside this executable
/// (a binary of ours) or one directory up (a test, under `deps/`).
pub fn binary(name: &str) -> std::path::PathBuf {
    let exe = std::env::current_exe().unwrap();
    let here = exe.parent().unwrap();
    let path = [here.join(name), here.parent().unwrap().join(name)].into_iter().find(|p| p.exists());
    path.unwrap_or_else(|| panic!("{name} not built next to {}: run `cargo build --bins`", here.display()))
}
