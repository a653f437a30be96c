//! The speech readers' errors: like the chat reader's, every one names its file, and a record
//! error names the physical line (and, in JSON, the array element), the field and the offending
//! value, escaped and shortened.

use std::fmt::Write as _;
use std::io;

use crate::error::{RecordError, RecordErrorKind, Reject};
use crate::escape::{EXCERPT_CHARS, escape_for_terminal};
use crate::model::Position;

use super::TranscriptFormat;

/// An error reading a speech transcript.
#[derive(Debug, thiserror::Error)]
pub enum SpeechError {
    /// Reading the input failed.
    #[error("cannot read `{}`", escape_for_terminal(file, 200))]
    Io {
        /// The input's display name.
        file: String,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// The input has no bytes (or only a BOM and white space).
    #[error(
        "`{}` is empty: a speech transcript is CSV, JSON, WebVTT or SRT",
        escape_for_terminal(file, 200)
    )]
    Empty {
        /// The input's display name.
        file: String,
    },
    /// The content is none of the transcript formats, or its CSV header is not the transcript's.
    #[error(
        "`{}` line 1: not a speech transcript: {problem} (starts with: `{}`)",
        escape_for_terminal(file, 200),
        escape_for_terminal(start, EXCERPT_CHARS)
    )]
    NotATranscript {
        /// The input's display name.
        file: String,
        /// What is wrong.
        problem: String,
        /// The first line, as read.
        start: String,
    },
    /// The transcript's times are offsets from the session's start, and no start was given.
    #[error(
        "`{}`{}: the times of this {format} transcript are offsets from the session's start, so \
         the session's start is needed to place them on the clock (it is never guessed)",
        escape_for_terminal(file, 200),
        line.map(|line| format!(" line {line}")).unwrap_or_default()
    )]
    SessionStartNeeded {
        /// The input's display name.
        file: String,
        /// The format found.
        format: TranscriptFormat,
        /// The line of the first offset, when the format allows both (headerless CSV).
        line: Option<u64>,
    },
    /// A record is malformed.
    #[error(transparent)]
    Record(Box<UtteranceError>),
}

impl From<UtteranceError> for SpeechError {
    fn from(error: UtteranceError) -> Self {
        Self::Record(Box::new(error))
    }
}

impl SpeechError {
    /// Whether reading can go on after this error (in skip mode): only a recoverable record
    /// error lets it.
    #[must_use]
    pub fn is_recoverable(&self) -> bool {
        matches!(self, Self::Record(error) if error.kind.is_recoverable())
    }
}

/// A malformed utterance: where it starts, which field, what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", self.describe())]
pub struct UtteranceError {
    /// The input's display name.
    pub file: String,
    /// Where the record starts (in JSON, the physical line of the array element or of the
    /// syntax error inside it).
    pub position: Position,
    /// In JSON, the index of the array element, from 0.
    pub element: Option<u64>,
    /// The field at fault: the CSV column's name as in the header, the JSON field's path
    /// (`peerData.id`), or `timing` / `text` in a cue.
    pub field: Option<String>,
    /// What is wrong.
    pub kind: UtteranceErrorKind,
    /// The offending value, escaped and shortened (empty when there is none).
    pub excerpt: String,
}

/// What is wrong with an utterance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UtteranceErrorKind {
    /// A CSV or encoding problem the chat reader also reports (ragged record, quoting, invalid
    /// UTF-8, empty value, oversized record).
    Record(RecordErrorKind),
    /// A CSV record without the transcript's six fields (or as many as its header has).
    FieldCount {
        /// Fields a record must have.
        expected: usize,
        /// Fields in the record.
        found: usize,
    },
    /// A CSV `Timestamp` that is neither an instant nor whole milliseconds.
    InvalidTimestamp,
    /// A JSON time that is not a number of seconds at least 0.
    InvalidOffset,
    /// An offset more than [`super::MAX_OFFSET_SECONDS`] after the session's start.
    OffsetTooLarge,
    /// The end is before the start.
    EndBeforeStart,
    /// An array element that is not valid JSON.
    InvalidJson(String),
    /// A JSON value of the wrong type.
    WrongType {
        /// What was expected, e.g. `a string`.
        expected: &'static str,
    },
    /// A required JSON field is missing.
    MissingField,
    /// A cue's timing line is not `start --> end`.
    InvalidCueTiming,
    /// A block that is not a cue: no timing line where one must be.
    MissingCueTiming,
    /// A cue whose `<v>` spans name different speakers.
    SeveralSpeakers,
    /// The JSON array is never closed.
    UnterminatedArray,
    /// Something after the JSON array's closing `]`.
    TrailingData,
    /// The utterance names another session than the chat's.
    SessionMismatch {
        /// The chat's session id (escaped when shown).
        chat: String,
    },
}

