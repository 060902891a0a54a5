//! One test per category of PII: what must be scrubbed and, just as
//! important, what must be left alone.

use std::borrow::Cow;

use treebeard_pii::{BuildError, Scrubber};

fn scrub(s: &str) -> String {
    Scrubber::global().scrub(s).into_owned()
}

/// Asserts that `s` comes back borrowed (untouched, no allocation).
#[track_caller]
fn assert_clean(s: &str) {
    let out = Scrubber::global().scrub(s);
    assert!(
        matches!(out, Cow::Borrowed(_)),
        "expected {s:?} to be left alone, got {out:?}"
    );
}

#[test]
fn emails() {
    assert_eq!(scrub("bob@example.com"), "[EMAIL]");
    assert_eq!(
        scrub("to: Bob.Smith+tag@mail.example.co.uk, cc"),
        "to: [EMAIL], cc"
    );
    assert_eq!(scrub("<alice_99@sub-domain.io>"), "<[EMAIL]>");
    assert_eq!(scrub("a@b.co and c@d.org"), "[EMAIL] and [EMAIL]");
    assert_clean("user@localhost");
    assert_clean("@mention and foo@ and @bar");
    assert_clean("git ref v1.2.3@abc");
}

#[test]
fn phones() {
    for (input, expected) in [
        ("call +1 (555) 123-4567 now", "call [PHONE] now"),
        ("call +1-555-123-4567", "call [PHONE]"),
        ("tel:+442079460958", "tel:[PHONE]"),
        ("+44 20 7946 0958", "[PHONE]"),
        ("+33 6 12 34 56 78", "[PHONE]"),
        ("+49 (0)30 1234567", "[PHONE]"),
        ("(555) 123-4567", "[PHONE]"),
        ("555-123-4567", "[PHONE]"),
        ("555.123.4567.", "[PHONE]."),
        ("phone 555 123 4567", "phone [PHONE]"),
        ("1-800-555-1234", "[PHONE]"),
        ("020 7946 0958", "[PHONE]"),
        ("07700 900123", "[PHONE]"),
        ("01 23 45 67 89", "[PHONE]"),
        ("030 12345678", "[PHONE]"),
    ] {
        assert_eq!(scrub(input), expected, "input {input:?}");
    }
}

#[test]
fn ordinary_numbers_are_not_phones() {
    for input in [
        "42",
        "2026-11-27",
        "2026-11-27T10:30:45.123Z",
        "12:30:45",
        "order ORD-123456789 shipped",
        "ORD-555-123-4567",
        "epoch 1732675200 ms 1732675200123",
        "listening on 0.0.0.0:8080 and [::1]:443",
        "127.0.0.1",
        "192.168.100.200",
        "version 10.4.1234.5678",
        "id 123e4567-e89b-12d3-a456-426614174000",
        "id 12345678-1234-1234-1234-123456789012",
        "took 1234567 ns",
        "+1 vote",
        "a+12345678",
        "12 345 678",
        "price 1 234 567,89",
        "user 48213 page 2 of 17",
    ] {
        assert_clean(input);
    }
}

#[test]
fn cards() {
    for (input, expected) in [
        ("4111111111111111", "[CARD]"),
        ("card 4111 1111 1111 1111 ok", "card [CARD] ok"),
        ("4111-1111-1111-1111", "[CARD]"),
        ("amex 3782 822463 10005", "amex [CARD]"),
        ("mc 5555555555554444", "mc [CARD]"),
        ("visa13 4222222222222", "visa13 [CARD]"),
        ("discover 6011111111111117.", "discover [CARD]."),
        // The CVV behind the number does not hide it.
        ("4111 1111 1111 1111 123", "[CARD] 123"),
        (
            "/payments/4111111111111111/refund",
            "/payments/[CARD]/refund",
        ),
    ] {
        assert_eq!(scrub(input), expected, "input {input:?}");
    }
}

