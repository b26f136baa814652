"""One fairness run: tenant A floods the maintenance queue with JOBS jobs
(batches of 1,000 from one client), while tenant B submits one job every
100 ms from the start until A's last job has started. Prints one JSON line:
B's queue waits (started_at - created_at, from Postgres), how many, and how
long A's flood took to drain.

usage: measure.py API KEY_A KEY_B PSQL_URL JOBS SLEEP_MS
"""
import json
import subprocess
import sys
import threading
import time
import urllib.request

api, key_a, key_b, db, jobs, sleep_ms = sys.argv[1:7]
jobs, sleep_ms = int(jobs), int(sleep_ms)


def post(key, path, body):
    req = urllib.request.Request(api + path, data=json.dumps(body).encode(), method="POST",
                                 headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=60) as resp:
        assert resp.status in (200, 202), resp.status
        return json.load(resp)


def sql(query):
    out = subprocess.run(["psql", db, "-qtA", "-c", query], check=True, capture_output=True, text=True)
    return out.stdout.strip()


def waiting(tenant):
    return int(sql(f"SELECT count(*) FROM jobs j JOIN tenants t ON t.id = j.tenant_id "
                   f"WHERE t.name = '{tenant}' AND j.started_at IS NULL"))


submitted_b = []
flooding = threading.Event()
flooding.set()


def tenant_b():
    while flooding.is_set():
        submitted_b.append(post(key_b, "/v1/jobs", {"kind": "diagnostic", "payload": {}})["id"])
        time.sleep(0.1)


sql("TRUNCATE jobs CASCADE")
started = time.monotonic()
b = threading.Thread(target=tenant_b, daemon=True)
b.start()
payload = {"kind": "diagnostic", "payload": {"sleep_ms": sleep_ms}}
for _ in range(jobs // 1000):
    post(key_a, "/v1/jobs/batch", {"jobs": [payload] * 1000})
submitted = time.monotonic() - started
while waiting("a") > 0:
    time.sleep(0.2)
drained = time.monotonic() - started
flooding.clear()
b.join()
while waiting("b") > 0:
    time.sleep(0.1)
rows = sql("SELECT coalesce(string_agg(extract(epoch FROM j.started_at - j.created_at) || ':' || "
           "extract(epoch FROM j.created_at - (SELECT min(created_at) FROM jobs)), ','), '') "
           "FROM jobs j JOIN tenants t ON t.id = j.tenant_id WHERE t.name = 'b'")
pairs = sorted(tuple(float(x) for x in r.split(":")) for r in rows.split(",") if r)
waits = [w for w, _ in pairs]
# B's jobs submitted after A's flood was in: the steady state.
after = sorted(w for w, at in pairs if at > submitted)


def pct(p):
    return waits[min(len(waits) - 1, int(p * len(waits)))] * 1000


print(json.dumps({"b_jobs": len(waits), "b_p50_ms": round(pct(0.50), 1), "b_p99_ms": round(pct(0.99), 1),
                  "b_max_ms": round(waits[-1] * 1000, 1), "b_max_at_s": round(pairs[-1][1], 1),
                  "b_after_p99_ms": round(after[min(len(after) - 1, int(0.99 * len(after)))] * 1000, 1) if after else None,
                  "a_submit_s": round(submitted, 1),
                  "a_drain_s": round(drained, 1)}))
