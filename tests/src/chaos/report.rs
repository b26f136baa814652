//! The chaos run's report: the figures as JSON, a Markdown page for
//! `bench/results/chaos.md`, and the reference check of every delivery's
//! signature.

use std::collections::BTreeMap;
use std::io::Write;

use serde::Serialize;
use serde_json::{json, Value};

use super::checks::Duplicates;
use crate::receiver::Captured;

#[derive(Debug, Serialize)]
pub struct Report {
    pub plan: String,
    pub engine: String,
    /// Every job and document reached a final state in time.
    pub settled: bool,
    /// No delivery was left pending or held.
    pub drained: bool,
    pub submitted: i64,
    /// The run's jobs by status.
    pub jobs: BTreeMap<String, i64>,
    /// Jobs that ended `failed` or `dead`, by error code.
    pub not_succeeded: BTreeMap<String, i64>,
    pub documents: BTreeMap<String, i64>,
    pub stuck_running: i64,
    pub duplicates: Duplicates,
    pub deliveries: BTreeMap<String, i64>,
    /// Deliveries that did not succeed, with their job (goal: none).
    pub stragglers: Vec<String>,
    /// Deliveries Postgres has as succeeded.
    pub delivered: i64,
    /// Of those, how many the receiver never saw.
    pub unreceived: i64,
    /// Receipts the PyPI `standardwebhooks` package verified, and refused.
    pub signatures: (i64, i64),
    /// The reconciler's report on the live collection.
    pub reconcile: Value,
    pub kills: usize,
    /// Kill → re-run on another worker: p50, p99, max (seconds).
    pub rerun_secs: [f64; 3],
    pub reruns: usize,
    /// Jobs running at a kill that ended `dead` as poison (they lost their
    /// worker `rescued_max` times).
    pub poisoned: usize,
    pub never_rerun: usize,
    pub chaos_secs: f64,
    /// From the receiver's return until every delivery created before it
    /// was delivered.
    pub drain_secs: f64,
    pub receiver_down_secs: f64,
    pub workers_up_at_end: bool,
}

impl Report {
    /// Jobs submitted but not in a final state (goal: zero).
    pub fn lost(&self) -> i64 {
        self.submitted
            - ["succeeded", "failed", "dead", "cancelled"].iter().filter_map(|s| self.jobs.get(*s)).sum::<i64>()
    }

    /// Every goal met.
    pub fn clean(&self) -> bool {
        let d = &self.duplicates;
        self.settled
            && self.drained
            && self.lost() == 0
            && self.stuck_running == 0
            && (d.job_successes, d.chunks, d.messages, d.deliveries) == (0, 0, 0, 0)
            && self.unreceived == 0
            && Some(&self.delivered) == self.deliveries.get("succeeded")
            && self.stragglers.is_empty()
            && self.signatures.1 == 0
            && self.reconcile["orphan_points_deleted"] == 0
            && self.reconcile["missing_points_restored"] == 0
            && self.never_rerun == 0
            && self.rerun_secs[2] <= 30.0
    }

    /// The page for `bench/results/chaos.md`.
    pub fn markdown(&self, machine: &str) -> String {
        let d = &self.duplicates;
        let r = &self.reconcile;
        let [p50, p99, max] = self.rerun_secs;
        let rows = [
            ("jobs lost (submitted, not final)", self.lost().to_string(), "0"),
            ("jobs stuck in `running`", self.stuck_running.to_string(), "0"),
            ("jobs succeeded twice", d.job_successes.to_string(), "0"),
            ("chunks twice", d.chunks.to_string(), "0"),
            ("chat answers twice", d.messages.to_string(), "0"),
            ("outbox rows twice", d.deliveries.to_string(), "0"),
            ("deliveries succeeded but never received", self.unreceived.to_string(), "0"),
            ("receipts of a `webhook-id` already received", d.receipts.to_string(), "(de-duplicated by the receiver)"),
            (
                "signatures verified / refused (standardwebhooks)",
                format!("{} / {}", self.signatures.0, self.signatures.1),
                "all / 0",
            ),
            (
                "reconciler: orphan points / missing points",
                format!("{} / {}", r["orphan_points_deleted"], r["missing_points_restored"]),
                "0 / 0",
            ),
            ("kill → re-run p50 / p99 / max", format!("{p50:.1} s / {p99:.1} s / {max:.1} s"), "≤ 30 s"),
            ("jobs running at a kill and never run again (poison aside)", self.never_rerun.to_string(), "0"),
            (
                "jobs running at a kill that ended `dead` as poison",
                self.poisoned.to_string(),
                "(by design: lost their worker 3 times)",
            ),
        ];
        let mut out = vec![
            "# Chaos run".to_string(),
            String::new(),
            format!("Machine: {machine}. Vector engine: {}.", self.engine),
            format!("Plan: `{}`.", self.plan),
            String::new(),
            format!(
                "{} jobs submitted (diagnostic jobs and chat turns) and {} documents; {} kills, Redis and Postgres \
                 each restarted once, the receiver down {:.0} s; chaos for {:.0} s, and the webhook backlog drained \
                 {:.0} s after the receiver came back. Settled: {}; drained: {}.",
                self.submitted,
                self.documents.values().sum::<i64>(),
                self.kills,
                self.receiver_down_secs,
                self.chaos_secs,
                self.drain_secs,
                self.settled,
                self.drained
            ),
            String::new(),
            "| check | result | goal |".into(),
            "|---|---|---|".into(),
        ];
        out.extend(rows.iter().map(|(name, v, goal)| format!("| {name} | {v} | {goal} |")));
        out.push(String::new());
        out.push(format!("Jobs by status: {:?}; not succeeded, by code: {:?}.", self.jobs, self.not_succeeded));
        out.push(format!(
            "Documents: {:?}. Deliveries: {:?} ({} re-runs timed).",
            self.documents, self.deliveries, self.reruns
        ));
        out.join("\n") + "\n"
    }
}

/// Checks every receipt with the PyPI `standardwebhooks` package (from
/// `CHORUS_TEST_PYTHON`), as the receiver would have when it arrived:
/// returns (verified, refused). Without Python it returns (0, 0).
pub fn verify_signatures(secret: &str, seen: &[Captured]) -> (i64, i64) {
    let Ok(python) = std::env::var("CHORUS_TEST_PYTHON") else { return (0, 0) };
    let script = r#"
import json, sys
from datetime import datetime, timezone
import standardwebhooks.webhooks as w

class At(datetime):
    moment = None
    @classmethod
    def now(cls, tz=None):
        return cls.moment

w.datetime = At
ok = bad = 0
for line in sys.stdin:
    case = json.loads(line)
    At.moment = datetime.fromtimestamp(case["received_at"], tz=timezone.utc)
    try:
        w.Webhook(case["secret"]).verify(case["body"], case["headers"])
        ok += 1
    except Exception:
        bad += 1
print(json.dumps([ok, bad]))
"#;
    let mut child = std::process::Command::new(python)
        .arg("-c")
        .arg(script)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("python");
    {
        let mut stdin = child.stdin.take().unwrap();
        for c in seen {
            let headers =
                json!({"webhook-id": c.id, "webhook-timestamp": c.timestamp, "webhook-signature": c.signature});
            let case = json!({"secret": secret, "body": c.body, "headers": headers, "received_at": c.received_at});
            writeln!(stdin, "{case}").unwrap();
        }
    }
    let out = child.wait_with_output().expect("python");
    serde_json::from_slice::<(i64, i64)>(&out.stdout).unwrap_or((0, seen.len() as i64))
}
