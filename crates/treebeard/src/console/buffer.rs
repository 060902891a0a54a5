//! The ring buffer of finished requests, bounded in count and in bytes, and
//! [`Console`], the state the console's layer and service share.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{SystemTime, UNIX_EPOCH};

use tokio::sync::watch;

use serde::Serialize;

use super::stats::{RouteStats, RouteSummary};

/// One span of a request, as the waterfall shows it.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct SpanRecord {
    /// Index of the parent span in the request's `spans`; `None` for the root.
    pub(crate) parent: Option<usize>,
    /// The operation name (`operation.name`, else `otel.name`, else the span's name).
    pub(crate) name: String,
    /// The resource (`resource.name`, else `<method> <route>` for the request span).
    pub(crate) resource: String,
    /// Microseconds from the request's start to this span's creation.
    pub(crate) start_us: u64,
    /// Microseconds the span lasted; `None` while it is open.
    pub(crate) duration_us: Option<u64>,
    /// Its fields, scrubbed, in the order they were first recorded.
    pub(crate) tags: Vec<(&'static str, String)>,
}

/// One log line written inside a request.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct LogRecord {
    /// Microseconds from the request's start.
    pub(crate) offset_us: u64,
    /// `TRACE` to `ERROR`.
    pub(crate) level: &'static str,
    /// The message, scrubbed.
    pub(crate) message: String,
    /// The other fields, scrubbed.
    pub(crate) fields: Vec<(&'static str, String)>,
    /// Index of the span the line was written in.
    pub(crate) span: Option<usize>,
}

/// What Sentry would show of a request's error.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct ErrorRecord {
    /// The exception type (`error.kind` / `error.type`, such as `panic`).
    pub(crate) kind: String,
    /// The exception message.
    pub(crate) message: String,
    /// The stack or location (`error.stack`, else `error.location`), if any.
    pub(crate) stack: Option<String>,
}

/// One finished request with everything the console shows of it.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct RequestRecord {
    /// Position in the stream of requests, from 1.
    pub(crate) seq: u64,
    /// The request ID (scrubbed, as on its log lines).
    pub(crate) request_id: String,
    /// `GET`, ...
    pub(crate) method: String,
    /// The route template (`/users/{id}`), `unmatched` or `/*`.
    pub(crate) route: String,
    /// The response status; `None` when the request failed without one.
    pub(crate) status: Option<u16>,
    /// Microseconds from the request span's creation to its end.
    pub(crate) latency_us: u64,
    /// When it started, in milliseconds since the Unix epoch.
    pub(crate) started_ms: u64,
    /// Its spans, parents before children; index 0 is the request span.
    pub(crate) spans: Vec<SpanRecord>,
    /// Its log lines, in order.
    pub(crate) logs: Vec<LogRecord>,
    /// Its error, Sentry-shaped.
    pub(crate) error: Option<ErrorRecord>,
    /// Spans and lines left out by the per-request bounds.
    pub(crate) dropped: u32,
}

/// A request as the list shows it (the detail is fetched on selection).
#[derive(Debug, Clone, Serialize)]
pub(crate) struct RequestSummary<'a> {
    seq: u64,
    request_id: &'a str,
    method: &'a str,
    route: &'a str,
    status: Option<u16>,
    latency_us: u64,
    started_ms: u64,
    error: Option<&'a str>,
}

