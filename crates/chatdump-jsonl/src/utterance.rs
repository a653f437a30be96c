//! [`UtteranceWriter`]: the speech transcript as JSON Lines, one utterance per line.

use std::io::Write;

use chatdump_core::export::ExportError;
use chatdump_core::speech::{Utterance, UtteranceSequence};
use chatdump_core::time::push_utc;
use jiff::Timestamp;

use crate::{field, optional_string_field, string_field};

/// The version of the transcript schema, written in every line as `schema_version`. It changes
/// only when a field is renamed, removed or changes type; new fields may be added within a
/// version. It is versioned apart from the chat's [`crate::SCHEMA_VERSION`].
pub const TRANSCRIPT_SCHEMA_VERSION: u32 = 1;

/// Writes one JSON object per utterance, each on its own line, in the order given, which must
/// be time order (by `start`, ties in any order the caller chose): an utterance that starts
/// before the previous one is an error, since `seq` claims time order.
///
/// # Schema (version 1)
///
/// Every line has every field, in one fixed order; absent values are `null`. The fields, their
/// types and meanings are documented once, in `docs/formats/transcript.md` (a test checks that
/// page against what this writer writes). `start` and `end` are written as the chat's
/// `created_at` (RFC 3339 UTC, milliseconds, more digits only when the value has them);
/// `seq` counts the utterances written before, from 0.
///
/// `session_id` is the utterance's own when the transcript names it, otherwise the one given
/// with [`UtteranceWriter::with_session_id`] (the chat's); an utterance naming another session
/// than the given one is an error. `meeting_id` is the one given with
/// [`UtteranceWriter::with_meeting_id`]: transcripts do not name it.
///
/// Strings are JSON-escaped by `serde_json`, so every line is one physical line.
///
/// Memory: one utterance at a time. Wrap files in a `BufWriter`.
///
/// ```
/// use chatdump_core::speech::{SpeechOptions, TranscriptReader};
/// use chatdump_jsonl::UtteranceWriter;
///
/// let csv = "Timestamp,Participant ID,User ID,Custom Participant ID,Participant Name,Transcript\n\
///            2024-05-14T09:00:05.250Z,p1,u1,,Ann,hello\n";
/// let mut writer = UtteranceWriter::new(Vec::new())
///     .with_session_id(Some("s1".into()))
///     .with_meeting_id(Some("mt1".into()));
/// for utterance in TranscriptReader::new(csv.as_bytes(), "t.csv", SpeechOptions::default())? {
///     writer.utterance(&utterance?)?;
/// }
/// let line = String::from_utf8(writer.finish()?).unwrap();
/// assert!(line.starts_with(r#"{"schema_version":1,"session_id":"s1","meeting_id":"mt1","#));
/// assert!(line.contains(r#""start":"2024-05-14T09:00:05.250Z","end":null,"#));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct UtteranceWriter<W: Write> {
    out: W,
    line: Vec<u8>,
    sequence: UtteranceSequence,
}

impl<W: Write> UtteranceWriter<W> {
    /// Creates a writer over `out`, without session or meeting id.
    pub fn new(out: W) -> Self {
        Self {
            out,
            line: Vec::with_capacity(512),
            sequence: UtteranceSequence::default(),
        }
    }

    /// Sets the session id written when an utterance names none (the chat's session).
    #[must_use]
    pub fn with_session_id(mut self, session_id: Option<String>) -> Self {
        self.sequence.session_id = session_id;
        self
    }

    /// Sets the meeting id written on every line (the chat's meeting).
    #[must_use]
    pub fn with_meeting_id(mut self, meeting_id: Option<String>) -> Self {
        self.sequence.meeting_id = meeting_id;
        self
    }

    /// Writes one utterance as one line.
    pub fn utterance(&mut self, utterance: &Utterance) -> Result<(), ExportError> {
        let placed = self.sequence.next(utterance)?;
        self.line.clear();
        write_line(
            &mut self.line,
            utterance,
            placed.session_id,
            placed.meeting_id,
            placed.seq,
        )
        .map_err(ExportError::format)?;
        self.line.push(b'\n');
        self.out.write_all(&self.line)?;
        Ok(())
    }

    /// Flushes the output and returns it.
    pub fn finish(mut self) -> Result<W, ExportError> {
        self.out.flush()?;
        Ok(self.out)
    }
}

