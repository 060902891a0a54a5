//! Trace settings: `APM_PROVIDER`, the agent address and `DD_TRACE_*`.

use std::str::FromStr;

use super::reader::{Reader, bracket_ipv6, const_url, parse_host};
use super::vars::*;

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

pub use treebeard_datadog::{PropagationStyle, SamplingRule};

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
    /// `DD_TRACE_SAMPLE_RATE`, 0.0 to 1.0: a catch-all sampling rule. Unset
    /// (the default), the agent's per-service rates decide, as in DataDog's
    /// tracers (1.0 until the agent has sent them; OTLP keeps every trace).
    pub sample_rate: Option<f64>,
    /// `DD_TRACE_RATE_LIMIT`: most traces per second the sample rate and
    /// rules keep (default 100, DataDog's); traces over it are dropped.
    pub rate_limit: u32,
    /// `DD_TRACE_SAMPLING_RULES`, in order.
    pub sampling_rules: Vec<SamplingRule>,
    /// `DD_TRACE_PROPAGATION_STYLE`, in order (default
    /// `datadog,tracecontext,baggage`, DataDog's).
    pub propagation: Vec<PropagationStyle>,
    /// Styles read from incoming requests: `DD_TRACE_PROPAGATION_STYLE_EXTRACT`,
    /// else [`propagation`](Self::propagation).
    pub propagation_extract: Vec<PropagationStyle>,
    /// Styles written into outgoing requests: `DD_TRACE_PROPAGATION_STYLE_INJECT`,
    /// else [`propagation`](Self::propagation).
    pub propagation_inject: Vec<PropagationStyle>,
    /// `OTEL_EXPORTER_OTLP_ENDPOINT`.
    pub otlp_endpoint: url::Url,
    /// `TREEBEARD_TRACE_BUFFER_MAX_BYTES`: most bytes of encoded spans
    /// kept for a retry while the agent does not take them (default
    /// [`DEFAULT_BUFFER_MAX_BYTES`]; 0: none).
    pub buffer_max_bytes: usize,
    /// `DD_TRACE_OBFUSCATION_QUERY_STRING_REGEXP`, validated: what of a
    /// query string becomes `<redacted>` in `http.url`. `None`: DataDog's
    /// default pattern.
    pub query_obfuscation: Option<String>,
    /// `DD_TRACE_CLIENT_IP_ENABLED`: tag server spans with `http.client_ip`.
    pub client_ip_enabled: bool,
    /// `DD_TRACE_CLIENT_IP_HEADER`: the one header the client IP is read
    /// from, instead of DataDog's list.
    pub client_ip_header: Option<http::HeaderName>,
    /// `DD_TRACE_128_BIT_TRACEID_GENERATION_ENABLED`: new traces get
    /// 128-bit IDs (default true; `datadog-otel` always makes them).
    pub trace_id_128: bool,
    /// `DD_TRACE_HEADER_TAGS`: request and response headers tagged on
    /// server spans.
    pub header_tags: Vec<super::header_tags::HeaderTag>,
}

/// Default of `TREEBEARD_TRACE_BUFFER_MAX_BYTES`: 16 MiB.
pub const DEFAULT_BUFFER_MAX_BYTES: usize = 16 * 1024 * 1024;

/// Largest `TREEBEARD_TRACE_BUFFER_MAX_BYTES` accepted: 1 GiB.
const MAX_BUFFER_MAX_BYTES: usize = 1 << 30;

pub(super) fn read_apm(r: &mut Reader<'_>) -> ApmConfig {
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
        .unwrap_or_else(|| DEFAULT_AGENT_HOST.to_owned());
    let port = r.port(DD_TRACE_AGENT_PORT, DEFAULT_TRACE_AGENT_PORT);
    let agent_url = r
        .url(DD_TRACE_AGENT_URL, &["http", "https", "unix"])
        .or_else(|| url::Url::parse(&format!("http://{}:{port}", bracket_ipv6(&host))).ok())
        .unwrap_or_else(|| const_url("http://localhost:8126"));
    let sample_rate = r
        .raw(DD_TRACE_SAMPLE_RATE)
        .is_some()
        .then(|| r.rate(DD_TRACE_SAMPLE_RATE, 1.0));
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
    let mut styles = |name| {
        r.parse(
            name,
            "a comma-separated list of datadog, tracecontext, b3, b3multi, baggage, or none",
            parse_propagation,
        )
    };
    let propagation = styles(DD_TRACE_PROPAGATION_STYLE);
    let propagation_extract = styles(DD_TRACE_PROPAGATION_STYLE_EXTRACT);
    let propagation_inject = styles(DD_TRACE_PROPAGATION_STYLE_INJECT);
    let propagation = propagation.unwrap_or_else(|| PropagationStyle::DEFAULT.to_vec());
    let propagation_extract = propagation_extract.unwrap_or_else(|| propagation.clone());
    let propagation_inject = propagation_inject.unwrap_or_else(|| propagation.clone());
    let otlp_endpoint = r
        .url(OTEL_EXPORTER_OTLP_ENDPOINT, &["http", "https"])
        .unwrap_or_else(|| const_url("http://localhost:4318"));
    let buffer_max_bytes = r
        .parse(
            TREEBEARD_TRACE_BUFFER_MAX_BYTES,
            "a whole number of bytes from 0 (no buffer) to 1073741824 (1 GiB)",
            |s| {
                usize::from_str(s)
                    .ok()
                    .filter(|n| *n <= MAX_BUFFER_MAX_BYTES)
            },
        )
        .unwrap_or(DEFAULT_BUFFER_MAX_BYTES);
    let query_obfuscation = r.parse(
        DD_TRACE_OBFUSCATION_QUERY_STRING_REGEXP,
        "a regular expression (Rust `regex` syntax, as DataDog's default pattern is written)",
        |s| regex::Regex::new(s).ok().map(|_| s.to_owned()),
    );
    let client_ip_enabled = r.bool(DD_TRACE_CLIENT_IP_ENABLED, false);
    let client_ip_header = r.parse(
        DD_TRACE_CLIENT_IP_HEADER,
        "an HTTP header name (such as x-real-ip)",
        |s| http::HeaderName::from_bytes(s.as_bytes()).ok(),
    );
    let trace_id_128 = r.bool(DD_TRACE_128_BIT_TRACEID_GENERATION_ENABLED, true);
    let header_tags = match r.raw(DD_TRACE_HEADER_TAGS).map(|v| {
        let parsed = super::header_tags::parse(&v);
        (v, parsed)
    }) {
        None => Vec::new(),
        Some((_, Ok(tags))) => tags,
        Some((value, Err(why))) => {
            r.invalid(
                DD_TRACE_HEADER_TAGS,
                &value,
                format!("header[:tag] entries separated by commas; {why}"),
            );
            Vec::new()
        }
    };
    ApmConfig {
        provider,
        enabled,
        agent_url,
        sample_rate,
        rate_limit,
        sampling_rules,
        propagation,
        propagation_extract,
        propagation_inject,
        otlp_endpoint,
        buffer_max_bytes,
        query_obfuscation,
        client_ip_enabled,
        client_ip_header,
        trace_id_128,
        header_tags,
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
            "baggage" => PropagationStyle::Baggage,
            "none" => continue,
            _ => return None,
        };
        if !styles.contains(&style) {
            styles.push(style);
        }
    }
    Some(styles)
}
