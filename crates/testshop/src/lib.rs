//! An embedded, deliberately attackable web shop on loopback, for `skimwatch demo` and tests.
//!
//! Real e-skimming happens on pages we cannot plant code in, so the demo and the integration
//! tests need a checkout of their own: [`Shop::start`] serves "Harbor & Pine Outfitters" on
//! `127.0.0.1`, a card-payment provider ("TidePay") on `127.0.0.2`, a tag-manager/analytics
//! vendor ("Tagwell") on `127.0.0.3` and an attacker's collection server on `127.0.0.4`, each on
//! an ephemeral port. Different IP addresses make different *sites* to Chromium, so the payment
//! iframe is cross-site exactly as Stripe's or Adyen's hosted fields are, and third-party
//! scripts come from a host of their own.
//!
//! Every response comes from an in-memory table `(Origin, path) → Resource` that can be changed
//! while the servers run. Tests scan, plant an attack with one of the helpers in [`attacks`]
//! (modelled on the documented Magecart cases), and scan again. Every request any of the four
//! servers receives is recorded, so a test can check that stolen data reached the attacker.
//!
//! Beside its own checkout the shop serves a Magento-1-style one-page checkout and a
//! WooCommerce-style one ([`Checkout`]), with skimmers that send only when a shopper completes
//! them ([`Wake`], [`Shop::plant_wake_skimmer`]).
//!
//! For skimwatch's journeys, the `journeys` module serves checkouts a monitor only reaches by
//! acting like a shopper: a Magento-2-style shop whose payment step needs a cart and a saved
//! shipping step ([`Shop::serve_m2_shop`]), a checkout behind a login form, one behind HTTP
//! Basic authentication, one whose skimmer is served to German visitors only, and one whose
//! skimmer is served only through a forward proxy, with that [`Proxy`].

mod attacks;
mod checkouts;
mod content;
mod evasive;
mod journeys;
mod known_bad;
mod privacy;
mod volatile;

pub use attacks::Planted;
pub use checkouts::{Checkout, Wake};
pub use journeys::{
    Proxy, B2B_SKIMMER_EXFIL_PATH, BASIC_SKIMMER_EXFIL_PATH, M2_SKIMMER_EXFIL_PATH, PROXY_SKIMMER_EXFIL_PATH,
    REGION_SKIMMER_EXFIL_PATH,
};
pub use known_bad::OLD_JQUERY_PATH;
pub use privacy::{CHAT_LEAD_PATH, PIXEL_PATH};
pub use volatile::{VolatileChange, VOLATILE_PATH};

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri};
use axum::response::Response;
use axum::Router;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::fmt;
use std::io;
use std::net::Ipv4Addr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// One of the four web servers the shop runs. Each is a separate site to the browser.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Origin {
    /// The merchant: `/checkout`, its first-party scripts and `/api/…`, on 127.0.0.1.
    Shop,
    /// The payment provider serving the card-field iframe `/hosted-fields`, on 127.0.0.2.
    Payment,
    /// A third-party tag manager and analytics vendor (`/gtm.js`, `/analytics.js`), on 127.0.0.3.
    Vendor,
    /// The skimmer operator's server (`/collect` and planted scripts), on 127.0.0.4.
    Attacker,
}

impl Origin {
    pub const ALL: [Origin; 4] = [Origin::Shop, Origin::Payment, Origin::Vendor, Origin::Attacker];

    /// The loopback address this origin's server binds to.
    pub fn ip(self) -> Ipv4Addr {
        match self {
            Origin::Shop => Ipv4Addr::new(127, 0, 0, 1),
            Origin::Payment => Ipv4Addr::new(127, 0, 0, 2),
            Origin::Vendor => Ipv4Addr::new(127, 0, 0, 3),
            Origin::Attacker => Ipv4Addr::new(127, 0, 0, 4),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Origin::Shop => "shop",
            Origin::Payment => "payment",
            Origin::Vendor => "vendor",
            Origin::Attacker => "attacker",
        }
    }

