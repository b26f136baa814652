//! The answers the HTTP edge gives on any route of a shape (bad key, bad
//! path, bad query, bad body), added to every operation of that shape.

use utoipa::openapi::path::{Operation, ParameterIn, PathItem};
use utoipa::openapi::schema::{Schema, SchemaType, Type};
use utoipa::openapi::{ContentBuilder, Ref, RefOr, ResponseBuilder};
use utoipa::Modify;

/// Adds the answers the HTTP edge gives on any route of a shape, so that
/// every status the server can send is in the document: 401/403/429 where a
/// key is needed, 400/404 for path parameters, 400 for query parameters, and
/// 400/413/415/422 for JSON bodies; in OpenAI's envelope on the routes
/// tagged `openai`. A route's own declarations win.
pub(super) struct EdgeErrors;

impl Modify for EdgeErrors {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        for item in openapi.paths.paths.values_mut() {
            for (_, op) in operations_mut(item) {
                let mut codes: Vec<(u16, &str)> = Vec::new();
                if op.security.is_some() {
                    codes.push((401, "No key, or a revoked or unknown key"));
                    codes.push((403, "The key's role or tenant may not do this"));
                    codes.push((429, "Over a rate limit of the key or the tenant: see Retry-After"));
                }
                let params = op.parameters.as_deref().unwrap_or_default();
                if params.iter().any(|p| p.parameter_in == ParameterIn::Path) {
                    codes.push((400, "A path parameter is malformed"));
                    codes.push((404, "No such resource in the key's tenant"));
                }
                if params.iter().any(|p| matches!(p.parameter_in, ParameterIn::Query | ParameterIn::Header)) {
                    codes.push((400, "A query parameter or header is malformed or out of range"));
                }
                if let Some(body) = &op.request_body {
                    codes.push((413, "The body is larger than the limit"));
                    codes.push((415, "The body has another content type"));
                    if body.content.contains_key("application/json") {
                        codes.push((400, "The body is not valid JSON"));
                        codes.push((422, "The body does not match its schema or a rule"));
                    } else {
                        codes.push((400, "A form field is malformed"));
                    }
                }
                // A path, query or header parameter is absent or a string,
                // never `null`.
                for p in op.parameters.iter_mut().flatten() {
                    if let Some(RefOr::T(schema)) = p.schema.as_mut() {
                        not_null(schema);
                    }
                }
                // The OpenAI-compatible routes answer errors in OpenAI's envelope.
                let schema = match op.tags.iter().flatten().any(|t| t == "openai") {
                    true => "OpenAiError",
                    false => "ErrorBody",
                };
                for (code, description) in codes {
                    op.responses
                        .responses
                        .entry(code.to_string())
                        .or_insert_with(|| error_response(schema, description));
                }
            }
        }
    }
}

fn error_response(schema: &str, description: &str) -> RefOr<utoipa::openapi::Response> {
    let content = ContentBuilder::new().schema(Some(Ref::from_schema_name(schema))).build();
    RefOr::T(ResponseBuilder::new().description(description).content("application/json", content).build())
}

pub(super) fn operations_mut(item: &mut PathItem) -> Vec<(&'static str, &mut Operation)> {
    [
        ("GET", item.get.as_mut()),
        ("PUT", item.put.as_mut()),
        ("POST", item.post.as_mut()),
        ("DELETE", item.delete.as_mut()),
        ("OPTIONS", item.options.as_mut()),
        ("HEAD", item.head.as_mut()),
        ("PATCH", item.patch.as_mut()),
        ("TRACE", item.trace.as_mut()),
    ]
    .into_iter()
    .filter_map(|(m, op)| op.map(|op| (m, op)))
    .collect()
}

/// Takes `null` out of a schema's types and values.
pub(super) fn not_null(schema: &mut Schema) {
    let strip = |t: &mut SchemaType| {
        if let SchemaType::Array(types) = t {
            types.retain(|t| *t != Type::Null);
            if types.len() == 1 {
                *t = SchemaType::Type(types[0].clone());
            }
        }
    };
    match schema {
        Schema::Object(o) => {
            strip(&mut o.schema_type);
            if let Some(values) = o.enum_values.as_mut() {
                values.retain(|v| !v.is_null());
            }
        }
        Schema::Array(a) => strip(&mut a.schema_type),
        _ => {}
    }
}
