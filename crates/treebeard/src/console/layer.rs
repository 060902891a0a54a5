//! [`ConsoleLayer`]: a `tracing` layer that records each request span, its
//! descendants and the lines written inside them, and hands the finished
//! request to the console's buffer.
//!
//! A request starts with the request layer's `http.request` span (the one
//! with a `request_id` field) when it has no recorded parent; every span
//! opened below it, and every event inside those, belongs to it. Values
//! are scrubbed as they are recorded, and each request is bounded
//! ([`MAX_SPANS`], [`MAX_LINES`], [`MAX_VALUE`] bytes per value).

use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use tracing::field::{Field, Visit};
use tracing::span;
use tracing::{Event, Subscriber};
use tracing_subscriber::layer::Context;
use tracing_subscriber::registry::LookupSpan;

use super::buffer::{Console, ErrorRecord, LogRecord, RequestRecord, SpanRecord};

/// Spans kept per request; more are counted in `dropped`.
pub(crate) const MAX_SPANS: usize = 128;
/// Log lines kept per request; more are counted in `dropped`.
pub(crate) const MAX_LINES: usize = 128;
/// Bytes kept of one field value (cut at a character boundary); a panic's
/// `error.stack` may keep up to [`MAX_STACK`].
pub(crate) const MAX_VALUE: usize = 1024;
/// Bytes kept of an error's stack (the panic hook cuts it at 8 KiB too).
pub(crate) const MAX_STACK: usize = 8 * 1024;

/// The request a span belongs to, kept in the span's registry extensions.
struct Tracked {
    request: Arc<Mutex<InFlight>>,
    index: usize,
}

/// A request whose span is still open.
struct InFlight {
    start: Instant,
    started_ms: u64,
    spans: Vec<SpanRecord>,
    logs: Vec<LogRecord>,
    error: Option<ErrorRecord>,
    dropped: u32,
}

/// The `tracing` layer of the dev console; added by `init` only when
/// `TREEBEARD_DEV_CONSOLE` is on.
pub(crate) struct ConsoleLayer {
    console: Arc<Console>,
}

impl ConsoleLayer {
    pub(crate) fn new(console: Arc<Console>) -> Self {
        Self { console }
    }
}

impl fmt::Debug for ConsoleLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConsoleLayer").finish_non_exhaustive()
    }
}

fn lock(request: &Mutex<InFlight>) -> std::sync::MutexGuard<'_, InFlight> {
    request.lock().unwrap_or_else(PoisonError::into_inner)
}

fn micros_since(start: Instant) -> u64 {
    u64::try_from(start.elapsed().as_micros()).unwrap_or(u64::MAX)
}

/// Whether `meta` is the request layer's server span.
fn is_request_span(meta: &tracing::Metadata<'_>) -> bool {
    meta.name() == "http.request" && meta.fields().field("request_id").is_some()
}

impl<S> tracing_subscriber::Layer<S> for ConsoleLayer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(&self, attrs: &span::Attributes<'_>, id: &span::Id, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else { return };
        let parent = span.parent().and_then(|p| {
            p.extensions()
                .get::<Tracked>()
                .map(|t| (t.request.clone(), t.index))
        });
        let mut tags = Fields::default();
        attrs.record(&mut tags);
        let (request, parent_index) = match parent {
            Some((request, index)) => (request, Some(index)),
            None if is_request_span(attrs.metadata()) => {
                let started_ms = SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
                let request = InFlight {
                    start: Instant::now(),
                    started_ms,
                    spans: Vec::new(),
                    logs: Vec::new(),
                    error: None,
                    dropped: 0,
                };
                (Arc::new(Mutex::new(request)), None)
            }
            None => return,
        };
        let index = {
            let mut r = lock(&request);
            if r.spans.len() >= MAX_SPANS {
                r.dropped += 1;
                return;
            }
            let start_us = micros_since(r.start);
            r.spans.push(SpanRecord {
                parent: parent_index,
                name: attrs.metadata().name().to_owned(),
                resource: String::new(),
                start_us,
                duration_us: None,
                tags: tags.values,
            });
            r.spans.len() - 1
        };
        span.extensions_mut().insert(Tracked { request, index });
    }

    fn on_record(&self, id: &span::Id, values: &span::Record<'_>, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else { return };
        let extensions = span.extensions();
        let Some(tracked) = extensions.get::<Tracked>() else {
            return;
        };
        let mut fields = Fields::default();
        values.record(&mut fields);
        let mut r = lock(&tracked.request);
        if let Some(record) = r.spans.get_mut(tracked.index) {
            for (name, value) in fields.values {
                match record.tags.iter_mut().find(|(n, _)| *n == name) {
                    Some(existing) => existing.1 = value,
                    None => record.tags.push((name, value)),
                }
            }
        }
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        let Some(span) = ctx.event_span(event) else {
            return;
        };
        // The nearest recorded span: a span beyond the bounds is not recorded.
        let Some((request, index)) = span.scope().find_map(|s| {
            s.extensions()
                .get::<Tracked>()
                .map(|t| (t.request.clone(), t.index))
        }) else {
            return;
        };
        let mut fields = Fields::default();
        event.record(&mut fields);
        let mut r = lock(&request);
        if let Some(error) = fields.error() {
            // The first error of a request is the one Sentry groups it by.
            r.error.get_or_insert(error);
        }
        if r.logs.len() >= MAX_LINES {
            r.dropped += 1;
            return;
        }
        let offset_us = micros_since(r.start);
        r.logs.push(LogRecord {
            offset_us,
            level: event.metadata().level().as_str(),
            message: fields.message.unwrap_or_default(),
            fields: fields.values,
            span: Some(index),
        });
    }

    fn on_close(&self, id: span::Id, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(&id) else { return };
        let Some(tracked) = span.extensions_mut().remove::<Tracked>() else {
            return;
        };
        let mut r = lock(&tracked.request);
        let elapsed = micros_since(r.start);
        if let Some(record) = r.spans.get_mut(tracked.index) {
            record.duration_us = Some(elapsed.saturating_sub(record.start_us));
        }
        if tracked.index == 0 {
            let record = finish(&mut r);
            drop(r);
            self.console.record(record);
        }
    }
}

