//! Providers and model aliases managed through the admin API
//! (`/v1/admin/llm/...`), per tenant, beside the configured ones. API keys
//! are encrypted at rest ([`crate::secrets`]) and never shown again: a view
//! says only whether a key is set and its last four characters.
//!
//! [`tenant_settings`] merges the configuration with a tenant's rows; the
//! chat job builds its registry from that (see [`crate::llm::catalog`]).

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;
use uuid::Uuid;

use super::audit::audited;
use super::Principal;
use crate::config::{LlmSettings, ModelSettings, ProviderSettings};
use crate::db::models::{LlmModel as ModelRow, LlmProvider as ProviderRow};
use crate::db::schema::{llm_models as lm, llm_providers as lp};
use crate::domain::Role;
use crate::error::{ErrorCode, ServiceError, ServiceResult};
use crate::Ctx;

const KINDS: &[&str] = &["openai", "anthropic", "gemini"];

/// Where a provider or model comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    /// The configuration file or environment; read-only here.
    Config,
    /// This API.
    Api,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ProviderView {
    pub name: String,
    /// `openai` (any OpenAI-compatible server), `anthropic` or `gemini`.
    pub kind: String,
    pub base_url: String,
    pub timeout_ms: u64,
    pub api_key_set: bool,
    /// The key's last four characters, to tell keys apart.
    pub api_key_hint: Option<String>,
    pub source: Source,
    pub updated_at: Option<DateTime<Utc>>,
}

/// The body of `POST` (all but `api_key` required) and `PATCH` (any subset;
/// `api_key: ""` removes the key).
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProviderInput {
    #[schema(schema_with = crate::domain::spec::optional_name)]
    pub name: Option<String>,
    #[schema(schema_with = provider_kind)]
    pub kind: Option<String>,
    pub base_url: Option<String>,
    #[schema(max_length = 4096)]
    pub api_key: Option<String>,
    #[schema(minimum = 100, maximum = 600000)]
    pub timeout_ms: Option<u64>,
}

fn provider_kind() -> utoipa::openapi::Object {
    crate::domain::spec::optional_one_of(KINDS)
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ModelView {
    pub alias: String,
    pub provider: String,
    /// The provider's name for the model.
    pub name: String,
    pub context_tokens: u32,
    pub input_usd_per_mtok: f64,
    pub output_usd_per_mtok: f64,
    pub fallbacks: Vec<String>,
    pub source: Source,
    pub updated_at: Option<DateTime<Utc>>,
}

/// The body of `POST` (`alias`, `provider`, `name` required) and `PATCH`.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ModelInput {
    #[schema(schema_with = crate::domain::spec::optional_name)]
    pub alias: Option<String>,
    pub provider: Option<String>,
    #[schema(min_length = 1, max_length = 200)]
    pub name: Option<String>,
    #[schema(minimum = 256, maximum = 10000000)]
    pub context_tokens: Option<u32>,
    #[schema(minimum = 0)]
    pub input_usd_per_mtok: Option<f64>,
    #[schema(minimum = 0)]
    pub output_usd_per_mtok: Option<f64>,
    pub fallbacks: Option<Vec<String>>,
}

/// What a stored key is bound to: its tenant and provider.
fn key_context(tenant: Uuid, provider: &str) -> String {
    format!("llm_providers/{tenant}/{provider}")
}

fn provider_view(r: ProviderRow) -> ProviderView {
    ProviderView {
        name: r.name,
        kind: r.kind,
        base_url: r.base_url,
        timeout_ms: r.timeout_ms.max(0) as u64,
        api_key_set: r.api_key_encrypted.is_some(),
        api_key_hint: r.api_key_hint,
        source: Source::Api,
        updated_at: Some(r.updated_at),
    }
}

fn config_provider_view(name: &str, p: &ProviderSettings) -> ProviderView {
    ProviderView {
        name: name.into(),
        kind: p.kind.clone(),
        base_url: p.base_url.clone(),
        timeout_ms: p.timeout_ms,
        api_key_set: !p.api_key.is_empty(),
        api_key_hint: None,
        source: Source::Config,
        updated_at: None,
    }
}

