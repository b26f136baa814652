//! Counting tokens when the provider reports none, and for fitting the
//! context: with the model's own tokenizer when one is configured
//! (`llm.models.<alias>.tokenizer`, a Hugging Face `tokenizer.json`), else
//! the documented estimate `max(words, chars / 4)`. Each message adds 4
//! tokens of chat framing and a prompt 2 more, as OpenAI's format does.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use tokenizers::Tokenizer;

use super::{ChatMessage, Usage};
use crate::config::ModelSettings;

/// How tokens are counted for one model.
#[derive(Clone)]
pub enum Counter {
    Estimate,
    Tokenizer(Arc<Tokenizer>),
}

impl std::fmt::Debug for Counter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Counter::Estimate => "Estimate",
            Counter::Tokenizer(_) => "Tokenizer",
        })
    }
}

impl Counter {
    /// The model's counter: its tokenizer (loaded once per process) or the
    /// estimate when it has none or it cannot be read.
    pub fn for_model(model: &ModelSettings) -> Counter {
        static LOADED: OnceLock<Mutex<HashMap<String, Option<Arc<Tokenizer>>>>> = OnceLock::new();
        if model.tokenizer.is_empty() {
            return Counter::Estimate;
        }
        let mut loaded = LOADED.get_or_init(Default::default).lock().unwrap();
        let entry =
            loaded.entry(model.tokenizer.clone()).or_insert_with(|| match Tokenizer::from_file(&model.tokenizer) {
                Ok(t) => Some(Arc::new(t)),
                Err(e) => {
                    tracing::warn!(path = %model.tokenizer, error = %e, "tokenizer unreadable: estimating tokens");
                    None
                }
            });
        entry.clone().map_or(Counter::Estimate, Counter::Tokenizer)
    }

    /// Tokens of one text.
    pub fn count(&self, text: &str) -> u32 {
        match self {
            Counter::Estimate => crate::knowledge::chunk::estimate_tokens(text) as u32,
            Counter::Tokenizer(t) => t
                .encode(text, false)
                .map(|e| e.len() as u32)
                .unwrap_or_else(|_| crate::knowledge::chunk::estimate_tokens(text) as u32),
        }
    }

    /// Tokens of a prompt, with the chat framing.
    pub fn prompt(&self, messages: &[ChatMessage]) -> u32 {
        messages.iter().map(|m| self.count(&m.content) + 4).sum::<u32>() + 2
    }

    /// Usage of a call the provider did not count.
    pub fn usage(&self, messages: &[ChatMessage], answer: &str) -> Usage {
        Usage { prompt_tokens: self.prompt(messages), completion_tokens: self.count(answer) }
    }
}
