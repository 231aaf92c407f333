//! The watch daemon's tables: the alert outbox (`outbox`) and each alert's delivery to each
//! destination (`deliveries`: email, every webhook, each with its own attempts and backoff),
//! what was alerted (`notified_findings`), failed scans in a row (`page_health`) and
//! monitor-wide flags (`monitor_state`).
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

/// A queued alert read back for delivery to one destination.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Queued<T> {
    pub id: i64,
    pub alert: T,
    pub created_at: String,
    /// Failed attempts to this destination so far.
    pub attempts: u32,
    /// `email` or `webhook:<name>`.
    pub destination: String,
}

/// Failed scans in a row of one page, and whether `scan_failing` was raised for them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PageHealth {
    pub consecutive_failures: u32,
    pub failing_alerted: bool,
}

/// Key of the `monitor_state` row holding the database's cookie-hash key (hex): the HMAC key
/// cookie values are hashed with, made at random on first use, so a hash means something only
/// beside this database.
const COOKIE_KEY: &str = "cookie_hash_key";

impl Store {
    /// The key cookie values are hashed with in this database (32 random bytes, made once).
    pub fn cookie_hash_key(&self) -> Result<Vec<u8>, StoreError> {
        let found: Option<String> = self
            .conn
            .query_row("SELECT value FROM monitor_state WHERE key = ?1", [COOKIE_KEY], |r| r.get(0))
            .optional()
            .map_err(self.sqlite_err("reading or making the cookie-hash key"))?;
        if let Some(key) = found.and_then(|k| hex::decode(k).ok()).filter(|k| k.len() == 32) {
            return Ok(key);
        }
        let key: [u8; 32] = rand::random();
        self.conn
            .execute(
                "INSERT INTO monitor_state (key, value) VALUES (?1, ?2)
                 ON CONFLICT (key) DO NOTHING",
                params![COOKIE_KEY, hex::encode(key)],
            )
            .map_err(self.sqlite_err("reading or making the cookie-hash key"))?;
        // Another process may have made one first: theirs is the one.
        let stored: String = self
            .conn
            .query_row("SELECT value FROM monitor_state WHERE key = ?1", [COOKIE_KEY], |r| r.get(0))
            .map_err(self.sqlite_err("reading or making the cookie-hash key"))?;
        Ok(hex::decode(stored).unwrap_or_else(|_| key.to_vec()))
    }
}

/// Key of the `monitor_state` row that is set while a "monitor blind" alert is outstanding;
/// its value is when a page last scanned successfully.
const BLIND: &str = "blind";

