//! The `skimwatch` command: argument parsing, output rendering and exit codes.
//! Everything else lives in the library; this file only wires it to a terminal.

mod audit;
mod demo;
mod exit;
mod formatters;
mod gate;
mod watch;

use anyhow::Context;
use clap::{Args, Parser, Subcommand, ValueEnum};
use exit::ExitCode;
use formatters::Format;
use skimwatch::baseline::approve::{self, Choice};
use skimwatch::baseline::BaselineDir;
use skimwatch::config::Config;
use skimwatch::model::{ScanReport, Severity};
use skimwatch::scan::{self, ScanOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

#[derive(Parser, Debug)]
#[command(
    name = "skimwatch",
    version,
    about = "Catches e-skimming (Magecart) code on checkout pages: renders them in headless Chromium, \
             inventories every script and compares it with the approved baseline (PCI DSS 6.4.3 / 11.6.1).",
    after_help = exit::HELP
)]
struct Cli {
    /// Config file (relative paths inside it are relative to its folder).
    #[arg(long, global = true, default_value = "skimwatch.toml", value_name = "PATH")]
    config: PathBuf,
    /// Log format on stderr.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
    /// More log output on stderr (-v: debug, -vv: trace).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    verbose: u8,
    /// Only warnings and errors on stderr.
    #[arg(short, long, global = true)]
    quiet: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Scan pages, store the result, compare with the baselines and print the report.
    #[command(after_help = exit::HELP)]
    Scan(ScanArgs),
    /// Review and approve baselines (the approved inventory of each page).
    #[command(subcommand)]
    Baseline(BaselineCommand),
    /// Serve a small embedded shop on loopback, scan it, approve it, plant a skimmer and catch it.
    /// Needs no config.
    #[command(after_help = exit::HELP)]
    Demo(demo::DemoArgs),
    /// The PCI DSS 6.4.3 script inventory per page (CSV, JSON or HTML).
    Inventory(audit::InventoryArgs),
    /// The tamper-evident scan log.
    #[command(subcommand)]
    Log(audit::LogCommand),
    /// Write the PCI DSS 11.6.1 evidence report (HTML + JSON) for a period.
    Evidence(audit::EvidenceArgs),
    /// The timeline of one finding: first seen, every scan that saw it, alerts, resolution.
    Incident(audit::IncidentArgs),
    /// Run the monitor: scan every page on its interval and mail alerts, until SIGTERM/SIGINT.
    Watch(watch::WatchArgs),
    /// Show per page the last successful scan and the open findings, and the alert outbox.
    Status(watch::StatusArgs),
}

#[derive(Args, Debug)]
struct ScanArgs {
    /// Page to scan (repeatable); all configured pages when omitted.
    #[arg(long = "page", value_name = "NAME")]
    pages: Vec<String>,
    /// Report format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
    /// Write the report to FILE instead of stdout.
    #[arg(long, value_name = "FILE")]
    output: Option<PathBuf>,
    /// Exit 1 when a finding at or above this severity is reported.
    #[arg(long, value_enum, default_value_t = FailOn::Medium)]
    fail_on: FailOn,
    /// Pages scanned at the same time.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=64))]
    jobs: u16,
    /// Keep nothing: use an in-memory database (for release pipelines).
    #[arg(long)]
    ephemeral: bool,
    /// Scan every configured page on this origin instead (path and query kept), e.g. a
    /// staging deploy checked against the production baselines.
    #[arg(long, value_name = "URL", value_parser = parse_base_url)]
    base_url: Option<url::Url>,
}

