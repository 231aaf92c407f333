//! `skimwatch manpage DIR`: writes the man pages, generated from the clap definitions, into
//! DIR — `skimwatch.1` and one page per subcommand (`skimwatch-scan.1`,
//! `skimwatch-baseline-approve.1`, …). `.ci/package` runs it at release time and the Debian
//! package ships the pages gzipped; an install from source can run it too.

use crate::exit::ExitCode;
use anyhow::Context;
use clap_mangen::roff::{bold, roman, Roff};
use clap_mangen::Man;
use std::io::Write;
use std::path::{Path, PathBuf};

#[derive(clap::Args, Debug)]
pub struct ManpageArgs {
    /// Folder to write the pages into (created if missing; existing pages are replaced).
    #[arg(value_name = "DIR")]
    dir: PathBuf,
}

pub fn run(args: ManpageArgs, cli: clap::Command) -> anyhow::Result<ExitCode> {
    std::fs::create_dir_all(&args.dir).with_context(|| format!("creating {}", args.dir.display()))?;
    // As clap_mangen::generate_to does: without the `help` subcommand, and built, so that each
    // subcommand's display name is its page name (`skimwatch-baseline-approve`).
    let mut cli = cli.disable_help_subcommand(true);
    cli.build();
    let mut written = Vec::new();
    write_page(&cli, &args.dir, true, &mut written)?;
    let mut out = std::io::stdout().lock();
    for path in written {
        writeln!(out, "{}", path.display())?;
    }
    Ok(ExitCode::Clean)
}

/// `cmd`'s page, then its visible subcommands' pages, depth first.
fn write_page(cmd: &clap::Command, dir: &Path, top: bool, written: &mut Vec<PathBuf>) -> anyhow::Result<()> {
    // Every page's footer names the release (a subcommand has no version of its own).
    let man =
        Man::new(cmd.clone()).manual("skimwatch manual").source(format!("skimwatch {}", env!("CARGO_PKG_VERSION")));
    let path = dir.join(man.get_filename());
    let mut page = Vec::new();
    man.render(&mut page)?;
    let mut page = String::from_utf8(page).context("clap_mangen wrote a page that is not UTF-8")?;
    // clap_mangen puts `after_help` under the heading EXTRA; man pages call the exit codes
    // EXIT STATUS.
    let exit_codes = cmd.get_after_help().is_some_and(|h| h.to_string() == crate::exit::HELP);
    page = page.replacen(".SH EXTRA\n", if exit_codes { ".SH \"EXIT STATUS\"\n" } else { ".SH NOTES\n" }, 1);
    if top {
        page.push_str(&top_extra().render());
    }
    std::fs::write(&path, page).with_context(|| format!("writing {}", path.display()))?;
    written.push(path);
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        write_page(sub, dir, false, written)?;
    }
    Ok(())
}

/// What `--help` does not say but an installed tool's page should: where things live.
fn top_extra() -> Roff {
    let mut roff = Roff::new();
    roff.control("SH", ["FILES"]);
    for (path, what) in [
        (
            "/etc/skimwatch/skimwatch.toml",
            "The configuration the Debian package's systemd unit runs with (pass it with --config; \
             the default is skimwatch.toml in the working directory).",
        ),
        ("/etc/skimwatch/baselines/", "The approved baselines (reviewable files; keep them in git)."),
        ("/etc/skimwatch/secrets.env", "Secrets for the systemd unit, such as SKIMWATCH_SMTP_PASSWORD (mode 0600)."),
        ("/var/lib/skimwatch/", "The daemon's state: the SQLite scan database and its lock."),
    ] {
        roff.control("TP", []).text([bold(path)]).text([roman(what)]);
    }
    roff.control("SH", ["ENVIRONMENT"]);
    for (name, what) in [
        ("SKIMWATCH_LOG", "A tracing filter for the log on stderr (overrides -v and -q)."),
        ("CHROME", "The Chromium to launch (overrides [browser] executable)."),
    ] {
        roff.control("TP", []).text([bold(name)]).text([roman(what)]);
    }
    roff.control("SH", ["SEE ALSO"]);
    roff.text([roman(
        "skimwatch-scan(1), skimwatch-watch(1), skimwatch-baseline(1); the guides in \
         /usr/share/doc/skimwatch/ (installed by the Debian package), starting with install.md \
         and configuration.md.",
    )]);
    roff
}
