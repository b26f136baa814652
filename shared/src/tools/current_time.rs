//! `current_time`: the time now in an IANA time zone (`chrono-tz`).

use chrono::Utc;
use serde_json::{json, Value};

use super::{spec, Caller, Tool, ToolError, ToolSpec, ALL_ROLES};
use crate::Ctx;

pub struct CurrentTime(ToolSpec);

impl CurrentTime {
    pub fn new() -> Self {
        let parameters = json!({
            "type": "object",
            "properties": { "time_zone": { "type": "string", "description": "IANA name, e.g. Europe/Paris; default UTC" } },
            "additionalProperties": false
        });
        Self(spec("current_time", "The current date and time in a time zone.", parameters, None, ALL_ROLES))
    }
}

impl Default for CurrentTime {
    fn default() -> Self {
        Self::new()
    }
}

#[async_trait::async_trait]
impl Tool for CurrentTime {
    fn spec(&self) -> &ToolSpec {
        &self.0
    }

    async fn call(&self, _ctx: &Ctx, _caller: Caller, args: Value) -> Result<Value, ToolError> {
        let name = args["time_zone"].as_str().unwrap_or("UTC");
        let tz: chrono_tz::Tz = name
            .parse()
            .map_err(|_| ToolError::new("unknown_time_zone", format!("{name:?} is not an IANA time zone")))?;
        let now = Utc::now().with_timezone(&tz);
        Ok(json!({
            "time_zone": tz.name(),
            "iso8601": now.to_rfc3339(),
            "utc_offset": now.format("%:z").to_string(),
            "weekday": now.format("%A").to_string(),
            "unix": now.timestamp(),
        }))
    }
}
