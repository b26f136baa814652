#!/usr/bin/env bash
# `just chaos`: the long chaos run (tests/src/chaos). Starts what the suite
# starts (the model, the local LLM, the Python peers, the Qdrant server when
# its binary is here); the run itself brings up its own Postgres and Redis,
# since it restarts them. Writes bench/results/chaos.md and chaos.json, then
# runs the Sentinel scenario (scripts/sentinel.sh, chaos-sentinel.md).
#   CHAOS_JOBS (10000) and CHAOS_DOCUMENTS (200) override the sizes.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
CHORUS_TEST_MODELS="$(pwd)/$(scripts/models.sh)"
export CHORUS_TEST_MODELS
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
dir=.build/chaos
scripts/qdrant.sh stop "$dir" 2>/dev/null || true
scripts/llm.sh stop "$dir" 2>/dev/null || true
rm -rf "$dir"; mkdir -p "$dir/tmp"
trap 'scripts/qdrant.sh stop "$dir"; scripts/llm.sh stop "$dir"' EXIT
llm_port=$(free_port)
scripts/llm.sh start "$dir" "$llm_port"
export CHORUS_TEST_LLM="http://127.0.0.1:$llm_port/v1"
CHORUS_TEST_PYTHON="$(pwd)/$(scripts/pyenv.sh)"
export CHORUS_TEST_PYTHON
if qdrant_bin=$(scripts/qdrant.sh bin 2>&1); then
  CHORUS_TEST_QDRANT=$(scripts/qdrant.sh start "$dir" "$(free_port)" "$(free_port)")
  export CHORUS_TEST_QDRANT
else
  echo "chaos: no Qdrant server ($qdrant_bin): one worker owns the embedded store" >&2
fi
export TMPDIR="$(pwd)/$dir/tmp"
export CHAOS_MACHINE="$(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)), shared and noisy"
cargo build --release --bins
status=0
target/release/chaos || status=$?
# The second scenario: Redis under Sentinel, its primary killed.
scripts/sentinel.sh || status=$?
exit $status
