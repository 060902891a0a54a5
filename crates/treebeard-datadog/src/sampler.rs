//! Trace sampling for the native DataDog span path: decides, when a local root span
//! starts, whether its trace is kept.
//!
//! This follows DataDog's rule sampling: the first `DD_TRACE_SAMPLING_RULES` rule whose
//! patterns all match the root span decides, else `DD_TRACE_SAMPLE_RATE` as a catch-all
//! rule, so a local rule always decides and agent rates are never needed. A trace the rule
//! keeps must also pass a per-second rate limiter (`DD_TRACE_RATE_LIMIT`). Keep/drop by
//! rate is a pure function of the trace id (Knuth multiplicative hashing, as in every
//! DataDog tracer), so all services of a distributed trace configured with the same rate
//! reach the same decision without coordinating.

use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use crate::config::SamplingRule;

/// DataDog's Knuth hashing factor: spreads sequential trace ids over the whole `u64` range.
const KNUTH_FACTOR: u64 = 1_111_111_111_111_111_111;
/// Sampling priority "user keep": a rule (user configuration) kept the trace.
const USER_KEEP: i8 = 2;
/// Sampling priority "user reject": a rule or its rate limiter dropped the trace.
const USER_REJECT: i8 = -1;
/// `_dd.p.dm` value for the "local trace sampling rule" mechanism.
const RULE_MECHANISM: &str = "-3";
/// The rate limiter's window, both for token refill and for the effective-rate counters.
const WINDOW: Duration = Duration::from_secs(1);

/// What the sampler is asked about: the local root span.
pub(crate) struct Root<'a> {
    /// Trace id; only its low 64 bits are hashed, as DataDog does for 128-bit ids.
    pub(crate) trace_id: u128,
    /// The root span's service.
    pub(crate) service: &'a str,
    /// The root span's operation name.
    pub(crate) name: &'a str,
    /// The root span's resource.
    pub(crate) resource: &'a str,
    /// The root span's string tags.
    pub(crate) tags: &'a [(&'a str, &'a str)],
}

/// The decision and the tags DataDog expects with it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Decision {
    /// 2 (user keep) or -1 (user reject) — rules always decide, see below.
    pub(crate) priority: i8,
    /// The sample rate of the matching rule → metric `_dd.rule_psr`.
    pub(crate) rule_rate: f64,
    /// The rate limiter's effective rate when it was consulted (kept by the rule) →
    /// metric `_dd.limit_psr`; None when not consulted.
    pub(crate) limit_rate: Option<f64>,
}

impl Decision {
    /// `_dd.p.dm` value when kept: "-3" (rule mechanism); None when rejected.
    pub(crate) fn mechanism(&self) -> Option<&'static str> {
        (self.priority > 0).then_some(RULE_MECHANISM)
    }

    /// `_dd.p.ksr` value: the rule's rate with up to 6 significant digits and no trailing
    /// zeros (1 → "1", 0.5 → "0.5", 0.123456789 → "0.123457"), only when kept.
    pub(crate) fn knuth_rate(&self) -> Option<String> {
        (self.priority > 0).then(|| format_rate(self.rule_rate))
    }
}

/// Formats a rate in `[0, 1]` like Go's `%.6g`, but never in exponent notation (as
/// dd-trace-rs does). `{:e}` rounds to exactly 6 significant digits, avoiding `log10`
/// edge cases at powers of ten; the decimal point is then placed by hand.
fn format_rate(rate: f64) -> String {
    let sci = format!("{:.5e}", rate.clamp(0.0, 1.0)); // "d.ddddde-x"
    let (mantissa, exp) = sci.split_once('e').unwrap_or(("0", "0"));
    let digits = mantissa.replace('.', "");
    let digits = digits.trim_end_matches('0');
    match exp.strip_prefix('-').and_then(|e| e.parse::<usize>().ok()) {
        Some(exp) => format!("0.{}{digits}", "0".repeat(exp.saturating_sub(1))),
        // Exponent 0: exactly 1 (also 0.9999995.. rounded up), or 0 with no digits left.
        None if digits.is_empty() => "0".to_owned(),
        None => "1".to_owned(),
    }
}

