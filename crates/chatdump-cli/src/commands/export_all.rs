//! `chatdump export --all`: every session of the organisation into a partitioned Parquet
//! dataset, on object storage or a local directory.

use std::io::IsTerminal as _;
use std::sync::Arc;
use std::time::Duration;

use chatdump_api::sessions::SessionQuery;
use chatdump_bulk::{BulkObserver, Event, ExportOptions, Report, RunDir, write_json};
use chatdump_core::escape::escape_for_terminal;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use jiff::Timestamp;

use crate::args::{ExportArgs, FormatArg, SessionStatusArg};
use crate::exit::{SomeFailed, UsageError};
use crate::report::Reporter;
use crate::setup;

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
        // `Event::line` escapes the id and the reason for the terminal.
        let Some(line) = event.line(session_id, reason) else {
            return;
        };
        self.bar.suspend(|| self.reporter.detail(&line));
    }
}

/// `chatdump export --all`.
pub(crate) fn run(args: &ExportArgs, reporter: &mut Reporter) -> anyhow::Result<()> {
    let bulk = &args.bulk;
    let output = args.conversion.output.to_string_lossy().into_owned();
    if output == "-" {
        return Err(
            UsageError("--all writes a dataset: `--output -` is not supported".into()).into(),
        );
    }
    if args
        .conversion
        .format
        .iter()
        .any(|format| *format != FormatArg::Parquet)
    {
        return Err(UsageError(
            "--all writes a Parquet dataset: `--format` may only be `parquet`".into(),
        )
        .into());
    }
    let store = setup::open_store(&output, bulk.part_size)?;
    let fetcher = Arc::new(setup::fetcher(&args.api)?);
    let temp_root = setup::temp_dir(args.conversion.temp_dir.as_deref());
    let run_dir = RunDir::create(&temp_root)?;
    let mut options = ExportOptions::new(Timestamp::now(), run_dir.path().to_owned());
    options.query = SessionQuery {
        since: bulk.since,
        until: bulk.until,
        meeting_id: bulk.meeting_id.clone(),
        status: bulk.status.map(|status| match status {
            SessionStatusArg::Live => "LIVE".to_owned(),
            SessionStatusArg::Ended => "ENDED".to_owned(),
        }),
    };
    options.concurrency = usize::from(bulk.concurrency);
    options.requests_per_minute = bulk.rate_limit;
    options.with_participants = bulk.with_participants;
    options.retry_skipped = bulk.retry_skipped;
    options.parquet = setup::parquet_options(&args.conversion.output_options);
    options.media = setup::media_settings(&args.conversion.media);
    options.parts = setup::parts_request(args);
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
    let result = setup::multi_thread_runtime(2)?.block_on(chatdump_bulk::export_all(
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
    for problem in &report.parts_not_available {
        reporter.detail(&format!(
            "note: {}; the chat was exported without it",
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
    if !report.parts_not_available.is_empty() {
        reporter.info(&format!(
            "note: {} meeting parts asked for with --with were not available (HTTP 404); those sessions' chat was exported without them (listed with -v and in --report-json)",
            report.parts_not_available.len()
        ));
    }
}
