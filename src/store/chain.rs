//! The tamper-evident scan log (PCI DSS 11.6.1 evidence that the check ran).
//!
//! Every scan row is sealed when it is recorded: `record_hash` = SHA-256 of a domain tag, the
//! previous sealed record's hash (`prev_hash`, 64 zeros for the first) and the record's own
//! canonical content. "Content" is everything the scan recorded: the scan row (id, page, URL,
//! times, status, error, HTTP status, final URL, headers, hosts, payment fields, elapsed time),
//! every script row it saw (identity, kind, URLs, SHA-256, SRI, size, initiator) and every
//! finding row (id, kind, severity, title and the full finding JSON). Script bodies are covered
//! through their SHA-256, and the check ([`Store::verify_log`]) also re-hashes each body
//! against its key.
//!
//! Pruning ([`super::prune`]) removes the text of old bodies but keeps each body's row and its
//! SHA-256, which is what the seal covers, so the chain still verifies after pruning; the check
//! skips the re-hash of a body marked pruned and counts it (`pruned_bodies`). Marking a body
//! pruned is therefore the one edit the check accepts: it loses evidence but cannot put other
//! text in its place.
//!
//! Editing any of that, deleting a record in the middle, or removing a seal breaks the chain,
//! and the check names the first broken record. What a chain alone cannot show is the removal
//! of the newest records, or a full rewrite by someone who recomputes every hash: for that,
//! keep the head hash the check prints somewhere else (the evidence report carries it, a ticket,
//! the pipeline log), and compare.
//!
//! Scans recorded by a skimwatch from before the log existed have no seal; the migration marks
//! them with `prev_hash` = [`LEGACY`]. They are accepted only as a prefix (before the first
//! sealed record), reported as "unsealed", and not covered. Any other record without a seal is
//! a break.

use super::{Store, StoreError};
use rusqlite::types::Value;
use rusqlite::{params, Connection, OptionalExtension};
use serde_json::Value as Json;
use sha2::{Digest, Sha256};
use std::collections::HashSet;

/// `prev_hash` of the first sealed record.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";
/// `prev_hash` of the scans that were already in the database when the log was introduced
/// (set by the store migration); they have no `record_hash`.
pub const LEGACY: &str = "unsealed: recorded before the scan log existed";
/// Versioned domain tag, so a future change of the content definition cannot be confused
/// with this one.
const TAG: &str = "skimwatch-scan-log-v1";

const SCAN_COLUMNS: &str = "id, page, url, started_at, finished_at, status, error, http_status, final_url, \
                            headers_json, hosts_json, payment_fields_json, elapsed_ms";
const SCRIPT_COLUMNS: &str = "position, script_id, kind, url, frame_url, sha256, sri, bytes, initiator";
const FINDING_COLUMNS: &str = "position, finding_id, kind, severity, title, finding_json";

/// Seals scan `scan_id`: links it to the latest sealed record and stores its hash. Called by
/// the store inside the transaction that records the scan, so no scan is ever committed
/// unsealed; the transaction's write lock keeps two writers from linking to the same record.
pub(super) fn seal(conn: &Connection, scan_id: i64) -> rusqlite::Result<String> {
    let prev: String = conn
        .query_row(
            "SELECT record_hash FROM scans WHERE id < ?1 AND record_hash IS NOT NULL ORDER BY id DESC LIMIT 1",
            [scan_id],
            |r| r.get(0),
        )
        .optional()?
        .unwrap_or_else(|| GENESIS.to_string());
    let hash = record_hash(&prev, &content(conn, scan_id)?);
    conn.execute("UPDATE scans SET prev_hash = ?1, record_hash = ?2 WHERE id = ?3", params![prev, hash, scan_id])?;
    Ok(hash)
}

/// SHA-256 (hex) of the tag, the previous hash and the canonical content.
pub fn record_hash(prev: &str, content: &str) -> String {
    let mut h = Sha256::new();
    h.update(TAG.as_bytes());
    h.update(b"\n");
    h.update(prev.as_bytes());
    h.update(b"\n");
    h.update(content.as_bytes());
    hex::encode(h.finalize())
}

