//! The speech transcript and summary readers, on fixtures built from the documented shapes
//! (`tests/fixtures/speech/`, named for what they exercise).

use std::fs::File;
use std::path::PathBuf;

use chatdump_core::speech::{
    DEFAULT_MAX_SUMMARY_BYTES, SpeechError, SpeechOptions, SummaryFormat, TranscriptFormat,
    TranscriptReader, Utterance, read_summary,
};
use chatdump_core::time::format_utc;
use jiff::Timestamp;

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures/speech")
        .join(name)
}

fn session_start() -> Timestamp {
    "2024-08-07T10:15:30Z".parse().unwrap()
}

fn options(start: bool) -> SpeechOptions {
    SpeechOptions {
        session_start: start.then(session_start),
        ..SpeechOptions::default()
    }
}

fn open(name: &str, options: SpeechOptions) -> Result<TranscriptReader<File>, SpeechError> {
    TranscriptReader::new(File::open(fixture(name)).unwrap(), name, options)
}

/// One line per utterance or error, in file order.
fn render(result: &Result<Utterance, SpeechError>) -> String {
    match result {
        Ok(u) => format!(
            "{}:{}#{} {} -> {} [{}|{}|{}|{}|{}] {:?}",
            u.position.line,
            u.position.byte,
            u.index,
            format_utc(u.start),
            u.end.map_or_else(|| "-".into(), format_utc),
            u.session_id.as_deref().unwrap_or("-"),
            u.participant_id.as_deref().unwrap_or("-"),
            u.user_id.as_deref().unwrap_or("-"),
            u.custom_participant_id.as_deref().unwrap_or("-"),
            u.display_name,
            u.text,
        ),
        Err(error) => format!(
            "error{}: {error}",
            if error.is_recoverable() {
                ""
            } else {
                " (fatal)"
            }
        ),
    }
}

fn read_all(name: &str, options: SpeechOptions) -> (TranscriptFormat, Vec<String>) {
    let reader = open(name, options).unwrap_or_else(|error| panic!("{name}: {error}"));
    let format = reader.format();
    (format, reader.map(|result| render(&result)).collect())
}

fn assert_reads(name: &str, start: bool, format: TranscriptFormat, expected: &[&str]) {
    let (found, lines) = read_all(name, options(start));
    assert_eq!(found, format, "{name}");
    assert_eq!(lines, expected, "{name}");
}

#[test]
fn csv_with_the_documented_header_spaces_after_commas() {
    assert_reads(
        "csv-documented-header.csv",
        false,
        TranscriptFormat::Csv,
        &[
            r#"2:88#0 2024-08-07T10:15:30.000Z -> - [-|peer-123|user-456|cust-789|Alice] "Hello everyone""#,
            r#"3:161#1 2024-08-07T10:15:33.250Z -> - [-|peer-124|-|-|Bob] "Hi Alice, can you hear me?""#,
            // After a blank line; a quoted field over two lines; an offset other than Z.
            r#"5:231#2 2024-08-07T10:15:35.000Z -> - [-|peer-123|user-456|cust-789|Alice] "Yes.\nLoud and clear.""#,
            r#"7:313#3 2024-08-07T10:15:40.000Z -> - [-|peer-124|-|-|Bob] "Good""#,
        ],
    );
}

#[test]
fn csv_header_in_any_case_and_order_with_bom_and_crlf() {
    assert_reads(
        "csv-bom-crlf-reordered.csv",
        false,
        TranscriptFormat::Csv,
        &[
            r#"2:87#0 2024-08-07T10:15:30.000Z -> - [-|peer-123|user-456|cust-789|Alice] "Hello everyone""#,
        ],
    );
}

#[test]
fn csv_without_header_instants_need_no_session_start() {
    assert_reads(
        "csv-headerless-instants.csv",
        false,
        TranscriptFormat::HeaderlessCsv,
        &[
            r#"1:0#0 2024-08-07T10:15:30.000Z -> - [-|peer-123|user-456|cust-789|Alice] "Hello everyone""#,
            r#"2:73#1 2024-08-07T10:15:33.250Z -> - [-|peer-124|-|-|Bob] "Hi Alice""#,
        ],
    );
}

