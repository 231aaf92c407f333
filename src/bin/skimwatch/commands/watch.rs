//! `skimwatch watch`: the daemon's command line and its signals. The daemon itself is
//! `skimwatch::watch`.

use super::plain;
use crate::exit::ExitCode;
use skimwatch::config::Config;
use skimwatch::watch::{self, WatchOptions};
use std::path::Path;
use tokio_util::sync::CancellationToken;

#[derive(clap::Args, Debug)]
pub struct WatchArgs {
    /// Scan every page once, deliver due alerts, and exit (for cron). Exit code 3 when a page
    /// could not be scanned.
    #[arg(long)]
    once: bool,
    /// Serve /metrics (Prometheus) and /healthz on ADDR (`127.0.0.1:9187`, or a port for
    /// loopback); overrides `[watch] listen`.
    #[arg(long, value_name = "ADDR", value_parser = skimwatch::config::read::parse_listen)]
    listen: Option<std::net::SocketAddr>,
    /// Watch only shard K of N (0 ≤ K < N, e.g. a StatefulSet's pod ordinal): the pages whose
    /// name hashes to K, in the shard's own database (`skimwatch.shard-K-of-N.db` beside the
    /// configured one).
    #[arg(long, value_name = "K/N", env = "SKIMWATCH_SHARD", value_parser = skimwatch::config::Shard::parse)]
    shard: Option<skimwatch::config::Shard>,
}

/// Runs the daemon until SIGTERM or SIGINT (a second one exits at once).
pub fn run(config_path: &Path, args: WatchArgs) -> anyhow::Result<ExitCode> {
    let config = super::load_config(config_path)?;
    super::runtime()?.block_on(daemon(config, args))
}

async fn daemon(config: Config, args: WatchArgs) -> anyhow::Result<ExitCode> {
    let shutdown = CancellationToken::new();
    let signals = tokio::spawn(on_signals(shutdown.clone()));
    let opts = WatchOptions { once: args.once, listen: args.listen, shard: args.shard };
    let result = watch::run(&config, &opts, shutdown).await;
    signals.abort();
    match result.map_err(plain)? {
        summary if args.once && summary.scans_failed > 0 => Ok(ExitCode::ScanError),
        _ => Ok(ExitCode::Clean),
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
