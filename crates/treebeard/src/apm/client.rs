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
//! 5xx answers and failed connections, is recorded. It is measured too:
//! `external_api.request.duration` (seconds) for every call and
//! `external_api.errors` for 5xx answers and calls that got no answer,
//! tagged `api` (the target of the enclosing [`external_api`](super::external_api)
//! span, else the host), `endpoint` (that span's endpoint, else `unmatched`:
//! never the raw path) and `status` (the status code, or `timeout`,
//! `connect_error`, `decode_error`, `request_error`). The headers of
//! `DD_TRACE_PROPAGATION_STYLE` and the current request's `x-request-id`
//! are added to the request, so the callee continues the same trace.

use std::future::Future;
use std::time::Instant;

use tracing::{Instrument, Span, field};
use treebeard_conventions::{external, tags};

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
            let target = CallTarget::of(&request);
            let started = Instant::now();
            let result = client.execute(request).instrument(span.clone()).await;
            record_call(&target, &result, started.elapsed().as_secs_f64());
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

/// The `api` and `endpoint` tags of a call.
struct CallTarget {
    api: String,
    endpoint: String,
}

impl CallTarget {
    fn of(request: &reqwest::Request) -> Self {
        match super::external_api_of(&Span::current()) {
            Some(named) => CallTarget {
                api: named.api.into(),
                endpoint: named.endpoint.into(),
            },
            None => CallTarget {
                api: request.url().host_str().unwrap_or("unknown").to_owned(),
                endpoint: tags::UNMATCHED_ROUTE.to_owned(),
            },
        }
    }
}

/// Records the call's duration and, for a 5xx answer or none, an error.
fn record_call(target: &CallTarget, result: &reqwest::Result<reqwest::Response>, seconds: f64) {
    let (status, failed) = match result {
        Ok(response) => (
            response.status().as_str().to_owned(),
            response.status().is_server_error(),
        ),
        Err(error) => (error_kind(error).to_owned(), true),
    };
    let metric_tags = [
        (external::API, target.api.as_str()),
        (tags::ENDPOINT, target.endpoint.as_str()),
        (tags::STATUS, status.as_str()),
    ];
    let metrics = crate::metrics::collector();
    metrics.histogram(external::REQUEST_DURATION, seconds, &metric_tags);
    if failed {
        metrics.increment(external::ERRORS, &metric_tags);
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
