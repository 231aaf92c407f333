//! A Content-Security-Policy derived from the approved baseline: exactly the scripts, hosts and
//! form targets the page was approved with, so that anything else (a planted skimmer, an
//! injected inline block) is blocked — or, in the Report-Only variant, reported.
//!
//! CSP cannot allow every approved script precisely. Where it cannot, the policy says so in a
//! [`Note`] instead of silently widening itself: eval'd code needs `'unsafe-eval'` (CSP has no
//! hash for it), event-handler attributes need `'unsafe-hashes'`, inline code whose data changes
//! per load (cart, tokens) has no stable hash and needs a nonce from the server, `data:`
//! scripts are left blocked. The current policy of the page is compared directive by directive
//! and every directive looser than the baseline needs is listed.

use super::{in_main_frame, origin_of};
use crate::inventory::identity::SELF_HOST;
use crate::model::{Baseline, Inventory, ScriptKind};
use base64::Engine;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};

/// The reporting group the policy's `report-to` names (and `Reporting-Endpoints` defines).
pub const REPORT_GROUP: &str = "skimwatch";

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CspOptions {
    /// Where violation reports go (`report-uri`, and the `report-to` endpoint); none when `None`.
    pub report_uri: Option<String>,
    /// List the exact URLs of approved external scripts (path, no query) instead of their origins.
    pub exact_urls: bool,
    /// The `-Report-Only` header: report violations, block nothing.
    pub report_only: bool,
    /// Leave out `report-to` (and `Reporting-Endpoints`): Chromium ignores `report-uri` when
    /// `report-to` is present and the Reporting API sends reports in batches, up to a minute
    /// late; `report-uri` alone is sent at once (and is what Firefox uses).
    pub no_report_to: bool,
}

/// One directive: its name and sources, in the order written.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Directive {
    pub name: String,
    pub sources: Vec<String>,
}

/// Why an approved script is not (precisely) covered, and what to do about it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Note {
    pub directive: String,
    /// The approved script's identity.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub script: Option<String>,
    pub message: String,
}

/// A directive of the page's current policy that allows more than the baseline needs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Looser {
    pub directive: String,
    /// The current sources that apply (the directive's own, or `default-src`'s); `None` when
    /// nothing restricts it.
    pub current: Option<String>,
    /// What it allows beyond the baseline, one line each.
    pub allows: Vec<String>,
}

/// The generated policy of one page (JSON contract of `skimwatch policy csp --format json`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CspPolicy {
    pub page: String,
    /// `Content-Security-Policy` or `Content-Security-Policy-Report-Only`.
    pub header: String,
    /// The header's value.
    pub value: String,
    pub directives: Vec<Directive>,
    /// `Reporting-Endpoints` header value that defines the `report-to` group; `None` without a
    /// report URI.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reporting_endpoints: Option<String>,
    pub notes: Vec<Note>,
    /// The policy the page sends now, from the last stored scan (else the baseline's approved
    /// header); `None` when it sends none.
    pub current: Option<String>,
    pub looser: Vec<Looser>,
}

/// `'sha256-<base64>'` from a lower-case hex SHA-256, as CSP writes a hash source.
pub fn hash_source(sha256_hex: &str) -> Option<String> {
    let bytes = hex::decode(sha256_hex).ok().filter(|b| b.len() == 32)?;
    Some(format!("'sha256-{}'", base64::engine::general_purpose::STANDARD.encode(bytes)))
}

