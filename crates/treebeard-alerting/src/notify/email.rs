//! Email over SMTP (`lettre`): the daily or weekly digest of the alerts
//! that fired.
//!
//! Settings come from `SMTP_HOST`, `SMTP_PORT`, `SMTP_USERNAME`,
//! `SMTP_PASSWORD`, `SMTP_FROM`, `SMTP_TO` (comma-separated) and
//! `SMTP_TLS` (`none`, `starttls`, `tls`); see `docs/alerting.md`.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::{Duration, SystemTime};

use lettre::message::{Mailbox, MultiPart, header::ContentType};
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use super::{Notification, NotifierOptions, NotifyError, Scrubber, notifier_setters};
use crate::env::{self, ConfigSource, EnvError};
use crate::severity::Severity;

/// How the connection to the SMTP server is secured.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum SmtpTls {
    /// Plain text (local relays and tests only).
    None,
    /// Upgrade with STARTTLS (the default; port 587).
    #[default]
    StartTls,
    /// TLS from the first byte (port 465).
    Tls,
}

impl SmtpTls {
    /// The conventional port of this mode.
    pub fn default_port(self) -> u16 {
        match self {
            Self::None => 25,
            Self::StartTls => 587,
            Self::Tls => 465,
        }
    }
}

/// SMTP connection and envelope settings.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SmtpSettings {
    /// Server host.
    pub host: String,
    /// Server port.
    pub port: u16,
    /// User name and password, when the server wants authentication.
    pub credentials: Option<(String, String)>,
    /// Sender.
    pub from: String,
    /// Recipients.
    pub to: Vec<String>,
    /// Transport security.
    pub tls: SmtpTls,
}

impl std::fmt::Debug for SmtpSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmtpSettings")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("username", &self.credentials.as_ref().map(|c| &c.0))
            .field("from", &self.from)
            .field("to", &self.to)
            .field("tls", &self.tls)
            .finish()
    }
}

impl SmtpSettings {
    /// Settings for `host` with the defaults of `tls`.
    pub fn new(
        host: impl Into<String>,
        from: impl Into<String>,
        to: Vec<String>,
        tls: SmtpTls,
    ) -> Self {
        Self {
            host: host.into(),
            port: tls.default_port(),
            credentials: None,
            from: from.into(),
            to,
            tls,
        }
    }

    /// Sets the port (default [`SmtpTls::default_port`]).
    #[must_use]
    pub fn with_port(mut self, port: u16) -> Self {
        self.port = port;
        self
    }

    /// Sets the login.
    #[must_use]
    pub fn with_credentials(
        mut self,
        username: impl Into<String>,
        password: impl Into<String>,
    ) -> Self {
        self.credentials = Some((username.into(), password.into()));
        self
    }

    /// Reads the `SMTP_*` variables.
    pub fn from_env(source: &(impl ConfigSource + ?Sized)) -> Result<Self, EnvError> {
        let required = |var: env::Variable, hint| {
            source.value(var).ok_or(EnvError::Missing {
                name: var.name,
                hint: Some(hint),
            })
        };
        let host = required(env::SMTP_HOST, "the SMTP server of the email digest")?;
        let from = required(env::SMTP_FROM, "the sender address of the digest")?;
        let to_raw = required(env::SMTP_TO, "comma-separated recipients of the digest")?;
        let tls = match source
            .value(env::SMTP_TLS)
            .as_deref()
            .map(str::to_ascii_lowercase)
        {
            None => SmtpTls::default(),
            Some(v) => match v.as_str() {
                "none" => SmtpTls::None,
                "starttls" => SmtpTls::StartTls,
                "tls" => SmtpTls::Tls,
                _ => {
                    return Err(EnvError::Invalid {
                        name: env::SMTP_TLS.name,
                        value: v,
                        expected: "none, starttls or tls",
                    });
                }
            },
        };
        let check_address = |var: env::Variable, value: &str| {
            value
                .parse::<Mailbox>()
                .map(|_| ())
                .map_err(|_| EnvError::Invalid {
                    name: var.name,
                    value: value.to_owned(),
                    expected: "an email address such as alerts@example.com",
                })
        };
        check_address(env::SMTP_FROM, &from)?;
        let to: Vec<String> = to_raw
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect();
        for address in &to {
            check_address(env::SMTP_TO, address)?;
        }
        let mut settings = Self::new(host, from, to, tls);
        if let Some(port) = source.value(env::SMTP_PORT) {
            settings.port = port.trim().parse().map_err(|_| EnvError::Invalid {
                name: env::SMTP_PORT.name,
                value: port,
                expected: "a port number from 1 to 65535",
            })?;
        }
        if let Some(user) = source.value(env::SMTP_USERNAME) {
            let password = source.get(env::SMTP_PASSWORD.name).unwrap_or_default();
            settings.credentials = Some((user, password));
        }
        Ok(settings)
    }
}

