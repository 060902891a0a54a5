//! The request line (`request completed`) as data, and its direct path:
//! with the subscriber [`crate::init`] builds, the request layer hands the
//! line to the JSON formatter itself instead of emitting a `tracing` event.
//!
//! Why: as an event, the line costs its dispatch through every layer, a
//! visitor call per field and the span's entry and exit, about half of
//! what the line costs in all; none of the other layers `init` installs
//! wants it (Sentry takes neither breadcrumb nor event from it, the tracers
//! no events). The line written is the same, byte for byte, as the
//! formatter writes for the event (tested in `init`). Any other subscriber
//! (the application's own, a test's, `init` with the dev console or the
//! OpenTelemetry tracer, which do read events) gets the event as before.

use std::fmt;
use std::net::IpAddr;

use tracing::span::Id;
use tracing::{Dispatch, Level, Span, Subscriber};
use tracing_subscriber::Layer;

/// What the request line says, in DataDog's standard attributes (see
/// docs/layers.md): everything but the request span's own fields.
pub(crate) struct RequestLine<'a> {
    /// `http.status_code`: what the client got (499 when it left).
    pub(crate) status_code: u16,
    /// `duration`, in nanoseconds.
    pub(crate) duration: u64,
    /// `latency_ms`, in whole microseconds.
    pub(crate) latency_ms: f64,
    /// `head_ms`: to the response head, for a body timed to its end.
    pub(crate) head_ms: Option<f64>,
    /// `http.url_details.path`, as shown (scrubbed when written).
    pub(crate) path: &'a str,
    /// `http.useragent`.
    pub(crate) user_agent: Option<&'a str>,
    /// `network.client.ip`.
    pub(crate) client_ip: Option<IpAddr>,
    /// How the request ended.
    pub(crate) outcome: Outcome<'a>,
}

/// How a request ended, as far as its line tells.
pub(crate) enum Outcome<'a> {
    /// A response was sent whole (ERROR for a 5xx, else INFO).
    Served,
    /// No response, or a truncated one: `error.kind`, `error.message`.
    Failed {
        /// What the line says: `request failed`, `response body failed`.
        message: &'static str,
        /// `error.kind`.
        kind: &'static str,
        /// `error.message` (scrubbed when written).
        error: &'a dyn fmt::Display,
    },
    /// The client left first (WARN), with the status the handler chose
    /// if it got that far (`handler_status`).
    ClientClosed {
        /// `handler_status`.
        handler_status: Option<u16>,
    },
}

impl RequestLine<'_> {
    /// The line's level.
    pub(crate) fn level(&self) -> Level {
        match self.outcome {
            Outcome::Served if self.status_code >= 500 => Level::ERROR,
            Outcome::Served => Level::INFO,
            Outcome::Failed { .. } => Level::ERROR,
            Outcome::ClientClosed { .. } => Level::WARN,
        }
    }

    /// The line's `message`.
    pub(crate) fn message(&self) -> &'static str {
        match self.outcome {
            Outcome::Served => "request completed",
            Outcome::Failed { message, .. } => message,
            Outcome::ClientClosed { .. } => "client closed request",
        }
    }
}

/// Writes a line for a span of the given subscriber: false when it could
/// not (the span is gone), so that the caller emits the event instead.
type WriteLine = dyn Fn(&Dispatch, &Id, &RequestLine<'_>) -> bool + Send + Sync;

/// A `tracing` layer that records nothing and carries the direct path:
/// [`write`] finds it in the span's subscriber with
/// [`Dispatch::downcast_ref`].
pub(crate) struct DirectLines {
    write: Box<WriteLine>,
}

impl DirectLines {
    /// A direct path that writes with `write`.
    pub(crate) fn new(
        write: impl Fn(&Dispatch, &Id, &RequestLine<'_>) -> bool + Send + Sync + 'static,
    ) -> Self {
        Self {
            write: Box::new(write),
        }
    }
}

impl<S: Subscriber> Layer<S> for DirectLines {}

/// Writes `line` for the request `span` on the direct path; false when the
/// span's subscriber has none (or the span is disabled): then the caller
/// emits the line as a `tracing` event.
pub(crate) fn write(span: &Span, line: &RequestLine<'_>) -> bool {
    span.with_subscriber(|(id, dispatch)| {
        dispatch
            .downcast_ref::<DirectLines>()
            .is_some_and(|direct| (direct.write)(dispatch, id, line))
    })
    .unwrap_or(false)
}
