//! The browser: finding Chromium, launching it headless with a temporary profile or connecting
//! to one already running (`[browser] endpoint`), telling a crashed, hung or unreachable browser
//! from a slow page, and closing it. Capturing a page with it is [`Chromium::capture`] (in
//! [`crate::capture`]).
//!
//! Chromium is spawned here rather than by chromiumoxide, because chromiumoxide passes the
//! monitor's whole environment on (it can add variables, not remove them): the browser runs the
//! attacker's page, so it gets a cleared environment with only the allow-list of
//! [`browser_env`] (no SMTP password, no cloud credentials), and chromiumoxide connects to its
//! DevTools websocket. A connected browser is someone else's: closing it only disconnects.

use super::CaptureError;
use chromiumoxide::browser::Browser;
use chromiumoxide::error::CdpError;
use chromiumoxide::handler::{Handler, HandlerConfig};
use futures::stream::StreamExt;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio_util::task::AbortOnDropHandle;

/// How long Chromium may take to print its DevTools address.
const LAUNCH_TIMEOUT: Duration = Duration::from_secs(30);
/// How long one attempt to connect to an endpoint may take (address lookup, websocket, first
/// call): a host that drops packets must not hold a scan for the CDP request timeout.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Pauses between attempts to connect: a browser restarting (a pool recycling its container)
/// is back within seconds; one that stays away fails the scan after the last attempt.
const CONNECT_BACKOFF: [Duration; 3] = [Duration::from_millis(250), Duration::from_secs(1), Duration::from_secs(2)];
/// Largest `/json/version` answer read.
const MAX_VERSION_BYTES: usize = 64 * 1024;

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

/// The only environment Chromium gets: what it needs to run and render (`PATH` for the
/// distribution's wrapper script, locale, time zone, fonts, a display if there is one, a
/// temporary directory) and `HOME` pointing at the throw-away profile. Everything else the
/// monitor was started with — `password_env`'s SMTP password, cloud credentials, tokens — stays
/// out of the process that runs the attacker's page.
pub fn browser_env(profile: &Path) -> Vec<(OsString, OsString)> {
    let allowed = |name: &str| {
        matches!(name, "PATH" | "LANG" | "LANGUAGE" | "TZ" | "DISPLAY" | "XDG_RUNTIME_DIR" | "TMPDIR")
            || name.starts_with("LC_")
            || name.starts_with("FONTCONFIG_")
    };
    let mut env: Vec<(OsString, OsString)> =
        std::env::vars_os().filter(|(k, _)| k.to_str().is_some_and(allowed)).collect();
    env.push(("HOME".into(), profile.as_os_str().to_os_string()));
    env
}

/// Chromium's command line (without the profile directory and the DevTools port), each
/// argument without its leading `--`: also what a remote browser for `endpoint` needs, and
/// what the throughput benchmark's floor runs, so both measure the same browser.
pub fn command_line() -> Vec<String> {
    // Written without the leading `--` (added at spawn). The whole command line is ours:
    // chromiumoxide's defaults include `enable-automation`.
    let mut args: Vec<String> = vec![
        "headless=new".into(),
        "disable-gpu".into(),
        // Without a GPU, Chromium ≥ 137 gives pages no WebGL at all unless its software
        // renderer is allowed: a missing WebGL context is an automation tell that skimmers check.
        "enable-unsafe-swiftshader".into(),
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
    args
}

/// Where the browser comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BrowserSource {
    /// Launch this Chromium (headless, temporary profile, cleared environment), with
    /// `[browser] host_resolver_rules` when set.
    Launch(PathBuf, Option<String>),
    /// Connect to the DevTools endpoint of a Chromium already running (`[browser] endpoint`):
    /// `ws(s)://…/devtools/browser/<id>`, or `http(s)://host:port` to look that up.
    Connect(String),
}

