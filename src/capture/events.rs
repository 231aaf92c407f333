//! Events: what the CDP listeners report during one capture, folded into [`Observed`] in
//! arrival order — compiled scripts, execution contexts, frames, requests and responses,
//! WebSocket frames, and the prelude's binding calls (card-field accesses, image URLs). Every
//! list is bounded, because a hostile page can produce events without end, and every bound
//! counts what it dropped ([`super::limits`]).

use super::classify::strip_fragment;
use super::limits::{
    head_and_tail, Cap, Counts, MAX_ACCESSES, MAX_COOKIE_WRITES, MAX_HAYSTACK, MAX_IMAGE_SENDERS, MAX_OUTGOING,
    MAX_OUTGOING_BYTES, MAX_SCRIPTS, MAX_SET_COOKIES,
};
use super::stealth::{parse_access, Own, ReportedAccess};
use crate::model::{Channel, SECURITY_HEADERS};
use chromiumoxide::cdp::browser_protocol::network::{
    EventLoadingFailed, EventLoadingFinished, EventRequestWillBeSent, EventResponseReceived, EventWebSocketCreated,
    EventWebSocketFrameSent, ResourceType,
};
use chromiumoxide::cdp::browser_protocol::page::{EventFrameNavigated, EventLoadEventFired};
use chromiumoxide::cdp::js_protocol::debugger::EventScriptParsed;
use chromiumoxide::cdp::js_protocol::runtime::{EventBindingCalled, EventExecutionContextCreated, StackTrace};
use chromiumoxide::Page;
use futures::stream::{BoxStream, StreamExt};
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::time::Instant;

/// Everything the event listeners saw, in arrival order.
#[derive(Default)]
pub(super) struct Observed {
    pub(super) scripts: Vec<Arc<EventScriptParsed>>,
    /// execution context id → (frame id, is default world)
    pub(super) contexts: HashMap<i64, (String, bool)>,
    /// frame id → latest URL, parent
    pub(super) frames: HashMap<String, (String, Option<String>)>,
    pub(super) frame_order: Vec<String>,
    /// request URL → URL of the script that initiated it
    pub(super) initiators: HashMap<String, String>,
    /// Every URL the page requested over the network, to tell a real script URL from one a
    /// script claims for itself with `//# sourceURL=`.
    pub(super) requested: HashSet<String>,
    pub(super) hosts: BTreeSet<String>,
    /// request id → URL, for requests not yet finished or failed
    pub(super) in_flight: HashMap<String, String>,
    pub(super) main_document: Option<(u16, BTreeMap<String, String>, String)>,
    pub(super) main_frame: Option<String>,
    pub(super) load_fired: bool,
    /// Document requests of the main frame so far (a journey step tells by it whether it
    /// navigated).
    pub(super) main_doc_requests: u64,
    /// Execution contexts of documents a journey left (see `journey`): not the page's.
    pub(super) left_behind: HashSet<i64>,
    pub(super) last_activity: Option<Instant>,
    /// Our own code's marker and binding (per scan).
    pub(super) own: Option<Own>,
    /// Script ids of the monitor's own code: compiled from exactly a source it injected (the
    /// event's SHA-256), whatever URL or marker any code claims.
    pub(super) own_scripts: HashSet<String>,
    /// Everything the page sent, for the canary search: the first `MAX_OUTGOING / 2` here, the
    /// most recent ones in `outgoing_tail` until [`Observed::finish`] joins them.
    pub(super) outgoing: Vec<Outgoing>,
    pub(super) outgoing_tail: VecDeque<Outgoing>,
    /// Requests and frames the page sent, kept or not.
    pub(super) outgoing_seen: usize,
    /// Bytes of bodies and URLs held in `outgoing` and `outgoing_tail`.
    pub(super) outgoing_bytes: usize,
    /// What each limit saw and kept.
    pub(super) counts: Counts,
    /// Accesses already recorded (the same access reported again is not a new one).
    pub(super) access_keys: HashSet<String>,
    /// WebSocket request id → (URL, sender, frame).
    pub(super) sockets: HashMap<String, (String, Option<StackTop>, Option<String>)>,
    /// Card-field accesses the prelude reported, with the execution context.
    pub(super) accesses: Vec<(ReportedAccess, i64)>,
    /// Image URLs set by scripts (image requests carry no initiator stack), with the context.
    pub(super) image_senders: Vec<(ReportedAccess, i64)>,
    /// request id → the headers really sent (`Network.requestWillBeSentExtraInfo`: with
    /// `Cookie` and `Referer`, which `requestWillBeSent` lacks), per redirect hop.
    pub(super) sent_headers: HashMap<String, Vec<Vec<(String, String)>>>,
    /// The other target (popup, worker) whose event is being folded in, if any.
    pub(super) source: Option<Source>,
    /// request id → URL of the tab's requests (the first [`MAX_OUTGOING`]), to name the
    /// response that set a cookie.
    pub(super) request_urls: HashMap<String, String>,
    /// The tab's `Set-Cookie` header lines, by request id, in arrival order (from
    /// `Network.responseReceivedExtraInfo`), at most [`MAX_SET_COOKIES`].
    pub(super) set_cookies: Vec<(String, String)>,
    /// Cookie names scripts wrote to `document.cookie`, as the prelude reported them, with
    /// the execution context.
    pub(super) cookie_writes: Vec<(ReportedAccess, i64)>,
    /// Cookies a response of the tab tried to set and the browser refused (third-party
    /// cookies in the scan's off-the-record context, a bad attribute), by request id.
    pub(super) blocked_cookies: Vec<(String, BlockedCookie)>,
}

