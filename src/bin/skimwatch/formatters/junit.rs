//! JUnit XML for CI test views (GitLab `artifacts:reports:junit`, Jenkins), written with
//! `quick-junit`: one suite per page, a failing case per finding, a passing case per approved
//! script, and an error case for a page that could not be scanned. Page-controlled values go
//! through [`skimwatch::text::display_safe`] (one line; control, bidirectional and zero-width
//! characters escaped), the writer escapes markup, and anything still invalid in XML 1.0 is
//! replaced by U+FFFD (quick-junit escapes `<&"` but writes control characters as they are).

use super::Reporter;
use quick_junit::{NonSuccessKind, Report, TestCase, TestCaseStatus, TestSuite};
use skimwatch::model::{Finding, PageStatus, ScanReport};
use std::io::{self, Write};
use std::time::Duration;

pub struct Junit;

/// XML 1.0 cannot carry most control characters (nor U+FFFE/U+FFFF), even escaped.
fn xml_text(s: &str) -> String {
    s.chars()
        .map(|c| {
            let invalid =
                (c.is_control() && c != '\n' && c != '\t' && c != '\r') || matches!(c, '\u{FFFE}' | '\u{FFFF}');
            if invalid {
                '\u{FFFD}'
            } else {
                c
            }
        })
        .collect()
}

/// A page-derived value: one line, escaped, XML-valid.
fn safe(s: &str) -> String {
    xml_text(&skimwatch::text::display_safe(s))
}

fn subject(f: &Finding) -> String {
    let s = if let Some(s) = &f.script {
        &s.id
    } else if let Some(h) = &f.header {
        &h.name
    } else if let Some(h) = &f.host {
        h
    } else {
        &f.id
    };
    safe(s)
}

fn description(f: &Finding) -> String {
    // One line per fact; every page-derived value is made one safe line first.
    let mut d = format!("{}\nfinding: {}\nseverity: {}\n", safe(&f.title), safe(&f.id), f.severity);
    if let Some(s) = &f.script {
        d.push_str(&format!("script: {} ({})\n", safe(&s.id), s.kind));
        if let Some(u) = &s.url {
            d.push_str(&format!("url: {}\n", safe(u)));
        }
        d.push_str(&format!("sha256: {}\n", safe(&s.sha256)));
    }
    if let Some(h) = &f.header {
        d.push_str(&format!(
            "header: {}\napproved: {}\ncurrent: {}\n",
            safe(&h.name),
            safe(h.approved.as_deref().unwrap_or("(absent)")),
            safe(h.current.as_deref().unwrap_or("(absent)"))
        ));
    }
    if let Some(h) = &f.host {
        d.push_str(&format!("host: {}\n", safe(h)));
    }
    if let Some(diff) = &f.diff {
        d.push_str("diff:\n");
        for line in diff.lines() {
            d.push_str(&safe(line));
            d.push('\n');
        }
    }
    d
}

pub fn junit(report: &ScanReport) -> Report {
    let mut out = Report::new("skimwatch");
    for page in &report.pages {
        let mut suite = TestSuite::new(safe(&page.name));
        suite.set_time(Duration::from_millis(page.elapsed_ms));
        suite.add_property(("url", safe(&page.url).as_str()));
        for (i, url) in page.refused_requests.iter().enumerate() {
            suite.add_property((format!("refused_request.{i}").as_str(), safe(url).as_str()));
        }
        if page.status == PageStatus::Error {
            let mut status = TestCaseStatus::non_success(NonSuccessKind::Error);
            status.set_message(safe(page.error.as_deref().unwrap_or("unknown error")));
            status.set_type("scan_error");
            let mut case = TestCase::new("page could be scanned", status);
            case.set_classname(safe(&page.name));
            suite.add_test_case(case);
        }
        for f in &page.findings {
            let mut status = TestCaseStatus::non_success(NonSuccessKind::Failure);
            status.set_message(format!("[{}] {}", f.severity, safe(&f.title)));
            status.set_type(f.kind.as_str());
            status.set_description(description(f));
            let mut case = TestCase::new(format!("{}: {}", f.kind, subject(f)), status);
            case.set_classname(safe(&page.name));
            case.add_property(("finding_id", safe(&f.id).as_str()));
            suite.add_test_case(case);
        }
        for s in page.scripts.iter().filter(|s| s.approved) {
            let mut case = TestCase::new(format!("approved script: {}", safe(&s.id)), TestCaseStatus::success());
            case.set_classname(safe(&page.name));
            suite.add_test_case(case);
        }
        out.add_test_suite(suite);
    }
    out
}

impl Reporter for Junit {
    fn render(&self, report: &ScanReport, out: &mut dyn Write) -> io::Result<()> {
        junit(report).serialize(&mut *out).map_err(io::Error::other)?;
        writeln!(out)
    }
}
