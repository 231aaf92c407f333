//! Interact: make the headless browser look and act like a shopper, and watch card fields.
//!
//! Skimmers hide from crawlers: they check the user agent, `navigator.webdriver`, the WebGL
//! renderer and the screen; they wait for keystrokes in the card field; the servers behind
//! them cloak by user agent. This module holds everything capture needs to defeat that:
//!
//! * a browser **profile** (`desktop` or `mobile`): user agent and client hints without
//!   `HeadlessChrome`, screen and window sizes, timezone, languages, touch, CPU count, and the
//!   WebGL vendor/renderer strings of a real GPU instead of SwiftShader;
//! * the **prelude**, a script run in every frame before any page script
//!   (`Page.addScriptToEvaluateOnNewDocument`, `runImmediately`): it applies the JavaScript
//!   side of the profile and instruments card fields — the `value` getter, `addEventListener`,
//!   `on…` handler properties and `FormData` — reporting each access with the calling
//!   script (from `new Error().stack`) through a `Runtime.addBinding` function whose name is
//!   random per scan and which the prelude removes from `window`. Patched functions answer
//!   `toString()` like the native ones;
//! * the **shopper**: after load it fills the form field by field in visual order — a mouse
//!   click to focus, for card fields one `keyDown`/`keyUp` pair per character at human-like
//!   intervals (other fields are filled in one go, like autofill), `Tab` to leave (which
//!   blurs) — typing the scan's canary card number into the card number field;
//!   in `type-and-submit` mode it then clicks the pay button while requests that would place
//!   the order are failed with `Fetch.failRequest`.
//!
//! All code the monitor runs in the page carries a `//# sourceURL=` marker that is random per
//! scan, so capture can drop it from the inventory and a page cannot name its own code after it.

use crate::capture::canary::Canary;
pub use crate::model::{InteractMode, Profile};
use crate::model::TypedField;
use chromiumoxide::cdp::browser_protocol::dom::{FocusParams, GetBoxModelParams, GetFrameOwnerParams};
use chromiumoxide::cdp::browser_protocol::emulation::{
    SetDeviceMetricsOverrideParams, SetTimezoneOverrideParams, SetTouchEmulationEnabledParams,
    SetUserAgentOverrideParams, UserAgentBrandVersion, UserAgentMetadata,
};
use chromiumoxide::cdp::browser_protocol::fetch::{
    ContinueRequestParams, EnableParams as FetchEnable, EventRequestPaused, FailRequestParams, RequestPattern,
    RequestStage,
};
use chromiumoxide::cdp::browser_protocol::input::{
    DispatchKeyEventParams, DispatchKeyEventType, DispatchMouseEventParams, DispatchMouseEventType, InsertTextParams,
    MouseButton,
};
use chromiumoxide::cdp::browser_protocol::network::{ErrorReason, ResourceType};
use chromiumoxide::cdp::browser_protocol::page::{AddScriptToEvaluateOnNewDocumentParams, FrameId};
use chromiumoxide::cdp::js_protocol::runtime::{AddBindingParams, EvaluateParams, ExecutionContextId};
use chromiumoxide::Page;
use futures::StreamExt;
use rand::Rng;
use serde::Deserialize;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Everything about one profile, in one place so the README can list it.
struct ProfileSpec {
    user_agent: String,
    platform: &'static str,
    ch_platform: &'static str,
    ch_platform_version: &'static str,
    ch_architecture: &'static str,
    ch_model: &'static str,
    mobile: bool,
    width: i64,
    height: i64,
    scale: f64,
    screen: (i64, i64),
    /// Height of the OS taskbar (screen.availHeight = height - this).
    taskbar: i64,
    /// Height of the browser's own toolbars (outerHeight = innerHeight + this).
    toolbars: i64,
    gl_vendor: &'static str,
    gl_renderer: &'static str,
    cores: u32,
    memory: u32,
}

const TIMEZONE: &str = "America/New_York";
const LANGUAGES: &str = "en-US,en;q=0.9";

fn spec(profile: Profile, version: &str) -> ProfileSpec {
    let major = version.split('.').next().filter(|m| !m.is_empty()).unwrap_or("130");
    match profile {
        Profile::Desktop => ProfileSpec {
            user_agent: format!(
                "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/{major}.0.0.0 Safari/537.36"
            ),
            platform: "Win32",
            ch_platform: "Windows",
            ch_platform_version: "15.0.0",
            ch_architecture: "x86",
            ch_model: "",
            mobile: false,
            width: 1366,
            height: 657,
            scale: 1.0,
            screen: (1366, 768),
            taskbar: 40,
            toolbars: 71,
            gl_vendor: "Google Inc. (Intel)",
            gl_renderer: "ANGLE (Intel, Intel(R) UHD Graphics 620 (0x00005917) Direct3D11 vs_5_0 ps_5_0, D3D11)",
            cores: 8,
            memory: 8,
        },
        Profile::Mobile => ProfileSpec {
            user_agent: format!(
                "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/{major}.0.0.0 Mobile Safari/537.36"
            ),
            platform: "Linux armv81",
            ch_platform: "Android",
            ch_platform_version: "14.0.0",
            ch_architecture: "",
            ch_model: "Pixel 7",
            mobile: true,
            width: 412,
            height: 839,
            scale: 2.625,
            screen: (412, 915),
            taskbar: 0,
            toolbars: 0,
            gl_vendor: "Qualcomm",
            gl_renderer: "Adreno (TM) 730",
            cores: 8,
            memory: 8,
        },
    }
}

