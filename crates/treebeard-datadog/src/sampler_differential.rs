//! Sampling decisions compared with DataDog's Python tracer (`ddtrace`,
//! installed by `make peers-install` into `.venv`), case by case: trace IDs
//! spread over the whole range, under no rule, the agent's rates (matching
//! the service and env, or not), `DD_TRACE_SAMPLE_RATE` and rules. A mixed
//! Python/Rust fleet must make the same decision for the same trace.
//!
//! Compared: the priority, and for kept traces `_dd.p.dm`, `_dd.agent_psr`,
//! `_dd.rule_psr` and `_dd.p.ksr`. One deliberate difference: ddtrace also
//! writes `_dd.p.dm` on a trace it drops; treebeard writes it only on kept
//! traces, as dd-trace-rs does (DataDog's tag propagation RFC: the decision
//! maker of a *keep*).

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::*;

use crate::reference;

struct Case {
    trace_id: u64,
    service: &'static str,
    rules: Vec<SamplingRule>,
    rate: Option<f64>,
    agent: BTreeMap<&'static str, f64>,
}

fn rule(rate: f64, service: Option<&str>, name: Option<&str>) -> SamplingRule {
    SamplingRule {
        sample_rate: rate,
        service: service.map(str::to_owned),
        name: name.map(str::to_owned),
        resource: None,
        tags: BTreeMap::new(),
    }
}

/// Service, rules, `DD_TRACE_SAMPLE_RATE`, the agent's rates.
type Scenario = (
    &'static str,
    Vec<SamplingRule>,
    Option<f64>,
    Vec<(&'static str, f64)>,
);

fn corpus() -> Vec<Case> {
    // Trace IDs over the whole u64 range (a fixed LCG), plus the edges.
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut ids: Vec<u64> = (0..60)
        .map(|_| {
            x = x
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            x
        })
        .collect();
    ids.extend([1, u64::MAX, u64::MAX / 2]);
    let scenarios: Vec<Scenario> = vec![
        ("svc", vec![], None, vec![]),
        ("svc", vec![], None, vec![("service:svc,env:prod", 0.3)]),
        ("svc", vec![], None, vec![("service:svc,env:prod", 0.0)]),
        ("svc", vec![], None, vec![("service:svc,env:dev", 0.0)]),
        ("svc", vec![], None, vec![("service:,env:", 0.2)]),
        ("other", vec![], None, vec![("service:svc,env:prod", 0.7)]),
        (
            "svc",
            vec![],
            Some(0.25),
            vec![("service:svc,env:prod", 0.9)],
        ),
        (
            "svc",
            vec![rule(0.6, Some("sv*"), None)],
            None,
            vec![("service:svc,env:prod", 0.1)],
        ),
        (
            "svc",
            vec![rule(0.0, None, Some("web.*")), rule(0.4, None, None)],
            None,
            vec![],
        ),
        (
            "svc",
            vec![rule(0.123456789, Some("svc"), Some("http.request"))],
            None,
            vec![],
        ),
    ];
    let mut cases = Vec::new();
    for (service, rules, rate, agent) in scenarios {
        for id in &ids {
            cases.push(Case {
                trace_id: *id,
                service,
                rules: rules.clone(),
                rate,
                agent: agent.iter().copied().collect(),
            });
        }
    }
    cases
}

fn python(cases: &[Case]) -> Vec<Value> {
    let input: Vec<Value> = cases
        .iter()
        .map(|c| {
            // DD_TRACE_SAMPLE_RATE is a catch-all rule after the others.
            let mut rules: Vec<Value> = c
                .rules
                .iter()
                .map(|r| {
                    let mut v = json!({"sample_rate": r.sample_rate});
                    if let Some(s) = &r.service {
                        v["service"] = json!(s);
                    }
                    if let Some(n) = &r.name {
                        v["name"] = json!(n);
                    }
                    v
                })
                .collect();
            if let Some(rate) = c.rate {
                rules.push(json!({"sample_rate": rate}));
            }
            json!({
                "trace_id": c.trace_id, "service": c.service, "env": "prod",
                "name": "http.request", "resource": "GET /users/{id}",
                "rules": rules, "agent": c.agent,
            })
        })
        .collect();
    reference::run("ddtrace_sampling.py", &[], &json!(input))
}

#[test]
fn agrees_with_ddtrace_python() {
    let cases = corpus();
    let reference = python(&cases);
    assert_eq!(reference.len(), cases.len());
    let mut kept = 0;
    for (case, py) in cases.iter().zip(&reference) {
        let agent = AgentRates::new("prod");
        let answer = json!({ "rate_by_service": case.agent });
        agent.update(answer.to_string().as_bytes());
        let sampler = Sampler::new(&case.rules, case.rate, u32::MAX, agent);
        let d = sampler.decide(&Root {
            trace_id: u128::from(case.trace_id),
            service: case.service,
            name: "http.request",
            resource: "GET /users/{id}",
            tags: &[],
        });
        let what = format!(
            "trace {} service {} rules {:?} rate {:?} agent {:?}: ours {d:?}, ddtrace {py}",
            case.trace_id, case.service, case.rules, case.rate, case.agent
        );
        assert_eq!(json!(d.priority), py["priority"], "{what}");
        if d.priority <= 0 {
            continue;
        }
        kept += 1;
        assert_eq!(json!(d.mechanism()), py["dm"], "{what}");
        assert_eq!(json!(d.agent_rate()), py["agent_psr"], "{what}");
        assert_eq!(json!(d.rule_rate()), py["rule_psr"], "{what}");
        assert_eq!(json!(d.knuth_rate()), py["ksr"], "{what}");
    }
    assert!(
        kept > 100 && kept < cases.len(),
        "a corpus that keeps and drops: {kept}"
    );
}
