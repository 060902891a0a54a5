//! `DD_TRACE_HEADER_TAGS`: request and response headers copied onto server
//! spans as tags, as DataDog's tracers do.

use std::collections::HashSet;
use std::sync::{Mutex, OnceLock, PoisonError};

/// One header to tag server spans with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeaderTag {
    /// The header (lower-case).
    pub header: http::HeaderName,
    /// The tag for the request's header: the configured name, else
    /// `http.request.headers.<header>`.
    pub request_tag: &'static str,
    /// The tag for the response's header: the configured name, else
    /// `http.response.headers.<header>`.
    pub response_tag: &'static str,
}

/// Parses `header[:tag]` entries separated by commas (or spaces), as
/// DataDog does; `Err` names the entry that is not one, or a header whose
/// values are secrets (`Authorization`, `Cookie`, ...: never tagged).
pub(super) fn parse(value: &str) -> Result<Vec<HeaderTag>, String> {
    let mut tags = Vec::new();
    for entry in value
        .split([',', ' '])
        .map(str::trim)
        .filter(|e| !e.is_empty())
    {
        let (header, tag) = match entry.split_once(':') {
            Some((header, tag)) => (header.trim(), Some(tag.trim())),
            None => (entry, None),
        };
        let header = http::HeaderName::from_bytes(header.as_bytes())
            .map_err(|_| format!("`{entry}`: `{header}` is not a header name"))?;
        if crate::privacy::scrubber().is_sensitive_key(header.as_str()) {
            return Err(format!("`{header}` carries secrets and is never tagged"));
        }
        let (request_tag, response_tag) = match tag {
            Some("") => return Err(format!("`{entry}`: the tag name is empty")),
            Some(tag) if tag.contains(char::is_whitespace) => {
                return Err(format!("`{entry}`: a tag name has no spaces"));
            }
            Some(tag) => (intern(tag.to_owned()), intern(tag.to_owned())),
            None => {
                let name = normalize(header.as_str());
                (
                    intern(format!("http.request.headers.{name}")),
                    intern(format!("http.response.headers.{name}")),
                )
            }
        };
        tags.push(HeaderTag {
            header,
            request_tag,
            response_tag,
        });
    }
    Ok(tags)
}

/// A header name as DataDog's tag names write it: characters other than
/// `a-z0-9_-:/` become `_`.
fn normalize(header: &str) -> String {
    header
        .chars()
        .map(|c| match c {
            'a'..='z' | '0'..='9' | '_' | '-' | ':' | '/' => c,
            _ => '_',
        })
        .collect()
}

/// Tag names live as long as the process (span tags take `&'static str`);
/// each distinct name is kept once, however often a configuration is read.
fn intern(name: String) -> &'static str {
    static NAMES: OnceLock<Mutex<HashSet<&'static str>>> = OnceLock::new();
    let mut names = NAMES
        .get_or_init(Mutex::default)
        .lock()
        .unwrap_or_else(PoisonError::into_inner);
    if let Some(known) = names.get(name.as_str()) {
        return known;
    }
    let leaked: &'static str = Box::leak(name.into_boxed_str());
    names.insert(leaked);
    leaked
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_default_and_named_tags() {
        let tags = parse("X-Tenant-ID, user-agent:http.ua,x.odd").unwrap();
        assert_eq!(tags.len(), 3);
        assert_eq!(tags[0].header, "x-tenant-id");
        assert_eq!(tags[0].request_tag, "http.request.headers.x-tenant-id");
        assert_eq!(tags[0].response_tag, "http.response.headers.x-tenant-id");
        assert_eq!(
            (tags[1].request_tag, tags[1].response_tag),
            ("http.ua", "http.ua")
        );
        assert_eq!(tags[2].request_tag, "http.request.headers.x_odd");
        // The same name twice is one allocation.
        let again = parse("x-tenant-id").unwrap();
        assert!(std::ptr::eq(again[0].request_tag, tags[0].request_tag));
    }

    #[test]
    fn secrets_and_nonsense_are_refused() {
        for bad in ["authorization", "cookie:c", "x-api-key", "bad{header", "x:"] {
            assert!(parse(bad).is_err(), "{bad}");
        }
        let err = parse("set-cookie").unwrap_err();
        assert!(
            err.contains("set-cookie") && err.contains("secrets"),
            "{err}"
        );
        assert_eq!(parse("").unwrap(), Vec::new());
    }
}
