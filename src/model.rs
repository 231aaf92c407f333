//! Plain data passed between the pipeline stages: capture → inventory → compare → report.
//!
//! Nothing here touches the browser, the database or the filesystem, so every stage can be
//! printed, serialised and unit-tested on its own. The JSON report (`ScanReport`) is a public
//! contract used by release pipelines: field names and shapes only ever grow.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;

/// How a script came to run. Serialised in lower case; part of the JSON contract.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ScriptKind {
    /// `<script src=…>` in the HTML or inserted later by another script.
    #[default]
    External,
    /// An inline `<script>` block (or one written with `document.write`).
    Inline,
    /// An inline event-handler attribute such as `onload=` or `onerror=`.
    Handler,
    /// Code compiled by `eval`, `new Function` or a string timer.
    Eval,
    /// A `data:` or `blob:` URL script.
    Data,
    /// An ES module (`type="module"`), external or inline.
    Module,
    /// A dedicated, shared or service worker script.
    Worker,
}

impl ScriptKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ScriptKind::External => "external",
            ScriptKind::Inline => "inline",
            ScriptKind::Handler => "handler",
            ScriptKind::Eval => "eval",
            ScriptKind::Data => "data",
            ScriptKind::Module => "module",
            ScriptKind::Worker => "worker",
        }
    }
}

impl fmt::Display for ScriptKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Severity of a finding, ordered from least to most severe.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    #[default]
    Info,
    Low,
    Medium,
    High,
    Critical,
}

impl Severity {
    pub const ALL: [Severity; 5] =
        [Severity::Info, Severity::Low, Severity::Medium, Severity::High, Severity::Critical];

    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Severity {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Severity::ALL
            .into_iter()
            .find(|v| v.as_str().eq_ignore_ascii_case(s))
            .ok_or_else(|| format!("unknown severity `{s}` (expected info, low, medium, high or critical)"))
    }
}

impl Severity {
    /// The severity named exactly `s` (as stored and serialised), without case folding.
    pub fn parse(s: &str) -> Option<Severity> {
        Severity::ALL.into_iter().find(|v| v.as_str() == s)
    }
}

/// A point in time as skimwatch stores, serialises and prints it: RFC 3339 in UTC with whole
/// seconds, e.g. `2025-03-01T12:00:00Z`. Every stored time is written in this one form, which
/// is why stored times compare correctly as text (SQL `<=`, sorting). Times from files people
/// edit (baseline approvals and audit entries) and the report's `first_seen`/`last_seen` stay
/// `String`s, so that they keep reading exactly what they read before.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(time::OffsetDateTime);

impl Timestamp {
    pub const UNIX_EPOCH: Timestamp = Timestamp(time::OffsetDateTime::UNIX_EPOCH);

    pub fn now() -> Timestamp {
        Timestamp::from(time::OffsetDateTime::now_utc())
    }

    /// Parses any RFC 3339 time (any offset, fractions of a second) into UTC whole seconds.
    pub fn parse(s: &str) -> Option<Timestamp> {
        time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).ok().map(Timestamp::from)
    }

    pub fn datetime(self) -> time::OffsetDateTime {
        self.0
    }
}

impl Default for Timestamp {
    fn default() -> Self {
        Timestamp::UNIX_EPOCH
    }
}

/// In UTC, with the fraction of a second dropped (as the store has always written times).
impl From<time::OffsetDateTime> for Timestamp {
    fn from(t: time::OffsetDateTime) -> Self {
        let t = t.to_offset(time::UtcOffset::UTC);
        Timestamp(t.replace_nanosecond(0).unwrap_or(t))
    }
}

impl From<Timestamp> for time::OffsetDateTime {
    fn from(t: Timestamp) -> Self {
        t.0
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0.format(&time::format_description::well_known::Rfc3339) {
            Ok(s) => f.pad(&s),
            // RFC 3339 has no years outside 0..=9999; no parsed time or clock reading is there.
            Err(_) => write!(f, "{}", self.0),
        }
    }
}

impl std::ops::Add<time::Duration> for Timestamp {
    type Output = Timestamp;
    fn add(self, d: time::Duration) -> Timestamp {
        Timestamp::from(self.0 + d)
    }
}

impl std::ops::Sub for Timestamp {
    type Output = time::Duration;
    fn sub(self, other: Timestamp) -> time::Duration {
        self.0 - other.0
    }
}

impl Serialize for Timestamp {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = String::deserialize(deserializer)?;
        Timestamp::parse(&s).ok_or_else(|| {
            serde::de::Error::custom(format!("`{s}` is not an RFC 3339 time such as 2025-03-01T12:00:00Z"))
        })
    }
}

// ---------------------------------------------------------------------------------------------
// config → capture
// ---------------------------------------------------------------------------------------------

/// What the scan does on the page after load (`interact = …` per page). Serialised as in the
/// config file (`none`, `type`, `type-and-submit`, `complete`); part of the JSON contract
/// (`interaction`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum InteractMode {
    /// Only load and watch.
    None,
    /// Fill the form, card fields with the canary; never submit.
    Type,
    /// Fill the form and click the pay button, with order-placing requests blocked.
    TypeAndSubmit,
    /// Complete the checkout: fill every field (selects, payment method, terms too), press
    /// each step's button and the pay button, pass after pass, with order-placing requests
    /// blocked. The default: skimmers wait for exactly that.
    #[default]
    Complete,
}

impl InteractMode {
    pub const ALL: [InteractMode; 4] =
        [InteractMode::None, InteractMode::Type, InteractMode::TypeAndSubmit, InteractMode::Complete];
    pub const NAMES: &'static str = "\"none\", \"type\", \"type-and-submit\" or \"complete\"";

    pub fn as_str(self) -> &'static str {
        match self {
            InteractMode::None => "none",
            InteractMode::Type => "type",
            InteractMode::TypeAndSubmit => "type-and-submit",
            InteractMode::Complete => "complete",
        }
    }

    pub fn parse(s: &str) -> Option<InteractMode> {
        InteractMode::ALL.into_iter().find(|m| m.as_str() == s)
    }
}

impl fmt::Display for InteractMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One step of a page's journey (`[[page.step]]`): what brings the browser from the page's
/// `url` to its payment form. An action (or none, for a step that only waits), then an
/// optional condition to wait for, both within `timeout`. Produced by `config`, run by
/// `capture::journey`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JourneyStep {
    pub action: StepAction,
    pub wait: Option<StepWait>,
    pub timeout: std::time::Duration,
}

/// What a journey step does. Elements are CSS selectors in the top document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StepAction {
    /// Only wait (`wait_for…` without an action).
    Wait,
    /// Navigate to a URL, absolute or relative to the current document.
    Goto(String),
    /// A real mouse click on the element.
    Click(String),
    /// Type each value into its field, key by key (selector → value, in file order).
    Fill(Vec<(String, StepValue)>),
    /// Choose an option of a `select` by its value or its visible text.
    Select(Vec<(String, StepValue)>),
    /// Check a checkbox or radio button (a click on it or its label).
    Check(String),
    /// Press a key on the focused element (`Enter`, `Tab`, `Escape`, `Space`, arrows).
    Press(String),
}

/// A value a step types: literal text, a field of the scan's shopper identity
/// (`{shopper.email}`), or an environment variable read at scan time (`{env.NAME}`: secrets,
/// which are masked wherever the scan's results could show them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StepValue {
    Text(String),
    Shopper(ShopperField),
    Env(String),
}

impl fmt::Display for StepValue {
    /// As written in the config: never the value of a variable.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StepValue::Text(t) => write!(f, "{t:?}"),
            StepValue::Shopper(s) => write!(f, "{{shopper.{}}}", s.as_str()),
            StepValue::Env(name) => write!(f, "{{env.{name}}}"),
        }
    }
}

