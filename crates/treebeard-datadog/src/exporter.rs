//! The span queue and the thread that sends it to the agent.
//!
//! Request threads only push finished traces onto a bounded queue; one
//! background thread encodes them (v0.4 MessagePack) and `PUT`s them to
//! `/v0.4/traces` over one keep-alive HTTP/1.1 connection (TCP or Unix
//! socket), every second or as soon as [`FLUSH_SPANS`] are waiting. The
//! queue never grows past [`MAX_QUEUED_SPANS`] and requests never wait.
//!
//! A payload the agent does not take (no connection, no answer in time, a
//! cut connection, 5xx) is kept, encoded, in a retry buffer bounded in
//! bytes ([`Backlog`]); the thread tries again after a short backoff
//! (50 ms doubling to 500 ms), so export resumes within about half a second
//! of the agent listening again, and then sends the buffer oldest first,
//! after each new batch so that new spans are never held back by it.
//! Beyond the cap the oldest payloads are dropped and counted; a payload
//! the agent refuses with a 4xx is bad and dropped at once. Every outcome
//! is counted ([`Queue::stats`]).
//!
//! HTTP is hyper's client (`hyper::client::conn::http1`) on a current-thread
//! tokio runtime that belongs to the thread: the application's runtime, if
//! it has one, never runs exporter work, and the thread blocks on the queue
//! between flushes as before.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::header::{CONTENT_LENGTH, CONTENT_TYPE, HOST, HeaderName, HeaderValue};
use http_body_util::Full;

use crate::backlog::{Backlog, Payload, next_backoff};
use crate::encode::{self, Process};
use crate::sampler::AgentRates;
use crate::span::SpanData;
#[cfg(test)]
use crate::span::Trace;
use crate::stats::ExportStats;
use crate::transport::{Agent, Connection, SendError, exchange};

/// Spans waiting that make the sender flush before its interval.
pub(crate) const FLUSH_SPANS: usize = 1_000;
/// Spans waiting beyond which new traces are dropped (and counted).
pub(crate) const MAX_QUEUED_SPANS: usize = 20_000;
/// How often waiting spans are sent.
const FLUSH_INTERVAL: Duration = Duration::from_secs(1);
/// Timeout of a connection attempt, and of one exchange on it (request
/// written, answer read whole).
const IO_TIMEOUT: Duration = Duration::from_secs(2);
/// `X-Datadog-Trace-Count`: the agent counts traces from it.
const TRACE_COUNT: HeaderName = HeaderName::from_static("x-datadog-trace-count");
const META_LANG: HeaderName = HeaderName::from_static("datadog-meta-lang");
const META_INTERPRETER: HeaderName = HeaderName::from_static("datadog-meta-lang-interpreter");
const META_VERSION: HeaderName = HeaderName::from_static("datadog-meta-tracer-version");
/// How often an attempt in progress looks at the shutdown deadline.
const DEADLINE_CHECK: Duration = Duration::from_millis(50);
/// How much earlier than the caller's shutdown deadline the sender stops.
const SHUTDOWN_MARGIN: Duration = Duration::from_millis(50);
/// At most one warning per this long, with counts of what was lost.
const WARN_INTERVAL: Duration = Duration::from_secs(10);

/// Finished traces between request threads and the sender.
#[derive(Debug, Default)]
pub(crate) struct Queue {
    state: Mutex<State>,
    wake: Condvar,
    /// Signalled by the sender when it has stopped.
    stopped: Condvar,
    /// Spans refused: the queue was full, or they finished after shutdown.
    refused: AtomicU64,
    /// What the sender counts.
    counters: Counters,
}

#[derive(Debug, Default)]
struct State {
    batch: Batch,
    shutdown: bool,
    /// When the shutdown budget ends, once shutdown is asked.
    deadline: Option<Instant>,
    stopped: bool,
}

/// The sender's counters, read from any thread by [`Queue::stats`].
#[derive(Debug, Default)]
struct Counters {
    sent: AtomicU64,
    sent_late: AtomicU64,
    dropped_buffer_full: AtomicU64,
    dropped_rejected: AtomicU64,
    dropped_at_shutdown: AtomicU64,
    payloads_retried: AtomicU64,
    buffered_payloads: AtomicU64,
    buffered_bytes: AtomicU64,
    buffered_spans: AtomicU64,
}

/// Trace chunks back to back: one `Vec` of spans for all of them, so a
/// one-span trace costs no allocation of its own.
#[derive(Debug, Default)]
struct Batch {
    spans: Vec<SpanData>,
    /// The length of each chunk, in order.
    lens: Vec<u32>,
}

impl Batch {
    /// Each chunk's spans (all of one trace).
    fn chunks(&self) -> impl Iterator<Item = &[SpanData]> {
        let mut rest = self.spans.as_slice();
        self.lens.iter().map(move |len| {
            let (chunk, tail) = rest.split_at((*len as usize).min(rest.len()));
            rest = tail;
            chunk
        })
    }

    fn with_capacity(spans: usize) -> Self {
        let mut batch = Self::default();
        batch.reserve(spans);
        batch
    }

    fn reserve(&mut self, spans: usize) {
        self.spans.reserve(spans);
        self.lens.reserve(spans);
    }

    fn clear(&mut self) {
        self.spans.clear();
        self.lens.clear();
    }
}

impl Queue {
    /// The exporter's counters now.
    pub(crate) fn stats(&self) -> ExportStats {
        let c = &self.counters;
        let get = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        ExportStats {
            spans_sent: get(&c.sent),
            spans_sent_late: get(&c.sent_late),
            spans_dropped_queue_full: get(&self.refused),
            spans_dropped_buffer_full: get(&c.dropped_buffer_full),
            spans_dropped_rejected: get(&c.dropped_rejected),
            spans_dropped_at_shutdown: get(&c.dropped_at_shutdown),
            payloads_retried: get(&c.payloads_retried),
            buffered_payloads: get(&c.buffered_payloads),
            buffered_bytes: get(&c.buffered_bytes),
            buffered_spans: get(&c.buffered_spans),
        }
    }

    /// When the sender must have stopped, once shutdown is asked.
    fn deadline(&self) -> Option<Instant> {
        self.state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .deadline
    }

    /// Queues one trace chunk, or refuses and counts it when the queue is
    /// full or shut down.
    pub(crate) fn push(&self, spans: Vec<SpanData>) {
        let n = spans.len();
        self.push_with(n, |batch| batch.spans.extend(spans));
    }

