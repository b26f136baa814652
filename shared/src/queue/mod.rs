//! The job machinery, below the services: the Redis side (broker,
//! dispatcher, messages), a job's life in Postgres (insert, claim,
//! heartbeat, progress, finish, rescue), its event history, the webhook
//! outbox written with each state change, job dependencies and batch
//! callbacks, and how an attempt fails.
//!
//! Consistency, in short (the README has the long form):
//! - The API commits the job row first, then asks the dispatcher to push a
//!   [`JobMessage`] into the job's apalis queue. If Redis is down, the row
//!   stays undispatched and every worker's dispatcher loop pushes it later,
//!   so a `202` always means the job will run.
//! - A message carries the job's `dispatch_seq`. A worker claims a job only
//!   if the row is still waiting and the sequence matches; any retry,
//!   rescue, cancel or hand-back bumps or ends it. A stale or duplicate
//!   message therefore never runs a job twice, and never runs a finished one.
//! - The dispatcher keeps at most `dispatch.window` messages per queue in
//!   Redis; the rest wait in Postgres, where priority and `run_at` order them.

mod batcher;
pub mod batches;
mod broker;
pub mod circuit;
pub mod claimer;
pub mod completer;
pub mod dependencies;
mod dispatch_sql;
pub mod dispatcher;
mod error;
mod events;
pub mod gauges;
mod insert;
pub mod inserter;
pub mod lifecycle;
mod message;
pub mod outbox;

pub use broker::{Broker, QueueStorage};
pub use error::JobError;
pub use events::record_event;
pub use insert::{insert, insert_many, insert_row, insert_rows, insert_with, put, queued};
pub use message::JobMessage;
