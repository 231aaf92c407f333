//! Journeys: payment pages that are not one URL away (a cart, a login, a region), reached with
//! `[[page.step]]`s in real Chromium against the test shop's Magento-2-like shop, trade login,
//! region-gated and proxy-gated checkouts.

use crate::util::*;
use skimwatch::model::{FindingKind, PageStatus, ScanReport, Severity};
use skimwatch_testshop::{
    Origin, Proxy, Shop, B2B_SKIMMER_EXFIL_PATH, M2_SKIMMER_EXFIL_PATH, PROXY_SKIMMER_EXFIL_PATH,
    REGION_SKIMMER_EXFIL_PATH,
};

/// The Magento-2 journey: add the mug to the cart, go to the checkout, give the shipping
/// address, continue to the payment step (whose card field is the provider's iframe).
const M2_STEPS: &str = r##"
[[page.step]]
click = "#product-addtocart-button"
wait_for = "a#top-cart-btn-checkout"

[[page.step]]
goto = "/m2/checkout/"
wait_for = "#customer-email"

[[page.step]]
fill = { "#customer-email" = "{shopper.email}", "#shipping-firstname" = "{shopper.given_name}", "#shipping-lastname" = "{shopper.family_name}", "#shipping-street-0" = "{shopper.street}", "#shipping-city" = "{shopper.city}", "#shipping-postcode" = "{shopper.postcode}", "#shipping-telephone" = "{shopper.phone}" }

[[page.step]]
select = { "#shipping-country" = "Ireland" }

[[page.step]]
click = "button.continue"
wait_for = "iframe[name^='braintree-hosted-field']"
"##;

fn m2_workspace(steps: &str) -> Workspace {
    let shop = Shop::start_in_background().expect("start the test shop");
    let url = shop.serve_m2_shop();
    Workspace::with_page_config(shop, "m2", &url, &format!("settle = \"300ms\"\n{steps}"))
}

fn exfiltration_to<'a>(report: &'a ScanReport, host: &str) -> Option<&'a skimwatch::model::Finding> {
    findings_of(report, FindingKind::CardExfiltration)
        .into_iter()
        .find(|f| f.destination.as_ref().is_some_and(|d| d.host == host))
}

#[test]
fn magento2_journey_reaches_the_payment_step_and_a_skimmer_there_is_caught() {
    let ws = m2_workspace(M2_STEPS);
    ws.approved_baseline();
    let (code, report) = ws.scan(&[]);
    assert_eq!(code, 0, "{}", describe(&report));
    let p = &report.pages[0];
    assert_eq!(p.journey.len(), 5, "{:#?}", p.journey);
    assert!(p.journey.iter().all(|s| s.outcome == "ok"), "{:#?}", p.journey);
    assert!(p.journey[0].action.starts_with("click \"#product-addtocart-button\""), "{}", p.journey[0].action);
    let ended = p.final_url.as_deref().unwrap_or_default();
    assert!(ended.contains("/m2/checkout/"), "judged {ended}, not the checkout");
    assert!(
        p.scripts.iter().all(|s| !s.url.as_deref().unwrap_or_default().contains("catalog-add-to-cart")),
        "the product page's script is not the payment page's: {:#?}",
        p.scripts.iter().map(|s| &s.url).collect::<Vec<_>>()
    );
    assert!(!p.payment_fields.is_empty(), "the hosted field was seen");

    ws.shop.plant_m2_skimmer();
    let (code, report) = ws.scan(&[]);
    assert_eq!(code, 1, "{}", describe(&report));
    let attacker = ws.shop.host(Origin::Attacker);
    let f = exfiltration_to(&report, &attacker)
        .unwrap_or_else(|| panic!("no exfiltration to {attacker}: {}", describe(&report)));
    assert_eq!(f.severity, Severity::Critical);
    let sent = ws.shop.requests_to(Origin::Attacker);
    assert!(sent.iter().any(|r| r.path_only() == M2_SKIMMER_EXFIL_PATH), "the skimmer really sent the card");
    assert!(ws.shop.m2_order_requests().is_empty(), "an order was placed: {:#?}", ws.shop.m2_order_requests());
}

