//! The privacy side of a scan (docs/privacy.md): the cookie audit and where the shopper's
//! personal data goes, on the test shop's privacy checkout, in one test of three scans.

use crate::util::{describe, findings_of, page, Workspace};
use skimwatch::model::{CookieSource, FindingKind, Severity};
use skimwatch_testshop::{Origin, Shop};

#[test]
fn cookie_audit_personal_data_flows_and_incident_exposure() {
    let shop = Shop::start_in_background().unwrap();
    let url = shop.privacy_checkout_url();
    let (vendor, chat) = (shop.host(Origin::Vendor), shop.host(Origin::Attacker));
    let extra = format!("interact = \"type\"\npersonal_data_hosts = [\"{vendor}\"]\n");
    let ws = Workspace::with_page_config(shop, "privacy", &url, &extra);

    // Scan 1: the audit lists each cookie with its setter and attributes, never a value.
    let out = ws.skimwatch().args(["scan", "--format", "json"]).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    eprintln!("STDERR {}", String::from_utf8_lossy(&out.stderr));
    let report: skimwatch::model::ScanReport = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"));
    let p = page(&report, "privacy");
    assert!(p.error.is_none(), "{}", describe(&report));
    eprintln!("{}", serde_json::to_string_pretty(&p.cookies).unwrap());
    eprintln!("{}", serde_json::to_string_pretty(&p.personal_data).unwrap());
    eprintln!("{}", describe(&report));
    assert!(!text.contains("s3ss10n") && !text.contains("a8f3"), "no cookie value in the report");
    let cookie = |name: &str| {
        p.cookies.iter().find(|c| c.name == name).unwrap_or_else(|| panic!("no cookie {name}: {:?}", p.cookies))
    };
    let session = cookie("hp_session");
    assert_eq!((session.source, session.third_party, session.http_only), (CookieSource::Response, false, true));
    assert_eq!(session.lifetime_days, None, "a session cookie");
    assert!(session.set_by.as_deref().is_some_and(|u| u.ends_with("/privacy/checkout")), "{session:?}");
    assert_eq!(session.value_hash.len(), 64);
    let uid = cookie("tw_uid");
    assert_eq!((uid.source, uid.third_party, uid.secure), (CookieSource::Response, true, true));
    assert_eq!(uid.same_site.as_deref(), Some("None"));
    assert!(uid.lifetime_days.is_some_and(|d| (729..=731).contains(&d)), "{uid:?}");
    assert!(uid.set_by.as_deref().is_some_and(|u| u.contains(&vendor) && u.contains("/privacy/px")), "{uid:?}");
    let chat_cookie = cookie("chat_visitor");
    assert_eq!((chat_cookie.source, chat_cookie.third_party), (CookieSource::Script, false));
    assert!(chat_cookie.set_by.as_deref().is_some_and(|s| s.contains("/privacy/chat.js")), "{chat_cookie:?}");
}
