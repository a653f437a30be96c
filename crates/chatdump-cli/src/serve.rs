//! `chatdump serve` (the webhook receiver) and `chatdump jobs` (its job listing): flags,
//! logging set-up, and the export step, which is exactly `chatdump export`'s: the dump goes
//! through `convert::run` with the same conversion flags.

use std::ffi::OsString;
use std::io::{self, Write as _};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use chatdump_api::allow::{DownloadPolicy, HostPattern};
use chatdump_api::{Secret, Url, redact_url};
use chatdump_core::escape::escape_for_terminal;
use chatdump_serve::signature::{KeySource, PublicKey};
use chatdump_serve::store::utc_time;
use chatdump_serve::{ExportRequest, JobStatus, ServeOptions, Store};
use clap::parser::ValueSource;
use clap::{Args, CommandFactory as _, Parser as _, ValueEnum};

use crate::UsageError;
use crate::args_api::{ApiArgs, parse_duration};
use crate::cli::{Cli, Command, ConvertArgs};
use crate::convert;
use crate::formats;
use crate::report::Reporter;

const SERVE_AFTER_HELP: &str = "\
Every flag can also be set in the environment (CHATDUMP_LISTEN, CHATDUMP_OUTPUT, CHATDUMP_FORMAT,
CHATDUMP_PUBLIC_KEY, CHATDUMP_PUBLIC_KEY_URL, CHATDUMP_ALLOW_DOWNLOAD_HOST, CHATDUMP_STATE, ...),
so a systemd EnvironmentFile= or `docker run --env-file` is the configuration file. API
credentials for the fallback come from DYTE_ORG_ID / DYTE_API_KEY (or the RealtimeKit
variables), as for `chatdump export`; without them a refused or expired link fails the job.

Examples:
  chatdump serve --listen 0.0.0.0:8080 --output /var/lib/chatdump --format jsonl,md \\
    --public-key-url https://api.realtime.cloudflare.com/.well-known/webhooks.json
  chatdump serve --output out/ --public-key dyte-webhook.pem --provider dyte
  chatdump jobs --output /var/lib/chatdump --status failed";

/// How `chatdump serve` logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per event (for log collectors).
    Json,
}

