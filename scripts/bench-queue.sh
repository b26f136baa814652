#!/usr/bin/env bash
# `just bench queue`: no-op job throughput and enqueue→start latency of
# Chorus, BullMQ and Celery on the same Redis, in one run. Writes
# bench/results/queue.md, or queue-durable.md with CHORUS_STORES=durable
# (Postgres with fsync and synchronous commits, as `just up` runs it; the
# default is the tests' fast settings). Env: JOBS (2000), CLIENTS (8),
# CONCURRENCY (8), LATENCY_JOBS (300), PACE_MS (10).
set -euo pipefail
cd "$(dirname "$0")/.."
JOBS=${JOBS:-2000}; CLIENTS=${CLIENTS:-8}; CONCURRENCY=${CONCURRENCY:-8}
LATENCY_JOBS=${LATENCY_JOBS:-300}; PACE_MS=${PACE_MS:-10}
work=bench/work; dir=.build/bench
mkdir -p "$work" bench/results

scripts/deps.sh
command -v node >/dev/null || { apt-get update -qq && apt-get install -y -qq nodejs npm >/dev/null; }
# Peers, from their registries, pinned.
[ -d "$work/node/node_modules/ioredis" ] || (mkdir -p "$work/node" && cd "$work/node" && npm init -y >/dev/null && npm install --silent bullmq@6.7.0 ioredis@5.8.2)
[ -x "$work/venv/bin/celery" ] || (python3 -m venv "$work/venv" && "$work/venv/bin/pip" install -q "celery[redis]==5.6.2")
cargo build --release --bins

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
pg_port=$(free_port); redis_port=$(free_port); api_port=$(free_port)
scripts/services.sh stop "$dir" 2>/dev/null || true
rm -rf "$dir"
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; scripts/services.sh stop "$dir"; }
trap cleanup EXIT
scripts/services.sh start "$dir" "$pg_port" "$redis_port"
createdb -h 127.0.0.1 -p "$pg_port" -U postgres chorus

export CHORUS__DATABASE__URL="postgres://postgres@127.0.0.1:$pg_port/chorus"
export CHORUS__REDIS__URL="redis://127.0.0.1:$redis_port"
export CHORUS__API__PORT=$api_port CHORUS__WORKER__CONCURRENCY__MAINTENANCE=$CONCURRENCY
export CHORUS__DISPATCH__WINDOW=$((CONCURRENCY * 4)) RUST_LOG=warn
target/release/chorus-api migrate
key=$(target/release/chorus-api create-key --tenant bench --role admin)
target/release/chorus-api serve & pids+=($!)
target/release/chorus-worker --name bench-worker --metrics-port 0 & pids+=($!)
for _ in $(seq 100); do curl -sf "localhost:$api_port/readyz" >/dev/null && break; sleep 0.1; done

results=$work/queue-results.jsonl
: > "$results"
echo "chorus: $JOBS jobs, $CLIENTS clients, concurrency $CONCURRENCY"
target/release/bench_queue "http://127.0.0.1:$api_port" "$CHORUS__DATABASE__URL" "$key" "$JOBS" "$CLIENTS" | tee -a "$results"
target/release/bench_queue "http://127.0.0.1:$api_port" "$CHORUS__DATABASE__URL" "$key" "$LATENCY_JOBS" 1 "$PACE_MS" | tee -a "$results"
for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; pids=()

echo "bullmq"
cp bench/queue/bullmq.mjs "$work/node/"
(cd "$work/node" && node bullmq.mjs "$redis_port" "$JOBS" "$CLIENTS" "$CONCURRENCY") | tee -a "$results"
(cd "$work/node" && node bullmq.mjs "$redis_port" "$LATENCY_JOBS" 1 "$CONCURRENCY" "$PACE_MS") | tee -a "$results"
echo "celery"
(cd bench/queue && ../../$work/venv/bin/python celery_bench.py "$redis_port" "$JOBS" "$CLIENTS" "$CONCURRENCY") | tee -a "$results"
(cd bench/queue && ../../$work/venv/bin/python celery_bench.py "$redis_port" "$LATENCY_JOBS" 1 "$CONCURRENCY" "$PACE_MS") | tee -a "$results"

report=bench/results/queue.md
[ "${CHORUS_STORES:-fast}" = durable ] && report=bench/results/queue-durable.md
python3 bench/queue/report.py "$results" "$report" \
  "$JOBS no-op jobs, $CLIENTS concurrent producers, one worker process with concurrency $CONCURRENCY" "$PACE_MS"
