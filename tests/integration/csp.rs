//! Issue 14 (parts 1–2): the approved baseline as an enforced policy. The generated CSP, sent
//! by the test shop, lets the approved checkout run in real Chromium with no violation and
//! blocks a planted inline skimmer (the browser's report reaches a receiver on loopback); the
//! SRI attributes are those of the served files, and Chromium refuses a changed file.

use crate::util::http::{HttpReceiver, Mode};
use crate::util::{describe, findings_of, Workspace};
use skimwatch::model::{FindingKind, ScriptKind};
use skimwatch_testshop::Origin;
use std::time::Duration;

fn policy_json(ws: &Workspace, args: &[&str]) -> serde_json::Value {
    let out =
        ws.skimwatch().arg("policy").args(args).args(["--page", "checkout", "--format", "json"]).output().unwrap();
    assert!(out.status.success(), "policy {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn generated_csp_runs_the_approved_shop_and_blocks_an_injected_skimmer() {
    let ws = Workspace::new().without_shopper();
    ws.approved_baseline();
    let receiver = HttpReceiver::start(Mode::Ok);
    let report_uri = receiver.url("/csp/checkout");
    let policy = policy_json(&ws, &["csp", "--report-uri", &report_uri, "--no-report-to"]);
    let value = policy["value"].as_str().unwrap().to_string();
    assert!(value.contains(&format!("report-uri {report_uri}")), "{value}");
    // The shop's own policy allows inline code and any http(s) script: both are named looser.
    let looser = policy["looser"].as_array().unwrap();
    let script = looser.iter().find(|l| l["directive"] == "script-src").expect("script-src is looser");
    assert!(script["allows"].to_string().contains("'unsafe-inline'"), "{script}");

    ws.shop.set_header("/checkout", "Content-Security-Policy", &value);
    let (_, report) = ws.scan(&[]);
    let page = &report.pages[0];
    // Every approved script of the top-level document still ran; only the header changed.
    let baseline = std::fs::read_to_string(ws.dir.path().join("baselines/checkout.toml")).unwrap();
    for s in page.scripts.iter().filter(|s| !s.id.contains('|') || s.id.starts_with("main|")) {
        assert!(s.approved, "{} did not run as approved", s.id);
    }
    let main_scripts = page.scripts.iter().filter(|s| !s.id.contains('|') || s.id.starts_with("main|")).count();
    let approved_main = baseline.matches("id = \"self:").count() + baseline.matches("id = \"main|").count();
    assert!(main_scripts >= approved_main, "{main_scripts} < {approved_main}:\n{}", describe(&report));
    let kinds: Vec<_> = page.findings.iter().map(|f| f.kind).collect();
    assert!(kinds.iter().all(|k| *k == FindingKind::HeaderChange), "{}", describe(&report));

    // A planted inline skimmer is blocked (it never compiles) and reported.
    let code = ws.shop.inline_skimmer_code();
    ws.shop.add_inline_script(&code);
    let (_, report) = ws.scan(&[]);
    assert!(
        findings_of(&report, FindingKind::NewScript)
            .iter()
            .all(|f| f.script.as_ref().unwrap().kind != ScriptKind::Inline),
        "the blocked skimmer ran: {}",
        describe(&report)
    );
    let got = receiver.wait_until(Duration::from_secs(20), |rs| !rs.is_empty());
    assert!(!got.is_empty(), "no violation report arrived");
    for r in &got {
        let body = r.json();
        let v = &body["csp-report"];
        assert_eq!(r.path, "/csp/checkout");
        // Nothing approved was reported: the only violation is the planted inline block.
        assert_eq!(v["blocked-uri"], "inline", "{body}");
        assert!(v["effective-directive"].as_str().unwrap().starts_with("script-src"), "{body}");
    }
}

#[test]
fn sri_attributes_match_the_served_files_and_chromium_refuses_a_changed_one() {
    let ws = Workspace::new().without_shopper();
    ws.approved_baseline();
    let entries = policy_json(&ws, &["sri"]);
    let entries = entries.as_array().unwrap();
    let app = "/static/js/checkout.js";
    let entry = entries.iter().find(|e| e["script"] == format!("self:{app}")).expect("checkout.js has an entry");
    let served = ws.shop.get_body(Origin::Shop, app).unwrap();
    assert_eq!(entry["integrity"], skimwatch::inventory::sri_sha384(&served));
    // Every stable script's hash is that of the bytes the shop serves at its URL.
    for e in entries.iter().filter(|e| e["integrity"].is_string()) {
        let url = url::Url::parse(e["url"].as_str().unwrap()).unwrap();
        let origin = Origin::ALL.into_iter().find(|o| ws.shop.base(*o).contains(url.authority())).unwrap();
        let mut path = url.path().to_string();
        if let Some(q) = url.query() {
            path = format!("{path}?{q}");
        }
        let body = ws.shop.get_body(origin, &path).or_else(|| ws.shop.get_body(origin, url.path())).unwrap();
        assert_eq!(e["integrity"], skimwatch::inventory::sri_sha384(&body), "{e}");
    }

    // The template puts the attribute on the tag; then the file changes on the server.
    let attrs = entry["attributes"].as_str().unwrap().to_string();
    ws.shop.edit(Origin::Shop, "/checkout", |p| {
        let tag = format!("src=\"{app}\"");
        assert!(p.body.contains(&tag), "the checkout loads {app}");
        p.body = p.body.replace(&tag, &format!("{tag} {attrs}"));
    });
    let planted = ws.shop.append_skimmer_to_first_party();
    let (_, report) = ws.scan(&[]);
    let altered = skimwatch::inventory::sha256_hex(&ws.shop.get_body(Origin::Shop, app).unwrap());
    assert!(planted.code.len() > 10);
    assert!(
        !report.pages[0].scripts.iter().any(|s| s.sha256 == altered),
        "Chromium ran the changed file despite its integrity attribute: {}",
        describe(&report)
    );
    assert!(findings_of(&report, FindingKind::AlteredScript).is_empty(), "{}", describe(&report));
}
