//! A single-pass JSON formatter for `tracing` events.
//!
//! Each line is written straight into a reused thread-local buffer: span
//! fields are rendered to JSON once, when the span is created, and copied
//! into each line; the `dd.*` correlation fields that never change are
//! rendered once, when the layer is built. This avoids the re-parsing and
//! per-event allocations of a general-purpose formatter.
//!
//! Line layout (all at the JSON root, as DataDog's log pipeline expects):
//!
//! ```text
//! {"timestamp":"2026-11-27T10:00:00.123456Z","level":"INFO","logger.name":"app",
//!  "message":"request completed", <event fields>, <fields of enclosing spans>,
//!  "dd.trace_id":"0","dd.span_id":"0", "dd.service":"...","dd.env":"...","dd.version":"..."}
//! ```
//!
//! `dd.trace_id` and `dd.span_id` appear on lines written inside a span, as
//! decimal strings: the IDs of the innermost span that has them (the request
//! span, or a span made by the [`crate::apm`] helpers), or `0` when no tracer
//! runs. `dd.trace_id` is the low 64 bits of the trace ID, which is what
//! DataDog correlates logs on; `otel.trace_id` carries all 128 bits in hex.
//!
//! Span fields that only matter to APM (`otel.*`, `http.*`, `db.*`,
//! `resource.name`, `span.type`, `operation.name`, `service.name`,
//! `peer.service`, `out.host`, `error.*`) are not copied into log lines.

use std::cell::RefCell;
use std::fmt::{self, Write as _};
use std::io::Write as _;
use std::time::SystemTime;

use tracing_core::field::{Field, Visit};
use tracing_core::span::{Attributes, Id, Record};
use tracing_core::{Event, Metadata, Subscriber};
use tracing_subscriber::Registry;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::{Context, Layer};
use tracing_subscriber::registry::{LookupSpan, Scope};

use crate::config::Config;
pub use crate::escape::write_str;
use crate::escape::{Escaper, push_escaped};
use crate::request_line::{Outcome, RequestLine};
use crate::route::REQUEST_LINE_TARGET;
use crate::trace_context::TraceIds;
use treebeard_pii::Scrubber;

/// Line buffers larger than this are not kept for reuse.
const MAX_RETAINED_BUFFER: usize = 64 * 1024;

thread_local! {
    static LINE: RefCell<String> = RefCell::new(String::with_capacity(512));
}

/// Writes `tracing` events as one JSON object per line; see the [module docs](self).
#[derive(Debug, Clone)]
pub struct JsonLogLayer<W> {
    make_writer: W,
    /// Scrubs every text value; `None` only when switched off explicitly.
    scrubber: Option<&'static Scrubber>,
    /// `,"dd.service":...,"dd.env":...,"dd.version":...`, or empty.
    dd_static: String,
    logs_injection: bool,
}

impl JsonLogLayer<fn() -> std::io::Stdout> {
    /// Writes to stdout, without `dd.*` fields.
    pub fn new() -> Self {
        Self {
            make_writer: std::io::stdout,
            scrubber: Some(crate::privacy::scrubber()),
            dd_static: String::new(),
            logs_injection: false,
        }
    }

    /// Writes to stdout, with the `dd.*` fields when
    /// [`logs_injection`](Config::logs_injection) is on.
    pub fn from_config(config: &Config) -> Self {
        let layer = Self::new();
        if config.logs_injection {
            layer.with_correlation(&config.service, config.env.as_deref(), &config.version)
        } else {
            layer
        }
    }
}

impl Default for JsonLogLayer<fn() -> std::io::Stdout> {
    fn default() -> Self {
        Self::new()
    }
}

impl<W> JsonLogLayer<W> {
    /// Writes lines to `make_writer` (such as tracing-appender's
    /// `NonBlocking`). Each line is one `write` call.
    pub fn with_writer<W2>(self, make_writer: W2) -> JsonLogLayer<W2>
    where
        W2: for<'w> MakeWriter<'w> + 'static,
    {
        JsonLogLayer {
            make_writer,
            scrubber: self.scrubber,
            dd_static: self.dd_static,
            logs_injection: self.logs_injection,
        }
    }

