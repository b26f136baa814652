"""Writes bench/results/search.md from the JSON lines of one run."""
import json
import os
import platform
import sys

runs = {r["system"]: r for r in (json.loads(l) for l in open(sys.argv[1]) if l.strip().startswith("{"))}
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), platform.processor())
c, p = runs["chorus"], runs["python"]
lines = [
    "# Search benchmark: filtered hybrid search at 100k chunks",
    "",
    f"Machine: {os.cpu_count()} cores ({cpu}), shared and noisy; one run, both sides in the same run, same data.",
    f"Corpus: {c['chunks']} chunks (10 tenants × 1,000 documents × 10 chunks of 60 words, seeded, Zipf-like",
    "vocabulary) in Postgres, and one clustered 384-dimension vector per chunk (synthetic: embedding 100k chunks",
    "would take this machine most of an hour). Queries: two frequent words, each query different (no cache",
    "hits), embedded with the real model, filtered by tenant, top 10.",
    "Chorus: `services::search::run` (what the `search` job runs on the vector owner): query embedding",
    "(fastembed), Postgres full text, the embedded engine (qdrant-edge, HNSW built by `maintain()` after the",
    f"load: {c['index_s']:.0f} s), RRF, hydration from Postgres. Not included: the job hop of `POST /v1/search`.",
    "Python: onnxruntime query embedding, qdrant-client local mode, the same Postgres queries, RRF in Python.",
    "Local mode is the embedded Python equivalent of our engine, but it ignores payload indexes and scans in",
    "Python (it warns above 20,000 points), so this ratio says what embedding Qdrant's engine buys, not how",
    "Chorus compares with a Qdrant server.",
    "",
    "| system | hybrid p50 ms | hybrid p99 ms |",
    "|---|---|---|",
    f"| chorus | {c['hybrid']['p50_ms']:.1f} | {c['hybrid']['p99_ms']:.1f} |",
    f"| python | {p['hybrid']['p50_ms']:.1f} | {p['hybrid']['p99_ms']:.1f} |",
    "",
    f"Ratio (Chorus ÷ Python latency, lower is better): p50 ×{c['hybrid']['p50_ms'] / p['hybrid']['p50_ms']:.3f}, "
    f"p99 ×{c['hybrid']['p99_ms'] / p['hybrid']['p99_ms']:.3f}",
    "",
    "Chorus by mode (same run):",
    "",
    "| mode | p50 ms | p99 ms |",
    "|---|---|---|",
] + [f"| {m} | {c[m]['p50_ms']:.1f} | {c[m]['p99_ms']:.1f} |" for m in ("hybrid", "vector", "keyword")]
open(sys.argv[2], "w").write("\n".join(lines) + "\n")
print("\n".join(lines))
