//! Evidence for the PCI assessor and for breach response, read from the baselines and the
//! scan store (nothing here scans or writes).
//!
//! - [`inventory`]: the PCI DSS 6.4.3 script inventory per page: every approved script and
//!   every script the latest scan saw, with its hashes, first and last sighting, who approved
//!   it, when and why, and whether it runs next to card fields.
//! - [`evidence`]: the PCI DSS 11.6.1 record since a date: monitored pages and settings, every
//!   scan and its result, every finding and how it was resolved, alert deliveries, and the
//!   verification of the tamper-evident scan log ([`crate::store::chain`]).
//! - [`incident`]: the timeline of one finding, from first sighting to resolution.
//!
//! The data are plain serialisable structs; the CLI renders them as JSON, CSV or HTML. Every
//! string in them may come from a hostile page and must be escaped by the renderer.

use crate::baseline::{BaselineDir, BaselineError};
use crate::config::Config;
use crate::inventory::SELF_HOST;
use crate::model::{Baseline, Finding, FindingKind, Inventory, ScriptKind, Severity, Timestamp};
use crate::store::chain::Verification;
use crate::store::evidence::Sightings;
use crate::store::outbox::OUTBOX_COLUMNS;
use crate::store::{Store, StoreError, StoredScan};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;

#[derive(Debug, thiserror::Error)]
pub enum EvidenceError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Baseline(#[from] BaselineError),
    #[error(transparent)]
    Select(#[from] crate::config::SelectError),
    #[error("`{given}` is not a date: use YYYY-MM-DD (UTC) or an RFC 3339 time such as 2025-03-01T12:00:00Z")]
    BadDate { given: String },
    #[error(
        "no finding with id `{id}` in the scan database {path}; the id comes from a scan report (e.g. F3a9c1e2b7d40)"
    )]
    UnknownFinding { id: String, path: String },
}

// ---------------------------------------------------------------------------------------------
// 6.4.3 inventory
// ---------------------------------------------------------------------------------------------

/// Where a script of the inventory stands. Serialised (JSON, CSV, HTML) as [`Self::as_str`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum InventoryStatus {
    /// In the baseline (and in the latest scan, or there is no scan).
    #[serde(rename = "approved")]
    Approved,
    /// Seen in the latest scan, not approved.
    #[serde(rename = "pending approval")]
    PendingApproval,
    /// In the baseline, but the latest scan did not see this version.
    #[serde(rename = "approved, not seen in the latest scan")]
    ApprovedNotSeen,
    /// Real browsers reported (CSP violation reports) a script from this origin that neither
    /// the baseline nor the latest scan has: the page may be hiding it from the monitor.
    #[serde(rename = "reported by browsers, never seen by the monitor")]
    ReportedNotSeen,
}

impl InventoryStatus {
    pub const ALL: [InventoryStatus; 4] = [
        InventoryStatus::Approved,
        InventoryStatus::PendingApproval,
        InventoryStatus::ApprovedNotSeen,
        InventoryStatus::ReportedNotSeen,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            InventoryStatus::Approved => "approved",
            InventoryStatus::PendingApproval => "pending approval",
            InventoryStatus::ApprovedNotSeen => "approved, not seen in the latest scan",
            InventoryStatus::ReportedNotSeen => "reported by browsers, never seen by the monitor",
        }
    }
}

/// Pads like the text it replaced (`{:<20}`).
impl fmt::Display for InventoryStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

/// One script of the inventory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InventoryRow {
    pub page: String,
    pub script: String,
    pub kind: ScriptKind,
    pub url: Option<String>,
    pub frame_url: String,
    pub sha256: String,
    pub sri: String,
    pub bytes: u64,
    pub status: InventoryStatus,
    pub first_seen: Option<String>,
    pub last_seen: Option<String>,
    /// In how many stored scans this exact version (identity and SHA-256) was seen.
    pub seen_in_scans: u64,
    pub approved_by: Option<String>,
    pub approved_at: Option<String>,
    pub reason: Option<String>,
    /// What the script can do with payment fields, as far as the latest scan shows.
    pub payment_fields: String,
    /// CSP violation reports real browsers sent in the last day about scripts from this row's
    /// origin (a script of another origin than the page; 0 otherwise, and for scripts the
    /// policy allows): whether real shoppers' browsers met it too.
    #[serde(default)]
    pub browser_reports: u64,
}

/// The inventory of the selected pages: approved scripts from the baselines, plus what the
/// latest successful scan saw. `store` is optional: from a clean checkout (no database) the
/// inventory lists the approved scripts without sightings.
///
/// With several databases (the shards of a fleet), each page is read from the one holding its
/// newest successful scan.
pub fn inventory(config: &Config, pages: &[String], stores: &[&Store]) -> Result<Vec<InventoryRow>, EvidenceError> {
    let pages = crate::config::select_pages(config, pages)?;
    let dir = BaselineDir::new(config.storage.baselines.clone());
    let mut rows = Vec::new();
    for page in pages {
        let baseline = dir.load(&page.name)?;
        let (store, latest) = match store_of(stores, &page.name)? {
            Some((store, scan)) => (Some(store), scan.inventory),
            None => (None, None),
        };
        rows.extend(page_inventory(&page.name, &baseline, latest.as_ref(), store)?);
    }
    Ok(rows)
}

