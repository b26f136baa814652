#!/usr/bin/env bash
# `just fuzz-api`: schemathesis (PyPI) against the served OpenAPI spec with
# an admin key, every check, every phase. Starts its own Postgres, Redis,
# API and worker on free loopback ports under .build/fuzz, and stops them.
#
#   scripts/fuzz-api.sh [MAX_EXAMPLES [SCHEMATHESIS ARGS…]]
#
# MAX_EXAMPLES per operation defaults to 100 (about 9,000 cases, 4 minutes
# here); `just test` runs 10. The seed is fixed (CHORUS_FUZZ_SEED to change
# it). Rules the document cannot state are listed in tests/fuzz-api.toml.
# It fails on any failed check and on any process that died.
#
# With CHORUS_FUZZ_PG / CHORUS_FUZZ_REDIS set (what `just test` does), it
# uses those servers and a database of its own instead.
set -euo pipefail
cd "$(dirname "$0")/.."
examples=${1:-100}

venv=.build/fuzzenv
if ! "$venv/bin/schemathesis" --version >/dev/null 2>&1; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check schemathesis==4.32.5
fi

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
dir=$(mkdir -p .build/fuzz && cd .build/fuzz && pwd)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  if [ -n "${db:-}" ] && [ -z "${own_stores:-}" ]; then
    psql "$pg/postgres" -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true
  fi
  if [ -n "${own_stores:-}" ]; then scripts/services.sh stop "$dir/stores"; fi
}
trap cleanup EXIT

if [ -n "${CHORUS_FUZZ_PG:-}" ]; then
  pg=$CHORUS_FUZZ_PG; redis=$CHORUS_FUZZ_REDIS
else
  own_stores=1
  scripts/deps.sh
  scripts/services.sh stop "$dir/stores" 2>/dev/null || true
  rm -rf "$dir/stores"
  pg_port=$(free_port); redis_port=$(free_port)
  scripts/services.sh start "$dir/stores" "$pg_port" "$redis_port"
  pg=postgres://postgres@127.0.0.1:$pg_port; redis=redis://127.0.0.1:$redis_port
fi
db=chorus_fuzz_$$
psql "$pg/postgres" -qc "CREATE DATABASE $db" >/dev/null
# A fresh directory for the deployment's own files (key, blobs, vectors).
rm -rf "$dir/deploy"; mkdir -p "$dir/deploy"
cargo build --bins -q
api_port=$(free_port)
export CHORUS__DATABASE__URL=$pg/$db CHORUS__REDIS__URL=$redis CHORUS__REDIS__NAMESPACE=fuzz$$
export CHORUS__API__PORT=$api_port CHORUS__SECRETS__KEY_FILE=$dir/deploy/secrets.key
export CHORUS__KNOWLEDGE__BLOB_DIR=$dir/deploy/blobs CHORUS__VECTORS__PATH=$dir/deploy/vectors
target/debug/chorus-api migrate >/dev/null
key=$(target/debug/chorus-api create-key --tenant default --role admin --name fuzz)
target/debug/chorus-api serve >"$dir/api.log" 2>&1 & pids+=($!)
target/debug/chorus-worker --metrics-port 0 >"$dir/worker.log" 2>&1 & pids+=($!)
for _ in $(seq 100); do curl -sf "127.0.0.1:$api_port/readyz" >/dev/null && break; sleep 0.2; done

status=0
"$venv/bin/schemathesis" --config-file tests/fuzz-api.toml run "http://127.0.0.1:$api_port/openapi.json" \
  --checks all --phases examples,coverage,fuzzing,stateful \
  --max-examples "$examples" --header "Authorization: Bearer $key" \
  --seed "${CHORUS_FUZZ_SEED:-1}" --suppress-health-check all --no-color \
  --report junit --report-dir "$dir/report" "${@:2}" || status=$?
# Nothing the fuzzer sent may have killed a process.
for p in "${pids[@]}"; do
  if ! kill -0 "$p" 2>/dev/null; then
    echo "fuzz-api: process $p died; see $dir/api.log and $dir/worker.log" >&2
    status=1
  fi
done
exit $status
