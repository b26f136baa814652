//! Text embeddings with fastembed, fully offline: the ONNX Runtime library
//! and the model files come from registry packages (`scripts/models.sh`),
//! never from a model hub. One model per process, loaded once and shared.
//! A missing runtime or model is a clear error, never a panic.
//!
//! Concurrent jobs share the model through [`Embedder::embed_async`], which
//! merges their texts into full batches: four searches embedding one query
//! each make one `embed()` call, not four.

use std::collections::{HashMap, VecDeque};
use std::path::Path;
use std::sync::{Arc, Mutex, OnceLock};

use fastembed::{InitOptionsUserDefined, Pooling, TextEmbedding, TokenizerFiles, UserDefinedEmbeddingModel};

use crate::config::EmbedSettings;

/// A loaded model.
pub struct Embedder {
    pub model_id: String,
    pub dimension: usize,
    batch_size: usize,
    model: Mutex<TextEmbedding>,
    /// Requests waiting for the model, and whether a thread is draining them.
    pending: Mutex<(VecDeque<Pending>, bool)>,
}

struct Pending {
    texts: Vec<String>,
    reply: tokio::sync::oneshot::Sender<Result<Vec<Vec<f32>>, String>>,
}

impl std::fmt::Debug for Embedder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Embedder").field("model_id", &self.model_id).field("dimension", &self.dimension).finish()
    }
}

fn read(dir: &Path, name: &str) -> Result<Vec<u8>, String> {
    std::fs::read(dir.join(name))
        .map_err(|e| format!("cannot read {}: {e} (run scripts/models.sh)", dir.join(name).display()))
}

fn load_uncached(s: &EmbedSettings) -> Result<Embedder, String> {
    let lib = Path::new(&s.ort_library);
    if !lib.is_file() {
        return Err(format!(
            "ONNX Runtime library not found at {} (run scripts/models.sh or set embed.ort_library)",
            lib.display()
        ));
    }
    let dir = Path::new(&s.model_dir);
    let model = UserDefinedEmbeddingModel::new(
        read(dir, "model.onnx")?,
        TokenizerFiles {
            tokenizer_file: read(dir, "tokenizer.json")?,
            config_file: read(dir, "config.json")?,
            special_tokens_map_file: read(dir, "special_tokens_map.json")?,
            tokenizer_config_file: read(dir, "tokenizer_config.json")?,
        },
    )
    .with_pooling(Pooling::Mean);
    // ort loads the library named here on first use. Every caller passes
    // the configured path, so the value never changes once set.
    std::env::set_var("ORT_DYLIB_PATH", lib);
    let options = InitOptionsUserDefined::new().with_max_length(s.max_length);
    let load = std::panic::AssertUnwindSafe(move || TextEmbedding::try_new_from_user_defined(model, options));
    let mut model = std::panic::catch_unwind(load)
        .map_err(|_| format!("ONNX Runtime at {} could not be loaded (need version 1.24 or newer)", lib.display()))?
        .map_err(|e| format!("cannot load the embedding model from {}: {e}", dir.display()))?;
    let probe = model.embed(["dimension probe"], None).map_err(|e| format!("the embedding model does not run: {e}"))?;
    Ok(Embedder {
        model_id: s.model_id.clone(),
        dimension: probe[0].len(),
        batch_size: s.batch_size.max(1),
        model: Mutex::new(model),
        pending: Mutex::new((VecDeque::new(), false)),
    })
}

/// The process's embedder for these settings, loading it on first use.
pub fn load(s: &EmbedSettings) -> Result<Arc<Embedder>, String> {
    static LOADED: OnceLock<Mutex<HashMap<String, Arc<Embedder>>>> = OnceLock::new();
    let key = format!("{}|{}|{}", s.model_id, s.model_dir, s.ort_library);
    let mut loaded = LOADED.get_or_init(Default::default).lock().unwrap();
    if let Some(e) = loaded.get(&key) {
        return Ok(e.clone());
    }
    let e = Arc::new(load_uncached(s)?);
    loaded.insert(key, e.clone());
    Ok(e)
}

/// The model's own tokenizer, for sizing chunks to its window: counts
/// word pieces without truncation, padding or special tokens.
pub struct TokenCounter(tokenizers::Tokenizer);

impl crate::knowledge::chunk::Tokens for TokenCounter {
    fn count(&self, word: &str) -> usize {
        use crate::knowledge::chunk::Estimate;
        self.0.encode(word, false).map(|e| e.len()).unwrap_or_else(|_| Estimate.count(word))
    }
}

