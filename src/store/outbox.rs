//! The watch daemon's tables: the alert outbox (`outbox`), what was mailed
//! (`notified_findings`), failed scans in a row (`page_health`) and monitor-wide flags
//! (`monitor_state`).
//!
//! The alerting rules (what to queue, backoff) live in [`crate::alert::outbox`]; this module
//! only reads and writes the rows. Alerts are stored as JSON of a type the store does not
//! know: the methods take any `Serialize` and return any `DeserializeOwned`. Times are
//! [`Timestamp`]s, stored in their one RFC 3339 text form like every time in the store; the
//! `status` view shows stored times as the text they are.

use super::history::last_ok_finished_at;
use super::{ScanTx, Store, StoreError};
use crate::model::{AlertKind, FindingKind, PageStatus, Severity, Timestamp};
use rusqlite::types::{ToSqlOutput, Type};
use rusqlite::{params, OptionalExtension, Row, ToSql};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// A time is stored as its text (`2025-03-01T12:00:00Z`), so stored times compare as text.
impl ToSql for Timestamp {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::from(self.to_string()))
    }
}

/// Reads a stored time. One that does not parse (not written by skimwatch) reads as the
/// epoch, i.e. long ago: a reminder falls due, a blind monitor stays blind, and the daemon
/// keeps running instead of failing on every scan.
fn stored_time(text: String) -> Timestamp {
    Timestamp::parse(&text).unwrap_or(Timestamp::UNIX_EPOCH)
}

/// Reads column `idx` of a row as one of a closed set of names (`kind`, `severity`, `status`).
fn named<T>(row: &Row, idx: usize, what: &str, parse: fn(&str) -> Option<T>) -> rusqlite::Result<T> {
    let text: String = row.get(idx)?;
    parse(&text).ok_or_else(|| {
        rusqlite::Error::FromSqlConversionFailure(idx, Type::Text, format!("unknown {what} `{text}`").into())
    })
}

/// A queued alert read back for delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Queued<T> {
    pub id: i64,
    pub alert: T,
    pub created_at: String,
    pub attempts: u32,
}

/// Failed scans in a row of one page, and whether `scan_failing` was raised for them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PageHealth {
    pub consecutive_failures: u32,
    pub failing_alerted: bool,
}

/// Key of the `monitor_state` row that is set while a "monitor blind" alert is outstanding;
/// its value is when a page last scanned successfully.
const BLIND: &str = "blind";

