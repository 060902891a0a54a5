//! Custom (business) metrics: a small typed API over the `metrics` facade.
//!
//! [`Metrics`] prefixes the namespace once (`cache.hit_rate` becomes
//! `treebeard.cache.hit_rate`) and sanitises names and tags, so nothing a
//! handler passes can corrupt a DogStatsD datagram. Get the one configured
//! by [`crate::init`] with [`collector`].
//!
//! ```
//! use treebeard::metrics::collector;
//!
//! let metrics = collector();
//! metrics.increment("recommendations.generated", &[("profile_type", "high-usage")]);
//! metrics.gauge("cache.hit_rate", 0.93, &[]);
//! metrics.histogram("api.request.size", 512.0, &[("endpoint", "/users/{id}")]);
//! {
//!     let _timer = metrics.timed("recommendations.duration", &[]);
//!     // ... work; the duration in seconds is recorded when `_timer` drops
//! }
//! let answer = metrics.time("database.query.duration", &[("table", "users")], || 42);
//! assert_eq!(answer, 42);
//! ```
//!
//! Tags are `(key, value)` pairs. Keep values bounded (a profile type, a
//! table name; never a user ID or a raw path): every distinct combination
//! is a separate time series. For a metric recorded on a hot path, register
//! it once with [`Metrics::counter`] or [`Metrics::histogram_handle`] and
//! keep the handle.

use std::future::Future;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use metrics::{Counter, Gauge, Histogram};

use super::names::{full_name, labels};

static GLOBAL: OnceLock<Metrics> = OnceLock::new();

/// The collector [`crate::init`] configured (its namespace); before `init`,
/// or when `init` was never called, one with the default namespace
/// `treebeard`. Recording is a no-op when no backend is installed.
pub fn collector() -> Metrics {
    GLOBAL.get().cloned().unwrap_or_default()
}

/// Makes `metrics` the collector returned by [`collector`]; the first call wins.
pub(crate) fn set_global(metrics: Metrics) {
    let _ = GLOBAL.set(metrics);
}

/// Records custom metrics under a namespace; cheap to clone.
#[derive(Debug, Clone)]
pub struct Metrics {
    namespace: Arc<str>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new(treebeard_conventions::DEFAULT_NAMESPACE)
    }
}

impl Metrics {
    /// A collector prefixing `namespace` (empty: no prefix).
    pub fn new(namespace: &str) -> Self {
        Self {
            namespace: namespace.into(),
        }
    }

    /// The namespace.
    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    /// The full, sanitised name of `name` (`<namespace>.<name>`).
    pub fn name(&self, name: &str) -> String {
        full_name(&self.namespace, name)
    }

    /// Adds 1 to the counter `name`.
    pub fn increment(&self, name: &str, tags: &[(&str, &str)]) {
        self.count(name, 1, tags);
    }

    /// Adds `value` to the counter `name`.
    pub fn count(&self, name: &str, value: u64, tags: &[(&str, &str)]) {
        self.counter(name, tags).increment(value);
    }

    /// Sets the gauge `name` to `value`.
    pub fn gauge(&self, name: &str, value: f64, tags: &[(&str, &str)]) {
        self.gauge_handle(name, tags).set(value);
    }

    /// Records `value` in the distribution (histogram) `name`.
    pub fn histogram(&self, name: &str, value: f64, tags: &[(&str, &str)]) {
        self.histogram_handle(name, tags).record(value);
    }

    /// A timer recording the seconds until it drops (or until
    /// [`Timed::stop`]) in the distribution `name`.
    pub fn timed(&self, name: &str, tags: &[(&str, &str)]) -> Timed {
        Timed::start(self.histogram_handle(name, tags))
    }

    /// Runs `f`, recording its duration in seconds in `name`.
    pub fn time<T>(&self, name: &str, tags: &[(&str, &str)], f: impl FnOnce() -> T) -> T {
        let _timer = self.timed(name, tags);
        f()
    }

    /// Awaits `future`, recording the seconds until it completes in `name`.
    /// A future dropped before completion records nothing.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let metrics = treebeard::metrics::collector();
    /// let n = metrics
    ///     .time_async("recommendations.duration", &[], async { 3 })
    ///     .await;
    /// assert_eq!(n, 3);
    /// # }
    /// ```
    pub async fn time_async<F: Future>(
        &self,
        name: &str,
        tags: &[(&str, &str)],
        future: F,
    ) -> F::Output {
        let mut timer = self.timed(name, tags);
        let output = future.await;
        timer.stop();
        output
    }