/// A field of the per-scan shopper identity a step can type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShopperField {
    Email,
    GivenName,
    FamilyName,
    Name,
    Street,
    City,
    Postcode,
    Phone,
    Country,
}

impl ShopperField {
    pub const ALL: [ShopperField; 9] = [
        ShopperField::Email,
        ShopperField::GivenName,
        ShopperField::FamilyName,
        ShopperField::Name,
        ShopperField::Street,
        ShopperField::City,
        ShopperField::Postcode,
        ShopperField::Phone,
        ShopperField::Country,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ShopperField::Email => "email",
            ShopperField::GivenName => "given_name",
            ShopperField::FamilyName => "family_name",
            ShopperField::Name => "name",
            ShopperField::Street => "street",
            ShopperField::City => "city",
            ShopperField::Postcode => "postcode",
            ShopperField::Phone => "phone",
            ShopperField::Country => "country",
        }
    }

    pub fn parse(s: &str) -> Option<ShopperField> {
        ShopperField::ALL.into_iter().find(|f| f.as_str() == s)
    }
}

/// What a journey step waits for after its action.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StepWait {
    /// An element matching the CSS selector is in the top document and visible.
    Selector(String),
    /// The top document's URL matches the pattern (`*` matches any run of characters; a
    /// pattern starting with `/` is matched against path and query only).
    Url(String),
    /// No request in flight for half a second.
    NetworkIdle,
}

impl fmt::Display for StepAction {
    /// The action as the config writes it, for messages (`click "button.continue"`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let pairs = |f: &mut fmt::Formatter<'_>, verb: &str, pairs: &[(String, StepValue)]| {
            let list: Vec<String> = pairs.iter().map(|(sel, v)| format!("{sel:?} = {v}")).collect();
            write!(f, "{verb} {{ {} }}", list.join(", "))
        };
        match self {
            StepAction::Wait => f.write_str("wait"),
            StepAction::Goto(u) => write!(f, "goto {u:?}"),
            StepAction::Click(s) => write!(f, "click {s:?}"),
            StepAction::Fill(p) => pairs(f, "fill", p),
            StepAction::Select(p) => pairs(f, "select", p),
            StepAction::Check(s) => write!(f, "check {s:?}"),
            StepAction::Press(k) => write!(f, "press {k:?}"),
        }
    }
}

impl fmt::Display for StepWait {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StepWait::Selector(s) => write!(f, "wait_for {s:?}"),
            StepWait::Url(u) => write!(f, "wait_for_url {u:?}"),
            StepWait::NetworkIdle => f.write_str("wait_for_idle"),
        }
    }
}

/// How the scan presents itself to the shop, per page: extra request headers, cookies, a
/// proxy, a locale and a timezone (a shop may serve its skimmer only to some regions, or sit
/// behind a session). Values may come from the environment (`{env.NAME}`), read at scan time
/// and masked like a journey's secrets.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Session {
    /// Sent with every request of the page's tab (also to third parties).
    pub headers: Vec<(String, StepValue)>,
    /// Set for the page's URL before it loads.
    pub cookies: Vec<(String, StepValue)>,
    /// `http://host:port` or `socks5://host:port`: every request of the page goes through it.
    pub proxy: Option<String>,
    /// BCP 47 locale (`de-DE`): `Accept-Language`, `navigator.language`, `Intl`.
    pub locale: Option<String>,
    /// IANA timezone (`Europe/Berlin`).
    pub timezone: Option<String>,
    /// Where `navigator.geolocation` says the shopper is (permission granted).
    pub geolocation: Option<Geolocation>,
    /// HTTP basic auth for the page's own origin: user, and the password (from the
    /// environment: always [`StepValue::Env`]).
    pub basic_auth: Option<(String, StepValue)>,
}

/// A position for `navigator.geolocation`, in millionths of a degree (so a session stays
/// comparable and hashable; a millionth of a degree is about 11 cm).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Geolocation {
    pub latitude_e6: i32,
    pub longitude_e6: i32,
    /// Accuracy in metres.
    pub accuracy_m: u32,
}

impl Geolocation {
    pub fn latitude(&self) -> f64 {
        f64::from(self.latitude_e6) / 1e6
    }
    pub fn longitude(&self) -> f64 {
        f64::from(self.longitude_e6) / 1e6
    }
}

/// How one journey step went (JSON: `journey` of a page).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StepRecord {
    /// 1-based, as in messages ("step 2").
    pub step: usize,
    /// The step as configured (`click "button.continue"; wait_for "#payment"`), values of
    /// environment variables never shown.
    pub action: String,
    /// The top document's URL once the step was done (secrets masked).
    pub url: String,
    /// Milliseconds the step took.
    pub ms: u64,
    /// `ok`, or what went wrong (the scan is then an error naming this step).
    pub outcome: String,
}

/// The device the scan pretends to be (`profile = …` per page). Serialised in lower case.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Profile {
    /// Chrome on a Windows laptop, 1366×768.
    #[default]
    Desktop,
    /// Chrome on an Android phone, 412×915, touch.
    Mobile,
}

impl Profile {
    pub const ALL: [Profile; 2] = [Profile::Desktop, Profile::Mobile];
    pub const NAMES: &'static str = "\"desktop\" or \"mobile\"";

    pub fn as_str(self) -> &'static str {
        match self {
            Profile::Desktop => "desktop",
            Profile::Mobile => "mobile",
        }
    }

    pub fn parse(s: &str) -> Option<Profile> {
        Profile::ALL.into_iter().find(|p| p.as_str() == s)
    }
}

impl fmt::Display for Profile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

// ---------------------------------------------------------------------------------------------
// capture → inventory
// ---------------------------------------------------------------------------------------------

/// One script as the browser compiled it, before identity and hashing. Produced by `capture`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RawScript {
    pub kind: ScriptKind,
    /// Script URL for external/module/data/worker scripts; `None` for inline, handler and eval code.
    pub url: Option<String>,
    /// URL of the document (frame) the script ran in.
    pub frame_url: String,
    /// True when the frame is the top-level document.
    pub main_frame: bool,
    /// Full source text as V8 compiled it.
    pub source: String,
    /// Where known, the URL (or pseudo-URL such as `inline:<frame>`) of the script that inserted
    /// or evaluated this one.
    pub initiator: Option<String>,
    /// Context that helps identify inline code across edits elsewhere: for an event handler the
    /// element and attribute (`img#logo@onerror`), for an inline script its `id` attribute if any.
    pub context: Option<String>,
    /// Position of inline code in its document (0-based line, column), for display only:
    /// positions move with unrelated edits, so they are never part of the identity.
    pub position: Option<(u32, u32)>,
}

/// A form field that looks like it takes card data.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaymentField {
    pub frame_url: String,
    /// A CSS selector naming the field (`#cc-number`, `input[name="cardnumber"]`).
    pub selector: String,
    /// Why it was recognised: `autocomplete=cc-number`, `name~card`, …
    pub reason: String,
}

