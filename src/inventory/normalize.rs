//! Volatile inline content: a *normalized hash* of a script with its data literals masked, so
//! that an inline script whose only differences between loads are data (CSP nonces, CSRF
//! tokens, session ids, timestamps, the shopper's cart) is recognised as the approved script.
//!
//! The technique is syntax-level (oxc): the script is parsed, literals in **data positions**
//! are replaced by a placeholder, and the program is printed again; the SHA-256 of that text is
//! the normalized hash. Data positions are the values of variable initialisers, assignment
//! right-hand sides, call and `new` arguments, `return` values, and — recursively — the values
//! of object literals, the elements of array literals and the text of template literals in
//! those positions. There, string, number and bigint literals and template text are masked,
//! and a JSON-like literal (nothing but literals, plain keys, objects and arrays — no code)
//! is masked as a whole, keys and length included (a cart has as many items as the shopper
//! chose), down to the sorted set of URLs, hosts and markup strings it contains.
//!
//! Masking never hides code:
//! - identifiers, operators, calls, statements and every other part of the syntax tree are
//!   printed as they are, so a changed statement or a new call changes the hash;
//! - strings that name a URL, host, domain or IP address are kept (only the *values* of their
//!   query parameters are masked, since cache-busters and tokens live there), so a changed
//!   exfiltration address in an inline config changes the hash;
//! - strings holding markup (`<`), single lower-case words (`"submit"`, `"script"`, `"value"`:
//!   event, tag and property names say what code does) and literals outside data positions
//!   (conditions, comparisons, computed property names `a["x"]`, string concatenations,
//!   object keys) are kept;
//! - a script that can turn strings into code (`eval`, `Function`, string timers,
//!   `document.write`, `innerHTML`/`outerHTML`/`srcdoc`, `insertAdjacentHTML`, dynamic
//!   `import()`, calls through a computed name) gets no normalized hash at all: it is compared
//!   byte for byte, because any of its strings may be code.
//!
//! Comments and whitespace are not code and do not count. Code that does not parse has no
//! normalized hash either, and neither has code outside the analysis budget (too large, too
//! deeply nested, too slow: see [`crate::inventory::budget`]); [`normalize_checked`] says which.

use crate::inventory::budget::{self, Refusal};
use crate::inventory::sha256_hex;
use crate::model::ScriptKind;
use oxc_allocator::Allocator;
use oxc_ast::ast::{
    ArrayExpressionElement, AssignmentExpression, AssignmentTarget, CallExpression, Expression, NewExpression,
    ObjectPropertyKind, PropertyKind, ReturnStatement, StringLiteral, TemplateLiteral, UnaryOperator,
    VariableDeclarator,
};
use oxc_ast_visit::{walk_mut, VisitMut};
use oxc_codegen::{Codegen, CodegenOptions, CommentOptions};
use oxc_parser::Parser;
use oxc_span::{GetSpan, SourceType};
use oxc_str::Str;
use regex::Regex;
use std::collections::HashMap;
use std::sync::OnceLock;

/// Replaces a masked string or template text.
const PLACEHOLDER: &str = "*";

/// The normalized form of one script.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Normalized {
    /// SHA-256 (hex) of the script printed with its data literals masked.
    pub sha256: String,
    /// How many literals were masked, by kind.
    pub strings: usize,
    pub numbers: usize,
    pub templates: usize,
    /// URL-like strings kept, of which some had query values masked.
    pub urls_kept: usize,
}

impl Normalized {
    /// One line for the baseline file: what is masked and why.
    pub fn summary(&self) -> String {
        format!(
            "{} data literal(s) masked ({} strings, {} numbers, {} template texts) in values, arguments and initialisers: they change per load (tokens, ids, timestamps, cart); code, {} URL/host string(s), markup, single words and everything outside data positions are compared exactly",
            self.strings + self.numbers + self.templates,
            self.strings,
            self.numbers,
            self.templates,
            self.urls_kept
        )
    }
}