fn model_view(r: ModelRow) -> ModelView {
    ModelView {
        alias: r.alias,
        provider: r.provider,
        name: r.name,
        context_tokens: r.context_tokens.max(0) as u32,
        input_usd_per_mtok: r.input_usd_per_mtok,
        output_usd_per_mtok: r.output_usd_per_mtok,
        fallbacks: r.fallbacks,
        source: Source::Api,
        updated_at: Some(r.updated_at),
    }
}

fn config_model_view(alias: &str, m: &ModelSettings) -> ModelView {
    ModelView {
        alias: alias.into(),
        provider: m.provider.clone(),
        name: m.name.clone(),
        context_tokens: m.context_tokens,
        input_usd_per_mtok: m.input_usd_per_mtok,
        output_usd_per_mtok: m.output_usd_per_mtok,
        fallbacks: m.fallbacks.clone(),
        source: Source::Config,
        updated_at: None,
    }
}

/// Names of providers, models, MCP servers and agents: 1 to 64 of a-z,
/// 0-9, `.`, `_` and `-`, starting with a letter or digit.
pub(crate) fn check_name(field: &str, name: &str) -> ServiceResult<()> {
    let ok = (1..=64).contains(&name.len())
        && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "._-".contains(c))
        && name.chars().next().is_some_and(|c| c.is_ascii_alphanumeric());
    if ok {
        Ok(())
    } else {
        Err(ServiceError::invalid_field(field, format!("{field} is 1 to 64 of a-z, 0-9, '.', '_' and '-'")))
    }
}

fn taken(what: &str, name: &str) -> ServiceError {
    ServiceError::new(ErrorCode::LlmNameTaken, format!("{what} {name:?} already exists"))
        .with_details(json!({ "name": name }))
}

fn provider_not_found(name: &str) -> ServiceError {
    ServiceError::new(ErrorCode::LlmProviderNotFound, format!("no provider {name:?} was registered through the API"))
}

fn model_not_found(alias: &str) -> ServiceError {
    ServiceError::new(ErrorCode::LlmModelNotFound, format!("no model {alias:?} was registered through the API"))
}

async fn provider_rows(conn: &mut AsyncPgConnection, tenant: Uuid) -> QueryResult<Vec<ProviderRow>> {
    lp::table.filter(lp::tenant_id.eq(tenant)).order(lp::name).select(ProviderRow::as_select()).load(conn).await
}

async fn model_rows(conn: &mut AsyncPgConnection, tenant: Uuid) -> QueryResult<Vec<ModelRow>> {
    lm::table.filter(lm::tenant_id.eq(tenant)).order(lm::alias).select(ModelRow::as_select()).load(conn).await
}

/// The language-model registry of `tenant`: the configured one, or one that
/// also holds the tenant's own providers and models (rebuilt when a row
/// changes: a fingerprint of the rows is compared on every use).
pub async fn registry_for(
    ctx: &Ctx,
    conn: &mut AsyncPgConnection,
    tenant: Uuid,
) -> Result<std::sync::Arc<crate::llm::registry::Registry>, String> {
    let (fingerprint, settings) = tenant_settings(ctx, conn, tenant).await?;
    if settings.providers.len() == ctx.settings.llm.providers.len()
        && settings.models.len() == ctx.settings.llm.models.len()
    {
        return Ok(ctx.llm.clone());
    }
    ctx.llm_tenants.registry(tenant, fingerprint, &settings)
}

