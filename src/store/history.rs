//! The scan history: recording a scan (row, script bodies, scripts, findings, seal) in one
//! transaction, and reading scans back (latest, by id, listings, presence and finding
//! history).

use super::{to_i64, NewScan, ScanOutcome, ScanSummary, ScanTx, Store, StoreError, StoredScan};
use crate::model::{Finding, Inventory, PageStatus, Script, ScriptKind};
use rusqlite::{params, Connection, OptionalExtension, Transaction, TransactionBehavior};
use serde::de::IntoDeserializer;
use serde::Deserialize;
impl Store {
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
        also: impl FnOnce(&ScanTx, i64) -> Result<T, StoreError>,
    ) -> Result<(i64, T), StoreError> {
        let path = self.path.clone();
        let action = format!("recording a scan of page `{}`", scan.page);
        let err = |source| StoreError::Sqlite { path: path.clone(), action: action.clone(), source };

        let tx = self.conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(err)?;
        let scan_id = insert_scan(&tx, scan).map_err(|e| e.into_store_error(err))?;
        let extra = also(&ScanTx::new(&tx, &path, &action), scan_id)?;
        // Seal the record in the same transaction: no scan is ever committed unsealed.
        super::chain::seal(&tx, scan_id).map_err(err)?;
        tx.commit().map_err(err)?;
        Ok((scan_id, extra))
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
                        headers_json, hosts_json, payment_fields_json, elapsed_ms, screenshot,
                        cookies_json
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
                        screenshot: row.get(12)?,
                        cookies_json: row.get(13)?,
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
                payment_fields: self.parse_json(id, "payment_fields_json", row.payment_fields_json.as_deref())?,
                cookies: self.parse_json(id, "cookies_json", row.cookies_json.as_deref())?,
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
            screenshot: row.screenshot,
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
            .prepare_cached("SELECT finding_id, finding_json FROM findings WHERE scan_id = ?1 ORDER BY position")
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

    /// The source of a script body seen in any scan, by its lower-case hex SHA-256; `None` when
    /// it was never stored or was pruned (see [`Store::prune`]).
    pub fn script_source(&self, sha256: &str) -> Result<Option<String>, StoreError> {
        self.conn
            .query_row("SELECT source FROM script_bodies WHERE sha256 = ?1 AND pruned_at IS NULL", [sha256], |row| {
                row.get(0)
            })
            .optional()
            .map_err(self.sqlite_err(format!("reading the script body {sha256}")))
    }

    /// The script identities each of the last `limit` successful scans of `page` saw, newest
    /// first: the presence history that tells an intermittent script from a removed one.
    pub fn recent_script_ids(
        &self,
        page: &str,
        limit: usize,
    ) -> Result<Vec<std::collections::BTreeSet<String>>, StoreError> {
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

    /// When a finding was first and last seen on a page, and in how many scans: the finding's
    /// lifecycle (one unapproved change is one finding, however many scans repeat it).
    pub fn finding_history(&self, page: &str, finding_id: &str) -> Result<Option<FindingHistory>, StoreError> {
        finding_history(&self.conn, page, finding_id)
            .map_err(self.sqlite_err(format!("reading the history of finding {finding_id}")))
    }

    /// The newest screenshot still kept of `page`'s successful scans: (scan id, key, PNG).
    pub fn latest_screenshot(&self, page: &str) -> Result<Option<(i64, String, Vec<u8>)>, StoreError> {
        self.conn
            .query_row(
                "SELECT s.id, s.screenshot, p.png FROM scans s JOIN screenshots p ON p.sha256 = s.screenshot
                 WHERE s.page = ?1 AND s.status = 'ok' ORDER BY s.id DESC LIMIT 1",
                params![page],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .optional()
            .map_err(self.sqlite_err(format!("reading the latest screenshot of page `{page}`")))
    }

    /// A screenshot (PNG) by its key, if still kept.
    pub fn screenshot(&self, sha256: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.conn
            .query_row("SELECT png FROM screenshots WHERE sha256 = ?1", params![sha256], |r| r.get(0))
            .optional()
            .map_err(self.sqlite_err(format!("reading screenshot {sha256}")))
    }

    /// The scan history, newest first, optionally of one page only.
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
                        coalesce(json_array_length(scripts), 0)
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

/// When a finding (one page, one id) was first and last seen, and in how many scans.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FindingHistory {
    /// `started_at` of the first and the last scan that reported it.
    pub first_seen: String,
    pub last_seen: String,
    pub scans: u64,
}

/// Shared by [`Store::finding_history`] and [`ScanTx::finding_history`] (which also sees the
/// scan being recorded).
pub(super) fn finding_history(
    conn: &Connection,
    page: &str,
    finding_id: &str,
) -> rusqlite::Result<Option<FindingHistory>> {
    let row: (Option<String>, Option<String>, i64) = conn.query_row(
        "SELECT min(s.started_at), max(s.started_at), count(DISTINCT s.id)
           FROM findings f JOIN scans s ON s.id = f.scan_id
          WHERE s.page = ?1 AND f.finding_id = ?2",
        params![page, finding_id],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
    )?;
    Ok(match row {
        (Some(first_seen), Some(last_seen), n) if n > 0 => {
            Some(FindingHistory { first_seen, last_seen, scans: n as u64 })
        }
        _ => None,
    })
}

/// When the latest successful scan of `page` finished.
pub(super) fn last_ok_finished_at(conn: &Connection, page: &str) -> rusqlite::Result<Option<String>> {
    conn.query_row(
        "SELECT finished_at FROM scans WHERE page = ?1 AND status = 'ok' ORDER BY id DESC LIMIT 1",
        [page],
        |r| r.get(0),
    )
    .optional()
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
    screenshot: Option<String>,
    cookies_json: Option<String>,
}

/// Writes the scan row, its scripts and its findings; returns the new scan id.
fn insert_scan(tx: &Transaction, scan: &NewScan) -> Result<i64, InsertError> {
    let ser_err = |what: &'static str| {
        move |source| InsertError::Other(StoreError::Serialize { page: scan.page.to_string(), what, source })
    };
    match &scan.outcome {
        ScanOutcome::Error { message } => {
            tx.execute(
                "INSERT INTO scans (page, url, started_at, finished_at, status, error)
                 VALUES (?1, ?2, ?3, ?4, 'error', ?5)",
                params![scan.page, scan.url, scan.started_at, scan.finished_at, message],
            )?;
            Ok(tx.last_insert_rowid())
        }
        ScanOutcome::Ok { inventory, findings, elapsed_ms, screenshot } => {
            let headers = serde_json::to_string(&inventory.headers).map_err(ser_err("headers"))?;
            let hosts = serde_json::to_string(&inventory.hosts).map_err(ser_err("hosts"))?;
            let fields = serde_json::to_string(&inventory.payment_fields).map_err(ser_err("payment fields"))?;
            // No cookie at all is stored as NULL, like a scan from before the cookie audit.
            let cookies = if inventory.cookies.is_empty() {
                None
            } else {
                Some(serde_json::to_string(&inventory.cookies).map_err(ser_err("cookies"))?)
            };
            tx.execute(
                "INSERT INTO scans (page, url, started_at, finished_at, status, http_status,
                                    final_url, headers_json, hosts_json, payment_fields_json,
                                    elapsed_ms, cookies_json)
                 VALUES (?1, ?2, ?3, ?4, 'ok', ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
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
                    cookies,
                ],
            )?;
            let scan_id = tx.last_insert_rowid();
            if let Some((sha, png)) = screenshot {
                tx.execute(
                    "INSERT OR IGNORE INTO screenshots (sha256, png, bytes) VALUES (?1, ?2, ?3)",
                    params![sha, png, png.len() as i64],
                )?;
                tx.execute("UPDATE scans SET screenshot = ?1 WHERE id = ?2", params![sha, scan_id])?;
            }
            insert_scripts(tx, scan_id, &inventory.scripts)?;
            insert_findings(tx, scan_id, scan.page, findings)?;
            Ok(scan_id)
        }
    }
}

