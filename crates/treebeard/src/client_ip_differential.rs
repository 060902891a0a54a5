//! `http.client_ip` compared with DataDog's Python tracer (`ddtrace`,
//! installed by `make peers-install` into `.venv`) on a corpus of proxy
//! headers: each header of DataDog's list alone, several at once, lists
//! with private and public addresses, `Forwarded` elements, IPv6, garbage.

use serde_json::{Value, json};

use super::*;

#[path = "../../../tests/peers/ddtrace_reference.rs"]
mod reference;

fn corpus() -> Vec<(Vec<(&'static str, &'static str)>, &'static str)> {
    let mut cases = Vec::new();
    for header in IP_HEADERS {
        cases.push((vec![(header, "8.8.8.8")], "127.0.0.1"));
        cases.push((vec![(header, "10.0.0.1, 1.1.1.1")], "10.0.0.9"));
        cases.push((vec![(header, "192.168.0.3")], "127.0.0.1"));
    }
    cases.extend([
        (vec![], "127.0.0.1"),
        (vec![], "8.8.4.4"),
        (vec![("x-forwarded-for", "10.0.0.1")], "8.8.8.8"),
        (
            vec![("x-forwarded-for", "10.0.0.1, 172.16.0.2")],
            "127.0.0.1",
        ),
        (vec![("x-forwarded-for", "garbage, 9.9.9.9")], "127.0.0.1"),
        (vec![("x-forwarded-for", "2606:4700::1111, 1.1.1.1")], "::1"),
        (vec![("x-forwarded-for", "::1, fd00::1")], "127.0.0.1"),
        (
            vec![("x-forwarded-for", "100.64.0.1, 8.8.8.8")],
            "127.0.0.1",
        ),
        (
            vec![("x-real-ip", "10.1.1.1"), ("true-client-ip", "9.9.9.9")],
            "127.0.0.1",
        ),
        (
            vec![("x-client-ip", "9.9.9.9"), ("x-forwarded-for", "10.0.0.1")],
            "127.0.0.1",
        ),
        (vec![("forwarded", "for=9.9.9.9;proto=https")], "127.0.0.1"),
        (
            vec![("forwarded", r#"for="[2606:4700::1]";proto=https"#)],
            "127.0.0.1",
        ),
        (
            vec![("forwarded", "for=10.0.0.1, for=8.8.4.4")],
            "127.0.0.1",
        ),
        (
            vec![("cf-connecting-ipv6", "2a00:1450:4001::1")],
            "127.0.0.1",
        ),
        (vec![("x-forwarded-for", "")], "127.0.0.1"),
    ]);
    cases
}

fn python(cases: &[(Vec<(&str, &str)>, &str)]) -> Vec<Value> {
    let input: Vec<Value> = cases
        .iter()
        .map(|(headers, peer)| {
            let headers: serde_json::Map<String, Value> = headers
                .iter()
                .map(|(k, v)| ((*k).to_owned(), json!(v)))
                .collect();
            json!({"headers": headers, "peer": peer})
        })
        .collect();
    reference::run("ddtrace_client_ip.py", &[], &json!(input))
}

#[test]
fn agrees_with_ddtrace_python() {
    let cases = corpus();
    let reference = python(&cases);
    assert_eq!(reference.len(), cases.len());
    for ((headers, peer), py) in cases.iter().zip(&reference) {
        let mut map = HeaderMap::new();
        for (name, value) in headers {
            map.insert(*name, value.parse().unwrap());
        }
        let ours =
            client_ip(&map, peer.parse().ok(), None).map_or(String::new(), |ip| ip.to_string());
        assert_eq!(json!(ours), *py, "headers {headers:?}, peer {peer}");
    }
}