/// Clamps a configured rate into `[0, 1]`. NaN (a broken config) becomes 1.0: keeping
/// everything, bounded by the rate limiter, beats silently losing every trace.
fn sanitize_rate(rate: f64) -> f64 {
    if rate.is_nan() {
        1.0
    } else {
        rate.clamp(0.0, 1.0)
    }
}

/// DataDog's deterministic keep test on the low 64 bits of the trace id.
fn knuth_keeps(rate: f64, trace_id: u128) -> bool {
    if rate >= 1.0 {
        return true;
    }
    if rate <= 0.0 {
        return false;
    }
    // Same threshold and `<=` as dd-trace-rs/-go/-py, so mixed-language traces agree.
    let threshold = (rate * u64::MAX as f64) as u64;
    (trace_id as u64).wrapping_mul(KNUTH_FACTOR) <= threshold
}

/// A pre-lowercased glob, so matching never allocates.
#[derive(Debug)]
enum Pattern {
    /// Only `*`s: matches anything without scanning.
    Any,
    /// Lowercased pattern bytes with `*` and `?` wildcards.
    Glob(Box<[u8]>),
}

impl Pattern {
    /// Compiles a glob, short-circuiting the common "match everything" pattern.
    fn new(glob: &str) -> Self {
        if glob.bytes().all(|b| b == b'*') {
            Pattern::Any
        } else {
            Pattern::Glob(glob.to_ascii_lowercase().into_bytes().into_boxed_slice())
        }
    }

    /// Whether `subject` matches, ASCII case-insensitively.
    fn matches(&self, subject: &str) -> bool {
        match self {
            Pattern::Any => true,
            Pattern::Glob(pattern) => glob_match(pattern, subject.as_bytes()),
        }
    }
}

/// Byte length of the UTF-8 character starting with `lead`, so `?` consumes a whole char.
fn char_width(lead: u8) -> usize {
    // 0b110xxxxx → 2 … 0b11110xxx → 4; ASCII (and, defensively, continuation bytes) → 1.
    (lead.leading_ones() as usize).max(1)
}

/// Classic iterative glob match: on a mismatch, retry from the last `*` with it absorbing
/// one more character. Only the last star matters, so there is no exponential blow-up
/// (O(n·m) worst case, linear in practice). Subject indices stay on char boundaries:
/// literals are whole UTF-8 sequences, and `?` and star retries step by whole chars.
fn glob_match(pattern: &[u8], subject: &[u8]) -> bool {
    let (mut p, mut s) = (0, 0);
    // (pattern index after the last star, subject index that star's run ends at)
    let mut star: Option<(usize, usize)> = None;
    while let Some(&byte) = subject.get(s) {
        match pattern.get(p) {
            Some(b'*') => (star, p) = (Some((p + 1, s)), p + 1),
            Some(b'?') => (p, s) = (p + 1, s + char_width(byte)),
            Some(&c) if c == byte.to_ascii_lowercase() => (p, s) = (p + 1, s + 1),
            // Mismatch: let the last star absorb one more char, or fail without one.
            _ => {
                let Some((star_p, star_s)) = star else {
                    return false;
                };
                let next = star_s + subject.get(star_s).map_or(1, |&b| char_width(b));
                (star, p, s) = (Some((star_p, next)), star_p, next);
            }
        }
    }
    // Subject consumed (`?` cannot overshoot valid UTF-8); only stars may remain.
    s == subject.len() && pattern.iter().skip(p).all(|&c| c == b'*')
}

/// A rule with compiled patterns.
#[derive(Debug)]
struct CompiledRule {
    /// Sanitized sample rate.
    rate: f64,
    /// Service, name and resource patterns, in that order; None matches anything.
    fields: [Option<Pattern>; 3],
    /// Required tag keys with value patterns.
    tags: Box<[(Box<str>, Pattern)]>,
}

