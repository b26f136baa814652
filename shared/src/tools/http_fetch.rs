//! `http_fetch`: one GET through the webhooks' SSRF guard and allowlist
//! (the address is checked after DNS and the request goes to the checked
//! addresses only), no redirects, a size cap and a time limit. HTML comes
//! back as its text.

use std::time::Duration;

use futures::StreamExt;
use serde_json::{json, Value};

use super::{spec, Caller, Tool, ToolError, ToolSpec};
use crate::domain::Role;
use crate::Ctx;

pub struct HttpFetch(ToolSpec);

impl HttpFetch {
    pub fn new() -> Self {
        let parameters = json!({
            "type": "object",
            "properties": { "url": { "type": "string", "minLength": 8, "maxLength": 2048,
                "description": "an https URL on the public internet" } },
            "required": ["url"],
            "additionalProperties": false
        });
        let description = "Fetches a web page (GET) and returns its text; HTML is reduced to its readable text.";
        Self(spec("http_fetch", description, parameters, Some(300), &[Role::User, Role::Admin]))
    }
}

impl Default for HttpFetch {
    fn default() -> Self {
        Self::new()
    }
}

#[async_trait::async_trait]
impl Tool for HttpFetch {
    fn spec(&self) -> &ToolSpec {
        &self.0
    }

    async fn call(&self, ctx: &Ctx, _caller: Caller, args: Value) -> Result<Value, ToolError> {
        let raw = args["url"].as_str().unwrap_or_default();
        let (url, addrs) = crate::webhooks::guard::check(raw, &ctx.settings.tools.guard())
            .await
            .map_err(|why| ToolError::new("url_not_allowed", format!("{raw} is not allowed: {why}")))?;
        let limits = &ctx.settings.tools;
        let host = url.host_str().unwrap_or_default().to_string();
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .timeout(Duration::from_millis(limits.http_fetch_timeout_ms))
            .resolve_to_addrs(&host, &addrs)
            .user_agent("Chorus-Tools/1")
            .build()
            .map_err(|e| ToolError::new("fetch_failed", format!("client: {e}")))?;
        let response = client.get(url.clone()).send().await.map_err(|e| {
            let code = if e.is_timeout() { "fetch_timeout" } else { "fetch_failed" };
            ToolError::new(code, format!("GET {url}: {e}"))
        })?;
        let status = response.status().as_u16();
        let content_type =
            response.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
        let mut body = Vec::new();
        let mut truncated = false;
        let mut stream = response.bytes_stream();
        while let Some(piece) = stream.next().await {
            let piece = piece.map_err(|e| {
                let code = if e.is_timeout() { "fetch_timeout" } else { "fetch_failed" };
                ToolError::new(code, format!("reading {url}: {e}"))
            })?;
            let room = limits.http_fetch_max_bytes - body.len();
            if piece.len() > room {
                body.extend_from_slice(&piece[..room]);
                truncated = true;
                break;
            }
            body.extend_from_slice(&piece);
        }
        let text = String::from_utf8_lossy(&body);
        let text =
            if content_type.contains("html") { crate::knowledge::extract::html_text(&text) } else { text.into() };
        Ok(
            json!({ "url": url.as_str(), "status": status, "content_type": content_type, "text": text, "truncated": truncated }),
        )
    }
}
