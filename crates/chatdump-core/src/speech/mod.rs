//! The speech transcript and the AI summary of a session: the model and the readers.
//!
//! The platform makes, per session, a post-meeting transcript (CSV, JSON, `WebVTT` or SRT) and a
//! summary (plain text or Markdown). [`TranscriptReader`] reads any of the transcript formats,
//! recognised from the content (never from the file name, see [`detect`]), into [`Utterance`]s,
//! record by record and in memory bounded by the largest record, held to the chat reader's
//! standard: a bad record is an [`UtteranceError`] naming the file, the physical line (in JSON,
//! the array element and its line), the field and the escaped value; recoverable ones leave the
//! reader at the next record, so a caller in skip mode can write them to the rejects file
//! ([`UtteranceError::to_reject`]). [`read_summary`] reads the summary.
//!
//! Times: CSV `Timestamp`s are instants; JSON `startTime` / `endTime` and cue times are offsets
//! from the session's start, placed on the clock with [`SpeechOptions::session_start`], which
//! must then be given ([`SpeechError::SessionStartNeeded`] otherwise: it is never guessed, in
//! particular not from the chat).
//!
//! ```
//! use chatdump_core::speech::{SpeechOptions, TranscriptFormat, TranscriptReader};
//!
//! let csv = "Timestamp, Participant ID, User ID, Custom Participant ID, Participant Name, Transcript\n\
//!            2024-08-07T10:15:30.000Z,peer-123,user-456,cust-789,Alice,Hello everyone\n";
//! let mut reader = TranscriptReader::new(csv.as_bytes(), "t.csv", SpeechOptions::default())?;
//! assert_eq!(reader.format(), TranscriptFormat::Csv);
//! let utterance = reader.next().unwrap()?;
//! assert_eq!(utterance.participant_id.as_deref(), Some("peer-123"));
//! assert_eq!(utterance.text, "Hello everyone");
//! # Ok::<(), chatdump_core::speech::SpeechError>(())
//! ```

mod csv;
mod cues;
mod error;
mod json;
mod summary;

use std::fmt;
use std::io::{self, BufReader, Read};

use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};

use crate::escape::{EXCERPT_CHARS, escape_for_terminal};
use crate::model::Position;
use crate::reader::{DEFAULT_MAX_RECORD_BYTES, parse_timestamp};

pub use error::{SpeechError, UtteranceError, UtteranceErrorKind};
pub use summary::{DEFAULT_MAX_SUMMARY_BYTES, Summary, SummaryError, SummaryFormat, read_summary};

/// The largest offset from the session's start accepted (100 days, in seconds): a larger one is
/// an epoch time or a mistake, refused rather than placed decades away.
pub const MAX_OFFSET_SECONDS: u64 = 100 * 86_400;

/// How many bytes of the input are looked at to recognise its format.
const DETECT_BYTES: usize = 16 << 10;

/// One utterance of the speech transcript: who said what, when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Utterance {
    /// The session, when the transcript names it (JSON may; CSV, `WebVTT` and SRT do not).
    pub session_id: Option<String>,
    /// The speaker's peer id, the chat's `participantId` (CSV `Participant ID`, JSON
    /// `peerData.id`); `None` when empty, and always in `WebVTT` and SRT, which name the speaker
    /// only by display name.
    pub participant_id: Option<String>,
    /// The speaker's user id, `None` when empty or absent.
    pub user_id: Option<String>,
    /// The speaker's custom participant id, `None` when empty or absent.
    pub custom_participant_id: Option<String>,
    /// The speaker's display name as the transcript gives it (may be empty).
    pub display_name: String,
    /// When the utterance starts.
    pub start: Timestamp,
    /// When it ends, when the format says (JSON, `WebVTT`, SRT).
    pub end: Option<Timestamp>,
    /// What was said, as given (`WebVTT` and SRT: cue lines joined with `\n`, markup tags removed
    /// and `WebVTT` character references decoded).
    pub text: String,
    /// Where the record starts: physical line (1 = first line) and byte offset. In JSON, the
    /// array element's first byte.
    pub position: Position,
    /// The record's index in the file, from 0: in JSON the array index, elsewhere the count of
    /// records (or cues) before it, good or bad.
    pub index: u64,
}

