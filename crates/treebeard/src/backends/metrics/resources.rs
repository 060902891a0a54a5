//! Process and Tokio runtime gauges, sampled on an interval by a thread of
//! their own (reading process statistics is blocking I/O, kept off the
//! runtime's workers).
//!
//! Process figures come from `metrics-process` and runtime figures from
//! `tokio-metrics`; this module only turns them into our gauge names.

use std::sync::mpsc::{self, RecvTimeoutError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use metrics::{Counter, Gauge};
use tokio_metrics::{RuntimeIntervals, RuntimeMonitor};
use treebeard_conventions::{process, runtime, tracer};

use super::exporter::MetricsError;
use crate::backends::TracerStats;
use crate::config::Config;
use crate::metrics::names::full_name;

/// How often exporter upkeep runs (Prometheus drains histogram values into
/// buckets then, which bounds their memory).
const UPKEEP_INTERVAL: Duration = Duration::from_secs(5);

/// The sampler thread; [`Sampler::stop`] ends it.
pub(super) struct Sampler {
    stop: mpsc::Sender<()>,
    thread: JoinHandle<()>,
}

impl Sampler {
    /// Starts sampling every `config.metrics.sample_interval` (the span
    /// exporter's counters too, from `tracer`), and runs `upkeep` every few
    /// seconds.
    pub(super) fn start(
        config: &Config,
        upkeep: Option<Box<dyn Fn() + Send>>,
        tracer: Option<TracerStats>,
    ) -> Result<Self, MetricsError> {
        let interval = config
            .metrics
            .sample_interval
            .max(Duration::from_millis(10));
        // Off, the gauges are not even registered: an exporter sends every
        // registered gauge at each flush.
        let on = config.metrics.runtime_metrics;
        let gauges = on.then(|| Gauges::new(&config.metrics.namespace));
        let tracer = tracer.map(|stats| TracerCounters::new(&config.metrics.namespace, stats));
        // Runtime metrics need the runtime `init` is called from, if any.
        let runtime = tokio::runtime::Handle::try_current()
            .ok()
            .filter(|_| on)
            .map(|handle| RuntimeMonitor::new(&handle).intervals());
        let (stop, stopped) = mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("treebeard-metrics-sampler".into())
            .spawn({
                let process = on && config.metrics.process_metrics;
                move || run(gauges, tracer, runtime, upkeep, interval, process, stopped)
            })
            .map_err(MetricsError::Sampler)?;
        Ok(Self { stop, thread })
    }

    /// Stops the thread and waits for it (it never blocks for long).
    pub(super) fn stop(self) {
        drop(self.stop);
        let _ = self.thread.join();
    }
}

fn run(
    mut gauges: Option<Gauges>,
    mut tracer: Option<TracerCounters>,
    mut runtime: Option<RuntimeIntervals>,
    upkeep: Option<Box<dyn Fn() + Send>>,
    interval: Duration,
    process: bool,
    stopped: mpsc::Receiver<()>,
) {
    let tick = interval.min(UPKEEP_INTERVAL);
    let mut next_sample = Instant::now();
    loop {
        let now = Instant::now();
        if now >= next_sample {
            if let Some(gauges) = gauges.as_mut() {
                if process {
                    gauges.sample_process(now);
                }
                if let Some(metrics) = runtime.as_mut().and_then(Iterator::next) {
                    gauges.sample_runtime(&metrics);
                }
            }
            if let Some(tracer) = &mut tracer {
                tracer.sample();
            }
            next_sample = now + interval;
        }
        if let Some(upkeep) = &upkeep {
            upkeep();
        }
        let wait = tick.min(next_sample.saturating_duration_since(Instant::now()));
        match stopped.recv_timeout(wait) {
            Err(RecvTimeoutError::Timeout) => {}
            Ok(()) | Err(RecvTimeoutError::Disconnected) => return,
        }
    }
}

/// Registered gauges and what the CPU figure is a delta of.
struct Gauges {
    cpu_percent: Gauge,
    memory_rss: Gauge,
    memory_percent: Gauge,
    open_fds: Gauge,
    threads: Gauge,
    workers: Gauge,
    global_queue_depth: Gauge,
    busy_ratio: Gauge,
    last_cpu: Option<(f64, Instant)>,
    memory_limit: Option<u64>,
}

impl Gauges {
    fn new(namespace: &str) -> Self {
        let gauge = |name| metrics::gauge!(full_name(namespace, name));
        Self {
            cpu_percent: gauge(process::CPU_PERCENT),
            memory_rss: gauge(process::MEMORY_RSS),
            memory_percent: gauge(process::MEMORY_PERCENT),
            open_fds: gauge(process::OPEN_FDS),
            threads: gauge(process::THREADS),
            workers: gauge(runtime::WORKERS),
            global_queue_depth: gauge(runtime::GLOBAL_QUEUE_DEPTH),
            busy_ratio: gauge(runtime::BUSY_RATIO),
            last_cpu: None,
            memory_limit: memory_limit(),
        }
    }

    fn sample_process(&mut self, now: Instant) {
        let p = metrics_process::collector::collect();
        if let Some(cpu) = p.cpu_seconds_total {
            if let Some((last, at)) = self.last_cpu {
                let wall = now.duration_since(at).as_secs_f64();
                if wall > 0.0 {
                    self.cpu_percent.set((cpu - last).max(0.0) / wall * 100.0);
                }
            }
            self.last_cpu = Some((cpu, now));
        }
        if let Some(rss) = p.resident_memory_bytes {
            self.memory_rss.set(rss as f64);
            if let Some(limit) = self.memory_limit.filter(|l| *l > 0) {
                self.memory_percent.set(rss as f64 / limit as f64 * 100.0);
            }
        }
        if let Some(fds) = p.open_fds {
            self.open_fds.set(fds as f64);
        }
        if let Some(threads) = p.threads {
            self.threads.set(threads as f64);
        }
    }

    fn sample_runtime(&mut self, m: &tokio_metrics::RuntimeMetrics) {
        self.workers.set(m.workers_count as f64);
        self.global_queue_depth.set(m.global_queue_depth as f64);
        let capacity = m.elapsed.as_secs_f64() * m.workers_count as f64;
        if capacity > 0.0 {
            let busy = m.total_busy_duration.as_secs_f64() / capacity;
            self.busy_ratio.set(busy.clamp(0.0, 1.0));
        }
    }
}

/// The span exporter's counters as metrics: each sample adds what the
/// exporter counted since the last one.
struct TracerCounters {
    stats: TracerStats,
    last: treebeard_datadog::ExportStats,
    dropped_queue_full: Counter,
    dropped_buffer_full: Counter,
    dropped_rejected: Counter,
    dropped_at_shutdown: Counter,
    payloads_retried: Counter,
}

impl TracerCounters {
    fn new(namespace: &str, stats: TracerStats) -> Self {
        let dropped = |reason: &'static str| metrics::counter!(full_name(namespace, tracer::SPANS_DROPPED), tracer::REASON => reason);
        Self {
            stats,
            last: treebeard_datadog::ExportStats::default(),
            dropped_queue_full: dropped("queue_full"),
            dropped_buffer_full: dropped("buffer_full"),
            dropped_rejected: dropped("rejected"),
            dropped_at_shutdown: dropped("shutdown"),
            payloads_retried: metrics::counter!(full_name(namespace, tracer::PAYLOADS_RETRIED)),
        }
    }

    fn sample(&mut self) {
        let now = self.stats.read();
        let last = std::mem::replace(&mut self.last, now);
        let delta = |now: u64, last: u64| now.saturating_sub(last);
        self.dropped_queue_full.increment(delta(
            now.spans_dropped_queue_full,
            last.spans_dropped_queue_full,
        ));
        self.dropped_buffer_full.increment(delta(
            now.spans_dropped_buffer_full,
            last.spans_dropped_buffer_full,
        ));
        self.dropped_rejected.increment(delta(
            now.spans_dropped_rejected,
            last.spans_dropped_rejected,
        ));
        self.dropped_at_shutdown.increment(delta(
            now.spans_dropped_at_shutdown,
            last.spans_dropped_at_shutdown,
        ));
        self.payloads_retried
            .increment(delta(now.payloads_retried, last.payloads_retried));
    }
}

/// The memory the process may use: its cgroup limit when it has one (in a
/// container that is what it gets killed at), otherwise the host's RAM.
#[cfg(target_os = "linux")]
fn memory_limit() -> Option<u64> {
    use procfs::Current as _;
    let host = procfs::Meminfo::current().ok().map(|m| m.mem_total);
    // procfs reads no cgroup limits; each is one number in one file.
    let cgroup = [
        "/sys/fs/cgroup/memory.max",
        "/sys/fs/cgroup/memory/memory.limit_in_bytes",
    ]
    .iter()
    .filter_map(|path| std::fs::read_to_string(path).ok())
    .find_map(|s| s.trim().parse::<u64>().ok());
    match (cgroup, host) {
        (Some(limit), Some(host)) => Some(limit.min(host)),
        (limit, host) => limit.or(host),
    }
}

#[cfg(not(target_os = "linux"))]
fn memory_limit() -> Option<u64> {
    None
}

#[cfg(test)]
mod tests {
    use metrics_util::debugging::{DebugValue, DebuggingRecorder};

    use super::*;

    #[test]
    fn samples_process_and_runtime_gauges() {
        let recorder = DebuggingRecorder::new();
        let snapshotter = recorder.snapshotter();
        metrics::with_local_recorder(&recorder, || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .build()
                .unwrap();
            let mut intervals = RuntimeMonitor::new(rt.handle()).intervals();
            let mut gauges = Gauges::new("tb");
            let start = Instant::now();
            gauges.sample_process(start);
            // Burn a little CPU so the delta is positive.
            let mut x = 0u64;
            while start.elapsed() < Duration::from_millis(30) {
                x = x.wrapping_add(std::hint::black_box(1));
            }
            std::hint::black_box(x);
            gauges.sample_process(Instant::now());
            gauges.sample_runtime(&intervals.next().unwrap());
        });
        let gauges: std::collections::HashMap<String, f64> = snapshotter
            .snapshot()
            .into_vec()
            .into_iter()
            .filter_map(|(key, _, _, value)| match value {
                DebugValue::Gauge(g) => Some((key.key().name().to_owned(), g.into_inner())),
                _ => None,
            })
            .collect();
        assert!(gauges["tb.process.cpu.percent"] > 0.0, "{gauges:?}");
        assert!(gauges["tb.process.memory.rss"] > 1e6, "{gauges:?}");
        assert!((0.0..=100.0).contains(&gauges["tb.process.memory.percent"]));
        assert!(gauges["tb.process.open_fds"] >= 3.0);
        assert!(gauges["tb.process.threads"] >= 3.0);
        assert_eq!(gauges["tb.runtime.workers"], 2.0);
        assert_eq!(gauges["tb.runtime.global_queue_depth"], 0.0);
        assert!((0.0..=1.0).contains(&gauges["tb.runtime.busy_ratio"]));
    }

    #[test]
    fn publishes_the_span_exporters_counters_as_they_grow() {
        let recorder = DebuggingRecorder::new();
        let snapshotter = recorder.snapshotter();
        let stats = std::sync::Arc::new(std::sync::Mutex::new(
            treebeard_datadog::ExportStats::default(),
        ));
        metrics::with_local_recorder(&recorder, || {
            let source = stats.clone();
            let mut counters =
                TracerCounters::new("tb", TracerStats::new(move || *source.lock().unwrap()));
            {
                let mut s = stats.lock().unwrap();
                s.spans_dropped_buffer_full = 7;
                s.payloads_retried = 3;
            }
            counters.sample();
            {
                let mut s = stats.lock().unwrap();
                s.spans_dropped_buffer_full = 10;
                s.spans_dropped_rejected = 1;
            }
            counters.sample();
        });
        let counters: std::collections::HashMap<String, u64> = snapshotter
            .snapshot()
            .into_vec()
            .into_iter()
            .filter_map(|(key, _, _, value)| match value {
                DebugValue::Counter(c) => {
                    let reason = key.key().labels().map(|l| l.value().to_owned()).next();
                    Some((
                        format!(
                            "{}{}",
                            key.key().name(),
                            reason.map(|r| format!("/{r}")).unwrap_or_default()
                        ),
                        c,
                    ))
                }
                _ => None,
            })
            .collect();
        assert_eq!(
            counters["tb.tracer.spans_dropped/buffer_full"], 10,
            "{counters:?}"
        );
        assert_eq!(counters["tb.tracer.spans_dropped/rejected"], 1);
        assert_eq!(counters["tb.tracer.spans_dropped/queue_full"], 0);
        assert_eq!(counters["tb.tracer.payloads_retried"], 3);
    }
}
