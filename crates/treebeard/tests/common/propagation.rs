// Shared by `propagation_props*.rs`: each file sets `PROVIDER` and
// includes this, so both DataDog tracers face the same properties.

const HEADERS: &[&str] = &[
    "x-datadog-trace-id",
    "x-datadog-parent-id",
    "x-datadog-sampling-priority",
    "x-datadog-origin",
    "x-datadog-tags",
    "traceparent",
    "tracestate",
    "b3",
    "x-b3-traceid",
    "x-b3-spanid",
    "x-b3-sampled",
    "x-b3-flags",
];

fn app(provider: &'static str) -> Router {
    // Nobody listens on port 9: export fails quietly, which is also under test.
    let config = treebeard::Config::builder()
        .with_source([
            ("APM_PROVIDER", provider),
            ("DD_TRACE_AGENT_URL", "http://127.0.0.1:9"),
            (
                "DD_TRACE_PROPAGATION_STYLE",
                "datadog,tracecontext,b3,b3multi",
            ),
            ("RUST_LOG", "error"),
        ])
        .build()
        .unwrap();
    let guard = Box::leak(Box::new(treebeard::init(&config).unwrap()));
    Router::new()
        .route(
            "/",
            get(|| async {
                let trace = treebeard::apm::current_trace_id().unwrap_or(0);
                format!("{trace:032x}|{}", trace != 0)
            }),
        )
        .layer(guard.layer())
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn call(rt: &tokio::runtime::Runtime, app: &Router, headers: &[(&str, String)]) -> (u16, String) {
    let mut req = http::Request::get("/");
    for (name, value) in headers {
        if let Ok(value) = http::HeaderValue::from_str(value) {
            req = req.header(*name, value);
        }
    }
    rt.block_on(async {
        let res = app
            .clone()
            .oneshot(req.body(Body::empty()).unwrap())
            .await
            .unwrap();
        let status = res.status().as_u16();
        let body = axum::body::to_bytes(res.into_body(), 1024).await.unwrap();
        (status, String::from_utf8(body.to_vec()).unwrap())
    })
}

/// One app per test process: `init` installs the global subscriber.
fn app_once(provider: &'static str) -> &'static Router {
    static APP: std::sync::OnceLock<Router> = std::sync::OnceLock::new();
    APP.get_or_init(|| app(provider))
}

fn header_value() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "[0-9a-fA-F-]{0,64}",
        "[0-9]{0,40}",
        "00-[0-9a-f]{32}-[0-9a-f]{16}-0[0-3]",
        "[0-9a-f]{16,32}-[0-9a-f]{16}(-[01d])?(-[0-9a-f]{16})?",
        "_dd.p.[a-z]{1,8}=[ -~]{0,300}(,_dd.p.[a-z]{1,8}=[ -~]{0,30}){0,8}",
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 500, ..ProptestConfig::default() })]

    #[test]
    fn any_trace_headers_give_a_valid_trace_and_never_fail(
        headers in proptest::collection::vec((proptest::sample::select(HEADERS), header_value()), 0..6)
    ) {
        let rt = runtime();
        let headers: Vec<(&str, String)> = headers.into_iter().collect();
        let (status, body) = call(&rt, app_once(PROVIDER), &headers);
        prop_assert_eq!(status, 200);
        prop_assert!(body.ends_with("|true"), "{}", body);
    }

    #[test]
    fn well_formed_datadog_context_is_continued(trace in 1u64.., parent in 1u64..) {
        let rt = runtime();
        let headers = [
            ("x-datadog-trace-id", trace.to_string()),
            ("x-datadog-parent-id", parent.to_string()),
            ("x-datadog-sampling-priority", "1".to_owned()),
        ];
        let (_, body) = call(&rt, app_once(PROVIDER), &headers);
        let trace_hex = body.split('|').next().unwrap_or_default().to_owned();
        prop_assert_eq!(u128::from_str_radix(&trace_hex, 16).ok(), Some(u128::from(trace)));
    }

    #[test]
    fn well_formed_traceparent_is_continued(trace in 1u128.., parent in 1u64..) {
        let rt = runtime();
        let headers = [("traceparent", format!("00-{trace:032x}-{parent:016x}-01"))];
        let (_, body) = call(&rt, app_once(PROVIDER), &headers);
        prop_assert_eq!(body, format!("{trace:032x}|true"));
    }
}
