//! The log output [`init`](crate::init()) installs: JSON lines on stdout
//! through a writer thread ([`super::writer`]), filtered by `RUST_LOG` (the filter
//! is applied where `init` composes the subscriber).

use std::str::FromStr;
use std::sync::Arc;

use tracing::Metadata;
use tracing_subscriber::filter::Targets;

use super::rate_limit::RateLimit;
use super::writer::{self, DroppedLines, LineWriter, WriterGuard};
use super::{JsonLogLayer, LOG_BUFFER_LINES};
use crate::config::Config;
use crate::error::InitError;
use crate::trace_context::SPAN_LEVEL;

/// What the guard keeps of the log output: the writer thread (flushed when
/// dropped) and the counts of lost lines it reports.
#[derive(Debug)]
pub(crate) struct LogOutput {
    pub(crate) dropped_lines: DroppedLines,
    pub(crate) exporter_lines: Arc<RateLimit>,
    pub(crate) _writer: WriterGuard,
}

/// Which spans and events the JSON log layer writes: `RUST_LOG`, spans at
/// [`SPAN_LEVEL`] and above always (they carry traces and the request fields
/// of lines, so `RUST_LOG=warn` keeps them), and exporters' lines rate-limited.
#[derive(Debug, Clone)]
pub(crate) struct LogFilter {
    targets: Targets,
    limit: Arc<RateLimit>,
}

impl LogFilter {
    /// `RUST_LOG`'s targets, with the exporters' lines rate-limited.
    pub(crate) fn new(targets: Targets) -> Self {
        Self {
            targets,
            limit: Arc::new(RateLimit::default()),
        }
    }

    /// Whether the layer keeps this span.
    pub(crate) fn span(&self, meta: &Metadata<'_>) -> bool {
        *meta.level() <= SPAN_LEVEL || self.targets.would_enable(meta.target(), meta.level())
    }

    /// Whether `RUST_LOG` lets this event's callsite through (fixed per callsite).
    pub(crate) fn event_callsite(&self, meta: &Metadata<'_>) -> bool {
        self.targets.would_enable(meta.target(), meta.level())
    }

    /// Whether `RUST_LOG` lets the request line through at `level`.
    pub(crate) fn request_line(&self, level: &tracing::Level) -> bool {
        self.targets
            .would_enable(crate::route::REQUEST_LINE_TARGET, level)
    }

    /// Whether this event, of a callsite [`event_callsite`](Self::event_callsite)
    /// lets through, is written now (the exporters' rate limit).
    pub(crate) fn event_now(&self, meta: &Metadata<'_>) -> bool {
        self.limit.allow(meta.target())
    }
}

/// The JSON log layer writing to stdout, and its [`LogFilter`].
pub(crate) fn stdout(
    config: &Config,
) -> Result<(JsonLogLayer<LineWriter>, LogFilter, LogOutput), InitError> {
    let targets = Targets::from_str(&config.log_filter).map_err(|source| InitError::LogFilter {
        filter: config.log_filter.clone(),
        source,
    })?;
    // The writer thread writes whatever has gathered whenever it wakes, so
    // an idle service's lines go out at once and a burst in few writes.
    let (writer, dropped_lines, guard) = writer::spawn(std::io::stdout(), LOG_BUFFER_LINES)
        .map_err(|source| InitError::LogWriter { source })?;
    let filter = LogFilter::new(targets);
    let exporter_lines = filter.limit.clone();
    let layer = JsonLogLayer::from_config(config).with_writer(writer);
    Ok((
        layer,
        filter,
        LogOutput {
            dropped_lines,
            exporter_lines,
            _writer: guard,
        },
    ))
}
