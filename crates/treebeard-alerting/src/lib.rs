//! Alerting and dashboards as code for TreeBeard, and the notifiers.
//!
//! - [`rules`]: the model of `infrastructure/alerting-config.yml`, loaded and
//!   checked (with line numbers) by [`validate`].
//! - [`severity`]: the alert severity, shared by rules, routing and notifiers.
//! - [`routing`]: severity → PagerDuty / Slack / email handles.
//! - [`monitors`]: DataDog monitors (API v1) generated from the rules.
//! - [`runbooks`]: runbook names (`docs/runbooks/<name>.md`) and their links.
//! - [`dashboards`]: the four reference dashboards generated from code.
//! - [`datadog_api`] and [`sync`]: `plan`/`apply` against the DataDog API,
//!   touching only objects TreeBeard owns.
//! - [`digest`]: the daily/weekly email digest of what really fired, from
//!   DataDog's monitor alert history.
//! - [`notify`]: PagerDuty Events v2, Slack Block Kit and the SMTP digest,
//!   each text passed through a PII [`notify::Scrubber`].
//!
//! All metric names come from `treebeard-conventions` ([`metrics`]).
#![forbid(unsafe_code)]

pub mod dashboards;
pub mod datadog_api;
pub mod digest;
pub mod env;
pub mod metrics;
pub mod monitors;
pub mod notify;
pub mod query;
pub mod retry;
pub mod routing;
pub mod rules;
pub mod runbooks;
pub mod severity;
pub mod sync;
pub mod validate;
