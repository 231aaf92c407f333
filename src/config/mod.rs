//! The configuration file, `skimwatch.toml`: where data is stored, how the browser is run, and
//! which pages are monitored.
//!
//! The file is walked key by key from toml's spanned document tree rather than through serde,
//! so that every error can name the file, line, column and key (`page[1].url`) — a monitor that
//! silently ignored a misspelt key would watch less than its owner thinks. Unknown keys are
//! errors. Relative paths are resolved against the config file's directory, so a config behaves
//! the same whatever the working directory of the cron job or CI runner.

pub mod rebase;

use crate::model::{InteractMode, Profile};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Duration;
use thiserror::Error;
use toml::de::{DeTable, DeValue};
use toml::Spanned;

/// Config file looked for when none is given.
pub const DEFAULT_FILE: &str = "skimwatch.toml";
pub const DEFAULT_DATABASE: &str = "skimwatch.db";
pub const DEFAULT_BASELINES: &str = "baselines";
/// Per-page load timeout when none is configured.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
/// Minimum time to keep watching a page after load when none is configured.
pub const DEFAULT_SETTLE: Duration = Duration::from_secs(10);
/// (At least 10 s in all from load, so that timers and late-inserted tags run.)
/// How often `watch` scans a page when the page sets no `interval`.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(15 * 60);
/// Pages `watch` scans at the same time when `[browser] max_pages` is not set.
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
}

/// Storage locations, already resolved against the config file's directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Storage {
    /// SQLite database of scans.
    pub database: PathBuf,
    /// Folder of baseline files.
    pub baselines: PathBuf,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Browser {
    /// Chromium to run; `None` means autodetect. A bare command name (no `/`) is kept as-is
    /// for a `PATH` lookup; a path with a `/` is resolved against the config directory.
    pub executable: Option<PathBuf>,
    /// Default per-page load timeout.
    pub timeout: Duration,
    /// Default minimum time to keep watching after load.
    pub settle: Duration,
    /// Pages `watch` scans at the same time in the one Chromium.
    pub max_pages: usize,
}

impl Default for Browser {
    fn default() -> Self {
        Browser { executable: None, timeout: DEFAULT_TIMEOUT, settle: DEFAULT_SETTLE, max_pages: DEFAULT_MAX_PAGES }
    }
}

/// `[alerts]` and `[alerts.email]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Alerts {
    /// Where alerts are mailed; `None` means alerts are only logged.
    pub email: Option<EmailConfig>,
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
    /// What the scan does after load: `none`, `type` (default) or `type-and-submit`.
    pub interact: InteractMode,
    /// The device the scan pretends to be: `desktop` (default) or `mobile`.
    pub profile: Profile,
    /// CSS selectors of payment fields, added to the ones found by their attributes.
    pub payment_fields: Vec<String>,
    /// Hosts allowed to receive card data (the payment provider): `host`, `host:port`,
    /// `host:*`, `*.domain`.
    pub card_data_hosts: Vec<String>,
}

impl Default for PageConfig {
    fn default() -> Self {
        PageConfig::new("", "")
    }
}

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
        }
    }
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

fn wildcard_match(pattern: &str, text: &str) -> bool {
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

#[derive(Debug, Error)]
pub enum ConfigError {
    #[error("{}: config file not found; pass --config <file> or create {DEFAULT_FILE}", path.display())]
    NotFound { path: PathBuf },
    #[error("{}: cannot read config file: {source}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The file is not valid TOML.
    #[error("{}:{line}:{column}: {message}", path.display())]
    Syntax { path: PathBuf, line: usize, column: usize, message: String },
    /// Valid TOML, but a key is unknown, missing or has a bad value.
    #[error("{}:{line}:{column}: {key}: {message}", path.display())]
    Invalid { path: PathBuf, line: usize, column: usize, key: String, message: String },
}

impl Config {
    /// Reads and validates the config file at `path`.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| {
            if source.kind() == std::io::ErrorKind::NotFound {
                ConfigError::NotFound { path: path.to_path_buf() }
            } else {
                ConfigError::Read { path: path.to_path_buf(), source }
            }
        })?;
        Config::parse(&text, path)
    }

    /// Validates config `text` as if read from `path` (used for messages and relative paths).
    pub fn parse(text: &str, path: &Path) -> Result<Config, ConfigError> {
        let doc = DeTable::parse(text).map_err(|e| {
            let (line, column) = line_col(text, e.span().map_or(0, |s| s.start));
            ConfigError::Syntax {
                path: path.to_path_buf(),
                line,
                column,
                message: e.message().trim().replace('\n', "; "),
            }
        })?;
        Reader { text, path }.config(doc.get_ref())
    }

    /// A config with the given pages and defaults for everything else (used by the demo).
    pub fn with_pages(path: &Path, pages: Vec<PageConfig>) -> Config {
        let dir = config_dir(path);
        Config {
            path: path.to_path_buf(),
            storage: Storage { database: dir.join(DEFAULT_DATABASE), baselines: dir.join(DEFAULT_BASELINES) },
            browser: Browser::default(),
            pages,
            alerts: Alerts::default(),
        }
    }

    /// The page named `name`, if configured.
    pub fn page(&self, name: &str) -> Option<&PageConfig> {
        self.pages.iter().find(|p| p.name == name)
    }
}

fn config_dir(path: &Path) -> &Path {
    path.parent().unwrap_or(Path::new(""))
}

/// 1-based line and column (in characters) of byte `offset` in `text`.
fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    (line, text[line_start..offset].chars().count() + 1)
}

