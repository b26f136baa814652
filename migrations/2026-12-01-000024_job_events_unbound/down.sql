DROP TRIGGER jobs_delete_events ON jobs;
DROP FUNCTION delete_job_events();
DELETE FROM job_events e WHERE NOT EXISTS (SELECT 1 FROM jobs j WHERE j.id = e.job_id);
ALTER TABLE job_events ADD CONSTRAINT job_events_job_id_fkey
    FOREIGN KEY (job_id) REFERENCES jobs (id) ON DELETE CASCADE;
