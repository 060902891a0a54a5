//! Metric names and tag keys shared by everything that emits or reads
//! TreeBeard metrics.
//!
//! The request-metrics layer, the example API, the alert rules and the
//! dashboards all name metrics through these constants, so a renamed metric
//! breaks the build instead of silently emptying a dashboard.
//!
//! Names follow the reference convention `<namespace>.<component>.<metric>`.
//! The constants here hold `<component>.<metric>`; [`metric_name`] prefixes
//! the namespace (configurable, [`DEFAULT_NAMESPACE`] unless changed).
//!
//! Durations are recorded in **seconds** as DogStatsD distributions (`|d`)
//! or Prometheus histograms.
#![forbid(unsafe_code)]

pub mod env;
pub mod origin;

/// The namespace prefixed to every metric unless configured otherwise.
pub const DEFAULT_NAMESPACE: &str = "treebeard";

/// Longest metric name DataDog accepts.
pub const MAX_NAME_LEN: usize = 200;

/// Whether `namespace` is usable as a prefix: empty, or ASCII letters,
/// digits, `_` and `.`, starting with a letter and not ending with a dot.
pub fn valid_namespace(namespace: &str) -> bool {
    namespace.is_empty()
        || namespace.starts_with(|c: char| c.is_ascii_alphabetic())
            && !namespace.ends_with('.')
            && namespace.len() < MAX_NAME_LEN
            && namespace
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.')
}

/// Every `<component>.<metric>` name this crate defines: what alert
/// queries and dashboards may use (treebeard-alerting checks them, and a
/// test ties each to an emitter).
pub const ALL_METRICS: &[&str] = &[
    api::REQUESTS,
    api::REQUEST_DURATION,
    api::ERRORS,
    database::QUERY_DURATION,
    cache::HIT_RATE,
    recommendations::GENERATED,
    recommendations::DURATION,
    external::REQUEST_DURATION,
    external::ERRORS,
    process::CPU_PERCENT,
    process::MEMORY_RSS,
    process::MEMORY_PERCENT,
    process::OPEN_FDS,
    process::THREADS,
    runtime::WORKERS,
    runtime::GLOBAL_QUEUE_DEPTH,
    runtime::BUSY_RATIO,
    tracer::SPANS_DROPPED,
    tracer::PAYLOADS_RETRIED,
];

/// Joins a namespace and a `<component>.<metric>` suffix with a dot.
///
/// ```
/// use treebeard_conventions::{api, metric_name, DEFAULT_NAMESPACE};
/// assert_eq!(metric_name(DEFAULT_NAMESPACE, api::REQUESTS), "treebeard.api.requests");
/// assert_eq!(metric_name("", api::REQUESTS), "api.requests");
/// ```
pub fn metric_name(namespace: &str, suffix: &str) -> String {
    if namespace.is_empty() {
        suffix.to_owned()
    } else {
        format!("{namespace}.{suffix}")
    }
}

/// Metrics emitted for every HTTP request by the request-metrics layer.
pub mod api {
    /// Count of requests served (counter).
    pub const REQUESTS: &str = "api.requests";
    /// Request latency in seconds (distribution / histogram).
    pub const REQUEST_DURATION: &str = "api.request.duration";
    /// Count of responses with a 5xx status (counter).
    pub const ERRORS: &str = "api.errors";
}

/// Database metrics recorded by the tracing helpers and the example API.
pub mod database {
    /// Query latency in seconds (distribution / histogram), tagged `table`, `query`.
    pub const QUERY_DURATION: &str = "database.query.duration";
}

/// Cache metrics.
pub mod cache {
    /// Share of cache lookups that hit, from 0.0 to 1.0 (gauge).
    pub const HIT_RATE: &str = "cache.hit_rate";
}

/// Business metrics of the recommendations feature.
pub mod recommendations {
    /// Count of recommendations generated (counter), tagged `profile_type`.
    pub const GENERATED: &str = "recommendations.generated";
    /// Time to generate one recommendation set, in seconds (distribution).
    pub const DURATION: &str = "recommendations.duration";
}

