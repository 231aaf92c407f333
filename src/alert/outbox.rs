//! The outbox: alerts queued in SQLite, and the alerting state that decides what to queue.
//!
//! [`on_scan_recorded`] runs inside the transaction that records a scan (a
//! [`crate::scan::RecordHook`]), so the alerts a scan raises commit or roll back with its
//! findings: a crash can lose neither. It applies the rules: one email per page per scan for
//! findings at or above `min_severity` never mailed before (tracked per page and finding id in
//! `notified_findings`), a reminder once `renotify` has passed, `scan_failing` after
//! `failures_before_alert` failed scans in a row, and an all-clear when such a page recovers.
//! Delivery bookkeeping ([`due`], [`mark_sent`], [`mark_failed`]) and the `status` view live
//! here too; every function takes a plain connection and is synchronous (callers use
//! `spawn_blocking`).

use super::{format_time, parse_time, Alert, AlertKind, AlertPolicy};
use crate::model::Finding;
use crate::store::{NewScan, ScanOutcome};
use rusqlite::{params, Connection, OptionalExtension};
use serde::Serialize;
use std::time::Duration;
use time::OffsetDateTime;

/// A queued alert read back for delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Queued {
    pub id: i64,
    pub alert: Alert,
    pub created_at: String,
    pub attempts: u32,
}

/// Inserts `alert` into the outbox (when the policy delivers) and logs it. Returns the row id.
pub fn queue(conn: &Connection, alert: &Alert, policy: &AlertPolicy, now: OffsetDateTime) -> rusqlite::Result<Option<i64>> {
    tracing::warn!(
        kind = %alert.kind,
        page = alert.page.as_deref().unwrap_or("-"),
        findings = alert.findings.len() + alert.reminders.len(),
        error = alert.error.as_deref().unwrap_or(""),
        queued = policy.deliver,
        "alert"
    );
    if !policy.deliver {
        return Ok(None);
    }
    let json = serde_json::to_string(alert).map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)))?;
    let now = format_time(now);
    conn.execute(
        "INSERT INTO outbox (page, kind, scan_id, alert_json, created_at, next_attempt_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?5)",
        params![alert.page, alert.kind.as_str(), alert.scan_id, json, now],
    )?;
    Ok(Some(conn.last_insert_rowid()))
}

/// Applies the alerting rules to a scan just written in `tx` (scan id `scan_id`) and queues
/// the alerts it raises, in the same transaction. Returns the queued outbox ids.
pub fn on_scan_recorded(
    tx: &Connection,
    scan_id: i64,
    scan: &NewScan,
    policy: &AlertPolicy,
    now: OffsetDateTime,
) -> rusqlite::Result<Vec<i64>> {
    let mut queued = Vec::new();
    let page = scan.page;
    let raised_at = format_time(now);
    let base = Alert {
        page: Some(page.to_string()),
        url: Some(scan.url.to_string()),
        scan_id: Some(scan_id),
        raised_at: raised_at.clone(),
        ..Default::default()
    };
    let (failures, failing_alerted): (u32, bool) = tx
        .query_row(
            "SELECT consecutive_failures, failing_alerted FROM page_health WHERE page = ?1",
            [page],
            |r| Ok((r.get::<_, i64>(0)?.max(0) as u32, r.get::<_, bool>(1)?)),
        )
        .optional()?
        .unwrap_or((0, false));

    match &scan.outcome {
        ScanOutcome::Error { message } => {
            let failures = failures + 1;
            let alert_now = failures >= policy.failures_before_alert && !failing_alerted;
            tx.execute(
                "INSERT INTO page_health (page, consecutive_failures, failing_alerted, last_error)
                 VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (page) DO UPDATE SET consecutive_failures = ?2,
                     failing_alerted = ?3, last_error = ?4",
                params![page, failures, failing_alerted || alert_now, message],
            )?;
            if alert_now {
                let alert = Alert {
                    kind: AlertKind::ScanFailing,
                    error: Some(message.clone()),
                    failures,
                    last_ok: last_ok_scan(tx, page)?,
                    ..base.clone()
                };
                queued.extend(queue(tx, &alert, policy, now)?);
            }
        }
        ScanOutcome::Ok { findings, .. } => {
            tx.execute(
                "INSERT INTO page_health (page, consecutive_failures, failing_alerted, last_error)
                 VALUES (?1, 0, 0, NULL)
                 ON CONFLICT (page) DO UPDATE SET consecutive_failures = 0, failing_alerted = 0,
                     last_error = NULL",
                [page],
            )?;
            if failing_alerted {
                let alert = Alert { kind: AlertKind::Recovered, failures, ..base.clone() };
                queued.extend(queue(tx, &alert, policy, now)?);
            }
            let blind: Option<String> =
                tx.query_row("SELECT value FROM monitor_state WHERE key = 'blind'", [], |r| r.get(0)).optional()?;
            if blind.is_some() {
                tx.execute("DELETE FROM monitor_state WHERE key = 'blind'", [])?;
                let alert = Alert { kind: AlertKind::MonitorRecovered, last_ok: blind, ..base.clone() };
                queued.extend(queue(tx, &alert, policy, now)?);
            }
            queued.extend(findings_alert(tx, &base, findings, policy, now)?);
        }
    }
    Ok(queued)
}

