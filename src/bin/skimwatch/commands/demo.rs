//! `skimwatch demo`: the whole loop against the embedded shop, with nothing configured.
//! Serve the shop on loopback → scan → approve → rescan (clean) → plant a British-Airways-style
//! skimmer in a first-party file → scan again and show the finding with its diff.

use super::runtime;
use crate::exit::ExitCode;
use crate::formatters::{self, Format};
use anyhow::Context;
use skimwatch::baseline::approve::{self, Choice};
use skimwatch::config::{Config, PageConfig};
use skimwatch::model::{FindingKind, ScanReport, Severity};
use skimwatch::scan::{self, ScanOptions};
use skimwatch_testshop::Shop;
use std::io::Write;
use std::path::PathBuf;

#[derive(clap::Args, Debug)]
pub struct DemoArgs {
    /// Keep the demo's database and baselines in DIR (default: a temporary folder, removed at exit).
    #[arg(long, value_name = "DIR")]
    dir: Option<PathBuf>,
}

pub fn run(args: DemoArgs) -> anyhow::Result<ExitCode> {
    runtime()?.block_on(demo(args))
}

async fn demo(args: DemoArgs) -> anyhow::Result<ExitCode> {
    let shop = Shop::start().await.context("starting the demo shop on loopback")?;
    let temp;
    let dir = match args.dir {
        Some(d) => {
            std::fs::create_dir_all(&d).with_context(|| format!("creating {}", d.display()))?;
            d
        }
        None => {
            temp = tempfile::Builder::new().prefix("skimwatch-demo-").tempdir()?;
            temp.path().to_path_buf()
        }
    };
    let config = Config::with_pages(
        &dir.join("skimwatch.toml"),
        vec![PageConfig {
            // The demo's skimmer is not a late one: a short watch keeps the demo quick.
            settle: std::time::Duration::from_secs(2),
            ..PageConfig::new("checkout", shop.checkout_url())
        }],
    );
    let mut out = std::io::stdout().lock();
    let opts = ScanOptions::default();

    writeln!(out, "skimwatch demo: a small shop is served on loopback at {}", shop.checkout_url())?;
    writeln!(out, "  (its card fields live in a cross-origin iframe from {})", shop.hosted_fields_url())?;
    writeln!(out, "  database and baselines: {}\n", dir.display())?;

    writeln!(out, "1. First scan: nothing is approved yet, so every script is new.")?;
    let first = scan::run(&config, &opts).await?;
    if first.has_errors() {
        formatters::reporter(Format::Text).render(&first, &mut out)?;
        return Ok(ExitCode::ScanError);
    }
    let page = &first.pages[0];
    writeln!(
        out,
        "   {} scripts ({}), {} hosts, {} payment fields, {} findings.\n",
        page.scripts.len(),
        kinds(&first),
        page.hosts.len(),
        page.payment_fields.len(),
        page.findings.len()
    )?;
    if let Some(own) = page.card_data.iter().find(|l| l.destination.own_origin) {
        writeln!(
            out,
            "   The shopper completed the checkout: the hosted field sent the card to its own host {}\n   \
             (a card_exfiltration finding until approved with the inventory, as its hint says).\n",
            own.destination.host
        )?;
    }

    writeln!(out, "2. Approving the inventory (skimwatch baseline approve --all --by demo --reason …).")?;
    let approved = approve::approve(&config, &[], &Choice::All, "demo", "Initial inventory of the demo shop")?;
    for a in &approved {
        writeln!(out, "   {} findings approved into {}\n", a.accepted.len(), a.baseline_file.display())?;
    }

    writeln!(out, "3. Rescan: the page matches its baseline.")?;
    let clean = scan::run(&config, &opts).await?;
    let n = clean.pages.iter().map(|p| p.findings.len()).sum::<usize>();
    writeln!(out, "   {n} findings.\n")?;

    let planted = shop.append_skimmer_to_first_party();
    writeln!(
        out,
        "4. An attacker appends {} lines to {} (as in the British Airways breach).\n",
        planted.code.trim().lines().count(),
        planted.modified
    )?;

    writeln!(out, "5. Scan again:\n")?;
    let after = scan::run(&config, &opts).await?;
    formatters::reporter(Format::Text).render(&after, &mut out)?;
    let caught = after.pages.iter().flat_map(|p| &p.findings).find(|f| {
        f.kind == FindingKind::AlteredScript
            && f.severity >= Severity::High
            && f.diff.as_deref().is_some_and(|d| d.contains("new Image"))
    });
    if let Some(f) = caught {
        writeln!(
            out,
            "The skimmer was caught: a {} `altered_script` finding whose diff shows the appended lines.",
            f.severity
        )?;
        Ok(ExitCode::Clean)
    } else {
        writeln!(out, "The demo did not catch the planted skimmer: this is a bug, please report it.")?;
        Ok(ExitCode::Findings)
    }
}

fn kinds(report: &ScanReport) -> String {
    let mut counts = std::collections::BTreeMap::new();
    for s in report.pages.iter().flat_map(|p| &p.scripts) {
        *counts.entry(s.kind.as_str()).or_insert(0) += 1;
    }
    counts.iter().map(|(k, n)| format!("{n} {k}")).collect::<Vec<_>>().join(", ")
}
