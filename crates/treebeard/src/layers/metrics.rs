//! Request metrics: a count, a latency distribution and an error count per
//! route, method and status.
//!
//! [`RequestMetricsLayer`] records, for every request:
//!
//! | metric | type | unit |
//! |---|---|---|
//! | `<namespace>.api.requests` | counter | requests |
//! | `<namespace>.api.request.duration` | distribution (histogram) | seconds |
//! | `<namespace>.api.errors` | counter, 5xx only | requests |
//!
//! tagged `endpoint:<route template>` (`endpoint:unmatched` when no route
//! matched: raw paths never become tags), `method` (non-standard methods are
//! tagged `other`), `status` and `status_class` (`2xx`, ...). Constant tags
//! (`env`, `service`, `version`, `DD_TAGS`) are added once by the exporter.
//!
//! The duration runs until the response head is ready (not the body).
//! Metrics go to the global `metrics` recorder that [`crate::init`]
//! installs; add this layer with `Router::layer` so it sees the matched
//! route, and outside the panic layer so panics count as 500s.
//!
//! ```
//! use axum::{routing::get, Router};
//! use tower::ServiceExt;
//! use treebeard::metrics::RequestMetricsLayer;
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! let app = Router::new()
//!     .route("/users/{id}", get(|| async { "ada" }))
//!     .layer(RequestMetricsLayer::new("treebeard"));
//! let request = http::Request::get("/users/1").body(axum::body::Body::empty()).unwrap();
//! assert_eq!(app.oneshot(request).await.unwrap().status(), 200);
//! # }
//! ```

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, RwLock};
use std::task::{Context, Poll};
use std::time::Instant;

use http::{Method, Request, Response};
use metrics::{Counter, Histogram, Label, SharedString};
use pin_project_lite::pin_project;
use tower::{Layer, Service};
use treebeard_conventions::{api, tags};

use crate::config::{Config, MetricsBackend};
use crate::metrics::names::{full_name, sanitize_tag_value};
use crate::route::{CLIENT_CLOSED_REQUEST, RouteTemplate, route_of};

/// Records request metrics; see the [module docs](self).
#[derive(Debug, Clone)]
pub struct RequestMetricsLayer {
    shared: Option<Arc<Shared>>,
}

impl RequestMetricsLayer {
    /// A layer recording under `namespace` (such as `treebeard`).
    pub fn new(namespace: &str) -> Self {
        Self {
            shared: Some(Arc::new(Shared::new(namespace))),
        }
    }

    /// A pass-through layer that records nothing.
    pub fn disabled() -> Self {
        Self { shared: None }
    }

    /// The layer for `config`: pass-through when monitoring is disabled or
    /// `METRICS_BACKEND=none`.
    pub fn from_config(config: &Config) -> Self {
        if config.enabled && config.metrics.backend != MetricsBackend::None {
            Self::new(&config.metrics.namespace)
        } else {
            Self::disabled()
        }
    }

    /// Whether the layer records anything.
    pub fn is_enabled(&self) -> bool {
        self.shared.is_some()
    }
}

impl<S> Layer<S> for RequestMetricsLayer {
    type Service = RequestMetrics<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RequestMetrics {
            inner,
            shared: self.shared.clone(),
        }
    }
}

/// The service made by [`RequestMetricsLayer`].
#[derive(Debug, Clone)]
pub struct RequestMetrics<S> {
    inner: S,
    shared: Option<Arc<Shared>>,
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for RequestMetrics<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<ReqBody>) -> Self::Future {
        let pending = self.shared.as_ref().map(|shared| Pending {
            shared: shared.clone(),
            route: route_of(&req),
            method: method_tag(req.method()),
            start: Instant::now(),
        });
        ResponseFuture {
            inner: self.inner.call(req),
            pending,
        }
    }
}

/// What the response future needs to record once the response is ready.
struct Pending {
    shared: Arc<Shared>,
    route: RouteTemplate,
    method: &'static str,
    start: Instant,
}

pin_project! {
    /// Response future of [`RequestMetrics`]: records when the response is
    /// ready, or as status 499 when dropped before (the client left).
    pub struct ResponseFuture<F> {
        #[pin]
        inner: F,
        pending: Option<Pending>,
    }

    impl<F> PinnedDrop for ResponseFuture<F> {
        fn drop(this: Pin<&mut Self>) {
            if let Some(p) = this.project().pending.take() {
                p.record(CLIENT_CLOSED_REQUEST.as_u16());
            }
        }
    }
}

