//! `plan` and `apply` for monitors and dashboards.
//!
//! Only objects TreeBeard owns are considered: monitors tagged
//! [`MANAGED_BY_TAG`], dashboards whose description carries
//! [`crate::dashboards::MANAGED_MARKER`]. Owned objects are matched to the
//! desired ones by name (monitors) or title (dashboards); an owned object
//! that is no longer desired is deleted, a foreign one is never touched.
//! Running `apply` twice changes nothing the second time.

use std::collections::HashMap;
use std::fmt;

use serde_json::Value;

use crate::dashboards::{Dashboard, MANAGED_MARKER};
use crate::datadog_api::{ApiError, DatadogClient};
use crate::monitors::{MANAGED_BY_TAG, Monitor};

/// What kind of object a change is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ObjectKind {
    /// A monitor.
    Monitor,
    /// A dashboard.
    Dashboard,
}

impl fmt::Display for ObjectKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Monitor => "monitor",
            Self::Dashboard => "dashboard",
        })
    }
}

/// What `apply` would do to one object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Create it.
    Create,
    /// Replace it.
    Update,
    /// Delete it (owned, no longer desired).
    Delete,
    /// Leave it.
    Unchanged,
}

/// One planned change.
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    /// The action.
    pub action: Action,
    /// Monitor or dashboard.
    pub kind: ObjectKind,
    /// Name or title.
    pub name: String,
    /// Remote id, when it exists.
    pub id: Option<String>,
    /// The body to send (create and update).
    pub body: Option<Value>,
}

/// The changes `apply` would make.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Plan {
    /// All changes, unchanged objects included.
    pub changes: Vec<Change>,
}

impl Plan {
    /// Number of changes with `action`.
    pub fn count(&self, action: Action) -> usize {
        self.changes.iter().filter(|c| c.action == action).count()
    }

    /// Whether applying would change anything.
    pub fn has_changes(&self) -> bool {
        self.changes.iter().any(|c| c.action != Action::Unchanged)
    }
}

impl fmt::Display for Plan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for c in &self.changes {
            let (sign, verb) = match c.action {
                Action::Create => ('+', "create"),
                Action::Update => ('~', "update"),
                Action::Delete => ('-', "delete"),
                Action::Unchanged => ('=', "unchanged"),
            };
            let id =
                c.id.as_deref()
                    .map(|i| format!(" (id {i})"))
                    .unwrap_or_default();
            writeln!(f, "{sign} {verb} {} `{}`{id}", c.kind, c.name)?;
        }
        write!(
            f,
            "Plan: {} to create, {} to update, {} to delete, {} unchanged.",
            self.count(Action::Create),
            self.count(Action::Update),
            self.count(Action::Delete),
            self.count(Action::Unchanged)
        )
    }
}

fn to_value<T: serde::Serialize>(path: &str, v: &T) -> Result<Value, ApiError> {
    serde_json::to_value(v).map_err(|e| ApiError::Decode {
        path: path.into(),
        message: e.to_string(),
    })
}

/// Pairs desired objects with owned remote ones by name.
fn reconcile(
    kind: ObjectKind,
    desired: Vec<(String, Value)>,
    owned: Vec<(String, String, Value)>,
    same: impl Fn(&Value, &Value) -> bool,
) -> Plan {
    let mut by_name: HashMap<String, Vec<(String, Value)>> = HashMap::new();
    let mut order = Vec::new();
    for (id, name, remote) in owned {
        if !by_name.contains_key(&name) {
            order.push(name.clone());
        }
        by_name.entry(name).or_default().push((id, remote));
    }
    let mut changes = Vec::new();
    for (name, body) in desired {
        let mut matches = by_name.remove(&name).unwrap_or_default().into_iter();
        match matches.next() {
            None => changes.push(Change {
                action: Action::Create,
                kind,
                name: name.clone(),
                id: None,
                body: Some(body),
            }),
            Some((id, remote)) => {
                let action = if same(&body, &remote) {
                    Action::Unchanged
                } else {
                    Action::Update
                };
                changes.push(Change {
                    action,
                    kind,
                    name: name.clone(),
                    id: Some(id),
                    body: (action == Action::Update).then_some(body),
                });
            }
        }
        // Owned duplicates of one name (from an interrupted run) go away.
        changes.extend(matches.map(|(id, _)| delete(kind, &name, id)));
    }
    for name in order {
        for (id, _) in by_name.remove(&name).unwrap_or_default() {
            changes.push(delete(kind, &name, id));
        }
    }
    Plan { changes }
}

fn delete(kind: ObjectKind, name: &str, id: String) -> Change {
    Change {
        action: Action::Delete,
        kind,
        name: name.to_owned(),
        id: Some(id),
        body: None,
    }
}

