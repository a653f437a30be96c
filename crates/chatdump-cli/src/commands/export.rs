//! `chatdump export`: download sessions' dumps, then convert each through the pipeline exactly
//! as `chatdump convert` would.

use std::fs;
use std::time::Instant;

use anyhow::Context as _;
use chatdump_core::escape::escape_for_terminal;
use chatdump_pipeline::{Destination, Source};

use crate::args::ExportArgs;
use crate::commands::convert::convert_and_report;
use crate::commands::fetch::{fetch_one, fetch_parts_one, report_saved, run_sessions, sessions};
use crate::exit::UsageError;
use crate::report::Reporter;
use crate::setup;

/// `chatdump export`.
pub(crate) fn run(args: &ExportArgs, reporter: &mut Reporter) -> anyhow::Result<()> {
    let conversion = &args.conversion;
    let dir = conversion.output.clone();
    if dir.as_os_str() == "-" {
        return Err(UsageError(
            "export writes to a directory: `--output -` is not supported (use `chatdump fetch --output - | chatdump convert -`)".into(),
        )
        .into());
    }
    if dir.exists() && !dir.is_dir() {
        return Err(UsageError(format!(
            "`{}` is a file, but export writes to a directory",
            escape_for_terminal(&dir.display().to_string(), 200)
        ))
        .into());
    }
    if conversion.rejects.is_some() && args.session_ids.len() > 1 {
        return Err(UsageError(
            "--rejects names one file: give one session, or let each session's rejects go to the output directory".into(),
        )
        .into());
    }
    let sessions = sessions(&args.session_ids)?;
    let client = setup::fetcher(&args.api)?;
    let parts = setup::parts_request(args);
    let conversion = setup::conversion(conversion, reporter.is_verbose());
    let plan = conversion.plan(Destination::Directory(dir.clone()));
    let created = !dir.exists();
    setup::create_directory(&dir)?;
    let runtime = setup::current_thread_runtime()?;
    let result = run_sessions(&sessions, reporter, |session, reporter| {
        let started = Instant::now();
        // The CSV goes beside the outputs when kept, else to a hidden directory inside the
        // output directory (same file system, removed when done).
        let scratch = if args.keep_csv {
            None
        } else {
            Some(
                tempfile::Builder::new()
                    .prefix(".chatdump-export-")
                    .tempdir_in(&dir)
                    .context("cannot create a temporary directory in the output directory")?,
            )
        };
        let csv = scratch
            .as_ref()
            .map_or(dir.as_path(), tempfile::TempDir::path)
            .join(format!("{}.csv", session.stem));
        let fetched = fetch_one(&runtime, &client, session, &csv, reporter)?;
        if args.keep_csv {
            report_saved(reporter, session, &csv, &fetched, started);
        } else {
            reporter.detail(&format!(
                "session `{}`: downloaded {} bytes",
                session.shown(),
                fetched.bytes
            ));
        }
        let mut source = Source::session(&csv, &session.id)?;
        if parts.any() {
            // The transcript and summary go where the CSV went (`<stem>.transcript.source`,
            // `<stem>.summary.source`: never an output's name).
            let dir = csv.parent().unwrap_or(dir.as_path());
            let fetched = fetch_parts_one(&runtime, &client, session, parts, dir, reporter)?;
            source.parts = fetched.parts;
        }
        convert_and_report(&[source], &plan, &conversion.options, reporter)
            .map(drop)
            .with_context(|| format!("session `{}`", session.shown()))
    });
    if result.is_err() && created {
        // Leave things as they were: `remove_dir` only removes the directory if it is empty.
        let _ = fs::remove_dir(&dir);
    }
    result
}
