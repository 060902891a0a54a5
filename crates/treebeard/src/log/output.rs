//! The log output [`init`](crate::init()) installs: JSON lines on stdout
//! through a non-blocking writer thread, filtered by `RUST_LOG`.

use std::str::FromStr;
use std::sync::Arc;

use tracing_appender::non_blocking::{ErrorCounter, NonBlockingBuilder, WorkerGuard};
use tracing_subscriber::Layer;
use tracing_subscriber::filter::Targets;
use tracing_subscriber::registry::LookupSpan;

use super::rate_limit::RateLimit;
use super::{JsonLogLayer, LOG_BUFFER_LINES};
use crate::config::Config;
use crate::error::InitError;
use crate::trace_context::SPAN_LEVEL;

/// Bytes of log lines the writer thread gathers before a write to stdout.
const LOG_WRITE_BUFFER: usize = 64 * 1024;

/// What the guard keeps of the log output: the writer thread (flushed when
/// dropped) and the counts of lost lines it reports.
#[derive(Debug)]
pub(crate) struct LogOutput {
    pub(crate) dropped_lines: ErrorCounter,
    pub(crate) exporter_lines: Arc<RateLimit>,
    pub(crate) _writer: WorkerGuard,
}

/// The JSON log layer writing to stdout, with its `RUST_LOG` filter.
pub(crate) fn stdout<S>(
    config: &Config,
) -> Result<(impl Layer<S> + Send + Sync, LogOutput), InitError>
where
    S: tracing::Subscriber + for<'a> LookupSpan<'a>,
{
    let filter = Targets::from_str(&config.log_filter).map_err(|source| InitError::LogFilter {
        filter: config.log_filter.clone(),
        source,
    })?;
    let (writer, guard) = NonBlockingBuilder::default()
        .lossy(true)
        .buffered_lines_limit(LOG_BUFFER_LINES)
        .thread_name("treebeard-log-writer")
        // The writer thread flushes whenever it has drained the queue, so a
        // buffer costs no latency when idle and turns a burst of lines into
        // one write(2) instead of one per line.
        .finish(std::io::BufWriter::with_capacity(
            LOG_WRITE_BUFFER,
            std::io::stdout(),
        ));
    let dropped_lines = writer.error_counter();
    // RUST_LOG filters log lines only. Spans at INFO and above are always
    // seen, so `RUST_LOG=warn` keeps traces and the request fields on lines.
    let exporter_lines = Arc::new(RateLimit::default());
    let limit = exporter_lines.clone();
    let json_filter = tracing_subscriber::filter::dynamic_filter_fn(move |meta, _| {
        if meta.is_span() {
            return *meta.level() <= SPAN_LEVEL || filter.would_enable(meta.target(), meta.level());
        }
        filter.would_enable(meta.target(), meta.level()) && limit.allow(meta.target())
    });
    let layer = JsonLogLayer::from_config(config)
        .with_writer(writer)
        .with_filter(json_filter);
    Ok((
        layer,
        LogOutput {
            dropped_lines,
            exporter_lines,
            _writer: guard,
        },
    ))
}
