//! `just bench ingest`, the Chorus side, on a generated corpus of
//! multi-page PDFs (written first if the directory is empty). Prints one
//! JSON line per measurement.
//!
//! - `extract`: lopdf extraction + the ingest job's chunker, single-threaded;
//!   the fastest of three passes.
//! - `pipeline`: the whole ingestion path as the jobs run it (extract,
//!   chunk, embed in batches with fastembed, upsert into the embedded
//!   vector store); also writes the chunk texts to `<out>` for `embed`.
//! - `embed`: fastembed alone over the texts in `<out>` (passages/s), with
//!   batches formed by length (as the jobs embed) and in arrival order.
//!
//! - `text <pdf>…`: the text Chorus extracts from each file (one JSON line
//!   each: `file`, `text` with every page's header, body and footer, and
//!   `body`, what is chunked), for the extraction-quality comparison.
//!
//! Usage: bench_ingest <mode> <corpus-dir> <documents> <pages-per-document> <models-dir> <out>

use std::sync::Arc;
use std::time::Instant;

use chorus_shared::config::{EmbedSettings, VectorSettings};
use chorus_shared::knowledge::chunk::{chunk, ChunkSettings, Estimate};
use chorus_shared::knowledge::extract::{extract, DocType, Limits};
use chorus_shared::vectors::{edge::EdgeStore, Point, PointPayload, VectorStore};
use chorus_tests::pdf::{pdf, prose_pages, Flaw};
use serde_json::json;
use uuid::Uuid;

/// The worker's allocator, so extraction is measured as the jobs run it.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const CHUNKING: ChunkSettings = ChunkSettings { size: 256, overlap: 32 };

/// Passes over the extraction corpus; the fastest is reported.
const PASSES: usize = 3;

fn corpus(dir: &str, docs: usize, pages: usize) -> anyhow::Result<Vec<Vec<u8>>> {
    std::fs::create_dir_all(dir)?;
    (0..docs)
        .map(|i| {
            let path = format!("{dir}/doc{i:04}.pdf");
            if !std::path::Path::new(&path).exists() {
                std::fs::write(&path, pdf(&prose_pages(pages, 300), Flaw::None))?;
            }
            Ok(std::fs::read(&path)?)
        })
        .collect()
}

fn embedder(models: &str) -> anyhow::Result<Arc<chorus_shared::embed::Embedder>> {
    let s = EmbedSettings {
        model_dir: format!("{models}/all-MiniLM-L6-v2"),
        ort_library: format!("{models}/libonnxruntime.so"),
        ..EmbedSettings::default()
    };
    chorus_shared::embed::load(&s).map_err(|e| anyhow::anyhow!(e))
}

