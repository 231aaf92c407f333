//! Issue 6, part 1: the release gate. A baseline approved on one shop instance gates the same
//! shop served by another instance on other ports (`--base-url`), with no state but the
//! config and baselines; SARIF and JUnit come out typed and parse back; `baseline diff` and
//! `baseline check` work on the real files. Real Chromium, real SQLite, real files.

use crate::util::{describe, findings_of, Workspace};
use quick_junit::{NonSuccessKind, Report, TestCaseStatus};
use serde_sarif::sarif::{ResultLevel, Sarif};
use skimwatch::model::{FindingKind, PageStatus, ScriptKind};
use skimwatch_testshop::{Origin, Shop};

fn scans_in_db(ws: &Workspace) -> i64 {
    let db = rusqlite::Connection::open(ws.dir.path().join("state/skimwatch.db")).unwrap();
    db.query_row("SELECT count(*) FROM scans", [], |r| r.get(0)).unwrap()
}

/// What a staging copy of the shop looks like: shop B serves A's checkout page byte for byte
/// (so it embeds A's payment iframe and A's tag manager, as a staging deploy embeds the real
/// provider and vendor), its own first-party files, on its own port. The provider (A's
/// payment origin) lets staging frame it too.
fn staging_copy_of(ws: &Workspace) -> Shop {
    let b = Shop::start_in_background().expect("start the second shop");
    let checkout = ws.shop.resource(Origin::Shop, "/checkout").expect("A serves /checkout");
    b.set_resource(Origin::Shop, "/checkout", checkout);
    let ancestors = format!("frame-ancestors {} {}", ws.shop.base(Origin::Shop), b.base(Origin::Shop));
    ws.shop.edit(Origin::Payment, "/hosted-fields", |r| r.set_header("Content-Security-Policy", &ancestors));
    b
}

