//! The scan history: every scan of every page, kept in one SQLite file.
//!
//! The store is what lets `skimwatch` show what a page looked like last time, diff a script
//! against the version seen before, and list past scans for an auditor. It is synchronous
//! (rusqlite); async callers run it inside `spawn_blocking`. Script bodies are
//! content-addressed: a body is stored once per distinct SHA-256 in `script_bodies`, and each
//! scan only adds small rows that point at it, so an unchanged rescan costs a few hundred bytes
//! instead of megabytes of JavaScript.
//!
//! The schema is versioned from the first release with `PRAGMA user_version` and the
//! append-only [`MIGRATIONS`] list: a released migration is never edited, a change is a new
//! entry. A database written by a newer skimwatch is refused with a clear error instead of
//! being misread.

pub mod chain;

use crate::model::{Finding, Inventory, PageStatus, Script, ScriptKind};
use rusqlite::{params, Connection, OptionalExtension, Transaction, TransactionBehavior};
use serde::de::IntoDeserializer;
use serde::Deserialize;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Schema migrations; entry `i` moves the database from version `i` to `i + 1`.
/// Append only: released entries must never change, because databases in the field already
/// ran them.
pub const MIGRATIONS: &[&str] = &[
    // Version 1: the first release.
    r#"
    CREATE TABLE scans (
        id                  INTEGER PRIMARY KEY,
        page                TEXT    NOT NULL,
        url                 TEXT    NOT NULL,
        started_at          TEXT    NOT NULL,          -- RFC 3339 UTC
        finished_at         TEXT    NOT NULL,          -- RFC 3339 UTC
        status              TEXT    NOT NULL CHECK (status IN ('ok', 'error')),
        error               TEXT,                      -- set when status = 'error'
        http_status         INTEGER,                   -- the columns below are set when status = 'ok'
        final_url           TEXT,
        headers_json        TEXT,
        hosts_json          TEXT,
        payment_fields_json TEXT,
        elapsed_ms          INTEGER
    );
    -- Latest scan of a page: `WHERE page = ? [AND status = ?] ORDER BY id DESC LIMIT 1`.
    -- The rowid is implicitly the last column of every index, so these cover the ordering.
    CREATE INDEX scans_by_page ON scans (page);
    CREATE INDEX scans_by_page_status ON scans (page, status);

    -- One row per distinct script body, whatever number of scans saw it.
    CREATE TABLE script_bodies (
        sha256 TEXT    PRIMARY KEY NOT NULL,
        source TEXT    NOT NULL,
        bytes  INTEGER NOT NULL
    ) WITHOUT ROWID;

    CREATE TABLE scan_scripts (
        scan_id   INTEGER NOT NULL REFERENCES scans (id) ON DELETE CASCADE,
        position  INTEGER NOT NULL,                    -- order in the inventory
        script_id TEXT    NOT NULL,
        kind      TEXT    NOT NULL,
        url       TEXT,
        frame_url TEXT    NOT NULL,
        sha256    TEXT    NOT NULL REFERENCES script_bodies (sha256),
        sri       TEXT    NOT NULL,
        bytes     INTEGER NOT NULL,
        initiator TEXT,
        PRIMARY KEY (scan_id, position)
    ) WITHOUT ROWID;
    -- Lets a future pruning step find bodies no scan refers to, and keeps FK checks cheap.
    CREATE INDEX scan_scripts_by_sha256 ON scan_scripts (sha256);
    CREATE INDEX scan_scripts_by_script_id ON scan_scripts (script_id);

    CREATE TABLE findings (
        scan_id      INTEGER NOT NULL REFERENCES scans (id) ON DELETE CASCADE,
        position     INTEGER NOT NULL,                 -- order in the report
        finding_id   TEXT    NOT NULL,
        kind         TEXT    NOT NULL,
        severity     TEXT    NOT NULL,
        title        TEXT    NOT NULL,
        finding_json TEXT    NOT NULL,                 -- the full serialised model::Finding
        PRIMARY KEY (scan_id, position)
    ) WITHOUT ROWID;
    CREATE INDEX findings_by_finding_id ON findings (finding_id);
    "#,
    // Version 2: tamper-evident scan log (see chain.rs): each scan is sealed with the hash of the
    // previous sealed scan and its own content. Scans recorded before this version keep NULL
    // seals and are reported as unsealed by `skimwatch log verify`.
    r#"
    ALTER TABLE scans ADD COLUMN prev_hash TEXT;
    ALTER TABLE scans ADD COLUMN record_hash TEXT;
    UPDATE scans SET prev_hash = 'unsealed: recorded before the scan log existed';
    "#,
    // Version 3: the watch daemon's alert outbox and alerting state (src/alert/outbox.rs).
    r#"
    -- One row per alert to deliver, written in the transaction of the scan that raised it.
    CREATE TABLE outbox (
        id              INTEGER PRIMARY KEY,
        page            TEXT,                          -- NULL for monitor-wide alerts
        kind            TEXT    NOT NULL,              -- alert::AlertKind
        scan_id         INTEGER REFERENCES scans (id) ON DELETE SET NULL,
        alert_json      TEXT    NOT NULL,              -- the serialised alert::Alert
        created_at      TEXT    NOT NULL,              -- RFC 3339 UTC
        attempts        INTEGER NOT NULL DEFAULT 0,
        next_attempt_at TEXT    NOT NULL,
        last_error      TEXT,
        sent_at         TEXT                           -- set once the server accepted it
    );
    CREATE INDEX outbox_pending ON outbox (next_attempt_at) WHERE sent_at IS NULL;

    -- Which findings were mailed, so one unapproved change is mailed once (plus reminders).
    CREATE TABLE notified_findings (
        page              TEXT    NOT NULL,
        finding_id        TEXT    NOT NULL,
        first_notified_at TEXT    NOT NULL,
        last_notified_at  TEXT    NOT NULL,
        outbox_id         INTEGER REFERENCES outbox (id),  -- NULL when alerts are only logged
        PRIMARY KEY (page, finding_id)
    ) WITHOUT ROWID;

    -- Failed scans in a row per page, and whether `scan_failing` was raised for them.
    CREATE TABLE page_health (
        page                 TEXT    PRIMARY KEY NOT NULL,
        consecutive_failures INTEGER NOT NULL DEFAULT 0,
        failing_alerted      INTEGER NOT NULL DEFAULT 0,
        last_error           TEXT
    ) WITHOUT ROWID;

    -- Monitor-wide flags (e.g. that a "monitor blind" alert is outstanding).
    CREATE TABLE monitor_state (
        key   TEXT PRIMARY KEY NOT NULL,
        value TEXT NOT NULL
    ) WITHOUT ROWID;
    "#,
];

