//! Panics in handlers become a 500 JSON response, and the server keeps serving.
//!
//! The response body is `{"error":"internal server error","request_id":"..."}`:
//! the panic message is not sent to the client (it may hold internals), but
//! is passed to the [`OnPanic`] hook, which is where error capture (Sentry)
//! plugs in. Logging the panic is the panic hook's job: [`crate::init`]
//! installs one that writes it as a JSON ERROR line inside the request span.
//!
//! ```
//! use axum::{routing::get, Router};
//! use tower::ServiceExt;
//! use treebeard::catch_panic::CatchPanicLayer;
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! # std::panic::set_hook(Box::new(|_| {}));
//! let app = Router::new()
//!     .route("/", get(|| async { if true { panic!("boom") } }))
//!     .layer(CatchPanicLayer::new());
//! let response = app.oneshot(http::Request::get("/").body(axum::body::Body::empty()).unwrap()).await.unwrap();
//! assert_eq!(response.status(), 500);
//! # }
//! ```

use std::any::Any;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use futures_util::future::{CatchUnwind, FutureExt};
use http::{HeaderValue, Request, Response, StatusCode, header};
use http_body::Body;
use pin_project_lite::pin_project;
use tower::{Layer, Service};

use crate::ids::RequestId;
use crate::response_error::ResponseError;
use crate::route::{RouteTemplate, route_of};

/// What a hook learns about a panic in a handler.
#[derive(Debug)]
#[non_exhaustive]
pub struct PanicReport<'a> {
    /// The panic message (`panic!("...")` text), or a placeholder for
    /// payloads that are not strings.
    pub message: &'a str,
    /// The request's ID, when [`RequestIdLayer`](crate::layers::request_id::RequestIdLayer) runs outside.
    pub request_id: Option<&'a RequestId>,
    /// The request method.
    pub method: &'a http::Method,
    /// The route template.
    pub route: &'a RouteTemplate,
}

/// Called once per caught panic, before the 500 response is returned.
///
/// Implemented for `()` (do nothing) and for closures taking a
/// [`PanicReport`].
pub trait OnPanic: Clone + Send + Sync + 'static {
    /// Reports the panic (to Sentry, a counter, ...).
    fn on_panic(&self, report: &PanicReport<'_>);
}

