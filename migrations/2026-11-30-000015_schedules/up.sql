-- Recurring jobs: a cron expression in a time zone submits a job at each
-- fire time. Each fire is a row (schedule, fire time) inserted in the same
-- transaction as its job, so a fire makes one job however many workers
-- look at the schedule.
CREATE TABLE schedules (
    id UUID PRIMARY KEY,
    tenant_id UUID NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    cron TEXT NOT NULL,
    time_zone TEXT NOT NULL,
    kind TEXT NOT NULL,
    payload JSONB NOT NULL,
    priority SMALLINT NOT NULL DEFAULT 0,
    max_attempts INT,
    callback_url TEXT,
    enabled BOOLEAN NOT NULL DEFAULT true,
    misfire TEXT NOT NULL DEFAULT 'run_once' CHECK (misfire IN ('skip', 'run_once', 'run_all')),
    misfire_cap INT NOT NULL DEFAULT 100,
    ends_at TIMESTAMPTZ,
    -- The next fire not yet made; NULL once the schedule has ended.
    next_fire_at TIMESTAMPTZ,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX schedules_tenant ON schedules (tenant_id, id);
CREATE INDEX schedules_due ON schedules (next_fire_at) WHERE enabled AND next_fire_at IS NOT NULL;

-- No reference to jobs: a fire's job lives on when the schedule is deleted.
CREATE TABLE schedule_fires (
    schedule_id UUID NOT NULL REFERENCES schedules (id) ON DELETE CASCADE,
    fire_at TIMESTAMPTZ NOT NULL,
    job_id UUID NOT NULL,
    misfired BOOLEAN NOT NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (schedule_id, fire_at)
);
