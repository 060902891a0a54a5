//! The DogStatsD exporter (`METRICS_BACKEND=datadog`).
//!
//! `metrics-exporter-dogstatsd` aggregates on the client (counters and
//! gauges are summed or overwritten in memory, histogram values are packed
//! several per line) and sends from its own thread every flush interval, so
//! a slow, full or absent agent never blocks a request: failed sends are
//! dropped and counted in its telemetry (`datadog.dogstatsd.client.packets_dropped`,
//! `...bytes_dropped`), which it sends along with our metrics.

use std::time::Duration;

use metrics_exporter_dogstatsd::{AggregationMode, DogStatsDBuilder};

use super::exporter::{Exporter, MetricsError, constant_labels};
use crate::config::{Config, DogStatsdTarget};

/// Extra wait after the flush interval on shutdown, for the last send.
const FLUSH_MARGIN: Duration = Duration::from_millis(100);

/// Builds the exporter for `config` and installs it as the global recorder.
pub(super) fn install(config: &Config) -> Result<Exporter, MetricsError> {
    let target = remote_address(&config.metrics.dogstatsd);
    let error = |source| MetricsError::DogStatsd {
        target: target.clone(),
        source,
    };
    let recorder = DogStatsDBuilder::default()
        .with_remote_address(&target)
        .map_err(error)?
        // Conservative: no timestamps, so several instances behind one
        // agent without origin detection never overwrite each other.
        .with_aggregation_mode(AggregationMode::Conservative)
        .with_flush_interval(config.metrics.flush_interval)
        .with_global_labels(dogstatsd_labels(config))
        .with_telemetry(true)
        .with_histogram_sampling(true)
        .with_histogram_reservoir_size(config.metrics.histogram_reservoir_size)
        .send_histograms_as_distributions(true)
        .build()
        .map_err(error)?;
    metrics::set_global_recorder(recorder).map_err(|_| MetricsError::RecorderAlreadySet)?;
    tracing::info!(
        target = %target,
        flush_interval_ms = config.metrics.flush_interval.as_millis() as u64,
        "DogStatsD metrics exporter started"
    );
    Ok(Exporter {
        final_flush: config.metrics.flush_interval + FLUSH_MARGIN,
        upkeep: None,
    })
}

/// The exporter's address syntax for a target. A DataDog `unix://` socket
/// is a datagram socket (the agent's `dsd.socket`): the exporter calls
/// that `unixgram://` (its `unix://` is a stream socket).
/// The constant tags, and with `DD_ENTITY_ID` (a pod's UID, from the
/// Kubernetes downward API) DataDog's origin tag `dd.internal.entity_id`,
/// which the agent replaces with the pod's tags, as DataDog's DogStatsD
/// clients send it.
fn dogstatsd_labels(config: &Config) -> Vec<metrics::Label> {
    let mut labels = constant_labels(config);
    if let Some(id) = &config.metrics.entity_id {
        labels.push(metrics::Label::new("dd.internal.entity_id", id.clone()));
    }
    labels
}

fn remote_address(target: &DogStatsdTarget) -> String {
    match target {
        DogStatsdTarget::Udp { host, port } if host.contains(':') => {
            format!("udp://[{host}]:{port}")
        }
        DogStatsdTarget::Udp { host, port } => format!("udp://{host}:{port}"),
        DogStatsdTarget::Unix(path) => format!("unixgram://{}", path.display()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_map_to_exporter_addresses() {
        let udp = |host: &str| DogStatsdTarget::Udp {
            host: host.into(),
            port: 8125,
        };
        assert_eq!(remote_address(&udp("localhost")), "udp://localhost:8125");
        assert_eq!(remote_address(&udp("::1")), "udp://[::1]:8125");
        assert_eq!(
            remote_address(&DogStatsdTarget::Unix("/var/run/datadog/dsd.socket".into())),
            "unixgram:///var/run/datadog/dsd.socket"
        );
    }
}
