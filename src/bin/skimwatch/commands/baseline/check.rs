//! `skimwatch baseline check`: the lint step of a baselines pull request
//! (`skimwatch::baseline::check`); exit 1 on an error.

use super::remedy;
use crate::exit::ExitCode;
use crate::formatters::TextOrJson;
use clap::Args;
use skimwatch::baseline::check::{self, CheckReport, Level};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

#[derive(Args, Debug)]
pub struct CheckArgs {
    /// Baselines folder to check; default: `[storage] baselines` of the config.
    #[arg(long, value_name = "DIR")]
    dir: Option<PathBuf>,
    #[arg(long, value_enum, default_value_t = TextOrJson::Text)]
    format: TextOrJson,
}

pub fn run(config_path: &Path, args: CheckArgs) -> anyhow::Result<ExitCode> {
    let dir = match args.dir {
        Some(d) => d,
        None => crate::commands::load_config(config_path)?.storage.baselines,
    };
    let mut report = check::check_dir(&dir);
    // The fixes that are made on the command line are worded here, in text and JSON alike.
    for p in &mut report.problems {
        if let Some(r) = p.remedy {
            p.message.push_str(remedy(r));
        }
    }
    let mut out = io::stdout().lock();
    match args.format {
        TextOrJson::Json => {
            serde_json::to_writer_pretty(&mut out, &report)?;
            writeln!(out)?;
        }
        TextOrJson::Text => write_text(&report, &dir, &mut out)?,
    }
    Ok(if report.errors() > 0 { ExitCode::Findings } else { ExitCode::Clean })
}

/// One line per problem, as `path:line: level: message`, then a summary.
fn write_text(report: &CheckReport, dir: &Path, out: &mut dyn Write) -> io::Result<()> {
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
    )
}
