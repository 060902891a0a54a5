//! Per-route rate and latency percentiles over the last minutes, in fixed
//! memory: per route, one latency histogram per minute.

use std::collections::HashMap;

use serde::Serialize;

/// Minutes of history per route (the chart's width).
pub(crate) const MINUTES: usize = 10;
/// Routes tracked; requests of further routes count under [`OTHER_ROUTES`].
pub(crate) const MAX_ROUTES: usize = 64;
/// Where routes beyond [`MAX_ROUTES`] are counted.
pub(crate) const OTHER_ROUTES: &str = "(other routes)";
/// Histogram bins: bin `i` holds latencies up to `FIRST_BIN_US × 2^(i/4)`,
/// so a percentile is off by at most 19%; 80 bins reach about 52 s.
const BINS: usize = 80;
const FIRST_BIN_US: f64 = 50.0;

/// One route's minute: a count and a latency histogram.
#[derive(Debug, Clone)]
struct Minute {
    /// Minutes since the epoch this bucket holds.
    minute: u64,
    count: u64,
    bins: [u32; BINS],
}

impl Minute {
    fn empty(minute: u64) -> Self {
        Self {
            minute,
            count: 0,
            bins: [0; BINS],
        }
    }
}

/// Every route's minutes (about 3.3 KiB a route, 64 routes at most).
#[derive(Debug, Default)]
pub(crate) struct RouteStats {
    routes: HashMap<String, Vec<Minute>>,
}

/// What the route table shows of one route.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct RouteSummary {
    /// `GET /users/{id}`.
    pub(crate) route: String,
    /// Requests per second over the last minute.
    pub(crate) rate: f64,
    /// Requests over the whole window.
    pub(crate) count: u64,
    /// Latency percentiles over the window, in microseconds (bin upper bounds).
    pub(crate) p50_us: u64,
    pub(crate) p95_us: u64,
    pub(crate) p99_us: u64,
    /// Requests per minute, oldest first, [`MINUTES`] of them.
    pub(crate) per_minute: Vec<u64>,
    /// p95 per minute in microseconds, oldest first (0: no request).
    pub(crate) p95_per_minute: Vec<u64>,
}

fn bin_of(latency_us: u64) -> usize {
    let ratio = (latency_us as f64 / FIRST_BIN_US).max(1.0);
    let bin = (ratio.log2() * 4.0).ceil();
    (bin as usize).min(BINS - 1)
}

fn bin_upper_us(bin: usize) -> u64 {
    (FIRST_BIN_US * 2f64.powf(bin as f64 / 4.0)).round() as u64
}

fn percentile(bins: &[u32; BINS], count: u64, q: f64) -> u64 {
    if count == 0 {
        return 0;
    }
    let rank = ((count as f64) * q).ceil().max(1.0) as u64;
    let mut seen = 0u64;
    for (i, n) in bins.iter().enumerate() {
        seen += u64::from(*n);
        if seen >= rank {
            return bin_upper_us(i);
        }
    }
    bin_upper_us(BINS - 1)
}

impl RouteStats {
    /// Counts one request of `route` that took `latency_us`, at `now_ms`.
    pub(crate) fn add(&mut self, route: &str, latency_us: u64, now_ms: u64) {
        let minute = now_ms / 60_000;
        let key = if self.routes.contains_key(route) || self.routes.len() < MAX_ROUTES - 1 {
            route
        } else {
            OTHER_ROUTES
        };
        let minutes = self.routes.entry(key.to_owned()).or_default();
        match minutes.last_mut() {
            Some(last) if last.minute == minute => {}
            _ => {
                minutes.push(Minute::empty(minute));
                let stale = minutes.len().saturating_sub(MINUTES);
                minutes.drain(..stale);
            }
        }
        if let Some(last) = minutes.last_mut() {
            last.count += 1;
            let bin = &mut last.bins[bin_of(latency_us)];
            *bin = bin.saturating_add(1);
        }
    }

    /// Every route with requests in the last [`MINUTES`], busiest first.
    pub(crate) fn summaries(&self, now_ms: u64) -> Vec<RouteSummary> {
        let now = now_ms / 60_000;
        let mut out: Vec<RouteSummary> = self
            .routes
            .iter()
            .filter_map(|(route, minutes)| {
                let mut total = [0u32; BINS];
                let mut count = 0;
                let mut per_minute = vec![0; MINUTES];
                let mut p95_per_minute = vec![0; MINUTES];
                // The last slot is the current minute.
                for m in minutes
                    .iter()
                    .filter(|m| m.minute <= now && now - m.minute < MINUTES as u64)
                {
                    let slot = MINUTES - 1 - (now - m.minute) as usize;
                    per_minute[slot] = m.count;
                    p95_per_minute[slot] = percentile(&m.bins, m.count, 0.95);
                    count += m.count;
                    for (t, b) in total.iter_mut().zip(m.bins.iter()) {
                        *t = t.saturating_add(*b);
                    }
                }
                (count > 0).then(|| RouteSummary {
                    route: route.clone(),
                    rate: per_minute[MINUTES - 1] as f64 / 60.0,
                    count,
                    p50_us: percentile(&total, count, 0.50),
                    p95_us: percentile(&total, count, 0.95),
                    p99_us: percentile(&total, count, 0.99),
                    per_minute,
                    p95_per_minute,
                })
            })
            .collect();
        out.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.route.cmp(&b.route)));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_within_a_bin_of_the_truth() {
        let mut stats = RouteStats::default();
        // 1..=100 ms: p50 = 50 ms, p95 = 95 ms, p99 = 99 ms.
        for ms in 1..=100u64 {
            stats.add("GET /x", ms * 1000, 120_000);
        }
        let s = &stats.summaries(120_000)[0];
        assert_eq!(s.count, 100);
        for (got, want) in [(s.p50_us, 50_000), (s.p95_us, 95_000), (s.p99_us, 99_000)] {
            assert!(
                got >= want && got as f64 <= want as f64 * 1.2,
                "{got} vs {want}"
            );
        }
        assert_eq!(s.per_minute[MINUTES - 1], 100);
        assert!((s.rate - 100.0 / 60.0).abs() < 1e-9);
    }

    #[test]
    fn old_minutes_leave_the_window_and_routes_are_bounded() {
        let mut stats = RouteStats::default();
        stats.add("GET /old", 1000, 0);
        assert!(stats.summaries(MINUTES as u64 * 60_000).is_empty());
        for minute in 0..100u64 {
            stats.add("GET /busy", 1000, minute * 60_000);
        }
        assert!(stats.routes["GET /busy"].len() <= MINUTES);
        for i in 0..1000 {
            stats.add(&format!("GET /r{i}"), 1000, 0);
        }
        assert!(stats.routes.len() <= MAX_ROUTES);
        assert!(stats.routes.contains_key(OTHER_ROUTES));
    }
}
