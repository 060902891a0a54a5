//! A request's route template and the URL spans show: shared by every
//! layer that names a request (log line, span, metrics, Sentry).

use axum::extract::{MatchedPath, OriginalUri};
use http::Request;

/// The `tracing` target of the request line (`request completed`), kept
/// stable for `RUST_LOG` filters and log pipelines whatever the module.
pub const REQUEST_LINE_TARGET: &str = "treebeard::request_log";

/// The status logged, tagged and counted for a request the client
/// abandoned, as DataDog and nginx name it ("client closed request").
pub const CLIENT_CLOSED_REQUEST: http::StatusCode = match http::StatusCode::from_u16(499) {
    Ok(status) => status,
    Err(_) => http::StatusCode::BAD_REQUEST,
};

/// The route recorded for requests that matched no route.
pub const UNMATCHED_ROUTE: &str = treebeard_conventions::tags::UNMATCHED_ROUTE;

/// The route recorded for requests no route matched but a mounted
/// service answered with anything but 404: `Router::nest_service` and
/// `Router::fallback_service` (static files, a single-page app).
///
/// axum gives middleware no name for these mounts (it sets no
/// `MatchedPath`, and its nested path type is private), and a path prefix
/// would let clients mint names, so they share this one.
pub const MOUNTED_ROUTE: &str = "/*";

/// The route template of a request: its `MatchedPath`, else unmatched
/// until the response says whether a mounted service served it (see
/// [`RouteTemplate::settle`]).
pub fn route_of<B>(req: &Request<B>) -> RouteTemplate {
    RouteTemplate(match req.extensions().get::<MatchedPath>() {
        Some(matched) => Kind::Matched(matched.clone()),
        None => Kind::Unmatched,
    })
}

/// A request's route template: cheap to clone, never the raw path.
#[derive(Clone, Debug)]
pub struct RouteTemplate(Kind);

#[derive(Clone, Debug)]
enum Kind {
    /// A route's template, as axum matched it.
    Matched(MatchedPath),
    /// No route: a 404, or a mounted service that may serve it.
    Unmatched,
    /// No route, answered by a mounted service ([`MOUNTED_ROUTE`]).
    Mounted,
}

impl RouteTemplate {
    /// The template, such as `/users/{id}`, [`MOUNTED_ROUTE`] or
    /// [`UNMATCHED_ROUTE`].
    pub fn as_str(&self) -> &str {
        match &self.0 {
            Kind::Matched(path) => path.as_str(),
            Kind::Unmatched => UNMATCHED_ROUTE,
            Kind::Mounted => MOUNTED_ROUTE,
        }
    }

    /// Whether the template is known before the response: only requests
    /// no route matched wait for [`settle`](Self::settle).
    pub fn is_known(&self) -> bool {
        !matches!(self.0, Kind::Unmatched)
    }

    /// Settles an unmatched request by its response: a 404 stays
    /// unmatched, anything else was served by a mounted service.
    pub fn settle(&mut self, status: Option<http::StatusCode>) {
        if matches!(self.0, Kind::Unmatched)
            && status.is_some_and(|status| status != http::StatusCode::NOT_FOUND)
        {
            self.0 = Kind::Mounted;
        }
    }
}

/// The host a request was sent to: the `Host` header, else the URI's
/// authority, else `localhost`.
pub(crate) fn request_host<'a>(headers: &'a http::HeaderMap, uri: &'a http::Uri) -> &'a str {
    headers
        .get(http::header::HOST)
        .and_then(|h| h.to_str().ok())
        .or_else(|| uri.authority().map(|a| a.as_str()))
        .unwrap_or("localhost")
}

/// The URI the client sent: inside a nested router, axum strips the
/// prefix from the URI and keeps the whole one as `OriginalUri`.
pub(crate) fn client_uri<B>(req: &Request<B>) -> &http::Uri {
    req.extensions()
        .get::<OriginalUri>()
        .map_or(req.uri(), |original| &original.0)
}

/// A request's path as lines and spans show it: scrubbed, unless it is the
/// route template itself (a route without parameters: code rather than
/// input, with nothing to scrub).
pub(crate) fn shown_path<'a>(path: &'a str, route: &str) -> std::borrow::Cow<'a, str> {
    if route == path {
        std::borrow::Cow::Borrowed(path)
    } else {
        crate::privacy::scrubber().scrub(path)
    }
}

/// `http://<host><scrubbed path>?<query>`: the query obfuscated as
/// DataDog's tracers do (secret-looking values `<redacted>`, see
/// [`crate::query`]), then PII-scrubbed.
///
/// Written straight into whatever records it (the span's buffer), with no
/// `String` of its own.
pub(crate) struct RequestUrl<'a> {
    host: &'a str,
    uri: &'a http::Uri,
    /// The route template ([`UNMATCHED_ROUTE`] never equals a path).
    route: &'a str,
}

impl<'a> RequestUrl<'a> {
    pub(crate) fn of<B>(req: &'a Request<B>, route: &'a RouteTemplate) -> Self {
        let uri = client_uri(req);
        Self {
            host: request_host(req.headers(), uri),
            uri,
            route: route.as_str(),
        }
    }
}

impl std::fmt::Display for RequestUrl<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("http://")?;
        f.write_str(self.host)?;
        f.write_str(&shown_path(self.uri.path(), self.route))?;
        if let Some(query) = self.uri.query()
            && let Some(query) = crate::query::obfuscation().apply(query)
        {
            f.write_str("?")?;
            f.write_str(&crate::privacy::scrubber().scrub(&query))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_secrets_are_redacted_and_pii_scrubbed() {
        let req = Request::get("/users/1?email=a@b.co&page=2&token=s3cr3t")
            .header("host", "api:8080")
            .body(())
            .unwrap();
        assert_eq!(
            RequestUrl::of(&req, &route_of(&req)).to_string(),
            "http://api:8080/users/1?email=[EMAIL]&page=2&<redacted>"
        );
        let req = Request::get("/users/bob@example.com").body(()).unwrap();
        assert_eq!(
            RequestUrl::of(&req, &route_of(&req)).to_string(),
            "http://localhost/users/[EMAIL]"
        );
        // A parameter route's path is scrubbed; a static route's path is
        // its template, written as it is.
        let url = |path: &str, route| {
            let uri: http::Uri = path.parse().unwrap();
            let url = RequestUrl {
                host: "h",
                uri: &uri,
                route,
            };
            url.to_string()
        };
        assert_eq!(
            url("/users/bob@example.com", "/users/{id}"),
            "http://h/users/[EMAIL]"
        );
        assert_eq!(url("/health", "/health"), "http://h/health");
        // In a nested router the URL keeps the prefix axum stripped.
        let mut req = Request::get("/users/7").body(()).unwrap();
        req.extensions_mut()
            .insert(OriginalUri("/api/users/7?page=2".parse().unwrap()));
        assert_eq!(
            RequestUrl::of(&req, &route_of(&req)).to_string(),
            "http://localhost/api/users/7?page=2"
        );
    }
}
