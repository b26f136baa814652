//! `just bench search`, the Chorus side: p50 and p99 of filtered hybrid
//! search at 100k chunks, through `services::search::run` (what a `search`
//! job runs on the vector owner: query embedding with the real model,
//! Postgres full text, the embedded vector store, RRF, hydration).
//!
//! The corpus is synthetic and seeded: 10 tenants × 1,000 documents × 10
//! chunks of 60 words from a Zipf-like vocabulary in Postgres, and one
//! clustered 384-dimension vector per chunk (embedding 100k chunks with the
//! model would take this machine most of an hour; the query side is real).
//! It writes the same corpus for the Python peer under `<out>`.
//!
//! Usage: bench_search <out-dir> <queries>   (database and Redis from CHORUS__*)

use std::io::Write;
use std::sync::Arc;
use std::time::Instant;

use chorus_shared::config::Settings;
use chorus_shared::services::search::{self, Mode, SearchRequest};
use chorus_shared::vectors::{catalog, edge::EdgeStore, Point, PointPayload, Vectors};
use chorus_shared::Ctx;
use diesel::sql_types::{Array, Text, Uuid as SqlUuid};
use diesel_async::RunQueryDsl;
use serde_json::json;
use uuid::Uuid;

const TENANTS: usize = 10;
const DOCS: usize = 1_000;
const CHUNKS: usize = 10;
const DIM: usize = 384;

/// xorshift64*: a seeded generator, so both sides get the same corpus.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545F4914F6CDD1D)
    }
    fn unit(&mut self) -> f32 {
        (self.next() >> 40) as f32 / (1u64 << 24) as f32
    }
    fn normal(&mut self) -> f32 {
        let (u, v) = (self.unit().max(1e-7), self.unit());
        (-2.0 * u.ln()).sqrt() * (2.0 * std::f32::consts::PI * v).cos()
    }
}

