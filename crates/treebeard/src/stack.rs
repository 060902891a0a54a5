//! [`MonitoringLayer`]: every layer, in the right order, as one layer.
//!
//! From outside in: request ID → request span and timed log → request
//! metrics → error capture (Sentry, with the `sentry` feature) → panic
//! catching → your handler (metrics and Sentry see a panic as the 500 the
//! panic layer turns it into). With monitoring disabled it is a pass-through.
//!
//! With the dev console on (`TREEBEARD_DEV_CONSOLE=true`, after
//! [`init`](crate::init())), requests for `/_treebeard` are answered by the
//! console before all of them: they reach neither the layers nor your
//! handlers. Off, the stack is the same as without the console.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{Request, Response};
use http_body::Body;
use pin_project_lite::pin_project;
use tower::{Layer, Service};

use crate::config::Config;
use crate::layers::catch_panic::{CatchPanic, CatchPanicLayer, OnPanic};
use crate::layers::metrics::{RequestMetrics, RequestMetricsLayer};
use crate::layers::request_id::{RequestIdLayer, SetRequestId};
use crate::layers::request_log::{RequestLog, RequestLogLayer};

/// All monitoring layers as one; see the [module docs](self).
///
/// ```
/// use axum::{routing::get, Router};
/// use treebeard::{config::Config, MonitoringLayer};
///
/// let config = Config::builder().with_source([("APM_PROVIDER", "none")]).build().unwrap();
/// let app: Router = Router::new()
///     .route("/health", get(|| async { "ok" }))
///     .layer(MonitoringLayer::new(&config));
/// ```
#[derive(Debug, Clone)]
pub struct MonitoringLayer<H = ()> {
    enabled: bool,
    request_id: RequestIdLayer,
    request_log: RequestLogLayer,
    request_metrics: RequestMetricsLayer,
    catch_panic: CatchPanicLayer<H>,
    #[cfg(feature = "sentry")]
    error_capture: crate::layers::error_capture::ErrorCaptureLayer,
    #[cfg(feature = "dev-console")]
    console: Option<crate::console::ConsoleService>,
}

impl MonitoringLayer {
    /// The stack for `config` (a pass-through when `MONITORING_ENABLED=false`).
    ///
    /// With `TREEBEARD_DEV_CONSOLE` on, it serves the dev console that
    /// [`init`](crate::init()) set up (none if `init` did not run).
    pub fn new(config: &Config) -> Self {
        Self {
            enabled: config.enabled,
            request_id: RequestIdLayer::new(),
            request_log: {
                let layer = RequestLogLayer::new()
                    .with_header_tags(config.apm.header_tags.clone())
                    .with_ignored_routes(&config.ignore_routes);
                if config.apm.client_ip_enabled {
                    layer.with_client_ip(config.apm.client_ip_header.clone())
                } else {
                    layer
                }
            },
            request_metrics: RequestMetricsLayer::from_config(config),
            catch_panic: CatchPanicLayer::new(),
            #[cfg(feature = "sentry")]
            error_capture: crate::layers::error_capture::ErrorCaptureLayer::new(config),
            #[cfg(feature = "dev-console")]
            console: config
                .console
                .enabled
                .then(crate::console::installed)
                .flatten(),
        }
    }
}

impl<H> MonitoringLayer<H> {
    /// Replaces the request-ID layer (say, to read another header).
    #[must_use]
    pub fn with_request_id(mut self, layer: RequestIdLayer) -> Self {
        self.request_id = layer;
        self
    }

    /// Calls `hook` for every panic caught in a handler.
    pub fn with_on_panic<H2: OnPanic>(self, hook: H2) -> MonitoringLayer<H2> {
        MonitoringLayer {
            enabled: self.enabled,
            request_id: self.request_id,
            request_log: self.request_log,
            request_metrics: self.request_metrics,
            catch_panic: self.catch_panic.with_on_panic(hook),
            #[cfg(feature = "sentry")]
            error_capture: self.error_capture,
            #[cfg(feature = "dev-console")]
            console: self.console,
        }
    }

