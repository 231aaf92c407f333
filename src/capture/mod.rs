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
//! The monitor's own probe code carries a `//# sourceURL=` marker and is dropped, as is anything
//! compiled outside the page's main world (chromiumoxide's utility world).
//!
//! Before navigation the tab gets a shopper's profile and the card-field instrumentation
//! ([`crate::capture::shopper`]); after load the shopper fills the form with the scan's canary card
//! number ([`crate::capture::canary`]), and everything the page sends — request URLs, headers and
//! bodies, WebSocket frames, navigations — is searched for it.

pub mod canary;
pub mod shopper;

use crate::capture::canary::Canary;
use shopper::Own;
use crate::model::{
    CardLeak, Channel, Destination, FieldAccess, FieldAccessRef, FieldAction, InteractMode, Interaction, PaymentField,
    Profile, RawScript, ScriptKind, Snapshot, SECURITY_HEADERS,
};
use chromiumoxide::browser::{Browser, BrowserConfig};
use chromiumoxide::cdp::browser_protocol::network::{
    EventLoadingFailed, EventLoadingFinished, EventRequestWillBeSent, EventResponseReceived,
    EventWebSocketCreated, EventWebSocketFrameSent, GetRequestPostDataParams, ResourceType,
};
use chromiumoxide::cdp::browser_protocol::page::{
    EventFrameNavigated, EventLoadEventFired, GetFrameTreeParams, NavigateParams,
};
use chromiumoxide::cdp::browser_protocol::target::{
    CreateBrowserContextParams, CreateTargetParams, DisposeBrowserContextParams,
};
use chromiumoxide::cdp::js_protocol::debugger::{
    EnableParams as DebuggerEnable, EventScriptParsed, GetScriptSourceParams,
};
use chromiumoxide::cdp::js_protocol::runtime::{
    EvaluateParams, EventBindingCalled, EventExecutionContextCreated, StackTrace,
};
use chromiumoxide::Page;
use futures::stream::{BoxStream, StreamExt};
use serde::Deserialize;
use crate::capture::canary::cut;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::Notify;

/// Marker our own evaluated code carries, so it is never reported as a page script.
const PROBE_URL: &str = "__skimwatch_probe__.js";
/// Quiet time (no new script, no request in flight) that counts as "settled".
const QUIET: Duration = Duration::from_millis(500);
/// How long past the minimum settle time we keep waiting for the page to go quiet.
const SETTLE_GRACE: Duration = Duration::from_secs(5);
/// Hostile pages can compile scripts without end; past this many we stop recording.
const MAX_SCRIPTS: usize = 5_000;
/// Largest script source kept (bytes); larger sources are recorded truncated.
const MAX_SOURCE_BYTES: usize = 32 * 1024 * 1024;
/// Longest the shopper may take to fill the form.
const INTERACTION_BUDGET: Duration = Duration::from_secs(40);
/// Before the shopper starts: wait for the page to go quiet, at most this long after load.
const BEFORE_INTERACTION_MAX: Duration = Duration::from_secs(3);
/// After the shopper is done, keep watching at least this long (skimmers send on blur, often
/// after a short timer).
const AFTER_INTERACTION: Duration = Duration::from_millis(1500);
/// Outgoing requests and frames kept for the canary search.
const MAX_OUTGOING: usize = 10_000;
/// Request bodies fetched after the fact (`Network.getRequestPostData`) at most.
const MAX_BODY_FETCHES: usize = 300;

#[derive(Debug, thiserror::Error)]
pub enum CaptureError {
    #[error("no Chromium found: tried {tried}. Install it (Debian: `apt-get install -y chromium`) or set `[browser] executable` in the config or the CHROME environment variable")]
    NoBrowser { tried: String },
    #[error("could not start Chromium at {exe}: {reason}")]
    Launch { exe: PathBuf, reason: String },
    #[error("{url}: page did not load: {reason}")]
    Load { url: String, reason: String },
    #[error("{url}: the server answered HTTP {status}; a page that does not load cannot be checked")]
    HttpStatus { url: String, status: u16 },
    #[error("{url}: timed out after {secs:.0} s ({stage})")]
    Timeout { url: String, secs: f64, stage: &'static str },
    #[error("{url}: browser error: {reason}")]
    Browser { url: String, reason: String },
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
        }
    }
}

/// Finds the Chromium to drive: `CHROME` env, then the configured path, then the usual names.
pub fn find_chromium(configured: Option<&Path>) -> Result<PathBuf, CaptureError> {
    if let Some(env) = std::env::var_os("CHROME").filter(|v| !v.is_empty()) {
        return Ok(PathBuf::from(env));
    }
    if let Some(p) = configured {
        return Ok(p.to_path_buf());
    }
    let names = ["chromium", "chromium-browser", "google-chrome", "google-chrome-stable"];
    let path = std::env::var_os("PATH").unwrap_or_default();
    let mut dirs: Vec<PathBuf> = std::env::split_paths(&path).collect();
    dirs.push(PathBuf::from("/usr/bin"));
    for name in names {
        for dir in &dirs {
            let candidate = dir.join(name);
            if candidate.is_file() {
                return Ok(candidate);
            }
        }
    }
    Err(CaptureError::NoBrowser { tried: names.join(", ") })
}

fn running_as_root() -> bool {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata("/proc/self").map(|m| m.uid() == 0).unwrap_or(false)
}

/// A running headless Chromium with its temporary profile. Dropping it kills the process
/// (chromiumoxide sets kill-on-drop) and deletes the profile; [`Chromium::close`] does it politely.
pub struct Chromium {
    browser: Browser,
    handler: tokio::task::JoinHandle<()>,
    exe: PathBuf,
    /// Process id of the browser, to tell a crashed browser from a slow page.
    pid: Option<u32>,
    /// Chromium's version (`156.0.7390.54`), for a user agent that matches the engine.
    version: String,
    // Held for its Drop: the profile directory is removed when the browser goes.
    _profile: tempfile::TempDir,
}

