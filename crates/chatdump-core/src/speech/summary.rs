//! The session's AI summary: plain text or Markdown.

use std::io::{self, Read};

use serde::{Deserialize, Serialize};

use crate::error::excerpt;
use crate::escape::escape_for_terminal;

/// The default limit on a summary's size: 1 MiB (a summary is a page or two).
pub const DEFAULT_MAX_SUMMARY_BYTES: usize = 1 << 20;

/// How a summary is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum SummaryFormat {
    /// Markdown (the meeting's `ai_config.summarization.text_format` = `markdown`).
    Markdown,
    /// Plain text (the platform's default).
    Plain,
}

impl SummaryFormat {
    /// The format a summary's text looks like: Markdown when a line (after at most three
    /// spaces) starts with a heading (`#` to `######` then a space), a list item (`- `, `* `,
    /// `+ `, or digits then `. ` or `) `), a quote (`> `) or a code fence (three backticks), or
    /// when the text holds `**` or a link `](`; plain text otherwise.
    #[must_use]
    pub fn detect(text: &str) -> Self {
        if text.contains("**") || text.contains("](") {
            return Self::Markdown;
        }
        let markdown_line = |line: &str| {
            let indent = line.len() - line.trim_start_matches(' ').len();
            if indent > 3 {
                return false;
            }
            let line = &line[indent..];
            let hashes = line.len() - line.trim_start_matches('#').len();
            if (1..=6).contains(&hashes) && line[hashes..].starts_with(' ') {
                return true;
            }
            if ["- ", "* ", "+ ", "> ", "```"]
                .iter()
                .any(|marker| line.starts_with(marker))
            {
                return true;
            }
            let digits = line.len() - line.trim_start_matches(|c: char| c.is_ascii_digit()).len();
            (1..=9).contains(&digits)
                && (line[digits..].starts_with(". ") || line[digits..].starts_with(") "))
        };
        if text.lines().any(markdown_line) {
            Self::Markdown
        } else {
            Self::Plain
        }
    }

    /// The file extension the summary is written with: `md` or `txt`.
    #[must_use]
    pub fn extension(self) -> &'static str {
        match self {
            Self::Markdown => "md",
            Self::Plain => "txt",
        }
    }
}

/// A session's summary.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Summary {
    /// The text: valid UTF-8, BOM removed, line ends `\n`.
    pub text: String,
    /// How it is written.
    pub format: SummaryFormat,
}

/// An error reading a summary.
#[derive(Debug, thiserror::Error)]
pub enum SummaryError {
    /// Reading the input failed.
    #[error("cannot read `{}`", escape_for_terminal(file, 200))]
    Io {
        /// The input's display name.
        file: String,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// The summary holds nothing but white space.
    #[error(
        "`{}` is empty: the summary holds no text",
        escape_for_terminal(file, 200)
    )]
    Empty {
        /// The input's display name.
        file: String,
    },
    /// The summary is larger than the limit.
    #[error(
        "`{}` is larger than {limit} bytes: not a summary? (raise the summary size limit if it is genuine)",
        escape_for_terminal(file, 200)
    )]
    TooLarge {
        /// The input's display name.
        file: String,
        /// The limit in bytes.
        limit: usize,
    },
    /// The summary is not valid UTF-8.
    #[error(
        "`{}` line {line}: the summary is not valid UTF-8: `{excerpt}`",
        escape_for_terminal(file, 200)
    )]
    InvalidUtf8 {
        /// The input's display name.
        file: String,
        /// The physical line of the first invalid byte.
        line: u64,
        /// The line up to a little after the invalid byte, escaped.
        excerpt: String,
    },
}

/// Reads a summary: at most `max_bytes`, UTF-8 checked, a BOM removed, CRLF and lone CR turned
/// into LF. Its format is `format` when the caller knows it (from the meeting's configuration
/// or the file's name), [`SummaryFormat::detect`] otherwise. `file` is the name used in errors.
pub fn read_summary(
    input: impl Read,
    file: &str,
    format: Option<SummaryFormat>,
    max_bytes: usize,
) -> Result<Summary, SummaryError> {
    let mut bytes = Vec::new();
    input
        .take(max_bytes as u64 + 1)
        .read_to_end(&mut bytes)
        .map_err(|source| SummaryError::Io {
            file: file.to_owned(),
            source,
        })?;
    if bytes.len() > max_bytes {
        return Err(SummaryError::TooLarge {
            file: file.to_owned(),
            limit: max_bytes,
        });
    }
    let content = bytes.strip_prefix(b"\xef\xbb\xbf").unwrap_or(&bytes);
    let text = match std::str::from_utf8(content) {
        Ok(text) => text,
        Err(error) => {
            let bad = error.valid_up_to();
            let line_start = content[..bad]
                .iter()
                .rposition(|&b| b == b'\n')
                .map_or(0, |at| at + 1);
            let line = memchr::memchr_iter(b'\n', &content[..bad]).count() as u64 + 1;
            let end = (bad + 8).min(content.len());
            let shown = &content[line_start.max(bad.saturating_sub(60))..end];
            let shown = shown.split(|&b| b == b'\n').next().unwrap_or_default();
            return Err(SummaryError::InvalidUtf8 {
                file: file.to_owned(),
                line,
                excerpt: excerpt(shown),
            });
        }
    };
    if text.trim().is_empty() {
        return Err(SummaryError::Empty {
            file: file.to_owned(),
        });
    }
    let text = text.replace("\r\n", "\n").replace('\r', "\n");
    let format = format.unwrap_or_else(|| SummaryFormat::detect(&text));
    Ok(Summary { text, format })
}
