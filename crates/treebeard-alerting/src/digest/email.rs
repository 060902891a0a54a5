//! The digest by email: plain text with an HTML alternative, through the
//! [`EmailNotifier`], which scrubs subject and bodies.

use super::{DigestError, Report, render};
use crate::notify::EmailNotifier;

/// Emails `report` to the notifier's recipients.
pub async fn send(notifier: &EmailNotifier, report: &Report) -> Result<(), DigestError> {
    notifier
        .send_alternative(
            &render::subject(report),
            &render::text(report),
            &render::html(report),
        )
        .await?;
    Ok(())
}