impl BrowserSource {
    /// `[browser] endpoint` when set (then no Chromium is looked for), else the Chromium
    /// [`find_chromium`] finds.
    pub fn from_config(browser: &crate::config::Browser) -> Result<BrowserSource, CaptureError> {
        match &browser.endpoint {
            Some(endpoint) => Ok(BrowserSource::Connect(endpoint.clone())),
            None => find_chromium(browser.executable.as_deref())
                .map(|exe| BrowserSource::Launch(exe, browser.host_resolver_rules.clone())),
        }
    }
}

impl std::fmt::Display for BrowserSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BrowserSource::Launch(exe, _) => write!(f, "{}", exe.display()),
            BrowserSource::Connect(endpoint) => f.write_str(&shown_endpoint(endpoint)),
        }
    }
}

/// `endpoint` as logs and errors show it: a pool's token (`?token=…`) or credentials in the
/// address stay out of stored scan errors and alert mails.
pub fn shown_endpoint(endpoint: &str) -> String {
    match url::Url::parse(endpoint) {
        Ok(mut u) => {
            let _ = u.set_password(None);
            let _ = u.set_username("");
            let hidden = u.query().is_some();
            u.set_query(None);
            if hidden {
                format!("{u}?…")
            } else {
                u.to_string()
            }
        }
        Err(_) => crate::text::cut_chars(endpoint, 100),
    }
}

/// A Chromium driven over CDP: launched here (headless, temporary profile) or connected to.
/// Dropping a launched one kills the process (spawned with kill-on-drop) and deletes the
/// profile; dropping a connected one disconnects. [`Chromium::close`] does it politely.
pub struct Chromium {
    /// Shared with the cleanup of each capture ([`super::guard::Cleanup`]).
    pub(super) browser: Arc<Browser>,
    /// Drives the DevTools connection; finished once the connection is lost.
    handler: AbortOnDropHandle<()>,
    /// Chromium's version (`156.0.7390.54`), for a user agent that matches the engine.
    pub(super) version: String,
    origin: Origin,
}

enum Origin {
    Launched(Box<Launched>),
    /// The endpoint as configured (shown through [`shown_endpoint`]).
    Connected(String),
}

struct Launched {
    child: tokio::process::Child,
    /// Drains Chromium's stderr so that a chatty browser never blocks on a full pipe.
    _stderr: AbortOnDropHandle<()>,
    /// Process id of the browser, to tell a crashed browser from a slow page.
    pid: Option<u32>,
    // Held for its Drop: the profile directory is removed when the browser goes.
    _profile: tempfile::TempDir,
}

/// Runs the CDP handler until the connection is lost. Ending there (rather than polling a dead
/// socket) drops the calls still waiting for an answer, so that they fail now instead of at
/// their timeout, and tells [`Chromium::is_running`] the browser is gone.
async fn drive(mut handler: Handler) {
    while let Some(event) = handler.next().await {
        match event {
            Err(CdpError::Ws(e)) => {
                tracing::debug!("DevTools connection lost: {e}");
                return;
            }
            Err(e) => tracing::trace!("cdp handler: {e}"),
            Ok(()) => {}
        }
    }
}

fn handler_config() -> HandlerConfig {
    HandlerConfig { viewport: None, request_timeout: Duration::from_secs(30), ..HandlerConfig::default() }
}

/// Chromium's version from `Browser.getVersion` (`HeadlessChrome/156.0.7390.54` → the number).
async fn version_of(browser: &Browser) -> Result<String, CdpError> {
    browser.version().await.map(|v| v.product.rsplit('/').next().unwrap_or_default().to_string())
}

impl Chromium {
    /// The browser `source` names: launched, or connected to.
    pub async fn start(source: &BrowserSource) -> Result<Chromium, CaptureError> {
        match source {
            BrowserSource::Launch(exe, rules) => Chromium::launch_with(exe, rules.as_deref()).await,
            BrowserSource::Connect(endpoint) => Chromium::connect(endpoint).await,
        }
    }

