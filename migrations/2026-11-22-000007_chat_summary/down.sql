ALTER TABLE conversations DROP COLUMN summary_through;
ALTER TABLE conversations DROP COLUMN summary;
