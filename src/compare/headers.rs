//! What a security-header change means: which Content-Security-Policy directives changed, and
//! whether the policy got weaker or stricter.
//!
//! Weaker (at least `medium`): a directive removed (its protection falls back to
//! `default-src` or to nothing), a source added to a directive (`'unsafe-inline'`,
//! `'unsafe-eval'`, a new `script-src` host, `*`, a scheme), or the header removed.
//! Stricter only (`low`): directives added, sources removed. Anything else that changed, and
//! changes of the other headers, stay `medium`: a person should look. Nonces (`'nonce-…'`)
//! are fresh on every response and never count.

use crate::model::Severity;
use std::collections::{BTreeMap, BTreeSet};

/// The verdict on one header change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assessment {
    pub severity: Severity,
    /// Short verb for the title: `weakened`, `tightened`, `changed`, `removed`, `added`.
    pub verb: &'static str,
    /// One line per changed directive, e.g. `script-src: added 'unsafe-eval' (weaker)`.
    pub notes: Vec<String>,
}

/// Sources that make a directive much weaker when added.
const DANGEROUS: &[&str] = &[
    "'unsafe-inline'",
    "'unsafe-eval'",
    "'unsafe-hashes'",
    "'wasm-unsafe-eval'",
    "*",
    "data:",
    "blob:",
    "http:",
    "https:",
];

fn is_csp(name: &str) -> bool {
    name == "content-security-policy" || name == "content-security-policy-report-only"
}

/// Directive name → set of sources, nonces dropped. Later duplicates are ignored, as browsers do.
fn parse(policy: &str) -> BTreeMap<String, BTreeSet<String>> {
    let mut out = BTreeMap::new();
    // Several policies in one header (comma-joined, or `\n`-joined by CDP for repeated
    // headers) all apply; merge them conservatively.
    for part in policy.split([';', ',', '\n']) {
        let mut tokens = part.split_whitespace();
        let Some(name) = tokens.next() else { continue };
        let sources: BTreeSet<String> = tokens
            .filter(|t| !t.to_ascii_lowercase().starts_with("'nonce-"))
            .map(|t| if t.starts_with('\'') { t.to_ascii_lowercase() } else { t.to_string() })
            .collect();
        out.entry(name.to_ascii_lowercase()).or_insert(sources);
    }
    out
}

/// Assesses a change of header `name` (lower case) from `approved` to `current`.
pub fn assess(name: &str, approved: Option<&str>, current: Option<&str>) -> Assessment {
    match (approved, current) {
        (Some(_), None) => Assessment {
            severity: Severity::Medium,
            verb: "removed",
            notes: vec![format!("{name} is no longer sent (weaker)")],
        },
        (None, Some(_)) => Assessment { severity: Severity::Low, verb: "added", notes: Vec::new() },
        (Some(a), Some(b)) if is_csp(name) => assess_csp(a, b),
        _ => Assessment { severity: Severity::Medium, verb: "changed", notes: Vec::new() },
    }
}

