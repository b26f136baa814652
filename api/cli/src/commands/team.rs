//! `webhooks …`, `keys …` and `usage`: the tenant's settings and spend.

use std::collections::BTreeMap;

use clap::{Args, Subcommand, ValueEnum};
use serde_json::{json, Value};

use crate::client::{encode, Client};
use crate::table::{self, Column};
use crate::Outcome;

const ENDPOINT_COLUMNS: [Column; 5] = [
    ("ID", "/id"),
    ("URL", "/url"),
    ("EVENTS", "/event_types"),
    ("ENABLED", "/enabled"),
    ("FAILURES", "/consecutive_failures"),
];

const DELIVERY_COLUMNS: [Column; 6] = [
    ("ID", "/id"),
    ("EVENT", "/event_type"),
    ("STATUS", "/status"),
    ("ATTEMPTS", "/attempts"),
    ("HTTP", "/last_status"),
    ("CREATED", "/created_at"),
];

const KEY_COLUMNS: [Column; 6] = [
    ("ID", "/id"),
    ("NAME", "/name"),
    ("ROLE", "/role"),
    ("PREFIX", "/prefix"),
    ("LAST USED", "/last_used_at"),
    ("REVOKED", "/revoked_at"),
];

#[derive(Debug, Subcommand)]
pub enum Webhooks {
    /// List endpoints.
    Ls,
    /// Register an endpoint; its signing secret is shown once.
    Add {
        /// Where to send events (named apart from the global `--url`).
        #[arg(value_name = "URL")]
        endpoint_url: String,
        /// An event type, e.g. `job.dead`; repeat for more.
        #[arg(long = "event", required = true)]
        events: Vec<String>,
        #[arg(long, default_value = "")]
        description: String,
    },
    /// Send a test event to an endpoint.
    Test { endpoint: String },
    /// An endpoint's deliveries, newest first.
    Deliveries {
        endpoint: String,
        /// `pending`, `held`, `succeeded`, `failed` or `cancelled`.
        #[arg(long)]
        status: Option<String>,
        #[arg(long, default_value_t = 50)]
        limit: u32,
    },
    /// Send a delivery again.
    Redeliver { delivery: String },
}