/// The configured settings with the tenant's providers and models added,
/// keys decrypted, and a fingerprint of the rows (changes whenever one does).
pub async fn tenant_settings(
    ctx: &Ctx,
    conn: &mut AsyncPgConnection,
    tenant: Uuid,
) -> Result<(u64, LlmSettings), String> {
    let providers = provider_rows(conn, tenant).await.map_err(|e| e.to_string())?;
    let models = model_rows(conn, tenant).await.map_err(|e| e.to_string())?;
    let mut fingerprint = std::hash::DefaultHasher::new();
    std::hash::Hash::hash(&(providers.len(), models.len()), &mut fingerprint);
    let mut settings = ctx.settings.llm.clone();
    for r in providers {
        std::hash::Hash::hash(&(&r.name, r.updated_at), &mut fingerprint);
        let api_key = match &r.api_key_encrypted {
            Some(stored) => ctx
                .secrets
                .decrypt(stored, &key_context(tenant, &r.name))
                .map_err(|e| format!("provider {}: API key: {e}", r.name))?,
            None => String::new(),
        };
        let p = ProviderSettings {
            kind: r.kind,
            base_url: r.base_url,
            api_key,
            timeout_ms: r.timeout_ms as u64,
            pinned: true,
        };
        settings.providers.insert(r.name, p);
    }
    for r in models {
        std::hash::Hash::hash(&(&r.alias, r.updated_at), &mut fingerprint);
        let m = ModelSettings {
            provider: r.provider,
            name: r.name,
            context_tokens: r.context_tokens as u32,
            input_usd_per_mtok: r.input_usd_per_mtok,
            output_usd_per_mtok: r.output_usd_per_mtok,
            fallbacks: r.fallbacks,
            tokenizer: String::new(),
        };
        settings.models.insert(r.alias, m);
    }
    Ok((std::hash::Hasher::finish(&fingerprint), settings))
}

/// Every model alias the tenant may name (configured and registered).
pub async fn aliases(ctx: &Ctx, tenant: Uuid) -> ServiceResult<Vec<String>> {
    let mut conn = ctx.pool.get().await?;
    let mut all: Vec<String> = ctx.settings.llm.models.keys().cloned().collect();
    all.extend(lm::table.filter(lm::tenant_id.eq(tenant)).select(lm::alias).load::<String>(&mut conn).await?);
    all.sort();
    Ok(all)
}

/// Configured providers, then the tenant's.
pub async fn list_providers(ctx: &Ctx, p: &Principal) -> ServiceResult<Vec<ProviderView>> {
    p.require(Role::Admin, "managing language-model providers")?;
    let mut conn = ctx.pool.get().await?;
    let mut out: Vec<_> = ctx.settings.llm.providers.iter().map(|(n, s)| config_provider_view(n, s)).collect();
    out.extend(provider_rows(&mut conn, p.tenant_id).await?.into_iter().map(provider_view));
    Ok(out)
}

async fn check_provider(ctx: &Ctx, i: &ProviderInput) -> ServiceResult<()> {
    if let Some(kind) = &i.kind {
        if !KINDS.contains(&kind.as_str()) {
            return Err(ServiceError::invalid_field("kind", "kind is openai, anthropic or gemini"));
        }
    }
    if let Some(url) = &i.base_url {
        crate::webhooks::check_url(url, &ctx.settings.webhooks, "base_url").await?;
    }
    if i.timeout_ms.is_some_and(|t| !(100..=600_000).contains(&t)) {
        return Err(ServiceError::invalid_field("timeout_ms", "timeout_ms is between 100 and 600000"));
    }
    if i.api_key.as_ref().is_some_and(|k| k.chars().count() > 4096) {
        return Err(ServiceError::invalid_field("api_key", "api_key is at most 4096 characters"));
    }
    Ok(())
}

/// The stored form of a key and its hint (`None` for no key).
fn seal(ctx: &Ctx, tenant: Uuid, provider: &str, key: &str) -> (Option<String>, Option<String>) {
    if key.is_empty() {
        return (None, None);
    }
    let hint: String = key.chars().rev().take(4).collect::<Vec<_>>().into_iter().rev().collect();
    (Some(ctx.secrets.encrypt(key, &key_context(tenant, provider))), Some(format!("…{hint}")))
}