impl OnPanic for () {
    fn on_panic(&self, _report: &PanicReport<'_>) {}
}

impl<F> OnPanic for F
where
    F: Fn(&PanicReport<'_>) + Clone + Send + Sync + 'static,
{
    fn on_panic(&self, report: &PanicReport<'_>) {
        self(report)
    }
}

/// Catches panics; see the [module docs](self).
#[derive(Debug, Clone, Default)]
pub struct CatchPanicLayer<H = ()> {
    on_panic: H,
}

impl CatchPanicLayer {
    /// A layer with no panic hook.
    pub fn new() -> Self {
        Self { on_panic: () }
    }
}

impl<H> CatchPanicLayer<H> {
    /// Calls `hook` for every caught panic.
    pub fn with_on_panic<H2: OnPanic>(self, hook: H2) -> CatchPanicLayer<H2> {
        CatchPanicLayer { on_panic: hook }
    }
}

impl<S, H: Clone> Layer<S> for CatchPanicLayer<H> {
    type Service = CatchPanic<S, H>;

    fn layer(&self, inner: S) -> Self::Service {
        CatchPanic {
            inner,
            on_panic: self.on_panic.clone(),
        }
    }
}

/// The service made by [`CatchPanicLayer`].
#[derive(Debug, Clone)]
pub struct CatchPanic<S, H = ()> {
    inner: S,
    on_panic: H,
}

/// What the response future needs to describe the request after a panic.
struct RequestFacts {
    request_id: Option<RequestId>,
    method: http::Method,
    route: RouteTemplate,
}

impl<S, H, ReqBody, ResBody> Service<Request<ReqBody>> for CatchPanic<S, H>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
    H: OnPanic,
    ResBody: Body<Data = Bytes> + Send + 'static,
    ResBody::Error: Into<axum::BoxError>,
{
    type Response = Response<axum::body::Body>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future, H>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<ReqBody>) -> Self::Future {
        let facts = RequestFacts {
            request_id: req.extensions().get::<RequestId>().cloned(),
            method: req.method().clone(),
            route: route_of(&req),
        };
        let kind = match std::panic::catch_unwind(AssertUnwindSafe(|| self.inner.call(req))) {
            Ok(future) => Kind::Future {
                future: AssertUnwindSafe(future).catch_unwind(),
            },
            Err(payload) => Kind::Panicked {
                payload: Some(payload),
            },
        };
        ResponseFuture {
            kind,
            facts,
            on_panic: self.on_panic.clone(),
        }
    }
}

pin_project! {
    /// Response future of [`CatchPanic`].
    pub struct ResponseFuture<F, H> {
        #[pin]
        kind: Kind<F>,
        facts: RequestFacts,
        on_panic: H,
    }
}

pin_project! {
    #[project = KindProj]
    enum Kind<F> {
        Future { #[pin] future: CatchUnwind<AssertUnwindSafe<F>> },
        Panicked { payload: Option<Box<dyn Any + Send + 'static>> },
    }
}

impl<F, H, B, E> Future for ResponseFuture<F, H>
where
    F: Future<Output = Result<Response<B>, E>>,
    H: OnPanic,
    B: Body<Data = Bytes> + Send + 'static,
    B::Error: Into<axum::BoxError>,
{
    type Output = Result<Response<axum::body::Body>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let payload = match this.kind.project() {
            KindProj::Future { future } => match std::task::ready!(future.poll(cx)) {
                // An axum body passes as it is (no allocation); any other
                // (tower-http's) is boxed once.
                Ok(result) => return Poll::Ready(result.map(|r| r.map(axum::body::Body::new))),
                Err(payload) => payload,
            },
            KindProj::Panicked { payload } => match payload.take() {
                Some(payload) => payload,
                None => Box::new("response future polled after completion"),
            },
        };
        let message = panic_message(payload.as_ref());
        this.on_panic.on_panic(&PanicReport {
            message,
            request_id: this.facts.request_id.as_ref(),
            method: &this.facts.method,
            route: &this.facts.route,
        });
        let mut response = panic_response::<axum::body::Body>(this.facts.request_id.as_ref());
        // Tells the request span why it failed.
        ResponseError::new("panic", message).attach(&mut response);
        Poll::Ready(Ok(response))
    }
}

/// The text of a panic payload (`&str` or `String`), or a placeholder.
pub fn panic_message(payload: &(dyn Any + Send)) -> &str {
    if let Some(s) = payload.downcast_ref::<&'static str>() {
        s
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s
    } else {
        "panic with a non-string payload"
    }
}

/// The 500 JSON response sent in place of a panicked handler's.
pub fn panic_response<B: From<String>>(request_id: Option<&RequestId>) -> Response<B> {
    let mut body = String::from(r#"{"error":"internal server error","request_id":"#);
    match request_id {
        Some(id) => crate::escape::write_str(&mut body, id.as_str()),
        None => body.push_str("null"),
    }
    body.push('}');
    let mut response = Response::new(B::from(body));
    *response.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use axum::{Router, body::Body, routing::get};
    use tower::ServiceExt;

    use super::*;
    use crate::layers::request_id::RequestIdLayer;

    #[tokio::test]
    async fn panic_becomes_500_json_with_request_id_and_hook_sees_it() {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let hook = {
            let seen = seen.clone();
            move |r: &PanicReport<'_>| {
                seen.lock().unwrap().push((
                    r.message.to_owned(),
                    r.request_id.map(ToString::to_string),
                    r.route.as_str().to_owned(),
                ))
            }
        };
        let app = Router::new()
            .route(
                "/users/{id}",
                get(|| async {
                    if true {
                        panic!("db exploded");
                    }
                }),
            )
            .route("/ok", get(|| async { "fine" }))
            .layer(CatchPanicLayer::new().with_on_panic(hook))
            .layer(RequestIdLayer::new());
        let req = Request::get("/users/7")
            .header("x-request-id", "rid-1")
            .body(Body::empty())
            .unwrap();
        let res = app.clone().oneshot(req).await.unwrap();
        assert_eq!(res.status(), 500);
        assert_eq!(res.headers()["content-type"], "application/json");
        assert_eq!(res.headers()["x-request-id"], "rid-1");
        let body = axum::body::to_bytes(res.into_body(), 1024).await.unwrap();
        let json: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"error": "internal server error", "request_id": "rid-1"})
        );
        assert_eq!(
            *seen.lock().unwrap(),
            [(
                "db exploded".to_owned(),
                Some("rid-1".to_owned()),
                "/users/{id}".to_owned()
            )]
        );
        let res = app
            .oneshot(Request::get("/ok").body(Body::empty()).unwrap())
            .await
            .unwrap();
        assert_eq!(res.status(), 200, "still serving after a panic");
    }

    #[test]
    fn non_string_payloads_get_a_placeholder() {
        let payload: Box<dyn Any + Send> = Box::new(42_u32);
        assert_eq!(
            panic_message(payload.as_ref()),
            "panic with a non-string payload"
        );
        let payload: Box<dyn Any + Send> = Box::new(String::from("formatted 1"));
        assert_eq!(panic_message(payload.as_ref()), "formatted 1");
    }

    #[test]
    fn response_escapes_the_request_id() {
        let id = RequestId::parse(&HeaderValue::from_static(r#"a"b\c"#)).unwrap();
        let res: Response<String> = panic_response(Some(&id));
        let json: serde_json::Value = serde_json::from_str(res.body()).unwrap();
        assert_eq!(json["request_id"], r#"a"b\c"#);
    }
}