/// The period a digest covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DigestPeriod {
    /// The last 24 hours.
    Daily,
    /// The last 7 days.
    Weekly,
}

impl DigestPeriod {
    /// `daily` or `weekly`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Daily => "daily",
            Self::Weekly => "weekly",
        }
    }

    /// The length of the period.
    pub fn duration(self) -> Duration {
        match self {
            Self::Daily => Duration::from_secs(86_400),
            Self::Weekly => Duration::from_secs(7 * 86_400),
        }
    }
}

/// The alerts that fired during one period, summarised per alert, from
/// notifications the caller records.
///
/// The digest of what really fired, read from DataDog's monitor alert
/// history with durations and open alerts, is [`crate::digest::Report`]
/// (`treebeard alerts digest`).
#[derive(Debug, Clone, PartialEq)]
pub struct Digest {
    period: DigestPeriod,
    end: SystemTime,
    fired: Vec<Notification>,
}

impl Digest {
    /// An empty digest for the period ending `end`.
    pub fn new(period: DigestPeriod, end: SystemTime) -> Self {
        Self {
            period,
            end,
            fired: Vec::new(),
        }
    }

    /// Records one fired alert; alerts outside the period are ignored.
    pub fn record(&mut self, n: Notification) {
        let start = self
            .end
            .checked_sub(self.period.duration())
            .unwrap_or(SystemTime::UNIX_EPOCH);
        if n.timestamp >= start && n.timestamp <= self.end {
            self.fired.push(n);
        }
    }

    /// Number of recorded events.
    pub fn len(&self) -> usize {
        self.fired.len()
    }

    /// Whether nothing fired.
    pub fn is_empty(&self) -> bool {
        self.fired.is_empty()
    }

    /// The subject line.
    pub fn subject(&self) -> String {
        format!(
            "[TreeBeard] {} alert digest: {} alert{} fired",
            capitalise(self.period.as_str()),
            self.fired.len(),
            if self.fired.len() == 1 { "" } else { "s" }
        )
    }

    /// The plain-text body, every text passed through `scrubber`.
    pub fn body(&self, scrubber: &dyn Scrubber) -> String {
        let mut by_alert: BTreeMap<(Severity, &str), Vec<&Notification>> = BTreeMap::new();
        for n in &self.fired {
            by_alert
                .entry((n.severity, n.alert.as_str()))
                .or_default()
                .push(n);
        }
        let count = |s| self.fired.iter().filter(|n| n.severity == s).count();
        let mut out = String::new();
        let _ = writeln!(
            out,
            "TreeBeard {} alert digest for the period ending {}",
            self.period.as_str(),
            humantime::format_rfc3339_seconds(self.end)
        );
        let _ = writeln!(
            out,
            "{} alerts fired: {} critical, {} high, {} medium.\n",
            self.fired.len(),
            count(Severity::Critical),
            count(Severity::High),
            count(Severity::Medium)
        );
        if self.fired.is_empty() {
            out.push_str("No alerts fired. Quiet times.\n");
        }
        for ((severity, alert), events) in by_alert {
            let last = events.iter().map(|n| n.timestamp).max().unwrap_or(self.end);
            let _ = writeln!(
                out,
                "[{}] {} — fired {} time{}, last at {}",
                severity.as_str().to_uppercase(),
                scrubber.scrub(alert),
                events.len(),
                if events.len() == 1 { "" } else { "s" },
                humantime::format_rfc3339_seconds(last)
            );
            if let Some(latest) = events.iter().max_by_key(|n| n.timestamp) {
                let _ = writeln!(out, "    {}", scrubber.scrub(&latest.summary));
                if let Some(runbook) = &latest.runbook {
                    let _ = writeln!(out, "    Runbook: {}", scrubber.scrub(runbook));
                }
            }
            out.push('\n');
        }
        out
    }
}

