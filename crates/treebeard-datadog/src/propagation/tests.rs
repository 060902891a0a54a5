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
        ..SpanContext::default()
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
        TraceContext => {
            // RUM without a priority leaves the decision to the receiver.
            let rum_unset = cx.priority.is_none() && cx.origin.as_deref() == Some("rum");
            let priority = if rum_unset {
                None
            } else {
                Some(cx.priority.unwrap_or(0))
            };
            let mut tags = cx.tags.clone();
            // An unsampled flag that decides alone (no `s:`) drops the mechanism.
            if cx.priority.is_none() && !rum_unset {
                tags.retain(|(k, _)| k != DM_TAG);
            }
            SpanContext {
                priority,
                last_parent_id: Some(cx.span_id),
                tags,
                ..cx
            }
        }
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
    let with_p = SpanContext {
        last_parent_id: Some(SPAN),
        ..example()
    };
    assert_eq!(tc, Some(with_p));
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
        // dd-trace-py passes malformed members on and reads the dd member.
        ("01", "dd=s:2,bad", 2),
        ("01", "dd=s:2;zz", 1),
        ("01", "dd=s:0", 1),
        ("00", "dd=s:0", 0),
    ] {
        let tp = TP.replace("b-01", &format!("b-{flags}"));
        let cx = one(TraceContext, &[(TRACEPARENT, &tp), (TRACESTATE, state)]);
        assert_eq!(cx.unwrap().priority, Some(want), "{flags} {state}");
    }
}

#[test]
fn reads_tracestate_members() {
    // The last dd member is ours (as in dd-trace-py); members pass on verbatim.
    let first = (TRACESTATE, " a=1 ,dd=o:z,Bad");
    let last = (
        TRACESTATE,
        "t@sys=2,,dd=o:x~y;t.k:v~w;p:00000000000000ff;t.tid:ff",
    );
    let cx = one(TraceContext, &[(TRACEPARENT, TP), first, last]).unwrap();
    assert_eq!(cx.origin.as_deref(), Some("x=y"));
    // No `s:`: the sampled flag decides, and so is the decision maker.
    let tags = [("_dd.p.k", "v=w"), ("_dd.p.dm", "-0")].map(|(k, v)| (k.to_owned(), v.to_owned()));
    assert_eq!(cx.tags, tags);
    assert_eq!(cx.last_parent_id, Some(255));
    assert_eq!(cx.tracestate_others.as_deref(), Some("a=1,Bad,t@sys=2"));
    let state = |state: &str| one(TraceContext, &[(TRACEPARENT, TP), (TRACESTATE, state)]);
    let others = |s| state(s).unwrap().tracestate_others;
    assert_eq!(others("foo=bar").as_deref(), Some("foo=bar"));
    // A malformed dd member is ignored, the others still pass on.
    let bad_dd = state("x=1,dd=s:2;zz").unwrap();
    assert_eq!(
        (bad_dd.priority, bad_dd.tracestate_others.as_deref()),
        (Some(1), Some("x=1"))
    );
    // ot= comes right after dd=.
    assert_eq!(others("a=1,ot=th:0,dd=s:1").as_deref(), Some("ot=th:0,a=1"));
    let many: Vec<String> = (0..40).map(|i| format!("k{i}=v")).collect();
    assert_eq!(others(&many.join(",")).unwrap().split(',').count(), 32);
    let cx = SpanContext {
        tracestate_others: Some(many.join(",")),
        ..example()
    };
    let out = injected(&cx, TraceContext);
    let members: Vec<&str> = get(&out, TRACESTATE).unwrap().split(',').collect();
    assert_eq!((members.len(), members[1]), (32, "k0=v"));
    assert!(members[0].starts_with("dd="));
}