#[test]
fn invalid_cards_are_left_alone() {
    for input in [
        // Luhn-invalid.
        "4111111111111112",
        "4111 1111 1111 1112",
        "order 5555555555554445",
        // Too short or too long.
        "411111111111",
        "41111111111111111111",
        // Not a major-network first digit (millisecond timestamp, snowflake).
        "1732675200123",
        "1234567890123456789",
        // Part of an identifier.
        "ORD-4111111111111111",
        "tx4111111111111111",
        "4111111111111111abc",
    ] {
        assert_clean(input);
    }
}

#[test]
fn tokens() {
    let jwt = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.\
               eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIn0.\
               SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c";
    for (input, expected) in [
        (
            "Bearer abc123def456ghi789".to_owned(),
            "Bearer [TOKEN]".to_owned(),
        ),
        (
            "sent bearer 9f8e7d6c5b4a".to_owned(),
            "sent bearer [TOKEN]".to_owned(),
        ),
        (format!("jwt {jwt} end"), "jwt [TOKEN] end".to_owned()),
        (
            "key sk_live_4eC39HqLyjWDarjtT1zdp7dc".to_owned(),
            "key [TOKEN]".to_owned(),
        ),
        (
            "sk_test_4eC39HqLyjWDarjtT1zdp7dc".to_owned(),
            "[TOKEN]".to_owned(),
        ),
        ("rk_live_51H8abcdefGHIJ".to_owned(), "[TOKEN]".to_owned()),
        (
            "slack xoxb-123456789012-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx".to_owned(),
            "slack [TOKEN]".to_owned(),
        ),
        (
            "xoxp-1234567890-abcdefghij".to_owned(),
            "[TOKEN]".to_owned(),
        ),
        ("xoxa-2-abcdefghijkl".to_owned(), "[TOKEN]".to_owned()),
        (
            "aws AKIAIOSFODNN7EXAMPLE.".to_owned(),
            "aws [TOKEN].".to_owned(),
        ),
        ("ASIAY34FZKBOKMUTVV7A".to_owned(), "[TOKEN]".to_owned()),
        (
            "ghp_1234567890abcdefghijABCDEFGHIJ123456".to_owned(),
            "[TOKEN]".to_owned(),
        ),
        (
            "github_pat_11ABCDEFG0123456789_abcdefghijklmnop".to_owned(),
            "[TOKEN]".to_owned(),
        ),
    ] {
        assert_eq!(scrub(&input), expected, "input {input:?}");
    }
}

#[test]
fn token_look_alikes_are_left_alone() {
    for input in [
        "Bearer authentication is required",
        "bearer token missing",
        "sk_live_ (prefix only)",
        "AKIA is the prefix of AWS key IDs",
        "eyJ is how JSON looks in base64",
        "ghp_short",
    ] {
        assert_clean(input);
    }
}

#[test]
fn secrets_by_key_name() {
    for (input, expected) in [
        ("password=hunter2", "password=[REDACTED]"),
        (
            "GET /login?user=bob&password=hunter2&token=abc123 200",
            "GET /login?user=bob&password=[REDACTED]&token=[REDACTED] 200",
        ),
        ("passwd: s3cr3t next", "passwd: [REDACTED] next"),
        ("PWD=x", "PWD=[REDACTED]"),
        ("db_password = 'p a s s'", "db_password = '[REDACTED]'"),
        (
            r#"{"Password": "p@ss \"quoted\"", "user": "bob"}"#,
            r#"{"Password": "[REDACTED]", "user": "bob"}"#,
        ),
        (
            r#"body={\"api_key\":\"abc\",\"n\":1}"#,
            r#"body={\"api_key\":\"[REDACTED]\",\"n\":1}"#,
        ),
        ("Api-Key: 12345", "Api-Key: [REDACTED]"),
        ("apiKey=12345", "apiKey=[REDACTED]"),
        ("x-api-key: abc", "x-api-key: [REDACTED]"),
        (
            "client_secret=abc&grant_type=x",
            "client_secret=[REDACTED]&grant_type=x",
        ),
        (
            "refresh_token=r1;access_token=a1",
            "refresh_token=[REDACTED];access_token=[REDACTED]",
        ),
        (
            "Authorization: Basic dXNlcjpwYXNz",
            "Authorization: [REDACTED]",
        ),
        (
            "authorization=Bearer abc.def.ghi, next",
            "authorization=[REDACTED], next",
        ),
        ("private_key=-----BEGIN", "private_key=[REDACTED]"),
        ("credit_card=4111", "credit_card=[REDACTED]"),
        ("card_number: 1234", "card_number: [REDACTED]"),
        ("cvv=123", "cvv=[REDACTED]"),
        ("ssn: 123-45-6789", "ssn: [REDACTED]"),
        ("invalid password: letmein", "invalid password: [REDACTED]"),
    ] {
        assert_eq!(scrub(input), expected, "input {input:?}");
    }
}

