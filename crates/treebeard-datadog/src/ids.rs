//! Span and trace IDs: random, non-zero, and cheap (no syscall per ID).

use std::cell::Cell;
use std::hash::{BuildHasher, Hasher};
use std::time::{SystemTime, UNIX_EPOCH};

thread_local! {
    /// Per-thread SplitMix64 state, seeded from the OS-random keys of std's
    /// `RandomState` (no syscall after the first per thread).
    static STATE: Cell<u64> = Cell::new(seed());
}

fn seed() -> u64 {
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u64(now_ns() as u64);
    hasher.finish()
}

/// A random non-zero 64-bit ID.
pub(crate) fn span_id() -> u64 {
    loop {
        let id = STATE.with(|state| {
            // SplitMix64: a full-period generator with well-mixed output.
            let next = state.get().wrapping_add(0x9e37_79b9_7f4a_7c15);
            state.set(next);
            let mut z = next;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            z ^ (z >> 31)
        });
        if id != 0 {
            return id;
        }
    }
}

/// Makes this thread's IDs a fixed sequence (tests that pin bytes).
#[cfg(test)]
pub(crate) fn seed_for_test(seed: u64) {
    STATE.set(seed);
}

/// A new 128-bit trace ID as DataDog makes them: the start second in the
/// top 32 bits, then 32 zero bits, then 64 random bits.
pub(crate) fn trace_id(start_ns: i64) -> u128 {
    let seconds = (start_ns / 1_000_000_000) as u128 & 0xffff_ffff;
    (seconds << 96) | u128::from(span_id())
}

/// A random UUID (version 4, hyphenated) naming this process to the agent
/// (`runtime-id`).
pub(crate) fn runtime_id() -> String {
    let mut bits = (u128::from(span_id()) << 64) | u128::from(span_id());
    // Version 4, variant 10xx: the fields a UUID v4 fixes.
    bits = (bits & !(0xf << 76)) | (0x4 << 76);
    bits = (bits & !(0x3 << 62)) | (0x2 << 62);
    let hex = format!("{bits:032x}");
    format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    )
}

/// Nanoseconds since the Unix epoch (0 before it: a broken clock is not
/// worth a panic).
pub(crate) fn now_ns() -> i64 {
    // Seconds and nanoseconds in 64 bits (`as_nanos` is a 128-bit product):
    // the same value, i64::MAX past the year 2262.
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| {
        d.as_secs()
            .checked_mul(1_000_000_000)
            .and_then(|ns| ns.checked_add(u64::from(d.subsec_nanos())))
            .and_then(|ns| i64::try_from(ns).ok())
            .unwrap_or(i64::MAX)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runtime_ids_are_version_4_uuids() {
        let id = runtime_id();
        let groups: Vec<_> = id.split('-').map(str::len).collect();
        assert_eq!(groups, [8, 4, 4, 4, 12]);
        assert_eq!(&id[14..15], "4");
        assert!(matches!(&id[19..20], "8" | "9" | "a" | "b"));
        assert_ne!(id, runtime_id());
    }

    #[test]
    fn ids_are_non_zero_and_distinct() {
        let ids: std::collections::HashSet<u64> = (0..10_000).map(|_| span_id()).collect();
        assert_eq!(ids.len(), 10_000);
        assert!(!ids.contains(&0));
    }

    #[test]
    fn the_clock_reads_as_nanoseconds_since_the_epoch() {
        let before = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
        let now = now_ns();
        let after = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
        let (before, after) = (before.as_nanos() as i64, after.as_nanos() as i64);
        assert!(before <= now && now <= after, "{before} {now} {after}");
    }

    #[test]
    fn trace_ids_carry_the_start_second_on_top() {
        let start = 1_795_762_072_738_241_689;
        let id = trace_id(start);
        assert_eq!((id >> 96) as i64, start / 1_000_000_000);
        assert_eq!((id >> 64) as u32, 0);
    }
}
