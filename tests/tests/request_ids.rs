//! Request IDs end to end: valid ones kept, hostile ones replaced and never logged.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use treebeard_e2e::{ExampleApi, client};

const ENV: &[(&str, &str)] = &[("APM_PROVIDER", "none"), ("METRICS_BACKEND", "none")];

async fn echoed(api: &ExampleApi, id: &[u8]) -> String {
    let value = reqwest::header::HeaderValue::from_bytes(id).unwrap();
    let res = client()
        .get(api.url("/users/1"))
        .header("x-request-id", value)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    res.headers()["x-request-id"].to_str().unwrap().to_owned()
}

#[tokio::test]
async fn valid_incoming_id_is_kept_echoed_and_logged() {
    let api = ExampleApi::start(ENV);
    let id = "upstream-7f3a {trace} #1";
    assert_eq!(echoed(&api, id.as_bytes()).await, id);
    assert_eq!(api.request_line(id)["http.route"], "/users/{id}");
    let max = "m".repeat(128);
    assert_eq!(echoed(&api, max.as_bytes()).await, max);
}

#[tokio::test]
async fn too_long_or_non_printable_ids_are_replaced_and_never_logged() {
    let api = ExampleApi::start(ENV);
    let too_long = format!("LONG{}", "x".repeat(200));
    let hostile: [&[u8]; 4] = [
        too_long.as_bytes(),
        b"TAB\there",
        b"HIGH\xffbyte",
        b"caf\xc3\xa9-UTF8",
    ];
    for id in hostile {
        let replacement = echoed(&api, id).await;
        assert_eq!(
            replacement.len(),
            36,
            "replaced by a UUID, got {replacement}"
        );
        api.request_line(&replacement);
    }
    let stdout = api.raw_stdout();
    for marker in ["LONG", "TAB", "HIGH", "UTF8"] {
        assert!(!stdout.contains(marker), "{marker} id was logged raw");
    }
}

fn raw_request(api: &ExampleApi, head: &[u8]) -> String {
    let mut stream = TcpStream::connect(api.addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    stream.write_all(head).unwrap();
    let mut response = String::new();
    let _ = stream.read_to_string(&mut response);
    response
}

#[tokio::test]
async fn newlines_and_carriage_returns_never_reach_an_id_or_a_log() {
    let api = ExampleApi::start(ENV);
    // A CR inside the value, and an obs-fold continuation line: HTTP parsing
    // rejects both before any layer runs, and nothing is echoed.
    for head in [
        &b"GET /health HTTP/1.1\r\nHost: x\r\nX-Request-ID: CR\rINSIDE\r\nConnection: close\r\n\r\n"[..],
        &b"GET /health HTTP/1.1\r\nHost: x\r\nX-Request-ID: FOLDED\r\n  CONTINUED\r\nConnection: close\r\n\r\n"[..],
    ] {
        let response = raw_request(&api, head);
        assert!(response.is_empty() || response.starts_with("HTTP/1.1 400"), "{response}");
        assert!(!response.contains("INSIDE") && !response.contains("CONTINUED"), "{response}");
    }
    // A bare LF ends the header line: the ID is the text before it, and the
    // line after it is a header of its own, not part of the ID.
    let response = raw_request(&api, b"GET /health HTTP/1.1\r\nHost: x\r\nX-Request-ID: BARE\nX-Evil: 1\r\nConnection: close\r\n\r\n");
    assert!(response.contains("x-request-id: BARE\r\n"), "{response}");
    assert!(
        !response.to_ascii_lowercase().contains("x-evil"),
        "{response}"
    );

    let res = client().get(api.url("/health")).send().await.unwrap();
    assert_eq!(res.status(), 200, "still serving");
    let stdout = api.raw_stdout();
    for marker in ["INSIDE", "FOLDED", "CONTINUED", "X-Evil"] {
        assert!(!stdout.contains(marker), "{marker} reached the logs");
    }
}
