#!/usr/bin/env bash
# `just bench queue`: no-op job throughput, CPU per job and enqueue→start
# latency of Chorus, BullMQ and Celery on the same Redis, in one run:
# single submits (`POST /v1/jobs`, `add`, `delay`), batch submits
# (`POST /v1/jobs/batch`, `addBulk`, `group`, 1,000 per request) and a
# paced latency run. Writes bench/results/queue.md, or queue-durable.md
# with CHORUS_STORES=durable (Postgres with fsync and synchronous commits,
# as `just up` runs it; the default is the tests' fast settings).
#
# Env: CHORUS_JOBS (50000), BULLMQ_JOBS (250000), CELERY_JOBS (10000): jobs
# per throughput run (batch runs take twice as many), enough for 20 s or
# more here; CLIENTS (8) producers; CONCURRENCY (32) per worker (and per
# BullMQ and Celery worker);
# LATENCY_JOBS (1000) at one every PACE_MS (10). PROFILE=1 also records
# the API and the worker with `perf` during Chorus's single run (slower).
# SYSTEMS ("chorus bullmq celery") picks the peers to run (Chorus always runs).
# pg_stat_statements is always on: the report lists the top statements.
# EXPLAIN_MS=N logs the plans of statements slower than N ms (auto_explain).
set -euo pipefail
cd "$(dirname "$0")/.."
CHORUS_JOBS=${CHORUS_JOBS:-50000}; BULLMQ_JOBS=${BULLMQ_JOBS:-250000}; CELERY_JOBS=${CELERY_JOBS:-10000}
CLIENTS=${CLIENTS:-8}; CONCURRENCY=${CONCURRENCY:-32}
LATENCY_JOBS=${LATENCY_JOBS:-1000}; PACE_MS=${PACE_MS:-10}
work=bench/work; dir=.build/bench
mkdir -p "$work" bench/results

scripts/deps.sh
command -v node >/dev/null || { apt-get update -qq && apt-get install -y -qq nodejs npm >/dev/null; }
[ "${PROFILE:-0}" = 0 ] || command -v perf >/dev/null || { apt-get update -qq && apt-get install -y -qq linux-perf >/dev/null; }
# Peers, from their registries, pinned.
[ -d "$work/node/node_modules/ioredis" ] || (mkdir -p "$work/node" && cd "$work/node" && npm init -y >/dev/null && npm install --silent bullmq@6.7.0 ioredis@5.8.2)
[ -x "$work/venv/bin/celery" ] || (python3 -m venv "$work/venv" && "$work/venv/bin/pip" install -q "celery[redis]==5.6.2")
cargo build --release --bins

source scripts/bench-lib.sh
results=$work/queue-results.jsonl; samples=$work/queue-cpu.jsonl; profile=$work/queue-profile.md
stop_sampler=$work/queue-cpu.stop
on_exit='touch "$stop_sampler"'
export CHORUS_PG_OPTS="-c shared_preload_libraries=pg_stat_statements -c pg_stat_statements.track=all -c pg_stat_statements.track_planning=on"
# EXPLAIN_MS=N: Postgres logs the plan (with actual rows and buffers) of
# every statement slower than N ms to .build/bench/pg/postgres.log (auto_explain).
[ -z "${EXPLAIN_MS:-}" ] || CHORUS_PG_OPTS="$CHORUS_PG_OPTS -c session_preload_libraries=auto_explain -c auto_explain.log_min_duration=$EXPLAIN_MS -c auto_explain.log_analyze=on -c auto_explain.log_buffers=on"
bench_stores "$dir"
psql -q -h 127.0.0.1 -p "$pg_port" -U postgres chorus -c "CREATE EXTENSION pg_stat_statements"
bench_chorus bench "$CONCURRENCY"

: > "$results"; : > "$samples"; rm -f "$stop_sampler"
python3 bench/queue/cpu.py "$samples" "$stop_sampler" & pids+=($!)
chorus() { target/release/bench_queue "http://127.0.0.1:$api_port" "$CHORUS__DATABASE__URL" "$key" "$@" | tee -a "$results"; }
sql() { psql -h 127.0.0.1 -p "$pg_port" -U postgres chorus "$@"; }
# The statements Postgres ran for one Chorus run, per job (markdown).
top_statements() {
  echo; echo "### Postgres, Chorus $1 run: top statements by total time (pg_stat_statements)"; echo
  echo "| calls per job | total ms (plan + run) | plan ms, mean | run ms, mean | statement |"; echo "|---|---|---|---|---|"
  sql -tA -c "SELECT format('| %s | %s | %s | %s | \`%s\` |', round(calls::numeric / $2, 3),
      round((total_plan_time + total_exec_time)::numeric), round(mean_plan_time::numeric, 3), round(mean_exec_time::numeric, 3),
      replace(left(regexp_replace(query, '\s+', ' ', 'g'), 120), '|', '¦'))
      FROM pg_stat_statements WHERE query NOT LIKE '%pg_stat_statements%'
      ORDER BY total_plan_time + total_exec_time DESC LIMIT 12"
  sql -qtA -c "SELECT pg_stat_statements_reset()" >/dev/null
}
: > "$profile"
echo "## Profile" >> "$profile"

