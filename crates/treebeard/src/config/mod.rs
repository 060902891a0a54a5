//! Typed configuration, read from environment variables.
//!
//! Every variable is declared once in [`vars`]; [`Config::from_env`] reads
//! them all, and a value that is set but invalid is a [`ConfigError`] that
//! names the variable, shows the value (secrets redacted) and says what is
//! accepted. All invalid variables are reported together.
//!
//! Precedence is code > environment > default: a value given to a
//! [`ConfigBuilder`] `with_*` method wins over the environment.
//!
//! ```
//! use treebeard::config::{ApmProvider, Config};
//!
//! let config = Config::builder()
//!     .with_source([("DD_SERVICE", "billing"), ("APM_PROVIDER", "none")])
//!     .with_env("staging")
//!     .build()
//!     .unwrap();
//! assert_eq!(config.service, "billing");
//! assert_eq!(config.env.as_deref(), Some("staging"));
//! assert_eq!(config.apm.provider, ApmProvider::None);
//!
//! let err = Config::builder()
//!     .with_source([("DD_TRACE_SAMPLE_RATE", "2.0"), ("APM_PROVIDER", "foo")])
//!     .build()
//!     .unwrap_err();
//! assert_eq!(err.names().collect::<Vec<_>>(), ["APM_PROVIDER", "DD_TRACE_SAMPLE_RATE"]);
//! ```

mod apm;
mod console;
mod error;
mod header_tags;
mod metrics;
mod notifiers;
mod reader;
mod secret;
mod sentry;
mod source;
pub mod vars;

use std::fmt;
use std::str::FromStr;

pub use apm::{ApmConfig, ApmProvider, DEFAULT_BUFFER_MAX_BYTES, PropagationStyle, SamplingRule};
pub use console::{ConsoleConfig, DEFAULT_CONSOLE_CAPACITY, DEFAULT_CONSOLE_MAX_BYTES};
pub use error::{ConfigError, InvalidVariable};
pub use header_tags::HeaderTag;
pub use metrics::{
    DEFAULT_FLUSH_INTERVAL, DEFAULT_HISTOGRAM_RESERVOIR_SIZE, DEFAULT_SAMPLE_INTERVAL,
    DogStatsdTarget, MetricsBackend, MetricsConfig,
};
pub use notifiers::NotifierConfig;
pub use secret::Secret;
pub use sentry::SentryConfig;
pub use source::{ConfigSource, EnvSource};

use reader::Reader;
use vars::*;

/// The whole monitoring configuration.
///
/// Build it with [`Config::from_env`] or [`Config::builder`].
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Config {
    /// `MONITORING_ENABLED`: `false` makes every layer a pass-through.
    pub enabled: bool,
    /// `MONITORING_IGNORE_ROUTES`: route templates whose requests get no
    /// span and no request line (probes, scrapes); still a request ID, still
    /// panic-safe, still counted in the request metrics.
    pub ignore_routes: Vec<String>,
    /// `DD_SERVICE`.
    pub service: String,
    /// `DD_ENV`; `None` (unset) means no `env` tag anywhere, as in
    /// DataDog's own tracers, rather than a made-up environment.
    pub env: Option<String>,
    /// `DD_VERSION`.
    pub version: String,
    /// `DD_TAGS`, each `key:value` (or a bare value).
    pub tags: Vec<String>,
    /// `DD_LOGS_INJECTION`.
    pub logs_injection: bool,
    /// `RUST_LOG`, validated.
    pub log_filter: String,
    /// `DD_PROFILING_ENABLED` (unsupported: `true` only logs a warning).
    pub profiling_enabled: bool,
    /// Whether library errors capture backtraces, by std's rule:
    /// `RUST_LIB_BACKTRACE`, else `RUST_BACKTRACE`, set to anything but `0`.
    pub library_backtraces: bool,
    /// Trace settings.
    pub apm: ApmConfig,
    /// Metrics settings.
    pub metrics: MetricsConfig,
    /// Sentry settings.
    pub sentry: SentryConfig,
    /// Notifier credentials.
    pub notifiers: NotifierConfig,
    /// The local dev console (`TREEBEARD_DEV_CONSOLE`).
    pub console: ConsoleConfig,
}

impl Config {
    /// Reads the process environment. Same as `Config::builder().build()`.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::builder().build()
    }

    /// A builder whose `with_*` values take precedence over the environment.
    pub fn builder() -> ConfigBuilder {
        ConfigBuilder::default()
    }

    /// `DD_TAGS` as (key, value) pairs; a bare tag has an empty value.
    pub fn tag_pairs(&self) -> Vec<(String, String)> {
        self.tags
            .iter()
            .map(|tag| match tag.split_once(':') {
                Some((k, v)) => (k.to_owned(), v.to_owned()),
                None => (tag.clone(), String::new()),
            })
            .collect()
    }
}

/// Builds a [`Config`]: code values, then the source, then defaults.
#[derive(Default)]
#[must_use]
pub struct ConfigBuilder {
    source: Option<Box<dyn ConfigSource>>,
    enabled: Option<bool>,
    service: Option<String>,
    env: Option<String>,
    version: Option<String>,
    apm_provider: Option<ApmProvider>,
    metrics_backend: Option<MetricsBackend>,
    log_filter: Option<String>,
}

impl fmt::Debug for ConfigBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConfigBuilder")
            .field("enabled", &self.enabled)
            .field("service", &self.service)
            .field("env", &self.env)
            .field("version", &self.version)
            .finish_non_exhaustive()
    }
}

impl ConfigBuilder {
    /// Reads variables from `source` instead of the process environment.
    pub fn with_source(mut self, source: impl ConfigSource + 'static) -> Self {
        self.source = Some(Box::new(source));
        self
    }

