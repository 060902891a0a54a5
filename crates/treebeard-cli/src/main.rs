//! `treebeard`: doctor, monitors and dashboards as code, alert tests.
//!
//! See `docs/cli.md` for every command, its variables and exit codes.
#![forbid(unsafe_code)]

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

mod alerts;
mod digest_cmd;
mod doctor;
mod sync_cmd;

/// TreeBeard monitoring tools.
#[derive(Debug, Parser)]
#[command(name = "treebeard", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Check the agent, DogStatsD, Sentry and notifier configuration.
    Doctor {
        /// Alert rules to validate as part of the check (skipped if absent).
        #[arg(long, default_value = treebeard_alerting::rules::DEFAULT_CONFIG_PATH)]
        file: PathBuf,
        /// Seconds to wait for each network probe.
        #[arg(long, default_value_t = 3)]
        timeout: u64,
    },
    /// Alert rules as DataDog monitors.
    Monitors {
        #[command(subcommand)]
        action: MonitorsAction,
    },
    /// The four dashboards as code.
    Dashboards {
        #[command(subcommand)]
        action: DashboardsAction,
    },
    /// Notification channels.
    Alerts {
        #[command(subcommand)]
        action: AlertsAction,
    },
}

#[derive(Debug, Subcommand)]
enum MonitorsAction {
    /// Check the schema and queries of the alert rules, and that every
    /// runbook given as a name has its file `docs/runbooks/<name>.md`.
    Validate {
        /// The alert rules.
        #[arg(long, default_value = treebeard_alerting::rules::DEFAULT_CONFIG_PATH)]
        file: PathBuf,
    },
    /// Show what `apply` would create, update and delete.
    Plan {
        /// The alert rules.
        #[arg(long, default_value = treebeard_alerting::rules::DEFAULT_CONFIG_PATH)]
        file: PathBuf,
    },
    /// Create, update and delete the monitors TreeBeard owns.
    Apply {
        /// The alert rules.
        #[arg(long, default_value = treebeard_alerting::rules::DEFAULT_CONFIG_PATH)]
        file: PathBuf,
    },
    /// Print the monitors as JSON (DataDog Monitors API v1).
    Render {
        /// The alert rules.
        #[arg(long, default_value = treebeard_alerting::rules::DEFAULT_CONFIG_PATH)]
        file: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
enum DashboardsAction {
    /// Write the dashboards JSON files.
    Generate {
        /// Output directory.
        #[arg(long, default_value = treebeard_alerting::dashboards::DEFAULT_DIR)]
        dir: PathBuf,
        /// Metric namespace.
        #[arg(long, default_value = treebeard_conventions::DEFAULT_NAMESPACE)]
        namespace: String,
    },
    /// Show what `apply` would create, update and delete.
    Plan {
        /// Metric namespace.
        #[arg(long, default_value = treebeard_conventions::DEFAULT_NAMESPACE)]
        namespace: String,
    },
    /// Create, update and delete the dashboards TreeBeard owns.
    Apply {
        /// Metric namespace.
        #[arg(long, default_value = treebeard_conventions::DEFAULT_NAMESPACE)]
        namespace: String,
    },
}

#[derive(Debug, Subcommand)]
enum AlertsAction {
    /// Send a test notification through one channel.
    Test {
        /// The channel.
        #[arg(long, value_enum)]
        channel: Channel,
    },
    /// Build the daily or weekly digest of the monitor alerts that fired,
    /// from DataDog's alert history; print it or email it.
    Digest(digest_cmd::DigestArgs),
}

/// A notification channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Channel {
    /// PagerDuty Events API v2 (trigger, then resolve).
    Pagerduty,
    /// Slack webhook or bot.
    Slack,
    /// The SMTP email digest.
    Email,
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let env = treebeard_alerting::env::EnvSource;
    let result = match cli.command {
        Command::Doctor { file, timeout } => {
            let ok = doctor::run(&env, &file, std::time::Duration::from_secs(timeout)).await;
            return if ok {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            };
        }
        Command::Monitors { action } => match action {
            MonitorsAction::Validate { file } => sync_cmd::validate(&env, &file),
            MonitorsAction::Render { file } => sync_cmd::render_monitors(&env, &file),
            MonitorsAction::Plan { file } => sync_cmd::monitors(&env, &file, false).await,
            MonitorsAction::Apply { file } => sync_cmd::monitors(&env, &file, true).await,
        },
        Command::Dashboards { action } => match action {
            DashboardsAction::Generate { dir, namespace } => {
                sync_cmd::generate_dashboards(&dir, &namespace)
            }
            DashboardsAction::Plan { namespace } => {
                sync_cmd::dashboards(&env, &namespace, false).await
            }
            DashboardsAction::Apply { namespace } => {
                sync_cmd::dashboards(&env, &namespace, true).await
            }
        },
        Command::Alerts {
            action: AlertsAction::Test { channel },
        } => alerts::test(&env, channel).await,
        Command::Alerts {
            action: AlertsAction::Digest(args),
        } => return digest_cmd::run(&env, &args).await,
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}
