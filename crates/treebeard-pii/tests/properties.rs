//! Property tests: no input panics, scrubbing is idempotent, and generated
//! PII never survives.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers outside #[test] fns

use proptest::prelude::*;
use serde_json::json;
use treebeard_pii::Scrubber;

/// Pieces that exercise every detector and the boundaries between them.
const FRAGMENTS: &[&str] = &[
    "bob@example.com",
    "a.b+c@x-y.co.uk",
    "@",
    ".",
    "+1 (555) 123-4567",
    "555-123-4567",
    "020 7946 0958",
    "+44",
    "4111 1111 1111 1111",
    "4111111111111111",
    "4111-1111-1111-1112",
    "5555555555554444",
    "123",
    "2026-11-27",
    "127.0.0.1",
    "8080",
    "7f3c2a9e-4b1d-4e8a-9c6f-2d5e8b1a0c3f",
    "ORD-123456789",
    "password",
    "api_key",
    "token",
    "Authorization",
    "Bearer",
    "abc123def456",
    "sk_live_4eC39HqLyjWDarjtT1zdp7dc",
    "AKIAIOSFODNN7EXAMPLE",
    "eyJhbGciOi.eyJzdWIiOi.sig",
    "xoxb-1234567890-abc",
    "https://u:p@h/x?y=1",
    "[REDACTED]",
    "[EMAIL]",
    "[CARD]",
    "\\\"",
    "\"",
    "'",
    "é",
    "日本",
    "{",
    "}",
];

const SEPARATORS: &[&str] = &[
    "", " ", "-", ".", "=", ":", ": ", "&", "?", "/", "\"", "'", ",", "\n",
];

/// Strings assembled from [`FRAGMENTS`] and [`SEPARATORS`].
fn piiish() -> impl Strategy<Value = String> {
    prop::collection::vec(
        (
            prop::sample::select(FRAGMENTS),
            prop::sample::select(SEPARATORS),
        ),
        0..10,
    )
    .prop_map(|parts| {
        parts
            .into_iter()
            .flat_map(|(fragment, separator)| [fragment, separator])
            .collect()
    })
}

/// A Luhn-valid card number of 13–19 digits starting with 2–6.
fn card_number() -> impl Strategy<Value = String> {
    (2u8..=6, prop::collection::vec(0u8..=9, 11..=17)).prop_map(|(first, rest)| {
        let mut digits: Vec<u8> = std::iter::once(first).chain(rest).collect();
        // The check digit makes the Luhn sum a multiple of ten.
        let sum: u32 = digits
            .iter()
            .rev()
            .enumerate()
            .map(|(i, &d)| {
                let d = u32::from(d);
                if i % 2 == 0 {
                    let doubled = d * 2;
                    if doubled > 9 { doubled - 9 } else { doubled }
                } else {
                    d
                }
            })
            .sum();
        digits.push(u8::try_from((10 - sum % 10) % 10).unwrap());
        digits.iter().map(|d| char::from(b'0' + d)).collect()
    })
}

/// `digits` grouped by fours with `separator`.
fn group(digits: &str, separator: &str) -> String {
    digits
        .as_bytes()
        .chunks(4)
        .map(|chunk| std::str::from_utf8(chunk).unwrap())
        .collect::<Vec<_>>()
        .join(separator)
}

fn email() -> impl Strategy<Value = String> {
    (
        "[a-z0-9][a-z0-9._+-]{0,15}",
        "[a-z0-9][a-z0-9-]{0,10}",
        prop::collection::vec("[a-z]{2,6}", 1..3),
    )
        .prop_map(|(local, domain, labels)| format!("{local}@{domain}.{}", labels.join(".")))
}

/// Prose around a finding, ending and starting with a space.
fn context() -> impl Strategy<Value = (String, String)> {
    ("[A-Za-z,;: ]{0,20}", "[A-Za-z,;: ]{0,20}")
        .prop_map(|(before, after)| (format!("{before} "), format!(" {after}")))
}

/// 2000 cases per property unless `PROPTEST_CASES` says otherwise.
fn config() -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|cases| cases.parse().ok())
        .unwrap_or(2000);
    ProptestConfig::with_cases(cases)
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn never_panics_on_arbitrary_strings(s in any::<String>()) {
        let scrubber = Scrubber::global();
        let _ = scrubber.scrub(&s);
        let _ = scrubber.scrub_query(&s);
        let _ = scrubber.scrub_url(&s);
        let _ = scrubber.scrub_header_value(&s, &s);
        let _ = treebeard_pii::hash_user_id(s.as_bytes(), &s);
        let mut value = json!({ s.clone(): [s.clone(), { "password": s.clone() }] });
        scrubber.scrub_json(&mut value);
    }

    #[test]
    fn never_panics_on_piiish_strings(s in piiish()) {
        let scrubber = Scrubber::global();
        let _ = scrubber.scrub_query(&s);
        let _ = scrubber.scrub_url(&s);
        let mut value = json!({ s.clone(): s.clone() });
        scrubber.scrub_json(&mut value);
    }

    #[test]
    fn scrub_is_idempotent_on_arbitrary_strings(s in any::<String>()) {
        let scrubber = Scrubber::global();
        let once = scrubber.scrub(&s);
        prop_assert_eq!(scrubber.scrub(&once), once.clone());
    }

    #[test]
    fn scrub_is_idempotent_on_piiish_strings(s in piiish()) {
        let scrubber = Scrubber::global();
        let once = scrubber.scrub(&s);
        prop_assert_eq!(scrubber.scrub(&once), once.clone());
    }

    #[test]
    fn query_and_url_scrubbing_are_idempotent(s in piiish()) {
        let scrubber = Scrubber::global();
        let query = scrubber.scrub_query(&s);
        prop_assert_eq!(scrubber.scrub_query(&query), query.clone());
        let url = scrubber.scrub_url(&s);
        prop_assert_eq!(scrubber.scrub_url(&url), url.clone());
    }

    #[test]
    fn valid_cards_never_survive(
        card in card_number(),
        separator in prop::sample::select(&["", " ", "-"][..]),
        (before, after) in context(),
    ) {
        let formatted = group(&card, separator);
        let text = format!("{before}{formatted}{after}");
        let out = Scrubber::global().scrub(&text);
        prop_assert!(!out.contains(&formatted), "{text:?} -> {out:?}");
        prop_assert!(out.contains("[CARD]"), "{text:?} -> {out:?}");
    }

    #[test]
    fn emails_never_survive(address in email(), (before, after) in context()) {
        let text = format!("{before}{address}{after}");
        let out = Scrubber::global().scrub(&text);
        prop_assert!(!out.contains(&address), "{text:?} -> {out:?}");
        prop_assert!(!out.contains('@'), "{text:?} -> {out:?}");
    }

    #[test]
    fn values_of_sensitive_keys_never_survive(
        key in prop::sample::select(treebeard_pii::DEFAULT_SENSITIVE_KEYS),
        value in "[A-Za-z0-9!$%*+/^_~-]{1,30}",
        style in 0usize..4,
    ) {
        let render = |value: &str| match style {
            0 => format!("{key}={value}&next=1"),
            1 => format!("{key}: {value} next"),
            2 => format!("{{\"{key}\": \"{value}\"}}"),
            _ => format!("{{\\\"{key}\\\":\\\"{value}\\\"}}"),
        };
        let text = render(&value);
        let out = Scrubber::global().scrub(&text);
        prop_assert_eq!(out, render("[REDACTED]"));
    }
}
