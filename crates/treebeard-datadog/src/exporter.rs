//! The span queue and the thread that sends it to the agent.
//!
//! Request threads only push finished traces onto a bounded queue; one
//! background thread encodes them (v0.4 MessagePack) and `PUT`s them to
//! `/v0.4/traces` over one keep-alive HTTP/1.1 connection (TCP or Unix
//! socket), every second or as soon as [`FLUSH_SPANS`] are waiting. When the
//! agent is down, slow or refuses, the batch is dropped and counted: the
//! queue never grows past [`MAX_QUEUED_SPANS`] and requests never wait.

use std::io::{BufRead, BufReader, Read, Write};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::{Duration, Instant};

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
/// Connect, write and read timeout of one attempt.
const IO_TIMEOUT: Duration = Duration::from_secs(2);
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

    fn connect(&self, timeout: Duration) -> std::io::Result<Box<dyn Stream>> {
        match self {
            Self::Tcp { host, port } => {
                let mut last = None;
                for addr in std::net::ToSocketAddrs::to_socket_addrs(&(host.as_str(), *port))? {
                    match std::net::TcpStream::connect_timeout(&addr, timeout) {
                        Ok(stream) => {
                            stream.set_nodelay(true)?;
                            return Ok(Box::new(stream));
                        }
                        Err(e) => last = Some(e),
                    }
                }
                Err(last.unwrap_or_else(|| std::io::Error::other("no address")))
            }
            #[cfg(unix)]
            Self::Unix(path) => Ok(Box::new(std::os::unix::net::UnixStream::connect(path)?)),
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

/// A connection to the agent.
trait Stream: Read + Write + Send {
    fn set_timeouts(&self, timeout: Duration) -> std::io::Result<()>;
}

impl Stream for std::net::TcpStream {
    fn set_timeouts(&self, timeout: Duration) -> std::io::Result<()> {
        self.set_read_timeout(Some(timeout))?;
        self.set_write_timeout(Some(timeout))
    }
}

#[cfg(unix)]
impl Stream for std::os::unix::net::UnixStream {
    fn set_timeouts(&self, timeout: Duration) -> std::io::Result<()> {
        self.set_read_timeout(Some(timeout))?;
        self.set_write_timeout(Some(timeout))
    }
}

/// Starts the sender thread.
pub(crate) fn start(
    queue: Arc<Queue>,
    agent: Agent,
    process: Process,
) -> std::io::Result<std::thread::JoinHandle<()>> {
    std::thread::Builder::new()
        .name("treebeard-dd-exporter".to_owned())
        .spawn(move || Sender::new(queue, agent, process).run())
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
    conn: Option<BufReader<Box<dyn Stream>>>,
    body: Vec<u8>,
    /// Spans lost since the last warning, by cause.
    failed: u64,
    reported_refused: u64,
    last_error: Option<String>,
    last_warning: Option<Instant>,
}

impl Sender {
    fn new(queue: Arc<Queue>, agent: Agent, process: Process) -> Self {
        Self {
            host: agent.host_header(),
            queue,
            agent,
            process,
            conn: None,
            body: Vec::with_capacity(64 * 1024),
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
        self.body.clear();
        encode::array_len(&mut self.body, batch.lens.len());
        for chunk in batch.chunks() {
            encode::chunk(&mut self.body, &self.process, chunk);
        }
        let spans = batch.spans.len();
        let traces = batch.lens.len();
        // One retry: a kept-alive connection the agent has closed fails
        // the first write.
        let mut result = self.put(traces);
        if result.is_err() {
            self.conn = None;
            result = self.put(traces);
        }
        if let Err(error) = result {
            self.conn = None;
            self.failed += spans as u64;
            self.last_error = Some(error);
        }
    }

    /// One `PUT /v0.4/traces` of the encoded body; the agent's answer is
    /// read whole so the connection can be reused.
    fn put(&mut self, traces: usize) -> Result<(), String> {
        if self.conn.is_none() {
            let stream = self
                .agent
                .connect(IO_TIMEOUT)
                .map_err(|e| format!("cannot connect to the agent: {e}"))?;
            stream
                .set_timeouts(IO_TIMEOUT)
                .map_err(|e| format!("cannot set socket timeouts: {e}"))?;
            self.conn = Some(BufReader::new(stream));
        }
        let Some(conn) = self.conn.as_mut() else {
            return Err("no connection".to_owned());
        };
        let head = format!(
            "PUT /v0.4/traces HTTP/1.1\r\nHost: {}\r\nContent-Type: application/msgpack\r\nContent-Length: {}\r\nX-Datadog-Trace-Count: {traces}\r\nDatadog-Meta-Lang: rust\r\nDatadog-Meta-Lang-Interpreter: rustc\r\nDatadog-Meta-Tracer-Version: treebeard-{}\r\n\r\n",
            self.host,
            self.body.len(),
            env!("CARGO_PKG_VERSION"),
        );
        let stream = conn.get_mut();
        stream
            .write_all(head.as_bytes())
            .and_then(|()| stream.write_all(&self.body))
            .and_then(|()| stream.flush())
            .map_err(|e| format!("cannot send to the agent: {e}"))?;
        let (status, body) =
            read_response(conn).map_err(|e| format!("no answer from the agent: {e}"))?;
        if (200..300).contains(&status) {
            Ok(())
        } else {
            Err(format!(
                "the agent answered {status}: {}",
                String::from_utf8_lossy(&body[..body.len().min(200)])
            ))
        }
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

/// Reads one HTTP/1.1 response: status code and body (Content-Length or
/// chunked). Bodies are small (`{"rate_by_service":...}`); larger ones
/// are refused rather than buffered.
fn read_response(conn: &mut impl BufRead) -> std::io::Result<(u16, Vec<u8>)> {
    const MAX_BODY: usize = 1 << 20;
    let invalid =
        |what: &str| std::io::Error::new(std::io::ErrorKind::InvalidData, what.to_owned());
    let mut line = String::new();
    conn.read_line(&mut line)?;
    let status = line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse::<u16>().ok())
        .ok_or_else(|| invalid("bad status line"))?;
    let mut length = None;
    let mut chunked = false;
    loop {
        line.clear();
        if conn.read_line(&mut line)? == 0 {
            return Err(invalid("connection closed in the headers"));
        }
        let header = line.trim_end();
        if header.is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':') {
            let value = value.trim();
            if name.eq_ignore_ascii_case("content-length") {
                length = value.parse::<usize>().ok();
            } else if name.eq_ignore_ascii_case("transfer-encoding") {
                chunked = value.eq_ignore_ascii_case("chunked");
            }
        }
    }
    let mut body = Vec::new();
    if chunked {
        loop {
            line.clear();
            conn.read_line(&mut line)?;
            let size = usize::from_str_radix(line.trim().split(';').next().unwrap_or(""), 16)
                .map_err(|_| invalid("bad chunk size"))?;
            if body.len() + size > MAX_BODY {
                return Err(invalid("response too large"));
            }
            let at = body.len();
            body.resize(at + size, 0);
            conn.read_exact(&mut body[at..])?;
            line.clear();
            conn.read_line(&mut line)?;
            if size == 0 {
                break;
            }
        }
    } else {
        let length = length.ok_or_else(|| invalid("no content length"))?;
        if length > MAX_BODY {
            return Err(invalid("response too large"));
        }
        body.resize(length, 0);
        conn.read_exact(&mut body)?;
    }
    Ok((status, body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn responses_are_read_whole_with_either_framing() {
        let mut plain: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokNEXT";
        assert_eq!(read_response(&mut plain).unwrap(), (200, b"ok".to_vec()));
        assert_eq!(plain, b"NEXT");
        let mut chunked: &[u8] =
            b"HTTP/1.1 400 Bad\r\ntransfer-encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\nNEXT";
        assert_eq!(
            read_response(&mut chunked).unwrap(),
            (400, b"abcde".to_vec())
        );
        assert_eq!(chunked, b"NEXT");
        for bad in [
            &b"garbage\r\n\r\n"[..],
            b"HTTP/1.1 200 OK\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nContent-Length: 99999999\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n",
        ] {
            let mut input = bad;
            assert!(read_response(&mut input).is_err(), "{bad:?}");
        }
    }

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
}
