# Chorus: `just up` to run it on this machine, `just test` to test it.

set shell := ["bash", "-euo", "pipefail", "-c"]

run_dir := ".build/run"
pg_port := env_var_or_default("CHORUS_PG_PORT", "55432")
redis_port := env_var_or_default("CHORUS_REDIS_PORT", "56379")
llm_port := env_var_or_default("CHORUS_LLM_PORT", "8181")
export CHORUS__DATABASE__URL := env_var_or_default("CHORUS__DATABASE__URL", "postgres://postgres@127.0.0.1:" + pg_port + "/chorus")
export CHORUS__REDIS__URL := env_var_or_default("CHORUS__REDIS__URL", "redis://127.0.0.1:" + redis_port)
export CHORUS__LLM__PROVIDERS__LOCAL__BASE_URL := env_var_or_default("CHORUS__LLM__PROVIDERS__LOCAL__BASE_URL", "http://127.0.0.1:" + llm_port + "/v1")

# List the recipes.
default:
    @just --list

# Install what is missing, start Postgres and Redis, migrate, print an admin key, start the API and two workers
# (the first owns the embedded vector store; with QDRANT_URL both use the server).
up: deps
    scripts/models.sh
    # Durable Postgres (fsync, synchronous commits): a 202 survives a power cut.
    CHORUS_STORES=durable scripts/services.sh start .build/local {{pg_port}} {{redis_port}}
    scripts/llm.sh start .build/local {{llm_port}}
    psql -h 127.0.0.1 -p {{pg_port}} -U postgres -tAc "SELECT 1 FROM pg_database WHERE datname = 'chorus'" | grep -q 1 \
      || createdb -h 127.0.0.1 -p {{pg_port}} -U postgres chorus
    # One build of both binaries (the shared dependencies compile once). The
    # embedded vector engine is the worker's (cargo feature `edge`); the API
    # never calls it, and `cargo build -p chorus-api` alone leaves it out.
    cargo build --release --bins
    target/release/chorus-api migrate
    mkdir -p {{run_dir}}
    [ -s {{run_dir}}/admin-key ] || target/release/chorus-api create-key --tenant default --role admin --name bootstrap > {{run_dir}}/admin-key
    just _start api target/release/chorus-api serve
    # Worker 1 owns the embedded vector store (all queues); worker 2 takes
    # every queue but `embed` and `search`: its chat and tool jobs search
    # through `search` jobs on worker 1. With QDRANT_URL set, both take all.
    just _start worker-1 target/release/chorus-worker --name "$(hostname)-w1" --metrics-port 9101
    queues=$([ -n "${QDRANT_URL:-}" ] && echo chat,knowledge,embed,search,tool,webhook,maintenance || echo chat,knowledge,tool,webhook,maintenance); \
      CHORUS__WORKER__QUEUES=$queues just _start worker-2 target/release/chorus-worker --name "$(hostname)-w2" --metrics-port 9102
    for _ in $(seq 50); do curl -sf localhost:8080/readyz >/dev/null && break; sleep 0.2; done
    @echo "API on http://127.0.0.1:8080 (docs at /docs); logs in {{run_dir}}"
    @echo "admin key: $(cat {{run_dir}}/admin-key)"

# Stop the API, the workers, Postgres and Redis.
down:
    for p in {{run_dir}}/*.pid; do [ -f "$p" ] && kill "$(cat "$p")" 2>/dev/null; rm -f "$p"; done || true
    scripts/llm.sh stop .build/local
    scripts/services.sh stop .build/local

# Install the system packages Chorus needs (Postgres, Redis), if missing.
deps:
    scripts/deps.sh

# Run the whole suite on its own Postgres and Redis.
test *args:
    scripts/test.sh {{args}}

# Validate the Kubernetes manifests (docker/k8s/) strictly, offline once installed; `just test` runs it too.
k8s:
    scripts/k8s.sh check

# Chorus on five hosts in network namespaces; cuts a worker host off mid-run and checks the rescue (root only).
cluster:
    scripts/cluster.sh

# The long chaos run: kills, store restarts and a receiver outage under load; figures to bench/results/chaos.md.
chaos:
    scripts/chaos.sh

# Run a benchmark: `just bench queue`, `load`, `ingest`, `search`, `search-quality`, `chat`, `hop`, `tools`, `dashboard` or `fairness`.
bench name="queue":
    scripts/bench-{{name}}.sh

_start name +cmd:
    mkdir -p {{run_dir}}
    if [ -f {{run_dir}}/{{name}}.pid ] && kill -0 "$(cat {{run_dir}}/{{name}}.pid)" 2>/dev/null; then echo "{{name}} already running"; else \
      nohup {{cmd}} > {{run_dir}}/{{name}}.log 2>&1 & echo $! > {{run_dir}}/{{name}}.pid; fi

# Fuzz the HTTP API against its own OpenAPI document (schemathesis, every
# check and phase; N examples per operation).
fuzz-api examples="100":
    scripts/fuzz-api.sh {{examples}}

# Fuzz the document extractor for N seconds (cargo-fuzz; stable toolchain, no sanitizer).
fuzz seconds="60":
    command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
    cd fuzz && cargo fuzz run extract --sanitizer none -- -max_total_time={{seconds}}
