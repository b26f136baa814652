#!/usr/bin/env bash
# The reference MCP server the tool tests run against (nobody here wrote
# it): @modelcontextprotocol/server-everything from npm, pinned, installed
# under .build/mcp. Idempotent. Prints the path of its entry point.
set -euo pipefail
cd "$(dirname "$0")/.."
version=2026.8.31
dir=.build/mcp
entry="$dir/node_modules/@modelcontextprotocol/server-everything/dist/index.js"
if [ ! -f "$dir/.installed-$version" ] || [ ! -f "$entry" ]; then
  mkdir -p "$dir"
  npm install --prefix "$dir" --no-audit --no-fund --loglevel=error \
    "@modelcontextprotocol/server-everything@$version" >&2
  touch "$dir/.installed-$version"
fi
echo "$entry"
