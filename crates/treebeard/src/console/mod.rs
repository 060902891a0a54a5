//! The local dev console: the last requests, their spans as a waterfall,
//! their log lines and errors, and per-route latency, live at
//! `/_treebeard`, for a developer without an agent or Sentry.
//!
//! `TREEBEARD_DEV_CONSOLE=true` makes [`init`](crate::init()) add the
//! console's `tracing` layer ([`layer`]) and makes the
//! [`MonitoringLayer`](crate::MonitoringLayer) answer `/_treebeard` itself
//! ([`service`]), before the request layers, so console requests are
//! neither logged nor shown. Off (the default), neither exists: no layer,
//! no buffer, the same service as without this module.
//!
//! Safe by construction: only loopback peers get an answer (axum's
//! `ConnectInfo<SocketAddr>` is required; without it every console request
//! is a 404), only `GET`, and every value shown has been through the PII
//! scrubber. Bounded: [`buffer`] keeps at most `capacity` requests and
//! `max_bytes` bytes, each request at most [`layer::MAX_SPANS`] spans and
//! [`layer::MAX_LINES`] lines. See docs/dev-console.md.

mod buffer;
mod layer;
mod service;
mod stats;

use std::str::FromStr;
use std::sync::{Arc, OnceLock};

use tracing_subscriber::Layer;
use tracing_subscriber::filter::Targets;
use tracing_subscriber::registry::LookupSpan;

use crate::config::Config;
use crate::trace_context::SPAN_LEVEL;
pub(crate) use service::ConsoleService;

use buffer::Console;
use layer::ConsoleLayer;

static INSTALLED: OnceLock<Arc<Console>> = OnceLock::new();

/// The console's `tracing` layer, when `config` turns the console on (and
/// monitoring is enabled); `None` otherwise, and then nothing else of the
/// console exists. Its lines are filtered by `RUST_LOG` like the JSON
/// output's, and its spans at INFO and above are always seen.
pub(crate) fn install<S>(config: &Config) -> Option<impl Layer<S> + Send + Sync + use<S>>
where
    S: tracing::Subscriber + for<'a> LookupSpan<'a>,
{
    if !config.console.enabled || !config.enabled {
        return None;
    }
    let console = INSTALLED.get_or_init(|| {
        Arc::new(Console::new(
            config.console.capacity,
            config.console.max_bytes,
        ))
    });
    // `Config` validated the filter; a filter that does not parse here
    // (set in code after validation) records spans but no lines.
    let filter = Targets::from_str(&config.log_filter).unwrap_or_default();
    let filter = tracing_subscriber::filter::filter_fn(move |meta| {
        if meta.is_span() {
            return *meta.level() <= SPAN_LEVEL || filter.would_enable(meta.target(), meta.level());
        }
        filter.would_enable(meta.target(), meta.level())
    });
    Some(ConsoleLayer::new(console.clone()).with_filter(filter))
}

/// The service that answers `/_treebeard`, when [`install`] ran.
pub(crate) fn installed() -> Option<ConsoleService> {
    INSTALLED.get().cloned().map(ConsoleService::new)
}

/// Ends the live streams, so a graceful shutdown does not wait on an open
/// console tab. Called by [`shutdown_signal`](crate::shutdown_signal).
pub(crate) fn close_streams() {
    if let Some(console) = INSTALLED.get() {
        console.signal.send_modify(|s| s.closing = true);
    }
}

/// A console of its own, not the process's, for tests of the stack.
#[cfg(test)]
pub(crate) fn service_for_tests() -> ConsoleService {
    ConsoleService::new(Arc::new(Console::new(10, 1 << 20)))
}
