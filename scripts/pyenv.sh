#!/usr/bin/env bash
# The Python environment of the suite's reference peers: the PyPI package
# `standardwebhooks` verifies a delivery captured from Chorus, and `moto`'s
# server mode is the S3-compatible store of the blob tests, and
# `kubernetes-validate` checks the Kubernetes manifests; pdfminer.six is
# the reference of the PDF extraction test, whose PDFs fpdf2 and reportlab
# write; the official `openai` SDK drives the OpenAI-compatible routes.
# Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."
venv=.build/pyenv
if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c 'import standardwebhooks, moto.server, kubernetes_validate, pdfminer, fpdf, reportlab, openai' 2>/dev/null; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check standardwebhooks==1.1.0 "moto[server]==5.2.5" kubernetes-validate==1.37.0 \
    pdfminer.six==20250506 fpdf2==2.8.3 reportlab==4.4.1 openai==2.8.1
fi
echo "$venv/bin/python"