impl CompiledRule {
    /// Compiles the patterns (globs: `*` any run, `?` one character,
    /// case-insensitive); an empty one means "no pattern", as in dd-trace-rs.
    fn new(rule: &SamplingRule) -> Self {
        let compile =
            |glob: &Option<String>| glob.as_deref().filter(|g| !g.is_empty()).map(Pattern::new);
        let tags = rule.tags.iter().filter(|(_, v)| !v.is_empty());
        Self {
            rate: sanitize_rate(rule.sample_rate),
            fields: [
                compile(&rule.service),
                compile(&rule.name),
                compile(&rule.resource),
            ],
            tags: tags
                .map(|(k, v)| (k.as_str().into(), Pattern::new(v)))
                .collect(),
        }
    }

    /// Whether every present pattern matches the root span.
    fn matches(&self, root: &Root<'_>) -> bool {
        let values = [root.service, root.name, root.resource];
        let field = |(pattern, value): (&Option<Pattern>, &str)| {
            pattern.as_ref().is_none_or(|p| p.matches(value))
        };
        self.fields.iter().zip(values).all(field)
            && self.tags.iter().all(|(key, pattern)| {
                let value = root.tags.iter().find(|(k, _)| *k == &**key);
                value.is_some_and(|(_, v)| pattern.matches(v))
            })
    }
}

/// Token bucket plus the allowed/seen counters behind the effective rate.
#[derive(Debug)]
struct LimiterState {
    /// Available tokens; fractional so slow refills accumulate instead of being lost.
    tokens: f64,
    /// When tokens were last refilled.
    refilled: Instant,
    /// Start of the current counting window.
    window_start: Instant,
    /// Traces allowed in the current window.
    allowed: u64,
    /// Traces the limiter was asked about in the current window.
    seen: u64,
    /// allowed/seen of the window just before the current one, if it saw anything.
    prev_rate: Option<f64>,
}

impl LimiterState {
    /// Takes a token if one is available at `now`; returns (allowed, effective rate).
    fn acquire(&mut self, limit: f64, now: Instant) -> (bool, f64) {
        // Callers read the clock before taking the lock, so `now` may trail what another
        // thread already recorded: never move the clocks backwards.
        let elapsed = now.saturating_duration_since(self.refilled);
        self.tokens = (self.tokens + elapsed.as_secs_f64() * limit).min(limit);
        self.refilled = self.refilled.max(now);

        let since_window = now.saturating_duration_since(self.window_start);
        if since_window >= WINDOW {
            // Like dd-trace-go, a window only counts as "previous" if it is the one that
            // just ended; after an idle gap its rate no longer says anything.
            let adjacent = since_window < 2 * WINDOW && self.seen > 0;
            self.prev_rate = adjacent.then(|| self.allowed as f64 / self.seen as f64);
            (self.window_start, self.allowed, self.seen) = (now, 0, 0);
        }

        let allowed = self.tokens >= 1.0;
        if allowed {
            self.tokens -= 1.0;
            self.allowed += 1;
        }
        self.seen += 1;
        // Effective rate: this window's allowed/seen (never empty: this trace counts)
        // averaged with the previous window's, as dd-trace-py and dd-trace-rs do.
        let current = self.allowed as f64 / self.seen as f64;
        let effective = self
            .prev_rate
            .map_or(current, |prev| (current + prev) / 2.0);
        (allowed, effective)
    }
}

/// Rule-based trace sampler with DataDog's rate limiter; shared by all request threads.
#[derive(Debug)]
pub(crate) struct Sampler {
    /// User rules in configuration order.
    rules: Box<[CompiledRule]>,
    /// DD_TRACE_SAMPLE_RATE: the rate when no rule matches.
    default_rate: f64,
    /// Bucket capacity and refill per second (DD_TRACE_RATE_LIMIT).
    limit: f64,
    /// Limiter state: one short critical section per rule-kept trace.
    limiter: Mutex<LimiterState>,
}

