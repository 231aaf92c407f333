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
    // Version 6: flat storage (issue 12). A script row (identity, kind, URL, frame, body, SRI,
    // size, initiator) is stored once, however many scans saw it; a scan keeps the list of its
    // rows (`scans.scripts`, JSON: a row id per script in inventory order, or `[id, url]` when
    // this scan saw the script at another URL than the row's: a cache-buster). `scan_scripts`
    // becomes a view with the old columns, so readers and the scan log see the same rows as
    // before. `script_bodies.normalized` lets a volatile inline script whose normalized form is
    // already stored refer to that body instead of adding a new one. Existing scans keep their
    // rows (migrated one to one, keyed `legacy:<scan>:<position>`), so their seals still verify.
    r#"
    CREATE TABLE script_rows (
        id        INTEGER PRIMARY KEY,
        key       TEXT    NOT NULL UNIQUE,             -- SHA-256 of the values below but the URL
        script_id TEXT    NOT NULL,
        kind      TEXT    NOT NULL,
        url       TEXT,                                -- the first URL seen
        frame_url TEXT    NOT NULL,
        sha256    TEXT    NOT NULL REFERENCES script_bodies (sha256),
        sri       TEXT    NOT NULL,
        bytes     INTEGER NOT NULL,
        initiator TEXT
    );
    CREATE INDEX script_rows_by_sha256 ON script_rows (sha256);
    CREATE INDEX script_rows_by_script_id ON script_rows (script_id);
    ALTER TABLE scans ADD COLUMN scripts TEXT;
    ALTER TABLE script_bodies ADD COLUMN normalized TEXT;
    CREATE INDEX script_bodies_by_normalized ON script_bodies (normalized) WHERE normalized IS NOT NULL;

    INSERT INTO script_rows (key, script_id, kind, url, frame_url, sha256, sri, bytes, initiator)
         SELECT 'legacy:' || scan_id || ':' || position, script_id, kind, url, frame_url, sha256, sri, bytes,
                initiator
           FROM scan_scripts ORDER BY scan_id, position;
    UPDATE scans SET scripts = (
        SELECT json_group_array(id) FROM (
            SELECT r.id AS id FROM scan_scripts ss JOIN script_rows r ON r.key = 'legacy:' || ss.scan_id || ':' || ss.position
             WHERE ss.scan_id = scans.id ORDER BY ss.position))
     WHERE status = 'ok';
    DROP TABLE scan_scripts;
    CREATE VIEW scan_scripts AS
        SELECT s.id AS scan_id, CAST(j.key AS INTEGER) AS position, r.script_id, r.kind,
               CASE WHEN j.type = 'array' THEN j.value ->> 1 ELSE r.url END AS url,
               r.frame_url, r.sha256, r.sri, r.bytes, r.initiator
          FROM scans s, json_each(s.scripts) j
          JOIN script_rows r ON r.id = CASE WHEN j.type = 'array' THEN j.value ->> 0 ELSE j.value END;

    -- Retention by age (`[storage] keep = "400d"`, prune.rs): a run of deleted scans with no
    -- kept scan between them leaves one row that keeps the chain's link across the gap: the
    -- first one's prev_hash and the last one's record_hash (see chain.rs).
    CREATE TABLE pruned_ranges (
        first_id         INTEGER PRIMARY KEY,
        last_id          INTEGER NOT NULL,
        scans            INTEGER NOT NULL,
        first_started_at TEXT    NOT NULL,
        last_started_at  TEXT    NOT NULL,
        prev_hash        TEXT    NOT NULL,
        record_hash      TEXT    NOT NULL,
        pages_json       TEXT    NOT NULL,             -- {"page": scans deleted}
        pruned_at        TEXT    NOT NULL
    );
    "#,
    // Version 7: delivery per destination (issue 13). An alert is delivered to each configured
    // destination (`email`, `webhook:<name>`) on its own: one row per (alert, destination) with
    // its own attempts, backoff and sent time, so a destination that is down delays only itself
    // and one that accepted the alert never gets it again. The `outbox` row keeps its columns as
    // the summary over its deliveries (`sent_at`: when the last destination accepted it), which
    // store/outbox.rs updates with each delivery. Alerts queued before were for email.
    r#"
    CREATE TABLE deliveries (
        outbox_id       INTEGER NOT NULL REFERENCES outbox (id) ON DELETE CASCADE,
        destination     TEXT    NOT NULL,              -- `email` or `webhook:<name>`
        attempts        INTEGER NOT NULL DEFAULT 0,
        next_attempt_at TEXT    NOT NULL,
        last_error      TEXT,
        sent_at         TEXT,                          -- set once the destination accepted it
        PRIMARY KEY (outbox_id, destination)
    ) WITHOUT ROWID;
    CREATE INDEX deliveries_pending ON deliveries (destination, next_attempt_at) WHERE sent_at IS NULL;
    INSERT INTO deliveries (outbox_id, destination, attempts, next_attempt_at, last_error, sent_at)
         SELECT id, 'email', attempts, next_attempt_at, last_error, sent_at FROM outbox;
    "#,
    // Version 8: CSP violation reports of real browsers (issue 14), grouped: one row per
    // (page, directive, blocked resource normalised to an origin or `inline`/`eval`, source file)
    // with how many reports and when, so a thousand browsers reporting one thing are one row.
    r#"
    CREATE TABLE csp_violations (
        page       TEXT    NOT NULL,
        directive  TEXT    NOT NULL,
        blocked    TEXT    NOT NULL,
        source     TEXT    NOT NULL,
        sample     TEXT,
        count      INTEGER NOT NULL,
        first_seen TEXT    NOT NULL,
        last_seen  TEXT    NOT NULL,
        noise      INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (page, directive, blocked, source)
    ) WITHOUT ROWID;
    "#,
    // Version 9: the cookie audit (issue 15). Each successful scan keeps the cookies the page
    // ended up with (JSON of `model::Cookie`: name, domain, path, attributes, setter and a keyed
    // hash of the value — never the value); NULL for scans without cookies and those before.
    r#"
    ALTER TABLE scans ADD COLUMN cookies_json TEXT;
    "#,
    // Version 10: which intelligence data the scans checked against (issue 14), for the
    // evidence: one row per source and version (SHA-256 of the data) with its period of use.
    r#"
    CREATE TABLE intel_versions (
        name       TEXT    NOT NULL,
        sha256     TEXT    NOT NULL,
        kind       TEXT    NOT NULL,
        origin     TEXT    NOT NULL,
        location   TEXT,
        entries    INTEGER NOT NULL,
        skipped    INTEGER NOT NULL,
        date       TEXT    NOT NULL,
        first_used TEXT    NOT NULL,
        last_used  TEXT    NOT NULL,
        scans      INTEGER NOT NULL,
        PRIMARY KEY (name, sha256)
    ) WITHOUT ROWID;
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
    fn scans_recorded_before_flat_storage_read_back_and_still_verify() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("v5.db");
        {
            // A database as version 5 left it: one sealed scan with two scripts.
            let conn = Connection::open(&path).unwrap();
            for m in &MIGRATIONS[..5] {
                conn.execute_batch(m).unwrap();
            }
            conn.pragma_update(None, "user_version", 5).unwrap();
            conn.execute_batch(
                "INSERT INTO scans (id, page, url, started_at, finished_at, status, http_status, final_url,
                                    headers_json, hosts_json, payment_fields_json, elapsed_ms)
                 VALUES (1, 'checkout', 'https://shop.example/', '2026-01-01T00:00:00Z', '2026-01-01T00:00:05Z',
                         'ok', 200, 'https://shop.example/', '{}', '[]', '[]', 5000);
                 INSERT INTO script_bodies (sha256, source, bytes) VALUES
                   ('a95a430608fb6e9ab984c01c1a9dc039cefd2776356781efc924f02ab583a32e', 'a()', 3);
                 INSERT INTO scan_scripts VALUES
                   (1, 0, 'self:/a.js', 'external', 'https://shop.example/a.js?v=1', 'https://shop.example/',
                    'a95a430608fb6e9ab984c01c1a9dc039cefd2776356781efc924f02ab583a32e', 'sha384-x', 3, NULL),
                   (1, 1, 'self:/b.js', 'external', 'https://shop.example/b.js', 'https://shop.example/',
                    'a95a430608fb6e9ab984c01c1a9dc039cefd2776356781efc924f02ab583a32e', 'sha384-x', 3, NULL);",
            )
            .unwrap();
            crate::store::chain::seal(&conn, 1).unwrap();
        }
        let mut store = Store::open(&path).unwrap();
        let scan = store.scan(1).unwrap().unwrap();
        let scripts = scan.inventory.unwrap().scripts;
        let urls: Vec<_> = scripts.iter().map(|s| s.url.as_deref().unwrap()).collect();
        assert_eq!(urls, ["https://shop.example/a.js?v=1", "https://shop.example/b.js"]);
        assert_eq!(scripts[0].source, "a()");
        assert!(store.verify_log().unwrap().ok(), "the old seal covers the same rows");
        // New scans share rows: the same script at another URL adds no row.
        let mut inv = crate::store::history::tests::inventory(vec![]);
        inv.scripts = scripts.clone();
        inv.scripts[0].url = Some("https://shop.example/a.js?v=2".into());
        let id = crate::store::history::tests::record_ok(&mut store, "checkout", &inv, &[]);
        let rows = |store: &Store| store.conn.query_row("SELECT count(*) FROM script_rows", [], |r| r.get::<_, i64>(0));
        let before = rows(&store).unwrap();
        inv.scripts[0].url = Some("https://shop.example/a.js?v=3".into());
        let id2 = crate::store::history::tests::record_ok(&mut store, "checkout", &inv, &[]);
        assert_eq!(rows(&store).unwrap(), before, "a rescan with a new cache-buster adds no script row");
        for (id, v) in [(id, "2"), (id2, "3")] {
            let again = store.scan(id).unwrap().unwrap().inventory.unwrap().scripts;
            assert_eq!(again[0].url.as_deref(), Some(format!("https://shop.example/a.js?v={v}").as_str()));
            assert_eq!(again[1].url.as_deref(), Some("https://shop.example/b.js"));
        }
        assert!(store.verify_log().unwrap().ok());
    }

    #[test]
    fn alerts_queued_before_deliveries_are_emails_and_still_delivered_once() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("v6.db");
        {
            // A database as version 6 left it: one alert mailed, one still queued.
            let conn = Connection::open(&path).unwrap();
            for m in &MIGRATIONS[..6] {
                conn.execute_batch(m).unwrap();
            }
            conn.pragma_update(None, "user_version", 6).unwrap();
            conn.execute_batch(
                "INSERT INTO outbox (id, page, kind, alert_json, created_at, attempts, next_attempt_at, last_error, sent_at) VALUES
                   (1, 'checkout', 'findings', '{\"kind\":\"findings\",\"raised_at\":\"2026-01-01T00:00:00Z\"}',
                    '2026-01-01T00:00:00Z', 1, '2026-01-01T00:00:00Z', NULL, '2026-01-01T00:00:01Z'),
                   (2, 'checkout', 'scan_failing', '{\"kind\":\"scan_failing\",\"raised_at\":\"2026-01-02T00:00:00Z\"}',
                    '2026-01-02T00:00:00Z', 3, '2026-01-02T00:04:00Z', 'connection refused', NULL);",
            )
            .unwrap();
        }
        let mut store = Store::open(&path).unwrap();
        let due: Vec<crate::store::outbox::Queued<serde_json::Value>> =
            store.due_deliveries("email", None, 10).unwrap();
        assert_eq!(
            due.iter().map(|q| (q.id, q.attempts)).collect::<Vec<_>>(),
            [(2, 3)],
            "the queued one, with its attempts"
        );
        assert!(store.due_deliveries::<serde_json::Value>("webhook:x", None, 10).unwrap().is_empty());
        let st = store.monitor_status(&[]).unwrap();
        assert_eq!((st.outbox.queued, st.outbox.sent), (1, 1));
        let email = &st.outbox.destinations[0];
        assert_eq!((email.destination.as_str(), email.pending, email.failed, email.sent), ("email", 1, 1, 1));
        assert_eq!(email.last_error.as_deref(), Some("connection refused"));
        store.mark_delivered(2, "email", crate::model::Timestamp::parse("2026-01-02T00:05:00Z").unwrap()).unwrap();
        let st = store.monitor_status(&[]).unwrap();
        assert_eq!((st.outbox.queued, st.outbox.sent), (0, 2));
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
