//! What the exporter counts: spans sent, sent late and dropped, payloads
//! kept for a retry, and what waits in the retry buffer. Built without the
//! `export` feature too, so a caller can name the type either way.

/// The exporter's counters since it started ([`Exporter::stats`]).
///
/// Totals only grow; `buffered_*` are what waits for a retry now.
///
/// [`Exporter::stats`]: crate::Exporter::stats
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ExportStats {
    /// Spans the agent took (answered 2xx), late ones included.
    pub spans_sent: u64,
    /// Of those, spans the agent took on a retry, after a failed attempt.
    pub spans_sent_late: u64,
    /// Spans refused at the queue: it was full, or they finished after
    /// shutdown.
    pub spans_dropped_queue_full: u64,
    /// Spans of the oldest buffered payloads, dropped to keep the retry
    /// buffer within its cap.
    pub spans_dropped_buffer_full: u64,
    /// Spans of payloads the agent refused with a 4xx (a bad payload is not
    /// retried).
    pub spans_dropped_rejected: u64,
    /// Spans still buffered when shutdown ended (agent down, or the
    /// shutdown budget spent).
    pub spans_dropped_at_shutdown: u64,
    /// Payloads put in the retry buffer to be sent again: the agent did
    /// not take them (connection refused or cut, timeout, 5xx, 408, 429),
    /// or was being waited for (between retries) when they were due.
    pub payloads_retried: u64,
    /// Payloads waiting in the retry buffer now.
    pub buffered_payloads: u64,
    /// Their size in bytes (encoded MessagePack).
    pub buffered_bytes: u64,
    /// Spans they hold.
    pub buffered_spans: u64,
}

impl ExportStats {
    /// Every span dropped, whatever the reason.
    ///
    /// ```
    /// let stats = treebeard_datadog::ExportStats::default();
    /// assert_eq!(stats.spans_dropped(), 0);
    /// ```
    pub fn spans_dropped(&self) -> u64 {
        self.spans_dropped_queue_full
            + self.spans_dropped_buffer_full
            + self.spans_dropped_rejected
            + self.spans_dropped_at_shutdown
    }
}
