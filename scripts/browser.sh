#!/usr/bin/env bash
# The browser the dashboard tests drive: Chromium from Debian's packages,
# driven by playwright-core, with axe-core for the accessibility check (both
# from npm, pinned, installed under .build/browser). Idempotent. Prints the
# node_modules directory.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v chromium >/dev/null 2>&1; then
  sudo=""; [ "$(id -u)" -eq 0 ] || sudo=sudo
  $sudo apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core >&2
fi
playwright=1.65.1
axe=4.14.1
dir=.build/browser
stamp="$dir/.installed-$playwright-$axe"
if [ ! -f "$stamp" ] || [ ! -d "$dir/node_modules/playwright-core" ]; then
  mkdir -p "$dir"
  npm install --prefix "$dir" --no-audit --no-fund --loglevel=error \
    "playwright-core@$playwright" "axe-core@$axe" >&2
  touch "$stamp"
fi
echo "$(pwd)/$dir/node_modules"