/// The policy for `baseline`, with `scan` (the inventory of the last stored scan) for the
/// page's current policy and to recognise inline code that changes between loads.
pub fn generate_csp(baseline: &Baseline, scan: Option<&Inventory>, options: &CspOptions) -> CspPolicy {
    let page_url = scan.map(|i| if i.final_url.is_empty() { i.url.as_str() } else { i.final_url.as_str() });
    let page_origin = origin_of(page_url.unwrap_or(&baseline.url));
    let mut notes = Vec::new();
    let note = |notes: &mut Vec<Note>, d: &str, s: Option<&str>, m: String| {
        notes.push(Note { directive: d.to_string(), script: s.map(str::to_string), message: m })
    };

    // Approved versions per identity: inline code with more than one approved version, or one
    // the last scan served differently, changes per load and cannot be hashed.
    let mut approved: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for s in &baseline.scripts {
        approved.entry(s.id.as_str()).or_default().insert(s.sha256.as_str());
    }
    let served_otherwise = |id: &str| {
        scan.is_some_and(|inv| {
            inv.scripts.iter().any(|s| s.id == id && !approved.get(id).is_some_and(|v| v.contains(s.sha256.as_str())))
        })
    };

    let mut script_src: Vec<String> = Vec::new();
    let push = |v: &mut Vec<String>, s: String| {
        if !v.contains(&s) {
            v.push(s)
        }
    };
    let mut hashes = Vec::new();
    let mut handler_hashes = Vec::new();
    let mut needs_eval = false;
    let mut frames: BTreeSet<String> = BTreeSet::new();
    for s in &baseline.scripts {
        if !in_main_frame(&s.id) {
            if let Some(o) = origin_of(&s.frame_url) {
                frames.insert(o);
            }
            continue;
        }
        match s.kind {
            ScriptKind::External | ScriptKind::Module | ScriptKind::Worker if s.url.is_some() => {
                let url = s.url.as_deref().unwrap_or_default();
                let origin = origin_of(url);
                if s.id.starts_with("self:") || (origin.is_some() && origin == page_origin) {
                    push(&mut script_src, "'self'".to_string());
                } else if options.exact_urls {
                    match url::Url::parse(url) {
                        Ok(mut u) => {
                            u.set_query(None);
                            u.set_fragment(None);
                            push(&mut script_src, u.to_string());
                        }
                        Err(_) => note(&mut notes, "script-src", Some(&s.id), format!("URL {url:?} does not parse")),
                    }
                } else if let Some(o) = origin {
                    push(&mut script_src, o);
                }
            }
            ScriptKind::Inline | ScriptKind::Module => {
                let volatile = approved.get(s.id.as_str()).is_some_and(|v| v.len() > 1) || served_otherwise(&s.id);
                if let Some(h) = hash_source(&s.sha256) {
                    push(&mut hashes, h);
                }
                if volatile {
                    note(
                        &mut notes,
                        "script-src",
                        Some(&s.id),
                        "inline code whose data changes per load (its approved hash will block the next version): \
                         have the server add a per-response nonce (`'nonce-…'` in script-src and nonce=\"…\" on the tag)"
                            .to_string(),
                    );
                }
            }
            ScriptKind::Handler => {
                if let Some(h) = hash_source(&s.sha256) {
                    push(&mut handler_hashes, h);
                }
            }
            ScriptKind::Eval => needs_eval = true,
            ScriptKind::Data | ScriptKind::External | ScriptKind::Worker => note(
                &mut notes,
                "script-src",
                Some(&s.id),
                "a data: or blob: script cannot be allowed without allowing any such script: left blocked; serve it as a file"
                    .to_string(),
            ),
        }
    }
    // 'self' first, as people write it.
    if let Some(i) = script_src.iter().position(|s| s == "'self'") {
        let own = script_src.remove(i);
        script_src.insert(0, own);
    }
    script_src.extend(hashes);
    if !handler_hashes.is_empty() {
        script_src.push("'unsafe-hashes'".to_string());
        script_src.extend(handler_hashes);
        note(
            &mut notes,
            "script-src",
            None,
            "event-handler attributes (onclick=, onerror=) are allowed only through 'unsafe-hashes' with their hashes; \
             without it CSP blocks them. Moving them to addEventListener in a file lets you drop 'unsafe-hashes'"
                .to_string(),
        );
    }
    if needs_eval {
        script_src.push("'unsafe-eval'".to_string());
        note(
            &mut notes,
            "script-src",
            None,
            "approved code runs strings as code (eval, new Function, string timers); CSP cannot allow one eval \
             and not another, so the policy has 'unsafe-eval'. Ask the vendor for a build without eval to drop it"
                .to_string(),
        );
    }
    if script_src.is_empty() {
        script_src.push("'none'".to_string());
    }

    let hosts: Vec<String> =
        baseline.hosts.iter().filter(|h| h.host != SELF_HOST && !h.host.is_empty()).map(|h| h.host.clone()).collect();
    let with_self = |extra: &[String]| {
        let mut v = vec!["'self'".to_string()];
        v.extend(extra.iter().cloned());
        v
    };
    let mut img = with_self(&hosts);
    img.push("data:".to_string());
    let mut form: Vec<String> = vec!["'self'".to_string()];
    for c in &baseline.card_destinations {
        if in_main_frame(&c.script) {
            if let Some(o) = origin_of(&c.url).filter(|o| Some(o) != page_origin.as_ref()) {
                if !form.contains(&o) {
                    form.push(o);
                }
            }
        }
    }
    let frame_src: Vec<String> =
        if frames.is_empty() { vec!["'none'".to_string()] } else { frames.into_iter().collect() };

    let d = |name: &str, sources: Vec<String>| Directive { name: name.to_string(), sources };
    let mut directives = vec![
        d("script-src", script_src),
        d("connect-src", with_self(&hosts)),
        d("img-src", img),
        d("frame-src", frame_src),
        d("form-action", form),
        d("object-src", vec!["'none'".to_string()]),
        d("base-uri", vec!["'self'".to_string()]),
    ];
    let report_to = options.report_uri.as_ref().filter(|_| !options.no_report_to);
    let reporting_endpoints = report_to.map(|u| format!("{REPORT_GROUP}=\"{u}\""));
    if let Some(u) = &options.report_uri {
        directives.push(d("report-uri", vec![u.clone()]));
    }
    if report_to.is_some() {
        directives.push(d("report-to", vec![REPORT_GROUP.to_string()]));
    }
    let value = directives.iter().map(|d| format!("{} {}", d.name, d.sources.join(" "))).collect::<Vec<_>>().join("; ");

    let current = scan
        .and_then(|i| i.headers.get("content-security-policy").cloned())
        .or_else(|| baseline.headers.iter().find(|h| h.name == "content-security-policy").and_then(|h| h.value.clone()))
        .filter(|v| !v.trim().is_empty());
    let looser = compare_with_current(current.as_deref(), &directives);
    let header =
        if options.report_only { "Content-Security-Policy-Report-Only" } else { "Content-Security-Policy" }.to_string();
    CspPolicy { page: baseline.page.clone(), header, value, directives, reporting_endpoints, notes, current, looser }
}