/// The normalized form of `source`, or `None` when it does not parse, can turn strings into
/// code (see the module documentation) or is outside the analysis budget.
pub fn normalize(source: &str) -> Option<Normalized> {
    // The same inline text is normalized by compare and again when the scan is stored (and
    // by every scan of a page whose inline code did not change): parse it once.
    static MEMO: OnceLock<std::sync::Mutex<HashMap<String, Option<Normalized>>>> = OnceLock::new();
    let key = sha256_hex(source);
    let memo = MEMO.get_or_init(Default::default);
    if let Some(hit) = crate::model::lock_or_recover(memo).get(&key) {
        return hit.clone();
    }
    let out = normalize_checked(source).ok().flatten();
    let mut memo = crate::model::lock_or_recover(memo);
    if memo.len() >= MEMO_ENTRIES {
        memo.clear();
    }
    memo.insert(key, out.clone());
    out
}

/// Normalized forms remembered (by SHA-256 of the text); a few hundred bytes each.
const MEMO_ENTRIES: usize = 4096;

/// [`normalize`], saying why code outside the analysis budget was not normalized.
pub fn normalize_checked(source: &str) -> Result<Option<Normalized>, Refusal> {
    budget::run(source, normalize_unbounded)
}

/// Only on code [`budget::admit`] accepted: oxc recurses over the syntax tree.
fn normalize_unbounded(source: &str) -> Option<Normalized> {
    for source_type in [SourceType::cjs(), SourceType::mjs()] {
        let allocator = Allocator::default();
        let parsed = Parser::new(&allocator, source, source_type).parse();
        if parsed.panicked || !parsed.diagnostics.is_empty() {
            continue;
        }
        let mut program = parsed.program;
        let mut masker = Masker::new(&allocator);
        masker.visit_program(&mut program);
        if masker.sink {
            return None;
        }
        let code = printer().build(&program).code;
        let mut out = masker.counts;
        out.sha256 = sha256_hex(&code);
        return Some(out);
    }
    None
}

/// The normalized form of a script if it is code written into the page (inline script,
/// inline module, event handler): the only code that carries per-load data. External files,
/// `eval`'d and `data:` code are always compared byte for byte.
pub fn normalize_inline(kind: ScriptKind, url: Option<&str>, source: &str) -> Option<Normalized> {
    let inline = url.map_or(true, str::is_empty)
        && matches!(kind, ScriptKind::Inline | ScriptKind::Handler | ScriptKind::Module);
    if inline {
        normalize(source)
    } else {
        None
    }
}

/// The masked text itself (for tests and for explaining a verdict); `None` also for code outside
/// the analysis budget.
pub fn masked_text(source: &str) -> Option<String> {
    budget::run(source, masked_unbounded).ok().flatten()
}

fn masked_unbounded(source: &str) -> Option<String> {
    let allocator = Allocator::default();
    let parsed = Parser::new(&allocator, source, SourceType::cjs()).parse();
    if parsed.panicked || !parsed.diagnostics.is_empty() {
        return None;
    }
    let mut program = parsed.program;
    let mut masker = Masker::new(&allocator);
    masker.visit_program(&mut program);
    (!masker.sink).then(|| printer().build(&program).code)
}

/// A printer without comments: they are not code.
fn printer() -> Codegen<'static> {
    Codegen::new().with_options(CodegenOptions { comments: CommentOptions::disabled(), ..CodegenOptions::default() })
}

impl Normalized {
    fn default_counts() -> Normalized {
        Normalized { sha256: String::new(), strings: 0, numbers: 0, templates: 0, urls_kept: 0 }
    }
}

struct Masker<'a> {
    allocator: &'a Allocator,
    /// The next expression visited is in a data position.
    data: bool,
    /// A string-to-code sink was seen.
    sink: bool,
    counts: Normalized,
    /// [`is_pure_data`] of the object and array literals asked about, by span: nested literals
    /// in data positions are asked about once per enclosing level, which would be quadratic.
    pure: HashMap<(u32, u32), bool>,
}

