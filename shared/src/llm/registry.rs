//! The configured providers and model aliases, with the resilience around
//! every call: retries with exponential backoff and jitter (honouring
//! `Retry-After`) on 429, 5xx, timeouts and transport errors; a circuit
//! breaker per provider; a fallback chain per alias; and a Redis cache of
//! deterministic (temperature 0) answers keyed by a hash of the request.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use redis::AsyncCommands;
use sha2::{Digest, Sha256};

use super::{
    anthropic::Anthropic, gemini::Gemini, openai::OpenAi, ChatMessage, ChatRequest, ChatResponse, Endpoint, OnToken,
    Provider, ProviderError, Usage,
};
use crate::config::{LlmSettings, ModelSettings};

/// What one chat call did, for the message and the usage table.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub response: ChatResponse,
    /// The alias that answered (after fallbacks) and its provider and model.
    pub alias: String,
    pub provider: String,
    pub model: String,
    /// Usage as reported, or estimated when the provider gave none.
    pub usage: Usage,
    pub usage_estimated: bool,
    pub cost_usd: f64,
    pub latency: Duration,
    pub time_to_first_token: Option<Duration>,
    pub cache_hit: bool,
    /// Aliases that failed before this one answered, with their error codes.
    pub failed_over: Vec<(String, String)>,
}

impl Outcome {
    /// The outcome of `response` from `provider`: usage as reported or
    /// estimated, and its cost (nothing for a cache hit).
    fn of(
        provider: &str,
        model: &ModelSettings,
        req: &ChatRequest,
        response: ChatResponse,
        latency: Duration,
        time_to_first_token: Option<Duration>,
        cache_hit: bool,
    ) -> Self {
        let usage = response
            .usage
            .unwrap_or_else(|| super::tokens::Counter::for_model(model).usage(&req.messages, &response.content));
        Self {
            alias: String::new(),
            provider: provider.into(),
            model: model.name.clone(),
            usage,
            usage_estimated: response.usage.is_none(),
            cost_usd: if cache_hit { 0.0 } else { Registry::cost(model, usage) },
            latency,
            time_to_first_token,
            cache_hit,
            failed_over: Vec::new(),
            response,
        }
    }
}

/// Options of one call.
#[derive(Debug, Clone, Default)]
pub struct CallOptions {
    pub temperature: Option<f32>,
    pub max_tokens: Option<u32>,
    /// Tools the model may call.
    pub tools: Vec<super::ToolDef>,
    pub tool_choice: Option<super::ToolChoice>,
}

#[derive(Debug, Default)]
struct Breaker {
    failures: u32,
    open_until: Option<Instant>,
}

/// Circuit state of a provider, as exported in metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Circuit {
    Closed,
    Open,
    HalfOpen,
}

/// The resolver of tenants' providers (the SSRF guard after DNS).
pub type Pin = Arc<dyn reqwest::dns::Resolve>;

/// The process's providers and breakers.
#[derive(Debug)]
pub struct Registry {
    settings: LlmSettings,
    providers: HashMap<String, Arc<dyn Provider>>,
    breakers: Mutex<HashMap<String, Breaker>>,
}

fn build(name: &str, p: &crate::config::ProviderSettings, pin: Option<&Pin>) -> Result<Arc<dyn Provider>, String> {
    let timeout = Duration::from_millis(p.timeout_ms);
    let resolver = if p.pinned { Some(pin.ok_or("a tenant's provider needs the guard")?.clone()) } else { None };
    let endpoint = Endpoint::new(name, &p.base_url, &p.api_key, timeout, resolver);
    Ok(match p.kind.as_str() {
        "openai" => Arc::new(OpenAi::new(endpoint)),
        "anthropic" => Arc::new(Anthropic::new(endpoint)),
        "gemini" => Arc::new(Gemini::new(endpoint)),
        other => return Err(format!("provider {name}: unknown kind {other:?} (openai, anthropic or gemini)")),
    })
}

impl Registry {
    /// Builds every configured provider; refuses unknown kinds and aliases
    /// that name a missing provider.
    pub fn new(settings: &LlmSettings) -> Result<Self, String> {
        Self::pinned(settings, None)
    }

