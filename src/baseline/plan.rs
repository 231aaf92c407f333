//! `skimwatch baseline diff`: what `baseline approve` would change in the baseline files,
//! as a unified diff, without writing anything.
//!
//! It takes the same selection as approve (pages, `--all` or `--finding ID…`) and runs the
//! same pure [`baseline::apply_approval`] on the latest stored scan, then compares the file
//! text approve would write with the file on disk. So the reviewer of a baselines pull request
//! (or the engineer about to approve) sees exactly the lines that will change, plus the script
//! sources that would be added beside them.

use crate::baseline::approve::{ApproveError, Choice};
use crate::baseline::{self, BaselineDir, Selection};
use crate::config::Config;
use crate::model::{Approval, PageStatus};
use crate::config::select_pages;
use crate::store::Store;
use similar::TextDiff;
use std::path::PathBuf;

/// What approving would do to one page.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct PagePlan {
    pub page: String,
    pub baseline_file: PathBuf,
    /// Findings of the latest scan that would be accepted.
    pub accepted: Vec<String>,
    /// Why nothing can be approved for this page (never scanned, last scan failed).
    pub skipped: Option<String>,
    /// Unified diff of the baseline file (empty when nothing would change).
    pub diff: String,
    /// Script sources that would be added to `sources/`: (SHA-256, bytes).
    pub new_sources: Vec<(String, u64)>,
}

/// Plans the approval of `choice` on the selected pages; writes nothing. Unknown finding ids
/// are an error, as for approve.
pub fn plan(config: &Config, pages: &[String], choice: &Choice, approval: &Approval) -> Result<Vec<PagePlan>, ApproveError> {
    let pages = select_pages(config, pages)?;
    let store = Store::open(&config.storage.database)?;
    let dir = BaselineDir::new(config.storage.baselines.clone());
    let mut plans = Vec::new();
    let mut accepted_anywhere = std::collections::HashSet::new();
    for page in pages {
        let file = dir.path_for(&page.name);
        let mut plan = PagePlan {
            page: page.name.clone(),
            baseline_file: file.clone(),
            accepted: Vec::new(),
            skipped: None,
            diff: String::new(),
            new_sources: Vec::new(),
        };
        let scan = store.latest_scan(&page.name)?;
        let inventory = match &scan {
            None => {
                plan.skipped = Some("never scanned: run `skimwatch scan` first".into());
                plans.push(plan);
                continue;
            }
            Some(s) if s.status != PageStatus::Ok => {
                plan.skipped = Some(format!("the latest scan (#{}) failed; approve after a successful scan", s.id));
                plans.push(plan);
                continue;
            }
            Some(s) => match &s.inventory {
                Some(inv) => inv,
                None => {
                    plan.skipped = Some("the latest scan has no inventory".into());
                    plans.push(plan);
                    continue;
                }
            },
        };
        let scan = scan.as_ref().expect("matched Some above");
        let before = dir.load(&page.name)?;
        let mut after = before.clone();
        after.page = page.name.clone();
        after.url = page.url.clone();
        let selection = match choice {
            Choice::All => Selection::All,
            Choice::Findings(ids) => Selection::Findings(ids),
        };
        let outcome = baseline::apply_approval(&mut after, inventory, &scan.findings, &selection, approval);
        accepted_anywhere.extend(outcome.accepted.iter().cloned());
        plan.accepted = outcome.accepted;
        if plan.accepted.is_empty() {
            plans.push(plan);
            continue;
        }
        let old_text = std::fs::read_to_string(&file).unwrap_or_default();
        let new_text = baseline::render(&after)?;
        let name = file.display().to_string();
        plan.diff = TextDiff::from_lines(&old_text, &new_text)
            .unified_diff()
            .context_radius(3)
            .header(if old_text.is_empty() { "/dev/null" } else { &name }, &name)
            .to_string();
        for a in &after.scripts {
            if dir.source(&a.sha256).is_none() && !plan.new_sources.iter().any(|(s, _)| s == &a.sha256) {
                plan.new_sources.push((a.sha256.clone(), a.bytes));
            }
        }
        plans.push(plan);
    }
    if let Choice::Findings(ids) = choice {
        let unknown: Vec<&str> = ids.iter().filter(|id| !accepted_anywhere.contains(*id)).map(|s| s.as_str()).collect();
        if !unknown.is_empty() {
            return Err(ApproveError::UnknownFindings { ids: unknown.join(", ") });
        }
    }
    Ok(plans)
}
