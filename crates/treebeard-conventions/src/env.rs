//! The registry of every environment variable TreeBeard reads (the
//! library, the CLI and the notifiers), and the source they are read from.
//!
//! Every reader goes through [`ConfigSource`], so tests pass a map instead
//! of mutating the process environment, and [`EnvSource`] is the one place
//! that reads the process environment. `docs/configuration.md` is checked
//! against [`VARIABLES`] by a test, so the docs cannot drift.

use std::collections::{BTreeMap, HashMap};
use std::hash::BuildHasher;

/// Which part of TreeBeard reads a variable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ReadBy {
    /// The `treebeard` library (`Config::from_env`), in every service.
    Library,
    /// The `treebeard` command and the notifiers of `treebeard-alerting`.
    Cli,
    /// Both: the library checks them at start-up, the notifiers send with them.
    Both,
}

impl ReadBy {
    /// How docs/configuration.md names it.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Library => "library",
            Self::Cli => "CLI, notifiers",
            Self::Both => "library, CLI, notifiers",
        }
    }
}

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
    /// Who reads it.
    pub read_by: ReadBy,
}

/// Default host of the DataDog agent (`DD_AGENT_HOST`).
pub const DEFAULT_AGENT_HOST: &str = "localhost";

/// Default trace port of the DataDog agent (`DD_TRACE_AGENT_PORT`).
pub const DEFAULT_TRACE_AGENT_PORT: u16 = 8126;

/// Default DogStatsD port of the DataDog agent (`DD_DOGSTATSD_PORT`).
pub const DEFAULT_DOGSTATSD_PORT: u16 = 8125;

/// Default DataDog site (`DD_SITE`).
pub const DEFAULT_DD_SITE: &str = "datadoghq.com";