/// `chatdump serve`.
#[derive(Debug, Args)]
#[command(
    after_help = SERVE_AFTER_HELP,
    mut_arg("inputs", |arg| arg.required(false).hide(true)),
    mut_arg("session_ids", |arg| arg.required(false).hide(true)),
    // Not required by clap, so that the configuration file can give it; `-` means "not given".
    mut_arg("output", |arg| arg
        .env("CHATDUMP_OUTPUT")
        .required(false)
        .default_value("-")
        .hide_default_value(true)
        .help("The output root: every session's dump (`<session id>.csv`) and exports go here (required)")),
    mut_arg("format", |arg| arg.env("CHATDUMP_FORMAT")),
)]
pub(crate) struct ServeArgs {
    /// The address to listen on.
    #[arg(
        long,
        value_name = "ADDR",
        env = "CHATDUMP_LISTEN",
        default_value = "127.0.0.1:8080"
    )]
    pub(crate) listen: SocketAddr,
    /// The provider's webhook public key (PEM, `-----BEGIN PUBLIC KEY-----`).
    #[arg(long, value_name = "FILE", env = "CHATDUMP_PUBLIC_KEY")]
    pub(crate) public_key: Option<PathBuf>,
    /// Fetch the public key from this URL (cached an hour, fetched again once when a signature
    /// fails). Default without `--public-key`: the `--provider`'s well-known URL
    /// (`https://api.dyte.io/.well-known/webhooks.json`, or
    /// `https://api.realtime.cloudflare.com/.well-known/webhooks.json` for `realtimekit`).
    #[arg(
        long,
        value_name = "URL",
        env = "CHATDUMP_PUBLIC_KEY_URL",
        conflicts_with = "public_key"
    )]
    pub(crate) public_key_url: Option<String>,
    /// A host pattern delivery links may be downloaded from over https (`*` is one label; a
    /// leading `*` one or more); repeatable or comma-separated. Default: the AWS S3 hosts.
    #[arg(
        long = "allow-download-host",
        value_name = "HOST",
        env = "CHATDUMP_ALLOW_DOWNLOAD_HOST",
        value_delimiter = ','
    )]
    pub(crate) allow_download_hosts: Vec<String>,
    /// FOR TESTING ONLY: also download delivery links over plain http from exactly this
    /// `HOST:PORT` (a local test server). Never use in production.
    #[arg(long = "allow-insecure-download-host", value_name = "HOST:PORT")]
    pub(crate) allow_insecure_download_hosts: Vec<String>,
    /// The job database (`SQLite`). Default: `<output>/.chatdump/state.sqlite3`.
    #[arg(long, value_name = "FILE", env = "CHATDUMP_STATE")]
    pub(crate) state: Option<PathBuf>,
    /// Jobs run at once.
    #[arg(long, value_name = "N", env = "CHATDUMP_WORKERS", default_value_t = 4)]
    pub(crate) workers: usize,
    /// Attempts per job before it is marked failed.
    #[arg(
        long,
        value_name = "N",
        env = "CHATDUMP_MAX_ATTEMPTS",
        default_value_t = 5
    )]
    pub(crate) max_attempts: u32,
    /// The wait before a failed job's second attempt; it doubles each time, with jitter.
    #[arg(long, value_name = "DURATION", default_value = "5s", value_parser = parse_duration)]
    pub(crate) job_retry_delay: Duration,
    /// The longest wait between two attempts of a job.
    #[arg(long, value_name = "DURATION", default_value = "10m", value_parser = parse_duration)]
    pub(crate) job_retry_max_delay: Duration,
    /// On SIGTERM or SIGINT, how long running jobs may finish before they are put back in the
    /// queue for the next start.
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = parse_duration)]
    pub(crate) shutdown_grace: Duration,
    /// The largest dump downloaded from a delivery's link, e.g. `1GiB`.
    #[arg(long, value_name = "SIZE", default_value = "1GiB", value_parser = crate::cli::parse_size)]
    pub(crate) max_dump_size: usize,
    /// The longest wait for a request's head, and again for its body: slow clients are cut off.
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = parse_duration)]
    pub(crate) request_timeout: Duration,
    /// Connections open at once; more wait to be accepted.
    #[arg(long, value_name = "N", default_value_t = 1024)]
    pub(crate) max_connections: usize,
    /// Turn on `GET /jobs` (the queue and its counts, as JSON) for clients that send
    /// `Authorization: Bearer TOKEN`: a file holding the token (`-`: standard input). Or set
    /// `CHATDUMP_JOBS_TOKEN`. Without either, `/jobs` answers 404.
    #[arg(long, value_name = "FILE")]
    pub(crate) jobs_token_file: Option<PathBuf>,
    /// A configuration file: `key = value` lines named like the long flags (`listen =
    /// 0.0.0.0:8080`, `format = jsonl,md`, `public-key = /etc/chatdump/webhook.pem`; values may
    /// be quoted; `#` starts a comment line). Flags and environment variables take precedence.
    #[arg(long, value_name = "FILE", env = "CHATDUMP_CONFIG")]
    pub(crate) config: Option<PathBuf>,
    /// The log format (on standard error). `RUST_LOG` picks what is logged (default `info`).
    #[arg(long, value_enum, env = "CHATDUMP_LOG_FORMAT", default_value = "text")]
    pub(crate) log_format: LogFormat,
    /// The Chat Replay API, for fresh links when a delivery's link is refused or expired.
    #[command(flatten)]
    pub(crate) api: ApiArgs,
    /// What to export, as for `chatdump convert`.
    #[command(flatten)]
    pub(crate) convert: ConvertArgs,
}

/// A job status, for `chatdump jobs --status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum StatusArg {
    /// Waiting (possibly for a retry).
    Queued,
    /// Being worked on.
    Running,
    /// Exported.
    Done,
    /// Given up.
    Failed,
}

