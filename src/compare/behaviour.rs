//! Behaviour: what scripts *did* with card data during the scan, beside what they *are*.
//!
//! Capture records every place the canary card number was sent and every script that
//! listened to or read a payment field; the inventory names the scripts involved
//! ([`Behaviour`]). This stage turns behaviour into findings: a leak to a host outside the page's `card_data_hosts`
//! allow-list is a `card_exfiltration` (critical), whatever script sent it — approved or not —
//! unless the baseline records that destination for that script (`[[card_destination]]`, only
//! possible for the origin of the document the script runs in: the shop's own checkout, a
//! provider's hosted field) and the script is approved unchanged;
//! a field access the baseline does not record is a `payment_field_access` (high); a
//! configured `payment_fields` selector that matched nothing is a `payment_field_missing`
//! (medium), because a changed checkout must not silently switch the check off; and a
//! capture limit that dropped data is a `capture_truncated` (high), one per limit, because
//! flooding the monitor before sending the card must be an alert, not a blind spot.

use super::finding_id;
use crate::model::{
    sender_name as script_name, Approval, ApprovedCardDestination, ApprovedFieldAccess, Baseline, Behaviour, CardLeak,
    Destination, FieldAccessRef, FieldAction, Finding, FindingKind, Severity, Truncation,
};
use std::collections::BTreeSet;

/// The findings behaviour gives against `baseline`, most severe first.
pub fn findings(page: &str, behaviour: &Behaviour, baseline: &Baseline) -> Vec<Finding> {
    let mut out = Vec::new();
    let mut seen = BTreeSet::new();
    for leak in behaviour.card_leaks.iter().filter(|l| !l.allowed) {
        if approved_destination(leak, baseline) {
            continue;
        }
        let script = script_name(leak.script.as_ref(), leak.script_url.as_deref());
        let d = &leak.destination;
        // One finding per destination host, channel and sender: the URL carries the canary,
        // which changes every scan, so it is not part of the identity.
        if !seen.insert((d.host.clone(), d.channel, script.clone())) {
            continue;
        }
        out.push(Finding {
            id: finding_id(page, FindingKind::CardExfiltration, &format!("{}|{}|{script}", d.host, d.channel), ""),
            kind: FindingKind::CardExfiltration,
            // On a page never approved, a cross-origin frame sending the card to its own origin
            // is most likely the payment provider's hosted field tokenising it, pending the
            // first review like the new scripts beside it; anything else is critical from the
            // first scan (the shop's own origin receiving cards is where skimmers stash them).
            severity: if d.own_origin && leak.cross_origin_frame && baseline.is_empty() {
                Severity::High
            } else {
                Severity::Critical
            },
            title: one_line(&format!("Card number sent to {} by {} from {script}", d.host, d.channel)),
            script: leak.script.clone(),
            initiator: leak.script_url.clone().filter(|_| leak.script.is_none()),
            destination: Some(d.clone()),
            hints: match (destination_key(d), &leak.script) {
                (Some(url), Some(_)) => vec![format!(
                    "sent to the origin of the document that sent it: if this is the page's own checkout or its \
                     payment provider's hosted field, approving records {script} as allowed to send card data to \
                     {url} while the script stays approved unchanged"
                )],
                _ => Vec::new(),
            },
            ..Default::default()
        });
    }
    for access in &behaviour.field_access {
        let script = script_name(access.script.as_ref(), access.script_url.as_deref());
        let a = &access.access;
        // A sender the capture could not name (the page tampered with its stack) is never
        // matched against the baseline: it is always a finding.
        let approved = access.script.is_some()
            && baseline.field_access.iter().any(|b| {
                b.script == script
                    && b.frame == a.frame
                    && b.field == a.field
                    && b.action == a.action
                    && b.event == a.event
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
            access: Some(FieldAccessRef {
                frame: "*".into(),
                field: selector.clone(),
                action: FieldAction::Missing,
                event: None,
            }),
            ..Default::default()
        });
    }
    for t in &behaviour.truncations {
        out.push(truncated(page, t));
    }
    out
}

/// The `capture_truncated` finding for one limit hit. Its id names the limit only, so the
/// same flood keeps its id (and its history) across scans.
pub fn truncated(page: &str, t: &Truncation) -> Finding {
    let note = t.note.as_deref().map(|n| format!("; {n}")).unwrap_or_default();
    Finding {
        id: finding_id(page, FindingKind::CaptureTruncated, &t.limit, ""),
        kind: FindingKind::CaptureTruncated,
        severity: Severity::High,
        title: one_line(&format!(
            "Capture truncated: {} of {} {} kept (limit {}){note}",
            thousands(t.kept),
            thousands(t.seen),
            t.what,
            t.limit
        )),
        truncation: Some(t.clone()),
        ..Default::default()
    }
}