impl Chromium {
    pub async fn launch(exe: &Path) -> Result<Chromium, CaptureError> {
        let launch_err = |reason: String| CaptureError::Launch { exe: exe.to_path_buf(), reason };
        let profile = tempfile::Builder::new()
            .prefix("skimwatch-profile-")
            .tempdir()
            .map_err(|e| launch_err(format!("cannot create a temporary profile: {e}")))?;
        // chromiumoxide prefixes `--` itself. Default args are disabled so that we control the
        // whole command line (its defaults include `enable-automation`).
        let mut args: Vec<String> = vec![
            "headless=new".into(),
            "disable-gpu".into(),
            "hide-scrollbars".into(),
            "mute-audio".into(),
            "no-first-run".into(),
            "no-default-browser-check".into(),
            "disable-background-networking".into(),
            "disable-component-update".into(),
            "disable-sync".into(),
            "disable-default-apps".into(),
            "disable-extensions".into(),
            "disable-breakpad".into(),
            "disable-dev-shm-usage".into(),
            "disable-quic".into(),
            "disable-background-timer-throttling".into(),
            "disable-renderer-backgrounding".into(),
            "disable-backgrounding-occluded-windows".into(),
            "disable-hang-monitor".into(),
            "disable-client-side-phishing-detection".into(),
            "metrics-recording-only".into(),
            "password-store=basic".into(),
            "use-mock-keychain".into(),
            // All frames in the page's session: one set of listeners sees cross-site iframes.
            "disable-site-isolation-trials".into(),
            "disable-features=IsolateOrigins,site-per-process,Translate,OptimizationHints,MediaRouter,HttpsUpgrades".into(),
            "window-size=1366,768".into(),
            // `navigator.webdriver` stays false, as in a shopper's browser.
            "disable-blink-features=AutomationControlled".into(),
        ];
        if running_as_root() {
            // Chromium refuses to start as root with its sandbox on.
            args.push("no-sandbox".into());
        }
        let config = BrowserConfig::builder()
            .chrome_executable(exe)
            .disable_default_args()
            .args(args)
            .user_data_dir(profile.path())
            .launch_timeout(Duration::from_secs(30))
            .request_timeout(Duration::from_secs(30))
            .viewport(None)
            .build()
            .map_err(launch_err)?;
        let (mut browser, mut handler) =
            Browser::launch(config).await.map_err(|e| launch_err(e.to_string()))?;
        let pid = browser.get_mut_child().and_then(|c| c.as_mut_inner().id());
        let handler = tokio::spawn(async move {
            while let Some(event) = handler.next().await {
                if let Err(e) = event {
                    tracing::trace!("cdp handler: {e}");
                }
            }
        });
        let version = match browser.version().await {
            Ok(v) => v.product.rsplit('/').next().unwrap_or_default().to_string(),
            Err(e) => {
                tracing::debug!("Browser.getVersion failed: {e}");
                String::new()
            }
        };
        Ok(Chromium { browser, handler, exe: exe.to_path_buf(), pid, version, _profile: profile })
    }

    pub fn executable(&self) -> &Path {
        &self.exe
    }

    /// True while the Chromium process is alive.
    pub fn is_alive(&mut self) -> bool {
        matches!(self.browser.try_wait(), Ok(None))
    }

    /// Process id of the browser process.
    pub fn pid(&self) -> Option<u32> {
        self.pid
    }

    /// False once the browser process has exited (crashed, killed, out of memory): it is gone
    /// from `/proc` or a zombie. Needs no `&mut`, so it works on a browser shared by scans.
    pub fn process_running(&self) -> bool {
        let Some(pid) = self.pid else { return true };
        match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
            // "pid (comm) STATE ...": the state follows the last ')'.
            Ok(stat) => stat.rfind(')').and_then(|i| stat[i + 1..].split_whitespace().next()) != Some("Z"),
            Err(_) => false,
        }
    }

    /// True when the browser answers a trivial CDP call within `within`: a crashed or hung
    /// Chromium does not, and the watch daemon then replaces it.
    pub async fn responsive(&self, within: Duration) -> bool {
        matches!(tokio::time::timeout(within, self.browser.version()).await, Ok(Ok(_)))
    }

    /// Closes the browser and waits for it to exit.
    pub async fn close(mut self) {
        let _ = tokio::time::timeout(Duration::from_secs(5), self.browser.close()).await;
        let _ = tokio::time::timeout(Duration::from_secs(5), self.browser.wait()).await;
        self.handler.abort();
    }

    /// Renders `url` in a fresh browser context and returns what it ran.
    pub async fn capture(&self, url: &str, opts: &CaptureOptions) -> Result<Snapshot, CaptureError> {
        let browser_err = |e: chromiumoxide::error::CdpError| CaptureError::Browser {
            url: url.to_string(),
            reason: e.to_string(),
        };
        let ctx = self
            .browser
            .create_browser_context(CreateBrowserContextParams::default())
            .await
            .map_err(browser_err)?;
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
                // The whole capture is bounded, whatever the page does.
                let hard = opts.timeout + opts.settle + SETTLE_GRACE + INTERACTION_BUDGET + Duration::from_secs(20);
                let r = match tokio::time::timeout(hard, capture_page(&page, url, opts, &self.version)).await {
                    Ok(r) => r,
                    Err(_) => Err(CaptureError::Timeout {
                        url: url.to_string(),
                        secs: hard.as_secs_f64(),
                        stage: "whole capture",
                    }),
                };
                let _ = tokio::time::timeout(Duration::from_secs(5), page.close()).await;
                r
            }
            Err(e) => Err(browser_err(e)),
        };
        let _ = tokio::time::timeout(
            Duration::from_secs(5),
            self.browser.execute(DisposeBrowserContextParams::new(ctx)),
        )
        .await;
        result
    }
}

/// Everything the event listeners saw, in arrival order.
#[derive(Default)]
struct Observed {
    scripts: Vec<Arc<EventScriptParsed>>,
    /// execution context id → (frame id, is default world)
    contexts: HashMap<i64, (String, bool)>,
    /// frame id → latest URL, parent
    frames: HashMap<String, (String, Option<String>)>,
    frame_order: Vec<String>,
    /// request URL → URL of the script that initiated it
    initiators: HashMap<String, String>,
    /// Every URL the page requested over the network, to tell a real script URL from one a
    /// script claims for itself with `//# sourceURL=`.
    requested: HashSet<String>,
    hosts: BTreeSet<String>,
    /// request id → URL, for requests not yet finished or failed
    in_flight: HashMap<String, String>,
    main_document: Option<(u16, BTreeMap<String, String>, String)>,
    main_frame: Option<String>,
    load_fired: bool,
    last_activity: Option<Instant>,
    /// Our own code's marker and binding (per scan).
    own: Option<Own>,
    /// Everything the page sent, for the canary search.
    outgoing: Vec<Outgoing>,
    /// WebSocket request id → (URL, sender, frame).
    sockets: HashMap<String, (String, Option<StackTop>, Option<String>)>,
    /// Card-field accesses the prelude reported, with the execution context.
    accesses: Vec<(shopper::ReportedAccess, i64)>,
    /// Image URLs set by scripts (image requests carry no initiator stack), with the context.
    image_senders: Vec<(shopper::ReportedAccess, i64)>,
}

