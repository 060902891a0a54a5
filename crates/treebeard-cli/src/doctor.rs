//! `treebeard doctor`: the reference's troubleshooting steps, automated.

use std::path::Path;
use std::time::Duration;

use treebeard_alerting::datadog_api::DatadogClient;
use treebeard_alerting::env::{self, ConfigSource};
use treebeard_alerting::notify::{EmailNotifier, NotifyError, PagerDutyNotifier, SlackNotifier};
use treebeard_alerting::validate;

/// Outcome of one check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Pass,
    /// Works, but not as DataDog users expect: said, not a failure.
    Warn,
    Fail,
    Skip,
}

#[derive(Debug)]
struct Check {
    name: &'static str,
    outcome: Outcome,
    detail: String,
}

fn check(name: &'static str, outcome: Outcome, detail: impl Into<String>) -> Check {
    Check {
        name,
        outcome,
        detail: detail.into(),
    }
}

/// Runs every check, prints the table; returns whether nothing failed.
pub async fn run(env: &impl ConfigSource, file: &Path, timeout: Duration) -> bool {
    let http = reqwest::Client::builder()
        .timeout(timeout)
        .build()
        .unwrap_or_default();
    let checks = vec![
        service_tags(env),
        agent(env, &http, timeout).await,
        dogstatsd(env).await,
        sentry(env, &http).await,
        datadog_api(env, timeout).await,
        pagerduty(env),
        slack(env),
        email(env),
        alert_rules(file),
    ];
    let width = checks.iter().map(|c| c.name.len()).max().unwrap_or(0);
    println!("{:width$}  RESULT  DETAIL", "CHECK");
    for c in &checks {
        let label = match c.outcome {
            Outcome::Pass => "PASS",
            Outcome::Warn => "WARN",
            Outcome::Fail => "FAIL",
            Outcome::Skip => "SKIP",
        };
        println!("{:width$}  {label:6}  {}", c.name, c.detail);
    }
    let failed = checks.iter().filter(|c| c.outcome == Outcome::Fail).count();
    let count = |outcome| checks.iter().filter(|c| c.outcome == outcome).count();
    println!(
        "\n{} passed, {} warned, {failed} failed, {} skipped",
        count(Outcome::Pass),
        count(Outcome::Warn),
        count(Outcome::Skip)
    );
    failed == 0
}

/// DataDog's unified service tags: without `DD_ENV` spans, lines and
/// metrics carry no `env` tag (as in DataDog's tracers), and without
/// `DD_SERVICE`/`DD_VERSION` the defaults name every service alike.
fn service_tags(env: &impl ConfigSource) -> Check {
    let unset: Vec<&str> = [env::DD_ENV, env::DD_SERVICE, env::DD_VERSION]
        .into_iter()
        .filter(|var| env.value(*var).is_none())
        .map(|var| var.name)
        .collect();
    if unset.is_empty() {
        return check(
            "service tags",
            Outcome::Pass,
            "DD_ENV, DD_SERVICE and DD_VERSION are set",
        );
    }
    check(
        "service tags",
        Outcome::Warn,
        format!(
            "{} unset: DataDog's unified service tagging needs all three (no env tag without DD_ENV; the service `treebeard-api` and version `0.0.0` otherwise)",
            unset.join(", ")
        ),
    )
}

fn agent_host(env: &impl ConfigSource) -> String {
    env.value(env::DD_AGENT_HOST)
        .unwrap_or_else(|| env::DEFAULT_AGENT_HOST.into())
}

