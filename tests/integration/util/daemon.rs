//! The `skimwatch watch` harness shared by the daemon tests: a running daemon (the real binary,
//! its log in a file, killed with its Chromium on drop), observations of its database, and
//! the lock that runs daemon tests one at a time.

use crate::util::Workspace;
use skimwatch::alert::outbox::Status;
use skimwatch::model::Finding;
use skimwatch_testshop::Origin;
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

pub const PASSWORD_ENV: &str = "SKIMWATCH_TEST_SMTP_PASSWORD";
pub const PASSWORD: &str = "s3cret-from-env";
/// Bound for anything that needs a few scans (each launches pages in real Chromium).
pub const LONG: Duration = Duration::from_secs(120);

/// The daemons drive Chromium; one test at a time keeps their timing sane on a small CI box.
pub static SERIAL: Mutex<()> = Mutex::new(());

pub fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|p| p.into_inner())
}

// ---------------------------------------------------------------------------------------------
// harness
// ---------------------------------------------------------------------------------------------

pub fn email_config(smtp_port: u16) -> String {
    format!(
        "\n[alerts]\nretry = \"1s\"\n\n[alerts.email]\nsmtp = \"smtp://127.0.0.1:{smtp_port}\"\nfrom = \"skimwatch <skimwatch@shop.example>\"\nto = [\"secops@shop.example\"]\nmin_severity = \"medium\"\n"
    )
}

/// Appends to the workspace config: `page_keys` go into the last `[[page]]` table.
pub fn configure(ws: &Workspace, page_keys: &str, rest: &str) {
    let mut text = std::fs::read_to_string(&ws.config).unwrap();
    text.push_str(page_keys);
    text.push_str(rest);
    std::fs::write(&ws.config, text).unwrap();
}

/// A running `skimwatch watch`, its stderr in a file. Killed (with its browser) on drop.
pub struct Daemon {
    child: Option<Child>,
    log: PathBuf,
}

impl Daemon {
    pub fn start(ws: &Workspace) -> Daemon {
        Daemon::start_with(ws, &[])
    }

    /// With more environment variables (secrets the config names); its stdout goes to the log
    /// file too, so a test can search everything the daemon printed.
    pub fn start_with(ws: &Workspace, env: &[(&str, &str)]) -> Daemon {
        let n = std::fs::read_dir(ws.dir.path()).unwrap().count();
        let log = ws.dir.path().join(format!("daemon-{n}.log"));
        let file = std::fs::File::create(&log).unwrap();
        let child = Command::new(assert_cmd::cargo::cargo_bin("skimwatch"))
            .arg("--config")
            .arg(&ws.config)
            .arg("watch")
            .env("SKIMWATCH_LOG", "skimwatch=debug,info,chromiumoxide=off")
            .env(PASSWORD_ENV, PASSWORD)
            // The receivers are on loopback: a proxy set for the machine must not take them.
            .env("NO_PROXY", "127.0.0.1,localhost,::1")
            .env("no_proxy", "127.0.0.1,localhost,::1")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(file.try_clone().unwrap())
            .stderr(file)
            .spawn()
            .unwrap();
        Daemon { child: Some(child), log }
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().unwrap().id()
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// SIGKILL, as the OOM killer or a power cut would; the orphaned Chromium goes too.
    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            let browsers = crate::util::descendants(child.id());
            let _ = child.kill();
            let _ = child.wait();
            for pid in browsers {
                signal(pid, nix::sys::signal::Signal::SIGKILL);
            }
        }
    }

    /// SIGTERM, and the exit status once it stopped.
    pub fn terminate(&mut self) -> ExitStatus {
        let mut child = self.child.take().unwrap();
        signal(child.id(), nix::sys::signal::Signal::SIGTERM);
        let deadline = Instant::now() + LONG;
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                return status;
            }
            assert!(Instant::now() < deadline, "daemon did not stop after SIGTERM");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        self.kill9();
    }
}

pub fn signal(pid: u32, sig: nix::sys::signal::Signal) {
    let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid as i32), sig);
}

/// The daemon's Chromium: its direct child whose name says so.
pub fn browser_of(daemon: u32) -> Option<u32> {
    crate::util::processes()
        .into_iter()
        .find(|(_, pp, comm)| *pp == daemon && comm.contains("chrom"))
        .map(|(p, _, _)| p)
}

/// Polls an observable condition until it holds.
pub fn wait_until<T>(what: &str, timeout: Duration, daemon: Option<&Daemon>, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f() {
            return v;
        }
        if Instant::now() > deadline {
            panic!("timed out waiting for {what}; daemon log:\n{}", daemon.map(|d| d.log()).unwrap_or_default());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

pub fn db(ws: &Workspace) -> rusqlite::Connection {
    let conn = rusqlite::Connection::open(ws.dir.path().join("state/skimwatch.db")).unwrap();
    conn.busy_timeout(Duration::from_secs(10)).unwrap();
    conn
}

pub fn count(ws: &Workspace, sql: &str) -> i64 {
    let path = ws.dir.path().join("state/skimwatch.db");
    if !path.exists() {
        return 0;
    }
    // The table may not exist yet while the daemon creates the database.
    db(ws).query_row(sql, [], |r| r.get(0)).unwrap_or(0)
}

pub fn ok_scans(ws: &Workspace) -> i64 {
    count(ws, "SELECT count(*) FROM scans WHERE status = 'ok'")
}

/// Waits until `n` more successful scans than `from` are recorded.
pub fn wait_for_scans(ws: &Workspace, daemon: &Daemon, from: i64, n: i64) {
    wait_until(&format!("{n} more successful scans"), LONG, Some(daemon), || (ok_scans(ws) >= from + n).then_some(()));
}

/// Requests the shop's checkout page received so far.
pub fn checkout_loads(ws: &Workspace) -> usize {
    ws.shop.requests_to(Origin::Shop).iter().filter(|r| r.path_only() == "/checkout").count()
}

pub fn status(ws: &Workspace) -> Status {
    let out = ws.skimwatch().args(["status", "--format", "json"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

pub fn latest_findings(ws: &Workspace) -> Vec<Finding> {
    let conn = db(ws);
    let mut stmt = conn
        .prepare(
            "SELECT finding_json FROM findings WHERE scan_id =
               (SELECT max(id) FROM scans WHERE page = 'checkout' AND status = 'ok') ORDER BY position",
        )
        .unwrap();
    let rows = stmt.query_map([], |r| r.get::<_, String>(0)).unwrap();
    rows.map(|j| serde_json::from_str(&j.unwrap()).unwrap()).collect()
}
