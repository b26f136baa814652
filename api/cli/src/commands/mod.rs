//! The subcommands, one file per group: jobs, documents, the knowledge and
//! chat commands, and the team's settings (webhooks, keys, usage).

pub mod docs;
pub mod jobs;
pub mod misc;
pub mod team;