type Entry<'t, 'i> = (&'t Spanned<toml::de::DeString<'i>>, &'t Spanned<DeValue<'i>>);

/// Walks the parsed document, turning it into a [`Config`] or the first error in file order.
struct Reader<'a> {
    text: &'a str,
    path: &'a Path,
}

impl Reader<'_> {
    fn err(&self, span: Range<usize>, key: &str, message: impl Into<String>) -> ConfigError {
        let (line, column) = line_col(self.text, span.start);
        ConfigError::Invalid {
            path: self.path.to_path_buf(),
            line,
            column,
            key: key.to_string(),
            message: message.into(),
        }
    }

    fn config(&self, root: &DeTable<'_>) -> Result<Config, ConfigError> {
        self.check_keys(root, "", &["storage", "browser", "page", "alerts"])?;
        let dir = config_dir(self.path);

        let mut storage = Storage { database: dir.join(DEFAULT_DATABASE), baselines: dir.join(DEFAULT_BASELINES) };
        if let Some((_, value)) = get(root, "storage") {
            let table = self.table(value, "storage")?;
            self.check_keys(table, "storage", &["database", "baselines"])?;
            if let Some((_, v)) = get(table, "database") {
                storage.database = dir.join(self.non_empty_string(v, "storage.database")?);
            }
            if let Some((_, v)) = get(table, "baselines") {
                storage.baselines = dir.join(self.non_empty_string(v, "storage.baselines")?);
            }
        }

        let mut browser = Browser::default();
        if let Some((_, value)) = get(root, "browser") {
            let table = self.table(value, "browser")?;
            self.check_keys(table, "browser", &["executable", "timeout", "settle", "max_pages"])?;
            if let Some((_, v)) = get(table, "executable") {
                let exe = self.non_empty_string(v, "browser.executable")?;
                // A bare name is a command for PATH lookup, not a file next to the config.
                browser.executable =
                    Some(if exe.contains('/') || exe.contains(std::path::MAIN_SEPARATOR) { dir.join(exe) } else { PathBuf::from(exe) });
            }
            if let Some((_, v)) = get(table, "timeout") {
                browser.timeout = self.timeout(v, "browser.timeout")?;
            }
            if let Some((_, v)) = get(table, "settle") {
                browser.settle = self.duration(v, "browser.settle")?;
            }
            if let Some((_, v)) = get(table, "max_pages") {
                browser.max_pages = self.count(v, "browser.max_pages", 1, 64)? as usize;
            }
        }

        let pages = self.pages(root, &browser)?;
        let alerts = match get(root, "alerts") {
            Some((_, value)) => self.alerts(value, dir)?,
            None => Alerts::default(),
        };
        Ok(Config { path: self.path.to_path_buf(), storage, browser, pages, alerts })
    }

    fn alerts(&self, value: &Spanned<DeValue<'_>>, dir: &Path) -> Result<Alerts, ConfigError> {
        let table = self.table(value, "alerts")?;
        self.check_keys(
            table,
            "alerts",
            &["email", "renotify", "failures_before_alert", "stale_after", "retry", "templates"],
        )?;
        let mut alerts = Alerts::default();
        if let Some((_, v)) = get(table, "renotify") {
            alerts.renotify = self.timeout(v, "alerts.renotify")?;
        }
        if let Some((_, v)) = get(table, "failures_before_alert") {
            alerts.failures_before_alert = self.count(v, "alerts.failures_before_alert", 1, 1000)? as u32;
        }
        if let Some((_, v)) = get(table, "stale_after") {
            alerts.stale_after = Some(self.timeout(v, "alerts.stale_after")?);
        }
        if let Some((_, v)) = get(table, "retry") {
            alerts.retry = self.timeout(v, "alerts.retry")?;
        }
        if let Some((_, v)) = get(table, "templates") {
            alerts.templates = Some(dir.join(self.non_empty_string(v, "alerts.templates")?));
        }
        if let Some((_, v)) = get(table, "email") {
            alerts.email = Some(self.email(v)?);
        }
        Ok(alerts)
    }

    fn email(&self, value: &Spanned<DeValue<'_>>) -> Result<EmailConfig, ConfigError> {
        let table = self.table(value, "alerts.email")?;
        self.check_keys(
            table,
            "alerts.email",
            &["smtp", "from", "to", "username", "password_env", "min_severity"],
        )?;
        let required = |name: &str| {
            get(table, name)
                .map(|(_, v)| v)
                .ok_or_else(|| self.err(value.span(), &format!("alerts.email.{name}"), "missing required key"))
        };
        let smtp_value = required("smtp")?;
        let smtp = self.non_empty_string(smtp_value, "alerts.email.smtp")?;
        if let Err(message) = check_smtp_url(smtp) {
            return Err(self.err(smtp_value.span(), "alerts.email.smtp", message));
        }
        let from_value = required("from")?;
        let from = self.mailbox(from_value, "alerts.email.from")?;
        let to_value = required("to")?;
        let to = match to_value.get_ref() {
            DeValue::String(_) => vec![self.mailbox(to_value, "alerts.email.to")?],
            DeValue::Array(items) => {
                let mut to = Vec::new();
                for (i, item) in items.iter().enumerate() {
                    to.push(self.mailbox(item, &format!("alerts.email.to[{i}]"))?);
                }
                if to.is_empty() {
                    return Err(self.err(to_value.span(), "alerts.email.to", "no recipient: list at least one address"));
                }
                to
            }
            other => {
                return Err(self.err(
                    to_value.span(),
                    "alerts.email.to",
                    format!("expected a list of addresses, found {}", other.type_str()),
                ))
            }
        };
        let username = match get(table, "username") {
            Some((_, v)) => Some(self.non_empty_string(v, "alerts.email.username")?.to_string()),
            None => None,
        };
        let password_env = match get(table, "password_env") {
            Some((_, v)) => {
                let name = self.non_empty_string(v, "alerts.email.password_env")?;
                if !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                    return Err(self.err(
                        v.span(),
                        "alerts.email.password_env",
                        format!("{name:?} is not an environment variable name: give the NAME of the variable that holds the password, never the password itself"),
                    ));
                }
                Some(name.to_string())
            }
            None => None,
        };
        if password_env.is_some() && username.is_none() {
            return Err(self.err(value.span(), "alerts.email.username", "password_env is set but username is missing"));
        }
        let min_severity = match get(table, "min_severity") {
            Some((_, v)) => {
                let text = self.string(v, "alerts.email.min_severity")?;
                text.parse().map_err(|e: String| self.err(v.span(), "alerts.email.min_severity", e))?
            }
            None => crate::model::Severity::Medium,
        };
        Ok(EmailConfig { smtp: smtp.to_string(), from, to, username, password_env, min_severity })
    }

    /// An email address, optionally with a display name (`Name <a@b.example>`).
    fn mailbox(&self, value: &Spanned<DeValue<'_>>, key: &str) -> Result<String, ConfigError> {
        let text = self.non_empty_string(value, key)?;
        text.parse::<lettre::message::Mailbox>()
            .map_err(|e| self.err(value.span(), key, format!("{text:?} is not an email address ({e})")))?;
        Ok(text.to_string())
    }

    /// A whole number in `min..=max`.
    fn count(&self, value: &Spanned<DeValue<'_>>, key: &str, min: i64, max: i64) -> Result<i64, ConfigError> {
        let n = match value.get_ref() {
            DeValue::Integer(i) => i64::from_str_radix(i.as_str(), i.radix()).ok(),
            other => return Err(self.err(value.span(), key, format!("expected a whole number, found {}", other.type_str()))),
        };
        match n {
            Some(n) if (min..=max).contains(&n) => Ok(n),
            _ => Err(self.err(value.span(), key, format!("must be a whole number from {min} to {max}"))),
        }
    }

    fn pages(&self, root: &DeTable<'_>, browser: &Browser) -> Result<Vec<PageConfig>, ConfigError> {
        let Some((key, value)) = get(root, "page") else {
            return Err(self.err(0..0, "page", "no [[page]] tables: add at least one page to monitor"));
        };
        let DeValue::Array(array) = value.get_ref() else {
            return Err(self.err(
                value.span(),
                "page",
                format!("expected [[page]] tables (an array of tables), found {}", value.get_ref().type_str()),
            ));
        };
        if array.iter().next().is_none() {
            return Err(self.err(key.span(), "page", "no pages listed: add at least one page to monitor"));
        }
        let mut pages: Vec<PageConfig> = Vec::new();
        // name → line of its first definition, for the duplicate message.
        let mut seen: Vec<(String, usize)> = Vec::new();
        for (i, elem) in array.iter().enumerate() {
            let prefix = format!("page[{i}]");
            let table = self.table(elem, &prefix)?;
            self.check_keys(table, &prefix, &["name", "url", "timeout", "settle", "ignore_query", "policy", "removed_after", "interval", "interact", "profile", "payment_fields", "card_data_hosts"])?;
            let required = |name: &str| {
                get(table, name).map(|(_, v)| v).ok_or_else(|| {
                    self.err(elem.span(), &format!("{prefix}.{name}"), "missing required key")
                })
            };

            let name_value = required("name")?;
            let name_key = format!("{prefix}.name");
            let name = self.non_empty_string(name_value, &name_key)?;
            if !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') {
                return Err(self.err(
                    name_value.span(),
                    &name_key,
                    format!("{name:?} is not a valid page name (use only letters, digits, `_` and `-`)"),
                ));
            }
            if let Some((_, first_line)) = seen.iter().find(|(n, _)| n == name) {
                return Err(self.err(
                    name_value.span(),
                    &name_key,
                    format!("duplicate page name {name:?} (first defined at line {first_line})"),
                ));
            }
            seen.push((name.to_string(), line_col(self.text, name_value.span().start).0));

            let url_value = required("url")?;
            let url_key = format!("{prefix}.url");
            let url = self.string(url_value, &url_key)?;
            if !is_http_url(url) {
                return Err(self.err(url_value.span(), &url_key, format!("{url:?} is not an http(s) URL")));
            }

            let timeout = match get(table, "timeout") {
                Some((_, v)) => self.timeout(v, &format!("{prefix}.timeout"))?,
                None => browser.timeout,
            };
            let settle = match get(table, "settle") {
                Some((_, v)) => self.duration(v, &format!("{prefix}.settle"))?,
                None => browser.settle,
            };
            let interval = match get(table, "interval") {
                Some((_, v)) => self.timeout(v, &format!("{prefix}.interval"))?,
                None => DEFAULT_INTERVAL,
            };
            let ignore_query = match get(table, "ignore_query") {
                Some((_, v)) => self.string_list(v, &format!("{prefix}.ignore_query"), |_| None)?,
                None => Vec::new(),
            };
            let policies = match get(table, "policy") {
                Some((_, v)) => self.policies(v, &format!("{prefix}.policy"))?,
                None => Vec::new(),
            };
            let removed_after = match get(table, "removed_after") {
                Some((_, v)) => self.count(v, &format!("{prefix}.removed_after"), 1, 1000)? as u32,
                None => DEFAULT_REMOVED_AFTER,
            };
            let mut page = PageConfig {
                name: name.to_string(),
                url: url.to_string(),
                timeout,
                settle,
                ignore_query,
                policies,
                removed_after,
                interval,
                ..PageConfig::default()
            };
            if let Some((_, v)) = get(table, "interact") {
                let key = format!("{prefix}.interact");
                let text = self.string(v, &key)?;
                page.interact = InteractMode::parse(text)
                    .ok_or_else(|| self.err(v.span(), &key, format!("{text:?} is not an interaction (expected {})", InteractMode::NAMES)))?;
            }
            if let Some((_, v)) = get(table, "profile") {
                let key = format!("{prefix}.profile");
                let text = self.string(v, &key)?;
                page.profile = Profile::parse(text)
                    .ok_or_else(|| self.err(v.span(), &key, format!("{text:?} is not a profile (expected {})", Profile::NAMES)))?;
            }
            if let Some((_, v)) = get(table, "payment_fields") {
                page.payment_fields = self.string_list(v, &format!("{prefix}.payment_fields"), |_| None)?;
            }
            if let Some((_, v)) = get(table, "card_data_hosts") {
                page.card_data_hosts = self.string_list(v, &format!("{prefix}.card_data_hosts"), |h| {
                    (h.contains('/') || h.contains('@') || h.contains(char::is_whitespace))
                        .then(|| format!("{h:?} is not a host: write `host`, `host:port`, `host:*` or `*.domain`, without scheme or path"))
                })?;
            }
            pages.push(page);
        }
        Ok(pages)
    }

    /// `[[page.policy]]` tables.
    fn policies(&self, value: &Spanned<DeValue<'_>>, key: &str) -> Result<Vec<Policy>, ConfigError> {
        let DeValue::Array(array) = value.get_ref() else {
            return Err(self.err(value.span(), key, format!("expected [[page.policy]] tables, found {}", value.get_ref().type_str())));
        };
        let mut out = Vec::new();
        for (i, elem) in array.iter().enumerate() {
            let prefix = format!("{key}[{i}]");
            let table = self.table(elem, &prefix)?;
            self.check_keys(table, &prefix, &["match", "trust", "reason"])?;
            let required = |name: &str| {
                get(table, name)
                    .map(|(_, v)| v)
                    .ok_or_else(|| self.err(elem.span(), &format!("{prefix}.{name}"), "missing required key"))
            };
            let pattern_value = required("match")?;
            let pattern = self.non_empty_string(pattern_value, &format!("{prefix}.match"))?;
            if !is_http_url(&pattern.replace('*', "x")) {
                return Err(self.err(
                    pattern_value.span(),
                    &format!("{prefix}.match"),
                    format!("{pattern:?} is not an http(s) URL pattern such as \"https://js.stripe.com/v3/*\""),
                ));
            }
            let trust_value = required("trust")?;
            let trust = match self.string(trust_value, &format!("{prefix}.trust"))? {
                "url" => Trust::Url,
                other => {
                    return Err(self.err(trust_value.span(), &format!("{prefix}.trust"), format!("unknown trust {other:?} (expected \"url\")")))
                }
            };
            let reason = self.non_empty_string(required("reason")?, &format!("{prefix}.reason"))?;
            out.push(Policy { pattern: pattern.to_string(), trust, reason: reason.trim().to_string() });
        }
        Ok(out)
    }

    /// Fails on the first key (in file order) that is not in `allowed`.
    fn check_keys(&self, table: &DeTable<'_>, prefix: &str, allowed: &[&str]) -> Result<(), ConfigError> {
        let mut keys: Vec<_> = table.iter().map(|(k, _)| k).collect();
        keys.sort_by_key(|k| k.span().start);
        for key in keys {
            if !allowed.contains(&key.get_ref().as_ref()) {
                let path = if prefix.is_empty() { key.get_ref().to_string() } else { format!("{prefix}.{}", key.get_ref()) };
                return Err(self.err(key.span(), &path, format!("unknown key (expected {})", allowed.join(", "))));
            }
        }
        Ok(())
    }

    fn table<'t, 'i>(&self, value: &'t Spanned<DeValue<'i>>, key: &str) -> Result<&'t DeTable<'i>, ConfigError> {
        match value.get_ref() {
            DeValue::Table(t) => Ok(t),
            other => Err(self.err(value.span(), key, format!("expected a table, found {}", other.type_str()))),
        }
    }

    fn string<'t>(&self, value: &'t Spanned<DeValue<'_>>, key: &str) -> Result<&'t str, ConfigError> {
        match value.get_ref() {
            DeValue::String(s) => Ok(s.as_ref()),
            other => Err(self.err(value.span(), key, format!("expected a string, found {}", other.type_str()))),
        }
    }

    fn non_empty_string<'t>(&self, value: &'t Spanned<DeValue<'_>>, key: &str) -> Result<&'t str, ConfigError> {
        let s = self.string(value, key)?;
        if s.trim().is_empty() {
            return Err(self.err(value.span(), key, "must not be empty"));
        }
        Ok(s)
    }

    /// An array of non-empty strings; `check` returns a message for an invalid element.
    fn string_list(
        &self,
        value: &Spanned<DeValue<'_>>,
        key: &str,
        check: impl Fn(&str) -> Option<String>,
    ) -> Result<Vec<String>, ConfigError> {
        let DeValue::Array(items) = value.get_ref() else {
            return Err(self.err(value.span(), key, format!("expected an array of strings, found {}", value.get_ref().type_str())));
        };
        let mut out = Vec::new();
        for (i, item) in items.iter().enumerate() {
            let item_key = format!("{key}[{i}]");
            let s = self.non_empty_string(item, &item_key)?;
            if let Some(problem) = check(s) {
                return Err(self.err(item.span(), &item_key, problem));
            }
            out.push(s.trim().to_string());
        }
        Ok(out)
    }

    fn duration(&self, value: &Spanned<DeValue<'_>>, key: &str) -> Result<Duration, ConfigError> {
        let text = match value.get_ref() {
            DeValue::String(s) => s.as_ref(),
            other => {
                return Err(self.err(
                    value.span(),
                    key,
                    format!("expected a duration string such as \"30s\", found {}", other.type_str()),
                ))
            }
        };
        humantime::parse_duration(text.trim()).map_err(|e| {
            self.err(value.span(), key, format!("{text:?} is not a duration such as \"30s\" or \"1m 30s\" ({e})"))
        })
    }

    /// A duration that must be positive: a zero timeout would fail every page at once.
    fn timeout(&self, value: &Spanned<DeValue<'_>>, key: &str) -> Result<Duration, ConfigError> {
        let d = self.duration(value, key)?;
        if d.is_zero() {
            return Err(self.err(value.span(), key, "must be greater than zero"));
        }
        Ok(d)
    }
}

