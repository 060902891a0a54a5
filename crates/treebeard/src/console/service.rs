//! The HTTP side of the console: the page, its JSON and its live stream,
//! answered to loopback peers only.
//!
//! | path | answer |
//! |---|---|
//! | `/_treebeard` | the page (`?select=<request id>`, optionally `&seq=N`, opens that request) |
//! | `/_treebeard/console.js`, `/_treebeard/console.css` | its script and style |
//! | `/_treebeard/api/requests` | the kept requests, oldest first (JSON) |
//! | `/_treebeard/api/requests/<request id>` | one request (`?seq=N` when several share the ID): spans, lines, error (JSON) |
//! | `/_treebeard/api/routes` | per-route rate and latency (JSON) |
//! | `/_treebeard/events` | new requests as server-sent events |

use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::response::IntoResponse;
use axum::response::sse::{Event, KeepAlive, Sse};
use http::header::{self, HeaderName, HeaderValue};
use http::{Method, Request, Response, StatusCode};
use serde::Serialize;

use super::buffer::{Console, RequestRecord, RequestSummary, Signal, now_ms};
use super::stats::RouteSummary;

/// Where the console is served.
pub(crate) const PATH: &str = "/_treebeard";

const INDEX_HTML: &str = include_str!("assets/index.html");
const CONSOLE_JS: &str = include_str!("assets/console.js");
const CONSOLE_CSS: &str = include_str!("assets/console.css");
/// Where the page's initial data goes in `index.html`.
const DATA_PLACEHOLDER: &str = "__TREEBEARD_DATA__";

/// How long one live stream lasts before the browser reconnects (it does
/// so by itself, resuming after the last request it saw).
const STREAM_LIFETIME: Duration = Duration::from_secs(60);
/// Shortest time between two events of a stream: under load, requests
/// are sent in batches rather than one event each.
const STREAM_PERIOD: Duration = Duration::from_millis(250);
/// Most requests one event carries (the page keeps as many as the buffer).
const STREAM_BATCH: usize = 100;

/// Headers that say a proxy forwarded the request: the peer is then the
/// proxy, not the client, and loopback proves nothing.
const FORWARDING: [HeaderName; 3] = [
    header::FORWARDED,
    HeaderName::from_static("x-forwarded-for"),
    HeaderName::from_static("x-real-ip"),
];

/// Answers `/_treebeard` (see the [module docs](self)); made by
/// [`MonitoringLayer`](crate::MonitoringLayer) when the dev console is on.
#[derive(Debug, Clone)]
pub struct ConsoleService {
    console: Arc<Console>,
}

impl ConsoleService {
    pub(crate) fn new(console: Arc<Console>) -> Self {
        Self { console }
    }

    /// Whether `path` is the console's.
    pub(crate) fn matches(path: &str) -> bool {
        path.strip_prefix(PATH)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
    }

    /// The answer to a console request: a 404 unless the peer is on
    /// loopback, directly; only `GET` (and `HEAD`) otherwise.
    pub(crate) fn respond<B>(&self, req: &Request<B>) -> Response<Body> {
        if !from_loopback(req) {
            return status(StatusCode::NOT_FOUND);
        }
        if req.method() != Method::GET && req.method() != Method::HEAD {
            let mut response = status(StatusCode::METHOD_NOT_ALLOWED);
            response
                .headers_mut()
                .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
            return response;
        }
        let path = req.uri().path();
        let rest = path.strip_prefix(PATH).unwrap_or(path);
        let query = req.uri().query().unwrap_or_default();
        match rest {
            "" | "/" => self.page(param(query, "select").as_deref(), seq_param(query)),
            "/console.js" => asset(CONSOLE_JS, "text/javascript; charset=utf-8"),
            "/console.css" => asset(CONSOLE_CSS, "text/css; charset=utf-8"),
            "/api/requests" => json(&self.requests()),
            "/api/routes" => json(&self.console.buffer.routes(now_ms())),
            "/events" => self.events(req, query),
            _ => match rest.strip_prefix("/api/requests/") {
                Some(id) => match self
                    .console
                    .buffer
                    .find(&percent_decode(id), seq_param(query))
                {
                    Some(record) => json(&*record),
                    None => status(StatusCode::NOT_FOUND),
                },
                None => status(StatusCode::NOT_FOUND),
            },
        }
    }

