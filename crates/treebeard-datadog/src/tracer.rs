//! Starting the tracer: its settings, the exporter handle, and the
//! functions that read and write a span's trace context.

use std::sync::Arc;
use std::time::Duration;

use tracing_subscriber::registry::Extensions;

use crate::config::{PropagationStyle, SamplingRule};
use crate::exporter::{self, Queue};
pub use crate::layer::{DatadogLayer, continue_trace, inject, set_tag};
use crate::span::SpanData;
use crate::stats::ExportStats;
use crate::transport::Agent;

/// Spans at this level or above become DataDog spans.
pub const SPAN_LEVEL: tracing::Level = tracing::Level::INFO;

/// Default agent URL: the agent's trace port on this host.
pub const DEFAULT_AGENT_URL: &str = "http://localhost:8126";

/// Default most traces kept per second by the sample rate and rules.
pub const DEFAULT_RATE_LIMIT: u32 = 100;

/// Default size of the retry buffer: encoded payloads the agent did not
/// take wait there, up to this many bytes, until it answers again.
pub const DEFAULT_BUFFER_MAX_BYTES: usize = 16 * 1024 * 1024;

/// A traced span's IDs: the whole 128-bit trace ID (DataDog shows its low
/// 64 bits as `trace_id`) and the span ID.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SpanIds {
    /// The trace ID.
    pub trace_id: u128,
    /// The span ID.
    pub span_id: u64,
}

/// The tracer's settings; every setter names its default.
#[derive(Debug, Clone, PartialEq)]
#[must_use]
pub struct DatadogConfig {
    service: String,
    env: String,
    version: String,
    tags: Vec<(String, String)>,
    agent_url: String,
    sample_rate: Option<f64>,
    rate_limit: u32,
    sampling_rules: Vec<SamplingRule>,
    propagation_extract: Vec<PropagationStyle>,
    propagation_inject: Vec<PropagationStyle>,
    buffer_max_bytes: usize,
    trace_id_128: bool,
    origin: Vec<(String, String)>,
}

impl DatadogConfig {
    /// Settings for `service`, with every other value at its default.
    pub fn new(service: impl Into<String>) -> Self {
        Self {
            service: service.into(),
            env: String::new(),
            version: String::new(),
            tags: Vec::new(),
            agent_url: DEFAULT_AGENT_URL.to_owned(),
            sample_rate: None,
            rate_limit: DEFAULT_RATE_LIMIT,
            sampling_rules: Vec::new(),
            propagation_extract: PropagationStyle::DEFAULT.to_vec(),
            propagation_inject: PropagationStyle::DEFAULT.to_vec(),
            buffer_max_bytes: DEFAULT_BUFFER_MAX_BYTES,
            trace_id_128: true,
            origin: Vec::new(),
        }
    }

    /// Where this process runs, sent with every trace payload so the agent
    /// adds container and pod tags: `Datadog-Container-ID` (the container
    /// ID) and `Datadog-Entity-ID` (`ci-<container ID>` or `in-<cgroup
    /// inode>`), as DataDog's tracers send them. Default: none.
    pub fn with_origin(mut self, container_id: Option<String>, entity_id: Option<String>) -> Self {
        self.origin = [
            ("datadog-container-id", container_id),
            ("datadog-entity-id", entity_id),
        ]
        .into_iter()
        .filter_map(|(name, value)| Some((name.to_owned(), value?)))
        .collect();
        self
    }

    /// The `env` tag of every span (default: none).
    pub fn with_env(mut self, env: impl Into<String>) -> Self {
        self.env = env.into();
        self
    }

    /// The `version` tag of every span (default: none).
    pub fn with_version(mut self, version: impl Into<String>) -> Self {
        self.version = version.into();
        self
    }

    /// Constant tags of every span, as (key, value) pairs (default: none).
    pub fn with_tags(mut self, tags: Vec<(String, String)>) -> Self {
        self.tags = tags;
        self
    }

    /// The trace agent: `http://host:port` or `unix:///path/apm.socket`
    /// (default [`DEFAULT_AGENT_URL`]).
    pub fn with_agent_url(mut self, url: impl Into<String>) -> Self {
        self.agent_url = url.into();
        self
    }

    /// Share of traces kept when no rule matches, 0.0 to 1.0, as a catch-all
    /// rule (`_dd.p.dm=-3`). Default: unset, and the agent's rates decide, as
    /// in DataDog's tracers (1.0 until the agent has sent them).
    pub fn with_sample_rate(mut self, rate: f64) -> Self {
        self.sample_rate = Some(rate);
        self
    }

    /// Most traces kept per second by the rate and rules (default
    /// [`DEFAULT_RATE_LIMIT`]).
    pub fn with_rate_limit(mut self, limit: u32) -> Self {
        self.rate_limit = limit;
        self
    }

    /// Sampling rules, first match wins (default: none).
    pub fn with_sampling_rules(mut self, rules: Vec<SamplingRule>) -> Self {
        self.sampling_rules = rules;
        self
    }

    /// Header formats read and written, in order (default
    /// [`PropagationStyle::DEFAULT`]: DataDog, W3C trace context, W3C baggage).
    pub fn with_propagation(mut self, styles: Vec<PropagationStyle>) -> Self {
        self.propagation_extract.clone_from(&styles);
        self.propagation_inject = styles;
        self
    }

