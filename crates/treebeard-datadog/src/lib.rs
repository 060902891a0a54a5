//! A DataDog APM tracer for the `tracing` ecosystem.
//!
//! [`install`] starts one background exporter thread and returns a
//! `tracing` layer ([`DatadogLayer`]): every span at [`SPAN_LEVEL`] or above
//! becomes a DataDog span, parented by the span tree, and each finished
//! trace is queued for the agent, encoded in its v0.4 MessagePack format
//! and sent over HTTP (TCP or a Unix socket). Sampling (a default rate,
//! [`SamplingRule`]s and a rate limit) and header propagation
//! ([`PropagationStyle`]: DataDog, W3C trace context, B3) follow DataDog's
//! own tracers. Requests never wait on export: when the agent is down or
//! slow, payloads wait in a retry buffer bounded in bytes
//! ([`DEFAULT_BUFFER_MAX_BYTES`]) and are sent, oldest first, as soon as it
//! answers again; what exceeds the buffer is dropped and counted
//! ([`Exporter::stats`]).
//!
//! ```no_run
//! use tracing_subscriber::layer::SubscriberExt;
//! use tracing_subscriber::util::SubscriberInitExt;
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let config = treebeard_datadog::DatadogConfig::new("billing")
//!     .with_env("staging")
//!     .with_version("1.4.0");
//! let (layer, exporter) = treebeard_datadog::install(&config)?;
//! tracing_subscriber::registry().with(layer).init();
//!
//! tracing::info_span!("job", otel.kind = "server", resource.name = "nightly").in_scope(|| {
//!     // traced work
//! });
//! exporter.shutdown(std::time::Duration::from_secs(5)); // flushes the queue
//! # Ok(()) }
//! ```
//!
//! Span fields name the DataDog span: `operation.name` (or `otel.name`),
//! `resource.name`, `service.name`, `span.type`, `otel.kind`,
//! `otel.status_code` = `error` with `error.type`/`error.message`; other
//! fields become tags (numbers become metrics).
//!
//! Why a tracer of our own instead of dd-trace-rs behind OpenTelemetry:
//! that path costs about 60k instructions per span with every trace
//! exported (OpenTelemetry span creation, DataDog's sampler over
//! OpenTelemetry attributes, conversion on the exporter thread); this one
//! about 5k. TreeBeard's docs/performance.md has the measurements.
#![forbid(unsafe_code)]
// On docs.rs (nightly), feature-gated items say which feature they need.
#![cfg_attr(docsrs, feature(doc_cfg))]

#[cfg(feature = "export")]
mod backlog;
mod config;
#[cfg(feature = "export")]
mod encode;
#[cfg(feature = "export")]
mod exporter;
#[cfg(feature = "export")]
mod fields;
#[cfg(all(test, feature = "export"))]
mod golden_tests;
mod headers;
#[cfg(feature = "export")]
mod ids;
#[cfg(feature = "export")]
mod inline;
#[cfg(feature = "export")]
mod layer;
#[cfg(feature = "export")]
mod propagation;
#[cfg(feature = "export")]
mod sampler;
#[cfg(feature = "export")]
mod span;
mod stats;
#[cfg(feature = "export")]
mod tracer;
#[cfg(feature = "export")]
mod transport;

/// DataDog's Python tracer as the reference of the differential tests.
#[cfg(test)]
#[path = "../../../tests/peers/ddtrace_reference.rs"]
mod reference;

pub use config::{PropagationStyle, SamplingRule};
pub use headers::has_trace_headers;
pub use stats::ExportStats;
#[cfg(feature = "export")]
pub use tracer::*;