fn tag<'a>(tags: &'a [(&'static str, String)], name: &str) -> Option<&'a str> {
    tags.iter()
        .find(|(n, _)| *n == name)
        .map(|(_, v)| v.as_str())
}

/// Turns the in-flight request into its record, naming each span.
fn finish(r: &mut InFlight) -> RequestRecord {
    let mut spans = std::mem::take(&mut r.spans);
    for span in &mut spans {
        if let Some(name) =
            tag(&span.tags, "operation.name").or_else(|| tag(&span.tags, "otel.name"))
        {
            span.name = name.to_owned();
        }
        span.resource = match tag(&span.tags, "resource.name") {
            Some(resource) => resource.to_owned(),
            None => match (
                tag(&span.tags, "http.method"),
                tag(&span.tags, "http.route"),
            ) {
                (Some(method), Some(route)) => format!("{method} {route}"),
                _ => span.name.clone(),
            },
        };
    }
    let root = spans.first();
    let root_tag = |name| root.and_then(|s| tag(&s.tags, name));
    let error = r.error.take().or_else(|| {
        root_tag("error.type").map(|kind| ErrorRecord {
            kind: kind.to_owned(),
            message: root_tag("error.message").unwrap_or_default().to_owned(),
            stack: None,
        })
    });
    RequestRecord {
        seq: 0,
        request_id: root_tag("request_id").unwrap_or_default().to_owned(),
        method: root_tag("http.method").unwrap_or_default().to_owned(),
        route: root_tag("http.route").unwrap_or("unmatched").to_owned(),
        status: root_tag("http.status_code").and_then(|s| s.parse().ok()),
        latency_us: root.and_then(|s| s.duration_us).unwrap_or_default(),
        started_ms: r.started_ms,
        spans,
        logs: std::mem::take(&mut r.logs),
        error,
        dropped: r.dropped,
    }
}

/// Field values, scrubbed and bounded; an event's `message` apart.
#[derive(Default)]
struct Fields {
    message: Option<String>,
    values: Vec<(&'static str, String)>,
}

impl Fields {
    fn push(&mut self, field: &Field, value: &str) {
        let limit = if field.name() == "error.stack" {
            MAX_STACK
        } else {
            MAX_VALUE
        };
        let scrubbed = crate::privacy::scrubber().scrub(value);
        let value = bounded(&scrubbed, limit);
        if field.name() == "message" {
            self.message = Some(value);
        } else {
            self.values.push((field.name(), value));
        }
    }

    /// The Sentry-shaped error an event carries (the panic hook's line, or
    /// any line with DataDog's `error.kind`).
    fn error(&self) -> Option<ErrorRecord> {
        let kind = tag(&self.values, "error.kind")?;
        Some(ErrorRecord {
            kind: kind.to_owned(),
            message: tag(&self.values, "error.message")
                .or(self.message.as_deref())
                .unwrap_or_default()
                .to_owned(),
            stack: tag(&self.values, "error.stack")
                .or_else(|| tag(&self.values, "error.location"))
                .map(str::to_owned),
        })
    }
}

/// `value` cut to `limit` bytes at a character boundary, marked when cut.
fn bounded(value: &str, limit: usize) -> String {
    if value.len() <= limit {
        return value.to_owned();
    }
    let mut end = limit;
    while !value.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}… ({} more bytes)", &value[..end], value.len() - end)
}

impl Visit for Fields {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.push(field, value);
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.push(field, &format!("{value:?}"));
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.push(field, itoa::Buffer::new().format(value));
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.push(field, itoa::Buffer::new().format(value));
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.push(field, if value { "true" } else { "false" });
    }
}

#[cfg(test)]
mod tests {
    use tracing_subscriber::layer::SubscriberExt;

    use super::*;

    fn console() -> Arc<Console> {
        Arc::new(Console::new(10, usize::MAX))
    }

    #[test]
    fn a_request_span_its_children_and_lines_become_one_record() {
        let console = console();
        let subscriber = tracing_subscriber::registry().with(ConsoleLayer::new(console.clone()));
        tracing::subscriber::with_default(subscriber, || {
            // Outside any request: not recorded.
            tracing::info!("before");
            let _ = tracing::info_span!("background").entered();
            let request = tracing::info_span!(
                "http.request",
                http.method = "GET",
                http.route = "/users/{id}",
                http.status_code = tracing::field::Empty,
                request_id = "req-1",
            );
            request.in_scope(|| {
                let query = tracing::info_span!(
                    "db.query",
                    operation.name = "sqlite.query",
                    resource.name = "SELECT * FROM users WHERE id = ?",
                );
                query.in_scope(|| {
                    tracing::info!(email = "bob@example.com", "query for bob@example.com")
                });
                drop(query);
                let call = tracing::info_span!(
                    "external_api.request",
                    resource.name = "recommender /score"
                );
                call.in_scope(|| {
                    let _client =
                        tracing::info_span!("http.client.request", operation.name = "http.request")
                            .entered();
                });
                tracing::error!(
                    error.kind = "panic",
                    error.message = "boom",
                    error.location = "src/x.rs:1:1",
                    "panic: boom"
                );
            });
            request.record("http.status_code", 500);
        });
        let records = console.buffer.since(0);
        assert_eq!(records.len(), 1);
        let r = &records[0];
        assert_eq!(
            (r.request_id.as_str(), r.method.as_str(), r.route.as_str()),
            ("req-1", "GET", "/users/{id}")
        );
        assert_eq!(r.status, Some(500));
        let names: Vec<(&str, Option<usize>)> = r
            .spans
            .iter()
            .map(|s| (s.name.as_str(), s.parent))
            .collect();
        assert_eq!(
            names,
            [
                ("http.request", None),
                ("sqlite.query", Some(0)),
                ("external_api.request", Some(0)),
                ("http.request", Some(2)),
            ]
        );
        assert_eq!(r.spans[0].resource, "GET /users/{id}");
        assert_eq!(r.spans[1].resource, "SELECT * FROM users WHERE id = ?");
        assert!(r.spans.iter().all(|s| s.duration_us.is_some()));
        assert_eq!(r.logs.len(), 2);
        assert_eq!(r.logs[0].message, "query for [EMAIL]", "lines are scrubbed");
        assert_eq!(r.logs[0].fields, [("email", "[EMAIL]".to_owned())]);
        assert_eq!(r.logs[0].span, Some(1));
        let error = r.error.as_ref().expect("the panic line is the error");
        assert_eq!(
            (error.kind.as_str(), error.message.as_str()),
            ("panic", "boom")
        );
        assert_eq!(error.stack.as_deref(), Some("src/x.rs:1:1"));
    }

    #[test]
    fn a_request_is_bounded_in_spans_lines_and_value_size() {
        let console = console();
        let subscriber = tracing_subscriber::registry().with(ConsoleLayer::new(console.clone()));
        tracing::subscriber::with_default(subscriber, || {
            let request = tracing::info_span!("http.request", request_id = "big");
            request.in_scope(|| {
                for _ in 0..(MAX_SPANS * 2) {
                    let _ = tracing::info_span!("child").entered();
                }
                for _ in 0..(MAX_LINES * 2) {
                    tracing::info!(long = "x".repeat(10 * MAX_VALUE).as_str(), "line");
                }
            });
        });
        let r = &console.buffer.since(0)[0];
        assert_eq!(r.spans.len(), MAX_SPANS);
        assert_eq!(r.logs.len(), MAX_LINES);
        assert_eq!(r.dropped as usize, MAX_SPANS + 1 + MAX_LINES);
        assert!(r.logs[0].fields[0].1.len() < MAX_VALUE + 40);
        assert_eq!(r.route, "unmatched");
    }

    #[test]
    fn an_error_response_without_a_line_takes_the_span_error() {
        let console = console();
        let subscriber = tracing_subscriber::registry().with(ConsoleLayer::new(console.clone()));
        tracing::subscriber::with_default(subscriber, || {
            let request = tracing::info_span!(
                "http.request",
                request_id = "e",
                error.type = tracing::field::Empty,
                error.message = tracing::field::Empty,
            );
            request.record("error.type", "DbError");
            request.record("error.message", "connection to alice@example.com refused");
        });
        let error = console.buffer.since(0)[0].error.clone().expect("error");
        assert_eq!(error.kind, "DbError");
        assert_eq!(error.message, "connection to [EMAIL] refused");
    }
}
