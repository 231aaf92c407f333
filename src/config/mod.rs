//! The configuration file, `skimwatch.toml`: where data is stored, how the browser is run,
//! which pages are monitored and how alerts are sent.
//!
//! This module holds the types, with every default already applied; [`read`] turns the file
//! into them (every error names the file, line, column and key, and unknown keys are errors: a
//! monitor that silently ignored a misspelt key would watch less than its owner thinks);
//! [`select`] picks the pages a command runs on; [`rebase`] moves pages onto a staging origin.
//! Relative paths are resolved against the config file's directory, so a config behaves the
//! same whatever the working directory of the cron job or CI runner.

pub mod hosts;
pub mod read;
pub mod rebase;
pub mod select;

pub use read::{check_smtp_url, check_webhook_url, ConfigError};
pub use select::{select_pages, SelectError, Shard};

use crate::model::{InteractMode, Profile};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Config file looked for when none is given.
pub const DEFAULT_FILE: &str = "skimwatch.toml";
pub const DEFAULT_DATABASE: &str = "skimwatch.db";
pub const DEFAULT_BASELINES: &str = "baselines";
/// Smallest `[storage] max_database_size`: below this even an empty database is full.
pub const MIN_DATABASE_SIZE: u64 = 64 * 1024;
/// Per-page load timeout when none is configured.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
/// Minimum time to keep watching a page after load when none is configured (at least 10 s in
/// all from load, so that timers and late-inserted tags run).
pub const DEFAULT_SETTLE: Duration = Duration::from_secs(10);
/// How often `watch` scans a page when the page sets no `interval`.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(15 * 60);
/// Pages `scan` scans at the same time when `--jobs` is not given (and the fixed number
/// `[browser] max_pages` meant for `watch` before it chose by CPU).
pub const DEFAULT_MAX_PAGES: usize = 4;
/// When a finding still unapproved is mailed again, when `[alerts] renotify` is not set.
pub const DEFAULT_RENOTIFY: Duration = Duration::from_secs(24 * 3600);
/// Failed scans in a row of one page that raise a `scan_failing` alert.
pub const DEFAULT_FAILURES_BEFORE_ALERT: u32 = 3;
/// First delay before an alert that could not be delivered is tried again (doubling each time).
pub const DEFAULT_RETRY: Duration = Duration::from_secs(60);

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// The config file this was read from (as given).
    pub path: PathBuf,
    pub storage: Storage,
    pub browser: Browser,
    pub pages: Vec<PageConfig>,
    /// `[alerts]`: what the watch daemon sends, and when.
    pub alerts: Alerts,
    /// `[watch]`: the daemon's own endpoints.
    pub watch: Watch,
    /// `[intel]`: known-bad domains, vulnerable libraries, YARA rules.
    pub intel: Intel,
    /// `[reports]`: where browsers send CSP violation reports.
    pub reports: Reports,
}

/// `[reports]`: the CSP violation reports of real browsers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reports {
    /// `listen`: where the daemon accepts reports at `POST /csp/<page>`; `None`: not at all.
    /// Its own listener, since browsers on the internet reach it and `/metrics` is internal.
    pub listen: Option<std::net::SocketAddr>,
    /// `max_body`: the largest report body accepted (bytes); larger ones are answered 413.
    pub max_body: u64,
    /// `per_source_per_minute`: reports accepted per source IP per minute (a token bucket with
    /// that burst); more are answered 429.
    pub per_source_per_minute: u32,
    /// `max_violations`: distinct violation groups stored in all; reports of a new group beyond
    /// it are counted (`dropped`) and not stored.
    pub max_violations: u64,
    /// `public_url`: the collector's address as browsers reach it (`https://monitor.example`,
    /// no query); a page's policy reports to `<public_url>/csp/<page>`. `None`: generated
    /// policies name no `report-uri` unless one is given on the command line.
    pub public_url: Option<String>,
    /// `trusted_proxies`: address ranges of the reverse proxies in front of the collector. A
    /// request from one of them is counted for the client its `X-Forwarded-For` names (the
    /// nearest address that is not a trusted proxy); empty: the TCP peer, always.
    pub trusted_proxies: Vec<ipnet::IpNet>,
}

pub const DEFAULT_REPORT_MAX_BODY: u64 = 64 * 1024;
pub const DEFAULT_REPORTS_PER_SOURCE: u32 = 60;
pub const DEFAULT_MAX_VIOLATIONS: u64 = 10_000;