/// Everything one page load showed. Produced by `capture`, consumed by `inventory`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Snapshot {
    /// URL that was requested.
    pub url: String,
    /// URL of the main document after redirects.
    pub final_url: String,
    /// HTTP status of the main document.
    pub status: u16,
    /// Security-impacting response headers of the main document, names in lower case.
    pub headers: BTreeMap<String, String>,
    pub scripts: Vec<RawScript>,
    /// URLs of the frames (main frame first).
    pub frames: Vec<String>,
    /// Every host (`host` or `host:port`) the page sent a request to, sorted and unique.
    pub hosts: Vec<String>,
    pub payment_fields: Vec<PaymentField>,
    /// Wall-clock milliseconds the capture took.
    pub elapsed_ms: u64,
    /// Configured `payment_fields` selectors that matched nothing in any frame.
    #[serde(default)]
    pub unmatched_payment_fields: Vec<String>,
    /// Every sighting of the canary card number in outgoing traffic.
    #[serde(default)]
    pub card_leaks: Vec<CardLeak>,
    /// Which scripts listened to or read payment fields.
    #[serde(default)]
    pub field_access: Vec<FieldAccess>,
    #[serde(default)]
    pub interaction: Option<Interaction>,
    /// Requests the monitor refused: to link-local and cloud-metadata addresses (see
    /// `capture::contain`), URLs cut to 300 characters, at most 100.
    #[serde(default)]
    pub refused_requests: Vec<String>,
    /// Dialogs dismissed, downloads denied, non-web navigations refused.
    #[serde(default)]
    pub guard: Guarded,
    /// Every capture limit that dropped data during this capture (one entry per limit hit).
    #[serde(default)]
    pub truncations: Vec<Truncation>,
    /// The journey's steps, in order, as they went (empty for a page without steps).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub journey: Vec<StepRecord>,
    /// Every cookie of the scan's browser context at the end (values never kept).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cookies: Vec<Cookie>,
    /// Every request that carried the shopper's identity, per destination host.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub personal_data: Vec<PersonalDataFlow>,
    /// Scripts that ran on documents the journey left (the product page, the cart, the
    /// login): counted, not inventoried (see docs/journeys.md).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub journey_scripts_left: u64,
    /// The payment page as the shopper saw it before typing (PNG of the viewport), for the
    /// store and high-severity alerts (capture → store only).
    #[serde(skip)]
    pub screenshot: Option<Vec<u8>>,
}

/// A capture limit that dropped data (JSON contract: `truncation` of a `capture_truncated`
/// finding). Produced by `capture`, turned into a finding by `compare::behaviour`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Truncation {
    /// The limit's name, e.g. `max_requests`, `max_script_bytes` (stable: part of the finding id).
    pub limit: String,
    /// What the limit counts, plural: `requests`, `scripts`, `bytes of script source` …
    pub what: String,
    /// The limit's value.
    pub max: u64,
    /// How many were kept (or searched, or fetched).
    pub kept: u64,
    /// How many the page produced.
    pub seen: u64,
    /// What was done instead (`head and tail searched, middle not`), and the first affected URLs.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub note: Option<String>,
}

/// The security-impacting response headers recorded and compared (PCI DSS 11.6.1).
pub const SECURITY_HEADERS: [&str; 7] = [
    "content-security-policy",
    "content-security-policy-report-only",
    "strict-transport-security",
    "x-frame-options",
    "x-content-type-options",
    "referrer-policy",
    "permissions-policy",
];

// ---------------------------------------------------------------------------------------------
// inventory → compare
// ---------------------------------------------------------------------------------------------

/// A script with its stable identity and hashes. Produced by `inventory`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Script {
    /// Stable identity (see `inventory::identity` and docs/detection.md), e.g. `self:/static/app.js`,
    /// `https://cdn.example/lib.js`, `main|inline|a1b2c3d4e5`.
    pub id: String,
    pub kind: ScriptKind,
    pub url: Option<String>,
    pub frame_url: String,
    /// Lower-case hex SHA-256 of the UTF-8 source.
    pub sha256: String,
    /// Subresource-integrity form, `sha384-<base64>`.
    pub sri: String,
    pub bytes: u64,
    pub initiator: Option<String>,
    pub source: String,
}

/// The inventoried page: what compare needs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Inventory {
    pub url: String,
    pub final_url: String,
    pub status: u16,
    pub headers: BTreeMap<String, String>,
    /// Sorted by id; unique by (id, sha256).
    pub scripts: Vec<Script>,
    pub hosts: Vec<String>,
    pub payment_fields: Vec<PaymentField>,
    /// The cookie audit: every cookie the page ended up with, sorted by id (values never kept:
    /// only their keyed hash). Stored scans from before cookies were audited have none.
    #[serde(default)]
    pub cookies: Vec<Cookie>,
}

// ---------------------------------------------------------------------------------------------
// compare → report
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FindingKind {
    #[default]
    NewScript,
    AlteredScript,
    RemovedScript,
    HeaderChange,
    NewHost,
    /// The scan's canary card number left the page for a host not allowed to receive card data.
    CardExfiltration,
    /// A script listens to or reads a payment field and the baseline does not record it doing so.
    PaymentFieldAccess,
    /// A configured `payment_fields` selector matched no field: the check would silently stop.
    PaymentFieldMissing,
    /// A capture limit dropped data (scripts, requests, frames, bodies, accesses, bytes searched):
    /// flooding the monitor is itself an alert, never a blind spot.
    CaptureTruncated,
    /// Real browsers reported (CSP violation reports) a blocked script from a host the
    /// baseline does not approve, or a blocked inline script or eval, on a monitored page.
    CspViolation,
    /// The page contacted, or new code names, a host on a known-bad indicator list (intel).
    KnownBadHost,
    /// An external script is a library version with published vulnerabilities (retire.js data).
    VulnerableLibrary,
    /// A cookie the baseline does not approve (third-party), or an approved one that lost
    /// `Secure`/`HttpOnly` or whose lifetime grew past the page's `max_cookie_lifetime`.
    CookieChange,
    /// The scan's shopper identity (e-mail, phone, name, street, postcode) reached a host not
    /// in the page's `personal_data_hosts` (and not the page's own site).
    PersonalDataFlow,
}

impl FindingKind {
    pub const ALL: [FindingKind; 14] = [
        FindingKind::NewScript,
        FindingKind::AlteredScript,
        FindingKind::RemovedScript,
        FindingKind::HeaderChange,
        FindingKind::NewHost,
        FindingKind::CardExfiltration,
        FindingKind::PaymentFieldAccess,
        FindingKind::PaymentFieldMissing,
        FindingKind::CaptureTruncated,
        FindingKind::CspViolation,
        FindingKind::KnownBadHost,
        FindingKind::VulnerableLibrary,
        FindingKind::CookieChange,
        FindingKind::PersonalDataFlow,
    ];

    pub fn parse(s: &str) -> Option<FindingKind> {
        FindingKind::ALL.into_iter().find(|k| k.as_str() == s)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            FindingKind::NewScript => "new_script",
            FindingKind::AlteredScript => "altered_script",
            FindingKind::RemovedScript => "removed_script",
            FindingKind::HeaderChange => "header_change",
            FindingKind::NewHost => "new_host",
            FindingKind::CardExfiltration => "card_exfiltration",
            FindingKind::PaymentFieldAccess => "payment_field_access",
            FindingKind::PaymentFieldMissing => "payment_field_missing",
            FindingKind::CaptureTruncated => "capture_truncated",
            FindingKind::CspViolation => "csp_violation",
            FindingKind::KnownBadHost => "known_bad_host",
            FindingKind::VulnerableLibrary => "vulnerable_library",
            FindingKind::CookieChange => "cookie_change",
            FindingKind::PersonalDataFlow => "personal_data_flow",
        }
    }
}

impl fmt::Display for FindingKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The script a finding concerns, as in the JSON contract.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScriptRef {
    pub id: String,
    pub kind: ScriptKind,
    pub url: Option<String>,
    pub sha256: String,
}

