//! Issue 13, webhooks end to end: the `skimwatch watch` daemon (the real binary, real Chromium,
//! a real SQLite file) posts alerts to real HTTP receivers on loopback — skimwatch's signed
//! JSON, a Slack message, a Teams card — through the same outbox as email, each destination with
//! its own deliveries. Every wait is on an observable event (a request reaching a receiver, a
//! mail arriving, a row in the database), bounded by a timeout.

use crate::util::daemon::*;
use crate::util::http::{HttpReceiver, Mode, Request};
use crate::util::smtp::SmtpServer;
use crate::util::Workspace;
use serde_json::Value;
use skimwatch::alert::outbox::Status;
use skimwatch::alert::webhook::{sign, verify, VerifyError, DEFAULT_TOLERANCE};
use skimwatch_testshop::Origin;
use std::collections::BTreeSet;
use std::time::{Duration, Instant};

const SECRET_ENV: &str = "SKIMWATCH_TEST_WEBHOOK_SECRET";
const SECRET: &str = "whsec-7f3a9c-from-env";
const SLACK_ENV: &str = "SKIMWATCH_TEST_SLACK_URL";
/// A Slack webhook URL's path is its credential.
const SLACK_TOKEN: &str = "T0SECRET/B0SECRET/xoxhooktoken42";

fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

/// Every string in a JSON value.
fn texts(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::String(s) => out.push(s.clone()),
        Value::Array(a) => a.iter().for_each(|v| texts(v, out)),
        Value::Object(o) => o.values().for_each(|v| texts(v, out)),
        _ => {}
    }
}

fn all_texts(v: &Value) -> Vec<String> {
    let mut out = Vec::new();
    texts(v, &mut out);
    out
}

/// The Python verification recipe of docs/webhooks.md, run as written on (secret, header, body):
/// whether it accepts the signature.
fn python_recipe_accepts(secret: &str, header: &str, body: &[u8]) -> bool {
    let docs = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/webhooks.md")).unwrap();
    let recipe = docs.split("```python\n").nth(1).and_then(|r| r.split("```").next()).expect("a python block");
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("body"), body).unwrap();
    let script = format!(
        "{recipe}\nimport sys\nbody = open(sys.argv[3], 'rb').read()\nsys.exit(0 if verify(sys.argv[1].encode(), sys.argv[2], body) else 1)\n"
    );
    let out = std::process::Command::new("python3")
        .args(["-c", &script, secret, header])
        .arg(dir.path().join("body"))
        .output()
        .expect("python3 runs the documented recipe (CI has it: .ci/check-manifests needs it)");
    assert!(matches!(out.status.code(), Some(0 | 1)), "{}", String::from_utf8_lossy(&out.stderr));
    out.status.success()
}

fn status_json(ws: &Workspace, env: &[(&str, &str)]) -> (Status, String) {
    let out = ws.skimwatch().args(["status", "--format", "json"]).envs(env.iter().copied()).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    (serde_json::from_slice(&out.stdout).unwrap(), text)
}

fn destination<'a>(st: &'a Status, name: &str) -> &'a skimwatch::store::outbox::DestinationView {
    st.outbox
        .destinations
        .iter()
        .find(|d| d.destination == name)
        .unwrap_or_else(|| panic!("no destination {name}: {:?}", st.outbox.destinations))
}

/// Every file below `dir`, as (path, bytes).
fn files(dir: &std::path::Path) -> Vec<(std::path::PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(files(&path));
        } else if let Ok(bytes) = std::fs::read(&path) {
            out.push((path, bytes));
        }
    }
    out
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle.as_bytes())
}

