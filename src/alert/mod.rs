//! Alerts: what the watch daemon tells security operations, and how it makes sure they hear it.
//!
//! [`outbox`] decides, inside the SQLite transaction that records a scan, which alerts that
//! scan raises (new findings, reminders, a page that keeps failing, a recovery) and queues them
//! in the `outbox` table, so an alert can never be lost between "found" and "queued".
//! [`render`] turns a queued alert into an email from templates (the top-level `alerts/`
//! folder, overridable), and [`email`] delivers it over SMTP. A queued alert is marked sent only
//! after the mail server accepted it, and retried with backoff until then.

pub mod email;
pub mod outbox;
pub mod render;

use crate::config::Alerts;
use crate::model::{Finding, Severity};
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// What an alert is about. Serialised in snake case (stored in the outbox, shown by `status`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertKind {
    /// A scan found changes at or above `min_severity` that were never mailed.
    #[default]
    Findings,
    /// Findings mailed before are still unapproved after `renotify`.
    Reminder,
    /// A page failed to scan `failures_before_alert` times in a row.
    ScanFailing,
    /// A page that was failing scans again (the all-clear for `scan_failing`).
    Recovered,
    /// No page scanned successfully for `stale_after`: the monitor is blind.
    MonitorBlind,
    /// A page scanned again after the monitor was blind.
    MonitorRecovered,
}

impl AlertKind {
    pub fn as_str(self) -> &'static str {
        match self {
            AlertKind::Findings => "findings",
            AlertKind::Reminder => "reminder",
            AlertKind::ScanFailing => "scan_failing",
            AlertKind::Recovered => "recovered",
            AlertKind::MonitorBlind => "monitor_blind",
            AlertKind::MonitorRecovered => "monitor_recovered",
        }
    }
}

impl std::fmt::Display for AlertKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One alert, as queued in the outbox (JSON) and rendered into an email at delivery time.
/// Everything in it that came from a scanned page is untrusted text.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Alert {
    pub kind: AlertKind,
    /// The page concerned; `None` for monitor-wide alerts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub page: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// The scan that raised it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scan_id: Option<i64>,
    /// RFC 3339 UTC.
    pub raised_at: String,
    /// `findings`: the findings never mailed before; `reminder`: the ones still unapproved.
    /// With `first_seen`, `last_seen` and `seen_count` filled in.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub findings: Vec<Finding>,
    /// `findings`: findings mailed before that are due for a reminder, sent along.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reminders: Vec<Finding>,
    /// `scan_failing`: the last error.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// `scan_failing`: failed scans in a row.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub failures: u32,
    /// When the page (or, for monitor alerts, any page) last scanned successfully.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_ok: Option<String>,
    /// `monitor_blind`: the pages and the threshold.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pages: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stale_after: Option<String>,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

impl Alert {
    /// The most severe finding's severity (findings and reminders), if any.
    pub fn severity(&self) -> Option<Severity> {
        self.findings.iter().chain(&self.reminders).map(|f| f.severity).max()
    }
}

/// The alerting rules the outbox applies when a scan is recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlertPolicy {
    /// Queue alerts for delivery (an email transport is configured). When false, alerts are
    /// only logged and the alerting state is still kept up to date.
    pub deliver: bool,
    pub min_severity: Severity,
    pub renotify: Duration,
    pub failures_before_alert: u32,
    /// First retry delay; doubles per failed attempt up to [`MAX_RETRY`].
    pub retry: Duration,
}

/// Longest wait between two delivery attempts of one alert.
pub const MAX_RETRY: Duration = Duration::from_secs(3600);

impl AlertPolicy {
    pub fn from_config(alerts: &Alerts) -> AlertPolicy {
        AlertPolicy {
            deliver: alerts.email.is_some(),
            min_severity: alerts.email.as_ref().map_or(Severity::Medium, |e| e.min_severity),
            renotify: alerts.renotify,
            failures_before_alert: alerts.failures_before_alert.max(1),
            retry: alerts.retry,
        }
    }

    /// Delay before attempt `attempts + 1`, after `attempts` (≥ 1) failed ones.
    pub fn backoff(&self, attempts: u32) -> Duration {
        let factor = 2u32.saturating_pow(attempts.saturating_sub(1).min(20));
        self.retry.saturating_mul(factor).min(MAX_RETRY.max(self.retry))
    }
}

/// Formats a time the way the store does (RFC 3339, UTC, seconds), so that stored times
/// compare correctly as text.
pub fn format_time(t: time::OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    let t = t.replace_nanosecond(0).unwrap_or(t);
    t.format(&time::format_description::well_known::Rfc3339).unwrap_or_default()
}

/// Parses a stored RFC 3339 time.
pub fn parse_time(s: &str) -> Option<time::OffsetDateTime> {
    time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_is_capped() {
        let p = AlertPolicy {
            deliver: true,
            min_severity: Severity::Medium,
            renotify: Duration::from_secs(86400),
            failures_before_alert: 3,
            retry: Duration::from_secs(60),
        };
        let secs: Vec<u64> = (1..=8).map(|n| p.backoff(n).as_secs()).collect();
        assert_eq!(secs, vec![60, 120, 240, 480, 960, 1920, 3600, 3600]);
        assert_eq!(p.backoff(1000), MAX_RETRY);
    }

    #[test]
    fn times_round_trip_and_sort_as_text() {
        let a = parse_time("2025-01-01T00:00:09Z").unwrap();
        let b = a + time::Duration::seconds(1);
        assert_eq!(format_time(a), "2025-01-01T00:00:09Z");
        assert!(format_time(a) < format_time(b));
    }
}