/// One unapproved change. `id` is stable: the same change keeps its id across rescans.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Finding {
    pub id: String,
    pub kind: FindingKind,
    pub severity: Severity,
    pub title: String,
    pub script: Option<ScriptRef>,
    /// Unified diff of approved vs current source (altered scripts), pretty-printed.
    pub diff: Option<String>,
    /// For header changes: header name, approved and current value.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub header: Option<HeaderChange>,
    /// For new hosts: the host.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub host: Option<String>,
    /// The SHA-256 of the approved version, for altered and removed scripts.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub approved_sha256: Option<String>,
    /// Script that inserted or evaluated the script, where known.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub initiator: Option<String>,
    /// When this finding (same id, same page) was first seen (RFC 3339), from the store.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub first_seen: Option<String>,
    /// When it was last seen (RFC 3339): the current scan.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub last_seen: Option<String>,
    /// In how many stored scans of the page it was seen, this one included.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub seen_count: Option<u64>,
    /// Static hints on the added code (`runs strings as code (eval)`, …) or, for header
    /// changes, one line per changed directive. Hints raise severity, never lower it.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub hints: Vec<String>,
    /// Hosts and domains in the current code that the approved version does not name.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub added_hosts: Vec<String>,
    /// Absolute URLs in the current code that the approved version does not contain.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub added_urls: Vec<String>,
    /// For a change accepted by a `[[page.policy]]` (trust = "url"): the policy's pattern and
    /// reason. Such findings are `info` and the baseline follows them with an audit entry.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub policy: Option<String>,
    /// For card exfiltration: where the canary card number went.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub destination: Option<Destination>,
    /// For payment field access (and missing fields): which field, and how it was touched.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub access: Option<FieldAccessRef>,
    /// For a truncated capture: which limit dropped what, and how much.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub truncation: Option<Truncation>,
    /// For a cookie change: the cookie as this scan saw it (never its value).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub cookie: Option<Cookie>,
    /// For a cookie change: what changed (`new third-party cookie`, `lost Secure` …).
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub changes: Vec<String>,
    /// For a personal-data flow: where the shopper's data went, which fields, how.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub personal_data: Option<PersonalDataFlow>,
    /// For a CSP violation: what real browsers reported, grouped, with how many reports.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub violation: Option<CspViolation>,
    /// For a known-bad host: the indicator list and the entry that matched.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub indicator: Option<IndicatorMatch>,
    /// For a vulnerable library: which library and version, and its advisories.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub library: Option<LibraryMatch>,
}

/// One group of CSP violation reports from real browsers: every report of one page with the
/// same directive, blocked resource and source file is one group with a count (JSON contract:
/// `violation` of a `csp_violation` finding).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CspViolation {
    pub page: String,
    /// The effective directive, e.g. `script-src-elem`.
    pub directive: String,
    /// The blocked resource normalised: its origin (`https://evil.example`), or `inline`,
    /// `eval`, `data`, `blob`, or the scheme of a browser extension (`chrome-extension`).
    pub blocked: String,
    /// The document or script that caused it, without query or fragment (empty if unknown).
    pub source: String,
    /// The first reported code sample (cut to 200 characters), if the policy asked for one.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub sample: Option<String>,
    /// Reports in this group.
    pub count: u64,
    pub first_seen: String,
    pub last_seen: String,
    /// Known noise (browser extensions): counted, never a finding.
    #[serde(skip_serializing_if = "std::ops::Not::not", default)]
    pub noise: bool,
}

/// Where a known-bad host was found and which list named it (JSON: `indicator`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IndicatorMatch {
    /// The list's name (`maltrail-magentocore`, or a user list's file name).
    pub list: String,
    /// The list's entry, as written (the host itself or a parent domain of it).
    pub entry: String,
    /// `request` (the page sent a request there) or `code` (a new or altered script names it).
    pub found_in: String,
}

/// A vulnerable library version in an external script (JSON: `library`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LibraryMatch {
    /// The library as retire.js names it (`jquery`).
    pub name: String,
    pub version: String,
    /// What revealed the version: `uri`, `filename` or `filecontent`.
    pub detected_by: String,
    /// The data it came from (`retirejs`).
    pub source: String,
    pub advisories: Vec<LibraryAdvisory>,
}

/// One advisory of a [`LibraryMatch`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LibraryAdvisory {
    /// The data's severity (`low`, `medium`, `high`, `critical`).
    pub severity: String,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub summary: Option<String>,
    /// CVE, GHSA and bug ids.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub identifiers: Vec<String>,
    /// The affected range (`>=1.2.0 <3.5.0`).
    pub range: String,
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub info: Vec<String>,
}

/// One intelligence source a scan checked against (JSON: `intel` of the scan report), so that
/// the evidence shows what was checked.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IntelVersion {
    /// `maltrail-magentocore`, `retirejs`, `skimwatch-yara`, a `[[intel.source]]` name or a
    /// user file's name.
    pub name: String,
    /// `domains`, `retirejs` or `yara`.
    pub kind: String,
    /// `shipped` (built into skimwatch), `updated` (fetched by `intel update`) or `file` (a
    /// user list or rule file).
    pub origin: String,
    /// Where it came from: the upstream URL of an updated copy, the path of a file.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub location: Option<String>,
    /// Usable entries: domains, libraries with advisories, rules.
    pub entries: u64,
    /// Lines or extractors that could not be used.
    #[serde(skip_serializing_if = "is_zero", default)]
    pub skipped: u64,
    /// SHA-256 of the data as read.
    pub sha256: String,
    /// When the data is from: the upstream snapshot date of a shipped copy, the fetch time of
    /// an updated one, the modification time of a file (RFC 3339 or a date).
    pub date: String,
}

/// Where card data was sent (JSON contract: `destination` of a `card_exfiltration` finding).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Destination {
    /// The request URL (or WebSocket URL); plain occurrences of the canary are masked.
    pub url: String,
    /// `host` or `host:port`.
    pub host: String,
    /// How it left.
    pub channel: Channel,
    /// HTTP method (`GET`, `POST` …; `SEND` for a WebSocket frame).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub method: Option<String>,
    /// Where in the request the number was found: `url`, `body`, `header <name>`, `frame`.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub found_in: Option<String>,
    /// How it was encoded: `plain`, `url`, `base64`, `hex`, `reversed`, `json` … joined by `+`.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub encoding: Option<String>,
    /// Sent by another target than the scanned tab: `popup`, `worker` (dedicated),
    /// `shared-worker` or `service-worker`; omitted for the tab itself.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub target: Option<String>,
    /// True when the request went to the origin of the document that sent it: the shop's own
    /// page posting to its own server, or a payment provider's hosted-field frame posting to
    /// its own host. Only such a destination can be approved in the baseline
    /// (`[[card_destination]]`); any other needs `card_data_hosts`.
    #[serde(skip_serializing_if = "std::ops::Not::not", default)]
    pub own_origin: bool,
}

/// How card data left the page (JSON contract: `destination.channel`), from the request's
/// resource type. Serialised as [`Channel::as_str`]; variants in alphabetical order so that
/// sorting matches the former strings.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Channel {
    /// `navigator.sendBeacon` (and `<a ping>`).
    Beacon,
    CspReport,
    Eventsource,
    Fetch,
    Font,
    /// A document request with another method than GET: a submitted form.
    Form,
    Iframe,
    Image,
    Media,
    /// A document request with GET.
    Navigation,
    #[default]
    Other,
    Prefetch,
    Script,
    Stylesheet,
    Websocket,
    Xhr,
}

impl Channel {
    pub const ALL: [Channel; 16] = [
        Channel::Beacon,
        Channel::CspReport,
        Channel::Eventsource,
        Channel::Fetch,
        Channel::Font,
        Channel::Form,
        Channel::Iframe,
        Channel::Image,
        Channel::Media,
        Channel::Navigation,
        Channel::Other,
        Channel::Prefetch,
        Channel::Script,
        Channel::Stylesheet,
        Channel::Websocket,
        Channel::Xhr,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Beacon => "beacon",
            Channel::CspReport => "csp-report",
            Channel::Eventsource => "eventsource",
            Channel::Fetch => "fetch",
            Channel::Font => "font",
            Channel::Form => "form",
            Channel::Iframe => "iframe",
            Channel::Image => "image",
            Channel::Media => "media",
            Channel::Navigation => "navigation",
            Channel::Other => "other",
            Channel::Prefetch => "prefetch",
            Channel::Script => "script",
            Channel::Stylesheet => "stylesheet",
            Channel::Websocket => "websocket",
            Channel::Xhr => "xhr",
        }
    }

    pub fn parse(s: &str) -> Option<Channel> {
        Channel::ALL.into_iter().find(|c| c.as_str() == s)
    }
}

