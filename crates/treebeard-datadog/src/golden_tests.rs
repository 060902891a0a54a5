//! The exact bytes the agent receives, pinned: traces recorded through the
//! layer (every kind of field, propagation, sampling setup) and encoded,
//! compared with `testdata/v04_golden.txt`, which the encoder as it stood
//! before the span-cost work wrote. A change to what reaches the agent
//! fails here; an intended one is written back with
//! `TREEBEARD_GOLDEN_UPDATE=1 cargo test -p treebeard-datadog golden`.
#![allow(clippy::unwrap_used)]

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::sync::Arc;

use tracing_subscriber::layer::SubscriberExt;

use crate::config::{PropagationStyle, SamplingRule};
use crate::encode::{self, Process};
use crate::exporter::Queue;
use crate::layer::{DatadogLayer, continue_trace, inject, set_tag};
use crate::sampler::{AgentRates, Sampler};
use crate::span::Trace;

const GOLDEN: &str = include_str!("testdata/v04_golden.txt");
const GOLDEN_PATH: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/src/testdata/v04_golden.txt");

/// One tracer setup.
struct Setup {
    rules: Vec<SamplingRule>,
    sample_rate: Option<f64>,
    rate_limit: u32,
    agent_answer: Option<&'static str>,
    trace_id_128: bool,
}

impl Setup {
    const DEFAULT: Self = Self {
        rules: Vec::new(),
        sample_rate: None,
        rate_limit: 1_000,
        agent_answer: None,
        trace_id_128: true,
    };
}

fn rule(
    rate: f64,
    service: &str,
    name: &str,
    resource: &str,
    tags: &[(&str, &str)],
) -> SamplingRule {
    let pattern = |p: &str| (!p.is_empty()).then(|| p.to_owned());
    SamplingRule {
        sample_rate: rate,
        service: pattern(service),
        name: pattern(name),
        resource: pattern(resource),
        tags: tags
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect::<BTreeMap<_, _>>(),
    }
}

/// Runs `scenario` under a layer set up as `setup` and returns the v0.4
/// payload of what it traced, with start times, durations and the clock
/// part of trace IDs made fixed (span IDs are seeded).
fn payload(setup: Setup, process: &Process, scenario: impl FnOnce()) -> Vec<u8> {
    crate::ids::seed_for_test(0x7265_6562_6565_7274);
    let rates = AgentRates::new("test");
    if let Some(answer) = setup.agent_answer {
        rates.update(answer.as_bytes());
    }
    let rules_use = (
        setup.rules.iter().any(|r| r.resource.is_some()),
        setup.rules.iter().any(|r| !r.tags.is_empty()),
    );
    let queue = Arc::new(Queue::default());
    let layer = DatadogLayer::new(
        queue.clone(),
        Sampler::new(&setup.rules, setup.sample_rate, setup.rate_limit, rates),
        "svc".to_owned(),
        rules_use,
        (
            PropagationStyle::DEFAULT.to_vec(),
            PropagationStyle::DEFAULT.to_vec(),
        ),
    )
    .with_trace_id_128(setup.trace_id_128);
    let subscriber = tracing_subscriber::registry().with(layer);
    tracing::subscriber::with_default(subscriber, scenario);
    let chunks = queue.take_all();
    let mut out = Vec::new();
    encode::array_len(&mut out, chunks.len());
    let mut n = 0;
    for (trace, mut spans) in chunks {
        let trace = Arc::new(fixed_clock(&trace));
        for span in &mut spans {
            n += 1;
            span.trace = trace.clone();
            span.start_ns = 1_700_000_000_000_000_000 + n * 1_000;
            span.duration_ns = 500 + n;
        }
        encode::chunk(&mut out, process, &spans);
    }
    out
}

/// `trace` with the start second of a new 128-bit ID made fixed.
fn fixed_clock(trace: &Trace) -> Trace {
    let continued = trace
        .upstream
        .as_ref()
        .is_some_and(|u| u.trace_id == trace.id);
    let id = if continued || trace.id >> 64 == 0 {
        trace.id
    } else {
        (0x6b09_27b5_u128 << 96) | (trace.id & u128::from(u64::MAX))
    };
    let copy = Trace::new(id, trace.upstream.clone());
    if let Some(sampling) = trace.sampling.get() {
        let _ = copy.sampling.set(sampling.clone());
    }
    if let Some(error) = trace.inject_error.get() {
        let _ = copy.inject_error.set(error);
    }
    copy
}