/// `chatdump jobs`.
#[derive(Debug, Args)]
pub(crate) struct JobsArgs {
    /// The output root `chatdump serve` writes to (its database is
    /// `<output>/.chatdump/state.sqlite3`).
    #[arg(
        short,
        long,
        value_name = "DIR",
        env = "CHATDUMP_OUTPUT",
        required_unless_present = "state"
    )]
    pub(crate) output: Option<PathBuf>,
    /// The job database, when `chatdump serve` was given `--state`.
    #[arg(long, value_name = "FILE", env = "CHATDUMP_STATE")]
    pub(crate) state: Option<PathBuf>,
    /// Only jobs with this status.
    #[arg(long, value_enum)]
    pub(crate) status: Option<StatusArg>,
    /// How many jobs to list (the most recently changed first).
    #[arg(long, value_name = "N", default_value_t = 20)]
    pub(crate) limit: u32,
    /// One JSON object per job instead of a table.
    #[arg(long)]
    pub(crate) json: bool,
}

/// Exports a dump with `chatdump convert`'s code and `serve`'s conversion flags.
struct ConvertExporter {
    convert: ConvertArgs,
}

impl chatdump_serve::Exporter for ConvertExporter {
    fn export(&self, request: &ExportRequest) -> Result<Vec<String>, String> {
        let mut args = self.convert.clone();
        args.inputs = vec![request.dump.clone()];
        args.output.clone_from(&request.output);
        // The receiver reports through its log; the converter's own messages stay quiet.
        let mut reporter = Reporter::new(true, false, true);
        convert::run(&args, &mut reporter).map_err(|error| format!("{error:#}"))?;
        let mut outputs = vec![request.dump.display().to_string()];
        outputs.extend(args.format.iter().map(|format| {
            request
                .output
                .join(format!(
                    "{}.{}",
                    request.session_id,
                    formats::extension(*format)
                ))
                .display()
                .to_string()
        }));
        Ok(outputs)
    }
}

/// Installs the log subscriber: `RUST_LOG`, else `info` (`warn` with `--quiet`, `debug` with
/// `--verbose`).
fn init_logging(format: LogFormat, quiet: bool, verbose: bool) {
    let default = if quiet {
        "warn"
    } else if verbose {
        "debug"
    } else {
        "info"
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(io::stderr)
        .with_ansi(false);
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
}

/// The public key source from the flags.
fn key_source(args: &ServeArgs) -> anyhow::Result<KeySource> {
    if let Some(path) = &args.public_key {
        let shown = escape_for_terminal(&path.display().to_string(), 200);
        let pem = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read the public key `{shown}`"))?;
        let key = PublicKey::from_pem(&pem)
            .with_context(|| format!("`{shown}` is not a usable public key"))?;
        return Ok(KeySource::Fixed(key));
    }
    let url = args
        .public_key_url
        .clone()
        .unwrap_or_else(|| args.api.provider.provider().webhook_key_url().to_owned());
    let parsed: Url = url.parse().map_err(|_| {
        UsageError(format!(
            "--public-key-url `{}` is not a URL",
            escape_for_terminal(&url, 200)
        ))
    })?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(UsageError(format!(
            "--public-key-url `{}` is not an http or https URL",
            redact_url(&parsed)
        ))
        .into());
    }
    Ok(KeySource::Url(parsed))
}

