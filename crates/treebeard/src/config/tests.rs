use std::collections::HashMap;

use super::*;

fn build(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
    let map: HashMap<String, String> = vars
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    Config::builder().with_source(map).build()
}

fn only_error(vars: &[(&str, &str)]) -> InvalidVariable {
    let err = build(vars).unwrap_err();
    assert_eq!(err.invalid.len(), 1, "{err}");
    err.invalid.into_iter().next().unwrap()
}

#[test]
fn defaults_match_the_reference() {
    let c = build(&[]).unwrap();
    assert!(c.enabled);
    assert_eq!(c.service, "treebeard-api");
    assert_eq!(c.env, None, "unset DD_ENV is no env tag, not a made-up one");
    assert!(c.logs_injection);
    assert_eq!(c.apm.provider, ApmProvider::Datadog);
    assert!(c.apm.enabled);
    assert_eq!(c.apm.agent_url.as_str(), "http://localhost:8126/");
    assert_eq!(c.apm.sample_rate, None, "unset: the agent's rates decide");
    assert_eq!(c.apm.rate_limit, 100);
    assert_eq!(c.apm.propagation, PropagationStyle::DEFAULT);
    assert_eq!(c.apm.propagation_extract, PropagationStyle::DEFAULT);
    assert_eq!(c.apm.propagation_inject, PropagationStyle::DEFAULT);
    assert_eq!(c.metrics.backend, MetricsBackend::DogStatsd);
    assert_eq!(
        c.metrics.dogstatsd,
        DogStatsdTarget::Udp {
            host: "localhost".into(),
            port: 8125
        }
    );
    assert_eq!(c.sentry.dsn, None);
    assert_eq!(c.sentry.environment, None);
    assert_eq!(c.sentry.release, "0.0.0");
    assert_eq!(c.sentry.traces_sample_rate, 0.0);
    assert!(!c.profiling_enabled);
}

#[test]
fn reads_every_reference_variable() {
    let c = build(&[
        ("DD_AGENT_HOST", "agent.internal"),
        ("DD_TRACE_AGENT_PORT", "9126"),
        ("DD_SERVICE", "recs"),
        ("DD_ENV", "production"),
        ("DD_VERSION", "1.2.3"),
        ("DD_LOGS_INJECTION", "false"),
        ("DD_TRACE_SAMPLE_RATE", "0.25"),
        ("DD_TRACE_RATE_LIMIT", "5000"),
        ("TREEBEARD_TRACE_BUFFER_MAX_BYTES", "1048576"),
        ("DD_PROFILING_ENABLED", "true"),
        ("SENTRY_DSN", "https://abc@o1.ingest.sentry.io/42"),
        ("SENTRY_ENVIRONMENT", "prod-eu"),
        ("SENTRY_TRACES_SAMPLE_RATE", "1.0"),
        ("PAGERDUTY_INTEGRATION_KEY", "integration123"),
        ("PAGERDUTY_ROUTING_KEY", "routing123"),
        (
            "SLACK_WEBHOOK_URL",
            "https://hooks.slack.com/services/T/B/X",
        ),
        ("SLACK_BOT_TOKEN", "xoxb-1-2"),
        ("APM_PROVIDER", "OTLP"),
        ("METRICS_BACKEND", "statsd"),
        ("MONITORING_ENABLED", "0"),
        ("DD_DOGSTATSD_PORT", "9125"),
        ("DD_TAGS", "team:core, tier:web region:eu"),
        ("DD_TRACE_ENABLED", "no"),
        ("SENTRY_RELEASE", "recs@1.2.3"),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318"),
    ])
    .unwrap();
    assert!(!c.enabled);
    assert_eq!(c.apm.agent_url.as_str(), "http://agent.internal:9126/");
    assert_eq!(
        (
            c.service.as_str(),
            c.env.as_deref().unwrap_or_default(),
            c.version.as_str()
        ),
        ("recs", "production", "1.2.3")
    );
    assert!(!c.logs_injection);
    assert_eq!(c.apm.sample_rate, Some(0.25));
    assert_eq!(c.apm.rate_limit, 5000);
    assert_eq!(c.apm.buffer_max_bytes, 1 << 20);
    assert!(c.profiling_enabled);
    assert_eq!(
        c.sentry.dsn.as_ref().unwrap().expose(),
        "https://abc@o1.ingest.sentry.io/42"
    );
    assert_eq!(c.sentry.environment, Some("prod-eu".to_owned()));
    assert_eq!(c.sentry.release, "recs@1.2.3");
    assert_eq!(c.sentry.traces_sample_rate, 1.0);
    assert_eq!(
        c.notifiers.pagerduty_routing_key.as_ref().unwrap().expose(),
        "routing123"
    );
    assert!(c.notifiers.pagerduty_integration_key.is_some());
    assert!(c.notifiers.slack_webhook_url.is_some());
    assert!(c.notifiers.slack_bot_token.is_some());
    assert_eq!(c.apm.provider, ApmProvider::Otlp);
    assert!(!c.apm.enabled);
    assert_eq!(c.apm.otlp_endpoint.as_str(), "http://collector:4318/");
    assert_eq!(c.metrics.backend, MetricsBackend::DogStatsd);
    assert_eq!(
        c.metrics.dogstatsd,
        DogStatsdTarget::Udp {
            host: "agent.internal".into(),
            port: 9125
        }
    );
    assert_eq!(c.tags, ["team:core", "tier:web", "region:eu"]);
}

