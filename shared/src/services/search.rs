//! Search over a tenant's chunks: keyword (Postgres full text, `tsvector` +
//! GIN; any word, ranked by inverse document frequency), vector (the live
//! collection) and hybrid (both, fused with Reciprocal Rank Fusion), each
//! optionally re-ranked by the closest window of its best candidates
//! ([`super::rerank`]). This is the one search that the API's
//! `POST /v1/search` (through a `search` job on the vector owner), chat
//! retrieval and the `knowledge_search` tool call.
//!
//! Filters are resolved in Postgres, the source of truth: tags and
//! metadata as they are now, not as they were when a chunk was embedded.
//! Every hit is read back from Postgres, so a deleted document is never
//! returned, even before its vectors are purged.

use std::collections::HashMap;
use std::time::Duration;

use diesel::prelude::*;
use diesel::sql_types::{Array, BigInt, Bool, Float4, Int4, Nullable, Text, Uuid as SqlUuid};
use diesel::QueryableByName;
use diesel_async::RunQueryDsl;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;
use uuid::Uuid;

use super::Principal;
use crate::db::models::Job;
use crate::db::schema::{document_tags as dt, documents as d, tags as t};
use crate::domain::Role;
use crate::error::{ErrorCode, ServiceError, ServiceResult};
use crate::vectors::{catalog, Filter, Vectors};
use crate::Ctx;

pub use crate::kinds::search::{validate, Mode, SearchFilters, SearchRequest, MAX_QUERY_CHARS, MAX_TOP_K};

/// What each part contributed to a hit.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct PartScores {
    /// Cosine similarity, when the vector part found it.
    pub vector: Option<f32>,
    pub vector_rank: Option<usize>,
    /// The keyword score (BM25-style, see `keyword_rows`), when the keyword
    /// part found it.
    pub keyword: Option<f32>,
    pub keyword_rank: Option<usize>,
    /// The best window's cosine, when the search re-ranked (`rerank`).
    pub rerank: Option<f32>,
}

/// One result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct SearchHit {
    pub chunk_id: Uuid,
    pub document_id: Uuid,
    pub title: String,
    pub page: i32,
    pub heading_path: Vec<String>,
    pub text: String,
    /// The ranking score: the re-ranking score with `rerank`, else the
    /// fused RRF score in hybrid mode, else the part's.
    pub score: f32,
    pub scores: PartScores,
}

/// The answer of a search.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct SearchResponse {
    pub mode: Mode,
    /// The live collection and its model (absent for keyword search).
    pub collection: Option<String>,
    pub model: Option<String>,
    pub results: Vec<SearchHit>,
}

/// Queues a `search` job for the vector owner; the caller waits for it.
pub async fn submit(ctx: &Ctx, p: &Principal, req: &SearchRequest) -> ServiceResult<Job> {
    p.require(Role::Viewer, "searching")?;
    validate(req)?;
    super::jobs::enqueue(ctx, p.tenant_id, req).await
}

/// Submits a search and waits up to `wait` for it.
pub async fn submit_and_wait(ctx: &Ctx, p: &Principal, req: &SearchRequest, wait: Duration) -> ServiceResult<Job> {
    let job = submit(ctx, p, req).await?;
    super::waiting::wait_for(ctx, p, job.id, wait).await
}

/// A search asked from inside a job (chat retrieval, `knowledge_search`):
/// run here when this process may use the vector store, else handed to
/// the vector owner as a `search` job and waited for, at most
/// `vectors.search_wait_ms`. That hop is what lets `chat` and `tool` run on
/// any number of workers beside one owner of the embedded engine.
pub async fn find(ctx: &Ctx, tenant: Uuid, req: &SearchRequest) -> ServiceResult<SearchResponse> {
    let started = std::time::Instant::now();
    let (path, found) = match ctx.vectors.as_ref() {
        Some(vectors) => ("direct", run(ctx, vectors, tenant, req).await),
        None => ("job", through_job(ctx, tenant, req).await),
    };
    ctx.metrics.search_seconds.with_label_values(&[path]).observe(started.elapsed().as_secs_f64());
    found
}

