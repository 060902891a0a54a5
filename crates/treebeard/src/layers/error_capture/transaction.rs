//! The request's Sentry transaction, made from what the layer already knows
//! of the request (method, route, timing, status, IDs) and sent through the
//! installed client: no sentry-core transaction, span or scope change.

use std::borrow::Cow;
use std::sync::{Arc, OnceLock};
use std::time::SystemTime;

use ::sentry::protocol::{
    self, DynamicSamplingContext, Envelope, EnvelopeHeaders, OrganizationId, SpanId, SpanStatus,
    TraceContext, TraceId,
};
use ::sentry::{Client, Hub, TracesSamplingStrategy, TransactionContext};
use http::{HeaderMap, Method, StatusCode};

use crate::route::RouteTemplate;
use crate::trace_context::TraceIds;

/// The `op` of a server transaction, as Sentry's SDKs name it.
pub(super) const OP: &str = "http.server";

/// Who made the transaction (Sentry's `auto.<category>.<integration>`).
const ORIGIN: &str = "auto.http.treebeard";

/// One request's place in a Sentry trace: on every event captured inside
/// the request, and sent as a transaction when sampled.
#[derive(Debug, Clone, Copy)]
pub(super) struct RequestTrace {
    pub(super) trace_id: TraceId,
    pub(super) span_id: SpanId,
    pub(super) parent_span_id: Option<SpanId>,
    /// The rate the transaction was sampled at; `None` when it is not sent.
    pub(super) sample_rate: Option<f32>,
    start: SystemTime,
}

impl RequestTrace {
    /// Continues the trace of the request's `sentry-trace` header (unless
    /// `baggage` names another Sentry organisation), else starts one, and
    /// samples it as the client's traces sampler says.
    ///
    /// The IDs are the request span's DataDog IDs when there are any: one
    /// ID finds the request in both products, and nothing is drawn at random.
    pub(super) fn start(
        client: &Client,
        headers: &HeaderMap,
        method: &Method,
        route: &RouteTemplate,
        datadog: Option<TraceIds>,
    ) -> Self {
        let options = client.options();
        let incoming = Incoming::of(headers).filter(|incoming| {
            let own = options.org_id.or_else(|| client.dsn()?.org_id());
            continues(incoming.org_id, own, options.strict_trace_continuation)
        });
        let span_id = datadog.map_or_else(SpanId::default, |ids| {
            SpanId::from(ids.span_id.to_be_bytes())
        });
        let trace_id = match (&incoming, datadog) {
            (Some(incoming), _) => incoming.trace_id,
            (None, Some(ids)) if ids.trace_id != 0 => TraceId::from(ids.trace_id.to_be_bytes()),
            (None, _) => TraceId::default(),
        };
        let parent_span_id = incoming.as_ref().map(|i| i.span_id);
        let sampled = incoming.and_then(|i| i.sampled);
        let rate = match &options.traces_sampling_strategy {
            TracesSamplingStrategy::FixedRate(rate) => Some(sampled.map_or(*rate, f32::from)),
            TracesSamplingStrategy::Function(sampler) => {
                let name = name(method, route.as_str());
                let mut ctx = TransactionContext::new_with_details(
                    &name,
                    OP,
                    trace_id,
                    Some(span_id),
                    parent_span_id,
                );
                ctx.set_sampled(sampled);
                Some(sampler(&ctx))
            }
            // Tracing is off: the IDs still link the request's events.
            _ => None,
        };
        Self {
            trace_id,
            span_id,
            parent_span_id,
            sample_rate: rate.filter(|&rate| client.sample_should_send(rate)),
            start: SystemTime::now(),
        }
    }

    /// The `trace` context of an event captured inside the request, which
    /// links it to the transaction.
    pub(super) fn context(&self) -> TraceContext {
        TraceContext {
            trace_id: self.trace_id,
            span_id: self.span_id,
            parent_span_id: self.parent_span_id,
            op: Some(OP.to_owned()),
            ..Default::default()
        }
    }
}

