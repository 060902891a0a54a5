//! Trace sampling for the native DataDog span path: decides, when a local root span
//! starts, whether its trace is kept.
//!
//! This follows DataDog's tracers (dd-trace-py's `DatadogSampler`): the first
//! `DD_TRACE_SAMPLING_RULES` rule whose patterns all match the root span decides, else
//! `DD_TRACE_SAMPLE_RATE` as a catch-all rule when it is set; a trace a rule keeps must
//! also pass a per-second rate limiter (`DD_TRACE_RATE_LIMIT`). With neither, the agent
//! decides: the rate it sent for the root's `service:<service>,env:<env>` in its last
//! answer (`rate_by_service`, see [`AgentRates`]), and 1.0 until it has sent one (no rate
//! limiter for either, as in DataDog's tracers). Keep/drop by rate is a pure function of
//! the trace id (Knuth multiplicative hashing, as in every DataDog tracer), so all services
//! of a distributed trace configured with the same rate reach the same decision without
//! coordinating.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::{Duration, Instant};

use crate::config::SamplingRule;

/// DataDog's Knuth hashing factor: spreads sequential trace ids over the whole `u64` range.
const KNUTH_FACTOR: u64 = 1_111_111_111_111_111_111;
/// Sampling priority "user keep": a rule (user configuration) kept the trace.
const USER_KEEP: i8 = 2;
/// Sampling priority "user reject": a rule or its rate limiter dropped the trace.
const USER_REJECT: i8 = -1;
/// Sampling priority "auto keep": the agent's rate (or the default) kept the trace.
const AUTO_KEEP: i8 = 1;
/// Sampling priority "auto reject": the agent's rate dropped the trace.
const AUTO_REJECT: i8 = 0;
/// The rate limiter's window (one second, in nanoseconds), both for token refill and
/// for the effective-rate counters.
const WINDOW_NS: u64 = 1_000_000_000;

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

/// Who made a sampling decision: DataDog's sampling mechanisms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mechanism {
    /// No rule, no agent rate yet: kept at 1.0 (`_dd.p.dm=-0`).
    Default,
    /// The agent's rate for the service and env (`_dd.p.dm=-1`, `_dd.agent_psr`).
    AgentRate,
    /// A local rule or `DD_TRACE_SAMPLE_RATE` (`_dd.p.dm=-3`, `_dd.rule_psr`).
    Rule,
}

/// The decision and the tags DataDog expects with it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Decision {
    /// 2/-1 (user keep/reject) for rules, 1/0 (auto keep/reject) otherwise.
    pub(crate) priority: i8,
    /// Who decided.
    pub(crate) mechanism: Mechanism,
    /// The rate applied: the rule's (`_dd.rule_psr`) or the agent's (`_dd.agent_psr`);
    /// 1.0 by default.
    pub(crate) rate: f64,
    /// The rate limiter's effective rate when it was consulted (kept by a rule) →
    /// metric `_dd.limit_psr`; None when not consulted.
    pub(crate) limit_rate: Option<f64>,
}

impl Decision {
    /// `_dd.p.dm` value when kept ("-3", "-1" or "-0"); None when rejected.
    pub(crate) fn mechanism(&self) -> Option<&'static str> {
        (self.priority > 0).then_some(match self.mechanism {
            Mechanism::Default => "-0",
            Mechanism::AgentRate => "-1",
            Mechanism::Rule => "-3",
        })
    }

    /// `_dd.rule_psr`, when a rule decided.
    pub(crate) fn rule_rate(&self) -> Option<f64> {
        (self.mechanism == Mechanism::Rule).then_some(self.rate)
    }

    /// `_dd.agent_psr`, when the agent's rate decided.
    pub(crate) fn agent_rate(&self) -> Option<f64> {
        (self.mechanism == Mechanism::AgentRate).then_some(self.rate)
    }

    /// Whether `_dd.p.ksr` goes with the decision: a kept trace whose rate was applied
    /// (a rule's or the agent's; not the default).
    pub(crate) fn has_knuth_rate(&self) -> bool {
        self.priority > 0 && self.mechanism != Mechanism::Default
    }

    /// `_dd.p.ksr` value: the rate with up to 6 significant digits and no trailing
    /// zeros (1 → "1", 0.5 → "0.5", 0.123456789 → "0.123457"), only when kept.
    pub(crate) fn knuth_rate(&self) -> Option<String> {
        self.has_knuth_rate().then(|| format_rate(self.rate))
    }
}

