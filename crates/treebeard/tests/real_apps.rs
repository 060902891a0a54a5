//! The stack in a real Axum app on a real socket: streaming bodies, bodies
//! that fail, clients that leave, log levels, and composition beside
//! tower-http's layers.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::routing::get;
use bytes::Bytes;
use serde_json::Value;
use tracing::Subscriber;
use tracing::span::{Attributes, Id, Record};
use tracing_subscriber::Layer;
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;
use treebeard::MonitoringLayer;
use treebeard::config::Config;
use treebeard::log::JsonLogLayer;

#[path = "common/lines.rs"]
mod lines;
use lines::Lines;

/// The request line of `route` (the one with an `http.status_code`), waiting for it.
async fn request_line(lines: &Lines, route: &str) -> Value {
    lines
        .wait_for(route, |l| {
            l["http.route"] == route && l.get("http.status_code").is_some()
        })
        .await
}

/// A closed request span: how long it was open and the fields it got.
#[derive(Clone, Debug)]
struct ClosedSpan {
    open_for: Duration,
    fields: HashMap<String, String>,
}

/// Records every `http.request` span's lifetime and fields, as a tracer
/// would export them.
#[derive(Clone, Default)]
struct Spans(Arc<Mutex<Vec<ClosedSpan>>>);

struct Open(Instant, HashMap<String, String>);

struct Fields<'a>(&'a mut HashMap<String, String>);

impl tracing::field::Visit for Fields<'_> {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        self.0.insert(
            field.name().to_owned(),
            format!("{value:?}").trim_matches('"').to_owned(),
        );
    }
    fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
        self.0.insert(field.name().to_owned(), value.to_owned());
    }
}

impl<S: Subscriber + for<'a> LookupSpan<'a>> Layer<S> for Spans {
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        if attrs.metadata().name() != "http.request" {
            return;
        }
        let mut fields = HashMap::new();
        attrs.record(&mut Fields(&mut fields));
        ctx.span(id)
            .unwrap()
            .extensions_mut()
            .insert(Open(Instant::now(), fields));
    }
    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        if let Some(open) = ctx.span(id).unwrap().extensions_mut().get_mut::<Open>() {
            values.record(&mut Fields(&mut open.1));
        }
    }
    fn on_close(&self, id: Id, ctx: Context<'_, S>) {
        if let Some(open) = ctx.span(&id).unwrap().extensions_mut().remove::<Open>() {
            self.0.lock().unwrap().push(ClosedSpan {
                open_for: open.0.elapsed(),
                fields: open.1,
            });
        }
    }
}

