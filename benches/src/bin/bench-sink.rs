//! `bench-sink [--info INFO_JSON] PORTS_FILE`: the receivers of `make bench`'s load
//! runs, cheap enough to share the load generator's core.
//!
//! - HTTP: DataDog's trace intake (`/v0.4/traces`, `/v0.5/traces`), whose
//!   MessagePack payloads are walked to count the spans (a payload that does
//!   not parse is answered 400 and counted as bad); `GET /info` answers
//!   `INFO_JSON` (the real agent's `/info`, so tracers pick the same
//!   endpoints and features as against the agent); anything else (Sentry
//!   envelopes, stats, telemetry) is answered 200 and counted.
//! - UDP: DogStatsD datagrams, counted.
//!
//! `GET /counts` returns the counts as JSON. The chosen ports are written to
//! PORTS_FILE as `HTTP <port>` and `UDP <port>` lines.
//!
//! Why not DataDog's test agent: it is Python, and decoding the tens of
//! thousands of spans a second of a load run on wrk's core starves wrk (see
//! docs/performance.md). The test agent still checks every payload format
//! in the e2e tests and receives the spans of the callgrind runs.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{StatusCode, Uri};
use axum::response::IntoResponse;

#[derive(Default)]
struct Counts {
    spans: AtomicU64,
    trace_payloads: AtomicU64,
    bad_trace_payloads: AtomicU64,
    other_http_requests: AtomicU64,
    other_http_bytes: AtomicU64,
    udp_datagrams: AtomicU64,
    udp_bytes: AtomicU64,
}

struct Sink {
    counts: Counts,
    info: String,
}

fn main() {
    const USAGE: &str = "usage: bench-sink [--info INFO_JSON] PORTS_FILE";
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (info, ports_file) = match args.as_slice() {
        [flag, path, ports] if flag == "--info" => (
            std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}")),
            ports.clone(),
        ),
        [ports] => ("{}".to_owned(), ports.clone()),
        _ => panic!("{USAGE}"),
    };
    let sink = Arc::new(Sink {
        counts: Counts::default(),
        info,
    });
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async move {
        let tcp = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let udp = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let ports = format!(
            "HTTP {}\nUDP {}\n",
            tcp.local_addr().unwrap().port(),
            udp.local_addr().unwrap().port()
        );
        // Written whole under another name, then renamed: readers poll for it.
        let partial = format!("{ports_file}.partial");
        std::fs::write(&partial, ports).unwrap();
        std::fs::rename(&partial, &ports_file).unwrap();
        tokio::spawn(count_datagrams(udp, sink.clone()));
        let app = Router::new()
            .fallback(answer)
            .layer(DefaultBodyLimit::disable())
            .with_state(sink);
        axum::serve(tcp, app).await.unwrap();
    });
}

async fn count_datagrams(udp: tokio::net::UdpSocket, sink: Arc<Sink>) {
    let mut buf = vec![0u8; 65536];
    while let Ok(n) = udp.recv(&mut buf).await {
        sink.counts.udp_datagrams.fetch_add(1, Relaxed);
        sink.counts.udp_bytes.fetch_add(n as u64, Relaxed);
    }
}