impl Default for Reports {
    fn default() -> Self {
        Reports {
            listen: None,
            max_body: DEFAULT_REPORT_MAX_BODY,
            per_source_per_minute: DEFAULT_REPORTS_PER_SOURCE,
            max_violations: DEFAULT_MAX_VIOLATIONS,
            public_url: None,
            trusted_proxies: Vec::new(),
        }
    }
}

impl Reports {
    /// The `report-uri` of `page`'s policy, from `public_url`.
    pub fn report_uri(&self, page: &str) -> Option<String> {
        self.public_url.as_ref().map(|u| format!("{}/csp/{}", u.trim_end_matches('/'), page))
    }
}

/// `[watch]`: what the daemon serves besides scanning.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Watch {
    /// `listen`: where `/metrics` (Prometheus) and `/healthz` are served; `None`: not at all.
    /// A bare port means loopback (`127.0.0.1:PORT`).
    pub listen: Option<std::net::SocketAddr>,
}

/// `[storage] keep`: how much history pruning keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Keep {
    /// A whole number: the script bodies of the last N successful scans of each page keep
    /// their text, older ones are pruned to their SHA-256 (unless a baseline or an open finding
    /// names them); no scan is deleted.
    Scans(usize),
    /// A duration (`"400d"`, the default): scans older than this are deleted, their seals kept
    /// as one link of the scan log per pruned range, and then the script rows, bodies and
    /// screenshots that no baseline, open finding or retained scan refers to. Each page's latest
    /// successful scan is always kept. Body text is also pruned as with
    /// `Scans(`[`BODY_TEXT_SCANS`]`)`.
    Age(Duration),
}

/// Default retention: a PCI DSS assessment year with a month to spare.
pub const DEFAULT_RETENTION: Duration = Duration::from_secs(400 * 24 * 3600);
/// With retention by age, the script bodies of the last this many successful scans of each
/// page keep their text (older unapproved versions are pruned to their SHA-256), so a page that
/// writes new code on every load cannot fill the disk within the retention period.
pub const BODY_TEXT_SCANS: usize = 30;

/// Storage locations, already resolved against the config file's directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Storage {
    /// SQLite database of scans.
    pub database: PathBuf,
    /// Folder of baseline files.
    pub baselines: PathBuf,
    /// `keep`: what pruning keeps (see [`Keep`]).
    pub keep: Keep,
    /// `max_database_size`: the database size budget in bytes (`None`: only the disk limits it).
    pub max_database_size: Option<u64>,
}

impl Storage {
    /// The default database and baselines folder in `dir` (the config file's folder).
    pub fn beside(dir: &Path) -> Storage {
        Storage {
            database: dir.join(DEFAULT_DATABASE),
            baselines: dir.join(DEFAULT_BASELINES),
            keep: Keep::Age(DEFAULT_RETENTION),
            max_database_size: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Browser {
    /// Chromium to run; `None` means autodetect. A bare command name (no `/`) is kept as-is
    /// for a `PATH` lookup; a path with a `/` is resolved against the config directory.
    pub executable: Option<PathBuf>,
    /// DevTools address of a Chromium that is already running (`ws://…/devtools/browser/<id>`,
    /// or `http://host:port` to look the websocket up). When set, no Chromium is launched and
    /// `executable` is not used.
    pub endpoint: Option<String>,
    /// Default per-page load timeout.
    pub timeout: Duration,
    /// Default minimum time to keep watching after load.
    pub settle: Duration,
    /// Pages `watch` scans at the same time in the one Chromium.
    pub max_pages: MaxPages,
    /// `host_resolver_rules`: Chromium's `--host-resolver-rules` for a launched Chromium
    /// (`MAP shop.example 10.0.0.5`): a staging host, or a test's fake domain on loopback.
    pub host_resolver_rules: Option<String>,
}

/// `[browser] max_pages`: how many scans `watch` runs at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MaxPages {
    /// Exactly this many (1–64).
    Fixed(usize),
    /// `"auto"` (the default): one per core, and more while the CPU and memory have room (see
    /// `watch::admission`).
    #[default]
    Auto,
}

impl std::fmt::Display for MaxPages {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            MaxPages::Fixed(n) => write!(f, "{n}"),
            MaxPages::Auto => f.write_str("auto"),
        }
    }
}

impl Default for Browser {
    fn default() -> Self {
        Browser {
            executable: None,
            endpoint: None,
            timeout: DEFAULT_TIMEOUT,
            settle: DEFAULT_SETTLE,
            max_pages: MaxPages::Auto,
            host_resolver_rules: None,
        }
    }
}

