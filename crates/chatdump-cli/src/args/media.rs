//! `--media` and its flags (issue 19), shared by `convert`, `export`, `serve` and `export --all`.

use clap::{Args, ValueEnum};

use chatdump_api::allow::HostPattern;

use std::time::Duration;

use super::values::{parse_duration, parse_size};

/// Whether the images and files a chat links to are saved.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum MediaArg {
    /// Nothing is fetched: the outputs keep the links only.
    Off,
    /// Each attachment is fetched once and stored beside the outputs (`<stem>.media/`);
    /// transcripts link to the copy.
    Download,
    /// As `download`, and the HTML transcript inlines raster images as `data:` URIs.
    Embed,
}

/// Saving attachments while their links work.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Media (images and files)")]
pub(crate) struct MediaArgs {
    /// Save the images and files the chat links to (their links expire after a few days).
    #[arg(long, value_enum, default_value = "off", ignore_case = true)]
    pub(crate) media: MediaArg,
    /// Fetch media only from hosts matching PATTERN (`cdn.example.com`, `*.example.com`);
    /// repeatable. Internal addresses are refused whatever the patterns.
    #[arg(long = "media-allow-host", value_name = "PATTERN", value_parser = HostPattern::parse)]
    pub(crate) media_allow_hosts: Vec<HostPattern>,
    /// FOR TESTS ONLY: allow plain http (and an internal address) for media at exactly
    /// HOST:PORT.
    #[arg(long, value_name = "HOST:PORT", value_parser = chatdump_media::InsecureHost::parse)]
    pub(crate) allow_insecure_media_host: Option<chatdump_media::InsecureHost>,
    /// The largest attachment fetched; a larger one is left out with a warning.
    #[arg(long, value_name = "SIZE", default_value = "25MiB", value_parser = parse_size)]
    pub(crate) media_max_size: usize,
    /// The most media fetched for one dump; attachments beyond it are left out.
    #[arg(long, value_name = "SIZE", default_value = "1GiB", value_parser = parse_size)]
    pub(crate) media_max_total: usize,
    /// Attachments downloaded at once.
    #[arg(long, value_name = "N", default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=64))]
    pub(crate) media_concurrency: u16,
    /// The longest wait for an attachment's server to answer or send more of its body.
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = parse_duration)]
    pub(crate) media_timeout: Duration,
    /// An attachment that cannot be fetched is an error (exit 1, nothing written), not a
    /// warning.
    #[arg(long)]
    pub(crate) media_required: bool,
}