/// The agent's sampling rates for this process's `env`, by service, from the
/// `rate_by_service` of its last answer to a trace payload: written by the exporter
/// thread, read by the sampler once per trace.
#[derive(Debug)]
pub(crate) struct AgentRates {
    /// The `env` this process reports: only the agent's keys for it apply.
    env: String,
    by_service: RwLock<HashMap<Box<str>, f64>>,
    /// The process's own service (`DD_SERVICE`; empty when not known),
    /// whose rate is asked for by nearly every trace ...
    service: Box<str>,
    /// ... and is kept here too, read without a lock or a hash: the rate's
    /// bits, or [`NO_RATE`].
    service_rate: AtomicU64,
}

/// No rate in [`AgentRates::service_rate`]: a NaN, which no sanitized rate is.
const NO_RATE: u64 = u64::MAX;

impl AgentRates {
    /// No rates yet, for a process reporting `env` (empty when unset).
    pub(crate) fn new(env: &str) -> Arc<Self> {
        Self::for_process("", env)
    }

    /// No rates yet, for a process of `service` reporting `env`.
    pub(crate) fn for_process(service: &str, env: &str) -> Arc<Self> {
        Arc::new(Self {
            env: env.to_owned(),
            by_service: RwLock::default(),
            service: service.into(),
            service_rate: AtomicU64::new(NO_RATE),
        })
    }

    /// The agent's rate for `service`, if its last answer had one.
    fn rate(&self, service: &str) -> Option<f64> {
        if !self.service.is_empty() && service == &*self.service {
            let bits = self.service_rate.load(Ordering::Relaxed);
            return (bits != NO_RATE).then(|| f64::from_bits(bits));
        }
        let rates = self
            .by_service
            .read()
            .unwrap_or_else(PoisonError::into_inner);
        rates.get(service).copied()
    }

