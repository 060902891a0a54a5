//! The request span and timed request logging: one span and one INFO line
//! per request.
//!
//! [`RequestLogLayer`] opens the request span around the inner service, so
//! every log line a handler writes is tagged with the request ID, method and
//! route template, and logs `request completed` with the status and duration
//! when the response ends, in DataDog's standard attributes (see
//! `Pending::write_line` and docs/layers.md).
//!
//! The same span is the request's APM server span when a tracer runs
//! ([`crate::apm`]): it continues the trace of the incoming headers and is
//! exported as DataDog operation `http.server.request`, type `web`, resource
//! `GET /users/{id}`, with tags `http.method`, `http.route`, `http.url`
//! (secret query values redacted as DataDog does, then PII-scrubbed),
//! `http.status_code` and `request_id`. A 5xx
//! response marks it as an error, with `error.type`/`error.message` from the
//! response's [`ResponseError`] when a handler attached one.
//!
//! The route is axum's [`MatchedPath`](axum::extract::MatchedPath), such as
//! `/users/{id}`, never the raw path: requests that match no route are logged
//! with the route `unmatched`. Add this layer with `Router::layer` so it sees
//! the matched path.

use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use axum::extract::ConnectInfo;
use bytes::Bytes;
use http::{Request, Response};
use http_body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;
use tower::{Layer, Service};
use tracing::{Span, field};

use crate::body::in_memory;
use crate::config::HeaderTag;
use crate::ids::RequestId;
use crate::request_line::{self, Outcome, RequestLine};
use crate::response_error::ResponseError;
use crate::trace_context;

pub use crate::route::{
    CLIENT_CLOSED_REQUEST, MOUNTED_ROUTE, RouteTemplate, UNMATCHED_ROUTE, route_of,
};
use crate::route::{REQUEST_LINE_TARGET, RequestUrl};

/// Logs one timed line per request; see the [module docs](self).
#[derive(Debug, Clone, Default)]
pub struct RequestLogLayer {
    client_ip: Option<ClientIp>,
    header_tags: Option<Arc<[HeaderTag]>>,
    ignored: Option<Arc<[Box<str>]>>,
}

/// Where the `http.client_ip` span tag comes from, when it is on.
#[derive(Debug, Clone)]
struct ClientIp {
    /// The one header to read (`DD_TRACE_CLIENT_IP_HEADER`), else DataDog's list.
    header: Option<http::HeaderName>,
}

impl RequestLogLayer {
    /// A request logger writing through `tracing` at INFO.
    pub fn new() -> Self {
        Self::default()
    }

    /// Tags server spans with `http.client_ip`, as DataDog's tracers do with
    /// `DD_TRACE_CLIENT_IP_ENABLED`: the first public address of the first
    /// proxy header present (`x-forwarded-for`, `x-real-ip`, ...), or only
    /// `header` when given, else the peer's address (with `ConnectInfo`).
    /// Off by default: the address is personal data.
    #[must_use]
    pub fn with_client_ip(mut self, header: Option<http::HeaderName>) -> Self {
        self.client_ip = Some(ClientIp { header });
        self
    }

    /// Requests to these route templates (`/health`) get no span and no
    /// request line (`MONITORING_IGNORE_ROUTES`): probes and scrapes.
    #[must_use]
    pub fn with_ignored_routes<R: AsRef<str>>(mut self, routes: &[R]) -> Self {
        self.ignored =
            (!routes.is_empty()).then(|| routes.iter().map(|r| Box::from(r.as_ref())).collect());
        self
    }

    /// Tags server spans with these request and response headers
    /// (`DD_TRACE_HEADER_TAGS`), their values PII-scrubbed.
    #[must_use]
    pub fn with_header_tags(mut self, tags: Vec<HeaderTag>) -> Self {
        self.header_tags = (!tags.is_empty()).then(|| tags.into());
        self
    }
}

impl<S> Layer<S> for RequestLogLayer {
    type Service = RequestLog<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RequestLog {
            inner,
            client_ip: self.client_ip.clone(),
            header_tags: self.header_tags.clone(),
            ignored: self.ignored.clone(),
        }
    }
}