fn get<'t, 'i>(table: &'t DeTable<'i>, key: &str) -> Option<Entry<'t, 'i>> {
    table.iter().find(|(k, _)| k.get_ref().as_ref() == key)
}

/// Checks an `[alerts.email] smtp` URL; the message says what is wrong.
pub fn check_smtp_url(s: &str) -> Result<(), String> {
    let u = url::Url::parse(s).map_err(|e| format!("{s:?} is not a URL such as \"smtp://mail.example:587\" ({e})"))?;
    if !matches!(u.scheme(), "smtp" | "smtps") {
        return Err(format!("{s:?}: use smtp:// (STARTTLS when offered) or smtps:// (TLS from the start)"));
    }
    if u.host_str().map_or(true, |h| h.is_empty()) {
        return Err(format!("{s:?} names no mail server"));
    }
    if !u.username().is_empty() || u.password().is_some() {
        return Err("credentials do not belong in the URL: set `username` and `password_env` (the name of an environment variable holding the password)".to_string());
    }
    for (k, v) in u.query_pairs() {
        match (k.as_ref(), v.as_ref()) {
            ("tls", "required" | "none" | "opportunistic") if u.scheme() == "smtp" => {}
            ("tls", other) => {
                return Err(format!("tls={other:?}: use ?tls=required or ?tls=none with smtp:// (smtps:// is always TLS)"))
            }
            (other, _) => return Err(format!("unknown URL parameter {other:?} (only ?tls=required|none)")),
        }
    }
    Ok(())
}

