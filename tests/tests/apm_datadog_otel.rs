//! Traces from the example API, read back from DataDog's own APM test
//! agent: the same tests through OpenTelemetry and dd-trace-rs
//! (`APM_PROVIDER=datadog-otel`).

use std::time::{Duration, Instant};

use serde_json::Value;
use treebeard_e2e::peers::{TestAgent, span};
use treebeard_e2e::{ExampleApi, client};

const PROVIDER: &str = "datadog-otel";

include!("shared/apm_datadog.rs");