/// The tokenizer of the configured model (loaded once per process), or
/// `None` with a warning when its files cannot be read.
pub fn token_counter(s: &EmbedSettings) -> Option<Arc<TokenCounter>> {
    static LOADED: OnceLock<Mutex<HashMap<String, Option<Arc<TokenCounter>>>>> = OnceLock::new();
    let mut loaded = LOADED.get_or_init(Default::default).lock().unwrap();
    let path = Path::new(&s.model_dir).join("tokenizer.json");
    let entry = loaded.entry(path.display().to_string()).or_insert_with(|| {
        let mut t = tokenizers::Tokenizer::from_file(&path)
            .map_err(|e| tracing::warn!(path = %path.display(), error = %e, "no tokenizer: chunk sizes are estimated"))
            .ok()?;
        t.with_padding(None);
        t.with_truncation(None).ok()?;
        Some(Arc::new(TokenCounter(t)))
    });
    entry.clone()
}

impl Embedder {
    /// Embeds `texts`, one `embed()` call per batch (which bounds memory).
    /// Batches are formed from texts sorted by length, so that a batch,
    /// padded to its longest text, spends little on padding; vectors come
    /// back in the order of `texts`. CPU-bound: call it on a blocking thread.
    pub fn embed(&self, texts: &[String]) -> Result<Vec<Vec<f32>>, String> {
        let mut order: Vec<usize> = (0..texts.len()).collect();
        order.sort_by_key(|&i| texts[i].len());
        let mut model = self.model.lock().unwrap();
        let mut out = vec![Vec::new(); texts.len()];
        for batch in order.chunks(self.batch_size) {
            let batch_texts: Vec<&str> = batch.iter().map(|&i| texts[i].as_str()).collect();
            let vectors = model.embed(batch_texts, Some(self.batch_size)).map_err(|e| e.to_string())?;
            for (&i, v) in batch.iter().zip(vectors) {
                out[i] = v;
            }
        }
        Ok(out)
    }
}

impl Embedder {
    /// Embeds `texts` off the async runtime, batched with the texts of
    /// other callers waiting at the same time.
    pub async fn embed_async(self: &Arc<Self>, texts: Vec<String>) -> Result<Vec<Vec<f32>>, String> {
        if texts.is_empty() {
            return Ok(Vec::new());
        }
        let (reply, answer) = tokio::sync::oneshot::channel();
        let start = {
            let mut pending = self.pending.lock().unwrap();
            pending.0.push_back(Pending { texts, reply });
            !std::mem::replace(&mut pending.1, true)
        };
        if start {
            let this = self.clone();
            tokio::task::spawn_blocking(move || this.drain());
        }
        answer.await.map_err(|_| "the embedding thread stopped".to_string())?
    }

    /// Runs waiting requests, a batch at a time, until none is left.
    fn drain(&self) {
        loop {
            let mut taken = Vec::new();
            {
                let mut pending = self.pending.lock().unwrap();
                let mut n = 0;
                while let Some(next) = pending.0.front() {
                    if n > 0 && n + next.texts.len() > self.batch_size {
                        break;
                    }
                    n += next.texts.len();
                    taken.extend(pending.0.pop_front());
                }
                if taken.is_empty() {
                    pending.1 = false;
                    return;
                }
            }
            let all: Vec<String> = taken.iter().flat_map(|p| p.texts.iter().cloned()).collect();
            match self.embed(&all) {
                Ok(vectors) => {
                    let mut vectors = vectors.into_iter();
                    for p in taken {
                        let mine: Vec<_> = vectors.by_ref().take(p.texts.len()).collect();
                        let _ = p.reply.send(Ok(mine));
                    }
                }
                Err(e) => {
                    for p in taken {
                        let _ = p.reply.send(Err(e.clone()));
                    }
                }
            }
        }
    }
}

/// The settings that load model `model_id`: the configured model, or the
/// directory `<models_dir>/<model_id>`.
pub fn settings_for(s: &EmbedSettings, model_id: &str) -> EmbedSettings {
    let mut out = s.clone();
    if model_id != s.model_id {
        out.model_id = model_id.to_string();
        out.model_dir = Path::new(&s.models_dir).join(model_id).display().to_string();
    }
    out
}

/// Loads model `model_id` on a blocking thread.
pub async fn load_model(s: &EmbedSettings, model_id: &str) -> Result<Arc<Embedder>, String> {
    let settings = settings_for(s, model_id);
    tokio::task::spawn_blocking(move || load(&settings)).await.map_err(|e| e.to_string())?
}

/// Cosine similarity of two vectors.
pub fn cosine(a: &[f32], b: &[f32]) -> f32 {
    let dot: f32 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    let (na, nb) = (a.iter().map(|x| x * x).sum::<f32>().sqrt(), b.iter().map(|x| x * x).sum::<f32>().sqrt());
    if na == 0.0 || nb == 0.0 {
        0.0
    } else {
        dot / (na * nb)
    }
}