pub async fn create_provider(ctx: &Ctx, p: &Principal, i: ProviderInput) -> ServiceResult<ProviderView> {
    p.require(Role::Admin, "managing language-model providers")?;
    let name = i.name.clone().ok_or_else(|| ServiceError::invalid_field("name", "name is required"))?;
    check_name("name", &name)?;
    let (Some(kind), Some(base_url)) = (i.kind.clone(), i.base_url.clone()) else {
        return Err(ServiceError::invalid_field("base_url", "kind and base_url are required"));
    };
    check_provider(ctx, &i).await?;
    if ctx.settings.llm.providers.contains_key(&name) {
        return Err(taken("provider", &name));
    }
    let (sealed, hint) = seal(ctx, p.tenant_id, &name, i.api_key.as_deref().unwrap_or(""));
    let (tenant, timeout_ms) = (p.tenant_id, i.timeout_ms.unwrap_or(ProviderSettings::default().timeout_ms) as i64);
    let selector = json!({"provider": name, "kind": kind, "base_url": base_url});
    audited(ctx, p, "llm.provider.create", selector, move |conn| {
        Box::pin(async move {
            let row = diesel::insert_into(lp::table)
                .values((
                    lp::tenant_id.eq(tenant),
                    lp::name.eq(&name),
                    lp::kind.eq(kind),
                    lp::base_url.eq(base_url),
                    lp::api_key_encrypted.eq(sealed),
                    lp::api_key_hint.eq(hint),
                    lp::timeout_ms.eq(timeout_ms),
                ))
                .on_conflict_do_nothing()
                .returning(ProviderRow::as_returning())
                .get_result::<ProviderRow>(conn)
                .await
                .optional()?;
            row.map(provider_view).ok_or_else(|| taken("provider", &name))
        })
    })
    .await
}

pub async fn get_provider(ctx: &Ctx, p: &Principal, name: &str) -> ServiceResult<ProviderView> {
    p.require(Role::Admin, "managing language-model providers")?;
    if let Some(s) = ctx.settings.llm.providers.get(name) {
        return Ok(config_provider_view(name, s));
    }
    let mut conn = ctx.pool.get().await?;
    let row = lp::table
        .find((p.tenant_id, name))
        .select(ProviderRow::as_select())
        .first::<ProviderRow>(&mut conn)
        .await
        .optional()?;
    row.map(provider_view).ok_or_else(|| provider_not_found(name))
}

pub async fn update_provider(ctx: &Ctx, p: &Principal, name: &str, i: ProviderInput) -> ServiceResult<ProviderView> {
    p.require(Role::Admin, "managing language-model providers")?;
    if i.name.as_ref().is_some_and(|n| n != name) {
        return Err(ServiceError::invalid_field("name", "a provider cannot be renamed"));
    }
    check_provider(ctx, &i).await?;
    let mut conn = ctx.pool.get().await?;
    let Some(old) = lp::table
        .find((p.tenant_id, name))
        .select(ProviderRow::as_select())
        .first::<ProviderRow>(&mut conn)
        .await
        .optional()?
    else {
        return Err(provider_not_found(name));
    };
    drop(conn);
    let (sealed, hint) = match &i.api_key {
        Some(key) => seal(ctx, p.tenant_id, name, key),
        None => (old.api_key_encrypted, old.api_key_hint),
    };
    let key = (p.tenant_id, name.to_string());
    let selector =
        json!({"provider": name, "kind": i.kind, "base_url": i.base_url, "api_key_changed": i.api_key.is_some()});
    audited(ctx, p, "llm.provider.update", selector, move |conn| {
        Box::pin(async move {
            let row = diesel::update(lp::table.find(key))
                .set((
                    lp::kind.eq(i.kind.unwrap_or(old.kind)),
                    lp::base_url.eq(i.base_url.unwrap_or(old.base_url)),
                    lp::api_key_encrypted.eq(sealed),
                    lp::api_key_hint.eq(hint),
                    lp::timeout_ms.eq(i.timeout_ms.map(|t| t as i64).unwrap_or(old.timeout_ms)),
                    lp::updated_at.eq(Utc::now()),
                ))
                .returning(ProviderRow::as_returning())
                .get_result::<ProviderRow>(conn)
                .await?;
            Ok(provider_view(row))
        })
    })
    .await
}

