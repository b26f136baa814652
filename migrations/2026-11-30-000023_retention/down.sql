DROP TABLE retention_runs;
ALTER TABLE tenant_limits DROP COLUMN retention_export;
ALTER TABLE tenant_limits DROP COLUMN retention_days;
