//! Where jobs may run. With the embedded engine one worker owns `embed` and
//! `search`; chat and tools on any other worker search through `search`
//! jobs. With the Qdrant server, workers that start together on an empty
//! server all come up, and each takes every queue.

use std::collections::BTreeSet;
use std::time::Duration;

use chorus_shared::config::{ModelSettings, ProviderSettings};
use chorus_shared::domain::{JobStatus, Queue};
use chorus_tests::provider::AsModel;
use chorus_tests::{Engine, TestApp};
use serde_json::{json, Value};
use uuid::Uuid;
use wiremock::{matchers::method, Mock, MockServer};

use crate::documents::{settled, upload_as};
use crate::tools::invoke;

/// The worker that ran job `id`'s first attempt, from its `running` event.
async fn ran_on(app: &TestApp, id: Uuid) -> String {
    let events = app.history(id).await;
    let running = events.iter().find(|e| e.status == Some(JobStatus::Running)).expect("it ran");
    running.data["worker"].as_str().unwrap().to_string()
}

/// Uploads one document as admin and waits until it is ingested.
async fn document(app: &TestApp, text: &str, name: &str) -> String {
    let resp = upload_as(app, &app.admin_key, text.as_bytes().to_vec(), name, "text/plain", "ops").await;
    let body: Value = resp.json().await.unwrap();
    let id = body["document"]["id"].as_str().unwrap().to_string();
    assert_eq!(settled(app, &id).await["status"], "ingested");
    id
}

