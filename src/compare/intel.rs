//! Findings from the intelligence data ([`crate::intel`]): known-bad hosts, vulnerable
//! libraries, and YARA matches as hints on new and altered scripts.
//!
//! - `known_bad_host` (critical): a host the page sent a request to, or a host named in the
//!   code a new or altered script added (its `added_hosts`), is on an indicator list (the host
//!   or a parent domain of it). One finding per host, naming the list and the entry.
//! - `vulnerable_library` (the data's severity, never above high): an external script is a
//!   library version retire.js lists advisories for. One finding per script and library.
//! - A YARA rule matching the text of a new or altered script is a hint on that finding
//!   (`matches YARA rule skimwatch:base64_loader`) and raises its severity as the static hints
//!   do (not on a page never approved, where everything is new).

use super::{finding_id, one_line, raised, script_ref};
use crate::intel::Intel;
use crate::model::{
    Finding, FindingKind, IndicatorMatch, Inventory, LibraryAdvisory, LibraryMatch, ScriptKind, Severity,
};
use std::collections::BTreeSet;

/// Adds the intelligence findings and hints to `findings` (the script, header and host
/// findings of [`super::compare`]). `raise_new`: whether new scripts' severity is raised by
/// hints (false on a page never approved).
pub fn apply(page: &str, inv: &Inventory, findings: &mut Vec<Finding>, intel: &Intel, raise_new: bool) {
    yara_hints(inv, findings, intel, raise_new);
    let mut extra = bad_hosts(page, inv, findings, intel);
    extra.extend(vulnerable_libraries(page, inv, intel));
    findings.extend(extra);
    crate::model::sort_findings(findings);
}

fn yara_hints(inv: &Inventory, findings: &mut [Finding], intel: &Intel, raise_new: bool) {
    for f in findings.iter_mut() {
        if !matches!(f.kind, FindingKind::NewScript | FindingKind::AlteredScript) {
            continue;
        }
        let Some(s) = &f.script else { continue };
        let Some(script) = inv.scripts.iter().find(|x| x.id == s.id && x.sha256 == s.sha256) else { continue };
        let matched = intel.rule_matches(&script.source);
        if matched.is_empty() {
            continue;
        }
        let hints: Vec<String> = matched.iter().map(|r| format!("matches YARA rule {}", one_line(r))).collect();
        if f.kind == FindingKind::AlteredScript || raise_new {
            // One step up for the rules, on top of what the static hints did.
            f.severity = raised(f.severity, &hints);
        }
        f.hints.extend(hints);
    }
}

fn bad_hosts(page: &str, inv: &Inventory, findings: &[Finding], intel: &Intel) -> Vec<Finding> {
    let mut seen: BTreeSet<String> = BTreeSet::new();
    let mut out = Vec::new();
    let contacted = inv.hosts.iter().map(|h| (h.as_str(), "request", None));
    let in_code = findings
        .iter()
        .filter(|f| matches!(f.kind, FindingKind::NewScript | FindingKind::AlteredScript))
        .flat_map(|f| f.added_hosts.iter().map(move |h| (h.as_str(), "code", f.script.as_ref())));
    for (host, found_in, script) in contacted.chain(in_code) {
        if host == crate::inventory::SELF_HOST {
            continue;
        }
        let Some(bad) = intel.bad_host(host) else { continue };
        if !seen.insert(host.to_string()) {
            continue;
        }
        let how = if found_in == "request" { "contacted" } else { "named in new code" };
        out.push(Finding {
            id: finding_id(page, FindingKind::KnownBadHost, host, &format!("{}\0{}", bad.list, bad.entry)),
            kind: FindingKind::KnownBadHost,
            severity: Severity::Critical,
            title: one_line(&format!("Known-bad host {host} {how}: listed in {} as {}", bad.list, bad.entry)),
            host: Some(host.to_string()),
            script: script.cloned(),
            indicator: Some(IndicatorMatch {
                list: bad.list.to_string(),
                entry: bad.entry.to_string(),
                found_in: found_in.to_string(),
            }),
            ..Default::default()
        });
    }
    out
}

fn vulnerable_libraries(page: &str, inv: &Inventory, intel: &Intel) -> Vec<Finding> {
    let mut out = Vec::new();
    for script in &inv.scripts {
        if !matches!(script.kind, ScriptKind::External | ScriptKind::Module) || script.url.is_none() {
            continue;
        }
        for (source, d) in intel.vulnerable(script.url.as_deref(), &script.source) {
            let severity = d.advisories.iter().map(|a| data_severity(&a.severity)).max().unwrap_or(Severity::Medium);
            let mut ids: Vec<&str> =
                d.advisories.iter().flat_map(|a| a.identifiers.iter().map(String::as_str)).collect();
            ids.sort();
            ids.dedup();
            let shown: Vec<&str> = ids.iter().filter(|i| i.starts_with("CVE-")).take(5).copied().collect();
            let url = script.url.as_deref().unwrap_or_default();
            out.push(Finding {
                id: finding_id(
                    page,
                    FindingKind::VulnerableLibrary,
                    &script.id,
                    &format!("{}@{}", d.library, d.version),
                ),
                kind: FindingKind::VulnerableLibrary,
                severity,
                title: one_line(&format!(
                    "Vulnerable library {} {} in {url}: {} advisories{}",
                    d.library,
                    d.version,
                    d.advisories.len(),
                    if shown.is_empty() { String::new() } else { format!(" ({})", shown.join(", ")) }
                )),
                script: Some(script_ref(script)),
                library: Some(LibraryMatch {
                    name: d.library.clone(),
                    version: d.version.clone(),
                    detected_by: d.by.to_string(),
                    source: source.to_string(),
                    advisories: d
                        .advisories
                        .iter()
                        .map(|a| LibraryAdvisory {
                            severity: a.severity.clone(),
                            summary: a.summary.clone(),
                            identifiers: a.identifiers.clone(),
                            range: a.range.clone(),
                            info: a.info.clone(),
                        })
                        .collect(),
                }),
                ..Default::default()
            });
        }
    }
    out
}