/// One cookie of the cookie audit (`inventory --cookies`): as the page's newest successful
/// scan saw it, with its approval. Never the value: only its keyed hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CookieRow {
    pub page: String,
    /// `name@domain/path`.
    pub cookie: String,
    pub name: String,
    pub domain: String,
    pub path: String,
    /// `first` or `third`.
    pub party: String,
    /// `session` or `N days`.
    pub lifetime: String,
    pub secure: bool,
    pub http_only: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub same_site: Option<String>,
    pub size: u64,
    /// `response`, `script` or `unknown`.
    pub source: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub set_by: Option<String>,
    /// Why the scan's browser refused it, when it did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blocked: Option<String>,
    pub value_hash: String,
    /// `approved`, `unapproved`, or `approved-only` (in the baseline, not seen by the scan).
    pub status: String,
    /// `necessary`, `analytics`, `marketing` or `unclassified` (from the baseline).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub purpose: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approved_by: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approved_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// When the scan that saw it ran.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_seen: Option<String>,
}

/// The cookie audit of the selected pages (all when `pages` is empty): every cookie of each
/// page's newest successful scan (from whichever database has the newest), and every
/// approved cookie the scan did not see.
pub fn cookie_inventory(config: &Config, pages: &[String], stores: &[&Store]) -> Result<Vec<CookieRow>, EvidenceError> {
    let pages = crate::config::select_pages(config, pages)?;
    let dir = BaselineDir::new(config.storage.baselines.clone());
    let mut rows = Vec::new();
    for page in pages {
        let baseline = dir.load(&page.name)?;
        let latest = store_of(stores, &page.name)?.map(|(_, scan)| scan);
        let at = latest.as_ref().map(|s| s.finished_at.clone());
        let cookies = latest.and_then(|s| s.inventory).map(|i| i.cookies).unwrap_or_default();
        for c in &cookies {
            let approved = baseline.cookies.iter().find(|a| a.id == c.id);
            rows.push(CookieRow {
                page: page.name.clone(),
                cookie: c.id.clone(),
                name: c.name.clone(),
                domain: c.domain.clone(),
                path: c.path.clone(),
                party: if c.third_party { "third" } else { "first" }.into(),
                lifetime: c.lifetime_days.map_or("session".to_string(), |d| format!("{d} days")),
                secure: c.secure,
                http_only: c.http_only,
                same_site: c.same_site.clone(),
                size: c.size,
                source: c.source.as_str().into(),
                set_by: c.set_by.clone(),
                blocked: c.blocked.clone(),
                value_hash: c.value_hash.clone(),
                status: if approved.is_some() { "approved" } else { "unapproved" }.into(),
                purpose: approved.map(|a| a.purpose.as_str().to_string()),
                approved_by: approved.map(|a| a.approval.approved_by.clone()),
                approved_at: approved.map(|a| a.approval.approved_at.clone()),
                reason: approved.map(|a| a.approval.reason.clone()),
                last_seen: at.clone(),
            });
        }
        for a in baseline.cookies.iter().filter(|a| !cookies.iter().any(|c| c.id == a.id)) {
            let (name, rest) = a.id.split_once('@').unwrap_or((a.id.as_str(), ""));
            let (domain, path) = rest.find('/').map_or((rest, "/"), |i| (&rest[..i], &rest[i..]));
            rows.push(CookieRow {
                page: page.name.clone(),
                cookie: a.id.clone(),
                name: name.into(),
                domain: domain.into(),
                path: path.into(),
                party: if a.third_party { "third" } else { "first" }.into(),
                lifetime: a.lifetime_days.map_or("session".to_string(), |d| format!("{d} days")),
                secure: a.secure,
                http_only: a.http_only,
                same_site: None,
                size: 0,
                source: "unknown".into(),
                set_by: None,
                blocked: None,
                value_hash: String::new(),
                status: "approved-only".into(),
                purpose: Some(a.purpose.as_str().into()),
                approved_by: Some(a.approval.approved_by.clone()),
                approved_at: Some(a.approval.approved_at.clone()),
                reason: Some(a.approval.reason.clone()),
                last_seen: None,
            });
        }
    }
    Ok(rows)
}

/// The database among `stores` that holds `page`'s newest successful scan, with that scan.
fn store_of<'s>(stores: &[&'s Store], page: &str) -> Result<Option<(&'s Store, StoredScan)>, StoreError> {
    let mut best: Option<(&Store, StoredScan)> = None;
    for store in stores {
        if let Some(scan) = store.latest_ok_scan(page)? {
            if best.as_ref().map_or(true, |(_, b)| scan.finished_at > b.finished_at) {
                best = Some((store, scan));
            }
        }
    }
    Ok(best)
}

/// `scheme://host[:port]` of a URL, as violation groups store the blocked resource.
fn origin(url: &str) -> Option<String> {
    url::Url::parse(url).ok().map(|u| u.origin().ascii_serialization()).filter(|o| o != "null")
}

/// The reports of `reported` about scripts from `url`'s origin.
fn reports_for(reported: &[crate::model::CspViolation], url: Option<&str>) -> u64 {
    let Some(o) = url.and_then(origin) else { return 0 };
    reported.iter().filter(|v| v.blocked == o).map(|v| v.count).sum()
}

