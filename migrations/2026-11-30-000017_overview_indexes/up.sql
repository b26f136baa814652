-- The dashboard's overview: a tenant's open jobs by queue and status, and
-- the jobs that ended in the last hour by queue and status, read from these
-- indexes alone (index-only scans) instead of the rows.
CREATE INDEX jobs_tenant_open ON jobs (tenant_id, queue, status)
  WHERE status IN ('queued', 'retrying', 'running');
CREATE INDEX jobs_tenant_finished ON jobs (tenant_id, finished_at) INCLUDE (queue, status)
  WHERE finished_at IS NOT NULL;
