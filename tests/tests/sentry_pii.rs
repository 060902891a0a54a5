//! PII corpus: secrets sent in a request's path, query, headers and body,
//! and repeated by a careless handler error message, never reach Sentry;
//! look-alikes that are not secrets survive.

use treebeard_e2e::sentry_peers::{Spotlight, normalizer_errors};
use treebeard_e2e::{ExampleApi, client};

const JWT: &str =
    "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U";

/// Strings that must not appear in any event.
const SECRETS: &[&str] = &[
    "bob.smith", // the e-mail's local part, in the path
    "alice.jones@example.org",
    "+44 20 7946 0958",
    "7946 0958",
    "(555) 123-4567",
    "4111111111111111",
    "4111 1111 1111 1111",
    "5555555555554444",
    "sk_live_4eC39HqLyjWDarjtT1zdp7dc",
    "xoxb-123456789012-abcdefghijkl",
    "AKIAIOSFODNN7EXAMPLE",
    "hunter2hunter2",
    "s3ssi0nc00kie",
    "dozjgNryP4J3jVmNHl0w5N",
];

/// Non-secrets that look like secrets: they must survive scrubbing.
const LOOK_ALIKES: &[&str] = &["ORD-123456789", "4111 1111 1111 1112", "2026-11-27"];

async fn send_corpus(api: &ExampleApi, request_id: &str) -> u16 {
    let body = serde_json::json!({
        "contact": "alice.jones@example.org",
        "note": format!(
            "call +44 20 7946 0958 or (555) 123-4567, card 5555555555554444, jwt {JWT}, \
             aws AKIAIOSFODNN7EXAMPLE, order ORD-123456789, old card 4111 1111 1111 1112, on 2026-11-27"
        ),
        "password": "hunter2hunter2",
    });
    client()
        .post(api.url(
            "/demo/echo-error/bob.smith@example.com?password=hunter2hunter2&card=4111111111111111&ref=ORD-123456789",
        ))
        .header("x-request-id", request_id)
        .header("authorization", "Bearer sk_live_4eC39HqLyjWDarjtT1zdp7dc")
        .header("cookie", "session=s3ssi0nc00kie")
        .header("x-api-key", "xoxb-123456789012-abcdefghijkl")
        .header("x-callback-note", "card 4111 1111 1111 1111 for +44 20 7946 0958")
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

fn leaks(text: &str) -> Vec<&'static str> {
    SECRETS
        .iter()
        .copied()
        .filter(|s| text.contains(s))
        .collect()
}

#[tokio::test]
async fn no_secret_of_the_corpus_reaches_sentry_and_look_alikes_survive() {
    let spotlight = Spotlight::start();
    let dsn = spotlight.dsn();
    let api = ExampleApi::start(&[
        ("APM_PROVIDER", "none"),
        ("METRICS_BACKEND", "none"),
        ("SENTRY_DSN", dsn.as_str()),
        ("SENTRY_USER_HASH_KEY", "e2e-user-hash-key"),
    ]);
    assert_eq!(send_corpus(&api, "pii-1").await, 500);

    let events = spotlight.wait_for("the corpus event", |events| {
        events.iter().any(|e| e["tags"]["request_id"] == "pii-1")
    });
    let event = events
        .iter()
        .find(|e| e["tags"]["request_id"] == "pii-1")
        .unwrap();
    let text = serde_json::to_string(&events).unwrap();
    assert_eq!(
        leaks(&text),
        Vec::<&str>::new(),
        "secrets in Sentry events: {event:#}"
    );

    // The message is still useful: look-alikes and structure survive.
    let value = event["exception"]["values"][0]["value"].as_str().unwrap();
    for kept in LOOK_ALIKES {
        assert!(value.contains(kept), "{kept} was scrubbed: {value}");
    }
    assert!(
        value.contains("[EMAIL]") && value.contains("[CARD]") && value.contains("[TOKEN]"),
        "{value}"
    );
    assert_eq!(event["transaction"], "/demo/echo-error/{user}");

    // The user is a keyed hash of the ID: no e-mail without the PII opt-in.
    let user = &event["user"];
    let id = user["id"].as_str().unwrap();
    assert!(
        id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit()),
        "{user}"
    );
    assert!(user.get("email").is_none(), "{user}");

    for errors in normalizer_errors(&events) {
        assert_eq!(errors, serde_json::json!([]));
    }
}

/// The JSON log lines of the same request.
#[tokio::test]
async fn no_secret_of_the_corpus_reaches_the_json_logs() {
    let api = ExampleApi::start(&[("APM_PROVIDER", "none"), ("METRICS_BACKEND", "none")]);
    assert_eq!(send_corpus(&api, "pii-log-1").await, 500);
    api.request_line("pii-log-1");
    let leaked: Vec<(String, Vec<&str>)> = api
        .logs()
        .iter()
        .flat_map(|line| {
            line.as_object()
                .unwrap()
                .iter()
                .filter_map(|(k, v)| {
                    let found = leaks(&v.to_string());
                    (!found.is_empty()).then(|| (format!("{}: {k}", line["message"]), found))
                })
                .collect::<Vec<_>>()
        })
        .collect();
    assert!(leaked.is_empty(), "log fields leak: {leaked:#?}");
}

/// The spans of the same request, as DataDog's test agent received them.
#[tokio::test]
async fn no_secret_of_the_corpus_reaches_the_spans() {
    let agent = treebeard_e2e::peers::TestAgent::start();
    let api = ExampleApi::start(&[
        ("DD_TRACE_AGENT_URL", &agent.url()),
        ("METRICS_BACKEND", "none"),
    ]);
    assert_eq!(send_corpus(&api, "pii-span-1").await, 500);
    let spans = agent
        .wait_for_spans(
            |s| s["meta"]["request_id"] == "pii-span-1",
            |s| !s.is_empty(),
        )
        .await;
    let span = &spans[0];
    assert_eq!(span["error"], 1);
    let text = span.to_string();
    assert!(
        leaks(&text).is_empty(),
        "span leaks {:?}: {span:#}",
        leaks(&text)
    );
    let url = span["meta"]["http.url"].as_str().unwrap();
    assert!(url.contains("/demo/echo-error/[EMAIL]"), "{url}");
    // DataDog's query obfuscation redacts the password, the PII scrubber
    // the card; the order reference is no secret and stays, as in DataDog.
    assert!(url.contains("?<redacted>&card=["), "{url}");
    assert!(url.ends_with("&ref=ORD-123456789"), "{url}");
    // Every span of the trace: none carries a secret.
    let trace = span["trace_id"].as_u64().unwrap();
    let all = agent.wait_for_trace(trace, |s| !s.is_empty()).await;
    for s in &all {
        assert!(leaks(&s.to_string()).is_empty(), "{s:#}");
    }
}
