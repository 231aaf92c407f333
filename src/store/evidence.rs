//! The queries behind the assessor's reports ([`crate::evidence`]): when a script version was
//! seen, every sighting of a finding, the scans of a period with their seals, and when a
//! finding went away. Read-only.

use super::{Store, StoreError};
use crate::model::{Finding, PageStatus, Severity, Timestamp};
use rusqlite::{params, OptionalExtension};
use serde::{Deserialize, Serialize};

/// First and last time (scan start) and number of scans something was seen in.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Sightings {
    pub first: Option<String>,
    pub last: Option<String>,
    pub scans: u64,
}

/// One scan that reported a finding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FindingSighting {
    pub scan_id: i64,
    /// The scan's `started_at`.
    pub at: String,
    /// The finding as that scan reported it.
    pub finding: Finding,
}

/// One scan in the evidence report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScanRecord {
    pub id: i64,
    pub page: String,
    pub url: String,
    pub started_at: String,
    pub finished_at: String,
    pub status: PageStatus,
    pub error: Option<String>,
    pub scripts: u64,
    pub findings: u64,
    /// Highest severity among its findings.
    pub max_severity: Option<Severity>,
    /// The scan's seal in the log chain (`None` for scans from before the log).
    pub record_hash: Option<String>,
    /// The database it is recorded in, when a report merges several (shards): scan ids are
    /// per database.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub database: Option<String>,
}

impl Store {
    /// When version `sha256` of script `script_id` was seen on `page`.
    pub fn script_sightings(&self, page: &str, script_id: &str, sha256: &str) -> Result<Sightings, StoreError> {
        self.conn
            .query_row(
                "SELECT min(s.started_at), max(s.started_at), count(DISTINCT s.id)
                   FROM scan_scripts ss JOIN scans s ON s.id = ss.scan_id
                  WHERE s.page = ?1 AND ss.script_id = ?2 AND ss.sha256 = ?3",
                params![page, script_id, sha256],
                |r| Ok(Sightings { first: r.get(0)?, last: r.get(1)?, scans: r.get::<_, i64>(2)?.max(0) as u64 }),
            )
            .map_err(self.sqlite_err(format!("reading when script {script_id} was seen")))
    }

    /// The first successful scan of `page` after scan `after` (its id and start).
    pub fn first_ok_scan_after(&self, page: &str, after: i64) -> Result<Option<(i64, String)>, StoreError> {
        self.conn
            .query_row(
                "SELECT id, started_at FROM scans WHERE page = ?1 AND id > ?2 AND status = 'ok' ORDER BY id LIMIT 1",
                params![page, after],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()
            .map_err(self.sqlite_err(format!("reading the scans of page `{page}`")))
    }

    /// Every (page, finding id) reported by a scan started at or after `since`, in the order
    /// they were first reported.
    pub fn findings_since(&self, since: Timestamp) -> Result<Vec<(String, String)>, StoreError> {
        let action = "listing findings";
        let mut stmt = self
            .conn
            .prepare(
                "SELECT s.page, f.finding_id FROM findings f JOIN scans s ON s.id = f.scan_id
                  WHERE s.started_at >= ?1 GROUP BY s.page, f.finding_id ORDER BY min(s.id)",
            )
            .map_err(self.sqlite_err(action))?;
        stmt.query_map([since], |r| Ok((r.get(0)?, r.get(1)?)))
            .and_then(|rows| rows.collect())
            .map_err(self.sqlite_err(action))
    }

    /// Every scan of `page` that reported finding `id`, oldest first.
    pub fn finding_sightings(&self, page: &str, id: &str) -> Result<Vec<FindingSighting>, StoreError> {
        let action = format!("reading finding {id}");
        let mut stmt = self
            .conn
            .prepare(
                "SELECT s.id, s.started_at, f.finding_json FROM findings f JOIN scans s ON s.id = f.scan_id
                  WHERE s.page = ?1 AND f.finding_id = ?2 ORDER BY s.id",
            )
            .map_err(self.sqlite_err(action.clone()))?;
        let rows: Vec<(i64, String, String)> = stmt
            .query_map(params![page, id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .and_then(|rows| rows.collect())
            .map_err(self.sqlite_err(action))?;
        let mut out = Vec::with_capacity(rows.len());
        for (scan_id, at, json) in rows {
            let finding = serde_json::from_str(&json).map_err(|e| StoreError::Corrupt {
                path: self.path.clone(),
                what: format!("finding `{id}` of scan {scan_id}"),
                detail: e.to_string(),
            })?;
            out.push(FindingSighting { scan_id, at, finding });
        }
        Ok(out)
    }

    /// The page of the first scan that reported finding `id`.
    pub fn page_of_finding(&self, id: &str) -> Result<Option<String>, StoreError> {
        self.conn
            .query_row(
                "SELECT s.page FROM findings f JOIN scans s ON s.id = f.scan_id WHERE f.finding_id = ?1 ORDER BY s.id LIMIT 1",
                [id],
                |r| r.get(0),
            )
            .optional()
            .map_err(self.sqlite_err(format!("looking up finding {id}")))
    }

    /// Every scan started at or after `since`, oldest first, with its counts and seal.
    pub fn scans_since(&self, since: Timestamp) -> Result<Vec<ScanRecord>, StoreError> {
        let action = "listing scans";
        let mut stmt = self
            .conn
            .prepare(
                "SELECT id, page, url, started_at, finished_at, status, error,
                        coalesce(json_array_length(scripts), 0),
                        (SELECT count(*) FROM findings f WHERE f.scan_id = scans.id),
                        (SELECT max(CASE severity WHEN 'critical' THEN 5 WHEN 'high' THEN 4 WHEN 'medium' THEN 3
                                                  WHEN 'low' THEN 2 WHEN 'info' THEN 1 END)
                           FROM findings f WHERE f.scan_id = scans.id),
                        record_hash
                   FROM scans WHERE started_at >= ?1 ORDER BY id",
            )
            .map_err(self.sqlite_err(action))?;
        stmt.query_map([since], |r| {
            let status: String = r.get(5)?;
            let sev: Option<i64> = r.get(9)?;
            Ok(ScanRecord {
                id: r.get(0)?,
                page: r.get(1)?,
                url: r.get(2)?,
                started_at: r.get(3)?,
                finished_at: r.get(4)?,
                // As before: whatever is not `ok` is reported as an error.
                status: PageStatus::parse(&status).unwrap_or(PageStatus::Error),
                error: r.get(6)?,
                scripts: r.get::<_, i64>(7)?.max(0) as u64,
                findings: r.get::<_, i64>(8)?.max(0) as u64,
                max_severity: sev.and_then(|v| Severity::ALL.get((v - 1).max(0) as usize).copied()),
                record_hash: r.get(10)?,
                database: None,
            })
        })
        .and_then(|rows| rows.collect())
        .map_err(self.sqlite_err(action))
    }
}