impl RequestRecord {
    /// What the list shows of it.
    pub(crate) fn summary(&self) -> RequestSummary<'_> {
        RequestSummary {
            seq: self.seq,
            request_id: &self.request_id,
            method: &self.method,
            route: &self.route,
            status: self.status,
            latency_us: self.latency_us,
            started_ms: self.started_ms,
            error: self.error.as_ref().map(|e| e.kind.as_str()),
        }
    }

    /// An estimate of the heap and inline bytes it holds: every string's
    /// length and every record's size (allocator slack not counted).
    pub(crate) fn estimated_bytes(&self) -> usize {
        fn pairs(tags: &[(&'static str, String)]) -> usize {
            tags.iter()
                .map(|(_, v)| size_of::<(&str, String)>() + v.len())
                .sum()
        }
        let spans: usize = self
            .spans
            .iter()
            .map(|s| size_of::<SpanRecord>() + s.name.len() + s.resource.len() + pairs(&s.tags))
            .sum();
        let logs: usize = self
            .logs
            .iter()
            .map(|l| size_of::<LogRecord>() + l.message.len() + pairs(&l.fields))
            .sum();
        let error = self.error.as_ref().map_or(0, |e| {
            size_of::<ErrorRecord>()
                + e.kind.len()
                + e.message.len()
                + e.stack.as_ref().map_or(0, String::len)
        });
        size_of::<Self>()
            + self.request_id.len()
            + self.method.len()
            + self.route.len()
            + spans
            + logs
            + error
    }
}

/// The last requests, oldest evicted first when either bound is reached,
/// and the per-route statistics.
#[derive(Debug)]
pub(crate) struct RequestBuffer {
    capacity: usize,
    max_bytes: usize,
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    entries: VecDeque<(Arc<RequestRecord>, usize)>,
    bytes: usize,
    last_seq: u64,
    evicted: u64,
    routes: RouteStats,
}

impl RequestBuffer {
    /// Keeps at most `capacity` requests and `max_bytes` estimated bytes
    /// (a single request larger than `max_bytes` is not kept).
    pub(crate) fn new(capacity: usize, max_bytes: usize) -> Self {
        Self {
            capacity,
            max_bytes,
            inner: Mutex::new(Inner::default()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panic while holding the lock leaves consistent data: keep going.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Adds a finished request (its `seq` is set here) and returns its seq.
    pub(crate) fn push(&self, mut record: RequestRecord, now_ms: u64) -> u64 {
        let mut inner = self.lock();
        inner.last_seq += 1;
        record.seq = inner.last_seq;
        let key = format!("{} {}", record.method, record.route);
        inner.routes.add(&key, record.latency_us, now_ms);
        let bytes = record.estimated_bytes();
        inner.entries.push_back((Arc::new(record), bytes));
        inner.bytes += bytes;
        while inner.entries.len() > self.capacity || inner.bytes > self.max_bytes {
            let Some((_, evicted)) = inner.entries.pop_front() else {
                break;
            };
            inner.bytes -= evicted;
            inner.evicted += 1;
        }
        inner.last_seq
    }

    /// Requests with a seq above `after`, oldest first.
    pub(crate) fn since(&self, after: u64) -> Vec<Arc<RequestRecord>> {
        let inner = self.lock();
        inner
            .entries
            .iter()
            .filter(|(r, _)| r.seq > after)
            .map(|(r, _)| r.clone())
            .collect()
    }

    /// The request with this ID and `seq`, or without `seq` the last to
    /// finish with this ID (an ID propagated to a call back into the same
    /// service names two requests; the outer one finishes last).
    pub(crate) fn find(&self, request_id: &str, seq: Option<u64>) -> Option<Arc<RequestRecord>> {
        let inner = self.lock();
        inner
            .entries
            .iter()
            .rev()
            .find(|(r, _)| r.request_id == request_id && seq.is_none_or(|seq| r.seq == seq))
            .map(|(r, _)| r.clone())
    }

    /// The highest seq so far.
    pub(crate) fn last_seq(&self) -> u64 {
        self.lock().last_seq
    }

    /// Per-route rate and latency percentiles at `now_ms`.
    pub(crate) fn routes(&self, now_ms: u64) -> Vec<RouteSummary> {
        self.lock().routes.summaries(now_ms)
    }

    /// Most requests kept.
    pub(crate) fn capacity(&self) -> usize {
        self.capacity
    }

    /// Most estimated bytes kept.
    pub(crate) fn max_bytes(&self) -> usize {
        self.max_bytes
    }

    /// (requests kept, estimated bytes kept, requests evicted so far).
    pub(crate) fn usage(&self) -> (usize, usize, u64) {
        let inner = self.lock();
        (inner.entries.len(), inner.bytes, inner.evicted)
    }
}

/// What the live streams wait on: the last request's seq, and whether the
/// server is shutting down (streams end so that it can drain).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Signal {
    pub(crate) last_seq: u64,
    pub(crate) closing: bool,
}

/// The console's state, shared by its `tracing` layer and its service.
#[derive(Debug)]
pub(crate) struct Console {
    pub(crate) buffer: RequestBuffer,
    pub(crate) signal: watch::Sender<Signal>,
}

impl Console {
    pub(crate) fn new(capacity: usize, max_bytes: usize) -> Self {
        Self {
            buffer: RequestBuffer::new(capacity, max_bytes),
            signal: watch::Sender::new(Signal::default()),
        }
    }

    /// Keeps a finished request and wakes the live streams.
    pub(crate) fn record(&self, record: RequestRecord) {
        let last_seq = self.buffer.push(record, now_ms());
        self.signal.send_modify(|s| s.last_seq = last_seq);
    }
}

pub(crate) fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn record(request_id: &str, log_bytes: usize) -> RequestRecord {
        RequestRecord {
            seq: 0,
            request_id: request_id.to_owned(),
            method: "GET".to_owned(),
            route: "/users/{id}".to_owned(),
            status: Some(200),
            latency_us: 1500,
            started_ms: 0,
            spans: vec![SpanRecord {
                parent: None,
                name: "http.request".to_owned(),
                resource: "GET /users/{id}".to_owned(),
                start_us: 0,
                duration_us: Some(1500),
                tags: vec![("http.status_code", "200".to_owned())],
            }],
            logs: vec![LogRecord {
                offset_us: 10,
                level: "INFO",
                message: "x".repeat(log_bytes),
                fields: Vec::new(),
                span: Some(0),
            }],
            error: None,
            dropped: 0,
        }
    }

    #[test]
    fn ten_times_the_capacity_keeps_the_newest_capacity_requests() {
        let buffer = RequestBuffer::new(50, usize::MAX);
        for i in 0..500 {
            buffer.push(record(&format!("req-{i}"), 100), 0);
        }
        let (kept, bytes, evicted) = buffer.usage();
        assert_eq!(kept, 50);
        assert_eq!(evicted, 450);
        let one = record("req-0", 100).estimated_bytes();
        assert!(
            bytes <= 50 * (one + 8),
            "{bytes} bytes for 50 records of {one}"
        );
        let all = buffer.since(0);
        assert_eq!(all.len(), 50);
        assert_eq!(all[0].request_id, "req-450", "oldest evicted first");
        assert_eq!(all[49].request_id, "req-499");
        assert_eq!(all[49].seq, 500);
        assert!(buffer.find("req-449", None).is_none());
        assert!(buffer.find("req-450", None).is_some());
        assert_eq!(buffer.since(498).len(), 2);
    }

    #[test]
    fn the_byte_cap_evicts_before_the_count_cap() {
        let one = record("r", 10_000).estimated_bytes();
        let buffer = RequestBuffer::new(500, 20 * one);
        for i in 0..5_000 {
            buffer.push(record(&format!("r{i}"), 10_000), 0);
            let (_, bytes, _) = buffer.usage();
            assert!(bytes <= 20 * one + 64, "{bytes} > cap {}", 20 * one);
        }
        let (kept, _, evicted) = buffer.usage();
        assert!((19..=20).contains(&kept), "{kept}");
        assert_eq!(kept as u64 + evicted, 5_000);
        // A request larger than the whole cap is not kept at all.
        let small = RequestBuffer::new(10, 100);
        small.push(record("huge", 1_000), 0);
        assert_eq!(small.usage().0, 0);
    }

    #[test]
    fn the_newest_request_with_an_id_is_found() {
        let buffer = RequestBuffer::new(10, usize::MAX);
        buffer.push(record("same", 1), 0);
        buffer.push(record("same", 2), 0);
        assert_eq!(buffer.find("same", None).map(|r| r.seq), Some(2));
        assert_eq!(buffer.find("same", Some(1)).map(|r| r.seq), Some(1));
        assert!(buffer.find("same", Some(3)).is_none());
        assert_eq!(buffer.last_seq(), 2);
    }
}
