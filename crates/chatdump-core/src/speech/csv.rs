//! The CSV transcript, with or without its header line, read with the chat reader's CSV
//! machinery (exact physical lines, strict quoting, the record-size cap).

use std::io::Read;

use jiff::Timestamp;

use crate::error::{ReadError, RecordErrorKind, excerpt};
use crate::model::Position;
use crate::reader::{ChatReader, ReaderOptions, parse_timestamp};

use super::{
    MAX_OFFSET_SECONDS, SpeechError, SpeechOptions, TranscriptFormat, Utterance, UtteranceError,
    UtteranceErrorKind, non_blank, offset_from,
};

/// The documented columns, in documented order.
pub(crate) const COLUMNS: [&str; 6] = [
    "Timestamp",
    "Participant ID",
    "User ID",
    "Custom Participant ID",
    "Participant Name",
    "Transcript",
];
const TIMESTAMP: usize = 0;
const PARTICIPANT_ID: usize = 1;
const USER_ID: usize = 2;
const CUSTOM_PARTICIPANT_ID: usize = 3;
const NAME: usize = 4;
const TRANSCRIPT: usize = 5;

/// A header name without surrounding white space and quotes, in lower case, without spaces,
/// `_` and `-`: `Participant ID`, `participant_id` and `"ParticipantId"` are one name.
pub(crate) fn normalise_name(name: &str) -> String {
    name.trim()
        .trim_matches('"')
        .chars()
        .filter(|c| !matches!(c, '_' | '-') && !c.is_whitespace())
        .flat_map(char::to_lowercase)
        .collect()
}

pub(crate) struct CsvTranscript<R> {
    reader: ChatReader<R>,
    file: String,
    format: TranscriptFormat,
    /// For each documented column, its index in the record.
    columns: [usize; 6],
    /// The number of fields of every record.
    width: usize,
    session_start: Option<Timestamp>,
    index: u64,
    done: bool,
}

impl<R: Read> CsvTranscript<R> {
    pub(crate) fn new(
        input: R,
        file: &str,
        format: TranscriptFormat,
        options: &SpeechOptions,
    ) -> Result<Self, SpeechError> {
        let reader_options = ReaderOptions {
            max_record_bytes: options.max_record_bytes,
            ..ReaderOptions::default()
        };
        let mut reader =
            ChatReader::headerless(input, file, reader_options).map_err(|error| io(file, error))?;
        let mut columns = [0, 1, 2, 3, 4, 5];
        let mut names: Vec<String> = COLUMNS.iter().map(|&name| name.to_owned()).collect();
        if format == TranscriptFormat::Csv {
            let not_a_transcript = |problem: String, start: String| SpeechError::NotATranscript {
                file: file.to_owned(),
                problem,
                start,
            };
            let (_, count) = match reader.next_record() {
                Some(Ok(header)) => header,
                Some(Err(ReadError::Record(error))) => {
                    return Err(not_a_transcript(error.reason(), error.excerpt));
                }
                Some(Err(error)) => return Err(io(file, error)),
                None => return Err(SpeechError::Empty { file: file.into() }),
            };
            let fields: Vec<String> = (0..count)
                .map(|index| String::from_utf8_lossy(reader.field(index)).into_owned())
                .collect();
            let line = fields.join(",");
            if fields.iter().any(|field| field.contains('\u{fffd}')) {
                return Err(not_a_transcript(
                    "the header is not valid UTF-8".into(),
                    line,
                ));
            }
            let normalised: Vec<String> = fields.iter().map(|name| normalise_name(name)).collect();
            for (index, name) in normalised.iter().enumerate() {
                if !name.is_empty() && normalised[..index].contains(name) {
                    return Err(not_a_transcript(
                        format!("column `{}` appears twice", fields[index].trim()),
                        line,
                    ));
                }
            }
            let mut missing = Vec::new();
            for (slot, column) in COLUMNS.iter().enumerate() {
                match normalised
                    .iter()
                    .position(|name| *name == normalise_name(column))
                {
                    Some(index) => columns[slot] = index,
                    None => missing.push(format!("`{column}`")),
                }
            }
            if !missing.is_empty() {
                return Err(not_a_transcript(
                    format!("missing column(s) {}", missing.join(", ")),
                    line,
                ));
            }
            names = fields.iter().map(|name| name.trim().to_owned()).collect();
        }
        let width = names.len();
        reader.set_column_names(names);
        Ok(Self {
            reader,
            file: file.to_owned(),
            format,
            columns,
            width,
            session_start: options.session_start,
            index: 0,
            done: false,
        })
    }

