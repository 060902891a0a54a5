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
//! assert_eq!(config.env, "staging");
//! assert_eq!(config.apm.provider, ApmProvider::None);
//!
//! let err = Config::builder()
//!     .with_source([("DD_TRACE_SAMPLE_RATE", "2.0"), ("APM_PROVIDER", "foo")])
//!     .build()
//!     .unwrap_err();
//! assert_eq!(err.names().collect::<Vec<_>>(), ["APM_PROVIDER", "DD_TRACE_SAMPLE_RATE"]);
//! ```

mod error;
mod reader;
mod source;
pub mod vars;

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

pub use error::{ConfigError, InvalidVariable};
pub use source::{ConfigSource, EnvSource};

use reader::Reader;
use vars::*;

/// Where spans are exported.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ApmProvider {
    /// The DataDog agent, spans made and sent by treebeard
    /// (`APM_PROVIDER=datadog`, the default).
    Datadog,
    /// The DataDog agent through OpenTelemetry and DataDog's dd-trace-rs
    /// (`APM_PROVIDER=datadog-otel`).
    DatadogOtel,
    /// An OpenTelemetry collector over OTLP/HTTP (`APM_PROVIDER=otlp`).
    Otlp,
    /// No span export (`APM_PROVIDER=none`).
    None,
}

impl ApmProvider {
    /// Every provider, in the order the error message lists them.
    const ALL: [Self; 4] = [Self::Datadog, Self::DatadogOtel, Self::Otlp, Self::None];

    /// The `APM_PROVIDER` value, which is also the cargo feature it needs.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Datadog => "datadog",
            Self::DatadogOtel => "datadog-otel",
            Self::Otlp => "otlp",
            Self::None => "none",
        }
    }
}

/// Where metrics are exported.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum MetricsBackend {
    /// DogStatsD over UDP or a Unix socket (`METRICS_BACKEND=datadog` or `statsd`).
    DogStatsd,
    /// A Prometheus scrape endpoint (`METRICS_BACKEND=prometheus`).
    Prometheus,
    /// No metrics (`METRICS_BACKEND=none`).
    None,
}

/// A trace-context header format (`DD_TRACE_PROPAGATION_STYLE`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum PropagationStyle {
    /// `x-datadog-trace-id`, `x-datadog-parent-id`, ...
    Datadog,
    /// W3C `traceparent` and `tracestate`.
    TraceContext,
    /// B3 single header (`b3`).
    B3,
    /// B3 multiple headers (`x-b3-traceid`, ...).
    B3Multi,
}

/// One trace sampling rule (`DD_TRACE_SAMPLING_RULES`), as DataDog's tracers
/// define it: the first rule whose patterns all match a trace's root span
/// sets the trace's sample rate.
#[derive(Debug, Clone, PartialEq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct SamplingRule {
    /// Share of matching traces kept, 0.0 to 1.0.
    pub sample_rate: f64,
    /// Glob pattern for the service.
    #[serde(default)]
    pub service: Option<String>,
    /// Glob pattern for the operation name.
    #[serde(default)]
    pub name: Option<String>,
    /// Glob pattern for the resource.
    #[serde(default)]
    pub resource: Option<String>,
    /// Tags that must match (values are glob patterns).
    #[serde(default)]
    pub tags: std::collections::BTreeMap<String, String>,
}

/// Where DogStatsD datagrams are sent.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum DogStatsdTarget {
    /// A UDP host and port.
    Udp {
        /// Host name or IP address.
        host: String,
        /// UDP port.
        port: u16,
    },
    /// A Unix datagram socket.
    Unix(PathBuf),
}

/// A secret value: `Debug` and `Display` never show it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The secret itself, for the code that must send it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret([redacted])")
    }
}

/// Trace (APM) settings.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct ApmConfig {
    /// Where spans go (`APM_PROVIDER`).
    pub provider: ApmProvider,
    /// `DD_TRACE_ENABLED`: `false` exports nothing.
    pub enabled: bool,
    /// The trace agent (`DD_TRACE_AGENT_URL`, or `DD_AGENT_HOST` + `DD_TRACE_AGENT_PORT`).
    pub agent_url: url::Url,
    /// `DD_TRACE_SAMPLE_RATE`, 0.0 to 1.0.
    pub sample_rate: f64,
    /// `DD_TRACE_RATE_LIMIT`: most traces per second the sample rate and
    /// rules keep (default 100, DataDog's); traces over it are dropped.
    pub rate_limit: u32,
    /// `DD_TRACE_SAMPLING_RULES`, in order.
    pub sampling_rules: Vec<SamplingRule>,
    /// `DD_TRACE_PROPAGATION_STYLE`, in order.
    pub propagation: Vec<PropagationStyle>,
    /// `OTEL_EXPORTER_OTLP_ENDPOINT`.
    pub otlp_endpoint: url::Url,
}

