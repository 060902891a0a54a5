//! [`ErrorCaptureLayer`]: one Sentry hub per request, the request's context
//! on every event captured inside it, and an event for failed responses.

#[cfg(test)]
mod tests;
mod transaction;

use std::future::Future;
use std::ops::RangeInclusive;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};

use ::sentry::protocol::{Event, Exception, Level, Mechanism, Request as SentryRequest};
use ::sentry::{Hub, SentryFutureExt};
use http::{HeaderMap, Method, Request, Response, StatusCode, Uri};
use pin_project_lite::pin_project;
use tower::{Layer, Service};

use self::transaction::{Finished, Outcome, RequestTrace};
use crate::config::Config;
use crate::ids::RequestId;
use crate::response_error::ResponseError;
use crate::route::{RouteTemplate, route_of};

/// The statuses reported by default, like sentry-python's
/// `failed_request_status_codes`.
pub const DEFAULT_FAILED_STATUS_CODES: RangeInclusive<u16> = 500..=599;

/// At most this many `tracing` ERROR events are held per request while its
/// outcome is unknown; more are sent at once.
const MAX_HELD_EVENTS: usize = 8;

/// Mechanism of the events made from failed responses.
const RESPONSE_MECHANISM: &str = "treebeard.response";

/// Exception type of a streamed response body that failed after its head.
pub const BODY_ERROR_TYPE: &str = "ResponseBodyError";

/// Exception type of a failed response that carries no [`ResponseError`].
pub const HTTP_ERROR_TYPE: &str = "HttpError";

/// Captures errors of each request to Sentry, with the request's context.
///
/// For every request it forks a Sentry hub (so breadcrumbs, the user and
/// tags of one request never reach another) and, on every event captured
/// while the request runs — a panic, a `tracing` ERROR event,
/// [`capture_exception`](crate::capture_exception) — sets:
///
/// - the request (method, URL with a scrubbed query, headers without the
///   sensitive ones; the event is scrubbed again before sending),
/// - tags `request_id`, `dd.trace_id`, `dd.span_id` (the request span's
///   DataDog IDs, decimal) and `http.route`,
/// - the transaction: the route template (`/users/{id}`),
/// - with `SENTRY_TRACES_SAMPLE_RATE` above 0, the `trace` context of the
///   request's transaction, which links the event to it,
/// - a fingerprint of error type and route, so issues do not split per
///   request.
///
/// A response whose status is in the failed set (500–599 by default) is
/// captured as an exception of the handler's [`ResponseError`] kind and
/// message, or `HttpError` without one, unless the request already
/// reported an error (a panic, a manual capture): one failure, one event.
/// `tracing` ERROR events of a request are held until its response: when
/// the response fails they are folded into its event (as breadcrumbs and
/// the `logged_errors` extra), otherwise they are sent as they are.
///
/// With `SENTRY_TRACES_SAMPLE_RATE` above 0 every request has a place in a
/// Sentry trace: the one of its `sentry-trace` header, else a new one with
/// the request span's DataDog IDs. A request the client's traces sampler
/// keeps is sent as a transaction `<METHOD> <route template>` (op
/// `http.server`, its status from the response's), with the request's
/// context and tags; `MONITORING_IGNORE_ROUTES` are never sampled.
///
/// Without a Sentry client (no `SENTRY_DSN`) the layer is a pass-through.
#[derive(Debug, Clone)]
pub struct ErrorCaptureLayer {
    active: bool,
    statuses: Arc<[RangeInclusive<u16>]>,
    transactions: bool,
}

impl ErrorCaptureLayer {
    /// The layer for `config`: active when a Sentry client is installed
    /// (by [`crate::init`] or by the application) and monitoring is on.
    pub fn new(config: &Config) -> Self {
        let client = Hub::main().client().filter(|c| c.is_enabled());
        Self {
            active: config.enabled && client.is_some(),
            statuses: config.sentry.failed_request_status_codes.clone().into(),
            transactions: config.sentry.traces_sample_rate > 0.0,
        }
    }

    /// Reports responses whose status is in one of `ranges` (default
    /// [`DEFAULT_FAILED_STATUS_CODES`]).
    #[must_use]
    pub fn with_failed_status_codes(mut self, ranges: Vec<RangeInclusive<u16>>) -> Self {
        self.statuses = ranges.into();
        self
    }