/// `12345` as `12,345`.
fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// True when `leak` is an approved script sending card data to its own document's origin at
/// a destination the baseline records for it (`[[card_destination]]`), and that script is
/// approved with the SHA-256 it has in this scan: a changed script or another path is a finding.
fn approved_destination(leak: &CardLeak, baseline: &Baseline) -> bool {
    let Some(script) = &leak.script else { return false };
    baseline.scripts.iter().any(|a| a.id == script.id && a.sha256 == script.sha256)
        && recorded_destination(baseline, &script.id, &leak.destination).is_some()
}

/// The baseline's `[[card_destination]]` entry that approved `finding` (a `card_exfiltration`
/// to its sender's own origin), if any: for evidence, which names who approved what.
pub fn card_destination_of<'a>(baseline: &'a Baseline, finding: &Finding) -> Option<&'a ApprovedCardDestination> {
    let (Some(d), Some(script)) = (&finding.destination, &finding.script) else { return None };
    recorded_destination(baseline, &script.id, d)
}

/// The entry recording that `script` may send card data to `d`, if `d` is approvable at all.
fn recorded_destination<'a>(
    baseline: &'a Baseline,
    script: &str,
    d: &Destination,
) -> Option<&'a ApprovedCardDestination> {
    let url = destination_key(d)?;
    baseline.card_destinations.iter().find(|c| c.script == script && c.url == url)
}

/// A destination as the baseline records it — origin and path, without query or fragment (the
/// query carries per-scan data, the canary among it) — or `None` when it cannot be approved
/// (not the sender's own origin).
fn destination_key(d: &Destination) -> Option<String> {
    let u = url::Url::parse(&d.url).ok().filter(|_| d.own_origin)?;
    Some(format!("{}{}", u.origin().ascii_serialization(), u.path()))
}

/// Approves a card exfiltration finding when the card went to the sender's own origin from a
/// script the capture named: the baseline then records that script's destination. Any other
/// destination is refused (it must be in `card_data_hosts`).
pub fn approve_card_destination(baseline: &mut Baseline, finding: &Finding, approval: &Approval) -> bool {
    let (Some(d), Some(script)) = (&finding.destination, &finding.script) else { return false };
    let Some(url) = destination_key(d) else { return false };
    if recorded_destination(baseline, &script.id, d).is_none() {
        baseline.card_destinations.push(ApprovedCardDestination {
            script: script.id.clone(),
            url,
            approval: approval.clone(),
        });
    }
    true
}

