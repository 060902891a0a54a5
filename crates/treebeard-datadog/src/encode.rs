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

use crate::span::{Kind, SpanData};

/// What every span of this process carries, with its constant tags
/// encoded once.
#[derive(Debug, Clone)]
pub(crate) struct Process {
    service: String,
    /// The `process_id` metric of local roots, encoded.
    process_id: Vec<u8>,
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
            process_id: process_id_metric(std::process::id()),
            service,
        }
    }
}

#[cfg(test)]
impl Process {
    /// The same with a fixed process ID (tests that pin bytes).
    pub(crate) fn with_process_id(mut self, process_id: u32) -> Self {
        self.process_id = process_id_metric(process_id);
        self
    }
}

fn process_id_metric(id: u32) -> Vec<u8> {
    let mut out = Vec::new();
    metric(&mut out, &mut 0, "process_id", f64::from(id));
    out
}

/// `key`'s MessagePack string, built at compile time: one copy per
/// constant key instead of a header and a copy. `N` is `key.len() + 1`.
const fn key<const N: usize>(key: &str) -> [u8; N] {
    let bytes = key.as_bytes();
    assert!(bytes.len() < 32 && bytes.len() + 1 == N);
    let mut out = [0u8; N];
    out[0] = 0xa0 | bytes.len() as u8;
    let mut i = 0;
    while i < bytes.len() {
        out[i + 1] = bytes[i];
        i += 1;
    }
    out
}

/// `out` with `part` copied in at `at` (for the templates below).
const fn put<const N: usize>(mut out: [u8; N], at: usize, part: &[u8]) -> [u8; N] {
    let mut i = 0;
    while i < part.len() {
        out[at + i] = part[i];
        i += 1;
    }
    out
}

/// The six numbers of every span, `trace_id` to `error`, as one template:
/// keys and markers in place, each value's 8 bytes written at its offset.
const NUMBERS: [u8; 102] = {
    let t = [0u8; 102];
    let t = put(t, 0, &key::<9>("trace_id"));
    let t = put(t, 9, &[0xcf]);
    let t = put(t, 18, &key::<8>("span_id"));
    let t = put(t, 26, &[0xcf]);
    let t = put(t, 35, &key::<10>("parent_id"));
    let t = put(t, 45, &[0xcf]);
    let t = put(t, 54, &key::<6>("start"));
    let t = put(t, 60, &[0xd3]);
    let t = put(t, 69, &key::<9>("duration"));
    let t = put(t, 78, &[0xd3]);
    let t = put(t, 87, &key::<6>("error"));
    put(t, 93, &[0xd3])
};
/// Where each value of [`NUMBERS`] goes.
const NUMBER_AT: [usize; 6] = [10, 27, 46, 61, 79, 94];

/// `a` then `b`, in an array of exactly their length (`N`).
const fn join<const N: usize>(a: &[u8], b: &[u8]) -> [u8; N] {
    assert!(a.len() + b.len() == N);
    put(put([0; N], 0, a), a.len(), b)
}

/// `span.kind` and its value, by [`Kind`].
fn kind_tag(kind: Kind) -> &'static [u8] {
    const KEY: [u8; 10] = key("span.kind");
    const SERVER: [u8; 17] = join(&KEY, &key::<7>("server"));
    const CLIENT: [u8; 17] = join(&KEY, &key::<7>("client"));
    const PRODUCER: [u8; 19] = join(&KEY, &key::<9>("producer"));
    const CONSUMER: [u8; 19] = join(&KEY, &key::<9>("consumer"));
    const INTERNAL: [u8; 19] = join(&KEY, &key::<9>("internal"));
    match kind {
        Kind::Server => &SERVER,
        Kind::Client => &CLIENT,
        Kind::Producer => &PRODUCER,
        Kind::Consumer => &CONSUMER,
        Kind::Internal => &INTERNAL,
    }
}

/// 1.0 as a MessagePack float64, the value of `_top_level` and
/// `_dd.measured` (each encoded whole below).
const ONE: [u8; 9] = [0xcb, 0x3f, 0xf0, 0, 0, 0, 0, 0, 0];
const TOP_LEVEL: [u8; 20] = join(&key::<11>("_top_level"), &ONE);
const MEASURED: [u8; 22] = join(&key::<13>("_dd.measured"), &ONE);

/// `_dd.p.tid` and a 16-digit value's header; the digits go at 11.
const TID: [u8; 27] = put([0; 27], 0, &join::<11>(&key::<10>("_dd.p.tid"), &[0xb0]));