#[test]
fn csv_without_header_milliseconds_from_the_session_start() {
    assert_reads(
        "csv-headerless-milliseconds.csv",
        true,
        TranscriptFormat::HeaderlessCsv,
        &[
            r#"1:0#0 2024-08-07T10:15:30.000Z -> - [-|peer-123|user-456|cust-789|Alice] "Hello everyone""#,
            r#"2:50#1 2024-08-07T10:15:32.500Z -> - [-|peer-124|-|-|Bob] "Hi Alice""#,
        ],
    );
    // Without the session's start: an error naming the line, that stops the run.
    let (_, lines) = read_all("csv-headerless-milliseconds.csv", options(false));
    assert_eq!(
        lines,
        [
            "error (fatal): `csv-headerless-milliseconds.csv` line 1: the times of this headerless CSV transcript are offsets from the session's start, so the session's start is needed to place them on the clock (it is never guessed)"
        ]
    );
}

#[test]
fn csv_errors_name_line_field_and_value_and_reading_goes_on() {
    assert_reads(
        "csv-errors.csv",
        false,
        TranscriptFormat::Csv,
        &[
            "error: `csv-errors.csv` line 2, field `Timestamp`: not a timestamp: expected RFC 3339 / ISO 8601 with an offset (e.g. `2024-08-07T10:15:30.000Z`) or whole milliseconds from the session's start: `yesterday`",
            "error: `csv-errors.csv` line 3: the record has 8 fields where a transcript record has 6: `2024-08-07T10:15:30.000Z`",
            "error: `csv-errors.csv` line 4, field `Participant Name`: a `\"` inside an unquoted field (quote the field and double the `\"`): `An\"n`",
            "error: `csv-errors.csv` line 5, field `Transcript`: the value is not valid UTF-8: `bad \u{fffd} utf8`",
            "error: `csv-errors.csv` line 6, field `Timestamp`: the value is empty",
            "error: `csv-errors.csv` line 7, field `Timestamp`: not a timestamp: expected RFC 3339 / ISO 8601 with an offset (e.g. `2024-08-07T10:15:30.000Z`) or whole milliseconds from the session's start: `1715677204.112`",
            "error: `csv-errors.csv` line 8, field `Timestamp`: not a timestamp: expected RFC 3339 / ISO 8601 with an offset (e.g. `2024-08-07T10:15:30.000Z`) or whole milliseconds from the session's start: `2024-08-07T10:15:33`",
            r#"9:402#7 2024-08-07T10:15:34.000Z -> - [-|peer-1|-|-|Ann] "good""#,
        ],
    );
}

#[test]
fn csv_rejects_go_to_the_rejects_file_like_chat_records() {
    let mut reader = open("csv-errors.csv", options(false)).unwrap();
    let Some(Err(SpeechError::Record(error))) = reader.next() else {
        panic!("expected a record error");
    };
    assert_eq!(
        serde_json::to_string(&error.to_reject()).unwrap(),
        r#"{"line":2,"byte_offset":88,"column":"Timestamp","error":"invalid_timestamp","reason":"not a timestamp: expected RFC 3339 / ISO 8601 with an offset (e.g. `2024-08-07T10:15:30.000Z`) or whole milliseconds from the session's start","excerpt":"yesterday"}"#
    );
}

#[test]
fn csv_without_header_wrong_field_count() {
    let csv = "2024-08-07T10:15:30.000Z,peer-1,Ann,hello\n";
    let mut reader = TranscriptReader::new(csv.as_bytes(), "short.csv", options(false)).unwrap();
    assert_eq!(
        render(&reader.next().unwrap()),
        "error: `short.csv` line 1: the record has 4 fields where a transcript record has 6: `2024-08-07T10:15:30.000Z`"
    );
}