async fn answer(State(sink): State<Arc<Sink>>, uri: Uri, body: Bytes) -> impl IntoResponse {
    let counts = &sink.counts;
    let path = uri.path();
    let version = match path {
        "/v0.4/traces" => Some(Version::V04),
        "/v0.5/traces" => Some(Version::V05),
        _ => None,
    };
    if let Some(version) = version {
        counts.trace_payloads.fetch_add(1, Relaxed);
        return match count_spans(&body, version) {
            Some(spans) => {
                counts.spans.fetch_add(spans, Relaxed);
                (StatusCode::OK, r#"{"rate_by_service":{}}"#.to_owned())
            }
            None => {
                counts.bad_trace_payloads.fetch_add(1, Relaxed);
                (StatusCode::BAD_REQUEST, "bad MessagePack".to_owned())
            }
        };
    }
    match path {
        "/info" => (StatusCode::OK, sink.info.clone()),
        "/counts" => {
            let c = |n: &AtomicU64| n.load(Relaxed);
            let json = format!(
                r#"{{"spans":{},"trace_payloads":{},"bad_trace_payloads":{},"other_http_requests":{},"other_http_bytes":{},"udp_datagrams":{},"udp_bytes":{}}}"#,
                c(&counts.spans),
                c(&counts.trace_payloads),
                c(&counts.bad_trace_payloads),
                c(&counts.other_http_requests),
                c(&counts.other_http_bytes),
                c(&counts.udp_datagrams),
                c(&counts.udp_bytes),
            );
            (StatusCode::OK, json)
        }
        _ => {
            counts.other_http_requests.fetch_add(1, Relaxed);
            counts
                .other_http_bytes
                .fetch_add(body.len() as u64, Relaxed);
            (StatusCode::OK, "{}".to_owned())
        }
    }
}

#[derive(Clone, Copy)]
enum Version {
    /// An array of traces, each an array of span maps.
    V04,
    /// `[strings, traces]`, each span an array of string-table indexes.
    V05,
}

/// The number of spans in a whole, well-formed payload.
fn count_spans(buf: &[u8], version: Version) -> Option<u64> {
    let mut r = Reader { buf, pos: 0 };
    if let Version::V05 = version {
        if r.array_len()? != 2 {
            return None;
        }
        r.skip(0)?;
    }
    let mut spans = 0;
    for _ in 0..r.array_len()? {
        let n = r.array_len()?;
        spans += n as u64;
        for _ in 0..n {
            r.skip(0)?;
        }
    }
    (r.pos == buf.len()).then_some(spans)
}

/// Just enough MessagePack to walk a payload.
struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl Reader<'_> {
    fn take(&mut self, n: usize) -> Option<&[u8]> {
        let end = self.pos.checked_add(n)?;
        let bytes = self.buf.get(self.pos..end)?;
        self.pos = end;
        Some(bytes)
    }

    fn byte(&mut self) -> Option<u8> {
        Some(self.take(1)?[0])
    }

    fn uint(&mut self, width: usize) -> Option<usize> {
        let bytes = self.take(width)?;
        Some(bytes.iter().fold(0usize, |n, b| (n << 8) | usize::from(*b)))
    }

    fn array_len(&mut self) -> Option<usize> {
        match self.byte()? {
            b @ 0x90..=0x9f => Some(usize::from(b & 0x0f)),
            0xdc => self.uint(2),
            0xdd => self.uint(4),
            _ => None,
        }
    }

    /// Skips one value (nested no deeper than 32).
    fn skip(&mut self, depth: usize) -> Option<()> {
        if depth > 32 {
            return None;
        }
        let (items, bytes) = match self.byte()? {
            0x00..=0x7f | 0xe0..=0xff | 0xc0 | 0xc2 | 0xc3 => (0, 0),
            b @ 0x80..=0x8f => (2 * usize::from(b & 0x0f), 0),
            b @ 0x90..=0x9f => (usize::from(b & 0x0f), 0),
            b @ 0xa0..=0xbf => (0, usize::from(b & 0x1f)),
            0xc4 | 0xd9 => (0, self.uint(1)?),
            0xc5 | 0xda => (0, self.uint(2)?),
            0xc6 | 0xdb => (0, self.uint(4)?),
            0xc7 => (0, self.uint(1)? + 1),
            0xc8 => (0, self.uint(2)? + 1),
            0xc9 => (0, self.uint(4)? + 1),
            0xcc | 0xd0 => (0, 1),
            0xcd | 0xd1 => (0, 2),
            0xca | 0xce | 0xd2 => (0, 4),
            0xcb | 0xcf | 0xd3 => (0, 8),
            0xd4 => (0, 2),
            0xd5 => (0, 3),
            0xd6 => (0, 5),
            0xd7 => (0, 9),
            0xd8 => (0, 17),
            0xdc => (self.uint(2)?, 0),
            0xdd => (self.uint(4)?, 0),
            0xde => (2 * self.uint(2)?, 0),
            0xdf => (2 * self.uint(4)?, 0),
            0xc1 => return None,
        };
        self.take(bytes)?;
        for _ in 0..items {
            self.skip(depth + 1)?;
        }
        Some(())
    }
}

#[cfg(test)]
mod tests {
    use super::{Version, count_spans};

    /// `[[{"a":1}], [{"b":"x"}, {"c":[1, 2.5]}]]`
    const V04: &[u8] = &[
        0x92, 0x91, 0x81, 0xa1, b'a', 0x01, 0x92, 0x81, 0xa1, b'b', 0xa1, b'x', 0x81, 0xa1, b'c',
        0x92, 0x01, 0xcb, 0x40, 0x04, 0, 0, 0, 0, 0, 0,
    ];

    #[test]
    fn counts_the_spans_of_whole_payloads_only() {
        assert_eq!(count_spans(V04, Version::V04), Some(3));
        assert_eq!(count_spans(&V04[..V04.len() - 1], Version::V04), None);
        let mut longer = V04.to_vec();
        longer.push(0xc0);
        assert_eq!(count_spans(&longer, Version::V04), None);
        // v0.5: [["a"], traces]
        let mut v05 = vec![0x92, 0x91, 0xa1, b'a'];
        v05.extend_from_slice(V04);
        assert_eq!(count_spans(&v05, Version::V05), Some(3));
    }
}