/// Builds one line (without the newline).
fn write_line(
    line: &mut Vec<u8>,
    utterance: &Utterance,
    session_id: Option<&str>,
    meeting_id: Option<&str>,
    seq: u64,
) -> serde_json::Result<()> {
    line.extend_from_slice(br#"{"schema_version":"#);
    serde_json::to_writer(&mut *line, &TRANSCRIPT_SCHEMA_VERSION)?;
    optional_string_field(line, key!("session_id"), session_id);
    optional_string_field(line, key!("meeting_id"), meeting_id);
    optional_string_field(
        line,
        key!("participant_id"),
        utterance.participant_id.as_deref(),
    );
    optional_string_field(line, key!("user_id"), utterance.user_id.as_deref());
    optional_string_field(
        line,
        key!("custom_participant_id"),
        utterance.custom_participant_id.as_deref(),
    );
    string_field(line, key!("display_name"), &utterance.display_name);
    line.extend_from_slice(concat!(key!("start"), "\"").as_bytes());
    push_utc(line, utterance.start);
    line.push(b'"');
    line.extend_from_slice(key!("end").as_bytes());
    if let Some(end) = utterance.end {
        line.push(b'"');
        push_utc(line, end);
        line.push(b'"');
    } else {
        line.extend_from_slice(b"null");
    }
    field(line, key!("start_ms"), &utterance.start.as_millisecond())?;
    field(
        line,
        key!("end_ms"),
        &utterance.end.map(Timestamp::as_millisecond),
    )?;
    string_field(line, key!("text"), &utterance.text);
    field(line, key!("seq"), &seq)?;
    line.push(b'}');
    Ok(())
}

#[cfg(test)]
mod tests {
    use chatdump_core::model::Position;

    use super::*;

    fn utterance(start: &str, end: Option<&str>, text: &str) -> Utterance {
        Utterance {
            session_id: None,
            participant_id: Some("peer-1".into()),
            user_id: Some("user-1".into()),
            custom_participant_id: Some("cust-1".into()),
            display_name: "Ann".into(),
            start: start.parse().unwrap(),
            end: end.map(|end| end.parse().unwrap()),
            text: text.into(),
            position: Position { line: 2, byte: 90 },
            index: 0,
        }
    }

    /// A few utterances: hostile text, one without an end, one without any id, one naming its
    /// session, one with sub-millisecond digits.
    fn sample() -> Vec<Utterance> {
        let mut anonymous = utterance(
            "2024-05-14T09:00:07Z",
            None,
            "\u{202e}evil\u{0}\u{1b}[31m red \"quoted\" \\ back\nslash",
        );
        anonymous.participant_id = None;
        anonymous.user_id = None;
        anonymous.custom_participant_id = None;
        anonymous.display_name = String::new();
        let mut named = utterance(
            "2024-05-14T09:00:07Z",
            Some("2024-05-14T09:00:09.000500Z"),
            "tie, same start",
        );
        named.session_id = Some("s1".into());
        vec![
            utterance(
                "2024-05-14T09:00:05.250Z",
                Some("2024-05-14T09:00:06.500Z"),
                "<script>alert(1)</script> & </v>",
            ),
            anonymous,
            named,
        ]
    }

    fn write(utterances: &[Utterance]) -> Result<String, ExportError> {
        let mut writer = UtteranceWriter::new(Vec::new())
            .with_session_id(Some("s1".into()))
            .with_meeting_id(Some("mt1".into()));
        for utterance in utterances {
            writer.utterance(utterance)?;
        }
        Ok(String::from_utf8(writer.finish()?).unwrap())
    }

    #[test]
    fn utterances_are_written_as_documented() {
        let written = write(&sample()).unwrap();
        insta::assert_snapshot!(written);
        let lines: Vec<serde_json::Value> = written
            .lines()
            .map(|line| serde_json::from_str(line).unwrap())
            .collect();
        assert_eq!(lines.len(), 3);
        // Hostile text comes back exactly as it was, from one physical line.
        assert_eq!(lines[1]["text"], sample()[1].text.as_str());
        assert_eq!(lines[0]["text"], "<script>alert(1)</script> & </v>");
        // Missing end and ids are null, not empty strings.
        for field in [
            "end",
            "end_ms",
            "participant_id",
            "user_id",
            "custom_participant_id",
        ] {
            assert!(lines[1][field].is_null(), "{field}");
        }
        assert_eq!(lines[1]["display_name"], "");
        assert_eq!(lines[0]["start_ms"], 1_715_677_205_250_i64);
        assert_eq!(lines[0]["end_ms"], 1_715_677_206_500_i64);
        assert_eq!(lines[2]["end"], "2024-05-14T09:00:09.000500Z");
        let seq: Vec<_> = lines.iter().map(|line| line["seq"].as_u64()).collect();
        assert_eq!(seq, [Some(0), Some(1), Some(2)]);
        assert!(lines.iter().all(|line| line["session_id"] == "s1"));
        assert!(lines.iter().all(|line| line["meeting_id"] == "mt1"));
    }

    #[test]
    fn the_same_utterances_give_the_same_bytes() {
        assert_eq!(write(&sample()).unwrap(), write(&sample()).unwrap());
    }

    #[test]
    fn ids_not_given_are_null() {
        let mut writer = UtteranceWriter::new(Vec::new());
        writer.utterance(&sample()[0]).unwrap();
        let line: serde_json::Value = serde_json::from_slice(&writer.finish().unwrap()).unwrap();
        assert!(line["session_id"].is_null());
        assert!(line["meeting_id"].is_null());
    }

    #[test]
    fn out_of_order_utterances_are_an_error() {
        let mut utterances = sample();
        utterances.swap(0, 1);
        let error = write(&utterances).unwrap_err().to_string();
        assert!(error.contains("line 2"), "{error}");
        assert!(error.contains("time order"), "{error}");
    }

    #[test]
    fn an_utterance_of_another_session_is_an_error() {
        let mut utterances = sample();
        utterances[2].session_id = Some("other\u{1b}".into());
        let error = write(&utterances).unwrap_err().to_string();
        assert!(
            error.contains("line 2") && error.contains("`other"),
            "{error}"
        );
        assert!(
            !error.contains('\u{1b}'),
            "the escape character is escaped: {error}"
        );
        assert!(error.contains("`s1`"), "{error}");
    }
}