#[test]
fn csv_offsets_beyond_100_days_are_refused() {
    let csv = "8640000001,peer-1,,,Ann,an epoch time in milliseconds\n";
    let mut reader = TranscriptReader::new(csv.as_bytes(), "epoch.csv", options(true)).unwrap();
    assert_eq!(
        render(&reader.next().unwrap()),
        "error: `epoch.csv` line 1, field `Timestamp`: the offset is more than 100 days after the session's start (an epoch time instead of an offset?): `8640000001`"
    );
}

#[test]
fn csv_header_problems_are_named() {
    for (csv, expected) in [
        (
            "Timestamp,Participant ID,Participant Name,Transcript\n",
            "`h.csv` line 1: not a speech transcript: missing column(s) `User ID`, `Custom Participant ID` (starts with: `Timestamp,Participant ID,Participant Name,Transcript`)",
        ),
        (
            "Timestamp,Participant ID,User ID,Custom Participant ID,Participant Name,Transcript,transcript\n",
            "`h.csv` line 1: not a speech transcript: column `transcript` appears twice (starts with: `Timestamp,Participant ID,User ID,Custom Participant ID,Participant Name,Transcr…`)",
        ),
    ] {
        let error = TranscriptReader::new(csv.as_bytes(), "h.csv", options(false))
            .err()
            .unwrap();
        assert_eq!(error.to_string(), expected);
    }
}

#[test]
fn json_documented_shape_fractional_seconds_and_string_seconds() {
    assert_reads(
        "json-documented.json",
        true,
        TranscriptFormat::Json,
        &[
            r#"2:4#0 2024-08-07T10:15:30.000Z -> 2024-08-07T10:15:32.500Z [-|peer-123|user-456|cust-789|Alice] "Hello everyone""#,
            r#"4:170#1 2024-08-07T10:15:33.125Z -> 2024-08-07T10:15:34.000400Z [session-456|peer-124|-|-|Bob] "Hi Alice""#,
            r#"6:349#2 2024-08-07T10:15:35.500Z -> - [-|peer-123|-|-|Alice] "String seconds, no end""#,
        ],
    );
    assert_reads("json-empty-array.json", true, TranscriptFormat::Json, &[]);
}

#[test]
fn json_without_session_start_is_an_error() {
    let error = open("json-documented.json", options(false)).err().unwrap();
    assert!(matches!(error, SpeechError::SessionStartNeeded { .. }));
    assert_eq!(
        error.to_string(),
        "`json-documented.json`: the times of this JSON transcript are offsets from the session's start, so the session's start is needed to place them on the clock (it is never guessed)"
    );
}

#[test]
fn json_errors_name_element_line_field_and_value() {
    assert_reads(
        "json-errors.json",
        true,
        TranscriptFormat::Json,
        &[
            "error: `json-errors.json` element 0 (line 2), field `startTime`: not an offset: expected seconds from the session's start, a number at least 0 (e.g. `2.5`): `-1`",
            "error: `json-errors.json` element 1 (line 3), field `endTime`: the end is before the start: `0.5`",
            "error: `json-errors.json` element 2 (line 4), field `sentence`: expected a string: `42`",
            "error: `json-errors.json` element 3 (line 5), field `startTime`: the field is missing",
            "error: `json-errors.json` element 4 (line 6), field `peerData`: expected an object: `\"p\"`",
            "error: `json-errors.json` element 5 (line 7), field `peerData.id`: expected a string: `[\"p\"]`",
            "error: `json-errors.json` element 6 (line 8), field `startTime`: the offset is more than 100 days after the session's start (an epoch time instead of an offset?): `1700000000`",
            "error: `json-errors.json` element 7 (line 10): not valid JSON: trailing comma: `{\"startTime\": 1, \"sentence\": \"syntax\",\\n   \"peerData\": {\"id\": \"p\",}}`",
            "error: `json-errors.json` element 8 (line 11): expected an object: `\"just a string\"`",
            r#"12:598#9 2024-08-07T10:15:32.000Z -> - [-|p|-|-|] "good""#,
        ],
    );
}

