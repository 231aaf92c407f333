//! Privacy: the cookie audit and the shopper's personal data, judged against the baseline and
//! the page's settings.
//!
//! - A cookie the baseline does not approve is a `cookie_change` when it is third-party or
//!   lives longer than the page's `max_cookie_lifetime`; an approved one is when it lost
//!   `Secure` or `HttpOnly`, or its lifetime grew past that maximum. `low`, `medium` for a
//!   third-party cookie on a page with payment fields. First-party cookies that are new are
//!   listed in the audit, not raised (a shop sets them all the time; approve them with the rest).
//! - Personal data that reached a host outside `personal_data_hosts` and the page's own site
//!   is a `personal_data_flow`: `medium`, `high` when the host is not approved in the baseline
//!   (first seen now). Allowed flows stay in the report (`personal_data`) as evidence.
//!
//! Card data keeps its own, stricter `card_exfiltration` (see `behaviour`).

use super::finding_id;
use crate::model::{
    Approval, ApprovedCookie, Baseline, Behaviour, Cookie, Finding, FindingKind, Inventory, PersonalDataFlow, Severity,
};

/// The page settings this stage needs.
#[derive(Debug, Clone, Copy)]
pub struct PrivacyRules {
    /// Longest lifetime a cookie may have, in days.
    pub max_cookie_days: u64,
}

/// The cookie and personal-data findings of one scan.
pub fn findings(
    page: &str,
    inv: &Inventory,
    behaviour: &Behaviour,
    baseline: &Baseline,
    rules: PrivacyRules,
) -> Vec<Finding> {
    let payment_page = !inv.payment_fields.is_empty();
    let mut out: Vec<Finding> = inv
        .cookies
        .iter()
        .filter_map(|c| cookie_finding(page, c, baseline.cookies.iter().find(|a| a.id == c.id), rules, payment_page))
        .collect();
    for flow in behaviour.personal_data.iter().filter(|f| !f.allowed) {
        out.push(flow_finding(page, flow, baseline));
    }
    out
}

/// What changed about one cookie against its approval (`None`: not approved), as
/// (stable key, text).
pub fn cookie_changes(c: &Cookie, approved: Option<&ApprovedCookie>, max_days: u64) -> Vec<(&'static str, String)> {
    let mut changes = Vec::new();
    let too_long = c.lifetime_days.is_some_and(|d| d > max_days);
    let days = c.lifetime_days.unwrap_or(0);
    match approved {
        None => {
            if c.third_party {
                changes.push(("new-third-party", "new third-party cookie".to_string()));
            }
            if too_long {
                changes.push(("lifetime", format!("lives {days} days, longer than the maximum of {max_days}")));
            }
        }
        Some(a) => {
            if a.secure && !c.secure {
                changes.push(("lost-secure", "lost Secure (now also sent over plain HTTP)".to_string()));
            }
            if a.http_only && !c.http_only {
                changes.push(("lost-httponly", "lost HttpOnly (now readable by every script)".to_string()));
            }
            let approved_long = a.lifetime_days.is_some_and(|d| d > max_days);
            if too_long && !approved_long {
                let was = a.lifetime_days.map_or("a session cookie".to_string(), |d| format!("{d} days"));
                changes.push((
                    "lifetime",
                    format!("lifetime grew to {days} days (approved: {was}), past the maximum of {max_days}"),
                ));
            }
        }
    }
    changes
}

fn cookie_finding(
    page: &str,
    c: &Cookie,
    approved: Option<&ApprovedCookie>,
    rules: PrivacyRules,
    payment_page: bool,
) -> Option<Finding> {
    let changes = cookie_changes(c, approved, rules.max_cookie_days);
    if changes.is_empty() {
        return None;
    }
    let keys: Vec<&str> = changes.iter().map(|(k, _)| *k).collect();
    let texts: Vec<String> = changes.into_iter().map(|(_, t)| t).collect();
    let party = if c.third_party { "Third-party cookie" } else { "Cookie" };
    Some(Finding {
        id: finding_id(page, FindingKind::CookieChange, &c.id, &keys.join(",")),
        kind: FindingKind::CookieChange,
        severity: if c.third_party && payment_page { Severity::Medium } else { Severity::Low },
        title: crate::text::one_line(&format!("{party} {} on {}: {}", c.name, c.domain, texts.join("; ")), 240),
        host: Some(c.domain.trim_start_matches('.').to_string()),
        changes: texts,
        cookie: Some(c.clone()),
        ..Default::default()
    })
}

fn flow_finding(page: &str, flow: &PersonalDataFlow, baseline: &Baseline) -> Finding {
    let script = flow.script.clone().unwrap_or_else(|| "(unknown script)".to_string());
    let new_host = !baseline.hosts.iter().any(|h| h.host == flow.host);
    let channels: Vec<&str> = flow.channels.iter().map(|c| c.as_str()).collect();
    Finding {
        id: finding_id(page, FindingKind::PersonalDataFlow, &format!("{}|{script}", flow.host), ""),
        kind: FindingKind::PersonalDataFlow,
        severity: if new_host { Severity::High } else { Severity::Medium },
        title: crate::text::one_line(
            &format!(
                "Shopper's {} sent to {} by {} from {script}",
                flow.fields.join(", "),
                flow.host,
                channels.join("/")
            ),
            240,
        ),
        host: Some(flow.host.clone()),
        initiator: flow.script.clone(),
        hints: if new_host { vec![format!("{} is not an approved host of the page", flow.host)] } else { Vec::new() },
        personal_data: Some(flow.clone()),
        ..Default::default()
    }
}

