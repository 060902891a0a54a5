//! [`MonitoringLayer`]: every layer, in the right order, as one layer.
//!
//! From outside in: request ID → request span and timed log → request
//! metrics → error capture (Sentry, with the `sentry` feature) → panic
//! catching → your handler (metrics and Sentry see a panic as the 500 the
//! panic layer turns it into). With monitoring disabled it is a pass-through.

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
}

impl MonitoringLayer {
    /// The stack for `config` (a pass-through when `MONITORING_ENABLED=false`).
    pub fn new(config: &Config) -> Self {
        Self {
            enabled: config.enabled,
            request_id: RequestIdLayer::new(),
            request_log: if config.apm.client_ip_enabled {
                RequestLogLayer::new().with_client_ip(config.apm.client_ip_header.clone())
            } else {
                RequestLogLayer::new()
            },
            request_metrics: RequestMetricsLayer::from_config(config),
            catch_panic: CatchPanicLayer::new(),
            #[cfg(feature = "sentry")]
            error_capture: crate::layers::error_capture::ErrorCaptureLayer::new(config),
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
        let service = self.request_log.layer(service);
        Monitored::Enabled(self.request_id.layer(service))
    }
}

/// The service [`MonitoringLayer`] makes: the whole stack, or the inner
/// service untouched when monitoring is disabled.
#[derive(Debug, Clone)]
pub enum Monitored<S, H = ()> {
    /// Monitoring on.
    Enabled(MonitoredService<S, H>),
    /// `MONITORING_ENABLED=false`: a pass-through.
    Disabled(S),
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
        }
    }
}
