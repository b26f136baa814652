#!/usr/bin/env bash
# The Python environment of the suite's reference checks: the PyPI package
# `standardwebhooks` verifies a delivery captured from Chorus. Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."
venv=.build/pyenv
if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c 'import standardwebhooks' 2>/dev/null; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check standardwebhooks==1.1.0
fi
echo "$venv/bin/python"
