//! Conversations: CRUD, search, paginated messages, forks, and posting a
//! user message, which queues the `chat` job that writes the answer.
//!
//! A fork records its parent and the message it branched at; its history
//! is the parent's history up to that message followed by its own
//! messages, read through the chain, never copied.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::{page, page_limit, Principal};
use crate::db::models::{Conversation, Job, Message};
use crate::db::schema::{conversations as c, messages as m};
use crate::domain::{ConversationView, JobSummary, MessageView, Role};
use crate::error::{ErrorCode, ServiceError, ServiceResult};
use crate::Ctx;

use crate::kinds::chat::ChatTurn;
pub use crate::kinds::chat::{GenerationSettings, RagOptions};
use crate::kinds::JobArgs;

/// Longest system prompt and message, in characters; most forks deep.
pub const MAX_PROMPT_CHARS: usize = 32_000;
pub const MAX_MESSAGE_CHARS: usize = 64_000;
pub const MAX_FORK_DEPTH: usize = 32;

fn invalid(field: &str, message: impl Into<String>) -> ServiceError {
    ServiceError::invalid_field(field, message)
}

fn not_found() -> ServiceError {
    ServiceError::new(ErrorCode::ConversationNotFound, "no such conversation")
}

/// The body of `POST /v1/conversations` (and, all optional, of `PATCH`).
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConversationInput {
    #[schema(max_length = 500)]
    pub title: Option<String>,
    #[schema(max_length = 32000)]
    pub system_prompt: Option<String>,
    /// Model aliases from the configuration; the default model when empty.
    #[schema(max_items = 8)]
    pub models: Option<Vec<String>>,
    pub settings: Option<GenerationSettings>,
    #[schema(schema_with = crate::domain::spec::conversation_tags)]
    pub tags: Option<Vec<String>>,
}

/// Every alias must be configured or registered by the tenant.
async fn check_models(ctx: &Ctx, tenant: Uuid, models: &[String]) -> ServiceResult<()> {
    if models.is_empty() {
        return Ok(());
    }
    let known = super::llm_catalog::aliases(ctx, tenant).await?;
    for alias in models {
        if !known.contains(alias) {
            return Err(ServiceError::new(ErrorCode::UnknownModel, format!("unknown model {alias:?}"))
                .with_details(json!({ "available": known })));
        }
    }
    Ok(())
}

async fn check_input(ctx: &Ctx, tenant: Uuid, i: &ConversationInput) -> ServiceResult<()> {
    if i.title.as_ref().is_some_and(|t| t.chars().count() > 500) {
        return Err(invalid("title", "title is at most 500 characters"));
    }
    if i.system_prompt.as_ref().is_some_and(|p| p.chars().count() > MAX_PROMPT_CHARS) {
        return Err(invalid("system_prompt", format!("system_prompt is at most {MAX_PROMPT_CHARS} characters")));
    }
    if let Some(models) = &i.models {
        if models.len() > 8 {
            return Err(invalid("models", "at most 8 models"));
        }
        check_models(ctx, tenant, models).await?;
    }
    if let Some(s) = &i.settings {
        s.check()?;
    }
    if i.tags.as_ref().is_some_and(|t| t.len() > 50 || t.iter().any(|x| x.is_empty() || x.chars().count() > 64)) {
        return Err(invalid("tags", "at most 50 tags of 1 to 64 characters"));
    }
    Ok(())
}

async fn load(conn: &mut AsyncPgConnection, tenant: Uuid, id: Uuid) -> ServiceResult<Conversation> {
    c::table
        .filter(c::id.eq(id))
        .filter(c::tenant_id.eq(tenant))
        .select(Conversation::as_select())
        .first(conn)
        .await
        .optional()?
        .ok_or_else(not_found)
}