impl Pending {
    fn record(mut self, status: u16) {
        let seconds = self.start.elapsed().as_secs_f64();
        // A client that left says nothing of who would have answered.
        if status != CLIENT_CLOSED_REQUEST.as_u16() {
            self.route.settle(http::StatusCode::from_u16(status).ok());
        }
        self.shared
            .record(self.route.as_str(), self.method, status, seconds);
    }
}

impl<F, B, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<Response<B>, E>>,
{
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let result = std::task::ready!(this.inner.poll(cx));
        if let Some(p) = this.pending.take() {
            // A service error leaves no response: the client sees a failure, so count a 500.
            p.record(result.as_ref().map_or(500, |r| r.status().as_u16()));
        }
        Poll::Ready(result)
    }
}

/// The method tag: standard methods by name, anything else `other`, so a
/// client cannot create tag values (and cache entries) at will.
fn method_tag(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::PATCH => "PATCH",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        Method::TRACE => "TRACE",
        Method::CONNECT => "CONNECT",
        _ => "other",
    }
}

fn status_class(status: u16) -> &'static str {
    match status / 100 {
        1 => "1xx",
        2 => "2xx",
        3 => "3xx",
        4 => "4xx",
        5 => "5xx",
        _ => "other",
    }
}

/// Registered metric handles of one (route, method, status).
struct Handles {
    method: &'static str,
    status: u16,
    requests: Counter,
    duration: Histogram,
    errors: Option<Counter>,
}

/// Names, and handles cached per route so the hot path neither allocates
/// label sets nor hashes keys in the recorder: after a route's first
/// request with a given method and status, recording is a read lock, one
/// `&str` map lookup, a short scan and two or three atomic updates.
struct Shared {
    requests: SharedString,
    duration: SharedString,
    errors: SharedString,
    // Route templates are bounded by the router, methods by `method_tag`,
    // statuses by what handlers return: the cache cannot grow without bound.
    by_route: RwLock<HashMap<Box<str>, Vec<Arc<Handles>>>>,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared")
            .field("requests", &self.requests)
            .finish_non_exhaustive()
    }
}

impl Shared {
    fn new(namespace: &str) -> Self {
        Self {
            requests: full_name(namespace, api::REQUESTS).into(),
            duration: full_name(namespace, api::REQUEST_DURATION).into(),
            errors: full_name(namespace, api::ERRORS).into(),
            by_route: RwLock::default(),
        }
    }

    fn record(&self, route: &str, method: &'static str, status: u16, seconds: f64) {
        let handles = self.cached(route, method, status).unwrap_or_else(|| {
            let handles = Arc::new(self.register(route, method, status));
            if let Ok(mut map) = self.by_route.write() {
                let entries = map.entry(route.into()).or_default();
                if !entries
                    .iter()
                    .any(|h| h.method == method && h.status == status)
                {
                    entries.push(handles.clone());
                }
            }
            handles
        });
        handles.requests.increment(1);
        handles.duration.record(seconds);
        if let Some(errors) = &handles.errors {
            errors.increment(1);
        }
    }

    fn cached(&self, route: &str, method: &'static str, status: u16) -> Option<Arc<Handles>> {
        let map = self.by_route.read().ok()?;
        map.get(route)?
            .iter()
            .find(|h| h.method == method && h.status == status)
            .cloned()
    }

