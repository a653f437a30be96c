//! A session's parts besides its chat (issue 18): where the receiver keeps them, the session's
//! start its deliveries state (or, when none does, the API's session details: the worker records
//! that answer on a job, where [`Start::from_stated`] finds it), and whether a stored part can go
//! into the session's outputs.
//!
//! Every part is kept in the output directory beside the chat's dump, under a name of its own
//! that no output takes (outputs are `<stem>.jsonl`, `<stem>.transcript.jsonl`,
//! `<stem>.summary.md`, ...):
//!
//! | part | file |
//! |---|---|
//! | the chat dump (`meeting.chatSynced`) | `<stem>.csv` |
//! | the speech transcript (`meeting.transcript`) | `<stem>.transcript.source` (CSV, JSON, `WebVTT` or SRT, as downloaded) |
//! | the AI summary (`meeting.summary`) | `<stem>.summary.source` (plain text or Markdown, as downloaded) |
//!
//! (The names `export --keep-csv` keeps them under too: [`chatdump_core::stem`].)
//!
//! The session's outputs are rendered from these files alone, so whichever job renders them
//! last, in whatever order the deliveries came, writes the same bytes.

use std::fs::File;
use std::path::{Path, PathBuf};

use chatdump_core::escape::escape_for_terminal;
use chatdump_core::speech::{self, SpeechError, SpeechOptions, TranscriptReader};
use chatdump_pipeline::OnError;
use jiff::Timestamp;

use crate::payload::Part;

/// The file a session's chat dump is kept in: `<stem>.csv`.
#[must_use]
pub fn chat_path(output: &Path, stem: &str) -> PathBuf {
    output.join(format!("{stem}.csv"))
}

/// The file a session's `part` is kept in: `<stem>.transcript.source` or `<stem>.summary.source`.
#[must_use]
pub fn part_path(output: &Path, stem: &str, part: Part) -> PathBuf {
    let suffix = match part {
        Part::Transcript => chatdump_core::stem::TRANSCRIPT_SOURCE_SUFFIX,
        Part::Summary => chatdump_core::stem::SUMMARY_SOURCE_SUFFIX,
    };
    output.join(format!("{stem}.{suffix}"))
}

/// The session's start, from what its deliveries stated (`startedAt`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Start {
    /// Every delivery that stated a start stated this instant.
    Known(Timestamp),
    /// No delivery stated one.
    Unknown,
    /// The deliveries' starts cannot be used: why (they disagree, or one is not a time).
    Unusable(String),
}

impl Start {
    /// The start from every distinct `startedAt` of a session's deliveries. Nothing is guessed:
    /// a value that is not a time, or two that name different instants, make it unusable.
    #[must_use]
    pub fn from_stated(stated: &[String]) -> Self {
        let mut known: Option<Timestamp> = None;
        for value in stated {
            let Some(time) = chatdump_core::reader::parse_timestamp(value) else {
                return Self::Unusable(format!(
                    "a delivery states the session's start as `{}`, which is not a time",
                    escape_for_terminal(value, 60)
                ));
            };
            match known {
                Some(first) if first != time => {
                    return Self::Unusable(format!(
                        "the deliveries state two different starts of the session, `{first}` and `{time}`"
                    ));
                }
                _ => known = Some(time),
            }
        }
        known.map_or(Self::Unknown, Self::Known)
    }

    /// The start, when known.
    #[must_use]
    pub fn known(&self) -> Option<Timestamp> {
        match self {
            Self::Known(time) => Some(*time),
            Self::Unknown | Self::Unusable(_) => None,
        }
    }
}

/// Why a stored part stays out of the session's outputs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unusable {
    /// The reason, for the job's `last_error`.
    pub reason: String,
    /// Whether the session's start is all it lacks (a delivery may still state it).
    pub needs_start: bool,
}

impl Unusable {
    fn new(reason: String) -> Self {
        Self {
            reason,
            needs_start: false,
        }
    }
}

