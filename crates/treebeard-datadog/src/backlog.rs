//! The retry buffer: encoded payloads the agent did not take, kept in
//! order and bounded in bytes, and the backoff between retries.
//!
//! Payloads rather than spans: a payload is already what the agent reads,
//! its size is exactly what it costs to keep (one allocation of that many
//! bytes), and sending it again needs no encoding.

use std::collections::VecDeque;
use std::time::Duration;

use bytes::Bytes;

/// The first wait before retrying, after a failure.
pub(crate) const RETRY_MIN: Duration = Duration::from_millis(50);
/// The longest wait between retries: an agent that listens again is
/// reached within this, plus one exchange.
pub(crate) const RETRY_MAX: Duration = Duration::from_millis(500);

/// One `PUT /v0.4/traces` body and what it holds.
#[derive(Debug, Clone)]
pub(crate) struct Payload {
    pub(crate) body: Bytes,
    /// Trace chunks (`X-Datadog-Trace-Count`).
    pub(crate) traces: usize,
    pub(crate) spans: usize,
}

/// Payloads waiting for a retry, oldest first, at most `max_bytes` of
/// bodies.
#[derive(Debug)]
pub(crate) struct Backlog {
    payloads: VecDeque<Payload>,
    bytes: usize,
    spans: usize,
    max_bytes: usize,
}

impl Backlog {
    /// An empty buffer of at most `max_bytes` (0 keeps nothing).
    pub(crate) fn new(max_bytes: usize) -> Self {
        Self {
            payloads: VecDeque::new(),
            bytes: 0,
            spans: 0,
            max_bytes,
        }
    }

    /// Keeps `payload` as the newest; drops the oldest payloads until the
    /// buffer is within its cap again (a payload larger than the whole cap
    /// is dropped itself). Returns the spans dropped.
    pub(crate) fn push_back(&mut self, payload: Payload) -> usize {
        if payload.body.len() > self.max_bytes {
            return payload.spans;
        }
        self.bytes += payload.body.len();
        self.spans += payload.spans;
        self.payloads.push_back(payload);
        let mut dropped = 0;
        while self.bytes > self.max_bytes {
            match self.pop_front() {
                Some(oldest) => dropped += oldest.spans,
                None => break,
            }
        }
        dropped
    }

    /// Puts back a payload just taken with [`Self::pop_front`] and not
    /// sent: it stays the oldest. (Nothing was added in between, so the
    /// cap still holds.)
    pub(crate) fn push_front(&mut self, payload: Payload) {
        self.bytes += payload.body.len();
        self.spans += payload.spans;
        self.payloads.push_front(payload);
    }

    /// The oldest payload, taken out.
    pub(crate) fn pop_front(&mut self) -> Option<Payload> {
        let payload = self.payloads.pop_front()?;
        self.bytes -= payload.body.len();
        self.spans -= payload.spans;
        Some(payload)
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.payloads.is_empty()
    }

    pub(crate) fn len(&self) -> usize {
        self.payloads.len()
    }

    /// Bytes of bodies held.
    pub(crate) fn bytes(&self) -> usize {
        self.bytes
    }

    /// Spans held.
    pub(crate) fn spans(&self) -> usize {
        self.spans
    }

    /// Empties the buffer; returns the spans it held.
    pub(crate) fn clear(&mut self) -> usize {
        let spans = self.spans;
        self.payloads.clear();
        self.bytes = 0;
        self.spans = 0;
        spans
    }
}

/// The wait after `previous` failed retries' wait: doubling from
/// [`RETRY_MIN`], capped at [`RETRY_MAX`].
pub(crate) fn next_backoff(previous: Option<Duration>) -> Duration {
    previous.map_or(RETRY_MIN, |d| (d * 2).min(RETRY_MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn payload(bytes: usize, spans: usize) -> Payload {
        Payload {
            body: Bytes::from(vec![spans as u8; bytes]),
            traces: spans,
            spans,
        }
    }

    #[test]
    fn beyond_the_cap_the_oldest_payloads_go_and_are_counted() {
        let mut backlog = Backlog::new(100);
        assert_eq!(backlog.push_back(payload(40, 1)), 0);
        assert_eq!(backlog.push_back(payload(40, 2)), 0);
        assert_eq!((backlog.bytes(), backlog.spans()), (80, 3));
        // 120 bytes: the oldest (1 span) goes.
        assert_eq!(backlog.push_back(payload(40, 3)), 1);
        assert_eq!(
            (backlog.len(), backlog.bytes(), backlog.spans()),
            (2, 80, 5)
        );
        // One larger than the cap is not kept at all.
        assert_eq!(backlog.push_back(payload(101, 7)), 7);
        let order: Vec<usize> = std::iter::from_fn(|| backlog.pop_front())
            .map(|p| p.spans)
            .collect();
        assert_eq!(order, [2, 3], "oldest first");
        assert_eq!((backlog.bytes(), backlog.spans()), (0, 0));
    }

    #[test]
    fn a_zero_cap_keeps_nothing() {
        let mut backlog = Backlog::new(0);
        assert_eq!(backlog.push_back(payload(1, 4)), 4);
        assert!(backlog.is_empty());
    }

    #[test]
    fn a_payload_put_back_stays_the_oldest() {
        let mut backlog = Backlog::new(100);
        backlog.push_back(payload(10, 1));
        backlog.push_back(payload(10, 2));
        let first = backlog.pop_front().unwrap();
        backlog.push_front(first);
        assert_eq!(backlog.pop_front().unwrap().spans, 1);
        assert_eq!(backlog.clear(), 2);
        assert_eq!(backlog.bytes(), 0);
    }

    #[test]
    fn backoff_doubles_up_to_its_cap() {
        let mut waits = vec![next_backoff(None)];
        for _ in 0..6 {
            waits.push(next_backoff(waits.last().copied()));
        }
        assert_eq!(waits[0], RETRY_MIN);
        assert_eq!(waits[1], RETRY_MIN * 2);
        assert_eq!(*waits.last().unwrap(), RETRY_MAX);
    }
}
