//! Issue 5 end to end: the `skimwatch watch` daemon (the real binary) scans the shop with real
//! Chromium, records into a real SQLite file and mails alerts to a real SMTP server on loopback.
//! Every wait is on an observable event (a mail arriving, a row in the database, a request
//! reaching the shop), bounded by a timeout.

use crate::util::daemon::*;
use crate::util::smtp::{free_port, Received, SmtpServer};
use crate::util::Workspace;
use skimwatch::alert::outbox::Status;
use skimwatch::model::FindingKind;
use skimwatch_testshop::{Origin, Resource};
use std::process::{Command, Stdio};
use std::time::Duration;

struct Email {
    subject: String,
    text: String,
    html: String,
    headers: String,
    /// (file name, contents) of each attachment.
    attachments: Vec<(String, Vec<u8>)>,
}

fn parse(m: &Received) -> Email {
    let msg = mail_parser::MessageParser::default().parse(&m.data).expect("a MIME message");
    let raw = String::from_utf8_lossy(&m.data);
    Email {
        subject: msg.subject().unwrap_or_default().to_string(),
        text: msg.body_text(0).unwrap_or_default().to_string(),
        html: msg.body_html(0).unwrap_or_default().to_string(),
        headers: raw.split("\r\n\r\n").next().unwrap_or_default().to_string(),
        attachments: msg
            .attachments()
            .map(|a| {
                (mail_parser::MimeHeaders::attachment_name(a).unwrap_or_default().to_string(), a.contents().to_vec())
            })
            .collect(),
    }
}

/// Splits a command line as a POSIX shell would for the quoting the emails use.
fn shell_words(line: &str) -> Vec<String> {
    let (mut words, mut cur, mut quoted, mut any) = (Vec::new(), String::new(), false, false);
    for c in line.chars() {
        match c {
            '\'' => {
                quoted = !quoted;
                any = true;
            }
            c if c.is_whitespace() && !quoted => {
                if any || !cur.is_empty() {
                    words.push(std::mem::take(&mut cur));
                    any = false;
                }
            }
            c => cur.push(c),
        }
    }
    if any || !cur.is_empty() {
        words.push(cur);
    }
    words
}

// ---------------------------------------------------------------------------------------------
// tests
// ---------------------------------------------------------------------------------------------

