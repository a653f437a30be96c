//! The `chatdump` binary: parses the command line and calls the libraries.

mod args_api;
mod args_output;
mod args_transcript;
mod bulk;
mod cli;
mod convert;
mod fetch;
mod formats;
mod report;
mod serve;
mod signals;

use std::io;
use std::process::ExitCode;

use clap::Parser;

use crate::cli::{Cli, Command};
use crate::report::Reporter;

/// A mistake in how chatdump was called: exit status 2.
#[derive(Debug)]
pub(crate) struct UsageError(pub(crate) String);

impl std::fmt::Display for UsageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UsageError {}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // `serve` handles these signals itself: it stops gracefully and requeues running jobs.
    if !matches!(cli.command, Command::Serve(_)) {
        signals::exit_cleanly_on_interrupt();
    }
    let no_color = std::env::var_os("NO_COLOR").is_some_and(|value| !value.is_empty());
    let mut reporter = Reporter::new(cli.quiet, cli.verbose, no_color);
    let result = match &cli.command {
        Command::Convert(args) => convert::run(args, &mut reporter),
        Command::Fetch(args) => fetch::run_fetch(args, &mut reporter),
        Command::Export(args) => fetch::run_export(args, &mut reporter),
        Command::Serve(args) => serve::run_serve(args, cli.quiet, cli.verbose),
        Command::Jobs(args) => serve::run_jobs(args),
        Command::Compact(args) => bulk::run_compact(args, &mut reporter),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) if is_broken_pipe(&error) => ExitCode::SUCCESS,
        Err(error) => {
            reporter.error(&format!("{error:#}"));
            if error.downcast_ref::<UsageError>().is_some() {
                ExitCode::from(2)
            } else if error.downcast_ref::<fetch::SomeSessionsFailed>().is_some()
                || error.downcast_ref::<bulk::SomeFailed>().is_some()
            {
                ExitCode::from(3)
            } else {
                ExitCode::FAILURE
            }
        }
    }
}

/// Whether the error comes from writing to a closed pipe (`chatdump ... | head`): not an error.
fn is_broken_pipe(error: &anyhow::Error) -> bool {
    let is_broken_pipe = |error: &io::Error| error.kind() == io::ErrorKind::BrokenPipe;
    error.chain().any(|cause| {
        // `ExportError::Io` is transparent: its `io::Error` is not a separate link of the chain.
        cause
            .downcast_ref::<io::Error>()
            .is_some_and(is_broken_pipe)
            || matches!(
                cause.downcast_ref::<chatdump_core::export::ExportError>(),
                Some(chatdump_core::export::ExportError::Io(error)) if is_broken_pipe(error)
            )
    })
}