#[test]
fn other_vendors_tracestate_passes_on_within_limits() {
    // Members over 128 characters go first when there are more than 32.
    let long = format!("big={}", "v".repeat(200));
    let mut list: Vec<String> = (0..32).map(|i| format!("k{i}=v")).collect();
    list.insert(3, long.clone());
    let cx = one(
        TraceContext,
        &[(TRACEPARENT, TP), (TRACESTATE, &list.join(","))],
    )
    .unwrap();
    let kept = cx.tracestate_others.unwrap();
    assert!(
        !kept.contains("big=") && kept.split(',').count() == 32,
        "{kept}"
    );
    // 512 bytes at most: whole members, the dd member always kept.
    let list: Vec<String> = (0..20)
        .map(|i| format!("k{i:02}={}", "v".repeat(40)))
        .collect();
    let cx = SpanContext {
        tracestate_others: Some(list.join(",")),
        ..example()
    };
    let state = get(&injected(&cx, TraceContext), TRACESTATE)
        .unwrap()
        .to_owned();
    assert!(state.len() <= 512 && state.starts_with("dd=s:2"), "{state}");
    // The 62-byte dd member and 10 members of 45 bytes fill 512 exactly.
    assert_eq!(
        (state.len(), state.split(',').count()),
        (512, 11),
        "{state}"
    );
    // With the datadog style first, the W3C context of the same trace still
    // hands on the other vendors' members.
    let h = headers(&[
        (DD_TRACE_ID, "10"),
        (DD_PARENT_ID, "11"),
        (TRACEPARENT, TP),
        (TRACESTATE, "dd=s:1,rojo=00f067aa0ba902b7"),
    ]);
    let cx = extract(&h, &[Datadog, TraceContext]).unwrap();
    assert_eq!(
        cx.tracestate_others.as_deref(),
        Some("rojo=00f067aa0ba902b7")
    );
    let out = injected(&SpanContext { span_id: 5, ..cx }, TraceContext);
    assert_eq!(
        get(&out, TRACESTATE),
        Some("dd=p:0000000000000005,rojo=00f067aa0ba902b7")
    );
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
        tracestate_others: Some("dd=s:1,ok=1".into()),
        ..example()
    };
    let h = injected(&cx, TraceContext);
    let state = "dd=s:2;o:a~b_c_d__;p:12803a1ce0d4d5b2;t.k__:x~y_z____;t.bad:a_b;\
                 t.tid:6b0927b500000000,ok=1";
    assert_eq!(get(&h, TRACESTATE), Some(state));
    // Tags over 512 bytes: no x-datadog-tags at all, and an error to record.
    let mut h = HeaderMap::new();
    assert_eq!(inject(&cx, &[Datadog], &mut h), Some("inject_max_size"));
    assert_eq!([DD_ORIGIN, DD_TAGS].map(|n| get(&h, n)), [None, None]);
    let short = SpanContext {
        tags: cx.tags[..3].to_vec(),
        ..cx.clone()
    };
    let h = injected(&short, Datadog);
    let tid = "_dd.p.tid=6b0927b500000000";
    assert_eq!(get(&h, DD_TAGS), Some(tid));
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
    for (tags, error) in [
        (format!("{tid},_dd.p.x"), "decoding_error"),
        (format!("{tid},=1"), "decoding_error"),
        (format!("{tid},,_dd.p.x=1"), "decoding_error"),
        (long, "extract_max_size"),
    ] {
        let cx = with(DD_TAGS, &tags);
        let got = (cx.trace_id, cx.tags, cx.propagation_error);
        assert_eq!(got, (1, vec![], Some(error.to_owned())), "{tags}");
    }
    // A trailing ',' is fine, values lose their spaces, the last key wins.
    let cx = with(DD_TAGS, &format!("{tid},_dd.p.a= 1 ,_dd.p.a=2,"));
    assert_eq!(
        (cx.trace_id >> 64, cx.tags),
        (1, vec![("_dd.p.a".into(), "2".into())])
    );
    for tid in "1 00000000000000001 000000000000000g -000000000000001 000000000000000A".split(' ') {
        let cx = with(DD_TAGS, &format!("_dd.p.tid={tid},_dd.p.dm=-4"));
        assert_eq!((cx.trace_id, cx.tags.len()), (1, 1), "{tid}");
        assert_eq!(cx.propagation_error, Some(format!("malformed_tid {tid}")));
    }
    for (dm, ok) in [
        ("-0", true),
        ("-255", true),
        ("-256", false),
        ("-01", false),
        ("4", false),
    ] {
        let cx = with(DD_TAGS, &format!("_dd.p.dm={dm}"));
        let error = (!ok).then(|| "decoding_error".to_owned());
        assert_eq!(
            (cx.tags.len(), cx.propagation_error),
            (usize::from(ok), error),
            "{dm}"
        );
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

#[test]
fn conflicting_parents_follow_the_w3c_parent() {
    let dd = [(DD_TRACE_ID, "10"), (DD_PARENT_ID, "2"), (DD_PRIORITY, "1")];
    let with_state = |state: &'static str| {
        let mut pairs = dd.to_vec();
        pairs.extend([(TRACEPARENT, TP), (TRACESTATE, state)]);
        extract(&headers(&pairs), &[Datadog, TraceContext]).unwrap()
    };
    // Same trace, other parent: the W3C parent, the DataDog one recorded.
    let cx = with_state("foo=bar");
    assert_eq!(
        (cx.span_id, cx.last_parent_id, cx.priority),
        (11, Some(2), Some(1))
    );
    // tracestate `p:` names the last DataDog span instead.
    let cx = with_state("dd=s:1;p:0000000000000003");
    assert_eq!((cx.span_id, cx.last_parent_id), (11, Some(3)));
    // Same parent: nothing to record.
    let same = headers(&[(DD_TRACE_ID, "10"), (DD_PARENT_ID, "11"), (TRACEPARENT, TP)]);
    let cx = extract(&same, &[Datadog, TraceContext]).unwrap();
    assert_eq!((cx.span_id, cx.last_parent_id), (11, None));
    // Without tracecontext among the styles, the DataDog parent stays.
    let cx = extract(
        &headers(&[dd[0], dd[1], (TRACEPARENT, TP)]),
        &[Datadog, B3S],
    )
    .unwrap();
    assert_eq!((cx.span_id, cx.last_parent_id), (2, None));
}