#[test]
fn json_unterminated_array_and_trailing_text_stop_the_run() {
    assert_reads(
        "json-unterminated.json",
        true,
        TranscriptFormat::Json,
        &[
            r#"1:1#0 2024-08-07T10:15:30.000Z -> - [-|p|-|-|] "cut""#,
            "error (fatal): `json-unterminated.json` element 1 (line 2): the JSON array is never closed (the input ends inside it): `{\"startTime\": 1, \"sentence\": \"cu`",
        ],
    );
    assert_reads(
        "json-trailing.json",
        true,
        TranscriptFormat::Json,
        &[
            r#"1:1#0 2024-08-07T10:15:30.000Z -> - [-|p|-|-|] "ok""#,
            "error (fatal): `json-trailing.json` line 2: text after the closing `]` of the JSON array: `garbage\\n`",
        ],
    );
}

#[test]
fn json_session_other_than_the_chat_is_an_error() {
    let mut options = options(true);
    options.chat_session_id = Some("session-999".into());
    let (_, lines) = read_all("json-documented.json", options.clone());
    assert_eq!(
        lines,
        [
            r#"2:4#0 2024-08-07T10:15:30.000Z -> 2024-08-07T10:15:32.500Z [-|peer-123|user-456|cust-789|Alice] "Hello everyone""#,
            "error (fatal): `json-documented.json` line 4, field `sessionId`: the transcript belongs to another session than the chat's (`session-999`): `session-456`",
        ]
    );
    options.chat_session_id = Some("session-456".into());
    assert_eq!(read_all("json-documented.json", options).1.len(), 3);
}

#[test]
fn webvtt_with_settings_notes_voices_and_entities() {
    assert_reads(
        "vtt-settings-voices.vtt",
        true,
        TranscriptFormat::WebVtt,
        &[
            r#"11:131#0 2024-08-07T10:15:30.000Z -> 2024-08-07T10:15:32.500Z [-|-|-|-|Alice] "Hello everyone""#,
            r#"15:217#1 2024-08-07T10:15:33.125Z -> 2024-08-07T10:15:34.000Z [-|-|-|-|Bob Smith] "Hi Alice & all <3""#,
            r#"19:317#2 2024-08-07T10:15:35.000Z -> 2024-08-07T10:15:36.000Z [-|-|-|-|Carol] "Minutes and seconds only\non two lines""#,
            r#"23:387#3 2024-08-07T10:15:37.000Z -> 2024-08-07T10:15:38.000Z [-|-|-|-|Alice] "Karaoke style""#,
            r#"26:459#4 2024-08-07T11:15:39.000Z -> 2024-08-07T11:15:40.000Z [-|-|-|-|] "No speaker here, a 5 < 6 comparison""#,
        ],
    );
    let error = open("vtt-settings-voices.vtt", options(false))
        .err()
        .unwrap();
    assert_eq!(
        error.to_string(),
        "`vtt-settings-voices.vtt`: the times of this WebVTT transcript are offsets from the session's start, so the session's start is needed to place them on the clock (it is never guessed)"
    );
}

#[test]
fn webvtt_errors() {
    assert_reads(
        "vtt-errors.vtt",
        true,
        TranscriptFormat::WebVtt,
        &[
            "error: `vtt-errors.vtt` line 3: not a cue: no timing line `start --> end`: `1`",
            "error: `vtt-errors.vtt` line 7, field `timing`: the end is before the start: `00:00:03.000 --> 00:00:02.000`",
            "error: `vtt-errors.vtt` line 10: not a cue: no timing line `start --> end`: `just text without timing`",
            "error: `vtt-errors.vtt` line 13, field `text`: a cue with several speakers (`<v>` spans of different names): `<v Ann>one</v> <v Bob>two</v>`",
            "error: `vtt-errors.vtt` line 16, field `text`: the value is not valid UTF-8: `bad \u{fffd} byte`",
            r#"18:243#5 2024-08-07T10:15:38.000Z -> 2024-08-07T10:15:39.000Z [-|-|-|-|Ann] "good""#,
        ],
    );
}

