//! Reading monitor alert history from DataDog's Events API v2
//! (`POST /api/v2/events/search`).
//!
//! The search asks for monitor alert events (`source:alert`) of the
//! monitors TreeBeard owns (their tag [`MANAGED_BY_TAG`]) in a time window,
//! oldest first, and follows the `meta.page.after` cursor for at most
//! [`MAX_PAGES`] pages. Each event is checked again on our side (tag,
//! monitor id, a known transition): what the search lets through but is not
//! a TreeBeard monitor's transition is skipped.

use std::time::{Duration, SystemTime};

use serde::Deserialize;
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::episodes::{MonitorEvent, Transition};
pub use crate::datadog_api::EVENTS_SEARCH_PATH;
use crate::datadog_api::{ApiError, DatadogClient};
use crate::monitors::MANAGED_BY_TAG;

/// Events asked for per page (the API's maximum).
pub const PAGE_LIMIT: u32 = 1000;

/// Pages read at most; more is an error rather than a partial digest.
pub const MAX_PAGES: usize = 20;

/// The search query: monitor alert events of TreeBeard's monitors.
pub fn query() -> String {
    format!("source:alert {MANAGED_BY_TAG}")
}

/// The body of one search request (`EventsListRequest`).
pub fn search_request(from: SystemTime, to: SystemTime, cursor: Option<&str>) -> Value {
    let mut page = json!({ "limit": PAGE_LIMIT });
    if let Some(cursor) = cursor {
        page["cursor"] = json!(cursor);
    }
    json!({
        "filter": {
            "query": query(),
            "from": rfc3339(from),
            "to": rfc3339(to),
        },
        "page": page,
        "sort": "timestamp",
    })
}

/// Reads the monitor alert events of TreeBeard's monitors between `from`
/// and `to`, every page.
pub async fn fetch(
    client: &DatadogClient,
    from: SystemTime,
    to: SystemTime,
) -> Result<Vec<MonitorEvent>, ApiError> {
    let mut events = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..MAX_PAGES {
        let answer = client
            .search_events(&search_request(from, to, cursor.as_deref()))
            .await?;
        let page = parse_page(&answer).map_err(|message| ApiError::Decode {
            path: EVENTS_SEARCH_PATH.into(),
            message,
        })?;
        events.extend(page.events);
        match page.next_cursor {
            Some(next) if Some(&next) != cursor.as_ref() => cursor = Some(next),
            _ => return Ok(events),
        }
    }
    Err(ApiError::Decode {
        path: EVENTS_SEARCH_PATH.into(),
        message: format!(
            "more than {MAX_PAGES} pages of {PAGE_LIMIT} monitor events: refusing to build a partial digest"
        ),
    })
}

/// One page of search results.
#[derive(Debug, Clone, PartialEq)]
pub struct Page {
    /// The TreeBeard monitor transitions of the page.
    pub events: Vec<MonitorEvent>,
    /// The cursor of the next page, if any.
    pub next_cursor: Option<String>,
}

/// Reads one `EventsListResponse`.
pub fn parse_page(answer: &Value) -> Result<Page, String> {
    let list: ListResponse =
        serde_json::from_value(answer.clone()).map_err(|e| format!("not an event list: {e}"))?;
    let next_cursor = list
        .meta
        .and_then(|m| m.page)
        .and_then(|p| p.after)
        .filter(|c| !c.is_empty());
    let events = list.data.into_iter().filter_map(monitor_event).collect();
    Ok(Page {
        events,
        next_cursor,
    })
}

fn monitor_event(event: EventResponse) -> Option<MonitorEvent> {
    let outer = event.attributes?;
    let inner = outer.attributes.unwrap_or_default();
    let monitor = inner.monitor.unwrap_or_default();
    let mut tags = outer.tags;
    for tag in inner.tags.into_iter().chain(monitor.tags) {
        if !tags.contains(&tag) {
            tags.push(tag);
        }
    }
    if !tags.iter().any(|t| t == MANAGED_BY_TAG) {
        return None;
    }
    let title = inner.title.unwrap_or_default();
    let transition = inner
        .status
        .as_deref()
        .and_then(Transition::from_status)
        .or_else(|| Transition::from_title(&title))?;
    let at = inner
        .timestamp
        .and_then(|ms| u64::try_from(ms).ok())
        .map(|ms| SystemTime::UNIX_EPOCH + Duration::from_millis(ms))
        .or_else(|| outer.timestamp.as_deref().and_then(parse_rfc3339))?;
    let monitor_id = inner.monitor_id.or(monitor.id)?;
    let name = monitor
        .name
        .or(monitor.templated_name)
        .unwrap_or_else(|| strip_title_prefix(&title).to_owned());
    let mut groups = inner.monitor_groups.unwrap_or_default();
    groups.sort();
    let mut event = MonitorEvent::new(monitor_id, name, transition, at).with_tags(tags);
    if !groups.is_empty() {
        event = event.with_group(groups.join(","));
    }
    Some(event)
}

