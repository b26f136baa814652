//! Running an OpenAI batch ([`super::openai_batches`]): its input file's
//! lines become jobs ([`start`]), and their answers become its output and
//! error files ([`finish`]). Both stream: the input is read as a stream of
//! lines, a thousand lines (or 8 MiB) per transaction, and the output is
//! read back a thousand lines per query into scratch files that move into
//! the blob store. A batch of 50,000 lines is fifty transactions, and never
//! in memory whole.

use std::collections::HashSet;

use chrono::Utc;
use diesel::prelude::*;
use diesel::sql_types::{Integer, Jsonb, Nullable, Text, Timestamptz, Uuid as SqlUuid};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use futures::StreamExt;
use serde::Deserialize;
use serde_json::{json, Value};
use uuid::Uuid;

use super::completions::{self, CompletionRequest, Prepared};
use super::embeddings::{self, EmbeddingRequest};
use super::files;
use super::openai_batches::{wire_id, BatchRow, ENDED};
use crate::db::models::NewJob;
use crate::db::schema::{openai_batch_lines as bl, openai_batches as ob};
use crate::error::{ServiceError, ServiceResult};
use crate::kinds::chat::ChatTurn;
use crate::kinds::embed_texts::EmbedTexts;
use crate::kinds::openai_batch::BatchFinish;
use crate::kinds::JobArgs;
use crate::knowledge::blob::BlobReader;
use crate::queue::batches::{self, NewBatch};
use crate::Ctx;

/// Lines per transaction, and the most bytes of lines one holds.
const CHUNK_LINES: usize = 1_000;
const CHUNK_BYTES: usize = 8 * 1024 * 1024;
/// Validation errors a failed batch lists.
const MAX_ERRORS: usize = 100;
/// A batch's jobs wait behind the tenant's interactive ones.
const PRIORITY: i16 = -10;

/// What [`start`] did.
pub struct Started {
    pub status: String,
    pub lines: usize,
}

/// One line of the input file, as OpenAI's format has it.
#[derive(Deserialize)]
struct InputLine {
    custom_id: String,
    method: String,
    url: String,
    body: Value,
}

/// A line's request, checked: what its job runs.
enum Request {
    Chat(Prepared),
    Embed(EmbedTexts),
}

/// Reads a blob as lines (1-based numbers; blank lines skipped), each at
/// most `max` bytes.
struct Lines {
    reader: BlobReader,
    buf: Vec<u8>,
    scanned: usize,
    number: usize,
    done: bool,
    max: usize,
}

impl Lines {
    async fn open(ctx: &Ctx, key: &str) -> ServiceResult<Self> {
        let reader = ctx.blobs.read(key).await.map_err(|e| ServiceError::internal(format!("blob store: {e}")))?;
        Ok(Self {
            reader,
            buf: Vec::new(),
            scanned: 0,
            number: 0,
            done: false,
            max: ctx.settings.openai.max_line_bytes,
        })
    }

    /// The next line: `Err` with its number when it is too long.
    async fn next(&mut self) -> ServiceResult<Option<Result<(usize, Vec<u8>), usize>>> {
        loop {
            if let Some(at) = self.buf[self.scanned..].iter().position(|b| *b == b'\n') {
                let mut line: Vec<u8> = self.buf.drain(..=self.scanned + at).collect();
                self.scanned = 0;
                self.number += 1;
                line.pop();
                if line.last() == Some(&b'\r') {
                    line.pop();
                }
                if line.iter().all(u8::is_ascii_whitespace) {
                    continue;
                }
                return Ok(Some(Ok((self.number, line))));
            }
            self.scanned = self.buf.len();
            if self.buf.len() > self.max {
                self.number += 1;
                return Ok(Some(Err(self.number)));
            }
            if self.done {
                if self.buf.iter().all(u8::is_ascii_whitespace) {
                    return Ok(None);
                }
                self.buf.push(b'\n');
                continue;
            }
            match self.reader.chunks.next().await {
                Some(chunk) => {
                    let chunk = chunk.map_err(|e| ServiceError::internal(format!("blob store: {e}")))?;
                    self.buf.extend_from_slice(&chunk);
                }
                None => self.done = true,
            }
        }
    }
}