/// The top page frame of an initiator stack: script id, URL.
type StackTop = (String, String);

/// One request or WebSocket frame the page sent.
struct Outgoing {
    request_id: String,
    url: String,
    method: String,
    headers: Vec<(String, String)>,
    body: Option<String>,
    /// The body was not in the event; fetch it with `Network.getRequestPostData`.
    needs_body: bool,
    channel: Channel,
    frame_id: Option<String>,
    sender: Option<StackTop>,
}

enum Ev {
    Script(Arc<EventScriptParsed>),
    Context(Arc<EventExecutionContextCreated>),
    Frame(Arc<EventFrameNavigated>),
    Request(Arc<EventRequestWillBeSent>),
    Response(Arc<EventResponseReceived>),
    Finished(String),
    Failed(String),
    Socket(Arc<EventWebSocketCreated>),
    SocketFrame(Arc<EventWebSocketFrameSent>),
    Binding(Arc<EventBindingCalled>),
    Load,
}

async fn listen(page: &Page) -> chromiumoxide::Result<BoxStream<'static, Ev>> {
    let streams: Vec<BoxStream<'static, Ev>> = vec![
        page.event_listener::<EventScriptParsed>().await?.map(Ev::Script).boxed(),
        page.event_listener::<EventExecutionContextCreated>().await?.map(Ev::Context).boxed(),
        page.event_listener::<EventFrameNavigated>().await?.map(Ev::Frame).boxed(),
        page.event_listener::<EventRequestWillBeSent>().await?.map(Ev::Request).boxed(),
        page.event_listener::<EventResponseReceived>().await?.map(Ev::Response).boxed(),
        page.event_listener::<EventLoadingFinished>()
            .await?
            .map(|e| Ev::Finished(e.request_id.inner().clone()))
            .boxed(),
        page.event_listener::<EventLoadingFailed>()
            .await?
            .map(|e| Ev::Failed(e.request_id.inner().clone()))
            .boxed(),
        page.event_listener::<EventWebSocketCreated>().await?.map(Ev::Socket).boxed(),
        page.event_listener::<EventLoadEventFired>().await?.map(|_| Ev::Load).boxed(),
        page.event_listener::<EventWebSocketFrameSent>().await?.map(Ev::SocketFrame).boxed(),
        page.event_listener::<EventBindingCalled>().await?.map(Ev::Binding).boxed(),
    ];
    Ok(futures::stream::select_all(streams).boxed())
}

fn top_stack_url(stack: &Option<StackTrace>) -> Option<String> {
    let mut st = stack.as_ref();
    while let Some(s) = st {
        if let Some(f) = s.call_frames.iter().find(|f| !f.url.is_empty()) {
            return Some(f.url.clone());
        }
        st = s.parent.as_deref();
    }
    None
}

fn host_with_port(url: &str) -> Option<String> {
    let u = url::Url::parse(url).ok()?;
    if !matches!(u.scheme(), "http" | "https" | "ws" | "wss") {
        return None;
    }
    let host = u.host_str()?.to_string();
    Some(match u.port() {
        Some(p) => format!("{host}:{p}"),
        None => host,
    })
}

impl Observed {
    fn apply(&mut self, ev: Ev) {
        self.last_activity = Some(Instant::now());
        match ev {
            Ev::Script(s) => {
                if self.scripts.len() < MAX_SCRIPTS {
                    self.scripts.push(s)
                }
            }
            Ev::Context(c) => {
                let aux = c.context.aux_data.as_ref();
                let frame = aux
                    .and_then(|a| a.get("frameId"))
                    .and_then(|v| v.as_str())
                    .unwrap_or_default()
                    .to_string();
                let is_default = aux
                    .and_then(|a| a.get("isDefault"))
                    .and_then(|v| v.as_bool())
                    .unwrap_or(false);
                self.contexts.insert(*c.context.id.inner(), (frame, is_default));
            }
            Ev::Frame(f) => {
                let id = f.frame.id.inner().clone();
                if f.frame.parent_id.is_none() {
                    self.main_frame = Some(id.clone());
                }
                if !self.frames.contains_key(&id) {
                    self.frame_order.push(id.clone());
                }
                self.frames.insert(
                    id,
                    (f.frame.url.clone(), f.frame.parent_id.as_ref().map(|p| p.inner().clone())),
                );
            }
            Ev::Request(r) => {
                let url = &r.request.url;
                self.requested.insert(strip_fragment(url).to_string());
                if let Some(h) = host_with_port(url) {
                    self.hosts.insert(h);
                }
                if let Some(src) = top_stack_url(&r.initiator.stack) {
                    self.initiators.entry(url.clone()).or_insert(src);
                }
                // Only network requests can be "in flight"; data: and blob: never report an end.
                if url.starts_with("http:") || url.starts_with("https:") {
                    self.in_flight.insert(r.request_id.inner().clone(), url.clone());
                }
                self.record_request(&r);
            }
            Ev::Response(r) => {
                // An answered request counts as settled even if its body events never come
                // (Chromium omits loadingFinished for some cached or aborted loads).
                self.in_flight.remove(r.request_id.inner());
                let is_main_doc = r.r#type == ResourceType::Document
                    && self.main_document.is_none()
                    && (self.main_frame.is_none()
                        || r.frame_id.as_ref().map(|f| f.inner()) == self.main_frame.as_ref());
                if is_main_doc {
                    let mut headers = BTreeMap::new();
                    if let Some(obj) = r.response.headers.inner().as_object() {
                        for (k, v) in obj {
                            let name = k.to_ascii_lowercase();
                            if SECURITY_HEADERS.contains(&name.as_str()) {
                                let value = v.as_str().unwrap_or_default().to_string();
                                headers.insert(name, value);
                            }
                        }
                    }
                    self.main_document =
                        Some((r.response.status as u16, headers, r.response.url.clone()));
                }
            }
            Ev::Finished(id) | Ev::Failed(id) => {
                self.in_flight.remove(&id);
            }
            Ev::Socket(s) => {
                if let Some(h) = host_with_port(&s.url) {
                    self.hosts.insert(h);
                }
                self.record_socket(&s);
                if let Some(src) = s.initiator.as_ref().and_then(|i| top_stack_url(&i.stack)) {
                    self.initiators.entry(s.url.clone()).or_insert(src);
                }
            }
            Ev::Load => self.load_fired = true,
            Ev::SocketFrame(f) => self.record_socket_frame(&f),
            Ev::Binding(b) => {
                let ours = self.own.as_ref().is_some_and(|o| o.binding == b.name);
                if ours && self.accesses.len() < 5_000 {
                    if let Some(a) = shopper::parse_access(&b.payload) {
                        if a.a == "send" {
                            self.image_senders.push((a, *b.execution_context_id.inner()));
                        } else {
                            self.accesses.push((a, *b.execution_context_id.inner()));
                        }
                    }
                }
            }
        }
    }
}