    fn register(&self, route: &str, method: &'static str, status: u16) -> Handles {
        let mut code = itoa::Buffer::new();
        let labels = [
            Label::new(tags::ENDPOINT, sanitize_tag_value(route).into_owned()),
            Label::from_static_parts(tags::METHOD, method),
            Label::new(tags::STATUS, code.format(status).to_owned()),
            Label::from_static_parts(tags::STATUS_CLASS, status_class(status)),
        ];
        Handles {
            method,
            status,
            requests: metrics::counter!(self.requests.clone(), labels.iter()),
            duration: metrics::histogram!(self.duration.clone(), labels.iter()),
            errors: (status >= 500).then(|| metrics::counter!(self.errors.clone(), labels.iter())),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::convert::Infallible;

    use axum::{Router, body::Body, routing::get};
    use metrics_util::debugging::{DebugValue, DebuggingRecorder};
    use tower::ServiceExt;

    use super::*;
    use crate::layers::catch_panic::CatchPanicLayer;

    fn get_req(path: &str) -> Request<Body> {
        Request::get(path).body(Body::empty()).unwrap()
    }

    #[test]
    fn counts_routes_statuses_and_panics_without_raw_paths() {
        let recorder = DebuggingRecorder::new();
        let snapshotter = recorder.snapshotter();
        metrics::with_local_recorder(&recorder, || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .build()
                .unwrap();
            rt.block_on(async {
                let app = Router::new()
                    .route("/users/{id}", get(|| async { "ok" }))
                    .route(
                        "/boom",
                        get(|| async {
                            if true {
                                panic!("boom")
                            }
                        }),
                    )
                    .nest_service(
                        "/static",
                        tower::service_fn(|_| async { Ok::<_, Infallible>("file") }),
                    )
                    .layer(CatchPanicLayer::new())
                    .layer(RequestMetricsLayer::new("tb"));
                for path in ["/users/1", "/users/2", "/nope/secret", "/boom", "/static/a"] {
                    app.clone().oneshot(get_req(path)).await.unwrap();
                }
            });
        });
        let mut requests = Vec::new();
        let mut errors = 0;
        for (key, _, _, value) in snapshotter.snapshot().into_vec() {
            let key = key.key();
            let tags: Vec<String> = key
                .labels()
                .map(|l| format!("{}:{}", l.key(), l.value()))
                .collect();
            assert!(
                !tags
                    .iter()
                    .any(|t| t.contains("secret") || t.contains("/users/1"))
            );
            match (key.name(), value) {
                ("tb.api.requests", DebugValue::Counter(n)) => requests.push((tags, n)),
                ("tb.api.errors", DebugValue::Counter(n)) => errors += n,
                ("tb.api.request.duration", DebugValue::Histogram(v)) => {
                    assert!(v.iter().all(|s| s.into_inner() >= 0.0))
                }
                other => panic!("unexpected {other:?}"),
            }
        }
        requests.sort();
        let expect = |endpoint: &str, status: &str, class: &str, n: u64| {
            (
                vec![
                    format!("endpoint:{endpoint}"),
                    "method:GET".to_owned(),
                    format!("status:{status}"),
                    format!("status_class:{class}"),
                ],
                n,
            )
        };
        assert_eq!(
            requests,
            [
                expect("/*", "200", "2xx", 1),
                expect("/boom", "500", "5xx", 1),
                expect("/users/{id}", "200", "2xx", 2),
                expect("unmatched", "404", "4xx", 1),
            ]
        );
        assert_eq!(errors, 1);
    }

    #[test]
    fn unusual_methods_share_one_tag() {
        assert_eq!(method_tag(&Method::GET), "GET");
        assert_eq!(method_tag(&Method::from_bytes(b"BREW").unwrap()), "other");
        assert_eq!(status_class(503), "5xx");
        assert_eq!(status_class(99), "other");
    }

    #[test]
    fn a_request_the_client_abandons_counts_as_499() {
        let recorder = DebuggingRecorder::new();
        let snapshotter = recorder.snapshotter();
        metrics::with_local_recorder(&recorder, || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_time()
                .build()
                .unwrap();
            rt.block_on(async {
                let app = Router::new()
                    .route(
                        "/slow",
                        get(|| async {
                            tokio::time::sleep(std::time::Duration::from_secs(5)).await;
                            "late"
                        }),
                    )
                    .layer(RequestMetricsLayer::new("tb"));
                let call = app.oneshot(get_req("/slow"));
                // The client gives up: the request future is dropped.
                let timed_out =
                    tokio::time::timeout(std::time::Duration::from_millis(50), call).await;
                assert!(timed_out.is_err());
            });
        });
        let statuses: Vec<String> = snapshotter
            .snapshot()
            .into_vec()
            .into_iter()
            .filter(|(key, ..)| key.key().name() == "tb.api.requests")
            .flat_map(|(key, ..)| {
                key.key()
                    .labels()
                    .filter(|l| l.key() == "status")
                    .map(|l| l.value().to_owned())
                    .collect::<Vec<_>>()
            })
            .collect();
        assert_eq!(statuses, ["499"]);
    }
}
