#!/usr/bin/env bash
# `just cluster`: Chorus on several hosts inside this machine. Network
# namespaces joined by veth pairs to a bridge (in a namespace of its own):
#   data 10.77.0.2 (Postgres, Redis, the Qdrant server, an S3 server),
#   api  10.77.0.3, and workers w1..w3 at 10.77.0.11-13.
# Only loopback and our own namespaces are touched. It then cuts worker
# host w1 off mid-run (its link goes down), checks that the others rescue
# its running jobs within 30 s and that w1, once back, finishes none of
# them a second time, writes bench/results/cluster.md, and tears it all
# down. Bounded: it stops by itself after CLUSTER_LIMIT_S (600) seconds.
# CLUSTER_HOLD_S keeps the cluster up that long after the check (for a
# look around: `ip netns exec chorus-api curl 10.77.0.3:8080/readyz`).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
if [ "$(id -u)" -ne 0 ] || ! ip netns list >/dev/null 2>&1; then
  echo "cluster: SKIPPED: network namespaces need root and iproute2 here" >&2; exit 0
fi
if ! qdrant_bin=$(scripts/qdrant.sh bin 2>&1); then
  echo "cluster: SKIPPED: $qdrant_bin (every worker takes every queue only with a Qdrant server)" >&2; exit 0
fi
limit=${CLUSTER_LIMIT_S:-600}
net=10.77.0; hosts=(data api w1 w2 w3); declare -A ip=([data]=2 [api]=3 [w1]=11 [w2]=12 [w3]=13)
dir=$root/.build/cluster
on() { local h=$1; shift; ip netns exec "chorus-$h" "$@"; }
teardown() {
  for h in "${hosts[@]}" sw; do
    for p in $(ip netns pids "chorus-$h" 2>/dev/null); do kill -9 "$p" 2>/dev/null || true; done
    ip netns del "chorus-$h" 2>/dev/null || true
  done
  [ -z "${watchdog:-}" ] || kill "$watchdog" 2>/dev/null || true
}
teardown
trap teardown EXIT
# Stop by ourselves, whatever happens.
( sleep "$limit"; echo "cluster: $limit s limit reached, tearing down" >&2; kill -TERM $$ 2>/dev/null ) &
watchdog=$!

scripts/deps.sh
models="$root/$(scripts/models.sh)"
python="$root/$(scripts/pyenv.sh)"
cargo build --release --bins
rm -rf "$dir"; mkdir -p "$dir"

# The network: a bridge in chorus-sw, one veth pair per host.
ip netns add chorus-sw
ip -n chorus-sw link add br0 type bridge
ip -n chorus-sw link set br0 up
for h in "${hosts[@]}"; do
  ip netns add "chorus-$h"
  ip link add "c-$h" type veth peer name "s-$h"
  ip link set "c-$h" netns "chorus-$h"
  ip link set "s-$h" netns chorus-sw
  ip -n chorus-sw link set "s-$h" master br0 up
  ip -n "chorus-$h" addr add "$net.${ip[$h]}/24" dev "c-$h"
  ip -n "chorus-$h" link set "c-$h" up
  ip -n "chorus-$h" link set lo up
done
data=$net.${ip[data]}

# The data host.
on data env CHORUS_LISTEN="$data" CHORUS_TRUST_NET="$net.0/24" scripts/services.sh start "$dir/data" 5432 6379
on data createdb -h "$data" -p 5432 -U postgres chorus
qdrant=$(on data env CHORUS_LISTEN="$data" scripts/qdrant.sh start "$dir/data" 6333 6334)
s3=$(on data env CHORUS_LISTEN="$data" scripts/s3.sh start "$dir/data" 9000)
on data curl -sf -X PUT "$s3/chorus" >/dev/null

export CHORUS__DATABASE__URL="postgres://postgres@$data:5432/chorus" CHORUS__REDIS__URL="redis://$data:6379"
export CHORUS__VECTORS__URL="$qdrant" CHORUS__BLOBS__URL=s3://chorus CHORUS__BLOBS__ENDPOINT="$s3"
export CHORUS__BLOBS__REGION=us-east-1 CHORUS__BLOBS__ACCESS_KEY_ID=cluster CHORUS__BLOBS__SECRET_ACCESS_KEY=cluster
export CHORUS__BLOBS__ALLOW_HTTP=true RUST_LOG=warn
export CHORUS__EMBED__MODEL_DIR="$models/all-MiniLM-L6-v2" CHORUS__EMBED__ORT_LIBRARY="$models/libonnxruntime.so"
export CHORUS__SECRETS__KEY
CHORUS__SECRETS__KEY=$(head -c 32 /dev/urandom | base64)

# The API host, then three worker hosts, each with its own disk.
on api target/release/chorus-api migrate
key=$(on api target/release/chorus-api create-key --tenant cluster --role admin)
CHORUS__API__HOST=0.0.0.0 CHORUS__KNOWLEDGE__BLOB_DIR="$dir/api/blobs" \
  on api target/release/chorus-api serve > "$dir/api.log" 2>&1 &
for w in w1 w2 w3; do
  CHORUS__KNOWLEDGE__BLOB_DIR="$dir/$w/blobs" \
    on "$w" target/release/chorus-worker --name "$w" --metrics-port 9100 > "$dir/$w.log" 2>&1 &
done
api="http://$net.${ip[api]}:8080"
for _ in $(seq 100); do on api curl -sf "$api/readyz" >/dev/null && break; sleep 0.2; done
echo "cluster: API at $api, workers w1 w2 w3, data host $data (Postgres, Redis, Qdrant $qdrant, S3 $s3)"

# The check: cut w1 off while it runs jobs.
status=0
on api "$python" "$root/scripts/cluster_check.py" "$api" "$key" "postgres://postgres@$data:5432/chorus" \
  "$root/bench/results/cluster.md" "$(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs))" \
  || status=$?
if [ "${CLUSTER_HOLD_S:-0}" -gt 0 ]; then
  echo "cluster: holding for $CLUSTER_HOLD_S s"; sleep "$CLUSTER_HOLD_S"
fi
exit $status
