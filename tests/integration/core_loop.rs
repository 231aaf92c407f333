//! Issue 2 end to end: scan → approve → rescan is clean, then each kind of planted change is
//! detected with the right finding kind and script. Real Chromium, real SQLite, real files.

use crate::util::{describe, findings_of, Workspace};
use skimwatch::model::{FindingKind, PageStatus, ScriptKind, Severity};
use skimwatch_testshop::Origin;

#[test]
fn approve_then_rescan_is_clean_and_baseline_is_reviewable() {
    let ws = Workspace::new();
    let (code, first) = ws.scan(&[]);
    assert_eq!(code, 1);
    let page = &first.pages[0];
    assert_eq!(page.status, PageStatus::Ok);
    // The shop's scripts: first-party files, inline config, tag manager + what it inserts,
    // and the provider's script inside the cross-origin iframe.
    let kinds: Vec<ScriptKind> = page.scripts.iter().map(|s| s.kind).collect();
    assert!(kinds.contains(&ScriptKind::External) && kinds.contains(&ScriptKind::Inline), "{kinds:?}");
    assert!(page.scripts.iter().any(|s| s.url.as_deref() == Some(&ws.shop.url(Origin::Payment, "/static/fields.js"))));
    assert!(page.scripts.iter().all(|s| !s.approved));
    assert!(page.scripts.iter().all(|s| s.sha256.len() == 64 && s.sri.starts_with("sha384-")));
    assert!(!page.payment_fields.is_empty(), "card fields in the iframe are found");
    // Nothing approved yet on a payment page: new scripts are high.
    assert!(findings_of(&first, FindingKind::NewScript).iter().all(|f| f.severity == Severity::High));
    // The default shopper completes the checkout: the provider's hosted field tokenises the
    // card with its own host. That is a finding until approved, and its hint says what
    // approving it accepts.
    let tokens = ws.shop.url(Origin::Payment, "/v1/tokens");
    let own = findings_of(&first, FindingKind::CardExfiltration);
    assert_eq!(own.len(), 1, "{}", describe(&first));
    let d = own[0].destination.as_ref().unwrap();
    assert!(d.own_origin && d.host == ws.shop.host(Origin::Payment), "{d:?}");
    assert!(own[0].hints.iter().any(|h| h.contains(&tokens)), "{:?}", own[0].hints);

    ws.skimwatch()
        .args(["baseline", "approve", "--all", "--by", "alice", "--reason", "initial inventory"])
        .assert()
        .success();
    let file = std::fs::read_to_string(ws.dir.path().join("baselines/checkout.toml")).unwrap();
    assert!(file.contains("approved_by = \"alice\"") && file.contains("reason = \"initial inventory\""));
    assert!(file.contains("self:/static/js/checkout.js"));
    assert!(file.contains("[[card_destination]]") && file.contains(&format!("url = \"{tokens}\"")), "{file}");

    let (code, again) = ws.scan(&[]);
    assert_eq!(again.pages[0].findings, vec![], "rescan after approval is clean:\n{}", describe(&again));
    assert_eq!(code, 0);
    assert!(again.pages[0].scripts.iter().all(|s| s.approved));
    assert!(again.pages[0].card_data.iter().any(|l| l.destination.own_origin && !l.allowed), "kept as evidence");

    // The database is a real file with the scans in it; bodies are stored once.
    let db = rusqlite::Connection::open(ws.dir.path().join("state/skimwatch.db")).unwrap();
    let scans: i64 = db.query_row("SELECT count(*) FROM scans", [], |r| r.get(0)).unwrap();
    assert_eq!(scans, 2);
    let bodies: i64 = db.query_row("SELECT count(*) FROM script_bodies", [], |r| r.get(0)).unwrap();
    assert_eq!(bodies as usize, again.pages[0].scripts.len());

    // Same verdict from the checked-in baselines alone, with an empty database.
    std::fs::remove_dir_all(ws.dir.path().join("state")).unwrap();
    let (code, fresh) = ws.scan(&[]);
    assert_eq!((code, fresh.pages[0].findings.len()), (0, 0), "{}", describe(&fresh));
}

#[test]
fn line_appended_to_first_party_file_is_an_altered_script_with_diff() {
    let ws = Workspace::new().without_shopper();
    ws.approved_baseline();
    ws.shop.append_skimmer_to_first_party();
    let (code, report) = ws.scan(&[]);
    assert_eq!(code, 1);
    let altered = findings_of(&report, FindingKind::AlteredScript);
    assert_eq!(altered.len(), 1, "{}", describe(&report));
    let f = altered[0];
    assert_eq!(f.script.as_ref().unwrap().id, "self:/static/js/checkout.js");
    // High on a payment page, raised to critical by the hints on the added code (issue 4).
    assert!(f.severity >= Severity::High, "payment page: {:?}", f.severity);
    let diff = f.diff.as_deref().expect("diff");
    assert!(diff.lines().any(|l| l.starts_with('+') && l.contains("new Image().src")), "{diff}");
    assert!(!diff.lines().any(|l| l.starts_with('-') && !l.starts_with("---")), "only additions: {diff}");

    // The finding id is stable across rescans of the same change.
    let (_, again) = ws.scan(&[]);
    assert_eq!(findings_of(&again, FindingKind::AlteredScript)[0].id, f.id);
}