    fn index(self) -> usize {
        match self {
            Origin::Shop => 0,
            Origin::Payment => 1,
            Origin::Vendor => 2,
            Origin::Attacker => 3,
        }
    }
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What the server answers for one path. `Cache-Control: no-store` is always added on top, so
/// that the browser fetches an edited resource again on the next scan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resource {
    pub status: u16,
    pub content_type: String,
    /// Extra response headers, in order (security headers, `Location`, CORS …).
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Resource {
    /// A 200 response with the given content type and body and no extra headers.
    pub fn new(content_type: &str, body: impl Into<String>) -> Resource {
        Resource { status: 200, content_type: content_type.to_string(), headers: Vec::new(), body: body.into() }
    }

    pub fn html(body: impl Into<String>) -> Resource {
        Resource::new("text/html; charset=utf-8", body)
    }

    pub fn js(body: impl Into<String>) -> Resource {
        Resource::new("text/javascript; charset=utf-8", body)
    }

    pub fn json(body: impl Into<String>) -> Resource {
        Resource::new("application/json", body)
    }

    /// Builder-style: adds (or replaces) a header.
    pub fn with_header(mut self, name: &str, value: &str) -> Resource {
        self.set_header(name, value);
        self
    }

    /// Builder-style: sets the status code.
    pub fn with_status(mut self, status: u16) -> Resource {
        self.status = status;
        self
    }

    /// Value of a header (name compared case-insensitively).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    /// Replaces the header if present (keeping its position), otherwise appends it.
    pub fn set_header(&mut self, name: &str, value: &str) {
        match self.headers.iter_mut().find(|(n, _)| n.eq_ignore_ascii_case(name)) {
            Some(slot) => slot.1 = value.to_string(),
            None => self.headers.push((name.to_string(), value.to_string())),
        }
    }

    /// Removes every header with this name; returns whether one was there.
    pub fn remove_header(&mut self, name: &str) -> bool {
        let before = self.headers.len();
        self.headers.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
        self.headers.len() != before
    }
}

/// One request as a server received it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordedRequest {
    pub origin: Origin,
    pub method: String,
    /// Path and query string, e.g. `/collect?v=eyJ…`.
    pub path: String,
    /// Request headers in arrival order, names in lower case.
    pub headers: Vec<(String, String)>,
    /// The body, decoded as UTF-8 (lossily).
    pub body: String,
}

impl RecordedRequest {
    /// Value of a request header (name compared case-insensitively).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    /// The path without the query string.
    pub fn path_only(&self) -> &str {
        self.path.split('?').next().unwrap_or("")
    }
}

/// Base URLs (`http://127.0.0.x:PORT`) of the four servers, indexed by [`Origin::index`].
#[derive(Debug, Clone)]
struct Bases([String; 4]);

impl Bases {
    fn get(&self, origin: Origin) -> &str {
        &self.0[origin.index()]
    }
}

/// Everything the request handlers and the [`Shop`] handle share.
struct Inner {
    bases: Bases,
    resources: Mutex<HashMap<(Origin, String), Resource>>,
    /// Paths answered by a function of the request (per-load nonces, user-agent sniffing …);
    /// checked before `resources`.
    dynamic: Mutex<HashMap<(Origin, String), Responder>>,
    requests: Mutex<Vec<RecordedRequest>>,
}

/// Builds a response from the request, for content that changes per request.
pub type Responder = Arc<dyn Fn(&RecordedRequest) -> Resource + Send + Sync>;

/// Locks a mutex even if a panicking test poisoned it: the data (a table of strings) stays
/// consistent because every update is a single insert or edit.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The running shop. Dropping it (or calling [`Shop::shutdown`]) stops all four servers.
///
/// All content methods take `&self`: the table lives behind a mutex, so a test can hold the
/// shop, let a scan run against it, and change content in between.
pub struct Shop {
    inner: Arc<Inner>,
    stop: watch::Sender<bool>,
    /// Set by [`Shop::start_in_background`]: the thread owning the servers' runtime.
    thread: Option<std::thread::JoinHandle<()>>,
}

impl fmt::Debug for Shop {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Shop").field("bases", &self.inner.bases.0).finish_non_exhaustive()
    }
}

impl Shop {
    /// Binds the four origins on ephemeral ports and serves them from tasks on the current
    /// tokio runtime. The servers only make progress while that runtime runs, so a
    /// `#[tokio::test]` must keep awaiting (not block) while a browser talks to them.
    pub async fn start() -> io::Result<Shop> {
        let (inner, stop, _tasks) = launch().await?;
        Ok(Shop { inner, stop, thread: None })
    }

