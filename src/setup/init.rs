//! A first `skimwatch.toml` from one trial load of a page: [`trial`] loads it once with the
//! shopper (the scan's own capture, nothing stored), [`suggest`] writes the config text from
//! what that load showed.
//!
//! Everything the page showed (selectors, frame URLs, hosts, the URL it redirected to) is
//! attacker input that lands in a file a person will commit and skimwatch will read. So values
//! are written only through the `toml` crate's serialisation, never pasted into TOML text; a
//! value with a control, invisible or bidirectional character, or longer than its bound, is
//! left out (and counted); comments carry page text only through [`crate::text::display_safe`]
//! (one line: nothing can end the comment) and cut to a bound. The text is read back with the
//! config reader before it is returned, so a config `init` writes is one `scan` accepts.
//!
//! What is suggested is conservative on purpose: `card_data_hosts` makes a card leak to a host
//! no finding, so only the hosts of cross-origin frames that hold the card fields (a payment
//! provider's hosted fields) and hosts those frames sent the card to are written as entries.
//! Any other host the card went to during the trial is written commented out with a warning:
//! on a page that is already skimmed, it is the skimmer's.

use crate::capture::{BrowserSource, CaptureError, Chromium};
use crate::config::{self, Browser, Config, PageConfig};
use crate::inventory::host_of;
use crate::model::Snapshot;
use crate::text::{cut_chars, display_safe, is_invisible_or_bidi};
use std::fmt::Write as _;
use std::path::Path;
use std::time::Duration;

/// Card-field selectors written at most (more are counted as left out).
const MAX_FIELDS: usize = 20;
/// `card_data_hosts` suggestions written at most, entries and commented ones together.
const MAX_HOSTS: usize = 10;
/// Longest selector written, in bytes.
const MAX_SELECTOR_BYTES: usize = 200;
/// Longest host written, in bytes (a DNS name and a port).
const MAX_HOST_BYTES: usize = 260;
/// Longest URL path written into the journey skeleton, in bytes.
const MAX_PATH_BYTES: usize = 500;
/// Longest piece of page text in one comment, in characters.
const COMMENT_CHARS: usize = 160;
/// Longest page name derived from the host.
const MAX_NAME_CHARS: usize = 40;

#[derive(Debug, thiserror::Error)]
pub enum InitError {
    #[error("{0:?} is not an http(s) URL such as https://shop.example/checkout")]
    Url(String),
    #[error("{0:?} is not a valid page name (use only letters, digits, `_` and `-`)")]
    Name(String),
    /// The page could not be loaded (or the browser not started).
    #[error(transparent)]
    Capture(#[from] CaptureError),
    #[error("{url}: the trial load did not finish within {secs} s")]
    HardLimit { url: String, secs: u64 },
    #[error("{0}")]
    Panic(String),
    /// The text written would not read back as this config: a bug, never written to disk.
    #[error("internal error: the generated config does not read back ({0}); nothing was written")]
    ReadBack(String),
}

/// The URL `init` was given, if it is one a page can have.
pub fn parse_url(text: &str) -> Result<url::Url, InitError> {
    match url::Url::parse(text.trim()) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.host_str().is_some_and(|h| !h.is_empty()) => Ok(u),
        _ => Err(InitError::Url(text.to_string())),
    }
}

/// The page name when none is given: the URL's host without `www.`, every character a page
/// name cannot have replaced by `-` (`shop.example` → `shop-example`).
pub fn default_name(url: &url::Url) -> String {
    let host = url.host_str().unwrap_or_default().trim_start_matches("www.");
    let mut name = String::new();
    for c in host.chars() {
        let c = if c.is_ascii_alphanumeric() || c == '_' { c } else { '-' };
        if !(c == '-' && (name.is_empty() || name.ends_with('-'))) {
            name.push(c);
        }
        if name.len() >= MAX_NAME_CHARS {
            break;
        }
    }
    let name = name.trim_end_matches('-');
    if name.is_empty() {
        "checkout".to_string()
    } else {
        name.to_string()
    }
}

