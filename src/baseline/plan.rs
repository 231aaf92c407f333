//! What `baseline approve` would do, worked out once: [`plan_approval`] selects the findings
//! of the latest stored scan of each page, refuses what cannot be approved and computes the
//! new baseline, writing nothing. Approve writes the result; `baseline diff` shows it, as a
//! unified diff of the file text against the file on disk plus the script sources that would
//! be added beside it. Because both use this one function, the reviewer of a baselines pull
//! request (or the engineer about to approve) sees exactly what approve will write, and the
//! preview refuses exactly what approve refuses.

use crate::baseline::approve::{ApproveError, Choice, PageApproval, Skip};
use crate::baseline::{self, BaselineDir, Selection};
use crate::config::{select_pages, Config, PageConfig};
use crate::model::{Approval, Baseline, FindingKind, Inventory, PageStatus};
use crate::store::Store;
use similar::TextDiff;
use std::collections::HashSet;

/// What approving would do to one page, as `baseline diff` shows it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct PagePlan {
    /// Accepted findings, skip reason and baseline file, as approve reports them.
    pub change: PageApproval,
    /// Unified diff of the baseline file (empty when nothing would change).
    pub diff: String,
    /// Script sources that would be added to `sources/`: (SHA-256, bytes).
    pub new_sources: Vec<(String, u64)>,
}

/// One page's approval, planned and not yet written.
pub(crate) struct PageChange {
    pub report: PageApproval,
    /// The baseline after approval and the inventory of the scan it was approved from; `None`
    /// when nothing is accepted (then nothing is written).
    pub write: Option<(Baseline, Inventory)>,
}

/// The approval of the selected pages: the store and folder it was planned from (approve
/// writes with them) and each page's change.
pub(crate) struct Planned {
    pub store: Store,
    pub dir: BaselineDir,
    pub pages: Vec<PageChange>,
}

/// Plans the approval of `choice` on the selected pages (all when `pages` is empty); writes
/// nothing. Chosen ids that are fixed in the config (card exfiltration, a missing payment
/// field) are refused, and ids accepted on no page are unknown: both are errors, for approve
/// and diff alike.
pub(crate) fn plan_approval(
    config: &Config,
    pages: &[String],
    choice: &Choice,
    approval: &Approval,
) -> Result<Planned, ApproveError> {
    let pages = select_pages(config, pages)?;
    let store = Store::open(&config.storage.database)?;
    let dir = BaselineDir::new(config.storage.baselines.clone());
    let selection = match choice {
        Choice::All => Selection::All,
        Choice::Findings(ids) => Selection::Findings(ids),
    };
    let mut changes = Vec::new();
    let mut accepted_anywhere = HashSet::new();
    // Findings that are fixed in the config, not approved into a baseline.
    let mut config_only = HashSet::new();
    for page in pages {
        let change = plan_page(&store, &dir, page, &selection, approval, &mut config_only)?;
        accepted_anywhere.extend(change.report.accepted.iter().cloned());
        changes.push(change);
    }
    if let Choice::Findings(ids) = choice {
        let refused: Vec<&str> = ids.iter().filter(|id| config_only.contains(*id)).map(|s| s.as_str()).collect();
        if !refused.is_empty() {
            return Err(ApproveError::NotApprovable {
                ids: refused.join(", "),
                config: config.path.display().to_string(),
            });
        }
        let unknown: Vec<&str> = ids.iter().filter(|id| !accepted_anywhere.contains(*id)).map(|s| s.as_str()).collect();
        if !unknown.is_empty() {
            return Err(ApproveError::UnknownFindings { ids: unknown.join(", ") });
        }
    }
    Ok(Planned { store, dir, pages: changes })
}

/// Plans one page from its latest stored scan; adds the selected findings that only the
/// config can fix to `config_only`.
fn plan_page(
    store: &Store,
    dir: &BaselineDir,
    page: &PageConfig,
    selection: &Selection,
    approval: &Approval,
    config_only: &mut HashSet<String>,
) -> Result<PageChange, ApproveError> {
    let mut report = PageApproval {
        page: page.name.clone(),
        accepted: Vec::new(),
        skipped: None,
        not_applied: Vec::new(),
        baseline_file: dir.path_for(&page.name),
    };
    let scan = match store.latest_scan(&page.name)? {
        None => Err(Skip::NeverScanned),
        Some(s) if s.status != PageStatus::Ok => {
            Err(Skip::Failed { scan: s.id, error: s.error.unwrap_or_else(|| "unknown error".into()) })
        }
        Some(s) if s.inventory.is_none() => Err(Skip::NoInventory),
        Some(s) => Ok(s),
    };
    let mut scan = match scan {
        Ok(s) => s,
        Err(skip) => {
            report.skipped = Some(skip);
            return Ok(PageChange { report, write: None });
        }
    };
    let inventory = scan.inventory.take().expect("checked above");
    let mut baseline = dir.load(&page.name)?;
    baseline.page = page.name.clone();
    baseline.url = page.url.clone();
    let outcome = baseline::apply_approval(&mut baseline, &inventory, &scan.findings, selection, approval);
    config_only.extend(
        scan.findings
            .iter()
            .filter(|f| {
                matches!(
                    f.kind,
                    FindingKind::CardExfiltration
                        | FindingKind::PaymentFieldMissing
                        | FindingKind::CaptureTruncated
                        | FindingKind::KnownBadHost
                        | FindingKind::VulnerableLibrary
                        | FindingKind::PersonalDataFlow
                )
            })
            .filter(|f| outcome.skipped.contains(&f.id))
            .map(|f| f.id.clone()),
    );
    report.accepted = outcome.accepted;
    report.not_applied = outcome.skipped;
    // What the approved page looked like, for the approved-vs-current picture of alerts (only
    // when the picture is still in the store, so the file can be written beside the baseline).
    if !report.accepted.is_empty() {
        if let Some(key) = scan.screenshot.filter(|k| baseline.screenshot.as_ref() != Some(k)) {
            if dir.picture(&key).is_some() || store.screenshot(&key)?.is_some() {
                baseline.screenshot = Some(key);
            }
        }
    }
    let write = if report.accepted.is_empty() { None } else { Some((baseline, inventory)) };
    Ok(PageChange { report, write })
}