pub async fn create(ctx: &Ctx, p: &Principal, i: ConversationInput) -> ServiceResult<ConversationView> {
    p.require(Role::User, "creating conversations")?;
    check_input(ctx, p.tenant_id, &i).await?;
    let row = new_row(p.tenant_id, i);
    let mut conn = ctx.pool.get().await?;
    let stored: Conversation = diesel::insert_into(c::table)
        .values(&row)
        .returning(Conversation::as_returning())
        .get_result(&mut conn)
        .await?;
    Ok(stored.view())
}

/// A new conversation of `tenant` from checked input.
pub fn new_row(tenant: Uuid, i: ConversationInput) -> Conversation {
    let now = Utc::now();
    Conversation {
        id: Uuid::now_v7(),
        tenant_id: tenant,
        title: i.title.unwrap_or_default(),
        system_prompt: i.system_prompt.unwrap_or_default(),
        models: i.models.unwrap_or_default(),
        settings: serde_json::to_value(i.settings.unwrap_or_default()).expect("settings serialize"),
        tags: i.tags.unwrap_or_default(),
        parent_id: None,
        fork_message_id: None,
        created_at: now,
        updated_at: now,
        summary: None,
        summary_through: None,
    }
}

/// Inserts conversations and their messages, two statements whatever the
/// count (in the caller's transaction).
pub async fn insert_many(
    conn: &mut AsyncPgConnection,
    convs: &[Conversation],
    messages: &[Message],
) -> QueryResult<()> {
    if !convs.is_empty() {
        diesel::insert_into(c::table).values(convs).execute(conn).await?;
    }
    if !messages.is_empty() {
        diesel::insert_into(m::table).values(messages).execute(conn).await?;
    }
    Ok(())
}

pub async fn get(ctx: &Ctx, p: &Principal, id: Uuid) -> ServiceResult<ConversationView> {
    let mut conn = ctx.pool.get().await?;
    Ok(load(&mut conn, p.tenant_id, id).await?.view())
}

pub async fn update(ctx: &Ctx, p: &Principal, id: Uuid, i: ConversationInput) -> ServiceResult<ConversationView> {
    p.require(Role::User, "changing conversations")?;
    check_input(ctx, p.tenant_id, &i).await?;
    let mut conn = ctx.pool.get().await?;
    let mut row = load(&mut conn, p.tenant_id, id).await?;
    if let Some(v) = i.title {
        row.title = v;
    }
    if let Some(v) = i.system_prompt {
        row.system_prompt = v;
    }
    if let Some(v) = i.models {
        row.models = v;
    }
    if let Some(v) = i.settings {
        row.settings = serde_json::to_value(v).map_err(ServiceError::internal)?;
    }
    if let Some(v) = i.tags {
        row.tags = v;
    }
    Ok(diesel::update(c::table.find(id))
        .set((
            c::title.eq(&row.title),
            c::system_prompt.eq(&row.system_prompt),
            c::models.eq(&row.models),
            c::settings.eq(&row.settings),
            c::tags.eq(&row.tags),
            c::updated_at.eq(Utc::now()),
        ))
        .returning(Conversation::as_returning())
        .get_result::<Conversation>(&mut conn)
        .await?
        .view())
}

/// Deletes a conversation and its messages. Its forks keep their own
/// messages and lose the shared part of their history.
pub async fn delete(ctx: &Ctx, p: &Principal, id: Uuid) -> ServiceResult<()> {
    p.require(Role::User, "deleting conversations")?;
    let mut conn = ctx.pool.get().await?;
    load(&mut conn, p.tenant_id, id).await?;
    diesel::delete(c::table.find(id)).execute(&mut conn).await?;
    Ok(())
}