/// The `findings` or `reminder` alert for an ok scan, and the bookkeeping of what was mailed.
fn findings_alert(
    tx: &Connection,
    base: &Alert,
    findings: &[Finding],
    policy: &AlertPolicy,
    now: OffsetDateTime,
) -> rusqlite::Result<Option<i64>> {
    let page = base.page.as_deref().unwrap_or_default();
    // Rows are kept when a finding disappears: a change that comes and goes (an attacker
    // switching the skimmer on and off) is the same finding, and is not mailed again until
    // `renotify` has passed.
    let notified: Vec<(String, String)> = {
        let mut stmt = tx.prepare_cached("SELECT finding_id, last_notified_at FROM notified_findings WHERE page = ?1")?;
        let rows = stmt.query_map([page], |r| Ok((r.get(0)?, r.get(1)?)))?;
        rows.collect::<rusqlite::Result<_>>()?
    };

    let renotify = time::Duration::try_from(policy.renotify).unwrap_or(time::Duration::MAX);
    let mut new = Vec::new();
    let mut due = Vec::new();
    for f in findings.iter().filter(|f| f.severity >= policy.min_severity) {
        match notified.iter().find(|(id, _)| *id == f.id) {
            None => new.push(with_history(tx, page, f)?),
            Some((_, last)) => {
                let last = parse_time(last).unwrap_or(OffsetDateTime::UNIX_EPOCH);
                if now - last >= renotify {
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
    let alert = if new.is_empty() {
        Alert { kind: AlertKind::Reminder, findings: due.clone(), ..base.clone() }
    } else {
        Alert { kind: AlertKind::Findings, findings: new.clone(), reminders: due.clone(), ..base.clone() }
    };
    let id = queue(tx, &alert, policy, now)?;
    let now = format_time(now);
    for f in new.iter().chain(&due) {
        tx.execute(
            "INSERT INTO notified_findings (page, finding_id, first_notified_at, last_notified_at, outbox_id)
             VALUES (?1, ?2, ?3, ?3, ?4)
             ON CONFLICT (page, finding_id) DO UPDATE SET last_notified_at = ?3, outbox_id = ?4",
            params![page, f.id, now, id],
        )?;
    }
    Ok(id)
}

/// The finding with its lifecycle (first/last seen, scans) from the scans recorded so far,
/// this one included (it is written in the same transaction).
fn with_history(tx: &Connection, page: &str, f: &Finding) -> rusqlite::Result<Finding> {
    let (first, last, count): (Option<String>, Option<String>, i64) = tx.query_row(
        "SELECT min(s.started_at), max(s.started_at), count(DISTINCT s.id)
           FROM findings f JOIN scans s ON s.id = f.scan_id
          WHERE s.page = ?1 AND f.finding_id = ?2",
        params![page, f.id],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
    )?;
    let mut f = f.clone();
    if count > 0 {
        f.first_seen = first;
        f.last_seen = last;
        f.seen_count = Some(count as u64);
    }
    Ok(f)
}

fn last_ok_scan(conn: &Connection, page: &str) -> rusqlite::Result<Option<String>> {
    conn.query_row(
        "SELECT finished_at FROM scans WHERE page = ?1 AND status = 'ok' ORDER BY id DESC LIMIT 1",
        [page],
        |r| r.get(0),
    )
    .optional()
}

/// Watch the watcher: when no page has scanned successfully within its threshold (counting
/// from `since`, the daemon's start, at the earliest), queues one `monitor_blind` alert. The
/// next successful scan clears it with a `monitor_recovered` all-clear.
pub fn check_blind(
    conn: &mut Connection,
    pages: &[(String, Duration)],
    since: OffsetDateTime,
    policy: &AlertPolicy,
    now: OffsetDateTime,
) -> rusqlite::Result<Option<i64>> {
    if pages.is_empty() {
        return Ok(None);
    }
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    let already: Option<String> =
        tx.query_row("SELECT value FROM monitor_state WHERE key = 'blind'", [], |r| r.get(0)).optional()?;
    if already.is_some() {
        return Ok(None);
    }
    let mut newest_ok: Option<String> = None;
    for (page, threshold) in pages {
        let last = last_ok_scan(&tx, page)?;
        let reference = last.as_deref().and_then(parse_time).map_or(since, |t| t.max(since));
        let threshold = time::Duration::try_from(*threshold).unwrap_or(time::Duration::MAX);
        if now - reference < threshold {
            return Ok(None); // this page is fresh: the monitor sees
        }
        if last > newest_ok {
            newest_ok = last;
        }
    }
    let shortest = pages.iter().map(|(_, t)| *t).min().unwrap_or_default();
    let alert = Alert {
        kind: AlertKind::MonitorBlind,
        raised_at: format_time(now),
        last_ok: newest_ok.clone(),
        pages: pages.iter().map(|(p, _)| p.clone()).collect(),
        stale_after: Some(humantime::format_duration(shortest).to_string()),
        ..Default::default()
    };
    let id = queue(&tx, &alert, policy, now)?;
    tx.execute(
        "INSERT INTO monitor_state (key, value) VALUES ('blind', ?1)",
        [newest_ok.unwrap_or_else(|| format_time(since))],
    )?;
    tx.commit()?;
    Ok(id)
}

fn read_queued(row: &rusqlite::Row) -> rusqlite::Result<Queued> {
    let json: String = row.get(1)?;
    let alert = serde_json::from_str(&json)
        .map_err(|e| rusqlite::Error::FromSqlConversionFailure(1, rusqlite::types::Type::Text, Box::new(e)))?;
    Ok(Queued { id: row.get(0)?, alert, created_at: row.get(2)?, attempts: row.get::<_, i64>(3)?.max(0) as u32 })
}

/// Unsent alerts due at `now` (all unsent ones when `now` is `None`), oldest first.
pub fn due(conn: &Connection, now: Option<OffsetDateTime>, limit: usize) -> rusqlite::Result<Vec<Queued>> {
    let mut stmt = conn.prepare_cached(
        "SELECT id, alert_json, created_at, attempts FROM outbox
          WHERE sent_at IS NULL AND (?1 IS NULL OR next_attempt_at <= ?1)
          ORDER BY id LIMIT ?2",
    )?;
    let rows = stmt.query_map(params![now.map(format_time), limit as i64], read_queued)?;
    rows.collect()
}

/// When the next unsent alert is due, if any.
pub fn next_due(conn: &Connection) -> rusqlite::Result<Option<OffsetDateTime>> {
    let next: Option<String> =
        conn.query_row("SELECT min(next_attempt_at) FROM outbox WHERE sent_at IS NULL", [], |r| r.get(0))?;
    Ok(next.as_deref().and_then(parse_time))
}

/// Records that the server accepted alert `id`. Only an unsent row changes, so a second call
/// is harmless.
pub fn mark_sent(conn: &Connection, id: i64, now: OffsetDateTime) -> rusqlite::Result<()> {
    conn.execute(
        "UPDATE outbox SET sent_at = ?2, attempts = attempts + 1, last_error = NULL
          WHERE id = ?1 AND sent_at IS NULL",
        params![id, format_time(now)],
    )?;
    Ok(())
}

/// Records a failed attempt and when to try again (backoff by attempt count).
pub fn mark_failed(conn: &Connection, id: i64, error: &str, policy: &AlertPolicy, now: OffsetDateTime) -> rusqlite::Result<()> {
    let attempts: i64 = conn.query_row("SELECT attempts FROM outbox WHERE id = ?1", [id], |r| r.get(0))?;
    let attempts = attempts.max(0) as u32 + 1;
    let wait = time::Duration::try_from(policy.backoff(attempts)).unwrap_or(time::Duration::HOUR);
    conn.execute(
        "UPDATE outbox SET attempts = ?2, last_error = ?3, next_attempt_at = ?4 WHERE id = ?1 AND sent_at IS NULL",
        params![id, attempts, truncate(error, 1000), format_time(now + wait)],
    )?;
    Ok(())
}

fn truncate(s: &str, max: usize) -> &str {
    let mut end = s.len().min(max);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

// ---------------------------------------------------------------------------------------------
// `skimwatch status`
// ---------------------------------------------------------------------------------------------

/// What `skimwatch status --format json` prints.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Status {
    pub pages: Vec<PageStatusView>,
    pub outbox: OutboxView,
    /// Set while the monitor has raised `monitor_blind` and no page has scanned since.
    pub blind_since: Option<String>,
    /// Who holds the daemon lock (`pid 1234`), when a `watch` daemon runs on this database.
    #[serde(default)]
    pub daemon: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct PageStatusView {
    pub name: String,
    pub url: String,
    /// The last successful scan: when it finished, and its id.
    pub last_ok: Option<String>,
    pub last_ok_scan_id: Option<i64>,
    /// The last scan of any outcome.
    pub last_scan: Option<String>,
    pub last_status: Option<String>,
    pub last_error: Option<String>,
    pub consecutive_failures: u32,
    /// Findings of the last successful scan (the unapproved changes still open).
    pub open_findings: Vec<OpenFinding>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct OpenFinding {
    pub id: String,
    pub kind: String,
    pub severity: String,
    pub title: String,
    /// When it was last mailed, if it was.
    pub notified_at: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct OutboxView {
    pub queued: u64,
    pub sent: u64,
    /// The unsent alerts, oldest first.
    pub pending: Vec<PendingAlert>,
    /// When the most recent alert was accepted by the mail server.
    pub last_sent: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct PendingAlert {
    pub id: i64,
    pub kind: String,
    pub page: Option<String>,
    pub created_at: String,
    pub attempts: u32,
    pub last_error: Option<String>,
    pub next_attempt_at: String,
}

/// The monitor's state for `skimwatch status`: per page the last successful scan and open
/// findings, and the outbox.
pub fn status(conn: &Connection, pages: &[(String, String)]) -> rusqlite::Result<Status> {
    let mut out = Status::default();
    for (name, url) in pages {
        let mut view = PageStatusView { name: name.clone(), url: url.clone(), ..Default::default() };
        let last: Option<(String, String, Option<String>)> = conn
            .query_row(
                "SELECT finished_at, status, error FROM scans WHERE page = ?1 ORDER BY id DESC LIMIT 1",
                [name],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .optional()?;
        if let Some((at, status, error)) = last {
            view.last_scan = Some(at);
            view.last_status = Some(status);
            view.last_error = error;
        }
        let ok: Option<(i64, String)> = conn
            .query_row(
                "SELECT id, finished_at FROM scans WHERE page = ?1 AND status = 'ok' ORDER BY id DESC LIMIT 1",
                [name],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        if let Some((id, at)) = ok {
            view.last_ok = Some(at);
            view.last_ok_scan_id = Some(id);
            let mut stmt = conn.prepare_cached(
                "SELECT f.finding_id, f.kind, f.severity, f.title, n.last_notified_at
                   FROM findings f LEFT JOIN notified_findings n ON n.page = ?2 AND n.finding_id = f.finding_id
                  WHERE f.scan_id = ?1 ORDER BY f.position",
            )?;
            let rows = stmt.query_map(params![id, name], |r| {
                Ok(OpenFinding { id: r.get(0)?, kind: r.get(1)?, severity: r.get(2)?, title: r.get(3)?, notified_at: r.get(4)? })
            })?;
            view.open_findings = rows.collect::<rusqlite::Result<_>>()?;
        }
        view.consecutive_failures = conn
            .query_row("SELECT consecutive_failures FROM page_health WHERE page = ?1", [name], |r| r.get::<_, i64>(0))
            .optional()?
            .unwrap_or(0)
            .max(0) as u32;
        out.pages.push(view);
    }
    let (queued, sent, last_sent): (i64, i64, Option<String>) = conn.query_row(
        "SELECT count(*) FILTER (WHERE sent_at IS NULL), count(*) FILTER (WHERE sent_at IS NOT NULL), max(sent_at) FROM outbox",
        [],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
    )?;
    out.outbox.queued = queued.max(0) as u64;
    out.outbox.sent = sent.max(0) as u64;
    out.outbox.last_sent = last_sent;
    let mut stmt = conn.prepare_cached(
        "SELECT id, kind, page, created_at, attempts, last_error, next_attempt_at FROM outbox
          WHERE sent_at IS NULL ORDER BY id LIMIT 100",
    )?;
    let rows = stmt.query_map([], |r| {
        Ok(PendingAlert {
            id: r.get(0)?,
            kind: r.get(1)?,
            page: r.get(2)?,
            created_at: r.get(3)?,
            attempts: r.get::<_, i64>(4)?.max(0) as u32,
            last_error: r.get(5)?,
            next_attempt_at: r.get(6)?,
        })
    })?;
    out.outbox.pending = rows.collect::<rusqlite::Result<_>>()?;
    out.blind_since =
        conn.query_row("SELECT value FROM monitor_state WHERE key = 'blind'", [], |r| r.get(0)).optional()?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{FindingKind, Inventory, Severity};
    use crate::store::Store;

    fn policy() -> AlertPolicy {
        AlertPolicy {
            deliver: true,
            min_severity: Severity::Medium,
            renotify: Duration::from_secs(24 * 3600),
            failures_before_alert: 3,
            retry: Duration::from_secs(60),
        }
    }

    fn t(s: &str) -> OffsetDateTime {
        parse_time(s).unwrap()
    }

    fn finding(id: &str, severity: Severity) -> Finding {
        Finding { id: id.into(), kind: FindingKind::NewScript, severity, title: format!("New script {id}"), ..Default::default() }
    }

    fn inventory() -> Inventory {
        Inventory {
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
                Ok(findings) => ScanOutcome::Ok { inventory: &inv, findings, elapsed_ms: 1 },
                Err(message) => ScanOutcome::Error { message: message.to_string() },
            },
        };
        store.record_scan_with(&scan, |tx, id| on_scan_recorded(tx, id, &scan, policy, t(now))).unwrap().1
    }

    fn queued(store: &mut Store) -> Vec<Queued> {
        store.with_conn("test", |c| due(c, None, 100)).unwrap()
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
        assert_eq!(q[0].alert.last_ok.as_deref(), Some("2025-01-01T00:03:00Z"));

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
        let check = |store: &mut Store, now: &str| store.with_conn("test", |c| check_blind(c, &pages, since, &p, t(now))).unwrap();
        assert_eq!(check(&mut store, "2025-01-01T00:44:59Z"), None);
        assert!(check(&mut store, "2025-01-01T00:45:00Z").is_some());
        assert_eq!(check(&mut store, "2025-01-01T02:00:00Z"), None, "raised once");
        let q = queued(&mut store);
        assert_eq!(q[0].alert.kind, AlertKind::MonitorBlind);
        assert_eq!(q[0].alert.last_ok.as_deref(), Some("2025-01-01T00:00:00Z"));
        assert_eq!(q[0].alert.stale_after.as_deref(), Some("45m"));
        assert!(store.with_conn("test", |c| status(c, &[])).unwrap().blind_since.is_some());

        assert_eq!(scan(&mut store, "2025-01-01T02:01:00Z", Ok(&[]), &p).len(), 1);
        assert_eq!(queued(&mut store)[1].alert.kind, AlertKind::MonitorRecovered);
        assert!(store.with_conn("test", |c| status(c, &[])).unwrap().blind_since.is_none());
    }

    #[test]
    fn delivery_bookkeeping_backs_off_and_never_resends() {
        let mut store = Store::open_in_memory().unwrap();
        let p = policy();
        scan(&mut store, "2025-01-01T00:00:00Z", Ok(&[finding("F1", Severity::High)]), &p);
        let id = queued(&mut store)[0].id;
        let now = t("2025-01-01T00:00:00Z");
        store.with_conn("test", |c| mark_failed(c, id, "connection refused", &p, now)).unwrap();
        store.with_conn("test", |c| mark_failed(c, id, "connection refused", &p, now)).unwrap();
        // Two failures: the next attempt is 2 minutes out.
        assert!(store.with_conn("test", |c| due(c, Some(t("2025-01-01T00:01:59Z")), 10)).unwrap().is_empty());
        assert_eq!(store.with_conn("test", |c| due(c, Some(t("2025-01-01T00:02:00Z")), 10)).unwrap().len(), 1);
        let st = store.with_conn("test", |c| status(c, &[("checkout".into(), "u".into())])).unwrap();
        assert_eq!(st.outbox.queued, 1);
        assert_eq!(st.outbox.pending[0].attempts, 2);
        assert_eq!(st.outbox.pending[0].last_error.as_deref(), Some("connection refused"));
        assert_eq!(st.outbox.pending[0].next_attempt_at, "2025-01-01T00:02:00Z");
        assert_eq!(st.pages[0].open_findings.len(), 1);
        assert!(st.pages[0].open_findings[0].notified_at.is_some());

        store.with_conn("test", |c| mark_sent(c, id, now)).unwrap();
        store.with_conn("test", |c| mark_sent(c, id, t("2025-01-02T00:00:00Z"))).unwrap();
        assert!(queued(&mut store).is_empty());
        let st = store.with_conn("test", |c| status(c, &[])).unwrap();
        assert_eq!((st.outbox.queued, st.outbox.sent), (0, 1));
        assert_eq!(st.outbox.last_sent.as_deref(), Some("2025-01-01T00:00:00Z"), "second mark_sent changed nothing");
    }

    #[test]
    fn without_delivery_nothing_is_queued_but_state_is_kept() {
        let mut store = Store::open_in_memory().unwrap();
        let p = AlertPolicy { deliver: false, ..policy() };
        for i in 0..3 {
            scan(&mut store, &format!("2025-01-01T00:0{i}:00Z"), Err("refused"), &p);
        }
        assert!(queued(&mut store).is_empty());
        let st = store.with_conn("test", |c| status(c, &[("checkout".into(), "u".into())])).unwrap();
        assert_eq!(st.pages[0].consecutive_failures, 3);
        assert_eq!(st.pages[0].last_error.as_deref(), Some("refused"));
        // A scan with findings is recorded, and its findings count as mailed-to-the-log.
        let findings = [finding("F1", Severity::High)];
        assert!(scan(&mut store, "2025-01-01T00:04:00Z", Ok(&findings), &p).is_empty());
        assert!(queued(&mut store).is_empty());
        let st = store.with_conn("test", |c| status(c, &[("checkout".into(), "u".into())])).unwrap();
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
            outcome: ScanOutcome::Ok { inventory: &inv, findings: &findings, elapsed_ms: 1 },
        };
        let r = store.record_scan_with(&scan, |tx, id| {
            on_scan_recorded(tx, id, &scan, &p, t("2025-01-01T00:00:00Z"))?;
            Err::<(), _>(rusqlite::Error::InvalidQuery) // a crash before commit
        });
        assert!(r.is_err());
        assert!(queued(&mut store).is_empty());
        assert!(store.scans(None, 10).unwrap().is_empty());
    }
}
