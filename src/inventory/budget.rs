//! Budgets for the static analysis of page code: the one place that says how much of a
//! script the oxc-based steps (normalized hash, hints, pretty-printed diff) may parse, and how
//! long they may take.
//!
//! The page is written by the attacker. oxc's parser, visitors and printer recurse over the
//! syntax tree, so a script of nested brackets (`[[[[…]]]]`), a 300,000-term string
//! concatenation or a chain of `else if`s would overflow the stack and abort the whole process.
//! Before anything is parsed, [`admit`] therefore checks the size and measures the nesting with
//! [`nesting`], a small iterative scanner (strings, comments, templates and regular
//! expressions skipped; brackets, operator chains and nesting keywords counted). Code over a
//! limit is not parsed at all: it is compared byte for byte, and the [`Refusal`] says why, in
//! words a reviewer can read. As a second line of defence, admitted code is parsed on its own
//! thread with [`ANALYSIS_STACK_BYTES`] of stack (the depth limit needs a few MB at most), and
//! a thread that does not answer within [`ANALYSIS_TIME`] is given up on.

use std::sync::{mpsc, Arc};
use std::time::Duration;

/// Largest script the oxc steps parse. Bundles of a few MB exist; parsing and printing
/// 1 MB takes well under a second in a release build, so this keeps one step within
/// [`ANALYSIS_TIME`] with room to spare. Larger code is compared byte for byte.
pub const MAX_ANALYSIS_BYTES: usize = 4 * 1024 * 1024;

/// Highest nesting estimate (see [`nesting`]) the oxc steps accept. Real code stays far below
/// (a deeply nested minified bundle measures well under 200; a 500-term string concatenation
/// about 500). oxc needs at most about 1.2 KB of stack per unit in a debug build (measured:
/// nested functions), so this needs under 3 MB of [`ANALYSIS_STACK_BYTES`].
pub const MAX_NESTING: usize = 2000;

/// Wall-clock budget for one oxc step (one parse plus its walk or print) on one script.
pub const ANALYSIS_TIME: Duration = Duration::from_secs(5);

/// Stack of the thread the oxc steps run on: many times what [`MAX_NESTING`] needs even in a
/// debug build (about 3.5 KB per nested function), so a misjudged estimate still does not crash.
pub const ANALYSIS_STACK_BYTES: usize = 256 * 1024 * 1024;

/// Wall-clock budget for one line or character diff (pretty-printed diff, pairing of edited
/// inline scripts): past it, `similar` returns a coarser but still correct diff.
pub const DIFF_TIME: Duration = Duration::from_millis(500);

/// Wall-clock budget for pairing the new and removed inline scripts of one page by similarity
/// (one character diff per candidate pair): past it, the remaining scripts stay unpaired and
/// are reported as new and removed.
pub const PAIRING_TIME: Duration = Duration::from_secs(3);

/// Why a script was not analysed. The text is shown to reviewers (hints, diff notes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("too large to analyse ({bytes} bytes > {MAX_ANALYSIS_BYTES}): compared byte for byte")]
    TooLarge { bytes: usize },
    #[error("too deeply nested to analyse (depth > {MAX_NESTING}): compared byte for byte")]
    TooDeep,
    #[error("nesting could not be measured (a `/` that may start a regular expression): compared byte for byte")]
    Ambiguous,
    #[error("analysis took longer than {}s: compared byte for byte", ANALYSIS_TIME.as_secs())]
    TooSlow,
    #[error("analysis failed (parser error): compared byte for byte")]
    Failed,
}

/// Whether `source` may be parsed: within [`MAX_ANALYSIS_BYTES`] and [`MAX_NESTING`].
pub fn admit(source: &str) -> Result<(), Refusal> {
    if source.len() > MAX_ANALYSIS_BYTES {
        return Err(Refusal::TooLarge { bytes: source.len() });
    }
    match nesting(source, MAX_NESTING) {
        Some(depth) if depth <= MAX_NESTING => Ok(()),
        Some(_) => Err(Refusal::TooDeep),
        None => Err(Refusal::Ambiguous),
    }
}

