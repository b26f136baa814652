#!/usr/bin/env bash
# Starts or stops project-local Postgres and Redis on loopback, with their
# data under a directory of ours. Never touches system services.
#
#   scripts/services.sh start DIR PG_PORT REDIS_PORT
#   scripts/services.sh stop  DIR
#   scripts/services.sh restart-redis DIR PG_PORT REDIS_PORT   (the chaos run)
#   scripts/services.sh restart-pg    DIR
#
# CHORUS_STORES=durable (what `just up` uses) runs Postgres with its
# durable defaults: fsync on, synchronous commits, so a 202 survives a power
# cut. The default, `fast`, turns both off: for tests and benchmarks only,
# whose data is thrown away (benchmark reports say which they used).
# Both run autovacuum every 5 s (Postgres's default waits 1 min between
# rounds): a queue's `jobs` rows change state every few milliseconds, and
# the dead entries they leave in its partial indexes (waiting, in transit)
# are read by every dispatch until a vacuum removes them. After the queue
# bench's batch run they took the dispatch's look from 0.2 ms to 4.7 ms.
# CHORUS_PG_OPTS adds server options (the benchmarks load pg_stat_statements).
# CHORUS_LISTEN (default 127.0.0.1) is the address both listen on, and
# CHORUS_TRUST_NET a network Postgres trusts besides loopback (`just cluster`
# runs them on its "data" host).
set -euo pipefail

cmd=${1:?usage: services.sh start|stop DIR [PG_PORT REDIS_PORT]}
dir=$(mkdir -p "${2:?dir}" && cd "$2" && pwd)

pg_bin=$(command -v initdb >/dev/null 2>&1 && dirname "$(command -v initdb)" || ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)

# initdb refuses to run as root: run Postgres as the `postgres` user then.
as_pg() {
  if [ "$(id -u)" -eq 0 ]; then
    id postgres >/dev/null 2>&1 || useradd --system --no-create-home postgres
    chown -R postgres "$dir/pg" 2>/dev/null || true
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

listen=${CHORUS_LISTEN:-127.0.0.1}

case "$cmd" in
start)
  pg_port=${3:?pg port}; redis_port=${4:?redis port}
  mkdir -p "$dir/pg" "$dir/redis"
  chmod 755 "$dir"
  case "${CHORUS_STORES:-fast}" in
    durable) sync=""; pg_fast="" ;;
    fast) sync="--no-sync"; pg_fast="-c fsync=off -c synchronous_commit=off" ;;
    *) echo "CHORUS_STORES is durable or fast" >&2; exit 2 ;;
  esac
  if [ ! -f "$dir/pg/data/PG_VERSION" ]; then
    mkdir -p "$dir/pg/data"
    as_pg "$pg_bin/initdb" -D "$dir/pg/data" -U postgres --auth=trust -E UTF8 $sync >"$dir/pg/initdb.log"
    if [ -n "${CHORUS_TRUST_NET:-}" ]; then
      echo "host all all $CHORUS_TRUST_NET trust" >> "$dir/pg/data/pg_hba.conf"
    fi
  fi
  if ! as_pg "$pg_bin/pg_ctl" -D "$dir/pg/data" status >/dev/null 2>&1; then
    as_pg "$pg_bin/pg_ctl" -D "$dir/pg/data" -l "$dir/pg/postgres.log" -w -t 60 \
      -o "-p $pg_port -k $dir/pg -c listen_addresses=$listen -c max_connections=400 -c autovacuum_naptime=5s $pg_fast ${CHORUS_PG_OPTS:-}" start >/dev/null
  fi
  if ! redis-cli -h "$listen" -p "$redis_port" ping >/dev/null 2>&1; then
    # Off loopback (our own namespaces only) protected mode would refuse peers.
    protected=$([ "$listen" = 127.0.0.1 ] && echo yes || echo no)
    redis-server --port "$redis_port" --bind "$listen" --protected-mode "$protected" --dir "$dir/redis" --daemonize yes \
      --pidfile "$dir/redis/redis.pid" --logfile "$dir/redis/redis.log" --save "" --appendonly no
    for _ in $(seq 50); do redis-cli -h "$listen" -p "$redis_port" ping >/dev/null 2>&1 && break; sleep 0.1; done
  fi
  echo "postgres on $listen:$pg_port, redis on $listen:$redis_port (data in $dir)"
  ;;
restart-redis)
  # Redis keeps nothing (no snapshot, no AOF): every message it held is
  # gone, as after a crash. Postgres, the source of truth, re-dispatches.
  if [ -f "$dir/redis/redis.pid" ]; then
    pid=$(cat "$dir/redis/redis.pid")
    kill -9 "$pid" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    rm -f "$dir/redis/redis.pid"
  fi
  "$0" start "$dir" "${3:?pg port}" "${4:?redis port}" >/dev/null
  ;;
restart-pg)
  as_pg "$pg_bin/pg_ctl" -D "$dir/pg/data" -l "$dir/pg/postgres.log" -m fast -w -t 60 restart >/dev/null
  ;;
stop)
  if [ -f "$dir/pg/data/PG_VERSION" ]; then
    as_pg "$pg_bin/pg_ctl" -D "$dir/pg/data" -m fast stop >/dev/null 2>&1 || true
  fi
  if [ -f "$dir/redis/redis.pid" ]; then
    kill "$(cat "$dir/redis/redis.pid")" 2>/dev/null || true
    rm -f "$dir/redis/redis.pid"
  fi
  ;;
*) echo "unknown command $cmd" >&2; exit 2 ;;
esac
