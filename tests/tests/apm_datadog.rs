//! Traces from the example API, read back from DataDog's own APM test
//! agent: treebeard's own DataDog spans (`APM_PROVIDER=datadog`).

use std::time::{Duration, Instant};

use serde_json::Value;
use treebeard_e2e::peers::{TestAgent, span};
use treebeard_e2e::{ExampleApi, client};

const PROVIDER: &str = "datadog";

include!("shared/apm_datadog.rs");
