//! Tags: per-tenant labels for documents, with document counts.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;
use uuid::Uuid;

use super::Principal;
use crate::db::models::{DocumentTag, Tag};
use crate::db::schema::{document_tags as dt, documents as d, tags as t};
use crate::domain::Role;
use crate::error::{ErrorCode, ServiceError, ServiceResult};
use crate::Ctx;

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct TagView {
    pub id: Uuid,
    pub name: String,
    pub description: String,
    pub color: Option<String>,
    /// Documents carrying the tag.
    pub document_count: i64,
    pub created_at: DateTime<Utc>,
}

/// The body of `POST /v1/tags` and `PATCH /v1/tags/{id}`.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"name": "manuals", "description": "Product manuals", "color": "#1a2b3c"}))]
pub struct TagInput {
    #[schema(schema_with = crate::domain::spec::tag_name)]
    pub name: Option<String>,
    pub description: Option<String>,
    /// `#rrggbb`.
    #[schema(pattern = "^#[0-9a-fA-F]{6}$")]
    pub color: Option<String>,
}

fn check(input: &TagInput) -> ServiceResult<()> {
    if let Some(name) = &input.name {
        let ok = !name.trim().is_empty() && name.chars().count() <= 64 && !name.contains(',');
        if !ok {
            return Err(ServiceError::new(
                ErrorCode::InvalidPayload,
                "tag names are 1 to 64 characters, without commas",
            )
            .with_details(json!({"field": "name"})));
        }
    }
    if let Some(c) = &input.color {
        let ok = c.len() == 7 && c.starts_with('#') && c[1..].chars().all(|ch| ch.is_ascii_hexdigit());
        if !ok {
            return Err(ServiceError::new(ErrorCode::InvalidPayload, "color must look like #1a2b3c")
                .with_details(json!({"field": "color"})));
        }
    }
    Ok(())
}

fn not_found() -> ServiceError {
    ServiceError::new(ErrorCode::TagNotFound, "no such tag")
}

fn conflict(name: &str) -> ServiceError {
    ServiceError::new(ErrorCode::TagExists, format!("a tag named {name:?} exists"))
}

async fn views(conn: &mut AsyncPgConnection, rows: Vec<Tag>) -> ServiceResult<Vec<TagView>> {
    let ids: Vec<Uuid> = rows.iter().map(|r| r.id).collect();
    let counts: Vec<(Uuid, i64)> = dt::table
        .filter(dt::tag_id.eq_any(&ids))
        .group_by(dt::tag_id)
        .select((dt::tag_id, diesel::dsl::count_star()))
        .load(conn)
        .await?;
    Ok(rows
        .into_iter()
        .map(|r| TagView {
            document_count: counts.iter().find(|(id, _)| *id == r.id).map_or(0, |(_, n)| *n),
            id: r.id,
            name: r.name,
            description: r.description,
            color: r.color,
            created_at: r.created_at,
        })
        .collect())
}

pub async fn create(ctx: &Ctx, p: &Principal, input: TagInput) -> ServiceResult<TagView> {
    p.require(Role::User, "creating tags")?;
    check(&input)?;
    let name = input.name.clone().ok_or_else(|| {
        ServiceError::new(ErrorCode::InvalidPayload, "name is required").with_details(json!({"field": "name"}))
    })?;
    let mut conn = ctx.pool.get().await?;
    let row: Option<Tag> = diesel::insert_into(t::table)
        .values((
            t::id.eq(Uuid::now_v7()),
            t::tenant_id.eq(p.tenant_id),
            t::name.eq(name.trim()),
            t::description.eq(input.description.unwrap_or_default()),
            t::color.eq(input.color),
        ))
        .on_conflict((t::tenant_id, t::name))
        .do_nothing()
        .returning(Tag::as_returning())
        .get_result(&mut conn)
        .await
        .optional()?;
    let row = row.ok_or_else(|| conflict(&name))?;
    Ok(views(&mut conn, vec![row]).await?.remove(0))
}

pub async fn list(ctx: &Ctx, p: &Principal) -> ServiceResult<Vec<TagView>> {
    let mut conn = ctx.pool.get().await?;
    let rows: Vec<Tag> = t::table
        .filter(t::tenant_id.eq(p.tenant_id))
        .order(t::name.asc())
        .select(Tag::as_select())
        .load(&mut conn)
        .await?;
    views(&mut conn, rows).await
}