    /// Queues a trace of one span.
    pub(crate) fn push_one(&self, span: SpanData) {
        self.push_with(1, |batch| batch.spans.push(span));
    }

    fn push_with(&self, n: usize, add: impl FnOnce(&mut Batch)) {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let before = state.batch.spans.len();
        if before + n > MAX_QUEUED_SPANS || state.shutdown || n == 0 {
            drop(state);
            self.refused.fetch_add(n as u64, Ordering::Relaxed);
            return;
        }
        add(&mut state.batch);
        state.batch.lens.push(u32::try_from(n).unwrap_or(u32::MAX));
        drop(state);
        // Wake the sender once per threshold crossing, not per push: a
        // notify is a syscall.
        if before < FLUSH_SPANS && before + n >= FLUSH_SPANS {
            self.wake.notify_one();
        }
    }
}

#[cfg(test)]
impl Queue {
    /// Everything queued, taken out as (trace, spans) chunks (for tests
    /// that run no sender).
    pub(crate) fn take_all(&self) -> Vec<(Arc<Trace>, Vec<SpanData>)> {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let mut spans = std::mem::take(&mut state.batch.spans).into_iter();
        std::mem::take(&mut state.batch.lens)
            .into_iter()
            .map(|len| {
                let chunk: Vec<SpanData> = spans.by_ref().take(len as usize).collect();
                (chunk[0].trace.clone(), chunk)
            })
            .collect()
    }

    /// Spans waiting.
    pub(crate) fn queued(&self) -> usize {
        self.state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .batch
            .spans
            .len()
    }
}

/// Starts the sender thread; returns once the thread's tokio runtime is
/// built (or with the error that kept it from being built). Payloads the
/// agent does not take wait in a retry buffer of at most
/// `buffer_max_bytes` (0: none, they are dropped and counted).
pub(crate) fn start(
    queue: Arc<Queue>,
    agent: Agent,
    process: Process,
    buffer_max_bytes: usize,
    rates: Arc<AgentRates>,
    origin: Vec<(HeaderName, HeaderValue)>,
) -> std::io::Result<std::thread::JoinHandle<()>> {
    let (started, start_result) = std::sync::mpsc::sync_channel(1);
    let thread = std::thread::Builder::new()
        .name("treebeard-dd-exporter".to_owned())
        .spawn(move || {
            // Built here rather than by the caller, so that it is dropped
            // here too: tokio refuses to drop a runtime inside another
            // runtime's task, which is where `start` may be called from.
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_io()
                .enable_time()
                .build();
            match runtime {
                Ok(runtime) => {
                    let _ = started.send(Ok(()));
                    Sender::new(queue, agent, process, runtime, buffer_max_bytes)
                        .with_rates(rates)
                        .with_origin(origin)
                        .run();
                }
                Err(error) => {
                    let _ = started.send(Err(error));
                }
            }
        })?;
    start_result
        .recv()
        .unwrap_or_else(|_| Err(std::io::Error::other("the thread ended before starting")))?;
    Ok(thread)
}

/// Asks the sender to flush what is queued and buffered and stop; waits
/// for it at most `timeout`, which the sender also holds itself to (its
/// attempts end by then). Returns whether it stopped in time.
pub(crate) fn shutdown(queue: &Queue, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    let mut state = queue.state.lock().unwrap_or_else(PoisonError::into_inner);
    state.shutdown = true;
    // The sender's own deadline comes a little earlier, so that it has
    // stopped, and said so, by the caller's.
    let margin = SHUTDOWN_MARGIN.min(timeout / 4);
    state.deadline = Some(deadline.checked_sub(margin).unwrap_or(deadline));
    queue.wake.notify_one();
    while !state.stopped {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return false;
        }
        state = queue
            .stopped
            .wait_timeout(state, left)
            .unwrap_or_else(PoisonError::into_inner)
            .0;
    }
    true
}

/// Runs `work` for at most `timeout`, and never past the shutdown
/// deadline: the deadline is looked at every [`DEADLINE_CHECK`], so a
/// shutdown asked in the middle of an attempt still ends it in time.
/// `None` when time ran out.
async fn bounded<T>(
    queue: &Queue,
    timeout: Duration,
    work: impl std::future::Future<Output = T>,
) -> Option<T> {
    let end = Instant::now() + timeout;
    let mut work = std::pin::pin!(work);
    loop {
        let until = queue.deadline().map_or(end, |deadline| deadline.min(end));
        let left = until.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return None;
        }
        if let Ok(done) = tokio::time::timeout(left.min(DEADLINE_CHECK), work.as_mut()).await {
            return Some(done);
        }
    }
}

struct Sender {
    queue: Arc<Queue>,
    agent: Agent,
    host: String,
    process: Process,
    runtime: tokio::runtime::Runtime,
    conn: Option<Connection>,
    /// The encoding buffer, kept across flushes.
    body: Vec<u8>,
    /// [`IO_TIMEOUT`], shorter in tests.
    timeout: Duration,
    /// Payloads the agent did not take, oldest first.
    backlog: Backlog,
    /// When to send the backlog's oldest payload next; `None` when the
    /// backlog is empty.
    retry_at: Option<Instant>,
    /// The last wait between retries, while the agent does not answer.
    backoff: Option<Duration>,
    /// When the agent stopped taking payloads, while it does not.
    down_since: Option<Instant>,
    /// The end of the shutdown budget, once shutdown is asked.
    deadline: Option<Instant>,
    /// The counters as of the last warning.
    reported: ExportStats,
    last_error: Option<String>,
    last_warning: Option<Instant>,
    /// Where the agent's sampling rates go.
    rates: Arc<AgentRates>,
    /// The agent's last answer: the same answer is not parsed again.
    last_answer: Bytes,
    /// `Datadog-Container-ID` / `Datadog-Entity-ID`, on every payload.
    origin: Vec<(HeaderName, HeaderValue)>,
}

impl Sender {
    fn new(
        queue: Arc<Queue>,
        agent: Agent,
        process: Process,
        runtime: tokio::runtime::Runtime,
        buffer_max_bytes: usize,
    ) -> Self {
        Self {
            host: agent.host_header(),
            queue,
            agent,
            process,
            runtime,
            conn: None,
            body: Vec::with_capacity(64 * 1024),
            timeout: IO_TIMEOUT,
            backlog: Backlog::new(buffer_max_bytes),
            retry_at: None,
            backoff: None,
            down_since: None,
            deadline: None,
            reported: ExportStats::default(),
            last_error: None,
            last_warning: None,
            rates: AgentRates::new(""),
            last_answer: Bytes::new(),
            origin: Vec::new(),
        }
    }

