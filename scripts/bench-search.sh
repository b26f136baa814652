#!/usr/bin/env bash
# `just bench search`: p50/p99 of filtered hybrid search at 100k chunks,
# Chorus vs the Python equivalent (onnxruntime + qdrant-client local mode +
# the same Postgres queries), in one run on one Postgres.
# Writes bench/results/search.md. Env: QUERIES (300).
set -euo pipefail
cd "$(dirname "$0")/.."
QUERIES=${QUERIES:-300}
work=bench/work; dir=.build/bench-search; out="$(pwd)/$work/search"
mkdir -p "$work" bench/results
scripts/deps.sh
models="$(pwd)/$(scripts/models.sh)"
venv="$work/venv-ingest"
[ -x "$venv/bin/python" ] && "$venv/bin/python" -c 'import pypdf, onnxruntime, tokenizers, qdrant_client, psycopg' 2>/dev/null \
  || { python3 -m venv "$venv" && "$venv/bin/pip" install -q pypdf==7.1.0 onnxruntime==1.24.4 tokenizers==0.22.1 \
         qdrant-client==1.16.1 numpy "psycopg[binary]==3.2.13"; }
cargo build --release --bin bench_search --bin chorus-api

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
pg_port=$(free_port); redis_port=$(free_port)
scripts/services.sh stop "$dir" 2>/dev/null || true
rm -rf "$dir"
trap 'scripts/services.sh stop "$dir"' EXIT
scripts/services.sh start "$dir" "$pg_port" "$redis_port"
createdb -h 127.0.0.1 -p "$pg_port" -U postgres chorus
export CHORUS__DATABASE__URL="postgres://postgres@127.0.0.1:$pg_port/chorus"
export CHORUS__REDIS__URL="redis://127.0.0.1:$redis_port"
export CHORUS__EMBED__MODEL_DIR="$models/all-MiniLM-L6-v2" CHORUS__EMBED__ORT_LIBRARY="$models/libonnxruntime.so"
export RUST_LOG=warn
target/release/chorus-api migrate
results="$work/search-results.jsonl"; : > "$results"
target/release/bench_search "$out" "$QUERIES" | tee -a "$results"
"$venv/bin/python" bench/search/python_search.py "$out" "$models" "$CHORUS__DATABASE__URL" "$QUERIES" | tee -a "$results"
python3 bench/search/report.py "$results" bench/results/search.md