#[test]
fn new_inline_script_is_a_new_inline_script() {
    let ws = Workspace::new().without_shopper();
    ws.approved_baseline();
    let code = ws.shop.inline_skimmer_code();
    ws.shop.add_inline_script(&code);
    let (exit, report) = ws.scan(&[]);
    assert_eq!(exit, 1);
    let new = findings_of(&report, FindingKind::NewScript);
    assert_eq!(new.len(), 1, "{}", describe(&report));
    let s = new[0].script.as_ref().unwrap();
    assert_eq!(s.kind, ScriptKind::Inline);
    assert!(s.id.starts_with("main|inline|"), "{}", s.id);
    // Nothing else on the page is reported as changed.
    assert!(findings_of(&report, FindingKind::AlteredScript).is_empty(), "{}", describe(&report));
    assert!(findings_of(&report, FindingKind::RemovedScript).is_empty(), "{}", describe(&report));
}

#[test]
fn script_inserted_by_another_script_names_its_inserter() {
    let ws = Workspace::new().without_shopper();
    ws.approved_baseline();
    let planted = ws.shop.add_injected_script();
    let (_, report) = ws.scan(&[]);
    let added = planted.added.unwrap();
    let new = findings_of(&report, FindingKind::NewScript);
    let f = new
        .iter()
        .find(|f| f.script.as_ref().unwrap().url.as_deref() == Some(added.as_str()))
        .unwrap_or_else(|| panic!("no new_script for {added}:\n{}", describe(&report)));
    assert_eq!(f.script.as_ref().unwrap().kind, ScriptKind::External);
    assert!(
        f.initiator.as_deref().is_some_and(|i| i.starts_with("inline:")),
        "inserted by the inline config: {:?}",
        f.initiator
    );
    // The attacker host is new, and the edited inline config is altered.
    let host = ws.shop.host(Origin::Attacker);
    assert!(
        findings_of(&report, FindingKind::NewHost).iter().any(|f| f.host.as_deref() == Some(host.as_str())),
        "{}",
        describe(&report)
    );
    assert!(findings_of(&report, FindingKind::AlteredScript)
        .iter()
        .any(|f| f.script.as_ref().unwrap().kind == ScriptKind::Inline));
}

#[test]
fn code_run_through_eval_is_a_new_eval_script() {
    let ws = Workspace::new().without_shopper();
    ws.approved_baseline();
    ws.shop.add_eval_loader();
    let (_, report) = ws.scan(&[]);
    let evals: Vec<_> = findings_of(&report, FindingKind::NewScript)
        .into_iter()
        .filter(|f| f.script.as_ref().unwrap().kind == ScriptKind::Eval)
        .collect();
    assert_eq!(evals.len(), 1, "{}", describe(&report));
    let vendor = ws.shop.url(Origin::Shop, "/static/js/vendor.min.js");
    assert_eq!(evals[0].initiator.as_deref(), Some(vendor.as_str()), "eval'd by the loader in vendor.min.js");
    // And the loader itself is an alteration of the first-party file.
    assert!(findings_of(&report, FindingKind::AlteredScript)
        .iter()
        .any(|f| f.script.as_ref().unwrap().id == "self:/static/js/vendor.min.js"));
}

#[test]
fn changed_script_inside_cross_origin_iframe_is_altered() {
    let ws = Workspace::new().without_shopper();
    ws.approved_baseline();
    let planted = ws.shop.alter_iframe_script();
    let (_, report) = ws.scan(&[]);
    let altered = findings_of(&report, FindingKind::AlteredScript);
    assert_eq!(altered.len(), 1, "{}", describe(&report));
    let s = altered[0].script.as_ref().unwrap();
    assert_eq!(s.url.as_deref(), Some(planted.modified.as_str()));
    assert!(s.id.contains(&ws.shop.host(Origin::Payment)), "third-party identity is absolute: {}", s.id);
    assert!(altered[0].diff.as_deref().unwrap().contains("cc-number"));
}

#[test]
fn inline_event_handler_attribute_is_a_new_handler_script() {
    let ws = Workspace::new().without_shopper();
    ws.approved_baseline();
    ws.shop.add_handler_attribute();
    let (_, report) = ws.scan(&[]);
    let new = findings_of(&report, FindingKind::NewScript);
    let handler = new
        .iter()
        .find(|f| f.script.as_ref().unwrap().kind == ScriptKind::Handler)
        .unwrap_or_else(|| panic!("no handler finding:\n{}", describe(&report)));
    assert!(handler.script.as_ref().unwrap().id.contains("img#trust-badge@onerror"), "{:?}", handler.script);
}

