//! One model file per table.

mod api_key;
mod conversation;
mod document;
mod job;
mod job_event;
mod tenant;
mod webhook;

pub use api_key::{ApiKey, NewApiKey};
pub use conversation::{Conversation, Message};
pub use document::{Document, Tag};
pub use job::{Job, NewJob};
pub use job_event::{JobEvent, NewJobEvent};
pub use tenant::Tenant;
pub use webhook::{NewWebhookDelivery, WebhookAttempt, WebhookDelivery, WebhookEndpoint};