/// `baseline diff`: plans the approval of `choice` on the selected pages and renders each
/// changed baseline file as a unified diff; writes nothing. Refusals and unknown ids are the
/// errors approve gives.
pub fn plan(
    config: &Config,
    pages: &[String],
    choice: &Choice,
    approval: &Approval,
) -> Result<Vec<PagePlan>, ApproveError> {
    let planned = plan_approval(config, pages, choice, approval)?;
    let mut plans = Vec::new();
    for change in planned.pages {
        let mut plan = PagePlan { change: change.report, diff: String::new(), new_sources: Vec::new() };
        if let Some((after, _)) = &change.write {
            let file = &plan.change.baseline_file;
            let old_text = std::fs::read_to_string(file).unwrap_or_default();
            let new_text = baseline::render(after)?;
            let name = file.display().to_string();
            plan.diff = TextDiff::from_lines(&old_text, &new_text)
                .unified_diff()
                .context_radius(3)
                .header(if old_text.is_empty() { "/dev/null" } else { &name }, &name)
                .to_string();
            for a in &after.scripts {
                if planned.dir.source(&a.sha256).is_none() && !plan.new_sources.iter().any(|(s, _)| s == &a.sha256) {
                    plan.new_sources.push((a.sha256.clone(), a.bytes));
                }
            }
        }
        plans.push(plan);
    }
    Ok(plans)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::baseline::approve::approve;
    use crate::model::{Finding, ScriptRef, Severity};
    use crate::store::{now_rfc3339, NewScan, ScanOutcome};

    /// A config with one page whose latest scan found card exfiltration and a new script.
    fn scanned_page(dir: &std::path::Path) -> Config {
        let config = Config::with_pages(
            &dir.join("skimwatch.toml"),
            vec![PageConfig::new("checkout", "https://shop.example/checkout")],
        );
        let inventory = Inventory {
            cookies: Default::default(),
            url: "https://shop.example/checkout".into(),
            final_url: "https://shop.example/checkout".into(),
            status: 200,
            headers: Default::default(),
            scripts: vec![],
            hosts: vec![],
            payment_fields: vec![],
        };
        let findings = vec![
            Finding {
                id: "Fcard".into(),
                kind: FindingKind::CardExfiltration,
                severity: Severity::Critical,
                ..Default::default()
            },
            Finding {
                id: "Ftrunc".into(),
                kind: FindingKind::CaptureTruncated,
                severity: Severity::High,
                ..Default::default()
            },
            Finding {
                id: "Fnew".into(),
                kind: FindingKind::NewScript,
                severity: Severity::High,
                script: Some(ScriptRef {
                    id: "self:/gone.js".into(),
                    kind: Default::default(),
                    url: None,
                    sha256: "0".repeat(64),
                }),
                ..Default::default()
            },
        ];
        let mut store = Store::open(&config.storage.database).unwrap();
        store
            .record_scan(&NewScan {
                page: "checkout",
                url: &inventory.url,
                started_at: now_rfc3339(),
                finished_at: now_rfc3339(),
                outcome: ScanOutcome::Ok {
                    inventory: &inventory,
                    findings: &findings,
                    elapsed_ms: 1,
                    screenshot: None,
                },
            })
            .unwrap();
        config
    }

    #[test]
    fn diff_and_approve_refuse_the_same_finding_with_the_same_message() {
        let dir = tempfile::tempdir().unwrap();
        let config = scanned_page(dir.path());
        let choice = Choice::Findings(vec!["Fcard".into()]);
        let approval = Approval { approved_by: "alice".into(), approved_at: now_rfc3339(), reason: "r".into() };
        let diff = plan(&config, &[], &choice, &approval).unwrap_err();
        let approved = approve(&config, &[], &choice, "alice", "r").unwrap_err();
        assert!(matches!(diff, ApproveError::NotApprovable { .. }), "{diff}");
        assert_eq!(diff.to_string(), approved.to_string());
        assert!(diff.to_string().contains("card_data_hosts"), "{diff}");
        assert!(!config.storage.baselines.join("checkout.toml").exists(), "a refusal writes nothing");
        // A truncated capture is refused the same way, and `--all` leaves it pending.
        let choice = Choice::Findings(vec!["Ftrunc".into()]);
        let refused = approve(&config, &[], &choice, "alice", "r").unwrap_err();
        assert!(matches!(refused, ApproveError::NotApprovable { .. }), "{refused}");
        assert!(refused.to_string().contains("capture_truncated"), "{refused}");
        let planned = plan(&config, &[], &Choice::All, &approval).unwrap();
        assert!(planned[0].change.not_applied.contains(&"Ftrunc".to_string()), "{:?}", planned[0].change);
        // A finding the scan cannot apply is unknown to both.
        let choice = Choice::Findings(vec!["Fnew".into()]);
        let diff = plan(&config, &[], &choice, &approval).unwrap_err();
        let approved = approve(&config, &[], &choice, "alice", "r").unwrap_err();
        assert!(matches!(diff, ApproveError::UnknownFindings { .. }), "{diff}");
        assert_eq!(diff.to_string(), approved.to_string());
    }
}