/// Deletes a provider no registered model uses.
pub async fn delete_provider(ctx: &Ctx, p: &Principal, name: &str) -> ServiceResult<()> {
    p.require(Role::Admin, "managing language-model providers")?;
    let (tenant, name) = (p.tenant_id, name.to_string());
    audited(ctx, p, "llm.provider.delete", json!({"provider": name}), move |conn| {
        Box::pin(async move {
            let users: Vec<String> = lm::table
                .filter(lm::tenant_id.eq(tenant))
                .filter(lm::provider.eq(&name))
                .select(lm::alias)
                .load(conn)
                .await?;
            if !users.is_empty() {
                let message = format!("models {users:?} use provider {name:?}");
                return Err(
                    ServiceError::new(ErrorCode::LlmProviderInUse, message).with_details(json!({ "models": users }))
                );
            }
            let n = diesel::delete(lp::table.find((tenant, &name))).execute(conn).await?;
            if n == 0 {
                return Err(provider_not_found(&name));
            }
            Ok(())
        })
    })
    .await
}

pub async fn list_models(ctx: &Ctx, p: &Principal) -> ServiceResult<Vec<ModelView>> {
    p.require(Role::Admin, "managing language models")?;
    let mut conn = ctx.pool.get().await?;
    let mut out: Vec<_> = ctx.settings.llm.models.iter().map(|(a, m)| config_model_view(a, m)).collect();
    out.extend(model_rows(&mut conn, p.tenant_id).await?.into_iter().map(model_view));
    Ok(out)
}

/// Checks the parts of a model that refer to others: its provider and
/// fallbacks must exist for this tenant.
async fn check_model(ctx: &Ctx, conn: &mut AsyncPgConnection, tenant: Uuid, m: &ModelView) -> ServiceResult<()> {
    if m.name.is_empty() || m.name.chars().count() > 200 {
        return Err(ServiceError::invalid_field("name", "name is 1 to 200 characters"));
    }
    if !(256..=10_000_000).contains(&m.context_tokens) {
        return Err(ServiceError::invalid_field("context_tokens", "context_tokens is between 256 and 10000000"));
    }
    let prices = [m.input_usd_per_mtok, m.output_usd_per_mtok];
    if prices.iter().any(|p| !p.is_finite() || *p < 0.0) {
        return Err(ServiceError::invalid_field("input_usd_per_mtok", "prices are finite and not negative"));
    }
    let provider_known = ctx.settings.llm.providers.contains_key(&m.provider)
        || lp::table.find((tenant, &m.provider)).select(lp::name).first::<String>(conn).await.optional()?.is_some();
    if !provider_known {
        return Err(ServiceError::invalid_field("provider", format!("unknown provider {:?}", m.provider)));
    }
    let known = aliases(ctx, tenant).await?;
    if let Some(missing) = m.fallbacks.iter().find(|f| !known.contains(f) || **f == m.alias) {
        return Err(ServiceError::invalid_field(
            "fallbacks",
            format!("fallback {missing:?} is not another known model"),
        ));
    }
    Ok(())
}

pub async fn create_model(ctx: &Ctx, p: &Principal, i: ModelInput) -> ServiceResult<ModelView> {
    p.require(Role::Admin, "managing language models")?;
    let alias = i.alias.clone().ok_or_else(|| ServiceError::invalid_field("alias", "alias is required"))?;
    check_name("alias", &alias)?;
    if ctx.settings.llm.models.contains_key(&alias) {
        return Err(taken("model", &alias));
    }
    let defaults = ModelSettings::default();
    let m = ModelView {
        alias: alias.clone(),
        provider: i.provider.ok_or_else(|| ServiceError::invalid_field("provider", "provider is required"))?,
        name: i.name.ok_or_else(|| ServiceError::invalid_field("name", "name is required"))?,
        context_tokens: i.context_tokens.unwrap_or(defaults.context_tokens),
        input_usd_per_mtok: i.input_usd_per_mtok.unwrap_or(0.0),
        output_usd_per_mtok: i.output_usd_per_mtok.unwrap_or(0.0),
        fallbacks: i.fallbacks.unwrap_or_default(),
        source: Source::Api,
        updated_at: None,
    };
    let mut conn = ctx.pool.get().await?;
    check_model(ctx, &mut conn, p.tenant_id, &m).await?;
    drop(conn);
    let tenant = p.tenant_id;
    let selector = json!({"model": alias, "provider": m.provider, "name": m.name});
    audited(ctx, p, "llm.model.create", selector, move |conn| {
        Box::pin(async move {
            let row = diesel::insert_into(lm::table)
                .values((
                    lm::tenant_id.eq(tenant),
                    lm::alias.eq(&m.alias),
                    lm::provider.eq(&m.provider),
                    lm::name.eq(&m.name),
                    lm::context_tokens.eq(m.context_tokens as i32),
                    lm::input_usd_per_mtok.eq(m.input_usd_per_mtok),
                    lm::output_usd_per_mtok.eq(m.output_usd_per_mtok),
                    lm::fallbacks.eq(&m.fallbacks),
                ))
                .on_conflict_do_nothing()
                .returning(ModelRow::as_returning())
                .get_result::<ModelRow>(conn)
                .await
                .optional()?;
            row.map(model_view).ok_or_else(|| taken("model", &alias))
        })
    })
    .await
}