#[test]
fn sampling_rules_are_parsed_in_order() {
    let c = build(&[(
        "DD_TRACE_SAMPLING_RULES",
        r#"[{"sample_rate": 0.1, "service": "web*", "tags": {"tier": "gold"}}, {"sample_rate": 1}]"#,
    )])
    .unwrap();
    assert_eq!(c.apm.sampling_rules.len(), 2);
    assert_eq!(c.apm.sampling_rules[0].sample_rate, 0.1);
    assert_eq!(c.apm.sampling_rules[0].service.as_deref(), Some("web*"));
    assert_eq!(c.apm.sampling_rules[0].tags["tier"], "gold");
    assert_eq!(c.apm.sampling_rules[1].sample_rate, 1.0);
}

#[test]
fn urls_override_host_and_port() {
    let c = build(&[
        ("DD_AGENT_HOST", "ignored"),
        ("DD_TRACE_AGENT_URL", "unix:///var/run/datadog/apm.socket"),
        ("DD_DOGSTATSD_URL", "unix:///var/run/datadog/dsd.socket"),
    ])
    .unwrap();
    assert_eq!(
        c.apm.agent_url.as_str(),
        "unix:///var/run/datadog/apm.socket"
    );
    assert_eq!(
        c.metrics.dogstatsd,
        DogStatsdTarget::Unix("/var/run/datadog/dsd.socket".into())
    );
    let c = build(&[
        ("DD_DOGSTATSD_URL", "udp://127.0.0.1:9999"),
        ("DD_AGENT_HOST", "::1"),
    ])
    .unwrap();
    assert_eq!(
        c.metrics.dogstatsd,
        DogStatsdTarget::Udp {
            host: "127.0.0.1".into(),
            port: 9999
        }
    );
    assert_eq!(c.apm.agent_url.as_str(), "http://[::1]:8126/");
}

#[test]
fn code_beats_environment_beats_default() {
    let c = Config::builder()
        .with_source([
            ("DD_SERVICE", "from-env"),
            ("DD_ENV", "env-env"),
            ("MONITORING_ENABLED", "true"),
        ])
        .with_service("from-code")
        .with_enabled(false)
        .with_apm_provider(ApmProvider::None)
        .build()
        .unwrap();
    assert_eq!(c.service, "from-code");
    assert_eq!(c.env.as_deref(), Some("env-env"));
    assert_eq!(c.version, "0.0.0");
    assert!(!c.enabled);
    assert_eq!(c.apm.provider, ApmProvider::None);
}

#[test]
fn blank_values_mean_unset() {
    let c = build(&[("DD_SERVICE", "  "), ("DD_TRACE_SAMPLE_RATE", "")]).unwrap();
    assert_eq!(c.service, "treebeard-api");
    assert_eq!(c.apm.sample_rate, None);
}