impl fmt::Display for Channel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Compares with the serialised name (`destination.channel == "fetch"`), as reports are read.
impl PartialEq<&str> for Channel {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

/// What a script did with a payment field. Serialised in lower case (report and baseline
/// files); variants in alphabetical order so that sorting matches the former strings.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FieldAction {
    /// An event listener was added (the event type is in `event`).
    #[default]
    Listen,
    /// A configured `payment_fields` selector matched no field (findings only).
    Missing,
    /// The value was read.
    Read,
}

impl FieldAction {
    pub const ALL: [FieldAction; 3] = [FieldAction::Listen, FieldAction::Missing, FieldAction::Read];

    pub fn as_str(self) -> &'static str {
        match self {
            FieldAction::Listen => "listen",
            FieldAction::Missing => "missing",
            FieldAction::Read => "read",
        }
    }

    pub fn parse(s: &str) -> Option<FieldAction> {
        FieldAction::ALL.into_iter().find(|a| a.as_str() == s)
    }
}

impl fmt::Display for FieldAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A payment field and what a script did with it.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct FieldAccessRef {
    /// Frame key (`main`, or the frame's URL without query) the field lives in.
    pub frame: String,
    /// CSS selector of the field, or `document` / `window` / `form#id` for listeners there.
    pub field: String,
    /// `listen` (an event listener was added), `read` (the value was read), or `missing` (for
    /// a `payment_field_missing` finding).
    pub action: FieldAction,
    /// The event type for `listen` (`keydown`, `input`, `change`, `blur`, `submit` …).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub event: Option<String>,
}

/// One sighting of the canary card number in outgoing traffic. Produced by `capture`
/// (`script_index` set), resolved to a script by `behaviour`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CardLeak {
    pub destination: Destination,
    /// Document URL of the frame that sent it.
    pub frame_url: String,
    /// The sending script, from the request's initiator stack.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub script: Option<ScriptRef>,
    /// URL of the sending script's stack frame when it could not be matched to a script.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub script_url: Option<String>,
    /// True when the destination is in the page's `card_data_hosts` allow-list.
    #[serde(default)]
    pub allowed: bool,
    /// Index into `Snapshot::scripts` of the sender (capture → behaviour only).
    #[serde(skip)]
    pub script_index: Option<usize>,
    /// Sent by a document of another origin than the page: a cross-origin frame, such as a
    /// payment provider's hosted field (capture → compare only).
    #[serde(skip)]
    pub cross_origin_frame: bool,
}

/// One script touching one payment field. Produced by `capture`, resolved by `behaviour`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldAccess {
    pub access: FieldAccessRef,
    pub frame_url: String,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub script: Option<ScriptRef>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub script_url: Option<String>,
    #[serde(skip)]
    pub script_index: Option<usize>,
    /// True when the field is in the top-level document (capture → inventory only: the
    /// inventory writes `access.frame` from it and `frame_url`).
    #[serde(skip)]
    pub main_frame: bool,
}

/// A field the shopper typed into, as capture saw it; the inventory names it
/// `frame key|selector` in [`Interaction::fields_typed`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TypedField {
    pub frame_url: String,
    pub main_frame: bool,
    pub selector: String,
}

/// What scripts did with card data during a scan, with each script named by its inventory
/// identity. Produced by `inventory`, judged by `compare`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Behaviour {
    pub card_leaks: Vec<CardLeak>,
    pub field_access: Vec<FieldAccess>,
    pub unmatched_payment_fields: Vec<String>,
    /// The capture limits that dropped data.
    pub truncations: Vec<Truncation>,
    /// Where the shopper's personal data went, with the senders named.
    pub personal_data: Vec<PersonalDataFlow>,
}

/// How a finding, a baseline entry or a report names the script behind a behaviour: its
/// identity, else the URL of its stack frame, else `(unknown script)`.
pub fn sender_name(script: Option<&ScriptRef>, url: Option<&str>) -> String {
    match (script, url) {
        (Some(s), _) => s.id.clone(),
        (None, Some(u)) if !u.is_empty() => u.to_string(),
        _ => "(unknown script)".to_string(),
    }
}

/// What the scan did as a shopper (JSON: `interaction` of a page).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Interaction {
    pub mode: InteractMode,
    pub profile: Profile,
    /// The canary card number typed, masked (`400000******1234`).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub canary: Option<String>,
    /// Fields typed into, in order (`frame key|selector`), named by the inventory.
    #[serde(default)]
    pub fields_typed: Vec<String>,
    /// The same fields as capture saw them (capture → inventory only).
    #[serde(skip)]
    pub typed: Vec<TypedField>,
    /// Whether the pay button was clicked.
    #[serde(default)]
    pub submitted: bool,
    /// `complete`: every field the shopper set (typed, selected, checked), in order
    /// (`frame key|selector`), named by the inventory; omitted when empty.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fields_filled: Vec<String>,
    /// The same fields as capture saw them (capture → inventory only).
    #[serde(skip)]
    pub filled: Vec<TypedField>,
    /// `complete`: the buttons pressed, in order (`selector "label"`, label cut to 60
    /// characters, at most 20); omitted when empty.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub buttons_pressed: Vec<String>,
    /// `complete`: how many passes over the page the shopper made (fill, press, wait); 0
    /// (omitted) in the other modes.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub passes: u64,
    /// Requests blocked so that no order was placed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub blocked: Vec<String>,
    /// What could not be done (a field that could not be focused …).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub problems: Vec<String>,
    /// Windows the page opened (`window.open`, `target=_blank`): their URLs (the canary
    /// masked), in order, at most 20. Each was watched (its requests searched for the canary)
    /// and closed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub popups: Vec<String>,
    /// Times the shopper typed the card fields again because code arrived after the typing
    /// (a delayed tag, a late frame); omitted when 0.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub retyped: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HeaderChange {
    pub name: String,
    pub approved: Option<String>,
    pub current: Option<String>,
}

/// A script as listed in the JSON report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScriptEntry {
    pub id: String,
    pub kind: ScriptKind,
    pub url: Option<String>,
    pub frame_url: String,
    pub sha256: String,
    pub bytes: u64,
    pub approved: bool,
    #[serde(default)]
    pub sri: String,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub initiator: Option<String>,
}

/// Whether a page was scanned (JSON contract `status`; the `scans.status` column).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PageStatus {
    Ok,
    Error,
}

impl PageStatus {
    pub const ALL: [PageStatus; 2] = [PageStatus::Ok, PageStatus::Error];

    pub fn as_str(self) -> &'static str {
        match self {
            PageStatus::Ok => "ok",
            PageStatus::Error => "error",
        }
    }

    pub fn parse(s: &str) -> Option<PageStatus> {
        PageStatus::ALL.into_iter().find(|v| v.as_str() == s)
    }
}