async fn agent(env: &impl ConfigSource, http: &reqwest::Client, timeout: Duration) -> Check {
    const NAME: &str = "datadog agent (/info)";
    let base = env.value(env::DD_TRACE_AGENT_URL).unwrap_or_else(|| {
        let port = env
            .value(env::DD_TRACE_AGENT_PORT)
            .unwrap_or_else(|| env::DEFAULT_TRACE_AGENT_PORT.to_string());
        format!("http://{}:{port}", agent_host(env))
    });
    let answer = match base.strip_prefix("unix://") {
        Some(path) => {
            let url = format!("unix://{path} GET /info");
            match tokio::time::timeout(timeout, unix_http_get(Path::new(path), "/info")).await {
                Ok(Ok(answer)) => Ok((url, answer)),
                Ok(Err(e)) => Err(format!(
                    "{url}: {e} (is the agent running with DD_APM_RECEIVER_SOCKET={path}, and its socket directory shared with this container?)"
                )),
                Err(_) => Err(format!("{url}: no answer within {timeout:?}")),
            }
        }
        None => {
            let url = format!("{}/info", base.trim_end_matches('/'));
            match http.get(&url).send().await {
                Ok(r) => {
                    let status = r.status().as_u16();
                    let body = r.bytes().await.map(|b| b.to_vec()).unwrap_or_default();
                    Ok((url, (status, body)))
                }
                Err(e) => Err(format!(
                    "{url}: {e} (is the agent running? set DD_AGENT_HOST / DD_TRACE_AGENT_PORT or DD_TRACE_AGENT_URL)"
                )),
            }
        }
    };
    match answer {
        Ok((url, (status, body))) if (200..300).contains(&status) => {
            let version = serde_json::from_slice::<serde_json::Value>(&body)
                .ok()
                .and_then(|v| v.get("version").and_then(|v| v.as_str()).map(str::to_owned));
            check(
                NAME,
                Outcome::Pass,
                format!(
                    "{url} answered{}",
                    version
                        .map(|v| format!(" (version {v})"))
                        .unwrap_or_default()
                ),
            )
        }
        Ok((url, (status, _))) => check(NAME, Outcome::Fail, format!("{url} answered {status}")),
        Err(detail) => check(NAME, Outcome::Fail, detail),
    }
}

/// `GET path` over the Unix socket at `socket`: the status code and body.
///
/// HTTP/1.0, so that the server answers without chunked encoding and
/// closes the connection after the body: the answer is read to its end.
async fn unix_http_get(socket: &Path, path: &str) -> std::io::Result<(u16, Vec<u8>)> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::UnixStream::connect(socket).await?;
    stream
        .write_all(format!("GET {path} HTTP/1.0\r\nHost: localhost\r\n\r\n").as_bytes())
        .await?;
    let mut answer = Vec::new();
    stream.take(1 << 20).read_to_end(&mut answer).await?;
    let invalid = || std::io::Error::new(std::io::ErrorKind::InvalidData, "not an HTTP answer");
    let head_end = answer
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(invalid)?;
    let status = std::str::from_utf8(&answer[..head_end])
        .ok()
        .and_then(|head| head.lines().next())
        .filter(|line| line.starts_with("HTTP/1."))
        .and_then(|line| line.split(' ').nth(1))
        .and_then(|code| code.parse::<u16>().ok())
        .ok_or_else(invalid)?;
    Ok((status, answer[head_end + 4..].to_vec()))
}

