//! The outbox: the alerting rules that decide what to queue, and delivery bookkeeping.
//!
//! [`on_scan_recorded`] runs inside the transaction that records a scan (a
//! [`crate::scan::RecordHook`]), so the alerts a scan raises commit or roll back with its
//! findings: a crash can lose neither. It applies the rules: one email per page per scan for
//! findings at or above `min_severity` never mailed before (tracked per page and finding id),
//! a reminder once `renotify` has passed, `scan_failing` after `failures_before_alert` failed
//! scans in a row, and an all-clear when such a page recovers. Delivery bookkeeping ([`due`],
//! [`mark_sent`], [`mark_failed`] with its backoff) and the `status` view live here too. The
//! rows themselves are read and written by [`crate::store::outbox`]; everything is synchronous
//! (callers use `spawn_blocking`). The entry points take the clock as an `OffsetDateTime`;
//! what is stored and compared is its [`Timestamp`] (UTC, whole seconds).

use super::{Alert, AlertKind, AlertPolicy};
use crate::model::{Finding, Timestamp};
use crate::store::outbox::PageHealth;
use crate::store::{NewScan, ScanOutcome, ScanTx, Store, StoreError};
use std::time::Duration;
use time::OffsetDateTime;

pub use crate::store::outbox::{OpenFinding, OutboxView, PageStatusView, PendingAlert, Status};

/// A queued alert read back for delivery.
pub type Queued = crate::store::outbox::Queued<Alert>;

/// Longest error text kept with a failed delivery, in bytes.
const MAX_ERROR_BYTES: usize = 1000;

/// Inserts `alert` into the outbox, with a delivery to each destination that takes it, and
/// logs it. Returns the row id (`None` when no destination takes it: alerts only logged).
pub fn queue(tx: &ScanTx, alert: &Alert, policy: &AlertPolicy, now: Timestamp) -> Result<Option<i64>, StoreError> {
    let destinations = policy.destinations_for(alert);
    tracing::warn!(
        kind = %alert.kind,
        page = alert.page.as_deref().unwrap_or("-"),
        findings = alert.findings.len() + alert.reminders.len(),
        error = alert.error.as_deref().unwrap_or(""),
        queued = ?destinations,
        "alert"
    );
    if destinations.is_empty() {
        return Ok(None);
    }
    let mut alert = alert.clone();
    if alert.uid.is_empty() {
        alert.uid = format!("{:032x}", rand::random::<u128>());
    }
    let id = tx.queue_alert(alert.page.as_deref(), alert.kind, alert.scan_id, &alert, now, &destinations)?;
    Ok(Some(id))
}

/// Applies the alerting rules to a scan just written in `tx` (scan id `scan_id`) and queues
/// the alerts it raises, in the same transaction. Returns the queued outbox ids.
pub fn on_scan_recorded(
    tx: &ScanTx,
    scan_id: i64,
    scan: &NewScan,
    policy: &AlertPolicy,
    now: OffsetDateTime,
) -> Result<Vec<i64>, StoreError> {
    let now = Timestamp::from(now);
    let mut queued = Vec::new();
    let page = scan.page;
    let base = Alert {
        page: Some(page.to_string()),
        url: Some(scan.url.to_string()),
        scan_id: Some(scan_id),
        raised_at: now,
        ..Default::default()
    };
    let health = tx.page_health(page)?;
    match &scan.outcome {
        ScanOutcome::Error { message } => {
            let failures = health.consecutive_failures + 1;
            let alert_now = failures >= policy.failures_before_alert && !health.failing_alerted;
            let failing_alerted = health.failing_alerted || alert_now;
            tx.set_page_failing(page, PageHealth { consecutive_failures: failures, failing_alerted }, message)?;
            if alert_now {
                let alert = Alert {
                    kind: AlertKind::ScanFailing,
                    error: Some(message.clone()),
                    failures,
                    last_ok: tx.last_ok_finished_at(page)?,
                    ..base.clone()
                };
                queued.extend(queue(tx, &alert, policy, now)?);
            }
        }
        ScanOutcome::Ok { findings, screenshot, .. } => {
            tx.set_page_healthy(page)?;
            if health.failing_alerted {
                let alert = Alert { kind: AlertKind::Recovered, failures: health.consecutive_failures, ..base.clone() };
                queued.extend(queue(tx, &alert, policy, now)?);
            }
            let blind = tx.blind_since()?;
            if blind.is_some() {
                tx.clear_blind()?;
                let alert = Alert { kind: AlertKind::MonitorRecovered, last_ok: blind, ..base.clone() };
                queued.extend(queue(tx, &alert, policy, now)?);
            }
            let shot = screenshot.map(|(key, _)| key.to_string());
            queued.extend(findings_alert(tx, &base, findings, shot, policy, now)?);
        }
    }
    Ok(queued)
}

