//! `treebeard alerts test` through Prism (PagerDuty spec) and aiosmtpd.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

#[path = "../../treebeard-alerting/tests/common/mod.rs"]
mod common;

fn alerts_test(channel: &str, envs: &[(&str, &str)]) -> (bool, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_treebeard"))
        .args(["alerts", "test", "--channel", channel])
        .env_clear()
        .envs(envs.iter().copied())
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[test]
fn pagerduty_test_alert_triggers_and_resolves() {
    let (_prism, base) = common::start_prism();
    let (ok, out) = alerts_test(
        "pagerduty",
        &[
            ("PAGERDUTY_ROUTING_KEY", "e93facc04764012d7bfb002500d5d1a6"),
            ("PAGERDUTY_EVENTS_URL", &base),
        ],
    );
    assert!(ok, "{out}");
    assert!(
        out.contains("pagerduty: triggered") && out.contains("pagerduty: resolved"),
        "{out}"
    );
}

#[test]
fn email_test_digest_arrives() {
    let tmp = tempfile::tempdir().unwrap();
    let maildir = tmp.path().join("maildir");
    let (_smtp, port) = common::start_aiosmtpd(&maildir);
    let (ok, out) = alerts_test(
        "email",
        &[
            ("SMTP_HOST", "127.0.0.1"),
            ("SMTP_PORT", &port.to_string()),
            ("SMTP_FROM", "alerts@treebeard.example"),
            ("SMTP_TO", "ops@example.com"),
            ("SMTP_TLS", "none"),
        ],
    );
    assert!(ok, "{out}");
    let read = common::run_python("read_maildir.py", &[maildir.to_str().unwrap()]);
    assert!(read.contains("TreeBeard test alert"), "{read}");
}

#[test]
fn unconfigured_channel_names_the_variable() {
    let (ok, out) = alerts_test("slack", &[]);
    assert!(!ok);
    assert!(out.contains("SLACK_WEBHOOK_URL is not set"), "{out}");
}