impl<'a> Masker<'a> {
    fn new(allocator: &'a Allocator) -> Masker<'a> {
        Masker { allocator, data: false, sink: false, counts: Normalized::default_counts(), pure: HashMap::new() }
    }
}

impl<'a> Masker<'a> {
    fn visit_data(&mut self, e: &mut Expression<'a>) {
        self.data = true;
        self.visit_expression(e);
        self.data = false;
    }

    fn mask_string(&mut self, s: &mut StringLiteral<'a>) {
        let value = s.value.as_str();
        if names_url_or_host(value) {
            self.counts.urls_kept += 1;
            let masked = mask_query_values(value);
            if masked != value {
                s.value = Str::from(self.allocator.alloc_str(&masked));
                s.raw = None;
            }
        } else if !keep_string(value) {
            s.value = Str::from(PLACEHOLDER);
            s.raw = None;
            self.counts.strings += 1;
        }
    }

    fn mask_template(&mut self, t: &mut TemplateLiteral<'a>) {
        for quasi in t.quasis.iter_mut() {
            let text = quasi.value.cooked.map(|c| c.as_str()).unwrap_or(quasi.value.raw.as_str());
            if text.is_empty() {
                continue;
            }
            if names_url_or_host(text) {
                self.counts.urls_kept += 1;
                let masked = mask_query_values(text);
                if masked != text {
                    let m = Str::from(self.allocator.alloc_str(&escape_template(&masked)));
                    quasi.value.raw = m;
                    quasi.value.cooked = Some(m);
                }
            } else if !keep_string(text) {
                quasi.value.raw = Str::from(PLACEHOLDER);
                quasi.value.cooked = Some(Str::from(PLACEHOLDER));
                self.counts.templates += 1;
            }
        }
        for expr in t.expressions.iter_mut() {
            self.visit_expression(expr);
        }
    }

    /// A JSON-like literal (only literals, nested objects and arrays: no code at all) is data as
    /// a whole: its keys, values and length change with the shopper (cart items, dataLayer
    /// payloads). It becomes one placeholder string naming the URLs, hosts and markup it
    /// contains (sorted, without duplicates), so a new or changed address still shows.
    fn mask_pure_data(&mut self, e: &mut Expression<'a>) {
        let mut kept = std::collections::BTreeSet::new();
        collect_kept(e, &mut kept);
        self.counts.urls_kept += kept.len();
        self.counts.strings += 1;
        let text = if kept.is_empty() {
            "{data}".to_string()
        } else {
            format!("{{data: {}}}", kept.into_iter().collect::<Vec<_>>().join(" | "))
        };
        let mut lit = oxc_allocator::Box::new_in(
            <StringLiteral<'a> as oxc_allocator::Dummy<'a>>::dummy(self.allocator),
            &self.allocator,
        );
        lit.value = Str::from(self.allocator.alloc_str(&text));
        lit.raw = None;
        *e = Expression::StringLiteral(lit);
    }

    fn is_pure(&mut self, e: &Expression<'a>) -> bool {
        let span = e.span();
        if let Some(&known) = self.pure.get(&(span.start, span.end)) {
            return known;
        }
        let pure = is_pure_data(e, &mut self.pure);
        self.pure.insert((span.start, span.end), pure);
        pure
    }

