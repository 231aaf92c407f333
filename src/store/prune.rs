//! Keeping the database bounded: pruning old script bodies, the database size budget
//! (`[storage] max_database_size`) and the storage facts `skimwatch status` shows.
//!
//! A page whose inline code changes on every scan (a nonce, a timestamp) stores a new body per
//! scan; without pruning the database grows forever. [`Store::prune`] empties the text of every
//! body that is not seen by one of the last `keep` successful scans of any page and is not in
//! the caller's protected set (the approved scripts of the baselines, the scripts named by open
//! findings). The body's row, its SHA-256 and its size stay: the scan log seals scripts by their
//! SHA-256 (see [`super::chain`]), so it still verifies, and a pruned body seen again gets its
//! text back. Pruning runs in batches of [`PRUNE_BATCH`] bodies, each in its own short write
//! transaction, so a scan being recorded never waits long for it.

use super::{Store, StoreError};
use crate::model::Finding;
use rusqlite::{params, OptionalExtension, TransactionBehavior};
use serde::{Deserialize, Serialize};
use std::collections::HashSet;

/// Bodies examined per write transaction.
pub const PRUNE_BATCH: usize = 500;
/// `monitor_state` key of the last prune (JSON of [`PruneReport`]).
const LAST_PRUNE: &str = "last_prune";

/// What one prune did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PruneReport {
    /// When it ran (RFC 3339 UTC).
    pub at: String,
    /// Bodies whose text was removed, and their total size in bytes.
    pub bodies: u64,
    pub bytes: u64,
    /// Scans deleted by retention (`[storage] keep` as a duration), and screenshots with them.
    #[serde(default)]
    pub scans: u64,
    #[serde(default)]
    pub screenshots: u64,
}

/// A run of scans deleted by retention: what the evidence report says about a pruned period.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PrunedRange {
    pub first_id: i64,
    pub last_id: i64,
    pub scans: u64,
    /// `started_at` of the first and the last deleted scan.
    pub first_started_at: String,
    pub last_started_at: String,
    /// Scans deleted per page.
    pub pages: std::collections::BTreeMap<String, u64>,
    /// When they were deleted.
    pub pruned_at: String,
}

/// The database's size and pruning state, for `skimwatch status`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StorageInfo {
    /// Size of the database file in bytes (pages in use and free pages).
    pub database_bytes: u64,
    /// Of which free pages (reused before the file grows).
    pub free_bytes: u64,
    /// Script bodies with their text, and bodies pruned to their hash.
    pub bodies: u64,
    pub pruned_bodies: u64,
    /// The last prune, if any ran on this database.
    pub last_prune: Option<PruneReport>,
}

impl StoreError {
    /// The database (or the disk under it) is full: SQLite's `SQLITE_FULL`, which is also what
    /// the size budget (`max_page_count`) gives.
    pub fn is_full(&self) -> bool {
        match self {
            StoreError::Open { source, .. }
            | StoreError::Migrate { source, .. }
            | StoreError::Sqlite { source, .. } => source.sqlite_error_code() == Some(rusqlite::ErrorCode::DiskFull),
            _ => false,
        }
    }
}

impl Store {
    /// Caps the database at `bytes` (rounded down to whole pages) for this connection: SQLite's
    /// `max_page_count`. A write that would grow the file beyond it fails with "database or
    /// disk is full" ([`StoreError::is_full`]), as a full disk does. A cap below the current
    /// size keeps the current size (SQLite never truncates), so only free pages can be reused.
    /// Returns the cap in bytes actually in force.
    pub fn set_max_size(&self, bytes: u64) -> Result<u64, StoreError> {
        let err = || self.sqlite_err("setting the database size limit (max_database_size)");
        let page_size: i64 = self.conn.query_row("PRAGMA page_size", [], |r| r.get(0)).map_err(err())?;
        let page_size = page_size.max(512) as u64;
        let pages = (bytes / page_size).max(1);
        let set: i64 =
            self.conn.query_row(&format!("PRAGMA max_page_count = {pages}"), [], |r| r.get(0)).map_err(err())?;
        Ok(set.max(0) as u64 * page_size)
    }

