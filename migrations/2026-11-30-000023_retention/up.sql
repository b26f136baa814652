-- Retention: a tenant's conversations, documents, finished jobs, files and
-- ended batches older than `retention_days` (NULL: the configured default;
-- 0: kept for good) are deleted by its `retention` job, an export written
-- first when `retention_export`.
ALTER TABLE tenant_limits ADD COLUMN retention_days INT CHECK (retention_days >= 0);
ALTER TABLE tenant_limits ADD COLUMN retention_export BOOLEAN;

-- When each tenant's retention job was last queued, so that any number of
-- workers queue it once per `limits.retention_interval_secs`.
CREATE TABLE retention_runs (
    tenant_id   UUID PRIMARY KEY REFERENCES tenants (id) ON DELETE CASCADE,
    queued_at   TIMESTAMPTZ NOT NULL
);