    /// Notes expressions that turn strings into code.
    fn check_sink(&mut self, e: &Expression<'a>) {
        let sink = match e {
            Expression::CallExpression(c) => {
                callee_is_sink(&c.callee, c.arguments.first().and_then(|a| a.as_expression()))
            }
            Expression::NewExpression(n) => matches!(&n.callee, Expression::Identifier(i) if i.name == "Function"),
            Expression::ImportExpression(_) => true,
            Expression::AssignmentExpression(a) => match &a.left {
                AssignmentTarget::StaticMemberExpression(m) => {
                    matches!(m.property.name.as_str(), "innerHTML" | "outerHTML" | "srcdoc")
                }
                AssignmentTarget::ComputedMemberExpression(_) => true,
                _ => false,
            },
            _ => false,
        };
        self.sink |= sink;
    }
}

fn callee_is_sink(callee: &Expression<'_>, first_arg: Option<&Expression<'_>>) -> bool {
    let string_timer = || {
        !matches!(
            first_arg,
            Some(
                Expression::FunctionExpression(_) | Expression::ArrowFunctionExpression(_) | Expression::Identifier(_)
            ) | None
        )
    };
    match callee {
        Expression::Identifier(i) => match i.name.as_str() {
            "eval" | "Function" | "execScript" => true,
            "setTimeout" | "setInterval" | "setImmediate" => string_timer(),
            _ => false,
        },
        Expression::StaticMemberExpression(m) => match m.property.name.as_str() {
            "eval"
            | "Function"
            | "write"
            | "writeln"
            | "insertAdjacentHTML"
            | "createContextualFragment"
            | "constructor"
            | "setHTMLUnsafe"
            | "parseFromString" => true,
            "setTimeout" | "setInterval" | "setImmediate" => string_timer(),
            _ => false,
        },
        Expression::ComputedMemberExpression(_) => true,
        Expression::ParenthesizedExpression(p) => callee_is_sink(&p.expression, first_arg),
        // `(0, eval)(…)`
        Expression::SequenceExpression(s) => s.expressions.last().is_some_and(|e| callee_is_sink(e, first_arg)),
        _ => false,
    }
}

impl<'a> VisitMut<'a> for Masker<'a> {
    fn visit_expression(&mut self, e: &mut Expression<'a>) {
        let data = std::mem::take(&mut self.data);
        if data {
            match e {
                Expression::StringLiteral(s) => return self.mask_string(s),
                Expression::NumericLiteral(n) => {
                    n.value = 0.0;
                    n.raw = None;
                    self.counts.numbers += 1;
                    return;
                }
                Expression::BigIntLiteral(b) => {
                    b.value = Str::from("0");
                    b.raw = None;
                    self.counts.numbers += 1;
                    return;
                }
                Expression::TemplateLiteral(t) => return self.mask_template(t),
                Expression::ObjectExpression(_) | Expression::ArrayExpression(_) if self.is_pure(e) => {
                    return self.mask_pure_data(e);
                }
                Expression::ObjectExpression(o) => {
                    for prop in o.properties.iter_mut() {
                        match prop {
                            ObjectPropertyKind::ObjectProperty(p) => {
                                self.visit_property_key(&mut p.key);
                                self.visit_data(&mut p.value);
                            }
                            ObjectPropertyKind::SpreadProperty(s) => self.visit_spread_element(s),
                        }
                    }
                    return;
                }
                Expression::ArrayExpression(a) => {
                    for el in a.elements.iter_mut() {
                        match el {
                            ArrayExpressionElement::SpreadElement(_) | ArrayExpressionElement::Elision(_) => {
                                self.visit_array_expression_element(el)
                            }
                            _ => self.visit_data(el.to_expression_mut()),
                        }
                    }
                    return;
                }
                Expression::UnaryExpression(u)
                    if matches!(u.operator, UnaryOperator::UnaryNegation | UnaryOperator::UnaryPlus) =>
                {
                    return self.visit_data(&mut u.argument);
                }
                Expression::ParenthesizedExpression(p) => return self.visit_data(&mut p.expression),
                _ => {}
            }
        }
        self.check_sink(e);
        walk_mut::walk_expression(self, e);
    }

    fn visit_variable_declarator(&mut self, it: &mut VariableDeclarator<'a>) {
        self.visit_binding_pattern(&mut it.id);
        if let Some(init) = &mut it.init {
            self.visit_data(init);
        }
    }

    fn visit_assignment_expression(&mut self, it: &mut AssignmentExpression<'a>) {
        self.visit_assignment_target(&mut it.left);
        self.visit_data(&mut it.right);
    }

