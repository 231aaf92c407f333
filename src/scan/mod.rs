//! Scan: run the pipeline (capture → inventory → compare → store) for a set of pages.
//!
//! One Chromium serves the whole run; pages are scanned concurrently up to `jobs` at a time
//! (a semaphore bounds it). SQLite work runs on the blocking pool, never on the async workers.
//! A page that cannot be scanned is reported with `status: error`, never as "no change".

use crate::baseline::BaselineDir;
use crate::capture::{self, CaptureOptions, Chromium};
use crate::compare::{self, behaviour, churn, policy};
use crate::config::{select_pages, Config, PageConfig, SelectError};
use crate::inventory;
use crate::model::{
    Baseline, Finding, FindingKind, Interaction, Inventory, PageReport, PageStatus, ScanReport, ScriptEntry,
};
use crate::store::{self, NewScan, ScanOutcome, Store};
use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use tokio::sync::Semaphore;

#[derive(Debug, thiserror::Error)]
pub enum ScanError {
    #[error(transparent)]
    Select(#[from] SelectError),
    #[error(transparent)]
    Store(#[from] store::StoreError),
    #[error("{0}")]
    Task(String),
}

/// What to scan and how.
#[derive(Debug, Clone)]
pub struct ScanOptions {
    /// Page names to scan; empty = all configured pages.
    pub pages: Vec<String>,
    /// Pages scanned at the same time.
    pub jobs: usize,
    /// Keep nothing: scan against an in-memory database (release pipelines).
    pub ephemeral: bool,
    /// Scan every page on this origin instead (path and query kept): `--base-url`, to gate a
    /// staging deploy with the production baselines. See [`crate::config::rebase::rebase_url`].
    pub base_url: Option<url::Url>,
}

impl Default for ScanOptions {
    fn default() -> Self {
        ScanOptions { pages: Vec::new(), jobs: 4, ephemeral: false, base_url: None }
    }
}

/// Opens the configured database (or an in-memory one) on the blocking pool.
pub async fn open_store(config: &Config, ephemeral: bool) -> Result<Arc<Mutex<Store>>, ScanError> {
    let path = config.storage.database.clone();
    let store = tokio::task::spawn_blocking(move || {
        if ephemeral {
            Store::open_in_memory()
        } else {
            Store::open(&path)
        }
    })
    .await
    .map_err(|e| ScanError::Task(e.to_string()))??;
    Ok(Arc::new(Mutex::new(store)))
}

/// Scans the selected pages and returns the report. Page failures are inside the report.
pub async fn run(config: &Config, opts: &ScanOptions) -> Result<ScanReport, ScanError> {
    let mut pages: Vec<PageConfig> = select_pages(config, &opts.pages)?.into_iter().cloned().collect();
    if let Some(base) = &opts.base_url {
        for page in &mut pages {
            page.url = crate::config::rebase::rebase_url(&page.url, base).map_err(|e| ScanError::Task(e.to_string()))?;
        }
    }
    let store = open_store(config, opts.ephemeral).await?;
    let baselines = BaselineDir::new(config.storage.baselines.clone());
    let baselines = Arc::new(if opts.ephemeral { baselines.read_only() } else { baselines });

    let exe = match capture::find_chromium(config.browser.executable.as_deref()) {
        Ok(exe) => exe,
        Err(e) => return Ok(all_failed(&pages, &e.to_string())),
    };
    let chromium = match Chromium::launch(&exe).await {
        Ok(c) => Arc::new(c),
        Err(e) => return Ok(all_failed(&pages, &e.to_string())),
    };

    let permits = Arc::new(Semaphore::new(opts.jobs.max(1)));
    let mut tasks = tokio::task::JoinSet::new();
    for (index, page) in pages.iter().cloned().enumerate() {
        let permits = permits.clone();
        let chromium = chromium.clone();
        let store = store.clone();
        let baselines = baselines.clone();
        tasks.spawn(async move {
            let _permit = permits.acquire_owned().await;
            let report = scan_page(&chromium, &page, &store, &baselines).await;
            (index, report)
        });
    }
    let mut reports: Vec<Option<PageReport>> = vec![None; pages.len()];
    while let Some(joined) = tasks.join_next().await {
        let (index, report) = joined.map_err(|e| ScanError::Task(e.to_string()))?;
        reports[index] = Some(report);
    }
    if let Ok(chromium) = Arc::try_unwrap(chromium) {
        chromium.close().await;
    }
    Ok(ScanReport { pages: reports.into_iter().flatten().collect() })
}

fn all_failed(pages: &[PageConfig], message: &str) -> ScanReport {
    ScanReport { pages: pages.iter().map(|p| error_report(p, message.to_string())).collect() }
}

fn error_report(page: &PageConfig, message: String) -> PageReport {
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
        interaction: None,
    }
}

/// What the blocking half of a page scan hands back: inventory, baseline, findings, elapsed
/// milliseconds, behaviour and interaction.
type Compared = (Inventory, Baseline, Vec<Finding>, u64, crate::model::Behaviour, Option<Interaction>);

/// What capture needs to know of a page's settings.
pub fn capture_options(page: &PageConfig) -> CaptureOptions {
    CaptureOptions {
        timeout: page.timeout,
        settle: page.settle,
        interact: page.interact,
        profile: page.profile,
        payment_fields: page.payment_fields.clone(),
        card_data_hosts: page.card_data_hosts.clone(),
    }
}

/// Scans one page end to end. Never fails: errors become an error report (and a stored scan).
pub async fn scan_page(
    chromium: &Chromium,
    page: &PageConfig,
    store: &Arc<Mutex<Store>>,
    baselines: &Arc<BaselineDir>,
) -> PageReport {
    let started_at = store::now_rfc3339();
    let opts = capture_options(page);
    tracing::info!(page = %page.name, url = %page.url, "scanning");
    let snapshot = chromium.capture(&page.url, &opts).await;
    finish_scan(page, started_at, snapshot.map_err(|e| e.to_string()), store, baselines, None).await
}

/// Runs inside the transaction that records a scan, with the new scan's id, to write what must
/// commit (or roll back) together with it: the watch daemon queues its alerts here.
pub type RecordHook =
    Arc<dyn Fn(&rusqlite::Transaction, i64, &NewScan) -> Result<(), rusqlite::Error> + Send + Sync>;

/// The pipeline after capture: inventory, compare, store (running `hook` in the recording
/// transaction) and the page's report. `snapshot` is the capture or why it failed.
pub async fn finish_scan(
    page: &PageConfig,
    started_at: String,
    snapshot: Result<crate::model::Snapshot, String>,
    store: &Arc<Mutex<Store>>,
    baselines: &Arc<BaselineDir>,
    hook: Option<RecordHook>,
) -> PageReport {
    let outcome = match snapshot {
        Err(e) => Err(e),
        Ok(snapshot) => {
            // The inventory, and what scripts did with card data named by its identities.
            let inventory::PageInventory { inventory: inv, behaviour, interaction } =
                inventory::inventory_page(&snapshot, &page.ignore_query);
            let name = page.name.clone();
            let page_config = page.clone();
            let baselines = baselines.clone();
            let store = store.clone();
            let elapsed_ms = snapshot.elapsed_ms;
            // Baseline files and SQLite are blocking I/O.
            tokio::task::spawn_blocking(move || -> Result<Compared, String> {
                let mut baseline = baselines.load(&name).map_err(|e| e.to_string())?;
                let mut findings = {
                    let store = store.lock().unwrap();
                    let lookup = |sha: &str| -> Option<String> {
                        baselines.source(sha).or_else(|| store.script_source(sha).ok().flatten())
                    };
                    let mut findings = compare::compare(&name, &inv, &baseline, &lookup);
                    // Intermittent scripts (A/B tests, timers) are judged on the scan history.
                    let history = store.recent_script_ids(&name, churn::HISTORY_SCANS).map_err(|e| e.to_string())?;
                    churn::hold_back_removals(&mut findings, &history, page_config.removed_after);
                    findings
                };
                // Vendors trusted by URL: the baseline follows their content, with an audit entry.
                let followed = policy::follow_trusted(&page_config, &mut findings, &inv, &mut baseline, &store::now_rfc3339());
                if !followed.is_empty() && !baselines.is_read_only() {
                    for sha in &followed {
                        if let Some(s) = inv.scripts.iter().find(|s| &s.sha256 == sha) {
                            baselines.save_source(sha, &s.source).map_err(|e| e.to_string())?;
                        }
                    }
                    baselines.save(&baseline).map_err(|e| e.to_string())?;
                }
                findings.extend(behaviour::findings(&name, &behaviour, &baseline));
                crate::model::sort_findings(&mut findings);
                Ok((inv, baseline, findings, elapsed_ms, behaviour, interaction))
            })
            .await
            .map_err(|e| e.to_string())
            .and_then(|r| r)
        }
    };

    let finished_at = store::now_rfc3339();
    let page_name = page.name.clone();
    let url = page.url.clone();
    let store = store.clone();
    match outcome {
        Err(message) => {
            tracing::warn!(page = %page.name, "scan failed: {message}");
            let msg = message.clone();
            let stored = tokio::task::spawn_blocking(move || {
                let scan = NewScan {
                    page: &page_name,
                    url: &url,
                    started_at,
                    finished_at,
                    outcome: ScanOutcome::Error { message: msg },
                };
                let run_hook = |tx: &rusqlite::Transaction, id| hook.as_ref().map_or(Ok(()), |h| h(tx, id, &scan));
                store.lock().unwrap().record_scan_with(&scan, run_hook).map(|(id, ())| id)
            })
            .await;
            let mut report = error_report(page, message);
            match stored {
                Ok(Ok(id)) => report.scan_id = Some(id),
                Ok(Err(e)) => tracing::error!(page = %page.name, "could not store the failed scan: {e}"),
                Err(e) => tracing::error!(page = %page.name, "could not store the failed scan: {e}"),
            }
            report
        }
        Ok((inv, _baseline, findings, elapsed_ms, behaviour, interaction)) => {
            // Approved = no pending new/altered finding for it (so inline scripts that differ
            // only in data, and trusted vendor updates, count as approved).
            let pending: HashSet<(String, String)> = findings
                .iter()
                .filter(|f| matches!(f.kind, FindingKind::NewScript | FindingKind::AlteredScript) && f.policy.is_none())
                .filter_map(|f| f.script.as_ref().map(|s| (s.id.clone(), s.sha256.clone())))
                .collect();
            let scripts: Vec<ScriptEntry> = inv
                .scripts
                .iter()
                .map(|s| ScriptEntry {
                    id: s.id.clone(),
                    kind: s.kind,
                    url: s.url.clone(),
                    frame_url: s.frame_url.clone(),
                    sha256: s.sha256.clone(),
                    bytes: s.bytes,
                    approved: !pending.contains(&(s.id.clone(), s.sha256.clone())),
                    sri: s.sri.clone(),
                    initiator: s.initiator.clone(),
                })
                .collect();
            let mut report = PageReport {
                name: page.name.clone(),
                url: page.url.clone(),
                status: PageStatus::Ok,
                error: None,
                scripts,
                findings: findings.clone(),
                http_status: Some(inv.status),
                headers: inv.headers.clone(),
                hosts: inv.hosts.clone(),
                payment_fields: inv.payment_fields.clone(),
                scan_id: None,
                elapsed_ms,
                unmatched_payment_fields: behaviour.unmatched_payment_fields,
                card_data: behaviour.card_leaks,
                field_access: behaviour.field_access,
                interaction,
            };
            let stored = tokio::task::spawn_blocking(move || {
                let mut store = store.lock().unwrap();
                let scan = NewScan {
                    page: &page_name,
                    url: &url,
                    started_at,
                    finished_at,
                    outcome: ScanOutcome::Ok { inventory: &inv, findings: &findings, elapsed_ms },
                };
                let run_hook = |tx: &rusqlite::Transaction, id| hook.as_ref().map_or(Ok(()), |h| h(tx, id, &scan));
                let (id, ()) = store.record_scan_with(&scan, run_hook)?;
                // Lifecycle of each finding: first/last seen and how many scans saw it.
                let mut history = Vec::with_capacity(findings.len());
                for f in &findings {
                    history.push(store.finding_history(&page_name, &f.id)?);
                }
                Ok::<_, store::StoreError>((id, history))
            })
            .await;
            match stored {
                Ok(Ok((id, history))) => {
                    report.scan_id = Some(id);
                    for (f, h) in report.findings.iter_mut().zip(history) {
                        if let Some((first, last, count)) = h {
                            f.first_seen = Some(first);
                            f.last_seen = Some(last);
                            f.seen_count = Some(count);
                        }
                    }
                }
                Ok(Err(e)) => {
                    // A scan whose result cannot be kept is not a successful scan.
                    report.status = PageStatus::Error;
                    report.error = Some(format!("scan done but not stored: {e}"));
                }
                Err(e) => {
                    report.status = PageStatus::Error;
                    report.error = Some(format!("scan done but not stored: {e}"));
                }
            }
            tracing::info!(page = %page.name, scripts = report.scripts.len(), findings = report.findings.len(), ms = elapsed_ms, "scanned");
            report
        }
    }
}