    /// Whether the layer captures anything.
    pub fn is_active(&self) -> bool {
        self.active
    }
}

/// Whether `status` is in one of `ranges`.
pub(crate) fn is_failed(ranges: &[RangeInclusive<u16>], status: StatusCode) -> bool {
    ranges.iter().any(|r| r.contains(&status.as_u16()))
}

impl<S> Layer<S> for ErrorCaptureLayer {
    type Service = ErrorCapture<S>;

    fn layer(&self, inner: S) -> Self::Service {
        ErrorCapture {
            inner,
            active: self.active,
            statuses: self.statuses.clone(),
            transactions: self.active && self.transactions,
        }
    }
}

/// The service made by [`ErrorCaptureLayer`].
#[derive(Clone)]
pub struct ErrorCapture<S> {
    inner: S,
    active: bool,
    statuses: Arc<[RangeInclusive<u16>]>,
    transactions: bool,
}

impl<S> std::fmt::Debug for ErrorCapture<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ErrorCapture")
            .field("active", &self.active)
            .field("statuses", &self.statuses)
            .field("transactions", &self.transactions)
            .finish_non_exhaustive()
    }
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for ErrorCapture<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
    ResBody: http_body::Body<Data = bytes::Bytes> + Send + 'static,
    ResBody::Error: std::fmt::Display + Into<axum::BoxError>,
{
    type Response = Response<axum::body::Body>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<ReqBody>) -> Self::Future {
        if !self.active {
            return ResponseFuture {
                inner: Kind::Passthrough {
                    future: self.inner.call(req),
                },
                capture: None,
            };
        }
        let hub = Arc::new(Hub::new_from_top(Hub::current()));
        let info = RequestInfo::of(&req);
        let trace = if self.transactions {
            hub.client().map(|client| {
                RequestTrace::start(
                    &client,
                    &info.headers,
                    &info.method,
                    &info.route,
                    info.datadog_ids,
                )
            })
        } else {
            None
        };
        let shared = Arc::new(Shared {
            info,
            trace,
            state: Mutex::new(State::default()),
        });
        hub.configure_scope(|scope| {
            // The request's breadcrumbs are its own. Inherited ones would be
            // shared with the process hub, and the first breadcrumb would
            // copy all of them (up to 100) on every request.
            scope.clear_breadcrumbs();
            let shared = shared.clone();
            scope.add_event_processor(move |event| shared.process(event));
        });
        let future = Hub::run(hub.clone(), || self.inner.call(req)).bind_hub(hub.clone());
        ResponseFuture {
            inner: Kind::Captured { future },
            capture: Some(Capture {
                transaction: trace.is_some_and(|t| t.sample_rate.is_some()),
                shared,
                hub,
                statuses: self.statuses.clone(),
            }),
        }
    }
}

pin_project! {
    /// Response future of [`ErrorCapture`].
    pub struct ResponseFuture<F> {
        #[pin]
        inner: Kind<F>,
        capture: Option<Capture>,
    }
}