/// What the in-page probe reports for one frame.
#[derive(Debug, Default, Deserialize)]
struct FrameFacts {
    url: String,
    inline: Vec<InlineFact>,
    handlers: Vec<HandlerFact>,
    fields: Vec<FieldFact>,
}

#[derive(Debug, Deserialize)]
struct InlineFact {
    text: String,
    id: Option<String>,
}

#[derive(Debug, Deserialize)]
struct HandlerFact {
    ctx: String,
    value: String,
}

#[derive(Debug, Deserialize)]
struct FieldFact {
    selector: String,
    reason: String,
}

/// Runs in each frame's main world after the page settled. Bounded: at most 20 000 elements.
const PROBE_JS: &str = r#"(() => {
  const out = { url: location.href, inline: [], handlers: [], fields: [] };
  const desc = (el) => {
    let d = el.tagName.toLowerCase();
    if (el.id) return d + '#' + el.id;
    const n = el.getAttribute('name');
    if (n) return d + '[name=' + JSON.stringify(n) + ']';
    return d;
  };
  for (const s of document.querySelectorAll('script:not([src])')) {
    out.inline.push({ text: s.text, id: s.id || null });
  }
  let count = 0;
  for (const el of document.querySelectorAll('*')) {
    if (++count > 20000) break;
    for (const a of el.attributes) {
      if (/^on/i.test(a.name)) out.handlers.push({ ctx: desc(el) + '@' + a.name.toLowerCase(), value: a.value });
    }
  }
  const cardWords = /(card.?num|cc.?num|cardnumber|credit.?card|(^|[^a-z])(card|cc|pan|cvv|cvc|csc|cvv2)([^a-z]|$)|security.?code|expir|exp.?date|exp.?month|exp.?year)/i;
  for (const el of document.querySelectorAll('input, select')) {
    const ac = (el.getAttribute('autocomplete') || '').toLowerCase();
    let reason = null;
    if (/(^|\s)cc-/.test(ac)) reason = 'autocomplete=' + ac;
    else {
      for (const attr of ['name', 'id', 'placeholder', 'aria-label', 'data-elements-stable-field-name']) {
        const v = el.getAttribute(attr);
        if (v && cardWords.test(v)) { reason = attr + '~' + v.slice(0, 40); break; }
      }
      if (!reason && el.labels) for (const l of el.labels) {
        if (cardWords.test(l.textContent || '')) { reason = 'label~' + (l.textContent || '').trim().slice(0, 40); break; }
      }
    }
    if (reason) {
      let sel = el.id ? '#' + CSS.escape(el.id)
        : el.getAttribute('name') ? el.tagName.toLowerCase() + '[name="' + el.getAttribute('name').replace(/"/g, '\\"') + '"]'
        : el.tagName.toLowerCase() + '[autocomplete="' + ac + '"]';
      out.fields.push({ selector: sel, reason });
    }
  }
  return JSON.stringify(out);
})()
//# sourceURL=__skimwatch_probe__.js"#;

