//! Output formats of the scan report: one `Reporter` trait, one file per format, one `match`
//! choosing it (as in lychee's formatters).

mod json;
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
    /// The JSON contract (see README).
    Json,
}

pub fn reporter(format: Format) -> Box<dyn Reporter> {
    match format {
        Format::Text => Box::new(text::Text),
        Format::Json => Box::new(json::Json),
    }
}
