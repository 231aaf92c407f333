//! A page's report: from a failure, or from what a successful scan found, with the lifecycle
//! of each finding once the scan is stored.

use super::evaluate::Evaluated;
use crate::config::PageConfig;
use crate::model::{FindingKind, PageReport, PageStatus, ScriptEntry};
use crate::store::FindingHistory;
use std::collections::HashSet;

/// The report of a page that could not be scanned.
pub(super) fn error_report(page: &PageConfig, message: String) -> PageReport {
    PageReport {
        name: page.name.clone(),
        url: page.url.clone(),
        status: PageStatus::Error,
        error: Some(message),
        scripts: Vec::new(),
        findings: Vec::new(),
        http_status: None,
        headers: Default::default(),
        hosts: Vec::new(),
        payment_fields: Vec::new(),
        scan_id: None,
        elapsed_ms: 0,
        unmatched_payment_fields: Vec::new(),
        card_data: Vec::new(),
        field_access: Vec::new(),
        cookies: Vec::new(),
        personal_data: Vec::new(),
        interaction: None,
        refused_requests: Vec::new(),
        journey: Vec::new(),
        final_url: None,
        guard: Default::default(),
    }
}

/// The report of a successful scan, before it is stored (no scan id, no finding history).
pub(super) fn ok_report(page: &PageConfig, ev: &Evaluated) -> PageReport {
    let inv = &ev.inventory;
    PageReport {
        name: page.name.clone(),
        url: page.url.clone(),
        status: PageStatus::Ok,
        error: None,
        scripts: script_entries(ev),
        findings: ev.findings.clone(),
        http_status: Some(inv.status),
        headers: inv.headers.clone(),
        hosts: inv.hosts.clone(),
        payment_fields: inv.payment_fields.clone(),
        scan_id: None,
        elapsed_ms: ev.elapsed_ms,
        unmatched_payment_fields: ev.behaviour.unmatched_payment_fields.clone(),
        card_data: ev.behaviour.card_leaks.clone(),
        field_access: ev.behaviour.field_access.clone(),
        cookies: inv.cookies.clone(),
        personal_data: ev.behaviour.personal_data.clone(),
        interaction: ev.interaction.clone(),
        refused_requests: ev.refused_requests.clone(),
        journey: ev.journey.clone(),
        final_url: (inv.final_url != page.url).then(|| inv.final_url.clone()),
        guard: ev.guard.clone(),
    }
}

/// Every script of the inventory. Approved = no pending new/altered finding for it (so inline
/// scripts that differ only in data, and trusted vendor updates, count as approved).
fn script_entries(ev: &Evaluated) -> Vec<ScriptEntry> {
    let pending: HashSet<(&str, &str)> = ev
        .findings
        .iter()
        .filter(|f| matches!(f.kind, FindingKind::NewScript | FindingKind::AlteredScript) && f.policy.is_none())
        .filter_map(|f| f.script.as_ref().map(|s| (s.id.as_str(), s.sha256.as_str())))
        .collect();
    ev.inventory
        .scripts
        .iter()
        .map(|s| ScriptEntry {
            id: s.id.clone(),
            kind: s.kind,
            url: s.url.clone(),
            frame_url: s.frame_url.clone(),
            sha256: s.sha256.clone(),
            bytes: s.bytes,
            approved: !pending.contains(&(s.id.as_str(), s.sha256.as_str())),
            sri: s.sri.clone(),
            initiator: s.initiator.clone(),
        })
        .collect()
}

/// Fills in the stored scan's id and, per finding (in report order), its first and last
/// sighting and how many scans saw it.
pub(super) fn set_stored(report: &mut PageReport, scan_id: i64, history: Vec<Option<FindingHistory>>) {
    report.scan_id = Some(scan_id);
    for (f, h) in report.findings.iter_mut().zip(history) {
        if let Some(h) = h {
            f.first_seen = Some(h.first_seen);
            f.last_seen = Some(h.last_seen);
            f.seen_count = Some(h.scans);
        }
    }
}

/// A scan whose result cannot be kept is not a successful scan.
pub(super) fn set_not_stored(report: &mut PageReport, error: &impl std::fmt::Display) {
    report.status = PageStatus::Error;
    report.error = Some(format!("scan done but not stored: {error}"));
}