fn page_inventory(
    page: &str,
    baseline: &Baseline,
    latest: Option<&Inventory>,
    store: Option<&Store>,
) -> Result<Vec<InventoryRow>, EvidenceError> {
    let mut rows = Vec::new();
    // Script violations real browsers reported in the last day (not extension noise).
    let since = Timestamp::now() + -time::Duration::seconds(crate::compare::violations::WINDOW_SECS);
    let reported: Vec<crate::model::CspViolation> = match store {
        Some(st) => st.csp_violations(page, since)?,
        None => Vec::new(),
    }
    .into_iter()
    .filter(|v| !v.noise && v.directive.starts_with("script-src"))
    .collect();
    let page_origin = origin(&baseline.url);
    let reported: Vec<_> = reported.into_iter().filter(|v| Some(&v.blocked) != page_origin.as_ref()).collect();
    let in_latest =
        |id: &str, sha: &str| latest.is_some_and(|inv| inv.scripts.iter().any(|s| s.id == id && s.sha256 == sha));
    for a in &baseline.scripts {
        let status = if latest.is_none() || in_latest(&a.id, &a.sha256) {
            InventoryStatus::Approved
        } else {
            InventoryStatus::ApprovedNotSeen
        };
        let seen = sightings(store, page, &a.id, &a.sha256)?;
        rows.push(InventoryRow {
            page: page.to_string(),
            script: a.id.clone(),
            kind: a.kind,
            url: a.url.clone(),
            frame_url: a.frame_url.clone(),
            sha256: a.sha256.clone(),
            sri: a.sri.clone(),
            bytes: a.bytes,
            status,
            first_seen: seen.first,
            last_seen: seen.last,
            seen_in_scans: seen.scans,
            approved_by: Some(a.approval.approved_by.clone()),
            approved_at: Some(a.approval.approved_at.clone()),
            reason: Some(a.approval.reason.clone()),
            payment_fields: payment_access(latest, &a.frame_url),
            browser_reports: reports_for(&reported, a.url.as_deref()),
        });
    }
    if let Some(inv) = latest {
        for s in &inv.scripts {
            if baseline.scripts.iter().any(|a| a.id == s.id && a.sha256 == s.sha256) {
                continue;
            }
            let seen = sightings(store, page, &s.id, &s.sha256)?;
            rows.push(InventoryRow {
                page: page.to_string(),
                script: s.id.clone(),
                kind: s.kind,
                url: s.url.clone(),
                frame_url: s.frame_url.clone(),
                sha256: s.sha256.clone(),
                sri: s.sri.clone(),
                bytes: s.bytes,
                status: InventoryStatus::PendingApproval,
                first_seen: seen.first,
                last_seen: seen.last,
                seen_in_scans: seen.scans,
                approved_by: None,
                approved_at: None,
                reason: None,
                payment_fields: payment_access(Some(inv), &s.frame_url),
                browser_reports: reports_for(&reported, s.url.as_deref()),
            });
        }
    }
    // Origins real browsers reported that no listed script comes from.
    for v in &reported {
        let known = rows.iter().any(|r| r.url.as_deref().and_then(origin).as_deref() == Some(v.blocked.as_str()));
        if known || !v.blocked.contains("://") || rows.iter().any(|r| r.script == v.blocked) {
            continue;
        }
        rows.push(InventoryRow {
            page: page.to_string(),
            script: v.blocked.clone(),
            kind: ScriptKind::External,
            url: Some(v.blocked.clone()),
            frame_url: v.source.clone(),
            sha256: String::new(),
            sri: String::new(),
            bytes: 0,
            status: InventoryStatus::ReportedNotSeen,
            first_seen: Some(v.first_seen.clone()),
            last_seen: Some(v.last_seen.clone()),
            seen_in_scans: 0,
            approved_by: None,
            approved_at: None,
            reason: None,
            payment_fields: String::new(),
            browser_reports: reported.iter().filter(|o| o.blocked == v.blocked).map(|o| o.count).sum(),
        });
    }
    rows.sort_by(|a, b| (&a.page, &a.script, &a.sha256).cmp(&(&b.page, &b.script, &b.sha256)));
    Ok(rows)
}

/// A script in the same document as card fields can read them; one elsewhere cannot (the
/// same-origin policy keeps a cross-origin iframe's fields out of reach of the page's code).
fn payment_access(latest: Option<&Inventory>, frame_url: &str) -> String {
    let Some(inv) = latest else { return "unknown (no scan recorded)".to_string() };
    let same: Vec<&str> =
        inv.payment_fields.iter().filter(|f| f.frame_url == frame_url).map(|f| f.selector.as_str()).collect();
    if !same.is_empty() {
        format!("can read card fields: runs in the same document as {}", same.join(", "))
    } else if !inv.payment_fields.is_empty() {
        "no direct access: card fields are in another frame".to_string()
    } else {
        "none: no card fields on the page".to_string()
    }
}

/// First and last time (scan start) and number of scans this version was seen in.
fn sightings(store: Option<&Store>, page: &str, id: &str, sha: &str) -> Result<Sightings, StoreError> {
    match store {
        Some(store) => store.script_sightings(page, id, sha),
        None => Ok(Sightings::default()),
    }
}

// ---------------------------------------------------------------------------------------------
// Findings and their resolution
// ---------------------------------------------------------------------------------------------

/// How a finding ended, judged from the current baseline files and the latest scan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum Resolution {
    /// The change is in the baseline now: approved by whom, when, why.
    Approved { by: String, at: String, reason: String },
    /// A removed script whose removal was accepted (its entry left the baseline).
    RemovalAccepted,
    /// Not approved, but later scans no longer see it (the script was removed or reverted).
    Gone { scan_id: i64, at: String },
    /// Still seen by the latest scan of the page.
    Open,
}

impl Resolution {
    pub fn summary(&self) -> String {
        match self {
            Resolution::Approved { by, at, reason } => format!("approved by {by} at {at}: {reason}"),
            Resolution::RemovalAccepted => "removal accepted into the baseline".to_string(),
            Resolution::Gone { scan_id, at } => {
                format!("no longer seen since scan #{scan_id} at {at} (removed or reverted)")
            }
            Resolution::Open => "open: still seen by the latest scan".to_string(),
        }
    }
}

