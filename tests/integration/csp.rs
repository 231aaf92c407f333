//! Issue 14 (parts 1–2): the approved baseline as an enforced policy. The generated CSP, sent
//! by the test shop, lets the approved checkout run in real Chromium with no violation and
//! blocks a planted inline skimmer (the browser's report reaches a receiver on loopback); the
//! SRI attributes are those of the served files, and Chromium refuses a changed file.

use crate::util::daemon::{configure, count, latest_findings, ok_scans, serial, wait_until, Daemon};
use crate::util::http::{HttpReceiver, Mode};
use crate::util::smtp::free_port;
use crate::util::{describe, findings_of, Workspace};
use skimwatch::model::{FindingKind, ScriptKind};
use skimwatch_testshop::Origin;
use std::time::Duration;

fn policy_json(ws: &Workspace, args: &[&str]) -> serde_json::Value {
    let out =
        ws.skimwatch().arg("policy").args(args).args(["--page", "checkout", "--format", "json"]).output().unwrap();
    assert!(out.status.success(), "policy {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn generated_csp_runs_the_approved_shop_and_blocks_an_injected_skimmer() {
    let ws = Workspace::new().without_shopper();
    ws.approved_baseline();
    let receiver = HttpReceiver::start(Mode::Ok);
    let report_uri = receiver.url("/csp/checkout");
    let policy = policy_json(&ws, &["csp", "--report-uri", &report_uri, "--no-report-to"]);
    let value = policy["value"].as_str().unwrap().to_string();
    assert!(value.contains(&format!("report-uri {report_uri}")), "{value}");
    // The shop's own policy allows inline code and any http(s) script: both are named looser.
    let looser = policy["looser"].as_array().unwrap();
    let script = looser.iter().find(|l| l["directive"] == "script-src").expect("script-src is looser");
    assert!(script["allows"].to_string().contains("'unsafe-inline'"), "{script}");

    ws.shop.set_header("/checkout", "Content-Security-Policy", &value);
    let (_, report) = ws.scan(&[]);
    let page = &report.pages[0];
    // Every approved script of the top-level document still ran (a blocked one would be
    // missing: CSP stops it before it compiles); only the header changed.
    let baseline = skimwatch::baseline::BaselineDir::new(ws.dir.path().join("baselines")).load("checkout").unwrap();
    let main_frame = |id: &str| !id.contains('|') || id.starts_with("main|");
    let approved: Vec<_> = baseline.scripts.iter().filter(|s| main_frame(&s.id)).collect();
    assert!(approved.len() >= 4, "the shop's checkout runs several scripts: {approved:?}");
    for a in approved {
        assert!(
            page.scripts.iter().any(|s| s.id == a.id && s.sha256 == a.sha256 && s.approved),
            "{} did not run under the generated policy:\n{}",
            a.id,
            describe(&report)
        );
    }
    let kinds: Vec<_> = page.findings.iter().map(|f| f.kind).collect();
    assert!(kinds.iter().all(|k| *k == FindingKind::HeaderChange), "{}", describe(&report));

    // A planted inline skimmer is blocked (it never compiles) and reported.
    let code = ws.shop.inline_skimmer_code();
    ws.shop.add_inline_script(&code);
    let (_, report) = ws.scan(&[]);
    assert!(
        findings_of(&report, FindingKind::NewScript)
            .iter()
            .all(|f| f.script.as_ref().unwrap().kind != ScriptKind::Inline),
        "the blocked skimmer ran: {}",
        describe(&report)
    );
    let got = receiver.wait_until(Duration::from_secs(20), |rs| !rs.is_empty());
    assert!(!got.is_empty(), "no violation report arrived");
    for r in &got {
        let body = r.json();
        let v = &body["csp-report"];
        assert_eq!(r.path, "/csp/checkout");
        // Nothing approved was reported: the only violation is the planted inline block.
        assert_eq!(v["blocked-uri"], "inline", "{body}");
        assert!(v["effective-directive"].as_str().unwrap().starts_with("script-src"), "{body}");
    }
}

#[test]
fn sri_attributes_match_the_served_files_and_chromium_refuses_a_changed_one() {
    let ws = Workspace::new().without_shopper();
    ws.approved_baseline();
    let entries = policy_json(&ws, &["sri"]);
    let entries = entries.as_array().unwrap();
    let app = "/static/js/checkout.js";
    let entry = entries.iter().find(|e| e["script"] == format!("self:{app}")).expect("checkout.js has an entry");
    let served = ws.shop.get_body(Origin::Shop, app).unwrap();
    assert_eq!(entry["integrity"], skimwatch::inventory::sri_sha384(&served));
    // Every stable script's hash is that of the bytes the shop serves at its URL.
    for e in entries.iter().filter(|e| e["integrity"].is_string()) {
        let url = url::Url::parse(e["url"].as_str().unwrap()).unwrap();
        let origin = Origin::ALL.into_iter().find(|o| ws.shop.base(*o).contains(url.authority())).unwrap();
        let mut path = url.path().to_string();
        if let Some(q) = url.query() {
            path = format!("{path}?{q}");
        }
        let body = ws.shop.get_body(origin, &path).or_else(|| ws.shop.get_body(origin, url.path())).unwrap();
        assert_eq!(e["integrity"], skimwatch::inventory::sri_sha384(&body), "{e}");
    }

    // The template puts the attribute on the tag; then the file changes on the server.
    let attrs = entry["attributes"].as_str().unwrap().to_string();
    ws.shop.edit(Origin::Shop, "/checkout", |p| {
        let tag = format!("src=\"{app}\"");
        assert!(p.body.contains(&tag), "the checkout loads {app}");
        p.body = p.body.replace(&tag, &format!("{tag} {attrs}"));
    });
    let planted = ws.shop.append_skimmer_to_first_party();
    let (_, report) = ws.scan(&[]);
    let altered = skimwatch::inventory::sha256_hex(&ws.shop.get_body(Origin::Shop, app).unwrap());
    assert!(planted.code.len() > 10);
    assert!(
        !report.pages[0].scripts.iter().any(|s| s.sha256 == altered),
        "Chromium ran the changed file despite its integrity attribute: {}",
        describe(&report)
    );
    assert!(findings_of(&report, FindingKind::AlteredScript).is_empty(), "{}", describe(&report));
}

/// A raw HTTP/1.1 POST on loopback: the status and body (`None`: no answer).
fn http_post(port: u16, path: &str, content_type: &str, body: &[u8]) -> Option<(u16, String)> {
    http_post_with(port, path, &format!("Content-Type: {content_type}\r\n"), body)
}

/// `headers`: header lines, each ending in CRLF.
fn http_post_with(port: u16, path: &str, headers: &str, body: &[u8]) -> Option<(u16, String)> {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    write!(
        stream,
        "POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{headers}Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .ok()?;
    // A refused body may be answered before it is all sent.
    let _ = stream.write_all(body);
    let mut raw = Vec::new();
    let _ = stream.read_to_end(&mut raw);
    let raw = String::from_utf8_lossy(&raw).to_string();
    let code = raw.split(' ').nth(1)?.parse().ok()?;
    Some((code, raw.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).unwrap_or_default()))
}

fn http_get(port: u16, path: &str) -> Option<String> {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    write!(stream, "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n").ok()?;
    let mut raw = String::new();
    stream.read_to_string(&mut raw).ok()?;
    raw.split_once("\r\n\r\n").map(|(_, b)| b.to_string())
}

const LONG: Duration = Duration::from_secs(90);

/// The report endpoint's bounds, over plain HTTP (the reports need no browser; the daemon's
/// scan is waited for only by the inventory at the end):
/// an unknown page is 404, an oversize body 413, a flood from one source 429, a report of
/// either format 204, and each outcome is counted in `/metrics`; identical reports are one
/// stored group with a count.
#[test]
fn report_endpoint_refuses_oversize_and_flood_bodies_and_counts_them() {
    let _serial = serial();
    let ws = Workspace::new().without_shopper();
    let (reports, metrics) = (free_port(), free_port());
    configure(
        &ws,
        // Short: the daemon's first scan comes within a quarter interval (jitter).
        "interval = \"4s\"\n",
        &format!("\n[watch]\nlisten = {metrics}\n\n[reports]\nlisten = {reports}\nmax_body = 1024\nper_source_per_minute = 6\ntrusted_proxies = [\"127.0.0.0/8\"]\n"),
    );
    let daemon = Daemon::start(&ws);
    let legacy = br#"{"csp-report":{"document-uri":"http://127.0.0.1/checkout","effective-directive":"script-src-elem","blocked-uri":"http://127.0.0.4:1/js/x.js"}}"#;
    let code = wait_until("the report endpoint answers", LONG, Some(&daemon), || {
        http_post(reports, "/csp/nosuchpage", "application/csp-report", legacy)
    });
    assert_eq!(code.0, 404, "a page that is not configured");
    let big = vec![b' '; 4096];
    assert_eq!(http_post(reports, "/csp/checkout", "application/csp-report", &big).map(|r| r.0), Some(413));
    assert_eq!(http_post(reports, "/csp/checkout", "application/csp-report", legacy).map(|r| r.0), Some(204));
    assert_eq!(http_post(reports, "/csp/checkout", "application/csp-report", legacy).map(|r| r.0), Some(204));
    let api = br#"[{"type":"csp-violation","body":{"effectiveDirective":"script-src-elem","blockedURL":"chrome-extension://abc/x.js","documentURL":"http://127.0.0.1/checkout"}}]"#;
    assert_eq!(http_post(reports, "/csp/checkout", "application/reports+json", api).map(|r| r.0), Some(204));
    assert_eq!(http_post(reports, "/csp/checkout", "application/csp-report", b"not json").map(|r| r.0), Some(400));
    // Six tokens per minute: the seventh request of this source is refused.
    let flood: Vec<u16> = (0..3)
        .filter_map(|_| http_post(reports, "/csp/checkout", "application/csp-report", legacy).map(|r| r.0))
        .collect();
    assert_eq!(flood, vec![429, 429, 429]);
    let groups = count(&ws, "SELECT COUNT(*) FROM csp_violations");
    assert_eq!(groups, 2, "one group for the two identical reports, one for the extension");
    assert_eq!(count(&ws, "SELECT count FROM csp_violations WHERE blocked = 'http://127.0.0.4:1'"), 2);
    assert_eq!(count(&ws, "SELECT noise FROM csp_violations WHERE blocked = 'chrome-extension'"), 1);
    let text = wait_until("/metrics answers", LONG, Some(&daemon), || http_get(metrics, "/metrics"));
    for (outcome, n) in
        [("too_large", 1), ("unknown_page", 1), ("accepted", 2), ("noise", 1), ("invalid", 1), ("rate_limited", 3)]
    {
        let line = format!("skimwatch_csp_reports_total{{outcome=\"{outcome}\"}} {n}\n");
        assert!(text.contains(&line), "{line} in\n{text}");
    }
    // The inventory merges what real browsers reported: a script origin the monitor never saw.
    wait_until("the daemon's scan", LONG, Some(&daemon), || (ok_scans(&ws) >= 1).then_some(()));
    let out = ws.skimwatch().args(["inventory", "--format", "json"]).output().unwrap();
    let rows: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let cloaked: Vec<_> = rows.as_array().unwrap().iter().filter(|r| r["browser_reports"] != 0).collect();
    assert_eq!(cloaked.len(), 1, "{rows:#}");
    assert_eq!(cloaked[0]["script"], "http://127.0.0.4:1");
    assert_eq!(cloaked[0]["status"], "reported by browsers, never seen by the monitor");
    assert_eq!(cloaked[0]["browser_reports"], 2);
    let out = ws.skimwatch().args(["inventory", "--format", "html"]).output().unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains("2 report(s) from real browsers"), "the HTML shows it too");

    // Behind a trusted proxy (the loopback here) each client it forwards for has its own
    // bucket: six accepted, the seventh refused, the next client accepted again — while the
    // proxy's own bucket was emptied by the flood above.
    let from = |client: &str| {
        let headers = format!("Content-Type: application/csp-report\r\nX-Forwarded-For: 1.2.3.4, {client}\r\n");
        http_post_with(reports, "/csp/checkout", &headers, legacy).map(|r| r.0)
    };
    let one: Vec<Option<u16>> = (0..7).map(|_| from("198.51.100.7")).collect();
    assert_eq!(one, [[Some(204); 6].as_slice(), &[Some(429)]].concat());
    assert_eq!(from("198.51.100.8"), Some(204));
}

