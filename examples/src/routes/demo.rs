//! `GET /demo/error`, `GET /demo/panic` and `POST /demo/echo-error/{user}`: failures on purpose, to see how
//! they are logged, answered and (with Sentry) captured.

use axum::extract::{Path, RawQuery};
use treebeard::sentry::UserContext;

use crate::error::ApiError;

/// A handler error turned into a 500.
pub async fn error() -> Result<&'static str, ApiError> {
    Err(ApiError::Internal(
        "demo failure: the flux capacitor is out of flux".to_owned(),
    ))
}

/// A panic, caught by the monitoring layer and turned into a 500.
#[allow(clippy::panic)]
pub async fn panic() -> &'static str {
    panic!("demo panic: something impossible happened")
}

/// `POST /demo/echo-error/{user}`: fails with a careless message that
/// repeats the user, query and body, for the user `{user}` — what the PII
/// scrubber must clean before any of it leaves the process.
pub async fn echo_error(
    Path(user): Path<String>,
    RawQuery(query): RawQuery,
    body: String,
) -> Result<&'static str, ApiError> {
    // Sentry receives only a keyed hash of the ID (the e-mail with PII opt-in only).
    treebeard::sentry::set_user(&UserContext::new(user.clone()).with_email(user.clone()));
    Err(ApiError::Internal(format!(
        "could not process request of {user}: query {} body {body}",
        query.unwrap_or_default()
    )))
}
