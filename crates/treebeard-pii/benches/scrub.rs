//! Nanoseconds per `scrub` call on typical log fields, with and without PII.
//!
//! Run with `cargo bench -p treebeard-pii`. Plain `Instant` timing (no
//! benchmark framework): each case is run in several batches and the best
//! and median batch are printed, which is stable enough to compare changes.

use std::hint::black_box;
use std::time::Instant;

use treebeard_pii::Scrubber;

/// Calls per timed batch.
const ITERATIONS: u32 = 100_000;
/// Timed batches per case (after one warm-up batch).
const BATCHES: usize = 7;

fn main() {
    let scrubber = Scrubber::default();
    let clean = "GET /api/v1/users/48213/recommendations?limit=20&offset=40 status=200 \
                 duration_ms=35 cache=miss region=eu-west-1 \
                 request_id=7f3c2a9e-4b1d-4e8a-9c6f-2d5e8b1a0c3f upstream=10.0.3.17:8080";
    let cases: [(&str, &str); 6] = [
        ("clean 200 B log field", clean),
        (
            "200 B with an e-mail",
            "POST /api/v1/users/48213/profile status=422 duration_ms=35 \
             error=\"address already registered: bob.smith@example.com\" region=eu-west-1 \
             request_id=7f3c2a9e-4b1d-4e8a-9c6f-2d5e8b1a0c3f",
        ),
        (
            "200 B with password=",
            "POST /api/v1/login?next=/home&password=hunter2&remember=1 status=401 \
             duration_ms=12 cache=miss region=eu-west-1 \
             request_id=7f3c2a9e-4b1d-4e8a-9c6f-2d5e8b1a0c3f upstream=10.0.3.17:8080",
        ),
        (
            "200 B with a card number",
            "POST /api/v1/payments status=402 duration_ms=88 error=\"card 4111 1111 1111 1111 \
             declined\" region=eu-west-1 request_id=7f3c2a9e-4b1d-4e8a-9c6f-2d5e8b1a0c3f \
             upstream=10.0.3.17:8080",
        ),
        ("clean 16 B span tag", "GET /users/{id}"),
        ("clean 2 KB message", &clean.repeat(10)),
    ];
    println!(
        "{:<28} {:>6} {:>12} {:>12}",
        "case", "bytes", "best ns/op", "median ns/op"
    );
    for (name, input) in cases {
        let (best, median) = measure(|| {
            black_box(scrubber.scrub(black_box(input)));
        });
        println!("{name:<28} {:>6} {best:>12.1} {median:>12.1}", input.len());
    }
}

/// Best and median nanoseconds per call over [`BATCHES`] batches.
fn measure(mut f: impl FnMut()) -> (f64, f64) {
    let mut per_op = Vec::with_capacity(BATCHES);
    for batch in 0..=BATCHES {
        let start = Instant::now();
        for _ in 0..ITERATIONS {
            f();
        }
        let ns = start.elapsed().as_nanos() as f64 / f64::from(ITERATIONS);
        if batch > 0 {
            per_op.push(ns);
        }
    }
    per_op.sort_by(f64::total_cmp);
    let best = per_op.first().copied().unwrap_or(f64::NAN);
    let median = per_op.get(per_op.len() / 2).copied().unwrap_or(f64::NAN);
    (best, median)
}
