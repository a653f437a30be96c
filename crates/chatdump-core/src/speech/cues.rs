//! `WebVTT` and SRT transcripts, read cue by cue (a cue is a block of lines between blank lines).
//!
//! A cue's times are offsets from the session's start. The speaker is named by display name
//! only: `<v Speaker>text` (`WebVTT` voice span, also accepted in SRT) or `Speaker: text` on the
//! cue's first line (at most 64 characters before `: `, without `:` or `<`); a cue with neither
//! has an empty display name. Markup tags (`c i b u v ruby rt lang font` and `WebVTT` timestamp
//! tags) are removed; in `WebVTT`, `&amp; &lt; &gt; &quot; &apos; &nbsp; &lrm; &rlm;` and numeric
//! references are decoded. Anything else, `<` that opens no known tag included, is kept as
//! text. `WebVTT` `NOTE`, `STYLE` and `REGION` blocks are skipped.

use std::io::{BufRead, Read};

use jiff::Timestamp;

use crate::error::{RecordErrorKind, excerpt};
use crate::model::Position;

use super::{SpeechError, Utterance, UtteranceError, UtteranceErrorKind, offset_from};

/// The longest name accepted before `: ` as a speaker.
const MAX_SPEAKER_CHARS: usize = 64;

struct Line {
    position: Position,
    bytes: Vec<u8>,
}

impl Line {
    fn is_blank(&self) -> bool {
        self.bytes.trim_ascii().is_empty()
    }

    fn contains_arrow(&self) -> bool {
        self.bytes.windows(3).any(|window| window == b"-->")
    }
}

pub(crate) struct CueTranscript<R> {
    input: R,
    file: String,
    srt: bool,
    session_start: Timestamp,
    max_record_bytes: usize,
    /// The physical line and byte offset of the next line.
    line: u64,
    byte: u64,
    /// Cues (and bad blocks) read so far.
    index: u64,
    header_read: bool,
    done: bool,
}

impl<R: BufRead> CueTranscript<R> {
    pub(crate) fn new(
        input: R,
        file: &str,
        srt: bool,
        session_start: Timestamp,
        max_record_bytes: usize,
    ) -> Self {
        Self {
            input,
            file: file.to_owned(),
            srt,
            session_start,
            max_record_bytes,
            line: 1,
            byte: 0,
            index: 0,
            header_read: srt,
            done: false,
        }
    }

    fn error(&self, line: &Line, field: Option<&str>, kind: UtteranceErrorKind) -> SpeechError {
        let value = line.bytes.trim_ascii_end();
        SpeechError::from(UtteranceError {
            file: self.file.clone(),
            position: line.position,
            element: None,
            field: field.map(str::to_owned),
            kind,
            excerpt: excerpt(&value[..value.len().min(400)]),
        })
    }

    /// The next physical line without its terminator (`\n` or `\r\n`); a BOM at the start of
    /// the input is dropped.
    fn read_line(&mut self) -> Result<Option<Line>, SpeechError> {
        let position = Position {
            line: self.line,
            byte: self.byte,
        };
        let mut bytes = Vec::new();
        let limit = self.max_record_bytes as u64 + 1;
        (&mut self.input)
            .take(limit)
            .read_until(b'\n', &mut bytes)
            .map_err(|source| SpeechError::Io {
                file: self.file.clone(),
                source,
            })?;
        if bytes.is_empty() {
            return Ok(None);
        }
        self.byte += bytes.len() as u64;
        if bytes.last() == Some(&b'\n') {
            self.line += 1;
            bytes.pop();
            if bytes.last() == Some(&b'\r') {
                bytes.pop();
            }
        } else if bytes.len() as u64 >= limit {
            return Err(self.too_large(&Line { position, bytes }));
        }
        if position.byte == 0 && bytes.starts_with(b"\xef\xbb\xbf") {
            bytes.drain(..3);
        }
        Ok(Some(Line { position, bytes }))
    }

    fn too_large(&self, line: &Line) -> SpeechError {
        let mut first = Line {
            position: line.position,
            bytes: line.bytes[..line.bytes.len().min(200)].to_vec(),
        };
        first.bytes.truncate(200);
        self.error(
            &first,
            None,
            UtteranceErrorKind::Record(RecordErrorKind::TooLarge {
                limit: self.max_record_bytes,
            }),
        )
    }

    /// The next block of non-blank lines, or `None` at the end of the input.
    fn read_block(&mut self) -> Result<Option<Vec<Line>>, SpeechError> {
        let first = loop {
            match self.read_line()? {
                None => return Ok(None),
                Some(line) if line.is_blank() => {}
                Some(line) => break line,
            }
        };
        let mut size = first.bytes.len();
        let mut block = vec![first];
        while let Some(line) = self.read_line()? {
            if line.is_blank() {
                break;
            }
            size += line.bytes.len() + 1;
            if size > self.max_record_bytes {
                return Err(self.too_large(&block[0]));
            }
            block.push(line);
        }
        Ok(Some(block))
    }

