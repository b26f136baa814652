-- Foundation: tenants, API keys, jobs (the source of truth) and their history.

CREATE TABLE tenants (
    id          UUID PRIMARY KEY,
    name        TEXT NOT NULL UNIQUE,
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE TABLE api_keys (
    id           UUID PRIMARY KEY,
    tenant_id    UUID NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    name         TEXT NOT NULL,
    role         TEXT NOT NULL CHECK (role IN ('admin', 'user', 'viewer')),
    prefix       TEXT NOT NULL,
    key_hash     TEXT NOT NULL UNIQUE,
    created_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    last_used_at TIMESTAMPTZ,
    revoked_at   TIMESTAMPTZ
);
CREATE INDEX api_keys_tenant ON api_keys (tenant_id, created_at);

CREATE TABLE jobs (
    id               UUID PRIMARY KEY,
    tenant_id        UUID NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    kind             TEXT NOT NULL,
    queue            TEXT NOT NULL,
    priority         SMALLINT NOT NULL DEFAULT 0,
    status           TEXT NOT NULL CHECK (status IN
                        ('queued', 'running', 'retrying', 'succeeded', 'failed', 'cancelled', 'dead')),
    attempts         INT NOT NULL DEFAULT 0,
    max_attempts     INT NOT NULL,
    run_at           TIMESTAMPTZ NOT NULL,
    payload          JSONB NOT NULL,
    progress         JSONB,
    result           JSONB,
    error_code       TEXT,
    error_message    TEXT,
    idempotency_key  TEXT,
    request_hash     TEXT,
    callback_url     TEXT,
    -- Transport bookkeeping: which Redis message may claim this job.
    dispatch_seq     INT NOT NULL DEFAULT 0,
    dispatched_at    TIMESTAMPTZ,
    worker           TEXT,
    cancel_requested_at TIMESTAMPTZ,
    created_at       TIMESTAMPTZ NOT NULL DEFAULT now(),
    started_at       TIMESTAMPTZ,
    heartbeat_at     TIMESTAMPTZ,
    finished_at      TIMESTAMPTZ
);
CREATE UNIQUE INDEX jobs_idempotency ON jobs (tenant_id, idempotency_key)
    WHERE idempotency_key IS NOT NULL;
CREATE INDEX jobs_tenant_list ON jobs (tenant_id, created_at DESC, id DESC);
-- The dispatcher's scan: waiting jobs per queue, highest priority first.
CREATE INDEX jobs_waiting ON jobs (queue, priority DESC, run_at, id)
    WHERE status IN ('queued', 'retrying') AND dispatched_at IS NULL;
CREATE INDEX jobs_in_transit ON jobs (queue)
    WHERE status IN ('queued', 'retrying') AND dispatched_at IS NOT NULL;
-- The rescuer's scan: running jobs whose worker stopped heartbeating.
CREATE INDEX jobs_running ON jobs (heartbeat_at) WHERE status = 'running';

CREATE TABLE job_events (
    id          BIGSERIAL PRIMARY KEY,
    job_id      UUID NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
    kind        TEXT NOT NULL CHECK (kind IN ('state', 'progress', 'error')),
    status      TEXT,
    data        JSONB NOT NULL DEFAULT '{}'::jsonb,
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX job_events_job ON job_events (job_id, id);