/// The service made by [`RequestLogLayer`].
#[derive(Debug, Clone)]
pub struct RequestLog<S> {
    inner: S,
    client_ip: Option<ClientIp>,
    header_tags: Option<Arc<[HeaderTag]>>,
    ignored: Option<Arc<[Box<str>]>>,
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for RequestLog<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
    S::Error: std::fmt::Display,
    ResBody: Body<Data = Bytes> + Send + 'static,
    ResBody::Error: std::fmt::Display + Into<axum::BoxError>,
{
    type Response = Response<axum::body::Body>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<ReqBody>) -> Self::Future {
        let start = Instant::now();
        let route = route_of(&req);
        if let Some(ignored) = &self.ignored
            && ignored.iter().any(|r| **r == *route.as_str())
        {
            // A probe or a scrape: no span, no line.
            return ResponseFuture {
                inner: self.inner.call(req),
                pending: None,
            };
        }
        // Scrubbed like every tag and line: a client-chosen ID may carry an
        // e-mail or a token, and span tags go to the agent as they are.
        // (Generated UUIDs take the scrubber's fast path.)
        let request_id = req
            .extensions()
            .get::<RequestId>()
            .map(|id| crate::privacy::scrubber().scrub(id.as_str()));
        let method = req.method().as_str();
        let peer = req
            .extensions()
            .get::<ConnectInfo<SocketAddr>>()
            .map(|info| info.0.ip());
        let user_agent = req.headers().get(http::header::USER_AGENT).cloned();
        // Computed only for a tracer, and given at creation: a later
        // `record` would cost a trip through every layer.
        let traced = trace_context::is_active();
        let url = traced.then(|| field::display(RequestUrl::of(&req, &route)));
        let client_ip = self
            .client_ip
            .as_ref()
            .filter(|_| traced)
            .and_then(|source| {
                let header = source.header.as_ref().map(http::HeaderName::as_str);
                crate::client_ip::client_ip(req.headers(), peer, header)
            });
        let span = tracing::info_span!(
            "http.request",
            // DataDog derives operation `http.server.request`, type `web`
            // and resource `<method> <route>` from these, on the exporter's
            // thread rather than the request's.
            otel.kind = "server",
            otel.status_code = field::Empty,
            http.method = method,
            // An unmatched request's route waits for its response: a
            // fallback service may serve it (recorded in `write_line`).
            http.route = route.is_known().then(|| route.as_str()),
            http.url = url,
            // DataDog's tracers tag these on every server span; scrubbed
            // like every tag (the log line's copy is scrubbed there).
            http.useragent = user_agent
                .as_ref()
                .filter(|_| traced)
                .and_then(|ua| ua.to_str().ok())
                .map(|ua| crate::privacy::scrubber().scrub(ua))
                .as_deref(),
            http.client_ip = client_ip.map(field::display),
            http.status_code = field::Empty,
            error.type = field::Empty,
            error.message = field::Empty,
            // Log lines show http.method, http.route and request_id too.
            request_id = request_id.as_deref(),
        );
        if url.is_some()
            && let Some(ids) = trace_context::tracer()
                .and_then(|tracer| tracer.continue_trace(&span, req.headers()))
        {
            req.extensions_mut().insert(ids);
        }
        let header_tags = self.header_tags.clone().filter(|_| traced);
        if let Some(tags) = &header_tags {
            tag_headers(&span, tags, req.headers(), |tag| tag.request_tag);
        }
        let head_only = req.method() == http::Method::HEAD;
        let client = Client {
            // Cheap clones: both share the request's buffers.
            uri: crate::route::client_uri(&req).clone(),
            user_agent,
            ip: peer,
        };
        let inner = {
            let _entered = span.enter();
            self.inner.call(req)
        };
        ResponseFuture {
            inner,
            pending: Some(Pending {
                span,
                route,
                client,
                header_tags,
                start,
                head_only,
                status: None,
                head_ms: None,
            }),
        }
    }
}

/// The request's span and timing, from the call until the response body's
/// end (or the client leaving): whoever holds it last writes the line.
struct Pending {
    span: Span,
    route: RouteTemplate,
    client: Client,
    /// `DD_TRACE_HEADER_TAGS`, when a tracer runs and some are set.
    header_tags: Option<Arc<[HeaderTag]>>,
    start: Instant,
    /// A HEAD request: its body is never sent, so a dropped body is done.
    head_only: bool,
    /// The response status, once the head is ready.
    status: Option<http::StatusCode>,
    /// Milliseconds to the response head, for a body watched to its end
    /// (logged only then: for the rest it is the latency).
    head_ms: Option<f64>,
}

/// What the request line says of the client and its request, as
/// DataDog's standard attributes (`http.url_details.path`,
/// `http.useragent`, `network.client.ip`).
struct Client {
    uri: http::Uri,
    user_agent: Option<http::HeaderValue>,
    /// The peer address, when the app serves with `ConnectInfo`.
    ip: Option<IpAddr>,
}