/// The `findings` or `reminder` alert for an ok scan, and the bookkeeping of what was mailed.
fn findings_alert(
    tx: &ScanTx,
    base: &Alert,
    findings: &[Finding],
    screenshot: Option<String>,
    policy: &AlertPolicy,
    now: Timestamp,
) -> Result<Option<i64>, StoreError> {
    let page = base.page.as_deref().unwrap_or_default();
    // Rows are kept when a finding disappears: a change that comes and goes (an attacker
    // switching the skimmer on and off) is the same finding, and is not mailed again until
    // `renotify` has passed.
    let notified = tx.notified_findings(page)?;

    let renotify = time::Duration::try_from(policy.renotify).unwrap_or(time::Duration::MAX);
    let mut new = Vec::new();
    let mut due = Vec::new();
    let min_severity = policy.min_severity();
    for f in findings.iter().filter(|f| f.severity >= min_severity) {
        match notified.iter().find(|(id, _)| *id == f.id) {
            None => new.push(with_history(tx, page, f)?),
            Some((_, last)) => {
                if now - *last >= renotify {
                    due.push(with_history(tx, page, f)?);
                }
            }
        }
    }
    if new.is_empty() && due.is_empty() {
        return Ok(None);
    }
    // Most severe first: the subject names the first one.
    new.sort_by_key(|f| std::cmp::Reverse(f.severity));
    due.sort_by_key(|f| std::cmp::Reverse(f.severity));
    let mut alert = if new.is_empty() {
        Alert { kind: AlertKind::Reminder, findings: due.clone(), ..base.clone() }
    } else {
        Alert { kind: AlertKind::Findings, findings: new.clone(), reminders: due.clone(), ..base.clone() }
    };
    // A fake overlay or a replaced iframe is obvious in a picture: attached where it matters.
    if alert.severity() >= Some(crate::model::Severity::High) {
        alert.screenshot = screenshot;
    }
    let id = queue(tx, &alert, policy, now)?;
    for f in new.iter().chain(&due) {
        tx.mark_notified(page, &f.id, now, id)?;
    }
    Ok(id)
}

/// The finding with its lifecycle (first/last seen, scans) from the scans recorded so far,
/// this one included (it is written in the same transaction).
fn with_history(tx: &ScanTx, page: &str, f: &Finding) -> Result<Finding, StoreError> {
    let mut f = f.clone();
    if let Some(h) = tx.finding_history(page, &f.id)? {
        f.first_seen = Some(h.first_seen);
        f.last_seen = Some(h.last_seen);
        f.seen_count = Some(h.scans);
    }
    Ok(f)
}

/// Watch the watcher: when no page has scanned successfully within its threshold (counting
/// from `since`, the daemon's start, at the earliest), queues one `monitor_blind` alert. The
/// next successful scan clears it with a `monitor_recovered` all-clear.
pub fn check_blind(
    store: &mut Store,
    pages: &[(String, Duration)],
    since: OffsetDateTime,
    policy: &AlertPolicy,
    now: OffsetDateTime,
) -> Result<Option<i64>, StoreError> {
    if pages.is_empty() {
        return Ok(None);
    }
    let (since, now) = (Timestamp::from(since), Timestamp::from(now));
    store.write("checking for stale pages", |tx| {
        if tx.blind_since()?.is_some() {
            return Ok(None);
        }
        let mut newest_ok: Option<Timestamp> = None;
        for (page, threshold) in pages {
            let last = tx.last_ok_finished_at(page)?;
            let reference = last.map_or(since, |t| t.max(since));
            let threshold = time::Duration::try_from(*threshold).unwrap_or(time::Duration::MAX);
            if now - reference < threshold {
                return Ok(None); // this page is fresh: the monitor sees
            }
            newest_ok = newest_ok.max(last);
        }
        let shortest = pages.iter().map(|(_, t)| *t).min().unwrap_or_default();
        let alert = Alert {
            kind: AlertKind::MonitorBlind,
            raised_at: now,
            last_ok: newest_ok,
            pages: pages.iter().map(|(p, _)| p.clone()).collect(),
            stale_after: Some(humantime::format_duration(shortest).to_string()),
            ..Default::default()
        };
        let id = queue(tx, &alert, policy, now)?;
        tx.set_blind(newest_ok.unwrap_or(since))?;
        Ok(id)
    })
}

