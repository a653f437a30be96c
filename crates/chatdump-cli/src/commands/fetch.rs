//! `chatdump fetch`: download chat dumps from the Chat Replay API. The session loop, the
//! download with its progress and the stems are shared with `chatdump export`.

use std::collections::HashSet;
use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context as _, anyhow};
use chatdump_api::{
    FetchError, FetchEvent, FetchObserver, Fetched, FetchedParts, Fetcher, PartsRequest,
};
use chatdump_core::escape::escape_for_terminal;
use chatdump_pipeline::session_stem;
use indicatif::ProgressBar;

use crate::args::FetchArgs;
use crate::exit::{SomeFailed, UsageError};
use crate::report::Reporter;
use crate::setup;

/// One session to fetch: its id and the file stem its outputs are named with.
pub(crate) struct Session {
    pub(crate) id: String,
    pub(crate) stem: String,
}

impl Session {
    pub(crate) fn shown(&self) -> String {
        escape_for_terminal(&self.id, 80)
    }
}

/// Where `chatdump fetch` puts the dumps.
enum Target {
    File(PathBuf),
    Directory(PathBuf),
    Stdout,
}

/// `chatdump fetch`.
pub(crate) fn run(args: &FetchArgs, reporter: &mut Reporter) -> anyhow::Result<()> {
    let sessions = sessions(&args.session_ids)?;
    let client = setup::fetcher(&args.api)?;
    let target = match &args.output {
        Some(path) if path.as_os_str() == "-" => {
            if sessions.len() > 1 {
                return Err(
                    UsageError("standard output (`--output -`) takes one session".into()).into(),
                );
            }
            Target::Stdout
        }
        Some(path)
            if sessions.len() == 1 && !path.is_dir() && !path.to_string_lossy().ends_with('/') =>
        {
            Target::File(path.clone())
        }
        Some(path) => Target::Directory(path.clone()),
        None => Target::Directory(PathBuf::from(".")),
    };
    if let Target::Directory(dir) = &target {
        setup::create_directory(dir)?;
    }
    let runtime = setup::current_thread_runtime()?;
    run_sessions(&sessions, reporter, |session, reporter| {
        let started = Instant::now();
        match &target {
            Target::Stdout => {
                // The dump is checked whole before a byte of it reaches standard output.
                let temp = tempfile::Builder::new()
                    .prefix("chatdump-fetch-")
                    .tempdir()
                    .context("cannot create a temporary directory")?;
                let path = temp.path().join(format!("{}.csv", session.stem));
                fetch_one(&runtime, &client, session, &path, reporter)?;
                let mut file = fs::File::open(&path).context("cannot read the downloaded dump")?;
                let mut stdout = io::stdout().lock();
                io::copy(&mut file, &mut stdout)?;
                stdout.flush()?;
                Ok(())
            }
            Target::File(path) => {
                let fetched = fetch_one(&runtime, &client, session, path, reporter)?;
                report_saved(reporter, session, path, &fetched, started);
                Ok(())
            }
            Target::Directory(dir) => {
                let path = dir.join(format!("{}.csv", session.stem));
                let fetched = fetch_one(&runtime, &client, session, &path, reporter)?;
                report_saved(reporter, session, &path, &fetched, started);
                Ok(())
            }
        }
    })
}

/// Runs `one` for every session, reporting each outcome; stops early when the credentials are
/// refused (every other session would fail the same way).
pub(crate) fn run_sessions(
    sessions: &[Session],
    reporter: &mut Reporter,
    mut one: impl FnMut(&Session, &mut Reporter) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    if let [session] = sessions {
        return one(session, reporter);
    }
    let mut failed = 0;
    for (index, session) in sessions.iter().enumerate() {
        match one(session, reporter) {
            Ok(()) => {}
            Err(error) => {
                failed += 1;
                reporter.error(&format!("{error:#}"));
                let credentials = error.chain().any(|cause| {
                    cause
                        .downcast_ref::<FetchError>()
                        .is_some_and(FetchError::is_credentials)
                });
                if credentials {
                    let skipped = sessions.len() - index - 1;
                    if skipped > 0 {
                        reporter.error(&format!(
                            "skipped the {skipped} remaining sessions: the credentials were refused"
                        ));
                    }
                    failed += skipped;
                    break;
                }
            }
        }
    }
    let total = sessions.len();
    if failed == 0 {
        reporter.info(&format!("all {total} sessions done"));
        Ok(())
    } else if failed == total {
        Err(anyhow!("all {total} sessions failed"))
    } else {
        Err(SomeFailed(format!("{failed} of {total} sessions failed")).into())
    }
}