/// How a request ended.
enum End<'a> {
    /// The whole response was produced.
    Complete,
    /// The inner service failed: no response.
    ServiceError(&'a dyn std::fmt::Display),
    /// The response body failed mid-stream: the client got a truncated body.
    BodyError(&'a dyn std::fmt::Display),
    /// The client left before the response (head or body) was done.
    ClientClosed,
}

impl Pending {
    /// Writes the request line and closes the span (dropped with `self`).
    fn finish(self, end: End<'_>) {
        self.write_line(end, self.status, self.head_ms);
    }

    /// Writes the request line, and records on the span how the request
    /// ended.
    ///
    /// Its fields are DataDog's standard attributes, so its log views and
    /// facets read them: `http.status_code`, `duration` (nanoseconds),
    /// `http.url_details.path`, `http.useragent`, `network.client.ip`, and
    /// `error.kind`/`error.message` on failures (the span adds
    /// `http.method`, `http.route` and `request_id`). No root `status`:
    /// DataDog reads that as the line's severity.
    fn write_line(&self, end: End<'_>, status: Option<http::StatusCode>, head_ms: Option<f64>) {
        if !self.route.is_known() {
            let mut route = self.route.clone();
            route.settle(status.filter(|_| matches!(end, End::Complete)));
            self.span.record("http.route", route.as_str());
        }
        let elapsed = self.start.elapsed();
        // A body error's message, scrubbed once for the span and the line.
        let body_error;
        let (outcome, status_code) = match (end, status) {
            (End::Complete, Some(status)) => (Outcome::Served, status.as_u16()),
            (End::Complete, None) => return,
            (End::BodyError(error), _) => {
                body_error = crate::privacy::scrubber()
                    .scrub(&error.to_string())
                    .into_owned();
                self.span.record("otel.status_code", "error");
                self.span.record("error.type", "body_error");
                self.span.record("error.message", body_error.as_str());
                let failed = Outcome::Failed {
                    message: "response body failed",
                    kind: "body_error",
                    error: &body_error,
                };
                (failed, status.map_or(500, |s| s.as_u16()))
            }
            (End::ServiceError(error), _) => {
                self.span.record("otel.status_code", "error");
                self.span.record("error.type", "service_error");
                let failed = Outcome::Failed {
                    message: "request failed",
                    kind: "service_error",
                    error,
                };
                (failed, 500)
            }
            (End::ClientClosed, status) => {
                // The status the handler chose, if it got that far, stays on
                // the span; the line and the tag say what the client saw.
                if status.is_none() {
                    self.span
                        .record("http.status_code", CLIENT_CLOSED_REQUEST.as_str());
                }
                self.span.record("error.type", "client_closed_request");
                self.span.record(
                    "error.message",
                    "the client closed the connection before the response was complete",
                );
                let handler_status = status.map(|s| s.as_u16());
                let closed = Outcome::ClientClosed { handler_status };
                (closed, CLIENT_CLOSED_REQUEST.as_u16())
            }
        };
        let line = RequestLine {
            status_code,
            duration: u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX),
            // Whole microseconds, so the JSON shows `1.234`, not float noise.
            latency_ms: elapsed.as_micros() as f64 / 1000.0,
            head_ms,
            path: &crate::route::shown_path(self.client.uri.path(), self.route.as_str()),
            user_agent: self
                .client
                .user_agent
                .as_ref()
                .and_then(|ua| ua.to_str().ok()),
            client_ip: self.client.ip,
            outcome,
        };
        if !request_line::write(&self.span, &line) {
            let _entered = self.span.enter();
            emit(&line);
        }
    }
}

/// Emits the request line as a `tracing` event, in the current span (the
/// request's): for subscribers without the direct path.
fn emit(line: &RequestLine<'_>) {
    let client_ip = line.client_ip.map(field::display);
    // One field list for every kind of line: only the level and the error
    // fields differ. The direct path writes the same fields in this order.
    macro_rules! line {
        ($level:ident $(, $($extra:tt)+)?) => {
            tracing::event!(
                target: REQUEST_LINE_TARGET,
                tracing::Level::$level,
                http.status_code = line.status_code,
                duration = line.duration,
                latency_ms = line.latency_ms,
                head_ms = line.head_ms,
                http.url_details.path = line.path,
                http.useragent = line.user_agent,
                network.client.ip = client_ip,
                $($($extra)+,)?
                // A `&str`, not `format_args!`: the same line, without
                // formatting a constant through `Debug` for every request.
                message = line.message()
            )
        };
    }
    match line.outcome {
        Outcome::Served if line.level() == tracing::Level::ERROR => line!(ERROR),
        Outcome::Served => line!(INFO),
        Outcome::Failed { kind, error, .. } => {
            line!(ERROR, error.kind = kind, error.message = %error);
        }
        Outcome::ClientClosed { handler_status } => line!(WARN, handler_status),
    }
}

