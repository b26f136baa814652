#!/usr/bin/env bash
# `just bench load`: `oha` (crates.io) offers RATE job submissions per second
# for DURATION seconds against one Chorus API process, then against FastAPI + Celery
# `.delay()` (PyPI) at the same rate, in the same run; checks that every
# accepted job ran exactly once; writes bench/results/load.md.
# Env: RATE (1000), DURATION (60) seconds, CONNECTIONS (64), CONCURRENCY (8) per worker.
set -euo pipefail
cd "$(dirname "$0")/.."
RATE=${RATE:-1000}; DURATION=${DURATION:-60}; CONNECTIONS=${CONNECTIONS:-64}; CONCURRENCY=${CONCURRENCY:-8}
work=bench/work; dir=.build/bench-load; tools=.build/tools
mkdir -p "$work" bench/results

scripts/deps.sh
[ -x "$tools/bin/oha" ] || cargo install --locked --root "$tools" oha@1.16.0
[ -x "$work/venv/bin/celery" ] || (python3 -m venv "$work/venv" && "$work/venv/bin/pip" install -q "celery[redis]==5.6.2")
[ -x "$work/venv/bin/uvicorn" ] || "$work/venv/bin/pip" install -q fastapi==0.165.0 uvicorn==0.54.0
cargo build --release --bins

source scripts/bench-lib.sh
bench_stores "$dir"
peer_port=$(free_port)
sql() { psql -qtA -h 127.0.0.1 -p "$pg_port" -U postgres chorus -c "$1"; }
body='{"kind":"diagnostic","payload":{}}'
load() { # url out.json [header]
  "$tools/bin/oha" -z "${DURATION}s" -q "$RATE" -c "$CONNECTIONS" --latency-correction --no-tui --output-format json \
    -m POST -H "content-type: application/json" ${3:+-H "$3"} -d "$body" "$1" > "$2"
}
# Waits until `count` (a command) prints at least $1, for up to 5 minutes.
wait_for() { for _ in $(seq 1500); do [ "$($2)" -ge "$1" ] && return 0; sleep 0.2; done; return 1; }
accepted() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["statusCodeDistribution"].get("202", 0))' "$1"; }

echo "chorus: $RATE submissions/s for $DURATION s"
bench_chorus load "$CONCURRENCY"
load "http://127.0.0.1:$api_port/v1/jobs" "$work/load-chorus.json" "Authorization: Bearer $key"
n=$(accepted "$work/load-chorus.json")
succeeded() { sql "SELECT count(*) FROM jobs WHERE status = 'succeeded'"; }
wait_for "$n" succeeded || echo "chorus: not every job finished in 5 minutes" >&2
# Ran once: one `running` event (one claim) per job. A request that oha
# cut off at its deadline may still have made a job: every job counts.
sql "SELECT json_build_object('accepted', $n,
  'ran_once', count(*) FILTER (WHERE runs = 1), 'ran_twice_or_more', count(*) FILTER (WHERE runs > 1),
  'not_run', count(*) FILTER (WHERE runs = 0))
  FROM (SELECT j.id, count(e.id) AS runs FROM jobs j LEFT JOIN job_events e ON e.job_id = j.id AND e.status = 'running'
        GROUP BY j.id) r" > "$work/load-chorus-check.json"
kill "$api_pid" "$worker_pid"; wait "$api_pid" "$worker_pid" 2>/dev/null || true

echo "fastapi + celery: $RATE submissions/s for $DURATION s"
export BENCH_REDIS_URL="redis://127.0.0.1:$redis_port/1"
(cd bench/load && exec ../../$work/venv/bin/celery -A fastapi_app:celery worker -P threads -c "$CONCURRENCY" --loglevel WARNING \
  --without-heartbeat --without-gossip --without-mingle) >"$work/load-celery.log" 2>&1 & pids+=($!); celery_pid=$!
(cd bench/load && exec ../../$work/venv/bin/uvicorn fastapi_app:app --port "$peer_port" --log-level warning --no-access-log) & pids+=($!)
for _ in $(seq 100); do curl -sf "localhost:$peer_port/docs" >/dev/null && break; sleep 0.1; done
sleep 2; kill -0 "$celery_pid" || { cat "$work/load-celery.log"; echo "the Celery worker did not start" >&2; exit 1; }
load "http://127.0.0.1:$peer_port/jobs" "$work/load-peer.json"
n=$(accepted "$work/load-peer.json")
ran() { redis-cli -p "$redis_port" -n 1 HLEN load:runs; }
wait_for "$n" ran || echo "celery: not every job finished in 5 minutes" >&2
redis-cli -p "$redis_port" -n 1 HVALS load:runs | python3 -c '
import json, sys
runs = [int(l) for l in sys.stdin if l.strip()]
n = int(sys.argv[1])
# Accepted jobs missing from the runs (a request cut off at the deadline
# may have queued a job too, so this is a lower bound).
print(json.dumps({"accepted": n, "ran_once": sum(r == 1 for r in runs), "ran_twice_or_more": sum(r > 1 for r in runs),
                  "not_run": max(0, n - len(runs))}))' "$n" > "$work/load-peer-check.json"

python3 bench/load/report.py bench/results/load.md "$RATE" "$DURATION" \
  "$work/load-chorus.json" "$work/load-chorus-check.json" "$work/load-peer.json" "$work/load-peer-check.json"
