//! `skimwatch status`: per page the last successful scan and the open findings, and the
//! alert outbox with each destination's deliveries (named by scheme and host only, never a
//! webhook's path or a secret). Stored text from pages and errors is flattened to one line for
//! a terminal.

use crate::exit::ExitCode;
use crate::formatters::TextOrJson;
use skimwatch::alert::outbox::{self, Status};
use skimwatch::model::PageStatus;
use skimwatch::store::Store;
use skimwatch::text::flatten;
use skimwatch::watch::DaemonLock;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

#[derive(clap::Args, Debug)]
pub struct StatusArgs {
    /// Output format.
    #[arg(long, value_enum, default_value_t = TextOrJson::Text)]
    format: TextOrJson,
    /// Read this database instead of `[storage] database`; repeat it to merge several (the
    /// shards of a fleet, e.g. `skimwatch.shard-0-of-3.db`): each page as the database that
    /// scanned it last saw it, the outboxes added up.
    #[arg(long = "database", value_name = "PATH")]
    databases: Vec<PathBuf>,
}

pub fn run(config_path: &Path, args: StatusArgs) -> anyhow::Result<ExitCode> {
    let config = super::load_config(config_path)?;
    let pages: Vec<(String, String)> = config.pages.iter().map(|p| (p.name.clone(), p.url.clone())).collect();
    let one = |path: &Path, store: &Store| -> anyhow::Result<Status> {
        let mut status = outbox::status(store, &pages)?;
        status.daemon = DaemonLock::holder_of(path);
        Ok(status)
    };
    let status = if args.databases.is_empty() {
        one(&config.storage.database, &Store::open(&config.storage.database)?)?
    } else {
        let mut parts = Vec::new();
        for (path, store) in super::open_databases(&args.databases)? {
            parts.push((path.clone(), one(Path::new(&path), &store)?));
        }
        Status::merge(parts)
    };
    let mut status = status;
    status.name_destinations(&skimwatch::alert::targets(&config.alerts));
    let mut out = io::stdout().lock();
    match args.format {
        TextOrJson::Json => {
            serde_json::to_writer_pretty(&mut out, &status)?;
            writeln!(out)?;
        }
        TextOrJson::Text => write_text(&status, &mut out)?,
    }
    out.flush()?;
    Ok(ExitCode::Clean)
}

fn write_text(status: &Status, out: &mut dyn Write) -> io::Result<()> {
    match &status.daemon {
        Some(holder) => writeln!(out, "daemon: running ({holder})")?,
        None => writeln!(out, "daemon: not running")?,
    }
    let st = &status.storage;
    writeln!(
        out,
        "database: {} ({} free), {} script bodies kept, {} pruned",
        size(st.database_bytes),
        size(st.free_bytes),
        st.bodies,
        st.pruned_bodies
    )?;
    match &st.last_prune {
        Some(p) => writeln!(out, "last prune: {} ({} bodies, {})", p.at, p.bodies, size(p.bytes))?,
        None => writeln!(out, "last prune: never")?,
    }
    for db in &status.databases {
        let daemon = db.daemon.as_deref().map_or("not running".to_string(), |d| format!("running ({d})"));
        let blind = db.blind_since.as_deref().map(|b| format!(", BLIND since {b}")).unwrap_or_default();
        writeln!(out, "database {}: daemon {daemon}, {}{blind}", flatten(&db.path), size(db.storage.database_bytes))?;
    }
    if let Some(since) = &status.blind_since {
        writeln!(out, "MONITOR BLIND: no page has scanned successfully since {since}")?;
    }
    for p in &status.pages {
        writeln!(out, "\n== {}  {}", p.name, flatten(&p.url))?;
        match (&p.last_ok, p.last_ok_scan_id) {
            (Some(at), Some(id)) => writeln!(out, "   last successful scan: {at} (scan #{id})")?,
            _ => writeln!(out, "   last successful scan: never")?,
        }
        if p.last_status == Some(PageStatus::Error) {
            writeln!(
                out,
                "   last scan FAILED at {} ({} in a row): {}",
                p.last_scan.as_deref().unwrap_or("?"),
                p.consecutive_failures,
                flatten(p.last_error.as_deref().unwrap_or(""))
            )?;
        }
        if p.open_findings.is_empty() {
            writeln!(out, "   open findings: none")?;
        } else {
            writeln!(out, "   open findings: {}", p.open_findings.len())?;
            for f in &p.open_findings {
                let mailed = f.notified_at.as_deref().map(|t| format!(" (mailed {t})")).unwrap_or_default();
                writeln!(
                    out,
                    "     {:<8} {:<14} {}  {}{mailed}",
                    f.severity.as_str().to_uppercase(),
                    f.kind.as_str(),
                    f.id,
                    flatten(&f.title)
                )?;
            }
        }
    }
    let o = &status.outbox;
    writeln!(
        out,
        "\noutbox: {} queued, {} sent{}",
        o.queued,
        o.sent,
        o.last_sent.as_deref().map(|t| format!(" (last delivered {t})")).unwrap_or_default()
    )?;
    for d in &o.destinations {
        let target = d.target.as_deref().map(|t| format!(" {}", flatten(t))).unwrap_or_default();
        let configured = if d.configured { "" } else { " (no longer configured: its pending alerts wait)" };
        writeln!(
            out,
            "   {}{target}{configured}: {} pending ({} failed), {} sent{}{}",
            d.destination,
            d.pending,
            d.failed,
            d.sent,
            d.last_sent.as_deref().map(|t| format!(", last {t}")).unwrap_or_default(),
            d.last_error.as_deref().map(|e| format!(", last error: {}", flatten(e))).unwrap_or_default()
        )?;
    }
    for a in &o.pending {
        writeln!(
            out,
            "   #{} {} {}: queued {}, {} attempt(s), next attempt {}{}",
            a.id,
            a.kind,
            a.page.as_deref().unwrap_or("(monitor)"),
            a.created_at,
            a.attempts,
            a.next_attempt_at,
            a.last_error.as_deref().map(|e| format!(", last error: {}", flatten(e))).unwrap_or_default()
        )?;
        for d in &a.deliveries {
            writeln!(
                out,
                "      to {}: {} attempt(s), next attempt {}{}",
                d.destination,
                d.attempts,
                d.next_attempt_at,
                d.last_error.as_deref().map(|e| format!(", last error: {}", flatten(e))).unwrap_or_default()
            )?;
        }
    }
    Ok(())
}

/// Bytes for a person: `12.3 MiB`.
fn size(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}
