//! Our own domain types. The queue library's types never appear here.

mod role;
mod status;
mod view;

pub use role::Role;
pub use status::JobStatus;
pub use view::{ErrorView, JobEventView, JobPage, JobSummary, JobView, Progress};
