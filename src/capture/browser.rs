//! The browser: finding Chromium, launching it headless with a temporary profile, telling a
//! crashed or hung browser from a slow page, and closing it. Capturing a page with it is
//! [`Chromium::capture`] (in [`crate::capture`]).

use super::CaptureError;
use chromiumoxide::browser::{Browser, BrowserConfig};
use futures::stream::StreamExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

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

/// Chromium's command line (without the profile directory, which chromiumoxide adds).
fn command_line() -> Vec<String> {
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
    args
}

/// A running headless Chromium with its temporary profile. Dropping it kills the process
/// (chromiumoxide sets kill-on-drop) and deletes the profile; [`Chromium::close`] does it politely.
pub struct Chromium {
    /// Shared with the cleanup of each capture ([`super::guard::Cleanup`]).
    pub(super) browser: Arc<Browser>,
    handler: tokio::task::JoinHandle<()>,
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
        let args = command_line();
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
        let (mut browser, mut handler) = Browser::launch(config).await.map_err(|e| launch_err(e.to_string()))?;
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
        Ok(Chromium { browser: Arc::new(browser), handler, exe: exe.to_path_buf(), pid, version, _profile: profile })
    }

    pub fn executable(&self) -> &Path {
        &self.exe
    }

    /// True while the Chromium process is alive.
    pub fn is_alive(&mut self) -> bool {
        match Arc::get_mut(&mut self.browser) {
            Some(b) => matches!(b.try_wait(), Ok(None)),
            None => self.process_running(),
        }
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
            let _ = tokio::time::timeout(Duration::from_secs(5), browser.wait()).await;
        }
        self.handler.abort();
    }
}