async fn capture_page(page: &Page, url: &str, opts: &CaptureOptions, version: &str) -> Result<Snapshot, CaptureError> {
    let started = Instant::now();
    let berr = |e: chromiumoxide::error::CdpError| CaptureError::Browser {
        url: url.to_string(),
        reason: e.to_string(),
    };
    let own = Own::generate();
    let canary = Canary::generate();
    // Listen before enabling anything, so no event is missed.
    let mut events = listen(page).await.map_err(berr)?;
    let observed = Arc::new(Mutex::new(Observed { own: Some(own.clone()), ..Observed::default() }));
    let activity = Arc::new(Notify::new());
    let collector = {
        let observed = observed.clone();
        let activity = activity.clone();
        tokio::spawn(async move {
            while let Some(ev) = events.next().await {
                observed.lock().unwrap().apply(ev);
                activity.notify_waiters();
            }
        })
    };
    // Abort the collector however we leave this function.
    struct AbortOnDrop(tokio::task::JoinHandle<()>);
    impl Drop for AbortOnDrop {
        fn drop(&mut self) {
            self.0.abort();
        }
    }
    let _collector = AbortOnDrop(collector);

    page.execute(DebuggerEnable::builder().max_scripts_cache_size(512.0 * 1024.0 * 1024.0).build())
        .await
        .map_err(berr)?;
    page.execute(chromiumoxide::cdp::browser_protocol::network::EnableParams::default())
        .await
        .map_err(berr)?;
    page.execute(chromiumoxide::cdp::browser_protocol::network::SetCacheDisabledParams::new(true))
        .await
        .map_err(berr)?;
    // A shopper's browser, and card fields instrumented before any page script runs.
    shopper::prepare(page, opts.profile, version, &own, &opts.payment_fields).await.map_err(berr)?;

    let nav = tokio::time::timeout(opts.timeout, page.execute(NavigateParams::new(url)))
        .await
        .map_err(|_| CaptureError::Timeout {
            url: url.to_string(),
            secs: opts.timeout.as_secs_f64(),
            stage: "navigation",
        })?
        .map_err(berr)?;
    if let Some(err) = nav.result.error_text.as_ref().filter(|e| !e.is_empty()) {
        return Err(CaptureError::Load { url: url.to_string(), reason: err.clone() });
    }
    let main_frame_id = nav.result.frame_id.inner().clone();
    observed.lock().unwrap().main_frame.get_or_insert(main_frame_id.clone());

    // Wait for the load event.
    let deadline = started + opts.timeout;
    loop {
        let notified = activity.notified();
        if observed.lock().unwrap().load_fired {
            break;
        }
        if tokio::time::timeout_at(deadline.into(), notified).await.is_err() {
            return Err(CaptureError::Timeout {
                url: url.to_string(),
                secs: opts.timeout.as_secs_f64(),
                stage: "waiting for the load event",
            });
        }
    }
    if let Some((status, _, _)) = &observed.lock().unwrap().main_document {
        if *status >= 400 {
            return Err(CaptureError::HttpStatus { url: url.to_string(), status: *status });
        }
    }

    // Act like a shopper once the page's own scripts have set up (quiet, or a few seconds).
    let loaded = Instant::now();
    let mut acted = shopper::Acted::default();
    if opts.interact != InteractMode::None {
        let ready_by = loaded + BEFORE_INTERACTION_MAX;
        loop {
            let notified = activity.notified();
            let now = Instant::now();
            let (quiet_since, idle) = {
                let o = observed.lock().unwrap();
                (o.last_activity.unwrap_or(loaded), o.in_flight.is_empty())
            };
            if now >= ready_by || (idle && now >= quiet_since + QUIET) {
                break;
            }
            let wake = (quiet_since + QUIET).max(now + Duration::from_millis(20)).min(ready_by);
            let _ = tokio::time::timeout_at(wake.into(), notified).await;
        }
        let frames: Vec<shopper::FrameCtx> = {
            let o = observed.lock().unwrap();
            let main = o.main_frame.clone().unwrap_or_else(|| main_frame_id.clone());
            let mut frames: Vec<shopper::FrameCtx> = o
                .contexts
                .iter()
                .filter(|(_, (_, default))| *default)
                .map(|(id, (frame, _))| shopper::FrameCtx { context: *id, frame_id: frame.clone(), is_main: *frame == main })
                .collect();
            // Newest context of a frame first: older ones belong to documents already gone.
            frames.sort_by_key(|f| (!f.is_main, std::cmp::Reverse(f.context)));
            let mut seen = BTreeSet::new();
            frames.retain(|f| seen.insert(f.frame_id.clone()));
            frames
        };
        let page_origin = url::Url::parse(url).map(|u| u.origin().ascii_serialization()).unwrap_or_default();
        let shopper = shopper::Shopper {
            page,
            own: &own,
            canary: &canary,
            mode: opts.interact,
            selectors: &opts.payment_fields,
            page_origin,
        };
        match tokio::time::timeout(INTERACTION_BUDGET, shopper.run(&frames)).await {
            Ok(a) => acted = a,
            Err(_) => acted.problems.push(format!("interaction stopped after {} s", INTERACTION_BUDGET.as_secs())),
        }
    }
    let interacted = Instant::now();

    // Settle: at least `settle` after load (and a little after the interaction), then until
    // quiet (nothing new, nothing in flight), but never longer than that plus `SETTLE_GRACE`.
    let min_until = (loaded + opts.settle).max(if opts.interact == InteractMode::None { loaded } else { interacted + AFTER_INTERACTION });
    let max_until = min_until + SETTLE_GRACE;
    loop {
        let notified = activity.notified();
        let now = Instant::now();
        if now >= max_until {
            let o = observed.lock().unwrap();
            tracing::debug!(%url, in_flight = ?o.in_flight.values().collect::<Vec<_>>(), "settle: page never went quiet");
            break;
        }
        let (quiet_since, idle) = {
            let o = observed.lock().unwrap();
            (o.last_activity.unwrap_or(loaded), o.in_flight.is_empty())
        };
        let quiet_at = quiet_since + QUIET;
        if now >= min_until && now >= quiet_at && idle {
            break;
        }
        // Wake on the next event or when the next condition can become true.
        let wake = [min_until.max(quiet_at), max_until]
            .into_iter()
            .filter(|t| *t > now)
            .min()
            .unwrap_or(now + QUIET);
        let _ = tokio::time::timeout_at(wake.into(), notified).await;
    }

    // Probe each frame's main world for inline scripts, handler attributes and payment fields.
    let contexts: Vec<(i64, String)> = {
        let o = observed.lock().unwrap();
        o.contexts
            .iter()
            .filter(|(_, (_, default))| *default)
            .map(|(id, (frame, _))| (*id, frame.clone()))
            .collect()
    };
    let mut facts: HashMap<String, FrameFacts> = HashMap::new();
    let probe_js = PROBE_JS.replace(PROBE_URL, &own.marker);
    let mut configured: BTreeMap<String, i64> = opts.payment_fields.iter().map(|s| (s.clone(), 0)).collect();
    let mut configured_fields: Vec<(String, String)> = Vec::new();
    for (ctx, frame) in contexts {
        // Configured payment-field selectors: count matches per frame.
        if !opts.payment_fields.is_empty() {
            if let Some(ff) = shopper::frame_fields(page, &own, ctx, &opts.payment_fields).await {
                for (sel, n) in ff.configured {
                    if n > 0 {
                        configured_fields.push((frame.clone(), sel.clone()));
                    }
                    let total = configured.entry(sel).or_insert(0);
                    if n < 0 {
                        *total = (*total).min(-1);
                    } else if *total >= 0 {
                        *total += n;
                    }
                }
            }
        }
        let params = EvaluateParams::builder()
            .expression(probe_js.as_str())
            .context_id(chromiumoxide::cdp::js_protocol::runtime::ExecutionContextId::new(ctx))
            .return_by_value(true)
            .build()
            .map_err(|e| CaptureError::Browser { url: url.to_string(), reason: e })?;
        // A context may be gone (frame navigated away): skip it.
        let Ok(Ok(res)) = tokio::time::timeout(Duration::from_secs(5), page.execute(params)).await else {
            continue;
        };
        if let Some(text) = res.result.result.value.as_ref().and_then(|v| v.as_str()) {
            if let Ok(f) = serde_json::from_str::<FrameFacts>(text) {
                facts.insert(frame, f);
            }
        }
    }

    // Frame tree at the end: the frames that exist now (and the main frame's final URL).
    if let Ok(tree) = page.execute(GetFrameTreeParams::default()).await {
        let mut o = observed.lock().unwrap();
        let mut stack = vec![tree.result.frame_tree];
        while let Some(node) = stack.pop() {
            let id = node.frame.id.inner().clone();
            if node.frame.parent_id.is_none() {
                o.main_frame = Some(id.clone());
            }
            if !o.frames.contains_key(&id) {
                o.frame_order.push(id.clone());
            }
            o.frames.insert(id, (node.frame.url.clone(), node.frame.parent_id.as_ref().map(|p| p.inner().clone())));
            stack.extend(node.child_frames.unwrap_or_default());
        }
    }

    let observed = {
        let mut o = observed.lock().unwrap();
        std::mem::take(&mut *o)
    };
    let main_frame = observed.main_frame.clone().unwrap_or(main_frame_id);
    let (status, headers, final_url) = observed
        .main_document
        .clone()
        .ok_or_else(|| CaptureError::Load { url: url.to_string(), reason: "no document response".into() })?;
    if status >= 400 {
        return Err(CaptureError::HttpStatus { url: url.to_string(), status });
    }

    // Fetch sources (CDP calls are cheap; do them concurrently, bounded).
    let wanted: Vec<Arc<EventScriptParsed>> = observed
        .scripts
        .iter()
        .filter(|s| !own.is_own(&s.url))
        .filter(|s| {
            observed
                .contexts
                .get(s.execution_context_id.inner())
                .map(|(_, default)| *default)
                .unwrap_or(false)
        })
        .cloned()
        .collect();
    let mut sources: Vec<Option<String>> = Vec::with_capacity(wanted.len());
    for chunk in wanted.chunks(16) {
        let calls = chunk.iter().map(|s| page.execute(GetScriptSourceParams::new(s.script_id.clone())));
        for r in futures::future::join_all(calls).await {
            sources.push(r.ok().map(|r| r.result.script_source));
        }
    }

    let frame_url_of = |ctx: i64, fallback: &str| -> (String, bool) {
        let frame = observed.contexts.get(&ctx).map(|(f, _)| f.clone()).unwrap_or_default();
        let url = observed
            .frames
            .get(&frame)
            .map(|(u, _)| u.clone())
            .filter(|u| !u.is_empty())
            .unwrap_or_else(|| fallback.to_string());
        (url, frame == main_frame)
    };

    let mut scripts = Vec::new();
    // script id → index in `scripts`, to name the senders of card data and field readers.
    let mut index_of: HashMap<String, usize> = HashMap::new();
    for (ev, source) in wanted.iter().zip(sources) {
        let Some(mut source) = source else {
            tracing::debug!(url = %ev.url, "script source no longer available");
            continue;
        };
        if source.len() > MAX_SOURCE_BYTES {
            let mut cut = MAX_SOURCE_BYTES;
            while !source.is_char_boundary(cut) {
                cut -= 1;
            }
            source.truncate(cut);
        }
        let (frame_url, main) = frame_url_of(*ev.execution_context_id.inner(), &final_url);
        let frame_facts = facts.get(
            observed.contexts.get(ev.execution_context_id.inner()).map(|(f, _)| f.as_str()).unwrap_or(""),
        );
        let caller = top_stack_url(&ev.stack_trace);
        let position = Some((ev.start_line.max(0) as u32, ev.start_column.max(0) as u32));
        let same_doc = !ev.url.is_empty() && strip_fragment(&ev.url) == strip_fragment(&frame_url);
        // `//# sourceURL=` lets code name itself: eval'd code could pose as any external file
        // (even a trusted vendor's URL). A claimed URL counts only for code that was really
        // fetched from it and not compiled from a string by another script.
        let claimed_url = ev.has_source_url == Some(true) && !ev.url.is_empty() && !same_doc_url(&ev.url, &frame_url);
        let spoofable = claimed_url && (caller.is_some() || !observed.requested.contains(strip_fragment(&ev.url)));
        let (kind, script_url, context, initiator) = if spoofable {
            let inline = frame_facts.and_then(|f| f.inline.iter().find(|i| i.text == source));
            match inline {
                Some(i) => (ScriptKind::Inline, None, i.id.clone(), None),
                None => (ScriptKind::Eval, None, Some(format!("sourceURL={}", one_line(&ev.url))), caller),
            }
        } else if ev.url.starts_with("data:") || ev.url.starts_with("blob:") {
            (ScriptKind::Data, Some(ev.url.clone()), None, caller.or_else(|| observed.initiators.get(&ev.url).cloned()))
        } else if ev.url.is_empty() {
            // Compiled from a string: eval, new Function, string timers. A handler attribute
            // may also arrive without a URL; the DOM tells them apart.
            match frame_facts.and_then(|f| f.handlers.iter().find(|h| h.value == source)) {
                Some(h) => (ScriptKind::Handler, None, Some(h.ctx.clone()), None),
                None => (ScriptKind::Eval, None, None, caller),
            }
        } else if same_doc {
            if let Some(h) = frame_facts.and_then(|f| f.handlers.iter().find(|h| h.value == source)) {
                (ScriptKind::Handler, None, Some(h.ctx.clone()), None)
            } else {
                let id = frame_facts
                    .and_then(|f| f.inline.iter().find(|i| i.text == source))
                    .and_then(|i| i.id.clone());
                let kind = if ev.is_module == Some(true) { ScriptKind::Module } else { ScriptKind::Inline };
                (kind, None, id, None)
            }
        } else if ev.is_module == Some(true) {
            (ScriptKind::Module, Some(ev.url.clone()), None, observed.initiators.get(&ev.url).cloned())
        } else {
            (ScriptKind::External, Some(ev.url.clone()), None, observed.initiators.get(&ev.url).cloned())
        };
        let initiator = initiator.map(|i| {
            if strip_fragment(&i) == strip_fragment(&frame_url) {
                format!("inline:{}", strip_fragment(&frame_url))
            } else {
                i
            }
        });
        index_of.insert(ev.script_id.inner().clone(), scripts.len());
        scripts.push(RawScript {
            kind,
            url: script_url,
            frame_url,
            main_frame: main,
            source,
            initiator,
            context,
            position: if matches!(kind, ScriptKind::Inline | ScriptKind::Handler | ScriptKind::Module) { position } else { None },
        });
    }

    let mut frames: Vec<String> = Vec::new();
    if let Some((u, _)) = observed.frames.get(&main_frame) {
        frames.push(u.clone());
    }
    for id in &observed.frame_order {
        if *id != main_frame {
            if let Some((u, _)) = observed.frames.get(id) {
                if !u.is_empty() && u != "about:blank" {
                    frames.push(u.clone());
                }
            }
        }
    }
    let mut payment_fields = Vec::new();
    for id in std::iter::once(&main_frame).chain(observed.frame_order.iter().filter(|f| **f != main_frame)) {
        if let Some(f) = facts.get(id) {
            for field in &f.fields {
                payment_fields.push(PaymentField {
                    frame_url: f.url.clone(),
                    selector: field.selector.clone(),
                    reason: field.reason.clone(),
                });
            }
        }
    }

    // Configured selectors: matched ones are payment fields, unmatched ones are reported.
    for (frame, sel) in &configured_fields {
        let frame_url = observed.frames.get(frame).map(|(u, _)| u.clone()).unwrap_or_else(|| final_url.clone());
        if !payment_fields.iter().any(|p: &PaymentField| p.frame_url == frame_url && p.selector == *sel) {
            payment_fields.push(PaymentField { frame_url, selector: sel.clone(), reason: "configured".into() });
        }
    }
    let unmatched_payment_fields: Vec<String> = configured
        .iter()
        .filter(|(_, n)| **n <= 0)
        .map(|(sel, n)| if *n < 0 { format!("{sel} (not a valid CSS selector)") } else { sel.clone() })
        .collect();

    // Card data leaving the page: search everything that was sent for the canary.
    let mut observed = observed;
    for out in observed.outgoing.iter_mut().filter(|o| o.needs_body).take(MAX_BODY_FETCHES) {
        let params = GetRequestPostDataParams::new(chromiumoxide::cdp::browser_protocol::network::RequestId::new(out.request_id.clone()));
        if let Ok(Ok(r)) = tokio::time::timeout(Duration::from_secs(2), page.execute(params)).await {
            out.body = Some(cut(&r.result.post_data, crate::capture::canary::MAX_HAYSTACK).to_string());
        }
    }
    let card_leaks = find_leaks(&observed, &canary, &final_url, &index_of, &opts.card_data_hosts);
    let field_access = resolve_accesses(&observed, &main_frame, &index_of);
    let blocked = acted.blocked.lock().map(|b| b.clone()).unwrap_or_default();
    let interaction = Interaction {
        mode: opts.interact,
        profile: opts.profile,
        canary: (!acted.fields_typed.is_empty()).then(|| canary.masked()),
        fields_typed: Vec::new(),
        typed: acted.fields_typed.clone(),
        submitted: acted.submitted,
        blocked,
        problems: acted.problems.clone(),
    };
    drop(acted);

    Ok(Snapshot {
        unmatched_payment_fields,
        card_leaks,
        field_access,
        interaction: Some(interaction),
        url: url.to_string(),
        final_url,
        status,
        headers,
        scripts,
        frames,
        hosts: observed.hosts.into_iter().collect(),
        payment_fields,
        elapsed_ms: started.elapsed().as_millis() as u64,
    })
}

