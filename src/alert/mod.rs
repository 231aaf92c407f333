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

/// What an alert is about; kept in [`crate::model`] because the store records it.
pub use crate::model::AlertKind;

use crate::config::Alerts;
use crate::model::{Finding, Severity, Timestamp};
use serde::{Deserialize, Serialize};
use std::time::Duration;

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
    pub raised_at: Timestamp,
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
    pub last_ok: Option<Timestamp>,
    /// `monitor_blind`: the pages and the threshold.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pages: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stale_after: Option<String>,
    /// `findings` of `high` and above: the key of the payment page's screenshot from the scan
    /// that raised it (kept in the database), attached to the e-mail.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub screenshot: Option<String>,
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
}