    /// Wraps `router` in this stack, or returns it untouched when monitoring
    /// is disabled: `Router::layer` boxes every route even for a
    /// pass-through layer, which is measurable (`make bench`), so a
    /// disabled stack is better not applied at all.
    ///
    /// ```
    /// use axum::{routing::get, Router};
    /// use treebeard::{config::Config, MonitoringLayer};
    ///
    /// let config = Config::builder().with_source([("MONITORING_ENABLED", "false")]).build().unwrap();
    /// let app: Router = MonitoringLayer::new(&config).apply(Router::new().route("/", get(|| async { "ok" })));
    /// ```
    pub fn apply<S>(self, router: axum::Router<S>) -> axum::Router<S>
    where
        S: Clone + Send + Sync + 'static,
        H: OnPanic,
    {
        if self.enabled {
            router.layer(self)
        } else {
            router
        }
    }

    /// Whether the layers are active (false: pass-through).
    pub fn is_enabled(&self) -> bool {
        self.enabled
    }
}

/// The service stack built by [`MonitoringLayer`] when enabled.
#[cfg(not(feature = "sentry"))]
pub type MonitoredService<S, H> = SetRequestId<RequestLog<RequestMetrics<CatchPanic<S, H>>>>;
/// The service stack built by [`MonitoringLayer`] when enabled.
#[cfg(feature = "sentry")]
pub type MonitoredService<S, H> = SetRequestId<
    RequestLog<RequestMetrics<crate::layers::error_capture::ErrorCapture<CatchPanic<S, H>>>>,
>;

impl<S, H: Clone> Layer<S> for MonitoringLayer<H> {
    type Service = Monitored<S, H>;

    fn layer(&self, inner: S) -> Self::Service {
        if !self.enabled {
            return Monitored::Disabled(inner);
        }
        let service = self.catch_panic.layer(inner);
        #[cfg(feature = "sentry")]
        let service = self.error_capture.layer(service);
        let service = self.request_metrics.layer(service);
        let service = self.request_id.layer(self.request_log.layer(service));
        #[cfg(feature = "dev-console")]
        if let Some(console) = &self.console {
            return Monitored::WithConsole(console.clone(), service);
        }
        Monitored::Enabled(service)
    }
}

/// The service [`MonitoringLayer`] makes: the whole stack, or the inner
/// service untouched when monitoring is disabled.
///
/// Non-exhaustive: a variant depends on the `dev-console` feature.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Monitored<S, H = ()> {
    /// Monitoring on.
    Enabled(MonitoredService<S, H>),
    /// `MONITORING_ENABLED=false`: a pass-through.
    Disabled(S),
    /// Monitoring on, and the dev console (`TREEBEARD_DEV_CONSOLE=true`)
    /// answering `/_treebeard` before the stack.
    #[cfg(feature = "dev-console")]
    WithConsole(crate::console::ConsoleService, MonitoredService<S, H>),
}

impl<S, H, ReqBody, ResBody> Service<Request<ReqBody>> for Monitored<S, H>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
    MonitoredService<S, H>:
        Service<Request<ReqBody>, Response = Response<axum::body::Body>, Error = S::Error>,
    ResBody: Body<Data = Bytes> + Send + 'static,
    ResBody::Error: Into<axum::BoxError>,
{
    type Response = Response<axum::body::Body>;
    type Error = S::Error;
    type Future =
        MonitoredFuture<<MonitoredService<S, H> as Service<Request<ReqBody>>>::Future, S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        match self {
            Self::Enabled(service) => service.poll_ready(cx),
            Self::Disabled(service) => service.poll_ready(cx),
            #[cfg(feature = "dev-console")]
            Self::WithConsole(_, service) => service.poll_ready(cx),
        }
    }

    fn call(&mut self, req: Request<ReqBody>) -> Self::Future {
        match self {
            Self::Enabled(service) => MonitoredFuture {
                kind: Either::Enabled {
                    inner: service.call(req),
                },
            },
            Self::Disabled(service) => MonitoredFuture {
                kind: Either::Disabled {
                    inner: service.call(req),
                },
            },
            #[cfg(feature = "dev-console")]
            Self::WithConsole(console, service) => MonitoredFuture {
                kind: if crate::console::ConsoleService::matches(req.uri().path()) {
                    Either::Console {
                        response: Some(console.respond(&req)),
                    }
                } else {
                    Either::Enabled {
                        inner: service.call(req),
                    }
                },
            },
        }
    }
}

pin_project! {
    /// Response future of [`Monitored`].
    pub struct MonitoredFuture<E, D> {
        #[pin]
        kind: Either<E, D>,
    }
}