    /// The registered counter `name`: keep it to count on a hot path
    /// without building the name and tags each time.
    pub fn counter(&self, name: &str, tags: &[(&str, &str)]) -> Counter {
        metrics::counter!(self.name(name), labels(tags))
    }

    /// The registered gauge `name`.
    pub fn gauge_handle(&self, name: &str, tags: &[(&str, &str)]) -> Gauge {
        metrics::gauge!(self.name(name), labels(tags))
    }

    /// The registered distribution (histogram) `name`: keep it, with
    /// [`Timed::start`], to time a hot path without building the name and
    /// tags each time.
    pub fn histogram_handle(&self, name: &str, tags: &[(&str, &str)]) -> Histogram {
        metrics::histogram!(self.name(name), labels(tags))
    }
}

/// Records the time since it was made, in seconds, when dropped or stopped.
#[must_use = "the duration is recorded when the timer drops: bind it to a variable"]
#[derive(Debug)]
pub struct Timed {
    histogram: Option<Histogram>,
    start: Instant,
}

impl Timed {
    /// A timer recording into `histogram` (from
    /// [`Metrics::histogram_handle`], registered once and kept).
    ///
    /// ```
    /// use treebeard::metrics::{Timed, collector};
    ///
    /// let duration = collector().histogram_handle("database.query.duration", &[("table", "users")]);
    /// for _ in 0..3 {
    ///     let _timer = Timed::start(duration.clone());
    ///     // run the query
    /// }
    /// ```
    pub fn start(histogram: Histogram) -> Self {
        Timed {
            histogram: Some(histogram),
            start: Instant::now(),
        }
    }

    /// Records now and returns the duration; dropping records nothing more.
    pub fn stop(&mut self) -> Duration {
        let elapsed = self.start.elapsed();
        if let Some(histogram) = self.histogram.take() {
            histogram.record(elapsed.as_secs_f64());
        }
        elapsed
    }

    /// Drops the timer without recording.
    pub fn cancel(mut self) {
        self.histogram = None;
    }
}

impl Drop for Timed {
    fn drop(&mut self) {
        self.stop();
    }
}

#[cfg(test)]
mod tests {
    use metrics_util::debugging::{DebugValue, DebuggingRecorder};

    use super::*;

    #[test]
    fn names_are_namespaced_and_tags_sanitised() {
        let recorder = DebuggingRecorder::new();
        let snapshotter = recorder.snapshotter();
        metrics::with_local_recorder(&recorder, || {
            let m = Metrics::new("tb");
            m.increment(
                "recommendations.generated",
                &[("profile_type", "high|usage")],
            );
            m.count(
                "recommendations.generated",
                2,
                &[("profile_type", "high|usage")],
            );
            m.gauge("cache.hit_rate", 0.5, &[]);
            m.time("database.query.duration", &[("table", "users")], || ());
            m.timed("skipped", &[]).cancel();
        });
        let mut seen: Vec<(String, Vec<String>, String)> = snapshotter
            .snapshot()
            .into_vec()
            .into_iter()
            .map(|(key, _, _, value)| {
                let tags = key
                    .key()
                    .labels()
                    .map(|l| format!("{}:{}", l.key(), l.value()))
                    .collect();
                let value = match value {
                    DebugValue::Counter(n) => format!("c{n}"),
                    DebugValue::Gauge(g) => format!("g{}", g.into_inner()),
                    DebugValue::Histogram(v) => format!("h{}", v.len()),
                };
                (key.key().name().to_owned(), tags, value)
            })
            .collect();
        seen.sort();
        assert_eq!(
            seen,
            [
                ("tb.cache.hit_rate".into(), vec![], "g0.5".into()),
                (
                    "tb.database.query.duration".into(),
                    vec!["table:users".into()],
                    "h1".into()
                ),
                (
                    "tb.recommendations.generated".into(),
                    vec!["profile_type:high_usage".into()],
                    "c3".into()
                ),
                ("tb.skipped".into(), vec![], "h0".into()),
            ]
        );
    }
}
