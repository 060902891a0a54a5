//! Property tests for incoming trace-context headers, through the real
//! layer stack and DataDog's propagator in dd-trace-rs
//! (`APM_PROVIDER=datadog-otel`): no header value makes a request fail or
//! panic, and well-formed contexts are continued exactly.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use axum::{Router, body::Body, routing::get};
use proptest::prelude::*;
use tower::ServiceExt;

const PROVIDER: &str = "datadog-otel";

include!("common/propagation.rs");