/// Real-user coverage end to end: the shop sends the generated policy with the daemon's
/// collector as `report-uri`, a planted inline skimmer is blocked in every load, the browser's
/// report reaches the collector, and the next scans raise one `csp_violation` finding (high:
/// a payment page) whose count grows with the loads.
#[test]
fn blocked_skimmer_reports_become_one_counted_csp_violation_finding() {
    let _serial = serial();
    let ws = Workspace::new().without_shopper();
    ws.approved_baseline();
    let reports = free_port();
    let uri = format!("http://127.0.0.1:{reports}/csp/checkout");
    let policy = policy_json(&ws, &["csp", "--report-uri", &uri, "--no-report-to"]);
    ws.shop.set_header("/checkout", "Content-Security-Policy", policy["value"].as_str().unwrap());
    let code = ws.shop.inline_skimmer_code();
    ws.shop.add_inline_script(&code);
    configure(&ws, "interval = \"2s\"\n", &format!("\n[reports]\nlisten = {reports}\n"));
    let daemon = Daemon::start(&ws);
    let finding = wait_until("a csp_violation with two reports", LONG, Some(&daemon), || {
        latest_findings(&ws)
            .into_iter()
            .find(|f| f.kind == FindingKind::CspViolation && f.violation.as_ref().is_some_and(|v| v.count >= 2))
    });
    let all: Vec<_> = latest_findings(&ws).into_iter().filter(|f| f.kind == FindingKind::CspViolation).collect();
    assert_eq!(all.len(), 1, "one group however many loads: {all:#?}");
    assert_eq!(all[0].id, finding.id, "a stable id");
    let v = finding.violation.unwrap();
    assert_eq!((v.blocked.as_str(), v.page.as_str()), ("inline", "checkout"));
    assert!(v.directive.starts_with("script-src"), "{v:?}");
    assert_eq!(finding.severity, skimwatch::model::Severity::High, "the checkout has payment fields");
}