pin_project! {
    /// The stack's (`E`) or the inner service's (`D`) future.
    #[project = EitherProj]
    enum Either<E, D> {
        Enabled { #[pin] inner: E },
        Disabled { #[pin] inner: D },
        // Not behind `cfg`: pin-project-lite's projections have none (only
        // the dev console makes it).
        Console { response: Option<Response<axum::body::Body>> },
    }
}

impl<E, D, B, Err> Future for MonitoredFuture<E, D>
where
    E: Future<Output = Result<Response<axum::body::Body>, Err>>,
    D: Future<Output = Result<Response<B>, Err>>,
    B: Body<Data = Bytes> + Send + 'static,
    B::Error: Into<axum::BoxError>,
{
    type Output = Result<Response<axum::body::Body>, Err>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().kind.project() {
            EitherProj::Enabled { inner } => inner.poll(cx),
            // An axum body passes as it is; another is boxed once.
            EitherProj::Disabled { inner } => {
                inner.poll(cx).map_ok(|r| r.map(axum::body::Body::new))
            }
            // Answered when called; polled again after that, an empty 200.
            EitherProj::Console { response } => {
                Poll::Ready(Ok(response.take().unwrap_or_default()))
            }
        }
    }
}

#[cfg(all(test, feature = "dev-console"))]
// Test helpers outside #[test] fns unwrap too.
#[allow(clippy::unwrap_used)]
mod tests {
    use std::net::SocketAddr;

    use axum::Router;
    use axum::extract::ConnectInfo;
    use axum::routing::get;
    use tower::ServiceExt;

    use super::*;

    fn config(vars: &[(&'static str, &'static str)]) -> Config {
        let mut all = vec![("APM_PROVIDER", "none"), ("METRICS_BACKEND", "none")];
        all.extend_from_slice(vars);
        Config::builder()
            .with_source(all.into_iter().collect::<std::collections::HashMap<_, _>>())
            .build()
            .unwrap()
    }

    fn request(path: &str, peer: Option<&str>) -> Request<axum::body::Body> {
        let mut req = Request::get(path).body(axum::body::Body::empty()).unwrap();
        if let Some(peer) = peer {
            req.extensions_mut()
                .insert(ConnectInfo(peer.parse::<SocketAddr>().unwrap()));
        }
        req
    }

    #[test]
    fn off_the_stack_is_the_same_as_without_a_console() {
        // TREEBEARD_DEV_CONSOLE unset, and set without init: no console service.
        for vars in [&[][..], &[("TREEBEARD_DEV_CONSOLE", "true")][..]] {
            let layer = MonitoringLayer::new(&config(vars));
            assert!(layer.console.is_none());
            let service = layer.layer(tower::service_fn(|_: Request<axum::body::Body>| async {
                Ok::<_, std::convert::Infallible>(Response::new(axum::body::Body::empty()))
            }));
            assert!(matches!(service, Monitored::Enabled(_)));
        }
    }

    #[tokio::test]
    async fn the_stack_answers_the_console_path_to_loopback_peers_only() {
        let mut layer = MonitoringLayer::new(&config(&[]));
        layer.console = Some(crate::console::service_for_tests());
        let app = Router::new()
            .route("/hello", get(|| async { "hello" }))
            .layer(layer);
        let status = |path: &'static str, peer: Option<&'static str>| {
            let app = app.clone();
            async move { app.oneshot(request(path, peer)).await.unwrap().status() }
        };
        // Through axum's fallback, which Router::layer wraps too.
        assert_eq!(status("/_treebeard", Some("127.0.0.1:40000")).await, 200);
        assert_eq!(
            status("/_treebeard/api/requests", Some("[::1]:40000")).await,
            200
        );
        assert_eq!(status("/_treebeard", Some("192.0.2.7:40000")).await, 404);
        assert_eq!(
            status("/_treebeard/api/requests", Some("192.0.2.7:40000")).await,
            404
        );
        assert_eq!(status("/_treebeard", None).await, 404);
        // Everything else is the app's, from anywhere.
        assert_eq!(status("/hello", Some("192.0.2.7:40000")).await, 200);
        assert_eq!(status("/hello", None).await, 200);
        assert_eq!(status("/other", Some("127.0.0.1:40000")).await, 404);
    }
}
