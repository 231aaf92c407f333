//! Evidence commands for the assessor and for breach response: `inventory`, `log verify`,
//! `evidence` and `incident`. The data come from `skimwatch::evidence`; this file parses the
//! arguments and renders JSON, CSV and HTML. HTML goes through minijinja with auto-escaping
//! (every value from a scanned page is hostile), carries a CSP that forbids scripts, and is
//! self-contained (inline CSS, no external resources).

use crate::exit::ExitCode;
use anyhow::Context;
use clap::{Args, Subcommand, ValueEnum};
use skimwatch::config::Config;
use skimwatch::evidence::{self, Evidence, Incident, InventoryRow, Resolution};
use skimwatch::store::Store;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

const CSS: &str = include_str!("templates/style.css");

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum InventoryFormat {
    /// One row per script (for spreadsheets).
    Csv,
    Json,
    /// A self-contained page to hand to the assessor.
    Html,
}

#[derive(Args, Debug)]
pub struct InventoryArgs {
    /// Page to list (repeatable); all configured pages when omitted.
    #[arg(long = "page", value_name = "NAME")]
    pages: Vec<String>,
    #[arg(long, value_enum, default_value_t = InventoryFormat::Csv)]
    format: InventoryFormat,
    /// Write to FILE instead of stdout.
    #[arg(long, value_name = "FILE")]
    output: Option<PathBuf>,
}

#[derive(Subcommand, Debug)]
pub enum LogCommand {
    /// Check the tamper-evident scan log; names the first broken record (exit 1).
    Verify(VerifyArgs),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TextOrJson {
    Text,
    Json,
}

#[derive(Args, Debug)]
pub struct VerifyArgs {
    #[arg(long, value_enum, default_value_t = TextOrJson::Text)]
    format: TextOrJson,
}

#[derive(Args, Debug)]
pub struct EvidenceArgs {
    /// Start of the period: YYYY-MM-DD (UTC midnight) or an RFC 3339 time.
    #[arg(long, value_name = "DATE")]
    since: String,
    /// Folder to write evidence.html and evidence.json into (created if needed).
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
}

#[derive(Args, Debug)]
pub struct IncidentArgs {
    /// The finding id from a scan report or alert (e.g. F3a9c1e2b7d40).
    #[arg(value_name = "FINDING_ID")]
    finding: String,
    #[arg(long, value_enum, default_value_t = TextOrJson::Text)]
    format: TextOrJson,
}

fn environment() -> minijinja::Environment<'static> {
    let mut env = minijinja::Environment::new();
    // Names end in .html, so minijinja's default callback turns HTML auto-escaping on.
    env.add_template("inventory_table.html", include_str!("templates/inventory_table.html")).expect("template parses");
    env.add_template("inventory.html", include_str!("templates/inventory.html")).expect("template parses");
    env.add_template("evidence.html", include_str!("templates/evidence.html")).expect("template parses");
    env
}

/// The database for a report that needs history; a missing file is a usage error rather than
/// an empty (and so misleading) report.
fn require_store(config: &Config) -> Result<Store, ExitCode> {
    match evidence::open_existing(config) {
        Ok(Some(s)) => Ok(s),
        Ok(None) => {
            eprintln!(
                "error: no scan database at {}: nothing has been recorded yet. Run `skimwatch scan` (or the watch daemon) with this config first",
                config.storage.database.display()
            );
            Err(ExitCode::Usage)
        }
        Err(e) => {
            eprintln!("error: {e}");
            Err(ExitCode::Usage)
        }
    }
}

fn write_to(output: Option<&Path>, bytes: &[u8]) -> anyhow::Result<()> {
    match output {
        Some(path) => std::fs::write(path, bytes).with_context(|| format!("writing {}", path.display())),
        None => {
            let mut out = io::stdout().lock();
            out.write_all(bytes)?;
            out.flush()?;
            Ok(())
        }
    }
}

/// A spreadsheet treats a cell starting with `=`, `+`, `-`, `@` (or a tab/CR) as a formula;
/// page-controlled text must not become one (CSV injection), so such cells get a `'` prefix.
fn csv_cell(s: &str) -> String {
    if s.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{s}")
    } else {
        s.to_string()
    }
}

pub fn inventory_csv(rows: &[InventoryRow]) -> anyhow::Result<Vec<u8>> {
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record([
        "page", "script", "kind", "url", "frame_url", "sha256", "sri", "bytes", "status", "first_seen", "last_seen",
        "seen_in_scans", "approved_by", "approved_at", "reason", "payment_fields",
    ])?;
    for r in rows {
        let opt = |o: &Option<String>| csv_cell(o.as_deref().unwrap_or(""));
        w.write_record([
            csv_cell(&r.page),
            csv_cell(&r.script),
            r.kind.as_str().to_string(),
            opt(&r.url),
            csv_cell(&r.frame_url),
            r.sha256.clone(),
            r.sri.clone(),
            r.bytes.to_string(),
            r.status.clone(),
            opt(&r.first_seen),
            opt(&r.last_seen),
            r.seen_in_scans.to_string(),
            opt(&r.approved_by),
            opt(&r.approved_at),
            opt(&r.reason),
            csv_cell(&r.payment_fields),
        ])?;
    }
    w.into_inner().map_err(|e| anyhow::anyhow!("writing CSV: {e}"))
}

