ALTER TABLE tenant_limits DROP COLUMN concurrency;
CREATE INDEX jobs_waiting ON jobs (queue, priority DESC, run_at, id)
    WHERE status IN ('queued', 'retrying') AND dispatched_at IS NULL;
DROP INDEX jobs_waiting_by_tenant;
