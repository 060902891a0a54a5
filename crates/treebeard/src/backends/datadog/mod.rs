//! `APM_PROVIDER=datadog`: DataDog spans made and sent by treebeard itself.
//!
//! A `tracing` layer ([`layer`]) keeps a small record per span and hands
//! each finished trace to a queue; one background thread ([`exporter`])
//! encodes the queue in the agent's v0.4 MessagePack format and sends it.
//! Sampling ([`sampler`]: `DD_TRACE_SAMPLE_RATE`, `DD_TRACE_SAMPLING_RULES`,
//! `DD_TRACE_RATE_LIMIT`) and header propagation ([`propagation`]:
//! `DD_TRACE_PROPAGATION_STYLE`) follow DataDog's tracers.
//!
//! Why not dd-trace-rs behind OpenTelemetry (still available as
//! `APM_PROVIDER=datadog-otel`): that path costs about 60k instructions per
//! span with every trace exported (OpenTelemetry span creation, DataDog's
//! sampler over OpenTelemetry attributes, conversion to DataDog spans on
//! the exporter thread); this one about 5k. See docs/performance.md.

mod encode;
mod exporter;
mod ids;
mod layer;
mod propagation;
mod sampler;
mod span;

use std::sync::Arc;
use std::time::Duration;

pub(crate) use layer::NativeLayer;
use span::SpanData;

use super::Backend;
use crate::config::{ApmProvider, Config};
use crate::error::InitError;
use crate::trace_context::{self, TraceIds, Tracer};

/// The running exporter: flushes the queue and stops its thread on shutdown.
#[derive(Debug)]
pub(crate) struct NativeBackend {
    queue: Arc<exporter::Queue>,
}

impl Backend for NativeBackend {
    fn shutdown(&mut self, timeout: Duration) {
        trace_context::deactivate();
        if !exporter::shutdown(&self.queue, timeout) {
            tracing::warn!(
                timeout_ms = timeout.as_millis() as u64,
                "the span exporter did not finish sending within the shutdown timeout; pending spans may be lost"
            );
        }
    }
}

/// Starts the exporter thread and returns the layer that feeds it, when
/// `config` asks for DataDog spans.
pub(crate) fn install(config: &Config) -> Result<Option<(NativeLayer, NativeBackend)>, InitError> {
    if !config.enabled || !config.apm.enabled || config.apm.provider != ApmProvider::Datadog {
        return Ok(None);
    }
    let agent = exporter::Agent::from_url(&config.apm.agent_url).map_err(InitError::Exporter)?;
    let tags = config.tag_pairs();
    let process = encode::Process::new(
        config.service.clone(),
        &config.env,
        &config.version,
        &tags,
        &uuid::Uuid::new_v4().to_string(),
    );
    let queue = Arc::new(exporter::Queue::default());
    exporter::start(queue.clone(), agent, process)
        .map_err(|e| InitError::Exporter(format!("cannot start the span exporter thread: {e}")))?;
    let rules = &config.apm.sampling_rules;
    let rules_use = (
        rules.iter().any(|r| r.resource.is_some()),
        rules.iter().any(|r| !r.tags.is_empty()),
    );
    let layer = NativeLayer::new(
        queue.clone(),
        sampler::Sampler::new(rules, config.apm.sample_rate, config.apm.rate_limit),
        config.service.clone(),
        rules_use,
        config.apm.propagation.clone(),
    );
    trace_context::install(Box::new(NativeTracer));
    Ok(Some((layer, NativeBackend { queue })))
}

/// Propagation and log correlation through the native layer's span records.
struct NativeTracer;

impl Tracer for NativeTracer {
    fn continue_trace(&self, span: &tracing::Span, headers: &http::HeaderMap) -> Option<TraceIds> {
        layer::continue_trace(span, headers)
    }

    fn inject(&self, span: &tracing::Span, headers: &mut http::HeaderMap) {
        layer::inject(span, headers);
    }

    fn ids_in(
        &self,
        extensions: &tracing_subscriber::registry::Extensions<'_>,
    ) -> Option<TraceIds> {
        extensions.get::<SpanData>().map(|span| TraceIds {
            trace_id: span.trace.id,
            span_id: span.span_id,
        })
    }
}
