//! Reading `skimwatch.toml`: toml's spanned document tree → [`Config`], or the first error in
//! file order, naming the file, line, column and key path (`page[1].url`).
//!
//! Why a walker and not `#[derive(Deserialize)]` with `deny_unknown_fields`: serde's messages
//! are its own (``unknown field `urll`, expected one of `name`, …``, ``missing field `url` ``,
//! ``invalid type: integer `2`, expected …``), and toml's error keeps the key path private and
//! without array indices, so `page[1].urll: unknown key (expected name, url, …)` could only be
//! rebuilt by parsing error strings. The walk is instead kept small: `Table` and `Field`
//! carry the key path and span, each table's keys are a list below, and each value kind has
//! one reader, so a section reads as one expression per key.

use super::{
    config_dir, Alerts, Browser, Config, EmailConfig, Intel, IntelKind, IntelSource, Keep, MaxPages, PageConfig,
    Policy, Reports, Storage, Trust, Watch, WebhookConfig, WebhookKind, WebhookUrl, DEFAULT_BASELINES,
    DEFAULT_DATABASE, DEFAULT_INTERVAL, DEFAULT_REMOVED_AFTER, DEFAULT_WEBHOOK_TIMEOUT, MIN_DATABASE_SIZE,
};
use crate::model::{
    Geolocation, InteractMode, JourneyStep, Profile, Session, Severity, ShopperField, StepAction, StepValue, StepWait,
};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Duration;
use thiserror::Error;
use toml::de::{DeTable, DeValue};
use toml::Spanned;

#[derive(Debug, Error)]
pub enum ConfigError {
    #[error("{}: config file not found", path.display())]
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

// The keys each table allows, in the order the "unknown key" message lists them.
const ROOT_KEYS: &[&str] = &["storage", "browser", "page", "alerts", "watch", "reports", "intel"];
const INTEL_KEYS: &[&str] = &["lists", "rules", "cache_dir", "source"];
const INTEL_SOURCE_KEYS: &[&str] = &["name", "url", "kind"];
const WATCH_KEYS: &[&str] = &["listen"];
const REPORTS_KEYS: &[&str] =
    &["listen", "public_url", "max_body", "per_source_per_minute", "max_violations", "trusted_proxies"];
const STORAGE_KEYS: &[&str] = &["database", "baselines", "keep", "max_database_size"];
const BROWSER_KEYS: &[&str] = &["executable", "endpoint", "timeout", "settle", "max_pages", "host_resolver_rules"];
const ALERTS_KEYS: &[&str] =
    &["email", "webhook", "renotify", "failures_before_alert", "stale_after", "retry", "templates"];
const EMAIL_KEYS: &[&str] = &["smtp", "from", "to", "username", "password_env", "min_severity"];
const WEBHOOK_KEYS: &[&str] = &["name", "url", "url_env", "kind", "min_severity", "secret_env", "timeout"];
const PAGE_KEYS: &[&str] = &[
    "name",
    "url",
    "timeout",
    "settle",
    "ignore_query",
    "policy",
    "removed_after",
    "interval",
    "interact",
    "profile",
    "payment_fields",
    "card_data_hosts",
    "personal_data_hosts",
    "max_cookie_lifetime",
    "step",
    "headers",
    "cookies",
    "proxy",
    "locale",
    "timezone",
    "geolocation",
    "basic_auth",
];
const BASIC_AUTH_KEYS: &[&str] = &["user", "password"];
const GEOLOCATION_KEYS: &[&str] = &["latitude", "longitude", "accuracy"];
const STEP_KEYS: &[&str] =
    &["goto", "click", "fill", "select", "check", "press", "wait_for", "wait_for_url", "wait_for_idle", "timeout"];
const POLICY_KEYS: &[&str] = &["match", "trust", "reason"];

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
        let root = Table::new(Doc { text, path }, doc.get_ref(), 0..0, String::new(), ROOT_KEYS)?;
        config(&root)
    }
}

/// An error about a key the reader accepted but a later check refused (`[alerts] templates`
/// naming a folder that is not there), pointing at that key's value in `text` as the reader's
/// own errors do: `key` is the path of table names and the key (`["alerts", "templates"]`).
/// When the key is not found the error points at the start of the file.
pub fn error_at(text: &str, path: &Path, key: &[&str], message: impl Into<String>) -> ConfigError {
    let offset = DeTable::parse(text).ok().and_then(|doc| {
        let mut table = doc.get_ref();
        let mut found = None;
        for (i, name) in key.iter().enumerate() {
            let (_, value) = table.iter().find(|(k, _)| k.get_ref().as_ref() == *name)?;
            match value.get_ref() {
                DeValue::Table(t) if i + 1 < key.len() => table = t,
                _ if i + 1 == key.len() => found = Some(value.span().start),
                _ => return None,
            }
        }
        found
    });
    let (line, column) = line_col(text, offset.unwrap_or(0));
    ConfigError::Invalid { path: path.to_path_buf(), line, column, key: key.join("."), message: message.into() }
}

fn config(root: &Table<'_, '_, '_>) -> Result<Config, ConfigError> {
    let dir = config_dir(root.doc.path);
    let storage = root.opt("storage", |f| storage(&f.table(STORAGE_KEYS)?, dir))?;
    let browser = root.opt("browser", |f| browser(&f.table(BROWSER_KEYS)?, dir))?.unwrap_or_default();
    let pages = pages(root, &browser)?;
    let alerts = root.opt("alerts", |f| alerts(&f.table(ALERTS_KEYS)?, dir))?.unwrap_or_default();
    let watch = root.opt("watch", |f| watch(&f.table(WATCH_KEYS)?))?.unwrap_or_default();
    let storage = storage.unwrap_or_else(|| Storage::beside(dir));
    let default_cache = storage.database.parent().unwrap_or(dir).join("intel");
    let intel = root.opt("intel", |f| intel(&f.table(INTEL_KEYS)?, dir, &default_cache))?;
    let reports = root.opt("reports", |f| reports(&f.table(REPORTS_KEYS)?))?.unwrap_or_default();
    Ok(Config {
        path: root.doc.path.to_path_buf(),
        intel: intel.unwrap_or(Intel { cache_dir: default_cache, ..Intel::default() }),
        storage,
        browser,
        pages,
        alerts,
        watch,
        reports,
    })
}

/// `[reports] public_url = "https://monitor.example"`: an http(s) URL without credentials,
/// query or fragment (the page name is appended as a path).
fn reports(t: &Table<'_, '_, '_>) -> Result<Reports, ConfigError> {
    let public_url = t.opt("public_url", |f| f.non_empty_where(|s| check_public_url(s).err()))?;
    let listen = t.opt("listen", |f| match f.value.get_ref() {
        DeValue::Integer(_) => Ok(std::net::SocketAddr::from(([127, 0, 0, 1], f.count(1, 65_535)? as u16))),
        _ => f.parsed(parse_listen),
    })?;
    let d = Reports::default();
    let max_body = t.opt("max_body", |f| f.count(256, 1024 * 1024))?.map_or(d.max_body, |n| n as u64);
    let per_source_per_minute =
        t.opt("per_source_per_minute", |f| f.count(1, 100_000))?.map_or(d.per_source_per_minute, |n| n as u32);
    let max_violations = t.opt("max_violations", |f| f.count(1, 10_000_000))?.map_or(d.max_violations, |n| n as u64);
    let proxies = t.opt("trusted_proxies", |f| f.string_list(|s| parse_ip_range(s).err()))?.unwrap_or_default();
    Ok(Reports {
        listen,
        max_body,
        per_source_per_minute,
        max_violations,
        public_url: public_url.map(|u| u.trim().trim_end_matches('/').to_string()),
        trusted_proxies: proxies.iter().filter_map(|s| parse_ip_range(s).ok()).collect(),
    })
}