/// One finding (one page, one id) over its life.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FindingRecord {
    pub page: String,
    pub id: String,
    pub kind: FindingKind,
    pub severity: Severity,
    pub title: String,
    pub script_id: Option<String>,
    pub script_url: Option<String>,
    pub host: Option<String>,
    pub first_seen: String,
    pub last_seen: String,
    pub seen_count: u64,
    pub first_scan: i64,
    pub last_scan: i64,
    pub resolution: Resolution,
}

/// Decides the resolution of `finding` (last seen in scan `last_scan` of `page`).
fn resolve(
    store: &Store,
    baselines: &BaselineDir,
    page: &str,
    finding: &Finding,
    last_scan: i64,
) -> Result<Resolution, EvidenceError> {
    let baseline = baselines.load(page).unwrap_or_default();
    let approved = |a: &crate::model::Approval| Resolution::Approved {
        by: a.approved_by.clone(),
        at: a.approved_at.clone(),
        reason: a.reason.clone(),
    };
    match finding.kind {
        FindingKind::NewScript | FindingKind::AlteredScript => {
            if let Some(s) = &finding.script {
                if let Some(a) = baseline.scripts.iter().find(|a| a.id == s.id && a.sha256 == s.sha256) {
                    return Ok(approved(&a.approval));
                }
            }
        }
        FindingKind::RemovedScript => {
            if let Some(s) = &finding.script {
                let sha = finding.approved_sha256.as_deref().unwrap_or(&s.sha256);
                if !baseline.scripts.iter().any(|a| a.id == s.id && a.sha256 == sha) {
                    return Ok(Resolution::RemovalAccepted);
                }
            }
        }
        FindingKind::HeaderChange => {
            if let Some(h) = &finding.header {
                if let Some(a) = baseline.headers.iter().find(|a| a.name == h.name && a.value == h.current) {
                    return Ok(approved(&a.approval));
                }
            }
        }
        FindingKind::CardExfiltration => {
            if let Some(c) = crate::compare::behaviour::card_destination_of(&baseline, finding) {
                return Ok(approved(&c.approval));
            }
        }
        // Missing fields and truncated captures cannot be approved (nor card leaks to another
        // origin): they end when no longer seen.
        FindingKind::PaymentFieldMissing
        | FindingKind::CaptureTruncated
        | FindingKind::CspViolation
        | FindingKind::KnownBadHost
        | FindingKind::VulnerableLibrary
        | FindingKind::PersonalDataFlow => {}
        FindingKind::CookieChange => {
            if let Some(c) = &finding.cookie {
                let fits = |a: &&crate::model::ApprovedCookie| {
                    // Approved as it was then (lifetimes counted from the scan move by a day).
                    a.id == c.id
                        && a.secure == c.secure
                        && a.http_only == c.http_only
                        && a.lifetime_days.unwrap_or(0) + 2 >= c.lifetime_days.unwrap_or(0)
                };
                if let Some(a) = baseline.cookies.iter().find(fits) {
                    return Ok(approved(&a.approval));
                }
            }
        }
        FindingKind::PaymentFieldAccess => {
            if let (Some(s), Some(a)) = (&finding.script, &finding.access) {
                if let Some(b) = baseline.field_access.iter().find(|b| {
                    b.script == s.id
                        && b.frame == a.frame
                        && b.field == a.field
                        && b.action == a.action
                        && b.event == a.event
                }) {
                    return Ok(approved(&b.approval));
                }
            }
        }
        FindingKind::NewHost => {
            if let Some(host) = &finding.host {
                if let Some(a) =
                    baseline.hosts.iter().find(|a| &a.host == host || (host == SELF_HOST && a.host == SELF_HOST))
                {
                    return Ok(approved(&a.approval));
                }
            }
        }
    }
    // Not approved: is it still there? The first successful scan after its last sighting
    // that did not report it marks when it went away.
    let gone = store.first_ok_scan_after(page, last_scan)?;
    Ok(match gone {
        Some((scan_id, at)) => Resolution::Gone { scan_id, at },
        None => Resolution::Open,
    })
}

/// Every finding (page, id) seen in a scan started at or after `since`, with its whole
/// history (first sighting may be earlier).
fn findings_since(
    store: &Store,
    baselines: &BaselineDir,
    since: Timestamp,
) -> Result<Vec<FindingRecord>, EvidenceError> {
    let keys = store.findings_since(since)?;
    let mut out = Vec::new();
    for (page, id) in keys {
        if let Some(record) = finding_record(store, baselines, &page, &id)? {
            out.push(record);
        }
    }
    Ok(out)
}

fn finding_record(
    store: &Store,
    baselines: &BaselineDir,
    page: &str,
    id: &str,
) -> Result<Option<FindingRecord>, EvidenceError> {
    let scans = store.finding_sightings(page, id)?;
    let (Some(first), Some(last)) = (scans.first(), scans.last()) else { return Ok(None) };
    let finding = &last.finding;
    let resolution = resolve(store, baselines, page, finding, last.scan_id)?;
    Ok(Some(FindingRecord {
        page: page.to_string(),
        id: id.to_string(),
        kind: finding.kind,
        severity: scans.iter().map(|s| s.finding.severity).max().unwrap_or(finding.severity),
        title: finding.title.clone(),
        script_id: finding.script.as_ref().map(|s| s.id.clone()),
        script_url: finding.script.as_ref().and_then(|s| s.url.clone()),
        host: finding.host.clone(),
        first_seen: first.at.clone(),
        last_seen: last.at.clone(),
        seen_count: scans.len() as u64,
        first_scan: first.scan_id,
        last_scan: last.scan_id,
        resolution,
    }))
}

// ---------------------------------------------------------------------------------------------
// Alert deliveries
// ---------------------------------------------------------------------------------------------