enum InsertError {
    Sqlite(rusqlite::Error),
    Other(StoreError),
}

impl InsertError {
    fn into_store_error(self, sqlite: impl FnOnce(rusqlite::Error) -> StoreError) -> StoreError {
        match self {
            InsertError::Sqlite(source) => sqlite(source),
            InsertError::Other(e) => e,
        }
    }
}

impl From<rusqlite::Error> for InsertError {
    fn from(e: rusqlite::Error) -> Self {
        InsertError::Sqlite(e)
    }
}

/// Writes the scan's list of scripts (`scans.scripts`, see schema version 6): each script's row
/// and body are stored once, whatever number of scans see them, so an unchanged rescan adds
/// only the list. A volatile inline script (new bytes, same normalized form as a stored body of
/// the same identity) refers to that body: its per-load data (nonces, tokens, session ids, a
/// cart) is deliberately not kept, and compare has already judged the live text.
fn insert_scripts(tx: &Transaction, scan_id: i64, scripts: &[Script]) -> Result<(), rusqlite::Error> {
    let mut find_row = tx.prepare_cached("SELECT id, url FROM script_rows WHERE key = ?1")?;
    let mut add_row = tx.prepare_cached(
        "INSERT INTO script_rows (key, script_id, kind, url, frame_url, sha256, sri, bytes, initiator)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    )?;
    let mut list = Vec::with_capacity(scripts.len());
    for s in scripts {
        let body = stored_body(tx, s)?;
        let key = row_key(s, &body);
        let row: Option<(i64, Option<String>)> =
            find_row.query_row([&key], |r| Ok((r.get(0)?, r.get(1)?))).optional()?;
        let (row_id, row_url) = match row {
            Some(row) => row,
            None => {
                add_row.execute(params![
                    key,
                    s.id,
                    s.kind.as_str(),
                    s.url,
                    s.frame_url,
                    body.sha256,
                    body.sri,
                    to_i64(body.bytes),
                    s.initiator,
                ])?;
                (tx.last_insert_rowid(), s.url.clone())
            }
        };
        list.push(if row_url == s.url { serde_json::json!(row_id) } else { serde_json::json!([row_id, s.url]) });
    }
    tx.execute(
        "UPDATE scans SET scripts = ?1 WHERE id = ?2",
        params![serde_json::Value::Array(list).to_string(), scan_id],
    )?;
    Ok(())
}

/// The body a script row refers to: its own, or a stored one with the same normalized form.
struct BodyRef {
    sha256: String,
    sri: String,
    bytes: u64,
}

/// Stores `s`'s body unless an equal one (same SHA-256) or, for inline code, an equivalent one
/// (same identity and normalized form, text still kept) is stored; returns the one to refer to.
fn stored_body(tx: &Transaction, s: &Script) -> Result<BodyRef, rusqlite::Error> {
    let own = || BodyRef { sha256: s.sha256.clone(), sri: s.sri.clone(), bytes: s.bytes };
    let known: Option<bool> = tx
        .prepare_cached("SELECT pruned_at IS NOT NULL FROM script_bodies WHERE sha256 = ?1")?
        .query_row([&s.sha256], |r| r.get(0))
        .optional()?;
    match known {
        Some(false) => return Ok(own()),
        // A pruned body seen again gets its text back.
        Some(true) => {
            tx.prepare_cached("UPDATE script_bodies SET source = ?2, pruned_at = NULL WHERE sha256 = ?1")?
                .execute(params![s.sha256, s.source])?;
            return Ok(own());
        }
        None => {}
    }
    let normalized =
        crate::inventory::normalize::normalize_inline(s.kind, s.url.as_deref(), &s.source).map(|n| n.sha256);
    if let Some(n) = &normalized {
        let equivalent = tx
            .prepare_cached(
                "SELECT r.sha256, r.sri, r.bytes FROM script_bodies b JOIN script_rows r ON r.sha256 = b.sha256
                  WHERE b.normalized = ?1 AND b.pruned_at IS NULL AND r.script_id = ?2 AND r.kind = ?3
                  ORDER BY r.id LIMIT 1",
            )?
            .query_row(params![n, s.id, s.kind.as_str()], |r| {
                Ok(BodyRef { sha256: r.get(0)?, sri: r.get(1)?, bytes: r.get::<_, i64>(2)?.max(0) as u64 })
            })
            .optional()?;
        if let Some(body) = equivalent {
            return Ok(body);
        }
    }
    tx.prepare_cached("INSERT INTO script_bodies (sha256, source, bytes, normalized) VALUES (?1, ?2, ?3, ?4)")?
        .execute(params![s.sha256, s.source, to_i64(s.source.len() as u64), normalized])?;
    Ok(own())
}

/// The key of a script row: SHA-256 of everything in it but the URL (a cache-buster in the URL
/// does not make a new row; the scan's list keeps the URL it saw).
fn row_key(s: &Script, body: &BodyRef) -> String {
    let fields = [
        s.id.as_str(),
        s.kind.as_str(),
        s.frame_url.as_str(),
        body.sha256.as_str(),
        body.sri.as_str(),
        &body.bytes.to_string(),
        s.initiator.as_deref().unwrap_or("\u{1}none"),
    ];
    crate::inventory::sha256_hex(&fields.join("\u{0}"))
}

fn insert_findings(tx: &Transaction, scan_id: i64, page: &str, findings: &[Finding]) -> Result<(), InsertError> {
    let mut stmt = tx.prepare_cached(
        "INSERT INTO findings (scan_id, position, finding_id, kind, severity, title, finding_json)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )?;
    for (position, f) in findings.iter().enumerate() {
        let json = serde_json::to_string(f).map_err(|source| {
            InsertError::Other(StoreError::Serialize { page: page.to_string(), what: "a finding", source })
        })?;
        stmt.execute(params![scan_id, position as i64, f.id, f.kind.as_str(), f.severity.as_str(), f.title, json,])?;
    }
    Ok(())
}

/// Parses the stored lower-case kind with the model's own serde names, so the two never drift.
fn parse_kind(s: &str) -> Option<ScriptKind> {
    let de: serde::de::value::StrDeserializer<'_, serde::de::value::Error> = s.into_deserializer();
    ScriptKind::deserialize(de).ok()
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use crate::model::{FindingKind, HeaderChange, PaymentField, ScriptRef, Severity};
    use crate::store::now_rfc3339;
    use std::collections::BTreeMap;

    fn script(id: &str, kind: ScriptKind, source: &str) -> Script {
        Script {
            id: id.to_string(),
            kind,
            url: (kind == ScriptKind::External).then(|| format!("https://shop.example/{id}.js")),
            frame_url: "https://shop.example/checkout".to_string(),
            sha256: crate::inventory::sha256_hex(source),
            sri: format!("sha384-{id}"),
            bytes: source.len() as u64,
            initiator: (kind == ScriptKind::Inline).then(|| "https://shop.example/app.js".to_string()),
            source: source.to_string(),
        }
    }

    pub(crate) fn inventory(scripts: Vec<Script>) -> Inventory {
        Inventory {
            cookies: Default::default(),
            url: "https://shop.example/checkout".to_string(),
            final_url: "https://shop.example/checkout/".to_string(),
            status: 200,
            headers: BTreeMap::from([("content-security-policy".to_string(), "script-src 'self'".to_string())]),
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

    pub(crate) fn record_ok(store: &mut Store, page: &str, inv: &Inventory, findings: &[Finding]) -> i64 {
        store
            .record_scan(&NewScan {
                page,
                url: &inv.url,
                started_at: now_rfc3339(),
                finished_at: now_rfc3339(),
                outcome: ScanOutcome::Ok { inventory: inv, findings, elapsed_ms: 1234, screenshot: None },
            })
            .unwrap()
    }

    fn count(store: &Store, table: &str) -> i64 {
        store.conn.query_row(&format!("SELECT COUNT(*) FROM {table}"), [], |r| r.get(0)).unwrap()
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
        assert_eq!(store.script_source(&changed.scripts[0].sha256).unwrap().as_deref(), Some("console.log('evil')"));
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
        let inv = inventory(vec![script("a", ScriptKind::External, "a"), script("b", ScriptKind::External, "b")]);
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
}