fn assess_csp(approved: &str, current: &str) -> Assessment {
    let old = parse(approved);
    let new = parse(current);
    let mut notes = Vec::new();
    let (mut weaker, mut stricter, mut other) = (false, false, false);
    for (directive, old_sources) in &old {
        match new.get(directive) {
            None => {
                weaker = true;
                notes.push(format!("{directive}: removed (weaker)"));
            }
            Some(new_sources) => {
                let added: Vec<&String> = new_sources.difference(old_sources).collect();
                let removed: Vec<&String> = old_sources.difference(new_sources).collect();
                if added.is_empty() && removed.is_empty() {
                    continue;
                }
                let list = |v: &[&String]| v.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(" ");
                // Adding 'none' or removing a source narrows a source list; adding sources widens
                // it. Directives that are not source lists (sandbox, report-uri …) cannot be judged.
                let source_list = directive.ends_with("-src")
                    || directive.ends_with("-src-elem")
                    || directive.ends_with("-src-attr")
                    || directive == "form-action"
                    || directive == "frame-ancestors"
                    || directive == "base-uri";
                if !source_list {
                    other = true;
                    notes.push(format!(
                        "{directive}: changed from `{}` to `{}`",
                        list(&old_sources.iter().collect::<Vec<_>>()),
                        list(&new_sources.iter().collect::<Vec<_>>())
                    ));
                    continue;
                }
                let widened: Vec<&String> = added
                    .iter()
                    .copied()
                    .filter(|s| s.as_str() != "'none'" && s.as_str() != "'strict-dynamic'")
                    .collect();
                if !widened.is_empty() {
                    weaker = true;
                    let dangerous = widened.iter().any(|s| DANGEROUS.contains(&s.as_str()));
                    notes.push(format!(
                        "{directive}: added {}{}",
                        list(&widened),
                        if dangerous { " (weaker: allows injected code)" } else { " (weaker)" }
                    ));
                }
                if !removed.is_empty() {
                    stricter = true;
                    notes.push(format!("{directive}: removed {} (stricter)", list(&removed)));
                }
                if widened.len() < added.len() {
                    stricter = true;
                    notes.push(format!("{directive}: added 'none' or 'strict-dynamic' (stricter)"));
                }
            }
        }
    }
    for directive in new.keys().filter(|d| !old.contains_key(*d)) {
        stricter = true;
        notes.push(format!("{directive}: added (stricter)"));
    }
    let (severity, verb) = if weaker {
        (Severity::Medium, "weakened")
    } else if other || !stricter {
        (Severity::Medium, "changed")
    } else {
        (Severity::Low, "tightened")
    };
    Assessment { severity, verb, notes }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CSP: &str = "default-src 'self'; script-src 'self' 'nonce-abc' https://js.stripe.com; object-src 'none'";

    #[test]
    fn unsafe_eval_or_new_host_is_weaker() {
        let a = assess(
            "content-security-policy",
            Some(CSP),
            Some(&CSP.replace("https://js.stripe.com", "https://js.stripe.com 'unsafe-eval' https://evil.example")),
        );
        assert_eq!((a.severity, a.verb), (Severity::Medium, "weakened"));
        assert_eq!(
            a.notes,
            vec!["script-src: added 'unsafe-eval' https://evil.example (weaker: allows injected code)"]
        );
    }

    #[test]
    fn removed_directive_or_header_is_weaker() {
        let a = assess(
            "content-security-policy",
            Some(CSP),
            Some("default-src 'self'; script-src 'self' https://js.stripe.com"),
        );
        assert_eq!((a.severity, a.verb), (Severity::Medium, "weakened"));
        assert_eq!(a.notes, vec!["object-src: removed (weaker)"]);
        assert_eq!(assess("content-security-policy", Some(CSP), None).verb, "removed");
        assert!(assess("x-frame-options", Some("DENY"), None).severity >= Severity::Medium);
    }

    #[test]
    fn stricter_is_low_and_nonces_do_not_count() {
        let a = assess(
            "content-security-policy",
            Some(CSP),
            Some(&format!(
                "{}; frame-ancestors 'none'",
                CSP.replace(" https://js.stripe.com", "").replace("'nonce-abc'", "'nonce-zzz'")
            )),
        );
        assert_eq!((a.severity, a.verb), (Severity::Low, "tightened"));
        assert_eq!(
            a.notes,
            vec!["script-src: removed https://js.stripe.com (stricter)", "frame-ancestors: added (stricter)"]
        );
        assert_eq!(assess("referrer-policy", None, Some("no-referrer")).severity, Severity::Low);
    }

    #[test]
    fn a_second_policy_header_joined_by_cdp_is_read_as_its_own_directives() {
        // CDP joins repeated headers with `\n`: the added `script-src *` is a second policy
        // (which cannot loosen the first), not sources of the first policy's last directive.
        let a = assess("content-security-policy", Some(CSP), Some(&format!("{CSP}\nscript-src *")));
        assert!(a.notes.iter().all(|n| !n.starts_with("object-src")), "{:?}", a.notes);
    }

    #[test]
    fn other_headers_changed_are_medium() {
        let a = assess("x-frame-options", Some("DENY"), Some("SAMEORIGIN"));
        assert_eq!((a.severity, a.verb), (Severity::Medium, "changed"));
    }
}