/// Filters of `GET /v1/conversations`.
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ConversationFilter {
    /// Words in the title, system prompt or messages.
    pub q: Option<String>,
    /// Conversations whose default models include this alias.
    pub model: Option<String>,
    pub tag: Option<String>,
    pub created_after: Option<DateTime<Utc>>,
    pub created_before: Option<DateTime<Utc>>,
    pub cursor: Option<Uuid>,
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ConversationPage {
    pub items: Vec<ConversationView>,
    pub next_cursor: Option<Uuid>,
}

/// The tenant's conversations, newest first.
pub async fn list(ctx: &Ctx, p: &Principal, f: ConversationFilter) -> ServiceResult<ConversationPage> {
    let limit = page_limit(&ctx.settings, f.limit)?;
    let mut q = c::table.filter(c::tenant_id.eq(p.tenant_id)).into_boxed();
    if let Some(text) = f.q.as_ref().filter(|t| !t.trim().is_empty()) {
        let in_messages = m::table
            .filter(m::tenant_id.eq(p.tenant_id))
            .filter(
                diesel::dsl::sql::<diesel::sql_types::Bool>(
                    "to_tsvector('simple', messages.content) @@ plainto_tsquery('simple', ",
                )
                .bind::<diesel::sql_types::Text, _>(text.clone())
                .sql(")"),
            )
            .select(m::conversation_id);
        q = q.filter(
            diesel::dsl::sql::<diesel::sql_types::Bool>("to_tsvector('simple', conversations.title || ' ' || conversations.system_prompt) @@ plainto_tsquery('simple', ")
                .bind::<diesel::sql_types::Text, _>(text.clone())
                .sql(")")
                .or(c::id.eq_any(in_messages)),
        );
    }
    if let Some(model) = &f.model {
        q = q.filter(c::models.contains(vec![model.clone()]));
    }
    if let Some(tag) = &f.tag {
        q = q.filter(c::tags.contains(vec![tag.clone()]));
    }
    if let Some(ts) = f.created_after {
        q = q.filter(c::created_at.ge(ts));
    }
    if let Some(ts) = f.created_before {
        q = q.filter(c::created_at.lt(ts));
    }
    if let Some(cur) = f.cursor {
        q = q.filter(c::id.lt(cur));
    }
    let mut conn = ctx.pool.get().await?;
    let rows: Vec<Conversation> =
        q.order(c::id.desc()).limit(limit + 1).select(Conversation::as_select()).load(&mut conn).await?;
    let (rows, next_cursor) = page(rows, limit, |r| r.id);
    Ok(ConversationPage { items: rows.iter().map(Conversation::view).collect(), next_cursor })
}

#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct MessageQuery {
    /// From a previous page's `next_cursor`.
    pub cursor: Option<Uuid>,
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct MessagePage {
    /// Oldest first, including the history a fork shares with its parent.
    pub items: Vec<MessageView>,
    pub next_cursor: Option<Uuid>,
}

/// The conversation's whole history, oldest first: for a fork, the
/// parent's history up to the fork point, then its own messages.
pub async fn history(conn: &mut AsyncPgConnection, tenant: Uuid, id: Uuid) -> ServiceResult<Vec<Message>> {
    let mut out = Vec::new();
    for (conv, upto) in chain(conn, tenant, id).await? {
        let mut q = m::table.filter(m::conversation_id.eq(conv)).into_boxed();
        if let Some(at) = upto {
            q = q.filter(m::id.le(at));
        }
        out.extend(q.order(m::id.asc()).select(Message::as_select()).load(conn).await?);
    }
    Ok(out)
}

/// The conversations whose messages make up `id`'s history, oldest
/// ancestor first, each with the last message it contributes (`None`: all).
async fn chain(conn: &mut AsyncPgConnection, tenant: Uuid, id: Uuid) -> ServiceResult<Vec<(Uuid, Option<Uuid>)>> {
    // (conversation, last message id to include)
    let mut chain: Vec<(Uuid, Option<Uuid>)> = vec![(id, None)];
    let mut conv = load(conn, tenant, id).await?;
    while let (Some(parent), Some(at)) = (conv.parent_id, conv.fork_message_id) {
        if chain.len() > MAX_FORK_DEPTH {
            break;
        }
        chain.push((parent, Some(at)));
        match load(conn, tenant, parent).await {
            Ok(p) => conv = p,
            Err(_) => break,
        }
    }
    chain.reverse();
    Ok(chain)
}

/// A page of the history, oldest first, read in one query: the chain's
/// messages in id order (message ids grow with time, and a fork's own
/// messages come after the history it shares), after the cursor.
pub async fn messages(ctx: &Ctx, p: &Principal, id: Uuid, q: MessageQuery) -> ServiceResult<MessagePage> {
    let limit = page_limit(&ctx.settings, q.limit)?;
    let mut conn = ctx.pool.get().await?;
    let chain = chain(&mut conn, p.tenant_id, id).await?;
    let in_chain = |q: m::BoxedQuery<'static, diesel::pg::Pg>| {
        let mut q = q.filter(diesel::dsl::sql::<diesel::sql_types::Bool>("false"));
        for (conv, upto) in &chain {
            q = match upto {
                Some(at) => q.or_filter(m::conversation_id.eq(*conv).and(m::id.le(*at))),
                None => q.or_filter(m::conversation_id.eq(*conv)),
            };
        }
        q
    };
    let mut query = in_chain(m::table.into_boxed());
    if let Some(cur) = q.cursor {
        // A cursor from outside this history starts past its end.
        let known: i64 = in_chain(m::table.into_boxed()).filter(m::id.eq(cur)).count().get_result(&mut conn).await?;
        if known == 0 {
            return Ok(MessagePage { items: Vec::new(), next_cursor: None });
        }
        query = query.filter(m::id.gt(cur));
    }
    let rows: Vec<Message> =
        query.order(m::id.asc()).limit(limit + 1).select(Message::as_select()).load(&mut conn).await?;
    let (rows, next_cursor) = page(rows, limit, |r| r.id);
    Ok(MessagePage { items: rows.iter().map(Message::view).collect(), next_cursor })
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Fork {
    pub at_message_id: Uuid,
}

/// A new conversation sharing the history up to `at_message_id`.
pub async fn fork(ctx: &Ctx, p: &Principal, id: Uuid, f: Fork) -> ServiceResult<ConversationView> {
    p.require(Role::User, "forking conversations")?;
    let mut conn = ctx.pool.get().await?;
    let source = load(&mut conn, p.tenant_id, id).await?;
    if !history(&mut conn, p.tenant_id, id).await?.iter().any(|msg| msg.id == f.at_message_id) {
        return Err(ServiceError::new(ErrorCode::MessageNotFound, "no such message in this conversation"));
    }
    // The fork point names the conversation that holds the message.
    let holder: Uuid = m::table.find(f.at_message_id).select(m::conversation_id).first(&mut conn).await?;
    let now = Utc::now();
    let row = Conversation {
        id: Uuid::now_v7(),
        parent_id: Some(holder),
        fork_message_id: Some(f.at_message_id),
        created_at: now,
        updated_at: now,
        title: if source.title.is_empty() { String::new() } else { format!("{} (fork)", source.title) },
        summary: None,
        summary_through: None,
        ..source
    };
    let stored: Conversation = diesel::insert_into(c::table)
        .values(&row)
        .returning(Conversation::as_returning())
        .get_result(&mut conn)
        .await?;
    Ok(stored.view())
}

/// The body of `POST /v1/conversations/{id}/messages`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"content": "What does the handbook say about refunds?", "settings": {"max_tokens": 64}}))]
pub struct PostMessage {
    #[schema(schema_with = content_schema)]
    pub content: String,
    /// `single` (default), `compare`, `consensus`, `chain`, `debate` or `router`.
    pub mode: Option<crate::llm::modes::Mode>,
    /// Model aliases for this message; the conversation's otherwise (then
    /// the default model). `debate` takes the first as pro, the second as con.
    pub models: Option<Vec<String>>,
    /// The judge of `consensus` and `debate` (default: `llm.judge_model`,
    /// else the first model).
    pub judge: Option<String>,
    /// Rounds of a `debate` (1..=5, default 2).
    #[schema(minimum = 1, maximum = 5)]
    pub rounds: Option<usize>,
    pub rag: Option<RagOptions>,
    pub settings: Option<GenerationSettings>,
    /// An agent profile (`/v1/agents`) by name: the answer comes from its
    /// model, with its prompt, running the tool loop over its tools. Only
    /// in `single` mode, with no `models`.
    pub agent: Option<String>,
}

fn content_schema() -> utoipa::openapi::Object {
    crate::domain::spec::nonblank(MAX_MESSAGE_CHARS)
}

/// What `POST …/messages` answers: the stored user message and the job.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Posted {
    pub message: MessageView,
    pub job: JobSummary,
}

