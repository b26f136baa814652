//! From positioned glyphs ([`super::pdf`]) to a page's text: glyphs on one
//! baseline make a line, lines are read top to bottom and left to right, a
//! space goes where the gap between two glyphs exceeds a fraction of the
//! font's space width (and nowhere else, so no word is split), a larger
//! vertical gap or a change of size starts a paragraph, larger type makes a
//! heading, a word hyphenated at a line's end is joined, and compatibility
//! characters are normalised (NFKC: ligatures, non-breaking spaces).
//!
//! Lines repeated at the top or the bottom of most pages (running headers,
//! footers, page numbers; digits compared as one) are kept apart as
//! [`Page::header`]/[`Page::footer`]: in the preview, not in chunks.

use std::collections::{HashMap, HashSet};
use std::ops::Range;

use unicode_normalization::UnicodeNormalization;

use super::extract::{Block, Page};
use super::pdf::{push_text, Glyph, PageGlyphs};

/// A line of text on a page.
#[derive(Debug, Clone, PartialEq)]
pub struct Line {
    pub text: String,
    /// Baseline (device space, y up) and left end.
    pub y: f32,
    pub x: f32,
    /// The largest font size on the line.
    pub size: f32,
}

/// Baselines closer than this fraction of the font size are one line.
const SAME_LINE: f32 = 0.4;

/// Whether a glyph can be placed: it has text and a finite position.
fn placed(g: &Glyph) -> bool {
    g.start != g.end && g.x0.is_finite() && g.y.is_finite() && g.size.is_finite() && g.size > 0.0
}

/// The lines of a page, top to bottom.
pub fn lines(page: &PageGlyphs) -> Vec<Line> {
    let glyphs = &page.glyphs;
    // Runs of glyphs drawn one after another on one baseline, as ranges
    // of `glyphs` (unplaced glyphs inside a run are skipped when read).
    let mut runs: Vec<Range<usize>> = Vec::new();
    let mut last: Option<&Glyph> = None;
    for (i, g) in glyphs.iter().enumerate() {
        if !placed(g) {
            continue;
        }
        let same = last.is_some_and(|p| {
            (p.y - g.y).abs() <= SAME_LINE * p.size.max(g.size) && g.x0 >= p.x0 - 0.1 * g.size.max(p.size)
        });
        match runs.last_mut() {
            Some(run) if same => run.end = i + 1,
            _ => runs.push(i..i + 1),
        }
        last = Some(g);
    }
    // Runs on one baseline make a line, whatever order they were drawn in:
    // sorted top to bottom, a line is a stretch of runs whose baselines are
    // near its first run's, then read left to right.
    let first = |r: &Range<usize>| &glyphs[r.start];
    runs.sort_by(|a, b| first(b).y.total_cmp(&first(a).y));
    let mut out = Vec::new();
    let mut start = 0;
    while start < runs.len() {
        let head = first(&runs[start]);
        let end = start
            + runs[start..]
                .iter()
                .position(|r| (head.y - first(r).y).abs() > SAME_LINE * head.size.max(first(r).size))
                .unwrap_or(runs.len() - start);
        let line = &mut runs[start..end];
        line.sort_by(|a, b| first(a).x0.total_cmp(&first(b).x0));
        out.extend(line_of(page, line));
        start = end;
    }
    out
}

