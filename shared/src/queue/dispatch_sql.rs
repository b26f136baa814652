//! The statements of a dispatch ([`super::dispatcher::dispatch_queue`]):
//! what it reads first, then how it picks and marks due jobs, in a small
//! statement when one tenant waits and a fair-share one otherwise.

/// `waiting(tenant_id, k)`: the tenants with waiting jobs in queue `$1`,
/// the `k`-th in tenant order, by a loose index scan (one probe of
/// `jobs_waiting_by_tenant` per tenant, not one row per job), probing on
/// while `$stop` (more SQL for the recursive step's `WHERE`) holds. The
/// text that [`LOOK`] (two probes) and [`DISPATCH`] (every tenant) start
/// with.
macro_rules! waiting_tenants {
    ($stop:literal) => {
        concat!(
            "WITH RECURSIVE waiting(tenant_id, k) AS ( \
   (SELECT tenant_id, 1 FROM jobs \
    WHERE queue = $1 AND status IN ('queued', 'retrying') AND dispatched_at IS NULL \
    ORDER BY queue, tenant_id, priority DESC, run_at, id LIMIT 1) \
   UNION ALL \
   SELECT (SELECT j.tenant_id FROM jobs j \
           WHERE j.queue = $1 AND j.status IN ('queued', 'retrying') AND j.dispatched_at IS NULL \
             AND j.tenant_id > w.tenant_id \
           ORDER BY j.queue, j.tenant_id, j.priority DESC, j.run_at, j.id LIMIT 1), w.k + 1 \
   FROM waiting w WHERE w.tenant_id IS NOT NULL ",
            $stop,
            ")"
        )
    };
}

/// What a dispatch of queue `$1` reads first, under the queue's lock: the
/// room left in the window (`$2` less the jobs in transit, dispatched and
/// not yet claimed) and the first two tenants with waiting jobs
/// (`waiting_tenants!`, stopped after two probes), each with
/// its cap (`$3`, the queue's default, unless the tenant has its own). No
/// row: no job waits.
pub(super) const LOOK: &str = concat!(
    waiting_tenants!("AND w.k < 2"),
    " \
SELECT (SELECT $2 - count(*) FROM jobs \
        WHERE queue = $1 AND status IN ('queued', 'retrying') AND dispatched_at IS NOT NULL) AS room, \
       w.tenant_id, \
       coalesce((SELECT (l.concurrency->>$1)::int FROM tenant_limits l WHERE l.tenant_id = w.tenant_id), $3) AS cap \
FROM waiting w WHERE w.tenant_id IS NOT NULL"
);

/// The dispatch when one tenant alone waits and has no cap, so there are
/// no turns to take: its first due jobs by priority and age, the room
/// (`$2`) and one more of them locked (to tell a backlog), the room's worth
/// marked dispatched at `$3`. A far smaller statement to plan than
/// [`DISPATCH`], on every dispatch of a queue that one tenant fills.
///
/// The jobs are read in the order of `jobs_waiting_by_tenant`'s whole key
/// with no condition on the tenant, and only then kept if they are `$4`'s
/// (a tenant that started waiting since the look, and sorts first, makes
/// this dispatch smaller; the next one sees two tenants): with `tenant_id
/// = $4` in the scan, statistics from before a burst (every job finished)
/// let the planner read all of the tenant's jobs through
/// `jobs_tenant_open` and sort them, 30 ms a dispatch under the bench's
/// 40,000-job backlog instead of under 1.
pub(super) const ONE_TENANT: &str = "\
WITH due AS ( \
   SELECT id, priority, run_at FROM ( \
     SELECT id, tenant_id, priority, run_at FROM jobs \
     WHERE queue = $1 AND status IN ('queued', 'retrying') AND dispatched_at IS NULL AND run_at <= $3 \
     ORDER BY queue, tenant_id, priority DESC, run_at, id \
     LIMIT $2 + 1 \
     FOR UPDATE SKIP LOCKED) first \
   WHERE tenant_id = $4), \
 pick AS (SELECT id FROM due ORDER BY priority DESC, run_at, id LIMIT $2), \
 marked AS ( \
   UPDATE jobs SET dispatched_at = $3 FROM pick WHERE jobs.id = pick.id \
   RETURNING jobs.id, jobs.dispatch_seq, jobs.priority, jobs.run_at) \
SELECT id, dispatch_seq, (SELECT count(*) FROM due) > $2 AS more \
FROM marked ORDER BY priority DESC, run_at, id";

