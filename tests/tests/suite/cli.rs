//! The `chorus` CLI against a running stack: exit codes that follow the
//! job, tables and `--json`, a progress bar that moves on a terminal (read
//! through a pseudo-terminal) and stays silent on a pipe, document uploads
//! that skip duplicates, dead-job retries, streamed chat, keys and webhooks.

use std::time::Duration;

use chorus_shared::domain::JobStatus;
use chorus_tests::cli::{run, run_in_terminal};
use chorus_tests::TestApp;
use serde_json::{json, Value};
use uuid::Uuid;
use wiremock::{matchers::method, Mock, MockServer, ResponseTemplate};

/// `chorus` with the admin key.
async fn admin(app: &TestApp, args: &[&str]) -> chorus_tests::cli::Ran {
    run(app, &app.admin_key, args).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_exit_code_follows_the_job_and_usage_errors_exit_2() {
    let app = TestApp::spawn().await;
    let ok =
        admin(&app, &["submit", "diagnostic", "--payload", r#"{"steps": 2, "sleep_ms": 200}"#, "--wait", "--json"])
            .await;
    assert_eq!(ok.code, 0, "{ok:?}");
    assert_eq!(ok.json()["status"], "succeeded");
    let done = ok.json()["id"].as_str().unwrap().to_string();

    let failed = admin(&app, &["submit", "diagnostic", "--payload", r#"{"fail_permanently": true}"#, "--wait"]).await;
    assert_eq!(failed.code, 1, "{failed:?}");
    assert!(failed.stderr.contains("diagnostic_failure"), "{failed:?}");

    let long =
        admin(&app, &["submit", "diagnostic", "--payload", r#"{"sleep_ms": 60000, "steps": 60}"#, "--json"]).await;
    let id = long.json()["id"].as_str().unwrap().to_string();
    assert_eq!(admin(&app, &["jobs", "cancel", &id]).await.code, 0);
    let watched = admin(&app, &["watch", &id]).await;
    assert_eq!(watched.code, 3, "cancelled: {watched:?}");

    // Usage errors: a payload that is not JSON, an unknown command, no key.
    let bad = admin(&app, &["submit", "diagnostic", "--payload", "{oops"]).await;
    assert_eq!((bad.code, bad.stderr.contains("not JSON")), (2, true), "{bad:?}");
    let missing = admin(&app, &["submit", "diagnostic", "--payload", "@/no/such/file.json"]).await;
    assert_eq!(missing.code, 2, "{missing:?}");
    assert_eq!(admin(&app, &["frobnicate"]).await.code, 2);
    let keyless = run(&app, "", &["jobs", "ls"]).await;
    assert_eq!((keyless.code, keyless.stderr.contains("no API key")), (2, true), "{keyless:?}");
    // The API's refusals exit 1 with its code and status.
    let none = admin(&app, &["jobs", "show", &Uuid::nil().to_string()]).await;
    assert_eq!((none.code, none.stderr.contains("(404)")), (1, true), "{none:?}");

    // Tables for people, JSON for scripts.
    let table = admin(&app, &["jobs", "ls", "--kind", "diagnostic"]).await;
    assert!(table.stdout.starts_with("ID "), "{table:?}");
    assert_eq!(table.stdout.lines().count(), 4, "a header and three jobs: {table:?}");
    let listed = admin(&app, &["jobs", "ls", "--status", "succeeded", "--json"]).await.json();
    assert_eq!(listed["items"][0]["id"], done);
    let shown = admin(&app, &["jobs", "show", &done]).await;
    assert!(shown.stdout.contains("EVENT") && shown.stdout.contains("succeeded"), "the timeline: {shown:?}");

    // Keys: a viewer may not submit; a revoked key stops working.
    let made = admin(&app, &["keys", "create", "watcher", "--role", "viewer", "--json"]).await.json();
    let (key_id, secret) = (made["id"].as_str().unwrap(), made["secret"].as_str().unwrap());
    let refused = run(&app, secret, &["submit", "diagnostic"]).await;
    assert_eq!((refused.code, refused.stderr.contains("(403)")), (1, true), "{refused:?}");
    assert_eq!(run(&app, secret, &["jobs", "ls"]).await.code, 0, "viewers read");
    assert!(admin(&app, &["keys", "ls"]).await.stdout.contains("watcher"));
    assert_eq!(admin(&app, &["keys", "revoke", key_id]).await.code, 0);
    let revoked = run(&app, secret, &["jobs", "ls"]).await;
    assert_eq!((revoked.code, revoked.stderr.contains("(401)")), (1, true), "{revoked:?}");

    let completions = admin(&app, &["completions", "bash"]).await;
    assert!(completions.code == 0 && completions.stdout.contains("_chorus()"), "{completions:?}");
}

/// The `N/10` positions a watch of a ten-step job drew.
fn positions(screen: &str) -> Vec<u32> {
    let mut seen: Vec<u32> = (0..=10).filter(|n| screen.contains(&format!("] {n}/10"))).collect();
    seen.dedup();
    seen
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_draws_a_moving_bar_on_a_terminal_and_nothing_on_a_pipe() {
    let app = TestApp::spawn().await;
    let payload = json!({"kind": "diagnostic", "payload": {"steps": 10, "sleep_ms": 4000}});
    let id = app.submit(payload.clone()).await.to_string();
    let (code, screen) = run_in_terminal(&app, &app.admin_key, &["watch", &id]).await;
    assert_eq!(code, 0, "{screen}");
    let seen = positions(&screen);
    assert!(seen.len() >= 3, "the bar moved through several steps: {seen:?} in {screen:?}");
    assert!(screen.contains("[###"), "a drawn bar: {screen:?}");
    assert!(screen.contains(&format!("job {id} succeeded")), "{screen:?}");

    let id = app.submit(payload).await.to_string();
    let piped = admin(&app, &["watch", &id]).await;
    assert_eq!(piped.code, 0, "{piped:?}");
    assert!(positions(&piped.stderr).is_empty() && !piped.stderr.contains('\x1b'), "no bar on a pipe: {piped:?}");
    assert_eq!(piped.stderr.trim(), format!("job {id} succeeded"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn docs_upload_skips_duplicates_waits_for_ingestion_then_search_tag_bulk_and_rm() {
    let app = TestApp::spawn().await;
    let dir = tempfile::tempdir().unwrap();
    let reactor = "The Zorblat reactor is cooled by liquid argon pumped at four bar.";
    std::fs::write(dir.path().join("reactor.txt"), reactor).unwrap();
    std::fs::write(dir.path().join("tea.md"), "# Tea\n\nGreen tea leaves are steamed, then rolled and dried.").unwrap();
    std::fs::create_dir(dir.path().join("copies")).unwrap();
    std::fs::write(dir.path().join("copies/reactor-again.txt"), reactor).unwrap();

    let path = dir.path().to_str().unwrap();
    let up = admin(&app, &["docs", "upload", path, "--tag", "ops", "--wait", "--json", "--concurrency", "1"]).await;
    assert_eq!(up.code, 0, "{up:?}");
    let summary = up.json();
    assert_eq!((summary["uploaded"].as_u64(), summary["duplicates"].as_u64()), (Some(2), Some(1)), "{summary}");
    let files = summary["files"].as_array().unwrap();
    let result_of = |name: &str| files.iter().find(|f| f["file"].as_str().unwrap().ends_with(name)).unwrap().clone();
    assert_eq!(result_of("tea.md")["result"], "ingested");
    let reactor_doc = result_of("reactor.txt")["document"].as_str().unwrap().to_string();
    let again = result_of("reactor-again.txt");
    assert_eq!(
        (again["result"].as_str(), again["document"].as_str()),
        (Some("duplicate: skipped"), Some(&*reactor_doc))
    );

    let listed = admin(&app, &["docs", "ls", "--tag", "ops", "--json"]).await.json();
    assert_eq!(listed["items"].as_array().unwrap().len(), 2, "{listed}");
    let found = admin(&app, &["search", "how is the reactor cooled", "--json"]).await.json();
    assert_eq!(found["results"][0]["document_id"], reactor_doc, "{found}");
    let table = admin(&app, &["search", "how is the reactor cooled"]).await;
    assert!(table.stdout.starts_with("SCORE") && table.stdout.contains("argon"), "{table:?}");

    assert_eq!(admin(&app, &["docs", "tag", &reactor_doc, "--tag", "hot"]).await.code, 0);
    let hot = admin(&app, &["docs", "ls", "--tag", "hot", "--json"]).await.json();
    assert_eq!(hot["items"][0]["id"], reactor_doc, "{hot}");
    let bulk = admin(&app, &["bulk", "tag", "--filter", "tag=ops", "--tag", "batch", "--json"]).await;
    assert_eq!((bulk.code, &bulk.json()["result"]["ok"]), (0, &json!(2)), "{bulk:?}");
    assert_eq!(admin(&app, &["bulk", "tag", "--filter", "oops"]).await.code, 2, "a filter is KEY=VALUE");

    assert_eq!(admin(&app, &["docs", "rm", &reactor_doc]).await.code, 0);
    let left = admin(&app, &["docs", "ls", "--tag", "batch", "--json"]).await.json();
    assert_eq!(left["items"].as_array().unwrap().len(), 1, "{left}");

    // On a terminal: a bar per file and a total.
    let one = dir.path().join("one.txt");
    std::fs::write(&one, "Copper conducts heat well.").unwrap();
    let (code, screen) = run_in_terminal(&app, &app.admin_key, &["docs", "upload", one.to_str().unwrap()]).await;
    assert_eq!(code, 0, "{screen}");
    assert!(screen.contains("total") && screen.contains("files"), "{screen:?}");
    assert!(screen.contains("one.txt"), "{screen:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dead_jobs_retry_all_chat_streams_and_webhooks_redeliver() {
    let app = TestApp::spawn().await;
    let mut dead = Vec::new();
    for _ in 0..2 {
        let id = app.submit(json!({"kind": "diagnostic", "payload": {"fail_attempts": 1}, "max_attempts": 1})).await;
        app.wait_for_status(id, JobStatus::Dead, Duration::from_secs(15)).await;
        dead.push(id);
    }
    let listed = admin(&app, &["dead", "ls", "--json"]).await.json();
    assert_eq!(listed["items"].as_array().unwrap().len(), 2, "{listed}");
    let retried = admin(&app, &["dead", "retry", "--all"]).await;
    assert_eq!((retried.code, retried.stdout.trim()), (0, "retried 2 dead job(s)"), "{retried:?}");
    for id in dead {
        app.wait_for_status(id, JobStatus::Succeeded, Duration::from_secs(15)).await;
    }
    assert_eq!(admin(&app, &["dead", "retry"]).await.code, 2, "a job or --all");

    // Chat on the local model: the answer streams to stdout.
    let chat = admin(&app, &["chat", "What is the capital of France? Answer in one word."]).await;
    assert_eq!(chat.code, 0, "{chat:?}");
    assert!(chat.stderr.starts_with("conversation "), "{chat:?}");
    assert!(!chat.stdout.trim().is_empty(), "{chat:?}");
    let usage = admin(&app, &["usage", "--by", "model", "--json"]).await.json();
    assert_eq!((usage[0]["key"].as_str(), usage[0]["calls"].as_u64()), (Some("local/smollm2"), Some(1)), "{usage}");

    // Webhooks: add, test, read the log, redeliver.
    let receiver = MockServer::start().await;
    Mock::given(method("POST")).respond_with(ResponseTemplate::new(200)).mount(&receiver).await;
    let url = format!("{}/hook", receiver.uri());
    let added = admin(&app, &["webhooks", "add", &url, "--event", "job.dead", "--json"]).await;
    assert_eq!(added.code, 0, "{added:?}");
    let endpoint = added.json()["id"].as_str().unwrap_or_else(|| panic!("{added:?}")).to_string();
    assert!(admin(&app, &["webhooks", "ls"]).await.stdout.contains(&url));
    assert_eq!(admin(&app, &["webhooks", "test", &endpoint]).await.code, 0);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let delivery: Value = loop {
        let log = admin(&app, &["webhooks", "deliveries", &endpoint, "--json"]).await.json();
        if log[0]["status"] == "succeeded" {
            break log[0].clone();
        }
        assert!(tokio::time::Instant::now() < deadline, "the test event was delivered: {log}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let again = admin(&app, &["webhooks", "redeliver", delivery["id"].as_str().unwrap()]).await;
    assert_eq!(again.code, 0, "{again:?}");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while receiver.received_requests().await.unwrap().len() < 2 {
        assert!(tokio::time::Instant::now() < deadline, "the redelivery arrived");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
