//! Capture: render a page in headless Chromium and record everything it runs.
//!
//! One [`Chromium`] process serves a whole run; each [`Chromium::capture`] gets a fresh browser
//! context (no cookies, storage or cache carried over) and a fresh tab. The V8 debugger reports
//! every script it compiles (`Debugger.scriptParsed`): external files, inline blocks, modules,
//! `eval`/`new Function`/string timers, event-handler attributes, `data:`/`blob:` scripts, in every
//! frame. Chromium is launched with site isolation off so that cross-site iframes live in the
//! page's own CDP session and are recorded by the same listeners. The network domain gives the
//! main document's status and headers, the hosts contacted, and which script inserted which.
//!
//! The monitor's own code is recognised by the exact sources it injected (their SHA-256, which
//! `Debugger.scriptParsed` reports too) and dropped, as is anything compiled outside the page's
//! main world (chromiumoxide's utility world). Its random `//# sourceURL=` marker is a label
//! only: a page that learns it and copies it is still inventoried.
//!
//! Before navigation the tab gets a shopper's profile and the card-field instrumentation
//! ([`crate::capture::stealth`]); after load the shopper ([`crate::capture::shopper`]) fills the
//! form with the scan's canary card number ([`crate::capture::canary`]), and everything the page
//! sends — request URLs, headers and bodies, WebSocket frames, navigations — is searched for it.
//!
//! One capture is a sequence of steps (`capture_page`): navigate, wait for `load`, shop,
//! settle, probe the frames (`probe`), read the frame tree, fetch the script sources,
//! classify each script (`classify`), find the leaks and name the field readers (`leaks`),
//! and assemble the [`Snapshot`]. The browser process (launched, or connected to with
//! `[browser] endpoint`) is `browser`'s; the events seen on the way are folded into one record
//! (`events`, `recorder`).

mod auth;
mod browser;
pub mod canary;
mod classify;
pub mod contain;
mod cookies;
mod events;
mod guard;
mod journey;
mod leaks;
mod limits;
pub mod persona;
pub mod personal;
mod probe;
mod recorder;
pub mod shopper;
pub mod stealth;
mod targets;

pub use browser::{command_line as chromium_args, find_chromium, shown_endpoint, BrowserSource, Chromium};

use crate::capture::canary::Canary;
use crate::model::{Interaction, RawScript, Snapshot};
use chromiumoxide::cdp::browser_protocol::browser::{PermissionDescriptor, PermissionSetting, SetPermissionParams};
use chromiumoxide::cdp::browser_protocol::network::{
    CookieParam, EnableParams as NetworkEnable, Headers, SetCacheDisabledParams, SetCookiesParams,
    SetExtraHttpHeadersParams,
};
use chromiumoxide::cdp::browser_protocol::page::{CaptureScreenshotFormat, GetFrameTreeParams, NavigateParams};
use chromiumoxide::cdp::browser_protocol::target::{CreateBrowserContextParams, CreateTargetParams};
use chromiumoxide::cdp::js_protocol::debugger::{
    EnableParams as DebuggerEnable, EventScriptParsed, GetScriptSourceParams,
};
use chromiumoxide::error::CdpError;
use chromiumoxide::page::ScreenshotParams;
use chromiumoxide::Page;
use classify::{classify, Compiled};
use events::Observed;
use limits::{Cap, MAX_SCRIPT_BYTES, MAX_SOURCE_BYTES};
use probe::Probed;
use recorder::Recorder;
use shopper::{InteractMode, Profile};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};
use stealth::Own;

/// Largest screenshot kept (a viewport PNG is typically 50–300 KB).
const MAX_SCREENSHOT_BYTES: usize = 4 * 1024 * 1024;
/// Quiet time (no new script, no request in flight) that counts as "settled".
const QUIET: Duration = Duration::from_millis(500);
/// How long past the minimum settle time we keep waiting for the page to go quiet.
const SETTLE_GRACE: Duration = Duration::from_secs(5);
/// Longest the shopper may take to fill the form.
const INTERACTION_BUDGET: Duration = Duration::from_secs(40);
/// Before the shopper starts: wait for the page to go quiet, at most this long after load.
const BEFORE_INTERACTION_MAX: Duration = Duration::from_secs(3);
/// After the shopper is done, keep watching at least this long (skimmers send on blur, often
/// after a short timer).
const AFTER_INTERACTION: Duration = Duration::from_millis(1500);

/// Longest the page may take to leave (navigation away, then its last requests).
const LEAVE_BUDGET: Duration = Duration::from_secs(3);

