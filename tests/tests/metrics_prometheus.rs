//! Prometheus end to end: scrape `/metrics` of the running example and
//! parse it with a Prometheus text-format parser.

use prometheus_parse::{Sample, Scrape, Value};
use treebeard_e2e::{ExampleApi, client};

const ENV: &[(&str, &str)] = &[
    ("APM_PROVIDER", "none"),
    ("METRICS_BACKEND", "prometheus"),
    ("DD_ENV", "e2e"),
    ("DD_SERVICE", "prom-e2e"),
    ("DD_VERSION", "2.0.0"),
    ("DD_TAGS", "team:core"),
];

async fn fetch(api: &ExampleApi) -> (String, Scrape) {
    let res = client().get(api.url("/metrics")).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert!(
        res.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain; version=0.0.4")
    );
    let text = res.text().await.unwrap();
    let scrape = Scrape::parse(text.lines().map(|l| Ok(l.to_owned())))
        .unwrap_or_else(|e| panic!("unparsable exposition ({e}):\n{text}"));
    (text, scrape)
}

fn labelled<'a>(
    scrape: &'a Scrape,
    name: &'a str,
    labels: &'a [(&str, &str)],
) -> impl Iterator<Item = &'a Sample> + 'a {
    scrape.samples.iter().filter(move |s| {
        s.metric == name && labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v))
    })
}

fn counter(scrape: &Scrape, name: &str, labels: &[(&str, &str)]) -> f64 {
    labelled(scrape, name, labels)
        .map(|s| match s.value {
            Value::Counter(v) | Value::Untyped(v) => v,
            ref other => panic!("{name} is not a counter: {other:?}"),
        })
        .sum()
}

#[tokio::test]
async fn prometheus_counters_match_the_requests_sent() {
    let api = ExampleApi::start(ENV);
    let http = client();
    for _ in 0..7 {
        assert_eq!(
            http.get(api.url("/users/2")).send().await.unwrap().status(),
            200
        );
    }
    for _ in 0..3 {
        assert_eq!(
            http.get(api.url("/demo/panic"))
                .send()
                .await
                .unwrap()
                .status(),
            500
        );
    }
    assert_eq!(
        http.get(api.url("/users/5/oops"))
            .send()
            .await
            .unwrap()
            .status(),
        404
    );

    let (text, scrape) = fetch(&api).await;
    let users = [
        ("endpoint", "/users/{id}"),
        ("method", "GET"),
        ("status", "200"),
    ];
    assert_eq!(
        counter(&scrape, "treebeard_api_requests", &users),
        7.0,
        "{text}"
    );
    let panics = [
        ("endpoint", "/demo/panic"),
        ("status", "500"),
        ("status_class", "5xx"),
    ];
    assert_eq!(counter(&scrape, "treebeard_api_requests", &panics), 3.0);
    assert_eq!(counter(&scrape, "treebeard_api_errors", &panics), 3.0);
    assert_eq!(
        counter(
            &scrape,
            "treebeard_api_requests",
            &[("endpoint", "unmatched")]
        ),
        1.0
    );
    assert!(
        !text.contains("/users/2") && !text.contains("/users/5"),
        "{text}"
    );

    // Durations are histograms in seconds, one observation per request.
    let count = labelled(&scrape, "treebeard_api_request_duration_count", &users)
        .map(|s| match s.value {
            Value::Untyped(v) | Value::Counter(v) => v,
            ref other => panic!("{other:?}"),
        })
        .sum::<f64>();
    let histogram =
        labelled(&scrape, "treebeard_api_request_duration", &users).find_map(|s| match &s.value {
            Value::Histogram(buckets) => Some(buckets.clone()),
            _ => None,
        });
    match histogram {
        Some(buckets) => {
            let inf = buckets.iter().map(|b| b.count).fold(0.0, f64::max);
            assert_eq!(inf, 7.0, "{text}");
        }
        None => assert_eq!(count, 7.0, "{text}"),
    }

    // Constant labels on every sample.
    for sample in &scrape.samples {
        for (k, v) in [
            ("env", "e2e"),
            ("service", "prom-e2e"),
            ("version", "2.0.0"),
            ("team", "core"),
        ] {
            assert_eq!(sample.labels.get(k), Some(v), "{} lacks {k}", sample.metric);
        }
    }
    // Resource and runtime gauges are there from the first sample.
    for gauge in [
        "treebeard_process_memory_rss",
        "treebeard_process_open_fds",
        "treebeard_runtime_workers",
    ] {
        assert!(
            scrape.samples.iter().any(|s| s.metric == gauge),
            "{gauge} missing:\n{text}"
        );
    }

    // A second scrape sees its own scrape counted, not more of the others.
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
