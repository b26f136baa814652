//! `knowledge_search`: the knowledge base's hybrid search
//! ([`crate::services::search::find`]), scoped to the caller's tenant.

use serde_json::{json, Value};

use crate::services::search::{self, SearchFilters, SearchRequest};
use crate::tools::{spec, Caller, Tool, ToolError, ToolSpec, ALL_ROLES};
use crate::Ctx;

pub struct KnowledgeSearch(ToolSpec);

impl KnowledgeSearch {
    pub fn new() -> Self {
        let parameters = json!({
            "type": "object",
            "properties": {
                "query": { "type": "string", "minLength": 1, "maxLength": 2000 },
                "mode": { "enum": ["keyword", "vector", "hybrid"] },
                "tags": { "type": "array", "items": { "type": "string" }, "maxItems": 20 },
                "top_k": { "type": "integer", "minimum": 1, "maximum": 20 }
            },
            "required": ["query"],
            "additionalProperties": false
        });
        let description = "Searches the knowledge base (your documents) and returns the best passages with their \
            document, title and page.";
        Self(spec("knowledge_search", description, parameters, Some(60), ALL_ROLES))
    }
}

impl Default for KnowledgeSearch {
    fn default() -> Self {
        Self::new()
    }
}

#[async_trait::async_trait]
impl Tool for KnowledgeSearch {
    fn spec(&self) -> &ToolSpec {
        &self.0
    }

    async fn call(&self, ctx: &Ctx, caller: Caller, args: Value) -> Result<Value, ToolError> {
        let req = SearchRequest {
            query: args["query"].as_str().unwrap_or_default().to_string(),
            mode: serde_json::from_value(args.get("mode").cloned().unwrap_or(json!("hybrid"))).unwrap_or_default(),
            filters: SearchFilters {
                tags: serde_json::from_value(args.get("tags").cloned().unwrap_or(json!([]))).unwrap_or_default(),
                ..Default::default()
            },
            top_k: args["top_k"].as_u64().map(|k| k as usize).or(Some(5)),
            rerank: false,
        };
        search::validate(&req).map_err(|e| ToolError::new(e.code.as_str(), e.message))?;
        let found =
            search::find(ctx, caller.tenant_id, &req).await.map_err(|e| ToolError::new(e.code.as_str(), e.message))?;
        let hits: Vec<Value> = found
            .results
            .iter()
            .map(|h| {
                json!({ "document_id": h.document_id, "chunk_id": h.chunk_id, "title": h.title,
                "page": h.page, "text": h.text, "score": h.score })
            })
            .collect();
        Ok(json!({ "query": req.query, "results": hits }))
    }
}
