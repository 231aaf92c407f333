//! `skimwatch init` and `skimwatch config check`: a first config from one trial load of the
//! test shop (real Chromium, the shopper), that `scan` then accepts; a redirect to the cart
//! gets a journey skeleton; an existing file is kept without `--force`; and the check of a
//! config and its templates without scanning.

use crate::util::{describe, findings_of, RUN_TIMEOUT};
use assert_cmd::Command;
use skimwatch::config::Config;
use skimwatch::model::{FindingKind, PageStatus, ScanReport};
use skimwatch_testshop::{Origin, Shop};
use std::path::Path;
use std::process::Output;

fn skimwatch(config: &Path) -> Command {
    let mut cmd = Command::cargo_bin("skimwatch").unwrap();
    cmd.arg("--config").arg(config).arg("--quiet").timeout(RUN_TIMEOUT);
    cmd
}

fn init(config: &Path, url: &str, extra: &[&str]) -> Output {
    skimwatch(config).args(["init", url, "--settle", "300ms"]).args(extra).output().unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn init_writes_a_config_naming_the_card_fields_and_the_provider_that_scan_accepts() {
    let shop = Shop::start_in_background().expect("start the test shop");
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("skimwatch.toml");
    let out = init(&config, &shop.checkout_url(), &["--name", "checkout"]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{}", text(&out.stderr));

    let page = Config::load(&config).unwrap().pages.remove(0);
    assert_eq!((page.name.as_str(), page.url.as_str()), ("checkout", shop.checkout_url().as_str()));
    // The provider's hosted fields (in its cross-origin iframe) and the shop's name-on-card.
    for field in ["#tp-number", "#tp-expiry", "#tp-cvc", "#cardholder"] {
        assert!(page.payment_fields.iter().any(|f| f == field), "{field} in {:?}", page.payment_fields);
    }
    let provider = shop.host(Origin::Payment);
    assert_eq!(page.card_data_hosts, [provider.as_str()], "only the provider, which tokenised the card");
    let written = std::fs::read_to_string(&config).unwrap();
    assert!(written.contains("# [alerts.email]") && !written.contains("\n[alerts"), "alerts commented out");
    assert!(!written.contains("[[page.step]]"), "no redirect, no journey: {written}");
    assert!(stdout.contains("#tp-number") && stdout.contains(&provider), "{stdout}");
    // The next three commands, as they are typed.
    let sw = format!("skimwatch --config {}", config.display());
    for command in [
        format!("\n  {sw} scan\n"),
        format!("\n  {sw} baseline approve --all --by \"$USER\" --reason \"initial inventory\"\n"),
        format!("\n  {sw} watch\n"),
    ] {
        assert!(stdout.contains(&command), "{command:?} in {stdout}");
    }

    // The trial's shopper pressed pay, and the provider's frame tokenised the card with its host.
    assert!(
        written.contains(&format!("\"{provider}\",  # the card fields live in its frame (hosted fields); card data went there during the trial")),
        "{written}"
    );

    // `scan` takes the file as written. For the test's time: a short settle in front of it, and
    // no shopper (the card fields are probed all the same; what the shopper wakes is the
    // trial's and the detection tests' business).
    let page_only = written.replacen("\nurl = ", "\ninteract = \"none\"\nurl = ", 1);
    std::fs::write(&config, format!("[browser]\nsettle = \"300ms\"\n\n{page_only}")).unwrap();
    let out = skimwatch(&config).args(["scan", "--format", "json"]).output().unwrap();
    let report: ScanReport = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}\n{}", text(&out.stdout), text(&out.stderr)));
    assert_eq!(report.pages[0].status, PageStatus::Ok, "{}", describe(&report));
    assert_eq!(out.status.code(), Some(1), "nothing approved yet: new scripts; {}", describe(&report));
    assert!(report.pages[0].unmatched_payment_fields.is_empty(), "{:?}", report.pages[0].unmatched_payment_fields);
    assert!(findings_of(&report, FindingKind::PaymentFieldMissing).is_empty(), "{}", describe(&report));
}

#[test]
fn init_on_a_redirect_to_the_cart_writes_a_journey_skeleton_and_replaces_a_file_only_with_force() {
    let shop = Shop::start_in_background().expect("start the test shop");
    shop.serve_m2_shop();
    let url = shop.m2_checkout_url();
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("skimwatch.toml");

    // An existing file is refused (before any browser starts) and left as it was.
    std::fs::write(&config, "# mine\n").unwrap();
    let out = init(&config, &url, &[]);
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(err.contains("already exists") && err.contains("--force"), "{err}");
    assert_eq!(std::fs::read_to_string(&config).unwrap(), "# mine\n");

    let out = init(&config, &url, &["--force", "--name", "m2"]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{}", text(&out.stderr));
    assert!(stdout.contains("redirected to") && stdout.contains("/m2/checkout/cart/"), "{stdout}");
    assert!(stdout.contains("try --page m2"), "{stdout}");
    let written = std::fs::read_to_string(&config).unwrap();
    assert!(written.contains("# [[page.step]]") && written.contains("# goto = \"/m2/checkout/\""), "{written}");
    let page = Config::load(&config).unwrap().pages.remove(0);
    assert_eq!((page.name.as_str(), page.url.as_str(), page.steps.len()), ("m2", url.as_str(), 0));

    // And the check accepts what init wrote.
    let out = skimwatch(&config).args(["config", "check"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("pages: 1 (m2)"), "{}", text(&out.stdout));
}

#[test]
fn config_check_accepts_a_good_config_and_names_file_line_and_key_of_a_bad_one() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("skimwatch.toml");
    let page = "[[page]]\nname = \"checkout\"\nurl = \"https://shop.example/checkout\"\n";
    let email =
        "[alerts.email]\nsmtp = \"smtp://mail.example\"\nfrom = \"sw@shop.example\"\nto = \"secops@shop.example\"\n";
    std::fs::write(&config, format!("{page}\n{email}")).unwrap();
    let out = skimwatch(&config).args(["config", "check"]).output().unwrap();
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(stdout.contains(": OK") && stdout.contains("pages: 1 (checkout)"), "{stdout}");
    assert!(stdout.contains("alerts: email to 1 recipient (medium and above)"), "{stdout}");

    // A bad key: file, line, column and key; nothing on stdout.
    std::fs::write(&config, format!("{page}intervall = \"5m\"\n")).unwrap();
    let out = skimwatch(&config).args(["config", "check"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(err.contains(&format!("{}:4:1: page[0].intervall: unknown key", config.display())), "{err}");
    assert!(out.stdout.is_empty());

    // A templates folder that is not there: at the key that names it.
    std::fs::write(&config, format!("{page}\n[alerts]\ntemplates = \"mail\"\n")).unwrap();
    let out = skimwatch(&config).args(["config", "check"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(err.contains(&format!("{}:6:13: alerts.templates:", config.display())), "{err}");
    assert!(err.contains(&dir.path().join("mail").display().to_string()) && err.contains("not a folder"), "{err}");

    // A broken template in it: its file and line.
    std::fs::create_dir(dir.path().join("mail")).unwrap();
    std::fs::write(dir.path().join("mail/subject.txt.j2"), "[skimwatch] {{ page }\n").unwrap();
    let out = skimwatch(&config).args(["config", "check"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(err.contains("alerts.templates: alert template") && err.contains("subject.txt.j2: line 1"), "{err}");

    // No config at all: says how to get one.
    let out = skimwatch(&dir.path().join("none.toml")).args(["config", "check"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("skimwatch init URL"), "{}", text(&out.stderr));
}
