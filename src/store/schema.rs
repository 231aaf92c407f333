//! The schema: the append-only list of migrations, and opening a connection with the settings
//! every skimwatch connection needs (busy timeout, WAL, foreign keys).
//!
//! The schema is versioned from the first release with `PRAGMA user_version` and the
//! append-only [`MIGRATIONS`] list: a released migration is never edited, a change is a new
//! entry. A database written by a newer skimwatch is refused with a clear error instead of
//! being misread.

use super::{Store, StoreError};
use rusqlite::{Connection, TransactionBehavior};
use std::path::PathBuf;
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
    // Version 4: pruning (see prune.rs). A pruned body keeps its row and its SHA-256 (the key
    // the scan log covers) and loses its text; `pruned_at` says when, so `log verify` can tell
    // a pruned body from an altered one.
    r#"
    ALTER TABLE script_bodies ADD COLUMN pruned_at TEXT;
    "#,
    // Version 5: what the shopper saw (issue 11): one row per distinct picture of the payment
    // page, keyed by what it shows (`inventory::picture`), so an unchanged page adds nothing;
    // `scans.screenshot` is that key.
    r#"
    CREATE TABLE screenshots (
        sha256 TEXT    PRIMARY KEY NOT NULL,
        png    BLOB    NOT NULL,
        bytes  INTEGER NOT NULL
    ) WITHOUT ROWID;
    ALTER TABLE scans ADD COLUMN screenshot TEXT;
    "#,
];

/// How long a writer waits for another process (a second `skimwatch scan`, a `watch` loop)
/// to release the database before giving up with "database is locked".
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

impl Store {
    /// Applies the connection settings and the migrations this database has not seen yet.
    pub(super) fn setup(conn: Connection, path: PathBuf) -> Result<Store, StoreError> {
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
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::history::tests::{inventory, record_ok};

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
}
