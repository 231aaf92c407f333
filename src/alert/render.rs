//! Renders a queued alert into an email (subject, plain text, HTML) from minijinja templates.
//!
//! The built-in templates are the files in the top-level `alerts/` folder, compiled in; a user
//! overrides any of them by putting a file of the same name in the folder named by
//! `[alerts] templates`. Everything that comes from a scanned page (URLs, code, hosts, titles)
//! is hostile: the HTML template is auto-escaped, the values handed to templates have control
//! characters removed, single-line values lose their line breaks, and the rendered subject is
//! flattened to one bounded line, so page content can neither inject markup nor break a header.
//! Every page-derived value is also passed through [`crate::text::mask_card_numbers`]: an
//! exfiltration URL made of the canary card (`4111111111111111.evil.example`) must not get the
//! alert quarantined by the mail gateway's DLP. The values a template sees that are not masked
//! are computed by skimwatch (hashes, finding ids of 12 hex digits, times, counts).

use super::{Alert, AlertKind};
use crate::model::{Finding, Severity};
use crate::text::shell_quote;
use minijinja::{AutoEscape, Environment};
use serde::Serialize;
use std::path::{Path, PathBuf};

pub const SUBJECT: &str = "subject.txt.j2";
pub const TEXT: &str = "email.txt.j2";
pub const HTML: &str = "email.html.j2";

/// The built-in subject, kept beside a user's own: the one-line summary of webhook messages is
/// skimwatch's, whatever the email templates say.
const BUILTIN_SUBJECT: &str = "builtin/subject.txt.j2";

const BUILTIN: [(&str, &str); 3] = [
    (SUBJECT, include_str!("../../alerts/subject.txt.j2")),
    (TEXT, include_str!("../../alerts/email.txt.j2")),
    (HTML, include_str!("../../alerts/email.html.j2")),
];

/// Findings listed in one email; the rest are counted.
const MAX_FINDINGS: usize = 50;
/// Lines and bytes of a diff shown in an email.
const DIFF_LINES: usize = 60;
const DIFF_BYTES: usize = 8 * 1024;
/// Longest single-line value (URL, title, host) shown.
const LINE_CHARS: usize = 300;
/// Longest headline (the top finding's title) in a subject.
const HEADLINE_CHARS: usize = 110;
/// Longest subject line.
const SUBJECT_CHARS: usize = 200;
/// Largest template file read from the override folder.
const MAX_TEMPLATE_BYTES: u64 = 1024 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    #[error("alert templates: {} is not a folder; fix `[alerts] templates` in the config or create it", path.display())]
    NoFolder { path: PathBuf },
    #[error("alert template {}: cannot read it: {source}", path.display())]
    Read { path: PathBuf, source: std::io::Error },
    #[error("alert template {name}: {message}")]
    Template { name: String, message: String },
}

/// An email ready to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    pub subject: String,
    pub text: String,
    pub html: String,
}

pub struct Renderer {
    env: Environment<'static>,
    /// `--config` value for the approve commands, absolute and shell-quoted.
    config_arg: String,
}

impl Renderer {
    /// Loads the templates (overrides from `dir`, when given, else the built-in ones) and
    /// renders a sample of every alert kind, so that a broken template fails at startup rather
    /// than when the first alert is due.
    pub fn load(dir: Option<&Path>, config_path: &Path) -> Result<Renderer, RenderError> {
        let mut env = Environment::new();
        env.set_syntax(
            minijinja::syntax::SyntaxConfig::builder()
                .trim_blocks(true)
                .lstrip_blocks(true)
                .keep_trailing_newline(true)
                .build()
                .expect("the default delimiters are a valid syntax"),
        );
        env.set_auto_escape_callback(|name| {
            if name.ends_with(".html.j2") || name.ends_with(".html") {
                AutoEscape::Html
            } else {
                AutoEscape::None
            }
        });
        if let Some(dir) = dir {
            if !dir.is_dir() {
                return Err(RenderError::NoFolder { path: dir.to_path_buf() });
            }
        }
        for (name, builtin) in BUILTIN {
            let source = match dir.map(|d| d.join(name)).filter(|p| p.is_file()) {
                Some(path) => read_template(&path)?,
                None => builtin.to_string(),
            };
            env.add_template_owned(name, source)
                .map_err(|e| RenderError::Template { name: name.to_string(), message: describe(&e) })?;
        }
        env.add_template(BUILTIN_SUBJECT, BUILTIN[0].1)
            .map_err(|e| RenderError::Template { name: SUBJECT.to_string(), message: describe(&e) })?;
        let config = std::path::absolute(config_path).unwrap_or_else(|_| config_path.to_path_buf());
        let renderer = Renderer { env, config_arg: shell_quote(&config.display().to_string()) };
        for sample in samples() {
            renderer.render(&sample)?;
        }
        Ok(renderer)
    }