    fn requests(&self) -> Vec<RequestSummaryOwned> {
        self.console
            .buffer
            .since(0)
            .into_iter()
            .map(RequestSummaryOwned)
            .collect()
    }

    /// The page, with the data it first shows embedded: it renders without
    /// a fetch (so a headless browser's DOM dump shows it), then goes live.
    fn page(&self, select: Option<&str>, seq: Option<u64>) -> Response<Body> {
        let selected = select.and_then(|id| self.console.buffer.find(id, seq));
        let data = PageData {
            requests: self.requests(),
            selected: selected.as_deref(),
            routes: self.console.buffer.routes(now_ms()),
            usage: self.usage(),
        };
        let json = serde_json::to_string(&data).unwrap_or_else(|_| "null".to_owned());
        let html = INDEX_HTML.replacen(DATA_PLACEHOLDER, &script_safe(&json), 1);
        let mut response = asset_owned(html, "text/html; charset=utf-8");
        response.headers_mut().insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(
                "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
            ),
        );
        response
    }

    fn usage(&self) -> Usage {
        let (requests, bytes, evicted) = self.console.buffer.usage();
        Usage {
            requests,
            bytes,
            evicted,
            capacity: self.console.buffer.capacity(),
            max_bytes: self.console.buffer.max_bytes(),
        }
    }

    /// New requests as they finish: one event per batch, `id` the last
    /// seq, so a reconnecting browser resumes with `Last-Event-ID`.
    fn events<B>(&self, req: &Request<B>, query: &str) -> Response<Body> {
        let after = req
            .headers()
            .get("last-event-id")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
            .or_else(|| param(query, "after"))
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or_else(|| self.console.buffer.last_seq());
        let state = Stream {
            console: self.console.clone(),
            signal: self.console.signal.subscribe(),
            after,
            deadline: tokio::time::Instant::now() + STREAM_LIFETIME,
            first: true,
        };
        let stream = futures_util::stream::unfold(state, Stream::next);
        let mut response = Sse::new(stream)
            .keep_alive(KeepAlive::default())
            .into_response();
        common_headers(&mut response);
        response
    }
}

struct Stream {
    console: Arc<Console>,
    signal: tokio::sync::watch::Receiver<Signal>,
    after: u64,
    deadline: tokio::time::Instant,
    first: bool,
}

impl Stream {
    async fn next(mut self) -> Option<(Result<Event, Infallible>, Self)> {
        if !self.first {
            tokio::time::sleep(STREAM_PERIOD).await;
        }
        self.first = false;
        loop {
            if self.signal.borrow().closing {
                return None;
            }
            let new = self.console.buffer.since(self.after);
            if let Some(last) = new.last() {
                self.after = last.seq;
                let skip = new.len().saturating_sub(STREAM_BATCH);
                let update = Update {
                    requests: new
                        .into_iter()
                        .skip(skip)
                        .map(RequestSummaryOwned)
                        .collect(),
                    routes: self.console.buffer.routes(now_ms()),
                };
                let data = serde_json::to_string(&update).unwrap_or_else(|_| "null".to_owned());
                let event = Event::default()
                    .id(self.after.to_string())
                    .retry(Duration::from_secs(1))
                    .data(data);
                return Some((Ok(event), self));
            }
            match tokio::time::timeout_at(self.deadline, self.signal.changed()).await {
                Ok(Ok(())) => {}
                // The deadline, or the console is gone: the browser reconnects.
                _ => return None,
            }
        }
    }
}

/// A kept request as the list shows it.
struct RequestSummaryOwned(Arc<RequestRecord>);

impl Serialize for RequestSummaryOwned {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let summary: RequestSummary<'_> = self.0.summary();
        summary.serialize(serializer)
    }
}

#[derive(Serialize)]
struct PageData<'a> {
    requests: Vec<RequestSummaryOwned>,
    selected: Option<&'a RequestRecord>,
    routes: Vec<RouteSummary>,
    usage: Usage,
}

#[derive(Serialize)]
struct Update {
    requests: Vec<RequestSummaryOwned>,
    routes: Vec<RouteSummary>,
}