#[test]
fn skimmer_produces_exactly_one_actionable_email_escaped_and_header_safe() {
    let _serial = serial();
    let smtp = SmtpServer::start();
    let ws = Workspace::new().without_shopper();
    ws.approved_baseline();
    configure(&ws, "interval = \"1s\"\n", &email_config(smtp.port()));

    // The attack, plus page content built to break an email: a script identity with `<script>`
    // in it, and an element id with CR LF and a header after it.
    ws.shop.append_skimmer_to_first_party();
    ws.shop.edit(Origin::Shop, "/checkout", |page| {
        let hostile = concat!(
            "<script id=\"cfg&#13;&#10;Bcc: victim@attacker.example\">window.__cfg = 1;</script>\n",
            // Markup in an element id reaches the handler script's identity verbatim.
            "<img id=\"x<script>alert(1)</script>\" src=\"/static/img/none.png\" alt=\"\" onerror=\"window.__x = 1\">\n",
        );
        let at = page.body.rfind("</body>").unwrap();
        page.body.insert_str(at, hostile);
        // And what a shopper would see: a banner above the form (the picture changes).
        let at = page.body.find("<body>").unwrap() + "<body>".len();
        page.body.insert_str(at, "<div style=\"background:#c00;color:#fff;height:120px\">Verify your card</div>");
    });

    let mut daemon = Daemon::start(&ws);
    let mails = smtp.wait_for(1, LONG);
    assert_eq!(mails.len(), 1, "an email within the timeout; daemon log:\n{}", daemon.log());
    // Two more scans of the same changes: no second email.
    wait_for_scans(&ws, &daemon, ok_scans(&ws), 2);
    assert_eq!(smtp.messages().len(), 1, "the same findings are not mailed again");

    let mail = &mails[0];
    assert_eq!(mail.to, vec!["<secops@shop.example>".to_string()], "only the configured recipient");
    // The loopback server offers no STARTTLS, so these tests configure no credentials (they would
    // never be sent in clear: hostile::contain covers that).
    assert_eq!(mail.auth, None, "no credentials configured, none sent");
    assert!(!daemon.log().contains(PASSWORD), "the password is never logged");
    let email = parse(mail);
    println!("---- rendered alert (text part) ----\nSubject: {}\n\n{}", email.subject, email.text);

    let findings = latest_findings(&ws);
    let altered = findings.iter().find(|f| f.kind == FindingKind::AlteredScript).expect("altered checkout.js");
    let script = altered.script.as_ref().unwrap();

    // Subject: severity, what happened, where; one line.
    // The subject leads with the most severe finding's severity (static hints on the skimmer
    // code can raise it above high).
    let worst = findings.iter().map(|f| f.severity).max().unwrap();
    assert!(worst >= skimwatch::model::Severity::High);
    let prefix = format!("[skimwatch] {}: ", worst.as_str().to_uppercase());
    assert!(email.subject.starts_with(&prefix), "{}", email.subject);
    assert!(email.subject.contains(" on checkout (+"), "{}", email.subject);
    assert!(!email.subject.contains('\n') && !email.subject.contains('\r'));
    // Body: page, URL, each finding with kind, script, hash, diff, first seen, approve command.
    assert!(email.text.contains(&format!("URL:    {}", ws.shop.checkout_url())), "{}", email.text);
    assert!(email.text.contains(&format!("finding id:  {}", altered.id)));
    assert!(email.text.contains(&format!("script URL:  {}", script.url.as_deref().unwrap())));
    assert!(email.text.contains(&format!("sha256:      {}", script.sha256)));
    assert!(email.text.contains("kind:        altered_script"));
    assert!(email.text.contains("first seen:  20"), "{}", email.text);
    assert!(
        email.text.lines().any(|l| l.trim_start().starts_with('+') && l.contains("new Image().src")),
        "diff: {}",
        email.text
    );
    let config = std::path::absolute(&ws.config).unwrap();
    let approve = format!(
        "skimwatch --config {} baseline approve --page checkout --finding {} --by YOUR_NAME --reason 'WHY THIS CHANGE IS INTENDED'",
        config.display(),
        altered.id
    );
    assert!(email.text.contains(&approve), "{approve}\n{}", email.text);
    // Entity spelling differs between escapers (`&#x27;`/`&#39;`, `/` escaped or not).
    let unescaped = email.html.replace("&#x2f;", "/").replace("&#x27;", "'").replace("&#39;", "'");
    assert!(unescaped.contains(&approve), "{}", email.html);

    // Hostile page data: escaped in HTML, never a header.
    assert!(email.text.contains("main|handler|img#x<script>alert(1)</script>@onerror"), "{}", email.text);
    assert!(!email.html.contains("<script>alert(1)"), "{}", email.html);
    assert!(unescaped.contains("&lt;script&gt;alert(1)&lt;/script&gt;"), "{}", email.html);
    assert!(email.text.contains("Bcc: victim@attacker.example"), "the injection attempt reached the email as text");
    // What the shopper saw: the payment page's screenshot, attached as a PNG, kept in the database once.
    // The page looks different from the approved one: both side by side too.
    let names: Vec<&str> = email.attachments.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, vec!["payment-page.png", "approved-vs-current.png"], "the screenshots are attached");
    assert!(email.attachments.iter().all(|(_, png)| png.starts_with(b"\x89PNG\r\n")), "PNGs");
    let width = |png: &[u8]| u32::from_be_bytes(png[16..20].try_into().unwrap());
    let (current, both) = (&email.attachments[0].1, &email.attachments[1].1);
    assert!(width(both) > 2 * width(current), "two pictures side by side");
    assert!(!email.headers.to_ascii_lowercase().contains("\nbcc:"), "{}", email.headers);
    assert!(!email.text.lines().any(|l| l.starts_with("Bcc:")));

    // The email's approve-all command, run as written, approves the changes: no more findings.
    let line = email
        .text
        .lines()
        .skip_while(|l| !l.starts_with("To approve all of them"))
        .nth(1)
        .expect("approve-all command");
    let args = shell_words(line.trim().replace("YOUR_NAME", "alice").as_str());
    assert_eq!(args[0], "skimwatch");
    let out = Command::new(assert_cmd::cargo::cargo_bin("skimwatch")).args(&args[1..]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let seen = ok_scans(&ws);
    wait_until("a clean scan after approval", LONG, Some(&daemon), || {
        (ok_scans(&ws) > seen && latest_findings(&ws).is_empty()).then_some(())
    });
    assert_eq!(smtp.messages().len(), 1);

    // SIGTERM: a clean exit.
    let status = daemon.terminate();
    assert_eq!(status.code(), Some(0), "{}", daemon.log());
    assert!(daemon.log().contains("watch stopped"), "{}", daemon.log());
}

