//! Approve: accept pending findings of the latest stored scan into the baseline files.
//!
//! The latest scan of each page (from the store) says what ran and what was found; the chosen
//! findings are applied to the page's baseline file with who approved them, when and why, and
//! the approved script sources are written beside the baseline so that diffs work from a clean
//! checkout, with the approved scan's screenshot (`screenshots/<key>.png`, what alerts show
//! beside the current picture).

use crate::baseline::{self, plan};
use crate::config::Config;
use crate::config::SelectError;
use crate::model::Approval;
use crate::store;

#[derive(Debug, thiserror::Error)]
pub enum ApproveError {
    #[error(transparent)]
    Select(#[from] SelectError),
    #[error(transparent)]
    Store(#[from] store::StoreError),
    #[error(transparent)]
    Baseline(#[from] baseline::BaselineError),
    /// The command line adds how to find the right id.
    #[error("no finding with id {ids} is pending in the latest scan of the selected pages")]
    UnknownFindings { ids: String },
    #[error("finding {ids} cannot be approved: card data may only go to hosts listed in `card_data_hosts` of the page (only a script sending it to its own document's origin can be approved), personal data may only go to the page's own site and the hosts in `personal_data_hosts` of the page, a missing payment field is fixed in `payment_fields` of the page ({config}), and a truncated capture (`capture_truncated`) is raised again by every scan the page floods; a `known_bad_host` or `vulnerable_library` is fixed on the page (remove the host, upgrade the library)")]
    NotApprovable { ids: String, config: String },
}

/// What approval did (or, for `baseline diff`, would do) to one page.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct PageApproval {
    pub page: String,
    /// Finding ids accepted into the baseline.
    pub accepted: Vec<String>,
    /// Why nothing could be approved for this page, if so.
    pub skipped: Option<Skip>,
    /// Selected findings that could not be applied (the scan lacks what they refer to); they
    /// stay pending.
    pub not_applied: Vec<String>,
    pub baseline_file: std::path::PathBuf,
}

/// Why a page has nothing to approve. The command line adds what to run for `NeverScanned`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, thiserror::Error)]
pub enum Skip {
    #[error("never scanned")]
    NeverScanned,
    #[error("the latest scan (#{scan}) failed ({error}); approve after a successful scan")]
    Failed { scan: i64, error: String },
    #[error("the latest scan has no inventory")]
    NoInventory,
}

/// Which findings to accept.
#[derive(Debug, Clone)]
pub enum Choice {
    All,
    Findings(Vec<String>),
}

/// Applies `choice` for the selected pages (all when `pages` is empty). The whole approval is
/// planned first ([`plan::plan_approval`], as `baseline diff` shows it), so a refused or
/// unknown finding id writes nothing.
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
    let planned = plan::plan_approval(config, pages, choice, &approval)?;
    let (store, dir) = (&planned.store, &planned.dir);
    let mut results = Vec::new();
    for change in planned.pages {
        if let Some((baseline, inventory)) = &change.write {
            // Sources first, then the baseline that refers to them (approved scripts of
            // earlier scans may only be in the store).
            dir.save_approved_sources(baseline, inventory)?;
            for approved in &baseline.scripts {
                if dir.source(&approved.sha256).is_none() {
                    if let Some(source) = store.script_source(&approved.sha256)? {
                        dir.save_source(&approved.sha256, &source)?;
                    }
                }
            }
            if let Some(key) = &baseline.screenshot {
                if dir.picture(key).is_none() {
                    if let Some(png) = store.screenshot(key)? {
                        dir.save_picture(key, &png)?;
                    }
                }
            }
            dir.save(baseline)?;
        }
        results.push(change.report);
    }
    Ok(results)
}