/// [`find`] on a process without the store: a `search` job, waited for.
async fn through_job(ctx: &Ctx, tenant: Uuid, req: &SearchRequest) -> ServiceResult<SearchResponse> {
    validate(req)?;
    let queued = super::jobs::enqueue(ctx, tenant, req).await?;
    let wait = Duration::from_millis(ctx.settings.vectors.search_wait_ms);
    let job = super::waiting::wait_internal(ctx, tenant, queued.id, wait).await?;
    let unavailable = |why: String| ServiceError::new(ErrorCode::Unavailable, format!("search job {}: {why}", job.id));
    match (job.status, job.result) {
        (crate::domain::JobStatus::Succeeded, Some(result)) => {
            serde_json::from_value(result).map_err(|e| unavailable(format!("unreadable result: {e}")))
        }
        (status, _) if !status.is_terminal() => Err(unavailable(format!("not done after {wait:?}"))),
        (status, _) => Err(unavailable(format!(
            "ended {}: {} {}",
            status.as_str(),
            job.error_code.unwrap_or_default(),
            job.error_message.unwrap_or_default()
        ))),
    }
}

/// The tenant's documents that the filters allow; `None` when there are
/// no filters (all documents).
async fn allowed_documents(ctx: &Ctx, tenant: Uuid, f: &SearchFilters) -> ServiceResult<Option<Vec<Uuid>>> {
    if f.tags.is_empty() && f.document_ids.is_empty() && f.metadata.is_empty() {
        return Ok(None);
    }
    let mut q = d::table.filter(d::tenant_id.eq(tenant)).select(d::id).into_boxed();
    if !f.document_ids.is_empty() {
        q = q.filter(d::id.eq_any(f.document_ids.clone()));
    }
    if !f.tags.is_empty() {
        let tagged = dt::table
            .inner_join(t::table)
            .filter(t::tenant_id.eq(tenant))
            .filter(t::name.eq_any(f.tags.clone()))
            .select(dt::document_id);
        q = q.filter(d::id.eq_any(tagged));
    }
    if !f.metadata.is_empty() {
        let wanted = Value::Object(f.metadata.clone().into_iter().collect());
        q = q.filter(d::metadata.contains(wanted));
    }
    let mut conn = ctx.pool.get().await?;
    Ok(Some(q.load(&mut conn).await?))
}

#[derive(Debug, QueryableByName)]
struct Row {
    #[diesel(sql_type = SqlUuid)]
    chunk_id: Uuid,
    #[diesel(sql_type = SqlUuid)]
    document_id: Uuid,
    #[diesel(sql_type = Text)]
    title: String,
    #[diesel(sql_type = Int4)]
    page: i32,
    #[diesel(sql_type = Array<Text>)]
    heading_path: Vec<String>,
    #[diesel(sql_type = Text)]
    text: String,
    #[diesel(sql_type = Float4)]
    score: f32,
}

impl Row {
    fn hit(self, score: f32, scores: PartScores) -> SearchHit {
        SearchHit {
            chunk_id: self.chunk_id,
            document_id: self.document_id,
            title: self.title,
            page: self.page,
            heading_path: self.heading_path,
            text: self.text,
            score,
            scores,
        }
    }
}

