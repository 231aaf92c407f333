//! Names the scripts and frames behind the scan's behaviour by their inventory identity.
//!
//! Capture records, while it acts as a shopper, every place the canary card number was sent
//! ([`CardLeak`]), every script that listened to or read a payment field ([`FieldAccess`])
//! and every field it typed into, with the index of the sending script in the snapshot and
//! the frame's URL. Here each of those gets the name the inventory gave that script and the
//! one frame key of [`super::identity::frame_key`]; `compare` then judges them.

use super::identity::frame_key;
use crate::model::{
    sender_name, Behaviour, CardLeak, FieldAccess, Interaction, Inventory, PersonalDataFlow, ScriptRef, Snapshot,
};
use std::collections::BTreeSet;
use url::Origin;

/// Resolves the snapshot's leaks and field accesses. `script_of_raw[i]` is the index in
/// `inv.scripts` of the snapshot's script `i`.
pub(crate) fn resolve(snapshot: &Snapshot, inv: &Inventory, script_of_raw: &[usize], origin: &Origin) -> Behaviour {
    let script_of = |index: Option<usize>| -> Option<ScriptRef> {
        let s = &inv.scripts[*script_of_raw.get(index?)?];
        Some(ScriptRef { id: s.id.clone(), kind: s.kind, url: s.url.clone(), sha256: s.sha256.clone() })
    };
    let card_leaks =
        snapshot.card_leaks.iter().map(|l| CardLeak { script: script_of(l.script_index), ..l.clone() }).collect();
    let mut seen = BTreeSet::new();
    let field_access = snapshot
        .field_access
        .iter()
        .map(|a| {
            let mut named = FieldAccess { script: script_of(a.script_index), ..a.clone() };
            named.access.frame = frame_key(&a.frame_url, a.main_frame, origin);
            named
        })
        .filter(|a| seen.insert((sender_name(a.script.as_ref(), a.script_url.as_deref()), a.access.clone())))
        .collect();
    let name_of = |index: Option<usize>, url: Option<&str>| -> Option<String> {
        let script = script_of(index);
        (script.is_some() || url.is_some_and(|u| !u.is_empty())).then(|| sender_name(script.as_ref(), url))
    };
    let personal_data = snapshot
        .personal_data
        .iter()
        .map(|f| PersonalDataFlow { script: name_of(f.script_index, f.script_url.as_deref()), ..f.clone() })
        .collect();
    Behaviour {
        personal_data,
        card_leaks,
        field_access,
        unmatched_payment_fields: snapshot.unmatched_payment_fields.clone(),
        truncations: snapshot.truncations.clone(),
    }
}

/// The snapshot's cookies with their identities, and the scripts that wrote them named by
/// the inventory, sorted by identity.
pub(crate) fn cookies(snapshot: &Snapshot, inv: &Inventory, script_of_raw: &[usize]) -> Vec<crate::model::Cookie> {
    let script_of = |index: Option<usize>| -> Option<ScriptRef> {
        let s = &inv.scripts[*script_of_raw.get(index?)?];
        Some(ScriptRef { id: s.id.clone(), kind: s.kind, url: s.url.clone(), sha256: s.sha256.clone() })
    };
    let name_of = |index: Option<usize>, url: Option<&str>| -> Option<String> {
        let script = script_of(index);
        (script.is_some() || url.is_some_and(|u| !u.is_empty())).then(|| sender_name(script.as_ref(), url))
    };
    let cookies = snapshot
        .cookies
        .iter()
        .map(|c| {
            let mut named = c.clone();
            named.id = super::identity::cookie_id(&c.name, &c.domain, &c.path);
            if c.source == crate::model::CookieSource::Script {
                named.set_by = name_of(c.script_index, c.set_by.as_deref()).or_else(|| c.set_by.clone());
            }
            named
        })
        .collect::<Vec<_>>();
    let mut cookies = cookies;
    cookies.sort_by(|a, b| a.id.cmp(&b.id));
    cookies.dedup_by(|a, b| a.id == b.id);
    cookies
}

