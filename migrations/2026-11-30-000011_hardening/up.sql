-- Finding the work a failed, dead or cancelled job leaves behind: the
-- documents still in flight, and the jobs of a document by its id.
CREATE INDEX documents_in_flight ON documents (updated_at)
    WHERE status IN ('queued', 'processing', 'embedding');
CREATE INDEX jobs_by_document ON jobs ((payload->>'document_id'), created_at)
    WHERE kind IN ('ingest_document', 'embed_document');

-- Facts every process of a deployment must agree on, e.g. the fingerprint
-- of the secrets key.
CREATE TABLE deployment_facts (
    name TEXT PRIMARY KEY,
    value TEXT NOT NULL,
    recorded_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
