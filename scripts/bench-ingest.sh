#!/usr/bin/env bash
# `just bench ingest`: pages/s of PDF extraction + chunking, Chorus vs
# Python pypdf with the same chunking rule, on a generated corpus.
# Writes bench/results/ingest.md. Env: DOCS (200), PAGES (25).
set -euo pipefail
cd "$(dirname "$0")/.."
DOCS=${DOCS:-200}; PAGES=${PAGES:-25}
work=bench/work
mkdir -p "$work" bench/results
scripts/deps.sh
[ -x "$work/venv-ingest/bin/python" ] && "$work/venv-ingest/bin/python" -c 'import pypdf' 2>/dev/null \
  || (python3 -m venv "$work/venv-ingest" && "$work/venv-ingest/bin/pip" install -q pypdf==7.1.0)
cargo build --release --bin bench_ingest
corpus="$work/corpus-${DOCS}x${PAGES}"
results="$work/ingest-results.jsonl"
target/release/bench_ingest "$corpus" "$DOCS" "$PAGES" | tee "$results"
"$work/venv-ingest/bin/python" bench/ingest/pypdf_bench.py "$corpus" "$DOCS" | tee -a "$results"
python3 bench/ingest/report.py "$results" bench/results/ingest.md