#[test]
fn the_trace_buffer_defaults_to_16_mib_and_0_turns_it_off() {
    let c = build(&[]).unwrap();
    assert_eq!(c.apm.buffer_max_bytes, 16 * 1024 * 1024);
    let c = build(&[("TREEBEARD_TRACE_BUFFER_MAX_BYTES", "0")]).unwrap();
    assert_eq!(c.apm.buffer_max_bytes, 0);
}

#[test]
fn each_invalid_value_names_variable_value_and_expectation() {
    let cases: &[(&str, &str, &str)] = &[
        ("DD_TRACE_SAMPLE_RATE", "abc", "0.0 to 1.0"),
        ("DD_TRACE_SAMPLE_RATE", "2.0", "0.0 to 1.0"),
        ("DD_TRACE_SAMPLE_RATE", "NaN", "0.0 to 1.0"),
        ("DD_TRACE_RATE_LIMIT", "0", "1 to 2147483647"),
        ("DD_TRACE_RATE_LIMIT", "-1", "1 to 2147483647"),
        ("DD_TRACE_RATE_LIMIT", "2147483648", "1 to 2147483647"),
        (
            "TREEBEARD_TRACE_BUFFER_MAX_BYTES",
            "16MB",
            "0 (no buffer) to 1073741824",
        ),
        (
            "TREEBEARD_TRACE_BUFFER_MAX_BYTES",
            "-1",
            "0 (no buffer) to 1073741824",
        ),
        (
            "TREEBEARD_TRACE_BUFFER_MAX_BYTES",
            "1073741825",
            "0 (no buffer) to 1073741824",
        ),
        ("SENTRY_TRACES_SAMPLE_RATE", "-0.5", "0.0 to 1.0"),
        ("APM_PROVIDER", "foo", "datadog, datadog-otel, otlp, none"),
        ("METRICS_BACKEND", "graphite", "datadog, statsd"),
        ("DD_TRACE_AGENT_PORT", "99999", "1 to 65535"),
        ("DD_TRACE_AGENT_PORT", "0", "1 to 65535"),
        ("DD_DOGSTATSD_PORT", "udp", "1 to 65535"),
        ("MONITORING_ENABLED", "maybe", "true or false"),
        ("DD_LOGS_INJECTION", "2", "true or false"),
        ("DD_TRACE_ENABLED", "enabled", "true or false"),
        ("DD_PROFILING_ENABLED", "y", "true or false"),
        ("DD_AGENT_HOST", "http://agent:8126", "host name or IP"),
        ("DD_TRACE_AGENT_URL", "agent:8126", "http://"),
        ("DD_TRACE_AGENT_URL", "ftp://agent", "http://"),
        ("DD_DOGSTATSD_URL", "tcp://agent:8125", "udp://"),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", "collector", "http://"),
        (
            "DD_TRACE_PROPAGATION_STYLE",
            "datadog,zipkin",
            "tracecontext",
        ),
        ("DD_TAGS", "team:core,bad|tag", "key:value"),
        ("RUST_LOG", "info,foo=loud", "level"),
        (
            "DD_TRACE_SAMPLING_RULES",
            "[{\"sample_rate\": 1.5}]",
            "JSON array",
        ),
        ("DD_TRACE_SAMPLING_RULES", "{not json", "JSON array"),
        ("DD_TRACE_SAMPLING_RULES", "[{\"rate\": 0.5}]", "JSON array"),
    ];
    for (name, value, expected) in cases {
        let e = only_error(&[(name, value)]);
        assert_eq!(e.name, *name);
        assert_eq!(e.value, *value, "{name} should show its value");
        assert!(
            e.expected.contains(expected),
            "{name}: {:?} lacks {expected:?}",
            e.expected
        );
        let line = e.to_string();
        assert!(line.starts_with(&format!("{name}=")), "{line}");
    }
}

