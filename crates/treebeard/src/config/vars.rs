//! The registry of every environment variable the library reads.
//!
//! Reading goes through these constants only, and `docs/configuration.md`
//! is checked against [`VARIABLES`] by a test, so the docs cannot drift.

/// One environment variable: its name, default and meaning.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Variable {
    /// The variable's name, such as `DD_SERVICE`.
    pub name: &'static str,
    /// The default, as documented (`None`: unset means off or absent).
    pub default: Option<&'static str>,
    /// What it does and what it accepts.
    pub meaning: &'static str,
    /// Whether its value is a secret: errors never print it.
    pub secret: bool,
}

macro_rules! variables {
    ($( $(#[$doc:meta])* $ident:ident = $name:literal, default: $default:expr, secret: $secret:expr, $meaning:literal; )*) => {
        $(
            $(#[$doc])*
            pub const $ident: Variable = Variable {
                name: $name,
                default: $default,
                meaning: $meaning,
                secret: $secret,
            };
        )*
        /// Every variable, in documentation order.
        pub const VARIABLES: &[Variable] = &[$($ident),*];
    };
}

variables! {
    /// Master switch.
    MONITORING_ENABLED = "MONITORING_ENABLED", default: Some("true"), secret: false,
        "`false` turns every layer into a pass-through and starts no exporter; JSON logging stays on.";
    /// Service name.
    DD_SERVICE = "DD_SERVICE", default: Some("treebeard-api"), secret: false,
        "Service name on spans, logs (`dd.service`), metrics (`service` tag) and Sentry events.";
    /// Deployment environment.
    DD_ENV = "DD_ENV", default: Some("development"), secret: false,
        "Deployment environment on spans, logs (`dd.env`) and metrics (`env` tag).";
    /// Service version.
    DD_VERSION = "DD_VERSION", default: Some("0.0.0"), secret: false,
        "Service version on spans, logs (`dd.version`) and metrics (`version` tag); default Sentry release.";
    /// Extra tags.
    DD_TAGS = "DD_TAGS", default: None, secret: false,
        "Constant tags for every span and metric: `key:value` pairs separated by commas or spaces.";
    /// Log correlation.
    DD_LOGS_INJECTION = "DD_LOGS_INJECTION", default: Some("true"), secret: false,
        "Adds `dd.trace_id`, `dd.span_id`, `dd.service`, `dd.env`, `dd.version` at the root of every JSON log line.";
    /// Log filter.
    RUST_LOG = "RUST_LOG", default: Some("info"), secret: false,
        "Log filter: a level (`info`) or `target=level` directives separated by commas (`info,hyper=warn`).";
    /// Backtraces (read by std).
    RUST_BACKTRACE = "RUST_BACKTRACE", default: None, secret: false,
        "Read by Rust's standard library: `1` or `full` gives panics a backtrace, and library errors too unless `RUST_LIB_BACKTRACE=0`. With `APM_PROVIDER=datadog-otel`, `init` warns when library errors would capture backtraces (see `RUST_LIB_BACKTRACE`).";
    /// Library-error backtraces (read by std).
    RUST_LIB_BACKTRACE = "RUST_LIB_BACKTRACE", default: None, secret: false,
        "Read by Rust's standard library: whether errors (`std::backtrace`, `anyhow`) capture a backtrace, overriding `RUST_BACKTRACE` for them. Set `0` in production when `RUST_BACKTRACE` is set and `APM_PROVIDER=datadog-otel`: dd-trace-rs's connection errors would otherwise each capture one, and logging the first loads the binary's debug info for good (+126 MB RSS measured).";
    /// APM backend.
    APM_PROVIDER = "APM_PROVIDER", default: Some("datadog"), secret: false,
        "Where spans go: `datadog` (the DataDog agent, spans made and sent by treebeard), `datadog-otel` (the DataDog agent through OpenTelemetry and DataDog's dd-trace-rs), `otlp` (an OpenTelemetry collector) or `none`.";
    /// Tracing switch.
    DD_TRACE_ENABLED = "DD_TRACE_ENABLED", default: Some("true"), secret: false,
        "`false` exports no spans, whatever `APM_PROVIDER` says.";
    /// Agent host.
    DD_AGENT_HOST = "DD_AGENT_HOST", default: Some("localhost"), secret: false,
        "Host of the DataDog agent, for traces and DogStatsD.";
    /// Agent trace port.
    DD_TRACE_AGENT_PORT = "DD_TRACE_AGENT_PORT", default: Some("8126"), secret: false,
        "Trace port of the DataDog agent (1-65535).";
    /// Agent URL.
    DD_TRACE_AGENT_URL = "DD_TRACE_AGENT_URL", default: None, secret: false,
        "Full trace-agent URL (`http://host:port` or `unix:///path/apm.socket`; `https://` only with `APM_PROVIDER=datadog-otel`); overrides `DD_AGENT_HOST` and `DD_TRACE_AGENT_PORT`.";
    /// Trace sample rate.
    DD_TRACE_SAMPLE_RATE = "DD_TRACE_SAMPLE_RATE", default: Some("1.0"), secret: false,
        "Share of traces kept, from 0.0 to 1.0.";
    /// Trace rate limit.
    DD_TRACE_RATE_LIMIT = "DD_TRACE_RATE_LIMIT", default: Some("100"), secret: false,
        "Most traces kept per second by `DD_TRACE_SAMPLE_RATE` and `DD_TRACE_SAMPLING_RULES` (1 to 2147483647); traces over it are not kept, but still count in DataDog's trace metrics.";
    /// Sampling rules.
    DD_TRACE_SAMPLING_RULES = "DD_TRACE_SAMPLING_RULES", default: None, secret: false,
        "JSON array of rules `{\"sample_rate\": 0.1, \"service\": \"..\", \"name\": \"..\", \"resource\": \"..\", \"tags\": {..}}`; the first match sets a trace's rate (glob patterns `*` and `?`), `DD_TRACE_SAMPLE_RATE` applies otherwise.";
    /// Propagation styles.
    DD_TRACE_PROPAGATION_STYLE = "DD_TRACE_PROPAGATION_STYLE", default: Some("datadog,tracecontext"), secret: false,
        "Trace-context header formats read and written, in order: `datadog`, `tracecontext`, `b3` (single header), `b3multi`, or `none`.";
    /// Profiling (unsupported).
    DD_PROFILING_ENABLED = "DD_PROFILING_ENABLED", default: Some("false"), secret: false,
        "Accepted for compatibility; continuous profiling is not supported in Rust, so `true` logs one warning.";
    /// OTLP endpoint.
    OTEL_EXPORTER_OTLP_ENDPOINT = "OTEL_EXPORTER_OTLP_ENDPOINT", default: Some("http://localhost:4318"), secret: false,
        "OTLP/HTTP collector base URL used when `APM_PROVIDER=otlp`.";
    /// Metrics backend.
    METRICS_BACKEND = "METRICS_BACKEND", default: Some("datadog"), secret: false,
        "Where metrics go: `datadog` (DogStatsD; `statsd` is an alias), `prometheus` or `none`.";
    /// DogStatsD port.
    DD_DOGSTATSD_PORT = "DD_DOGSTATSD_PORT", default: Some("8125"), secret: false,
        "DogStatsD UDP port on `DD_AGENT_HOST` (1-65535).";
    /// DogStatsD URL.
    DD_DOGSTATSD_URL = "DD_DOGSTATSD_URL", default: None, secret: false,
        "Full DogStatsD address (`udp://host:port` or `unix:///path/dsd.socket`); overrides `DD_AGENT_HOST` and `DD_DOGSTATSD_PORT`.";
    /// Metric namespace.
    METRICS_NAMESPACE = "METRICS_NAMESPACE", default: Some("treebeard"), secret: false,
        "Prefix of every metric name (`<namespace>.<component>.<metric>`): letters, digits, `_` and `.`, starting with a letter (set it to an empty string in code for no prefix).";
    /// DogStatsD flush interval.
    METRICS_FLUSH_INTERVAL = "METRICS_FLUSH_INTERVAL", default: Some("3s"), secret: false,
        "How often aggregated DogStatsD metrics are sent (`500ms`, `3s`, `1m`; from 10ms to 1h).";
    /// Histogram memory bound.
    METRICS_HISTOGRAM_RESERVOIR = "METRICS_HISTOGRAM_RESERVOIR", default: Some("1024"), secret: false,
        "Values kept per DogStatsD histogram between two flushes (1-65536, about 16 bytes each); beyond it values are sampled and sent with `|@rate`. `1` sends one value per line, for plain StatsD servers that reject multi-value lines.";
    /// Sentry DSN.
    SENTRY_DSN = "SENTRY_DSN", default: None, secret: true,
        "Sentry project DSN (`https://<key>@<host>/<project id>`); unset turns Sentry off.";
    /// Sentry environment.
    SENTRY_ENVIRONMENT = "SENTRY_ENVIRONMENT", default: Some("the value of DD_ENV"), secret: false,
        "Environment on Sentry events.";
    /// Sentry release.
    SENTRY_RELEASE = "SENTRY_RELEASE", default: Some("the value of DD_VERSION"), secret: false,
        "Release on Sentry events.";
    /// Sentry transactions.
    SENTRY_TRACES_SAMPLE_RATE = "SENTRY_TRACES_SAMPLE_RATE", default: Some("0.0"), secret: false,
        "Share of requests sent to Sentry as performance transactions, from 0.0 to 1.0.";
    /// Statuses reported to Sentry.
    SENTRY_FAILED_REQUEST_STATUS_CODES = "SENTRY_FAILED_REQUEST_STATUS_CODES", default: Some("500-599"), secret: false,
        "Response statuses captured as Sentry events: codes and ranges separated by commas (`500-599`, `500,502-504`), or `none`.";
    /// Sentry PII opt-in.
    SENTRY_SEND_DEFAULT_PII = "SENTRY_SEND_DEFAULT_PII", default: Some("false"), secret: false,
        "`true` adds the user's e-mail and name (from `treebeard::sentry::set_user`) to Sentry events; the PII scrubber still runs on everything else.";
    /// Key for anonymised user IDs.
    SENTRY_USER_HASH_KEY = "SENTRY_USER_HASH_KEY", default: None, secret: true,
        "Secret key of the keyed hash that anonymises user IDs on Sentry events; unset: a random key per process (IDs change on restart).";
    /// PagerDuty integration key.
    PAGERDUTY_INTEGRATION_KEY = "PAGERDUTY_INTEGRATION_KEY", default: None, secret: true,
        "PagerDuty service integration key (used in monitor notification handles).";
    /// PagerDuty routing key.
    PAGERDUTY_ROUTING_KEY = "PAGERDUTY_ROUTING_KEY", default: None, secret: true,
        "PagerDuty Events API v2 routing key for critical alerts.";
    /// Slack webhook.
    SLACK_WEBHOOK_URL = "SLACK_WEBHOOK_URL", default: None, secret: true,
        "Slack incoming-webhook URL for warning and informational alerts.";
    /// Slack bot token.
    SLACK_BOT_TOKEN = "SLACK_BOT_TOKEN", default: None, secret: true,
        "Slack bot token (`xoxb-...`), an alternative to the webhook.";
}
