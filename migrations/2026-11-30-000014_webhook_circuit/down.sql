DROP INDEX webhook_deliveries_held;
UPDATE webhook_deliveries SET status = 'cancelled' WHERE status = 'held';
ALTER TABLE webhook_deliveries DROP CONSTRAINT webhook_deliveries_status_check;
ALTER TABLE webhook_deliveries ADD CONSTRAINT webhook_deliveries_status_check
    CHECK (status IN ('pending', 'succeeded', 'failed', 'cancelled'));
ALTER TABLE webhook_endpoints DROP COLUMN probe_delivery_id, DROP COLUMN circuit_opened_at;