async fn load(conn: &mut AsyncPgConnection, p: &Principal, id: Uuid) -> ServiceResult<Tag> {
    t::table
        .filter(t::id.eq(id))
        .filter(t::tenant_id.eq(p.tenant_id))
        .select(Tag::as_select())
        .first(conn)
        .await
        .optional()?
        .ok_or_else(not_found)
}

pub async fn get(ctx: &Ctx, p: &Principal, id: Uuid) -> ServiceResult<TagView> {
    let mut conn = ctx.pool.get().await?;
    let row = load(&mut conn, p, id).await?;
    Ok(views(&mut conn, vec![row]).await?.remove(0))
}

pub async fn update(ctx: &Ctx, p: &Principal, id: Uuid, input: TagInput) -> ServiceResult<TagView> {
    p.require(Role::User, "changing tags")?;
    check(&input)?;
    let mut conn = ctx.pool.get().await?;
    let old = load(&mut conn, p, id).await?;
    let name = input.name.map(|n| n.trim().to_string()).unwrap_or(old.name);
    let row: Tag = diesel::update(t::table.find(id))
        .set((
            t::name.eq(&name),
            t::description.eq(input.description.unwrap_or(old.description)),
            t::color.eq(input.color.or(old.color)),
        ))
        .returning(Tag::as_returning())
        .get_result(&mut conn)
        .await
        .map_err(|e| match e {
            diesel::result::Error::DatabaseError(diesel::result::DatabaseErrorKind::UniqueViolation, _) => {
                conflict(&name)
            }
            other => other.into(),
        })?;
    Ok(views(&mut conn, vec![row]).await?.remove(0))
}

pub async fn delete(ctx: &Ctx, p: &Principal, id: Uuid) -> ServiceResult<()> {
    p.require(Role::User, "deleting tags")?;
    let mut conn = ctx.pool.get().await?;
    let n =
        diesel::delete(t::table.filter(t::id.eq(id)).filter(t::tenant_id.eq(p.tenant_id))).execute(&mut conn).await?;
    if n == 0 {
        return Err(not_found());
    }
    Ok(())
}

/// Finds the tenant's tags by name, creating missing ones.
pub(crate) async fn ensure_named(
    conn: &mut AsyncPgConnection,
    tenant_id: Uuid,
    names: &[String],
) -> QueryResult<Vec<Uuid>> {
    for name in names {
        diesel::insert_into(t::table)
            .values((t::id.eq(Uuid::now_v7()), t::tenant_id.eq(tenant_id), t::name.eq(name)))
            .on_conflict((t::tenant_id, t::name))
            .do_nothing()
            .execute(conn)
            .await?;
    }
    t::table.filter(t::tenant_id.eq(tenant_id)).filter(t::name.eq_any(names)).select(t::id).load(conn).await
}

/// Attaches (`attach = true`) or detaches a tag to/from one document of the
/// tenant. Both are idempotent.
pub async fn set_on_document(
    ctx: &Ctx,
    p: &Principal,
    document_id: Uuid,
    tag_id: Uuid,
    attach: bool,
) -> ServiceResult<()> {
    p.require(Role::User, "tagging documents")?;
    let mut conn = ctx.pool.get().await?;
    load(&mut conn, p, tag_id).await?;
    let owned: i64 = d::table
        .filter(d::id.eq(document_id))
        .filter(d::tenant_id.eq(p.tenant_id))
        .count()
        .get_result(&mut conn)
        .await?;
    if owned == 0 {
        return Err(ServiceError::new(ErrorCode::DocumentNotFound, "no such document"));
    }
    if attach {
        diesel::insert_into(dt::table)
            .values(DocumentTag { document_id, tag_id })
            .on_conflict_do_nothing()
            .execute(&mut conn)
            .await?;
    } else {
        diesel::delete(dt::table.filter(dt::document_id.eq(document_id)).filter(dt::tag_id.eq(tag_id)))
            .execute(&mut conn)
            .await?;
    }
    Ok(())
}

/// Tag names per document, for views.
pub(crate) async fn names_of(conn: &mut AsyncPgConnection, docs: &[Uuid]) -> QueryResult<Vec<(Uuid, String)>> {
    dt::table
        .inner_join(t::table)
        .filter(dt::document_id.eq_any(docs))
        .order(t::name.asc())
        .select((dt::document_id, t::name))
        .load(conn)
        .await
}
