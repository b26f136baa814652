//! The API over HTTP: JSON requests with the key, and the API's error body
//! (`{code, message}`) turned into an [`ApiError`].

use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
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

    /// GET `path` with the query `pairs` that have a value.
    pub async fn get_query(&self, path: &str, pairs: &[(&str, Option<String>)]) -> anyhow::Result<Value> {
        self.send(self.request(Method::GET, path).query(pairs)).await
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

/// Characters a path segment keeps as they are (RFC 3986's unreserved).
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_').remove(b'~');

/// `s` percent-encoded for one path segment (an id the user typed).
pub fn encode(s: &str) -> String {
    utf8_percent_encode(s, SEGMENT).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_skip_absent_values_and_segments_encode_the_rest() {
        let target = Target { url: "http://h".into(), api_key: "k".into() };
        let c = Client::new(target);
        let pairs = [("status", Some("dead".to_string())), ("x", None), ("q", Some("a b&c/é".into()))];
        let req = c.request(Method::GET, "/v1/jobs").query(&pairs).build().unwrap();
        assert_eq!(req.url().query(), Some("status=dead&q=a+b%26c%2F%C3%A9"));
        let none: [(&str, Option<String>); 1] = [("a", None)];
        assert_eq!(c.request(Method::GET, "/v1/jobs").query(&none).build().unwrap().url().query(), None);
        assert_eq!(encode("a b/../é-x_y.z~"), "a%20b%2F..%2F%C3%A9-x_y.z~");
    }
}
