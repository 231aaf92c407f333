//! `skimwatch try --page NAME`: runs one page's journey once, without the shopper and without
//! storing or comparing anything, and prints each step with its timing, URL and outcome (and
//! a screenshot per step with `--screenshots DIR`): how a person debugs a journey before
//! committing it. Exit 0 when the journey reaches a payment form, 3 when it would be a scan
//! error.

use super::{plain, runtime};
use crate::exit::ExitCode;
use crate::formatters::TextOrJson;
use anyhow::Context;
use clap::Args;
use skimwatch::scan::{self, TryReport};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

#[derive(Args, Debug)]
pub struct TryArgs {
    /// The page whose journey to run.
    #[arg(long = "page", value_name = "NAME")]
    page: String,
    /// Write a screenshot after each step into DIR (`step-01.png` …; created if missing).
    #[arg(long, value_name = "DIR")]
    screenshots: Option<PathBuf>,
    #[arg(long, value_enum, default_value_t = TextOrJson::Text)]
    format: TextOrJson,
}

pub fn run(config_path: &Path, args: TryArgs) -> anyhow::Result<ExitCode> {
    let config = super::load_config(config_path)?;
    if let Some(dir) = &args.screenshots {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let report = runtime()?.block_on(scan::try_page(&config, &args.page, args.screenshots.clone())).map_err(plain)?;
    let mut out = io::stdout().lock();
    match args.format {
        TextOrJson::Json => {
            serde_json::to_writer_pretty(&mut out, &report)?;
            writeln!(out)?;
        }
        TextOrJson::Text => print(&report, &mut out)?,
    }
    Ok(if report.error.is_some() { ExitCode::ScanError } else { ExitCode::Clean })
}

fn print(r: &TryReport, out: &mut dyn Write) -> io::Result<()> {
    let clean = |s: &str| skimwatch::text::one_line(s, 300);
    writeln!(out, "page {}: {}", r.page, clean(&r.url))?;
    if r.steps.is_empty() {
        writeln!(out, "  (no [[page.step]]: the page's url is the payment page)")?;
    }
    for s in &r.steps {
        writeln!(out, "  step {:>2}  {:>6} ms  {}", s.step, s.ms, clean(&s.action))?;
        writeln!(out, "           {}  at {}", clean(&s.outcome), clean(&s.url))?;
    }
    match (&r.error, &r.final_url) {
        (Some(e), _) => writeln!(out, "FAILED: {}", clean(e))?,
        (None, Some(end)) => writeln!(
            out,
            "reached {}: {} payment field(s), {} script(s), in {} ms",
            clean(end),
            r.payment_fields,
            r.scripts,
            r.elapsed_ms
        )?,
        (None, None) => {}
    }
    Ok(())
}
