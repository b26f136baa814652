//! Handler of `chat` ([`crate::kinds::chat`]): answers one user message in
//! its mode (`crate::llm::modes`), in named stages:
//!
//! 1. [`load`]: the conversation, its history (through forks), the model,
//!    the settings and the agent;
//! 2. [`retrieve`]: sources for RAG, through the search service;
//! 3. [`fit_context`]: the history fitted into the model's context
//!    (`crate::llm::context`), a new summary stored;
//! 4. [`call`]: the mode or the agent's tool loop, its tokens streamed to
//!    the job's SSE followers as `token` events ([`Live`]);
//! 5. [`store`]: the answer(s) and one usage row per model call, in one
//!    transaction;
//! 6. [`report`]: the calls' metrics and circuit gauges.
//!
//! Every read and write goes through [`crate::services::chat`].
//!
//! Idempotent: the assistant message is unique per (user message, model),
//! so a second run finds it and returns it instead of answering again.

use std::sync::Arc;

use chrono::Utc;
use serde_json::{json, Value};
use uuid::Uuid;

use super::{JobContext, JobError};
use crate::config::ModelSettings;
use crate::db::models::NewLlmUsage;
use crate::db::models::{Conversation, Message};
use crate::domain::{JobEventView, Progress};
use crate::kinds::chat::{ChatTurn, GenerationSettings};
use crate::llm::context::{self, Summary};
use crate::llm::registry::{CallOptions, Circuit, Outcome, Registry};
use crate::llm::{modes, ChatMessage, Role};
use crate::services::agents::Agent;
use crate::services::chat::{self as store_of, UsageOwner};
use crate::services::conversations;
use crate::services::search::{self, Mode, SearchRequest};
use crate::services::tools::agent;
use crate::tools::Caller;

/// Tokens kept free for the answer when the request names no `max_tokens`.
const ANSWER_RESERVE: u32 = 256;

pub async fn run(ctx: &JobContext, p: ChatTurn) -> Result<Value, JobError> {
    let done = store_of::replies_to(&ctx.ctx, p.message_id).await?;
    if !done.is_empty() {
        let replayed = modes::ModeResult {
            text: String::new(),
            final_alias: String::new(),
            steps: Vec::new(),
            route_reason: None,
        };
        return Ok(result_of(&done, &replayed));
    }
    let turn = load(ctx, &p).await?;
    let (system, citations) = retrieve(ctx, &p, &turn).await?;
    let (messages, context_report) = fit_context(ctx, &p, &turn, system).await?;
    let estimate = estimate_usd(&p, &turn, &messages);
    crate::services::governance::check_cost_caps(&ctx.ctx, ctx.tenant_id, estimate).await?;
    ctx.report(Progress { stage: Some("generating".into()), done: 0, total: None, message: None }).await;
    let live = Live::start(ctx);
    let called = call(ctx, &p, &turn, &messages, live.sink()).await;
    live.finish().await;
    let (result, tool_calls) = match called {
        Ok(r) => r,
        Err(e) => {
            let (provider, model) = (&turn.model.provider, &turn.model.name);
            let label = ctx.ctx.metrics.named("provider", provider);
            ctx.ctx.metrics.llm_errors.with_label_values(&[&label, e.code()]).inc();
            store_of::record_failure(&ctx.ctx, owner(ctx), p.message_id, provider, model, e.code()).await;
            let message = e.to_string();
            return Err(if e.retryable() {
                JobError::retryable(e.code(), message)
            } else {
                JobError::permanent(e.code(), message)
            });
        }
    };
    report(ctx, &turn.llm, &result);
    let replies = store(ctx, &p, &result, citations, context_report, tool_calls).await?;
    Ok(result_of(&replies, &result))
}

/// What the turn may cost at most, at the first model's prices: the
/// prompt as counted, and the whole answer budget, once per model of the
/// mode.
fn estimate_usd(p: &ChatTurn, t: &Loaded, messages: &[ChatMessage]) -> f64 {
    let prompt = f64::from(crate::llm::tokens::Counter::for_model(&t.model).prompt(messages));
    let answer = f64::from(t.settings.max_tokens.unwrap_or(ANSWER_RESERVE));
    let one = (prompt * t.model.input_usd_per_mtok + answer * t.model.output_usd_per_mtok) / 1e6;
    one * p.models.len().max(1) as f64
}

