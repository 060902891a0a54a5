//! [`ResponseError`]: what went wrong behind a 5xx response, for the layers.
//!
//! A response only carries a status; a handler that knows *why* it failed
//! attaches a `ResponseError` to the response extensions, and the layers
//! copy it onto the request span (`error.type`, `error.message`) and, with
//! Sentry, into the error event. The client never sees it.
//!
//! ```
//! use axum::response::{IntoResponse, Response};
//! use treebeard::ResponseError;
//!
//! fn failed() -> Response {
//!     let mut response = (http::StatusCode::INTERNAL_SERVER_ERROR, "internal error").into_response();
//!     ResponseError::new("DbError", "connection refused").attach(&mut response);
//!     response
//! }
//! assert_eq!(failed().extensions().get::<ResponseError>().unwrap().kind(), "DbError");
//! ```

use std::borrow::Cow;

/// The cause of an error response: a kind (grouping key) and a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResponseError {
    kind: Cow<'static, str>,
    message: String,
}

impl ResponseError {
    /// An error of `kind` (such as the error type's name) with `message`.
    pub fn new(kind: impl Into<Cow<'static, str>>, message: impl Into<String>) -> Self {
        Self {
            kind: kind.into(),
            message: message.into(),
        }
    }

    /// The kind, such as `DbError` or `panic`.
    pub fn kind(&self) -> &str {
        &self.kind
    }

    /// The message.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// Puts this error in `response`'s extensions.
    pub fn attach<B>(self, response: &mut http::Response<B>) {
        response.extensions_mut().insert(self);
    }
}