/// Alerts not yet delivered to `destination` due at `now` (all of them when `now` is `None`),
/// oldest first.
pub fn due(
    store: &Store,
    destination: &str,
    now: Option<OffsetDateTime>,
    limit: usize,
) -> Result<Vec<Queued>, StoreError> {
    store.due_deliveries(destination, now.map(Timestamp::from), limit)
}

/// When the next delivery to `destination` is due, if any.
pub fn next_due(store: &Store, destination: &str) -> Result<Option<OffsetDateTime>, StoreError> {
    Ok(store.next_delivery_due(destination)?.map(OffsetDateTime::from))
}

/// Records that `destination` accepted alert `id`. Only an undelivered row changes, so a second
/// call is harmless.
pub fn mark_sent(store: &mut Store, id: i64, destination: &str, now: OffsetDateTime) -> Result<(), StoreError> {
    store.mark_delivered(id, destination, Timestamp::from(now))
}

/// Records a failed attempt to `destination` and when to try again (backoff by its attempt
/// count). Returns when that is.
pub fn mark_failed(
    store: &mut Store,
    id: i64,
    destination: &str,
    error: &str,
    policy: &AlertPolicy,
    now: OffsetDateTime,
) -> Result<OffsetDateTime, StoreError> {
    let attempts = store.delivery_attempts(id, destination)? + 1;
    let wait = time::Duration::try_from(policy.backoff(attempts)).unwrap_or(time::Duration::HOUR);
    let next = Timestamp::from(now) + wait;
    store.reschedule_delivery(id, destination, attempts, crate::text::cut_bytes(error, MAX_ERROR_BYTES), next)?;
    Ok(next.into())
}

/// After a failed attempt showed that `destination` is down (unreachable, timing out,
/// answering 5xx), its other alerts due before `until` wait until then too, uncounted: they are
/// retried together, oldest first, instead of each hitting the dead destination on its own.
pub fn defer(store: &mut Store, destination: &str, until: OffsetDateTime, error: &str) -> Result<usize, StoreError> {
    let why = format!("not attempted: an earlier alert to this destination failed: {error}");
    store.defer_deliveries(destination, Timestamp::from(until), crate::text::cut_bytes(&why, MAX_ERROR_BYTES))
}

