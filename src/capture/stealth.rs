//! Stealth: make the headless browser look like a shopper's, and watch card fields.
//!
//! Skimmers hide from crawlers: they check the user agent, `navigator.webdriver`, the WebGL
//! renderer and the screen; the servers behind them cloak by user agent. [`prepare`] sets up a
//! fresh tab before navigation:
//!
//! * a browser **profile** (`desktop` or `mobile`): user agent and client hints without
//!   `HeadlessChrome`, screen and window sizes, timezone, languages, touch, CPU count, and the
//!   WebGL vendor/renderer strings of a real GPU instead of SwiftShader;
//! * the **prelude** (`js/prelude.js`), a script run in every frame before any page script
//!   (`Page.addScriptToEvaluateOnNewDocument`, `runImmediately`): it applies the JavaScript
//!   side of the profile and instruments card fields — the `value` getter, `addEventListener`,
//!   `on…` handler properties and `FormData` — reporting each access with the calling
//!   script (from `new Error().stack`) through a `Runtime.addBinding` function whose name is
//!   random per scan and which the prelude removes from `window` ([`parse_access`] reads the
//!   reports). Patched functions answer `toString()` like the native ones.
//!
//! All code the monitor runs in the page carries a `//# sourceURL=` marker that is random per
//! scan ([`Own`]), so capture can drop it from the inventory and a page cannot name its own
//! code after it.

use super::shopper::Profile;
use chromiumoxide::cdp::browser_protocol::emulation::{
    SetDeviceMetricsOverrideParams, SetGeolocationOverrideParams, SetLocaleOverrideParams, SetTimezoneOverrideParams,
    SetTouchEmulationEnabledParams, SetUserAgentOverrideParams, UserAgentBrandVersion, UserAgentMetadata,
};
use chromiumoxide::cdp::browser_protocol::page::AddScriptToEvaluateOnNewDocumentParams;
use chromiumoxide::cdp::js_protocol::runtime::AddBindingParams;
use chromiumoxide::Page;
use rand::Rng;
use serde::Deserialize;
use std::collections::HashSet;
use std::sync::{Arc, Mutex};

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

/// Per-scan secrets: the marker on our own code and the name of the reporting binding, and the
/// exact sources the monitor ran in the page.
///
/// The marker is a label, and a page can learn a label (it shows in stack traces): our own code
/// is recognised by the SHA-256 of the exact source the monitor injected ([`Own::is_own_source`];
/// V8's `Debugger.scriptParsed` carries the same hash), never by its URL.
#[derive(Debug, Clone)]
pub struct Own {
    /// `//# sourceURL=` of every script the monitor runs in the page.
    pub marker: String,
    pub binding: String,
    /// SHA-256 (lower-case hex) of every source the monitor injected in this scan.
    injected: Arc<Mutex<HashSet<String>>>,
}

impl Own {
    pub fn generate() -> Own {
        let mut rng = rand::rng();
        let mut word = |n: usize| -> String {
            (0..n).map(|_| char::from(b"abcdefghijklmnopqrstuvwxyz"[rng.random_range(0..26usize)])).collect()
        };
        Own { marker: format!("{}.js", word(14)), binding: format!("_{}", word(12)), injected: Arc::default() }
    }

    /// True for a script URL that carries the monitor's marker. A label only: the page can put
    /// the marker on its own code, so this never decides what is ours.
    pub fn has_marker(&self, url: &str) -> bool {
        url == self.marker || url.ends_with(&format!("/{}", self.marker))
    }

    /// True when `sha256_hex` is the hash of a source the monitor injected in this scan.
    pub fn is_own_hash(&self, sha256_hex: &str) -> bool {
        self.injected.lock().map(|s| s.contains(&sha256_hex.to_ascii_lowercase())).unwrap_or(false)
    }

    /// True when `source` is exactly a source the monitor injected in this scan.
    pub fn is_own_source(&self, source: &str) -> bool {
        self.is_own_hash(&sha256_hex(source))
    }

    /// `code` with our `sourceURL` marker appended, remembered as our own.
    pub fn mark(&self, code: &str) -> String {
        self.remember(format!("{code}\n//# sourceURL={}", self.marker))
    }

    /// Remembers `code` (exactly as it will be run) as the monitor's own, and returns it.
    pub fn remember(&self, code: String) -> String {
        if let Ok(mut s) = self.injected.lock() {
            s.insert(sha256_hex(&code));
        }
        code
    }
}

