//! `skimwatch intel update` fetches the intelligence sources into `[intel] cache_dir`;
//! `skimwatch intel show` prints what a scan would check against (`skimwatch::intel`).

use super::{load_config, plain, runtime};
use crate::exit::ExitCode;
use clap::{Subcommand, ValueEnum};
use std::io::{self, Write};
use std::path::Path;

#[derive(Subcommand, Debug)]
pub enum IntelCommand {
    /// Fetch every intelligence source from its upstream URL into `[intel] cache_dir`. A source
    /// that cannot be fetched, or whose download does not parse, keeps the copy in use (the
    /// last one fetched, else the shipped one). Exit 0 when all were updated, 3 otherwise.
    #[command(after_help = UPDATE_HELP)]
    Update {
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
    /// Print the intelligence data a scan checks against: each source's origin (shipped,
    /// updated, file), entries, SHA-256 and date.
    Show {
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
}

const UPDATE_HELP: &str = "Exit codes:
  0  every source was updated
  2  usage or configuration error (or the cache folder cannot be written)
  3  at least one source could not be updated (its copy in use is kept)";

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Text,
    Json,
}

pub fn run(config_path: &Path, command: IntelCommand) -> anyhow::Result<ExitCode> {
    let config = load_config(config_path)?;
    let mut out = io::stdout().lock();
    match command {
        IntelCommand::Update { format } => {
            let outcomes = runtime()?.block_on(skimwatch::intel::update::update(&config.intel)).map_err(plain)?;
            match format {
                Format::Json => writeln!(out, "{}", serde_json::to_string_pretty(&outcomes)?)?,
                Format::Text => {
                    for o in &outcomes {
                        match (o.result.as_str(), o.entries) {
                            ("updated", Some(n)) => writeln!(out, "{}: updated from {} ({n} entries)", o.name, o.url)?,
                            _ => writeln!(out, "{}: kept: {}", o.name, o.reason.as_deref().unwrap_or(""))?,
                        }
                    }
                }
            }
            Ok(if outcomes.iter().all(|o| o.result == "updated") { ExitCode::Clean } else { ExitCode::ScanError })
        }
        IntelCommand::Show { format } => {
            let intel = skimwatch::intel::Intel::load(&config.intel).map_err(plain)?;
            match format {
                Format::Json => writeln!(out, "{}", serde_json::to_string_pretty(&intel.versions)?)?,
                Format::Text => {
                    for v in &intel.versions {
                        let at = v.location.as_deref().map(|l| format!(" ({l})")).unwrap_or_default();
                        writeln!(
                            out,
                            "{} [{}]: {} {}{at}, {} entries, sha256 {}",
                            v.name,
                            v.kind,
                            v.origin,
                            v.date,
                            v.entries,
                            &v.sha256[..v.sha256.len().min(16)]
                        )?;
                    }
                }
            }
            Ok(ExitCode::Clean)
        }
    }
}
