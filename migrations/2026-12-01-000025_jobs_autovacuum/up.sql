-- Every job's state changes leave dead row versions in `jobs` and dead
-- entries in its partial indexes (waiting, in transit), which every
-- dispatch reads until a vacuum removes them. Postgres's default vacuums a
-- table after 20% of its rows changed: on a table that keeps a million
-- finished jobs for retention, 200,000 dead versions. Vacuum `jobs` after
-- 1% instead. (How often autovacuum looks at all is the server's
-- `autovacuum_naptime`; README, "On real hosts", asks for 5 s.)
ALTER TABLE jobs SET (autovacuum_vacuum_scale_factor = 0.01, autovacuum_analyze_scale_factor = 0.02);
