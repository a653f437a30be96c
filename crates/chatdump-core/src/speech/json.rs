//! The JSON transcript: an array of `{startTime, endTime, sentence, peerData: {id, userId,
//! displayName, cpi}}`, times in seconds from the session's start.
//!
//! Streamed: the array's elements are framed one at a time (strings, escapes and nesting
//! followed byte by byte), each no larger than the record cap, and each parsed on its own with
//! `serde_json`, so memory does not grow with the file, a syntax error inside one element
//! rejects only that element, and every element has its physical line.

use std::io::{self, BufRead};

use jiff::Timestamp;
use serde_json::{Map, Value};

use crate::error::{RecordErrorKind, excerpt};
use crate::model::Position;

use super::{
    MAX_OFFSET_SECONDS, SpeechError, Utterance, UtteranceError, UtteranceErrorKind, non_blank,
    offset_from,
};

/// Accepted spellings of each field: the documented one first (named in errors when missing).
const START: &[&str] = &["startTime", "start_time", "start"];
const END: &[&str] = &["endTime", "end_time", "end"];
const SENTENCE: &[&str] = &["sentence", "transcript", "text"];
const SESSION: &[&str] = &["sessionId", "session_id"];
const PEER: &[&str] = &["peerData", "peer_data", "peer"];
const PEER_ID: &[&str] = &["id", "peerId", "peer_id"];
/// Without `peerData`, a top-level `id` may be the utterance's own: only these name the peer.
const PEER_ID_BESIDE: &[&str] = &["peerId", "peer_id", "participantId"];
const USER_ID: &[&str] = &["userId", "user_id"];
const NAME: &[&str] = &["displayName", "display_name", "name"];
const CPI: &[&str] = &["cpi", "customParticipantId", "custom_participant_id"];

pub(crate) struct JsonTranscript<R> {
    input: R,
    file: String,
    session_start: Timestamp,
    max_record_bytes: usize,
    /// The physical line and byte offset of the next byte.
    line: u64,
    byte: u64,
    /// Elements framed so far.
    index: u64,
    element: Vec<u8>,
    done: bool,
    /// Text found after the closing `]`, reported after the last element.
    trailing: Option<SpeechError>,
}

/// What ends an element.
enum End {
    Comma,
    Bracket,
}

impl<R: BufRead> JsonTranscript<R> {
    pub(crate) fn new(
        input: R,
        file: &str,
        session_start: Timestamp,
        max_record_bytes: usize,
    ) -> Result<Self, SpeechError> {
        let mut reader = Self {
            input,
            file: file.to_owned(),
            session_start,
            max_record_bytes,
            line: 1,
            byte: 0,
            index: 0,
            element: Vec::new(),
            done: false,
            trailing: None,
        };
        // `detect` saw the BOM, white space and `[`.
        if reader.peek().map_err(|e| reader.io(e))? == Some(0xef) {
            for _ in 0..3 {
                reader.bump();
            }
        }
        reader.skip_white_space().map_err(|e| reader.io(e))?;
        reader.bump();
        reader.skip_white_space().map_err(|e| reader.io(e))?;
        if reader.peek().map_err(|e| reader.io(e))? == Some(b']') {
            reader.bump();
            reader.done = true;
            reader.check_trailing()?;
        }
        Ok(reader)
    }

    fn io(&self, source: io::Error) -> SpeechError {
        SpeechError::Io {
            file: self.file.clone(),
            source,
        }
    }

    fn peek(&mut self) -> io::Result<Option<u8>> {
        loop {
            match self.input.fill_buf() {
                Ok(buf) => return Ok(buf.first().copied()),
                Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
                Err(error) => return Err(error),
            }
        }
    }

    /// Consumes the byte `peek` returned.
    fn bump(&mut self) {
        if let Ok(buf) = self.input.fill_buf()
            && let Some(&byte) = buf.first()
        {
            if byte == b'\n' {
                self.line += 1;
            }
            self.byte += 1;
            self.input.consume(1);
        }
    }

    fn skip_white_space(&mut self) -> io::Result<()> {
        while let Some(byte) = self.peek()? {
            if !matches!(byte, b' ' | b'\t' | b'\r' | b'\n') {
                break;
            }
            self.bump();
        }
        Ok(())
    }

    fn position(&self) -> Position {
        Position {
            line: self.line,
            byte: self.byte,
        }
    }

