//! Token-aware chunking. Chunks break at pages and headings first, then at
//! paragraphs, and only cut inside a paragraph that alone exceeds the size.
//! A chunk cut for size carries `overlap` tokens of the previous one. Each
//! chunk keeps its page and its heading path.
//!
//! Tokens are estimated as `max(words, characters / 4)`, the usual rule of
//! thumb for BPE vocabularies; the embedding model's tokenizer truncates
//! anything a little over.

use super::extract::{Block, Extracted};

/// Chunk size and overlap, in (estimated) tokens.
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

/// Estimated tokens of `text`.
pub fn estimate_tokens(text: &str) -> usize {
    text.split_whitespace().count().max(text.chars().count().div_ceil(4))
}

struct Builder<'a> {
    cfg: ChunkSettings,
    out: Vec<Chunk>,
    words: Vec<&'a str>,
    /// Characters of `words` joined by single spaces, kept in step.
    chars: usize,
    page: u32,
    path: Vec<String>,
}

/// Estimated tokens of `words` words spanning `chars` characters.
fn tokens_of(words: usize, chars: usize) -> usize {
    words.max(chars.div_ceil(4))
}

impl<'a> Builder<'a> {
    fn tokens(&self) -> usize {
        tokens_of(self.words.len(), self.chars)
    }

    fn push(&mut self, w: &'a str) {
        self.chars += w.chars().count() + usize::from(!self.words.is_empty());
        self.words.push(w);
    }

    /// Ends the current chunk; `carry` keeps its tail as the next one's start.
    fn flush(&mut self, carry: bool) {
        if self.words.is_empty() {
            return;
        }
        let text = self.words.join(" ");
        let tokens = estimate_tokens(&text);
        self.out.push(Chunk {
            ordinal: self.out.len(),
            page: self.page,
            heading_path: self.path.clone(),
            text,
            tokens,
        });
        let (mut keep, mut chars) = (0, 0);
        if carry && self.cfg.overlap > 0 {
            while keep < self.words.len() {
                let w = self.words[self.words.len() - keep - 1].chars().count();
                let more = chars + w + usize::from(keep > 0);
                if tokens_of(keep + 1, more) > self.cfg.overlap {
                    break;
                }
                (keep, chars) = (keep + 1, more);
            }
        }
        self.words.drain(..self.words.len() - keep);
        self.chars = chars;
    }

    fn paragraph(&mut self, text: &'a str) {
        let words: Vec<&str> = text.split_whitespace().collect();
        let incoming = tokens_of(words.len(), text.chars().count());
        if !self.words.is_empty() && self.tokens() + incoming > self.cfg.size {
            self.flush(true);
        }
        for w in words {
            self.push(w);
            if self.tokens() > self.cfg.size && self.words.len() > 1 {
                let last = self.words.pop().expect("non-empty");
                self.chars -= last.chars().count() + 1;
                self.flush(true);
                self.push(last);
            }
        }
    }
}

/// Cuts extracted text into chunks.
pub fn chunk(doc: &Extracted, cfg: ChunkSettings) -> Vec<Chunk> {
    let cfg = ChunkSettings { size: cfg.size.max(8), overlap: cfg.overlap.min(cfg.size / 2) };
    let mut b = Builder { cfg, out: Vec::new(), words: Vec::new(), chars: 0, page: 1, path: Vec::new() };
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
        let chunks = chunk(&doc, ChunkSettings { size: 100, overlap: 10 });
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
        let chunks = chunk(&doc, ChunkSettings { size: 64, overlap: 8 });
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
