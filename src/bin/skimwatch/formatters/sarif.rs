//! SARIF 2.1.0 for code-scanning dashboards (GitHub code scanning, GitLab, DefectDojo …),
//! built with the typed `serde-sarif` model rather than hand-written JSON.
//!
//! One rule per finding kind (always all of them, in a fixed order, so `ruleIndex` is stable) with help text; one
//! result per finding, level from severity (critical/high → error, medium → warning, low/info
//! → note), the page URL and the script URL as locations, and the finding id as fingerprint so
//! that dashboards de-duplicate the same unapproved change across runs. Pages that could not
//! be scanned appear as tool execution notifications and make the invocation unsuccessful.

use super::Reporter;
use serde_sarif::sarif::{
    ArtifactLocation, Invocation, Location, LogicalLocation, Message, MultiformatMessageString, Notification,
    PhysicalLocation, PropertyBag, ReportingConfiguration, ReportingDescriptor, Result as SarifResult, ResultLevel,
    Run, Sarif, Tool, ToolComponent,
};
use skimwatch::model::{Finding, FindingKind, PageReport, PageStatus, ScanReport, Severity};
use std::collections::BTreeMap;
use std::io::{self, Write};

pub struct SarifReport;

/// Key of the stable fingerprint in `partialFingerprints` / `fingerprints`.
pub const FINGERPRINT_KEY: &str = "skimwatchFindingId/v1";

/// (name, short description, help text, default level, security-severity) per kind.
fn rule_text(kind: FindingKind) -> (&'static str, &'static str, &'static str, &'static str, &'static str) {
    match kind {
        FindingKind::CspViolation => (
            "CspViolation",
            "Real browsers reported a script the page's Content-Security-Policy blocked",
            "Shoppers' browsers sent CSP violation reports for a script from a host the baseline does not approve, \
             or for inline code or eval the policy does not allow. A skimmer served only to real shoppers (and \
             hidden from the monitor) shows up here. Find where the page includes it; if it is legitimate, approve \
             the script after a scan sees it and regenerate the policy (`skimwatch policy csp`).",
            "error",
            "7.5",
        ),
        FindingKind::CookieChange => (
            "CookieChange",
            "A cookie is new and third-party, lives too long, or lost Secure/HttpOnly",
            "The page ended up with a third-party cookie the baseline does not approve, a cookie living longer than \
             the page's `max_cookie_lifetime`, or an approved cookie that lost `Secure` or `HttpOnly`. Check who set \
             it (`set_by`) and whether it needs consent; approve it with its purpose when intended \
             (docs/privacy.md).",
            "note",
            "3.0",
        ),
        FindingKind::PersonalDataFlow => (
            "PersonalDataFlow",
            "The shopper's personal data reached a host that is not allowed to receive it",
            "The scan's shopper identity (e-mail, phone, name, street or postcode — plain, encoded or hashed the way \
             ad tech does it) was sent to a host outside the page's own site and its `personal_data_hosts`. Check the \
             sending script and whether the recipient is a processor with a legal basis (GDPR Art. 28); list it in \
             `personal_data_hosts` if so, otherwise remove the script (docs/privacy.md).",
            "warning",
            "6.0",
        ),
        FindingKind::NewScript => (
            "NewScript",
            "A script runs on the page that is not in the approved baseline",
            "A script that is not in the page's approved inventory ran on the page. On a payment page this is how \
             e-skimming (Magecart) code appears: injected into a first-party file, a tag-manager container or the \
             template. Check where it comes from and what it does. If it is intended, approve it with a written \
             justification (PCI DSS 6.4.3): `skimwatch baseline approve --finding <id> --by <you> --reason \"<why>\"`. \
             If not, remove it and treat the page as compromised (PCI DSS 11.6.1).",
            "error",
            "8.0",
        ),
        FindingKind::AlteredScript => (
            "AlteredScript",
            "An approved script's content changed",
            "A script with an approved identity now has another SHA-256. The finding's diff shows the change \
             (minified code is pretty-printed). Skimmers are most often appended to a legitimate first-party or \
             vendor file. If the change is a legitimate release, approve it with a justification (PCI DSS 6.4.3); \
             otherwise restore the approved version and investigate.",
            "error",
            "8.0",
        ),
        FindingKind::RemovedScript => (
            "RemovedScript",
            "An approved script no longer runs on the page",
            "A script in the approved baseline was not seen. Usually a deliberate clean-up: approve the removal to \
             keep the inventory accurate (PCI DSS 6.4.3). It can also mean the page broke or a consent banner \
             blocked it.",
            "note",
            "2.0",
        ),
        FindingKind::HeaderChange => (
            "HeaderChange",
            "A security-impacting HTTP header was removed, changed or added",
            "PCI DSS 11.6.1 asks to detect unauthorized changes to the security-impacting HTTP headers of payment \
             pages. A weakened or removed Content-Security-Policy lets injected scripts run or send data anywhere. \
             Approve intended changes; restore the approved header otherwise.",
            "warning",
            "5.0",
        ),
        FindingKind::NewHost => (
            "NewHost",
            "The page contacted a host it never contacted when approved",
            "The page sent a request to a host that is not in the baseline. Skimmers send card data to hosts their \
             operators control, often named to look like analytics or CDN domains. Approve hosts the page is meant \
             to contact; investigate any other.",
            "warning",
            "6.0",
        ),
        FindingKind::CardExfiltration => (
            "CardExfiltration",
            "The scan's canary card number was sent to a host outside the page's allow-list",
            "skimwatch typed a test card number unique to this scan into the payment fields, and a script sent \
             it (plain or encoded) to a host not listed in the page's `card_data_hosts`. This is card theft in \
             progress, whether or not the sending script was approved. Take the page offline or remove the \
             script, and start incident response. If the host is your payment provider, add it to \
             `card_data_hosts` of this page in the reviewed config.",
            "error",
            "10.0",
        ),
        FindingKind::PaymentFieldAccess => (
            "PaymentFieldAccess",
            "A script newly listens to or reads a payment field",
            "A script attached key/input/change/blur/submit listeners to a payment field, captured key events on \
             the document, or read a card field's value, and the baseline does not record that it does. Skimmers \
             hook the card fields this way, even inside approved scripts. Approve it if the script is the \
             payment integration; investigate otherwise.",
            "error",
            "8.0",
        ),
        FindingKind::PaymentFieldMissing => (
            "PaymentFieldMissing",
            "A configured payment-field selector matched nothing",
            "A CSS selector in the page's `payment_fields` matched no field, so the card-field checks may not \
             cover the real form. Fix the selector after a checkout change.",
            "warning",
            "5.0",
        ),
        FindingKind::CaptureTruncated => (
            "CaptureTruncated",
            "A capture limit dropped data: part of what the page did was not checked",
            "The page produced more than skimwatch records in one scan (scripts, requests, WebSocket frames,              request bodies, card-field accesses, bytes of script source or of data searched for the canary).              The finding names the limit and the counts. A checkout page has no reason to do this; skimmers              flood the monitor so that the card number leaves unseen. Investigate what produces the flood. It              cannot be approved: every scan that hits a limit raises it again.",
            "error",
            "7.0",
        ),
        FindingKind::KnownBadHost => (
            "KnownBadHost",
            "The page contacted, or new code names, a host on a known-bad indicator list",
            "A host the page sent a request to, or a host named in code a new or altered script added, is on an \
             indicator list of skimmer domains (the shipped maltrail Magecart trail or a list of your own). The \
             finding names the list and its entry. Treat the page as compromised: remove the code that loads or \
             names the host and start incident response (PCI DSS 11.6.1). It cannot be approved.",
            "error",
            "10.0",
        ),
        FindingKind::VulnerableLibrary => (
            "VulnerableLibrary",
            "An external script is a library version with published vulnerabilities",
            "retire.js's data lists advisories for this library version (named in the finding with its CVE and \
             GHSA ids). An outdated library on a payment page is what assessors flag under PCI DSS 6.4.3 and \
             6.3.3. Upgrade the library; the finding ends when the page no longer loads that version.",
            "warning",
            "6.0",
        ),
    }
}

