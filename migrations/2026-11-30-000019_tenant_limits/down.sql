DROP TABLE usage_thresholds;
DROP TABLE tenant_limits;
