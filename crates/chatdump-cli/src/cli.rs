//! The command line, as clap types. Nothing here does any work.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

const AFTER_HELP: &str = "\
Examples:
  chatdump convert examples/sample-chat-dump.csv --format jsonl,parquet --output out/
  chatdump convert dump.csv --format jsonl --output - | jq .text
  cat dump.csv | chatdump convert - --format md --output transcript.md
  chatdump convert dump.csv --on-error skip --output out/   # bad rows go to out/dump.rejects.jsonl

Exit status: 0 success, 1 data or I/O error, 2 usage error.";

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
    #[command(after_help = crate::args_api::API_AFTER_HELP)]
    Fetch(crate::args_api::FetchArgs),
    /// Download sessions' chat dumps and convert them, as `convert` does.
    #[command(after_help = crate::args_api::API_AFTER_HELP)]
    Export(Box<crate::args_api::ExportArgs>),
    /// Receive `meeting.chatSynced` webhooks and export every meeting's chat as it arrives.
    Serve(Box<crate::serve::ServeArgs>),
    /// List the webhook receiver's recent jobs and their status.
    Jobs(crate::serve::JobsArgs),
    /// Rewrite a day's small per-session Parquet files of a dataset into large ones.
    Compact(crate::bulk::CompactArgs),
}

/// An output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, ValueEnum)]
pub(crate) enum Format {
    /// JSON Lines: one object per message (for search indexes and scripts).
    Jsonl,
    /// Apache Parquet (for data warehouses).
    Parquet,
    /// A Markdown transcript.
    #[value(alias = "md")]
    Markdown,
    /// A self-contained HTML transcript.
    Html,
}

/// What to do with a bad record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum OnErrorArg {
    /// Stop at the first bad record, naming its line and column.
    Fail,
    /// Skip bad records and list them in a rejects file.
    Skip,
}

#[derive(Debug, Clone, Args)]
pub(crate) struct ConvertArgs {
    /// Chat-dump CSV files; `-` reads standard input.
    #[arg(required = true, value_name = "INPUT")]
    pub(crate) inputs: Vec<PathBuf>,
    /// Output formats, comma-separated.
    #[arg(short, long, value_delimiter = ',', default_value = "jsonl")]
    pub(crate) format: Vec<Format>,
    /// A directory (one `<input stem>.<ext>` per format), a file (one format), or `-` for
    /// standard output (one format, one input). A path ending in `/`, an existing directory,
    /// several formats or several inputs mean a directory, created if missing.
    #[arg(short, long, value_name = "PATH")]
    pub(crate) output: PathBuf,
    /// What to do with a bad record.
    #[arg(long, value_enum, default_value = "fail")]
    pub(crate) on_error: OnErrorArg,
    /// Where `--on-error skip` lists skipped records (JSONL); default
    /// `<input stem>.rejects.jsonl` in the output directory.
    #[arg(long, value_name = "FILE")]
    pub(crate) rejects: Option<PathBuf>,
    /// The largest record accepted, e.g. `8MiB`; larger is an error (an unterminated quote
    /// would otherwise swallow the whole file).
    #[arg(long, value_name = "SIZE", default_value = "8MiB", value_parser = parse_size)]
    pub(crate) max_record_size: usize,
    /// Memory for putting an out-of-order dump in order, e.g. `4MiB`; beyond it sorted runs
    /// are spilled to temporary files.
    #[arg(long, value_name = "SIZE", default_value = "4MiB", value_parser = parse_size)]
    pub(crate) sort_memory: usize,
    /// Where sorted runs are spilled (default: the system temporary directory).
    #[arg(long, value_name = "DIR")]
    pub(crate) temp_dir: Option<PathBuf>,
    /// Parquet and JSONL output options.
    #[command(flatten)]
    pub(crate) output_options: crate::args_output::OutputArgs,
    /// Markdown and HTML transcript options.
    #[command(flatten)]
    pub(crate) transcript: crate::args_transcript::TranscriptArgs,
    /// The name given to the (one) input in messages and output metadata instead of its path:
    /// `export` names its downloaded file `<session id>.csv`, not its temporary path.
    #[arg(skip)]
    pub(crate) source_name: Option<String>,
}

/// Parses a byte size: a number with an optional `B`, `KiB`, `MiB`, `GiB` (or `K`, `M`, `G`,
/// `KB`, `MB`, `GB`, all binary) suffix.
pub(crate) fn parse_size(text: &str) -> Result<usize, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: usize = number
        .parse()
        .map_err(|_| format!("`{text}` is not a size such as `8MiB`"))?;
    let shift = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 0,
        "k" | "kb" | "kib" => 10,
        "m" | "mb" | "mib" => 20,
        "g" | "gb" | "gib" => 30,
        _ => return Err(format!("`{text}`: unknown unit (use B, KiB, MiB or GiB)")),
    };
    let size = number
        .checked_mul(1 << shift)
        .ok_or_else(|| format!("`{text}` is too large"))?;
    if size == 0 {
        return Err("the size must be more than 0".into());
    }
    Ok(size)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("8MiB"), Ok(8 << 20));
        assert_eq!(parse_size("512"), Ok(512));
        assert_eq!(parse_size("2 g"), Ok(2 << 30));
        assert!(parse_size("0").is_err());
        assert!(parse_size("lots").is_err());
        assert!(parse_size("3 parsecs").is_err());
    }

    #[test]
    fn cli_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