#[test]
fn key_look_alikes_are_left_alone() {
    for input in [
        "password reset requested",
        "token::Kind and secret::Secret",
        "tokens_used == 5",
        "cache_key=recommendations:v2",
        "classname=Foo",
        "secret=[REDACTED]",
        "password=",
        "secret: {\"nested\": true}",
    ] {
        assert_clean(input);
    }
}

#[test]
fn url_passwords_in_text() {
    assert_eq!(
        scrub("connect postgres://app:pa55word@db:5432/main failed"),
        "connect postgres://app:[REDACTED]@db:5432/main failed"
    );
    assert_clean("see https://example.com:8443/path");
}

#[test]
fn ips_uuids_and_dates_survive_a_busy_line() {
    let line = "2026-11-27T02:25:52Z 127.0.0.1:8080 req=7f3c2a9e-4b1d-4e8a-9c6f-2d5e8b1a0c3f \
                user=bob@example.com status=200";
    assert_eq!(
        scrub(line),
        "2026-11-27T02:25:52Z 127.0.0.1:8080 req=7f3c2a9e-4b1d-4e8a-9c6f-2d5e8b1a0c3f \
         user=[EMAIL] status=200"
    );
}

#[test]
fn non_ascii_text() {
    assert_eq!(
        scrub("Grüße an jürgen@example.de — Tel. +49 30 1234567 ✓"),
        "Grüße an [EMAIL] — Tel. [PHONE] ✓"
    );
    assert_eq!(scrub("mail jürgen@müller.de"), "mail [EMAIL]");
    assert_clean("日本語のテキスト、番号なし");
}

#[test]
fn sensitive_headers() {
    let s = Scrubber::global();
    for name in [
        "Authorization",
        "proxy-authorization",
        "COOKIE",
        "Set-Cookie",
        "X-Api-Key",
        "X-Csrf-Token",
        "X-Auth-Token",
    ] {
        assert!(s.is_sensitive_header(name), "{name}");
        assert_eq!(s.scrub_header_value(name, "anything"), "[REDACTED]");
    }
    for name in [
        "Accept",
        "Content-Type",
        "User-Agent",
        "X-Request-Id",
        "Host",
    ] {
        assert!(!s.is_sensitive_header(name), "{name}");
    }
    assert_eq!(
        s.scrub_header_value("Referer", "https://x.test/?email=bob@example.com"),
        "https://x.test/?email=[EMAIL]"
    );
    assert!(matches!(
        s.scrub_header_value("Accept", "application/json"),
        Cow::Borrowed(_)
    ));
}

#[test]
fn queries() {
    let s = Scrubber::global();
    assert_eq!(
        s.scrub_query("user=bob%40example.com&password=p%40ss&page=2"),
        "user=[EMAIL]&password=[REDACTED]&page=2"
    );
    assert_eq!(
        s.scrub_query("?Access-Token=abc&q=hello+world"),
        "?Access-Token=[REDACTED]&q=hello+world"
    );
    assert_eq!(
        s.scrub_query("note=call+me+on+%2B44+20+7946+0958&x"),
        "note=call%20me%20on%20[PHONE]&x"
    );
    assert_eq!(s.scrub_query("bob@example.com"), "[EMAIL]");
    assert_eq!(s.scrub_query("api%5Fkey=abc"), "api%5Fkey=[REDACTED]");
    for clean in [
        "",
        "?",
        "a=1&b=2",
        "&&=&",
        "password=",
        "q=%ZZ%",
        "token=[REDACTED]",
    ] {
        assert!(matches!(s.scrub_query(clean), Cow::Borrowed(_)), "{clean}");
    }
}

