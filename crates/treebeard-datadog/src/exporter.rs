//! The span queue and the thread that sends it to the agent.
//!
//! Request threads only push finished traces onto a bounded queue; one
//! background thread encodes them (v0.4 MessagePack) and `PUT`s them to
//! `/v0.4/traces` over one keep-alive HTTP/1.1 connection (TCP or Unix
//! socket), every second or as soon as [`FLUSH_SPANS`] are waiting. When the
//! agent is down, slow or refuses, the batch is dropped and counted: the
//! queue never grows past [`MAX_QUEUED_SPANS`] and requests never wait.
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
use http_body_util::{BodyExt, Full, Limited};
use hyper::client::conn::http1;
use hyper_util::rt::TokioIo;

use crate::encode::{self, Process};
use crate::span::SpanData;
#[cfg(test)]
use crate::span::Trace;

/// Spans waiting that make the sender flush before its interval.
pub(crate) const FLUSH_SPANS: usize = 1_000;
/// Spans waiting beyond which new traces are dropped (and counted).
pub(crate) const MAX_QUEUED_SPANS: usize = 20_000;
/// How often waiting spans are sent.
const FLUSH_INTERVAL: Duration = Duration::from_secs(1);
/// Timeout of a connection attempt, and of one exchange on it (request
/// written, answer read whole).
const IO_TIMEOUT: Duration = Duration::from_secs(2);
/// The largest agent answer read (`{"rate_by_service":...}` is small); a
/// larger one is an error rather than buffered.
const MAX_ANSWER: usize = 1 << 20;
/// `X-Datadog-Trace-Count`: the agent counts traces from it.
const TRACE_COUNT: HeaderName = HeaderName::from_static("x-datadog-trace-count");
const META_LANG: HeaderName = HeaderName::from_static("datadog-meta-lang");
const META_INTERPRETER: HeaderName = HeaderName::from_static("datadog-meta-lang-interpreter");
const META_VERSION: HeaderName = HeaderName::from_static("datadog-meta-tracer-version");
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
}

#[derive(Debug, Default)]
struct State {
    batch: Batch,
    shutdown: bool,
    stopped: bool,
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

/// Where the agent listens.
#[derive(Debug, Clone)]
pub(crate) enum Agent {
    Tcp {
        host: String,
        port: u16,
    },
    #[cfg(unix)]
    Unix(std::path::PathBuf),
}

impl Agent {
    /// The agent of `DD_TRACE_AGENT_URL` (http or unix), or why not.
    pub(crate) fn from_url(url: &url::Url) -> Result<Self, String> {
        match url.scheme() {
            "http" => Ok(Self::Tcp {
                host: url
                    .host_str()
                    .unwrap_or("localhost")
                    .trim_matches(['[', ']'])
                    .to_owned(),
                port: url.port().unwrap_or(8126),
            }),
            #[cfg(unix)]
            "unix" => Ok(Self::Unix(url.path().into())),
            other => Err(format!(
                "DD_TRACE_AGENT_URL: the {other}:// scheme is not supported by APM_PROVIDER=datadog (use http:// or unix://, or APM_PROVIDER=datadog-otel)"
            )),
        }
    }

    /// Connects and starts hyper's HTTP/1.1 on the connection, whose
    /// task runs on the current (the exporter's) runtime.
    async fn connect(&self) -> Result<Connection, String> {
        let cannot = |e: &dyn std::fmt::Display| format!("cannot connect to the agent: {e}");
        match self {
            Self::Tcp { host, port } => {
                // Tries each address the name resolves to, in turn.
                let stream = tokio::net::TcpStream::connect((host.as_str(), *port))
                    .await
                    .map_err(|e| cannot(&e))?;
                // One small request and one small answer per flush: Nagle's
                // algorithm would only hold them back.
                stream.set_nodelay(true).map_err(|e| cannot(&e))?;
                handshake(stream).await
            }
            #[cfg(unix)]
            Self::Unix(path) => {
                let stream = tokio::net::UnixStream::connect(path)
                    .await
                    .map_err(|e| cannot(&e))?;
                handshake(stream).await
            }
        }
    }

