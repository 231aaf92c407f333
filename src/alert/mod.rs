//! Alerts: what the watch daemon tells security operations, and how it makes sure they hear it.
//!
//! [`outbox`] decides, inside the SQLite transaction that records a scan, which alerts that
//! scan raises (new findings, reminders, a page that keeps failing, a recovery) and queues them
//! in the `outbox` table with one delivery per destination ([`Route`]: the email, each
//! webhook), so an alert can never be lost between "found" and "queued". [`render`] turns a
//! queued alert into an email from templates (the top-level `alerts/` folder, overridable), and
//! [`email`] delivers it over SMTP; [`payload`] turns it into a webhook body (skimwatch's signed
//! JSON, a Slack message, a Teams card) and [`webhook`] posts it. A delivery is marked done only
//! after its destination accepted it, and retried with backoff until then, each destination on
//! its own.

pub mod email;
pub mod outbox;
pub mod payload;
pub mod render;
pub mod webhook;

/// What an alert is about; kept in [`crate::model`] because the store records it.
pub use crate::model::AlertKind;

use crate::config::{Alerts, WebhookUrl};
use crate::model::{Finding, Severity, Timestamp};
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// One alert, as queued in the outbox (JSON) and rendered into an email at delivery time.
/// Everything in it that came from a scanned page is untrusted text.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Alert {
    /// Random, set when the alert is queued: one alert keeps it across retries and
    /// destinations (the webhook body's `id`). Empty in alerts queued before it existed.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub uid: String,
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

    /// Whether it concerns findings (`findings`, `reminder`): those go to a destination only
    /// when one of them reaches its `min_severity`.
    fn about_findings(&self) -> bool {
        matches!(self.kind, AlertKind::Findings | AlertKind::Reminder)
    }

    /// The alert as a destination taking findings from `min_severity` up sees it: the findings
    /// below left out (a `findings` alert left with only reminders becomes a `reminder`), the
    /// picture only when what is left is `high` or above. `None` when nothing is left for it.
    /// Alerts about the monitor (failing, blind, recovered, storage) go everywhere.
    pub fn for_destination(&self, min_severity: Severity) -> Option<Alert> {
        if !self.about_findings() {
            return Some(self.clone());
        }
        let keep = |list: &[Finding]| list.iter().filter(|f| f.severity >= min_severity).cloned().collect::<Vec<_>>();
        let mut alert = Alert { findings: keep(&self.findings), reminders: keep(&self.reminders), ..self.clone() };
        if alert.findings.is_empty() {
            if alert.reminders.is_empty() {
                return None;
            }
            alert.kind = AlertKind::Reminder;
            alert.findings = std::mem::take(&mut alert.reminders);
        }
        if alert.severity() < Some(Severity::High) {
            alert.screenshot = None;
        }
        Some(alert)
    }
}

/// The destination key of the email (`[alerts.email]`) in the outbox.
pub const EMAIL: &str = "email";

/// The destination key of webhook `name` in the outbox.
pub fn webhook_destination(name: &str) -> String {
    format!("webhook:{name}")
}

/// One destination alerts are delivered to, and the least severity of findings it takes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    /// [`EMAIL`] or [`webhook_destination`]; keys its deliveries in the outbox.
    pub destination: String,
    pub min_severity: Severity,
}

/// The destinations the config names, email first, then the webhooks in config order.
pub fn routes(alerts: &Alerts) -> Vec<Route> {
    let email = alerts.email.iter().map(|e| Route { destination: EMAIL.to_string(), min_severity: e.min_severity });
    let hooks = alerts
        .webhooks
        .iter()
        .map(|w| Route { destination: webhook_destination(&w.name), min_severity: w.min_severity });
    email.chain(hooks).collect()
}

/// Where each configured destination delivers, for `status` and logs, without secrets: the
/// mail server as `smtp://host:port`, a webhook as scheme and host (the path of a Slack or Teams
/// URL is its token). A webhook URL in an environment variable is read from it when set.
pub fn targets(alerts: &Alerts) -> Vec<(String, String)> {
    let mut out = Vec::new();
    if let Some(email) = &alerts.email {
        out.push((EMAIL.to_string(), webhook::redacted(&email.smtp)));
    }
    for w in &alerts.webhooks {
        let target = match &w.url {
            WebhookUrl::Literal(url) => webhook::redacted(url),
            WebhookUrl::Env(name) => match std::env::var(name) {
                Ok(url) => webhook::redacted(&url),
                Err(_) => format!("(URL from ${name}, not set here)"),
            },
        };
        out.push((webhook_destination(&w.name), target));
    }
    out
}