#[test]
fn a_finding_reaches_json_slack_and_teams_once_each_signed_escaped_and_no_secret_leaks() {
    let _serial = serial();
    let (json, slack, teams) =
        (HttpReceiver::start(Mode::Ok), HttpReceiver::start(Mode::Ok), HttpReceiver::start(Mode::Ok));
    // The loopback SMTP server offers no STARTTLS: with credentials configured, skimwatch sends
    // neither them nor the mail (the delivery fails and is retried), which exercises the error path.
    let smtp = SmtpServer::start();
    let ws = Workspace::new().without_shopper();
    ws.approved_baseline();
    let slack_url = slack.url(&format!("/services/{SLACK_TOKEN}"));
    configure(
        &ws,
        "interval = \"1s\"\n",
        &format!(
            "\n[alerts]\nretry = \"1s\"\n\n\
             [alerts.email]\nsmtp = \"smtp://127.0.0.1:{}\"\nfrom = \"skimwatch <skimwatch@shop.example>\"\nto = [\"secops@shop.example\"]\n\
             username = \"skimwatch\"\npassword_env = \"{PASSWORD_ENV}\"\n\n\
             [[alerts.webhook]]\nname = \"siem\"\nurl = \"{}\"\nkind = \"json\"\nsecret_env = \"{SECRET_ENV}\"\n\n\
             [[alerts.webhook]]\nurl_env = \"{SLACK_ENV}\"\nkind = \"slack\"\n\n\
             [[alerts.webhook]]\nname = \"teams\"\nurl = \"{}\"\nkind = \"teams\"\nmin_severity = \"high\"\n",
            smtp.port(),
            json.url("/skimwatch"),
            teams.url("/webhookb2/incoming"),
        ),
    );
    // The attack, plus markup in an element id that reaches the handler script's identity.
    ws.shop.append_skimmer_to_first_party();
    ws.shop.edit(Origin::Shop, "/checkout", |page| {
        let hostile = "<img id=\"x<script>alert(1)</script>&amp;<!channel>\" src=\"/static/img/none.png\" alt=\"\" onerror=\"window.__x = 1\">\n";
        let at = page.body.rfind("</body>").unwrap();
        page.body.insert_str(at, hostile);
    });
    let env = [(SECRET_ENV, SECRET), (SLACK_ENV, slack_url.as_str())];
    let mut daemon = Daemon::start_with(&ws, &env);

    for (name, receiver) in [("json", &json), ("slack", &slack), ("teams", &teams)] {
        let got = receiver.wait_for_accepted(1, LONG);
        assert_eq!(got.len(), 1, "{name} receiver got the alert; daemon log:\n{}", daemon.log());
    }
    // Two more scans of the same changes: nothing is sent again.
    wait_for_scans(&ws, &daemon, ok_scans(&ws), 2);
    for (name, receiver) in [("json", &json), ("slack", &slack), ("teams", &teams)] {
        assert_eq!(receiver.requests().len(), 1, "{name}: once, and never retried after a 200");
    }

    // ---- the JSON contract, signed
    let req: Request = json.accepted()[0].clone();
    let body = req.json();
    let findings = latest_findings(&ws);
    let altered = findings.iter().find(|f| f.kind == skimwatch::model::FindingKind::AlteredScript).unwrap();
    assert_eq!(req.method, "POST");
    assert_eq!(req.path, "/skimwatch");
    assert_eq!(req.header("content-type"), Some("application/json"));
    assert!(req.header("user-agent").unwrap().starts_with("skimwatch/"));
    assert_eq!(req.header("x-skimwatch-event"), Some("findings"));
    assert_eq!(req.header("x-skimwatch-alert"), body["id"].as_str());
    assert_eq!(body["version"], 1);
    assert_eq!(body["kind"], "findings");
    assert_eq!(body["page"], "checkout");
    assert_eq!(body["url"], ws.shop.checkout_url().as_str());
    assert_eq!(body["incident"], Value::Null);
    assert!(body["id"].as_str().unwrap().len() == 32, "{body}");
    let scan_id = body["scan_id"].as_i64().unwrap();
    assert_eq!(count(&ws, &format!("SELECT count(*) FROM scans WHERE id = {scan_id} AND page = 'checkout'")), 1);
    let worst = findings.iter().map(|f| f.severity).max().unwrap();
    assert_eq!(body["severity"], worst.as_str());
    assert!(body["summary"]
        .as_str()
        .unwrap()
        .ends_with(&format!("on checkout (+{} more)", body["findings"].as_array().unwrap().len() - 1)));
    let listed = body["findings"].as_array().unwrap();
    let mine = listed.iter().find(|f| f["id"] == altered.id.as_str()).expect("the altered script is in the body");
    assert_eq!(mine["key"], format!("finding/checkout/{}", altered.id).as_str());
    assert_eq!(mine["kind"], "altered_script");
    assert_eq!(mine["script"]["sha256"], altered.script.as_ref().unwrap().sha256.as_str());
    assert!(mine["diff"].as_str().unwrap().contains("new Image().src"), "{mine}");
    for f in listed {
        assert!(findings.iter().any(|g| g.id == f["id"].as_str().unwrap()), "ids are the stored, stable ones: {f}");
    }
    let config = std::path::absolute(&ws.config).unwrap();
    let approve = format!(
        "skimwatch --config {} baseline approve --page checkout --finding {} --by YOUR_NAME --reason 'WHY THIS CHANGE IS INTENDED'",
        config.display(),
        altered.id
    );
    assert_eq!(mine["approve"], approve.as_str(), "the email's approve command");

    let header = req.header("x-skimwatch-signature").expect("signed");
    assert_eq!(verify(SECRET.as_bytes(), header, &req.body, now(), DEFAULT_TOLERANCE), Ok(()));
    let mut changed = req.body.clone();
    changed.extend_from_slice(b" ");
    assert_eq!(verify(SECRET.as_bytes(), header, &changed, now(), DEFAULT_TOLERANCE), Err(VerifyError::Mismatch));
    assert!(matches!(
        verify(SECRET.as_bytes(), header, &req.body, now() + 3600, DEFAULT_TOLERANCE),
        Err(VerifyError::Stale { .. })
    ));
    // The recipe in the docs, run as written, agrees.
    assert!(python_recipe_accepts(SECRET, header, &req.body), "the documented recipe accepts the real header");
    assert!(!python_recipe_accepts(SECRET, header, &changed), "and refuses a changed body");
    assert!(!python_recipe_accepts("another secret", header, &req.body), "or another secret");
    let old = sign(SECRET.as_bytes(), now() - 3600, &req.body);
    assert!(!python_recipe_accepts(SECRET, &old, &req.body), "or an old timestamp");
    assert!(python_recipe_accepts(SECRET, &sign(SECRET.as_bytes(), now(), &req.body), &req.body));

    // ---- Slack: Block Kit, escaped, bounded
    let req = slack.accepted()[0].clone();
    assert_eq!(req.path, format!("/services/{SLACK_TOKEN}"), "the URL came from the environment");
    assert!(req.header("x-skimwatch-signature").is_none(), "only json bodies are signed");
    let message = req.json();
    println!("---- Slack message as received ----\n{}", serde_json::to_string_pretty(&message).unwrap());
    assert_eq!(message["unfurl_links"], false);
    let blocks = message["blocks"].as_array().unwrap();
    assert_eq!(blocks[0]["type"], "header");
    assert!(blocks[0]["text"]["text"].as_str().unwrap().contains("on checkout"), "{message}");
    let block_texts: Vec<String> = all_texts(&message);
    assert!(block_texts.iter().all(|t| t.chars().count() <= 3000));
    assert!(block_texts.iter().all(|t| !t.contains('<') && !t.contains('>')), "markup escaped: {block_texts:?}");
    assert!(
        block_texts.iter().any(|t| t.contains("x&lt;script&gt;alert(1)&lt;/script&gt;&amp;&lt;!channel&gt;")),
        "{block_texts:?}"
    );
    let changed_block = block_texts.iter().find(|t| t.starts_with("*What changed*")).expect("what changed");
    assert!(changed_block.contains(&format!("`{}`", altered.id)), "{changed_block}");
    let approve_block = block_texts.iter().find(|t| t.contains("approve them all")).expect("an approve command");
    assert!(
        approve_block.contains("```skimwatch --config ")
            && approve_block.contains(&format!("--finding {}", altered.id))
    );
    assert!(block_texts.iter().any(|t| t.contains("*Page*\n`checkout`")), "{block_texts:?}");

    // ---- Teams: an Adaptive Card, only the high findings (min_severity = "high")
    let req = teams.accepted()[0].clone();
    let card = req.json();
    println!("---- Teams message as received ----\n{}", serde_json::to_string_pretty(&card).unwrap());
    assert_eq!(card["type"], "message");
    let attachment = &card["attachments"][0];
    assert_eq!(attachment["contentType"], "application/vnd.microsoft.card.adaptive");
    assert_eq!(attachment["content"]["type"], "AdaptiveCard");
    assert_eq!(attachment["content"]["version"], "1.4");
    let card_texts = all_texts(attachment);
    assert!(card_texts.iter().any(|t| t.starts_with("skimwatch: ") && t.contains("on checkout")), "{card_texts:?}");
    assert!(card_texts
        .iter()
        .any(|t| t.starts_with(&format!("skimwatch --config {} baseline approve", config.display()))));
    let high = findings.iter().filter(|f| f.severity >= skimwatch::model::Severity::High).count();
    let shown = card_texts.iter().filter(|t| t.starts_with("\nfinding ")).count();
    assert!(shown == high.min(10) && shown > 0, "{shown} of {high} high findings: {card_texts:?}");

    // ---- status: per destination, targets without paths; email failing on STARTTLS
    let (st, status_out) = status_json(&ws, &env);
    for name in ["webhook:siem", "webhook:slack", "webhook:teams"] {
        let d = destination(&st, name);
        assert_eq!((d.pending, d.sent, d.configured), (0, 1, true), "{name}: {d:?}");
    }
    assert_eq!(
        destination(&st, "webhook:slack").target.as_deref(),
        Some(slack.url("").as_str()),
        "scheme and host only"
    );
    let email = destination(&st, "email");
    assert!(email.pending >= 1 && email.failed >= 1, "{email:?}");
    assert!(email.last_error.as_deref().unwrap().contains("does not offer STARTTLS"), "{email:?}");
    assert_eq!(smtp.messages().len(), 0);
    let text = ws.skimwatch().arg("status").envs(env).output().unwrap();
    let status_text = String::from_utf8_lossy(&text.stdout).to_string() + &String::from_utf8_lossy(&text.stderr);
    assert!(status_text.contains("webhook:slack http://127.0.0.1:"), "{status_text}");

    // ---- no secret anywhere: output, log, database, baselines, config
    assert_eq!(daemon.terminate().code(), Some(0), "{}", daemon.log());
    let log = daemon.log();
    assert!(log.contains("alert delivered") && log.contains("webhook:siem"), "{log}");
    let mut places: Vec<(String, Vec<u8>)> =
        files(ws.dir.path()).into_iter().map(|(p, b)| (p.display().to_string(), b)).collect();
    places.push(("status --format json".into(), status_out.into_bytes()));
    places.push(("status".into(), status_text.into_bytes()));
    assert!(places.iter().any(|(p, _)| p.ends_with("skimwatch.db")), "the database is searched");
    for secret in [PASSWORD, SECRET, SLACK_TOKEN, "xoxhooktoken42"] {
        for (place, bytes) in &places {
            assert!(!contains(bytes, secret), "{secret:?} leaked into {place}");
        }
    }
}