/// A malformed line: the batch fails with it.
fn line_error(line: usize, code: &str, message: impl Into<String>) -> Value {
    json!({"code": code, "message": message.into(), "line": line})
}

/// Parses a line's frame (custom id, method, URL, body) against the
/// batch's endpoint.
fn frame(endpoint: &str, number: usize, raw: &[u8]) -> Result<InputLine, Value> {
    let line: InputLine = serde_json::from_slice(raw).map_err(|e| {
        line_error(number, "invalid_json_line", format!("not a request line (custom_id, method, url, body): {e}"))
    })?;
    if line.method != "POST" {
        return Err(line_error(number, "invalid_method", "method must be POST"));
    }
    if line.url != endpoint {
        return Err(line_error(number, "mismatched_url", format!("url must be the batch's endpoint, {endpoint}")));
    }
    if line.custom_id.is_empty() || line.custom_id.chars().count() > 512 {
        return Err(line_error(number, "invalid_custom_id", "custom_id is 1 to 512 characters"));
    }
    Ok(line)
}

/// Checks a line's request body as its endpoint's route would.
fn request(ctx: &Ctx, endpoint: &str, body: Value, aliases: &[String]) -> ServiceResult<Request> {
    let bad = |e: serde_json::Error| ServiceError::invalid_field("body", format!("the request body: {e}"));
    if endpoint == "/v1/embeddings" {
        let req: EmbeddingRequest = serde_json::from_value(body).map_err(bad)?;
        return Ok(Request::Embed(embeddings::check(ctx, req)?));
    }
    let req: CompletionRequest = serde_json::from_value(body).map_err(bad)?;
    if req.stream {
        return Err(ServiceError::invalid_field("body.stream", "a batch's requests are not streamed"));
    }
    let prepared = completions::prepare(req)?;
    if !aliases.contains(&prepared.model) {
        let message = format!("unknown model {:?}", prepared.model);
        return Err(ServiceError::new(crate::error::ErrorCode::UnknownModel, message));
    }
    Ok(Request::Chat(prepared))
}

async fn load(ctx: &Ctx, tenant: Uuid, batch: Uuid) -> ServiceResult<BatchRow> {
    let mut conn = ctx.pool.get().await?;
    Ok(ob::table.find(batch).filter(ob::tenant_id.eq(tenant)).select(BatchRow::as_select()).first(&mut conn).await?)
}

/// What the first pass found: the lines, and those that make jobs; or the
/// errors that fail the batch.
async fn validate(
    ctx: &Ctx,
    batch: &BatchRow,
    aliases: &[String],
) -> ServiceResult<Result<(usize, usize), Vec<Value>>> {
    let input = files::blob_key(batch.tenant_id, batch.input_file_id);
    let mut lines = Lines::open(ctx, &input).await?;
    let (mut seen, mut errors, mut total, mut jobbed) = (HashSet::new(), Vec::new(), 0, 0);
    let max_lines = ctx.settings.openai.max_batch_lines;
    while let Some(next) = lines.next().await? {
        if errors.len() >= MAX_ERRORS {
            break;
        }
        let (number, raw) = match next {
            Ok(line) => line,
            Err(number) => {
                let max = ctx.settings.openai.max_line_bytes;
                errors.push(line_error(number, "line_too_long", format!("a line is at most {max} bytes")));
                break;
            }
        };
        total += 1;
        if total > max_lines {
            errors.push(line_error(number, "too_many_requests", format!("a batch holds at most {max_lines} requests")));
            break;
        }
        match frame(&batch.endpoint, number, &raw) {
            Err(e) => errors.push(e),
            Ok(line) if !seen.insert(line.custom_id.clone()) => {
                errors.push(line_error(
                    number,
                    "duplicate_custom_id",
                    format!("custom_id {:?} repeats", line.custom_id),
                ));
            }
            Ok(line) => jobbed += usize::from(request(ctx, &batch.endpoint, line.body, aliases).is_ok()),
        }
    }
    if total == 0 && errors.is_empty() {
        errors.push(line_error(0, "empty_file", "the input file holds no requests"));
    }
    Ok(if errors.is_empty() { Ok((total, jobbed)) } else { Err(errors) })
}

