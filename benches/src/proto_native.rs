//! PROTOTYPE, not the product: what a native DataDog span path would cost.
//!
//! One server span per request, recorded as a small struct (IDs, times,
//! method, route template, status, URL, request ID), queued, and encoded by
//! a background thread straight to the agent's v0.4 msgpack format over one
//! keep-alive HTTP/1.1 connection. Priority 1 for every trace (a token
//! bucket would cost a compare and a decrement). No propagation, no child
//! spans, no retries: the point is the per-request cost of the common case.

use std::future::Future;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::pin::Pin;
use std::sync::{Arc, Condvar, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::extract::MatchedPath;
use http::{Method, Request, Response};
use pin_project_lite::pin_project;
use tower::{Layer, Service};
use treebeard::request_id::RequestId;

struct SpanRec {
    trace_id: u64,
    span_id: u64,
    start_ns: i64,
    duration_ns: i64,
    method: Method,
    route: Option<MatchedPath>,
    status: u16,
    url: String,
    request_id: Option<RequestId>,
}

struct Shared {
    queue: Mutex<Vec<SpanRec>>,
    wake: Condvar,
    service: String,
    env: String,
    version: String,
}

/// The layer: a span per request.
#[derive(Clone)]
pub struct NativeSpanLayer {
    shared: Arc<Shared>,
}

impl NativeSpanLayer {
    /// Starts the sender thread for the agent at `host:port`.
    pub fn start(agent: String, service: String, env: String, version: String) -> Self {
        let shared = Arc::new(Shared {
            queue: Mutex::new(Vec::with_capacity(4096)),
            wake: Condvar::new(),
            service,
            env,
            version,
        });
        let worker = shared.clone();
        std::thread::spawn(move || sender(worker, agent));
        Self { shared }
    }
}

impl<S> Layer<S> for NativeSpanLayer {
    type Service = NativeSpan<S>;
    fn layer(&self, inner: S) -> Self::Service {
        NativeSpan {
            inner,
            shared: self.shared.clone(),
        }
    }
}

#[derive(Clone)]
pub struct NativeSpan<S> {
    inner: S,
    shared: Arc<Shared>,
}

thread_local! {
    static RNG: std::cell::Cell<u64> = std::cell::Cell::new(
        SystemTime::now().duration_since(UNIX_EPOCH).map_or(1, |d| d.as_nanos() as u64) | 1);
}

fn next_id() -> u64 {
    RNG.with(|r| {
        // xorshift64*
        let mut x = r.get();
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        r.set(x);
        x.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 1
    })
}

impl<S, B, RB> Service<Request<B>> for NativeSpan<S>
where
    S: Service<Request<B>, Response = Response<RB>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Fut<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        let host = req
            .headers()
            .get(http::header::HOST)
            .and_then(|h| h.to_str().ok())
            .unwrap_or("localhost");
        let path = req.uri().path();
        let mut url = String::with_capacity(7 + host.len() + path.len());
        url.push_str("http://");
        url.push_str(host);
        url.push_str(path);
        let rec = SpanRec {
            trace_id: next_id(),
            span_id: next_id(),
            start_ns: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos() as i64),
            duration_ns: 0,
            method: req.method().clone(),
            route: req.extensions().get::<MatchedPath>().cloned(),
            status: 0,
            url,
            request_id: req.extensions().get::<RequestId>().cloned(),
        };
        Fut {
            inner: self.inner.call(req),
            rec: Some(rec),
            start: Instant::now(),
            shared: self.shared.clone(),
        }
    }
}

pin_project! {
    pub struct Fut<F> {
        #[pin]
        inner: F,
        rec: Option<SpanRec>,
        start: Instant,
        shared: Arc<Shared>,
    }
}

impl<F, RB, E> Future for Fut<F>
where
    F: Future<Output = Result<Response<RB>, E>>,
{
    type Output = F::Output;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let out = std::task::ready!(this.inner.poll(cx));
        if let Some(mut rec) = this.rec.take() {
            rec.duration_ns = this.start.elapsed().as_nanos() as i64;
            rec.status = out.as_ref().map_or(500, |r| r.status().as_u16());
            let mut queue = this.shared.queue.lock().unwrap();
            if queue.len() < 100_000 {
                queue.push(rec);
            }
            if queue.len() >= 1000 {
                this.shared.wake.notify_one();
            }
        }
        Poll::Ready(out)
    }
}

