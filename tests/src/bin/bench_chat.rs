//! `just bench chat`: the overhead Chorus adds over a direct call to the
//! same local model server. Runs `n` direct streaming calls (time to first
//! token, total), then `n` chat turns through Chorus (submit → first SSE
//! `token` event, submit → final state), alternating so both see the same
//! machine load. Prints one JSON line with p50 and p99 of each.
//!
//! Usage: bench_chat <llm-base-url> <api-url> <api-key> <n>

use std::time::{Duration, Instant};

use futures::StreamExt;
use serde_json::{json, Value};

const SYSTEM: &str = "Answer in one short sentence.";
const QUESTIONS: &[&str] = &[
    "What is the capital of France?",
    "What colour is the sky?",
    "How many legs does a spider have?",
    "What is two plus two?",
    "Name a large ocean.",
];

fn pct(v: &mut [f64], p: f64) -> f64 {
    v.sort_by(f64::total_cmp);
    v[((v.len() as f64 - 1.0) * p).round() as usize]
}

/// Reads an SSE body until `done` says so; returns the time of the first
/// event `first` accepts, and of the end.
async fn read_sse(
    resp: reqwest::Response,
    started: Instant,
    first: impl Fn(&str, &str) -> bool,
    done: impl Fn(&str, &str) -> bool,
) -> anyhow::Result<(f64, f64)> {
    let mut body = resp.bytes_stream();
    let (mut buf, mut ttft) = (String::new(), None);
    while let Some(chunk) = body.next().await {
        buf.push_str(&String::from_utf8_lossy(&chunk?));
        while let Some(end) = buf.find("\n\n") {
            let frame: String = buf.drain(..end + 2).collect();
            let event = frame.lines().find_map(|l| l.strip_prefix("event: ")).unwrap_or("");
            let data = frame.lines().find_map(|l| l.strip_prefix("data: ")).unwrap_or("");
            if ttft.is_none() && first(event, data) {
                ttft = Some(started.elapsed().as_secs_f64() * 1000.0);
            }
            if done(event, data) {
                let total = started.elapsed().as_secs_f64() * 1000.0;
                return Ok((ttft.unwrap_or(total), total));
            }
        }
    }
    anyhow::bail!("stream ended early")
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let [_, llm, api, key, n] = args.as_slice() else { anyhow::bail!("usage: bench_chat <llm> <api> <key> <n>") };
    let n: usize = n.parse()?;
    let http = reqwest::Client::new();
    let (mut d_first, mut d_total, mut c_first, mut c_total) = (vec![], vec![], vec![], vec![]);
    for i in 0..n + 3 {
        // Different text on each side: llama.cpp reuses the KV cache of a
        // repeated prompt, which would favour whichever side went second.
        let q = format!("{} (direct {i})", QUESTIONS[i % QUESTIONS.len()]);
        // Direct: the same request the OpenAI-compatible adapter sends.
        let started = Instant::now();
        let resp = http
            .post(format!("{llm}/chat/completions"))
            .json(&json!({"model": "smollm2", "stream": true, "temperature": 0, "max_tokens": 32,
                "messages": [{"role": "system", "content": SYSTEM}, {"role": "user", "content": q}]}))
            .send()
            .await?;
        let (f, t) = read_sse(
            resp,
            started,
            |_, d| {
                let v = serde_json::from_str::<Value>(d).ok();
                let piece = v.as_ref().and_then(|v| v.pointer("/choices/0/delta/content")).and_then(Value::as_str);
                piece.is_some_and(|c| !c.is_empty())
            },
            |_, d| d.trim() == "[DONE]",
        )
        .await?;
        // Through Chorus: a fresh conversation (so the prompt is the same
        // as the direct one), then submit and follow the job's SSE.
        let conv: Value = http
            .post(format!("{api}/v1/conversations"))
            .bearer_auth(key)
            .json(&json!({"system_prompt": SYSTEM, "settings": {"temperature": 0, "max_tokens": 32}}))
            .send()
            .await?
            .json()
            .await?;
        let conv_id = conv["id"].as_str().unwrap_or_default().to_string();
        let started = Instant::now();
        let posted: Value = http
            .post(format!("{api}/v1/conversations/{conv_id}/messages"))
            .bearer_auth(key)
            .json(&json!({"content": format!("{} (chorus {i})", QUESTIONS[i % QUESTIONS.len()])}))
            .send()
            .await?
            .json()
            .await?;
        let job = posted["job"]["id"].as_str().unwrap_or_default().to_string();
        let events = http.get(format!("{api}/v1/jobs/{job}/events")).bearer_auth(key).send().await?;
        let (cf, ct) = tokio::time::timeout(
            Duration::from_secs(120),
            read_sse(
                events,
                started,
                |e, _| e == "token",
                |e, d| {
                    e == "state" && (d.contains("\"succeeded\"") || d.contains("\"failed\"") || d.contains("\"dead\""))
                },
            ),
        )
        .await??;
        if i >= 3 {
            d_first.push(f);
            d_total.push(t);
            c_first.push(cf);
            c_total.push(ct);
        }
    }
    let stats = |v: &mut Vec<f64>| json!({"p50_ms": pct(v, 0.5), "p99_ms": pct(v, 0.99)});
    println!(
        "{}",
        json!({"n": n, "direct": {"ttft": stats(&mut d_first), "total": stats(&mut d_total)},
            "chorus": {"ttft": stats(&mut c_first), "total": stats(&mut c_total)}})
    );
    Ok(())
}
