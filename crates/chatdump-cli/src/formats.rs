//! The one place that knows the list of output formats.

use std::io::Write;

use chatdump_core::export::Exporter;

use crate::cli::{ConvertArgs, Format};

/// The file extension of a format's output.
pub(crate) fn extension(format: Format) -> &'static str {
    match format {
        Format::Jsonl => "jsonl",
        Format::Parquet => "parquet",
        Format::Markdown => "md",
        Format::Html => "html",
    }
}

/// The name used in messages.
pub(crate) fn name(format: Format) -> &'static str {
    match format {
        Format::Jsonl => "JSONL",
        Format::Parquet => "Parquet",
        Format::Markdown => "Markdown",
        Format::Html => "HTML",
    }
}

/// Whether this build can write `format`; the reason when it cannot.
#[expect(
    clippy::unnecessary_wraps,
    reason = "every format is available today; a format behind a cargo feature would not be"
)]
pub(crate) fn check_available(format: Format) -> Result<(), String> {
    match format {
        Format::Jsonl | Format::Parquet | Format::Markdown | Format::Html => Ok(()),
    }
}

/// Whether the format can go to standard output (binary formats cannot go to a terminal).
pub(crate) fn is_text(format: Format) -> bool {
    !matches!(format, Format::Parquet)
}

/// Creates the exporter for `format` writing to `out`, configured from the command line.
pub(crate) fn exporter<'a>(
    format: Format,
    out: Box<dyn Write + Send>,
    args: &ConvertArgs,
) -> Box<dyn Exporter + 'a> {
    match format {
        Format::Jsonl => match args.output_options.jsonl_flavor() {
            chatdump_jsonl::Flavor::Plain => Box::new(chatdump_jsonl::JsonlWriter::new(out)),
            flavor => Box::new(chatdump_jsonl::FlavorWriter::new(out, flavor)),
        },
        Format::Parquet => Box::new(chatdump_parquet::ParquetWriter::new(
            out,
            args.output_options.parquet_options(),
        )),
        Format::Markdown => Box::new(chatdump_markdown::MarkdownWriter::new(
            out,
            args.transcript.options(),
        )),
        Format::Html => Box::new(chatdump_html::HtmlWriter::new(
            out,
            args.transcript.options(),
        )),
    }
}
