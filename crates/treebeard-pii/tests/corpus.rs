//! The corpus in `tests/data/corpus.txt`: realistic lines with the exact
//! scrubbed text expected of each.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers outside #[test] fns

use std::borrow::Cow;

use treebeard_pii::Scrubber;

const CORPUS: &str = include_str!("data/corpus.txt");

/// `(line number, input, expected)`; `expected` is `None` for `> =`.
fn cases() -> Vec<(usize, &'static str, Option<&'static str>)> {
    let mut cases = Vec::new();
    let mut input = None;
    for (number, line) in CORPUS.lines().enumerate() {
        if let Some(text) = line.strip_prefix("< ") {
            assert!(input.is_none(), "line {}: two inputs in a row", number + 1);
            input = Some((number + 1, text));
        } else if let Some(text) = line.strip_prefix("> ") {
            let (at, given) = input.take().expect("an expectation follows an input");
            cases.push((at, given, (text != "=").then_some(text)));
        } else {
            assert!(
                line.is_empty() || line.starts_with('#'),
                "line {}: unexpected {line:?}",
                number + 1
            );
        }
    }
    assert!(input.is_none(), "the last input has no expectation");
    cases
}

#[test]
fn corpus_lines_scrub_as_expected() {
    let scrubber = Scrubber::global();
    let cases = cases();
    assert!(cases.len() >= 30, "corpus has {} cases", cases.len());
    let mut failures = Vec::new();
    for (line, input, expected) in cases {
        let out = scrubber.scrub(input);
        let ok = match expected {
            None => matches!(out, Cow::Borrowed(_)),
            Some(expected) => out == expected,
        };
        if !ok {
            failures.push(format!(
                "line {line}:\n  input    {input}\n  got      {out}\n  expected {}",
                expected.unwrap_or("(unchanged)")
            ));
        }
        assert_eq!(scrubber.scrub(&out), out, "line {line}: not idempotent");
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
