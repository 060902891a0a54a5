//! Scrubbing of JSON values: Sentry events and structured log fields.

use serde_json::{Value, json};
use treebeard_pii::Scrubber;

fn scrubbed(mut value: Value) -> Value {
    Scrubber::global().scrub_json(&mut value);
    value
}

#[test]
fn sensitive_keys_are_redacted_whatever_their_type() {
    assert_eq!(
        scrubbed(json!({
            "password": "hunter2",
            "Api-Key": 12345,
            "client_secret": {"nested": "object"},
            "refresh_tokens": ["a", "b"],
            "cvv": 123,
            "session_id": true,
            "token": null,
            "username": "bob",
        })),
        json!({
            "password": "[REDACTED]",
            "Api-Key": "[REDACTED]",
            "client_secret": "[REDACTED]",
            "refresh_tokens": "[REDACTED]",
            "cvv": "[REDACTED]",
            "session_id": "[REDACTED]",
            "token": null,
            "username": "bob",
        })
    );
}

#[test]
fn strings_are_scrubbed_at_any_depth() {
    assert_eq!(
        scrubbed(json!({
            "event": {
                "message": "payment by bob@example.com failed",
                "extra": [["call +44 20 7946 0958"], {"note": "card 4111-1111-1111-1111"}],
                "request": {"url": "/login?password=x&next=/", "query_string": "token=abc"},
            }
        })),
        json!({
            "event": {
                "message": "payment by [EMAIL] failed",
                "extra": [["call [PHONE]"], {"note": "card [CARD]"}],
                "request": {"url": "/login?password=[REDACTED]&next=/", "query_string": "token=[REDACTED]"},
            }
        })
    );
}

#[test]
fn sentry_like_headers_object() {
    assert_eq!(
        scrubbed(json!({
            "headers": {
                "Authorization": "Bearer abc",
                "Cookie": "session=1",
                "Set-Cookie": "id=2; HttpOnly",
                "X-Api-Key": "k",
                "Content-Type": "application/json",
            }
        })),
        json!({
            "headers": {
                "Authorization": "[REDACTED]",
                "Cookie": "[REDACTED]",
                "Set-Cookie": "[REDACTED]",
                "X-Api-Key": "[REDACTED]",
                "Content-Type": "application/json",
            }
        })
    );
}

#[test]
fn card_numbers_stored_as_integers() {
    assert_eq!(
        scrubbed(json!({"n": 4111111111111111_u64, "id": 4111111111111112_u64, "small": 42})),
        json!({"n": "[CARD]", "id": 4111111111111112_u64, "small": 42})
    );
}

#[test]
fn keys_holding_pii_are_renamed_without_losing_entries() {
    assert_eq!(
        scrubbed(json!({
            "alice@example.com": 1,
            "bob@example.com": 2,
            "plain": 3,
        })),
        json!({
            "[EMAIL]": 1,
            "[EMAIL] (2)": 2,
            "plain": 3,
        })
    );
}

#[test]
fn json_scrubbing_is_idempotent_and_clean_values_are_untouched() {
    let clean = json!({
        "service": "treebeard-api",
        "status": 200,
        "duration_ms": 35.5,
        "ip": "127.0.0.1",
        "ids": ["ORD-123456789", "7f3c2a9e-4b1d-4e8a-9c6f-2d5e8b1a0c3f"],
        "ok": true,
        "none": null,
    });
    assert_eq!(scrubbed(clean.clone()), clean);

    let once = scrubbed(json!({"user": {"email": "a@b.co", "password": "x"}, "a@b.co": "k=v"}));
    assert_eq!(scrubbed(once.clone()), once);
}

#[test]
fn very_deep_values_do_not_overflow_the_stack() {
    let mut value = json!("bob@example.com");
    for _ in 0..100_000 {
        value = Value::Array(vec![value]);
    }
    Scrubber::global().scrub_json(&mut value);
    let mut inner = &value;
    while let Value::Array(items) = inner {
        inner = &items[0];
    }
    assert_eq!(inner, &json!("[EMAIL]"));
    // Dropping a deep Value recurses in serde_json itself; unwind it by hand.
    let mut current = value;
    while let Value::Array(mut items) = current {
        current = items.pop().unwrap_or(Value::Null);
    }
}