/// Loads `url` once as a scan would (fresh browser context, the shopper completing the
/// checkout with the canary card, orders blocked), with `settle` and `[browser]`'s timeout,
/// within the scan's hard limit; nothing is stored. A page that ends on a document without a
/// card field after a redirect (an empty cart, a login) is not an error here: the snapshot
/// then holds only `url` and `final_url`.
pub async fn trial(browser: &Browser, url: &url::Url, settle: Duration) -> Result<Snapshot, InitError> {
    let mut page = PageConfig::new("init", url.as_str());
    page.timeout = browser.timeout;
    page.settle = settle;
    let opts = crate::scan::capture_options(&page);
    let limit = crate::scan::hard_limit(&page);
    let chromium = Chromium::start(&BrowserSource::from_config(browser)?).await?;
    let result = tokio::time::timeout(limit, crate::scan::catch_panic(chromium.capture(url.as_str(), &opts))).await;
    chromium.close().await;
    match result {
        Err(_) => Err(InitError::HardLimit { url: url.to_string(), secs: limit.as_secs() }),
        Ok(Err(panicked)) => Err(InitError::Panic(panicked.to_string())),
        Ok(Ok(Ok(snapshot))) => Ok(snapshot),
        Ok(Ok(Err(CaptureError::NotThePaymentPage { url, final_url, .. }))) => {
            Ok(Snapshot { url, final_url, ..Snapshot::default() })
        }
        Ok(Ok(Err(e))) => Err(e.into()),
    }
}

/// A card field the trial found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FoundField {
    pub selector: String,
    /// `host[:port]` of the frame holding it; `None` for the page's own document.
    pub frame_host: Option<String>,
    /// Why it was recognised (`autocomplete=cc-number`).
    pub reason: String,
}

/// Why a host is suggested for `card_data_hosts`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostReason {
    /// Card fields live in a cross-origin frame of this host (hosted fields).
    CardFieldFrame,
    /// A card-field frame (of `from`) sent the card there.
    SentByCardFieldFrame { from: String },
    /// The page's own server received the card (a direct-post checkout).
    OwnServer,
    /// The card went there from a document of `from` that holds no card field.
    Elsewhere { from: String },
}

/// A host for `card_data_hosts`: written as an entry when `entry`, else commented out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SuggestedHost {
    pub host: String,
    pub reason: HostReason,
    /// Whether card data went there during the trial.
    pub received_card: bool,
    pub entry: bool,
}

/// Where the page sent the visitor instead.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Away {
    /// A cart, or anything that is not a login: the cart must not be empty.
    Cart,
    /// A login page.
    Login,
}

/// The page ended elsewhere than it was asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Redirect {
    /// Where the trial ended (page input: show it with [`display_safe`]).
    pub final_url: String,
    pub away: Away,
}

/// The config `init` writes, and what it is made of (for the command's summary).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Suggestion {
    pub name: String,
    pub url: String,
    /// The card fields written as `payment_fields`.
    pub fields: Vec<FoundField>,
    pub hosts: Vec<SuggestedHost>,
    /// Set when the page redirected to another path or host: the text has a journey skeleton.
    pub redirect: Option<Redirect>,
    /// Selectors or hosts the page showed that were left out (too long, control or bidi
    /// characters, no stable selector, over the caps).
    pub left_out: usize,
    /// Scripts and hosts the trial saw (for the summary).
    pub scripts: usize,
    pub hosts_contacted: usize,
    /// The file's text.
    pub text: String,
}

impl Suggestion {
    /// The hosts written as `card_data_hosts` entries.
    pub fn card_data_hosts(&self) -> Vec<&str> {
        self.hosts.iter().filter(|h| h.entry).map(|h| h.host.as_str()).collect()
    }
}