/// Per-scan secrets: the marker on our own code and the name of the reporting binding.
#[derive(Debug, Clone)]
pub struct Own {
    /// `//# sourceURL=` of every script the monitor runs in the page.
    pub marker: String,
    pub binding: String,
}

impl Own {
    pub fn generate() -> Own {
        let mut rng = rand::rng();
        let mut word = |n: usize| -> String {
            (0..n).map(|_| char::from(b"abcdefghijklmnopqrstuvwxyz"[rng.random_range(0..26usize)])).collect()
        };
        Own { marker: format!("{}.js", word(14)), binding: format!("_{}", word(12)) }
    }

    /// True for a script URL that is the monitor's own code.
    pub fn is_own(&self, url: &str) -> bool {
        url == self.marker || url.ends_with(&format!("/{}", self.marker))
    }

    /// `code` with our `sourceURL` marker appended.
    pub fn mark(&self, code: &str) -> String {
        format!("{code}\n//# sourceURL={}", self.marker)
    }
}

/// Sets up the profile and instrumentation on a fresh tab, before navigation.
pub async fn prepare(
    page: &Page,
    profile: Profile,
    version: &str,
    own: &Own,
    selectors: &[String],
) -> chromiumoxide::Result<()> {
    let s = spec(profile, version);
    let full = if version.is_empty() { "130.0.0.0".to_string() } else { version.to_string() };
    let major = full.split('.').next().unwrap_or("130").to_string();
    let brands = |v: &str, grease: &str| {
        vec![
            UserAgentBrandVersion::new("Not)A;Brand", grease),
            UserAgentBrandVersion::new("Chromium", v),
            UserAgentBrandVersion::new("Google Chrome", v),
        ]
    };
    let mut metadata = UserAgentMetadata::builder()
        .platform(s.ch_platform)
        .platform_version(s.ch_platform_version)
        .architecture(s.ch_architecture)
        .model(s.ch_model)
        .mobile(s.mobile)
        .build()
        .map_err(chromiumoxide::error::CdpError::msg)?;
    metadata.brands = Some(brands(&major, "99"));
    metadata.full_version_list = Some(brands(&full, "99.0.0.0"));
    if !s.mobile {
        metadata.bitness = Some("64".into());
    }
    let mut ua = SetUserAgentOverrideParams::new(s.user_agent.clone());
    ua.accept_language = Some(LANGUAGES.into());
    ua.platform = Some(s.platform.into());
    ua.user_agent_metadata = Some(metadata);
    page.execute(ua).await?;

    let mut metrics = SetDeviceMetricsOverrideParams::new(s.width, s.height, s.scale, s.mobile);
    metrics.screen_width = Some(s.screen.0);
    metrics.screen_height = Some(s.screen.1);
    page.execute(metrics).await?;
    if s.mobile {
        let mut touch = SetTouchEmulationEnabledParams::new(true);
        touch.max_touch_points = Some(5);
        page.execute(touch).await?;
    }
    page.execute(SetTimezoneOverrideParams::new(TIMEZONE)).await?;
    page.execute(AddBindingParams::new(own.binding.clone())).await?;
    let mut script = AddScriptToEvaluateOnNewDocumentParams::new(prelude_js(own, &s, selectors));
    script.run_immediately = Some(true);
    page.execute(script).await?;
    Ok(())
}

/// The JavaScript every frame runs before the page's own code.
fn prelude_js(own: &Own, s: &ProfileSpec, selectors: &[String]) -> String {
    let config = serde_json::json!({
        "binding": own.binding,
        "marker": own.marker,
        "selectors": selectors,
        "gl": [s.gl_vendor, s.gl_renderer],
        "cores": s.cores,
        "memory": s.memory,
        "screen": [s.screen.0, s.screen.1, s.taskbar],
        "toolbars": s.toolbars,
    });
    own.mark(&PRELUDE_JS.replace("__CARD_FIELD_JS__", CARD_FIELD_JS).replace("__CONFIG__", &config.to_string()))
}