/// The baseline entry that approves `c` as it is now, with `approval` (purpose kept when the
/// cookie was approved before).
pub fn approve_cookie(baseline: &mut Baseline, c: &Cookie, approval: &Approval) {
    let purpose = baseline.cookies.iter().find(|a| a.id == c.id).map(|a| a.purpose).unwrap_or_default();
    baseline.cookies.retain(|a| a.id != c.id);
    baseline.cookies.push(ApprovedCookie {
        id: c.id.clone(),
        purpose,
        third_party: c.third_party,
        secure: c.secure,
        http_only: c.http_only,
        lifetime_days: c.lifetime_days,
        approval: approval.clone(),
    });
    baseline.cookies.sort_by(|a, b| a.id.cmp(&b.id));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cookie(third_party: bool, days: Option<u64>) -> Cookie {
        Cookie {
            id: "tw_uid@127.0.0.3/".into(),
            name: "tw_uid".into(),
            domain: "127.0.0.3".into(),
            path: "/".into(),
            third_party,
            lifetime_days: days,
            secure: true,
            http_only: true,
            ..Default::default()
        }
    }

    fn approved(c: &Cookie) -> ApprovedCookie {
        let mut b = Baseline::default();
        approve_cookie(&mut b, c, &Approval::default());
        b.cookies.remove(0)
    }

    #[test]
    fn new_third_party_and_long_lived_cookies_are_changes() {
        let keys = |c: &Cookie, a: Option<&ApprovedCookie>| -> Vec<&str> {
            cookie_changes(c, a, 395).into_iter().map(|(k, _)| k).collect()
        };
        assert_eq!(keys(&cookie(true, Some(30)), None), ["new-third-party"]);
        assert_eq!(keys(&cookie(true, Some(730)), None), ["new-third-party", "lifetime"]);
        assert!(keys(&cookie(false, None), None).is_empty(), "a new first-party session cookie is fine");
        assert_eq!(keys(&cookie(false, Some(800)), None), ["lifetime"]);
        // Approved as it is: nothing, even when long-lived (approved so).
        let long = cookie(true, Some(730));
        assert!(keys(&long, Some(&approved(&long))).is_empty());
        // Lifetime grew past the maximum; lost flags.
        let short = cookie(true, Some(30));
        let mut weaker = cookie(true, Some(500));
        weaker.secure = false;
        weaker.http_only = false;
        assert_eq!(keys(&weaker, Some(&approved(&short))), ["lost-secure", "lost-httponly", "lifetime"]);
    }

    #[test]
    fn severity_and_ids() {
        let rules = PrivacyRules { max_cookie_days: 395 };
        let mut inv = Inventory {
            url: String::new(),
            final_url: String::new(),
            status: 200,
            headers: Default::default(),
            scripts: Vec::new(),
            hosts: Vec::new(),
            payment_fields: Vec::new(),
            cookies: vec![cookie(true, Some(30))],
        };
        let b = Behaviour::default();
        let f = findings("p", &inv, &b, &Baseline::default(), rules);
        assert_eq!((f.len(), f[0].severity), (1, Severity::Low));
        inv.payment_fields.push(crate::model::PaymentField {
            frame_url: String::new(),
            selector: "#cc".into(),
            reason: String::new(),
        });
        let g = findings("p", &inv, &b, &Baseline::default(), rules);
        assert_eq!((g[0].severity, &g[0].id), (Severity::Medium, &f[0].id));
        assert!(g[0].cookie.as_ref().unwrap().value_hash.is_empty());
    }

    #[test]
    fn personal_data_flows_outside_the_allow_list_are_findings() {
        let flow = |host: &str, allowed: bool| PersonalDataFlow {
            host: host.into(),
            fields: vec!["email".into()],
            allowed,
            script: Some("https://t.example/tag.js".into()),
            ..Default::default()
        };
        let b = Behaviour {
            personal_data: vec![flow("t.example", true), flow("chat.example", false)],
            ..Default::default()
        };
        let inv = Inventory {
            url: String::new(),
            final_url: String::new(),
            status: 200,
            headers: Default::default(),
            scripts: Vec::new(),
            hosts: Vec::new(),
            payment_fields: Vec::new(),
            cookies: Vec::new(),
        };
        let mut baseline = Baseline::default();
        let f = findings("p", &inv, &b, &baseline, PrivacyRules { max_cookie_days: 395 });
        assert_eq!(f.len(), 1);
        assert_eq!((f[0].host.as_deref(), f[0].severity), (Some("chat.example"), Severity::High));
        baseline.hosts.push(crate::model::ApprovedHost { host: "chat.example".into(), approval: Approval::default() });
        let g = findings("p", &inv, &b, &baseline, PrivacyRules { max_cookie_days: 395 });
        assert_eq!((g[0].severity, &g[0].id), (Severity::Medium, &f[0].id));
    }
}