impl Sampler {
    /// `rules` in order, then `default_rate` (DD_TRACE_SAMPLE_RATE, 0.0–1.0) as a catch-all
    /// rule; `rate_limit` traces per second kept at most (DD_TRACE_RATE_LIMIT, >= 1; 0
    /// rejects every trace).
    pub(crate) fn new(rules: &[SamplingRule], default_rate: f64, rate_limit: u32) -> Self {
        let limit = f64::from(rate_limit);
        let now = Instant::now();
        Self {
            rules: rules.iter().map(CompiledRule::new).collect(),
            default_rate: sanitize_rate(default_rate),
            limit,
            // Start with a full bucket so a burst right after startup is not cut off.
            limiter: Mutex::new(LimiterState {
                tokens: limit,
                refilled: now,
                window_start: now,
                allowed: 0,
                seen: 0,
                prev_rate: None,
            }),
        }
    }

    /// Decides whether the trace rooted at `root` is kept.
    pub(crate) fn decide(&self, root: &Root<'_>) -> Decision {
        self.decide_at(root, Instant::now())
    }

    /// [`Self::decide`] at an explicit time, so tests can simulate the clock.
    fn decide_at(&self, root: &Root<'_>, now: Instant) -> Decision {
        let matching = self.rules.iter().find(|rule| rule.matches(root));
        let rule_rate = matching.map_or(self.default_rate, |rule| rule.rate);
        // A poisoned lock only means another thread panicked mid-update; the counters
        // are still usable, and sampling must not take the request down with it.
        let limited = knuth_keeps(rule_rate, root.trace_id).then(|| {
            let mut limiter = self.limiter.lock().unwrap_or_else(PoisonError::into_inner);
            limiter.acquire(self.limit, now)
        });
        let kept = limited.is_some_and(|(allowed, _)| allowed);
        Decision {
            priority: if kept { USER_KEEP } else { USER_REJECT },
            rule_rate,
            limit_rate: limited.map(|(_, rate)| rate),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The root span used throughout, with the given trace id.
    fn root(trace_id: u128) -> Root<'static> {
        let (service, name, resource) = ("Checkout", "http.request", "GET /users/{id}");
        Root {
            trace_id,
            service,
            name,
            resource,
            tags: &[("http.method", "GET")],
        }
    }

    /// A rule at `rate`, adjusted by `edit`.
    fn rule(sample_rate: f64, edit: impl FnOnce(&mut SamplingRule)) -> SamplingRule {
        let (service, name, resource, tags) = (None, None, None, Default::default());
        let mut rule = SamplingRule {
            sample_rate,
            service,
            name,
            resource,
            tags,
        };
        edit(&mut rule);
        rule
    }

    /// xorshift64: cheap, well-spread trace ids without a dependency.
    fn ids(count: usize) -> impl Iterator<Item = u128> {
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        std::iter::repeat_with(move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            u128::from(x)
        })
        .take(count)
    }

    /// Compiles and matches in one go.
    fn glob(pattern: &str, subject: &str) -> bool {
        Pattern::new(pattern).matches(subject)
    }

    /// Exponential-time reference matcher for the property test.
    fn naive(p: &[char], s: &[char]) -> bool {
        match (p.split_first(), s.split_first()) {
            (None, _) => s.is_empty(),
            (Some(('*', rest)), _) => (0..=s.len()).any(|i| naive(rest, &s[i..])),
            (Some(('?', rest)), Some((_, tail))) => naive(rest, tail),
            (Some((c, rest)), Some((d, tail))) => c.eq_ignore_ascii_case(d) && naive(rest, tail),
            (Some(_), None) => false,
        }
    }

    #[test]
    fn first_matching_rule_wins_then_default() {
        let checkout = rule(0.25, |r| r.service = Some("checkout".into()));
        let sampler = Sampler::new(&[checkout, rule(1.0, |_| ())], 0.0, 100);
        assert_eq!(sampler.decide(&root(1)).rule_rate, 0.25);
        let billing = Root {
            service: "billing",
            ..root(1)
        };
        assert_eq!(sampler.decide(&billing).rule_rate, 1.0);
        let sampler = Sampler::new(&[rule(1.0, |r| r.name = Some("x".into()))], 0.5, 100);
        assert_eq!(sampler.decide(&root(1)).rule_rate, 0.5);
    }