/// `s` with its first letter upper-case (severities in subjects and titles).
pub(crate) fn capitalise(s: &str) -> String {
    let mut chars = s.chars();
    chars
        .next()
        .map(|c| c.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}

/// Sends email through an SMTP server.
#[derive(Clone)]
pub struct EmailNotifier {
    settings: SmtpSettings,
    options: NotifierOptions,
}

impl std::fmt::Debug for EmailNotifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmailNotifier")
            .field("settings", &self.settings)
            .field("retry", &self.options.retry)
            .finish_non_exhaustive()
    }
}

notifier_setters!(
    EmailNotifier,
    retry: "Sets the timeout (per attempt) and retries of transient SMTP errors.",
    scrubber: "Sets the PII scrubber applied to subject and body.",
);

impl EmailNotifier {
    /// A notifier using `settings`.
    pub fn new(settings: SmtpSettings) -> Self {
        Self {
            settings,
            options: NotifierOptions::default(),
        }
    }

    /// Reads the `SMTP_*` variables.
    pub fn from_env(source: &(impl ConfigSource + ?Sized)) -> Result<Self, NotifyError> {
        SmtpSettings::from_env(source)
            .map(Self::new)
            .map_err(|source| NotifyError::Config {
                channel: "email",
                source,
            })
    }

    /// Sends `digest` to the configured recipients.
    pub async fn send_digest(&self, digest: &Digest) -> Result<(), NotifyError> {
        self.send(
            &digest.subject(),
            &digest.body(self.options.scrubber.as_ref()),
        )
        .await
    }

    /// Sends one plain-text email (subject and body are scrubbed).
    pub async fn send(&self, subject: &str, body: &str) -> Result<(), NotifyError> {
        let builder = self.builder(subject)?.header(ContentType::TEXT_PLAIN);
        let message = builder
            .body(self.options.scrubber.scrub(body))
            .map_err(|e| NotifyError::Email(e.to_string()))?;
        self.deliver(message).await
    }

    /// Sends one email with a plain-text body and an HTML alternative
    /// (`multipart/alternative`); subject and both bodies are scrubbed.
    pub async fn send_alternative(
        &self,
        subject: &str,
        text: &str,
        html: &str,
    ) -> Result<(), NotifyError> {
        let scrub = &self.options.scrubber;
        let message = self
            .builder(subject)?
            .multipart(MultiPart::alternative_plain_html(
                scrub.scrub(text),
                scrub.scrub(html),
            ))
            .map_err(|e| NotifyError::Email(e.to_string()))?;
        self.deliver(message).await
    }

    /// Sender, recipients and the scrubbed subject.
    fn builder(&self, subject: &str) -> Result<lettre::message::MessageBuilder, NotifyError> {
        let s = &self.settings;
        let mailbox = |a: &str| {
            a.parse::<Mailbox>()
                .map_err(|e| NotifyError::Email(format!("bad address {a:?}: {e}")))
        };
        let mut builder = Message::builder()
            .from(mailbox(&s.from)?)
            .subject(self.options.scrubber.scrub(subject));
        for to in &s.to {
            builder = builder.to(mailbox(to)?);
        }
        Ok(builder)
    }

    /// Sends `message`, retrying transient SMTP errors.
    async fn deliver(&self, message: Message) -> Result<(), NotifyError> {
        let s = &self.settings;
        let transport = self.transport()?;
        let mut delay = self.options.retry.initial_backoff;
        let mut attempt = 1;
        loop {
            match transport.send(message.clone()).await {
                Ok(_) => return Ok(()),
                Err(e) if e.is_transient() && attempt < self.options.retry.max_attempts => {
                    tracing::debug!(error = %e, attempt, "SMTP send failed, retrying");
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(self.options.retry.max_backoff);
                    attempt += 1;
                }
                Err(e) => {
                    return Err(NotifyError::Email(format!(
                        "sending via {}:{}: {e}",
                        s.host, s.port
                    )));
                }
            }
        }
    }

    fn transport(&self) -> Result<AsyncSmtpTransport<Tokio1Executor>, NotifyError> {
        let s = &self.settings;
        let builder = match s.tls {
            SmtpTls::None => AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&s.host),
            SmtpTls::StartTls => AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(&s.host)
                .map_err(|e| NotifyError::Email(e.to_string()))?,
            SmtpTls::Tls => AsyncSmtpTransport::<Tokio1Executor>::relay(&s.host)
                .map_err(|e| NotifyError::Email(e.to_string()))?,
        };
        let mut builder = builder
            .port(s.port)
            .timeout(Some(self.options.retry.timeout));
        if let Some((user, password)) = &s.credentials {
            builder = builder.credentials(Credentials::new(user.clone(), password.clone()));
        }
        Ok(builder.build())
    }
}
