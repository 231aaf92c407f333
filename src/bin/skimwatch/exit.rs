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

pub const INIT_HELP: &str = "Exit codes:
  0  the config was written
  2  usage error: not an http(s) URL, a bad --name, or the file exists (without --force)
  3  the page could not be loaded (nothing written)";

pub const CHECK_HELP: &str = "Exit codes:
  0  the config and its alert templates are valid
  2  they are not (the error names the file, line, column and key)";

impl From<ExitCode> for std::process::ExitCode {
    fn from(code: ExitCode) -> Self {
        std::process::ExitCode::from(code as u8)
    }
}