    /// Writes values as they are, without PII scrubbing (for tests and
    /// trusted sinks only: log lines leave the process).
    #[must_use]
    pub fn without_scrubbing(mut self) -> Self {
        self.scrubber = None;
        self
    }

    /// Adds DataDog log correlation: `dd.service`, `dd.env` (when `env`
    /// is set), `dd.version` on every line and `dd.trace_id`, `dd.span_id`
    /// inside spans.
    #[must_use]
    pub fn with_correlation(mut self, service: &str, env: Option<&str>, version: &str) -> Self {
        let mut s = String::new();
        let env = env.map(|env| ("dd.env", env));
        for (key, value) in [("dd.service", service)]
            .into_iter()
            .chain(env)
            .chain([("dd.version", version)])
        {
            s.push(',');
            write_str(&mut s, key);
            s.push(':');
            write_str(&mut s, value);
        }
        self.dd_static = s;
        self.logs_injection = true;
        self
    }

    fn format_event<S>(&self, event: &Event<'_>, ctx: &Context<'_, S>, line: &mut String)
    where
        S: Subscriber + for<'a> LookupSpan<'a>,
    {
        let meta = event.metadata();
        write_head(line, meta.level(), meta.target());
        event.record(&mut self.visitor(line));
        self.write_tail(ctx.event_scope(event), line);
    }

    /// A visitor writing event fields into `line`.
    fn visitor<'a>(&'a self, line: &'a mut String) -> JsonVisitor<'a> {
        JsonVisitor {
            out: line,
            skip_apm: false,
            scrubber: self.scrubber,
        }
    }

    /// Writes what follows a line's own fields: the trace IDs and fields
    /// of the spans it is in (`scope`, leaf first), then the `dd.*` fields
    /// that never change, and closes the line.
    fn write_tail<'a, R: LookupSpan<'a>>(&self, scope: Option<Scope<'a, R>>, line: &mut String) {
        let mut in_span = false;
        let mut ids_written = false;
        let tracer = if self.logs_injection {
            crate::trace_context::tracer()
        } else {
            None
        };
        if let Some(scope) = scope {
            // Leaf first, so the innermost span's trace IDs win.
            for span in scope {
                in_span = true;
                let extensions = span.extensions();
                if !ids_written && let Some(ids) = tracer.and_then(|t| t.ids_in(&extensions)) {
                    write_ids(ids, line);
                    ids_written = true;
                }
                if let Some(fields) = extensions.get::<SpanFields>() {
                    line.push_str(&fields.0);
                }
            }
        }
        if self.logs_injection && in_span && !ids_written {
            line.push_str(r#","dd.trace_id":"0","dd.span_id":"0""#);
        }
        line.push_str(&self.dd_static);
        line.push_str("}\n");
    }
}

impl<W: for<'w> MakeWriter<'w>> JsonLogLayer<W> {
    /// Writes the request line of the request span `id` of `dispatch`'s
    /// registry: the same line as for the event `RequestLog` would emit
    /// inside that span (see [`crate::request_line`]). False when the
    /// subscriber has no registry or the span is gone.
    pub(crate) fn write_request_line(
        &self,
        dispatch: &tracing::Dispatch,
        id: &Id,
        request: &RequestLine<'_>,
    ) -> bool {
        let Some(span) = dispatch
            .downcast_ref::<Registry>()
            .and_then(|registry| registry.span(id))
        else {
            return false;
        };
        self.write_line(None, |line| {
            write_head(line, &request.level(), REQUEST_LINE_TARGET);
            // The event's fields, in the order `RequestLog` declares them.
            let mut fields = self.visitor(line);
            fields.u64("http.status_code", u64::from(request.status_code));
            fields.u64("duration", request.duration);
            fields.f64("latency_ms", request.latency_ms);
            if let Some(head_ms) = request.head_ms {
                fields.f64("head_ms", head_ms);
            }
            fields.str("http.url_details.path", request.path);
            if let Some(user_agent) = request.user_agent {
                fields.str("http.useragent", user_agent);
            }
            if let Some(ip) = request.client_ip {
                fields.debug("network.client.ip", &format_args!("{ip}"));
            }
            match request.outcome {
                Outcome::Served => {}
                Outcome::Failed { kind, error, .. } => {
                    fields.str("error.kind", kind);
                    fields.debug("error.message", &format_args!("{error}"));
                }
                Outcome::ClientClosed { handler_status } => {
                    if let Some(status) = handler_status {
                        fields.u64("handler_status", u64::from(status));
                    }
                }
            }
            fields.str("message", request.message());
            self.write_tail(Some(span.scope()), line);
        });
        true
    }