fn parse_base_url(s: &str) -> Result<url::Url, String> {
    skimwatch::config::rebase::parse_base_url(s).map_err(|e| e.to_string())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum FailOn {
    Info,
    Low,
    Medium,
    High,
    Critical,
    Never,
}

impl FailOn {
    fn threshold(self) -> Option<Severity> {
        match self {
            FailOn::Info => Some(Severity::Info),
            FailOn::Low => Some(Severity::Low),
            FailOn::Medium => Some(Severity::Medium),
            FailOn::High => Some(Severity::High),
            FailOn::Critical => Some(Severity::Critical),
            FailOn::Never => None,
        }
    }
}

#[derive(Subcommand, Debug)]
enum BaselineCommand {
    /// Accept pending findings of the latest scan into the baseline files.
    Approve(ApproveArgs),
    /// Show the approved inventory.
    Show(ShowArgs),
    /// Show what `approve` would change in the baseline files (writes nothing).
    Diff(gate::DiffArgs),
    /// Lint the baselines folder: exit 1 on a malformed file, an entry without justification
    /// or a source file that does not match its hash.
    Check(gate::CheckArgs),
}

#[derive(Args, Debug)]
#[command(group = clap::ArgGroup::new("which").required(true).args(["all", "findings"]))]
struct ApproveArgs {
    /// Page to approve (repeatable); all configured pages when omitted.
    #[arg(long = "page", value_name = "NAME")]
    pages: Vec<String>,
    /// Approve every pending finding of the latest scan.
    #[arg(long)]
    all: bool,
    /// Approve this finding (repeatable; ids come from the scan report).
    #[arg(long = "finding", value_name = "ID")]
    findings: Vec<String>,
    /// Who approves (recorded in the baseline).
    #[arg(long, value_name = "WHO")]
    by: String,
    /// Why the change is intended: the PCI DSS 6.4.3 justification (recorded in the baseline).
    #[arg(long, value_name = "TEXT")]
    reason: String,
}

#[derive(Args, Debug)]
struct ShowArgs {
    /// Page to show (repeatable); all configured pages when omitted.
    #[arg(long = "page", value_name = "NAME")]
    pages: Vec<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    init_logging(&cli);
    let code = match run(cli) {
        Ok(code) => code,
        Err(err) => {
            if is_broken_pipe(&err) {
                ExitCode::Clean
            } else {
                eprintln!("error: {err:#}");
                ExitCode::Usage
            }
        }
    };
    code.into()
}

fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain()
        .any(|e| e.downcast_ref::<io::Error>().is_some_and(|e| e.kind() == io::ErrorKind::BrokenPipe))
}

