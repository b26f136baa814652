#!/usr/bin/env bash
# The Sentinel scenario of `just chaos`: Redis as a primary and a replica
# under three Sentinels (redis-server --sentinel), and the primary killed
# mid-run. apalis-redis, and so Chorus, connects to one address and never
# asks Sentinel which server is the primary, so it cannot follow a failover
# by itself. What Chorus does instead: it talks to HAProxy (Debian's),
# which routes to whichever server answers `role:master` and drops the
# connections of one that stops; Chorus's connection manager reconnects,
# and Postgres, the source of truth, re-dispatches whatever the replica had
# not received. Writes bench/results/chaos-sentinel.md. Bounded (300 s).
set -euo pipefail
cd "$(dirname "$0")/.."
N=${SENTINEL_JOBS:-3000}
scripts/deps.sh
command -v haproxy >/dev/null 2>&1 || { [ "$(id -u)" -eq 0 ] && apt-get install -y -qq haproxy >/dev/null || sudo apt-get install -y -qq haproxy >/dev/null; }
cargo build --release --bins
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
dir=$(pwd)/.build/sentinel
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for f in "$dir"/*.pid; do [ -f "$f" ] && kill -9 "$(cat "$f")" 2>/dev/null || true; done
  scripts/services.sh stop "$dir" 2>/dev/null || true
}
cleanup 2>/dev/null || true
rm -rf "$dir"; mkdir -p "$dir"
trap cleanup EXIT
( sleep 300; echo "sentinel: 300 s limit reached" >&2; kill -TERM $$ ) & pids+=($!)

pg=$(free_port); primary=$(free_port); replica=$(free_port); hp=$(free_port); api_port=$(free_port)
scripts/services.sh start "$dir" "$pg" "$primary" >/dev/null
redis-server --port "$replica" --bind 127.0.0.1 --replicaof 127.0.0.1 "$primary" --save "" --appendonly no \
  --daemonize yes --pidfile "$dir/replica.pid" --logfile "$dir/replica.log"
for i in 1 2 3; do
  port=$(free_port)
  cat > "$dir/sentinel-$i.conf" <<CONF
port $port
bind 127.0.0.1
sentinel monitor chorus 127.0.0.1 $primary 2
sentinel down-after-milliseconds chorus 1000
sentinel failover-timeout chorus 10000
CONF
  redis-server "$dir/sentinel-$i.conf" --sentinel --daemonize yes --pidfile "$dir/sentinel-$i.pid" \
    --logfile "$dir/sentinel-$i.log"
done
cat > "$dir/haproxy.cfg" <<CONF
defaults
  mode tcp
  timeout connect 1s
  timeout client 1h
  timeout server 1h
frontend redis
  bind 127.0.0.1:$hp
  default_backend primary
backend primary
  option tcp-check
  tcp-check connect
  tcp-check send PING\r\n
  tcp-check expect string +PONG
  tcp-check send info\ replication\r\n
  tcp-check expect string role:master
  tcp-check send QUIT\r\n
  tcp-check expect string +OK
  server a 127.0.0.1:$primary check inter 300ms fall 2 rise 1 on-marked-down shutdown-sessions
  server b 127.0.0.1:$replica check inter 300ms fall 2 rise 1 on-marked-down shutdown-sessions
CONF
haproxy -f "$dir/haproxy.cfg" -D -p "$dir/haproxy.pid"

createdb -h 127.0.0.1 -p "$pg" -U postgres chorus
export CHORUS__DATABASE__URL="postgres://postgres@127.0.0.1:$pg/chorus" CHORUS__REDIS__URL="redis://127.0.0.1:$hp"
export CHORUS__API__PORT=$api_port RUST_LOG=error CHORUS__VECTORS__PATH="$dir/vectors" CHORUS__KNOWLEDGE__BLOB_DIR="$dir/blobs"
target/release/chorus-api migrate
key=$(target/release/chorus-api create-key --tenant sentinel --role admin)
target/release/chorus-api serve > "$dir/api.log" 2>&1 & pids+=($!)
for w in 1 2; do
  CHORUS__WORKER__QUEUES=maintenance,webhook target/release/chorus-worker --name "s$w" --metrics-port 0 \
    > "$dir/worker-$w.log" 2>&1 & pids+=($!)
done
for _ in $(seq 100); do curl -sf "localhost:$api_port/readyz" >/dev/null && break; sleep 0.1; done

python3 - "$api_port" "$key" "$N" "$dir" "$primary" "$replica" "$CHORUS__DATABASE__URL" <<'PY'
import json, os, subprocess, sys, time, urllib.request
port, key, n, dir, primary, replica, db = sys.argv[1:8]
n = int(n)
api = f"http://127.0.0.1:{port}"
def call(path, body):
    req = urllib.request.Request(api + path, data=json.dumps(body).encode(), method="POST")
    req.add_header("authorization", f"Bearer {key}"); req.add_header("content-type", "application/json")
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.loads(r.read())
def sql(q):
    return subprocess.run(["psql", db, "-tAc", q], check=True, capture_output=True, text=True).stdout.strip()
def role(port):
    out = subprocess.run(["redis-cli", "-p", port, "info", "replication"], capture_output=True, text=True).stdout
    return next((l.split(":")[1].strip() for l in out.splitlines() if l.startswith("role:")), "down")
jobs = []
started = time.time()
for i in range(0, n, 500):
    batch = [{"kind": "diagnostic", "payload": {"sleep_ms": 200} if (i + j) % 5 == 0 else {}, "max_attempts": 5}
             for j in range(min(500, n - i))]
    jobs += [it["job"]["id"] for it in call("/v1/jobs/batch", {"jobs": batch})["items"]]
ids = ",".join(f"'{j}'" for j in jobs)
done_before = int(sql(f"SELECT count(*) FROM jobs WHERE id IN ({ids}) AND status = 'succeeded'"))
killed = time.time()
subprocess.run(["kill", "-9", open(f"{dir}/redis/redis.pid").read().strip()])
print(f"sentinel: primary killed with {done_before} of {n} jobs done", flush=True)
promoted = None
first_after = None
while time.time() < killed + 180:
    if promoted is None and role(replica) == "master":
        promoted = time.time() - killed
    left = int(sql(f"SELECT count(*) FROM jobs WHERE id IN ({ids}) AND status NOT IN ('succeeded','failed','dead','cancelled')"))
    if first_after is None:
        later = sql(f"SELECT count(*) FROM job_events WHERE job_id IN ({ids}) AND status = 'succeeded' "
                    f"AND extract(epoch FROM created_at) > {killed + (promoted or 0)}")
        if promoted is not None and int(later) > 0:
            first_after = time.time() - killed
    if left == 0:
        break
    time.sleep(0.2)
finished = time.time() - killed
statuses = dict(l.split("|") for l in sql(f"SELECT status, count(*) FROM jobs WHERE id IN ({ids}) GROUP BY status").splitlines())
twice = sql(f"SELECT count(*) FROM (SELECT job_id FROM job_events WHERE job_id IN ({ids}) AND status = 'succeeded' "
            f"GROUP BY job_id HAVING count(*) > 1) x")
running = sql("SELECT count(*) FROM jobs WHERE status = 'running'")
lost = n - sum(int(v) for k, v in statuses.items() if k in ("succeeded", "failed", "dead", "cancelled"))
ok = lost == 0 and twice == "0" and running == "0" and int(statuses.get("succeeded", 0)) == n
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
lines = [
    "# Chaos, second scenario: Redis under Sentinel, the primary killed",
    "",
    f"Machine: {os.cpu_count()} cores ({cpu}), shared and noisy; one run of `just chaos` (scripts/sentinel.sh).",
    "Redis primary and replica under three Sentinels (down after 1 s); HAProxy in front routes to the server",
    "that answers `role:master` (checked every 300 ms) and drops the old primary's connections. Chorus (an",
    "API and two workers) has HAProxy's address as `redis.url`: apalis-redis cannot ask Sentinel itself.",
    "",
    f"{n} diagnostic jobs (every fifth sleeps 200 ms); the primary was `kill -9`'d with {done_before} done.",
    "",
    "| check | result | goal |",
    "|---|---|---|",
    f"| replica promoted by Sentinel after | {promoted if promoted is None else round(promoted, 1)} s | |",
    f"| first job succeeded after the promotion, from the kill | {first_after if first_after is None else round(first_after, 1)} s | |",
    f"| all jobs final, from the kill | {finished:.1f} s | |",
    f"| jobs lost (not final) | {lost} | 0 |",
    f"| jobs succeeded twice | {twice} | 0 |",
    f"| jobs stuck in `running` | {running} | 0 |",
    f"| jobs by status | {statuses} | all succeeded |",
    "",
    f"Result: {'all goals met' if ok else 'a goal was missed'}.",
]
os.makedirs("bench/results", exist_ok=True)
open("bench/results/chaos-sentinel.md", "w").write("\n".join(lines) + "\n")
print("\n".join(lines))
sys.exit(0 if ok else 1)
PY
