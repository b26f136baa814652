//! The chaos run: `just chaos` (figures to `bench/results/chaos.md`) and
//! its short variant in `just test`. Three worker processes run diagnostic
//! jobs (slow ones, ones that fail once, ones with progress), document
//! ingestions and chat turns on stores of the run's own, with a webhook
//! receiver subscribed to everything, while a random worker is `kill -9`'d
//! every `kill_every` and started again, Redis and Postgres are each
//! restarted once and the receiver is down for a while. Then it counts what
//! was lost, stuck or done twice, checks every delivery's signature with
//! the PyPI `standardwebhooks` package, asks the reconciler, and times each
//! kill's re-runs.

pub mod checks;
pub mod report;
pub mod stack;

use std::collections::BTreeMap;
use std::time::Duration;

use chorus_shared::domain::{Queue, Role};
use chorus_shared::Ctx;
use serde_json::{json, Value};
use uuid::Uuid;

use crate::receiver::{Captured, Receiver};
pub use report::Report;
use stack::{now, Stores, Workers};

/// What a chaos run does, and when (times from its start).
#[derive(Debug, Clone)]
pub struct Plan {
    pub jobs: usize,
    pub documents: usize,
    pub chats: usize,
    pub workers: usize,
    pub kill_every: Duration,
    pub receiver_down_at: Duration,
    pub receiver_down_for: Duration,
    pub redis_restart_at: Duration,
    pub postgres_restart_at: Duration,
    /// How long everything may take to settle.
    pub within: Duration,
}

impl Plan {
    /// `just test`'s variant: a few hundred jobs and a few kills.
    pub fn short() -> Self {
        Self {
            jobs: 500,
            documents: 10,
            chats: 2,
            workers: 3,
            kill_every: Duration::from_secs(2),
            receiver_down_at: Duration::from_secs(2),
            receiver_down_for: Duration::from_secs(8),
            redis_restart_at: Duration::from_secs(5),
            postgres_restart_at: Duration::from_secs(9),
            within: Duration::from_secs(240),
        }
    }

    /// `just chaos`: what the issue names.
    pub fn full() -> Self {
        Self {
            jobs: 10_000,
            documents: 200,
            chats: 10,
            workers: 3,
            kill_every: Duration::from_secs(2),
            receiver_down_at: Duration::from_secs(10),
            receiver_down_for: Duration::from_secs(120),
            redis_restart_at: Duration::from_secs(30),
            postgres_restart_at: Duration::from_secs(60),
            within: Duration::from_secs(1800),
        }
    }
}

/// The diagnostic job number `i`: every tenth slow, fail-once or with
/// progress; the rest quick.
fn job(i: usize) -> Value {
    let payload = match i % 10 {
        0 => json!({"sleep_ms": 800, "steps": 2}),
        1 => json!({"fail_attempts": 1}),
        2 => json!({"sleep_ms": 300, "steps": 3}),
        _ => json!({}),
    };
    json!({"kind": "diagnostic", "payload": payload, "max_attempts": 10})
}

struct Client {
    http: reqwest::Client,
    base: String,
    key: String,
}

impl Client {
    async fn post(&self, path: &str, body: Value) -> Value {
        let resp = self.http.post(format!("{}{path}", self.base)).bearer_auth(&self.key).json(&body).send().await;
        resp.expect("API").json().await.expect("JSON")
    }

    async fn get(&self, path: &str) -> Value {
        let resp = self.http.get(format!("{}{path}", self.base)).bearer_auth(&self.key).send().await;
        resp.expect("API").json().await.expect("JSON")
    }

    async fn upload(&self, i: usize) -> Uuid {
        let text = format!("Chaos document {i}. It describes item {i} of the run, so that every upload is new.");
        let part = reqwest::multipart::Part::bytes(text.into_bytes()).file_name(format!("doc-{i}.txt"));
        let part = part.mime_str("text/plain").unwrap();
        let form = reqwest::multipart::Form::new().part("file", part);
        let resp = self.http.post(format!("{}/v1/documents", self.base)).bearer_auth(&self.key).multipart(form);
        let body: Value = resp.send().await.expect("API").json().await.expect("JSON");
        body["document"]["id"].as_str().expect("a document").parse().unwrap()
    }
}

