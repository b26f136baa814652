ALTER TABLE job_batches DROP COLUMN quiet;
DROP TABLE openai_batch_lines;
DROP TABLE openai_batches;
DROP TABLE files;
