"""Writes bench/results/hop.md from bench/hop/run.py's JSON lines."""
import json
import os
import platform
import statistics
import sys

runs = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), platform.processor())


def pooled(label):
    mine = [r for r in runs if r["label"] == label]
    turns = sorted(t for r in mine for t in r["turn_ms"])
    path = "direct" if label == "direct" else "job"
    count = sum(r["search"].get(path, {}).get("count", 0) for r in mine)
    total = sum(r["search"].get(path, {}).get("count", 0) * r["search"].get(path, {}).get("mean_ms", 0) for r in mine)
    return turns, count, total / count if count else float("nan")


d_turns, d_count, d_search = pooled("direct")
h_turns, h_count, h_search = pooled("hop")
q = lambda xs, p: xs[min(len(xs) - 1, int(p * len(xs)))]
rows = [
    ("retrieval, mean (chat worker's `chorus_search_seconds`)", d_search, h_search),
    ("whole turn on the worker, p50", statistics.median(d_turns), statistics.median(h_turns)),
    ("whole turn on the worker, p90", q(d_turns, 0.9), q(h_turns, 0.9)),
]
lines = [
    "# The search hop: what a chat worker without the vector store pays",
    "",
    f"Machine: {os.cpu_count()} cores ({cpu}), shared and noisy; one run of `just bench hop`.",
    f"{len(d_turns)} RAG chat turns per topology (after 3 warm-ups each), in rounds that alternate",
    "direct, hop, direct, hop, on the same Postgres, Redis, corpus (6 short documents) and model",
    "(SmolLM2-135M-Instruct on llama.cpp, temperature 0, at most 16 tokens; response cache off).",
    "",
    "- **direct**: one worker owns the embedded store and runs the chat jobs; retrieval runs in-process.",
    "- **hop**: the owner takes `embed` and `search`; a second worker takes `chat` and `tool`, and its",
    "  retrieval is a `search` job on the owner (insert, dispatch through Redis, claim, run, complete,",
    "  and the chat worker woken by the job's event).",
    "",
    "| measure | direct ms | hop ms | hop − direct ms |",
    "|---|---|---|---|",
] + [f"| {name} | {dv:.1f} | {hv:.1f} | {hv - dv:+.1f} |" for name, dv, hv in rows] + [
    "",
    f"Retrievals counted: {d_count} direct, {h_count} through a job. Retrieval is the same hybrid search",
    "(query embedding, keyword and vector parts) either way; the difference is the hop. The whole-turn",
    "rows include the model's answer, so their difference is the hop plus noise.",
]
open(sys.argv[2], "w").write("\n".join(lines) + "\n")
print("\n".join(lines))