    /// Renders one alert.
    pub fn render(&self, alert: &Alert) -> Result<Rendered, RenderError> {
        let view = self.view(alert);
        let render = |name: &str| {
            self.env
                .get_template(name)
                .and_then(|t| t.render(minijinja::value::Serde(&view)))
                .map_err(|e| RenderError::Template { name: name.to_string(), message: describe(&e) })
        };
        Ok(Rendered { subject: subject_line(&render(SUBJECT)?), text: render(TEXT)?, html: render(HTML)? })
    }
}

impl Renderer {
    /// What the templates see: every page-derived value cleaned (one line, control characters
    /// removed, card-like numbers masked, bounded), at most [`MAX_FINDINGS`] findings, and the
    /// approve commands. The webhook bodies ([`super::payload`]) are built from it too.
    pub fn view(&self, alert: &Alert) -> View {
        View::new(alert, &self.config_arg)
    }

    /// The alert in one line as the built-in subject says it, without the `[skimwatch] `
    /// prefix (`HIGH: Altered external script … on checkout (+1 more)`).
    pub fn summary(&self, alert: &Alert) -> Result<String, RenderError> {
        let view = self.view(alert);
        let line = self
            .env
            .get_template(BUILTIN_SUBJECT)
            .and_then(|t| t.render(minijinja::value::Serde(&view)))
            .map_err(|e| RenderError::Template { name: SUBJECT.to_string(), message: describe(&e) })?;
        let line = subject_line(&line);
        Ok(line.strip_prefix("[skimwatch] ").map(str::to_string).unwrap_or(line))
    }
}

fn read_template(path: &Path) -> Result<String, RenderError> {
    let read_err = |source| RenderError::Read { path: path.to_path_buf(), source };
    let meta = std::fs::metadata(path).map_err(read_err)?;
    if meta.len() > MAX_TEMPLATE_BYTES {
        return Err(read_err(std::io::Error::other("larger than 1 MiB")));
    }
    std::fs::read_to_string(path).map_err(read_err)
}

/// minijinja's error with its line number, on one line.
fn describe(e: &minijinja::Error) -> String {
    let mut s = match e.line() {
        Some(line) => format!("line {line}: {}", e.kind()),
        None => e.kind().to_string(),
    };
    if let Some(detail) = e.detail() {
        s.push_str(": ");
        s.push_str(detail);
    }
    s
}

/// The subject as one header-safe line: control characters (CR, LF, …) become spaces, runs of
/// whitespace collapse, and it is cut to a bounded length.
pub fn subject_line(raw: &str) -> String {
    let flat: String = raw.chars().map(|c| if c.is_control() { ' ' } else { c }).collect();
    let words: Vec<&str> = flat.split_whitespace().collect();
    cut(&words.join(" "), SUBJECT_CHARS)
}

/// One line of untrusted text: control characters (line breaks included) become spaces, and
/// card-like digit runs are masked (before the cut, so a cut cannot leave a number unmasked).
pub(crate) fn one_line(s: &str) -> String {
    let flat: String = s.chars().map(|c| if c.is_control() { ' ' } else { c }).collect();
    cut(crate::text::mask_card_numbers(flat.trim()).as_str(), LINE_CHARS)
}

/// A hash skimwatch computed, shown exactly: masking would change it (1 in a few hundred
/// SHA-256 hex strings holds a Luhn-valid run of 13+ digits between letters), and the reader
/// compares it with the baseline. Anything that is not plain hex is treated as page text.
fn hash(s: &str) -> String {
    if s.len() <= 128 && s.bytes().all(|b| b.is_ascii_hexdigit()) {
        s.to_string()
    } else {
        one_line(s)
    }
}

/// Multi-line untrusted text: keeps line breaks and tabs, drops other control characters
/// (terminal escapes, NULs), masks card-like digit runs.
fn multi_line(s: &str) -> String {
    let kept: String = s.chars().filter(|c| !c.is_control() || *c == '\n' || *c == '\t').collect();
    crate::text::mask_card_numbers(&kept)
}

