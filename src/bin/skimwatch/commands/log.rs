//! `skimwatch log verify`: checks the tamper-evident scan log and names the first broken
//! record (exit 1).

use super::require_store;
use crate::exit::ExitCode;
use crate::formatters::TextOrJson;
use anyhow::Context;
use clap::{Args, Subcommand};
use std::io::{self, Write};
use std::path::Path;

#[derive(Subcommand, Debug)]
pub enum LogCommand {
    /// Check the tamper-evident scan log; names the first broken record (exit 1).
    Verify(VerifyArgs),
}

#[derive(Args, Debug)]
pub struct VerifyArgs {
    #[arg(long, value_enum, default_value_t = TextOrJson::Text)]
    format: TextOrJson,
}

pub fn run(config_path: &Path, command: LogCommand) -> anyhow::Result<ExitCode> {
    let LogCommand::Verify(args) = command;
    let config = super::load_config(config_path)?;
    let store = require_store(&config)?;
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
            if v.pruned_scans > 0 {
                writeln!(
                    out,
                    "{} older scan(s) were deleted by retention ([storage] keep); their seals still link the chain",
                    v.pruned_scans
                )?;
            }
            if v.unsealed > 0 {
                writeln!(
                    out,
                    "{} older record(s) were written before the log existed and are not covered",
                    v.unsealed
                )?;
            }
            if let (Some(id), Some(hash)) = (v.head_id, &v.head_hash) {
                writeln!(out, "head: scan #{id} {hash}")?;
                writeln!(
                    out,
                    "(keep the head elsewhere: a later verify whose chain no longer contains it shows removed records)"
                )?;
            }
        }
    }
    Ok(if v.ok() { ExitCode::Clean } else { ExitCode::Findings })
}