    pub async fn launch(exe: &Path) -> Result<Chromium, CaptureError> {
        Chromium::launch_with(exe, None).await
    }

    /// [`Chromium::launch`] with Chromium's host resolver rules (`MAP host 127.0.0.1`, from
    /// `[browser] host_resolver_rules`): a staging host or a test's fake domain served locally.
    pub async fn launch_with(exe: &Path, host_resolver_rules: Option<&str>) -> Result<Chromium, CaptureError> {
        let launch_err = |reason: String| CaptureError::Launch { exe: exe.to_path_buf(), reason };
        let profile = tempfile::Builder::new()
            .prefix("skimwatch-profile-")
            .tempdir()
            .map_err(|e| launch_err(format!("cannot create a temporary profile: {e}")))?;
        let mut cmd = tokio::process::Command::new(exe);
        cmd.args(command_line().iter().map(|a| format!("--{a}")))
            .arg("--remote-debugging-port=0")
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .args(host_resolver_rules.map(|r| format!("--host-resolver-rules={r}")))
            .env_clear()
            .envs(browser_env(profile.path()))
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .kill_on_drop(true);
        let mut child = cmd.spawn().map_err(|e| launch_err(e.to_string()))?;
        let pid = child.id();
        let mut lines = tokio::io::BufReader::new(child.stderr.take().expect("stderr is piped")).lines();
        let mut said = Vec::new();
        let ws = tokio::time::timeout(LAUNCH_TIMEOUT, async {
            while let Ok(Some(line)) = lines.next_line().await {
                if let Some((_, ws)) = line.rsplit_once("listening on ") {
                    if ws.starts_with("ws") && ws.contains("devtools/browser") {
                        return Some(ws.trim().to_string());
                    }
                }
                if said.len() < 20 {
                    said.push(crate::text::cut_chars(&line, 300));
                }
            }
            None
        })
        .await;
        let ws = match ws {
            Ok(Some(ws)) => ws,
            Ok(None) => return Err(launch_err(format!("exited before listening: {}", said.join(" | ")))),
            Err(_) => return Err(launch_err(format!("no DevTools address within {LAUNCH_TIMEOUT:?}"))),
        };
        let stderr = AbortOnDropHandle::new(tokio::spawn(async move {
            while let Ok(Some(line)) = lines.next_line().await {
                tracing::trace!("chromium: {}", crate::text::cut_chars(&line, 300));
            }
        }));
        let (browser, handler) =
            Browser::connect_with_config(ws, handler_config()).await.map_err(|e| launch_err(e.to_string()))?;
        let handler = AbortOnDropHandle::new(tokio::spawn(drive(handler)));
        let version = match version_of(&browser).await {
            Ok(v) => v,
            Err(e) => {
                tracing::debug!("Browser.getVersion failed: {e}");
                String::new()
            }
        };
        Ok(Chromium {
            browser: Arc::new(browser),
            handler,
            version,
            origin: Origin::Launched(Box::new(Launched { child, _stderr: stderr, pid, _profile: profile })),
        })
    }

    /// Connects to the Chromium at `endpoint` (`ws(s)://…/devtools/browser/<id>`, or
    /// `http(s)://host:port`, whose `/json/version` names the websocket). Each attempt is
    /// bounded by [`CONNECT_TIMEOUT`]; failed ones are retried after the pauses of
    /// [`CONNECT_BACKOFF`].
    pub async fn connect(endpoint: &str) -> Result<Chromium, CaptureError> {
        let mut attempts = 0;
        loop {
            attempts += 1;
            let reason = match tokio::time::timeout(CONNECT_TIMEOUT, Chromium::connect_once(endpoint)).await {
                Ok(Ok(chromium)) => return Ok(chromium),
                Ok(Err(reason)) => reason,
                Err(_) => format!("no answer within {} s", CONNECT_TIMEOUT.as_secs()),
            };
            let Some(pause) = CONNECT_BACKOFF.get(attempts - 1) else {
                return Err(CaptureError::Connect { endpoint: shown_endpoint(endpoint), attempts, reason });
            };
            tracing::debug!(endpoint = %shown_endpoint(endpoint), attempts, "cannot connect to the browser yet: {reason}");
            tokio::time::sleep(*pause).await;
        }
    }

