//! `skimwatch baseline diff`: the review step of a baselines pull request. It shows what
//! `baseline approve` with the same selection would write (`skimwatch::baseline::plan`, the
//! same planning approve uses, refusals included) and writes nothing.

use super::{approve_error, skip_reason};
use crate::exit::ExitCode;
use clap::Args;
use skimwatch::baseline::approve::Choice;
use skimwatch::baseline::plan;
use skimwatch::model::Approval;
use std::io::{self, Write};
use std::path::Path;

#[derive(Args, Debug)]
#[command(group = clap::ArgGroup::new("which").required(true).args(["all", "findings"]))]
pub struct DiffArgs {
    /// Page (repeatable); all configured pages when omitted.
    #[arg(long = "page", value_name = "NAME")]
    pages: Vec<String>,
    /// Every pending finding of the latest scan.
    #[arg(long)]
    all: bool,
    /// This finding (repeatable).
    #[arg(long = "finding", value_name = "ID")]
    findings: Vec<String>,
    /// Approver to show in the diff (approve records the real one).
    #[arg(long, value_name = "WHO", default_value = "<approver>")]
    by: String,
    /// Justification to show in the diff.
    #[arg(long, value_name = "TEXT", default_value = "<justification>")]
    reason: String,
}

pub fn run(config_path: &Path, args: DiffArgs) -> anyhow::Result<ExitCode> {
    let config = crate::commands::load_config(config_path)?;
    let choice = if args.all { Choice::All } else { Choice::Findings(args.findings) };
    let approval = Approval { approved_by: args.by, approved_at: skimwatch::store::now_rfc3339(), reason: args.reason };
    let plans = plan::plan(&config, &args.pages, &choice, &approval).map_err(approve_error)?;
    let mut out = io::stdout().lock();
    for p in plans {
        let c = &p.change;
        match (&c.skipped, c.accepted.len()) {
            (Some(why), _) => writeln!(out, "# {}: nothing to approve: {}", c.page, skip_reason(why))?,
            (None, 0) => {
                writeln!(out, "# {}: nothing pending; {} would not change", c.page, c.baseline_file.display())?
            }
            (None, n) => {
                writeln!(
                    out,
                    "# {}: approving {n} finding(s) ({}) would change {}:",
                    c.page,
                    c.accepted.join(", "),
                    c.baseline_file.display()
                )?;
                out.write_all(p.diff.as_bytes())?;
                for (sha, bytes) in &p.new_sources {
                    writeln!(out, "# new file sources/{sha}.js ({bytes} bytes)")?;
                }
            }
        }
    }
    Ok(ExitCode::Clean)
}
