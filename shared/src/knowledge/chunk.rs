//! Token-aware chunking. Chunks break at pages and headings first, then at
//! paragraphs, and only cut inside a paragraph that alone exceeds the size.
//! A chunk cut for size carries `overlap` tokens of the previous one. Each
//! chunk keeps its page and its heading path.
//!
//! Tokens are counted by a [`Tokens`] counter: the embedding model's own
//! tokenizer ([`crate::embed::TokenCounter`]) when ingesting, so that no
//! chunk exceeds the model's window and nothing is cut at embed time; or
//! the estimate `max(words, characters / 4)` ([`Estimate`]) where no model
//! is at hand. A word's tokens never depend on its neighbours (the model's
//! pre-tokenizer splits at whitespace), so a chunk's count is the sum of
//! its words' counts, each computed once per document.

use std::collections::HashMap;

use super::extract::{Block, Extracted};

/// The estimate for a whole text, `max(words, characters / 4)`, where no
/// tokenizer is at hand.
pub fn estimate_tokens(text: &str) -> usize {
    text.split_whitespace().count().max(text.chars().count().div_ceil(4))
}

/// Counts the tokens of one word (no special tokens).
pub trait Tokens {
    fn count(&self, word: &str) -> usize;

    /// Whether counting costs enough that each distinct word of a
    /// document should be counted once and remembered.
    fn remember(&self) -> bool {
        true
    }
}

/// `max(1, characters / 4)` per word: the rule of thumb for BPE-like
/// vocabularies.
pub struct Estimate;

impl Tokens for Estimate {
    fn count(&self, word: &str) -> usize {
        word.chars().count().div_ceil(4).max(1)
    }

    fn remember(&self) -> bool {
        false
    }
}

/// Chunk size and overlap, in tokens.
#[derive(Debug, Clone, Copy)]
pub struct ChunkSettings {
    pub size: usize,
    pub overlap: usize,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chunk {
    pub ordinal: usize,
    pub page: u32,
    pub heading_path: Vec<String>,
    pub text: String,
    pub tokens: usize,
}

struct Builder<'a> {
    cfg: ChunkSettings,
    counter: &'a dyn Tokens,
    /// Tokens per distinct word of the document.
    known: HashMap<&'a str, usize>,
    out: Vec<Chunk>,
    /// The current chunk's words with their tokens, and their sum.
    words: Vec<(&'a str, usize)>,
    tokens: usize,
    page: u32,
    path: Vec<String>,
}

impl<'a> Builder<'a> {
    fn count(&mut self, w: &'a str) -> usize {
        let counter = self.counter;
        if !counter.remember() {
            return counter.count(w);
        }
        *self.known.entry(w).or_insert_with(|| counter.count(w))
    }

    fn push(&mut self, w: &'a str, n: usize) {
        self.tokens += n;
        self.words.push((w, n));
    }

    /// Ends the current chunk; `carry` keeps its tail as the next one's start.
    fn flush(&mut self, carry: bool) {
        if self.words.is_empty() {
            return;
        }
        let text = self.words.iter().map(|(w, _)| *w).collect::<Vec<_>>().join(" ");
        self.out.push(Chunk {
            ordinal: self.out.len(),
            page: self.page,
            heading_path: self.path.clone(),
            text,
            tokens: self.tokens,
        });
        let (mut keep, mut kept) = (0, 0);
        if carry && self.cfg.overlap > 0 {
            while keep < self.words.len() {
                let n = self.words[self.words.len() - keep - 1].1;
                if kept + n > self.cfg.overlap {
                    break;
                }
                (keep, kept) = (keep + 1, kept + n);
            }
        }
        self.words.drain(..self.words.len() - keep);
        self.tokens = kept;
    }