#[test]
fn srt_with_crlf_and_bom() {
    assert_reads(
        "srt-crlf-bom.srt",
        true,
        TranscriptFormat::Srt,
        &[
            r#"1:0#0 2024-08-07T10:15:30.000Z -> 2024-08-07T10:15:32.500Z [-|-|-|-|Alice] "Hello everyone""#,
            r#"5:62#1 2024-08-07T10:15:33.125Z -> 2024-08-07T10:15:34.000Z [-|-|-|-|Bob] "Hi Alice""#,
            r#"10:122#2 2024-08-07T10:15:35.000Z -> 2024-08-07T10:15:36.000Z [-|-|-|-|Carol] "Two\nlines""#,
        ],
    );
}

#[test]
fn srt_errors() {
    assert_reads(
        "srt-errors.srt",
        true,
        TranscriptFormat::Srt,
        &[
            "error: `srt-errors.srt` line 2, field `timing`: not a cue timing: expected `00:01:02.500 --> 00:01:04.000` (SRT: `00:01:02,500 --> 00:01:04,000`): `00:00:01,000 --> soon`",
            "error: `srt-errors.srt` line 6, field `timing`: not a cue timing: expected `00:01:02.500 --> 00:01:04.000` (SRT: `00:01:02,500 --> 00:01:04,000`): `00:61:00,000 --> 00:62:00,000`",
            r#"9:79#2 2024-08-07T10:15:33.000Z -> 2024-08-07T10:15:34.000Z [-|-|-|-|Ann] "good""#,
        ],
    );
}

#[test]
fn hostile_text_is_kept_as_data() {
    assert_reads(
        "csv-hostile-text.csv",
        false,
        TranscriptFormat::Csv,
        &[
            "2:83#0 2024-08-07T10:15:30.000Z -> - [-|peer-\u{1b}[31m1|user\u{202e}-2|cust-3|<script>alert(1)</script>] \"<img src=x onerror=alert(1)> \\u{7}bell \\u{2066}isolate\\u{2069} \\u{9b}csi\"",
        ],
    );
    // In an error, the value is escaped and shortened: nothing reaches a terminal raw.
    let csv = format!(
        "Timestamp,Participant ID,User ID,Custom Participant ID,Participant Name,Transcript\n\u{1b}[2J\u{202e}{},p,,,n,t\n",
        "x".repeat(100_000)
    );
    let mut reader = TranscriptReader::new(csv.as_bytes(), "long.csv", options(false)).unwrap();
    let message = reader.next().unwrap().unwrap_err().to_string();
    assert!(
        message.ends_with(&format!(": `\\u{{1b}}[2J\\u{{202e}}{}…`", "x".repeat(74))),
        "{message}"
    );
    assert!(
        !message
            .chars()
            .any(chatdump_core::escape::is_unsafe_for_terminal)
    );
}

#[test]
fn very_long_lines_are_read_up_to_the_record_cap_then_stop_the_run() {
    let long = "é".repeat(50_000);
    let csv = format!("0,p,,,n,{long}\n1,p,,,n,short\n");
    let vtt = format!(
        "WEBVTT\n\n00:00.000 --> 00:01.000\nAnn: {long}\n\n00:02.000 --> 00:03.000\nAnn: short\n"
    );
    let json = format!(
        "[{{\"startTime\": 0, \"sentence\": \"{long}\"}}, {{\"startTime\": 1, \"sentence\": \"short\"}}]"
    );
    for (name, input) in [("long.csv", &csv), ("long.vtt", &vtt), ("long.json", &json)] {
        let read = |max_record_bytes| {
            let options = SpeechOptions {
                max_record_bytes,
                ..options(true)
            };
            TranscriptReader::new(input.as_bytes(), name, options)
                .unwrap()
                .map(|result| {
                    result
                        .map(|u| u.text.chars().count())
                        .map_err(|e| e.to_string())
                })
                .collect::<Vec<_>>()
        };
        assert_eq!(read(200_000), [Ok(50_000), Ok(5)], "{name}");
        let capped = read(60_000);
        assert_eq!(capped.len(), 1, "{name}: {capped:?}");
        let message = capped[0].as_ref().unwrap_err();
        assert!(
            message.contains("the record is larger than 60000 bytes"),
            "{name}: {message}"
        );
    }
}