/// The dispatch statement; its parameters are the queue, the room left in
/// the window ([`LOOK`], counted under the queue's lock, so no other
/// dispatcher can take it meanwhile), now, the queue's default per-tenant
/// cap and whether tenants take turns.
///
/// `waiting` lists the tenants with waiting jobs in the queue by a loose
/// index scan (one probe of `jobs_waiting_by_tenant` per tenant, not one
/// row per job; its probes order by the index's whole key, so the planner
/// takes that index and not `jobs_tenant_open`, whose entries for jobs in
/// transit it would have to skip by reading their rows). `allowed` says how
/// many jobs each may have dispatched now: its cap less its jobs running or
/// in transit (counted only for a capped tenant), or the room and one more.
/// `ranked` takes each tenant's first jobs by priority, locked, numbered in
/// turns (the tenant is matched by row comparisons on the index's leading
/// columns, which only `jobs_waiting_by_tenant` can serve, for the reason
/// [`ONE_TENANT`] gives); `due` keeps those within the tenant's allowance, turn by turn
/// (fair share) or by priority and age alone, the room and one more of them
/// (to tell a backlog); `pick` takes as many as the room, and they are
/// pushed to Redis in that order (consumers take a queue's messages in the
/// order pushed). Sizing by the room, not the window, locks only rows that
/// may go: under a backlog a dispatch refills a few freed slots, and
/// locking a whole window of rows for them cost more than the rest of the
/// statement.
///
/// Every limit the planner sees is a parameter (`$2 + 1`), and our
/// connections plan each execution with its values (see
/// [`crate::db::pool`]), so it knows the counts and updates by primary key. With a limit known
/// only at run time (a subquery) it hash-joined the whole table (36 ms
/// instead of 1 ms with 100,000 jobs; the queue bench caught a per-tenant
/// limit of that kind).
pub(super) const DISPATCH: &str = concat!(
    waiting_tenants!(""),
    ", \
 capped AS ( \
   SELECT w.tenant_id, coalesce((SELECT (l.concurrency->>$1)::int FROM tenant_limits l \
                                 WHERE l.tenant_id = w.tenant_id), $4) AS cap \
   FROM waiting w WHERE w.tenant_id IS NOT NULL), \
 allowed AS ( \
   SELECT tenant_id, CASE WHEN cap <= 0 THEN $2 + 1 ELSE greatest(cap - ( \
       SELECT count(*) FROM jobs x \
       WHERE x.tenant_id = c.tenant_id AND x.queue = $1 \
         AND (x.status = 'running' OR (x.status IN ('queued', 'retrying') AND x.dispatched_at IS NOT NULL))), 0) \
     END AS n \
   FROM capped c), \
 ranked AS ( \
   SELECT d.id, d.priority, d.run_at, a.n, \
          row_number() OVER (PARTITION BY a.tenant_id ORDER BY d.priority DESC, d.run_at, d.id) AS turn \
   FROM allowed a CROSS JOIN LATERAL ( \
     SELECT id, priority, run_at FROM jobs \
     WHERE (queue, tenant_id) >= ($1, a.tenant_id) AND (queue, tenant_id) <= ($1, a.tenant_id) \
       AND status IN ('queued', 'retrying') AND dispatched_at IS NULL AND run_at <= $3 \
     ORDER BY queue, tenant_id, priority DESC, run_at, id \
     LIMIT $2 + 1 \
     FOR UPDATE SKIP LOCKED) d), \
 due AS ( \
   SELECT id, priority, run_at, CASE WHEN $5 THEN turn ELSE 1 END AS turn FROM ranked WHERE turn <= n \
   ORDER BY 4, priority DESC, run_at, id \
   LIMIT $2 + 1), \
 pick AS ( \
   SELECT id, turn FROM due ORDER BY turn, priority DESC, run_at, id \
   LIMIT $2), \
 marked AS ( \
   UPDATE jobs SET dispatched_at = $3 FROM pick WHERE jobs.id = pick.id \
   RETURNING jobs.id, jobs.dispatch_seq, jobs.priority, jobs.run_at, pick.turn) \
SELECT id, dispatch_seq, (SELECT count(*) FROM due) > $2 AS more \
FROM marked ORDER BY turn, priority DESC, run_at, id"
);