impl fmt::Display for PageStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Result for one page: the unit of the JSON contract.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PageReport {
    pub name: String,
    pub url: String,
    pub status: PageStatus,
    pub error: Option<String>,
    pub scripts: Vec<ScriptEntry>,
    pub findings: Vec<Finding>,
    /// HTTP status of the main document, when it answered.
    #[serde(default)]
    pub http_status: Option<u16>,
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    #[serde(default)]
    pub hosts: Vec<String>,
    #[serde(default)]
    pub payment_fields: Vec<PaymentField>,
    /// Database id of the stored scan, when stored.
    #[serde(default)]
    pub scan_id: Option<i64>,
    #[serde(default)]
    pub elapsed_ms: u64,
    /// Configured `payment_fields` selectors that matched nothing.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unmatched_payment_fields: Vec<String>,
    /// Every place the canary card number was sent, allowed or not (evidence).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub card_data: Vec<CardLeak>,
    /// Which scripts listened to or read payment fields in this scan.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub field_access: Vec<FieldAccess>,
    /// The cookie audit: every cookie the page's documents and frames ended up with.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cookies: Vec<Cookie>,
    /// Every host that received the shopper's personal data, allowed or not (evidence).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub personal_data: Vec<PersonalDataFlow>,
    /// What the scan did as a shopper.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interaction: Option<Interaction>,
    /// Requests from the page that the monitor refused (link-local and cloud-metadata
    /// addresses), by URL.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub refused_requests: Vec<String>,
    /// The page's journey (`[[page.step]]`), step by step; omitted without steps.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub journey: Vec<StepRecord>,
    /// The URL of the document the scan judged (after redirects and the journey); omitted
    /// when it is the page's `url`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub final_url: Option<String>,
    /// Dialogs dismissed, downloads denied, non-web navigations refused (flattened:
    /// `dialogs`, `dialog_count`, `downloads`, `refused_navigations`).
    #[serde(flatten)]
    pub guard: Guarded,
}

/// The whole report of a `scan` run (JSON contract: `{ "pages": [...] }`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScanReport {
    pub pages: Vec<PageReport>,
    /// The intelligence data the scan checked against (which list, which date).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub intel: Vec<IntelVersion>,
}

impl Finding {
    /// The one order findings are listed in everywhere: most severe first, then by kind, then
    /// by id (stable across runs).
    pub fn report_order(a: &Finding, b: &Finding) -> std::cmp::Ordering {
        b.severity.cmp(&a.severity).then(a.kind.cmp(&b.kind)).then(a.id.cmp(&b.id))
    }
}

/// Sorts findings into [`Finding::report_order`].
pub fn sort_findings(findings: &mut [Finding]) {
    findings.sort_by(Finding::report_order);
}

impl ScanReport {
    /// The most severe finding across all pages, if any.
    pub fn max_severity(&self) -> Option<Severity> {
        self.pages.iter().flat_map(|p| p.findings.iter().map(|f| f.severity)).max()
    }

    pub fn has_errors(&self) -> bool {
        self.pages.iter().any(|p| p.status == PageStatus::Error)
    }
}

// ---------------------------------------------------------------------------------------------
// baseline (the approved state of one page; persisted by `baseline`, read by `compare`)
// ---------------------------------------------------------------------------------------------

/// Who approved something, when and why (PCI DSS 6.4.3 justification).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Approval {
    pub approved_by: String,
    /// RFC 3339 UTC timestamp.
    pub approved_at: String,
    pub reason: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApprovedScript {
    pub id: String,
    pub kind: ScriptKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    pub frame_url: String,
    pub sha256: String,
    pub sri: String,
    pub bytes: u64,
    #[serde(flatten)]
    pub approval: Approval,
    /// Inline code: SHA-256 of the source with its data literals masked (see
    /// `normalize`). A version with another SHA-256 but this normalized hash differs only in
    /// data (nonces, tokens, cart) and is the same approved script.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub normalized_sha256: Option<String>,
    /// What is masked in the normalized hash, and why (for reviewers of the baseline file).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub masked: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApprovedHost {
    pub host: String,
    #[serde(flatten)]
    pub approval: Approval,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApprovedHeader {
    /// Lower-case header name.
    pub name: String,
    /// `None` records an approved absence (the header was not sent when approved).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    #[serde(flatten)]
    pub approval: Approval,
}

/// The approved state of one page. Ordering is stable (sorted by id / host / name) so that the
/// file diffs cleanly in review.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Baseline {
    pub page: String,
    pub url: String,
    /// The key of the payment page's screenshot in the scan approved last
    /// ([`crate::inventory::picture::picture_key`]); the picture is
    /// `screenshots/<key>.png` beside the baseline file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub screenshot: Option<String>,
    #[serde(default, rename = "script")]
    pub scripts: Vec<ApprovedScript>,
    #[serde(default, rename = "header")]
    pub headers: Vec<ApprovedHeader>,
    #[serde(default, rename = "host")]
    pub hosts: Vec<ApprovedHost>,
    /// Changes the baseline followed on its own because a `[[page.policy]]` trusts the
    /// script's URL (trust = "url"), oldest first: the audit trail of those changes.
    #[serde(default, rename = "audit")]
    pub audit: Vec<AuditEntry>,
    /// Which approved scripts may listen to or read which payment fields.
    #[serde(default, rename = "field_access", skip_serializing_if = "Vec::is_empty")]
    pub field_access: Vec<ApprovedFieldAccess>,
    /// Which approved scripts may send card data to their own document's origin, and where.
    #[serde(default, rename = "card_destination", skip_serializing_if = "Vec::is_empty")]
    pub card_destinations: Vec<ApprovedCardDestination>,
    /// Approved cookies (`[[cookie]]`), by identity; baselines written before have none.
    #[serde(default, rename = "cookie", skip_serializing_if = "Vec::is_empty")]
    pub cookies: Vec<ApprovedCookie>,
}

/// Why a cookie is set (the cookie audit's justification). Serialised in lower case.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CookiePurpose {
    /// Needed for the shop to work (session, cart, CSRF, load balancing).
    Necessary,
    Analytics,
    Marketing,
    /// Approved without a purpose yet (`baseline approve` writes this; edit it).
    #[default]
    Unclassified,
}

impl CookiePurpose {
    pub const ALL: [CookiePurpose; 4] =
        [CookiePurpose::Necessary, CookiePurpose::Analytics, CookiePurpose::Marketing, CookiePurpose::Unclassified];
    pub fn as_str(self) -> &'static str {
        match self {
            CookiePurpose::Necessary => "necessary",
            CookiePurpose::Analytics => "analytics",
            CookiePurpose::Marketing => "marketing",
            CookiePurpose::Unclassified => "unclassified",
        }
    }
}

/// An approved cookie: its identity and the attributes it had when approved, so that a later
/// scan can tell a cookie that lost `Secure` or `HttpOnly`, or now lives longer.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApprovedCookie {
    /// `name@domain/path` ([`crate::inventory::identity::cookie_id`]).
    pub id: String,
    #[serde(default)]
    pub purpose: CookiePurpose,
    #[serde(default)]
    pub third_party: bool,
    #[serde(default)]
    pub secure: bool,
    #[serde(default)]
    pub http_only: bool,
    /// Days it lived when approved; absent for a session cookie.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lifetime_days: Option<u64>,
    #[serde(flatten)]
    pub approval: Approval,
}

/// Who set a cookie. Serialised in lower case.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CookieSource {
    /// A `Set-Cookie` header of a response (`set_by` is the response's URL).
    Response,
    /// A script wrote `document.cookie` (`set_by` names the script).
    Script,
    /// Neither was seen (set in another way, or before the monitor could see it).
    #[default]
    Unknown,
}

impl CookieSource {
    pub fn as_str(self) -> &'static str {
        match self {
            CookieSource::Response => "response",
            CookieSource::Script => "script",
            CookieSource::Unknown => "unknown",
        }
    }
}

