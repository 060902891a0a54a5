//! The dev console end to end: the example API with
//! `TREEBEARD_DEV_CONSOLE=true` and no agent, real requests, and headless
//! Chromium rendering `/_treebeard` (its DOM is dumped and read here).
//!
//! Chromium is required: without it these tests fail, they never skip
//! (`make test` installs it with `make browser-tools`).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use treebeard_e2e::{ExampleApi, WAIT, client};

const ENV: &[(&str, &str)] = &[
    ("APM_PROVIDER", "none"),
    ("METRICS_BACKEND", "none"),
    ("DD_ENV", "local"),
    ("TREEBEARD_DEV_CONSOLE", "true"),
];

/// The Chromium binary on PATH; a loud failure when there is none.
fn chromium() -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    for dir in std::env::split_paths(&path) {
        for name in ["chromium", "chromium-browser", "google-chrome"] {
            let candidate = dir.join(name);
            if candidate.is_file() {
                return candidate;
            }
        }
    }
    panic!(
        "headless Chromium is required by the dev console test and is not on PATH: \
         install it with `make browser-tools` (apt-get install -y chromium)"
    );
}

/// Runs headless Chromium with `args` and returns its stdout; fails after 60 s.
///
/// No `--virtual-time-budget`: Chromium pauses virtual time while a fetch
/// is pending, and the page's live stream (server-sent events) always is.
/// The page embeds its data and renders before its load event, which is
/// when `--dump-dom` and `--screenshot` take the page.
fn run_chromium(args: &[&str]) -> String {
    let profile = std::env::temp_dir().join(format!("treebeard-chromium-{}", std::process::id()));
    let mut child = Command::new(chromium())
        .args([
            "--headless",
            "--disable-gpu",
            "--no-sandbox",
            "--no-first-run",
            "--disable-extensions",
            &format!("--user-data-dir={}", profile.display()),
        ])
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start chromium");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if child.try_wait().unwrap().is_some() {
            break;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("chromium did not finish within 60 s: {args:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "chromium failed: {:?}",
        output.status
    );
    String::from_utf8(output.stdout).unwrap()
}

fn dump_dom(url: &str) -> String {
    run_chromium(&["--dump-dom", url])
}

/// Sends `GET path`; returns the request ID the API answered with.
async fn send(api: &ExampleApi, path: &str, status: u16) -> String {
    let res = client().get(api.url(path)).send().await.unwrap();
    assert_eq!(res.status(), status, "{path}");
    res.headers()["x-request-id"].to_str().unwrap().to_owned()
}

