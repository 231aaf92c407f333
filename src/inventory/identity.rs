//! Identity: the one place that decides what a script, a frame or a host is called.
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

use super::sha256_hex;
use crate::model::{RawScript, ScriptKind, Snapshot};
use url::{Origin, Url};

/// Number of skeleton characters hashed into an anchor.
const ANCHOR_SKELETON_CHARS: usize = 64;

/// How the page's own host (`host[:port]` of its final URL) is written in inventories,
/// baselines and `new_host` findings.
pub const SELF_HOST: &str = "self";

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

pub(crate) fn page_origin(snapshot: &Snapshot) -> Origin {
    let page = if snapshot.final_url.is_empty() { &snapshot.url } else { &snapshot.final_url };
    origin_of(page)
}

pub(crate) fn origin_of(url: &str) -> Origin {
    match Url::parse(url) {
        Ok(u) => u.origin(),
        // An opaque origin never equals another origin, so every URL is written absolute.
        Err(_) => Url::parse("data:,").expect("static URL").origin(),
    }
}

pub(crate) fn identity_with_origin(raw: &RawScript, origin: &Origin, ignore_query: &[String]) -> String {
    let frame = frame_key(&raw.frame_url, raw.main_frame, origin);
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
    url.len() > scheme.len() && url.as_bytes()[scheme.len()] == b':' && url[..scheme.len()].eq_ignore_ascii_case(scheme)
}

/// Identity of a cookie: `name@domain/path`, with the domain as the browser keeps it (a
/// leading dot for a domain cookie, so a host-only and a domain cookie of one name are two)
/// in lower case. Name and path are case-sensitive, as browsers treat them.
pub fn cookie_id(name: &str, domain: &str, path: &str) -> String {
    let path = if path.is_empty() { "/" } else { path };
    format!("{name}@{}{path}", domain.to_ascii_lowercase())
}

/// Key of a frame, the one convention for scripts, field access and typed fields: `main` for
/// the top-level document, else the frame's document URL written like a script URL (`self:`
/// plus path on the page origin, absolute otherwise) without query and fragment, `|` written
/// `%7C`. An `about:srcdoc` or `about:blank` frame is `about:srcdoc` / `about:blank`.
pub fn frame_key(frame_url: &str, is_main: bool, origin: &Origin) -> String {
    if is_main {
        "main".to_string()
    } else {
        canonical_url(frame_url, origin, false).replace('|', "%7C")
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
pub(crate) fn skeleton(code: &str) -> String {
    collapse_data(&literal_skeleton(code))
}

/// Replaces innermost `{…}` / `[…]` whose content is only data by `D`, until none is left.
///
/// One pass over a stack of open brackets, so linear even on `[[[[…]]]]` (the page is hostile):
/// a pair collapses when, once its own inner pairs collapsed, its content has no bracket or
/// parenthesis left and every comma-separated item is data. That is exactly what repeating the
/// replacement until nothing changes gives (the order of replacements does not matter, and a
/// pair that stays never becomes innermost again), which the tests check against.
fn collapse_data(skel: &str) -> String {
    let item = data_item();
    let mut out = String::with_capacity(skel.len());
    // Byte offsets in `out` of the brackets and parentheses still in it.
    let mut marks: Vec<usize> = Vec::new();
    for c in skel.chars() {
        let open = match c {
            '}' => '{',
            ']' => '[',
            '{' | '[' | '(' | ')' => {
                marks.push(out.len());
                out.push(c);
                continue;
            }
            _ => {
                out.push(c);
                continue;
            }
        };
        if let Some(&at) = marks.last() {
            if out[at..].starts_with(open) {
                let inner = &out[at + 1..];
                if inner.is_empty() || inner.trim_end_matches(',').split(',').all(|i| item.is_match(i)) {
                    out.truncate(at);
                    marks.pop();
                    out.push('D');
                    continue;
                }
            }
        }
        marks.push(out.len());
        out.push(c);
    }
    out
}

/// One item of JSON-like data in a skeleton: `key:value` or `value`, the value a literal or `D`.
fn data_item() -> &'static regex::Regex {
    use std::sync::OnceLock;
    static ITEM: OnceLock<regex::Regex> = OnceLock::new();
    ITEM.get_or_init(|| {
        regex::Regex::new(r"^(?:(?:S|0|[A-Za-z_$][\w$]*):)?-?(?:S|0|D|true|false|null)$").expect("static regex")
    })
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
            && (c.is_ascii_digit() || (c == '.' && chars.get(i + 1).is_some_and(|n| n.is_ascii_digit())))
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

    #[test]
    fn cookie_identities() {
        assert_eq!(cookie_id("sid", "Shop.Example", "/"), "sid@shop.example/");
        assert_eq!(cookie_id("_ga", ".example.com", ""), "_ga@.example.com/");
        assert_ne!(cookie_id("a", ".x.example", "/"), cookie_id("a", "x.example", "/"));
    }

    /// The replacement repeated until nothing changes: the definition [`collapse_data`] keeps.
    fn collapse_by_repeat(skel: &str) -> String {
        static BRACKETS: std::sync::OnceLock<regex::Regex> = std::sync::OnceLock::new();
        let brackets =
            BRACKETS.get_or_init(|| regex::Regex::new(r"\{[^{}\[\]()]*\}|\[[^{}\[\]()]*\]").expect("static regex"));
        let mut out = skel.to_string();
        loop {
            let next = brackets.replace_all(&out, |c: &regex::Captures| {
                let m = &c[0];
                let inner = &m[1..m.len() - 1];
                let pure = inner.is_empty() || inner.trim_end_matches(',').split(',').all(|i| data_item().is_match(i));
                if pure {
                    "D".to_string()
                } else {
                    m.to_string()
                }
            });
            if next == out {
                return out;
            }
            out = next.into_owned();
        }
    }

    #[test]
    fn one_pass_collapse_equals_repeated_replacement() {
        for s in [
            "{S:0,k:[0,S,{a:D}],n:null}",
            "[[[]]]",
            "{(}",
            "[{]}",
            "{a:f()}",
            "[0,[S,(x)],0]",
            "{}{}[[0],[x]]",
            "[,,]",
            "{a:-0,b:true}",
        ] {
            assert_eq!(collapse_data(s), collapse_by_repeat(s), "{s}");
        }
        // Pseudo-random strings over the characters that matter.
        let alphabet: Vec<char> = "{}[](),:S0Dax-_$".chars().collect();
        let mut seed: u64 = 0x9E37_79B9_7F4A_7C15;
        for _ in 0..3000 {
            let mut s = String::new();
            for _ in 0..(seed % 24) {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                s.push(alphabet[(seed % alphabet.len() as u64) as usize]);
            }
            assert_eq!(collapse_data(&s), collapse_by_repeat(&s), "{s}");
        }
    }

    #[test]
    fn hostile_skeletons_are_linear() {
        let started = std::time::Instant::now();
        let deep = format!("x={}0{}", "[".repeat(100_000), "]".repeat(100_000));
        assert_eq!(skeleton(&deep), "x=D");
        let unbalanced = "[{(".repeat(100_000);
        assert_eq!(skeleton(&unbalanced).len(), unbalanced.len());
        let equals = "=".repeat(2 << 20);
        assert_eq!(anchor(&equals).len(), 10);
        assert!(started.elapsed() < crate::text::TEST_TIME_LIMIT, "{:?}", started.elapsed());
    }
}
