//! The watch daemon: scans every page on its own schedule, for as long as it runs, and makes
//! sure the alerts reach security operations.
//!
//! One Chromium serves all pages; the scans run at once that [`admission`] lets in (a fixed
//! `[browser] max_pages`, or by default as many as CPU and memory allow), each in a fresh
//! browser context. Each page is scanned every `interval`, with
//! jitter so that pages do not scan in lockstep, and sooner once when real browsers report a new
//! violation ([`reports`]). A scan has a hard time limit; when it fails
//! because the browser crashed or hangs (or the connection to `[browser] endpoint` was lost),
//! the browser is checked, replaced (reconnected) if it does not answer, and the scan is retried
//! once. Every scan is recorded with the alerts it raises in one SQLite
//! transaction (see [`crate::alert::outbox`]); one delivery task per destination (the email,
//! each webhook) sends the alerts queued for it and retries failed ones with backoff, so a
//! destination that is down or hangs delays only itself; a watchdog raises `monitor_blind` when
//! no page scanned successfully for too long. Shutdown is a [`CancellationToken`]: no new scans, in-flight ones
//! get a grace period, pending alerts get one more delivery attempt, the browser is closed.
//! A lock file beside the database keeps a second daemon off the same database; the kernel
//! releases it when the process dies, however it dies.

pub mod admission;
pub mod metrics;
pub mod reports;

use crate::alert::email::{EmailError, Mailer};
use crate::alert::outbox;
use crate::alert::render::{RenderError, Renderer};
use crate::alert::webhook::{Webhook, WebhookError};
use crate::alert::{Alert, AlertPolicy, Route};
use crate::baseline::BaselineDir;
use crate::capture::{BrowserSource, CaptureError, Chromium};
use crate::config::{Config, PageConfig};
use crate::model::{lock_or_recover, PageReport, PageStatus};
use crate::scan::{self, RecordHook, ScanError};
use crate::store::{self, Store, StoreError};
use fs4::fs_std::FileExt;
use std::collections::HashMap;
use std::future::Future;
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use time::OffsetDateTime;
use tokio::sync::{watch, Notify};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// How often a running scan checks that the browser process is still there.
const LIVENESS_CHECK: Duration = Duration::from_millis(500);
/// How long a browser gets to answer a health check after a failed scan.
const HEALTH_CHECK: Duration = Duration::from_secs(5);
/// Time in-flight scans get to finish after a shutdown request before they are abandoned.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(15);
/// Time the last delivery attempt at shutdown may take in total.
const FINAL_DELIVERY: Duration = Duration::from_secs(60);
/// Longest the delivery task sleeps without looking at the outbox.
const DELIVERY_POLL: Duration = Duration::from_secs(60);
/// A scan brought forward by browsers' reports starts at the earliest this long after the page's
/// previous scan started.
const EARLY_GAP: Duration = Duration::from_secs(5);
/// Alerts sent per delivery round (per destination).
const DELIVERY_BATCH: usize = 50;

