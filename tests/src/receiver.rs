//! A real webhook receiver for tests, and an independent Standard Webhooks
//! verifier (written from the spec, sharing no code with Chorus's signer).

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// One request as the receiver saw it.
#[derive(Debug, Clone)]
pub struct Captured {
    pub path: String,
    pub id: String,
    pub timestamp: String,
    pub signature: String,
    pub body: String,
    /// When it arrived, as seconds since the epoch.
    pub received_at: f64,
}

impl Captured {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).expect("JSON body")
    }
}

#[derive(Clone, Default)]
struct State {
    seen: Arc<Mutex<Vec<Captured>>>,
    status: Arc<AtomicU16>,
}

pub struct Receiver {
    pub port: u16,
    state: State,
    handle: actix_web::dev::ServerHandle,
}

async fn capture(state: web::Data<State>, req: HttpRequest, body: String) -> HttpResponse {
    let h = |name: &str| req.headers().get(name).and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
    state.seen.lock().unwrap().push(Captured {
        path: req.path().to_string(),
        id: h("webhook-id"),
        timestamp: h("webhook-timestamp"),
        signature: h("webhook-signature"),
        body,
        received_at: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs_f64(),
    });
    let status = state.status.load(Ordering::SeqCst);
    HttpResponse::build(actix_web::http::StatusCode::from_u16(status).unwrap()).body("received, thanks")
}

impl Receiver {
    /// Listens on 127.0.0.1:`port` (0 = any free port), answering 200.
    pub async fn start(port: u16) -> Self {
        let state = State { status: Arc::new(AtomicU16::new(200)), ..Default::default() };
        let data = web::Data::new(state.clone());
        let server = HttpServer::new(move || App::new().app_data(data.clone()).default_service(web::to(capture)))
            .workers(1)
            .disable_signals()
            .bind(("127.0.0.1", port))
            .expect("bind receiver");
        let port = server.addrs()[0].port();
        let server = server.run();
        let handle = server.handle();
        tokio::spawn(server);
        Self { port, state, handle }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// What every following request is answered with.
    pub fn answer(&self, status: u16) {
        self.state.status.store(status, Ordering::SeqCst);
    }

    /// What it saw, still readable after [`Receiver::stop`].
    pub fn seen_handle(&self) -> Arc<Mutex<Vec<Captured>>> {
        self.state.seen.clone()
    }

    pub fn seen(&self) -> Vec<Captured> {
        self.state.seen.lock().unwrap().clone()
    }

    /// Distinct `webhook-id`s: what a receiver that de-duplicates processes.
    pub fn unique_ids(&self) -> BTreeSet<String> {
        self.seen().into_iter().map(|c| c.id).collect()
    }

    /// Waits until `done(seen)` holds, at most `within`.
    pub async fn wait_until(&self, within: Duration, done: impl Fn(&[Captured]) -> bool) -> Vec<Captured> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let seen = self.seen();
            if done(&seen) {
                return seen;
            }
            assert!(tokio::time::Instant::now() < deadline, "receiver did not get there in {within:?}: {seen:#?}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub async fn stop(self) {
        self.handle.stop(false).await;
    }
}

/// Verifies a delivery as the Standard Webhooks spec says: the timestamp is
/// within `tolerance` of now, and one of the space-separated `v1,`
/// signatures is the HMAC-SHA256, keyed with the base64-decoded secret, of
/// `{id}.{timestamp}.{body}`.
pub fn verify(secret: &str, c: &Captured, tolerance: Duration) -> Result<(), String> {
    let ts: i64 = c.timestamp.parse().map_err(|_| "bad timestamp".to_string())?;
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
    if (now - ts).unsigned_abs() > tolerance.as_secs() {
        return Err(format!("timestamp {ts} is {}s away from now", now - ts));
    }
    let key = STANDARD.decode(secret.trim_start_matches("whsec_")).map_err(|e| e.to_string())?;
    let signed = format!("{}.{}.{}", c.id, c.timestamp, c.body);
    for sig in c.signature.split(' ') {
        let Some(b64) = sig.strip_prefix("v1,") else { continue };
        let Ok(expected) = STANDARD.decode(b64) else { continue };
        let mut mac = Hmac::<Sha256>::new_from_slice(&key).unwrap();
        mac.update(signed.as_bytes());
        if mac.verify_slice(&expected).is_ok() {
            return Ok(());
        }
    }
    Err("no signature matches".into())
}
