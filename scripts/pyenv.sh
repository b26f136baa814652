#!/usr/bin/env bash
# The Python environment of the suite's reference peers: the PyPI package
# `standardwebhooks` verifies a delivery captured from Chorus, and `moto`'s
# server mode is the S3-compatible store of the blob tests, and
# `kubernetes-validate` checks the Kubernetes manifests. Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."
venv=.build/pyenv
if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c 'import standardwebhooks, moto.server, kubernetes_validate' 2>/dev/null; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check standardwebhooks==1.1.0 "moto[server]==5.2.5" kubernetes-validate==1.37.0
fi
echo "$venv/bin/python"
