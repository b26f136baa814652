#!/usr/bin/env bash
# `just bench tools`: an MCP tool call (the reference server's `echo` over
# stdio) through Chorus, against the TypeScript SDK's client on one
# persistent session, p50 and p99 over N calls (default 50).
# Writes bench/results/tools.md.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${N:-50}
work=bench/work; dir=.build/bench-tools
mkdir -p "$work" bench/results
scripts/deps.sh
models="$(pwd)/$(scripts/models.sh)"
entry="$(pwd)/$(scripts/mcp.sh)"
sdk="$(pwd)/.build/mcp/node_modules/@modelcontextprotocol/sdk"
node="$(command -v node)"
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
export CHORUS__API__PORT=$api_port RUST_LOG=warn
export CHORUS__EMBED__MODEL_DIR="$models/all-MiniLM-L6-v2" CHORUS__EMBED__ORT_LIBRARY="$models/libonnxruntime.so"
export CHORUS__VECTORS__PATH="$(pwd)/$dir/vectors" CHORUS__SECRETS__KEY_FILE="$(pwd)/$dir/secrets.key"
# The command line stdio MCP servers may run, named `everything`.
cat > "$dir/chorus.toml" <<TOML
[tools.mcp_stdio.everything]
program = "$node"
args = ["$entry", "stdio"]
TOML
export CHORUS_CONFIG="$(pwd)/$dir/chorus.toml"
target/release/chorus-api migrate
key=$(target/release/chorus-api create-key --tenant bench --role admin)
target/release/chorus-api serve & pids+=($!)
target/release/chorus-worker --name bench-worker --metrics-port 0 & pids+=($!)
for _ in $(seq 100); do curl -sf "localhost:$api_port/readyz" >/dev/null && break; sleep 0.1; done
peer="$work/tools-peer.json"; ours="$work/tools-chorus.json"
node bench/tools/mcp_peer.mjs "$sdk" "$entry" "$N" | tee "$peer"
target/release/bench_tools "$node" "$entry" "http://127.0.0.1:$api_port" "$key" "$N" | tee "$ours"
python3 bench/tools/report.py "$peer" "$ours" bench/results/tools.md
