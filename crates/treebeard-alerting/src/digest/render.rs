//! The digest as an email subject, plain text, HTML and JSON.
//!
//! The texts come from a [`Report`] whose DataDog-supplied strings were
//! already scrubbed; the email notifier scrubs the whole message once more.

use std::fmt::Write as _;
use std::time::Duration;

use super::history::rfc3339;
use super::{EpisodeSummary, MonitorSummary, Report};
use crate::notify::email::capitalise;
use crate::severity::Severity;

/// The severities in report order.
const SEVERITIES: [Severity; 3] = [Severity::Critical, Severity::High, Severity::Medium];

/// The subject line: `[TreeBeard] Daily alert digest: 3 alerts, 1 still open`
/// or `... quiet period`.
pub fn subject(report: &Report) -> String {
    let period = capitalise(report.period.as_str());
    if report.is_quiet() {
        return format!("[TreeBeard] {period} alert digest: quiet period");
    }
    let mut s = format!(
        "[TreeBeard] {period} alert digest: {}",
        plural(report.alerts, "alert")
    );
    if report.still_open > 0 {
        let _ = write!(s, ", {} still open", report.still_open);
    }
    s
}

fn headline(report: &Report) -> String {
    if report.is_quiet() {
        return "Quiet period: no TreeBeard monitor fired.".into();
    }
    let c = report.by_severity;
    format!(
        "{} on {}: {} critical, {} high, {} medium. {} still open.",
        plural(report.alerts, "alert"),
        plural(report.monitors.len(), "monitor"),
        c.critical,
        c.high,
        c.medium,
        report.still_open
    )
}

/// The plain-text body.
pub fn text(report: &Report) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "TreeBeard {} alert digest\nPeriod: {} to {}\n\n{}",
        report.period.as_str(),
        rfc3339(report.start),
        rfc3339(report.end),
        headline(report)
    );
    for severity in SEVERITIES {
        let monitors: Vec<_> = of(report, severity).collect();
        if monitors.is_empty() {
            continue;
        }
        let _ = writeln!(out, "\n== {} ==", severity.as_str().to_uppercase());
        for m in monitors {
            let _ = writeln!(out, "{} — {}", m.name, monitor_line(m));
            let _ = writeln!(out, "  Monitor: {}", m.url);
            if let Some(runbook) = &m.runbook {
                let _ = writeln!(out, "  Runbook: {runbook}");
            }
            for e in &m.episodes {
                let _ = writeln!(out, "  - {}", episode_line(e));
            }
        }
    }
    if !report.unmatched.is_empty() {
        let _ = writeln!(
            out,
            "\nAlso fired, not in alerting-config.yml and without a severity tag: {}",
            report.unmatched.join(", ")
        );
    }
    out
}

/// The HTML alternative: the same content as [`text`].
pub fn html(report: &Report) -> String {
    let mut out = String::new();
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html><body>\n<h1>TreeBeard {} alert digest</h1>\n<p>Period: {} to {}</p>\n<p><strong>{}</strong></p>\n",
        report.period.as_str(),
        rfc3339(report.start),
        rfc3339(report.end),
        escape(&headline(report))
    );
    for severity in SEVERITIES {
        let monitors: Vec<_> = of(report, severity).collect();
        if monitors.is_empty() {
            continue;
        }
        let _ = writeln!(out, "<h2>{}</h2>", severity.as_str().to_uppercase());
        for m in monitors {
            let _ = write!(
                out,
                "<h3><a href=\"{}\">{}</a></h3>\n<p>{}",
                escape(&m.url),
                escape(&m.name),
                escape(&monitor_line(m))
            );
            if let Some(runbook) = &m.runbook {
                let _ = write!(out, " · <a href=\"{}\">runbook</a>", escape(runbook));
            }
            out.push_str("</p>\n<ul>\n");
            for e in &m.episodes {
                let _ = writeln!(out, "<li>{}</li>", escape(&episode_line(e)));
            }
            out.push_str("</ul>\n");
        }
    }
    if !report.unmatched.is_empty() {
        let _ = writeln!(
            out,
            "<p>Also fired, not in alerting-config.yml and without a severity tag: {}</p>",
            escape(&report.unmatched.join(", "))
        );
    }
    out.push_str("</body></html>\n");
    out
}

/// The report as pretty-printed JSON (field by field as in [`Report`];
/// times are RFC 3339 in UTC, durations whole seconds).
pub fn json(report: &Report) -> String {
    // Serialising plain data with string keys cannot fail.
    serde_json::to_string_pretty(report).unwrap_or_default()
}

