//! Loading and validating `alerting-config.yml`, with line numbers.
//!
//! Syntax and type errors carry the location `serde_yaml_ng` reports.
//! Semantic errors (an unknown metric, thresholds in the wrong order, a
//! severity without a configured destination) are located by finding the
//! alert's `name:` line and then the offending field below it.

use std::collections::HashSet;
use std::path::Path;

use crate::metrics;
use crate::query;
use crate::rules::{AlertRule, AlertingConfig};
use crate::runbooks;

/// Longest evaluation window DataDog metric monitors accept, in seconds.
pub const MAX_EVALUATION_WINDOW: u64 = 2 * 86_400;

/// One problem found in a configuration file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// 1-based line of the problem, when known.
    pub line: Option<usize>,
    /// 1-based column, when known.
    pub column: Option<usize>,
    /// The alert concerned, when there is one.
    pub alert: Option<String>,
    /// What is wrong and how to fix it.
    pub message: String,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (self.line, self.column) {
            (Some(l), Some(c)) => write!(f, "line {l}, column {c}: ")?,
            (Some(l), None) => write!(f, "line {l}: ")?,
            _ => {}
        }
        if let Some(alert) = &self.alert {
            write!(f, "alert `{alert}`: ")?;
        }
        f.write_str(&self.message)
    }
}

/// Why a configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
    /// The file is not valid YAML or does not match the schema.
    #[error("{}", display_problems(.0))]
    Invalid(Vec<Problem>),
}

impl ConfigError {
    /// The problems found (empty for I/O errors).
    pub fn problems(&self) -> &[Problem] {
        match self {
            Self::Io { .. } => &[],
            Self::Invalid(problems) => problems,
        }
    }
}

fn display_problems(problems: &[Problem]) -> String {
    problems
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("\n")
}

/// Reads, parses and validates the file at `path`.
pub fn load(path: impl AsRef<Path>) -> Result<AlertingConfig, ConfigError> {
    let path = path.as_ref();
    let source = std::fs::read_to_string(path).map_err(|source| ConfigError::Io {
        path: path.display().to_string(),
        source,
    })?;
    parse(&source)
}

/// [`load`], then checks that every runbook given as a name has its file
/// `docs/runbooks/<name>.md` in the repository of `path` (see
/// [`check_runbook_files`]). What `treebeard monitors validate`, `plan` and
/// `apply` use.
pub fn load_with_runbooks(path: impl AsRef<Path>) -> Result<AlertingConfig, ConfigError> {
    let path = path.as_ref();
    let source = std::fs::read_to_string(path).map_err(|source| ConfigError::Io {
        path: path.display().to_string(),
        source,
    })?;
    let config = parse(&source)?;
    let problems = check_runbook_files(&config, Some(&source), path);
    if problems.is_empty() {
        Ok(config)
    } else {
        Err(ConfigError::Invalid(problems))
    }
}

/// One problem for each alert whose runbook is a name without its file
/// `<dir>/<name>.md`, where `<dir>` is [`runbooks::dir_for`] the
/// configuration file at `path`. Full URLs are not checked (nothing here
/// can reach them).
pub fn check_runbook_files(
    config: &AlertingConfig,
    source: Option<&str>,
    path: &Path,
) -> Vec<Problem> {
    let locator = Locator::new(source.unwrap_or(""));
    let dir = runbooks::dir_for(path);
    let mut problems = Vec::new();
    for (index, alert) in config.alerts.iter().enumerate() {
        if !runbooks::is_name(&alert.runbook) {
            continue;
        }
        let message = match &dir {
            Some(dir) => {
                let file = runbooks::file(dir, &alert.runbook);
                if file.is_file() {
                    continue;
                }
                format!(
                    "runbook `{}` has no file: {} is missing (write it, or give the runbook as an http(s) link)",
                    alert.runbook,
                    file.display()
                )
            }
            None => format!(
                "runbook `{}` is a name, but no {} directory or repository (.git) was found above {} to hold {}/{}.md",
                alert.runbook,
                runbooks::RUNBOOK_DIR,
                path.display(),
                runbooks::RUNBOOK_DIR,
                alert.runbook
            ),
        };
        problems.push(Problem {
            line: locator.alert_field(index, Some("runbook")),
            column: None,
            alert: Some(alert.name.clone()),
            message,
        });
    }
    problems
}

