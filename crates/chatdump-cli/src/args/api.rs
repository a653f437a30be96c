//! Command-line flags of `chatdump fetch` and `chatdump export`: the API, its credentials, and
//! how hard to try on a bad network.

use std::path::PathBuf;
use std::time::Duration;

use chatdump_api::Provider;
use clap::{Args, ValueEnum};

use super::values::parse_duration;
use super::{BulkArgs, ConversionArgs};

/// Text shared by the `fetch` and `export` help pages.
pub(crate) const API_AFTER_HELP: &str = "\
Credentials (read from the environment or a file, never from the command line):
  dyte         --org-id or DYTE_ORG_ID, and DYTE_API_KEY (or --api-key-file)
  realtimekit  --account-id or CLOUDFLARE_ACCOUNT_ID, --app-id or REALTIMEKIT_APP_ID,
               and CLOUDFLARE_API_TOKEN (or --api-key-file); the token needs the
               Realtime or Realtime Admin permission

Examples:
  export DYTE_ORG_ID=... DYTE_API_KEY=...
  chatdump fetch --session-id 4f1c2a8e-9b3d-4e57-a1c6-2d8e0f7b9a31 --output chat.csv
  chatdump export --session-id ID1 --session-id ID2 --format jsonl,parquet --output out/
  chatdump export --provider realtimekit --session-id ID --format md --output out/
  # try it without an account: run `chatdump-testserver`, then
  DYTE_ORG_ID=demo-org DYTE_API_KEY=demo-key chatdump export \\
    --base-url http://127.0.0.1:8787/v2 --allow-private-download-host 127.0.0.1:8787 \\
    --session-id demo --output out/

Exit status: 0 every session done, 1 a data, I/O or network error (or every session failed),
2 usage error, 3 some sessions failed and others succeeded, 130 interrupted (SIGINT),
143 terminated (SIGTERM).";

/// Which Chat Replay API to call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum ProviderArg {
    /// Dyte: `https://api.dyte.io/v2`, HTTP Basic with the organization id and API key. With
    /// `--base-url`, also the legacy-compatible `RealtimeKit` host.
    Dyte,
    /// Cloudflare `RealtimeKit`: `https://api.cloudflare.com/client/v4`, a Bearer API token.
    Realtimekit,
}

impl ProviderArg {
    /// The library's provider: its routes, defaults and credential variables.
    pub(crate) fn provider(self) -> Provider {
        match self {
            Self::Dyte => Provider::Dyte,
            Self::Realtimekit => Provider::RealtimeKit,
        }
    }
}

/// Where to fetch from, with which credentials, and the network knobs.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Chat Replay API")]
pub(crate) struct ApiArgs {
    /// The API provider.
    #[arg(long, value_enum, default_value = "dyte", ignore_case = true)]
    pub(crate) provider: ProviderArg,
    /// The API root, replacing the provider's (`https://api.dyte.io/v2`,
    /// `https://api.cloudflare.com/client/v4`): a proxy, a legacy host or a local test server.
    #[arg(long, value_name = "URL")]
    pub(crate) base_url: Option<String>,
    /// The Dyte organization id.
    #[arg(long, value_name = "ID", env = Provider::DYTE_ORG_ID, hide_env_values = true)]
    pub(crate) org_id: Option<String>,
    /// The Cloudflare account id.
    #[arg(
        long,
        value_name = "ID",
        env = Provider::CLOUDFLARE_ACCOUNT_ID,
        hide_env_values = true
    )]
    pub(crate) account_id: Option<String>,
    /// The `RealtimeKit` app id.
    #[arg(
        long,
        value_name = "ID",
        env = Provider::REALTIMEKIT_APP_ID,
        hide_env_values = true
    )]
    pub(crate) app_id: Option<String>,
    /// A file holding the Dyte API key or the Cloudflare API token (by provider); `-` reads
    /// standard input. Otherwise `DYTE_API_KEY` or `CLOUDFLARE_API_TOKEN` is used.
    #[arg(long, value_name = "FILE")]
    pub(crate) api_key_file: Option<PathBuf>,
    #[command(flatten)]
    pub(crate) network: NetworkArgs,
}

