//! `chatdump serve`: the webhook receiver. Logging set-up, the configuration file, and the
//! receiver's options; every dump goes through the same pipeline, with the same conversion
//! flags, as `chatdump export`.

use std::ffi::OsString;
use std::io;
use std::path::Path;
use std::time::Duration;

use anyhow::Context as _;
use chatdump_api::allow::DownloadPolicy;
use chatdump_api::{Secret, http_url};
use chatdump_core::escape::escape_for_terminal;
use chatdump_serve::ServeOptions;
use chatdump_serve::signature::{KeySource, PublicKey};
use clap::parser::ValueSource;
use clap::{CommandFactory as _, Parser as _};

use crate::args::{Cli, Command, LogFormat, ServeArgs};
use crate::exit::UsageError;
use crate::setup;

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
        return Ok(KeySource::Fixed(PublicKey::from_pem_file(path)?));
    }
    let url = args
        .public_key_url
        .as_deref()
        .unwrap_or_else(|| args.api.provider.provider().webhook_key_url());
    let url = http_url("--public-key-url", url).map_err(|error| UsageError(error.to_string()))?;
    Ok(KeySource::Url(url))
}

/// The `serve` arguments with the configuration file's settings added where neither a flag nor
/// an environment variable gave a value: the command line is parsed again with them appended.
fn with_config_file(path: &Path, arguments: &[OsString]) -> anyhow::Result<ServeArgs> {
    let shown = escape_for_terminal(&path.display().to_string(), 200);
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the configuration file `{shown}`"))?;
    let mut command = Cli::command();
    // Built, so every argument knows whether it takes a value.
    command.build();
    let mut arguments = arguments.to_vec();
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

/// `chatdump serve`; `arguments` is the command line it was parsed from, parsed again with a
/// configuration file's settings added.
pub(crate) fn run(
    args: &ServeArgs,
    arguments: &[OsString],
    quiet: bool,
    verbose: bool,
) -> anyhow::Result<()> {
    let merged;
    let args = match &args.config {
        Some(path) => {
            merged = with_config_file(path, arguments)?;
            &merged
        }
        None => args,
    };
    if args.conversion.rejects.is_some() {
        return Err(UsageError(
            "--rejects names one file, but serve exports many sessions: rejects go to `<session id>.rejects.jsonl` in the output directory".into(),
        )
        .into());
    }
    if args.conversion.output.as_os_str() == "-" {
        return Err(UsageError(
            "serve needs an output directory: give --output DIR (or CHATDUMP_OUTPUT, or `output = DIR` in the configuration file)".into(),
        )
        .into());
    }
    init_logging(args.log_format, quiet, verbose);
    let key = key_source(args)?;
    let mut policy = DownloadPolicy::allowing(&args.allow_download_hosts)
        .map_err(|reason| UsageError(format!("--allow-download-host: {reason}")))?;
    for host in &args.allow_insecure_download_hosts {
        tracing::warn!(host = %host, "--allow-insecure-download-host is for testing only: plain http downloads allowed");
        policy = policy.allow_insecure(host.clone());
    }
    let fetcher = setup::optional_fetcher(&args.api)?;
    if fetcher.is_none() {
        tracing::warn!(
            "no API credentials: a delivery whose link is refused or expired cannot get a fresh one"
        );
    }
    let output = args.conversion.output.clone();
    let conversion = setup::conversion(&args.conversion, false);
    let mut options = ServeOptions::new(
        args.listen,
        output.clone(),
        conversion,
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
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the runtime")?;
    let served = runtime.block_on(chatdump_serve::serve(
        options,
        fetcher.map(std::sync::Arc::new),
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
    let Some(token) = setup::secret_from(
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