fn level(severity: Severity) -> ResultLevel {
    match severity {
        Severity::Critical | Severity::High => ResultLevel::Error,
        Severity::Medium => ResultLevel::Warning,
        Severity::Low | Severity::Info => ResultLevel::Note,
    }
}

fn rule_index(kind: FindingKind) -> i64 {
    FindingKind::ALL.iter().position(|k| *k == kind).unwrap_or(0) as i64
}

fn props(pairs: Vec<(&str, serde_json::Value)>, tags: Option<Vec<String>>) -> PropertyBag {
    let additional: BTreeMap<String, serde_json::Value> = pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect();
    match tags {
        Some(tags) => PropertyBag::builder().tags(tags).additional_properties(additional).build(),
        None => PropertyBag::builder().additional_properties(additional).build(),
    }
}

fn rules() -> Vec<ReportingDescriptor> {
    FindingKind::ALL
        .iter()
        .map(|&kind| {
            let (name, short, help, level, security) = rule_text(kind);
            ReportingDescriptor::builder()
                .id(kind.as_str())
                .name(name)
                .short_description(MultiformatMessageString::builder().text(short).build())
                .full_description(MultiformatMessageString::builder().text(help).build())
                .help(MultiformatMessageString::builder().text(help).markdown(help).build())
                .default_configuration(ReportingConfiguration::builder().level(serde_json::json!(level)).build())
                .properties(props(
                    vec![("security-severity", serde_json::json!(security))],
                    Some(vec!["security".into(), "e-skimming".into(), "pci-dss-6.4.3".into(), "pci-dss-11.6.1".into()]),
                ))
                .build()
        })
        .collect()
}

/// A page-derived value as one safe line (see [`skimwatch::text::display_safe`]).
fn safe(s: &str) -> String {
    skimwatch::text::display_safe(s)
}

