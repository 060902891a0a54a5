//! `alerts digest`: the daily or weekly digest of the monitor alerts that
//! fired, read from DataDog and printed or emailed.
//!
//! Exit codes: 0 printed or sent, 1 DataDog or SMTP failure, 2 bad
//! configuration (rules, variables, `--end`).

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::SystemTime;

use clap::{Args, ValueEnum};
use treebeard_alerting::datadog_api::DatadogClient;
use treebeard_alerting::digest::{self, DigestError, Window, render};
use treebeard_alerting::env::ConfigSource;
use treebeard_alerting::notify::{DigestPeriod, EmailNotifier, PiiScrubber};

/// Printed or sent.
const OK: u8 = 0;
/// DataDog or SMTP failed.
const FAILED: u8 = 1;
/// The rules, a variable or an argument is wrong.
const BAD_CONFIG: u8 = 2;

/// Arguments of `alerts digest`.
#[derive(Debug, Args)]
pub struct DigestArgs {
    /// The period: the 24 hours or the 7 days before `--end`.
    #[arg(long, value_enum)]
    period: Period,
    /// End of the period: RFC 3339 (2026-01-15T07:00:00Z) or `now`.
    #[arg(long, default_value = "now")]
    end: String,
    /// Print the digest without sending it (the default).
    #[arg(long, conflicts_with = "send")]
    dry_run: bool,
    /// Email the digest (SMTP_* variables).
    #[arg(long)]
    send: bool,
    /// Print JSON instead of text.
    #[arg(long, conflicts_with = "send")]
    json: bool,
    /// The alert rules: severities and runbooks.
    #[arg(long, default_value = treebeard_alerting::rules::DEFAULT_CONFIG_PATH)]
    file: PathBuf,
}

/// The period of a digest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Period {
    /// The 24 hours before `--end`.
    Daily,
    /// The 7 days before `--end`.
    Weekly,
}

impl From<Period> for DigestPeriod {
    fn from(p: Period) -> Self {
        match p {
            Period::Daily => Self::Daily,
            Period::Weekly => Self::Weekly,
        }
    }
}

/// A failure with its exit code.
struct Failure(u8, String);

fn bad_config(message: impl ToString) -> Failure {
    Failure(BAD_CONFIG, message.to_string())
}

/// Runs `alerts digest`; prints errors and returns the exit code.
pub async fn run(env: &impl ConfigSource, args: &DigestArgs) -> ExitCode {
    match digest(env, args).await {
        Ok(()) => ExitCode::from(OK),
        Err(Failure(code, message)) => {
            eprintln!("error: {message}");
            ExitCode::from(code)
        }
    }
}

async fn digest(env: &impl ConfigSource, args: &DigestArgs) -> Result<(), Failure> {
    // Everything that can be wrong locally is checked before any network call.
    let end = digest::parse_end(&args.end, SystemTime::now()).map_err(bad_config)?;
    let config = crate::sync_cmd::load(env, &args.file).map_err(bad_config)?;
    let client = DatadogClient::from_env(env).map_err(bad_config)?;
    let email = if args.send {
        Some(EmailNotifier::from_env(env).map_err(bad_config)?)
    } else {
        None
    };
    let window = Window::ending(args.period.into(), end);
    let report = digest::collect(&client, &config, window, &PiiScrubber)
        .await
        .map_err(failure)?;
    match email {
        Some(email) => {
            digest::email::send(&email, &report)
                .await
                .map_err(failure)?;
            println!("email: {}", render::subject(&report));
        }
        None if args.json => println!("{}", render::json(&report)),
        None => print!("{}", render::text(&report)),
    }
    Ok(())
}

fn failure(e: DigestError) -> Failure {
    let code = match e {
        DigestError::BadEnd(_) => BAD_CONFIG,
        DigestError::Api(_) | DigestError::Email(_) => FAILED,
    };
    Failure(code, e.to_string())
}
