"""Writes the queue benchmark's report from its runs and CPU samples.

Usage: report.py <results.jsonl> <cpu.jsonl> <out.md> <workload> [profile.md]
"""
import bisect
import json
import os
import platform
import sys

results, samples_path, out, workload = sys.argv[1:5]
profile = sys.argv[5] if len(sys.argv) > 5 else None
rows = [json.loads(l) for l in open(results) if l.strip().startswith("{")]
runs = {(r["system"], r["mode"]): r for r in rows}
samples = [json.loads(l) for l in open(samples_path) if l.strip()]
times = [s["t"] for s in samples]
SYSTEMS = ("chorus", "bullmq", "celery")
OWN = {"chorus": ("chorus api", "chorus worker", "chorus client", "postgres", "redis"),
       "bullmq": ("bullmq (node)", "redis"), "celery": ("celery", "redis")}


def cpu(run):
    """CPU seconds per class in the run's window: the last samples at or before its ends."""
    a = samples[max(bisect.bisect_right(times, run["t0"]) - 1, 0)]["cpu"]
    b = samples[max(bisect.bisect_right(times, run["t1"]) - 1, 0)]["cpu"]
    return {k: b.get(k, 0) - a.get(k, 0) for k in OWN[run["system"]]}


cpu_name = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), platform.processor())
mem_gb = int(next(l.split()[1] for l in open("/proc/meminfo") if l.startswith("MemTotal"))) / 1024 / 1024
durable = os.environ.get("CHORUS_STORES") == "durable"
L = [
    "# Queue benchmark",
    "",
    f"Machine: {os.cpu_count()} cores ({cpu_name}), {mem_gb:.0f} GiB, shared and noisy. One run of all three, on the same Redis.",
    f"Workload: {workload}.",
    "Chorus: each job is an HTTP submit (auth, Postgres insert with its event), a dispatch to Redis, a claim, a run",
    "and a final status with its event in Postgres. BullMQ and Celery: a queue add, a run and a completion record in Redis.",
    ("Postgres runs durable, as `just up` starts it (fsync on, synchronous commits); Redis without persistence, for all three."
     if durable else
     "Postgres and Redis run as `just test` starts them (fsync and synchronous commits off, no Redis persistence), for all three."),
    "",
    "jobs/s end to end = jobs ÷ (last job finished − first submit); submitted/s = jobs ÷ time the producers took.",
    "CPU s per 1,000 jobs: utime + stime from `/proc` of every process of the system (its producers, API, workers,",
    "Postgres with its backends, Redis) over the run's window, sampled every 100 ms.",
    "",
]
short = []
for mode, title, peer_call in (("single", "Single submits", "BullMQ `add`, Celery `delay`"),
                               ("batch", "Batch submits (1,000 per request)", "BullMQ `addBulk`, Celery `group`")):
    L += [f"## {title}: Chorus `POST /v1/jobs{'/batch' if mode == 'batch' else ''}`, {peer_call}", "",
          "| system | jobs | seconds | submitted/s | jobs/s end to end | CPU s per 1,000 jobs | where the CPU went |",
          "|---|---|---|---|---|---|---|"]
    for s in SYSTEMS:
        r = runs.get((s, mode))
        if not r:
            continue
        c = cpu(r)
        total = sum(c.values())
        parts = ", ".join(f"{k} {v * 1000 / r['jobs']:.2f}" for k, v in sorted(c.items(), key=lambda kv: -kv[1]))
        r["cpu_per_1000"] = total * 1000 / r["jobs"]
        L.append(f"| {s} | {r['jobs']} | {r['seconds']:.1f} | {r['submitted_per_s']:.0f} | {r['jobs_per_s']:.0f} | "
                 f"{r['cpu_per_1000']:.2f} | {parts} |")
        if r["seconds"] < 20:
            short.append(f"{s} {mode} ({r['seconds']:.1f} s)")
    c = runs.get(("chorus", mode))
    if c:
        L.append("")
        for s in SYSTEMS[1:]:
            r = runs.get((s, mode))
            if r:
                L.append(f"- Chorus ÷ {s}: jobs/s ×{c['jobs_per_s'] / r['jobs_per_s']:.2f}, submitted/s "
                         f"×{c['submitted_per_s'] / r['submitted_per_s']:.2f}, CPU per job ×{c['cpu_per_1000'] / r['cpu_per_1000']:.2f}")
    L.append("")

L += ["## Enqueue→start latency (paced: one producer, no backlog)", "",
      "| system | jobs | p50 (ms) | p99 (ms) |", "|---|---|---|---|"]
for s in SYSTEMS:
    r = runs.get((s, "latency"))
    if r:
        L.append(f"| {s} | {r['jobs']} | {r['latency_p50_ms']:.1f} | {r['latency_p99_ms']:.1f} |")
L.append("")


def goal(text, ok):
    return f"- {'met' if ok else 'NOT met'}: {text}"


c1, c2, cl = runs.get(("chorus", "single")), runs.get(("chorus", "batch")), runs.get(("chorus", "latency"))
b2, k1 = runs.get(("bullmq", "batch")), runs.get(("celery", "single"))
L += ["## Goals (from the issue), with the measured ratios", ""]
if c2 and b2:
    x = c2["jobs_per_s"] / b2["jobs_per_s"]
    L.append(goal(f"batch mode ≥ 1.5× BullMQ `addBulk` end to end: ×{x:.2f}", x >= 1.5))
if c1 and k1:
    x = c1["jobs_per_s"] / k1["jobs_per_s"]
    L.append(goal(f"single submits ≥ 3× Celery `delay`: ×{x:.2f}", x >= 3))
if c1:
    L.append(goal(f"single submits ≥ 2,000 jobs/s on this machine: {c1['jobs_per_s']:.0f}", c1["jobs_per_s"] >= 2000))
if cl:
    L.append(goal(f"enqueue→start p50 < 5 ms: {cl['latency_p50_ms']:.1f} ms", cl["latency_p50_ms"] < 5))
    L.append(goal(f"enqueue→start p99 < 25 ms: {cl['latency_p99_ms']:.1f} ms", cl["latency_p99_ms"] < 25))
if short:
    L += ["", "Runs shorter than 20 s (raise their job counts): " + ", ".join(short) + "."]
if os.path.exists("bench/results/queue-baseline.md"):
    L += ["", "The same benchmark before this round's batching (commit 5fe68a9, fast settings): `bench/results/queue-baseline.md`."]
if profile and os.path.exists(profile):
    L += ["", open(profile).read().rstrip()]
open(out, "w").write("\n".join(L) + "\n")
print("\n".join(L))