#[test]
fn a_broken_step_is_a_scan_error_naming_the_page_the_step_and_the_action() {
    let broken =
        M2_STEPS.replace("click = \"button.continue\"", "click = \"button.proceed-to-payment\"\ntimeout = \"3s\"");
    let ws = m2_workspace(&broken);
    let (code, report) = ws.scan(&[]);
    assert_eq!(code, 3, "{}", describe(&report));
    let p = &report.pages[0];
    assert_eq!(p.status, PageStatus::Error);
    let error = p.error.as_deref().unwrap_or_default();
    assert!(error.contains("journey step 5") && error.contains("click \"button.proceed-to-payment\""), "{error}");
    assert!(error.contains("never appeared"), "{error}");
    // The human output names the page too.
    let out = ws.skimwatch().args(["scan"]).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(text.contains("m2") && text.contains("journey step 5"), "{text}");
}

#[test]
fn an_empty_cart_redirect_without_steps_is_an_error_not_a_clean_result() {
    let shop = Shop::start_in_background().expect("start the test shop");
    shop.serve_m2_shop();
    let url = shop.m2_checkout_url();
    let ws = Workspace::with_page_config(shop, "m2", &url, "interact = \"none\"\nsettle = \"300ms\"");
    let (code, report) = ws.scan(&[]);
    assert_eq!(code, 3, "{}", describe(&report));
    let error = report.pages[0].error.as_deref().unwrap_or_default();
    assert!(error.contains("redirected to") && error.contains("/m2/checkout/cart/"), "{error}");
    assert!(error.contains("[[page.step]]"), "says how to fix it: {error}");
}

#[test]
fn a_journey_that_ends_without_a_payment_field_is_an_error() {
    // The journey stops at the shipping step: no card field there.
    let short = M2_STEPS.split("[[page.step]]\nselect").next().unwrap().to_string();
    let ws = m2_workspace(&format!("interact = \"none\"\n{short}"));
    let (code, report) = ws.scan(&[]);
    assert_eq!(code, 3, "{}", describe(&report));
    let error = report.pages[0].error.as_deref().unwrap_or_default();
    assert!(error.contains("journey ended on") && error.contains("no payment field"), "{error}");
}