    /// Like [`Shop::start`], for code without a runtime (sync tests, the CLI before it builds
    /// one): the servers run on a runtime of their own in a dedicated thread, until the
    /// returned `Shop` is dropped.
    pub fn start_in_background() -> io::Result<Shop> {
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let thread = std::thread::Builder::new().name("skimwatch-shop".to_string()).spawn(move || {
            let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
                Ok(runtime) => runtime,
                Err(e) => {
                    let _ = ready_tx.send(Err(e));
                    return;
                }
            };
            runtime.block_on(async move {
                match launch().await {
                    Ok((inner, stop, tasks)) => {
                        let mut stopped = stop.subscribe();
                        let _ = ready_tx.send(Ok((inner, stop)));
                        // Ends on `true` or when the Shop (holding the sender) is dropped.
                        let _ = stopped.wait_for(|stop| *stop).await;
                        // Let open connections finish their response, but never hang the
                        // caller's drop on a browser that keeps a connection open.
                        let _ = tokio::time::timeout(Duration::from_secs(2), async {
                            for task in tasks {
                                let _ = task.await;
                            }
                        })
                        .await;
                    }
                    Err(e) => {
                        let _ = ready_tx.send(Err(e));
                    }
                }
            });
        })?;
        let (inner, stop) =
            ready_rx.recv().map_err(|_| io::Error::other("the shop's server thread exited before it started"))??;
        Ok(Shop { inner, stop, thread: Some(thread) })
    }

    /// Stops the servers (same as dropping the shop).
    pub fn shutdown(self) {
        drop(self);
    }

    /// Base URL of one origin, e.g. `http://127.0.0.1:41234` (no trailing slash).
    pub fn base(&self, origin: Origin) -> String {
        self.inner.bases.get(origin).to_string()
    }

    /// `host:port` of one origin, as the browser's request log names it.
    pub fn host(&self, origin: Origin) -> String {
        self.inner.bases.get(origin).trim_start_matches("http://").to_string()
    }

    /// Answers `path` on `origin` with a function of each request (takes precedence over the
    /// static table). For content that changes per load or per visitor.
    pub fn set_dynamic(
        &self,
        origin: Origin,
        path: &str,
        respond: impl Fn(&RecordedRequest) -> Resource + Send + Sync + 'static,
    ) {
        lock(&self.inner.dynamic).insert((origin, path.to_string()), Arc::new(respond));
    }

    /// Removes a dynamic route set with [`Shop::set_dynamic`].
    pub fn remove_dynamic(&self, origin: Origin, path: &str) {
        lock(&self.inner.dynamic).remove(&(origin, path.to_string()));
    }

    /// Absolute URL of a path on an origin.
    pub fn url(&self, origin: Origin, path: &str) -> String {
        format!("{}{}", self.inner.bases.get(origin), path)
    }

    /// The payment page to monitor: `base(Shop)/checkout`.
    pub fn checkout_url(&self) -> String {
        self.url(Origin::Shop, "/checkout")
    }

    /// The privacy checkout (see the `privacy` module): a first-party session cookie, an
    /// analytics tag sending the hashed e-mail and setting a long-lived third-party cookie, a
    /// chat widget sending the phone number.
    pub fn privacy_checkout_url(&self) -> String {
        self.url(Origin::Shop, privacy::CHECKOUT_PATH)
    }

    /// Makes the privacy checkout's analytics pixel set a second third-party cookie (`tw_ad`).
    pub fn plant_privacy_cookie(&self) {
        self.edit(Origin::Vendor, PIXEL_PATH, |r| r.headers.push(("Set-Cookie".into(), privacy::TW_AD.into())));
    }

    /// URL of the payment provider's iframe document, as the checkout page embeds it.
    pub fn hosted_fields_url(&self) -> String {
        content::hosted_fields_src(&self.inner.bases)
    }

    /// Where the planted skimmers send stolen data: `base(Attacker)/collect`.
    pub fn exfil_url(&self) -> String {
        self.url(Origin::Attacker, "/collect")
    }

    // -- content ---------------------------------------------------------------------------

    /// Serves `resource` at `path` on `origin` from the next request on (adds or replaces).
    /// Requests are matched on their path alone, unless a resource is stored under the exact
    /// `path?query` a request has (`/?wc-ajax=checkout`): that one answers first.
    pub fn set_resource(&self, origin: Origin, path: &str, resource: Resource) {
        lock(&self.inner.resources).insert((origin, path.to_string()), resource);
    }

    /// Stops serving a path (it answers 404 from then on); returns what was there.
    pub fn remove_resource(&self, origin: Origin, path: &str) -> Option<Resource> {
        lock(&self.inner.resources).remove(&(origin, path.to_string()))
    }

    /// A copy of what is served at a path, if anything.
    pub fn resource(&self, origin: Origin, path: &str) -> Option<Resource> {
        lock(&self.inner.resources).get(&(origin, path.to_string())).cloned()
    }

    /// The body served at a path, if anything.
    pub fn get_body(&self, origin: Origin, path: &str) -> Option<String> {
        self.resource(origin, path).map(|r| r.body)
    }

    /// Every `(origin, path)` currently served, sorted.
    pub fn paths(&self) -> Vec<(Origin, String)> {
        let mut paths: Vec<_> = lock(&self.inner.resources).keys().cloned().collect();
        paths.sort();
        paths
    }

    /// Changes a served resource in place. The table stays locked while `change` runs, so
    /// `change` must not call back into the shop.
    ///
    /// # Panics
    /// If nothing is served at that path: the helpers edit the default content, and a test
    /// that removed it first has a bug worth a loud message.
    pub fn edit<R>(&self, origin: Origin, path: &str, change: impl FnOnce(&mut Resource) -> R) -> R {
        let mut resources = lock(&self.inner.resources);
        match resources.get_mut(&(origin, path.to_string())) {
            Some(resource) => change(resource),
            None => panic!("shop: nothing is served at {origin} {path}"),
        }
    }

    /// Appends text to the body served at a path.
    ///
    /// # Panics
    /// If nothing is served at that path.
    pub fn append_to(&self, origin: Origin, path: &str, text: &str) {
        self.edit(origin, path, |r| r.body.push_str(text));
    }

    /// Sets (adds or replaces) a response header of a path on the shop origin, e.g. to weaken
    /// the checkout's Content-Security-Policy.
    ///
    /// # Panics
    /// If nothing is served at that path.
    pub fn set_header(&self, path: &str, name: &str, value: &str) {
        self.edit(Origin::Shop, path, |r| r.set_header(name, value));
    }

    /// Removes a response header of a path on the shop origin; returns whether it was there.
    ///
    /// # Panics
    /// If nothing is served at that path.
    pub fn remove_header(&self, path: &str, name: &str) -> bool {
        self.edit(Origin::Shop, path, |r| r.remove_header(name))
    }

    /// Restores the default content of every origin (the request log is kept).
    pub fn reset(&self) {
        *lock(&self.inner.resources) = default_table(&self.inner.bases);
        lock(&self.inner.dynamic).clear();
    }

    // -- request log -------------------------------------------------------------------------

    /// Every request received so far, in arrival order.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        lock(&self.inner.requests).clone()
    }

    /// The requests one origin received, in arrival order.
    pub fn requests_to(&self, origin: Origin) -> Vec<RecordedRequest> {
        lock(&self.inner.requests).iter().filter(|r| r.origin == origin).cloned().collect()
    }

    /// Forgets the requests received so far.
    pub fn clear_requests(&self) {
        lock(&self.inner.requests).clear();
    }

    /// Waits until `origin` receives a request whose path (without query) starts with
    /// `path_prefix`, and returns the first such request; `None` after `timeout`. Beacons and
    /// image requests arrive a little after the page event that caused them, hence the wait.
    pub async fn wait_for_request(
        &self,
        origin: Origin,
        path_prefix: &str,
        timeout: Duration,
    ) -> Option<RecordedRequest> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let found = lock(&self.inner.requests)
                .iter()
                .find(|r| r.origin == origin && r.path_only().starts_with(path_prefix))
                .cloned();
            if found.is_some() || tokio::time::Instant::now() >= deadline {
                return found;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }
}

