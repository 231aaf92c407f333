//! `[browser] endpoint` end to end: `scan` and `watch` (the real binary) drive a Chromium the
//! test started itself and launch none of their own; the daemon records a scan error when that
//! browser is killed and scans again once it is back on the same port.

use crate::util::{descendants, processes, Workspace};
use skimwatch::model::PageStatus;
use skimwatch_testshop::{Origin, Shop};
use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Bound for Chromium to start listening, and for the daemon to record what is waited for.
const WAIT: Duration = Duration::from_secs(45);

/// A headless Chromium started by the test, in its own process group, on a fixed DevTools port.
struct RemoteChromium {
    child: Child,
    _profile: tempfile::TempDir,
    /// Its DevTools websocket, as it announced it.
    websocket: String,
}

impl RemoteChromium {
    fn start(port: u16) -> RemoteChromium {
        let profile = tempfile::tempdir().unwrap();
        let mut child = Command::new("/usr/bin/chromium")
            .args(["--headless=new", "--no-sandbox", &format!("--remote-debugging-port={port}")])
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .args(["--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run"])
            .arg("about:blank")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            // Its own group, so that killing it takes its renderers and zygotes along.
            .process_group(0)
            .spawn()
            .expect("start /usr/bin/chromium");
        // With a fixed port Chromium writes no DevToolsActivePort file: it is ready once it says
        // where it listens (stderr is drained for as long as it runs).
        let stderr = BufReader::new(child.stderr.take().unwrap());
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in stderr.lines().map_while(Result::ok) {
                if let Some((_, ws)) = line.split_once("DevTools listening on ") {
                    let _ = tx.send(ws.trim().to_string());
                }
            }
        });
        let websocket = rx.recv_timeout(WAIT).unwrap_or_else(|_| panic!("Chromium did not listen within {WAIT:?}"));
        assert!(websocket.starts_with(&format!("ws://127.0.0.1:{port}/devtools/browser/")), "{websocket}");
        RemoteChromium { child, _profile: profile, websocket }
    }

    fn running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// SIGKILL to the whole group, as a crashed or recycled browser container goes.
    fn kill(&mut self) {
        let group = nix::unistd::Pid::from_raw(self.child.id() as i32);
        let _ = nix::sys::signal::killpg(group, nix::sys::signal::Signal::SIGKILL);
        let _ = self.child.wait();
    }
}