/// Rows of the alert outbox (column name → value as text), as the assessor sees them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Deliveries {
    /// The table they were read from.
    pub table: String,
    pub columns: Vec<String>,
    pub rows: Vec<Vec<Option<String>>>,
}

/// The table the alert outbox keeps its deliveries in (see [`crate::store::outbox`]).
const DELIVERY_TABLE: &str = "outbox";
/// The column that dates a delivery row (the incident timeline's time).
const DELIVERY_TIME_COLUMN: &str = "created_at";
/// Upper bound of delivery rows in one report.
const MAX_DELIVERY_ROWS: usize = 10_000;

/// The alert deliveries queued since `since` (all when `None`). With `finding`, only rows
/// mentioning that id.
pub fn deliveries(store: &Store, since: Option<Timestamp>, finding: Option<&str>) -> Result<Deliveries, StoreError> {
    // The rows are shown as stored, so they are compared as stored: as text.
    let since = since.map(|t| t.to_string());
    let mut rows = Vec::new();
    for row in store.outbox_rows(MAX_DELIVERY_ROWS)? {
        if since.as_deref().is_some_and(|since| row.created_at.as_str() < since) {
            continue;
        }
        let values = row.values();
        if let Some(id) = finding {
            if !values.iter().flatten().any(|v| v.contains(id)) {
                continue;
            }
        }
        rows.push(values);
    }
    let columns = OUTBOX_COLUMNS.iter().map(|c| c.to_string()).collect();
    Ok(Deliveries { table: DELIVERY_TABLE.to_string(), columns, rows })
}

// ---------------------------------------------------------------------------------------------
// 11.6.1 evidence report
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PageSettings {
    pub name: String,
    pub url: String,
    pub timeout: String,
    pub settle: String,
    /// Approved scripts / headers / hosts in the page's baseline.
    pub approved_scripts: usize,
    pub approved_headers: usize,
    pub approved_hosts: usize,
    /// The payment page as the latest successful scan that kept a picture saw it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub screenshot: Option<PagePicture>,
    /// The payment page as it was approved (the baseline's picture), when the baselines
    /// folder holds it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approved_screenshot: Option<PagePicture>,
    /// With both pictures: whether the latest shows the page as approved (only its data, a
    /// cart or a date, may differ: [`crate::inventory::picture::same_picture`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub looks_as_approved: Option<bool>,
}

/// A screenshot of a page for the report: its key ([`crate::inventory::picture::picture_key`]),
/// the scan it comes from (none for the approved one) and the PNG (not in the JSON: the HTML
/// shows it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PagePicture {
    pub key: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scan_id: Option<i64>,
    #[serde(skip)]
    pub png: Vec<u8>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Settings {
    pub config: String,
    pub database: String,
    pub baselines: String,
    pub browser: String,
    pub default_timeout: String,
    pub default_settle: String,
}

/// One scan of the period (read by the store).
pub use crate::store::evidence::ScanRecord;

/// Everything `skimwatch evidence` writes (as JSON, and rendered as HTML).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Evidence {
    pub generated_at: Timestamp,
    pub since: Timestamp,
    pub tool: String,
    pub settings: Settings,
    pub pages: Vec<PageSettings>,
    pub scans: Vec<ScanRecord>,
    pub findings: Vec<FindingRecord>,
    /// The alert outbox's rows. Always set now that every database has the outbox; optional
    /// so that the JSON keeps its shape.
    pub alert_deliveries: Option<Deliveries>,
    pub inventory: Vec<InventoryRow>,
    pub log: Verification,
    /// Scans of the period that retention (`[storage] keep`) deleted: counted per page, their
    /// seals kept in the log, their content gone.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pruned: Vec<crate::store::prune::PrunedRange>,
    /// With several databases (shards): each one's scan log (`log` is their sum).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub logs: Vec<DatabaseLog>,
    /// The intelligence data the period's scans were checked against: each source and version
    /// with when it was first and last used and by how many page scans (since its first use).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub intel: Vec<crate::store::intel::IntelUse>,
}

/// Parses a report's start (`--since`): `YYYY-MM-DD` (midnight UTC) or RFC 3339.
pub fn parse_since(given: &str) -> Result<Timestamp, EvidenceError> {
    let t = given.trim();
    if let Some(since) = Timestamp::parse(t) {
        return Ok(since);
    }
    let date = time::Date::parse(t, time::macros::format_description!("[year]-[month]-[day]"))
        .map_err(|_| EvidenceError::BadDate { given: given.to_string() })?;
    Ok(date.midnight().assume_utc().into())
}

