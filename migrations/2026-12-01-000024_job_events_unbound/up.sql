-- Job events leave with their job by a statement trigger instead of a
-- foreign key. The key checked every event (three a job at least) against
-- `jobs` with a `FOR KEY SHARE` row lock, planned afresh each time: a
-- tenth of Postgres's time per job in the queue bench. An event is
-- written in the transaction that changed its job, after the change (which
-- holds the job's row lock), so no event can name a job that is gone.
ALTER TABLE job_events DROP CONSTRAINT job_events_job_id_fkey;

CREATE FUNCTION delete_job_events() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM job_events e USING gone WHERE e.job_id = gone.id;
    RETURN NULL;
END $$;

-- Fires once per statement (retention's chunks, a tenant's cascade).
CREATE TRIGGER jobs_delete_events AFTER DELETE ON jobs REFERENCING OLD TABLE AS gone
    FOR EACH STATEMENT EXECUTE FUNCTION delete_job_events();
