//! Behaviour: what scripts *did* with card data during the scan, beside what they *are*.
//!
//! Capture records two kinds of behaviour while it acts as a shopper: every place the canary
//! card number was sent ([`CardLeak`]) and every script that listened to or read a payment
//! field ([`FieldAccess`]). This stage names the scripts involved by their inventory identity
//! and turns behaviour into findings: a leak to a host outside the page's `card_data_hosts`
//! allow-list is a `card_exfiltration` (critical), whatever script sent it — approved or not;
//! a field access the baseline does not record is a `payment_field_access` (high); a
//! configured `payment_fields` selector that matched nothing is a `payment_field_missing`
//! (medium), because a changed checkout must not silently switch the check off.

use crate::inventory::{script_identity_with, sha256_hex};
use crate::model::{
    Approval, ApprovedFieldAccess, Baseline, CardLeak, FieldAccess, FieldAccessRef, FieldAction, Finding, FindingKind, Inventory,
    ScriptRef, Severity, Snapshot,
};
use std::collections::BTreeSet;

/// Behaviour of one scan with scripts named by identity.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Behaviour {
    pub card_leaks: Vec<CardLeak>,
    pub field_access: Vec<FieldAccess>,
    pub unmatched_payment_fields: Vec<String>,
}

/// Names the scripts behind each leak and access by their identity in `inv`.
pub fn resolve(snapshot: &Snapshot, inv: &Inventory, ignore_query: &[String]) -> Behaviour {
    let page_url = if snapshot.final_url.is_empty() { &snapshot.url } else { &snapshot.final_url };
    let script_of = |index: Option<usize>| -> Option<ScriptRef> {
        let raw = snapshot.scripts.get(index?)?;
        // The same identity rules as the inventory (cache-busting queries left out).
        let base = script_identity_with(raw, page_url, ignore_query);
        let sha = sha256_hex(&raw.source);
        let numbered = format!("{base}#");
        inv.scripts
            .iter()
            .find(|s| s.sha256 == sha && (s.id == base || s.id.starts_with(&numbered)))
            .map(|s| ScriptRef { id: s.id.clone(), kind: s.kind, url: s.url.clone(), sha256: s.sha256.clone() })
    };
    let card_leaks = snapshot
        .card_leaks
        .iter()
        .map(|l| CardLeak { script: script_of(l.script_index), ..l.clone() })
        .collect();
    let mut seen = BTreeSet::new();
    let field_access = snapshot
        .field_access
        .iter()
        .map(|a| FieldAccess { script: script_of(a.script_index), ..a.clone() })
        .filter(|a| seen.insert((script_name(a.script.as_ref(), a.script_url.as_deref()), a.access.clone())))
        .collect();
    Behaviour { card_leaks, field_access, unmatched_payment_fields: snapshot.unmatched_payment_fields.clone() }
}

