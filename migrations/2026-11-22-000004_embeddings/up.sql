-- Embedding cache: unchanged text under the same model is never embedded twice.
CREATE TABLE embedding_cache (
    model_id      TEXT NOT NULL,
    content_hash  TEXT NOT NULL,
    vector        REAL[] NOT NULL,
    created_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (model_id, content_hash)
);
