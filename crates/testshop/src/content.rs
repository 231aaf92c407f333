//! The shop's default content: what a clean, unattacked checkout serves.
//!
//! The files live in `assets/` so they read (and diff) as the HTML, JavaScript and CSS they
//! are. Only HTML pages name other origins, and their ports change on every start, so the
//! pages are templates with `{{SHOP}}`, `{{PAYMENT}}`, `{{VENDOR}}` placeholders. Scripts find
//! their hosts at run time (`document.currentScript.src`, the iframe's `src`, a `parent=`
//! query parameter) the way real vendor scripts do; that keeps every default script byte-for-
//! byte the same on every run. Nothing random (nonces, tokens, timestamps) is served either, so
//! two scans of an untouched shop see identical content.

use super::{Bases, Origin, Resource};
use std::collections::HashMap;

const CHECKOUT_HTML: &str = include_str!("../assets/checkout.html");
const INDEX_HTML: &str = include_str!("../assets/index.html");
const SITE_CSS: &str = include_str!("../assets/site.css");
const LOGO_SVG: &str = include_str!("../assets/logo.svg");
const VENDOR_MIN_JS: &str = include_str!("../assets/vendor.min.js");
const CHECKOUT_JS: &str = include_str!("../assets/checkout.js");
const HOSTED_FIELDS_HTML: &str = include_str!("../assets/hosted-fields.html");
const FIELDS_JS: &str = include_str!("../assets/fields.js");
const FIELDS_CSS: &str = include_str!("../assets/fields.css");
const GTM_JS: &str = include_str!("../assets/gtm.js");
const ANALYTICS_JS: &str = include_str!("../assets/analytics.js");

/// A 1×1 transparent image. SVG rather than GIF because bodies are text.
pub(super) const PIXEL_SVG: &str =
    r#"<svg xmlns="http://www.w3.org/2000/svg" width="1" height="1" viewBox="0 0 1 1"></svg>"#;

const SHIPPING_METHODS_JSON: &str = r#"{"country":"IE","methods":[{"code":"standard","label":"Standard delivery (3-5 working days)","price":4.95},{"code":"express","label":"Express delivery (next working day)","price":12.5}]}"#;
const CART_JSON: &str = r#"{"cartId":"c7Q2M9XK4PZ","currency":"EUR","items":[{"sku":"HP-JKT-0142-M","name":"Waxed canvas field jacket","qty":1,"price":149.0},{"sku":"HP-BNE-0031","name":"Merino wool beanie","qty":1,"price":35.0}],"subtotal":184.0}"#;
const ORDER_JSON: &str = r#"{"status":"accepted","orderId":"HP-100384512"}"#;
const TOKEN_JSON: &str = r#"{"id":"tok_1PqZ8bH4xK2mLw9R","object":"token","livemode":false}"#;

/// The CSP of the checkout page. Deliberately the kind most real shops ship: framing and form
/// targets are locked down, but scripts may come from any host and inline/eval code is allowed
/// because the tag manager needs it. That is why a planted skimmer runs (and must be caught by
/// watching scripts, not by the policy); a test that wants a strict policy sets its own.
fn checkout_csp(bases: &Bases) -> String {
    format!(
        "default-src 'self'; script-src 'self' 'unsafe-inline' 'unsafe-eval' http: https:; \
         style-src 'self' 'unsafe-inline'; img-src * data:; connect-src *; frame-src {payment}; \
         form-action 'self'; frame-ancestors 'none'; base-uri 'self'; object-src 'none'",
        payment = bases.get(Origin::Payment)
    )
}

/// The security-impacting headers PCI DSS 11.6.1 asks to watch, as the checkout sends them.
fn checkout_headers(bases: &Bases) -> Vec<(String, String)> {
    let pairs = [
        ("Content-Security-Policy", checkout_csp(bases)),
        ("X-Frame-Options", "DENY".to_string()),
        ("X-Content-Type-Options", "nosniff".to_string()),
        ("Referrer-Policy", "strict-origin-when-cross-origin".to_string()),
        // Browsers ignore HSTS over plain http; it is here so header monitoring has it to watch.
        ("Strict-Transport-Security", "max-age=31536000; includeSubDomains".to_string()),
        (
            "Permissions-Policy",
            format!("camera=(), microphone=(), geolocation=(), payment=(self \"{}\")", bases.get(Origin::Payment)),
        ),
    ];
    pairs.into_iter().map(|(n, v)| (n.to_string(), v)).collect()
}

