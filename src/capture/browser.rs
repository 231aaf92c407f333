//! The browser: finding Chromium, launching it headless with a temporary profile, telling a
//! crashed or hung browser from a slow page, and closing it. Capturing a page with it is
//! [`Chromium::capture`] (in [`crate::capture`]).
//!
//! Chromium is spawned here rather than by chromiumoxide, because chromiumoxide passes the
//! monitor's whole environment on (it can add variables, not remove them): the browser runs the
//! attacker's page, so it gets a cleared environment with only the allow-list of
//! [`browser_env`] (no SMTP password, no cloud credentials), and chromiumoxide connects to its
//! DevTools websocket.

use super::CaptureError;
use chromiumoxide::browser::Browser;
use chromiumoxide::handler::HandlerConfig;
use futures::stream::StreamExt;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::AsyncBufReadExt;

/// How long Chromium may take to print its DevTools address.
const LAUNCH_TIMEOUT: Duration = Duration::from_secs(30);

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

/// Chromium's command line (without the profile directory and the DevTools port).
fn command_line() -> Vec<String> {
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

/// A running headless Chromium with its temporary profile. Dropping it kills the process
/// (spawned with kill-on-drop) and deletes the profile; [`Chromium::close`] does it politely.
pub struct Chromium {
    /// Shared with the cleanup of each capture ([`super::guard::Cleanup`]).
    pub(super) browser: Arc<Browser>,
    handler: tokio::task::JoinHandle<()>,
    child: tokio::process::Child,
    /// Drains Chromium's stderr so that a chatty browser never blocks on a full pipe.
    stderr: tokio::task::JoinHandle<()>,
    exe: PathBuf,
    /// Process id of the browser, to tell a crashed browser from a slow page.
    pid: Option<u32>,
    /// Chromium's version (`156.0.7390.54`), for a user agent that matches the engine.
    pub(super) version: String,
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
        let mut cmd = tokio::process::Command::new(exe);
        cmd.args(command_line().iter().map(|a| format!("--{a}")))
            .arg("--remote-debugging-port=0")
            .arg(format!("--user-data-dir={}", profile.path().display()))
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
        let stderr = tokio::spawn(async move {
            while let Ok(Some(line)) = lines.next_line().await {
                tracing::trace!("chromium: {}", crate::text::cut_chars(&line, 300));
            }
        });
        let config =
            HandlerConfig { viewport: None, request_timeout: Duration::from_secs(30), ..HandlerConfig::default() };
        let (browser, mut handler) =
            Browser::connect_with_config(ws, config).await.map_err(|e| launch_err(e.to_string()))?;
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
        Ok(Chromium {
            browser: Arc::new(browser),
            handler,
            child,
            stderr,
            exe: exe.to_path_buf(),
            pid,
            version,
            _profile: profile,
        })
    }

    pub fn executable(&self) -> &Path {
        &self.exe
    }

    /// True while the Chromium process is alive.
    pub fn is_alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
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
        // A capture's cleanup may still hold the browser for a moment (at most its own bound).
        for _ in 0..50 {
            if Arc::get_mut(&mut self.browser).is_some() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        if let Some(browser) = Arc::get_mut(&mut self.browser) {
            let _ = tokio::time::timeout(Duration::from_secs(5), browser.close()).await;
        }
        if tokio::time::timeout(Duration::from_secs(5), self.child.wait()).await.is_err() {
            let _ = self.child.kill().await;
        }
        self.handler.abort();
        self.stderr.abort();
    }
}