fn sender(shared: Arc<Shared>, agent: String) {
    let mut batch = Vec::with_capacity(4096);
    let mut body = Vec::with_capacity(1 << 20);
    let mut conn: Option<TcpStream> = None;
    loop {
        {
            let mut queue = shared.queue.lock().unwrap();
            if queue.is_empty() {
                queue = shared
                    .wake
                    .wait_timeout(queue, Duration::from_millis(200))
                    .unwrap()
                    .0;
            }
            std::mem::swap(&mut *queue, &mut batch);
        }
        if batch.is_empty() {
            continue;
        }
        body.clear();
        encode(&shared, &batch, &mut body);
        let count = batch.len();
        batch.clear();
        for _ in 0..2 {
            if conn.is_none() {
                conn = TcpStream::connect(&agent).ok();
            }
            let Some(stream) = conn.as_mut() else { break };
            if post(stream, &agent, count, &body).is_ok() {
                break;
            }
            conn = None;
        }
    }
}

fn post(stream: &mut TcpStream, agent: &str, count: usize, body: &[u8]) -> std::io::Result<()> {
    let head = format!(
        "PUT /v0.4/traces HTTP/1.1\r\nHost: {agent}\r\nContent-Type: application/msgpack\r\n\
         Content-Length: {}\r\nX-Datadog-Trace-Count: {count}\r\nDatadog-Meta-Lang: rust\r\n\
         Datadog-Meta-Tracer-Version: 0.0.1-proto\r\nDatadog-Meta-Lang-Version: 1.95\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes())?;
    stream.write_all(body)?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut line = String::new();
    let mut length = 0usize;
    reader.read_line(&mut line)?;
    loop {
        line.clear();
        reader.read_line(&mut line)?;
        let l = line.trim_end();
        if l.is_empty() {
            break;
        }
        if let Some(v) = l.to_ascii_lowercase().strip_prefix("content-length:") {
            length = v.trim().parse().unwrap_or(0);
        }
    }
    let mut sink = vec![0u8; length];
    reader.read_exact(&mut sink)?;
    Ok(())
}

fn str_kv(out: &mut Vec<u8>, k: &str, v: &str) {
    rmp::encode::write_str(out, k).unwrap();
    rmp::encode::write_str(out, v).unwrap();
}

/// v0.4: an array of traces, each an array of span maps.
fn encode(shared: &Shared, batch: &[SpanRec], out: &mut Vec<u8>) {
    use rmp::encode::*;
    write_array_len(out, batch.len() as u32).unwrap();
    let mut status = itoa::Buffer::new();
    for s in batch {
        write_array_len(out, 1).unwrap();
        write_map_len(out, 12).unwrap();
        let route = s.route.as_ref().map_or("unmatched", |r| r.as_str());
        str_kv(out, "service", &shared.service);
        str_kv(out, "name", "http.server.request");
        write_str(out, "resource").unwrap();
        let method = s.method.as_str();
        write_str_len(out, (method.len() + 1 + route.len()) as u32).unwrap();
        out.extend_from_slice(method.as_bytes());
        out.push(b' ');
        out.extend_from_slice(route.as_bytes());
        str_kv(out, "type", "web");
        write_str(out, "trace_id").unwrap();
        write_uint(out, s.trace_id).unwrap();
        write_str(out, "span_id").unwrap();
        write_uint(out, s.span_id).unwrap();
        write_str(out, "parent_id").unwrap();
        write_uint(out, 0).unwrap();
        write_str(out, "start").unwrap();
        write_sint(out, s.start_ns).unwrap();
        write_str(out, "duration").unwrap();
        write_sint(out, s.duration_ns).unwrap();
        write_str(out, "error").unwrap();
        write_sint(out, i64::from(s.status >= 500)).unwrap();
        write_str(out, "meta").unwrap();
        write_map_len(out, 8).unwrap();
        str_kv(out, "env", &shared.env);
        str_kv(out, "version", &shared.version);
        str_kv(out, "http.method", method);
        str_kv(out, "http.route", route);
        str_kv(out, "http.url", &s.url);
        str_kv(out, "http.status_code", status.format(s.status));
        str_kv(
            out,
            "request_id",
            s.request_id.as_ref().map_or("", RequestId::as_str),
        );
        str_kv(out, "span.kind", "server");
        write_str(out, "metrics").unwrap();
        write_map_len(out, 2).unwrap();
        write_str(out, "_sampling_priority_v1").unwrap();
        write_f64(out, 1.0).unwrap();
        write_str(out, "_dd.top_level").unwrap();
        write_f64(out, 1.0).unwrap();
    }
}
