//! Guard: what a scanned page may not do to the monitor's browser, and the cleanup that runs
//! however a capture ends.
//!
//! A hostile page can stall a headless browser with JavaScript dialogs (`for(;;) alert(1)`
//! blocks its main thread until someone answers), write files with downloads, or navigate a
//! frame to `file:`/`chrome:` URLs. [`Guard`] listens from before navigation: every dialog is
//! dismissed the moment it opens, downloads are denied for the capture's browser context, and
//! navigations to non-web URLs (which Chromium itself refuses for web content) are recorded.
//! What it saw goes into the snapshot as [`Guarded`], bounded, with page text cut to one line.
//!
//! [`Cleanup`] closes the tab and disposes the browser context when dropped, so a capture that
//! is cancelled by a time limit, or unwinds from a panic, does not leave a tab running.

use super::events::Observed;
use crate::model::{lock_or_recover, Guarded, PageDialog, PageDownload, RefusedNavigation};
use chromiumoxide::browser::Browser;
use chromiumoxide::cdp::browser_protocol::browser::{
    BrowserContextId, EventDownloadWillBegin, SetDownloadBehaviorBehavior, SetDownloadBehaviorParams,
};
use chromiumoxide::cdp::browser_protocol::log::{EnableParams as LogEnable, EventEntryAdded};
use chromiumoxide::cdp::browser_protocol::page::{
    EventFrameRequestedNavigation, EventJavascriptDialogOpening, HandleJavaScriptDialogParams,
};
use chromiumoxide::cdp::browser_protocol::target::{CloseTargetParams, DisposeBrowserContextParams, TargetId};
use chromiumoxide::Page;
use futures::stream::StreamExt;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio_util::task::AbortOnDropHandle;

/// Dialogs, downloads and refused navigations listed at most (each); dialogs are still counted.
const MAX_LISTED: usize = 20;
/// Longest dialog message kept (characters, one line).
const MAX_MESSAGE_CHARS: usize = 200;
/// Longest URL or file name kept (characters).
const MAX_URL_CHARS: usize = 300;
/// How long one cleanup call may take.
const CLEANUP_CALL: Duration = Duration::from_secs(5);

/// What Chromium logs when web content asks for a URL it may not load.
const REFUSED_LOG_PREFIXES: [&str; 3] =
    ["Not allowed to load local resource: ", "Not allowed to navigate top frame to ", "Not allowed to navigate to "];

#[derive(Default)]
struct State {
    guarded: Guarded,
    /// Downloads of the whole browser context, with the frame that started them (the
    /// context's events are browser-wide; the capture keeps those of its own frames).
    downloads: Vec<(String, PageDownload)>,
}

/// The listeners of one capture; they stop when it is dropped.
pub(super) struct Guard {
    state: Arc<Mutex<State>>,
    target: String,
    _tasks: Vec<AbortOnDropHandle<()>>,
}