#[test]
fn alerts_raised_while_smtp_is_down_are_all_delivered_once_it_is_back() {
    let _serial = serial();
    let shop = skimwatch_testshop::Shop::start_in_background().unwrap();
    let pages: Vec<(&str, String)> =
        ["a", "b", "c"].iter().map(|p| (*p, format!("{}?page={p}", shop.checkout_url()))).collect();
    let ws = Workspace::with_pages(shop, &pages).without_shopper();
    let port = free_port(); // nothing listens: connections are refused
    let text = std::fs::read_to_string(&ws.config).unwrap().replace("\n[[page]]\n", "\n[[page]]\ninterval = \"2s\"\n");
    std::fs::write(&ws.config, text + &email_config(port)).unwrap();

    // Never approved: each page's first scan raises one alert.
    let daemon = Daemon::start(&ws);
    let failed_attempts =
        "SELECT count(*) FROM outbox WHERE sent_at IS NULL AND attempts >= 1 AND last_error IS NOT NULL";
    wait_until("3 alerts queued and failing", LONG, Some(&daemon), || (count(&ws, failed_attempts) == 3).then_some(()));
    let st = status(&ws);
    assert_eq!(st.outbox.queued, 3);
    assert!(
        st.outbox.pending.iter().all(|p| p.last_error.as_deref().is_some_and(|e| e.contains("127.0.0.1:"))),
        "{:?}",
        st.outbox
    );
    assert!(st.pages.iter().all(|p| p.last_ok.is_some() && !p.open_findings.is_empty()));
    assert_eq!(st.daemon, Some(format!("pid {}", daemon.pid())));

    let smtp = SmtpServer::start_on(port);
    let mails = smtp.wait_for(3, LONG);
    assert_eq!(mails.len(), 3, "daemon log:\n{}", daemon.log());
    wait_until("the outbox marked 3 sent", LONG, Some(&daemon), || {
        (count(&ws, "SELECT count(*) FROM outbox WHERE sent_at IS NOT NULL") == 3).then_some(())
    });
    // More scans and delivery rounds: nothing is sent twice.
    wait_for_scans(&ws, &daemon, ok_scans(&ws), 3);
    assert_eq!(smtp.messages().len(), 3);
    let subjects: Vec<String> = mails.iter().map(|m| parse(m).subject).collect();
    assert!(subjects.iter().all(|s| s.starts_with("[skimwatch] HIGH: ")), "{subjects:?}");
    for page in ["a", "b", "c"] {
        let n = subjects.iter().filter(|s| s.contains(&format!(" on {page} (+"))).count();
        assert_eq!(n, 1, "one email for page {page}: {subjects:?}");
    }
    assert_eq!(count(&ws, "SELECT count(*) FROM outbox"), 3);
}

