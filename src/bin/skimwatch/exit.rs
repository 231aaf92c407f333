//! The one place exit codes are defined. They are a contract with release pipelines.

/// Process exit codes (documented in `--help`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitCode {
    /// No finding at or above `--fail-on`.
    Clean = 0,
    /// At least one finding at or above `--fail-on`.
    Findings = 1,
    /// Usage or configuration error.
    Usage = 2,
    /// At least one page could not be scanned.
    ScanError = 3,
}

pub const HELP: &str = "Exit codes:
  0  no finding at or above --fail-on
  1  findings at or above --fail-on
  2  usage or configuration error
  3  at least one page could not be scanned";

impl From<ExitCode> for std::process::ExitCode {
    fn from(code: ExitCode) -> Self {
        std::process::ExitCode::from(code as u8)
    }
}
