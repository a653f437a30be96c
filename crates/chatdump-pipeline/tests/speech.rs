//! A meeting's other parts (issue 18) through the pipeline: read once however many passes the
//! chat takes, checked against the chat's session, capped in size, listed in `Converted`.

use std::fs;
use std::path::Path;

use chatdump_core::speech::UtteranceError;
use chatdump_pipeline::{
    Conversion, Destination, Events, Format, MeetingParts, NoEvents, OnError, Options, Part,
    PipelineError, Plan, Source, convert,
};

const HEADER: &str = "id,participantId,sessionId,meetingId,displayName,pinned,isEdited,payloadType,payload,createdAt";

/// `records` messages of session `s1` (meeting `mt1`), the first one last in the file: beyond
/// a small reorder window, so the dump is read twice. `odd_session` replaces the session of the
/// record in the middle.
fn dump(records: usize, odd_session: Option<&str>) -> String {
    let line = |i: usize| {
        let session = match odd_session {
            Some(odd) if i == records / 2 => odd,
            _ => "s1",
        };
        format!(
            "m{i},p{},{session},mt1,Person,false,false,TEXT_MESSAGE,hello {i},2024-05-14T{:02}:{:02}:{:02}.000Z",
            i % 5,
            9 + i / 3_600,
            i / 60 % 60,
            i % 60
        )
    };
    let mut lines = vec![HEADER.to_owned()];
    lines.extend((1..records).map(line));
    lines.push(line(0));
    lines.join("\n")
}

const TRANSCRIPT: &str =
    "Timestamp,Participant ID,User ID,Custom Participant ID,Participant Name,Transcript
2024-05-14T09:00:05.000Z,p1,u1,,Ann,second
yesterday,p1,u1,,Ann,bad
2024-05-14T09:00:01.000Z,p2,,,Bob,first
";

fn options(temp: &Path) -> Options {
    let mut options = Options::new(temp.to_owned(), "0.0.0-test");
    options.sort_memory = 64 << 10;
    options.on_error = OnError::Skip;
    options
}

#[derive(Default)]
struct Told {
    passes: usize,
    utterances_rejected: usize,
}

impl Events for Told {
    fn reading_again(&mut self, _source: &Source) {
        self.passes += 1;
    }
    fn rejected_utterance(&mut self, _error: &UtteranceError) {
        self.utterances_rejected += 1;
    }
}

#[test]
fn parts_are_read_once_and_written_with_the_chats_ids() {
    let temp = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let chat = temp.path().join("chat.csv");
    fs::write(&chat, dump(5_000, None)).unwrap();
    let transcript = temp.path().join("t.csv");
    fs::write(&transcript, TRANSCRIPT).unwrap();
    let summary = temp.path().join("summary.txt");
    fs::write(&summary, "Plain words.\r\n").unwrap();
    let mut source = Source::path(&chat);
    source.parts = MeetingParts {
        transcript: Some(transcript),
        summary: Some(summary),
        session_start: None,
    };
    let out = temp.path().join("out");
    let plan = Plan::new(
        &[Format::Jsonl, Format::Parquet],
        Destination::Directory(out.clone()),
    );
    let mut told = Told::default();
    let converted = convert(&[source], &plan, &options(temp.path()), &mut told).unwrap();
    assert_eq!(told.passes, 1, "the chat is read twice");
    assert_eq!(told.utterances_rejected, 1, "told once");
    let converted = &converted[0];
    let speech = converted.speech.expect("the parts' counts");
    assert_eq!(
        (
            speech.transcript,
            speech.utterances,
            speech.rejected,
            speech.summary
        ),
        (true, 2, 1, true)
    );
    let written: Vec<(Part, Option<Format>, String)> = converted
        .outputs
        .iter()
        .map(|written| {
            let name = written.path.as_ref().unwrap().file_name().unwrap();
            (
                written.part,
                written.format,
                name.to_string_lossy().into_owned(),
            )
        })
        .collect();
    assert_eq!(
        written,
        [
            (Part::Chat, Some(Format::Jsonl), "chat.jsonl".to_owned()),
            (Part::Chat, Some(Format::Parquet), "chat.parquet".to_owned()),
            (
                Part::Transcript,
                Some(Format::Jsonl),
                "chat.transcript.jsonl".to_owned()
            ),
            (
                Part::Transcript,
                Some(Format::Parquet),
                "chat.transcript.parquet".to_owned()
            ),
            (Part::Summary, None, "chat.summary.txt".to_owned()),
            (Part::Rejects, None, "chat.rejects.jsonl".to_owned()),
        ]
    );
    for written in &converted.outputs {
        let path = written.path.as_ref().unwrap();
        assert_eq!(fs::metadata(path).unwrap().len(), written.bytes, "{path:?}");
    }
    let lines = fs::read_to_string(out.join("chat.transcript.jsonl")).unwrap();
    let lines: Vec<serde_json::Value> = lines
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert_eq!(lines[0]["text"], "first");
    assert_eq!(lines[1]["text"], "second");
    assert!(
        lines
            .iter()
            .all(|line| line["session_id"] == "s1" && line["meeting_id"] == "mt1")
    );
    let rejects = fs::read_to_string(out.join("chat.rejects.jsonl")).unwrap();
    assert_eq!(rejects.lines().count(), 1, "{rejects}");
    assert_eq!(
        fs::read_to_string(out.join("chat.summary.txt")).unwrap(),
        "Plain words.\n"
    );
}

#[test]
fn a_transcript_with_a_chat_of_several_sessions_is_an_error() {
    let temp = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let chat = temp.path().join("chat.csv");
    fs::write(&chat, dump(100, Some("s2"))).unwrap();
    let transcript = temp.path().join("t.csv");
    fs::write(&transcript, TRANSCRIPT).unwrap();
    let conversion = Conversion {
        formats: vec![Format::Jsonl],
        partition_by_date: false,
        rejects: None,
        options: options(temp.path()),
    };
    let out = temp.path().join("out");
    let error = conversion
        .session(
            &chat,
            "s1",
            MeetingParts {
                transcript: Some(transcript),
                ..MeetingParts::default()
            },
            &out,
            &mut NoEvents,
        )
        .unwrap_err();
    assert!(matches!(error, PipelineError::Parts(_)), "{error:?}");
    let text = error.to_string();
    assert!(text.contains("several sessions (`s1`, `s2`"), "{text}");
    assert!(!out.exists(), "nothing written");
}

#[test]
fn a_transcript_larger_than_the_cap_is_an_error() {
    let temp = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let chat = temp.path().join("chat.csv");
    fs::write(&chat, dump(10, None)).unwrap();
    let transcript = temp.path().join("t.csv");
    fs::write(&transcript, TRANSCRIPT).unwrap();
    let mut source = Source::path(&chat);
    source.parts.transcript = Some(transcript.clone());
    let out = temp.path().join("out");
    let plan = Plan::new(&[Format::Jsonl], Destination::Directory(out.clone()));
    let mut options = options(temp.path());
    options.max_transcript_size = TRANSCRIPT.len() as u64 - 1;
    let error = convert(&[source.clone()], &plan, &options, &mut NoEvents).unwrap_err();
    let text = error.to_string();
    assert!(
        text.contains(&transcript.display().to_string()) && text.contains("larger than"),
        "{text}"
    );
    assert!(!out.exists(), "nothing written");
    // Exactly the cap is accepted.
    options.max_transcript_size = TRANSCRIPT.len() as u64;
    convert(&[source], &plan, &options, &mut NoEvents).unwrap();
}