/// The config text for page `name` (else [`default_name`]) at `url`, from the trial's
/// `snapshot`. Pure; the text is read back with the config reader before it is returned.
pub fn suggest(url: &url::Url, name: Option<&str>, snapshot: &Snapshot) -> Result<Suggestion, InitError> {
    let name = match name {
        Some(n) if config::is_page_name(n) => n.to_string(),
        Some(n) => return Err(InitError::Name(n.to_string())),
        None => default_name(url),
    };
    let page_host = host_of(&snapshot.final_url).or_else(|| host_of(url.as_str()));
    let mut left_out = 0;

    let mut fields: Vec<FoundField> = Vec::new();
    for f in &snapshot.payment_fields {
        // The probe's fallback names no attribute the field has (`input[autocomplete=""]`).
        let stable = !f.selector.ends_with("[autocomplete=\"\"]");
        match fit(&f.selector, MAX_SELECTOR_BYTES) {
            _ if fields.iter().any(|k| k.selector == f.selector) => {}
            Some(sel) if stable && fields.len() < MAX_FIELDS => fields.push(FoundField {
                selector: sel.to_string(),
                frame_host: host_of(&f.frame_url).filter(|h| Some(h) != page_host.as_ref()),
                reason: f.reason.clone(),
            }),
            _ => left_out += 1,
        }
    }

    // Every host of a card-field frame (also those of fields left out above).
    let field_frames: Vec<String> = snapshot
        .payment_fields
        .iter()
        .filter_map(|f| host_of(&f.frame_url))
        .filter(|h| Some(h) != page_host.as_ref())
        .collect();
    let mut hosts: Vec<SuggestedHost> = Vec::new();
    let mut add = |host: &str, reason: HostReason, received_card: bool, entry: bool, left_out: &mut usize| {
        if let Some(known) = hosts.iter_mut().find(|h| h.host == host) {
            known.received_card |= received_card;
            return;
        }
        // What the config reader would refuse as a host is no suggestion either.
        match fit(host, MAX_HOST_BYTES).filter(|h| !h.contains(['/', '@']) && !h.contains(char::is_whitespace)) {
            Some(h) if hosts.len() < MAX_HOSTS => {
                hosts.push(SuggestedHost { host: h.to_string(), reason, received_card, entry })
            }
            _ => *left_out += 1,
        }
    };
    for host in &field_frames {
        add(host, HostReason::CardFieldFrame, false, true, &mut left_out);
    }
    for leak in &snapshot.card_leaks {
        let to = leak.destination.host.as_str();
        let from = host_of(&leak.frame_url).unwrap_or_else(|| leak.frame_url.clone());
        let (reason, entry) = if field_frames.contains(&from) {
            (HostReason::SentByCardFieldFrame { from }, true)
        } else if Some(to) == page_host.as_deref() {
            (HostReason::OwnServer, false)
        } else {
            (HostReason::Elsewhere { from }, false)
        };
        add(to, reason, true, entry, &mut left_out);
    }

    let redirect = redirected_away(url.as_str(), &snapshot.final_url).then(|| Redirect {
        final_url: snapshot.final_url.clone(),
        away: if looks_like_login(&snapshot.final_url) { Away::Login } else { Away::Cart },
    });
    let mut s = Suggestion {
        name,
        url: url.to_string(),
        fields,
        hosts,
        redirect,
        left_out,
        scripts: snapshot.scripts.len(),
        hosts_contacted: snapshot.hosts.len(),
        text: String::new(),
    };
    s.text = render(&s, url);
    read_back(&s)?;
    Ok(s)
}

/// `s` when it may be written as a value: not empty, at most `max` bytes, and without the
/// characters that would break a line or hide text.
fn fit(s: &str, max: usize) -> Option<&str> {
    let clean = !s.trim().is_empty()
        && s.trim() == s
        && s.len() <= max
        && !s.chars().any(|c| c.is_control() || is_invisible_or_bidi(c) || matches!(c, '\u{2028}' | '\u{2029}'));
    clean.then_some(s)
}