#[derive(Debug, thiserror::Error)]
pub enum CaptureError {
    #[error("no Chromium found: tried {tried}. Install it (Debian: `apt-get install -y chromium`) or set `[browser] executable` in the config or the CHROME environment variable")]
    NoBrowser { tried: String },
    #[error("could not start Chromium at {exe}: {reason}")]
    Launch { exe: PathBuf, reason: String },
    /// `[browser] endpoint` did not answer as a browser (the endpoint as [`shown_endpoint`]).
    #[error("could not connect to the browser at {endpoint} ({attempts} attempts): {reason}. Check that the browser is running and accepts DevTools connections, that this host can reach it, and that `[browser] endpoint` is its address (\"http://host:port\" or \"ws://host:port/devtools/browser/<id>\")")]
    Connect { endpoint: String, attempts: usize, reason: String },
    #[error("{url}: page did not load: {reason}")]
    Load { url: String, reason: String },
    #[error("{url}: the server answered HTTP {status}; a page that does not load cannot be checked")]
    HttpStatus { url: String, status: u16 },
    #[error("{url}: timed out after {secs:.0} s ({stage})")]
    Timeout { url: String, secs: f64, stage: &'static str },
    #[error("{url}: browser error: {reason}")]
    Browser { url: String, reason: String },
    /// A journey step failed: the payment form was not reached.
    #[error("{url}: journey step {step} ({action}) failed: {reason}")]
    Step { url: String, step: usize, action: String, reason: String, done: Vec<crate::model::StepRecord> },
    /// The document the capture ended on (`final_url`) is not the payment page it should be.
    #[error("{url}: {reason}")]
    NotThePaymentPage { url: String, final_url: String, reason: String },
}

/// Per-capture settings.
#[derive(Debug, Clone)]
pub struct CaptureOptions {
    /// Limit for navigation up to the `load` event.
    pub timeout: Duration,
    /// Minimum time to keep watching after `load`, so timers and late tags run.
    pub settle: Duration,
    /// What the shopper does after load.
    pub interact: InteractMode,
    /// The device the browser pretends to be.
    pub profile: Profile,
    /// Extra payment-field selectors (`payment_fields` of the page).
    pub payment_fields: Vec<String>,
    /// Hosts allowed to receive card data (`card_data_hosts` of the page).
    pub card_data_hosts: Vec<String>,
    /// Hosts allowed to receive the shopper's personal data (`personal_data_hosts`).
    pub personal_data_hosts: Vec<String>,
    /// The journey to the payment form (`[[page.step]]`), run after load.
    pub steps: Vec<crate::model::JourneyStep>,
    /// Headers, cookies, proxy, locale and timezone of the page.
    pub session: crate::model::Session,
    /// Where to write a screenshot after each journey step (`step-01.png` …), if anywhere.
    pub step_screenshots: Option<PathBuf>,
}

impl Default for CaptureOptions {
    fn default() -> Self {
        CaptureOptions {
            timeout: Duration::from_secs(30),
            settle: Duration::from_secs(1),
            interact: InteractMode::default(),
            profile: Profile::default(),
            payment_fields: Vec::new(),
            card_data_hosts: Vec::new(),
            personal_data_hosts: Vec::new(),
            steps: Vec::new(),
            session: Default::default(),
            step_screenshots: None,
        }
    }
}

/// The longest one capture of a page with `opts` may take, whatever the page does.
pub fn capture_limit(opts: &CaptureOptions) -> Duration {
    let journey: Duration = opts.steps.iter().map(|s| s.timeout + Duration::from_secs(3)).sum();
    opts.timeout + journey + opts.settle + SETTLE_GRACE + INTERACTION_BUDGET + Duration::from_secs(20)
}

impl Chromium {
    /// Renders `url` in a fresh browser context and returns what it ran. The tab and the
    /// context are closed however the capture ends (also when this future is dropped).
    pub async fn capture(&self, url: &str, opts: &CaptureOptions) -> Result<Snapshot, CaptureError> {
        let browser_err =
            |e: chromiumoxide::error::CdpError| CaptureError::Browser { url: url.to_string(), reason: e.to_string() };
        let mut context = CreateBrowserContextParams::default();
        if let Some(proxy) = &opts.session.proxy {
            // Everything through the proxy, loopback too (Chromium bypasses it by default).
            context.proxy_server = Some(proxy.clone());
            context.proxy_bypass_list = Some("<-loopback>".into());
        }
        let ctx = self.browser.create_browser_context(context).await.map_err(browser_err)?;
        let mut cleanup = guard::Cleanup::new(self.browser.clone(), ctx.clone());
        if opts.session.geolocation.is_some() {
            // A shopper who let the shop see where they are, in this context only (the
            // position itself is set per tab, with the rest of the profile).
            let grant = SetPermissionParams::builder()
                .permission(PermissionDescriptor::new("geolocation"))
                .setting(PermissionSetting::Granted)
                .browser_context_id(ctx.clone())
                .build()
                .map_err(|e| CaptureError::Browser { url: url.to_string(), reason: e })?;
            self.browser.execute(grant).await.map_err(browser_err)?;
        }
        let page = self
            .browser
            .new_page(
                CreateTargetParams::builder()
                    .url("about:blank")
                    .browser_context_id(ctx.clone())
                    .build()
                    .map_err(|e| CaptureError::Browser { url: url.to_string(), reason: e })?,
            )
            .await;
        let result = match page {
            Ok(page) => {
                cleanup.set_tab(page.target_id().clone());
                // The whole capture is bounded, whatever the page does.
                let hard = capture_limit(opts);
                // Popups and workers are watched beside the capture, for as long as it runs.
                let others = targets::Targets::new();
                let captured = async {
                    let guard = guard::Guard::start(&self.browser, &page, ctx.clone()).await.map_err(browser_err)?;
                    let work = capture_page(&page, url, opts, &self.version, &guard, &others);
                    let watch = others.watch(&self.browser, ctx.clone(), page.clone());
                    targets::beside(work, watch).await
                };
                match tokio::time::timeout(hard, captured).await {
                    Ok(r) => r,
                    Err(_) => Err(CaptureError::Timeout {
                        url: url.to_string(),
                        secs: hard.as_secs_f64(),
                        stage: "whole capture",
                    }),
                }
            }
            Err(e) => Err(browser_err(e)),
        };
        cleanup.run().await;
        match result {
            // A lost browser shows as whichever CDP call was waiting ("oneshot canceled"): say
            // what happened instead.
            Err(CaptureError::Browser { url, .. }) if !self.is_running() => {
                Err(CaptureError::Browser { url, reason: self.gone() })
            }
            r => r,
        }
    }
}

/// One capture in progress: the tab, the page asked for, its settings, the per-scan secrets and
/// the record of everything seen so far.
struct Capture<'a> {
    page: &'a Page,
    url: &'a str,
    opts: &'a CaptureOptions,
    own: Own,
    canary: Canary,
    /// The scan's shopper identity, for the journey's steps and the shopper alike.
    persona: persona::Persona,
    recorder: Recorder,
}

