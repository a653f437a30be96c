//! Errors: every one names its file, and a record error names the physical line, the column and
//! the offending value (escaped and shortened, so it is safe to print).

use std::fmt::Write as _;
use std::io;

use serde::Serialize;

use crate::escape::{EXCERPT_CHARS, escape_for_terminal};
use crate::model::Position;

/// An error that stops reading a dump.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// Reading the input failed.
    #[error("cannot read `{}`", escape_for_terminal(file, 200))]
    Io {
        /// The input's display name.
        file: String,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// The input has no bytes at all.
    #[error(
        "`{}` is empty: a chat dump starts with the header line `id,participantId,sessionId,...`",
        escape_for_terminal(file, 200)
    )]
    Empty {
        /// The input's display name.
        file: String,
    },
    /// The header line is not the header of a chat dump.
    #[error(
        "`{}` line 1: not a chat dump: {problem} (header: `{}`)",
        escape_for_terminal(file, 200),
        escape_for_terminal(header, EXCERPT_CHARS)
    )]
    NotAChatDump {
        /// The input's display name.
        file: String,
        /// What is wrong with the header.
        problem: String,
        /// The header line as read.
        header: String,
    },
    /// A record is malformed.
    #[error(transparent)]
    Record(#[from] RecordError),
}

/// A malformed record: where it starts, which column, what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", self.describe())]
pub struct RecordError {
    /// The input's display name.
    pub file: String,
    /// Where the record starts.
    pub position: Position,
    /// The column at fault, when one is.
    pub column: Option<String>,
    /// What is wrong.
    pub kind: RecordErrorKind,
    /// The offending value, escaped and shortened (empty when there is none).
    pub excerpt: String,
}

/// What is wrong with a record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecordErrorKind {
    /// The record does not have as many fields as the header.
    Ragged {
        /// Fields in the header.
        expected: usize,
        /// Fields in the record.
        found: usize,
    },
    /// A `"` inside an unquoted field.
    StrayQuote,
    /// Text after the closing quote of a quoted field.
    TextAfterQuote,
    /// A quoted field that is never closed before the end of the input.
    UnterminatedQuote,
    /// The field is not valid UTF-8.
    InvalidUtf8,
    /// A required value is empty.
    EmptyValue,
    /// `createdAt` is not a timestamp.
    InvalidTimestamp,
    /// A boolean column holds something else.
    InvalidBoolean,
    /// The record is larger than the configured limit.
    TooLarge {
        /// The limit in bytes.
        limit: usize,
    },
    /// The same id was seen with different content.
    ConflictingDuplicate {
        /// The line of the first occurrence.
        first_line: u64,
    },
}

impl RecordErrorKind {
    /// Whether reading can go on after this error (in skip mode). After an oversized record the
    /// record boundaries are lost, so that stops the run. An unterminated quote runs to the end
    /// of the input (a download cut inside a field): the records before it are whole, and the
    /// tail is rejected as one record, after which there is nothing left to read.
    #[must_use]
    pub fn is_recoverable(&self) -> bool {
        !matches!(self, Self::TooLarge { .. })
    }

    /// A short machine-readable name, used in the rejects file.
    #[must_use]
    pub fn code(&self) -> &'static str {
        match self {
            Self::Ragged { .. } => "ragged_row",
            Self::StrayQuote => "stray_quote",
            Self::TextAfterQuote => "text_after_quote",
            Self::UnterminatedQuote => "unterminated_quote",
            Self::InvalidUtf8 => "invalid_utf8",
            Self::EmptyValue => "empty_value",
            Self::InvalidTimestamp => "invalid_timestamp",
            Self::InvalidBoolean => "invalid_boolean",
            Self::TooLarge { .. } => "record_too_large",
            Self::ConflictingDuplicate { .. } => "conflicting_duplicate",
        }
    }

    fn reason(&self) -> String {
        match self {
            Self::Ragged { expected, found } => {
                format!("the record has {found} fields but the header has {expected}")
            }
            Self::StrayQuote => "a `\"` inside an unquoted field (quote the field and double the `\"`)".into(),
            Self::TextAfterQuote => "text after the closing quote of a quoted field".into(),
            Self::UnterminatedQuote => {
                "a quoted field is never closed (the input ends inside quotes)".into()
            }
            Self::InvalidUtf8 => "the value is not valid UTF-8".into(),
            Self::EmptyValue => "the value is empty".into(),
            Self::InvalidTimestamp => "not a timestamp: expected RFC 3339 / ISO 8601 with an offset (e.g. `2024-05-14T09:00:04.112Z`) or epoch seconds or milliseconds".into(),
            Self::InvalidBoolean => {
                "not a boolean: expected true/false, t/f, 1/0, yes/no or empty".into()
            }
            Self::TooLarge { limit } => format!(
                "the record is larger than {limit} bytes (an unterminated quote?); raise --max-record-size if it is genuine"
            ),
            Self::ConflictingDuplicate { first_line } => format!(
                "the same id appears on line {first_line} with different content"
            ),
        }
    }
}

impl RecordError {
    /// The human-readable reason, without the location.
    #[must_use]
    pub fn reason(&self) -> String {
        self.kind.reason()
    }

    fn describe(&self) -> String {
        let mut text = format!(
            "`{}` line {}",
            escape_for_terminal(&self.file, 200),
            self.position.line
        );
        if let Some(column) = &self.column {
            let _ = write!(
                text,
                ", column `{}`",
                escape_for_terminal(column, EXCERPT_CHARS)
            );
        }
        text.push_str(": ");
        text.push_str(&self.kind.reason());
        if !self.excerpt.is_empty() {
            let _ = write!(text, ": `{}`", self.excerpt);
        }
        text
    }

    /// The record as a line of the rejects file.
    #[must_use]
    pub fn to_reject(&self) -> Reject<'_> {
        Reject {
            line: self.position.line,
            byte_offset: self.position.byte,
            column: self.column.as_deref(),
            error: self.kind.code(),
            reason: self.reason(),
            excerpt: &self.excerpt,
        }
    }
}

/// One line of a rejects file (JSONL), written in skip mode for every record left out.
#[derive(Debug, Serialize)]
pub struct Reject<'a> {
    /// The physical line the record starts on.
    pub line: u64,
    /// The byte offset the record starts at.
    pub byte_offset: u64,
    /// The column at fault, if any.
    pub column: Option<&'a str>,
    /// A machine-readable error code.
    pub error: &'static str,
    /// A human-readable reason.
    pub reason: String,
    /// The offending value, escaped and shortened.
    pub excerpt: &'a str,
}

/// Builds the excerpt of an offending value.
pub(crate) fn excerpt(value: &[u8]) -> String {
    escape_for_terminal(&String::from_utf8_lossy(value), EXCERPT_CHARS)
}

/// An error and its sources on one line, `a: b: c` (a source whose text its parent already ends
/// with is not repeated), for logs and job records where there is no `{:#}` formatter.
#[must_use]
pub fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let next = cause.to_string();
        if !text.ends_with(&next) {
            text.push_str(": ");
            text.push_str(&next);
        }
        source = cause.source();
    }
    text
}