    /// Takes the rates of an agent's answer (`{"rate_by_service":{"service:a,env:b":0.5}}`);
    /// an answer without them, or one that does not parse, changes nothing.
    pub(crate) fn update(&self, answer: &[u8]) {
        #[derive(serde::Deserialize)]
        struct Answer {
            rate_by_service: HashMap<String, f64>,
        }
        let Ok(answer) = serde_json::from_slice::<Answer>(answer) else {
            return;
        };
        let suffix = format!(",env:{}", self.env);
        let rates: HashMap<Box<str>, f64> = answer
            .rate_by_service
            .iter()
            .filter_map(|(key, rate)| {
                let service = key.strip_prefix("service:")?.strip_suffix(&suffix)?;
                Some((service.into(), sanitize_rate(*rate)))
            })
            .collect();
        let own = rates
            .get(&*self.service)
            .map_or(NO_RATE, |rate| rate.to_bits());
        self.service_rate.store(own, Ordering::Relaxed);
        *self
            .by_service
            .write()
            .unwrap_or_else(PoisonError::into_inner) = rates;
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
    /// When tokens were last refilled, in nanoseconds since the sampler's
    /// epoch (plain integers: cheaper to compare and subtract than `Instant`s).
    refilled: u64,
    /// Start of the current counting window, likewise.
    window_start: u64,
    /// Traces allowed in the current window.
    allowed: u64,
    /// Traces the limiter was asked about in the current window.
    seen: u64,
    /// allowed/seen of the window just before the current one, if it saw anything.
    prev_rate: Option<f64>,
}

impl LimiterState {
    /// Takes a token if one is available at `now` (nanoseconds since the sampler's
    /// epoch); returns (allowed, effective rate).
    fn acquire(&mut self, limit: f64, now: u64) -> (bool, f64) {
        // Callers read the clock before taking the lock, so `now` may trail what another
        // thread already recorded: never move the clocks backwards.
        let elapsed = Duration::from_nanos(now.saturating_sub(self.refilled));
        self.tokens = (self.tokens + elapsed.as_secs_f64() * limit).min(limit);
        self.refilled = self.refilled.max(now);

        let since_window = now.saturating_sub(self.window_start);
        if since_window >= WINDOW_NS {
            // Like dd-trace-go, a window only counts as "previous" if it is the one that
            // just ended; after an idle gap its rate no longer says anything.
            let adjacent = since_window < 2 * WINDOW_NS && self.seen > 0;
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

/// DataDog's trace sampler: rules with the rate limiter, else the agent's rates;
/// shared by all request threads.
#[derive(Debug)]
pub(crate) struct Sampler {
    /// User rules in configuration order.
    rules: Box<[CompiledRule]>,
    /// DD_TRACE_SAMPLE_RATE: the rate when no rule matches; unset leaves it to the agent.
    default_rate: Option<f64>,
    /// The agent's rates, for traces no rule decides.
    agent: Arc<AgentRates>,
    /// Bucket capacity and refill per second (DD_TRACE_RATE_LIMIT).
    limit: f64,
    /// Limiter state: one short critical section per rule-kept trace.
    limiter: Mutex<LimiterState>,
    /// When the sampler was made: the limiter's times count from here.
    epoch: Instant,
}

impl Sampler {
    /// `rules` in order, then `default_rate` (DD_TRACE_SAMPLE_RATE, 0.0–1.0) as a catch-all
    /// rule, then the `agent`'s rates; `rate_limit` traces per second kept at most by
    /// rules (DD_TRACE_RATE_LIMIT, >= 1; 0 rejects every trace a rule keeps).
    pub(crate) fn new(
        rules: &[SamplingRule],
        default_rate: Option<f64>,
        rate_limit: u32,
        agent: Arc<AgentRates>,
    ) -> Self {
        let limit = f64::from(rate_limit);
        let now = Instant::now();
        Self {
            rules: rules.iter().map(CompiledRule::new).collect(),
            default_rate: default_rate.map(sanitize_rate),
            agent,
            limit,
            // Start with a full bucket so a burst right after startup is not cut off.
            limiter: Mutex::new(LimiterState {
                tokens: limit,
                refilled: 0,
                window_start: 0,
                allowed: 0,
                seen: 0,
                prev_rate: None,
            }),
            epoch: now,
        }
    }

    /// Whether any rule is set: without one, only the root's service and
    /// trace ID decide.
    pub(crate) fn has_rules(&self) -> bool {
        !self.rules.is_empty()
    }

    /// Decides whether the trace rooted at `root` is kept.
    pub(crate) fn decide(&self, root: &Root<'_>) -> Decision {
        self.decide_at(root, Instant::now())
    }

    /// [`Self::decide`] at an explicit time, so tests can simulate the clock.
    fn decide_at(&self, root: &Root<'_>, now: Instant) -> Decision {
        let matching = self.rules.iter().find(|rule| rule.matches(root));
        let Some(rate) = matching.map(|rule| rule.rate).or(self.default_rate) else {
            // No rule decides: the agent's rate, as every DataDog tracer does.
            return match self.agent.rate(root.service) {
                Some(rate) => {
                    let kept = knuth_keeps(rate, root.trace_id);
                    Decision {
                        priority: if kept { AUTO_KEEP } else { AUTO_REJECT },
                        mechanism: Mechanism::AgentRate,
                        rate,
                        limit_rate: None,
                    }
                }
                None => Decision {
                    priority: AUTO_KEEP,
                    mechanism: Mechanism::Default,
                    rate: 1.0,
                    limit_rate: None,
                },
            };
        };
        // A poisoned lock only means another thread panicked mid-update; the counters
        // are still usable, and sampling must not take the request down with it.
        let limited = knuth_keeps(rate, root.trace_id).then(|| {
            // Before the epoch (a test's clock) counts as the epoch, as a
            // saturating `Instant` difference did.
            let since = now.saturating_duration_since(self.epoch).as_nanos();
            let now = u64::try_from(since).unwrap_or(u64::MAX);
            let mut limiter = self.limiter.lock().unwrap_or_else(PoisonError::into_inner);
            limiter.acquire(self.limit, now)
        });
        let kept = limited.is_some_and(|(allowed, _)| allowed);
        Decision {
            priority: if kept { USER_KEEP } else { USER_REJECT },
            mechanism: Mechanism::Rule,
            rate,
            limit_rate: limited.map(|(_, rate)| rate),
        }
    }
}

#[cfg(test)]
#[path = "sampler_differential.rs"]
mod differential;

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
        let sampler = Sampler::new(
            &[checkout, rule(1.0, |_| ())],
            Some(0.0),
            100,
            AgentRates::new(""),
        );
        assert_eq!(sampler.decide(&root(1)).rate, 0.25);
        let billing = Root {
            service: "billing",
            ..root(1)
        };
        assert_eq!(sampler.decide(&billing).rate, 1.0);
        let sampler = Sampler::new(
            &[rule(1.0, |r| r.name = Some("x".into()))],
            Some(0.5),
            100,
            AgentRates::new(""),
        );
        assert_eq!(sampler.decide(&root(1)).rate, 0.5);
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
            let sampler = Sampler::new(
                std::slice::from_ref(&rule),
                Some(1.0),
                100,
                AgentRates::new(""),
            );
            assert_eq!(sampler.decide(&root(1)).rate, 0.0, "{rule:?}");
            assert_eq!(sampler.decide(&other).rate, 1.0, "{rule:?}");
        }
    }