/// Runs `work` on `source` if [`admit`] allows it, on a thread with [`ANALYSIS_STACK_BYTES`] of
/// stack, waiting at most [`ANALYSIS_TIME`]. A thread that overruns is left to finish on its own
/// (its work is linear in at most [`MAX_ANALYSIS_BYTES`]); its result is dropped.
pub fn run<T: Send + 'static>(source: &str, work: fn(&str) -> T) -> Result<T, Refusal> {
    admit(source)?;
    let owned: Arc<str> = Arc::from(source);
    let (tx, rx) = mpsc::sync_channel(1);
    let spawned = std::thread::Builder::new()
        .name("skimwatch-analysis".to_string())
        .stack_size(ANALYSIS_STACK_BYTES)
        .spawn(move || {
            let _ = tx.send(work(&owned));
        });
    if spawned.is_err() {
        return Err(Refusal::Failed);
    }
    match rx.recv_timeout(ANALYSIS_TIME) {
        Ok(out) => Ok(out),
        Err(mpsc::RecvTimeoutError::Timeout) => Err(Refusal::TooSlow),
        // The worker panicked (an oxc bug on odd input): no result, but no crash either.
        Err(mpsc::RecvTimeoutError::Disconnected) => Err(Refusal::Failed),
    }
}

/// Words after which a `/` starts a regular expression.
const REGEX_AFTER: &[&str] =
    &["return", "typeof", "case", "do", "else", "in", "instanceof", "new", "delete", "void", "throw"];
/// Contextual words after which a `/` may be either (`yield /re/` or `yield / 2`).
const DOUBTFUL: &[&str] = &["yield", "await", "of", "let"];
/// Words that nest what follows (prefix operators, statement heads, binary word operators).
const NESTING_WORDS: &[&str] =
    &["typeof", "void", "delete", "new", "await", "yield", "in", "instanceof", "if", "while", "for", "with", "do"];

#[derive(Clone, Copy, PartialEq, Eq)]
enum Brace {
    Block,
    Expr,
    /// An arrow body: after it, a `/` is a syntax error either way.
    Unknown,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// `(…)`; `control` when it is the head of `if`/`while`/`for`/`with` (`None`: cannot tell).
    Paren {
        control: Option<bool>,
    },
    Bracket,
    Brace(Brace),
    /// `${…}` inside a template literal.
    TemplateExpr,
}

/// The previous significant token, as far as `/` and `{` care.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Prev {
    Start,
    /// An identifier, number, string, template, regex or `]`: an expression just ended.
    Operand,
    Word(&'static str),
    /// `++` / `--`; `postfix` when it follows an operand.
    Step {
        postfix: bool,
    },
    CloseParen {
        control: Option<bool>,
    },
    CloseBrace(Brace),
    Punct(u8),
    Arrow,
}

struct Level {
    kind: Kind,
    /// Operators, openers and nesting words since the last `;` / `,` at this level.
    run: usize,
    /// `else`s in the current if/else chain at this level.
    elses: usize,
    /// Unmatched `?` of conditionals at this level.
    pending_q: usize,
    /// A `function` / `class` in expression position whose body has not opened yet.
    fn_expr: bool,
}

impl Level {
    fn new(kind: Kind) -> Level {
        Level { kind, run: 0, elses: 0, pending_q: 0, fn_expr: false }
    }
    fn weight(&self) -> usize {
        1 + self.run + self.elses
    }
}

/// An upper estimate of how deeply oxc recurses on `source`: the sum over open brackets of one
/// plus the operators, nested openers and nesting words (`if`, `new`, `typeof`, …) before them in
/// the same statement, plus `else` chains. Stops as soon as it passes `limit`. `None` when a `/`
/// could start either a division or a regular expression and the choice matters (rare in real
/// code): the scan could then be led astray, so the caller must not parse.
///
/// Linear time, constant stack; strings, comments, template text and regular expressions end
/// where the JavaScript lexer ends them (line terminators included), so text hidden in them by
/// this scanner is hidden from the parser too.
pub fn nesting(source: &str, limit: usize) -> Option<usize> {
    Scanner {
        s: source.as_bytes(),
        i: 0,
        stack: vec![Level::new(Kind::Brace(Brace::Block))],
        total: 1,
        max: 1,
        prev: Prev::Start,
    }
    .scan(limit)
}

struct Scanner<'a> {
    s: &'a [u8],
    i: usize,
    stack: Vec<Level>,
    /// Sum of the weights of `stack`.
    total: usize,
    max: usize,
    prev: Prev,
}