/// `Error rate` from `[Triggered] Error rate`.
fn strip_title_prefix(title: &str) -> &str {
    match title.strip_prefix('[').and_then(|t| t.split_once(']')) {
        Some((_, rest)) => rest.trim(),
        None => title.trim(),
    }
}

/// Parses an RFC 3339 time (`2026-01-15T07:00:00Z`, `...+01:00`).
pub fn parse_rfc3339(text: &str) -> Option<SystemTime> {
    OffsetDateTime::parse(text.trim(), &Rfc3339)
        .ok()
        .map(SystemTime::from)
}

/// Formats a time as RFC 3339 in UTC, to the second.
pub fn rfc3339(at: SystemTime) -> String {
    humantime::format_rfc3339_seconds(at).to_string()
}

// The parts of DataDog's `EventsListResponse` the digest reads; everything
// is optional so that a field DataDog leaves out skips one event at most.

#[derive(Deserialize)]
struct ListResponse {
    #[serde(default)]
    data: Vec<EventResponse>,
    #[serde(default)]
    meta: Option<Meta>,
}

#[derive(Deserialize)]
struct Meta {
    #[serde(default)]
    page: Option<MetaPage>,
}

#[derive(Deserialize)]
struct MetaPage {
    #[serde(default)]
    after: Option<String>,
}

#[derive(Deserialize)]
struct EventResponse {
    #[serde(default)]
    attributes: Option<ResponseAttributes>,
}

#[derive(Deserialize)]
struct ResponseAttributes {
    #[serde(default)]
    timestamp: Option<String>,
    #[serde(default)]
    tags: Vec<String>,
    #[serde(default)]
    attributes: Option<EventAttributes>,
}

#[derive(Default, Deserialize)]
struct EventAttributes {
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    timestamp: Option<i64>,
    #[serde(default)]
    title: Option<String>,
    #[serde(default)]
    monitor_id: Option<i64>,
    #[serde(default)]
    monitor_groups: Option<Vec<String>>,
    #[serde(default)]
    monitor: Option<MonitorAttributes>,
    #[serde(default)]
    tags: Vec<String>,
}

#[derive(Default, Deserialize)]
struct MonitorAttributes {
    #[serde(default)]
    id: Option<i64>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    templated_name: Option<String>,
    #[serde(default)]
    tags: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_page_and_skips_foreign_and_non_transition_events() {
        let answer = json!({
            "data": [
                {"id": "a", "type": "event", "attributes": {
                    "timestamp": "2026-01-15T01:00:00Z",
                    "tags": ["managed-by:treebeard", "severity:critical"],
                    "attributes": {"status": "error", "timestamp": 1_768_438_800_000_i64,
                        "title": "[Triggered] Error rate above 1%", "monitor_id": 7,
                        "monitor_groups": ["host:b", "env:prod"],
                        "monitor": {"id": 7, "name": "Error rate above 1%"}}}},
                {"id": "b", "type": "event", "attributes": {
                    "tags": ["team:other"],
                    "attributes": {"status": "error", "timestamp": 1, "monitor_id": 8}}},
                {"id": "c", "type": "event", "attributes": {
                    "tags": ["managed-by:treebeard"],
                    "attributes": {"status": "info", "timestamp": 1, "monitor_id": 7}}},
                {"id": "d", "type": "event", "attributes": {
                    "timestamp": "2026-01-15T02:00:00+01:00",
                    "attributes": {"title": "[Recovered] Error rate above 1%", "monitor_id": 7,
                        "monitor": {"tags": ["managed-by:treebeard"]}}}}
            ],
            "meta": {"page": {"after": "next-1"}}
        });
        let page = parse_page(&answer).unwrap();
        assert_eq!(page.next_cursor.as_deref(), Some("next-1"));
        assert_eq!(page.events.len(), 2);
        let first = &page.events[0];
        assert_eq!(first.transition, Transition::Alert);
        assert_eq!(first.group.as_deref(), Some("env:prod,host:b"));
        assert_eq!(rfc3339(first.at), "2026-01-15T01:00:00Z");
        let second = &page.events[1];
        assert_eq!(second.transition, Transition::Recovered);
        assert_eq!(second.monitor_name, "Error rate above 1%");
        assert_eq!(rfc3339(second.at), "2026-01-15T01:00:00Z");
    }

    #[test]
    fn not_a_list_is_an_error() {
        assert!(parse_page(&json!({"data": "nope"})).is_err());
        assert!(parse_page(&json!({})).unwrap().events.is_empty());
    }

    #[test]
    fn request_names_the_window_and_cursor() {
        let from = parse_rfc3339("2026-01-14T07:00:00Z").unwrap();
        let to = parse_rfc3339("2026-01-15T07:00:00Z").unwrap();
        let body = search_request(from, to, Some("c1"));
        assert_eq!(body["filter"]["query"], "source:alert managed-by:treebeard");
        assert_eq!(body["filter"]["from"], "2026-01-14T07:00:00Z");
        assert_eq!(body["page"]["cursor"], "c1");
        assert_eq!(body["sort"], "timestamp");
    }
}