impl ScanTx<'_> {
    /// Inserts `alert` (as JSON) into the outbox, due at once. Returns the row id.
    pub fn queue_alert(
        &self,
        page: Option<&str>,
        kind: AlertKind,
        scan_id: Option<i64>,
        alert: &impl Serialize,
        now: Timestamp,
    ) -> Result<i64, StoreError> {
        let json = serde_json::to_string(alert)
            .map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)))
            .map_err(self.err())?;
        self.conn
            .execute(
                "INSERT INTO outbox (page, kind, scan_id, alert_json, created_at, next_attempt_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?5)",
                params![page, kind.as_str(), scan_id, json, now],
            )
            .map_err(self.err())?;
        Ok(self.conn.last_insert_rowid())
    }

    /// The failure count of `page` (zero for a page never seen failing).
    pub fn page_health(&self, page: &str) -> Result<PageHealth, StoreError> {
        let row = self
            .conn
            .query_row("SELECT consecutive_failures, failing_alerted FROM page_health WHERE page = ?1", [page], |r| {
                Ok(PageHealth { consecutive_failures: r.get::<_, i64>(0)?.max(0) as u32, failing_alerted: r.get(1)? })
            })
            .optional()
            .map_err(self.err())?;
        Ok(row.unwrap_or_default())
    }

    /// Records a failed scan of `page`: its failure count, whether `scan_failing` was raised,
    /// and the error.
    pub fn set_page_failing(&self, page: &str, health: PageHealth, error: &str) -> Result<(), StoreError> {
        self.conn
            .execute(
                "INSERT INTO page_health (page, consecutive_failures, failing_alerted, last_error)
                 VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (page) DO UPDATE SET consecutive_failures = ?2,
                     failing_alerted = ?3, last_error = ?4",
                params![page, health.consecutive_failures, health.failing_alerted, error],
            )
            .map_err(self.err())?;
        Ok(())
    }

    /// Records a successful scan of `page`: no failures in a row any more.
    pub fn set_page_healthy(&self, page: &str) -> Result<(), StoreError> {
        self.conn
            .execute(
                "INSERT INTO page_health (page, consecutive_failures, failing_alerted, last_error)
                 VALUES (?1, 0, 0, NULL)
                 ON CONFLICT (page) DO UPDATE SET consecutive_failures = 0, failing_alerted = 0,
                     last_error = NULL",
                [page],
            )
            .map_err(self.err())?;
        Ok(())
    }

    /// Set while a "monitor blind" alert is outstanding: when a page last scanned successfully.
    pub fn blind_since(&self) -> Result<Option<Timestamp>, StoreError> {
        let since: Option<String> = self
            .conn
            .query_row("SELECT value FROM monitor_state WHERE key = ?1", [BLIND], |r| r.get(0))
            .optional()
            .map_err(self.err())?;
        Ok(since.map(stored_time))
    }

    pub fn set_blind(&self, since: Timestamp) -> Result<(), StoreError> {
        self.conn
            .execute("INSERT INTO monitor_state (key, value) VALUES (?1, ?2)", params![BLIND, since])
            .map_err(self.err())?;
        Ok(())
    }

    pub fn clear_blind(&self) -> Result<(), StoreError> {
        self.conn.execute("DELETE FROM monitor_state WHERE key = ?1", [BLIND]).map_err(self.err())?;
        Ok(())
    }

    /// The findings of `page` mailed before: (finding id, when it was last mailed).
    pub fn notified_findings(&self, page: &str) -> Result<Vec<(String, Timestamp)>, StoreError> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT finding_id, last_notified_at FROM notified_findings WHERE page = ?1")
            .map_err(self.err())?;
        let rows = stmt.query_map([page], |r| Ok((r.get(0)?, stored_time(r.get(1)?)))).map_err(self.err())?;
        rows.collect::<rusqlite::Result<_>>().map_err(self.err())
    }

    /// Records that finding `finding_id` of `page` was mailed (or logged) at `now`, in outbox
    /// row `outbox_id` (`None` when alerts are only logged).
    pub fn mark_notified(
        &self,
        page: &str,
        finding_id: &str,
        now: Timestamp,
        outbox_id: Option<i64>,
    ) -> Result<(), StoreError> {
        self.conn
            .execute(
                "INSERT INTO notified_findings (page, finding_id, first_notified_at, last_notified_at, outbox_id)
                 VALUES (?1, ?2, ?3, ?3, ?4)
                 ON CONFLICT (page, finding_id) DO UPDATE SET last_notified_at = ?3, outbox_id = ?4",
                params![page, finding_id, now, outbox_id],
            )
            .map_err(self.err())?;
        Ok(())
    }

    /// Like [`Store::finding_history`], and sees the scan written in this transaction.
    pub fn finding_history(&self, page: &str, finding_id: &str) -> Result<Option<super::FindingHistory>, StoreError> {
        super::history::finding_history(self.conn, page, finding_id).map_err(self.err())
    }

    /// When the latest successful scan of `page` finished.
    pub fn last_ok_finished_at(&self, page: &str) -> Result<Option<Timestamp>, StoreError> {
        Ok(last_ok_finished_at(self.conn, page).map_err(self.err())?.map(stored_time))
    }
}

