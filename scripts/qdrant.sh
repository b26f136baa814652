#!/usr/bin/env bash
# Starts or stops a Qdrant server on loopback with its data under DIR. No
# registry ships one: the binary is the one built from Qdrant's source
# (v1.18.3) in the team handbook, `../shared/vendor/qdrant/qdrant` beside
# this repository, or wherever CHORUS_QDRANT_BIN says.
#
#   scripts/qdrant.sh start DIR HTTP_PORT GRPC_PORT   prints the gRPC URL
#   scripts/qdrant.sh stop  DIR
#   scripts/qdrant.sh bin                             prints the binary, or fails saying why
# CHORUS_LISTEN (default 127.0.0.1) is the address it listens on.
set -euo pipefail
cd "$(dirname "$0")/.."

bin=${CHORUS_QDRANT_BIN:-$(pwd)/../shared/vendor/qdrant/qdrant}

case "${1:?usage: qdrant.sh start|stop|bin ...}" in
bin)
  [ -x "$bin" ] || { echo "no Qdrant server binary at $bin (set CHORUS_QDRANT_BIN)" >&2; exit 1; }
  echo "$bin"
  ;;
start)
  dir=${2:?dir}; http=${3:?http port}; grpc=${4:?grpc port}
  [ -x "$bin" ] || { echo "no Qdrant server binary at $bin (set CHORUS_QDRANT_BIN)" >&2; exit 1; }
  mkdir -p "$dir/qdrant/storage" "$dir/qdrant/snapshots"
  dir=$(cd "$dir/qdrant" && pwd)
  # Qdrant writes a .qdrant-initialized file in its working directory. Its
  # output goes to the log, so a caller's `$(…)` is not held open.
  cd "$dir"
  listen=${CHORUS_LISTEN:-127.0.0.1}
  QDRANT__SERVICE__HOST=$listen QDRANT__SERVICE__HTTP_PORT=$http QDRANT__SERVICE__GRPC_PORT=$grpc \
    QDRANT__STORAGE__STORAGE_PATH="$dir/storage" QDRANT__STORAGE__SNAPSHOTS_PATH="$dir/snapshots" \
    QDRANT__TELEMETRY_DISABLED=true QDRANT__LOG_LEVEL=WARN \
    nohup "$bin" > "$dir/qdrant.log" 2>&1 < /dev/null &
  echo $! > "$dir/pid"
  for _ in $(seq 150); do
    if curl -sf "http://$listen:$http/readyz" >/dev/null 2>&1; then
      echo "http://$listen:$grpc"; exit 0
    fi
    kill -0 "$(cat "$dir/pid")" 2>/dev/null || { echo "qdrant exited; see $dir/qdrant.log" >&2; exit 1; }
    sleep 0.2
  done
  echo "qdrant not ready after 30 s; see $dir/qdrant.log" >&2; exit 1
  ;;
stop)
  dir=${2:?dir}
  pidfile="$dir/qdrant/pid"
  if [ -f "$pidfile" ]; then
    pid=$(cat "$pidfile")
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
    rm -f "$pidfile"
  fi
  ;;
*) echo "usage: qdrant.sh start|stop|bin ..." >&2; exit 2 ;;
esac
