//! The OpenTelemetry tracers: `APM_PROVIDER=datadog-otel` (dd-trace-rs) and
//! `APM_PROVIDER=otlp`, and trace propagation through OpenTelemetry's context.

use std::sync::atomic::Ordering;
use std::time::Duration;

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::trace::{SdkTracer, SdkTracerProvider};

use super::Backend;
use crate::apm::{ACTIVE, DatadogIds};
use crate::config::{ApmProvider, Config};
use crate::init::InitError;

/// Name of the instrumentation scope our spans are created under.
const SCOPE: &str = "treebeard";

/// The running tracer provider; flushes and stops it on shutdown.
#[derive(Debug)]
pub(crate) struct TracerBackend {
    provider: SdkTracerProvider,
}

impl Backend for TracerBackend {
    fn shutdown(&mut self, timeout: Duration) {
        ACTIVE.store(false, Ordering::Relaxed);
        if let Err(error) = self.provider.shutdown_with_timeout(timeout) {
            tracing::warn!(%error, "span exporter did not shut down cleanly; pending spans may be lost");
        }
    }
}

/// Starts the exporter for `config`, or nothing when tracing is off.
/// Installs the global propagator and tracer provider.
pub(crate) fn install(config: &Config) -> Result<Option<(SdkTracer, TracerBackend)>, InitError> {
    if !config.enabled || !config.apm.enabled {
        return Ok(None);
    }
    let provider = match config.apm.provider {
        ApmProvider::None | ApmProvider::Datadog => return Ok(None),
        #[cfg(feature = "datadog-otel")]
        ApmProvider::DatadogOtel => datadog(config),
        #[cfg(feature = "otlp")]
        ApmProvider::Otlp => otlp(config)?,
        #[allow(unreachable_patterns)]
        other => return Err(crate::apm::feature_disabled(other)),
    };
    ACTIVE.store(true, Ordering::Relaxed);
    let tracer = provider.tracer(SCOPE);
    Ok(Some((tracer, TracerBackend { provider })))
}

#[cfg(feature = "datadog-otel")]
fn datadog(config: &Config) -> SdkTracerProvider {
    use crate::config::PropagationStyle;
    use datadog_opentelemetry::configuration::{
        Config as DdConfig, SamplingRuleConfig, TracePropagationStyle,
    };

    let mut dd = DdConfig::builder();
    dd.set_service(config.service.clone())
        .set_env(config.env.clone())
        .set_version(config.version.clone())
        .set_trace_agent_url(
            config
                .apm
                .agent_url
                .as_str()
                .trim_end_matches('/')
                .to_owned(),
        )
        .set_trace_sample_rate(config.apm.sample_rate)
        // Bounded by i32::MAX when parsed; the fallback is never taken.
        .set_trace_rate_limit(i32::try_from(config.apm.rate_limit).unwrap_or(i32::MAX))
        .set_global_tags(
            config
                .tags
                .iter()
                .map(|t| crate::apm::split_tag(t))
                .collect(),
        );
    let rules = config
        .apm
        .sampling_rules
        .iter()
        .map(|r| SamplingRuleConfig {
            sample_rate: r.sample_rate,
            service: r.service.clone(),
            name: r.name.clone(),
            resource: r.resource.clone(),
            tags: r.tags.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
        })
        .collect();
    dd.set_trace_sampling_rules(rules);
    let mut styles: Vec<TracePropagationStyle> = config
        .apm
        .propagation
        .iter()
        .map(|s| match s {
            PropagationStyle::Datadog => TracePropagationStyle::Datadog,
            PropagationStyle::TraceContext => TracePropagationStyle::TraceContext,
            PropagationStyle::B3 => TracePropagationStyle::B3SingleHeader,
            PropagationStyle::B3Multi => TracePropagationStyle::B3Multi,
        })
        .collect();
    if styles.is_empty() {
        styles.push(TracePropagationStyle::None);
    }
    dd.set_trace_propagation_style(styles);
    datadog_opentelemetry::tracing()
        .with_config(dd.build())
        .init()
}

#[cfg(feature = "otlp")]
fn otlp(config: &Config) -> Result<SdkTracerProvider, InitError> {
    use opentelemetry::KeyValue;
    use opentelemetry_otlp::{WithExportConfig, WithHttpConfig as _};
    use opentelemetry_sdk::Resource;
    use opentelemetry_sdk::propagation::TraceContextPropagator;
    use opentelemetry_sdk::trace::Sampler;

    let endpoint = format!(
        "{}/v1/traces",
        config.apm.otlp_endpoint.as_str().trim_end_matches('/')
    );
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_endpoint(endpoint)
        .with_timeout(Duration::from_secs(5))
        .with_headers(Default::default())
        .build()
        .map_err(|e| InitError::Exporter(e.to_string()))?;
    let mut attributes = vec![
        KeyValue::new("deployment.environment.name", config.env.clone()),
        KeyValue::new("service.version", config.version.clone()),
    ];
    attributes.extend(config.tags.iter().map(|t| {
        let (k, v) = crate::apm::split_tag(t);
        KeyValue::new(k, v)
    }));
    let resource = Resource::builder()
        .with_service_name(config.service.clone())
        .with_attributes(attributes)
        .build();
    let provider = SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_resource(resource)
        .with_sampler(Sampler::ParentBased(Box::new(Sampler::TraceIdRatioBased(
            config.apm.sample_rate,
        ))))
        .build();
    // OTLP mode speaks W3C trace context only (DataDog and B3 headers need
    // DataDog's propagator, which comes with its exporter).
    opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());
    opentelemetry::global::set_tracer_provider(provider.clone());
    Ok(provider)
}

/// Continues the trace of `headers` in `span` through the OpenTelemetry
/// propagator, and attaches the span's IDs for log correlation.
pub(crate) fn continue_trace(
    span: &tracing::Span,
    headers: &http::HeaderMap,
) -> Option<DatadogIds> {
    use opentelemetry::trace::TraceContextExt;
    use tracing_opentelemetry::OpenTelemetrySpanExt;

    if crate::apm::has_trace_headers(headers) {
        let parent = opentelemetry::global::get_text_map_propagator(|p| {
            p.extract(&opentelemetry_http::HeaderExtractor(headers))
        });
        if parent.span().span_context().is_valid() {
            let _ = span.set_parent(parent);
        }
    }
    attach_ids(span)
}

/// Writes `span`'s context into `headers` through the OpenTelemetry propagator.
pub(crate) fn inject(span: &tracing::Span, headers: &mut http::HeaderMap) {
    use tracing_opentelemetry::OpenTelemetrySpanExt;
    let cx = span.context();
    opentelemetry::global::get_text_map_propagator(|p| {
        p.inject_context(&cx, &mut opentelemetry_http::HeaderInjector(headers))
    });
}

/// Makes `span`'s IDs available to the JSON log formatter, and returns them.
pub(crate) fn attach_ids(span: &tracing::Span) -> Option<DatadogIds> {
    use opentelemetry::trace::TraceContextExt;
    use tracing_opentelemetry::OpenTelemetrySpanExt;
    let cx = span.context();
    let sc = cx.span().span_context().clone();
    if !sc.is_valid() {
        return None;
    }
    let trace = u128::from_be_bytes(sc.trace_id().to_bytes());
    let span_id = u64::from_be_bytes(sc.span_id().to_bytes());
    crate::log::json::attach_trace_ids(span, trace, span_id);
    Some(DatadogIds {
        trace_id: trace as u64,
        span_id,
    })
}
