-- Webhooks: endpoints, the delivery outbox, and the log of every attempt.

-- The secret that signs a job's own callback_url deliveries.
ALTER TABLE tenants
    ADD COLUMN callback_secret TEXT,
    ADD COLUMN callback_previous_secret TEXT,
    ADD COLUMN callback_previous_expires_at TIMESTAMPTZ;

CREATE TABLE webhook_endpoints (
    id                    UUID PRIMARY KEY,
    tenant_id             UUID NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    url                   TEXT NOT NULL,
    event_types           TEXT[] NOT NULL,
    enabled               BOOLEAN NOT NULL DEFAULT TRUE,
    description           TEXT NOT NULL DEFAULT '',
    secret                TEXT NOT NULL,
    previous_secret       TEXT,
    previous_expires_at   TIMESTAMPTZ,
    consecutive_failures  INT NOT NULL DEFAULT 0,
    disabled_reason       TEXT,
    created_at            TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at            TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX webhook_endpoints_tenant ON webhook_endpoints (tenant_id, created_at);

-- The outbox: one row per (event, destination), written in the transaction
-- of the state change it reports. Its id is the `webhook-id` header.
CREATE TABLE webhook_deliveries (
    id            UUID PRIMARY KEY,
    tenant_id     UUID NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    endpoint_id   UUID REFERENCES webhook_endpoints(id) ON DELETE CASCADE,
    url           TEXT,
    event_type    TEXT NOT NULL,
    subject_id    UUID,
    body          TEXT NOT NULL,
    status        TEXT NOT NULL CHECK (status IN ('pending', 'succeeded', 'failed', 'cancelled')),
    attempts      INT NOT NULL DEFAULT 0,
    last_status   INT,
    last_error    TEXT,
    created_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
    delivered_at  TIMESTAMPTZ,
    CHECK (endpoint_id IS NOT NULL OR url IS NOT NULL)
);
CREATE INDEX webhook_deliveries_endpoint ON webhook_deliveries (endpoint_id, created_at DESC, id DESC);
CREATE INDEX webhook_deliveries_pending ON webhook_deliveries (status) WHERE status = 'pending';
CREATE INDEX webhook_deliveries_throttle ON webhook_deliveries (endpoint_id, subject_id, event_type, created_at DESC);

CREATE TABLE webhook_attempts (
    id           BIGSERIAL PRIMARY KEY,
    delivery_id  UUID NOT NULL REFERENCES webhook_deliveries(id) ON DELETE CASCADE,
    attempted_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    status_code  INT,
    latency_ms   INT NOT NULL,
    error        TEXT,
    response     TEXT
);
CREATE INDEX webhook_attempts_delivery ON webhook_attempts (delivery_id, id);