    fn error(
        &self,
        position: Position,
        element: u64,
        field: Option<&str>,
        kind: UtteranceErrorKind,
        value: &[u8],
    ) -> SpeechError {
        SpeechError::from(UtteranceError {
            file: self.file.clone(),
            position,
            element: Some(element),
            field: field.map(str::to_owned),
            kind,
            excerpt: excerpt(value),
        })
    }

    /// After the closing `]`: only white space may follow.
    fn check_trailing(&mut self) -> Result<(), SpeechError> {
        self.skip_white_space().map_err(|e| self.io(e))?;
        if self.peek().map_err(|e| self.io(e))?.is_none() {
            return Ok(());
        }
        let position = self.position();
        let mut rest = Vec::new();
        while rest.len() < 200
            && let Some(byte) = self.peek().map_err(|e| self.io(e))?
        {
            rest.push(byte);
            self.bump();
        }
        Err(SpeechError::from(UtteranceError {
            file: self.file.clone(),
            position,
            element: None,
            field: None,
            kind: UtteranceErrorKind::TrailingData,
            excerpt: excerpt(&rest),
        }))
    }

    /// Reads the next element's bytes into `element`, up to the `,` or `]` that ends it.
    fn frame(&mut self, index: u64, start: Position) -> Result<End, SpeechError> {
        self.element.clear();
        let mut depth = 0_usize;
        let mut in_string = false;
        let mut escaped = false;
        loop {
            let Some(byte) = self.peek().map_err(|e| self.io(e))? else {
                let value = self.element[..self.element.len().min(200)].to_vec();
                return Err(self.error(
                    start,
                    index,
                    None,
                    UtteranceErrorKind::UnterminatedArray,
                    &value,
                ));
            };
            if in_string {
                if escaped {
                    escaped = false;
                } else if byte == b'\\' {
                    escaped = true;
                } else if byte == b'"' {
                    in_string = false;
                }
            } else {
                match byte {
                    b'"' => in_string = true,
                    b'{' | b'[' => depth += 1,
                    b'}' | b']' if depth > 0 => depth -= 1,
                    b',' if depth == 0 => {
                        self.bump();
                        return Ok(End::Comma);
                    }
                    b']' => {
                        self.bump();
                        return Ok(End::Bracket);
                    }
                    _ => {}
                }
            }
            if self.element.len() >= self.max_record_bytes {
                let value = self.element[..200].to_vec();
                return Err(self.error(
                    start,
                    index,
                    None,
                    UtteranceErrorKind::Record(RecordErrorKind::TooLarge {
                        limit: self.max_record_bytes,
                    }),
                    &value,
                ));
            }
            self.element.push(byte);
            self.bump();
        }
    }

    pub(crate) fn next(&mut self) -> Option<Result<Utterance, SpeechError>> {
        if self.done {
            return self.trailing.take().map(Err);
        }
        let index = self.index;
        self.index += 1;
        if let Err(error) = self.skip_white_space() {
            self.done = true;
            return Some(Err(self.io(error)));
        }
        let start = self.position();
        let end = match self.frame(index, start) {
            Ok(end) => end,
            Err(error) => {
                self.done = true;
                return Some(Err(error));
            }
        };
        let result = self.utterance(index, start);
        if matches!(end, End::Bracket) {
            self.done = true;
            // The element is returned first; text after the array is the next (last) error.
            self.trailing = self.check_trailing().err();
        }
        Some(result)
    }