/// Records a `payment_field_access` finding in the baseline (the script may do this). An access
/// by an unknown sender is not approvable (it would never count): `false`.
pub fn approve_field_access(baseline: &mut Baseline, finding: &Finding, approval: &Approval) -> bool {
    let Some(a) = &finding.access else { return false };
    if finding.script.is_none() {
        return false;
    }
    let script = script_name(finding.script.as_ref(), finding.initiator.as_deref());
    baseline.field_access.retain(|b| {
        !(b.script == script && b.frame == a.frame && b.field == a.field && b.action == a.action && b.event == a.event)
    });
    baseline.field_access.push(ApprovedFieldAccess {
        script,
        frame: a.frame.clone(),
        field: a.field.clone(),
        action: a.action,
        event: a.event.clone(),
        approval: approval.clone(),
    });
    baseline.field_access.sort_by(|x, y| {
        (&x.script, &x.frame, &x.field, &x.action, &x.event).cmp(&(&y.script, &y.frame, &y.field, &y.action, &y.event))
    });
    true
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

/// Titles are one line, at most 240 characters.
fn one_line(s: &str) -> String {
    crate::text::one_line(s, 240)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{ApprovedScript, Channel, Destination, FieldAccess, RawScript, ScriptKind, Snapshot};

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
            field_access: vec![
                access(0, "#cc", "listen", Some("input")),
                access(1, "#cc", "read", None),
                access(1, "#cc", "read", None),
            ],
            unmatched_payment_fields: vec!["#gone".into()],
            ..Default::default()
        }
    }

    fn leak(host: &str, channel: &str, script: Option<usize>, allowed: bool) -> CardLeak {
        CardLeak {
            destination: Destination {
                url: format!("https://{host}/c"),
                host: host.into(),
                channel: Channel::parse(channel).unwrap(),
                ..Default::default()
            },
            frame_url: "https://shop.example/checkout".into(),
            allowed,
            script_index: script,
            ..Default::default()
        }
    }

    fn access(script: usize, field: &str, action: &str, event: Option<&str>) -> FieldAccess {
        FieldAccess {
            access: FieldAccessRef {
                frame: "main".into(),
                field: field.into(),
                action: FieldAction::parse(action).unwrap(),
                event: event.map(Into::into),
            },
            frame_url: "https://shop.example/checkout".into(),
            script_index: Some(script),
            main_frame: true,
            ..Default::default()
        }
    }

    fn resolve(snap: &Snapshot) -> Behaviour {
        crate::inventory::inventory_page(snap, &[]).behaviour
    }

    #[test]
    fn leaks_and_accesses_name_scripts_and_become_findings() {
        let snap = snapshot();
        let b = resolve(&snap);
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
        let f2 = findings("checkout", &resolve(&again), &Baseline::default());
        assert_eq!(f[0].id, f2[0].id);
    }

    #[test]
    fn approved_access_is_quiet_but_a_new_one_on_the_same_script_is_not() {
        let snap = snapshot();
        let b = resolve(&snap);
        let mut base = Baseline::default();
        let approval =
            Approval { approved_by: "a".into(), approved_at: "2025-01-01T00:00:00Z".into(), reason: "r".into() };
        for f in findings("checkout", &b, &base).iter().filter(|f| f.kind == FindingKind::PaymentFieldAccess) {
            assert!(approve_field_access(&mut base, f, &approval));
        }
        assert_eq!(base.field_access.len(), 2);
        assert!(findings("checkout", &b, &base).iter().all(|f| f.kind != FindingKind::PaymentFieldAccess));
        // The approved app.js now also listens to keydown: a new access.
        let mut more = snap.clone();
        more.field_access.push(access(0, "#cc", "listen", Some("keydown")));
        let f = findings("checkout", &resolve(&more), &base);
        let access: Vec<_> = f.iter().filter(|f| f.kind == FindingKind::PaymentFieldAccess).collect();
        assert_eq!(access.len(), 1);
        assert_eq!(access[0].access.as_ref().unwrap().event.as_deref(), Some("keydown"));
        assert_eq!(access[0].script.as_ref().unwrap().id, "self:/app.js");
    }

    #[test]
    fn each_limit_hit_is_a_high_finding_with_a_stable_id() {
        let t = Truncation {
            limit: "max_requests".into(),
            what: "requests".into(),
            max: 5_000,
            kept: 5_000,
            seen: 12_345,
            note: None,
        };
        let b = Behaviour { truncations: vec![t.clone()], ..Default::default() };
        let f = findings("checkout", &b, &Baseline::default());
        assert_eq!(f.len(), 1);
        assert_eq!((f[0].kind, f[0].severity), (FindingKind::CaptureTruncated, Severity::High));
        assert_eq!(f[0].title, "Capture truncated: 5,000 of 12,345 requests kept (limit max_requests)");
        assert_eq!(f[0].truncation.as_ref(), Some(&t));
        let other = Truncation { seen: 99_999, ..t };
        assert_eq!(truncated("checkout", &other).id, f[0].id, "the count is not part of the id");
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(1_000_000), "1,000,000");
    }

    #[test]
    fn an_approved_card_destination_holds_only_for_that_script_unchanged_at_that_url() {
        // The shop's own app.js posting the card to its own server.
        let mut snap = snapshot();
        snap.card_leaks = vec![leak("shop.example", "fetch", Some(0), false)];
        snap.card_leaks[0].destination.url = "https://shop.example/api/orders?n=400000******1234".into();
        snap.card_leaks[0].destination.own_origin = true;
        let b = resolve(&snap);
        let sender = b.card_leaks[0].script.clone().unwrap();
        let card = |b: &Behaviour, baseline: &Baseline| -> Vec<Finding> {
            findings("checkout", b, baseline).into_iter().filter(|f| f.kind == FindingKind::CardExfiltration).collect()
        };
        let mut baseline = Baseline::default();
        let first = card(&b, &baseline);
        assert_eq!(first.len(), 1);
        assert!(first[0].hints[0].contains("to https://shop.example/api/orders while"), "{:?}", first[0].hints);
        assert!(approve_card_destination(&mut baseline, &first[0], &Approval::default()));
        assert!(approve_card_destination(&mut baseline, &first[0], &Approval::default()), "twice is once");
        assert_eq!(baseline.card_destinations.len(), 1);
        assert_eq!(baseline.card_destinations[0].url, "https://shop.example/api/orders");
        assert_eq!(card(&b, &baseline).len(), 1, "the sender is not approved yet");
        baseline.scripts.push(ApprovedScript {
            id: sender.id.clone(),
            sha256: sender.sha256.clone(),
            ..Default::default()
        });
        assert!(card(&b, &baseline).is_empty(), "approved script, approved destination");

        let mut other_path = b.clone();
        other_path.card_leaks[0].destination.url = "https://shop.example/media/cards.php".into();
        assert_eq!(card(&other_path, &baseline).len(), 1, "another path");
        let mut altered = b.clone();
        altered.card_leaks[0].script.as_mut().unwrap().sha256 = "f".repeat(64);
        assert_eq!(card(&altered, &baseline).len(), 1, "the script changed");
        let mut unnamed = b.clone();
        unnamed.card_leaks[0].script = None;
        assert_eq!(card(&unnamed, &baseline).len(), 1, "no named sender");
        // Another origin can never be approved in the baseline, nor an unnamed sender.
        let mut foreign = first[0].clone();
        foreign.destination.as_mut().unwrap().own_origin = false;
        assert!(!approve_card_destination(&mut Baseline::default(), &foreign, &Approval::default()));
        let mut nobody = first[0].clone();
        nobody.script = None;
        assert!(!approve_card_destination(&mut Baseline::default(), &nobody, &Approval::default()));
    }
}