#[test]
fn conflicting_traces_become_span_links() {
    let h = headers(&[
        (DD_TRACE_ID, "7"),
        (DD_PARENT_ID, "2"),
        (TRACEPARENT, TP),
        (TRACESTATE, "dd=s:1,foo=bar"),
    ]);
    let cx = extract(&h, &[Datadog, TraceContext]).unwrap();
    assert_eq!(
        (cx.trace_id, cx.span_id, cx.tracestate_others),
        (7, 2, None)
    );
    let link = SpanLink {
        trace_id: 10,
        span_id: 11,
        flags: 1,
        tracestate: Some("dd=s:1,foo=bar".into()),
        reason: "terminated_context",
        context_headers: "tracecontext",
    };
    assert_eq!(cx.links, [link]);
    let cx = extract(&h, &[TraceContext, Datadog]).unwrap();
    assert_eq!(
        (
            cx.trace_id,
            cx.links[0].trace_id,
            cx.links[0].tracestate.clone()
        ),
        (10, 7, None)
    );
}

#[test]
fn sampled_flag_overriding_tracestate_sets_the_mechanism() {
    for (flags, state, priority, dm) in [
        ("01", "dd=s:-1;t.dm:-3", Some(1), Some("-0")),
        ("00", "dd=s:2;t.dm:-3", Some(0), None),
        ("01", "dd=s:2;t.dm:-3", Some(2), Some("-3")),
        ("00", "dd=s:-1;t.dm:-3", Some(-1), Some("-3")),
        ("01", "dd=t.dm:-3", Some(1), Some("-0")),
        // RUM without a priority: this tracer decides.
        ("00", "dd=o:rum;t.dm:-3", None, Some("-3")),
        ("01", "foo=bar", Some(1), None),
    ] {
        let tp = TP.replace("b-01", &format!("b-{flags}"));
        let cx = one(TraceContext, &[(TRACEPARENT, &tp), (TRACESTATE, state)]).unwrap();
        let got = cx
            .tags
            .iter()
            .find(|(k, _)| k == DM_TAG)
            .map(|(_, v)| v.as_str());
        assert_eq!((cx.priority, got), (priority, dm), "{flags} {state}");
    }
}

#[test]
fn baggage_is_carried_in_and_out() {
    let styles = [Datadog, TraceContext, PropagationStyle::Baggage];
    let h = headers(&[
        (TRACEPARENT, TP),
        ("baggage", " user.id = a%20b ,k=v;p=1,k=2"),
    ]);
    let cx = extract(&h, &styles).unwrap();
    let items = [("user.id", "a b"), ("k", "2")].map(|(k, v)| (k.to_owned(), v.to_owned()));
    assert_eq!((cx.trace_id, &cx.baggage[..]), (10, &items[..]));
    let out = injected(&SpanContext { span_id: 5, ..cx }, PropagationStyle::Baggage);
    assert_eq!(get(&out, "baggage"), Some("user.id=a%20b,k=2"));
    // Baggage alone: a context of no trace that still carries it.
    let alone = extract(&headers(&[("baggage", "a=1")]), &styles).unwrap();
    assert_eq!((alone.trace_id, alone.baggage.len()), (0, 1));
    let mut out = HeaderMap::new();
    inject(&alone, &styles, &mut out);
    assert_eq!((get(&out, "baggage"), out.len()), (Some("a=1"), 1));
    // Not among the styles: ignored. Malformed: all dropped.
    assert_eq!(extract(&headers(&[("baggage", "a=1")]), &[Datadog]), None);
    for bad in ["a=1,b", "a=1,=2", "a=", "a=1,,b=2"] {
        assert_eq!(
            extract(&headers(&[("baggage", bad)]), &styles),
            None,
            "{bad}"
        );
    }
    // 64 items, 8192 bytes at most, read and written.
    let many: Vec<String> = (0..70).map(|i| format!("k{i}=v")).collect();
    let cx = extract(&headers(&[("baggage", &many.join(","))]), &styles).unwrap();
    assert_eq!(cx.baggage.len(), 64);
    let big: Vec<String> = (0..3)
        .map(|i| format!("k{i}={}", "v".repeat(4000)))
        .collect();
    let cx = extract(&headers(&[("baggage", &big.join(","))]), &styles).unwrap();
    assert_eq!(cx.baggage.len(), 2);
    let mut cx = cx;
    cx.baggage.push(("k2".into(), "v".repeat(4000)));
    let mut out = HeaderMap::new();
    inject(&cx, &styles, &mut out);
    assert_eq!(get(&out, "baggage").unwrap().split(',').count(), 2);
}
