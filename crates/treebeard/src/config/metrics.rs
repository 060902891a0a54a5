//! Metrics settings: `METRICS_BACKEND`, the DogStatsD address and the
//! `METRICS_*` knobs.

use std::path::PathBuf;
use std::time::Duration;

use super::reader::{Reader, parse_host};
use super::vars::*;

/// Default DogStatsD flush interval (`METRICS_FLUSH_INTERVAL`).
pub const DEFAULT_FLUSH_INTERVAL: Duration = Duration::from_secs(3);

/// Default interval between two samples of process and runtime metrics.
pub const DEFAULT_SAMPLE_INTERVAL: Duration = Duration::from_secs(10);

/// Default number of values a histogram keeps between two flushes; beyond
/// it values are reservoir-sampled, so each histogram holds at most about
/// `16 × size` bytes (16 KiB by default) however many requests arrive.
pub const DEFAULT_HISTOGRAM_RESERVOIR_SIZE: usize = 1024;

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
    /// only, default true), when [`runtime_metrics`](Self::runtime_metrics) is on.
    pub process_metrics: bool,
    /// `DD_RUNTIME_METRICS_ENABLED`: runtime (tokio) and process gauges on
    /// or off (default on: the shipped dashboards chart them).
    pub runtime_metrics: bool,
    /// `DD_ENTITY_ID`: the pod UID DogStatsD lines carry as
    /// `dd.internal.entity_id`, so the agent adds the pod's tags.
    pub entity_id: Option<String>,
    /// Values kept per histogram between two flushes
    /// (`METRICS_HISTOGRAM_RESERVOIR`, default 1024, about 16 KiB per
    /// histogram); beyond it values are sampled.
    pub histogram_reservoir_size: usize,
}

pub(super) fn read_metrics(r: &mut Reader<'_>) -> MetricsConfig {
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
    // DataDog's order: DD_DOGSTATSD_URL, DD_DOGSTATSD_HOST, DD_AGENT_HOST.
    let host = r
        .raw(DD_DOGSTATSD_HOST)
        .or_else(|| r.raw(DD_AGENT_HOST))
        .and_then(|h| parse_host(&h))
        .unwrap_or_else(|| DEFAULT_AGENT_HOST.to_owned());
    let port = r.port(DD_DOGSTATSD_PORT, DEFAULT_DOGSTATSD_PORT);
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
            |s| treebeard_conventions::valid_namespace(s).then(|| s.to_owned()),
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
        .unwrap_or(DEFAULT_FLUSH_INTERVAL);
    let histogram_reservoir_size = r
        .parse(
            METRICS_HISTOGRAM_RESERVOIR,
            "a number from 1 to 65536",
            |s| s.parse::<usize>().ok().filter(|n| (1..=65536).contains(n)),
        )
        .unwrap_or(DEFAULT_HISTOGRAM_RESERVOIR_SIZE);
    let runtime_metrics = r.bool(DD_RUNTIME_METRICS_ENABLED, true);
    let entity_id = r.parse(
        DD_ENTITY_ID,
        "an ID of letters, digits, `-`, `_` and `.` (a pod UID)",
        |s| {
            s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
                .then(|| s.to_owned())
        },
    );
    MetricsConfig {
        backend,
        dogstatsd,
        namespace,
        flush_interval,
        sample_interval: DEFAULT_SAMPLE_INTERVAL,
        process_metrics: true,
        runtime_metrics,
        entity_id,
        histogram_reservoir_size,
    }
}

fn parse_dogstatsd_url(s: &str) -> Option<DogStatsdTarget> {
    let url = url::Url::parse(s).ok()?;
    match url.scheme() {
        "udp" => Some(DogStatsdTarget::Udp {
            host: url.host_str()?.trim_matches(['[', ']']).to_owned(),
            port: url
                .port()
                .filter(|p| *p != 0)
                .unwrap_or(DEFAULT_DOGSTATSD_PORT),
        }),
        "unix" if !url.path().is_empty() && url.path() != "/" => {
            Some(DogStatsdTarget::Unix(PathBuf::from(url.path())))
        }
        _ => None,
    }
}