fn owner(ctx: &JobContext) -> UsageOwner {
    UsageOwner { tenant_id: ctx.tenant_id, job_id: ctx.job_id }
}

/// What a turn works from.
struct Loaded {
    conv: Conversation,
    history: Vec<Message>,
    question: Message,
    llm: Arc<Registry>,
    model: ModelSettings,
    settings: GenerationSettings,
    agent: Option<Agent>,
}

/// Stage 1: the conversation, its history, the question, the model, the
/// settings (the message's over the conversation's) and the agent.
async fn load(ctx: &JobContext, p: &ChatTurn) -> Result<Loaded, JobError> {
    let app = &ctx.ctx;
    let turn = store_of::load_turn(app, ctx.tenant_id, p.conversation_id).await?;
    let llm = turn.llm.map_err(|e| JobError::permanent("llm_settings_unusable", e))?;
    let Some(question) = turn.history.iter().find(|msg| msg.id == p.message_id).cloned() else {
        return Err(JobError::permanent("message_not_found", "the user message is gone"));
    };
    let model = llm
        .model(&p.model)
        .cloned()
        .ok_or_else(|| JobError::permanent("unknown_model", format!("unknown model {:?}", p.model)))?;
    let settings = p.settings.clone().unwrap_or_default().or(&conversations::settings_of(&turn.conversation));
    let agent = match &p.agent {
        Some(name) => Some(crate::services::agents::by_name(app, ctx.tenant_id, name).await?),
        None => None,
    };
    Ok(Loaded { conv: turn.conversation, history: turn.history, question, llm, model, settings, agent })
}

/// Stage 2: the system prompt (the agent's, then the conversation's), with
/// the sources found when RAG is on, and their citations.
async fn retrieve(ctx: &JobContext, p: &ChatTurn, t: &Loaded) -> Result<(String, Vec<Value>), JobError> {
    let mut system = match &t.agent {
        Some(a) => format!("{}\n\n{}", a.system_prompt, t.conv.system_prompt).trim().to_string(),
        None => t.conv.system_prompt.clone(),
    };
    let Some(rag) = p.rag.as_ref().filter(|r| r.enabled) else { return Ok((system, Vec::new())) };
    ctx.report(Progress { stage: Some("retrieving".into()), done: 0, total: None, message: None }).await;
    let req = SearchRequest {
        query: t.question.content.clone(),
        mode: Mode::Hybrid,
        filters: rag.filters.clone(),
        top_k: Some(rag.top_k.unwrap_or(5)),
        rerank: false,
    };
    let found = search::find(&ctx.ctx, ctx.tenant_id, &req).await?;
    let citations = found.results.iter().map(conversations::citation).collect();
    if !found.results.is_empty() {
        system = format!("{system}\n\n{}", rag_context(&found.results)).trim().to_string();
    }
    Ok((system, citations))
}

fn rag_context(hits: &[search::SearchHit]) -> String {
    let mut out = String::from(
        "Answer from these sources when they help, citing them as [1], [2], …; say so when they do not contain the answer.\n",
    );
    for (i, h) in hits.iter().enumerate() {
        out.push_str(&format!("\n[{}] {} (page {}): {}\n", i + 1, h.title, h.page, h.text));
    }
    out
}

