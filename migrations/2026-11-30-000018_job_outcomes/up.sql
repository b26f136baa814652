-- The jobs that ended, counted per tenant, queue, final status and
-- five-minute bucket (on the clock), for the dashboard's overview: it sums
-- a few hundred counters instead of counting the last hour's job rows,
-- which are fresh and so not yet all-visible to an index-only scan.
--
-- A trigger keeps the counts in the transaction that ends the job, so they
-- are exact whichever code path ends it. Each database backend counts into
-- its own rows (`backend` is its pid): a backend runs one transaction at a
-- time, so two transactions never wait on (or deadlock over) one counter.
-- The maintenance loop folds closed buckets into `backend` 0 and drops
-- buckets older than two hours.
CREATE TABLE job_outcomes (
    tenant_id UUID NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    bucket    TIMESTAMPTZ NOT NULL,
    queue     TEXT NOT NULL,
    status    TEXT NOT NULL,
    backend   INT NOT NULL,
    n         BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, bucket, queue, status, backend)
);

CREATE FUNCTION count_job_outcome() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO job_outcomes (tenant_id, bucket, queue, status, backend, n)
    VALUES (NEW.tenant_id, date_bin('5 minutes', NEW.finished_at, 'epoch'), NEW.queue, NEW.status, pg_backend_pid(), 1)
    ON CONFLICT (tenant_id, bucket, queue, status, backend) DO UPDATE SET n = job_outcomes.n + 1;
    RETURN NULL;
END $$;

-- Only an update that ends a job calls it (the WHEN is checked without a
-- call): claims, heartbeats and progress pay nothing.
CREATE TRIGGER jobs_count_outcome AFTER UPDATE OF finished_at ON jobs
    FOR EACH ROW WHEN (OLD.finished_at IS NULL AND NEW.finished_at IS NOT NULL)
    EXECUTE FUNCTION count_job_outcome();

INSERT INTO job_outcomes (tenant_id, bucket, queue, status, backend, n)
SELECT tenant_id, date_bin('5 minutes', finished_at, 'epoch'), queue, status, 0, count(*)
FROM jobs WHERE finished_at > now() - interval '2 hours'
GROUP BY 1, 2, 3, 4;

-- Only the overview read it.
DROP INDEX jobs_tenant_finished;