#[derive(Debug, thiserror::Error)]
pub enum WatchError {
    #[error("another `skimwatch watch` ({holder}) is already watching the database {}; stop it first (e.g. `systemctl stop skimwatch`) or give this one its own `[storage] database`. (Lock file: {})", database.display(), lock.display())]
    AlreadyRunning { database: PathBuf, lock: PathBuf, holder: String },
    #[error("cannot use the lock file {}: {source}; check that its folder is writable", path.display())]
    Lock { path: PathBuf, source: std::io::Error },
    #[error(transparent)]
    Scan(#[from] ScanError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Email(#[from] EmailError),
    #[error(transparent)]
    Webhook(#[from] WebhookError),
    #[error(transparent)]
    Render(#[from] RenderError),
    #[error(transparent)]
    Browser(#[from] CaptureError),
    #[error("cannot serve /metrics on {addr}: {source}; choose a free address in `[watch] listen`")]
    Listen { addr: std::net::SocketAddr, source: std::io::Error },
    #[error("cannot accept CSP reports on {addr}: {source}; choose a free address in `[reports] listen`")]
    ReportsListen { addr: std::net::SocketAddr, source: std::io::Error },
}

/// How the daemon runs.
#[derive(Debug, Clone, Default)]
pub struct WatchOptions {
    /// Scan every page once, deliver what is due, and return (for cron).
    pub once: bool,
    /// Where to serve `/metrics` and `/healthz` (overrides `[watch] listen`).
    pub listen: Option<std::net::SocketAddr>,
    /// Watch only this shard's pages, in the shard's own database
    /// ([`crate::config::Shard::database`]).
    pub shard: Option<crate::config::Shard>,
}

/// What a run did (for `--once` exit codes and the log).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Summary {
    pub scans_ok: usize,
    pub scans_failed: usize,
    /// Deliveries destinations accepted (an alert sent by email and to a webhook counts twice).
    pub alerts_sent: usize,
    /// Deliveries still in the outbox when the run ended.
    pub alerts_pending: usize,
}

// ---------------------------------------------------------------------------------------------
// the lock
// ---------------------------------------------------------------------------------------------

/// An exclusive advisory lock (`flock`) on `<database>.lock`, holding the daemon's pid. The
/// kernel drops it when the process exits, so a SIGKILLed daemon never blocks its restart.
pub struct DaemonLock {
    _file: std::fs::File,
    path: PathBuf,
}

impl DaemonLock {
    pub fn path_for(database: &Path) -> PathBuf {
        let mut name = database.file_name().map(|n| n.to_os_string()).unwrap_or_default();
        name.push(".lock");
        database.with_file_name(name)
    }

    pub fn acquire(database: &Path) -> Result<DaemonLock, WatchError> {
        let path = Self::path_for(database);
        let lock_err = |source| WatchError::Lock { path: path.clone(), source };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(lock_err)?;
        }
        let mut file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(lock_err)?;
        if !FileExt::try_lock_exclusive(&file).map_err(lock_err)? {
            return Err(WatchError::AlreadyRunning {
                database: database.to_path_buf(),
                holder: holder(&mut file),
                lock: path,
            });
        }
        // Ours now: record who holds it, for the next one's message and `status`.
        file.set_len(0).map_err(lock_err)?;
        file.rewind().map_err(lock_err)?;
        writeln!(file, "{}", std::process::id()).map_err(lock_err)?;
        file.flush().map_err(lock_err)?;
        Ok(DaemonLock { _file: file, path })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// `Some(description)` when a daemon holds the lock of `database` right now.
    pub fn holder_of(database: &Path) -> Option<String> {
        let path = Self::path_for(database);
        let mut file = std::fs::OpenOptions::new().read(true).write(true).open(path).ok()?;
        match FileExt::try_lock_shared(&file) {
            Ok(true) => {
                let _ = FileExt::unlock(&file);
                None
            }
            _ => Some(holder(&mut file)),
        }
    }
}

fn holder(file: &mut std::fs::File) -> String {
    let mut text = String::new();
    let _ = file.read_to_string(&mut text);
    match text.trim().parse::<u32>() {
        Ok(pid) => format!("pid {pid}"),
        Err(_) => "another process".to_string(),
    }
}

// ---------------------------------------------------------------------------------------------
// the browser
// ---------------------------------------------------------------------------------------------

/// The one Chromium, launched (or connected to, with `[browser] endpoint`) on first use and
/// replaced when it crashes, hangs or the connection is lost. Scans hold an `Arc` while they use
/// it; a replaced browser is closed, or killed (a connected one: disconnected) when its last
/// user lets go.
struct BrowserSlot {
    source: BrowserSource,
    state: tokio::sync::Mutex<(u64, Option<Arc<Chromium>>)>,
}

impl BrowserSlot {
    fn new(source: BrowserSource) -> BrowserSlot {
        BrowserSlot { source, state: tokio::sync::Mutex::new((0, None)) }
    }

    /// The current browser and its generation, launching (connecting to) one if there is none.
    async fn get(&self) -> Result<(u64, Arc<Chromium>), CaptureError> {
        let mut state = self.state.lock().await;
        if let Some(b) = &state.1 {
            return Ok((state.0, b.clone()));
        }
        let browser = Arc::new(Chromium::start(&self.source).await?);
        state.0 += 1;
        state.1 = Some(browser.clone());
        tracing::info!(generation = state.0, browser = %self.source, "Chromium started");
        Ok((state.0, browser))
    }

    /// Drops browser `generation` if it is still the current one (another scan may have
    /// replaced it already); the next [`BrowserSlot::get`] launches (connects to) a new one.
    async fn discard(&self, generation: u64) {
        let old = {
            let mut state = self.state.lock().await;
            if state.0 == generation {
                state.1.take()
            } else {
                None
            }
        };
        if let Some(old) = old {
            tracing::warn!(
                generation,
                pid = old.pid().unwrap_or(0),
                browser = %self.source,
                "Chromium crashed, does not respond or is unreachable: restarting it (reconnecting)"
            );
            close(old).await;
        }
    }

    async fn shutdown(&self) {
        let old = self.state.lock().await.1.take();
        if let Some(old) = old {
            close(old).await;
        }
    }
}

async fn close(browser: Arc<Chromium>) {
    if !browser.is_running() {
        return; // nothing to close politely; dropping it reaps the process (or the connection)
    }
    match Arc::try_unwrap(browser) {
        Ok(browser) => browser.close().await,
        // Still in use by a scan that is about to fail: the process is killed on drop.
        Err(shared) => drop(shared),
    }
}

// ---------------------------------------------------------------------------------------------
// the daemon
// ---------------------------------------------------------------------------------------------

struct Daemon {
    config: Config,
    store: Arc<Mutex<Store>>,
    baselines: Arc<BaselineDir>,
    /// The intelligence data, loaded at start (restart the daemon after `intel update`).
    intel: Arc<crate::intel::Intel>,
    browser: BrowserSlot,
    /// Where alerts go: the email first, then the webhooks, each delivered by its own task.
    channels: Vec<Channel>,
    renderer: Renderer,
    policy: AlertPolicy,
    hook: RecordHook,
    /// The full-storage episode: see [`Daemon::on_storage_full`].
    full: Mutex<FullStorage>,
    /// When the database was last pruned (none yet: prune after the first scan).
    last_prune: Mutex<Option<Instant>>,
    /// What `/metrics` counts.
    metrics: metrics::Metrics,
    /// Per page: the instant browsers last reported a new violation, which brings its next
    /// scan forward (see [`schedule`]).
    reported: HashMap<String, watch::Sender<Option<Instant>>>,
}

/// Whether `storage_full` was raised for the current episode (cleared when a scan is recorded
/// again), and the `storage_full` alerts the outbox could not take because the database was
/// full: they are kept in memory and sent directly, retried every delivery round until sent.
#[derive(Default)]
struct FullStorage {
    alerted: bool,
    /// Each alert with the destinations that have not accepted it yet.
    unqueued: Vec<(u64, Alert, Vec<String>)>,
    /// Numbers the unqueued alerts.
    next: u64,
}

/// One destination and what delivers to it.
struct Channel {
    route: Route,
    sender: Sender,
    /// Wakes its delivery task: something may have been queued.
    wake: Notify,
}

enum Sender {
    Email(Mailer),
    Webhook(Webhook),
}

impl Channel {
    fn destination(&self) -> &str {
        &self.route.destination
    }

    /// Where it delivers, without secrets.
    fn target(&self) -> &str {
        match &self.sender {
            Sender::Email(m) => m.server(),
            Sender::Webhook(w) => w.target(),
        }
    }
}

/// A failed delivery attempt: the error, and whether it shows the destination is down.
struct Failure {
    error: String,
    down: bool,
}

/// Least time between two prunes of the database by the daemon.
const PRUNE_EVERY: Duration = Duration::from_secs(600);

/// Runs the daemon until `shutdown` is cancelled (or, with `--once`, until every page was
/// scanned once and due alerts were attempted).
pub async fn run(config: &Config, opts: &WatchOptions, shutdown: CancellationToken) -> Result<Summary, WatchError> {
    let mut pages: Vec<PageConfig> =
        crate::config::select_pages(config, &[]).map_err(ScanError::from)?.into_iter().cloned().collect();
    let mut sharded;
    let config = match opts.shard {
        Some(shard) => {
            pages.retain(|p| shard.holds(&p.name));
            sharded = config.clone();
            sharded.storage.database = shard.database(&config.storage.database);
            let names: Vec<&str> = pages.iter().map(|p| p.name.as_str()).collect();
            tracing::info!(%shard, database = %sharded.storage.database.display(), pages = ?names, "watching one shard");
            &sharded
        }
        None => config,
    };
    let lock = DaemonLock::acquire(&config.storage.database)?;
    let listener = match opts.listen.or(config.watch.listen) {
        Some(addr) => {
            Some(tokio::net::TcpListener::bind(addr).await.map_err(|source| WatchError::Listen { addr, source })?)
        }
        None => None,
    };
    let reports_listener = match config.reports.listen {
        Some(addr) => Some(
            tokio::net::TcpListener::bind(addr).await.map_err(|source| WatchError::ReportsListen { addr, source })?,
        ),
        None => None,
    };
    let daemon = Arc::new(Daemon::start(config, &pages, &lock).await?);
    let collector = reports_listener.map(|listener| {
        let addr = listener.local_addr().ok();
        tracing::info!(?addr, "accepting CSP violation reports at /csp/<page>");
        let names = pages.iter().map(|p| p.name.clone()).collect();
        tokio::spawn(reports::serve(listener, daemon.clone(), names, shutdown.clone()))
    });
    let counts = Arc::new(Mutex::new(Summary::default()));
    let endpoint = listener.map(|listener| {
        let addr = listener.local_addr().ok();
        tracing::info!(?addr, "serving /metrics and /healthz");
        let pages = pages.iter().map(|p| (p.name.clone(), p.url.clone())).collect();
        tokio::spawn(metrics::serve(listener, daemon.clone(), pages, shutdown.clone()))
    });
    if pages.is_empty() {
        // A shard the split left empty idles (serving its endpoints) rather than exit, so a
        // fleet's pod is not restarted in a loop.
        tracing::warn!("no page falls in this shard; idling until stopped");
        if !opts.once {
            shutdown.cancelled().await;
        }
    } else if opts.once {
        scan_once(&daemon, pages, &counts, &shutdown).await;
    } else {
        watch_until_shutdown(&daemon, pages, &counts, &shutdown).await;
    }
    if let Some(endpoint) = endpoint {
        endpoint.abort();
    }
    if let Some(collector) = collector {
        collector.abort();
    }
    let summary = daemon.finish(&counts).await;
    drop(lock);
    Ok(summary)
}

/// `--once`: every page scanned once, as many at a time as [`admission`] lets in.
async fn scan_once(
    daemon: &Arc<Daemon>,
    pages: Vec<PageConfig>,
    counts: &Arc<Mutex<Summary>>,
    shutdown: &CancellationToken,
) {
    let admission =
        admission::Admission::new(daemon.config.browser.max_pages, daemon.config.browser.endpoint.is_some());
    let mut tasks = tokio::task::JoinSet::new();
    for page in pages {
        let (daemon, admission, counts) = (daemon.clone(), admission.clone(), counts.clone());
        tasks.spawn(async move {
            let _admitted = admission.admit().await;
            let report = daemon.scan(&page).await;
            count(&counts, &report);
        });
    }
    tokio::select! {
        _ = async { while tasks.join_next().await.is_some() {} } => {}
        _ = shutdown.cancelled() => drain(&mut tasks).await,
    }
}

/// The daemon proper: scheduled scans, the delivery task and the watchdog, until shutdown.
async fn watch_until_shutdown(
    daemon: &Arc<Daemon>,
    pages: Vec<PageConfig>,
    counts: &Arc<Mutex<Summary>>,
    shutdown: &CancellationToken,
) {
    let since = OffsetDateTime::now_utc();
    let deliveries: Vec<_> = (0..daemon.channels.len())
        .map(|i| tokio::spawn(daemon.clone().deliver_loop(i, shutdown.clone(), counts.clone())))
        .collect();
    let watchdog = tokio::spawn(daemon.clone().watchdog(pages.clone(), since, shutdown.clone()));
    let scans = {
        let daemon = daemon.clone();
        let counts = counts.clone();
        let admission =
            admission::Admission::new(daemon.config.browser.max_pages, daemon.config.browser.endpoint.is_some());
        let early = daemon.reported.iter().map(|(page, tx)| (page.clone(), tx.subscribe())).collect();
        schedule(pages, admission, true, early, shutdown.clone(), move |page| {
            let daemon = daemon.clone();
            let counts = counts.clone();
            async move {
                let report = daemon.scan(&page).await;
                count(&counts, &report);
                daemon.wake();
            }
        })
    };
    scans.await;
    for delivery in deliveries {
        let _ = delivery.await;
    }
    let _ = watchdog.await;
    tracing::info!("shutting down: last delivery attempt for pending alerts");
}

impl Daemon {
    /// Sets everything up; whatever can be wrong in the setup fails here, before the first scan.
    async fn start(config: &Config, pages: &[PageConfig], lock: &DaemonLock) -> Result<Daemon, WatchError> {
        let renderer = Renderer::load(config.alerts.templates.as_deref(), &config.path)?;
        let mut senders = Vec::new();
        if let Some(email) = &config.alerts.email {
            senders.push(Sender::Email(Mailer::new(email)?));
        }
        for hook in &config.alerts.webhooks {
            let hook = Webhook::new(hook)?;
            if hook.kind() == crate::config::WebhookKind::Json && !hook.signed() {
                tracing::warn!(webhook = hook.name(), target = hook.target(), "webhook bodies are not signed: set `secret_env` so the receiver can check they come from skimwatch");
            }
            senders.push(Sender::Webhook(hook));
        }
        let source = BrowserSource::from_config(&config.browser)?;
        let store = scan::open_store(config, false).await?;
        let intel = scan::load_intel(config).await?;
        let policy = AlertPolicy::from_config(&config.alerts);
        let channels: Vec<Channel> = policy
            .routes
            .iter()
            .cloned()
            .zip(senders)
            .map(|(route, sender)| Channel { route, sender, wake: Notify::new() })
            .collect();
        let hook: RecordHook = {
            let policy = policy.clone();
            Arc::new(move |tx, scan_id, scan| {
                outbox::on_scan_recorded(tx, scan_id, scan, &policy, OffsetDateTime::now_utc()).map(|_| ())
            })
        };
        if channels.is_empty() {
            tracing::warn!("no [alerts.email] or [[alerts.webhook]] configured: alerts are only logged");
        }
        let destinations: Vec<String> =
            channels.iter().map(|c| format!("{} ({})", c.destination(), c.target())).collect();
        tracing::info!(
            pages = pages.len(),
            max_pages = %config.browser.max_pages,
            database = %config.storage.database.display(),
            lock = %lock.path().display(),
            mail = channels.iter().find_map(|c| match &c.sender { Sender::Email(m) => Some(m.server()), _ => None }).unwrap_or("none"),
            destinations = ?destinations,
            "watch started"
        );
        Ok(Daemon {
            config: config.clone(),
            store,
            baselines: Arc::new(BaselineDir::for_scanning(config.storage.baselines.clone())),
            intel,
            browser: BrowserSlot::new(source),
            channels,
            renderer,
            policy,
            hook,
            full: Mutex::new(FullStorage::default()),
            last_prune: Mutex::new(None),
            metrics: metrics::Metrics::new(),
            reported: pages.iter().map(|p| (p.name.clone(), watch::Sender::new(None))).collect(),
        })
    }

    /// The last delivery attempt, closing the browser, and the run's summary.
    async fn finish(&self, counts: &Mutex<Summary>) -> Summary {
        // Pending alerts get one (more) attempt, whatever their schedule; bounded in time.
        if tokio::time::timeout(FINAL_DELIVERY, self.deliver(None, counts)).await.is_err() {
            tracing::warn!("final delivery attempt timed out; the rest stay queued for the next run");
        }
        self.browser.shutdown().await;
        let pending = self.pending().await;
        let mut summary = lock_or_recover(counts).clone();
        summary.alerts_pending = pending;
        tracing::info!(
            scans_ok = summary.scans_ok,
            scans_failed = summary.scans_failed,
            alerts_sent = summary.alerts_sent,
            alerts_pending = summary.alerts_pending,
            "watch stopped"
        );
        summary
    }
}

fn count(counts: &Mutex<Summary>, report: &PageReport) {
    let mut c = lock_or_recover(counts);
    match report.status {
        PageStatus::Ok => c.scans_ok += 1,
        PageStatus::Error => c.scans_failed += 1,
    }
}

/// Gives in-flight tasks [`SHUTDOWN_GRACE`] to finish, then abandons them. An abandoned scan
/// leaves nothing behind: a scan and its alerts are written in one transaction or not at all.
async fn drain(tasks: &mut tokio::task::JoinSet<()>) {
    if tasks.is_empty() {
        return;
    }
    tracing::info!(in_flight = tasks.len(), "waiting for in-flight scans to finish");
    let finished = tokio::time::timeout(SHUTDOWN_GRACE, async { while tasks.join_next().await.is_some() {} }).await;
    if finished.is_err() {
        tracing::warn!(abandoned = tasks.len(), "abandoning in-flight scans");
        tasks.abort_all();
        while tasks.join_next().await.is_some() {}
    }
}

/// Upper bound for one scan attempt (capture and analysis), whatever the page or the browser
/// does: the scan's one limit, [`scan::hard_limit`].
fn hard_limit(page: &PageConfig) -> Duration {
    scan::hard_limit(page)
}

impl Daemon {
    /// Scans `page` ([`Daemon::scan_with_retry`]) and counts it for `/metrics`.
    async fn scan(&self, page: &PageConfig) -> PageReport {
        let started = Instant::now();
        let report = {
            let _running = self.metrics.running();
            self.scan_with_retry(page).await
        };
        self.metrics.scanned(&page.name, report.status, started.elapsed());
        report
    }

    /// Scans one page: capture with a hard time limit; after a browser failure (crash, hang,
    /// timeout) check the browser, replace it when it does not answer, and retry once. The
    /// result is recorded together with the alerts it raises.
    async fn scan_with_retry(&self, page: &PageConfig) -> PageReport {
        let started_at = store::now_rfc3339();
        let opts = crate::scan::capture_options(page);
        let limit = hard_limit(page);
        let mut result = Err(String::new());
        let mut deadline = tokio::time::Instant::now() + limit;
        for attempt in 1..=2 {
            deadline = tokio::time::Instant::now() + limit;
            tracing::info!(page = %page.name, url = %page.url, attempt, "scanning");
            let (generation, browser) = match self.browser.get().await {
                Ok(b) => b,
                Err(e) => {
                    tracing::warn!(page = %page.name, attempt, "cannot start (connect to) Chromium: {e}");
                    result = Err(e.to_string());
                    continue;
                }
            };
            // A browser that dies mid-scan would otherwise only show as CDP timeouts, much later.
            let died = async {
                loop {
                    tokio::time::sleep(LIVENESS_CHECK).await;
                    if !browser.is_running() {
                        return;
                    }
                }
            };
            let capture = async {
                tokio::select! {
                    r = tokio::time::timeout_at(deadline, scan::catch_panic(browser.capture(&page.url, &opts))) => r,
                    _ = died => Ok(Ok(Err(CaptureError::Browser {
                        url: page.url.clone(),
                        reason: browser.gone(),
                    }))),
                }
            };
            let err = match capture.await {
                // A panic is a bug, not a browser failure: fail this page's scan, no retry.
                Ok(Err(panicked)) => {
                    result = Err(panicked.to_string());
                    break;
                }
                Ok(Ok(Ok(snapshot))) => {
                    result = Ok(snapshot);
                    break;
                }
                // The page itself failed (refused, DNS, HTTP error): the browser is fine and a
                // retry would only say the same.
                Ok(Ok(Err(e @ (CaptureError::Load { .. } | CaptureError::HttpStatus { .. })))) => {
                    result = Err(e.to_string());
                    break;
                }
                Ok(Ok(Err(e))) => e.to_string(),
                Err(_) => format!(
                    "{}: scan did not finish within its hard limit of {} s (capture and analysis)",
                    page.url,
                    limit.as_secs()
                ),
            };
            tracing::warn!(page = %page.name, attempt, "scan failed: {err}");
            result = Err(err);
            if !browser.is_running() || !browser.responsive(HEALTH_CHECK).await {
                drop(browser);
                self.browser.discard(generation).await;
            }
        }
        let finished = scan::finish_scan(
            page,
            started_at,
            result,
            &self.store,
            &self.baselines,
            &self.intel,
            Some(self.hook.clone()),
            deadline,
        )
        .await;
        let report = finished.report;
        if report.status == PageStatus::Error {
            tracing::warn!(page = %page.name, "scan failed: {}", report.error.as_deref().unwrap_or("unknown error"));
        }
        match finished.storage_full {
            Some(error) => self.on_storage_full(page, error).await,
            None if report.scan_id.is_some() => {
                lock_or_recover(&self.full).alerted = false; // recorded again: the episode is over
                self.prune_if_due(false).await;
            }
            None => {}
        }
        report
    }

    /// A scan could not be recorded because the database or the disk is full. Once per
    /// episode: prune at once (which may free enough), then raise `storage_full` through the
    /// outbox; when even that write fails, the alert is kept in memory and sent directly by
    /// the delivery task (retried until the server accepts it), and logged either way.
    async fn on_storage_full(&self, page: &PageConfig, error: String) {
        tracing::error!(page = %page.name, "STORAGE FULL: {error}");
        if std::mem::replace(&mut lock_or_recover(&self.full).alerted, true) {
            return;
        }
        self.prune_if_due(true).await;
        let alert = crate::alert::Alert {
            kind: crate::model::AlertKind::StorageFull,
            page: Some(page.name.clone()),
            url: Some(page.url.clone()),
            raised_at: OffsetDateTime::now_utc().into(),
            error: Some(crate::text::cut_bytes(&error, 1000).to_string()),
            ..Default::default()
        };
        let (queued, policy) = (alert.clone(), self.policy.clone());
        let result = self
            .with_store("queueing a storage_full alert", move |s| {
                s.write("queueing a storage_full alert", |tx| outbox::queue(tx, &queued, &policy, queued.raised_at))
            })
            .await;
        if let Err(e) = result {
            tracing::error!("storage_full alert kept in memory and sent directly, the outbox cannot take it: {e}");
            let destinations: Vec<String> =
                self.policy.destinations_for(&alert).into_iter().map(str::to_string).collect();
            if !destinations.is_empty() {
                let mut full = lock_or_recover(&self.full);
                full.next += 1;
                let seq = full.next;
                full.unqueued.push((seq, alert, destinations));
            }
        }
        self.wake();
    }

    /// Prunes old script bodies (see [`scan::prune_store`]) at most every [`PRUNE_EVERY`], or
    /// now when `force`d. Failures are logged: the scans go on.
    async fn prune_if_due(&self, force: bool) {
        {
            let mut last = lock_or_recover(&self.last_prune);
            if !force && last.is_some_and(|t| t.elapsed() < PRUNE_EVERY) {
                return;
            }
            *last = Some(Instant::now());
        }
        if let Err(e) = scan::prune_store(&self.config, &self.store, &self.baselines).await {
            tracing::error!("could not prune the scan database: {e}");
        }
    }

    /// Browsers reported a violation of `page` not seen before: its next scan comes now.
    fn violation_reported(&self, page: &str) {
        if let Some(tx) = self.reported.get(page) {
            tx.send_replace(Some(Instant::now()));
        }
    }

    /// Wakes every delivery task: something may have been queued.
    fn wake(&self) {
        for channel in &self.channels {
            channel.wake.notify_one();
        }
    }

    /// Sends the `storage_full` alerts that could not be queued to `channel`, directly; those
    /// it does not accept stay for its next round.
    async fn deliver_unqueued(&self, channel: &Channel, counts: &Mutex<Summary>) {
        let mine: Vec<(u64, Alert)> = lock_or_recover(&self.full)
            .unqueued
            .iter()
            .filter(|(_, _, left)| left.iter().any(|d| d == channel.destination()))
            .map(|(seq, alert, _)| (*seq, alert.clone()))
            .collect();
        for (seq, alert) in mine {
            let key = format!("full.{}", alert.raised_at.to_string().replace(|c: char| !c.is_ascii_digit(), ""));
            match self.send(channel, &alert, &key).await {
                Ok(()) => {
                    let mut full = lock_or_recover(&self.full);
                    for (s, _, left) in full.unqueued.iter_mut() {
                        if *s == seq {
                            left.retain(|d| d != channel.destination());
                        }
                    }
                    full.unqueued.retain(|(_, _, left)| !left.is_empty());
                    drop(full);
                    lock_or_recover(counts).alerts_sent += 1;
                    tracing::info!(kind = %alert.kind, destination = channel.destination(), target = channel.target(), "unqueued alert delivered");
                }
                Err(f) => {
                    tracing::warn!(kind = %alert.kind, destination = channel.destination(), "unqueued alert not delivered, kept in memory: {}", f.error);
                }
            }
        }
    }

    /// Delivers the alerts queued for channel `index` until cancelled: due ones now, then
    /// sleeps until the next is due or something new is queued.
    async fn deliver_loop(self: Arc<Self>, index: usize, shutdown: CancellationToken, counts: Arc<Mutex<Summary>>) {
        let channel = &self.channels[index];
        loop {
            // A round is not cut short by shutdown (an accepted alert must get marked): it ends
            // by itself, within one request's time limit once a destination is found down.
            self.deliver_to(channel, Some(OffsetDateTime::now_utc()), &counts).await;
            let destination = channel.destination().to_string();
            let next =
                self.with_store("reading the outbox", move |s| outbox::next_due(s, &destination)).await.ok().flatten();
            let wait = match next {
                Some(at) => {
                    let secs = (at - OffsetDateTime::now_utc()).as_seconds_f64().max(0.0);
                    Duration::from_secs_f64(secs).min(DELIVERY_POLL)
                }
                None => DELIVERY_POLL,
            };
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = channel.wake.notified() => {}
                _ = tokio::time::sleep(wait) => {}
            }
        }
    }

    /// One delivery round on every channel at once: each alert due at `now` (all undelivered
    /// ones when `None`) gets one attempt per destination that has not accepted it.
    async fn deliver(&self, now: Option<OffsetDateTime>, counts: &Mutex<Summary>) {
        futures::future::join_all(self.channels.iter().map(|c| self.deliver_to(c, now, counts))).await;
    }

    /// One delivery round to one destination. An alert is marked delivered only after the
    /// destination accepted it. When an attempt shows a webhook is down, its other due alerts
    /// wait for the same retry instead of each timing out on it now.
    async fn deliver_to(&self, channel: &Channel, now: Option<OffsetDateTime>, counts: &Mutex<Summary>) {
        self.deliver_unqueued(channel, counts).await;
        let destination = channel.destination().to_string();
        let due = {
            let destination = destination.clone();
            match self
                .with_store("reading the outbox", move |s| outbox::due(s, &destination, now, DELIVERY_BATCH))
                .await
            {
                Ok(due) => due,
                Err(e) => {
                    tracing::error!("{e}");
                    return;
                }
            }
        };
        for queued in due {
            let (id, kind) = (queued.id, queued.alert.kind);
            let page = queued.alert.page.clone().unwrap_or_default();
            let key = format!("{}.{}", queued.id, queued.created_at.replace(|c: char| !c.is_ascii_digit(), ""));
            let sent = match queued.alert.for_destination(channel.route.min_severity) {
                Some(alert) => self.send(channel, &alert, &key).await,
                None => {
                    // Its min_severity was raised since the alert was queued: nothing left for it.
                    tracing::info!(id, %kind, destination, "nothing in this alert reaches the destination's min_severity any more; not sent");
                    Ok(())
                }
            };
            match sent {
                Ok(()) => {
                    let d = destination.clone();
                    let marked = self
                        .with_store("marking an alert sent", move |s| {
                            outbox::mark_sent(s, id, &d, OffsetDateTime::now_utc())
                        })
                        .await;
                    if let Err(e) = marked {
                        tracing::error!(id, destination, "alert delivered but not marked sent: {e}");
                    }
                    lock_or_recover(counts).alerts_sent += 1;
                    tracing::info!(id, %kind, page, destination, target = channel.target(), "alert delivered");
                }
                Err(Failure { error, down }) => {
                    let policy = self.policy.clone();
                    let attempts = queued.attempts + 1;
                    let retry_in = humantime::format_duration(policy.backoff(attempts)).to_string();
                    let logged = error.clone();
                    let d = destination.clone();
                    let webhook = matches!(channel.sender, Sender::Webhook(_));
                    let marked = self
                        .with_store("recording a failed delivery", move |s| {
                            let next = outbox::mark_failed(s, id, &d, &error, &policy, OffsetDateTime::now_utc())?;
                            if down && webhook {
                                outbox::defer(s, &d, next, &error)?;
                            }
                            Ok(())
                        })
                        .await;
                    if let Err(e) = marked {
                        tracing::error!(id, destination, "{e}");
                    }
                    tracing::warn!(id, %kind, page, destination, attempts, retry_in, "alert not delivered, kept in the outbox: {logged}");
                    if down && webhook {
                        break;
                    }
                }
            }
        }
    }

    /// One attempt to deliver `alert` (as `channel` sees it) to `channel`; `key` names this
    /// alert across retries (the Message-ID, the webhook id of alerts queued without `uid`).
    async fn send(&self, channel: &Channel, alert: &Alert, key: &str) -> Result<(), Failure> {
        let refused = |error: String| Failure { error, down: false };
        match &channel.sender {
            Sender::Email(mailer) => {
                let pictures = self.pictures(alert).await;
                let attached: Vec<(&str, &[u8])> = pictures.iter().map(|(n, p)| (*n, p.as_slice())).collect();
                let email = self.renderer.render(alert).map_err(|e| refused(e.to_string()))?;
                let message = mailer.message(&email, key, &attached).map_err(|e| refused(e.to_string()))?;
                mailer.send(message).await.map_err(|e| Failure { error: e.to_string(), down: true })
            }
            Sender::Webhook(hook) => {
                let view = self.renderer.view(alert);
                let summary = self.renderer.summary(alert).map_err(|e| refused(e.to_string()))?;
                let id = if alert.uid.is_empty() { key } else { alert.uid.as_str() };
                let body = hook.body(alert, &view, &summary, id);
                hook.send(body, id, alert.kind.as_str())
                    .await
                    .map_err(|e| Failure { down: e.destination_down(), error: e.to_string() })
            }
        }
    }

    /// Watch the watcher: raises `monitor_blind` when no page scanned successfully within
    /// `stale_after` (default: three intervals, plus the scan's own time limit).
    async fn watchdog(self: Arc<Self>, pages: Vec<PageConfig>, since: OffsetDateTime, shutdown: CancellationToken) {
        let thresholds: Vec<(String, Duration)> = pages
            .iter()
            .map(|p| (p.name.clone(), self.config.alerts.stale_after.unwrap_or(p.interval * 3 + hard_limit(p))))
            .collect();
        let shortest = thresholds.iter().map(|(_, t)| *t).min().unwrap_or(DELIVERY_POLL);
        let tick = (shortest / 4).clamp(Duration::from_secs(1), Duration::from_secs(60));
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tokio::time::sleep(tick) => {}
            }
            let (thresholds, policy) = (thresholds.clone(), self.policy.clone());
            let raised = self
                .with_store("checking for stale pages", move |s| {
                    outbox::check_blind(s, &thresholds, since, &policy, OffsetDateTime::now_utc())
                })
                .await;
            match raised {
                Ok(Some(_)) => self.wake(),
                Ok(None) => {}
                Err(e) => tracing::error!("{e}"),
            }
        }
    }