/// The findings behaviour gives against `baseline`, most severe first.
pub fn findings(page: &str, behaviour: &Behaviour, baseline: &Baseline) -> Vec<Finding> {
    let mut out = Vec::new();
    let mut seen = BTreeSet::new();
    for leak in behaviour.card_leaks.iter().filter(|l| !l.allowed) {
        let script = script_name(leak.script.as_ref(), leak.script_url.as_deref());
        let d = &leak.destination;
        // One finding per destination host, channel and sender: the URL carries the canary,
        // which changes every scan, so it is not part of the identity.
        if !seen.insert((d.host.clone(), d.channel.clone(), script.clone())) {
            continue;
        }
        out.push(Finding {
            id: finding_id(page, FindingKind::CardExfiltration, &format!("{}|{}|{script}", d.host, d.channel), ""),
            kind: FindingKind::CardExfiltration,
            severity: Severity::Critical,
            title: one_line(&format!("Card number sent to {} by {} from {script}", d.host, d.channel)),
            script: leak.script.clone(),
            initiator: leak.script_url.clone().filter(|_| leak.script.is_none()),
            destination: Some(d.clone()),
            ..Default::default()
        });
    }
    for access in &behaviour.field_access {
        let script = script_name(access.script.as_ref(), access.script_url.as_deref());
        let a = &access.access;
        let approved = baseline.field_access.iter().any(|b| {
            b.script == script && b.frame == a.frame && b.field == a.field && b.action == a.action && b.event == a.event
        });
        if approved {
            continue;
        }
        out.push(Finding {
            id: finding_id(page, FindingKind::PaymentFieldAccess, &format!("{script}|{}", access_key(a)), ""),
            kind: FindingKind::PaymentFieldAccess,
            severity: Severity::High,
            title: one_line(&format!("{script} {} {}{}", verb(a), a.field, in_frame(&a.frame))),
            script: access.script.clone(),
            initiator: access.script_url.clone().filter(|_| access.script.is_none()),
            access: Some(a.clone()),
            ..Default::default()
        });
    }
    for selector in &behaviour.unmatched_payment_fields {
        out.push(Finding {
            id: finding_id(page, FindingKind::PaymentFieldMissing, selector, ""),
            kind: FindingKind::PaymentFieldMissing,
            severity: Severity::Medium,
            title: one_line(&format!("Configured payment field {selector} matched nothing on the page")),
            access: Some(FieldAccessRef { frame: "*".into(), field: selector.clone(), action: FieldAction::Missing, event: None }),
            ..Default::default()
        });
    }
    out
}

/// Records a `payment_field_access` finding in the baseline (the script may do this).
pub fn approve_field_access(baseline: &mut Baseline, finding: &Finding, approval: &Approval) -> bool {
    let Some(a) = &finding.access else { return false };
    let script = script_name(finding.script.as_ref(), finding.initiator.as_deref());
    baseline.field_access.retain(|b| {
        !(b.script == script && b.frame == a.frame && b.field == a.field && b.action == a.action && b.event == a.event)
    });
    baseline.field_access.push(ApprovedFieldAccess {
        script,
        frame: a.frame.clone(),
        field: a.field.clone(),
        action: a.action.clone(),
        event: a.event.clone(),
        approval: approval.clone(),
    });
    baseline.field_access.sort_by(|x, y| {
        (&x.script, &x.frame, &x.field, &x.action, &x.event).cmp(&(&y.script, &y.frame, &y.field, &y.action, &y.event))
    });
    true
}

/// Key of a frame for field identities: `main`, `self:/path` for same-origin frames, else the
/// frame URL without query and fragment.
pub fn frame_key(frame_url: &str, page_url: &str, is_main: bool) -> String {
    if is_main {
        return "main".into();
    }
    let Ok(u) = url::Url::parse(frame_url) else { return frame_url.split(['?', '#']).next().unwrap_or("").to_string() };
    let same = url::Url::parse(page_url).map(|p| p.origin() == u.origin()).unwrap_or(false);
    if same {
        format!("self:{}", u.path())
    } else {
        format!("{}{}", u.origin().ascii_serialization(), u.path())
    }
}

/// `true` when `host` (`host` or `host:port`) matches an allow-list entry: exact, `*.domain`
/// (any subdomain), `host:*` (any port), or `*`.
pub fn host_allowed(host: &str, allow: &[String]) -> bool {
    let (name, port) = match host.rsplit_once(':') {
        Some((n, p)) if p.bytes().all(|b| b.is_ascii_digit()) => (n, Some(p)),
        _ => (host, None),
    };
    allow.iter().any(|entry| {
        let entry = entry.trim().to_ascii_lowercase();
        if entry == "*" {
            return true;
        }
        let (e_name, e_port) = match entry.rsplit_once(':') {
            Some((n, p)) if p == "*" || p.bytes().all(|b| b.is_ascii_digit()) => (n.to_string(), Some(p.to_string())),
            _ => (entry.clone(), None),
        };
        let port_ok = match (&e_port, port) {
            (Some(p), _) if p == "*" => true,
            (Some(p), Some(q)) => p == q,
            (Some(_), None) => false,
            (None, q) => q.is_none(),
        };
        let name = name.to_ascii_lowercase();
        let name_ok = match e_name.strip_prefix("*.") {
            Some(domain) => name.ends_with(&format!(".{domain}")),
            None => name == e_name,
        };
        port_ok && name_ok
    })
}

