//! `skimwatch completions SHELL`: the shell's completion script on stdout, generated from the
//! same clap definitions that parse the command line, so it can never offer a command or flag
//! the binary does not know. The Debian package installs the bash, zsh and fish scripts.

use crate::exit::ExitCode;
use std::io::Write;

#[derive(clap::Args, Debug)]
#[command(after_help = "Install, for example:
  skimwatch completions bash > ~/.local/share/bash-completion/completions/skimwatch
  skimwatch completions zsh  > ~/.zfunc/_skimwatch     # with fpath+=(~/.zfunc) before compinit
  skimwatch completions fish > ~/.config/fish/completions/skimwatch.fish")]
pub struct CompletionsArgs {
    /// The shell to write the completion script for.
    #[arg(value_enum)]
    shell: clap_complete::Shell,
}

pub fn run(args: CompletionsArgs, mut cli: clap::Command) -> anyhow::Result<ExitCode> {
    let mut out = std::io::stdout().lock();
    let name = cli.get_name().to_owned();
    clap_complete::generate(args.shell, &mut cli, name, &mut out);
    // `generate` writes without reporting errors: flushing here surfaces a closed stdout
    // (main turns a broken pipe into exit 0) or a full disk as an error.
    out.flush()?;
    Ok(ExitCode::Clean)
}
