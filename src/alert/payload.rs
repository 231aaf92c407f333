//! The bodies of webhook alerts: skimwatch's own JSON contract ([`WebhookBody`], signed by
//! [`super::webhook`]), a Slack Block Kit message ([`slack`]) and a Microsoft Teams message with
//! an Adaptive Card ([`teams`]).
//!
//! All three are built from the renderer's [`View`], the same one the email templates see: the
//! page-derived text arrives cleaned (one line, control characters removed, card-like numbers
//! masked, at most 300 characters each, at most 50 findings) and the approve commands are the
//! email's, so there is one owner of both. Each format then guards its own markup. Slack: `&`,
//! `<` and `>` become entities, page text goes in code spans (so it can neither format, link nor
//! mention anyone) in `verbatim` text (no auto-linking), links are not unfurled (Slack would
//! fetch the attacker's URL), and text stays inside Block Kit's limits (3000 characters per
//! text, 150 for the header). Teams: page text goes in `TextRun`s, which Adaptive Cards never
//! read as markdown. Chat messages list at most [`CHAT_FINDINGS`] findings and say how many
//! more there are; the JSON body lists what the view lists and counts the rest in `omitted`.

use super::render::{cut, one_line, FindingView, View};
use super::{Alert, AlertKind};
use crate::model::{Finding, FindingKind, Severity};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

/// The JSON contract's version (`version` in the body); raised only for changes that would
/// break a receiver (a field removed or changing meaning). Fields may be added within a version.
pub const VERSION: u32 = 1;
/// Findings listed in one chat message; the rest are counted.
pub const CHAT_FINDINGS: usize = 10;
/// Block Kit's limit for one text object, and for a header.
const SLACK_TEXT: usize = 3000;
const SLACK_HEADER: usize = 150;
/// Hints and added hosts listed per finding in the JSON body.
const LIST_ITEMS: usize = 20;

/// The JSON webhook body (`kind = "json"`), version 1. Every field is always present (`null`,
/// `[]` or `0` when it does not apply), so a receiver can rely on the shape. Page-derived text
/// is cleaned as described in the module docs. See docs/webhooks.md.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebhookBody {
    /// [`VERSION`].
    pub version: u32,
    /// The alert's id: the same across retries and destinations (deduplicate deliveries on it).
    pub id: String,
    pub kind: AlertKind,
    /// One line, as the email subject says it without its `[skimwatch] ` prefix.
    pub summary: String,
    /// The most severe finding's severity (`null` for alerts about the monitor).
    pub severity: Option<Severity>,
    pub raised_at: String,
    pub page: Option<String>,
    pub url: Option<String>,
    pub scan_id: Option<i64>,
    /// For incident tools: which incident the alert opens or closes (`null` for findings,
    /// which carry their own `key`).
    pub incident: Option<Incident>,
    /// `findings`: the changes never alerted before; `reminder`: the ones still unapproved.
    pub findings: Vec<FindingBody>,
    /// `findings`: findings alerted before that are due for a reminder, sent along.
    pub reminders: Vec<FindingBody>,
    /// Findings and reminders left out by the cap of 50.
    pub omitted: usize,
    /// Approves every finding of the alert at once, when it has several.
    pub approve_all: Option<String>,
    /// `scan_failing`, `storage_full`: the error.
    pub error: Option<String>,
    /// `scan_failing`: failed scans in a row; `recovered`: how many there had been.
    pub failures: u32,
    /// When the page (any page, for monitor alerts) last scanned successfully.
    pub last_ok: Option<String>,
    /// `monitor_blind`: the pages watched.
    pub pages: Vec<String>,
    /// `monitor_blind`: the threshold (`45m`).
    pub stale_after: Option<String>,
}

/// Which incident an alert is about: `scan_failing/<page>` (opened by `scan_failing`, closed
/// by `recovered`), `monitor_blind` (opened by `monitor_blind`, closed by `monitor_recovered`),
/// `storage_full/<page>` (opened only).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Incident {
    pub key: String,
    pub action: IncidentAction,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IncidentAction {
    Trigger,
    Resolve,
}