/// Where a capture's time goes (debug log): the profile behind the throughput benchmark.
fn phase(url: &str, started: Instant, phase: &'static str) {
    tracing::debug!(%url, phase, ms = started.elapsed().as_millis() as u64, "capture phase");
}

/// Renders `url` in `page` (a fresh tab), step by step.
async fn capture_page(
    page: &Page,
    url: &str,
    opts: &CaptureOptions,
    version: &str,
    guard: &guard::Guard,
    others: &targets::Targets,
) -> Result<Snapshot, CaptureError> {
    let started = Instant::now();
    let own = Own::generate();
    // Listen before enabling anything, so no event is missed.
    let recorder = Recorder::start(page, &own, others.events()).await.map_err(browser_error(url))?;
    let c =
        Capture { page, url, opts, own, canary: Canary::generate(), persona: persona::Persona::generate(), recorder };
    let mut walked = journey::Walked::default();
    c.prepare(version, &mut walked.secrets).await?;
    // Held until the snapshot is assembled: the record of refused link-local/metadata requests.
    let refusals = contain::refuse_internal_requests(page, url).await.map_err(browser_error(url))?;
    let challenges = c.basic_auth(&mut walked.secrets).await?;
    let main_frame_id = c.navigate().await?;
    c.recorder.wait_for_load(url, started + opts.timeout, opts.timeout).await?;
    phase(url, started, "loaded");
    if let Some(challenges) = challenges {
        challenges.stop().await;
    }
    if let Some((status, _, _)) = &c.recorder.lock().main_document {
        if *status >= 400 {
            return Err(CaptureError::HttpStatus { url: url.to_string(), status: *status });
        }
    }
    if !opts.steps.is_empty() {
        c.recorder.wait_until_ready(Instant::now()).await;
        c.walk(&c.shopper(&main_frame_id), &mut walked).await?;
    }
    let loaded = Instant::now();
    // What the shopper sees before typing: the same picture for an unchanged page (typed
    // values are random per scan), so storing it costs nothing then.
    let mut screenshot = None;
    if opts.interact != InteractMode::None {
        c.recorder.wait_until_ready(loaded).await;
        screenshot = c.picture().await;
    }
    // Holds the request blocker of `type-and-submit` until the interaction is reported.
    let mut acted = c.shop(loaded, &main_frame_id).await;
    let typed_with = c.late_code_marker();
    phase(url, started, "shopped");
    c.settle(loaded).await;
    phase(url, started, "settled");
    if opts.interact == InteractMode::None {
        screenshot = c.picture().await;
    }
    c.retype_for_late_code(&mut acted, typed_with, &main_frame_id).await;
    let contexts = c.recorder.lock().main_worlds();
    phase(url, started, "pictured");
    let probed = probe::probe_frames(page, url, &c.own, &opts.payment_fields, contexts).await?;
    phase(url, started, "probed");
    c.read_frame_tree().await;
    let mut observed = c.recorder.take();
    let guarded = guard.finish(&observed);
    let main_frame = observed.main_frame.clone().unwrap_or(main_frame_id);
    let (status, headers, final_url) = observed
        .main_document
        .clone()
        .ok_or_else(|| CaptureError::Load { url: url.to_string(), reason: "no document response".into() })?;
    if status >= 400 {
        return Err(CaptureError::HttpStatus { url: url.to_string(), status });
    }
    let sources = c.fetch_sources(&mut observed).await;
    phase(url, started, "sources fetched");
    let journey_scripts_left = sources.iter().filter(|(ev, _)| left_behind(&observed, ev)).count() as u64;
    let sources: Vec<_> = sources.into_iter().filter(|(ev, _)| !left_behind(&observed, ev)).collect();
    let (mut scripts, mut index_of) = classify_scripts(&observed, sources, &probed, &main_frame, &final_url);
    let payment_fields = probed.payment_fields(&observed, &main_frame, &final_url);
    if payment_fields.is_empty() {
        if let Some(reason) = not_the_payment_page(url, &final_url, opts) {
            return Err(CaptureError::NotThePaymentPage { url: url.to_string(), final_url, reason });
        }
    }
    // The page's last moments (pagehide beacons), after its scripts' sources are read.
    c.leave(others).await;
    phase(url, started, "left");
    observed.absorb(c.recorder.take());
    observed.finish();
    others.add_worker_scripts(&mut scripts, &mut index_of, &final_url);
    others.count_into(&mut observed.counts);
    // Card data leaving the page: search everything that was sent for the canary.
    leaks::fetch_bodies(page, &mut observed).await;
    phase(url, started, "request bodies fetched");
    let mut interaction = interaction(opts, acted, &c.canary);
    interaction.popups = others.popup_urls().iter().map(|u| c.canary.mask_in(u)).collect();
    let (card_leaks, searched, partly) = leaks::find_leaks(
        &observed,
        &c.canary,
        &final_url,
        &index_of,
        &opts.card_data_hosts,
        opts.interact == InteractMode::Complete,
    );
    observed.counts.add(Cap::Candidates, searched, searched - partly);
    // Where the shopper's identity went, and the cookies the page ended up with.
    let personal_data = leaks::find_personal_data(
        &observed,
        &personal::PersonalNeedles::new(&c.persona),
        &final_url,
        &index_of,
        &[opts.personal_data_hosts.as_slice(), opts.card_data_hosts.as_slice()].concat(),
    );
    let own_cookies: Vec<String> = opts.session.cookies.iter().map(|(n, _)| n.clone()).collect();
    let cookies = cookies::collect(page, &mut observed, &final_url, &index_of, &own_cookies).await;
    let mut snapshot = Snapshot {
        cookies,
        personal_data,
        truncations: observed.counts.truncations(),
        unmatched_payment_fields: probed.unmatched_payment_fields(),
        card_leaks,
        field_access: leaks::resolve_accesses(&observed, &main_frame, &index_of),
        interaction: Some(interaction),
        url: url.to_string(),
        payment_fields,
        frames: frame_urls(&observed, &main_frame),
        final_url,
        status,
        headers,
        scripts,
        hosts: observed.hosts.into_iter().collect(),
        elapsed_ms: started.elapsed().as_millis() as u64,
        refused_requests: refusals.map(|r| r.take()).unwrap_or_default(),
        guard: guarded,
        journey: walked.steps,
        journey_scripts_left,
        screenshot,
    };
    mask_secrets(&mut snapshot, &walked.secrets);
    Ok(snapshot)
}

