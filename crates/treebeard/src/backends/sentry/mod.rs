//! Starting the Sentry client from [`Config`], and the `tracing` layers
//! that feed it.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use ::sentry::ClientOptions;
use tracing_core::{Level as TracingLevel, Metadata, Subscriber};
use tracing_subscriber::Layer;
use tracing_subscriber::registry::LookupSpan;

use crate::config::Config;
use crate::privacy::sentry as scrub;

/// How long one envelope may take to reach Sentry before it is given up:
/// a slow Sentry must not hold the (bounded) send queue forever.
const SEND_TIMEOUT: Duration = Duration::from_secs(5);

/// Settings the capture API needs after `init`.
#[derive(Debug)]
pub(crate) struct Settings {
    pub(crate) send_pii: bool,
    pub(crate) user_hash_key: Vec<u8>,
}

static SETTINGS: OnceLock<Settings> = OnceLock::new();

/// The settings of the installed client, if `init` started one.
pub(crate) fn settings() -> Option<&'static Settings> {
    SETTINGS.get()
}

/// The running Sentry client: closed, with its queue flushed, at shutdown.
pub(crate) struct SentryBackend {
    client: Option<Arc<::sentry::Client>>,
}

impl std::fmt::Debug for SentryBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SentryBackend").finish_non_exhaustive()
    }
}

impl super::Backend for SentryBackend {
    fn shutdown(&mut self, timeout: Duration) {
        if let Some(client) = self.client.take() {
            let flushed = client.close(Some(timeout));
            ::sentry::Hub::main().bind_client(None);
            if !flushed {
                tracing::warn!(
                    timeout_ms = timeout.as_millis() as u64,
                    "Sentry did not take all pending events before the shutdown timeout; they are dropped"
                );
            }
        }
    }
}

/// Sentry's reqwest transport (a background thread with a queue of 30
/// envelopes) with a client that gives up on a slow Sentry.
struct TimeoutTransport;

impl ::sentry::TransportFactory for TimeoutTransport {
    fn create_transport_with_options(
        &self,
        options: ::sentry::TransportOptions,
    ) -> Arc<dyn ::sentry::Transport> {
        let mut transport = ::sentry::transports::ReqwestHttpTransportOptions::from(options);
        if let Ok(client) = reqwest::Client::builder()
            .timeout(SEND_TIMEOUT)
            .connect_timeout(SEND_TIMEOUT)
            .build()
        {
            transport = transport.with_client(client);
        }
        Arc::new(transport.build())
    }
}

/// Starts the Sentry client when `SENTRY_DSN` is set (and monitoring is
/// on); logs one INFO line when it is not.
pub(crate) fn install(config: &Config) -> Option<SentryBackend> {
    if !config.enabled {
        return None;
    }
    let Some(dsn) = &config.sentry.dsn else {
        tracing::info!("Sentry error tracking is off: SENTRY_DSN is not set");
        return None;
    };
    let sentry = &config.sentry;
    let send_pii = sentry.send_default_pii;
    let scrubber = treebeard_pii::Scrubber::global();
    let mut options = ClientOptions::new()
        .dsn(dsn.expose())
        .release(sentry.release.clone())
        .traces_sampler(traces_sampler(
            sentry.traces_sample_rate as f32,
            config.ignore_routes.clone(),
        ))
        .send_default_pii(send_pii)
        .server_name(config.service.clone())
        .before_send(move |mut event| {
            scrub::scrub_event(scrubber, send_pii, &mut event);
            Some(event)
        })
        .transport(TimeoutTransport);
    if let Some(environment) = &sentry.environment {
        options = options.environment(environment.clone());
    }
    // Checked by the configuration already; the client rejects nothing else.
    if options.dsn.is_none() {
        tracing::warn!("SENTRY_DSN did not parse; Sentry error tracking is off");
        return None;
    }
    let user_hash_key = match &sentry.user_hash_key {
        Some(key) => key.expose().as_bytes().to_vec(),
        None => {
            tracing::info!(
                "SENTRY_USER_HASH_KEY is not set: anonymised user IDs use a random key and change when the process restarts"
            );
            random_key()
        }
    };
    let _ = SETTINGS.set(Settings {
        send_pii,
        user_hash_key,
    });
    // Bound to the main hub, not the calling thread's: every thread and
    // request hub forks from it, whichever thread `init` runs on.
    let client = Arc::new(::sentry::Client::from(::sentry::apply_defaults(options)));
    ::sentry::Hub::main().bind_client(Some(client.clone()));
    tracing::info!(
        environment = sentry.environment.as_deref(),
        release = %sentry.release,
        traces_sample_rate = sentry.traces_sample_rate,
        "Sentry error tracking is on"
    );
    Some(SentryBackend {
        client: Some(client),
    })
}