/// The text of one line's runs, left to right.
fn line_of(page: &PageGlyphs, runs: &[Range<usize>]) -> Option<Line> {
    let mut text = String::new();
    // Whether the text is printable ASCII with single spaces so far: such
    // a line needs no normalising, only its end trimmed.
    let mut plain = true;
    let mut prev: Option<&Glyph> = None;
    let (mut y, mut x, mut size) = (0.0, 0.0, 0.0f32);
    for run in runs {
        for g in page.glyphs[run.clone()].iter().filter(|g| placed(g)) {
            let t = page.glyph_text(g);
            size = size.max(g.size);
            match prev {
                None => (y, x) = (g.y, g.x0),
                Some(p) => {
                    // The same glyph drawn again on itself: fake bold.
                    if (g.x0 - p.x0).abs() < 0.2 * g.size && page.glyph_text(p) == t {
                        continue;
                    }
                    let gap = g.x0 - p.x1;
                    let space = p.space.clamp(0.2 * p.size, 0.35 * p.size);
                    if (gap > 0.4 * space || gap < -0.5 * p.size) && !text.is_empty() && !text.ends_with(' ') {
                        text.push(' ');
                    }
                }
            }
            if t.bytes().all(|b| b.is_ascii_graphic()) {
                push_text(&mut text, t);
            } else if t.chars().all(char::is_whitespace) {
                if !text.is_empty() && !text.ends_with(' ') {
                    text.push(' ');
                }
            } else {
                plain = false;
                text.push_str(t);
            }
            prev = Some(g);
        }
    }
    if plain {
        text.truncate(text.trim_end().len());
    } else {
        let normal: String = text.chars().map(ascii_accent).nfkc().filter(|c| *c != '\u{ad}').collect();
        text = normal.split_whitespace().collect::<Vec<_>>().join(" ");
    }
    (!text.is_empty()).then_some(Line { text, y, x, size })
}

/// Fonts' spacing tilde and circumflex (glyphs `tilde`, `circumflex`)
/// stand for ASCII's in text such as `~/.ssh`; NFKC would turn them into
/// a space and a combining accent.
fn ascii_accent(c: char) -> char {
    match c {
        '\u{2dc}' => '~',
        '\u{2c6}' => '^',
        c => c,
    }
}

/// A line's text lowercased, its numbers (words of digits, punctuation
/// aside) as `#`: page 3 and page 4 of a running footer are the same line,
/// `zebra3` and `zebra4` are not.
fn furniture_key(text: &str) -> String {
    let words = text.split(' ').map(|w| {
        let core = w.trim_matches(|c: char| c.is_ascii_punctuation());
        if !core.is_empty() && core.chars().all(|c| c.is_ascii_digit()) {
            w.replace(core, "#")
        } else {
            w.to_lowercase()
        }
    });
    words.collect::<Vec<_>>().join(" ")
}

/// How many lines at each end of a page may be running headers or footers.
const EDGE_LINES: usize = 2;

/// Pages this short have no running header or footer: all their lines
/// would be at an edge.
fn too_short(lines: &[Line]) -> bool {
    lines.len() <= 2 * EDGE_LINES
}

/// Pages from their lines: furniture set apart, then blocks.
pub fn pages(numbered: Vec<(u32, Vec<Line>)>) -> Vec<Page> {
    let furniture = furniture(&numbered);
    let body_size = body_size(&numbered);
    numbered
        .into_iter()
        .map(|(number, lines)| {
            let n = lines.len();
            let (mut header, mut footer, mut body) = (Vec::new(), Vec::new(), Vec::new());
            if too_short(&lines) {
                return Page { number, blocks: blocks(&lines, body_size), header, footer };
            }
            for (i, line) in lines.into_iter().enumerate() {
                let (top, bottom) = (i < EDGE_LINES, i + EDGE_LINES >= n);
                let key =
                    if (top || bottom) && !furniture.is_empty() { furniture_key(&line.text) } else { String::new() };
                if top && furniture.contains(&(true, key.clone())) {
                    header.push(line.text);
                } else if bottom && furniture.contains(&(false, key)) {
                    footer.push(line.text);
                } else {
                    body.push(line);
                }
            }
            Page { number, blocks: blocks(&body, body_size), header, footer }
        })
        .collect()
}

/// Lines (by key, and whether at the top) repeated at the same end of at
/// least half the pages, and of three pages at least.
fn furniture(pages: &[(u32, Vec<Line>)]) -> HashSet<(bool, String)> {
    let mut counts: HashMap<(bool, String), usize> = HashMap::new();
    for (_, lines) in pages.iter().filter(|(_, lines)| !too_short(lines)) {
        let n = lines.len();
        let mut seen = HashSet::new();
        for (i, line) in lines.iter().enumerate() {
            let (top, bottom) = (i < EDGE_LINES, i + EDGE_LINES >= n);
            if !(top || bottom) {
                continue;
            }
            let key = furniture_key(&line.text);
            for edge in [top.then_some(true), bottom.then_some(false)].into_iter().flatten() {
                if seen.insert((edge, key.clone())) {
                    *counts.entry((edge, key.clone())).or_default() += 1;
                }
            }
        }
    }
    let needed = pages.len().div_ceil(2).max(3);
    counts.into_iter().filter(|(_, c)| *c >= needed).map(|(k, _)| k).collect()
}

