//! Why [`init`](crate::init()) failed.

use crate::config::ApmProvider;

/// Why [`init`](crate::init()) failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum InitError {
    /// Another global `tracing` subscriber was installed first.
    #[error(
        "a global tracing subscriber is already installed: call treebeard::init once, before any other logging set-up"
    )]
    SubscriberAlreadySet(#[source] tracing_subscriber::util::TryInitError),
    /// The log filter did not parse.
    #[error("invalid log filter {filter:?}")]
    LogFilter {
        /// The filter text.
        filter: String,
        /// Why it failed.
        #[source]
        source: tracing_subscriber::filter::ParseError,
    },
    /// The log writer thread could not be started.
    #[error("could not start the log writer thread")]
    LogWriter {
        /// Why it failed.
        #[source]
        source: std::io::Error,
    },
    /// The configuration asks for a backend whose cargo feature is off.
    #[error(
        "{what} needs the `{feature}` cargo feature of treebeard, which this build does not enable"
    )]
    FeatureDisabled {
        /// What was asked for, such as `APM_PROVIDER=Otlp`.
        what: String,
        /// The feature to enable.
        feature: &'static str,
    },
    /// An exporter could not be built.
    #[error("could not start an exporter: {0}")]
    Exporter(String),
}

impl InitError {
    /// The error for an `APM_PROVIDER` whose cargo feature this build lacks.
    pub(crate) fn feature_disabled(provider: ApmProvider) -> Self {
        Self::FeatureDisabled {
            what: format!("APM_PROVIDER={}", provider.as_str()),
            feature: provider.as_str(),
        }
    }
}
