"""The RAG chat turns of `just bench hop`, for one topology.

usage: run.py API KEY N LABEL METRICS_URL

Runs N sequential RAG chat turns (3 warm-ups first, not counted) and
prints one JSON line: each turn's run time on the worker (started_at to
finished_at of the chat job), and from the chat worker's /metrics the
mean time of its retrievals (`chorus_search_seconds`, by path).
"""
import json
import sys
import time
import urllib.request
from datetime import datetime

api, key, n, label, metrics_url = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5]


def call(method, path, body=None):
    req = urllib.request.Request(api + path, method=method, data=None if body is None else json.dumps(body).encode())
    req.add_header("authorization", f"Bearer {key}")
    req.add_header("content-type", "application/json")
    with urllib.request.urlopen(req) as r:
        return json.loads(r.read())


def ts(s):
    return datetime.fromisoformat(s.replace("Z", "+00:00")).timestamp()


def turn(i):
    conv = call("POST", "/v1/conversations", {"system_prompt": "Answer in one short sentence."})
    body = {"content": f"({label} {i}) What cools the Zorblat reactor?", "rag": {"enabled": True, "top_k": 3},
            "settings": {"temperature": 0, "max_tokens": 16}}
    job = call("POST", f"/v1/conversations/{conv['id']}/messages", body)["job"]["id"]
    while True:
        j = call("GET", f"/v1/jobs/{job}")
        if j["status"] in ("succeeded", "failed", "dead", "cancelled"):
            assert j["status"] == "succeeded", j
            assert j["result"]["citations"], j["result"]
            return (ts(j["finished_at"]) - ts(j["started_at"])) * 1000
        time.sleep(0.01)


def search_seconds():
    text = urllib.request.urlopen(metrics_url).read().decode()
    out = {}
    for line in text.splitlines():
        if line.startswith("chorus_search_seconds_sum") or line.startswith("chorus_search_seconds_count"):
            name, value = line.rsplit(" ", 1)
            path = name.split('path="')[1].split('"')[0]
            out.setdefault(path, {})["sum" if "_sum" in name else "count"] = float(value)
    return out


for i in range(3):
    turn(-1 - i)
before = search_seconds()
turns = [turn(i) for i in range(n)]
after = search_seconds()
search = {}
for path, v in after.items():
    b = before.get(path, {"sum": 0.0, "count": 0.0})
    count = v["count"] - b["count"]
    if count:
        search[path] = {"count": int(count), "mean_ms": (v["sum"] - b["sum"]) / count * 1000}
print(json.dumps({"label": label, "n": n, "turn_ms": turns, "search": search}))
