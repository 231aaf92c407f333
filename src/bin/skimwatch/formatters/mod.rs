//! Output formats of the scan report: one `Reporter` trait, one file per format, one `match`
//! choosing it (as in lychee's formatters). [`TextOrJson`] is the `--format` of the other
//! commands, which print text for people or JSON for programs.

mod json;
mod junit;
mod sarif;
mod text;

use skimwatch::model::ScanReport;
use std::io::{self, Write};

/// Renders a whole scan report.
pub trait Reporter {
    fn render(&self, report: &ScanReport, out: &mut dyn Write) -> io::Result<()>;
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// For people: grouped by page, most severe first, with diffs.
    Text,
    /// The JSON contract (see docs/json-contract.md).
    Json,
    /// SARIF 2.1.0 for code-scanning dashboards (one result per finding).
    Sarif,
    /// JUnit XML for CI test views (a suite per page, a failing case per finding).
    Junit,
}

/// `--format` of the commands that print text or JSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum TextOrJson {
    Text,
    Json,
}

pub fn reporter(format: Format) -> Box<dyn Reporter> {
    match format {
        Format::Text => Box::new(text::Text),
        Format::Json => Box::new(json::Json),
        Format::Sarif => Box::new(sarif::SarifReport),
        Format::Junit => Box::new(junit::Junit),
    }
}
