//! `skimwatch baseline show`: the approved inventory of each page, as text or JSON.

use crate::commands::plain;
use crate::exit::ExitCode;
use crate::formatters::Format;
use anyhow::Context;
use clap::Args;
use skimwatch::baseline::BaselineDir;
use skimwatch::model::Baseline;
use std::io::{self, Write};
use std::path::Path;

#[derive(Args, Debug)]
pub struct ShowArgs {
    /// Page to show (repeatable); all configured pages when omitted.
    #[arg(long = "page", value_name = "NAME")]
    pages: Vec<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
}

pub fn run(config_path: &Path, args: ShowArgs) -> anyhow::Result<ExitCode> {
    let config = crate::commands::load_config(config_path)?;
    let pages = skimwatch::config::select_pages(&config, &args.pages).map_err(plain)?;
    let dir = BaselineDir::new(config.storage.baselines.clone());
    let mut baselines = Vec::new();
    for page in pages {
        baselines.push(dir.load(&page.name).with_context(|| format!("reading the baseline of page `{}`", page.name))?);
    }
    let mut out = io::stdout().lock();
    match args.format {
        Format::Sarif | Format::Junit => anyhow::bail!("`baseline show` prints text or json"),
        Format::Json => {
            serde_json::to_writer_pretty(&mut out, &baselines)?;
            writeln!(out)?;
        }
        Format::Text => {
            for b in &baselines {
                write_text(b, &dir, &mut out)?;
            }
        }
    }
    Ok(ExitCode::Clean)
}

/// One page's baseline for people: every approved entry with who approved it and why.
fn write_text(b: &Baseline, dir: &BaselineDir, out: &mut dyn Write) -> io::Result<()> {
    writeln!(out, "== {} ({})", b.page, dir.path_for(&b.page).display())?;
    if b.is_empty() {
        writeln!(out, "   nothing approved yet: run `skimwatch scan`, then `skimwatch baseline approve`")?;
    }
    for s in &b.scripts {
        writeln!(out, "   {:<9} {}", s.kind.as_str(), s.id)?;
        if let Some(u) = &s.url {
            writeln!(out, "             url:    {u}")?;
        }
        writeln!(out, "             sha256: {}  ({} bytes)", s.sha256, s.bytes)?;
        writeln!(
            out,
            "             approved by {} at {}: {}",
            s.approval.approved_by, s.approval.approved_at, s.approval.reason
        )?;
    }
    for h in &b.headers {
        writeln!(out, "   header    {}: {}", h.name, h.value.as_deref().unwrap_or("(absent)"))?;
    }
    for h in &b.hosts {
        writeln!(out, "   host      {}", h.host)?;
    }
    for a in &b.field_access {
        let what = match (a.action.as_str(), &a.event) {
            ("read", _) => "reads".to_string(),
            (_, Some(e)) => format!("listens to {e} on"),
            (other, None) => other.to_string(),
        };
        writeln!(out, "   field     {} {} {} ({})", a.script, what, a.field, a.frame)?;
    }
    for c in &b.card_destinations {
        writeln!(
            out,
            "   card data {} sends to {} (approved by {}: {})",
            c.script, c.url, c.approval.approved_by, c.approval.reason
        )?;
    }
    for c in &b.cookies {
        let lifetime = c.lifetime_days.map_or("session".to_string(), |d| format!("{d} days"));
        let party = if c.third_party { "third" } else { "first" };
        writeln!(out, "   cookie    {} ({party}-party, {lifetime}, {})", c.id, c.purpose.as_str())?;
    }
    writeln!(out)
}