/// The iframe `src` of the hosted card fields. The provider learns who embeds it from
/// `parent=`, as Stripe's and Adyen's frames do, so its script need not hard-code the shop.
pub(super) fn hosted_fields_src(bases: &Bases) -> String {
    let parent = bases.get(Origin::Shop).replace(':', "%3A").replace('/', "%2F");
    format!("{}/hosted-fields?parent={parent}&session=cs_live_4eC39HqLyjWDarjtT1zdp7dc", bases.get(Origin::Payment))
}

fn fill(template: &str, bases: &Bases) -> String {
    let shop = bases.get(Origin::Shop);
    template
        .replace("{{SHOP}}", shop)
        .replace("{{SHOP_ENCODED}}", &shop.replace(':', "%3A").replace('/', "%2F"))
        .replace("{{PAYMENT}}", bases.get(Origin::Payment))
        .replace("{{VENDOR}}", bases.get(Origin::Vendor))
}

/// Static files send `nosniff` like a typical CDN-fronted shop; pages add the rest.
fn static_file(content_type: &str, body: &str) -> Resource {
    Resource::new(content_type, body).with_header("X-Content-Type-Options", "nosniff")
}

pub(super) fn defaults(bases: &Bases) -> HashMap<(Origin, String), Resource> {
    let js = "text/javascript; charset=utf-8";
    let css = "text/css; charset=utf-8";
    let svg = "image/svg+xml";
    let json = "application/json";

    let mut checkout = Resource::html(fill(CHECKOUT_HTML, bases));
    checkout.headers = checkout_headers(bases);

    let mut home = Resource::html(fill(INDEX_HTML, bases));
    home.headers = checkout_headers(bases);

    // The provider must allow being framed by the shop, so it uses frame-ancestors instead of
    // X-Frame-Options. Like many providers it restricts nothing else.
    let hosted_fields = Resource::html(fill(HOSTED_FIELDS_HTML, bases))
        .with_header("Content-Security-Policy", &format!("frame-ancestors {}", bases.get(Origin::Shop)))
        .with_header("X-Content-Type-Options", "nosniff")
        .with_header("Referrer-Policy", "same-origin");

    // The attacker's endpoint answers like a tracking pixel and allows any origin, so the
    // skimmers' fetch/XHR calls succeed without errors a shopper could notice.
    let collect = Resource::new(svg, PIXEL_SVG).with_header("Access-Control-Allow-Origin", "*");

    let entries = [
        (Origin::Shop, "/", home),
        (Origin::Shop, "/checkout", checkout),
        (Origin::Shop, "/favicon.ico", Resource::new("image/x-icon", "").with_status(204)),
        (Origin::Shop, "/static/css/site.css", static_file(css, SITE_CSS)),
        (Origin::Shop, "/static/img/logo.svg", static_file(svg, LOGO_SVG)),
        (Origin::Shop, "/static/js/vendor.min.js", static_file(js, VENDOR_MIN_JS)),
        (Origin::Shop, "/static/js/checkout.js", static_file(js, CHECKOUT_JS)),
        (Origin::Shop, "/api/cart", static_file(json, CART_JSON)),
        (Origin::Shop, "/api/shipping-methods", static_file(json, SHIPPING_METHODS_JSON)),
        (Origin::Shop, "/api/orders", static_file(json, ORDER_JSON)),
        (Origin::Payment, "/hosted-fields", hosted_fields),
        (Origin::Payment, "/static/fields.js", static_file(js, FIELDS_JS)),
        (Origin::Payment, "/static/fields.css", static_file(css, FIELDS_CSS)),
        (Origin::Payment, "/v1/tokens", static_file(json, TOKEN_JSON)),
        (Origin::Payment, "/favicon.ico", Resource::new("image/x-icon", "").with_status(204)),
        (Origin::Vendor, "/gtm.js", static_file(js, GTM_JS).with_header("Access-Control-Allow-Origin", "*")),
        (
            Origin::Vendor,
            "/analytics.js",
            static_file(js, ANALYTICS_JS).with_header("Access-Control-Allow-Origin", "*"),
        ),
        (
            Origin::Vendor,
            "/g/collect",
            Resource::new("text/plain", "").with_status(204).with_header("Access-Control-Allow-Origin", "*"),
        ),
        (Origin::Attacker, "/collect", collect),
    ];
    entries.into_iter().map(|(origin, path, resource)| ((origin, path.to_string()), resource)).collect()
}
