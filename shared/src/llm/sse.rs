//! Server-Sent Events bodies (`eventsource-stream`), as all three provider
//! formats stream: each event's `data` is JSON, and OpenAI ends with
//! `[DONE]`.

use eventsource_stream::Eventsource;
use futures::StreamExt;

use super::ProviderError;

/// Calls `on_event(event_name, data)` for each event of `response`'s body
/// until it ends, `on_event` returns `false`, or `idle` passes with no data.
pub async fn each_event(
    response: reqwest::Response,
    idle: std::time::Duration,
    mut on_event: impl FnMut(&str, &str) -> Result<bool, ProviderError>,
) -> Result<(), ProviderError> {
    let mut events = response.bytes_stream().eventsource();
    loop {
        let next = tokio::time::timeout(idle, events.next()).await.map_err(|_| ProviderError::Timeout)?;
        match next {
            None => return Ok(()),
            Some(Err(e)) => return Err(ProviderError::Transport(e.to_string())),
            Some(Ok(ev)) => {
                if !on_event(&ev.event, &ev.data)? {
                    return Ok(());
                }
            }
        }
    }
}

/// Parses one event's JSON data.
pub fn json(data: &str) -> Result<serde_json::Value, ProviderError> {
    serde_json::from_str(data)
        .map_err(|e| ProviderError::Decode(format!("{e}: {}", data.chars().take(200).collect::<String>())))
}