#[test]
fn secrets_are_redacted_in_errors() {
    let cases: &[(&str, &str, &str)] = &[
        (
            "SENTRY_DSN",
            "https://supersecretkey@sentry.example.com",
            "supersecretkey",
        ),
        ("SENTRY_DSN", "not a dsn supersecretkey", "supersecretkey"),
        (
            "SLACK_WEBHOOK_URL",
            "ftp://hooks.slack.com/services/SECRETPATH",
            "SECRETPATH",
        ),
        ("SLACK_BOT_TOKEN", "abc-SECRETTOKEN", "SECRETTOKEN"),
        ("PAGERDUTY_ROUTING_KEY", "SECRET KEY", "SECRET"),
        ("PAGERDUTY_INTEGRATION_KEY", "SECRET KEY", "SECRET"),
    ];
    for (name, value, secret) in cases {
        let err = build(&[(name, value)]).unwrap_err();
        let text = err.to_string();
        assert!(text.contains(name), "{text}");
        assert!(!text.contains(secret), "{name} leaked its value: {text}");
        assert!(text.contains("redacted"), "{text}");
    }
    let err = build(&[("SENTRY_DSN", "https://supersecretkey@sentry.example.com")]).unwrap_err();
    assert!(
        err.to_string().contains("sentry.example.com"),
        "host stays visible: {err}"
    );
}

#[test]
fn every_invalid_variable_is_reported_at_once() {
    let err = build(&[
        ("DD_TRACE_SAMPLE_RATE", "abc"),
        ("APM_PROVIDER", "foo"),
        ("DD_TRACE_AGENT_PORT", "99999"),
        ("SENTRY_DSN", "nope"),
    ])
    .unwrap_err();
    let mut names: Vec<_> = err.names().collect();
    names.sort_unstable();
    assert_eq!(
        names,
        [
            "APM_PROVIDER",
            "DD_TRACE_AGENT_PORT",
            "DD_TRACE_SAMPLE_RATE",
            "SENTRY_DSN"
        ]
    );
    let text = err.to_string();
    assert!(
        text.starts_with("invalid monitoring configuration: 4 environment variables are invalid"),
        "{text}"
    );
    assert_eq!(text.lines().count(), 5, "{text}");
}

#[test]
fn secret_debug_never_shows_the_value() {
    let c = build(&[("SENTRY_DSN", "https://abcdef@o1.ingest.sentry.io/42")]).unwrap();
    let debug = format!("{c:?}");
    assert!(!debug.contains("abcdef"), "{debug}");
}

#[test]
fn registry_lists_each_variable_once() {
    let mut names: Vec<_> = vars::VARIABLES.iter().map(|v| v.name).collect();
    let total = names.len();
    names.sort_unstable();
    names.dedup();
    assert_eq!(names.len(), total);
}

#[test]
fn library_backtraces_follow_std_rules() {
    let on = |vars: &[(&str, &str)]| build(vars).unwrap().library_backtraces;
    assert!(!on(&[]));
    assert!(on(&[("RUST_BACKTRACE", "1")]));
    assert!(on(&[("RUST_BACKTRACE", "full")]));
    assert!(!on(&[("RUST_BACKTRACE", "0")]));
    assert!(on(&[("RUST_LIB_BACKTRACE", "1")]));
    assert!(!on(&[("RUST_BACKTRACE", "1"), ("RUST_LIB_BACKTRACE", "0")]));
    assert!(on(&[("RUST_BACKTRACE", "0"), ("RUST_LIB_BACKTRACE", "1")]));
}

#[test]
fn dogstatsd_host_then_agent_host_and_runtime_metrics_switch() {
    let c = build(&[("DD_AGENT_HOST", "agent"), ("DD_DOGSTATSD_HOST", "statsd")]).unwrap();
    assert_eq!(
        c.metrics.dogstatsd,
        DogStatsdTarget::Udp {
            host: "statsd".into(),
            port: 8125
        }
    );
    assert!(c.metrics.runtime_metrics, "on by default");
    let c = build(&[
        ("DD_AGENT_HOST", "agent"),
        ("DD_RUNTIME_METRICS_ENABLED", "0"),
    ])
    .unwrap();
    assert!(!c.metrics.runtime_metrics);
    assert_eq!(
        c.metrics.dogstatsd,
        DogStatsdTarget::Udp {
            host: "agent".into(),
            port: 8125
        }
    );
    let err = build(&[("DD_RUNTIME_METRICS_ENABLED", "maybe")]).unwrap_err();
    assert!(
        err.to_string().contains("DD_RUNTIME_METRICS_ENABLED"),
        "{err}"
    );
}

