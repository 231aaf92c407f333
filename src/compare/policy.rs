//! Vendor policies: `[[page.policy]] match = "https://js.stripe.com/v3/*" trust = "url"`.
//!
//! Some vendors forbid pinning and change their code without notice (Stripe.js must be loaded
//! from js.stripe.com and always serves the latest version). For a script served from a URL a
//! policy trusts, a content change is recorded and reported as `info` (with its diff and
//! hints), and the baseline follows it: the approved entry takes the new hashes, and an audit
//! entry (when, which script, from and to which SHA-256, which policy, why) is appended to the
//! baseline file. Everything else such a script does is judged normally: a new host is a
//! `new_host` finding, a new child script a `new_script` finding, even from a trusted URL. The
//! default, with no policy, is strict.

use crate::config::{PageConfig, Policy};
use crate::model::{AuditEntry, Baseline, Finding, FindingKind, Inventory, ScriptKind, Severity};

/// Marks the altered-script findings a policy of `page` covers as `info` and moves the
/// baseline to the current versions, with an audit entry each. Returns the SHA-256 of the new
/// versions the baseline now approves (their sources are to be saved beside it).
pub fn follow_trusted(
    page: &PageConfig,
    findings: &mut [Finding],
    inv: &Inventory,
    baseline: &mut Baseline,
    at: &str,
) -> Vec<String> {
    let mut followed = Vec::new();
    for f in findings.iter_mut().filter(|f| f.kind == FindingKind::AlteredScript) {
        let Some(script) = &f.script else { continue };
        // Only a file the browser fetched from that URL carries it (capture never takes a URL
        // from the code's own `sourceURL`); inline, eval and data code never follow a policy.
        if !matches!(script.kind, ScriptKind::External | ScriptKind::Module) {
            continue;
        }
        let Some(url) = script.url.as_deref() else { continue };
        let Some(policy) = trusting(&page.policies, url) else { continue };
        let Some(from) = f.approved_sha256.clone() else { continue };
        let Some(current) = inv.scripts.iter().find(|s| s.id == script.id && s.sha256 == script.sha256) else {
            continue;
        };
        let Some(entry) = baseline
            .scripts
            .iter_mut()
            .find(|a| a.sha256 == from && (a.id == script.id || a.url.as_deref() == Some(url)))
        else {
            continue;
        };
        entry.id = current.id.clone();
        entry.url = current.url.clone();
        entry.sha256 = current.sha256.clone();
        entry.sri = current.sri.clone();
        entry.bytes = current.bytes;
        entry.normalized_sha256 = None;
        entry.masked = None;
        baseline.audit.push(AuditEntry {
            at: at.to_string(),
            script: current.id.clone(),
            url: current.url.clone(),
            from_sha256: from,
            to_sha256: current.sha256.clone(),
            policy: policy.pattern.clone(),
            reason: policy.reason.clone(),
        });
        f.severity = Severity::Info;
        f.policy = Some(format!("{} (trust = url): {}", policy.pattern, policy.reason));
        f.title = format!("{} — trusted by policy, baseline updated", f.title);
        followed.push(current.sha256.clone());
    }
    followed
}

fn trusting<'a>(policies: &'a [Policy], url: &str) -> Option<&'a Policy> {
    policies.iter().find(|p| p.matches(url))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Trust;
    use crate::model::{ApprovedScript, Script, ScriptRef};

    fn script(url: &str, sha: &str) -> Script {
        Script {
            id: url.to_string(),
            kind: ScriptKind::External,
            url: Some(url.to_string()),
            frame_url: "https://shop.example/checkout".into(),
            sha256: sha.into(),
            sri: format!("sri-{sha}"),
            bytes: 10,
            initiator: None,
            source: String::new(),
        }
    }

    fn altered(s: &Script, from: &str) -> Finding {
        Finding {
            id: format!("F{}", s.sha256),
            kind: FindingKind::AlteredScript,
            severity: Severity::High,
            title: format!("Altered external script {}", s.id),
            script: Some(ScriptRef { id: s.id.clone(), kind: s.kind, url: s.url.clone(), sha256: s.sha256.clone() }),
            approved_sha256: Some(from.into()),
            ..Default::default()
        }
    }

    #[test]
    fn trusted_change_is_info_and_the_baseline_follows_with_an_audit_entry() {
        let mut page = PageConfig::new("checkout", "https://shop.example/checkout");
        page.policies.push(Policy {
            pattern: "https://js.stripe.com/v3/*".into(),
            trust: Trust::Url,
            reason: "Stripe forbids pinning".into(),
        });
        let stripe = script("https://js.stripe.com/v3/", "new1");
        let other = script("https://cdn.example/lib.js", "new2");
        let inv = Inventory {
            cookies: Default::default(),
            url: page.url.clone(),
            final_url: page.url.clone(),
            status: 200,
            headers: Default::default(),
            scripts: vec![stripe.clone(), other.clone()],
            hosts: vec![],
            payment_fields: vec![],
        };
        let mut baseline = Baseline {
            page: "checkout".into(),
            scripts: vec![
                ApprovedScript {
                    id: stripe.id.clone(),
                    url: stripe.url.clone(),
                    sha256: "old1".into(),
                    ..Default::default()
                },
                ApprovedScript {
                    id: other.id.clone(),
                    url: other.url.clone(),
                    sha256: "old2".into(),
                    ..Default::default()
                },
            ],
            ..Default::default()
        };
        let mut findings = vec![altered(&stripe, "old1"), altered(&other, "old2")];
        let followed = follow_trusted(&page, &mut findings, &inv, &mut baseline, "2025-01-01T00:00:00Z");
        assert_eq!(followed, ["new1"]);
        assert_eq!(findings[0].severity, Severity::Info);
        assert!(findings[0].policy.as_deref().unwrap().contains("Stripe forbids pinning"));
        assert_eq!(findings[1].severity, Severity::High, "strict by default");
        assert_eq!(baseline.scripts[0].sha256, "new1");
        assert_eq!(baseline.scripts[0].sri, "sri-new1");
        assert_eq!(baseline.scripts[1].sha256, "old2");
        assert_eq!(baseline.audit.len(), 1);
        assert_eq!((baseline.audit[0].from_sha256.as_str(), baseline.audit[0].to_sha256.as_str()), ("old1", "new1"));
    }
}