/// Whether a script compiled in a document a journey step left.
fn left_behind(o: &Observed, ev: &EventScriptParsed) -> bool {
    o.left_behind.contains(ev.execution_context_id.inner())
}

/// Why the document a capture ended on (`final_url`, which shows no payment field) is not the
/// payment page: a journey that should have reached one, configured `payment_fields`, or a
/// redirect to a cart or a login page (the checkout of a shop with an empty cart).
fn not_the_payment_page(url: &str, final_url: &str, opts: &CaptureOptions) -> Option<String> {
    if !opts.steps.is_empty() {
        return Some(format!(
            "the journey ended on {final_url}, which shows no payment field: a step no longer leads to the payment form"
        ));
    }
    if !opts.payment_fields.is_empty() {
        return Some(format!(
            "{final_url} shows no payment field (none of the configured payment_fields matched): this is not the payment page"
        ));
    }
    let path = |u: &str| url::Url::parse(u).map(|u| u.path().to_ascii_lowercase()).unwrap_or_default();
    let (asked, ended) = (path(url), path(final_url));
    let away = ["/cart", "/basket", "/bag", "/login", "/signin", "/sign-in", "/customer/account", "/my-account"];
    if asked != ended && away.iter().any(|a| ended.contains(a)) && !away.iter().any(|a| asked.contains(a)) {
        return Some(format!(
            "redirected to {final_url}, which shows no payment field: the payment page is not one URL away (an empty cart or a login sends the visitor elsewhere); give the page [[page.step]]s that reach it"
        ));
    }
    None
}

