//! The `tracing` layer that turns spans into DataDog spans.

use std::cell::Cell;
use std::sync::{Arc, PoisonError};
use std::time::Instant;

use tracing::span::{Attributes, Id, Record};
use tracing::{Dispatch, Subscriber};
use tracing_subscriber::layer::Context;
use tracing_subscriber::registry::{LookupSpan, SpanRef};

use crate::config::PropagationStyle;
use crate::exporter::Queue;
use crate::ids;
use crate::propagation;
use crate::sampler::{Root, Sampler};
use crate::span::{Fields, Sampling, SpanData, Trace};
use crate::{SPAN_LEVEL, SpanIds as TraceIds, has_trace_headers};

thread_local! {
    /// The span this thread's native layer made last, and its IDs (`None`
    /// after any other span). The request layer asks for a new span's IDs
    /// right after making it; when there are no trace headers to continue,
    /// this answers without a trip through the span registry.
    static LAST_SPAN: Cell<Option<(u64, TraceIds)>> = const { Cell::new(None) };
}

/// Finished spans of a trace whose local root is still open that are sent
/// without waiting for it (DataDog's partial flush).
const PARTIAL_FLUSH_SPANS: usize = 1_000;

/// Makes a DataDog span of every `tracing` span at [`SPAN_LEVEL`]
/// or above, parented by the span tree, and queues each trace for export
/// when its local root closes.
#[derive(Debug, Clone)]
pub struct DatadogLayer {
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
    /// Header formats read from incoming requests, in order.
    extract_styles: Vec<PropagationStyle>,
    /// Header formats written into outgoing requests.
    inject_styles: Vec<PropagationStyle>,
    /// New traces get 128-bit IDs (`DD_TRACE_128_BIT_TRACEID_GENERATION_ENABLED`).
    trace_id_128: bool,
}

impl DatadogLayer {
    pub(crate) fn new(
        queue: Arc<Queue>,
        sampler: Sampler,
        service: String,
        rules_use: (bool, bool),
        (extract_styles, inject_styles): (Vec<PropagationStyle>, Vec<PropagationStyle>),
    ) -> Self {
        let (rules_use_resource, rules_use_tags) = rules_use;
        Self {
            inner: Arc::new(Inner {
                queue,
                sampler,
                service,
                rules_use_resource,
                rules_use_tags,
                extract_styles,
                inject_styles,
                trace_id_128: true,
            }),
        }
    }

    /// 64-bit trace IDs for new traces when `on` is false, as DataDog's
    /// tracers make them with `DD_TRACE_128_BIT_TRACEID_GENERATION_ENABLED=false`.
    pub(crate) fn with_trace_id_128(mut self, on: bool) -> Self {
        // Called right after `new`: the layer is not shared yet.
        if let Some(inner) = Arc::get_mut(&mut self.inner) {
            inner.trace_id_128 = on;
        }
        self
    }

    /// The trace's sampling decision, made now from its local `root` if
    /// nobody has made it yet.
    fn sampling<'t>(&self, trace: &'t Trace, root: &SpanData) -> &'t Sampling {
        trace.sampling.get_or_init(|| {
            // Only rules read the name, resource and tags: skip building
            // them when there is none, or none that looks at them.
            let rules = self.inner.sampler.has_rules();
            let resource = if self.inner.rules_use_resource {
                match root.resource() {
                    (whole, None) => whole.to_owned(),
                    (method, Some(route)) => format!("{method} {route}"),
                }
            } else {
                String::new()
            };
            let tags: Vec<(&str, &str)> = if self.inner.rules_use_tags {
                root.tags().collect()
            } else {
                Vec::new()
            };
            let decision = self.inner.sampler.decide(&Root {
                trace_id: trace.id,
                service: root.service().unwrap_or(&self.inner.service),
                name: if rules { root.operation() } else { "" },
                resource: &resource,
                tags: &tags,
            });
            Sampling {
                priority: decision.priority,
                mechanism: decision.mechanism(),
                decision: Some(decision),
            }
        })
    }
}

impl DatadogLayer {
    /// The trace's sampling priority, decided now by its local root (an
    /// ancestor of `span`, or `span` itself) if nobody has decided yet.
    fn priority<'a, R: LookupSpan<'a>>(
        &self,
        trace: &Arc<Trace>,
        span: &SpanRef<'a, R>,
    ) -> Option<i8> {
        if let Some(sampling) = trace.sampling.get() {
            return Some(sampling.priority);
        }
        let root = span.scope().find(|s| {
            s.extensions()
                .get::<SpanData>()
                .is_some_and(|d| d.local_root && Arc::ptr_eq(&d.trace, trace))
        })?;
        let extensions = root.extensions();
        let data = extensions.get::<SpanData>()?;
        Some(self.sampling(trace, data).priority)
    }
}

