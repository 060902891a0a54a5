//! The `tracing` layer that turns spans into DataDog spans.

use std::sync::{Arc, PoisonError};
use std::time::Instant;

use tracing::span::{Attributes, Id, Record};
use tracing::{Dispatch, Subscriber};
use tracing_subscriber::layer::Context;
use tracing_subscriber::registry::{LookupSpan, SpanRef};

use super::exporter::Queue;
use super::ids;
use super::propagation::{self, SpanContext};
use super::sampler::{Root, Sampler};
use super::span::{Fields, Sampling, SpanData, Trace};
use crate::apm::DatadogIds;
use crate::config::PropagationStyle;
use crate::log::json::TraceIds;

/// Makes a DataDog span of every `tracing` span at [`crate::init::SPAN_LEVEL`]
/// or above, parented by the span tree, and queues each trace for export
/// when its local root closes.
#[derive(Debug, Clone)]
pub(crate) struct NativeLayer {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    queue: Arc<Queue>,
    sampler: Sampler,
    /// `DD_SERVICE`: spans without a `service.name` field belong to it.
    service: String,
    /// Whether any sampling rule matches on tags (else none are gathered).
    rules_use_tags: bool,
    /// Whether any sampling rule matches on resources.
    rules_use_resource: bool,
    styles: Vec<PropagationStyle>,
}

impl NativeLayer {
    pub(crate) fn new(
        queue: Arc<Queue>,
        sampler: Sampler,
        service: String,
        rules_use: (bool, bool),
        styles: Vec<PropagationStyle>,
    ) -> Self {
        let (rules_use_resource, rules_use_tags) = rules_use;
        Self {
            inner: Arc::new(Inner {
                queue,
                sampler,
                service,
                rules_use_resource,
                rules_use_tags,
                styles,
            }),
        }
    }

    /// The trace's sampling decision, made now from its local `root` if
    /// nobody has made it yet.
    fn sampling<'t>(&self, trace: &'t Trace, root: &SpanData) -> &'t Sampling {
        trace.sampling.get_or_init(|| {
            // Only rules need the resource and tags: skip building them
            // when none looks at them.
            let resource = match (self.inner.rules_use_resource, root.resource()) {
                (false, _) => String::new(),
                (true, (whole, None)) => whole.to_owned(),
                (true, (method, Some(route))) => format!("{method} {route}"),
            };
            let tags: Vec<(&str, &str)> = if self.inner.rules_use_tags {
                root.tags().collect()
            } else {
                Vec::new()
            };
            let decision = self.inner.sampler.decide(&Root {
                trace_id: trace.id,
                service: root.service().unwrap_or(&self.inner.service),
                name: root.operation(),
                resource: &resource,
                tags: &tags,
            });
            Sampling {
                priority: decision.priority,
                mechanism: decision.mechanism(),
                knuth_rate: Some(decision),
                rule_rate: Some(decision.rule_rate),
                limit_rate: decision.limit_rate,
            }
        })
    }
}

impl<S> tracing_subscriber::Layer<S> for NativeLayer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        if *attrs.metadata().level() > crate::init::SPAN_LEVEL {
            return;
        }
        let Some(span) = ctx.span(id) else { return };
        let mut fields = Fields::with_capacity(attrs.metadata().fields().len());
        attrs.record(&mut fields);
        let start_ns = ids::now_ns();
        // The nearest traced ancestor: spans below SPAN_LEVEL are skipped.
        let parent = span.parent().and_then(|parent| {
            parent.scope().find_map(|s| {
                s.extensions().get::<SpanData>().map(|p| {
                    let same_service = p.fields.same_service(&fields);
                    (p.trace.clone(), p.span_id, same_service)
                })
            })
        });
        let (trace, parent_id, local_root, top_level) = match parent {
            Some((trace, parent_id, same_service)) => (trace, parent_id, false, !same_service),
            None => (
                Arc::new(Trace::new(ids::trace_id(start_ns), None)),
                0,
                true,
                true,
            ),
        };
        let span_id = ids::span_id();
        let mut extensions = span.extensions_mut();
        extensions.insert(TraceIds::new(trace.id, span_id));
        extensions.insert(SpanData {
            trace,
            span_id,
            parent_id,
            local_root,
            top_level,
            start_ns,
            started: Instant::now(),
            duration_ns: 0,
            span_name: attrs.metadata().name(),
            fields,
        });
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        if let Some(span) = ctx.span(id)
            && let Some(data) = span.extensions_mut().get_mut::<SpanData>()
        {
            values.record(&mut data.fields);
        }
    }

    fn on_close(&self, id: Id, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(&id) else { return };
        let Some(mut data) = span.extensions_mut().remove::<SpanData>() else {
            return;
        };
        data.duration_ns = i64::try_from(data.started.elapsed().as_nanos()).unwrap_or(i64::MAX);
        let trace = data.trace.clone();
        if data.local_root {
            self.sampling(&trace, &data);
        }
        let chunk = {
            let mut finished = trace
                .finished
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            if data.local_root {
                finished.root_sent = true;
                let mut spans = std::mem::take(&mut finished.spans);
                spans.push(data);
                Some(spans)
            } else if finished.root_sent {
                // Outlived its local root (a detached task): sent on its own.
                Some(vec![data])
            } else {
                finished.spans.push(data);
                None
            }
        };
        if let Some(spans) = chunk {
            self.inner.queue.push(trace, spans);
        }
    }
}

