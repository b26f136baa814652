-- Knowledge base: documents, their extracted pages and chunks (with a
-- full-text index), tags, and the audit log of admin operations.

CREATE TABLE documents (
    id             UUID PRIMARY KEY,
    tenant_id      UUID NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    title          TEXT NOT NULL,
    filename       TEXT NOT NULL,
    content_type   TEXT NOT NULL,
    doc_type       TEXT NOT NULL CHECK (doc_type IN ('pdf', 'text', 'markdown', 'html')),
    size_bytes     BIGINT NOT NULL,
    content_hash   TEXT NOT NULL,
    blob_key       TEXT NOT NULL,
    status         TEXT NOT NULL CHECK (status IN ('queued', 'processing', 'chunked', 'failed')),
    metadata       JSONB NOT NULL DEFAULT '{}'::jsonb,
    page_count     INT,
    chunk_count    INT,
    error_code     TEXT,
    error_message  TEXT,
    ingest_job_id  UUID,
    created_at     TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at     TIMESTAMPTZ NOT NULL DEFAULT now(),
    UNIQUE (tenant_id, content_hash)
);
CREATE INDEX documents_tenant_list ON documents (tenant_id, created_at DESC, id DESC);
CREATE INDEX documents_title_search ON documents USING GIN (to_tsvector('simple', title));

CREATE TABLE document_pages (
    document_id  UUID NOT NULL REFERENCES documents(id) ON DELETE CASCADE,
    page_no      INT NOT NULL,
    text         TEXT NOT NULL,
    PRIMARY KEY (document_id, page_no)
);

CREATE TABLE chunks (
    id            UUID PRIMARY KEY,
    tenant_id     UUID NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    document_id   UUID NOT NULL REFERENCES documents(id) ON DELETE CASCADE,
    ordinal       INT NOT NULL,
    page_no       INT NOT NULL,
    heading_path  TEXT[] NOT NULL DEFAULT '{}',
    text          TEXT NOT NULL,
    token_count   INT NOT NULL,
    tsv           TSVECTOR GENERATED ALWAYS AS (to_tsvector('english', text)) STORED,
    UNIQUE (document_id, ordinal)
);
CREATE INDEX chunks_tsv ON chunks USING GIN (tsv);
CREATE INDEX chunks_tenant ON chunks (tenant_id, document_id);

CREATE TABLE tags (
    id           UUID PRIMARY KEY,
    tenant_id    UUID NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    name         TEXT NOT NULL,
    description  TEXT NOT NULL DEFAULT '',
    color        TEXT,
    created_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    UNIQUE (tenant_id, name)
);

CREATE TABLE document_tags (
    document_id  UUID NOT NULL REFERENCES documents(id) ON DELETE CASCADE,
    tag_id       UUID NOT NULL REFERENCES tags(id) ON DELETE CASCADE,
    PRIMARY KEY (document_id, tag_id)
);
CREATE INDEX document_tags_tag ON document_tags (tag_id);

CREATE TABLE audit_log (
    id            BIGSERIAL PRIMARY KEY,
    tenant_id     UUID NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    actor_key_id  UUID,
    action        TEXT NOT NULL,
    selector      JSONB NOT NULL DEFAULT '{}'::jsonb,
    outcome       JSONB NOT NULL DEFAULT '{}'::jsonb,
    job_id        UUID,
    created_at    TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX audit_log_tenant ON audit_log (tenant_id, id DESC);
