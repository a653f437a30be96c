//! The one place that knows the list of output formats.

use chatdump_core::export::Exporter;
use chatdump_core::output::Sink;
use chatdump_jsonl::Flavor;
use chatdump_parquet::ParquetOptions;
use chatdump_transcript::TranscriptOptions;

/// An output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    /// JSON Lines: one object per message (for search indexes and scripts).
    Jsonl,
    /// Apache Parquet (for data warehouses).
    Parquet,
    /// A Markdown transcript.
    Markdown,
    /// A self-contained HTML transcript.
    Html,
}

impl Format {
    /// Every format, in the order outputs are listed.
    pub const ALL: [Self; 4] = [Self::Jsonl, Self::Parquet, Self::Markdown, Self::Html];

    /// The file extension of the format's output.
    #[must_use]
    pub fn extension(self) -> &'static str {
        match self {
            Self::Jsonl => "jsonl",
            Self::Parquet => "parquet",
            Self::Markdown => "md",
            Self::Html => "html",
        }
    }

    /// The name used in messages.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Self::Jsonl => "JSONL",
            Self::Parquet => "Parquet",
            Self::Markdown => "Markdown",
            Self::Html => "HTML",
        }
    }

    /// Whether the format can go to standard output (binary formats cannot go to a terminal).
    #[must_use]
    pub fn is_text(self) -> bool {
        !matches!(self, Self::Parquet)
    }
}

/// How each format is written.
#[derive(Debug, Clone, Default)]
pub struct FormatOptions {
    /// The JSONL shape: plain, or ready for a search index.
    pub jsonl: Flavor,
    /// The Parquet writer's options (also those of a partitioned dataset).
    pub parquet: ParquetOptions,
    /// The Markdown and HTML transcripts' options.
    pub transcript: TranscriptOptions,
}

/// Creates the exporter for `format` writing to `out`.
pub(crate) fn exporter<'a>(
    format: Format,
    out: Box<dyn Sink>,
    options: &FormatOptions,
) -> Box<dyn Exporter + Send + 'a> {
    match format {
        Format::Jsonl => match &options.jsonl {
            Flavor::Plain => Box::new(chatdump_jsonl::JsonlWriter::new(out)),
            flavor => Box::new(chatdump_jsonl::FlavorWriter::new(out, flavor.clone())),
        },
        Format::Parquet => Box::new(chatdump_parquet::ParquetWriter::new(
            out,
            options.parquet.clone(),
        )),
        Format::Markdown => Box::new(chatdump_markdown::MarkdownWriter::new(
            out,
            options.transcript.clone(),
        )),
        Format::Html => Box::new(chatdump_html::HtmlWriter::new(
            out,
            options.transcript.clone(),
        )),
    }
}