pub(crate) fn cut(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        Some((at, _)) => format!("{}…", &s[..at]),
        None => s.to_string(),
    }
}

/// What the templates see. Every string from the scanned page is cleaned here.
#[derive(Debug, Serialize)]
pub struct View {
    pub kind: &'static str,
    pub page: String,
    pub url: String,
    pub scan_id: Option<i64>,
    pub raised_at: String,
    /// Most severe finding's severity, upper case (`HIGH`), or empty.
    pub severity: String,
    /// The most severe finding's title, one line.
    pub headline: String,
    pub findings: Vec<FindingView>,
    pub reminders: Vec<FindingView>,
    /// Findings (and reminders) not listed because of the cap.
    pub more: usize,
    pub error: String,
    pub failures: u32,
    pub last_ok: String,
    pub pages: Vec<String>,
    pub stale_after: String,
    /// Approves every finding of this email at once.
    pub approve_all: String,
}

/// One finding as the templates see it; empty strings for what it does not have.
#[derive(Debug, Serialize)]
pub struct FindingView {
    pub id: String,
    pub severity: String,
    pub kind: String,
    pub title: String,
    pub script_id: String,
    pub script_kind: String,
    pub script_url: String,
    pub sha256: String,
    pub approved_sha256: String,
    pub host: String,
    pub header: String,
    pub initiator: String,
    pub diff: String,
    pub diff_truncated: bool,
    pub first_seen: String,
    pub last_seen: String,
    pub seen_count: u64,
    /// `first_seen`, with how often and when last when seen more than once.
    pub seen: String,
    pub approve: String,
}

impl View {
    fn new(alert: &Alert, config_arg: &str) -> View {
        let page = alert.page.clone().unwrap_or_default();
        let approve = |ids: &[&str]| {
            let mut cmd = format!("skimwatch --config {config_arg} baseline approve --page {}", shell_quote(&page));
            for id in ids {
                cmd.push_str(" --finding ");
                cmd.push_str(&shell_quote(id));
            }
            cmd.push_str(" --by YOUR_NAME --reason 'WHY THIS CHANGE IS INTENDED'");
            cmd
        };
        let mut budget = MAX_FINDINGS;
        let mut take = |list: &[Finding]| -> Vec<FindingView> {
            let n = list.len().min(budget);
            budget -= n;
            list[..n].iter().map(|f| finding_view(f, &approve(&[&f.id]))).collect()
        };
        let findings = take(&alert.findings);
        let reminders = take(&alert.reminders);
        let more = alert.findings.len() + alert.reminders.len() - findings.len() - reminders.len();
        let all_ids: Vec<&str> = alert.findings.iter().chain(&alert.reminders).map(|f| f.id.as_str()).collect();
        // The first of the most severe (the list is sorted most severe first).
        let top =
            alert.findings.iter().chain(&alert.reminders).reduce(|a, b| if b.severity > a.severity { b } else { a });
        View {
            kind: alert.kind.as_str(),
            page: one_line(&page),
            url: one_line(alert.url.as_deref().unwrap_or_default()),
            scan_id: alert.scan_id,
            raised_at: alert.raised_at.to_string(),
            severity: alert.severity().map(|s| s.as_str().to_uppercase()).unwrap_or_default(),
            // Short enough that the subject keeps the page name and count after it.
            headline: top.map(|f| cut(&one_line(&f.title), HEADLINE_CHARS)).unwrap_or_default(),
            findings,
            reminders,
            more,
            error: one_line(alert.error.as_deref().unwrap_or_default()),
            failures: alert.failures,
            last_ok: alert.last_ok.map(|t| t.to_string()).unwrap_or_default(),
            pages: alert.pages.iter().map(|p| one_line(p)).collect(),
            stale_after: alert.stale_after.clone().unwrap_or_default(),
            approve_all: if all_ids.len() > 1 { approve(&all_ids) } else { String::new() },
        }
    }
}