    fn visit_call_expression(&mut self, it: &mut CallExpression<'a>) {
        self.visit_expression(&mut it.callee);
        for arg in it.arguments.iter_mut() {
            if arg.is_expression() {
                self.visit_data(arg.to_expression_mut());
            } else {
                self.visit_argument(arg);
            }
        }
    }

    fn visit_new_expression(&mut self, it: &mut NewExpression<'a>) {
        self.visit_expression(&mut it.callee);
        for arg in it.arguments.iter_mut() {
            if arg.is_expression() {
                self.visit_data(arg.to_expression_mut());
            } else {
                self.visit_argument(arg);
            }
        }
    }

    fn visit_return_statement(&mut self, it: &mut ReturnStatement<'a>) {
        if let Some(arg) = &mut it.argument {
            self.visit_data(arg);
        }
    }
}

/// True for an expression made only of literals, object literals with plain keys and array
/// literals: data that cannot run anything. Results for nested literals are remembered in
/// `memo`, by span.
fn is_pure_data(e: &Expression<'_>, memo: &mut HashMap<(u32, u32), bool>) -> bool {
    let nested = |x: &Expression<'_>, memo: &mut HashMap<(u32, u32), bool>| {
        if !matches!(x, Expression::ArrayExpression(_) | Expression::ObjectExpression(_)) {
            return is_pure_data(x, memo);
        }
        let span = x.span();
        if let Some(&known) = memo.get(&(span.start, span.end)) {
            return known;
        }
        let pure = is_pure_data(x, memo);
        memo.insert((span.start, span.end), pure);
        pure
    };
    match e {
        Expression::StringLiteral(_)
        | Expression::NumericLiteral(_)
        | Expression::BigIntLiteral(_)
        | Expression::BooleanLiteral(_)
        | Expression::NullLiteral(_) => true,
        Expression::TemplateLiteral(t) => t.expressions.is_empty(),
        Expression::UnaryExpression(u) => {
            matches!(u.operator, UnaryOperator::UnaryNegation | UnaryOperator::UnaryPlus) && nested(&u.argument, memo)
        }
        Expression::ParenthesizedExpression(p) => nested(&p.expression, memo),
        Expression::ArrayExpression(a) => a.elements.iter().all(|el| match el {
            ArrayExpressionElement::Elision(_) => true,
            ArrayExpressionElement::SpreadElement(_) => false,
            _ => nested(el.to_expression(), memo),
        }),
        Expression::ObjectExpression(o) => o.properties.iter().all(|p| match p {
            ObjectPropertyKind::ObjectProperty(p) => {
                !p.computed && !p.method && !p.shorthand && p.kind == PropertyKind::Init && nested(&p.value, memo)
            }
            ObjectPropertyKind::SpreadProperty(_) => false,
        }),
        _ => false,
    }
}

/// The URL/host (query values masked) and markup strings inside a pure-data literal.
fn collect_kept(e: &Expression<'_>, kept: &mut std::collections::BTreeSet<String>) {
    let mut keep = |s: &str| {
        if names_url_or_host(s) {
            kept.insert(mask_query_values(s));
        } else if s.contains('<') {
            kept.insert(s.to_string());
        }
    };
    match e {
        Expression::StringLiteral(s) => keep(&s.value),
        Expression::TemplateLiteral(t) => t.quasis.iter().for_each(|q| keep(&q.value.raw)),
        Expression::ParenthesizedExpression(p) => collect_kept(&p.expression, kept),
        Expression::ArrayExpression(a) => {
            a.elements.iter().filter_map(|el| el.as_expression()).for_each(|x| collect_kept(x, kept))
        }
        Expression::ObjectExpression(o) => o.properties.iter().for_each(|p| {
            if let ObjectPropertyKind::ObjectProperty(p) = p {
                collect_kept(&p.value, kept);
            }
        }),
        _ => {}
    }
}

/// Strings that stay as they are even in data positions: markup and single lower-case words.
fn keep_string(s: &str) -> bool {
    if s.contains('<') {
        return true;
    }
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_lowercase())
        && s.len() <= 32
        && chars.all(|c| c.is_ascii_lowercase() || c == '_' || c == '-')
}

