//! `just bench ingest`, the Chorus side: extraction and chunking of a
//! generated corpus of multi-page PDFs, single-threaded, as the ingest job
//! does it. Writes the corpus first if the directory is empty, then prints
//! one JSON line.
//!
//! Usage: bench_ingest <corpus-dir> <documents> <pages-per-document>

use std::time::Instant;

use chorus_shared::knowledge::chunk::{chunk, ChunkSettings};
use chorus_shared::knowledge::extract::{extract, DocType, Limits};
use chorus_tests::pdf::{pdf, prose_pages, Flaw};
use serde_json::json;

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let [_, dir, docs, pages] = args.as_slice() else {
        anyhow::bail!("usage: bench_ingest <corpus-dir> <documents> <pages-per-document>");
    };
    let (docs, pages): (usize, usize) = (docs.parse()?, pages.parse()?);
    std::fs::create_dir_all(dir)?;
    for i in 0..docs {
        let path = format!("{dir}/doc{i:04}.pdf");
        if !std::path::Path::new(&path).exists() {
            std::fs::write(&path, pdf(&prose_pages(pages, 300), Flaw::None))?;
        }
    }
    let files: Vec<Vec<u8>> =
        (0..docs).map(|i| std::fs::read(format!("{dir}/doc{i:04}.pdf"))).collect::<Result<_, _>>()?;
    let settings = ChunkSettings { size: 256, overlap: 32 };
    let started = Instant::now();
    let (mut n_pages, mut n_chunks) = (0usize, 0usize);
    for bytes in &files {
        let doc = extract(bytes, DocType::Pdf, Limits::default()).map_err(|e| anyhow::anyhow!("{e}"))?;
        n_pages += doc.pages.len();
        n_chunks += chunk(&doc, settings).len();
    }
    let seconds = started.elapsed().as_secs_f64();
    println!(
        "{}",
        json!({"system": "chorus", "documents": docs, "pages": n_pages, "chunks": n_chunks, "seconds": seconds, "pages_per_s": n_pages as f64 / seconds})
    );
    Ok(())
}