/// Stores the user message and queues its `chat` job, in one transaction.
pub async fn post_message(ctx: &Ctx, p: &Principal, id: Uuid, body: PostMessage) -> ServiceResult<(Message, Job)> {
    p.require(Role::User, "sending messages")?;
    if body.content.trim().is_empty() || body.content.chars().count() > MAX_MESSAGE_CHARS {
        return Err(invalid(
            "content",
            format!("content must be non-empty and at most {MAX_MESSAGE_CHARS} characters"),
        ));
    }
    if let Some(models) = &body.models {
        check_models(ctx, p.tenant_id, models).await?;
    }
    if let Some(judge) = &body.judge {
        check_models(ctx, p.tenant_id, std::slice::from_ref(judge)).await?;
    }
    if body.rounds.is_some_and(|r| !(1..=5).contains(&r)) {
        return Err(invalid("rounds", "rounds must be between 1 and 5"));
    }
    if let Some(s) = &body.settings {
        s.check()?;
    }
    if let Some(r) = &body.rag {
        if r.top_k.is_some_and(|k| !(1..=20).contains(&k)) {
            return Err(invalid("rag.top_k", "rag.top_k must be between 1 and 20"));
        }
        crate::kinds::search::validate_filters(&r.filters)?;
    }
    let agent = match &body.agent {
        None => None,
        Some(name) => {
            if body.models.is_some() || body.mode.is_some_and(|m| m != crate::llm::modes::Mode::Single) {
                return Err(invalid("agent", "an agent answers alone: no models, and mode single"));
            }
            Some(super::agents::by_name(ctx, p.tenant_id, name).await?)
        }
    };
    super::jobs::spend(ctx, p.tenant_id, ChatTurn::KIND.name, 1).await?;
    let mut conn = ctx.pool.get().await?;
    let conv = load(&mut conn, p.tenant_id, id).await?;
    let mode = body.mode.unwrap_or_default();
    let models = match &body.models {
        _ if agent.is_some() => vec![agent.as_ref().expect("checked").model.clone()],
        Some(m) if !m.is_empty() => m.clone(),
        _ if !conv.models.is_empty() => conv.models.clone(),
        _ => vec![ctx.settings.llm.default_model.clone()],
    };
    if models.iter().enumerate().any(|(i, m)| models[..i].contains(m)) {
        return Err(invalid("models", "each model may appear once"));
    }
    if models.len() < mode.min_models() {
        return Err(invalid("models", format!("mode {mode:?} needs at least {} models", mode.min_models())));
    }
    let model = models[0].clone();
    let message = turn_of(conv.id, p.tenant_id, "user", body.content.clone());
    let turn = ChatTurn {
        conversation_id: conv.id,
        message_id: message.id,
        model,
        mode,
        models,
        judge: body.judge,
        rounds: body.rounds,
        rag: body.rag,
        settings: body.settings,
        agent: body.agent,
        role: Some(p.role),
        tools: Vec::new(),
        tool_choice: None,
    };
    let tenant = p.tenant_id;
    let (message, job) = (*conn)
        .transaction::<_, ServiceError, _>(async move |conn: &mut AsyncPgConnection| {
            let job = crate::queue::insert(conn, tenant, &turn).await?;
            let message = Message { job_id: Some(job.id), ..message };
            let stored = diesel::insert_into(m::table)
                .values(&message)
                .returning(Message::as_returning())
                .get_result(conn)
                .await?;
            diesel::update(c::table.find(id)).set(c::updated_at.eq(Utc::now())).execute(conn).await?;
            Ok((stored, job))
        })
        .await?;
    super::jobs::nudge(ctx, ChatTurn::KIND.queue.as_str());
    Ok((message, job))
}