#[test]
fn daemon_killed_mid_scan_and_restarted_loses_and_duplicates_nothing() {
    let _serial = serial();
    let ws = Workspace::new().without_shopper();
    ws.approved_baseline();
    let port = free_port();
    // A long settle keeps each scan in flight for seconds, so the kill lands mid-scan.
    configure(&ws, "interval = \"1s\"\nsettle = \"3s\"\n", &email_config(port));
    ws.shop.append_skimmer_to_first_party();

    // First life: the alert is queued (SMTP is down), then the daemon dies mid-scan.
    let mut first = Daemon::start(&ws);
    wait_until("the alert queued", LONG, Some(&first), || {
        (count(&ws, "SELECT count(*) FROM outbox WHERE attempts >= 1") == 1).then_some(())
    });
    let loads = checkout_loads(&ws);
    wait_until("the next scan in flight", LONG, Some(&first), || (checkout_loads(&ws) > loads).then_some(()));
    let scans_before = count(&ws, "SELECT count(*) FROM scans");
    first.kill9();
    // The scan in flight left nothing half-written.
    assert_eq!(count(&ws, "SELECT count(*) FROM scans"), scans_before);
    let integrity: String = db(&ws).query_row("PRAGMA integrity_check", [], |r| r.get(0)).unwrap();
    assert_eq!(integrity, "ok");
    assert_eq!(count(&ws, "SELECT count(*) FROM outbox WHERE sent_at IS NULL"), 1);

    // Second life, mail server up: the queued alert goes out once, the finding is not re-mailed.
    let smtp = SmtpServer::start_on(port);
    let second = Daemon::start(&ws);
    let mails = smtp.wait_for(1, LONG);
    assert_eq!(mails.len(), 1, "daemon log:\n{}", second.log());
    wait_for_scans(&ws, &second, ok_scans(&ws), 2);
    assert_eq!(smtp.messages().len(), 1, "no duplicate after the restart");
    assert_eq!(count(&ws, "SELECT count(*) FROM outbox"), 1);
    assert_eq!(count(&ws, "SELECT count(*) FROM outbox WHERE sent_at IS NOT NULL"), 1);
    let altered = latest_findings(&ws).into_iter().find(|f| f.kind == FindingKind::AlteredScript).unwrap();
    assert!(parse(&mails[0]).text.contains(&altered.id), "the finding is in the email");
    assert!(altered.seen_count.is_none() || altered.seen_count.unwrap() >= 1);

    // A second daemon on the same database refuses to start, and says why.
    let out = ws.skimwatch().arg("watch").env(PASSWORD_ENV, PASSWORD).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains(&format!("pid {}", second.pid())) && stderr.contains("already watching"), "{stderr}");
}

#[test]
fn chromium_killed_mid_scan_is_restarted_and_the_next_scan_succeeds() {
    let _serial = serial();
    let ws = Workspace::new().without_shopper();
    ws.approved_baseline();
    configure(&ws, "interval = \"1s\"\nsettle = \"3s\"\n", "");
    let daemon = Daemon::start(&ws);
    wait_for_scans(&ws, &daemon, ok_scans(&ws), 1);
    let browser = wait_until("the daemon's Chromium", LONG, Some(&daemon), || browser_of(daemon.pid()));

    let loads = checkout_loads(&ws);
    wait_until("a scan in flight", LONG, Some(&daemon), || (checkout_loads(&ws) > loads).then_some(()));
    let ok_before = ok_scans(&ws);
    signal(browser, nix::sys::signal::Signal::SIGKILL);

    wait_for_scans(&ws, &daemon, ok_before, 2);
    let replacement = browser_of(daemon.pid()).expect("a new Chromium");
    assert_ne!(replacement, browser);
    assert!(daemon.log().contains("generation=2"), "restart logged:\n{}", daemon.log());
    // The interrupted scan was retried in the new browser rather than recorded as failed.
    assert_eq!(count(&ws, "SELECT count(*) FROM scans WHERE status = 'error'"), 0, "{}", daemon.log());
}

