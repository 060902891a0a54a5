//! Prometheus end to end: scrape `/metrics` of the running example and
//! parse it with a Prometheus text-format parser.

use std::collections::HashMap;

use openmetrics_parser::prometheus::parse_prometheus;
use openmetrics_parser::{MetricsExposition, PrometheusType, PrometheusValue};
use treebeard_e2e::{ExampleApi, client};

type Exposition = MetricsExposition<PrometheusType, PrometheusValue>;

const ENV: &[(&str, &str)] = &[
    ("APM_PROVIDER", "none"),
    ("METRICS_BACKEND", "prometheus"),
    ("DD_ENV", "e2e"),
    ("DD_SERVICE", "prom-e2e"),
    ("DD_VERSION", "2.0.0"),
    ("DD_TAGS", "team:core"),
];

async fn fetch(api: &ExampleApi) -> (String, Exposition) {
    let res = client().get(api.url("/metrics")).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let content_type = res.headers()["content-type"].to_str().unwrap().to_owned();
    assert!(
        content_type.starts_with("text/plain; version=0.0.4"),
        "{content_type}"
    );
    let text = res.text().await.unwrap();
    let parsed = parse_prometheus(&text)
        .unwrap_or_else(|e| panic!("unparsable exposition ({e:?}):\n{text}"));
    (text, parsed)
}

/// Every sample of `family` whose labels include `labels`, as (labels, value).
fn samples<'a>(
    exposition: &'a Exposition,
    family: &str,
    labels: &[(&str, &str)],
) -> Vec<(HashMap<String, String>, &'a PrometheusValue)> {
    let Some(family) = exposition.families.get(family) else {
        return Vec::new();
    };
    family
        .iter_samples()
        .filter_map(|s| {
            let set: HashMap<String, String> = s
                .get_labelset()
                .unwrap()
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            labels
                .iter()
                .all(|(k, v)| set.get(*k).map(String::as_str) == Some(*v))
                .then_some((set, &s.value))
        })
        .collect()
}

fn counter(exposition: &Exposition, family: &str, labels: &[(&str, &str)]) -> f64 {
    samples(exposition, family, labels)
        .into_iter()
        .map(|(_, value)| match value {
            PrometheusValue::Counter(c) => c.value.as_f64(),
            other => panic!("{family} is not a counter: {other:?}"),
        })
        .sum()
}

#[tokio::test]
async fn prometheus_counters_match_the_requests_sent() {
    let api = ExampleApi::start(ENV);
    let http = client();
    for _ in 0..7 {
        let res = http.get(api.url("/users/2")).send().await.unwrap();
        assert_eq!(res.status(), 200);
    }
    for _ in 0..3 {
        let res = http.get(api.url("/demo/panic")).send().await.unwrap();
        assert_eq!(res.status(), 500);
    }
    let res = http.get(api.url("/users/5/oops")).send().await.unwrap();
    assert_eq!(res.status(), 404);

    let (text, parsed) = fetch(&api).await;
    let users = [
        ("endpoint", "/users/{id}"),
        ("method", "GET"),
        ("status", "200"),
        ("status_class", "2xx"),
    ];
    assert_eq!(
        counter(&parsed, "treebeard_api_requests", &users),
        7.0,
        "{text}"
    );
    let panics = [
        ("endpoint", "/demo/panic"),
        ("status", "500"),
        ("status_class", "5xx"),
    ];
    assert_eq!(counter(&parsed, "treebeard_api_requests", &panics), 3.0);
    assert_eq!(counter(&parsed, "treebeard_api_errors", &panics), 3.0);
    assert_eq!(
        counter(
            &parsed,
            "treebeard_api_requests",
            &[("endpoint", "unmatched")]
        ),
        1.0
    );
    assert!(
        !text.contains("/users/2") && !text.contains("/users/5"),
        "{text}"
    );

    // Durations are histograms in seconds: one observation per request.
    let durations = samples(&parsed, "treebeard_api_request_duration", &users);
    assert_eq!(durations.len(), 1, "{text}");
    match durations[0].1 {
        PrometheusValue::Histogram(h) => {
            assert_eq!(h.count, Some(7), "{text}");
            let sum = h.sum.as_ref().map_or(f64::NAN, |s| s.as_f64());
            assert!((0.0..5.0).contains(&sum), "sum of seconds {sum}");
            assert!(h.buckets.iter().any(|b| b.upper_bound == 0.005));
        }
        other => panic!("not a histogram: {other:?}"),
    }

    // Constant labels on every sample of ours.
    for (name, family) in &parsed.families {
        for sample in family.iter_samples() {
            let set = sample.get_labelset().unwrap();
            for (k, v) in [
                ("env", "e2e"),
                ("service", "prom-e2e"),
                ("version", "2.0.0"),
                ("team", "core"),
            ] {
                assert_eq!(set.get_label_value(k), Some(v), "{name} lacks {k}");
            }
        }
    }
    // Resource and runtime gauges are there from the first sample.
    for gauge in [
        "treebeard_process_memory_rss",
        "treebeard_process_open_fds",
        "treebeard_process_threads",
        "treebeard_runtime_workers",
        "treebeard_runtime_busy_ratio",
    ] {
        let family = parsed.families.get(gauge);
        assert!(
            family.is_some_and(|f| f.family_type == PrometheusType::Gauge),
            "{gauge} missing or not a gauge:\n{text}"
        );
    }

    // A second scrape counts the first one, and nothing else changed.
    let (_, again) = fetch(&api).await;
    assert_eq!(counter(&again, "treebeard_api_requests", &users), 7.0);
    assert_eq!(
        counter(
            &again,
            "treebeard_api_requests",
            &[("endpoint", "/metrics")]
        ),
        1.0
    );
}

#[tokio::test]
async fn metrics_route_is_404_with_another_backend() {
    let api = ExampleApi::start(&[("APM_PROVIDER", "none"), ("METRICS_BACKEND", "none")]);
    let res = client().get(api.url("/metrics")).send().await.unwrap();
    assert_eq!(res.status(), 404);
}