/// Masks the values of environment variables a journey typed (passwords) wherever the
/// snapshot could carry them on: URLs, script text, what was sent, what the page said.
fn mask_secrets(s: &mut Snapshot, secrets: &[String]) {
    if secrets.is_empty() {
        return;
    }
    let m = |t: &mut String| journey::mask(t, secrets);
    m(&mut s.final_url);
    s.frames.iter_mut().for_each(m);
    s.headers.values_mut().for_each(m);
    for script in &mut s.scripts {
        m(&mut script.source);
        m(&mut script.frame_url);
        if let Some(u) = script.url.as_mut() {
            m(u);
        }
    }
    for leak in &mut s.card_leaks {
        m(&mut leak.destination.url);
        m(&mut leak.frame_url);
        leak.script_url.iter_mut().chain(leak.destination.target.iter_mut()).for_each(m);
    }
    for cookie in &mut s.cookies {
        cookie.set_by.iter_mut().for_each(m);
    }
    for flow in &mut s.personal_data {
        m(&mut flow.example_url);
        flow.script_url.iter_mut().for_each(m);
    }
    for step in &mut s.journey {
        m(&mut step.url);
        m(&mut step.outcome);
    }
    if let Some(i) = s.interaction.as_mut() {
        i.blocked.iter_mut().chain(i.problems.iter_mut()).chain(i.popups.iter_mut()).for_each(m);
    }
    s.refused_requests.iter_mut().for_each(m);
    for d in &mut s.guard.dialogs {
        m(&mut d.message);
    }
}

/// Maps a CDP failure during the capture of `url` to [`CaptureError::Browser`].
fn browser_error(url: &str) -> impl Fn(CdpError) -> CaptureError + '_ {
    move |e| CaptureError::Browser { url: url.to_string(), reason: e.to_string() }
}

