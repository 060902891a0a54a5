//! `alerts test`: one test notification through one channel.

use std::time::SystemTime;

use treebeard_alerting::env::ConfigSource;
use treebeard_alerting::notify::{
    Digest, DigestPeriod, EmailNotifier, Notification, PagerDutyNotifier, SlackNotifier,
};
use treebeard_alerting::rules::Severity;

use crate::Channel;
use crate::sync_cmd::CmdResult;

fn test_notification(severity: Severity) -> Notification {
    Notification::new(
        "TreeBeard test alert",
        severity,
        "This is a test notification sent by `treebeard alerts test`; no action is needed.",
    )
    .with_source("treebeard-cli")
    .with_detail("sent_by", "treebeard alerts test")
    .with_tags(["test:true"])
}

/// Sends the test notification.
pub async fn test(env: &impl ConfigSource, channel: Channel) -> CmdResult {
    match channel {
        Channel::Pagerduty => {
            let notifier = PagerDutyNotifier::from_env(env).map_err(|e| e.to_string())?;
            let n = test_notification(Severity::Critical);
            let key = notifier.trigger(&n).await.map_err(|e| e.to_string())?;
            println!("pagerduty: triggered (dedup_key {key})");
            notifier.resolve(&key).await.map_err(|e| e.to_string())?;
            println!("pagerduty: resolved (dedup_key {key})");
        }
        Channel::Slack => {
            let notifier = SlackNotifier::from_env(env).map_err(|e| e.to_string())?;
            notifier
                .notify(&test_notification(Severity::High))
                .await
                .map_err(|e| e.to_string())?;
            println!("slack: sent");
        }
        Channel::Email => {
            let notifier = EmailNotifier::from_env(env).map_err(|e| e.to_string())?;
            let n = test_notification(Severity::Medium);
            // The period must end after the test alert's timestamp to include it.
            let mut digest = Digest::new(DigestPeriod::Daily, SystemTime::now());
            digest.record(n);
            notifier
                .send_digest(&digest)
                .await
                .map_err(|e| e.to_string())?;
            println!("email: digest sent");
        }
    }
    Ok(())
}
