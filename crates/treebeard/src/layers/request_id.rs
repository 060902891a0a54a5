//! Request IDs: keep a valid incoming `X-Request-ID`, otherwise generate one.
//!
//! [`RequestIdLayer`] puts a [`RequestId`] in the request extensions (and
//! in a task-local, see [`RequestId::current`]), overwrites the request
//! header with it so downstream code only ever sees a valid ID, and echoes
//! it on the response.
//!
//! An incoming ID is kept when it is 1 to [`MAX_REQUEST_ID_LEN`] bytes of
//! printable ASCII (`0x20..=0x7E`); anything else is replaced by a fresh
//! UUID and never logged.
//!
//! ```
//! use axum::{routing::get, Router};
//! use tower::ServiceExt;
//! use treebeard::request_id::{RequestId, RequestIdLayer};
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! let app = Router::new()
//!     .route("/", get(|id: RequestId| async move { id.to_string() }))
//!     .layer(RequestIdLayer::new());
//!
//! let request = http::Request::get("/").header("x-request-id", "abc-123").body(axum::body::Body::empty()).unwrap();
//! let response = app.oneshot(request).await.unwrap();
//! assert_eq!(response.headers()["x-request-id"], "abc-123");
//! # }
//! ```

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use http::header::HeaderName;
use http::{Request, Response};
use pin_project_lite::pin_project;
use tower::{Layer, Service};

use crate::ids::CURRENT;
pub use crate::ids::{MAX_REQUEST_ID_LEN, REQUEST_ID_HEADER, RequestId};

/// Sets and echoes request IDs; see the [module docs](self).
#[derive(Debug, Clone)]
pub struct RequestIdLayer {
    header: HeaderName,
}

impl RequestIdLayer {
    /// Uses the `x-request-id` header.
    pub fn new() -> Self {
        Self {
            header: REQUEST_ID_HEADER,
        }
    }

    /// Uses another header, such as `x-correlation-id`.
    #[must_use]
    pub fn with_header(mut self, header: HeaderName) -> Self {
        self.header = header;
        self
    }
}

impl Default for RequestIdLayer {
    fn default() -> Self {
        Self::new()
    }
}

impl<S> Layer<S> for RequestIdLayer {
    type Service = SetRequestId<S>;

    fn layer(&self, inner: S) -> Self::Service {
        SetRequestId {
            inner,
            header: self.header.clone(),
        }
    }
}

/// The service made by [`RequestIdLayer`].
#[derive(Debug, Clone)]
pub struct SetRequestId<S> {
    inner: S,
    header: HeaderName,
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for SetRequestId<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<ReqBody>) -> Self::Future {
        let id = match req.headers().get(&self.header).and_then(RequestId::parse) {
            Some(id) => id,
            None => {
                // Generated, or replacing an invalid one: handlers see the
                // ID in the header too.
                let id = RequestId::generate();
                req.headers_mut()
                    .insert(self.header.clone(), id.header_value().clone());
                id
            }
        };
        req.extensions_mut().insert(id.clone());
        ResponseFuture {
            inner: CURRENT.scope(id, self.inner.call(req)),
            header: self.header.clone(),
        }
    }
}

pin_project! {
    /// Response future of [`SetRequestId`]: echoes the ID on the response.
    pub struct ResponseFuture<F> {
        // Holds the ID for the task-local, and gives it back at the end.
        #[pin]
        inner: tokio::task::futures::TaskLocalFuture<RequestId, F>,
        header: HeaderName,
    }
}

impl<F, B, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<Response<B>, E>>,
{
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let mut inner = this.inner;
        let mut response = std::task::ready!(inner.as_mut().poll(cx))?;
        if let Some(id) = inner.take_value() {
            response
                .headers_mut()
                .entry(this.header.clone())
                .or_insert(id.into_header_value());
        }
        Poll::Ready(Ok(response))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::{Router, body::Body, routing::get};
    use tower::ServiceExt;

    fn app() -> Router {
        Router::new()
            .route(
                "/",
                get(|id: RequestId| async move {
                    let current = RequestId::current().map(|c| c.to_string());
                    format!("{id}|{}", current.unwrap_or_default())
                }),
            )
            .layer(RequestIdLayer::new())
    }

    async fn call(header: Option<&[u8]>) -> (String, String) {
        let mut req = Request::get("/");
        if let Some(h) = header {
            req = req.header("x-request-id", http::HeaderValue::from_bytes(h).unwrap());
        }
        let res = app()
            .oneshot(req.body(Body::empty()).unwrap())
            .await
            .unwrap();
        let echoed = res.headers()["x-request-id"].to_str().unwrap().to_owned();
        let body = axum::body::to_bytes(res.into_body(), 1024).await.unwrap();
        (echoed, String::from_utf8(body.to_vec()).unwrap())
    }

    fn is_uuid(s: &str) -> bool {
        uuid::Uuid::parse_str(s).is_ok() && s.len() == 36
    }

    #[tokio::test]
    async fn keeps_a_valid_incoming_id_and_shares_it() {
        let (echoed, body) = call(Some(b"req-1 from upstream")).await;
        assert_eq!(echoed, "req-1 from upstream");
        assert_eq!(body, "req-1 from upstream|req-1 from upstream");
    }

    #[tokio::test]
    async fn keeps_an_id_of_exactly_the_limit() {
        let id = "a".repeat(MAX_REQUEST_ID_LEN);
        let (echoed, _) = call(Some(id.as_bytes())).await;
        assert_eq!(echoed, id);
    }

    #[tokio::test]
    async fn generates_when_absent() {
        let (echoed, body) = call(None).await;
        assert!(is_uuid(&echoed), "{echoed}");
        assert_eq!(body, format!("{echoed}|{echoed}"));
    }

    #[tokio::test]
    async fn replaces_invalid_ids() {
        let too_long = "x".repeat(MAX_REQUEST_ID_LEN + 1);
        let bad: [&[u8]; 5] = [
            too_long.as_bytes(),
            b"has\ttab",
            b"caf\xc3\xa9",
            b"obs\xfftext",
            b"",
        ];
        for value in bad {
            let (echoed, body) = call(Some(value)).await;
            assert!(is_uuid(&echoed), "{value:?} kept as {echoed}");
            assert!(!body.contains("has\t"));
        }
    }

    #[test]
    fn generated_ids_differ() {
        let a = RequestId::generate();
        let b = RequestId::generate();
        assert_ne!(a, b);
    }

    #[test]
    fn current_is_none_outside_a_request() {
        assert!(RequestId::current().is_none());
    }
}
