//! The variants: which stack wraps [`crate::app::routes`], and how it is set up.
//!
//! TreeBeard variants read their settings through `treebeard::Config` from
//! the process environment, with per-variant overrides on top
//! ([`Overrides`]). So `treebeard-full` turns on whatever the environment
//! asks for (APM to the agent in `DD_TRACE_AGENT_URL`, DogStatsD in
//! `METRICS_BACKEND`/`DD_DOGSTATSD_PORT`, Sentry in `SENTRY_DSN`) as soon as
//! `treebeard::init` supports it. Adding a single-layer variant is one entry
//! in [`Variant::ALL`] and one match arm in [`Variant::build`].

use std::any::Any;

use axum::Router;
use treebeard::MonitoringGuard;
use treebeard::catch_panic::CatchPanicLayer;
use treebeard::config::{Config, ConfigSource, EnvSource};
use treebeard::metrics::RequestMetricsLayer;
use treebeard::request_id::RequestIdLayer;
use treebeard::request_log::RequestLogLayer;
use treebeard::sentry::ErrorCaptureLayer;

use crate::app;
use crate::hand_assembled;

/// One benchmarked stack.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Variant {
    /// Plain axum, no layer, no subscriber.
    Bare,
    /// What Rust users assemble by hand today (see [`hand_assembled`]).
    HandAssembled,
    /// `treebeard::init` and `guard.layer()` with every feature the
    /// environment turns on.
    TreebeardFull,
    /// The full stack with Sentry transactions too
    /// (`SENTRY_TRACES_SAMPLE_RATE=1.0`), like the hand-assembled stack.
    TreebeardSentryTraces,
    /// The same with `MONITORING_ENABLED=false`, wired as the README shows
    /// (`guard.apply(router)`).
    TreebeardDisabled,
    /// `MONITORING_ENABLED=false` wired with `router.layer(guard.layer())`:
    /// axum boxes every route again, even for a pass-through layer.
    TreebeardDisabledLayer,
    /// `RequestIdLayer` alone, no subscriber.
    LayerRequestId,
    /// `RequestLogLayer` alone, with TreeBeard's JSON log layer (APM off).
    LayerRequestLog,
    /// `CatchPanicLayer` alone, no subscriber.
    LayerCatchPanic,
    /// `RequestLogLayer` with the APM exporter on (span per request).
    LayerApm,
    /// `RequestMetricsLayer` alone, with the DogStatsD exporter on.
    LayerMetrics,
    /// `ErrorCaptureLayer` alone, with Sentry on (no transactions).
    LayerSentry,
    /// The example API's router with every feature the environment turns
    /// on (driven at `GET /users/1`).
    ExampleOn,
    /// The same with `MONITORING_ENABLED=false`.
    ExampleOff,
    /// The full stack with DataDog spans through OpenTelemetry and
    /// dd-trace-rs (`APM_PROVIDER=datadog-otel`) instead of treebeard's own.
    TreebeardFullOtel,
    /// The full stack with the dev console recording every request
    /// (`TREEBEARD_DEV_CONSOLE`); `treebeard-full` is the console off.
    TreebeardConsole,
}

impl Variant {
    /// Every variant, in table order.
    pub const ALL: [Variant; 16] = [
        Variant::Bare,
        Variant::HandAssembled,
        Variant::TreebeardFull,
        Variant::TreebeardFullOtel,
        Variant::TreebeardSentryTraces,
        Variant::TreebeardConsole,
        Variant::TreebeardDisabled,
        Variant::TreebeardDisabledLayer,
        Variant::LayerRequestId,
        Variant::LayerRequestLog,
        Variant::LayerCatchPanic,
        Variant::LayerApm,
        Variant::LayerMetrics,
        Variant::LayerSentry,
        Variant::ExampleOn,
        Variant::ExampleOff,
    ];