/// A TOML string value, serialised by the `toml` crate (quotes and escapes are its business).
fn value(s: &str) -> String {
    toml::Value::String(s.to_string()).to_string()
}

/// Page text for a comment: one line (control characters escaped, so the comment cannot end
/// and a key begin), bidi and invisible characters shown as escapes, at most a bound.
fn comment(s: &str) -> String {
    cut_chars(&display_safe(s), COMMENT_CHARS)
}

/// Whether the trial ended on another host (`www.` aside) or another path (a trailing `/`
/// aside) than it was asked for.
fn redirected_away(asked: &str, ended: &str) -> bool {
    let key = |u: &str| {
        url::Url::parse(u).ok().map(|u| {
            let host = u.host_str().unwrap_or_default().to_ascii_lowercase();
            let path = u.path().trim_end_matches('/').to_ascii_lowercase();
            (host.trim_start_matches("www.").to_string(), path)
        })
    };
    match (key(asked), key(ended)) {
        (Some(a), Some(e)) => a != e,
        _ => false,
    }
}

fn looks_like_login(u: &str) -> bool {
    let path = url::Url::parse(u).map(|u| u.path().to_ascii_lowercase()).unwrap_or_default();
    ["login", "signin", "sign-in", "logon", "/account", "/auth"].iter().any(|w| path.contains(w))
}

/// The journey skeleton's steps, uncommented (the file has them commented out): `back` is the
/// path (and query) of the URL asked for, where the last step goes once the way is clear.
pub fn journey_skeleton(away: Away, back: &str) -> Vec<String> {
    let back = value(fit(back, MAX_PATH_BYTES).unwrap_or("/checkout"));
    let mut lines = match away {
        Away::Cart => vec![
            "[[page.step]]                          # 1. a product page (any product in stock)".to_string(),
            "goto = \"/products/any-product\"".to_string(),
            String::new(),
            "[[page.step]]                          # 2. put it in the cart".to_string(),
            "click = \"button[type=submit]\"".to_string(),
            "wait_for_idle = true".to_string(),
        ],
        Away::Login => vec![
            "[[page.step]]                          # 1. log in (secrets only from the environment)".to_string(),
            "fill = { \"input[type=email]\" = \"{env.SHOP_USER}\", \"input[type=password]\" = \"{env.SHOP_PASSWORD}\" }"
                .to_string(),
            String::new(),
            "[[page.step]]".to_string(),
            "click = \"button[type=submit]\"".to_string(),
            "wait_for_idle = true".to_string(),
        ],
    };
    lines.extend([
        String::new(),
        "[[page.step]]                          # then the payment page, now that the way is clear".to_string(),
        format!("goto = {back}"),
        "wait_for = \"input[autocomplete^=cc-], iframe\"".to_string(),
    ]);
    lines
}

/// `[alerts]` as the file shows it, uncommented (the file has it commented out).
pub const ALERTS_EXAMPLE: &str = r#"[alerts]
renotify = "24h"                       # mail a finding still unapproved again after this long

[alerts.email]
smtp = "smtp://mail.example:587"       # STARTTLS; smtps://host for TLS from the start
from = "skimwatch <skimwatch@shop.example>"
to = ["secops@shop.example"]
username = "skimwatch"
password_env = "SKIMWATCH_SMTP_PASSWORD"   # the NAME of the variable holding the password
min_severity = "medium"

[[alerts.webhook]]                     # and/or Slack, Teams, signed JSON (docs/webhooks.md)
url_env = "SKIMWATCH_SLACK_URL"        # the NAME of the variable holding the webhook URL
kind = "slack"                         # "json" | "slack" | "teams"
min_severity = "high""#;