/// A cookie the browser refused to keep, from `blockedCookies` of
/// `Network.responseReceivedExtraInfo`: its attributes, why, and the SHA-256 of its value
/// (the value itself is dropped as soon as it is hashed).
#[derive(Debug, Clone, Default, PartialEq)]
pub(super) struct BlockedCookie {
    pub(super) name: String,
    pub(super) domain: String,
    pub(super) path: String,
    /// Seconds since the epoch; `None` for a session cookie.
    pub(super) expires: Option<f64>,
    pub(super) secure: bool,
    pub(super) http_only: bool,
    pub(super) same_site: Option<String>,
    pub(super) size: u64,
    pub(super) value_sha256: [u8; 32],
    /// Chromium's reasons (`UserPreferences`, `SameSiteNoneInsecure` …), joined by `, `.
    pub(super) reasons: String,
}

/// A target other than the scanned tab whose network events are recorded too (see
/// `targets`): what it is, a prefix that keeps its ids apart, and its URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Source {
    /// `popup`, `worker`, `shared-worker` or `service-worker`.
    pub(super) kind: &'static str,
    /// Prefix of its request and script ids (`<kind>:<target id>:`).
    pub(super) prefix: String,
    pub(super) url: String,
}

/// The top page frame of an initiator stack: script id, URL.
pub(super) type StackTop = (String, String);

/// One request or WebSocket frame the page sent.
pub(super) struct Outgoing {
    pub(super) request_id: String,
    pub(super) url: String,
    pub(super) method: String,
    pub(super) headers: Vec<(String, String)>,
    pub(super) body: Option<String>,
    /// The body was not in the event; fetch it with `Network.getRequestPostData`.
    pub(super) needs_body: bool,
    pub(super) channel: Channel,
    pub(super) frame_id: Option<String>,
    pub(super) sender: Option<StackTop>,
    /// Sent by another target (popup, worker), not the scanned tab.
    pub(super) source: Option<Source>,
}

/// One CDP event of interest (the big ones shared, as chromiumoxide delivers them).
pub(super) enum Ev {
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
    /// The headers a request (by id) really went out with, from
    /// `Network.requestWillBeSentExtraInfo` as raw JSON (`targets` reads it: chromiumoxide's
    /// typed event fails to parse when cookies are attached, exactly the case that matters).
    SentHeaders(String, Vec<(String, String)>),
    /// A request body fetched after the fact from another target (by request id).
    Body(String, String),
    /// The `Set-Cookie` lines of a response of the tab (by request id), from
    /// `Network.responseReceivedExtraInfo` as raw JSON.
    SetCookies(String, Vec<String>, Vec<BlockedCookie>),
    /// A URL another target was opened with or navigated to (a popup's `window.open` URL,
    /// before its own network events can be listened to).
    TargetUrl(String),
    /// An event of another target; only its network events are kept.
    From(Source, Box<Ev>),
}