#[test]
fn baseline_from_one_origin_gates_the_same_shop_on_another_origin() {
    let ws = Workspace::new().without_shopper();
    ws.approved_baseline();
    // The baseline is portable: the page's own host is `self`, third parties stay absolute.
    let file = std::fs::read_to_string(ws.dir.path().join("baselines/checkout.toml")).unwrap();
    assert!(file.contains("host = \"self\""), "{file}");
    assert!(!file.contains(&format!("host = \"{}\"", ws.shop.host(Origin::Shop))), "{file}");
    assert!(file.contains(&format!("host = \"{}\"", ws.shop.host(Origin::Payment))), "{file}");

    let b = staging_copy_of(&ws);
    let base = b.base(Origin::Shop);
    assert_ne!(base, ws.shop.base(Origin::Shop), "another origin (port)");
    let scans_before = scans_in_db(&ws);

    let (code, report) = ws.scan(&["--ephemeral", "--base-url", &base]);
    let page = &report.pages[0];
    assert_eq!(page.status, PageStatus::Ok, "{:?}", page.error);
    assert_eq!(page.url, format!("{base}/checkout"), "path kept, origin replaced");
    assert_eq!(page.findings, vec![], "same shop on another origin is clean:\n{}", describe(&report));
    assert_eq!(code, 0);
    assert!(page.scripts.iter().all(|s| s.approved));
    // First-party scripts matched relative to the page's origin; the payment iframe's scripts
    // kept their absolute third-party identity.
    assert!(page.scripts.iter().any(|s| s.id == "self:/static/js/checkout.js"));
    let payment = ws.shop.host(Origin::Payment);
    assert!(page
        .scripts
        .iter()
        .any(|s| s.id.contains(&payment) && s.url.as_deref().is_some_and(|u| u.contains(&payment))));
    assert!(
        page.hosts.contains(&"self".to_string()) && !page.hosts.contains(&b.host(Origin::Shop)),
        "{:?}",
        page.hosts
    );
    // --ephemeral kept nothing.
    assert_eq!(scans_in_db(&ws), scans_before);

    // A skimmer planted on staging only is caught by the gate, in SARIF.
    let code = b.inline_skimmer_code();
    b.add_inline_script(&code);
    let out = ws.skimwatch().args(["scan", "--ephemeral", "--format", "sarif", "--base-url", &base]).output().unwrap();
    assert_eq!(out.status.code(), Some(1), "stderr: {}", String::from_utf8_lossy(&out.stderr));
    let sarif: Sarif = serde_json::from_slice(&out.stdout).expect("typed SARIF 2.1.0");
    assert_eq!(sarif.version, serde_json::json!("2.1.0"));
    let run = &sarif.runs[0];
    let rules = run.tool.driver.rules.as_ref().unwrap();
    let rule_ids: Vec<&str> = rules.iter().map(|r| r.id.as_str()).collect();
    let kinds: Vec<&str> = skimwatch::model::FindingKind::ALL.iter().map(|k| k.as_str()).collect();
    assert_eq!(rule_ids, kinds, "one rule per finding kind");
    assert!(rules.iter().all(|r| r.help.as_ref().is_some_and(|h| !h.text.is_empty())));
    let results = run.results.as_ref().unwrap();
    let new_inline = results
        .iter()
        .find(|r| {
            r.rule_id.as_deref() == Some("new_script")
                && r.properties
                    .as_ref()
                    .is_some_and(|p| p.additional_properties.get("scriptKind") == Some(&serde_json::json!("inline")))
        })
        .unwrap_or_else(|| panic!("no new inline script result in {}", String::from_utf8_lossy(&out.stdout)));
    println!("--- SARIF result ---\n{}", serde_json::to_string_pretty(new_inline).unwrap());
    assert!(matches!(new_inline.level, Some(ResultLevel::Error)), "high on a payment page → error");
    let fp = new_inline.partial_fingerprints.as_ref().unwrap();
    assert_eq!(fp.len(), 1);
    assert!(fp.values().next().unwrap().starts_with('F'));
    let loc = new_inline.locations.as_ref().unwrap()[0].physical_location.as_ref().unwrap();
    assert_eq!(loc.artifact_location.as_ref().unwrap().uri.as_deref(), Some(format!("{base}/checkout").as_str()));
    assert_eq!(rules[new_inline.rule_index.unwrap() as usize].id, "new_script");
    // The typed model round-trips: serialise and parse again, same results.
    let again: Sarif = serde_json::from_str(&serde_json::to_string(&sarif).unwrap()).unwrap();
    assert_eq!(again.runs[0].results.as_ref().unwrap().len(), results.len());

    // Same verdict in JUnit: a failing case per finding, passing cases for approved scripts.
    let out = ws.skimwatch().args(["scan", "--ephemeral", "--format", "junit", "--base-url", &base]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let junit = Report::deserialize_from_str(&String::from_utf8(out.stdout).unwrap()).expect("JUnit XML parses back");
    let suite = &junit.test_suites[0];
    assert_eq!(suite.name.as_str(), "checkout");
    let failures: Vec<_> = suite
        .test_cases
        .iter()
        .filter(|c| matches!(&c.status, TestCaseStatus::NonSuccess { kind: NonSuccessKind::Failure, .. }))
        .collect();
    assert_eq!(failures.len(), results.len(), "one failing case per finding");
    assert!(failures.iter().any(|c| c.name.as_str().starts_with("new_script: main|inline|")));
    let passing = suite.test_cases.iter().filter(|c| matches!(c.status, TestCaseStatus::Success { .. })).count();
    assert!(passing >= 5, "approved scripts are passing cases ({passing})");
}

#[test]
fn baseline_diff_previews_and_check_lints_the_real_files() {
    let ws = Workspace::new().without_shopper();
    ws.approved_baseline();
    let path = ws.dir.path().join("baselines/checkout.toml");
    let approved = std::fs::read_to_string(&path).unwrap();
    ws.shop.add_handler_attribute();
    let (_, report) = ws.scan(&[]);
    let handler = findings_of(&report, FindingKind::NewScript)
        .into_iter()
        .find(|f| f.script.as_ref().unwrap().kind == ScriptKind::Handler)
        .unwrap_or_else(|| panic!("{}", describe(&report)))
        .clone();

    let out = ws
        .skimwatch()
        .args(["baseline", "diff", "--finding", &handler.id, "--by", "bob", "--reason", "trust badge fallback"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let diff = String::from_utf8(out.stdout).unwrap();
    let added: Vec<&str> = diff.lines().filter(|l| l.starts_with('+') && !l.starts_with("+++")).collect();
    assert!(added.iter().any(|l| l.contains("img#trust-badge@onerror")), "{diff}");
    assert!(added.iter().any(|l| l.contains("reason = \"trust badge fallback\"")), "{diff}");
    assert!(!diff.lines().any(|l| l.starts_with('-') && !l.starts_with("---")), "only additions: {diff}");
    assert!(diff.contains("# new file sources/"), "{diff}");
    assert_eq!(std::fs::read_to_string(&path).unwrap(), approved, "diff writes nothing");
    // Unknown ids are refused as by approve.
    ws.skimwatch().args(["baseline", "diff", "--finding", "Fnope"]).assert().code(2);

    // The lint passes on what approve wrote …
    let out = ws.skimwatch().args(["baseline", "check"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stdout));
    // … and fails, naming file and line, on an entry whose justification was emptied.
    let first_reason = approved.find("reason = \"initial inventory\"").unwrap();
    let broken = format!(
        "{}reason = \"\"{}",
        &approved[..first_reason],
        &approved[first_reason + "reason = \"initial inventory\"".len()..]
    );
    std::fs::write(&path, &broken).unwrap();
    let out = ws.skimwatch().args(["baseline", "check"]).output().unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains("checkout.toml:") && text.contains("lacks a justification"), "{text}");
    // A tampered approved source fails too.
    std::fs::write(&path, &approved).unwrap();
    let source = std::fs::read_dir(ws.dir.path().join("baselines/sources")).unwrap().next().unwrap().unwrap().path();
    std::fs::write(&source, "steal()").unwrap();
    let out = ws.skimwatch().args(["baseline", "check", "--format", "json"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let report: skimwatch::baseline::check::CheckReport = serde_json::from_slice(&out.stdout).unwrap();
    assert!(
        report.problems.iter().any(|p| p.path == source && p.message.contains("does not match its name")),
        "{report:?}"
    );
}

#[test]
fn bad_base_url_is_a_usage_error() {
    let ws = Workspace::new().without_shopper();
    let out = ws.skimwatch().args(["scan", "--base-url", "https://staging.example/shop"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("origin only"));
}