#[test]
fn urls() {
    let s = Scrubber::global();
    assert_eq!(
        s.scrub_url("https://user:secret@example.com/a?b=1"),
        "https://user:[REDACTED]@example.com/a?b=1"
    );
    assert_eq!(
        s.scrub_url("https://bob%40example.com:pw@host/"),
        "https://[EMAIL]:[REDACTED]@host/"
    );
    assert_eq!(
        s.scrub_url("/users/bob@example.com/orders?card=4111111111111111"),
        "/users/[EMAIL]/orders?card=[CARD]"
    );
    assert_eq!(
        s.scrub_url("https://app.test/cb#access_token=abc&state=1"),
        "https://app.test/cb#access_token=[REDACTED]&state=1"
    );
    for clean in [
        "",
        "https://example.com",
        "https://user@example.com/path",
        "http://127.0.0.1:8080/users/42?page=2#top",
        "mailto:",
        "://",
        "https://:@",
    ] {
        assert!(matches!(s.scrub_url(clean), Cow::Borrowed(_)), "{clean}");
    }
}

#[test]
fn builder_adds_patterns_keys_and_headers() {
    let s = Scrubber::builder()
        .with_pattern("employee_id", r"\bEMP-[0-9]{6}\b")
        .unwrap()
        .with_pattern("iban", r"\b[A-Z]{2}[0-9]{2}(?: ?[0-9A-Z]{4}){3,7}\b")
        .unwrap()
        .with_sensitive_key("mothers_maiden_name")
        .with_sensitive_header("x-internal-token")
        .with_sensitive_header("X-Tenant-Secret-Header")
        .build()
        .unwrap();
    assert_eq!(s.scrub("by EMP-123456 today"), "by [EMPLOYEE_ID] today");
    assert_eq!(s.scrub("iban DE89 3704 0044 0532 0130 00"), "iban [IBAN]");
    assert_eq!(
        s.scrub("Mothers-Maiden-Name: Smith"),
        "Mothers-Maiden-Name: [REDACTED]"
    );
    assert!(s.is_sensitive_header("X-Internal-Token"));
    assert!(s.is_sensitive_header("x-tenant-secret-header"));
    // The defaults are still there.
    assert_eq!(s.scrub("bob@example.com"), "[EMAIL]");
    assert!(s.is_sensitive_header("cookie"));
    // The global scrubber did not change.
    assert_eq!(Scrubber::global().scrub("EMP-123456"), "EMP-123456");
}

#[test]
fn builder_errors_name_the_problem() {
    let err = Scrubber::builder()
        .with_pattern("broken", "(unclosed")
        .unwrap_err();
    assert!(matches!(&err, BuildError::InvalidPattern { name, .. } if name == "broken"));
    assert!(err.to_string().contains("`broken`"), "{err}");

    for bad in ["", "has space", "dash-ed"] {
        assert!(matches!(
            Scrubber::builder().with_pattern(bad, "x"),
            Err(BuildError::InvalidPatternName { .. })
        ));
    }
    assert!(matches!(
        Scrubber::builder()
            .with_pattern("x", "a")
            .unwrap()
            .with_pattern("X", "b"),
        Err(BuildError::DuplicatePattern { .. })
    ));
    assert!(matches!(
        Scrubber::builder().with_sensitive_key("two words").build(),
        Err(BuildError::InvalidSensitiveKey { key }) if key == "two words"
    ));
    assert!(matches!(
        Scrubber::builder()
            .with_sensitive_header("bad:header")
            .build(),
        Err(BuildError::InvalidSensitiveHeader { .. })
    ));
}

#[test]
fn empty_user_pattern_matches_are_ignored() {
    let s = Scrubber::builder()
        .with_pattern("maybe", "x*")
        .unwrap()
        .build()
        .unwrap();
    assert_eq!(s.scrub("abc"), "abc");
    assert_eq!(s.scrub("axxb"), "a[MAYBE]b");
}