    #[test]
    fn each_pattern_kind_must_match_case_insensitively() {
        let rules = [
            rule(0.0, |r| r.service = Some("CHECK*".into())),
            rule(0.0, |r| r.name = Some("HTTP.?equest".into())),
            rule(0.0, |r| r.resource = Some("get /users/*".into())),
            rule(0.0, |r| {
                r.tags = [("http.method".into(), "g*".into())].into()
            }),
        ];
        let (service, name, resource) = ("x", "x", "x");
        let other = Root {
            service,
            name,
            resource,
            tags: &[("http.method", "POST")],
            trace_id: 1,
        };
        for rule in rules {
            let sampler = Sampler::new(std::slice::from_ref(&rule), 1.0, 100);
            assert_eq!(sampler.decide(&root(1)).rule_rate, 0.0, "{rule:?}");
            assert_eq!(sampler.decide(&other).rule_rate, 1.0, "{rule:?}");
        }
    }

    #[test]
    fn tag_pattern_requires_the_key() {
        let any_env = rule(0.0, |r| r.tags = [("env".into(), "*".into())].into());
        let sampler = Sampler::new(&[any_env], 1.0, 100);
        assert_eq!(sampler.decide(&root(1)).rule_rate, 1.0);
        let tagged = Root {
            tags: &[("http.method", "GET"), ("env", "prod")],
            ..root(1)
        };
        assert_eq!(sampler.decide(&tagged).rule_rate, 0.0);
    }

    #[test]
    fn globs() {
        for case in "*| **|x *a*|bab a?c|ABC a?c|aéc ?|é *é|aé h*p*t|http.t".split(' ') {
            let (pattern, subject) = case.split_once('|').unwrap();
            assert!(glob(pattern, subject), "{case}");
        }
        for case in "abc|abcd a?c|ac a?c|abbc abc*d|abcde ??|é *b|ba".split(' ') {
            let (pattern, subject) = case.split_once('|').unwrap();
            assert!(!glob(pattern, subject), "{case}");
        }
        let long = "a".repeat(100_000);
        let start = Instant::now();
        assert!(!glob("a*a*a*a*b", &long) && glob("a*a*a*a*a", &long));
        assert!(start.elapsed() < Duration::from_secs(1), "too slow");
    }

    proptest! {
        #[test]
        fn glob_agrees_with_reference(p in "[ab?*]{1,8}", s in "[abAB]{0,10}") {
            let (pc, sc): (Vec<char>, Vec<char>) = (p.chars().collect(), s.chars().collect());
            prop_assert_eq!(glob(&p, &s), naive(&pc, &sc));
        }
    }

    #[test]
    fn rate_zero_and_one_and_clamping() {
        let drop_all = Sampler::new(&[], -2.0, 100);
        let keep_all = Sampler::new(&[], 1.0, u32::MAX);
        let dropped = Decision {
            priority: USER_REJECT,
            rule_rate: 0.0,
            limit_rate: None,
        };
        for id in ids(1000).chain([0, u128::MAX]) {
            assert_eq!(drop_all.decide(&root(id)), dropped);
            assert_eq!(keep_all.decide(&root(id)).priority, USER_KEEP);
        }
        let clamped = [2.0, f64::NAN, 0.3].map(sanitize_rate);
        assert_eq!(clamped, [1.0, 1.0, 0.3]);
    }

    #[test]
    fn knuth_matches_datadog_formula() {
        // 0 hashes to 0, kept at any positive rate; only the low 64 bits count.
        assert!(knuth_keeps(1e-9, 0) && !knuth_keeps(0.5, u128::from(u64::MAX)));
        assert_eq!(knuth_keeps(0.5, 5 | (7 << 64)), knuth_keeps(0.5, 5));
        let threshold = (0.5 * u64::MAX as f64) as u64;
        for id in ids(1000) {
            let hashed = (id as u64).wrapping_mul(KNUTH_FACTOR);
            assert_eq!(knuth_keeps(0.5, id), hashed <= threshold);
        }
    }

