//! A worker that cannot write heartbeats stops its attempt itself, before
//! the rescuer may hand the job to another worker: two copies never run.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chorus_shared::domain::JobStatus;
use chorus_shared::Ctx;
use chorus_tests::TestApp;
use serde_json::json;
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;

/// A TCP proxy to Postgres that the test can cut: every connection through
/// it closes, and new ones are refused.
struct Proxy {
    port: u16,
    cut: Arc<AtomicBool>,
    links: Arc<Mutex<Vec<tokio::task::AbortHandle>>>,
}

impl Proxy {
    async fn start(upstream: String) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let cut = Arc::new(AtomicBool::new(false));
        let links: Arc<Mutex<Vec<tokio::task::AbortHandle>>> = Arc::default();
        let (c, l) = (cut.clone(), links.clone());
        tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                if c.load(Ordering::SeqCst) {
                    continue;
                }
                let Ok(mut outbound) = TcpStream::connect(&upstream).await else { continue };
                let link = tokio::spawn(async move {
                    let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                });
                l.lock().unwrap().push(link.abort_handle());
            }
        });
        Self { port, cut, links }
    }

    fn cut(&self) {
        self.cut.store(true, Ordering::SeqCst);
        for link in self.links.lock().unwrap().drain(..) {
            link.abort();
        }
    }
}

async fn in_flight(metrics_port: u16) -> i64 {
    let text = reqwest::get(format!("http://127.0.0.1:{metrics_port}/metrics")).await.unwrap().text().await.unwrap();
    text.lines().find_map(|l| l.strip_prefix("chorus_jobs_in_flight ")).unwrap().trim().parse().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_cut_off_from_postgres_stops_its_attempt_before_the_rescue() {
    let mut app = TestApp::spawn_with(0, |s| s.worker.queues = vec!["maintenance".into()]).await;
    // Worker A reaches Postgres through the proxy.
    let url = app.settings.database.url.clone();
    let (scheme_user, rest) = url.split_once('@').unwrap();
    let (host_port, database) = rest.split_once('/').unwrap();
    let proxy = Proxy::start(host_port.to_string()).await;
    let mut settings = app.settings.clone();
    settings.database.url = format!("{scheme_user}@127.0.0.1:{}/{database}", proxy.port);
    let stop = CancellationToken::new();
    let (tx, rx) = tokio::sync::oneshot::channel();
    let ctx = Ctx::connect(settings).await.unwrap();
    let worker_a = tokio::spawn(chorus_worker::run(ctx, stop.clone(), Some(tx)));
    let a_port = rx.await.unwrap();

    let id = app.submit(json!({"kind": "diagnostic", "payload": {"sleep_ms": 8000, "steps": 8}})).await;
    app.wait_for_status(id, JobStatus::Running, Duration::from_secs(20)).await;
    // The claim commits just before the attempt starts counting.
    for _ in 0..50 {
        if in_flight(a_port).await == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(in_flight(a_port).await, 1);
    proxy.cut();
    let cut_at = tokio::time::Instant::now();
    // A gives up within rescue_after less its margin (3 s − 0.75 s here) …
    while in_flight(a_port).await != 0 {
        assert!(cut_at.elapsed() < Duration::from_secs(3), "worker A still runs the attempt it cannot record");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // … and only then may another worker rescue it and run it again (A is
    // stopped first: cut off, it would only swallow the new message).
    stop.cancel();
    let _ = tokio::time::timeout(Duration::from_secs(15), worker_a).await;
    app.start_worker().await;
    let done = app.wait_for_status(id, JobStatus::Succeeded, Duration::from_secs(30)).await;
    assert_eq!(done.attempts, 2, "rescued once, run once more");
}