fn vocabulary() -> Vec<String> {
    const SYL: &[&str] =
        &["ka", "lo", "mi", "ter", "van", "su", "re", "dol", "pi", "nar", "ex", "qua", "zen", "bo", "fi"];
    let mut words = Vec::new();
    for a in SYL {
        for b in SYL {
            for c in ["", "n", "s", "tor", "ma"] {
                words.push(format!("{a}{b}{c}"));
            }
        }
    }
    words
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let [_, out, queries] = args.as_slice() else { anyhow::bail!("usage: bench_search <out-dir> <queries>") };
    let n_queries: usize = queries.parse()?;
    std::fs::create_dir_all(out)?;
    let mut settings = Settings::load()?;
    settings.vectors.path = format!("{out}/vectors");
    settings.vectors.optimize_min_points = 1;
    settings.vectors.optimize_idle_ms = 0;
    let _ = std::fs::remove_dir_all(&settings.vectors.path);
    let store: Vectors = Arc::new(EdgeStore::open(&settings.vectors).map_err(|e| anyhow::anyhow!(e))?);
    let ctx = Ctx::connect(settings).await?.with_vectors(Some(store.clone()));
    let live =
        catalog::ensure_live(&ctx.pool, &ctx.settings.embed, &store).await.map_err(|e| anyhow::anyhow!(e.message))?;

    // Corpus: Postgres rows and vectors, written for the peer too.
    let words = vocabulary();
    let mut rng = Rng(0x9E3779B97F4A7C15);
    let zipf = |rng: &mut Rng| ((words.len() as f32) * rng.unit().powi(3)) as usize % words.len();
    let centers: Vec<Vec<f32>> = (0..64).map(|_| (0..DIM).map(|_| rng.normal()).collect()).collect();
    let mut conn = ctx.pool.get().await?;
    let mut tenants = Vec::new();
    let mut points_out = std::io::BufWriter::new(std::fs::File::create(format!("{out}/points.jsonl"))?);
    let mut vectors_out = std::io::BufWriter::new(std::fs::File::create(format!("{out}/vectors.f32"))?);
    let started = Instant::now();
    for t in 0..TENANTS {
        let tenant = Uuid::new_v4();
        tenants.push(tenant);
        diesel::sql_query("INSERT INTO tenants (id, name) VALUES ($1, $2)")
            .bind::<SqlUuid, _>(tenant)
            .bind::<Text, _>(format!("bench-{t}"))
            .execute(&mut conn)
            .await?;
        for d in 0..DOCS {
            let doc = Uuid::new_v4();
            diesel::sql_query(
                "INSERT INTO documents (id, tenant_id, title, filename, content_type, doc_type, size_bytes, \
                 content_hash, blob_key, status) VALUES ($1, $2, $3, 'doc.txt', 'text/plain', 'text', 1, $4, 'none', 'ingested')",
            )
            .bind::<SqlUuid, _>(doc)
            .bind::<SqlUuid, _>(tenant)
            .bind::<Text, _>(format!("document {d}"))
            .bind::<Text, _>(doc.to_string())
            .execute(&mut conn)
            .await?;
            let mut ids = Vec::new();
            let mut texts = Vec::new();
            let mut points = Vec::new();
            for o in 0..CHUNKS {
                let id = chorus_shared::services::indexing::chunk_id(doc, o as i32);
                let text: Vec<&str> = (0..60).map(|_| words[zipf(&mut rng)].as_str()).collect();
                let c = &centers[(rng.next() % 64) as usize];
                let mut v: Vec<f32> = c.iter().map(|x| x + 0.6 * rng.normal()).collect();
                let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
                v.iter_mut().for_each(|x| *x /= norm);
                for x in &v {
                    vectors_out.write_all(&x.to_le_bytes())?;
                }
                writeln!(points_out, "{}", json!({"id": id, "tenant_id": tenant, "document_id": doc, "ordinal": o}))?;
                let payload = PointPayload {
                    tenant_id: tenant,
                    document_id: doc,
                    ordinal: o as i64,
                    tags: Vec::new(),
                    metadata: Default::default(),
                };
                points.push(Point { id, vector: v, payload });
                ids.push(id);
                texts.push(text.join(" "));
            }
            diesel::sql_query(
                "INSERT INTO chunks (id, tenant_id, document_id, ordinal, page_no, text, token_count) \
                 SELECT u, $2, $3, o - 1, 1, t, 60 FROM unnest($1::uuid[], $4::text[]) WITH ORDINALITY AS x(u, t, o)",
            )
            .bind::<Array<SqlUuid>, _>(ids)
            .bind::<SqlUuid, _>(tenant)
            .bind::<SqlUuid, _>(doc)
            .bind::<Array<Text>, _>(texts)
            .execute(&mut conn)
            .await?;
            store.upsert(&live.name, points).await?;
        }
    }
    points_out.flush()?;
    vectors_out.flush()?;
    let load_s = started.elapsed().as_secs_f64();
    diesel::sql_query("ANALYZE").execute(&mut conn).await?;
    drop(conn);
    let started = Instant::now();
    store.maintain().await?;
    let index_s = started.elapsed().as_secs_f64();

    // Queries: two frequent words each, all different (no cache hits).
    let mut queries = Vec::new();
    let per_mode = n_queries + 20;
    while queries.len() < 3 * per_mode {
        let q = format!("{} {}", words[zipf(&mut rng) % 60], words[zipf(&mut rng) % 60]);
        if !queries.contains(&q) {
            queries.push(q);
        }
    }
    std::fs::write(
        format!("{out}/queries.json"),
        serde_json::to_vec(&json!({"tenants": tenants, "queries": queries}))?,
    )?;
    let mut report =
        json!({"system": "chorus", "chunks": TENANTS * DOCS * CHUNKS, "load_s": load_s, "index_s": index_s});
    let modes = [("hybrid", Mode::Hybrid), ("vector", Mode::Vector), ("keyword", Mode::Keyword)];
    for (m, (name, mode)) in modes.into_iter().enumerate() {
        let mut times = Vec::new();
        for (i, q) in queries[m * per_mode..(m + 1) * per_mode].iter().enumerate() {
            let req =
                SearchRequest { query: q.clone(), mode, filters: Default::default(), top_k: Some(10), rerank: false };
            let started = Instant::now();
            let r =
                search::run(&ctx, &store, tenants[i % TENANTS], &req).await.map_err(|e| anyhow::anyhow!(e.message))?;
            let ms = started.elapsed().as_secs_f64() * 1000.0;
            anyhow::ensure!(r.results.iter().all(|h| h.title.starts_with("document")));
            if i >= 20 {
                times.push(ms);
            }
        }
        times.sort_by(f64::total_cmp);
        report[name] = json!({"p50_ms": percentile(&times, 0.5), "p99_ms": percentile(&times, 0.99), "n": times.len()});
    }
    println!("{report}");
    Ok(())
}