macro_rules! variables {
    ($( $(#[$doc:meta])* $ident:ident = $name:literal, default: $default:expr, secret: $secret:expr, read_by: $read_by:ident, $meaning:literal; )*) => {
        $(
            $(#[$doc])*
            pub const $ident: Variable = Variable {
                name: $name,
                default: $default,
                meaning: $meaning,
                secret: $secret,
                read_by: ReadBy::$read_by,
            };
        )*
        /// Every variable, in documentation order.
        pub const VARIABLES: &[Variable] = &[$($ident),*];
    };
}

variables! {
    /// Master switch.
    MONITORING_ENABLED = "MONITORING_ENABLED", default: Some("true"), secret: false, read_by: Library,
        "`false` turns every layer into a pass-through and starts no exporter; JSON logging stays on.";
    /// Routes left out of tracing.
    MONITORING_IGNORE_ROUTES = "MONITORING_IGNORE_ROUTES", default: Some("/health,/metrics"), secret: false, read_by: Library,
        "Route templates (as axum matches them, such as `/health` or `/internal/{job}`) whose requests get no span, no request line and no Sentry transaction: probes and scrapes. They still get a request ID, are still panic-safe and are still counted in the request metrics. `none` traces every route (blank means unset: the default).";
    /// Service name.
    DD_SERVICE = "DD_SERVICE", default: Some("treebeard-api"), secret: false, read_by: Both,
        "Service name on spans, logs (`dd.service`), metrics (`service` tag) and Sentry events.";
    /// Deployment environment.
    DD_ENV = "DD_ENV", default: None, secret: false, read_by: Both,
        "Deployment environment on spans, logs (`dd.env`) and metrics (`env` tag); unset means no `env` tag at all, as in DataDog's tracers (`treebeard doctor` warns). `make run` sets `local`.";
    /// Service version.
    DD_VERSION = "DD_VERSION", default: Some("0.0.0"), secret: false, read_by: Both,
        "Service version on spans, logs (`dd.version`) and metrics (`version` tag); default Sentry release.";
    /// Extra tags.
    DD_TAGS = "DD_TAGS", default: None, secret: false, read_by: Library,
        "Constant tags for every span and metric: `key:value` pairs separated by commas or spaces.";
    /// Log correlation.
    DD_LOGS_INJECTION = "DD_LOGS_INJECTION", default: Some("true"), secret: false, read_by: Library,
        "Adds `dd.trace_id`, `dd.span_id`, `dd.service`, `dd.env`, `dd.version` at the root of every JSON log line.";
    /// Log filter.
    RUST_LOG = "RUST_LOG", default: Some("info"), secret: false, read_by: Library,
        "Log filter: a level (`info`) or `target=level` directives separated by commas (`info,hyper=warn`).";
    /// Backtraces (read by std).
    RUST_BACKTRACE = "RUST_BACKTRACE", default: None, secret: false, read_by: Library,
        "Read by Rust's standard library: `1` or `full` gives panics a backtrace, and library errors too unless `RUST_LIB_BACKTRACE=0`. With `APM_PROVIDER=datadog-otel`, `init` warns when library errors would capture backtraces (see `RUST_LIB_BACKTRACE`).";
    /// Library-error backtraces (read by std).
    RUST_LIB_BACKTRACE = "RUST_LIB_BACKTRACE", default: None, secret: false, read_by: Library,
        "Read by Rust's standard library: whether errors (`std::backtrace`, `anyhow`) capture a backtrace, overriding `RUST_BACKTRACE` for them. Set `0` in production when `RUST_BACKTRACE` is set and `APM_PROVIDER=datadog-otel`: dd-trace-rs's connection errors would otherwise each capture one, and logging the first loads the binary's debug info for good (+126 MB RSS measured).";
    /// APM backend.
    APM_PROVIDER = "APM_PROVIDER", default: Some("datadog"), secret: false, read_by: Library,
        "Where spans go: `datadog` (the DataDog agent, spans made and sent by treebeard), `datadog-otel` (the DataDog agent through OpenTelemetry and DataDog's dd-trace-rs), `otlp` (an OpenTelemetry collector) or `none`.";
    /// Tracing switch.
    DD_TRACE_ENABLED = "DD_TRACE_ENABLED", default: Some("true"), secret: false, read_by: Library,
        "`false` exports no spans, whatever `APM_PROVIDER` says.";
    /// Agent host.
    DD_AGENT_HOST = "DD_AGENT_HOST", default: Some(DEFAULT_AGENT_HOST), secret: false, read_by: Both,
        "Host of the DataDog agent, for traces and DogStatsD.";
    /// Agent trace port.
    DD_TRACE_AGENT_PORT = "DD_TRACE_AGENT_PORT", default: Some("8126"), secret: false, read_by: Both,
        "Trace port of the DataDog agent (1-65535).";
    /// Agent URL.
    DD_TRACE_AGENT_URL = "DD_TRACE_AGENT_URL", default: None, secret: false, read_by: Both,
        "Full trace-agent URL (`http://host:port` or `unix:///path/apm.socket`; `https://` only with `APM_PROVIDER=datadog-otel`); overrides `DD_AGENT_HOST` and `DD_TRACE_AGENT_PORT`.";
    /// Trace sample rate.
    DD_TRACE_SAMPLE_RATE = "DD_TRACE_SAMPLE_RATE", default: None, secret: false, read_by: Library,
        "Share of traces kept, from 0.0 to 1.0, as a catch-all sampling rule (`_dd.p.dm=-3`, `_dd.rule_psr`). Unset: the agent's rate for the service and env decides (`_dd.p.dm=-1`, `_dd.agent_psr`), 1.0 until the agent has answered, as in DataDog's tracers; `1.0` keeps every trace. `make run` sets 1.0.";
    /// Trace rate limit.
    DD_TRACE_RATE_LIMIT = "DD_TRACE_RATE_LIMIT", default: Some("100"), secret: false, read_by: Library,
        "Most traces kept per second by `DD_TRACE_SAMPLE_RATE` and `DD_TRACE_SAMPLING_RULES` (1 to 2147483647); traces over it are not kept, but still count in DataDog's trace metrics.";
    /// Header tags.
    DD_TRACE_HEADER_TAGS = "DD_TRACE_HEADER_TAGS", default: None, secret: false, read_by: Library,
        "Headers tagged on server spans, as DataDog's tracers do: `header[:tag]` entries separated by commas (`x-tenant-id,user-agent:http.ua`); without a tag name, `http.request.headers.<header>` and `http.response.headers.<header>`. Values go through the PII scrubber; headers that carry secrets (`Authorization`, `Cookie`, `X-API-Key`, ...) are refused.";
    /// 128-bit trace IDs.
    DD_TRACE_128_BIT_TRACEID_GENERATION_ENABLED = "DD_TRACE_128_BIT_TRACEID_GENERATION_ENABLED", default: Some("true"), secret: false, read_by: Library,
        "New traces get 128-bit IDs, the high half sent as `_dd.p.tid` (DataDog's default); `false` makes 64-bit IDs, for backends that take no more. `datadog-otel` (dd-trace-rs) has no such switch and always makes 128-bit IDs.";
    /// Client IP tagging.
    DD_TRACE_CLIENT_IP_ENABLED = "DD_TRACE_CLIENT_IP_ENABLED", default: Some("false"), secret: false, read_by: Library,
        "Tag server spans with `http.client_ip`, as DataDog's tracers do: the first public address of the first proxy header present (`x-forwarded-for`, `x-real-ip`, `true-client-ip`, `x-client-ip`, `forwarded`, `forwarded-for`, `x-cluster-client-ip`, `fastly-client-ip`, `cf-connecting-ip`, `cf-connecting-ipv6`), else the peer address (when the app serves with `ConnectInfo`). Off by default: an address is personal data.";
    /// Client IP header.
    DD_TRACE_CLIENT_IP_HEADER = "DD_TRACE_CLIENT_IP_HEADER", default: None, secret: false, read_by: Library,
        "With `DD_TRACE_CLIENT_IP_ENABLED`, the one header to read the client IP from (say, the one your load balancer sets), instead of the list.";
    /// Query-string obfuscation.
    DD_TRACE_OBFUSCATION_QUERY_STRING_REGEXP = "DD_TRACE_OBFUSCATION_QUERY_STRING_REGEXP", default: None, secret: false, read_by: Library,
        "What of a URL's query string becomes `<redacted>` in the `http.url` span tag (unset: DataDog's default pattern, passwords, tokens, keys, signatures, bearer tokens, JWTs, private keys); the rest is kept (`?page=2`) and goes through the PII scrubber. Blank means unset (the default), so DataDog's `\"\"` (leave the query out) is written `.+` here, which redacts it whole.";
    /// Sampling rules.
    DD_TRACE_SAMPLING_RULES = "DD_TRACE_SAMPLING_RULES", default: None, secret: false, read_by: Library,
        "JSON array of rules `{\"sample_rate\": 0.1, \"service\": \"..\", \"name\": \"..\", \"resource\": \"..\", \"tags\": {..}}`; the first match sets a trace's rate (glob patterns `*` and `?`), `DD_TRACE_SAMPLE_RATE` applies otherwise.";
    /// Propagation styles.
    DD_TRACE_PROPAGATION_STYLE = "DD_TRACE_PROPAGATION_STYLE", default: Some("datadog,tracecontext,baggage"), secret: false, read_by: Library,
        "Trace-context header formats read and written, in order: `datadog`, `tracecontext`, `b3` (single header), `b3multi`, `baggage` (W3C baggage, 64 items and 8192 bytes at most), or `none`. With `APM_PROVIDER=datadog`, the first style with a valid context wins, as in DataDog's tracers; a W3C context of the same trace still hands on its other vendors' `tracestate` members and, when its parent differs, becomes the parent (`_dd.parent_id` records the DataDog one); a context of another trace becomes a span link.";
    /// Propagation styles read.
    DD_TRACE_PROPAGATION_STYLE_EXTRACT = "DD_TRACE_PROPAGATION_STYLE_EXTRACT", default: None, secret: false, read_by: Library,
        "Header formats read from incoming requests, in order; overrides `DD_TRACE_PROPAGATION_STYLE` for extraction (same values), as in DataDog's tracers.";
    /// Propagation styles written.
    DD_TRACE_PROPAGATION_STYLE_INJECT = "DD_TRACE_PROPAGATION_STYLE_INJECT", default: None, secret: false, read_by: Library,
        "Header formats written into outgoing requests; overrides `DD_TRACE_PROPAGATION_STYLE` for injection (same values), as in DataDog's tracers.";
    /// Size of the trace retry buffer.
    TREEBEARD_TRACE_BUFFER_MAX_BYTES = "TREEBEARD_TRACE_BUFFER_MAX_BYTES", default: Some("16777216"), secret: false, read_by: Library,
        "With `APM_PROVIDER=datadog`: most bytes of encoded spans kept while the agent does not take them (down, restarting, timing out, 5xx) and sent, oldest first, once it answers again; beyond it the oldest are dropped and counted (`treebeard.tracer.spans_dropped`). A whole number of bytes from 0 (no buffer: what the agent does not take is dropped) to 1073741824 (1 GiB). DataDog's tracers have no such setting (`DD_TRACE_WRITER_BUFFER_SIZE_BYTES` of ddtrace is the buffer between flushes, not a retry buffer), hence our own name.";
    /// The local dev console.
    TREEBEARD_DEV_CONSOLE = "TREEBEARD_DEV_CONSOLE", default: Some("false"), secret: false, read_by: Library,
        "`true` serves a live console of the last 500 requests (spans, log lines, errors, per-route latency) at `/_treebeard`, to loopback clients only, for a developer without an agent or Sentry ([dev-console.md](dev-console.md)). Refused when `DD_ENV` is `prod` or `production` unless set to `force`. Needs the `dev-console` cargo feature (on by default).";
    /// Profiling (unsupported).
    DD_PROFILING_ENABLED = "DD_PROFILING_ENABLED", default: Some("false"), secret: false, read_by: Library,
        "Accepted for compatibility; continuous profiling is not supported in Rust, so `true` logs one warning.";
    /// OTLP endpoint.
    OTEL_EXPORTER_OTLP_ENDPOINT = "OTEL_EXPORTER_OTLP_ENDPOINT", default: Some("http://localhost:4318"), secret: false, read_by: Library,
        "OTLP/HTTP collector base URL used when `APM_PROVIDER=otlp`.";
    /// Metrics backend.
    METRICS_BACKEND = "METRICS_BACKEND", default: Some("datadog"), secret: false, read_by: Library,
        "Where metrics go: `datadog` (DogStatsD; `statsd` is an alias), `prometheus` or `none`.";
    /// DogStatsD port.
    DD_DOGSTATSD_PORT = "DD_DOGSTATSD_PORT", default: Some("8125"), secret: false, read_by: Both,
        "DogStatsD UDP port on `DD_AGENT_HOST` (1-65535).";
    /// DogStatsD host.
    DD_DOGSTATSD_HOST = "DD_DOGSTATSD_HOST", default: Some("the value of DD_AGENT_HOST"), secret: false, read_by: Both,
        "DogStatsD host, when it is not the trace agent's (`DD_AGENT_HOST`); `DD_DOGSTATSD_URL` overrides both.";
    /// DogStatsD URL.
    DD_DOGSTATSD_URL = "DD_DOGSTATSD_URL", default: None, secret: false, read_by: Both,
        "Full DogStatsD address (`udp://host:port` or `unix:///path/dsd.socket`); overrides `DD_AGENT_HOST` and `DD_DOGSTATSD_PORT`.";
    /// Entity ID.
    DD_ENTITY_ID = "DD_ENTITY_ID", default: None, secret: false, read_by: Library,
        "The pod UID (Kubernetes downward API: `fieldRef: metadata.uid`, as deploy/kubernetes sets it): DogStatsD lines carry it as `dd.internal.entity_id`, which the agent replaces with the pod's tags. Trace payloads say where they come from without it: `Datadog-Container-ID`/`Datadog-Entity-ID` from `/proc/self/cgroup`.";
    /// Runtime metrics.
    DD_RUNTIME_METRICS_ENABLED = "DD_RUNTIME_METRICS_ENABLED", default: Some("true"), secret: false, read_by: Library,
        "Runtime (tokio workers, tasks, polls) and process (CPU, memory, file descriptors, threads) gauges on or off. On by default, unlike DataDog's tracers: the shipped dashboards chart them.";
    /// Metric namespace.
    METRICS_NAMESPACE = "METRICS_NAMESPACE", default: Some("treebeard"), secret: false, read_by: Library,
        "Prefix of every metric name (`<namespace>.<component>.<metric>`): letters, digits, `_` and `.`, starting with a letter (set it to an empty string in code for no prefix).";
    /// DogStatsD flush interval.
    METRICS_FLUSH_INTERVAL = "METRICS_FLUSH_INTERVAL", default: Some("3s"), secret: false, read_by: Library,
        "How often aggregated DogStatsD metrics are sent (`500ms`, `3s`, `1m`; from 10ms to 1h). At shutdown the last ones go out at the next tick, which shutdown waits for within its 5 s budget: with a longer interval they may be lost (a WARN says so).";
    /// Histogram memory bound.
    METRICS_HISTOGRAM_RESERVOIR = "METRICS_HISTOGRAM_RESERVOIR", default: Some("1024"), secret: false, read_by: Library,
        "Values kept per DogStatsD histogram between two flushes (1-65536, about 16 bytes each); beyond it values are sampled and sent with `|@rate`. `1` sends one value per line, for plain StatsD servers that reject multi-value lines.";
    /// Sentry DSN.
    SENTRY_DSN = "SENTRY_DSN", default: None, secret: true, read_by: Both,
        "Sentry project DSN (`https://<key>@<host>/<project id>`); unset turns Sentry off.";
    /// Sentry environment.
    SENTRY_ENVIRONMENT = "SENTRY_ENVIRONMENT", default: Some("the value of DD_ENV"), secret: false, read_by: Library,
        "Environment on Sentry events; with neither it nor DD_ENV set, Sentry's default.";
    /// Sentry release.
    SENTRY_RELEASE = "SENTRY_RELEASE", default: Some("the value of DD_VERSION"), secret: false, read_by: Library,
        "Release on Sentry events.";
    /// Sentry transactions.
    SENTRY_TRACES_SAMPLE_RATE = "SENTRY_TRACES_SAMPLE_RATE", default: Some("0.0"), secret: false, read_by: Library,
        "Share of requests sent to Sentry as performance transactions, from 0.0 to 1.0.";
    /// Statuses reported to Sentry.
    SENTRY_FAILED_REQUEST_STATUS_CODES = "SENTRY_FAILED_REQUEST_STATUS_CODES", default: Some("500-599"), secret: false, read_by: Library,
        "Response statuses captured as Sentry events: codes and ranges separated by commas (`500-599`, `500,502-504`), or `none`.";
    /// Sentry PII opt-in.
    SENTRY_SEND_DEFAULT_PII = "SENTRY_SEND_DEFAULT_PII", default: Some("false"), secret: false, read_by: Library,
        "`true` adds the user's e-mail and name (from `treebeard::sentry::set_user`) to Sentry events; the PII scrubber still runs on everything else.";
    /// Key for anonymised user IDs.
    SENTRY_USER_HASH_KEY = "SENTRY_USER_HASH_KEY", default: None, secret: true, read_by: Library,
        "Secret key of the keyed hash that anonymises user IDs on Sentry events; unset: a random key per process (IDs change on restart).";
    /// PagerDuty integration key.
    PAGERDUTY_INTEGRATION_KEY = "PAGERDUTY_INTEGRATION_KEY", default: None, secret: true, read_by: Both,
        "PagerDuty service integration key (used in monitor notification handles).";
    /// PagerDuty routing key.
    PAGERDUTY_ROUTING_KEY = "PAGERDUTY_ROUTING_KEY", default: None, secret: true, read_by: Both,
        "PagerDuty Events API v2 routing key for critical alerts.";
    /// Slack webhook.
    SLACK_WEBHOOK_URL = "SLACK_WEBHOOK_URL", default: None, secret: true, read_by: Both,
        "Slack incoming-webhook URL for warning and informational alerts.";
    /// Slack bot token.
    SLACK_BOT_TOKEN = "SLACK_BOT_TOKEN", default: None, secret: true, read_by: Both,
        "Slack bot token (`xoxb-...`), an alternative to the webhook.";

    /// DataDog API key.
    DD_API_KEY = "DD_API_KEY", default: None, secret: true, read_by: Cli,
        "DataDog API key (required for `monitors`/`dashboards` `plan` and `apply`, `alerts digest`, and `doctor`'s API check).";
    /// DataDog application key.
    DD_APP_KEY = "DD_APP_KEY", default: None, secret: true, read_by: Cli,
        "DataDog application key (required for `plan`/`apply`, which write monitors and dashboards with it, and for `alerts digest`, which reads monitor events: scope `events_read`).";
    /// DataDog site.
    DD_SITE = "DD_SITE", default: Some(DEFAULT_DD_SITE), secret: false, read_by: Cli,
        "DataDog site; the API is `https://api.<site>`.";
    /// DataDog API URL.
    DD_API_URL = "DD_API_URL", default: None, secret: false, read_by: Cli,
        "Full DataDog API base URL, wins over `DD_SITE` (proxies, tests).";
    /// PagerDuty Events API URL.
    PAGERDUTY_EVENTS_URL = "PAGERDUTY_EVENTS_URL", default: Some("https://events.pagerduty.com/v2"), secret: false, read_by: Cli,
        "PagerDuty Events API base URL; `/enqueue` is appended.";
    /// Slack channel.
    SLACK_CHANNEL = "SLACK_CHANNEL", default: None, secret: false, read_by: Cli,
        "Channel name or ID for `chat.postMessage` (required with `SLACK_BOT_TOKEN`).";
    /// Slack Web API URL.
    SLACK_API_URL = "SLACK_API_URL", default: Some("https://slack.com/api"), secret: false, read_by: Cli,
        "Slack Web API base URL.";
    /// SMTP server.
    SMTP_HOST = "SMTP_HOST", default: None, secret: false, read_by: Cli,
        "SMTP server of the e-mail digest (required for e-mail).";
    /// SMTP port.
    SMTP_PORT = "SMTP_PORT", default: None, secret: false, read_by: Cli,
        "SMTP port; unset: 25, 587 or 465 by `SMTP_TLS` (`none`, `starttls`, `tls`).";
    /// SMTP user.
    SMTP_USERNAME = "SMTP_USERNAME", default: None, secret: false, read_by: Cli,
        "SMTP login; unset: no authentication.";
    /// SMTP password.
    SMTP_PASSWORD = "SMTP_PASSWORD", default: None, secret: true, read_by: Cli,
        "SMTP password (empty when unset).";
    /// Digest sender.
    SMTP_FROM = "SMTP_FROM", default: None, secret: false, read_by: Cli,
        "Sender address of the digest (`Name <a@b>` allowed; required for e-mail).";
    /// Digest recipients.
    SMTP_TO = "SMTP_TO", default: None, secret: false, read_by: Cli,
        "Comma-separated recipients of the digest (required for e-mail).";
    /// SMTP transport security.
    SMTP_TLS = "SMTP_TLS", default: Some("starttls"), secret: false, read_by: Cli,
        "`none` (plain, local relays only), `starttls` or `tls` (implicit TLS).";
    /// Base of runbook links.
    TREEBEARD_RUNBOOK_BASE_URL = "TREEBEARD_RUNBOOK_BASE_URL", default: Some("docs/runbooks/"), secret: false, read_by: Cli,
        "Where the runbooks named in alerting-config.yml (`runbook: availability`) are published: a name becomes `<base>/<name>.md`, or the base with `{name}` replaced when it holds `{name}`. The default is the files' path in the repository; set your repository's or docs site's web address so that monitors, notifications and digests carry clickable links. A `runbook:` that is a full URL is used as it is.";
}

/// Redacts a secret for display: URLs keep their scheme and host so a
/// typo in the host is still visible; anything else shows only its length.
pub fn redact(value: &str) -> String {
    let Some((scheme, rest)) = value.split_once("://") else {
        return format!("[redacted, {} characters]", value.chars().count());
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host = authority
        .rsplit_once('@')
        .map_or(authority, |(_, host)| host);
    if scheme.is_empty() || host.is_empty() {
        return format!("[redacted, {} characters]", value.chars().count());
    }
    format!("{scheme}://[redacted]@{host}/[redacted]")
}

/// A source of configuration values, looked up by variable name.
///
/// The process environment is the usual source ([`EnvSource`]); tests use a
/// map instead so that they never mutate the process environment.
///
/// ```
/// use std::collections::HashMap;
/// use treebeard_conventions::env::ConfigSource;
///
/// let source = HashMap::from([("DD_ENV".to_owned(), "staging".to_owned())]);
/// assert_eq!(ConfigSource::get(&source, "DD_ENV").as_deref(), Some("staging"));
/// assert_eq!(ConfigSource::get(&source, "DD_SERVICE"), None);
/// ```
pub trait ConfigSource {
    /// The raw value of `name`, or `None` when it is not set.
    fn get(&self, name: &str) -> Option<String>;

    /// The trimmed value of `var`, `None` when unset or blank (blank means
    /// unset, as in DataDog's tracers, so `FOO=` in a `.env` file does not
    /// count as a value).
    fn value(&self, var: Variable) -> Option<String> {
        let value = self.get(var.name)?;
        let trimmed = value.trim();
        (!trimmed.is_empty()).then(|| trimmed.to_owned())
    }
}

/// Reads the process environment.
///
/// A value that is not valid Unicode is passed on lossily converted, so that
/// validation reports it instead of treating the variable as unset.
#[derive(Debug, Clone, Copy, Default)]
pub struct EnvSource;

impl ConfigSource for EnvSource {
    fn get(&self, name: &str) -> Option<String> {
        std::env::var_os(name).map(|v| v.to_string_lossy().into_owned())
    }
}

impl<S: BuildHasher> ConfigSource for HashMap<String, String, S> {
    fn get(&self, name: &str) -> Option<String> {
        HashMap::get(self, name).cloned()
    }
}

impl<S: BuildHasher> ConfigSource for HashMap<&str, &str, S> {
    fn get(&self, name: &str) -> Option<String> {
        HashMap::get(self, name).map(|v| (*v).to_owned())
    }
}

impl ConfigSource for BTreeMap<String, String> {
    fn get(&self, name: &str) -> Option<String> {
        BTreeMap::get(self, name).cloned()
    }
}

/// The last pair named `name` wins, as in a shell's environment.
impl ConfigSource for [(&str, &str)] {
    fn get(&self, name: &str) -> Option<String> {
        self.iter()
            .rev()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| (*v).to_owned())
    }
}

impl<const N: usize> ConfigSource for [(&str, &str); N] {
    fn get(&self, name: &str) -> Option<String> {
        ConfigSource::get(self.as_slice(), name)
    }
}

impl<T: ConfigSource + ?Sized> ConfigSource for &T {
    fn get(&self, name: &str) -> Option<String> {
        (**self).get(name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typed_defaults_are_the_documented_ones() {
        assert_eq!(DD_AGENT_HOST.default, Some(DEFAULT_AGENT_HOST));
        assert_eq!(
            DD_TRACE_AGENT_PORT.default,
            Some(DEFAULT_TRACE_AGENT_PORT.to_string().as_str())
        );
        assert_eq!(
            DD_DOGSTATSD_PORT.default,
            Some(DEFAULT_DOGSTATSD_PORT.to_string().as_str())
        );
        assert_eq!(DD_SITE.default, Some(DEFAULT_DD_SITE));
    }

    #[test]
    fn every_variable_is_declared_once() {
        let mut names: Vec<_> = VARIABLES.iter().map(|v| v.name).collect();
        names.sort_unstable();
        let before = names.len();
        names.dedup();
        assert_eq!(names.len(), before);
    }

    #[test]
    fn blank_is_unset_and_the_last_pair_wins() {
        let source = [("DD_ENV", "  "), ("DD_SERVICE", "a"), ("DD_SERVICE", " b ")];
        assert_eq!(source.value(DD_ENV), None);
        assert_eq!(source.value(DD_SERVICE).as_deref(), Some("b"));
    }

    #[test]
    fn redact_keeps_host_but_not_key_or_path() {
        let r = redact("https://abc123secret@o1.ingest.sentry.io/42");
        assert_eq!(r, "https://[redacted]@o1.ingest.sentry.io/[redacted]");
        assert!(!r.contains("abc123secret"));
        assert_eq!(redact("xoxb-123"), "[redacted, 8 characters]");
        assert_eq!(
            redact("https://hooks.slack.com/services/T0/B0/secret"),
            "https://[redacted]@hooks.slack.com/[redacted]"
        );
    }
}