/// How long a writer waits for another process (a second `skimwatch scan`, a `watch` loop)
/// to release the database before giving up with "database is locked".
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot create the folder {path} for the scan database: {source}; check that the parent folder exists and is writable, or choose another database path")]
    CreateDir { path: PathBuf, source: std::io::Error },

    #[error("cannot open the scan database {path}: {source}; check that the path is a writable SQLite file (or remove it to start a fresh history)")]
    Open { path: PathBuf, source: rusqlite::Error },

    #[error("the scan database {path} has schema version {found}, but this skimwatch only understands versions up to {supported}: it was written by a newer skimwatch. Upgrade skimwatch, or point it at another database file")]
    TooNew { path: PathBuf, found: i64, supported: usize },

    #[error("cannot migrate the scan database {path} to schema version {version}: {source}; the database was left at its previous version")]
    Migrate { path: PathBuf, version: usize, source: rusqlite::Error },

    #[error("scan database {path}: {action} failed: {source}{hint}", hint = busy_hint(source))]
    Sqlite { path: PathBuf, action: String, source: rusqlite::Error },

    #[error("scan database {path}: {what} is unreadable ({detail}); the row was probably written by another tool or damaged")]
    Corrupt { path: PathBuf, what: String, detail: String },

    #[error("cannot serialise {what} of page `{page}` for the scan database: {source}")]
    Serialize { page: String, what: &'static str, source: serde_json::Error },
}

/// Adds the likely fix when SQLite gave up waiting for a lock.
fn busy_hint(err: &rusqlite::Error) -> &'static str {
    match err.sqlite_error_code() {
        Some(rusqlite::ErrorCode::DatabaseBusy) | Some(rusqlite::ErrorCode::DatabaseLocked) => {
            "; another process kept the database locked: wait for the other skimwatch run to finish, or give this run its own database"
        }
        _ => "",
    }
}

/// A scan to record.
#[derive(Debug, Clone)]
pub struct NewScan<'a> {
    pub page: &'a str,
    /// URL that was requested (the page's configured URL).
    pub url: &'a str,
    /// RFC 3339 UTC, see [`now_rfc3339`].
    pub started_at: String,
    pub finished_at: String,
    pub outcome: ScanOutcome<'a>,
}

#[derive(Debug, Clone)]
pub enum ScanOutcome<'a> {
    Ok { inventory: &'a Inventory, findings: &'a [Finding], elapsed_ms: u64 },
    Error { message: String },
}

/// A scan read back from the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredScan {
    pub id: i64,
    pub page: String,
    pub url: String,
    pub started_at: String,
    pub finished_at: String,
    pub status: PageStatus,
    pub error: Option<String>,
    /// The inventory of an `ok` scan, scripts in their recorded order with `source` filled in
    /// from `script_bodies`. `Inventory.url` is the scan's requested `url`.
    pub inventory: Option<Inventory>,
    pub findings: Vec<Finding>,
    /// Wall-clock milliseconds of the capture (0 for error scans).
    pub elapsed_ms: u64,
}

/// One line of the scan history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScanSummary {
    pub id: i64,
    pub page: String,
    pub url: String,
    pub started_at: String,
    pub finished_at: String,
    pub status: PageStatus,
    pub error: Option<String>,
    pub findings: usize,
    pub scripts: usize,
}

pub struct Store {
    conn: Connection,
    /// For error messages only (`:memory:` for in-memory stores).
    path: PathBuf,
}

/// Current UTC time as RFC 3339 with seconds precision, e.g. `2025-03-01T12:00:00Z`.
pub fn now_rfc3339() -> String {
    let now = time::OffsetDateTime::now_utc();
    let now = now.replace_nanosecond(0).unwrap_or(now);
    now.format(&time::format_description::well_known::Rfc3339)
        .expect("formatting a UTC timestamp as RFC 3339 cannot fail for years 0..=9999")
}