pub async fn get_model(ctx: &Ctx, p: &Principal, alias: &str) -> ServiceResult<ModelView> {
    p.require(Role::Admin, "managing language models")?;
    if let Some(m) = ctx.settings.llm.models.get(alias) {
        return Ok(config_model_view(alias, m));
    }
    let mut conn = ctx.pool.get().await?;
    let row = lm::table
        .find((p.tenant_id, alias))
        .select(ModelRow::as_select())
        .first::<ModelRow>(&mut conn)
        .await
        .optional()?;
    row.map(model_view).ok_or_else(|| model_not_found(alias))
}

pub async fn update_model(ctx: &Ctx, p: &Principal, alias: &str, i: ModelInput) -> ServiceResult<ModelView> {
    p.require(Role::Admin, "managing language models")?;
    if i.alias.as_ref().is_some_and(|a| a != alias) {
        return Err(ServiceError::invalid_field("alias", "a model cannot be renamed"));
    }
    let mut conn = ctx.pool.get().await?;
    let Some(old) = lm::table
        .find((p.tenant_id, alias))
        .select(ModelRow::as_select())
        .first::<ModelRow>(&mut conn)
        .await
        .optional()?
    else {
        return Err(model_not_found(alias));
    };
    let old = model_view(old);
    let m = ModelView {
        provider: i.provider.unwrap_or(old.provider),
        name: i.name.unwrap_or(old.name),
        context_tokens: i.context_tokens.unwrap_or(old.context_tokens),
        input_usd_per_mtok: i.input_usd_per_mtok.unwrap_or(old.input_usd_per_mtok),
        output_usd_per_mtok: i.output_usd_per_mtok.unwrap_or(old.output_usd_per_mtok),
        fallbacks: i.fallbacks.unwrap_or(old.fallbacks),
        ..old
    };
    check_model(ctx, &mut conn, p.tenant_id, &m).await?;
    drop(conn);
    let key = (p.tenant_id, alias.to_string());
    let selector = json!({"model": alias, "provider": m.provider, "name": m.name});
    audited(ctx, p, "llm.model.update", selector, move |conn| {
        Box::pin(async move {
            let row = diesel::update(lm::table.find(key))
                .set((
                    lm::provider.eq(&m.provider),
                    lm::name.eq(&m.name),
                    lm::context_tokens.eq(m.context_tokens as i32),
                    lm::input_usd_per_mtok.eq(m.input_usd_per_mtok),
                    lm::output_usd_per_mtok.eq(m.output_usd_per_mtok),
                    lm::fallbacks.eq(&m.fallbacks),
                    lm::updated_at.eq(Utc::now()),
                ))
                .returning(ModelRow::as_returning())
                .get_result::<ModelRow>(conn)
                .await?;
            Ok(model_view(row))
        })
    })
    .await
}

pub async fn delete_model(ctx: &Ctx, p: &Principal, alias: &str) -> ServiceResult<()> {
    p.require(Role::Admin, "managing language models")?;
    let (tenant, alias) = (p.tenant_id, alias.to_string());
    audited(ctx, p, "llm.model.delete", json!({"model": alias}), move |conn| {
        Box::pin(async move {
            let n = diesel::delete(lm::table.find((tenant, &alias))).execute(conn).await?;
            if n == 0 {
                return Err(model_not_found(&alias));
            }
            Ok(())
        })
    })
    .await
}
