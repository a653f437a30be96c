//! Turning parsed arguments into the libraries' options: the conversion, the API client, the
//! credentials, the object store, the runtimes. The one place the CLI reads the environment
//! for them.

use std::fs;
use std::io::{self, Read as _};
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use chatdump_api::{AccountIds, Api, FetchOptions, Fetcher, RetryPolicy, Secret};
use chatdump_bulk::Store;
use chatdump_core::escape::escape_for_terminal;
use chatdump_core::export::OnError;
use chatdump_core::time::Clock;
use chatdump_jsonl::Flavor;
use chatdump_parquet::ParquetOptions;
use chatdump_pipeline::{Conversion, Format, FormatOptions, MediaMode, MediaSettings, Options};
use chatdump_transcript::TranscriptOptions;

use crate::args::{
    ApiArgs, ConversionArgs, FormatArg, JsonlFlavorArg, MediaArg, MediaArgs, OnErrorArg,
    OutputArgs, TranscriptArgs,
};
use crate::exit::UsageError;

/// The conversion these flags ask for: formats (JSONL when none is given), Parquet layout,
/// rejects file and options. `-v` (`verbose`) asks for every output's SHA-256, which it prints.
pub(crate) fn conversion(args: &ConversionArgs, verbose: bool) -> Conversion {
    let formats = if args.format.is_empty() {
        vec![Format::Jsonl]
    } else {
        args.format
            .iter()
            .map(|format| match format {
                FormatArg::Jsonl => Format::Jsonl,
                FormatArg::Parquet => Format::Parquet,
                FormatArg::Markdown => Format::Markdown,
                FormatArg::Html => Format::Html,
            })
            .collect()
    };
    let mut options = Options::new(
        temp_dir(args.temp_dir.as_deref()),
        env!("CARGO_PKG_VERSION"),
    );
    options.on_error = match args.on_error {
        OnErrorArg::Fail => OnError::Fail,
        OnErrorArg::Skip => OnError::Skip,
    };
    options.max_record_size = args.max_record_size;
    options.sort_memory = args.sort_memory;
    options.content_hashes = verbose;
    options.formats = FormatOptions {
        jsonl: jsonl_flavor(&args.output_options),
        parquet: parquet_options(&args.output_options),
        transcript: transcript_options(&args.transcript, &options.temp_dir),
    };
    options.media = media_settings(&args.media);
    Conversion {
        formats,
        partition_by_date: args.output_options.partition_by.is_some(),
        rejects: args.rejects.clone(),
        parts_dir: None,
        options,
    }
}

/// The `--media` settings; `None` for `--media off`.
pub(crate) fn media_settings(args: &MediaArgs) -> Option<MediaSettings> {
    let mode = match args.media {
        MediaArg::Off => return None,
        MediaArg::Download => MediaMode::Download,
        MediaArg::Embed => MediaMode::Embed,
    };
    let mut settings = MediaSettings::new(mode);
    settings.required = args.media_required;
    let fetch = &mut settings.fetch;
    fetch.allowed_hosts.clone_from(&args.media_allow_hosts);
    fetch
        .insecure_host
        .clone_from(&args.allow_insecure_media_host);
    fetch.max_file_bytes = args.media_max_size as u64;
    fetch.max_total_bytes = args.media_max_total as u64;
    fetch.concurrency = usize::from(args.media_concurrency);
    fetch.read_timeout = args.media_timeout;
    Some(settings)
}

/// `--temp-dir`, else the system's temporary directory (`$TMPDIR`, or `/tmp`).
pub(crate) fn temp_dir(given: Option<&Path>) -> PathBuf {
    given.map_or_else(std::env::temp_dir, Path::to_path_buf)
}

/// The Parquet writer options.
pub(crate) fn parquet_options(args: &OutputArgs) -> ParquetOptions {
    ParquetOptions {
        compression: args.compression,
        row_group_rows: args.row_group_size,
        ..ParquetOptions::default()
    }
}

fn jsonl_flavor(args: &OutputArgs) -> Flavor {
    match args.jsonl_flavor {
        JsonlFlavorArg::Plain => Flavor::Plain,
        JsonlFlavorArg::Elasticsearch => Flavor::Elasticsearch {
            index: args.index.clone().unwrap_or_default(),
        },
        JsonlFlavorArg::Meilisearch => Flavor::Meilisearch,
        JsonlFlavorArg::Typesense => Flavor::Typesense,
    }
}

fn transcript_options(args: &TranscriptArgs, temp_dir: &Path) -> TranscriptOptions {
    TranscriptOptions {
        zone: args.timezone.clone(),
        templates: args.templates.clone(),
        remote_images: !args.no_remote_images,
        temp_dir: Some(temp_dir.to_owned()),
        ..TranscriptOptions::default()
    }
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
    let secret = secret_from(
        args.api_key_file.as_deref(),
        provider.secret_variable(),
        provider.secret_name(),
    )?;
    let ids = AccountIds {
        org_id: args.org_id.as_deref(),
        account_id: args.account_id.as_deref(),
        app_id: args.app_id.as_deref(),
    };
    let api = Api::new(provider, args.base_url.as_deref(), ids, secret)
        .map_err(|error| UsageError(error.to_string()))?;
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

/// The object store at `location`, configured from the environment (the variables
/// `object_store`'s builders read: `AWS_*`, `GOOGLE_*`, `AZURE_*`). `Store::open` installs the
/// TLS crypto provider the cloud clients need.
pub(crate) fn open_store(location: &str, part_size: usize) -> anyhow::Result<Store> {
    let settings: Vec<(String, String)> = std::env::vars()
        .filter(|(key, _)| {
            key.starts_with("AWS_") || key.starts_with("GOOGLE_") || key.starts_with("AZURE_")
        })
        .collect();
    match Store::open(location, &settings) {
        Ok(store) => Ok(store.with_part_size(part_size)),
        Err(error @ chatdump_bulk::BulkError::Location { .. }) => {
            Err(UsageError(error.to_string()).into())
        }
        Err(error) => Err(anyhow::Error::new(error)),
    }
}

/// A runtime for network calls on this thread.
pub(crate) fn current_thread_runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the network runtime")
}

/// A runtime of `workers` threads.
pub(crate) fn multi_thread_runtime(workers: usize) -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .enable_all()
        .build()
        .context("cannot start the runtime")
}

/// Creates `dir` and its parents if missing.
pub(crate) fn create_directory(dir: &Path) -> anyhow::Result<()> {
    fs::create_dir_all(dir).with_context(|| {
        format!(
            "cannot create the output directory `{}`",
            escape_for_terminal(&dir.display().to_string(), 200)
        )
    })
}

/// The parts `export --with` asks for, besides the chat.
pub(crate) fn parts_request(args: &crate::args::ExportArgs) -> chatdump_api::PartsRequest {
    use crate::args::{TranscriptFormatArg, WithPart};
    use chatdump_api::TranscriptFormat;
    chatdump_api::PartsRequest {
        transcript: args.with.contains(&WithPart::Transcript),
        summary: args.with.contains(&WithPart::Summary),
        transcript_format: args.transcript_format.map(|format| match format {
            TranscriptFormatArg::Csv => TranscriptFormat::Csv,
            TranscriptFormatArg::Json => TranscriptFormat::Json,
            TranscriptFormatArg::Vtt => TranscriptFormat::Vtt,
            TranscriptFormatArg::Srt => TranscriptFormat::Srt,
        }),
    }
}
