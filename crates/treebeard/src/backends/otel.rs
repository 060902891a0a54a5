//! The OpenTelemetry tracers: `APM_PROVIDER=datadog-otel` (dd-trace-rs) and
//! `APM_PROVIDER=otlp`, and trace propagation through OpenTelemetry's context.

use std::time::Duration;

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_subscriber::Layer;
use tracing_subscriber::registry::{Extensions, LookupSpan};

use super::Backend;
use crate::config::{ApmProvider, Config};
use crate::error::InitError;
use crate::trace_context::{self, SPAN_LEVEL, TraceIds, Tracer};

/// Name of the instrumentation scope our spans are created under.
const SCOPE: &str = "treebeard";

/// The running tracer provider; flushes and stops it on shutdown.
#[derive(Debug)]
pub(crate) struct TracerBackend {
    provider: SdkTracerProvider,
}

impl Backend for TracerBackend {
    fn shutdown(&mut self, timeout: Duration) {
        trace_context::deactivate();
        if let Err(error) = self.provider.shutdown_with_timeout(timeout) {
            tracing::warn!(%error, "span exporter did not shut down cleanly; pending spans may be lost");
        }
    }
}

/// Starts the exporter for `config`, or nothing when tracing is off:
/// installs the global propagator and tracer provider, and returns the
/// `tracing` layer that turns spans into OpenTelemetry spans.
pub(crate) fn install<S>(
    config: &Config,
) -> Result<Option<(impl Layer<S>, TracerBackend)>, InitError>
where
    S: tracing::Subscriber + for<'a> LookupSpan<'a>,
{
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
        other => return Err(InitError::feature_disabled(other)),
    };
    trace_context::install(Box::new(OtelTracer {
        datadog: config.apm.provider == ApmProvider::DatadogOtel,
    }));
    // Spans only: events stay log lines instead of becoming span events.
    let layer = tracing_opentelemetry::layer()
        .with_tracer(provider.tracer(SCOPE))
        .with_location(false)
        .with_threads(false)
        .with_tracked_inactivity(false)
        .with_target(false)
        .with_level(false)
        // Parents come from the tracing span tree, and outgoing calls read
        // the span's context explicitly: no need to swap OpenTelemetry's
        // thread-local context on every poll.
        .with_context_activation(false)
        .with_filter(tracing_subscriber::filter::filter_fn(|meta| {
            meta.is_span() && *meta.level() <= SPAN_LEVEL
        }));
    Ok(Some((layer, TracerBackend { provider })))
}

#[cfg(feature = "datadog-otel")]
fn datadog(config: &Config) -> SdkTracerProvider {
    use crate::config::PropagationStyle;
    use datadog_opentelemetry::configuration::{
        Config as DdConfig, SamplingRuleConfig, TracePropagationStyle,
    };

    let mut dd = DdConfig::builder();
    if let Some(env) = &config.env {
        dd.set_env(env.clone());
    }
    dd.set_service(config.service.clone())
        .set_version(config.version.clone())
        .set_trace_agent_url(
            config
                .apm
                .agent_url
                .as_str()
                .trim_end_matches('/')
                .to_owned(),
        )
        // Bounded by i32::MAX when parsed; the fallback is never taken.
        .set_trace_rate_limit(i32::try_from(config.apm.rate_limit).unwrap_or(i32::MAX))
        .set_global_tags(config.tag_pairs());
    // Unset: dd-trace-rs applies the agent's rates, as DataDog's tracers do.
    if let Some(rate) = config.apm.sample_rate {
        dd.set_trace_sample_rate(rate);
    }
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
    let dd_styles = |styles: &[PropagationStyle]| {
        let mut out: Vec<TracePropagationStyle> = styles
            .iter()
            .filter_map(|s| match s {
                PropagationStyle::Datadog => Some(TracePropagationStyle::Datadog),
                PropagationStyle::TraceContext => Some(TracePropagationStyle::TraceContext),
                PropagationStyle::B3 => Some(TracePropagationStyle::B3SingleHeader),
                PropagationStyle::B3Multi => Some(TracePropagationStyle::B3Multi),
                PropagationStyle::Baggage => Some(TracePropagationStyle::Baggage),
                // A style dd-trace-rs does not know is not propagated by it.
                _ => None,
            })
            .collect();
        if out.is_empty() {
            out.push(TracePropagationStyle::None);
        }
        out
    };
    dd.set_trace_propagation_style(dd_styles(&config.apm.propagation))
        .set_trace_propagation_style_extract(dd_styles(&config.apm.propagation_extract))
        .set_trace_propagation_style_inject(dd_styles(&config.apm.propagation_inject));
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
    let mut attributes = vec![KeyValue::new("service.version", config.version.clone())];
    if let Some(env) = &config.env {
        attributes.push(KeyValue::new("deployment.environment.name", env.clone()));
    }
    attributes.extend(
        config
            .tag_pairs()
            .into_iter()
            .map(|(k, v)| KeyValue::new(k, v)),
    );
    let resource = Resource::builder()
        .with_service_name(config.service.clone())
        .with_attributes(attributes)
        .build();
    let provider = SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_resource(resource)
        .with_sampler(Sampler::ParentBased(Box::new(Sampler::TraceIdRatioBased(
            config.apm.sample_rate.unwrap_or(1.0),
        ))))
        .build();
    // OTLP mode speaks W3C trace context only (DataDog and B3 headers need
    // DataDog's propagator, which comes with its exporter).
    opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());
    opentelemetry::global::set_tracer_provider(provider.clone());
    Ok(provider)
}

