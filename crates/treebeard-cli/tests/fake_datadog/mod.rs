//! A local stand-in for the DataDog API v1 (monitors, dashboards, key
//! validation) that records every request, assigns ids like the real API,
//! answers the first create with a 429 and checks the API key; and for the
//! Events API v2 search (`POST /api/v2/events/search`), serving monitor
//! alert events in DataDog's documented `EventsListResponse` shape, at most
//! [`EVENTS_PAGE_CAP`] a page so that clients must follow the cursor.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Value, json};

/// The API key the fake accepts.
pub const GOOD_KEY: &str = "good-api-key";

#[derive(Default)]
pub struct Store {
    pub monitors: BTreeMap<i64, Value>,
    pub dashboards: BTreeMap<String, Value>,
    pub requests: Vec<(String, String)>,
    pub next_id: i64,
    pub sent_429: bool,
    /// Events the search serves: (source, `EventResponse`).
    pub events: Vec<(String, Value)>,
    /// Bodies of the event searches received.
    pub event_searches: Vec<Value>,
    /// The answers the event search gave.
    pub event_answers: Vec<Value>,
}

pub type Shared = Arc<Mutex<Store>>;

impl Store {
    /// Requests that change something (POST, PUT, DELETE), 429s included.
    pub fn writes(&self) -> Vec<(String, String)> {
        self.requests
            .iter()
            .filter(|(m, _)| m != "GET")
            .cloned()
            .collect()
    }
}

fn seeded() -> Store {
    let mut s = Store {
        next_id: 1000,
        ..Store::default()
    };
    s.monitors.insert(
        1,
        json!({"id": 1, "name": "Foreign monitor", "type": "query alert", "query": "avg(last_5m):avg:other.metric{*} > 1", "message": "", "tags": ["team:other"], "options": {}}),
    );
    s.monitors.insert(
        2,
        json!({"id": 2, "name": "Retired alert", "type": "query alert", "query": "avg(last_5m):avg:treebeard.api.requests{*} > 1", "message": "", "tags": ["managed-by:treebeard"], "options": {}}),
    );
    s.dashboards.insert(
        "for-eig-n01".into(),
        json!({"id": "for-eig-n01", "title": "TreeBeard - Service Health", "description": "someone else's copy", "layout_type": "ordered", "widgets": []}),
    );
    s
}

async fn guard(
    State(store): State<Shared>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    store
        .lock()
        .unwrap()
        .requests
        .push((method.to_string(), uri.to_string()));
    if headers.get("DD-API-KEY").and_then(|v| v.to_str().ok()) != Some(GOOD_KEY) {
        return (
            StatusCode::FORBIDDEN,
            Json(json!({"errors": ["Forbidden"]})),
        )
            .into_response();
    }
    next.run(request).await
}

async fn list_monitors(
    State(store): State<Shared>,
    Query(q): Query<HashMap<String, String>>,
) -> Json<Value> {
    let s = store.lock().unwrap();
    let tag = q.get("monitor_tags").cloned().unwrap_or_default();
    let list: Vec<Value> = s
        .monitors
        .values()
        .filter(|m| {
            tag.is_empty()
                || m["tags"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|t| t == &json!(tag))
        })
        .cloned()
        .collect();
    Json(Value::Array(list))
}

/// The real API echoes the monitor with server fields and option defaults.
fn with_server_fields(mut body: Value, id: i64) -> Value {
    let obj = body.as_object_mut().unwrap();
    obj.insert("id".into(), json!(id));
    obj.insert("overall_state".into(), json!("No Data"));
    obj.insert("created".into(), json!("2024-01-01T00:00:00.000000+00:00"));
    if let Some(options) = obj.get_mut("options").and_then(Value::as_object_mut) {
        options.insert("notify_audit".into(), json!(false));
        options.insert("silenced".into(), json!({}));
        options.insert("new_host_delay".into(), json!(300));
    }
    body
}