fn headers(pairs: &[(&'static str, &str)]) -> http::HeaderMap {
    let mut h = http::HeaderMap::new();
    for (name, value) in pairs {
        h.append(*name, http::HeaderValue::from_str(value).unwrap());
    }
    h
}

/// A request span as TreeBeard's request layer makes it, a database
/// query, an outgoing call and assorted fields below it.
fn request(incoming: &http::HeaderMap, status: &str, error: bool) {
    let url = "http://127.0.0.1:8080/users/42?q=1";
    let root = tracing::info_span!(
        "http.request",
        otel.kind = "server",
        otel.status_code = tracing::field::Empty,
        http.method = "GET",
        http.route = "/users/{id}",
        http.url = tracing::field::display(url),
        http.useragent = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0",
        http.client_ip = tracing::field::display(std::net::Ipv4Addr::new(10, 1, 2, 3)),
        http.status_code = tracing::field::Empty,
        error.type = tracing::field::Empty,
        error.message = tracing::field::Empty,
        request_id = "0b5c7e0e-5ad1-4b43-9d7e-3c5b8e6f1a2d",
    );
    continue_trace(&root, incoming);
    set_tag(&root, "http.request.headers.x-tenant", "acme");
    {
        let _entered = root.enter();
        let query = tracing::info_span!(
            "db.query",
            operation.name = "postgres.query",
            resource.name = "SELECT * FROM users WHERE id = $1",
            span.type = "sql",
            service.name = "users-db",
            db.rows = 1_u64,
            db.cached = false,
        );
        drop(query);
        let call = tracing::info_span!(
            "http.client.request",
            otel.kind = "client",
            http.method = "POST",
            http.url = "http://recommender/score",
            peer.service = "recommender",
            retries = -1_i64,
            score = 0.25_f64,
        );
        let mut outgoing = http::HeaderMap::new();
        inject(&call, &mut outgoing);
        drop(call);
        let _hidden = tracing::debug_span!("untraced", x = 1).entered();
        let odd = tracing::info_span!(
            "odd",
            otel.name = "renamed",
            otel.kind = "PRODUCER",
            list = ?vec![1, 2, 3],
            text = ?"quoted \"debug\"",
            unicode = "żółw 🐢",
            empty = "",
            long = "x".repeat(40).as_str(),
            longer = "y".repeat(300).as_str(),
            twice = "first",
            error = &std::io::Error::other("disk on fire") as &(dyn std::error::Error + 'static),
        );
        odd.record("twice", "second");
        odd.record(
            "otel.name",
            "ignored: otel.name comes second to a first one",
        );
        odd.record("list", tracing::field::debug(&["a"]));
        drop(odd);
        let wide = tracing::info_span!(
            "wide",
            otel.kind = "consumer",
            f01 = "a",
            f02 = "b",
            f03 = "c",
            f04 = "d",
            f05 = "e",
            f06 = "f",
            f07 = "g",
            f08 = "h",
            f09 = "i",
            f10 = "j",
            f11 = "k",
            f12 = "l",
            f13 = "m",
            f14 = "n",
            f15 = "o",
            f16 = "p",
            f17 = "q",
            f18 = "r",
            n01 = 1,
            n02 = 2,
            n03 = 3,
            n04 = 4,
            n05 = 5,
            n06 = 6,
            bool_tag = true,
        );
        drop(wide);
    }
    root.record("http.status_code", status);
    if error {
        root.record("otel.status_code", "error");
        root.record("error.type", "http_error");
        root.record("error.message", "500 Internal Server Error");
    }
}

fn scenarios() -> Vec<(&'static str, Vec<u8>)> {
    let process = Process::new(
        "svc".to_owned(),
        "test",
        "1.2.3",
        &[("team".to_owned(), "core".to_owned())],
        "0d2c5e1a-7b7e-4c4e-9f1e-2a3b4c5d6e7f",
    )
    .with_process_id(4242);
    let bare = Process::new("svc".to_owned(), "", "", &[], "rid").with_process_id(7);
    let none = http::HeaderMap::new();
    let datadog = headers(&[
        ("x-datadog-trace-id", "1234567890123456789"),
        ("x-datadog-parent-id", "987654321"),
        ("x-datadog-sampling-priority", "1"),
        ("x-datadog-origin", "synthetics"),
        (
            "x-datadog-tags",
            "_dd.p.dm=-4,_dd.p.usr.id=baz64,_dd.p.tid=640cfd8d00000000",
        ),
    ]);
    let w3c = headers(&[
        (
            "traceparent",
            "00-640cfd8d00000000abcdefabcdef0001-00f067aa0ba902b7-01",
        ),
        (
            "tracestate",
            "dd=s:2;o:rum;p:00f067aa0ba902b7;t.dm:-3,foo=bar",
        ),
        ("baggage", "user=alice,region=eu"),
    ]);
    let conflicting = headers(&[
        ("x-datadog-trace-id", "77"),
        ("x-datadog-parent-id", "5"),
        ("x-datadog-sampling-priority", "-1"),
        (
            "traceparent",
            "00-0000000000000000000000000000000a-000000000000000b-01",
        ),
        ("tracestate", "dd=s:1,other=x"),
    ]);
    let broken_tags = headers(&[
        ("x-datadog-trace-id", "88"),
        ("x-datadog-parent-id", "6"),
        ("x-datadog-tags", "not a tag list"),
    ]);
    let baggage_only = headers(&[("baggage", "k=v")]);
    let agent = r#"{"rate_by_service":{"service:svc,env:test":0.5,"service:,env:":1.0}}"#;

    let mut out = Vec::new();
    out.push((
        "default",
        payload(Setup::DEFAULT, &process, || {
            request(&none, "200", false);
            request(&none, "500", true);
        }),
    ));
    out.push((
        "bare-process",
        payload(Setup::DEFAULT, &bare, || request(&none, "200", false)),
    ));
    out.push((
        "agent-rates",
        payload(
            Setup {
                agent_answer: Some(agent),
                ..Setup::DEFAULT
            },
            &process,
            || {
                for _ in 0..6 {
                    request(&none, "200", false);
                }
            },
        ),
    ));
    out.push((
        "sample-rate",
        payload(
            Setup {
                sample_rate: Some(0.3),
                ..Setup::DEFAULT
            },
            &process,
            || {
                for _ in 0..6 {
                    request(&none, "204", false);
                }
            },
        ),
    ));
    out.push((
        "rules",
        payload(
            Setup {
                rules: vec![
                    rule(
                        0.623456789,
                        "",
                        "",
                        "GET /users/*",
                        &[("request_id", "0b5c*")],
                    ),
                    rule(0.0, "svc", "", "", &[]),
                ],
                ..Setup::DEFAULT
            },
            &process,
            || {
                for _ in 0..3 {
                    request(&none, "200", false);
                }
                let _job = tracing::info_span!("job", otel.kind = "internal").entered();
            },
        ),
    ));
    out.push((
        "rate-limit-0",
        payload(
            Setup {
                sample_rate: Some(1.0),
                rate_limit: 0,
                ..Setup::DEFAULT
            },
            &process,
            || request(&none, "200", false),
        ),
    ));
    out.push((
        "64-bit-ids",
        payload(
            Setup {
                trace_id_128: false,
                ..Setup::DEFAULT
            },
            &process,
            || request(&none, "200", false),
        ),
    ));
    out.push((
        "propagation",
        payload(Setup::DEFAULT, &process, || {
            for incoming in [&datadog, &w3c, &conflicting, &broken_tags, &baggage_only] {
                request(incoming, "200", false);
            }
        }),
    ));
    out.push((
        "detached-child",
        payload(Setup::DEFAULT, &process, || {
            let root = tracing::info_span!("worker");
            let child = tracing::info_span!(parent: &root, "task", n = 1);
            drop(root);
            drop(child);
        }),
    ));
    out
}

#[test]
fn the_agent_gets_the_same_bytes_as_before() {
    let mut written = String::new();
    for (name, bytes) in scenarios() {
        let mut hex = String::with_capacity(bytes.len() * 2);
        for b in &bytes {
            let _ = write!(hex, "{b:02x}");
        }
        let _ = writeln!(written, "{name} {hex}");
    }
    if std::env::var_os("TREEBEARD_GOLDEN_UPDATE").is_some() {
        std::fs::write(GOLDEN_PATH, &written).unwrap();
        return;
    }
    let golden: HashMap<&str, &str> = GOLDEN
        .lines()
        .filter_map(|line| line.split_once(' '))
        .collect();
    let mut seen = 0;
    for line in written.lines() {
        let (name, hex) = line.split_once(' ').unwrap();
        assert_eq!(Some(&hex), golden.get(name), "scenario {name} changed");
        seen += 1;
    }
    assert_eq!(seen, golden.len(), "every golden scenario is run");
    // The golden payloads are real ones, not empty arrays.
    assert!(GOLDEN.len() > 20_000, "{}", GOLDEN.len());
}

/// Reading is independent of the encoder: the golden set holds the
/// fields the scenarios wrote.
#[test]
fn the_golden_payloads_hold_what_the_scenarios_recorded() {
    let golden: String = GOLDEN
        .lines()
        .map(|l| l.split_once(' ').unwrap().1)
        .collect();
    for needle in [
        "users-db",
        "http.server.request",
        "GET /users/{id}",
        "quoted \\\"debug",
        "disk on fire",
        "_dd.p.usr.id",
        "span_links",
        "http.request.headers.x-tenant",
        "f18",
        "_dd.limit_psr",
        "_dd.agent_psr",
        "0.623457",
    ] {
        let hex: String = needle.bytes().map(|b| format!("{b:02x}")).collect();
        assert!(golden.contains(&hex), "{needle} is in no golden payload");
    }
}