fn url_re() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| {
        Regex::new(r"(?i)^\s*(?:(?:https?|wss?|ftp|data|blob|javascript|mailto|file):|//|/[a-z0-9_~%.-])")
            .expect("static regex")
    })
}

fn host_re() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| {
        Regex::new(
            r"(?i)\b((?:[a-z0-9](?:[a-z0-9-]*[a-z0-9])?\.)+[a-z][a-z0-9-]*[a-z]|\d{1,3}(?:\.\d{1,3}){3}|localhost)(?::\d{1,5})?\b",
        )
        .expect("static regex")
    })
}

/// True when a string names a URL (any `scheme:`, `//host`, or an absolute path), a host, a
/// domain or an IP address.
pub fn names_url_or_host(s: &str) -> bool {
    if url_re().is_match(s) {
        return true;
    }
    !hosts_in(s).is_empty()
}

/// Host-like names (`evil.example`, `cdn.shop.example:8443`, `127.0.0.4`) in a string.
/// Names whose last label is a common file extension (`app.min.js`) are not hosts.
pub fn hosts_in(s: &str) -> Vec<String> {
    const FILE_EXTENSIONS: &[&str] = &[
        "js", "mjs", "css", "json", "html", "htm", "png", "jpg", "jpeg", "gif", "svg", "webp", "map", "php", "txt",
        "xml", "woff", "woff2", "ico",
    ];
    let mut out = Vec::new();
    for cap in host_re().captures_iter(s) {
        let host = cap.get(1).map_or("", |m| m.as_str());
        let last = host.rsplit('.').next().unwrap_or("").to_ascii_lowercase();
        if FILE_EXTENSIONS.contains(&last.as_str()) {
            continue;
        }
        out.push(host.to_ascii_lowercase());
    }
    out
}

/// `https://h/p?a=1&b=x#f` → `https://h/p?a=*&b=*#f`: query values are where cache-busters
/// and tokens live. A value that itself names a URL or host is kept.
fn mask_query_values(url: &str) -> String {
    let Some(q) = url.find('?') else { return url.to_string() };
    let (head, rest) = url.split_at(q + 1);
    let (query, fragment) = match rest.find('#') {
        Some(h) => rest.split_at(h),
        None => (rest, ""),
    };
    let masked: Vec<String> = query
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some((k, v)) if !v.is_empty() && !names_url_or_host(&percent_decode(v)) => format!("{k}={PLACEHOLDER}"),
            _ => pair.to_string(),
        })
        .collect();
    format!("{head}{}{fragment}", masked.join("&"))
}