    async fn connect_once(endpoint: &str) -> Result<Chromium, String> {
        let ws = websocket_address(endpoint).await?;
        let (browser, handler) = Browser::connect_with_config(ws, handler_config()).await.map_err(|e| e.to_string())?;
        let handler = AbortOnDropHandle::new(tokio::spawn(drive(handler)));
        // Proves that a browser answers at the other end, and names its engine.
        let version =
            version_of(&browser).await.map_err(|e| format!("connected, but Browser.getVersion failed: {e}"))?;
        tracing::info!(endpoint = %shown_endpoint(endpoint), version = %version, "connected to Chromium");
        Ok(Chromium { browser: Arc::new(browser), handler, version, origin: Origin::Connected(endpoint.to_string()) })
    }

    /// Process id of a browser launched here.
    pub fn pid(&self) -> Option<u32> {
        match &self.origin {
            Origin::Launched(l) => l.pid,
            Origin::Connected(_) => None,
        }
    }

    /// False once the browser is gone: the DevTools connection is lost, or the process
    /// launched here has exited (crashed, killed, out of memory: gone from `/proc` or a
    /// zombie). Needs no `&mut`, so it works on a browser shared by scans.
    pub fn is_running(&self) -> bool {
        if self.handler.is_finished() {
            return false;
        }
        let Some(pid) = self.pid() else { return true };
        match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
            // "pid (comm) STATE ...": the state follows the last ')'.
            Ok(stat) => stat.rfind(')').and_then(|i| stat[i + 1..].split_whitespace().next()) != Some("Z"),
            Err(_) => false,
        }
    }

    /// Why the browser went away during a scan, once [`Chromium::is_running`] says it did.
    pub fn gone(&self) -> String {
        match &self.origin {
            Origin::Launched(l) => {
                format!("Chromium (pid {}) exited during the scan: crashed or killed", l.pid.unwrap_or(0))
            }
            Origin::Connected(endpoint) => format!(
                "the connection to the browser at {} was lost during the scan: it stopped, restarted or is unreachable",
                shown_endpoint(endpoint)
            ),
        }
    }

    /// True when the browser answers a trivial CDP call within `within`: a crashed or hung
    /// Chromium does not, and the watch daemon then replaces it.
    pub async fn responsive(&self, within: Duration) -> bool {
        matches!(tokio::time::timeout(within, self.browser.version()).await, Ok(Ok(_)))
    }

    /// Closes a launched browser and waits for it to exit; disconnects from a connected one
    /// (which keeps running: it is not ours to stop).
    pub async fn close(mut self) {
        // A capture's cleanup may still hold the browser for a moment (at most its own bound):
        // it closes the capture's tab and disposes of its browser context, also on a browser
        // that is not ours.
        for _ in 0..50 {
            if Arc::get_mut(&mut self.browser).is_some() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        if let Origin::Launched(launched) = &mut self.origin {
            if let Some(browser) = Arc::get_mut(&mut self.browser) {
                let _ = tokio::time::timeout(Duration::from_secs(5), browser.close()).await;
            }
            if tokio::time::timeout(Duration::from_secs(5), launched.child.wait()).await.is_err() {
                let _ = launched.child.kill().await;
            }
        }
        // Dropping the handler closes the websocket.
    }
}

