//! The PII scrubber over everything a Sentry event carries (the client's
//! `before_send`).

use std::collections::BTreeMap;

use ::sentry::protocol::{Breadcrumb, Context, Event, Map, Request, User, Value};
use treebeard_pii::Scrubber;

/// Tags TreeBeard sets from its own IDs: decimal trace IDs can look like
/// card numbers to the scrubber (see docs/privacy.md), so they are kept.
const OWN_TAGS: [&str; 3] = ["dd.trace_id", "dd.span_id", "http.route"];

/// Scrubs `event` in place: messages, exception values, breadcrumbs,
/// extra, contexts, tags, request data and the user (only the ID is kept
/// unless `send_pii`). Also forces a valid Sentry platform.
pub(crate) fn scrub_event(scrubber: &Scrubber, send_pii: bool, event: &mut Event<'static>) {
    // Sentry knows no `rust` platform; Rust SDK events are `native`.
    event.platform = "native".into();
    scrub_opt(scrubber, &mut event.message);
    if let Some(entry) = &mut event.logentry {
        scrub_string(scrubber, &mut entry.message);
        for param in &mut entry.params {
            scrubber.scrub_json(param);
        }
    }
    for exception in event.exception.values.iter_mut() {
        scrub_opt(scrubber, &mut exception.value);
        if let Some(mechanism) = &mut exception.mechanism {
            scrub_opt(scrubber, &mut mechanism.description);
            scrub_map(scrubber, &mut mechanism.data);
        }
    }
    for breadcrumb in event.breadcrumbs.values.iter_mut() {
        scrub_breadcrumb(scrubber, breadcrumb);
    }
    scrub_map(scrubber, &mut event.extra);
    for context in event.contexts.values_mut() {
        if let Context::Other(map) = context {
            scrub_map(scrubber, map);
        }
    }
    scrub_tags(scrubber, &mut event.tags);
    if let Some(request) = &mut event.request {
        scrub_request(scrubber, send_pii, request);
    }
    if let Some(user) = &mut event.user
        && !send_pii
    {
        *user = User {
            id: user.id.take(),
            ..Default::default()
        };
    }
}

fn scrub_string(scrubber: &Scrubber, s: &mut String) {
    if let std::borrow::Cow::Owned(clean) = scrubber.scrub(s) {
        *s = clean;
    }
}

fn scrub_opt(scrubber: &Scrubber, s: &mut Option<String>) {
    if let Some(s) = s {
        scrub_string(scrubber, s);
    }
}

/// Scrubs tags: the values of sensitive keys are redacted whole, the
/// rest scrubbed; TreeBeard's own IDs are kept.
pub(crate) fn scrub_tags(scrubber: &Scrubber, tags: &mut Map<String, String>) {
    for (key, value) in tags.iter_mut() {
        if OWN_TAGS.contains(&key.as_str()) {
            continue;
        }
        if scrubber.is_sensitive_key(key) {
            *value = treebeard_pii::markers::REDACTED.to_owned();
        } else {
            scrub_string(scrubber, value);
        }
    }
}

/// Scrubs a map as one JSON object, so sensitive keys are redacted whole.
pub(crate) fn scrub_map(scrubber: &Scrubber, map: &mut Map<String, Value>) {
    if map.is_empty() {
        return;
    }
    let mut object = Value::Object(std::mem::take(map).into_iter().collect());
    scrubber.scrub_json(&mut object);
    if let Value::Object(clean) = object {
        *map = clean.into_iter().collect();
    }
}

fn scrub_breadcrumb(scrubber: &Scrubber, breadcrumb: &mut Breadcrumb) {
    scrub_opt(scrubber, &mut breadcrumb.message);
    scrub_map(scrubber, &mut breadcrumb.data);
}