impl Spans {
    async fn closed(&self, route: &str) -> ClosedSpan {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(span) = self
                .0
                .lock()
                .unwrap()
                .iter()
                .find(|s| s.fields.get("http.route").map(String::as_str) == Some(route))
            {
                return span.clone();
            }
            assert!(Instant::now() < deadline, "no closed span for {route}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

fn config() -> Config {
    Config::builder()
        .with_source([("APM_PROVIDER", "none"), ("METRICS_BACKEND", "none")])
        .build()
        .unwrap()
}

/// Serves `app` with the whole stack on 127.0.0.1, with log lines and spans
/// captured, and returns its base URL.
async fn serve(app: Router) -> (String, Lines, Spans) {
    let lines = Lines::default();
    let spans = Spans::default();
    let subscriber = tracing_subscriber::registry()
        .with(JsonLogLayer::new().with_writer(lines.clone()))
        .with(spans.clone());
    tracing::subscriber::set_global_default(subscriber).ok();
    let app = app.layer(MonitoringLayer::new(&config()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = app.into_make_service_with_connect_info::<std::net::SocketAddr>();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{addr}"), lines, spans)
}

/// One test process, one global subscriber: every case runs in one app.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_stack_in_a_real_app() {
    let app = Router::new()
        .route("/stream", get(stream))
        .route("/broken-stream", get(broken_stream))
        .route("/slow", get(slow))
        .route(
            "/fail",
            get(|| async { (http::StatusCode::INTERNAL_SERVER_ERROR, "failed") }),
        )
        .route(
            "/missing",
            get(|| async { (http::StatusCode::NOT_FOUND, "no such thing") }),
        )
        .nest_service("/static", tower::service_fn(file))
        .nest_service("/t/{tenant}/files", tower::service_fn(file))
        .fallback_service(tower::service_fn(spa));
    let (base, lines, spans) = serve(app).await;
    let client = reqwest::Client::new();

    // 1. A streaming response is timed to its last byte, not its headers.
    let started = Instant::now();
    let mut response = client
        .get(format!("{base}/stream?page=2"))
        .header("user-agent", "probe/1.0 (ops@example.org)")
        .send()
        .await
        .unwrap();
    let head_after = started.elapsed();
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.unwrap() {
        body.extend_from_slice(&chunk);
    }
    assert_eq!(body, b"one two three ");
    assert!(head_after < Duration::from_millis(250), "{head_after:?}");
    let line = request_line(&lines, "/stream").await;
    assert_eq!(line["http.status_code"], 200);
    assert!(line["latency_ms"].as_f64().unwrap() >= 500.0, "{line}");
    assert!(line["head_ms"].as_f64().unwrap() < 250.0, "{line}");
    // DataDog's standard attributes; no root `status`, which DataDog reads
    // as the line's severity.
    assert_eq!(line["logger.name"], "treebeard::request_log", "{line}");
    assert_eq!(line["http.method"], "GET", "{line}");
    assert_eq!(line["http.url_details.path"], "/stream", "{line}");
    assert_eq!(line["http.useragent"], "probe/1.0 ([EMAIL])", "{line}");
    assert_eq!(line["network.client.ip"], "127.0.0.1", "{line}");
    assert!(line.get("status").is_none(), "{line}");
    let duration = line["duration"].as_u64().unwrap();
    assert!(duration >= 500_000_000, "nanoseconds: {line}");
    let span = spans.closed("/stream").await;
    assert!(span.open_for >= Duration::from_millis(500), "{span:?}");

    // 2. A body that fails mid-stream is an error, on the line and the span.
    // The connection is cut: before the client has the head, or mid-body.
    let mut failed = false;
    match client.get(format!("{base}/broken-stream")).send().await {
        Err(_) => failed = true,
        Ok(mut response) => loop {
            match response.chunk().await {
                Ok(Some(_)) => {}
                Ok(None) => break,
                Err(_) => {
                    failed = true;
                    break;
                }
            }
        },
    }
    assert!(failed, "the client must see a truncated body");
    let line = request_line(&lines, "/broken-stream").await;
    assert_eq!(line["level"], "ERROR", "{line}");
    assert_eq!(line["error.kind"], "body_error", "{line}");
    assert!(
        line["error.message"]
            .as_str()
            .unwrap()
            .contains("disk gone"),
        "{line}"
    );
    let span = spans.closed("/broken-stream").await;
    assert_eq!(span.fields["otel.status_code"], "error", "{span:?}");
    assert_eq!(span.fields["error.type"], "body_error", "{span:?}");

    // 3. A request the client abandons is logged, as 499, and its span marked.
    let abandoned = client
        .get(format!("{base}/slow"))
        .timeout(Duration::from_millis(200))
        .send()
        .await;
    assert!(abandoned.is_err());
    let line = request_line(&lines, "/slow").await;
    assert_eq!(line["http.status_code"], 499, "{line}");
    assert_eq!(line["level"], "WARN", "{line}");
    let span = spans.closed("/slow").await;
    assert_eq!(span.fields["http.status_code"], "499", "{span:?}");
    assert_eq!(
        span.fields["error.type"], "client_closed_request",
        "{span:?}"
    );
    assert!(
        span.open_for < Duration::from_secs(2),
        "closed when the client left: {span:?}"
    );

    // 4. Honest levels: 5xx lines at ERROR, 4xx at INFO.
    client.get(format!("{base}/fail")).send().await.unwrap();
    client.get(format!("{base}/missing")).send().await.unwrap();
    assert_eq!(request_line(&lines, "/fail").await["level"], "ERROR");
    assert_eq!(request_line(&lines, "/missing").await["level"], "INFO");

    // 5. Requests no route matched but a mounted service served (with
    // `nest_service` or `fallback_service`) are named `/*`; real 404s,
    // from the fallback or axum's own, stay `unmatched`.
    for path in [
        "/static/css/site.css",
        "/t/acme/files/a.txt",
        "/app/settings",
    ] {
        let response = client.get(format!("{base}{path}")).send().await.unwrap();
        assert_eq!(response.status(), 200, "{path}");
    }
    let response = client
        .get(format!("{base}/nothing/here"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 404);
    let line = request_line(&lines, "unmatched").await;
    assert_eq!(line["http.status_code"], 404, "{line}");
    assert_eq!(
        spans.closed("unmatched").await.fields["http.status_code"],
        "404"
    );
    let mounted: Vec<Value> = lines
        .json()
        .into_iter()
        .filter(|l| l.get("http.status_code").is_some() && l["http.route"] == "/*")
        .collect();
    assert_eq!(mounted.len(), 3, "{mounted:?}");
    assert!(
        mounted.iter().all(|l| l["http.status_code"] == 200),
        "{mounted:?}"
    );
    assert_eq!(spans.closed("/*").await.fields["http.status_code"], "200");
}

/// A file server's stand-in, for `nest_service`.
async fn file(_: http::Request<Body>) -> Result<http::Response<Body>, Infallible> {
    Ok(http::Response::new(Body::from("file")))
}

/// A single-page app's fallback: serves `/app/*`, 404 for the rest.
async fn spa(req: http::Request<Body>) -> Result<http::Response<Body>, Infallible> {
    let status = if req.uri().path().starts_with("/app/") {
        http::StatusCode::OK
    } else {
        http::StatusCode::NOT_FOUND
    };
    let mut response = http::Response::new(Body::from("page"));
    *response.status_mut() = status;
    Ok(response)
}

async fn stream() -> Body {
    let chunks = futures_util::stream::unfold(0, |i| async move {
        let words = ["one ", "two ", "three "];
        if i == words.len() {
            return None;
        }
        if i > 0 {
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
        Some((
            Ok::<_, Infallible>(Bytes::from_static(words[i].as_bytes())),
            i + 1,
        ))
    });
    Body::from_stream(chunks)
}

async fn broken_stream() -> Body {
    let chunks = futures_util::stream::iter([
        Ok(Bytes::from_static(b"partial ")),
        Err(std::io::Error::other("disk gone")),
    ]);
    Body::from_stream(chunks)
}

async fn slow() -> &'static str {
    tokio::time::sleep(Duration::from_secs(2)).await;
    "late"
}

/// The stack composes beside tower-http's layers, inside or outside them:
/// these only have to compile (the panic layer used to require a body
/// built from a `String`, which their bodies are not).
#[allow(dead_code)]
fn composes_with_tower_http(config: &Config) {
    use tower::ServiceBuilder;
    use tower_http::compression::CompressionLayer;
    use tower_http::cors::CorsLayer;
    use tower_http::limit::RequestBodyLimitLayer;
    use tower_http::trace::TraceLayer;

    let _: Router = Router::new().route("/", get(|| async { "ok" })).layer(
        ServiceBuilder::new()
            .layer(MonitoringLayer::new(config))
            .layer(TraceLayer::new_for_http()),
    );
    let _: Router = Router::new().route("/", get(|| async { "ok" })).layer(
        ServiceBuilder::new()
            .layer(MonitoringLayer::new(config))
            .layer(CompressionLayer::new())
            .layer(RequestBodyLimitLayer::new(1024)),
    );
    let _: Router = Router::new().route("/", get(|| async { "ok" })).layer(
        ServiceBuilder::new()
            .layer(TraceLayer::new_for_http())
            .layer(CorsLayer::permissive())
            .layer(MonitoringLayer::new(config)),
    );
}