impl Drop for RemoteChromium {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A port that was free a moment ago: fixed up front, so that a restarted browser reuses it.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// The test shop's checkout, without the shopper, scanning in the browser at `endpoint`. The
/// configured `executable` and `CHROME` (see [`skimwatch`]) do not exist: a launch would fail.
fn workspace(endpoint: &str, page_keys: &str) -> Workspace {
    let shop = Shop::start_in_background().expect("start the test shop");
    let url = shop.checkout_url();
    let ws = Workspace::with_page_config(shop, "checkout", &url, page_keys).without_shopper();
    let text = std::fs::read_to_string(&ws.config).unwrap().replace(
        "[browser]\n",
        &format!("[browser]\nexecutable = \"/nonexistent/chromium\"\nendpoint = \"{endpoint}\"\n"),
    );
    std::fs::write(&ws.config, text).unwrap();
    ws
}

/// Chromium processes below `pid` (the skimwatch process).
fn chromium_below(pid: u32) -> Vec<u32> {
    let all = processes();
    descendants(pid).into_iter().filter(|p| all.iter().any(|(q, _, comm)| q == p && comm.contains("chrom"))).collect()
}

/// Runs `skimwatch <args>` to its end, watching that it starts no Chromium meanwhile; the
/// exit code, stdout and stderr.
fn run_watched(ws: &Workspace, args: &[&str]) -> (i32, String, String) {
    let mut cmd = Command::new(assert_cmd::cargo::cargo_bin("skimwatch"));
    cmd.arg("--config").arg(&ws.config).arg("--quiet").args(args).env("CHROME", "/nonexistent/chrome");
    let mut child = cmd.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let deadline = Instant::now() + WAIT;
    while child.try_wait().unwrap().is_none() {
        assert_eq!(chromium_below(child.id()), Vec::<u32>::new(), "skimwatch launched a Chromium");
        assert!(Instant::now() < deadline, "skimwatch {args:?} did not finish in {WAIT:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output().unwrap();
    let text = |b: &[u8]| String::from_utf8_lossy(b).to_string();
    (out.status.code().unwrap_or(-1), text(&out.stdout), text(&out.stderr))
}

fn scan_ok(ws: &Workspace) {
    let (_, stdout, stderr) = run_watched(ws, &["scan", "--format", "json"]);
    let report: skimwatch::model::ScanReport =
        serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("not the JSON report ({e}): {stdout}\n{stderr}"));
    assert_eq!(report.pages[0].status, PageStatus::Ok, "{:?}\n{stderr}", report.pages[0].error);
}

#[test]
fn scan_uses_the_configured_endpoint_and_launches_no_chromium() {
    let port = free_port();
    let mut chromium = RemoteChromium::start(port);

    // http://host:port: the websocket is looked up at /json/version.
    let ws = workspace(&format!("http://127.0.0.1:{port}"), "");
    scan_ok(&ws);
    // Closing the run disconnected; the browser is someone else's and keeps running.
    assert!(chromium.running(), "skimwatch stopped the browser it connected to");

    // The websocket itself.
    let ws = workspace(&chromium.websocket, "");
    scan_ok(&ws);
    assert!(chromium.running());

    // Nothing listening: a scan error naming the endpoint, not a Chromium launched instead.
    drop(chromium);
    let (_, stdout, _) = run_watched(&ws, &["scan", "--format", "json"]);
    let report: skimwatch::model::ScanReport = serde_json::from_str(&stdout).unwrap();
    let error = report.pages[0].error.clone().unwrap_or_default();
    assert_eq!(report.pages[0].status, PageStatus::Error);
    assert!(
        error.contains(&format!("could not connect to the browser at ws://127.0.0.1:{port}/devtools/browser/"))
            && error.contains("[browser] endpoint"),
        "{error}"
    );
}

/// Requests for the checkout page the shop received so far.
fn checkout_loads(ws: &Workspace) -> usize {
    ws.shop.requests_to(Origin::Shop).iter().filter(|r| r.path_only() == "/checkout").count()
}

fn db(ws: &Workspace) -> Option<rusqlite::Connection> {
    let path = ws.dir.path().join("state/skimwatch.db");
    let conn = rusqlite::Connection::open_with_flags(&path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY).ok()?;
    conn.busy_timeout(Duration::from_secs(10)).unwrap();
    Some(conn)
}

/// The newest scan recorded with `status` after scan `after`: (id, error).
fn scan_after(ws: &Workspace, status: &str, after: i64) -> Option<(i64, Option<String>)> {
    db(ws)?
        .query_row(
            "SELECT id, error FROM scans WHERE status = ?1 AND id > ?2 ORDER BY id DESC LIMIT 1",
            rusqlite::params![status, after],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .ok()
}

#[test]
fn watch_records_a_scan_error_when_the_browser_is_killed_and_reconnects_when_it_is_back() {
    let port = free_port();
    let mut chromium = RemoteChromium::start(port);
    let ws = workspace(&format!("http://127.0.0.1:{port}"), "interval = \"1s\"\nsettle = \"2s\"");
    let log: PathBuf = ws.dir.path().join("daemon.log");
    let mut daemon = Command::new(assert_cmd::cargo::cargo_bin("skimwatch"))
        .arg("--config")
        .arg(&ws.config)
        .arg("watch")
        .env("CHROME", "/nonexistent/chrome")
        .env("SKIMWATCH_LOG", "skimwatch=debug,info,chromiumoxide=off")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let pid = daemon.id();
    let mut wait_for = |what: &str, f: &mut dyn FnMut() -> Option<(i64, Option<String>)>| {
        let deadline = Instant::now() + WAIT;
        loop {
            assert_eq!(chromium_below(pid), Vec::<u32>::new(), "the daemon launched a Chromium");
            if let Some(found) = f() {
                return found;
            }
            let log = std::fs::read_to_string(&log).unwrap_or_default();
            assert!(daemon.try_wait().unwrap().is_none(), "the daemon exited while waiting for {what}:\n{log}");
            assert!(Instant::now() < deadline, "no {what} within {WAIT:?}; daemon log:\n{log}");
            std::thread::sleep(Duration::from_millis(50));
        }
    };

    let (first, _) = wait_for("successful scan", &mut || scan_after(&ws, "ok", 0));
    // Killed while a scan is in flight (the page loaded, the scan settles for 2 s).
    let loads = checkout_loads(&ws);
    wait_for("scan in flight", &mut || (checkout_loads(&ws) > loads).then_some((0, None)));
    chromium.kill();
    let (failed, error) = wait_for("scan error after the browser was killed", &mut || scan_after(&ws, "error", first));
    let error = error.unwrap_or_default();
    assert!(error.contains(&format!("127.0.0.1:{port}")), "the error names the endpoint: {error}");

    let _chromium = RemoteChromium::start(port);
    wait_for("successful scan after the browser came back", &mut || scan_after(&ws, "ok", failed));
    let _ = daemon.kill();
    let _ = daemon.wait();
}
