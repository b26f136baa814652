//! `chat` (internal, queue `chat`): answers one user message in its mode
//! (`crate::llm::modes`). It reads the conversation's history (through
//! forks), retrieves sources when RAG is on, fits the history into the
//! model's context (`crate::llm::context`), streams the answer's tokens to
//! the job's SSE followers as `token` events, and stores the answer(s) and
//! one usage row per model call in one transaction.
//!
//! Idempotent: the assistant message is unique per (user message, model),
//! so a second run finds it and returns it instead of answering again.

use std::time::Duration;

use chrono::Utc;
use diesel::prelude::*;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use serde::Deserialize;
use serde_json::{json, Value};
use uuid::Uuid;

use super::{parse_payload, JobContext, JobError, KindSpec};
use crate::db::models::Message;
use crate::db::schema::{conversations as c, llm_usage as u, messages as m};
use crate::domain::{JobEventView, Progress};
use crate::error::ServiceError;
use crate::llm::context::{self, Summary};
use crate::llm::registry::{CallOptions, Outcome, Registry};
use crate::llm::{modes, ChatMessage, Role};
use crate::services::conversations::{self, GenerationSettings, RagOptions};
use crate::services::search::{self, Mode, SearchRequest};
use crate::tools::{agent, Caller};

pub const NAME: &str = "chat";
pub const QUEUE: &str = "chat";

pub const SPEC: KindSpec = KindSpec {
    name: NAME,
    queue: QUEUE,
    default_max_attempts: 2,
    timeout: Duration::from_secs(10 * 60),
    admin_only: true,
    handles_cancel: false,
    internal: true,
    backoff: None,
    validate,
    run: |ctx, payload| Box::pin(run(ctx, payload)),
};

#[derive(Debug, Deserialize)]
struct Payload {
    conversation_id: Uuid,
    message_id: Uuid,
    /// The first model (the one `single` uses).
    model: String,
    #[serde(default)]
    mode: modes::Mode,
    #[serde(default)]
    models: Vec<String>,
    judge: Option<String>,
    rounds: Option<usize>,
    rag: Option<RagOptions>,
    settings: Option<GenerationSettings>,
    /// The agent that answers, running the tool loop.
    agent: Option<String>,
    /// The poster's role: the agent's tools run with it.
    role: Option<crate::domain::Role>,
}

fn validate(payload: &Value) -> Result<(), ServiceError> {
    parse_payload::<Payload>(payload).map(|_| ())
}

/// Tokens kept free for the answer when the request names no `max_tokens`.
const ANSWER_RESERVE: u32 = 256;

fn rag_context(hits: &[search::SearchHit]) -> String {
    let mut out = String::from(
        "Answer from these sources when they help, citing them as [1], [2], …; say so when they do not contain the answer.\n",
    );
    for (i, h) in hits.iter().enumerate() {
        out.push_str(&format!("\n[{}] {} (page {}): {}\n", i + 1, h.title, h.page, h.text));
    }
    out
}

async fn existing_replies(conn: &mut AsyncPgConnection, p: &Payload) -> Result<Vec<Message>, JobError> {
    m::table
        .filter(m::reply_to.eq(p.message_id))
        .order(m::id)
        .select(Message::as_select())
        .load(conn)
        .await
        .map_err(JobError::database)
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
    if replies.len() > 1 {
        out["answers"] =
            replies.iter().map(|m| json!({ "message_id": m.id, "model": m.model, "content": m.content })).collect();
    }
    out
}

