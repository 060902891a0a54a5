//! `monitors` and `dashboards` subcommands.

use std::path::Path;

use treebeard_alerting::datadog_api::DatadogClient;
use treebeard_alerting::env::ConfigSource;
use treebeard_alerting::rules::AlertingConfig;
use treebeard_alerting::runbooks::RunbookLinks;
use treebeard_alerting::{dashboards, monitors, sync, validate};

/// A command failure, already phrased for the user.
pub type CmdResult = Result<(), String>;

/// Loads and checks the alert rules, and turns runbook names into links
/// under `TREEBEARD_RUNBOOK_BASE_URL`.
pub(crate) fn load(env: &impl ConfigSource, file: &Path) -> Result<AlertingConfig, String> {
    let mut config = validate::load(file).map_err(|e| phrase(file, e))?;
    RunbookLinks::from_env(env).resolve(&mut config);
    Ok(config)
}

/// [`load`], and every runbook given as a name must have its file
/// `docs/runbooks/<name>.md` (before anything is sent to DataDog).
fn load_with_runbook_files(env: &impl ConfigSource, file: &Path) -> Result<AlertingConfig, String> {
    let mut config = validate::load_with_runbooks(file).map_err(|e| phrase(file, e))?;
    RunbookLinks::from_env(env).resolve(&mut config);
    Ok(config)
}

fn phrase(file: &Path, e: validate::ConfigError) -> String {
    match e {
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
    }
}

/// `monitors validate`: the rules, and the runbook file of every runbook
/// given as a name.
pub fn validate(env: &impl ConfigSource, file: &Path) -> CmdResult {
    let config = load_with_runbook_files(env, file)?;
    println!("{}: {} alerts OK", file.display(), config.alerts.len());
    Ok(())
}

/// `monitors render`.
pub fn render_monitors(env: &impl ConfigSource, file: &Path) -> CmdResult {
    let config = load(env, file)?;
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
    let config = load_with_runbook_files(env, file)?;
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