fn sha256_hex(text: &str) -> String {
    use sha2::{Digest, Sha256};
    Sha256::digest(text.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}

/// Sets up the profile and instrumentation on a fresh tab, before navigation.
pub async fn prepare(
    page: &Page,
    profile: Profile,
    version: &str,
    own: &Own,
    selectors: &[String],
    session: &crate::model::Session,
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
    ua.accept_language = Some(session.locale.as_deref().map_or(LANGUAGES.to_string(), accept_language));
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
    page.execute(SetTimezoneOverrideParams::new(session.timezone.as_deref().unwrap_or(TIMEZONE))).await?;
    if let Some(locale) = &session.locale {
        page.execute(SetLocaleOverrideParams { locale: Some(locale.clone()) }).await?;
    }
    if let Some(geo) = &session.geolocation {
        // The permission is granted for the browser context (see `Chromium::capture`).
        let position = SetGeolocationOverrideParams::builder()
            .latitude(geo.latitude())
            .longitude(geo.longitude())
            .accuracy(f64::from(geo.accuracy_m))
            .build();
        page.execute(position).await?;
    }
    page.execute(AddBindingParams::new(own.binding.clone())).await?;
    let mut script = AddScriptToEvaluateOnNewDocumentParams::new(prelude_js(own, &s, selectors));
    script.run_immediately = Some(true);
    page.execute(script).await?;
    Ok(())
}

/// `Accept-Language` for a locale: `de-DE` → `de-DE,de;q=0.9`.
fn accept_language(locale: &str) -> String {
    match locale.split_once('-') {
        Some((lang, _)) => format!("{locale},{lang};q=0.9"),
        None => locale.to_string(),
    }
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
/// The selector follows capture's probe, so a field has one name everywhere. Replaces
/// `__CARD_FIELD_JS__` in the prelude and in the shopper's field finder.
pub(super) const CARD_FIELD_JS: &str = include_str!("js/card_field.js");

/// The prelude; `__CONFIG__` is replaced by the scan's settings (JSON), `__CARD_FIELD_JS__`
/// by [`CARD_FIELD_JS`].
const PRELUDE_JS: &str = include_str!("js/prelude.js");

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
    /// Calling script's stack frame; `None` when the prelude could not read the stack as its
    /// own (the page tampered with it): the sender is unknown.
    #[serde(default)]
    pub s: Option<StackLocation>,
    /// For `send`: the URL an image was pointed at.
    #[serde(default)]
    pub url: Option<String>,
    /// For `drop` (the prelude stopped reporting `e` = `access` or `image`): how many it
    /// dropped so far.
    #[serde(default)]
    pub n: Option<u64>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct StackLocation {
    /// The resource V8 compiled the calling code from (the document URL for inline code; empty
    /// for code compiled from a string); for `ev`, the eval's caller as V8 names it.
    pub u: String,
    /// The `sourceURL` the code gives itself, if any: a label, used only for code without a
    /// resource.
    #[serde(default)]
    pub n: String,
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
    let mut a: ReportedAccess = crate::text::parse_page_json(payload).ok()?;
    if !matches!(a.a.as_str(), "listen" | "read" | "send" | "drop" | "cookie") {
        return None;
    }
    // The field name comes from the page (an element id): cut on a character boundary.
    a.f = crate::text::cut_bytes(&a.f, 300).to_string();
    if let Some(e) = a.e.as_mut() {
        // A cookie name written by a script: page text, cut like cookie names are.
        *e = crate::text::cut_bytes(e, 300).to_string();
    }
    Some(a)
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
        assert!(a.has_marker(&a.marker) && !a.has_marker("https://shop.example/app.js"));
        // Ours is what we injected, byte for byte, not what carries the marker.
        let code = a.mark("var x = 1;");
        assert!(a.is_own_source(&code) && !a.is_own_source(&format!("steal();{code}")));
        assert!(!b.is_own_source(&code));
        let js = prelude_js(&a, &spec(Profile::Desktop, "156"), &["#cc".into()]);
        assert!(js.contains(&a.binding) && !js.contains("__CONFIG__"));
    }

    #[test]
    fn binding_payloads_are_validated() {
        let ok = r##"{"a":"listen","e":"keydown","f":"#cc","u":"https://s/","s":{"u":"https://s/a.js","l":3,"c":9}}"##;
        let a = parse_access(ok).unwrap();
        assert_eq!((a.a.as_str(), a.e.as_deref(), a.s.unwrap().l), ("listen", Some("keydown"), 3));
        // A stack the prelude could not read: the sender is unknown, the access still counts.
        let unknown = parse_access(r##"{"a":"read","e":null,"f":"#cc","u":"https://s/","s":null}"##).unwrap();
        assert!(unknown.s.is_none());
        assert!(parse_access(r##"{"a":"steal","e":null,"f":"#cc","u":"x","s":{"u":"x","l":1,"c":1}}"##).is_none());
        assert!(parse_access("not json").is_none());
    }

    #[test]
    fn javascript_keeps_its_placeholders() {
        assert!(PRELUDE_JS.starts_with("(() => {") && PRELUDE_JS.ends_with("})();"));
        assert_eq!(PRELUDE_JS.matches("__CONFIG__").count(), 1);
        assert_eq!(PRELUDE_JS.matches("__CARD_FIELD_JS__").count(), 1);
        assert!(CARD_FIELD_JS.starts_with("\n  const cardWords") && CARD_FIELD_JS.ends_with("  };\n"));
        assert!(!CARD_FIELD_JS.contains("__"));
    }
}