/// Plans the monitors: compares `desired` with the owned monitors.
pub async fn plan_monitors(client: &DatadogClient, desired: &[Monitor]) -> Result<Plan, ApiError> {
    let owned = client
        .list_monitors(MANAGED_BY_TAG)
        .await?
        .into_iter()
        .map(|m| (m.id.to_string(), m.name, m.raw))
        .collect();
    let desired = desired
        .iter()
        .map(|m| Ok((m.name.clone(), to_value("monitor", m)?)))
        .collect::<Result<_, ApiError>>()?;
    Ok(reconcile(
        ObjectKind::Monitor,
        desired,
        owned,
        monitor_matches,
    ))
}

/// Plans the dashboards: compares `desired` with the owned dashboards.
pub async fn plan_dashboards(
    client: &DatadogClient,
    desired: &[Dashboard],
) -> Result<Plan, ApiError> {
    let owned = client
        .list_dashboards()
        .await?
        .into_iter()
        .filter(|d| {
            d.description
                .as_deref()
                .is_some_and(|s| s.contains(MANAGED_MARKER))
        })
        .map(|d| {
            let summary = serde_json::json!({ "description": d.description });
            (d.id, d.title, summary)
        })
        .collect();
    let desired = desired
        .iter()
        .map(|d| Ok((d.title.clone(), to_value("dashboard", d)?)))
        .collect::<Result<_, ApiError>>()?;
    // The description carries a hash of the content, so equal descriptions
    // mean equal dashboards without fetching each one.
    Ok(reconcile(ObjectKind::Dashboard, desired, owned, |d, r| {
        d.get("description") == r.get("description")
    }))
}

/// What `apply` did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ApplyReport {
    /// Created objects: (name, id).
    pub created: Vec<(String, String)>,
    /// Updated objects.
    pub updated: usize,
    /// Deleted objects.
    pub deleted: usize,
}

/// Carries out `plan`.
pub async fn apply(client: &DatadogClient, plan: &Plan) -> Result<ApplyReport, ApiError> {
    let mut report = ApplyReport::default();
    for c in &plan.changes {
        let body = c.body.as_ref();
        let id = c.id.as_deref().unwrap_or_default();
        match (c.action, c.kind, body) {
            (Action::Create, ObjectKind::Monitor, Some(b)) => {
                let id = client.create_monitor(b).await?;
                report.created.push((c.name.clone(), id.to_string()));
            }
            (Action::Create, ObjectKind::Dashboard, Some(b)) => {
                let id = client.create_dashboard(b).await?;
                report.created.push((c.name.clone(), id));
            }
            (Action::Update, ObjectKind::Monitor, Some(b)) => {
                client.update_monitor(monitor_id(id)?, b).await?;
                report.updated += 1;
            }
            (Action::Update, ObjectKind::Dashboard, Some(b)) => {
                client.update_dashboard(id, b).await?;
                report.updated += 1;
            }
            (Action::Delete, ObjectKind::Monitor, _) => {
                client.delete_monitor(monitor_id(id)?).await?;
                report.deleted += 1;
            }
            (Action::Delete, ObjectKind::Dashboard, _) => {
                client.delete_dashboard(id).await?;
                report.deleted += 1;
            }
            _ => {}
        }
    }
    Ok(report)
}

fn monitor_id(id: &str) -> Result<i64, ApiError> {
    id.parse().map_err(|_| ApiError::Decode {
        path: "/api/v1/monitor".into(),
        message: format!("monitor id {id:?} is not a number"),
    })
}

/// Whether every field we set in `desired` has the same value remotely
/// (DataDog adds fields and defaults of its own; numbers compare by value,
/// tags as sets).
pub fn monitor_matches(desired: &Value, remote: &Value) -> bool {
    subset(desired, remote, "")
}

fn subset(desired: &Value, remote: &Value, key: &str) -> bool {
    match (desired, remote) {
        (Value::Object(d), Value::Object(r)) => d.iter().all(|(k, v)| {
            r.get(k).is_some_and(|rv| subset(v, rv, k)) || (v.is_null() && r.get(k).is_none())
        }),
        (Value::Array(d), Value::Array(r)) if key == "tags" => {
            let mut d: Vec<_> = d.iter().map(Value::to_string).collect();
            let mut r: Vec<_> = r.iter().map(Value::to_string).collect();
            d.sort();
            r.sort();
            d == r
        }
        (Value::Array(d), Value::Array(r)) => {
            d.len() == r.len() && d.iter().zip(r).all(|(a, b)| subset(a, b, ""))
        }
        (Value::Number(d), Value::Number(r)) => d.as_f64() == r.as_f64(),
        _ => desired == remote,
    }
}