impl Capture<'_> {
    /// Enables the debugger and the network domain (no cache), and sets up the shopper's
    /// browser with card fields instrumented before any page script runs.
    async fn prepare(&self, version: &str, secrets: &mut Vec<String>) -> Result<(), CaptureError> {
        let berr = browser_error(self.url);
        let page = self.page;
        page.execute(DebuggerEnable::builder().max_scripts_cache_size(512.0 * 1024.0 * 1024.0).build())
            .await
            .map_err(&berr)?;
        page.execute(NetworkEnable::default()).await.map_err(&berr)?;
        page.execute(SetCacheDisabledParams::new(true)).await.map_err(&berr)?;
        let session = &self.opts.session;
        stealth::prepare(page, self.opts.profile, version, &self.own, &self.opts.payment_fields, session)
            .await
            .map_err(&berr)?;
        let setting =
            |what: &str, e: String| CaptureError::Load { url: self.url.to_string(), reason: format!("{what}: {e}") };
        if !session.headers.is_empty() {
            let mut headers = serde_json::Map::new();
            for (name, value) in &session.headers {
                let value = self.value_of(value, secrets).map_err(|e| setting(&format!("header {name}"), e))?;
                headers.insert(name.clone(), value.into());
            }
            page.execute(SetExtraHttpHeadersParams::new(Headers::new(headers))).await.map_err(&berr)?;
        }
        if !session.cookies.is_empty() {
            let mut cookies = Vec::new();
            for (name, value) in &session.cookies {
                let value = self.value_of(value, secrets).map_err(|e| setting(&format!("cookie {name}"), e))?;
                let mut cookie = CookieParam::new(name.clone(), value);
                cookie.url = Some(self.url.to_string());
                cookies.push(cookie);
            }
            page.execute(SetCookiesParams::new(cookies)).await.map_err(&berr)?;
        }
        Ok(())
    }

    /// `basic_auth`: answers the page origin's challenges while it loads; the password (and
    /// the header it makes) join the secrets to mask.
    async fn basic_auth(&self, secrets: &mut Vec<String>) -> Result<Option<auth::Challenges>, CaptureError> {
        let Some((user, password)) = &self.opts.session.basic_auth else { return Ok(None) };
        let password = self.value_of(password, secrets).map_err(|e| CaptureError::Load {
            url: self.url.to_string(),
            reason: format!("basic_auth password: {e}"),
        })?;
        use base64::Engine;
        secrets.push(base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}")));
        let origin = url::Url::parse(self.url).map(|u| u.origin().ascii_serialization()).unwrap_or_default();
        let challenges = auth::answer(self.page, &origin, user, &password).await.map_err(browser_error(self.url))?;
        Ok(Some(challenges))
    }

    /// Navigates to the page; returns the main frame's id.
    async fn navigate(&self) -> Result<String, CaptureError> {
        let (url, timeout) = (self.url, self.opts.timeout);
        // chromiumoxide answers `Page.navigate` only once every frame has loaded, and a frame
        // that never loads (an iframe of `file:` or `chrome:` that Chromium refused) would
        // hold it forever: the main frame's `load` event is enough (see `guard`).
        self.recorder.lock().load_fired = false;
        let loaded = async {
            loop {
                tokio::time::sleep(Duration::from_millis(100)).await;
                let o = self.recorder.lock();
                if o.load_fired && o.main_document.is_some() {
                    return;
                }
            }
        };
        let navigated = async {
            tokio::pin!(loaded);
            tokio::select! {
                r = self.page.execute(NavigateParams::new(url)) => match r {
                    // The page kept the browser busy (dialogs) past chromiumoxide's request limit.
                    Err(CdpError::Timeout) => {
                        loaded.await;
                        None
                    }
                    r => Some(r),
                },
                () = &mut loaded => None,
            }
        };
        let nav = tokio::time::timeout(timeout, navigated).await.map_err(|_| CaptureError::Timeout {
            url: url.to_string(),
            secs: timeout.as_secs_f64(),
            stage: "navigation",
        })?;
        let Some(nav) = nav else {
            let main = self.recorder.lock().main_frame.clone();
            return main.ok_or_else(|| CaptureError::Load { url: url.to_string(), reason: "no main frame".into() });
        };
        let nav = nav.map_err(browser_error(url))?;
        if let Some(err) = nav.result.error_text.as_ref().filter(|e| !e.is_empty()) {
            return Err(CaptureError::Load { url: url.to_string(), reason: err.clone() });
        }
        let main_frame_id = nav.result.frame_id.inner().clone();
        self.recorder.lock().main_frame.get_or_insert(main_frame_id.clone());
        Ok(main_frame_id)
    }

    /// The shopper of this capture. Its origin (whose non-GET calls are blocked when it
    /// submits) is the document's it acts on: after a journey, where the journey ended.
    fn shopper<'s>(&'s self, main_frame_id: &'s str) -> shopper::Shopper<'s> {
        let here = self.recorder.lock().main_document.as_ref().map(|(_, _, u)| u.clone());
        let origin_of = |u: &str| url::Url::parse(u).ok().map(|u| u.origin().ascii_serialization());
        let page_origin = here.as_deref().and_then(origin_of).or_else(|| origin_of(self.url)).unwrap_or_default();
        shopper::Shopper {
            page: self.page,
            own: &self.own,
            canary: &self.canary,
            persona: &self.persona,
            mode: self.opts.interact,
            selectors: &self.opts.payment_fields,
            page_origin,
            recorder: &self.recorder,
            main_frame_id,
        }
    }

    /// Acts like a shopper once the page's own scripts have set up (quiet, or a few seconds
    /// after load), for at most [`INTERACTION_BUDGET`].
    async fn shop(&self, loaded: Instant, main_frame_id: &str) -> shopper::Acted {
        let mut acted = shopper::Acted::default();
        if self.opts.interact == InteractMode::None {
            return acted;
        }
        self.recorder.wait_until_ready(loaded).await;
        let shopper = self.shopper(main_frame_id);
        if self.opts.interact == InteractMode::Complete {
            // Blocked before anything is filled or pressed, and held outside the budget's
            // timeout: a press must never be followed by an unblocked order request.
            match shopper.block_order_requests(acted.blocked.clone()).await {
                Ok(task) => acted.blocker = Some(task),
                Err(e) => acted.problems.push(format!("buttons not pressed: could not block order requests: {e}")),
            }
        }
        if tokio::time::timeout(INTERACTION_BUDGET, shopper.run(&mut acted)).await.is_err() {
            acted.problems.push(format!("interaction stopped after {} s", INTERACTION_BUDGET.as_secs()));
        }
        acted
    }

    /// A PNG of the tab's viewport, at most [`MAX_SCREENSHOT_BYTES`]; `None` when the browser
    /// could not take one in time (logged: a picture is evidence, not a condition of the scan).
    async fn picture(&self) -> Option<Vec<u8>> {
        let params = ScreenshotParams::builder().format(CaptureScreenshotFormat::Png).build();
        match tokio::time::timeout(Duration::from_secs(5), self.page.screenshot(params)).await {
            Ok(Ok(png)) if png.len() <= MAX_SCREENSHOT_BYTES => Some(png),
            Ok(Ok(png)) => {
                tracing::debug!(url = %self.url, bytes = png.len(), "screenshot too large, not kept");
                None
            }
            Ok(Err(e)) => {
                tracing::debug!(url = %self.url, "no screenshot: {e}");
                None
            }
            Err(_) => None,
        }
    }

    /// What the shopper typed for: the page's scripts that came from a file or a `<script>`
    /// (not `eval` or timer strings, which pages compile all the time) and the frames known
    /// so far.
    fn late_code_marker(&self) -> (usize, usize) {
        let o = self.recorder.lock();
        let scripts =
            o.scripts.iter().filter(|s| !s.url.is_empty() && !o.own_scripts.contains(s.script_id.inner())).count();
        (scripts, o.frames.len())
    }

    /// Code that arrived after the typing never heard a keystroke: when scripts compiled or
    /// frames appeared since `typed_with`, the card fields are typed again once (within
    /// the interaction's budget), and the page is watched a little longer.
    async fn retype_for_late_code(&self, acted: &mut shopper::Acted, typed_with: (usize, usize), main_frame_id: &str) {
        if self.opts.interact == InteractMode::None || acted.fields_typed.is_empty() {
            return;
        }
        let now = self.late_code_marker();
        if now.0 <= typed_with.0 && now.1 <= typed_with.1 {
            return;
        }
        let shopper = self.shopper(main_frame_id);
        match tokio::time::timeout(INTERACTION_BUDGET, shopper.retype_card_fields(acted)).await {
            Ok(0) => return,
            Ok(_) => acted.retyped += 1,
            Err(_) => acted.problems.push("typing again for late code stopped at the interaction's budget".into()),
        }
        let now = Instant::now();
        self.recorder.settle(self.url, now, now + AFTER_INTERACTION, now + AFTER_INTERACTION + SETTLE_GRACE).await;
    }

    /// Settles: at least `settle` after load (and a little after the interaction), then until
    /// quiet (nothing new, nothing in flight), but never longer than that plus `SETTLE_GRACE`.
    async fn settle(&self, loaded: Instant) {
        let interacted = Instant::now();
        let after = if self.opts.interact == InteractMode::None { loaded } else { interacted + AFTER_INTERACTION };
        let min_until = (loaded + self.opts.settle).max(after);
        self.recorder.settle(self.url, loaded, min_until, min_until + SETTLE_GRACE).await;
    }

    /// Ends the visit like a shopper leaving: closes the popups, then navigates the tab away
    /// (`pagehide`, `visibilitychange`, `unload` fire; beacons sent then are recorded) and
    /// waits briefly for what the page sends on its way out.
    async fn leave(&self, others: &targets::Targets) {
        others.close_popups().await;
        // A skimmer that sends only when the shopper leaves does it in `pagehide`. What the
        // page sends during a real navigation away may never reach the tab's network events,
        // so `pagehide` is first fired while the page is alive and recorded, then the tab
        // really navigates away (for handlers that check `isTrusted`).
        let hide = self.own.mark("dispatchEvent(new PageTransitionEvent('pagehide', { persisted: false }))");
        let _ = tokio::time::timeout(LEAVE_BUDGET, self.page.evaluate(hide)).await;
        let now = Instant::now();
        self.recorder.settle(self.url, now, now + Duration::from_millis(200), now + LEAVE_BUDGET).await;
        let _ = tokio::time::timeout(LEAVE_BUDGET, self.page.execute(NavigateParams::new("about:blank"))).await;
        // The page is gone: what it sent on its way out is in flight already (and keeps the
        // wait going), so a short quiet window does (it was 0.7 s of every scan).
        let now = Instant::now();
        let gone_quiet = Duration::from_millis(150);
        self.recorder
            .settle_quiet_for(self.url, now, now + Duration::from_millis(100), now + LEAVE_BUDGET, gone_quiet)
            .await;
    }

    /// The frame tree at the end: the frames that exist now (and the main frame's final URL).
    async fn read_frame_tree(&self) {
        let Ok(tree) = self.page.execute(GetFrameTreeParams::default()).await else { return };
        let mut o = self.recorder.lock();
        let mut stack = vec![tree.result.frame_tree];
        while let Some(node) = stack.pop() {
            o.note_frame(
                node.frame.id.inner().clone(),
                node.frame.url.clone(),
                node.frame.parent_id.as_ref().map(|p| p.inner().clone()),
            );
            stack.extend(node.child_frames.unwrap_or_default());
        }
    }

    /// The sources of the page's scripts (not ours, main worlds only), in compile order; `None`
    /// for a script V8 no longer has. CDP calls are cheap: up to 16 at a time, fewer when the
    /// scripts are large. Each source is cut at [`MAX_SOURCE_BYTES`], and all of them together
    /// at [`MAX_SCRIPT_BYTES`]: past that budget a script is listed, not fetched (its source
    /// says so and gives V8's hash of it, so a changed script still reads as changed).
    async fn fetch_sources(&self, o: &mut Observed) -> Vec<(Arc<EventScriptParsed>, Option<String>)> {
        let wanted: Vec<Arc<EventScriptParsed>> = o
            .scripts
            .iter()
            .filter(|s| !o.own_scripts.contains(s.script_id.inner()))
            .filter(|s| o.contexts.get(s.execution_context_id.inner()).map(|(_, default)| *default).unwrap_or(false))
            .cloned()
            .collect();
        let mut sources: Vec<Option<String>> = Vec::with_capacity(wanted.len());
        let mut budget = MAX_SCRIPT_BYTES;
        let mut rest: &[Arc<EventScriptParsed>] = &wanted;
        while !rest.is_empty() {
            if budget == 0 {
                // Listed, not fetched.
                for s in rest {
                    let len = s.length.unwrap_or(0).max(0) as usize;
                    o.counts.add_at(Cap::ScriptBytes, len.max(1), 0, &s.url);
                    sources.push(Some(not_fetched(s)));
                }
                break;
            }
            let n = chunk_len(rest);
            let (chunk, after) = rest.split_at(n);
            rest = after;
            let calls = chunk.iter().map(|s| self.page.execute(GetScriptSourceParams::new(s.script_id.clone())));
            for (s, r) in chunk.iter().zip(futures::future::join_all(calls).await) {
                sources.push(r.ok().map(|r| keep_source(o, s, r.result.script_source, &mut budget)));
            }
        }
        // Ours is only what is byte for byte what we injected (when V8 hashed it differently);
        // page code that copies our marker is page code.
        wanted
            .into_iter()
            .zip(sources)
            .filter(|(_, src)| !src.as_deref().is_some_and(|t| self.own.is_own_source(t)))
            .collect()
    }
}

