//! Follows a job to its end over its event stream (`/v1/jobs/{id}/events`,
//! SSE): a live progress bar with the stage when stderr is a terminal, and
//! a chat job's tokens on stdout as they come.

use std::io::Write;
use std::time::Duration;

use eventsource_stream::Eventsource;
use futures::StreamExt;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use reqwest::Method;
use serde_json::Value;

use crate::client::{checked, Client};

/// The statuses a job does not leave.
pub const TERMINAL: [&str; 4] = ["succeeded", "failed", "cancelled", "dead"];

/// The process's exit code for a job that ended in `status`: 0 succeeded,
/// 1 failed or dead, 3 cancelled.
pub fn exit_code(status: &str) -> u8 {
    match status {
        "succeeded" => 0,
        "cancelled" => 3,
        _ => 1,
    }
}

/// A job's status.
pub fn status(job: &Value) -> &str {
    job["status"].as_str().unwrap_or("unknown")
}

/// What to show while following.
#[derive(Debug, Clone, Copy)]
pub struct Show {
    /// A progress bar on stderr (drawn only to a terminal).
    pub bar: bool,
    /// Streamed `token` events printed on stdout.
    pub tokens: bool,
}

/// The bar's look with a known total, and without one.
pub fn style(total: bool) -> ProgressStyle {
    let template = if total { "{prefix} [{bar:32}] {pos}/{len} {wide_msg}" } else { "{prefix} {spinner} {wide_msg}" };
    ProgressStyle::with_template(template).expect("template").progress_chars("#>-")
}

/// A bar drawn to stderr, which stays silent when stderr is not a terminal.
pub fn bar(prefix: String) -> ProgressBar {
    let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
    bar.set_style(style(false));
    bar.set_prefix(prefix);
    bar
}

/// Shows a `progress` event's `{stage, done, total, message}` on `bar`.
pub fn show_progress(bar: &ProgressBar, p: &Value) {
    if let Some(total) = p["total"].as_u64() {
        if bar.length() != Some(total) {
            bar.set_style(style(true));
            bar.set_length(total);
        }
    }
    if let Some(done) = p["done"].as_u64() {
        bar.set_position(done);
    }
    let words: Vec<&str> = [&p["stage"], &p["message"]].into_iter().filter_map(Value::as_str).collect();
    if !words.is_empty() {
        bar.set_message(words.join(": "));
    }
}

/// Follows job `id` until it ends and returns it, and whether tokens were
/// printed. A stream that ends before the job does (the API restarted) is
/// resumed after the last event.
pub async fn follow(client: &Client, id: &str, show: Show) -> anyhow::Result<(Value, bool)> {
    let bar = if show.bar { bar(short(id)) } else { ProgressBar::hidden() };
    bar.enable_steady_tick(Duration::from_millis(120));
    let mut last: Option<String> = None;
    let mut printed = false;
    loop {
        let mut req =
            client.request(Method::GET, &format!("/v1/jobs/{id}/events")).header("Accept", "text/event-stream");
        if let Some(l) = &last {
            req = req.header("Last-Event-ID", l);
        }
        let mut events = checked(req.send().await?).await?.bytes_stream().eventsource();
        while let Some(ev) = events.next().await {
            let Ok(ev) = ev else { break };
            if !ev.id.is_empty() {
                last = Some(ev.id.clone());
            }
            let Ok(data) = serde_json::from_str::<Value>(&ev.data) else { continue };
            match ev.event.as_str() {
                "token" if show.tokens => {
                    if let Some(text) = data["data"]["text"].as_str() {
                        let mut out = std::io::stdout().lock();
                        let text = crate::table::printable(text);
                        let _ = out.write_all(text.as_bytes()).and_then(|_| out.flush());
                        printed = true;
                    }
                }
                "progress" => show_progress(&bar, &data["data"]),
                "state" => {
                    if let Some(s) = data["status"].as_str() {
                        if bar.length().is_none() {
                            bar.set_message(s.to_string());
                        }
                    }
                }
                _ => {}
            }
        }
        let job = client.get(&format!("/v1/jobs/{id}")).await?;
        if TERMINAL.contains(&status(&job)) {
            bar.finish_and_clear();
            if printed {
                println!();
            }
            return Ok((job, printed));
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// Polls job `id` every `every` until it ends, showing its progress on
/// `bar`, and returns it (for many jobs at once, where streams would count
/// against the tenant's open-stream limit).
pub async fn poll(client: &Client, id: &str, bar: &ProgressBar, every: Duration) -> anyhow::Result<Value> {
    loop {
        let job = client.get(&format!("/v1/jobs/{id}")).await?;
        if TERMINAL.contains(&status(&job)) {
            return Ok(job);
        }
        if let Some(p) = job.get("progress").filter(|p| !p.is_null()) {
            show_progress(bar, p);
        }
        tokio::time::sleep(every).await;
    }
}

/// The first eight characters of an id, for prefixes.
pub fn short(id: &str) -> String {
    id.chars().take(8).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes_follow_the_outcome() {
        assert_eq!(["succeeded", "failed", "dead", "cancelled"].map(exit_code), [0, 1, 1, 3]);
    }
}