pin_project! {
    #[project = KindProj]
    enum Kind<F> {
        Passthrough { #[pin] future: F },
        Captured { #[pin] future: ::sentry::SentryFuture<F> },
    }
}

impl<F, B, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<Response<B>, E>>,
    B: http_body::Body<Data = bytes::Bytes> + Send + 'static,
    B::Error: std::fmt::Display + Into<axum::BoxError>,
{
    type Output = Result<Response<axum::body::Body>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let result = match this.inner.project() {
            KindProj::Passthrough { future } => {
                let result = std::task::ready!(future.poll(cx));
                return Poll::Ready(result.map(|r| r.map(axum::body::Body::new)));
            }
            KindProj::Captured { future } => std::task::ready!(future.poll(cx)),
        };
        let Some(capture) = this.capture.take() else {
            return Poll::Ready(result.map(|r| r.map(axum::body::Body::new)));
        };
        let response = match result {
            Ok(response) => response,
            Err(error) => {
                capture.finish(None, None);
                return Poll::Ready(Err(error));
            }
        };
        let status = response.status();
        // A stream may still fail after the head: keep what reporting that
        // needs (the hub decorates with the request as for any event).
        let report = (!crate::body::in_memory(response.body())).then(|| {
            let (hub, route) = (capture.hub.clone(), capture.shared.info.route.clone());
            // On the request's hub: its scope adds the request's context.
            Box::new(move |message: &str| {
                let mut event = response_event(BODY_ERROR_TYPE, message, status, &[]);
                event.fingerprint =
                    to_fingerprint(vec![BODY_ERROR_TYPE.to_owned(), route.as_str().to_owned()]);
                hub.capture_event(event);
            }) as Box<dyn FnOnce(&str) + Send>
        });
        capture.finish(Some(status), response.extensions().get::<ResponseError>());
        Poll::Ready(Ok(match report {
            Some(report) => response
                .map(|inner| axum::body::Body::new(crate::body::OnError::new(inner, report))),
            None => response.map(axum::body::Body::new),
        }))
    }
}

/// What the response future needs to report the outcome. Dropped without
/// `finish` (the client went away), it still sends the held events and
/// the transaction.
struct Capture {
    shared: Arc<Shared>,
    hub: Arc<Hub>,
    statuses: Arc<[RangeInclusive<u16>]>,
    /// The request's transaction is sampled and not sent yet.
    transaction: bool,
}

impl Capture {
    fn finish(mut self, status: Option<StatusCode>, error: Option<&ResponseError>) {
        self.finish_transaction(status.map_or(Outcome::Error, Outcome::Response));
        let (held, reported) = self.shared.finish();
        let failed = status.is_some_and(|s| is_failed(&self.statuses, s));
        if !failed {
            send_held(&self.hub, held);
            return;
        }
        if reported {
            // The panic or manual capture already describes this failure.
            return;
        }
        let status = status.unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        match error {
            Some(error) => {
                let event = response_event(error.kind(), error.message(), status, &held);
                self.hub.capture_event(event);
            }
            None if !held.is_empty() => send_held(&self.hub, held),
            None => {
                let reason = status.canonical_reason().unwrap_or("");
                let value = format!("{} {reason}", status.as_u16());
                let mut event = response_event(HTTP_ERROR_TYPE, value.trim_end(), status, &[]);
                event.fingerprint = to_fingerprint(vec![
                    HTTP_ERROR_TYPE.to_owned(),
                    status.as_u16().to_string(),
                    self.shared.info.route.as_str().to_owned(),
                ]);
                self.hub.capture_event(event);
            }
        }
    }
}

impl Capture {
    /// Sends the transaction, once, after the handler's last scope change.
    fn finish_transaction(&mut self, outcome: Outcome) {
        let Some(transaction) = self.shared.trace.filter(|_| self.transaction) else {
            return;
        };
        self.transaction = false;
        let info = &self.shared.info;
        let mut route = info.route.clone();
        route.settle(match outcome {
            Outcome::Response(status) => Some(status),
            Outcome::Error | Outcome::Aborted => None,
        });
        let mut tags = ::sentry::protocol::Map::new();
        info.tag(&mut tags);
        transaction.finish(
            &self.hub,
            Finished {
                method: &info.method,
                route: &route,
                outcome,
                request: info.transaction_request(),
                tags,
            },
        );
    }
}

impl Drop for Capture {
    fn drop(&mut self) {
        self.finish_transaction(Outcome::Aborted);
        let (held, _) = self.shared.finish();
        send_held(&self.hub, held);
    }
}

/// Sends events that were already decorated by the request's processor,
/// without applying the scope again (that would double the breadcrumbs).
fn send_held(hub: &Hub, held: Vec<Event<'static>>) {
    if held.is_empty() {
        return;
    }
    if let Some(client) = hub.client() {
        for event in held {
            client.capture_event(event, None);
        }
    }
}

/// The event for a failed response: an exception of `kind` with `message`.
pub(crate) fn response_event(
    kind: &str,
    message: &str,
    status: StatusCode,
    held: &[Event<'static>],
) -> Event<'static> {
    let mut data = ::sentry::protocol::Map::new();
    data.insert("status_code".to_owned(), status.as_u16().into());
    let mut event = Event {
        level: Level::Error,
        exception: vec![Exception {
            ty: kind.to_owned(),
            value: Some(message.to_owned()),
            mechanism: Some(Mechanism {
                ty: RESPONSE_MECHANISM.to_owned(),
                handled: Some(true),
                data,
                ..Default::default()
            }),
            ..Default::default()
        }]
        .into(),
        ..Default::default()
    };
    event
        .tags
        .insert("http.status_code".to_owned(), status.as_u16().to_string());
    let logged: Vec<::sentry::protocol::Value> = held
        .iter()
        .filter_map(|e| {
            e.message
                .clone()
                .or_else(|| e.exception.last().and_then(|x| x.value.clone()))
        })
        .map(Into::into)
        .collect();
    if !logged.is_empty() {
        event
            .extra
            .insert("logged_errors".to_owned(), logged.into());
    }
    event
}

/// What one request shares between its hub's event processor and its
/// response future.
struct Shared {
    info: RequestInfo,
    /// The request's place in a Sentry trace, with transactions on.
    trace: Option<RequestTrace>,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    /// The response is known: events pass straight through.
    finished: bool,
    /// An error-level event was sent for this request.
    reported: bool,
    /// `tracing` ERROR events waiting for the outcome.
    held: Vec<Event<'static>>,
}

impl Shared {
    fn finish(&self) -> (Vec<Event<'static>>, bool) {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        state.finished = true;
        (std::mem::take(&mut state.held), state.reported)
    }

    /// The hub's event processor: decorates, then holds or passes the event.
    fn process(&self, mut event: Event<'static>) -> Option<Event<'static>> {
        self.info.decorate(&mut event);
        if let Some(trace) = &self.trace {
            // Over the scope's own trace, which every request inherits.
            event
                .contexts
                .insert("trace".to_owned(), trace.context().into());
        }
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        if state.finished || event.level < Level::Error {
            return Some(event);
        }
        // sentry-tracing sets the logger; panics and manual captures do not.
        if event.logger.is_some() && state.held.len() < MAX_HELD_EVENTS {
            state.held.push(event);
            return None;
        }
        state.reported = true;
        Some(event)
    }
}

/// The request facts put on each event, kept until one is captured.
struct RequestInfo {
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    route: RouteTemplate,
    request_id: Option<RequestId>,
    datadog_ids: Option<crate::trace_context::TraceIds>,
}

impl RequestInfo {
    fn of<B>(req: &Request<B>) -> Self {
        Self {
            method: req.method().clone(),
            uri: req.uri().clone(),
            headers: req.headers().clone(),
            route: route_of(req),
            request_id: req.extensions().get::<RequestId>().cloned(),
            // Put there by `RequestLogLayer`, which runs outside.
            datadog_ids: req.extensions().get().copied(),
        }
    }

    fn decorate(&self, event: &mut Event<'static>) {
        let route = self.route.as_str();
        if event.request.is_none() {
            event.request = Some(self.sentry_request());
        }
        self.tag(&mut event.tags);
        event.transaction = Some(route.to_owned());
        if is_default_fingerprint(&event.fingerprint)
            && let Some(fingerprint) = fingerprint(event, route)
        {
            event.fingerprint = to_fingerprint(fingerprint);
        }
    }

    /// Tags `request_id`, `dd.trace_id`, `dd.span_id` and `http.route`.
    fn tag(&self, tags: &mut ::sentry::protocol::Map<String, String>) {
        if let Some(id) = &self.request_id {
            tags.insert("request_id".to_owned(), id.as_str().to_owned());
        }
        if let Some(ids) = self.datadog_ids {
            let mut digits = itoa::Buffer::new();
            let trace_id = digits.format(ids.datadog_trace_id()).to_owned();
            tags.insert("dd.trace_id".to_owned(), trace_id);
            let span_id = digits.format(ids.span_id).to_owned();
            tags.insert("dd.span_id".to_owned(), span_id);
        }
        tags.insert("http.route".to_owned(), self.route.as_str().to_owned());
    }

    /// The request as Sentry shows it: sensitive headers are left out
    /// here, and `before_send` scrubs URL, query and values.
    fn sentry_request(&self) -> SentryRequest {
        self.request(false)
    }

    /// The request of a transaction, scrubbed here in one pass as
    /// `before_send` scrubs an event's (transactions skip it).
    fn transaction_request(&self) -> SentryRequest {
        self.request(true)
    }

    fn request(&self, scrub: bool) -> SentryRequest {
        let scrubber = treebeard_pii::Scrubber::global();
        let host = crate::route::request_host(&self.headers, &self.uri);
        let path = self.uri.path();
        let url = if is_plain_host(host) {
            // A route without parameters is code, not input (see
            // `route::shown_path`); the host has no userinfo to scrub.
            let path = if scrub && path != self.route.as_str() {
                scrubber.scrub_url(path)
            } else {
                std::borrow::Cow::Borrowed(path)
            };
            request_url(host, &path)
        } else {
            let url = format!("http://{host}{path}");
            let url = if scrub {
                scrubber.scrub_url(&url)
            } else {
                std::borrow::Cow::Borrowed(url.as_str())
            };
            url.parse().ok()
        };
        SentryRequest {
            url,
            method: Some(self.method.as_str().to_owned()),
            query_string: self
                .uri
                .query()
                .map(|q| scrubber.scrub_query(q).into_owned()),
            headers: self
                .headers
                .iter()
                .filter(|(name, _)| !is_sensitive_header(name))
                .filter_map(|(name, value)| {
                    let value = value.to_str().ok()?;
                    let value = if scrub {
                        scrubber.scrub(value).into_owned()
                    } else {
                        value.to_owned()
                    };
                    Some((name.as_str().to_owned(), value))
                })
                .collect(),
            ..Default::default()
        }
    }
}

/// Whether `host` is a plain `name[:port]` (or IP literal): nothing in it
/// would change how a URL made with it parses.
fn is_plain_host(host: &str) -> bool {
    !host.is_empty()
        && host.bytes().all(|b| {
            b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_' | b':' | b'[' | b']')
        })
}

/// `http://<host><path>`, with the scheme and host parsed once per thread
/// and host and the path set on a copy: a full parse costs ~3.4k
/// instructions, most of it the host (`make bench`).
fn request_url(host: &str, path: &str) -> Option<url::Url> {
    thread_local! {
        static BASE: std::cell::RefCell<Option<(String, url::Url)>> =
            const { std::cell::RefCell::new(None) };
    }
    BASE.with(|base| {
        let mut base = base.borrow_mut();
        if base.as_ref().is_none_or(|(known, _)| known != host) {
            let url: url::Url = format!("http://{host}/").parse().ok()?;
            *base = Some((host.to_owned(), url));
        }
        let mut url = base.as_ref()?.1.clone();
        url.set_path(path);
        Some(url)
    })
}

/// At most this many header names have their sensitivity remembered: a
/// client may send any names, the memory stays bounded.
const MAX_KNOWN_HEADERS: usize = 128;

/// Whether the scrubber leaves header `name` out, remembered per name: its
/// key matcher costs ~1.7k instructions a name (`make bench`), and requests
/// repeat the same few names. The global scrubber never changes.
fn is_sensitive_header(name: &http::HeaderName) -> bool {
    static KNOWN: std::sync::OnceLock<
        std::sync::RwLock<std::collections::HashMap<http::HeaderName, bool>>,
    > = std::sync::OnceLock::new();
    let known = KNOWN.get_or_init(Default::default);
    if let Some(&sensitive) = known
        .read()
        .unwrap_or_else(PoisonError::into_inner)
        .get(name)
    {
        return sensitive;
    }
    let sensitive = treebeard_pii::Scrubber::global().is_sensitive_header(name.as_str());
    let mut known = known.write().unwrap_or_else(PoisonError::into_inner);
    if known.len() < MAX_KNOWN_HEADERS {
        known.insert(name.clone(), sensitive);
    }
    sensitive
}

fn to_fingerprint(
    parts: Vec<String>,
) -> std::borrow::Cow<'static, [std::borrow::Cow<'static, str>]> {
    std::borrow::Cow::Owned(parts.into_iter().map(std::borrow::Cow::Owned).collect())
}

fn is_default_fingerprint(fingerprint: &[std::borrow::Cow<'static, str>]) -> bool {
    fingerprint.is_empty()
        || fingerprint.len() == 1
            && matches!(fingerprint[0].as_ref(), "{{ default }}" | "{{default}}")
}

/// One issue per error type and route; for `tracing` messages, one per
/// call site and route. `None` keeps Sentry's default (plain messages).
pub(crate) fn fingerprint(event: &Event<'static>, route: &str) -> Option<Vec<String>> {
    if let Some(exception) = event.exception.last() {
        return Some(vec![exception.ty.clone(), route.to_owned()]);
    }
    let logger = event.logger.as_ref()?;
    let mut fingerprint = vec![logger.clone(), route.to_owned()];
    if let Some(::sentry::protocol::Context::Other(location)) =
        event.contexts.get("Rust Tracing Location")
    {
        for key in ["file", "line"] {
            if let Some(value) = location.get(key) {
                fingerprint.push(value.to_string());
            }
        }
    }
    Some(fingerprint)
}
