//! JUnit XML for CI test views (GitLab `artifacts:reports:junit`, Jenkins), written with
//! `quick-junit`: one suite per page, a failing case per finding, a passing case per approved
//! script, and an error case for a page that could not be scanned. Page-controlled text is
//! escaped by the writer (and control characters, invalid in XML 1.0, are replaced).

use super::Reporter;
use quick_junit::{NonSuccessKind, Report, TestCase, TestCaseStatus, TestSuite};
use skimwatch::model::{Finding, PageStatus, ScanReport};
use std::io::{self, Write};
use std::time::Duration;

pub struct Junit;

/// XML 1.0 cannot carry most control characters, even escaped.
fn xml_text(s: &str) -> String {
    s.chars().map(|c| if c.is_control() && c != '\n' && c != '\t' && c != '\r' { '\u{FFFD}' } else { c }).collect()
}

fn subject(f: &Finding) -> String {
    if let Some(s) = &f.script {
        s.id.clone()
    } else if let Some(h) = &f.header {
        h.name.clone()
    } else if let Some(h) = &f.host {
        h.clone()
    } else {
        f.id.clone()
    }
}

fn description(f: &Finding) -> String {
    let mut d = format!("{}\nfinding: {}\nseverity: {}\n", f.title, f.id, f.severity);
    if let Some(s) = &f.script {
        d.push_str(&format!("script: {} ({})\n", s.id, s.kind));
        if let Some(u) = &s.url {
            d.push_str(&format!("url: {u}\n"));
        }
        d.push_str(&format!("sha256: {}\n", s.sha256));
    }
    if let Some(h) = &f.header {
        d.push_str(&format!(
            "header: {}\napproved: {}\ncurrent: {}\n",
            h.name,
            h.approved.as_deref().unwrap_or("(absent)"),
            h.current.as_deref().unwrap_or("(absent)")
        ));
    }
    if let Some(h) = &f.host {
        d.push_str(&format!("host: {h}\n"));
    }
    if let Some(diff) = &f.diff {
        d.push_str("diff:\n");
        d.push_str(diff);
    }
    xml_text(&d)
}

pub fn junit(report: &ScanReport) -> Report {
    let mut out = Report::new("skimwatch");
    for page in &report.pages {
        let mut suite = TestSuite::new(xml_text(&page.name));
        suite.set_time(Duration::from_millis(page.elapsed_ms));
        suite.add_property(("url", xml_text(&page.url).as_str()));
        if page.status == PageStatus::Error {
            let mut status = TestCaseStatus::non_success(NonSuccessKind::Error);
            status.set_message(xml_text(page.error.as_deref().unwrap_or("unknown error")));
            status.set_type("scan_error");
            let mut case = TestCase::new("page could be scanned", status);
            case.set_classname(xml_text(&page.name));
            suite.add_test_case(case);
        }
        for f in &page.findings {
            let mut status = TestCaseStatus::non_success(NonSuccessKind::Failure);
            status.set_message(xml_text(&format!("[{}] {}", f.severity, f.title)));
            status.set_type(f.kind.as_str());
            status.set_description(description(f));
            let mut case = TestCase::new(xml_text(&format!("{}: {}", f.kind, subject(f))), status);
            case.set_classname(xml_text(&page.name));
            case.add_property(("finding_id", f.id.as_str()));
            suite.add_test_case(case);
        }
        for s in page.scripts.iter().filter(|s| s.approved) {
            let mut case = TestCase::new(xml_text(&format!("approved script: {}", s.id)), TestCaseStatus::success());
            case.set_classname(xml_text(&page.name));
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
