//! `search`, `bulk` and `chat`: the knowledge base and conversations.

use clap::Args;
use serde_json::{json, Value};

use crate::client::{encode, Client};
use crate::follow::{self, exit_code, status, Show};
use crate::table;
use crate::{Outcome, Usage};

#[derive(Debug, Args)]
pub struct Search {
    query: String,
    /// `hybrid` (default), `vector` or `keyword`.
    #[arg(long)]
    mode: Option<String>,
    /// Only documents with this tag; repeat for more.
    #[arg(long = "tag")]
    tags: Vec<String>,
    #[arg(long, default_value_t = 10)]
    top_k: u32,
}

#[derive(Debug, Args)]
pub struct Bulk {
    /// `delete`, `tag`, `untag`, `reprocess` or `export`.
    op: String,
    /// A filter as in `GET /v1/documents`: `key=value` (tag, doc_type,
    /// status, q, created_after, created_before); repeat for more.
    #[arg(long = "filter", value_name = "KEY=VALUE")]
    filters: Vec<String>,
    /// A tag name, for `tag` and `untag`; repeat for more.
    #[arg(long = "tag")]
    tags: Vec<String>,
}

#[derive(Debug, Args)]
pub struct Chat {
    message: String,
    /// Continue this conversation (a new one otherwise).
    #[arg(long)]
    conversation: Option<String>,
    /// A model alias; repeat for more (with --mode).
    #[arg(long = "model")]
    models: Vec<String>,
    /// `single`, `compare`, `consensus`, `chain`, `debate` or `router`.
    #[arg(long)]
    mode: Option<String>,
    /// Answer from the knowledge base too.
    #[arg(long)]
    rag: bool,
}

pub async fn search(c: &Client, args: Search, json: bool) -> Outcome {
    let mut body = json!({"query": args.query, "top_k": args.top_k});
    if let Some(mode) = args.mode {
        body["mode"] = mode.into();
    }
    if !args.tags.is_empty() {
        body["filters"] = json!({"tags": args.tags});
    }
    let found = c.post("/v1/search", &body).await?;
    let columns =
        [("SCORE", "/score"), ("DOCUMENT", "/document_id"), ("TITLE", "/title"), ("PAGE", "/page"), ("TEXT", "/text")];
    table::print(&found, json, "/results", &columns);
    Ok(0)
}

/// `key=value` pairs as a JSON object.
pub fn filter(pairs: &[String]) -> Result<Value, Usage> {
    let mut out = serde_json::Map::new();
    for pair in pairs {
        let (k, v) = pair.split_once('=').ok_or_else(|| Usage(format!("--filter {pair}: expected KEY=VALUE")))?;
        out.insert(k.trim().to_string(), Value::String(v.to_string()));
    }
    Ok(Value::Object(out))
}

pub async fn bulk(c: &Client, args: Bulk, json: bool) -> Outcome {
    let body = json!({"op": args.op, "selector": {"filter": filter(&args.filters)?}, "params": {"tags": args.tags}});
    run_bulk(c, &body, json).await
}

/// Submits a bulk operation and follows its job with a bar over the items.
pub async fn run_bulk(c: &Client, body: &Value, json: bool) -> Outcome {
    let job = c.post("/v1/bulk", body).await?;
    let id = job["id"].as_str().unwrap_or_default().to_string();
    let (done, _) = follow::follow(c, &id, Show { bar: true, tokens: false }).await?;
    if json {
        table::print_json(&done);
    } else {
        let r = &done["result"];
        eprintln!("bulk {} {}", body["op"].as_str().unwrap_or_default(), status(&done));
        table::print_fields(r, false, &[("total", "/total"), ("ok", "/ok"), ("failed", "/failed")]);
        if let Some(e) = done["error"]["message"].as_str() {
            eprintln!("error: {}", crate::table::printable(e));
        }
    }
    Ok(exit_code(status(&done)))
}

pub async fn chat(c: &Client, args: Chat, json: bool) -> Outcome {
    let conversation = match args.conversation {
        Some(id) => id,
        None => {
            let conv = c.post("/v1/conversations", &json!({})).await?;
            let id = conv["id"].as_str().unwrap_or_default().to_string();
            eprintln!("conversation {id}");
            id
        }
    };
    let mut body = json!({"content": args.message});
    if !args.models.is_empty() {
        body["models"] = json!(args.models);
    }
    if let Some(mode) = args.mode {
        body["mode"] = mode.into();
    }
    if args.rag {
        body["rag"] = json!({"enabled": true});
    }
    let posted = c.post(&format!("/v1/conversations/{}/messages", encode(&conversation)), &body).await?;
    let id = posted["job"]["id"].as_str().unwrap_or_default().to_string();
    let (done, streamed) = follow::follow(c, &id, Show { bar: false, tokens: !json }).await?;
    if json {
        table::print_json(&done);
    } else if let (false, Some(answer)) = (streamed, done["result"]["content"].as_str()) {
        // A cached answer arrives whole, without tokens.
        println!("{}", crate::table::printable(answer));
    }
    if status(&done) != "succeeded" && !json {
        eprintln!(
            "job {id} {}: {}",
            status(&done),
            table::printable(done["error"]["message"].as_str().unwrap_or_default())
        );
    }
    Ok(exit_code(status(&done)))
}
