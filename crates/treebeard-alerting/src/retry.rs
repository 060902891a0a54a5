//! Timeouts and retries with exponential backoff for every outgoing HTTP
//! call (notifiers and the DataDog API).

use std::time::Duration;

use reqwest::{RequestBuilder, Response, StatusCode};

/// Default number of attempts (the first try included).
pub const DEFAULT_MAX_ATTEMPTS: u32 = 4;
/// Default delay before the first retry.
pub const DEFAULT_INITIAL_BACKOFF: Duration = Duration::from_millis(250);
/// Default upper bound of one delay (also caps `Retry-After`).
pub const DEFAULT_MAX_BACKOFF: Duration = Duration::from_secs(10);
/// Default timeout of one attempt.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// How often and how patiently a request is retried.
///
/// Transport errors, `429` and `5xx` are retried; the delay doubles each
/// time and a `Retry-After` header (in seconds) replaces it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct RetryPolicy {
    /// Attempts including the first one (at least 1).
    pub max_attempts: u32,
    /// Delay before the first retry.
    pub initial_backoff: Duration,
    /// Largest delay between two attempts.
    pub max_backoff: Duration,
    /// Timeout of one attempt.
    pub timeout: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: DEFAULT_MAX_ATTEMPTS,
            initial_backoff: DEFAULT_INITIAL_BACKOFF,
            max_backoff: DEFAULT_MAX_BACKOFF,
            timeout: DEFAULT_TIMEOUT,
        }
    }
}

impl RetryPolicy {
    /// Sets the number of attempts (default [`DEFAULT_MAX_ATTEMPTS`]; 0 acts as 1).
    #[must_use]
    pub fn with_max_attempts(mut self, attempts: u32) -> Self {
        self.max_attempts = attempts.max(1);
        self
    }

    /// Sets the first delay (default [`DEFAULT_INITIAL_BACKOFF`]).
    #[must_use]
    pub fn with_initial_backoff(mut self, delay: Duration) -> Self {
        self.initial_backoff = delay;
        self
    }

    /// Sets the largest delay (default [`DEFAULT_MAX_BACKOFF`]).
    #[must_use]
    pub fn with_max_backoff(mut self, delay: Duration) -> Self {
        self.max_backoff = delay;
        self
    }

    /// Sets the timeout of one attempt (default [`DEFAULT_TIMEOUT`]).
    #[must_use]
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Sends the request built by `make` until it succeeds, answers with a
    /// status that is not worth retrying, or attempts run out.
    ///
    /// Returns the last response whatever its status; the error is the
    /// last transport error.
    pub async fn send(
        &self,
        make: impl Fn() -> RequestBuilder,
    ) -> Result<Response, reqwest::Error> {
        let mut delay = self.initial_backoff;
        let mut attempt = 1;
        loop {
            let result = make().timeout(self.timeout).send().await;
            let last = attempt >= self.max_attempts;
            let wait = match &result {
                Ok(r) if !is_retryable(r.status()) || last => return result,
                Ok(r) => retry_after(r).unwrap_or(delay),
                Err(_) if last => return result,
                Err(e) => {
                    tracing::debug!(error = %e, attempt, "request failed, retrying");
                    delay
                }
            };
            tokio::time::sleep(wait.min(self.max_backoff)).await;
            delay = (delay * 2).min(self.max_backoff);
            attempt += 1;
        }
    }
}

/// Whether a status is worth another attempt.
pub fn is_retryable(status: StatusCode) -> bool {
    status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error()
}

fn retry_after(response: &Response) -> Option<Duration> {
    let value = response.headers().get(reqwest::header::RETRY_AFTER)?;
    let seconds: f64 = value.to_str().ok()?.trim().parse().ok()?;
    (seconds.is_finite() && seconds >= 0.0).then(|| Duration::from_secs_f64(seconds))
}