/// The canonical content of one scan: a JSON object of the scan row, its scripts and its
/// findings, each row a JSON array of its column values in a fixed order. Reading the values
/// back from the database (rather than from the structs being written) means the seal and the
/// check always see exactly the same bytes.
fn content_of(conn: &Connection, scan_id: i64) -> rusqlite::Result<Content> {
    let scan = rows(conn, &format!("SELECT {SCAN_COLUMNS} FROM scans WHERE id = ?1"), scan_id)?;
    let scripts = rows(
        conn,
        &format!("SELECT {SCRIPT_COLUMNS} FROM scan_scripts WHERE scan_id = ?1 ORDER BY position"),
        scan_id,
    )?;
    let findings =
        rows(conn, &format!("SELECT {FINDING_COLUMNS} FROM findings WHERE scan_id = ?1 ORDER BY position"), scan_id)?;
    // The cookie audit (store version 8) is covered when the scan has one; a scan without
    // (every scan recorded before) keeps exactly the content it was sealed with.
    // (A database sealed before that migration has no such column: nothing to cover.)
    let has_cookies: bool =
        conn.query_row("SELECT count(*) > 0 FROM pragma_table_info('scans') WHERE name = 'cookies_json'", [], |r| {
            r.get(0)
        })?;
    let cookies: Option<String> = if has_cookies {
        conn.query_row("SELECT cookies_json FROM scans WHERE id = ?1", [scan_id], |r| r.get(0)).optional()?.flatten()
    } else {
        None
    };
    Ok(Content { cookies, findings, scan: scan.into_iter().next().unwrap_or(Json::Null), scripts })
}

/// The canonical content as the seal hashes it.
pub(super) fn content(conn: &Connection, scan_id: i64) -> rusqlite::Result<String> {
    to_json(&content_of(conn, scan_id)?)
}

fn to_json(value: &impl serde::Serialize) -> rusqlite::Result<String> {
    serde_json::to_string(value).map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)))
}

/// The same content with its keys in the order the builds with the `yara` feature of
/// 2026-12-07 sealed it (insertion order, see [`Content`]), so that their records still
/// verify. Same values, other order: accepting it lets no edit through.
fn content_in_insertion_order(doc: &Content) -> rusqlite::Result<String> {
    #[derive(serde::Serialize)]
    struct InsertionOrder<'a> {
        scan: &'a Json,
        scripts: &'a [Json],
        findings: &'a [Json],
        #[serde(skip_serializing_if = "Option::is_none")]
        cookies: &'a Option<String>,
    }
    to_json(&InsertionOrder { scan: &doc.scan, scripts: &doc.scripts, findings: &doc.findings, cookies: &doc.cookies })
}

/// The canonical content's object. A struct, not a `serde_json` map: a map's key order
/// depends on serde_json's `preserve_order` feature, which another crate of the build can turn
/// on (yara-x does), and the seal must be the same bytes whichever way skimwatch was built.
/// The keys are in sorted order, the order every record was sealed with so far.
#[derive(serde::Serialize)]
struct Content {
    #[serde(skip_serializing_if = "Option::is_none")]
    cookies: Option<String>,
    findings: Vec<Json>,
    scan: Json,
    scripts: Vec<Json>,
}

fn rows(conn: &Connection, sql: &str, id: i64) -> rusqlite::Result<Vec<Json>> {
    let mut stmt = conn.prepare_cached(sql)?;
    let n = stmt.column_count();
    let mut out = Vec::new();
    let mut q = stmt.query([id])?;
    while let Some(row) = q.next()? {
        let mut values = Vec::with_capacity(n);
        for i in 0..n {
            values.push(match row.get::<_, Value>(i)? {
                Value::Null => Json::Null,
                Value::Integer(v) => Json::from(v),
                Value::Real(v) => Json::from(v),
                Value::Text(v) => Json::from(v),
                Value::Blob(v) => Json::from(format!("blob:{}", hex::encode(v))),
            });
        }
        out.push(Json::Array(values));
    }
    Ok(out)
}

