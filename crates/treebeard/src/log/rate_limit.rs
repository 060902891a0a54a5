//! A rate limit for the exporters' own log lines.
//!
//! DataDog's tracer logs at ERROR when an incoming request carries trace
//! headers it cannot parse, so any client could make every request write an
//! ERROR line; the DogStatsD exporter logs every failed send while no agent
//! listens. Lines from the exporter crates are therefore capped per time
//! window; what is cut is counted and reported once the window turns.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Log targets of third-party exporters whose lines are rate-limited.
pub const LIMITED_TARGETS: &[&str] = &[
    "datadog_opentelemetry",
    "opentelemetry",
    "libdd_",
    "metrics_exporter_",
    "sentry",
];

/// Lines let through per window and target group.
pub const LINES_PER_WINDOW: u64 = 20;

/// Length of a window.
pub const WINDOW: Duration = Duration::from_secs(60);

/// Counts lines per window; lock-free, shared by every thread.
#[derive(Debug, Default)]
pub struct RateLimit {
    /// Window number (seconds since the epoch / window) in the high 32 bits,
    /// lines seen in it in the low 32.
    state: AtomicU64,
    suppressed: AtomicU64,
}

impl RateLimit {
    /// Whether a line from `target` may be written now.
    pub fn allow(&self, target: &str) -> bool {
        if !LIMITED_TARGETS.iter().any(|t| target.starts_with(t)) {
            return true;
        }
        let window = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() / WINDOW.as_secs());
        self.allow_in(window)
    }

    fn allow_in(&self, window: u64) -> bool {
        let window = window & 0xffff_ffff;
        let mut current = self.state.load(Ordering::Relaxed);
        loop {
            let (seen_window, count) = (current >> 32, current & 0xffff_ffff);
            let next = if seen_window == window {
                (window << 32) | (count + 1).min(0xffff_ffff)
            } else {
                window << 32 | 1
            };
            match self.state.compare_exchange_weak(
                current,
                next,
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => {
                    let allowed = (next & 0xffff_ffff) <= LINES_PER_WINDOW;
                    if !allowed {
                        self.suppressed.fetch_add(1, Ordering::Relaxed);
                    }
                    return allowed;
                }
                Err(actual) => current = actual,
            }
        }
    }

    /// Lines suppressed since start.
    pub fn suppressed(&self) -> u64 {
        self.suppressed.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caps_each_window_and_counts_the_rest() {
        let limit = RateLimit::default();
        let allowed = (0..100).filter(|_| limit.allow_in(7)).count();
        assert_eq!(allowed as u64, LINES_PER_WINDOW);
        assert_eq!(limit.suppressed(), 100 - LINES_PER_WINDOW);
        assert!(limit.allow_in(8), "a new window starts afresh");
        assert!(limit.allow("my_app"), "other targets are never limited");
    }
}
