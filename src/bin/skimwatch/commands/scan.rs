//! `skimwatch scan`: scan pages, store the result, compare with the baselines and print the
//! report in the chosen format; the exit code is the verdict for a pipeline.

use super::{plain, runtime};
use crate::exit::ExitCode;
use crate::formatters::{self, Format};
use anyhow::Context;
use clap::{Args, ValueEnum};
use skimwatch::model::{ScanReport, Severity};
use skimwatch::scan::{self, ScanOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

#[derive(Args, Debug)]
pub struct ScanArgs {
    /// Page to scan (repeatable); all configured pages when omitted.
    #[arg(long = "page", value_name = "NAME")]
    pages: Vec<String>,
    /// Report format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
    /// Write the report to FILE instead of stdout.
    #[arg(long, value_name = "FILE")]
    output: Option<PathBuf>,
    /// Exit 1 when a finding at or above this severity is reported.
    #[arg(long, value_enum, default_value_t = FailOn::Medium)]
    fail_on: FailOn,
    /// Pages scanned at the same time.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=64))]
    jobs: u16,
    /// Keep nothing: use an in-memory database (for release pipelines).
    #[arg(long)]
    ephemeral: bool,
    /// Scan every configured page on this origin instead (path and query kept), e.g. a
    /// staging deploy checked against the production baselines.
    #[arg(long, value_name = "URL", value_parser = parse_base_url)]
    base_url: Option<url::Url>,
}

/// The library's message starts with the value; the flag's name goes in front.
fn parse_base_url(s: &str) -> Result<url::Url, String> {
    skimwatch::config::rebase::parse_base_url(s).map_err(|e| format!("--base-url {e}"))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum FailOn {
    Info,
    Low,
    Medium,
    High,
    Critical,
    Never,
}

impl FailOn {
    fn threshold(self) -> Option<Severity> {
        match self {
            FailOn::Info => Some(Severity::Info),
            FailOn::Low => Some(Severity::Low),
            FailOn::Medium => Some(Severity::Medium),
            FailOn::High => Some(Severity::High),
            FailOn::Critical => Some(Severity::Critical),
            FailOn::Never => None,
        }
    }
}

pub fn run(config_path: &Path, args: ScanArgs) -> anyhow::Result<ExitCode> {
    let config = super::load_config(config_path)?;
    let opts = ScanOptions {
        pages: args.pages.clone(),
        jobs: args.jobs as usize,
        ephemeral: args.ephemeral,
        base_url: args.base_url.clone(),
    };
    let report = runtime()?.block_on(scan::run(&config, &opts)).map_err(plain)?;
    write_report(&report, args.format, args.output.as_deref())?;
    Ok(verdict(&report, args.fail_on))
}

/// Writes the report to `--output` or stdout.
fn write_report(report: &ScanReport, format: Format, output: Option<&Path>) -> anyhow::Result<()> {
    let reporter = formatters::reporter(format);
    match output {
        Some(path) => {
            let mut buf = Vec::new();
            reporter.render(report, &mut buf)?;
            std::fs::write(path, buf).with_context(|| format!("writing the report to {}", path.display()))?;
        }
        None => {
            let mut out = io::stdout().lock();
            reporter.render(report, &mut out)?;
            out.flush()?;
        }
    }
    Ok(())
}

fn verdict(report: &ScanReport, fail_on: FailOn) -> ExitCode {
    if report.has_errors() {
        return ExitCode::ScanError;
    }
    match (fail_on.threshold(), report.max_severity()) {
        (Some(threshold), Some(max)) if max >= threshold => ExitCode::Findings,
        _ => ExitCode::Clean,
    }
}