/// Parses and validates a configuration held in memory.
///
/// ```
/// let err = treebeard_alerting::validate::parse("alerts:\n  - name: x\n    query: 1\n").unwrap_err();
/// assert_eq!(err.problems()[0].line, Some(2));
/// ```
pub fn parse(source: &str) -> Result<AlertingConfig, ConfigError> {
    let config: AlertingConfig = serde_yaml_ng::from_str(source).map_err(|e| {
        let location = e.location();
        ConfigError::Invalid(vec![Problem {
            line: location.as_ref().map(|l| l.line()),
            column: location.as_ref().map(|l| l.column()),
            alert: None,
            message: e.to_string(),
        }])
    })?;
    let problems = check(&config, Some(source));
    if problems.is_empty() {
        Ok(config)
    } else {
        Err(ConfigError::Invalid(problems))
    }
}

/// Checks the meaning of an already parsed configuration; `source`, when
/// given, is used to find line numbers.
pub fn check(config: &AlertingConfig, source: Option<&str>) -> Vec<Problem> {
    let locator = Locator::new(source.unwrap_or(""));
    let mut problems = Vec::new();
    if config.version != 1 {
        problems.push(Problem {
            line: locator.top_level("version"),
            column: None,
            alert: None,
            message: format!("unsupported version {} (only 1 exists)", config.version),
        });
    }
    if config.alerts.is_empty() {
        problems.push(Problem {
            line: locator.top_level("alerts"),
            column: None,
            alert: None,
            message: "no alerts defined".into(),
        });
    }
    let mut seen = HashSet::new();
    for (index, alert) in config.alerts.iter().enumerate() {
        let mut report = |field: Option<&str>, message: String| {
            problems.push(Problem {
                line: locator.alert_field(index, field),
                column: None,
                alert: Some(alert.name.clone()),
                message,
            });
        };
        if !seen.insert(alert.name.as_str()) {
            report(
                None,
                "duplicate alert name (names identify monitors)".into(),
            );
        }
        if alert.name.trim().is_empty() {
            report(Some("name"), "name is empty".into());
        }
        check_query(config, alert, &mut report);
        check_thresholds(alert, &mut report);
        check_options(config, alert, &mut report);
        if let Err(e) = config.notifications.check(alert.severity) {
            report(Some("severity"), e.to_string());
        }
        if !(runbooks::is_url(&alert.runbook) || runbooks::is_name(&alert.runbook)) {
            report(
                Some("runbook"),
                format!(
                    "runbook `{}` must be an http(s) link or the name of a runbook file {}/<name>.md (lower-case letters, digits, `-`, `_`)",
                    alert.runbook,
                    runbooks::RUNBOOK_DIR
                ),
            );
        }
        if alert.description.trim().is_empty() {
            report(Some("description"), "description is empty".into());
        }
        for tag in &alert.tags {
            if !tag.contains(':') || tag.contains(' ') {
                report(
                    Some("tags"),
                    format!("tag `{tag}` must look like `key:value`"),
                );
            }
        }
    }
    problems
}

fn check_query(
    config: &AlertingConfig,
    alert: &AlertRule,
    report: &mut impl FnMut(Option<&str>, String),
) {
    match query::metric_refs(&alert.query) {
        Ok(refs) => {
            for r in refs {
                if !metrics::is_known(&r.name, &config.namespace, &config.extra_metrics) {
                    report(
                        Some("query"),
                        format!(
                            "unknown metric `{}`: use a treebeard-conventions name under namespace `{}`, a documented agent metric, or list it in `extra_metrics`",
                            r.name, config.namespace
                        ),
                    );
                }
            }
        }
        Err(e) => report(Some("query"), e.to_string()),
    }
}

fn check_thresholds(alert: &AlertRule, report: &mut impl FnMut(Option<&str>, String)) {
    let t = alert.thresholds;
    if !t.critical.is_finite() {
        report(
            Some("critical"),
            "critical threshold must be a finite number".into(),
        );
    }
    if let Some(warning) = t.warning {
        let ordered = if alert.comparator.is_upper_bound() {
            warning < t.critical
        } else {
            warning > t.critical
        };
        if !ordered {
            report(
                Some("warning"),
                format!(
                    "warning threshold {warning} must trigger before critical {} with comparator `{}`",
                    t.critical,
                    alert.comparator.as_str()
                ),
            );
        }
    }
}