#[test]
fn propagation_styles_per_direction_override_the_common_one() {
    use PropagationStyle::{B3, B3Multi, Baggage, Datadog, TraceContext};
    let c = build(&[
        ("DD_TRACE_PROPAGATION_STYLE", "b3multi,baggage"),
        (
            "DD_TRACE_PROPAGATION_STYLE_EXTRACT",
            "tracecontext, Datadog",
        ),
    ])
    .unwrap();
    assert_eq!(c.apm.propagation, [B3Multi, Baggage]);
    assert_eq!(c.apm.propagation_extract, [TraceContext, Datadog]);
    assert_eq!(c.apm.propagation_inject, [B3Multi, Baggage]);
    let c = build(&[("DD_TRACE_PROPAGATION_STYLE_INJECT", "b3,none")]).unwrap();
    assert_eq!(c.apm.propagation_extract, PropagationStyle::DEFAULT);
    assert_eq!(c.apm.propagation_inject, [B3]);
    let bad = only_error(&[("DD_TRACE_PROPAGATION_STYLE_EXTRACT", "zipkin")]);
    assert!(bad.to_string().contains("baggage"), "{bad}");
}

#[test]
fn the_dev_console_is_off_by_default_and_refused_in_production_unless_forced() {
    let off = build(&[]).unwrap().console;
    assert!(!off.enabled && !off.forced);
    assert_eq!(off.capacity, DEFAULT_CONSOLE_CAPACITY);
    assert_eq!(off.max_bytes, DEFAULT_CONSOLE_MAX_BYTES);
    let on = build(&[("TREEBEARD_DEV_CONSOLE", "true"), ("DD_ENV", "local")]).unwrap();
    assert!(on.console.enabled && !on.console.forced);
    // Unset DD_ENV is no production.
    assert!(
        build(&[("TREEBEARD_DEV_CONSOLE", "1")])
            .unwrap()
            .console
            .enabled
    );
    for prod in ["prod", "production", "Production", "PROD"] {
        let err = only_error(&[("TREEBEARD_DEV_CONSOLE", "true"), ("DD_ENV", prod)]);
        assert_eq!(err.name, "TREEBEARD_DEV_CONSOLE");
        assert_eq!(err.value, "true");
        assert!(
            err.expected.contains("DD_ENV is prod or production"),
            "{err}"
        );
        assert!(
            err.expected.contains("TREEBEARD_DEV_CONSOLE=force"),
            "{err}"
        );
        let forced = build(&[("TREEBEARD_DEV_CONSOLE", "force"), ("DD_ENV", prod)]).unwrap();
        assert!(forced.console.enabled && forced.console.forced);
        // Off in production is fine, of course.
        assert!(
            !build(&[("TREEBEARD_DEV_CONSOLE", "false"), ("DD_ENV", prod)])
                .unwrap()
                .console
                .enabled
        );
    }
    // DD_ENV set in code counts too.
    let err = Config::builder()
        .with_source([("TREEBEARD_DEV_CONSOLE", "on")])
        .with_env("production")
        .build()
        .unwrap_err();
    assert_eq!(err.names().collect::<Vec<_>>(), ["TREEBEARD_DEV_CONSOLE"]);
    let err = only_error(&[("TREEBEARD_DEV_CONSOLE", "maybe")]);
    assert_eq!(
        err.expected,
        "true, false (also 1/0, yes/no, on/off) or force"
    );
}

#[test]
fn probes_are_ignored_by_default_and_the_list_can_change() {
    assert_eq!(build(&[]).unwrap().ignore_routes, ["/health", "/metrics"]);
    let c = build(&[("MONITORING_IGNORE_ROUTES", " /ready , /internal/{job}")]).unwrap();
    assert_eq!(c.ignore_routes, ["/ready", "/internal/{job}"]);
    assert!(
        build(&[("MONITORING_IGNORE_ROUTES", "NONE")])
            .unwrap()
            .ignore_routes
            .is_empty()
    );
    let err = build(&[("MONITORING_IGNORE_ROUTES", "health")]).unwrap_err();
    assert!(
        err.to_string().contains("MONITORING_IGNORE_ROUTES"),
        "{err}"
    );
}
