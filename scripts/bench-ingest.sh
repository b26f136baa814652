#!/usr/bin/env bash
# `just bench ingest`: Chorus vs Python on generated multi-page PDFs, in one
# run: (1) extraction + chunking (pypdf), (2) the full pipeline (parse,
# chunk, embed, index: pypdf + onnxruntime + qdrant-client local mode), and
# (3) embedding alone against bare ONNX Runtime (same model, same batch),
# with Chorus's batches formed by length and in arrival order, and (4)
# extraction quality: PDFs from five producers, words against pdfminer.six.
# Writes bench/results/ingest.md.
# Env: DOCS/PAGES (extraction corpus, 200×25), PIPE_DOCS/PIPE_PAGES (40×10).
set -euo pipefail
cd "$(dirname "$0")/.."
DOCS=${DOCS:-200}; PAGES=${PAGES:-25}; PIPE_DOCS=${PIPE_DOCS:-40}; PIPE_PAGES=${PIPE_PAGES:-10}
work=bench/work
mkdir -p "$work" bench/results
scripts/deps.sh
models="$(pwd)/$(scripts/models.sh)"
venv="$work/venv-ingest"
[ -x "$venv/bin/python" ] && "$venv/bin/python" -c 'import pypdf, onnxruntime, tokenizers, qdrant_client, pdfminer, fpdf, reportlab' 2>/dev/null \
  || { python3 -m venv "$venv" && "$venv/bin/pip" install -q pypdf==7.1.0 onnxruntime==1.24.4 tokenizers==0.22.1 \
         qdrant-client==1.16.1 numpy pdfminer.six==20250506 fpdf2==2.8.3 reportlab==4.4.1; }
cargo build --release --bin bench_ingest
results="$work/ingest-results.jsonl"; : > "$results"
texts="$work/pipeline-texts.json"
extract_corpus="$work/corpus-${DOCS}x${PAGES}"; pipe_corpus="$work/corpus-${PIPE_DOCS}x${PIPE_PAGES}"
bin=target/release/bench_ingest; py="$venv/bin/python bench/ingest/python_bench.py"
$bin extract "$extract_corpus" "$DOCS" "$PAGES" "$models" "$texts" | tee -a "$results"
$py extract "$extract_corpus" "$DOCS" "$models" "$texts" | tee -a "$results"
$bin pipeline "$pipe_corpus" "$PIPE_DOCS" "$PIPE_PAGES" "$models" "$texts" | tee -a "$results"
$py pipeline "$pipe_corpus" "$PIPE_DOCS" "$models" "$texts" | tee -a "$results"
$bin embed "$pipe_corpus" 0 0 "$models" "$texts" | tee -a "$results"
$py embed "$pipe_corpus" 0 "$models" "$texts" | tee -a "$results"
quality="$work/ingest-quality.jsonl"
rm -rf "$work/quality"
"$venv/bin/python" bench/ingest/quality.py make "$work/quality" >/dev/null
"$venv/bin/python" bench/ingest/quality.py compare "$work/quality" "$bin" | tee "$quality"
python3 bench/ingest/report.py "$results" bench/results/ingest.md "$quality"
