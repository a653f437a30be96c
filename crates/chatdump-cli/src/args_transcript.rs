//! The command-line options of the Markdown and HTML transcripts.

use std::path::PathBuf;

use chatdump_transcript::{TranscriptOptions, Zone};
use clap::Args;

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

impl TranscriptArgs {
    /// The library options these flags mean.
    pub(crate) fn options(&self) -> TranscriptOptions {
        TranscriptOptions {
            zone: self.timezone.clone(),
            templates: self.templates.clone(),
            remote_images: !self.no_remote_images,
            ..TranscriptOptions::default()
        }
    }
}

fn parse_zone(name: &str) -> Result<Zone, String> {
    Zone::from_name(name)
        .map_err(|error| chatdump_core::escape::escape_for_terminal(&error.to_string(), 200))
}

fn parse_directory(path: &str) -> Result<PathBuf, String> {
    let path = PathBuf::from(path);
    if path.is_dir() {
        Ok(path)
    } else {
        Err(format!(
            "`{}` is not a directory",
            chatdump_core::escape::escape_for_terminal(&path.display().to_string(), 200)
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zones_are_checked() {
        assert_eq!(parse_zone("asia/tokyo").unwrap().name(), "Asia/Tokyo");
        let error = parse_zone("Moon/Base\u{1b}").unwrap_err();
        assert!(error.contains("\\u{1b}"), "{error}");
        assert!(parse_directory("/definitely/not/here").is_err());
    }
}
