"""Writes bench/results/load.md from the two oha runs and the run checks.

Usage: report.py <out.md> <rate> <seconds> <chorus-oha.json> <chorus-check.json> <peer-oha.json> <peer-check.json>
A check file is {"accepted": n, "ran_once": n, "ran_twice_or_more": n, "not_run": n}.
"""
import json
import os
import platform
import sys

out, rate, seconds = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
systems = {"chorus": sys.argv[4:6], "fastapi + celery": sys.argv[6:8]}


def summary(oha, check):
    o, c = json.load(open(oha)), json.load(open(check))
    codes = o.get("statusCodeDistribution", {})
    total = sum(codes.values()) + sum(o.get("errorDistribution", {}).values())
    accepted = codes.get("202", 0)
    pct = o["latencyPercentiles"]
    return {"requests": total, "accepted": accepted, "errors": total - accepted, "rps": o["summary"]["requestsPerSec"],
            "p50": pct["p50"] * 1000, "p99": pct["p99"] * 1000, **c}


rows = {name: summary(*files) for name, files in systems.items()}
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), platform.processor())
mem_gb = int(next(l.split()[1] for l in open("/proc/meminfo") if l.startswith("MemTotal"))) / 1024 / 1024
L = ["# Load benchmark: HTTP job submissions at a fixed rate", "",
     f"Machine: {os.cpu_count()} cores ({cpu}), {mem_gb:.0f} GiB, shared and noisy. One run of both, on the same machine.",
     f"Load: `oha` offering {rate} `POST`s/s for {seconds} s (latency-corrected), a no-op job each, against one API process:",
     "Chorus `POST /v1/jobs` (one `chorus-api`, one `chorus-worker`, Postgres and Redis as `just test` starts them)",
     "and FastAPI + Celery `.delay()` (one uvicorn process, one Celery worker, the same Redis).",
     "After the load, each system's jobs are counted: every accepted job must have run exactly once.", "",
     "| system | requests | req/s achieved | p50 (ms) | p99 (ms) | error rate | accepted | ran once | ran twice or more | not run |",
     "|---|---|---|---|---|---|---|---|---|---|"]
for name, r in rows.items():
    L.append(f"| {name} | {r['requests']} | {r['rps']:.0f} | {r['p50']:.2f} | {r['p99']:.2f} | "
             f"{100 * r['errors'] / max(r['requests'], 1):.2f}% | {r['accepted']} | {r['ran_once']} | {r['ran_twice_or_more']} | {r['not_run']} |")
c, p = rows["chorus"], rows["fastapi + celery"]
L += ["", f"Chorus ÷ FastAPI + Celery: p50 ×{c['p50'] / p['p50']:.2f}, p99 ×{c['p99'] / p['p99']:.2f}, "
      f"req/s achieved ×{c['rps'] / p['rps']:.2f} (latency < 1 means Chorus is faster)."]
ok = all(r["accepted"] == r["ran_once"] and r["ran_twice_or_more"] == 0 and r["not_run"] == 0 for r in rows.values())
L += ["", "Every accepted job ran exactly once: " + ("yes, for both." if ok else "NO (see the table).")]
open(out, "w").write("\n".join(L) + "\n")
print("\n".join(L))
