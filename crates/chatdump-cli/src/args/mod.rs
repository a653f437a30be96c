//! The command line, as clap types and value parsers. Nothing here does any work: the commands
//! (`crate::commands`) turn these into library calls.

mod api;
mod bulk;
mod convert;
mod media;
mod serve;
mod transcript;
mod values;

use clap::{Parser, Subcommand, ValueEnum};

pub(crate) use api::{ApiArgs, ExportArgs, FetchArgs, TranscriptFormatArg, WithPart};
pub(crate) use bulk::{BulkArgs, CompactArgs, SessionStatusArg};
pub(crate) use convert::{
    ConversionArgs, FormatArg, InputArgs, JsonlFlavorArg, MeetingArgs, OnErrorArg, OutputArgs,
};
pub(crate) use media::{MediaArg, MediaArgs};
pub(crate) use serve::{JobStatusArg, JobsArgs, LogFormat, ServeArgs};
pub(crate) use transcript::TranscriptArgs;

const AFTER_HELP: &str = "\
Examples:
  chatdump convert examples/sample-chat-dump.csv --format jsonl,parquet --output out/
  chatdump convert dump.csv --format jsonl --output - | jq .text
  cat dump.csv | chatdump convert - --format md --output transcript.md
  chatdump convert dump.csv --on-error skip --output out/   # bad rows go to out/dump.rejects.jsonl
  chatdump convert dump.csv --transcript transcript.csv --summary summary.md --format jsonl,html --output out/

Exit status: 0 success, 1 data or I/O error, 2 usage error, 3 some sessions failed,
130 interrupted (SIGINT), 143 terminated (SIGTERM).";

/// Export the chat of a Dyte / Cloudflare `RealtimeKit` meeting session.
#[derive(Debug, Parser)]
#[command(
    name = "chatdump",
    version,
    about = "Export the chat of a Dyte / Cloudflare RealtimeKit meeting session to JSONL, Parquet, Markdown and HTML",
    after_help = AFTER_HELP
)]
pub(crate) struct Cli {
    #[command(subcommand)]
    pub(crate) command: Command,
    /// Print only errors.
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub(crate) quiet: bool,
    /// Print more detail (every warning, where outputs went).
    #[arg(short, long, global = true)]
    pub(crate) verbose: bool,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Convert chat-dump CSV files into JSONL, Parquet, Markdown or HTML.
    #[command(after_help = AFTER_HELP)]
    Convert(ConvertArgs),
    /// Download sessions' chat dumps (CSV) from the Chat Replay API.
    #[command(after_help = api::API_AFTER_HELP)]
    Fetch(FetchArgs),
    /// Download sessions' chat dumps and convert them, as `convert` does.
    #[command(after_help = api::API_AFTER_HELP)]
    Export(Box<ExportArgs>),
    /// Receive `meeting.chatSynced` webhooks and export every meeting's chat as it arrives.
    Serve(Box<ServeArgs>),
    /// List the webhook receiver's recent jobs and their status.
    Jobs(JobsArgs),
    /// Rewrite a day's small per-session Parquet files of a dataset into large ones.
    Compact(CompactArgs),
    /// Print a shell completion script (e.g. `chatdump completions bash > /etc/bash_completion.d/chatdump`).
    Completions(CompletionsArgs),
    /// Print the manual page (roff), e.g. `chatdump man > /usr/local/share/man/man1/chatdump.1`.
    Man,
}

/// `chatdump convert`: the inputs, then how to convert them.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct ConvertArgs {
    #[command(flatten)]
    pub(crate) input: InputArgs,
    #[command(flatten)]
    pub(crate) conversion: ConversionArgs,
    #[command(flatten)]
    pub(crate) meeting: MeetingArgs,
}

/// `chatdump completions`.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct CompletionsArgs {
    /// The shell.
    #[arg(value_enum, ignore_case = true)]
    pub(crate) shell: Shell,
}

/// A shell `chatdump completions` writes a script for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Shell {
    /// GNU Bash.
    Bash,
    /// Z shell.
    Zsh,
    /// fish.
    Fish,
    /// `PowerShell`.
    Powershell,
    /// Elvish.
    Elvish,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cli_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
