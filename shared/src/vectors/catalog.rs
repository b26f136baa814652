//! Which vector collection is live, in Postgres (the source of truth; the
//! engine's alias follows it). A collection is named from its model and
//! dimension, so a new model never meets an old dimension: a reindex builds
//! a `building` collection beside the `live` one, every write goes to both
//! until the swap, and searches read the live one throughout.

use chrono::Utc;
use diesel::prelude::*;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use super::{Vectors, ALIAS};
use crate::config::EmbedSettings;
use crate::db::schema::vector_collections as vc;
use crate::db::DbPool;
use crate::error::{ErrorCode, ServiceError, ServiceResult};

/// A row of `vector_collections`.
pub use crate::db::models::VectorCollection as Collection;

/// The collection name of a model: `chunks-<model>-<dimension>`, lower
/// case, other characters as `_`.
pub fn collection_name(model_id: &str, dimension: usize) -> String {
    let slug: String = model_id
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '.' { c.to_ascii_lowercase() } else { '_' })
        .collect();
    format!("chunks-{slug}-{dimension}")
}

/// The live collection, if any.
pub async fn live(conn: &mut AsyncPgConnection) -> ServiceResult<Option<Collection>> {
    Ok(vc::table.filter(vc::state.eq("live")).select(Collection::as_select()).first(conn).await.optional()?)
}

/// Where chunk vectors are written: the live collection and the one a
/// reindex is building.
pub async fn write_targets(conn: &mut AsyncPgConnection) -> ServiceResult<Vec<Collection>> {
    Ok(vc::table
        .filter(vc::state.eq_any(["live", "building"]))
        .order(vc::state.desc())
        .select(Collection::as_select())
        .load(conn)
        .await?)
}

/// The live collection, creating one for the configured model on first use.
pub async fn ensure_live(pool: &DbPool, embed: &EmbedSettings, vectors: &Vectors) -> ServiceResult<Collection> {
    let mut conn = pool.get().await?;
    if let Some(c) = live(&mut conn).await? {
        vectors.create_collection(&c.name, c.dimension as usize).await.map_err(ServiceError::internal)?;
        return Ok(c);
    }
    let model_id = embed.model_id.clone();
    let embedder =
        crate::embed::load_model(embed, &model_id).await.map_err(|e| ServiceError::new(ErrorCode::Unavailable, e))?;
    let name = collection_name(&model_id, embedder.dimension);
    vectors.create_collection(&name, embedder.dimension).await.map_err(ServiceError::internal)?;
    diesel::insert_into(vc::table)
        .values((
            vc::name.eq(&name),
            vc::model_id.eq(&model_id),
            vc::dimension.eq(embedder.dimension as i32),
            vc::state.eq("live"),
        ))
        .on_conflict_do_nothing()
        .execute(&mut conn)
        .await?;
    let c = live(&mut conn).await?.ok_or_else(|| ServiceError::internal("no live vector collection"))?;
    vectors.set_alias(ALIAS, &c.name).await.map_err(ServiceError::internal)?;
    Ok(c)
}

/// Registers `name` as the collection a reindex (job `job_id`) builds.
/// Taking over one that the same job or model already started is allowed
/// (a retried reindex resumes); another model's build is refused.
pub async fn begin_build(
    conn: &mut AsyncPgConnection,
    name: &str,
    model_id: &str,
    dimension: usize,
    job_id: Uuid,
) -> ServiceResult<Collection> {
    let (name, model_id) = (name.to_string(), model_id.to_string());
    conn.transaction::<_, ServiceError, _>(async move |conn: &mut AsyncPgConnection| {
        let current: Option<Collection> =
            vc::table.filter(vc::state.eq("building")).select(Collection::as_select()).first(conn).await.optional()?;
        if let Some(c) = current {
            if c.name != name {
                return Err(ServiceError::new(
                    ErrorCode::ReindexInProgress,
                    format!("a reindex to {} is in progress", c.model_id),
                ));
            }
        }
        diesel::insert_into(vc::table)
            .values((
                vc::name.eq(&name),
                vc::model_id.eq(&model_id),
                vc::dimension.eq(dimension as i32),
                vc::state.eq("building"),
                vc::job_id.eq(job_id),
            ))
            .on_conflict(vc::name)
            .do_update()
            .set((vc::state.eq("building"), vc::job_id.eq(job_id), vc::updated_at.eq(Utc::now())))
            .execute(conn)
            .await?;
        Ok(vc::table.find(&name).select(Collection::as_select()).first(conn).await?)
    })
    .await
}

/// Makes the building collection `name` live and retires the old live one,
/// in one transaction; returns the retired collection.
pub async fn swap(conn: &mut AsyncPgConnection, name: &str) -> ServiceResult<Option<Collection>> {
    let name = name.to_string();
    conn.transaction::<_, ServiceError, _>(async move |conn: &mut AsyncPgConnection| {
        let old: Option<Collection> = diesel::update(vc::table.filter(vc::state.eq("live")).filter(vc::name.ne(&name)))
            .set((vc::state.eq("retired"), vc::updated_at.eq(Utc::now())))
            .returning(Collection::as_returning())
            .get_result(conn)
            .await
            .optional()?;
        diesel::update(vc::table.find(&name))
            .set((vc::state.eq("live"), vc::updated_at.eq(Utc::now())))
            .execute(conn)
            .await?;
        Ok(old)
    })
    .await
}

/// Forgets a retired collection once the engine dropped it.
pub async fn forget(conn: &mut AsyncPgConnection, name: &str) -> ServiceResult<()> {
    diesel::delete(vc::table.find(name).filter(vc::state.eq("retired"))).execute(conn).await?;
    Ok(())
}