/// Shared by the prelude and the field finder: is this element a card field, and its selector.
/// The selector follows capture's probe, so a field has one name everywhere.
const CARD_FIELD_JS: &str = r#"
  const cardWords = /(card.?num|cc.?num|cardnumber|credit.?card|(^|[^a-z])(card|cc|pan|cvv|cvc|csc|cvv2)([^a-z]|$)|security.?code|expir|exp.?date|exp.?month|exp.?year)/i;
  const getAttr = Element.prototype.getAttribute, matches = Element.prototype.matches;
  const attr = (el, n) => Reflect.apply(getAttr, el, [n]);
  const isCard = (el) => {
    try {
      if (!el || el.nodeType !== 1) return false;
      const tag = el.tagName;
      if (tag !== 'INPUT' && tag !== 'SELECT' && tag !== 'TEXTAREA') return false;
      for (const s of C.selectors) { try { if (Reflect.apply(matches, el, [s])) return true; } catch (e) {} }
      const ac = (attr(el, 'autocomplete') || '').toLowerCase();
      if (/(^|\s)cc-/.test(ac)) return true;
      for (const a of ['name', 'id', 'placeholder', 'aria-label', 'data-elements-stable-field-name']) {
        const v = attr(el, a);
        if (v && cardWords.test(v)) return true;
      }
      if (el.labels) for (const l of el.labels) if (cardWords.test(l.textContent || '')) return true;
    } catch (e) {}
    return false;
  };
  const desc = (el) => {
    const ac = (attr(el, 'autocomplete') || '').toLowerCase();
    const name = attr(el, 'name');
    return el.id ? '#' + CSS.escape(el.id)
      : name ? el.tagName.toLowerCase() + '[name="' + name.replace(/"/g, '\\"') + '"]'
      : el.tagName.toLowerCase() + '[autocomplete="' + ac + '"]';
  };
"#;

const PRELUDE_JS: &str = r#"(() => {
  const C = __CONFIG__;
  const send = self[C.binding];
  try { delete self[C.binding]; } catch (e) {}
  const stringify = JSON.stringify;
  __CARD_FIELD_JS__
  // Patched functions say they are native code, like the originals.
  const FP = Function.prototype, origToString = FP.toString;
  const natives = new WeakMap();
  const toString = ({ toString() { return natives.has(this) ? natives.get(this) : Reflect.apply(origToString, this, arguments); } }).toString;
  natives.set(toString, Reflect.apply(origToString, origToString, []));
  Object.defineProperty(FP, 'toString', { value: toString, writable: true, configurable: true, enumerable: false });
  const disguise = (fake, real) => { try { natives.set(fake, Reflect.apply(origToString, real, [])); } catch (e) {} return fake; };
  const getter = (obj, prop, make) => {
    const d = obj && Object.getOwnPropertyDescriptor(obj, prop);
    if (!d || !d.get) return;
    const real = d.get;
    const fake = Object.getOwnPropertyDescriptor({ get [prop]() { return make(this, real); } }, prop).get;
    Object.defineProperty(obj, prop, { get: disguise(fake, real), set: d.set, enumerable: d.enumerable, configurable: true });
  };

  // --- profile: what a real browser on a real machine shows ------------------------------
  for (const G of [self.WebGLRenderingContext, self.WebGL2RenderingContext]) {
    if (!G) continue;
    const real = G.prototype.getParameter;
    const fake = ({ getParameter(p) {
      if (p === 37445) return C.gl[0];
      if (p === 37446) return C.gl[1];
      return Reflect.apply(real, this, arguments);
    } }).getParameter;
    Object.defineProperty(G.prototype, 'getParameter', { value: disguise(fake, real), writable: true, enumerable: true, configurable: true });
  }
  if (self.Navigator) {
    getter(Navigator.prototype, 'hardwareConcurrency', () => C.cores);
    getter(Navigator.prototype, 'deviceMemory', () => C.memory);
  }
  if (self.Screen) {
    getter(Screen.prototype, 'width', () => C.screen[0]);
    getter(Screen.prototype, 'height', () => C.screen[1]);
    getter(Screen.prototype, 'availWidth', () => C.screen[0]);
    getter(Screen.prototype, 'availHeight', () => C.screen[1] - C.screen[2]);
  }
  if (self.window === self) {
    getter(self, 'outerWidth', () => self.innerWidth);
    getter(self, 'outerHeight', () => self.innerHeight + C.toolbars);
  }
  if (!self.document) return;

  // --- instrumentation: who touches card fields ----------------------------------------
  const seen = Object.create(null);
  let count = 0;
  const where = () => {
    const E = Error, prep = E.prepareStackTrace, limit = E.stackTraceLimit;
    let st = '';
    try { E.prepareStackTrace = undefined; E.stackTraceLimit = 40; st = String(new E().stack || ''); } catch (e) {}
    try { E.prepareStackTrace = prep; E.stackTraceLimit = limit; } catch (e) {}
    for (const line of st.split('\n').slice(1)) {
      const m = line.match(/\(([^()\s]+):(\d+):(\d+)\)/) || line.match(/at ([^()\s]+):(\d+):(\d+)\s*$/);
      if (!m || m[1].indexOf(C.marker) >= 0) continue;
      return { u: m[1], l: +m[2], c: +m[3], ev: line.indexOf('eval at') >= 0 };
    }
    return null;
  };
  const note = (action, event, el, field) => {
    try {
      const w = where();
      if (!w) return;
      const f = field || desc(el);
      const key = action + '|' + event + '|' + f + '|' + w.u + ':' + w.l + ':' + w.c;
      if (seen[key] || count > 2000) return;
      seen[key] = 1;
      count++;
      send(stringify({ a: action, e: event, f: f, u: String(location.href), s: w }));
    } catch (e) {}
  };
  const formHasCard = (form) => { try { for (const el of form.elements) if (isCard(el)) return true; } catch (e) {} return false; };
  const formName = (form) => 'form' + (form.id ? '#' + CSS.escape(form.id) : '');

  for (const P of [self.HTMLInputElement, self.HTMLSelectElement, self.HTMLTextAreaElement]) {
    if (P) getter(P.prototype, 'value', (el, real) => {
      const v = Reflect.apply(real, el, []);
      if (v !== '' && isCard(el)) note('read', null, el);
      return v;
    });
  }

  const KEYS = ['keydown', 'keypress', 'keyup', 'input', 'beforeinput', 'change', 'blur', 'focusout', 'paste', 'submit'];
  const origAdd = EventTarget.prototype.addEventListener;
  const add = ({ addEventListener(type, listener, options) {
    try {
      const t = String(type).toLowerCase();
      if (KEYS.indexOf(t) >= 0) {
        if (this === self) { if (t !== 'blur') note('listen', t, null, 'window'); }
        else if (this === document || this === document.body || this === document.documentElement) note('listen', t, null, 'document');
        else if (this instanceof HTMLFormElement) { if (formHasCard(this)) note('listen', t, null, formName(this)); }
        else if (isCard(this)) note('listen', t, this);
      }
    } catch (e) {}
    return Reflect.apply(origAdd, this, arguments);
  } }).addEventListener;
  Object.defineProperty(EventTarget.prototype, 'addEventListener', { value: disguise(add, origAdd), writable: true, enumerable: true, configurable: true });

  for (const P of [self.HTMLElement, self.Document]) {
    if (!P) continue;
    for (const prop of ['oninput', 'onkeydown', 'onkeyup', 'onkeypress', 'onchange', 'onblur', 'onpaste', 'onsubmit']) {
      const d = Object.getOwnPropertyDescriptor(P.prototype, prop);
      if (!d || !d.set) continue;
      const real = d.set;
      const fake = Object.getOwnPropertyDescriptor({ set [prop](v) {
        try {
          if (v) {
            const t = prop.slice(2);
            if (this === document) note('listen', t, null, 'document');
            else if (this instanceof HTMLFormElement) { if (formHasCard(this)) note('listen', t, null, formName(this)); }
            else if (isCard(this)) note('listen', t, this);
          }
        } catch (e) {}
        return Reflect.apply(real, this, [v]);
      } }, prop).set;
      Object.defineProperty(P.prototype, prop, { get: d.get, set: disguise(fake, real), enumerable: d.enumerable, configurable: true });
    }
  }

  // Image URLs are loaded later, so their requests carry no script stack: note who set them.
  const sent = (url) => {
    try {
      const w = where();
      if (!w || count > 2000) return;
      count++;
      const href = String(new URL(String(url), document.baseURI).href).slice(0, 8192);
      send(stringify({ a: 'send', e: 'image', f: '', u: String(location.href), s: w, url: href }));
    } catch (e) {}
  };
  if (self.HTMLImageElement) {
    const d = Object.getOwnPropertyDescriptor(HTMLImageElement.prototype, 'src');
    if (d && d.set) {
      const real = d.set;
      const fake = Object.getOwnPropertyDescriptor({ set src(v) { sent(v); return Reflect.apply(real, this, [v]); } }, 'src').set;
      Object.defineProperty(HTMLImageElement.prototype, 'src', { get: d.get, set: disguise(fake, real), enumerable: d.enumerable, configurable: true });
    }
    const realSet = Element.prototype.setAttribute;
    const setAttribute = ({ setAttribute(name, value) {
      try { if (this instanceof HTMLImageElement && String(name).toLowerCase() === 'src') sent(value); } catch (e) {}
      return Reflect.apply(realSet, this, arguments);
    } }).setAttribute;
    Object.defineProperty(Element.prototype, 'setAttribute', { value: disguise(setAttribute, realSet), writable: true, enumerable: true, configurable: true });
  }

  const RealFormData = self.FormData;
  if (RealFormData) {
    const FD = new Proxy(RealFormData, { construct(target, args, newTarget) {
      try {
        const form = args[0];
        if (form instanceof HTMLFormElement) for (const el of form.elements) if (isCard(el)) note('read', 'formdata', el);
      } catch (e) {}
      return Reflect.construct(target, args, newTarget);
    } });
    disguise(FD, RealFormData);
    Object.defineProperty(self, 'FormData', { value: FD, writable: true, enumerable: false, configurable: true });
  }
})();"#;