/// `[intel]`: the known-bad and vulnerable-library data scans check against (see
/// docs/intel.md). The shipped lists are always used; these add to them.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Intel {
    /// `lists`: the user's own domain lists (one domain a line, `#` comments).
    pub lists: Vec<PathBuf>,
    /// `rules`: a folder of the user's own YARA rules (`*.yar`, `*.yara`).
    pub rules: Option<PathBuf>,
    /// `cache_dir`: where `intel update` keeps what it fetched (default: `intel` beside the
    /// database).
    pub cache_dir: PathBuf,
    /// `[[intel.source]]`: upstream URLs; one named like a shipped source replaces its URL.
    pub sources: Vec<IntelSource>,
}

/// `[[intel.source]]`: where `intel update` fetches one source from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IntelSource {
    pub name: String,
    pub url: String,
    /// `domains` or `retirejs` (optional for a shipped source's name).
    pub kind: IntelKind,
}

/// The sources skimwatch ships a copy of (`intel/` in the repository), with the upstream URL
/// `intel update` fetches each from unless a `[[intel.source]]` of that name gives another.
pub const SHIPPED_INTEL: [(&str, IntelKind, &str); 2] = [
    (
        "maltrail-magentocore",
        IntelKind::Domains,
        "https://raw.githubusercontent.com/stamparm/maltrail/master/trails/static/malicious/magentocore.txt",
    ),
    (
        "retirejs",
        IntelKind::RetireJs,
        "https://raw.githubusercontent.com/RetireJS/retire.js/master/repository/jsrepository-v4.json",
    ),
];

/// The kind of the shipped source named `name`.
pub fn shipped_intel_kind(name: &str) -> Option<IntelKind> {
    SHIPPED_INTEL.iter().find(|(n, _, _)| *n == name).map(|(_, k, _)| *k)
}

impl Intel {
    /// Every source `intel update` fetches: the shipped ones (with their URL replaced by a
    /// `[[intel.source]]` of the same name), then the others configured.
    pub fn update_sources(&self) -> Vec<IntelSource> {
        let mut out: Vec<IntelSource> = SHIPPED_INTEL
            .iter()
            .map(|(name, kind, url)| {
                self.sources.iter().find(|s| s.name == *name).cloned().unwrap_or(IntelSource {
                    name: name.to_string(),
                    url: url.to_string(),
                    kind: *kind,
                })
            })
            .collect();
        out.extend(self.sources.iter().filter(|s| shipped_intel_kind(&s.name).is_none()).cloned());
        out
    }
}

/// The formats an intelligence source can have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IntelKind {
    Domains,
    RetireJs,
}

impl IntelKind {
    pub fn as_str(self) -> &'static str {
        match self {
            IntelKind::Domains => "domains",
            IntelKind::RetireJs => "retirejs",
        }
    }
}

/// `[alerts]`, `[alerts.email]` and `[[alerts.webhook]]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Alerts {
    /// Where alerts are mailed; `None` means no email. With neither email nor webhooks, alerts
    /// are only logged.
    pub email: Option<EmailConfig>,
    /// `[[alerts.webhook]]`: HTTP destinations, each with its own delivery state.
    pub webhooks: Vec<WebhookConfig>,
    /// A finding still unapproved this long after it was mailed is mailed again (a reminder).
    pub renotify: Duration,
    /// Failed scans in a row of one page that raise a `scan_failing` alert.
    pub failures_before_alert: u32,
    /// No successful scan of any page for this long means the monitor is blind; `None` means
    /// three times each page's interval.
    pub stale_after: Option<Duration>,
    /// First delay before a failed delivery is tried again; it doubles up to an hour.
    pub retry: Duration,
    /// Folder with template files overriding the built-in ones (`subject.txt.j2`,
    /// `email.txt.j2`, `email.html.j2`), resolved against the config file's folder.
    pub templates: Option<PathBuf>,
}

impl Default for Alerts {
    fn default() -> Self {
        Alerts {
            email: None,
            webhooks: Vec::new(),
            renotify: DEFAULT_RENOTIFY,
            failures_before_alert: DEFAULT_FAILURES_BEFORE_ALERT,
            stale_after: None,
            retry: DEFAULT_RETRY,
            templates: None,
        }
    }
}