impl Store {
    /// Unsent alerts due at `now` (all unsent ones when `now` is `None`), oldest first.
    pub fn due_alerts<T: DeserializeOwned>(
        &self,
        now: Option<Timestamp>,
        limit: usize,
    ) -> Result<Vec<Queued<T>>, StoreError> {
        let action = "reading the outbox";
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT id, alert_json, created_at, attempts FROM outbox
                  WHERE sent_at IS NULL AND (?1 IS NULL OR next_attempt_at <= ?1)
                  ORDER BY id LIMIT ?2",
            )
            .map_err(self.sqlite_err(action))?;
        let rows = stmt
            .query_map(params![now, limit as i64], |row| {
                let json: String = row.get(1)?;
                let alert = serde_json::from_str(&json).map_err(|e| {
                    rusqlite::Error::FromSqlConversionFailure(1, rusqlite::types::Type::Text, Box::new(e))
                })?;
                Ok(Queued {
                    id: row.get(0)?,
                    alert,
                    created_at: row.get(2)?,
                    attempts: row.get::<_, i64>(3)?.max(0) as u32,
                })
            })
            .map_err(self.sqlite_err(action))?;
        rows.collect::<rusqlite::Result<_>>().map_err(self.sqlite_err(action))
    }

    /// When the next unsent alert is due, if any. A time that does not parse counts as none
    /// (the daemon then polls): read as the epoch it would be due at once, but never match
    /// the text comparison of [`Store::due_alerts`], and the daemon would spin.
    pub fn next_alert_due(&self) -> Result<Option<Timestamp>, StoreError> {
        let next: Option<String> = self
            .conn
            .query_row("SELECT min(next_attempt_at) FROM outbox WHERE sent_at IS NULL", [], |r| r.get(0))
            .map_err(self.sqlite_err("reading the outbox"))?;
        Ok(next.as_deref().and_then(Timestamp::parse))
    }

    /// Records that the server accepted alert `id`. Only an unsent row changes, so a second call
    /// is harmless.
    pub fn mark_alert_sent(&self, id: i64, now: Timestamp) -> Result<(), StoreError> {
        self.conn
            .execute(
                "UPDATE outbox SET sent_at = ?2, attempts = attempts + 1, last_error = NULL
                  WHERE id = ?1 AND sent_at IS NULL",
                params![id, now],
            )
            .map_err(self.sqlite_err("marking an alert sent"))?;
        Ok(())
    }

    /// Delivery attempts of alert `id` so far.
    pub fn alert_attempts(&self, id: i64) -> Result<u32, StoreError> {
        let attempts: i64 = self
            .conn
            .query_row("SELECT attempts FROM outbox WHERE id = ?1", [id], |r| r.get(0))
            .map_err(self.sqlite_err("recording a failed delivery"))?;
        Ok(attempts.max(0) as u32)
    }

    /// Records a failed attempt of unsent alert `id`: the attempt count, the error, and when to
    /// try again.
    pub fn reschedule_alert(
        &self,
        id: i64,
        attempts: u32,
        error: &str,
        next_attempt_at: Timestamp,
    ) -> Result<(), StoreError> {
        self.conn
            .execute(
                "UPDATE outbox SET attempts = ?2, last_error = ?3, next_attempt_at = ?4 WHERE id = ?1 AND sent_at IS NULL",
                params![id, attempts, error, next_attempt_at],
            )
            .map_err(self.sqlite_err("recording a failed delivery"))?;
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// `skimwatch status`
// ---------------------------------------------------------------------------------------------

/// What `skimwatch status --format json` prints.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Status {
    pub pages: Vec<PageStatusView>,
    pub outbox: OutboxView,
    /// Set while the monitor has raised `monitor_blind` and no page has scanned since.
    pub blind_since: Option<String>,
    /// Who holds the daemon lock (`pid 1234`), when a `watch` daemon runs on this database.
    #[serde(default)]
    pub daemon: Option<String>,
    /// The database's size, its script bodies and the last prune.
    #[serde(default)]
    pub storage: super::prune::StorageInfo,
    /// When several databases were merged ([`Status::merge`], a sharded fleet): each one's
    /// path, daemon, blind state and storage; empty for one database.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub databases: Vec<DatabaseView>,
}