#[derive(Serialize)]
struct Usage {
    requests: usize,
    bytes: usize,
    evicted: u64,
    capacity: usize,
    max_bytes: usize,
}

/// Whether the request comes straight from this machine: a loopback peer
/// (axum's `ConnectInfo<SocketAddr>`; without it, no), no proxy headers,
/// and a loopback host name (so a DNS-rebinding page cannot read it).
pub(crate) fn from_loopback<B>(req: &Request<B>) -> bool {
    let Some(ConnectInfo(peer)) = req.extensions().get::<ConnectInfo<SocketAddr>>() else {
        return false;
    };
    if !peer.ip().to_canonical().is_loopback() {
        return false;
    }
    if FORWARDING.iter().any(|h| req.headers().contains_key(h)) {
        return false;
    }
    let host = req.uri().host().or_else(|| {
        req.headers()
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
    });
    host.is_none_or(host_is_loopback)
}

/// `localhost`, `*.localhost`, `127.x.x.x` or `[::1]`, with any port.
fn host_is_loopback(host: &str) -> bool {
    let name = if let Some(v6) = host.strip_prefix('[') {
        v6.split(']').next().unwrap_or_default()
    } else {
        host.rsplit_once(':').map_or(host, |(name, _port)| name)
    };
    let name = name.to_ascii_lowercase();
    name == "localhost"
        || name.ends_with(".localhost")
        || name.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// The first value of `name` in a query string, decoded.
fn param(query: &str, name: &str) -> Option<String> {
    url::form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// `seq=N`: which of the requests sharing an ID.
fn seq_param(query: &str) -> Option<u64> {
    param(query, "seq").and_then(|s| s.parse().ok())
}

fn percent_decode(segment: &str) -> String {
    url::form_urlencoded::parse(format!("x={}", segment.replace('+', "%2B")).as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

/// JSON that can sit inside `<script>`: no `</script>` or `<!--` can
/// appear once `<`, `>` and `&` are escaped (they only occur in strings).
fn script_safe(json: &str) -> String {
    json.replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('&', "\\u0026")
}

fn common_headers(response: &mut Response<Body>) {
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
}

fn status(code: StatusCode) -> Response<Body> {
    let mut response = Response::new(Body::empty());
    *response.status_mut() = code;
    common_headers(&mut response);
    response
}

fn asset(body: &'static str, content_type: &'static str) -> Response<Body> {
    let mut response = Response::new(Body::from(body));
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    common_headers(&mut response);
    response
}

fn asset_owned(body: String, content_type: &'static str) -> Response<Body> {
    let mut response = Response::new(Body::from(body));
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    common_headers(&mut response);
    response
}

fn json<T: Serialize + ?Sized>(value: &T) -> Response<Body> {
    match serde_json::to_string(value) {
        Ok(body) => asset_owned(body, "application/json"),
        Err(_) => status(StatusCode::INTERNAL_SERVER_ERROR),
    }
}

#[cfg(test)]
// Test helpers outside #[test] fns unwrap too.
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::console::buffer::tests::record;

    fn service() -> ConsoleService {
        let console = Arc::new(Console::new(10, usize::MAX));
        console.record(record("req-1", 10));
        ConsoleService::new(console)
    }

    fn get(path: &str, peer: Option<&str>, headers: &[(&str, &str)]) -> Request<()> {
        let mut req = Request::get(path);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let mut req = req.body(()).unwrap();
        if let Some(peer) = peer {
            let addr: SocketAddr = peer.parse().unwrap();
            req.extensions_mut().insert(ConnectInfo(addr));
        }
        req
    }

    async fn body(response: Response<Body>) -> String {
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();
        String::from_utf8(bytes.to_vec()).unwrap()
    }

    #[tokio::test]
    async fn loopback_peers_get_the_page_and_the_data() {
        let service = service();
        for peer in ["127.0.0.1:5000", "[::1]:5000", "[::ffff:127.0.0.1]:5000"] {
            let response = service.respond(&get("/_treebeard", Some(peer), &[]));
            assert_eq!(response.status(), 200, "{peer}");
        }
        let response = service.respond(&get(
            "/_treebeard?select=req-1",
            Some("127.0.0.1:5000"),
            &[("host", "localhost:8080")],
        ));
        assert_eq!(response.status(), 200);
        assert!(
            response.headers()[header::CONTENT_SECURITY_POLICY]
                .to_str()
                .unwrap()
                .contains("default-src 'none'")
        );
        let page = body(response).await;
        assert!(page.contains(r#""request_id":"req-1""#), "{page}");
        assert!(
            page.contains(r#""selected":{"#),
            "the selected request is embedded"
        );
        let detail = service.respond(&get(
            "/_treebeard/api/requests/req-1",
            Some("127.0.0.1:1"),
            &[],
        ));
        assert_eq!(detail.status(), 200);
        assert!(body(detail).await.contains(r#""spans":[{"#));
        for path in [
            "/_treebeard/console.js",
            "/_treebeard/console.css",
            "/_treebeard/api/requests",
            "/_treebeard/api/routes",
        ] {
            assert_eq!(
                service
                    .respond(&get(path, Some("127.0.0.1:1"), &[]))
                    .status(),
                200,
                "{path}"
            );
        }
        for path in ["/_treebeard/nothing", "/_treebeard/api/requests/unknown"] {
            assert_eq!(
                service
                    .respond(&get(path, Some("127.0.0.1:1"), &[]))
                    .status(),
                404,
                "{path}"
            );
        }
    }

    #[tokio::test]
    async fn other_peers_no_peer_proxies_and_foreign_hosts_get_404() {
        let service = service();
        let refused = [
            get("/_treebeard", Some("192.168.1.20:5000"), &[]),
            get("/_treebeard", Some("10.0.0.1:5000"), &[]),
            get("/_treebeard/api/requests", Some("[2001:db8::1]:5000"), &[]),
            // No ConnectInfo: the console refuses rather than guess.
            get("/_treebeard", None, &[]),
            get("/_treebeard/api/requests/req-1", None, &[]),
            // A proxy on this machine forwards someone else's request.
            get(
                "/_treebeard",
                Some("127.0.0.1:5000"),
                &[("x-forwarded-for", "203.0.113.9")],
            ),
            get(
                "/_treebeard",
                Some("127.0.0.1:5000"),
                &[("forwarded", "for=203.0.113.9")],
            ),
            get(
                "/_treebeard",
                Some("127.0.0.1:5000"),
                &[("x-real-ip", "203.0.113.9")],
            ),
            // DNS rebinding: a page of evil.example resolved to 127.0.0.1.
            get(
                "/_treebeard",
                Some("127.0.0.1:5000"),
                &[("host", "evil.example:8080")],
            ),
        ];
        for req in &refused {
            let response = service.respond(req);
            assert_eq!(response.status(), 404, "{:?}", req);
            assert!(body(response).await.is_empty());
        }
    }

    #[tokio::test]
    async fn it_is_read_only() {
        let service = service();
        let mut req = get("/_treebeard/api/requests", Some("127.0.0.1:1"), &[]);
        *req.method_mut() = Method::POST;
        assert_eq!(service.respond(&req).status(), 405);
        *req.method_mut() = Method::DELETE;
        assert_eq!(service.respond(&req).status(), 405);
    }

    #[test]
    fn paths_and_hosts() {
        assert!(ConsoleService::matches("/_treebeard"));
        assert!(ConsoleService::matches("/_treebeard/api/requests"));
        assert!(!ConsoleService::matches("/_treebeardx"));
        assert!(!ConsoleService::matches("/users/_treebeard"));
        for host in [
            "localhost",
            "LOCALHOST:8080",
            "app.localhost:1",
            "127.0.0.1",
            "127.1.2.3:80",
            "[::1]:8080",
        ] {
            assert!(host_is_loopback(host), "{host}");
        }
        for host in [
            "example.com",
            "localhost.example.com",
            "10.0.0.1:80",
            "[2001:db8::1]",
        ] {
            assert!(!host_is_loopback(host), "{host}");
        }
        assert_eq!(
            script_safe(r#"{"a":"</script>&"}"#),
            r#"{"a":"\u003c/script\u003e\u0026"}"#
        );
        assert_eq!(percent_decode("a%20b+c"), "a b+c");
    }
}