#[derive(Debug, Subcommand)]
pub enum Keys {
    /// List the tenant's keys.
    Ls,
    /// Create a key; its secret is shown once.
    Create {
        name: String,
        /// `viewer`, `user`, `operator` or `admin`.
        #[arg(long, default_value = "user")]
        role: String,
    },
    /// Revoke a key: it stops working at once.
    Revoke { key: String },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum By {
    Day,
    Model,
}

#[derive(Debug, Args)]
pub struct UsageArgs {
    #[arg(long, value_enum, default_value = "day")]
    by: By,
    /// From (RFC 3339; default 30 days ago).
    #[arg(long)]
    from: Option<String>,
    /// To (RFC 3339; default now).
    #[arg(long)]
    to: Option<String>,
}

pub async fn webhooks(c: &Client, cmd: Webhooks, json: bool) -> Outcome {
    match cmd {
        Webhooks::Ls => table::print(&c.get("/v1/webhooks").await?, json, "", &ENDPOINT_COLUMNS),
        Webhooks::Add { endpoint_url, events, description } => {
            let made = c
                .post("/v1/webhooks", &json!({"url": endpoint_url, "event_types": events, "description": description}))
                .await?;
            let mut fields = ENDPOINT_COLUMNS.to_vec();
            fields.push(("SECRET", "/secret"));
            table::print_fields(&made, json, &fields);
        }
        Webhooks::Test { endpoint } => {
            let sent = c.post(&format!("/v1/webhooks/{}/test", encode(&endpoint)), &json!({})).await?;
            table::print_fields(&sent, json, &DELIVERY_COLUMNS);
        }
        Webhooks::Deliveries { endpoint, status, limit } => {
            let pairs = [("status", status), ("limit", Some(limit.to_string()))];
            let page = c.get_query(&format!("/v1/webhooks/{}/deliveries", encode(&endpoint)), &pairs).await?;
            table::print(&page, json, "", &DELIVERY_COLUMNS);
        }
        Webhooks::Redeliver { delivery } => {
            let sent = c.post(&format!("/v1/webhooks/deliveries/{}/redeliver", encode(&delivery)), &json!({})).await?;
            table::print_fields(&sent, json, &DELIVERY_COLUMNS);
        }
    }
    Ok(0)
}

pub async fn keys(c: &Client, cmd: Keys, json: bool) -> Outcome {
    match cmd {
        Keys::Ls => table::print(&c.get("/v1/keys").await?, json, "", &KEY_COLUMNS),
        Keys::Create { name, role } => {
            let made = c.post("/v1/keys", &json!({"name": name, "role": role})).await?;
            let fields = [("ID", "/id"), ("NAME", "/name"), ("ROLE", "/role"), ("SECRET", "/secret")];
            table::print_fields(&made, json, &fields);
        }
        Keys::Revoke { key } => {
            c.delete(&format!("/v1/keys/{}", encode(&key))).await?;
            if !json {
                println!("revoked {key}");
            }
        }
    }
    Ok(0)
}

/// The API's rows (one per day, provider and model) summed by day or by
/// model, newest day or costliest model first.
pub fn group(rows: &[Value], by: By) -> Vec<Value> {
    let mut groups: BTreeMap<String, [f64; 5]> = BTreeMap::new();
    for r in rows {
        let key = match by {
            By::Day => r["day"].as_str().unwrap_or_default().to_string(),
            By::Model => {
                format!("{}/{}", r["provider"].as_str().unwrap_or_default(), r["model"].as_str().unwrap_or_default())
            }
        };
        let g = groups.entry(key).or_default();
        for (i, field) in ["calls", "errors", "prompt_tokens", "completion_tokens", "cost_usd"].iter().enumerate() {
            g[i] += r[field].as_f64().unwrap_or(0.0);
        }
    }
    let mut out: Vec<(String, [f64; 5])> = groups.into_iter().collect();
    match by {
        By::Day => out.reverse(),
        By::Model => out.sort_by(|a, b| b.1[4].total_cmp(&a.1[4])),
    }
    out.into_iter()
        .map(|(key, g)| {
            json!({"key": key, "calls": g[0] as u64, "errors": g[1] as u64, "prompt_tokens": g[2] as u64,
                "completion_tokens": g[3] as u64, "cost_usd": format!("{:.4}", g[4])})
        })
        .collect()
}

pub async fn usage(c: &Client, args: UsageArgs, json: bool) -> Outcome {
    let rows = c.get_query("/v1/usage", &[("from", args.from), ("to", args.to)]).await?;
    let grouped = Value::Array(group(rows.as_array().map(Vec::as_slice).unwrap_or_default(), args.by));
    let first = match args.by {
        By::Day => ("DAY", "/key"),
        By::Model => ("MODEL", "/key"),
    };
    let columns = [
        first,
        ("CALLS", "/calls"),
        ("ERRORS", "/errors"),
        ("PROMPT", "/prompt_tokens"),
        ("COMPLETION", "/completion_tokens"),
        ("COST USD", "/cost_usd"),
    ];
    table::print(&grouped, json, "", &columns);
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usage_sums_by_day_newest_first_or_by_model_costliest_first() {
        let rows = [
            json!({"day": "2026-11-29", "provider": "p", "model": "a", "calls": 2, "errors": 0, "prompt_tokens": 10, "completion_tokens": 5, "cost_usd": 0.5}),
            json!({"day": "2026-11-30", "provider": "p", "model": "a", "calls": 1, "errors": 1, "prompt_tokens": 1, "completion_tokens": 1, "cost_usd": 0.25}),
            json!({"day": "2026-11-30", "provider": "p", "model": "b", "calls": 3, "errors": 0, "prompt_tokens": 3, "completion_tokens": 3, "cost_usd": 1.0}),
        ];
        let by_day = group(&rows, By::Day);
        assert_eq!(by_day[0]["key"], "2026-11-30");
        assert_eq!((by_day[0]["calls"].as_u64(), by_day[0]["cost_usd"].as_str()), (Some(4), Some("1.2500")));
        let by_model = group(&rows, By::Model);
        assert_eq!(by_model.iter().map(|g| g["key"].as_str().unwrap()).collect::<Vec<_>>(), ["p/b", "p/a"]);
        assert_eq!(by_model[1]["calls"], 3);
    }
}
