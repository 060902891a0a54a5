//! The request ID value: what the request-ID layer sets, and what logs,
//! Sentry events and outgoing calls carry.

use std::fmt;

use http::HeaderValue;
use http::header::HeaderName;

/// The header read and echoed by default.
pub const REQUEST_ID_HEADER: HeaderName = HeaderName::from_static("x-request-id");

/// Longest incoming request ID kept, in bytes.
pub const MAX_REQUEST_ID_LEN: usize = 128;

const UUID_LEN: usize = uuid::fmt::Hyphenated::LENGTH;

/// Generated IDs cut from one chunk.
const IDS_PER_CHUNK: usize = 64;

thread_local! {
    /// Generated IDs are cut from a shared chunk of this thread: a clone of
    /// one is a reference count, and a chunk is one allocation per
    /// [`IDS_PER_CHUNK`] requests instead of one per request. A chunk stays
    /// alive while any ID cut from it does (2.3 kB at most per chunk).
    static ID_POOL: std::cell::RefCell<bytes::BytesMut> = std::cell::RefCell::new(bytes::BytesMut::new());
}

tokio::task_local! {
    /// The request ID of the request being served on this task.
    pub(crate) static CURRENT: RequestId;
}

/// The ID of one request: cheap to clone, always valid printable ASCII.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct RequestId(HeaderValue);

impl RequestId {
    /// A fresh random UUID (v4). Uses a thread-local RNG: no syscall per ID,
    /// and no allocation per ID either (see `ID_POOL`).
    pub fn generate() -> Self {
        let mut text = [0u8; UUID_LEN];
        uuid::Uuid::new_v4().hyphenated().encode_lower(&mut text);
        let shared = ID_POOL
            .try_with(|pool| {
                let mut pool = pool.try_borrow_mut().ok()?;
                if pool.capacity() < UUID_LEN {
                    // Reuses the chunk when every ID cut from it is gone.
                    pool.reserve(UUID_LEN * IDS_PER_CHUNK);
                }
                pool.extend_from_slice(&text);
                Some(pool.split().freeze())
            })
            .ok()
            .flatten()
            // Only while the thread is being torn down.
            .unwrap_or_else(|| bytes::Bytes::copy_from_slice(&text));
        // A hyphenated UUID is always a valid header value.
        Self(
            HeaderValue::from_maybe_shared(shared)
                .unwrap_or(HeaderValue::from_static("invalid-uuid")),
        )
    }

    /// Accepts `value` as an ID when it is 1 to [`MAX_REQUEST_ID_LEN`] bytes
    /// of printable ASCII.
    ///
    /// ```
    /// use http::HeaderValue;
    /// use treebeard::request_id::RequestId;
    ///
    /// assert!(RequestId::parse(&HeaderValue::from_static("req-42")).is_some());
    /// assert!(RequestId::parse(&HeaderValue::from_static("")).is_none());
    /// assert!(RequestId::parse(&HeaderValue::from_str(&"x".repeat(129)).unwrap()).is_none());
    /// assert!(RequestId::parse(&HeaderValue::from_bytes(b"tab\there").unwrap()).is_none());
    /// ```
    pub fn parse(value: &HeaderValue) -> Option<Self> {
        let bytes = value.as_bytes();
        let valid = !bytes.is_empty()
            && bytes.len() <= MAX_REQUEST_ID_LEN
            && bytes.iter().all(|b| (0x20..=0x7e).contains(b));
        valid.then(|| Self(value.clone()))
    }

    /// The ID as text.
    pub fn as_str(&self) -> &str {
        // Only printable ASCII is ever stored, which is valid UTF-8.
        self.0.to_str().unwrap_or_default()
    }

    /// The ID as a header value.
    pub fn header_value(&self) -> &HeaderValue {
        &self.0
    }

    /// The ID as a header value, without a copy.
    pub(crate) fn into_header_value(self) -> HeaderValue {
        self.0
    }

    /// The ID of the request being served by the current task, if any.
    ///
    /// Set by [`RequestIdLayer`](crate::request_id::RequestIdLayer) for the task that runs the request (not for
    /// tasks the handler spawns: pass the ID on to those explicitly).
    pub fn current() -> Option<Self> {
        CURRENT.try_with(Clone::clone).ok()
    }

    /// Runs `future` with this ID as its [`current`](Self::current) one: for
    /// a task a handler spawns, together with the request's span (its log
    /// lines then carry the request ID and trace IDs too).
    ///
    /// ```no_run
    /// use tracing::Instrument;
    /// # async fn handler() {
    /// if let Some(id) = treebeard::RequestId::current() {
    ///     tokio::spawn(id.scope(async { /* ... */ }).in_current_span());
    /// }
    /// # }
    /// ```
    pub fn scope<F: std::future::Future>(
        self,
        future: F,
    ) -> impl std::future::Future<Output = F::Output> {
        CURRENT.scope(self, future)
    }
}

impl fmt::Display for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("RequestId").field(&self.as_str()).finish()
    }
}

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for RequestId {
    type Rejection = std::convert::Infallible;
    /// The ID set by [`RequestIdLayer`](crate::request_id::RequestIdLayer), or a fresh one when the layer is absent.
    async fn from_request_parts(
        parts: &mut http::request::Parts,
        _state: &S,
    ) -> Result<Self, Self::Rejection> {
        Ok(parts
            .extensions
            .get::<RequestId>()
            .cloned()
            .unwrap_or_else(RequestId::generate))
    }
}