/// Propagation and log correlation through OpenTelemetry's span context.
struct OtelTracer {
    /// dd-trace-rs exports the spans (`datadog-otel`), rather than OTLP.
    datadog: bool,
}

impl Tracer for OtelTracer {
    fn continue_trace(&self, span: &tracing::Span, headers: &http::HeaderMap) -> Option<TraceIds> {
        use opentelemetry::trace::TraceContextExt;
        use tracing_opentelemetry::OpenTelemetrySpanExt;

        if treebeard_datadog::has_trace_headers(headers) {
            let parent = opentelemetry::global::get_text_map_propagator(|p| {
                p.extract(&opentelemetry_http::HeaderExtractor(headers))
            });
            if parent.span().span_context().is_valid() {
                let _ = span.set_parent(parent);
            }
        }
        let ids = attach(span);
        // dd-trace-rs writes no `_dd.p.tid`: without it DataDog keeps only
        // the low half of a 128-bit trace ID and cannot join the trace with
        // the services that sent or got the whole ID. The server span is
        // the local root its exporter reads trace tags from.
        if self.datadog
            && let Some(ids) = ids
            && let high @ 1.. = (ids.trace_id >> 64) as u64
        {
            span.set_attribute("_dd.p.tid", format!("{high:016x}"));
        }
        ids
    }

    fn inject(&self, span: &tracing::Span, headers: &mut http::HeaderMap) {
        use tracing_opentelemetry::OpenTelemetrySpanExt;
        let cx = span.context();
        opentelemetry::global::get_text_map_propagator(|p| {
            p.inject_context(&cx, &mut opentelemetry_http::HeaderInjector(headers))
        });
    }

    fn set_tag(&self, span: &tracing::Span, key: &'static str, value: &str) {
        use tracing_opentelemetry::OpenTelemetrySpanExt;
        span.set_attribute(key, value.to_owned());
    }

    fn ids_in(&self, extensions: &Extensions<'_>) -> Option<TraceIds> {
        extensions.get::<TraceIds>().copied()
    }

    fn attach_ids(&self, span: &tracing::Span) {
        let _ = attach(span);
    }
}

/// Stores `span`'s IDs in its registry extensions, where the JSON log
/// formatter finds them, and returns them.
fn attach(span: &tracing::Span) -> Option<TraceIds> {
    use opentelemetry::trace::TraceContextExt;
    use tracing_opentelemetry::OpenTelemetrySpanExt;
    let cx = span.context();
    let sc = cx.span().span_context().clone();
    if !sc.is_valid() {
        return None;
    }
    let ids = TraceIds {
        trace_id: u128::from_be_bytes(sc.trace_id().to_bytes()),
        span_id: u64::from_be_bytes(sc.span_id().to_bytes()),
    };
    span.with_subscriber(|(id, dispatch)| {
        use tracing_subscriber::registry::SpanData as _;
        if let Some(registry) = dispatch.downcast_ref::<tracing_subscriber::Registry>()
            && let Some(data) = registry.span_data(id)
        {
            data.extensions_mut().insert(ids);
        }
    });
    Some(ids)
}