async fn run(ctx: &JobContext, payload: Value) -> Result<Value, JobError> {
    let p: Payload =
        serde_json::from_value(payload).map_err(|e| JobError::permanent("invalid_payload", e.to_string()))?;
    let app = &ctx.ctx;
    let mut conn = app.pool.get().await.map_err(JobError::database)?;
    let done = existing_replies(&mut conn, &p).await?;
    if !done.is_empty() {
        let replayed = modes::ModeResult {
            text: String::new(),
            final_alias: String::new(),
            steps: Vec::new(),
            route_reason: None,
        };
        return Ok(result_of(&done, &replayed));
    }
    let conv = conversations::load_for_job(&mut conn, ctx.tenant_id, p.conversation_id).await?;
    let history = conversations::history(&mut conn, ctx.tenant_id, conv.id).await?;
    let llm =
        app.llm_for(&mut conn, ctx.tenant_id).await.map_err(|e| JobError::permanent("llm_settings_unusable", e))?;
    drop(conn);
    let Some(question) = history.iter().find(|msg| msg.id == p.message_id).cloned() else {
        return Err(JobError::permanent("message_not_found", "the user message is gone"));
    };
    let model = llm
        .model(&p.model)
        .cloned()
        .ok_or_else(|| JobError::permanent("unknown_model", format!("unknown model {:?}", p.model)))?;
    let settings = p.settings.clone().unwrap_or_default().or(&conversations::settings_of(&conv));
    let agent = match &p.agent {
        Some(name) => Some(crate::services::agents::by_name(app, ctx.tenant_id, name).await?),
        None => None,
    };

    // Sources first (a vector queue: this worker may search).
    let mut citations = Vec::new();
    let mut system = match &agent {
        Some(a) => format!("{}\n\n{}", a.system_prompt, conv.system_prompt).trim().to_string(),
        None => conv.system_prompt.clone(),
    };
    if let Some(rag) = p.rag.as_ref().filter(|r| r.enabled) {
        ctx.report(Progress { stage: Some("retrieving".into()), done: 0, total: None, message: None }).await;
        let vectors = app.vectors()?;
        let req = SearchRequest {
            query: question.content.clone(),
            mode: Mode::Hybrid,
            filters: rag.filters.clone(),
            top_k: Some(rag.top_k.unwrap_or(5)),
        };
        let found = search::run(app, vectors, ctx.tenant_id, &req).await?;
        citations = found.results.iter().map(conversations::citation).collect();
        if !found.results.is_empty() {
            system = format!("{system}\n\n{}", rag_context(&found.results)).trim().to_string();
        }
    }
    let turns: Vec<(Uuid, ChatMessage)> = history
        .iter()
        .filter(|msg| msg.id <= question.id)
        .filter_map(|msg| {
            let role = match msg.role.as_str() {
                "user" => Role::User,
                "assistant" => Role::Assistant,
                _ => return None,
            };
            Some((msg.id, ChatMessage::new(role, msg.content.clone())))
        })
        .collect();
    let budget = model.context_tokens.saturating_sub(settings.max_tokens.unwrap_or(ANSWER_RESERVE));
    let conn_manager = app.broker.conn();
    let redis = Some((&conn_manager, app.broker.namespace()));
    let stored = conv.summary.clone().zip(conv.summary_through).map(|(text, through)| Summary { text, through });
    let summariser =
        Some(llm.settings().summary_model.clone()).filter(|m| !m.is_empty()).unwrap_or_else(|| p.model.clone());
    let system = (!system.is_empty()).then(|| ChatMessage::new(Role::System, system));
    let strategy = settings.context_strategy.unwrap_or_default();
    let counter = crate::llm::tokens::Counter::for_model(&model);
    let fitted = context::fit(&llm, redis, strategy, system, turns, budget, stored, &summariser, &counter)
        .await
        .map_err(|e| JobError::retryable(e.code(), format!("summarising the history: {e}")))?;
    if let Some(new) = &fitted.new_summary {
        let mut conn = app.pool.get().await.map_err(JobError::database)?;
        diesel::update(c::table.find(conv.id))
            .set((c::summary.eq(&new.text), c::summary_through.eq(new.through)))
            .execute(&mut conn)
            .await
            .map_err(JobError::database)?;
    }
    let (messages, context_report) = (fitted.messages, fitted.report);

    ctx.report(Progress { stage: Some("generating".into()), done: 0, total: None, message: None }).await;
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Live>();
    let (broker, reporter) = (app.broker.clone(), ctx.clone());
    let publisher = tokio::spawn(async move {
        let mut last_steps = (0, 0);
        while let Some(live) = rx.recv().await {
            match live {
                Live::Token(step, text) => {
                    let data = json!({ "text": text, "step": step });
                    let ev = JobEventView {
                        id: 0,
                        job_id: reporter.job_id,
                        kind: "token".into(),
                        status: None,
                        data,
                        created_at: Utc::now(),
                    };
                    broker.publish_event(&ev).await;
                }
                Live::Steps(done, total) => {
                    let stage = Some("generating".to_string());
                    reporter
                        .report(Progress { stage, done: done as u64, total: Some(total as u64), message: None })
                        .await;
                    last_steps = (done, total);
                }
                Live::Note(message) => {
                    let (done, total) = last_steps;
                    let stage = Some("calling_tools".to_string());
                    let progress =
                        Progress { stage, done: done as u64, total: Some(total as u64), message: Some(message) };
                    reporter.report(progress).await;
                }
            }
        }
    });
    let options =
        CallOptions { temperature: settings.temperature, max_tokens: settings.max_tokens, ..Default::default() };
    let judge = p.judge.clone().filter(|j| !j.is_empty()).unwrap_or_else(|| {
        Some(llm.settings().judge_model.clone()).filter(|j| !j.is_empty()).unwrap_or_else(|| p.model.clone())
    });
    let models = if p.models.is_empty() { vec![p.model.clone()] } else { p.models.clone() };
    let facts = if p.mode == modes::Mode::Router { route_facts(ctx, &llm, &models).await } else { Default::default() };
    let mut sink = Forward(tx);
    let mut tool_calls = Vec::new();
    let result = match &agent {
        Some(agent) => {
            let caller = Caller { tenant_id: ctx.tenant_id, role: p.role.unwrap_or(crate::domain::Role::User) };
            let run = agent::Run { ctx: app, llm: &llm, redis, caller, job_id: ctx.job_id };
            run.run(agent, messages.clone(), &options, &mut sink).await.map(|r| {
                tool_calls = r.tool_calls;
                r.answer
            })
        }
        None => {
            let rounds = p.rounds.unwrap_or(2);
            modes::run(&llm, redis, p.mode, &models, &judge, rounds, &messages, &options, &facts, &mut sink).await
        }
    };
    drop(sink);
    let _ = publisher.await;
    let result = match result {
        Ok(r) => r,
        Err(e) => {
            record_failure(ctx, &p, &model.provider, &model.name, &e).await;
            let message = e.to_string();
            return Err(if e.retryable() {
                JobError::retryable(e.code(), message)
            } else {
                JobError::permanent(e.code(), message)
            });
        }
    };
    for s in &result.steps {
        observe(app, &llm, &s.outcome);
    }
    let replies = store(ctx, &p, &result, citations, context_report, tool_calls).await?;
    Ok(result_of(&replies, &result))
}

