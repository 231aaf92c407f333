//! `skimwatch policy csp|sri --page NAME`: the approved baseline as a Content-Security-Policy
//! (with the directives of the current policy that are looser than needed) and as `integrity=`
//! attributes for the approved external scripts. The logic is `skimwatch::policy`; this file
//! loads the baseline and the last stored scan and prints.

use crate::commands::plain;
use crate::exit::ExitCode;
use crate::formatters::TextOrJson;
use anyhow::Context;
use clap::{Args, Subcommand};
use skimwatch::config::Config;
use skimwatch::model::{Baseline, Inventory};
use skimwatch::policy::{generate_csp, sri_entries, CspOptions, CspPolicy, SriEntry};
use std::io::{self, Write};
use std::path::Path;

#[derive(Subcommand, Debug)]
pub enum PolicyCommand {
    /// Write a Content-Security-Policy derived from the approved baseline, and say which
    /// directives of the page's current policy are looser than the baseline needs.
    Csp(CspArgs),
    /// Print the `integrity="sha384-…"` attribute of every approved external script whose
    /// content is stable (warning for those that change by design).
    Sri(SriArgs),
}

#[derive(Args, Debug)]
pub struct CspArgs {
    /// The configured page.
    #[arg(long, value_name = "NAME")]
    page: String,
    /// The `Content-Security-Policy-Report-Only` variant: report violations, block nothing.
    #[arg(long)]
    report_only: bool,
    /// Where browsers send violation reports (default: `[reports] public_url` + `/csp/<page>`).
    #[arg(long, value_name = "URL")]
    report_uri: Option<String>,
    /// Only `report-uri`, no `report-to`: Chromium then sends each report at once instead of
    /// in Reporting API batches (and ignores `report-uri` when `report-to` is present).
    #[arg(long)]
    no_report_to: bool,
    /// List the exact URLs of approved external scripts instead of their origins.
    #[arg(long)]
    exact_urls: bool,
    #[arg(long, value_enum, default_value_t = TextOrJson::Text)]
    format: TextOrJson,
}

#[derive(Args, Debug)]
pub struct SriArgs {
    /// The configured page.
    #[arg(long, value_name = "NAME")]
    page: String,
    #[arg(long, value_enum, default_value_t = TextOrJson::Text)]
    format: TextOrJson,
}

pub fn run(config_path: &Path, command: PolicyCommand) -> anyhow::Result<ExitCode> {
    let config = crate::commands::load_config(config_path)?;
    let mut out = io::stdout().lock();
    match command {
        PolicyCommand::Csp(args) => {
            let (baseline, scan) = load(&config, &args.page)?;
            let report_uri = match args.report_uri {
                Some(u) => {
                    skimwatch::config::read::check_public_url(&u).map_err(|e| anyhow::anyhow!("--report-uri: {e}"))?;
                    Some(u)
                }
                None => config.reports.report_uri(&args.page),
            };
            let options = CspOptions {
                report_uri,
                exact_urls: args.exact_urls,
                report_only: args.report_only,
                no_report_to: args.no_report_to,
            };
            let policy = generate_csp(&baseline, scan.as_ref(), &options);
            match args.format {
                TextOrJson::Json => {
                    serde_json::to_writer_pretty(&mut out, &policy)?;
                    writeln!(out)?;
                }
                TextOrJson::Text => write_csp(&policy, &mut out)?,
            }
        }
        PolicyCommand::Sri(args) => {
            let (baseline, scan) = load(&config, &args.page)?;
            let policies = config.page(&args.page).map(|p| p.policies.as_slice()).unwrap_or_default();
            let entries = sri_entries(&baseline, policies, scan.as_ref());
            match args.format {
                TextOrJson::Json => {
                    serde_json::to_writer_pretty(&mut out, &entries)?;
                    writeln!(out)?;
                }
                TextOrJson::Text => write_sri(&entries, &mut out)?,
            }
        }
    }
    Ok(ExitCode::Clean)
}

/// The page's baseline (which must approve something) and the inventory of its last
/// successful scan, if a database has one.
fn load(config: &Config, page: &str) -> anyhow::Result<(Baseline, Option<Inventory>)> {
    let pages = skimwatch::config::select_pages(config, &[page.to_string()]).map_err(plain)?;
    let name = &pages[0].name;
    let dir = skimwatch::baseline::BaselineDir::new(config.storage.baselines.clone());
    let baseline = dir.load(name).with_context(|| format!("reading the baseline of page `{name}`"))?;
    if baseline.is_empty() {
        anyhow::bail!(
            "page `{name}` has no approved baseline: run `skimwatch scan`, review, then `skimwatch baseline approve`"
        );
    }
    let scan = match skimwatch::evidence::open_existing(config).map_err(plain)? {
        Some(store) => store.latest_ok_scan(name).map_err(plain)?.and_then(|s| s.inventory),
        None => None,
    };
    Ok((baseline, scan))
}

fn write_csp(p: &CspPolicy, out: &mut dyn Write) -> io::Result<()> {
    writeln!(out, "{}: {}", p.header, p.value)?;
    if let Some(r) = &p.reporting_endpoints {
        writeln!(out, "Reporting-Endpoints: {r}")?;
    }
    if !p.notes.is_empty() {
        writeln!(out, "\nWhat this policy cannot allow precisely:")?;
        for n in &p.notes {
            match &n.script {
                Some(s) => writeln!(out, "  {} ({s}): {}", n.directive, n.message)?,
                None => writeln!(out, "  {}: {}", n.directive, n.message)?,
            }
        }
    }
    match &p.current {
        None => writeln!(out, "\nThe page sends no Content-Security-Policy now.")?,
        Some(c) => {
            writeln!(out, "\nCurrent policy: {c}")?;
            if p.looser.is_empty() {
                writeln!(out, "No directive of it is looser than the baseline needs.")?;
            }
            for l in &p.looser {
                let from = l.current.as_deref().unwrap_or("(not set)");
                writeln!(out, "  looser {}: {from}", l.directive)?;
                for a in &l.allows {
                    writeln!(out, "    allows {a}")?;
                }
            }
        }
    }
    Ok(())
}

fn write_sri(entries: &[SriEntry], out: &mut dyn Write) -> io::Result<()> {
    if entries.is_empty() {
        writeln!(out, "no approved external scripts in the top-level document")?;
    }
    for e in entries {
        match &e.attributes {
            Some(a) => writeln!(out, "{}  {a}", e.url)?,
            None => writeln!(out, "{}  (no integrity)", e.url)?,
        }
        if let Some(w) = &e.warning {
            writeln!(out, "    warning: {w}")?;
        }
    }
    Ok(())
}