    #[test]
    fn rate_keeps_its_share_deterministically() {
        let sampler = Sampler::new(&[], 0.3, u32::MAX);
        let keeps = |id| sampler.decide(&root(id)).priority == USER_KEEP;
        let kept = ids(10_000).filter(|&id| keeps(id)).count();
        assert!((2_700..=3_300).contains(&kept), "kept {kept} of 10000");
        assert!(ids(1000).all(|id| keeps(id) == keeps(id)));
    }

    #[test]
    fn limiter_caps_refills_and_reports_effective_rate() {
        let sampler = Sampler::new(&[], 1.0, 10);
        let t0 = Instant::now();
        let at = |t, n| Vec::from_iter((0..n).map(|id| sampler.decide_at(&root(id), t)));
        let kept = |ds: &[Decision]| ds.iter().filter(|d| d.priority == USER_KEEP).count();
        let burst = at(t0, 25);
        assert!(burst[..10].iter().all(|d| d.priority == USER_KEEP));
        for d in &burst[10..] {
            assert_eq!(d.priority, USER_REJECT);
            assert!(d.limit_rate.is_some_and(|r| r < 1.0));
        }
        assert_eq!(burst[0].limit_rate, Some(1.0));
        assert_eq!(burst[24].limit_rate, Some(10.0 / 25.0));
        // Half a second refills half the bucket.
        assert_eq!(kept(&at(t0 + Duration::from_millis(500), 6)), 5);
        // The next window averages its rate with the previous one's (15 of 31).
        let next = at(t0 + Duration::from_secs(1), 1);
        assert_eq!(next[0].priority, USER_KEEP);
        assert_eq!(next[0].limit_rate, Some((1.0 + 15.0 / 31.0) / 2.0));
        // After an idle gap the stale window is forgotten and the bucket is full again.
        let later = at(t0 + Duration::from_secs(9), 12);
        assert_eq!(kept(&later), 10);
        assert_eq!(later[11].limit_rate, Some(10.0 / 12.0));
    }

    #[test]
    fn concurrent_decisions_share_one_bucket() {
        let sampler = Sampler::new(&[], 1.0, 50);
        let now = Instant::now();
        let decide = |id| sampler.decide_at(&root(id), now).priority == USER_KEEP;
        let worker = || (0..100).filter(|&id| decide(id)).count();
        let kept: usize = std::thread::scope(|scope| {
            let workers: Vec<_> = (0..4).map(|_| scope.spawn(worker)).collect();
            workers.into_iter().map(|w| w.join().unwrap()).sum()
        });
        assert_eq!(kept, 50);
    }

    #[test]
    fn limit_zero_rejects_and_time_going_backwards_is_harmless() {
        let none = Sampler::new(&[], 1.0, 0);
        assert_eq!(none.decide(&root(1)).priority, USER_REJECT);
        let sampler = Sampler::new(&[], 1.0, 1);
        let now = Instant::now();
        let past = now.checked_sub(Duration::from_secs(5)).unwrap_or(now);
        assert_eq!(sampler.decide_at(&root(1), now).priority, USER_KEEP);
        assert_eq!(sampler.decide_at(&root(1), past).priority, USER_REJECT);
    }

    #[test]
    fn tag_strings() {
        let keep = |rule_rate| Decision {
            priority: USER_KEEP,
            rule_rate,
            limit_rate: None,
        };
        assert_eq!(keep(1.0).mechanism(), Some("-3"));
        let cases = "1=1 0.5=0.5 0.123456789=0.123457 0.1=0.1 0.75=0.75 0.00001=0.00001";
        for case in cases.split(' ').chain(["0.9999999=1", "0=0"]) {
            let (rate, text) = case.split_once('=').unwrap();
            assert_eq!(
                keep(rate.parse().unwrap()).knuth_rate().as_deref(),
                Some(text)
            );
        }
        let rejected = Decision {
            priority: USER_REJECT,
            ..keep(0.5)
        };
        assert_eq!((rejected.mechanism(), rejected.knuth_rate()), (None, None));
    }
}
