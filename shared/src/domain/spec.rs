//! OpenAPI schemas of the constrained strings and lists that request bodies
//! share (`#[schema(schema_with = …)]`), so that the document states every
//! rule the services enforce. Each one matches a check in the services;
//! `just fuzz-api` finds any that drift apart.

use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, SchemaType, Type};
use utoipa::openapi::{Array, Object};

/// A character that is not whitespace in Rust's sense (`char::is_whitespace`,
/// what `str::trim` strips): a string with one is not blank.
pub const NONBLANK: &str = r"[^\t\n\v\f\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]";

/// Names of providers, models, MCP servers and agents.
pub const NAME_PATTERN: &str = r"^[a-z0-9][a-z0-9._-]{0,63}$";

fn string(nullable: bool) -> ObjectBuilder {
    let ty = if nullable { SchemaType::from_iter([Type::String, Type::Null]) } else { SchemaType::Type(Type::String) };
    ObjectBuilder::new().schema_type(ty)
}

fn array(items: ObjectBuilder, nullable: bool) -> ArrayBuilder {
    let b = ArrayBuilder::new().items(items.build());
    if nullable {
        b.schema_type(SchemaType::from_iter([Type::Array, Type::Null]))
    } else {
        b
    }
}

/// Tag names of documents: 1 to 64 characters, no commas, not blank.
pub fn tag_name_pattern() -> String {
    format!("^[^,]*{}[^,]*$", NONBLANK.replacen("[^", "[^,", 1))
}

/// An optional document tag name.
pub fn tag_name() -> Object {
    string(true).max_length(Some(64)).pattern(Some(tag_name_pattern())).build()
}

/// Bulk `params.tags`: names without commas of at most 64 characters
/// (blank ones are dropped).
pub fn tag_names() -> Array {
    array(string(false).max_length(Some(64)).pattern(Some("^[^,]*$")), false).build()
}

/// Conversation tags: at most 50, each 1 to 64 characters.
pub fn conversation_tags() -> Array {
    array(string(false).min_length(Some(1)).max_length(Some(64)), true).max_items(Some(50)).build()
}

/// Text that must hold a non-blank character, at most `max` characters.
pub fn nonblank(max: usize) -> Object {
    string(false).max_length(Some(max)).pattern(Some(NONBLANK)).build()
}

/// An optional resource name (providers, models, agents).
pub fn optional_name() -> Object {
    string(true).pattern(Some(NAME_PATTERN)).build()
}

/// One of `values` (a query parameter).
pub fn one_of(values: &[&str]) -> Object {
    string(false).enum_values(Some(values.iter().copied())).build()
}

/// One of `values`, or null.
pub fn optional_one_of(values: &[&str]) -> Object {
    string(true).enum_values(Some(values.iter().copied().map(Some).chain([None]))).build()
}

/// A non-empty list of `values`, each one of them.
pub fn list_of(values: &[&str], nullable: bool) -> Array {
    array(string(false).enum_values(Some(values.iter().copied())), nullable).min_items(Some(1)).build()
}