/// Every string inside a (small, skimwatch-built) JSON value made safe.
fn safe_json(v: serde_json::Value) -> serde_json::Value {
    match v {
        serde_json::Value::String(s) => serde_json::Value::String(safe(&s)),
        serde_json::Value::Array(a) => serde_json::Value::Array(a.into_iter().map(safe_json).collect()),
        serde_json::Value::Object(o) => o.into_iter().map(|(k, v)| (safe(&k), safe_json(v))).collect(),
        other => other,
    }
}

fn location(uri: &str, logical: Option<(&str, &str)>, text: &str) -> Location {
    let (uri, logical) = (safe(uri), logical.map(|(name, kind)| (safe(name), kind)));
    let (uri, logical) = (uri.as_str(), logical.as_ref().map(|(n, k)| (n.as_str(), *k)));
    let physical = PhysicalLocation::builder().artifact_location(ArtifactLocation::builder().uri(uri).build()).build();
    match logical {
        Some((name, kind)) => Location::builder()
            .physical_location(physical)
            .logical_locations(vec![LogicalLocation::builder().name(name).kind(kind).build()])
            .message(Message::builder().text(text).build())
            .build(),
        None => Location::builder().physical_location(physical).message(Message::builder().text(text).build()).build(),
    }
}

fn result(page: &PageReport, f: &Finding) -> SarifResult {
    let mut locations = vec![location(&page.url, Some((&page.name, "page")), "the page")];
    if let Some(url) = f.script.as_ref().and_then(|s| s.url.as_deref()) {
        locations.push(location(url, None, "the script"));
    }
    let mut text = format!("{} (page {}, {})", safe(&f.title), safe(&page.name), f.severity);
    if let Some(diff) = &f.diff {
        // Keep the message readable: the full diff is in the JSON report.
        let excerpt: Vec<String> =
            diff.lines().filter(|l| l.starts_with('+') && !l.starts_with("+++")).take(10).map(safe).collect();
        if !excerpt.is_empty() {
            text.push_str("\nAdded lines:\n");
            text.push_str(&excerpt.join("\n"));
        }
    }
    let fingerprint = BTreeMap::from([(FINGERPRINT_KEY.to_string(), safe(&f.id))]);
    let mut extra = vec![
        ("severity", serde_json::json!(f.severity.as_str())),
        ("page", serde_json::json!(page.name)),
        ("findingId", serde_json::json!(f.id)),
    ];
    if let Some(s) = &f.script {
        extra.push(("scriptId", serde_json::json!(s.id)));
        extra.push(("scriptKind", serde_json::json!(s.kind.as_str())));
        extra.push(("sha256", serde_json::json!(s.sha256)));
    }
    if let Some(h) = &f.host {
        extra.push(("host", serde_json::json!(h)));
    }
    if let Some(h) = &f.header {
        extra.push(("header", serde_json::json!(h)));
    }
    if let Some(first) = &f.first_seen {
        extra.push(("firstSeen", serde_json::json!(first)));
    }
    let extra: Vec<(&str, serde_json::Value)> = extra.into_iter().map(|(k, v)| (k, safe_json(v))).collect();
    SarifResult::builder()
        .rule_id(f.kind.as_str())
        .rule_index(rule_index(f.kind))
        .level(level(f.severity))
        .message(Message::builder().text(text).build())
        .locations(locations)
        .partial_fingerprints(fingerprint.clone())
        .fingerprints(fingerprint)
        .properties(props(extra, None))
        .build()
}

/// The SARIF log of a scan report.
pub fn sarif(report: &ScanReport) -> Sarif {
    let driver = ToolComponent::builder()
        .name("skimwatch")
        .version(env!("CARGO_PKG_VERSION"))
        .semantic_version(env!("CARGO_PKG_VERSION"))
        .full_name(concat!("skimwatch ", env!("CARGO_PKG_VERSION")))
        .rules(rules())
        .build();
    let results: Vec<SarifResult> =
        report.pages.iter().flat_map(|p| p.findings.iter().map(move |f| result(p, f))).collect();
    let notifications: Vec<Notification> = report
        .pages
        .iter()
        .filter(|p| p.status == PageStatus::Error)
        .map(|p| {
            Notification::builder()
                .level(serde_json::json!("error"))
                .message(
                    Message::builder()
                        .text(format!(
                            "page {} ({}) could not be scanned: {}",
                            safe(&p.name),
                            safe(&p.url),
                            safe(p.error.as_deref().unwrap_or("unknown error"))
                        ))
                        .build(),
                )
                .locations(vec![location(&p.url, Some((&p.name, "page")), "the page")])
                .build()
        })
        .collect();
    let invocation = Invocation::builder()
        .execution_successful(!report.has_errors())
        .tool_execution_notifications(notifications)
        .build();
    let run = Run::builder()
        .tool(Tool::builder().driver(driver).build())
        .results(results)
        .invocations(vec![invocation])
        .build();
    Sarif::builder().schema(serde_sarif::sarif::SCHEMA_URL).version(serde_json::json!("2.1.0")).runs(vec![run]).build()
}

impl Reporter for SarifReport {
    fn render(&self, report: &ScanReport, out: &mut dyn Write) -> io::Result<()> {
        serde_json::to_writer_pretty(&mut *out, &sarif(report))?;
        writeln!(out)
    }
}