#[test]
fn detection_of_each_format_and_of_garbage() {
    use chatdump_core::speech::detect;
    for (start, expected) in [
        (&b"WEBVTT\n\n"[..], Some(TranscriptFormat::WebVtt)),
        (b"\xef\xbb\xbfWEBVTT - title\n", Some(TranscriptFormat::WebVtt)),
        (b"WEBVTT", Some(TranscriptFormat::WebVtt)),
        (b"WEBVTTX\n", None),
        (b"  \n[{\"startTime\":0}]", Some(TranscriptFormat::Json)),
        (b"{\"transcript\": []}", None),
        (b"1\r\n00:00:00,000 --> 00:00:01,000\r\n", Some(TranscriptFormat::Srt)),
        (b"1\n\nhello\n", None),
        (b"12\n", None),
        (b"timestamp,participant_id,user_id,cpi,name,TRANSCRIPT\n", Some(TranscriptFormat::Csv)),
        (b"\"Timestamp\",\"Participant ID\",\"Transcript\"\n", Some(TranscriptFormat::Csv)),
        (b"2024-08-07T10:15:30.000Z,p,u,c,n,t\n", Some(TranscriptFormat::HeaderlessCsv)),
        (b"1500,p,u,c,n,t\n", Some(TranscriptFormat::HeaderlessCsv)),
        (b"1500.5,p,u,c,n,t\n", None),
        (b"id,participantId,sessionId,meetingId,displayName,pinned,isEdited,payloadType,payload,createdAt\n", None),
        (b"Hello, world\n", None),
        (b"\xff\xfe,\n", None),
        (b"", None),
    ] {
        assert_eq!(detect(start), expected, "{:?}", String::from_utf8_lossy(start));
    }
}

#[test]
fn empty_and_unknown_inputs() {
    for (name, expected) in [
        (
            "empty.csv",
            "`empty.csv` is empty: a speech transcript is CSV, JSON, WebVTT or SRT",
        ),
        (
            "bom-only.vtt",
            "`bom-only.vtt` is empty: a speech transcript is CSV, JSON, WebVTT or SRT",
        ),
        (
            "garbage.txt",
            "`garbage.txt` line 1: not a speech transcript: expected CSV (`Timestamp, Participant ID, ...` or six columns starting with a timestamp), a JSON array, WebVTT (`WEBVTT`) or SRT (`1` then `00:00:00,000 --> ...`) (starts with: `Hello, this is not a transcript`)",
        ),
    ] {
        let error = open(name, options(true)).err().unwrap();
        assert_eq!(error.to_string(), expected);
    }
    // A chat dump given as the transcript is not taken for one.
    let chat = "id,participantId,sessionId,meetingId,displayName,pinned,isEdited,payloadType,payload,createdAt\n";
    let error = TranscriptReader::new(chat.as_bytes(), "chat.csv", options(true))
        .err()
        .unwrap();
    assert!(
        matches!(error, SpeechError::NotATranscript { .. }),
        "{error}"
    );
}

#[test]
fn summary_markdown_detected() {
    let summary = read_summary(
        File::open(fixture("summary-markdown.md")).unwrap(),
        "summary-markdown.md",
        None,
        DEFAULT_MAX_SUMMARY_BYTES,
    )
    .unwrap();
    assert_eq!(summary.format, SummaryFormat::Markdown);
    assert_eq!(
        summary.text,
        "# Weekly sync\n\n- Alice opened the meeting\n- Bob **agreed**\n"
    );
}