    /// Formats a line with `format` into a reused buffer and writes it
    /// (to the writer for `meta`, when the line is an event's).
    fn write_line(&self, meta: Option<&Metadata<'_>>, format: impl FnOnce(&mut String)) {
        let write = |line: &mut String| {
            line.clear();
            format(line);
            let mut writer = match meta {
                Some(meta) => self.make_writer.make_writer_for(meta),
                None => self.make_writer.make_writer(),
            };
            // A failed write must not fail the caller: the line is lost, and
            // the non-blocking writer counts what it drops.
            let _ = writer.write_all(line.as_bytes());
            if line.capacity() > MAX_RETAINED_BUFFER {
                *line = String::with_capacity(512);
            }
        };
        // Re-entrant use (a Debug impl that logs) gets a fresh buffer.
        let mut write = Some(write);
        let _ = LINE.try_with(|cell| {
            if let Ok(mut line) = cell.try_borrow_mut()
                && let Some(write) = write.take()
            {
                write(&mut line);
            }
        });
        if let Some(write) = write {
            write(&mut String::new());
        }
    }
}

/// Writes `{"timestamp":...,"level":...,"logger.name":...`.
fn write_head(line: &mut String, level: &tracing::Level, target: &str) {
    line.push_str("{\"timestamp\":\"");
    push_timestamp(line, SystemTime::now());
    line.push_str("\",\"level\":\"");
    line.push_str(level.as_str());
    line.push_str("\",\"logger.name\":");
    write_str(line, target);
}

thread_local! {
    /// The current second as RFC 3339 without the `Z`, and its Unix time:
    /// formatted once a second instead of for every line.
    static SECOND: RefCell<(u64, String)> = const { RefCell::new((0, String::new())) };
}

/// Writes `now` as `2026-11-27T10:00:00.123456Z` (UTC, microseconds), as
/// `humantime::format_rfc3339_micros` does.
fn push_timestamp(line: &mut String, now: SystemTime) {
    let Ok(since_epoch) = now.duration_since(SystemTime::UNIX_EPOCH) else {
        let _ = write!(line, "{}", humantime::format_rfc3339_micros(now));
        return;
    };
    let seconds = since_epoch.as_secs();
    let cached = SECOND.try_with(|cell| {
        let Ok(mut cell) = cell.try_borrow_mut() else {
            return false;
        };
        let (second, text) = &mut *cell;
        if *second != seconds || text.is_empty() {
            text.clear();
            let _ = write!(text, "{}", humantime::format_rfc3339_seconds(now));
            text.pop(); // the `Z`
            *second = seconds;
        }
        line.push_str(text);
        true
    });
    if cached != Ok(true) {
        let _ = write!(line, "{}", humantime::format_rfc3339_micros(now));
        return;
    }
    let micros = since_epoch.subsec_micros();
    let mut digits = [b'0'; 8];
    digits[0] = b'.';
    let mut rest = micros;
    for digit in digits[1..7].iter_mut().rev() {
        *digit = b'0' + (rest % 10) as u8;
        rest /= 10;
    }
    digits[7] = b'Z';
    line.push_str(std::str::from_utf8(&digits).unwrap_or_default());
}

/// JSON of a span's fields (`,"key":value...`), rendered once per span.
struct SpanFields(String);

/// Writes `,"dd.trace_id":"..","dd.span_id":"..","otel.trace_id":".."`.
///
/// Formatted per line, not per span: most spans log once or twice, and
/// numbers are cheaper to keep than strings.
fn write_ids(ids: TraceIds, line: &mut String) {
    line.push_str(r#","dd.trace_id":""#);
    line.push_str(itoa::Buffer::new().format(ids.datadog_trace_id()));
    line.push_str(r#"","dd.span_id":""#);
    line.push_str(itoa::Buffer::new().format(ids.span_id));
    line.push_str(r#"","otel.trace_id":""#);
    // Into a buffer first: one copy instead of 32 pushes; a byte (two
    // digits) at a time.
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut hex = [0u8; 32];
    for (pair, byte) in hex.chunks_exact_mut(2).zip(ids.trace_id.to_be_bytes()) {
        pair[0] = HEX[usize::from(byte >> 4)];
        pair[1] = HEX[usize::from(byte & 0xf)];
    }
    line.push_str(std::str::from_utf8(&hex).unwrap_or_default());
    line.push('"');
}

/// The log-line name of a span field: APM fields are left out (`None`),
/// except the two DataDog standard attributes every line in a request
/// shows.
fn log_name(name: &str) -> Option<&str> {
    match name {
        "http.method" | "http.route" => Some(name),
        _ if is_apm_field(name) => None,
        _ => Some(name),
    }
}

/// Whether a record has any field that log lines show.
struct HasLogField(bool);

impl Visit for HasLogField {
    fn record_debug(&mut self, field: &Field, _: &dyn std::fmt::Debug) {
        self.0 |= log_name(field.name()).is_some();
    }
}

/// Span fields for APM only, kept out of log lines.
fn is_apm_field(name: &str) -> bool {
    // Dispatched on the first byte: every span field and event field of
    // every line goes through here.
    match name.as_bytes().first() {
        Some(b'o') => {
            name.starts_with("otel.") || name.starts_with("out.") || name == "operation.name"
        }
        Some(b'h') => name.starts_with("http."),
        Some(b'd') => name.starts_with("db."),
        Some(b'e') => name.starts_with("error."),
        Some(b'r') => name == "resource.name",
        Some(b's') => name == "span.type" || name == "service.name",
        Some(b'p') => name == "peer.service",
        _ => false,
    }
}

impl<S, W> Layer<S> for JsonLogLayer<W>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    W: for<'w> MakeWriter<'w> + 'static,
{
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        // A span of APM fields only (a query's, an outgoing call's) adds
        // nothing to lines: no visit, no buffer (a later record of a log
        // field starts one, in `on_record`).
        let fields = attrs.metadata().fields();
        if !fields.iter().any(|f| log_name(f.name()).is_some()) {
            return;
        }
        let Some(span) = ctx.span(id) else { return };
        // Sized once for what the span declares, rather than grown 4 or 5
        // times from empty: fields render to about 30 bytes each.
        let mut rendered = String::with_capacity(32 * fields.len());
        attrs.record(&mut JsonVisitor {
            out: &mut rendered,
            skip_apm: true,
            scrubber: self.scrubber,
        });
        if !rendered.is_empty() {
            span.extensions_mut().insert(SpanFields(rendered));
        }
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        // Most records after creation are APM-only (status, error): skip
        // the span lookup for them.
        let mut any = HasLogField(false);
        values.record(&mut any);
        if !any.0 {
            return;
        }
        let Some(span) = ctx.span(id) else { return };
        let mut extensions = span.extensions_mut();
        if extensions.get_mut::<SpanFields>().is_none() {
            extensions.insert(SpanFields(String::new()));
        }
        if let Some(fields) = extensions.get_mut::<SpanFields>() {
            values.record(&mut JsonVisitor {
                out: &mut fields.0,
                skip_apm: true,
                scrubber: self.scrubber,
            });
        }
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        self.write_line(Some(event.metadata()), |line| {
            self.format_event(event, &ctx, line);
        });
    }
}

/// Writes fields as `,"name":value` pairs, scrubbing text values.
struct JsonVisitor<'a> {
    out: &'a mut String,
    /// Leave out APM-only fields (for span fields).
    skip_apm: bool,
    scrubber: Option<&'a Scrubber>,
}

thread_local! {
    /// Where `Debug` values are formatted before scrubbing.
    static DEBUG_BUF: RefCell<String> = const { RefCell::new(String::new()) };
}

impl JsonVisitor<'_> {
    /// Writes `value` as a JSON string: scrubbed, or `[REDACTED]` when the
    /// field's name is sensitive (`password`, `token`, ...).
    fn text(&mut self, name: &'static str, value: &str) {
        let Some(scrubber) = self.scrubber else {
            return write_str(self.out, value);
        };
        match name {
            // The method and the route template come from code, not input.
            "http.method" | "http.route" => write_str(self.out, value),
            name if is_sensitive_name(scrubber, name) => {
                write_str(self.out, treebeard_pii::markers::REDACTED);
            }
            _ => write_str(self.out, &scrubber.scrub(value)),
        }
    }
}

/// Field names seen on this thread, by address, with their sensitivity.
/// Names are `&'static str` from callsites: a pointer comparison replaces
/// the scrubber's key normalisation, which would run for every value.
const NAME_CACHE_SIZE: usize = 64;

thread_local! {
    static NAME_CACHE: RefCell<Vec<(usize, bool)>> = const { RefCell::new(Vec::new()) };
}

fn is_sensitive_name(scrubber: &Scrubber, name: &'static str) -> bool {
    let key = name.as_ptr() as usize ^ name.len().rotate_left(48);
    let cached = NAME_CACHE.try_with(|cache| {
        let mut cache = cache.try_borrow_mut().ok()?;
        if let Some((_, sensitive)) = cache.iter().find(|(k, _)| *k == key) {
            return Some(*sensitive);
        }
        let sensitive = scrubber.is_sensitive_key(name);
        if cache.len() == NAME_CACHE_SIZE {
            cache.remove(0);
        }
        cache.push((key, sensitive));
        Some(sensitive)
    });
    cached
        .ok()
        .flatten()
        .unwrap_or_else(|| scrubber.is_sensitive_key(name))
}

impl JsonVisitor<'_> {
    /// Writes the key and returns true, or returns false to skip the field.
    #[must_use]
    fn key(&mut self, name: &'static str) -> bool {
        let name = if self.skip_apm {
            match log_name(name) {
                Some(name) => name,
                None => return false,
            }
        } else {
            name
        };
        self.out.push_str(",\"");
        push_escaped(self.out, name);
        self.out.push_str("\":");
        true
    }