/// Metrics settings.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct MetricsConfig {
    /// Where metrics go (`METRICS_BACKEND`).
    pub backend: MetricsBackend,
    /// The DogStatsD address (`DD_DOGSTATSD_URL`, or `DD_AGENT_HOST` + `DD_DOGSTATSD_PORT`).
    pub dogstatsd: DogStatsdTarget,
    /// Prefix of every metric name (`METRICS_NAMESPACE`, default `treebeard`).
    pub namespace: String,
    /// How often DogStatsD metrics are flushed (`METRICS_FLUSH_INTERVAL`, default 3 s).
    pub flush_interval: std::time::Duration,
    /// How often resource and runtime metrics are sampled (code only, default 10 s).
    pub sample_interval: std::time::Duration,
    /// Whether process gauges (CPU, memory, fds, threads) are sampled (code
    /// only, default true). Runtime gauges are sampled either way.
    pub process_metrics: bool,
    /// Values kept per histogram between two flushes
    /// (`METRICS_HISTOGRAM_RESERVOIR`, default 1024, about 16 KiB per
    /// histogram); beyond it values are sampled.
    pub histogram_reservoir_size: usize,
}

/// Sentry settings.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct SentryConfig {
    /// `SENTRY_DSN`, validated; `None` turns Sentry off.
    pub dsn: Option<Secret>,
    /// `SENTRY_ENVIRONMENT` (default: `DD_ENV`).
    pub environment: String,
    /// `SENTRY_RELEASE` (default: `DD_VERSION`).
    pub release: String,
    /// `SENTRY_TRACES_SAMPLE_RATE`, 0.0 to 1.0.
    pub traces_sample_rate: f64,
    /// `SENTRY_FAILED_REQUEST_STATUS_CODES`: responses captured as events
    /// (default `500..=599`; empty: none).
    pub failed_request_status_codes: Vec<std::ops::RangeInclusive<u16>>,
    /// `SENTRY_SEND_DEFAULT_PII`: send the user's e-mail and name.
    pub send_default_pii: bool,
    /// `SENTRY_USER_HASH_KEY`: key of the user-ID hash.
    pub user_hash_key: Option<Secret>,
}

/// Alert notifier credentials.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct NotifierConfig {
    /// `PAGERDUTY_INTEGRATION_KEY`.
    pub pagerduty_integration_key: Option<Secret>,
    /// `PAGERDUTY_ROUTING_KEY`.
    pub pagerduty_routing_key: Option<Secret>,
    /// `SLACK_WEBHOOK_URL`.
    pub slack_webhook_url: Option<Secret>,
    /// `SLACK_BOT_TOKEN`.
    pub slack_bot_token: Option<Secret>,
}

