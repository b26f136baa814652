-- Vector collections: one per (embedding model, dimension). Exactly one is
-- live (searched); a reindex builds another beside it, then swaps them.
-- Documents gain the embedding step: queued → processing → embedding →
-- ingested (or failed).
CREATE TABLE vector_collections (
    name        TEXT PRIMARY KEY,
    model_id    TEXT NOT NULL,
    dimension   INT NOT NULL CHECK (dimension > 0),
    state       TEXT NOT NULL CHECK (state IN ('building', 'live', 'retired')),
    job_id      UUID,
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX vector_collections_one_live ON vector_collections ((true)) WHERE state = 'live';
CREATE UNIQUE INDEX vector_collections_one_building ON vector_collections ((true)) WHERE state = 'building';

ALTER TABLE documents DROP CONSTRAINT documents_status_check;
UPDATE documents SET status = 'embedding' WHERE status = 'chunked';
ALTER TABLE documents ADD CONSTRAINT documents_status_check
    CHECK (status IN ('queued', 'processing', 'embedding', 'ingested', 'failed'));