    /// Writes an unsigned field.
    fn u64(&mut self, name: &'static str, value: u64) {
        if self.key(name) {
            self.out.push_str(itoa::Buffer::new().format(value));
        }
    }

    /// Writes a float field (`null` when not finite).
    fn f64(&mut self, name: &'static str, value: f64) {
        if !self.key(name) {
            return;
        }
        if !value.is_finite() {
            self.out.push_str("null");
        } else if !push_millis(self.out, value) {
            self.out.push_str(ryu::Buffer::new().format_finite(value));
        }
    }

    /// Writes a text field, scrubbed (see [`JsonVisitor::text`]).
    fn str(&mut self, name: &'static str, value: &str) {
        if self.key(name) {
            self.text(name, value);
        }
    }

    /// Writes a field formatted with `Debug` as text, scrubbed.
    fn debug(&mut self, name: &'static str, value: &dyn fmt::Debug) {
        if !self.key(name) {
            return;
        }
        if self.scrubber.is_none() {
            self.out.push('"');
            let _ = write!(Escaper(self.out), "{value:?}");
            self.out.push('"');
            return;
        }
        // Formatted once into a reused buffer, then scrubbed and escaped.
        let reused = DEBUG_BUF.try_with(|cell| match cell.try_borrow_mut() {
            Ok(mut buf) => {
                buf.clear();
                let _ = write!(buf, "{value:?}");
                self.text(name, &buf);
                true
            }
            Err(_) => false,
        });
        if reused != Ok(true) {
            self.text(name, &format!("{value:?}"));
        }
    }
}

