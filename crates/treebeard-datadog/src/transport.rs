//! HTTP to the agent: where it listens, one kept hyper connection, and one
//! exchange (a request written, the answer read whole and classified).

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::client::conn::http1;
use hyper_util::rt::TokioIo;

/// The largest agent answer read (`{"rate_by_service":...}` is small); a
/// larger one is an error rather than buffered.
pub(crate) const MAX_ANSWER: usize = 1 << 20;
/// Where the agent listens.
#[derive(Debug, Clone)]
pub(crate) enum Agent {
    Tcp {
        host: String,
        port: u16,
    },
    #[cfg(unix)]
    Unix(std::path::PathBuf),
}

impl Agent {
    /// The agent of `DD_TRACE_AGENT_URL` (http or unix), or why not.
    pub(crate) fn from_url(url: &url::Url) -> Result<Self, String> {
        match url.scheme() {
            "http" => Ok(Self::Tcp {
                host: url
                    .host_str()
                    .unwrap_or("localhost")
                    .trim_matches(['[', ']'])
                    .to_owned(),
                port: url.port().unwrap_or(8126),
            }),
            #[cfg(unix)]
            "unix" => Ok(Self::Unix(url.path().into())),
            other => Err(format!(
                "DD_TRACE_AGENT_URL: the {other}:// scheme is not supported by APM_PROVIDER=datadog (use http:// or unix://, or APM_PROVIDER=datadog-otel)"
            )),
        }
    }

    /// Connects and starts hyper's HTTP/1.1 on the connection, whose
    /// task runs on the current (the exporter's) runtime.
    pub(crate) async fn connect(&self) -> Result<Connection, String> {
        let cannot = |e: &dyn std::fmt::Display| format!("cannot connect to the agent: {e}");
        match self {
            Self::Tcp { host, port } => {
                // Tries each address the name resolves to, in turn.
                let stream = tokio::net::TcpStream::connect((host.as_str(), *port))
                    .await
                    .map_err(|e| cannot(&e))?;
                // One small request and one small answer per flush: Nagle's
                // algorithm would only hold them back.
                stream.set_nodelay(true).map_err(|e| cannot(&e))?;
                handshake(stream).await
            }
            #[cfg(unix)]
            Self::Unix(path) => {
                let stream = tokio::net::UnixStream::connect(path)
                    .await
                    .map_err(|e| cannot(&e))?;
                handshake(stream).await
            }
        }
    }

    pub(crate) fn host_header(&self) -> String {
        match self {
            Self::Tcp { host, port } => format!("{host}:{port}"),
            #[cfg(unix)]
            Self::Unix(_) => "localhost".to_owned(),
        }
    }
}

/// The kept connection to the agent: hyper's sending half (the connection
/// itself is a task on the exporter's runtime).
pub(crate) type Connection = http1::SendRequest<Full<Bytes>>;

/// Starts hyper's HTTP/1.1 client on `io`.
pub(crate) async fn handshake<T>(io: T) -> Result<Connection, String>
where
    T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin + 'static,
{
    let (sender, connection) = http1::Builder::new()
        // Header names as this exporter has always written them (hyper
        // writes them lowercase otherwise): the agent reads either, people
        // reading a capture or a test agent's log see the usual spelling.
        .title_case_headers(true)
        .handshake(TokioIo::new(io))
        .await
        .map_err(|e| format!("cannot connect to the agent: {}", chain(&e)))?;
    // The connection reads and writes while the sender waits on an answer
    // (`block_on`); it ends when the sender is dropped or the agent closes,
    // and its error, if any, is the one the next request gets.
    tokio::spawn(async move {
        let _ = connection.await;
    });
    Ok(sender)
}

/// An error and its causes, one line: hyper's own message ("connection
/// error") says little without the IO error under it.
pub(crate) fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// Why the agent did not take a payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum SendError {
    /// It answered 4xx (other than 408 and 429): the payload is bad, and
    /// sending it again would only be refused again.
    Rejected(String),
    /// It answered 5xx, 408 or 429: worth sending again, later.
    Unavailable(String),
    /// No connection, no answer in time, or a cut connection: worth
    /// sending again, later.
    Failed(String),
}

impl std::fmt::Display for SendError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Rejected(error) | Self::Unavailable(error) | Self::Failed(error) => {
                f.write_str(error)
            }
        }
    }
}

/// Sends `request` and reads the agent's answer whole, so that the
/// connection can carry the next one; returns the answer's body (the
/// agent's sampling rates).
pub(crate) async fn exchange(
    sender: &mut Connection,
    request: http::Request<Full<Bytes>>,
) -> Result<Bytes, SendError> {
    sender
        .ready()
        .await
        .map_err(|e| SendError::Failed(format!("cannot send to the agent: {}", chain(&e))))?;
    // hyper's one error covers writing the request and reading the answer's
    // head; a failure is almost always the latter (a closed connection, a
    // bad answer).
    let response = sender
        .send_request(request)
        .await
        .map_err(|e| SendError::Failed(format!("no answer from the agent: {}", chain(&e))))?;
    let status = response.status();
    let body = Limited::new(response.into_body(), MAX_ANSWER)
        .collect()
        .await
        .map_err(|e| SendError::Failed(format!("no answer from the agent: {}", chain(&*e))))?
        .to_bytes();
    if status.is_success() {
        return Ok(body);
    }
    let error = format!(
        "the agent answered {}: {}",
        status.as_u16(),
        String::from_utf8_lossy(&body[..body.len().min(200)])
    );
    // 408 and 429 say "not now", not "not this".
    let retry_later = matches!(
        status,
        http::StatusCode::REQUEST_TIMEOUT | http::StatusCode::TOO_MANY_REQUESTS
    );
    if status.is_client_error() && !retry_later {
        Err(SendError::Rejected(error))
    } else {
        Err(SendError::Unavailable(error))
    }
}
