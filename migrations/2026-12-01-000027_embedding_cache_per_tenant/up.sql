-- The embedding cache was shared by every tenant, and a hit shows (the
-- `cache` counts of `POST /v1/embeddings`, and its speed): a tenant could
-- test whether another had embedded an exact text. Entries are now per
-- tenant, and go with it. Old entries cannot be attributed, so they go
-- too; each is made again on its next use.
TRUNCATE embedding_cache;
ALTER TABLE embedding_cache ADD COLUMN tenant_id UUID NOT NULL REFERENCES tenants(id) ON DELETE CASCADE;
ALTER TABLE embedding_cache DROP CONSTRAINT embedding_cache_pkey;
ALTER TABLE embedding_cache ADD PRIMARY KEY (tenant_id, model_id, content_hash);
