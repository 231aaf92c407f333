//! The `skimwatch` command: parses the arguments, runs the command and prints its error once.
//! Each command is a file in `commands/`, the scan report formats are in `formatters/`, and
//! the exit codes in `exit.rs`; everything else lives in the library.

mod commands;
mod exit;
mod formatters;

use clap::{CommandFactory, Parser, Subcommand, ValueEnum};
use commands::baseline::BaselineCommand;
use exit::ExitCode;
use std::io;
use std::path::PathBuf;

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
    Scan(commands::scan::ScanArgs),
    /// Review and approve baselines (the approved inventory of each page).
    #[command(subcommand)]
    Baseline(BaselineCommand),
    /// Serve a small embedded shop on loopback, scan it, approve it, plant a skimmer and catch it.
    /// Needs no config.
    #[command(after_help = exit::HELP)]
    Demo(commands::demo::DemoArgs),
    /// The PCI DSS 6.4.3 script inventory per page (CSV, JSON or HTML).
    Inventory(commands::inventory::InventoryArgs),
    /// The tamper-evident scan log.
    #[command(subcommand)]
    Log(commands::log::LogCommand),
    /// Write the PCI DSS 11.6.1 evidence report (HTML + JSON) for a period.
    Evidence(commands::evidence::EvidenceArgs),
    /// The timeline of one finding: first seen, every scan that saw it, alerts, resolution.
    Incident(commands::incident::IncidentArgs),
    /// Run the monitor: scan every page on its interval and mail alerts, until SIGTERM/SIGINT.
    Watch(commands::watch::WatchArgs),
    /// Show per page the last successful scan and the open findings, and the alert outbox.
    Status(commands::status::StatusArgs),
    /// The approved baseline as policies browsers enforce: a Content-Security-Policy (`csp`)
    /// and subresource-integrity attributes (`sri`).
    #[command(subcommand)]
    Policy(commands::policy::PolicyCommand),
    /// Write a first, commented config from one load of a payment page with the shopper: the
    /// card fields, the payment provider's hosts, a journey skeleton when the page redirects.
    #[command(after_help = exit::INIT_HELP)]
    Init(commands::init::InitArgs),
    /// Check the config without scanning.
    #[command(subcommand)]
    Config(commands::config::ConfigCommand),
    /// Run one page's journey once (no shopper, nothing stored) and print each step with its
    /// timing, URL and outcome: to debug `[[page.step]]`s before committing them.
    #[command(after_help = exit::HELP)]
    Try(commands::try_journey::TryArgs),
    /// Print the shell completion script (bash, zsh, fish, elvish or powershell) on stdout.
    Completions(commands::completions::CompletionsArgs),
    /// Write the man pages (skimwatch.1 and one page per command) into a folder.
    Manpage(commands::manpage::ManpageArgs),
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    init_logging(&cli);
    let code = match run(cli) {
        Ok(code) => code,
        // `skimwatch scan | head` is not a failure.
        Err(err) if is_broken_pipe(&err) => ExitCode::Clean,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::Usage
        }
    };
    code.into()
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let config = cli.config.as_path();
    match cli.command {
        Command::Scan(args) => commands::scan::run(config, args),
        Command::Baseline(command) => commands::baseline::run(config, command),
        Command::Demo(args) => commands::demo::run(args),
        Command::Inventory(args) => commands::inventory::run(config, args),
        Command::Log(command) => commands::log::run(config, command),
        Command::Evidence(args) => commands::evidence::run(config, args),
        Command::Incident(args) => commands::incident::run(config, args),
        Command::Watch(args) => commands::watch::run(config, args),
        Command::Status(args) => commands::status::run(config, args),
        Command::Policy(command) => commands::policy::run(config, command),
        Command::Try(args) => commands::try_journey::run(config, args),
        Command::Init(args) => commands::init::run(config, args),
        Command::Config(command) => commands::config::run(config, command),
        Command::Completions(args) => commands::completions::run(args, Cli::command()),
        Command::Manpage(args) => commands::manpage::run(args, Cli::command()),
    }
}

fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|e| e.downcast_ref::<io::Error>().is_some_and(|e| e.kind() == io::ErrorKind::BrokenPipe))
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