/// Writes `value` when it has at most three decimals (latencies in whole
/// microseconds, `1.234` ms), exactly as `ryu` would, in a fraction of its
/// time; returns false, writing nothing, for any other value.
fn push_millis(out: &mut String, value: f64) -> bool {
    let thousandths = value * 1000.0;
    if value.is_sign_negative() || thousandths >= 1e15 || thousandths.fract() != 0.0 {
        return false;
    }
    let n = thousandths as u64;
    // The decimal must read back as this very value, or ryu's answer differs.
    if n as f64 / 1000.0 != value {
        return false;
    }
    let mut digits = itoa::Buffer::new();
    out.push_str(digits.format(n / 1000));
    out.push('.');
    let frac = n % 1000;
    let frac_digits = [frac / 100, frac / 10 % 10, frac % 10];
    let len = match frac_digits {
        [_, 0, 0] => 1,
        [_, _, 0] => 2,
        _ => 3,
    };
    for d in frac_digits.iter().take(len) {
        out.push(char::from(b'0' + *d as u8));
    }
    true
}

impl Visit for JsonVisitor<'_> {
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.f64(field.name(), value);
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        if self.key(field.name()) {
            self.out.push_str(itoa::Buffer::new().format(value));
        }
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.u64(field.name(), value);
    }

    fn record_i128(&mut self, field: &Field, value: i128) {
        if self.key(field.name()) {
            self.out.push_str(itoa::Buffer::new().format(value));
        }
    }

    fn record_u128(&mut self, field: &Field, value: u128) {
        if self.key(field.name()) {
            self.out.push_str(itoa::Buffer::new().format(value));
        }
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        if self.key(field.name()) {
            self.out.push_str(if value { "true" } else { "false" });
        }
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        self.str(field.name(), value);
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.record_debug(field, &format_args!("{value}"));
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.debug(field.name(), value);
    }
}

