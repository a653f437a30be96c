//! `chatdump export --all` (every session of the organisation into a partitioned Parquet
//! dataset, on object storage or a local directory) and `chatdump compact`.

use std::io::IsTerminal as _;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use chatdump_api::sessions::SessionQuery;
use chatdump_bulk::{BulkObserver, CompactOptions, Event, ExportOptions, Report, Store};
use chatdump_core::escape::escape_for_terminal;
use clap::{Args, ValueEnum};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use jiff::Timestamp;
use jiff::civil::Date;

use crate::UsageError;
use crate::args_api::ExportArgs;
use crate::report::Reporter;

/// Some sessions failed (or the listing stopped early): exit status 3.
#[derive(Debug)]
pub(crate) struct SomeFailed(pub(crate) String);

impl std::fmt::Display for SomeFailed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for SomeFailed {}

/// A session state for `--status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum StatusArg {
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
    /// apply.
    #[arg(
        long,
        conflicts_with_all = ["session_ids", "format", "on_error", "rejects", "keep_csv"]
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
    #[arg(long, value_enum, requires = "all")]
    pub(crate) status: Option<StatusArg>,
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
    #[arg(long, value_name = "SIZE", default_value = "10MiB", value_parser = crate::cli::parse_size)]
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
    #[arg(long, value_name = "SIZE", default_value = "128MiB", value_parser = crate::cli::parse_size)]
    pub(crate) target_size: usize,
    /// Where files are staged locally [default: the system temporary directory].
    #[arg(long, value_name = "DIR")]
    pub(crate) temp_dir: Option<PathBuf>,
    /// Also write the compaction report as JSON to FILE.
    #[arg(long, value_name = "FILE")]
    pub(crate) report_json: Option<PathBuf>,
    /// Uploads larger than this are multipart, in parts of this size (S3 needs 5 MiB or more).
    #[arg(long, value_name = "SIZE", default_value = "10MiB", value_parser = crate::cli::parse_size)]
    pub(crate) part_size: usize,
}

fn parse_time(text: &str) -> Result<Timestamp, String> {
    if let Ok(time) = text.parse::<Timestamp>() {
        return Ok(time);
    }
    text.parse::<Date>()
        .ok()
        .and_then(|date| format!("{date}T00:00:00Z").parse::<Timestamp>().ok())
        .ok_or_else(|| {
            format!("`{text}` is not a time: use RFC 3339 (`2024-05-14T09:00:00Z`) or a date (`2024-05-14`)")
        })
}

/// Object-store settings from the environment: the variables `object_store`'s builders read.
fn store_settings() -> Vec<(String, String)> {
    std::env::vars()
        .filter(|(key, _)| {
            key.starts_with("AWS_") || key.starts_with("GOOGLE_") || key.starts_with("AZURE_")
        })
        .collect()
}

fn open_store(location: &str) -> anyhow::Result<Store> {
    // The same crypto provider the API client uses; `Err` means one is installed already.
    let _ = rustls::crypto::ring::default_provider().install_default();
    Store::open(location, &store_settings()).map_err(|error| match error {
        chatdump_bulk::BulkError::Location { .. } => UsageError(error.to_string()).into(),
        error => anyhow::Error::new(error),
    })
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("cannot start the network runtime")
}

/// Writes `value` as pretty JSON to `path`, atomically.
fn write_json(path: &std::path::Path, value: &impl serde::Serialize) -> anyhow::Result<()> {
    let shown = escape_for_terminal(&path.display().to_string(), 200);
    let file = chatdump_core::output::AtomicFile::create(path)
        .with_context(|| format!("cannot write `{shown}`"))?;
    let mut handle = file
        .reopen()
        .with_context(|| format!("cannot write `{shown}`"))?;
    serde_json::to_writer_pretty(&mut handle, value)
        .with_context(|| format!("cannot write `{shown}`"))?;
    std::io::Write::write_all(&mut handle, b"\n")
        .with_context(|| format!("cannot write `{shown}`"))?;
    drop(handle);
    file.commit()
        .with_context(|| format!("cannot write `{shown}`"))
}

/// This run's temporary directory, `.chatdump-bulk-run-<pid>` in the temporary directory, removed
/// when dropped. The sessions in flight keep their files there; a run that was killed (SIGINT
/// exits at once, SIGKILL cannot be caught) leaves it behind, so each run first removes those of
/// runs whose process is gone (Linux: no `/proc/<pid>`).
struct RunDir(PathBuf);

const RUN_DIR_PREFIX: &str = ".chatdump-bulk-run-";

impl RunDir {
    fn create(temp_root: &std::path::Path) -> anyhow::Result<Self> {
        if cfg!(target_os = "linux")
            && let Ok(entries) = std::fs::read_dir(temp_root)
        {
            for entry in entries.flatten() {
                let name = entry.file_name();
                let pid = name
                    .to_str()
                    .and_then(|name| name.strip_prefix(RUN_DIR_PREFIX))
                    .and_then(|pid| pid.parse::<u32>().ok());
                if let Some(pid) = pid
                    && !std::path::Path::new(&format!("/proc/{pid}")).exists()
                {
                    let _ = std::fs::remove_dir_all(entry.path());
                }
            }
        }
        let dir = temp_root.join(format!("{RUN_DIR_PREFIX}{}", std::process::id()));
        std::fs::create_dir_all(&dir).with_context(|| {
            format!(
                "cannot create the temporary directory `{}`",
                escape_for_terminal(&dir.display().to_string(), 200)
            )
        })?;
        Ok(Self(dir))
    }
}

impl Drop for RunDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Progress over sessions: a bar on a terminal, one line per problem with `-v`.
struct Progress<'r> {
    bar: ProgressBar,
    reporter: &'r Reporter,
}

