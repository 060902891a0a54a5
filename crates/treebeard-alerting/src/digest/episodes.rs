//! Firing episodes derived from a monitor's alert events.
//!
//! DataDog writes one event per monitor transition (and per re-notification):
//! `[Triggered]` / `[Re-Triggered]` (status `error`), `[Warn]` (`warning`),
//! `[Recovered]` (`success`). An *episode* runs from the first alert or warn
//! event of a monitor group that was OK to the next recovery; renotifications
//! and alert ↔ warn changes stay inside it. An episode with no recovery
//! before the end of the period is still open.
//!
//! ```
//! use std::time::{Duration, SystemTime};
//! use treebeard_alerting::digest::episodes::{derive, Level, MonitorEvent, Transition};
//! let t = |m: u64| SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000 + m * 60);
//! let ev = |m, transition| MonitorEvent::new(7, "Error rate above 1%", transition, t(m));
//! let episodes = derive(
//!     vec![ev(0, Transition::Alert), ev(30, Transition::Recovered), ev(50, Transition::Warn)],
//!     t(0),
//!     t(60),
//! );
//! assert_eq!(episodes.len(), 2);
//! assert_eq!(episodes[0].duration(t(60)), Duration::from_secs(30 * 60));
//! assert_eq!(episodes[1].level, Level::Warn);
//! assert!(episodes[1].is_open());
//! ```

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

/// What a monitor event says happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transition {
    /// The critical threshold was crossed (or re-notified while crossed).
    Alert,
    /// The warning threshold was crossed.
    Warn,
    /// Back to OK.
    Recovered,
}

impl Transition {
    /// The transition of a DataDog event status (`error`, `warning`/`warn`,
    /// `success`/`ok`); `None` for statuses that are no transition (`info`:
    /// no-data, muting, ...).
    pub fn from_status(status: &str) -> Option<Self> {
        match status.to_ascii_lowercase().as_str() {
            "error" | "failure" => Some(Self::Alert),
            "warning" | "warn" => Some(Self::Warn),
            "success" | "ok" => Some(Self::Recovered),
            _ => None,
        }
    }

    /// The transition named by a monitor event title's prefix
    /// (`[Triggered] name`, `[Warn] name`, `[Recovered] name`), for events
    /// without a usable status.
    pub fn from_title(title: &str) -> Option<Self> {
        let prefix = title.strip_prefix('[')?.split(']').next()?;
        match prefix.to_ascii_lowercase().as_str() {
            "triggered" | "re-triggered" | "alert" => Some(Self::Alert),
            "warn" | "re-warn" | "warning" => Some(Self::Warn),
            "recovered" | "ok" => Some(Self::Recovered),
            _ => None,
        }
    }
}

/// How bad an episode got.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    /// Only the warning threshold was crossed.
    Warn,
    /// The critical threshold was crossed.
    Alert,
}

impl Level {
    /// `warn` or `alert`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Warn => "warn",
            Self::Alert => "alert",
        }
    }
}

/// One monitor alert event, as read from DataDog.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct MonitorEvent {
    /// The monitor id.
    pub monitor_id: i64,
    /// The monitor name (the alert rule's name for TreeBeard monitors).
    pub monitor_name: String,
    /// The group of a multi-alert (`host:web-1`), if any.
    pub group: Option<String>,
    /// What happened.
    pub transition: Transition,
    /// When.
    pub at: SystemTime,
    /// The event's tags (the monitor's tags and the group's).
    pub tags: Vec<String>,
}

impl MonitorEvent {
    /// An event of monitor `id` named `name`, without group or tags.
    pub fn new(id: i64, name: impl Into<String>, transition: Transition, at: SystemTime) -> Self {
        Self {
            monitor_id: id,
            monitor_name: name.into(),
            group: None,
            transition,
            at,
            tags: Vec::new(),
        }
    }

    /// Sets the multi-alert group.
    #[must_use]
    pub fn with_group(mut self, group: impl Into<String>) -> Self {
        self.group = Some(group.into());
        self
    }

    /// Sets the tags.
    #[must_use]
    pub fn with_tags(mut self, tags: impl IntoIterator<Item = impl Into<String>>) -> Self {
        self.tags = tags.into_iter().map(Into::into).collect();
        self
    }
}

/// One firing episode of one monitor group.
#[derive(Debug, Clone, PartialEq)]
pub struct Episode {
    /// The monitor id.
    pub monitor_id: i64,
    /// The monitor name (from its latest event).
    pub monitor_name: String,
    /// The multi-alert group.
    pub group: Option<String>,
    /// The worst level reached.
    pub level: Level,
    /// When it started (possibly before the period: see
    /// [`Episode::started_before`]).
    pub start: SystemTime,
    /// When it recovered; `None` while still open at the end of the period.
    pub end: Option<SystemTime>,
    /// The tags of its events.
    pub tags: Vec<String>,
}

impl Episode {
    /// Whether it was still firing at the end of the period.
    pub fn is_open(&self) -> bool {
        self.end.is_none()
    }

    /// Whether it was already firing when the period began.
    pub fn started_before(&self, period_start: SystemTime) -> bool {
        self.start < period_start
    }

    /// How long it fired, counting an open episode up to `period_end`.
    pub fn duration(&self, period_end: SystemTime) -> Duration {
        self.end
            .unwrap_or(period_end)
            .duration_since(self.start)
            .unwrap_or_default()
    }
}

