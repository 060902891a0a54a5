//! `GET /demo/stream`: a chunked download that takes about a second, one
//! line every 200 ms, to see a streaming response timed to its last byte
//! (the request line's `latency_ms` and the span) rather than its head
//! (`head_ms`). `GET /demo/broken-stream`: a download that fails after its
//! first line, as a stream whose source goes away does (an ERROR line, an
//! error span and a Sentry event, though the status says 200).

use std::convert::Infallible;
use std::time::Duration;

use axum::body::Body;
use axum::http::header;
use axum::response::IntoResponse;

/// Lines sent.
const LINES: u32 = 5;
/// Pause before each line after the first.
const PAUSE: Duration = Duration::from_millis(200);

/// Streams `LINES` lines, `PAUSE` apart.
pub async fn stream() -> impl IntoResponse {
    let lines = futures_util::stream::unfold(0, |i| async move {
        if i == LINES {
            return None;
        }
        if i > 0 {
            tokio::time::sleep(PAUSE).await;
        }
        let line = format!("line {} of {LINES}\n", i + 1);
        Some((Ok::<_, Infallible>(line), i + 1))
    });
    (
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        Body::from_stream(lines),
    )
}

/// One line, then the source fails: the client gets a truncated body.
pub async fn broken() -> impl IntoResponse {
    let chunks = futures_util::stream::iter([
        Ok::<_, std::io::Error>("line 1 of 5\n".to_owned()),
        Err(std::io::Error::other("the export source went away")),
    ]);
    (
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        Body::from_stream(chunks),
    )
}