/// The monitor's state for `skimwatch status`: per page (name, URL) the last successful scan
/// and open findings, and the outbox.
pub fn status(store: &Store, pages: &[(String, String)]) -> Result<Status, StoreError> {
    store.monitor_status(pages)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alert::EMAIL;
    use crate::model::{FindingKind, Inventory, Severity};
    use crate::store::Store;

    fn policy() -> AlertPolicy {
        AlertPolicy {
            routes: vec![crate::alert::Route { destination: EMAIL.into(), min_severity: Severity::Medium }],
            renotify: Duration::from_secs(24 * 3600),
            failures_before_alert: 3,
            retry: Duration::from_secs(60),
        }
    }

    fn t(s: &str) -> OffsetDateTime {
        Timestamp::parse(s).unwrap().into()
    }

    fn finding(id: &str, severity: Severity) -> Finding {
        Finding {
            id: id.into(),
            kind: FindingKind::NewScript,
            severity,
            title: format!("New script {id}"),
            ..Default::default()
        }
    }

    fn inventory() -> Inventory {
        Inventory {
            cookies: Default::default(),
            url: "https://shop.example/checkout".into(),
            final_url: "https://shop.example/checkout".into(),
            status: 200,
            headers: Default::default(),
            scripts: vec![],
            hosts: vec![],
            payment_fields: vec![],
        }
    }

    /// Records a scan at `now` the way the daemon does and returns what it queued.
    fn scan(store: &mut Store, now: &str, outcome: Result<&[Finding], &str>, policy: &AlertPolicy) -> Vec<i64> {
        let inv = inventory();
        let scan = NewScan {
            page: "checkout",
            url: "https://shop.example/checkout",
            started_at: now.to_string(),
            finished_at: now.to_string(),
            outcome: match outcome {
                Ok(findings) => ScanOutcome::Ok { inventory: &inv, findings, elapsed_ms: 1, screenshot: None },
                Err(message) => ScanOutcome::Error { message: message.to_string() },
            },
        };
        store.record_scan_with(&scan, |tx, id| on_scan_recorded(tx, id, &scan, policy, t(now))).unwrap().1
    }

    fn queued(store: &mut Store) -> Vec<Queued> {
        due(store, EMAIL, None, 100).unwrap()
    }

    #[test]
    fn one_change_is_one_alert_then_a_reminder_after_renotify() {
        let mut store = Store::open_in_memory().unwrap();
        let p = policy();
        let findings = [finding("F1", Severity::High), finding("F2", Severity::Low)];
        let ids = scan(&mut store, "2025-01-01T00:00:00Z", Ok(&findings), &p);
        assert_eq!(ids.len(), 1);
        let q = queued(&mut store);
        assert_eq!(q[0].alert.kind, AlertKind::Findings);
        // Below min_severity: not mailed.
        assert_eq!(q[0].alert.findings.iter().map(|f| f.id.as_str()).collect::<Vec<_>>(), vec!["F1"]);
        assert_eq!(q[0].alert.findings[0].first_seen.as_deref(), Some("2025-01-01T00:00:00Z"));
        assert_eq!(q[0].alert.findings[0].seen_count, Some(1));

        // The same change on the next scans: nothing new to say.
        assert!(scan(&mut store, "2025-01-01T00:15:00Z", Ok(&findings), &p).is_empty());
        // A new change comes with its own email, the old one is not repeated.
        let more = [finding("F1", Severity::High), finding("F3", Severity::Critical)];
        assert_eq!(scan(&mut store, "2025-01-01T12:00:00Z", Ok(&more), &p).len(), 1);
        let q = queued(&mut store);
        assert_eq!(q[1].alert.findings.iter().map(|f| f.id.as_str()).collect::<Vec<_>>(), vec!["F3"]);
        assert!(q[1].alert.reminders.is_empty(), "F1 was mailed less than 24 h ago");
        assert!(scan(&mut store, "2025-01-01T23:59:59Z", Ok(&more), &p).is_empty());
        // 24 h after F1 was mailed: a reminder for F1 only (F3 was mailed 12 h ago).
        assert_eq!(scan(&mut store, "2025-01-02T00:00:00Z", Ok(&more), &p).len(), 1);
        let q = queued(&mut store);
        assert_eq!(q[2].alert.kind, AlertKind::Reminder);
        assert_eq!(q[2].alert.findings.iter().map(|f| f.id.as_str()).collect::<Vec<_>>(), vec!["F1"]);
        assert_eq!(q[2].alert.findings[0].seen_count, Some(5));
        assert_eq!(q[2].alert.findings[0].first_seen.as_deref(), Some("2025-01-01T00:00:00Z"));
    }

    #[test]
    fn failures_in_a_row_raise_scan_failing_once_and_recovery_an_all_clear() {
        let mut store = Store::open_in_memory().unwrap();
        let p = policy();
        scan(&mut store, "2025-01-01T00:00:00Z", Ok(&[]), &p);
        assert!(scan(&mut store, "2025-01-01T00:01:00Z", Err("refused"), &p).is_empty());
        assert!(scan(&mut store, "2025-01-01T00:02:00Z", Err("refused"), &p).is_empty());
        // A success in between resets the count.
        scan(&mut store, "2025-01-01T00:03:00Z", Ok(&[]), &p);
        assert!(scan(&mut store, "2025-01-01T00:04:00Z", Err("refused"), &p).is_empty());
        assert!(scan(&mut store, "2025-01-01T00:05:00Z", Err("refused"), &p).is_empty());
        assert_eq!(scan(&mut store, "2025-01-01T00:06:00Z", Err("timed out"), &p).len(), 1);
        assert!(scan(&mut store, "2025-01-01T00:07:00Z", Err("timed out"), &p).is_empty(), "raised once");
        let q = queued(&mut store);
        assert_eq!(q.len(), 1);
        assert_eq!((q[0].alert.kind, q[0].alert.failures), (AlertKind::ScanFailing, 3));
        assert_eq!(q[0].alert.error.as_deref(), Some("timed out"));
        assert_eq!(q[0].alert.last_ok.map(|t| t.to_string()).as_deref(), Some("2025-01-01T00:03:00Z"));

        assert_eq!(scan(&mut store, "2025-01-01T00:08:00Z", Ok(&[]), &p).len(), 1);
        assert_eq!(queued(&mut store)[1].alert.kind, AlertKind::Recovered);
        assert!(scan(&mut store, "2025-01-01T00:09:00Z", Ok(&[]), &p).is_empty());
    }

    #[test]
    fn blind_monitor_alerts_once_and_clears_on_the_next_good_scan() {
        let mut store = Store::open_in_memory().unwrap();
        let p = policy();
        scan(&mut store, "2025-01-01T00:00:00Z", Ok(&[]), &p);
        let pages = vec![("checkout".to_string(), Duration::from_secs(45 * 60))];
        let since = t("2025-01-01T00:00:00Z");
        let check = |store: &mut Store, now: &str| check_blind(store, &pages, since, &p, t(now)).unwrap();
        assert_eq!(check(&mut store, "2025-01-01T00:44:59Z"), None);
        assert!(check(&mut store, "2025-01-01T00:45:00Z").is_some());
        assert_eq!(check(&mut store, "2025-01-01T02:00:00Z"), None, "raised once");
        let q = queued(&mut store);
        assert_eq!(q[0].alert.kind, AlertKind::MonitorBlind);
        assert_eq!(q[0].alert.last_ok.map(|t| t.to_string()).as_deref(), Some("2025-01-01T00:00:00Z"));
        assert_eq!(q[0].alert.stale_after.as_deref(), Some("45m"));
        assert!(status(&store, &[]).unwrap().blind_since.is_some());

        assert_eq!(scan(&mut store, "2025-01-01T02:01:00Z", Ok(&[]), &p).len(), 1);
        assert_eq!(queued(&mut store)[1].alert.kind, AlertKind::MonitorRecovered);
        assert!(status(&store, &[]).unwrap().blind_since.is_none());
    }

    #[test]
    fn delivery_bookkeeping_backs_off_and_never_resends() {
        let mut store = Store::open_in_memory().unwrap();
        let p = policy();
        scan(&mut store, "2025-01-01T00:00:00Z", Ok(&[finding("F1", Severity::High)]), &p);
        let id = queued(&mut store)[0].id;
        let now = t("2025-01-01T00:00:00Z");
        mark_failed(&mut store, id, EMAIL, "connection refused", &p, now).unwrap();
        mark_failed(&mut store, id, EMAIL, "connection refused", &p, now).unwrap();
        // Two failures: the next attempt is 2 minutes out.
        assert!(due(&store, EMAIL, Some(t("2025-01-01T00:01:59Z")), 10).unwrap().is_empty());
        assert_eq!(due(&store, EMAIL, Some(t("2025-01-01T00:02:00Z")), 10).unwrap().len(), 1);
        let st = status(&store, &[("checkout".into(), "u".into())]).unwrap();
        assert_eq!(st.outbox.queued, 1);
        assert_eq!(st.outbox.pending[0].attempts, 2);
        assert_eq!(st.outbox.pending[0].last_error.as_deref(), Some("connection refused"));
        assert_eq!(st.outbox.pending[0].next_attempt_at, "2025-01-01T00:02:00Z");
        assert_eq!(st.pages[0].open_findings.len(), 1);
        assert!(st.pages[0].open_findings[0].notified_at.is_some());

        mark_sent(&mut store, id, EMAIL, now).unwrap();
        mark_sent(&mut store, id, EMAIL, t("2025-01-02T00:00:00Z")).unwrap();
        assert!(queued(&mut store).is_empty());
        let st = status(&store, &[]).unwrap();
        assert_eq!((st.outbox.queued, st.outbox.sent), (0, 1));
        assert_eq!(st.outbox.last_sent.as_deref(), Some("2025-01-01T00:00:00Z"), "second mark_sent changed nothing");
    }

    #[test]
    fn each_destination_is_delivered_on_its_own_and_once() {
        use crate::alert::Route;
        let mut store = Store::open_in_memory().unwrap();
        let route = |d: &str, s| Route { destination: d.into(), min_severity: s };
        let (slack, json) = ("webhook:slack", "webhook:siem");
        let p = AlertPolicy {
            routes: vec![route(EMAIL, Severity::Medium), route(slack, Severity::Low), route(json, Severity::Critical)],
            ..policy()
        };
        scan(&mut store, "2025-01-01T00:00:00Z", Ok(&[finding("F1", Severity::High)]), &p);
        let now = t("2025-01-01T00:00:00Z");
        let due_to = |store: &Store, d: &str| due(store, d, Some(now), 10).unwrap();
        let id = due_to(&store, EMAIL)[0].id;
        assert_eq!(due_to(&store, slack)[0].id, id, "the same alert, queued once");
        assert!(due_to(&store, json).is_empty(), "below the SIEM's min_severity");
        assert!(!due_to(&store, EMAIL)[0].alert.uid.is_empty(), "an id for receivers to deduplicate on");

        // Slack is down; email gets through.
        mark_failed(&mut store, id, slack, "connection refused", &p, now).unwrap();
        mark_sent(&mut store, id, EMAIL, now).unwrap();
        assert!(due_to(&store, EMAIL).is_empty());
        assert!(due_to(&store, slack).is_empty(), "backing off");
        assert_eq!(due(&store, slack, Some(t("2025-01-01T00:01:00Z")), 10).unwrap()[0].attempts, 1);
        let st = status(&store, &[]).unwrap();
        assert_eq!((st.outbox.queued, st.outbox.sent), (1, 0), "queued until every destination has it");
        let by = |d: &str| st.outbox.destinations.iter().find(|v| v.destination == d).unwrap().clone();
        assert_eq!((by(EMAIL).pending, by(EMAIL).sent), (0, 1));
        assert_eq!((by(slack).pending, by(slack).failed, by(slack).sent), (1, 1, 0));
        assert_eq!(by(slack).last_error.as_deref(), Some("connection refused"));
        assert_eq!(by(slack).next_attempt_at.as_deref(), Some("2025-01-01T00:01:00Z"));
        let pending = &st.outbox.pending[0];
        assert_eq!(pending.deliveries.iter().map(|d| d.destination.as_str()).collect::<Vec<_>>(), [slack]);
        assert_eq!((pending.attempts, pending.last_error.as_deref()), (2, Some("connection refused")));

        // Slack back: delivered once; a second mark changes nothing.
        mark_sent(&mut store, id, slack, t("2025-01-01T00:01:00Z")).unwrap();
        mark_sent(&mut store, id, slack, t("2025-01-01T00:09:00Z")).unwrap();
        assert!(due(&store, slack, None, 10).unwrap().is_empty() && due(&store, EMAIL, None, 10).unwrap().is_empty());
        let st = status(&store, &[]).unwrap();
        assert_eq!((st.outbox.queued, st.outbox.sent), (1 - 1, 1));
        assert_eq!(st.outbox.last_sent.as_deref(), Some("2025-01-01T00:01:00Z"));
        let row = &store.outbox_rows(10).unwrap()[0];
        assert_eq!(row.sent_at.as_deref(), Some("2025-01-01T00:01:00Z"), "sent once the last destination had it");

        // Monitor alerts go to every destination.
        scan(&mut store, "2025-01-01T00:02:00Z", Err("refused"), &p);
        scan(&mut store, "2025-01-01T00:03:00Z", Err("refused"), &p);
        scan(&mut store, "2025-01-01T00:04:00Z", Err("refused"), &p);
        for d in [EMAIL, slack, json] {
            assert_eq!(due(&store, d, None, 10).unwrap().len(), 1, "{d}");
        }
    }

    #[test]
    fn a_destination_found_down_defers_its_other_alerts_uncounted() {
        let mut store = Store::open_in_memory().unwrap();
        let p = policy();
        for (i, now) in ["2025-01-01T00:00:00Z", "2025-01-01T00:00:10Z", "2025-01-01T00:00:20Z"].iter().enumerate() {
            scan(&mut store, now, Ok(&[finding(&format!("F{i}"), Severity::High)]), &p);
        }
        let now = t("2025-01-01T00:00:30Z");
        let q = due(&store, EMAIL, Some(now), 10).unwrap();
        assert_eq!(q.len(), 3);
        let next = mark_failed(&mut store, q[0].id, EMAIL, "HTTP 503", &p, now).unwrap();
        assert_eq!(defer(&mut store, EMAIL, next, "HTTP 503").unwrap(), 2);
        assert!(due(&store, EMAIL, Some(t("2025-01-01T00:01:29Z")), 10).unwrap().is_empty());
        let again = due(&store, EMAIL, Some(t("2025-01-01T00:01:30Z")), 10).unwrap();
        assert_eq!(
            again.iter().map(|q| q.attempts).collect::<Vec<_>>(),
            [1, 0, 0],
            "oldest first, the others uncounted"
        );
        let st = status(&store, &[]).unwrap();
        assert!(st.outbox.pending[1].last_error.as_deref().unwrap().starts_with("not attempted: an earlier alert"));
        // Deferring never brings an alert forward.
        assert_eq!(defer(&mut store, EMAIL, t("2025-01-01T00:00:00Z"), "x").unwrap(), 0);
    }

    #[test]
    fn without_delivery_nothing_is_queued_but_state_is_kept() {
        let mut store = Store::open_in_memory().unwrap();
        let p = AlertPolicy { routes: vec![], ..policy() };
        for i in 0..3 {
            scan(&mut store, &format!("2025-01-01T00:0{i}:00Z"), Err("refused"), &p);
        }
        assert!(queued(&mut store).is_empty());
        let st = status(&store, &[("checkout".into(), "u".into())]).unwrap();
        assert_eq!(st.pages[0].consecutive_failures, 3);
        assert_eq!(st.pages[0].last_error.as_deref(), Some("refused"));
        // A scan with findings is recorded, and its findings count as mailed-to-the-log.
        let findings = [finding("F1", Severity::High)];
        assert!(scan(&mut store, "2025-01-01T00:04:00Z", Ok(&findings), &p).is_empty());
        assert!(queued(&mut store).is_empty());
        let st = status(&store, &[("checkout".into(), "u".into())]).unwrap();
        assert_eq!(st.pages[0].open_findings.len(), 1);
        assert_eq!(st.pages[0].consecutive_failures, 0);
    }

    #[test]
    fn a_failed_transaction_queues_nothing() {
        // The alert is written in the scan's transaction: if recording fails, neither exists.
        let mut store = Store::open_in_memory().unwrap();
        let p = policy();
        let inv = inventory();
        let findings = [finding("F1", Severity::High)];
        let scan = NewScan {
            page: "checkout",
            url: "u",
            started_at: "2025-01-01T00:00:00Z".into(),
            finished_at: "2025-01-01T00:00:00Z".into(),
            outcome: ScanOutcome::Ok { inventory: &inv, findings: &findings, elapsed_ms: 1, screenshot: None },
        };
        let r = store.record_scan_with(&scan, |tx, id| {
            on_scan_recorded(tx, id, &scan, &p, t("2025-01-01T00:00:00Z"))?;
            // A crash before commit.
            Err::<(), _>(StoreError::Corrupt {
                path: ":memory:".into(),
                what: "the test".into(),
                detail: "crash".into(),
            })
        });
        assert!(r.is_err());
        assert!(queued(&mut store).is_empty());
        assert!(store.scans(None, 10).unwrap().is_empty());
    }
}
