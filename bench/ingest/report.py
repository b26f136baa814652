"""Writes bench/results/ingest.md from the JSON lines of both runs."""
import json
import os
import platform
import sys

runs = {r["system"]: r for r in (json.loads(l) for l in open(sys.argv[1]) if l.strip().startswith("{"))}
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), platform.processor())
c, p = runs["chorus"], runs["pypdf"]
lines = [
    "# Ingest benchmark: extraction and chunking",
    "",
    f"Machine: {os.cpu_count()} cores ({cpu}), shared and noisy; one run, both sides single-threaded, same files.",
    f"Corpus: {c['documents']} generated PDFs, {c['pages']} pages in all (about 300 words a page).",
    "Chorus: lopdf text extraction + the ingest job's chunker (256 tokens, 32 overlap).",
    "Python: pypdf `extract_text()` + the same chunking rule.",
    "Embedding and indexing are not in this run (they come with the embeddings work).",
    "",
    "| system | pages/s | chunks | seconds |",
    "|---|---|---|---|",
    f"| chorus | {c['pages_per_s']:.0f} | {c['chunks']} | {c['seconds']:.2f} |",
    f"| pypdf | {p['pages_per_s']:.0f} | {p['chunks']} | {p['seconds']:.2f} |",
    "",
    f"Ratio (Chorus ÷ pypdf, pages/s): ×{c['pages_per_s'] / p['pages_per_s']:.2f}",
]
open(sys.argv[2], "w").write("\n".join(lines) + "\n")
print("\n".join(lines))