/// The websocket to connect to for `endpoint`: itself when it is one, else what the HTTP
/// server's `/json/version` names, reached at the host and port of `endpoint` (the browser
/// names the address it listens on, which is not where a container or a proxy is reached).
async fn websocket_address(endpoint: &str) -> Result<String, String> {
    let url = url::Url::parse(endpoint).map_err(|e| format!("not a URL: {e}"))?;
    let tls = match url.scheme() {
        "ws" | "wss" => return Ok(endpoint.to_string()),
        "http" => false,
        "https" => true,
        other => return Err(format!("scheme {other:?} is not one of ws, wss, http, https")),
    };
    let host = url.host_str().filter(|h| !h.is_empty()).ok_or("no host")?.to_string();
    let port = url.port_or_known_default().unwrap_or(if tls { 443 } else { 80 });
    let path = format!("{}/json/version", url.path().trim_end_matches('/'));
    let authority = match url.port() {
        Some(p) => format!("{host}:{p}"),
        None => host.clone(),
    };
    let tcp = tokio::net::TcpStream::connect((host.trim_matches(['[', ']']), port))
        .await
        .map_err(|e| format!("cannot reach {authority}: {e}"))?;
    let answer = if tls {
        let mut roots = tokio_rustls::rustls::RootCertStore::empty();
        for cert in rustls_native_certs::load_native_certs().certs {
            let _ = roots.add(cert);
        }
        let config = tokio_rustls::rustls::ClientConfig::builder().with_root_certificates(roots).with_no_client_auth();
        let name = tokio_rustls::rustls::pki_types::ServerName::try_from(host.trim_matches(['[', ']']).to_string())
            .map_err(|e| format!("{host}: {e}"))?;
        let stream = tokio_rustls::TlsConnector::from(Arc::new(config))
            .connect(name, tcp)
            .await
            .map_err(|e| format!("TLS with {authority} failed: {e}"))?;
        http_get(stream, &authority, &path).await?
    } else {
        http_get(tcp, &authority, &path).await?
    };
    let version: serde_json::Value = serde_json::from_str(&answer)
        .map_err(|_| format!("{path} did not answer JSON: {:?}", crate::text::cut_chars(&answer, 200)))?;
    let named = version
        .get("webSocketDebuggerUrl")
        .and_then(|v| v.as_str())
        .ok_or_else(|| format!("{path} names no webSocketDebuggerUrl: is this a Chromium DevTools endpoint?"))?;
    let mut ws = url::Url::parse(named).map_err(|e| format!("{path} named {named:?}, not a URL: {e}"))?;
    let _ = ws.set_scheme(if tls { "wss" } else { "ws" });
    ws.set_host(Some(&host)).map_err(|e| format!("{host}: {e}"))?;
    let _ = ws.set_port(url.port());
    Ok(ws.to_string())
}

