//! Propagation against DataDog's own behaviour, style by style.
#![allow(clippy::unwrap_used)]

use super::b3::*;
use super::context::*;
use super::datadog::*;
use super::tracecontext::*;
use http::HeaderValue;

use super::*;
use PropagationStyle::{B3 as B3S, B3Multi, Datadog, TraceContext};

const ALL: [PropagationStyle; 4] = [Datadog, TraceContext, B3S, B3Multi];
const TRACE: u128 = 0x6b09_27b5_0000_0000_e47d_c41c_6512_ccc3;
const SPAN: u64 = 0x1280_3a1c_e0d4_d5b2;
// The example context as dd-trace-rs 0.6 writes it.
const EX_TAGS: &str = "_dd.p.tid=6b0927b500000000,_dd.p.dm=-3";
const EX_TP: &str = "00-6b0927b500000000e47dc41c6512ccc3-12803a1ce0d4d5b2-01";
const EX_TS: &str = "dd=s:2;o:rum;p:12803a1ce0d4d5b2;t.dm:-3;t.tid:6b0927b500000000,foo=bar";
const EX_B3: &str = "6b0927b500000000e47dc41c6512ccc3-12803a1ce0d4d5b2-d";
/// A valid traceparent: trace 10, span 11, sampled.
const TP: &str = "00-0000000000000000000000000000000a-000000000000000b-01";

fn example() -> SpanContext {
    SpanContext {
        trace_id: TRACE,
        span_id: SPAN,
        priority: Some(2),
        origin: Some("rum".into()),
        tags: vec![("_dd.p.dm".into(), "-3".into())],
        tracestate_others: Some("foo=bar".into()),
    }
}

fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
    let mut h = HeaderMap::new();
    for (name, value) in pairs {
        h.append(*name, HeaderValue::from_bytes(value.as_bytes()).unwrap());
    }
    h
}

fn get<'a>(h: &'a HeaderMap, name: &str) -> Option<&'a str> {
    h.get(name).map(|v| v.to_str().unwrap())
}

fn injected(cx: &SpanContext, style: PropagationStyle) -> HeaderMap {
    let mut h = HeaderMap::new();
    inject(cx, &[style], &mut h);
    h
}