fn init_logging(cli: &Cli) {
    // The demo prints its own story on stdout; keep its stderr for problems.
    let quiet = cli.quiet || (matches!(cli.command, Command::Demo(_)) && cli.verbose == 0);
    let default = match (quiet, cli.verbose) {
        (true, _) => "warn,chromiumoxide=off",
        (false, 0) => "info,chromiumoxide=off",
        (false, 1) => "skimwatch=debug,info,chromiumoxide=warn",
        _ => "skimwatch=trace,debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("SKIMWATCH_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    // Colours only on a terminal: a daemon's log goes to journald or a file.
    let ansi = std::io::IsTerminal::is_terminal(&io::stderr());
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(io::stderr).with_ansi(ansi);
    match cli.log_format {
        LogFormat::Text => builder.with_target(false).init(),
        LogFormat::Json => builder.json().init(),
    }
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread().enable_all().build().context("cannot start the async runtime")
}

/// Loads the config, or returns from the calling command with exit code 2 (the error printed).
macro_rules! config_or_exit {
    ($path:expr) => {
        match load_config($path) {
            Ok(config) => config,
            Err(code) => return Ok(code),
        }
    };
}

fn load_config(path: &Path) -> Result<Config, ExitCode> {
    Config::load(path).map_err(|e| {
        eprintln!("error: {e}");
        ExitCode::Usage
    })
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Scan(args) => {
            let config = config_or_exit!(&cli.config);
            let opts = ScanOptions {
                pages: args.pages.clone(),
                jobs: args.jobs as usize,
                ephemeral: args.ephemeral,
                base_url: args.base_url.clone(),
            };
            let report = match runtime()?.block_on(scan::run(&config, &opts)) {
                Ok(r) => r,
                Err(e) => {
                    eprintln!("error: {e}");
                    return Ok(ExitCode::Usage);
                }
            };
            write_report(&report, args.format, args.output.as_deref())?;
            Ok(verdict(&report, args.fail_on))
        }
        Command::Baseline(BaselineCommand::Approve(args)) => {
            let config = config_or_exit!(&cli.config);
            let choice = if args.all { Choice::All } else { Choice::Findings(args.findings.clone()) };
            let results = match approve::approve(&config, &args.pages, &choice, &args.by, &args.reason) {
                Ok(r) => r,
                Err(e) => {
                    eprintln!("error: {e}");
                    return Ok(ExitCode::Usage);
                }
            };
            let mut out = io::stdout().lock();
            for r in results {
                match (&r.skipped, r.accepted.len()) {
                    (Some(why), _) => writeln!(out, "{}: nothing approved: {why}", r.page)?,
                    (None, 0) => writeln!(out, "{}: nothing pending", r.page)?,
                    (None, n) => writeln!(
                        out,
                        "{}: approved {n} finding(s) into {}: {}",
                        r.page,
                        r.baseline_file.display(),
                        r.accepted.join(", ")
                    )?,
                }
                if !r.not_applied.is_empty() {
                    writeln!(
                        out,
                        "{}: not applied (the latest scan no longer shows what they refer to; rescan first): {}",
                        r.page,
                        r.not_applied.join(", ")
                    )?;
                }
            }
            Ok(ExitCode::Clean)
        }
        Command::Baseline(BaselineCommand::Show(args)) => {
            let config = config_or_exit!(&cli.config);
            let pages = match skimwatch::config::select_pages(&config, &args.pages) {
                Ok(p) => p,
                Err(e) => {
                    eprintln!("error: {e}");
                    return Ok(ExitCode::Usage);
                }
            };
            let dir = BaselineDir::new(config.storage.baselines.clone());
            let mut baselines = Vec::new();
            for page in pages {
                baselines.push(dir.load(&page.name).with_context(|| format!("reading the baseline of page `{}`", page.name))?);
            }
            let mut out = io::stdout().lock();
            match args.format {
                Format::Sarif | Format::Junit => {
                    eprintln!("error: `baseline show` prints text or json");
                    return Ok(ExitCode::Usage);
                }
                Format::Json => {
                    serde_json::to_writer_pretty(&mut out, &baselines)?;
                    writeln!(out)?;
                }
                Format::Text => {
                    for b in &baselines {
                        writeln!(out, "== {} ({})", b.page, dir.path_for(&b.page).display())?;
                        if b.is_empty() {
                            writeln!(out, "   nothing approved yet: run `skimwatch scan`, then `skimwatch baseline approve`")?;
                        }
                        for s in &b.scripts {
                            writeln!(out, "   {:<9} {}", s.kind.as_str(), s.id)?;
                            if let Some(u) = &s.url {
                                writeln!(out, "             url:    {u}")?;
                            }
                            writeln!(out, "             sha256: {}  ({} bytes)", s.sha256, s.bytes)?;
                            writeln!(
                                out,
                                "             approved by {} at {}: {}",
                                s.approval.approved_by, s.approval.approved_at, s.approval.reason
                            )?;
                        }
                        for h in &b.headers {
                            writeln!(out, "   header    {}: {}", h.name, h.value.as_deref().unwrap_or("(absent)"))?;
                        }
                        for h in &b.hosts {
                            writeln!(out, "   host      {}", h.host)?;
                        }
                        for a in &b.field_access {
                            let what = match (a.action.as_str(), &a.event) {
                                ("read", _) => "reads".to_string(),
                                (_, Some(e)) => format!("listens to {e} on"),
                                (other, None) => other.to_string(),
                            };
                            writeln!(out, "   field     {} {} {} ({})", a.script, what, a.field, a.frame)?;
                        }
                        writeln!(out)?;
                    }
                }
            }
            Ok(ExitCode::Clean)
        }
        Command::Demo(args) => runtime()?.block_on(demo::run(args)),
        Command::Baseline(BaselineCommand::Check(args)) => gate::check(&cli.config, args),
        Command::Baseline(BaselineCommand::Diff(args)) => gate::diff(&config_or_exit!(&cli.config), args),
        Command::Inventory(args) => audit::inventory(&config_or_exit!(&cli.config), args),
        Command::Log(command) => audit::log(&config_or_exit!(&cli.config), command),
        Command::Evidence(args) => audit::evidence(&config_or_exit!(&cli.config), args),
        Command::Incident(args) => audit::incident(&config_or_exit!(&cli.config), args),
        Command::Watch(args) => {
            let config = config_or_exit!(&cli.config);
            Ok(runtime()?.block_on(watch::run(config, args)))
        }
        Command::Status(args) => {
            let config = config_or_exit!(&cli.config);
            watch::status(&config, &args)
        }
    }
}

/// Writes the report to `--output` or stdout.
fn write_report(report: &ScanReport, format: Format, output: Option<&Path>) -> anyhow::Result<()> {
    let reporter = formatters::reporter(format);
    match output {
        Some(path) => {
            let mut buf = Vec::new();
            reporter.render(report, &mut buf)?;
            std::fs::write(path, buf).with_context(|| format!("writing the report to {}", path.display()))?;
        }
        None => {
            let mut out = io::stdout().lock();
            reporter.render(report, &mut out)?;
            out.flush()?;
        }
    }
    Ok(())
}

fn verdict(report: &ScanReport, fail_on: FailOn) -> ExitCode {
    if report.has_errors() {
        return ExitCode::ScanError;
    }
    match (fail_on.threshold(), report.max_severity()) {
        (Some(threshold), Some(max)) if max >= threshold => ExitCode::Findings,
        _ => ExitCode::Clean,
    }
}
