//! Keyword search over chunks (Postgres full text: `tsvector` + GIN), which
//! works as soon as a document is chunked, before any embedding exists.

use diesel::sql_types::{Array, BigInt, Float4, Int4, Text, Uuid as SqlUuid};
use diesel::QueryableByName;
use diesel_async::RunQueryDsl;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::error::ServiceResult;
use crate::Ctx;

/// One matching chunk.
#[derive(Debug, Clone, Serialize, Deserialize, QueryableByName, ToSchema)]
pub struct Hit {
    #[diesel(sql_type = SqlUuid)]
    pub chunk_id: Uuid,
    #[diesel(sql_type = SqlUuid)]
    pub document_id: Uuid,
    #[diesel(sql_type = Int4)]
    pub page: i32,
    #[diesel(sql_type = Array<Text>)]
    pub heading_path: Vec<String>,
    #[diesel(sql_type = Text)]
    pub text: String,
    #[diesel(sql_type = Float4)]
    pub score: f32,
}

/// The tenant's chunks matching `query` (web-search syntax), best first.
pub async fn keyword(ctx: &Ctx, tenant: Uuid, query: &str, limit: i64) -> ServiceResult<Vec<Hit>> {
    let mut conn = ctx.pool.get().await?;
    Ok(diesel::sql_query(
        "SELECT c.id AS chunk_id, c.document_id, c.page_no AS page, c.heading_path, c.text, \
                ts_rank(c.tsv, q) AS score \
         FROM chunks c, websearch_to_tsquery('english', $2) q \
         WHERE c.tenant_id = $1 AND c.tsv @@ q \
         ORDER BY score DESC, c.id LIMIT $3",
    )
    .bind::<SqlUuid, _>(tenant)
    .bind::<Text, _>(query)
    .bind::<BigInt, _>(limit)
    .load(&mut conn)
    .await?)
}
