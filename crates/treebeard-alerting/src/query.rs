//! A small scanner for DataDog metric expressions.
//!
//! It is not a DataDog query parser: it finds the metric references
//! (`p95:treebeard.api.request.duration{env:prod}`) so validation can check
//! the names against the conventions, and it rejects the mistakes that make
//! DataDog refuse a monitor (unbalanced brackets, a metric without scope, a
//! comparison or time aggregation that the generator adds itself).

/// Space aggregators DataDog accepts before a metric name.
pub const SPACE_AGGREGATORS: &[&str] = &[
    "avg", "sum", "min", "max", "count", "p50", "p75", "p90", "p95", "p99",
];

/// One metric referenced in an expression.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetricRef {
    /// The space aggregator (`avg`, `p95`, ...).
    pub aggregator: String,
    /// The metric name.
    pub name: String,
    /// Byte offset of the aggregator in the expression.
    pub offset: usize,
    /// Byte offset just past the scope's closing `}`.
    pub scope_end: usize,
}

/// Why an expression was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QueryError {
    /// The expression is blank.
    #[error("query is empty")]
    Empty,
    /// Brackets do not balance.
    #[error("unbalanced `{0}` in query")]
    Unbalanced(char),
    /// No `<aggregator>:<metric>{scope}` was found.
    #[error(
        "query references no metric (expected `<aggregator>:<metric>{{scope}}`, e.g. `avg:treebeard.api.requests{{*}}`)"
    )]
    NoMetric,
    /// A metric is not followed by `{scope}`.
    #[error("metric `{0}` has no scope: write `{0}{{*}}` or `{0}{{env:production}}`")]
    MissingScope(String),
    /// An aggregator that DataDog does not know.
    #[error("unknown space aggregator `{0}` (accepted: {accepted})", accepted = SPACE_AGGREGATORS.join(", "))]
    UnknownAggregator(String),
    /// The expression holds a comparison; thresholds are separate fields.
    #[error("query must not contain a comparison (`>`/`<`): put the value in `thresholds`")]
    HasComparison,
    /// The expression holds a time aggregation such as `avg(last_5m):`.
    #[error(
        "query must not start with a time aggregation like `avg(last_5m):`: use `aggregation` and `evaluation_window`"
    )]
    HasTimeAggregation,
}

/// Finds the metrics of `expr` and checks its overall shape.
///
/// ```
/// use treebeard_alerting::query::metric_refs;
/// let refs = metric_refs("sum:treebeard.api.errors{*}.as_count() / sum:treebeard.api.requests{*}.as_count()").unwrap();
/// assert_eq!(refs.len(), 2);
/// assert_eq!(refs[1].name, "treebeard.api.requests");
/// ```
pub fn metric_refs(expr: &str) -> Result<Vec<MetricRef>, QueryError> {
    if expr.trim().is_empty() {
        return Err(QueryError::Empty);
    }
    if expr.contains("(last_") {
        return Err(QueryError::HasTimeAggregation);
    }
    check_balance(expr)?;
    let bytes = expr.as_bytes();
    let mut refs = Vec::new();
    let mut depth_braces = 0usize;
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'{' => depth_braces += 1,
            b'}' => depth_braces = depth_braces.saturating_sub(1),
            b'<' | b'>' if depth_braces == 0 => return Err(QueryError::HasComparison),
            b':' if depth_braces == 0 => {
                let start = word_start(bytes, i);
                let aggregator = &expr[start..i];
                let name_end = word_end(bytes, i + 1);
                let name = &expr[i + 1..name_end];
                if !SPACE_AGGREGATORS.contains(&aggregator) {
                    return Err(QueryError::UnknownAggregator(aggregator.to_owned()));
                }
                if bytes.get(name_end) != Some(&b'{') {
                    return Err(QueryError::MissingScope(name.to_owned()));
                }
                let scope_end = expr[name_end..]
                    .find('}')
                    .map_or(expr.len(), |p| name_end + p + 1);
                refs.push(MetricRef {
                    aggregator: aggregator.to_owned(),
                    name: name.to_owned(),
                    offset: start,
                    scope_end,
                });
                i = scope_end;
                continue;
            }
            _ => {}
        }
        i += 1;
    }
    if refs.is_empty() {
        return Err(QueryError::NoMetric);
    }
    Ok(refs)
}

/// Inserts `by {tags}` after every metric scope of `expr`, so that every
/// term of a ratio is grouped the same way.
pub fn with_group_by(expr: &str, group_by: &[String]) -> Result<String, QueryError> {
    if group_by.is_empty() {
        return Ok(expr.to_owned());
    }
    let clause = format!(" by {{{}}}", group_by.join(","));
    let mut out = String::with_capacity(expr.len() + clause.len() * 2);
    let mut last = 0;
    for r in metric_refs(expr)? {
        out.push_str(&expr[last..r.scope_end]);
        out.push_str(&clause);
        last = r.scope_end;
    }
    out.push_str(&expr[last..]);
    Ok(out)
}

fn is_word(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b'.'
}

fn word_start(bytes: &[u8], end: usize) -> usize {
    let mut start = end;
    while start > 0 && is_word(bytes[start - 1]) {
        start -= 1;
    }
    start
}

fn word_end(bytes: &[u8], start: usize) -> usize {
    let mut end = start;
    while end < bytes.len() && is_word(bytes[end]) {
        end += 1;
    }
    end
}

fn check_balance(expr: &str) -> Result<(), QueryError> {
    let mut stack = Vec::new();
    for c in expr.chars() {
        match c {
            '(' | '{' => stack.push(c),
            ')' | '}' => {
                let open = if c == ')' { '(' } else { '{' };
                if stack.pop() != Some(open) {
                    return Err(QueryError::Unbalanced(c));
                }
            }
            _ => {}
        }
    }
    match stack.pop() {
        Some(open) => Err(QueryError::Unbalanced(open)),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_percentile_metric() {
        let refs = metric_refs("p95:treebeard.api.request.duration{env:prod,service:x}").unwrap();
        assert_eq!(refs[0].aggregator, "p95");
        assert_eq!(refs[0].name, "treebeard.api.request.duration");
    }

    #[test]
    fn rejects_shapes() {
        assert_eq!(metric_refs(" "), Err(QueryError::Empty));
        assert_eq!(metric_refs("avg:a.b{*"), Err(QueryError::Unbalanced('{')));
        assert_eq!(
            metric_refs("avg:a.b"),
            Err(QueryError::MissingScope("a.b".into()))
        );
        assert_eq!(
            metric_refs("avg(last_5m):avg:a.b{*} > 1"),
            Err(QueryError::HasTimeAggregation)
        );
        assert_eq!(
            metric_refs("avg:a.b{*} > 1"),
            Err(QueryError::HasComparison)
        );
        assert_eq!(
            metric_refs("p96:a.b{*}"),
            Err(QueryError::UnknownAggregator("p96".into()))
        );
        assert_eq!(metric_refs("100 * 2"), Err(QueryError::NoMetric));
    }

    #[test]
    fn groups_every_term() {
        let q = with_group_by(
            "sum:a{x:y}.as_count() / sum:b{x:y}.as_count()",
            &["endpoint".into()],
        )
        .unwrap();
        assert_eq!(
            q,
            "sum:a{x:y} by {endpoint}.as_count() / sum:b{x:y} by {endpoint}.as_count()"
        );
    }
}
