DROP TABLE webhook_attempts;
DROP TABLE webhook_deliveries;
DROP TABLE webhook_endpoints;
ALTER TABLE tenants DROP COLUMN callback_secret, DROP COLUMN callback_previous_secret,
    DROP COLUMN callback_previous_expires_at;