    /// The command-line name.
    pub fn name(self) -> &'static str {
        match self {
            Variant::Bare => "bare",
            Variant::HandAssembled => "hand-assembled",
            Variant::TreebeardFull => "treebeard-full",
            Variant::TreebeardSentryTraces => "treebeard-sentry-traces",
            Variant::TreebeardDisabled => "treebeard-disabled",
            Variant::TreebeardDisabledLayer => "treebeard-disabled-layer",
            Variant::LayerRequestId => "layer-request-id",
            Variant::LayerRequestLog => "layer-request-log",
            Variant::LayerCatchPanic => "layer-catch-panic",
            Variant::LayerApm => "layer-apm",
            Variant::LayerMetrics => "layer-metrics",
            Variant::LayerSentry => "layer-sentry",
            Variant::ExampleOn => "example-on",
            Variant::ExampleOff => "example-off",
            Variant::TreebeardFullOtel => "treebeard-full-otel",
            Variant::TreebeardConsole => "treebeard-console",
        }
    }

    /// The route the in-process driver requests.
    pub fn path(self) -> &'static str {
        match self {
            Variant::ExampleOn | Variant::ExampleOff => "/users/1",
            _ => "/json",
        }
    }

    /// The variant called `name`.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|v| v.name() == name)
    }

    /// Sets the variant up (global subscriber, exporters) and returns its router.
    /// Call it inside a Tokio runtime context.
    pub fn build(self) -> Stack {
        let routes = app::routes();
        match self {
            Variant::Bare => Stack::new(routes, ()),
            Variant::HandAssembled => {
                let config = config(Overrides::NONE);
                let (router, guard) = hand_assembled::build(routes, &config);
                Stack::new(router, guard)
            }
            Variant::TreebeardFull => {
                let guard = init(Overrides::FULL);
                Stack::new(guard.layer().apply(routes), guard)
            }
            Variant::TreebeardSentryTraces => {
                let guard = init(Overrides::SENTRY_TRACES);
                Stack::new(guard.layer().apply(routes), guard)
            }
            Variant::TreebeardConsole => {
                let guard = init(Overrides::CONSOLE);
                Stack::new(guard.layer().apply(routes), guard)
            }
            Variant::TreebeardDisabled => {
                let guard = init(Overrides::DISABLED);
                Stack::new(guard.apply(routes), guard)
            }
            Variant::TreebeardDisabledLayer => {
                let guard = init(Overrides::DISABLED);
                Stack::new(routes.layer(guard.layer()), guard)
            }
            Variant::LayerRequestId => Stack::new(routes.layer(RequestIdLayer::new()), ()),
            Variant::LayerRequestLog => {
                let guard = init(Overrides::LOG_ONLY);
                Stack::new(routes.layer(RequestLogLayer::new()), guard)
            }
            Variant::LayerCatchPanic => Stack::new(routes.layer(CatchPanicLayer::new()), ()),
            Variant::TreebeardFullOtel => {
                let guard = init(Overrides::FULL_OTEL);
                Stack::new(guard.layer().apply(routes), guard)
            }
            Variant::LayerApm => {
                let guard = init(Overrides::APM_ONLY);
                Stack::new(routes.layer(RequestLogLayer::new()), guard)
            }
            Variant::LayerMetrics => {
                let config = config(Overrides::METRICS_ONLY);
                let guard = init_with(&config);
                let layer = RequestMetricsLayer::from_config(&config);
                Stack::new(routes.layer(layer), guard)
            }
            Variant::LayerSentry => {
                let config = config(Overrides::SENTRY_ONLY);
                let guard = init_with(&config);
                let layer = ErrorCaptureLayer::new(&config);
                assert!(layer.is_active(), "layer-sentry needs SENTRY_DSN");
                Stack::new(routes.layer(layer), guard)
            }
            Variant::ExampleOn | Variant::ExampleOff => {
                let overrides = match self {
                    Variant::ExampleOn => Overrides::FULL,
                    _ => Overrides::DISABLED,
                };
                let guard = init(overrides);
                let db = example_api::db::Db::open_seeded().unwrap();
                // `/users/{id}` calls no recommender; the URL is never used.
                let state = example_api::AppState::new(db, "http://127.0.0.1:9/").unwrap();
                let router = example_api::app(state, guard.layer());
                Stack::new(router, guard)
            }
        }
    }
}

