//! The README's program, as a user copies it (`readme-main`, extracted from
//! README.md at build time): requests, then SIGTERM, and every span, metric
//! and Sentry transaction of those requests is at the real peers — the
//! shutdown it shows loses nothing.

use std::net::UdpSocket;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use treebeard_e2e::client;
use treebeard_e2e::peers::{TestAgent, free_port};
use treebeard_e2e::sentry_peers::Spotlight;

const REQUESTS: usize = 25;

#[tokio::test]
async fn the_readmes_program_loses_nothing_on_sigterm() {
    let agent = TestAgent::start();
    let spotlight = Spotlight::start();
    let statsd = UdpSocket::bind("127.0.0.1:0").unwrap();
    statsd
        .set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let listen = format!("127.0.0.1:{}", free_port());
    let mut child = Command::new(treebeard_e2e::binary("readme-main"))
        .env_clear()
        .envs([
            ("README_LISTEN", listen.as_str()),
            ("DD_SERVICE", "readme"),
            ("DD_ENV", "test"),
            ("DD_TRACE_AGENT_URL", &agent.url()),
            ("DD_TRACE_SAMPLE_RATE", "1.0"),
            (
                "DD_DOGSTATSD_URL",
                &format!("udp://{}", statsd.local_addr().unwrap()),
            ),
            // The default interval (3 s): the requests are sent well within
            // one, and shutdown waits for the forwarder's next tick.
            ("SENTRY_DSN", &spotlight.dsn()),
            ("SENTRY_TRACES_SAMPLE_RATE", "1.0"),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();

    // Serving once the port answers.
    let deadline = Instant::now() + Duration::from_secs(15);
    while std::net::TcpStream::connect(&listen).is_err() {
        assert!(Instant::now() < deadline, "readme-main never listened");
        std::thread::sleep(Duration::from_millis(20));
    }
    let mut ids = Vec::new();
    for i in 0..REQUESTS {
        let res = client()
            .get(format!("http://{listen}/users/{i}"))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
        ids.push(res.text().await.unwrap());
    }
    // SIGTERM at once: nothing has been flushed on a timer yet.
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let deadline = Instant::now() + Duration::from_secs(15);
    let exit = loop {
        if let Some(exit) = child.try_wait().unwrap() {
            break exit;
        }
        assert!(Instant::now() < deadline, "readme-main did not exit");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(exit.success(), "{exit:?}");

    // Every span: one server span per request, by its request ID.
    let spans = agent
        .wait_for_spans(|s| s["type"] == "web", |s| s.len() >= REQUESTS)
        .await;
    for id in &ids {
        assert!(
            spans.iter().any(|s| s["meta"]["request_id"] == id.as_str()),
            "no span for {id}"
        );
    }
    // Every request counted, in the metrics flushed at shutdown.
    let mut counted = 0.0;
    let mut buf = vec![0u8; 65536];
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline && counted < REQUESTS as f64 {
        let Ok(n) = statsd.recv(&mut buf) else {
            continue;
        };
        for line in std::str::from_utf8(&buf[..n]).unwrap().lines() {
            if let Some(value) = line
                .strip_prefix("treebeard.api.requests:")
                .and_then(|rest| rest.split('|').next())
            {
                counted += value.parse::<f64>().unwrap();
            }
        }
    }
    assert_eq!(counted, REQUESTS as f64, "requests counted at the agent");
    // Every Sentry transaction.
    let transactions =
        spotlight.wait_for_items("transaction", "every transaction", |t| t.len() >= REQUESTS);
    let named = transactions
        .iter()
        .filter(|t| t["transaction"] == "GET /users/{id}")
        .count();
    assert_eq!(
        named,
        REQUESTS,
        "{:#?}",
        transactions
            .iter()
            .map(|t: &Value| &t["transaction"])
            .collect::<Vec<_>>()
    );
}
