//! Outgoing HTTP calls that carry the trace on: a client span per call and
//! the trace headers injected, for any `reqwest` request.
//!
//! ```no_run
//! use treebeard::apm::client::TracedRequest;
//!
//! # async fn run() -> Result<(), reqwest::Error> {
//! let client = reqwest::Client::new();
//! let response = client
//!     .post("http://scoring.internal/score")
//!     .json(&serde_json::json!({"user_id": 1}))
//!     .send_traced()
//!     .await?;
//! # Ok(()) }
//! ```
//!
//! Each call becomes a DataDog span of type `http` (operation
//! `http.request`, resource `<METHOD> <host>`) whose status, and error for
//! 5xx answers and failed connections, is recorded. The headers of
//! `DD_TRACE_PROPAGATION_STYLE` and the current request's `x-request-id`
//! are added to the request, so the callee continues the same trace.

use std::future::Future;

use tracing::{Instrument, Span, field};

use crate::ids::{REQUEST_ID_HEADER, RequestId};

/// Adds [`send_traced`](TracedRequest::send_traced) to `reqwest::RequestBuilder`.
pub trait TracedRequest {
    /// Sends the request inside a client span, with the trace headers.
    fn send_traced(self) -> impl Future<Output = reqwest::Result<reqwest::Response>> + Send;
}

impl TracedRequest for reqwest::RequestBuilder {
    fn send_traced(self) -> impl Future<Output = reqwest::Result<reqwest::Response>> + Send {
        let (client, request) = self.build_split();
        async move {
            let mut request = request?;
            let span = client_span(&request);
            super::inject_context(&span, request.headers_mut());
            if let Some(id) = RequestId::current() {
                request
                    .headers_mut()
                    .entry(REQUEST_ID_HEADER)
                    .or_insert_with(|| id.header_value().clone());
            }
            let result = client.execute(request).instrument(span.clone()).await;
            match &result {
                Ok(response) => {
                    let status = response.status();
                    span.record("http.status_code", status.as_str());
                    if status.is_server_error() {
                        span.record("otel.status_code", "error");
                        span.record("error.type", "http_error");
                        span.record("error.message", status.to_string().as_str());
                    }
                }
                Err(error) => {
                    span.record("otel.status_code", "error");
                    span.record("error.type", error_kind(error));
                    let message = error.to_string();
                    span.record(
                        "error.message",
                        crate::privacy::scrubber().scrub(&message).as_ref(),
                    );
                }
            }
            result
        }
    }
}

fn client_span(request: &reqwest::Request) -> Span {
    let url = request.url();
    let host = url.host_str().unwrap_or("unknown");
    let span = tracing::info_span!(
        "http.client.request",
        otel.kind = "client",
        otel.status_code = field::Empty,
        operation.name = "http.request",
        resource.name = field::Empty,
        span.type = "http",
        http.method = request.method().as_str(),
        http.url = field::Empty,
        http.status_code = field::Empty,
        peer.service = host,
        out.host = host,
        error.type = field::Empty,
        error.message = field::Empty,
    );
    span.record(
        "resource.name",
        format!("{} {host}", request.method()).as_str(),
    );
    // Without the query string: it may carry secrets.
    let mut without_query = url.clone();
    without_query.set_query(None);
    without_query.set_fragment(None);
    let _ = without_query.set_password(None);
    span.record(
        "http.url",
        crate::privacy::scrubber()
            .scrub(without_query.as_str())
            .as_ref(),
    );
    span
}

fn error_kind(error: &reqwest::Error) -> &'static str {
    if error.is_timeout() {
        "timeout"
    } else if error.is_connect() {
        "connect_error"
    } else if error.is_decode() {
        "decode_error"
    } else {
        "request_error"
    }
}
