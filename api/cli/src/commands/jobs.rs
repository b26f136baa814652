//! `submit`, `watch`, `jobs ls|show|cancel|retry` and `dead ls|retry`.

use std::time::Duration;

use clap::{Args, Subcommand};
use eventsource_stream::Eventsource;
use futures::StreamExt;
use reqwest::Method;
use serde_json::{json, Value};

use crate::client::{checked, encode, Client};
use crate::follow::{self, exit_code, status, Show, TERMINAL};
use crate::table::{self, Column};
use crate::{Outcome, Usage};

const JOB_COLUMNS: [Column; 6] = [
    ("ID", "/id"),
    ("KIND", "/kind"),
    ("STATUS", "/status"),
    ("ATTEMPTS", "/attempts"),
    ("ERROR", "/error/code"),
    ("CREATED", "/created_at"),
];

const JOB_FIELDS: [Column; 13] = [
    ("id", "/id"),
    ("kind", "/kind"),
    ("queue", "/queue"),
    ("status", "/status"),
    ("priority", "/priority"),
    ("attempts", "/attempts"),
    ("max_attempts", "/max_attempts"),
    ("progress", "/progress"),
    ("error", "/error"),
    ("result", "/result"),
    ("created_at", "/created_at"),
    ("finished_at", "/finished_at"),
    ("payload", "/payload"),
];

#[derive(Debug, Args)]
pub struct Submit {
    /// The job's kind, e.g. `diagnostic`.
    kind: String,
    /// The payload: JSON, `@file.json`, or `@-` for standard input.
    #[arg(long, default_value = "{}")]
    payload: String,
    #[arg(long)]
    priority: Option<i16>,
    #[arg(long)]
    max_attempts: Option<i32>,
    /// Same key and body → the same job.
    #[arg(long)]
    idempotency_key: Option<String>,
    /// Follow the job and exit with its outcome.
    #[arg(long)]
    wait: bool,
}

#[derive(Debug, Args)]
pub struct Filter {
    /// e.g. `queued`, `running`, `dead`.
    #[arg(long)]
    status: Option<String>,
    /// e.g. `chat`, `ingest_document`.
    #[arg(long)]
    kind: Option<String>,
    /// Created at or after (RFC 3339).
    #[arg(long)]
    created_after: Option<String>,
    /// Created before (RFC 3339).
    #[arg(long)]
    created_before: Option<String>,
    /// From the previous page's `next` line.
    #[arg(long)]
    cursor: Option<String>,
    #[arg(long, default_value_t = 20)]
    limit: u32,
}

#[derive(Debug, Subcommand)]
pub enum Jobs {
    /// List jobs, newest first.
    Ls(Filter),
    /// A job, with its event timeline once it has ended.
    Show { job: String },
    /// Cancel a job: at once if waiting, within a second if running.
    Cancel { job: String },
    /// Run a failed, dead or cancelled job again.
    Retry { job: String },
}

#[derive(Debug, Subcommand)]
pub enum Dead {
    /// List dead jobs, newest first.
    Ls {
        #[arg(long)]
        kind: Option<String>,
        #[arg(long, default_value_t = 20)]
        limit: u32,
    },
    /// Retry one dead job, or all of them.
    Retry {
        #[arg(required_unless_present = "all", conflicts_with = "all")]
        job: Option<String>,
        #[arg(long)]
        all: bool,
        /// With --all, only dead jobs of this kind.
        #[arg(long)]
        kind: Option<String>,
    },
}

/// A payload argument: inline JSON, `@file`, or `@-` for standard input.
pub fn payload(arg: &str) -> Result<Value, Usage> {
    let text = match arg.strip_prefix('@') {
        Some("-") => std::io::read_to_string(std::io::stdin()).map_err(|e| Usage(format!("stdin: {e}")))?,
        Some(path) => std::fs::read_to_string(path).map_err(|e| Usage(format!("{path}: {e}")))?,
        None => arg.to_string(),
    };
    serde_json::from_str(&text).map_err(|e| Usage(format!("the payload is not JSON: {e}")))
}

pub async fn submit(c: &Client, args: Submit, json: bool) -> Outcome {
    let mut body = json!({"kind": args.kind, "payload": payload(&args.payload)?});
    if let Some(p) = args.priority {
        body["priority"] = p.into();
    }
    if let Some(m) = args.max_attempts {
        body["max_attempts"] = m.into();
    }
    let mut req = c.request(Method::POST, "/v1/jobs").json(&body);
    if let Some(key) = &args.idempotency_key {
        req = req.header("Idempotency-Key", key);
    }
    let job = c.send(req).await?;
    if !args.wait {
        table::print_fields(&job, json, &JOB_FIELDS[..4]);
        return Ok(0);
    }
    let id = job["id"].as_str().unwrap_or_default().to_string();
    end(c, &id, &job, json).await
}

pub async fn watch(c: &Client, id: &str, json: bool) -> Outcome {
    let job = c.get(&format!("/v1/jobs/{}", encode(id))).await?;
    end(c, id, &job, json).await
}

/// Follows `job` to its end and reports it.
async fn end(c: &Client, id: &str, job: &Value, json: bool) -> Outcome {
    let chat = job["kind"] == "chat";
    let (done, streamed) = follow::follow(c, id, Show { bar: !chat, tokens: chat && !json }).await?;
    if json {
        table::print_json(&done);
    } else {
        let error = done["error"]["code"].as_str().map(|code| {
            let message = done["error"]["message"].as_str().unwrap_or_default();
            format!(": {}: {}", table::printable(code), table::printable(message))
        });
        eprintln!("job {id} {}{}", status(&done), error.unwrap_or_default());
        match &done["result"] {
            Value::Null => {}
            _ if streamed => {}
            r if chat && r["content"].is_string() => {
                println!("{}", table::printable(r["content"].as_str().unwrap_or_default()))
            }
            r => println!("{}", serde_json::to_string_pretty(r)?),
        }
    }
    Ok(exit_code(status(&done)))
}