impl BulkObserver for Progress<'_> {
    fn listed(&mut self, found: u64, total: Option<u64>) {
        self.bar.set_length(total.unwrap_or(found).max(found));
    }

    fn session(&mut self, session_id: &str, event: Event, reason: Option<&str>) {
        self.bar.inc(1);
        let id = escape_for_terminal(session_id, 80);
        let line = match (event, reason) {
            (Event::Failed, Some(reason)) => format!("session `{id}` failed: {reason}"),
            (Event::Skipped, Some(reason)) => format!("session `{id}` skipped: {reason}"),
            (Event::Exported, _) => format!("session `{id}` exported"),
            _ => return,
        };
        self.bar.suspend(|| self.reporter.detail(&line));
    }
}

/// `chatdump export --all`.
pub(crate) fn run_export_all(args: &ExportArgs, reporter: &mut Reporter) -> anyhow::Result<()> {
    let bulk = &args.bulk;
    let output = args.convert.output.to_string_lossy().into_owned();
    if output == "-" {
        return Err(
            UsageError("--all writes a dataset: `--output -` is not supported".into()).into(),
        );
    }
    let store = open_store(&output)?.with_part_size(bulk.part_size);
    let fetcher = Arc::new(crate::fetch::fetcher(&args.api)?);
    let temp_root = args
        .convert
        .temp_dir
        .clone()
        .unwrap_or_else(std::env::temp_dir);
    let run_dir = RunDir::create(&temp_root)?;
    let mut options = ExportOptions::new(Timestamp::now(), run_dir.0.clone());
    options.query = SessionQuery {
        since: bulk.since,
        until: bulk.until,
        meeting_id: bulk.meeting_id.clone(),
        status: bulk.status.map(|status| match status {
            StatusArg::Live => "LIVE".to_owned(),
            StatusArg::Ended => "ENDED".to_owned(),
        }),
    };
    options.concurrency = usize::from(bulk.concurrency);
    options.requests_per_minute = bulk.rate_limit;
    options.with_participants = bulk.with_participants;
    options.retry_skipped = bulk.retry_skipped;
    options.parquet = args.convert.output_options.parquet_options();
    env!("CARGO_PKG_VERSION").clone_into(&mut options.tool_version);
    let probe = reporter.progress(Some(0), "");
    let draw = !probe.is_hidden() && std::io::stderr().is_terminal();
    probe.finish_and_clear();
    let bar = if draw {
        let bar = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr()).with_style(
            ProgressStyle::with_template("sessions [{bar:30}] {pos}/{len} {per_sec} ETA {eta}")
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
        );
        bar.enable_steady_tick(Duration::from_millis(200));
        bar
    } else {
        ProgressBar::hidden()
    };
    let mut progress = Progress { bar, reporter };
    let result = runtime()?.block_on(chatdump_bulk::export_all(
        fetcher,
        store,
        options,
        &mut progress,
    ));
    progress.bar.finish_and_clear();
    let report = result?;
    print_report(reporter, &report);
    if let Some(path) = &bulk.report_json {
        write_json(path, &report)?;
    }
    if report.all_succeeded() {
        Ok(())
    } else {
        let mut text = format!(
            "{} of {} sessions failed",
            report.failed.len(),
            report.sessions_found
        );
        if let Some(error) = &report.listing_error {
            text.push_str(&format!("; the listing stopped early: {error}"));
        }
        Err(SomeFailed(text).into())
    }
}

fn print_report(reporter: &Reporter, report: &Report) {
    for problem in &report.failed {
        reporter.info(&format!(
            "failed: session `{}`: {}",
            escape_for_terminal(&problem.session_id, 80),
            escape_for_terminal(&problem.reason, 400)
        ));
    }
    for problem in &report.skipped {
        reporter.detail(&format!(
            "skipped: session `{}`: {}",
            escape_for_terminal(&problem.session_id, 80),
            escape_for_terminal(&problem.reason, 400)
        ));
    }
    reporter.info(&format!(
        "sessions: {} found, {} exported, {} already exported, {} skipped (no chat), {} failed; {} messages, {} bytes written",
        report.sessions_found,
        report.exported,
        report.already_exported,
        report.skipped.len(),
        report.failed.len(),
        report.messages_written,
        report.bytes_written
    ));
}

/// `chatdump compact`.
pub(crate) fn run_compact(args: &CompactArgs, reporter: &mut Reporter) -> anyhow::Result<()> {
    let (from, to) = match (args.date, args.from, args.to) {
        (Some(date), _, _) => (date, date),
        (None, Some(from), Some(to)) => (from, to),
        _ => return Err(UsageError("give --date, or --from and --to".into()).into()),
    };
    if from > to {
        return Err(UsageError(format!("--from {from} is after --to {to}")).into());
    }
    if args.target_size == 0 {
        return Err(UsageError("--target-size must be above 0".into()).into());
    }
    let store = open_store(&args.root)?.with_part_size(args.part_size);
    let options = CompactOptions {
        from,
        to,
        target_size: args.target_size as u64,
        temp_dir: args.temp_dir.clone().unwrap_or_else(std::env::temp_dir),
    };
    let report = runtime()?.block_on(chatdump_bulk::compact(&store, &options))?;
    if report.recovered {
        reporter.info("finished an interrupted compaction first");
    }
    if report.days.is_empty() {
        reporter.info("nothing to compact");
    }
    for day in &report.days {
        reporter.info(&format!(
            "{}: {} files ({} bytes) -> {} files ({} bytes), {} rows",
            day.date,
            day.files_before,
            day.bytes_before,
            day.files_after,
            day.bytes_after,
            day.rows
        ));
    }
    if let Some(path) = &args.report_json {
        write_json(path, &report)?;
    }
    Ok(())
}