    /// As [`Registry::new`]; providers marked `pinned` (a tenant's own)
    /// resolve their host through `pin` on every connection.
    pub fn pinned(settings: &LlmSettings, pin: Option<&Pin>) -> Result<Self, String> {
        let mut providers = HashMap::new();
        for (name, p) in &settings.providers {
            providers.insert(name.clone(), build(name, p, pin)?);
        }
        for (alias, m) in &settings.models {
            if !providers.contains_key(&m.provider) {
                return Err(format!("model {alias}: unknown provider {:?}", m.provider));
            }
        }
        Ok(Self { settings: settings.clone(), providers, breakers: Mutex::new(HashMap::new()) })
    }

    pub fn settings(&self) -> &LlmSettings {
        &self.settings
    }

    /// The configured alias, if any.
    pub fn model(&self, alias: &str) -> Option<&ModelSettings> {
        self.settings.models.get(alias)
    }

    /// The circuit of `provider` now.
    pub fn circuit(&self, provider: &str) -> Circuit {
        let breakers = self.breakers.lock().unwrap();
        match breakers.get(provider).and_then(|b| b.open_until) {
            None => Circuit::Closed,
            Some(until) if Instant::now() < until => Circuit::Open,
            Some(_) => Circuit::HalfOpen,
        }
    }

    fn allow(&self, provider: &str) -> bool {
        self.circuit(provider) != Circuit::Open
    }

    fn record(&self, provider: &str, ok: bool) {
        let mut breakers = self.breakers.lock().unwrap();
        let b = breakers.entry(provider.to_string()).or_default();
        if ok {
            *b = Breaker::default();
        } else {
            b.failures += 1;
            let half_open = b.open_until.is_some_and(|u| Instant::now() >= u);
            if half_open || b.failures >= self.settings.breaker_failures.max(1) {
                b.open_until = Some(Instant::now() + Duration::from_millis(self.settings.breaker_cooldown_ms));
            }
        }
    }

    /// The wait before retry `n` (1-based): `Retry-After` if given, else
    /// exponential from `retry_base_ms` with ±25 % jitter, capped.
    pub fn backoff(&self, n: u32, err: &ProviderError) -> Duration {
        if let ProviderError::RateLimited { retry_after: Some(d) } = err {
            return (*d).min(Duration::from_millis(self.settings.retry_max_ms));
        }
        let base = self.settings.retry_base_ms.saturating_mul(1 << (n - 1).min(16)).min(self.settings.retry_max_ms);
        let jitter = 0.75 + rand::random::<f64>() * 0.5;
        Duration::from_millis((base as f64 * jitter) as u64)
    }

    /// Cost in USD of `usage` on `model`.
    pub fn cost(model: &ModelSettings, usage: Usage) -> f64 {
        (usage.prompt_tokens as f64 * model.input_usd_per_mtok
            + usage.completion_tokens as f64 * model.output_usd_per_mtok)
            / 1_000_000.0
    }

    /// Runs `messages` on `alias`, falling back along its chain. Streams
    /// tokens to `on_token`; once a token went out, a failure is final (a
    /// retry would repeat text the client already has).
    pub async fn chat(
        &self,
        redis: Option<(&redis::aio::ConnectionManager, &str)>,
        alias: &str,
        messages: &[ChatMessage],
        options: &CallOptions,
        on_token: OnToken<'_>,
    ) -> Result<Outcome, (ProviderError, Vec<(String, String)>)> {
        let mut chain = vec![alias.to_string()];
        if let Some(m) = self.model(alias) {
            chain.extend(m.fallbacks.iter().cloned());
        }
        let mut failed = Vec::new();
        let mut last = ProviderError::Client { status: 404, message: format!("unknown model {alias:?}") };
        for alias in chain {
            let Some(model) = self.model(&alias).cloned() else { continue };
            let provider = self.providers[&model.provider].clone();
            let req = ChatRequest {
                model: model.name.clone(),
                messages: messages.to_vec(),
                temperature: options.temperature,
                max_tokens: options.max_tokens,
                tools: options.tools.clone(),
                tool_choice: options.tool_choice.clone(),
            };
            match self.call_one(redis, provider.as_ref(), &model, &req, on_token).await {
                Ok(mut outcome) => {
                    outcome.alias = alias;
                    outcome.failed_over = failed;
                    return Ok(outcome);
                }
                Err((e, streamed)) => {
                    failed.push((alias.clone(), e.code().to_string()));
                    last = e;
                    if streamed {
                        break;
                    }
                }
            }
        }
        Err((last, failed))
    }