fn scrub_request(scrubber: &Scrubber, send_pii: bool, request: &mut Request) {
    if let Some(url) = &request.url
        && let std::borrow::Cow::Owned(clean) = scrubber.scrub_url(url.as_str())
    {
        request.url = clean.parse().ok();
    }
    if let Some(query) = &mut request.query_string
        && let std::borrow::Cow::Owned(clean) = scrubber.scrub_query(query)
    {
        *query = clean;
    }
    // Sensitive headers are never sent, PII or not: they are credentials.
    let headers: BTreeMap<String, String> = std::mem::take(&mut request.headers)
        .into_iter()
        .filter(|(name, _)| !scrubber.is_sensitive_header(name))
        .map(|(name, value)| {
            let value = scrubber.scrub_header_value(&name, &value).into_owned();
            (name, value)
        })
        .collect();
    request.headers = headers;
    request.cookies = None;
    if let Some(data) = &mut request.data {
        match serde_json::from_str::<Value>(data) {
            Ok(mut json) => {
                scrubber.scrub_json(&mut json);
                *data = json.to_string();
            }
            Err(_) => scrub_string(scrubber, data),
        }
    }
    if !send_pii {
        request.env.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ::sentry::protocol::{Exception, LogEntry};

    fn scrubbed(mut event: Event<'static>, pii: bool) -> Event<'static> {
        scrub_event(Scrubber::global(), pii, &mut event);
        event
    }

    #[test]
    fn scrubs_every_text_an_event_carries() {
        let mut extra = Map::new();
        extra.insert("password".into(), "hunter2".into());
        extra.insert("note".into(), "call +44 20 7946 0958".into());
        let mut crumb_data = Map::new();
        crumb_data.insert("email".into(), "bob@example.com".into());
        let mut fields = Map::new();
        fields.insert("card".into(), "4111 1111 1111 1111".into());
        let event = Event {
            platform: "rust".into(),
            message: Some("login failed for bob@example.com".into()),
            logentry: Some(LogEntry {
                message: "token=abc123secret".into(),
                params: vec!["alice@example.org".into()],
            }),
            exception: vec![Exception {
                ty: "DbError".into(),
                value: Some("card 4111-1111-1111-1111 declined".into()),
                ..Default::default()
            }]
            .into(),
            breadcrumbs: vec![Breadcrumb {
                message: Some("sent to bob@example.com".into()),
                data: crumb_data,
                ..Default::default()
            }]
            .into(),
            extra,
            contexts: [("Rust Tracing Fields".to_owned(), Context::Other(fields))].into(),
            tags: [
                ("dd.trace_id".to_owned(), "4111111111111111".to_owned()),
                ("customer".to_owned(), "bob@example.com".to_owned()),
                ("api_key".to_owned(), "k".to_owned()),
            ]
            .into(),
            request: Some(Request {
                url: "http://api/users/bob@example.com?password=x&page=2"
                    .parse()
                    .ok(),
                query_string: Some("password=x&page=2&email=bob%40example.com".into()),
                headers: [
                    ("authorization".to_owned(), "Bearer abcdef123456".to_owned()),
                    ("Cookie".to_owned(), "sid=1".to_owned()),
                    ("x-api-key".to_owned(), "k".to_owned()),
                    ("user-agent".to_owned(), "curl/8".to_owned()),
                    ("x-note".to_owned(), "for bob@example.com".to_owned()),
                ]
                .into(),
                data: Some(r#"{"password":"hunter2","n":1}"#.into()),
                env: [("REMOTE_ADDR".to_owned(), "10.0.0.1".to_owned())].into(),
                ..Default::default()
            }),
            user: Some(User {
                id: Some("9f86d081".into()),
                email: Some("bob@example.com".into()),
                username: Some("bob".into()),
                ..Default::default()
            }),
            ..Default::default()
        };
        let event = scrubbed(event, false);
        let json = serde_json::to_string(&event).unwrap();
        for secret in [
            "bob@example.com",
            "alice@example.org",
            "hunter2",
            "abc123secret",
            "4111-1111-1111-1111",
            "4111 1111 1111 1111",
            "7946 0958",
            "abcdef123456",
            "sid=1",
            "10.0.0.1",
            "\"bob\"",
        ] {
            assert!(!json.contains(secret), "{secret} leaked: {json}");
        }
        assert_eq!(event.platform, "native");
        assert_eq!(
            event.tags["dd.trace_id"], "4111111111111111",
            "own IDs kept"
        );
        assert_eq!(event.tags["api_key"], "[REDACTED]");
        let request = event.request.unwrap();
        assert_eq!(
            request.headers.keys().collect::<Vec<_>>(),
            ["user-agent", "x-note"]
        );
        assert!(
            request.query_string.unwrap().contains("page=2"),
            "non-secrets kept"
        );
        assert_eq!(event.user.unwrap().id.as_deref(), Some("9f86d081"));
    }

    #[test]
    fn pii_opt_in_keeps_the_user_but_never_credentials() {
        let event = Event {
            user: Some(User {
                id: Some("h".into()),
                email: Some("bob@example.com".into()),
                ..Default::default()
            }),
            request: Some(Request {
                headers: [("authorization".to_owned(), "Bearer abcdef123456".to_owned())].into(),
                ..Default::default()
            }),
            ..Default::default()
        };
        let event = scrubbed(event, true);
        assert_eq!(
            event.user.unwrap().email.as_deref(),
            Some("bob@example.com")
        );
        assert!(event.request.unwrap().headers.is_empty());
    }

    #[test]
    fn clean_look_alikes_are_left_alone() {
        let event = Event {
            message: Some("order ORD-123456789, card 4111 1111 1111 1112, 42 items".into()),
            ..Default::default()
        };
        assert_eq!(
            scrubbed(event, false).message.as_deref(),
            Some("order ORD-123456789, card 4111 1111 1111 1112, 42 items")
        );
    }
}