pub fn inventory(config: &Config, args: InventoryArgs) -> anyhow::Result<ExitCode> {
    // Inventory works from a clean checkout too (no database): approved scripts only.
    let store = match evidence::open_existing(config) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            return Ok(ExitCode::Usage);
        }
    };
    let rows = match evidence::inventory(config, &args.pages, store.as_ref()) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {e}");
            return Ok(ExitCode::Usage);
        }
    };
    let bytes = match args.format {
        InventoryFormat::Csv => inventory_csv(&rows)?,
        InventoryFormat::Json => {
            let mut v = serde_json::to_vec_pretty(&rows)?;
            v.push(b'\n');
            v
        }
        InventoryFormat::Html => environment()
            .get_template("inventory.html")?
            .render(minijinja::context! {
                css => CSS,
                pages => minijinja::value::Serde(evidence::by_page(&rows)),
                count => rows.len(),
                generated_at => skimwatch::store::now_rfc3339(),
                tool => format!("skimwatch {}", env!("CARGO_PKG_VERSION")),
            })
            .context("rendering the inventory")?
            .into_bytes(),
    };
    write_to(args.output.as_deref(), &bytes)?;
    Ok(ExitCode::Clean)
}

pub fn log(config: &Config, command: LogCommand) -> anyhow::Result<ExitCode> {
    let LogCommand::Verify(args) = command;
    let store = match require_store(config) {
        Ok(s) => s,
        Err(code) => return Ok(code),
    };
    let v = store.verify_log().with_context(|| format!("reading the scan log in {}", store.path().display()))?;
    let mut out = io::stdout().lock();
    match args.format {
        TextOrJson::Json => {
            serde_json::to_writer_pretty(&mut out, &v)?;
            writeln!(out)?;
        }
        TextOrJson::Text => {
            match &v.broken {
                Some(b) => writeln!(out, "scan log BROKEN at scan #{}: {}", b.scan_id, b.reason)?,
                None => writeln!(out, "scan log OK: {} record(s) verified", v.verified)?,
            }
            if v.unsealed > 0 {
                writeln!(out, "{} older record(s) were written before the log existed and are not covered", v.unsealed)?;
            }
            if let (Some(id), Some(hash)) = (v.head_id, &v.head_hash) {
                writeln!(out, "head: scan #{id} {hash}")?;
                writeln!(out, "(keep the head elsewhere: a later verify whose chain no longer contains it shows removed records)")?;
            }
        }
    }
    Ok(if v.ok() { ExitCode::Clean } else { ExitCode::Findings })
}

pub fn render_evidence_html(e: &Evidence) -> anyhow::Result<String> {
    let resolutions: Vec<String> = e.findings.iter().map(|f| f.resolution.summary()).collect();
    let failed = e.scans.iter().filter(|s| s.status == skimwatch::model::PageStatus::Error).count();
    let open = e.findings.iter().filter(|f| f.resolution == Resolution::Open).count();
    environment()
        .get_template("evidence.html")?
        .render(minijinja::context! {
            css => CSS,
            e => minijinja::value::Serde(e),
            pages => minijinja::value::Serde(evidence::by_page(&e.inventory)),
            resolutions => resolutions,
            failed => failed,
            open => open,
        })
        .context("rendering the evidence report")
}

pub fn evidence(config: &Config, args: EvidenceArgs) -> anyhow::Result<ExitCode> {
    let since = match evidence::parse_since(&args.since) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: --since: {e}");
            return Ok(ExitCode::Usage);
        }
    };
    let store = match require_store(config) {
        Ok(s) => s,
        Err(code) => return Ok(code),
    };
    let e = match evidence::evidence(config, &store, &since) {
        Ok(e) => e,
        Err(err) => {
            eprintln!("error: {err}");
            return Ok(ExitCode::Usage);
        }
    };
    std::fs::create_dir_all(&args.out).with_context(|| format!("creating {}", args.out.display()))?;
    let html = render_evidence_html(&e)?;
    let html_path = args.out.join("evidence.html");
    let json_path = args.out.join("evidence.json");
    std::fs::write(&html_path, html).with_context(|| format!("writing {}", html_path.display()))?;
    let mut json = serde_json::to_vec_pretty(&e)?;
    json.push(b'\n');
    std::fs::write(&json_path, json).with_context(|| format!("writing {}", json_path.display()))?;
    let mut out = io::stdout().lock();
    writeln!(out, "wrote {} and {}", html_path.display(), json_path.display())?;
    writeln!(out, "{} scan(s), {} finding(s) since {since}", e.scans.len(), e.findings.len())?;
    match &e.log.broken {
        Some(b) => {
            writeln!(out, "scan log BROKEN at scan #{}: {}", b.scan_id, b.reason)?;
            Ok(ExitCode::Findings)
        }
        None => {
            writeln!(out, "scan log verified ({} record(s))", e.log.verified)?;
            Ok(ExitCode::Clean)
        }
    }
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

pub fn incident(config: &Config, args: IncidentArgs) -> anyhow::Result<ExitCode> {
    let store = match require_store(config) {
        Ok(s) => s,
        Err(code) => return Ok(code),
    };
    let incident = match evidence::incident(config, &store, args.finding.trim()) {
        Ok(i) => i,
        Err(e) => {
            eprintln!("error: {e}");
            return Ok(ExitCode::Usage);
        }
    };
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