/// An address range (`10.0.0.0/8`, `fd00::/8`) or one address (`192.0.2.7`).
fn parse_ip_range(s: &str) -> Result<ipnet::IpNet, String> {
    let s = s.trim();
    s.parse::<ipnet::IpNet>()
        .or_else(|_| s.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
        .map_err(|_| format!("{s:?} is not an IP address or a CIDR range such as \"10.0.0.0/8\""))
}

/// The collector's public address: `http(s)://host[:port][/path]`, nothing else.
pub fn check_public_url(s: &str) -> Result<(), String> {
    let u = url::Url::parse(s.trim())
        .map_err(|e| format!("{s:?} is not a URL such as \"https://monitor.example\" ({e})"))?;
    if !matches!(u.scheme(), "http" | "https") || u.host_str().map_or(true, |h| h.is_empty()) {
        return Err(format!("{s:?}: the collector's URL is http:// or https:// with a host"));
    }
    if !u.username().is_empty() || u.password().is_some() || u.query().is_some() || u.fragment().is_some() {
        return Err(format!("{s:?}: no credentials, query or fragment (browsers append /csp/<page>)"));
    }
    Ok(())
}

/// `[watch] listen = "127.0.0.1:9187"` (or a bare port, on loopback).
fn watch(t: &Table<'_, '_, '_>) -> Result<Watch, ConfigError> {
    let listen = t.opt("listen", |f| match f.value.get_ref() {
        DeValue::Integer(_) => {
            let port = f.count(1, 65_535)? as u16;
            Ok(std::net::SocketAddr::from(([127, 0, 0, 1], port)))
        }
        _ => f.parsed(parse_listen),
    })?;
    Ok(Watch { listen })
}

/// An address to listen on: `host:port` with an IP (`127.0.0.1:9187`, `[::1]:9187`,
/// `0.0.0.0:9187` to reach it from other machines) or a bare port (loopback).
pub fn parse_listen(text: &str) -> Result<std::net::SocketAddr, String> {
    let t = text.trim();
    if let Ok(port) = t.parse::<u16>() {
        return Ok(std::net::SocketAddr::from(([127, 0, 0, 1], port)));
    }
    t.parse().map_err(|_| format!("{text:?} is not an address to listen on such as \"127.0.0.1:9187\" or a port"))
}

fn storage(t: &Table<'_, '_, '_>, dir: &Path) -> Result<Storage, ConfigError> {
    Ok(Storage {
        database: dir.join(t.opt("database", Field::non_empty)?.unwrap_or(DEFAULT_DATABASE)),
        baselines: dir.join(t.opt("baselines", Field::non_empty)?.unwrap_or(DEFAULT_BASELINES)),
        keep: t.opt("keep", Field::keep)?.unwrap_or(Keep::Age(super::DEFAULT_RETENTION)),
        max_database_size: t.opt("max_database_size", Field::size)?,
    })
}

fn browser(t: &Table<'_, '_, '_>, dir: &Path) -> Result<Browser, ConfigError> {
    let defaults = Browser::default();
    Ok(Browser {
        // A bare name is a command for PATH lookup, not a file next to the config.
        executable: t.opt("executable", Field::non_empty)?.map(|exe| {
            if exe.contains('/') || exe.contains(std::path::MAIN_SEPARATOR) {
                dir.join(exe)
            } else {
                PathBuf::from(exe)
            }
        }),
        endpoint: t.opt("endpoint", |f| f.non_empty_where(endpoint_problem).map(|e| e.trim().to_string()))?,
        timeout: t.opt("timeout", Field::timeout)?.unwrap_or(defaults.timeout),
        settle: t.opt("settle", Field::duration)?.unwrap_or(defaults.settle),
        max_pages: t.opt("max_pages", Field::max_pages)?.unwrap_or(defaults.max_pages),
        host_resolver_rules: t.opt("host_resolver_rules", |f| {
            f.non_empty_where(|s| {
                s.chars().any(char::is_control).then(|| "must be one line (rules are separated by commas)".to_string())
            })
            .map(|s| s.trim().to_string())
        })?,
    })
}

/// `[intel]`: user lists, a user rules folder, the update cache and `[[intel.source]]`s.
fn intel(t: &Table<'_, '_, '_>, dir: &Path, default_cache: &Path) -> Result<Intel, ConfigError> {
    let lists = t.opt("lists", |f| f.string_list(|s| s.trim().is_empty().then(|| "a list path is empty".into())))?;
    let mut sources: Vec<IntelSource> = Vec::new();
    if let Some(f) = t.get("source") {
        for elem in f.items("[[intel.source]] tables")? {
            let s = elem.table(INTEL_SOURCE_KEYS)?;
            let name = s.required("name")?.non_empty_where(|n| {
                (!n.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.')) || n.starts_with('.'))
                    .then(|| "use letters, digits, `-`, `_` and `.` (it names the cached file)".to_string())
            })?;
            let url = s
                .required("url")?
                .non_empty_where(|u| (!is_http_url(u)).then(|| format!("{u:?} is not an http:// or https:// URL")))?;
            let shipped = crate::config::shipped_intel_kind(name);
            let kind = match s.get("kind") {
                Some(k) => match k.string()? {
                    "domains" => IntelKind::Domains,
                    "retirejs" => IntelKind::RetireJs,
                    other => {
                        return Err(k.err(format!("unknown kind {other:?} (expected \"domains\" or \"retirejs\")")))
                    }
                },
                None => match shipped {
                    Some(kind) => kind,
                    None => return Err(s.err(
                        "kind",
                        "missing required key: `kind` (\"domains\" or \"retirejs\") for a source that is not shipped",
                    )),
                },
            };
            if sources.iter().any(|x| x.name == name) {
                return Err(s.required("name")?.err(format!("two sources are named {name:?}")));
            }
            sources.push(IntelSource { name: name.to_string(), url: url.trim().to_string(), kind });
        }
    }
    Ok(Intel {
        lists: lists.unwrap_or_default().into_iter().map(|p| dir.join(p)).collect(),
        rules: t.opt("rules", Field::non_empty)?.map(|p| dir.join(p)),
        cache_dir: t
            .opt("cache_dir", Field::non_empty)?
            .map(|p| dir.join(p))
            .unwrap_or_else(|| default_cache.to_path_buf()),
        sources,
    })
}

fn alerts(t: &Table<'_, '_, '_>, dir: &Path) -> Result<Alerts, ConfigError> {
    let defaults = Alerts::default();
    // Fields are read in this order (it decides which error comes first).
    Ok(Alerts {
        renotify: t.opt("renotify", Field::timeout)?.unwrap_or(defaults.renotify),
        failures_before_alert: t
            .opt("failures_before_alert", |f| f.count(1, 1000))?
            .map_or(defaults.failures_before_alert, |n| n as u32),
        stale_after: t.opt("stale_after", Field::timeout)?,
        retry: t.opt("retry", Field::timeout)?.unwrap_or(defaults.retry),
        templates: t.opt("templates", Field::non_empty)?.map(|p| dir.join(p)),
        email: t.opt("email", |f| email(&f.table(EMAIL_KEYS)?))?,
        webhooks: t.opt("webhook", webhooks)?.unwrap_or_default(),
    })
}

/// `[[alerts.webhook]]`: each with a unique name.
fn webhooks(f: &Field<'_, '_, '_>) -> Result<Vec<WebhookConfig>, ConfigError> {
    let mut out: Vec<WebhookConfig> = Vec::new();
    for elem in f.items("[[alerts.webhook]] tables")? {
        let t = elem.table(WEBHOOK_KEYS)?;
        let hook = webhook(&t)?;
        if out.iter().any(|w| w.name == hook.name) {
            let message = format!(
                "two webhooks are named {:?}: give each its own `name` (it keys the webhook's deliveries in the outbox)",
                hook.name
            );
            return Err(match t.get("name") {
                Some(name) => name.err(message),
                None => t.err("name", message),
            });
        }
        out.push(hook);
    }
    Ok(out)
}

fn webhook(t: &Table<'_, '_, '_>) -> Result<WebhookConfig, ConfigError> {
    let url = t.opt("url", |f| f.non_empty_where(|s| check_webhook_url(s).err()))?;
    let url_env = t.opt("url_env", |f| f.non_empty_where(|name| env_name_problem(name, "the webhook URL")))?;
    let url = match (url, url_env) {
        (Some(u), None) => WebhookUrl::Literal(u.trim().to_string()),
        (None, Some(name)) => WebhookUrl::Env(name.to_string()),
        (Some(_), Some(_)) => {
            return Err(t.err("url_env", "set either `url` or `url_env` (the NAME of a variable holding the URL), not both"))
        }
        (None, None) => {
            return Err(t.err(
                "url",
                "missing required key: set `url`, or `url_env` naming the environment variable that holds it (a Slack or Teams webhook URL is itself a secret)",
            ))
        }
    };
    let kind = t.required("kind")?.parsed(|s| {
        WebhookKind::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| format!("unknown webhook kind {s:?} (expected \"json\", \"slack\" or \"teams\")"))
    })?;
    let min_severity = t.opt("min_severity", |f| f.parsed(str::parse::<Severity>))?.unwrap_or(Severity::Medium);
    let secret_env = t.opt("secret_env", |f| f.non_empty_where(|name| env_name_problem(name, "the signing secret")))?;
    if secret_env.is_some() && kind != WebhookKind::Json {
        return Err(t.err(
            "secret_env",
            format!("only `kind = \"json\"` bodies are signed; a {kind} webhook authenticates by its URL (keep it in `url_env`)"),
        ));
    }
    let timeout = t.opt("timeout", Field::timeout)?.unwrap_or(DEFAULT_WEBHOOK_TIMEOUT);
    let name = match t.opt("name", |f| f.non_empty_where(destination_name_problem))? {
        Some(name) => name.to_string(),
        // The host as a name: `[::1]` becomes `--1` (a character a name cannot have becomes `-`).
        None => match &url {
            WebhookUrl::Literal(u) => url::Url::parse(u)
                .ok()
                .and_then(|u| {
                    u.host_str().map(|h| {
                        h.trim_matches(['[', ']'])
                            .chars()
                            .map(|c| if c.is_ascii_alphanumeric() || "._-".contains(c) { c } else { '-' })
                            .collect()
                    })
                })
                .unwrap_or_default(),
            WebhookUrl::Env(_) => kind.as_str().to_string(),
        },
    };
    Ok(WebhookConfig { name, url, kind, min_severity, secret_env: secret_env.map(str::to_string), timeout })
}

/// What is wrong with an environment variable name given for `what`, if anything.
fn env_name_problem(name: &str, what: &str) -> Option<String> {
    (!name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')).then(|| {
        format!("{name:?} is not an environment variable name: give the NAME of the variable that holds {what}, never the value itself")
    })
}

/// A webhook name keys its deliveries and shows in logs: short, no spaces or markup.
fn destination_name_problem(name: &str) -> Option<String> {
    if name.len() > 64 || !name.chars().all(|c| c.is_ascii_alphanumeric() || "._-".contains(c)) {
        return Some(format!("{name:?}: use at most 64 letters, digits, `.`, `_` and `-`"));
    }
    None
}

fn email(t: &Table<'_, '_, '_>) -> Result<EmailConfig, ConfigError> {
    let smtp = t.required("smtp")?.non_empty_where(|s| check_smtp_url(s).err())?;
    let from = t.required("from")?.mailbox()?;
    let to = recipients(&t.required("to")?)?;
    let username = t.opt("username", Field::non_empty)?.map(str::to_string);
    let password_env = t.opt("password_env", |f| f.non_empty_where(|name| env_name_problem(name, "the password")))?;
    if password_env.is_some() && username.is_none() {
        return Err(t.err("username", "password_env is set but username is missing"));
    }
    // Credentials are never sent in clear: with a username, STARTTLS (or smtps://) is required.
    let clear = url::Url::parse(smtp).is_ok_and(|u| u.query_pairs().any(|(k, v)| k == "tls" && v == "none"));
    if username.is_some() && clear {
        return Err(t.err(
            "smtp",
            "?tls=none with a username would send the password in clear: drop ?tls=none (STARTTLS is then required) or use smtps://",
        ));
    }
    let min_severity = t.opt("min_severity", |f| f.parsed(str::parse::<Severity>))?.unwrap_or(Severity::Medium);
    Ok(EmailConfig {
        smtp: smtp.to_string(),
        from,
        to,
        username,
        password_env: password_env.map(str::to_string),
        min_severity,
    })
}

