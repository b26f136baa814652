//! The API over HTTP: JSON requests with the key, and the API's error body
//! (`{code, message}`) turned into an [`ApiError`].

use reqwest::{Method, RequestBuilder, Response, StatusCode};
use serde_json::Value;

use crate::config::Target;

/// An answer other than 2xx, with the API's stable code.
#[derive(Debug, thiserror::Error)]
#[error("{code} ({}): {message}", status.as_u16())]
pub struct ApiError {
    pub status: StatusCode,
    pub code: String,
    pub message: String,
}

/// A client of one API with one key.
#[derive(Debug, Clone)]
pub struct Client {
    http: reqwest::Client,
    target: Target,
}

impl Client {
    pub fn new(target: Target) -> Self {
        let http = reqwest::Client::builder()
            .user_agent(concat!("chorus-cli/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(std::time::Duration::from_secs(10))
            .build()
            .expect("HTTP client");
        Self { http, target }
    }

    /// A request to `path` (from `/v1/…`) with the key.
    pub fn request(&self, method: Method, path: &str) -> RequestBuilder {
        self.http.request(method, format!("{}{path}", self.target.url)).bearer_auth(&self.target.api_key)
    }

    /// Sends `req` and reads a JSON answer (`null` for an empty one).
    pub async fn send(&self, req: RequestBuilder) -> anyhow::Result<Value> {
        let resp = checked(req.send().await?).await?;
        let bytes = resp.bytes().await?;
        if bytes.is_empty() {
            return Ok(Value::Null);
        }
        Ok(serde_json::from_slice(&bytes)?)
    }

    pub async fn get(&self, path: &str) -> anyhow::Result<Value> {
        self.send(self.request(Method::GET, path)).await
    }

    pub async fn post(&self, path: &str, body: &Value) -> anyhow::Result<Value> {
        self.send(self.request(Method::POST, path).json(body)).await
    }

    pub async fn delete(&self, path: &str) -> anyhow::Result<Value> {
        self.send(self.request(Method::DELETE, path)).await
    }
}

/// `resp` if it is a success, else its error body as an [`ApiError`].
pub async fn checked(resp: Response) -> anyhow::Result<Response> {
    let status = resp.status();
    if status.is_success() {
        return Ok(resp);
    }
    let body: Value = resp.json().await.unwrap_or(Value::Null);
    let text = |k: &str| body.get(k).and_then(Value::as_str).map(String::from);
    Err(ApiError {
        status,
        code: crate::table::printable(&text("code").unwrap_or_else(|| "http_error".into())),
        message: crate::table::printable(
            &text("message").unwrap_or_else(|| status.canonical_reason().unwrap_or("error").into()),
        ),
    }
    .into())
}

/// A query string of the pairs that have a value.
pub fn query(pairs: &[(&str, Option<String>)]) -> String {
    let parts: Vec<String> =
        pairs.iter().filter_map(|(k, v)| v.as_ref().map(|v| format!("{k}={}", encode(v)))).collect();
    if parts.is_empty() {
        String::new()
    } else {
        format!("?{}", parts.join("&"))
    }
}

/// Percent-encodes everything but unreserved characters.
pub fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_skip_absent_values_and_encode_the_rest() {
        assert_eq!(query(&[("a", None)]), "");
        let q = query(&[("status", Some("dead".into())), ("x", None), ("q", Some("a b&c/é".into()))]);
        assert_eq!(q, "?status=dead&q=a%20b%26c%2F%C3%A9");
    }
}