/// Calls to external HTTP APIs (such as the Claude API in the reference),
/// recorded by `send_traced`.
pub mod external {
    /// Latency of an external API call in seconds (distribution), tagged
    /// [`API`] (for example `api:claude`), `endpoint` and `status`.
    pub const REQUEST_DURATION: &str = "external_api.request.duration";
    /// Count of failed external API calls — a 5xx answer or no answer
    /// (counter), tagged like [`REQUEST_DURATION`].
    pub const ERRORS: &str = "external_api.errors";
    /// The tag key naming the called API: the target given to
    /// `apm::external_api`, else the host called.
    pub const API: &str = "api";
}

/// Resource metrics of the service process, sampled on an interval.
pub mod process {
    /// CPU used by the process, in percent of one core (gauge).
    pub const CPU_PERCENT: &str = "process.cpu.percent";
    /// Resident memory in bytes (gauge).
    pub const MEMORY_RSS: &str = "process.memory.rss";
    /// Resident memory as a percentage of the memory available (gauge).
    pub const MEMORY_PERCENT: &str = "process.memory.percent";
    /// Open file descriptors (gauge).
    pub const OPEN_FDS: &str = "process.open_fds";
    /// OS threads (gauge).
    pub const THREADS: &str = "process.threads";
}

/// Metrics of the async runtime, sampled on an interval.
pub mod runtime {
    /// Worker threads of the runtime (gauge).
    pub const WORKERS: &str = "runtime.workers";
    /// Tasks waiting in the global queue (gauge).
    pub const GLOBAL_QUEUE_DEPTH: &str = "runtime.global_queue_depth";
    /// Share of time workers were busy, 0.0 to 1.0 (gauge).
    pub const BUSY_RATIO: &str = "runtime.busy_ratio";
}

/// Health of the span exporter (`APM_PROVIDER=datadog`), like the
/// `datadog.tracer.*` metrics DataDog's own tracers report; counters read
/// from the exporter by the metrics sampler.
pub mod tracer {
    /// Spans that never reached the agent (counter), tagged `reason`:
    /// `queue_full`, `buffer_full`, `rejected` (the agent answered 4xx) or
    /// `shutdown` (still buffered when shutdown ended).
    pub const SPANS_DROPPED: &str = "tracer.spans_dropped";
    /// Payloads put in the retry buffer to be sent again, because the
    /// agent did not take them or was being waited for (counter).
    pub const PAYLOADS_RETRIED: &str = "tracer.payloads_retried";
    /// The tag key of [`SPANS_DROPPED`]'s cause.
    pub const REASON: &str = "reason";
}

/// Host metrics reported by the DataDog agent itself (not by our layers);
/// the infrastructure alerts and dashboard read them.
pub mod host {
    /// Share of disk space in use, 0.0 to 1.0 (agent metric).
    pub const DISK_IN_USE: &str = "system.disk.in_use";
}

/// Tag keys used on request metrics.
pub mod tags {
    /// The route template, such as `/users/{id}`: never the raw path.
    pub const ENDPOINT: &str = "endpoint";
    /// The HTTP method.
    pub const METHOD: &str = "method";
    /// The response status code, such as `200`.
    pub const STATUS: &str = "status";
    /// The status class, such as `2xx`.
    pub const STATUS_CLASS: &str = "status_class";
    /// The value of [`ENDPOINT`] for requests that matched no route, so raw
    /// paths never become tag values.
    pub const UNMATCHED_ROUTE: &str = "unmatched";
    /// Constant tag: deployment environment (`DD_ENV`).
    pub const ENV: &str = "env";
    /// Constant tag: service name (`DD_SERVICE`).
    pub const SERVICE: &str = "service";
    /// Constant tag: service version (`DD_VERSION`).
    pub const VERSION: &str = "version";
}
