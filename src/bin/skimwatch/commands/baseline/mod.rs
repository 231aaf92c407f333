//! `skimwatch baseline …`: review and approve baselines. The library's messages name the
//! facts; the command-line fixes (which flag to give, what to run) are worded here.

pub mod approve;
pub mod check;
pub mod diff;
pub mod show;

use crate::commands::plain;
use crate::exit::ExitCode;
use clap::Subcommand;
use skimwatch::baseline::approve::{ApproveError, Skip};
use skimwatch::baseline::check::Remedy;
use skimwatch::baseline::BaselineError;
use std::path::Path;

#[derive(Subcommand, Debug)]
pub enum BaselineCommand {
    /// Accept pending findings of the latest scan into the baseline files.
    Approve(approve::ApproveArgs),
    /// Show the approved inventory.
    Show(show::ShowArgs),
    /// Show what `approve` would change in the baseline files (writes nothing).
    Diff(diff::DiffArgs),
    /// Lint the baselines folder: exit 1 on a malformed file, an entry without justification
    /// or a source file that does not match its hash.
    Check(check::CheckArgs),
}

pub fn run(config_path: &Path, command: BaselineCommand) -> anyhow::Result<ExitCode> {
    match command {
        BaselineCommand::Approve(args) => approve::run(config_path, args),
        BaselineCommand::Show(args) => show::run(config_path, args),
        BaselineCommand::Diff(args) => diff::run(config_path, args),
        BaselineCommand::Check(args) => check::run(config_path, args),
    }
}

/// How to fix a problem on the command line.
fn remedy(r: Remedy) -> &'static str {
    match r {
        Remedy::GiveReason => " (e.g. `--reason \"release 4.2: new payment widget\"`)",
        Remedy::GiveApprover => " (e.g. `--by alice@example.com`)",
        Remedy::Approve => "; run `skimwatch baseline approve` to create it, or fix [storage] baselines",
    }
}

/// An approve or diff error as printed: the library's message and the command-line fix.
fn approve_error(err: ApproveError) -> anyhow::Error {
    match &err {
        ApproveError::UnknownFindings { .. } => {
            anyhow::anyhow!("{err}; run `skimwatch scan` and copy the id from its report")
        }
        ApproveError::Baseline(BaselineError::InvalidApproval { problem }) => match Remedy::for_approval(problem) {
            Some(r) => anyhow::anyhow!("{err}{}", remedy(r)),
            None => plain(err),
        },
        _ => plain(err),
    }
}

/// Why a page has nothing to approve, with what to run first.
fn skip_reason(skip: &Skip) -> String {
    match skip {
        Skip::NeverScanned => format!("{skip}: run `skimwatch scan` first"),
        _ => skip.to_string(),
    }
}
