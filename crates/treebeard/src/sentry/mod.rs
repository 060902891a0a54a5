//! Error tracking with Sentry: automatic capture, a manual API, and an
//! anonymised user context. Guide: `docs/errors.md`.
//!
//! With the `sentry` cargo feature (on by default) and `SENTRY_DSN` set,
//! [`crate::init`] starts a Sentry client and [`MonitoringLayer`](crate::MonitoringLayer)
//! reports, for each request:
//!
//! - panics in handlers (one event, with the stack trace),
//! - responses whose status is in `SENTRY_FAILED_REQUEST_STATUS_CODES`
//!   (500–599 by default), typed by the handler's [`ResponseError`](crate::ResponseError),
//! - `tracing` events at ERROR level,
//!
//! each with the request's context, request ID, route and DataDog trace
//! IDs (see [`ErrorCaptureLayer`]). Every event passes through the PII
//! scrubber of `treebeard-pii` before it leaves the process.
//!
//! The functions below work the same inside and outside a request, and do
//! nothing when Sentry is off (no DSN, or the feature disabled), so code
//! that calls them never needs a `cfg`.
//!
//! ```
//! use treebeard::sentry::{Level, UserContext};
//!
//! #[derive(Debug)]
//! struct QuotaExceeded;
//! impl std::fmt::Display for QuotaExceeded {
//!     fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result { f.write_str("quota exceeded") }
//! }
//! impl std::error::Error for QuotaExceeded {}
//!
//! treebeard::sentry::set_user(&UserContext::new("user-42"));
//! let id = treebeard::capture_exception(
//!     &QuotaExceeded,
//!     [("operation", "generate_recommendation"), ("plan", "free")],
//! );
//! assert!(id.is_none(), "Sentry is off in this example");
//! treebeard::capture_message("cache warmed", Level::Info);
//! ```

#[cfg(feature = "sentry")]
pub use crate::layers::error_capture::{
    DEFAULT_FAILED_STATUS_CODES, ErrorCapture, ErrorCaptureLayer, HTTP_ERROR_TYPE, ResponseFuture,
};

/// The severity of a message sent with [`capture_message`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum Level {
    /// Debugging detail.
    Debug,
    /// Something worth knowing.
    Info,
    /// Something that may need attention.
    Warning,
    /// A failure.
    Error,
    /// A failure that stops the service.
    Fatal,
}

#[cfg(feature = "sentry")]
impl From<Level> for ::sentry::Level {
    fn from(level: Level) -> Self {
        match level {
            Level::Debug => Self::Debug,
            Level::Info => Self::Info,
            Level::Warning => Self::Warning,
            Level::Error => Self::Error,
            Level::Fatal => Self::Fatal,
        }
    }
}

/// The ID Sentry gives a captured event.
pub type EventId = uuid::Uuid;

/// Sends `error` (with its `source()` chain) to Sentry, with `context` as
/// extra data, like the reference's `capture_exception(e, context={...})`.
///
/// Inside a request the event carries the request's context and groups
/// with the same error type on the same route; it also counts as the
/// request's report, so a 5xx response that follows is not reported
/// twice. Returns the event's ID, or `None` when Sentry is off.
pub fn capture_exception<E, K, V>(
    error: &E,
    context: impl IntoIterator<Item = (K, V)>,
) -> Option<EventId>
where
    E: std::error::Error + ?Sized,
    K: Into<String>,
    V: Into<serde_json::Value>,
{
    #[cfg(feature = "sentry")]
    {
        let hub = ::sentry::Hub::current();
        hub.client()?;
        let mut event = ::sentry::event_from_error(error);
        event.extra = context
            .into_iter()
            .map(|(k, v)| (k.into(), v.into()))
            .collect();
        let id = hub.capture_event(event);
        (!id.is_nil()).then_some(id)
    }
    #[cfg(not(feature = "sentry"))]
    {
        let _ = (error, context.into_iter());
        None
    }
}

/// Sends `message` to Sentry at `level`, like the reference's
/// `capture_message("...", level="info")`. Inside a request it carries the
/// request's context. Returns the event's ID, or `None` when Sentry is off.
pub fn capture_message(message: &str, level: Level) -> Option<EventId> {
    #[cfg(feature = "sentry")]
    {
        let hub = ::sentry::Hub::current();
        hub.client()?;
        let id = hub.capture_message(message, level.into());
        (!id.is_nil()).then_some(id)
    }
    #[cfg(not(feature = "sentry"))]
    {
        let _ = (message, level);
        None
    }
}

/// Who a request is for, as told to Sentry by [`set_user`].
///
/// Only a keyed hash of the ID is sent ([`treebeard_pii`]'s `hash_user_id`,
/// keyed by `SENTRY_USER_HASH_KEY`), so errors still group per user
/// without Sentry learning who they are. The e-mail and user name are sent
/// only when `SENTRY_SEND_DEFAULT_PII=true`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[must_use]
pub struct UserContext {
    id: String,
    email: Option<String>,
    username: Option<String>,
}

impl UserContext {
    /// A user known by `id` (hashed before it is sent).
    pub fn new(id: impl Into<String>) -> Self {
        Self {
            id: id.into(),
            ..Self::default()
        }
    }

    /// The e-mail address, sent only with PII enabled.
    pub fn with_email(mut self, email: impl Into<String>) -> Self {
        self.email = Some(email.into());
        self
    }

    /// The user name, sent only with PII enabled.
    pub fn with_username(mut self, username: impl Into<String>) -> Self {
        self.username = Some(username.into());
        self
    }
}

/// Sets the user of the current request (or, outside a request, of the
/// current thread) on the events captured from now on.
pub fn set_user(user: &UserContext) {
    #[cfg(feature = "sentry")]
    {
        let Some(settings) = crate::backends::sentry::settings() else {
            return;
        };
        let mut sentry_user = ::sentry::User {
            id: Some(treebeard_pii::hash_user_id(
                &settings.user_hash_key,
                &user.id,
            )),
            ..Default::default()
        };
        if settings.send_pii {
            sentry_user.email = user.email.clone();
            sentry_user.username = user.username.clone();
        }
        ::sentry::configure_scope(|scope| scope.set_user(Some(sentry_user)));
    }
    #[cfg(not(feature = "sentry"))]
    let _ = user;
}

/// Forgets the user set by [`set_user`] for the current request or thread.
pub fn clear_user() {
    #[cfg(feature = "sentry")]
    ::sentry::configure_scope(|scope| scope.set_user(None));
}
