//! Traces in the agent's v0.4 format: MessagePack, an array of traces,
//! each an array of span maps.
//!
//! Every MessagePack value is written by `rmp`'s encoders into a `Vec`.
//! The payload keeps, byte for byte, the forms this exporter has always
//! sent: IDs, times and the error flag as 64-bit integers, rates as 64-bit
//! floats, arrays with 32-bit headers. Each span is a map of the same
//! twelve fields; its `meta` and `metrics` maps get 16-bit headers whose
//! counts are written in afterwards, so tags can be written without
//! counting them first.

use rmp::encode as mp;

use crate::span::SpanData;

/// What every span of this process carries, with its constant tags
/// encoded once.
#[derive(Debug, Clone)]
pub(crate) struct Process {
    service: String,
    process_id: u32,
    /// `env`, `version` and `DD_TAGS`, encoded, and how many.
    common: (Vec<u8>, u16),
    /// The same without `version`, for spans of another service.
    other_service: (Vec<u8>, u16),
    /// `language` and `runtime-id`, for local roots.
    root: (Vec<u8>, u16),
}

impl Process {
    /// `tags` are `DD_TAGS`, split; `runtime_id` is one per process start.
    pub(crate) fn new(
        service: String,
        env: &str,
        version: &str,
        tags: &[(String, String)],
        runtime_id: &str,
    ) -> Self {
        let encode = |pairs: &[(&str, &str)]| {
            let mut out = Vec::new();
            for (key, value) in pairs {
                str(&mut out, key);
                str(&mut out, value);
            }
            (out, u16::try_from(pairs.len()).unwrap_or(u16::MAX))
        };
        let global: Vec<(&str, &str)> =
            tags.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        // An unset env or version is no tag at all, as in DataDog's own
        // tracers (an empty `env` tag would be an environment of its own).
        let env = [("env", env)].into_iter().filter(|(_, v)| !v.is_empty());
        let version = [("version", version)]
            .into_iter()
            .filter(|(_, v)| !v.is_empty());
        let mut common: Vec<(&str, &str)> = env.clone().chain(version).collect();
        common.extend_from_slice(&global);
        let mut other_service: Vec<(&str, &str)> = env
            .chain([("_dd.base_service", service.as_str())])
            .collect();
        other_service.extend_from_slice(&global);
        Self {
            common: encode(&common),
            other_service: encode(&other_service),
            root: encode(&[("language", "rust"), ("runtime-id", runtime_id)]),
            process_id: std::process::id(),
            service,
        }
    }
}

#[cfg(test)]
impl Process {
    /// The same with a fixed process ID (tests that pin bytes).
    pub(crate) fn with_process_id(mut self, process_id: u32) -> Self {
        self.process_id = process_id;
        self
    }
}

