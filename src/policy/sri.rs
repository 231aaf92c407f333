//! Subresource-integrity attributes for the approved external scripts of the top-level
//! document, for a template build to put on its `<script>` tags.
//!
//! The hash is the baseline's `sri`: SHA-384 of the approved script's source exactly as
//! Chromium received it (not the normalised text used to compare inline code). That is the
//! served body for a UTF-8 (or ASCII) file without a byte-order mark, which is what browsers
//! hash; a file with non-ASCII text is flagged, since a server sending another encoding would
//! make the served bytes differ. A script that changes by design — one a trusted-vendor
//! `[[page.policy]]` follows, one with several approved versions or an audit trail, one the last
//! scan served differently — gets a warning instead of an attribute that would break the page.

use super::{in_main_frame, origin_of};
use crate::config::Policy;
use crate::model::{Baseline, Inventory, ScriptKind};
use serde::Serialize;

/// One approved external script and its `integrity` value (JSON contract of `skimwatch
/// policy sri --format json`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SriEntry {
    /// The approved script's identity.
    pub script: String,
    pub url: String,
    /// `sha384-<base64>`; `None` when the script changes by design (see `warning`).
    pub integrity: Option<String>,
    /// `anonymous` for a script from another origin: SRI on a cross-origin script needs a CORS
    /// request (`crossorigin="anonymous"`) and the server's `Access-Control-Allow-Origin`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub crossorigin: Option<String>,
    /// The attributes to add, ready to paste: `integrity="…" crossorigin="anonymous"`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attributes: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub warning: Option<String>,
}

/// The entries of `baseline`, in baseline order; `policies` are the page's trust policies,
/// `scan` the inventory of its last stored scan.
pub fn sri_entries(baseline: &Baseline, policies: &[Policy], scan: Option<&Inventory>) -> Vec<SriEntry> {
    let page_origin = origin_of(&baseline.url);
    let mut out = Vec::new();
    for s in &baseline.scripts {
        let Some(url) = s.url.as_deref() else { continue };
        if !matches!(s.kind, ScriptKind::External | ScriptKind::Module) || !in_main_frame(&s.id) {
            continue;
        }
        let versions = baseline.scripts.iter().filter(|o| o.id == s.id).count();
        let latest = baseline.scripts.iter().rfind(|o| o.id == s.id).is_some_and(|o| std::ptr::eq(o, s));
        if !latest {
            continue;
        }
        let policy = policies.iter().find(|p| p.matches(url));
        let audited = baseline.audit.iter().any(|a| a.script == s.id);
        let served = scan.and_then(|i| i.scripts.iter().find(|x| x.id == s.id));
        let warning = if let Some(p) = policy {
            Some(format!(
                "changes by design: trusted by the policy {:?} ({}); pinning a hash would break the page at the vendor's next release",
                p.pattern, p.reason
            ))
        } else if audited || versions > 1 {
            Some("changes by design: the baseline has followed several versions of it; pinning a hash would break the page at its next change".to_string())
        } else if served.is_some_and(|x| x.sha256 != s.sha256) {
            Some(
                "the last scan served another version than the approved one: approve or investigate it first"
                    .to_string(),
            )
        } else {
            None
        };
        let cross = origin_of(url).is_some_and(|o| Some(&o) != page_origin.as_ref()) && !s.id.starts_with("self:");
        let crossorigin = cross.then(|| "anonymous".to_string());
        let mut warning = warning;
        let non_ascii = served.is_some_and(|x| !x.source.is_ascii());
        if warning.is_none() && non_ascii {
            warning = Some(
                "has non-ASCII text: the hash assumes the file is served as UTF-8 without a byte-order mark; check it against the served file"
                    .to_string(),
            );
        }
        let integrity = (policy.is_none() && !audited && versions == 1).then(|| s.sri.clone());
        let attributes = integrity.as_ref().map(|i| match &crossorigin {
            Some(c) => format!("integrity=\"{i}\" crossorigin=\"{c}\""),
            None => format!("integrity=\"{i}\""),
        });
        out.push(SriEntry { script: s.id.clone(), url: url.to_string(), integrity, crossorigin, attributes, warning });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Trust;
    use crate::model::{Approval, ApprovedScript, AuditEntry};

    fn script(id: &str, url: &str, body: &str) -> ApprovedScript {
        ApprovedScript {
            id: id.into(),
            kind: ScriptKind::External,
            url: Some(url.into()),
            frame_url: "https://shop.example/checkout".into(),
            sha256: crate::inventory::sha256_hex(body),
            sri: crate::inventory::sri_sha384(body),
            bytes: body.len() as u64,
            approval: Approval::default(),
            normalized_sha256: None,
            masked: None,
        }
    }

    #[test]
    fn stable_scripts_get_attributes_and_vendors_that_change_a_warning() {
        let b = Baseline {
            page: "checkout".into(),
            url: "https://shop.example/checkout".into(),
            scripts: vec![
                script("self:/js/app.js", "https://shop.example/js/app.js", "alert('Hello, world.');"),
                script("https://cdn.example/lib.js", "https://cdn.example/lib.js", "lib"),
                script("https://js.vendor.example/v3", "https://js.vendor.example/v3", "v3"),
                script("https://tags.example/t.js", "https://tags.example/t.js", "t1"),
                script("https://pay.example/f|https://pay.example/f.js", "https://pay.example/f.js", "f"),
            ],
            audit: vec![AuditEntry { script: "https://tags.example/t.js".into(), ..AuditEntry::default() }],
            ..Baseline::default()
        };
        let policies =
            [Policy { pattern: "https://js.vendor.example/*".into(), trust: Trust::Url, reason: "PSP".into() }];
        let e = sri_entries(&b, &policies, None);
        assert_eq!(e.len(), 4, "the frame's script is not the page's to pin: {e:?}");
        assert_eq!(
            e[0].attributes.as_deref(),
            Some("integrity=\"sha384-H8BRh8j48O9oYatfu5AZzq6A9RINhZO5H16dQZngK7T62em8MUt1FLm52t+eX6xO\"")
        );
        assert!(e[1].attributes.as_deref().unwrap().ends_with("crossorigin=\"anonymous\""));
        assert!(e[2].integrity.is_none() && e[2].warning.as_deref().unwrap().contains("PSP"));
        assert!(e[3].integrity.is_none() && e[3].warning.as_deref().unwrap().contains("several versions"));
    }
}