/// Parses a policy into directive → sources (names lower case; the first of a repeated
/// directive wins, as in browsers). Several policies joined by `,` (or by `\n`, as CDP joins
/// repeated headers) are read as the first.
pub fn parse_policy(value: &str) -> BTreeMap<String, Vec<String>> {
    let mut out = BTreeMap::new();
    for part in value.split([',', '\n']).next().unwrap_or_default().split(';') {
        let mut words = part.split_ascii_whitespace();
        if let Some(name) = words.next() {
            out.entry(name.to_ascii_lowercase()).or_insert_with(|| words.map(str::to_string).collect());
        }
    }
    out
}

/// Fetch directives fall back to `default-src`; `form-action` and `base-uri` do not.
fn falls_back(name: &str) -> bool {
    matches!(name, "script-src" | "connect-src" | "img-src" | "frame-src" | "object-src")
}

/// Every generated directive whose current counterpart allows more than the generated one.
fn compare_with_current(current: Option<&str>, generated: &[Directive]) -> Vec<Looser> {
    let parsed = current.map(parse_policy).unwrap_or_default();
    let mut out = Vec::new();
    for g in generated {
        if matches!(g.name.as_str(), "report-uri" | "report-to") {
            continue;
        }
        let applied = parsed.get(&g.name).map(|v| (g.name.clone(), v)).or_else(|| {
            falls_back(&g.name).then(|| parsed.get("default-src").map(|v| ("default-src".to_string(), v)))?
        });
        let Some((from, sources)) = applied else {
            out.push(Looser {
                directive: g.name.clone(),
                current: None,
                allows: vec!["not restricted at all (no such directive and no default-src)".to_string()],
            });
            continue;
        };
        let has_strict =
            sources.iter().any(|s| s.starts_with("'sha") || s.starts_with("'nonce-") || s == "'strict-dynamic'");
        let mut allows = Vec::new();
        for s in sources {
            let lower = s.to_ascii_lowercase();
            if g.sources.iter().any(|x| x.eq_ignore_ascii_case(s)) {
                continue;
            }
            let why = match lower.as_str() {
                "*" => "any host (*)".to_string(),
                "'unsafe-inline'" if g.name == "script-src" && has_strict => continue,
                "'unsafe-inline'" if g.name == "script-src" => {
                    "any inline script and handler ('unsafe-inline'): an injected inline skimmer runs".to_string()
                }
                "'unsafe-eval'" if g.name == "script-src" => "eval of any string ('unsafe-eval')".to_string(),
                "'unsafe-hashes'" => "handler hashes ('unsafe-hashes')".to_string(),
                "'none'" | "'report-sample'" => continue,
                "'self'" => "the page's own origin ('self')".to_string(),
                "http:" | "https:" | "data:" | "blob:" | "ws:" | "wss:" => format!("any URL with scheme {s}"),
                _ if g.name != "script-src" && !lower.starts_with('\'') => {
                    // A host the baseline has with or without a scheme is the same source.
                    let bare = lower.split("://").nth(1).unwrap_or(&lower).trim_end_matches('/');
                    if g.sources.iter().any(|x| x.to_ascii_lowercase().split("://").last() == Some(bare)) {
                        continue;
                    }
                    format!("{s}, which the baseline does not need")
                }
                _ if lower.starts_with("'sha") || lower.starts_with("'nonce-") => continue,
                _ => format!("{s}, which the baseline does not need"),
            };
            allows.push(why);
        }
        if !allows.is_empty() {
            out.push(Looser {
                directive: g.name.clone(),
                current: Some(format!("{from} {}", sources.join(" "))),
                allows,
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Approval, ApprovedHeader, ApprovedHost, ApprovedScript, Script};

    fn script(id: &str, kind: ScriptKind, url: Option<&str>, sha: &str) -> ApprovedScript {
        ApprovedScript {
            id: id.into(),
            kind,
            url: url.map(str::to_string),
            frame_url: "https://shop.example/checkout".into(),
            sha256: sha.into(),
            sri: String::new(),
            bytes: 1,
            approval: Approval::default(),
            normalized_sha256: None,
            masked: None,
        }
    }

    fn sha(text: &str) -> String {
        crate::inventory::sha256_hex(text)
    }

    fn baseline() -> Baseline {
        let mut frame = script(
            "https://pay.example/fields|https://pay.example/f.js",
            ScriptKind::External,
            Some("https://pay.example/f.js"),
            &sha("f"),
        );
        frame.frame_url = "https://pay.example/fields?session=1".into();
        Baseline {
            page: "checkout".into(),
            url: "https://shop.example/checkout".into(),
            scripts: vec![
                script(
                    "https://cdn.example/lib.js",
                    ScriptKind::External,
                    Some("https://cdn.example/lib.js?v=2"),
                    &sha("b"),
                ),
                script("self:/js/app.js", ScriptKind::External, Some("https://shop.example/js/app.js"), &sha("a")),
                script("main|inline|#config", ScriptKind::Inline, None, &sha("alert('Hello, world.');")),
                frame,
            ],
            hosts: vec![
                ApprovedHost { host: "self".into(), approval: Approval::default() },
                ApprovedHost { host: "cdn.example".into(), approval: Approval::default() },
                ApprovedHost { host: "pay.example".into(), approval: Approval::default() },
            ],
            headers: vec![ApprovedHeader {
                name: "content-security-policy".into(),
                value: Some("default-src 'self'; script-src 'self' 'unsafe-inline' https:; img-src *".into()),
                approval: Approval::default(),
            }],
            ..Baseline::default()
        }
    }

    #[test]
    fn approved_scripts_hosts_and_frames_become_the_policy() {
        let p = generate_csp(
            &baseline(),
            None,
            &CspOptions { report_uri: Some("https://mon.example/csp/checkout".into()), ..CspOptions::default() },
        );
        assert_eq!(p.header, "Content-Security-Policy");
        // The hash CSP's own specification gives for this script.
        assert!(
            p.value.starts_with(
                "script-src 'self' https://cdn.example 'sha256-qznLcsROx4GACP2dm0UCKCzCG+HiZ1guq6ZZDob/Tng='; \
             connect-src 'self' cdn.example pay.example; img-src 'self' cdn.example pay.example data:; \
             frame-src https://pay.example; form-action 'self'; object-src 'none'; base-uri 'self'; \
             report-uri https://mon.example/csp/checkout; report-to skimwatch"
            ),
            "{}",
            p.value
        );
        assert_eq!(p.reporting_endpoints.as_deref(), Some("skimwatch=\"https://mon.example/csp/checkout\""));
        assert!(p.notes.is_empty(), "{:?}", p.notes);
        let exact = generate_csp(
            &baseline(),
            None,
            &CspOptions { exact_urls: true, report_only: true, ..CspOptions::default() },
        );
        assert!(exact.value.starts_with("script-src 'self' https://cdn.example/lib.js 'sha256-"), "{}", exact.value);
        assert_eq!(exact.header, "Content-Security-Policy-Report-Only");
        assert!(!exact.value.contains("report-uri"));
        let legacy = CspOptions {
            report_uri: Some("https://m.example/csp/c".into()),
            no_report_to: true,
            ..CspOptions::default()
        };
        let legacy = generate_csp(&baseline(), None, &legacy);
        assert!(legacy.value.ends_with("; report-uri https://m.example/csp/c") && legacy.reporting_endpoints.is_none());
    }

    #[test]
    fn eval_handlers_and_volatile_inline_code_are_explained() {
        let mut b = baseline();
        b.scripts.push(script("main|eval|self:/js/app.js|0123456789", ScriptKind::Eval, None, &sha("x")));
        b.scripts.push(script("main|handler|img#logo@onerror", ScriptKind::Handler, None, &sha("h()")));
        b.scripts.push(script("main|inline|#cart", ScriptKind::Inline, None, &sha("cart=1")));
        b.scripts.push(script("main|inline|#cart", ScriptKind::Inline, None, &sha("cart=2")));
        let p = generate_csp(&b, None, &CspOptions::default());
        let src = &p.directives[0].sources;
        assert!(src.contains(&"'unsafe-eval'".to_string()) && src.contains(&"'unsafe-hashes'".to_string()), "{src:?}");
        assert!(src.contains(&hash_source(&sha("h()")).unwrap()));
        let volatile: Vec<_> = p.notes.iter().filter(|n| n.script.as_deref() == Some("main|inline|#cart")).collect();
        assert_eq!(volatile.len(), 2, "{:?}", p.notes);
        assert!(volatile[0].message.contains("nonce"));
        assert!(p.notes.iter().any(|n| n.message.contains("'unsafe-eval'")));
        assert!(p.notes.iter().any(|n| n.message.contains("'unsafe-hashes'")));

        // One approved version, but the last scan served another: volatile as well.
        let inv = Inventory {
            cookies: Default::default(),
            url: b.url.clone(),
            final_url: String::new(),
            status: 200,
            headers: BTreeMap::new(),
            scripts: vec![Script {
                id: "main|inline|#config".into(),
                sha256: sha("other"),
                kind: ScriptKind::Inline,
                url: None,
                frame_url: b.url.clone(),
                sri: String::new(),
                bytes: 1,
                initiator: None,
                source: String::new(),
            }],
            hosts: vec![],
            payment_fields: vec![],
        };
        let p = generate_csp(&baseline(), Some(&inv), &CspOptions::default());
        assert!(p.notes.iter().any(|n| n.script.as_deref() == Some("main|inline|#config")), "{:?}", p.notes);
        // The scan's headers say the page sends no CSP now (the baseline's approved one is older).
        assert_eq!(
            p.current.as_deref(),
            Some("default-src 'self'; script-src 'self' 'unsafe-inline' https:; img-src *")
        );
    }

    #[test]
    fn looser_directives_of_the_current_policy_are_named() {
        let p = generate_csp(&baseline(), None, &CspOptions::default());
        let by: BTreeMap<_, _> = p.looser.iter().map(|l| (l.directive.as_str(), l)).collect();
        let script = by["script-src"];
        assert!(script.allows.iter().any(|a| a.contains("'unsafe-inline'")), "{:?}", script.allows);
        assert!(script.allows.iter().any(|a| a.contains("scheme https:")), "{:?}", script.allows);
        assert!(by["img-src"].allows.iter().any(|a| a.contains("any host")));
        // connect-src falls back to default-src 'self', which is stricter: not looser.
        assert!(!by.contains_key("connect-src"));
        // form-action and base-uri do not fall back: unrestricted.
        assert_eq!(by["form-action"].current, None);
        assert_eq!(by["base-uri"].current, None);
        // A policy equal to the generated one is not looser anywhere.
        let again = compare_with_current(Some(&p.value), &p.directives);
        assert!(again.is_empty(), "{again:?}");
        // Hashes neutralise 'unsafe-inline' in browsers that know them.
        let strict = compare_with_current(Some("script-src 'self' 'unsafe-inline' 'sha256-x'"), &p.directives[..1]);
        assert!(strict.iter().all(|l| l.allows.iter().all(|a| !a.contains("unsafe-inline"))), "{strict:?}");
    }

    #[test]
    fn policies_parse_like_browsers_read_them() {
        let p = parse_policy("Script-Src 'self' a.example;; script-src *; img-src, default-src *");
        assert_eq!(p["script-src"], vec!["'self'", "a.example"]);
        assert_eq!(p["img-src"], Vec::<String>::new());
        assert!(!p.contains_key("default-src"));
        // Two headers, as CDP joins them: the first is read, the second's words are not sources.
        let p = parse_policy("script-src 'self'\nscript-src *");
        assert_eq!(p["script-src"], vec!["'self'"]);
    }
}
