//! `chorus-api`: serves the HTTP API, runs migrations, and creates API keys.

use chorus_shared::config::Settings;
use chorus_shared::domain::Role;
use clap::{Parser, Subcommand};

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(version, about = "The Chorus HTTP API")]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the API (the default).
    Serve,
    /// Apply pending database migrations and exit.
    Migrate,
    /// Print the OpenAPI document this configuration serves.
    Openapi,
    /// Create an API key (and its tenant if new) and print the secret.
    CreateKey {
        #[arg(long, default_value = "default")]
        tenant: String,
        #[arg(long, default_value = "admin")]
        role: String,
        #[arg(long, default_value = "bootstrap")]
        name: String,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let settings = Settings::load()?;
    chorus_shared::telemetry::init(&settings.telemetry);
    if !chorus_shared::secrets::protect_process() {
        tracing::warn!("could not mark the API not dumpable");
    }
    match cli.command.unwrap_or(Command::Serve) {
        Command::Openapi => println!("{}", serde_json::to_string_pretty(&chorus_api::openapi::served(&settings))?),
        Command::Migrate => {
            let n = chorus_shared::db::migrate(&settings.database.url).await?;
            tracing::info!(applied = n, "migrations done");
        }
        Command::CreateKey { tenant, role, name } => {
            let role = Role::parse(&role).ok_or_else(|| anyhow::anyhow!("role must be admin, user or viewer"))?;
            let pool = chorus_shared::db::pool(&settings.database.url, 1)?;
            let tenant = chorus_shared::services::auth::ensure_tenant(&pool, &tenant).await?;
            let key = chorus_shared::services::auth::create_key(&pool, tenant.id, &name, role, None).await?;
            println!("{}", key.secret);
        }
        Command::Serve => {
            let ctx = chorus_shared::Ctx::connect(settings).await?;
            chorus_shared::services::deployment::check_secrets_key(&ctx)
                .await
                .map_err(|e| anyhow::anyhow!(e.message))?;
            let app = chorus_api::startup::Application::build(ctx)?;
            tracing::info!(port = app.port, "API listening");
            app.server.await?;
        }
    }
    Ok(())
}