/// Stage 3: the history up to the question, fitted into the model's
/// context by the turn's strategy; a summary it extended is stored.
async fn fit_context(
    ctx: &JobContext,
    p: &ChatTurn,
    t: &Loaded,
    system: String,
) -> Result<(Vec<ChatMessage>, Value), JobError> {
    let app = &ctx.ctx;
    let turns: Vec<(Uuid, ChatMessage)> = t
        .history
        .iter()
        .filter(|msg| msg.id <= t.question.id)
        .filter_map(|msg| Some((msg.id, as_chat_message(msg)?)))
        .collect();
    let budget = t.model.context_tokens.saturating_sub(t.settings.max_tokens.unwrap_or(ANSWER_RESERVE));
    let conn_manager = app.broker.conn();
    let redis = Some((&conn_manager, app.broker.namespace()));
    let stored = t.conv.summary.clone().zip(t.conv.summary_through).map(|(text, through)| Summary { text, through });
    let summariser =
        Some(t.llm.settings().summary_model.clone()).filter(|m| !m.is_empty()).unwrap_or_else(|| p.model.clone());
    let system = (!system.is_empty()).then(|| ChatMessage::new(Role::System, system));
    let strategy = t.settings.context_strategy.unwrap_or_default();
    let counter = crate::llm::tokens::Counter::for_model(&t.model);
    let fitted = context::fit(&t.llm, redis, strategy, system, turns, budget, stored, &summariser, &counter)
        .await
        .map_err(|e| JobError::retryable(e.code(), format!("summarising the history: {e}")))?;
    if let Some(new) = &fitted.new_summary {
        store_of::save_summary(app, t.conv.id, new).await?;
    }
    Ok((fitted.messages, fitted.report))
}

/// Stage 4: the mode's calls, or the agent's tool loop, streaming through
/// `sink`. Returns the result and the agent's tool-call transcript.
async fn call(
    ctx: &JobContext,
    p: &ChatTurn,
    t: &Loaded,
    messages: &[ChatMessage],
    mut sink: Forward,
) -> Result<(modes::ModeResult, Vec<Value>), crate::llm::ProviderError> {
    let app = &ctx.ctx;
    let conn_manager = app.broker.conn();
    let redis = Some((&conn_manager, app.broker.namespace()));
    let options = CallOptions {
        temperature: t.settings.temperature,
        max_tokens: t.settings.max_tokens,
        tools: p.tools.clone(),
        tool_choice: p.tool_choice.clone(),
    };
    if let Some(agent) = &t.agent {
        let caller = Caller { tenant_id: ctx.tenant_id, role: p.role.unwrap_or(crate::domain::Role::User) };
        let run = agent::Run { ctx: app, llm: &t.llm, redis, caller, job_id: ctx.job_id };
        let r = run.run(agent, messages.to_vec(), &options, &mut sink).await?;
        return Ok((r.answer, r.tool_calls));
    }
    let judge = p.judge.clone().filter(|j| !j.is_empty()).unwrap_or_else(|| {
        Some(t.llm.settings().judge_model.clone()).filter(|j| !j.is_empty()).unwrap_or_else(|| p.model.clone())
    });
    let models = if p.models.is_empty() { vec![p.model.clone()] } else { p.models.clone() };
    let facts = if p.mode == modes::Mode::Router {
        store_of::route_facts(app, ctx.tenant_id, &t.llm, &models).await
    } else {
        Default::default()
    };
    let rounds = p.rounds.unwrap_or(2);
    let r = modes::run(&t.llm, redis, p.mode, &models, &judge, rounds, messages, &options, &facts, &mut sink).await?;
    Ok((r, Vec::new()))
}

/// What the job streams while it runs.
enum Update {
    Token(String, String),
    Steps(usize, usize),
    Note(String),
}

/// The sink a call streams into: it forwards to [`Live`]'s publisher.
struct Forward(tokio::sync::mpsc::UnboundedSender<Update>);

impl modes::Sink for Forward {
    fn token(&mut self, step: &str, text: &str) {
        let _ = self.0.send(Update::Token(step.into(), text.into()));
    }
    fn progress(&mut self, done: usize, total: usize) {
        let _ = self.0.send(Update::Steps(done, total));
    }
    fn note(&mut self, message: &str) {
        let _ = self.0.send(Update::Note(message.into()));
    }
}

/// Publishes a call's tokens as `token` events on the job's channel, and
/// its steps and tool notes as progress, in order, off the call's path.
struct Live {
    tx: tokio::sync::mpsc::UnboundedSender<Update>,
    publisher: tokio::task::JoinHandle<()>,
}