    /// 128-bit trace IDs for new traces (default true, as in DataDog's
    /// tracers; the high half travels as `_dd.p.tid`); false makes 64-bit ones.
    pub fn with_128_bit_trace_ids(mut self, on: bool) -> Self {
        self.trace_id_128 = on;
        self
    }

    /// Header formats read from incoming requests, in order (what
    /// `DD_TRACE_PROPAGATION_STYLE_EXTRACT` sets).
    pub fn with_propagation_extract(mut self, styles: Vec<PropagationStyle>) -> Self {
        self.propagation_extract = styles;
        self
    }

    /// Header formats written into outgoing requests (what
    /// `DD_TRACE_PROPAGATION_STYLE_INJECT` sets).
    pub fn with_propagation_inject(mut self, styles: Vec<PropagationStyle>) -> Self {
        self.propagation_inject = styles;
        self
    }

    /// Most bytes of encoded payloads kept for a retry while the agent
    /// does not take them (down, restarting, timing out, 5xx); beyond it
    /// the oldest are dropped and counted. 0 keeps nothing: a payload the
    /// agent does not take is dropped at once (default
    /// [`DEFAULT_BUFFER_MAX_BYTES`]; treebeard reads it from
    /// `TREEBEARD_TRACE_BUFFER_MAX_BYTES`).
    pub fn with_buffer_max_bytes(mut self, bytes: usize) -> Self {
        self.buffer_max_bytes = bytes;
        self
    }
}

/// Why [`install`] failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum InstallError {
    /// The agent URL is not one the exporter can send to.
    #[error("invalid DataDog agent URL {url:?}: {reason}")]
    AgentUrl {
        /// The URL given.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The exporter thread could not start.
    #[error("cannot start the span exporter thread: {0}")]
    Thread(#[source] std::io::Error),
}

/// The running exporter: [`shutdown`](Exporter::shutdown) flushes what is
/// queued and stops its thread; [`stats`](Exporter::stats) counts what was
/// sent, kept for a retry and dropped.
#[derive(Debug)]
pub struct Exporter {
    queue: Arc<Queue>,
}

impl Exporter {
    /// Sends what is queued and buffered and stops the exporter thread,
    /// waiting at most `timeout` (the thread's own attempts end by then,
    /// even with an agent that never answers). Returns false when sending
    /// did not finish in time; what was not sent is counted in
    /// [`ExportStats::spans_dropped_at_shutdown`], and spans finished
    /// afterwards are refused and counted.
    pub fn shutdown(&self, timeout: Duration) -> bool {
        exporter::shutdown(&self.queue, timeout)
    }

    /// The exporter's counters now.
    pub fn stats(&self) -> ExportStats {
        self.queue.stats()
    }

    /// A handle that reads the counters from anywhere (a metrics sampler),
    /// and outlives the exporter.
    pub fn stats_handle(&self) -> StatsHandle {
        StatsHandle {
            queue: self.queue.clone(),
        }
    }
}

/// Reads an [`Exporter`]'s counters ([`Exporter::stats_handle`]).
#[derive(Debug, Clone)]
pub struct StatsHandle {
    queue: Arc<Queue>,
}

impl StatsHandle {
    /// The exporter's counters now.
    pub fn stats(&self) -> ExportStats {
        self.queue.stats()
    }
}

/// Starts the exporter thread and returns the layer that feeds it.
pub fn install(config: &DatadogConfig) -> Result<(DatadogLayer, Exporter), InstallError> {
    let invalid = |reason: String| InstallError::AgentUrl {
        url: config.agent_url.clone(),
        reason,
    };
    let url = url::Url::parse(&config.agent_url).map_err(|e| invalid(e.to_string()))?;
    let agent = Agent::from_url(&url).map_err(invalid)?;
    let process = crate::encode::Process::new(
        config.service.clone(),
        &config.env,
        &config.version,
        &config.tags,
        &crate::ids::runtime_id(),
    );
    let queue = Arc::new(Queue::default());
    let rates = crate::sampler::AgentRates::for_process(&config.service, &config.env);
    // Values a header cannot carry are left out rather than fail the tracer.
    let origin = config
        .origin
        .iter()
        .filter_map(|(name, value)| {
            Some((
                http::HeaderName::from_bytes(name.as_bytes()).ok()?,
                http::HeaderValue::from_str(value).ok()?,
            ))
        })
        .collect();
    exporter::start(
        queue.clone(),
        agent,
        process,
        config.buffer_max_bytes,
        rates.clone(),
        origin,
    )
    .map_err(InstallError::Thread)?;
    let rules = &config.sampling_rules;
    let rules_use = (
        rules.iter().any(|r| r.resource.is_some()),
        rules.iter().any(|r| !r.tags.is_empty()),
    );
    let layer = DatadogLayer::new(
        queue.clone(),
        crate::sampler::Sampler::new(rules, config.sample_rate, config.rate_limit, rates),
        config.service.clone(),
        rules_use,
        (
            config.propagation_extract.clone(),
            config.propagation_inject.clone(),
        ),
    )
    .with_trace_id_128(config.trace_id_128);
    Ok((layer, Exporter { queue }))
}

/// The IDs the layer keeps in a span's registry `extensions`, if the span
/// is traced.
pub fn span_ids(extensions: &Extensions<'_>) -> Option<SpanIds> {
    extensions.get::<SpanData>().map(|span| SpanIds {
        trace_id: span.trace.id,
        span_id: span.span_id,
    })
}
