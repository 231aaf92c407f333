//! The last step of a page scan: the scan goes into the store, together with what the
//! caller's [`RecordHook`] writes in the same transaction (the watch daemon's alerts), and
//! the page's report is completed with the stored scan's id and each finding's history.

use super::evaluate::Evaluated;
use super::{report, Finished, PageError, RecordHook};
use crate::config::PageConfig;
use crate::store::{FindingHistory, NewScan, ScanOutcome, Store, StoreError};
use std::sync::{Arc, Mutex};

/// When the scan ran (RFC 3339 UTC).
pub(super) struct Times {
    pub started_at: String,
    pub finished_at: String,
}

/// Records a scan that failed with `message` and returns its error report.
pub(super) async fn record_failure(
    page: &PageConfig,
    times: Times,
    message: String,
    store: &Arc<Mutex<Store>>,
    hook: Option<RecordHook>,
) -> Finished {
    tracing::warn!(page = %page.name, "scan failed: {message}");
    let (name, url, msg) = (page.name.clone(), page.url.clone(), message.clone());
    let stored = blocking(store, move |store| {
        let scan = NewScan {
            page: &name,
            url: &url,
            started_at: times.started_at,
            finished_at: times.finished_at,
            outcome: ScanOutcome::Error { message: msg },
        };
        store.record_scan_with(&scan, |tx, id| run_hook(hook.as_ref(), tx, id, &scan)).map(|(id, ())| id)
    })
    .await;
    let mut report = report::error_report(page, message);
    let mut storage_full = None;
    match stored {
        Ok(id) => report.scan_id = Some(id),
        Err(e) => {
            tracing::error!(page = %page.name, "could not store the failed scan: {e}");
            storage_full = e.is_storage_full().then(|| e.to_string());
        }
    }
    Finished { report, storage_full }
}

/// Records a successful scan and returns its report, with the finding history filled in; a
/// scan that cannot be stored is reported as failed.
pub(super) async fn record_success(
    page: &PageConfig,
    times: Times,
    ev: Evaluated,
    store: &Arc<Mutex<Store>>,
    hook: Option<RecordHook>,
) -> Finished {
    let mut report = report::ok_report(page, &ev);
    let name = page.name.clone();
    let url = page.url.clone();
    let elapsed_ms = ev.elapsed_ms;
    let mut ev = ev;
    let stored = blocking(store, move |store| {
        same_picture_as_before(store, &name, &mut ev.screenshot)?;
        let scan = NewScan {
            page: &name,
            url: &url,
            started_at: times.started_at,
            finished_at: times.finished_at,
            outcome: ScanOutcome::Ok {
                inventory: &ev.inventory,
                findings: &ev.findings,
                elapsed_ms,
                screenshot: ev.screenshot.as_ref().map(|(key, png)| (key.as_str(), png.as_slice())),
            },
        };
        let (id, ()) = store.record_scan_with(&scan, |tx, id| run_hook(hook.as_ref(), tx, id, &scan))?;
        // Lifecycle of each finding: first/last seen and how many scans saw it.
        let history = ev.findings.iter().map(|f| store.finding_history(&name, &f.id)).collect::<Result<Vec<_>, _>>()?;
        Ok::<(i64, Vec<Option<FindingHistory>>), StoreError>((id, history))
    })
    .await;
    let mut storage_full = None;
    match stored {
        Ok((id, history)) => report::set_stored(&mut report, id, history),
        Err(e) => {
            // Never a silent gap: the scan is an error, and the error names the file and the fix.
            tracing::error!(page = %page.name, "scan not stored: {e}");
            storage_full = e.is_storage_full().then(|| e.to_string());
            report::set_not_stored(&mut report, &e);
        }
    }
    tracing::info!(page = %page.name, scripts = report.scripts.len(), findings = report.findings.len(), ms = elapsed_ms, "scanned");
    Finished { report, storage_full }
}

/// A screenshot that shows the same page as the page's latest stored one (only its data
/// differs: a cart, a date; see [`crate::inventory::picture::same_picture`]) is recorded as
/// that one, so a page whose content changes per load does not add a picture per scan.
fn same_picture_as_before(
    store: &Store,
    page: &str,
    screenshot: &mut Option<(String, Vec<u8>)>,
) -> Result<(), StoreError> {
    let Some((key, png)) = screenshot.as_ref() else { return Ok(()) };
    if let Some((_, before, before_png)) = store.latest_screenshot(page)? {
        if before != *key && crate::inventory::picture::same_picture(&before_png, png) {
            *screenshot = Some((before, before_png));
        }
    }
    Ok(())
}

fn run_hook(
    hook: Option<&RecordHook>,
    tx: &crate::store::ScanTx,
    scan_id: i64,
    scan: &NewScan,
) -> Result<(), StoreError> {
    hook.map_or(Ok(()), |h| h(tx, scan_id, scan))
}

/// Runs `f` on the locked store on the blocking pool.
async fn blocking<T: Send + 'static>(
    store: &Arc<Mutex<Store>>,
    f: impl FnOnce(&mut Store) -> Result<T, StoreError> + Send + 'static,
) -> Result<T, PageError> {
    let store = store.clone();
    let result = tokio::task::spawn_blocking(move || f(&mut crate::model::lock_or_recover(&store))).await?;
    Ok(result?)
}