impl ScanTx<'_> {
    /// Inserts `alert` (as JSON) into the outbox with one delivery per destination, each due at
    /// once. Returns the row id.
    pub fn queue_alert(
        &self,
        page: Option<&str>,
        kind: AlertKind,
        scan_id: Option<i64>,
        alert: &impl Serialize,
        now: Timestamp,
        destinations: &[&str],
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
        let id = self.conn.last_insert_rowid();
        let mut stmt = self
            .conn
            .prepare_cached("INSERT INTO deliveries (outbox_id, destination, next_attempt_at) VALUES (?1, ?2, ?3)")
            .map_err(self.err())?;
        for destination in destinations {
            stmt.execute(params![id, destination, now]).map_err(self.err())?;
        }
        Ok(id)
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

/// Brings an outbox row's summary columns up to date with its deliveries: attempts in all, the
/// error of the unsent delivery tried most, the earliest next attempt, and `sent_at` once every
/// destination accepted it (the latest of their times).
const SUMMARIZE: &str = "UPDATE outbox SET
        attempts = (SELECT coalesce(sum(d.attempts), 0) FROM deliveries d WHERE d.outbox_id = outbox.id),
        last_error = (SELECT d.last_error FROM deliveries d
                       WHERE d.outbox_id = outbox.id AND d.sent_at IS NULL AND d.last_error IS NOT NULL
                       ORDER BY d.attempts DESC, d.destination LIMIT 1),
        next_attempt_at = coalesce((SELECT min(d.next_attempt_at) FROM deliveries d
                                     WHERE d.outbox_id = outbox.id AND d.sent_at IS NULL), next_attempt_at),
        sent_at = CASE WHEN EXISTS (SELECT 1 FROM deliveries d WHERE d.outbox_id = outbox.id AND d.sent_at IS NULL)
                       THEN NULL
                       ELSE (SELECT max(d.sent_at) FROM deliveries d WHERE d.outbox_id = outbox.id) END";

impl Store {
    /// Alerts not yet delivered to `destination` that are due at `now` (all of them when `now`
    /// is `None`), oldest first.
    pub fn due_deliveries<T: DeserializeOwned>(
        &self,
        destination: &str,
        now: Option<Timestamp>,
        limit: usize,
    ) -> Result<Vec<Queued<T>>, StoreError> {
        let action = "reading the outbox";
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT o.id, o.alert_json, o.created_at, d.attempts FROM deliveries d JOIN outbox o ON o.id = d.outbox_id
                  WHERE d.destination = ?1 AND d.sent_at IS NULL AND (?2 IS NULL OR d.next_attempt_at <= ?2)
                  ORDER BY o.id LIMIT ?3",
            )
            .map_err(self.sqlite_err(action))?;
        let rows = stmt
            .query_map(params![destination, now, super::to_i64(limit as u64)], |row| {
                let json: String = row.get(1)?;
                let alert = serde_json::from_str(&json).map_err(|e| {
                    rusqlite::Error::FromSqlConversionFailure(1, rusqlite::types::Type::Text, Box::new(e))
                })?;
                Ok(Queued {
                    id: row.get(0)?,
                    alert,
                    created_at: row.get(2)?,
                    attempts: row.get::<_, i64>(3)?.max(0) as u32,
                    destination: destination.to_string(),
                })
            })
            .map_err(self.sqlite_err(action))?;
        rows.collect::<rusqlite::Result<_>>().map_err(self.sqlite_err(action))
    }

    /// When the next delivery to `destination` is due, if any. A time that does not parse
    /// counts as none (the daemon then polls): read as the epoch it would be due at once, but
    /// never match the text comparison of [`Store::due_deliveries`], and the daemon would spin.
    pub fn next_delivery_due(&self, destination: &str) -> Result<Option<Timestamp>, StoreError> {
        let next: Option<String> = self
            .conn
            .query_row(
                "SELECT min(next_attempt_at) FROM deliveries WHERE destination = ?1 AND sent_at IS NULL",
                [destination],
                |r| r.get(0),
            )
            .map_err(self.sqlite_err("reading the outbox"))?;
        Ok(next.as_deref().and_then(Timestamp::parse))
    }

    /// Undelivered (alert, destination) pairs, all destinations.
    pub fn undelivered(&self) -> Result<u64, StoreError> {
        let n: i64 = self
            .conn
            .query_row("SELECT count(*) FROM deliveries WHERE sent_at IS NULL", [], |r| r.get(0))
            .map_err(self.sqlite_err("reading the outbox"))?;
        Ok(n.max(0) as u64)
    }

    /// Records that `destination` accepted alert `id`. Only an undelivered row changes, so a
    /// second call is harmless.
    pub fn mark_delivered(&mut self, id: i64, destination: &str, now: Timestamp) -> Result<(), StoreError> {
        self.write("marking an alert sent", |tx| {
            tx.conn
                .execute(
                    "UPDATE deliveries SET sent_at = ?3, attempts = attempts + 1, last_error = NULL
                      WHERE outbox_id = ?1 AND destination = ?2 AND sent_at IS NULL",
                    params![id, destination, now],
                )
                .map_err(tx.err())?;
            tx.conn.execute(&format!("{SUMMARIZE} WHERE id = ?1"), [id]).map_err(tx.err())?;
            Ok(())
        })
    }

    /// Failed attempts to deliver alert `id` to `destination` so far.
    pub fn delivery_attempts(&self, id: i64, destination: &str) -> Result<u32, StoreError> {
        let attempts: i64 = self
            .conn
            .query_row(
                "SELECT attempts FROM deliveries WHERE outbox_id = ?1 AND destination = ?2",
                params![id, destination],
                |r| r.get(0),
            )
            .map_err(self.sqlite_err("recording a failed delivery"))?;
        Ok(attempts.max(0) as u32)
    }

    /// Records a failed attempt to deliver alert `id` to `destination`: the attempt count, the
    /// error, and when to try again.
    pub fn reschedule_delivery(
        &mut self,
        id: i64,
        destination: &str,
        attempts: u32,
        error: &str,
        next_attempt_at: Timestamp,
    ) -> Result<(), StoreError> {
        self.write("recording a failed delivery", |tx| {
            tx.conn
                .execute(
                    "UPDATE deliveries SET attempts = ?3, last_error = ?4, next_attempt_at = ?5
                      WHERE outbox_id = ?1 AND destination = ?2 AND sent_at IS NULL",
                    params![id, destination, attempts, error, next_attempt_at],
                )
                .map_err(tx.err())?;
            tx.conn.execute(&format!("{SUMMARIZE} WHERE id = ?1"), [id]).map_err(tx.err())?;
            Ok(())
        })
    }

    /// Moves every undelivered alert to `destination` that is due before `until` to `until`,
    /// without counting an attempt (the destination is down: an earlier alert just failed), and
    /// notes why in `last_error` where there is none yet. Returns how many moved.
    pub fn defer_deliveries(&mut self, destination: &str, until: Timestamp, why: &str) -> Result<usize, StoreError> {
        self.write("deferring deliveries", |tx| {
            let moved = tx
                .conn
                .execute(
                    "UPDATE deliveries SET next_attempt_at = ?2, last_error = coalesce(last_error, ?3)
                      WHERE destination = ?1 AND sent_at IS NULL AND next_attempt_at < ?2",
                    params![destination, until, why],
                )
                .map_err(tx.err())?;
            if moved > 0 {
                tx.conn
                    .execute(
                        &format!(
                            "{SUMMARIZE} WHERE id IN (SELECT outbox_id FROM deliveries WHERE destination = ?1 AND sent_at IS NULL)"
                        ),
                        [destination],
                    )
                    .map_err(tx.err())?;
            }
            Ok(moved)
        })
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
    /// Marks the destinations the config names (destination key, target without secrets) and
    /// lists those that have had no alert yet, so `status` shows every destination.
    pub fn name_destinations(&mut self, targets: &[(String, String)]) {
        for (destination, target) in targets {
            match self.outbox.destinations.iter_mut().find(|d| &d.destination == destination) {
                Some(d) => {
                    d.configured = true;
                    d.target = Some(target.clone());
                }
                None => self.outbox.destinations.push(DestinationView {
                    destination: destination.clone(),
                    target: Some(target.clone()),
                    configured: true,
                    ..Default::default()
                }),
            }
        }
        self.outbox.destinations.sort_by(|a, b| a.destination.cmp(&b.destination));
    }

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
            for d in &s.outbox.destinations {
                match merged.outbox.destinations.iter_mut().find(|m| m.destination == d.destination) {
                    Some(m) => {
                        m.pending += d.pending;
                        m.failed += d.failed;
                        m.sent += d.sent;
                        m.last_sent = m.last_sent.clone().max(d.last_sent.clone());
                        m.last_error = m.last_error.clone().or(d.last_error.clone());
                        m.next_attempt_at = match (m.next_attempt_at.take(), d.next_attempt_at.clone()) {
                            (Some(a), Some(b)) => Some(a.min(b)),
                            (a, b) => a.or(b),
                        };
                        m.configured |= d.configured;
                        m.target = m.target.clone().or(d.target.clone());
                    }
                    None => merged.outbox.destinations.push(d.clone()),
                }
            }
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
        merged.outbox.destinations.sort_by(|a, b| a.destination.cmp(&b.destination));
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
    /// Alerts some destination has not accepted yet.
    pub queued: u64,
    /// Alerts every destination accepted.
    pub sent: u64,
    /// The alerts not delivered everywhere, oldest first.
    pub pending: Vec<PendingAlert>,
    /// When a destination last accepted an alert.
    pub last_sent: Option<String>,
    /// Delivery per destination (`email`, `webhook:<name>`), in name order.
    #[serde(default)]
    pub destinations: Vec<DestinationView>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingAlert {
    pub id: i64,
    pub kind: AlertKind,
    pub page: Option<String>,
    pub created_at: String,
    /// Failed attempts, all destinations together.
    pub attempts: u32,
    /// The error of the undelivered destination tried most.
    pub last_error: Option<String>,
    /// The earliest next attempt of its undelivered destinations.
    pub next_attempt_at: String,
    /// Each destination that has not accepted it yet.
    #[serde(default)]
    pub deliveries: Vec<PendingDelivery>,
}

/// One destination that has not accepted a pending alert yet.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingDelivery {
    pub destination: String,
    pub attempts: u32,
    pub last_error: Option<String>,
    pub next_attempt_at: String,
}

/// One destination's deliveries.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DestinationView {
    /// `email` or `webhook:<name>`.
    pub destination: String,
    /// Alerts it has not accepted yet.
    pub pending: u64,
    /// Of those, the ones with at least one failed attempt.
    pub failed: u64,
    /// Alerts it accepted.
    pub sent: u64,
    pub last_sent: Option<String>,
    /// The error of its pending delivery tried most.
    pub last_error: Option<String>,
    pub next_attempt_at: Option<String>,
    /// Where it delivers, without secrets (`smtp://mail.example:587`, `https://hooks.slack.com`);
    /// set from the config by `status`, `None` when the config does not name it.
    #[serde(default)]
    pub target: Option<String>,
    /// Whether the config names this destination; the pending alerts of one it no longer names
    /// wait until it is configured again.
    #[serde(default)]
    pub configured: bool,
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
        let (queued, sent): (i64, i64) = self.conn.query_row(
            "SELECT count(*) FILTER (WHERE sent_at IS NULL), count(*) FILTER (WHERE sent_at IS NOT NULL) FROM outbox",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?;
        let last_sent: Option<String> = self.conn.query_row("SELECT max(sent_at) FROM deliveries", [], |r| r.get(0))?;
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
                deliveries: Vec::new(),
            })
        })?;
        let mut pending: Vec<PendingAlert> = rows.collect::<rusqlite::Result<_>>()?;
        let mut stmt = self.conn.prepare_cached(
            "SELECT destination, attempts, last_error, next_attempt_at FROM deliveries
              WHERE outbox_id = ?1 AND sent_at IS NULL ORDER BY destination",
        )?;
        for alert in &mut pending {
            let rows = stmt.query_map([alert.id], |r| {
                Ok(PendingDelivery {
                    destination: r.get(0)?,
                    attempts: r.get::<_, i64>(1)?.max(0) as u32,
                    last_error: r.get(2)?,
                    next_attempt_at: r.get(3)?,
                })
            })?;
            alert.deliveries = rows.collect::<rusqlite::Result<_>>()?;
        }
        let mut stmt = self.conn.prepare_cached(
            "SELECT destination,
                    count(*) FILTER (WHERE sent_at IS NULL),
                    count(*) FILTER (WHERE sent_at IS NULL AND attempts > 0),
                    count(*) FILTER (WHERE sent_at IS NOT NULL),
                    max(sent_at),
                    min(next_attempt_at) FILTER (WHERE sent_at IS NULL)
               FROM deliveries GROUP BY destination ORDER BY destination",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok(DestinationView {
                destination: r.get(0)?,
                pending: r.get::<_, i64>(1)?.max(0) as u64,
                failed: r.get::<_, i64>(2)?.max(0) as u64,
                sent: r.get::<_, i64>(3)?.max(0) as u64,
                last_sent: r.get(4)?,
                next_attempt_at: r.get(5)?,
                ..Default::default()
            })
        })?;
        let mut destinations: Vec<DestinationView> = rows.collect::<rusqlite::Result<_>>()?;
        let mut stmt = self.conn.prepare_cached(
            "SELECT last_error FROM deliveries WHERE destination = ?1 AND sent_at IS NULL AND last_error IS NOT NULL
              ORDER BY attempts DESC, outbox_id LIMIT 1",
        )?;
        for d in &mut destinations {
            d.last_error = stmt.query_row([&d.destination], |r| r.get(0)).optional()?;
        }
        Ok(OutboxView { queued: queued.max(0) as u64, sent: sent.max(0) as u64, pending, last_sent, destinations })
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
        let id =
            store.write("t", |tx| tx.queue_alert(None, AlertKind::MonitorBlind, None, &"{}", now, &["email"])).unwrap();
        let row = &store.outbox_rows(10).unwrap()[0];
        assert_eq!(row.kind, AlertKind::MonitorBlind);
        assert_eq!(row.values()[2].as_deref(), Some("monitor_blind"));
        assert_eq!(row.created_at, "2026-11-29T07:50:25Z");
        assert_eq!(store.next_delivery_due("email").unwrap(), Some(now));
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