/// The size most of the text is set in (by characters).
fn body_size(pages: &[(u32, Vec<Line>)]) -> f32 {
    let mut by_size: HashMap<u32, usize> = HashMap::new();
    for line in pages.iter().flat_map(|(_, l)| l) {
        *by_size.entry((line.size * 10.0).round() as u32).or_default() += line.text.len();
    }
    by_size.into_iter().max_by_key(|(size, chars)| (*chars, *size)).map(|(s, _)| s as f32 / 10.0).unwrap_or(10.0)
}

/// A heading's level by how much larger than the body it is set.
fn heading_level(size: f32, body: f32) -> Option<u8> {
    let ratio = size / body.max(0.1);
    match ratio {
        r if r >= 1.6 => Some(1),
        r if r >= 1.3 => Some(2),
        r if r >= 1.15 => Some(3),
        _ => None,
    }
}

/// The blocks of a page's body lines.
fn blocks(lines: &[Line], body: f32) -> Vec<Block> {
    let mut steps: Vec<f32> = lines.windows(2).map(|w| w[0].y - w[1].y).filter(|d| *d > 0.0 && d.is_finite()).collect();
    steps.sort_by(f32::total_cmp);
    // The usual step from one line to the next: most steps are within a
    // paragraph, so the lower quartile is one of them.
    let leading = steps.get(steps.len() / 4).copied().unwrap_or(body * 1.2);
    let mut out = Vec::new();
    let mut para = String::new();
    let mut heading: Option<(u8, String)> = None;
    let flush_para = |para: &mut String, out: &mut Vec<Block>| {
        if !para.is_empty() {
            out.push(Block::Paragraph(std::mem::take(para)));
        }
    };
    let mut prev: Option<&Line> = None;
    for line in lines {
        let level = heading_level(line.size, body).filter(|_| line.text.chars().count() <= 150);
        let gap = prev.map(|p| p.y - line.y);
        let breaks = match (prev, gap) {
            (Some(p), Some(dy)) => {
                dy > 1.45 * leading.max(p.size) || dy < -0.5 * p.size || (line.size - p.size).abs() > 0.15 * p.size
            }
            _ => true,
        };
        match level {
            Some(level) => {
                flush_para(&mut para, &mut out);
                match &mut heading {
                    Some((l, text)) if *l == level && !breaks => {
                        text.push(' ');
                        text.push_str(&line.text);
                    }
                    _ => {
                        if let Some((l, t)) = heading.take() {
                            out.push(Block::Heading(l, t));
                        }
                        heading = Some((level, line.text.clone()));
                    }
                }
            }
            None => {
                if let Some((l, t)) = heading.take() {
                    out.push(Block::Heading(l, t));
                }
                if breaks {
                    flush_para(&mut para, &mut out);
                }
                join_line(&mut para, &line.text);
            }
        }
        prev = Some(line);
    }
    if let Some((l, t)) = heading.take() {
        out.push(Block::Heading(l, t));
    }
    flush_para(&mut para, &mut out);
    out
}