/// One cookie as the scan's browser context ended up with it (JSON: `cookies` of a page).
/// The value is never kept: `value_hash` is an HMAC-SHA256 of it under the database's own
/// key, so a changed value shows without the value being guessable from the report.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cookie {
    /// `name@domain/path`: the identity the baseline approves.
    #[serde(default)]
    pub id: String,
    pub name: String,
    /// As the browser keeps it: `.example.com` for a domain cookie, `shop.example.com` for a
    /// host-only one.
    pub domain: String,
    pub path: String,
    /// The cookie's domain is not the same site (registrable domain) as the page.
    pub third_party: bool,
    /// Days until it expires, counted from the scan; absent for a session cookie.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lifetime_days: Option<u64>,
    pub secure: bool,
    pub http_only: bool,
    /// `Strict`, `Lax` or `None`; absent when the cookie set none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub same_site: Option<String>,
    /// Bytes of name and value, as the browser counts them.
    pub size: u64,
    /// Lower-case hex HMAC-SHA256 of the value (key: the database's); empty when not hashed.
    #[serde(default)]
    pub value_hash: String,
    pub source: CookieSource,
    /// The response URL (Set-Cookie), or the writing script's identity (else its URL).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub set_by: Option<String>,
    /// Set when the scan's browser refused the cookie, with Chromium's reasons
    /// (`UserPreferences`: a third-party cookie, which the scan's off-the-record context
    /// blocks and a shopper's everyday browser usually keeps). Audited like a kept cookie.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blocked: Option<String>,
    /// SHA-256 of the value (capture → inventory only: turned into `value_hash`, never kept).
    #[serde(skip)]
    pub value_sha256: Option<[u8; 32]>,
    /// Index into `Snapshot::scripts` of the writing script (capture → inventory only).
    #[serde(skip)]
    pub script_index: Option<usize>,
}

/// Where the shopper's personal data went (JSON: `personal_data` of a page and of a
/// `personal_data_flow` finding): one entry per destination host and sending script.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PersonalDataFlow {
    /// `host` or `host:port`.
    pub host: String,
    /// Fields found: `email`, `phone`, `name`, `street`, `postcode`.
    pub fields: Vec<String>,
    /// How each left (`email:sha256`, `phone:plain` …), as `field:encoding`.
    pub encodings: Vec<String>,
    pub channels: Vec<Channel>,
    /// One request URL that carried it (cut, the typed values masked).
    pub example_url: String,
    /// The sending script's identity (else the URL of its stack frame).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub script: Option<String>,
    /// The host is in the page's `personal_data_hosts`, or the page's own site.
    pub allowed: bool,
    /// The host is the page's own site (registrable domain).
    #[serde(default)]
    pub first_party: bool,
    /// Requests that carried it.
    pub requests: u64,
    /// Index into `Snapshot::scripts` of the sender (capture → inventory only).
    #[serde(skip)]
    pub script_index: Option<usize>,
    /// URL of the sender's stack frame (capture → inventory only).
    #[serde(skip)]
    pub script_url: Option<String>,
}

/// An approved script's sending of card data to the origin of the document it runs in (the
/// shop's checkout posting the order, a provider's hosted field tokenizing the card). Holds
/// only while that script is approved with the SHA-256 it has in the scan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApprovedCardDestination {
    /// Identity of the sending script.
    pub script: String,
    /// Where it sends: origin and path, without query or fragment.
    pub url: String,
    #[serde(flatten)]
    pub approval: Approval,
}

/// One change a trust policy let the baseline follow without a person approving it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEntry {
    /// RFC 3339 UTC timestamp of the scan that saw the change.
    pub at: String,
    /// Identity of the script.
    pub script: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    pub from_sha256: String,
    pub to_sha256: String,
    /// The policy's `match` pattern and its written reason.
    pub policy: String,
    pub reason: String,
}

/// An approved script's access to a payment field (one listener type, or reading the value).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApprovedFieldAccess {
    /// Identity of the script.
    pub script: String,
    pub frame: String,
    pub field: String,
    pub action: FieldAction,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event: Option<String>,
    #[serde(flatten)]
    pub approval: Approval,
}

impl Baseline {
    /// True when the page has never been approved (no baseline file yet).
    pub fn is_empty(&self) -> bool {
        self.scripts.is_empty()
            && self.headers.is_empty()
            && self.hosts.is_empty()
            && self.field_access.is_empty()
            && self.card_destinations.is_empty()
            && self.cookies.is_empty()
    }
}

// ---------------------------------------------------------------------------------------------
// store → alert
// ---------------------------------------------------------------------------------------------

/// What an alert is about. Serialised in snake case (stored in the outbox's `kind` column and
/// its JSON, shown by `status`). Defined here, not in `alert`, because the store keeps it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertKind {
    /// A scan found changes at or above `min_severity` that were never mailed.
    #[default]
    Findings,
    /// Findings mailed before are still unapproved after `renotify`.
    Reminder,
    /// A page failed to scan `failures_before_alert` times in a row.
    ScanFailing,
    /// A page that was failing scans again (the all-clear for `scan_failing`).
    Recovered,
    /// No page scanned successfully for `stale_after`: the monitor is blind.
    MonitorBlind,
    /// A page scanned again after the monitor was blind.
    MonitorRecovered,
    /// A scan could not be recorded because the database (its `max_database_size` budget) or
    /// the disk is full: the monitor is going blind. `error` names the file and the fix.
    StorageFull,
}

impl AlertKind {
    pub const ALL: [AlertKind; 7] = [
        AlertKind::Findings,
        AlertKind::Reminder,
        AlertKind::ScanFailing,
        AlertKind::Recovered,
        AlertKind::MonitorBlind,
        AlertKind::MonitorRecovered,
        AlertKind::StorageFull,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            AlertKind::Findings => "findings",
            AlertKind::Reminder => "reminder",
            AlertKind::ScanFailing => "scan_failing",
            AlertKind::Recovered => "recovered",
            AlertKind::MonitorBlind => "monitor_blind",
            AlertKind::MonitorRecovered => "monitor_recovered",
            AlertKind::StorageFull => "storage_full",
        }
    }

    pub fn parse(s: &str) -> Option<AlertKind> {
        AlertKind::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

impl fmt::Display for AlertKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What the page tried that the monitor dismissed or refused during one capture: JavaScript
/// dialogs (dismissed at once, so a dialog cannot stall the scan), downloads (denied) and
/// navigations to non-web URLs (`file:`, `chrome:`, top-level `data:` …, refused). Flattened
/// into [`PageReport`] as `dialogs`, `dialog_count`, `downloads` and `refused_navigations`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Guarded {
    /// The first dialogs the page opened (at most a few dozen are kept).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dialogs: Vec<PageDialog>,
    /// How many dialogs the page opened in all (more than `dialogs` lists when capped).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub dialog_count: u64,
    /// Downloads the page started (all denied; nothing is written).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub downloads: Vec<PageDownload>,
    /// Navigations of the page or its frames to non-web URLs, refused.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub refused_navigations: Vec<RefusedNavigation>,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// A JavaScript dialog the page opened (dismissed by the monitor).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PageDialog {
    /// `alert`, `confirm`, `prompt` or `beforeunload`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The dialog's text: one line, at most 200 characters.
    pub message: String,
}

/// A download the page started (denied by the monitor).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PageDownload {
    pub url: String,
    /// The file name the page suggested (one line, cut).
    pub filename: String,
}

/// A navigation to a non-web URL that the monitor (or Chromium) refused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefusedNavigation {
    /// The URL asked for (cut).
    pub url: String,
    /// How it was seen: `navigation` (a frame asked to go there), `load` (a load Chromium
    /// refused), `frame` (a frame found at such a URL).
    pub how: String,
}