/// What the transaction says of the request once it is over.
pub(super) struct Finished<'a> {
    pub(super) method: &'a Method,
    pub(super) route: &'a RouteTemplate,
    pub(super) outcome: Outcome,
    pub(super) request: protocol::Request,
    pub(super) tags: protocol::Map<String, String>,
}

/// How the request ended.
#[derive(Debug, Clone, Copy)]
pub(super) enum Outcome {
    /// A response with this status.
    Response(StatusCode),
    /// The inner service failed.
    Error,
    /// The client went away first.
    Aborted,
}

impl RequestTrace {
    /// Sends the transaction (when sampled) through `hub`'s client, with
    /// the user, tags, extra and contexts the handler set on its scope.
    pub(super) fn finish(self, hub: &Hub, finished: Finished<'_>) {
        let Some(sample_rate) = self.sample_rate else {
            return;
        };
        let Some(client) = hub.client() else {
            return;
        };
        let mut context = self.context();
        context.origin = Some(ORIGIN.to_owned());
        context.status = Some(match finished.outcome {
            Outcome::Response(status) => {
                context.data.insert(
                    "http.response.status_code".to_owned(),
                    status.as_u16().into(),
                );
                span_status(status)
            }
            Outcome::Error => SpanStatus::UnknownError,
            Outcome::Aborted => SpanStatus::Aborted,
        });
        let mut transaction = protocol::Transaction {
            name: Some(name(finished.method, finished.route.as_str())),
            start_timestamp: self.start,
            timestamp: Some(SystemTime::now()),
            request: Some(finished.request),
            tags: finished.tags,
            ..Default::default()
        };
        transaction
            .contexts
            .insert("trace".to_owned(), context.into());
        // What the handler set (`set_user`, tags): read, not kept, so the
        // clone `configure_scope` makes is the scope's handful of `Arc`s.
        hub.configure_scope(|scope| scope.apply_to_transaction(&mut transaction));
        scrub(&mut transaction);
        send(&client, transaction, self.trace_id, sample_rate);
    }
}

fn send(
    client: &Arc<Client>,
    mut transaction: protocol::Transaction<'static>,
    trace_id: TraceId,
    sample_rate: f32,
) {
    let options = client.options();
    transaction.release.clone_from(&options.release);
    transaction.environment.clone_from(&options.environment);
    transaction.server_name.clone_from(&options.server_name);
    transaction.sdk = Some(Cow::Borrowed(sdk_info(client)));
    // Sentry knows no `rust` platform; Rust SDK events are `native`.
    transaction.platform = Cow::Borrowed("native");
    let mut dsc = DynamicSamplingContext::new()
        .with_trace_id(trace_id)
        .with_sample_rate(sample_rate)
        .with_sampled(true);
    if let Some(dsn) = client.dsn() {
        dsc = dsc.with_public_key(dsn.public_key().to_owned());
    }
    let mut envelope = Envelope::new().with_headers(EnvelopeHeaders::new().with_trace(dsc));
    envelope.add_item(transaction);
    client.send_envelope(envelope);
}

/// The SDK's name, version and integrations, as the client puts them on
/// events. Made once, from the first client (sentry-core keeps its own
/// copy private), and shared, not cloned, by every transaction.
fn sdk_info(client: &Client) -> &'static protocol::ClientSdkInfo {
    static SDK: OnceLock<protocol::ClientSdkInfo> = OnceLock::new();
    SDK.get_or_init(|| {
        // The default user agent is `sentry.rust/<version>`, whatever the
        // application set on its own options.
        let agent = ::sentry::ClientOptions::default().user_agent;
        let version = agent.split_once('/').map_or("", |(_, v)| v).to_owned();
        protocol::ClientSdkInfo {
            name: "sentry.rust".to_owned(),
            version: version.clone(),
            integrations: client
                .options()
                .integrations
                .iter()
                .map(|i| i.name().to_owned())
                .collect(),
            packages: vec![protocol::ClientSdkPackage {
                name: "cargo:sentry".to_owned(),
                version,
            }],
        }
    })
}