/// Appends one trace chunk (spans of one trace) to `out`.
pub(crate) fn chunk(out: &mut Vec<u8>, process: &Process, spans: &[SpanData]) {
    let Some(trace) = spans.first().map(|s| &*s.trace) else {
        return array_len(out, 0);
    };
    array_len(out, spans.len());
    let sampling = trace.sampling.get();
    let upstream = trace.upstream.as_deref();
    let mut hex = [0u8; 16];
    for span in spans {
        let service = span.service().unwrap_or(&process.service);
        // service, name, resource, type, trace_id, span_id, parent_id,
        // start, duration, error, meta, metrics: always these twelve; and
        // span_links on a local root whose headers held other traces.
        let links = match upstream {
            Some(u) if span.local_root && !u.links.is_empty() => u.links.as_slice(),
            _ => &[],
        };
        map_len(out, if links.is_empty() { 12 } else { 13 });
        let kv = |out: &mut Vec<u8>, key: &str, value: &str| {
            str(out, key);
            str(out, value);
        };
        kv(out, "service", service);
        kv(out, "name", span.operation());
        str(out, "resource");
        match span.resource() {
            (whole, None) => str(out, whole),
            (method, Some(route)) => str_parts(out, method, " ", route),
        }
        kv(out, "type", span.span_type());
        str(out, "trace_id");
        uint(out, trace.id as u64);
        str(out, "span_id");
        uint(out, span.span_id);
        str(out, "parent_id");
        uint(out, span.parent_id);
        str(out, "start");
        int(out, span.start_ns);
        str(out, "duration");
        int(out, span.duration_ns);
        str(out, "error");
        int(out, i64::from(span.fields.error));

        str(out, "meta");
        let meta = begin_map(out);
        let mut n = 0u16;
        for (key, value) in span.tags() {
            tag(out, &mut n, key, value);
        }
        tag(out, &mut n, "span.kind", span.fields.kind.as_str());
        let (constant, count) = if span.service().is_none() {
            &process.common
        } else {
            &process.other_service
        };
        out.extend_from_slice(constant);
        n += count;
        if let Some(dm) = sampling.and_then(|s| s.mechanism) {
            tag(out, &mut n, "_dd.p.dm", dm);
        }
        if let Some(upstream) = upstream {
            for (key, value) in &upstream.tags {
                if !(key == "_dd.p.dm" && sampling.is_some_and(|s| s.mechanism.is_some())) {
                    tag(out, &mut n, key, value);
                }
            }
        }
        if span.local_root {
            out.extend_from_slice(&process.root.0);
            n += process.root.1;
            let high = (trace.id >> 64) as u64;
            if high != 0 {
                tag(out, &mut n, "_dd.p.tid", hex16(&mut hex, high));
            }
            match sampling.and_then(|s| s.decision) {
                // The usual rate, without formatting it per trace.
                Some(d) if d.rate >= 1.0 && d.has_knuth_rate() => {
                    tag(out, &mut n, "_dd.p.ksr", "1");
                }
                Some(d) => {
                    if let Some(ksr) = d.knuth_rate() {
                        tag(out, &mut n, "_dd.p.ksr", &ksr);
                    }
                }
                None => {}
            }
            if let Some(origin) = upstream.and_then(|u| u.origin.as_deref()) {
                tag(out, &mut n, "_dd.origin", origin);
            }
            if let Some(others) = upstream.and_then(|u| u.tracestate_others.as_deref()) {
                tag(out, &mut n, "w3c.tracestate", others);
            }
            if let Some(parent) = upstream.and_then(|u| u.last_parent_id) {
                tag(out, &mut n, "_dd.parent_id", hex16(&mut hex, parent));
            }
            let error = upstream.and_then(|u| u.propagation_error.as_deref());
            if let Some(error) = error.or_else(|| trace.inject_error.get().copied()) {
                tag(out, &mut n, "_dd.propagation_error", error);
            }
        }
        end_map(out, meta, n);

        str(out, "metrics");
        let metrics = begin_map(out);
        let mut n = 0u16;
        for (key, value) in &span.fields.metrics {
            metric(out, &mut n, key, *value);
        }
        if let Some(sampling) = sampling {
            metric(
                out,
                &mut n,
                "_sampling_priority_v1",
                f64::from(sampling.priority),
            );
        }
        if span.top_level {
            metric(out, &mut n, "_top_level", 1.0);
        }
        if span.fields.kind.measured() {
            metric(out, &mut n, "_dd.measured", 1.0);
        }
        if span.local_root {
            metric(out, &mut n, "process_id", f64::from(process.process_id));
            let decision = sampling.and_then(|s| s.decision);
            if let Some(rate) = decision.and_then(|d| d.rule_rate()) {
                metric(out, &mut n, "_dd.rule_psr", rate);
            }
            if let Some(rate) = decision.and_then(|d| d.agent_rate()) {
                metric(out, &mut n, "_dd.agent_psr", rate);
            }
            if let Some(rate) = decision.and_then(|d| d.limit_rate) {
                metric(out, &mut n, "_dd.limit_psr", rate);
            }
        }
        end_map(out, metrics, n);
        if !links.is_empty() {
            str(out, "span_links");
            span_links(out, links);
        }
    }
}

