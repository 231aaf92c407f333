//! The CLI's contracts: exit codes, config errors naming file/line/key, the JSON report shape,
//! `--output`, `--fail-on`, and a closed stdout.

use crate::util::Workspace;
use assert_cmd::Command;
use std::process::Stdio;

fn skimwatch() -> Command {
    let mut cmd = Command::cargo_bin("skimwatch").unwrap();
    cmd.timeout(crate::util::RUN_TIMEOUT);
    cmd
}

#[test]
fn bad_config_exits_2_naming_file_line_and_key() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("skimwatch.toml");
    std::fs::write(
        &path,
        "[storage]\ndatabase = \"x.db\"\n\n[[page]]\nname = \"checkout\"\nurl = \"ftp://shop.example/checkout\"\n",
    )
    .unwrap();
    let out = skimwatch().arg("--config").arg(&path).arg("scan").output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("skimwatch.toml:6:"), "file and line: {err}");
    assert!(err.contains("page[0].url"), "key: {err}");
    assert!(out.stdout.is_empty(), "nothing on stdout");

    std::fs::write(&path, "[storage]\ndatabse = \"x.db\"\n").unwrap();
    let out = skimwatch().arg("--config").arg(&path).args(["baseline", "show"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("skimwatch.toml:2:") && err.contains("storage.databse"), "{err}");
}

#[test]
fn missing_config_and_unknown_page_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let out = skimwatch().current_dir(dir.path()).arg("scan").output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("skimwatch.toml"));

    let path = dir.path().join("skimwatch.toml");
    std::fs::write(&path, "[[page]]\nname = \"checkout\"\nurl = \"http://127.0.0.1:9/checkout\"\n").unwrap();
    let out = skimwatch().arg("--config").arg(&path).args(["scan", "--page", "cart"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no page named `cart`"));

    // Usage errors are 2 as well, and --help documents the exit codes.
    assert_eq!(skimwatch().args(["scan", "--fail-on", "sometimes"]).output().unwrap().status.code(), Some(2));
    let help = skimwatch().args(["scan", "--help"]).output().unwrap();
    assert!(String::from_utf8_lossy(&help.stdout).contains("3  at least one page could not be scanned"));
}

#[test]
fn approve_requires_a_justification() {
    let ws = Workspace::new().without_shopper();
    let out =
        ws.skimwatch().args(["baseline", "approve", "--all", "--by", "alice", "--reason", "  "]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let out = ws.skimwatch().args(["baseline", "approve", "--all", "--by", "alice"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2), "--reason is required");
}

#[test]
fn json_report_matches_the_contract_and_fail_on_output_work() {
    let ws = Workspace::new().without_shopper();
    let report_file = ws.dir.path().join("report.json");
    // Findings exist (nothing approved), but --fail-on never exits 0; the report goes to the file.
    let out = ws
        .skimwatch()
        .args(["scan", "--format", "json", "--fail-on", "never", "--output"])
        .arg(&report_file)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(out.stdout.is_empty(), "--output keeps stdout empty");
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&report_file).unwrap()).unwrap();

    let pages = v["pages"].as_array().expect("pages array");
    assert_eq!(pages.len(), 1);
    let p = &pages[0];
    assert!(p["name"].is_string() && p["url"].is_string());
    assert_eq!(p["status"], "ok");
    assert!(p["error"].is_null());
    let scripts = p["scripts"].as_array().unwrap();
    assert!(!scripts.is_empty());
    let kinds = ["external", "inline", "handler", "eval", "data", "module", "worker"];
    for s in scripts {
        assert!(s["id"].is_string());
        assert!(kinds.contains(&s["kind"].as_str().unwrap()), "{s}");
        assert!(s["url"].is_string() || s["url"].is_null());
        assert!(s["frame_url"].is_string());
        assert_eq!(s["sha256"].as_str().unwrap().len(), 64);
        assert!(s["bytes"].is_u64());
        assert!(s["approved"].is_boolean());
    }
    assert!(scripts.iter().any(|s| s["kind"] == "inline" && s["url"].is_null()));
    let findings = p["findings"].as_array().unwrap();
    assert!(!findings.is_empty());
    let severities = ["info", "low", "medium", "high", "critical"];
    for f in findings {
        assert!(f["id"].is_string() && f["kind"].is_string() && f["title"].is_string());
        assert!(severities.contains(&f["severity"].as_str().unwrap()));
        assert!(f["diff"].is_string() || f["diff"].is_null());
        let script = &f["script"];
        if !script.is_null() {
            assert!(script["id"].is_string() && script["kind"].is_string() && script["sha256"].is_string());
            assert!(script["url"].is_string() || script["url"].is_null());
        }
    }
    // The same run with the default --fail-on medium fails.
    let (code, _) = ws.scan(&[]);
    assert_eq!(code, 1);
}

#[test]
fn closed_stdout_exits_0() {
    let ws = Workspace::new().without_shopper();
    ws.approved_baseline();
    // `baseline show | head -c0`: the reader is gone before the command even starts, so its
    // first write fails with EPIPE.
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let child = std::process::Command::new(assert_cmd::cargo::cargo_bin("skimwatch"))
        .arg("--config")
        .arg(&ws.config)
        .args(["baseline", "show"])
        .stdout(writer)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0), "stderr: {}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn missing_config_suggests_the_config_flag() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nope").join("skimwatch.toml");
    let out = Command::cargo_bin("skimwatch").unwrap().arg("--config").arg(&missing).arg("scan").output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&missing.display().to_string())
            && err.contains("--config")
            && err.contains("create skimwatch.toml"),
        "{err}"
    );
}