/// `to`: one address or a non-empty list of them.
fn recipients(f: &Field<'_, '_, '_>) -> Result<Vec<String>, ConfigError> {
    match f.value.get_ref() {
        DeValue::String(_) => Ok(vec![f.mailbox()?]),
        DeValue::Array(_) => {
            let to =
                f.items("a list of addresses")?.iter().map(Field::mailbox).collect::<Result<Vec<_>, ConfigError>>()?;
            if to.is_empty() {
                return Err(f.err("no recipient: list at least one address"));
            }
            Ok(to)
        }
        other => Err(f.err(format!("expected a list of addresses, found {}", other.type_str()))),
    }
}

fn pages(root: &Table<'_, '_, '_>, browser: &Browser) -> Result<Vec<PageConfig>, ConfigError> {
    let Some(f) = root.get("page") else {
        return Err(root.doc.err(0..0, "page", "no [[page]] tables: add at least one page to monitor"));
    };
    let elems = f.items("[[page]] tables (an array of tables)")?;
    if elems.is_empty() {
        return Err(root.doc.err(f.name_span.clone(), "page", "no pages listed: add at least one page to monitor"));
    }
    let mut pages = Vec::new();
    // name → line of its first definition, for the duplicate message.
    let mut seen: Vec<(String, usize)> = Vec::new();
    for elem in &elems {
        pages.push(page(&elem.table(PAGE_KEYS)?, browser, &mut seen)?);
    }
    Ok(pages)
}

fn page(t: &Table<'_, '_, '_>, browser: &Browser, seen: &mut Vec<(String, usize)>) -> Result<PageConfig, ConfigError> {
    let name_field = t.required("name")?;
    let name = name_field.non_empty_where(|name| {
        (!super::is_page_name(name))
            .then(|| format!("{name:?} is not a valid page name (use only letters, digits, `_` and `-`)"))
    })?;
    if let Some((_, first_line)) = seen.iter().find(|(n, _)| n == name) {
        return Err(name_field.err(format!("duplicate page name {name:?} (first defined at line {first_line})")));
    }
    seen.push((name.to_string(), line_col(t.doc.text, name_field.value.span().start).0));
    let url_field = t.required("url")?;
    let url = url_field.string()?;
    if !is_http_url(url) {
        return Err(url_field.err(format!("{url:?} is not an http(s) URL")));
    }
    // Fields are read in this order (it decides which error comes first).
    Ok(PageConfig {
        name: name.to_string(),
        url: url.to_string(),
        timeout: t.opt("timeout", Field::timeout)?.unwrap_or(browser.timeout),
        settle: t.opt("settle", Field::duration)?.unwrap_or(browser.settle),
        interval: t.opt("interval", Field::timeout)?.unwrap_or(DEFAULT_INTERVAL),
        ignore_query: t.opt("ignore_query", |f| f.string_list(|_| None))?.unwrap_or_default(),
        policies: t.opt("policy", policies)?.unwrap_or_default(),
        removed_after: t.opt("removed_after", |f| f.count(1, 1000))?.map_or(DEFAULT_REMOVED_AFTER, |n| n as u32),
        interact: t
            .opt("interact", |f| {
                f.parsed(|s| {
                    InteractMode::parse(s)
                        .ok_or_else(|| format!("{s:?} is not an interaction (expected {})", InteractMode::NAMES))
                })
            })?
            .unwrap_or_default(),
        profile: t
            .opt("profile", |f| {
                f.parsed(|s| {
                    Profile::parse(s).ok_or_else(|| format!("{s:?} is not a profile (expected {})", Profile::NAMES))
                })
            })?
            .unwrap_or_default(),
        payment_fields: t.opt("payment_fields", |f| f.string_list(|_| None))?.unwrap_or_default(),
        card_data_hosts: t.opt("card_data_hosts", host_list)?.unwrap_or_default(),
        personal_data_hosts: t.opt("personal_data_hosts", host_list)?.unwrap_or_default(),
        max_cookie_lifetime: t
            .opt("max_cookie_lifetime", Field::duration)?
            .unwrap_or(crate::config::DEFAULT_MAX_COOKIE_LIFETIME),
        steps: t.opt("step", steps)?.unwrap_or_default(),
        session: session(t)?,
    })
}

/// A host allow-list (`card_data_hosts`, `personal_data_hosts`).
fn host_list(f: &Field<'_, '_, '_>) -> Result<Vec<String>, ConfigError> {
    f.string_list(|h| {
        (h.contains('/') || h.contains('@') || h.contains(char::is_whitespace)).then(|| {
            format!("{h:?} is not a host: write `host`, `host:port`, `host:*` or `*.domain`, without scheme or path")
        })
    })
}

/// The page's `headers`, `cookies`, `proxy`, `locale`, `timezone`, `basic_auth` and
/// `geolocation`.
fn session(t: &Table<'_, '_, '_>) -> Result<Session, ConfigError> {
    let token = |what: &'static str| {
        move |f: &Field<'_, '_, '_>| {
            f.non_empty_where(|v| {
                (!v.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '/' | '+')))
                    .then(|| format!("{v:?} is not a {what}"))
            })
            .map(str::to_string)
        }
    };
    Ok(Session {
        headers: t.opt("headers", |f| value_pairs(f, "header name"))?.unwrap_or_default(),
        cookies: t.opt("cookies", |f| value_pairs(f, "cookie name"))?.unwrap_or_default(),
        proxy: t.opt("proxy", |f| {
            f.non_empty_where(|p| {
                let ok = url::Url::parse(p).is_ok_and(|u| {
                    matches!(u.scheme(), "http" | "https" | "socks5" | "socks4")
                        && u.host_str().is_some_and(|h| !h.is_empty())
                        && u.username().is_empty()
                        && u.password().is_none()
                });
                (!ok).then(|| format!("{p:?} is not a proxy such as \"http://proxy.example:3128\" or \"socks5://127.0.0.1:1080\" (without credentials)"))
            })
            .map(|p| p.trim_end_matches('/').to_string())
        })?,
        locale: t.opt("locale", token("locale such as \"de-DE\""))?,
        timezone: t.opt("timezone", token("timezone such as \"Europe/Berlin\""))?,
        basic_auth: t.opt("basic_auth", |f| basic_auth(&f.table(BASIC_AUTH_KEYS)?))?,
        geolocation: t.opt("geolocation", |f| geolocation(&f.table(GEOLOCATION_KEYS)?))?,
    })
}

/// `geolocation = { latitude = 52.52, longitude = 13.405, accuracy = 50 }` (degrees; accuracy
/// in metres, default 100).
fn geolocation(t: &Table<'_, '_, '_>) -> Result<Geolocation, ConfigError> {
    let micro = |name: &str, limit: f64| -> Result<i32, ConfigError> {
        Ok((t.required(name)?.number(-limit, limit)? * 1e6).round() as i32)
    };
    Ok(Geolocation {
        latitude_e6: micro("latitude", 90.0)?,
        longitude_e6: micro("longitude", 180.0)?,
        accuracy_m: t.opt("accuracy", |f| f.count(1, 100_000))?.unwrap_or(100) as u32,
    })
}

/// `basic_auth = { user = "…", password = "{env.NAME}" }`: the password never in the file.
fn basic_auth(t: &Table<'_, '_, '_>) -> Result<(String, StepValue), ConfigError> {
    let user = t
        .required("user")?
        .non_empty_where(|u| u.contains(':').then(|| "a user name cannot contain `:`".to_string()))?;
    let password = t.required("password")?;
    match step_value(password.string()?) {
        Ok(StepValue::Env(name)) => Ok((user.to_string(), StepValue::Env(name))),
        Ok(_) => Err(password.err(
            "the password must come from the environment: write \"{env.NAME}\" and set NAME where skimwatch runs",
        )),
        Err(m) => Err(password.err(m)),
    }
}

/// `[[page.step]]` tables: the journey to the payment form.
fn steps(f: &Field<'_, '_, '_>) -> Result<Vec<JourneyStep>, ConfigError> {
    let items = f.items("[[page.step]] tables")?;
    if items.len() > MAX_STEPS {
        return Err(f.err(format!("at most {MAX_STEPS} steps")));
    }
    items.iter().map(|elem| step(&elem.table(STEP_KEYS)?)).collect()
}

/// Most steps one journey may have.
const MAX_STEPS: usize = 50;

/// How long a step may take when it sets no `timeout`.
pub const DEFAULT_STEP_TIMEOUT: Duration = Duration::from_secs(15);

fn step(t: &Table<'_, '_, '_>) -> Result<JourneyStep, ConfigError> {
    let selector = |f: &Field<'_, '_, '_>| f.non_empty().map(|s| s.trim().to_string());
    let mut actions = Vec::new();
    if let Some(goto) = t.opt("goto", |f| {
        f.non_empty_where(|u| {
            (u.contains(char::is_whitespace) || u.starts_with("javascript:"))
                .then(|| format!("{u:?} is not a URL or path such as \"/checkout\""))
        })
    })? {
        actions.push(("goto", StepAction::Goto(goto.trim().to_string())));
    }
    if let Some(s) = t.opt("click", selector)? {
        actions.push(("click", StepAction::Click(s)));
    }
    if let Some(p) = t.opt("fill", |f| value_pairs(f, "selector"))? {
        actions.push(("fill", StepAction::Fill(p)));
    }
    if let Some(p) = t.opt("select", |f| value_pairs(f, "selector"))? {
        actions.push(("select", StepAction::Select(p)));
    }
    if let Some(s) = t.opt("check", selector)? {
        actions.push(("check", StepAction::Check(s)));
    }
    if let Some(k) = t.opt("press", |f| {
        f.non_empty_where(|k| {
            (!STEP_KEYS_PRESSABLE.contains(&k))
                .then(|| format!("{k:?} is not a key (expected {})", STEP_KEYS_PRESSABLE.join(", ")))
        })
    })? {
        actions.push(("press", StepAction::Press(k.to_string())));
    }
    let mut waits = Vec::new();
    if let Some(s) = t.opt("wait_for", selector)? {
        waits.push(StepWait::Selector(s));
    }
    if let Some(u) = t.opt("wait_for_url", |f| f.non_empty().map(|s| s.trim().to_string()))? {
        waits.push(StepWait::Url(u));
    }
    if let Some(idle) = t.opt("wait_for_idle", Field::boolean)? {
        if !idle {
            return Err(t.err("wait_for_idle", "only `wait_for_idle = true` means something: remove the key"));
        }
        waits.push(StepWait::NetworkIdle);
    }
    if actions.len() > 1 {
        let names: Vec<&str> = actions.iter().map(|(n, _)| *n).collect();
        return Err(t.err(
            names[1],
            format!("one action per step ({} here): split them into steps of their own", names.join(" and ")),
        ));
    }
    if waits.len() > 1 {
        return Err(
            t.err("wait_for", "one of wait_for, wait_for_url or wait_for_idle per step: add a step that only waits")
        );
    }
    if actions.is_empty() && waits.is_empty() {
        return Err(t.err(
            "step",
            "empty step: give one action (goto, click, fill, select, check, press) and/or one wait (wait_for, wait_for_url, wait_for_idle)",
        ));
    }
    Ok(JourneyStep {
        action: actions.pop().map_or(StepAction::Wait, |(_, a)| a),
        wait: waits.pop(),
        timeout: t.opt("timeout", Field::timeout)?.unwrap_or(DEFAULT_STEP_TIMEOUT),
    })
}