fn same_doc_url(a: &str, b: &str) -> bool {
    strip_fragment(a) == strip_fragment(b)
}

/// A page-chosen string cut to one short line, for use in a context label.
fn one_line(s: &str) -> String {
    s.chars().filter(|c| !c.is_control()).take(200).collect()
}

fn strip_fragment(u: &str) -> &str {
    u.split('#').next().unwrap_or(u)
}



/// The innermost stack frame that is page code (not ours): script id and URL.
fn top_stack_frame(stack: &Option<StackTrace>, own: Option<&Own>) -> Option<StackTop> {
    let mut st = stack.as_ref();
    while let Some(s) = st {
        if let Some(f) = s.call_frames.iter().find(|f| !f.url.is_empty() && !own.is_some_and(|o| o.is_own(&f.url))) {
            return Some((f.script_id.inner().clone(), f.url.clone()));
        }
        st = s.parent.as_deref();
    }
    None
}

/// The channel a request of this type and method is: how the data left.
fn channel_of(kind: Option<&ResourceType>, method: &str) -> Channel {
    match kind {
        Some(ResourceType::Image) => Channel::Image,
        Some(ResourceType::Fetch) => Channel::Fetch,
        Some(ResourceType::Xhr) => Channel::Xhr,
        Some(ResourceType::Ping) => Channel::Beacon,
        Some(ResourceType::Document) if method != "GET" => Channel::Form,
        Some(ResourceType::Document) => Channel::Navigation,
        Some(ResourceType::Script) => Channel::Script,
        Some(ResourceType::Stylesheet) => Channel::Stylesheet,
        Some(ResourceType::Font) => Channel::Font,
        Some(ResourceType::Media) => Channel::Media,
        Some(ResourceType::EventSource) => Channel::Eventsource,
        Some(ResourceType::WebSocket) => Channel::Websocket,
        Some(ResourceType::Prefetch) => Channel::Prefetch,
        Some(ResourceType::CspViolationReport) => Channel::CspReport,
        _ => Channel::Other,
    }
}