impl Store {
    /// Opens (creating file and parent folders if needed) and migrates the database at `path`.
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        if let Some(parent) = path.parent() {
            if !parent.as_os_str().is_empty() {
                std::fs::create_dir_all(parent)
                    .map_err(|source| StoreError::CreateDir { path: parent.to_path_buf(), source })?;
            }
        }
        let conn = Connection::open(path)
            .map_err(|source| StoreError::Open { path: path.to_path_buf(), source })?;
        Store::setup(conn, path.to_path_buf())
    }

    /// A private database that disappears when the store is dropped (`--ephemeral`, tests).
    pub fn open_in_memory() -> Result<Store, StoreError> {
        let path = PathBuf::from(":memory:");
        let conn = Connection::open_in_memory()
            .map_err(|source| StoreError::Open { path: path.clone(), source })?;
        Store::setup(conn, path)
    }

    fn setup(conn: Connection, path: PathBuf) -> Result<Store, StoreError> {
        let open_err = |source| StoreError::Open { path: path.clone(), source };
        // Wait for other writers rather than failing at once; set first so that even the
        // journal-mode switch below waits for a concurrent opener.
        conn.busy_timeout(BUSY_TIMEOUT).map_err(open_err)?;
        // WAL lets report readers (the web UI, `history`) run while a scan writes. The pragma
        // returns the resulting mode ("memory" for in-memory databases), which we don't need.
        conn.query_row("PRAGMA journal_mode = WAL", [], |_| Ok(())).map_err(open_err)?;
        // NORMAL is durable across application crashes in WAL mode and much cheaper than FULL.
        conn.pragma_update(None, "synchronous", "NORMAL").map_err(open_err)?;
        // Foreign keys are off by default in SQLite and must be enabled per connection.
        conn.pragma_update(None, "foreign_keys", true).map_err(open_err)?;
        let mut store = Store { conn, path };
        store.migrate()?;
        Ok(store)
    }

    /// Applies the migrations this database has not seen yet, each in its own transaction.
    fn migrate(&mut self) -> Result<(), StoreError> {
        // Fast path without the write lock, so opening an up-to-date database never waits for
        // a scan that another process is recording.
        let version: i64 = self
            .conn
            .query_row("PRAGMA user_version", [], |row| row.get(0))
            .map_err(|source| StoreError::Open { path: self.path.clone(), source })?;
        if version == MIGRATIONS.len() as i64 {
            return Ok(());
        }
        loop {
            let path = self.path.clone();
            // IMMEDIATE takes the write lock before reading the version, so two processes
            // opening a fresh database at once cannot both run the same migration.
            let tx = self
                .conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(|source| StoreError::Open { path: path.clone(), source })?;
            let version: i64 = tx
                .query_row("PRAGMA user_version", [], |row| row.get(0))
                .map_err(|source| StoreError::Open { path: path.clone(), source })?;
            if version < 0 || version as u64 > MIGRATIONS.len() as u64 {
                return Err(StoreError::TooNew { path, found: version, supported: MIGRATIONS.len() });
            }
            let version = version as usize;
            if version == MIGRATIONS.len() {
                return Ok(()); // up to date; the read-only transaction just rolls back
            }
            let next = version + 1;
            let migrate_err = |source| StoreError::Migrate { path: path.clone(), version: next, source };
            tx.execute_batch(MIGRATIONS[version]).map_err(migrate_err)?;
            // user_version lives in the database header, so it commits (or not) with the schema.
            tx.pragma_update(None, "user_version", next as i64).map_err(migrate_err)?;
            tx.commit().map_err(migrate_err)?;
        }
    }

    /// The underlying connection, for read-only reports (evidence, inventory, log verify).
    pub fn connection(&self) -> &Connection {
        &self.conn
    }

    /// Where the database lives (`:memory:` for in-memory stores), for messages.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn sqlite_err(&self, action: impl Into<String>) -> impl FnOnce(rusqlite::Error) -> StoreError + '_ {
        let action = action.into();
        move |source| StoreError::Sqlite { path: self.path.clone(), action, source }
    }

    /// Records one scan (row, script bodies, scripts, findings) in ONE transaction, so a crash
    /// never leaves a scan without its scripts. Returns the scan id.
    pub fn record_scan(&mut self, scan: &NewScan) -> Result<i64, StoreError> {
        self.record_scan_with(scan, |_, _| Ok(())).map(|(id, ())| id)
    }

    /// Like [`Store::record_scan`], and runs `also` in the same transaction once the scan is
    /// written (with its id), so that what it writes (the watch daemon's alerts) commits or
    /// rolls back together with the scan that caused it.
    pub fn record_scan_with<T>(
        &mut self,
        scan: &NewScan,
        also: impl FnOnce(&Transaction, i64) -> Result<T, rusqlite::Error>,
    ) -> Result<(i64, T), StoreError> {
        let path = self.path.clone();
        let action = format!("recording a scan of page `{}`", scan.page);
        let err = |source| StoreError::Sqlite { path: path.clone(), action: action.clone(), source };
        let ser_err = |what: &'static str| {
            move |source| StoreError::Serialize { page: scan.page.to_string(), what, source }
        };

        let tx = self.conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(err)?;
        let scan_id = match &scan.outcome {
            ScanOutcome::Error { message } => {
                tx.execute(
                    "INSERT INTO scans (page, url, started_at, finished_at, status, error)
                     VALUES (?1, ?2, ?3, ?4, 'error', ?5)",
                    params![scan.page, scan.url, scan.started_at, scan.finished_at, message],
                )
                .map_err(err)?;
                tx.last_insert_rowid()
            }
            ScanOutcome::Ok { inventory, findings, elapsed_ms } => {
                let headers = serde_json::to_string(&inventory.headers).map_err(ser_err("headers"))?;
                let hosts = serde_json::to_string(&inventory.hosts).map_err(ser_err("hosts"))?;
                let fields = serde_json::to_string(&inventory.payment_fields)
                    .map_err(ser_err("payment fields"))?;
                tx.execute(
                    "INSERT INTO scans (page, url, started_at, finished_at, status, http_status,
                                        final_url, headers_json, hosts_json, payment_fields_json,
                                        elapsed_ms)
                     VALUES (?1, ?2, ?3, ?4, 'ok', ?5, ?6, ?7, ?8, ?9, ?10)",
                    params![
                        scan.page,
                        scan.url,
                        scan.started_at,
                        scan.finished_at,
                        inventory.status,
                        inventory.final_url,
                        headers,
                        hosts,
                        fields,
                        to_i64(*elapsed_ms),
                    ],
                )
                .map_err(err)?;
                let scan_id = tx.last_insert_rowid();
                insert_scripts(&tx, scan_id, &inventory.scripts).map_err(err)?;
                insert_findings(&tx, scan_id, findings, ser_err("a finding")).map_err(|e| match e {
                    InsertError::Sqlite(source) => err(source),
                    InsertError::Other(e) => e,
                })?;
                scan_id
            }
        };
        let extra = also(&tx, scan_id).map_err(err)?;
        // Seal the record in the same transaction: no scan is ever committed unsealed.
        crate::store::chain::seal(&tx, scan_id).map_err(err)?;
        tx.commit().map_err(err)?;
        Ok((scan_id, extra))
    }

    /// Runs `f` on the connection, for modules that keep tables of their own in this database
    /// (the alert outbox); errors name the database and `action`.
    pub fn with_conn<T>(
        &mut self,
        action: &str,
        f: impl FnOnce(&mut Connection) -> Result<T, rusqlite::Error>,
    ) -> Result<T, StoreError> {
        f(&mut self.conn).map_err(|source| StoreError::Sqlite { path: self.path.clone(), action: action.to_string(), source })
    }

    /// The most recently recorded scan of `page`, whatever its status.
    pub fn latest_scan(&self, page: &str) -> Result<Option<StoredScan>, StoreError> {
        self.latest(page, None)
    }

    /// The most recently recorded successful scan of `page`.
    pub fn latest_ok_scan(&self, page: &str) -> Result<Option<StoredScan>, StoreError> {
        self.latest(page, Some("ok"))
    }

    /// "Latest" is by id (recording order), not by `started_at`: ids are assigned by the
    /// database, so a clock step on the scanning host cannot reorder history.
    fn latest(&self, page: &str, status: Option<&str>) -> Result<Option<StoredScan>, StoreError> {
        let id: Option<i64> = self
            .conn
            .query_row(
                "SELECT id FROM scans WHERE page = ?1 AND (?2 IS NULL OR status = ?2)
                 ORDER BY id DESC LIMIT 1",
                params![page, status],
                |row| row.get(0),
            )
            .optional()
            .map_err(self.sqlite_err(format!("looking up the latest scan of page `{page}`")))?;
        match id {
            Some(id) => self.scan(id),
            None => Ok(None),
        }
    }

    /// One scan by id, with its inventory and findings.
    pub fn scan(&self, id: i64) -> Result<Option<StoredScan>, StoreError> {
        let action = format!("reading scan {id}");
        let row = self
            .conn
            .query_row(
                "SELECT page, url, started_at, finished_at, status, error, http_status, final_url,
                        headers_json, hosts_json, payment_fields_json, elapsed_ms
                 FROM scans WHERE id = ?1",
                [id],
                |row| {
                    Ok(ScanRow {
                        page: row.get(0)?,
                        url: row.get(1)?,
                        started_at: row.get(2)?,
                        finished_at: row.get(3)?,
                        status: row.get(4)?,
                        error: row.get(5)?,
                        http_status: row.get(6)?,
                        final_url: row.get(7)?,
                        headers_json: row.get(8)?,
                        hosts_json: row.get(9)?,
                        payment_fields_json: row.get(10)?,
                        elapsed_ms: row.get(11)?,
                    })
                },
            )
            .optional()
            .map_err(self.sqlite_err(action.clone()))?;
        let Some(row) = row else { return Ok(None) };

        let status = self.parse_status(id, &row.status)?;
        let inventory = match status {
            PageStatus::Error => None,
            PageStatus::Ok => Some(Inventory {
                url: row.url.clone(),
                final_url: row.final_url.unwrap_or_default(),
                status: row.http_status.unwrap_or_default(),
                headers: self.parse_json(id, "headers_json", row.headers_json.as_deref())?,
                scripts: self.scripts_of(id)?,
                hosts: self.parse_json(id, "hosts_json", row.hosts_json.as_deref())?,
                payment_fields: self.parse_json(
                    id,
                    "payment_fields_json",
                    row.payment_fields_json.as_deref(),
                )?,
            }),
        };
        Ok(Some(StoredScan {
            id,
            page: row.page,
            url: row.url,
            started_at: row.started_at,
            finished_at: row.finished_at,
            status,
            error: row.error,
            inventory,
            findings: self.findings_of(id)?,
            elapsed_ms: row.elapsed_ms.map(|v| v.max(0) as u64).unwrap_or(0),
        }))
    }

    fn scripts_of(&self, scan_id: i64) -> Result<Vec<Script>, StoreError> {
        let action = format!("reading the scripts of scan {scan_id}");
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT s.script_id, s.kind, s.url, s.frame_url, s.sha256, s.sri, s.bytes,
                        s.initiator, b.source
                 FROM scan_scripts s JOIN script_bodies b ON b.sha256 = s.sha256
                 WHERE s.scan_id = ?1 ORDER BY s.position",
            )
            .map_err(self.sqlite_err(action.clone()))?;
        let rows = stmt
            .query_map([scan_id], |row| {
                Ok((
                    row.get::<_, String>(1)?,
                    Script {
                        id: row.get(0)?,
                        kind: ScriptKind::External, // replaced below once the text is checked
                        url: row.get(2)?,
                        frame_url: row.get(3)?,
                        sha256: row.get(4)?,
                        sri: row.get(5)?,
                        bytes: row.get::<_, i64>(6)?.max(0) as u64,
                        initiator: row.get(7)?,
                        source: row.get(8)?,
                    },
                ))
            })
            .map_err(self.sqlite_err(action.clone()))?;
        let mut scripts = Vec::new();
        for row in rows {
            let (kind, mut script) = row.map_err(self.sqlite_err(action.clone()))?;
            script.kind = parse_kind(&kind).ok_or_else(|| StoreError::Corrupt {
                path: self.path.clone(),
                what: format!("script `{}` of scan {scan_id}", script.id),
                detail: format!("unknown script kind `{kind}`"),
            })?;
            scripts.push(script);
        }
        Ok(scripts)
    }

    fn findings_of(&self, scan_id: i64) -> Result<Vec<Finding>, StoreError> {
        let action = format!("reading the findings of scan {scan_id}");
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT finding_id, finding_json FROM findings WHERE scan_id = ?1 ORDER BY position",
            )
            .map_err(self.sqlite_err(action.clone()))?;
        let rows = stmt
            .query_map([scan_id], |row| Ok((row.get::<_, String>(0)?, row.get::<_, String>(1)?)))
            .map_err(self.sqlite_err(action.clone()))?;
        let mut findings = Vec::new();
        for row in rows {
            let (finding_id, json) = row.map_err(self.sqlite_err(action.clone()))?;
            let finding = serde_json::from_str(&json).map_err(|e| StoreError::Corrupt {
                path: self.path.clone(),
                what: format!("finding `{finding_id}` of scan {scan_id}"),
                detail: e.to_string(),
            })?;
            findings.push(finding);
        }
        Ok(findings)
    }

    /// The source of a script body seen in any scan, by its lower-case hex SHA-256.
    pub fn script_source(&self, sha256: &str) -> Result<Option<String>, StoreError> {
        self.conn
            .query_row("SELECT source FROM script_bodies WHERE sha256 = ?1", [sha256], |row| row.get(0))
            .optional()
            .map_err(self.sqlite_err(format!("reading the script body {sha256}")))
    }

    /// The script identities each of the last `limit` successful scans of `page` saw, newest
    /// first: the presence history that tells an intermittent script from a removed one.
    pub fn recent_script_ids(&self, page: &str, limit: usize) -> Result<Vec<std::collections::BTreeSet<String>>, StoreError> {
        let action = format!("reading the recent scripts of page `{page}`");
        let mut stmt = self
            .conn
            .prepare_cached("SELECT id FROM scans WHERE page = ?1 AND status = 'ok' ORDER BY id DESC LIMIT ?2")
            .map_err(self.sqlite_err(action.clone()))?;
        let ids: Vec<i64> = stmt
            .query_map(params![page, to_i64(limit as u64)], |row| row.get(0))
            .map_err(self.sqlite_err(action.clone()))?
            .collect::<Result<_, _>>()
            .map_err(self.sqlite_err(action.clone()))?;
        let mut out = Vec::with_capacity(ids.len());
        let mut stmt = self
            .conn
            .prepare_cached("SELECT script_id FROM scan_scripts WHERE scan_id = ?1")
            .map_err(self.sqlite_err(action.clone()))?;
        for id in ids {
            let set = stmt
                .query_map([id], |row| row.get::<_, String>(0))
                .map_err(self.sqlite_err(action.clone()))?
                .collect::<Result<_, _>>()
                .map_err(self.sqlite_err(action.clone()))?;
            out.push(set);
        }
        Ok(out)
    }

    /// The scan history, newest first, optionally of one page only.
    /// When a finding was first and last seen on a page, and in how many scans: the finding's
    /// lifecycle (one unapproved change is one finding, however many scans repeat it).
    pub fn finding_history(&self, page: &str, finding_id: &str) -> Result<Option<(String, String, u64)>, StoreError> {
        let row: (Option<String>, Option<String>, i64) = self
            .conn
            .query_row(
                "SELECT min(s.started_at), max(s.started_at), count(DISTINCT s.id)
                   FROM findings f JOIN scans s ON s.id = f.scan_id
                  WHERE s.page = ?1 AND f.finding_id = ?2",
                rusqlite::params![page, finding_id],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .map_err(self.sqlite_err(format!("reading the history of finding {finding_id}")))?;
        Ok(match row {
            (Some(first), Some(last), n) if n > 0 => Some((first, last, n as u64)),
            _ => None,
        })
    }

    pub fn scans(&self, page: Option<&str>, limit: usize) -> Result<Vec<ScanSummary>, StoreError> {
        let action = match page {
            Some(page) => format!("listing the scans of page `{page}`"),
            None => "listing scans".to_string(),
        };
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT id, page, url, started_at, finished_at, status, error,
                        (SELECT COUNT(*) FROM findings f WHERE f.scan_id = scans.id),
                        (SELECT COUNT(*) FROM scan_scripts s WHERE s.scan_id = scans.id)
                 FROM scans WHERE ?1 IS NULL OR page = ?1
                 ORDER BY id DESC LIMIT ?2",
            )
            .map_err(self.sqlite_err(action.clone()))?;
        let rows = stmt
            .query_map(params![page, to_i64(limit as u64)], |row| {
                Ok((
                    row.get::<_, String>(5)?,
                    ScanSummary {
                        id: row.get(0)?,
                        page: row.get(1)?,
                        url: row.get(2)?,
                        started_at: row.get(3)?,
                        finished_at: row.get(4)?,
                        status: PageStatus::Ok, // replaced below once the text is checked
                        error: row.get(6)?,
                        findings: row.get::<_, i64>(7)?.max(0) as usize,
                        scripts: row.get::<_, i64>(8)?.max(0) as usize,
                    },
                ))
            })
            .map_err(self.sqlite_err(action.clone()))?;
        let mut out = Vec::new();
        for row in rows {
            let (status, mut summary) = row.map_err(self.sqlite_err(action.clone()))?;
            summary.status = self.parse_status(summary.id, &status)?;
            out.push(summary);
        }
        Ok(out)
    }

    fn parse_status(&self, id: i64, status: &str) -> Result<PageStatus, StoreError> {
        match status {
            "ok" => Ok(PageStatus::Ok),
            "error" => Ok(PageStatus::Error),
            other => Err(StoreError::Corrupt {
                path: self.path.clone(),
                what: format!("scan {id}"),
                detail: format!("unknown status `{other}`"),
            }),
        }
    }

    /// Decodes a JSON column of an `ok` scan; NULL reads as the empty value.
    fn parse_json<T: serde::de::DeserializeOwned + Default>(
        &self,
        id: i64,
        column: &str,
        json: Option<&str>,
    ) -> Result<T, StoreError> {
        match json {
            None => Ok(T::default()),
            Some(json) => serde_json::from_str(json).map_err(|e| StoreError::Corrupt {
                path: self.path.clone(),
                what: format!("column {column} of scan {id}"),
                detail: e.to_string(),
            }),
        }
    }
}

