//! Traces from the example API, read back from DataDog's own APM test
//! agent: treebeard's own DataDog spans (`APM_PROVIDER=datadog`).

use std::time::{Duration, Instant};

use serde_json::Value;
use treebeard_e2e::peers::{TestAgent, span};
use treebeard_e2e::{ExampleApi, client};

const PROVIDER: &str = "datadog";

include!("shared/apm_datadog.rs");

// Only treebeard's own exporter keeps what the agent did not take:
// dd-trace-rs drops it (see docs/apm.md), so this test is not shared.
#[tokio::test]
async fn an_agent_restarted_under_load_loses_no_span_of_an_answered_request() {
    let mut agent = TestAgent::start();
    let api = start(&env(&agent, &[("DD_TRACE_RATE_LIMIT", "100000")]));
    let (_, id) = get(&api, "/health", &[]).await;
    server_span(&agent, &id).await;

    // Steady load from 8 clients; each answered request is recorded
    // with the time it was sent.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut clients = Vec::new();
    for _ in 0..8 {
        let (url, stop) = (api.url("/users/1"), stop.clone());
        clients.push(tokio::spawn(async move {
            // One kept-alive connection per client, as a load generator has.
            let http = client();
            let mut answered = Vec::new();
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let sent = Instant::now();
                let res = http.get(&url).send().await.unwrap();
                assert_eq!(
                    res.status(),
                    200,
                    "a request failed while the agent was away"
                );
                let id = res.headers()["x-request-id"].to_str().unwrap().to_owned();
                answered.push((sent, id));
                // About 600 requests a second in all, as in issue 19: an
                // 8 s outage then fills about a third of the default
                // 16 MiB buffer (about 0.5 kB a span).
                tokio::time::sleep(Duration::from_millis(12)).await;
            }
            answered
        }));
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    // Port closed, connections cut; what the agent held is lost with it,
    // so only requests sent from now on are checked.
    agent.kill();
    let killed = Instant::now();
    tokio::time::sleep(Duration::from_secs(8)).await;
    agent.restart();
    let back = Instant::now();
    // Export resumes by itself: the first span of the outage to arrive.
    loop {
        let traces = agent.traces().await;
        if traces.iter().flatten().any(|s| s["type"] == "web") {
            eprintln!(
                "first span accepted {:?} after the agent listened again",
                back.elapsed()
            );
            break;
        }
        assert!(
            back.elapsed() < Duration::from_secs(20),
            "export did not resume"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let mut expected = std::collections::HashSet::new();
    let mut during_outage = 0;
    for client in clients {
        for (sent, id) in client.await.unwrap() {
            if sent >= killed {
                during_outage += usize::from(sent < back);
                expected.insert(id);
            }
        }
    }
    assert!(
        during_outage > 100,
        "too little load: {during_outage} requests"
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let traces = agent.traces().await;
        let seen: std::collections::HashSet<&str> = traces
            .iter()
            .flatten()
            .filter(|s| s["type"] == "web")
            .filter_map(|s| s["meta"]["request_id"].as_str())
            .collect();
        let missing = expected
            .iter()
            .filter(|id| !seen.contains(id.as_str()))
            .count();
        if missing == 0 {
            eprintln!(
                "{} requests sent after the kill ({during_outage} during the 8 s outage): every server span arrived",
                expected.len()
            );
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{missing} of {} server spans of requests answered after the kill never arrived",
            expected.len()
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let logs = api.logs();
    let message = |l: &Value| l["message"].as_str().unwrap_or("").to_owned();
    if let Some(back) = logs
        .iter()
        .find(|l| message(l).starts_with("the DataDog agent takes spans again"))
    {
        eprintln!("{back}");
    }
    let lost: Vec<&Value> = logs
        .iter()
        .filter(|l| message(l).starts_with("spans were lost"))
        .collect();
    assert!(
        lost.is_empty(),
        "the exporter says it lost spans: {lost:#?}"
    );
}

// dd-trace-rs (`datadog-otel`) kept the default (`-0`) with the same agent
// answers, even 4 s later: agent rates are treebeard's own tracer's (see
// docs/apm.md), so this test is not shared.
#[tokio::test]
async fn without_a_sample_rate_the_agents_rates_decide_as_in_datadogs_tracers() {
    let agent = TestAgent::start();
    agent
        .set_rates(&serde_json::json!({"service:e2e-apm,env:test": 1.0, "service:,env:": 1.0}))
        .await;
    let api = start(&env(&agent, &[]));
    let root_of = |spans: &[Value], id: &str| -> Option<Value> {
        spans
            .iter()
            .find(|s| s["meta"]["request_id"] == id && s["type"] == "web")
            .cloned()
    };
    // Before the agent has answered: kept at 1.0 by default (`-0`); after:
    // by the agent's rate for service and env (`-1`, `_dd.agent_psr`).
    let (_, first) = get(&api, "/health", &[]).await;
    let first = server_span(&agent, &first).await;
    assert_eq!(first["metrics"]["_sampling_priority_v1"], 1.0, "{first:#}");
    assert_eq!(first["meta"]["_dd.p.dm"], "-0", "{first:#}");
    assert!(first["metrics"].get("_dd.agent_psr").is_none(), "{first:#}");
    assert!(first["metrics"].get("_dd.rule_psr").is_none(), "{first:#}");
    let (_, second) = get(&api, "/health", &[]).await;
    let second = server_span(&agent, &second).await;
    assert_eq!(
        second["metrics"]["_sampling_priority_v1"], 1.0,
        "{second:#}"
    );
    assert_eq!(second["meta"]["_dd.p.dm"], "-1", "{second:#}");
    assert_eq!(second["metrics"]["_dd.agent_psr"], 1.0, "{second:#}");

    // The agent lowers the rate to 0: new traces are auto-rejected (0),
    // whether or not the tracer still sends them.
    agent
        .set_rates(&serde_json::json!({"service:e2e-apm,env:test": 0.0}))
        .await;
    get(&api, "/health", &[]).await; // its answer carries the new rate
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let (_, third) = get(&api, "/health", &[]).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let spans: Vec<Value> = agent.traces().await.into_iter().flatten().collect();
    if let Some(third) = root_of(&spans, &third) {
        assert_eq!(third["metrics"]["_sampling_priority_v1"], 0.0, "{third:#}");
        assert_eq!(third["metrics"]["_dd.agent_psr"], 0.0, "{third:#}");
    }
    // An upstream decision is never re-made.
    get(
        &api,
        "/health",
        &[
            ("x-datadog-trace-id", "777"),
            ("x-datadog-parent-id", "1"),
            ("x-datadog-sampling-priority", "2"),
            ("x-datadog-tags", "_dd.p.dm=-4"),
        ],
    )
    .await;
    let kept = agent.wait_for_trace(777, |s| !s.is_empty()).await;
    assert_eq!(
        kept[0]["metrics"]["_sampling_priority_v1"], 2.0,
        "{kept:#?}"
    );
    assert_eq!(kept[0]["meta"]["_dd.p.dm"], "-4", "{kept:#?}");
    assert!(
        kept[0]["metrics"].get("_dd.agent_psr").is_none(),
        "{kept:#?}"
    );
}

// dd-trace-rs has no switch for 64-bit trace IDs: not shared.
#[tokio::test]
async fn new_traces_are_128_bit_unless_switched_off() {
    let agent = TestAgent::start();
    let api = start(&env(&agent, &[]));
    let (_, id) = get(&api, "/health", &[]).await;
    let span = server_span(&agent, &id).await;
    let tid = span["meta"]["_dd.p.tid"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert_eq!(tid.len(), 16, "high half of a 128-bit ID: {span:#}");

    let agent = TestAgent::start();
    let api = start(&env(
        &agent,
        &[("DD_TRACE_128_BIT_TRACEID_GENERATION_ENABLED", "false")],
    ));
    let (_, id) = get(&api, "/health", &[]).await;
    let span = server_span(&agent, &id).await;
    assert!(span["meta"].get("_dd.p.tid").is_none(), "{span:#}");
}

// dd-trace-rs sends its own origin headers: this checks treebeard's tracer.
#[tokio::test]
async fn trace_payloads_say_which_container_or_cgroup_they_come_from() {
    let agent = TestAgent::start();
    let api = start(&env(&agent, &[]));
    let (_, id) = get(&api, "/health", &[]).await;
    server_span(&agent, &id).await;
    // The example runs in this test's cgroup: the same origin.
    let origin = treebeard_conventions::origin::Origin::detect();
    let requests = agent.requests().await;
    let payload = requests
        .iter()
        .find(|r| {
            r["url"]
                .as_str()
                .is_some_and(|u| u.ends_with("/v0.4/traces"))
        })
        .expect("a trace payload");
    let header = |name: &str| -> Option<String> {
        payload["headers"].as_object().and_then(|h| {
            h.iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .and_then(|(_, v)| v.as_str().map(str::to_owned))
        })
    };
    assert_eq!(
        header("datadog-entity-id"),
        origin.entity_id_header(),
        "{payload:#}"
    );
    assert_eq!(
        header("datadog-container-id").as_deref(),
        origin.container_id_header(),
        "{payload:#}"
    );
    // On a Linux machine a cgroup always has an inode or a container ID.
    assert!(origin.entity_id_header().is_some(), "{origin:?}");
}
