#!/usr/bin/env bash
# Starts or stops an S3-compatible server on loopback: the server mode of
# PyPI `moto` (installed by scripts/pyenv.sh), which speaks S3's real wire
# format, multipart uploads included. Its data lives in memory.
#
#   scripts/s3.sh start DIR PORT   prints the endpoint URL
#   scripts/s3.sh stop  DIR
# CHORUS_LISTEN (default 127.0.0.1) is the address it listens on.
set -euo pipefail
cd "$(dirname "$0")/.."

case "${1:?usage: s3.sh start|stop DIR [PORT]}" in
start)
  dir=$(mkdir -p "${2:?dir}/s3" && cd "$2/s3" && pwd); port=${3:?port}
  python=$(scripts/pyenv.sh)
  listen=${CHORUS_LISTEN:-127.0.0.1}
  nohup "$(dirname "$python")/moto_server" -H "$listen" -p "$port" > "$dir/moto.log" 2>&1 < /dev/null &
  echo $! > "$dir/pid"
  for _ in $(seq 150); do
    if curl -sf "http://$listen:$port/moto-api/" >/dev/null 2>&1; then
      echo "http://$listen:$port"; exit 0
    fi
    kill -0 "$(cat "$dir/pid")" 2>/dev/null || { echo "moto exited; see $dir/moto.log" >&2; exit 1; }
    sleep 0.2
  done
  echo "moto not ready after 30 s; see $dir/moto.log" >&2; exit 1
  ;;
stop)
  pidfile="${2:?dir}/s3/pid"
  if [ -f "$pidfile" ]; then
    kill "$(cat "$pidfile")" 2>/dev/null || true
    rm -f "$pidfile"
  fi
  ;;
*) echo "usage: s3.sh start|stop DIR [PORT]" >&2; exit 2 ;;
esac