fn script_name(script: Option<&ScriptRef>, url: Option<&str>) -> String {
    match (script, url) {
        (Some(s), _) => s.id.clone(),
        (None, Some(u)) if !u.is_empty() => u.to_string(),
        _ => "(unknown script)".to_string(),
    }
}

fn access_key(a: &FieldAccessRef) -> String {
    format!("{}|{}|{}|{}", a.frame, a.field, a.action, a.event.as_deref().unwrap_or(""))
}

fn verb(a: &FieldAccessRef) -> String {
    match (a.action.as_str(), &a.event) {
        ("read", _) => "reads the value of".to_string(),
        (_, Some(e)) => format!("listens to {e} on"),
        (other, None) => other.to_string(),
    }
}

fn in_frame(frame: &str) -> String {
    if frame == "main" {
        String::new()
    } else {
        format!(" (frame {frame})")
    }
}

/// Same scheme as `compare`'s ids: stable across rescans of the same change.
fn finding_id(page: &str, kind: FindingKind, subject: &str, state: &str) -> String {
    let digest = sha256_hex(&format!("{page}\0{}\0{subject}\0{state}", kind.as_str()));
    format!("F{}", &digest[..12])
}

fn one_line(s: &str) -> String {
    let cleaned: String = s.chars().map(|c| if c.is_control() { ' ' } else { c }).collect();
    if cleaned.chars().count() > 240 {
        format!("{}…", cleaned.chars().take(240).collect::<String>())
    } else {
        cleaned
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Channel, Destination, RawScript, ScriptKind};

    fn raw(url: &str, source: &str) -> RawScript {
        RawScript {
            kind: ScriptKind::External,
            url: Some(url.into()),
            frame_url: "https://shop.example/checkout".into(),
            main_frame: true,
            source: source.into(),
            initiator: None,
            context: None,
            position: None,
        }
    }

    fn snapshot() -> Snapshot {
        Snapshot {
            url: "https://shop.example/checkout".into(),
            final_url: "https://shop.example/checkout".into(),
            status: 200,
            scripts: vec![raw("https://shop.example/app.js", "app()"), raw("https://cdn.example/chat.js", "chat()")],
            card_leaks: vec![
                leak("evil.example", "image", Some(1), false),
                leak("evil.example", "image", Some(1), false),
                leak("pay.example", "fetch", Some(0), true),
            ],
            field_access: vec![access(0, "#cc", "listen", Some("input")), access(1, "#cc", "read", None), access(1, "#cc", "read", None)],
            unmatched_payment_fields: vec!["#gone".into()],
            ..Default::default()
        }
    }

    fn leak(host: &str, channel: &str, script: Option<usize>, allowed: bool) -> CardLeak {
        CardLeak {
            destination: Destination { url: format!("https://{host}/c"), host: host.into(), channel: Channel::parse(channel).unwrap(), ..Default::default() },
            frame_url: "https://shop.example/checkout".into(),
            allowed,
            script_index: script,
            ..Default::default()
        }
    }

    fn access(script: usize, field: &str, action: &str, event: Option<&str>) -> FieldAccess {
        FieldAccess {
            access: FieldAccessRef { frame: "main".into(), field: field.into(), action: FieldAction::parse(action).unwrap(), event: event.map(Into::into) },
            frame_url: "https://shop.example/checkout".into(),
            script_index: Some(script),
            ..Default::default()
        }
    }

    #[test]
    fn leaks_and_accesses_name_scripts_and_become_findings() {
        let snap = snapshot();
        let inv = crate::inventory::inventory(&snap);
        let b = resolve(&snap, &inv, &[]);
        assert_eq!(b.card_leaks[0].script.as_ref().unwrap().id, "https://cdn.example/chat.js");
        assert_eq!(b.field_access.len(), 2, "duplicates collapse");
        assert_eq!(b.field_access[0].script.as_ref().unwrap().id, "self:/app.js");

        let f = findings("checkout", &b, &Baseline::default());
        let kinds: Vec<_> = f.iter().map(|x| (x.kind, x.severity)).collect();
        assert_eq!(
            kinds,
            [
                (FindingKind::CardExfiltration, Severity::Critical),
                (FindingKind::PaymentFieldAccess, Severity::High),
                (FindingKind::PaymentFieldAccess, Severity::High),
                (FindingKind::PaymentFieldMissing, Severity::Medium),
            ],
            "allowed leak and duplicate leak give nothing"
        );
        assert_eq!(f[0].destination.as_ref().unwrap().host, "evil.example");
        assert_eq!(f[0].title, "Card number sent to evil.example by image from https://cdn.example/chat.js");
        assert_eq!(f[1].title, "self:/app.js listens to input on #cc");
        assert_eq!(f[2].title, "https://cdn.example/chat.js reads the value of #cc");
        // Ids are stable across scans (the canary in the URL changes, the id does not).
        let mut again = snap.clone();
        again.card_leaks[0].destination.url = "https://evil.example/c?n=other".into();
        let f2 = findings("checkout", &resolve(&again, &inv, &[]), &Baseline::default());
        assert_eq!(f[0].id, f2[0].id);
    }

    #[test]
    fn approved_access_is_quiet_but_a_new_one_on_the_same_script_is_not() {
        let snap = snapshot();
        let inv = crate::inventory::inventory(&snap);
        let b = resolve(&snap, &inv, &[]);
        let mut base = Baseline::default();
        let approval = Approval { approved_by: "a".into(), approved_at: "2025-01-01T00:00:00Z".into(), reason: "r".into() };
        for f in findings("checkout", &b, &base).iter().filter(|f| f.kind == FindingKind::PaymentFieldAccess) {
            assert!(approve_field_access(&mut base, f, &approval));
        }
        assert_eq!(base.field_access.len(), 2);
        assert!(findings("checkout", &b, &base).iter().all(|f| f.kind != FindingKind::PaymentFieldAccess));
        // The approved app.js now also listens to keydown: a new access.
        let mut more = snap.clone();
        more.field_access.push(access(0, "#cc", "listen", Some("keydown")));
        let f = findings("checkout", &resolve(&more, &inv, &[]), &base);
        let access: Vec<_> = f.iter().filter(|f| f.kind == FindingKind::PaymentFieldAccess).collect();
        assert_eq!(access.len(), 1);
        assert_eq!(access[0].access.as_ref().unwrap().event.as_deref(), Some("keydown"));
        assert_eq!(access[0].script.as_ref().unwrap().id, "self:/app.js");
    }

    #[test]
    fn allow_list_patterns() {
        let allow = |list: &[&str], host: &str| host_allowed(host, &list.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        assert!(allow(&["pay.example"], "pay.example"));
        assert!(allow(&["PAY.example"], "pay.example"));
        assert!(!allow(&["pay.example"], "pay.example:8443"));
        assert!(allow(&["pay.example:8443"], "pay.example:8443"));
        assert!(allow(&["127.0.0.2:*"], "127.0.0.2:41234"));
        assert!(!allow(&["127.0.0.2:*"], "127.0.0.3:41234"));
        assert!(allow(&["*.stripe.com"], "api.stripe.com"));
        assert!(!allow(&["*.stripe.com"], "stripe.com.evil.example"));
        assert!(!allow(&["*.stripe.com"], "evilstripe.com"));
        assert!(allow(&["*"], "anything:1"));
        assert!(!allow(&[], "pay.example"));
    }

    #[test]
    fn frame_keys() {
        let page = "https://shop.example/checkout";
        assert_eq!(frame_key(page, page, true), "main");
        assert_eq!(frame_key("https://shop.example/frame?x=1", page, false), "self:/frame");
        assert_eq!(frame_key("https://pay.example:8443/hosted?s=1#a", page, false), "https://pay.example:8443/hosted");
    }
}