struct ScanRow {
    page: String,
    url: String,
    started_at: String,
    finished_at: String,
    status: String,
    error: Option<String>,
    http_status: Option<u16>,
    final_url: Option<String>,
    headers_json: Option<String>,
    hosts_json: Option<String>,
    payment_fields_json: Option<String>,
    elapsed_ms: Option<i64>,
}

enum InsertError {
    Sqlite(rusqlite::Error),
    Other(StoreError),
}

impl From<rusqlite::Error> for InsertError {
    fn from(e: rusqlite::Error) -> Self {
        InsertError::Sqlite(e)
    }
}

fn insert_scripts(tx: &Transaction, scan_id: i64, scripts: &[Script]) -> Result<(), rusqlite::Error> {
    // OR IGNORE: the body is keyed by its hash, so an existing row already holds this text.
    let mut body = tx.prepare_cached(
        "INSERT OR IGNORE INTO script_bodies (sha256, source, bytes) VALUES (?1, ?2, ?3)",
    )?;
    let mut script = tx.prepare_cached(
        "INSERT INTO scan_scripts (scan_id, position, script_id, kind, url, frame_url, sha256, sri,
                                   bytes, initiator)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
    )?;
    for (position, s) in scripts.iter().enumerate() {
        body.execute(params![s.sha256, s.source, to_i64(s.source.len() as u64)])?;
        script.execute(params![
            scan_id,
            position as i64,
            s.id,
            s.kind.as_str(),
            s.url,
            s.frame_url,
            s.sha256,
            s.sri,
            to_i64(s.bytes),
            s.initiator,
        ])?;
    }
    Ok(())
}

