//! Issue 6, part 2: evidence for the assessor. The inventory, the tamper-evident scan log,
//! the evidence report (HTML escaping a hostile script URL, JSON parsed back) and an incident
//! timeline, over real scans of the shop in real Chromium, stored in a real SQLite file.

use crate::util::{describe, findings_of, Workspace};
use skimwatch::evidence::{Evidence, Incident, Resolution};
use skimwatch::model::FindingKind;
use skimwatch_testshop::Origin;

/// Markup an attacker controls: it ends up in a script URL (an opaque `data:` URL keeps `<`,
/// `>` and quotes as they are) and in an inline script's id.
const MARKUP: &str = "<img src=x onerror=alert(1)>";

fn stdout(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn inventory_log_evidence_and_incident_over_real_scans() {
    let ws = Workspace::new().without_shopper();
    // The shop's policy allows `data:` scripts (many tag-manager setups do), so the one
    // planted below runs.
    ws.shop.edit(Origin::Shop, "/checkout", |r| {
        let csp = r.header("Content-Security-Policy").unwrap().replace("script-src 'self'", "script-src 'self' data:");
        r.set_header("Content-Security-Policy", &csp);
    });
    ws.approved_baseline();

    // Plant a script whose URL carries markup.
    let src = format!("data:text/javascript,window.__t=1//{MARKUP}\"'");
    ws.shop.edit(Origin::Shop, "/checkout", |r| {
        let tag = format!("<script src=\"{}\"></script>", src.replace('"', "&quot;"));
        r.body = r.body.replacen("</body>", &format!("{tag}\n</body>"), 1);
    });
    let (code, report) = ws.scan(&[]);
    assert_eq!(code, 1);
    let planted = findings_of(&report, FindingKind::NewScript)
        .into_iter()
        .find(|f| f.script.as_ref().unwrap().url.as_deref().is_some_and(|u| u.contains(MARKUP)))
        .unwrap_or_else(|| panic!("no finding for the data: script with markup:\n{}", describe(&report)))
        .clone();

    // Incident while open: first seen in this scan, still open.
    let out = ws.skimwatch().args(["incident", &planted.id, "--format", "json"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let open: Incident = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(open.finding.resolution, Resolution::Open);
    assert_eq!(open.timeline[0].event, "first_seen");
    assert_eq!(open.timeline[0].scan_id, report.pages[0].scan_id);
    assert_eq!(open.detected_at, open.finding.first_seen);

    // Approve it (e.g. after review it is a known A/B test), rescan: resolved by approval.
    ws.skimwatch()
        .args([
            "baseline",
            "approve",
            "--finding",
            &planted.id,
            "--by",
            "carol",
            "--reason",
            "A/B test snippet, ticket SEC-42",
        ])
        .assert()
        .success();
    let (_, after) = ws.scan(&[]);
    assert!(!after.pages[0].findings.iter().any(|f| f.id == planted.id), "{}", describe(&after));
    let out = ws.skimwatch().args(["incident", &planted.id]).output().unwrap();
    assert!(out.status.success());
    let text = stdout(&out);
    assert!(text.contains("approved by carol") && text.contains("GDPR"), "{text}");
    assert!(!text.contains('\u{1b}'), "no terminal escapes from page data");
    ws.skimwatch().args(["incident", "Fnosuchfinding"]).assert().code(2);

    // 6.4.3 inventory as CSV: one row per script, with approval and sightings.
    let out = ws.skimwatch().args(["inventory", "--format", "csv"]).output().unwrap();
    assert!(out.status.success());
    let csv_text = stdout(&out);
    println!("--- inventory CSV (first lines) ---\n{}", csv_text.lines().take(4).collect::<Vec<_>>().join("\n"));
    let mut rdr = csv::Reader::from_reader(csv_text.as_bytes());
    let headers = rdr.headers().unwrap().clone();
    assert_eq!(&headers[1], "script");
    let rows: Vec<csv::StringRecord> = rdr.records().map(|r| r.unwrap()).collect();
    let col = |name: &str| headers.iter().position(|h| h == name).unwrap();
    let app =
        rows.iter().find(|r| &r[col("script")] == "self:/static/js/checkout.js").expect("first-party app in inventory");
    assert_eq!(&app[col("status")], "approved");
    assert_eq!(&app[col("approved_by")], "test");
    assert_eq!(&app[col("seen_in_scans")], "3");
    assert!(!app[col("first_seen")].is_empty());
    let fields = rows.iter().find(|r| r[col("url")].ends_with("/static/fields.js")).expect("payment iframe script");
    // The card number lives in the provider's iframe: only the provider's script reaches it;
    // the shop's own scripts share the document with the cardholder-name field only.
    assert!(fields[col("payment_fields")].contains("#tp-number"), "{:?}", &fields[col("payment_fields")]);
    assert!(
        app[col("payment_fields")].starts_with("can read card fields")
            && !app[col("payment_fields")].contains("#tp-number")
    );

    // The log verifies, and the evidence report escapes what the page controls.
    let out = ws.skimwatch().args(["log", "verify"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    assert!(stdout(&out).contains("3 record(s) verified"), "{}", stdout(&out));
    let dir = ws.dir.path().join("evidence");
    let out = ws.skimwatch().args(["evidence", "--since", "2000-01-01", "--out"]).arg(&dir).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}{}", stdout(&out), String::from_utf8_lossy(&out.stderr));
    let html = std::fs::read_to_string(dir.join("evidence.html")).unwrap();
    assert!(!html.contains(MARKUP), "the markup must not reach the HTML unescaped");
    assert!(html.contains("&lt;img src=x onerror=alert(1)&gt;"), "it is shown, escaped");
    assert!(!html.to_ascii_lowercase().contains("<script"), "no scripts in the report");
    assert!(html.contains("default-src &#x27;none&#x27;") || html.contains("default-src 'none'"));
    assert!(html.contains("verified"));
    let evidence: Evidence =
        serde_json::from_str(&std::fs::read_to_string(dir.join("evidence.json")).unwrap()).unwrap();
    assert!(evidence.log.ok());
    assert_eq!(evidence.scans.len(), 3);
    // Which intelligence the scans were checked against (issue 14): the shipped lists, each
    // version with its period and the three scans.
    let maltrail = evidence.intel.iter().find(|u| u.version.name == "maltrail-magentocore").expect("the domain list");
    assert_eq!((maltrail.version.origin.as_str(), maltrail.scans), ("shipped", 3), "{maltrail:?}");
    assert_eq!(maltrail.version.sha256.len(), 64);
    assert!(maltrail.first_used <= maltrail.last_used);
    assert!(evidence.intel.iter().any(|u| u.version.kind == "retirejs" && u.scans == 3), "{:?}", evidence.intel);
    assert!(html.contains("Intelligence the scans checked against") && html.contains(&maltrail.version.sha256));
    assert_eq!(evidence.pages[0].name, "checkout");
    // What the shopper saw: the latest scan's picture beside the approved one, embedded in the
    // HTML; the approved picture is kept beside the baseline.
    let (latest, approved) = (&evidence.pages[0].screenshot, &evidence.pages[0].approved_screenshot);
    let (latest, approved) = (latest.as_ref().expect("latest picture"), approved.as_ref().expect("approved picture"));
    assert_eq!(latest.scan_id, evidence.scans.last().map(|s| s.id));
    assert_eq!(latest.key, approved.key, "the approved page, unchanged since");
    assert!(ws.dir.path().join(format!("baselines/screenshots/{}.png", approved.key)).is_file());
    let baseline = std::fs::read_to_string(ws.dir.path().join("baselines/checkout.toml")).unwrap();
    assert!(baseline.contains(&format!("screenshot = \"{}\"", approved.key)), "{baseline}");
    assert_eq!(html.matches("src=\"data:image/png;base64,iVBORw0KGgo").count(), 2, "both pictures, as PNG data");
    assert!(html.contains("The latest scan shows the page as approved."));
    let record = evidence.findings.iter().find(|f| f.id == planted.id).unwrap();
    assert!(matches!(&record.resolution, Resolution::Approved { by, .. } if by == "carol"), "{:?}", record.resolution);
    // The first scan's findings were approved wholesale: resolved too.
    assert!(evidence.findings.iter().all(|f| f.resolution != Resolution::Open), "{:?}", evidence.findings);

    // Edit one scan row: verify fails (exit 1) and names it; the evidence shows the break.
    let second = report.pages[0].scan_id.unwrap();
    let db = rusqlite::Connection::open(ws.dir.path().join("state/skimwatch.db")).unwrap();
    db.execute("UPDATE scans SET finished_at = '2000-01-01T00:00:00Z' WHERE id = ?1", [second]).unwrap();
    drop(db);
    let out = ws.skimwatch().args(["log", "verify"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    assert!(stdout(&out).contains(&format!("BROKEN at scan #{second}")), "{}", stdout(&out));
    let out = ws.skimwatch().args(["evidence", "--since", "2000-01-01", "--out"]).arg(&dir).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let html = std::fs::read_to_string(dir.join("evidence.html")).unwrap();
    assert!(html.contains(&format!("BROKEN</span> at scan #{second}")), "the report shows the break");
}