/// Validates the batch's input and makes its lines jobs (the
/// `openai_batch_start` job). A batch cancelled meanwhile stops taking
/// lines; its finishing job still comes.
pub async fn start(ctx: &Ctx, tenant: Uuid, batch_id: Uuid) -> ServiceResult<Started> {
    let batch = load(ctx, tenant, batch_id).await?;
    let aliases = super::llm_catalog::aliases(ctx, tenant).await?;
    if batch.status == "validating" {
        match validate(ctx, &batch, &aliases).await? {
            Err(errors) => {
                let mut conn = ctx.pool.get().await?;
                let failed = diesel::update(ob::table.find(batch_id).filter(ob::status.eq("validating")))
                    .set((
                        ob::status.eq("failed"),
                        ob::failed_at.eq(Utc::now()),
                        ob::errors.eq(json!({"object": "list", "data": errors})),
                    ))
                    .execute(&mut conn)
                    .await?;
                if failed == 1 {
                    return Ok(Started { status: "failed".into(), lines: 0 });
                }
            }
            Ok((total, jobbed)) => begin(ctx, &batch, total, jobbed).await?,
        }
    }
    // In progress: its lines become jobs. Cancelled meanwhile: they are
    // recorded as cancelled, and the batch ends.
    let batch = load(ctx, tenant, batch_id).await?;
    let lines = match batch.status.as_str() {
        "in_progress" | "cancelling" => fan_out(ctx, &batch, &aliases).await?,
        _ => 0,
    };
    Ok(Started { status: batch.status, lines })
}

/// After validation: `in_progress`, with the job batch whose members the
/// lines' jobs will be. It is held open (one member more than the lines'
/// jobs) until [`fan_out`] has taken every line, so the finishing job never
/// runs before the last line's row is in, whatever ends first.
async fn begin(ctx: &Ctx, batch: &BatchRow, total: usize, jobbed: usize) -> ServiceResult<()> {
    let (id, tenant) = (batch.id, batch.tenant_id);
    let mut conn = ctx.pool.get().await?;
    (*conn)
        .transaction::<_, ServiceError, _>(async move |conn: &mut AsyncPgConnection| {
            let n = diesel::update(ob::table.find(id).filter(ob::status.eq("validating")))
                .set((ob::status.eq("in_progress"), ob::in_progress_at.eq(Utc::now()), ob::total.eq(total as i32)))
                .execute(conn)
                .await?;
            if n == 0 {
                return Ok(());
            }
            let on_complete = json!({"kind": BatchFinish::KIND.name, "payload": {"batch_id": id}});
            let new =
                NewBatch { id, tenant_id: tenant, callback_url: None, on_complete: Some(on_complete), quiet: true };
            batches::open(conn, new, jobbed + 1).await?;
            Ok(())
        })
        .await?;
    super::jobs::nudge(ctx, BatchFinish::KIND.queue.as_str());
    Ok(())
}

/// Every line is in (or a cancelled batch takes no more): the job batch
/// ends at the jobs it has, and its finishing job comes once they have
/// ended; with no job batch (cancelled before it began), at once.
async fn stop(ctx: &Ctx, batch: &BatchRow) -> ServiceResult<()> {
    let (id, tenant, settings) = (batch.id, batch.tenant_id, ctx.settings.clone());
    let mut conn = ctx.pool.get().await?;
    (*conn)
        .transaction::<_, ServiceError, _>(async move |conn: &mut AsyncPgConnection| {
            use crate::db::schema::job_batches as jb;
            let open: bool = diesel::select(diesel::dsl::exists(jb::table.find(id))).get_result(conn).await?;
            if open {
                batches::close_at_members(conn, &settings, id).await?;
            } else {
                queue_finish(conn, tenant, id).await?;
            }
            Ok(())
        })
        .await?;
    super::jobs::nudge(ctx, BatchFinish::KIND.queue.as_str());
    Ok(())
}

/// Queues the batch's finishing job, once whatever the callers.
async fn queue_finish(conn: &mut AsyncPgConnection, tenant: Uuid, id: Uuid) -> QueryResult<()> {
    let key = format!("openai-batch-finish:{id}");
    let payload = BatchFinish { batch_id: id }.to_payload();
    let job = NewJob { idempotency_key: Some(&key), ..crate::queue::queued(tenant, &BatchFinish::KIND, &payload) };
    crate::queue::insert_row(conn, &job).await?;
    Ok(())
}