/// `SENTRY_TRACES_SAMPLE_RATE`, but never for `MONITORING_IGNORE_ROUTES`
/// (probes and scrapes), and a caller's decision kept as sentry's fixed rate
/// keeps it. Transactions are named `<METHOD> <route>`.
fn traces_sampler(
    rate: f32,
    ignored: Vec<String>,
) -> impl Fn(&::sentry::TransactionContext) -> f32 + Send + Sync + 'static {
    move |ctx| {
        let route = ctx.name().split_once(' ').map_or(ctx.name(), |(_, r)| r);
        if ignored.iter().any(|ignored| ignored == route) {
            0.0
        } else {
            ctx.sampled().map_or(rate, f32::from)
        }
    }
}

fn random_key() -> Vec<u8> {
    let mut key = uuid::Uuid::new_v4().as_bytes().to_vec();
    key.extend_from_slice(uuid::Uuid::new_v4().as_bytes());
    key
}

/// The Sentry `tracing` layer when `config` starts a Sentry client.
pub(crate) fn tracing_layer_for<S>(config: &Config) -> Option<impl Layer<S> + Send + Sync>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    (config.enabled && config.sentry.dsn.is_some()).then(tracing_layer)
}

/// Whether the Sentry layer wants events of this callsite (INFO and above);
/// it wants no spans.
pub(crate) fn wants_event(meta: &Metadata<'_>) -> bool {
    meta.is_event() && *meta.level() <= TracingLevel::INFO
}

/// `tracing` events become Sentry data: ERROR events become events (held
/// per request, see [`super::ErrorCaptureLayer`]), INFO and above become
/// breadcrumbs. TreeBeard's own ERROR lines (the panic log, a failed
/// request) are only breadcrumbs: panics and failed responses are
/// reported by the panic integration and the request layer.
///
/// Events only, and no per-layer filter: a filtered layer looks the span up
/// in the registry on every span enter, exit, record and close, and these
/// layers want no spans at all (`init` puts the level in the subscriber's
/// filter with [`wants_event`]).
pub(crate) fn tracing_layer<S>() -> impl Layer<S> + Send + Sync
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    // The request line itself is no breadcrumb: the event has the request.
    let breadcrumbs = EventsWhere {
        layer: sentry_tracing::BreadcrumbLayer::new(),
        wanted: |meta| wants_event(meta) && meta.target() != crate::route::REQUEST_LINE_TARGET,
    };
    let errors = EventsWhere {
        layer: sentry_tracing::ErrorLayer::new(),
        wanted: is_captured_error,
    };
    breadcrumbs.and_then(errors)
}

/// Forwards the events `wanted` accepts to `layer`; nothing else (the
/// sentry-tracing layers above only handle events).
struct EventsWhere<L> {
    layer: L,
    wanted: fn(&Metadata<'_>) -> bool,
}

impl<S, L> Layer<S> for EventsWhere<L>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    L: Layer<S>,
{
    fn on_event(
        &self,
        event: &tracing_core::Event<'_>,
        ctx: tracing_subscriber::layer::Context<'_, S>,
    ) {
        if (self.wanted)(event.metadata()) {
            self.layer.on_event(event, ctx);
        }
    }
}

fn is_captured_error(meta: &Metadata<'_>) -> bool {
    let target = meta.target();
    meta.is_event()
        && *meta.level() == TracingLevel::ERROR
        && target != "treebeard"
        && !target.starts_with("treebeard::")
        // Exporters' own errors (a bad trace header, an agent down) are not
        // the application's, and a client could make one per request.
        && !crate::log::rate_limit::LIMITED_TARGETS.iter().any(|t| target.starts_with(t))
}