/// Locks `m` even when a thread panicked while holding it. The data behind the monitor's
/// locks (event records, counters, the store handle) stays usable after a panic elsewhere;
/// one panicking scan must not turn every later lock into another panic.
pub fn lock_or_recover<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each variant serialises to its `as_str` (JSON and TOML) and reads back.
    fn round_trips<T>(all: &[T], as_str: fn(&T) -> &'static str)
    where
        T: Serialize + serde::de::DeserializeOwned + PartialEq + fmt::Debug,
    {
        for v in all {
            let json = serde_json::to_string(v).unwrap();
            assert_eq!(json, format!("\"{}\"", as_str(v)));
            assert_eq!(&serde_json::from_str::<T>(&json).unwrap(), v);
        }
    }

    #[test]
    fn closed_sets_serialise_as_their_names() {
        round_trips(&InteractMode::ALL, |m| m.as_str());
        round_trips(&Profile::ALL, |p| p.as_str());
        round_trips(&Channel::ALL, |c| c.as_str());
        round_trips(&FieldAction::ALL, |a| a.as_str());
        assert_eq!(InteractMode::ALL.map(InteractMode::as_str), ["none", "type", "type-and-submit", "complete"]);
        assert_eq!(Profile::ALL.map(Profile::as_str), ["desktop", "mobile"]);
        assert_eq!(FieldAction::ALL.map(FieldAction::as_str), ["listen", "missing", "read"]);
        assert_eq!(Channel::CspReport.as_str(), "csp-report");
        assert!(serde_json::from_str::<Channel>("\"carrier-pigeon\"").is_err());
    }

    #[test]
    fn status_kinds_serialise_as_their_names_and_parse() {
        round_trips(&Severity::ALL, |s| s.as_str());
        round_trips(&FindingKind::ALL, |k| k.as_str());
        round_trips(&PageStatus::ALL, |s| s.as_str());
        round_trips(&AlertKind::ALL, |k| k.as_str());
        for k in FindingKind::ALL {
            assert_eq!(FindingKind::parse(k.as_str()), Some(k));
        }
        for k in AlertKind::ALL {
            assert_eq!(AlertKind::parse(k.as_str()), Some(k));
        }
        assert_eq!(AlertKind::MonitorBlind.as_str(), "monitor_blind");
        assert_eq!(FindingKind::PaymentFieldMissing.as_str(), "payment_field_missing");
        assert_eq!(Severity::parse("high"), Some(Severity::High));
        assert_eq!(Severity::parse("HIGH"), None, "stored text is exact");
        assert_eq!(PageStatus::parse("ok"), Some(PageStatus::Ok));
        assert_eq!(PageStatus::parse("timeout"), None);
        assert_eq!(AlertKind::parse("digest"), None);
    }

    /// Moved from `alert` (its `format_time`/`parse_time` are now [`Timestamp`]).
    #[test]
    fn times_round_trip_and_sort_as_text() {
        let a = Timestamp::parse("2025-01-01T00:00:09Z").unwrap();
        let b = a + time::Duration::seconds(1);
        assert_eq!(a.to_string(), "2025-01-01T00:00:09Z");
        assert!(a.to_string() < b.to_string());
    }

    /// The form `store::now_rfc3339` has always written: UTC, whole seconds, `Z`.
    #[test]
    fn timestamps_print_serialise_and_compare_like_the_stored_text() {
        let t = Timestamp::parse("2026-11-29T07:50:25Z").unwrap();
        assert_eq!(t.to_string(), "2026-11-29T07:50:25Z");
        assert_eq!(serde_json::to_string(&t).unwrap(), "\"2026-11-29T07:50:25Z\"");
        assert_eq!(serde_json::from_str::<Timestamp>("\"2026-11-29T07:50:25Z\"").unwrap(), t);
        // Other offsets and fractions are read into the one stored form.
        let odd = Timestamp::parse("2026-11-29T09:50:25.75+02:00").unwrap();
        assert_eq!((odd, odd.to_string()), (t, "2026-11-29T07:50:25Z".to_string()));
        let later = t + time::Duration::hours(72);
        assert_eq!(later.to_string(), "2026-12-02T07:50:25Z");
        assert_eq!(later - t, time::Duration::hours(72));
        assert!(t < later && t.to_string() < later.to_string());
        assert_eq!(Timestamp::default().to_string(), "1970-01-01T00:00:00Z");
        assert_eq!(Timestamp::now().to_string().len(), "2025-01-01T00:00:00Z".len());
        assert!(Timestamp::parse("yesterday").is_none());
        assert!(serde_json::from_str::<Timestamp>("\"2026-11-29\"").is_err());
        assert_eq!(format!("{t:<22}|"), "2026-11-29T07:50:25Z  |");
    }

    #[test]
    fn modes_and_profiles_parse() {
        for m in InteractMode::ALL {
            assert_eq!(InteractMode::parse(m.as_str()), Some(m));
        }
        assert_eq!(InteractMode::parse("submit"), None);
        assert_eq!(Profile::parse("mobile"), Some(Profile::Mobile));
        assert_eq!(Profile::parse("tablet"), None);
        assert_eq!(FieldAction::parse("send"), None);
        assert_eq!(Channel::parse("csp-report"), Some(Channel::CspReport));
    }

    /// Sorting keeps the order the strings had (baseline files are sorted by action).
    #[test]
    fn field_actions_sort_like_their_names() {
        let mut by_enum = FieldAction::ALL;
        by_enum.sort();
        let mut by_name = FieldAction::ALL.map(FieldAction::as_str);
        by_name.sort();
        assert_eq!(by_enum.map(FieldAction::as_str), by_name);
        let mut by_enum = Channel::ALL;
        by_enum.sort();
        let mut by_name = Channel::ALL.map(Channel::as_str);
        by_name.sort();
        assert_eq!(by_enum.map(Channel::as_str), by_name);
    }

    #[test]
    fn baselines_without_cookies_still_load_and_cookies_round_trip() {
        let old = "page = \"p\"\nurl = \"https://x.example/\"\n\n[[host]]\nhost = \"self\"\napproved_by = \"a\"\napproved_at = \"2025-01-01T00:00:00Z\"\nreason = \"r\"\n";
        let b: Baseline = toml::from_str(old).unwrap();
        assert!(b.cookies.is_empty() && !b.is_empty());
        let text = "id = \"tw_uid@127.0.0.3/\"\npurpose = \"analytics\"\nthird_party = true\nsecure = true\nhttp_only = false\nlifetime_days = 400\napproved_by = \"a\"\napproved_at = \"2025-01-01T00:00:00Z\"\nreason = \"r\"\n";
        let c: ApprovedCookie = toml::from_str(text).unwrap();
        assert_eq!((c.purpose, c.lifetime_days), (CookiePurpose::Analytics, Some(400)));
        assert_eq!(toml::to_string(&c).unwrap(), text);
        let minimal: ApprovedCookie =
            toml::from_str("id = \"sid@shop.example/\"\napproved_by = \"a\"\napproved_at = \"t\"\nreason = \"r\"\n")
                .unwrap();
        assert_eq!(
            (minimal.purpose, minimal.lifetime_days, minimal.secure),
            (CookiePurpose::Unclassified, None, false)
        );
        for p in CookiePurpose::ALL {
            assert_eq!(serde_json::to_string(&p).unwrap(), format!("\"{}\"", p.as_str()));
        }
    }

    #[test]
    fn baseline_field_access_toml_is_unchanged() {
        let text = "script = \"self:/a.js\"\nframe = \"main\"\nfield = \"#cc\"\naction = \"listen\"\nevent = \"input\"\napproved_by = \"a\"\napproved_at = \"2025-01-01T00:00:00Z\"\nreason = \"r\"\n";
        let a: ApprovedFieldAccess = toml::from_str(text).unwrap();
        assert_eq!(a.action, FieldAction::Listen);
        assert_eq!(toml::to_string(&a).unwrap(), text);
    }
}
