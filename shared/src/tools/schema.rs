//! Arguments against a tool's JSON Schema, with the `jsonschema` crate.
//! A failure lists every failing path (JSON Pointer) with its reason.

use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

/// One reason the arguments do not fit the schema.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Violation {
    /// JSON Pointer into the arguments (`""` is the whole object).
    pub path: String,
    pub message: String,
}

/// Every violation of `schema` by `args`; empty when they fit. A schema
/// that does not compile is one violation at the root.
pub fn violations(schema: &Value, args: &Value) -> Vec<Violation> {
    match jsonschema::validator_for(schema) {
        Ok(v) => v
            .iter_errors(args)
            .map(|e| Violation { path: e.instance_path().to_string(), message: e.to_string() })
            .collect(),
        Err(e) => vec![Violation { path: String::new(), message: format!("the tool's schema is invalid: {e}") }],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn lists_each_failing_path() {
        let schema = json!({"type": "object", "required": ["a"], "additionalProperties": false,
            "properties": {"a": {"type": "string"}, "n": {"type": "integer", "minimum": 1}}});
        assert!(violations(&schema, &json!({"a": "x", "n": 2})).is_empty());
        let v = violations(&schema, &json!({"n": 0, "zzz": true}));
        let paths: Vec<&str> = v.iter().map(|v| v.path.as_str()).collect();
        assert!(paths.contains(&"/n") && paths.contains(&""), "{v:?}");
        assert_eq!(v.len(), 3, "missing a, n below minimum, zzz not allowed: {v:?}");
    }
}