pin_project! {
    /// Response future of [`RequestLog`]: records the status when the
    /// response head is ready, and hands the span to the body.
    pub struct ResponseFuture<F> {
        #[pin]
        inner: F,
        pending: Option<Pending>,
    }

    impl<F> PinnedDrop for ResponseFuture<F> {
        fn drop(this: Pin<&mut Self>) {
            // Dropped before the response was ready: the client left.
            if let Some(pending) = this.project().pending.take() {
                pending.finish(End::ClientClosed);
            }
        }
    }
}

impl<F, B, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<Response<B>, E>>,
    B: Body<Data = Bytes> + Send + 'static,
    B::Error: std::fmt::Display + Into<axum::BoxError>,
    E: std::fmt::Display,
{
    type Output = Result<Response<axum::body::Body>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let Some(pending) = this.pending.as_mut() else {
            let result = std::task::ready!(this.inner.poll(cx));
            return Poll::Ready(result.map(|r| r.map(axum::body::Body::new)));
        };
        let result = {
            let _entered = pending.span.enter();
            std::task::ready!(this.inner.poll(cx))
        };
        match result {
            Ok(response) => {
                let status = response.status();
                if let Some(tags) = &pending.header_tags {
                    tag_headers(&pending.span, tags, response.headers(), |tag| {
                        tag.response_tag
                    });
                }
                record_status(
                    &pending.span,
                    status,
                    response.extensions().get::<ResponseError>(),
                );
                if pending.head_only || in_memory(response.body()) {
                    // The span closes as `pending` drops, and the body
                    // passes as it is (an axum body is not boxed again).
                    pending.write_line(End::Complete, Some(status), None);
                    this.pending.take();
                    return Poll::Ready(Ok(response.map(axum::body::Body::new)));
                }
                pending.status = Some(status);
                pending.head_ms = Some(pending.start.elapsed().as_micros() as f64 / 1000.0);
                // The body holds the span from here to its end.
                let pending = this.pending.take();
                Poll::Ready(Ok(response.map(|inner| {
                    axum::body::Body::new(ResponseBody { inner, pending })
                })))
            }
            Err(error) => {
                pending.write_line(End::ServiceError(&error), None, None);
                this.pending.take();
                Poll::Ready(Err(error))
            }
        }
    }
}

pin_project! {
    /// Response body of [`RequestLog`] for streams and large bodies: the
    /// request line is written, and the span closed, when the body ends,
    /// fails or is dropped, so a streaming response is timed to its last
    /// byte.
    struct ResponseBody<B> {
        #[pin]
        inner: B,
        pending: Option<Pending>,
    }

    impl<B> PinnedDrop for ResponseBody<B> {
        fn drop(this: Pin<&mut Self>) {
            // Dropped before its end: the client left mid-stream, or the
            // server never sent it (a HEAD request, handled above).
            if let Some(pending) = this.project().pending.take() {
                pending.finish(End::ClientClosed);
            }
        }
    }
}

impl<B> Body for ResponseBody<B>
where
    B: Body,
    B::Error: std::fmt::Display,
{
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let mut this = self.project();
        let frame = std::task::ready!(this.inner.as_mut().poll_frame(cx));
        let end = match &frame {
            None => Some(End::Complete),
            Some(Err(error)) => Some(End::BodyError(error)),
            // The last frame: log now rather than on a poll that may never come.
            Some(Ok(_)) => this.inner.is_end_stream().then_some(End::Complete),
        };
        if let Some(end) = end
            && let Some(pending) = this.pending.take()
        {
            pending.finish(end);
        }
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// Tags `span` with the configured `headers` that are present, their values
/// PII-scrubbed like every tag.
fn tag_headers(
    span: &Span,
    tags: &[HeaderTag],
    headers: &http::HeaderMap,
    name: impl Fn(&HeaderTag) -> &'static str,
) {
    let Some(tracer) = trace_context::tracer() else {
        return;
    };
    for tag in tags {
        if let Some(value) = headers.get(&tag.header).and_then(|v| v.to_str().ok()) {
            tracer.set_tag(span, name(tag), &crate::privacy::scrubber().scrub(value));
        }
    }
}

/// Records the status on the span, and marks 5xx responses as errors.
fn record_status(span: &Span, status: http::StatusCode, error: Option<&ResponseError>) {
    span.record("http.status_code", status.as_str());
    if !status.is_server_error() {
        return;
    }
    span.record("otel.status_code", "error");
    match error {
        Some(error) => {
            span.record("error.type", error.kind());
            span.record(
                "error.message",
                crate::privacy::scrubber().scrub(error.message()).as_ref(),
            );
        }
        None => {
            span.record("error.type", "http_error");
            span.record("error.message", status.to_string().as_str());
        }
    }
}
