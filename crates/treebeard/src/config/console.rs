//! The local dev console: `TREEBEARD_DEV_CONSOLE`.

use super::reader::Reader;
use super::vars::*;

/// Requests the dev console keeps (the oldest is evicted first).
pub const DEFAULT_CONSOLE_CAPACITY: usize = 500;

/// Most bytes the dev console's kept requests may take (estimated: strings
/// and records), whatever their number: 8 MiB.
pub const DEFAULT_CONSOLE_MAX_BYTES: usize = 8 * 1024 * 1024;

/// `DD_ENV` values the dev console refuses to start in unless forced.
const PRODUCTION: &[&str] = &["prod", "production"];

/// The dev console settings ([`crate::config::Config::console`]).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ConsoleConfig {
    /// `TREEBEARD_DEV_CONSOLE` is `true` (or `force`): serve `/_treebeard`.
    pub enabled: bool,
    /// `TREEBEARD_DEV_CONSOLE=force`: enabled even with `DD_ENV=production`.
    pub forced: bool,
    /// Requests kept (code only, default [`DEFAULT_CONSOLE_CAPACITY`]).
    pub capacity: usize,
    /// Bytes kept (code only, default [`DEFAULT_CONSOLE_MAX_BYTES`]).
    pub max_bytes: usize,
}

impl Default for ConsoleConfig {
    /// Off.
    fn default() -> Self {
        Self {
            enabled: false,
            forced: false,
            capacity: DEFAULT_CONSOLE_CAPACITY,
            max_bytes: DEFAULT_CONSOLE_MAX_BYTES,
        }
    }
}

/// Reads `TREEBEARD_DEV_CONSOLE`; with `env` (`DD_ENV`) a production name,
/// anything but `false` or `force` is an error naming the variable.
pub(super) fn read_console(r: &mut Reader<'_>, env: Option<&str>) -> ConsoleConfig {
    let Some(raw) = r.raw(TREEBEARD_DEV_CONSOLE) else {
        return ConsoleConfig::default();
    };
    let lower = raw.to_ascii_lowercase();
    let (enabled, forced) = match lower.as_str() {
        "true" | "1" | "yes" | "on" => (true, false),
        "false" | "0" | "no" | "off" => (false, false),
        "force" => (true, true),
        _ => {
            r.invalid(
                TREEBEARD_DEV_CONSOLE,
                &raw,
                "true, false (also 1/0, yes/no, on/off) or force",
            );
            return ConsoleConfig::default();
        }
    };
    let production = env.is_some_and(|e| PRODUCTION.contains(&e.to_ascii_lowercase().as_str()));
    if enabled && !forced && production {
        r.invalid(
            TREEBEARD_DEV_CONSOLE,
            &raw,
            "false when DD_ENV is prod or production: the dev console shows every request's \
             spans, log lines and errors at /_treebeard; set TREEBEARD_DEV_CONSOLE=force to \
             run it there anyway",
        );
        return ConsoleConfig::default();
    }
    ConsoleConfig {
        enabled,
        forced,
        ..ConsoleConfig::default()
    }
}