/// The whole monitoring configuration.
///
/// Build it with [`Config::from_env`] or [`Config::builder`].
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Config {
    /// `MONITORING_ENABLED`: `false` makes every layer a pass-through.
    pub enabled: bool,
    /// `DD_SERVICE`.
    pub service: String,
    /// `DD_ENV`.
    pub env: String,
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

    /// Overrides `DD_ENV` (default `development`).
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
    pub fn build(self) -> Result<Config, ConfigError> {
        let source: &dyn ConfigSource = match &self.source {
            Some(source) => source.as_ref(),
            None => &EnvSource,
        };
        let mut r = Reader::new(source);

        let enabled = r.bool(MONITORING_ENABLED, true);
        let service = r.string(DD_SERVICE, "treebeard-api");
        let env = r.string(DD_ENV, "development");
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

        let apm = read_apm(&mut r);
        let metrics = read_metrics(&mut r);
        let sentry = read_sentry(&mut r, &env, &version);
        let notifiers = read_notifiers(&mut r);

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
            service: self.service.unwrap_or(service),
            env: self.env.unwrap_or(env),
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

fn parse_host(s: &str) -> Option<String> {
    if s.parse::<std::net::IpAddr>().is_ok()
        || url::Host::parse(s).is_ok() && !s.contains([':', '/', '@'])
    {
        Some(s.to_owned())
    } else {
        None
    }
}

fn read_apm(r: &mut Reader<'_>) -> ApmConfig {
    let provider = r.choice(
        APM_PROVIDER,
        &ApmProvider::ALL.map(|p| (p.as_str(), p)),
        ApmProvider::Datadog,
    );
    let enabled = r.bool(DD_TRACE_ENABLED, true);
    let host = r
        .parse(
            DD_AGENT_HOST,
            "a host name or IP address, without scheme or port",
            parse_host,
        )
        .unwrap_or_else(|| "localhost".to_owned());
    let port = r.port(DD_TRACE_AGENT_PORT, 8126);
    let agent_url = r
        .url(DD_TRACE_AGENT_URL, &["http", "https", "unix"])
        .or_else(|| url::Url::parse(&format!("http://{}:{port}", bracket_ipv6(&host))).ok())
        .unwrap_or_else(|| const_url("http://localhost:8126"));
    let sample_rate = r.rate(DD_TRACE_SAMPLE_RATE, 1.0);
    let rate_limit = r
        .parse(
            DD_TRACE_RATE_LIMIT,
            "a whole number of traces per second from 1 to 2147483647",
            |s| {
                u32::from_str(s)
                    .ok()
                    .filter(|n| (1..=i32::MAX as u32).contains(n))
            },
        )
        .unwrap_or(100);
    let sampling_rules = r
        .parse(
            DD_TRACE_SAMPLING_RULES,
            "a JSON array of objects with sample_rate (0.0 to 1.0) and optional service, name, resource, tags",
            parse_sampling_rules,
        )
        .unwrap_or_default();
    let propagation = r
        .parse(
            DD_TRACE_PROPAGATION_STYLE,
            "a comma-separated list of datadog, tracecontext, b3, b3multi, or none",
            parse_propagation,
        )
        .unwrap_or_else(|| vec![PropagationStyle::Datadog, PropagationStyle::TraceContext]);
    let otlp_endpoint = r
        .url(OTEL_EXPORTER_OTLP_ENDPOINT, &["http", "https"])
        .unwrap_or_else(|| const_url("http://localhost:4318"));
    ApmConfig {
        provider,
        enabled,
        agent_url,
        sample_rate,
        rate_limit,
        sampling_rules,
        propagation,
        otlp_endpoint,
    }
}

/// Parses a URL literal of this module: never input, so it cannot fail.
#[allow(clippy::expect_used)]
fn const_url(literal: &'static str) -> url::Url {
    url::Url::parse(literal).expect("URL literals of the config module are valid")
}

fn bracket_ipv6(host: &str) -> String {
    if host.parse::<std::net::Ipv6Addr>().is_ok() {
        format!("[{host}]")
    } else {
        host.to_owned()
    }
}

fn parse_sampling_rules(s: &str) -> Option<Vec<SamplingRule>> {
    let rules: Vec<SamplingRule> = serde_json::from_str(s).ok()?;
    rules
        .iter()
        .all(|r| r.sample_rate.is_finite() && (0.0..=1.0).contains(&r.sample_rate))
        .then_some(rules)
}

fn parse_propagation(s: &str) -> Option<Vec<PropagationStyle>> {
    let mut styles = Vec::new();
    for name in s.split(',').map(str::trim).filter(|n| !n.is_empty()) {
        let style = match name.to_ascii_lowercase().as_str() {
            "datadog" => PropagationStyle::Datadog,
            "tracecontext" => PropagationStyle::TraceContext,
            "b3" | "b3 single header" => PropagationStyle::B3,
            "b3multi" => PropagationStyle::B3Multi,
            "none" => continue,
            _ => return None,
        };
        if !styles.contains(&style) {
            styles.push(style);
        }
    }
    Some(styles)
}

fn read_metrics(r: &mut Reader<'_>) -> MetricsConfig {
    let backend = r.choice(
        METRICS_BACKEND,
        &[
            ("datadog", MetricsBackend::DogStatsd),
            ("statsd", MetricsBackend::DogStatsd),
            ("dogstatsd", MetricsBackend::DogStatsd),
            ("prometheus", MetricsBackend::Prometheus),
            ("none", MetricsBackend::None),
        ],
        MetricsBackend::DogStatsd,
    );
    let host = r
        .raw(DD_AGENT_HOST)
        .and_then(|h| parse_host(&h))
        .unwrap_or_else(|| "localhost".to_owned());
    let port = r.port(DD_DOGSTATSD_PORT, 8125);
    let dogstatsd = r
        .parse(
            DD_DOGSTATSD_URL,
            "udp://host:port or unix:///path/to/dsd.socket",
            parse_dogstatsd_url,
        )
        .unwrap_or(DogStatsdTarget::Udp { host, port });
    let namespace = r
        .parse(
            METRICS_NAMESPACE,
            "letters, digits, _ and . starting with a letter",
            |s| crate::metrics::valid_namespace(s).then(|| s.to_owned()),
        )
        .unwrap_or_else(|| treebeard_conventions::DEFAULT_NAMESPACE.to_owned());
    let flush_interval = r
        .parse(
            METRICS_FLUSH_INTERVAL,
            "a duration from 10ms to 1h, such as 500ms, 3s or 1m",
            |s| {
                humantime::parse_duration(s).ok().filter(|d| {
                    (std::time::Duration::from_millis(10)..=std::time::Duration::from_secs(3600))
                        .contains(d)
                })
            },
        )
        .unwrap_or(crate::metrics::DEFAULT_FLUSH_INTERVAL);
    let histogram_reservoir_size = r
        .parse(
            METRICS_HISTOGRAM_RESERVOIR,
            "a number from 1 to 65536",
            |s| s.parse::<usize>().ok().filter(|n| (1..=65536).contains(n)),
        )
        .unwrap_or(crate::metrics::DEFAULT_HISTOGRAM_RESERVOIR_SIZE);
    MetricsConfig {
        backend,
        dogstatsd,
        namespace,
        flush_interval,
        sample_interval: crate::metrics::DEFAULT_SAMPLE_INTERVAL,
        process_metrics: true,
        histogram_reservoir_size,
    }
}

fn parse_dogstatsd_url(s: &str) -> Option<DogStatsdTarget> {
    let url = url::Url::parse(s).ok()?;
    match url.scheme() {
        "udp" => Some(DogStatsdTarget::Udp {
            host: url.host_str()?.trim_matches(['[', ']']).to_owned(),
            port: url.port().filter(|p| *p != 0).unwrap_or(8125),
        }),
        "unix" if !url.path().is_empty() && url.path() != "/" => {
            Some(DogStatsdTarget::Unix(PathBuf::from(url.path())))
        }
        _ => None,
    }
}

fn read_sentry(r: &mut Reader<'_>, env: &str, version: &str) -> SentryConfig {
    let dsn = r.parse(
        SENTRY_DSN,
        "a Sentry DSN like https://<public key>@<host>/<project id>",
        |s| sentry_types::Dsn::from_str(s).ok().map(|_| Secret::new(s)),
    );
    SentryConfig {
        dsn,
        environment: r.string(SENTRY_ENVIRONMENT, env),
        release: r.string(SENTRY_RELEASE, version),
        traces_sample_rate: r.rate(SENTRY_TRACES_SAMPLE_RATE, 0.0),
        failed_request_status_codes: r
            .parse(
                SENTRY_FAILED_REQUEST_STATUS_CODES,
                "HTTP status codes (100-599) and ranges separated by commas, like 500-599 or 500,502-504, or none",
                parse_status_ranges,
            )
            .unwrap_or_else(|| vec![500..=599]),
        send_default_pii: r.bool(SENTRY_SEND_DEFAULT_PII, false),
        user_hash_key: r.parse(SENTRY_USER_HASH_KEY, "a non-empty secret", |s| {
            Some(Secret::new(s))
        }),
    }
}

/// `500-599`, `500,502-504` or `none`.
fn parse_status_ranges(s: &str) -> Option<Vec<std::ops::RangeInclusive<u16>>> {
    if s.eq_ignore_ascii_case("none") {
        return Some(Vec::new());
    }
    let code = |c: &str| {
        c.trim()
            .parse::<u16>()
            .ok()
            .filter(|c| (100..=599).contains(c))
    };
    s.split(',')
        .map(|part| match part.split_once('-') {
            Some((lo, hi)) => Some(code(lo)?..=code(hi)?).filter(|r| !r.is_empty()),
            None => code(part).map(|c| c..=c),
        })
        .collect()
}

fn read_notifiers(r: &mut Reader<'_>) -> NotifierConfig {
    let key = |s: &str| (!s.contains(char::is_whitespace)).then(|| Secret::new(s));
    NotifierConfig {
        pagerduty_integration_key: r.parse(
            PAGERDUTY_INTEGRATION_KEY,
            "a PagerDuty integration key without spaces",
            key,
        ),
        pagerduty_routing_key: r.parse(
            PAGERDUTY_ROUTING_KEY,
            "a PagerDuty routing key without spaces",
            key,
        ),
        slack_webhook_url: r.parse(SLACK_WEBHOOK_URL, "an https:// webhook URL", |s| {
            url::Url::parse(s)
                .ok()
                .filter(|u| matches!(u.scheme(), "https" | "http") && u.has_host())
                .map(|_| Secret::new(s))
        }),
        slack_bot_token: r.parse(
            SLACK_BOT_TOKEN,
            "a Slack token starting with xoxb- (or xoxp-)",
            |s| (s.starts_with("xox") && !s.contains(char::is_whitespace)).then(|| Secret::new(s)),
        ),
    }
}

#[cfg(test)]
mod tests;