pub async fn jobs(c: &Client, cmd: Jobs, json: bool) -> Outcome {
    match cmd {
        Jobs::Ls(f) => list(c, f, json).await,
        Jobs::Show { job } => show(c, &job, json).await,
        Jobs::Cancel { job } => act(c, &job, "cancel", json).await,
        Jobs::Retry { job } => act(c, &job, "retry", json).await,
    }
}

async fn list(c: &Client, f: Filter, json: bool) -> Outcome {
    let pairs = [
        ("status", f.status),
        ("kind", f.kind),
        ("created_after", f.created_after),
        ("created_before", f.created_before),
        ("cursor", f.cursor),
        ("limit", Some(f.limit.to_string())),
    ];
    let page = c.get_query("/v1/jobs", &pairs).await?;
    table::print_page(&page, json, &JOB_COLUMNS);
    Ok(0)
}

async fn show(c: &Client, id: &str, json: bool) -> Outcome {
    let path = format!("/v1/jobs/{}", encode(id));
    let mut job = c.get(&path).await?;
    if TERMINAL.contains(&status(&job)) {
        job["events"] = Value::Array(history(c, &path).await?);
    }
    if json {
        table::print_json(&job);
        return Ok(0);
    }
    table::print_fields(&job, false, &JOB_FIELDS);
    if job["events"].is_array() {
        println!();
        let columns = [("TIME", "/created_at"), ("EVENT", "/kind"), ("STATUS", "/status"), ("DATA", "/data")];
        table::print(&job, false, "/events", &columns);
    }
    Ok(0)
}

/// The stored events of an ended job: its stream replays them, then ends.
async fn history(c: &Client, path: &str) -> anyhow::Result<Vec<Value>> {
    let req = c.request(Method::GET, &format!("{path}/events")).header("Accept", "text/event-stream");
    let stream = checked(req.send().await?).await?.bytes_stream().eventsource();
    let read = stream
        .filter_map(|ev| async move { ev.ok().and_then(|e| serde_json::from_str::<Value>(&e.data).ok()) })
        .collect::<Vec<_>>();
    Ok(tokio::time::timeout(Duration::from_secs(30), read).await?)
}

async fn act(c: &Client, id: &str, verb: &str, json: bool) -> Outcome {
    let job = c.post(&format!("/v1/jobs/{}/{verb}", encode(id)), &json!({})).await?;
    table::print_fields(&job, json, &JOB_FIELDS[..4]);
    Ok(0)
}

pub async fn dead(c: &Client, cmd: Dead, json: bool) -> Outcome {
    match cmd {
        Dead::Ls { kind, limit } => {
            let f = Filter {
                status: Some("dead".into()),
                kind,
                created_after: None,
                created_before: None,
                cursor: None,
                limit,
            };
            list(c, f, json).await
        }
        Dead::Retry { job: Some(id), .. } => act(c, &id, "retry", json).await,
        Dead::Retry { job: None, kind, .. } => retry_all(c, kind, json).await,
    }
}

/// Retries every dead job (of `kind`), with a bar over the count. The ids
/// are read first, so a retried job leaving the list cannot shift a page.
async fn retry_all(c: &Client, kind: Option<String>, json: bool) -> Outcome {
    let mut ids = Vec::new();
    let mut cursor = None;
    loop {
        let pairs = [
            ("status", Some("dead".into())),
            ("kind", kind.clone()),
            ("cursor", cursor),
            ("limit", Some("100".into())),
        ];
        let page = c.get_query("/v1/jobs", &pairs).await?;
        ids.extend(page["items"].as_array().into_iter().flatten().filter_map(|j| j["id"].as_str().map(String::from)));
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_string()),
            None => break,
        }
    }
    let bar = follow::bar("retry".into());
    bar.set_style(follow::style(true));
    bar.set_length(ids.len() as u64);
    let results: Vec<(String, anyhow::Result<Value>)> = futures::stream::iter(ids)
        .map(|id| async move {
            let r = c.post(&format!("/v1/jobs/{id}/retry"), &json!({})).await;
            (id, r)
        })
        .buffer_unordered(8)
        .inspect(|_| bar.inc(1))
        .collect()
        .await;
    bar.finish_and_clear();
    let failed: Vec<Value> = results
        .iter()
        .filter_map(|(id, r)| r.as_ref().err().map(|e| json!({"id": id, "error": e.to_string()})))
        .collect();
    let summary = json!({"retried": results.len() - failed.len(), "failed": failed});
    if json {
        table::print_json(&summary);
    } else {
        println!("retried {} dead job(s)", summary["retried"]);
        for f in &failed {
            eprintln!(
                "not retried: {} ({})",
                f["id"].as_str().unwrap_or_default(),
                f["error"].as_str().unwrap_or_default()
            );
        }
    }
    Ok(if failed.is_empty() { 0 } else { 1 })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_payload_is_inline_json_or_a_file_and_anything_else_is_a_usage_error() {
        assert_eq!(payload(r#"{"a": 1}"#).unwrap(), json!({"a": 1}));
        let f = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(f.path(), r#"{"steps": 3}"#).unwrap();
        assert_eq!(payload(&format!("@{}", f.path().display())).unwrap(), json!({"steps": 3}));
        assert!(payload("@/no/such/file").unwrap_err().0.contains("/no/such/file"));
        assert!(payload("{oops").unwrap_err().0.contains("not JSON"));
    }
}