/// The keys `press` accepts.
pub const STEP_KEYS_PRESSABLE: &[&str] = &["Enter", "Tab", "Escape", "Space", "ArrowDown", "ArrowUp", "Backspace"];

/// `fill`/`select`, `headers`/`cookies`: an inline table `{ "name" = "value", … }` (the name
/// a `what`), in file order; values are text or placeholders.
fn value_pairs(f: &Field<'_, '_, '_>, what: &str) -> Result<Vec<(String, StepValue)>, ConfigError> {
    let DeValue::Table(table) = f.value.get_ref() else {
        return Err(f.expected(&format!("a table of {what} = value, such as {{ \"x\" = \"{{env.NAME}}\" }}")));
    };
    let mut entries: Vec<_> = table.iter().collect();
    entries.sort_by_key(|(k, _)| k.span().start);
    if entries.is_empty() {
        return Err(f.err(format!("nothing listed: write {{ \"{what}\" = \"value\" }}")));
    }
    entries
        .into_iter()
        .map(|(k, value)| {
            let name: &str = k.get_ref().as_ref();
            let field = Field { doc: f.doc, value, name_span: k.span(), key: format!("{}.{name:?}", f.key) };
            if name.trim().is_empty() {
                return Err(field.err(format!("empty {what}")));
            }
            let bad_token =
                what != "selector" && !name.chars().all(|c| c.is_ascii_graphic() && !"()<>@,;:\\\"/[]?={}".contains(c));
            if bad_token {
                return Err(field.err(format!("{name:?} is not a valid {what}")));
            }
            let text = field.string()?;
            Ok((name.trim().to_string(), step_value(text).map_err(|m| field.err(m))?))
        })
        .collect()
}

/// `"{shopper.email}"`, `"{env.SHOP_PASSWORD}"` or literal text.
fn step_value(text: &str) -> Result<StepValue, String> {
    let Some(inner) = text.strip_prefix('{').and_then(|t| t.strip_suffix('}')) else {
        return Ok(StepValue::Text(text.to_string()));
    };
    if let Some(name) = inner.strip_prefix("shopper.") {
        let names: Vec<&str> = ShopperField::ALL.iter().map(|f| f.as_str()).collect();
        return ShopperField::parse(name).map(StepValue::Shopper).ok_or_else(|| {
            format!("{{shopper.{name}}} is not a shopper field (expected one of {})", names.join(", "))
        });
    }
    if let Some(name) = inner.strip_prefix("env.") {
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(format!("{name:?} is not an environment variable name"));
        }
        return Ok(StepValue::Env(name.to_string()));
    }
    Err(format!("{text:?}: unknown placeholder (expected {{shopper.FIELD}} or {{env.NAME}})"))
}

/// `[[page.policy]]` tables.
fn policies(f: &Field<'_, '_, '_>) -> Result<Vec<Policy>, ConfigError> {
    f.items("[[page.policy]] tables")?.iter().map(|elem| policy(&elem.table(POLICY_KEYS)?)).collect()
}

fn policy(t: &Table<'_, '_, '_>) -> Result<Policy, ConfigError> {
    let pattern = t.required("match")?.non_empty_where(|p| {
        (!is_http_url(&p.replace('*', "x")))
            .then(|| format!("{p:?} is not an http(s) URL pattern such as \"https://js.stripe.com/v3/*\""))
    })?;
    let trust = t.required("trust")?.parsed(|s| match s {
        "url" => Ok(Trust::Url),
        other => Err(format!("unknown trust {other:?} (expected \"url\")")),
    })?;
    let reason = t.required("reason")?.non_empty()?;
    Ok(Policy { pattern: pattern.to_string(), trust, reason: reason.trim().to_string() })
}

// ---------------------------------------------------------------------------------------------
// The walk: tables and values with their key path and place in the file
// ---------------------------------------------------------------------------------------------

/// The file being read, for messages.
#[derive(Clone, Copy)]
struct Doc<'a> {
    text: &'a str,
    path: &'a Path,
}

impl Doc<'_> {
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
}

/// A table whose keys have been checked, with its key path (`page[0]`; empty for the root).
struct Table<'a, 't, 'i> {
    doc: Doc<'a>,
    table: &'t DeTable<'i>,
    span: Range<usize>,
    key: String,
}

/// One value with its key path (`page[0].url`) and where it and its key are in the file.
struct Field<'a, 't, 'i> {
    doc: Doc<'a>,
    value: &'t Spanned<DeValue<'i>>,
    /// The key's span (the value's own for array elements).
    name_span: Range<usize>,
    key: String,
}

impl<'a, 't, 'i> Table<'a, 't, 'i> {
    /// Fails on the first key (in file order) that is not in `allowed`.
    fn new(
        doc: Doc<'a>,
        table: &'t DeTable<'i>,
        span: Range<usize>,
        key: String,
        allowed: &[&str],
    ) -> Result<Self, ConfigError> {
        let t = Table { doc, table, span, key };
        let mut keys: Vec<_> = table.iter().map(|(k, _)| k).collect();
        keys.sort_by_key(|k| k.span().start);
        if let Some(k) = keys.into_iter().find(|k| !allowed.contains(&k.get_ref().as_ref())) {
            let message = format!("unknown key (expected {})", allowed.join(", "));
            return Err(doc.err(k.span(), &t.path(k.get_ref()), message));
        }
        Ok(t)
    }

    fn path(&self, name: &str) -> String {
        if self.key.is_empty() {
            name.to_string()
        } else {
            format!("{}.{name}", self.key)
        }
    }

    /// An error about key `name` of this table, pointing at the table.
    fn err(&self, name: &str, message: impl Into<String>) -> ConfigError {
        self.doc.err(self.span.clone(), &self.path(name), message)
    }

    fn get(&self, name: &str) -> Option<Field<'a, 't, 'i>> {
        let (k, value) = self.table.iter().find(|(k, _)| k.get_ref().as_ref() == name)?;
        Some(Field { doc: self.doc, value, name_span: k.span(), key: self.path(name) })
    }

    fn required(&self, name: &str) -> Result<Field<'a, 't, 'i>, ConfigError> {
        self.get(name).ok_or_else(|| self.err(name, "missing required key"))
    }

    /// Key `name` read with `read`, or `None` when absent.
    fn opt<T>(
        &self,
        name: &str,
        read: impl FnOnce(&Field<'a, 't, 'i>) -> Result<T, ConfigError>,
    ) -> Result<Option<T>, ConfigError> {
        self.get(name).map(|f| read(&f)).transpose()
    }
}

impl<'a, 't, 'i> Field<'a, 't, 'i> {
    fn err(&self, message: impl Into<String>) -> ConfigError {
        self.doc.err(self.value.span(), &self.key, message)
    }

    fn expected(&self, what: &str) -> ConfigError {
        self.err(format!("expected {what}, found {}", self.value.get_ref().type_str()))
    }