#[test]
fn login_gated_checkout_is_reached_with_the_password_from_the_environment_which_never_leaks() {
    let shop = Shop::start_in_background().expect("start the test shop");
    let secret = format!("Tr4de {}&pw", std::process::id());
    let url = shop.serve_login_gated("buyer@trade.example", &secret);
    shop.plant_b2b_skimmer();
    let steps = r##"settle = "300ms"
[[page.step]]
fill = { "#email" = "buyer@trade.example", "#pass" = "{env.SKIMWATCH_TEST_TRADE_PASSWORD}" }

[[page.step]]
click = "#send2"
wait_for = "#cc-number"
"##;
    let ws = Workspace::with_page_config(shop, "trade", &url, steps);
    let out = ws
        .skimwatch()
        .env("SKIMWATCH_TEST_TRADE_PASSWORD", &secret)
        .args(["scan", "--format", "json"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    let report: ScanReport = serde_json::from_str(&stdout).expect("JSON report");
    assert_eq!(out.status.code(), Some(1), "{}", describe(&report));
    let attacker = ws.shop.host(Origin::Attacker);
    assert!(exfiltration_to(&report, &attacker).is_some(), "{}", describe(&report));
    assert!(ws.shop.requests_to(Origin::Attacker).iter().any(|r| r.path_only() == B2B_SKIMMER_EXFIL_PATH));
    // The login went through with the password, and the password is nowhere in our output or state.
    assert!(ws.shop.requests_to(Origin::Shop).iter().any(|r| r.method == "POST" && r.path_only() == "/b2b/login"));
    let encoded = secret.replace(' ', "+").replace('&', "%26");
    for text in [stdout.as_str(), &String::from_utf8_lossy(&out.stderr)] {
        assert!(!text.contains(&secret) && !text.contains(&encoded), "the password is in the output");
    }
    // Text output and the logs too.
    let out = ws
        .skimwatch()
        .env("SKIMWATCH_TEST_TRADE_PASSWORD", &secret)
        .env("RUST_LOG", "debug")
        .arg("scan")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(!text.contains(&secret) && !text.contains(&encoded), "the password is in the text output or logs");
    for file in walk(ws.dir.path()) {
        let bytes = std::fs::read(&file).unwrap();
        let hay = String::from_utf8_lossy(&bytes);
        assert!(!hay.contains(&secret) && !hay.contains(&encoded), "the password is in {}", file.display());
    }
}

#[test]
fn a_missing_password_variable_is_a_scan_error_naming_it() {
    let shop = Shop::start_in_background().expect("start the test shop");
    let url = shop.serve_login_gated("buyer@trade.example", "whatever");
    let steps = "[[page.step]]\nfill = { \"#pass\" = \"{env.SKIMWATCH_TEST_UNSET_PASSWORD}\" }\n";
    let ws = Workspace::with_page_config(shop, "trade", &url, steps);
    let (code, report) = ws.scan(&[]);
    assert_eq!(code, 3);
    let error = report.pages[0].error.as_deref().unwrap_or_default();
    assert!(error.contains("journey step 1") && error.contains("SKIMWATCH_TEST_UNSET_PASSWORD is not set"), "{error}");
}

#[test]
fn a_skimmer_served_only_to_german_shoppers_is_caught_with_their_locale_timezone_and_position() {
    const GERMANY: &str = "settle = \"300ms\"\nlocale = \"de-DE\"\ntimezone = \"Europe/Berlin\"";
    let shop = Shop::start_in_background().expect("start the test shop");
    let url = shop.serve_region_gated();
    let extra = format!("{GERMANY}\ngeolocation = {{ latitude = 52.52, longitude = 13.405 }}");
    let ws = Workspace::with_page_config(shop, "de", &url, &extra);
    let (code, report) = ws.scan(&[]);
    let attacker = ws.shop.host(Origin::Attacker);
    assert!(exfiltration_to(&report, &attacker).is_some(), "{code}: {}", describe(&report));
    assert!(ws.shop.requests_to(Origin::Attacker).iter().any(|r| r.path_only() == REGION_SKIMMER_EXFIL_PATH));
    let sent = ws.shop.requests_to(Origin::Shop);
    assert!(sent.iter().any(|r| r.header("accept-language").is_some_and(|l| l.starts_with("de-DE"))), "{sent:#?}");

    // The same German profile without a position shared: the skimmer never arms (so the
    // position is what the scan above added).
    let shop = Shop::start_in_background().expect("start the test shop");
    let url = shop.serve_region_gated();
    let ws = Workspace::with_page_config(shop, "de", &url, GERMANY);
    let (_, report) = ws.scan(&[]);
    assert!(findings_of(&report, FindingKind::CardExfiltration).is_empty(), "{}", describe(&report));
}

#[test]
fn a_skimmer_served_only_through_a_proxy_is_caught_through_that_proxy() {
    let proxy = Proxy::start_in_background().expect("start the proxy");
    let shop = Shop::start_in_background().expect("start the test shop");
    let url = shop.serve_proxy_gated();
    let extra = format!("settle = \"300ms\"\nproxy = \"{}\"", proxy.url());
    let ws = Workspace::with_page_config(shop, "proxied", &url, &extra);
    let (code, report) = ws.scan(&[]);
    let attacker = ws.shop.host(Origin::Attacker);
    assert!(exfiltration_to(&report, &attacker).is_some(), "{code}: {}", describe(&report));
    assert!(ws.shop.requests_to(Origin::Attacker).iter().any(|r| r.path_only() == PROXY_SKIMMER_EXFIL_PATH));
    let through = proxy.requests();
    assert!(through.iter().any(|r| r.contains(&url)), "the page went through the proxy: {through:#?}");
}

/// Every file under `dir`.
fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for entry in std::fs::read_dir(&d).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() {
                todo.push(path);
            } else {
                out.push(path);
            }
        }
    }
    out
}

