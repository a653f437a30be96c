//! What to read (`InputArgs`) and how to convert it (`ConversionArgs`, shared by `convert`,
//! `export` and `serve`).

use std::path::PathBuf;

use chatdump_parquet::{Compression, DEFAULT_ROW_GROUP_ROWS};
use clap::{Args, ValueEnum};
use jiff::Timestamp;

use super::TranscriptArgs;
use super::values::{parse_compression, parse_index, parse_rows, parse_size};

/// An output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, ValueEnum)]
pub(crate) enum FormatArg {
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

/// How a Parquet output is split into files.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum PartitionBy {
    /// A hive-partitioned dataset: `ROOT/date=YYYY-MM-DD/<session_id>.parquet`.
    Date,
}

/// The shape of the JSONL output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum JsonlFlavorArg {
    /// One message object per line.
    Plain,
    /// An Elasticsearch / OpenSearch `_bulk` body (needs `--index`).
    #[value(alias = "opensearch")]
    Elasticsearch,
    /// Meilisearch documents: one primary-key field `id`.
    Meilisearch,
    /// Typesense documents: string `id`, int64 `created_at_ms`.
    Typesense,
}

/// The chat dumps `convert` reads.
#[derive(Debug, Clone, Args)]
pub(crate) struct InputArgs {
    /// Chat-dump CSV files; `-` reads standard input.
    #[arg(required = true, value_name = "INPUT")]
    pub(crate) inputs: Vec<PathBuf>,
}

/// The meeting's other parts, converted with its chat (`convert` only).
#[allow(
    clippy::doc_markdown,
    reason = "the comments are `--help` text, where WebVTT is a word, not code"
)]
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Meeting archive (speech transcript and summary)")]
pub(crate) struct MeetingArgs {
    /// The session's speech transcript: CSV (with or without its header), JSON, WebVTT or SRT,
    /// recognised from the content. Its utterances go on the Markdown / HTML timeline with the
    /// chat, and to `<stem>.transcript.jsonl` / `.transcript.parquet` when JSONL / Parquet is
    /// asked for. One chat input only.
    #[arg(long, value_name = "FILE")]
    pub(crate) transcript: Option<PathBuf>,
    /// The session's AI summary (plain text or Markdown: `.md` / `.txt`, else recognised from
    /// the content): at the top of the Markdown / HTML transcript, and copied to
    /// `<stem>.summary.md` or `.txt`. One chat input only.
    #[arg(long, value_name = "FILE")]
    pub(crate) summary: Option<PathBuf>,
    /// When the session started (RFC 3339, its `started_at`, e.g. `2024-05-14T09:00:00Z`): the
    /// times of JSON, WebVTT and SRT transcripts count from it. Required by those, never
    /// guessed from the chat; CSV transcripts carry their own times.
    #[arg(long, value_name = "TIME", requires = "transcript", value_parser = parse_instant)]
    pub(crate) session_start: Option<Timestamp>,
}

/// Parses an RFC 3339 instant with its offset (a date alone is refused: a session's start is
/// an instant).
fn parse_instant(text: &str) -> Result<Timestamp, String> {
    text.parse::<Timestamp>().map_err(|_| {
        format!(
            "`{}` is not an RFC 3339 time with an offset, e.g. `2024-05-14T09:00:00Z`",
            chatdump_core::escape::escape_for_terminal(text, 80)
        )
    })
}

/// How dumps are converted, and where the outputs go.
#[derive(Debug, Clone, Args)]
pub(crate) struct ConversionArgs {
    /// Output formats, comma-separated [default: jsonl].
    #[arg(short, long, value_delimiter = ',', ignore_case = true)]
    pub(crate) format: Vec<FormatArg>,
    /// A directory (one `<input stem>.<ext>` per format), a file (one format), or `-` for
    /// standard output (one format, one input). A path ending in `/`, an existing directory,
    /// several formats or several inputs mean a directory, created if missing.
    #[arg(short, long, value_name = "PATH")]
    pub(crate) output: PathBuf,
    /// What to do with a bad record.
    #[arg(long, value_enum, default_value = "fail", ignore_case = true)]
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
    /// Where temporary files go: sorted runs, transcript spools, a copy of standard input
    /// (default: the system temporary directory, `$TMPDIR` or `/tmp`).
    #[arg(long, value_name = "DIR")]
    pub(crate) temp_dir: Option<PathBuf>,
    /// Parquet and JSONL output options.
    #[command(flatten)]
    pub(crate) output_options: OutputArgs,
    /// Markdown and HTML transcript options.
    #[command(flatten)]
    pub(crate) transcript: TranscriptArgs,
    /// Saving the images and files the chat links to.
    #[command(flatten)]
    pub(crate) media: super::MediaArgs,
}

/// Flags for the Parquet and JSONL outputs.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Parquet and JSONL output")]
pub(crate) struct OutputArgs {
    /// Parquet compression: `snappy`, `zstd` (level 3), `zstd=LEVEL` (1-22) or `none`.
    #[arg(long, value_name = "CODEC", default_value = "snappy", value_parser = parse_compression)]
    pub(crate) compression: Compression,
    /// The most rows in one Parquet row group (a group is also closed at 32 MiB).
    #[arg(long, value_name = "ROWS", default_value_t = DEFAULT_ROW_GROUP_ROWS, value_parser = parse_rows)]
    pub(crate) row_group_size: usize,
    /// Write Parquet as a hive-partitioned dataset under the output directory:
    /// `DIR/date=YYYY-MM-DD/<session_id>.parquet`; exporting a session again replaces its file.
    #[arg(long, value_enum, value_name = "KEY", ignore_case = true)]
    pub(crate) partition_by: Option<PartitionBy>,
    /// The JSONL shape: plain, or ready for a search index.
    #[arg(
        long,
        value_enum,
        value_name = "FLAVOR",
        default_value = "plain",
        ignore_case = true
    )]
    pub(crate) jsonl_flavor: JsonlFlavorArg,
    /// The Elasticsearch / OpenSearch index named in every `_bulk` action line.
    #[arg(
        long,
        value_name = "NAME",
        value_parser = parse_index,
        required_if_eq("jsonl_flavor", "elasticsearch")
    )]
    pub(crate) index: Option<String>,
}
