//! The privacy side of a scan (docs/privacy.md): the cookie audit and where the shopper's
//! personal data goes, on the test shop's privacy checkout, in one test of three scans.

use crate::util::{describe, findings_of, page, Workspace};
use skimwatch::model::{CookieSource, FindingKind, ScanReport, Severity};
use skimwatch_testshop::{Origin, Shop};

/// `scan --format json`: the report and its raw text (to check no value is in it).
fn scan(ws: &Workspace) -> (ScanReport, String) {
    let out = ws.skimwatch().args(["scan", "--format", "json"]).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let report: ScanReport = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"));
    assert!(report.pages[0].error.is_none(), "{}", describe(&report));
    (report, text)
}

#[test]
fn cookie_audit_personal_data_flows_and_incident_exposure() {
    let shop = Shop::start_in_background().unwrap();
    let url = shop.privacy_checkout_url();
    let (vendor, chat) = (shop.host(Origin::Vendor), shop.host(Origin::Attacker));
    let extra = format!("interact = \"type\"\npersonal_data_hosts = [\"{vendor}\"]\n");
    let ws = Workspace::with_page_config(shop, "privacy", &url, &extra);

    // Scan 1: the audit lists each cookie with its setter and attributes, never a value.
    let (report, text) = scan(&ws);
    let p = page(&report, "privacy");
    for value in ["s3ss10n", "1.1714000000.a8f3"] {
        assert!(!text.contains(value), "cookie value {value} in the report");
    }
    let cookie = |name: &str| {
        p.cookies.iter().find(|c| c.name == name).unwrap_or_else(|| panic!("no cookie {name}: {:?}", p.cookies))
    };
    let session = cookie("hp_session");
    assert_eq!((session.source, session.third_party, session.http_only), (CookieSource::Response, false, true));
    assert_eq!((session.lifetime_days, session.blocked.as_deref()), (None, None), "a kept session cookie");
    assert!(session.set_by.as_deref().is_some_and(|u| u.ends_with("/privacy/checkout")), "{session:?}");
    assert_eq!(session.value_hash.len(), 64);
    let uid = cookie("tw_uid");
    assert_eq!((uid.source, uid.third_party, uid.secure), (CookieSource::Response, true, true));
    assert_eq!(uid.same_site.as_deref(), Some("None"));
    // Max-Age is two years; Chromium caps every cookie at 400 days.
    assert!(uid.lifetime_days.is_some_and(|d| (399..=731).contains(&d)), "{uid:?}");
    let pixel = format!("http://{vendor}/privacy/px");
    assert_eq!(uid.set_by.as_deref(), Some(pixel.as_str()), "the setter without its query (the hashed e-mail)");
    let chat_cookie = cookie("chat_visitor");
    assert_eq!((chat_cookie.source, chat_cookie.third_party), (CookieSource::Script, false));
    assert_eq!(chat_cookie.set_by, Some(format!("http://{chat}/privacy/chat.js")), "{chat_cookie:?}");
    assert_eq!(chat_cookie.lifetime_days, Some(30));
    // Only the new third-party cookie is a change (medium: a payment page).
    let changes = findings_of(&report, FindingKind::CookieChange);
    assert_eq!(changes.len(), 1, "{}", describe(&report));
    assert_eq!(
        (changes[0].severity, changes[0].cookie.as_ref().map(|c| c.name.as_str())),
        (Severity::Medium, Some("tw_uid"))
    );

    // Personal data: the hashed e-mail to the allowed analytics host (no finding, still
    // reported), the phone to the chat host (a finding, high: a host never approved).
    let flow = |host: &str| {
        p.personal_data.iter().find(|f| f.host == host).unwrap_or_else(|| panic!("{host}: {:?}", p.personal_data))
    };
    let analytics = flow(&vendor);
    assert!(analytics.allowed && analytics.fields == ["email"], "{analytics:?}");
    assert!(analytics.encodings.contains(&"email:sha256".to_string()), "{analytics:?}");
    assert_eq!(analytics.script, Some(format!("http://{vendor}/privacy/tag.js")));
    assert!(analytics.channels == ["image"] && !analytics.example_url.contains('@'), "{analytics:?}");
    let widget = flow(&chat);
    assert!(!widget.allowed && widget.fields == ["phone"] && widget.channels == ["fetch"], "{widget:?}");
    let flows = findings_of(&report, FindingKind::PersonalDataFlow);
    assert_eq!(flows.len(), 1, "{}", describe(&report));
    assert_eq!((flows[0].host.as_deref(), flows[0].severity), (Some(chat.as_str()), Severity::High));
    let flow_id = flows[0].id.clone();

    // Approved, the rescan raises no cookie change; the flow stays (it is fixed in the config).
    ws.skimwatch().args(["baseline", "approve", "--all", "--by", "dpo", "--reason", "cookie audit"]).assert().success();
    let baseline = std::fs::read_to_string(ws.dir.path().join("baselines/privacy.toml")).unwrap();
    assert!(baseline.contains("[[cookie]]") && baseline.contains("id = \"tw_uid@127.0.0.3/\""), "{baseline}");
    assert!(!baseline.contains("s3ss10n") && !baseline.contains("a8f3"), "{baseline}");
    let (report, _) = scan(&ws);
    assert!(findings_of(&report, FindingKind::CookieChange).is_empty(), "{}", describe(&report));
    let flows = findings_of(&report, FindingKind::PersonalDataFlow);
    assert_eq!((flows.len(), flows[0].severity), (1, Severity::Medium), "{}", describe(&report));

    // A new third-party cookie is a change again.
    ws.shop.plant_privacy_cookie();
    let (report, _) = scan(&ws);
    let changes = findings_of(&report, FindingKind::CookieChange);
    assert_eq!(changes.len(), 1, "{}", describe(&report));
    assert_eq!(changes[0].cookie.as_ref().map(|c| c.name.as_str()), Some("tw_ad"));

    // The cookie export: each cookie with its approval, no value.
    let csv = ws.skimwatch().args(["inventory", "--cookies"]).output().unwrap();
    let csv = String::from_utf8_lossy(&csv.stdout);
    assert!(csv.starts_with("page,cookie,name,domain"), "{csv}");
    let uid_row = csv.lines().find(|l| l.contains(",tw_uid,")).unwrap_or_else(|| panic!("{csv}"));
    assert!(uid_row.contains(",third,") && uid_row.contains(",approved,unclassified,dpo,"), "{uid_row}");
    assert!(csv.lines().any(|l| l.contains(",tw_ad,") && l.contains(",unapproved,")), "{csv}");
    assert!(!csv.contains("s3ss10n") && !csv.contains("a8f3"), "{csv}");

    // The incident: the exposure window over the three scans, what was sent, and where.
    let out = ws.skimwatch().args(["incident", &flow_id, "--format", "json"]).output().unwrap();
    let incident: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let e = &incident["exposure"];
    assert_eq!(e["scans"], 3, "{e}");
    assert_eq!(e["fields_sent"], serde_json::json!(["phone"]), "{e}");
    assert_eq!(e["destinations"], serde_json::json!([chat]), "{e}");
    assert!(e["served_from"].as_str().unwrap() < e["served_until"].as_str().unwrap(), "{e}");
    let text = ws.skimwatch().args(["incident", &flow_id]).output().unwrap();
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(
        text.contains("Exposure (what the stored scans show):") && text.contains("data it sent:    phone"),
        "{text}"
    );
    assert!(text.contains(&format!("served from {} until", e["served_from"].as_str().unwrap())), "{text}");
}