/// Builds the evidence since `since` (see [`parse_since`]).
///
/// `stores` are the databases to report on, `(path, store)`: one, or the shards of a fleet,
/// merged into one report (scans and findings of all, each scan naming its database; each
/// page's pictures and inventory from the database that scanned it last; the scan log of each
/// verified, `log` their sum and `logs` each one).
pub fn evidence(config: &Config, stores: &[(String, &Store)], since: Timestamp) -> Result<Evidence, EvidenceError> {
    let dir = BaselineDir::new(config.storage.baselines.clone());
    let human = |d: std::time::Duration| humantime::format_duration(d).to_string();
    let all: Vec<&Store> = stores.iter().map(|(_, s)| *s).collect();
    let mut pages = Vec::new();
    for p in &config.pages {
        let b = dir.load(&p.name)?;
        let latest = match store_of(&all, &p.name)? {
            Some((store, _)) => store.latest_screenshot(&p.name)?,
            None => None,
        };
        let screenshot = latest.map(|(scan_id, key, png)| PagePicture { key, scan_id: Some(scan_id), png });
        let approved_screenshot = b
            .screenshot
            .as_ref()
            .and_then(|key| Some(PagePicture { key: key.clone(), scan_id: None, png: dir.picture(key)? }));
        let looks_as_approved = match (&screenshot, &approved_screenshot) {
            (Some(now), Some(then)) => {
                Some(now.key == then.key || crate::inventory::picture::same_picture(&then.png, &now.png))
            }
            _ => None,
        };
        pages.push(PageSettings {
            name: p.name.clone(),
            url: p.url.clone(),
            timeout: human(p.timeout),
            settle: human(p.settle),
            approved_scripts: b.scripts.len(),
            approved_headers: b.headers.len(),
            approved_hosts: b.hosts.len(),
            screenshot,
            approved_screenshot,
            looks_as_approved,
        });
    }
    let settings = Settings {
        config: config.path.display().to_string(),
        database: config.storage.database.display().to_string(),
        baselines: config.storage.baselines.display().to_string(),
        browser: match (&config.browser.endpoint, &config.browser.executable) {
            (Some(endpoint), _) => format!("connected to {}", crate::capture::shown_endpoint(endpoint)),
            (None, Some(exe)) => exe.display().to_string(),
            (None, None) => "autodetected ($CHROME, chromium, chromium-browser, google-chrome)".to_string(),
        },
        default_timeout: human(config.browser.timeout),
        default_settle: human(config.browser.settle),
    };
    let merged = stores.len() > 1;
    let (mut scans, mut findings, mut logs, mut pruned) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let mut intel: Vec<crate::store::intel::IntelUse> = Vec::new();
    let mut alert_deliveries: Option<Deliveries> = None;
    for (path, store) in stores {
        scans.extend(store.scans_since(since)?.into_iter().map(|mut s| {
            s.database = merged.then(|| path.clone());
            s
        }));
        findings.extend(findings_since(store, &dir, since)?);
        let d = deliveries(store, Some(since), None)?;
        match &mut alert_deliveries {
            Some(all) => all.rows.extend(d.rows),
            None => alert_deliveries = Some(d),
        }
        logs.push(DatabaseLog { database: path.clone(), log: store.verify_log()? });
        pruned.extend(store.pruned_since(&since.to_string())?);
        for used in store.intel_used_since(since)? {
            let same = |u: &&mut crate::store::intel::IntelUse| {
                (&u.version.name, &u.version.sha256) == (&used.version.name, &used.version.sha256)
            };
            match intel.iter_mut().find(same) {
                // The same data used by several shards: one row over all of them.
                Some(u) => {
                    u.scans += used.scans;
                    u.first_used = u.first_used.clone().min(used.first_used);
                    u.last_used = u.last_used.clone().max(used.last_used);
                }
                None => intel.push(used),
            }
        }
    }
    intel.sort_by(|a, b| (&a.version.name, &a.first_used).cmp(&(&b.version.name, &b.first_used)));
    scans.sort_by(|a, b| a.started_at.cmp(&b.started_at));
    let log = match logs.as_slice() {
        [one] => one.log.clone(),
        _ => sum_logs(&logs),
    };
    Ok(Evidence {
        generated_at: Timestamp::now(),
        since,
        tool: format!("skimwatch {}", env!("CARGO_PKG_VERSION")),
        settings,
        pages,
        scans,
        findings,
        alert_deliveries,
        inventory: inventory(config, &[], &all)?,
        log,
        pruned,
        logs: if merged { logs } else { Vec::new() },
        intel,
    })
}

/// The scan log of one database of a merged report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DatabaseLog {
    pub database: String,
    pub log: Verification,
}

/// Several databases' logs as one: counts added up, the first break (naming its database);
/// no single head (each database has its own, in `logs`).
fn sum_logs(logs: &[DatabaseLog]) -> Verification {
    let mut v = Verification::default();
    for l in logs {
        v.records += l.log.records;
        v.verified += l.log.verified;
        v.unsealed += l.log.unsealed;
        v.pruned_bodies += l.log.pruned_bodies;
        v.pruned_scans += l.log.pruned_scans;
        if v.broken.is_none() {
            v.broken = l.log.broken.clone().map(|mut b| {
                b.reason = format!("{}: {}", l.database, b.reason);
                b
            });
        }
    }
    v
}

// ---------------------------------------------------------------------------------------------
// Incident timeline
// ---------------------------------------------------------------------------------------------

/// What happened at a point of an incident's timeline. Serialised in snake case.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TimelineEventKind {
    /// The first scan that reported the finding.
    FirstSeen,
    /// A later scan that reported it.
    Seen,
    /// An alert that mentions it was queued.
    Alert,
    /// It was approved, its removal accepted, or it went away.
    Resolved,
    /// Still seen by the latest scan.
    Open,
}

impl TimelineEventKind {
    pub const ALL: [TimelineEventKind; 5] = [
        TimelineEventKind::FirstSeen,
        TimelineEventKind::Seen,
        TimelineEventKind::Alert,
        TimelineEventKind::Resolved,
        TimelineEventKind::Open,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            TimelineEventKind::FirstSeen => "first_seen",
            TimelineEventKind::Seen => "seen",
            TimelineEventKind::Alert => "alert",
            TimelineEventKind::Resolved => "resolved",
            TimelineEventKind::Open => "open",
        }
    }
}

/// Pads like the text it replaced (the timeline is printed in columns).
impl fmt::Display for TimelineEventKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