fn finding_view(f: &Finding, approve: &str) -> FindingView {
    let (diff, diff_truncated) = match &f.diff {
        Some(d) => excerpt(d),
        None => (String::new(), false),
    };
    let header = f.header.as_ref().map(|h| {
        format!(
            "{}: {} -> {}",
            h.name,
            h.approved.as_deref().unwrap_or("(absent)"),
            h.current.as_deref().unwrap_or("(absent)")
        )
    });
    FindingView {
        id: one_line(&f.id),
        severity: f.severity.as_str().to_uppercase(),
        kind: f.kind.as_str().to_string(),
        title: one_line(&f.title),
        script_id: one_line(f.script.as_ref().map_or("", |s| s.id.as_str())),
        script_kind: f.script.as_ref().map_or(String::new(), |s| s.kind.to_string()),
        script_url: one_line(f.script.as_ref().and_then(|s| s.url.as_deref()).unwrap_or_default()),
        sha256: hash(f.script.as_ref().map_or("", |s| s.sha256.as_str())),
        approved_sha256: hash(f.approved_sha256.as_deref().unwrap_or_default()),
        host: one_line(f.host.as_deref().unwrap_or_default()),
        header: one_line(header.as_deref().unwrap_or_default()),
        initiator: one_line(f.initiator.as_deref().unwrap_or_default()),
        diff,
        diff_truncated,
        first_seen: f.first_seen.clone().unwrap_or_default(),
        last_seen: f.last_seen.clone().unwrap_or_default(),
        seen_count: f.seen_count.unwrap_or(0),
        seen: match (f.first_seen.as_deref(), f.seen_count) {
            (Some(first), Some(n)) if n > 1 => {
                format!("{first} (seen in {n} scans, last {})", f.last_seen.as_deref().unwrap_or("?"))
            }
            (Some(first), _) => first.to_string(),
            (None, _) => "now".to_string(),
        },
        approve: approve.to_string(),
    }
}

/// The first lines of a diff, bounded in lines and bytes (and per line).
fn excerpt(diff: &str) -> (String, bool) {
    let mut out = String::new();
    let mut truncated = false;
    for (i, line) in diff.lines().enumerate() {
        if i >= DIFF_LINES || out.len() >= DIFF_BYTES {
            truncated = true;
            break;
        }
        let line = multi_line(line);
        if line.chars().count() > LINE_CHARS {
            truncated = true;
        }
        out.push_str(&cut(&line, LINE_CHARS));
        out.push('\n');
    }
    (out, truncated)
}

/// The time in the sample alerts (2025-01-01T00:00:00Z).
const SAMPLE_TIME: time::OffsetDateTime = time::macros::datetime!(2025-01-01 0:00 UTC);

