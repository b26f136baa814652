DROP TABLE audit_log;
DROP TABLE document_tags;
DROP TABLE tags;
DROP TABLE chunks;
DROP TABLE document_pages;
DROP TABLE documents;
