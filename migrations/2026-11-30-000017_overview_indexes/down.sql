DROP INDEX jobs_tenant_finished;
DROP INDEX jobs_tenant_open;