/// The second pass: every line after the last one committed becomes a job
/// (or, its request refused, an error), a chunk per transaction. Returns
/// the lines taken.
async fn fan_out(ctx: &Ctx, batch: &BatchRow, aliases: &[String]) -> ServiceResult<usize> {
    let mut conn = ctx.pool.get().await?;
    let done: Option<i32> =
        bl::table.filter(bl::batch_id.eq(batch.id)).select(diesel::dsl::max(bl::line)).first(&mut conn).await?;
    drop(conn);
    let done = done.unwrap_or(0) as usize;
    let mut lines = Lines::open(ctx, &files::blob_key(batch.tenant_id, batch.input_file_id)).await?;
    let (mut chunk, mut bytes, mut taken) = (Vec::new(), 0, 0);
    while let Some(next) = lines.next().await? {
        let Ok((number, raw)) = next else { break };
        if number <= done {
            continue;
        }
        bytes += raw.len();
        let Ok(line) = frame(&batch.endpoint, number, &raw) else { continue };
        let req = request(ctx, &batch.endpoint, line.body, aliases);
        chunk.push((number, line.custom_id, req));
        if chunk.len() >= CHUNK_LINES || bytes >= CHUNK_BYTES {
            taken += chunk.len();
            commit(ctx, batch, std::mem::take(&mut chunk)).await?;
            bytes = 0;
        }
    }
    taken += chunk.len();
    commit(ctx, batch, chunk).await?;
    // Every line is in: the job batch ends at the jobs it has (the count
    // validation made held it open until now).
    stop(ctx, batch).await?;
    Ok(taken)
}

/// Why a line of a batch that stopped early did not run.
fn unrun(expired: bool) -> Value {
    match expired {
        true => json!({"code": "batch_expired", "message": "the batch expired before this request ran"}),
        false => json!({"code": "batch_cancelled", "message": "the batch was cancelled before this request ran"}),
    }
}

/// One chunk of lines in one transaction: the chat lines' conversations and
/// messages, every line's job and row, and the jobs' membership of the
/// batch. Once the batch is cancelled (or expired), only the lines' rows,
/// each `batch_cancelled` (`batch_expired`): every line is accounted for.
async fn commit(ctx: &Ctx, batch: &BatchRow, chunk: Vec<(usize, String, ServiceResult<Request>)>) -> ServiceResult<()> {
    if chunk.is_empty() {
        return Ok(());
    }
    let unrun_rows = |expired: bool| -> Vec<_> {
        chunk
            .iter()
            .map(|(number, custom_id, _)| {
                (
                    bl::batch_id.eq(batch.id),
                    bl::line.eq(*number as i32),
                    bl::custom_id.eq(custom_id.clone()),
                    bl::job_id.eq(None::<Uuid>),
                    bl::error.eq(Some(unrun(expired))),
                )
            })
            .collect()
    };
    let (cancelled, expired) = (unrun_rows(false), unrun_rows(true));
    let (tenant, id) = (batch.tenant_id, batch.id);
    let (mut convs, mut messages, mut payloads, mut rows) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for (number, custom_id, req) in chunk {
        let (job_id, error) = match req {
            Err(e) => (None, Some(json!({"code": e.code.as_str(), "message": e.message}))),
            Ok(Request::Embed(args)) => {
                let job_id = Uuid::now_v7();
                payloads.push((job_id, &EmbedTexts::KIND, args.to_payload(), number));
                (Some(job_id), None)
            }
            Ok(Request::Chat(p)) => {
                let conv =
                    super::conversations::new_row(tenant, p.conversation(&format!("OpenAI batch line {number}")));
                let job_id = Uuid::now_v7();
                let turns = p.messages(conv.id, tenant, job_id);
                let turn = p.job(conv.id, turns.last().expect("prepare keeps a turn to answer").id);
                messages.extend(turns);
                convs.push(conv);
                payloads.push((job_id, &ChatTurn::KIND, turn.to_payload(), number));
                (Some(job_id), None)
            }
        };
        rows.push((
            bl::batch_id.eq(id),
            bl::line.eq(number as i32),
            bl::custom_id.eq(custom_id),
            bl::job_id.eq(job_id),
            bl::error.eq(error),
        ));
    }
    let keys: Vec<String> = payloads.iter().map(|(_, _, _, n)| format!("openai-batch:{id}:{n}")).collect();
    let settings = ctx.settings.clone();
    let mut conn = ctx.pool.get().await?;
    (*conn)
        .transaction::<_, ServiceError, _>(async |conn: &mut AsyncPgConnection| {
            let (status, expired_at): (String, Option<chrono::DateTime<Utc>>) =
                ob::table.find(id).select((ob::status, ob::expired_at)).for_update().first(conn).await?;
            if status != "in_progress" {
                let rows = if expired_at.is_some() { &expired } else { &cancelled };
                diesel::insert_into(bl::table).values(rows).on_conflict_do_nothing().execute(conn).await?;
                return Ok(());
            }
            let jobs: Vec<NewJob> = payloads
                .iter()
                .zip(&keys)
                .map(|((job_id, kind, payload, _), key)| NewJob {
                    id: *job_id,
                    priority: PRIORITY,
                    idempotency_key: Some(key),
                    ..crate::queue::queued(tenant, kind, payload)
                })
                .collect();
            super::conversations::insert_many(conn, &convs, &[]).await?;
            crate::queue::insert_many(conn, &jobs).await?;
            super::conversations::insert_many(conn, &[], &messages).await?;
            diesel::insert_into(bl::table).values(&rows).on_conflict_do_nothing().execute(conn).await?;
            let members: Vec<Uuid> = payloads.iter().map(|(job_id, ..)| *job_id).collect();
            batches::add_members(conn, &settings, id, &members).await?;
            Ok(())
        })
        .await?;
    for queue in ["chat", "embed", "maintenance"] {
        super::jobs::nudge(ctx, queue);
    }
    Ok(())
}

