//! PDFs the tests make themselves: good ones of N pages, and the malformed
//! corpus (encrypted, truncated, image-only, zero pages).

use lopdf::content::{Content, Operation};
use lopdf::{dictionary, Document, Object, Stream};

/// How to spoil a generated PDF.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flaw {
    None,
    /// An /Encrypt dictionary in the trailer (password-protected).
    Encrypted,
    /// Pages with no text operators (a scan without OCR).
    ImageOnly,
}

/// A PDF with one page per entry of `pages`, each line a text line.
pub fn pdf(pages: &[String], flaw: Flaw) -> Vec<u8> {
    let mut doc = Document::with_version("1.5");
    let pages_id = doc.new_object_id();
    let font_id = doc.add_object(dictionary! { "Type" => "Font", "Subtype" => "Type1", "BaseFont" => "Helvetica" });
    let resources_id = doc.add_object(dictionary! { "Font" => dictionary! { "F1" => font_id } });
    let mut kids: Vec<Object> = Vec::new();
    for text in pages {
        let mut ops = vec![
            Operation::new("BT", vec![]),
            Operation::new("Tf", vec!["F1".into(), 11.into()]),
            Operation::new("TL", vec![14.into()]),
            Operation::new("Td", vec![50.into(), 800.into()]),
        ];
        if flaw != Flaw::ImageOnly {
            for line in text.lines() {
                ops.push(Operation::new("Tj", vec![Object::string_literal(line)]));
                ops.push(Operation::new("T*", vec![]));
            }
        }
        ops.push(Operation::new("ET", vec![]));
        if flaw == Flaw::ImageOnly {
            // Draw a filled rectangle instead of text.
            ops.push(Operation::new("re", vec![50.into(), 50.into(), 400.into(), 600.into()]));
            ops.push(Operation::new("f", vec![]));
        }
        let content_id = doc.add_object(Stream::new(dictionary! {}, Content { operations: ops }.encode().unwrap()));
        let page_id = doc.add_object(dictionary! { "Type" => "Page", "Parent" => pages_id, "Contents" => content_id });
        kids.push(page_id.into());
    }
    let count = kids.len() as i64;
    doc.objects.insert(
        pages_id,
        Object::Dictionary(dictionary! {
            "Type" => "Pages", "Kids" => kids, "Count" => count, "Resources" => resources_id,
            "MediaBox" => vec![0.into(), 0.into(), 595.into(), 842.into()],
        }),
    );
    let catalog_id = doc.add_object(dictionary! { "Type" => "Catalog", "Pages" => pages_id });
    doc.trailer.set("Root", catalog_id);
    if flaw == Flaw::Encrypted {
        let junk = Object::string_literal(vec![7u8; 32]);
        let enc = doc.add_object(
            dictionary! { "Filter" => "Standard", "V" => 1, "R" => 2, "O" => junk.clone(), "U" => junk, "P" => -4 },
        );
        doc.trailer.set("Encrypt", enc);
        doc.trailer.set("ID", vec![Object::string_literal(vec![1u8; 16]), Object::string_literal(vec![1u8; 16])]);
    }
    let mut buf = Vec::new();
    doc.save_to(&mut buf).unwrap();
    buf
}

/// `n` pages of book-like text (about `words` words each), for benchmarks.
pub fn prose_pages(n: usize, words: usize) -> Vec<String> {
    const VOCAB: &[&str] = &[
        "queue",
        "worker",
        "tenant",
        "document",
        "retry",
        "backoff",
        "chunk",
        "vector",
        "signal",
        "postgres",
        "redis",
        "latency",
        "throughput",
        "ingest",
        "extract",
        "page",
        "heading",
        "token",
        "model",
        "answer",
    ];
    (0..n)
        .map(|p| {
            let mut lines = Vec::new();
            let mut line = Vec::new();
            for w in 0..words {
                line.push(VOCAB[(p * 7 + w * 13 + w / 5) % VOCAB.len()]);
                if line.len() == 12 {
                    lines.push(line.join(" "));
                    line.clear();
                }
            }
            lines.push(line.join(" "));
            lines.join("\n")
        })
        .collect()
}

/// `n` pages of distinct, searchable text.
pub fn pages(n: usize) -> Vec<String> {
    (1..=n)
        .map(|i| {
            format!(
                "Chapter {i} of the Chorus handbook.\nPage {i} explains queue number {i} and its workers.\n\
                 Every job on page {i} is idempotent and retried with backoff.\nThe marker word for this page is zebra{i}."
            )
        })
        .collect()
}

/// A PDF made by a real tool nobody here wrote: ghostscript's `ps2pdf`,
/// from a PostScript program. `None` if ghostscript is missing.
pub fn ps2pdf(lines_per_page: &[&[&str]]) -> Option<Vec<u8>> {
    let mut ps = String::from("%!PS\n/Helvetica findfont 12 scalefont setfont\n");
    for page in lines_per_page {
        for (i, line) in page.iter().enumerate() {
            ps.push_str(&format!(
                "72 {} moveto ({}) show\n",
                760 - 16 * i,
                line.replace('(', "\\(").replace(')', "\\)")
            ));
        }
        ps.push_str("showpage\n");
    }
    let dir = tempfile::tempdir().ok()?;
    let (input, output) = (dir.path().join("in.ps"), dir.path().join("out.pdf"));
    std::fs::write(&input, ps).ok()?;
    let status = std::process::Command::new("ps2pdf").arg(&input).arg(&output).status().ok()?;
    status.success().then(|| std::fs::read(&output).ok()).flatten()
}
