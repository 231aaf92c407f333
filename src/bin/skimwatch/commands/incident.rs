//! `skimwatch incident`: the timeline of one finding for breach response: first seen, every
//! scan that saw it, alerts, resolution. The data come from `skimwatch::evidence`.

use super::{plain, require_store};
use crate::exit::ExitCode;
use crate::formatters::TextOrJson;
use clap::Args;
use skimwatch::evidence::{self, Incident};
use std::io::{self, Write};
use std::path::Path;

#[derive(Args, Debug)]
pub struct IncidentArgs {
    /// The finding id from a scan report or alert (e.g. F3a9c1e2b7d40).
    #[arg(value_name = "FINDING_ID")]
    finding: String,
    #[arg(long, value_enum, default_value_t = TextOrJson::Text)]
    format: TextOrJson,
}

fn print_incident(i: &Incident, out: &mut dyn Write) -> io::Result<()> {
    let clean = |s: &str| -> String { s.chars().map(|c| if c.is_control() && c != '\n' { '?' } else { c }).collect() };
    let f = &i.finding;
    writeln!(out, "Finding {} on page {}: [{}] {}", f.id, f.page, f.severity.as_str().to_uppercase(), clean(&f.title))?;
    if let Some(s) = &i.last_report.script {
        writeln!(out, "  script: {} ({})", clean(&s.id), s.kind)?;
        if let Some(u) = &s.url {
            writeln!(out, "  url:    {}", clean(u))?;
        }
        writeln!(out, "  sha256: {}", s.sha256)?;
    }
    if let Some(h) = &f.host {
        writeln!(out, "  host:   {}", clean(h))?;
    }
    writeln!(out, "  detected (awareness began): {}", i.detected_at)?;
    writeln!(out, "  GDPR Art. 33 notification due by (if personal data was breached): {}", i.gdpr_notify_by)?;
    writeln!(out, "  status: {}", clean(&f.resolution.summary()))?;
    let e = &i.exposure;
    writeln!(out)?;
    writeln!(out, "Exposure (what the stored scans show):")?;
    if let Some(s) = &e.script {
        writeln!(out, "  offending code: {}", clean(s))?;
    }
    writeln!(out, "  served from {} until {} ({} scans saw it)", e.served_from, e.served_until, e.scans)?;
    let list = |v: &[String]| if v.is_empty() { "none seen".to_string() } else { clean(&v.join(", ")) };
    writeln!(out, "  fields it read:  {}", list(&e.fields_read))?;
    writeln!(out, "  data it sent:    {}", list(&e.fields_sent))?;
    writeln!(out, "  destinations:    {}", list(&e.destinations))?;
    writeln!(out, "  limits: {}", e.limits)?;
    writeln!(out)?;
    writeln!(out, "Timeline:")?;
    for e in &i.timeline {
        let at = if e.at.is_empty() { "(time unknown)" } else { &e.at };
        writeln!(out, "  {at:<22} {:<10} {}", e.event, clean(&e.detail))?;
    }
    if i.alert_deliveries.is_none() {
        writeln!(out)?;
        writeln!(out, "No alert deliveries are recorded in this database (alerting not configured).")?;
    }
    Ok(())
}

pub fn run(config_path: &Path, args: IncidentArgs) -> anyhow::Result<ExitCode> {
    let config = super::load_config(config_path)?;
    let store = require_store(&config)?;
    let incident = evidence::incident(&config, &store, args.finding.trim()).map_err(plain)?;
    let mut out = io::stdout().lock();
    match args.format {
        TextOrJson::Json => {
            serde_json::to_writer_pretty(&mut out, &incident)?;
            writeln!(out)?;
        }
        TextOrJson::Text => print_incident(&incident, &mut out)?,
    }
    Ok(ExitCode::Clean)
}