fn percent_decode(v: &str) -> String {
    url::form_urlencoded::parse(format!("x={v}").as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_else(|| v.to_string())
}

/// Template text is printed raw: escape what would end or interpolate it.
fn escape_template(s: &str) -> String {
    s.replace('\\', "\\\\").replace('`', "\\`").replace("${", "\\${")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hash(src: &str) -> String {
        normalize(src).unwrap_or_else(|| panic!("no normalized form for {src}")).sha256
    }

    const CONFIG: &str = r#"
        window.checkout = {
          csrf: "c2VjcmV0LXRva2VuLTE3MDA=",
          session: "sess_8f2a9c41b7",
          ts: 1718000000123,
          endpoint: "https://api.shop.example/v1/orders",
          cart: { items: [{ sku: "HP-JKT-0142-M", name: "Waxed canvas jacket", qty: 1, price: 149.0 }], total: 149.0 },
          mode: "live"
        };
        Checkout.init(window.checkout, "a9f3-22b1");
        var greeting = `Hello ${user.name}, order ${Date.now()} ready`;
    "#;

    #[test]
    fn data_literals_are_masked() {
        let other = CONFIG
            .replace("c2VjcmV0LXRva2VuLTE3MDA=", "ZGlmZmVyZW50LXRva2VuLTk5OTk=")
            .replace("sess_8f2a9c41b7", "sess_00aa11bb22")
            .replace("1718000000123", "1718000999999")
            .replace("HP-JKT-0142-M", "HP-BNE-0031")
            .replace("Waxed canvas jacket", "Merino beanie")
            .replace("qty: 1", "qty: 3")
            .replace("149.0", "35.5")
            .replace("a9f3-22b1", "77aa-0000")
            .replace("Hello ", "Hi ");
        assert_eq!(masked_text(CONFIG), masked_text(&other));
        assert_eq!(hash(CONFIG), hash(&other));
        let n = normalize(CONFIG).unwrap();
        // The config object is JSON-like (masked whole), the call argument and template are not.
        assert!(n.strings >= 2 && n.templates >= 1 && n.urls_kept >= 1, "{n:?}");
        assert!(n.summary().contains("masked"));
        // Whitespace and comments do not count.
        let reformatted = format!("/* build 42 */{}", CONFIG.replace("\n        ", "\n"));
        assert_eq!(hash(CONFIG), hash(&reformatted));
    }

    #[test]
    fn changed_url_or_host_in_a_string_is_not_masked() {
        let evil = CONFIG.replace("https://api.shop.example/v1/orders", "https://api.shop-example.co/v1/orders");
        assert_ne!(hash(CONFIG), hash(&evil));
        // A bare host, an IP with port, a relative path.
        assert_ne!(hash("var c = {h: 'cdn.example'};"), hash("var c = {h: 'cdn.evil.example'};"));
        assert_ne!(hash("var c = {h: '127.0.0.1:8080'};"), hash("var c = {h: '127.0.0.4:8080'};"));
        assert_ne!(hash("post('/api/orders', x)"), hash("post('/api/collect', x)"));
        // ...but the query values of a URL are data.
        assert_eq!(
            hash("load('https://cdn.example/a.js?v=123&_=1700')"),
            hash("load('https://cdn.example/a.js?v=999&_=1800')")
        );
        assert_ne!(
            hash("load('https://cdn.example/a.js?v=1')"),
            hash("load('https://cdn.example/a.js?v=1&to=evil.example')")
        );
    }

    #[test]
    fn structure_is_never_masked() {
        let appended = format!("{CONFIG}\nnew Image().src = x;");
        assert_ne!(hash(CONFIG), hash(&appended));
        let new_call = CONFIG.replace(
            "Checkout.init(window.checkout, \"a9f3-22b1\");",
            "Checkout.init(window.checkout, \"a9f3-22b1\"); send(window.checkout);",
        );
        assert_ne!(hash(CONFIG), hash(&new_call));
        let renamed = CONFIG.replace("Checkout.init", "Checkout.steal");
        assert_ne!(hash(CONFIG), hash(&renamed));
        // Keys of an object that holds code are structure.
        let with_code = "var c = {csrf: 'x1', init: function () { go(c); }};";
        assert_ne!(hash(with_code), hash(&with_code.replace("csrf:", "csrf2:")));
    }

    #[test]
    fn literals_outside_data_positions_and_words_are_kept() {
        assert_ne!(hash("if (x > 5) go();"), hash("if (x > 6) go();"));
        assert_ne!(hash("var v = a['value'];"), hash("var v = a['innerText'];"));
        assert_ne!(hash("el.addEventListener('submit', f);"), hash("el.addEventListener('keydown', f);"));
        assert_ne!(hash("var s = 'a' + b;"), hash("var s = 'c' + b;"));
        assert_ne!(hash("var h = '<b>hi</b>';"), hash("var h = '<img src=x onerror=steal()>';"));
        assert_eq!(hash("var a = 'Token X1';"), hash("var a = 'Token Y2';"));
        assert_eq!(hash("var t = -1;"), hash("var t = -7;"));
    }

    #[test]
    fn scripts_that_turn_strings_into_code_are_not_normalized() {
        for src in [
            "var c = 'YWxlcnQoMSk='; eval(atob(c));",
            "new Function('return 1')();",
            "setTimeout('go()', 10);",
            "document.write('<script src=x></script>');",
            "el.innerHTML = data;",
            "window[k](payload);",
            "(0, eval)('x');",
            "import('./x.js');",
        ] {
            assert!(normalize(src).is_none(), "{src}");
        }
        assert!(normalize("setTimeout(function () { go(); }, 10);").is_some());
        assert!(normalize("var = ;").is_none());
    }

    #[test]
    fn json_like_data_is_masked_whole_but_urls_in_it_are_not() {
        let one = r#"window.cart = {"id":"c1","items":[{"sku":"A-1","qty":1}],"total":10.5,"img":"https://cdn.shop.example/a.png?v=1"}; render(window.cart);"#;
        let three = r#"window.cart = {"id":"c9","items":[{"sku":"B-2","qty":2},{"sku":"C-3","qty":1},{"sku":"D","qty":5}],"total":99,"img":"https://cdn.shop.example/a.png?v=2","coupon":null}; render(window.cart);"#;
        assert_eq!(hash(one), hash(three));
        assert_ne!(hash(one), hash(&one.replace("cdn.shop.example", "cdn.evil.example")));
        // An object with code in it is not pure data: its functions are compared.
        assert_ne!(
            hash("var o = {a: 1, f: function () { go(); }};"),
            hash("var o = {a: 1, f: function () { steal(); }};")
        );
        assert_eq!(
            hash("var o = {a: 1, f: function () { go(); }};"),
            hash("var o = {a: 2, f: function () { go(); }};")
        );
    }

    #[test]
    fn host_detection() {
        assert_eq!(
            hosts_in("send to https://evil.example:8443/c and cdn.vendor.io"),
            vec!["evil.example", "cdn.vendor.io"]
        );
        assert!(hosts_in("app.min.js").is_empty());
        assert_eq!(hosts_in("127.0.0.4:39001"), vec!["127.0.0.4"]);
        assert!(names_url_or_host("data:text/javascript,1"));
        assert!(!names_url_or_host("Note: hello there"));
        assert!(!names_url_or_host("sess_8f2a9c41b7"));
    }

    #[test]
    fn hostile_scripts_are_compared_byte_for_byte() {
        for (name, src) in crate::inventory::budget::hostile_inputs() {
            let started = std::time::Instant::now();
            assert_eq!(normalize_checked(&src), Err(Refusal::TooDeep), "{name}");
            assert_eq!(normalize(&src), None, "{name}");
            assert_eq!(masked_text(&src), None, "{name}");
            assert_eq!(normalize_inline(ScriptKind::Inline, None, &src), None, "{name}");
            assert!(started.elapsed() < crate::text::TEST_TIME_LIMIT, "{name}: {:?}", started.elapsed());
        }
        let big = format!("var x = 1;{}", " ".repeat(crate::inventory::budget::MAX_ANALYSIS_BYTES));
        assert!(matches!(normalize_checked(&big), Err(Refusal::TooLarge { .. })));
    }

    #[test]
    fn odd_scripts_do_not_crash() {
        for (name, src) in crate::inventory::budget::odd_inputs() {
            let _ = normalize(&src);
            let _ = masked_text(&src);
            eprintln!("{name}: ok");
        }
        // Escaped lone surrogates are ordinary data.
        assert!(normalize(r#"var s = "\uD800"; f("\uDC00x");"#).is_some());
        // Deep nesting just under the limit is analysed, not refused.
        let nested = format!("var x={}1{};", "[".repeat(200), "]".repeat(200));
        assert!(normalize(&nested).is_some());
        // Nested data literals in data positions are linear, not quadratic.
        let wide: String = (0..300).map(|i| format!("[{},", "1,".repeat(200) + &i.to_string())).collect::<String>();
        let src = format!("f({wide}g(){});", "]".repeat(300));
        let started = std::time::Instant::now();
        assert!(normalize(&src).is_some());
        assert!(started.elapsed() < crate::text::TEST_TIME_LIMIT, "{:?}", started.elapsed());
    }
}