    /// Sends `origin` headers with every payload.
    fn with_origin(mut self, origin: Vec<(HeaderName, HeaderValue)>) -> Self {
        self.origin = origin;
        self
    }

    /// Gives the agent's sampling rates to `rates` (the sampler's).
    fn with_rates(mut self, rates: Arc<AgentRates>) -> Self {
        self.rates = rates;
        self
    }

    /// Learns the agent's sampling rates from its answer to a payload.
    fn learn_rates(&mut self, answer: Bytes) {
        if answer != self.last_answer {
            self.rates.update(&answer);
            self.last_answer = answer;
        }
    }

    fn run(mut self) {
        // Both buffers sized for a usual batch up front: growing a `Vec` of
        // spans on a request thread copies all of them.
        let mut batch = Batch::with_capacity(FLUSH_SPANS);
        self.queue
            .state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .batch
            .reserve(FLUSH_SPANS);
        let mut next_flush = Instant::now() + FLUSH_INTERVAL;
        loop {
            let (flush, shutdown) = {
                let mut state = self
                    .queue
                    .state
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner);
                while !state.shutdown && state.batch.spans.len() < FLUSH_SPANS {
                    // A retry due before the next flush wakes the thread too.
                    let wake = self.retry_at.map_or(next_flush, |at| at.min(next_flush));
                    let left = wake.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        break;
                    }
                    state = self
                        .queue
                        .wake
                        .wait_timeout(state, left)
                        .unwrap_or_else(PoisonError::into_inner)
                        .0;
                }
                let flush = state.shutdown
                    || state.batch.spans.len() >= FLUSH_SPANS
                    || Instant::now() >= next_flush;
                if flush {
                    std::mem::swap(&mut state.batch, &mut batch);
                }
                if state.shutdown {
                    self.deadline = state.deadline;
                }
                (flush, state.shutdown)
            };
            let mut failed = false;
            if flush {
                next_flush = Instant::now() + FLUSH_INTERVAL;
                if !batch.spans.is_empty() {
                    failed = !self.send(&batch);
                }
                // Dropped here, off the lock; the buffers are kept for reuse.
                batch.clear();
            }
            if shutdown && !failed && !self.backlog.is_empty() {
                // One last try even while backing off: the agent may be back.
                self.retry_at = Some(Instant::now());
            }
            self.send_backlog(shutdown, next_flush);
            if shutdown {
                let left = self.backlog.clear() as u64;
                self.queue
                    .counters
                    .dropped_at_shutdown
                    .fetch_add(left, Ordering::Relaxed);
                self.retry_at = None;
                self.publish_backlog();
            }
            self.warn_about_losses(shutdown);
            if shutdown {
                let mut state = self
                    .queue
                    .state
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner);
                state.stopped = true;
                self.queue.stopped.notify_all();
                return;
            }
        }
    }

    /// Encodes `batch` and sends it, or keeps it for a retry (without
    /// trying while the agent is being waited for). Returns false when it
    /// was kept.
    fn send(&mut self, batch: &Batch) -> bool {
        let mut body = std::mem::take(&mut self.body);
        body.clear();
        encode::array_len(&mut body, batch.lens.len());
        for chunk in batch.chunks() {
            encode::chunk(&mut body, &self.process, chunk);
        }
        let body = Bytes::from(body);
        let spans = batch.spans.len();
        let traces = batch.lens.len();
        let now = Instant::now();
        let backing_off = self.down_since.is_some() && self.retry_at.is_some_and(|at| at > now);
        let result = if backing_off && self.deadline.is_none() {
            Err(SendError::Unavailable(String::new()))
        } else {
            self.attempt(body.clone(), traces)
        };
        // The buffer back for the next batch: hyper has let go of its copy
        // of the body by now, so this takes back the allocation without
        // copying (and copies if it has not).
        self.body = Vec::from(body);
        match result {
            Ok(answer) => {
                self.learn_rates(answer);
                self.delivered(spans, false);
            }
            Err(SendError::Rejected(error)) => self.rejected(spans, error),
            Err(error) => {
                // Kept at its exact size: the encoding buffer may be larger.
                self.keep(Payload {
                    body: Bytes::copy_from_slice(&self.body),
                    traces,
                    spans,
                });
                if !backing_off {
                    self.last_error = Some(error.to_string());
                    self.agent_failed();
                }
                return false;
            }
        }
        true
    }

    /// Sends buffered payloads, oldest first, while the agent takes them;
    /// stops at a failure (and backs off), when new spans are due (they go
    /// first), or when the shutdown budget is spent.
    fn send_backlog(&mut self, shutdown: bool, next_flush: Instant) {
        while let Some(at) = self.retry_at {
            let now = Instant::now();
            if at > now || self.deadline.is_some_and(|d| now >= d) {
                break;
            }
            if !shutdown && (now >= next_flush || self.queued_spans() >= FLUSH_SPANS) {
                break;
            }
            let Some(payload) = self.backlog.pop_front() else {
                self.retry_at = None;
                break;
            };
            match self.attempt(payload.body.clone(), payload.traces) {
                Ok(answer) => {
                    self.learn_rates(answer);
                    self.publish_backlog();
                    self.delivered(payload.spans, true);
                }
                Err(SendError::Rejected(error)) => {
                    self.publish_backlog();
                    self.rejected(payload.spans, error);
                }
                Err(error) => {
                    self.backlog.push_front(payload);
                    self.last_error = Some(error.to_string());
                    self.agent_failed();
                }
            }
        }
    }

    /// Spans waiting in the queue.
    fn queued_spans(&self) -> usize {
        self.queue
            .state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .batch
            .spans
            .len()
    }

    /// The agent took `spans`: counted, and if it had stopped taking them,
    /// the outage is over (logged) and the backlog is sent at once.
    fn delivered(&mut self, spans: usize, late: bool) {
        let counters = &self.queue.counters;
        counters.sent.fetch_add(spans as u64, Ordering::Relaxed);
        if late {
            counters
                .sent_late
                .fetch_add(spans as u64, Ordering::Relaxed);
        }
        if let Some(since) = self.down_since.take() {
            tracing::info!(
                target: "treebeard::apm",
                outage_ms = since.elapsed().as_millis() as u64,
                spans_buffered = self.backlog.spans(),
                bytes_buffered = self.backlog.bytes(),
                agent = %self.host,
                "the DataDog agent takes spans again; sending the buffered ones, oldest first"
            );
        }
        self.backoff = None;
        self.retry_at = (!self.backlog.is_empty()).then(Instant::now);
    }

    /// The agent refused a payload as bad: dropped and counted.
    fn rejected(&mut self, spans: usize, error: String) {
        self.queue
            .counters
            .dropped_rejected
            .fetch_add(spans as u64, Ordering::Relaxed);
        self.last_error = Some(error);
        if self.backlog.is_empty() {
            self.retry_at = None;
        }
    }

    /// Puts a payload the agent did not take in the backlog, dropping (and
    /// counting) the oldest ones beyond the cap.
    fn keep(&mut self, payload: Payload) {
        let counters = &self.queue.counters;
        counters.payloads_retried.fetch_add(1, Ordering::Relaxed);
        let dropped = self.backlog.push_back(payload);
        counters
            .dropped_buffer_full
            .fetch_add(dropped as u64, Ordering::Relaxed);
        self.publish_backlog();
    }

    /// The agent did not take a payload: the next retry waits a little
    /// longer (up to [`crate::backlog::RETRY_MAX`]). (A connection that
    /// failed is already gone; one that carried a 5xx is kept.)
    fn agent_failed(&mut self) {
        let now = Instant::now();
        self.down_since.get_or_insert(now);
        let backoff = next_backoff(self.backoff);
        self.backoff = Some(backoff);
        self.retry_at = (!self.backlog.is_empty()).then_some(now + backoff);
    }

    /// What the backlog holds, for [`Queue::stats`].
    fn publish_backlog(&self) {
        let counters = &self.queue.counters;
        let set =
            |counter: &AtomicU64, value: usize| counter.store(value as u64, Ordering::Relaxed);
        set(&counters.buffered_payloads, self.backlog.len());
        set(&counters.buffered_bytes, self.backlog.bytes());
        set(&counters.buffered_spans, self.backlog.spans());
    }

    /// One `PUT`, and once more on a new connection when it failed on a
    /// kept-alive one (an agent that restarted or closed an idle
    /// connection fails the first request on it).
    fn attempt(&mut self, body: Bytes, traces: usize) -> Result<Bytes, SendError> {
        let reused = self.conn.is_some();
        let mut result = self.put(body.clone(), traces);
        if reused && matches!(result, Err(SendError::Failed(_))) {
            self.conn = None;
            result = self.put(body, traces);
        }
        if matches!(result, Err(SendError::Failed(_))) {
            self.conn = None;
        }
        result
    }

    /// One `PUT /v0.4/traces` of `body` on the kept connection (opened
    /// first when there is none), within the timeouts and what is left of
    /// the shutdown budget.
    fn put(&mut self, body: Bytes, traces: usize) -> Result<Bytes, SendError> {
        if self.deadline.is_some_and(|d| Instant::now() >= d) {
            return Err(SendError::Failed(
                "the shutdown timeout is spent".to_owned(),
            ));
        }
        let mut request = http::Request::put("/v0.4/traces")
            .header(HOST, &self.host)
            .header(
                CONTENT_TYPE,
                HeaderValue::from_static("application/msgpack"),
            )
            .header(CONTENT_LENGTH, body.len())
            .header(TRACE_COUNT, traces)
            .header(META_LANG, HeaderValue::from_static("rust"))
            .header(META_INTERPRETER, HeaderValue::from_static("rustc"))
            .header(
                META_VERSION,
                HeaderValue::from_static(concat!("treebeard-", env!("CARGO_PKG_VERSION"))),
            )
            .body(Full::new(body))
            .map_err(|e| SendError::Rejected(format!("cannot make the request: {e}")))?;
        for (name, value) in &self.origin {
            request.headers_mut().insert(name.clone(), value.clone());
        }
        let timeout = self.timeout;
        let conn = &mut self.conn;
        let agent = &self.agent;
        let queue = &*self.queue;
        self.runtime.block_on(async move {
            // A connection the agent closed since the last flush, when hyper
            // has seen it; otherwise the request fails and is retried.
            if conn.as_ref().is_some_and(Connection::is_closed) {
                *conn = None;
            }
            let sender = match conn {
                Some(sender) => sender,
                None => {
                    let connected = bounded(queue, timeout, agent.connect())
                        .await
                        .unwrap_or_else(|| {
                            Err(format!(
                                "cannot connect to the agent: no answer within {timeout:?}"
                            ))
                        })
                        .map_err(SendError::Failed)?;
                    conn.insert(connected)
                }
            };
            bounded(queue, timeout, exchange(sender, request))
                .await
                .unwrap_or_else(|| {
                    Err(SendError::Failed(format!(
                        "no answer from the agent within {timeout:?}"
                    )))
                })
        })
    }

    /// At most one WARN per [`WARN_INTERVAL`] (and one at shutdown): with
    /// the spans dropped since the last one, by cause, or, while the agent
    /// does not answer, with what waits for a retry.
    fn warn_about_losses(&mut self, now_anyway: bool) {
        let stats = self.queue.stats();
        let last = self.reported;
        let dropped = stats.spans_dropped() - last.spans_dropped();
        let retried = stats.payloads_retried - last.payloads_retried;
        let outage = self.down_since.is_some() && retried > 0;
        if dropped == 0 && !outage {
            return;
        }
        if !now_anyway
            && self
                .last_warning
                .is_some_and(|t| t.elapsed() < WARN_INTERVAL)
        {
            return;
        }
        let error = self.last_error.as_deref().unwrap_or("");
        if dropped > 0 {
            tracing::warn!(
                target: "treebeard::apm",
                spans_dropped = dropped,
                spans_refused = stats.spans_dropped_queue_full - last.spans_dropped_queue_full,
                spans_dropped_buffer_full =
                    stats.spans_dropped_buffer_full - last.spans_dropped_buffer_full,
                spans_dropped_rejected = stats.spans_dropped_rejected - last.spans_dropped_rejected,
                spans_dropped_at_shutdown =
                    stats.spans_dropped_at_shutdown - last.spans_dropped_at_shutdown,
                spans_buffered = stats.buffered_spans,
                bytes_buffered = stats.buffered_bytes,
                error,
                agent = %self.host,
                "spans were lost on the way to the DataDog agent"
            );
        } else {
            tracing::warn!(
                target: "treebeard::apm",
                payloads_retried = retried,
                spans_buffered = stats.buffered_spans,
                bytes_buffered = stats.buffered_bytes,
                error,
                agent = %self.host,
                "the DataDog agent does not take spans; they are kept and sent again when it answers"
            );
        }
        self.reported = stats;
        self.last_error = None;
        self.last_warning = Some(Instant::now());
    }
}

