//! The command-line options of the Markdown and HTML transcripts.

use std::path::PathBuf;

use chatdump_transcript::Zone;
use clap::Args;

use super::values::{parse_directory, parse_zone};

/// Options for `--format markdown` and `--format html`.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Transcripts (Markdown, HTML)")]
pub(crate) struct TranscriptArgs {
    /// The time zone transcript times are shown in, an IANA name such as `Europe/Madrid`
    /// (from the database built into chatdump, so every machine gives the same output).
    #[arg(long, value_name = "IANA_NAME", default_value = "UTC", value_parser = parse_zone)]
    pub(crate) timezone: Zone,
    /// A directory of templates overriding the built-in ones by file name
    /// (`transcript.html.jinja`, `group.md.jinja`, `transcript.css`, ...).
    #[arg(long, value_name = "DIR", value_parser = parse_directory)]
    pub(crate) templates: Option<PathBuf>,
    /// Show image messages as links instead of loading the images when the HTML transcript is
    /// opened (the page then makes no network request at all).
    #[arg(long)]
    pub(crate) no_remote_images: bool,
}