/// Checks that the transcript stored at `path` can be converted with the session's chat: its
/// times can be placed on the clock (a JSON, `WebVTT` or SRT transcript, or a headerless CSV of
/// milliseconds, needs the session's start), it names no other session, and it has no bad
/// record that would stop the conversion (any bad record with `--on-error fail`).
pub fn check_transcript(
    path: &Path,
    session_id: &str,
    start: &Start,
    on_error: OnError,
    max_record_bytes: usize,
) -> Result<(), Unusable> {
    let name = path
        .file_name()
        .map_or_else(String::new, |name| name.to_string_lossy().into_owned());
    let file = File::open(path).map_err(|error| {
        Unusable::new(format!(
            "cannot open the stored transcript `{name}`: {error}"
        ))
    })?;
    let options = SpeechOptions {
        session_start: start.known(),
        chat_session_id: Some(session_id.to_owned()),
        max_record_bytes,
    };
    let problem = |error: &SpeechError| match error {
        SpeechError::SessionStartNeeded { .. } => Unusable {
            reason: format!(
                "{error}; {}: it is kept as `{name}` and converted when a delivery for this session states its start (`startedAt`)",
                match start {
                    Start::Unusable(reason) => reason.clone(),
                    Start::Known(_) | Start::Unknown => {
                        "no delivery for this session stated its start".to_owned()
                    }
                }
            ),
            needs_start: true,
        },
        other => Unusable::new(format!("{other}; it is kept as `{name}`")),
    };
    let reader = TranscriptReader::new(std::io::BufReader::new(file), name.clone(), options)
        .map_err(|error| problem(&error))?;
    for utterance in reader {
        if let Err(error) = utterance
            && (!error.is_recoverable() || on_error == OnError::Fail)
        {
            return Err(problem(&error));
        }
    }
    Ok(())
}

/// Checks that the summary stored at `path` can be read: UTF-8, not empty, not too large.
pub fn check_summary(path: &Path) -> Result<(), Unusable> {
    let name = path
        .file_name()
        .map_or_else(String::new, |name| name.to_string_lossy().into_owned());
    let file = File::open(path).map_err(|error| {
        Unusable::new(format!("cannot open the stored summary `{name}`: {error}"))
    })?;
    speech::read_summary(file, &name, None, speech::DEFAULT_MAX_SUMMARY_BYTES)
        .map(|_| ())
        .map_err(|error| Unusable::new(format!("{error}; it is kept as `{name}`")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_start_is_what_every_delivery_stated_or_nothing() {
        assert_eq!(Start::from_stated(&[]), Start::Unknown);
        let time: Timestamp = "2024-05-14T09:00:00Z".parse().unwrap();
        // Two spellings of one instant agree.
        assert_eq!(
            Start::from_stated(&[
                "2024-05-14 09:00:00.000000Z".into(),
                "2024-05-14T09:00:00.000Z".into()
            ]),
            Start::Known(time)
        );
        let Start::Unusable(reason) =
            Start::from_stated(&["2024-05-14T09:00:00Z".into(), "2024-05-14T09:00:01Z".into()])
        else {
            panic!("two starts");
        };
        assert!(reason.contains("two different starts"), "{reason}");
        let Start::Unusable(reason) = Start::from_stated(&["soon\u{1b}[2J".into()]) else {
            panic!("not a time");
        };
        assert!(!reason.contains('\u{1b}'), "{reason}");
    }

    fn stored(content: &[u8]) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.transcript.source");
        std::fs::write(&path, content).unwrap();
        (dir, path)
    }

    #[test]
    fn a_transcript_of_offsets_needs_the_start_and_one_of_instants_does_not() {
        let json = br#"[{"startTime": 1.5, "endTime": 2, "sentence": "Hi", "peerData": {"id": "p1", "displayName": "Ann"}}]"#;
        let (_dir, path) = stored(json);
        let Err(Unusable {
            reason,
            needs_start: true,
        }) = check_transcript(&path, "s", &Start::Unknown, OnError::Fail, 1 << 20)
        else {
            panic!("accepted without a start");
        };
        assert!(reason.contains("session's start"), "{reason}");
        assert!(reason.contains("`s.transcript.source`"), "{reason}");
        let start = Start::Known("2024-05-14T09:00:00Z".parse().unwrap());
        assert_eq!(
            check_transcript(&path, "s", &start, OnError::Fail, 1 << 20),
            Ok(())
        );
        let csv = b"Timestamp, Participant ID, User ID, Custom Participant ID, Participant Name, Transcript\n2024-05-14T09:00:01Z,p1,,,Ann,Hi\n";
        let (_dir, path) = stored(csv);
        assert_eq!(
            check_transcript(&path, "s", &Start::Unknown, OnError::Fail, 1 << 20),
            Ok(())
        );
        // A bad record stops a conversion that fails on errors, not one that skips them.
        let bad = b"Timestamp, Participant ID, User ID, Custom Participant ID, Participant Name, Transcript\nyesterday,p1,,,Ann,Hi\n";
        let (_dir, path) = stored(bad);
        assert!(matches!(
            check_transcript(&path, "s", &Start::Unknown, OnError::Fail, 1 << 20),
            Err(Unusable {
                needs_start: false,
                ..
            })
        ));
        assert_eq!(
            check_transcript(&path, "s", &Start::Unknown, OnError::Skip, 1 << 20),
            Ok(())
        );
    }

    #[test]
    fn a_summary_must_be_text() {
        let (_dir, path) = stored(b"# Summary\n\n- done\n");
        assert_eq!(check_summary(&path), Ok(()));
        let (_dir, path) = stored(b"\xff\xfe not UTF-8");
        assert!(check_summary(&path).is_err());
    }
}
