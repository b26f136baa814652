DROP TABLE embedding_cache;