/// The `serve` arguments with the configuration file's settings added where neither a flag nor
/// an environment variable gave a value: the command line is parsed again with them appended.
fn with_config_file(path: &Path) -> anyhow::Result<ServeArgs> {
    let shown = escape_for_terminal(&path.display().to_string(), 200);
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the configuration file `{shown}`"))?;
    let mut command = Cli::command();
    // Built, so every argument knows whether it takes a value.
    command.build();
    let mut arguments: Vec<OsString> = std::env::args_os().collect();
    let matches = command
        .clone()
        .try_get_matches_from(&arguments)
        .map_err(|error| UsageError(error.to_string()))?;
    let Some(("serve", serve_matches)) = matches.subcommand() else {
        return Err(anyhow::anyhow!(
            "the configuration file is for `chatdump serve`"
        ));
    };
    let serve_command = command
        .find_subcommand("serve")
        .context("no serve subcommand")?;
    for (index, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let place = || format!("`{shown}` line {}", index + 1);
        let (key, value) = line
            .split_once('=')
            .ok_or_else(|| UsageError(format!("{}: expected `key = value`", place())))?;
        let key = key.trim();
        let value = value.trim();
        let value = value
            .strip_prefix('"')
            .and_then(|value| value.strip_suffix('"'))
            .unwrap_or(value);
        let argument = serve_command
            .get_arguments()
            .find(|argument| argument.get_long() == Some(key) && key != "config")
            .ok_or_else(|| {
                UsageError(format!(
                    "{}: unknown setting `{}` (settings are named like the long flags of `chatdump serve`)",
                    place(),
                    escape_for_terminal(key, 80)
                ))
            })?;
        let given = serve_matches.value_source(argument.get_id().as_str());
        if matches!(
            given,
            Some(ValueSource::CommandLine | ValueSource::EnvVariable)
        ) {
            continue;
        }
        if argument.get_action().takes_values() {
            arguments.push(format!("--{key}").into());
            arguments.push(value.into());
        } else if value == "true" {
            arguments.push(format!("--{key}").into());
        } else if value != "false" {
            return Err(UsageError(format!("{}: `{key}` is `true` or `false`", place())).into());
        }
    }
    match Cli::try_parse_from(&arguments) {
        Ok(Cli {
            command: Command::Serve(args),
            ..
        }) => Ok(*args),
        Ok(_) => Err(anyhow::anyhow!(
            "the configuration file is for `chatdump serve`"
        )),
        Err(error) => Err(UsageError(format!(
            "with the settings of `{shown}`: {}",
            error.to_string().trim_start_matches("error: ").trim_end()
        ))
        .into()),
    }
}

