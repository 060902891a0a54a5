//! `monitors` and `dashboards` subcommands.

use std::path::Path;

use treebeard_alerting::datadog_api::DatadogClient;
use treebeard_alerting::env::ConfigSource;
use treebeard_alerting::{dashboards, monitors, sync, validate};

/// A command failure, already phrased for the user.
pub type CmdResult = Result<(), String>;

pub(crate) fn load(file: &Path) -> Result<treebeard_alerting::rules::AlertingConfig, String> {
    validate::load(file).map_err(|e| match e {
        validate::ConfigError::Invalid(problems) => {
            let lines: Vec<String> = problems
                .iter()
                .map(|p| format!("{}:{p}", file.display()))
                .collect();
            format!(
                "{} problem(s) in {}:\n{}",
                problems.len(),
                file.display(),
                lines.join("\n")
            )
        }
        other => other.to_string(),
    })
}

/// `monitors validate`.
pub fn validate(file: &Path) -> CmdResult {
    let config = load(file)?;
    println!("{}: {} alerts OK", file.display(), config.alerts.len());
    Ok(())
}

/// `monitors render`.
pub fn render_monitors(file: &Path) -> CmdResult {
    let config = load(file)?;
    let monitors = monitors::generate(&config).map_err(|e| e.to_string())?;
    let json = serde_json::to_string_pretty(&monitors).map_err(|e| e.to_string())?;
    println!("{json}");
    Ok(())
}

fn client(env: &impl ConfigSource) -> Result<DatadogClient, String> {
    DatadogClient::from_env(env).map_err(|e| e.to_string())
}

async fn plan_and_maybe_apply(client: &DatadogClient, plan: sync::Plan, apply: bool) -> CmdResult {
    println!("{plan}");
    if !apply {
        return Ok(());
    }
    if !plan.has_changes() {
        println!("Nothing to do.");
        return Ok(());
    }
    let report = sync::apply(client, &plan)
        .await
        .map_err(|e| e.to_string())?;
    for (name, id) in &report.created {
        println!("created `{name}` (id {id})");
    }
    println!(
        "Applied: {} created, {} updated, {} deleted.",
        report.created.len(),
        report.updated,
        report.deleted
    );
    Ok(())
}

/// `monitors plan` and `monitors apply`.
pub async fn monitors(env: &impl ConfigSource, file: &Path, apply: bool) -> CmdResult {
    let config = load(file)?;
    let desired = monitors::generate(&config).map_err(|e| e.to_string())?;
    let client = client(env)?;
    let plan = sync::plan_monitors(&client, &desired)
        .await
        .map_err(|e| e.to_string())?;
    plan_and_maybe_apply(&client, plan, apply).await
}

/// `dashboards generate`.
pub fn generate_dashboards(dir: &Path, namespace: &str) -> CmdResult {
    let written = dashboards::write_all(dir, namespace)
        .map_err(|e| format!("writing {}: {e}", dir.display()))?;
    for path in written {
        println!("wrote {}", path.display());
    }
    Ok(())
}

/// `dashboards plan` and `dashboards apply`.
pub async fn dashboards(env: &impl ConfigSource, namespace: &str, apply: bool) -> CmdResult {
    let desired = dashboards::all(namespace);
    let client = client(env)?;
    let plan = sync::plan_dashboards(&client, &desired)
        .await
        .map_err(|e| e.to_string())?;
    plan_and_maybe_apply(&client, plan, apply).await
}