impl<S> tracing_subscriber::Layer<S> for DatadogLayer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        LAST_SPAN.set(None);
        if *attrs.metadata().level() > SPAN_LEVEL {
            return;
        }
        let Some(span) = ctx.span(id) else { return };
        let mut fields = Fields::default();
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
                Arc::new(Trace::new(
                    if self.inner.trace_id_128 {
                        ids::trace_id(start_ns)
                    } else {
                        u128::from(ids::span_id())
                    },
                    None,
                )),
                0,
                true,
                true,
            ),
        };
        let span_id = ids::span_id();
        LAST_SPAN.set(Some((
            id.into_u64(),
            TraceIds {
                trace_id: trace.id,
                span_id,
            },
        )));
        // The JSON log layer reads the IDs for log correlation from here.
        span.extensions_mut().insert(SpanData {
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
        if data.local_root {
            self.sampling(&data.trace, &data);
            let mut spans = {
                let mut finished = data
                    .trace
                    .finished
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner);
                finished.root_sent = true;
                std::mem::take(&mut finished.spans)
            };
            if spans.is_empty() {
                // The common case, a trace of one span: no Vec for it.
                self.inner.queue.push_one(data);
            } else {
                spans.push(data);
                self.inner.queue.push(spans);
            }
            return;
        }
        // The record moves into its trace's list, which it holds: a handle
        // of its own.
        let trace = data.trace.clone();
        let mut finished = trace
            .finished
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if finished.root_sent {
            // Outlived its local root (a detached task): sent on its own.
            drop(finished);
            self.inner.queue.push_one(data);
        } else {
            finished.spans.push(data);
            // A long-lived root (a worker loop) must not hold its children
            // forever: they go in partial chunks, once the trace has decided.
            if finished.spans.len() >= PARTIAL_FLUSH_SPANS {
                let spans = std::mem::take(&mut finished.spans);
                drop(finished);
                self.priority(&trace, &span);
                self.inner.queue.push(spans);
            }
        }
    }
}

