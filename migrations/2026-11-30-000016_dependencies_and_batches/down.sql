DROP TABLE job_batch_members;
DROP TABLE job_batches;
DROP INDEX jobs_waiting_dependencies;
DROP TABLE job_dependencies;
UPDATE jobs SET status = 'cancelled', finished_at = now(), error_code = 'dependency_failed',
    error_message = 'dependencies were removed' WHERE status = 'waiting_dependencies';
ALTER TABLE jobs DROP CONSTRAINT jobs_status_check;
ALTER TABLE jobs ADD CONSTRAINT jobs_status_check CHECK (status IN
    ('queued', 'running', 'retrying', 'succeeded', 'failed', 'cancelled', 'dead'));