/// Compares with the serialised name (`event == "first_seen"`), as reports are read.
impl PartialEq<&str> for TimelineEventKind {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TimelineEvent {
    /// Empty when not known. Text, not a [`Timestamp`]: approvals carry the time written in
    /// the baseline file, whatever its form.
    pub at: String,
    pub event: TimelineEventKind,
    pub scan_id: Option<i64>,
    pub detail: String,
}

/// The record a breach response needs for one finding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Incident {
    pub finding: FindingRecord,
    /// The finding as last reported (script, diff, host, header …).
    pub last_report: Finding,
    /// When awareness began: the first scan that reported it.
    pub detected_at: String,
    /// `detected_at` + 72 hours: the GDPR Art. 33 deadline to notify the supervisory
    /// authority if personal data was breached.
    pub gdpr_notify_by: String,
    pub timeline: Vec<TimelineEvent>,
    /// The alert outbox's rows. Always set now that every database has the outbox; optional
    /// so that the JSON keeps its shape.
    pub alert_deliveries: Option<Deliveries>,
    /// What the stored scans show about exposure: the facts a DPO needs to decide on
    /// notification.
    #[serde(default)]
    pub exposure: Exposure,
}

/// Exposure of one incident, from the stored scans (never more than they saw).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Exposure {
    /// The offending code: the script's identity (or the sender's URL), when the finding
    /// names one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub script: Option<String>,
    /// First and last scan that saw the offending code served (this version of the script,
    /// else the finding itself).
    pub served_from: String,
    pub served_until: String,
    /// How many stored scans saw it.
    pub scans: u64,
    /// Fields that code listened to or read (`#cc-number (read)`), in the scans that saw it.
    pub fields_read: Vec<String>,
    /// Data it sent: `card number`, `email`, `phone`, `name`, `street`, `postcode`.
    pub fields_sent: Vec<String>,
    /// Hosts that received it.
    pub destinations: Vec<String>,
    /// What the scans cannot know.
    pub limits: String,
}

/// Stored scans read at most for an incident's exposure (the most recent ones).
const MAX_EXPOSURE_SCANS: usize = 500;

/// The exposure facts of `finding` on `page` from the scans that reported it.
fn exposure(
    store: &Store,
    page: &str,
    sightings: &[crate::store::evidence::FindingSighting],
) -> Result<Exposure, StoreError> {
    use std::collections::BTreeSet;
    let Some(last) = sightings.last() else { return Ok(Exposure::default()) };
    let f = &last.finding;
    let script: Option<String> = f
        .script
        .as_ref()
        .map(|s| s.id.clone())
        .or_else(|| f.personal_data.as_ref().and_then(|p| p.script.clone()))
        .or_else(|| f.initiator.clone());
    let mut e = Exposure {
        script: script.clone(),
        served_from: sightings.first().map(|s| s.at.clone()).unwrap_or_default(),
        served_until: last.at.clone(),
        scans: sightings.len() as u64,
        limits: "only what the monitor's scans saw: the scan's own shopper, between scans nothing is known, \
                 and data shared server-side or sent from real shoppers' sessions is not visible"
            .into(),
        ..Exposure::default()
    };
    if let Some(s) = &f.script {
        let served = store.script_sightings(page, &s.id, &s.sha256)?;
        if let (Some(first), Some(until)) = (served.first, served.last) {
            (e.served_from, e.served_until, e.scans) = (first, until, served.scans);
        }
    }
    let (mut read, mut sent, mut to) = (BTreeSet::new(), BTreeSet::new(), BTreeSet::new());
    let start = sightings.len().saturating_sub(MAX_EXPOSURE_SCANS);
    for sighting in &sightings[start..] {
        let Some(scan) = store.scan(sighting.scan_id)? else { continue };
        for g in &scan.findings {
            let sender = g
                .script
                .as_ref()
                .map(|s| s.id.clone())
                .or_else(|| g.personal_data.as_ref().and_then(|p| p.script.clone()))
                .or_else(|| g.initiator.clone());
            let same = g.id == f.id || (script.is_some() && sender == script);
            if !same {
                continue;
            }
            match g.kind {
                FindingKind::PaymentFieldAccess => {
                    if let Some(a) = &g.access {
                        read.insert(format!("{} ({})", a.field, a.action));
                    }
                }
                FindingKind::CardExfiltration => {
                    sent.insert("card number".to_string());
                    if let Some(d) = &g.destination {
                        to.insert(d.host.clone());
                    }
                }
                FindingKind::PersonalDataFlow => {
                    if let Some(p) = &g.personal_data {
                        sent.extend(p.fields.iter().cloned());
                        to.insert(p.host.clone());
                    }
                }
                _ => {}
            }
        }
    }
    (e.fields_read, e.fields_sent, e.destinations) =
        (read.into_iter().collect(), sent.into_iter().collect(), to.into_iter().collect());
    Ok(e)
}

/// The timeline of finding `id` (on whichever page reported it).
pub fn incident(config: &Config, store: &Store, id: &str) -> Result<Incident, EvidenceError> {
    let dir = BaselineDir::new(config.storage.baselines.clone());
    let page = store.page_of_finding(id)?;
    let unknown = || EvidenceError::UnknownFinding { id: id.to_string(), path: store.path().display().to_string() };
    let page = page.ok_or_else(unknown)?;
    let record = finding_record(store, &dir, &page, id)?.ok_or_else(unknown)?;
    let sightings = store.finding_sightings(&page, id)?;
    let mut timeline = Vec::new();
    for (i, s) in sightings.iter().enumerate() {
        timeline.push(TimelineEvent {
            at: s.at.clone(),
            event: if i == 0 { TimelineEventKind::FirstSeen } else { TimelineEventKind::Seen },
            scan_id: Some(s.scan_id),
            detail: format!("scan #{} reported it ({})", s.scan_id, s.finding.severity),
        });
    }
    let deliveries = deliveries(store, None, Some(id))?;
    timeline.extend(delivery_events(&deliveries));
    timeline.push(resolution_event(&record));
    // Stable: events without a time (none known) stay where they were put.
    timeline.sort_by(|a, b| match (a.at.is_empty(), b.at.is_empty()) {
        (false, false) => a.at.cmp(&b.at),
        _ => std::cmp::Ordering::Equal,
    });
    let detected_at = record.first_seen.clone();
    let gdpr_notify_by = plus_hours(&detected_at, 72).unwrap_or_default();
    let last_report = sightings.last().map(|s| s.finding.clone()).unwrap_or_default();
    let exposure = exposure(store, &page, &sightings)?;
    Ok(Incident {
        exposure,
        finding: record,
        last_report,
        detected_at,
        gdpr_notify_by,
        timeline,
        alert_deliveries: Some(deliveries),
    })
}

