DROP TRIGGER jobs_count_outcome ON jobs;
CREATE TRIGGER jobs_count_outcome AFTER UPDATE OF finished_at ON jobs
    FOR EACH ROW WHEN (OLD.finished_at IS NULL AND NEW.finished_at IS NOT NULL)
    EXECUTE FUNCTION count_job_outcome();

CREATE OR REPLACE FUNCTION count_job_outcome() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO job_outcomes (tenant_id, bucket, queue, status, backend, n)
    VALUES (NEW.tenant_id, date_bin('5 minutes', NEW.finished_at, 'epoch'), NEW.queue, NEW.status, pg_backend_pid(), 1)
    ON CONFLICT (tenant_id, bucket, queue, status, backend) DO UPDATE SET n = job_outcomes.n + 1;
    RETURN NULL;
END $$;

DROP FUNCTION outcome_bucket(TIMESTAMPTZ);