/// One access the prelude reported (`listen`, `read`), or an image URL set by a script (`send`).
#[derive(Debug, Clone, Deserialize)]
pub struct ReportedAccess {
    /// `listen` or `read`.
    pub a: String,
    /// Event type, `formdata`, or null for a value read.
    pub e: Option<String>,
    /// Field selector, or `document` / `window` / `form#id`.
    pub f: String,
    /// Document URL of the frame.
    pub u: String,
    /// Calling script's stack frame.
    pub s: StackLocation,
    /// For `send`: the URL an image was pointed at.
    #[serde(default)]
    pub url: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct StackLocation {
    /// Script URL (the document URL for inline code).
    pub u: String,
    /// 1-based line and column.
    pub l: i64,
    pub c: i64,
    /// True when the frame was eval'd code (then `u`/`l`/`c` name the eval's caller).
    #[serde(default)]
    pub ev: bool,
}

/// Parses a binding payload, or `None` for anything else (pages cannot call the binding, but
/// the payload is still treated as hostile).
pub fn parse_access(payload: &str) -> Option<ReportedAccess> {
    if payload.len() > 16 * 1024 {
        return None;
    }
    let mut a: ReportedAccess = serde_json::from_str(payload).ok()?;
    if !matches!(a.a.as_str(), "listen" | "read" | "send") {
        return None;
    }
    a.f.truncate(300);
    Some(a)
}

// ---------------------------------------------------------------------------------------------
// The shopper
// ---------------------------------------------------------------------------------------------

/// Lists fillable fields and the pay button of one frame. Runs in the frame's main world.
const FIELDS_JS: &str = r#"(() => {
  const C = __CONFIG__;
  __CARD_FIELD_JS__
  const all = Array.from(document.querySelectorAll('input, select, textarea'));
  const words = (el) => {
    const parts = [attr(el, 'name'), el.id, attr(el, 'placeholder'), attr(el, 'aria-label')];
    if (el.labels) for (const l of el.labels) parts.push(l.textContent || '');
    return parts.filter(Boolean).join(' ').toLowerCase();
  };
  const KIND = { 'cc-number': 'number', 'cc-exp': 'exp', 'cc-exp-month': 'exp-month', 'cc-exp-year': 'exp-year',
    'cc-csc': 'cvc', 'cc-name': 'name', 'cc-given-name': 'given', 'cc-family-name': 'family', 'email': 'email',
    'given-name': 'given', 'family-name': 'family', 'name': 'name', 'street-address': 'street',
    'address-line1': 'street', 'postal-code': 'postal', 'address-level2': 'city', 'tel': 'tel' };
  const kindOf = (el, card) => {
    const ac = (attr(el, 'autocomplete') || '').toLowerCase().split(/\s+/).pop();
    if (KIND[ac]) return KIND[ac];
    const w = words(el);
    if (/cvv|cvc|csc|security.?code/.test(w)) return 'cvc';
    if (/exp.{0,8}(month|mm\b)/.test(w)) return 'exp-month';
    if (/exp.{0,8}(year|yy)/.test(w)) return 'exp-year';
    if (/expir|exp.?date|mm.?\/.?yy/.test(w)) return 'exp';
    if (/holder|name.?on.?card|owner|ccname/.test(w)) return 'name';
    if (/card.?num|cc.?num|cardnumber|credit.?card|(^|[^a-z])(card|cc|pan)([^a-z]|$)/.test(w)) return 'number';
    if (card) return 'number';
    if (el.type === 'email' || /e-?mail/.test(w)) return 'email';
    if (el.type === 'tel' || /phone|mobile|tel/.test(w)) return 'tel';
    if (/first.?name|given/.test(w)) return 'given';
    if (/last.?name|surname|family/.test(w)) return 'family';
    if (/street|address/.test(w)) return 'street';
    if (/post.?code|postal|zip/.test(w)) return 'postal';
    if (/city|town/.test(w)) return 'city';
    return null;
  };
  const visible = (el) => {
    const r = el.getBoundingClientRect();
    if (r.width < 2 || r.height < 2) return false;
    const s = getComputedStyle(el);
    return s.visibility !== 'hidden' && s.display !== 'none' && +s.opacity > 0.05;
  };
  const skipTypes = ['hidden', 'checkbox', 'radio', 'submit', 'button', 'image', 'reset', 'file', 'password', 'search', 'range', 'color'];
  const fields = [];
  all.forEach((el, index) => {
    if (el.tagName === 'SELECT' || el.disabled || el.readOnly) return;
    if (el.tagName === 'INPUT' && skipTypes.indexOf((el.type || '').toLowerCase()) >= 0) return;
    if (!visible(el)) return;
    const card = isCard(el);
    const kind = kindOf(el, card);
    if (!kind) return;
    const r = el.getBoundingClientRect();
    fields.push({ index, selector: desc(el), kind, card, empty: el.value === '', max: el.maxLength > 0 ? el.maxLength : 0,
      y: r.top + scrollY, x: r.left + scrollX });
  });
  const configured = {};
  for (const s of C.selectors) { try { configured[s] = document.querySelectorAll(s).length; } catch (e) { configured[s] = -1; } }
  let submit = null;
  const buttons = Array.from(document.querySelectorAll('button, input[type=submit], input[type=button], [role=button]'));
  const label = (b) => ((b.textContent || '') + ' ' + (b.value || '') + ' ' + (attr(b, 'aria-label') || '')).toLowerCase();
  const payWords = /pay|place.?order|buy|complete|confirm|checkout|submit|order/;
  const pick = buttons.find((b) => visible(b) && !b.disabled && (b.type === 'submit') && payWords.test(label(b)))
    || buttons.find((b) => visible(b) && !b.disabled && payWords.test(label(b)))
    || buttons.find((b) => visible(b) && !b.disabled && b.type === 'submit');
  if (pick) submit = { index: Array.from(document.querySelectorAll('*')).indexOf(pick), selector: desc(pick) };
  return JSON.stringify({ url: String(location.href), fields, configured, submit });
})()"#;

