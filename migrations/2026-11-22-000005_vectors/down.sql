ALTER TABLE documents DROP CONSTRAINT documents_status_check;
UPDATE documents SET status = 'chunked' WHERE status IN ('embedding', 'ingested');
ALTER TABLE documents ADD CONSTRAINT documents_status_check
    CHECK (status IN ('queued', 'processing', 'chunked', 'failed'));
DROP TABLE vector_collections;
