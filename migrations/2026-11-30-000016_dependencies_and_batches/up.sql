-- Job dependencies: a job may wait for others of its tenant to succeed.
-- It waits as `waiting_dependencies`; the transaction that ends a
-- dependency queues or cancels its waiting dependents.
ALTER TABLE jobs DROP CONSTRAINT jobs_status_check;
ALTER TABLE jobs ADD CONSTRAINT jobs_status_check CHECK (status IN
    ('waiting_dependencies', 'queued', 'running', 'retrying', 'succeeded', 'failed', 'cancelled', 'dead'));
CREATE TABLE job_dependencies (
    job_id UUID NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    depends_on UUID NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    -- Run even when this dependency failed, died or was cancelled.
    run_on_failure BOOLEAN NOT NULL,
    PRIMARY KEY (job_id, depends_on)
);
CREATE INDEX job_dependencies_depends_on ON job_dependencies (depends_on);
CREATE INDEX jobs_waiting_dependencies ON jobs (id) WHERE status = 'waiting_dependencies';

-- Batch callbacks (Sidekiq's batches): a batch submitted with `on_complete`
-- or `callback_url` is a row here, and its jobs are its members. The
-- transaction that ends a batch's last job marks it complete, once.
CREATE TABLE job_batches (
    id UUID PRIMARY KEY,
    tenant_id UUID NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    callback_url TEXT,
    on_complete JSONB,
    total INT NOT NULL,
    counts JSONB,
    on_complete_job_id UUID,
    completed_at TIMESTAMPTZ,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE TABLE job_batch_members (
    batch_id UUID NOT NULL REFERENCES job_batches (id) ON DELETE CASCADE,
    job_id UUID NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    PRIMARY KEY (batch_id, job_id)
);
CREATE INDEX job_batch_members_job ON job_batch_members (job_id);
