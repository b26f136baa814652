//! Our own domain types. The queue library's types never appear here.

mod conversation;
pub mod cron;
mod document_filter;
mod queue;
mod role;
pub mod spec;
mod status;
mod view;

pub use conversation::{ConversationView, MessageView};
pub use document_filter::{DocumentFilter, DOC_STATUSES, DOC_TYPES};
pub use queue::Queue;
pub use role::Role;
pub use status::JobStatus;
pub use view::{ErrorView, JobEventView, JobPage, JobSummary, JobView, Progress};
