//! `example-api`: serves the example on `HOST:PORT` with monitoring from the
//! environment. Exits with status 2 and a message naming every invalid
//! variable when the configuration is wrong.

use std::process::ExitCode;

use example_api::db::Db;
use example_api::settings::Settings;
use example_api::{AppState, app};
use treebeard::config::EnvSource;

#[tokio::main]
async fn main() -> ExitCode {
    let (config, settings) = match (
        treebeard::Config::from_env(),
        Settings::from_source(&EnvSource),
    ) {
        (Ok(config), Ok(settings)) => (config, settings),
        (config, settings) => {
            if let Err(e) = config {
                eprintln!("example-api: {e}");
            }
            if let Err(e) = settings {
                eprintln!("example-api: invalid settings:\n  - {e}");
            }
            return ExitCode::from(2);
        }
    };
    let monitoring = match treebeard::init(&config) {
        Ok(guard) => guard,
        Err(e) => {
            eprintln!("example-api: {e}");
            return ExitCode::from(2);
        }
    };
    match serve(settings, monitoring.layer(), config.console.enabled).await {
        Ok(()) => {
            tracing::info!("shut down cleanly");
            ExitCode::SUCCESS
        }
        Err(e) => {
            tracing::error!(error = %e, "server failed");
            ExitCode::FAILURE
        }
    }
}

async fn serve(
    settings: Settings,
    monitoring: treebeard::MonitoringLayer,
    console: bool,
) -> Result<(), Box<dyn std::error::Error>> {
    let listener = tokio::net::TcpListener::bind((settings.host, settings.port)).await?;
    let address = listener.local_addr()?;
    let recommender_url = settings
        .recommender_url
        .unwrap_or_else(|| format!("http://{address}/internal/score"));
    // Work outside any request gets a trace of its own (type `worker`).
    let db = treebeard::apm::background_job("db.seed").in_scope(|| {
        let db = Db::open_seeded();
        tracing::info!(ok = db.is_ok(), "database seeded");
        db
    })?;
    let state = AppState::new(db, recommender_url)?;
    tracing::info!(%address, "listening");
    if console {
        tracing::info!(url = %format_args!("http://{address}/_treebeard"), "dev console");
    }
    // With the peer address, request lines carry `network.client.ip`, and
    // the dev console can tell a loopback client (without it, it answers 404).
    let app = app(state, monitoring).into_make_service_with_connect_info::<std::net::SocketAddr>();
    axum::serve(listener, app)
        .with_graceful_shutdown(treebeard::shutdown_signal())
        .await?;
    Ok(())
}