    async fn call_one(
        &self,
        redis: Option<(&redis::aio::ConnectionManager, &str)>,
        provider: &dyn Provider,
        model: &ModelSettings,
        req: &ChatRequest,
        on_token: OnToken<'_>,
    ) -> Result<Outcome, (ProviderError, bool)> {
        let started = Instant::now();
        let cache_key = (req.temperature == Some(0.0) && self.settings.cache_ttl_secs > 0)
            .then(|| redis.map(|(_, ns)| cache_key(ns, &provider.endpoint().identity(), req)))
            .flatten();
        if let (Some(key), Some((conn, _))) = (&cache_key, redis) {
            let mut conn = conn.clone();
            if let Ok(Some(hit)) = conn.get::<_, Option<String>>(key).await {
                if let Ok(response) = serde_json::from_str::<ChatResponse>(&hit) {
                    on_token(&response.content);
                    let elapsed = started.elapsed();
                    return Ok(Outcome::of(provider.name(), model, req, response, elapsed, Some(elapsed), true));
                }
            }
        }
        let mut attempt = 0;
        let mut last: Option<ProviderError> = None;
        loop {
            attempt += 1;
            if !self.allow(provider.name()) {
                // Opened by this call's own failures: report what failed.
                return Err((last.unwrap_or_else(|| ProviderError::CircuitOpen(provider.name().into())), false));
            }
            let call_started = Instant::now();
            let mut first: Option<Duration> = None;
            let mut streamed = false;
            let result = {
                let mut tap = |piece: &str| {
                    first.get_or_insert_with(|| call_started.elapsed());
                    streamed = true;
                    on_token(piece);
                };
                provider.stream(req, &mut tap).await
            };
            match result {
                Ok(response) => {
                    self.record(provider.name(), true);
                    if let (Some(key), Some((conn, _))) = (&cache_key, redis) {
                        let mut conn = conn.clone();
                        if let Ok(body) = serde_json::to_string(&response) {
                            let _: Result<(), _> = conn.set_ex(key, body, self.settings.cache_ttl_secs).await;
                        }
                    }
                    let latency = call_started.elapsed();
                    return Ok(Outcome::of(provider.name(), model, req, response, latency, first, false));
                }
                Err(e) => {
                    if e.retryable() {
                        self.record(provider.name(), false);
                    }
                    if streamed || !e.retryable() || attempt > self.settings.retries {
                        return Err((e, streamed));
                    }
                    tokio::time::sleep(self.backoff(attempt, &e)).await;
                    last = Some(e);
                }
            }
        }
    }
}

/// The cache key of a request: the provider's identity (base URL and key,
/// never its tenant-chosen name), model, messages and options, serialised
/// in one fixed order and hashed.
fn cache_key(namespace: &str, identity: &str, req: &ChatRequest) -> String {
    let normal = serde_json::json!([
        identity,
        req.model,
        req.messages,
        req.temperature,
        req.max_tokens,
        req.tools,
        req.tool_choice
    ]);
    format!("{namespace}:llm-cache:{}", hex::encode(Sha256::digest(normal.to_string().as_bytes())))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::llm::Endpoint;

    #[test]
    fn providers_of_one_name_with_other_keys_or_urls_never_share_cached_answers() {
        let t = Duration::from_secs(5);
        let req = ChatRequest {
            model: "m".into(),
            messages: Vec::new(),
            temperature: Some(0.0),
            max_tokens: None,
            tools: Vec::new(),
            tool_choice: None,
        };
        let key = |e: Endpoint| cache_key("ns", &e.identity(), &req);
        let a = key(Endpoint::new("openai", "https://a.example/v1", "key-of-tenant-a", t, None));
        let b = key(Endpoint::new("openai", "https://a.example/v1", "key-of-tenant-b", t, None));
        let c = key(Endpoint::new("openai", "https://c.example/v1", "key-of-tenant-a", t, None));
        assert!(a != b && a != c && b != c);
        assert_eq!(a, key(Endpoint::new("renamed", "https://a.example/v1", "key-of-tenant-a", t, None)));
    }
}
