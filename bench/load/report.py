"""Writes bench/results/load.md from the two oha runs and the run checks.

Usage: report.py <out.md> <rate> <seconds> <chorus-oha.json> <chorus-check.json> <peer-oha.json> <peer-check.json>
A check file is {"accepted": n, "ran_once": n, "ran_twice_or_more": n, "not_run": n}: jobs that ran once
(every job of the run: a request cut off at the deadline may have made one too), more than once, and
accepted jobs that never ran.
"""
import json
import os
import platform
import sys

out, rate, seconds = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
systems = {"chorus": sys.argv[4:6], "fastapi + celery": sys.argv[6:8]}


def summary(oha, check):
    o, c = json.load(open(oha)), json.load(open(check))
    codes, errors = o.get("statusCodeDistribution", {}), dict(o.get("errorDistribution", {}))
    # Requests still open when the run's time was up; oha drops them.
    cut = errors.pop("aborted due to deadline", 0)
    total = sum(codes.values()) + sum(errors.values())
    accepted = codes.get("202", 0)
    pct = o["latencyPercentiles"]
    return {"requests": total, "cut": cut, "accepted": accepted, "errors": total - accepted, "rps": o["summary"]["requestsPerSec"],
            "p50": pct["p50"] * 1000, "p99": pct["p99"] * 1000, **c}


rows = {name: summary(*files) for name, files in systems.items()}
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), platform.processor())
mem_gb = int(next(l.split()[1] for l in open("/proc/meminfo") if l.startswith("MemTotal"))) / 1024 / 1024
L = ["# Load benchmark: HTTP job submissions at a fixed rate", "",
     f"Machine: {os.cpu_count()} cores ({cpu}), {mem_gb:.0f} GiB, shared and noisy. One run of both, on the same machine.",
     f"Load: `oha` offering {rate} `POST`s/s for {seconds} s (latency-corrected), a no-op job each, against one API process:",
     "Chorus `POST /v1/jobs` (one `chorus-api`, one `chorus-worker`, Postgres and Redis as `just test` starts them)",
     "and FastAPI + Celery `.delay()` (one uvicorn process, one Celery worker, the same Redis).",
     "After the load, each system's jobs are counted: every accepted job must have run exactly once. Requests still",
     "open when the time was up are dropped by oha (\"cut off\"); they are not errors, and their jobs may exist and run.", "",
     "| system | requests answered | req/s achieved | p50 (ms) | p99 (ms) | error rate | cut off | accepted | ran once | ran twice or more | accepted, not run |",
     "|---|---|---|---|---|---|---|---|---|---|---|"]
for name, r in rows.items():
    L.append(f"| {name} | {r['requests']} | {r['rps']:.0f} | {r['p50']:.2f} | {r['p99']:.2f} | "
             f"{100 * r['errors'] / max(r['requests'], 1):.2f}% | {r['cut']} | {r['accepted']} | {r['ran_once']} | {r['ran_twice_or_more']} | {r['not_run']} |")
c, p = rows["chorus"], rows["fastapi + celery"]


def ratio(x):
    return f"×{x:.2f}" if x >= 0.01 else f"×{x:.2g}"


L += ["", f"Chorus ÷ FastAPI + Celery: p50 {ratio(c['p50'] / p['p50'])}, p99 {ratio(c['p99'] / p['p99'])}, "
      f"req/s achieved {ratio(c['rps'] / p['rps'])} (latency < 1 means Chorus is faster)."]
if p["rps"] < 0.95 * rate:
    L += ["", f"FastAPI + Celery did not keep up with the offered {rate} req/s here: its latencies include the wait"
          " in oha's queue (latency correction), so they measure saturation, not one request."]
ok = all(r["ran_once"] >= r["accepted"] and r["ran_twice_or_more"] == 0 and r["not_run"] == 0 for r in rows.values())
L += ["", "Every accepted job ran exactly once: " + ("yes, for both." if ok else "NO (see the table).")]
open(out, "w").write("\n".join(L) + "\n")
print("\n".join(L))