fn of(report: &Report, severity: Severity) -> impl Iterator<Item = &MonitorSummary> {
    report
        .monitors
        .iter()
        .filter(move |m| m.severity == severity)
}

fn monitor_line(m: &MonitorSummary) -> String {
    let mut s = format!(
        "fired {}, {} in total",
        times(m.fired),
        duration(m.total_seconds)
    );
    if m.open {
        s.push_str(", still open");
    }
    s
}

fn episode_line(e: &EpisodeSummary) -> String {
    let end = match e.end {
        Some(end) => rfc3339(end),
        None => "still open".into(),
    };
    let mut s = format!(
        "{} → {end} ({}, {})",
        rfc3339(e.start),
        duration(e.seconds),
        e.level
    );
    if let Some(group) = &e.group {
        let _ = write!(s, " on {group}");
    }
    if e.started_before_period {
        s.push_str(", already firing when the period began");
    }
    s
}

fn duration(seconds: u64) -> String {
    humantime::format_duration(Duration::from_secs(seconds)).to_string()
}

fn plural(n: usize, word: &str) -> String {
    format!("{n} {word}{}", if n == 1 { "" } else { "s" })
}

fn times(n: usize) -> String {
    match n {
        1 => "once".into(),
        n => format!("{n} times"),
    }
}

/// HTML text and attribute escaping: five characters, written here rather
/// than pulling in a template engine for one small page.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, SystemTime};

    use super::*;
    use crate::digest::episodes::{MonitorEvent, Transition};
    use crate::digest::{Report, Window};
    use crate::notify::{DigestPeriod, NoScrub};

    fn config() -> crate::rules::AlertingConfig {
        crate::validate::parse(
            r#"
notifications: { pagerduty: { service: prod }, slack: { channel: alerts } }
alerts:
  - name: Error <rate>
    query: "avg:treebeard.api.errors{*}"
    thresholds: { critical: 1 }
    severity: critical
    description: d
    runbook: https://runbooks.example/errors?a=1&b=2
  - name: Latency
    query: "avg:treebeard.api.request.duration{*}"
    thresholds: { critical: 1 }
    severity: high
    description: d
    runbook: https://runbooks.example/latency
"#,
        )
        .unwrap()
    }

    fn report(events: Vec<MonitorEvent>) -> Report {
        let end = SystemTime::UNIX_EPOCH + Duration::from_secs(1_768_460_400);
        Report::build(
            &config(),
            Window::ending(DigestPeriod::Daily, end),
            events,
            "https://app.datadoghq.com",
            &NoScrub,
        )
    }

    fn at(hours_before_end: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_768_460_400 - hours_before_end * 3600)
    }

    #[test]
    fn quiet_period() {
        let r = report(Vec::new());
        assert_eq!(subject(&r), "[TreeBeard] Daily alert digest: quiet period");
        assert!(text(&r).contains("Quiet period: no TreeBeard monitor fired."));
        assert!(html(&r).contains("Quiet period"));
        assert!(json(&r).contains("\"monitors\": []"));
    }

    #[test]
    fn alerts_by_severity_with_links_and_escaped_html() {
        let r = report(vec![
            MonitorEvent::new(1, "Error <rate>", Transition::Alert, at(5)),
            MonitorEvent::new(1, "Error <rate>", Transition::Recovered, at(4)),
            MonitorEvent::new(1, "Error <rate>", Transition::Alert, at(1)),
            MonitorEvent::new(2, "Latency", Transition::Warn, at(3)),
            MonitorEvent::new(2, "Latency", Transition::Recovered, at(2)),
        ]);
        assert_eq!(
            subject(&r),
            "[TreeBeard] Daily alert digest: 3 alerts, 1 still open"
        );
        let t = text(&r);
        assert!(
            t.contains("3 alerts on 2 monitors: 2 critical, 1 high, 0 medium. 1 still open."),
            "{t}"
        );
        assert!(
            t.contains("Error <rate> — fired 2 times, 2h in total, still open"),
            "{t}"
        );
        assert!(t.contains("  Monitor: https://app.datadoghq.com/monitors/1"));
        assert!(t.find("== CRITICAL ==") < t.find("== HIGH =="), "{t}");
        assert!(t.contains("(1h, warn)"), "{t}");
        let h = html(&r);
        assert!(h.contains("Error &lt;rate&gt;"), "{h}");
        assert!(h.contains("errors?a=1&amp;b=2"), "{h}");
    }
}
