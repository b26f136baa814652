#!/usr/bin/env bash
# Installs what Chorus needs on a fresh Debian machine, if missing:
# PostgreSQL 15 server binaries, Redis, Python, a C++ compiler (for the
# llama.cpp server) and Node.js with npm (for the reference MCP server).
# Idempotent; needs root (or sudo) only when something is missing.
set -euo pipefail

sudo_if_needed() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

pg_bin() {
  # The server binaries, whether on PATH or in Debian's versioned directory.
  if command -v initdb >/dev/null 2>&1; then dirname "$(command -v initdb)"; return; fi
  ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1
}

missing=()
[ -n "$(pg_bin)" ] && [ -x "$(pg_bin)/initdb" ] || missing+=(postgresql)
command -v psql >/dev/null 2>&1 || missing+=(postgresql-client)
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
command -v curl >/dev/null 2>&1 || missing+=(curl)
command -v ps2pdf >/dev/null 2>&1 || missing+=(ghostscript) # real PDFs for the ingestion tests
# PDFs from real producers for the extraction-quality test: groff (man
# pages to PostScript), cairo through pango-view, LibreOffice Writer.
command -v groff >/dev/null 2>&1 || missing+=(groff-base)
command -v pango-view >/dev/null 2>&1 || missing+=(pango1.0-tools)
lean=() # installed without their recommends (LibreOffice's are large)
command -v soffice >/dev/null 2>&1 || lean+=(libreoffice-writer-nogui)
[ -f /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf ] || missing+=(fonts-dejavu-core)
[ -f /usr/share/man/man1/ssh.1.gz ] || missing+=(openssh-client)
command -v python3 >/dev/null 2>&1 || missing+=(python3)
python3 -c 'import ensurepip, venv' >/dev/null 2>&1 || missing+=(python3-venv)
python3 -m pip --version >/dev/null 2>&1 || missing+=(python3-pip) # scripts/models.sh downloads from PyPI
command -v unzip >/dev/null 2>&1 || missing+=(unzip)
command -v g++ >/dev/null 2>&1 || missing+=(g++) # scripts/llm.sh compiles llama.cpp
command -v node >/dev/null 2>&1 || missing+=(nodejs) # scripts/mcp.sh: the reference MCP server
command -v npm >/dev/null 2>&1 || missing+=(npm)
python3 -c 'import sysconfig, os, sys; sys.exit(not os.path.exists(os.path.join(sysconfig.get_paths()["include"], "Python.h")))' \
  || missing+=(python3-dev)
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing: ${missing[*]}"
  sudo_if_needed apt-get update -qq
  sudo_if_needed env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi
if [ ${#lean[@]} -gt 0 ]; then
  echo "installing: ${lean[*]}"
  [ ${#missing[@]} -gt 0 ] || sudo_if_needed apt-get update -qq
  sudo_if_needed env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${lean[@]}" >/dev/null
fi
# Debian's redis-server package starts a system service on 6379; Chorus
# never uses it, so it is left alone.
echo "deps ok: postgres in $(pg_bin), $(redis-server --version | cut -d' ' -f3)"