impl Live {
    fn start(ctx: &JobContext) -> Self {
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Update>();
        let (broker, reporter) = (ctx.ctx.broker.clone(), ctx.clone());
        let publisher = tokio::spawn(async move {
            let mut last_steps = (0, 0);
            while let Some(update) = rx.recv().await {
                match update {
                    Update::Token(step, text) => {
                        let ev = JobEventView {
                            id: 0,
                            job_id: reporter.job_id,
                            kind: "token".into(),
                            status: None,
                            data: json!({ "text": text, "step": step }),
                            created_at: Utc::now(),
                        };
                        broker.publish_event(&ev).await;
                    }
                    Update::Steps(done, total) => {
                        let stage = Some("generating".to_string());
                        let progress = Progress { stage, done: done as u64, total: Some(total as u64), message: None };
                        reporter.report(progress).await;
                        last_steps = (done, total);
                    }
                    Update::Note(message) => {
                        let (done, total) = last_steps;
                        let stage = Some("calling_tools".to_string());
                        let progress =
                            Progress { stage, done: done as u64, total: Some(total as u64), message: Some(message) };
                        reporter.report(progress).await;
                    }
                }
            }
        });
        Self { tx, publisher }
    }

    fn sink(&self) -> Forward {
        Forward(self.tx.clone())
    }

    /// Waits until everything streamed so far is published.
    async fn finish(self) {
        drop(self.tx);
        let _ = self.publisher.await;
    }
}

/// Stage 6: each call's tokens, cost, latency and cache use, and every
/// provider's circuit state.
fn report(ctx: &JobContext, llm: &Registry, r: &modes::ModeResult) {
    let mt = &ctx.ctx.metrics;
    for o in r.steps.iter().map(|s| &s.outcome) {
        let (provider, model) = (mt.named("provider", &o.provider), mt.named("model", &o.model));
        let labels = |d: &'static str| [provider.clone(), model.clone(), d.to_string()];
        mt.llm_tokens.with_label_values(&labels("prompt")).inc_by(o.usage.prompt_tokens as u64);
        mt.llm_tokens.with_label_values(&labels("completion")).inc_by(o.usage.completion_tokens as u64);
        mt.llm_cost_usd.inc_by(o.cost_usd);
        mt.llm_request_seconds.with_label_values(&[&provider, &model]).observe(o.latency.as_secs_f64());
        if let Some(t) = o.time_to_first_token {
            mt.llm_ttft_seconds.with_label_values(&[&provider, &model]).observe(t.as_secs_f64());
        }
        mt.llm_cache.with_label_values(&[if o.cache_hit { "hit" } else { "miss" }]).inc();
        for (provider, _) in llm.settings().providers.iter() {
            let state = match llm.circuit(provider) {
                Circuit::Closed => 0,
                Circuit::Open => 1,
                Circuit::HalfOpen => 2,
            };
            mt.llm_circuit.with_label_values(&[&mt.named("provider", provider)]).set(state);
        }
    }
}

fn meta_of(o: &Outcome) -> Value {
    json!({
        "finish_reason": o.response.finish_reason,
        "answered_by": o.alias,
        "provider": o.provider,
        "provider_model": o.model,
        "latency_ms": o.latency.as_millis() as u64,
        "ttft_ms": o.time_to_first_token.map(|t| t.as_millis() as u64),
        "cache_hit": o.cache_hit,
        "failed_over": o.failed_over,
    })
}

/// A history message as the model reads it: an assistant's calls of the
/// caller's tools (`meta.tool_requests`) and a tool's result
/// (`meta.tool_call_id`) keep their links.
fn as_chat_message(msg: &Message) -> Option<ChatMessage> {
    let role = match msg.role.as_str() {
        "user" => Role::User,
        "assistant" => Role::Assistant,
        "tool" => Role::Tool,
        _ => return None,
    };
    let mut out = ChatMessage::new(role, msg.content.clone());
    if let Some(calls) = msg.meta.get("tool_requests") {
        out.tool_calls = serde_json::from_value(calls.clone()).unwrap_or_default();
    }
    out.tool_call_id = msg.meta.get("tool_call_id").and_then(Value::as_str).map(str::to_string);
    Some(out)
}

fn usage_of(o: &Outcome) -> Value {
    json!({
        "prompt_tokens": o.usage.prompt_tokens,
        "completion_tokens": o.usage.completion_tokens,
        "estimated": o.usage_estimated,
        "cost_usd": o.cost_usd,
    })
}