fn check_options(
    config: &AlertingConfig,
    alert: &AlertRule,
    report: &mut impl FnMut(Option<&str>, String),
) {
    let o = alert.effective_options(&config.defaults);
    if o.evaluation_window < 60
        || o.evaluation_window > MAX_EVALUATION_WINDOW
        || !o.evaluation_window.is_multiple_of(60)
    {
        report(
            Some("evaluation_window"),
            format!(
                "evaluation_window {} s must be whole minutes between 60 and {MAX_EVALUATION_WINDOW} s",
                o.evaluation_window
            ),
        );
    }
    if !o.renotify_interval.is_multiple_of(60) {
        report(
            Some("renotify_interval"),
            format!(
                "renotify_interval {} s must be whole minutes",
                o.renotify_interval
            ),
        );
    }
    if let Some(t) = o.no_data_timeframe
        && (t % 60 != 0 || t < 120)
    {
        report(
            Some("no_data_timeframe"),
            format!("no_data_timeframe {t} s must be whole minutes, at least 120 s"),
        );
    }
    if let Some(t) = o.auto_resolve
        && (t % 3600 != 0 || t == 0 || t > 24 * 3600)
    {
        report(
            Some("auto_resolve"),
            format!("auto_resolve {t} s must be whole hours between 3600 and 86400 s"),
        );
    }
    if !o.group_by.is_empty() && alert.query.contains(" by {") {
        report(
            Some("group_by"),
            "query already has a `by {...}` clause: use either group_by or the clause".into(),
        );
    }
}

/// Finds lines of fields in the YAML text without a span-aware parser.
struct Locator<'a> {
    lines: Vec<&'a str>,
}

impl<'a> Locator<'a> {
    fn new(source: &'a str) -> Self {
        Self {
            lines: source.lines().collect(),
        }
    }

    fn key_of(line: &str) -> Option<&str> {
        let t = line.trim_start().trim_start_matches("- ").trim_start();
        t.split_once(':').map(|(k, _)| k.trim())
    }

    fn top_level(&self, key: &str) -> Option<usize> {
        self.lines
            .iter()
            .position(|l| !l.starts_with(' ') && Self::key_of(l) == Some(key))
            .map(|i| i + 1)
    }

    /// Line of the `index`-th list item under `alerts:` (0-based lines).
    fn alert_start(&self, index: usize) -> Option<(usize, usize)> {
        let alerts = self.top_level("alerts")?;
        let mut count = 0;
        let mut indent = None;
        for (i, line) in self.lines.iter().enumerate().skip(alerts) {
            let trimmed = line.trim_start();
            if trimmed.is_empty() || trimmed.starts_with('#') {
                continue;
            }
            let this_indent = line.len() - trimmed.len();
            if this_indent == 0 {
                break;
            }
            if trimmed.starts_with("- ") && indent.is_none_or(|d| d == this_indent) {
                indent = Some(this_indent);
                if count == index {
                    return Some((i, this_indent));
                }
                count += 1;
            }
        }
        None
    }

    fn alert_field(&self, index: usize, field: Option<&str>) -> Option<usize> {
        let (start, indent) = self.alert_start(index)?;
        let Some(field) = field else {
            return Some(start + 1);
        };
        let mut end = self.lines.len();
        for (i, line) in self.lines.iter().enumerate().skip(start + 1) {
            let trimmed = line.trim_start();
            if !trimmed.is_empty() && line.len() - trimmed.len() <= indent {
                end = i;
                break;
            }
        }
        let block = || self.lines[start..end].iter().enumerate();
        // A key on its own line first, then one inside a flow mapping
        // (`thresholds: { critical: 2, warning: 3 }`).
        let inline = format!("{field}:");
        block()
            .find(|(_, l)| Self::key_of(l) == Some(field))
            .or_else(|| block().find(|(_, l)| l.contains(&inline)))
            .map(|(i, _)| start + i + 1)
            .or(Some(start + 1))
    }
}
