//! The flags of `chatdump serve` and `chatdump jobs`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, ValueEnum};

use super::values::{parse_duration, parse_size};
use super::{ApiArgs, ConversionArgs};

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
    #[arg(long, value_name = "SIZE", default_value = "1GiB", value_parser = parse_size)]
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
    #[arg(
        long,
        value_enum,
        env = "CHATDUMP_LOG_FORMAT",
        default_value = "text",
        ignore_case = true
    )]
    pub(crate) log_format: LogFormat,
    /// The Chat Replay API, for fresh links when a delivery's link is refused or expired.
    #[command(flatten)]
    pub(crate) api: ApiArgs,
    /// What to export, as for `chatdump convert`.
    #[command(flatten)]
    pub(crate) conversion: ConversionArgs,
}

/// A job status, for `chatdump jobs --status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum JobStatusArg {
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
    #[arg(long, value_enum, ignore_case = true)]
    pub(crate) status: Option<JobStatusArg>,
    /// How many jobs to list (the most recently changed first).
    #[arg(long, value_name = "N", default_value_t = 20)]
    pub(crate) limit: u32,
    /// One JSON object per job instead of a table.
    #[arg(long)]
    pub(crate) json: bool,
}
