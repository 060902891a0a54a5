//! Bad environment values stop the example at start-up with a clear message.

use treebeard_e2e::ExampleApi;

#[test]
fn each_invalid_variable_is_named_with_its_value_and_the_accepted_values() {
    let cases: &[(&str, &str, &str)] = &[
        ("DD_TRACE_SAMPLE_RATE", "abc", "a number from 0.0 to 1.0"),
        ("DD_TRACE_SAMPLE_RATE", "2.0", "a number from 0.0 to 1.0"),
        (
            "APM_PROVIDER",
            "foo",
            "one of datadog, datadog-otel, otlp, none",
        ),
        (
            "DD_TRACE_AGENT_PORT",
            "99999",
            "a port number from 1 to 65535",
        ),
        ("METRICS_BACKEND", "graphite", "one of datadog"),
        ("MONITORING_ENABLED", "perhaps", "true or false"),
        ("DD_LOGS_INJECTION", "sure", "true or false"),
    ];
    for (name, value, expected) in cases {
        let (status, stdout, stderr) = ExampleApi::run_to_exit(&[(name, value)]);
        assert_eq!(status.code(), Some(2), "{name}={value}: {stderr}");
        assert!(stderr.contains(&format!("{name}=\"{value}\"")), "{stderr}");
        assert!(stderr.contains(expected), "{stderr}");
        assert!(!stdout.contains("listening"), "must not start: {stdout}");
    }
}

#[test]
fn a_malformed_sentry_dsn_is_named_but_its_key_is_redacted() {
    let (status, _, stderr) =
        ExampleApi::run_to_exit(&[("SENTRY_DSN", "https://TOPSECRETKEY@sentry.example.com")]);
    assert_eq!(status.code(), Some(2));
    assert!(stderr.contains("SENTRY_DSN="), "{stderr}");
    assert!(stderr.contains("sentry.example.com"), "{stderr}");
    assert!(!stderr.contains("TOPSECRETKEY"), "secret leaked: {stderr}");
}

#[test]
fn all_invalid_variables_are_reported_in_one_run() {
    let (status, _, stderr) = ExampleApi::run_to_exit(&[
        ("DD_TRACE_SAMPLE_RATE", "abc"),
        ("APM_PROVIDER", "foo"),
        ("DD_TRACE_AGENT_PORT", "99999"),
        ("SENTRY_DSN", "not-a-dsn"),
        ("PORT", "eighty"),
    ]);
    assert_eq!(status.code(), Some(2));
    for name in [
        "DD_TRACE_SAMPLE_RATE",
        "APM_PROVIDER",
        "DD_TRACE_AGENT_PORT",
        "SENTRY_DSN",
        "PORT",
    ] {
        assert!(
            stderr.contains(&format!("{name}=")),
            "{name} missing from: {stderr}"
        );
    }
    assert!(
        stderr.contains("4 environment variables are invalid"),
        "{stderr}"
    );
}

#[test]
fn profiling_enabled_logs_one_warning_and_starts() {
    let api = ExampleApi::start(&[("DD_PROFILING_ENABLED", "true"), ("APM_PROVIDER", "none")]);
    let warnings: Vec<_> = api
        .logs()
        .into_iter()
        .filter(|l| l["level"] == "WARN" && l["variable"] == "DD_PROFILING_ENABLED")
        .collect();
    assert_eq!(warnings.len(), 1);
    assert!(
        warnings[0]["message"]
            .as_str()
            .unwrap()
            .contains("not supported")
    );
}

#[test]
fn library_backtraces_with_dd_trace_rs_log_one_warning_naming_the_fix() {
    let warnings_with = |provider: &'static str, env: &[(&'static str, &'static str)]| -> usize {
        let mut env = env.to_vec();
        // A tracer is installed whether or not an agent listens.
        env.extend([
            ("APM_PROVIDER", provider),
            ("DD_TRACE_AGENT_URL", "http://127.0.0.1:9"),
        ]);
        let api = ExampleApi::start(&env);
        api.logs()
            .into_iter()
            .filter(|l| l["level"] == "WARN" && l["variable"] == "RUST_LIB_BACKTRACE")
            .inspect(|l| {
                let message = l["message"].as_str().unwrap();
                assert!(message.contains("RUST_LIB_BACKTRACE=0"), "{message}");
            })
            .count()
    };
    let warnings = |env| warnings_with("datadog-otel", env);
    assert_eq!(warnings(&[("RUST_BACKTRACE", "1")]), 1);
    assert_eq!(warnings(&[("RUST_LIB_BACKTRACE", "1")]), 1);
    assert_eq!(
        warnings(&[("RUST_BACKTRACE", "1"), ("RUST_LIB_BACKTRACE", "0")]),
        0
    );
    assert_eq!(warnings(&[("RUST_BACKTRACE", "0")]), 0);
    // treebeard's own exporter reports errors as text: no backtrace to fear.
    assert_eq!(warnings_with("datadog", &[("RUST_BACKTRACE", "1")]), 0);
}