impl Observed {
    fn record_request(&mut self, r: &EventRequestWillBeSent) {
        if self.outgoing.len() >= MAX_OUTGOING {
            return;
        }
        let headers: Vec<(String, String)> = r
            .request
            .headers
            .inner()
            .as_object()
            .map(|o| o.iter().map(|(k, v)| (k.to_ascii_lowercase(), v.as_str().unwrap_or_default().to_string())).collect())
            .unwrap_or_default();
        let body = r.request.post_data_entries.as_ref().map(|entries| {
            let mut bytes = Vec::new();
            for e in entries {
                if let Some(b) = &e.bytes {
                    let text: &str = b.as_ref();
                    if let Ok(decoded) = base64::Engine::decode(&base64::engine::general_purpose::STANDARD, text) {
                        bytes.extend_from_slice(&decoded);
                    }
                }
                if bytes.len() > crate::capture::canary::MAX_HAYSTACK {
                    break;
                }
            }
            String::from_utf8_lossy(&bytes[..bytes.len().min(crate::capture::canary::MAX_HAYSTACK)]).into_owned()
        });
        let needs_body = r.request.has_post_data == Some(true) && body.as_deref().map_or(true, str::is_empty);
        let mut url = r.request.url.clone();
        if let Some(fragment) = &r.request.url_fragment {
            url.push_str(fragment);
        }
        self.outgoing.push(Outgoing {
            request_id: r.request_id.inner().clone(),
            url,
            method: r.request.method.clone(),
            headers,
            body,
            needs_body,
            channel: channel_of(r.r#type.as_ref(), &r.request.method),
            frame_id: r.frame_id.as_ref().map(|f| f.inner().clone()),
            sender: top_stack_frame(&r.initiator.stack, self.own.as_ref()),
        });
    }

    fn record_socket(&mut self, s: &EventWebSocketCreated) {
        let sender = s.initiator.as_ref().and_then(|i| top_stack_frame(&i.stack, self.own.as_ref()));
        let frame = self.main_frame.clone();
        self.sockets.insert(s.request_id.inner().clone(), (s.url.clone(), sender.clone(), frame.clone()));
        if self.outgoing.len() < MAX_OUTGOING {
            self.outgoing.push(Outgoing {
                request_id: s.request_id.inner().clone(),
                url: s.url.clone(),
                method: "GET".into(),
                headers: Vec::new(),
                body: None,
                needs_body: false,
                channel: Channel::Websocket,
                frame_id: frame,
                sender,
            });
        }
    }

    fn record_socket_frame(&mut self, f: &EventWebSocketFrameSent) {
        if self.outgoing.len() >= MAX_OUTGOING {
            return;
        }
        let id = f.request_id.inner();
        let (url, sender, frame) = self.sockets.get(id).cloned().unwrap_or_default();
        let payload = &f.response.payload_data;
        // Text frames come as text; binary ones as base64 of the bytes.
        let body = if f.response.opcode == 1.0 {
            cut(payload, crate::capture::canary::MAX_HAYSTACK).to_string()
        } else {
            base64::Engine::decode(&base64::engine::general_purpose::STANDARD, payload)
                .map(|b| String::from_utf8_lossy(&b).into_owned())
                .unwrap_or_default()
        };
        self.outgoing.push(Outgoing {
            request_id: id.clone(),
            url,
            method: "SEND".into(),
            headers: Vec::new(),
            body: Some(body),
            needs_body: false,
            channel: Channel::Websocket,
            frame_id: frame,
            sender,
        });
    }
}

/// Every outgoing request or frame that carries the canary.
fn find_leaks(
    o: &Observed,
    canary: &Canary,
    final_url: &str,
    index_of: &HashMap<String, usize>,
    allow: &[String],
) -> Vec<CardLeak> {
    let mut leaks = Vec::new();
    for out in &o.outgoing {
        let mut places: Vec<(String, &str)> = vec![("url".into(), out.url.as_str())];
        for (name, value) in &out.headers {
            // The page's own URL in Referer is the page, not a leak by the request.
            if name != "referer" {
                places.push((format!("header {name}"), value.as_str()));
            }
        }
        if let Some(body) = &out.body {
            places.push((if out.method == "SEND" { "frame".into() } else { "body".into() }, body.as_str()));
        }
        let Some((found_in, encoding)) = places.into_iter().find_map(|(place, text)| canary.find(text).map(|e| (place, e)))
        else {
            continue;
        };
        let host = host_with_port(&out.url).unwrap_or_else(|| out.url.split(['/', '?']).next().unwrap_or("").to_string());
        let frame_url = out
            .frame_id
            .as_ref()
            .and_then(|f| o.frames.get(f))
            .map(|(u, _)| u.clone())
            .filter(|u| !u.is_empty())
            .unwrap_or_else(|| final_url.to_string());
        let mut shown = canary.mask_in(&out.url);
        if shown.len() > 2000 {
            shown = format!("{}…", cut(&shown, 2000));
        }
        let mut script_url = out.sender.as_ref().map(|(_, u)| u.clone());
        let mut script_index = out.sender.as_ref().and_then(|(id, _)| index_of.get(id).copied());
        if out.sender.is_none() {
            // An image: the prelude noted which script pointed an image at this URL.
            let reported = o.image_senders.iter().rev().find(|(a, _)| {
                a.url.as_deref().is_some_and(|u| strip_fragment(u) == strip_fragment(&out.url) || (u.len() >= 8192 && out.url.starts_with(u)))
            });
            if let Some((a, ctx)) = reported {
                script_url = Some(a.s.u.clone());
                script_index = script_at(o, &a.s, *ctx, index_of);
            }
        }
        leaks.push(CardLeak {
            allowed: crate::config::hosts::host_allowed(&host, allow),
            destination: Destination {
                url: shown,
                host,
                channel: out.channel,
                method: Some(out.method.clone()),
                found_in: Some(found_in),
                encoding: Some(encoding),
            },
            frame_url,
            script: None,
            script_url,
            script_index,
        });
    }
    leaks
}

/// The script at a reported stack location: the script with that URL whose source range holds
/// the line and column, preferring the frame the report came from, then the latest.
fn script_at(o: &Observed, at: &shopper::StackLocation, ctx: i64, index_of: &HashMap<String, usize>) -> Option<usize> {
    let frame = o.contexts.get(&ctx).map(|(f, _)| f.clone()).unwrap_or_default();
    let (line, col) = (at.l - 1, at.c - 1);
    let mut best: Option<(&Arc<EventScriptParsed>, bool)> = None;
    for s in o.scripts.iter().filter(|s| {
        strip_fragment(&s.url) == strip_fragment(&at.u)
            && (s.start_line, s.start_column) <= (line, col)
            && (line, col) <= (s.end_line, s.end_column.max(col))
            && index_of.contains_key(s.script_id.inner())
    }) {
        let same_frame = o.contexts.get(s.execution_context_id.inner()).map(|(f, _)| f == &frame).unwrap_or(false);
        if best.map_or(true, |(_, sf)| same_frame || !sf) {
            best = Some((s, same_frame));
        }
    }
    best.and_then(|(s, _)| index_of.get(s.script_id.inner()).copied())
}

/// Names the script behind each reported field access.
fn resolve_accesses(o: &Observed, main_frame: &str, index_of: &HashMap<String, usize>) -> Vec<FieldAccess> {
    let mut out = Vec::new();
    for (a, ctx) in &o.accesses {
        let frame = o.contexts.get(ctx).map(|(f, _)| f.clone()).unwrap_or_default();
        let frame_url = o.frames.get(&frame).map(|(u, _)| u.clone()).filter(|u| !u.is_empty()).unwrap_or_else(|| a.u.clone());
        // `parse_access` lets only `listen`, `read` and `send` through, and `send` goes elsewhere.
        let Some(action) = FieldAction::parse(&a.a) else { continue };
        out.push(FieldAccess {
            access: FieldAccessRef {
                // Named by the inventory, which owns frame keys.
                frame: String::new(),
                field: a.f.clone(),
                action,
                event: a.e.clone(),
            },
            frame_url,
            script: None,
            script_url: Some(a.s.u.clone()),
            script_index: script_at(o, &a.s, *ctx, index_of),
            main_frame: frame == main_frame,
        });
    }
    out
}