/// The data's severity, capped at high: an outdated library is a risk, not an attack.
fn data_severity(s: &str) -> Severity {
    match s {
        "low" => Severity::Low,
        "medium" => Severity::Medium,
        "high" | "critical" => Severity::High,
        _ => Severity::Medium,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::intel::domains::DomainList;
    use crate::inventory::{sha256_hex, sri_sha384};
    use crate::model::Script;

    fn script(url: &str, source: &str) -> Script {
        Script {
            id: url.to_string(),
            kind: ScriptKind::External,
            url: Some(url.to_string()),
            frame_url: "https://shop.example/checkout".into(),
            sha256: sha256_hex(source),
            sri: sri_sha384(source),
            bytes: source.len() as u64,
            initiator: None,
            source: source.to_string(),
        }
    }

    fn intel() -> Intel {
        let mut intel = Intel::empty();
        intel.domains.push(DomainList::parse("test-list", "evil.example\n"));
        intel.libraries.push((
            "retirejs".into(),
            crate::intel::retire::Repository::parse(crate::intel::shipped::RETIREJS).unwrap(),
        ));
        intel
    }

    #[test]
    fn listed_hosts_in_requests_and_new_code_are_critical_once_each() {
        let skim = script("https://cdn.evil.example/s.js", "x");
        let inv = Inventory {
            url: "https://shop.example/checkout".into(),
            final_url: "https://shop.example/checkout".into(),
            status: 200,
            headers: Default::default(),
            scripts: vec![skim.clone()],
            hosts: vec!["self".into(), "cdn.evil.example".into(), "notevil.example".into()],
            payment_fields: vec![],
            cookies: vec![],
        };
        let new = Finding {
            kind: FindingKind::NewScript,
            script: Some(script_ref(&skim)),
            added_hosts: vec!["cdn.evil.example".into(), "pay.evil.example".into(), "ok.example".into()],
            ..Default::default()
        };
        let mut findings = vec![new];
        apply("checkout", &inv, &mut findings, &intel(), true);
        let mut bad: Vec<(&str, &str, Severity)> = findings
            .iter()
            .filter(|f| f.kind == FindingKind::KnownBadHost)
            .map(|f| (f.host.as_deref().unwrap(), f.indicator.as_ref().unwrap().found_in.as_str(), f.severity))
            .collect();
        bad.sort();
        assert_eq!(
            bad,
            [("cdn.evil.example", "request", Severity::Critical), ("pay.evil.example", "code", Severity::Critical)]
        );
        let first = findings.iter().find(|f| f.host.as_deref() == Some("cdn.evil.example")).unwrap();
        assert_eq!(first.indicator.as_ref().unwrap().entry, "evil.example");
        assert!(first.title.contains("test-list"), "{}", first.title);
        // Stable ids: the same scan gives the same ids.
        let mut again = vec![Finding { kind: FindingKind::NewScript, ..Default::default() }];
        apply("checkout", &inv, &mut again, &intel(), true);
        assert!(again.iter().any(|f| f.id == first.id));
    }

    #[test]
    fn old_jquery_is_a_vulnerable_library_capped_at_high() {
        let jq = script("https://shop.example/js/jquery-1.8.1.min.js", "/*! jQuery v1.8.1 */");
        let inv = Inventory {
            url: String::new(),
            final_url: String::new(),
            status: 200,
            headers: Default::default(),
            scripts: vec![jq],
            hosts: vec![],
            payment_fields: vec![],
            cookies: vec![],
        };
        let mut findings = Vec::new();
        apply("checkout", &inv, &mut findings, &intel(), true);
        assert_eq!(findings.len(), 1, "{findings:?}");
        let f = &findings[0];
        assert_eq!(f.kind, FindingKind::VulnerableLibrary);
        assert!(f.severity <= Severity::High && f.severity >= Severity::Medium, "{:?}", f.severity);
        let lib = f.library.as_ref().unwrap();
        assert_eq!((lib.name.as_str(), lib.version.as_str(), lib.source.as_str()), ("jquery", "1.8.1", "retirejs"));
        assert!(f.title.contains("CVE-2012-6708"), "{}", f.title);
        assert_eq!(data_severity("critical"), Severity::High);
    }
}
