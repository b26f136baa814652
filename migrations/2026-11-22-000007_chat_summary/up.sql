-- The `summary` context strategy keeps its summary of older turns with the
-- conversation, and the last message it covers, so later turns reuse it.
ALTER TABLE conversations ADD COLUMN summary TEXT;
ALTER TABLE conversations ADD COLUMN summary_through UUID;