/// v0.4 `span_links`, as dd-trace-py writes them: the trace ID in two
/// 64-bit halves, flags with bit 31 set (a decision is present).
fn span_links(out: &mut Vec<u8>, links: &[crate::propagation::SpanLink]) {
    array_len(out, links.len());
    for link in links {
        let high = (link.trace_id >> 64) as u64;
        let tracestate = link.tracestate.as_deref().filter(|t| !t.is_empty());
        let fields = 4 + u32::from(high != 0) + u32::from(tracestate.is_some());
        map_len(out, fields);
        str(out, "trace_id");
        uint(out, link.trace_id as u64);
        if high != 0 {
            str(out, "trace_id_high");
            uint(out, high);
        }
        str(out, "span_id");
        uint(out, link.span_id);
        str(out, "attributes");
        map_len(out, 2);
        str(out, "reason");
        str(out, link.reason);
        str(out, "context_headers");
        str(out, link.context_headers);
        if let Some(tracestate) = tracestate {
            str(out, "tracestate");
            str(out, tracestate);
        }
        str(out, "flags");
        uint(out, u64::from(link.flags) | 1 << 31);
    }
}

#[inline(always)]
/// One `meta` entry; `n` counts them.
fn tag(out: &mut Vec<u8>, n: &mut u16, key: &str, value: &str) {
    str(out, key);
    str(out, value);
    *n += 1;
}

#[inline(always)]
/// One `metrics` entry; `n` counts them.
fn metric(out: &mut Vec<u8>, n: &mut u16, key: &str, value: f64) {
    str(out, key);
    float(out, value);
    *n += 1;
}

fn hex16(buf: &mut [u8; 16], value: u64) -> &str {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    for (i, b) in buf.iter_mut().enumerate() {
        *b = HEX[((value >> (60 - 4 * i)) & 0xf) as usize];
    }
    // Only ASCII hex digits were written.
    std::str::from_utf8(buf).unwrap_or_default()
}

// rmp's encoders return the writer's `io::Result`; writing to a `Vec`
// cannot fail (it grows, or the process aborts on allocation failure), so
// the results below carry nothing and are not looked at.

/// Starts an array of `len` items, always with a 32-bit header: the
/// payload's arrays (the batch, each trace) have always been written so,
/// and rmp's shortest form would change the bytes the agent has seen.
pub(crate) fn array_len(out: &mut Vec<u8>, len: usize) {
    let at = out.len();
    // Any count above `u16::MAX` makes rmp write the 32-bit form; the real
    // count is written over it.
    let _ = mp::write_array_len(out, u32::MAX);
    if let Some(slot) = out.get_mut(at + 1..at + 5) {
        slot.copy_from_slice(&u32::try_from(len).unwrap_or(u32::MAX).to_be_bytes());
    }
}

/// Starts a map of `entries` known now (rmp's shortest header).
#[inline(always)]
fn map_len(out: &mut Vec<u8>, entries: u32) {
    let _ = mp::write_map_len(out, entries);
}

/// Starts a map whose number of entries is written by [`end_map`]; returns
/// where its header is.
fn begin_map(out: &mut Vec<u8>) -> usize {
    let at = out.len();
    // Any count from 16 to `u16::MAX` makes rmp write the 16-bit form; the
    // real count is written over it.
    let _ = mp::write_map_len(out, u32::from(u16::MAX));
    at
}

fn end_map(out: &mut [u8], at: usize, entries: u16) {
    if let Some(slot) = out.get_mut(at + 1..at + 3) {
        slot.copy_from_slice(&entries.to_be_bytes());
    }
}

#[inline(always)]
fn str(out: &mut Vec<u8>, s: &str) {
    str_len(out, s.len());
    out.extend_from_slice(s.as_bytes());
}