/// Runs `f` with the native layer and `span`'s record, when the current
/// subscriber has the layer and `span` is traced.
fn with_span_data<R>(
    span: &tracing::Span,
    f: impl FnOnce(&NativeLayer, SpanRef<'_, tracing_subscriber::Registry>) -> Option<R>,
) -> Option<R> {
    span.with_subscriber(|(id, dispatch): (&Id, &Dispatch)| {
        let layer = dispatch.downcast_ref::<NativeLayer>()?;
        let registry = dispatch.downcast_ref::<tracing_subscriber::Registry>()?;
        let span = registry.span(id)?;
        f(layer, span)
    })
    .flatten()
}

/// Continues the trace of `headers` in the (not yet entered) root `span`.
pub(crate) fn continue_trace(
    span: &tracing::Span,
    headers: &http::HeaderMap,
) -> Option<DatadogIds> {
    with_span_data(span, |layer, span| {
        let mut extensions = span.extensions_mut();
        let data = extensions.get_mut::<SpanData>()?;
        if data.local_root
            && propagation::has_trace_headers(headers)
            && let Some(cx) = propagation::extract(headers, &layer.inner.styles)
        {
            let trace = Trace::new(cx.trace_id, None);
            if let Some(priority) = cx.priority {
                let _ = trace.sampling.set(Sampling::upstream(priority));
            }
            data.parent_id = cx.span_id;
            data.trace = Arc::new(Trace {
                upstream: Some(Box::new(cx)),
                ..trace
            });
            let ids = TraceIds::new(data.trace.id, data.span_id);
            // `insert` would panic: the IDs of the new trace replace the old.
            extensions.replace(ids);
        }
        let data = extensions.get_mut::<SpanData>()?;
        Some(DatadogIds {
            trace_id: data.trace.id as u64,
            span_id: data.span_id,
        })
    })
}

/// Writes `span`'s trace context into outgoing `headers`; the trace's
/// sampling decision is made now if it was not yet.
pub(crate) fn inject(span: &tracing::Span, headers: &mut http::HeaderMap) {
    let cx = with_span_data(span, |layer, span| {
        let (trace, span_id) = {
            let extensions = span.extensions();
            let data = extensions.get::<SpanData>()?;
            (data.trace.clone(), data.span_id)
        };
        let priority = match trace.sampling.get() {
            Some(sampling) => sampling.priority,
            None => {
                // The local root decides: the outermost traced span of this trace.
                let root = span.scope().from_root().find(|s| {
                    s.extensions()
                        .get::<SpanData>()
                        .is_some_and(|d| Arc::ptr_eq(&d.trace, &trace))
                })?;
                let extensions = root.extensions();
                let root = extensions.get::<SpanData>()?;
                layer.sampling(&trace, root).priority
            }
        };
        let sampling = trace.sampling.get();
        let upstream = trace.upstream.as_deref();
        let mut tags = upstream.map(|u| u.tags.clone()).unwrap_or_default();
        if let Some(dm) = sampling.and_then(|s| s.mechanism)
            && !tags.iter().any(|(k, _)| k == "_dd.p.dm")
        {
            tags.push(("_dd.p.dm".to_owned(), dm.to_owned()));
        }
        Some((
            SpanContext {
                trace_id: trace.id,
                span_id,
                priority: Some(priority),
                origin: upstream.and_then(|u| u.origin.clone()),
                tags,
                tracestate_others: upstream.and_then(|u| u.tracestate_others.clone()),
            },
            layer.inner.styles.clone(),
        ))
    });
    if let Some((cx, styles)) = cx {
        propagation::inject(&cx, &styles, headers);
    }
}