impl UtteranceErrorKind {
    /// Whether reading can go on after this error (in skip mode). An oversized record, a JSON
    /// array never closed, text after it, or a transcript of another session stop the run.
    #[must_use]
    pub fn is_recoverable(&self) -> bool {
        match self {
            Self::Record(kind) => kind.is_recoverable(),
            Self::UnterminatedArray | Self::TrailingData | Self::SessionMismatch { .. } => false,
            _ => true,
        }
    }

    /// A short machine-readable name, used in the rejects file.
    #[must_use]
    pub fn code(&self) -> &'static str {
        match self {
            Self::Record(kind) => kind.code(),
            Self::FieldCount { .. } => "ragged_row",
            Self::InvalidTimestamp => "invalid_timestamp",
            Self::InvalidOffset => "invalid_offset",
            Self::OffsetTooLarge => "offset_too_large",
            Self::EndBeforeStart => "end_before_start",
            Self::InvalidJson(_) => "invalid_json",
            Self::WrongType { .. } => "wrong_type",
            Self::MissingField => "missing_field",
            Self::InvalidCueTiming => "invalid_cue_timing",
            Self::MissingCueTiming => "missing_cue_timing",
            Self::SeveralSpeakers => "several_speakers",
            Self::UnterminatedArray => "unterminated_array",
            Self::TrailingData => "trailing_data",
            Self::SessionMismatch { .. } => "session_mismatch",
        }
    }

    fn reason(&self) -> String {
        match self {
            Self::Record(kind) => RecordError {
                file: String::new(),
                position: Position::default(),
                column: None,
                kind: kind.clone(),
                excerpt: String::new(),
            }
            .reason(),
            Self::FieldCount { expected, found } => {
                format!("the record has {found} fields where a transcript record has {expected}")
            }
            Self::InvalidTimestamp => "not a timestamp: expected RFC 3339 / ISO 8601 with an offset (e.g. `2024-08-07T10:15:30.000Z`) or whole milliseconds from the session's start".into(),
            Self::InvalidOffset => {
                "not an offset: expected seconds from the session's start, a number at least 0 (e.g. `2.5`)".into()
            }
            Self::OffsetTooLarge => format!(
                "the offset is more than {} days after the session's start (an epoch time instead of an offset?)",
                super::MAX_OFFSET_SECONDS / 86_400
            ),
            Self::EndBeforeStart => "the end is before the start".into(),
            Self::InvalidJson(problem) => format!("not valid JSON: {problem}"),
            Self::WrongType { expected } => format!("expected {expected}"),
            Self::MissingField => "the field is missing".into(),
            Self::InvalidCueTiming => "not a cue timing: expected `00:01:02.500 --> 00:01:04.000` (SRT: `00:01:02,500 --> 00:01:04,000`)".into(),
            Self::MissingCueTiming => "not a cue: no timing line `start --> end`".into(),
            Self::SeveralSpeakers => "a cue with several speakers (`<v>` spans of different names)".into(),
            Self::UnterminatedArray => "the JSON array is never closed (the input ends inside it)".into(),
            Self::TrailingData => "text after the closing `]` of the JSON array".into(),
            Self::SessionMismatch { chat } => format!(
                "the transcript belongs to another session than the chat's (`{}`)",
                escape_for_terminal(chat, EXCERPT_CHARS)
            ),
        }
    }
}

impl UtteranceError {
    /// The human-readable reason, without the location (in JSON, it starts with the element).
    #[must_use]
    pub fn reason(&self) -> String {
        match self.element {
            Some(element) => format!("element {element}: {}", self.kind.reason()),
            None => self.kind.reason(),
        }
    }

    fn describe(&self) -> String {
        let mut text = format!("`{}` ", escape_for_terminal(&self.file, 200));
        match self.element {
            Some(element) => {
                let _ = write!(text, "element {element} (line {})", self.position.line);
            }
            None => {
                let _ = write!(text, "line {}", self.position.line);
            }
        }
        if let Some(field) = &self.field {
            let _ = write!(
                text,
                ", field `{}`",
                escape_for_terminal(field, EXCERPT_CHARS)
            );
        }
        text.push_str(": ");
        text.push_str(&self.kind.reason());
        if !self.excerpt.is_empty() {
            let _ = write!(text, ": `{}`", self.excerpt);
        }
        text
    }

    /// The utterance as a line of the rejects file (the same shape as a chat record's; the
    /// field goes in `column`, a JSON element's index at the start of `reason`).
    #[must_use]
    pub fn to_reject(&self) -> Reject<'_> {
        Reject {
            line: self.position.line,
            byte_offset: self.position.byte,
            column: self.field.as_deref(),
            error: self.kind.code(),
            reason: self.reason(),
            excerpt: &self.excerpt,
        }
    }

    /// A CSV error of the chat reader's kind, re-read as an utterance error.
    pub(crate) fn from_record(error: RecordError) -> Self {
        Self {
            file: error.file,
            position: error.position,
            element: None,
            field: error.column,
            kind: UtteranceErrorKind::Record(error.kind),
            excerpt: error.excerpt,
        }
    }
}