    fn utterance(&self, index: u64, start: Position) -> Result<Utterance, SpeechError> {
        let bytes = self.element.trim_ascii();
        if bytes.is_empty() {
            return Err(self.error(
                start,
                index,
                None,
                UtteranceErrorKind::InvalidJson(
                    "an element is missing (two commas, or a comma before `]`)".into(),
                ),
                b"",
            ));
        }
        let value: Value = serde_json::from_slice(bytes).map_err(|error| {
            let message = error.to_string();
            let problem = message
                .rsplit_once(" at line ")
                .map_or(message.as_str(), |(problem, _)| problem);
            let position = Position {
                line: start.line + error.line().saturating_sub(1) as u64,
                byte: start.byte,
            };
            self.error(
                position,
                index,
                None,
                UtteranceErrorKind::InvalidJson(problem.to_owned()),
                &bytes[..bytes.len().min(200)],
            )
        })?;
        let wrong = |field: Option<&str>, expected, value: &Value| {
            let shown = serde_json::to_string(value).unwrap_or_default();
            self.error(
                start,
                index,
                field,
                UtteranceErrorKind::WrongType { expected },
                shown.as_bytes(),
            )
        };
        let Value::Object(object) = &value else {
            return Err(wrong(None, "an object", &value));
        };
        let (peer_prefix, peer) = match find(object, PEER) {
            Some((name, Value::Object(peer))) => (format!("{name}."), peer),
            Some((name, other)) if !other.is_null() => {
                return Err(wrong(Some(name), "an object", other));
            }
            // No `peerData`: the peer's fields may sit beside the others.
            _ => (String::new(), object),
        };
        let string =
            |map: &Map<String, Value>, names: &[&'static str], prefix: &str| match find(map, names)
            {
                None | Some((_, Value::Null)) => Ok(None),
                Some((_, Value::String(text))) => Ok(non_blank(text)),
                Some((_, Value::Number(number))) => Ok(Some(number.to_string())),
                Some((name, other)) => {
                    Err(wrong(Some(&format!("{prefix}{name}")), "a string", other))
                }
            };
        let seconds = |names: &[&'static str]| -> Result<Option<Timestamp>, SpeechError> {
            let Some((name, value)) = find(object, names) else {
                return Ok(None);
            };
            let shown = serde_json::to_string(value).unwrap_or_default();
            let invalid = |kind| self.error(start, index, Some(name), kind, shown.as_bytes());
            let number = match value {
                Value::Null => return Ok(None),
                Value::Number(number) => number.as_f64(),
                Value::String(text) => {
                    let text = text.trim();
                    let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
                    (!whole.is_empty()
                        && whole.bytes().all(|b| b.is_ascii_digit())
                        && fraction.bytes().all(|b| b.is_ascii_digit()))
                    .then(|| text.parse::<f64>().ok())
                    .flatten()
                }
                _ => None,
            };
            let Some(number) = number.filter(|number| number.is_finite() && *number >= 0.0) else {
                return Err(invalid(UtteranceErrorKind::InvalidOffset));
            };
            if number > f64::from(MAX_OFFSET_SECONDS as u32) {
                return Err(invalid(UtteranceErrorKind::OffsetTooLarge));
            }
            // Exact to the nanosecond below 100 days (2^53 ns is 104 days).
            let nanos = (number * 1e9).round() as i64;
            offset_from(self.session_start, nanos)
                .map(Some)
                .ok_or_else(|| invalid(UtteranceErrorKind::OffsetTooLarge))
        };
        let Some(start_time) = seconds(START)? else {
            return Err(self.missing_or_null(object, START, start, index));
        };
        let end_time = seconds(END)?;
        if let Some(end_time) = end_time
            && end_time < start_time
        {
            let (name, value) = find(object, END).expect("the end was read");
            let shown = serde_json::to_string(value).unwrap_or_default();
            return Err(self.error(
                start,
                index,
                Some(name),
                UtteranceErrorKind::EndBeforeStart,
                shown.as_bytes(),
            ));
        }
        let text = match find(object, SENTENCE) {
            Some((_, Value::String(text))) => text.clone(),
            Some((name, other)) => return Err(wrong(Some(name), "a string", other)),
            None => {
                return Err(self.error(
                    start,
                    index,
                    Some(SENTENCE[0]),
                    UtteranceErrorKind::MissingField,
                    b"",
                ));
            }
        };
        Ok(Utterance {
            session_id: string(object, SESSION, "")?,
            participant_id: if peer_prefix.is_empty() {
                string(peer, PEER_ID_BESIDE, "")?
            } else {
                string(peer, PEER_ID, &peer_prefix)?
            },
            user_id: string(peer, USER_ID, &peer_prefix)?,
            custom_participant_id: string(peer, CPI, &peer_prefix)?,
            display_name: string(peer, NAME, &peer_prefix)?.unwrap_or_default(),
            start: start_time,
            end: end_time,
            text,
            position: start,
            index,
        })
    }

    /// The error for a required time that is missing or `null`.
    fn missing_or_null(
        &self,
        object: &Map<String, Value>,
        names: &[&'static str],
        start: Position,
        index: u64,
    ) -> SpeechError {
        match find(object, names) {
            Some((name, value)) => self.error(
                start,
                index,
                Some(name),
                UtteranceErrorKind::InvalidOffset,
                serde_json::to_string(value).unwrap_or_default().as_bytes(),
            ),
            None => self.error(
                start,
                index,
                Some(names[0]),
                UtteranceErrorKind::MissingField,
                b"",
            ),
        }
    }
}

/// The first of `names` present in `object`, with its value.
fn find<'a>(
    object: &'a Map<String, Value>,
    names: &[&'static str],
) -> Option<(&'static str, &'a Value)> {
    names
        .iter()
        .find_map(|&name| object.get(name).map(|value| (name, value)))
}
