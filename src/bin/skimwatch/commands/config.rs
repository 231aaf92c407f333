//! `skimwatch config check`: validates the config and the alert templates it names, without
//! scanning (`skimwatch::setup::check`). Exit 0 when valid, 2 with the error (file, line,
//! column and key) when not.

use super::plain;
use crate::exit::ExitCode;
use clap::Subcommand;
use skimwatch::config::{ConfigError, DEFAULT_FILE};
use std::io::{self, Write};
use std::path::Path;

#[derive(Subcommand, Debug)]
pub enum ConfigCommand {
    /// Validate the config (`--config`, default skimwatch.toml) and the alert templates it
    /// names, without scanning. Exit 0 when valid, 2 otherwise.
    #[command(after_help = crate::exit::CHECK_HELP)]
    Check,
}

pub fn run(config_path: &Path, command: ConfigCommand) -> anyhow::Result<ExitCode> {
    let ConfigCommand::Check = command;
    let checked = skimwatch::setup::check::check(config_path).map_err(|e| match e {
        ConfigError::NotFound { .. } => {
            anyhow::anyhow!("{e}; pass --config <file>, or write one with `skimwatch init URL` ({DEFAULT_FILE})")
        }
        e => plain(e),
    })?;
    let c = &checked.config;
    let mut out = io::stdout().lock();
    let names: Vec<&str> = c.pages.iter().map(|p| p.name.as_str()).take(10).collect();
    let more = if c.pages.len() > names.len() { ", …" } else { "" };
    writeln!(out, "{}: OK", config_path.display())?;
    writeln!(out, "  pages: {} ({}{more})", c.pages.len(), names.join(", "))?;
    match checked.destinations.is_empty() {
        true => writeln!(
            out,
            "  alerts: no destination (findings are only logged; see [alerts.email] and [[alerts.webhook]])"
        )?,
        false => writeln!(out, "  alerts: {}", checked.destinations.join("; "))?,
    }
    match &checked.templates {
        Some(dir) => writeln!(out, "  alert templates: {} (built-in for any file not there)", dir.display())?,
        None => writeln!(out, "  alert templates: built-in")?,
    }
    writeln!(out, "  database: {}; baselines: {}", c.storage.database.display(), c.storage.baselines.display())?;
    for (name, key) in &checked.unset_env {
        writeln!(out, "  note: {name} ({key}) is not set here; `skimwatch watch` needs it where it runs")?;
    }
    Ok(ExitCode::Clean)
}