impl Drop for Shop {
    fn drop(&mut self) {
        // `send_replace` stores the value even when no server is listening any more.
        self.stop.send_replace(true);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The default content of every origin: the main checkout with its vendors, and the
/// platform-style checkouts.
fn default_table(bases: &Bases) -> HashMap<(Origin, String), Resource> {
    let mut table = content::defaults(bases);
    table.extend(checkouts::defaults());
    table.extend(privacy::defaults(|t: &str| {
        t.replace("{{VENDOR}}", bases.get(Origin::Vendor)).replace("{{ATTACKER}}", bases.get(Origin::Attacker))
    }));
    table
}

type Launched = (Arc<Inner>, watch::Sender<bool>, Vec<JoinHandle<()>>);

/// Binds every origin first (so a bind error leaves nothing running), then spawns one axum
/// server per origin on the current runtime. Each stops gracefully once `true` is sent on (or
/// the owner drops) the returned sender.
async fn launch() -> io::Result<Launched> {
    let mut listeners = Vec::new();
    for origin in Origin::ALL {
        let listener = TcpListener::bind((origin.ip(), 0)).await?;
        listeners.push((origin, listener));
    }
    let mut bases: [String; 4] = Default::default();
    for (origin, listener) in &listeners {
        bases[origin.index()] = format!("http://{}", listener.local_addr()?);
    }
    let bases = Bases(bases);
    let inner = Arc::new(Inner {
        resources: Mutex::new(default_table(&bases)),
        dynamic: Mutex::new(HashMap::new()),
        requests: Mutex::new(Vec::new()),
        bases,
    });

    let (stop, _) = watch::channel(false);
    let mut tasks = Vec::new();
    for (origin, listener) in listeners {
        let app = Router::new()
            .route("/ws", axum::routing::get(evasive::websocket))
            .fallback(serve)
            .with_state(Ctx { origin, inner: inner.clone() });
        let mut stopped = stop.subscribe();
        tasks.push(tokio::spawn(async move {
            let shutdown = async move {
                let _ = stopped.wait_for(|stop| *stop).await;
            };
            if let Err(e) = axum::serve(listener, app).with_graceful_shutdown(shutdown).await {
                tracing::warn!("demo shop server for {origin} stopped: {e}");
            }
        }));
    }
    Ok((inner, stop, tasks))
}

/// Per-server handler state: which origin this server is, and the shared table.
#[derive(Clone)]
struct Ctx {
    origin: Origin,
    inner: Arc<Inner>,
}

/// The one handler of every server: record the request, then answer from the table. Any
/// method is accepted, because skimmers POST (fetch, sendBeacon) as often as they GET.
async fn serve(State(ctx): State<Ctx>, method: Method, uri: Uri, headers: HeaderMap, body: Bytes) -> Response {
    let request_path = uri.path_and_query().map(|pq| pq.as_str()).unwrap_or("/").to_string();
    let request = RecordedRequest {
        origin: ctx.origin,
        method: method.to_string(),
        path: request_path.clone(),
        headers: headers
            .iter()
            .map(|(name, value)| (name.as_str().to_string(), String::from_utf8_lossy(value.as_bytes()).into_owned()))
            .collect(),
        body: String::from_utf8_lossy(&body).into_owned(),
    };
    let responder = lock(&ctx.inner.dynamic).get(&(ctx.origin, uri.path().to_string())).cloned();
    let dynamic = responder.map(|respond| respond(&request));
    lock(&ctx.inner.requests).push(request);
    if let Some(resource) = dynamic {
        return to_response(resource);
    }

    // A resource stored under `path?query` answers exactly that query first (WordPress routes
    // its AJAX endpoints as `/?wc-ajax=…`); everything else is matched on the path alone.
    let found = {
        let resources = lock(&ctx.inner.resources);
        uri.query()
            .and_then(|_| resources.get(&(ctx.origin, request_path.clone())))
            .or_else(|| resources.get(&(ctx.origin, uri.path().to_string())))
            .cloned()
    };
    let resource = found.unwrap_or_else(|| {
        Resource::new("text/plain; charset=utf-8", "Not Found")
            .with_status(404)
            .with_header("X-Content-Type-Options", "nosniff")
    });
    to_response(resource)
}

/// Builds the HTTP response. A test may have stored a header that HTTP cannot carry; that
/// becomes a 500 naming the problem instead of a panic inside the server.
fn to_response(resource: Resource) -> Response {
    match try_response(&resource) {
        Ok(response) => response,
        Err(problem) => {
            let mut response = Response::new(Body::from(format!("demo shop: invalid resource: {problem}")));
            *response.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
            response
        }
    }
}

fn try_response(resource: &Resource) -> Result<Response, String> {
    let status = StatusCode::from_u16(resource.status).map_err(|_| format!("status {}", resource.status))?;
    let mut response = Response::new(Body::from(resource.body.clone()));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    let content_type = HeaderValue::from_str(&resource.content_type)
        .map_err(|_| format!("content type {:?}", resource.content_type))?;
    headers.insert(axum::http::header::CONTENT_TYPE, content_type);
    for (name, value) in &resource.headers {
        let name_ok = HeaderName::from_bytes(name.as_bytes()).map_err(|_| format!("header name {name:?}"))?;
        let value_ok = HeaderValue::from_str(value).map_err(|_| format!("value of header {name}"))?;
        headers.append(name_ok, value_ok);
    }
    // Last, so no stored header can make the browser reuse a stale copy between scans.
    headers.insert(axum::http::header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

#[cfg(test)]
mod tests;
