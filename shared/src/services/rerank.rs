//! Re-ranking for search (`rerank: true`): a bi-encoder such as
//! all-MiniLM-L6-v2 sees a whole chunk as one vector, so a question about
//! one sentence of it scores the chunk's average. Here each candidate is
//! cut into short overlapping windows, each window is embedded with the
//! collection's own model (through the tenant's embedding cache, so a
//! chunk is embedded once), and a candidate scores its best window's cosine with
//! the query.

use std::sync::Arc;

use crate::embed::{cosine, Embedder};
use crate::error::ServiceResult;
use crate::Ctx;

/// `text` cut into windows of `words` words that overlap by half; a text
/// of at most `words` words is one window.
pub fn windows(text: &str, words: usize) -> Vec<String> {
    let all: Vec<&str> = text.split_whitespace().collect();
    let size = words.max(2);
    if all.len() <= size {
        return vec![all.join(" ")];
    }
    let stride = size / 2;
    let mut out = Vec::new();
    let mut start = 0;
    loop {
        let end = (start + size).min(all.len());
        out.push(all[start..end].join(" "));
        if end == all.len() {
            return out;
        }
        start += stride;
    }
}

/// The best window's cosine with `query` for each of `texts` (of
/// `tenant`), in order.
pub async fn scores(
    ctx: &Ctx,
    tenant: uuid::Uuid,
    embedder: &Arc<Embedder>,
    query: &[f32],
    texts: &[&str],
    words: usize,
) -> ServiceResult<Vec<f32>> {
    let cut: Vec<Vec<String>> = texts.iter().map(|t| windows(t, words)).collect();
    let flat: Vec<String> = cut.iter().flatten().cloned().collect();
    let (vectors, _) = super::embeddings::embed_cached(ctx, tenant, embedder, &flat).await?;
    let mut next = vectors.iter();
    Ok(cut
        .iter()
        .map(|w| w.iter().filter_map(|_| next.next()).map(|v| cosine(query, v)).fold(f32::MIN, f32::max))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_overlap_by_half_and_cover_every_word() {
        let text = (1..=10).map(|i| i.to_string()).collect::<Vec<_>>().join(" ");
        let w = windows(&text, 4);
        assert_eq!(w, ["1 2 3 4", "3 4 5 6", "5 6 7 8", "7 8 9 10"]);
        assert_eq!(windows("a  b\nc", 4), ["a b c"], "a short text is one window, whitespace folded");
        let w = windows(&text, 0);
        assert!(w.len() == 9 && w[8] == "9 10", "a window of at least two words always advances: {w:?}");
    }
}
