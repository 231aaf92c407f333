//! CSP violation reports of real browsers → findings. A blocked script from a host no approved
//! script comes from, or blocked inline code or eval, on a monitored page is a `csp_violation`:
//! what shoppers' browsers refused to run is what a skimmer looks like from their side. Groups
//! (one per directive, blocked resource and source) become one finding each, with the count;
//! browser-extension noise never does. A host real browsers report but the monitor's own scan
//! never contacted is said so: the page may be serving it to shoppers only (cloaking).

use super::finding_id;
use crate::inventory::identity::host_of;
use crate::model::{Baseline, CspViolation, Finding, FindingKind, Inventory, Severity};

/// How far back (seconds) a scan looks for reports: a group last reported longer ago than a
/// day no longer raises a finding (the page was fixed, or the shoppers went away).
pub const WINDOW_SECS: i64 = 24 * 3600;

/// The findings of `violations` (the page's recent groups) against `baseline`; `inventory` is
/// the scan's, for its payment fields (high) and the hosts the monitor saw.
pub fn findings(page: &str, violations: &[CspViolation], baseline: &Baseline, inventory: &Inventory) -> Vec<Finding> {
    let approved_origin =
        |blocked: &str| baseline.scripts.iter().filter_map(|s| s.url.as_deref()).any(|u| same_origin(u, blocked));
    let page_origin_is = |blocked: &str| same_origin(&baseline.url, blocked);
    let severity = if inventory.payment_fields.is_empty() { Severity::Medium } else { Severity::High };
    let mut out = Vec::new();
    for v in violations {
        if v.noise || !v.directive.starts_with("script-src") {
            continue;
        }
        let by_code = matches!(v.blocked.as_str(), "inline" | "eval");
        let host = if by_code { None } else { host_of(&v.blocked) };
        if !by_code && (host.is_none() || approved_origin(&v.blocked) || page_origin_is(&v.blocked)) {
            continue;
        }
        let mut hints = Vec::new();
        if let Some(h) = &host {
            let seen = inventory.hosts.iter().any(|x| x == h)
                || inventory.scripts.iter().filter_map(|s| s.url.as_deref()).any(|u| host_of(u).as_ref() == Some(h));
            if !seen {
                hints.push(format!(
                    "the monitor's own scans never saw {h}: the page may serve it to real shoppers only (cloaking)"
                ));
            }
        }
        let what = match v.blocked.as_str() {
            "inline" => "inline script".to_string(),
            "eval" => "eval".to_string(),
            other => format!("script from {other}"),
        };
        let source = if v.source.is_empty() { String::new() } else { format!(" in {}", v.source) };
        let reports = if v.count == 1 { "1 report".to_string() } else { format!("{} reports", v.count) };
        out.push(Finding {
            id: finding_id(page, FindingKind::CspViolation, &format!("{}|{}|{}", v.directive, v.blocked, v.source), ""),
            kind: FindingKind::CspViolation,
            severity,
            title: format!("Real browsers blocked a {what}{source} ({}; {reports})", v.directive),
            host,
            hints,
            first_seen: Some(v.first_seen.clone()),
            last_seen: Some(v.last_seen.clone()),
            violation: Some(v.clone()),
            ..Finding::default()
        });
    }
    out
}

/// True when `url` is on the origin `origin` (`scheme://host[:port]`).
fn same_origin(url: &str, origin: &str) -> bool {
    match (url::Url::parse(url), url::Url::parse(origin)) {
        (Ok(a), Ok(b)) => a.origin() == b.origin(),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{ApprovedScript, PaymentField};

    fn v(directive: &str, blocked: &str, noise: bool) -> CspViolation {
        CspViolation {
            page: "checkout".into(),
            directive: directive.into(),
            blocked: blocked.into(),
            source: "https://shop.example/checkout".into(),
            count: 1000,
            noise,
            ..CspViolation::default()
        }
    }

    #[test]
    fn unknown_hosts_and_inline_code_are_findings_and_noise_is_not() {
        let baseline = Baseline {
            page: "checkout".into(),
            url: "https://shop.example/checkout".into(),
            scripts: vec![ApprovedScript {
                url: Some("https://cdn.example/lib.js".into()),
                ..ApprovedScript::default()
            }],
            ..Baseline::default()
        };
        let mut inv = Inventory {
            cookies: Default::default(),
            url: baseline.url.clone(),
            final_url: String::new(),
            status: 200,
            headers: Default::default(),
            scripts: vec![],
            hosts: vec!["self".into()],
            payment_fields: vec![],
        };
        let all = [
            v("script-src-elem", "https://evil.example", false),
            v("script-src-elem", "inline", false),
            v("script-src-elem", "https://cdn.example", false),
            v("script-src-elem", "https://shop.example", false),
            v("script-src-elem", "chrome-extension", true),
            v("img-src", "https://pixel.example", false),
        ];
        let f = findings("checkout", &all, &baseline, &inv);
        assert_eq!(f.len(), 2, "{f:#?}");
        assert_eq!(f[0].severity, Severity::Medium);
        assert!(f[0].title.contains("1000 reports") && f[0].title.contains("evil.example"), "{}", f[0].title);
        assert!(f[0].hints[0].contains("cloaking"));
        assert_eq!(f[1].violation.as_ref().unwrap().blocked, "inline");
        // Stable: the same group keeps its id whatever its count.
        let mut fewer = all.clone();
        fewer[0].count = 1;
        assert_eq!(findings("checkout", &fewer, &baseline, &inv)[0].id, f[0].id);
        inv.payment_fields.push(PaymentField {
            frame_url: String::new(),
            selector: "#cc".into(),
            reason: String::new(),
        });
        inv.hosts.push("evil.example".into());
        let f = findings("checkout", &all, &baseline, &inv);
        assert_eq!(f[0].severity, Severity::High);
        assert!(f[0].hints.is_empty(), "the monitor saw that host too");
    }
}
