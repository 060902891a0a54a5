//! Response bodies as the layers see them: in memory, or streamed and
//! watched to their end (the request line, the span, a failing stream's
//! Sentry event).

use http_body::Body;

/// Bodies of a known size up to this many bytes are in memory already (a
/// JSON document, a page): sending them is the server's write, so their
/// request ends with the head. Streams and larger bodies are watched to
/// their end.
pub(crate) const IN_MEMORY_BODY: u64 = 64 * 1024;

/// Whether `body` is done or in memory (see [`IN_MEMORY_BODY`]).
pub(crate) fn in_memory(body: &impl Body) -> bool {
    body.is_end_stream()
        || body
            .size_hint()
            .exact()
            .is_some_and(|len| len <= IN_MEMORY_BODY)
}

pin_project_lite::pin_project! {
    /// A body that calls `report` with its first error's message (PII-
    /// scrubbed), for a failure no status can say: the head is sent.
    pub(crate) struct OnError<B> {
        #[pin]
        inner: B,
        report: Option<Box<dyn FnOnce(&str) + Send>>,
    }
}

impl<B> OnError<B> {
    #[cfg_attr(not(feature = "sentry"), allow(dead_code))]
    pub(crate) fn new(inner: B, report: Box<dyn FnOnce(&str) + Send>) -> Self {
        Self {
            inner,
            report: Some(report),
        }
    }
}

impl<B> Body for OnError<B>
where
    B: Body,
    B::Error: std::fmt::Display,
{
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        let this = self.project();
        let frame = std::task::ready!(this.inner.poll_frame(cx));
        match &frame {
            Some(Err(error)) => {
                if let Some(report) = this.report.take() {
                    let text = error.to_string();
                    report(&crate::privacy::scrubber().scrub(&text));
                }
            }
            // The end: nothing more to watch.
            None => *this.report = None,
            Some(Ok(_)) => {}
        }
        std::task::Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}
