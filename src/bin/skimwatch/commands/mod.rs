//! One file per command. Each handler takes its parsed arguments and returns the exit code;
//! an error goes back to `main`, which prints it once and exits 2. What the handlers share is
//! here: loading the config, the async runtime, turning library errors into what the command
//! line prints, and the scan database that history commands need.

pub mod baseline;
pub mod completions;
pub mod config;
pub mod demo;
pub mod evidence;
pub mod html;
pub mod incident;
pub mod init;
pub mod inventory;
pub mod log;
pub mod manpage;
pub mod policy;
pub mod scan;
pub mod status;
pub mod try_journey;
pub mod watch;

use anyhow::Context;
use skimwatch::config::{Config, ConfigError, DEFAULT_FILE};
use skimwatch::store::Store;
use std::fmt::Display;
use std::io::{self, Write};
use std::path::Path;

/// A library error as the command line prints it: its message alone. Library messages
/// already include their cause, so the source chain (which `{:#}` would append) is dropped.
pub fn plain(err: impl Display) -> anyhow::Error {
    anyhow::anyhow!("{err}")
}

/// The config at `path` (from `--config`).
pub fn load_config(path: &Path) -> anyhow::Result<Config> {
    Config::load(path).map_err(|e| match e {
        ConfigError::NotFound { .. } => anyhow::anyhow!("{e}; pass --config <file> or create {DEFAULT_FILE}"),
        e => plain(e),
    })
}

pub fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread().enable_all().build().context("cannot start the async runtime")
}

/// The database for a report that needs history; a missing file is a usage error rather than
/// an empty (and so misleading) report.
pub fn require_store(config: &Config) -> anyhow::Result<Store> {
    match skimwatch::evidence::open_existing(config).map_err(plain)? {
        Some(s) => Ok(s),
        None => anyhow::bail!(
            "no scan database at {}: nothing has been recorded yet. Run `skimwatch scan` (or the watch daemon) with this config first",
            config.storage.database.display()
        ),
    }
}

/// The databases named by a repeatable `--database PATH` (each must exist), as `(path, store)`.
pub fn open_databases(paths: &[std::path::PathBuf]) -> anyhow::Result<Vec<(String, Store)>> {
    paths
        .iter()
        .map(|path| {
            if !path.is_file() {
                anyhow::bail!(
                    "no scan database at {}: check the path (a shard's database is named like skimwatch.shard-0-of-3.db)",
                    path.display()
                );
            }
            let store = Store::open(path).with_context(|| format!("opening {}", path.display()))?;
            Ok((path.display().to_string(), store))
        })
        .collect()
}

/// Writes `bytes` to `output`, or to stdout.
pub fn write_to(output: Option<&Path>, bytes: &[u8]) -> anyhow::Result<()> {
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