#[cfg(test)]
mod tests {
    use tracing_subscriber::layer::SubscriberExt;

    use super::*;
    use crate::log::capture::Capture;

    fn capture(
        layer: JsonLogLayer<fn() -> std::io::Stdout>,
        f: impl FnOnce(),
    ) -> Vec<serde_json::Value> {
        let out = Capture::default();
        let subscriber = tracing_subscriber::registry().with(layer.with_writer(out.clone()));
        tracing::subscriber::with_default(subscriber, f);
        out.text()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
            .collect()
    }

    #[test]
    fn writes_one_valid_json_object_per_event_with_span_fields_at_root() {
        let lines = capture(
            JsonLogLayer::new().with_correlation("svc", Some("prod"), "1.2"),
            || {
                tracing::info!(answer = 42, ratio = 0.5, ok = true, "outside");
                let span = tracing::info_span!(
                    "http.request",
                    request_id = "rid-9",
                    route = "/users/{id}"
                );
                let _e = span.enter();
                tracing::warn!(user = ?"quote\"d", "inside \n a span");
            },
        );
        assert_eq!(lines.len(), 2);
        let outside = &lines[0];
        assert_eq!(outside["message"], "outside");
        assert_eq!(outside["level"], "INFO");
        assert_eq!(outside["answer"], 42);
        assert_eq!(outside["ratio"], 0.5);
        assert_eq!(outside["ok"], true);
        assert_eq!(outside["dd.service"], "svc");
        assert!(
            outside.get("dd.trace_id").is_none(),
            "no trace outside a span"
        );
        assert!(outside["timestamp"].as_str().unwrap().ends_with('Z'));

        let inside = &lines[1];
        assert_eq!(inside["message"], "inside \n a span");
        assert_eq!(inside["level"], "WARN");
        assert_eq!(inside["user"], "\"quote\\\"d\"");
        assert_eq!(inside["request_id"], "rid-9");
        assert_eq!(inside["route"], "/users/{id}");
        for key in [
            "dd.trace_id",
            "dd.span_id",
            "dd.service",
            "dd.env",
            "dd.version",
        ] {
            assert!(inside[key].is_string(), "{key} missing: {inside}");
        }
        assert_eq!(inside["dd.env"], "prod");
        assert_eq!(inside["dd.version"], "1.2");
    }