    pub(crate) fn next(&mut self) -> Option<Result<Utterance, SpeechError>> {
        if self.done {
            return None;
        }
        let index = self.index;
        let (position, count) = match self.reader.next_record()? {
            Ok(record) => record,
            Err(ReadError::Record(error)) => {
                self.index += 1;
                let mut error = UtteranceError::from_record(error);
                if let UtteranceErrorKind::Record(RecordErrorKind::Ragged { found, .. }) =
                    error.kind
                {
                    error.kind = UtteranceErrorKind::FieldCount {
                        expected: self.width,
                        found,
                    };
                }
                return Some(Err(error.into()));
            }
            Err(error) => {
                self.done = true;
                return Some(Err(io(&self.file, error)));
            }
        };
        self.index += 1;
        let result = self.utterance(position, count, index);
        if matches!(result, Err(SpeechError::SessionStartNeeded { .. })) {
            self.done = true;
        }
        Some(result)
    }

    fn error(
        &self,
        position: Position,
        slot: Option<usize>,
        kind: UtteranceErrorKind,
        value: &[u8],
    ) -> SpeechError {
        let field = slot.map(|slot| {
            let names = COLUMNS[slot];
            // The name as the header spells it (trimmed), or the documented one.
            self.header_name(self.columns[slot])
                .unwrap_or(names)
                .to_owned()
        });
        SpeechError::from(UtteranceError {
            file: self.file.clone(),
            position,
            element: None,
            field,
            kind,
            excerpt: excerpt(value),
        })
    }

    fn header_name(&self, index: usize) -> Option<&str> {
        match self.format {
            TranscriptFormat::Csv => self.reader.header().get(index).map(String::as_str),
            _ => None,
        }
    }

    fn utterance(
        &self,
        position: Position,
        count: usize,
        index: u64,
    ) -> Result<Utterance, SpeechError> {
        if count != self.width {
            let first = if count > 0 { self.reader.field(0) } else { b"" };
            return Err(self.error(
                position,
                None,
                UtteranceErrorKind::FieldCount {
                    expected: self.width,
                    found: count,
                },
                first,
            ));
        }
        let text = |slot: usize| -> Result<&str, SpeechError> {
            let bytes = self.reader.field(self.columns[slot]);
            std::str::from_utf8(bytes).map_err(|_| {
                self.error(
                    position,
                    Some(slot),
                    UtteranceErrorKind::Record(RecordErrorKind::InvalidUtf8),
                    bytes,
                )
            })
        };
        let raw = text(TIMESTAMP)?;
        let value = raw.trim();
        let invalid = |kind| self.error(position, Some(TIMESTAMP), kind, raw.as_bytes());
        let start = if value.is_empty() {
            return Err(invalid(UtteranceErrorKind::Record(
                RecordErrorKind::EmptyValue,
            )));
        } else if value.bytes().all(|b| b.is_ascii_digit()) {
            // Whole milliseconds from the session's start.
            let Some(session_start) = self.session_start else {
                return Err(SpeechError::SessionStartNeeded {
                    file: self.file.clone(),
                    format: self.format,
                    line: Some(position.line),
                });
            };
            let millis = value
                .parse::<u64>()
                .ok()
                .filter(|&millis| millis <= MAX_OFFSET_SECONDS * 1000)
                .ok_or_else(|| invalid(UtteranceErrorKind::OffsetTooLarge))?;
            offset_from(session_start, millis.cast_signed() * 1_000_000)
                .ok_or_else(|| invalid(UtteranceErrorKind::OffsetTooLarge))?
        } else if value.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
            // Epoch seconds with a fraction, or fractional milliseconds: not guessed.
            return Err(invalid(UtteranceErrorKind::InvalidTimestamp));
        } else {
            parse_timestamp(value).ok_or_else(|| invalid(UtteranceErrorKind::InvalidTimestamp))?
        };
        Ok(Utterance {
            session_id: None,
            participant_id: non_blank(text(PARTICIPANT_ID)?),
            user_id: non_blank(text(USER_ID)?),
            custom_participant_id: non_blank(text(CUSTOM_PARTICIPANT_ID)?),
            display_name: text(NAME)?.to_owned(),
            start,
            end: None,
            text: text(TRANSCRIPT)?.to_owned(),
            position,
            index,
        })
    }
}

fn io(file: &str, error: ReadError) -> SpeechError {
    match error {
        ReadError::Io { source, .. } => SpeechError::Io {
            file: file.to_owned(),
            source,
        },
        other => SpeechError::Io {
            file: file.to_owned(),
            source: std::io::Error::other(other.to_string()),
        },
    }
}
