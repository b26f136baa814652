CREATE INDEX jobs_tenant_finished ON jobs (tenant_id, finished_at) INCLUDE (queue, status)
  WHERE finished_at IS NOT NULL;
DROP TRIGGER jobs_count_outcome ON jobs;
DROP FUNCTION count_job_outcome();
DROP TABLE job_outcomes;
