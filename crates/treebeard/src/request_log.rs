//! Timed request logging: one span and one INFO line per request.
//!
//! [`RequestLogLayer`] opens the request span (`http.request`, carrying the
//! request ID, method and route template) around the inner service, so every
//! log line a handler writes is tagged with them, and logs
//! `request completed` with the status and latency when the response is ready.
//!
//! The route is axum's [`MatchedPath`](axum::extract::MatchedPath), such as
//! `/users/{id}`, never the raw path: requests that match no route are logged
//! with the route `unmatched`. Add this layer with `Router::layer` so it sees
//! the matched path.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;

use axum::extract::MatchedPath;
use http::{Request, Response};
use pin_project_lite::pin_project;
use tower::{Layer, Service};
use tracing::Span;

use crate::request_id::RequestId;

/// The route recorded for requests that matched no route.
pub const UNMATCHED_ROUTE: &str = treebeard_conventions::tags::UNMATCHED_ROUTE;

/// The route template of a request, or [`UNMATCHED_ROUTE`].
pub fn route_of<B>(req: &Request<B>) -> RouteTemplate {
    RouteTemplate(req.extensions().get::<MatchedPath>().cloned())
}

/// A request's route template: cheap to clone, never the raw path.
#[derive(Clone, Debug)]
pub struct RouteTemplate(Option<MatchedPath>);

impl RouteTemplate {
    /// The template, such as `/users/{id}`, or [`UNMATCHED_ROUTE`].
    pub fn as_str(&self) -> &str {
        self.0.as_ref().map_or(UNMATCHED_ROUTE, MatchedPath::as_str)
    }
}

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

    fn call(&mut self, req: Request<ReqBody>) -> Self::Future {
        let start = Instant::now();
        let route = route_of(&req);
        let request_id = req.extensions().get::<RequestId>();
        let span = tracing::info_span!(
            "http.request",
            request_id = request_id.map(RequestId::as_str),
            method = req.method().as_str(),
            route = route.as_str(),
        );
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
            Ok(response) => tracing::info!(
                status = response.status().as_u16(),
                latency_ms,
                "request completed"
            ),
            Err(error) => tracing::error!(%error, latency_ms, "request failed"),
        }
        Poll::Ready(result)
    }
}
