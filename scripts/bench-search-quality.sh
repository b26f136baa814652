#!/usr/bin/env bash
# `just bench search-quality`: retrieval quality on Debian's man pages (as
# PDF, HTML and Markdown) with 67 questions written as a user would ask
# them: recall@1, recall@3 and MRR@10 of keyword, vector and hybrid search,
# with query latency, through a real API and worker on fresh stores.
# Writes bench/results/search-quality.md (every label's last run).
# Env: BIN_DIR (target/release, built here unless set) and LABEL ("now"):
# run a build of another commit with BIN_DIR and LABEL=before to compare.
set -euo pipefail
cd "$(dirname "$0")/.."
LABEL=${LABEL:-now}
work=bench/work; results="$work/search-quality.jsonl"
mkdir -p "$work" bench/results
scripts/deps.sh
# The corpus's tools and pages, from Debian: mandoc renders the HTML, and
# each man page comes with its package.
need=()
command -v mandoc >/dev/null || need+=(mandoc)
for page in wget:wget less:less xz:xz-utils find:findutils; do
  [ -f "/usr/share/man/man1/${page%%:*}.1.gz" ] || need+=("${page#*:}")
done
if [ ${#need[@]} -gt 0 ]; then
  sudo=$([ "$(id -u)" -eq 0 ] || echo sudo)
  $sudo apt-get update -qq && $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi
models="$(pwd)/$(scripts/models.sh)"
venv="$work/venv-quality"
[ -x "$venv/bin/python" ] && "$venv/bin/python" -c 'import html2text, pdfminer, fpdf, reportlab' 2>/dev/null \
  || { python3 -m venv "$venv" && "$venv/bin/pip" install -q html2text==2025.4.15 pdfminer.six==20250506 \
         fpdf2==2.8.3 reportlab==4.4.1; }
if [ -z "${BIN_DIR:-}" ]; then
  cargo build --release --bins
  BIN_DIR=target/release
fi
source scripts/bench-lib.sh
bench_stores .build/bench-search-quality
api_port=$(free_port)
export CHORUS__DATABASE__URL="postgres://postgres@127.0.0.1:$pg_port/chorus"
export CHORUS__REDIS__URL="redis://127.0.0.1:$redis_port"
export CHORUS__API__PORT=$api_port RUST_LOG=warn
export CHORUS__EMBED__MODEL_DIR="$models/all-MiniLM-L6-v2" CHORUS__EMBED__ORT_LIBRARY="$models/libonnxruntime.so"
export CHORUS__VECTORS__PATH="$dir/vectors" CHORUS__BLOBS__BLOB_DIR="$dir/blobs"
"$BIN_DIR/chorus-api" migrate
key=$("$BIN_DIR/chorus-api" create-key --tenant quality --role admin)
"$BIN_DIR/chorus-api" serve & pids+=($!)
"$BIN_DIR/chorus-worker" --name quality-worker --metrics-port 0 & pids+=($!)
for _ in $(seq 100); do curl -sf "localhost:$api_port/readyz" >/dev/null && break; sleep 0.1; done
touch "$results"
grep -v "\"label\": \"$LABEL\"" "$results" > "$results.keep" || true
mv "$results.keep" "$results"
"$venv/bin/python" bench/search/quality.py "http://127.0.0.1:$api_port" "$key" "$LABEL" "$work/search-quality-docs" \
  | tee -a "$results"
python3 bench/search/quality_report.py "$results" bench/results/search-quality.md