/// The tenant's chunks that hold any of `query`'s words (stemmed, stop
/// words dropped), best first by a BM25-style score: each word weighs its
/// inverse document frequency among the tenant's chunks (so a rare code
/// such as `ZX-4471` outweighs common words), times `ts_rank` of the word
/// in the chunk (its frequency, normalised by the chunk's length). A
/// question need not contain every word of its passage. Web-search syntax
/// (`"a phrase"`, `or`, `-word`), when used, must match as written.
/// Within `docs` when given. The weighted words are `MATERIALIZED`: before
/// the chunks of a fresh upload have statistics, the planner would
/// otherwise count each word's chunks again for every candidate (480 ms
/// instead of 10 on a thousand chunks).
async fn keyword_rows(
    ctx: &Ctx,
    tenant: Uuid,
    query: &str,
    docs: Option<&[Uuid]>,
    limit: i64,
) -> ServiceResult<Vec<Row>> {
    let mut conn = ctx.pool.get().await?;
    Ok(diesel::sql_query(
        "WITH terms AS ( \
             SELECT DISTINCT t::tsquery AS tq \
             FROM unnest(string_to_array(plainto_tsquery('english', $2)::text, ' & ')) t WHERE t <> ''), \
         total AS ( \
             SELECT greatest(coalesce(sum(chunk_count), 0), 1)::float8 AS n FROM documents WHERE tenant_id = $1), \
         weighted AS MATERIALIZED ( \
             SELECT tq, ln(1 + (total.n - least(df.n, total.n) + 0.5) / (df.n + 0.5)) AS idf \
             FROM terms, total, LATERAL ( \
                 SELECT count(*)::float8 AS n FROM ( \
                     SELECT 1 FROM chunks WHERE tenant_id = $1 AND tsv @@ tq LIMIT 50000) s) df), \
         scored AS ( \
             SELECT c.id, sum(w.idf * ts_rank(c.tsv, w.tq, 1)) AS score \
             FROM chunks c JOIN weighted w ON c.tsv @@ w.tq \
             WHERE c.tenant_id = $1 AND ($4::uuid[] IS NULL OR c.document_id = ANY($4)) \
               AND (NOT $5 OR c.tsv @@ websearch_to_tsquery('english', $2)) \
             GROUP BY c.id ORDER BY score DESC, c.id LIMIT $3) \
         SELECT c.id AS chunk_id, c.document_id, d.title, c.page_no AS page, c.heading_path, c.text, \
                s.score::real AS score \
         FROM scored s JOIN chunks c ON c.id = s.id JOIN documents d ON d.id = c.document_id \
         ORDER BY s.score DESC, c.id",
    )
    .bind::<SqlUuid, _>(tenant)
    .bind::<Text, _>(query)
    .bind::<BigInt, _>(limit)
    .bind::<Nullable<Array<SqlUuid>>, _>(docs.map(|d| d.to_vec()))
    .bind::<Bool, _>(uses_operators(query))
    .load(&mut conn)
    .await?)
}

/// Whether `query` uses web-search syntax: a quoted phrase, `or`, or a
/// word excluded with a leading `-`.
fn uses_operators(query: &str) -> bool {
    query.contains('"')
        || query.split_whitespace().any(|w| w.eq_ignore_ascii_case("or") || (w.len() > 1 && w.starts_with('-')))
}

/// Keyword search alone (works before any embedding exists).
pub async fn keyword(
    ctx: &Ctx,
    tenant: Uuid,
    query: &str,
    docs: Option<&[Uuid]>,
    limit: usize,
) -> ServiceResult<Vec<SearchHit>> {
    let rows = keyword_rows(ctx, tenant, query, docs, limit as i64).await?;
    Ok(rows
        .into_iter()
        .enumerate()
        .map(|(i, r)| {
            let s = r.score;
            r.hit(s, PartScores { keyword: Some(s), keyword_rank: Some(i + 1), ..Default::default() })
        })
        .collect())
}

/// The chunks `ids` of the tenant, as stored now (deleted ones are absent).
async fn chunk_rows(ctx: &Ctx, tenant: Uuid, ids: &[Uuid]) -> ServiceResult<HashMap<Uuid, Row>> {
    let mut conn = ctx.pool.get().await?;
    let rows: Vec<Row> = diesel::sql_query(
        "SELECT c.id AS chunk_id, c.document_id, d.title, c.page_no AS page, c.heading_path, c.text, \
                0::real AS score \
         FROM chunks c JOIN documents d ON d.id = c.document_id \
         WHERE c.tenant_id = $1 AND c.id = ANY($2)",
    )
    .bind::<SqlUuid, _>(tenant)
    .bind::<Array<SqlUuid>, _>(ids.to_vec())
    .load(&mut conn)
    .await?;
    Ok(rows.into_iter().map(|r| (r.chunk_id, r)).collect())
}

