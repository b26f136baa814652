"""The check of `just cluster`, run on its API host.

usage: cluster_check.py API KEY DATABASE_URL REPORT MACHINE

Submits slow jobs, waits until worker host w1 runs some, takes w1's link
down, and measures how long the others take to run those jobs again
(goal: within 30 s). After 40 s it brings the link back and checks that w1
finished none of them a second time: each job succeeds exactly once, and
w1 recorded nothing for them after the cut. Writes REPORT; exits 1 when a
goal is missed.
"""
import json
import subprocess
import sys
import time
import urllib.request

api, key, db, report, machine = sys.argv[1:6]


def call(method, path, body=None):
    req = urllib.request.Request(api + path, method=method, data=None if body is None else json.dumps(body).encode())
    req.add_header("authorization", f"Bearer {key}")
    req.add_header("content-type", "application/json")
    with urllib.request.urlopen(req, timeout=10) as r:
        return json.loads(r.read())


def sql(query):
    out = subprocess.run(["psql", db, "-tAc", query], check=True, capture_output=True, text=True).stdout
    return [line.split("|") for line in out.strip().splitlines() if line]


def link(state):
    subprocess.run(["ip", "-n", "chorus-sw", "link", "set", "s-w1", state], check=True)


jobs = [call("POST", "/v1/jobs", {"kind": "diagnostic", "payload": {"sleep_ms": 25000, "steps": 25},
                                 "max_attempts": 5})["id"] for _ in range(12)]
ids = ",".join(f"'{j}'" for j in jobs)
deadline = time.time() + 60
while True:
    on_w1 = [r[0] for r in sql(f"SELECT id FROM jobs WHERE id IN ({ids}) AND status = 'running' AND worker = 'w1'")]
    if on_w1:
        break
    assert time.time() < deadline, "w1 never ran a job"
    time.sleep(0.2)
time.sleep(1)
on_w1 = [r[0] for r in sql(f"SELECT id FROM jobs WHERE id IN ({ids}) AND status = 'running' AND worker = 'w1'")]
cut = time.time()
link("down")
print(f"cluster: w1's link is down; it was running {len(on_w1)} jobs", flush=True)
w1_ids = ",".join(f"'{j}'" for j in on_w1)
rescued = {}
while len(rescued) < len(on_w1) and time.time() < cut + 60:
    for job, at in sql(f"SELECT job_id, min(extract(epoch FROM created_at)) FROM job_events WHERE job_id IN ({w1_ids}) "
                       f"AND status = 'running' AND data->>'worker' <> 'w1' GROUP BY job_id"):
        rescued.setdefault(job, float(at) - cut)
    time.sleep(0.2)
while time.time() < cut + 40:
    time.sleep(0.2)
link("up")
back = time.time()
print("cluster: w1's link is back", flush=True)
deadline = back + 120
while sql(f"SELECT count(*) FROM jobs WHERE id IN ({ids}) AND status NOT IN ('succeeded', 'failed', 'dead', 'cancelled')")[0][0] != "0":
    assert time.time() < deadline, "jobs did not finish"
    time.sleep(0.5)
time.sleep(2)
successes = sql(f"SELECT job_id, count(*) FROM job_events WHERE job_id IN ({ids}) AND status = 'succeeded' GROUP BY job_id")
twice = [j for j, n in successes if int(n) != 1]
statuses = dict((s, int(n)) for s, n in sql(f"SELECT status, count(*) FROM jobs WHERE id IN ({ids}) GROUP BY status"))
# The attempt that succeeded, by the worker its `running` event names.
late_w1 = sql(f"SELECT count(*) FROM job_events s JOIN job_events r ON r.job_id = s.job_id AND r.status = 'running' "
              f"AND r.data->>'attempt' = s.data->>'attempt' WHERE s.job_id IN ({w1_ids}) AND s.status = 'succeeded' "
              f"AND r.data->>'worker' = 'w1'")[0][0]
after_cut = dict((s, int(n)) for s, n in sql(
    f"SELECT status || coalesce(' (' || (data->>'code') || ')', ''), count(*) FROM job_events "
    f"WHERE job_id IN ({w1_ids}) AND status IS NOT NULL AND extract(epoch FROM created_at) > {cut} GROUP BY 1"))
took = sorted(rescued.values())
ok = (len(rescued) == len(on_w1) and took and took[-1] <= 30 and not twice and late_w1 == "0"
      and statuses.get("succeeded", 0) == len(jobs))
lines = [
    "# Cluster: a worker host cut off mid-run",
    "",
    f"Machine: {machine}, shared and noisy; `just cluster` (network namespaces joined by veth pairs to a",
    "bridge): a data host (Postgres, Redis, the Qdrant server, an S3 server), an API host and three worker",
    "hosts, each with its own disk (originals in S3). Defaults: heartbeat 1 s, rescue after 10 s.",
    "",
    f"12 jobs of 25 s; w1 was running {len(on_w1)} of them when its link went down.",
    "",
    "| check | result | goal |",
    "|---|---|---|",
    f"| w1's jobs run again by another worker | {len(rescued)} of {len(on_w1)} | all |",
    f"| cut → run again, min / max | {took[0] if took else float('nan'):.1f} s / {took[-1] if took else float('nan'):.1f} s | ≤ 30 s |",
    f"| jobs succeeded more than once | {len(twice)} | 0 |",
    f"| of those, succeeded by w1's cut-off attempt | {late_w1} | 0 |",
    f"| jobs by status at the end | {statuses} | all 12 succeeded |",
    "",
    f"State changes of w1's jobs after the cut, by status: {after_cut}. w1's link came back 40 s after the cut.",
    "",
    f"Result: {'all goals met' if ok else 'a goal was missed'}.",
]
open(report, "w").write("\n".join(lines) + "\n")
print("\n".join(lines))
sys.exit(0 if ok else 1)