    pub(crate) fn next(&mut self) -> Option<Result<Utterance, SpeechError>> {
        loop {
            if self.done {
                return None;
            }
            let mut block = match self.read_block() {
                Ok(Some(block)) => block,
                Ok(None) => {
                    self.done = true;
                    return None;
                }
                Err(error) => {
                    self.done = true;
                    return Some(Err(error));
                }
            };
            if !self.header_read {
                // `detect` saw `WEBVTT`: the first block is the header and its metadata. A cue
                // written without the blank line after it starts at its timing line.
                self.header_read = true;
                match block.iter().position(Line::contains_arrow) {
                    Some(timing) => {
                        block.drain(..timing);
                    }
                    None => continue,
                }
            }
            if !self.srt {
                let first = &block[0].bytes;
                let skipped = [&b"NOTE"[..], b"STYLE", b"REGION"].iter().any(|word| {
                    first.starts_with(word)
                        && first.get(word.len()).is_none_or(u8::is_ascii_whitespace)
                });
                if skipped && !block[0].contains_arrow() {
                    continue;
                }
            }
            let index = self.index;
            self.index += 1;
            return Some(self.cue(&block, index));
        }
    }

    fn cue(&self, block: &[Line], index: u64) -> Result<Utterance, SpeechError> {
        let timing = if block[0].contains_arrow() {
            0
        } else if block.len() > 1 && block[1].contains_arrow() {
            1
        } else {
            return Err(self.error(&block[0], None, UtteranceErrorKind::MissingCueTiming));
        };
        let timing_line = &block[timing];
        let invalid_utf8 = |line: &Line, field| {
            self.error(
                line,
                Some(field),
                UtteranceErrorKind::Record(RecordErrorKind::InvalidUtf8),
            )
        };
        let timing_text = std::str::from_utf8(&timing_line.bytes)
            .map_err(|_| invalid_utf8(timing_line, "timing"))?;
        let invalid_timing = || {
            self.error(
                timing_line,
                Some("timing"),
                UtteranceErrorKind::InvalidCueTiming,
            )
        };
        let (left, right) = timing_text.split_once("-->").ok_or_else(invalid_timing)?;
        let start = parse_cue_time(left.trim()).ok_or_else(invalid_timing)?;
        let end = right
            .split_whitespace()
            .next()
            .and_then(parse_cue_time)
            .ok_or_else(invalid_timing)?;
        if end < start {
            return Err(self.error(
                timing_line,
                Some("timing"),
                UtteranceErrorKind::EndBeforeStart,
            ));
        }
        let too_far = || {
            self.error(
                timing_line,
                Some("timing"),
                UtteranceErrorKind::OffsetTooLarge,
            )
        };
        let start = offset_from(self.session_start, start).ok_or_else(too_far)?;
        let end = offset_from(self.session_start, end).ok_or_else(too_far)?;
        let mut raw = String::new();
        for (at, line) in block[timing + 1..].iter().enumerate() {
            let text = std::str::from_utf8(&line.bytes).map_err(|_| invalid_utf8(line, "text"))?;
            if at > 0 {
                raw.push('\n');
            }
            raw.push_str(text);
        }
        let (speaker, text) = cue_text(&raw, !self.srt).map_err(|()| {
            self.error(
                &block[timing + 1],
                Some("text"),
                UtteranceErrorKind::SeveralSpeakers,
            )
        })?;
        Ok(Utterance {
            session_id: None,
            participant_id: None,
            user_id: None,
            custom_participant_id: None,
            display_name: speaker.unwrap_or_default(),
            start,
            end: Some(end),
            text,
            position: block[0].position,
            index,
        })
    }
}

/// A cue time, `[H…H:]MM:SS[.fff]` (`,` also accepted before the fraction, 1 to 9 digits), in
/// nanoseconds.
fn parse_cue_time(token: &str) -> Option<i64> {
    fn digits(text: &str, exact: Option<usize>) -> Option<i64> {
        let ok = !text.is_empty()
            && text.len() <= 12
            && exact.is_none_or(|length| text.len() == length)
            && text.bytes().all(|b| b.is_ascii_digit());
        ok.then(|| text.parse().ok()).flatten()
    }
    let (clock, fraction) = match token.rfind(['.', ',']) {
        Some(at) => (&token[..at], &token[at + 1..]),
        None => (token, "0"),
    };
    if fraction.len() > 9 {
        return None;
    }
    let nanos = digits(fraction, None)? * 10_i64.pow(9 - fraction.len() as u32);
    let parts: Vec<&str> = clock.split(':').collect();
    let (hours, minutes, seconds) = match parts[..] {
        [minutes, seconds] => (0, minutes, seconds),
        [hours, minutes, seconds] => (digits(hours, None)?, minutes, seconds),
        _ => return None,
    };
    let minutes = digits(minutes, Some(2)).filter(|&m| m < 60)?;
    let seconds = digits(seconds, Some(2)).filter(|&s| s < 60)?;
    let total = hours
        .checked_mul(3600)?
        .checked_add(minutes * 60 + seconds)?;
    if total > super::MAX_OFFSET_SECONDS.cast_signed() {
        return None;
    }
    Some(total * 1_000_000_000 + nanos)
}