/// A string header. Most strings of a span (keys, names, short tags) are
/// under 32 bytes: their one-byte `FixStr` marker is written inline, the
/// rest through rmp's `write_str_len` (an out-of-line call per string
/// measured ~250 instructions per span).
#[inline(always)]
fn str_len(out: &mut Vec<u8>, len: usize) {
    if len < 32 {
        out.push(rmp::Marker::FixStr(len as u8).to_u8());
    } else {
        let _ = mp::write_str_len(out, u32::try_from(len).unwrap_or(u32::MAX));
    }
}

/// One string written from three parts, without joining them first.
fn str_parts(out: &mut Vec<u8>, a: &str, b: &str, c: &str) {
    str_len(out, a.len() + b.len() + c.len());
    out.extend_from_slice(a.as_bytes());
    out.extend_from_slice(b.as_bytes());
    out.extend_from_slice(c.as_bytes());
}

// Integers and floats always in their 64-bit forms, as this exporter has
// always written them (`write_uint`/`write_sint` would pick the shortest).

#[inline(always)]
fn uint(out: &mut Vec<u8>, v: u64) {
    let _ = mp::write_u64(out, v);
}

#[inline(always)]
fn int(out: &mut Vec<u8>, v: i64) {
    let _ = mp::write_i64(out, v);
}

#[inline(always)]
fn float(out: &mut Vec<u8>, v: f64) {
    let _ = mp::write_f64(out, v);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_use_the_shortest_header() {
        let mut out = Vec::new();
        str(&mut out, "abc");
        assert_eq!(out, b"\xa3abc");
        out.clear();
        str(&mut out, &"x".repeat(40));
        assert_eq!(&out[..2], &[0xd9, 40]);
        out.clear();
        str(&mut out, &"x".repeat(300));
        assert_eq!(&out[..3], &[0xda, 1, 44]);
        out.clear();
        str(&mut out, &"x".repeat(70_000));
        assert_eq!(&out[..5], &[0xdb, 0, 1, 0x11, 0x70]);
        assert_eq!(out.len(), 70_005);
    }

    #[test]
    fn map_headers_are_patched_in_place() {
        let mut out = Vec::new();
        array_len(&mut out, 3);
        assert_eq!(out, [0xdd, 0, 0, 0, 3]);
        let at = begin_map(&mut out);
        end_map(&mut out, at, 258);
        assert_eq!(&out[5..], &[0xde, 1, 2]);
        assert_eq!(
            hex16(&mut [0; 16], 0x6b09_27b5_0000_0000),
            "6b0927b500000000"
        );
    }

    #[test]
    fn rmp_writes_the_forms_the_payload_has_always_had() {
        let mut out = Vec::new();
        map_len(&mut out, 12);
        uint(&mut out, 5);
        int(&mut out, -1);
        float(&mut out, 1.0);
        str_parts(&mut out, "GET", " ", "/a");
        assert_eq!(
            out,
            [
                &[0x8c][..],
                &[0xcf, 0, 0, 0, 0, 0, 0, 0, 5],
                &[0xd3, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff],
                &[0xcb, 0x3f, 0xf0, 0, 0, 0, 0, 0, 0],
                b"\xa6GET /a",
            ]
            .concat()
        );
        for (len, header) in [
            (0, &[0xa0][..]),
            (31, &[0xbf]),
            (32, &[0xd9, 32]),
            (255, &[0xd9, 255]),
            (256, &[0xda, 1, 0]),
            (65_535, &[0xda, 255, 255]),
            (65_536, &[0xdb, 0, 1, 0, 0]),
        ] {
            out.clear();
            str(&mut out, &"x".repeat(len));
            assert_eq!(&out[..header.len()], header, "{len}");
            assert_eq!(out.len(), header.len() + len);
        }
        for (len, header) in [(0, [0xdd, 0, 0, 0, 0]), (70_000, [0xdd, 0, 1, 0x11, 0x70])] {
            out.clear();
            array_len(&mut out, len);
            assert_eq!(out, header);
        }
        out.clear();
        let at = begin_map(&mut out);
        end_map(&mut out, at, 3);
        assert_eq!(out, [0xde, 0, 3]);
    }
}