impl Scanner<'_> {
    fn scan(mut self, limit: usize) -> Option<usize> {
        while self.i < self.s.len() && self.max <= limit {
            let c = self.s[self.i];
            match c {
                b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c => self.i += 1,
                // Non-ASCII: identifier parts or Unicode spaces; never operators or brackets.
                0x80.. => {
                    self.i += 1;
                    self.prev_ident_end();
                }
                b'/' if self.peek(1) == Some(b'/') => self.skip_line(),
                b'/' if self.peek(1) == Some(b'*') => self.skip_block_comment(),
                b'/' => match self.slash_is_regex()? {
                    true => self.skip_regex(),
                    false => self.operator(1),
                },
                b'\'' | b'"' => self.skip_string(c),
                b'`' => {
                    self.bump(1);
                    self.i += 1;
                    self.template_text();
                }
                b'0'..=b'9' => self.number(),
                b'.' if self.peek(1).is_some_and(|d| d.is_ascii_digit()) => self.number(),
                b'a'..=b'z' | b'A'..=b'Z' | b'_' | b'$' | b'\\' => self.word(),
                b'(' | b'[' | b'{' => self.open(c),
                b')' | b']' | b'}' => self.close(c),
                b';' | b',' => {
                    self.reset_run();
                    self.i += 1;
                    self.prev = Prev::Punct(c);
                }
                _ => self.punct(c),
            }
        }
        Some(self.max)
    }

    fn peek(&self, ahead: usize) -> Option<u8> {
        self.s.get(self.i + ahead).copied()
    }

    fn top(&mut self) -> &mut Level {
        self.stack.last_mut().expect("the scanner's stack always keeps its bottom level")
    }

    /// A statement ended at this level.
    fn reset_run(&mut self) {
        let run = std::mem::take(&mut self.top().run);
        self.total -= run;
    }

    /// Adds `n` to the current statement's run.
    fn bump(&mut self, n: usize) {
        self.top().run += n;
        self.total += n;
        self.max = self.max.max(self.total);
    }

    fn operator(&mut self, len: usize) {
        self.bump(1);
        self.i += len;
        self.prev = Prev::Punct(b'/');
    }

    fn punct(&mut self, c: u8) {
        let next = self.peek(1);
        match (c, next) {
            (b'=', Some(b'>')) => {
                self.bump(1);
                self.i += 2;
                self.prev = Prev::Arrow;
                return;
            }
            (b'+', Some(b'+')) | (b'-', Some(b'-')) => {
                let postfix =
                    matches!(self.prev, Prev::Operand | Prev::CloseParen { .. } | Prev::Step { postfix: true });
                self.bump(1);
                self.i += 2;
                self.prev = Prev::Step { postfix };
                return;
            }
            (b'?', Some(b'?')) => {
                self.bump(1);
                self.i += 2;
                self.prev = Prev::Punct(b'?');
                return;
            }
            (b'?', Some(b'.')) if !self.peek(2).is_some_and(|d| d.is_ascii_digit()) => {
                self.bump(1);
                self.i += 2;
                self.prev = Prev::Punct(b'.');
                return;
            }
            (b'?', _) => self.top().pending_q += 1,
            (b':', _) => {
                let top = self.top();
                top.pending_q = top.pending_q.saturating_sub(1);
            }
            _ => {}
        }
        self.bump(1);
        self.i += 1;
        self.prev = Prev::Punct(c);
    }

    fn prev_ident_end(&mut self) {
        if !matches!(self.prev, Prev::Word(_)) {
            self.prev = Prev::Operand;
        }
    }

    /// Whether a `/` here starts a regular expression; `None` when that cannot be told.
    fn slash_is_regex(&self) -> Option<bool> {
        match self.prev {
            Prev::Start | Prev::Punct(_) | Prev::Arrow => Some(true),
            Prev::Operand | Prev::Step { postfix: true } => Some(false),
            Prev::Step { postfix: false } => Some(true),
            Prev::CloseParen { control } => control,
            Prev::CloseBrace(Brace::Block) => Some(true),
            Prev::CloseBrace(Brace::Expr) => Some(false),
            Prev::CloseBrace(Brace::Unknown) => None,
            Prev::Word(w) if DOUBTFUL.contains(&w) => None,
            Prev::Word(w) => Some(REGEX_AFTER.contains(&w)),
        }
    }

    /// Whether the previous token leaves us where an expression is expected.
    fn expression_expected(&self) -> Option<bool> {
        let level_is_expr =
            !matches!(self.stack.last().map(|l| l.kind), Some(Kind::Brace(Brace::Block | Brace::Unknown)));
        match self.prev {
            Prev::Start | Prev::CloseBrace(_) | Prev::Operand | Prev::CloseParen { .. } => Some(false),
            Prev::Step { postfix } => Some(!postfix),
            Prev::Punct(b';' | b'{' | b'}') => Some(false),
            // `a ? b : {…}` and `{k: {…}}` are expressions; `label: {…}` and `case 1: {…}` blocks.
            Prev::Punct(b':') => Some(level_is_expr || self.stack.last().is_some_and(|l| l.pending_q > 0)),
            Prev::Punct(_) => Some(true),
            Prev::Arrow => None,
            Prev::Word(w) => Some(!matches!(w, "else" | "do" | "try" | "finally")),
        }
    }

    fn open(&mut self, c: u8) {
        let kind = match c {
            b'(' => Kind::Paren {
                control: match self.prev {
                    Prev::Word("if" | "while" | "for" | "with") => Some(true),
                    Prev::Word("await") => None,
                    _ => Some(false),
                },
            },
            b'[' => Kind::Bracket,
            _ => {
                let fn_expr = std::mem::take(&mut self.top().fn_expr);
                Kind::Brace(match self.expression_expected() {
                    _ if fn_expr => Brace::Expr,
                    Some(true) => Brace::Expr,
                    Some(false) => Brace::Block,
                    None => Brace::Unknown,
                })
            }
        };
        self.bump(1);
        self.push(kind);
        self.i += 1;
        self.prev = Prev::Punct(c);
    }

    fn push(&mut self, kind: Kind) {
        self.stack.push(Level::new(kind));
        self.total += 1;
        self.max = self.max.max(self.total);
    }

    fn close(&mut self, c: u8) {
        self.i += 1;
        // A stray or mismatched closer (a syntax error) pops nothing: the estimate only ever
        // errs upwards.
        let matches = match self.stack.last().map(|l| l.kind) {
            Some(Kind::Paren { .. }) => c == b')',
            Some(Kind::Bracket) => c == b']',
            Some(Kind::Brace(_) | Kind::TemplateExpr) => c == b'}',
            None => false,
        };
        if self.stack.len() == 1 || !matches {
            self.prev = Prev::Punct(c);
            return;
        }
        let level = self.stack.pop().expect("more than one level");
        self.total -= level.weight();
        match level.kind {
            Kind::TemplateExpr => self.template_text(),
            Kind::Paren { control } => self.prev = Prev::CloseParen { control },
            Kind::Brace(b) => {
                self.prev = Prev::CloseBrace(b);
                if b == Brace::Block {
                    // A block ends its statement (`if (a) {…}`); `else` chains are counted apart.
                    self.reset_run();
                }
            }
            Kind::Bracket => self.prev = Prev::Operand,
        }
    }

    fn word(&mut self) {
        let start = self.i;
        while self.i < self.s.len()
            && matches!(self.s[self.i], b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'_' | b'$' | b'\\')
        {
            self.i += 1;
        }
        let w = std::str::from_utf8(&self.s[start..self.i]).unwrap_or("");
        if w == "else" {
            self.top().elses += 1;
            self.total += 1;
            self.max = self.max.max(self.total);
        } else if !matches!(self.prev, Prev::Punct(b'.')) {
            // `else` ends nothing, anything else after a finished statement ends its chain.
            if matches!(self.prev, Prev::Punct(b';') | Prev::CloseBrace(Brace::Block)) {
                let elses = std::mem::take(&mut self.top().elses);
                self.total -= elses;
            }
        }
        if NESTING_WORDS.contains(&w) && !matches!(self.prev, Prev::Punct(b'.')) {
            self.bump(1);
        }
        if (w == "function" || w == "class") && self.expression_expected() != Some(false) {
            self.top().fn_expr = true;
        }
        let known = REGEX_AFTER
            .iter()
            .chain(DOUBTFUL)
            .chain(NESTING_WORDS)
            .chain(&["else", "try", "finally"])
            .find(|k| **k == w);
        self.prev = match known {
            Some(k) if !matches!(self.prev, Prev::Punct(b'.')) => Prev::Word(k),
            _ => Prev::Operand,
        };
    }

    fn number(&mut self) {
        while self.i < self.s.len() && matches!(self.s[self.i], b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'_' | b'.') {
            self.i += 1;
        }
        self.prev = Prev::Operand;
    }

    /// True at a line terminator: `\n`, `\r`, U+2028, U+2029.
    fn at_line_end(&self) -> bool {
        match self.s[self.i] {
            b'\n' | b'\r' => true,
            0xE2 => self.peek(1) == Some(0x80) && matches!(self.peek(2), Some(0xA8 | 0xA9)),
            _ => false,
        }
    }

    fn skip_line(&mut self) {
        while self.i < self.s.len() && !self.at_line_end() {
            self.i += 1;
        }
    }

    fn skip_block_comment(&mut self) {
        self.i += 2;
        while self.i < self.s.len() && !(self.s[self.i] == b'*' && self.peek(1) == Some(b'/')) {
            self.i += 1;
        }
        self.i = (self.i + 2).min(self.s.len());
    }

    /// Skips the character after a `\`, counting `\r\n` as one.
    fn skip_escape(&mut self) {
        self.i += 1;
        if self.s.get(self.i) == Some(&b'\r') && self.peek(1) == Some(b'\n') {
            self.i += 1;
        }
        self.i += 1;
    }

    fn skip_string(&mut self, quote: u8) {
        self.i += 1;
        while self.i < self.s.len() {
            match self.s[self.i] {
                b'\\' => self.skip_escape(),
                c if c == quote => {
                    self.i += 1;
                    break;
                }
                b'\n' | b'\r' => break,
                _ => self.i += 1,
            }
        }
        self.prev = Prev::Operand;
    }

    fn skip_regex(&mut self) {
        self.i += 1;
        let mut class = false;
        while self.i < self.s.len() && !self.at_line_end() {
            match self.s[self.i] {
                b'\\' => {
                    self.i += 2;
                    continue;
                }
                b'[' => class = true,
                b']' => class = false,
                b'/' if !class => {
                    self.i += 1;
                    break;
                }
                _ => {}
            }
            self.i += 1;
        }
        self.i = self.i.min(self.s.len());
        self.prev = Prev::Operand;
    }

    /// Template text up to the closing backtick, or up to `${` (which opens a level).
    fn template_text(&mut self) {
        while self.i < self.s.len() {
            match self.s[self.i] {
                b'\\' => self.skip_escape(),
                b'`' => {
                    self.i += 1;
                    self.prev = Prev::Operand;
                    return;
                }
                b'$' if self.peek(1) == Some(b'{') => {
                    self.i += 2;
                    self.push(Kind::TemplateExpr);
                    self.prev = Prev::Punct(b'{');
                    return;
                }
                _ => self.i += 1,
            }
        }
        self.i = self.i.min(self.s.len());
        self.prev = Prev::Operand;
    }
}

