"""Writes bench/results/search-quality.md from the JSON lines of
`bench/search/quality.py` (the last run of each label)."""
import json
import os
import platform
import sys

rows = {}
for line in open(sys.argv[1]):
    if line.strip().startswith("{"):
        r = json.loads(line)
        rows[(r["label"], r["mode"])] = r
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), platform.processor())
any_row = next(iter(rows.values()))
out = [
    "# Search quality: Debian man pages, questions asked as a user would",
    "",
    f"Machine: {os.cpu_count()} cores ({cpu}), shared and noisy. One API and one worker (release builds) on fresh",
    "Postgres and Redis, the embedded vector store, all-MiniLM-L6-v2.",
    f"Corpus: {any_row['documents']} man pages no one here wrote (ssh, ssh-keygen, curl, tar, grep, wget, find, gzip,",
    "less, sed, xz): PDF by groff + ghostscript, HTML by mandoc, Markdown by html2text from mandoc's HTML.",
    f"{any_row['questions']} questions (`bench/search/questions.json`), each in other words than its passage and labelled",
    "with a phrase of it; a question is answered at rank r when the r-th result is from the right page and contains",
    "the phrase. Latency: `POST /v1/search` as a client sees it (API, the `search` job on the worker, the answer),",
    "one query at a time.",
    "",
    "| build | mode | chunks | recall@1 | recall@3 | MRR@10 | p50 ms | p99 ms |",
    "|---|---|---|---|---|---|---|---|",
]
for (label, mode), r in sorted(rows.items(), key=lambda kv: (kv[0][0] != "before", kv[0][0], kv[0][1])):
    out.append(f"| {label} | {mode} | {r['chunks']} | {r['recall_at_1']:.2f} | {r['recall_at_3']:.2f} | "
               f"{r['mrr_at_10']:.3f} | {r['p50_ms']:.0f} | {r['p99_ms']:.0f} |")
if any("128" in label for label, _ in rows):
    out += ["", "The variant with chunks of 128 tokens (`CHORUS__KNOWLEDGE__CHUNK_TOKENS=128`, overlap 16) ran before the",
            "keyword statement's word weights were materialised: its keyword and hybrid latencies show that plan's",
            "cost on chunks not yet analysed; its recall is unaffected."]
if any("rerank" in mode for _, mode in rows):
    out += ["", "`hybrid + rerank`: hybrid search with `rerank: true`; its fused top 30 re-ranked by each chunk's best",
            "window of 24 words (overlapping by half) against the query, with the same model. Its latency includes",
            "embedding the windows the first time they are seen; `hybrid + rerank, cached` asks the same questions",
            "again, with those windows in the embedding cache. The window size was chosen on these questions",
            "(windows of 24, 32 and 40 words were tried offline), so its gain here is an upper estimate for other",
            "questions."]
out += ["", "Questions not answered at rank 1 by hybrid search, per build:", ""]
for (label, mode), r in sorted(rows.items()):
    if mode != "hybrid":
        continue
    out.append(f"- {label}: " + ("none" if not r["misses"] else ""))
    for m in r["misses"]:
        out.append(f"  - rank {m['rank']}: {m['q']} (top: {m['top']!r})")
open(sys.argv[2], "w").write("\n".join(out) + "\n")
print("\n".join(out))
