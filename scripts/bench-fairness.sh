#!/usr/bin/env bash
# `just bench fairness`: tenant A floods the maintenance queue with JOBS
# (20,000) diagnostic jobs of SLEEP_MS (5) each; tenant B submits one job
# every 100 ms until A's flood has drained. B's queue wait (p50, p99) with
# fair share off (the peer: dispatch by priority and age alone) and on,
# with a window of four times the concurrency, and on with a window of the
# concurrency, in one run, on the same stores. Release build, one API, one
# worker with CONCURRENCY (8) slots. Writes bench/results/fairness.md.
set -euo pipefail
cd "$(dirname "$0")/.."
JOBS=${JOBS:-20000}; SLEEP_MS=${SLEEP_MS:-5}; CONCURRENCY=${CONCURRENCY:-8}
mkdir -p bench/results
scripts/deps.sh
cargo build --release -p chorus-api -p chorus-worker --bins
source scripts/bench-lib.sh
export CHORUS_PG_OPTS="-c shared_preload_libraries=pg_stat_statements"
bench_stores .build/bench-fairness
db="postgres://postgres@127.0.0.1:$pg_port/chorus"
psql -q "$db" -c "CREATE EXTENSION pg_stat_statements"
# The dispatch statement's mean and longest run (ms) since the last call.
dispatch_ms() {
  psql -qtA "$db" -c "SELECT coalesce(round(sum(total_exec_time)::numeric / greatest(sum(calls), 1), 2) || ' / ' || round(max(max_exec_time)::numeric, 1), '-')
    FROM pg_stat_statements WHERE query LIKE 'WITH RECURSIVE waiting%'"
  psql -qtA "$db" -c "SELECT pg_stat_statements_reset()" >/dev/null
}
declare -A dispatch runs
# Runs: fair share off and on with the benchmarks' window (four times the
# concurrency), and on with a window of the concurrency alone (a message
# waits behind fewer others in Redis).
configs="off:$((CONCURRENCY * 4)) on:$((CONCURRENCY * 4)) on:$CONCURRENCY"
for config in $configs; do
  mode=${config%%:*}; export WINDOW=${config##*:}
  export CHORUS__DISPATCH__FAIR_SHARE=$([ "$mode" = on ] && echo true || echo false)
  bench_chorus a "$CONCURRENCY"
  key_b=$(target/release/chorus-api create-key --tenant b --role admin)
  dispatch_ms >/dev/null
  runs[$config]=$(python3 bench/fairness/measure.py "http://127.0.0.1:$api_port" "$key" "$key_b" "$db" "$JOBS" "$SLEEP_MS")
  dispatch[$config]=$(dispatch_ms)
  echo "$config: ${runs[$config]} dispatch ms (mean / max): ${dispatch[$config]}"
  for p in "$api_pid" "$worker_pid"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
done
field() { python3 -c "import json,sys; print(json.loads(sys.argv[1])[sys.argv[2]])" "$1" "$2"; }
row() {
  local r=${runs[$1]}
  echo "| ${1%%:*} | ${1##*:} | $(field "$r" b_jobs) | $(field "$r" b_p50_ms) | $(field "$r" b_p99_ms) | $(field "$r" b_max_ms) at $(field "$r" b_max_at_s) s | $(field "$r" b_after_p99_ms) | $(field "$r" a_submit_s) | $(field "$r" a_drain_s) | ${dispatch[$1]} |"
}
off="off:$((CONCURRENCY * 4))"
ratio() { python3 -c "print(round($(field "${runs[$off]}" "$2") / max($(field "${runs[$1]}" "$2"), 0.1), 1))"; }
table=$(for config in $configs; do row "$config"; done)
cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)
cat > bench/results/fairness.md <<MD
# Fair share: one tenant's flood and another's trickle

\`just bench fairness\` ($(date -u +%Y-%m-%d), commit $(git rev-parse --short HEAD)$(git diff --quiet HEAD -- api shared worker migrations || echo ', with uncommitted changes')).
Machine: $(nproc) cores ($cpu), $(free -g | awk '/Mem:/{print $2}') GiB, shared and noisy. Release build;
Postgres with fsync off; one API process and one worker ($CONCURRENCY slots on the maintenance queue),
restarted between runs on the same stores.

Tenant A submits $JOBS diagnostic jobs of $SLEEP_MS ms each in batches of 1,000; from the same moment
tenant B submits one no-op job every 100 ms until A's last job has started. B's queue wait is
\`started_at − created_at\` of each of its jobs, as Postgres recorded them. The peer is Chorus itself
with fair share off (\`dispatch.fair_share = false\`: waiting jobs go by priority and age alone, as in
a single FIFO queue). Fair share decides which waiting job is dispatched next; a job already
dispatched waits in Redis behind up to a window of others, so the window bounds B's wait from below.

| fair share | window | B's jobs | B p50 ms | B p99 ms | B max ms (submitted at) | B p99 ms after A's flood was in | A submitted in s | A drained in s | dispatch statement ms, mean / max |
|---|---|---|---|---|---|---|---|---|---|
$table

With fair share on, B's p99 queue wait is $(ratio "on:$((CONCURRENCY * 4))" b_p99_ms)× shorter than with it off at the same
window (p50: $(ratio "on:$((CONCURRENCY * 4))" b_p50_ms)×), and $(ratio "on:$CONCURRENCY" b_p99_ms)× shorter with a window of $CONCURRENCY. The goal is B's p99 under
1 s with fair share on.
MD
cat bench/results/fairness.md
