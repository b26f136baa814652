#!/usr/bin/env bash
# `just bench dashboard`: every dashboard page's server time with 100,000
# jobs in the table (one tenant; mixed statuses, queues and end times over
# the last two hours, ended by an update as a worker ends them), measured
# before and after a vacuum (as autovacuum would run), beside the
# API's JSON route for the same data (the peer: what rendering HTML adds).
# Release build, durable-off stores, one API, no worker (the seeded jobs
# stay as seeded). Writes bench/results/dashboard.md.
set -euo pipefail
cd "$(dirname "$0")/.."
JOBS=${JOBS:-100000}; N=${N:-50}
mkdir -p bench/results
scripts/deps.sh
cargo build --release -p chorus-api --bins
source scripts/bench-lib.sh
bench_stores .build/bench-dashboard
api_port=$(free_port)
export CHORUS__DATABASE__URL="postgres://postgres@127.0.0.1:$pg_port/chorus"
export CHORUS__REDIS__URL="redis://127.0.0.1:$redis_port"
export CHORUS__API__PORT=$api_port RUST_LOG=warn
target/release/chorus-api migrate
key=$(target/release/chorus-api create-key --tenant bench --role admin)
psql="psql -h 127.0.0.1 -p $pg_port -U postgres -d chorus -v ON_ERROR_STOP=1 -qtA"
$psql <<SQL
INSERT INTO jobs (id, tenant_id, kind, queue, priority, status, attempts, max_attempts, run_at, payload,
                  error_code, error_message, created_at, started_at, finished_at)
SELECT gen_random_uuid(), t.id, 'diagnostic',
       (ARRAY['chat','knowledge','embed','search','tool','webhook','maintenance'])[1 + i % 7], 0,
       s.status, 1, 3, now(), jsonb_build_object('steps', i % 10),
       CASE WHEN s.status IN ('failed', 'dead') THEN 'diagnostic_failure' END,
       CASE WHEN s.status IN ('failed', 'dead') THEN 'failed on purpose' END,
       now() - (i % 7200) * interval '1 second',
       CASE WHEN s.status NOT IN ('queued') THEN now() - (i % 7200) * interval '1 second' END,
       NULL
FROM generate_series(1, $JOBS) i
CROSS JOIN LATERAL (SELECT (ARRAY['succeeded','succeeded','succeeded','succeeded','failed','dead','queued','running','cancelled','succeeded'])[1 + i % 10] AS status) s
CROSS JOIN tenants t WHERE t.name = 'bench';
-- The ended jobs end as a worker ends them: by an update that sets
-- finished_at (which also counts them for the overview).
UPDATE jobs SET finished_at = started_at WHERE status NOT IN ('queued', 'running');
SQL
job=$($psql -c "SELECT id FROM jobs ORDER BY created_at DESC LIMIT 1")
target/release/chorus-api serve & pids+=($!)
for _ in $(seq 100); do curl -sf "localhost:$api_port/readyz" >/dev/null && break; sleep 0.1; done
# Every page before any vacuum (statistics only): the rows are not yet
# marked all-visible, so counting them reads the heap.
$psql -c "ANALYZE jobs, job_outcomes"
cold=$(python3 bench/dashboard/measure.py "http://127.0.0.1:$api_port" "$key" "$job" "$N")
# With synchronous_commit off (these stores are not durable), a page's rows
# may be marked all-visible only once their commit is on disk: flush first,
# or the vacuum leaves most pages to the heap (no index-only scans).
$psql -c "CHECKPOINT"
$psql -c "VACUUM ANALYZE jobs, job_outcomes"
visible=$($psql -c "SELECT round(100.0 * relallvisible / greatest(relpages, 1)) FROM pg_class WHERE relname = 'jobs'")
table=$(python3 bench/dashboard/measure.py "http://127.0.0.1:$api_port" "$key" "$job" "$N")
echo "$table"
cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)
cat > bench/results/dashboard.md <<MD
# Dashboard pages with $JOBS jobs

\`just bench dashboard\` ($(date -u +%Y-%m-%d), commit $(git rev-parse --short HEAD)$(git diff --quiet HEAD -- api shared migrations || echo ', with uncommitted changes')). Machine: $(nproc) cores
($cpu), $(free -g | awk '/Mem:/{print $2}') GiB, shared and noisy. Release build; Postgres with fsync
off; one API process, no worker. $JOBS jobs in one tenant (7 queues; 10 statuses in turn; created and
ended over the last two hours, the ended ones ended by an update that sets \`finished_at\`, as a worker
ends them, which also counts them in \`job_outcomes\` for the overview; then \`VACUUM ANALYZE\`, as autovacuum would have run on such a table: $visible% of its pages all-visible). Each page and its JSON peer asked $N times (after 3 warm-up requests)
over one keep-alive connection; times are client-side, request to last byte. The peer is the API's JSON
route for the same data: the ratio is what rendering HTML adds.

$table

Before the vacuum (the same tables, their pages not yet all-visible, so counting the open jobs reads
their rows), measured first:

$cold

The goal is every page under 50 ms with 100k jobs in the table.
MD
echo "wrote bench/results/dashboard.md"
