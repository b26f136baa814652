//! `chat` (internal, queue `chat`): answers one user message. It reads the
//! conversation's history (through forks), retrieves sources when RAG is
//! on, fits the history into the model's context (sliding window), streams
//! the answer's tokens to the job's SSE followers as `token` events, and
//! stores the assistant message and the call's usage in one transaction.
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
use crate::db::schema::{llm_usage as u, messages as m};
use crate::domain::{JobEventView, Progress};
use crate::error::ServiceError;
use crate::llm::registry::{CallOptions, Outcome};
use crate::llm::{ChatMessage, Role};
use crate::services::conversations::{self, GenerationSettings, RagOptions};
use crate::services::search::{self, Mode, SearchRequest};

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
    model: String,
    rag: Option<RagOptions>,
    settings: Option<GenerationSettings>,
}

fn validate(payload: &Value) -> Result<(), ServiceError> {
    parse_payload::<Payload>(payload).map(|_| ())
}

/// Tokens kept free for the answer when the request names no `max_tokens`.
const ANSWER_RESERVE: u32 = 256;

/// Drops the oldest turns (never the system prompt or the newest message)
/// until the estimate fits `budget`; returns how many it dropped.
pub fn sliding_window(messages: &mut Vec<ChatMessage>, budget: u32) -> usize {
    let cost = |ms: &[ChatMessage]| crate::llm::estimate_usage(ms, "").prompt_tokens;
    let first_turn = usize::from(messages.iter().next().is_some_and(|m| m.role == Role::System));
    let mut dropped = 0;
    while cost(messages) > budget && messages.len() > first_turn + 1 {
        messages.remove(first_turn);
        dropped += 1;
    }
    dropped
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

async fn existing_reply(conn: &mut AsyncPgConnection, p: &Payload) -> Result<Option<Message>, JobError> {
    m::table
        .filter(m::reply_to.eq(p.message_id))
        .filter(m::model.eq(&p.model))
        .select(Message::as_select())
        .first(conn)
        .await
        .optional()
        .map_err(JobError::database)
}

fn result_of(msg: &Message) -> Value {
    json!({
        "message_id": msg.id,
        "content": msg.content,
        "model": msg.model,
        "usage": msg.usage,
        "finish_reason": msg.meta.get("finish_reason"),
        "citations": msg.citations,
        "meta": msg.meta,
    })
}

async fn run(ctx: &JobContext, payload: Value) -> Result<Value, JobError> {
    let p: Payload =
        serde_json::from_value(payload).map_err(|e| JobError::permanent("invalid_payload", e.to_string()))?;
    let app = &ctx.ctx;
    let mut conn = app.pool.get().await.map_err(JobError::database)?;
    if let Some(done) = existing_reply(&mut conn, &p).await? {
        return Ok(result_of(&done));
    }
    let conv = conversations::load_for_job(&mut conn, ctx.tenant_id, p.conversation_id).await?;
    let history = conversations::history(&mut conn, ctx.tenant_id, conv.id).await?;
    drop(conn);
    let Some(question) = history.iter().find(|msg| msg.id == p.message_id).cloned() else {
        return Err(JobError::permanent("message_not_found", "the user message is gone"));
    };
    let model = app
        .llm
        .model(&p.model)
        .cloned()
        .ok_or_else(|| JobError::permanent("unknown_model", format!("unknown model {:?}", p.model)))?;
    let settings = p.settings.clone().unwrap_or_default().or(&conversations::settings_of(&conv));

    // Sources first (a vector queue: this worker may search).
    let mut citations = Vec::new();
    let mut system = conv.system_prompt.clone();
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
    let mut messages = Vec::new();
    if !system.is_empty() {
        messages.push(ChatMessage::new(Role::System, system));
    }
    for msg in history.iter().filter(|msg| msg.id <= question.id) {
        let role = match msg.role.as_str() {
            "user" => Role::User,
            "assistant" => Role::Assistant,
            _ => continue,
        };
        messages.push(ChatMessage::new(role, msg.content.clone()));
    }
    let budget = model.context_tokens.saturating_sub(settings.max_tokens.unwrap_or(ANSWER_RESERVE));
    let dropped = sliding_window(&mut messages, budget);

    ctx.report(Progress { stage: Some("generating".into()), done: 0, total: None, message: None }).await;
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<String>();
    let broker = app.broker.clone();
    let job_id = ctx.job_id;
    let publisher = tokio::spawn(async move {
        while let Some(text) = rx.recv().await {
            let ev = JobEventView {
                id: 0,
                job_id,
                kind: "token".into(),
                status: None,
                data: json!({ "text": text }),
                created_at: Utc::now(),
            };
            broker.publish_event(&ev).await;
        }
    });
    let options = CallOptions { temperature: settings.temperature, max_tokens: settings.max_tokens };
    let conn_manager = app.broker.conn();
    let redis = Some((&conn_manager, app.broker.namespace()));
    let mut send = |piece: &str| {
        let _ = tx.send(piece.to_string());
    };
    let outcome = app.llm.chat(redis, &p.model, &messages, &options, &mut send).await;
    drop(tx);
    let _ = publisher.await;
    let outcome = match outcome {
        Ok(o) => o,
        Err((e, failed)) => {
            record_failure(ctx, &p, &model.provider, &model.name, &e).await;
            let message = format!("{e} (tried: {failed:?})");
            return Err(if e.retryable() {
                JobError::retryable(e.code(), message)
            } else {
                JobError::permanent(e.code(), message)
            });
        }
    };
    observe(app, &outcome);
    let reply = store(ctx, &p, &outcome, citations, dropped).await?;
    Ok(result_of(&reply))
}

fn observe(app: &crate::Ctx, o: &Outcome) {
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
    for (provider, _) in app.llm.settings().providers.iter() {
        let state = match app.llm.circuit(provider) {
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

async fn store(
    ctx: &JobContext,
    p: &Payload,
    o: &Outcome,
    citations: Vec<Value>,
    dropped: usize,
) -> Result<Message, JobError> {
    let reply = Message {
        id: Uuid::now_v7(),
        conversation_id: p.conversation_id,
        tenant_id: ctx.tenant_id,
        role: "assistant".into(),
        content: o.response.content.clone(),
        reply_to: Some(p.message_id),
        model: Some(p.model.clone()),
        job_id: Some(ctx.job_id),
        usage: Some(json!({
            "prompt_tokens": o.usage.prompt_tokens,
            "completion_tokens": o.usage.completion_tokens,
            "estimated": o.usage_estimated,
            "cost_usd": o.cost_usd,
        })),
        citations: Value::Array(citations),
        meta: json!({
            "finish_reason": o.response.finish_reason,
            "answered_by": o.alias,
            "provider": o.provider,
            "provider_model": o.model,
            "latency_ms": o.latency.as_millis() as u64,
            "ttft_ms": o.time_to_first_token.map(|t| t.as_millis() as u64),
            "cache_hit": o.cache_hit,
            "failed_over": o.failed_over,
            "context": { "strategy": "sliding_window", "dropped_messages": dropped },
        }),
        created_at: Utc::now(),
    };
    let usage_row = (
        u::tenant_id.eq(ctx.tenant_id),
        u::job_id.eq(ctx.job_id),
        u::message_id.eq(reply.id),
        u::provider.eq(o.provider.clone()),
        u::model.eq(o.model.clone()),
        u::prompt_tokens.eq(o.usage.prompt_tokens as i32),
        u::completion_tokens.eq(o.usage.completion_tokens as i32),
        u::cost_usd.eq(o.cost_usd),
        u::latency_ms.eq(o.latency.as_millis() as i32),
        u::ttft_ms.eq(o.time_to_first_token.map(|t| t.as_millis() as i32)),
        u::cache_hit.eq(o.cache_hit),
    );
    let mut conn = ctx.ctx.pool.get().await.map_err(JobError::database)?;
    let stored = (&mut *conn)
        .transaction::<_, diesel::result::Error, _>(async move |conn: &mut AsyncPgConnection| {
            let stored: Option<Message> = diesel::insert_into(m::table)
                .values(&reply)
                .on_conflict_do_nothing()
                .returning(Message::as_returning())
                .get_result(conn)
                .await
                .optional()?;
            if stored.is_some() {
                diesel::insert_into(u::table).values(usage_row).execute(conn).await?;
            }
            Ok(stored)
        })
        .await
        .map_err(JobError::database)?;
    match stored {
        Some(s) => Ok(s),
        None => existing_reply(&mut conn, p).await?.ok_or_else(|| JobError::retryable("database", "reply vanished")),
    }
}