/// How many of `scripts` to fetch at once: up to 16, and about [`MAX_SOURCE_BYTES`] in all
/// (by V8's length), so that large scripts are not all in memory together.
fn chunk_len(scripts: &[Arc<EventScriptParsed>]) -> usize {
    let mut total = 0usize;
    let mut n = 0;
    for s in scripts.iter().take(16) {
        total = total.saturating_add(s.length.unwrap_or(0).max(0) as usize);
        if n > 0 && total > MAX_SOURCE_BYTES {
            break;
        }
        n += 1;
    }
    n.max(1)
}

/// `source` cut to the per-script limit and to what is left of the per-scan `budget`; every
/// cut is counted.
fn keep_source(o: &mut Observed, s: &EventScriptParsed, mut source: String, budget: &mut usize) -> String {
    let len = source.len();
    if len > MAX_SOURCE_BYTES {
        o.counts.add_at(Cap::SourceBytes, len, MAX_SOURCE_BYTES, &s.url);
        source.truncate(crate::text::cut_bytes(&source, MAX_SOURCE_BYTES).len());
    }
    let fits = source.len();
    source.truncate(crate::text::cut_bytes(&source, *budget).len());
    o.counts.add_at(Cap::ScriptBytes, fits, source.len(), &s.url);
    *budget -= source.len();
    source
}