/// `<METHOD> <route template>`, the name Sentry groups transactions by.
pub(super) fn name(method: &Method, route: &str) -> String {
    let mut name = String::with_capacity(method.as_str().len() + 1 + route.len());
    name.push_str(method.as_str());
    name.push(' ');
    name.push_str(route);
    name
}

/// Transactions skip `before_send`: what the handler put on its scope is
/// scrubbed here as it is on events. The request came scrubbed
/// ([`super::RequestInfo::transaction_request`]).
fn scrub(transaction: &mut protocol::Transaction<'static>) {
    let scrubber = treebeard_pii::Scrubber::global();
    crate::privacy::sentry::scrub_tags(scrubber, &mut transaction.tags);
    crate::privacy::sentry::scrub_map(scrubber, &mut transaction.extra);
}

/// The span status of a response, as Sentry's SDKs map it.
pub(super) fn span_status(status: StatusCode) -> SpanStatus {
    match status {
        StatusCode::UNAUTHORIZED => SpanStatus::Unauthenticated,
        StatusCode::FORBIDDEN => SpanStatus::PermissionDenied,
        StatusCode::NOT_FOUND => SpanStatus::NotFound,
        StatusCode::TOO_MANY_REQUESTS => SpanStatus::ResourceExhausted,
        StatusCode::CONFLICT => SpanStatus::AlreadyExists,
        s if s.is_client_error() => SpanStatus::InvalidArgument,
        StatusCode::NOT_IMPLEMENTED => SpanStatus::Unimplemented,
        StatusCode::SERVICE_UNAVAILABLE => SpanStatus::Unavailable,
        s if s.is_server_error() => SpanStatus::InternalError,
        s if s.is_success() => SpanStatus::Ok,
        _ => SpanStatus::UnknownError,
    }
}

/// The trace a caller sent in `sentry-trace` (and `baggage`).
#[derive(Debug, PartialEq)]
pub(super) struct Incoming {
    pub(super) trace_id: TraceId,
    pub(super) span_id: SpanId,
    pub(super) sampled: Option<bool>,
    pub(super) org_id: Option<OrganizationId>,
}

impl Incoming {
    /// The last valid `sentry-trace` header, with the `sentry-org_id` of
    /// `baggage`; `None` without one.
    pub(super) fn of(headers: &HeaderMap) -> Option<Self> {
        let mut incoming = headers
            .get_all("sentry-trace")
            .iter()
            .filter_map(|value| parse_sentry_trace(value.to_str().ok()?))
            .next_back()?;
        incoming.org_id = headers
            .get_all("baggage")
            .iter()
            .filter_map(|value| value.to_str().ok())
            .flat_map(|value| value.split(','))
            .filter_map(|item| {
                let (key, value) = item.split_once('=')?;
                let value = value.split_once(';').map_or(value, |(v, _)| v);
                (key.trim() == "sentry-org_id").then(|| value.trim().parse().ok())?
            })
            .next_back();
        Some(incoming)
    }
}

/// `<trace ID>-<span ID>[-<sampled>]`, as sentry-core reads it.
fn parse_sentry_trace(header: &str) -> Option<Incoming> {
    let mut parts = header.trim().splitn(3, '-');
    let trace_id = parts.next()?.parse().ok()?;
    let span_id = parts.next()?.parse().ok()?;
    let sampled = match parts.next() {
        Some("1") => Some(true),
        Some("0") => Some(false),
        _ => None,
    };
    Some(Incoming {
        trace_id,
        span_id,
        sampled,
        org_id: None,
    })
}

/// Whether to continue a caller's trace, by the Sentry organisations of
/// both sides (sentry-core's rule, with `strict_trace_continuation`).
pub(super) fn continues(
    incoming: Option<OrganizationId>,
    own: Option<OrganizationId>,
    strict: bool,
) -> bool {
    match (incoming, own) {
        (Some(incoming), Some(own)) => incoming == own,
        (Some(_), None) | (None, Some(_)) => !strict,
        (None, None) => true,
    }
}
