-- OpenAI's Files and Batch APIs. A file's bytes live in the blob store
-- (`files/<tenant>/<id>`); a batch's lines each become a job (a `chat` job
-- for `/v1/chat/completions`, an `embed_texts` job for `/v1/embeddings`),
-- members of a job batch whose `on_complete` job writes the output and
-- error files.
CREATE TABLE files (
    id         UUID PRIMARY KEY,
    tenant_id  UUID NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    purpose    TEXT NOT NULL,
    filename   TEXT NOT NULL,
    bytes      BIGINT NOT NULL,
    blob_key   TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX files_tenant ON files (tenant_id, created_at DESC, id DESC);

CREATE TABLE openai_batches (
    id                UUID PRIMARY KEY,
    tenant_id         UUID NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    endpoint          TEXT NOT NULL,
    input_file_id     UUID NOT NULL,
    completion_window TEXT NOT NULL,
    status            TEXT NOT NULL CHECK (status IN ('validating', 'failed', 'in_progress', 'finalizing',
                          'completed', 'expired', 'cancelling', 'cancelled')),
    metadata          JSONB,
    errors            JSONB,
    output_file_id    UUID,
    error_file_id     UUID,
    -- Lines, and (once ended) those that succeeded and failed.
    total             INT NOT NULL DEFAULT 0,
    completed         INT NOT NULL DEFAULT 0,
    failed            INT NOT NULL DEFAULT 0,
    created_at        TIMESTAMPTZ NOT NULL DEFAULT now(),
    expires_at        TIMESTAMPTZ NOT NULL,
    in_progress_at    TIMESTAMPTZ,
    finalizing_at     TIMESTAMPTZ,
    completed_at      TIMESTAMPTZ,
    failed_at         TIMESTAMPTZ,
    expired_at        TIMESTAMPTZ,
    cancelling_at     TIMESTAMPTZ,
    cancelled_at      TIMESTAMPTZ
);
CREATE INDEX openai_batches_tenant ON openai_batches (tenant_id, created_at DESC, id DESC);

-- One line of a batch's input: its job, or (a request refused before it
-- ran) its error.
CREATE TABLE openai_batch_lines (
    batch_id  UUID NOT NULL REFERENCES openai_batches (id) ON DELETE CASCADE,
    line      INT NOT NULL,
    custom_id TEXT NOT NULL,
    job_id    UUID,
    error     JSONB,
    PRIMARY KEY (batch_id, line)
);

-- A job batch that reports nothing itself (an OpenAI batch reports its own
-- `batch.completed`).
ALTER TABLE job_batches ADD COLUMN quiet BOOLEAN NOT NULL DEFAULT false;