/// `lines` commented out, each behind `# ` (an empty line behind `#`).
fn commented<'a>(out: &mut String, lines: impl IntoIterator<Item = &'a str>) {
    for line in lines {
        if line.is_empty() {
            out.push_str("#\n");
        } else {
            let _ = writeln!(out, "# {line}");
        }
    }
}

fn render(s: &Suggestion, url: &url::Url) -> String {
    let mut t = String::new();
    let w = &mut t;
    let _ = writeln!(w, "# skimwatch.toml, written by `skimwatch init` from one load of");
    let _ = writeln!(w, "#   {}", comment(&s.url));
    let _ = writeln!(w, "# with the shopper (every field filled, the canary card typed, the pay button pressed; no");
    let _ = writeln!(w, "# order placed). A first draft: review every line, then commit it with baselines/.");
    let _ = writeln!(w, "# Every key is described in docs/configuration.md.");
    let _ = writeln!(w, "#");
    let _ = writeln!(w, "# Scans go to skimwatch.db and approved baselines to baselines/, beside this file:");
    commented(w, ["[storage]", "database = \"skimwatch.db\"", "baselines = \"baselines\""]);
    let _ = writeln!(w);
    let _ = writeln!(w, "[[page]]");
    let _ = writeln!(w, "name = {}", value(&s.name));
    let _ = writeln!(w, "url = {}", value(&s.url));
    let _ = writeln!(w, "# interval = \"15m\"                    # how often `skimwatch watch` scans it");
    let _ = writeln!(w, "# interact = \"complete\"               # the default: fill, type the canary card, press pay");

    let _ = writeln!(w);
    if s.fields.is_empty() {
        let _ = writeln!(w, "# No card field was found on the trial. If this is the payment page, list the card");
        let _ = writeln!(w, "# fields' CSS selectors; if the form is behind a cart or a login, give the steps below.");
        let _ = writeln!(w, "# payment_fields = [\"#card-number\", \"input[name=cvc]\"]");
    } else {
        let _ = writeln!(w, "# The card fields the trial found (the shopper typed into them). A selector that stops");
        let _ =
            writeln!(w, "# matching is a payment_field_missing finding, so a redesign cannot switch the check off;");
        let _ = writeln!(w, "# drop a selector whose id changes on every load.");
        let _ = writeln!(w, "payment_fields = [");
        for f in &s.fields {
            let place = match &f.frame_host {
                Some(h) => format!("in the frame of {h}"),
                None => "in the page".to_string(),
            };
            let _ = writeln!(w, "    {},  # {}, {}", value(&f.selector), comment(&place), comment(&f.reason));
        }
        let _ = writeln!(w, "]");
    }

    let _ = writeln!(w);
    let _ = writeln!(w, "# Hosts that may receive card data: your payment provider, and nothing else. A card sent");
    let _ = writeln!(w, "# anywhere else is a card_exfiltration finding, which cannot be approved. Check that each");
    let _ = writeln!(w, "# host is your provider's: on a page that is already skimmed, a host could be the skimmer's.");
    if s.hosts.is_empty() {
        let _ = writeln!(w, "# The trial saw no card field in a provider's frame and no card data leave the page.");
        let _ = writeln!(w, "card_data_hosts = []");
    } else {
        let _ = writeln!(w, "card_data_hosts = [");
    }
    for h in &s.hosts {
        let went = if h.received_card { "; card data went there during the trial" } else { "" };
        let why = match &h.reason {
            HostReason::CardFieldFrame => format!("the card fields live in its frame (hosted fields){went}"),
            HostReason::SentByCardFieldFrame { from } => format!("the card-field frame of {from} sent card data there"),
            HostReason::OwnServer => "the shop's own server received card data; list it here or approve that \
                                      destination after the first scan"
                .to_string(),
            HostReason::Elsewhere { from } => format!(
                "card data went there from {from}, which holds no card field: uncomment only if it is your provider"
            ),
        };
        let why = comment(&why);
        if h.entry {
            let _ = writeln!(w, "    {},  # {why}", value(&h.host));
        } else {
            let _ = writeln!(w, "    # {},  # {why}", value(&h.host));
        }
    }
    if !s.hosts.is_empty() {
        let _ = writeln!(w, "]");
    }

    if s.redirect.is_some() || s.fields.is_empty() {
        let _ = writeln!(w);
        match &s.redirect {
            Some(r) => {
                let _ = writeln!(w, "# The page sent the trial elsewhere: it ended on");
                let _ = writeln!(w, "#   {}", comment(&r.final_url));
                let _ = writeln!(w, "# The payment form is not one URL away (an empty cart or a login sends visitors");
                let _ = writeln!(w, "# away), so a scan of this page fails until steps lead to it.");
            }
            None => {
                let _ =
                    writeln!(w, "# If the card fields appear only after a step (a cart, a login, a shipping step),");
                let _ = writeln!(w, "# steps lead there.");
            }
        }
        let _ =
            writeln!(w, "# Fill in this skeleton (docs/journeys.md), then try it: `skimwatch try --page {}`.", s.name);
        let _ = writeln!(w, "#");
        let away = s.redirect.as_ref().map_or(Away::Cart, |r| r.away);
        let back = match url.query() {
            Some(q) => format!("{}?{q}", url.path()),
            None => url.path().to_string(),
        };
        let skeleton = journey_skeleton(away, &back);
        commented(w, skeleton.iter().map(String::as_str));
    }

    let _ = writeln!(w);
    let _ = writeln!(
        w,
        "# Alerts: `skimwatch watch` only logs findings until [alerts.email] or [[alerts.webhook]] is set (docs/watch.md)."
    );
    commented(w, ALERTS_EXAMPLE.lines());
    t
}