/// `[alerts.email]`: SMTP delivery. The password never lives in the file: `password_env` names
/// the environment variable that holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmailConfig {
    /// `smtp://host[:port][?tls=required|none]` (STARTTLS when offered) or `smtps://host[:port]`.
    pub smtp: String,
    pub from: String,
    pub to: Vec<String>,
    pub username: Option<String>,
    pub password_env: Option<String>,
    /// Findings below this severity are not mailed.
    pub min_severity: crate::model::Severity,
}

/// Per-request time limit of a webhook when `timeout` is not set.
pub const DEFAULT_WEBHOOK_TIMEOUT: Duration = Duration::from_secs(10);

/// `[[alerts.webhook]]`: one HTTP destination for alerts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookConfig {
    /// Names the destination in the outbox, `status` and logs (`webhook:<name>`); unique.
    /// Defaults to the URL's host (`url`) or the kind (`url_env`).
    pub name: String,
    pub url: WebhookUrl,
    pub kind: WebhookKind,
    /// Findings below this severity are not sent to this destination.
    pub min_severity: crate::model::Severity,
    /// `kind = "json"`: the environment variable holding the HMAC-SHA256 signing secret.
    pub secret_env: Option<String>,
    /// Limit for one request (connect, send, answer).
    pub timeout: Duration,
}

impl WebhookConfig {
    /// The environment variable holding the URL, with `url_env`.
    pub fn url_env(&self) -> Option<&str> {
        match &self.url {
            WebhookUrl::Env(name) => Some(name),
            WebhookUrl::Literal(_) => None,
        }
    }
}

/// Where a webhook posts: the URL itself, or the environment variable that holds it (a Slack or
/// Teams webhook URL is itself the credential).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WebhookUrl {
    Literal(String),
    Env(String),
}

/// The body a webhook receives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WebhookKind {
    /// skimwatch's signed JSON contract (docs/webhooks.md).
    Json,
    /// A Slack incoming webhook: a Block Kit message.
    Slack,
    /// A Microsoft Teams incoming webhook or workflow: a message with an Adaptive Card.
    Teams,
}

impl WebhookKind {
    pub const ALL: [WebhookKind; 3] = [WebhookKind::Json, WebhookKind::Slack, WebhookKind::Teams];

    pub fn as_str(self) -> &'static str {
        match self {
            WebhookKind::Json => "json",
            WebhookKind::Slack => "slack",
            WebhookKind::Teams => "teams",
        }
    }
}

impl std::fmt::Display for WebhookKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One monitored page, with `timeout` and `settle` already merged with the `[browser]` defaults.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageConfig {
    pub name: String,
    pub url: String,
    pub timeout: Duration,
    pub settle: Duration,
    /// Query parameters that do not make a script's identity (`ignore_query = ["v", "_"]`;
    /// `"*"` ignores every parameter). Content is still hashed and compared.
    pub ignore_query: Vec<String>,
    /// `[[page.policy]]` entries: vendors whose scripts are trusted by URL.
    pub policies: Vec<Policy>,
    /// An approved script is reported removed once absent from this many consecutive scans.
    pub removed_after: u32,
    /// How often `watch` scans this page.
    pub interval: Duration,
    /// What the scan does after load: `none`, `type`, `type-and-submit` or `complete` (default).
    pub interact: InteractMode,
    /// The device the scan pretends to be: `desktop` (default) or `mobile`.
    pub profile: Profile,
    /// CSS selectors of payment fields, added to the ones found by their attributes.
    pub payment_fields: Vec<String>,
    /// Hosts allowed to receive card data (the payment provider): `host`, `host:port`,
    /// `host:*`, `*.domain`.
    pub card_data_hosts: Vec<String>,
    /// Hosts allowed to receive the shopper's personal data (same syntax as
    /// `card_data_hosts`); the page's own site always may.
    pub personal_data_hosts: Vec<String>,
    /// A cookie living longer than this is a `cookie_change` (default 395 days, the CNIL's
    /// 13 months).
    pub max_cookie_lifetime: std::time::Duration,
    /// `[[page.step]]`: the journey from `url` to the payment form (empty: `url` is it).
    pub steps: Vec<crate::model::JourneyStep>,
    /// `headers`, `cookies`, `proxy`, `locale`, `timezone`: how the scan presents itself.
    pub session: crate::model::Session,
}

impl Default for PageConfig {
    fn default() -> Self {
        PageConfig::new("", "")
    }
}

/// Default for [`PageConfig::max_cookie_lifetime`]: 13 months (395 days).
pub const DEFAULT_MAX_COOKIE_LIFETIME: std::time::Duration = std::time::Duration::from_secs(395 * 86_400);