#[test]
fn a_page_failing_three_times_raises_scan_failing_then_an_all_clear() {
    let _serial = serial();
    let smtp = SmtpServer::start();
    let ws = Workspace::new().without_shopper();
    ws.approved_baseline();
    configure(&ws, "interval = \"1s\"\n", &email_config(smtp.port()));
    ws.shop
        .set_dynamic(Origin::Shop, "/checkout", |_| Resource::html("<h1>down for maintenance</h1>").with_status(503));

    // Cron mode: one failed scan, exit code 3, no alert yet (one failure is not three).
    let once = ws.skimwatch().args(["watch", "--once"]).env(PASSWORD_ENV, PASSWORD).output().unwrap();
    assert_eq!(once.status.code(), Some(3), "{}", String::from_utf8_lossy(&once.stderr));
    assert_eq!(count(&ws, "SELECT count(*) FROM scans WHERE status = 'error'"), 1);

    let daemon = Daemon::start(&ws);
    let mails = smtp.wait_for(1, LONG);
    assert_eq!(mails.len(), 1, "{}", daemon.log());
    let email = parse(&mails[0]);
    assert_eq!(email.subject, "[skimwatch] SCAN FAILING: checkout could not be scanned 3 times in a row");
    assert!(email.text.contains("HTTP 503"), "{}", email.text);
    assert!(count(&ws, "SELECT count(*) FROM scans WHERE status = 'error'") >= 3);
    // Failing on: still one alert.
    let errors = count(&ws, "SELECT count(*) FROM scans WHERE status = 'error'");
    wait_until("two more failed scans", LONG, Some(&daemon), || {
        (count(&ws, "SELECT count(*) FROM scans WHERE status = 'error'") >= errors + 2).then_some(())
    });
    assert_eq!(smtp.messages().len(), 1);
    assert!(status(&ws).pages[0].consecutive_failures >= 5);

    // The page comes back: a short all-clear.
    ws.shop.remove_dynamic(Origin::Shop, "/checkout");
    let mails = smtp.wait_for(2, LONG);
    assert_eq!(mails.len(), 2, "{}", daemon.log());
    assert_eq!(parse(&mails[1]).subject, "[skimwatch] all clear: checkout scans again");
}

#[test]
fn a_page_that_hangs_the_renderer_fails_alone_and_the_run_carries_on() {
    let _serial = serial();
    let shop = skimwatch_testshop::Shop::start_in_background().unwrap();
    shop.set_resource(Origin::Shop, "/spin", Resource::html("<html><body><script>for (;;) {}</script></body></html>"));
    let pages = [("spin", shop.url(Origin::Shop, "/spin")), ("checkout", shop.checkout_url())];
    let ws = Workspace::with_pages(shop, &pages).without_shopper();
    let text = std::fs::read_to_string(&ws.config).unwrap().replace("\n[[page]]\n", "\n[[page]]\ntimeout = \"5s\"\n");
    std::fs::write(&ws.config, text).unwrap();

    let out = ws.skimwatch().args(["watch", "--once"]).output().unwrap();
    assert_eq!(out.status.code(), Some(3), "{}", String::from_utf8_lossy(&out.stderr));
    let conn = db(&ws);
    let result = |page: &str| -> (String, Option<String>) {
        conn.query_row("SELECT status, error FROM scans WHERE page = ?1", [page], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
    };
    let (status, error) = result("spin");
    assert_eq!(status, "error");
    assert!(error.as_deref().unwrap_or_default().contains("timed out"), "{error:?}");
    assert_eq!(result("checkout").0, "ok", "the other page scanned despite the hung one");
}

/// `GET path` on loopback `port`: (status code, body), or `None` while nothing answers.
fn http_get(port: u16, path: &str) -> Option<(u16, String)> {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    write!(stream, "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n").ok()?;
    let mut raw = String::new();
    stream.read_to_string(&mut raw).ok()?;
    let code = raw.split(' ').nth(1)?.parse().ok()?;
    let body = raw.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).unwrap_or_default();
    Some((code, body))
}

#[test]
fn metrics_parse_as_prometheus_text_and_move_after_a_scan() {
    let _serial = serial();
    let ws = Workspace::new().without_shopper();
    let port = free_port();
    configure(&ws, "interval = \"1h\"\n", &format!("\n[watch]\nlisten = {port}\n"));
    let daemon = Daemon::start(&ws);
    let scanned = |text: &str| -> f64 {
        let lines = text.lines().map(|l| Ok(l.to_string()));
        let scrape = prometheus_parse::Scrape::parse(lines).expect("Prometheus text");
        scrape
            .samples
            .iter()
            .filter(|s| s.metric == "skimwatch_scans_total" && s.labels.get("page") == Some("checkout"))
            .map(|s| match s.value {
                prometheus_parse::Value::Counter(v) | prometheus_parse::Value::Untyped(v) => v,
                _ => 0.0,
            })
            .sum()
    };
    let (code, health) = wait_until("/healthz answers", LONG, Some(&daemon), || http_get(port, "/healthz"));
    assert_eq!((code, health.as_str()), (200, "ok\n"));
    let text = wait_until("a scan counted in /metrics", LONG, Some(&daemon), || {
        http_get(port, "/metrics").filter(|(_, body)| scanned(body) >= 1.0).map(|(_, body)| body)
    });
    assert!(text.contains("skimwatch_open_findings{page=\"checkout\",severity=\"high\"}"), "{text}");
    assert!(text.contains("skimwatch_last_successful_scan_timestamp_seconds{page=\"checkout\"}"), "{text}");
    assert!(text.contains("skimwatch_scan_duration_seconds_count 1"), "{text}");
    assert!(text.contains("\nskimwatch_scans_running 0\n"), "the one scan is over: {text}");
    assert_eq!(http_get(port, "/nothing").map(|(c, _)| c), Some(404));
}