    async fn pending(&self) -> usize {
        self.with_store("reading the outbox", |s| s.undelivered()).await.map_or(0, |n| n as usize)
    }

    /// The pictures attached to an alert: the payment page as the scan saw it
    /// (`payment-page.png`) and, when the approved page looked different, both side by side
    /// (`approved-vs-current.png`: a fake overlay or a replaced form is obvious). A picture
    /// pruned since, or a baseline without one, is no reason to hold the alert back: it is
    /// sent with what there is.
    async fn pictures(&self, alert: &crate::alert::Alert) -> Vec<(&'static str, Vec<u8>)> {
        let Some(key) = alert.screenshot.clone() else { return Vec::new() };
        let current = {
            let key = key.clone();
            match self.with_store("reading a screenshot", move |s| s.screenshot(&key)).await {
                Ok(Some(png)) => png,
                _ => return Vec::new(),
            }
        };
        let (baselines, page) = (self.baselines.clone(), alert.page.clone().unwrap_or_default());
        let composed = tokio::task::spawn_blocking(move || {
            let approved = baselines.load(&page).ok().and_then(|b| b.screenshot).filter(|k| *k != key);
            let both = approved
                .and_then(|k| baselines.picture(&k))
                .filter(|approved| !crate::inventory::picture::same_picture(approved, &current))
                .and_then(|approved| crate::inventory::picture::side_by_side(&approved, &current));
            (current, both)
        });
        match composed.await {
            Ok((current, Some(both))) => vec![("payment-page.png", current), ("approved-vs-current.png", both)],
            Ok((current, None)) => vec![("payment-page.png", current)],
            Err(_) => Vec::new(),
        }
    }