#[test]
fn a_webhook_down_for_several_alerts_gets_each_once_when_it_is_back() {
    let _serial = serial();
    let hook = HttpReceiver::start(Mode::Status(503));
    let shop = skimwatch_testshop::Shop::start_in_background().unwrap();
    let pages: Vec<(&str, String)> =
        ["a", "b", "c"].iter().map(|p| (*p, format!("{}?page={p}", shop.checkout_url()))).collect();
    let ws = Workspace::with_pages(shop, &pages).without_shopper();
    let text = std::fs::read_to_string(&ws.config).unwrap().replace("\n[[page]]\n", "\n[[page]]\ninterval = \"2s\"\n");
    let alerts = format!(
        "\n[alerts]\nretry = \"1s\"\n\n[[alerts.webhook]]\nname = \"siem\"\nurl = \"{}\"\nkind = \"json\"\n",
        hook.url("/hook")
    );
    std::fs::write(&ws.config, text + &alerts).unwrap();

    // Never approved: each page's first scan raises one alert, while the receiver answers 503.
    let daemon = Daemon::start(&ws);
    let pending = "SELECT count(*) FROM deliveries WHERE destination = 'webhook:siem' AND sent_at IS NULL";
    wait_until("3 alerts held while the webhook is down, and several attempts", LONG, Some(&daemon), || {
        (count(&ws, pending) == 3 && hook.requests().len() >= 3).then_some(())
    });
    let (st, _) = status_json(&ws, &[]);
    let d = destination(&st, "webhook:siem");
    assert_eq!((d.pending, d.sent), (3, 0), "{d:?}");
    assert!(d.failed >= 1 && d.last_error.as_deref().unwrap().contains("HTTP 503: down for maintenance"), "{d:?}");
    assert_eq!(hook.accepted().len(), 0);

    hook.set_mode(Mode::Ok);
    let ids = |rs: &[Request]| -> BTreeSet<String> {
        rs.iter().filter(|r| r.answered == 200).map(|r| r.json()["id"].as_str().unwrap().to_string()).collect()
    };
    let got = hook.wait_until(LONG, |rs| ids(rs).len() >= 3);
    assert_eq!(ids(&got).len(), 3, "every alert once it is back; daemon log:\n{}", daemon.log());
    wait_until("the outbox marked them delivered", LONG, Some(&daemon), || (count(&ws, pending) == 0).then_some(()));
    // More scans and delivery rounds: nothing is delivered twice.
    wait_for_scans(&ws, &daemon, ok_scans(&ws), 3);
    let accepted = hook.accepted();
    assert_eq!(
        accepted.len(),
        3,
        "none twice: {:?}",
        accepted.iter().map(|r| r.json()["id"].clone()).collect::<Vec<_>>()
    );
    let pages: BTreeSet<String> = accepted.iter().map(|r| r.json()["page"].as_str().unwrap().to_string()).collect();
    assert_eq!(pages.into_iter().collect::<Vec<_>>(), ["a", "b", "c"]);
    let (st, _) = status_json(&ws, &[]);
    let d = destination(&st, "webhook:siem");
    assert_eq!((d.pending, d.failed, d.sent), (0, 0, 3), "{d:?}");
    assert_eq!((st.outbox.queued, st.outbox.sent), (0, 3));
}

