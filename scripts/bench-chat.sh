#!/usr/bin/env bash
# `just bench chat`: what Chorus adds over a direct call to the same local
# model server (llama.cpp + SmolLM2): time to first token and total, p50
# and p99 over N requests (default 50), both measured in one run.
# Writes bench/results/chat.md.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${N:-50}
work=bench/work; dir=.build/bench-chat
mkdir -p "$work" bench/results
scripts/deps.sh
models="$(pwd)/$(scripts/models.sh)"
cargo build --release --bins
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
pg_port=$(free_port); redis_port=$(free_port); api_port=$(free_port); llm_port=$(free_port)
scripts/services.sh stop "$dir" 2>/dev/null || true
rm -rf "$dir"
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; scripts/llm.sh stop "$dir"; scripts/services.sh stop "$dir"; }
trap cleanup EXIT
scripts/services.sh start "$dir" "$pg_port" "$redis_port"
scripts/llm.sh start "$dir" "$llm_port"
createdb -h 127.0.0.1 -p "$pg_port" -U postgres chorus
export CHORUS__DATABASE__URL="postgres://postgres@127.0.0.1:$pg_port/chorus"
export CHORUS__REDIS__URL="redis://127.0.0.1:$redis_port"
export CHORUS__API__PORT=$api_port RUST_LOG=warn
export CHORUS__LLM__PROVIDERS__LOCAL__BASE_URL="http://127.0.0.1:$llm_port/v1" CHORUS__LLM__CACHE_TTL_SECS=0
export CHORUS__EMBED__MODEL_DIR="$models/all-MiniLM-L6-v2" CHORUS__EMBED__ORT_LIBRARY="$models/libonnxruntime.so"
export CHORUS__VECTORS__PATH="$(pwd)/$dir/vectors"
target/release/chorus-api migrate
key=$(target/release/chorus-api create-key --tenant bench --role admin)
target/release/chorus-api serve & pids+=($!)
target/release/chorus-worker --name bench-worker --metrics-port 0 & pids+=($!)
for _ in $(seq 100); do curl -sf "localhost:$api_port/readyz" >/dev/null && break; sleep 0.1; done
results="$work/chat-results.jsonl"
target/release/bench_chat "http://127.0.0.1:$llm_port/v1" "http://127.0.0.1:$api_port" "$key" "$N" | tee "$results"
python3 bench/chat/report.py "$results" bench/results/chat.md