/// The timeline entries of the alerts that mention the finding.
fn delivery_events(deliveries: &Deliveries) -> Vec<TimelineEvent> {
    let time_col = deliveries.columns.iter().position(|c| c == DELIVERY_TIME_COLUMN);
    let mut events = Vec::with_capacity(deliveries.rows.len());
    for row in &deliveries.rows {
        let detail = deliveries
            .columns
            .iter()
            .zip(row)
            .filter_map(|(c, v)| v.as_ref().map(|v| format!("{c}={}", crate::text::one_line(v, 120))))
            .collect::<Vec<_>>()
            .join(", ");
        events.push(TimelineEvent {
            at: time_col.and_then(|i| row[i].clone()).unwrap_or_default(),
            event: TimelineEventKind::Alert,
            scan_id: None,
            detail,
        });
    }
    events
}

/// The timeline entry that says how the finding ended (or that it is still open).
fn resolution_event(record: &FindingRecord) -> TimelineEvent {
    match &record.resolution {
        Resolution::Approved { at, by, reason } => TimelineEvent {
            at: at.clone(),
            event: TimelineEventKind::Resolved,
            scan_id: None,
            detail: format!("approved into the baseline by {by}: {reason}"),
        },
        Resolution::Gone { scan_id, at } => TimelineEvent {
            at: at.clone(),
            event: TimelineEventKind::Resolved,
            scan_id: Some(*scan_id),
            detail: format!("scan #{scan_id} no longer saw it: the change was removed or reverted"),
        },
        Resolution::RemovalAccepted => TimelineEvent {
            at: String::new(),
            event: TimelineEventKind::Resolved,
            scan_id: None,
            detail: "the removal was accepted into the baseline (see the baseline file's git history for when)".into(),
        },
        Resolution::Open => TimelineEvent {
            at: record.last_seen.clone(),
            event: TimelineEventKind::Open,
            scan_id: Some(record.last_scan),
            detail: "still seen by the latest scan: not approved, not removed".into(),
        },
    }
}

/// `hours` after a stored time (`None` when it does not parse).
fn plus_hours(rfc3339: &str, hours: i64) -> Option<String> {
    Timestamp::parse(rfc3339).map(|t| (t + time::Duration::hours(hours)).to_string())
}

/// Opens the configured database for reading reports, without creating it: a report over a
/// database that does not exist would silently show "nothing happened".
pub fn open_existing(config: &Config) -> Result<Option<Store>, StoreError> {
    if config.storage.database.exists() {
        Store::open(&config.storage.database).map(Some)
    } else {
        Ok(None)
    }
}

/// Group helper for renderers: rows by page, in order.
pub fn by_page(rows: &[InventoryRow]) -> BTreeMap<String, Vec<&InventoryRow>> {
    let mut map: BTreeMap<String, Vec<&InventoryRow>> = BTreeMap::new();
    for r in rows {
        map.entry(r.page.clone()).or_default().push(r);
    }
    map
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn since_accepts_dates_and_rfc3339() {
        assert_eq!(parse_since("2025-03-01").unwrap().to_string(), "2025-03-01T00:00:00Z");
        assert_eq!(parse_since("2025-03-01T14:00:00+02:00").unwrap().to_string(), "2025-03-01T12:00:00Z");
        assert!(matches!(parse_since("last week"), Err(EvidenceError::BadDate { .. })));
    }

    /// JSON, CSV and HTML show exactly the texts the fields held before they were enums.
    #[test]
    fn statuses_and_events_serialise_as_before() {
        for s in InventoryStatus::ALL {
            let json = serde_json::to_string(&s).unwrap();
            assert_eq!(json, format!("\"{}\"", s.as_str()));
            assert_eq!(serde_json::from_str::<InventoryStatus>(&json).unwrap(), s);
            assert_eq!(s.to_string(), s.as_str());
        }
        assert_eq!(
            InventoryStatus::ALL.map(InventoryStatus::as_str),
            [
                "approved",
                "pending approval",
                "approved, not seen in the latest scan",
                "reported by browsers, never seen by the monitor"
            ]
        );
        for e in TimelineEventKind::ALL {
            let json = serde_json::to_string(&e).unwrap();
            assert_eq!(json, format!("\"{}\"", e.as_str()));
            assert_eq!(serde_json::from_str::<TimelineEventKind>(&json).unwrap(), e);
        }
        assert_eq!(
            TimelineEventKind::ALL.map(TimelineEventKind::as_str),
            ["first_seen", "seen", "alert", "resolved", "open"]
        );
        assert_eq!(format!("{:<10}|", TimelineEventKind::Open), "open      |");
    }

    #[test]
    fn gdpr_deadline_is_72_hours_later() {
        assert_eq!(plus_hours("2025-03-01T12:00:00Z", 72).as_deref(), Some("2025-03-04T12:00:00Z"));
    }
}
