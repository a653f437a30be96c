//! The flags of `chatdump export --all` and `chatdump compact`.

use std::path::PathBuf;

use clap::{Args, ValueEnum};
use jiff::Timestamp;
use jiff::civil::Date;

use super::values::{parse_size, parse_time};

/// A session state for `--status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum SessionStatusArg {
    /// Sessions still running.
    Live,
    /// Sessions that have ended.
    Ended,
}

/// The `export --all` flags.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Bulk export (--all)")]
pub(crate) struct BulkArgs {
    /// Export every session the API lists (filtered by the flags below) into a Parquet dataset
    /// `OUTPUT/date=YYYY-MM-DD/<session_id>.parquet`, with a manifest so re-runs resume. OUTPUT
    /// may be `s3://bucket/prefix`, `gs://…`, `az://…`, `file://…` or a local directory. Of the
    /// conversion flags, the Parquet ones (`--compression`, `--row-group-size`) and `--temp-dir`
    /// apply; `--format` may only be `parquet`.
    #[arg(
        long,
        conflicts_with_all = ["session_ids", "on_error", "rejects", "keep_csv"]
    )]
    pub(crate) all: bool,
    /// Only sessions started at or after this time (RFC 3339, or a date meaning its midnight
    /// UTC).
    #[arg(long, value_name = "TIME", requires = "all", value_parser = parse_time)]
    pub(crate) since: Option<Timestamp>,
    /// Only sessions started before this time (RFC 3339, or a date meaning its midnight UTC).
    #[arg(long, value_name = "TIME", requires = "all", value_parser = parse_time)]
    pub(crate) until: Option<Timestamp>,
    /// Only the sessions of this meeting.
    #[arg(long, value_name = "ID", requires = "all")]
    pub(crate) meeting_id: Option<String>,
    /// Only sessions in this state.
    #[arg(long, value_enum, requires = "all", ignore_case = true)]
    pub(crate) status: Option<SessionStatusArg>,
    /// Sessions exported at once.
    #[arg(long, value_name = "N", default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=64))]
    pub(crate) concurrency: u16,
    /// API calls started per minute, at most [default: 1500 for dyte (documented limit 2000),
    /// 200 for realtimekit (documented global limit 1200 per 5 minutes); 0: no limit].
    #[arg(long, value_name = "N")]
    pub(crate) rate_limit: Option<u32>,
    /// Add `user_id` and `custom_participant_id` to every message, from the session's
    /// participants (`GET /sessions/{id}/participants`).
    #[arg(long, requires = "all")]
    pub(crate) with_participants: bool,
    /// Try again sessions an earlier run skipped for having no chat.
    #[arg(long, requires = "all")]
    pub(crate) retry_skipped: bool,
    /// Also write the run report as JSON to FILE.
    #[arg(long, value_name = "FILE")]
    pub(crate) report_json: Option<PathBuf>,
    /// Uploads larger than this are multipart, in parts of this size (S3 needs 5 MiB or more).
    #[arg(long, value_name = "SIZE", default_value = "10MiB", value_parser = parse_size)]
    pub(crate) part_size: usize,
}

/// `chatdump compact`.
#[derive(Debug, Args)]
pub(crate) struct CompactArgs {
    /// The dataset root: a local directory, `file://…`, `s3://bucket/prefix`, `gs://…`, `az://…`.
    #[arg(value_name = "ROOT")]
    pub(crate) root: String,
    /// The day to compact (`YYYY-MM-DD`).
    #[arg(long, value_name = "DATE", conflicts_with_all = ["from", "to"], required_unless_present_all = ["from", "to"])]
    pub(crate) date: Option<Date>,
    /// The first day of a range (with --to).
    #[arg(long, value_name = "DATE", requires = "to")]
    pub(crate) from: Option<Date>,
    /// The last day of a range, inclusive (with --from).
    #[arg(long, value_name = "DATE", requires = "from")]
    pub(crate) to: Option<Date>,
    /// The size of each compacted file.
    #[arg(long, value_name = "SIZE", default_value = "128MiB", value_parser = parse_size)]
    pub(crate) target_size: usize,
    /// Where files are staged locally [default: the system temporary directory].
    #[arg(long, value_name = "DIR")]
    pub(crate) temp_dir: Option<PathBuf>,
    /// Also write the compaction report as JSON to FILE.
    #[arg(long, value_name = "FILE")]
    pub(crate) report_json: Option<PathBuf>,
    /// Uploads larger than this are multipart, in parts of this size (S3 needs 5 MiB or more).
    #[arg(long, value_name = "SIZE", default_value = "10MiB", value_parser = parse_size)]
    pub(crate) part_size: usize,
}