fn insert_findings(
    tx: &Transaction,
    scan_id: i64,
    findings: &[Finding],
    ser_err: impl Fn(serde_json::Error) -> StoreError,
) -> Result<(), InsertError> {
    let mut stmt = tx.prepare_cached(
        "INSERT INTO findings (scan_id, position, finding_id, kind, severity, title, finding_json)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )?;
    for (position, f) in findings.iter().enumerate() {
        let json = serde_json::to_string(f).map_err(|e| InsertError::Other(ser_err(e)))?;
        stmt.execute(params![
            scan_id,
            position as i64,
            f.id,
            f.kind.as_str(),
            f.severity.as_str(),
            f.title,
            json,
        ])?;
    }
    Ok(())
}

/// SQLite integers are signed 64-bit; no real size or duration comes near the limit.
fn to_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

/// Parses the stored lower-case kind with the model's own serde names, so the two never drift.
fn parse_kind(s: &str) -> Option<ScriptKind> {
    let de: serde::de::value::StrDeserializer<'_, serde::de::value::Error> = s.into_deserializer();
    ScriptKind::deserialize(de).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{FindingKind, HeaderChange, PaymentField, ScriptRef, Severity};
    use std::collections::BTreeMap;

    fn script(id: &str, kind: ScriptKind, source: &str) -> Script {
        use sha2::{Digest, Sha256};
        Script {
            id: id.to_string(),
            kind,
            url: (kind == ScriptKind::External).then(|| format!("https://shop.example/{id}.js")),
            frame_url: "https://shop.example/checkout".to_string(),
            sha256: hex::encode(Sha256::digest(source.as_bytes())),
            sri: format!("sha384-{id}"),
            bytes: source.len() as u64,
            initiator: (kind == ScriptKind::Inline).then(|| "https://shop.example/app.js".to_string()),
            source: source.to_string(),
        }
    }

    fn inventory(scripts: Vec<Script>) -> Inventory {
        Inventory {
            url: "https://shop.example/checkout".to_string(),
            final_url: "https://shop.example/checkout/".to_string(),
            status: 200,
            headers: BTreeMap::from([(
                "content-security-policy".to_string(),
                "script-src 'self'".to_string(),
            )]),
            scripts,
            hosts: vec!["cdn.example".to_string(), "shop.example".to_string()],
            payment_fields: vec![PaymentField {
                frame_url: "https://shop.example/checkout".to_string(),
                selector: "#cc-number".to_string(),
                reason: "autocomplete=cc-number".to_string(),
            }],
        }
    }

    fn finding(id: &str, s: &Script) -> Finding {
        Finding {
            id: id.to_string(),
            kind: FindingKind::AlteredScript,
            severity: Severity::High,
            title: format!("Script {} changed", s.id),
            script: Some(ScriptRef { id: s.id.clone(), kind: s.kind, url: s.url.clone(), sha256: s.sha256.clone() }),
            diff: Some("-a\n+b\n".to_string()),
            header: Some(HeaderChange { name: "x".into(), approved: None, current: Some("y".into()) }),
            host: Some("evil.example".to_string()),
            approved_sha256: Some("0".repeat(64)),
            initiator: None,
            ..Default::default()
        }
    }

    fn record_ok(store: &mut Store, page: &str, inv: &Inventory, findings: &[Finding]) -> i64 {
        store
            .record_scan(&NewScan {
                page,
                url: &inv.url,
                started_at: now_rfc3339(),
                finished_at: now_rfc3339(),
                outcome: ScanOutcome::Ok { inventory: inv, findings, elapsed_ms: 1234 },
            })
            .unwrap()
    }

    fn count(store: &Store, table: &str) -> i64 {
        store.conn.query_row(&format!("SELECT COUNT(*) FROM {table}"), [], |r| r.get(0)).unwrap()
    }

    #[test]
    fn open_creates_nested_dirs_and_migrations_are_idempotent() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a/b/c/skimwatch.db");
        {
            let mut store = Store::open(&path).unwrap();
            record_ok(&mut store, "checkout", &inventory(vec![]), &[]);
        }
        assert!(path.is_file());
        // Opening again must not re-run migrations (CREATE TABLE would fail) nor lose data.
        let store = Store::open(&path).unwrap();
        let version: i64 = store.conn.query_row("PRAGMA user_version", [], |r| r.get(0)).unwrap();
        assert_eq!(version, MIGRATIONS.len() as i64);
        assert_eq!(store.scans(None, 10).unwrap().len(), 1);
        let mode: String = store.conn.query_row("PRAGMA journal_mode", [], |r| r.get(0)).unwrap();
        assert_eq!(mode, "wal");
        let fk: i64 = store.conn.query_row("PRAGMA foreign_keys", [], |r| r.get(0)).unwrap();
        assert_eq!(fk, 1);
    }

    #[test]
    fn newer_database_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("skimwatch.db");
        drop(Store::open(&path).unwrap());
        {
            let conn = Connection::open(&path).unwrap();
            conn.pragma_update(None, "user_version", 99).unwrap();
        }
        let err = Store::open(&path).err().expect("a newer schema must be refused");
        assert!(matches!(err, StoreError::TooNew { found: 99, .. }), "{err}");
        assert!(err.to_string().contains("newer skimwatch"), "{err}");
    }

    #[test]
    fn bodies_are_deduplicated_across_scans() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(&dir.path().join("db.sqlite")).unwrap();
        let inv = inventory(vec![
            script("self:/app.js", ScriptKind::External, "console.log('app')"),
            script("main|inline|abc", ScriptKind::Inline, "var x = 1;"),
        ]);
        record_ok(&mut store, "checkout", &inv, &[]);
        record_ok(&mut store, "checkout", &inv, &[]);
        // The same content on another page also shares the bodies.
        record_ok(&mut store, "cart", &inv, &[]);
        assert_eq!(count(&store, "scans"), 3);
        assert_eq!(count(&store, "scan_scripts"), 6);
        assert_eq!(count(&store, "script_bodies"), 2);

        let changed = inventory(vec![script("self:/app.js", ScriptKind::External, "console.log('evil')")]);
        record_ok(&mut store, "checkout", &changed, &[]);
        assert_eq!(count(&store, "script_bodies"), 3);
        assert_eq!(
            store.script_source(&changed.scripts[0].sha256).unwrap().as_deref(),
            Some("console.log('evil')")
        );
        assert_eq!(store.script_source(&"f".repeat(64)).unwrap(), None);
    }

    #[test]
    fn latest_scan_round_trips_inventory_and_findings() {
        let mut store = Store::open_in_memory().unwrap();
        let old = inventory(vec![script("self:/app.js", ScriptKind::External, "old")]);
        record_ok(&mut store, "checkout", &old, &[]);
        let new = inventory(vec![
            script("self:/app.js", ScriptKind::External, "new"),
            script("main|inline|abc", ScriptKind::Inline, "inline code\nwith ünïcode"),
        ]);
        let findings = vec![finding("f1", &new.scripts[0]), finding("f2", &new.scripts[1])];
        let id = record_ok(&mut store, "checkout", &new, &findings);
        // Another page's scan must not be mistaken for this page's latest.
        record_ok(&mut store, "cart", &old, &[]);

        let latest = store.latest_scan("checkout").unwrap().unwrap();
        assert_eq!(latest.id, id);
        assert_eq!(latest.page, "checkout");
        assert_eq!(latest.status, PageStatus::Ok);
        assert_eq!(latest.error, None);
        assert_eq!(latest.elapsed_ms, 1234);
        assert_eq!(latest.inventory.as_ref(), Some(&new));
        assert_eq!(latest.findings, findings);
        assert_eq!(store.latest_ok_scan("checkout").unwrap().unwrap(), latest);
        assert!(store.latest_scan("nope").unwrap().is_none());
    }

    #[test]
    fn error_scans_are_stored_and_skipped_by_latest_ok() {
        let mut store = Store::open_in_memory().unwrap();
        let inv = inventory(vec![script("self:/app.js", ScriptKind::External, "code")]);
        let ok_id = record_ok(&mut store, "checkout", &inv, &[]);
        let err_id = store
            .record_scan(&NewScan {
                page: "checkout",
                url: "https://shop.example/checkout",
                started_at: "2025-01-01T00:00:00Z".to_string(),
                finished_at: "2025-01-01T00:00:30Z".to_string(),
                outcome: ScanOutcome::Error { message: "navigation timed out after 30s".to_string() },
            })
            .unwrap();
        let latest = store.latest_scan("checkout").unwrap().unwrap();
        assert_eq!(latest.id, err_id);
        assert_eq!(latest.status, PageStatus::Error);
        assert_eq!(latest.error.as_deref(), Some("navigation timed out after 30s"));
        assert_eq!(latest.inventory, None);
        assert!(latest.findings.is_empty());
        assert_eq!(latest.started_at, "2025-01-01T00:00:00Z");
        assert_eq!(store.latest_ok_scan("checkout").unwrap().unwrap().id, ok_id);
    }

    #[test]
    fn scans_lists_newest_first_with_counts() {
        let mut store = Store::open_in_memory().unwrap();
        let inv = inventory(vec![
            script("a", ScriptKind::External, "a"),
            script("b", ScriptKind::External, "b"),
        ]);
        let first = record_ok(&mut store, "checkout", &inv, &[finding("f1", &inv.scripts[0])]);
        let second = record_ok(&mut store, "cart", &inv, &[]);
        let third = store
            .record_scan(&NewScan {
                page: "checkout",
                url: "https://shop.example/checkout",
                started_at: now_rfc3339(),
                finished_at: now_rfc3339(),
                outcome: ScanOutcome::Error { message: "boom".to_string() },
            })
            .unwrap();

        let all = store.scans(None, 10).unwrap();
        assert_eq!(all.iter().map(|s| s.id).collect::<Vec<_>>(), vec![third, second, first]);
        assert_eq!((all[2].scripts, all[2].findings), (2, 1));
        assert_eq!((all[0].scripts, all[0].findings, all[0].status), (0, 0, PageStatus::Error));

        let checkout = store.scans(Some("checkout"), 1).unwrap();
        assert_eq!(checkout.len(), 1);
        assert_eq!(checkout[0].id, third);
        assert_eq!(checkout[0].error.as_deref(), Some("boom"));
    }

    #[test]
    fn now_is_utc_seconds() {
        let now = now_rfc3339();
        assert_eq!(now.len(), "2025-01-01T00:00:00Z".len(), "{now}");
        assert!(now.ends_with('Z'), "{now}");
        time::OffsetDateTime::parse(&now, &time::format_description::well_known::Rfc3339).unwrap();
    }
}