/// Default for [`PageConfig::removed_after`].
pub const DEFAULT_REMOVED_AFTER: u32 = 3;

impl PageConfig {
    /// A page with the default timeout and settle time.
    pub fn new(name: impl Into<String>, url: impl Into<String>) -> PageConfig {
        PageConfig {
            name: name.into(),
            url: url.into(),
            timeout: DEFAULT_TIMEOUT,
            settle: DEFAULT_SETTLE,
            ignore_query: Vec::new(),
            policies: Vec::new(),
            removed_after: DEFAULT_REMOVED_AFTER,
            interval: DEFAULT_INTERVAL,
            interact: InteractMode::default(),
            profile: Profile::default(),
            payment_fields: Vec::new(),
            card_data_hosts: Vec::new(),
            personal_data_hosts: Vec::new(),
            max_cookie_lifetime: DEFAULT_MAX_COOKIE_LIFETIME,
            steps: Vec::new(),
            session: Default::default(),
        }
    }
}

/// Whether `name` may name a page: letters, digits, `_` and `-` (it names the baseline file).
pub fn is_page_name(name: &str) -> bool {
    !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

/// What a policy trusts. Only `url` for now: the script's content may change at will as long
/// as it is served from a URL matching the pattern.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trust {
    Url,
}

/// `[[page.policy]] match = "https://js.stripe.com/v3/*" trust = "url" reason = "…"`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    /// URL pattern; `*` matches any run of characters (including `/`).
    pub pattern: String,
    pub trust: Trust,
    /// Why the vendor is trusted (shown in findings and in the baseline's audit trail).
    pub reason: String,
}

impl Policy {
    /// True when `url` matches the pattern (`*` = any characters; everything else literal).
    pub fn matches(&self, url: &str) -> bool {
        wildcard_match(&self.pattern, url)
    }
}

/// `*` matches any run of characters, everything else is literal; iterative, so no
/// backtracking blow-up on a long URL (also a journey's `wait_for_url`).
pub fn wildcard_match(pattern: &str, text: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == text;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !text.starts_with(first) || text.len() < first.len() + last.len() || !text.ends_with(last) {
        return false;
    }
    let mut rest = &text[first.len()..text.len() - last.len()];
    for part in &parts[1..parts.len() - 1] {
        match rest.find(part) {
            Some(i) => rest = &rest[i + part.len()..],
            None => return false,
        }
    }
    true
}

impl Config {
    /// A config with the given pages and defaults for everything else (used by the demo).
    pub fn with_pages(path: &Path, pages: Vec<PageConfig>) -> Config {
        Config {
            path: path.to_path_buf(),
            storage: Storage::beside(config_dir(path)),
            browser: Browser::default(),
            pages,
            alerts: Alerts::default(),
            watch: Watch::default(),
            intel: Intel { cache_dir: config_dir(path).join("intel"), ..Intel::default() },
            reports: Reports::default(),
        }
    }

    /// The page named `name`, if configured.
    pub fn page(&self, name: &str) -> Option<&PageConfig> {
        self.pages.iter().find(|p| p.name == name)
    }
}

/// The folder relative paths in the config file are resolved against.
fn config_dir(path: &Path) -> &Path {
    path.parent().unwrap_or(Path::new(""))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn with_pages_uses_defaults() {
        let c = Config::with_pages(
            Path::new("/tmp/demo/skimwatch.toml"),
            vec![PageConfig::new("demo", "http://127.0.0.1:1/")],
        );
        assert_eq!(c.storage.database, Path::new("/tmp/demo/skimwatch.db"));
        assert_eq!(c.storage.baselines, Path::new("/tmp/demo/baselines"));
        assert_eq!(c.browser.timeout, DEFAULT_TIMEOUT);
        assert_eq!(c.page("demo").unwrap().settle, DEFAULT_SETTLE);
    }

    #[test]
    fn wildcards_match_any_run_of_characters() {
        let p = |pattern: &str| Policy { pattern: pattern.into(), trust: Trust::Url, reason: String::new() };
        assert!(p("https://a.example/x").matches("https://a.example/x"));
        assert!(!p("https://a.example/x").matches("https://a.example/xy"));
        assert!(p("https://*.example/*.js").matches("https://cdn.example/lib/a.js"));
        assert!(!p("https://*.example/*.js").matches("https://cdn.example/lib/a.css"));
        assert!(!p("a*a").matches("a"));
    }
}
