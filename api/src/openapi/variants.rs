//! Create and update share one input type per resource (absent fields stay
//! as they are on update), but a create needs some fields and an update
//! may not change others. This gives each its own schema, so the document
//! says what the services check: `AgentInput` becomes `AgentCreate` on
//! `POST` (with its required fields, not null) and `AgentUpdate` on `PATCH`.

use utoipa::openapi::schema::Schema;
use utoipa::openapi::{Components, OpenApi, Ref, RefOr};
use utoipa::Modify;

use super::edge::{not_null, operations_mut};

/// One shared input type.
struct Variant {
    schema: &'static str,
    /// What `POST` requires.
    required: &'static [&'static str],
    /// What `PATCH` may not carry: the resource's name, which is in the path.
    fixed: &'static [&'static str],
}

const VARIANTS: &[Variant] = &[
    Variant { schema: "AgentInput", required: &["name", "model", "tools"], fixed: &[] },
    Variant { schema: "ProviderInput", required: &["name", "kind", "base_url"], fixed: &["name"] },
    Variant { schema: "ModelInput", required: &["alias", "provider", "name"], fixed: &["alias"] },
    Variant { schema: "TagInput", required: &["name"], fixed: &[] },
    Variant { schema: "ScheduleInput", required: &["cron", "job"], fixed: &[] },
];

pub(super) struct Variants;

impl Modify for Variants {
    fn modify(&self, openapi: &mut OpenApi) {
        let Some(mut components) = openapi.components.take() else { return };
        for v in VARIANTS {
            let base = v.schema.trim_end_matches("Input");
            let (create, update) = (format!("{base}Create"), format!("{base}Update"));
            let Some(RefOr::T(Schema::Object(input))) = components.schemas.get(v.schema).cloned() else {
                panic!("no object schema {} to split", v.schema)
            };
            let mut c = input.clone();
            for field in v.required {
                let prop = c.properties.get_mut(*field).unwrap_or_else(|| panic!("{}.{field}", v.schema));
                if let RefOr::T(s) = prop {
                    not_null(s);
                }
                c.required.push(field.to_string());
            }
            let mut u = input;
            for field in v.fixed {
                u.properties.remove(*field);
            }
            add(&mut components, &create, c);
            add(&mut components, &update, u);
            components.schemas.remove(v.schema);
            repoint(openapi, v.schema, &create, &update);
        }
        openapi.components = Some(components);
    }
}

fn add(components: &mut Components, name: &str, schema: utoipa::openapi::Object) {
    components.schemas.insert(name.to_string(), RefOr::T(Schema::Object(schema)));
}

/// Points `POST` bodies at `create` and the others at `update`.
fn repoint(openapi: &mut OpenApi, from: &str, create: &str, update: &str) {
    let from = format!("#/components/schemas/{from}");
    for item in openapi.paths.paths.values_mut() {
        for (method, op) in operations_mut(item) {
            let Some(body) = op.request_body.as_mut() else { continue };
            for content in body.content.values_mut() {
                if matches!(&content.schema, Some(RefOr::Ref(r)) if r.ref_location == from) {
                    let to = if method == "POST" { create } else { update };
                    content.schema = Some(RefOr::Ref(Ref::from_schema_name(to)));
                }
            }
        }
    }
}