    /// Runs `f` on the store on the blocking pool; `action` names it if the task dies.
    async fn with_store<T: Send + 'static>(
        &self,
        action: &'static str,
        f: impl FnOnce(&mut Store) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let store = self.store.clone();
        tokio::task::spawn_blocking(move || f(&mut lock_or_recover(&store))).await.unwrap_or_else(|e| {
            Err(StoreError::Corrupt { path: PathBuf::new(), what: action.to_string(), detail: e.to_string() })
        })
    }
}

// ---------------------------------------------------------------------------------------------
// the scheduler
// ---------------------------------------------------------------------------------------------

/// Runs `scan` for each page every `interval` until `shutdown` is cancelled, as many at a
/// time as `admission` lets in. With `jitter`, the first scan of each page comes after a random
/// delay of up to a quarter of its interval (at most a minute) and each next one after 90–110 %
/// of the interval, so that pages drift apart instead of scanning in lockstep. A scan that
/// overruns its interval is followed directly by the next. On shutdown no new scan starts and
/// the ones in flight get [`SHUTDOWN_GRACE`] before they are abandoned.
///
/// `early` holds, per page name, what brings its next scan forward: the collector's word that
/// real browsers reported a new violation (the instant of the report). The next scan then
/// starts at once (at the earliest [`EARLY_GAP`] after the previous one started), unless a scan
/// that started after the report has run already. At most one early scan follows each regular
/// one, so reports, which anyone can send, can at most double a page's scans.
pub async fn schedule<F, Fut>(
    pages: Vec<PageConfig>,
    admission: Arc<admission::Admission>,
    jitter: bool,
    early: HashMap<String, watch::Receiver<Option<Instant>>>,
    shutdown: CancellationToken,
    scan: F,
) where
    F: Fn(PageConfig) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let mut loops = tokio::task::JoinSet::new();
    // The scans run in their own set, so that a shutdown can stop the waiting loops at once and
    // still give the scans in flight their grace period.
    let scans = Arc::new(tokio::sync::Mutex::new(tokio::task::JoinSet::new()));
    for page in pages {
        let (admission, shutdown, scan, scans) = (admission.clone(), shutdown.clone(), scan.clone(), scans.clone());
        let mut early = early.get(&page.name).cloned();
        loops.spawn(async move {
            let first = if jitter {
                fraction(page.interval / 4, 0.0, 1.0).min(Duration::from_secs(60))
            } else {
                Duration::ZERO
            };
            let mut next = Instant::now() + first;
            // When the last scan started, whether the next one was brought forward, and whether
            // one may be (not twice in a row).
            let (mut last_started, mut brought_forward, mut may_bring_forward) = (None::<Instant>, false, true);
            loop {
                tokio::select! {
                    _ = shutdown.cancelled() => return,
                    _ = tokio::time::sleep_until(next) => {}
                    reported = reported(&mut early), if may_bring_forward && !brought_forward => {
                        if !last_started.is_some_and(|s| s >= reported) {
                            let earliest = last_started.map_or(Instant::now(), |s| s + EARLY_GAP);
                            if earliest < next {
                                tracing::info!(page = %page.name, "browsers reported a new violation: scanning the page now");
                                (next, brought_forward) = (earliest.max(Instant::now()), true);
                            }
                        }
                        continue;
                    }
                }
                may_bring_forward = !brought_forward;
                brought_forward = false;
                let permit = tokio::select! {
                    _ = shutdown.cancelled() => return,
                    p = admission.admit() => match p { Some(p) => p, None => return },
                };
                let started = Instant::now();
                last_started = Some(started);
                let (done_tx, done_rx) = tokio::sync::oneshot::channel::<()>();
                {
                    // Shutdown takes the set under this lock after cancelling: checking here, under
                    // the same lock, means a scan is either in the set it drains or never started.
                    let mut set = scans.lock().await;
                    if shutdown.is_cancelled() {
                        return;
                    }
                    let work = scan(page.clone());
                    set.spawn(async move {
                        work.await;
                        drop(permit);
                        let _ = done_tx.send(());
                    });
                }
                // Wait for this page's scan (or its abandonment) before scheduling the next.
                let _ = done_rx.await;
                let interval = if jitter { fraction(page.interval, 0.9, 1.1) } else { page.interval };
                next = (started + interval).max(Instant::now());
            }
        });
    }
    shutdown.cancelled().await;
    let mut scans = std::mem::take(&mut *scans.lock().await);
    // Loops blocked on their own scan end when it does (or is aborted below).
    drain(&mut scans).await;
    while loops.join_next().await.is_some() {}
}

