//! The first half of a page scan after capture: inventory and behaviour, comparison with the
//! baseline and the scan history, and the trust policies that let the baseline follow a
//! vendor (writing baseline files). Baseline files and SQLite are blocking I/O, so the work
//! runs on the blocking pool.

use super::PageError;
use crate::baseline::BaselineDir;
use crate::compare::{self, behaviour, churn, policy, privacy};
use crate::config::PageConfig;
use crate::intel::Intel;
use crate::inventory;
use crate::model::{lock_or_recover, Baseline, Finding, Interaction, Inventory, Snapshot};
use crate::store::{self, Store};
use std::sync::{Arc, Mutex};

/// What a successful capture came to: what to record and report.
pub(super) struct Evaluated {
    pub inventory: Inventory,
    /// Every finding, in report order.
    pub findings: Vec<Finding>,
    pub behaviour: crate::model::Behaviour,
    pub interaction: Option<Interaction>,
    /// Wall-clock milliseconds of the capture.
    pub elapsed_ms: u64,
    /// Requests the capture refused (link-local, cloud metadata).
    pub refused_requests: Vec<String>,
    /// Dialogs, downloads and non-web navigations the capture dismissed or refused.
    pub guard: crate::model::Guarded,
    /// The journey's steps as they went.
    pub journey: Vec<crate::model::StepRecord>,
    /// The payment page's screenshot: its key (what it shows) and the PNG.
    pub screenshot: Option<(String, Vec<u8>)>,
}

/// Inventories `snapshot` and compares it with the page's baseline; trusted vendors' updates
/// are followed into the baseline (unless it is read-only).
pub(super) async fn evaluate(
    page: &PageConfig,
    snapshot: Snapshot,
    store: &Arc<Mutex<Store>>,
    baselines: &Arc<BaselineDir>,
    intel: &Arc<Intel>,
) -> Result<Evaluated, PageError> {
    let (page, store, baselines, intel) = (page.clone(), store.clone(), baselines.clone(), intel.clone());
    // Everything here is CPU-heavy on page data (normalising, hashing, hints, diffs) or
    // blocking I/O: all of it on the blocking pool, none on the async workers.
    tokio::task::spawn_blocking(move || {
        // The inventory, and what scripts did with card data named by its identities.
        let inventory::PageInventory { inventory: mut inv, behaviour, interaction } =
            inventory::inventory_page(&snapshot, &page.ignore_query);
        // Cookie values leave memory only as a keyed hash under this database's key.
        let key = lock_or_recover(&store).cookie_hash_key()?;
        inventory::key_cookie_values(&mut inv.cookies, &key);
        let elapsed_ms = snapshot.elapsed_ms;
        let guard = snapshot.guard.clone();
        let refused_requests = snapshot.refused_requests.clone();
        let journey = snapshot.journey.clone();
        let screenshot = snapshot
            .screenshot
            .as_ref()
            .and_then(|png| inventory::picture::picture_key(png).map(|key| (key, png.clone())));
        let mut baseline = baselines.load(&page.name).map_err(PageError::BaselineLoad)?;
        let mut findings = compare_with_history(&page, &inv, &baseline, &store, &baselines)?;
        compare::intel::apply(&page.name, &inv, &mut findings, &intel, !baseline.is_empty());
        // For the evidence: which data this scan was checked against.
        lock_or_recover(&store).record_intel_use(&intel.versions, crate::model::Timestamp::now())?;
        follow_policies(&page, &mut findings, &inv, &mut baseline, &baselines)?;
        findings.extend(behaviour::findings(&page.name, &behaviour, &baseline));
        // What real browsers reported in the last day (CSP violation reports, issue 14).
        let since = crate::model::Timestamp::now() + -time::Duration::seconds(compare::violations::WINDOW_SECS);
        let reported = lock_or_recover(&store).csp_violations(&page.name, since)?;
        findings.extend(compare::violations::findings(&page.name, &reported, &baseline, &inv));
        let rules = privacy::PrivacyRules { max_cookie_days: page.max_cookie_lifetime.as_secs() / 86_400 };
        findings.extend(privacy::findings(&page.name, &inv, &behaviour, &baseline, rules));
        crate::model::sort_findings(&mut findings);
        Ok(Evaluated {
            inventory: inv,
            findings,
            behaviour,
            interaction,
            elapsed_ms,
            refused_requests,
            guard,
            journey,
            screenshot,
        })
    })
    .await?
}

/// The script and header findings against `baseline`, with removals of intermittent scripts
/// held back on the scan history.
fn compare_with_history(
    page: &PageConfig,
    inv: &Inventory,
    baseline: &Baseline,
    store: &Mutex<Store>,
    baselines: &BaselineDir,
) -> Result<Vec<Finding>, PageError> {
    // The store is locked only for each lookup, never during the comparison itself (hints and
    // diffs of a hostile script take time, and every other page's scan waits for the lock).
    let lookup = |sha: &str| -> Option<String> {
        baselines.source(sha).or_else(|| lock_or_recover(store).script_source(sha).ok().flatten())
    };
    let mut findings = compare::compare(&page.name, inv, baseline, &lookup);
    // Intermittent scripts (A/B tests, timers) are judged on the scan history.
    let history = lock_or_recover(store).recent_script_ids(&page.name, churn::HISTORY_SCANS)?;
    churn::hold_back_removals(&mut findings, &history, page.removed_after);
    Ok(findings)
}

/// Vendors trusted by URL: the baseline follows their content, with an audit entry; the new
/// sources and the baseline are saved unless the baseline folder is read-only.
fn follow_policies(
    page: &PageConfig,
    findings: &mut [Finding],
    inv: &Inventory,
    baseline: &mut Baseline,
    baselines: &BaselineDir,
) -> Result<(), PageError> {
    let followed = policy::follow_trusted(page, findings, inv, baseline, &store::now_rfc3339());
    if followed.is_empty() || baselines.is_read_only() {
        return Ok(());
    }
    for sha in &followed {
        if let Some(s) = inv.scripts.iter().find(|s| &s.sha256 == sha) {
            baselines.save_source(sha, &s.source).map_err(PageError::BaselineSave)?;
        }
    }
    baselines.save(baseline).map_err(PageError::BaselineSave)
}