/// One finding in the JSON body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FindingBody {
    /// Stable: the same change on the same page keeps its id across scans and alerts.
    pub id: String,
    /// `finding/<page>/<id>`: unique across pages, for deduplication.
    pub key: String,
    pub kind: FindingKind,
    pub severity: Severity,
    pub title: String,
    pub script: Option<ScriptBody>,
    pub approved_sha256: Option<String>,
    pub host: Option<String>,
    /// `name: approved -> current`.
    pub header: Option<String>,
    pub initiator: Option<String>,
    pub hints: Vec<String>,
    pub added_hosts: Vec<String>,
    /// The diff excerpt (approved → current, at most 60 lines).
    pub diff: Option<String>,
    pub diff_truncated: bool,
    pub first_seen: Option<String>,
    pub last_seen: Option<String>,
    pub seen_count: Option<u64>,
    /// The command that approves this finding.
    pub approve: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScriptBody {
    pub id: String,
    pub kind: String,
    pub url: Option<String>,
    pub sha256: String,
}

fn some(s: &str) -> Option<String> {
    (!s.is_empty()).then(|| s.to_string())
}

/// The incident an alert opens or closes, if it is about the monitor.
pub fn incident(kind: AlertKind, page: &str) -> Option<Incident> {
    let (key, action) = match kind {
        AlertKind::Findings | AlertKind::Reminder => return None,
        AlertKind::ScanFailing => (format!("scan_failing/{page}"), IncidentAction::Trigger),
        AlertKind::Recovered => (format!("scan_failing/{page}"), IncidentAction::Resolve),
        AlertKind::MonitorBlind => ("monitor_blind".to_string(), IncidentAction::Trigger),
        AlertKind::MonitorRecovered => ("monitor_blind".to_string(), IncidentAction::Resolve),
        AlertKind::StorageFull => (format!("storage_full/{page}"), IncidentAction::Trigger),
    };
    Some(Incident { key, action })
}

impl WebhookBody {
    /// The body for `alert` (already filtered for the destination), its `view`, one-line
    /// `summary` and `id`.
    pub fn new(alert: &Alert, view: &View, summary: &str, id: &str) -> WebhookBody {
        let findings = |list: &[Finding], views: &[FindingView]| -> Vec<FindingBody> {
            list.iter().zip(views).map(|(f, v)| finding_body(f, v, &view.page)).collect()
        };
        let page_alert = alert.page.is_some();
        WebhookBody {
            version: VERSION,
            id: id.to_string(),
            kind: alert.kind,
            summary: summary.to_string(),
            severity: alert.severity(),
            raised_at: view.raised_at.clone(),
            page: page_alert.then(|| view.page.clone()),
            url: alert.url.as_ref().map(|_| view.url.clone()),
            scan_id: alert.scan_id,
            incident: incident(alert.kind, &view.page),
            findings: findings(&alert.findings, &view.findings),
            reminders: findings(&alert.reminders, &view.reminders),
            omitted: view.more,
            approve_all: some(&view.approve_all),
            error: alert.error.as_ref().map(|_| view.error.clone()),
            failures: alert.failures,
            last_ok: some(&view.last_ok),
            pages: view.pages.clone(),
            stale_after: some(&view.stale_after),
        }
    }
}

fn finding_body(f: &Finding, v: &FindingView, page: &str) -> FindingBody {
    let list = |items: &[String]| items.iter().take(LIST_ITEMS).map(|s| one_line(s)).collect();
    FindingBody {
        id: v.id.clone(),
        key: format!("finding/{page}/{}", v.id),
        kind: f.kind,
        severity: f.severity,
        title: v.title.clone(),
        script: f.script.as_ref().map(|_| ScriptBody {
            id: v.script_id.clone(),
            kind: v.script_kind.clone(),
            url: some(&v.script_url),
            sha256: v.sha256.clone(),
        }),
        approved_sha256: some(&v.approved_sha256),
        host: some(&v.host),
        header: some(&v.header),
        initiator: some(&v.initiator),
        hints: list(&f.hints),
        added_hosts: list(&f.added_hosts),
        diff: some(&v.diff),
        diff_truncated: v.diff_truncated,
        first_seen: some(&v.first_seen),
        last_seen: some(&v.last_seen),
        seen_count: f.seen_count,
        approve: v.approve.clone(),
    }
}

// ---------------------------------------------------------------------------------------------
// Slack
// ---------------------------------------------------------------------------------------------

/// Text for Slack mrkdwn (and plain text): `&`, `<`, `>` as entities.
pub fn slack_escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