/// A new message of `role` (no answer of a model: no model, job or usage).
pub fn turn_of(conversation: Uuid, tenant: Uuid, role: &str, content: String) -> Message {
    Message {
        id: Uuid::now_v7(),
        conversation_id: conversation,
        tenant_id: tenant,
        role: role.to_string(),
        content,
        reply_to: None,
        model: None,
        job_id: None,
        usage: None,
        citations: json!([]),
        meta: json!({}),
        created_at: Utc::now(),
    }
}

/// Queues `turn`, the `chat` job `job` that answers the last of
/// `messages` (new turns of conversation `id`, oldest first, the last one
/// carrying `job`): the job and the messages in one transaction, the
/// tenant's chat jobs per minute spent first. The turns of an OpenAI-style
/// request arrive this way, whole.
pub async fn queue_answer(
    ctx: &Ctx,
    p: &Principal,
    id: Uuid,
    messages: Vec<Message>,
    job: Uuid,
    turn: ChatTurn,
) -> ServiceResult<Job> {
    p.require(Role::User, "sending messages")?;
    super::jobs::spend(ctx, p.tenant_id, ChatTurn::KIND.name, 1).await?;
    let tenant = p.tenant_id;
    let mut conn = ctx.pool.get().await?;
    load(&mut conn, tenant, id).await?;
    let payload = turn.to_payload();
    let job = (*conn)
        .transaction::<_, ServiceError, _>(async move |conn: &mut AsyncPgConnection| {
            let new = crate::db::models::NewJob { id: job, ..crate::queue::queued(tenant, &ChatTurn::KIND, &payload) };
            let job =
                crate::queue::insert_row(conn, &new).await?.ok_or_else(|| ServiceError::internal("job id taken"))?;
            insert_many(conn, &[], &messages).await?;
            diesel::update(c::table.find(id)).set(c::updated_at.eq(Utc::now())).execute(conn).await?;
            Ok(job)
        })
        .await?;
    super::jobs::nudge(ctx, ChatTurn::KIND.queue.as_str());
    Ok(job)
}