#[derive(Debug, Clone, Deserialize)]
pub struct FrameFields {
    pub url: String,
    pub fields: Vec<FieldInfo>,
    #[serde(default)]
    pub configured: std::collections::BTreeMap<String, i64>,
    pub submit: Option<ButtonInfo>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct FieldInfo {
    pub index: usize,
    pub selector: String,
    pub kind: String,
    pub card: bool,
    pub empty: bool,
    pub max: i64,
    pub y: f64,
    pub x: f64,
}

#[derive(Debug, Clone, Deserialize)]
pub struct ButtonInfo {
    pub index: usize,
    pub selector: String,
}

/// A frame the shopper can act in: its main-world execution context.
#[derive(Debug, Clone)]
pub struct FrameCtx {
    pub context: i64,
    pub frame_id: String,
    pub is_main: bool,
}

/// What the shopper needs.
pub struct Shopper<'a> {
    pub page: &'a Page,
    pub own: &'a Own,
    pub canary: &'a Canary,
    pub mode: InteractMode,
    pub selectors: &'a [String],
    /// The page's origin (`http://host:port`): non-GET requests to it are blocked on submit.
    pub page_origin: String,
}

/// The outcome of the interaction.
#[derive(Debug, Default)]
pub struct Acted {
    pub fields_typed: Vec<TypedField>,
    pub submitted: bool,
    pub problems: Vec<String>,
    /// Requests failed so that no order is placed (filled in while the page lives on).
    pub blocked: Arc<Mutex<Vec<String>>>,
    /// Answers paused requests until dropped.
    pub blocker: Option<AbortOnDrop>,
}