/// Page text as a Slack code span: escaped, backticks (which would end the span) replaced, and
/// never empty.
fn code(s: &str) -> String {
    let s = slack_escape(&s.replace('`', "'"));
    if s.is_empty() {
        "`-`".to_string()
    } else {
        format!("`{s}`")
    }
}

/// A Slack text: cut to `max` characters at a character boundary, an entity never split.
fn slack_cut(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let mut out = cut(s, max.saturating_sub(1));
    out.pop(); // cut's ellipsis
               // A cut inside `&amp;` would leave a bare `&`.
    if let Some(amp) = out.rfind('&') {
        if !out[amp..].contains(';') {
            out.truncate(amp);
        }
    }
    out.push('…');
    out
}

fn mrkdwn(text: &str) -> Value {
    json!({ "type": "mrkdwn", "text": slack_cut(text, SLACK_TEXT), "verbatim": true })
}

/// An emoji for the header: red for a change or a failure, green for an all-clear.
fn slack_icon(kind: AlertKind) -> &'static str {
    match kind {
        AlertKind::Recovered | AlertKind::MonitorRecovered => ":white_check_mark:",
        AlertKind::Reminder => ":warning:",
        _ => ":rotating_light:",
    }
}

/// The Slack incoming-webhook message (Block Kit) for `alert`.
pub fn slack(alert: &Alert, view: &View, summary: &str, id: &str) -> Value {
    let mut blocks = vec![json!({
        "type": "header",
        "text": {
            "type": "plain_text",
            "text": slack_cut(&slack_escape(&format!("{} {summary}", slack_icon(alert.kind))), SLACK_HEADER),
            "emoji": true,
        },
    })];
    let mut fields = Vec::new();
    if alert.page.is_some() {
        fields.push(mrkdwn(&format!("*Page*\n{}", code(&view.page))));
    }
    if !view.severity.is_empty() {
        fields.push(mrkdwn(&format!("*Severity*\n{}", view.severity)));
    }
    if alert.url.is_some() {
        fields.push(mrkdwn(&format!("*URL*\n{}", code(&view.url))));
    }
    if let Some(scan) = view.scan_id {
        fields.push(mrkdwn(&format!("*Scan*\n#{scan} at {}", view.raised_at)));
    }
    if !view.pages.is_empty() {
        let pages: Vec<String> = view.pages.iter().map(|p| code(p)).collect();
        fields.push(mrkdwn(&format!("*Pages*\n{}", pages.join(", "))));
    }
    if matches!(alert.kind, AlertKind::ScanFailing | AlertKind::MonitorBlind) {
        fields.push(mrkdwn(&format!("*Last success*\n{}", some(&view.last_ok).as_deref().unwrap_or("never"))));
    }
    if !fields.is_empty() {
        blocks.push(json!({ "type": "section", "fields": fields }));
    }
    let listed: Vec<&FindingView> = view.findings.iter().chain(&view.reminders).collect();
    if !listed.is_empty() {
        let mut text = String::from(match alert.kind {
            AlertKind::Reminder => "*Still unapproved*",
            _ => "*What changed*",
        });
        let mut shown = 0;
        for f in listed.iter().take(CHAT_FINDINGS) {
            let mut line = format!("\n• *{}* {} {}", f.severity, f.kind, code(&f.title));
            if !f.script_url.is_empty() && !f.title.contains(&f.script_url) {
                line.push_str(&format!("\n    script {}", code(&f.script_url)));
            }
            if !f.host.is_empty() {
                line.push_str(&format!("\n    host {}", code(&f.host)));
            }
            line.push_str(&format!("\n    finding `{}`, first seen {}", slack_escape(&f.id), slack_escape(&f.seen)));
            // Keep room for the "and N more" line.
            if text.chars().count() + line.chars().count() > SLACK_TEXT - 200 {
                break;
            }
            text.push_str(&line);
            shown += 1;
        }
        let more = listed.len() - shown + view.more;
        if more > 0 {
            text.push_str(&format!(
                "\n…and {more} more: run {} for the full report",
                code(&format!("skimwatch scan --page {}", view.page))
            ));
        }
        blocks.push(json!({ "type": "section", "text": mrkdwn(&text) }));
        let approve = if view.approve_all.is_empty() { &listed[0].approve } else { &view.approve_all };
        let label = if view.approve_all.is_empty() {
            "If this change is intended, approve it:"
        } else {
            "If these changes are intended, approve them all:"
        };
        let command = slack_cut(&slack_escape(&approve.replace("```", "'''")), SLACK_TEXT - 100);
        blocks.push(json!({ "type": "section", "text": mrkdwn(&format!("*{label}*\n```{command}```")) }));
    }
    if !view.error.is_empty() {
        let what = if alert.failures > 0 {
            format!("*Last error* ({} failed scans in a row)\n{}", alert.failures, code(&view.error))
        } else {
            format!("*Error*\n{}", code(&view.error))
        };
        blocks.push(json!({ "type": "section", "text": mrkdwn(&what) }));
    }
    blocks.push(json!({
        "type": "context",
        "elements": [mrkdwn(&format!("skimwatch · {} · alert `{}` · {}", alert.kind, slack_escape(id), view.raised_at))],
    }));
    json!({
        "text": slack_cut(&slack_escape(&format!("[skimwatch] {summary}")), SLACK_TEXT),
        "blocks": blocks,
        "unfurl_links": false,
        "unfurl_media": false,
    })
}

