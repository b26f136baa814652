# Sourced by the queue and load benchmarks: fresh Postgres and Redis on free
# ports, and one Chorus API with one worker that runs no-op jobs.

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# bench_stores DIR: fresh Postgres and Redis under DIR on free ports
# (sets pg_port, redis_port) with a `chorus` database. On exit, runs
# `$on_exit` if set, kills every pid in `pids` and stops both.
bench_stores() {
  dir=$1
  pg_port=$(free_port); redis_port=$(free_port)
  scripts/services.sh stop "$dir" 2>/dev/null || true
  rm -rf "$dir"
  pids=()
  trap 'eval "${on_exit:-}"; for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; scripts/services.sh stop "$dir"' EXIT
  scripts/services.sh start "$dir" "$pg_port" "$redis_port"
  createdb -h 127.0.0.1 -p "$pg_port" -U postgres chorus
}

# bench_chorus TENANT CONCURRENCY: migrates, makes an admin key (sets key),
# starts one API (sets api_port, api_pid) and one worker (worker_pid) that
# takes only the maintenance queue, where no-op `diagnostic` jobs run (so
# it needs no embedding model), with the given concurrency and a dispatch
# window of four times it (or $WINDOW), and rate limits checked but out of reach. These are the knobs the reports name.
bench_chorus() {
  api_port=$(free_port)
  export CHORUS__DATABASE__URL="postgres://postgres@127.0.0.1:$pg_port/chorus"
  export CHORUS__REDIS__URL="redis://127.0.0.1:$redis_port"
  export CHORUS__API__PORT=$api_port CHORUS__WORKER__CONCURRENCY__MAINTENANCE=$2
  export CHORUS__DISPATCH__WINDOW=${WINDOW:-$(($2 * 4))} CHORUS__WORKER__QUEUES=maintenance RUST_LOG=warn
  # The rate limiter runs (one Redis call per request) but refuses nothing:
  # these benchmarks drive one key past the defaults on purpose.
  export CHORUS__LIMITS__KEY_REQUESTS_PER_SEC=1000000 CHORUS__LIMITS__TENANT_REQUESTS_PER_SEC=1000000
  target/release/chorus-api migrate
  key=$(target/release/chorus-api create-key --tenant "$1" --role admin)
  target/release/chorus-api serve & pids+=($!); api_pid=$!
  # A fresh name each start: apalis refuses a consumer whose name was live
  # within its heartbeat threshold (a restart between runs would stall).
  target/release/chorus-worker --name "$1-worker-$RANDOM" --metrics-port 0 & pids+=($!); worker_pid=$!
  for _ in $(seq 100); do curl -sf "localhost:$api_port/readyz" >/dev/null && break; sleep 0.1; done
}
