//! `GET /demo/error` and `GET /demo/panic`: failures on purpose, to see how
//! they are logged, answered and (with Sentry) captured.

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