#[test]
fn try_prints_every_step_with_a_screenshot_each_and_stores_nothing() {
    let ws = m2_workspace(M2_STEPS);
    let shots = ws.dir.path().join("shots");
    let out =
        ws.skimwatch().args(["try", "--page", "m2", "--format", "json", "--screenshots"]).arg(&shots).output().unwrap();
    let report: skimwatch::scan::TryReport = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "not the try report ({e}): {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    assert_eq!(out.status.code(), Some(0), "{report:#?}");
    assert_eq!(report.steps.iter().map(|s| s.step).collect::<Vec<_>>(), vec![1, 2, 3, 4, 5]);
    assert!(report.steps.iter().all(|s| s.outcome == "ok" && !s.url.is_empty()), "{report:#?}");
    assert!(report.final_url.as_deref().is_some_and(|u| u.contains("/m2/checkout/")), "{report:#?}");
    assert!(report.payment_fields >= 1, "{report:#?}");
    for n in 1..=5 {
        let png = std::fs::read(shots.join(format!("step-{n:02}.png"))).expect("a screenshot per step");
        assert!(png.starts_with(b"\x89PNG"), "step {n}: not a PNG");
    }
    assert!(!ws.dir.path().join("state").exists(), "try stored something");

    // The text form names each step; a broken step fails with exit 3 and says which.
    let broken = M2_STEPS.replace("click = \"button.continue\"", "click = \"button.gone\"\ntimeout = \"2s\"");
    let ws = m2_workspace(&broken);
    let out = ws.skimwatch().args(["try", "--page", "m2"]).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(3), "{text}");
    for n in 1..=5 {
        assert!(text.contains(&format!("step {n:>2}")), "step {n} missing:\n{text}");
    }
    assert!(text.contains("FAILED") && text.contains("journey step 5"), "{text}");
}

#[test]
fn a_checkout_behind_basic_auth_is_scanned_with_the_password_from_the_environment() {
    let shop = Shop::start_in_background().expect("start the test shop");
    let secret = format!("wh0lesale-{}", std::process::id());
    let url = shop.serve_basic_auth("buyer", &secret);
    shop.plant_basic_skimmer();
    let extra =
        "settle = \"300ms\"\nbasic_auth = { user = \"buyer\", password = \"{env.SKIMWATCH_TEST_BASIC_PASSWORD}\" }";
    let ws = Workspace::with_page_config(shop, "wholesale", &url, extra);
    // Without the variable: a scan error naming it, not a 401 judged as the page.
    let (code, report) = ws.scan(&[]);
    assert_eq!(code, 3, "{}", describe(&report));
    assert!(report.pages[0].error.as_deref().unwrap_or_default().contains("SKIMWATCH_TEST_BASIC_PASSWORD is not set"));
    let out = ws
        .skimwatch()
        .env("SKIMWATCH_TEST_BASIC_PASSWORD", &secret)
        .args(["scan", "--format", "json"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    let report: ScanReport = serde_json::from_str(&stdout).expect("JSON report");
    assert_eq!(report.pages[0].status, PageStatus::Ok, "{}", describe(&report));
    assert_eq!(report.pages[0].http_status, Some(200));
    let attacker = ws.shop.host(Origin::Attacker);
    assert!(exfiltration_to(&report, &attacker).is_some(), "{}", describe(&report));
    // The credentials went to the shop only, never to the attacker's host.
    assert!(ws.shop.requests_to(Origin::Shop).iter().any(|r| r.header("authorization").is_some()));
    assert!(ws.shop.requests_to(Origin::Attacker).iter().all(|r| r.header("authorization").is_none()));
    assert!(!stdout.contains(&secret));
    for file in walk(ws.dir.path()) {
        let hay = String::from_utf8_lossy(&std::fs::read(&file).unwrap()).to_string();
        assert!(!hay.contains(&secret), "the password is in {}", file.display());
    }
}
