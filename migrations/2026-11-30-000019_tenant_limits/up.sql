-- A tenant's own limits, set by an operator; a NULL (or a kind not in
-- `jobs_per_min`) takes the configured default (`[limits]`), 0 is no limit.
CREATE TABLE tenant_limits (
    tenant_id               UUID PRIMARY KEY REFERENCES tenants(id) ON DELETE CASCADE,
    key_requests_per_sec    INT CHECK (key_requests_per_sec >= 0),
    tenant_requests_per_sec INT CHECK (tenant_requests_per_sec >= 0),
    jobs_per_min            JSONB NOT NULL DEFAULT '{}',
    cost_per_day_usd        DOUBLE PRECISION CHECK (cost_per_day_usd >= 0),
    cost_per_month_usd      DOUBLE PRECISION CHECK (cost_per_month_usd >= 0),
    updated_at              TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- The `usage.threshold` events sent: one per tenant, period (`day` or
-- `month`) and period start, whatever the number of workers.
CREATE TABLE usage_thresholds (
    tenant_id    UUID NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    period       TEXT NOT NULL CHECK (period IN ('day', 'month')),
    period_start DATE NOT NULL,
    created_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, period, period_start)
);