#[test]
fn removed_csp_header_is_a_header_change() {
    let ws = Workspace::new().without_shopper();
    ws.approved_baseline();
    assert!(ws.shop.remove_header("/checkout", "Content-Security-Policy"));
    let (code, report) = ws.scan(&[]);
    assert_eq!(code, 1);
    let changes = findings_of(&report, FindingKind::HeaderChange);
    assert_eq!(changes.len(), 1, "{}", describe(&report));
    let h = changes[0].header.as_ref().unwrap();
    assert_eq!(h.name, "content-security-policy");
    assert!(h.approved.is_some() && h.current.is_none());
    assert!(changes[0].severity >= Severity::Medium);
}

#[test]
fn unreachable_and_failing_pages_are_scan_errors() {
    // A port nobody listens on: bind, read the port, close.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let shop = skimwatch_testshop::Shop::start_in_background().unwrap();
    let missing = shop.url(Origin::Shop, "/no-such-page");
    let ws =
        Workspace::with_pages(shop, &[("refused", format!("http://127.0.0.1:{port}/checkout")), ("gone", missing)]);
    let (code, report) = ws.scan(&[]);
    assert_eq!(code, 3);
    for p in &report.pages {
        assert_eq!(p.status, PageStatus::Error, "{}", p.name);
        assert!(p.findings.is_empty());
    }
    assert!(crate::util::page(&report, "refused").error.as_deref().unwrap().contains("ERR_CONNECTION_REFUSED"));
    assert!(crate::util::page(&report, "gone").error.as_deref().unwrap().contains("404"));
}

#[test]
fn eval_code_cannot_pose_as_a_file_with_source_url() {
    let ws = Workspace::new().without_shopper();
    ws.approved_baseline();
    // The loader names its eval'd payload after the approved first-party checkout.js, hoping
    // to be filed under that script (or a trusted vendor's URL).
    let disguised = format!("{}/static/js/checkout.js", ws.shop.base(Origin::Shop));
    ws.shop.append_to(
        Origin::Shop,
        "/static/js/vendor.min.js",
        &format!("\n;eval(\"window.__skim = 1;\\n//# sourceURL={disguised}\");\n"),
    );
    let (_, report) = ws.scan(&[]);
    let new = findings_of(&report, FindingKind::NewScript);
    let f = new
        .iter()
        .find(|f| f.script.as_ref().unwrap().kind == ScriptKind::Eval)
        .unwrap_or_else(|| panic!("the disguised eval is reported as eval:\n{}", describe(&report)));
    assert!(f.script.as_ref().unwrap().url.is_none(), "no URL is taken from the code's own claim");
    // checkout.js itself is untouched: nothing is reported against it.
    assert!(
        report.pages[0]
            .findings
            .iter()
            .all(|f| f.script.as_ref().is_none_or(|s| !s.id.starts_with("self:/static/js/checkout.js"))),
        "{}",
        describe(&report)
    );
}

/// An approved card destination holds for that script, unchanged, sending from its own origin
/// to that URL — nothing else: the provider's very script framed from the attacker's origin
/// (posting to the attacker, its frame's own origin) and any edit of the approved script are
/// `card_exfiltration` again.
#[test]
fn approved_card_destination_covers_neither_a_look_alike_frame_nor_an_altered_script() {
    let ws = Workspace::new();
    ws.approved_baseline();
    let look_alike = ws.shop.frame_fields_from_attacker();
    let (code, report) = ws.scan(&[]);
    assert_eq!(code, 1);
    let leaks = findings_of(&report, FindingKind::CardExfiltration);
    let to_attacker = leaks
        .iter()
        .find(|f| f.destination.as_ref().unwrap().host == ws.shop.host(Origin::Attacker))
        .unwrap_or_else(|| panic!("the look-alike's post is not caught:\n{}", describe(&report)));
    assert!(to_attacker.destination.as_ref().unwrap().own_origin);
    // Sent by the provider's approved, unchanged script: only the destination differs.
    let sender = to_attacker.script.as_ref().unwrap();
    assert_eq!(sender.url.as_deref(), Some(ws.shop.url(Origin::Payment, "/static/fields.js").as_str()));
    assert!(report.pages[0].scripts.iter().any(|s| s.frame_url.starts_with(&look_alike)));

    // Back to the real frame, but the provider's script changed by one comment.
    let ws = Workspace::new();
    ws.approved_baseline();
    ws.shop.append_to(Origin::Payment, "/static/fields.js", "/* v2 */\n");
    let (_, report) = ws.scan(&[]);
    let leaks = findings_of(&report, FindingKind::CardExfiltration);
    assert!(
        leaks.iter().any(|f| f.destination.as_ref().unwrap().host == ws.shop.host(Origin::Payment)),
        "{}",
        describe(&report)
    );
    assert_eq!(findings_of(&report, FindingKind::AlteredScript).len(), 1, "{}", describe(&report));
}