/// Derives the episodes that overlap `[start, end]` from `events` (in any
/// order; events after `end` are ignored; events before `start` only set
/// the state the period begins in).
///
/// Episodes are sorted by start time, then monitor and group.
pub fn derive(mut events: Vec<MonitorEvent>, start: SystemTime, end: SystemTime) -> Vec<Episode> {
    // Stable: events at the same instant keep DataDog's order.
    events.sort_by_key(|e| e.at);
    let mut open: BTreeMap<(i64, Option<String>), Episode> = BTreeMap::new();
    let mut done = Vec::new();
    for event in events.into_iter().filter(|e| e.at <= end) {
        let key = (event.monitor_id, event.group.clone());
        let level = match event.transition {
            Transition::Alert => Level::Alert,
            Transition::Warn => Level::Warn,
            Transition::Recovered => {
                if let Some(mut episode) = open.remove(&key) {
                    episode.end = Some(event.at);
                    if event.at >= start {
                        done.push(episode);
                    }
                }
                // A recovery without a known start began before the events
                // we read: it overlaps the period from its very beginning.
                else if event.at >= start {
                    done.push(Episode {
                        monitor_id: event.monitor_id,
                        monitor_name: event.monitor_name,
                        group: event.group,
                        level: Level::Alert,
                        start,
                        end: Some(event.at),
                        tags: event.tags,
                    });
                }
                continue;
            }
        };
        let episode = open.entry(key).or_insert_with(|| Episode {
            monitor_id: event.monitor_id,
            monitor_name: event.monitor_name.clone(),
            group: event.group.clone(),
            level,
            start: event.at,
            end: None,
            tags: Vec::new(),
        });
        episode.level = episode.level.max(level);
        episode.monitor_name = event.monitor_name;
        for tag in event.tags {
            if !episode.tags.contains(&tag) {
                episode.tags.push(tag);
            }
        }
    }
    done.extend(open.into_values());
    done.sort_by(|a, b| (a.start, a.monitor_id, &a.group).cmp(&(b.start, b.monitor_id, &b.group)));
    done
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(minutes: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000 + minutes * 60)
    }

    fn ev(id: i64, transition: Transition, minutes: u64) -> MonitorEvent {
        MonitorEvent::new(id, format!("monitor {id}"), transition, t(minutes))
    }

    #[test]
    fn alert_then_recovery_is_one_closed_episode() {
        let e = derive(
            vec![
                ev(1, Transition::Recovered, 40),
                ev(1, Transition::Alert, 10),
            ],
            t(0),
            t(100),
        );
        assert_eq!(e.len(), 1);
        assert_eq!((e[0].start, e[0].end), (t(10), Some(t(40))));
        assert_eq!(e[0].duration(t(100)), Duration::from_secs(1800));
    }

    #[test]
    fn renotifications_and_warn_to_alert_stay_in_one_episode() {
        let e = derive(
            vec![
                ev(1, Transition::Warn, 10),
                ev(1, Transition::Alert, 20),
                ev(1, Transition::Alert, 80),
                ev(1, Transition::Warn, 85),
                ev(1, Transition::Recovered, 90),
            ],
            t(0),
            t(100),
        );
        assert_eq!(e.len(), 1);
        assert_eq!(e[0].level, Level::Alert);
        assert_eq!(e[0].end, Some(t(90)));
    }

    #[test]
    fn unrecovered_episode_is_open_until_the_end() {
        let e = derive(vec![ev(1, Transition::Alert, 90)], t(0), t(100));
        assert!(e[0].is_open());
        assert_eq!(e[0].duration(t(100)), Duration::from_secs(600));
    }

    #[test]
    fn events_before_the_period_set_its_initial_state() {
        let e = derive(
            vec![
                // Over before the period: left out.
                ev(1, Transition::Alert, 0),
                ev(1, Transition::Recovered, 5),
                // Firing across the start: kept, started before.
                ev(2, Transition::Alert, 8),
                ev(2, Transition::Recovered, 30),
            ],
            t(10),
            t(100),
        );
        assert_eq!(e.len(), 1);
        assert_eq!(e[0].monitor_id, 2);
        assert!(e[0].started_before(t(10)));
    }

    #[test]
    fn recovery_without_a_known_start_counts_from_the_period_start() {
        let e = derive(vec![ev(1, Transition::Recovered, 30)], t(10), t(100));
        assert_eq!(e.len(), 1);
        assert_eq!(e[0].start, t(10));
    }

    #[test]
    fn groups_of_one_monitor_are_separate_episodes_and_later_events_are_ignored() {
        let e = derive(
            vec![
                ev(1, Transition::Alert, 10).with_group("host:a"),
                ev(1, Transition::Alert, 20).with_group("host:b"),
                ev(1, Transition::Recovered, 30).with_group("host:a"),
                ev(1, Transition::Recovered, 200).with_group("host:b"),
            ],
            t(0),
            t(100),
        );
        assert_eq!(e.len(), 2);
        assert_eq!(e[0].end, Some(t(30)));
        assert!(e[1].is_open());
    }

    #[test]
    fn statuses_and_titles_map_to_transitions() {
        assert_eq!(Transition::from_status("error"), Some(Transition::Alert));
        assert_eq!(Transition::from_status("warning"), Some(Transition::Warn));
        assert_eq!(
            Transition::from_status("success"),
            Some(Transition::Recovered)
        );
        assert_eq!(Transition::from_status("info"), None);
        assert_eq!(
            Transition::from_title("[Re-Triggered] Error rate"),
            Some(Transition::Alert)
        );
        assert_eq!(
            Transition::from_title("[Recovered] Error rate"),
            Some(Transition::Recovered)
        );
        assert_eq!(Transition::from_title("[No Data] x"), None);
        assert_eq!(Transition::from_title("plain"), None);
    }
}
