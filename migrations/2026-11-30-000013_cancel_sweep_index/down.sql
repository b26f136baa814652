DROP INDEX jobs_cancel_waiting;
