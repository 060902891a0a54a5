//! The email digest arrives at a real SMTP server (aiosmtpd) and reads back
//! correctly from its Maildir.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

mod common;

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use serde_json::Value;
use treebeard_alerting::notify::{
    Digest, DigestPeriod, EmailNotifier, Notification, Scrubber, SmtpSettings,
};
use treebeard_alerting::retry::RetryPolicy;
use treebeard_alerting::rules::Severity;

fn digest(now: SystemTime) -> Digest {
    let mut d = Digest::new(DigestPeriod::Daily, now);
    let hour = Duration::from_secs(3600);
    for i in 0..3 {
        d.record(
            Notification::new(
                "Error rate above 1%",
                Severity::Critical,
                format!("error rate {}%", 2 + i),
            )
            .with_runbook("https://runbooks.example/errors")
            .with_timestamp(now - hour * (i + 1)),
        );
    }
    d.record(
        Notification::new(
            "Cache hit rate below 80%",
            Severity::Medium,
            "hit rate 0.7, user bob@example.com",
        )
        .with_timestamp(now - hour),
    );
    // Outside the daily window: left out.
    d.record(Notification::new("Old", Severity::High, "old").with_timestamp(now - hour * 30));
    d
}

#[tokio::test(flavor = "multi_thread")]
async fn digest_arrives_and_reads_back() {
    let tmp = tempfile::tempdir().unwrap();
    // aiosmtpd creates the Maildir layout only for a directory that does not exist yet.
    let maildir = tmp.path().join("maildir");
    let (_smtp, port) = common::start_aiosmtpd(&maildir);
    let env = [
        ("SMTP_HOST", "127.0.0.1"),
        ("SMTP_PORT", &*port.to_string()),
        ("SMTP_FROM", "TreeBeard <alerts@treebeard.example>"),
        ("SMTP_TO", "ops@example.com, oncall@example.com"),
        ("SMTP_TLS", "none"),
    ];
    let scrub: Arc<dyn Scrubber> = Arc::new(|s: &str| s.replace("bob@example.com", "[email]"));
    let email = EmailNotifier::from_env(&env)
        .unwrap()
        .with_scrubber(scrub)
        .with_retry(RetryPolicy::default().with_timeout(Duration::from_secs(5)));
    let d = digest(SystemTime::now());
    assert_eq!(d.len(), 4);
    email.send_digest(&d).await.unwrap();

    let out = common::run_python("read_maildir.py", &[maildir.to_str().unwrap()]);
    let messages: Vec<Value> = serde_json::from_str(&out).unwrap();
    assert_eq!(messages.len(), 1, "{out}");
    let m = &messages[0];
    assert_eq!(
        m["subject"],
        "[TreeBeard] Daily alert digest: 4 alerts fired"
    );
    assert!(
        m["from"]
            .as_str()
            .unwrap()
            .contains("alerts@treebeard.example")
    );
    assert!(m["to"].as_str().unwrap().contains("oncall@example.com"));
    let body = m["body"].as_str().unwrap();
    assert!(
        body.contains("4 alerts fired: 3 critical, 0 high, 1 medium."),
        "{body}"
    );
    assert!(
        body.contains("[CRITICAL] Error rate above 1% — fired 3 times"),
        "{body}"
    );
    assert!(
        body.contains("Runbook: https://runbooks.example/errors"),
        "{body}"
    );
    assert!(
        body.contains("[email]") && !body.contains("bob@example.com"),
        "{body}"
    );
    assert!(!body.contains("Old"), "{body}");
}

#[tokio::test]
async fn closed_port_is_an_error_not_a_panic() {
    let settings = SmtpSettings::new(
        "127.0.0.1",
        "a@example.com",
        vec!["b@example.com".into()],
        treebeard_alerting::notify::SmtpTls::None,
    )
    .with_port(common::free_port());
    let email = EmailNotifier::new(settings).with_retry(
        RetryPolicy::default()
            .with_max_attempts(2)
            .with_initial_backoff(Duration::from_millis(10))
            .with_timeout(Duration::from_secs(2)),
    );
    assert!(email.send("s", "b").await.is_err());
}

#[test]
fn bad_smtp_settings_name_the_variable() {
    let err = EmailNotifier::from_env(&[
        ("SMTP_HOST", "h"),
        ("SMTP_FROM", "a@example.com"),
        ("SMTP_TO", "b@example.com"),
        ("SMTP_TLS", "ssl"),
    ])
    .unwrap_err();
    assert!(err.to_string().contains("SMTP_TLS=\"ssl\""), "{err}");
    let err =
        EmailNotifier::from_env(&[("SMTP_HOST", "h"), ("SMTP_FROM", "a@example.com")]).unwrap_err();
    assert!(err.to_string().contains("SMTP_TO"), "{err}");
}
