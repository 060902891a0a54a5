//! Runbook links: an alert's `runbook:` is either a full `http(s)` URL,
//! used as it is, or the name of a runbook kept in the repository as
//! `docs/runbooks/<name>.md`, turned into a link with a base URL
//! (`TREEBEARD_RUNBOOK_BASE_URL`).
//!
//! ```
//! use treebeard_alerting::runbooks::RunbookLinks;
//!
//! let default = RunbookLinks::from_env(&[("X", "")]);
//! assert_eq!(default.link("availability"), "docs/runbooks/availability.md");
//!
//! let repo = RunbookLinks::new("https://git.example/ops/treebeard/blob/main/docs/runbooks");
//! assert_eq!(
//!     repo.link("availability"),
//!     "https://git.example/ops/treebeard/blob/main/docs/runbooks/availability.md"
//! );
//! let site = RunbookLinks::new("https://runbooks.example/{name}");
//! assert_eq!(site.link("cpu"), "https://runbooks.example/cpu");
//! // A full URL is never rewritten.
//! assert_eq!(site.link("https://wiki.example/x"), "https://wiki.example/x");
//! ```

use std::path::{Path, PathBuf};

use crate::env::{self, ConfigSource};
use crate::rules::AlertingConfig;

/// Where the runbook files live, relative to the repository root.
pub const RUNBOOK_DIR: &str = "docs/runbooks";

/// The base of runbook links when `TREEBEARD_RUNBOOK_BASE_URL` is unset:
/// the files' path in the repository, relative to its root (there is no
/// web address every copy of the repository shares).
pub const DEFAULT_BASE_URL: &str = "docs/runbooks/";

/// The placeholder a base URL may hold for the runbook's name.
pub const NAME_PLACEHOLDER: &str = "{name}";

/// Whether `runbook` is a full link (`http://` or `https://`).
pub fn is_url(runbook: &str) -> bool {
    runbook.starts_with("https://") || runbook.starts_with("http://")
}

/// Whether `runbook` is a runbook name: lower-case ASCII letters, digits,
/// `-` and `_`, starting with a letter or digit (the file name of
/// `docs/runbooks/<name>.md` without its extension).
pub fn is_name(runbook: &str) -> bool {
    let mut chars = runbook.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
}

/// Turns runbook names into links.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunbookLinks {
    base: String,
}

impl Default for RunbookLinks {
    fn default() -> Self {
        Self::new(DEFAULT_BASE_URL)
    }
}

impl RunbookLinks {
    /// Links under `base`: `<base>/<name>.md`, or `base` with
    /// [`NAME_PLACEHOLDER`] replaced by the name when it holds one.
    pub fn new(base: impl Into<String>) -> Self {
        Self { base: base.into() }
    }

    /// The base from `TREEBEARD_RUNBOOK_BASE_URL`, else [`DEFAULT_BASE_URL`].
    pub fn from_env(source: &impl ConfigSource) -> Self {
        source
            .value(env::TREEBEARD_RUNBOOK_BASE_URL)
            .map_or_else(Self::default, Self::new)
    }

    /// The base in use.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// The link of `runbook`: a URL as it is, a name under the base.
    pub fn link(&self, runbook: &str) -> String {
        if is_url(runbook) {
            runbook.to_owned()
        } else if self.base.contains(NAME_PLACEHOLDER) {
            self.base.replace(NAME_PLACEHOLDER, runbook)
        } else if self.base.is_empty() {
            format!("{runbook}.md")
        } else {
            format!("{}/{runbook}.md", self.base.trim_end_matches('/'))
        }
    }

    /// Replaces every alert's runbook name by its link (URLs stay), so
    /// that monitors, notifications and digests carry links.
    pub fn resolve(&self, config: &mut AlertingConfig) {
        for alert in &mut config.alerts {
            alert.runbook = self.link(&alert.runbook);
        }
    }
}

/// The `docs/runbooks` directory of the repository holding `config_file`:
/// the nearest directory at or above the file's own that holds
/// `docs/runbooks/` or `.git`. `None` when there is neither.
pub fn dir_for(config_file: &Path) -> Option<PathBuf> {
    let absolute = std::path::absolute(config_file).ok()?;
    absolute
        .ancestors()
        .skip(1)
        .find(|dir| dir.join(RUNBOOK_DIR).is_dir() || dir.join(".git").exists())
        .map(|root| root.join(RUNBOOK_DIR))
}

/// The file of the runbook `name` in `dir`.
pub fn file(dir: &Path, name: &str) -> PathBuf {
    dir.join(format!("{name}.md"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_urls() {
        for name in ["availability", "error-rate", "p95_latency", "5xx"] {
            assert!(is_name(name), "{name}");
        }
        for bad in ["", "see wiki", "-x", "Cpu", "../x", "a/b", "x.md"] {
            assert!(!is_name(bad), "{bad}");
        }
        assert!(is_url("https://a.example/x") && is_url("http://a/x"));
        assert!(!is_url("docs/runbooks/x.md"));
    }

    #[test]
    fn links_from_env() {
        let links =
            RunbookLinks::from_env(&[("TREEBEARD_RUNBOOK_BASE_URL", "https://w.example/rb/")]);
        assert_eq!(links.link("cpu"), "https://w.example/rb/cpu.md");
        let blank = RunbookLinks::from_env(&[("TREEBEARD_RUNBOOK_BASE_URL", " ")]);
        assert_eq!(blank.base(), DEFAULT_BASE_URL);
        assert_eq!(RunbookLinks::new("").link("cpu"), "cpu.md");
        assert_eq!(
            RunbookLinks::new("https://w.example/?page={name}&v=1").link("cpu"),
            "https://w.example/?page=cpu&v=1"
        );
    }

    #[test]
    fn the_directory_is_found_above_the_file() {
        let root = tempfile::tempdir().unwrap();
        let infra = root.path().join("infrastructure");
        std::fs::create_dir_all(&infra).unwrap();
        let file = infra.join("alerting-config.yml");
        // The repository root (`.git`) when it has no docs/runbooks yet ...
        std::fs::create_dir(root.path().join(".git")).unwrap();
        assert_eq!(dir_for(&file), Some(root.path().join(RUNBOOK_DIR)));
        // ... and a nearer docs/runbooks first.
        std::fs::create_dir_all(infra.join(RUNBOOK_DIR)).unwrap();
        assert_eq!(dir_for(&file), Some(infra.join(RUNBOOK_DIR)));
    }
}
