DROP TABLE job_events;
DROP TABLE jobs;
DROP TABLE api_keys;
DROP TABLE tenants;