/// Appends a line to a paragraph, joining a word hyphenated across them.
fn join_line(para: &mut String, line: &str) {
    if para.is_empty() {
        para.push_str(line);
        return;
    }
    let mut tail = para.chars().rev();
    let hyphenated = tail.next() == Some('-') && tail.next().is_some_and(char::is_lowercase);
    if hyphenated && line.chars().next().is_some_and(char::is_lowercase) {
        para.pop();
    } else {
        para.push(' ');
    }
    para.push_str(line);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Glyphs for `words` set on one baseline in a 10-point font whose
    /// glyphs are 5 points wide, `gap` points between words.
    fn set(page: &mut PageGlyphs, words: &[&str], x: f32, y: f32, gap: f32) {
        let mut x = x;
        for (i, w) in words.iter().enumerate() {
            if i > 0 {
                x += gap;
            }
            for c in w.chars() {
                let start = page.text.len() as u32;
                page.text.push(c);
                let end = page.text.len() as u32;
                page.glyphs.push(Glyph { start, end, x0: x, x1: x + 5.0, y, size: 10.0, space: 2.5 });
                x += 5.0;
            }
        }
    }

    #[test]
    fn spaces_go_where_the_gap_is_and_nowhere_inside_a_word() {
        let mut page = PageGlyphs::default();
        // Kerned tight (0.3 pt) inside words, a space's width between them.
        set(&mut page, &["SYNOPSIS"], 50.0, 700.0, 0.0);
        set(&mut page, &["ssh", "-K"], 100.0, 700.0, 2.6);
        let lines = lines(&page);
        assert_eq!(lines.len(), 1);
        assert_eq!(lines[0].text, "SYNOPSIS ssh -K");
    }

    #[test]
    fn lines_are_read_top_down_whatever_the_drawing_order() {
        let mut page = PageGlyphs::default();
        set(&mut page, &["second"], 50.0, 680.0, 3.0);
        set(&mut page, &["first", "line"], 50.0, 700.0, 3.0);
        set(&mut page, &["end"], 100.0, 680.0, 3.0);
        let text: Vec<String> = lines(&page).into_iter().map(|l| l.text).collect();
        assert_eq!(text, ["first line", "second end"]);
    }

    #[test]
    fn ligatures_are_normalised_and_hyphenated_words_joined() {
        let mut page = PageGlyphs::default();
        set(&mut page, &["the", "speci\u{fb01}ed", "desti-"], 50.0, 700.0, 3.0);
        set(&mut page, &["nation", "port"], 50.0, 688.0, 3.0);
        let pages = pages(vec![(1, lines(&page))]);
        assert_eq!(pages[0].blocks, vec![Block::Paragraph("the specified destination port".into())]);
    }

    #[test]
    fn running_headers_and_page_numbers_leave_the_body_for_the_preview() {
        let numbered = (1..=4)
            .map(|n| {
                let mut page = PageGlyphs::default();
                set(&mut page, &["SSH(1)", "Manual", "SSH(1)"], 50.0, 800.0, 3.0);
                for (i, word) in ["the", "body", "of", "page"].into_iter().enumerate() {
                    set(&mut page, &[word, &format!("zebra{n}")], 50.0, 700.0 - 12.0 * i as f32, 3.0);
                }
                set(&mut page, &["Page", &format!("{n}")], 300.0, 40.0, 3.0);
                (n, lines(&page))
            })
            .collect();
        let pages = pages(numbered);
        for (i, p) in pages.iter().enumerate() {
            let z = format!("zebra{}", i + 1);
            assert_eq!(p.header, vec!["SSH(1) Manual SSH(1)".to_string()]);
            assert_eq!(p.footer, vec![format!("Page {}", i + 1)]);
            // Lines alike but for a number inside a word are text.
            assert_eq!(p.blocks, vec![Block::Paragraph(format!("the {z} body {z} of {z} page {z}"))]);
            assert!(p.text().starts_with("SSH(1)") && p.text().ends_with(&format!("Page {}", i + 1)));
        }
    }

    #[test]
    fn larger_type_is_a_heading_and_a_wide_gap_a_new_paragraph() {
        let mut page = PageGlyphs::default();
        let mut big = PageGlyphs::default();
        set(&mut big, &["Title"], 50.0, 760.0, 3.0);
        for g in &mut big.glyphs {
            g.size = 18.0;
        }
        page.text = big.text.clone();
        page.glyphs = big.glyphs.clone();
        set(&mut page, &["one"], 50.0, 730.0, 3.0);
        set(&mut page, &["two"], 50.0, 718.0, 3.0);
        set(&mut page, &["three"], 50.0, 690.0, 3.0);
        let pages = pages(vec![(1, lines(&page))]);
        assert_eq!(
            pages[0].blocks,
            vec![
                Block::Heading(1, "Title".into()),
                Block::Paragraph("one two".into()),
                Block::Paragraph("three".into())
            ]
        );
    }
}