    fn table(&self, allowed: &[&str]) -> Result<Table<'a, 't, 'i>, ConfigError> {
        match self.value.get_ref() {
            DeValue::Table(t) => Table::new(self.doc, t, self.value.span(), self.key.clone(), allowed),
            _ => Err(self.expected("a table")),
        }
    }

    /// The elements of an array, keyed `key[i]`.
    fn items(&self, what: &str) -> Result<Vec<Field<'a, 't, 'i>>, ConfigError> {
        let DeValue::Array(items) = self.value.get_ref() else {
            return Err(self.expected(what));
        };
        let item = |(i, value): (usize, &'t Spanned<DeValue<'i>>)| Field {
            doc: self.doc,
            value,
            name_span: value.span(),
            key: format!("{}[{i}]", self.key),
        };
        Ok(items.iter().enumerate().map(item).collect())
    }

    fn string(&self) -> Result<&'t str, ConfigError> {
        match self.value.get_ref() {
            DeValue::String(s) => Ok(s.as_ref()),
            _ => Err(self.expected("a string")),
        }
    }

    fn non_empty(&self) -> Result<&'t str, ConfigError> {
        self.non_empty_where(|_| None)
    }

    /// A non-empty string; `problem` says what is wrong with it, if anything.
    fn non_empty_where(&self, problem: impl FnOnce(&str) -> Option<String>) -> Result<&'t str, ConfigError> {
        let s = self.string()?;
        if s.trim().is_empty() {
            return Err(self.err("must not be empty"));
        }
        match problem(s) {
            Some(message) => Err(self.err(message)),
            None => Ok(s),
        }
    }

    /// A string turned into a value by `parse`, whose error is the message.
    fn parsed<T>(&self, parse: impl FnOnce(&str) -> Result<T, String>) -> Result<T, ConfigError> {
        parse(self.string()?).map_err(|message| self.err(message))
    }

    /// An array of non-empty strings, trimmed; `problem` says what is wrong with an element.
    fn string_list(&self, problem: impl Fn(&str) -> Option<String>) -> Result<Vec<String>, ConfigError> {
        let items = self.items("an array of strings")?;
        items.iter().map(|item| item.non_empty_where(&problem).map(|s| s.trim().to_string())).collect()
    }

    /// An email address, optionally with a display name (`Name <a@b.example>`).
    fn mailbox(&self) -> Result<String, ConfigError> {
        let text = self.non_empty()?;
        text.parse::<lettre::message::Mailbox>()
            .map_err(|e| self.err(format!("{text:?} is not an email address ({e})")))?;
        Ok(text.to_string())
    }

    /// A whole number in `min..=max`.
    fn count(&self, min: i64, max: i64) -> Result<i64, ConfigError> {
        let DeValue::Integer(i) = self.value.get_ref() else {
            return Err(self.expected("a whole number"));
        };
        match i64::from_str_radix(i.as_str(), i.radix()) {
            Ok(n) if (min..=max).contains(&n) => Ok(n),
            _ => Err(self.err(format!("must be a whole number from {min} to {max}"))),
        }
    }

    /// `[browser] max_pages`: a whole number from 1 to 64, or `"auto"`.
    fn max_pages(&self) -> Result<MaxPages, ConfigError> {
        match self.value.get_ref() {
            DeValue::String(s) if s.as_ref() == "auto" => Ok(MaxPages::Auto),
            DeValue::Integer(_) => Ok(MaxPages::Fixed(self.count(1, 64)? as usize)),
            _ => Err(self.expected("a whole number from 1 to 64, or \"auto\"")),
        }
    }

    /// `[storage] keep`: a number of scans (1–100000) or a retention period of at least a day.
    fn keep(&self) -> Result<Keep, ConfigError> {
        match self.value.get_ref() {
            DeValue::Integer(_) => Ok(Keep::Scans(self.count(1, 100_000)? as usize)),
            DeValue::String(_) => {
                let d = self.duration()?;
                if d < Duration::from_secs(24 * 3600) {
                    return Err(self.err("must be at least a day (\"1d\"); a PCI assessment needs a year: \"400d\""));
                }
                Ok(Keep::Age(d))
            }
            _ => Err(self.expected("a number of scans such as 30 or a retention period such as \"400d\"")),
        }
    }

    /// A number (whole or decimal) in `min..=max`.
    fn number(&self, min: f64, max: f64) -> Result<f64, ConfigError> {
        let n = match self.value.get_ref() {
            DeValue::Integer(i) => i64::from_str_radix(i.as_str(), i.radix()).ok().map(|n| n as f64),
            DeValue::Float(f) => f.as_str().replace('_', "").parse::<f64>().ok(),
            _ => return Err(self.expected("a number")),
        };
        match n {
            Some(n) if n.is_finite() && (min..=max).contains(&n) => Ok(n),
            _ => Err(self.err(format!("must be a number from {min} to {max}"))),
        }
    }

    /// A size in bytes: a whole number, or a string such as "500 MB", "2 GiB", "512 KiB"
    /// (KB/MB/GB are powers of 1000, KiB/MiB/GiB of 1024), at least [`MIN_DATABASE_SIZE`].
    fn size(&self) -> Result<u64, ConfigError> {
        let bytes = match self.value.get_ref() {
            DeValue::Integer(_) => self.count(0, i64::MAX)? as u64,
            DeValue::String(text) => parse_size(text).map_err(|m| self.err(m))?,
            _ => return Err(self.expected("a size such as \"500 MB\"")),
        };
        if bytes < MIN_DATABASE_SIZE {
            return Err(self.err(format!("must be at least {} KiB", MIN_DATABASE_SIZE / 1024)));
        }
        Ok(bytes)
    }

    fn boolean(&self) -> Result<bool, ConfigError> {
        match self.value.get_ref() {
            DeValue::Boolean(b) => Ok(*b),
            _ => Err(self.expected("true or false")),
        }
    }

    fn duration(&self) -> Result<Duration, ConfigError> {
        let DeValue::String(text) = self.value.get_ref() else {
            return Err(self.expected("a duration string such as \"30s\""));
        };
        let text: &str = text;
        humantime::parse_duration(text.trim())
            .map_err(|e| self.err(format!("{text:?} is not a duration such as \"30s\" or \"1m 30s\" ({e})")))
    }

    /// A duration that must be positive: a zero timeout would fail every page at once.
    fn timeout(&self) -> Result<Duration, ConfigError> {
        let d = self.duration()?;
        if d.is_zero() {
            return Err(self.err("must be greater than zero"));
        }
        Ok(d)
    }
}

/// "500 MB" → 500 000 000; a number and an optional unit (B, KB, MB, GB, TB, KiB, MiB, GiB, TiB).
fn parse_size(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    let bad = || format!("{text:?} is not a size such as \"500 MB\" or \"2 GiB\"");
    let n: u64 = number.parse().map_err(|_| bad())?;
    let factor: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "kb" => 1000,
        "mb" => 1000_u64.pow(2),
        "gb" => 1000_u64.pow(3),
        "tb" => 1000_u64.pow(4),
        "kib" => 1 << 10,
        "mib" => 1 << 20,
        "gib" => 1 << 30,
        "tib" => 1 << 40,
        _ => return Err(bad()),
    };
    n.checked_mul(factor).ok_or_else(bad)
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
                return Err(format!(
                    "tls={other:?}: use ?tls=required or ?tls=none with smtp:// (smtps:// is always TLS)"
                ))
            }
            (other, _) => return Err(format!("unknown URL parameter {other:?} (only ?tls=required|none)")),
        }
    }
    Ok(())
}

/// Checks an `[[alerts.webhook]] url`: http(s) with a host and no credentials in it.
pub fn check_webhook_url(s: &str) -> Result<(), String> {
    let u = url::Url::parse(s.trim())
        .map_err(|e| format!("{s:?} is not a URL such as \"https://hooks.example/skimwatch\" ({e})"))?;
    if !matches!(u.scheme(), "http" | "https") {
        return Err(format!("{s:?}: a webhook URL is http:// or https://"));
    }
    if u.host_str().map_or(true, |h| h.is_empty()) {
        return Err(format!("{s:?} names no host"));
    }
    if !u.username().is_empty() || u.password().is_some() {
        return Err("credentials do not belong in the URL: sign the body with `secret_env`, or keep a URL that is itself a secret in `url_env` (the name of an environment variable holding it)".to_string());
    }
    Ok(())
}