/// Aborts a task when dropped.
#[derive(Debug)]
pub struct AbortOnDrop(pub tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Lists the fields of one frame (also used after the scan to check configured selectors).
pub async fn frame_fields(page: &Page, own: &Own, context: i64, selectors: &[String]) -> Option<FrameFields> {
    let config = serde_json::json!({ "selectors": selectors });
    let code = own.mark(&FIELDS_JS.replace("__CARD_FIELD_JS__", CARD_FIELD_JS).replace("__CONFIG__", &config.to_string()));
    let text = evaluate(page, context, &code).await?;
    serde_json::from_str(text.as_str()?).ok()
}

async fn evaluate(page: &Page, context: i64, code: &str) -> Option<serde_json::Value> {
    let params = EvaluateParams::builder()
        .expression(code)
        .context_id(ExecutionContextId::new(context))
        .return_by_value(true)
        .await_promise(true)
        .build()
        .ok()?;
    let res = tokio::time::timeout(Duration::from_secs(5), page.execute(params)).await.ok()?.ok()?;
    if res.result.exception_details.is_some() {
        return None;
    }
    res.result.result.value.clone()
}

impl Shopper<'_> {
    /// Fills the form (and submits it in `type-and-submit` mode).
    pub async fn run(&self, frames: &[FrameCtx]) -> Acted {
        let mut acted = Acted::default();
        if self.mode == InteractMode::None {
            return acted;
        }
        // Fields of every frame, placed on the page: a shopper works top to bottom.
        let mut plan: Vec<(f64, f64, FrameCtx, FieldInfo, String)> = Vec::new();
        let mut submit: Option<(FrameCtx, ButtonInfo)> = None;
        for frame in frames {
            let Some(ff) = frame_fields(self.page, self.own, frame.context, self.selectors).await else { continue };
            let (ox, oy) = if frame.is_main { (0.0, 0.0) } else { self.frame_offset(&frame.frame_id).await.unwrap_or((0.0, 1e6)) };
            for f in ff.fields {
                if f.empty {
                    plan.push((oy + f.y, ox + f.x, frame.clone(), f, ff.url.clone()));
                }
            }
            if frame.is_main {
                submit = ff.submit.map(|b| (frame.clone(), b));
            }
        }
        plan.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.total_cmp(&b.1)));
        let cvc: String = {
            let mut rng = rand::rng();
            (0..3).map(|_| char::from(b'0' + rng.random_range(1..10u8))).collect()
        };
        for (_, _, frame, field, frame_url) in &plan {
            let value = self.value_for(field, &cvc);
            if let Err(problem) = self.fill(frame, field, &value).await {
                let place = if frame.is_main { "main" } else { frame_url.split(['?', '#']).next().unwrap_or_default() };
                acted.problems.push(format!("{}|{}: {problem}", crate::text::label(place, 200), field.selector));
                continue;
            }
            // The inventory names it `frame key|selector`, as in field-access findings.
            acted.fields_typed.push(TypedField { frame_url: frame_url.clone(), main_frame: frame.is_main, selector: field.selector.clone() });
        }
        if self.mode == InteractMode::TypeAndSubmit {
            match submit {
                Some((frame, button)) => {
                    match self.block_order_requests(acted.blocked.clone()).await {
                        Ok(task) => acted.blocker = Some(task),
                        Err(e) => {
                            // Without the block the click could place a real order: do not click.
                            acted.problems.push(format!("not submitted: could not block order requests: {e}"));
                            return acted;
                        }
                    }
                    match self.click_element(&frame, &format!("document.querySelectorAll('*')[{}]", button.index)).await {
                        Ok(()) => acted.submitted = true,
                        Err(p) => acted.problems.push(format!("pay button {}: {p}", button.selector)),
                    }
                }
                None => acted.problems.push("not submitted: no pay button found".into()),
            }
        }
        acted
    }

    fn value_for(&self, field: &FieldInfo, cvc: &str) -> String {
        let year = time::OffsetDateTime::now_utc().year() + 3;
        match field.kind.as_str() {
            "number" => self.canary.digits().to_string(),
            "exp" => {
                if (1..=4).contains(&field.max) {
                    format!("12{:02}", year % 100)
                } else {
                    format!("12/{:02}", year % 100)
                }
            }
            "exp-month" => "12".into(),
            "exp-year" => {
                if field.max == 2 {
                    format!("{:02}", year % 100)
                } else {
                    year.to_string()
                }
            }
            "cvc" => cvc.into(),
            "name" => "Jane Doe".into(),
            "given" => "Jane".into(),
            "family" => "Doe".into(),
            "email" => "jane.doe@example.com".into(),
            "street" => "12 Harbour Road".into(),
            "postal" => "D02 XY45".into(),
            "city" => "Dublin".into(),
            "tel" => "+353 1 555 0142".into(),
            _ => String::new(),
        }
    }

    /// Where a child frame's viewport sits in the page (its owner element's content box).
    async fn frame_offset(&self, frame_id: &str) -> Option<(f64, f64)> {
        let owner = self.page.execute(GetFrameOwnerParams::new(FrameId::new(frame_id))).await.ok()?;
        let params = GetBoxModelParams { backend_node_id: Some(owner.result.backend_node_id), ..Default::default() };
        let model = self.page.execute(params).await.ok()?;
        let quad = model.result.model.content.inner();
        Some((*quad.first()?, *quad.get(1)?))
    }

    /// Focuses the field with a click, types `value` key by key, then leaves with Tab.
    async fn fill(&self, frame: &FrameCtx, field: &FieldInfo, value: &str) -> Result<(), String> {
        let el = format!("document.querySelectorAll('input, select, textarea')[{}]", field.index);
        let focused = evaluate(self.page, frame.context, &self.own.mark(&format!("(() => {{ const el = {el}; return !!el && document.hasFocus() && document.activeElement === el; }})()")))
            .await
            .and_then(|v| v.as_bool())
            .unwrap_or(false);
        if !focused {
            self.click_element(frame, &el).await?;
            pause(30, 80).await;
            let ok = evaluate(self.page, frame.context, &self.own.mark(&format!("(() => {{ const el = {el}; return !!el && document.activeElement === el; }})()")))
                .await
                .and_then(|v| v.as_bool())
                .unwrap_or(false);
            if !ok {
                self.focus_by_dom(frame, &el).await?;
            }
        }
        if field.card {
            // Card data key by key at a person's pace: keydown, keypress, input, keyup each.
            for c in value.chars() {
                self.key(c).await.map_err(|e| format!("typing: {e}"))?;
                pause(30, 80).await;
            }
        } else {
            // The address is "autofilled" in one go (an `input` event), which keeps scans short;
            // leaving the field still gives blur and change.
            self.page.execute(InsertTextParams::new(value)).await.map_err(|e| format!("typing: {e}"))?;
        }
        pause(50, 120).await;
        self.press_tab().await.map_err(|e| format!("tab: {e}"))?;
        pause(40, 90).await;
        Ok(())
    }

    async fn click_element(&self, frame: &FrameCtx, el: &str) -> Result<(), String> {
        let code = self.own.mark(&format!(
            "(() => {{ const el = {el}; if (!el) return null; el.scrollIntoView({{ block: 'center', inline: 'nearest' }}); const r = el.getBoundingClientRect(); return [r.left + r.width / 2, r.top + r.height / 2, r.width, r.height]; }})()"
        ));
        let rect = evaluate(self.page, frame.context, &code).await.ok_or("element gone")?;
        let r: Vec<f64> = serde_json::from_value(rect).map_err(|_| "element gone")?;
        if r.len() != 4 || r[2] < 1.0 || r[3] < 1.0 {
            return Err("element not visible".into());
        }
        let (ox, oy) = if frame.is_main { (0.0, 0.0) } else { self.frame_offset(&frame.frame_id).await.ok_or("frame not on the page")? };
        let (x, y) = (ox + r[0], oy + r[1]);
        let mouse = |kind: DispatchMouseEventType| {
            let mut p = DispatchMouseEventParams::new(kind, x, y);
            p.button = Some(MouseButton::Left);
            p.click_count = Some(1);
            p
        };
        let moved = DispatchMouseEventParams::new(DispatchMouseEventType::MouseMoved, x, y);
        self.page.execute(moved).await.map_err(|e| e.to_string())?;
        pause(30, 80).await;
        self.page.execute(mouse(DispatchMouseEventType::MousePressed)).await.map_err(|e| e.to_string())?;
        pause(40, 90).await;
        self.page.execute(mouse(DispatchMouseEventType::MouseReleased)).await.map_err(|e| e.to_string())?;
        Ok(())
    }

    /// Fallback when a click did not focus the field (covered by an overlay, zero-size …).
    async fn focus_by_dom(&self, frame: &FrameCtx, el: &str) -> Result<(), String> {
        let params = EvaluateParams::builder()
            .expression(self.own.mark(el))
            .context_id(ExecutionContextId::new(frame.context))
            .build()
            .map_err(|e| e.to_string())?;
        let res = self.page.execute(params).await.map_err(|e| e.to_string())?;
        let object = res.result.result.object_id.clone().ok_or("field gone")?;
        let focus = FocusParams { object_id: Some(object), ..Default::default() };
        self.page.execute(focus).await.map_err(|e| format!("cannot focus: {e}"))?;
        Ok(())
    }

    async fn key(&self, c: char) -> chromiumoxide::Result<()> {
        let (key, code, vk, shift) = key_of(c);
        let text = c.to_string();
        let mut down = DispatchKeyEventParams::new(DispatchKeyEventType::KeyDown);
        down.key = Some(key.clone());
        down.code = Some(code.clone());
        down.text = Some(text.clone());
        down.unmodified_text = Some(text);
        down.windows_virtual_key_code = Some(vk);
        down.native_virtual_key_code = Some(vk);
        down.modifiers = shift.then_some(8);
        self.page.execute(down).await?;
        pause(10, 30).await;
        let mut up = DispatchKeyEventParams::new(DispatchKeyEventType::KeyUp);
        up.key = Some(key);
        up.code = Some(code);
        up.windows_virtual_key_code = Some(vk);
        up.native_virtual_key_code = Some(vk);
        up.modifiers = shift.then_some(8);
        self.page.execute(up).await?;
        Ok(())
    }

    async fn press_tab(&self) -> chromiumoxide::Result<()> {
        let mut down = DispatchKeyEventParams::new(DispatchKeyEventType::RawKeyDown);
        down.key = Some("Tab".into());
        down.code = Some("Tab".into());
        down.windows_virtual_key_code = Some(9);
        down.native_virtual_key_code = Some(9);
        self.page.execute(down).await?;
        pause(20, 50).await;
        let mut up = DispatchKeyEventParams::new(DispatchKeyEventType::KeyUp);
        up.key = Some("Tab".into());
        up.code = Some("Tab".into());
        up.windows_virtual_key_code = Some(9);
        up.native_virtual_key_code = Some(9);
        self.page.execute(up).await?;
        Ok(())
    }

    /// Intercepts main-frame navigations and XHR/fetch to the page's own origin; fails the
    /// ones that could place the order (a top-level navigation or form post, a non-GET call
    /// to the shop's own API) and lets everything else through untouched. Patterns are narrow
    /// because every intercepted request waits for our answer.
    async fn block_order_requests(&self, blocked: Arc<Mutex<Vec<String>>>) -> Result<AbortOnDrop, String> {
        let mut paused = self.page.event_listener::<EventRequestPaused>().await.map_err(|e| e.to_string())?;
        let pattern = |url: String, kind: ResourceType| RequestPattern {
            url_pattern: Some(url),
            resource_type: Some(kind),
            request_stage: Some(RequestStage::Request),
        };
        let own = format!("{}/*", self.page_origin);
        let enable = FetchEnable {
            patterns: Some(vec![
                pattern("*".into(), ResourceType::Document),
                pattern(own.clone(), ResourceType::Xhr),
                pattern(own, ResourceType::Fetch),
            ]),
            ..Default::default()
        };
        let page = self.page.clone();
        let main_frame = page.mainframe().await.ok().flatten();
        page.execute(enable).await.map_err(|e| e.to_string())?;
        let task = tokio::spawn(async move {
            while let Some(ev) = paused.next().await {
                let is_document = ev.resource_type == ResourceType::Document;
                let top = Some(&ev.frame_id) == main_frame.as_ref();
                let block = if is_document { top } else { ev.request.method != "GET" && ev.request.method != "HEAD" };
                if block {
                    if let Ok(mut b) = blocked.lock() {
                        if b.len() < 100 {
                            b.push(format!("{} {}", ev.request.method, ev.request.url));
                        }
                    }
                    let _ = page.execute(FailRequestParams::new(ev.request_id.clone(), ErrorReason::BlockedByClient)).await;
                } else {
                    let _ = page.execute(ContinueRequestParams::new(ev.request_id.clone())).await;
                }
            }
        });
        Ok(AbortOnDrop(task))
    }
}