fn texts(files: &[String]) -> anyhow::Result<()> {
    for file in files {
        let bytes = std::fs::read(file)?;
        let started = Instant::now();
        let doc = extract(&bytes, DocType::Pdf, Limits::default()).map_err(|e| anyhow::anyhow!("{file}: {e}"))?;
        let seconds = started.elapsed().as_secs_f64();
        let text: Vec<String> = doc.pages.iter().map(|p| p.text()).collect();
        let body: Vec<String> = doc
            .pages
            .iter()
            .map(|p| chorus_shared::knowledge::Page { header: vec![], footer: vec![], ..p.clone() }.text())
            .collect();
        println!("{}", json!({"file": file, "text": text.join("\n\n"), "body": body.join("\n\n"), "seconds": seconds}));
    }
    Ok(())
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("text") {
        return texts(&args[2..]);
    }
    let [_, mode, dir, docs, pages, models, out] = args.as_slice() else {
        anyhow::bail!(
            "usage: bench_ingest <extract|pipeline|embed> <corpus-dir> <documents> <pages> <models-dir> <out>"
        );
    };
    let (docs, pages): (usize, usize) = (docs.parse()?, pages.parse()?);
    match mode.as_str() {
        "extract" => {
            let files = corpus(dir, docs, pages)?;
            // The fastest of a few passes: the machine is shared, and the
            // Python side is timed the same way.
            let (mut seconds, mut n_pages, mut n_chunks) = (f64::MAX, 0usize, 0usize);
            for _ in 0..PASSES {
                let started = Instant::now();
                (n_pages, n_chunks) = (0, 0);
                for bytes in &files {
                    let doc = extract(bytes, DocType::Pdf, Limits::default()).map_err(|e| anyhow::anyhow!("{e}"))?;
                    n_pages += doc.pages.len();
                    n_chunks += chunk(&doc, CHUNKING, &Estimate).len();
                }
                seconds = seconds.min(started.elapsed().as_secs_f64());
            }
            println!(
                "{}",
                json!({"system": "chorus", "stage": "extract", "documents": docs, "pages": n_pages,
                    "chunks": n_chunks, "seconds": seconds, "pages_per_s": n_pages as f64 / seconds, "passes": PASSES})
            );
        }
        "pipeline" => {
            let files = corpus(dir, docs, pages)?;
            let embedder = embedder(models)?;
            let data = tempfile::tempdir()?;
            let store =
                EdgeStore::open(&VectorSettings { path: data.path().display().to_string(), ..Default::default() })
                    .map_err(|e| anyhow::anyhow!(e))?;
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
            rt.block_on(store.create_collection("bench", embedder.dimension))?;
            let tenant = Uuid::new_v4();
            let mut all_texts = Vec::new();
            let started = Instant::now();
            let (mut n_pages, mut n_chunks) = (0usize, 0usize);
            for bytes in &files {
                let doc = extract(bytes, DocType::Pdf, Limits::default()).map_err(|e| anyhow::anyhow!("{e}"))?;
                n_pages += doc.pages.len();
                let texts: Vec<String> = chunk(&doc, CHUNKING, &Estimate).into_iter().map(|c| c.text).collect();
                let vectors = embedder.embed(&texts).map_err(|e| anyhow::anyhow!(e))?;
                let document_id = Uuid::new_v4();
                let points = vectors
                    .into_iter()
                    .enumerate()
                    .map(|(i, vector)| Point {
                        id: Uuid::new_v4(),
                        vector,
                        payload: PointPayload {
                            tenant_id: tenant,
                            document_id,
                            ordinal: i as i64,
                            tags: Vec::new(),
                            metadata: Default::default(),
                        },
                    })
                    .collect();
                rt.block_on(store.upsert("bench", points))?;
                n_chunks += texts.len();
                all_texts.extend(texts);
            }
            let seconds = started.elapsed().as_secs_f64();
            std::fs::write(out, serde_json::to_vec(&all_texts)?)?;
            println!(
                "{}",
                json!({"system": "chorus", "stage": "pipeline", "documents": docs, "pages": n_pages,
                    "chunks": n_chunks, "seconds": seconds, "pages_per_s": n_pages as f64 / seconds,
                    "chunks_per_s": n_chunks as f64 / seconds})
            );
        }
        "embed" => {
            let texts: Vec<String> = serde_json::from_slice(&std::fs::read(out)?)?;
            let embedder = embedder(models)?;
            // In arrival order, batch by batch, as before; then as the jobs
            // embed now, batches formed from the texts sorted by length
            // (second, so any warm-up favours the old way).
            let started = Instant::now();
            for batch in texts.chunks(32) {
                embedder.embed(batch).map_err(|e| anyhow::anyhow!(e))?;
            }
            let unsorted = started.elapsed().as_secs_f64();
            let started = Instant::now();
            let vectors = embedder.embed(&texts).map_err(|e| anyhow::anyhow!(e))?;
            let seconds = started.elapsed().as_secs_f64();
            println!(
                "{}",
                json!({"system": "chorus", "stage": "embed", "passages": vectors.len(), "seconds": seconds,
                    "passages_per_s": vectors.len() as f64 / seconds,
                    "arrival_order_passages_per_s": vectors.len() as f64 / unsorted})
            );
        }
        other => anyhow::bail!("unknown mode {other}"),
    }
    Ok(())
}