    fn paragraph(&mut self, text: &'a str) {
        let words: Vec<(&str, usize)> = text.split_whitespace().map(|w| (w, self.count(w))).collect();
        let incoming: usize = words.iter().map(|w| w.1).sum();
        if !self.words.is_empty() && self.tokens + incoming > self.cfg.size {
            self.flush(true);
        }
        for (w, n) in words {
            // A single word longer than a chunk (a hash, a URL) is kept
            // whole in a chunk of its own; the model truncates only it.
            if !self.words.is_empty() && self.tokens + n > self.cfg.size {
                self.flush(true);
                // The overlap carried over may leave no room for the word.
                while !self.words.is_empty() && self.tokens + n > self.cfg.size {
                    let (_, dropped) = self.words.remove(0);
                    self.tokens -= dropped;
                }
            }
            self.push(w, n);
        }
    }
}

/// Cuts extracted text into chunks of at most `cfg.size` tokens as
/// `counter` counts them.
pub fn chunk(doc: &Extracted, cfg: ChunkSettings, counter: &dyn Tokens) -> Vec<Chunk> {
    let cfg = ChunkSettings { size: cfg.size.max(8), overlap: cfg.overlap.min(cfg.size / 2) };
    let mut b = Builder {
        cfg,
        counter,
        known: HashMap::new(),
        out: Vec::new(),
        words: Vec::new(),
        tokens: 0,
        page: 1,
        path: Vec::new(),
    };
    for page in &doc.pages {
        b.flush(false);
        b.page = page.number;
        for block in &page.blocks {
            match block {
                Block::Heading(level, title) => {
                    b.flush(false);
                    b.path.truncate(*level as usize - 1);
                    b.path.push(title.clone());
                }
                Block::Paragraph(text) => b.paragraph(text),
            }
        }
    }
    b.flush(false);
    b.out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::knowledge::extract::Page;

    fn para(words: usize, tag: &str) -> Block {
        Block::Paragraph((0..words).map(|i| format!("{tag}{i}")).collect::<Vec<_>>().join(" "))
    }

    #[test]
    fn chunks_break_at_pages_and_headings_and_keep_their_place() {
        let doc = Extracted {
            pages: vec![
                Page::new(
                    1,
                    vec![
                        Block::Heading(1, "Intro".into()),
                        para(10, "a"),
                        Block::Heading(2, "Detail".into()),
                        para(10, "b"),
                    ],
                ),
                Page::new(2, vec![para(10, "c")]),
            ],
        };
        let chunks = chunk(&doc, ChunkSettings { size: 100, overlap: 10 }, &Estimate);
        assert_eq!(chunks.len(), 3);
        assert_eq!(chunks[0].heading_path, vec!["Intro"]);
        assert_eq!(chunks[1].heading_path, vec!["Intro", "Detail"]);
        assert_eq!(
            (chunks[2].page, chunks[2].heading_path.clone()),
            (2, vec!["Intro".to_string(), "Detail".to_string()])
        );
        assert!(chunks[0].text.starts_with("a0") && chunks[1].text.starts_with("b0"));
    }

    #[test]
    fn long_paragraphs_are_cut_with_overlap_and_respect_the_size() {
        let doc = Extracted { pages: vec![Page::new(1, vec![para(1000, "w")])] };
        let chunks = chunk(&doc, ChunkSettings { size: 64, overlap: 8 }, &Estimate);
        assert!(chunks.len() > 10);
        for c in &chunks {
            assert!(c.tokens <= 64, "{} tokens", c.tokens);
        }
        // The second chunk starts inside the first: they overlap.
        let second_first = chunks[1].text.split(' ').next().unwrap();
        assert!(chunks[0].text.split(' ').any(|w| w == second_first));
        // Nothing is lost: every word appears.
        let all: std::collections::HashSet<&str> = chunks.iter().flat_map(|c| c.text.split(' ')).collect();
        assert_eq!(all.len(), 1000);
        assert_eq!(chunks.iter().map(|c| c.ordinal).collect::<Vec<_>>(), (0..chunks.len()).collect::<Vec<_>>());
    }
}
