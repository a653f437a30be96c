//! `chatdump completions SHELL` and `chatdump man`: generated from the clap definitions.

use std::io::{self, Write as _};

use clap::CommandFactory as _;
use clap_complete::Shell as Target;

use crate::args::{Cli, Shell};

/// Prints the completion script for `shell` on standard output.
pub(crate) fn run(shell: Shell) -> anyhow::Result<()> {
    let target = match shell {
        Shell::Bash => Target::Bash,
        Shell::Zsh => Target::Zsh,
        Shell::Fish => Target::Fish,
        Shell::Powershell => Target::PowerShell,
        Shell::Elvish => Target::Elvish,
    };
    // Generated into memory first: `clap_complete` panics on a write error, and a closed pipe
    // (`chatdump completions bash | head`) must end quietly.
    let mut script = Vec::new();
    clap_complete::generate(target, &mut Cli::command(), "chatdump", &mut script);
    let mut out = io::stdout().lock();
    out.write_all(&script)?;
    out.flush()?;
    Ok(())
}

/// Prints the manual page (roff) on standard output: the main page, then one section per
/// subcommand.
pub(crate) fn man() -> anyhow::Result<()> {
    let command = Cli::command();
    let mut out = io::stdout().lock();
    clap_mangen::Man::new(command.clone()).render(&mut out)?;
    for sub in command.get_subcommands().filter(|sub| !sub.is_hide_set()) {
        let sub = sub
            .clone()
            .display_name(format!("chatdump-{}", sub.get_name()));
        clap_mangen::Man::new(sub).render(&mut out)?;
    }
    out.flush()?;
    Ok(())
}
