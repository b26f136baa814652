-- Fair share: the dispatcher takes waiting jobs tenant by tenant (a turn
-- each, then priority inside a tenant), so its scan of waiting jobs is by
-- queue, then tenant. It replaces `jobs_waiting`, whose order it keeps
-- inside each tenant.
CREATE INDEX jobs_waiting_by_tenant ON jobs (queue, tenant_id, priority DESC, run_at, id)
    WHERE status IN ('queued', 'retrying') AND dispatched_at IS NULL;
DROP INDEX jobs_waiting;

-- A tenant's concurrency caps, by queue: most of its jobs running or on
-- their way to a worker at once (a queue not named takes the configured
-- default, `limits.concurrency`; 0 is no cap).
ALTER TABLE tenant_limits ADD COLUMN concurrency JSONB NOT NULL DEFAULT '{}';