/// Result of walking the chain.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Verification {
    /// Scan records in the database.
    pub records: u64,
    /// Records with a seal that checked out (up to the first break).
    pub verified: u64,
    /// Records from before the log existed (a prefix without seals), not covered.
    pub unsealed: u64,
    /// Id and hash of the last verified record: keep it elsewhere to detect later truncation.
    pub head_id: Option<i64>,
    pub head_hash: Option<String>,
    /// The first broken record, if any.
    pub broken: Option<Break>,
    /// Script bodies seen by verified records whose text was pruned (their SHA-256 is kept
    /// and sealed; only the re-hash of the text is skipped).
    #[serde(default)]
    pub pruned_bodies: u64,
    /// Scans deleted by retention (`[storage] keep` as a duration): their seals are kept as one
    /// link per deleted run, so the chain still verifies across them; their content is gone.
    #[serde(default)]
    pub pruned_scans: u64,
}

impl Verification {
    pub fn ok(&self) -> bool {
        self.broken.is_none()
    }
}

/// Where and why the chain breaks.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Break {
    /// The scan id of the first record that does not verify.
    pub scan_id: i64,
    pub reason: String,
}

/// Walks every scan in id order, recomputing each seal and each link. Stops at the first
/// broken record.
pub(super) fn verify(conn: &Connection) -> rusqlite::Result<Verification> {
    // Scans, and the ranges retention deleted (`last_id` > 0 marks a range), in id order.
    let mut stmt = conn.prepare(
        "SELECT id, prev_hash, record_hash, 0, 0 FROM scans
         UNION ALL SELECT first_id, prev_hash, record_hash, last_id, scans FROM pruned_ranges
         ORDER BY 1",
    )?;
    type Link = (i64, Option<String>, Option<String>, i64, i64);
    let list: Vec<Link> = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)))?
        .collect::<rusqlite::Result<_>>()?;
    let mut v = Verification { records: list.iter().filter(|r| r.3 == 0).count() as u64, ..Default::default() };
    let mut checked_bodies: HashSet<String> = HashSet::new();
    let mut last: Option<(i64, String)> = None;
    for (id, prev, hash, range_last, range_scans) in list {
        let broken = |reason: String| Some(Break { scan_id: id, reason });
        if range_last > 0 {
            // A pruned range is one link: it must follow the record before it, and the record
            // after it must follow its last scan's hash. Its content is gone and not checked.
            let expected_prev = last.as_ref().map_or(GENESIS, |(_, h)| h.as_str());
            if prev.as_deref() != Some(expected_prev) {
                v.broken = broken(format!(
                    "the pruned scans #{id}..#{range_last} do not follow the record before them: a record was deleted or altered"
                ));
                break;
            }
            v.pruned_scans += range_scans.max(0) as u64;
            last = Some((range_last, hash.unwrap_or_default()));
            continue;
        }
        let Some(hash) = hash else {
            if last.is_none() && prev.as_deref() == Some(LEGACY) {
                v.unsealed += 1;
                continue;
            }
            v.broken = broken(format!("scan #{id} has no seal: its hash was removed (only scans recorded before the log existed may be unsealed)"));
            break;
        };
        let expected_prev = last.as_ref().map_or(GENESIS, |(_, h)| h.as_str());
        if prev.as_deref() != Some(expected_prev) {
            let reason = match &last {
                Some((last_id, _)) if *last_id + 1 < id => format!(
                    "scan #{id} does not follow scan #{last_id}: scan(s) #{}..#{} were deleted, or scan #{last_id} was altered and resealed",
                    last_id + 1,
                    id - 1
                ),
                Some((last_id, _)) => format!(
                    "scan #{id} does not follow scan #{last_id}: scan #{last_id} was altered and resealed, or a record between them was deleted"
                ),
                None => format!("scan #{id} is the first sealed record but does not start the chain: earlier scans were deleted"),
            };
            v.broken = broken(reason);
            break;
        }
        let doc = content_of(conn, id)?;
        if record_hash(expected_prev, &to_json(&doc)?) != hash
            && record_hash(expected_prev, &content_in_insertion_order(&doc)?) != hash
        {
            v.broken = broken(format!(
                "scan #{id} was altered after it was recorded: its scan row, scripts or findings no longer match its seal"
            ));
            break;
        }
        if let Some(sha) = bad_body(conn, id, &mut checked_bodies, &mut v.pruned_bodies)? {
            v.broken = broken(format!(
                "the script body {sha} seen by scan #{id} was altered: its text no longer hashes to its SHA-256"
            ));
            break;
        }
        v.verified += 1;
        last = Some((id, hash));
    }
    if let Some((id, hash)) = last {
        v.head_id = Some(id);
        v.head_hash = Some(hash);
    }
    Ok(v)
}