#[cfg(test)]
mod tests {
    use std::io::{BufRead, BufReader, Read, Write};

    use super::*;
    use crate::transport::MAX_ANSWER;

    fn trace_of(n: usize) -> Vec<SpanData> {
        let trace = Arc::new(Trace::new(1, None));
        (0..n)
            .map(|i| SpanData {
                trace: trace.clone(),
                span_id: i as u64 + 1,
                parent_id: 0,
                local_root: i == 0,
                top_level: i == 0,
                start_ns: 0,
                started: Instant::now(),
                duration_ns: 0,
                span_name: "test",
                fields: Default::default(),
            })
            .collect()
    }

    #[test]
    fn a_full_queue_refuses_and_counts_whole_traces() {
        let queue = Queue::default();
        for _ in 0..MAX_QUEUED_SPANS / 100 {
            queue.push(trace_of(100));
        }
        queue.push(trace_of(3));
        assert_eq!(queue.refused.load(Ordering::Relaxed), 3);
        assert_eq!(queue.queued(), MAX_QUEUED_SPANS);
    }

    #[test]
    fn shutdown_sends_what_is_queued_and_then_refuses_more() {
        // A one-shot agent: reads one request, answers 200, records the body size.
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let agent = std::thread::spawn(move || {
            let (stream, _) = listener.accept().unwrap();
            let mut reader = BufReader::new(stream);
            let (mut line, mut length, mut count) = (String::new(), 0, String::new());
            loop {
                line.clear();
                reader.read_line(&mut line).unwrap();
                let lower = line.to_ascii_lowercase();
                if let Some(v) = lower.strip_prefix("content-length:") {
                    length = v.trim().parse().unwrap();
                }
                if let Some(v) = lower.strip_prefix("x-datadog-trace-count:") {
                    count = v.trim().to_owned();
                }
                if line == "\r\n" {
                    break;
                }
            }
            let mut body = vec![0; length];
            reader.read_exact(&mut body).unwrap();
            reader
                .get_mut()
                .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}")
                .unwrap();
            (count, body)
        });
        let queue = Arc::new(Queue::default());
        let process = Process::new("svc".into(), "test", "1", &[], "rid");
        let agent_at = Agent::Tcp {
            host: "127.0.0.1".into(),
            port,
        };
        start(
            queue.clone(),
            agent_at,
            process,
            1 << 20,
            AgentRates::new(""),
            Vec::new(),
        )
        .unwrap();
        queue.push(trace_of(2));
        assert!(shutdown(&queue, Duration::from_secs(5)));
        let (count, body) = agent.join().unwrap();
        assert_eq!(count, "1");
        // An array of one trace (array32 header) of two spans.
        assert_eq!(&body[..10], &[0xdd, 0, 0, 0, 1, 0xdd, 0, 0, 0, 2]);
        queue.push_one(trace_of(1).remove(0));
        assert_eq!(queue.refused.load(Ordering::Relaxed), 1);
    }

    #[test]
    fn only_http_and_unix_agents_are_accepted() {
        let tcp = Agent::from_url(&url::Url::parse("http://127.0.0.1:9").unwrap()).unwrap();
        assert_eq!(tcp.host_header(), "127.0.0.1:9");
        let err = Agent::from_url(&url::Url::parse("https://agent:8126").unwrap()).unwrap_err();
        assert!(err.contains("https://"), "{err}");
    }

    fn batch_of(n: usize) -> Batch {
        let mut batch = Batch::default();
        batch.spans.extend(trace_of(n));
        batch.lens.push(n as u32);
        batch
    }

    /// A sender with no thread of its own, for tests that drive `send`
    /// and `put` themselves; its timeouts are short.
    fn sender_to(agent: Agent) -> Sender {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let process = Process::new("svc".into(), "test", "1", &[], "rid");
        let mut sender = Sender::new(Arc::new(Queue::default()), agent, process, runtime, 1 << 20);
        sender.timeout = Duration::from_millis(300);
        sender
    }

    fn tcp_agent(port: u16) -> Agent {
        Agent::Tcp {
            host: "127.0.0.1".into(),
            port,
        }
    }

    /// One request as a raw agent reads it: the head (request line and
    /// headers, as sent) and the body. `None` once the client has closed.
    fn read_request(reader: &mut impl BufRead) -> Option<(String, Vec<u8>)> {
        let (mut head, mut length) = (String::new(), 0);
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line).ok()? == 0 {
                return None;
            }
            if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                length = v.trim().parse().ok()?;
            }
            head.push_str(&line);
            if line == "\r\n" {
                break;
            }
        }
        let mut body = vec![0; length];
        reader.read_exact(&mut body).ok()?;
        Some((head, body))
    }

    /// A raw agent: for each connection it accepts, in order, it answers
    /// that many requests with the given bytes and then closes the
    /// connection. Returns its port and, at the end, the request heads it
    /// read on each connection.
    fn raw_agent(
        connections: Vec<Vec<&'static [u8]>>,
    ) -> (u16, std::thread::JoinHandle<Vec<Vec<String>>>) {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let agent = std::thread::spawn(move || {
            let mut seen = Vec::new();
            for answers in connections {
                let (stream, _) = listener.accept().unwrap();
                let mut reader = BufReader::new(stream);
                let mut heads = Vec::new();
                for answer in answers {
                    let Some((head, _)) = read_request(&mut reader) else {
                        break;
                    };
                    heads.push(head);
                    // A client that gave up on an answer may have gone.
                    let _ = reader.get_mut().write_all(answer);
                }
                seen.push(heads);
            }
            seen
        });
        (port, agent)
    }

    #[test]
    fn answers_are_read_whole_with_either_framing_on_one_connection() {
        let (port, agent) = raw_agent(vec![vec![
            b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
            b"HTTP/1.1 400 Bad\r\ntransfer-encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nContent-Length: 27\r\n\r\n{\"rate_by_service\":{\"a\":1}}",
        ]]);
        let mut sender = sender_to(tcp_agent(port));
        assert_eq!(
            sender.put(Bytes::from_static(b"\x91\x90"), 1),
            Ok(Bytes::from_static(b"ok"))
        );
        let refused = sender.put(Bytes::from_static(b"\x90"), 0).unwrap_err();
        assert!(
            matches!(&refused, SendError::Rejected(e) if e.contains("400: abcde")),
            "{refused:?}"
        );
        assert_eq!(
            sender.put(Bytes::from_static(b"\x90"), 0),
            Ok(Bytes::from_static(br#"{"rate_by_service":{"a":1}}"#))
        );
        drop(sender);
        let seen = agent.join().unwrap();
        assert_eq!(seen.len(), 1, "one kept-alive connection: {seen:?}");
        // The same head, byte for byte, as the hand-written client sent.
        assert_eq!(
            seen[0][0],
            format!(
                "PUT /v0.4/traces HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/msgpack\r\nContent-Length: 2\r\nX-Datadog-Trace-Count: 1\r\nDatadog-Meta-Lang: rust\r\nDatadog-Meta-Lang-Interpreter: rustc\r\nDatadog-Meta-Tracer-Version: treebeard-{}\r\n\r\n",
                env!("CARGO_PKG_VERSION")
            )
        );
    }

    #[test]
    fn every_payload_says_where_the_process_runs() {
        let (port, agent) = raw_agent(vec![vec![
            b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
        ]]);
        let mut sender = sender_to(tcp_agent(port)).with_origin(vec![
            (
                HeaderName::from_static("datadog-container-id"),
                HeaderValue::from_static("abc123"),
            ),
            (
                HeaderName::from_static("datadog-entity-id"),
                HeaderValue::from_static("ci-abc123"),
            ),
        ]);
        assert!(sender.put(Bytes::from_static(b"\x90"), 0).is_ok());
        drop(sender);
        let seen = agent.join().unwrap();
        let head = seen[0][0].to_ascii_lowercase();
        assert!(
            head.contains("\r\ndatadog-container-id: abc123\r\n"),
            "{head}"
        );
        assert!(
            head.contains("\r\ndatadog-entity-id: ci-abc123\r\n"),
            "{head}"
        );
    }

    #[test]
    fn bad_cut_or_oversized_answers_are_errors() {
        let oversized = format!(
            "HTTP/1.1 200 OK\r\nContent-Length: {n}\r\n\r\n{}",
            "x".repeat(MAX_ANSWER + 1),
            n = MAX_ANSWER + 1
        );
        let (port, agent) = raw_agent(vec![
            vec![b"garbage\r\n\r\n"],
            vec![b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n"],
            vec![b"HTTP/1.1 200 OK\r\nContent-Length: 99999999\r\n\r\n{\"rate_by_service\":"],
            vec![oversized.leak().as_bytes()],
        ]);
        let mut sender = sender_to(tcp_agent(port));
        for expected in [
            "invalid HTTP version",
            "connection closed before message completed",
            "end of file before message length reached",
            "length limit exceeded",
        ] {
            sender.conn = None;
            let error = sender.put(Bytes::from_static(b"\x90"), 0).unwrap_err();
            assert!(
                matches!(&error, SendError::Failed(e) if e.contains(expected)),
                "{error:?}"
            );
        }
        drop(sender);
        agent.join().unwrap();
    }

    #[test]
    fn a_keep_alive_connection_the_agent_closed_is_opened_again() {
        let ok: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}";
        let (port, agent) = raw_agent(vec![vec![ok], vec![ok]]);
        let mut sender = sender_to(tcp_agent(port));
        sender.send(&batch_of(1));
        // The agent has closed the first connection meanwhile.
        std::thread::sleep(Duration::from_millis(50));
        sender.send(&batch_of(2));
        let stats = sender.queue.stats();
        assert_eq!((stats.spans_sent, stats.payloads_retried), (3, 0));
        assert_eq!(sender.last_error, None);
        drop(sender);
        let seen = agent.join().unwrap();
        assert_eq!(seen.iter().map(Vec::len).collect::<Vec<_>>(), [1, 1]);
    }

    #[test]
    fn a_silent_agent_times_out_and_its_batch_is_kept_for_a_retry() {
        // Connections complete in the listener's backlog; nothing answers.
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let mut sender = sender_to(tcp_agent(listener.local_addr().unwrap().port()));
        let started = Instant::now();
        sender.send(&batch_of(3));
        // One attempt of 300 ms (a new connection is not tried twice).
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "{:?}",
            started.elapsed()
        );
        let stats = sender.queue.stats();
        assert_eq!((stats.buffered_spans, stats.spans_dropped()), (3, 0));
        assert!(sender.retry_at.is_some());
        let error = sender.last_error.clone().unwrap_or_default();
        assert!(error.contains("no answer from the agent"), "{error}");
        assert!(sender.conn.is_none());
    }

    #[test]
    fn a_dead_agent_fails_at_once_and_its_batch_is_kept_for_a_retry() {
        let port = {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            listener.local_addr().unwrap().port()
        };
        let mut sender = sender_to(tcp_agent(port));
        sender.send(&batch_of(2));
        let stats = sender.queue.stats();
        assert_eq!((stats.buffered_spans, stats.payloads_retried), (2, 1));
        let error = sender.last_error.clone().unwrap_or_default();
        assert!(error.contains("cannot connect to the agent"), "{error}");
    }

    #[cfg(unix)]
    #[test]
    fn an_agent_on_a_unix_socket_gets_the_batch() {
        let path = std::env::temp_dir().join(format!(
            "treebeard-exporter-test-{}.sock",
            std::process::id()
        ));
        let _ = std::fs::remove_file(&path);
        let listener = std::os::unix::net::UnixListener::bind(&path).unwrap();
        let agent = std::thread::spawn(move || {
            let mut heads = Vec::new();
            let (stream, _) = listener.accept().unwrap();
            let mut reader = BufReader::new(stream);
            // Two flushes on the one kept connection.
            for _ in 0..2 {
                let (head, body) = read_request(&mut reader).unwrap();
                heads.push((head, body.len()));
                reader
                    .get_mut()
                    .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}")
                    .unwrap();
            }
            heads
        });
        let mut sender = sender_to(Agent::Unix(path.clone()));
        sender.send(&batch_of(2));
        sender.send(&batch_of(1));
        assert_eq!(sender.queue.stats().spans_sent, 3);
        assert_eq!(sender.last_error, None);
        let heads = agent.join().unwrap();
        let _ = std::fs::remove_file(&path);
        assert!(
            heads[0]
                .0
                .starts_with("PUT /v0.4/traces HTTP/1.1\r\nHost: localhost\r\n")
        );
        assert!(heads[0].0.contains("\r\nX-Datadog-Trace-Count: 1\r\n"));
        assert!(heads[0].1 > 10 && heads[1].1 > 10, "{heads:?}");
    }

    /// A one-span trace whose trace ID is `id`.
    fn span_with_id(id: u64) -> SpanData {
        let mut span = trace_of(1).remove(0);
        span.trace = Arc::new(Trace::new(u128::from(id), None));
        span
    }

    fn batch_with_ids(ids: impl IntoIterator<Item = u64>) -> Batch {
        let mut batch = Batch::default();
        for id in ids {
            batch.spans.push(span_with_id(id));
            batch.lens.push(1);
        }
        batch
    }

    /// The `trace_id` of every span of a v0.4 payload, in order: the key
    /// (`fixstr` "trace_id") is followed by the ID as a `uint64`.
    fn trace_ids(body: &[u8]) -> Vec<u64> {
        let key = b"\xa8trace_id\xcf";
        let mut ids = Vec::new();
        let mut at = 0;
        while let Some(found) = body[at..].windows(key.len()).position(|w| w == key) {
            let start = at + found + key.len();
            ids.push(u64::from_be_bytes(
                body[start..start + 8].try_into().unwrap(),
            ));
            at = start + 8;
        }
        ids
    }

    /// A listening stand-in: its stop flag, its open connections, its
    /// accepting thread.
    type Listening = (
        Arc<std::sync::atomic::AtomicBool>,
        Arc<Mutex<Vec<std::net::TcpStream>>>,
        std::thread::JoinHandle<()>,
    );

    /// A stand-in for the agent on a port of its own that can go away
    /// (port closed, open connections cut) and listen again on the same
    /// port. It answers every request 200, keeps connections alive, and
    /// records the trace IDs it took, in order.
    struct StandIn {
        port: u16,
        seen: Arc<Mutex<Vec<u64>>>,
        running: Option<Listening>,
    }

    impl StandIn {
        fn start() -> Self {
            let mut agent = Self {
                port: 0,
                seen: Arc::default(),
                running: None,
            };
            agent.listen();
            agent
        }

        /// Listens (again) on its port; the first time, on a free one.
        fn listen(&mut self) {
            // std sets SO_REUSEADDR: the port binds again at once.
            let listener = std::net::TcpListener::bind(("127.0.0.1", self.port)).unwrap();
            self.port = listener.local_addr().unwrap().port();
            listener.set_nonblocking(true).unwrap();
            let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
            let conns: Arc<Mutex<Vec<std::net::TcpStream>>> = Arc::default();
            let thread = std::thread::spawn({
                let (stop, conns, seen) = (stop.clone(), conns.clone(), self.seen.clone());
                move || {
                    while !stop.load(Ordering::SeqCst) {
                        let stream = match listener.accept() {
                            Ok((stream, _)) => stream,
                            Err(_) => {
                                std::thread::sleep(Duration::from_millis(5));
                                continue;
                            }
                        };
                        stream.set_nonblocking(false).unwrap();
                        conns.lock().unwrap().push(stream.try_clone().unwrap());
                        let seen = seen.clone();
                        std::thread::spawn(move || {
                            let mut reader = BufReader::new(stream);
                            while let Some((_, body)) = read_request(&mut reader) {
                                seen.lock().unwrap().extend(trace_ids(&body));
                                let answer = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}";
                                if reader.get_mut().write_all(answer).is_err() {
                                    break;
                                }
                            }
                        });
                    }
                    // The listener is dropped here: the port is closed.
                }
            });
            self.running = Some((stop, conns, thread));
        }

        /// Goes away: the port closed, every open connection cut.
        fn stop(&mut self) {
            if let Some((stop, conns, thread)) = self.running.take() {
                stop.store(true, Ordering::SeqCst);
                thread.join().unwrap();
                for conn in conns.lock().unwrap().drain(..) {
                    let _ = conn.shutdown(std::net::Shutdown::Both);
                }
            }
        }

        /// The trace IDs taken so far, in order.
        fn seen(&self) -> Vec<u64> {
            self.seen.lock().unwrap().clone()
        }

        /// Waits (at most 10 s) until it has taken `n` spans.
        fn wait_for(&self, n: usize) {
            let deadline = Instant::now() + Duration::from_secs(10);
            while self.seen.lock().unwrap().len() < n && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(10));
            }
        }
    }

    impl Drop for StandIn {
        fn drop(&mut self) {
            self.stop();
        }
    }

    #[test]
    fn an_agent_that_goes_away_under_load_and_comes_back_loses_no_span() {
        let mut agent = StandIn::start();
        let queue = Arc::new(Queue::default());
        let process = Process::new("svc".into(), "test", "1", &[], "rid");
        start(
            queue.clone(),
            tcp_agent(agent.port),
            process,
            1 << 20,
            AgentRates::new(""),
            Vec::new(),
        )
        .unwrap();
        // Spans finish steadily, as under load, while the agent goes away
        // for more than one flush interval and comes back.
        let push = |ids: std::ops::Range<u64>| {
            for id in ids {
                queue.push_one(span_with_id(id));
                std::thread::sleep(Duration::from_millis(2));
            }
        };
        push(1..101);
        agent.wait_for(100);
        agent.stop();
        push(101..801);
        agent.listen();
        push(801..1001);
        assert!(shutdown(&queue, Duration::from_secs(5)));
        let mut seen = agent.seen();
        seen.sort_unstable();
        seen.dedup();
        assert_eq!(seen, (1..1001).collect::<Vec<_>>(), "every span arrived");
        let stats = queue.stats();
        assert_eq!(stats.spans_dropped(), 0, "{stats:?}");
        assert_eq!(stats.spans_sent, 1000, "{stats:?}");
        assert!(
            stats.payloads_retried > 0 && stats.spans_sent_late > 0,
            "{stats:?}"
        );
        assert_eq!((stats.buffered_payloads, stats.buffered_bytes), (0, 0));
    }

    /// Waits out the longest backoff, so the next retry is due.
    fn wait_for_retry(sender: &Sender) {
        if let Some(at) = sender.retry_at {
            std::thread::sleep(at.saturating_duration_since(Instant::now()));
        }
    }

    #[test]
    fn new_spans_go_first_then_the_buffer_oldest_first() {
        let mut agent = StandIn::start();
        agent.stop();
        let mut sender = sender_to(tcp_agent(agent.port));
        for id in 1..=3 {
            sender.send(&batch_with_ids([id]));
            wait_for_retry(&sender);
        }
        assert_eq!(sender.backlog.len(), 3);
        agent.listen();
        wait_for_retry(&sender);
        // A flush: its batch first, then the buffer, oldest first.
        sender.send(&batch_with_ids([4]));
        sender.send_backlog(false, Instant::now() + Duration::from_secs(10));
        agent.wait_for(4);
        assert_eq!(agent.seen(), [4, 1, 2, 3]);
        let stats = sender.queue.stats();
        assert_eq!((stats.spans_sent, stats.spans_sent_late), (4, 3));
        assert_eq!((stats.payloads_retried, stats.spans_dropped()), (3, 0));
        assert!(sender.backlog.is_empty() && sender.retry_at.is_none());
        assert!(sender.down_since.is_none());
    }

    #[test]
    fn while_backing_off_new_batches_wait_behind_the_buffer() {
        let mut agent = StandIn::start();
        agent.stop();
        let mut sender = sender_to(tcp_agent(agent.port));
        sender.send(&batch_with_ids([1]));
        agent.listen();
        // Not tried: the agent is being waited for, and is tried next with
        // the oldest payload.
        sender.send(&batch_with_ids([2]));
        assert_eq!(sender.backlog.len(), 2);
        wait_for_retry(&sender);
        sender.send_backlog(false, Instant::now() + Duration::from_secs(10));
        agent.wait_for(2);
        assert_eq!(agent.seen(), [1, 2]);
    }

    #[test]
    fn beyond_the_cap_the_oldest_payloads_are_dropped_and_counted() {
        let one = {
            let mut body = Vec::new();
            let process = Process::new("svc".into(), "test", "1", &[], "rid");
            encode::array_len(&mut body, 1);
            encode::chunk(&mut body, &process, &[span_with_id(1)]);
            body.len()
        };
        let mut agent = StandIn::start();
        agent.stop();
        let mut sender = sender_to(tcp_agent(agent.port));
        // Room for two payloads of one span.
        sender.backlog = Backlog::new(2 * one + one / 2);
        for id in 1..=5 {
            sender.send(&batch_with_ids([id]));
        }
        let stats = sender.queue.stats();
        assert_eq!(stats.spans_dropped_buffer_full, 3, "{stats:?}");
        assert_eq!(
            (stats.buffered_spans, stats.buffered_bytes),
            (2, 2 * one as u64)
        );
        agent.listen();
        wait_for_retry(&sender);
        sender.send_backlog(false, Instant::now() + Duration::from_secs(10));
        agent.wait_for(2);
        assert_eq!(agent.seen(), [4, 5], "the newest were kept");
    }

    #[test]
    fn a_payload_refused_with_a_4xx_is_dropped_a_5xx_is_sent_again() {
        let (port, agent) = raw_agent(vec![vec![
            b"HTTP/1.1 400 Bad Request\r\nContent-Length: 3\r\n\r\nbad",
            b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 4\r\n\r\nbusy",
            b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}",
        ]]);
        let mut sender = sender_to(tcp_agent(port));
        sender.send(&batch_with_ids([1]));
        assert!(sender.backlog.is_empty(), "a bad payload is not kept");
        sender.send(&batch_with_ids([2]));
        assert_eq!(sender.backlog.len(), 1);
        wait_for_retry(&sender);
        sender.send_backlog(false, Instant::now() + Duration::from_secs(10));
        let stats = sender.queue.stats();
        assert_eq!(stats.spans_dropped_rejected, 1, "{stats:?}");
        assert_eq!((stats.payloads_retried, stats.spans_sent_late), (1, 1));
        drop(sender);
        // Three requests, on the one connection: a 503 leaves it usable.
        assert_eq!(
            agent
                .join()
                .unwrap()
                .iter()
                .map(Vec::len)
                .collect::<Vec<_>>(),
            [3]
        );
    }

    #[test]
    fn shutdown_during_an_outage_keeps_to_its_budget_and_counts_what_is_lost() {
        // A hanging agent: connections complete in the listener's backlog,
        // nothing ever answers (attempts time out after 2 s).
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let queue = Arc::new(Queue::default());
        let process = Process::new("svc".into(), "test", "1", &[], "rid");
        let agent = tcp_agent(listener.local_addr().unwrap().port());
        start(
            queue.clone(),
            agent,
            process,
            1 << 20,
            AgentRates::new(""),
            Vec::new(),
        )
        .unwrap();
        for id in 1..=5 {
            queue.push_one(span_with_id(id));
        }
        // The first flush is under way (its attempt waits for an answer).
        std::thread::sleep(FLUSH_INTERVAL + Duration::from_millis(200));
        for id in 6..=8 {
            queue.push_one(span_with_id(id));
        }
        assert!(
            shutdown(&queue, Duration::from_millis(500)),
            "the sender stopped within the budget"
        );
        let stats = queue.stats();
        assert_eq!(stats.spans_dropped_at_shutdown, 8, "{stats:?}");
        assert_eq!((stats.spans_sent, stats.buffered_spans), (0, 0));
    }

    #[test]
    fn shutdown_with_a_dead_agent_tries_once_and_stops() {
        let port = {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            listener.local_addr().unwrap().port()
        };
        let queue = Arc::new(Queue::default());
        let process = Process::new("svc".into(), "test", "1", &[], "rid");
        start(
            queue.clone(),
            tcp_agent(port),
            process,
            0,
            AgentRates::new(""),
            Vec::new(),
        )
        .unwrap();
        queue.push_one(span_with_id(1));
        assert!(shutdown(&queue, Duration::from_secs(5)));
        // With no buffer the batch is dropped as it fails.
        let stats = queue.stats();
        assert_eq!(stats.spans_dropped_buffer_full, 1, "{stats:?}");
    }
}
