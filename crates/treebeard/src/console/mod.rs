//! The local dev console: the last requests, their spans as a waterfall,
//! their log lines and errors, and per-route latency, live at
//! [`PATH`] (`/_treebeard`), for a developer without an agent or Sentry.
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
use std::time::{SystemTime, UNIX_EPOCH};

use tokio::sync::watch;
use tracing_subscriber::Layer;
use tracing_subscriber::filter::Targets;
use tracing_subscriber::registry::LookupSpan;

use crate::config::Config;
use crate::trace_context::SPAN_LEVEL;
pub(crate) use service::ConsoleService;

use buffer::{RequestBuffer, RequestRecord};
use layer::ConsoleLayer;

/// Where the console is served.
pub(crate) const PATH: &str = "/_treebeard";

/// What the live streams wait on: the last request's seq, and whether the
/// server is shutting down (streams end so that it can drain).
#[derive(Debug, Clone, Copy, Default)]
struct Signal {
    last_seq: u64,
    closing: bool,
}

/// The console's state, shared by its `tracing` layer and its service.
#[derive(Debug)]
pub(crate) struct Console {
    buffer: RequestBuffer,
    signal: watch::Sender<Signal>,
}

impl Console {
    fn new(capacity: usize, max_bytes: usize) -> Self {
        Self {
            buffer: RequestBuffer::new(capacity, max_bytes),
            signal: watch::Sender::new(Signal::default()),
        }
    }

    /// Keeps a finished request and wakes the live streams.
    fn record(&self, record: RequestRecord) {
        let last_seq = self.buffer.push(record, now_ms());
        self.signal.send_modify(|s| s.last_seq = last_seq);
    }
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

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