#[test]
fn summary_plain_bom_stripped_line_ends_normalised() {
    let read = |format| {
        read_summary(
            File::open(fixture("summary-plain-bom-crlf.txt")).unwrap(),
            "summary-plain-bom-crlf.txt",
            format,
            DEFAULT_MAX_SUMMARY_BYTES,
        )
        .unwrap()
    };
    let summary = read(None);
    assert_eq!(summary.format, SummaryFormat::Plain);
    assert_eq!(
        summary.text,
        "The team met to plan the release.\nAlice will write the notes.\nBob: agreed.\n"
    );
    // The caller's word wins over detection.
    assert_eq!(
        read(Some(SummaryFormat::Markdown)).format,
        SummaryFormat::Markdown
    );
}

#[test]
fn summary_errors() {
    let error = |bytes: &[u8], max| {
        read_summary(bytes, "s.txt", None, max)
            .unwrap_err()
            .to_string()
    };
    assert_eq!(
        read_summary(
            File::open(fixture("summary-invalid-utf8.txt")).unwrap(),
            "summary-invalid-utf8.txt",
            None,
            DEFAULT_MAX_SUMMARY_BYTES
        )
        .unwrap_err()
        .to_string(),
        "`summary-invalid-utf8.txt` line 2: the summary is not valid UTF-8: `Second \u{fffd}( line`"
    );
    assert_eq!(
        error(b"", 100),
        "`s.txt` is empty: the summary holds no text"
    );
    assert_eq!(
        error(b"\xef\xbb\xbf \r\n", 100),
        "`s.txt` is empty: the summary holds no text"
    );
    assert_eq!(
        error(&[b'a'; 101], 100),
        "`s.txt` is larger than 100 bytes: not a summary? (raise the summary size limit if it is genuine)"
    );
    assert_eq!(
        read_summary(&[b'a'; 100][..], "s.txt", None, 100)
            .unwrap()
            .text
            .len(),
        100
    );
}

#[test]
fn summary_format_detection_rule() {
    for markdown in [
        "# Title",
        "###### Deep",
        "- item",
        "* item",
        "+ item",
        "1. first",
        "12) twelfth",
        "> quoted",
        "```\ncode\n```",
        "a **bold** word",
        "see [the doc](https://x)",
        "   - indented",
        "intro\n## Later heading",
    ] {
        assert_eq!(
            SummaryFormat::detect(markdown),
            SummaryFormat::Markdown,
            "{markdown:?}"
        );
    }
    for plain in [
        "Plain text.",
        "#hashtag",
        "-dash",
        "1.5 hours",
        "    - four spaces is code, not a list",
        "a * b",
        "Bob: agreed",
        "####### seven",
    ] {
        assert_eq!(
            SummaryFormat::detect(plain),
            SummaryFormat::Plain,
            "{plain:?}"
        );
    }
}

#[test]
fn webvtt_cue_right_after_the_header_line_is_read() {
    let vtt = "WEBVTT\n00:01.000 --> 00:02.000\nAnn: no blank line before me\n";
    let reader = TranscriptReader::new(vtt.as_bytes(), "t.vtt", options(true)).unwrap();
    let lines: Vec<String> = reader.map(|result| render(&result)).collect();
    assert_eq!(
        lines,
        [
            r#"2:7#0 2024-08-07T10:15:31.000Z -> 2024-08-07T10:15:32.000Z [-|-|-|-|Ann] "no blank line before me""#
        ]
    );
}

#[test]
fn csv_header_only_has_no_utterances() {
    let csv =
        "Timestamp,Participant ID,User ID,Custom Participant ID,Participant Name,Transcript\r\n";
    let mut reader = TranscriptReader::new(csv.as_bytes(), "t.csv", options(false)).unwrap();
    assert!(reader.next().is_none());
}