#[test]
fn three_shards_cover_every_page_once_and_status_merges_their_databases() {
    let _serial = serial();
    let shop = skimwatch_testshop::Shop::start_in_background().unwrap();
    let names: Vec<String> = (0..5).map(|i| format!("p{i}")).collect();
    let pages: Vec<(&str, String)> =
        names.iter().map(|n| (n.as_str(), format!("{}?page={n}", shop.checkout_url()))).collect();
    let ws = Workspace::with_pages(shop, &pages).without_shopper();
    let state = ws.dir.path().join("state");
    // Three shard processes at once, as a StatefulSet runs them.
    let shards: Vec<_> = (0..3)
        .map(|k| {
            Command::new(assert_cmd::cargo::cargo_bin("skimwatch"))
                .arg("--config")
                .arg(&ws.config)
                .args(["watch", "--once", "--shard", &format!("{k}/3")])
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for shard in shards {
        let out = shard.wait_with_output().unwrap();
        assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    }
    let mut scanned = Vec::new();
    for k in 0..3 {
        let db = rusqlite::Connection::open(state.join(format!("skimwatch.shard-{k}-of-3.db"))).unwrap();
        let mut stmt = db.prepare("SELECT page FROM scans WHERE status = 'ok'").unwrap();
        scanned.extend(stmt.query_map([], |r| r.get::<_, String>(0)).unwrap().map(Result::unwrap));
    }
    scanned.sort();
    assert_eq!(scanned, names, "every page scanned by exactly one shard");
    assert!(!state.join("skimwatch.db").exists(), "the shards use their own databases");

    let dbs: Vec<String> =
        (0..3).map(|k| state.join(format!("skimwatch.shard-{k}-of-3.db")).display().to_string()).collect();
    let out = ws
        .skimwatch()
        .args(["status", "--format", "json"])
        .args(dbs.iter().flat_map(|d| ["--database", d.as_str()]))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let merged: Status = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(merged.databases.len(), 3);
    assert!(merged.pages.iter().all(|p| p.last_ok.is_some()), "{:?}", merged.pages);
    assert_eq!(merged.pages.iter().map(|p| p.name.clone()).collect::<Vec<_>>(), names);

    // One inventory and one evidence report for the assessor, over the three databases.
    let db_args: Vec<&str> = dbs.iter().flat_map(|d| ["--database", d.as_str()]).collect();
    let out = ws.skimwatch().args(["inventory", "--format", "json"]).args(&db_args).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let rows: Vec<skimwatch::evidence::InventoryRow> = serde_json::from_slice(&out.stdout).unwrap();
    for name in &names {
        assert!(
            rows.iter().any(|r| &r.page == name && r.seen_in_scans == 1),
            "{name}: its shard's sightings are in the merged inventory"
        );
    }
    let report = ws.dir.path().join("evidence");
    let out = ws
        .skimwatch()
        .args(["evidence", "--since", "2020-01-01", "--out", report.to_str().unwrap()])
        .args(&db_args)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let e: skimwatch::evidence::Evidence =
        serde_json::from_slice(&std::fs::read(report.join("evidence.json")).unwrap()).unwrap();
    assert_eq!(e.scans.len(), names.len(), "every shard's scans");
    assert!(e.scans.iter().all(|s| s.database.is_some()), "each scan names its database");
    assert_eq!(e.logs.len(), 3);
    assert!(e.log.ok() && e.log.verified == names.len() as u64, "{:?}", e.log);
    let html = std::fs::read_to_string(report.join("evidence.html")).unwrap();
    assert!(html.contains("shard-2-of-3.db"), "the report names the databases");
}