/// Runs `plan` and reports. Needs what `just test` provides (the model,
/// the local LLM, the Python environment; the Qdrant server is used when
/// there, so that every worker takes every queue).
pub async fn run(plan: &Plan) -> Report {
    let dir = tempfile::tempdir().unwrap();
    let stores = Stores::start(dir.path()).await;
    let mut settings = crate::settings_on(stores.database_url(), stores.redis_url());
    settings.database.pool_size = 10;
    // Retries that outlast the receiver's outage (about 3 minutes in all).
    settings.webhooks.retry_schedule_ms = vec![500, 1_000, 2_000, 4_000, 8_000, 15_000, 30_000, 30_000, 30_000, 60_000];
    settings.webhooks.release_per_sec = 200;
    settings.webhooks.disable_after_failures = 1_000;
    let server = crate::qdrant_url().is_some();
    if server {
        crate::Engine::Server.apply(&mut settings);
    }
    let all = Queue::ALL.map(|q| q.as_str()).join(",");
    let queues: Vec<String> = (0..plan.workers)
        .map(|i| if server || i == 0 { all.clone() } else { crate::NON_VECTOR_QUEUES.join(",") })
        .collect();

    let ctx = Ctx::connect(settings.clone()).await.expect("connect");
    let api = chorus_api::startup::Application::build(ctx.clone()).expect("bind api");
    let base = format!("http://127.0.0.1:{}", api.port);
    tokio::spawn(api.server);
    let tenant = chorus_shared::services::auth::ensure_tenant(&ctx.pool, "acme").await.unwrap();
    let key =
        chorus_shared::services::auth::create_key(&ctx.pool, tenant.id, "chaos", Role::Admin, None).await.unwrap();
    let client = Client { http: reqwest::Client::new(), base, key: key.secret };

    let mut receiver = Some(Receiver::start(0).await);
    let port = receiver.as_ref().unwrap().port;
    let endpoint = client
        .post(
            "/v1/webhooks",
            json!({"url": format!("http://127.0.0.1:{port}/hooks"), "event_types": chorus_shared::webhooks::EVENT_TYPES}),
        )
        .await;
    let secret = endpoint["secret"].as_str().expect("an endpoint").to_string();

    let mut workers = Workers::start(settings.clone(), &queues);
    let started = now();
    let at = |d: Duration| started + d.as_secs_f64();

    // Submit while the chaos runs.
    let documents: Vec<Uuid> = futures::future::join_all((0..plan.documents).map(|i| client.upload(i))).await;
    let mut jobs = Vec::with_capacity(plan.jobs);
    for chunk in (0..plan.jobs).collect::<Vec<_>>().chunks(500) {
        let answer =
            client.post("/v1/jobs/batch", json!({"jobs": chunk.iter().map(|i| job(*i)).collect::<Vec<_>>()})).await;
        for item in answer["items"].as_array().expect("batch items") {
            jobs.push(item["job"]["id"].as_str().expect("accepted").parse::<Uuid>().unwrap());
        }
    }
    let mut chats = Vec::new();
    for i in 0..plan.chats {
        let conv = client.post("/v1/conversations", json!({"system_prompt": "Answer in one word."})).await;
        let path = format!("/v1/conversations/{}/messages", conv["id"].as_str().unwrap());
        let posted =
            client.post(&path, json!({"content": format!("Say a colour ({i})."), "settings": {"max_tokens": 8}})).await;
        chats.push(posted["job"]["id"].as_str().expect("a chat job").parse::<Uuid>().unwrap());
    }
    let ours: Vec<Uuid> = jobs.iter().chain(&chats).copied().collect();

    // What each receiver instance saw: read once the run is over, as a
    // stopped instance may still finish a request it had begun.
    let (mut logs, mut receiver_down, mut receiver_back) = (Vec::new(), None, None);
    let (mut redis_done, mut pg_done) = (false, false);
    let mut next_kill = started + plan.kill_every.as_secs_f64();
    let deadline = at(plan.within);
    let settled = loop {
        let t = now();
        // Kills and restarts block: off the async threads.
        if t >= next_kill {
            tokio::task::block_in_place(|| workers.kill_one());
            next_kill = t + plan.kill_every.as_secs_f64();
        }
        if !redis_done && t >= at(plan.redis_restart_at) {
            tokio::task::block_in_place(|| stores.restart_redis());
            redis_done = true;
        }
        if !pg_done && t >= at(plan.postgres_restart_at) {
            tokio::task::block_in_place(|| stores.restart_postgres());
            pg_done = true;
        }
        if receiver_down.is_none() && t >= at(plan.receiver_down_at) {
            let r = receiver.take().unwrap();
            logs.push(r.seen_handle());
            r.stop().await;
            receiver_down = Some(t);
        }
        if receiver.is_none() && t >= at(plan.receiver_down_at + plan.receiver_down_for) {
            receiver = Some(Receiver::start(port).await);
            receiver_back = Some(now());
        }
        // A fresh connection each time: Postgres restarts under us.
        let (open, docs) = match ctx.pool.get().await {
            Ok(mut conn) => (
                checks::by_status(&mut conn, "jobs", Some(&ours)).await,
                checks::by_status(&mut conn, "documents", Some(&documents)).await,
            ),
            Err(_) => Default::default(),
        };
        let jobs_done = !open.is_empty() && ["queued", "retrying", "running"].iter().all(|s| !open.contains_key(*s));
        let docs_done =
            plan.documents == 0 || (!docs.is_empty() && docs.keys().all(|s| s == "ingested" || s == "failed"));
        if jobs_done && docs_done && redis_done && pg_done && receiver_back.is_some() {
            break true;
        }
        if t >= deadline {
            break false;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let chaos_ended = now();
    // The reconciler first: its own job reports to the receiver too.
    let reconcile = client.post("/v1/admin/reconcile", json!({})).await;
    let reconcile_id: Uuid = reconcile["id"].as_str().expect("a reconcile job").parse().unwrap();
    let reconciled = loop {
        let job = client.get(&format!("/v1/jobs/{reconcile_id}")).await;
        if job["status"] == "succeeded" || job["status"] == "dead" || now() > deadline + 60.0 {
            break job["result"]["collections"][0].clone();
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    // A connection of its own, not the pool's (whose idle connections may
    // date from before the Postgres restart).
    let mut conn = {
        use diesel_async::AsyncConnection;
        diesel_async::AsyncPgConnection::establish(&stores.database_url()).await.expect("postgres after the chaos")
    };
    // No more kills: let the webhook backlog drain.
    let mut quiet = 0;
    let drained = loop {
        // Twice in a row, a second apart: nothing pending or held.
        match checks::try_by_status(&mut conn, "webhook_deliveries", None).await {
            Ok(d) if !d.contains_key("pending") && !d.contains_key("held") => quiet += 1,
            _ => quiet = 0,
        }
        if quiet >= 2 {
            break true;
        }
        if now() >= deadline {
            break false;
        }
        tokio::time::sleep(Duration::from_millis(1000)).await;
    };
    tokio::time::sleep(Duration::from_millis(500)).await;
    if let Some(r) = receiver.take() {
        logs.push(r.seen_handle());
        r.stop().await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let seen: Vec<Captured> = logs.iter().flat_map(|log| log.lock().unwrap().drain(..).collect::<Vec<_>>()).collect();

    let all_up = workers.all_up();
    let reruns = checks::rerun_latencies(&mut conn, &workers.kills).await;
    let (unreceived, delivered) = checks::unreceived(&mut conn, &seen).await;
    let mut dead_codes: BTreeMap<String, i64> = BTreeMap::new();
    {
        use chorus_shared::db::schema::jobs as j;
        use diesel::prelude::*;
        use diesel_async::RunQueryDsl;
        let codes: Vec<Option<String>> = j::table
            .filter(j::id.eq_any(&ours))
            .filter(
                j::status.eq_any([chorus_shared::domain::JobStatus::Dead, chorus_shared::domain::JobStatus::Failed]),
            )
            .select(j::error_code)
            .load(&mut conn)
            .await
            .unwrap_or_default();
        for c in codes {
            *dead_codes.entry(c.unwrap_or_default()).or_default() += 1;
        }
    }
    Report {
        plan: format!("{plan:?}"),
        engine: if server { "qdrant server" } else { "embedded" }.into(),
        settled,
        drained,
        submitted: ours.len() as i64,
        jobs: checks::by_status(&mut conn, "jobs", Some(&ours)).await,
        not_succeeded: dead_codes,
        documents: checks::by_status(&mut conn, "documents", Some(&documents)).await,
        stuck_running: checks::stuck_running(&mut conn).await,
        duplicates: checks::duplicates(&mut conn, &seen).await,
        deliveries: checks::by_status(&mut conn, "webhook_deliveries", None).await,
        stragglers: checks::stragglers(&mut conn).await,
        delivered,
        unreceived,
        signatures: report::verify_signatures(&secret, &seen),
        reconcile: reconciled,
        kills: workers.kills.len(),
        rerun_secs: [0.5, 0.99, 1.0].map(|q| checks::quantile(&reruns.latencies, q)),
        reruns: reruns.latencies.len(),
        poisoned: reruns.poisoned,
        never_rerun: reruns.never,
        chaos_secs: chaos_ended - started,
        drain_secs: match receiver_back {
            Some(back) => checks::backlog_drained(&mut conn, back).await - back,
            None => 0.0,
        },
        receiver_down_secs: receiver_down.zip(receiver_back).map(|(d, b)| b - d).unwrap_or_default(),
        workers_up_at_end: all_up,
    }
}
