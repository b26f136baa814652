-- Successes are the hot path. The trigger of 000018 counted each ended job
-- with its own upsert (and a check of its tenant's key): one statement per
-- job. Now the statements that write `succeeded` count it themselves: the
-- batch completer's, one upsert per tenant and queue of a flush, and a
-- success ended alone (`lifecycle::finish`), one. The trigger counts every
-- other ending (failed, dead, cancelled), which are rare.

-- The five-minute bucket (on the clock) a job that ended at `at` counts in.
CREATE FUNCTION outcome_bucket(at TIMESTAMPTZ) RETURNS TIMESTAMPTZ
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    RETURN date_bin('5 minutes', at, 'epoch');

CREATE OR REPLACE FUNCTION count_job_outcome() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO job_outcomes (tenant_id, bucket, queue, status, backend, n)
    VALUES (NEW.tenant_id, outcome_bucket(NEW.finished_at), NEW.queue, NEW.status, pg_backend_pid(), 1)
    ON CONFLICT (tenant_id, bucket, queue, status, backend) DO UPDATE SET n = job_outcomes.n + 1;
    RETURN NULL;
END $$;

DROP TRIGGER jobs_count_outcome ON jobs;
CREATE TRIGGER jobs_count_outcome AFTER UPDATE OF finished_at ON jobs
    FOR EACH ROW WHEN (OLD.finished_at IS NULL AND NEW.finished_at IS NOT NULL AND NEW.status <> 'succeeded')
    EXECUTE FUNCTION count_job_outcome();
