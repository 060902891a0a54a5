//! The request span and timed request logging: one span and one INFO line
//! per request.
//!
//! [`RequestLogLayer`] opens the request span around the inner service, so
//! every log line a handler writes is tagged with the request ID, method and
//! route template, and logs `request completed` with the status and latency
//! when the response is ready.
//!
//! The same span is the request's APM server span when a tracer runs
//! ([`crate::apm`]): it continues the trace of the incoming headers and is
//! exported as DataDog operation `http.server.request`, type `web`, resource
//! `GET /users/{id}`, with tags `http.method`, `http.route`, `http.url`
//! (query values masked), `http.status_code` and `request_id`. A 5xx
//! response marks it as an error, with `error.type`/`error.message` from the
//! response's [`ResponseError`] when a handler attached one.
//!
//! The route is axum's [`MatchedPath`](axum::extract::MatchedPath), such as
//! `/users/{id}`, never the raw path: requests that match no route are logged
//! with the route `unmatched`. Add this layer with `Router::layer` so it sees
//! the matched path.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;

use http::{Request, Response};
use pin_project_lite::pin_project;
use tower::{Layer, Service};
use tracing::{Span, field};

use crate::ids::RequestId;
use crate::response_error::ResponseError;
use crate::trace_context;

use crate::route::RequestUrl;
pub use crate::route::{RouteTemplate, UNMATCHED_ROUTE, route_of};

/// Logs one timed line per request; see the [module docs](self).
#[derive(Debug, Clone, Default)]
pub struct RequestLogLayer {
    _private: (),
}

impl RequestLogLayer {
    /// A request logger writing through `tracing` at INFO.
    pub fn new() -> Self {
        Self::default()
    }
}

impl<S> Layer<S> for RequestLogLayer {
    type Service = RequestLog<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RequestLog { inner }
    }
}

/// The service made by [`RequestLogLayer`].
#[derive(Debug, Clone)]
pub struct RequestLog<S> {
    inner: S,
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for RequestLog<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
    S::Error: std::fmt::Display,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<ReqBody>) -> Self::Future {
        let start = Instant::now();
        let route = route_of(&req);
        let request_id = req.extensions().get::<RequestId>();
        let method = req.method().as_str();
        // Computed only for a tracer, and given at creation: a later
        // `record` would cost a trip through every layer.
        let url = trace_context::is_active().then(|| field::display(RequestUrl::of(&req, &route)));
        let span = tracing::info_span!(
            "http.request",
            // DataDog derives operation `http.server.request`, type `web`
            // and resource `<method> <route>` from these, on the exporter's
            // thread rather than the request's.
            otel.kind = "server",
            otel.status_code = field::Empty,
            http.method = method,
            http.route = route.as_str(),
            http.url = url,
            http.status_code = field::Empty,
            error.type = field::Empty,
            error.message = field::Empty,
            // Log lines show http.method and http.route as `method`, `route`.
            request_id = request_id.map(RequestId::as_str),
        );
        if url.is_some()
            && let Some(ids) = trace_context::tracer()
                .and_then(|tracer| tracer.continue_trace(&span, req.headers()))
        {
            req.extensions_mut().insert(ids);
        }
        let inner = {
            let _entered = span.enter();
            self.inner.call(req)
        };
        ResponseFuture { inner, span, start }
    }
}

pin_project! {
    /// Response future of [`RequestLog`]: logs when the response is ready.
    pub struct ResponseFuture<F> {
        #[pin]
        inner: F,
        span: Span,
        start: Instant,
    }
}

impl<F, B, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<Response<B>, E>>,
    E: std::fmt::Display,
{
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let _entered = this.span.enter();
        let result = std::task::ready!(this.inner.poll(cx));
        // Whole microseconds, so the JSON shows `1.234`, not float noise.
        let latency_ms = this.start.elapsed().as_micros() as f64 / 1000.0;
        match &result {
            Ok(response) => {
                let status = response.status();
                record_status(
                    this.span,
                    status,
                    response.extensions().get::<ResponseError>(),
                );
                tracing::info!(status = status.as_u16(), latency_ms, "request completed");
            }
            Err(error) => {
                this.span.record("otel.status_code", "error");
                this.span.record("error.type", "service_error");
                tracing::error!(%error, latency_ms, "request failed");
            }
        }
        Poll::Ready(result)
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
