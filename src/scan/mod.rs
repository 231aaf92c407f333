//! Scan: run the pipeline (capture → inventory → compare → store) for a set of pages.
//!
//! One Chromium (launched, or `[browser] endpoint`'s) serves the whole run; pages are scanned
//! concurrently up to `jobs` at a time (a semaphore bounds it). SQLite work runs on the blocking pool, never on the async workers.
//! A page that cannot be scanned is reported with `status: error`, never as "no change".
//!
//! After capture a page goes through three steps: [`evaluate`] (inventory, compare, follow
//! the trust policies), [`record`] (store it, with the caller's [`RecordHook`] in the same
//! transaction) and [`report`] (the page's report).

mod evaluate;
mod record;
mod report;

use crate::baseline::{BaselineDir, BaselineError};
use crate::capture::{self, BrowserSource, CaptureOptions, Chromium};
use crate::config::{select_pages, Config, PageConfig, SelectError};
use crate::intel::Intel;
use crate::model::{PageReport, ScanReport, Snapshot};
use crate::store::{self, NewScan, ScanTx, Store, StoreError};
use report::error_report;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::Semaphore;
use tokio::time::Instant;

#[derive(Debug, thiserror::Error)]
pub enum ScanError {
    #[error(transparent)]
    Select(#[from] SelectError),
    #[error(transparent)]
    Store(#[from] store::StoreError),
    #[error("{0}")]
    Task(String),
    #[error(transparent)]
    Intel(#[from] crate::intel::IntelError),
}

/// Why a page scan failed, from the capture to the stored result. The message is what the
/// page's report and the stored scan say.
#[derive(Debug, thiserror::Error)]
pub enum PageError {
    /// The capture failed (the browser's or the page's error, as text).
    #[error("{0}")]
    Capture(String),
    #[error(transparent)]
    BaselineLoad(BaselineError),
    #[error(transparent)]
    BaselineSave(BaselineError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Task(#[from] tokio::task::JoinError),
    /// The scan's own code panicked (a bug, possibly triggered by the page): the page's
    /// scan failed, every other page's goes on.
    #[error("internal error while scanning this page (panic: {0}); the other pages are not affected")]
    Panic(String),
    /// Capture and analysis together took longer than the scan's hard limit.
    #[error("{url}: scan did not finish within its hard limit of {secs} s (capture and analysis)")]
    HardLimit { url: String, secs: u64 },
}

/// Time a page's analysis (inventory, comparison, policies) may take on top of its capture.
const ANALYSIS_LIMIT: Duration = Duration::from_secs(60);

/// The hard limit of one page's scan: capture and analysis together, whatever the page does.
/// Storing the result is not counted, so that a scan over its limit is still recorded as failed.
pub fn hard_limit(page: &PageConfig) -> Duration {
    capture::capture_limit(&capture_options(page)) + ANALYSIS_LIMIT
}

/// Runs `f`, turning a panic inside it into [`PageError::Panic`] with the panic's message.
pub async fn catch_panic<T>(f: impl std::future::Future<Output = T>) -> Result<T, PageError> {
    use futures::FutureExt;
    std::panic::AssertUnwindSafe(f).catch_unwind().await.map_err(|p| PageError::Panic(panic_message(&*p)))
}

fn panic_message(p: &(dyn std::any::Any + Send)) -> String {
    let m = p.downcast_ref::<&str>().map(|s| s.to_string()).or_else(|| p.downcast_ref::<String>().cloned());
    crate::text::one_line(&m.unwrap_or_else(|| "unknown".into()), 300)
}

/// Test-only, and only in debug builds (release builds do not contain it): a scan of a page
/// whose URL contains `$SKIMWATCH_TEST_PANIC_URL_CONTAINS` panics after its capture, so that
/// the integration tests can show one panicking page among healthy ones.
#[cfg(debug_assertions)]
fn test_injected_panic(page: &PageConfig) {
    if let Some(needle) = std::env::var("SKIMWATCH_TEST_PANIC_URL_CONTAINS").ok().filter(|s| !s.is_empty()) {
        if page.url.contains(&needle) {
            panic!("test-injected panic for {}", page.url);
        }
    }
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

/// Opens the configured database (or an in-memory one) on the blocking pool, with the size
/// budget (`[storage] max_database_size`) in force.
pub async fn open_store(config: &Config, ephemeral: bool) -> Result<Arc<Mutex<Store>>, ScanError> {
    let path = config.storage.database.clone();
    let max = config.storage.max_database_size;
    let store = tokio::task::spawn_blocking(move || {
        let store = if ephemeral { Store::open_in_memory()? } else { Store::open(&path)? };
        if let Some(max) = max {
            store.set_max_size(max)?;
        }
        Ok::<_, StoreError>(store)
    })
    .await
    .map_err(|e| ScanError::Task(e.to_string()))??;
    Ok(Arc::new(Mutex::new(store)))
}

/// Prunes the script bodies of the database (see [`Store::prune`]) on the blocking pool:
/// everything but the last `[storage] keep` scans of each page, the approved scripts of every
/// configured page's baseline and the open findings. A baseline that cannot be read stops the
/// prune (what it approves is unknown), and the error says why.
pub async fn prune_store(
    config: &Config,
    store: &Arc<Mutex<Store>>,
    baselines: &Arc<BaselineDir>,
) -> Result<store::prune::PruneReport, PageError> {
    let pages: Vec<String> = config.pages.iter().map(|p| p.name.clone()).collect();
    let keep = config.storage.keep;
    let (store, baselines) = (store.clone(), baselines.clone());
    tokio::task::spawn_blocking(move || {
        let mut protected = std::collections::HashSet::new();
        for page in &pages {
            let baseline = baselines.load(page).map_err(PageError::BaselineLoad)?;
            protected.extend(baseline.scripts.into_iter().map(|s| s.sha256));
        }
        let mut store = crate::model::lock_or_recover(&store);
        let report = match keep {
            crate::config::Keep::Scans(n) => store.prune(n, &protected)?,
            crate::config::Keep::Age(age) => {
                let cutoff = crate::model::Timestamp::from(time::OffsetDateTime::now_utc() - age);
                let mut report = store.retain(&cutoff.to_string(), &protected)?;
                let text = store.prune(crate::config::BODY_TEXT_SCANS, &protected)?;
                report.bodies += text.bodies;
                report.bytes += text.bytes;
                report.screenshots += text.screenshots;
                store.note_prune(&report)?;
                report
            }
        };
        let info = store.storage_info()?;
        tracing::info!(
            pruned_scans = report.scans,
            pruned = report.bodies,
            pruned_bytes = report.bytes,
            database_bytes = info.database_bytes,
            bodies = info.bodies,
            keep = ?keep,
            "pruned old scans and script bodies"
        );
        Ok(report)
    })
    .await?
}

/// Scans the selected pages and returns the report. Page failures are inside the report.
pub async fn run(config: &Config, opts: &ScanOptions) -> Result<ScanReport, ScanError> {
    let mut pages: Vec<PageConfig> = select_pages(config, &opts.pages)?.into_iter().cloned().collect();
    if let Some(base) = &opts.base_url {
        for page in &mut pages {
            page.url =
                crate::config::rebase::rebase_url(&page.url, base).map_err(|e| ScanError::Task(e.to_string()))?;
        }
    }
    let intel = load_intel(config).await?;
    let store = open_store(config, opts.ephemeral).await?;
    let root = config.storage.baselines.clone();
    let baselines =
        Arc::new(if opts.ephemeral { BaselineDir::new(root).read_only() } else { BaselineDir::for_scanning(root) });

    let source = match BrowserSource::from_config(&config.browser) {
        Ok(source) => source,
        Err(e) => return Ok(all_failed(&pages, &e.to_string())),
    };
    let chromium = match Chromium::start(&source).await {
        Ok(c) => Arc::new(c),
        Err(e) => return Ok(all_failed(&pages, &e.to_string())),
    };

    let permits = Arc::new(Semaphore::new(opts.jobs.max(1)));
    let mut tasks = tokio::task::JoinSet::new();
    let mut index_of_task = std::collections::HashMap::new();
    for (index, page) in pages.iter().cloned().enumerate() {
        let permits = permits.clone();
        let chromium = chromium.clone();
        let store = store.clone();
        let baselines = baselines.clone();
        let intel = intel.clone();
        let task = tasks.spawn(async move {
            let _permit = permits.acquire_owned().await;
            let report = scan_page(&chromium, &page, &store, &baselines, &intel).await;
            (index, report)
        });
        index_of_task.insert(task.id(), index);
    }
    let mut reports: Vec<Option<PageReport>> = vec![None; pages.len()];
    while let Some(joined) = tasks.join_next_with_id().await {
        match joined {
            Ok((_, (index, report))) => reports[index] = Some(report),
            // `scan_page` catches panics; should one escape anyway, only its page fails.
            Err(e) => {
                if let Some(&index) = index_of_task.get(&e.id()) {
                    reports[index] = Some(error_report(&pages[index], PageError::Task(e).to_string()));
                }
            }
        }
    }
    if let Ok(chromium) = Arc::try_unwrap(chromium) {
        chromium.close().await;
    }
    if !opts.ephemeral {
        // Bounded storage: a failed prune is logged; the scans themselves are recorded.
        if let Err(e) = prune_store(config, &store, &baselines).await {
            tracing::error!("could not prune the scan database: {e}");
        }
    }
    Ok(ScanReport { pages: reports.into_iter().flatten().collect(), intel: intel.versions.clone() })
}

/// The intelligence data of `[intel]` (shipped, updated and the user's), compiled once for
/// the run on the blocking pool (regexes and rules take a moment to compile).
pub async fn load_intel(config: &Config) -> Result<Arc<Intel>, ScanError> {
    let cfg = config.intel.clone();
    let intel =
        tokio::task::spawn_blocking(move || Intel::load(&cfg)).await.map_err(|e| ScanError::Task(e.to_string()))??;
    Ok(Arc::new(intel))
}

fn all_failed(pages: &[PageConfig], message: &str) -> ScanReport {
    ScanReport { pages: pages.iter().map(|p| error_report(p, message.to_string())).collect(), intel: Vec::new() }
}

/// What capture needs to know of a page's settings.
pub fn capture_options(page: &PageConfig) -> CaptureOptions {
    CaptureOptions {
        timeout: page.timeout,
        settle: page.settle,
        interact: page.interact,
        profile: page.profile,
        payment_fields: page.payment_fields.clone(),
        card_data_hosts: page.card_data_hosts.clone(),
        personal_data_hosts: page.personal_data_hosts.clone(),
        steps: page.steps.clone(),
        session: page.session.clone(),
        step_screenshots: None,
    }
}

/// What `try` saw of a page's journey: each step, and where it ended.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct TryReport {
    pub page: String,
    pub url: String,
    /// The steps done, the failing one last (with what went wrong as its outcome).
    pub steps: Vec<crate::model::StepRecord>,
    /// Where the journey ended (the document that would be judged), when it got there.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub final_url: Option<String>,
    /// Payment fields the final document shows.
    pub payment_fields: usize,
    /// Scripts of the final document and its frames.
    pub scripts: usize,
    /// Why the page would be a scan error, if it would.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub elapsed_ms: u64,
}

/// Runs page `name`'s journey once (no shopper, nothing stored or compared), writing a
/// screenshot after each step into `screenshots` when given: to debug a journey before it
/// is committed.
pub async fn try_page(
    config: &Config,
    name: &str,
    screenshots: Option<std::path::PathBuf>,
) -> Result<TryReport, ScanError> {
    let page = select_pages(config, &[name.to_string()])?
        .into_iter()
        .next()
        .cloned()
        .ok_or_else(|| ScanError::Task(format!("no page {name}")))?;
    let mut report = TryReport { page: page.name.clone(), url: page.url.clone(), ..TryReport::default() };
    let source = BrowserSource::from_config(&config.browser).map_err(|e| ScanError::Task(e.to_string()))?;
    let chromium = Chromium::start(&source).await.map_err(|e| ScanError::Task(e.to_string()))?;
    let mut opts = capture_options(&page);
    opts.interact = crate::model::InteractMode::None;
    opts.step_screenshots = screenshots;
    let started = Instant::now();
    match chromium.capture(&page.url, &opts).await {
        Ok(snapshot) => {
            report.steps = snapshot.journey;
            report.final_url = Some(snapshot.final_url);
            report.payment_fields = snapshot.payment_fields.len();
            report.scripts = snapshot.scripts.len();
        }
        Err(e) => {
            if let capture::CaptureError::Step { done, .. } = &e {
                report.steps = done.clone();
            }
            report.error = Some(e.to_string());
        }
    }
    report.elapsed_ms = started.elapsed().as_millis() as u64;
    chromium.close().await;
    Ok(report)
}

/// Scans one page end to end. Never fails: errors become an error report (and a stored scan).
pub async fn scan_page(
    chromium: &Chromium,
    page: &PageConfig,
    store: &Arc<Mutex<Store>>,
    baselines: &Arc<BaselineDir>,
    intel: &Arc<Intel>,
) -> PageReport {
    let started_at = store::now_rfc3339();
    let opts = capture_options(page);
    let deadline = Instant::now() + hard_limit(page);
    tracing::info!(page = %page.name, url = %page.url, "scanning");
    let snapshot = match tokio::time::timeout_at(deadline, catch_panic(chromium.capture(&page.url, &opts))).await {
        Ok(Ok(captured)) => captured.map_err(|e| e.to_string()),
        Ok(Err(panicked)) => Err(panicked.to_string()),
        Err(_) => Err(over_limit(page).to_string()),
    };
    finish_scan(page, started_at, snapshot, store, baselines, intel, None, deadline).await.report
}

fn over_limit(page: &PageConfig) -> PageError {
    PageError::HardLimit { url: page.url.clone(), secs: hard_limit(page).as_secs() }
}

/// Runs inside the transaction that records a scan, with the new scan's id, to write what must
/// commit (or roll back) together with it: the watch daemon queues its alerts here.
pub type RecordHook = Arc<dyn Fn(&ScanTx, i64, &NewScan) -> Result<(), StoreError> + Send + Sync>;

/// A finished page scan, and whether storage was full.
#[derive(Debug)]
pub struct Finished {
    pub report: PageReport,
    /// Set when the scan (or its baseline) could not be written because the database or the
    /// disk is full: the error, naming the file and the fix. The report is then an error.
    pub storage_full: Option<String>,
}

/// The pipeline after capture: evaluate (inventory, compare, trust policies), store (running
/// `hook` in the recording transaction) and the page's report. `snapshot` is the capture or
/// why it failed; the analysis must end by `deadline` (the scan's [`hard_limit`] from its
/// start), or the scan is a failure naming the limit. A panic in the analysis fails this
/// page only. The result also tells the caller (the watch daemon) that storage was full.
// One argument per shared piece of the run (store, baselines, intel) plus the page's own:
// bundling them would only move the list into a struct each caller fills.
#[allow(clippy::too_many_arguments)]
pub async fn finish_scan(
    page: &PageConfig,
    started_at: String,
    snapshot: Result<Snapshot, String>,
    store: &Arc<Mutex<Store>>,
    baselines: &Arc<BaselineDir>,
    intel: &Arc<Intel>,
    hook: Option<RecordHook>,
    deadline: Instant,
) -> Finished {
    let evaluated = match snapshot {
        Ok(snapshot) => {
            let analysis = catch_panic(async {
                #[cfg(debug_assertions)]
                test_injected_panic(page);
                evaluate::evaluate(page, snapshot, store, baselines, intel).await
            });
            match tokio::time::timeout_at(deadline, analysis).await {
                Ok(Ok(evaluated)) => evaluated,
                Ok(Err(panicked)) => Err(panicked),
                Err(_) => Err(over_limit(page)),
            }
        }
        Err(message) => Err(PageError::Capture(message)),
    };
    let times = record::Times { started_at, finished_at: store::now_rfc3339() };
    match evaluated {
        Ok(ev) => record::record_success(page, times, ev, store, hook).await,
        Err(e) => {
            let full = e.is_storage_full().then(|| e.to_string());
            let mut finished = record::record_failure(page, times, e.to_string(), store, hook).await;
            finished.storage_full = finished.storage_full.or(full);
            finished
        }
    }
}

impl PageError {
    /// The database or the disk under the database or the baselines is full.
    pub fn is_storage_full(&self) -> bool {
        match self {
            PageError::Store(e) => e.is_full(),
            PageError::BaselineSave(e) | PageError::BaselineLoad(e) => e.is_disk_full(),
            _ => false,
        }
    }
}