fn is_http_url(s: &str) -> bool {
    match url::Url::parse(s) {
        Ok(u) => matches!(u.scheme(), "http" | "https") && u.host_str().is_some_and(|h| !h.is_empty()),
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Config, ConfigError> {
        Config::parse(text, Path::new("skimwatch.toml"))
    }

    fn error(text: &str) -> String {
        parse(text).expect_err("config should be rejected").to_string()
    }

    const FULL: &str = r#"[storage]
database = "data/sw.db"
baselines = "/srv/baselines"

[browser]
executable = "bin/chromium"
timeout = "20s"
settle = "500ms"

[[page]]
name = "checkout"
url = "https://shop.example/checkout"
settle = "2s"

[[page]]
name = "cart_2"
url = "http://localhost:8080/cart"
timeout = "1m"
"#;

    #[test]
    fn full_config_resolves_paths_and_merges_page_defaults() {
        let c = Config::parse(FULL, Path::new("/etc/skimwatch/skimwatch.toml")).unwrap();
        assert_eq!(c.path, Path::new("/etc/skimwatch/skimwatch.toml"));
        assert_eq!(c.storage.database, Path::new("/etc/skimwatch/data/sw.db"));
        assert_eq!(c.storage.baselines, Path::new("/srv/baselines"));
        assert_eq!(c.browser.executable.as_deref(), Some(Path::new("/etc/skimwatch/bin/chromium")));
        assert_eq!(c.browser.timeout, Duration::from_secs(20));
        assert_eq!(c.browser.settle, Duration::from_millis(500));
        assert_eq!(
            c.pages,
            vec![
                PageConfig {
                    name: "checkout".into(),
                    url: "https://shop.example/checkout".into(),
                    timeout: Duration::from_secs(20),
                    settle: Duration::from_secs(2),
                    ..PageConfig::default()
                },
                PageConfig {
                    name: "cart_2".into(),
                    url: "http://localhost:8080/cart".into(),
                    timeout: Duration::from_secs(60),
                    settle: Duration::from_millis(500),
                    ..PageConfig::default()
                },
            ]
        );
        assert_eq!(c.page("cart_2").unwrap().url, "http://localhost:8080/cart");
        assert!(c.page("nope").is_none());
    }

    #[test]
    fn defaults_when_storage_and_browser_are_missing() {
        let c = Config::parse("[[page]]\nname = \"a\"\nurl = \"https://x.example/\"\n", Path::new("conf/skimwatch.toml")).unwrap();
        assert_eq!(c.storage.database, Path::new("conf/skimwatch.db"));
        assert_eq!(c.storage.baselines, Path::new("conf/baselines"));
        assert_eq!(c.browser, Browser::default());
        assert_eq!(c.pages[0], PageConfig::new("a", "https://x.example/"));
        // Relative to a bare file name means relative to the working directory.
        let c = parse("[[page]]\nname = \"a\"\nurl = \"https://x.example/\"\n").unwrap();
        assert_eq!(c.storage.database, Path::new("skimwatch.db"));
    }

    #[test]
    fn bare_executable_name_is_kept_for_path_lookup() {
        let c = Config::parse(
            "[browser]\nexecutable = \"chromium\"\n[[page]]\nname = \"a\"\nurl = \"https://x.example/\"\n",
            Path::new("/etc/sw/skimwatch.toml"),
        )
        .unwrap();
        assert_eq!(c.browser.executable.as_deref(), Some(Path::new("chromium")));
    }

    #[test]
    fn with_pages_uses_defaults() {
        let c = Config::with_pages(Path::new("/tmp/demo/skimwatch.toml"), vec![PageConfig::new("demo", "http://127.0.0.1:1/")]);
        assert_eq!(c.storage.database, Path::new("/tmp/demo/skimwatch.db"));
        assert_eq!(c.storage.baselines, Path::new("/tmp/demo/baselines"));
        assert_eq!(c.browser.timeout, DEFAULT_TIMEOUT);
        assert_eq!(c.page("demo").unwrap().settle, DEFAULT_SETTLE);
    }

    #[test]
    fn unknown_key_names_line_and_key() {
        let msg = error("[storage]\ndatabase = \"a.db\"\ndatabse = \"b.db\"\n[[page]]\nname = \"a\"\nurl = \"https://x.example/\"\n");
        assert_eq!(msg, "skimwatch.toml:3:1: storage.databse: unknown key (expected database, baselines)");
        let msg = error("[[page]]\nname = \"a\"\nurl = \"https://x.example/\"\n[[page]]\nname = \"b\"\n  urll = \"https://x.example/\"\n");
        assert_eq!(msg, "skimwatch.toml:6:3: page[1].urll: unknown key (expected name, url, timeout, settle, ignore_query, policy, removed_after, interval, interact, profile, payment_fields, card_data_hosts)");
        let msg = error("[pages]\nname = \"a\"\n");
        assert_eq!(msg, "skimwatch.toml:1:2: pages: unknown key (expected storage, browser, page, alerts)");
    }

    #[test]
    fn interaction_keys_parse_and_bad_values_name_the_key() {
        let c = parse("[[page]]\nname = \"a\"\nurl = \"https://x.example/\"\ninteract = \"type-and-submit\"\nprofile = \"mobile\"\npayment_fields = [\"#cc\", \"input[name=cvv]\"]\ncard_data_hosts = [\"*.stripe.com\", \"127.0.0.2:*\"]\n").unwrap();
        let p = &c.pages[0];
        assert_eq!(p.interact, InteractMode::TypeAndSubmit);
        assert_eq!(p.profile, Profile::Mobile);
        assert_eq!(p.payment_fields, ["#cc", "input[name=cvv]"]);
        assert_eq!(p.card_data_hosts, ["*.stripe.com", "127.0.0.2:*"]);
        // Defaults: type, desktop, 10 s settle.
        let d = parse("[[page]]\nname = \"a\"\nurl = \"https://x.example/\"\n").unwrap();
        assert_eq!((d.pages[0].interact, d.pages[0].profile, d.pages[0].settle), (InteractMode::Type, Profile::Desktop, Duration::from_secs(10)));
        let base = "[[page]]\nname = \"a\"\nurl = \"https://x.example/\"\n";
        assert_eq!(
            error(&format!("{base}interact = \"submit\"\n")),
            "skimwatch.toml:4:12: page[0].interact: \"submit\" is not an interaction (expected \"none\", \"type\" or \"type-and-submit\")"
        );
        assert!(error(&format!("{base}profile = \"tablet\"\n")).contains("page[0].profile"));
        assert_eq!(
            error(&format!("{base}card_data_hosts = [\"ok.example\", \"https://pay.example/x\"]\n")),
            "skimwatch.toml:4:34: page[0].card_data_hosts[1]: \"https://pay.example/x\" is not a host: write `host`, `host:port`, `host:*` or `*.domain`, without scheme or path"
        );
        assert!(error(&format!("{base}payment_fields = \"#cc\"\n")).contains("page[0].payment_fields: expected an array of strings"));
        assert!(error(&format!("{base}payment_fields = [\"\"]\n")).contains("page[0].payment_fields[0]: must not be empty"));
    }

    #[test]
    fn bad_url_names_line_and_key() {
        let msg = error("[[page]]\nname = \"a\"\nurl = \"https://x.example/\"\n\n[[page]]\nname = \"b\"\nurl = \"ftp://x\"\n");
        assert_eq!(msg, "skimwatch.toml:7:7: page[1].url: \"ftp://x\" is not an http(s) URL");
        assert!(error("[[page]]\nname = \"a\"\nurl = \"/checkout\"\n").contains("page[0].url: \"/checkout\" is not an http(s) URL"));
    }

    #[test]
    fn missing_required_key_points_at_the_page_table() {
        let msg = error("[[page]]\nname = \"a\"\nurl = \"https://x.example/\"\n\n[[page]]\nname = \"b\"\n");
        assert_eq!(msg, "skimwatch.toml:5:1: page[1].url: missing required key");
        let msg = error("[[page]]\nurl = \"https://x.example/\"\n");
        assert_eq!(msg, "skimwatch.toml:1:1: page[0].name: missing required key");
    }

    #[test]
    fn bad_and_duplicate_names() {
        let msg = error("[[page]]\nname = \"check out\"\nurl = \"https://x.example/\"\n");
        assert!(msg.starts_with("skimwatch.toml:2:8: page[0].name: \"check out\" is not a valid page name"), "{msg}");
        let msg = error("[[page]]\nname = \"a\"\nurl = \"https://x.example/\"\n[[page]]\nname = \"a\"\nurl = \"https://y.example/\"\n");
        assert_eq!(msg, "skimwatch.toml:5:8: page[1].name: duplicate page name \"a\" (first defined at line 2)");
    }

    #[test]
    fn bad_durations_and_types() {
        let msg = error("[browser]\ntimeout = \"30 parsecs\"\n[[page]]\nname = \"a\"\nurl = \"https://x.example/\"\n");
        assert!(msg.starts_with("skimwatch.toml:2:11: browser.timeout: \"30 parsecs\" is not a duration"), "{msg}");
        let msg = error("[[page]]\nname = \"a\"\nurl = \"https://x.example/\"\nsettle = 2\n");
        assert_eq!(msg, "skimwatch.toml:4:10: page[0].settle: expected a duration string such as \"30s\", found integer");
        let msg = error("[[page]]\nname = \"a\"\nurl = \"https://x.example/\"\ntimeout = \"0s\"\n");
        assert_eq!(msg, "skimwatch.toml:4:11: page[0].timeout: must be greater than zero");
        let msg = error("storage = \"x\"\n[[page]]\nname = \"a\"\nurl = \"https://x.example/\"\n");
        assert_eq!(msg, "skimwatch.toml:1:11: storage: expected a table, found string");
        let msg = error("[page]\nname = \"a\"\nurl = \"https://x.example/\"\n");
        assert!(msg.starts_with("skimwatch.toml:1:1: page: expected [[page]] tables"), "{msg}");
    }

    #[test]
    fn no_pages_is_an_error() {
        assert_eq!(error(""), "skimwatch.toml:1:1: page: no [[page]] tables: add at least one page to monitor");
    }

    #[test]
    fn syntax_error_names_file_and_line() {
        let msg = error("[[page]]\nname = \"a\"\nurl = https://x.example/\n");
        assert!(msg.starts_with("skimwatch.toml:3:"), "{msg}");
        assert!(!msg.contains('\n'), "{msg}");
    }

    #[test]
    fn missing_file_suggests_config_flag() {
        let path = Path::new("/nonexistent/dir/skimwatch.toml");
        let err = Config::load(path).unwrap_err();
        assert!(matches!(err, ConfigError::NotFound { .. }));
        let msg = err.to_string();
        assert!(msg.contains("/nonexistent/dir/skimwatch.toml") && msg.contains("--config") && msg.contains("create skimwatch.toml"), "{msg}");
    }

    #[test]
    fn watch_and_alert_keys() {
        let c = parse(
            "[browser]\nmax_pages = 2\n[[page]]\nname = \"a\"\nurl = \"https://x.example/\"\ninterval = \"5m\"\n\
             [alerts]\nrenotify = \"12h\"\nfailures_before_alert = 5\nstale_after = \"1h\"\nretry = \"10s\"\ntemplates = \"mail\"\n\
             [alerts.email]\nsmtp = \"smtp://mail.example:587?tls=required\"\nfrom = \"skimwatch <sw@shop.example>\"\n\
             to = [\"secops@shop.example\", \"Ops <ops@shop.example>\"]\nusername = \"sw\"\npassword_env = \"SW_SMTP_PASSWORD\"\nmin_severity = \"high\"\n",
        )
        .unwrap();
        assert_eq!(c.browser.max_pages, 2);
        assert_eq!(c.pages[0].interval, Duration::from_secs(300));
        assert_eq!(c.alerts.renotify, Duration::from_secs(12 * 3600));
        assert_eq!(c.alerts.failures_before_alert, 5);
        assert_eq!(c.alerts.stale_after, Some(Duration::from_secs(3600)));
        assert_eq!(c.alerts.retry, Duration::from_secs(10));
        assert_eq!(c.alerts.templates.as_deref(), Some(Path::new("mail")));
        let email = c.alerts.email.unwrap();
        assert_eq!(email.to.len(), 2);
        assert_eq!(email.password_env.as_deref(), Some("SW_SMTP_PASSWORD"));
        assert_eq!(email.min_severity, crate::model::Severity::High);

        // Defaults.
        let c = parse("[[page]]\nname = \"a\"\nurl = \"https://x.example/\"\n").unwrap();
        assert_eq!((c.pages[0].interval, c.browser.max_pages), (DEFAULT_INTERVAL, DEFAULT_MAX_PAGES));
        assert_eq!(c.alerts, Alerts::default());
    }

    #[test]
    fn bad_alert_keys_name_line_and_key() {
        let page = "[[page]]\nname = \"a\"\nurl = \"https://x.example/\"\n";
        let email = |body: &str| error(&format!("{page}[alerts.email]\n{body}"));
        let base = "from = \"a@b.example\"\nto = [\"c@d.example\"]\n";
        assert_eq!(
            email(&format!("smtp = \"smtp://u:pw@mail.example\"\n{base}")),
            "skimwatch.toml:5:8: alerts.email.smtp: credentials do not belong in the URL: set `username` and `password_env` (the name of an environment variable holding the password)"
        );
        assert!(email(&format!("smtp = \"http://mail.example\"\n{base}")).starts_with("skimwatch.toml:5:8: alerts.email.smtp: \"http://mail.example\": use smtp://"));
        assert!(email(&format!("smtp = \"smtp://m.example?tls=maybe\"\n{base}")).contains("tls=\"maybe\""));
        assert!(email("smtp = \"smtp://m.example\"\nfrom = \"not an address\"\nto = [\"c@d.example\"]\n")
            .starts_with("skimwatch.toml:6:8: alerts.email.from: \"not an address\" is not an email address"));
        assert_eq!(email("smtp = \"smtp://m.example\"\nfrom = \"a@b.example\"\nto = []\n"), "skimwatch.toml:7:6: alerts.email.to: no recipient: list at least one address");
        assert!(email(&format!("smtp = \"smtp://m.example\"\n{base}username = \"u\"\npassword_env = \"hunter2!\"\n"))
            .starts_with("skimwatch.toml:9:16: alerts.email.password_env: \"hunter2!\" is not an environment variable name"));
        assert!(email(&format!("smtp = \"smtp://m.example\"\n{base}min_severity = \"urgent\"\n")).contains("unknown severity `urgent`"));
        assert_eq!(email(&format!("smtp = \"smtp://m.example\"\n{base}passwrd_env = \"X\"\n")),
            "skimwatch.toml:8:1: alerts.email.passwrd_env: unknown key (expected smtp, from, to, username, password_env, min_severity)");
        assert_eq!(email("from = \"a@b.example\"\nto = [\"c@d.example\"]\n"), "skimwatch.toml:4:1: alerts.email.smtp: missing required key");
        assert_eq!(error(&format!("{page}[alerts]\nrenotfy = \"1h\"\n")),
            "skimwatch.toml:5:1: alerts.renotfy: unknown key (expected email, renotify, failures_before_alert, stale_after, retry, templates)");
        assert_eq!(error(&format!("{page}[alerts]\nfailures_before_alert = 0\n")),
            "skimwatch.toml:5:25: alerts.failures_before_alert: must be a whole number from 1 to 1000");
        assert_eq!(error(&format!("[browser]\nmax_pages = \"4\"\n{page}")), "skimwatch.toml:2:13: browser.max_pages: expected a whole number, found string");
        assert_eq!(error(&format!("{page}interval = \"0s\"\n")), "skimwatch.toml:4:12: page[0].interval: must be greater than zero");
    }

    #[test]
    fn load_reads_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("skimwatch.toml");
        std::fs::write(&path, FULL).unwrap();
        let c = Config::load(&path).unwrap();
        assert_eq!(c.storage.database, dir.path().join("data/sw.db"));
        assert_eq!(c.pages.len(), 2);
    }

    const QUIET: &str = r#"[[page]]
name = "checkout"
url = "https://shop.example/checkout"
ignore_query = ["v", "_"]
removed_after = 5

[[page.policy]]
match = "https://js.stripe.com/v3/*"
trust = "url"
reason = "Stripe forbids pinning; PCI scope is theirs"
"#;

    #[test]
    fn ignore_query_policies_and_removed_after() {
        let c = parse(QUIET).unwrap();
        let p = &c.pages[0];
        assert_eq!(p.ignore_query, ["v", "_"]);
        assert_eq!(p.removed_after, 5);
        assert_eq!(
            p.policies,
            [Policy { pattern: "https://js.stripe.com/v3/*".into(), trust: Trust::Url, reason: "Stripe forbids pinning; PCI scope is theirs".into() }]
        );
        assert!(p.policies[0].matches("https://js.stripe.com/v3/"));
        assert!(p.policies[0].matches("https://js.stripe.com/v3/fingerprinted/js/m-outer.js"));
        assert!(!p.policies[0].matches("https://js.stripe.com.evil.example/v3/x"));
        assert!(!p.policies[0].matches("https://evil.example/?https://js.stripe.com/v3/"));
        assert_eq!(parse("[[page]]\nname = \"a\"\nurl = \"https://x.example/\"\n").unwrap().pages[0].removed_after, DEFAULT_REMOVED_AFTER);
    }

    #[test]
    fn bad_policies_name_line_and_key() {
        let msg = error(&QUIET.replace("trust = \"url\"", "trust = \"content\""));
        assert_eq!(msg, "skimwatch.toml:9:9: page[0].policy[0].trust: unknown trust \"content\" (expected \"url\")");
        let msg = error(&QUIET.replace("reason = \"Stripe forbids pinning; PCI scope is theirs\"\n", ""));
        assert_eq!(msg, "skimwatch.toml:7:1: page[0].policy[0].reason: missing required key");
        let msg = error(&QUIET.replace("match = \"https://js.stripe.com/v3/*\"", "match = \"js.stripe.com\""));
        assert!(msg.starts_with("skimwatch.toml:8:9: page[0].policy[0].match: \"js.stripe.com\" is not an http(s) URL pattern"), "{msg}");
        let msg = error(&QUIET.replace("ignore_query = [\"v\", \"_\"]", "ignore_query = \"v\""));
        assert!(msg.starts_with("skimwatch.toml:4:16: page[0].ignore_query: expected an array of strings"), "{msg}");
        let msg = error(&QUIET.replace("removed_after = 5", "removed_after = 0"));
        assert_eq!(msg, "skimwatch.toml:5:17: page[0].removed_after: must be a whole number from 1 to 1000");
        let msg = error(&QUIET.replace("trust = \"url\"", "trust = \"url\"\nmatchh = \"x\""));
        assert!(msg.starts_with("skimwatch.toml:10:1: page[0].policy[0].matchh: unknown key"), "{msg}");
    }
}