/// The body of a `GET path` (HTTP/1.1, one request) on `stream`, when the status is 200.
async fn http_get(mut stream: impl AsyncRead + AsyncWrite + Unpin, host: &str, path: &str) -> Result<String, String> {
    let request =
        format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nAccept: application/json\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.map_err(|e| format!("cannot send the request for {path}: {e}"))?;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    // Read until the headers and a Content-Length worth of body are in (the DevTools server
    // may keep the connection open), or until the other side closes it.
    loop {
        let n = stream.read(&mut chunk).await.map_err(|e| format!("reading the answer for {path}: {e}"))?;
        buf.extend_from_slice(&chunk[..n]);
        if n == 0 || buf.len() > MAX_VERSION_BYTES {
            break;
        }
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
            let length = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse::<usize>().ok());
            if length.is_some_and(|len| buf.len() >= end + 4 + len) {
                break;
            }
        }
    }
    let text = String::from_utf8_lossy(&buf);
    let (head, body) = text.split_once("\r\n\r\n").ok_or_else(|| format!("no HTTP answer for {path}"))?;
    let status = head.lines().next().unwrap_or_default();
    if status.split_whitespace().nth(1) != Some("200") {
        // Chromium refuses a Host header that is neither an IP address nor `localhost` (DNS
        // rebinding protection), and says so in the body.
        return Err(format!(
            "{path} answered {:?}: {:?}",
            crate::text::cut_chars(status, 100),
            crate::text::cut_chars(body.trim(), 200)
        ));
    }
    Ok(body.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::net::TcpListener;

    /// A DevTools HTTP server stand-in answering one request with `answer`, then keeping the
    /// connection open (as Chromium may).
    async fn serve_once(answer: String) -> (u16, tokio::task::JoinHandle<String>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let task = tokio::spawn(async move {
            let (mut s, _) = listener.accept().await.unwrap();
            let mut request = vec![0u8; 4096];
            let n = s.read(&mut request).await.unwrap();
            s.write_all(answer.as_bytes()).await.unwrap();
            tokio::time::sleep(Duration::from_secs(5)).await;
            String::from_utf8_lossy(&request[..n]).to_string()
        });
        (port, task)
    }

    fn http(status: &str, body: &str) -> String {
        format!("HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}", body.len())
    }

    #[tokio::test]
    async fn http_endpoint_names_the_websocket_reached_where_the_endpoint_is() {
        // The browser names the address it listens on; it is reached where the endpoint says.
        let body = r#"{"Browser":"Chrome/156","webSocketDebuggerUrl":"ws://0.0.0.0:9222/devtools/browser/abc"}"#;
        let (port, server) = serve_once(http("200 OK", body)).await;
        let ws = websocket_address(&format!("http://127.0.0.1:{port}/")).await.unwrap();
        assert_eq!(ws, format!("ws://127.0.0.1:{port}/devtools/browser/abc"));
        let request = server.await.unwrap();
        assert!(request.starts_with("GET /json/version HTTP/1.1\r\n"), "{request}");
        assert!(request.contains(&format!("Host: 127.0.0.1:{port}\r\n")), "{request}");
    }

    #[tokio::test]
    async fn an_endpoint_that_is_no_devtools_server_says_what_it_answered() {
        let refused = "Host header is specified and is not an IP address or localhost.";
        let (port, _server) = serve_once(http("500 Internal Server Error", refused)).await;
        let e = websocket_address(&format!("http://127.0.0.1:{port}")).await.unwrap_err();
        assert!(e.contains("500") && e.contains("not an IP address or localhost"), "{e}");

        let (port, _server) = serve_once(http("200 OK", r#"{"hello":"world"}"#)).await;
        let e = websocket_address(&format!("http://127.0.0.1:{port}")).await.unwrap_err();
        assert!(e.contains("no webSocketDebuggerUrl"), "{e}");

        assert_eq!(websocket_address("ws://h:1/devtools/browser/x").await.unwrap(), "ws://h:1/devtools/browser/x");
    }

    #[tokio::test]
    async fn connecting_to_nothing_fails_naming_the_endpoint_without_its_token() {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let started = std::time::Instant::now();
        let Err(e) = Chromium::connect(&format!("ws://127.0.0.1:{port}/devtools/browser/x?token=s3cret")).await else {
            panic!("connected to nothing");
        };
        let text = e.to_string();
        assert!(
            text.starts_with(&format!(
                "could not connect to the browser at ws://127.0.0.1:{port}/devtools/browser/x?… (4 attempts): "
            )),
            "{text}"
        );
        assert!(!text.contains("s3cret"), "{text}");
        // Bounded: the backoff's pauses, not a CDP request timeout.
        assert!(started.elapsed() < Duration::from_secs(10), "{:?}", started.elapsed());
    }

    #[test]
    fn endpoints_are_shown_without_credentials_or_query() {
        assert_eq!(shown_endpoint("http://127.0.0.1:9222"), "http://127.0.0.1:9222/");
        assert_eq!(shown_endpoint("wss://u:pw@pool.internal/chrome?token=t"), "wss://pool.internal/chrome?…");
    }
}