async fn create_monitor(State(store): State<Shared>, Json(body): Json<Value>) -> Response {
    let mut s = store.lock().unwrap();
    if !s.sent_429 {
        s.sent_429 = true;
        return (
            StatusCode::TOO_MANY_REQUESTS,
            [("Retry-After", "0")],
            "rate limited",
        )
            .into_response();
    }
    s.next_id += 1;
    let id = s.next_id;
    let stored = with_server_fields(body, id);
    s.monitors.insert(id, stored.clone());
    Json(stored).into_response()
}

async fn update_monitor(
    State(store): State<Shared>,
    Path(id): Path<i64>,
    Json(body): Json<Value>,
) -> Response {
    let mut s = store.lock().unwrap();
    if !s.monitors.contains_key(&id) {
        return StatusCode::NOT_FOUND.into_response();
    }
    let stored = with_server_fields(body, id);
    s.monitors.insert(id, stored.clone());
    Json(stored).into_response()
}

async fn delete_monitor(State(store): State<Shared>, Path(id): Path<i64>) -> Response {
    match store.lock().unwrap().monitors.remove(&id) {
        Some(_) => Json(json!({"deleted_monitor_id": id})).into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

async fn list_dashboards(State(store): State<Shared>) -> Json<Value> {
    let s = store.lock().unwrap();
    let list: Vec<Value> = s
        .dashboards
        .values()
        .map(|d| json!({"id": d["id"], "title": d["title"], "description": d["description"], "layout_type": d["layout_type"]}))
        .collect();
    Json(json!({ "dashboards": list }))
}

async fn create_dashboard(State(store): State<Shared>, Json(mut body): Json<Value>) -> Json<Value> {
    let mut s = store.lock().unwrap();
    s.next_id += 1;
    let id = format!("abc-def-{:03}", s.next_id % 1000);
    body["id"] = json!(id);
    s.dashboards.insert(id, body.clone());
    Json(body)
}

async fn update_dashboard(
    State(store): State<Shared>,
    Path(id): Path<String>,
    Json(mut body): Json<Value>,
) -> Response {
    let mut s = store.lock().unwrap();
    if !s.dashboards.contains_key(&id) {
        return StatusCode::NOT_FOUND.into_response();
    }
    body["id"] = json!(id);
    s.dashboards.insert(id, body.clone());
    Json(body).into_response()
}

async fn delete_dashboard(State(store): State<Shared>, Path(id): Path<String>) -> Response {
    match store.lock().unwrap().dashboards.remove(&id) {
        Some(_) => Json(json!({"deleted_dashboard_id": id})).into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

/// Events served per page at most, whatever `page.limit` asks.
pub const EVENTS_PAGE_CAP: usize = 2;

/// A monitor alert event as DataDog's Events API v2 returns it
/// (`EventResponse`), for monitor `id` named `name`: `status` is `error`
/// (`[Triggered]`), `warning` (`[Warn]`) or `success` (`[Recovered]`).
pub fn monitor_event(
    id: i64,
    name: &str,
    status: &str,
    at_unix_ms: i64,
    tags: &[&str],
    groups: &[&str],
) -> Value {
    let prefix = match status {
        "error" => "Triggered",
        "warning" => "Warn",
        "success" => "Recovered",
        other => other,
    };
    let at = std::time::UNIX_EPOCH + std::time::Duration::from_millis(at_unix_ms as u64);
    json!({
        "id": format!("AAAAAZ{id}x{at_unix_ms}"),
        "type": "event",
        "attributes": {
            "timestamp": humantime::format_rfc3339_millis(at).to_string(),
            "message": format!("%%%\n{name}\n\n@pagerduty-treebeard-production\n%%%"),
            "tags": tags,
            "attributes": {
                "status": status,
                "timestamp": at_unix_ms,
                "title": format!("[{prefix}] {name}"),
                "priority": "normal",
                "source_type_name": "Monitor Alert",
                "monitor_id": id,
                "monitor_groups": groups,
                "monitor": {
                    "id": id,
                    "name": name,
                    "templated_name": name,
                    "type": "query alert",
                    "tags": tags,
                    "groups": groups,
                    "created_at": 1_767_225_600_000_i64,
                    "modified": 1_767_225_600_000_i64
                }
            }
        }
    })
}

/// `POST /api/v2/events/search`: `source:<s>` and `key:value` terms of the
/// query are matched against the event's source and tags; `from`/`to` are
/// RFC 3339; sorted by `sort`; paged with an opaque cursor.
async fn search_events(State(store): State<Shared>, Json(body): Json<Value>) -> Response {
    let mut s = store.lock().unwrap();
    s.event_searches.push(body.clone());
    let bad = |message: &str| {
        (StatusCode::BAD_REQUEST, Json(json!({"errors": [message]}))).into_response()
    };
    let filter = &body["filter"];
    let time = |key: &str| {
        filter[key]
            .as_str()
            .and_then(|t| humantime::parse_rfc3339(t).ok())
    };
    let (Some(from), Some(to)) = (time("from"), time("to")) else {
        return bad("filter.from and filter.to must be RFC 3339 times");
    };
    let query = filter["query"].as_str().unwrap_or("*");
    let ms = |t: std::time::SystemTime| {
        t.duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64
    };
    let (from, to) = (ms(from), ms(to));
    let mut matching: Vec<Value> = s
        .events
        .iter()
        .filter(|(source, event)| {
            let tags = event["attributes"]["tags"].as_array().unwrap();
            let at = event["attributes"]["attributes"]["timestamp"]
                .as_i64()
                .unwrap();
            (from..=to).contains(&at)
                && query
                    .split_whitespace()
                    .all(|term| match term.split_once(':') {
                        Some(("source", want)) => source == want,
                        Some(_) => tags.iter().any(|t| t == term),
                        None => term == "*",
                    })
        })
        .map(|(_, event)| event.clone())
        .collect();
    matching.sort_by_key(|e| e["attributes"]["attributes"]["timestamp"].as_i64());
    if body["sort"] == "-timestamp" {
        matching.reverse();
    }
    let limit = body["page"]["limit"].as_u64().unwrap_or(10) as usize;
    let size = limit.min(EVENTS_PAGE_CAP);
    let offset: usize = match body["page"]["cursor"].as_str() {
        None => 0,
        Some(c) => match c
            .strip_prefix("opaque-cursor-")
            .and_then(|n| n.parse().ok())
        {
            Some(n) => n,
            None => return bad("invalid page cursor"),
        },
    };
    let page: Vec<Value> = matching.iter().skip(offset).take(size).cloned().collect();
    let mut answer = json!({
        "data": page,
        "meta": {"elapsed": 12, "request_id": "pddv1ChZfake", "status": "done"}
    });
    if offset + size < matching.len() {
        let cursor = format!("opaque-cursor-{}", offset + size);
        answer["meta"]["page"] = json!({"after": cursor});
        answer["links"] = json!({"next": format!("https://api.datadoghq.com/api/v2/events?page%5Bcursor%5D={cursor}")});
    }
    s.event_answers.push(answer.clone());
    Json(answer).into_response()
}

/// Starts the fake on 127.0.0.1:0; returns its base URL and its store.
pub async fn start() -> (String, Shared) {
    start_with(Vec::new()).await
}

/// Starts the fake serving `events` (source, `EventResponse`) from the
/// events search.
pub async fn start_with(events: Vec<(String, Value)>) -> (String, Shared) {
    let mut store = seeded();
    store.events = events;
    let store: Shared = Arc::new(Mutex::new(store));
    let app = Router::new()
        .route(
            "/api/v1/validate",
            get(|| async { Json(json!({"valid": true})) }),
        )
        .route("/api/v1/monitor", get(list_monitors).post(create_monitor))
        .route(
            "/api/v1/monitor/{id}",
            axum::routing::put(update_monitor).delete(delete_monitor),
        )
        .route(
            "/api/v1/dashboard",
            get(list_dashboards).post(create_dashboard),
        )
        .route(
            "/api/v1/dashboard/{id}",
            axum::routing::put(update_dashboard).delete(delete_dashboard),
        )
        .route("/api/v2/events/search", axum::routing::post(search_events))
        .layer(axum::middleware::from_fn_with_state(store.clone(), guard))
        .with_state(store.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}"), store)
}
