//! Known-bad recognition (docs/intel.md) against the real binary and Chromium: a script from
//! a domain on the shipped maltrail trail is `known_bad_host`, an outdated jQuery is
//! `vulnerable_library`, a base64 loader planted in a first-party file is named by the shipped
//! YARA rule (with the `yara` feature), and `intel update` refreshes the lists from a loopback
//! server and keeps the copy in use when it cannot.

use crate::util::{describe, findings_of, Workspace};
use skimwatch::model::{FindingKind, Severity};
use skimwatch_testshop::{Origin, Resource, Shop, OLD_JQUERY_PATH};

/// A domain of the shipped trail (`intel/maltrail-magentocore.txt`).
const LISTED: &str = "js-cdn.link";

#[test]
fn listed_domain_old_jquery_and_base64_loader_are_recognised() {
    let shop = Shop::start_in_background().expect("shop");
    let url = shop.checkout_url();
    let ws = Workspace::with_pages(shop, &[("checkout", url)]).without_shopper();
    let text = std::fs::read_to_string(&ws.config).unwrap();
    let rules = format!("settle = \"500ms\"\nhost_resolver_rules = \"MAP {LISTED} 127.0.0.4\"\n");
    std::fs::write(&ws.config, text.replacen("settle = \"500ms\"\n", &rules, 1)).unwrap();

    ws.shop.add_old_jquery();
    ws.approved_baseline();
    ws.shop.add_eval_loader();
    let planted = ws.shop.add_script_from_domain(LISTED);
    let (code, report) = ws.scan(&[]);
    assert_eq!(code, 1, "{}", describe(&report));

    let bad = findings_of(&report, FindingKind::KnownBadHost);
    let listed = bad
        .iter()
        .find(|f| f.host.as_deref().is_some_and(|h| h.starts_with(LISTED)))
        .unwrap_or_else(|| panic!("no known_bad_host for {LISTED}:\n{}", describe(&report)));
    assert_eq!(listed.severity, Severity::Critical);
    let indicator = listed.indicator.as_ref().unwrap();
    assert_eq!(
        (indicator.list.as_str(), indicator.entry.as_str(), indicator.found_in.as_str()),
        ("maltrail-magentocore", LISTED, "request")
    );
    assert!(ws.shop.requests_to(Origin::Attacker).iter().any(|r| r.path == "/js/stats.js"), "{planted:?}");

    let libs = findings_of(&report, FindingKind::VulnerableLibrary);
    assert_eq!(libs.len(), 1, "{}", describe(&report));
    let lib = libs[0].library.as_ref().unwrap();
    assert_eq!((lib.name.as_str(), lib.version.as_str()), ("jquery", "1.8.1"));
    assert!(libs[0].severity >= Severity::Medium && libs[0].severity <= Severity::High);
    assert!(libs[0].script.as_ref().and_then(|s| s.url.as_deref()).is_some_and(|u| u.ends_with(OLD_JQUERY_PATH)));
    assert!(lib.advisories.iter().any(|a| a.identifiers.iter().any(|i| i == "CVE-2012-6708")));

    // The report says what was checked: which list, which date, which data.
    let versions: Vec<(&str, &str, &str)> =
        report.intel.iter().map(|v| (v.name.as_str(), v.origin.as_str(), v.date.as_str())).collect();
    assert!(versions.contains(&("maltrail-magentocore", "shipped", "2026-08-23")), "{versions:?}");
    assert!(versions.contains(&("retirejs", "shipped", "2026-08-22")), "{versions:?}");
    assert!(report.intel.iter().all(|v| v.sha256.len() == 64 && v.entries > 0), "{:?}", report.intel);

    let altered = findings_of(&report, FindingKind::AlteredScript);
    let vendor = altered
        .iter()
        .find(|f| f.script.as_ref().and_then(|s| s.url.as_deref()).is_some_and(|u| u.ends_with("/vendor.min.js")))
        .unwrap_or_else(|| panic!("the loader's altered script is missing:\n{}", describe(&report)));
    let named = vendor.hints.iter().any(|h| h == "matches YARA rule skimwatch:base64_loader");
    if cfg!(feature = "yara") {
        assert!(named, "{:?}", vendor.hints);
        assert_eq!(vendor.severity, Severity::Critical);
        assert!(report.intel.iter().any(|v| v.name == "skimwatch-yara" && v.kind == "yara"), "{:?}", report.intel);
    } else {
        assert!(!named, "{:?}", vendor.hints);
    }
}

