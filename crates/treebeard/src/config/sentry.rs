//! Sentry settings: `SENTRY_*`.

use std::str::FromStr;

use super::reader::Reader;
use super::secret::Secret;
use super::vars::*;

/// Sentry settings.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct SentryConfig {
    /// `SENTRY_DSN`, validated; `None` turns Sentry off.
    pub dsn: Option<Secret>,
    /// `SENTRY_ENVIRONMENT` (default: `DD_ENV`; with neither, Sentry's
    /// own default).
    pub environment: Option<String>,
    /// `SENTRY_RELEASE` (default: `DD_VERSION`).
    pub release: String,
    /// `SENTRY_TRACES_SAMPLE_RATE`, 0.0 to 1.0.
    pub traces_sample_rate: f64,
    /// `SENTRY_FAILED_REQUEST_STATUS_CODES`: responses captured as events
    /// (default `500..=599`; empty: none).
    pub failed_request_status_codes: Vec<std::ops::RangeInclusive<u16>>,
    /// `SENTRY_SEND_DEFAULT_PII`: send the user's e-mail and name.
    pub send_default_pii: bool,
    /// `SENTRY_USER_HASH_KEY`: key of the user-ID hash.
    pub user_hash_key: Option<Secret>,
}

pub(super) fn read_sentry(r: &mut Reader<'_>, env: Option<&str>, version: &str) -> SentryConfig {
    let dsn = r.parse(
        SENTRY_DSN,
        "a Sentry DSN like https://<public key>@<host>/<project id>",
        |s| sentry_types::Dsn::from_str(s).ok().map(|_| Secret::new(s)),
    );
    SentryConfig {
        dsn,
        environment: r.raw(SENTRY_ENVIRONMENT).or_else(|| env.map(str::to_owned)),
        release: r.string(SENTRY_RELEASE, version),
        traces_sample_rate: r.rate(SENTRY_TRACES_SAMPLE_RATE, 0.0),
        failed_request_status_codes: r
            .parse(
                SENTRY_FAILED_REQUEST_STATUS_CODES,
                "HTTP status codes (100-599) and ranges separated by commas, like 500-599 or 500,502-504, or none",
                parse_status_ranges,
            )
            .unwrap_or_else(|| vec![500..=599]),
        send_default_pii: r.bool(SENTRY_SEND_DEFAULT_PII, false),
        user_hash_key: r.parse(SENTRY_USER_HASH_KEY, "a non-empty secret", |s| {
            Some(Secret::new(s))
        }),
    }
}

/// `500-599`, `500,502-504` or `none`.
fn parse_status_ranges(s: &str) -> Option<Vec<std::ops::RangeInclusive<u16>>> {
    if s.eq_ignore_ascii_case("none") {
        return Some(Vec::new());
    }
    let code = |c: &str| {
        c.trim()
            .parse::<u16>()
            .ok()
            .filter(|c| (100..=599).contains(c))
    };
    s.split(',')
        .map(|part| match part.split_once('-') {
            Some((lo, hi)) => Some(code(lo)?..=code(hi)?).filter(|r| !r.is_empty()),
            None => code(part).map(|c| c..=c),
        })
        .collect()
}
