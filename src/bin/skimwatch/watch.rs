//! `skimwatch watch` and `skimwatch status`: the daemon's command line, its signals and the
//! status view. The daemon itself is `skimwatch::watch`.

use crate::exit::ExitCode;
use skimwatch::alert::outbox::{self, Status};
use skimwatch::config::Config;
use skimwatch::store::Store;
use skimwatch::watch::{self, DaemonLock, WatchOptions};
use std::io::{self, Write};
use tokio_util::sync::CancellationToken;

#[derive(clap::Args, Debug)]
pub struct WatchArgs {
    /// Scan every page once, deliver due alerts, and exit (for cron). Exit code 3 when a page
    /// could not be scanned.
    #[arg(long)]
    once: bool,
}

#[derive(clap::Args, Debug)]
pub struct StatusArgs {
    /// Output format.
    #[arg(long, value_enum, default_value_t = StatusFormat::Text)]
    format: StatusFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum StatusFormat {
    Text,
    Json,
}

/// Runs the daemon until SIGTERM or SIGINT (a second one exits at once).
pub async fn run(config: Config, args: WatchArgs) -> ExitCode {
    let shutdown = CancellationToken::new();
    let signals = tokio::spawn(on_signals(shutdown.clone()));
    let result = watch::run(&config, &WatchOptions { once: args.once }, shutdown).await;
    signals.abort();
    match result {
        Ok(summary) if args.once && summary.scans_failed > 0 => ExitCode::ScanError,
        Ok(_) => ExitCode::Clean,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::Usage
        }
    }
}

async fn on_signals(shutdown: CancellationToken) {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut term), Ok(mut int)) = (signal(SignalKind::terminate()), signal(SignalKind::interrupt())) else {
        tracing::error!("cannot listen for SIGTERM/SIGINT; stop the daemon with SIGKILL");
        return;
    };
    tokio::select! {
        _ = term.recv() => tracing::info!("SIGTERM: shutting down"),
        _ = int.recv() => tracing::info!("SIGINT: shutting down"),
    }
    shutdown.cancel();
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
    // The database stays consistent (every write is one transaction) and the kernel drops
    // the daemon lock, so leaving at once is safe.
    tracing::warn!("second signal: exiting at once");
    std::process::exit(130);
}

/// `skimwatch status`.
pub fn status(config: &Config, args: &StatusArgs) -> anyhow::Result<ExitCode> {
    let store = Store::open(&config.storage.database)?;
    let pages: Vec<(String, String)> = config.pages.iter().map(|p| (p.name.clone(), p.url.clone())).collect();
    let mut status = outbox::status(&store, &pages)?;
    status.daemon = DaemonLock::holder_of(&config.storage.database);
    let mut out = io::stdout().lock();
    match args.format {
        StatusFormat::Json => {
            serde_json::to_writer_pretty(&mut out, &status)?;
            writeln!(out)?;
        }
        StatusFormat::Text => write_text(&status, &mut out)?,
    }
    out.flush()?;
    Ok(ExitCode::Clean)
}

/// Stored text from pages and errors, made safe for a terminal.
fn clean(s: &str) -> String {
    s.chars().map(|c| if c.is_control() { ' ' } else { c }).collect()
}

fn write_text(status: &Status, out: &mut dyn Write) -> io::Result<()> {
    match &status.daemon {
        Some(holder) => writeln!(out, "daemon: running ({holder})")?,
        None => writeln!(out, "daemon: not running")?,
    }
    if let Some(since) = &status.blind_since {
        writeln!(out, "MONITOR BLIND: no page has scanned successfully since {since}")?;
    }
    for p in &status.pages {
        writeln!(out, "\n== {}  {}", p.name, clean(&p.url))?;
        match (&p.last_ok, p.last_ok_scan_id) {
            (Some(at), Some(id)) => writeln!(out, "   last successful scan: {at} (scan #{id})")?,
            _ => writeln!(out, "   last successful scan: never")?,
        }
        if p.last_status.as_deref() == Some("error") {
            writeln!(
                out,
                "   last scan FAILED at {} ({} in a row): {}",
                p.last_scan.as_deref().unwrap_or("?"),
                p.consecutive_failures,
                clean(p.last_error.as_deref().unwrap_or(""))
            )?;
        }
        if p.open_findings.is_empty() {
            writeln!(out, "   open findings: none")?;
        } else {
            writeln!(out, "   open findings: {}", p.open_findings.len())?;
            for f in &p.open_findings {
                let mailed = f.notified_at.as_deref().map(|t| format!(" (mailed {t})")).unwrap_or_default();
                writeln!(out, "     {:<8} {:<14} {}  {}{mailed}", f.severity.to_uppercase(), f.kind, f.id, clean(&f.title))?;
            }
        }
    }
    let o = &status.outbox;
    writeln!(
        out,
        "\noutbox: {} queued, {} sent{}",
        o.queued,
        o.sent,
        o.last_sent.as_deref().map(|t| format!(" (last accepted by the mail server {t})")).unwrap_or_default()
    )?;
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
            a.last_error.as_deref().map(|e| format!(", last error: {}", clean(e))).unwrap_or_default()
        )?;
    }
    Ok(())
}
