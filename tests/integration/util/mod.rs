//! Shared harness for the integration tests: a real shop served on loopback by the test,
//! a real config file, SQLite database and baselines folder in a temp dir, and the real
//! `skimwatch` binary driven through assert_cmd (which drives real Chromium).

#![allow(dead_code)]

pub mod daemon;
pub mod http;
pub mod smtp;

use assert_cmd::Command;
use skimwatch::model::{Finding, FindingKind, PageReport, ScanReport};
use skimwatch_testshop::Shop;
use std::path::PathBuf;
use std::time::Duration;

/// Generous upper bound for one CLI run; a hang fails the test instead of blocking CI.
pub const RUN_TIMEOUT: Duration = Duration::from_secs(120);

pub struct Workspace {
    pub dir: tempfile::TempDir,
    pub config: PathBuf,
    pub shop: Shop,
}

impl Workspace {
    /// A shop on loopback and a config with one page, `checkout`, pointing at it.
    pub fn new() -> Workspace {
        let shop = Shop::start_in_background().expect("start the test shop");
        let url = shop.checkout_url();
        Workspace::with_pages(shop, &[("checkout", url)])
    }

    pub fn with_pages(shop: Shop, pages: &[(&str, String)]) -> Workspace {
        let dir = tempfile::tempdir().expect("temp dir");
        let config = dir.path().join("skimwatch.toml");
        let mut text = String::from("[storage]\ndatabase = \"state/skimwatch.db\"\nbaselines = \"baselines\"\n\n[browser]\nsettle = \"500ms\"\n");
        for (name, url) in pages {
            text.push_str(&format!("\n[[page]]\nname = \"{name}\"\nurl = \"{url}\"\n"));
        }
        std::fs::write(&config, text).unwrap();
        Workspace { dir, config, shop }
    }

    /// The same workspace with `interact = "none"` on every page: for tests of what a page
    /// loads and runs, not of what the shopper wakes (a scan without the shopper is several
    /// seconds shorter, and the suite runs hundreds of them).
    pub fn without_shopper(self) -> Workspace {
        let text = std::fs::read_to_string(&self.config).unwrap();
        std::fs::write(&self.config, text.replace("\n[[page]]\n", "\n[[page]]\ninteract = \"none\"\n")).unwrap();
        self
    }

    /// One page with extra `[[page]]` keys (TOML lines such as `interact = "type"`).
    pub fn with_page_config(shop: Shop, name: &str, url: &str, extra: &str) -> Workspace {
        let ws = Workspace::with_pages(shop, &[(name, url.to_string())]);
        let mut text = std::fs::read_to_string(&ws.config).unwrap();
        text.push_str(extra);
        text.push('\n');
        std::fs::write(&ws.config, text).unwrap();
        ws
    }

    /// The binary, with `--config` pointing at this workspace.
    pub fn skimwatch(&self) -> Command {
        let mut cmd = Command::cargo_bin("skimwatch").unwrap();
        cmd.arg("--config").arg(&self.config).arg("--quiet").timeout(RUN_TIMEOUT);
        cmd
    }

    /// `skimwatch scan --format json`: the exit code and the parsed report.
    pub fn scan(&self, extra: &[&str]) -> (i32, ScanReport) {
        let out = self.skimwatch().args(["scan", "--format", "json"]).args(extra).output().unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        let report: ScanReport = serde_json::from_str(&stdout).unwrap_or_else(|e| {
            panic!(
                "scan output is not the JSON report ({e}):\n{stdout}\nstderr:\n{}",
                String::from_utf8_lossy(&out.stderr)
            )
        });
        (out.status.code().expect("exit code"), report)
    }

    /// Scans, approves everything, and checks that a rescan is clean.
    pub fn approved_baseline(&self) {
        let (code, report) = self.scan(&[]);
        assert_eq!(
            report.pages[0].status,
            skimwatch::model::PageStatus::Ok,
            "first scan failed: {:?}",
            report.pages[0].error
        );
        assert_eq!(code, 1, "a never-approved page has findings");
        self.skimwatch()
            .args(["baseline", "approve", "--all", "--by", "test", "--reason", "initial inventory"])
            .assert()
            .success();
    }
}

pub fn page<'a>(report: &'a ScanReport, name: &str) -> &'a PageReport {
    report.pages.iter().find(|p| p.name == name).unwrap_or_else(|| panic!("no page {name} in report"))
}

/// The findings of one kind, with a readable failure message when there are none.
pub fn findings_of(report: &ScanReport, kind: FindingKind) -> Vec<&Finding> {
    report.pages.iter().flat_map(|p| &p.findings).filter(|f| f.kind == kind).collect()
}

pub fn describe(report: &ScanReport) -> String {
    let errors = report.pages.iter().filter_map(|p| p.error.as_ref().map(|e| format!("page {}: error: {e}", p.name)));
    let findings = report
        .pages
        .iter()
        .flat_map(|p| &p.findings)
        .map(|f| format!("{} {} {} {:?}", f.severity, f.kind, f.title, f.script.as_ref().map(|s| &s.id)));
    errors.chain(findings).collect::<Vec<_>>().join("\n")
}

/// (pid, parent pid, command name) of every process, from /proc.
pub fn processes() -> Vec<(u32, u32, String)> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else { continue };
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else { continue };
        // "pid (comm) state ppid ...": comm may contain spaces, so split after the last ')'.
        let Some(close) = stat.rfind(')') else { continue };
        let comm = stat[stat.find('(').unwrap_or(0) + 1..close].to_string();
        let ppid = stat[close + 1..].split_whitespace().nth(1).and_then(|p| p.parse().ok()).unwrap_or(0);
        out.push((pid, ppid, comm));
    }
    out
}

/// Every process below `root`, children first.
pub fn descendants(root: u32) -> Vec<u32> {
    let all = processes();
    let mut found = vec![root];
    let mut i = 0;
    while i < found.len() {
        let parent = found[i];
        found.extend(all.iter().filter(|(_, pp, _)| *pp == parent).map(|(p, _, _)| *p));
        i += 1;
    }
    found.remove(0);
    found
}
