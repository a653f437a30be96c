//! `chatdump fetch` and `chatdump export`: download chat dumps from the Chat Replay API, then
//! (for `export`) convert them with exactly the code of `chatdump convert`.

use std::collections::HashSet;
use std::fs;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context as _, anyhow};
use chatdump_api::{
    Api, FetchError, FetchEvent, FetchObserver, FetchOptions, Fetched, Fetcher, Provider,
    RetryPolicy, Secret, Url, redact_url,
};
use chatdump_core::escape::escape_for_terminal;
use chatdump_core::time::Clock;
use indicatif::ProgressBar;

use crate::UsageError;
use crate::args_api::{ApiArgs, ExportArgs, FetchArgs, ProviderArg};
use crate::convert;
use crate::report::Reporter;

/// Some sessions failed and others succeeded: exit status 3.
#[derive(Debug)]
pub(crate) struct SomeSessionsFailed {
    failed: usize,
    total: usize,
}

impl std::fmt::Display for SomeSessionsFailed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} of {} sessions failed", self.failed, self.total)
    }
}

impl std::error::Error for SomeSessionsFailed {}

/// One session to fetch: its id and the file stem its outputs are named with.
struct Session {
    id: String,
    stem: String,
}

impl Session {
    fn shown(&self) -> String {
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
pub(crate) fn run_fetch(args: &FetchArgs, reporter: &mut Reporter) -> anyhow::Result<()> {
    let sessions = sessions(&args.api)?;
    let client = fetcher(&args.api)?;
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
        create_directory(dir)?;
    }
    let runtime = runtime()?;
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

/// `chatdump export`.
pub(crate) fn run_export(args: &ExportArgs, reporter: &mut Reporter) -> anyhow::Result<()> {
    if args.bulk.all {
        return crate::bulk::run_export_all(args, reporter);
    }
    if !args.convert.inputs.is_empty() {
        return Err(UsageError(
            "export takes no input files: name sessions with --session-id (use `chatdump convert` for files)".into(),
        )
        .into());
    }
    let dir = args.convert.output.clone();
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
    if args.convert.rejects.is_some() && args.api.session_ids.len() > 1 {
        return Err(UsageError(
            "--rejects names one file: give one session, or let each session's rejects go to the output directory".into(),
        )
        .into());
    }
    let sessions = sessions(&args.api)?;
    let client = fetcher(&args.api)?;
    let created = !dir.exists();
    create_directory(&dir)?;
    let runtime = runtime()?;
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
        let mut convert_args = args.convert.clone();
        convert_args.inputs = vec![csv];
        convert_args.source_name = Some(format!("{}.csv", session.stem));
        convert::run(&convert_args, reporter)
            .with_context(|| format!("session `{}`", session.shown()))
    });
    if result.is_err() && created {
        // Leave things as they were: `remove_dir` only removes the directory if it is empty.
        let _ = fs::remove_dir(&dir);
    }
    result
}

/// Runs `one` for every session, reporting each outcome; stops early when the credentials are
/// refused (every other session would fail the same way).
fn run_sessions(
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
        Err(SomeSessionsFailed { failed, total }.into())
    }
}

/// Fetches one session's dump into `path` on `runtime`.
fn fetch_one(
    runtime: &tokio::runtime::Runtime,
    fetcher: &Fetcher,
    session: &Session,
    path: &Path,
    reporter: &Reporter,
) -> anyhow::Result<Fetched> {
    let mut observer = CliFetchObserver {
        reporter,
        label: session.shown(),
        bar: None,
    };
    let result = runtime.block_on(fetcher.fetch_to(&session.id, path, &mut observer));
    if let Some(bar) = observer.bar.take() {
        bar.finish_and_clear();
    }
    result.map_err(|error| {
        anyhow::Error::new(error).context(format!("session `{}`", session.shown()))
    })
}

fn report_saved(
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
        let session = &self.label;
        match event {
            FetchEvent::RequestingLink { url } => self.say(
                &format!("session `{session}`: asking `{}` for a download link", escape_for_terminal(url, 300)),
                true,
            ),
            FetchEvent::GotLink { url, expires } => self.say(
                &format!(
                    "session `{session}`: download link `{}`{}",
                    escape_for_terminal(url, 300),
                    expires.map_or_else(String::new, |expires| format!(
                        ", expires {}",
                        chatdump_core::time::format_utc(expires)
                    ))
                ),
                true,
            ),
            FetchEvent::Retrying {
                what,
                attempt,
                delay,
                reason,
                ..
            } => self.say(
                &format!(
                    "session `{session}`: {what} attempt {attempt} failed ({}); retrying in {:.1} s",
                    escape_for_terminal(reason, 300),
                    delay.as_secs_f64()
                ),
                false,
            ),
            FetchEvent::RefreshingLink { reason } => self.say(
                &format!(
                    "session `{session}`: asking for a fresh download link: {}",
                    escape_for_terminal(reason, 300)
                ),
                false,
            ),
            FetchEvent::Resuming { offset } => self.say(
                &format!("session `{session}`: resuming the download at byte {offset}"),
                true,
            ),
            FetchEvent::Restarting { reason } => self.say(
                &format!(
                    "session `{session}`: restarting the download: {}",
                    escape_for_terminal(reason, 300)
                ),
                false,
            ),
            _ => {}
        }
    }
}

