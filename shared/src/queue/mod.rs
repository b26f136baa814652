//! The Redis side of Chorus. Postgres is the source of truth; Redis carries
//! messages.
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

mod broker;
pub mod dispatcher;
mod message;

pub use broker::{Broker, QueueStorage};
pub use message::JobMessage;