/// One alert of each kind, rendered at load time to check the templates.
fn samples() -> Vec<Alert> {
    use crate::model::{FindingKind, HeaderChange, ScriptKind, ScriptRef};
    let finding = Finding {
        id: "F0123456789ab".into(),
        kind: FindingKind::AlteredScript,
        severity: Severity::High,
        title: "Altered external script https://shop.example/app.js".into(),
        script: Some(ScriptRef {
            id: "self:/app.js".into(),
            kind: ScriptKind::External,
            url: Some("https://shop.example/app.js".into()),
            sha256: "0".repeat(64),
        }),
        diff: Some("--- approved\n+++ current\n+evil();\n".into()),
        header: Some(HeaderChange { name: "x-frame-options".into(), approved: Some("DENY".into()), current: None }),
        host: Some("evil.example".into()),
        first_seen: Some("2025-01-01T00:00:00Z".into()),
        seen_count: Some(1),
        ..Default::default()
    };
    let base = Alert {
        page: Some("checkout".into()),
        url: Some("https://shop.example/checkout".into()),
        scan_id: Some(1),
        raised_at: SAMPLE_TIME.into(),
        ..Default::default()
    };
    AlertKind::ALL
        .into_iter()
        .map(|kind| Alert {
            kind,
            findings: vec![finding.clone()],
            reminders: vec![finding.clone()],
            error: Some("timed out".into()),
            failures: 3,
            last_ok: Some(SAMPLE_TIME.into()),
            pages: vec!["checkout".into()],
            stale_after: Some("45m".into()),
            ..base.clone()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{FindingKind, ScriptKind, ScriptRef};

    fn hostile_alert() -> Alert {
        Alert {
            kind: AlertKind::Findings,
            page: Some("checkout".into()),
            url: Some("https://shop.example/checkout".into()),
            scan_id: Some(7),
            raised_at: SAMPLE_TIME.into(),
            findings: vec![Finding {
                id: "Fabc".into(),
                kind: FindingKind::NewScript,
                severity: Severity::Critical,
                title:
                    "New external script https://evil.example/<script>alert(1)</script>.js\r\nBcc: victim@example.com"
                        .into(),
                script: Some(ScriptRef {
                    id: "https://evil.example/<script>alert(1)</script>.js".into(),
                    kind: ScriptKind::External,
                    url: Some("https://evil.example/<script>alert(1)</script>.js".into()),
                    sha256: "a".repeat(64),
                }),
                diff: Some("+<img src=x onerror=alert(1)>\x1b[31m\n".into()),
                ..Default::default()
            }],
            ..Default::default()
        }
    }

    #[test]
    fn hashes_are_shown_exactly_even_when_they_hold_a_card_like_run() {
        // A SHA-256 hex string with a Luhn-valid 16-digit run between letters (seen in CI).
        let sha = "c2c3d5867b72cc8c469e26f35a5678474111111111111111c4f37d43c581ed6e";
        assert_ne!(crate::text::mask_card_numbers(sha), sha, "the run is card-like");
        let mut alert = hostile_alert();
        alert.findings[0].script.as_mut().unwrap().sha256 = sha.into();
        alert.findings[0].approved_sha256 = Some(sha.into());
        let r = Renderer::load(None, Path::new("/etc/skimwatch/skimwatch.toml")).unwrap();
        let out = r.render(&alert).unwrap();
        assert_eq!(out.text.matches(sha).count(), 2, "{}", out.text);
        // Page text with the same digits is still masked.
        assert_eq!(hash("https://4111111111111111.evil.example/"), "https://411111******1111.evil.example/");
    }

    #[test]
    fn subject_is_one_line_and_html_is_escaped() {
        let r = Renderer::load(None, Path::new("/etc/skimwatch/skimwatch.toml")).unwrap();
        let out = r.render(&hostile_alert()).unwrap();
        assert!(!out.subject.contains('\r') && !out.subject.contains('\n'), "{:?}", out.subject);
        assert!(out.subject.starts_with("[skimwatch] CRITICAL: New external script"), "{}", out.subject);
        assert!(out.subject.chars().count() <= SUBJECT_CHARS + 1);
        // A long title is cut so that the subject still says where.
        let mut long = hostile_alert();
        long.findings[0].title = format!("New external script https://cdn.example/{}", "x".repeat(400));
        let subject = r.render(&long).unwrap().subject;
        assert!(subject.ends_with("… on checkout"), "{subject}");
        assert!(!out.html.contains("<script>alert(1)"), "{}", out.html);
        assert!(out.html.contains("&lt;script&gt;alert(1)&lt;&#x2f;script&gt;"), "{}", out.html);
        assert!(!out.html.contains("<img src=x"), "{}", out.html);
        assert!(!out.text.contains('\x1b') && !out.html.contains('\x1b'));
        // The text part shows the URL as is (it is not HTML), on one line.
        assert!(out.text.contains("https://evil.example/<script>alert(1)</script>.js"));
        assert!(out.text.contains("skimwatch --config /etc/skimwatch/skimwatch.toml baseline approve --page checkout --finding Fabc --by YOUR_NAME --reason"));
    }

    #[test]
    fn user_templates_override_and_errors_name_the_file() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(SUBJECT), "ALERT {{ page }} {{ kind }}").unwrap();
        let r = Renderer::load(Some(dir.path()), Path::new("skimwatch.toml")).unwrap();
        assert_eq!(r.render(&hostile_alert()).unwrap().subject, "ALERT checkout findings");

        std::fs::write(dir.path().join(TEXT), "{% if %}").unwrap();
        let err = Renderer::load(Some(dir.path()), Path::new("skimwatch.toml")).err().unwrap().to_string();
        assert!(err.starts_with("alert template email.txt.j2: line 1"), "{err}");
        let err =
            Renderer::load(Some(&dir.path().join("nope")), Path::new("skimwatch.toml")).err().unwrap().to_string();
        assert!(err.contains("is not a folder"), "{err}");
    }

    #[test]
    fn long_diffs_are_cut() {
        let diff: String = (0..500).map(|i| format!("+line {i}\n")).collect();
        let (ex, truncated) = excerpt(&diff);
        assert!(truncated);
        assert_eq!(ex.lines().count(), DIFF_LINES);
    }

    #[test]
    fn shell_quoting() {
        assert_eq!(shell_quote("/etc/sw/skimwatch.toml"), "/etc/sw/skimwatch.toml");
        assert_eq!(shell_quote("/tmp/a b/it's.toml"), r"'/tmp/a b/it'\''s.toml'");
    }
}