impl Guard {
    /// Starts guarding `page` (a fresh tab of the browser context `ctx`). Call before
    /// navigating.
    pub(super) async fn start(browser: &Browser, page: &Page, ctx: BrowserContextId) -> chromiumoxide::Result<Guard> {
        let state = Arc::new(Mutex::new(State::default()));
        let target = page.target_id().inner().clone();
        let mut tasks = Vec::new();

        let mut dialogs = page.event_listener::<EventJavascriptDialogOpening>().await?;
        let (p, s) = (page.clone(), state.clone());
        tasks.push(AbortOnDropHandle::new(tokio::spawn(async move {
            while let Some(d) = dialogs.next().await {
                note_dialog(&mut lock_or_recover(&s).guarded, d.r#type.as_ref(), &d.message);
                // Dismiss: `confirm` answers false, `prompt` null, `beforeunload` stays on the page.
                let _ = p.execute(HandleJavaScriptDialogParams::new(false)).await;
            }
        })));

        let mut navigations = page.event_listener::<EventFrameRequestedNavigation>().await?;
        let (s, top) = (state.clone(), target.clone());
        tasks.push(AbortOnDropHandle::new(tokio::spawn(async move {
            while let Some(n) = navigations.next().await {
                if refused_scheme(&n.url, *n.frame_id.inner() == top) {
                    note_refused(&mut lock_or_recover(&s).guarded, &n.url, "navigation");
                }
            }
        })));

        let mut log = page.event_listener::<EventEntryAdded>().await?;
        let s = state.clone();
        tasks.push(AbortOnDropHandle::new(tokio::spawn(async move {
            while let Some(e) = log.next().await {
                if let Some(url) = refused_in_log(&e.entry.text) {
                    note_refused(&mut lock_or_recover(&s).guarded, url, "load");
                }
            }
        })));
        page.execute(LogEnable::default()).await?;

        let mut downloads = browser.event_listener::<EventDownloadWillBegin>().await?;
        let s = state.clone();
        tasks.push(AbortOnDropHandle::new(tokio::spawn(async move {
            while let Some(d) = downloads.next().await {
                let mut st = lock_or_recover(&s);
                if st.downloads.len() < 10 * MAX_LISTED {
                    let download = PageDownload {
                        url: crate::text::one_line(&d.url, MAX_URL_CHARS),
                        filename: crate::text::one_line(&d.suggested_filename, MAX_URL_CHARS),
                    };
                    st.downloads.push((d.frame_id.inner().clone(), download));
                }
            }
        })));
        let deny = SetDownloadBehaviorParams::builder()
            .behavior(SetDownloadBehaviorBehavior::Deny)
            .browser_context_id(ctx)
            .events_enabled(true)
            .build()
            .map_err(chromiumoxide::error::CdpError::msg)?;
        browser.execute(deny).await?;
        Ok(Guard { state, target, _tasks: tasks })
    }

    /// What was dismissed and refused, for the snapshot: the downloads of this capture's
    /// frames, and any frame that ended up at a non-web URL anyway.
    pub(super) fn finish(&self, o: &Observed) -> Guarded {
        let mut st = lock_or_recover(&self.state);
        let mut guarded = std::mem::take(&mut st.guarded);
        let ours = |frame: &str| frame == self.target || o.frames.contains_key(frame);
        guarded.downloads =
            st.downloads.iter().filter(|(f, _)| ours(f)).map(|(_, d)| d.clone()).take(MAX_LISTED).collect();
        for (id, (url, _)) in &o.frames {
            if refused_scheme(url, *id == self.target) {
                note_refused(&mut guarded, url, "frame");
            }
        }
        guarded
    }
}

fn note_dialog(g: &mut Guarded, kind: &str, message: &str) {
    g.dialog_count += 1;
    if g.dialogs.len() < MAX_LISTED {
        g.dialogs
            .push(PageDialog { kind: kind.to_string(), message: crate::text::one_line(message, MAX_MESSAGE_CHARS) });
    }
}

fn note_refused(g: &mut Guarded, url: &str, how: &str) {
    let url = crate::text::one_line(url, MAX_URL_CHARS);
    if g.refused_navigations.len() < MAX_LISTED && !g.refused_navigations.iter().any(|r| r.url == url) {
        g.refused_navigations.push(RefusedNavigation { url, how: how.to_string() });
    }
}

/// True for a URL a web page's frame must not be navigated to: anything but the web's own
/// schemes (`http(s)`, `about:blank`/`srcdoc`, `blob:`, `data:` in a subframe; `javascript:`
/// runs in the frame and is no navigation).
fn refused_scheme(url: &str, top_frame: bool) -> bool {
    let scheme = url.split_once(':').map(|(s, _)| s.to_ascii_lowercase()).unwrap_or_default();
    match scheme.as_str() {
        "http" | "https" | "about" | "blob" | "javascript" | "" => false,
        "data" => top_frame,
        _ => true,
    }
}

/// The URL in a Chromium log line that says it refused to load one.
fn refused_in_log(text: &str) -> Option<&str> {
    let rest = REFUSED_LOG_PREFIXES.iter().find_map(|p| text.strip_prefix(p))?;
    // "… top frame to data URL: data:…" names the URL after the last ": ".
    let url = rest.rsplit_once("URL: ").map(|(_, u)| u).unwrap_or(rest).trim();
    let url = url.trim_end_matches('.').trim_matches('\'');
    (!url.is_empty()).then_some(url)
}

/// Closes a capture's tab and disposes its browser context: at the end of the capture
/// ([`Cleanup::run`]), or when dropped early (a time limit, a panic), on a spawned task.
pub(super) struct Cleanup {
    browser: Arc<Browser>,
    target: Option<TargetId>,
    ctx: Option<BrowserContextId>,
}

impl Cleanup {
    pub(super) fn new(browser: Arc<Browser>, ctx: BrowserContextId) -> Cleanup {
        Cleanup { browser, target: None, ctx: Some(ctx) }
    }

    /// The tab to close, once it exists.
    pub(super) fn set_tab(&mut self, target: TargetId) {
        self.target = Some(target);
    }

    /// Cleans up now and waits for it (bounded).
    pub(super) async fn run(mut self) {
        close(self.browser.clone(), self.target.take(), self.ctx.take()).await;
    }
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        if self.target.is_none() && self.ctx.is_none() {
            return;
        }
        let (browser, target, ctx) = (self.browser.clone(), self.target.take(), self.ctx.take());
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(close(browser, target, ctx));
        }
    }
}

/// `Target.closeTarget` rather than `Page.close`: the latter runs the page's `beforeunload`,
/// which a hostile page uses to refuse.
async fn close(browser: Arc<Browser>, target: Option<TargetId>, ctx: Option<BrowserContextId>) {
    if let Some(t) = target {
        let _ = tokio::time::timeout(CLEANUP_CALL, browser.execute(CloseTargetParams::new(t))).await;
    }
    if let Some(c) = ctx {
        let _ = tokio::time::timeout(CLEANUP_CALL, browser.execute(DisposeBrowserContextParams::new(c))).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn non_web_urls_are_refused_and_web_ones_not() {
        for u in ["file:///etc/passwd", "chrome://settings", "chrome-extension://x/", "view-source:http://a/"] {
            assert!(refused_scheme(u, false), "{u}");
        }
        assert!(refused_scheme("data:text/html,x", true));
        for u in ["https://a/", "about:blank", "about:srcdoc", "data:text/html,x", "blob:https://a/1"] {
            assert!(!refused_scheme(u, false), "{u}");
        }
    }

    #[test]
    fn chromium_refusals_are_read_from_its_log() {
        assert_eq!(
            refused_in_log("Not allowed to load local resource: file:///etc/passwd"),
            Some("file:///etc/passwd")
        );
        assert_eq!(
            refused_in_log("Not allowed to navigate top frame to data URL: data:text/html,hi"),
            Some("data:text/html,hi")
        );
        assert_eq!(refused_in_log("Uncaught ReferenceError: x"), None);
    }

    #[test]
    fn dialogs_are_counted_and_capped_with_one_line_messages() {
        let mut g = Guarded::default();
        for i in 0..1000 {
            note_dialog(&mut g, "alert", &format!("line {i}\nnext {}", "é".repeat(500)));
        }
        assert_eq!((g.dialog_count, g.dialogs.len()), (1000, MAX_LISTED));
        assert!(!g.dialogs[0].message.contains('\n') && g.dialogs[0].message.chars().count() <= MAX_MESSAGE_CHARS + 1);
    }
}
