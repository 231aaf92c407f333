//! Approve: accept pending findings of the latest stored scan into the baseline files.
//!
//! The latest scan of each page (from the store) says what ran and what was found; the chosen
//! findings are applied to the page's baseline file with who approved them, when and why, and
//! the approved script sources are written beside the baseline so that diffs work from a clean
//! checkout.

use crate::baseline::{self, BaselineDir, Selection};
use crate::config::Config;
use crate::model::{Approval, PageStatus};
use crate::config::{select_pages, SelectError};
use crate::store::{self, Store};

#[derive(Debug, thiserror::Error)]
pub enum ApproveError {
    #[error(transparent)]
    Select(#[from] SelectError),
    #[error(transparent)]
    Store(#[from] store::StoreError),
    #[error(transparent)]
    Baseline(#[from] baseline::BaselineError),
    #[error("no finding with id {ids} is pending in the latest scan of the selected pages; run `skimwatch scan` and copy the id from its report")]
    UnknownFindings { ids: String },
    #[error("finding {ids} cannot be approved: card data may only go to hosts listed in `card_data_hosts` of the page, and a missing payment field is fixed in `payment_fields` of the page ({config})")]
    NotApprovable { ids: String, config: String },
}

/// What approval did to one page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageApproval {
    pub page: String,
    /// Finding ids accepted into the baseline.
    pub accepted: Vec<String>,
    /// Why nothing could be approved for this page, if so.
    pub skipped: Option<String>,
    /// Selected findings that could not be applied (the scan lacks what they refer to); they
    /// stay pending.
    pub not_applied: Vec<String>,
    pub baseline_file: std::path::PathBuf,
}

/// Which findings to accept.
#[derive(Debug, Clone)]
pub enum Choice {
    All,
    Findings(Vec<String>),
}

/// Applies `choice` for the selected pages (all when `pages` is empty).
pub fn approve(
    config: &Config,
    pages: &[String],
    choice: &Choice,
    approved_by: &str,
    reason: &str,
) -> Result<Vec<PageApproval>, ApproveError> {
    let approval = Approval {
        approved_by: approved_by.trim().to_string(),
        approved_at: store::now_rfc3339(),
        reason: reason.trim().to_string(),
    };
    baseline::validate_approval(&approval)?;
    let pages = select_pages(config, pages)?;
    let store = Store::open(&config.storage.database)?;
    let dir = BaselineDir::new(config.storage.baselines.clone());
    let mut results = Vec::new();
    let mut accepted_anywhere = std::collections::HashSet::new();
    // Findings that are fixed in the config, not approved into a baseline.
    let mut config_only: Vec<String> = Vec::new();
    for page in pages {
        let file = dir.path_for(&page.name);
        let skip = |why: String| PageApproval {
            page: page.name.clone(),
            accepted: Vec::new(),
            skipped: Some(why),
            not_applied: Vec::new(),
            baseline_file: file.clone(),
        };
        let Some(scan) = store.latest_scan(&page.name)? else {
            results.push(skip("never scanned: run `skimwatch scan` first".into()));
            continue;
        };
        if scan.status != PageStatus::Ok {
            results.push(skip(format!(
                "the latest scan (#{}) failed ({}); approve after a successful scan",
                scan.id,
                scan.error.as_deref().unwrap_or("unknown error")
            )));
            continue;
        }
        let Some(inventory) = scan.inventory.as_ref() else {
            results.push(skip("the latest scan has no inventory".into()));
            continue;
        };
        let mut baseline = dir.load(&page.name)?;
        baseline.page = page.name.clone();
        baseline.url = page.url.clone();
        let selection = match choice {
            Choice::All => Selection::All,
            Choice::Findings(ids) => Selection::Findings(ids),
        };
        let outcome = baseline::apply_approval(&mut baseline, inventory, &scan.findings, &selection, &approval);
        config_only.extend(
            scan.findings
                .iter()
                .filter(|f| matches!(f.kind, crate::model::FindingKind::CardExfiltration | crate::model::FindingKind::PaymentFieldMissing))
                .filter(|f| outcome.skipped.contains(&f.id))
                .map(|f| f.id.clone()),
        );
        if outcome.accepted.is_empty() {
            results.push(PageApproval {
                page: page.name.clone(),
                accepted: Vec::new(),
                skipped: None,
                not_applied: outcome.skipped,
                baseline_file: file,
            });
            continue;
        }
        // Sources first, then the baseline that refers to them (approved scripts of earlier
        // scans may only be in the store).
        dir.save_approved_sources(&baseline, inventory)?;
        for approved in &baseline.scripts {
            if dir.source(&approved.sha256).is_none() {
                if let Some(source) = store.script_source(&approved.sha256)? {
                    dir.save_source(&approved.sha256, &source)?;
                }
            }
        }
        dir.save(&baseline)?;
        accepted_anywhere.extend(outcome.accepted.iter().cloned());
        results.push(PageApproval {
            page: page.name.clone(),
            accepted: outcome.accepted,
            skipped: None,
            not_applied: outcome.skipped,
            baseline_file: file,
        });
    }
    if let Choice::Findings(ids) = choice {
        let refused: Vec<&String> = ids.iter().filter(|id| config_only.contains(*id)).collect();
        if !refused.is_empty() {
            return Err(ApproveError::NotApprovable {
                ids: refused.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", "),
                config: config.path.display().to_string(),
            });
        }
        let unknown: Vec<&String> = ids.iter().filter(|id| !accepted_anywhere.contains(*id)).collect();
        if !unknown.is_empty() {
            return Err(ApproveError::UnknownFindings {
                ids: unknown.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", "),
            });
        }
    }
    Ok(results)
}