/// Stage 5: the answer(s) and one usage row per call, stored together:
/// `compare` keeps one message per model; other modes one message, with
/// every sub-result in `meta.steps`.
async fn store(
    ctx: &JobContext,
    p: &ChatTurn,
    r: &modes::ModeResult,
    citations: Vec<Value>,
    context: Value,
    tool_calls: Vec<Value>,
) -> Result<Vec<Message>, JobError> {
    let message = |alias: &str, content: &str, usage: Value, meta: Value| Message {
        id: Uuid::now_v7(),
        conversation_id: p.conversation_id,
        tenant_id: ctx.tenant_id,
        role: "assistant".into(),
        content: content.into(),
        reply_to: Some(p.message_id),
        model: Some(alias.into()),
        job_id: Some(ctx.job_id),
        usage: Some(usage),
        citations: Value::Array(citations.clone()),
        meta,
        created_at: Utc::now(),
    };
    let mut replies = Vec::new();
    if p.mode == modes::Mode::Compare {
        for s in &r.steps {
            let mut meta = meta_of(&s.outcome);
            (meta["mode"], meta["context"]) = (json!("compare"), context.clone());
            replies.push(message(&s.alias, &s.outcome.response.content, usage_of(&s.outcome), meta));
        }
    } else {
        let last = &r.steps.last().expect("a mode makes calls").outcome;
        let mut meta = meta_of(last);
        (meta["mode"], meta["context"], meta["route_reason"]) = (json!(p.mode), context, json!(r.route_reason));
        if let Some(agent) = &p.agent {
            (meta["agent"], meta["tool_calls"]) = (json!(agent), json!(tool_calls));
        } else if !last.response.tool_calls.is_empty() {
            // The caller's own tools: the model's calls go back to it.
            meta["tool_requests"] = json!(last.response.tool_calls);
        }
        if r.steps.len() > 1 {
            meta["steps"] = r
                .steps
                .iter()
                .map(|s| json!({ "step": s.label, "model": s.alias, "content": s.outcome.response.content, "usage": usage_of(&s.outcome) }))
                .collect();
        }
        let (prompt, completion, cost) = r.steps.iter().fold((0, 0, 0.0), |(a, b, c), s| {
            (a + s.outcome.usage.prompt_tokens, b + s.outcome.usage.completion_tokens, c + s.outcome.cost_usd)
        });
        let usage = json!({ "prompt_tokens": prompt, "completion_tokens": completion, "cost_usd": cost,
            "estimated": r.steps.iter().any(|s| s.outcome.usage_estimated) });
        replies.push(message(&r.final_alias, &r.text, usage, meta));
    }
    let usage: Vec<NewLlmUsage> = r
        .steps
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let o = &s.outcome;
            NewLlmUsage {
                tenant_id: ctx.tenant_id,
                job_id: Some(ctx.job_id),
                message_id: replies.get(i).or(replies.last()).map(|m| m.id),
                provider: o.provider.clone(),
                model: o.model.clone(),
                prompt_tokens: o.usage.prompt_tokens as i32,
                completion_tokens: o.usage.completion_tokens as i32,
                cost_usd: o.cost_usd,
                latency_ms: o.latency.as_millis() as i32,
                ttft_ms: o.time_to_first_token.map(|t| t.as_millis() as i32),
                cache_hit: o.cache_hit,
            }
        })
        .collect();
    Ok(store_of::store_replies(&ctx.ctx, owner(ctx), p.message_id, replies, usage).await?)
}

/// The job's result: the (last) answer, plus every answer in `compare`.
fn result_of(replies: &[Message], r: &modes::ModeResult) -> Value {
    let last = replies.last().expect("at least one reply");
    let mut out = json!({
        "message_id": last.id,
        "content": last.content,
        "model": last.model,
        "usage": last.usage,
        "finish_reason": last.meta.get("finish_reason"),
        "citations": last.citations,
        "meta": last.meta,
        "route_reason": r.route_reason,
    });
    if let Some(calls) = last.meta.get("tool_requests") {
        out["tool_calls"] = calls.clone();
    }
    if replies.len() > 1 {
        out["answers"] =
            replies.iter().map(|m| json!({ "message_id": m.id, "model": m.model, "content": m.content })).collect();
    }
    out
}