/// One line of the output as read back: the line's row and its job.
#[derive(QueryableByName)]
struct Answered {
    #[diesel(sql_type = Integer)]
    line: i32,
    #[diesel(sql_type = Text)]
    custom_id: String,
    #[diesel(sql_type = Nullable<SqlUuid>)]
    job_id: Option<Uuid>,
    #[diesel(sql_type = Nullable<Jsonb>)]
    error: Option<Value>,
    #[diesel(sql_type = Nullable<Text>)]
    status: Option<String>,
    #[diesel(sql_type = Nullable<Jsonb>)]
    result: Option<Value>,
    #[diesel(sql_type = Nullable<Text>)]
    error_code: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    error_message: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    model: Option<String>,
    #[diesel(sql_type = Nullable<Timestamptz>)]
    created_at: Option<chrono::DateTime<Utc>>,
}

impl Answered {
    /// The line in OpenAI's output format, and whether it succeeded.
    fn output(self, batch: Uuid, expired: bool) -> (Value, bool) {
        let id = match self.job_id {
            Some(job) => format!("batch_req_{}", job.simple()),
            None => format!("batch_req_{}_{}", batch.simple(), self.line),
        };
        let line = |response: Value, error: Value| json!({"id": id, "custom_id": self.custom_id, "response": response, "error": error});
        if let Some(error) = &self.error {
            return (line(Value::Null, error.clone()), false);
        }
        let (Some(job), Some(status)) = (self.job_id, self.status.as_deref()) else {
            return (line(Value::Null, json!({"code": "job_missing", "message": "the request's job is gone"})), false);
        };
        if status != "succeeded" {
            let code = match status {
                "cancelled" => unrun(expired)["code"].as_str().unwrap_or_default().to_string(),
                other => self.error_code.clone().unwrap_or_else(|| other.to_string()),
            };
            let message = self.error_message.clone().unwrap_or_else(|| format!("the request's job is {status}"));
            return (line(Value::Null, json!({"code": code, "message": message})), false);
        }
        let result = self.result.clone().unwrap_or(Value::Null);
        let body = match &self.model {
            Some(model) => {
                let created = self.created_at.map_or(0, |t| t.timestamp());
                json!(completions::completion_of(job, created, model, &result))
            }
            None => result,
        };
        (line(json!({"status_code": 200, "request_id": job.to_string(), "body": body}), Value::Null), true)
    }
}