#[test]
fn a_webhook_that_never_answers_does_not_delay_email() {
    let _serial = serial();
    let smtp = SmtpServer::start();
    let hook = HttpReceiver::start(Mode::Hang);
    let ws = Workspace::new().without_shopper();
    ws.approved_baseline();
    // A generous request limit: the webhook holds its first alert far longer than this test runs.
    let alerts = email_config(smtp.port())
        + &format!(
            "\n[[alerts.webhook]]\nname = \"stuck\"\nurl = \"{}\"\nkind = \"json\"\ntimeout = \"5m\"\n",
            hook.url("/")
        );
    configure(&ws, "interval = \"1s\"\n", &alerts);
    ws.shop.append_skimmer_to_first_party();
    let daemon = Daemon::start(&ws);

    let held = hook.wait_until(LONG, |rs| !rs.is_empty());
    assert_eq!(held.len(), 1, "the webhook got the first alert and holds it; daemon log:\n{}", daemon.log());
    let held_at = Instant::now();
    let mails = smtp.wait_for(1, LONG);
    assert_eq!(mails.len(), 1, "{}", daemon.log());

    // A second change while the webhook still holds the first alert: its email is not queued
    // behind the webhook either.
    ws.shop.add_injected_script();
    let mails = smtp.wait_for(2, LONG);
    assert_eq!(mails.len(), 2, "the second alert's email; daemon log:\n{}", daemon.log());
    assert!(held_at.elapsed() < Duration::from_secs(300), "well within the webhook's time limit");
    assert_eq!(hook.requests().len(), 1, "the webhook is still on its first request");
    let webhook_rows = "SELECT count(*) FROM deliveries WHERE destination = 'webhook:stuck'";
    assert_eq!(count(&ws, &format!("{webhook_rows} AND sent_at IS NULL")), 2, "both still pending for the webhook");
    assert_eq!(count(&ws, &format!("{webhook_rows} AND attempts > 0")), 0, "its first attempt has not even failed yet");
    let mailed = "SELECT count(*) FROM deliveries WHERE destination = 'email' AND sent_at IS NOT NULL";
    wait_until("both emails marked delivered", LONG, Some(&daemon), || (count(&ws, mailed) == 2).then_some(()));
    assert_eq!(hook.requests().len(), 1, "and the webhook still holds the first");
}

