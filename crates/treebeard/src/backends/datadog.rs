//! `APM_PROVIDER=datadog`: DataDog spans made and sent by treebeard's own
//! tracer (the `treebeard-datadog` crate), installed from [`Config`].

use std::time::Duration;

use treebeard_datadog::{DatadogConfig, DatadogLayer, Exporter};

use super::Backend;
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
        if !self.exporter.shutdown(timeout) {
            tracing::warn!(
                timeout_ms = timeout.as_millis() as u64,
                "the span exporter did not finish sending within the shutdown timeout; pending spans may be lost"
            );
        }
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
        .with_env(config.env.clone())
        .with_version(config.version.clone())
        .with_tags(config.tag_pairs())
        .with_agent_url(apm.agent_url.as_str())
        .with_sample_rate(apm.sample_rate)
        .with_rate_limit(apm.rate_limit)
        .with_sampling_rules(apm.sampling_rules.clone())
        .with_propagation(apm.propagation.clone());
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