/// A session's speech as the Markdown and HTML transcripts merge it with the chat
/// ([`crate::export::ExportContext::speech`]): every utterance, in time order (by `start`, then
/// by `index`), and the summary. Held in memory: a transcript is small next to a chat (a
/// ten-hour meeting's is a few MB), and the pipeline caps its size.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Speech {
    /// The utterances, sorted by `(start, index)`.
    pub utterances: Vec<Utterance>,
    /// The AI summary, when there is one.
    pub summary: Option<Summary>,
}

/// What a transcript writer adds to each utterance, kept once for every writer: the session and
/// meeting ids given by the caller (the chat's), and the position in time order.
#[derive(Debug, Clone, Default)]
pub struct UtteranceSequence {
    /// The session id written when an utterance names none (the chat's session).
    pub session_id: Option<String>,
    /// The meeting id written with every utterance (the chat's meeting).
    pub meeting_id: Option<String>,
    next_seq: u64,
    previous_start: Option<Timestamp>,
}

/// The ids and position [`UtteranceSequence::next`] gives an utterance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sequenced<'a> {
    /// The utterance's own session when the transcript names one, else the given one.
    pub session_id: Option<&'a str>,
    /// The given meeting.
    pub meeting_id: Option<&'a str>,
    /// The 0-based position in time order.
    pub seq: u64,
}

impl UtteranceSequence {
    /// Places `utterance` after the ones before it. An error when it starts before the previous
    /// one (the writers number utterances in time order), or names a session other than the
    /// given one.
    pub fn next<'a>(
        &'a mut self,
        utterance: &'a Utterance,
    ) -> Result<Sequenced<'a>, crate::ExportError> {
        if let Some(previous) = self.previous_start
            && utterance.start < previous
        {
            return Err(crate::ExportError::format(format!(
                "the utterance at line {} starts at {}, before the previous one ({}): utterances must be written in time order",
                utterance.position.line, utterance.start, previous
            )));
        }
        let session_id = match (utterance.session_id.as_deref(), self.session_id.as_deref()) {
            (Some(own), Some(given)) if own != given => {
                return Err(crate::ExportError::format(format!(
                    "the utterance at line {} names session `{}`, not `{}`",
                    utterance.position.line,
                    escape_for_terminal(own, EXCERPT_CHARS),
                    escape_for_terminal(given, EXCERPT_CHARS)
                )));
            }
            (own, given) => own.or(given),
        };
        let seq = self.next_seq;
        self.next_seq += 1;
        self.previous_start = Some(utterance.start);
        Ok(Sequenced {
            session_id,
            meeting_id: self.meeting_id.as_deref(),
            seq,
        })
    }

    /// How many utterances were placed.
    #[must_use]
    pub fn count(&self) -> u64 {
        self.next_seq
    }
}

/// A transcript format, as recognised by [`detect`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum TranscriptFormat {
    /// CSV with the header `Timestamp, Participant ID, User ID, Custom Participant ID,
    /// Participant Name, Transcript`.
    Csv,
    /// The same six columns, in that order, without a header line.
    HeaderlessCsv,
    /// A JSON array of `{startTime, endTime, sentence, peerData}`.
    Json,
    /// `WebVTT`.
    WebVtt,
    /// SRT (`SubRip`).
    Srt,
}

impl TranscriptFormat {
    /// The format's name in messages.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Self::Csv => "CSV",
            Self::HeaderlessCsv => "headerless CSV",
            Self::Json => "JSON",
            Self::WebVtt => "WebVTT",
            Self::Srt => "SRT",
        }
    }
}

impl fmt::Display for TranscriptFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Options for [`TranscriptReader`].
#[derive(Debug, Clone)]
pub struct SpeechOptions {
    /// The session's start (`started_at`), which JSON, `WebVTT` and SRT times and headerless
    /// CSV milliseconds count from. Required by those; ignored by CSV instants.
    pub session_start: Option<Timestamp>,
    /// The chat's session id: an utterance naming another session is an error that stops the
    /// run ([`UtteranceErrorKind::SessionMismatch`]). Only checked where the transcript names
    /// its session.
    pub chat_session_id: Option<String>,
    /// A record (CSV record, JSON array element, cue) larger than this is an error that stops
    /// the run.
    pub max_record_bytes: usize,
}