/// Fetches one session's dump into `path` on `runtime`.
pub(crate) fn fetch_one(
    runtime: &tokio::runtime::Runtime,
    fetcher: &Fetcher,
    session: &Session,
    path: &Path,
    reporter: &Reporter,
) -> anyhow::Result<Fetched> {
    observed(reporter, session, |observer| {
        runtime.block_on(fetcher.fetch_to(&session.id, path, observer))
    })
}

/// Runs `fetch` with an observer that reports on `session` (its progress bar cleared after),
/// and names the session in its error.
fn observed<T>(
    reporter: &Reporter,
    session: &Session,
    fetch: impl FnOnce(&mut CliFetchObserver<'_>) -> Result<T, FetchError>,
) -> anyhow::Result<T> {
    let mut observer = CliFetchObserver {
        reporter,
        label: session.shown(),
        bar: None,
    };
    let result = fetch(&mut observer);
    if let Some(bar) = observer.bar.take() {
        bar.finish_and_clear();
    }
    result.map_err(|error| {
        anyhow::Error::new(error).context(format!("session `{}`", session.shown()))
    })
}

/// Fetches the parts `request` asks for of one session into `dir` on `runtime`, and reports each
/// part the API has not got (the chat is exported without it).
pub(crate) fn fetch_parts_one(
    runtime: &tokio::runtime::Runtime,
    fetcher: &Fetcher,
    session: &Session,
    request: PartsRequest,
    dir: &Path,
    reporter: &Reporter,
) -> anyhow::Result<FetchedParts> {
    let downloaded = observed(reporter, session, |observer| {
        runtime.block_on(fetcher.fetch_parts(
            &session.id,
            &request,
            dir,
            &session.stem,
            None,
            observer,
        ))
    })?;
    let parts = &downloaded.parts;
    if parts.transcript.is_some() || parts.summary.is_some() {
        let what: Vec<&str> = [
            parts.transcript.as_ref().map(|_| "the transcript"),
            parts.summary.as_ref().map(|_| "the summary"),
        ]
        .into_iter()
        .flatten()
        .collect();
        reporter.detail(&format!(
            "session `{}`: downloaded {} ({} bytes)",
            session.shown(),
            what.join(" and "),
            downloaded.bytes
        ));
    }
    for missing in &downloaded.not_available {
        // Every value in it is escaped already.
        reporter.info(&format!("note: {missing}; the chat is exported without it"));
    }
    Ok(downloaded)
}

pub(crate) fn report_saved(
    reporter: &Reporter,
    session: &Session,
    path: &Path,
    fetched: &Fetched,
    started: Instant,
) {
    let mut line = format!(
        "session `{}`: saved `{}` ({} bytes in {:.2} s",
        session.shown(),
        escape_for_terminal(&path.display().to_string(), 200),
        fetched.bytes,
        started.elapsed().as_secs_f64()
    );
    if fetched.download_retries > 0 {
        line.push_str(&format!(", {} retries", fetched.download_retries));
    }
    if fetched.link_refreshes > 0 {
        line.push_str(&format!(", {} fresh links", fetched.link_refreshes));
    }
    line.push(')');
    reporter.info(&line);
}

/// Reports fetch events on stderr and draws the progress bar (on a terminal only).
struct CliFetchObserver<'r> {
    reporter: &'r Reporter,
    label: String,
    bar: Option<ProgressBar>,
}

impl CliFetchObserver<'_> {
    fn say(&self, text: &str, detail: bool) {
        let print = || {
            if detail {
                self.reporter.detail(text);
            } else {
                self.reporter.info(text);
            }
        };
        match &self.bar {
            Some(bar) => bar.suspend(print),
            None => print(),
        }
    }
}

impl FetchObserver for CliFetchObserver<'_> {
    fn download_started(&mut self, total: Option<u64>, offset: u64) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
        let bar = self.reporter.progress(total, &self.label);
        bar.set_position(offset);
        self.bar = Some(bar);
    }

    fn progress(&mut self, bytes: u64) {
        if let Some(bar) = &self.bar {
            bar.set_position(bytes);
        }
    }

    fn event(&mut self, event: &FetchEvent) {
        // `FetchEvent`'s `Display` escapes every value for the terminal.
        self.say(
            &format!("session `{}`: {event}", self.label),
            event.is_detail(),
        );
    }
}

/// The sessions named on the command line, each once, with its file stem
/// ([`session_stem`], the rule every entry point shares).
pub(crate) fn sessions(ids: &[String]) -> anyhow::Result<Vec<Session>> {
    if ids.is_empty() {
        return Err(UsageError("name at least one session with --session-id".into()).into());
    }
    let mut seen = HashSet::new();
    let mut sessions = Vec::new();
    for id in ids {
        if id.trim().is_empty() {
            return Err(UsageError("a session id is empty".into()).into());
        }
        if seen.insert(id.clone()) {
            let stem = session_stem(id)?;
            sessions.push(Session {
                id: id.clone(),
                stem,
            });
        }
    }
    Ok(sessions)
}