/// Key, code, Windows virtual key code and whether Shift is held, for a US keyboard.
fn key_of(c: char) -> (String, String, i64, bool) {
    let (code, vk, shift): (String, i64, bool) = match c {
        '0'..='9' => (format!("Digit{c}"), c as i64, false),
        'a'..='z' => (format!("Key{}", c.to_ascii_uppercase()), c.to_ascii_uppercase() as i64, false),
        'A'..='Z' => (format!("Key{c}"), c as i64, true),
        ' ' => ("Space".into(), 32, false),
        '.' => ("Period".into(), 190, false),
        ',' => ("Comma".into(), 188, false),
        '-' => ("Minus".into(), 189, false),
        '/' => ("Slash".into(), 191, false),
        '@' => ("Digit2".into(), 50, true),
        '+' => ("Equal".into(), 187, true),
        _ => (String::new(), 0, false),
    };
    (c.to_string(), code, vk, shift)
}

/// A human-like pause of `min`..`max` ms: pacing of the shopper's input, not synchronisation.
async fn pause(min: u64, max: u64) {
    let ms = rand::rng().random_range(min..=max);
    tokio::time::sleep(Duration::from_millis(ms)).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_agents_have_no_headless_tell() {
        for p in [Profile::Desktop, Profile::Mobile] {
            let s = spec(p, "156.0.7390.54");
            assert!(!s.user_agent.contains("Headless"), "{}", s.user_agent);
            assert!(s.user_agent.contains("Chrome/156.0.0.0"));
            assert!(!s.gl_renderer.contains("SwiftShader") && !s.gl_renderer.contains("llvmpipe"));
        }
        assert!(spec(Profile::Mobile, "156").user_agent.contains("Mobile"));
    }

    #[test]
    fn own_code_is_marked_with_a_random_name() {
        let a = Own::generate();
        let b = Own::generate();
        assert_ne!(a.marker, b.marker);
        assert!(a.mark("1").ends_with(&format!("//# sourceURL={}", a.marker)));
        assert!(a.is_own(&a.marker) && !a.is_own("https://shop.example/app.js"));
        let js = prelude_js(&a, &spec(Profile::Desktop, "156"), &["#cc".into()]);
        assert!(js.contains(&a.binding) && !js.contains("__CONFIG__"));
    }

    #[test]
    fn binding_payloads_are_validated() {
        let ok = r##"{"a":"listen","e":"keydown","f":"#cc","u":"https://s/","s":{"u":"https://s/a.js","l":3,"c":9}}"##;
        let a = parse_access(ok).unwrap();
        assert_eq!((a.a.as_str(), a.e.as_deref(), a.s.l), ("listen", Some("keydown"), 3));
        assert!(parse_access(r##"{"a":"steal","e":null,"f":"#cc","u":"x","s":{"u":"x","l":1,"c":1}}"##).is_none());
        assert!(parse_access("not json").is_none());
    }

    #[test]
    fn keys() {
        assert_eq!(key_of('4'), ("4".into(), "Digit4".into(), 52, false));
        assert_eq!(key_of('J').2, 74);
        assert!(key_of('J').3);
        assert_eq!(key_of('@').1, "Digit2");
    }
}