fn one(style: PropagationStyle, pairs: &[(&'static str, &str)]) -> Option<SpanContext> {
    extract(&headers(pairs), &[style])
}

/// What of `cx` survives a trip through `style`.
fn carried(cx: &SpanContext, style: PropagationStyle) -> SpanContext {
    let cx = cx.clone();
    match style {
        Datadog => SpanContext {
            tracestate_others: None,
            ..cx
        },
        TraceContext => SpanContext {
            priority: Some(cx.priority.unwrap_or(0)),
            ..cx
        },
        _ => b3_context(cx.trace_id, cx.span_id, cx.priority.map(|p| p.max(0))),
    }
}

#[test]
fn injects_the_captured_headers() {
    let h = injected(&example(), Datadog);
    let dd = [DD_TRACE_ID, DD_PARENT_ID, DD_PRIORITY, DD_ORIGIN, DD_TAGS].map(|n| get(&h, n));
    let want = ["16464531438970260675", "1333129385407206834", "2", "rum"];
    assert_eq!((&dd[..4], dd[4]), (&want.map(Some)[..], Some(EX_TAGS)));
    let h = injected(&example(), TraceContext);
    assert_eq!(
        [TRACEPARENT, TRACESTATE].map(|n| get(&h, n)),
        [Some(EX_TP), Some(EX_TS)]
    );
    assert_eq!(get(&injected(&example(), B3S), B3), Some(EX_B3));
    let h = injected(&example(), B3Multi);
    let multi = [B3_TRACE_ID, B3_SPAN_ID, B3_FLAGS, B3_SAMPLED].map(|n| get(&h, n));
    let ids = ["6b0927b500000000e47dc41c6512ccc3", "12803a1ce0d4d5b2"].map(Some);
    assert_eq!(multi, [ids[0], ids[1], Some("1"), None]);
}

#[test]
fn extracts_the_captured_headers() {
    let ids = [
        (DD_TRACE_ID, "16464531438970260675"),
        (DD_PARENT_ID, "1333129385407206834"),
    ];
    let tags = format!("{EX_TAGS},other=x");
    let more = [(DD_PRIORITY, "2"), (DD_ORIGIN, "rum"), (DD_TAGS, &tags)];
    let dd = one(Datadog, &[ids.as_slice(), &more].concat());
    assert_eq!(dd, Some(carried(&example(), Datadog)));
    let tc = one(TraceContext, &[(TRACEPARENT, EX_TP), (TRACESTATE, EX_TS)]);
    assert_eq!(tc, Some(example()));
    let b3 = Some(b3_context(TRACE, SPAN, Some(2)));
    assert_eq!(one(B3S, &[(B3, EX_B3)]), b3);
    let upper = (B3_TRACE_ID, "6B0927B500000000E47DC41C6512CCC3");
    let multi = [upper, (B3_SPAN_ID, "12803a1ce0d4d5b2"), (B3_FLAGS, "1")];
    assert_eq!(one(B3Multi, &multi), b3);
}

#[test]
fn round_trips_every_style() {
    for trace_id in [TRACE, 0x1234, u128::from(u64::MAX), u128::MAX] {
        for priority in [None, Some(-1), Some(0), Some(1), Some(2)] {
            for style in ALL {
                let cx = SpanContext {
                    trace_id,
                    priority,
                    ..example()
                };
                let back = extract(&injected(&cx, style), &ALL);
                assert_eq!(back, Some(carried(&cx, style)), "{style:?} {cx:?}");
            }
        }
    }
}

#[test]
fn writes_64_bit_trace_ids() {
    let cx = SpanContext {
        trace_id: 5,
        span_id: 6,
        ..SpanContext::default()
    };
    let h = injected(&cx, Datadog);
    let dd = [DD_TRACE_ID, DD_PRIORITY, DD_ORIGIN, DD_TAGS].map(|n| get(&h, n));
    assert_eq!(dd, [Some("5"), None, None, None]);
    let b3 = "00000000000000000000000000000005-0000000000000006";
    assert_eq!(get(&injected(&cx, B3S), B3), Some(b3));
    let h = injected(&cx, TraceContext);
    let tp = "00-00000000000000000000000000000005-0000000000000006-00";
    let state = "dd=p:0000000000000006";
    assert_eq!(
        [TRACEPARENT, TRACESTATE].map(|n| get(&h, n)),
        [Some(tp), Some(state)]
    );
}

#[test]
fn first_valid_style_wins() {
    let both = |dd_id| headers(&[(DD_TRACE_ID, dd_id), (DD_PARENT_ID, "2"), (TRACEPARENT, TP)]);
    let trace = |h: &HeaderMap, styles: &[_]| extract(h, styles).map(|cx| cx.trace_id);
    assert_eq!(trace(&both("7"), &[Datadog, TraceContext]), Some(7));
    assert_eq!(trace(&both("7"), &[TraceContext, Datadog]), Some(10));
    assert_eq!(trace(&both("1,2"), &[Datadog, TraceContext]), Some(10));
    assert_eq!(trace(&both("1,2"), &[Datadog, B3S, B3Multi]), None);
    assert_eq!(trace(&both("7"), &[]), None);
}

#[test]
fn tracecontext_priority_follows_the_flag() {
    for (flags, state, want) in [
        ("01", "", 1),
        ("00", "", 0),
        ("03", "", 1),
        ("01", "dd=s:2", 2),
        ("00", "dd=s:-1", -1),
        ("01", "dd=s:-1", 1),
        ("00", "dd=s:2", 0),
        ("01", "dd=s:+2", 1),
        ("01", "dd=s:2,bad", 1),
    ] {
        let tp = TP.replace("b-01", &format!("b-{flags}"));
        let cx = one(TraceContext, &[(TRACEPARENT, &tp), (TRACESTATE, state)]);
        assert_eq!(cx.unwrap().priority, Some(want), "{flags} {state}");
    }
}

#[test]
fn reads_tracestate_members() {
    let first = (TRACESTATE, " a=1 ,dd=o:x~y;t.k:v~w;p:1;t.tid:ff;zz");
    let cx = one(
        TraceContext,
        &[(TRACEPARENT, TP), first, (TRACESTATE, "t@sys=2,,dd=o:z")],
    );
    let cx = cx.unwrap();
    assert_eq!(cx.origin.as_deref(), Some("x=y"));
    assert_eq!(cx.tags, [("_dd.p.k".to_owned(), "v=w".to_owned())]);
    assert_eq!(cx.tracestate_others.as_deref(), Some("a=1,t@sys=2"));
    let others = |state: &str| one(TraceContext, &[(TRACEPARENT, TP), (TRACESTATE, state)]);
    let others = |state| others(state).unwrap().tracestate_others;
    assert_eq!(others("foo=bar").as_deref(), Some("foo=bar"));
    let long = format!("k={}", "v".repeat(300));
    for bad in "Foo=bar foo =x foo=a=b a@b@c=1 dd=s:2,x="
        .split(' ')
        .chain([long.as_str()])
    {
        assert_eq!(others(bad), None, "{bad}");
    }
    let many: Vec<String> = (0..40).map(|i| format!("k{i}=v")).collect();
    assert_eq!(others(&many.join(",")).unwrap().split(',').count(), 32);
    let cx = SpanContext {
        tracestate_others: Some(many.join(",")),
        ..example()
    };
    let out = injected(&cx, TraceContext);
    assert_eq!(get(&out, TRACESTATE).unwrap().split(',').count(), 32);
}

#[test]
fn sanitizes_injected_values() {
    let tag = |k: &str, v: &str| (k.to_owned(), v.to_owned());
    let cx = SpanContext {
        origin: Some("a=b,c;d~é".into()),
        tags: vec![
            tag("_dd.p.k=;", "x=y,z;~\u{7f}é"),
            tag("_dd.p.bad", "a,b"),
            tag("not.propagated", "1"),
            tag("_dd.p.long", &"v".repeat(600)),
        ],
        tracestate_others: Some("dd=s:1,Bad=1,ok=1".into()),
        ..example()
    };
    let h = injected(&cx, TraceContext);
    let state = "dd=s:2;o:a~b_c_d__;p:12803a1ce0d4d5b2;t.k__:x~y_z____;t.bad:a_b;\
                 t.tid:6b0927b500000000,ok=1";
    assert_eq!(get(&h, TRACESTATE), Some(state));
    let h = injected(&cx, Datadog);
    let tid = "_dd.p.tid=6b0927b500000000";
    assert_eq!([DD_ORIGIN, DD_TAGS].map(|n| get(&h, n)), [None, Some(tid)]);
    let zero = SpanContext {
        span_id: 0,
        ..example()
    };
    assert!(injected(&zero, TraceContext).is_empty());
}

#[test]
fn inject_replaces_existing_headers() {
    let mut h = headers(&[(DD_ORIGIN, "x"), (DD_TAGS, "x"), (B3_SAMPLED, "0")]);
    h.append(B3, HeaderValue::from_static("x"));
    let cx = SpanContext {
        origin: None,
        tags: vec![],
        trace_id: 1,
        ..example()
    };
    inject(&cx, &ALL, &mut h);
    let stale = [DD_ORIGIN, DD_TAGS, B3_SAMPLED].map(|n| get(&h, n));
    assert_eq!(stale, [None, None, None]);
    assert_eq!(h.get_all(B3).iter().count(), 1);
    assert_eq!(extract(&h, &[B3Multi]).unwrap().priority, Some(2));
}

#[test]
fn rejects_hostile_datadog_headers() {
    let huge = "9".repeat(10_000);
    let ids = "|0|1,2|+5|-5| 5|5 |18446744073709551616|0x10|١٢|";
    let dd = |trace, parent| one(Datadog, &[(DD_TRACE_ID, trace), (DD_PARENT_ID, parent)]);
    for id in ids.split('|').chain([huge.as_str()]) {
        assert_eq!((dd(id, "2"), dd("1", id)), (None, None), "{id}");
    }
    assert_eq!(one(Datadog, &[(DD_TRACE_ID, "1")]), None);
    let base = [(DD_TRACE_ID, "1"), (DD_PARENT_ID, "2")];
    let with =
        |name: &'static str, value: &str| one(Datadog, &[base[0], base[1], (name, value)]).unwrap();
    let priorities = "+1 -1 127 128 1.0 "
        .split(' ')
        .map(|p| with(DD_PRIORITY, p).priority);
    let priorities: Vec<_> = priorities.collect();
    assert_eq!(priorities, [None, Some(-1), Some(127), None, None, None]);
    assert_eq!(with(DD_ORIGIN, "a b").origin, None);
    let tid = "_dd.p.tid=0000000000000001";
    let long = format!("{tid},_dd.p.x={}", "a".repeat(570));
    for tags in [
        format!("{tid},_dd.p.x"),
        format!("{tid},=1"),
        format!("{tid},"),
        long,
    ] {
        let cx = with(DD_TAGS, &tags);
        assert_eq!((cx.trace_id, cx.tags), (1, vec![]), "{tags}");
    }
    for tid in "1 00000000000000001 000000000000000g -000000000000001".split(' ') {
        let cx = with(DD_TAGS, &format!("_dd.p.tid={tid},_dd.p.dm=-4"));
        assert_eq!((cx.trace_id, cx.tags.len()), (1, 1), "{tid}");
    }
}

#[test]
fn rejects_hostile_traceparents() {
    let parsed = |tp: &str| one(TraceContext, &[(TRACEPARENT, tp)]).map(|cx| cx.trace_id);
    let later = TP.replacen("00", "cc", 1);
    // A later version may add fields; version 00 may not.
    for ok in [TP.to_owned(), format!("{later}-xyz"), later.clone()] {
        assert_eq!(parsed(&ok), Some(10), "{ok}");
    }
    let bad = [
        String::new(),
        TP.replacen("00", "0", 1),
        format!("{TP}-"),
        format!("{later}x"),
        TP.replacen("00", "ff", 1),
        TP.replace("000a", "0000"),
        TP.replace("000b", "0000"),
        TP.replace('a', "A"),
        TP.replace("-01", "-0g"),
        TP.replacen('-', "_", 1),
        TP.replace("-0", "-+"),
        "0".repeat(10_000),
    ];
    for bad in bad {
        assert_eq!(parsed(&bad), None, "{bad}");
    }
    assert_eq!(
        one(TraceContext, &[(TRACEPARENT, TP), (TRACEPARENT, TP)]),
        None
    );
}

#[test]
fn reads_b3_variants() {
    let (t, s) = ("000000000000000a", "000000000000000B");
    let b3 = |value: &str| one(B3S, &[(B3, value)]).map(|cx| (cx.trace_id, cx.priority));
    let tails = [
        ("", None),
        ("-0", Some(0)),
        ("-1-000000000000000c", Some(1)),
        ("-d", Some(2)),
    ];
    for (tail, want) in tails {
        assert_eq!(b3(&format!("{t}-{s}{tail}")), Some((10, want)), "{tail}");
        let long = b3(&format!("{t}{t}-{s}{tail}"));
        assert_eq!(long, Some((0xa_0000_0000_0000_000a, want)));
    }
    let odd = [
        format!("0{t}-{s}"),
        format!("{t}-{}", "0".repeat(16)),
        format!("{}-{s}", "0".repeat(16)),
    ];
    let tails = "-x -1-000000000000000c-1 -1-zz -D -"
        .split(' ')
        .map(|tail| format!("{t}-{s}{tail}"));
    for value in tails.chain(odd).chain(["0", "d", ""].map(String::from)) {
        assert_eq!(b3(&value), None, "{value}");
    }
    let multi = |extra: &[(&'static str, &str)]| {
        let mut pairs = vec![(B3_TRACE_ID, t), (B3_SPAN_ID, s)];
        pairs.extend_from_slice(extra);
        one(B3Multi, &pairs).map(|cx| cx.priority)
    };
    assert_eq!(multi(&[]), Some(None));
    assert_eq!(multi(&[(B3_SAMPLED, "1")]), Some(Some(1)));
    assert_eq!(multi(&[(B3_SAMPLED, "0"), (B3_FLAGS, "1")]), Some(Some(2)));
    assert_eq!(multi(&[(B3_SAMPLED, "d"), (B3_FLAGS, "0")]), Some(None));
    assert_eq!(one(B3Multi, &[(B3_TRACE_ID, t)]), None);
    assert_eq!(one(B3Multi, &[(B3_TRACE_ID, "a"), (B3_SPAN_ID, s)]), None);
}

#[test]
fn detects_trace_headers() {
    use crate::has_trace_headers;
    let unrelated = headers(&[(DD_PARENT_ID, "1"), (TRACESTATE, "a=b")]);
    assert!(!has_trace_headers(&unrelated) && !has_trace_headers(&HeaderMap::new()));
    for name in [DD_TRACE_ID, TRACEPARENT, B3, B3_TRACE_ID] {
        assert!(has_trace_headers(&headers(&[(name, "x")])));
    }
}

/// Random and mutated header values: no panic, never a zero ID.
#[test]
fn survives_random_bytes() {
    let mut seed = 0x9e37_79b9_7f4a_7c15_u64;
    let mut next = move || {
        // xorshift64: cheap and reproducible.
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let mut valid = HeaderMap::new();
    inject(&example(), &ALL, &mut valid);
    let names: Vec<_> = valid.keys().cloned().collect();
    let mut found = 0;
    for _ in 0..5_000 {
        let mut h = valid.clone();
        for name in &names {
            let mut bytes = h[name].as_bytes().to_vec();
            match next() % 4 {
                0 => bytes = (0..next() % 64).map(|_| next() as u8).collect(),
                1 => bytes.truncate((next() % 60) as usize),
                2 if !bytes.is_empty() => {
                    let at = (next() as usize) % bytes.len();
                    bytes[at] = next() as u8;
                }
                _ => {}
            }
            if let Ok(value) = HeaderValue::from_bytes(&bytes) {
                h.insert(name, value);
            }
        }
        for cx in ALL.iter().filter_map(|style| extract(&h, &[*style])) {
            assert!(cx.trace_id != 0 && cx.span_id != 0, "{h:?}");
            inject(&cx, &ALL, &mut HeaderMap::new());
            found += 1;
        }
    }
    assert!(found > 100, "too few valid contexts left: {found}");
}