impl Default for SpeechOptions {
    fn default() -> Self {
        Self {
            session_start: None,
            chat_session_id: None,
            max_record_bytes: DEFAULT_MAX_RECORD_BYTES,
        }
    }
}

/// Recognises a transcript's format from the start of its content (a BOM and leading white
/// space are skipped):
///
/// 1. `WEBVTT`, then white space or the end: `WebVTT`;
/// 2. `[`: JSON;
/// 3. a line of digits, then (after blank lines) a line containing `-->`: SRT;
/// 4. a first line with a comma whose fields, trimmed and unquoted, include `Timestamp` and
///    `Transcript` (any case, spaces, `_` and `-` ignored): CSV with its header;
/// 5. a first line with a comma whose first field is an RFC 3339 instant or all digits: CSV
///    without a header;
///
/// anything else: `None`.
#[must_use]
pub fn detect(start: &[u8]) -> Option<TranscriptFormat> {
    let start = start.strip_prefix(b"\xef\xbb\xbf").unwrap_or(start);
    let start = start.trim_ascii_start();
    if let Some(rest) = start.strip_prefix(b"WEBVTT")
        && rest.first().is_none_or(u8::is_ascii_whitespace)
    {
        return Some(TranscriptFormat::WebVtt);
    }
    if start.first() == Some(&b'[') {
        return Some(TranscriptFormat::Json);
    }
    let mut lines = start
        .split(|&byte| byte == b'\n')
        .map(<[u8]>::trim_ascii)
        .filter(|line| !line.is_empty());
    let first = lines.next()?;
    if first.iter().all(u8::is_ascii_digit) {
        return lines
            .next()
            .filter(|line| line.windows(3).any(|w| w == b"-->"))
            .map(|_| TranscriptFormat::Srt);
    }
    let first = std::str::from_utf8(first).ok()?;
    if !first.contains(',') {
        return None;
    }
    let fields: Vec<String> = first.split(',').map(csv::normalise_name).collect();
    if fields.iter().any(|name| name == "timestamp")
        && fields.iter().any(|name| name == "transcript")
    {
        return Some(TranscriptFormat::Csv);
    }
    let value = first
        .split(',')
        .next()
        .unwrap_or_default()
        .trim()
        .trim_matches('"');
    let is_instant =
        !value.bytes().all(|b| b.is_ascii_digit() || b == b'.') && parse_timestamp(value).is_some();
    (is_instant || (!value.is_empty() && value.bytes().all(|b| b.is_ascii_digit())))
        .then_some(TranscriptFormat::HeaderlessCsv)
}

/// The input after detection: the bytes looked at, then the rest.
type Peeked<R> = io::Chain<io::Cursor<Vec<u8>>, R>;

enum Inner<R: Read> {
    Csv(Box<csv::CsvTranscript<Peeked<R>>>),
    Json(json::JsonTranscript<BufReader<Peeked<R>>>),
    Cues(cues::CueTranscript<BufReader<Peeked<R>>>),
}

/// Reads a speech transcript utterance by utterance, in file order, in memory bounded by the
/// largest record (`max_record_bytes`).
///
/// Each call to [`Iterator::next`] returns the next utterance, the next record's error, or
/// `None` at the end. After an error whose [`SpeechError::is_recoverable`] is false, it
/// returns `None`.
pub struct TranscriptReader<R: Read> {
    file: String,
    format: TranscriptFormat,
    chat_session_id: Option<String>,
    inner: Inner<R>,
    done: bool,
}