/// The instant of the next report for a page (never, without a sender).
async fn reported(early: &mut Option<watch::Receiver<Option<Instant>>>) -> Instant {
    while let Some(rx) = early {
        if rx.changed().await.is_err() {
            break;
        }
        if let Some(at) = *rx.borrow_and_update() {
            return at;
        }
    }
    // No sender (or it is gone): nothing will bring the scan forward.
    *early = None;
    std::future::pending().await
}

/// A random duration between `lo` and `hi` times `d`.
fn fraction(d: Duration, lo: f64, hi: f64) -> Duration {
    d.mul_f64(lo + fastrand::f64() * (hi - lo))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn page(name: &str, interval: u64) -> PageConfig {
        PageConfig { interval: Duration::from_secs(interval), ..PageConfig::new(name, "http://127.0.0.1/") }
    }

    /// Paused tokio time: the scheduler runs an hour in microseconds.
    #[tokio::test(start_paused = true)]
    async fn pages_scan_on_their_own_interval_with_bounded_concurrency() {
        let log: Arc<Mutex<Vec<(String, Instant)>>> = Arc::default();
        let running = Arc::new(AtomicUsize::new(0));
        let peak = Arc::new(AtomicUsize::new(0));
        let shutdown = CancellationToken::new();
        let start = Instant::now();
        let pages = vec![page("a", 60), page("b", 600), page("c", 60)];
        let task = {
            let (log, running, peak) = (log.clone(), running.clone(), peak.clone());
            tokio::spawn(schedule(
                pages,
                admission::Admission::new(crate::config::MaxPages::Fixed(2), false),
                true,
                HashMap::new(),
                shutdown.clone(),
                move |p: PageConfig| {
                    let (log, running, peak) = (log.clone(), running.clone(), peak.clone());
                    async move {
                        let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                        peak.fetch_max(now, Ordering::SeqCst);
                        log.lock().unwrap().push((p.name.clone(), Instant::now()));
                        // A scan takes 20 s of (virtual) time.
                        tokio::time::sleep(Duration::from_secs(20)).await;
                        running.fetch_sub(1, Ordering::SeqCst);
                    }
                },
            ))
        };
        tokio::time::sleep(Duration::from_secs(3600)).await;
        shutdown.cancel();
        tokio::time::timeout(Duration::from_secs(24 * 3600), task)
            .await
            .expect("the scheduler returns after shutdown")
            .unwrap();
        let log = log.lock().unwrap().clone();
        let count = |n: &str| log.iter().filter(|(p, _)| p == n).count();
        // Every ~60 s (±10 % jitter) for an hour, every ~600 s for b.
        assert!((54..=67).contains(&count("a")), "a scanned {} times", count("a"));
        assert!((54..=67).contains(&count("c")), "c scanned {} times", count("c"));
        assert!((6..=8).contains(&count("b")), "b scanned {} times", count("b"));
        assert!(peak.load(Ordering::SeqCst) <= 2, "at most max_pages scans at once");
        // First scans are spread over the first quarter interval (plus a wait for a free slot),
        // not all at t = 0.
        let firsts: Vec<Duration> =
            ["a", "b", "c"].iter().map(|n| log.iter().find(|(p, _)| p == n).unwrap().1 - start).collect();
        assert!(firsts.iter().all(|d| *d <= Duration::from_secs(60 + 20)), "{firsts:?}");
        assert!(firsts.iter().any(|d| !d.is_zero()), "{firsts:?}");
        // Consecutive scans of one page start 54–66 s apart, plus up to one scan's 20 s when
        // both slots are busy; never overlapping.
        let a: Vec<Instant> = log.iter().filter(|(p, _)| p == "a").map(|(_, t)| *t).collect();
        for w in a.windows(2) {
            let gap = w[1] - w[0];
            assert!(gap >= Duration::from_secs(54) && gap <= Duration::from_secs(86), "{gap:?}");
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_reported_violation_brings_the_next_scan_forward_once_per_regular_scan() {
        let log: Arc<Mutex<Vec<Instant>>> = Arc::default();
        let shutdown = CancellationToken::new();
        let reported = watch::Sender::new(None);
        let start = Instant::now();
        let task = {
            let log = log.clone();
            tokio::spawn(schedule(
                vec![page("a", 600)],
                admission::Admission::new(crate::config::MaxPages::Fixed(4), false),
                false,
                HashMap::from([("a".to_string(), reported.subscribe())]),
                shutdown.clone(),
                move |_| {
                    let log = log.clone();
                    async move {
                        log.lock().unwrap().push(Instant::now());
                        tokio::time::sleep(Duration::from_secs(10)).await;
                    }
                },
            ))
        };
        let at = |secs: u64| start + Duration::from_secs(secs);
        let report_at = |secs: u64| {
            let reported = reported.clone();
            async move {
                tokio::time::sleep_until(at(secs)).await;
                reported.send_replace(Some(Instant::now()));
            }
        };
        // t = 0 the first scan (to t = 10); a report at t = 100 brings the next one to t = 100
        // instead of t = 600; a report at t = 200 does not bring another one (two in a row),
        // nor is it kept: the regular scan at t = 700 comes after it. A report during that scan
        // (t = 705) brings the next one to its end, t = 710.
        report_at(100).await;
        report_at(200).await;
        report_at(705).await;
        tokio::time::sleep_until(at(1000)).await;
        shutdown.cancel();
        tokio::time::timeout(Duration::from_secs(24 * 3600), task).await.unwrap().unwrap();
        let starts: Vec<u64> = log.lock().unwrap().iter().map(|t| (*t - start).as_secs()).collect();
        assert_eq!(starts, [0, 100, 700, 710], "{starts:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn shutdown_starts_no_new_scan_and_lets_in_flight_ones_finish() {
        let started = Arc::new(AtomicUsize::new(0));
        let finished = Arc::new(AtomicUsize::new(0));
        let shutdown = CancellationToken::new();
        let task = {
            let (started, finished) = (started.clone(), finished.clone());
            tokio::spawn(schedule(
                vec![page("a", 10)],
                admission::Admission::new(crate::config::MaxPages::Fixed(4), false),
                false,
                HashMap::new(),
                shutdown.clone(),
                move |_| {
                    let (started, finished) = (started.clone(), finished.clone());
                    async move {
                        started.fetch_add(1, Ordering::SeqCst);
                        tokio::time::sleep(Duration::from_secs(5)).await;
                        finished.fetch_add(1, Ordering::SeqCst);
                    }
                },
            ))
        };
        // t = 0 first scan, t = 10 second scan; cancel at t = 12 while it runs.
        tokio::time::sleep(Duration::from_secs(12)).await;
        shutdown.cancel();
        tokio::time::timeout(Duration::from_secs(24 * 3600), task)
            .await
            .expect("the scheduler returns after shutdown")
            .unwrap();
        assert_eq!(started.load(Ordering::SeqCst), 2);
        assert_eq!(finished.load(Ordering::SeqCst), 2, "the in-flight scan finished");
    }

    #[tokio::test(start_paused = true)]
    async fn a_hung_scan_is_abandoned_after_the_grace_period() {
        let shutdown = CancellationToken::new();
        let task = tokio::spawn(schedule(
            vec![page("a", 10)],
            admission::Admission::new(crate::config::MaxPages::Fixed(4), false),
            false,
            HashMap::new(),
            shutdown.clone(),
            |_| async {
                std::future::pending::<()>().await;
            },
        ));
        tokio::time::sleep(Duration::from_secs(1)).await;
        let cancelled_at = Instant::now();
        shutdown.cancel();
        tokio::time::timeout(Duration::from_secs(24 * 3600), task)
            .await
            .expect("the scheduler returns after shutdown")
            .unwrap();
        assert_eq!(Instant::now() - cancelled_at, SHUTDOWN_GRACE);
    }

    #[test]
    fn second_lock_is_refused_and_released_on_drop() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("state/skimwatch.db");
        let first = DaemonLock::acquire(&db).unwrap();
        assert_eq!(first.path(), dir.path().join("state/skimwatch.db.lock"));
        let err = DaemonLock::acquire(&db).err().expect("second daemon refused");
        let msg = err.to_string();
        assert!(msg.contains(&format!("pid {}", std::process::id())) && msg.contains("already watching"), "{msg}");
        assert_eq!(DaemonLock::holder_of(&db), Some(format!("pid {}", std::process::id())));
        drop(first);
        assert_eq!(DaemonLock::holder_of(&db), None);
        let _again = DaemonLock::acquire(&db).unwrap();
    }
}