/// `_dd.p.ksr` of the usual rate, 1.
const KSR_1: [u8; 12] = join(&key::<10>("_dd.p.ksr"), &key::<2>("1"));

/// `_dd.p.dm` with the mechanisms this process decides by, encoded whole.
fn mechanism_tag(dm: &str) -> Option<&'static [u8]> {
    const KEY: [u8; 9] = key("_dd.p.dm");
    const DEFAULT: [u8; 12] = join(&KEY, &key::<3>("-0"));
    const AGENT: [u8; 12] = join(&KEY, &key::<3>("-1"));
    const RULE: [u8; 12] = join(&KEY, &key::<3>("-3"));
    match dm {
        "-0" => Some(&DEFAULT),
        "-1" => Some(&AGENT),
        "-3" => Some(&RULE),
        _ => None,
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
    for span in spans {
        let service = span.service_bytes();
        // service, name, resource, type, trace_id, span_id, parent_id,
        // start, duration, error, meta, metrics: always these twelve; and
        // span_links on a local root whose headers held other traces.
        let links = match upstream {
            Some(u) if span.local_root && !u.links.is_empty() => u.links.as_slice(),
            _ => &[],
        };
        map_len(out, if links.is_empty() { 12 } else { 13 });
        out.extend_from_slice(&key::<8>("service"));
        str(out, service.unwrap_or(process.service.as_bytes()));
        out.extend_from_slice(&key::<5>("name"));
        str(out, span.operation_bytes());
        out.extend_from_slice(&key::<9>("resource"));
        match span.resource_bytes() {
            (whole, None) => str(out, whole),
            (method, Some(route)) => str_parts(out, method, b" ", route),
        }
        out.extend_from_slice(&key::<5>("type"));
        str(out, span.span_type_bytes());
        let mut numbers = NUMBERS;
        let values = [
            (trace.id as u64).to_be_bytes(),
            span.span_id.to_be_bytes(),
            span.parent_id.to_be_bytes(),
            span.start_ns.to_be_bytes(),
            span.duration_ns.to_be_bytes(),
            i64::from(span.fields.error).to_be_bytes(),
        ];
        for (at, value) in NUMBER_AT.into_iter().zip(values) {
            if let Some(slot) = numbers.get_mut(at..at + 8) {
                slot.copy_from_slice(&value);
            }
        }
        out.extend_from_slice(&numbers);

        out.extend_from_slice(&key::<5>("meta"));
        let meta = begin_map(out);
        let mut n = 0u16;
        for (key, value) in span.fields.tags() {
            tag(out, &mut n, key, value);
        }
        out.extend_from_slice(kind_tag(span.fields.kind));
        n += 1;
        let (constant, count) = if service.is_none() {
            &process.common
        } else {
            &process.other_service
        };
        out.extend_from_slice(constant);
        n += count;
        if let Some(dm) = sampling.and_then(|s| s.mechanism) {
            match mechanism_tag(dm) {
                Some(encoded) => {
                    out.extend_from_slice(encoded);
                    n += 1;
                }
                None => tag(out, &mut n, "_dd.p.dm", dm),
            }
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
                // Key, header and digits in one copy.
                let mut tid = TID;
                if let Some(digits) = tid.get_mut(11..) {
                    digits.copy_from_slice(&hex16(high));
                }
                out.extend_from_slice(&tid);
                n += 1;
            }
            match sampling.and_then(|s| s.decision) {
                // The usual rate, without formatting it per trace.
                Some(d) if d.rate >= 1.0 && d.has_knuth_rate() => {
                    out.extend_from_slice(&KSR_1);
                    n += 1;
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
                tag(out, &mut n, "_dd.parent_id", hex16(parent));
            }
            let error = upstream.and_then(|u| u.propagation_error.as_deref());
            if let Some(error) = error.or_else(|| trace.inject_error.get().copied()) {
                tag(out, &mut n, "_dd.propagation_error", error);
            }
        }
        end_map(out, meta, n);

        out.extend_from_slice(&key::<8>("metrics"));
        let metrics = begin_map(out);
        let mut n = 0u16;
        for (key, value) in &span.fields.metrics {
            metric(out, &mut n, key, *value);
        }
        if let Some(sampling) = sampling {
            out.extend_from_slice(&key::<22>("_sampling_priority_v1"));
            float(out, f64::from(sampling.priority));
            n += 1;
        }
        if span.top_level {
            out.extend_from_slice(&TOP_LEVEL);
            n += 1;
        }
        if span.fields.kind.measured() {
            out.extend_from_slice(&MEASURED);
            n += 1;
        }
        if span.local_root {
            out.extend_from_slice(&process.process_id);
            n += 1;
            let decision = sampling.and_then(|s| s.decision);
            if let Some(rate) = decision.and_then(|d| d.rule_rate()) {
                out.extend_from_slice(&key::<13>("_dd.rule_psr"));
                float(out, rate);
                n += 1;
            }
            if let Some(rate) = decision.and_then(|d| d.agent_rate()) {
                out.extend_from_slice(&key::<14>("_dd.agent_psr"));
                float(out, rate);
                n += 1;
            }
            if let Some(rate) = decision.and_then(|d| d.limit_rate) {
                out.extend_from_slice(&key::<14>("_dd.limit_psr"));
                float(out, rate);
                n += 1;
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
        let fields = 4 + u8::from(high != 0) + u8::from(tracestate.is_some());
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
fn tag(out: &mut Vec<u8>, n: &mut u16, key: &str, value: impl AsRef<[u8]>) {
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

/// `value` as 16 lowercase hex digits.
fn hex16(value: u64) -> [u8; 16] {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut out = [0u8; 16];
    for (pair, byte) in out.chunks_exact_mut(2).zip(value.to_be_bytes()) {
        pair[0] = HEX[usize::from(byte >> 4)];
        pair[1] = HEX[usize::from(byte & 0xf)];
    }
    out
}

// The fixed-size forms below are written by hand, one copy each (rmp
// writes a marker and a value as two); the tests hold them to what rmp
// writes. rmp's encoders return the writer's `io::Result`; writing to a
// `Vec` cannot fail (it grows, or the process aborts on allocation
// failure), so the results of the calls left carry nothing.

/// Starts an array of `len` items, always with a 32-bit header: the
/// payload's arrays (the batch, each trace) have always been written so,
/// and rmp's shortest form would change the bytes the agent has seen.
pub(crate) fn array_len(out: &mut Vec<u8>, len: usize) {
    let [a, b, c, d] = u32::try_from(len).unwrap_or(u32::MAX).to_be_bytes();
    out.extend_from_slice(&[0xdd, a, b, c, d]);
}

/// Starts a map of `entries` known now, fewer than 16 (one-byte header).
#[inline(always)]
fn map_len(out: &mut Vec<u8>, entries: u8) {
    out.push(0x80 | (entries & 0x0f));
}

/// Starts a map whose number of entries is written by [`end_map`], always
/// with a 16-bit header; returns where its header is.
fn begin_map(out: &mut Vec<u8>) -> usize {
    let at = out.len();
    out.extend_from_slice(&[0xde, 0, 0]);
    at
}

fn end_map(out: &mut [u8], at: usize, entries: u16) {
    if let Some(slot) = out.get_mut(at + 1..at + 3) {
        slot.copy_from_slice(&entries.to_be_bytes());
    }
}

/// A string (of a field's bytes, always UTF-8, or a `str`).
#[inline(always)]
fn str(out: &mut Vec<u8>, s: impl AsRef<[u8]>) {
    let s = s.as_ref();
    str_len(out, s.len());
    out.extend_from_slice(s);
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
fn str_parts(out: &mut Vec<u8>, a: &[u8], b: &[u8], c: &[u8]) {
    str_len(out, a.len() + b.len() + c.len());
    out.extend_from_slice(a);
    out.extend_from_slice(b);
    out.extend_from_slice(c);
}

// Integers and floats always in their 64-bit forms, as this exporter has
// always written them (`write_uint`/`write_sint` would pick the shortest).

#[inline(always)]
fn uint(out: &mut Vec<u8>, v: u64) {
    let [a, b, c, d, e, f, g, h] = v.to_be_bytes();
    out.extend_from_slice(&[0xcf, a, b, c, d, e, f, g, h]);
}

#[inline(always)]
fn float(out: &mut Vec<u8>, v: f64) {
    let [a, b, c, d, e, f, g, h] = v.to_be_bytes();
    out.extend_from_slice(&[0xcb, a, b, c, d, e, f, g, h]);
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
        str(&mut out, "x".repeat(40));
        assert_eq!(&out[..2], &[0xd9, 40]);
        out.clear();
        str(&mut out, "x".repeat(300));
        assert_eq!(&out[..3], &[0xda, 1, 44]);
        out.clear();
        str(&mut out, "x".repeat(70_000));
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
        assert_eq!(&hex16(0x6b09_27b5_0000_0000), b"6b0927b500000000");
        assert_eq!(&hex16(0x0123_4567_89ab_cdef), b"0123456789abcdef");
        assert_eq!(&hex16(u64::MAX), b"ffffffffffffffff");
    }

    #[test]
    fn the_hand_written_forms_are_rmps() {
        let (mut ours, mut rmps) = (Vec::new(), Vec::new());
        for v in [0, 5, u64::MAX, 1 << 63] {
            uint(&mut ours, v);
            mp::write_u64(&mut rmps, v).unwrap();
        }
        for v in [0.0, 1.0, -2.5, f64::MAX, 0.123_456_789] {
            float(&mut ours, v);
            mp::write_f64(&mut rmps, v).unwrap();
        }
        for entries in [0, 12, 13, 15] {
            map_len(&mut ours, entries);
            mp::write_map_len(&mut rmps, u32::from(entries)).unwrap();
        }
        let at = begin_map(&mut ours);
        end_map(&mut ours, at, 300);
        mp::write_map_len(&mut rmps, 300).unwrap();
        for len in [0, 3, 70_000] {
            array_len(&mut ours, len);
            rmps.extend_from_slice(&[0xdd]);
            rmps.extend_from_slice(&(len as u32).to_be_bytes());
        }
        for k in ["service", "name", "resource", "type", "meta", "metrics"] {
            mp::write_str(&mut rmps, k).unwrap();
        }
        ours.extend_from_slice(&key::<8>("service"));
        ours.extend_from_slice(&key::<5>("name"));
        ours.extend_from_slice(&key::<9>("resource"));
        ours.extend_from_slice(&key::<5>("type"));
        ours.extend_from_slice(&key::<5>("meta"));
        ours.extend_from_slice(&key::<8>("metrics"));
        assert_eq!(ours, rmps);
    }

    #[test]
    fn the_number_template_is_what_rmp_writes() {
        let values: [u64; 6] = [u64::MAX, 2, 3, 1 << 62, 5, 1];
        let mut ours = NUMBERS;
        for (at, v) in NUMBER_AT.into_iter().zip(values) {
            ours[at..at + 8].copy_from_slice(&v.to_be_bytes());
        }
        let mut rmps = Vec::new();
        for (i, (name, v)) in [
            "trace_id",
            "span_id",
            "parent_id",
            "start",
            "duration",
            "error",
        ]
        .into_iter()
        .zip(values)
        .enumerate()
        {
            mp::write_str(&mut rmps, name).unwrap();
            if i < 3 {
                mp::write_u64(&mut rmps, v).unwrap();
            } else {
                mp::write_i64(&mut rmps, v as i64).unwrap();
            }
        }
        assert_eq!(&ours[..], &rmps[..]);
        let mut top = Vec::new();
        mp::write_str(&mut top, "_top_level").unwrap();
        mp::write_f64(&mut top, 1.0).unwrap();
        assert_eq!(&TOP_LEVEL[..], &top[..]);
        for (encoded, value) in [
            (mechanism_tag("-0"), "-0"),
            (mechanism_tag("-1"), "-1"),
            (mechanism_tag("-3"), "-3"),
        ] {
            let mut dm = Vec::new();
            mp::write_str(&mut dm, "_dd.p.dm").unwrap();
            mp::write_str(&mut dm, value).unwrap();
            assert_eq!(encoded, Some(&dm[..]));
        }
        assert_eq!(mechanism_tag("-4"), None);
        let mut ksr = Vec::new();
        mp::write_str(&mut ksr, "_dd.p.ksr").unwrap();
        mp::write_str(&mut ksr, "1").unwrap();
        assert_eq!(&KSR_1[..], &ksr[..]);
        let mut tid = Vec::new();
        mp::write_str(&mut tid, "_dd.p.tid").unwrap();
        mp::write_str(&mut tid, "0123456789abcdef").unwrap();
        assert_eq!(&TID[..11], &tid[..11]);
        assert_eq!(TID.len(), tid.len());
        let mut kind = Vec::new();
        mp::write_str(&mut kind, "span.kind").unwrap();
        mp::write_str(&mut kind, "producer").unwrap();
        assert_eq!(kind_tag(Kind::Producer), &kind[..]);
    }

    #[test]
    fn strings_written_in_parts_are_one_string() {
        let mut out = Vec::new();
        str_parts(&mut out, b"GET", b" ", b"/a");
        assert_eq!(out, b"\xa6GET /a");
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
            str(&mut out, "x".repeat(len));
            assert_eq!(&out[..header.len()], header, "{len}");
            assert_eq!(out.len(), header.len() + len);
        }
    }
}
