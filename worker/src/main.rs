//! `chorus-worker`: loads the settings, connects, and runs until SIGTERM or
//! Ctrl-C, then shuts down gracefully.

use chorus_shared::config::Settings;
use clap::Parser;
use tokio_util::sync::CancellationToken;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Runs Chorus jobs from the Redis queues.
#[derive(Parser)]
#[command(version)]
struct Cli {
    /// Worker name (unique per process); default `<host>-<pid>-<random>`.
    #[arg(long, env = "CHORUS_WORKER_NAME")]
    name: Option<String>,
    /// Port of `/metrics`; 0 picks a free one.
    #[arg(long)]
    metrics_port: Option<u16>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let mut settings = Settings::load()?;
    if let Some(name) = cli.name {
        settings.worker.name = name;
    }
    if let Some(port) = cli.metrics_port {
        settings.worker.metrics_port = port;
    }
    chorus_shared::telemetry::init(&settings.telemetry);
    if !chorus_shared::secrets::protect_process() {
        tracing::warn!("could not mark the worker not dumpable: its children may read its environment");
    }
    settings.database.pool_size = settings.database.worker_pool_size(&settings.worker);
    let ctx = chorus_shared::Ctx::connect(settings).await?;
    let shutdown = CancellationToken::new();
    let trigger = shutdown.clone();
    tokio::spawn(async move {
        let mut term =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).expect("signal handler");
        tokio::select! {
            _ = term.recv() => {}
            _ = tokio::signal::ctrl_c() => {}
        }
        trigger.cancel();
    });
    chorus_worker::run(ctx, shutdown, None).await
}
