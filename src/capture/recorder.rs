//! The recorder: one task per capture folds every CDP event into the shared [`Observed`] and
//! wakes whoever waits for the page (the load event, "quiet before the shopper", "settled").
//! The task is aborted when the recorder is dropped, however the capture ends.

use super::events::{listen, Ev, Observed};
use super::stealth::Own;
use super::{CaptureError, BEFORE_INTERACTION_MAX, QUIET};
use crate::model::lock_or_recover;
use chromiumoxide::Page;
use futures::stream::{BoxStream, StreamExt};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};
use tokio::sync::Notify;
use tokio_util::task::AbortOnDropHandle;

pub(super) struct Recorder {
    observed: Arc<Mutex<Observed>>,
    /// Notified after every event.
    activity: Arc<Notify>,
    _collector: AbortOnDropHandle<()>,
}

impl Recorder {
    /// Starts listening, to the tab and to `others` (events of its popups and workers). Call
    /// before enabling any CDP domain, so no event is missed.
    pub(super) async fn start(
        page: &Page,
        own: &Own,
        others: Option<BoxStream<'static, Ev>>,
    ) -> chromiumoxide::Result<Recorder> {
        let mut events = listen(page).await?;
        if let Some(others) = others {
            events = futures::stream::select(events, others).boxed();
        }
        let observed = Arc::new(Mutex::new(Observed { own: Some(own.clone()), ..Observed::default() }));
        let activity = Arc::new(Notify::new());
        let collector = {
            let observed = observed.clone();
            let activity = activity.clone();
            tokio::spawn(async move {
                while let Some(ev) = events.next().await {
                    lock_or_recover(&observed).apply(ev);
                    activity.notify_waiters();
                }
            })
        };
        Ok(Recorder { observed, activity, _collector: AbortOnDropHandle::new(collector) })
    }

    pub(super) fn lock(&self) -> MutexGuard<'_, Observed> {
        lock_or_recover(&self.observed)
    }

    /// Everything observed so far; later events go into a fresh record (that knows our own
    /// code and the main frame), read by a later `take` or by nobody.
    pub(super) fn take(&self) -> Observed {
        let mut o = self.lock();
        let fresh = Observed { own: o.own.clone(), main_frame: o.main_frame.clone(), ..Observed::default() };
        std::mem::replace(&mut *o, fresh)
    }

    /// Waits for the `load` event until `deadline`.
    pub(super) async fn wait_for_load(
        &self,
        url: &str,
        deadline: Instant,
        timeout: Duration,
    ) -> Result<(), CaptureError> {
        loop {
            let notified = self.activity.notified();
            if self.lock().load_fired {
                return Ok(());
            }
            if tokio::time::timeout_at(deadline.into(), notified).await.is_err() {
                return Err(CaptureError::Timeout {
                    url: url.to_string(),
                    secs: timeout.as_secs_f64(),
                    stage: "waiting for the load event",
                });
            }
        }
    }

    /// Before the shopper starts: waits until the page is quiet (nothing new for [`QUIET`],
    /// nothing in flight), at most [`BEFORE_INTERACTION_MAX`] after `loaded`.
    pub(super) async fn wait_until_ready(&self, loaded: Instant) {
        let ready_by = loaded + BEFORE_INTERACTION_MAX;
        loop {
            let notified = self.activity.notified();
            let now = Instant::now();
            let (quiet_since, idle) = self.quiet_since(loaded);
            if now >= ready_by || (idle && now >= quiet_since + QUIET) {
                break;
            }
            let wake = (quiet_since + QUIET).max(now + Duration::from_millis(20)).min(ready_by);
            let _ = tokio::time::timeout_at(wake.into(), notified).await;
        }
    }

    /// Settles: waits at least until `min_until`, then until quiet (nothing new, nothing in
    /// flight), but never past `max_until`.
    pub(super) async fn settle(&self, url: &str, loaded: Instant, min_until: Instant, max_until: Instant) {
        self.settle_quiet_for(url, loaded, min_until, max_until, QUIET).await
    }

    /// [`Recorder::settle`] with another quiet window: after the page is gone, only requests
    /// already in flight can still show (and in-flight requests keep it waiting anyway).
    pub(super) async fn settle_quiet_for(
        &self,
        url: &str,
        loaded: Instant,
        min_until: Instant,
        max_until: Instant,
        quiet: Duration,
    ) {
        loop {
            let notified = self.activity.notified();
            let now = Instant::now();
            if now >= max_until {
                let o = self.lock();
                tracing::debug!(%url, in_flight = ?o.in_flight.values().collect::<Vec<_>>(), "settle: page never went quiet");
                break;
            }
            let (quiet_since, idle) = self.quiet_since(loaded);
            let quiet_at = quiet_since + quiet;
            if now >= min_until && now >= quiet_at && idle {
                break;
            }
            // Wake on the next event or when the next condition can become true.
            let wake =
                [min_until.max(quiet_at), max_until].into_iter().filter(|t| *t > now).min().unwrap_or(now + quiet);
            let _ = tokio::time::timeout_at(wake.into(), notified).await;
        }
    }

    /// Notified after every event.
    pub(super) fn activity(&self) -> &Notify {
        &self.activity
    }

    /// Time of the last event (`loaded` if none), and whether no request is in flight.
    pub(super) fn quiet_since(&self, loaded: Instant) -> (Instant, bool) {
        let o = self.lock();
        (o.last_activity.unwrap_or(loaded), o.in_flight.is_empty())
    }
}
