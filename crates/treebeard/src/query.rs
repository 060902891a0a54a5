//! DataDog's query-string obfuscation for `http.url`: values whose key or
//! shape looks secret (`password=`, `token=`, a bearer token, a JWT, a
//! private key) become `<redacted>`, the rest stays (`?page=2`), as in
//! DataDog's tracers (`DD_TRACE_OBFUSCATION_QUERY_STRING_REGEXP`). What
//! remains then goes through the PII scrubber like every other tag.

use std::borrow::Cow;
use std::sync::OnceLock;

use regex::Regex;

/// DataDog's default pattern, as dd-trace-py 4.16 defines it
/// (`DD_TRACE_OBFUSCATION_QUERY_STRING_REGEXP_DEFAULT`).
pub(crate) const DEFAULT_PATTERN: &str = concat!(
    r"(?i)",
    r#"(?:(?:"|%22)?)"#,
    r"(?:",
    r"(?:old[-_]?|new[-_]?)?p(?:ass)?w(?:or)?d(?:1|2)?",
    r"|pass(?:[-_]?phrase)?",
    r"|secret",
    r"|(?:api[-_]?|private[-_]?|public[-_]?|access[-_]?|secret[-_]?|app(?:lication)?[-_]?)key(?:[-_]?id)?",
    r"|token",
    r"|consumer[-_]?(?:id|key|secret)",
    r"|sign(?:ed|ature)?",
    r"|auth(?:entication|orization)?",
    r")",
    r"(?:",
    r"(?:\s|%20)*(?:=|%3D)[^&]+",
    r#"|(?:"|%22)(?:\s|%20)*(?::|%3A)(?:\s|%20)*(?:"|%22)(?:%2[^2]|%[^2]|[^"%])+(?:"|%22)"#,
    r")",
    r"|(?:",
    r"bearer(?:\s|%20)+[a-z0-9._\-]+",
    r"|token(?::|%3A)[a-z0-9]{13}",
    r"|gh[opsu]_[0-9a-zA-Z]{36}",
    r"|(^|[^\w%-]|%[0-9a-f]{2})ey[I-L][\w-]+(?:=|%3D)*\.ey[I-L][\w-]+(?:=|%3D)*(?:\.(?:[\w.+/=-]|%3D|%2F|%2B)+)?",
    r"|-{5}BEGIN(?:[a-z\s]|%20)+PRIVATE(?:\s|%20)KEY-{5}[^\-]+-{5}END(?:[a-z\s]|%20)+PRIVATE(?:\s|%20)KEY(?:-{5})?(?:\n|%0A)?",
    r"|(?:ssh-(?:rsa|dss)|ecdsa-[a-z0-9]+-[a-z0-9]+)(?:\s|%20|%09)+(?:[a-z0-9/.+]|%2F|%5C|%2B){100,}(?:=|%3D)*(?:(?:\s|%20|%09)+[a-z0-9._-]+)?",
    r")",
);

/// What becomes of a URL's query string on spans.
#[derive(Debug)]
pub(crate) enum QueryObfuscation {
    /// Matches of the pattern become `<redacted>`; `preserve_delimiter`
    /// keeps the character before a JWT (DataDog does so only for its
    /// default pattern).
    Redact {
        /// The compiled pattern.
        pattern: Regex,
        /// Keep capture group 1 (the delimiter) of each match.
        preserve_delimiter: bool,
    },
    /// An empty pattern: DataDog then leaves the query out of `http.url`.
    Strip,
}

impl QueryObfuscation {
    /// From `DD_TRACE_OBFUSCATION_QUERY_STRING_REGEXP`: `None` is DataDog's
    /// default pattern, `""` strips the query. An invalid pattern is an
    /// error naming why.
    pub(crate) fn new(pattern: Option<&str>) -> Result<Self, regex::Error> {
        match pattern {
            Some("") => Ok(Self::Strip),
            Some(custom) => Ok(Self::Redact {
                pattern: Regex::new(custom)?,
                preserve_delimiter: custom == DEFAULT_PATTERN,
            }),
            None => Ok(Self::Redact {
                pattern: Regex::new(DEFAULT_PATTERN)?,
                preserve_delimiter: true,
            }),
        }
    }

    /// The query as `http.url` shows it, or `None` to leave it out.
    pub(crate) fn apply<'q>(&self, query: &'q str) -> Option<Cow<'q, str>> {
        match self {
            Self::Strip => None,
            Self::Redact {
                pattern,
                preserve_delimiter: true,
            } => Some(pattern.replace_all(query, |caps: &regex::Captures<'_>| {
                format!("{}<redacted>", caps.get(1).map_or("", |m| m.as_str()))
            })),
            Self::Redact { pattern, .. } => Some(pattern.replace_all(query, "<redacted>")),
        }
    }
}

static OBFUSCATION: OnceLock<QueryObfuscation> = OnceLock::new();

/// Uses `obfuscation` for every `http.url` (called once, by `init`);
/// false when one is in use already.
pub(crate) fn set(obfuscation: QueryObfuscation) -> bool {
    OBFUSCATION.set(obfuscation).is_ok()
}

/// The obfuscation in use: the configured one, or DataDog's default.
pub(crate) fn obfuscation() -> &'static QueryObfuscation {
    OBFUSCATION.get_or_init(|| QueryObfuscation::new(None).unwrap_or(QueryObfuscation::Strip))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn apply(query: &str) -> String {
        QueryObfuscation::new(None)
            .unwrap()
            .apply(query)
            .unwrap()
            .into_owned()
    }

    #[test]
    fn secrets_are_redacted_and_the_rest_kept_as_in_datadogs_tracers() {
        // Expectations from dd-trace-py's own tests of the default pattern.
        assert_eq!(apply("page=2&sort=name"), "page=2&sort=name");
        assert_eq!(apply("page=2&token=s3cr3t&x=1"), "page=2&<redacted>&x=1");
        assert_eq!(apply("password=hunter2"), "<redacted>");
        assert_eq!(apply("api_key=abc&app-key=def"), "<redacted>&<redacted>");
        assert_eq!(apply("q=bearer%20abc.def"), "q=<redacted>");
        assert_eq!(
            apply("x=1&jwt=eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.sig"),
            "x=1&jwt=<redacted>"
        );
        assert_eq!(apply(r#"{"password": "abc"}"#), r#"{<redacted>}"#);
        assert_eq!(
            apply("ghp=ghp_0123456789abcdefghijABCDEFGHIJ012345"),
            "ghp=<redacted>"
        );
    }

    #[test]
    fn an_empty_pattern_strips_and_a_custom_one_applies() {
        assert!(
            QueryObfuscation::new(Some(""))
                .unwrap()
                .apply("a=1")
                .is_none()
        );
        let custom = QueryObfuscation::new(Some("(?i)user=[^&]+")).unwrap();
        assert_eq!(
            custom.apply("user=bob&page=2").unwrap(),
            "<redacted>&page=2"
        );
        assert!(QueryObfuscation::new(Some("(")).is_err());
    }
}