/// Scripts an attacker can put on a page to crash or stall the analysis, for the tests of
/// every step that parses page code.
#[cfg(test)]
pub(crate) fn hostile_inputs() -> Vec<(&'static str, String)> {
    let n = 100_000;
    vec![
        ("300,000-term string concatenation", format!("var x=\"a\"{};", "+\"a\"".repeat(300_000))),
        ("100,000-deep arrays", format!("var x={}1{};", "[".repeat(n), "]".repeat(n))),
        ("100,000-deep parentheses", format!("var x={}1{};", "(".repeat(n), ")".repeat(n))),
        ("100,000-deep blocks", format!("{}{}", "{".repeat(n), "}".repeat(n))),
        ("100,000-deep functions", format!("{}{}", "function f(){".repeat(n), "}".repeat(n))),
        ("100,000-deep template literals", format!("x={}1{}", "`${".repeat(n), "}`".repeat(n))),
        ("2 MB line of `=`", "=".repeat(2 << 20)),
        ("100,000 `!`", format!("x={}1;", "!".repeat(n))),
        ("100,000 nested ifs", format!("{}x();", "if(a)".repeat(n))),
        ("100,000 else ifs", format!("if(a)x();{}", "else if(a)x();".repeat(n))),
        ("100,000-long member chain", format!("a{};", ".b".repeat(n))),
        ("100,000 calls", format!("f{};", "()".repeat(n))),
        ("100,000 tagged templates", format!("f{};", "``".repeat(n))),
        ("100,000 assignments", format!("{}1;", "a=".repeat(n))),
        ("100,000 conditionals", format!("x={}1;", "a?1:".repeat(n))),
        ("100,000 arrows", format!("x={}1;", "a=>".repeat(n))),
        ("100,000 `new`", format!("x={}X;", "new ".repeat(n))),
        ("object divided by deep parentheses", format!("x={{}}/{}1{}/1;", "(".repeat(n), ")".repeat(n))),
    ]
}