    /// Overrides `MONITORING_ENABLED`.
    pub fn with_enabled(mut self, enabled: bool) -> Self {
        self.enabled = Some(enabled);
        self
    }

    /// Overrides `DD_SERVICE` (default `treebeard-api`).
    pub fn with_service(mut self, service: impl Into<String>) -> Self {
        self.service = Some(service.into());
        self
    }

    /// Overrides `DD_ENV` (default: unset, no `env` tag).
    pub fn with_env(mut self, env: impl Into<String>) -> Self {
        self.env = Some(env.into());
        self
    }

    /// Overrides `DD_VERSION` (default `0.0.0`).
    pub fn with_version(mut self, version: impl Into<String>) -> Self {
        self.version = Some(version.into());
        self
    }

    /// Overrides `APM_PROVIDER` (default `datadog`).
    pub fn with_apm_provider(mut self, provider: ApmProvider) -> Self {
        self.apm_provider = Some(provider);
        self
    }

    /// Overrides `METRICS_BACKEND` (default `datadog`).
    pub fn with_metrics_backend(mut self, backend: MetricsBackend) -> Self {
        self.metrics_backend = Some(backend);
        self
    }

    /// Overrides `RUST_LOG` (default `info`). Validated like the variable.
    pub fn with_log_filter(mut self, filter: impl Into<String>) -> Self {
        self.log_filter = Some(filter.into());
        self
    }

    /// Reads and validates every variable.
    pub fn build(mut self) -> Result<Config, ConfigError> {
        let source: &dyn ConfigSource = match &self.source {
            Some(source) => source.as_ref(),
            None => &EnvSource,
        };
        let mut r = Reader::new(source);

        let enabled = r.bool(MONITORING_ENABLED, true);
        let ignore_routes = r
            .parse(
                MONITORING_IGNORE_ROUTES,
                "route templates starting with `/`, separated by commas, or `none`",
                parse_ignore_routes,
            )
            .unwrap_or_else(|| {
                DEFAULT_IGNORE_ROUTES
                    .iter()
                    .map(|r| (*r).to_owned())
                    .collect()
            });
        let service = r.string(DD_SERVICE, "treebeard-api");
        // Code beats the environment here already: Sentry's environment
        // defaults to it.
        let env = self.env.take().or_else(|| r.raw(DD_ENV));
        let version = r.string(DD_VERSION, "0.0.0");
        let tags = read_tags(&mut r);
        let logs_injection = r.bool(DD_LOGS_INJECTION, true);
        let log_filter = r
            .parse(
                RUST_LOG,
                "a level (trace, debug, info, warn, error, off) or target=level directives separated by commas",
                |s| {
                    tracing_subscriber::filter::Targets::from_str(s)
                        .ok()
                        .map(|_| s.to_owned())
                },
            )
            .unwrap_or_else(|| "info".to_owned());
        let profiling_enabled = r.bool(DD_PROFILING_ENABLED, false);
        let library_backtraces = r
            .raw(RUST_LIB_BACKTRACE)
            .or_else(|| r.raw(RUST_BACKTRACE))
            .is_some_and(|v| v != "0");

        let apm = apm::read_apm(&mut r);
        let metrics = metrics::read_metrics(&mut r);
        let sentry = sentry::read_sentry(&mut r, env.as_deref(), &version);
        let notifiers = notifiers::read_notifiers(&mut r);
        let console = console::read_console(&mut r, env.as_deref());

        // Code values are validated too: a bad filter in code is as wrong as one in env.
        if let Some(filter) = &self.log_filter
            && tracing_subscriber::filter::Targets::from_str(filter).is_err()
        {
            r.invalid(RUST_LOG, filter, "a valid filter (set in code)");
        }

        if !r.invalid.is_empty() {
            return Err(ConfigError { invalid: r.invalid });
        }
        let mut config = Config {
            enabled: self.enabled.unwrap_or(enabled),
            ignore_routes,
            service: self.service.unwrap_or(service),
            env,
            version: self.version.unwrap_or(version),
            tags,
            logs_injection,
            log_filter: self.log_filter.unwrap_or(log_filter),
            profiling_enabled,
            library_backtraces,
            apm,
            metrics,
            sentry,
            notifiers,
            console,
        };
        if let Some(provider) = self.apm_provider {
            config.apm.provider = provider;
        }
        if let Some(backend) = self.metrics_backend {
            config.metrics.backend = backend;
        }
        Ok(config)
    }
}

fn read_tags(r: &mut Reader<'_>) -> Vec<String> {
    let expected = "tags as key:value separated by commas or spaces; a tag may not contain | or #";
    r.parse(DD_TAGS, expected, |s| {
        let tags: Vec<String> = s
            .split(|c: char| c == ',' || c.is_whitespace())
            .filter(|t| !t.is_empty())
            .map(str::to_owned)
            .collect();
        let valid = tags
            .iter()
            .all(|t| !t.contains(['|', '#']) && !t.starts_with(':'));
        valid.then_some(tags)
    })
    .unwrap_or_default()
}

/// Routes `MONITORING_IGNORE_ROUTES` leaves out by default: Kubernetes
/// probes and Prometheus scrapes, every few seconds per pod.
pub const DEFAULT_IGNORE_ROUTES: [&str; 2] = ["/health", "/metrics"];

/// `/health,/metrics` → the templates; `none` → none (trace everything).
fn parse_ignore_routes(value: &str) -> Option<Vec<String>> {
    if value.eq_ignore_ascii_case("none") {
        return Some(Vec::new());
    }
    value
        .split(',')
        .map(str::trim)
        .filter(|r| !r.is_empty())
        .map(|r| r.starts_with('/').then(|| r.to_owned()))
        .collect()
}

#[cfg(test)]
mod tests;
