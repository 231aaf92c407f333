//! `skimwatch init URL`: loads the page once with the shopper and writes a first, commented
//! config (`skimwatch::setup::init` makes the text), then prints what it found and the next
//! three commands. An existing file is only replaced with `--force`.

use super::{plain, runtime};
use crate::exit::ExitCode;
use anyhow::Context;
use clap::Args;
use skimwatch::config::Browser;
use skimwatch::setup::init::{self, HostReason, InitError, Suggestion};
use skimwatch::text::{display_safe, shell_quote};
use std::io::{self, Write};
use std::path::Path;
use std::time::Duration;

#[derive(Args, Debug)]
pub struct InitArgs {
    /// The payment page to monitor (http or https).
    #[arg(value_name = "URL")]
    url: String,
    /// The page's name in the config (letters, digits, `_` and `-`); default: from the host.
    #[arg(long, value_name = "NAME")]
    name: Option<String>,
    /// Replace the config file if it exists.
    #[arg(long)]
    force: bool,
    /// How long to keep watching the page after load during the trial (as a scan's `settle`).
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = humantime::parse_duration)]
    settle: Duration,
}

pub fn run(config_path: &Path, args: InitArgs) -> anyhow::Result<ExitCode> {
    let url = init::parse_url(&args.url).map_err(plain)?;
    if let Some(name) = &args.name {
        if !skimwatch::config::is_page_name(name) {
            return Err(plain(InitError::Name(name.clone())));
        }
    }
    // Before the browser starts: a refusal costs nothing.
    if !args.force && config_path.exists() {
        anyhow::bail!("{} already exists; pass --force to replace it", config_path.display());
    }
    tracing::info!(%url, "loading the page once with the shopper");
    let snapshot = match runtime()?.block_on(init::trial(&Browser::default(), &url, args.settle)) {
        Ok(snapshot) => snapshot,
        Err(e) => {
            eprintln!("error: {e}");
            return Ok(ExitCode::ScanError);
        }
    };
    let suggestion = init::suggest(&url, args.name.as_deref(), &snapshot).map_err(plain)?;
    write_config(config_path, &suggestion.text, args.force)?;
    print_summary(&suggestion, config_path, &mut io::stdout().lock())?;
    Ok(ExitCode::Clean)
}

/// Writes the file: created only if absent (also when it appeared during the trial), or
/// with `--force` replaced in one rename, so a reader never sees half a config.
fn write_config(path: &Path, text: &str, force: bool) -> anyhow::Result<()> {
    if force {
        let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
        let mut tmp = tempfile::NamedTempFile::new_in(dir).with_context(|| format!("writing {}", path.display()))?;
        tmp.write_all(text.as_bytes())?;
        tmp.persist(path).with_context(|| format!("writing {}", path.display()))?;
        return Ok(());
    }
    let mut file = std::fs::OpenOptions::new().write(true).create_new(true).open(path).map_err(|e| {
        if e.kind() == io::ErrorKind::AlreadyExists {
            anyhow::anyhow!("{} already exists; pass --force to replace it", path.display())
        } else {
            anyhow::anyhow!("writing {}: {e}", path.display())
        }
    })?;
    file.write_all(text.as_bytes()).with_context(|| format!("writing {}", path.display()))
}

fn print_summary(s: &Suggestion, config_path: &Path, out: &mut dyn Write) -> io::Result<()> {
    let safe = |t: &str| skimwatch::text::cut_chars(&display_safe(t), 200);
    match s.fields.is_empty() {
        true => writeln!(out, "Loaded {}.", safe(&s.url))?,
        false => {
            writeln!(out, "Loaded {} ({} scripts, {} hosts contacted).", safe(&s.url), s.scripts, s.hosts_contacted)?
        }
    }
    if let Some(r) = &s.redirect {
        writeln!(out, "The page redirected to {}: the payment form is not one URL away.", safe(&r.final_url))?;
        writeln!(out, "  A journey skeleton ([[page.step]], commented out) is in the file: fill it in.")?;
    }
    if s.fields.is_empty() {
        writeln!(out, "No card field found: list the fields in payment_fields, or give steps that reach them.")?;
    } else {
        writeln!(out, "Card fields ({}):", s.fields.len())?;
        for f in &s.fields {
            let place = f.frame_host.as_deref().map_or("the page".to_string(), |h| format!("the frame of {}", safe(h)));
            writeln!(out, "  {}  in {place}", safe(&f.selector))?;
        }
    }
    let entries = s.card_data_hosts();
    if entries.is_empty() {
        writeln!(out, "card_data_hosts: none suggested.")?;
    } else {
        writeln!(out, "card_data_hosts (your payment provider; check each is theirs): {}", safe(&entries.join(", ")))?;
    }
    for h in s.hosts.iter().filter(|h| !h.entry) {
        let why = match h.reason {
            HostReason::OwnServer => "the shop's own server",
            _ => "not from a card-field frame: a skimmer's, unless it is your provider",
        };
        writeln!(out, "  card data also went to {} ({why}); commented out in the file", safe(&h.host))?;
    }
    if s.left_out > 0 {
        writeln!(
            out,
            "Left out {} selector(s) or host(s) the page showed (too long or unusual characters).",
            s.left_out
        )?;
    }
    writeln!(out, "Wrote {} (page {}).", config_path.display(), s.name)?;
    writeln!(out)?;
    let sw = match config_path == Path::new(skimwatch::config::DEFAULT_FILE) {
        true => "skimwatch".to_string(),
        false => format!("skimwatch --config {}", shell_quote(&config_path.display().to_string())),
    };
    if s.redirect.is_some() {
        writeln!(out, "Once the steps are filled in, check them:")?;
        writeln!(out, "  {sw} try --page {}", s.name)?;
    }
    writeln!(out, "Next (the first scan finds every script new and exits 1; review its report, then approve):")?;
    writeln!(out, "  {sw} scan")?;
    writeln!(out, "  {sw} baseline approve --all --by \"$USER\" --reason \"initial inventory\"")?;
    writeln!(out, "  {sw} watch")?;
    Ok(())
}