/// Inputs that are ordinary enough to be analysed, but odd.
#[cfg(test)]
pub(crate) fn odd_inputs() -> Vec<(&'static str, String)> {
    vec![
        (
            "lone surrogates escaped",
            r#"var s = "\uD800"; var t = '\uDFFF\uD800'; var u = `\uD83D`; f("\uDC00x");"#.to_string(),
        ),
        ("100,000 parentheses in a regex", format!("var r=/{}a{}/;", "(".repeat(100_000), ")".repeat(100_000))),
        ("100,000 brackets in a regex class", format!("var r=/[{}]/;", "[".repeat(100_000))),
        ("unterminated everything", "var s = 'abc\n(((( /* [[[ ` ${ ".to_string()),
        ("NUL and BOM", "\u{0}\u{feff}var\u{a0}x\u{2028}=1".to_string()),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostile_inputs_are_refused_quickly() {
        for (name, src) in hostile_inputs() {
            let started = std::time::Instant::now();
            assert!(matches!(admit(&src), Err(Refusal::TooDeep)), "{name}: {:?}", admit(&src));
            assert!(started.elapsed() < crate::text::TEST_TIME_LIMIT, "{name}: {:?}", started.elapsed());
        }
    }

    fn depth(s: &str) -> usize {
        nesting(s, usize::MAX).expect("measurable")
    }

    #[test]
    fn ordinary_code_measures_low() {
        assert!(depth("var a = 1; function f(x) { return x + a } f(2);") < 10);
        assert!(depth("if (a) { b() } else if (c) { d() } else { e() }") < 10);
        // Strings, comments, templates and regexes hide their brackets.
        assert_eq!(
            depth("var s = '((((' + \"[[[[\" /* {{{{ */; // ((((\nvar r = /[(]{3}/g;"),
            depth("var s = 1 + 2; var r = 3;")
        );
        assert!(depth("x = `a${`b${c}`}` ;") <= 8);
        // Many statements in one body do not add up.
        let body: String =
            (0..5000).map(|i| format!("if(a{i}){{b()}}else{{c()}}function f{i}(){{return {i}}}x{i}=y+1;")).collect();
        assert!(depth(&format!("!function(){{{body}}}();")) < 20, "{}", depth(&body));
    }

    #[test]
    fn nesting_and_chains_measure_high() {
        assert!(depth(&"[".repeat(2000)) >= 2000);
        assert!(depth(&format!("x={}", "+a".repeat(5000))) >= 5000);
        assert!(depth(&"if(a)".repeat(3000)) >= 3000);
        assert!(depth(&format!("if(a)x();{}", "else if(a)x();".repeat(3000))) >= 3000);
        assert!(depth(&format!("x={}1", "!".repeat(3000))) >= 3000);
        assert!(depth(&format!("x={}", "`${".repeat(3000))) >= 3000);
        assert!(depth(&format!("f{}", "()".repeat(3000))) >= 3000);
        // A block followed by `+` is an expression (`{} + {}`), not the end of a statement.
        assert!(depth(&format!("x={}", "{}+".repeat(3000))) >= 3000);
        // Stops early.
        assert_eq!(nesting(&"(".repeat(100_000), 10), Some(11));
    }

    #[test]
    fn regex_or_division() {
        // After a block a `/` starts a regex; after an object or function expression it divides.
        assert_eq!(depth("if(a){}/((((((((/.test(b)"), depth("if(a){}"));
        assert!(depth("x=function(){}/((((((((1))))))))") >= 8);
        assert!(depth("x={}/((((((((1))))))))") >= 8);
        assert_eq!(nesting("x=>{}/a/", 100), None);
        assert_eq!(nesting("yield /a/", 100), None);
        // Strings and regexes end at line terminators, as in JavaScript.
        assert!(depth("x='a\n((((((((") >= 8);
        assert!(depth("x=/a\u{2028}((((((((") >= 8);
    }

    #[test]
    fn admit_explains() {
        assert_eq!(admit(&"[".repeat(MAX_NESTING + 1)), Err(Refusal::TooDeep));
        assert_eq!(
            admit(&" ".repeat(MAX_ANALYSIS_BYTES + 1)),
            Err(Refusal::TooLarge { bytes: MAX_ANALYSIS_BYTES + 1 })
        );
        assert!(Refusal::TooDeep
            .to_string()
            .contains("too deeply nested to analyse (depth > 2000): compared byte for byte"));
        assert_eq!(run("abc", |s| s.len()), Ok(3));
        assert_eq!(run("abc", |_| -> usize { panic!("oxc bug") }), Err(Refusal::Failed));
    }
}
