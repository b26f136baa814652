"""Writes bench/results/queue.md from the JSON lines of the three runs."""
import json
import os
import platform
import sys

rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip().startswith("{")]
runs = {r["system"]: r for r in rows if r["mode"] == "throughput"}
lat = {r["system"]: r for r in rows if r["mode"] == "latency"}
out = sys.argv[2]
params = sys.argv[3]
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), platform.processor())
mem_gb = int(next(l.split()[1] for l in open("/proc/meminfo") if l.startswith("MemTotal"))) / 1024 / 1024
c, cl = runs["chorus"], lat["chorus"]

lines = [
    "# Queue benchmark",
    "",
    f"Machine: {os.cpu_count()} cores ({cpu}), {mem_gb:.0f} GiB, shared and noisy; one run, same Redis for all three.",
    f"Workload: {params}.",
    "Chorus: each job is an HTTP submit (auth, Postgres insert + event, dispatch), a claim, a run and a final",
    "status in Postgres. BullMQ and Celery: a queue add, a run and a completion record in Redis.",
    "",
    ("Postgres runs durable, as `just up` starts it (fsync on, synchronous commits); Redis without persistence, for all three."
     if os.environ.get("CHORUS_STORES") == "durable" else
     "Postgres and Redis run as `just test` starts them (fsync and synchronous commits off, no Redis persistence), for all three."),
    "",
    "Throughput run: producers submit as fast as they can; jobs/s is jobs ÷ (last finished − first enqueued).",
    "Latency run: one producer, one job every " + sys.argv[4] + " ms, so no backlog builds; enqueue→start per job.",
    "",
    "| system | jobs/s (throughput run) | enqueue→start p50 (ms) | p99 (ms) | (latency run) |",
    "|---|---|---|---|---|",
]
for name in ("chorus", "bullmq", "celery"):
    if name in runs and name in lat:
        r, l = runs[name], lat[name]
        lines.append(f"| {name} | {r['jobs_per_s']:.0f} | {l['latency_p50_ms']:.1f} | {l['latency_p99_ms']:.1f} | {l['jobs']} jobs |")
lines += ["", "Ratios (Chorus ÷ peer; throughput > 1 means Chorus is faster, latency < 1 means Chorus is faster):", ""]
for name in ("bullmq", "celery"):
    if name in runs and name in lat:
        r, l = runs[name], lat[name]
        lines.append(f"- vs {name}: throughput ×{c['jobs_per_s'] / r['jobs_per_s']:.2f}, "
                     f"p50 latency ×{cl['latency_p50_ms'] / max(l['latency_p50_ms'], 1e-9):.2f}, "
                     f"p99 latency ×{cl['latency_p99_ms'] / max(l['latency_p99_ms'], 1e-9):.2f}")
open(out, "w").write("\n".join(lines) + "\n")
print("\n".join(lines))