/// Runs `f` with the native layer and `span`'s record, when the current
/// subscriber has the layer and `span` is traced.
fn with_span_data<R>(
    span: &tracing::Span,
    f: impl FnOnce(&DatadogLayer, SpanRef<'_, tracing_subscriber::Registry>) -> Option<R>,
) -> Option<R> {
    span.with_subscriber(|(id, dispatch): (&Id, &Dispatch)| {
        let layer = dispatch.downcast_ref::<DatadogLayer>()?;
        let registry = dispatch.downcast_ref::<tracing_subscriber::Registry>()?;
        let span = registry.span(id)?;
        f(layer, span)
    })
    .flatten()
}

/// Continues the trace of `headers` in the (not yet entered) root `span`.
pub fn continue_trace(span: &tracing::Span, headers: &http::HeaderMap) -> Option<TraceIds> {
    let has_headers = has_trace_headers(headers);
    if !has_headers
        && let Some(id) = span.id()
        && let Some((last, ids)) = LAST_SPAN.get()
        && last == id.into_u64()
        && span.with_subscriber(|(_, dispatch)| dispatch.is::<DatadogLayer>()) == Some(true)
    {
        return Some(ids);
    }
    with_span_data(span, |layer, span| {
        let mut extensions = span.extensions_mut();
        let data = extensions.get_mut::<SpanData>()?;
        if data.local_root
            && has_headers
            && let Some(cx) = propagation::extract(headers, &layer.inner.extract_styles)
        {
            // Baggage alone (trace ID 0) rides on the new trace.
            let continued = cx.trace_id != 0;
            let trace = Trace::new(
                if continued {
                    cx.trace_id
                } else {
                    data.trace.id
                },
                None,
            );
            if let Some(priority) = cx.priority.filter(|_| continued) {
                let _ = trace.sampling.set(Sampling::upstream(priority));
            }
            if continued {
                data.parent_id = cx.span_id;
            }
            data.trace = Arc::new(Trace {
                upstream: Some(Box::new(cx)),
                ..trace
            });
        }
        let data = extensions.get_mut::<SpanData>()?;
        Some(TraceIds {
            trace_id: data.trace.id,
            span_id: data.span_id,
        })
    })
}

/// Tags `span` with `key: value`, for tags whose name is known only at run
/// time (such as `DD_TRACE_HEADER_TAGS`); nothing when `span` is not
/// recorded by this tracer.
pub fn set_tag(span: &tracing::Span, key: &'static str, value: &str) {
    with_span_data(span, |_, span| {
        span.extensions_mut()
            .get_mut::<SpanData>()?
            .fields
            .set(key, value);
        Some(())
    });
}

/// Writes `span`'s trace context into outgoing `headers`; the trace's
/// sampling decision is made now if it was not yet.
pub fn inject(span: &tracing::Span, headers: &mut http::HeaderMap) {
    let cx = with_span_data(span, |layer, span| {
        let (trace, span_id) = {
            let extensions = span.extensions();
            let data = extensions.get::<SpanData>()?;
            (data.trace.clone(), data.span_id)
        };
        let priority = layer.priority(&trace, &span)?;
        let sampling = trace.sampling.get();
        let cx = propagation::outgoing(
            (trace.id, span_id, priority),
            sampling.and_then(|s| s.mechanism),
            trace.upstream.as_deref(),
            trace.inject_error.get().copied(),
        );
        Some((cx, layer.inner.inject_styles.clone(), trace))
    });
    if let Some((cx, styles, trace)) = cx
        && let Some(error) = propagation::inject(&cx, &styles, headers)
    {
        let _ = trace.inject_error.set(error);
    }
}

#[cfg(test)]
mod tests {
    use tracing_subscriber::layer::SubscriberExt;

    use super::*;

    /// Runs `f` under a registry with a native layer feeding `queue`.
    fn traced(queue: &Arc<Queue>, f: impl FnOnce()) {
        let layer = DatadogLayer::new(
            queue.clone(),
            Sampler::new(&[], Some(1.0), 1_000, crate::sampler::AgentRates::new("")),
            "svc".to_owned(),
            (false, false),
            (
                PropagationStyle::DEFAULT.to_vec(),
                PropagationStyle::DEFAULT.to_vec(),
            ),
        );
        let subscriber = tracing_subscriber::registry().with(layer);
        tracing::subscriber::with_default(subscriber, f);
    }

    #[test]
    fn a_trace_leaves_whole_when_its_root_closes_and_skips_untraced_spans() {
        let queue = Arc::new(Queue::default());
        traced(&queue, || {
            let root = tracing::info_span!(
                "req",
                otel.kind = "server",
                http.method = "GET",
                http.route = "/x"
            );
            let child = tracing::info_span!(parent: &root, "work", service.name = "other");
            let debug = tracing::debug_span!(parent: &child, "untraced");
            let leaf = tracing::info_span!(parent: &debug, "leaf", rows = 3_u64);
            drop((leaf, debug, child));
            assert!(queue.take_all().is_empty(), "children wait for the root");
            drop(root);
        });
        let chunks = queue.take_all();
        assert_eq!(chunks.len(), 1);
        let (trace, spans) = &chunks[0];
        let [leaf, child, root] = &spans[..] else {
            panic!("3 spans expected: {spans:?}")
        };
        assert!(root.local_root && root.parent_id == 0);
        assert_eq!(root.resource(), ("GET", Some("/x")));
        assert_eq!(
            (root.operation(), root.span_type()),
            ("http.server.request", "web")
        );
        assert_eq!(child.parent_id, root.span_id);
        assert_eq!(leaf.parent_id, child.span_id, "the DEBUG span is skipped");
        assert!(child.top_level, "another service");
        assert_eq!(leaf.fields.metrics, vec![("rows", 3.0)]);
        assert_eq!(trace.sampling.get().map(|s| s.priority), Some(2));
    }

    #[test]
    fn a_long_lived_root_sends_its_children_in_partial_chunks() {
        let queue = Arc::new(Queue::default());
        traced(&queue, || {
            let root = tracing::info_span!("worker");
            for _ in 0..PARTIAL_FLUSH_SPANS {
                drop(tracing::info_span!(parent: &root, "job"));
            }
            let chunks = queue.take_all();
            assert_eq!(chunks.len(), 1);
            assert_eq!(chunks[0].1.len(), PARTIAL_FLUSH_SPANS);
            assert!(
                chunks[0].0.sampling.get().is_some(),
                "decided before sending"
            );
        });
    }

    #[test]
    fn incoming_headers_are_continued_and_outgoing_ones_carry_the_decision() {
        let queue = Arc::new(Queue::default());
        traced(&queue, || {
            let root = tracing::info_span!("req");
            let mut incoming = http::HeaderMap::new();
            incoming.insert("x-datadog-trace-id", http::HeaderValue::from_static("77"));
            incoming.insert("x-datadog-parent-id", http::HeaderValue::from_static("5"));
            incoming.insert(
                "x-datadog-sampling-priority",
                http::HeaderValue::from_static("-1"),
            );
            let ids = continue_trace(&root, &incoming).unwrap();
            assert_eq!(ids.trace_id, 77);
            let child = tracing::info_span!(parent: &root, "call");
            let mut outgoing = http::HeaderMap::new();
            inject(&child, &mut outgoing);
            assert_eq!(outgoing["x-datadog-trace-id"], "77");
            assert_eq!(outgoing["x-datadog-sampling-priority"], "-1");
            assert_eq!(outgoing["traceparent"].to_str().unwrap().len(), 55);
            let new_trace = tracing::info_span!("other");
            let mut outgoing = http::HeaderMap::new();
            inject(&new_trace, &mut outgoing);
            assert_eq!(
                outgoing["x-datadog-sampling-priority"], "2",
                "decided on the first call out"
            );
        });
    }
}
