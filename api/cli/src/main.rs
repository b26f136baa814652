//! `chorus`: the operators' command line. It talks to the API only: it
//! submits and follows jobs, uploads documents, and reads what the API
//! keeps. Tables for people, `--json` for scripts.
//!
//! Exit codes: 0 the job (or request) succeeded, 1 it failed or is dead (or
//! the API refused the request), 2 a usage error, 3 the job was cancelled.

mod client;
mod commands;
mod config;
mod follow;
mod table;

use std::process::ExitCode;

use clap::{CommandFactory, Parser, Subcommand};

use commands::{docs, jobs, misc, team};

/// A usage error: exit code 2.
#[derive(Debug)]
pub struct Usage(pub String);

impl std::fmt::Display for Usage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Usage {}

#[derive(Debug, Parser)]
#[command(name = "chorus", version, about = "Operate a Chorus cluster through its API")]
pub struct Cli {
    /// The API's base URL [env: CHORUS_URL] [default: http://127.0.0.1:8080].
    #[arg(long, global = true)]
    url: Option<String>,
    /// The API key [env: CHORUS_API_KEY].
    #[arg(long, global = true, hide_env_values = true)]
    api_key: Option<String>,
    /// A profile of ~/.config/chorus/config.toml [env: CHORUS_PROFILE].
    #[arg(long, global = true)]
    profile: Option<String>,
    /// Print the API's JSON instead of tables.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Submit a job; with --wait, follow it and exit with its outcome.
    Submit(jobs::Submit),
    /// Follow a job's progress (and a chat job's tokens) until it ends.
    Watch { job: String },
    /// List, show, cancel and retry jobs.
    #[command(subcommand)]
    Jobs(jobs::Jobs),
    /// Dead jobs: list them, retry one or all.
    #[command(subcommand)]
    Dead(jobs::Dead),
    /// Upload, list, remove and tag documents.
    #[command(subcommand)]
    Docs(docs::Docs),
    /// Search the knowledge base.
    Search(misc::Search),
    /// Run a bulk operation over the documents a filter selects.
    Bulk(misc::Bulk),
    /// Send a chat message and stream the answer.
    Chat(misc::Chat),
    /// Webhook endpoints and their deliveries.
    #[command(subcommand)]
    Webhooks(team::Webhooks),
    /// API keys of your tenant (admin).
    #[command(subcommand)]
    Keys(team::Keys),
    /// Model usage, by day or by model (admin).
    Usage(team::UsageArgs),
    /// Print shell completions.
    Completions { shell: clap_complete::Shell },
}

/// What a command leaves the process with.
pub type Outcome = anyhow::Result<u8>;

async fn run(cli: Cli) -> Outcome {
    if let Command::Completions { shell } = cli.command {
        clap_complete::generate(shell, &mut Cli::command(), "chorus", &mut std::io::stdout());
        return Ok(0);
    }
    let target = config::Given::from_env(cli.url, cli.api_key, cli.profile).resolve()?;
    let c = client::Client::new(target);
    let json = cli.json;
    match cli.command {
        Command::Submit(args) => jobs::submit(&c, args, json).await,
        Command::Watch { job } => jobs::watch(&c, &job, json).await,
        Command::Jobs(cmd) => jobs::jobs(&c, cmd, json).await,
        Command::Dead(cmd) => jobs::dead(&c, cmd, json).await,
        Command::Docs(cmd) => docs::run(&c, cmd, json).await,
        Command::Search(args) => misc::search(&c, args, json).await,
        Command::Bulk(args) => misc::bulk(&c, args, json).await,
        Command::Chat(args) => misc::chat(&c, args, json).await,
        Command::Webhooks(cmd) => team::webhooks(&c, cmd, json).await,
        Command::Keys(cmd) => team::keys(&c, cmd, json).await,
        Command::Usage(args) => team::usage(&c, args, json).await,
        Command::Completions { .. } => unreachable!("handled above"),
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli).await {
        Ok(code) => ExitCode::from(code),
        Err(e) if e.is::<Usage>() => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(1)
        }
    }
}