/// The alerting rules the outbox applies when a scan is recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlertPolicy {
    /// Where alerts are delivered. Empty: alerts are only logged, and the alerting state is
    /// still kept up to date.
    pub routes: Vec<Route>,
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
            routes: routes(alerts),
            renotify: alerts.renotify,
            failures_before_alert: alerts.failures_before_alert.max(1),
            retry: alerts.retry,
        }
    }

    /// Whether alerts are queued for delivery at all.
    pub fn deliver(&self) -> bool {
        !self.routes.is_empty()
    }

    /// Findings below this reach no destination (`medium` when alerts are only logged).
    pub fn min_severity(&self) -> Severity {
        self.routes.iter().map(|r| r.min_severity).min().unwrap_or(Severity::Medium)
    }

    /// The destinations `alert` goes to: all of them for alerts about the monitor, for
    /// findings those with a finding at or above their `min_severity`.
    pub fn destinations_for(&self, alert: &Alert) -> Vec<&str> {
        let max = alert.severity();
        self.routes
            .iter()
            .filter(|r| !alert.about_findings() || max >= Some(r.min_severity))
            .map(|r| r.destination.as_str())
            .collect()
    }

    /// Delay before attempt `attempts + 1`, after `attempts` (≥ 1) failed ones.
    pub fn backoff(&self, attempts: u32) -> Duration {
        let factor = 2u32.saturating_pow(attempts.saturating_sub(1).min(20));
        self.retry.saturating_mul(factor).min(MAX_RETRY.max(self.retry))
    }
}

/// The error and its causes on one line, for a delivery that failed ("connection refused" is usually in a source).
pub(crate) fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        let c = cause.to_string();
        if !s.contains(&c) {
            s.push_str(": ");
            s.push_str(&c);
        }
        source = cause.source();
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_is_capped() {
        let p = AlertPolicy {
            routes: vec![Route { destination: EMAIL.into(), min_severity: Severity::Medium }],
            renotify: Duration::from_secs(86400),
            failures_before_alert: 3,
            retry: Duration::from_secs(60),
        };
        let secs: Vec<u64> = (1..=8).map(|n| p.backoff(n).as_secs()).collect();
        assert_eq!(secs, vec![60, 120, 240, 480, 960, 1920, 3600, 3600]);
        assert_eq!(p.backoff(1000), MAX_RETRY);
    }

    fn finding(id: &str, severity: Severity) -> Finding {
        Finding { id: id.into(), severity, ..Default::default() }
    }

    #[test]
    fn each_destination_gets_the_findings_at_or_above_its_threshold() {
        let route = |d: &str, s| Route { destination: d.into(), min_severity: s };
        let p = AlertPolicy {
            routes: vec![route(EMAIL, Severity::High), route("webhook:slack", Severity::Low)],
            renotify: Duration::from_secs(86400),
            failures_before_alert: 3,
            retry: Duration::from_secs(60),
        };
        assert_eq!(p.min_severity(), Severity::Low);
        let alert = Alert {
            kind: AlertKind::Findings,
            findings: vec![finding("F1", Severity::Medium)],
            reminders: vec![finding("F2", Severity::High)],
            screenshot: Some("key".into()),
            ..Default::default()
        };
        assert_eq!(p.destinations_for(&alert), vec![EMAIL, "webhook:slack"]);
        // Email sees only the high reminder: a reminder alert, with the picture.
        let mail = alert.for_destination(Severity::High).unwrap();
        assert_eq!(mail.kind, AlertKind::Reminder);
        assert_eq!(mail.findings.iter().map(|f| f.id.as_str()).collect::<Vec<_>>(), ["F2"]);
        assert!(mail.reminders.is_empty() && mail.screenshot.is_some());
        assert_eq!(alert.for_destination(Severity::Low).unwrap(), alert);
        assert_eq!(alert.for_destination(Severity::Critical), None);
        let medium = Alert { reminders: vec![], ..alert.clone() };
        assert_eq!(p.destinations_for(&medium), vec!["webhook:slack"]);
        assert_eq!(medium.for_destination(Severity::Low).unwrap().screenshot, None, "no picture below high");
        // Alerts about the monitor go everywhere.
        let failing = Alert { kind: AlertKind::ScanFailing, ..Default::default() };
        assert_eq!(p.destinations_for(&failing), vec![EMAIL, "webhook:slack"]);
        assert_eq!(failing.for_destination(Severity::Critical).unwrap(), failing);
    }
}
