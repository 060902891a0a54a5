//! `APM_PROVIDER=datadog`: DataDog spans made and sent by treebeard's own
//! tracer (the `treebeard-datadog` crate), installed from [`Config`].

use std::time::Duration;

use treebeard_datadog::{DatadogConfig, DatadogLayer, Exporter};

use super::{Backend, TracerStats};
use crate::config::{ApmProvider, Config};
use crate::error::InitError;
use crate::trace_context::{self, TraceIds, Tracer};

/// The running exporter: flushes the queue and stops its thread on shutdown.
#[derive(Debug)]
pub(crate) struct NativeBackend {
    exporter: Exporter,
}

impl Backend for NativeBackend {
    fn shutdown(&mut self, timeout: Duration) {
        trace_context::deactivate();
        let in_time = self.exporter.shutdown(timeout);
        let stats = self.exporter.stats();
        if !in_time {
            tracing::warn!(
                timeout_ms = timeout.as_millis() as u64,
                "the span exporter did not finish sending within the shutdown timeout; pending spans may be lost"
            );
        }
        // The exporter's totals, once: what an outage cost, if anything.
        let dropped = stats.spans_dropped();
        macro_rules! totals {
            ($level:ident) => {
                tracing::$level!(
                    target: "treebeard::apm",
                    spans_sent = stats.spans_sent,
                    spans_sent_late = stats.spans_sent_late,
                    spans_dropped = dropped,
                    spans_dropped_queue_full = stats.spans_dropped_queue_full,
                    spans_dropped_buffer_full = stats.spans_dropped_buffer_full,
                    spans_dropped_rejected = stats.spans_dropped_rejected,
                    spans_dropped_at_shutdown = stats.spans_dropped_at_shutdown,
                    payloads_retried = stats.payloads_retried,
                    "span export totals"
                )
            };
        }
        if dropped > 0 {
            totals!(warn);
        } else {
            totals!(info);
        }
    }

    fn tracer_stats(&self) -> Option<TracerStats> {
        let handle = self.exporter.stats_handle();
        Some(TracerStats::new(move || handle.stats()))
    }
}

/// Starts the exporter thread and returns the layer that feeds it, when
/// `config` asks for DataDog spans.
pub(crate) fn install(config: &Config) -> Result<Option<(DatadogLayer, NativeBackend)>, InitError> {
    if !config.enabled || !config.apm.enabled || config.apm.provider != ApmProvider::Datadog {
        return Ok(None);
    }
    let apm = &config.apm;
    let settings = DatadogConfig::new(config.service.clone())
        .with_env(config.env.clone().unwrap_or_default())
        .with_version(config.version.clone())
        .with_tags(config.tag_pairs())
        .with_agent_url(apm.agent_url.as_str())
        .with_rate_limit(apm.rate_limit)
        .with_sampling_rules(apm.sampling_rules.clone())
        .with_propagation_extract(apm.propagation_extract.clone())
        .with_propagation_inject(apm.propagation_inject.clone())
        .with_buffer_max_bytes(apm.buffer_max_bytes)
        .with_128_bit_trace_ids(apm.trace_id_128);
    // The container (or cgroup) this process runs in: the agent adds its
    // container and pod tags to the spans.
    let origin = treebeard_conventions::origin::Origin::detect();
    let mut settings = settings.with_origin(origin.container_id.clone(), origin.entity_id_header());
    if let Some(rate) = apm.sample_rate {
        settings = settings.with_sample_rate(rate);
    }
    let (layer, exporter) =
        treebeard_datadog::install(&settings).map_err(|e| InitError::Exporter(e.to_string()))?;
    trace_context::install(Box::new(NativeTracer));
    Ok(Some((layer, NativeBackend { exporter })))
}

/// Propagation and log correlation through the native layer's span records.
struct NativeTracer;

impl Tracer for NativeTracer {
    fn continue_trace(&self, span: &tracing::Span, headers: &http::HeaderMap) -> Option<TraceIds> {
        treebeard_datadog::continue_trace(span, headers).map(ids)
    }

    fn inject(&self, span: &tracing::Span, headers: &mut http::HeaderMap) {
        treebeard_datadog::inject(span, headers);
    }

    fn set_tag(&self, span: &tracing::Span, key: &'static str, value: &str) {
        treebeard_datadog::set_tag(span, key, value);
    }

    fn ids_in(
        &self,
        extensions: &tracing_subscriber::registry::Extensions<'_>,
    ) -> Option<TraceIds> {
        treebeard_datadog::span_ids(extensions).map(ids)
    }
}

fn ids(span: treebeard_datadog::SpanIds) -> TraceIds {
    TraceIds {
        trace_id: span.trace_id,
        span_id: span.span_id,
    }
}