/// All events of interest as one stream, in arrival order.
pub(super) async fn listen(page: &Page) -> chromiumoxide::Result<BoxStream<'static, Ev>> {
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
        page.event_listener::<EventLoadingFailed>().await?.map(|e| Ev::Failed(e.request_id.inner().clone())).boxed(),
        page.event_listener::<EventWebSocketCreated>().await?.map(Ev::Socket).boxed(),
        page.event_listener::<EventLoadEventFired>().await?.map(|_| Ev::Load).boxed(),
        page.event_listener::<EventWebSocketFrameSent>().await?.map(Ev::SocketFrame).boxed(),
        page.event_listener::<EventBindingCalled>().await?.map(Ev::Binding).boxed(),
    ];
    Ok(futures::stream::select_all(streams).boxed())
}

/// URL of the innermost stack frame that has one (ours included).
pub(super) fn top_stack_url(stack: &Option<StackTrace>) -> Option<String> {
    let mut st = stack.as_ref();
    while let Some(s) = st {
        if let Some(f) = s.call_frames.iter().find(|f| !f.url.is_empty()) {
            return Some(f.url.clone());
        }
        st = s.parent.as_deref();
    }
    None
}

/// `host` or `host:port` of an http(s)/ws(s) URL; `None` for other schemes.
pub(super) fn host_with_port(url: &str) -> Option<String> {
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
    /// Folds one event in.
    pub(super) fn apply(&mut self, ev: Ev) {
        self.last_activity = Some(Instant::now());
        match ev {
            Ev::Script(s) => {
                if self.own.as_ref().is_some_and(|o| o.is_own_hash(&s.hash)) {
                    self.own_scripts.insert(s.script_id.inner().clone());
                }
                let keep = self.scripts.len() < MAX_SCRIPTS;
                self.counts.add(Cap::Scripts, 1, usize::from(keep));
                if keep {
                    self.scripts.push(s)
                }
            }
            Ev::Context(c) => self.on_context(&c),
            Ev::Frame(f) => self.note_frame(
                f.frame.id.inner().clone(),
                f.frame.url.clone(),
                f.frame.parent_id.as_ref().map(|p| p.inner().clone()),
            ),
            Ev::Request(r) => self.on_request(&r),
            Ev::Response(r) => self.on_response(&r),
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
            Ev::Binding(b) => self.on_binding(&b),
            Ev::SentHeaders(id, headers) => self.on_sent_headers(id, headers),
            Ev::SetCookies(id, lines, blocked) => {
                for b in blocked {
                    if self.blocked_cookies.len() < MAX_SET_COOKIES {
                        self.blocked_cookies.push((id.clone(), b));
                    }
                }
                for line in lines {
                    let keep = self.set_cookies.len() < MAX_SET_COOKIES;
                    self.counts.add(Cap::SetCookies, 1, usize::from(keep));
                    if keep {
                        self.set_cookies.push((id.clone(), crate::text::cut_bytes(&line, 4096).to_string()));
                    }
                }
            }
            Ev::Body(id, body) => {
                if let Some(out) = self.outgoing.iter_mut().rev().find(|o| o.request_id == id && o.needs_body) {
                    out.body = Some(body);
                    out.needs_body = false;
                }
            }
            Ev::TargetUrl(url) => self.on_target_url(url),
            Ev::From(source, ev) => {
                // Another target's contexts, frames and scripts are not the tab's: only what
                // it sends is kept (its ids are prefixed by `targets`, so they cannot collide).
                let keep = matches!(
                    *ev,
                    Ev::Request(_)
                        | Ev::Finished(_)
                        | Ev::Failed(_)
                        | Ev::Socket(_)
                        | Ev::SocketFrame(_)
                        | Ev::SentHeaders(..)
                        | Ev::Body(..)
                        | Ev::TargetUrl(_)
                );
                if let Ev::Response(r) = &*ev {
                    self.in_flight.remove(r.request_id.inner());
                }
                if keep {
                    self.source = Some(source);
                    self.apply(*ev);
                    self.source = None;
                }
            }
        }
    }

    fn on_sent_headers(&mut self, id: String, headers: Vec<(String, String)>) {
        if self.sent_headers.len() >= MAX_OUTGOING {
            return;
        }
        let hops = self.sent_headers.entry(id).or_default();
        if hops.len() < 8 {
            hops.push(headers);
        }
    }

    /// A popup's URL: searched like a navigation of the popup.
    fn on_target_url(&mut self, url: String) {
        if url.is_empty() || url == "about:blank" {
            return;
        }
        if let Some(h) = host_with_port(&url) {
            self.hosts.insert(h);
        }
        self.push_outgoing(Outgoing {
            request_id: String::new(),
            url,
            method: "GET".into(),
            headers: Vec::new(),
            body: None,
            needs_body: false,
            channel: Channel::Navigation,
            frame_id: None,
            sender: None,
            source: self.source.clone(),
        });
    }

    fn on_context(&mut self, c: &EventExecutionContextCreated) {
        let aux = c.context.aux_data.as_ref();
        let frame = aux.and_then(|a| a.get("frameId")).and_then(|v| v.as_str()).unwrap_or_default().to_string();
        let is_default = aux.and_then(|a| a.get("isDefault")).and_then(|v| v.as_bool()).unwrap_or(false);
        self.contexts.insert(*c.context.id.inner(), (frame, is_default));
    }

    /// Folds in what a later record saw (the page's last moments, see `Capture::leave`): what
    /// was sent, with its headers, and to which hosts.
    pub(super) fn absorb(&mut self, late: Observed) {
        // Through the same limits as the rest; what the late record dropped itself counts too.
        let kept_late = late.outgoing.len() + late.outgoing_tail.len();
        self.outgoing_seen += late.outgoing_seen.saturating_sub(kept_late);
        for out in late.outgoing.into_iter().chain(late.outgoing_tail) {
            self.push_outgoing(out);
        }
        for (id, hops) in late.sent_headers {
            if self.sent_headers.len() < MAX_OUTGOING {
                self.sent_headers.entry(id).or_default().extend(hops);
            }
        }
        self.hosts.extend(late.hosts);
        for (id, url) in late.request_urls {
            if self.request_urls.len() < MAX_OUTGOING {
                self.request_urls.entry(id).or_insert(url);
            }
        }
        let room = MAX_SET_COOKIES.saturating_sub(self.set_cookies.len());
        self.set_cookies.extend(late.set_cookies.into_iter().take(room));
        let room = MAX_SET_COOKIES.saturating_sub(self.blocked_cookies.len());
        self.blocked_cookies.extend(late.blocked_cookies.into_iter().take(room));
        let room = MAX_COOKIE_WRITES.saturating_sub(self.cookie_writes.len());
        self.cookie_writes.extend(late.cookie_writes.into_iter().take(room));
        let room = 5_000usize.saturating_sub(self.image_senders.len());
        self.image_senders.extend(late.image_senders.into_iter().take(room));
    }

    /// The main-world (default) execution contexts: (context id, frame id).
    pub(super) fn main_worlds(&self) -> Vec<(i64, String)> {
        self.contexts
            .iter()
            .filter(|(id, (_, default))| *default && !self.left_behind.contains(id))
            .map(|(id, (frame, _))| (*id, frame.clone()))
            .collect()
    }

    /// A frame navigated or was listed in the frame tree: its latest URL and parent.
    pub(super) fn note_frame(&mut self, id: String, url: String, parent: Option<String>) {
        if parent.is_none() {
            self.main_frame = Some(id.clone());
        }
        if !self.frames.contains_key(&id) {
            self.frame_order.push(id.clone());
        }
        self.frames.insert(id, (url, parent));
    }

    fn on_request(&mut self, r: &EventRequestWillBeSent) {
        let url = &r.request.url;
        self.requested.insert(strip_fragment(url).to_string());
        if let Some(h) = host_with_port(url) {
            self.hosts.insert(h);
        }
        if let Some(src) = top_stack_url(&r.initiator.stack) {
            self.initiators.entry(url.clone()).or_insert(src);
        }
        if self.source.is_none() && self.request_urls.len() < MAX_OUTGOING {
            self.request_urls.entry(r.request_id.inner().clone()).or_insert_with(|| url.clone());
        }
        // Only network requests can be "in flight"; data: and blob: never report an end.
        if url.starts_with("http:") || url.starts_with("https:") {
            self.in_flight.insert(r.request_id.inner().clone(), url.clone());
        }
        let main = r.frame_id.as_ref().map(|f| f.inner()) == self.main_frame.as_ref();
        if main && r.r#type == Some(ResourceType::Document) && self.source.is_none() {
            self.main_doc_requests += 1;
        }
        self.record_request(r);
    }

    fn on_response(&mut self, r: &EventResponseReceived) {
        // An answered request counts as settled even if its body events never come
        // (Chromium omits loadingFinished for some cached or aborted loads).
        self.in_flight.remove(r.request_id.inner());
        let is_main_doc = r.r#type == ResourceType::Document
            && self.main_document.is_none()
            && (self.main_frame.is_none() || r.frame_id.as_ref().map(|f| f.inner()) == self.main_frame.as_ref());
        if is_main_doc {
            let headers = security_headers(r.response.headers.inner());
            self.main_document = Some((r.response.status as u16, headers, r.response.url.clone()));
        }
    }

    /// A call of our binding: a card-field access or an image URL the prelude reported.
    fn on_binding(&mut self, b: &EventBindingCalled) {
        let ours = self.own.as_ref().is_some_and(|o| o.binding == b.name);
        if !ours {
            return;
        }
        let Some(a) = parse_access(&b.payload) else { return };
        let ctx = *b.execution_context_id.inner();
        match a.a.as_str() {
            // The prelude stopped reporting in one frame and says how many it dropped.
            "drop" => {
                let cap = if a.e.as_deref() == Some("image") { Cap::PreludeImages } else { Cap::PreludeAccesses };
                self.counts.at_least_dropped(cap, a.n.unwrap_or(1));
            }
            "cookie" => {
                let keep = self.cookie_writes.len() < MAX_COOKIE_WRITES;
                self.counts.add(Cap::CookieWrites, 1, usize::from(keep));
                if keep {
                    self.cookie_writes.push((a, ctx));
                }
            }
            "send" => {
                let keep = self.image_senders.len() < MAX_IMAGE_SENDERS;
                self.counts.add(Cap::ImageSenders, 1, usize::from(keep));
                if keep {
                    self.image_senders.push((a, ctx));
                }
            }
            _ => {
                let at = a.s.as_ref().map_or("?".to_string(), |s| format!("{}|{}:{}:{}", s.u, s.n, s.l, s.c));
                let key = format!("{ctx}|{}|{:?}|{}|{at}", a.a, a.e, a.f);
                if self.access_keys.contains(&key) {
                    return;
                }
                let keep = self.accesses.len() < MAX_ACCESSES;
                self.counts.add(Cap::Accesses, 1, usize::from(keep));
                if keep {
                    self.access_keys.insert(key);
                    self.accesses.push((a, ctx));
                }
            }
        }
    }

    /// Ends the record: the most recent requests join the first ones, and the request limit
    /// is counted.
    pub(super) fn finish(&mut self) {
        self.outgoing.extend(self.outgoing_tail.drain(..));
        self.counts.add(Cap::Requests, self.outgoing_seen, self.outgoing.len());
    }

    /// Keeps one request or frame: the first `MAX_OUTGOING / 2`, then the most recent ones
    /// (a flood is sent before the card), with bodies and URLs within [`MAX_OUTGOING_BYTES`].
    fn push_outgoing(&mut self, mut out: Outgoing) {
        self.outgoing_seen += 1;
        let room = MAX_OUTGOING_BYTES.saturating_sub(self.outgoing_bytes);
        let label = crate::text::cut_bytes(&out.url, 120).to_string();
        let mut size = 0;
        for part in [Some(&mut out.url), out.body.as_mut()].into_iter().flatten() {
            let len = part.len();
            let kept = match head_and_tail(part, room.saturating_sub(size)) {
                std::borrow::Cow::Borrowed(_) => len,
                std::borrow::Cow::Owned(cut) => {
                    *part = cut;
                    part.len().min(len)
                }
            };
            self.counts.add_at(Cap::RequestBytes, len, kept, &label);
            size += part.len();
        }
        self.outgoing_bytes += size;
        if self.outgoing.len() < MAX_OUTGOING / 2 {
            self.outgoing.push(out);
            return;
        }
        self.outgoing_tail.push_back(out);
        if self.outgoing_tail.len() > MAX_OUTGOING - MAX_OUTGOING / 2 {
            if let Some(old) = self.outgoing_tail.pop_front() {
                let freed = old.url.len() + old.body.as_ref().map_or(0, String::len);
                self.outgoing_bytes = self.outgoing_bytes.saturating_sub(freed);
            }
        }
    }

    /// A body fetched after the fact, within the byte budget (head and tail when too large).
    pub(super) fn keep_body(&mut self, index: usize, body: &str) {
        let Some(out) = self.outgoing.get(index) else { return };
        let searched = head_and_tail(body, MAX_HAYSTACK);
        if searched.len() < body.len() {
            self.counts.add_at(Cap::Haystack, body.len(), searched.len(), &out.url);
        }
        let room = MAX_OUTGOING_BYTES.saturating_sub(self.outgoing_bytes);
        let kept = head_and_tail(&searched, room).into_owned();
        self.counts.add(Cap::RequestBytes, searched.len(), kept.len());
        self.outgoing_bytes += kept.len();
        self.outgoing[index].body = Some(kept);
    }
}