/// What the job streams while it runs.
enum Live {
    Token(String, String),
    Steps(usize, usize),
    Note(String),
}

struct Forward(tokio::sync::mpsc::UnboundedSender<Live>);

impl modes::Sink for Forward {
    fn token(&mut self, step: &str, text: &str) {
        let _ = self.0.send(Live::Token(step.into(), text.into()));
    }
    fn progress(&mut self, done: usize, total: usize) {
        let _ = self.0.send(Live::Steps(done, total));
    }
    fn note(&mut self, message: &str) {
        let _ = self.0.send(Live::Note(message.into()));
    }
}

/// The router's facts: the tenant's spend since midnight UTC, and each
/// candidate's average latency over the last hour.
async fn route_facts(ctx: &JobContext, llm: &Registry, models: &[String]) -> modes::RouteFacts {
    let mut facts = modes::RouteFacts::default();
    let Ok(mut conn) = ctx.ctx.pool.get().await else { return facts };
    let midnight = Utc::now().date_naive().and_hms_opt(0, 0, 0).expect("midnight").and_utc();
    facts.spent_today_usd = u::table
        .filter(u::tenant_id.eq(ctx.tenant_id))
        .filter(u::created_at.ge(midnight))
        .select(diesel::dsl::sum(u::cost_usd))
        .first::<Option<f64>>(&mut conn)
        .await
        .ok()
        .flatten()
        .unwrap_or(0.0);
    let hour_ago = Utc::now() - chrono::Duration::hours(1);
    for alias in models {
        let Some(m) = llm.model(alias) else { continue };
        let avg: Option<f64> = u::table
            .filter(u::model.eq(&m.name))
            .filter(u::provider.eq(&m.provider))
            .filter(u::error_code.is_null())
            .filter(u::created_at.ge(hour_ago))
            .select(diesel::dsl::sql::<diesel::sql_types::Nullable<diesel::sql_types::Double>>(
                "avg(latency_ms)::float8",
            ))
            .first::<Option<f64>>(&mut conn)
            .await
            .ok()
            .flatten();
        if let Some(ms) = avg {
            facts.latency_ms.insert(alias.clone(), ms);
        }
    }
    facts
}