    /// Empties the text of every script body that none of the last `keep` (at least 1)
    /// successful scans of any page saw and that is not in `protected` (SHA-256s), in batches
    /// of [`PRUNE_BATCH`]; the bodies named by the findings of each page's latest successful
    /// scan (its open findings) are protected too. Records the result for `status`.
    pub fn prune(&mut self, keep: usize, protected: &HashSet<String>) -> Result<PruneReport, StoreError> {
        let keep = keep.max(1) as i64;
        let action = "pruning old script bodies";
        let path = self.path.clone();
        let err = |source| StoreError::Sqlite { path: path.clone(), action: action.to_string(), source };
        let mut protected = protected.clone();
        protected.extend(self.open_finding_bodies().map_err(err)?);
        let now = super::now_rfc3339();
        let mut report = PruneReport { at: now.clone(), ..Default::default() };
        let mut cursor = String::new();
        loop {
            // Selecting and emptying in one IMMEDIATE transaction: a scan recorded meanwhile
            // (which may see a candidate again) is either before it or after it, never between.
            let tx = self.conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(err)?;
            let batch: Vec<(String, i64)> = {
                let mut stmt = tx
                    .prepare_cached(
                        "WITH recent AS (
                            SELECT id FROM (SELECT id, row_number() OVER (PARTITION BY page ORDER BY id DESC) AS rn
                                              FROM scans WHERE status = 'ok')
                             WHERE rn <= ?1)
                         SELECT b.sha256, b.bytes FROM script_bodies b
                          WHERE b.sha256 > ?2 AND b.pruned_at IS NULL
                            AND b.sha256 NOT IN (SELECT s.sha256 FROM scan_scripts s WHERE s.scan_id IN recent)
                          ORDER BY b.sha256 LIMIT ?3",
                    )
                    .map_err(err)?;
                stmt.query_map(params![keep, cursor, PRUNE_BATCH as i64], |r| Ok((r.get(0)?, r.get(1)?)))
                    .and_then(|rows| rows.collect::<rusqlite::Result<_>>())
                    .map_err(err)?
            };
            let Some((last, _)) = batch.last() else { break };
            cursor = last.clone();
            let full = batch.len() == PRUNE_BATCH;
            {
                let mut update = tx
                    .prepare_cached("UPDATE script_bodies SET source = '', pruned_at = ?1 WHERE sha256 = ?2")
                    .map_err(err)?;
                for (sha, bytes) in batch.iter().filter(|(sha, _)| !protected.contains(sha)) {
                    update.execute(params![now, sha]).map_err(err)?;
                    report.bodies += 1;
                    report.bytes += (*bytes).max(0) as u64;
                }
            }
            tx.commit().map_err(err)?;
            if !full {
                break;
            }
        }
        // Screenshots live as long as one of the last `keep` successful scans of a page shows
        // them (an alert whose picture went is sent without it).
        self.conn
            .execute(
                "DELETE FROM screenshots WHERE sha256 NOT IN (
                    SELECT screenshot FROM (SELECT screenshot, row_number() OVER (PARTITION BY page ORDER BY id DESC) AS rn
                                              FROM scans WHERE status = 'ok' AND screenshot IS NOT NULL)
                     WHERE rn <= ?1)",
                params![keep],
            )
            .map_err(err)?;
        self.note_prune(&report)?;
        Ok(report)
    }

    /// Records `report` as the last prune (what `status` shows).
    pub fn note_prune(&self, report: &PruneReport) -> Result<(), StoreError> {
        let json = serde_json::to_string(report).unwrap_or_default();
        self.conn
            .execute(
                "INSERT INTO monitor_state (key, value) VALUES (?1, ?2)
                 ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                params![LAST_PRUNE, json],
            )
            .map_err(self.sqlite_err("recording the last prune"))?;
        Ok(())
    }

    /// Retention by age: deletes the scans started before `cutoff` (RFC 3339) but each page's
    /// latest successful scan (and scans from before the scan log, which have no seal to
    /// keep), leaving one [`PrunedRange`] per run of deleted scans so the log still verifies;
    /// then the script rows no kept scan lists, the bodies no row, baseline (`protected`) or
    /// open finding names, and the screenshots no kept scan shows. One write transaction.
    pub fn retain(&mut self, cutoff: &str, protected: &HashSet<String>) -> Result<PruneReport, StoreError> {
        let action = "deleting scans older than the retention period";
        let path = self.path.clone();
        let err = |source| StoreError::Sqlite { path: path.clone(), action: action.to_string(), source };
        let mut protected = protected.clone();
        protected.extend(self.open_finding_bodies().map_err(err)?);
        let now = super::now_rfc3339();
        let mut report = PruneReport { at: now.clone(), ..Default::default() };
        let tx = self.conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(err)?;
        {
            // The scans up to the newest aged-out one, in id order, marked when they go: runs of
            // marked scans are the ranges (later scans are all kept, so they end the last run).
            let mut stmt = tx
                .prepare(
                    "SELECT id, page, started_at, prev_hash, record_hash,
                            started_at < ?1 AND record_hash IS NOT NULL
                              AND id NOT IN (SELECT max(id) FROM scans WHERE status = 'ok' GROUP BY page)
                       FROM scans WHERE id <= (SELECT max(id) FROM scans WHERE started_at < ?1) ORDER BY id",
                )
                .map_err(err)?;
            type Row = (i64, String, String, Option<String>, Option<String>, bool);
            let all: Vec<Row> = stmt
                .query_map([cutoff], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?)))
                .and_then(|rows| rows.collect())
                .map_err(err)?;
            let mut runs: Vec<Vec<&Row>> = Vec::new();
            let mut open = false;
            for row in &all {
                match (row.5, open) {
                    (true, true) => runs.last_mut().expect("open run").push(row),
                    (true, false) => runs.push(vec![row]),
                    (false, _) => {}
                }
                open = row.5;
            }
            for run in runs {
                let (first, last) = (run[0], run[run.len() - 1]);
                let mut pages = std::collections::BTreeMap::<String, u64>::new();
                for r in &run {
                    *pages.entry(r.1.clone()).or_default() += 1;
                }
                tx.execute(
                    "INSERT INTO pruned_ranges (first_id, last_id, scans, first_started_at, last_started_at,
                                                prev_hash, record_hash, pages_json, pruned_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                    params![
                        first.0,
                        last.0,
                        run.len() as i64,
                        first.2,
                        last.2,
                        first.3,
                        last.4,
                        serde_json::to_string(&pages).unwrap_or_default(),
                        now
                    ],
                )
                .map_err(err)?;
                // No kept scan lies between the first and the last: the run is exactly this.
                tx.execute("DELETE FROM scans WHERE id BETWEEN ?1 AND ?2", params![first.0, last.0]).map_err(err)?;
                report.scans += run.len() as u64;
            }
            // Nothing deleted: nothing new is unreferenced, so the full walk is skipped.
            if report.scans > 0 {
                tx.execute(
                    "DELETE FROM script_rows WHERE id NOT IN (
                        SELECT CASE WHEN j.type = 'array' THEN j.value ->> 0 ELSE j.value END
                          FROM scans s, json_each(s.scripts) j)",
                    [],
                )
                .map_err(err)?;
                let bodies: Vec<(String, i64)> = tx
                    .prepare(
                        "SELECT sha256, bytes FROM script_bodies WHERE sha256 NOT IN (SELECT sha256 FROM script_rows)",
                    )
                    .and_then(|mut s| s.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?.collect())
                    .map_err(err)?;
                let mut delete = tx.prepare("DELETE FROM script_bodies WHERE sha256 = ?1").map_err(err)?;
                for (sha, bytes) in bodies.iter().filter(|(sha, _)| !protected.contains(sha)) {
                    delete.execute([sha]).map_err(err)?;
                    report.bodies += 1;
                    report.bytes += (*bytes).max(0) as u64;
                }
                report.screenshots = tx
                    .execute(
                        "DELETE FROM screenshots WHERE sha256 NOT IN (SELECT screenshot FROM scans WHERE screenshot IS NOT NULL)",
                        [],
                    )
                    .map_err(err)? as u64;
            }
            let json = serde_json::to_string(&report).unwrap_or_default();
            tx.execute(
                "INSERT INTO monitor_state (key, value) VALUES (?1, ?2)
                 ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                params![LAST_PRUNE, json],
            )
            .map_err(err)?;
        }
        tx.commit().map_err(err)?;
        Ok(report)
    }

    /// The runs of scans retention deleted that overlap the period from `since` (RFC 3339).
    pub fn pruned_since(&self, since: &str) -> Result<Vec<PrunedRange>, StoreError> {
        let err = || self.sqlite_err("reading the pruned periods");
        let mut stmt = self
            .conn
            .prepare(
                "SELECT first_id, last_id, scans, first_started_at, last_started_at, pages_json, pruned_at
                   FROM pruned_ranges WHERE last_started_at >= ?1 ORDER BY first_id",
            )
            .map_err(err())?;
        stmt.query_map([since], |r| {
            Ok(PrunedRange {
                first_id: r.get(0)?,
                last_id: r.get(1)?,
                scans: r.get::<_, i64>(2)?.max(0) as u64,
                first_started_at: r.get(3)?,
                last_started_at: r.get(4)?,
                pages: serde_json::from_str(&r.get::<_, String>(5)?).unwrap_or_default(),
                pruned_at: r.get(6)?,
            })
        })
        .and_then(|rows| rows.collect())
        .map_err(err())
    }

    /// SHA-256s named by the findings of each page's latest successful scan.
    fn open_finding_bodies(&self) -> rusqlite::Result<HashSet<String>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT f.finding_json FROM findings f
              WHERE f.scan_id IN (SELECT max(id) FROM scans WHERE status = 'ok' GROUP BY page)",
        )?;
        let mut out = HashSet::new();
        let rows = stmt.query_map([], |r| r.get::<_, String>(0))?;
        for json in rows {
            // A row that does not parse protects nothing more; the chain check reports damage.
            if let Ok(f) = serde_json::from_str::<Finding>(&json?) {
                out.extend(f.script.map(|s| s.sha256));
                out.extend(f.approved_sha256);
            }
        }
        Ok(out)
    }

    /// The database's size and pruning state.
    pub fn storage_info(&self) -> Result<StorageInfo, StoreError> {
        let err = || self.sqlite_err("reading the database size");
        let pragma = |name: &str| -> Result<u64, StoreError> {
            self.conn
                .query_row(&format!("PRAGMA {name}"), [], |r| r.get::<_, i64>(0))
                .map(|v| v.max(0) as u64)
                .map_err(err())
        };
        let page_size = pragma("page_size")?;
        let (bodies, pruned): (i64, i64) = self
            .conn
            .query_row("SELECT count(*) - count(pruned_at), count(pruned_at) FROM script_bodies", [], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .map_err(err())?;
        let last: Option<String> = self
            .conn
            .query_row("SELECT value FROM monitor_state WHERE key = ?1", [LAST_PRUNE], |r| r.get(0))
            .optional()
            .map_err(err())?;
        Ok(StorageInfo {
            database_bytes: pragma("page_count")? * page_size,
            free_bytes: pragma("freelist_count")? * page_size,
            bodies: bodies.max(0) as u64,
            pruned_bodies: pruned.max(0) as u64,
            last_prune: last.and_then(|j| serde_json::from_str(&j).ok()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{FindingKind, Inventory, Script, ScriptKind, ScriptRef, Severity};
    use crate::store::{now_rfc3339, NewScan, ScanOutcome};

    fn inv(codes: &[&str]) -> Inventory {
        Inventory {
            cookies: Default::default(),
            url: "https://shop.example/checkout".into(),
            final_url: "https://shop.example/checkout".into(),
            status: 200,
            scripts: codes
                .iter()
                .enumerate()
                .map(|(i, code)| Script {
                    id: format!("inline:{i}"),
                    kind: ScriptKind::Inline,
                    url: None,
                    frame_url: "https://shop.example/checkout".into(),
                    sha256: crate::inventory::sha256_hex(code),
                    sri: crate::inventory::sri_sha384(code),
                    bytes: code.len() as u64,
                    initiator: None,
                    source: code.to_string(),
                })
                .collect(),
            headers: Default::default(),
            hosts: vec![],
            payment_fields: vec![],
        }
    }

    fn record(store: &mut Store, page: &str, codes: &[&str], findings: &[Finding]) {
        crate::store::history::tests::record_ok(store, page, &inv(codes), findings);
    }

    fn sha(code: &str) -> String {
        crate::inventory::sha256_hex(code)
    }

    #[test]
    fn prunes_all_but_recent_protected_and_open_bodies_and_the_log_verifies() {
        let mut store = Store::open_in_memory().unwrap();
        let finding = Finding {
            id: "F1".into(),
            kind: FindingKind::RemovedScript,
            severity: Severity::Medium,
            title: "Removed".into(),
            script: Some(ScriptRef {
                id: "inline:0".into(),
                kind: ScriptKind::Inline,
                url: None,
                sha256: sha("open()"),
            }),
            ..Default::default()
        };
        record(&mut store, "checkout", &["approved()", "open()"], &[]);
        for i in 0..10 {
            record(&mut store, "checkout", &[&format!("nonce{i}()")], &[]);
        }
        record(&mut store, "checkout", &["nonce10()"], &[finding]);
        record(&mut store, "other", &["other()"], &[]);
        let protected = HashSet::from([sha("approved()")]);
        let report = store.prune(3, &protected).unwrap();
        // nonce0..nonce7 go; nonce8..10 (last 3 scans), approved (baseline), open (finding) and
        // other (another page's last scan) stay.
        assert_eq!(report.bodies, 8, "{report:?}");
        for kept in ["approved()", "open()", "nonce8()", "nonce10()", "other()"] {
            assert_eq!(store.script_source(&sha(kept)).unwrap().as_deref(), Some(kept));
        }
        assert_eq!(store.script_source(&sha("nonce0()")).unwrap(), None);
        let v = store.verify_log().unwrap();
        assert!(v.ok(), "{v:?}");
        assert_eq!(v.pruned_bodies, 8);
        let info = store.storage_info().unwrap();
        assert_eq!((info.bodies, info.pruned_bodies), (6, 8));
        assert_eq!(info.last_prune.unwrap().bodies, 8);
        // Seen again: the text comes back. Pruning again finds nothing new.
        record(&mut store, "checkout", &["nonce0()"], &[]);
        assert_eq!(store.script_source(&sha("nonce0()")).unwrap().as_deref(), Some("nonce0()"));
        assert!(store.verify_log().unwrap().ok());
    }

    fn record_at(store: &mut Store, page: &str, at: &str, codes: &[&str]) -> i64 {
        let inv = inv(codes);
        let outcome = ScanOutcome::Ok { inventory: &inv, findings: &[], elapsed_ms: 1, screenshot: None };
        let scan = NewScan { page, url: &inv.url, started_at: at.into(), finished_at: at.into(), outcome };
        store.record_scan(&scan).unwrap()
    }

    #[test]
    fn retention_deletes_old_scans_keeps_each_pages_latest_and_the_log_verifies_across_the_gap() {
        let mut store = Store::open_in_memory().unwrap();
        let old = "2020-01-01T00:00:00Z";
        let a1 = record_at(&mut store, "a", old, &["gone1()"]);
        record_at(&mut store, "a", old, &["gone2()"]);
        let b1 = record_at(&mut store, "b", old, &["b()"]);
        for code in ["gone3()", "approved()", "gone4()"] {
            record_at(&mut store, "a", old, &[code]);
        }
        let new = now_rfc3339();
        let a6 = record_at(&mut store, "a", &new, &["kept()"]);
        record_at(&mut store, "a", &new, &["kept()"]);
        let report = store.retain("2021-01-01T00:00:00Z", &HashSet::from([sha("approved()")])).unwrap();
        assert_eq!(report.scans, 5, "{report:?}");
        assert_eq!(report.bodies, 4, "gone1..4 go; approved (baseline), b (b's latest scan) and kept stay");
        assert!(store.scan(a1).unwrap().is_none());
        assert!(store.scan(b1).unwrap().is_some(), "a page's latest successful scan is kept");
        assert_eq!(store.script_source(&sha("approved()")).unwrap().as_deref(), Some("approved()"));
        assert_eq!(store.script_source(&sha("gone1()")).unwrap(), None);
        let v = store.verify_log().unwrap();
        assert!(v.ok(), "{v:?}");
        assert_eq!((v.records, v.verified, v.pruned_scans), (3, 3, 5));
        let ranges = store.pruned_since("2019-01-01T00:00:00Z").unwrap();
        assert_eq!(ranges.len(), 2, "b's scan splits the deleted scans in two runs: {ranges:?}");
        assert_eq!(ranges.iter().map(|r| r.scans).sum::<u64>(), 5);
        assert_eq!(ranges[1].pages.get("a"), Some(&3));
        assert!(store.pruned_since(&new).unwrap().is_empty());
        // Still a chain: new scans link on, and a deletion beside a range is still a break.
        record_at(&mut store, "a", &now_rfc3339(), &["kept()"]);
        assert!(store.verify_log().unwrap().ok());
        store.conn.execute("DELETE FROM scans WHERE id = ?1", [a6]).unwrap();
        assert!(!store.verify_log().unwrap().ok());
    }

    #[test]
    fn a_tampered_pruned_mark_still_cannot_change_text() {
        let mut store = Store::open_in_memory().unwrap();
        record(&mut store, "checkout", &["a()"], &[]);
        record(&mut store, "checkout", &["b()"], &[]);
        store.prune(1, &HashSet::new()).unwrap();
        // Text put back into a pruned row without clearing the mark is still never served.
        store.conn.execute("UPDATE script_bodies SET source = 'evil()' WHERE pruned_at IS NOT NULL", []).unwrap();
        assert_eq!(store.script_source(&sha("a()")).unwrap(), None);
        // Clearing the mark makes the check re-hash it, and it fails.
        store.conn.execute("UPDATE script_bodies SET pruned_at = NULL", []).unwrap();
        assert!(!store.verify_log().unwrap().ok());
    }

    #[test]
    fn size_budget_gives_a_full_error_naming_the_database_and_the_fix() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("small.db");
        let mut store = Store::open(&path).unwrap();
        store.set_max_size(64 * 1024).unwrap();
        let big = "x".repeat(200 * 1024);
        let inv = inv(&[&big]);
        let err = store
            .record_scan(&NewScan {
                page: "checkout",
                url: &inv.url,
                started_at: now_rfc3339(),
                finished_at: now_rfc3339(),
                outcome: ScanOutcome::Ok { inventory: &inv, findings: &[], elapsed_ms: 1, screenshot: None },
            })
            .unwrap_err();
        assert!(err.is_full(), "{err}");
        let msg = err.to_string();
        assert!(msg.contains(&path.display().to_string()) && msg.contains("is full"), "{msg}");
        assert!(msg.contains("[storage] keep") && msg.contains("max_database_size"), "{msg}");
    }
}