/// The innermost stack frame that is page code (not ours, by script id): script id and URL.
fn top_stack_frame(stack: &Option<StackTrace>, own: &HashSet<String>) -> Option<StackTop> {
    let mut st = stack.as_ref();
    while let Some(s) = st {
        if let Some(f) = s.call_frames.iter().find(|f| !f.url.is_empty() && !own.contains(f.script_id.inner())) {
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
        let headers = header_list(r.request.headers.inner());
        let body = r.request.post_data_entries.as_ref().map(|entries| {
            let mut bytes = Vec::new();
            for e in entries {
                if let Some(b) = &e.bytes {
                    let text: &str = b.as_ref();
                    if let Ok(decoded) = base64::Engine::decode(&base64::engine::general_purpose::STANDARD, text) {
                        bytes.extend_from_slice(&decoded);
                    }
                }
            }
            let text = String::from_utf8_lossy(&bytes);
            let searched = head_and_tail(&text, MAX_HAYSTACK);
            if searched.len() < text.len() {
                self.counts.add_at(Cap::Haystack, text.len(), searched.len(), &r.request.url);
            }
            searched.into_owned()
        });
        let needs_body = r.request.has_post_data == Some(true) && body.as_deref().map_or(true, str::is_empty);
        let mut url = r.request.url.clone();
        if let Some(fragment) = &r.request.url_fragment {
            url.push_str(fragment);
        }
        self.push_outgoing(Outgoing {
            request_id: r.request_id.inner().clone(),
            url,
            method: r.request.method.clone(),
            headers,
            body,
            needs_body,
            channel: channel_of(r.r#type.as_ref(), &r.request.method),
            frame_id: r.frame_id.as_ref().map(|f| f.inner().clone()),
            sender: self.prefixed(top_stack_frame(&r.initiator.stack, &self.own_scripts)),
            source: self.source.clone(),
        });
    }

    fn record_socket(&mut self, s: &EventWebSocketCreated) {
        let sender = self.prefixed(s.initiator.as_ref().and_then(|i| top_stack_frame(&i.stack, &self.own_scripts)));
        let frame = self.main_frame.clone();
        self.sockets.insert(s.request_id.inner().clone(), (s.url.clone(), sender.clone(), frame.clone()));
        self.push_outgoing(Outgoing {
            request_id: s.request_id.inner().clone(),
            url: s.url.clone(),
            method: "GET".into(),
            headers: Vec::new(),
            body: None,
            needs_body: false,
            channel: Channel::Websocket,
            frame_id: frame,
            sender,
            source: self.source.clone(),
        });
    }

    /// A sender in another target: its script id prefixed like that target's scripts.
    fn prefixed(&self, sender: Option<StackTop>) -> Option<StackTop> {
        match &self.source {
            Some(s) => sender.map(|(id, url)| (format!("{}{id}", s.prefix), url)),
            None => sender,
        }
    }

    fn record_socket_frame(&mut self, f: &EventWebSocketFrameSent) {
        let id = f.request_id.inner();
        let (url, sender, frame) = self.sockets.get(id).cloned().unwrap_or_default();
        let payload = &f.response.payload_data;
        // Text frames come as text; binary ones as base64 of the bytes.
        let text = if f.response.opcode == 1.0 {
            std::borrow::Cow::Borrowed(payload.as_str())
        } else {
            base64::Engine::decode(&base64::engine::general_purpose::STANDARD, payload)
                .map(|b| std::borrow::Cow::Owned(String::from_utf8_lossy(&b).into_owned()))
                .unwrap_or_default()
        };
        let searched = head_and_tail(&text, MAX_HAYSTACK);
        if searched.len() < text.len() {
            self.counts.add_at(Cap::Haystack, text.len(), searched.len(), &url);
        }
        let body = searched.into_owned();
        self.push_outgoing(Outgoing {
            request_id: id.clone(),
            url,
            method: "SEND".into(),
            headers: Vec::new(),
            body: Some(body),
            needs_body: false,
            channel: Channel::Websocket,
            frame_id: frame,
            sender,
            source: self.source.clone(),
        });
    }
}

/// The security-impacting headers of a response (CDP's JSON object), by lower-case name. CDP
/// joins repeated headers of one spelling with `\n`, but names that differ only in case are
/// separate keys: those are joined the same way, in the order of the names as sent, so that
/// none is lost and the result does not depend on the JSON map's order (which the build's
/// serde_json features decide).
pub(super) fn security_headers(headers: &serde_json::Value) -> BTreeMap<String, String> {
    let mut pairs: Vec<(&String, &serde_json::Value)> = headers.as_object().into_iter().flatten().collect();
    pairs.sort_by(|a, b| a.0.cmp(b.0));
    let mut out: BTreeMap<String, String> = BTreeMap::new();
    for (k, v) in pairs {
        let name = k.to_ascii_lowercase();
        if SECURITY_HEADERS.contains(&name.as_str()) {
            let value = v.as_str().unwrap_or_default();
            out.entry(name)
                .and_modify(|joined| {
                    joined.push('\n');
                    joined.push_str(value);
                })
                .or_insert_with(|| value.to_string());
        }
    }
    out
}

/// CDP headers (a JSON object) as (lower-case name, value) pairs.
pub(super) fn header_list(headers: &serde_json::Value) -> Vec<(String, String)> {
    headers
        .as_object()
        .map(|o| o.iter().map(|(k, v)| (k.to_ascii_lowercase(), v.as_str().unwrap_or_default().to_string())).collect())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn security_headers_spelled_in_two_cases_are_both_kept_in_one_order() {
        let headers = serde_json::json!({
            "content-security-policy": "script-src *",
            "Content-Security-Policy": "script-src 'self'",
            "Strict-Transport-Security": "max-age=1",
            "X-Other": "ignored",
        });
        let got = security_headers(&headers);
        assert_eq!(got.len(), 2, "{got:?}");
        // Sorted by the name as sent: upper case first, whatever the map's order.
        assert_eq!(got["content-security-policy"], "script-src 'self'\nscript-src *");
        assert_eq!(got["strict-transport-security"], "max-age=1");
        assert!(security_headers(&serde_json::json!("not an object")).is_empty());
    }
}