/// Where DogStatsD lines go: `DD_DOGSTATSD_URL` (`udp://host:port` or
/// `unix:///path`), else `DD_DOGSTATSD_HOST` (or `DD_AGENT_HOST`):`DD_DOGSTATSD_PORT`.
enum StatsdTarget {
    /// Host, port, and the variable the port came from.
    Udp(String, String, &'static str),
    Unix(String),
}

fn statsd_target(env: &impl ConfigSource) -> Result<StatsdTarget, String> {
    let Some(url) = env.value(env::DD_DOGSTATSD_URL) else {
        let port = env
            .value(env::DD_DOGSTATSD_PORT)
            .unwrap_or_else(|| env::DEFAULT_DOGSTATSD_PORT.to_string());
        let host = env
            .value(env::DD_DOGSTATSD_HOST)
            .unwrap_or_else(|| agent_host(env));
        return Ok(StatsdTarget::Udp(host, port, env::DD_DOGSTATSD_PORT.name));
    };
    if let Some(path) = url.strip_prefix("unix://").filter(|p| p.starts_with('/')) {
        return Ok(StatsdTarget::Unix(path.to_owned()));
    }
    url.strip_prefix("udp://")
        .and_then(|rest| rest.rsplit_once(':'))
        .filter(|(host, port)| !host.is_empty() && !port.is_empty())
        .map(|(host, port)| {
            StatsdTarget::Udp(
                host.trim_start_matches('[')
                    .trim_end_matches(']')
                    .to_owned(),
                port.to_owned(),
                env::DD_DOGSTATSD_URL.name,
            )
        })
        .ok_or_else(|| {
            format!(
                "DD_DOGSTATSD_URL={url:?}: expected udp://host:port or unix:///path/to/dsd.socket"
            )
        })
}

const STATSD_LINE: &[u8] = b"treebeard.doctor.check:1|c|#source:doctor";

async fn dogstatsd(env: &impl ConfigSource) -> Check {
    match statsd_target(env) {
        Ok(StatsdTarget::Unix(path)) => dogstatsd_unix(&path),
        Ok(StatsdTarget::Udp(host, port, var)) => dogstatsd_udp(&host, &port, var).await,
        Err(message) => check("dogstatsd", Outcome::Fail, message),
    }
}

/// A datagram to a Unix socket is refused when nothing is bound there, so
/// unlike UDP a pass means the agent's socket exists and took the line.
fn dogstatsd_unix(path: &str) -> Check {
    const NAME: &str = "dogstatsd (unix)";
    let sent = std::os::unix::net::UnixDatagram::unbound()
        .and_then(|socket| socket.send_to(STATSD_LINE, path));
    match sent {
        Ok(_) => check(
            NAME,
            Outcome::Pass,
            format!("sent treebeard.doctor.check to unix://{path} (a socket is bound there)"),
        ),
        Err(e) => check(
            NAME,
            Outcome::Fail,
            format!(
                "sending to unix://{path}: {e} (is the agent running with DD_DOGSTATSD_SOCKET={path}, and its socket directory shared with this container?)"
            ),
        ),
    }
}

async fn dogstatsd_udp(host: &str, port_raw: &str, var: &str) -> Check {
    const NAME: &str = "dogstatsd (UDP)";
    let Ok(port) = port_raw.trim().parse::<u16>() else {
        return check(
            NAME,
            Outcome::Fail,
            format!("{var}: port {port_raw:?} is not a port number"),
        );
    };
    let addr = match tokio::net::lookup_host((host, port))
        .await
        .map(|mut a| a.next())
    {
        Ok(Some(addr)) => addr,
        Ok(None) | Err(_) => {
            return check(NAME, Outcome::Fail, format!("cannot resolve {host}:{port}"));
        }
    };
    let bind = if addr.is_ipv4() {
        "0.0.0.0:0"
    } else {
        "[::]:0"
    };
    let sent = async {
        let socket = tokio::net::UdpSocket::bind(bind).await?;
        socket.send_to(STATSD_LINE, addr).await
    }
    .await;
    match sent {
        Ok(_) => check(
            NAME,
            Outcome::Pass,
            format!(
                "sent treebeard.doctor.check to {addr} (UDP is fire-and-forget: confirm in the agent's dogstatsd stats)"
            ),
        ),
        Err(e) => check(NAME, Outcome::Fail, format!("sending to {addr}: {e}")),
    }
}

async fn sentry(env: &impl ConfigSource, http: &reqwest::Client) -> Check {
    const NAME: &str = "sentry dsn";
    let Some(raw) = env.value(env::SENTRY_DSN) else {
        return check(NAME, Outcome::Skip, "SENTRY_DSN not set");
    };
    let dsn: sentry_types::Dsn = match raw.parse() {
        Ok(dsn) => dsn,
        Err(e) => {
            return check(
                NAME,
                Outcome::Fail,
                format!(
                    "SENTRY_DSN={} does not parse: {e} (expected https://<key>@<host>/<project>)",
                    env::redact(&raw)
                ),
            );
        }
    };
    let url = dsn.envelope_api_url();
    // Any HTTP answer proves the host is reachable; only transport errors fail.
    match http.get(url.as_str()).send().await {
        Ok(r) => check(
            NAME,
            Outcome::Pass,
            format!(
                "project {} at {}:{} reachable (HTTP {})",
                dsn.project_id(),
                dsn.host(),
                dsn.port(),
                r.status().as_u16()
            ),
        ),
        Err(e) => check(
            NAME,
            Outcome::Fail,
            format!("{}:{} unreachable: {e}", dsn.host(), dsn.port()),
        ),
    }
}

async fn datadog_api(env: &impl ConfigSource, timeout: Duration) -> Check {
    const NAME: &str = "datadog api keys";
    if env.value(env::DD_API_KEY).is_none() {
        return check(
            NAME,
            Outcome::Skip,
            "DD_API_KEY not set (needed by monitors/dashboards plan|apply)",
        );
    }
    let client = match DatadogClient::from_env(env) {
        Ok(c) => c.with_retry(
            treebeard_alerting::retry::RetryPolicy::default()
                .with_max_attempts(1)
                .with_timeout(timeout),
        ),
        Err(e) => return check(NAME, Outcome::Fail, e.to_string()),
    };
    match client.validate_keys().await {
        Ok(()) => check(
            NAME,
            Outcome::Pass,
            format!("keys accepted by {}", client.base_url()),
        ),
        Err(e) => check(NAME, Outcome::Fail, e.to_string()),
    }
}

fn notifier_check(
    name: &'static str,
    configured: bool,
    result: Result<String, NotifyError>,
) -> Check {
    match (configured, result) {
        (false, _) => check(name, Outcome::Skip, "not configured"),
        (true, Ok(detail)) => check(name, Outcome::Pass, detail),
        (true, Err(e)) => check(name, Outcome::Fail, e.to_string()),
    }
}

fn pagerduty(env: &impl ConfigSource) -> Check {
    let configured = [env::PAGERDUTY_ROUTING_KEY, env::PAGERDUTY_INTEGRATION_KEY]
        .iter()
        .any(|v| env.value(*v).is_some());
    let result = PagerDutyNotifier::from_env(env).and_then(|_| {
        let key = env
            .value(env::PAGERDUTY_ROUTING_KEY)
            .or_else(|| env.value(env::PAGERDUTY_INTEGRATION_KEY))
            .unwrap_or_default();
        if key.len() == 32 && key.chars().all(|c| c.is_ascii_alphanumeric()) {
            Ok("routing key set (32 characters)".to_owned())
        } else {
            Err(NotifyError::Config {
                channel: "pagerduty",
                source: env::EnvError::Invalid {
                    name: env::PAGERDUTY_ROUTING_KEY.name,
                    value: env::redact(&key),
                    expected: "a 32-character Events API v2 integration key",
                },
            })
        }
    });
    notifier_check("pagerduty", configured, result)
}

fn slack(env: &impl ConfigSource) -> Check {
    let configured = [env::SLACK_WEBHOOK_URL, env::SLACK_BOT_TOKEN]
        .iter()
        .any(|v| env.value(*v).is_some());
    let result = SlackNotifier::from_env(env).map(|n| format!("{n:?}"));
    notifier_check("slack", configured, result)
}

fn email(env: &impl ConfigSource) -> Check {
    let configured = [env::SMTP_HOST, env::SMTP_FROM, env::SMTP_TO]
        .iter()
        .any(|v| env.value(*v).is_some());
    let result = EmailNotifier::from_env(env).map(|n| format!("{n:?}"));
    notifier_check("email (smtp)", configured, result)
}

fn alert_rules(file: &Path) -> Check {
    const NAME: &str = "alert rules";
    if !file.exists() {
        return check(NAME, Outcome::Skip, format!("{} not found", file.display()));
    }
    match validate::load_with_runbooks(file) {
        Ok(config) => check(
            NAME,
            Outcome::Pass,
            format!("{}: {} alerts valid", file.display(), config.alerts.len()),
        ),
        Err(e) => check(
            NAME,
            Outcome::Fail,
            format!(
                "{}: {} (run `treebeard monitors validate`)",
                file.display(),
                e.to_string().lines().next().unwrap_or_default()
            ),
        ),
    }
}
