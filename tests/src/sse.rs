//! The suite's one reader of Server-Sent Events: frames of `id`, `event`
//! and JSON `data`, as Chorus's job streams send them.

use futures::StreamExt;
use serde_json::Value;

/// One SSE frame.
#[derive(Debug, Clone, PartialEq)]
pub struct Frame {
    /// `id:`, 0 when absent.
    pub id: i64,
    /// `event:`, empty when absent.
    pub event: String,
    /// `data:` as JSON, `null` when absent.
    pub data: Value,
}

impl Frame {
    /// Whether this frame reports a final job state.
    pub fn is_final_state(&self) -> bool {
        self.event == "state"
            && self.data["status"].as_str().is_some_and(|s| ["succeeded", "failed", "dead", "cancelled"].contains(&s))
    }
}

fn parse(frame: &str) -> Frame {
    let mut out = Frame { id: 0, event: String::new(), data: Value::Null };
    for line in frame.lines() {
        if let Some(v) = line.strip_prefix("id: ") {
            out.id = v.parse().unwrap();
        } else if let Some(v) = line.strip_prefix("event: ") {
            out.event = v.to_string();
        } else if let Some(v) = line.strip_prefix("data: ") {
            out.data = serde_json::from_str(v).unwrap();
        }
    }
    out
}

/// Reads frames from `resp` until `stop` says so (the stopping frame
/// included), the stream ends, or `within` passes.
pub async fn read_until(
    resp: reqwest::Response,
    within: std::time::Duration,
    stop: impl Fn(&Frame) -> bool,
) -> Vec<Frame> {
    let deadline = tokio::time::Instant::now() + within;
    let mut body = resp.bytes_stream();
    let (mut buf, mut frames) = (String::new(), Vec::new());
    while let Ok(Some(chunk)) = tokio::time::timeout_at(deadline, body.next()).await {
        buf.push_str(&String::from_utf8_lossy(&chunk.unwrap()));
        while let Some(end) = buf.find("\n\n") {
            let raw: String = buf.drain(..end + 2).collect();
            let frame = parse(&raw);
            let last = stop(&frame);
            frames.push(frame);
            if last {
                return frames;
            }
        }
    }
    frames
}

/// Reads every frame until the stream ends.
pub async fn read_all(resp: reqwest::Response) -> Vec<Frame> {
    read_until(resp, std::time::Duration::from_secs(3600), |_| false).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_frame_parses_its_fields() {
        let f = parse("id: 7\nevent: state\ndata: {\"status\":\"succeeded\"}\n\n");
        assert_eq!((f.id, f.event.as_str()), (7, "state"));
        assert!(f.is_final_state());
        assert!(!parse("event: progress\ndata: {}\n\n").is_final_state());
    }
}