echo "chorus: $CHORUS_JOBS single, $((CHORUS_JOBS * 2)) batch"
sql -qtA -c "SELECT pg_stat_statements_reset()" >/dev/null
if [ "${PROFILE:-0}" != 0 ]; then
  perf record -F 499 -o "$work/perf.data" -p "$api_pid,$worker_pid" 2>/dev/null & perf_pid=$!
fi
chorus "$CHORUS_JOBS" "$CLIENTS" single
if [ "${PROFILE:-0}" != 0 ]; then
  kill -TERM "$perf_pid"; wait "$perf_pid" || true
  # This machine's perf samples a software clock; self time by process and
  # library says where the CPU went (kernel time is mostly round trips).
  perf_top() { perf report -i "$work/perf.data" --no-children -g none --stdio --sort "$1" 2>/dev/null \
    | grep -E '^ +[0-9.]+%' | sed -E 's/ +$//; s/ {3,}/  /g' | cut -c1-140 | head -"$2" || true; }
  { echo; echo "### perf: API and worker during Chorus's single run (self time)"; echo
    echo "By process and library:"; echo; echo '```'; perf_top pid,dso 12; echo '```'; echo
    echo "Top symbols:"; echo; echo '```'; perf_top pid,dso,symbol 20; echo '```'; } >> "$profile"
fi
top_statements single "$CHORUS_JOBS" >> "$profile"
chorus "$((CHORUS_JOBS * 2))" "$CLIENTS" batch
top_statements batch "$((CHORUS_JOBS * 2))" >> "$profile"
chorus "$LATENCY_JOBS" 1 latency "$PACE_MS"
for p in "$api_pid" "$worker_pid"; do kill "$p" 2>/dev/null || true; done

runs() { [[ " ${SYSTEMS:-chorus bullmq celery} " == *" $1 "* ]]; }
if runs bullmq; then
echo "bullmq"
cp bench/queue/bullmq.mjs "$work/node/"
bullmq() { (cd "$work/node" && node bullmq.mjs "$redis_port" "$@") | tee -a "$results"; }
bullmq "$BULLMQ_JOBS" "$CLIENTS" "$CONCURRENCY" single
bullmq "$((BULLMQ_JOBS * 2))" "$CLIENTS" "$CONCURRENCY" batch
bullmq "$LATENCY_JOBS" 1 "$CONCURRENCY" latency "$PACE_MS"
fi
if runs celery; then
echo "celery"
celery() { (cd bench/queue && ../../$work/venv/bin/python celery_bench.py "$redis_port" "$@") | tee -a "$results"; }
celery "$CELERY_JOBS" "$CLIENTS" "$CONCURRENCY" single
celery "$((CELERY_JOBS * 2))" "$CLIENTS" "$CONCURRENCY" batch
celery "$LATENCY_JOBS" 1 "$CONCURRENCY" latency "$PACE_MS"
fi
touch "$stop_sampler"; sleep 0.3

report=bench/results/queue.md
[ "${CHORUS_STORES:-fast}" = durable ] && report=bench/results/queue-durable.md
python3 bench/queue/report.py "$results" "$samples" "$report" \
  "no-op jobs; $CLIENTS concurrent producers; one worker process with concurrency $CONCURRENCY; paced run: $LATENCY_JOBS jobs, one every $PACE_MS ms. Chorus's knobs: one \`chorus-api\` and one \`chorus-worker\`, \`dispatch.window\` $CHORUS__DISPATCH__WINDOW, \`worker.poll_ms\` 50, \`database.pool_size\` 10 (the worker raises it to its concurrency + 4, and has 2 more for its claims and completions), \`worker.complete_batch_ms\` 2 and \`complete_batch_max\` 100 (also the most messages one claim takes), \`api.submit_batch_max\` 100, rate limits of 1,000,000 requests/s (checked on every request, never reached), defaults otherwise" \
  "$profile"
