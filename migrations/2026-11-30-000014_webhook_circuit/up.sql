-- The per-endpoint delivery circuit: while an endpoint fails, one delivery
-- (the probe) retries on the schedule and new ones wait as `held`, with no
-- job, until a success releases them in order.
ALTER TABLE webhook_endpoints
    ADD COLUMN circuit_opened_at TIMESTAMPTZ,
    ADD COLUMN probe_delivery_id UUID;
ALTER TABLE webhook_deliveries DROP CONSTRAINT webhook_deliveries_status_check;
ALTER TABLE webhook_deliveries ADD CONSTRAINT webhook_deliveries_status_check
    CHECK (status IN ('pending', 'held', 'succeeded', 'failed', 'cancelled'));
CREATE INDEX webhook_deliveries_held ON webhook_deliveries (endpoint_id, id) WHERE status = 'held';