#[test]
fn a_webhook_secret_or_url_missing_from_the_environment_stops_the_start() {
    // Fails before any scan: no browser is started.
    let ws = Workspace::new().without_shopper();
    configure(
        &ws,
        "",
        &format!(
            "\n[[alerts.webhook]]\nname = \"siem\"\nurl = \"http://127.0.0.1:9/hook\"\nkind = \"json\"\nsecret_env = \"{SECRET_ENV}\"\n\n\
             [[alerts.webhook]]\nurl_env = \"{SLACK_ENV}\"\nkind = \"slack\"\n"
        ),
    );
    let run = |env: &[(&str, &str)]| {
        let out = ws
            .skimwatch()
            .args(["watch", "--once"])
            .env_remove(SECRET_ENV)
            .env_remove(SLACK_ENV)
            .envs(env.iter().copied())
            .output()
            .unwrap();
        (out.status.code(), String::from_utf8_lossy(&out.stderr).to_string() + &String::from_utf8_lossy(&out.stdout))
    };
    let (code, out) = run(&[]);
    assert_eq!(code, Some(2), "{out}");
    assert!(
        out.contains(&format!("[[alerts.webhook]] siem: secret_env: the environment variable {SECRET_ENV} is not set")),
        "{out}"
    );
    let (code, out) = run(&[(SECRET_ENV, SECRET)]);
    assert_eq!(code, Some(2), "{out}");
    assert!(
        out.contains(&format!("[[alerts.webhook]] slack: url_env: the environment variable {SLACK_ENV} is not set")),
        "{out}"
    );
    // A bad URL in the variable is refused without quoting it: it may be the token.
    let (code, out) = run(&[(SECRET_ENV, SECRET), (SLACK_ENV, &format!("ftp://hooks.example/services/{SLACK_TOKEN}"))]);
    assert_eq!(code, Some(2), "{out}");
    assert!(out.contains(&format!("url_env: the URL in ${SLACK_ENV} is not usable")), "{out}");
    assert!(!out.contains("xoxhooktoken42") && !out.contains(SECRET), "{out}");
    assert_eq!(count(&ws, "SELECT count(*) FROM scans"), 0, "nothing scanned");
}