/// The sessions named on the command line, each with a safe, distinct file stem.
fn sessions(args: &ApiArgs) -> anyhow::Result<Vec<Session>> {
    if args.session_ids.is_empty() {
        return Err(UsageError("name at least one session with --session-id".into()).into());
    }
    let mut seen = HashSet::new();
    let mut stems = HashSet::new();
    let mut sessions = Vec::new();
    for id in &args.session_ids {
        if id.trim().is_empty() {
            return Err(UsageError("a session id is empty".into()).into());
        }
        if !seen.insert(id.clone()) {
            continue;
        }
        // Ids are UUIDs in practice; anything else is made safe to use as a file name.
        let mut stem: String = id
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || "-_.".contains(c) {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        if stem.starts_with('.') {
            stem.insert(0, '_');
        }
        if !stems.insert(stem.clone()) {
            return Err(UsageError(format!(
                "two session ids would write the same files (`{}`): fetch them separately",
                escape_for_terminal(&stem, 80)
            ))
            .into());
        }
        sessions.push(Session {
            id: id.clone(),
            stem,
        });
    }
    Ok(sessions)
}

/// The API client when credentials are configured (a key file, or the provider's environment
/// variable set and not empty), `None` otherwise; for commands where the API is optional.
pub(crate) fn optional_fetcher(args: &ApiArgs) -> anyhow::Result<Option<Fetcher>> {
    let secret_variable = args.provider.provider().secret_variable();
    let configured = args.api_key_file.is_some()
        || std::env::var(secret_variable).is_ok_and(|value| !value.trim().is_empty());
    if configured {
        fetcher(args).map(Some)
    } else {
        Ok(None)
    }
}

/// The API client, from flags, the environment and the key file.
pub(crate) fn fetcher(args: &ApiArgs) -> anyhow::Result<Fetcher> {
    let provider = args.provider.provider();
    let (default_base, secret_variable) = (provider.default_base_url(), provider.secret_variable());
    let base_text = args.base_url.as_deref().unwrap_or(default_base);
    let base: Url = base_text.parse().map_err(|_| {
        UsageError(format!(
            "--base-url `{}` is not a URL",
            escape_for_terminal(base_text, 200)
        ))
    })?;
    if !matches!(base.scheme(), "http" | "https") {
        return Err(UsageError(format!(
            "--base-url `{}` is not an http or https URL",
            redact_url(&base)
        ))
        .into());
    }
    let what = provider.secret_name();
    let secret =
        secret_from(args.api_key_file.as_deref(), secret_variable, what)?.ok_or_else(|| {
            UsageError(format!(
                "no credentials: set {secret_variable} or pass --api-key-file"
            ))
        })?;
    if secret.is_empty() {
        return Err(UsageError(format!(
            "the {what} is empty: set {secret_variable} or pass --api-key-file"
        ))
        .into());
    }
    let required = |value: &Option<String>, what: &str| -> anyhow::Result<String> {
        match value.as_deref().map(str::trim) {
            Some(value) if !value.is_empty() => Ok(value.to_owned()),
            _ => Err(UsageError(format!("the {what} is missing")).into()),
        }
    };
    let api = match args.provider {
        ProviderArg::Dyte => Api::Dyte {
            base,
            org_id: required(
                &args.org_id,
                &format!("organization id (--org-id or {})", Provider::DYTE_ORG_ID),
            )?,
            api_key: secret,
        },
        ProviderArg::Realtimekit => Api::RealtimeKit {
            base,
            account_id: required(
                &args.account_id,
                &format!(
                    "account id (--account-id or {})",
                    Provider::CLOUDFLARE_ACCOUNT_ID
                ),
            )?,
            app_id: required(
                &args.app_id,
                &format!("app id (--app-id or {})", Provider::REALTIMEKIT_APP_ID),
            )?,
            api_token: secret,
        },
    };
    let network = &args.network;
    let mut options = FetchOptions::new(Clock::new(jiff::Timestamp::now));
    options.retry = RetryPolicy {
        max_attempts: network.retries.saturating_add(1),
        initial_delay: network.retry_delay,
        max_delay: network.retry_max_delay,
        max_retry_after: network.max_retry_after,
        max_total: network.retry_max_time,
    };
    options.connect_timeout = network.connect_timeout;
    options.read_timeout = network.read_timeout;
    options.max_link_refreshes = network.link_refreshes;
    for host_port in &network.allow_private_download_hosts {
        options.download_guard = options
            .download_guard
            .allow(host_port)
            .map_err(|reason| UsageError(format!("--allow-private-download-host: {reason}")))?;
    }
    Ok(Fetcher::new(api, options)?)
}

/// A credential: what `file` holds (`-`: standard input) when it is given, else the
/// environment variable `variable`; `None` when neither is there. `what` names it in errors
/// (`API key`).
pub(crate) fn secret_from(
    file: Option<&Path>,
    variable: &str,
    what: &str,
) -> anyhow::Result<Option<Secret>> {
    let Some(path) = file else {
        return Ok(std::env::var(variable).ok().map(Secret::new));
    };
    let mut text = String::new();
    if path.as_os_str() == "-" {
        io::stdin()
            .read_to_string(&mut text)
            .with_context(|| format!("cannot read the {what} from standard input"))?;
    } else {
        fs::File::open(path)
            .and_then(|mut file| file.read_to_string(&mut text))
            .with_context(|| {
                format!(
                    "cannot read the {what} file `{}`",
                    escape_for_terminal(&path.display().to_string(), 200)
                )
            })?;
    }
    Ok(Some(Secret::new(text)))
}

fn create_directory(dir: &Path) -> anyhow::Result<()> {
    fs::create_dir_all(dir).with_context(|| {
        format!(
            "cannot create the output directory `{}`",
            escape_for_terminal(&dir.display().to_string(), 200)
        )
    })
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the network runtime")
}