// ---------------------------------------------------------------------------------------------
// Teams
// ---------------------------------------------------------------------------------------------

/// Text that Adaptive Cards show as it is: a `TextRun` is never read as markdown.
fn run(text: &str) -> Value {
    json!({ "type": "TextRun", "text": text })
}

fn rich(runs: Vec<Value>) -> Value {
    json!({ "type": "RichTextBlock", "inlines": runs })
}

fn label(text: &str) -> Value {
    json!({ "type": "TextRun", "text": text, "weight": "Bolder" })
}

/// The Microsoft Teams message (an Adaptive Card 1.4 attachment) for `alert`: what Teams
/// incoming webhooks and Power Automate "post a card" workflows take.
pub fn teams(alert: &Alert, view: &View, summary: &str, id: &str) -> Value {
    let resolved = matches!(alert.kind, AlertKind::Recovered | AlertKind::MonitorRecovered);
    let mut body = vec![json!({
        "type": "RichTextBlock",
        "inlines": [{
            "type": "TextRun",
            "text": format!("skimwatch: {summary}"),
            "size": "Large",
            "weight": "Bolder",
            "color": if resolved { "Good" } else { "Attention" },
        }],
    })];
    let mut facts: Vec<(&str, String)> = Vec::new();
    if alert.page.is_some() {
        facts.push(("Page: ", view.page.clone()));
    }
    if !view.severity.is_empty() {
        facts.push(("Severity: ", view.severity.clone()));
    }
    if alert.url.is_some() {
        facts.push(("URL: ", view.url.clone()));
    }
    if let Some(scan) = view.scan_id {
        facts.push(("Scan: ", format!("#{scan} at {}", view.raised_at)));
    }
    if !view.pages.is_empty() {
        facts.push(("Pages: ", view.pages.join(", ")));
    }
    if matches!(alert.kind, AlertKind::ScanFailing | AlertKind::MonitorBlind) {
        facts.push(("Last success: ", some(&view.last_ok).unwrap_or_else(|| "never".into())));
    }
    if !view.error.is_empty() {
        facts.push(("Error: ", view.error.clone()));
    }
    if alert.failures > 0 {
        facts.push(("Failed scans in a row: ", alert.failures.to_string()));
    }
    for (name, value) in facts {
        body.push(rich(vec![label(name), run(&value)]));
    }
    let listed: Vec<&FindingView> = view.findings.iter().chain(&view.reminders).collect();
    if !listed.is_empty() {
        let heading = if alert.kind == AlertKind::Reminder { "Still unapproved" } else { "What changed" };
        body.push(json!({ "type": "RichTextBlock", "separator": true, "inlines": [label(heading)] }));
        for f in listed.iter().take(CHAT_FINDINGS) {
            let mut runs = vec![label(&format!("{} ", f.severity)), run(&format!("{}: {}", f.kind, f.title))];
            if !f.script_url.is_empty() && !f.title.contains(&f.script_url) {
                runs.push(run(&format!("\nscript {}", f.script_url)));
            }
            if !f.host.is_empty() {
                runs.push(run(&format!("\nhost {}", f.host)));
            }
            runs.push(run(&format!("\nfinding {}, first seen {}", f.id, f.seen)));
            body.push(rich(runs));
        }
        let more = listed.len().saturating_sub(CHAT_FINDINGS) + view.more;
        if more > 0 {
            body.push(rich(vec![run(&format!(
                "…and {more} more: run `skimwatch scan --page {}` for the full report",
                view.page
            ))]));
        }
        let (text, approve) = if view.approve_all.is_empty() {
            ("If this change is intended, approve it:", listed[0].approve.as_str())
        } else {
            ("If these changes are intended, approve them all:", view.approve_all.as_str())
        };
        body.push(json!({ "type": "RichTextBlock", "separator": true, "inlines": [label(text)] }));
        body.push(json!({
            "type": "RichTextBlock",
            "inlines": [{ "type": "TextRun", "text": approve, "fontType": "Monospace" }],
        }));
    }
    body.push(json!({
        "type": "RichTextBlock",
        "separator": true,
        "inlines": [{
            "type": "TextRun",
            "text": format!("skimwatch · {} · alert {id} · {}", alert.kind, view.raised_at),
            "isSubtle": true,
            "size": "Small",
        }],
    }));
    json!({
        "type": "message",
        "summary": format!("[skimwatch] {summary}"),
        "attachments": [{
            "contentType": "application/vnd.microsoft.card.adaptive",
            "contentUrl": null,
            "content": {
                "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
                "type": "AdaptiveCard",
                "version": "1.4",
                "msteams": { "width": "Full" },
                "body": body,
            },
        }],
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alert::render::Renderer;
    use crate::model::{ScriptKind, ScriptRef};
    use std::path::Path;

    fn renderer() -> Renderer {
        Renderer::load(None, Path::new("/etc/skimwatch/skimwatch.toml")).unwrap()
    }

    fn hostile(n: usize) -> Alert {
        let finding = |i: usize| Finding {
            id: format!("F{i:012x}"),
            kind: FindingKind::NewScript,
            severity: if i == 0 { Severity::Critical } else { Severity::High },
            title: format!("New script https://evil.example/<!channel>&`x`*bold*_{i}_{}é", "ü".repeat(400)),
            script: Some(ScriptRef {
                id: "https://evil.example/a.js".into(),
                kind: ScriptKind::External,
                url: Some("https://evil.example/4111111111111111.js".into()),
                sha256: "a".repeat(64),
            }),
            hints: vec!["runs strings as code (eval)".into()],
            ..Default::default()
        };
        Alert {
            uid: "0123456789abcdef0123456789abcdef".into(),
            kind: AlertKind::Findings,
            page: Some("checkout".into()),
            url: Some("https://shop.example/checkout?<script>".into()),
            scan_id: Some(7),
            raised_at: time::macros::datetime!(2025-01-01 0:00 UTC).into(),
            findings: (0..n).map(finding).collect(),
            ..Default::default()
        }
    }

    fn texts(v: &Value, out: &mut Vec<String>) {
        match v {
            Value::String(s) => out.push(s.clone()),
            Value::Array(a) => a.iter().for_each(|v| texts(v, out)),
            Value::Object(o) => o.values().for_each(|v| texts(v, out)),
            _ => {}
        }
    }

    #[test]
    fn slack_escapes_page_text_and_stays_in_block_kit_limits() {
        let r = renderer();
        let alert = hostile(60);
        let view = r.view(&alert);
        let summary = r.summary(&alert).unwrap();
        let msg = slack(&alert, &view, &summary, &alert.uid);
        let blocks = msg["blocks"].as_array().unwrap();
        assert_eq!(blocks[0]["type"], "header");
        assert!(blocks[0]["text"]["text"].as_str().unwrap().chars().count() <= SLACK_HEADER);
        let mut all = Vec::new();
        texts(&msg, &mut all);
        for t in &all {
            assert!(t.chars().count() <= SLACK_TEXT, "{} chars", t.chars().count());
            assert!(!t.contains('<') && !t.contains('>'), "unescaped markup: {t}");
            assert!(!t.contains("4111111111111111"), "card number masked: {t}");
        }
        let list = blocks
            .iter()
            .find(|b| b["text"]["text"].as_str().is_some_and(|t| t.starts_with("*What changed*")))
            .unwrap();
        let text = list["text"]["text"].as_str().unwrap();
        assert!(text.contains("&lt;!channel&gt;&amp;"), "{text}");
        assert!(text.contains("…and 59 more") || text.contains("more: run"), "{text}");
        assert!(text.matches("\n• ").count() <= CHAT_FINDINGS);
        let more: usize = text.split("…and ").nth(1).unwrap().split(' ').next().unwrap().parse().unwrap();
        assert_eq!(more + text.matches("\n• ").count(), 60, "every finding listed or counted");
        assert_eq!(msg["unfurl_links"], false);
        let approve =
            blocks.iter().find(|b| b["text"]["text"].as_str().is_some_and(|t| t.contains("approve them all"))).unwrap();
        assert!(approve["text"]["text"].as_str().unwrap().contains(
            "skimwatch --config /etc/skimwatch/skimwatch.toml baseline approve --page checkout --finding F000000000000"
        ));
    }

    #[test]
    fn slack_cut_never_splits_an_entity_or_a_character() {
        let s = format!("{}&amp;", "é".repeat(8));
        assert_eq!(slack_cut(&s, 10), format!("{}…", "é".repeat(8)));
        assert_eq!(slack_cut("short", 10), "short");
    }

    #[test]
    fn teams_card_keeps_page_text_out_of_markdown() {
        let r = renderer();
        let alert = hostile(12);
        let view = r.view(&alert);
        let card = teams(&alert, &view, &r.summary(&alert).unwrap(), &alert.uid);
        assert_eq!(card["type"], "message");
        let att = &card["attachments"][0];
        assert_eq!(att["contentType"], "application/vnd.microsoft.card.adaptive");
        assert_eq!(att["content"]["type"], "AdaptiveCard");
        let body = att["content"]["body"].as_array().unwrap();
        // Page text only ever in TextRuns: never markdown.
        assert!(body.iter().all(|b| b["type"] == "RichTextBlock"), "{body:?}");
        let mut all = Vec::new();
        texts(&card, &mut all);
        assert!(all.iter().any(|t| t.contains("…and 2 more")), "{all:?}");
        assert!(all.iter().any(|t| t.starts_with("skimwatch --config /etc/skimwatch/skimwatch.toml baseline approve")));
        assert!(all.iter().all(|t| !t.contains("4111111111111111")));
    }

    #[test]
    fn json_body_is_the_documented_contract() {
        let r = renderer();
        let alert = hostile(2);
        let view = r.view(&alert);
        let body = WebhookBody::new(&alert, &view, &r.summary(&alert).unwrap(), &alert.uid);
        let v = serde_json::to_value(&body).unwrap();
        assert_eq!(v["version"], 1);
        assert_eq!(v["kind"], "findings");
        assert_eq!(v["severity"], "critical");
        assert_eq!(v["id"], "0123456789abcdef0123456789abcdef");
        assert_eq!(v["incident"], Value::Null);
        assert_eq!(v["findings"][0]["key"], "finding/checkout/F000000000000");
        assert_eq!(v["findings"][0]["severity"], "critical");
        assert_eq!(v["findings"][0]["script"]["url"], "https://evil.example/411111******1111.js");
        assert!(v["findings"][0]["title"].as_str().unwrap().chars().count() <= 301);
        assert!(v["approve_all"].as_str().unwrap().contains("--finding F000000000000 --finding F000000000001"));
        assert_eq!(serde_json::from_value::<WebhookBody>(v).unwrap(), body);

        let failing = Alert {
            kind: AlertKind::ScanFailing,
            findings: vec![],
            error: Some("HTTP 503".into()),
            failures: 3,
            ..alert.clone()
        };
        let view = r.view(&failing);
        let body = WebhookBody::new(&failing, &view, &r.summary(&failing).unwrap(), "x");
        assert_eq!(
            body.incident,
            Some(Incident { key: "scan_failing/checkout".into(), action: IncidentAction::Trigger })
        );
        let back = Alert { kind: AlertKind::Recovered, ..failing.clone() };
        let body = WebhookBody::new(&back, &r.view(&back), &r.summary(&back).unwrap(), "x");
        assert_eq!(body.incident.unwrap().action, IncidentAction::Resolve);
        assert_eq!(body.summary, "all clear: checkout scans again");
    }
}