    #[test]
    fn tag_pattern_requires_the_key() {
        let any_env = rule(0.0, |r| r.tags = [("env".into(), "*".into())].into());
        let sampler = Sampler::new(&[any_env], Some(1.0), 100, AgentRates::new(""));
        assert_eq!(sampler.decide(&root(1)).rate, 1.0);
        let tagged = Root {
            tags: &[("http.method", "GET"), ("env", "prod")],
            ..root(1)
        };
        assert_eq!(sampler.decide(&tagged).rate, 0.0);
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
        let drop_all = Sampler::new(&[], Some(-2.0), 100, AgentRates::new(""));
        let keep_all = Sampler::new(&[], Some(1.0), u32::MAX, AgentRates::new(""));
        let dropped = Decision {
            priority: USER_REJECT,
            mechanism: Mechanism::Rule,
            rate: 0.0,
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
        let sampler = Sampler::new(&[], Some(0.3), u32::MAX, AgentRates::new(""));
        let keeps = |id| sampler.decide(&root(id)).priority == USER_KEEP;
        let kept = ids(10_000).filter(|&id| keeps(id)).count();
        assert!((2_700..=3_300).contains(&kept), "kept {kept} of 10000");
        assert!(ids(1000).all(|id| keeps(id) == keeps(id)));
    }

    #[test]
    fn limiter_caps_refills_and_reports_effective_rate() {
        let sampler = Sampler::new(&[], Some(1.0), 10, AgentRates::new(""));
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
        let sampler = Sampler::new(&[], Some(1.0), 50, AgentRates::new(""));
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
        let none = Sampler::new(&[], Some(1.0), 0, AgentRates::new(""));
        assert_eq!(none.decide(&root(1)).priority, USER_REJECT);
        let sampler = Sampler::new(&[], Some(1.0), 1, AgentRates::new(""));
        let now = Instant::now();
        let past = now.checked_sub(Duration::from_secs(5)).unwrap_or(now);
        assert_eq!(sampler.decide_at(&root(1), now).priority, USER_KEEP);
        assert_eq!(sampler.decide_at(&root(1), past).priority, USER_REJECT);
    }

    #[test]
    fn tag_strings() {
        let keep = |rate| Decision {
            priority: USER_KEEP,
            mechanism: Mechanism::Rule,
            rate,
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

    #[test]
    fn without_a_rule_the_agent_rate_for_the_service_and_env_decides() {
        // The process's own service takes the lock-free path: same answers.
        for own in ["", "Checkout", "billing"] {
            the_agent_rate_decides(AgentRates::for_process(own, "prod"));
        }
    }

    fn the_agent_rate_decides(agent: Arc<AgentRates>) {
        let sampler = Sampler::new(&[], None, 1, agent.clone());
        // Until the agent answers: kept, priority 1, mechanism -0, no psr, no limiter.
        for id in ids(50) {
            let d = sampler.decide(&root(id));
            assert_eq!(d.priority, AUTO_KEEP);
            assert_eq!(d.mechanism(), Some("-0"));
            assert_eq!(
                (d.agent_rate(), d.rule_rate(), d.knuth_rate()),
                (None, None, None)
            );
            assert_eq!(d.limit_rate, None, "the limiter is for rules only");
        }
        // The agent's answer: only keys of this env apply, by the root's service.
        agent.update(
            br#"{"rate_by_service":{"service:Checkout,env:prod":0.25,"service:Checkout,env:dev":0.0,"service:,env:":1}}"#,
        );
        let decisions: Vec<Decision> = ids(4000).map(|id| sampler.decide(&root(id))).collect();
        let kept = decisions.iter().filter(|d| d.priority == AUTO_KEEP).count();
        assert!((800..1200).contains(&kept), "{kept} of 4000 at 0.25");
        for (id, d) in ids(4000).zip(&decisions) {
            assert_eq!(d.agent_rate(), Some(0.25));
            assert_eq!(d.priority == AUTO_KEEP, knuth_keeps(0.25, id));
            match d.priority {
                AUTO_KEEP => assert_eq!(
                    (d.mechanism(), d.knuth_rate().as_deref()),
                    (Some("-1"), Some("0.25"))
                ),
                p => assert_eq!((p, d.mechanism()), (AUTO_REJECT, None)),
            }
        }
        // A service the agent has no rate for keeps the default.
        let other = Root {
            service: "billing",
            ..root(1)
        };
        assert_eq!(sampler.decide(&other).mechanism, Mechanism::Default);
        // Garbage changes nothing; a new answer replaces the rates.
        agent.update(b"<html>");
        agent.update(br#"{"rate_by_service":"no"}"#);
        assert_eq!(sampler.decide(&root(1)).agent_rate(), Some(0.25));
        agent.update(br#"{"rate_by_service":{"service:Checkout,env:prod":0}}"#);
        assert_eq!(sampler.decide(&root(1)).priority, AUTO_REJECT);
    }

    #[test]
    fn a_configured_rate_or_rule_beats_the_agent() {
        let agent = AgentRates::new("");
        agent.update(br#"{"rate_by_service":{"service:Checkout,env:":0}}"#);
        let sampler = Sampler::new(&[], Some(1.0), 100, agent.clone());
        let d = sampler.decide(&root(7));
        assert_eq!(
            (d.priority, d.mechanism(), d.rule_rate()),
            (USER_KEEP, Some("-3"), Some(1.0))
        );
        let sampler = Sampler::new(&[rule(1.0, |_| ())], None, 100, agent);
        assert_eq!(sampler.decide(&root(7)).mechanism, Mechanism::Rule);
    }
}
