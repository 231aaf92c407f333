//! JSON report: the contract `{ "pages": [ … ] }` (field names only ever grow).

use super::Reporter;
use skimwatch::model::ScanReport;
use std::io::{self, Write};

pub struct Json;

impl Reporter for Json {
    fn render(&self, report: &ScanReport, out: &mut dyn Write) -> io::Result<()> {
        serde_json::to_writer_pretty(&mut *out, report)?;
        writeln!(out)
    }
}
