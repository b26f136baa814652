DROP TABLE IF EXISTS deployment_facts;
DROP INDEX IF EXISTS jobs_by_document;
DROP INDEX IF EXISTS documents_in_flight;
