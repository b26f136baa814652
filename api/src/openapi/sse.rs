//! Event streams in the document: a `text/event-stream` response declared
//! with `body = X` describes each event, `{id, event, data}`, whose `data`
//! is JSON that matches `X` (`contentMediaType` and `contentSchema`).

use serde_json::json;
use utoipa::openapi::extensions::Extensions;
use utoipa::openapi::schema::{ObjectBuilder, Schema, Type};
use utoipa::openapi::{OpenApi, RefOr};
use utoipa::Modify;

use super::edge::operations_mut;

pub(super) struct SseEvents;

impl Modify for SseEvents {
    fn modify(&self, openapi: &mut OpenApi) {
        for item in openapi.paths.paths.values_mut() {
            for (_, op) in operations_mut(item) {
                for response in op.responses.responses.values_mut() {
                    let RefOr::T(response) = response else { continue };
                    let Some(content) = response.content.get_mut("text/event-stream") else { continue };
                    let Some(RefOr::Ref(data)) = content.schema.take() else { continue };
                    content.schema = Some(RefOr::T(envelope(&data.ref_location)));
                }
            }
        }
    }
}

fn envelope(data_ref: &str) -> Schema {
    let mut data = ObjectBuilder::new().schema_type(Type::String).content_media_type("application/json").build();
    data.extensions = Some(Extensions::from_iter([("contentSchema", json!({ "$ref": data_ref }))]));
    let string = || ObjectBuilder::new().schema_type(Type::String);
    Schema::Object(
        ObjectBuilder::new()
            .schema_type(Type::Object)
            .property("id", string().description(Some("The event id; send it as `Last-Event-ID` to resume")))
            .property("event", string().description(Some("The event's kind")))
            .property("data", data)
            .required("data")
            .build(),
    )
}
