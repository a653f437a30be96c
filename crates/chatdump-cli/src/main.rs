//! The `chatdump` binary: parses the command line and calls the libraries.
//!
//! `args` holds the clap types; `commands` turns each subcommand's arguments into library calls
//! (through `setup`, which builds the libraries' options) and `report` prints on stderr.

#![allow(
    clippy::disallowed_methods,
    reason = "the binary is where the environment, the clock and the system temporary directory are read, and passed to the libraries"
)]

mod args;
mod commands;
mod exit;
mod report;
mod setup;
mod signals;

use std::ffi::OsString;
use std::process::ExitCode;

use clap::Parser;

use crate::args::{Cli, Command};
use crate::report::Reporter;

fn main() -> ExitCode {
    let arguments: Vec<OsString> = std::env::args_os().collect();
    let cli = Cli::parse_from(&arguments);
    // An interrupted run must leave no partial output: temporary files are removed, then the
    // process exits with 128 + the signal's number.
    // `serve` handles these signals itself: it stops gracefully and requeues running jobs.
    if !matches!(cli.command, Command::Serve(_)) {
        signals::exit_cleanly_on_interrupt();
    }
    let no_color = std::env::var_os("NO_COLOR").is_some_and(|value| !value.is_empty());
    let mut reporter = Reporter::new(cli.quiet, cli.verbose, no_color);
    let result = match &cli.command {
        Command::Convert(args) => commands::convert::run(args, &mut reporter),
        Command::Fetch(args) => commands::fetch::run(args, &mut reporter),
        Command::Export(args) if args.bulk.all => commands::export_all::run(args, &mut reporter),
        Command::Export(args) => commands::export::run(args, &mut reporter),
        Command::Serve(args) => commands::serve::run(args, &arguments, cli.quiet, cli.verbose),
        Command::Jobs(args) => commands::jobs::run(args),
        Command::Compact(args) => commands::compact::run(args, &mut reporter),
        Command::Completions(args) => commands::completions::run(args.shell),
        Command::Man => commands::completions::man(),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) if exit::is_broken_pipe(&error) => ExitCode::SUCCESS,
        Err(error) => {
            reporter.error(&format!("{error:#}"));
            ExitCode::from(exit::status(&error))
        }
    }
}