/// Retries and timeouts.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Network")]
pub(crate) struct NetworkArgs {
    /// Retries of a failed request (connection errors, timeouts, resets, HTTP 408, 429, 5xx)
    /// after the first attempt.
    #[arg(long, value_name = "N", default_value_t = 3)]
    pub(crate) retries: u32,
    /// The first wait before a retry; it doubles each time, with random jitter.
    #[arg(long, value_name = "DURATION", default_value = "500ms", value_parser = parse_duration)]
    pub(crate) retry_delay: Duration,
    /// The longest wait between two attempts.
    #[arg(long, value_name = "DURATION", default_value = "20s", value_parser = parse_duration)]
    pub(crate) retry_max_delay: Duration,
    /// The longest `Retry-After` honoured; a server asking for more fails the session at once.
    #[arg(long, value_name = "DURATION", default_value = "60s", value_parser = parse_duration)]
    pub(crate) max_retry_after: Duration,
    /// No retry starts after this long on one session (a progressing download is never cut).
    #[arg(long, value_name = "DURATION", default_value = "5m", value_parser = parse_duration)]
    pub(crate) retry_max_time: Duration,
    /// The longest wait for a connection.
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = parse_duration)]
    pub(crate) connect_timeout: Duration,
    /// The longest wait for response headers or for more of the body (an idle timeout: a slow
    /// but progressing download is not cut).
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = parse_duration)]
    pub(crate) read_timeout: Duration,
    /// Fresh download links asked for when one expires or the storage refuses it.
    #[arg(long, value_name = "N", default_value_t = 3)]
    pub(crate) link_refreshes: u32,
    /// Allow download links (and their redirects) to reach this internal address: loopback,
    /// private, link-local (the cloud metadata address), unique-local (`fc00::/7`) and the like are
    /// refused by default, after DNS resolution. An IP address is allowed on that port only; a
    /// host name's addresses are all allowed. Repeatable. The `--base-url` host needs no flag.
    #[arg(long = "allow-private-download-host", value_name = "HOST:PORT")]
    pub(crate) allow_private_download_hosts: Vec<String>,
}

/// `chatdump fetch`.
#[derive(Debug, Args)]
pub(crate) struct FetchArgs {
    /// The session whose chat to fetch; repeat for several.
    #[arg(long = "session-id", value_name = "ID", required = true)]
    pub(crate) session_ids: Vec<String>,
    #[command(flatten)]
    pub(crate) api: ApiArgs,
    /// Where the CSV goes: a file (one session), a directory (`<session id>.csv` each; a path
    /// ending in `/`, an existing directory or several sessions), or `-` for standard output
    /// (one session). Default: the current directory.
    #[arg(short, long, value_name = "PATH")]
    pub(crate) output: Option<PathBuf>,
}

/// `chatdump export`: the sessions, the API flags, then every conversion flag.
#[derive(Debug, Args)]
pub(crate) struct ExportArgs {
    /// The session whose chat to export; repeat for several.
    #[arg(
        long = "session-id",
        value_name = "ID",
        required_unless_present = "all"
    )]
    pub(crate) session_ids: Vec<String>,
    #[command(flatten)]
    pub(crate) api: ApiArgs,
    /// Keep the downloaded CSV as `<session id>.csv` beside the outputs.
    #[arg(long)]
    pub(crate) keep_csv: bool,
    #[command(flatten)]
    pub(crate) conversion: ConversionArgs,
    /// `--all` and its flags.
    #[command(flatten)]
    pub(crate) bulk: BulkArgs,
    /// Also fetch these parts of each session and convert them with the chat: `transcript`
    /// (the speech transcript, placed on the clock with the session's `started_at`),
    /// `summary` (the AI summary). Comma-separated or repeated. A session without one (HTTP
    /// 404) is still exported, with a note.
    #[arg(
        long = "with",
        value_enum,
        value_delimiter = ',',
        value_name = "PART",
        help_heading = "Meeting archive"
    )]
    pub(crate) with: Vec<WithPart>,
    /// The transcript format asked of `RealtimeKit` (`?format=`); Dyte is sent none. Default:
    /// the server's (CSV).
    #[arg(
        long,
        value_enum,
        value_name = "FORMAT",
        ignore_case = true,
        help_heading = "Meeting archive"
    )]
    pub(crate) transcript_format: Option<TranscriptFormatArg>,
}

/// A part of a session besides its chat (`--with`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum WithPart {
    /// The speech transcript.
    Transcript,
    /// The AI summary.
    Summary,
}

/// A transcript format `RealtimeKit` can be asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum TranscriptFormatArg {
    /// CSV.
    Csv,
    /// JSON (times from the session's start).
    Json,
    /// `WebVTT`.
    Vtt,
    /// SRT.
    Srt,
}
