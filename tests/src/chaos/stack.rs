//! The chaos run's own cluster on loopback: a Postgres and a Redis of its
//! own (`scripts/services.sh`, so that restarting them disturbs no other
//! test), and worker processes that it kills and starts again.

use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{SystemTime, UNIX_EPOCH};

use chorus_shared::config::Settings;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use rand::Rng;

/// Seconds since the epoch, as Postgres's timestamps are compared.
pub fn now() -> f64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().as_secs_f64()
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn services(args: &[&str]) {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/services.sh");
    let status = Command::new("bash").arg(script).args(args).status().expect("run scripts/services.sh");
    assert!(status.success(), "scripts/services.sh {args:?} failed");
}

/// Postgres and Redis under `dir`, stopped on drop.
pub struct Stores {
    dir: PathBuf,
    pg_port: u16,
    redis_port: u16,
}

impl Stores {
    /// Starts both, and creates and migrates database `chorus`.
    pub async fn start(dir: &Path) -> Self {
        let stores = Self { dir: dir.to_path_buf(), pg_port: free_port(), redis_port: free_port() };
        services(&["start", &stores.dir(), &stores.pg_port.to_string(), &stores.redis_port.to_string()]);
        let server = format!("postgres://postgres@127.0.0.1:{}", stores.pg_port);
        let mut admin = AsyncPgConnection::establish(&format!("{server}/postgres")).await.expect("chaos postgres");
        diesel::sql_query("CREATE DATABASE chorus").execute(&mut admin).await.unwrap();
        chorus_shared::db::migrate(&stores.database_url()).await.expect("migrate");
        stores
    }

    fn dir(&self) -> String {
        self.dir.display().to_string()
    }

    pub fn database_url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/chorus", self.pg_port)
    }

    pub fn redis_url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.redis_port)
    }

    /// `kill -9` on Redis, then a fresh one on the same port: every message
    /// it held is gone.
    pub fn restart_redis(&self) {
        services(&["restart-redis", &self.dir(), &self.pg_port.to_string(), &self.redis_port.to_string()]);
    }

    /// A fast shutdown and start of Postgres: every connection drops.
    pub fn restart_postgres(&self) {
        services(&["restart-pg", &self.dir()]);
    }
}

impl Drop for Stores {
    fn drop(&mut self) {
        services(&["stop", &self.dir()]);
    }
}

/// One kill: which worker incarnation, and when.
#[derive(Debug, Clone)]
pub struct Kill {
    pub worker: String,
    pub at: f64,
}

struct Slot {
    base: String,
    generation: u32,
    queues: String,
    child: Child,
}

/// Worker processes, each restarted under a new name when killed (so the
/// jobs of each incarnation can be told apart).
pub struct Workers {
    settings: Settings,
    slots: Vec<Slot>,
    pub kills: Vec<Kill>,
}

impl Workers {
    /// Starts one worker per entry of `queues` (a `worker.queues` value).
    pub fn start(settings: Settings, queues: &[String]) -> Self {
        let mut w = Self { settings, slots: Vec::new(), kills: Vec::new() };
        for (i, q) in queues.iter().enumerate() {
            let base = format!("w{}", i + 1);
            let child = w.spawn(&format!("{base}-0"), q);
            w.slots.push(Slot { base, generation: 0, queues: q.clone(), child });
        }
        w
    }

    fn spawn(&self, name: &str, queues: &str) -> Child {
        let mut cmd = crate::worker_command(&self.settings, name);
        cmd.env("CHORUS__WORKER__QUEUES", queues).stderr(std::process::Stdio::null());
        cmd.spawn().expect("start chorus-worker")
    }

    /// `kill -9` on a random worker, then starts it again.
    pub fn kill_one(&mut self) -> Kill {
        let i = rand::rng().random_range(0..self.slots.len());
        let name = format!("{}-{}", self.slots[i].base, self.slots[i].generation);
        let slot = &mut self.slots[i];
        let _ = kill(Pid::from_raw(slot.child.id() as i32), Signal::SIGKILL);
        let at = now();
        let _ = slot.child.wait();
        slot.generation += 1;
        let next = format!("{}-{}", slot.base, slot.generation);
        let queues = slot.queues.clone();
        self.slots[i].child = self.spawn(&next, &queues);
        let k = Kill { worker: name, at };
        self.kills.push(k.clone());
        k
    }

    /// Whether every worker process is still running.
    pub fn all_up(&mut self) -> bool {
        self.slots.iter_mut().all(|s| matches!(s.child.try_wait(), Ok(None)))
    }
}

impl Drop for Workers {
    fn drop(&mut self) {
        for s in &mut self.slots {
            let _ = kill(Pid::from_raw(s.child.id() as i32), Signal::SIGKILL);
            let _ = s.child.wait();
        }
    }
}