/// Reads the text back with the config reader: it must be one page with exactly the name,
/// URL, selectors and hosts intended.
fn read_back(s: &Suggestion) -> Result<(), InitError> {
    let c = Config::parse(&s.text, Path::new(config::DEFAULT_FILE)).map_err(|e| InitError::ReadBack(e.to_string()))?;
    let selectors: Vec<&str> = s.fields.iter().map(|f| f.selector.as_str()).collect();
    let ok = c.pages.len() == 1
        && c.pages[0].name == s.name
        && c.pages[0].url == s.url
        && c.pages[0].payment_fields == selectors
        && c.pages[0].card_data_hosts == s.card_data_hosts()
        && c.pages[0].steps.is_empty()
        && c.alerts == config::Alerts::default();
    if ok {
        Ok(())
    } else {
        Err(InitError::ReadBack("it reads as another config than the one intended".into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{CardLeak, Destination, PaymentField};

    const PROVIDER: &str = "127.0.0.2:4242";

    fn field(frame_url: &str, selector: &str) -> PaymentField {
        PaymentField { frame_url: frame_url.into(), selector: selector.into(), reason: "autocomplete=cc-number".into() }
    }

    fn leak(frame_url: &str, to: &str) -> CardLeak {
        CardLeak {
            destination: Destination {
                url: format!("http://{to}/v1/tokens"),
                host: to.into(),
                ..Destination::default()
            },
            frame_url: frame_url.into(),
            ..CardLeak::default()
        }
    }

    fn checkout() -> Snapshot {
        let frame = format!("http://{PROVIDER}/hosted-fields?parent=x");
        Snapshot {
            url: "http://127.0.0.1:4000/checkout".into(),
            final_url: "http://127.0.0.1:4000/checkout".into(),
            payment_fields: vec![
                field("http://127.0.0.1:4000/checkout", "#cardholder"),
                field(&frame, "#tp-number"),
                field(&frame, "#tp-cvc"),
            ],
            card_leaks: vec![leak(&frame, PROVIDER)],
            ..Snapshot::default()
        }
    }

    fn url(s: &str) -> url::Url {
        parse_url(s).unwrap()
    }

    #[test]
    fn names_the_card_fields_and_the_provider() {
        let s = suggest(&url("http://127.0.0.1:4000/checkout"), None, &checkout()).unwrap();
        assert_eq!(s.name, "127-0-0-1");
        let c = Config::parse(&s.text, Path::new("skimwatch.toml")).unwrap();
        let p = &c.pages[0];
        assert_eq!(p.url, "http://127.0.0.1:4000/checkout");
        assert_eq!(p.payment_fields, ["#cardholder", "#tp-number", "#tp-cvc"]);
        assert_eq!(p.card_data_hosts, [PROVIDER]);
        assert!(s.redirect.is_none() && !s.text.contains("[[page.step]]"), "{}", s.text);
        assert!(s.text.contains("# [alerts]\n") && s.text.contains("# [alerts.email]\n"), "{}", s.text);
        assert!(s.hosts[0].received_card, "{:?}", s.hosts);
    }

    #[test]
    fn a_host_the_card_went_to_from_elsewhere_is_only_a_comment() {
        let mut snap = checkout();
        snap.card_leaks.push(leak("http://127.0.0.1:4000/checkout", "evil.example"));
        snap.card_leaks.push(leak("http://127.0.0.1:4000/checkout", "127.0.0.1:4000"));
        // Stripe-style: the field frame tokenises with another host of the provider.
        snap.card_leaks.push(leak(&format!("http://{PROVIDER}/hosted-fields"), "api.pay.example"));
        let s = suggest(&url("http://127.0.0.1:4000/checkout"), Some("checkout"), &snap).unwrap();
        assert_eq!(s.card_data_hosts(), [PROVIDER, "api.pay.example"]);
        assert!(s.text.contains("    # \"evil.example\",  # card data went there from 127.0.0.1:4000"), "{}", s.text);
        assert!(s.text.contains("    # \"127.0.0.1:4000\",  # the shop's own server"), "{}", s.text);
        let c = Config::parse(&s.text, Path::new("skimwatch.toml")).unwrap();
        assert_eq!(c.pages[0].card_data_hosts, [PROVIDER, "api.pay.example"]);
    }

    #[test]
    fn hostile_selectors_and_hosts_cannot_break_out() {
        let page = "http://127.0.0.1:4000/checkout";
        let mut snap = checkout();
        snap.payment_fields = vec![
            // Quotes and backslashes: written, escaped by toml.
            field(page, r#"input[name="card\"num']"]"#),
            // A line break would end the string or the comment: left out.
            field(page, "#x\"]\n[storage]\ndatabase = \"/etc/passwd\"\n#"),
            field(page, "#a\u{202e}b"),
            field(page, &"#long".repeat(100)),
            field(page, "input[autocomplete=\"\"]"),
            // A frame URL with a line break in a comment.
            field("http://127.0.0.9:1/x\n[alerts]\nrenotify = \"1s\"", "#ok"),
        ];
        snap.card_leaks = vec![leak(page, "a.example\n[watch]\nlisten = 1")];
        snap.final_url = format!("{page}/../cart\r\n[browser]\nexecutable = \"/bin/sh\"");
        let s = suggest(&url(page), None, &snap).unwrap();
        let c = Config::parse(&s.text, Path::new("skimwatch.toml")).unwrap();
        assert_eq!(c.pages[0].payment_fields, [r#"input[name="card\"num']"]"#, "#ok"]);
        assert_eq!(s.left_out, 5, "{}", s.text);
        assert_eq!(c.storage, config::Storage::beside(Path::new("")));
        assert_eq!(c.browser, config::Browser::default());
        assert_eq!((c.alerts, c.watch), (config::Alerts::default(), config::Watch::default()));
        // No key but the ones written: the page text stayed inside strings and comments.
        let doc: toml::Table = s.text.parse().unwrap();
        assert_eq!(doc.keys().collect::<Vec<_>>(), ["page"]);
        let page = doc["page"].as_array().unwrap()[0].as_table().unwrap();
        let mut keys: Vec<_> = page.keys().collect();
        keys.sort();
        assert_eq!(keys, ["card_data_hosts", "name", "payment_fields", "url"]);
        assert!(s.text.contains("\\n[browser]"), "the final URL is in a comment, escaped: {}", s.text);
    }

    #[test]
    fn a_redirect_to_a_cart_or_a_login_gets_a_journey_skeleton() {
        let asked = url("https://www.shop.example/checkout/?step=pay");
        let snap = Snapshot {
            url: asked.to_string(),
            final_url: "https://www.shop.example/checkout/cart/".into(),
            ..Snapshot::default()
        };
        let s = suggest(&asked, None, &snap).unwrap();
        assert_eq!(s.name, "shop-example");
        assert_eq!(s.redirect.as_ref().map(|r| r.away), Some(Away::Cart));
        assert!(
            s.text.contains("# [[page.step]]") && s.text.contains("# goto = \"/checkout/?step=pay\""),
            "{}",
            s.text
        );
        let login = Snapshot { final_url: "https://shop.example/customer/account/login/".into(), ..snap.clone() };
        let s = suggest(&asked, None, &login).unwrap();
        assert_eq!(s.redirect.as_ref().map(|r| r.away), Some(Away::Login));
        assert!(s.text.contains("{env.SHOP_PASSWORD}"), "{}", s.text);
        // The skeletons read as steps once uncommented (with an empty selector list: no field).
        for away in [Away::Cart, Away::Login] {
            let text = format!(
                "[[page]]\nname = \"a\"\nurl = \"https://shop.example/\"\n{}\n",
                journey_skeleton(away, "/checkout").join("\n")
            );
            assert_eq!(Config::parse(&text, Path::new("skimwatch.toml")).unwrap().pages[0].steps.len(), 3);
        }
        // Only the scheme, `www.` or a trailing slash changed: not away.
        let same = Snapshot { final_url: "https://shop.example/checkout?x=1".into(), ..snap };
        assert!(suggest(&asked, None, &same).unwrap().redirect.is_none());
    }

    #[test]
    fn the_alerts_example_reads_as_alerts_once_uncommented() {
        let text = format!("[[page]]\nname = \"a\"\nurl = \"https://shop.example/\"\n\n{ALERTS_EXAMPLE}\n");
        let c = Config::parse(&text, Path::new("skimwatch.toml")).unwrap();
        assert_eq!(c.alerts.email.unwrap().password_env.as_deref(), Some("SKIMWATCH_SMTP_PASSWORD"));
        assert_eq!(c.alerts.webhooks[0].url_env(), Some("SKIMWATCH_SLACK_URL"));
    }

    #[test]
    fn names_and_urls() {
        assert_eq!(default_name(&url("https://www.Shop.Example:8443/x")), "shop-example");
        assert_eq!(default_name(&url("http://[::1]:8080/")), "1");
        assert_eq!(default_name(&url(&format!("https://{}.example/", "a".repeat(80)))).len(), MAX_NAME_CHARS);
        assert!(matches!(parse_url("ftp://x.example/"), Err(InitError::Url(_))));
        assert!(matches!(parse_url("shop.example/checkout"), Err(InitError::Url(_))));
        assert!(matches!(
            suggest(&url("https://x.example/"), Some("a b"), &Snapshot::default()),
            Err(InitError::Name(_))
        ));
        // No card field and no redirect: still a config, with the hint and the skeleton.
        let s = suggest(&url("https://x.example/"), Some("x"), &Snapshot::default()).unwrap();
        assert!(s.text.contains("No card field was found") && s.text.contains("# [[page.step]]"), "{}", s.text);
        assert!(Config::parse(&s.text, Path::new("skimwatch.toml")).unwrap().pages[0].payment_fields.is_empty());
    }
}