/// `chatdump serve`.
pub(crate) fn run_serve(args: &ServeArgs, quiet: bool, verbose: bool) -> anyhow::Result<()> {
    if let Some(path) = &args.config {
        let mut merged = with_config_file(path)?;
        merged.config = None;
        return run_serve(&merged, quiet, verbose);
    }
    if !args.convert.inputs.is_empty() {
        return Err(
            UsageError("serve takes no input files: dumps arrive by webhook".into()).into(),
        );
    }
    if !args.api.session_ids.is_empty() {
        return Err(UsageError(
            "serve takes no --session-id: sessions arrive by webhook (use `chatdump export`)"
                .into(),
        )
        .into());
    }
    if args.convert.rejects.is_some() {
        return Err(UsageError(
            "--rejects names one file, but serve exports many sessions: rejects go to `<session id>.rejects.jsonl` in the output directory".into(),
        )
        .into());
    }
    if args.convert.output.as_os_str() == "-" {
        return Err(UsageError(
            "serve needs an output directory: give --output DIR (or CHATDUMP_OUTPUT, or `output = DIR` in the configuration file)".into(),
        )
        .into());
    }
    for format in &args.convert.format {
        formats::check_available(*format).map_err(UsageError)?;
    }
    init_logging(args.log_format, quiet, verbose);
    let key = key_source(args)?;
    let mut policy = if args.allow_download_hosts.is_empty() {
        DownloadPolicy::default()
    } else {
        let patterns = args
            .allow_download_hosts
            .iter()
            .map(|pattern| {
                HostPattern::parse(pattern)
                    .map_err(|reason| UsageError(format!("--allow-download-host: {reason}")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        DownloadPolicy::new(patterns)
    };
    for host in &args.allow_insecure_download_hosts {
        tracing::warn!(host = %host, "--allow-insecure-download-host is for testing only: plain http downloads allowed");
        policy = policy.allow_insecure(host.clone());
    }
    let fetcher = crate::fetch::optional_fetcher(&args.api)?;
    if fetcher.is_none() {
        tracing::warn!(
            "no API credentials: a delivery whose link is refused or expired cannot get a fresh one"
        );
    }
    let output = args.convert.output.clone();
    let mut options = ServeOptions::new(
        args.listen,
        output.clone(),
        key,
        chatdump_core::time::Clock::new(jiff::Timestamp::now),
    );
    if let Some(state) = &args.state {
        options.state.clone_from(state);
    }
    options.policy = policy;
    options.workers = args.workers.max(1);
    options.max_attempts = args.max_attempts.max(1);
    options.retry_delay = args.job_retry_delay;
    options.max_retry_delay = args.job_retry_max_delay;
    options.shutdown_grace = args.shutdown_grace;
    options.max_dump_size = args.max_dump_size as u64;
    options.limits.header_timeout = args.request_timeout;
    options.limits.body_timeout = args.request_timeout;
    options.limits.max_connections = args.max_connections.max(1);
    options.jobs_token = jobs_token(args)?;
    options.connect_timeout = args.api.network.connect_timeout;
    options.read_timeout = args.api.network.read_timeout;
    tracing::info!(
        output = %output.display(),
        state = %options.state.display(),
        allowed_hosts = %options.policy.hosts().iter().map(ToString::to_string).collect::<Vec<_>>().join(","),
        default_hosts = args.allow_download_hosts.is_empty(),
        jobs_endpoint = options.jobs_token.is_some(),
        "starting the webhook receiver"
    );
    let exporter = Arc::new(ConvertExporter {
        convert: args.convert.clone(),
    });
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the runtime")?;
    let served = runtime.block_on(chatdump_serve::serve(
        options,
        fetcher.map(Arc::new),
        exporter,
        chatdump_serve::shutdown_signal(),
    ));
    // A job cut short at the end of the grace period may still run on a blocking thread (an API
    // fetch, a conversion): do not wait for it (it is back in the queue), and remove its
    // temporary files.
    runtime.shutdown_timeout(Duration::from_millis(500));
    chatdump_core::output::remove_pending_files();
    served?;
    Ok(())
}

/// The `GET /jobs` token: `--jobs-token-file`, else `CHATDUMP_JOBS_TOKEN`, else none (off).
fn jobs_token(args: &ServeArgs) -> anyhow::Result<Option<Secret>> {
    let Some(token) = crate::fetch::secret_from(
        args.jobs_token_file.as_deref(),
        "CHATDUMP_JOBS_TOKEN",
        "jobs token",
    )?
    else {
        return Ok(None);
    };
    if token.is_empty() {
        return Err(UsageError(
            "the jobs token is empty (--jobs-token-file or CHATDUMP_JOBS_TOKEN)".into(),
        )
        .into());
    }
    Ok(Some(token))
}

/// `chatdump jobs`.
pub(crate) fn run_jobs(args: &JobsArgs) -> anyhow::Result<()> {
    let state = match (&args.state, &args.output) {
        (Some(state), _) => state.clone(),
        (None, Some(output)) => chatdump_serve::default_state_path(output),
        (None, None) => return Err(UsageError("give --output or --state".into()).into()),
    };
    let shown = escape_for_terminal(&state.display().to_string(), 200);
    if !state.exists() {
        return Err(anyhow::anyhow!(
            "no job database at `{shown}` (has `chatdump serve` run with this output?)"
        ));
    }
    let store = Store::open_read_only(&state)
        .with_context(|| format!("cannot open the job database `{shown}`"))?;
    let status = args.status.map(|status| match status {
        StatusArg::Queued => JobStatus::Queued,
        StatusArg::Running => JobStatus::Running,
        StatusArg::Done => JobStatus::Done,
        StatusArg::Failed => JobStatus::Failed,
    });
    let jobs = store.recent(args.limit, status)?;
    let mut out = io::stdout().lock();
    if args.json {
        for job in &jobs {
            let value = job.to_json();
            writeln!(out, "{value}")?;
        }
    } else {
        writeln!(
            out,
            "{:>6}  {:<8}  {:>8}  {:>10}  {:<20}  {:<40}  ERROR",
            "ID", "STATUS", "ATTEMPTS", "DELIVERIES", "UPDATED", "SESSION"
        )?;
        for job in &jobs {
            writeln!(
                out,
                "{:>6}  {:<8}  {:>8}  {:>10}  {:<20}  {:<40}  {}",
                job.id,
                job.status.as_str(),
                job.attempts,
                job.deliveries,
                utc_time(job.updated_at),
                escape_for_terminal(&job.session_id, 40),
                escape_for_terminal(job.last_error.as_deref().unwrap_or("-"), 300)
            )?;
        }
        let counts = store.counts()?;
        let summary = counts
            .iter()
            .map(|(status, count)| format!("{count} {status}"))
            .collect::<Vec<_>>()
            .join(", ");
        writeln!(
            out,
            "total: {}",
            if summary.is_empty() {
                "no jobs".into()
            } else {
                summary
            }
        )?;
    }
    out.flush()?;
    Ok(())
}