/// The generation settings stored on a conversation.
pub fn settings_of(conv: &Conversation) -> GenerationSettings {
    serde_json::from_value::<GenerationSettings>(conv.settings.clone()).unwrap_or_default()
}

/// Loads a conversation for a job (tenant-checked).
pub async fn load_for_job(conn: &mut AsyncPgConnection, tenant: Uuid, id: Uuid) -> ServiceResult<Conversation> {
    load(conn, tenant, id).await
}

/// Used by `Value`-typed callers.
pub fn citation(hit: &crate::services::search::SearchHit) -> Value {
    json!({ "chunk_id": hit.chunk_id, "document_id": hit.document_id, "title": hit.title, "page": hit.page })
}

#[cfg(test)]
mod tests {
    use diesel::prelude::*;

    use crate::db::schema::messages as m;

    #[test]
    fn the_cursor_applies_to_every_conversation_of_the_chain() {
        let q = m::table
            .into_boxed::<diesel::pg::Pg>()
            .filter(diesel::dsl::sql::<diesel::sql_types::Bool>("false"))
            .or_filter(m::conversation_id.eq(uuid::Uuid::nil()))
            .or_filter(m::conversation_id.eq(uuid::Uuid::max()))
            .filter(m::id.gt(uuid::Uuid::nil()));
        let sql = diesel::debug_query::<diesel::pg::Pg, _>(&q).to_string();
        let where_clause = &sql[sql.find("WHERE").unwrap()..];
        // The alternatives are grouped, then the cursor holds for all.
        assert!(where_clause.starts_with("WHERE (((false OR"), "{sql}");
        assert!(where_clause.contains(r#")) AND ("messages"."id" > $3))"#), "{sql}");
    }
}