/// What stands for the source of a script past the per-scan budget.
fn not_fetched(s: &EventScriptParsed) -> String {
    format!(
        "/* skimwatch: source not fetched: past the per-scan budget of {MAX_SCRIPT_BYTES} bytes of script source; V8 hash {} */",
        crate::text::label(&s.hash, 64)
    )
}

/// The frames the shopper can act in: each frame's newest main-world context, main frame first.
fn shopper_frames(o: &Observed, main_frame_id: &str) -> Vec<shopper::FrameCtx> {
    let main = o.main_frame.clone().unwrap_or_else(|| main_frame_id.to_string());
    let mut frames: Vec<shopper::FrameCtx> = o
        .main_worlds()
        .into_iter()
        .map(|(context, frame_id)| shopper::FrameCtx { context, is_main: frame_id == main, frame_id })
        .collect();
    // Newest context of a frame first: older ones belong to documents already gone.
    frames.sort_by_key(|f| (!f.is_main, std::cmp::Reverse(f.context)));
    let mut seen = std::collections::BTreeSet::new();
    frames.retain(|f| seen.insert(f.frame_id.clone()));
    frames
}

/// Classifies every script whose source could be fetched, and maps script id → index in the
/// result (to name the senders of card data and the field readers).
fn classify_scripts(
    o: &Observed,
    sources: Vec<(Arc<EventScriptParsed>, Option<String>)>,
    probed: &Probed,
    main_frame: &str,
    final_url: &str,
) -> (Vec<RawScript>, HashMap<String, usize>) {
    let mut scripts = Vec::new();
    let mut index_of: HashMap<String, usize> = HashMap::new();
    for (ev, source) in sources {
        let Some(source) = source else {
            tracing::debug!(url = %ev.url, "script source no longer available");
            continue;
        };
        let frame = o.contexts.get(ev.execution_context_id.inner()).map(|(f, _)| f.as_str()).unwrap_or("");
        let frame_url = o
            .frames
            .get(frame)
            .map(|(u, _)| u.clone())
            .filter(|u| !u.is_empty())
            .unwrap_or_else(|| final_url.to_string());
        let c = classify(&Compiled::from_event(&ev, o), &source, &frame_url, probed.facts.get(frame));
        index_of.insert(ev.script_id.inner().clone(), scripts.len());
        scripts.push(RawScript {
            kind: c.kind,
            url: c.url,
            main_frame: frame == main_frame,
            frame_url,
            source,
            initiator: c.initiator,
            context: c.context,
            position: c.position,
        });
    }
    (scripts, index_of)
}

/// The frames' URLs: the main frame first, then the others in order of appearance (blank ones
/// left out).
fn frame_urls(o: &Observed, main_frame: &str) -> Vec<String> {
    let mut frames: Vec<String> = Vec::new();
    if let Some((u, _)) = o.frames.get(main_frame) {
        frames.push(u.clone());
    }
    for id in &o.frame_order {
        if *id != main_frame {
            if let Some((u, _)) = o.frames.get(id) {
                if !u.is_empty() && u != "about:blank" {
                    frames.push(u.clone());
                }
            }
        }
    }
    frames
}

/// What the shopper did, for the snapshot. Takes `acted` to drop its request blocker.
fn interaction(opts: &CaptureOptions, acted: shopper::Acted, canary: &Canary) -> Interaction {
    let blocked = acted.blocked.lock().map(|b| b.clone()).unwrap_or_default();
    Interaction {
        mode: opts.interact,
        profile: opts.profile,
        canary: (!acted.fields_typed.is_empty()).then(|| canary.masked()),
        fields_typed: Vec::new(),
        typed: acted.fields_typed.clone(),
        submitted: acted.submitted,
        fields_filled: Vec::new(),
        filled: acted.fields_filled.clone(),
        buttons_pressed: acted.buttons_pressed.clone(),
        passes: acted.passes,
        blocked,
        problems: acted.problems.clone(),
        popups: Vec::new(),
        retyped: acted.retyped,
    }
}