/// Runs a search where the vector store is at hand (the vector owner).
pub async fn run(ctx: &Ctx, vectors: &Vectors, tenant: Uuid, req: &SearchRequest) -> ServiceResult<SearchResponse> {
    validate(req)?;
    let mode = serde_json::to_value(req.mode).ok().and_then(|v| v.as_str().map(String::from)).unwrap_or_default();
    ctx.metrics.searches.with_label_values(&[&mode]).inc();
    let top_k = req.top_k.unwrap_or(10);
    let docs = allowed_documents(ctx, tenant, &req.filters).await?;
    if docs.as_ref().is_some_and(Vec::is_empty) {
        return Ok(SearchResponse { mode: req.mode, collection: None, model: None, results: Vec::new() });
    }
    if req.mode == Mode::Keyword && !req.rerank {
        let results = keyword(ctx, tenant, &req.query, docs.as_deref(), top_k).await?;
        return Ok(SearchResponse { mode: req.mode, collection: None, model: None, results });
    }
    let mut candidates = if req.mode == Mode::Hybrid { (top_k * 4).max(40) } else { top_k };
    let rerank_depth = ctx.settings.vectors.rerank_depth.clamp(top_k, MAX_TOP_K);
    if req.rerank {
        candidates = candidates.max(rerank_depth);
    }
    let keyword_rows = match req.mode {
        Mode::Hybrid | Mode::Keyword => {
            keyword_rows(ctx, tenant, &req.query, docs.as_deref(), candidates as i64).await?
        }
        Mode::Vector => Vec::new(),
    };
    let live = {
        let mut conn = ctx.pool.get().await?;
        catalog::live(&mut conn).await?
    };
    let live = match live {
        Some(c) => c,
        None => catalog::ensure_live(&ctx.pool, &ctx.settings.embed, vectors).await?,
    };
    let embedder = super::indexing::embedder_for(ctx, &live).await?;
    let (mut qv, _) = super::embeddings::embed_cached(ctx, tenant, &embedder, std::slice::from_ref(&req.query)).await?;
    let query_vector = qv.remove(0);
    let filter = Filter { tenant_id: Some(tenant), document_ids: docs, ..Filter::default() };
    let vector_hits = match req.mode {
        // Keyword search reaches here only to re-rank.
        Mode::Keyword => Vec::new(),
        _ => vectors
            .search(&live.name, query_vector.clone(), &filter, candidates)
            .await
            .map_err(|e| ServiceError::new(ErrorCode::Unavailable, e.to_string()))?,
    };

    // Part scores by chunk, then fuse (RRF) or keep the one part's order.
    let mut parts: HashMap<Uuid, PartScores> = HashMap::new();
    for (i, h) in vector_hits.iter().enumerate() {
        let e = parts.entry(h.id).or_default();
        (e.vector, e.vector_rank) = (Some(h.score), Some(i + 1));
    }
    for (i, r) in keyword_rows.iter().enumerate() {
        let e = parts.entry(r.chunk_id).or_default();
        (e.keyword, e.keyword_rank) = (Some(r.score), Some(i + 1));
    }
    let k = ctx.settings.vectors.rrf_k;
    let rrf =
        |p: &PartScores| [p.vector_rank, p.keyword_rank].iter().flatten().map(|r| 1.0 / (k + *r as f32)).sum::<f32>();
    let mut ranked: Vec<(Uuid, f32, PartScores)> = parts
        .into_iter()
        .map(|(id, p)| {
            let score = match req.mode {
                Mode::Hybrid => rrf(&p),
                Mode::Vector => p.vector.unwrap_or(0.0),
                Mode::Keyword => p.keyword.unwrap_or(0.0),
            };
            (id, score, p)
        })
        .collect();
    // Ties go to hits both parts found, then to the keyword part.
    ranked.sort_by(|a, b| {
        b.1.total_cmp(&a.1)
            .then_with(|| b.2.keyword_rank.is_some().cmp(&a.2.keyword_rank.is_some()))
            .then_with(|| a.0.cmp(&b.0))
    });
    let ids: Vec<Uuid> = ranked.iter().map(|r| r.0).collect();
    let mut rows = chunk_rows(ctx, tenant, &ids).await?;
    let depth = if req.rerank { rerank_depth } else { top_k };
    let mut results: Vec<SearchHit> =
        ranked.into_iter().filter_map(|(id, score, p)| rows.remove(&id).map(|r| r.hit(score, p))).take(depth).collect();
    if req.rerank {
        let texts: Vec<&str> = results.iter().map(|h| h.text.as_str()).collect();
        let words = ctx.settings.vectors.rerank_window_words;
        let scores = super::rerank::scores(ctx, tenant, &embedder, &query_vector, &texts, words).await?;
        for (h, s) in results.iter_mut().zip(scores) {
            (h.score, h.scores.rerank) = (s, Some(s));
        }
        // A stable sort: equal scores keep the fused order.
        results.sort_by(|a, b| b.score.total_cmp(&a.score));
        results.truncate(top_k);
    }
    Ok(SearchResponse { mode: req.mode, collection: Some(live.name), model: Some(live.model_id), results })
}