impl<R: Read> TranscriptReader<R> {
    /// Opens a transcript: recognises its format ([`detect`]), and reads a CSV header.
    /// `file` is the name used in errors.
    pub fn new(
        mut input: R,
        file: impl Into<String>,
        options: SpeechOptions,
    ) -> Result<Self, SpeechError> {
        let file = file.into();
        let mut start = Vec::with_capacity(DETECT_BYTES.min(4096));
        (&mut input)
            .take(DETECT_BYTES as u64)
            .read_to_end(&mut start)
            .map_err(|source| SpeechError::Io {
                file: file.clone(),
                source,
            })?;
        let content = start.strip_prefix(b"\xef\xbb\xbf").unwrap_or(&start);
        if content.trim_ascii().is_empty() {
            return Err(SpeechError::Empty { file });
        }
        let Some(format) = detect(&start) else {
            let first = content
                .trim_ascii_start()
                .split(|&byte| byte == b'\n')
                .next()
                .unwrap_or_default();
            return Err(SpeechError::NotATranscript {
                file,
                problem: "expected CSV (`Timestamp, Participant ID, ...` or six columns starting with a timestamp), a JSON array, WebVTT (`WEBVTT`) or SRT (`1` then `00:00:00,000 --> ...`)".into(),
                start: String::from_utf8_lossy(&first[..first.len().min(4 * EXCERPT_CHARS)])
                    .trim_end()
                    .to_owned(),
            });
        };
        let input = io::Cursor::new(start).chain(input);
        let needs_start = |format| {
            options
                .session_start
                .ok_or_else(|| SpeechError::SessionStartNeeded {
                    file: file.clone(),
                    format,
                    line: None,
                })
        };
        let inner = match format {
            TranscriptFormat::Csv | TranscriptFormat::HeaderlessCsv => Inner::Csv(Box::new(
                csv::CsvTranscript::new(input, &file, format, &options)?,
            )),
            TranscriptFormat::Json => Inner::Json(json::JsonTranscript::new(
                BufReader::new(input),
                &file,
                needs_start(format)?,
                options.max_record_bytes,
            )?),
            TranscriptFormat::WebVtt | TranscriptFormat::Srt => {
                Inner::Cues(cues::CueTranscript::new(
                    BufReader::new(input),
                    &file,
                    format == TranscriptFormat::Srt,
                    needs_start(format)?,
                    options.max_record_bytes,
                ))
            }
        };
        Ok(Self {
            file,
            format,
            chat_session_id: options.chat_session_id,
            inner,
            done: false,
        })
    }

    /// The format recognised.
    #[must_use]
    pub fn format(&self) -> TranscriptFormat {
        self.format
    }

    /// The input's display name.
    #[must_use]
    pub fn file(&self) -> &str {
        &self.file
    }
}

impl<R: Read> Iterator for TranscriptReader<R> {
    type Item = Result<Utterance, SpeechError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let result = match &mut self.inner {
            Inner::Csv(reader) => reader.next(),
            Inner::Json(reader) => reader.next(),
            Inner::Cues(reader) => reader.next(),
        };
        let result = match result {
            None => {
                self.done = true;
                return None;
            }
            Some(Ok(utterance)) => match &self.chat_session_id {
                Some(chat) => check_session(&utterance, &self.file, chat).map(|()| utterance),
                None => Ok(utterance),
            },
            Some(Err(error)) => Err(error),
        };
        if let Err(error) = &result {
            self.done = !error.is_recoverable();
        }
        Some(result)
    }
}

/// Checks that an utterance belongs to the chat's session: an utterance that names another
/// session is an error ([`UtteranceErrorKind::SessionMismatch`], not recoverable); one that
/// names none (CSV, `WebVTT`, SRT, JSON without `sessionId`) passes.
pub fn check_session(
    utterance: &Utterance,
    file: &str,
    chat_session_id: &str,
) -> Result<(), SpeechError> {
    match &utterance.session_id {
        Some(session) if session != chat_session_id => Err(SpeechError::from(UtteranceError {
            file: file.to_owned(),
            position: utterance.position,
            element: None,
            field: Some("sessionId".into()),
            kind: UtteranceErrorKind::SessionMismatch {
                chat: chat_session_id.to_owned(),
            },
            excerpt: escape_for_terminal(session, EXCERPT_CHARS),
        })),
        _ => Ok(()),
    }
}

/// `start` plus `nanos` nanoseconds, or `None` when out of range.
pub(crate) fn offset_from(start: Timestamp, nanos: i64) -> Option<Timestamp> {
    start.checked_add(SignedDuration::from_nanos(nanos)).ok()
}

/// `None` for a blank value, the value otherwise.
pub(crate) fn non_blank(value: &str) -> Option<String> {
    (!value.trim().is_empty()).then(|| value.to_owned())
}