/// The search jobs of the test so far, in order.
async fn search_jobs(app: &TestApp) -> Vec<Uuid> {
    let page = app.get_json(&app.admin_key, "/v1/jobs?kind=search&limit=100").await;
    page["items"].as_array().unwrap().iter().map(|j| j["id"].as_str().unwrap().parse().unwrap()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chat_and_tools_search_through_the_owner_from_a_worker_without_the_store() {
    let double = MockServer::start().await;
    Mock::given(method("POST")).respond_with(AsModel).mount(&double).await;
    let url = double.uri();
    let owner_queues = ["embed", "search", "knowledge", "webhook", "maintenance"];
    let mut app = TestApp::spawn_with(1, |s| {
        s.llm.providers.insert("double".into(), ProviderSettings { base_url: url, ..Default::default() });
        let m = ModelSettings { provider: "double".into(), name: "alpha-up".into(), ..Default::default() };
        s.llm.models.insert("alpha".into(), m);
        s.worker.queues = owner_queues.map(String::from).to_vec();
        s.worker.name = "owner".into();
    })
    .await;
    app.start_worker_with(|s| {
        s.worker.queues = vec![Queue::Chat.to_string(), Queue::Tool.to_string()];
        s.worker.name = "storeless".into();
    })
    .await;
    let doc = document(&app, "The Zorblat reactor is cooled by liquid argon pumped at four bar.", "reactor.txt").await;

    // A tool call on the storeless worker: its search ran on the owner.
    let (status, body) =
        invoke(&app, &app.admin_key, "knowledge_search", json!({"query": "how is the reactor cooled"})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["result"]["results"][0]["document_id"], doc, "{body}");
    let tool_job: Uuid = body["job_id"].as_str().unwrap().parse().unwrap();
    assert_eq!(ran_on(&app, tool_job).await, "storeless");
    let searches = search_jobs(&app).await;
    assert_eq!(searches.len(), 1, "one hop");
    assert_eq!(ran_on(&app, searches[0]).await, "owner");

    // A RAG chat turn, the same way.
    let conv = app.post_json(&app.admin_key, "/v1/conversations", &json!({"system_prompt": "Be brief."})).await;
    let path = format!("/v1/conversations/{}/messages", conv["id"].as_str().unwrap());
    let body = json!({"content": "How is the Zorblat reactor cooled?", "models": ["alpha"],
        "rag": {"enabled": true, "filters": {"tags": ["ops"]}, "top_k": 3}});
    let posted = app.post_json(&app.admin_key, &path, &body).await;
    let job: Uuid = posted["job"]["id"].as_str().unwrap().parse().unwrap();
    let done = app.wait_for_status(job, JobStatus::Succeeded, Duration::from_secs(60)).await;
    assert_eq!(done.result.unwrap()["citations"][0]["document_id"], doc);
    assert_eq!(ran_on(&app, job).await, "storeless");
    let searches = search_jobs(&app).await;
    assert_eq!(searches.len(), 2, "one more hop");
    for id in searches {
        assert_eq!(ran_on(&app, id).await, "owner");
    }
    // The storeless worker times its hops.
    let metrics = format!("http://127.0.0.1:{}/metrics", app.workers[1].metrics_port);
    let metrics = app.client.get(metrics).send().await.unwrap().text().await.unwrap();
    assert!(metrics.contains(r#"chorus_search_seconds_count{path="job"} 2"#), "{metrics}");
}

/// Runs `act` in bursts of three at once until jobs of `kind` have run on
/// every worker in `names`, at most 120 s. The workers take one job of each
/// queue at a time (see [`ONE_AT_A_TIME`]), so a burst cannot all go to the
/// first consumer that Redis wakes: run one by one, the same worker can win
/// every race on a busy machine.
async fn until_every_worker_ran(app: &TestApp, kind: &str, names: &BTreeSet<String>, act: impl AsyncFn()) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    let mut seen = BTreeSet::new();
    while &seen != names {
        assert!(tokio::time::Instant::now() < deadline, "{kind} ran only on {seen:?}");
        futures::future::join_all((0..names.len()).map(|_| act())).await;
        let page = app.get_json(&app.admin_key, &format!("/v1/jobs?kind={kind}&status=succeeded&limit=100")).await;
        for j in page["items"].as_array().unwrap() {
            seen.insert(ran_on(app, j["id"].as_str().unwrap().parse().unwrap()).await);
        }
    }
}

/// Each queue a slot of one on the spawned workers.
const ONE_AT_A_TIME: [(&str, &str); 3] = [
    ("CHORUS__WORKER__CONCURRENCY__SEARCH", "1"),
    ("CHORUS__WORKER__CONCURRENCY__TOOL", "1"),
    ("CHORUS__WORKER__CONCURRENCY__EMBED", "1"),
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_workers_start_together_on_an_empty_server_and_each_takes_every_queue() {
    if Engine::Server.skipped("three workers on the Qdrant server") {
        return;
    }
    let app = TestApp::spawn_on(Engine::Server, 0, |_| {}).await;
    let all = Queue::ALL.map(|q| q.as_str()).join(",");
    let names: BTreeSet<String> = ["w1", "w2", "w3"].map(String::from).into();
    // Started at the same moment: each creates the collection, its
    // indexes and the alias on the empty server.
    let mut env = vec![("CHORUS__WORKER__QUEUES", all)];
    env.extend(ONE_AT_A_TIME.map(|(k, v)| (k, v.to_string())));
    let mut children: Vec<_> = names.iter().map(|n| app.spawn_worker_process(n, &env)).collect();
    let doc = document(&app, "The Zorblat reactor is cooled by liquid argon pumped at four bar.", "reactor.txt").await;
    for child in &mut children {
        assert!(child.try_wait().unwrap().is_none(), "every worker is still up");
    }

    let search = async || {
        let body = json!({"query": "how is the reactor cooled", "mode": "vector"});
        let r = app.post_json(&app.admin_key, "/v1/search", &body).await;
        assert_eq!(r["results"][0]["document_id"], doc, "{r}");
    };
    until_every_worker_ran(&app, "search", &names, search).await;
    let searches = search_jobs(&app).await.len();
    let tool = async || {
        let (status, body) =
            invoke(&app, &app.admin_key, "knowledge_search", json!({"query": "reactor cooling"})).await;
        assert_eq!((status, &body["result"]["results"][0]["document_id"]), (200, &json!(doc)), "{body}");
    };
    until_every_worker_ran(&app, "tool_call", &names, tool).await;
    assert_eq!(search_jobs(&app).await.len(), searches, "with the server a tool searches without a hop");
    let embed = async || {
        let body = json!({"input": ["argon"]});
        let resp = app.post(&app.admin_key, "/v1/embeddings?wait=10").json(&body).send().await.unwrap();
        assert_eq!(resp.status(), 200);
    };
    until_every_worker_ran(&app, "embed_texts", &names, embed).await;
    for mut child in children {
        child.kill().unwrap();
        let _ = child.wait();
    }
}