impl Store {
    /// Walks the tamper-evident scan log: see [`Verification`].
    pub fn verify_log(&self) -> Result<Verification, StoreError> {
        verify(&self.conn).map_err(self.sqlite_err("verifying the scan log"))
    }
}

/// The first body referenced by `scan_id` whose text does not hash to its key.
/// Bodies marked pruned are counted in `pruned` (once each) instead of re-hashed.
fn bad_body(
    conn: &Connection,
    scan_id: i64,
    checked: &mut HashSet<String>,
    pruned: &mut u64,
) -> rusqlite::Result<Option<String>> {
    let mut stmt = conn.prepare_cached(
        "SELECT DISTINCT s.sha256, b.source, b.pruned_at IS NOT NULL
           FROM scan_scripts s LEFT JOIN script_bodies b ON b.sha256 = s.sha256
         WHERE s.scan_id = ?1",
    )?;
    let mut q = stmt.query([scan_id])?;
    while let Some(row) = q.next()? {
        let sha: String = row.get(0)?;
        if checked.contains(&sha) {
            continue;
        }
        let source: Option<String> = row.get(1)?;
        if row.get::<_, Option<bool>>(2)? == Some(true) {
            *pruned += 1;
            checked.insert(sha);
            continue;
        }
        match source {
            Some(text) if crate::inventory::sha256_hex(&text) == sha => {
                checked.insert(sha);
            }
            _ => return Ok(Some(sha)),
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Finding, FindingKind, Inventory, Script, ScriptKind, Severity};
    use crate::store::{now_rfc3339, NewScan, ScanOutcome};

    fn inv(code: &str) -> Inventory {
        Inventory {
            cookies: Default::default(),
            url: "https://shop.example/checkout".into(),
            final_url: "https://shop.example/checkout".into(),
            status: 200,
            headers: Default::default(),
            scripts: vec![Script {
                id: "self:/app.js".into(),
                kind: ScriptKind::External,
                url: Some("https://shop.example/app.js".into()),
                frame_url: "https://shop.example/checkout".into(),
                sha256: crate::inventory::sha256_hex(code),
                sri: crate::inventory::sri_sha384(code),
                bytes: code.len() as u64,
                initiator: None,
                source: code.into(),
            }],
            hosts: vec!["self".into()],
            payment_fields: vec![],
        }
    }

    fn record(store: &mut Store, code: &str) -> i64 {
        let inv = inv(code);
        let findings = vec![Finding {
            id: "F1".into(),
            kind: FindingKind::NewScript,
            severity: Severity::High,
            title: "New external script".into(),
            ..Default::default()
        }];
        store
            .record_scan(&NewScan {
                page: "checkout",
                url: &inv.url,
                started_at: now_rfc3339(),
                finished_at: now_rfc3339(),
                outcome: ScanOutcome::Ok { inventory: &inv, findings: &findings, elapsed_ms: 5, screenshot: None },
            })
            .unwrap()
    }

    fn chain_of(n: usize) -> (Store, Vec<i64>) {
        let mut store = Store::open_in_memory().unwrap();
        let ids = (0..n).map(|i| record(&mut store, &format!("code{i}()"))).collect();
        (store, ids)
    }

    #[test]
    fn intact_chain_verifies_and_links() {
        let (store, ids) = chain_of(3);
        let v = verify(&store.conn).unwrap();
        assert!(v.ok(), "{v:?}");
        assert_eq!((v.records, v.verified, v.unsealed), (3, 3, 0));
        assert_eq!(v.head_id, Some(ids[2]));
        let first_prev: String =
            store.conn.query_row("SELECT prev_hash FROM scans WHERE id = ?1", [ids[0]], |r| r.get(0)).unwrap();
        assert_eq!(first_prev, GENESIS);
    }

    #[test]
    fn canonical_content_has_its_keys_in_sorted_order_whatever_the_build() {
        // Sealed records must check out with every build of skimwatch: with the `yara` feature,
        // yara-x turns on serde_json's `preserve_order`, which changed a JSON map's key order.
        let (store, ids) = chain_of(1);
        let c = &store.conn;
        let keys = |text: &str| -> Vec<String> {
            let at = |k: &str| text.find(&format!("\"{k}\":[")).map(|i| (i, k.to_string()));
            let mut found: Vec<(usize, String)> =
                ["cookies", "findings", "scan", "scripts"].into_iter().filter_map(at).collect();
            found.sort();
            found.into_iter().map(|(_, k)| k).collect()
        };
        let text = content(c, ids[0]).unwrap();
        assert!(text.starts_with("{\"findings\":[["), "{text}");
        assert_eq!(keys(&text), ["findings", "scan", "scripts"], "{text}");
        c.execute("UPDATE scans SET cookies_json = '[]' WHERE id = ?1", [ids[0]]).unwrap();
        let text = content(c, ids[0]).unwrap();
        assert!(text.starts_with("{\"cookies\":\"[]\",\"findings\":[["), "{text}");
        assert_eq!(keys(&text), ["findings", "scan", "scripts"], "{text}");

        // A record sealed by such a build (keys in insertion order) still verifies; edited, it
        // does not.
        let reseal = |c: &Connection, id: i64| {
            let doc = content_in_insertion_order(&content_of(c, id).unwrap()).unwrap();
            assert!(doc.starts_with("{\"scan\":["), "{doc}");
            c.execute("UPDATE scans SET record_hash = ?1 WHERE id = ?2", params![record_hash(GENESIS, &doc), id])
                .unwrap();
        };
        reseal(c, ids[0]);
        let v = verify(c).unwrap();
        assert!(v.ok() && v.verified == 1, "{v:?}");
        c.execute("UPDATE scans SET url = 'https://elsewhere.example/' WHERE id = ?1", [ids[0]]).unwrap();
        assert!(verify(c).unwrap().broken.is_some());
    }

    #[test]
    fn edits_anywhere_in_a_record_name_that_record() {
        for sql in [
            "UPDATE scans SET status = 'error', error = 'x' WHERE id = ?1",
            "UPDATE findings SET severity = 'low' WHERE scan_id = ?1",
            "DELETE FROM findings WHERE scan_id = ?1",
            // The cookie audit is covered (a scan sealed without one cannot gain one).
            "UPDATE scans SET cookies_json = '[]' WHERE id = ?1",
            "UPDATE script_rows SET url = 'https://evil.example/a.js'
              WHERE id = (SELECT json_extract(scripts, '$[0]') FROM scans WHERE id = ?1)",
            "UPDATE scans SET scripts = json_array(json_array(json_extract(scripts, '$[0]'), 'https://evil.example/a.js'))
              WHERE id = ?1",
        ] {
            let (store, ids) = chain_of(3);
            store.conn.execute(sql, [ids[1]]).unwrap();
            let v = verify(&store.conn).unwrap();
            let b = v.broken.expect(sql);
            assert_eq!(b.scan_id, ids[1], "{sql}: {}", b.reason);
            assert!(b.reason.contains("altered"), "{}", b.reason);
            assert_eq!(v.verified, 1);
        }
    }

    #[test]
    fn deleted_and_resealed_records_break_the_next_link() {
        let (store, ids) = chain_of(3);
        store.conn.execute("DELETE FROM scans WHERE id = ?1", [ids[1]]).unwrap();
        let b = verify(&store.conn).unwrap().broken.unwrap();
        assert_eq!(b.scan_id, ids[2]);
        assert!(b.reason.contains("deleted"), "{}", b.reason);

        // Editing a record and recomputing its own seal moves the break to the next record.
        let (store, ids) = chain_of(3);
        let c = &store.conn;
        c.execute("UPDATE scans SET url = 'https://elsewhere.example/' WHERE id = ?1", [ids[0]]).unwrap();
        c.execute("UPDATE scans SET record_hash = NULL, prev_hash = NULL WHERE id = ?1", [ids[0]]).unwrap();
        seal(c, ids[0]).unwrap();
        let b = verify(c).unwrap().broken.unwrap();
        assert_eq!(b.scan_id, ids[1], "{}", b.reason);
    }

    #[test]
    fn altered_script_body_is_detected() {
        let (store, ids) = chain_of(2);
        store.conn.execute("UPDATE script_bodies SET source = 'evil()' WHERE source = 'code1()'", []).unwrap();
        let b = verify(&store.conn).unwrap().broken.unwrap();
        assert_eq!(b.scan_id, ids[1]);
        assert!(b.reason.contains("script body"), "{}", b.reason);
    }

    #[test]
    fn legacy_unsealed_prefix_is_reported_not_broken() {
        let (mut store, ids) = chain_of(2);
        // As if both rows predate the log.
        store.conn.execute("UPDATE scans SET prev_hash = ?1, record_hash = NULL", [LEGACY]).unwrap();
        let new = record(&mut store, "later()");
        let v = verify(&store.conn).unwrap();
        assert!(v.ok(), "{v:?}");
        assert_eq!((v.unsealed, v.verified, v.head_id), (2, 1, Some(new)));
        // But a seal removed after the chain started is a break.
        store.conn.execute("UPDATE scans SET record_hash = NULL WHERE id = ?1", [new]).unwrap();
        record(&mut store, "again()");
        let v = verify(&store.conn).unwrap();
        assert_eq!(v.broken.unwrap().scan_id, new);
        // Nor can seals be stripped to pass records off as old ones.
        store.conn.execute("UPDATE scans SET record_hash = NULL, prev_hash = NULL WHERE id >= ?1", [new]).unwrap();
        let v = verify(&store.conn).unwrap();
        assert_eq!(v.broken.unwrap().scan_id, new);
        let _ = ids;
    }

    #[test]
    fn database_from_before_the_log_migrates_with_an_unsealed_prefix() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("old.db");
        {
            // A database as the first release wrote it, with one scan.
            let conn = Connection::open(&path).unwrap();
            conn.execute_batch(crate::store::MIGRATIONS[0]).unwrap();
            conn.execute(
                "INSERT INTO scans (page, url, started_at, finished_at, status, error)
                 VALUES ('checkout', 'https://shop.example/checkout', '2025-01-01T00:00:00Z', '2025-01-01T00:00:09Z', 'error', 'timeout')",
                [],
            )
            .unwrap();
            conn.pragma_update(None, "user_version", 1).unwrap();
        }
        let mut store = Store::open(&path).unwrap();
        let new = record(&mut store, "x()");
        let v = verify(&store.conn).unwrap();
        assert!(v.ok(), "{v:?}");
        assert_eq!((v.records, v.unsealed, v.verified, v.head_id), (2, 1, 1, Some(new)));
    }
}