/// A shopper's browser reporting a new violation does not wait for the page's interval: the
/// report brings the next scan forward, and that scan raises the `csp_violation`. Interval
/// 60 s (the first scan within 15 s, jitter): without the report the second scan would start
/// 54 s or more after the first.
#[test]
fn a_new_violation_reported_by_browsers_brings_the_next_scan_forward() {
    let _serial = serial();
    let ws = Workspace::new().without_shopper();
    ws.approved_baseline();
    let reports = free_port();
    configure(&ws, "interval = \"60s\"\n", &format!("\n[reports]\nlisten = {reports}\n"));
    let approved = ok_scans(&ws);
    let daemon = Daemon::start(&ws);
    wait_until("the daemon's first scan", LONG, Some(&daemon), || (ok_scans(&ws) > approved).then_some(()));
    assert!(!latest_findings(&ws).iter().any(|f| f.kind == FindingKind::CspViolation));
    let report = br#"{"csp-report":{"document-uri":"http://127.0.0.1/checkout","effective-directive":"script-src-elem","blocked-uri":"http://127.0.0.4:1/js/skim.js"}}"#;
    assert_eq!(http_post(reports, "/csp/checkout", "application/csp-report", report).map(|r| r.0), Some(204));
    let finding = wait_until("a csp_violation", LONG, Some(&daemon), || {
        latest_findings(&ws).into_iter().find(|f| f.kind == FindingKind::CspViolation)
    });
    assert_eq!(finding.violation.unwrap().blocked, "http://127.0.0.4:1");
    assert_eq!(ok_scans(&ws), approved + 2, "raised by the daemon's second scan");
    let apart = count(
        &ws,
        "SELECT CAST(round((julianday(max(started_at)) - julianday(min(started_at))) * 86400) AS INTEGER)
           FROM (SELECT started_at FROM scans ORDER BY id DESC LIMIT 2)",
    );
    assert!(apart < 30, "the second scan started {apart} s after the first, not brought forward");
    assert!(daemon.log().contains("browsers reported a new violation"), "{}", daemon.log());
}