fn observe(app: &crate::Ctx, llm: &Registry, o: &Outcome) {
    let mt = &app.metrics;
    let labels = |d: &'static str| [o.provider.clone(), o.model.clone(), d.to_string()];
    mt.llm_tokens.with_label_values(&labels("prompt")).inc_by(o.usage.prompt_tokens as u64);
    mt.llm_tokens.with_label_values(&labels("completion")).inc_by(o.usage.completion_tokens as u64);
    mt.llm_cost_usd.inc_by(o.cost_usd);
    mt.llm_request_seconds.with_label_values(&[&o.provider, &o.model]).observe(o.latency.as_secs_f64());
    if let Some(t) = o.time_to_first_token {
        mt.llm_ttft_seconds.with_label_values(&[&o.provider, &o.model]).observe(t.as_secs_f64());
    }
    mt.llm_cache.with_label_values(&[if o.cache_hit { "hit" } else { "miss" }]).inc();
    for (provider, _) in llm.settings().providers.iter() {
        let state = match llm.circuit(provider) {
            crate::llm::registry::Circuit::Closed => 0,
            crate::llm::registry::Circuit::Open => 1,
            crate::llm::registry::Circuit::HalfOpen => 2,
        };
        mt.llm_circuit.with_label_values(&[provider]).set(state);
    }
}

async fn record_failure(ctx: &JobContext, p: &Payload, provider: &str, model: &str, e: &crate::llm::ProviderError) {
    let app = &ctx.ctx;
    app.metrics.llm_errors.with_label_values(&[provider, e.code()]).inc();
    let Ok(mut conn) = app.pool.get().await else { return };
    let _ = diesel::insert_into(u::table)
        .values((
            u::tenant_id.eq(ctx.tenant_id),
            u::job_id.eq(ctx.job_id),
            u::message_id.eq(p.message_id),
            u::provider.eq(provider),
            u::model.eq(model),
            u::error_code.eq(e.code()),
        ))
        .execute(&mut conn)
        .await;
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

fn usage_of(o: &Outcome) -> Value {
    json!({
        "prompt_tokens": o.usage.prompt_tokens,
        "completion_tokens": o.usage.completion_tokens,
        "estimated": o.usage_estimated,
        "cost_usd": o.cost_usd,
    })
}

/// Stores the answer(s) and one usage row per call, in one transaction:
/// `compare` keeps one message per model; other modes one message, with
/// every sub-result in `meta.steps`.
async fn store(
    ctx: &JobContext,
    p: &Payload,
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
    let rows: Vec<_> = r
        .steps
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let o = &s.outcome;
            let message_id = replies.get(i).or(replies.last()).map(|m| m.id);
            (
                u::tenant_id.eq(ctx.tenant_id),
                u::job_id.eq(ctx.job_id),
                u::message_id.eq(message_id),
                u::provider.eq(o.provider.clone()),
                u::model.eq(o.model.clone()),
                u::prompt_tokens.eq(o.usage.prompt_tokens as i32),
                u::completion_tokens.eq(o.usage.completion_tokens as i32),
                u::cost_usd.eq(o.cost_usd),
                u::latency_ms.eq(o.latency.as_millis() as i32),
                u::ttft_ms.eq(o.time_to_first_token.map(|t| t.as_millis() as i32)),
                u::cache_hit.eq(o.cache_hit),
            )
        })
        .collect();
    let mut conn = ctx.ctx.pool.get().await.map_err(JobError::database)?;
    let stored = (*conn)
        .transaction::<_, diesel::result::Error, _>(async move |conn: &mut AsyncPgConnection| {
            let stored: Vec<Message> = diesel::insert_into(m::table)
                .values(&replies)
                .on_conflict_do_nothing()
                .returning(Message::as_returning())
                .get_results(conn)
                .await?;
            if !stored.is_empty() {
                diesel::insert_into(u::table).values(rows).execute(conn).await?;
            }
            Ok(stored)
        })
        .await
        .map_err(JobError::database)?;
    if stored.is_empty() {
        return existing_replies(&mut conn, p).await;
    }
    Ok(stored)
}