    #[test]
    fn timestamps_are_written_as_humantime_writes_them() {
        let start = SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_796_000_000);
        // Within one second, across seconds, and back in time.
        let mut times: Vec<SystemTime> = (0..3000u64)
            .map(|i| start + std::time::Duration::from_micros(i * 977))
            .collect();
        times.push(start);
        times.push(SystemTime::UNIX_EPOCH);
        times.push(SystemTime::now());
        for time in times {
            let mut ours = String::new();
            push_timestamp(&mut ours, time);
            assert_eq!(
                ours,
                humantime::format_rfc3339_micros(time).to_string(),
                "{time:?}"
            );
        }
    }

    #[test]
    fn millisecond_values_are_written_as_ryu_writes_them() {
        let mut state = 0x9e37_79b9_7f4a_7c15_u64;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let mut values = vec![0.0, 0.001, 0.01, 0.1, 0.5, 1.0, 12.0, 1.234, 999.999, 1e11];
        for _ in 0..20_000 {
            let micros = next() % 10_000_000_000;
            values.push(micros as f64 / 1000.0);
            values.push(f64::from_bits(next() >> 2));
        }
        let mut fast = 0;
        for value in values {
            let mut ours = String::new();
            if push_millis(&mut ours, value) {
                assert_eq!(ours, ryu::Buffer::new().format_finite(value), "{value:e}");
                fast += 1;
            }
        }
        assert!(
            fast > 19_000,
            "the fast path is taken for millisecond values: {fast}"
        );
        for other in [0.1234, -1.5, -0.0, 1e300] {
            assert!(!push_millis(&mut String::new(), other), "{other}");
        }
    }

    #[test]
    fn apm_fields_are_told_apart_from_log_fields() {
        for apm in [
            "otel.kind",
            "out.host",
            "operation.name",
            "http.url",
            "db.system",
            "error.type",
            "resource.name",
            "span.type",
            "service.name",
            "peer.service",
        ] {
            assert!(is_apm_field(apm), "{apm}");
        }
        for log in [
            "",
            "o",
            "order",
            "host",
            "request_id",
            "status",
            "span",
            "peer",
        ] {
            assert!(!is_apm_field(log), "{log}");
        }
    }

    #[test]
    fn text_values_are_scrubbed_and_sensitive_field_names_redacted() {
        let lines = capture(JsonLogLayer::new(), || {
            let span = tracing::info_span!("s", request_id = "id bob@example.com");
            let _e = span.enter();
            tracing::warn!(
                password = "hunter2",
                card = ?"4111 1111 1111 1111",
                order = "ORD-123456789",
                "login failed for alice@example.com"
            );
        });
        let line = &lines[0];
        assert_eq!(line["message"], "login failed for [EMAIL]");
        assert_eq!(line["password"], "[REDACTED]");
        assert_eq!(line["card"], "\"[CARD]\"");
        assert_eq!(line["order"], "ORD-123456789", "look-alikes are left alone");
        assert_eq!(line["request_id"], "id [EMAIL]");
        let raw = line.to_string();
        assert!(!raw.contains("hunter2") && !raw.contains("alice@") && !raw.contains("4111"));
    }

    #[test]
    fn without_injection_there_are_no_dd_fields() {
        let lines = capture(JsonLogLayer::new(), || {
            let span = tracing::info_span!("s", request_id = "r");
            let _e = span.enter();
            tracing::info!("x");
        });
        assert!(
            lines[0]
                .as_object()
                .unwrap()
                .keys()
                .all(|k| !k.starts_with("dd."))
        );
        assert_eq!(lines[0]["request_id"], "r");
    }

    #[test]
    fn spans_of_apm_fields_add_nothing_until_a_log_field_is_recorded() {
        let lines = capture(JsonLogLayer::new(), || {
            let query = tracing::info_span!(
                "db.query",
                db.system = "sqlite",
                otel.kind = "client",
                http.status_code = tracing::field::Empty,
                order = tracing::field::Empty,
            );
            let _e = query.enter();
            tracing::info!("before");
            query.record("http.status_code", 200_u64);
            tracing::info!("after an APM record");
            query.record("order", "ORD-1");
            tracing::info!("after a log record");
        });
        let keys = |line: &serde_json::Value| {
            let mut keys: Vec<String> = line.as_object().unwrap().keys().cloned().collect();
            keys.sort();
            keys
        };
        assert_eq!(
            keys(&lines[0]),
            ["level", "logger.name", "message", "timestamp"]
        );
        assert_eq!(keys(&lines[0]), keys(&lines[1]));
        assert_eq!(lines[2]["order"], "ORD-1");
    }

    #[test]
    fn non_finite_floats_are_null_and_recorded_fields_are_kept() {
        let lines = capture(JsonLogLayer::new(), || {
            let span = tracing::info_span!("s", status = tracing::field::Empty);
            span.record("status", 503_u64);
            let _e = span.enter();
            tracing::info!(x = f64::NAN, "y");
        });
        assert!(lines[0]["x"].is_null());
        assert_eq!(lines[0]["status"], 503);
    }
}