/// One database of a merged [`Status`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DatabaseView {
    pub path: String,
    pub daemon: Option<String>,
    pub blind_since: Option<String>,
    pub storage: super::prune::StorageInfo,
}

impl Status {
    /// One view over several databases (the shards of a fleet, each with its own file), for
    /// the same configured pages: each page as the database that scanned it last saw it, the
    /// outboxes added up, blind when any database is blind (since the earliest). A page no
    /// database scanned is shown as never scanned.
    pub fn merge(parts: Vec<(String, Status)>) -> Status {
        let mut merged = Status::default();
        let Some((_, first)) = parts.first() else { return merged };
        for (i, page) in first.pages.iter().enumerate() {
            let newest = parts
                .iter()
                .filter_map(|(_, s)| s.pages.get(i).filter(|p| p.name == page.name))
                .max_by(|a, b| a.last_scan.cmp(&b.last_scan))
                .unwrap_or(page);
            merged.pages.push(newest.clone());
        }
        for (path, s) in &parts {
            merged.outbox.queued += s.outbox.queued;
            merged.outbox.sent += s.outbox.sent;
            merged.outbox.pending.extend(s.outbox.pending.iter().cloned());
            merged.outbox.last_sent = merged.outbox.last_sent.clone().max(s.outbox.last_sent.clone());
            merged.blind_since = match (merged.blind_since.take(), s.blind_since.clone()) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            merged.databases.push(DatabaseView {
                path: path.clone(),
                daemon: s.daemon.clone(),
                blind_since: s.blind_since.clone(),
                storage: s.storage.clone(),
            });
        }
        merged.outbox.pending.sort_by(|a, b| a.created_at.cmp(&b.created_at));
        merged.daemon = parts.iter().find_map(|(_, s)| s.daemon.clone());
        merged.storage = first.storage.clone();
        merged
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PageStatusView {
    pub name: String,
    pub url: String,
    /// The last successful scan: when it finished, and its id.
    pub last_ok: Option<String>,
    pub last_ok_scan_id: Option<i64>,
    /// The last scan of any outcome.
    pub last_scan: Option<String>,
    pub last_status: Option<PageStatus>,
    pub last_error: Option<String>,
    pub consecutive_failures: u32,
    /// Findings of the last successful scan (the unapproved changes still open).
    pub open_findings: Vec<OpenFinding>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpenFinding {
    pub id: String,
    pub kind: FindingKind,
    pub severity: Severity,
    pub title: String,
    /// When it was last mailed, if it was.
    pub notified_at: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutboxView {
    pub queued: u64,
    pub sent: u64,
    /// The unsent alerts, oldest first.
    pub pending: Vec<PendingAlert>,
    /// When the most recent alert was accepted by the mail server.
    pub last_sent: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingAlert {
    pub id: i64,
    pub kind: AlertKind,
    pub page: Option<String>,
    pub created_at: String,
    pub attempts: u32,
    pub last_error: Option<String>,
    pub next_attempt_at: String,
}

/// Upper bound of pending alerts listed by `status`.
const MAX_PENDING: i64 = 100;

impl Store {
    /// The monitor's state for `skimwatch status`: per page (name, URL) the last successful
    /// scan and open findings, and the outbox.
    pub fn monitor_status(&self, pages: &[(String, String)]) -> Result<Status, StoreError> {
        let err = || self.sqlite_err("reading the monitor's status");
        let mut out = Status::default();
        for (name, url) in pages {
            out.pages.push(self.page_status(name, url).map_err(err())?);
        }
        out.outbox = self.outbox_view().map_err(err())?;
        out.blind_since = self
            .conn
            .query_row("SELECT value FROM monitor_state WHERE key = ?1", [BLIND], |r| r.get(0))
            .optional()
            .map_err(err())?;
        out.storage = self.storage_info()?;
        Ok(out)
    }

    fn page_status(&self, name: &str, url: &str) -> rusqlite::Result<PageStatusView> {
        let mut view = PageStatusView { name: name.to_string(), url: url.to_string(), ..Default::default() };
        let last: Option<(String, PageStatus, Option<String>)> = self
            .conn
            .query_row(
                "SELECT finished_at, status, error FROM scans WHERE page = ?1 ORDER BY id DESC LIMIT 1",
                [name],
                |r| Ok((r.get(0)?, named(r, 1, "scan status", PageStatus::parse)?, r.get(2)?)),
            )
            .optional()?;
        if let Some((at, status, error)) = last {
            view.last_scan = Some(at);
            view.last_status = Some(status);
            view.last_error = error;
        }
        let ok: Option<(i64, String)> = self
            .conn
            .query_row(
                "SELECT id, finished_at FROM scans WHERE page = ?1 AND status = 'ok' ORDER BY id DESC LIMIT 1",
                [name],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        if let Some((id, at)) = ok {
            view.last_ok = Some(at);
            view.last_ok_scan_id = Some(id);
            let mut stmt = self.conn.prepare_cached(
                "SELECT f.finding_id, f.kind, f.severity, f.title, n.last_notified_at
                   FROM findings f LEFT JOIN notified_findings n ON n.page = ?2 AND n.finding_id = f.finding_id
                  WHERE f.scan_id = ?1 ORDER BY f.position",
            )?;
            let rows = stmt.query_map(params![id, name], |r| {
                Ok(OpenFinding {
                    id: r.get(0)?,
                    kind: named(r, 1, "finding kind", FindingKind::parse)?,
                    severity: named(r, 2, "severity", Severity::parse)?,
                    title: r.get(3)?,
                    notified_at: r.get(4)?,
                })
            })?;
            view.open_findings = rows.collect::<rusqlite::Result<_>>()?;
        }
        view.consecutive_failures = self
            .conn
            .query_row("SELECT consecutive_failures FROM page_health WHERE page = ?1", [name], |r| r.get::<_, i64>(0))
            .optional()?
            .unwrap_or(0)
            .max(0) as u32;
        Ok(view)
    }

    fn outbox_view(&self) -> rusqlite::Result<OutboxView> {
        let (queued, sent, last_sent): (i64, i64, Option<String>) = self.conn.query_row(
            "SELECT count(*) FILTER (WHERE sent_at IS NULL), count(*) FILTER (WHERE sent_at IS NOT NULL), max(sent_at) FROM outbox",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )?;
        let mut stmt = self.conn.prepare_cached(
            "SELECT id, kind, page, created_at, attempts, last_error, next_attempt_at FROM outbox
              WHERE sent_at IS NULL ORDER BY id LIMIT ?1",
        )?;
        let rows = stmt.query_map([MAX_PENDING], |r| {
            Ok(PendingAlert {
                id: r.get(0)?,
                kind: named(r, 1, "alert kind", AlertKind::parse)?,
                page: r.get(2)?,
                created_at: r.get(3)?,
                attempts: r.get::<_, i64>(4)?.max(0) as u32,
                last_error: r.get(5)?,
                next_attempt_at: r.get(6)?,
            })
        })?;
        Ok(OutboxView {
            queued: queued.max(0) as u64,
            sent: sent.max(0) as u64,
            pending: rows.collect::<rusqlite::Result<_>>()?,
            last_sent,
        })
    }
}

// ---------------------------------------------------------------------------------------------
// the outbox as evidence
// ---------------------------------------------------------------------------------------------

/// The columns of the `outbox` table, in schema order (the order of [`OutboxRow::values`]).
pub const OUTBOX_COLUMNS: &[&str] = &[
    "id",
    "page",
    "kind",
    "scan_id",
    "alert_json",
    "created_at",
    "attempts",
    "next_attempt_at",
    "last_error",
    "sent_at",
];

/// One row of the outbox, every column, for the assessor's record of alert deliveries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxRow {
    pub id: i64,
    pub page: Option<String>,
    pub kind: AlertKind,
    pub scan_id: Option<i64>,
    pub alert_json: String,
    pub created_at: String,
    pub attempts: i64,
    pub next_attempt_at: String,
    pub last_error: Option<String>,
    pub sent_at: Option<String>,
}

impl OutboxRow {
    /// The values as text, in [`OUTBOX_COLUMNS`] order (`None` for NULL).
    pub fn values(&self) -> Vec<Option<String>> {
        vec![
            Some(self.id.to_string()),
            self.page.clone(),
            Some(self.kind.as_str().to_string()),
            self.scan_id.map(|id| id.to_string()),
            Some(self.alert_json.clone()),
            Some(self.created_at.clone()),
            Some(self.attempts.to_string()),
            Some(self.next_attempt_at.clone()),
            self.last_error.clone(),
            self.sent_at.clone(),
        ]
    }
}

impl Store {
    /// The first `limit` rows of the outbox, oldest first.
    pub fn outbox_rows(&self, limit: usize) -> Result<Vec<OutboxRow>, StoreError> {
        let action = "reading outbox";
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT id, page, kind, scan_id, alert_json, created_at, attempts, next_attempt_at, last_error, sent_at
                   FROM outbox ORDER BY id LIMIT ?1",
            )
            .map_err(self.sqlite_err(action))?;
        let rows = stmt
            .query_map([super::to_i64(limit as u64)], |r| {
                Ok(OutboxRow {
                    id: r.get(0)?,
                    page: r.get(1)?,
                    kind: named(r, 2, "alert kind", AlertKind::parse)?,
                    scan_id: r.get(3)?,
                    alert_json: r.get(4)?,
                    created_at: r.get(5)?,
                    attempts: r.get(6)?,
                    next_attempt_at: r.get(7)?,
                    last_error: r.get(8)?,
                    sent_at: r.get(9)?,
                })
            })
            .map_err(self.sqlite_err(action))?;
        rows.collect::<rusqlite::Result<_>>().map_err(self.sqlite_err(action))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The columns keep the text they held when they were strings.
    #[test]
    fn kinds_and_times_are_stored_as_their_text() {
        let mut store = Store::open_in_memory().unwrap();
        let now = Timestamp::parse("2026-11-29T07:50:25Z").unwrap();
        let id = store.write("t", |tx| tx.queue_alert(None, AlertKind::MonitorBlind, None, &"{}", now)).unwrap();
        let row = &store.outbox_rows(10).unwrap()[0];
        assert_eq!(row.kind, AlertKind::MonitorBlind);
        assert_eq!(row.values()[2].as_deref(), Some("monitor_blind"));
        assert_eq!(row.created_at, "2026-11-29T07:50:25Z");
        assert_eq!(store.next_alert_due().unwrap(), Some(now));
        assert_eq!(store.monitor_status(&[]).unwrap().outbox.pending[0].kind, AlertKind::MonitorBlind);

        // A kind this skimwatch does not know is reported, not guessed.
        store.conn.execute("UPDATE outbox SET kind = 'digest' WHERE id = ?1", [id]).unwrap();
        let err = store.outbox_rows(10).unwrap_err().to_string();
        assert!(err.contains("unknown alert kind `digest`"), "{err}");
        // A time not written by skimwatch reads as long ago (a reminder is due), not as an error.
        let odd = "INSERT INTO notified_findings (page, finding_id, first_notified_at, last_notified_at)
                   VALUES ('p', 'F1', 'yesterday', 'yesterday')";
        store.conn.execute(odd, []).unwrap();
        let notified = store.write("t", |tx| tx.notified_findings("p")).unwrap();
        assert_eq!(notified, vec![("F1".to_string(), Timestamp::UNIX_EPOCH)]);
    }
}