/// Writes the output and error files of a batch whose jobs have all ended
/// and ends it: `completed`, or `cancelled` if it was cancelling, with its
/// `batch.completed` event (the `openai_batch_finish` job). Returns the
/// status it ends in.
pub async fn finish(ctx: &Ctx, tenant: Uuid, batch_id: Uuid) -> ServiceResult<String> {
    let batch = load(ctx, tenant, batch_id).await?;
    if ENDED.contains(&batch.status.as_str()) {
        return Ok(batch.status);
    }
    let mut conn = ctx.pool.get().await?;
    diesel::update(ob::table.find(batch_id).filter(ob::status.eq("in_progress")))
        .set((ob::status.eq("finalizing"), ob::finalizing_at.eq(Utc::now())))
        .execute(&mut conn)
        .await?;
    let (mut out, mut err) = (files::Scratch::new(ctx)?, files::Scratch::new(ctx)?);
    let expired = batch.expired_at.is_some();
    let (mut after, mut completed, mut failed) = (0, 0, 0);
    loop {
        let page: Vec<Answered> = diesel::sql_query(
            "SELECT l.line, l.custom_id, l.job_id, l.error, j.status, j.result, j.error_code, j.error_message, \
                    CASE WHEN j.kind = 'chat' THEN j.payload->>'model' END AS model, j.created_at \
             FROM openai_batch_lines l LEFT JOIN jobs j ON j.id = l.job_id \
             WHERE l.batch_id = $1 AND l.line > $2 ORDER BY l.line LIMIT 1000",
        )
        .bind::<SqlUuid, _>(batch_id)
        .bind::<Integer, _>(after)
        .load(&mut conn)
        .await?;
        let Some(last) = page.last().map(|a| a.line) else { break };
        after = last;
        for answered in page {
            let (line, ok) = answered.output(batch_id, expired);
            if ok {
                completed += 1;
                out.push(&line).await?;
            } else {
                failed += 1;
                err.push(&line).await?;
            }
        }
    }
    drop(conn);
    // The same ids on a second run: it replaces what a first one stored.
    let output = out.store(ctx, tenant, Uuid::new_v5(&batch_id, b"output")).await?;
    let errors = err.store(ctx, tenant, Uuid::new_v5(&batch_id, b"errors")).await?;
    let settings = ctx.settings.clone();
    let name = |kind: &str| format!("{}_{kind}.jsonl", wire_id(batch_id));
    let mut conn = ctx.pool.get().await?;
    let ended = (*conn)
        .transaction::<_, ServiceError, _>(async move |conn: &mut AsyncPgConnection| {
            let status: String = ob::table.find(batch_id).select(ob::status).for_update().first(conn).await?;
            if ENDED.contains(&status.as_str()) {
                return Ok(status);
            }
            let now = Utc::now();
            for (file, kind) in [(output, "output"), (errors, "error")] {
                if let Some((id, bytes)) = file {
                    diesel::delete(crate::db::schema::files::table.find(id)).execute(conn).await?;
                    files::insert(conn, tenant, id, files::OUTPUT_PURPOSE, &name(kind), bytes).await?;
                }
            }
            // A batch past its window was made `cancelling` by the expiry
            // sweep, with `expired_at` set: it ends `expired`.
            let cancelled = status == "cancelling" && !expired;
            let ended = match status.as_str() {
                "cancelling" if expired => "expired",
                "cancelling" => "cancelled",
                _ => "completed",
            };
            let row: BatchRow = diesel::update(ob::table.find(batch_id))
                .set((
                    ob::status.eq(ended),
                    ob::output_file_id.eq(output.map(|o| o.0)),
                    ob::error_file_id.eq(errors.map(|e| e.0)),
                    ob::total.eq(completed + failed),
                    ob::completed.eq(completed),
                    ob::failed.eq(failed),
                    ob::finalizing_at.eq(diesel::dsl::sql::<Nullable<Timestamptz>>("coalesce(finalizing_at, now())")),
                    ob::cancelled_at.eq(cancelled.then_some(now)),
                    ob::completed_at.eq((ended == "completed").then_some(now)),
                ))
                .returning(BatchRow::as_returning())
                .get_result(conn)
                .await?;
            let data = json!(row.view(None));
            crate::queue::outbox::record(conn, &settings, tenant, batches::EVENT, Some(batch_id), &data).await?;
            Ok(row.status)
        })
        .await?;
    super::jobs::dispatch_webhooks(ctx);
    Ok(ended)
}