    fn host_header(&self) -> String {
        match self {
            Self::Tcp { host, port } => format!("{host}:{port}"),
            #[cfg(unix)]
            Self::Unix(_) => "localhost".to_owned(),
        }
    }
}

/// The kept connection to the agent: hyper's sending half (the connection
/// itself is a task on the exporter's runtime).
type Connection = http1::SendRequest<Full<Bytes>>;

/// Starts hyper's HTTP/1.1 client on `io`.
async fn handshake<T>(io: T) -> Result<Connection, String>
where
    T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin + 'static,
{
    let (sender, connection) = http1::Builder::new()
        // Header names as this exporter has always written them (hyper
        // writes them lowercase otherwise): the agent reads either, people
        // reading a capture or a test agent's log see the usual spelling.
        .title_case_headers(true)
        .handshake(TokioIo::new(io))
        .await
        .map_err(|e| format!("cannot connect to the agent: {}", chain(&e)))?;
    // The connection reads and writes while the sender waits on an answer
    // (`block_on`); it ends when the sender is dropped or the agent closes,
    // and its error, if any, is the one the next request gets.
    tokio::spawn(async move {
        let _ = connection.await;
    });
    Ok(sender)
}

/// An error and its causes, one line: hyper's own message ("connection
/// error") says little without the IO error under it.
fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// Starts the sender thread; returns once the thread's tokio runtime is
/// built (or with the error that kept it from being built).
pub(crate) fn start(
    queue: Arc<Queue>,
    agent: Agent,
    process: Process,
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
                    Sender::new(queue, agent, process, runtime).run();
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

/// Asks the sender to flush what is queued and stop; waits for it at most
/// `timeout`. Returns whether it stopped in time.
pub(crate) fn shutdown(queue: &Queue, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    let mut state = queue.state.lock().unwrap_or_else(PoisonError::into_inner);
    state.shutdown = true;
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
    /// Spans lost since the last warning, by cause.
    failed: u64,
    reported_refused: u64,
    last_error: Option<String>,
    last_warning: Option<Instant>,
}

impl Sender {
    fn new(
        queue: Arc<Queue>,
        agent: Agent,
        process: Process,
        runtime: tokio::runtime::Runtime,
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
            failed: 0,
            reported_refused: 0,
            last_error: None,
            last_warning: None,
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
            let shutdown = {
                let mut state = self
                    .queue
                    .state
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner);
                while !state.shutdown && state.batch.spans.len() < FLUSH_SPANS {
                    let left = next_flush.saturating_duration_since(Instant::now());
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
                std::mem::swap(&mut state.batch, &mut batch);
                state.shutdown
            };
            next_flush = Instant::now() + FLUSH_INTERVAL;
            if !batch.spans.is_empty() {
                self.send(&batch);
            }
            // Dropped here, off the lock; the buffers are kept for reuse.
            batch.clear();
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

    fn send(&mut self, batch: &Batch) {
        let mut body = std::mem::take(&mut self.body);
        body.clear();
        encode::array_len(&mut body, batch.lens.len());
        for chunk in batch.chunks() {
            encode::chunk(&mut body, &self.process, chunk);
        }
        let body = Bytes::from(body);
        let spans = batch.spans.len();
        let traces = batch.lens.len();
        // One retry: a kept-alive connection the agent has closed fails
        // the first request.
        let mut result = self.put(body.clone(), traces);
        if result.is_err() {
            self.conn = None;
            result = self.put(body.clone(), traces);
        }
        if let Err(error) = result {
            self.conn = None;
            self.failed += spans as u64;
            self.last_error = Some(error);
        }
        // The buffer back for the next batch: hyper has let go of its copy
        // of the body by now, so this takes back the allocation without
        // copying (and copies if it has not).
        self.body = Vec::from(body);
    }

    /// One `PUT /v0.4/traces` of `body` on the kept connection (opened
    /// first when there is none), within the timeouts.
    fn put(&mut self, body: Bytes, traces: usize) -> Result<(), String> {
        let request = http::Request::put("/v0.4/traces")
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
            .map_err(|e| format!("cannot make the request: {e}"))?;
        let timeout = self.timeout;
        let conn = &mut self.conn;
        let agent = &self.agent;
        self.runtime.block_on(async move {
            // A connection the agent closed since the last flush, when hyper
            // has seen it; otherwise the request fails and is retried.
            if conn.as_ref().is_some_and(Connection::is_closed) {
                *conn = None;
            }
            let sender = match conn {
                Some(sender) => sender,
                None => {
                    let connected = tokio::time::timeout(timeout, agent.connect())
                        .await
                        .map_err(|_| {
                            format!("cannot connect to the agent: no answer within {timeout:?}")
                        })??;
                    conn.insert(connected)
                }
            };
            tokio::time::timeout(timeout, exchange(sender, request))
                .await
                .map_err(|_| format!("no answer from the agent within {timeout:?}"))?
        })
    }

    /// At most one WARN per [`WARN_INTERVAL`] (and one at shutdown), with
    /// the number of spans lost since the last one.
    fn warn_about_losses(&mut self, now_anyway: bool) {
        let full = self.queue.refused.load(Ordering::Relaxed);
        let new_refused = full - self.reported_refused;
        if self.failed == 0 && new_refused == 0 {
            return;
        }
        if !now_anyway
            && self
                .last_warning
                .is_some_and(|t| t.elapsed() < WARN_INTERVAL)
        {
            return;
        }
        tracing::warn!(
            target: "treebeard::apm",
            spans_not_sent = self.failed,
            spans_refused = new_refused,
            error = self.last_error.as_deref().unwrap_or(""),
            agent = %self.host,
            "spans were lost on the way to the DataDog agent"
        );
        self.failed = 0;
        self.reported_refused = full;
        self.last_error = None;
        self.last_warning = Some(Instant::now());
    }
}

/// Sends `request` and reads the agent's answer whole, so that the
/// connection can carry the next one.
async fn exchange(
    sender: &mut Connection,
    request: http::Request<Full<Bytes>>,
) -> Result<(), String> {
    sender
        .ready()
        .await
        .map_err(|e| format!("cannot send to the agent: {}", chain(&e)))?;
    // hyper's one error covers writing the request and reading the answer's
    // head; a failure is almost always the latter (a closed connection, a
    // bad answer).
    let response = sender
        .send_request(request)
        .await
        .map_err(|e| format!("no answer from the agent: {}", chain(&e)))?;
    let status = response.status();
    let body = Limited::new(response.into_body(), MAX_ANSWER)
        .collect()
        .await
        .map_err(|e| format!("no answer from the agent: {}", chain(&*e)))?
        .to_bytes();
    if status.is_success() {
        Ok(())
    } else {
        Err(format!(
            "the agent answered {}: {}",
            status.as_u16(),
            String::from_utf8_lossy(&body[..body.len().min(200)])
        ))
    }
}

#[cfg(test)]
mod tests {
    use std::io::{BufRead, BufReader, Read, Write};

    use super::*;

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
        start(queue.clone(), agent_at, process).unwrap();
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
        let mut sender = Sender::new(Arc::new(Queue::default()), agent, process, runtime);
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
        assert_eq!(sender.put(Bytes::from_static(b"\x91\x90"), 1), Ok(()));
        let refused = sender.put(Bytes::from_static(b"\x90"), 0).unwrap_err();
        assert!(refused.contains("400: abcde"), "{refused}");
        assert_eq!(sender.put(Bytes::from_static(b"\x90"), 0), Ok(()));
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
            assert!(error.contains(expected), "{error}");
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
        assert_eq!((sender.failed, sender.last_error.clone()), (0, None));
        drop(sender);
        let seen = agent.join().unwrap();
        assert_eq!(seen.iter().map(Vec::len).collect::<Vec<_>>(), [1, 1]);
    }

    #[test]
    fn a_silent_agent_times_out_and_its_batch_is_counted() {
        // Connections complete in the listener's backlog; nothing answers.
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let mut sender = sender_to(tcp_agent(listener.local_addr().unwrap().port()));
        let started = Instant::now();
        sender.send(&batch_of(3));
        // Two attempts of 300 ms each.
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "{:?}",
            started.elapsed()
        );
        assert_eq!(sender.failed, 3);
        let error = sender.last_error.clone().unwrap_or_default();
        assert!(error.contains("no answer from the agent"), "{error}");
        assert!(sender.conn.is_none());
    }

    #[test]
    fn a_dead_agent_fails_at_once_and_its_batch_is_counted() {
        let port = {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            listener.local_addr().unwrap().port()
        };
        let mut sender = sender_to(tcp_agent(port));
        sender.send(&batch_of(2));
        assert_eq!(sender.failed, 2);
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
        assert_eq!((sender.failed, sender.last_error.clone()), (0, None));
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
}
