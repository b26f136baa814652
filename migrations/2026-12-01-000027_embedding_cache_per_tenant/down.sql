TRUNCATE embedding_cache;
ALTER TABLE embedding_cache DROP CONSTRAINT embedding_cache_pkey;
ALTER TABLE embedding_cache DROP COLUMN tenant_id;
ALTER TABLE embedding_cache ADD PRIMARY KEY (model_id, content_hash);