#[test]
fn intel_update_refreshes_from_loopback_and_keeps_the_copy_in_use_offline() {
    let shop = Shop::start_in_background().expect("shop");
    shop.set_resource(
        Origin::Vendor,
        "/trail.txt",
        Resource::new("text/plain", "# mine\nskim-a.example\nskim-b.example\n"),
    );
    let repo = r#"{"jquery":{"extractors":{"filename":["jquery-(§§version§§)(\\.min)?\\.js"]},"vulnerabilities":[{"below":"9.0.0","severity":"high","identifiers":{"summary":"test"}}]}}"#;
    shop.set_resource(Origin::Vendor, "/repo.json", Resource::json(repo));
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("skimwatch.toml");
    let write = |cache: &str, base: &str| {
        let text = format!(
            "[[page]]\nname = \"checkout\"\nurl = \"http://127.0.0.1:1/checkout\"\n\n[intel]\ncache_dir = \"{cache}\"\n\n\
             [[intel.source]]\nname = \"maltrail-magentocore\"\nurl = \"{base}/trail.txt\"\n\n\
             [[intel.source]]\nname = \"retirejs\"\nurl = \"{base}/repo.json\"\n"
        );
        std::fs::write(&config, text).unwrap();
    };
    let run = |args: &[&str]| {
        let out = assert_cmd::Command::cargo_bin("skimwatch")
            .unwrap()
            .arg("--config")
            .arg(&config)
            .arg("--quiet")
            .args(args)
            .timeout(crate::util::RUN_TIMEOUT)
            .output()
            .unwrap();
        let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!("{e}: {}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
        });
        (out.status.code().unwrap(), json)
    };
    let origin_of = |show: &serde_json::Value, name: &str| -> (String, u64) {
        let v = show.as_array().unwrap().iter().find(|v| v["name"] == name).unwrap();
        (v["origin"].as_str().unwrap().to_string(), v["entries"].as_u64().unwrap())
    };

    // Online: both sources are fetched and used.
    write("cache", &shop.base(Origin::Vendor));
    let (code, updated) = run(&["intel", "update", "--format", "json"]);
    assert_eq!(code, 0, "{updated}");
    assert!(updated.as_array().unwrap().iter().all(|o| o["result"] == "updated"), "{updated}");
    let (_, show) = run(&["intel", "show", "--format", "json"]);
    assert_eq!(origin_of(&show, "maltrail-magentocore"), ("updated".to_string(), 2));
    assert_eq!(origin_of(&show, "retirejs"), ("updated".to_string(), 1));
    assert!(ws_requests(&shop).contains(&"/trail.txt".to_string()));

    // A broken upstream (an error page, then garbage) keeps the fetched copy.
    shop.set_resource(Origin::Vendor, "/trail.txt", Resource::new("text/plain", "down").with_status(503));
    shop.set_resource(Origin::Vendor, "/repo.json", Resource::new("text/html", "<html>maintenance</html>"));
    let (code, kept) = run(&["intel", "update", "--format", "json"]);
    assert_eq!(code, 3, "{kept}");
    let reasons: Vec<&str> = kept.as_array().unwrap().iter().map(|o| o["reason"].as_str().unwrap()).collect();
    assert!(reasons[0].contains("HTTP 503") && reasons[0].contains("the copy fetched"), "{reasons:?}");
    assert!(reasons[1].contains("not a retire.js repository"), "{reasons:?}");
    let (_, show) = run(&["intel", "show", "--format", "json"]);
    assert_eq!(origin_of(&show, "maltrail-magentocore"), ("updated".to_string(), 2));

    // Offline with nothing fetched yet: the shipped copy stays in use.
    let port = shop.host(Origin::Vendor);
    shop.shutdown();
    write("fresh-cache", &format!("http://{port}"));
    let (code, kept) = run(&["intel", "update", "--format", "json"]);
    assert_eq!(code, 3, "{kept}");
    assert!(kept[0]["reason"].as_str().unwrap().contains("the shipped copy of 2026-08-23"), "{kept}");
    let (_, show) = run(&["intel", "show", "--format", "json"]);
    let (origin, entries) = origin_of(&show, "maltrail-magentocore");
    assert!(origin == "shipped" && entries > 10_000, "{origin} {entries}");

    // A user list that is not there is a configuration error naming the key and the file.
    std::fs::write(
        &config,
        "[intel]\nlists = [\"ours.txt\"]\n\n[[page]]\nname = \"a\"\nurl = \"http://127.0.0.1:1/\"\n",
    )
    .unwrap();
    let out = assert_cmd::Command::cargo_bin("skimwatch")
        .unwrap()
        .arg("--config")
        .arg(&config)
        .args(["config", "check"])
        .timeout(crate::util::RUN_TIMEOUT)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("skimwatch.toml:2:9: intel.lists:") && stderr.contains("ours.txt"), "{stderr}");
}

fn ws_requests(shop: &Shop) -> Vec<String> {
    shop.requests_to(Origin::Vendor).into_iter().map(|r| r.path).collect()
}