/// A variant's router and whatever must live until the end (dropping it flushes).
pub struct Stack {
    /// The app with the variant's layers.
    pub router: Router,
    _guard: Box<dyn Any>,
}

impl Stack {
    fn new(router: Router, guard: impl Any) -> Self {
        Self {
            router,
            _guard: Box::new(guard),
        }
    }
}

/// Variables set (`Some`) or unset (`None`) on top of the process environment.
#[derive(Clone, Copy)]
struct Overrides(&'static [(&'static str, Option<&'static str>)]);

impl Overrides {
    const NONE: Self = Self(&[]);
    /// Everything on that the environment configures; logs correlated.
    const FULL: Self = Self(&[
        ("MONITORING_ENABLED", Some("true")),
        ("DD_LOGS_INJECTION", Some("true")),
    ]);
    /// [`Self::FULL`] with every request a Sentry transaction.
    const SENTRY_TRACES: Self = Self(&[
        ("MONITORING_ENABLED", Some("true")),
        ("DD_LOGS_INJECTION", Some("true")),
        ("SENTRY_TRACES_SAMPLE_RATE", Some("1.0")),
    ]);
    /// [`Self::FULL`] with dd-trace-rs behind OpenTelemetry for spans.
    const FULL_OTEL: Self = Self(&[
        ("MONITORING_ENABLED", Some("true")),
        ("DD_LOGS_INJECTION", Some("true")),
        ("APM_PROVIDER", Some("datadog-otel")),
    ]);
    /// [`Self::FULL`] with the dev console on (`force`: whatever DD_ENV says).
    const CONSOLE: Self = Self(&[
        ("MONITORING_ENABLED", Some("true")),
        ("DD_LOGS_INJECTION", Some("true")),
        ("TREEBEARD_DEV_CONSOLE", Some("force")),
    ]);
    const DISABLED: Self = Self(&[("MONITORING_ENABLED", Some("false"))]);
    /// The JSON log layer only: no exporter of any kind.
    const LOG_ONLY: Self = Self(&[
        ("MONITORING_ENABLED", Some("true")),
        ("APM_PROVIDER", Some("none")),
        ("METRICS_BACKEND", Some("none")),
        ("SENTRY_DSN", None),
    ]);
    /// Span export on; the other exporters off.
    const APM_ONLY: Self = Self(&[
        ("MONITORING_ENABLED", Some("true")),
        ("APM_PROVIDER", Some("datadog")),
        ("METRICS_BACKEND", Some("none")),
        ("SENTRY_DSN", None),
    ]);
    /// Metrics as the environment configures them; the other exporters off.
    const METRICS_ONLY: Self = Self(&[
        ("MONITORING_ENABLED", Some("true")),
        ("APM_PROVIDER", Some("none")),
        ("SENTRY_DSN", None),
    ]);
    /// Sentry as the environment configures it (no transactions); the other
    /// exporters off.
    const SENTRY_ONLY: Self = Self(&[
        ("MONITORING_ENABLED", Some("true")),
        ("APM_PROVIDER", Some("none")),
        ("METRICS_BACKEND", Some("none")),
        ("SENTRY_TRACES_SAMPLE_RATE", None),
    ]);
}

impl ConfigSource for Overrides {
    fn get(&self, name: &str) -> Option<String> {
        match self.0.iter().find(|(k, _)| *k == name) {
            Some((_, value)) => value.map(str::to_owned),
            None => EnvSource.get(name),
        }
    }
}

fn config(overrides: Overrides) -> Config {
    let mut config = Config::builder()
        .with_source(overrides)
        .build()
        .unwrap_or_else(|e| panic!("bench-driver: {e}"));
    // procfs reads the ELF auxiliary vector in a way valgrind aborts on;
    // process gauges are sampled every 10 s, so they cost no instruction
    // per request either way.
    if EnvSource.get("BENCH_UNDER_VALGRIND").is_some() {
        config.metrics.process_metrics = false;
    }
    config
}

fn init(overrides: Overrides) -> MonitoringGuard {
    init_with(&config(overrides))
}

fn init_with(config: &Config) -> MonitoringGuard {
    treebeard::init(config).unwrap_or_else(|e| panic!("bench-driver: {e}"))
}