/// Waits until the console lists every ID in `ids`; returns the list.
async fn wait_listed(api: &ExampleApi, ids: &[&str]) -> Vec<Value> {
    let deadline = Instant::now() + WAIT;
    loop {
        let list: Vec<Value> = client()
            .get(api.url("/_treebeard/api/requests"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if ids
            .iter()
            .all(|id| list.iter().any(|r| r["request_id"] == *id))
        {
            return list;
        }
        assert!(Instant::now() < deadline, "{ids:?} not listed: {list:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// `(depth, name)` of every waterfall row of the DOM, in order.
fn waterfall(dom: &str) -> Vec<(usize, String)> {
    let attr = |tag: &str, name: &str| -> Option<String> {
        let start = tag.find(&format!("{name}=\""))? + name.len() + 2;
        let end = tag[start..].find('"')? + start;
        Some(tag[start..end].to_owned())
    };
    dom.match_indices("<div class=\"span\"")
        .filter_map(|(at, _)| {
            let tag = &dom[at..at + dom[at..].find('>')?];
            Some((
                attr(tag, "data-depth")?.parse().ok()?,
                attr(tag, "data-name")?,
            ))
        })
        .collect()
}

#[tokio::test]
async fn chromium_shows_the_requests_the_waterfall_and_the_panic() {
    let api = ExampleApi::start(ENV);
    let recommendations = send(&api, "/users/1/recommendations", 200).await;
    let panic = send(&api, "/demo/panic", 500).await;
    wait_listed(&api, &[&recommendations, &panic]).await;

    let dom = dump_dom(&api.url(&format!("/_treebeard?select={recommendations}")));
    // Both requests are listed, with their route templates.
    for id in [&recommendations, &panic] {
        assert!(
            dom.contains(&format!("data-request-id=\"{id}\"")),
            "{id} not listed:\n{dom}"
        );
    }
    assert!(dom.contains(">/users/{id}/recommendations<"), "{dom}");
    assert!(dom.contains(">/demo/panic<"), "{dom}");
    // The selected request's waterfall: the server span at the top, the
    // query below it, the outgoing call below the external-API span.
    let rows = waterfall(&dom);
    assert_eq!(
        rows.first(),
        Some(&(0, "http.request".to_owned())),
        "{rows:?}"
    );
    assert!(rows.contains(&(1, "sqlite.query".to_owned())), "{rows:?}");
    let external = rows
        .iter()
        .position(|(_, name)| name == "external_api.request")
        .unwrap_or_else(|| panic!("no external_api.request span: {rows:?}"));
    let (depth, _) = rows[external];
    assert!(depth >= 1, "{rows:?}");
    assert_eq!(
        rows.get(external + 1),
        Some(&(depth + 1, "http.request".to_owned())),
        "the outgoing call is the child of the external-API span: {rows:?}"
    );
    assert!(dom.contains("SELECT"), "the query's resource is shown");
    assert!(
        dom.contains("recommendations generated"),
        "its log lines are shown"
    );

    let dom = dump_dom(&api.url(&format!("/_treebeard?select={panic}")));
    assert!(
        dom.contains("id=\"error\" data-kind=\"panic\""),
        "the panic's error is shown:\n{dom}"
    );
    assert!(
        dom.contains("demo panic: something impossible happened"),
        "{dom}"
    );
    assert!(dom.contains("src/routes/demo.rs"), "its location is shown");
}

#[tokio::test]
async fn what_the_console_shows_is_scrubbed() {
    let api = ExampleApi::start(ENV);
    let res = client()
        .post(api.url("/demo/echo-error/alice@example.com?password=hunter2"))
        .body("card 4111 1111 1111 1111")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 500);
    let id = res.headers()["x-request-id"].to_str().unwrap().to_owned();
    wait_listed(&api, &[&id]).await;
    let detail = client()
        .get(api.url(&format!("/_treebeard/api/requests/{id}")))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(detail.contains("could not process request of"), "{detail}");
    for secret in ["alice@example.com", "hunter2", "4111 1111 1111 1111"] {
        assert!(!detail.contains(secret), "{secret} shown: {detail}");
    }
    assert!(detail.contains("[EMAIL]"), "{detail}");
}

#[test]
fn the_console_refuses_to_start_in_production_unless_forced() {
    let mut env = ENV.to_vec();
    env.retain(|(k, _)| *k != "DD_ENV");
    env.push(("DD_ENV", "production"));
    let (status, _, stderr) = ExampleApi::run_to_exit(&env);
    assert_eq!(status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("TREEBEARD_DEV_CONSOLE=\"true\""),
        "{stderr}"
    );
    assert!(stderr.contains("TREEBEARD_DEV_CONSOLE=force"), "{stderr}");
}

/// `make dev-console-screenshot`: docs/dev-console.png, from a few requests.
#[tokio::test]
#[ignore = "writes docs/dev-console.png: run by make dev-console-screenshot"]
async fn screenshot() {
    let api = ExampleApi::start(ENV);
    for _ in 0..3 {
        send(&api, "/users/1/recommendations", 200).await;
        send(&api, "/users/2", 200).await;
        send(&api, "/health", 200).await;
    }
    send(&api, "/users/999", 404).await;
    send(&api, "/demo/error", 500).await;
    send(&api, "/demo/panic", 500).await;
    let selected = send(&api, "/users/2/recommendations", 200).await;
    wait_listed(&api, &[&selected]).await;
    let out = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/dev-console.png");
    run_chromium(&[
        &format!("--screenshot={}", out.display()),
        "--window-size=1280,900",
        "--hide-scrollbars",
        &api.url(&format!("/_treebeard?select={selected}")),
    ]);
    assert!(out.is_file(), "{} not written", out.display());
}