/// The interaction with its typed and filled fields named `frame key|selector`.
pub(crate) fn typed_fields(interaction: &Interaction, origin: &Origin) -> Interaction {
    let mut named = interaction.clone();
    let name = |fields: &[crate::model::TypedField]| -> Vec<String> {
        fields.iter().map(|t| format!("{}|{}", frame_key(&t.frame_url, t.main_frame, origin), t.selector)).collect()
    };
    named.fields_typed = name(&interaction.typed);
    named.fields_filled = name(&interaction.filled);
    named
}

#[cfg(test)]
mod tests {
    use crate::inventory::inventory_page;
    use crate::model::{
        FieldAccess, FieldAccessRef, FieldAction, Interaction, RawScript, ScriptKind, Snapshot, TypedField,
    };

    const PAGE: &str = "https://shop.example/checkout";

    fn snapshot(frame_url: &str) -> Snapshot {
        let script = RawScript {
            kind: ScriptKind::Inline,
            url: None,
            frame_url: frame_url.into(),
            main_frame: false,
            source: "listen()".into(),
            initiator: None,
            context: None,
            position: None,
        };
        Snapshot {
            url: PAGE.into(),
            final_url: PAGE.into(),
            status: 200,
            scripts: vec![script],
            field_access: vec![FieldAccess {
                access: FieldAccessRef {
                    field: "#cc".into(),
                    action: FieldAction::Listen,
                    event: Some("input".into()),
                    ..Default::default()
                },
                frame_url: frame_url.into(),
                script_index: Some(0),
                ..Default::default()
            }],
            interaction: Some(Interaction {
                typed: vec![TypedField { frame_url: frame_url.into(), main_frame: false, selector: "#cc".into() }],
                filled: vec![TypedField { frame_url: frame_url.into(), main_frame: false, selector: "#cc".into() }],
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    /// One frame-key convention for scripts, field access and typed fields (issue 9: they
    /// used to be computed in three places and disagreed).
    #[test]
    fn scripts_field_access_and_typed_fields_share_one_frame_key() {
        for (frame_url, key) in [
            ("https://shop.example/embed/card?session=1#x", "self:/embed/card"),
            ("https://pay.example:8443/hosted?s=1", "https://pay.example:8443/hosted"),
            ("about:srcdoc", "about:srcdoc"),
            ("https://pay.example/a|b", "https://pay.example/a%7Cb"),
        ] {
            let page = inventory_page(&snapshot(frame_url), &[]);
            let script = &page.inventory.scripts[0];
            assert_eq!(script.id.split('|').next(), Some(key), "script in {frame_url}");
            let access = &page.behaviour.field_access[0];
            assert_eq!(access.access.frame, key, "field access in {frame_url}");
            assert_eq!(access.script.as_ref().map(|s| s.id.as_str()), Some(script.id.as_str()));
            let typed = &page.interaction.as_ref().unwrap().fields_typed;
            assert_eq!(typed, &[format!("{key}|#cc")], "typed field in {frame_url}");
            let filled = &page.interaction.as_ref().unwrap().fields_filled;
            assert_eq!(filled, &[format!("{key}|#cc")], "filled field in {frame_url}");
        }
    }

    #[test]
    fn main_frame_is_main() {
        let mut snap = snapshot(PAGE);
        snap.scripts[0].main_frame = true;
        snap.field_access[0].main_frame = true;
        snap.interaction.as_mut().unwrap().typed[0].main_frame = true;
        let page = inventory_page(&snap, &[]);
        assert!(page.inventory.scripts[0].id.starts_with("main|inline|"));
        assert_eq!(page.behaviour.field_access[0].access.frame, "main");
        assert_eq!(page.interaction.unwrap().fields_typed, ["main|#cc"]);
    }
}
