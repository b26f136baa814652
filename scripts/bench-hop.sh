#!/usr/bin/env bash
# `just bench hop`: what the search hop costs a RAG chat turn. With the
# embedded vector engine, a chat worker that does not own the store sends
# its retrieval to the owner as a `search` job. One run, same corpus and
# questions, two topologies taking turns (direct, hop, direct, hop):
#   direct: one worker owns the store and runs the chat jobs;
#   hop:    the owner takes embed/search, a second worker takes chat/tool.
# Writes bench/results/hop.md.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${N:-20}
work=bench/work; dir=.build/bench-hop
mkdir -p "$work" bench/results
scripts/deps.sh
models="$(pwd)/$(scripts/models.sh)"
cargo build --release --bins
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
pg_port=$(free_port); redis_port=$(free_port); api_port=$(free_port); llm_port=$(free_port)
m_owner=$(free_port); m_chat=$(free_port)
scripts/services.sh stop "$dir" 2>/dev/null || true
rm -rf "$dir"
pids=(); workers=()
stop_workers() { for p in "${workers[@]}"; do kill "$p" 2>/dev/null || true; done; for p in "${workers[@]}"; do wait "$p" 2>/dev/null || true; done; workers=(); }
cleanup() { stop_workers; for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; scripts/llm.sh stop "$dir"; scripts/services.sh stop "$dir"; }
trap cleanup EXIT
scripts/services.sh start "$dir" "$pg_port" "$redis_port"
scripts/llm.sh start "$dir" "$llm_port"
createdb -h 127.0.0.1 -p "$pg_port" -U postgres chorus
export CHORUS__DATABASE__URL="postgres://postgres@127.0.0.1:$pg_port/chorus"
export CHORUS__REDIS__URL="redis://127.0.0.1:$redis_port"
export CHORUS__API__PORT=$api_port RUST_LOG=warn
export CHORUS__LLM__PROVIDERS__LOCAL__BASE_URL="http://127.0.0.1:$llm_port/v1" CHORUS__LLM__CACHE_TTL_SECS=0
export CHORUS__EMBED__MODEL_DIR="$models/all-MiniLM-L6-v2" CHORUS__EMBED__ORT_LIBRARY="$models/libonnxruntime.so"
export CHORUS__VECTORS__PATH="$(pwd)/$dir/vectors" CHORUS__KNOWLEDGE__BLOB_DIR="$(pwd)/$dir/blobs"
target/release/chorus-api migrate
key=$(target/release/chorus-api create-key --tenant bench --role admin)
target/release/chorus-api serve & pids+=($!)
for _ in $(seq 100); do curl -sf "localhost:$api_port/readyz" >/dev/null && break; sleep 0.1; done
api="http://127.0.0.1:$api_port"

# $1: the topology. Starts its workers and waits until they serve metrics.
start() {
  if [ "$1" = direct ]; then
    target/release/chorus-worker --name owner --metrics-port "$m_owner" & workers+=($!)
  else
    CHORUS__WORKER__QUEUES=embed,search,knowledge,webhook,maintenance \
      target/release/chorus-worker --name owner --metrics-port "$m_owner" & workers+=($!)
    CHORUS__WORKER__QUEUES=chat,tool target/release/chorus-worker --name chat --metrics-port "$m_chat" & workers+=($!)
  fi
  for port in "$m_owner" $([ "$1" = hop ] && echo "$m_chat"); do
    for _ in $(seq 200); do curl -sf "localhost:$port/metrics" >/dev/null && break; sleep 0.1; done
  done
}

# The corpus, ingested once (the store persists between topologies).
start direct
for i in 1 2 3 4 5 6; do
  case $i in
    1) text="The Zorblat reactor is cooled by liquid argon pumped at four bar." ;;
    2) text="Sourdough needs a starter, flour, water and a long rise overnight." ;;
    3) text="Ocean tides follow the pull of the moon and the sun." ;;
    4) text="A slipping bicycle chain wants cleaning, oil, or replacing." ;;
    5) text="Adults need seven to nine hours of sleep a night." ;;
    6) text="Error ZX-4471 means the license server rejected the token." ;;
  esac
  printf '%s\n' "$text" > "$work/hop-doc-$i.txt"
  curl -sf -H "authorization: Bearer $key" -F "file=@$work/hop-doc-$i.txt;type=text/plain" "$api/v1/documents" >/dev/null
done
for _ in $(seq 300); do
  left=$(curl -sf -H "authorization: Bearer $key" "$api/v1/documents?limit=50" | python3 -c 'import json,sys; print(sum(d["status"] != "ingested" for d in json.load(sys.stdin)["items"]))')
  [ "$left" = 0 ] && break; sleep 0.2
done
stop_workers

results="$work/hop-results.jsonl"; : > "$results"
for round in 1 2; do
  for topology in direct hop; do
    start "$topology"
    metrics=$([ "$topology" = direct ] && echo "$m_owner" || echo "$m_chat")
    python3 bench/hop/run.py "$api" "$key" $((N / 2)) "$topology" "http://127.0.0.1:$metrics/metrics" | tee -a "$results"
    stop_workers
  done
done
python3 bench/hop/report.py "$results" bench/results/hop.md
