//! `baseline diff` and `baseline check`: the review and lint steps of a baselines pull
//! request. The logic is in `skimwatch::config::rebase`; this file parses arguments and prints.

use crate::exit::ExitCode;
use clap::{Args, ValueEnum};
use skimwatch::baseline::approve::Choice;
use skimwatch::config::Config;
use skimwatch::baseline::check::{self, Level};
use skimwatch::baseline::plan;
use skimwatch::model::Approval;
use std::io::{self, Write};
use std::path::PathBuf;

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

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum CheckFormat {
    Text,
    Json,
}

#[derive(Args, Debug)]
pub struct CheckArgs {
    /// Baselines folder to check; default: `[storage] baselines` of the config.
    #[arg(long, value_name = "DIR")]
    dir: Option<PathBuf>,
    #[arg(long, value_enum, default_value_t = CheckFormat::Text)]
    format: CheckFormat,
}

pub fn diff(config: &Config, args: DiffArgs) -> anyhow::Result<ExitCode> {
    let choice = if args.all { Choice::All } else { Choice::Findings(args.findings.clone()) };
    let approval = Approval { approved_by: args.by, approved_at: skimwatch::store::now_rfc3339(), reason: args.reason };
    let plans = match plan::plan(config, &args.pages, &choice, &approval) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("error: {e}");
            return Ok(ExitCode::Usage);
        }
    };
    let mut out = io::stdout().lock();
    for p in plans {
        match (&p.skipped, p.accepted.len()) {
            (Some(why), _) => writeln!(out, "# {}: nothing to approve: {why}", p.page)?,
            (None, 0) => writeln!(out, "# {}: nothing pending; {} would not change", p.page, p.baseline_file.display())?,
            (None, n) => {
                writeln!(out, "# {}: approving {n} finding(s) ({}) would change {}:", p.page, p.accepted.join(", "), p.baseline_file.display())?;
                out.write_all(p.diff.as_bytes())?;
                for (sha, bytes) in &p.new_sources {
                    writeln!(out, "# new file sources/{sha}.js ({bytes} bytes)")?;
                }
            }
        }
    }
    Ok(ExitCode::Clean)
}

pub fn check(config_path: &std::path::Path, args: CheckArgs) -> anyhow::Result<ExitCode> {
    let dir = match args.dir {
        Some(d) => d,
        None => match Config::load(config_path) {
            Ok(c) => c.storage.baselines,
            Err(e) => {
                eprintln!("error: {e}");
                return Ok(ExitCode::Usage);
            }
        },
    };
    let report = check::check_dir(&dir);
    let mut out = io::stdout().lock();
    match args.format {
        CheckFormat::Json => {
            serde_json::to_writer_pretty(&mut out, &report)?;
            writeln!(out)?;
        }
        CheckFormat::Text => {
            for p in &report.problems {
                let level = match p.level {
                    Level::Error => "error",
                    Level::Warning => "warning",
                };
                match p.line {
                    Some(line) => writeln!(out, "{}:{line}: {level}: {}", p.path.display(), p.message)?,
                    None => writeln!(out, "{}: {level}: {}", p.path.display(), p.message)?,
                }
            }
            let errors = report.errors();
            writeln!(
                out,
                "{}: {} baseline file(s), {} entries, {} source file(s): {errors} error(s), {} warning(s)",
                dir.display(),
                report.files,
                report.entries,
                report.sources,
                report.problems.len() - errors
            )?;
        }
    }
    Ok(if report.errors() > 0 { ExitCode::Findings } else { ExitCode::Clean })
}
