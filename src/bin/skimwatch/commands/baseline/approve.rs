//! `skimwatch baseline approve`: accepts pending findings of the latest scan into the
//! baseline files (`skimwatch::baseline::approve`) and says what it wrote.

use super::{approve_error, skip_reason};
use crate::exit::ExitCode;
use clap::Args;
use skimwatch::baseline::approve::{self, Choice};
use std::io::{self, Write};
use std::path::Path;

#[derive(Args, Debug)]
#[command(group = clap::ArgGroup::new("which").required(true).args(["all", "findings"]))]
pub struct ApproveArgs {
    /// Page to approve (repeatable); all configured pages when omitted.
    #[arg(long = "page", value_name = "NAME")]
    pages: Vec<String>,
    /// Approve every pending finding of the latest scan.
    #[arg(long)]
    all: bool,
    /// Approve this finding (repeatable; ids come from the scan report).
    #[arg(long = "finding", value_name = "ID")]
    findings: Vec<String>,
    /// Who approves (recorded in the baseline).
    #[arg(long, value_name = "WHO")]
    by: String,
    /// Why the change is intended: the PCI DSS 6.4.3 justification (recorded in the baseline).
    #[arg(long, value_name = "TEXT")]
    reason: String,
}

pub fn run(config_path: &Path, args: ApproveArgs) -> anyhow::Result<ExitCode> {
    let config = crate::commands::load_config(config_path)?;
    let choice = if args.all { Choice::All } else { Choice::Findings(args.findings) };
    let results = approve::approve(&config, &args.pages, &choice, &args.by, &args.reason).map_err(approve_error)?;
    let mut out = io::stdout().lock();
    for r in results {
        match (&r.skipped, r.accepted.len()) {
            (Some(why), _) => writeln!(out, "{}: nothing approved: {}", r.page, skip_reason(why))?,
            (None, 0) => writeln!(out, "{}: nothing pending", r.page)?,
            (None, n) => writeln!(
                out,
                "{}: approved {n} finding(s) into {}: {}",
                r.page,
                r.baseline_file.display(),
                r.accepted.join(", ")
            )?,
        }
        if !r.not_applied.is_empty() {
            writeln!(
                out,
                "{}: not applied (the latest scan no longer shows what they refer to; rescan first): {}",
                r.page,
                r.not_applied.join(", ")
            )?;
        }
    }
    Ok(ExitCode::Clean)
}