/// A cue's speaker and plain text; `Err` when `<v>` spans name different speakers.
fn cue_text(raw: &str, vtt: bool) -> Result<(Option<String>, String), ()> {
    let mut text = String::with_capacity(raw.len());
    let mut voices: Vec<String> = Vec::new();
    let mut rest = raw;
    while let Some(at) = rest.find('<') {
        push_text(&mut text, &rest[..at], vtt);
        let after = &rest[at + 1..];
        match after.find(['>', '\n']) {
            Some(close) if after.as_bytes()[close] == b'>' && is_tag(&after[..close], vtt) => {
                let tag = &after[..close];
                if let Some(name) = voice(tag)
                    && !voices.contains(&name)
                {
                    voices.push(name);
                }
                rest = &after[close + 1..];
            }
            _ => {
                text.push('<');
                rest = after;
            }
        }
    }
    push_text(&mut text, rest, vtt);
    let text = text.trim();
    match voices.len() {
        0 => {}
        1 => return Ok((voices.pop(), text.to_owned())),
        _ => return Err(()),
    }
    let first_line = text.split('\n').next().unwrap_or_default();
    if let Some((name, said)) = first_line.split_once(": ") {
        let name = name.trim();
        if !name.is_empty()
            && name.chars().count() <= MAX_SPEAKER_CHARS
            && !name.contains([':', '<'])
        {
            let rest = &text[first_line.len()..];
            return Ok((
                Some(name.to_owned()),
                format!("{}{rest}", said.trim_start()),
            ));
        }
    }
    Ok((None, text.to_owned()))
}

/// Whether `<tag>` is markup to remove.
fn is_tag(tag: &str, vtt: bool) -> bool {
    let tag = tag.strip_prefix('/').unwrap_or(tag);
    if vtt && tag.starts_with(|c: char| c.is_ascii_digit()) {
        return parse_cue_time(tag).is_some();
    }
    let name = tag
        .split(|c: char| c == '.' || c.is_whitespace())
        .next()
        .unwrap_or_default();
    ["c", "i", "b", "u", "v", "ruby", "rt", "lang", "font"]
        .iter()
        .any(|known| name.eq_ignore_ascii_case(known))
}

/// The speaker a `<v Speaker>` or `<v.class Speaker>` tag names.
fn voice(tag: &str) -> Option<String> {
    let name = tag.split(|c: char| c == '.' || c.is_whitespace()).next()?;
    if !name.eq_ignore_ascii_case("v") {
        return None;
    }
    let (_, annotation) = tag.split_once(char::is_whitespace)?;
    let annotation = annotation.trim();
    let mut speaker = String::new();
    push_text(&mut speaker, annotation, true);
    (!speaker.is_empty()).then_some(speaker)
}

/// Appends `text`, decoding `WebVTT` character references when `vtt`.
fn push_text(out: &mut String, text: &str, vtt: bool) {
    if !vtt {
        out.push_str(text);
        return;
    }
    let mut rest = text;
    while let Some(at) = rest.find('&') {
        out.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        let decoded = after.find(';').filter(|&end| end <= 10).and_then(|end| {
            let name = &after[..end];
            let c = match name {
                "amp" => '&',
                "lt" => '<',
                "gt" => '>',
                "quot" => '"',
                "apos" => '\'',
                "nbsp" => '\u{a0}',
                "lrm" => '\u{200e}',
                "rlm" => '\u{200f}',
                _ => {
                    let number = name.strip_prefix('#')?;
                    let code = match number.strip_prefix(['x', 'X']) {
                        Some(hex) => u32::from_str_radix(hex, 16).ok()?,
                        None => number.parse().ok()?,
                    };
                    char::from_u32(code)?
                }
            };
            Some((c, end))
        });
        if let Some((c, end)) = decoded {
            out.push(c);
            rest = &after[end + 1..];
        } else {
            out.push('&');
            rest = after;
        }
    }
    out.push_str(rest);
}