/// What is wrong with `[browser] endpoint`, if anything: a DevTools address is a websocket
/// (`ws`, `wss`) or the HTTP server (`http`, `https`) that tells it, with a host.
fn endpoint_problem(s: &str) -> Option<String> {
    let example = "write \"http://host:port\" or \"ws://host:port/devtools/browser/<id>\"";
    match url::Url::parse(s.trim()) {
        Ok(u) if !matches!(u.scheme(), "ws" | "wss" | "http" | "https") => {
            Some(format!("{s:?}: scheme {:?} is not one of ws, wss, http, https; {example}", u.scheme()))
        }
        Ok(u) if !u.host_str().is_some_and(|h| !h.is_empty()) => Some(format!("{s:?} has no host; {example}")),
        Ok(_) => None,
        Err(e) => Some(format!("{s:?} is not a DevTools address ({e}); {example}")),
    }
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
    fn storage_keep_and_size_budget() {
        let page = "[[page]]\nname = \"a\"\nurl = \"https://x.example/\"\n";
        let c = parse(&format!("[storage]\nkeep = 5\nmax_database_size = \"2 MiB\"\n{page}")).unwrap();
        assert_eq!((c.storage.keep, c.storage.max_database_size), (Keep::Scans(5), Some(2 << 20)));
        let c = parse(&format!("[storage]\nkeep = \"400d\"\n{page}")).unwrap();
        assert_eq!(c.storage.keep, Keep::Age(Duration::from_secs(400 * 86_400)));
        let msg = error(&format!("[storage]\nkeep = \"1h\"\n{page}"));
        assert!(msg.starts_with("skimwatch.toml:2:8: storage.keep: must be at least a day"), "{msg}");
        let c = parse(&format!("[storage]\nmax_database_size = 500000\n{page}")).unwrap();
        assert_eq!(c.storage.max_database_size, Some(500_000));
        let c = parse(page).unwrap();
        assert_eq!((c.storage.keep, c.storage.max_database_size), (Keep::Age(super::super::DEFAULT_RETENTION), None));
        assert_eq!(parse_size("1 GB"), Ok(1_000_000_000));
        assert!(parse_size("lots").is_err());
        assert_eq!(
            error(&format!("[storage]\nkeep = 0\n{page}")),
            "skimwatch.toml:2:8: storage.keep: must be a whole number from 1 to 100000"
        );
        let msg = error(&format!("[storage]\nmax_database_size = \"big\"\n{page}"));
        assert!(msg.starts_with("skimwatch.toml:2:21: storage.max_database_size: \"big\" is not a size"), "{msg}");
        let msg = error(&format!("[storage]\nmax_database_size = \"1 KB\"\n{page}"));
        assert!(msg.contains("storage.max_database_size: must be at least 64 KiB"), "{msg}");
    }

    #[test]
    fn defaults_when_storage_and_browser_are_missing() {
        let c =
            Config::parse("[[page]]\nname = \"a\"\nurl = \"https://x.example/\"\n", Path::new("conf/skimwatch.toml"))
                .unwrap();
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
    fn endpoint_is_a_devtools_address_with_a_known_scheme() {
        let with = |endpoint: &str| format!("[browser]\nendpoint = \"{endpoint}\"\n{PAGE}");
        for ok in [
            "http://127.0.0.1:9222",
            "https://chrome.internal:9222/",
            "ws://10.0.0.5:9222/devtools/browser/abc",
            "wss://pool.internal/x?token=t",
        ] {
            assert_eq!(parse(&with(ok)).unwrap().browser.endpoint.as_deref(), Some(ok), "{ok}");
        }
        // Both keys may be set (one config for two setups); the endpoint decides.
        let c = parse(&format!("[browser]\nexecutable = \"chromium\"\nendpoint = \" http://127.0.0.1:9222 \"\n{PAGE}"))
            .unwrap();
        assert_eq!(c.browser.endpoint.as_deref(), Some("http://127.0.0.1:9222"));
        assert_eq!(Browser::default().endpoint, None);

        let e = error(&with("ftp://127.0.0.1:9222"));
        assert_eq!(
            e,
            "skimwatch.toml:2:12: browser.endpoint: \"ftp://127.0.0.1:9222\": scheme \"ftp\" is not one of ws, wss, http, https; write \"http://host:port\" or \"ws://host:port/devtools/browser/<id>\""
        );
        let e = error(&with("127.0.0.1:9222"));
        assert!(e.starts_with("skimwatch.toml:2:12: browser.endpoint: \"127.0.0.1:9222\""), "{e}");
        let e = error(&with("localhost"));
        assert!(e.starts_with("skimwatch.toml:2:12: browser.endpoint:") && e.contains("not a DevTools address"), "{e}");
        assert_eq!(error(&with("")), "skimwatch.toml:2:12: browser.endpoint: must not be empty");
        let e = error(&format!("[browser]\nendpoint = 9222\n{PAGE}"));
        assert_eq!(e, "skimwatch.toml:2:12: browser.endpoint: expected a string, found integer");
    }

    const PAGE: &str = "[[page]]\nname = \"a\"\nurl = \"https://x.example/p\"\n";

    #[test]
    fn journey_steps_are_read_in_order_with_their_values_and_waits() {
        let text = format!(
            "{PAGE}[[page.step]]\nclick = \"#add\"\nwait_for = \".count:not(:empty)\"\n\
             [[page.step]]\ngoto = \"/checkout\"\ntimeout = \"40s\"\n\
             [[page.step]]\nfill = {{ \"#pass\" = \"{{env.SHOP_PW}}\", \"#email\" = \"{{shopper.email}}\", \"#zip\" = \"10115\" }}\n\
             [[page.step]]\nwait_for_url = \"/checkout/*\"\n[[page.step]]\npress = \"Enter\"\nwait_for_idle = true\n"
        );
        let c = parse(&text).unwrap();
        let steps = &c.pages[0].steps;
        assert_eq!(steps.len(), 5);
        assert_eq!(steps[0].action, StepAction::Click("#add".into()));
        assert_eq!(steps[0].wait, Some(StepWait::Selector(".count:not(:empty)".into())));
        assert_eq!(steps[0].timeout, DEFAULT_STEP_TIMEOUT);
        assert_eq!(
            (steps[1].action.clone(), steps[1].timeout),
            (StepAction::Goto("/checkout".into()), Duration::from_secs(40))
        );
        assert_eq!(
            steps[2].action,
            StepAction::Fill(vec![
                ("#pass".into(), StepValue::Env("SHOP_PW".into())),
                ("#email".into(), StepValue::Shopper(ShopperField::Email)),
                ("#zip".into(), StepValue::Text("10115".into())),
            ]),
            "file order, placeholders parsed"
        );
        assert_eq!(
            (steps[3].action.clone(), steps[3].wait.clone()),
            (StepAction::Wait, Some(StepWait::Url("/checkout/*".into())))
        );
        assert_eq!(
            (steps[4].action.clone(), steps[4].wait.clone()),
            (StepAction::Press("Enter".into()), Some(StepWait::NetworkIdle))
        );
    }

    #[test]
    fn bad_steps_name_line_and_key() {
        let bad = |step: &str| error(&format!("{PAGE}[[page.step]]\n{step}\n"));
        assert_eq!(
            bad("click = \"#a\"\ngoto = \"/b\""),
            "skimwatch.toml:4:1: page[0].step[0].click: one action per step (goto and click here): split them into steps of their own"
        );
        assert!(bad("timeout = \"2s\"").contains("page[0].step[0].step: empty step"), "{}", bad("timeout = \"2s\""));
        assert_eq!(
            bad("fill = { \"#pw\" = \"{env.bad name}\" }"),
            "skimwatch.toml:5:18: page[0].step[0].fill.\"#pw\": \"bad name\" is not an environment variable name"
        );
        assert!(bad("fill = { \"#e\" = \"{shopper.mail}\" }").contains("not a shopper field (expected one of email,"));
        assert!(bad("press = \"F5\"").contains("\"F5\" is not a key (expected Enter, Tab,"));
        assert!(bad("wait_for_idle = false").contains("only `wait_for_idle = true`"));
        assert!(bad("gotoo = \"/x\"").contains("page[0].step[0].gotoo: unknown key (expected goto, click,"));
        assert!(bad("goto = \"javascript:alert(1)\"").contains("is not a URL or path"));
    }

    #[test]
    fn session_keys_are_read_and_checked() {
        let c = parse(&format!(
            "{PAGE}locale = \"de-DE\"\ntimezone = \"Europe/Berlin\"\nproxy = \"socks5://127.0.0.1:1080\"\n\
             headers = {{ \"X-Region\" = \"eu\" }}\ncookies = {{ \"session\" = \"{{env.SHOP_SESSION}}\" }}\n"
        ))
        .unwrap();
        let s = &c.pages[0].session;
        assert_eq!((s.locale.as_deref(), s.timezone.as_deref()), (Some("de-DE"), Some("Europe/Berlin")));
        assert_eq!(s.proxy.as_deref(), Some("socks5://127.0.0.1:1080"));
        assert_eq!(s.headers, vec![("X-Region".to_string(), StepValue::Text("eu".into()))]);
        assert_eq!(s.cookies, vec![("session".to_string(), StepValue::Env("SHOP_SESSION".into()))]);
        let e = error(&format!("{PAGE}proxy = \"http://user:pw@proxy.example:3128\"\n"));
        assert!(e.starts_with("skimwatch.toml:4:9: page[0].proxy:") && e.contains("without credentials"), "{e}");
        let c = parse(&format!("{PAGE}basic_auth = {{ user = \"buyer\", password = \"{{env.WHOLESALE_PW}}\" }}\n"))
            .unwrap();
        assert_eq!(c.pages[0].session.basic_auth, Some(("buyer".to_string(), StepValue::Env("WHOLESALE_PW".into()))));
        let e = error(&format!("{PAGE}basic_auth = {{ user = \"buyer\", password = \"hunter2\" }}\n"));
        assert!(e.contains("page[0].basic_auth.password: the password must come from the environment"), "{e}");
        let e = error(&format!("{PAGE}headers = {{ \"Bad Header\" = \"x\" }}\n"));
        assert!(e.contains("\"Bad Header\" is not a valid header name"), "{e}");
        let c = parse(&format!("{PAGE}geolocation = {{ latitude = 52.520_008, longitude = 13 }}\n")).unwrap();
        let geo = Geolocation { latitude_e6: 52_520_008, longitude_e6: 13_000_000, accuracy_m: 100 };
        assert_eq!(c.pages[0].session.geolocation, Some(geo));
        let e = error(&format!("{PAGE}geolocation = {{ latitude = 91.0, longitude = 13 }}\n"));
        assert!(e.contains("page[0].geolocation.latitude: must be a number from -90 to 90"), "{e}");
        let e = error(&format!("{PAGE}geolocation = {{ latitude = 52.5 }}\n"));
        assert!(e.contains("page[0].geolocation.longitude: missing required key"), "{e}");
    }

    #[test]
    fn intel_keys_resolve_paths_and_sources_are_checked() {
        let c = parse(PAGE).unwrap();
        assert_eq!(c.intel.cache_dir, Path::new("intel"), "beside the database");
        assert_eq!(c.intel.update_sources().len(), 2, "the shipped sources");
        let c = parse(&format!(
            "[storage]\ndatabase = \"state/sw.db\"\n[browser]\nhost_resolver_rules = \"MAP evil.example 127.0.0.4\"\n\
             [intel]\nlists = [\"lists/ours.txt\"]\nrules = \"yara\"\n\
             [[intel.source]]\nname = \"retirejs\"\nurl = \"http://mirror.example/repo.json\"\n\
             [[intel.source]]\nname = \"ours\"\nurl = \"https://intel.example/d.txt\"\nkind = \"domains\"\n{PAGE}"
        ))
        .unwrap();
        assert_eq!(c.intel.cache_dir, Path::new("state/intel"));
        assert_eq!(c.intel.lists, [Path::new("lists/ours.txt")]);
        assert_eq!(c.intel.rules.as_deref(), Some(Path::new("yara")));
        assert_eq!(c.browser.host_resolver_rules.as_deref(), Some("MAP evil.example 127.0.0.4"));
        let sources = c.intel.update_sources();
        let urls: Vec<(&str, &str)> = sources.iter().map(|s| (s.name.as_str(), s.url.as_str())).collect();
        assert_eq!(
            urls[1..],
            [("retirejs", "http://mirror.example/repo.json"), ("ours", "https://intel.example/d.txt")]
        );
        let e = error(&format!("[[intel.source]]\nname = \"x\"\nurl = \"https://a.example/x\"\n{PAGE}"));
        assert!(e.starts_with("skimwatch.toml:1:1: intel.source[0].kind: missing required key"), "{e}");
        let e = error(&format!(
            "[[intel.source]]\nname = \"../x\"\nurl = \"https://a.example/x\"\nkind = \"domains\"\n{PAGE}"
        ));
        assert!(e.contains("intel.source[0].name: use letters"), "{e}");
        let e = error(&format!("[intel]\nlist = []\n{PAGE}"));
        assert!(e.contains("intel.list: unknown key (expected lists, rules, cache_dir, source)"), "{e}");
        let e = error(&format!("[[intel.source]]\nname = \"retirejs\"\nurl = \"ftp://a.example/x\"\n{PAGE}"));
        assert!(e.contains("intel.source[0].url: \"ftp://a.example/x\" is not an http"), "{e}");
    }

    #[test]
    fn reports_keys_are_read_and_checked() {
        let c =
            parse(&format!("[reports]\nlisten = 9899\npublic_url = \"https://mon.example/\"\nmax_body = 8192\n{PAGE}"))
                .unwrap();
        assert_eq!(c.reports.listen, Some("127.0.0.1:9899".parse().unwrap()));
        assert_eq!(c.reports.report_uri("checkout").as_deref(), Some("https://mon.example/csp/checkout"));
        assert_eq!((c.reports.max_body, c.reports.per_source_per_minute), (8 * 1024, 60));
        assert_eq!(parse(PAGE).unwrap().reports, Reports::default());
        let e = error(&format!("[reports]\npublic_url = \"https://mon.example/?x=1\"\n{PAGE}"));
        assert!(e.starts_with("skimwatch.toml:2:14: reports.public_url:"), "{e}");
        let e = error(&format!("[reports]\nmax_body = 10\n{PAGE}"));
        assert!(e.contains("reports.max_body"), "{e}");
        let e = error(&format!("[reports]\nlisten_on = 1\n{PAGE}"));
        assert!(e.contains("listen_on"), "{e}");
        let c = parse(&format!("[reports]\ntrusted_proxies = [\"10.0.0.0/8\", \"::1\"]\n{PAGE}")).unwrap();
        assert_eq!(c.reports.trusted_proxies, vec!["10.0.0.0/8".parse().unwrap(), "::1/128".parse().unwrap()]);
        let e = error(&format!("[reports]\ntrusted_proxies = [\"10.0.0.0/33\"]\n{PAGE}"));
        assert!(e.contains("reports.trusted_proxies") && e.contains("not an IP address or a CIDR range"), "{e}");
    }

    #[test]
    fn watch_listen_is_an_address_or_a_loopback_port() {
        let c = parse(&format!("[watch]\nlisten = 9187\n{PAGE}")).unwrap();
        assert_eq!(c.watch.listen, Some("127.0.0.1:9187".parse().unwrap()));
        let c = parse(&format!("[watch]\nlisten = \"[::1]:9000\"\n{PAGE}")).unwrap();
        assert_eq!(c.watch.listen, Some("[::1]:9000".parse().unwrap()));
        assert_eq!(parse(PAGE).unwrap().watch.listen, None, "off unless configured");
        let e = error(&format!("[watch]\nlisten = \"metrics.example:80\"\n{PAGE}"));
        assert!(e.starts_with("skimwatch.toml:2:10: watch.listen: \"metrics.example:80\" is not an address"), "{e}");
    }

    #[test]
    fn unknown_key_names_line_and_key() {
        let msg = error("[storage]\ndatabase = \"a.db\"\ndatabse = \"b.db\"\n[[page]]\nname = \"a\"\nurl = \"https://x.example/\"\n");
        assert_eq!(
            msg,
            "skimwatch.toml:3:1: storage.databse: unknown key (expected database, baselines, keep, max_database_size)"
        );
        let msg = error("[[page]]\nname = \"a\"\nurl = \"https://x.example/\"\n[[page]]\nname = \"b\"\n  urll = \"https://x.example/\"\n");
        assert_eq!(msg, "skimwatch.toml:6:3: page[1].urll: unknown key (expected name, url, timeout, settle, ignore_query, policy, removed_after, interval, interact, profile, payment_fields, card_data_hosts, personal_data_hosts, max_cookie_lifetime, step, headers, cookies, proxy, locale, timezone, geolocation, basic_auth)");
        let msg = error("[pages]\nname = \"a\"\n");
        assert_eq!(
            msg,
            "skimwatch.toml:1:2: pages: unknown key (expected storage, browser, page, alerts, watch, reports, intel)"
        );
    }

    #[test]
    fn privacy_keys_parse_and_bad_values_name_the_key() {
        let base = "[[page]]\nname = \"a\"\nurl = \"https://x.example/\"\n";
        let c = parse(&format!("{base}personal_data_hosts = [\"*.tagwell.example\"]\nmax_cookie_lifetime = \"30d\"\n"))
            .unwrap();
        assert_eq!(c.pages[0].personal_data_hosts, ["*.tagwell.example"]);
        assert_eq!(c.pages[0].max_cookie_lifetime, Duration::from_secs(30 * 86_400));
        let d = parse(base).unwrap();
        assert!(d.pages[0].personal_data_hosts.is_empty());
        assert_eq!(d.pages[0].max_cookie_lifetime, crate::config::DEFAULT_MAX_COOKIE_LIFETIME);
        assert_eq!(
            error(&format!("{base}personal_data_hosts = [\"https://t.example/\"]\n")),
            "skimwatch.toml:4:24: page[0].personal_data_hosts[0]: \"https://t.example/\" is not a host: write `host`, `host:port`, `host:*` or `*.domain`, without scheme or path"
        );
        assert!(error(&format!("{base}max_cookie_lifetime = \"forever\"\n"))
            .starts_with("skimwatch.toml:4:23: page[0].max_cookie_lifetime:"));
    }

    #[test]
    fn interaction_keys_parse_and_bad_values_name_the_key() {
        let c = parse("[[page]]\nname = \"a\"\nurl = \"https://x.example/\"\ninteract = \"complete\"\nprofile = \"mobile\"\npayment_fields = [\"#cc\", \"input[name=cvv]\"]\ncard_data_hosts = [\"*.stripe.com\", \"127.0.0.2:*\"]\n").unwrap();
        let p = &c.pages[0];
        assert_eq!(p.interact, InteractMode::Complete);
        assert_eq!(p.profile, Profile::Mobile);
        assert_eq!(p.payment_fields, ["#cc", "input[name=cvv]"]);
        assert_eq!(p.card_data_hosts, ["*.stripe.com", "127.0.0.2:*"]);
        // Defaults: complete, desktop, 10 s settle.
        let d = parse("[[page]]\nname = \"a\"\nurl = \"https://x.example/\"\n").unwrap();
        assert_eq!(
            (d.pages[0].interact, d.pages[0].profile, d.pages[0].settle),
            (InteractMode::Complete, Profile::Desktop, Duration::from_secs(10))
        );
        let base = "[[page]]\nname = \"a\"\nurl = \"https://x.example/\"\n";
        assert_eq!(
            error(&format!("{base}interact = \"submit\"\n")),
            "skimwatch.toml:4:12: page[0].interact: \"submit\" is not an interaction (expected \"none\", \"type\", \"type-and-submit\" or \"complete\")"
        );
        assert!(error(&format!("{base}profile = \"tablet\"\n")).contains("page[0].profile"));
        assert_eq!(
            error(&format!("{base}card_data_hosts = [\"ok.example\", \"https://pay.example/x\"]\n")),
            "skimwatch.toml:4:34: page[0].card_data_hosts[1]: \"https://pay.example/x\" is not a host: write `host`, `host:port`, `host:*` or `*.domain`, without scheme or path"
        );
        assert!(error(&format!("{base}payment_fields = \"#cc\"\n"))
            .contains("page[0].payment_fields: expected an array of strings"));
        assert!(
            error(&format!("{base}payment_fields = [\"\"]\n")).contains("page[0].payment_fields[0]: must not be empty")
        );
    }

    #[test]
    fn bad_url_names_line_and_key() {
        let msg = error(
            "[[page]]\nname = \"a\"\nurl = \"https://x.example/\"\n\n[[page]]\nname = \"b\"\nurl = \"ftp://x\"\n",
        );
        assert_eq!(msg, "skimwatch.toml:7:7: page[1].url: \"ftp://x\" is not an http(s) URL");
        assert!(error("[[page]]\nname = \"a\"\nurl = \"/checkout\"\n")
            .contains("page[0].url: \"/checkout\" is not an http(s) URL"));
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
        assert_eq!(
            msg,
            "skimwatch.toml:4:10: page[0].settle: expected a duration string such as \"30s\", found integer"
        );
        let msg = error("[[page]]\nname = \"a\"\nurl = \"https://x.example/\"\ntimeout = \"0s\"\n");
        assert_eq!(msg, "skimwatch.toml:4:11: page[0].timeout: must be greater than zero");
        let msg = error("storage = \"x\"\n[[page]]\nname = \"a\"\nurl = \"https://x.example/\"\n");
        assert_eq!(msg, "skimwatch.toml:1:11: storage: expected a table, found string");
        let msg = error("[page]\nname = \"a\"\nurl = \"https://x.example/\"\n");
        assert!(msg.starts_with("skimwatch.toml:1:1: page: expected [[page]] tables"), "{msg}");
    }

    #[test]
    fn error_at_points_at_the_key() {
        let text =
            "[[page]]\nname = \"a\"\nurl = \"https://x.example/\"\n\n[alerts]\nretry = \"1m\"\ntemplates = \"mail\"\n";
        let e = error_at(text, Path::new("skimwatch.toml"), &["alerts", "templates"], "no such folder");
        assert_eq!(e.to_string(), "skimwatch.toml:7:13: alerts.templates: no such folder");
        let e = error_at(text, Path::new("skimwatch.toml"), &["alerts", "email"], "x");
        assert_eq!(e.to_string(), "skimwatch.toml:1:1: alerts.email: x", "not there: the start of the file");
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
    fn missing_file_is_named() {
        // The binary adds how to fix it (the flag and the default name): see the integration
        // test `cli::missing_config_suggests_the_config_flag`.
        let path = Path::new("/nonexistent/dir/skimwatch.toml");
        let err = Config::load(path).unwrap_err();
        assert!(matches!(err, ConfigError::NotFound { .. }));
        let msg = err.to_string();
        assert!(msg.contains("/nonexistent/dir/skimwatch.toml") && msg.contains("config file not found"), "{msg}");
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
        assert_eq!(c.browser.max_pages, MaxPages::Fixed(2));
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
        assert_eq!((c.pages[0].interval, c.browser.max_pages), (DEFAULT_INTERVAL, MaxPages::Auto));
        let auto = parse("[browser]\nmax_pages = \"auto\"\n[[page]]\nname = \"a\"\nurl = \"https://x.example/\"\n");
        assert_eq!(auto.unwrap().browser.max_pages, MaxPages::Auto);
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
        assert!(email(&format!("smtp = \"http://mail.example\"\n{base}"))
            .starts_with("skimwatch.toml:5:8: alerts.email.smtp: \"http://mail.example\": use smtp://"));
        assert!(email(&format!("smtp = \"smtp://m.example?tls=maybe\"\n{base}")).contains("tls=\"maybe\""));
        assert!(email("smtp = \"smtp://m.example\"\nfrom = \"not an address\"\nto = [\"c@d.example\"]\n")
            .starts_with("skimwatch.toml:6:8: alerts.email.from: \"not an address\" is not an email address"));
        assert_eq!(
            email("smtp = \"smtp://m.example\"\nfrom = \"a@b.example\"\nto = []\n"),
            "skimwatch.toml:7:6: alerts.email.to: no recipient: list at least one address"
        );
        assert!(email(&format!("smtp = \"smtp://m.example\"\n{base}username = \"u\"\npassword_env = \"hunter2!\"\n"))
            .starts_with(
                "skimwatch.toml:9:16: alerts.email.password_env: \"hunter2!\" is not an environment variable name"
            ));
        assert!(email(&format!("smtp = \"smtp://m.example\"\n{base}min_severity = \"urgent\"\n"))
            .contains("unknown severity `urgent`"));
        assert_eq!(email(&format!("smtp = \"smtp://m.example\"\n{base}passwrd_env = \"X\"\n")),
            "skimwatch.toml:8:1: alerts.email.passwrd_env: unknown key (expected smtp, from, to, username, password_env, min_severity)");
        assert_eq!(
            email("from = \"a@b.example\"\nto = [\"c@d.example\"]\n"),
            "skimwatch.toml:4:1: alerts.email.smtp: missing required key"
        );
        assert_eq!(error(&format!("{page}[alerts]\nrenotfy = \"1h\"\n")),
            "skimwatch.toml:5:1: alerts.renotfy: unknown key (expected email, webhook, renotify, failures_before_alert, stale_after, retry, templates)");
        assert_eq!(
            error(&format!("{page}[alerts]\nfailures_before_alert = 0\n")),
            "skimwatch.toml:5:25: alerts.failures_before_alert: must be a whole number from 1 to 1000"
        );
        assert_eq!(
            error(&format!("[browser]\nmax_pages = \"4\"\n{page}")),
            "skimwatch.toml:2:13: browser.max_pages: expected a whole number from 1 to 64, or \"auto\", found string"
        );
        assert_eq!(
            error(&format!("[browser]\nmax_pages = 0\n{page}")),
            "skimwatch.toml:2:13: browser.max_pages: must be a whole number from 1 to 64"
        );
        assert_eq!(
            error(&format!("{page}interval = \"0s\"\n")),
            "skimwatch.toml:4:12: page[0].interval: must be greater than zero"
        );
    }

    #[test]
    fn webhooks_are_read_with_defaults_and_unique_names() {
        let c = parse(
            "[[page]]\nname = \"a\"\nurl = \"https://x.example/\"\n\
             [[alerts.webhook]]\nurl = \"https://hooks.example:8443/skimwatch\"\nkind = \"json\"\nsecret_env = \"SW_HOOK_SECRET\"\n\
             [[alerts.webhook]]\nname = \"secops-slack\"\nurl_env = \"SW_SLACK_URL\"\nkind = \"slack\"\nmin_severity = \"high\"\ntimeout = \"3s\"\n\
             [[alerts.webhook]]\nurl_env = \"SW_TEAMS_URL\"\nkind = \"teams\"\n",
        )
        .unwrap();
        let w = &c.alerts.webhooks;
        assert_eq!(w.len(), 3);
        assert_eq!(
            w[0],
            WebhookConfig {
                name: "hooks.example".into(),
                url: WebhookUrl::Literal("https://hooks.example:8443/skimwatch".into()),
                kind: WebhookKind::Json,
                min_severity: Severity::Medium,
                secret_env: Some("SW_HOOK_SECRET".into()),
                timeout: DEFAULT_WEBHOOK_TIMEOUT,
            }
        );
        assert_eq!((w[1].name.as_str(), &w[1].url), ("secops-slack", &WebhookUrl::Env("SW_SLACK_URL".into())));
        assert_eq!(
            (w[1].kind, w[1].min_severity, w[1].timeout),
            (WebhookKind::Slack, Severity::High, Duration::from_secs(3))
        );
        assert_eq!((w[2].name.as_str(), w[2].kind), ("teams", WebhookKind::Teams), "named after the kind with url_env");
        let v6 = parse("[[page]]\nname = \"a\"\nurl = \"https://x.example/\"\n[[alerts.webhook]]\nurl = \"http://[::1]:9/h\"\nkind = \"json\"\n");
        assert_eq!(v6.unwrap().alerts.webhooks[0].name, "--1");
        assert!(c.alerts.email.is_none());
    }

    #[test]
    fn bad_webhooks_name_line_and_key() {
        let page = "[[page]]\nname = \"a\"\nurl = \"https://x.example/\"\n";
        let hook = |body: &str| error(&format!("{page}[[alerts.webhook]]\n{body}"));
        assert_eq!(
            hook("url = \"https://user:hunter2@hooks.example/x\"\nkind = \"json\"\n"),
            "skimwatch.toml:5:7: alerts.webhook[0].url: credentials do not belong in the URL: sign the body with `secret_env`, or keep a URL that is itself a secret in `url_env` (the name of an environment variable holding it)"
        );
        assert_eq!(
            hook("url = \"ftp://hooks.example/x\"\nkind = \"json\"\n"),
            "skimwatch.toml:5:7: alerts.webhook[0].url: \"ftp://hooks.example/x\": a webhook URL is http:// or https://"
        );
        assert_eq!(
            hook("url = \"https://hooks.example/x\"\nkind = \"discord\"\n"),
            "skimwatch.toml:6:8: alerts.webhook[0].kind: unknown webhook kind \"discord\" (expected \"json\", \"slack\" or \"teams\")"
        );
        assert_eq!(
            hook("url = \"https://hooks.example/x\"\n"),
            "skimwatch.toml:4:1: alerts.webhook[0].kind: missing required key"
        );
        assert!(hook("kind = \"json\"\n")
            .starts_with("skimwatch.toml:4:1: alerts.webhook[0].url: missing required key: set `url`, or `url_env`"));
        assert!(hook("url = \"https://h.example/\"\nurl_env = \"U\"\nkind = \"json\"\n")
            .starts_with("skimwatch.toml:4:1: alerts.webhook[0].url_env: set either `url` or `url_env`"));
        assert!(hook("url_env = \"https://hooks.slack.com/services/T0/B0/XYZ\"\nkind = \"slack\"\n")
            .starts_with("skimwatch.toml:5:11: alerts.webhook[0].url_env: \"https://hooks.slack.com/services/T0/B0/XYZ\" is not an environment variable name"));
        assert!(hook("url = \"https://h.example/\"\nkind = \"json\"\nsecret_env = \"s3cr3t!\"\n").starts_with(
            "skimwatch.toml:7:14: alerts.webhook[0].secret_env: \"s3cr3t!\" is not an environment variable name"
        ));
        assert!(hook("url_env = \"U\"\nkind = \"slack\"\nsecret_env = \"S\"\n")
            .starts_with("skimwatch.toml:4:1: alerts.webhook[0].secret_env: only `kind = \"json\"` bodies are signed"));
        assert!(hook("url = \"https://h.example/\"\nkind = \"json\"\nmin_severity = \"loud\"\n")
            .contains("unknown severity `loud`"));
        assert_eq!(
            hook("url = \"https://h.example/\"\nkind = \"json\"\ntimeout = \"0s\"\n"),
            "skimwatch.toml:7:11: alerts.webhook[0].timeout: must be greater than zero"
        );
        assert!(hook("url = \"https://h.example/\"\nkind = \"json\"\nname = \"my hook\"\n")
            .starts_with("skimwatch.toml:7:8: alerts.webhook[0].name: \"my hook\": use at most 64 letters"));
        assert_eq!(
            hook("url = \"https://h.example/\"\nkind = \"json\"\nsecrt_env = \"S\"\n"),
            "skimwatch.toml:7:1: alerts.webhook[0].secrt_env: unknown key (expected name, url, url_env, kind, min_severity, secret_env, timeout)"
        );
        // Two webhooks to one host need names of their own.
        let two = "url = \"https://h.example/a\"\nkind = \"json\"\n[[alerts.webhook]]\nurl = \"https://h.example/b\"\nkind = \"slack\"\n";
        assert!(
            hook(two).starts_with("skimwatch.toml:7:1: alerts.webhook[1].name: two webhooks are named \"h.example\""),
            "{}",
            hook(two)
        );
        let named = "name = \"x\"\nurl_env = \"A\"\nkind = \"json\"\n[[alerts.webhook]]\nname = \"x\"\nurl_env = \"B\"\nkind = \"json\"\n";
        assert!(
            hook(named).starts_with("skimwatch.toml:9:8: alerts.webhook[1].name: two webhooks are named \"x\""),
            "{}",
            hook(named)
        );
        assert_eq!(
            error(&format!("{page}[alerts]\nwebhook = {{ url = \"https://h.example/\" }}\n")),
            "skimwatch.toml:5:11: alerts.webhook: expected [[alerts.webhook]] tables, found table"
        );
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
            [Policy {
                pattern: "https://js.stripe.com/v3/*".into(),
                trust: Trust::Url,
                reason: "Stripe forbids pinning; PCI scope is theirs".into()
            }]
        );
        assert!(p.policies[0].matches("https://js.stripe.com/v3/"));
        assert!(p.policies[0].matches("https://js.stripe.com/v3/fingerprinted/js/m-outer.js"));
        assert!(!p.policies[0].matches("https://js.stripe.com.evil.example/v3/x"));
        assert!(!p.policies[0].matches("https://evil.example/?https://js.stripe.com/v3/"));
        assert_eq!(
            parse("[[page]]\nname = \"a\"\nurl = \"https://x.example/\"\n").unwrap().pages[0].removed_after,
            DEFAULT_REMOVED_AFTER
        );
    }

    #[test]
    fn bad_policies_name_line_and_key() {
        let msg = error(&QUIET.replace("trust = \"url\"", "trust = \"content\""));
        assert_eq!(msg, "skimwatch.toml:9:9: page[0].policy[0].trust: unknown trust \"content\" (expected \"url\")");
        let msg = error(&QUIET.replace("reason = \"Stripe forbids pinning; PCI scope is theirs\"\n", ""));
        assert_eq!(msg, "skimwatch.toml:7:1: page[0].policy[0].reason: missing required key");
        let msg = error(&QUIET.replace("match = \"https://js.stripe.com/v3/*\"", "match = \"js.stripe.com\""));
        assert!(
            msg.starts_with(
                "skimwatch.toml:8:9: page[0].policy[0].match: \"js.stripe.com\" is not an http(s) URL pattern"
            ),
            "{msg}"
        );
        let msg = error(&QUIET.replace("ignore_query = [\"v\", \"_\"]", "ignore_query = \"v\""));
        assert!(msg.starts_with("skimwatch.toml:4:16: page[0].ignore_query: expected an array of strings"), "{msg}");
        let msg = error(&QUIET.replace("removed_after = 5", "removed_after = 0"));
        assert_eq!(msg, "skimwatch.toml:5:17: page[0].removed_after: must be a whole number from 1 to 1000");
        let msg = error(&QUIET.replace("trust = \"url\"", "trust = \"url\"\nmatchh = \"x\""));
        assert!(msg.starts_with("skimwatch.toml:10:1: page[0].policy[0].matchh: unknown key"), "{msg}");
    }
}
