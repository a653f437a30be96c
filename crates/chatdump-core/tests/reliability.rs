//! Skip mode loses nothing: every record read is written, rejected or dropped as a duplicate,
//! whatever is wrong with the others; and what a run warns about the whole input, once.

use chatdump_core::error::{RecordError, RecordErrorKind};
use chatdump_core::export::{
    self, ExportContext, ExportError, Exporter, Observer, OnError, Outcome, Output, RunOptions,
    Summary, Warning,
};
use chatdump_core::model::Message;
use chatdump_core::order::Strategy;
use chatdump_core::reader::{ChatReader, ReaderOptions};

const HEADER: &str = "id,participantId,sessionId,meetingId,displayName,pinned,isEdited,payloadType,payload,createdAt";

/// Collects every message an exporter is given.
struct Collect<'v>(&'v mut Vec<Message>);

impl Exporter for Collect<'_> {
    fn begin(&mut self, _context: &ExportContext) -> Result<(), ExportError> {
        Ok(())
    }
    fn message(&mut self, message: &Message) -> Result<(), ExportError> {
        self.0.push(message.clone());
        Ok(())
    }
    fn finish(&mut self) -> Result<(), ExportError> {
        Ok(())
    }
}

#[derive(Default)]
struct Log {
    rejects: Vec<RecordError>,
    warnings: Vec<Warning>,
}

impl Observer for Log {
    fn rejected(&mut self, error: &RecordError) -> Result<(), ExportError> {
        self.rejects.push(error.clone());
        Ok(())
    }
    fn warning(&mut self, warning: &Warning) {
        self.warnings.push(warning.clone());
    }
    fn progress(&mut self, _bytes_read: u64) {}
}

/// What a skip-mode conversion of `input` gave, as the CLI runs it: the window strategy, then
/// the external sort when the window was not enough.
struct Converted {
    summary: Summary,
    messages: Vec<Message>,
    log: Log,
}

fn convert(input: &[u8], on_error: OnError, reader_options: &ReaderOptions) -> Converted {
    for strategy in [Strategy::Window, Strategy::External] {
        let reader = ChatReader::new(input, "dump.csv", reader_options.clone()).unwrap();
        let mut messages = Vec::new();
        let mut log = Log::default();
        let options = RunOptions {
            on_error,
            strategy: Some(strategy),
            ..RunOptions::default()
        };
        let mut outputs = [Output {
            name: "collect".to_owned(),
            exporter: Box::new(Collect(&mut messages)),
        }];
        let outcome = export::run(
            reader,
            &ExportContext::default(),
            &mut outputs,
            &mut log,
            &options,
        )
        .unwrap_or_else(|error| panic!("{error}"));
        drop(outputs);
        match outcome {
            Outcome::Done(summary) => {
                return Converted {
                    summary,
                    messages,
                    log,
                };
            }
            Outcome::NeedsExternalSort => {}
        }
    }
    unreachable!("the external sort always finishes")
}

fn skip(input: &[u8]) -> Converted {
    convert(input, OnError::Skip, &ReaderOptions::default())
}

fn record(id: &str, session: &str, payload_type: &str, second: u32) -> String {
    format!(
        "{id},p,{session},mt,Ann,false,false,{payload_type},text {id},2024-05-14T09:00:{second:02}Z"
    )
}

fn ids(messages: &[Message]) -> Vec<&str> {
    messages.iter().map(|message| message.id.as_str()).collect()
}

#[test]
fn a_record_far_wider_than_the_header_is_rejected_alone() {
    let ragged = vec!["x"; 250_000].join(",");
    let input = [
        HEADER.to_owned(),
        record("m1", "s", "TEXT_MESSAGE", 1),
        record("m2", "s", "TEXT_MESSAGE", 2),
        ragged,
        record("m4", "s", "TEXT_MESSAGE", 4),
        record("m5", "s", "TEXT_MESSAGE", 5),
    ]
    .join("\n");
    let converted = skip(input.as_bytes());
    assert_eq!(ids(&converted.messages), ["m1", "m2", "m4", "m5"]);
    assert_eq!(converted.summary.records, 5);
    assert_eq!(converted.summary.rejected, 1);
    let reject = &converted.log.rejects[0];
    assert_eq!(reject.position.line, 4);
    assert_eq!(
        reject.kind,
        RecordErrorKind::Ragged {
            expected: 10,
            found: 250_000
        }
    );
    assert_eq!(reject.excerpt, "x");
    // The line after it is numbered right.
    assert_eq!(converted.messages[2].position.line, 5);
}

#[test]
fn a_dump_cut_inside_a_quoted_field_keeps_the_records_before_it() {
    let input = format!(
        "{HEADER}\r\n{}\r\n{}\r\nm3,p,s,mt,Ann,false,false,TEXT_MESSAGE,\"cut in the mid",
        record("m1", "s", "TEXT_MESSAGE", 1),
        record("m2", "s", "TEXT_MESSAGE", 2),
    );
    let converted = skip(input.as_bytes());
    assert_eq!(ids(&converted.messages), ["m1", "m2"]);
    assert_eq!(converted.summary.records, 3);
    assert_eq!(converted.log.rejects.len(), 1);
    assert_eq!(
        converted.log.rejects[0].kind,
        RecordErrorKind::UnterminatedQuote
    );
    assert_eq!(converted.log.rejects[0].position.line, 4);

    // Strict mode stays an error.
    let reader = ChatReader::new(input.as_bytes(), "dump.csv", ReaderOptions::default()).unwrap();
    let error = export::run(
        reader,
        &ExportContext::default(),
        &mut [],
        &mut Log::default(),
        &RunOptions::default(),
    )
    .unwrap_err();
    assert_eq!(
        error.to_string(),
        "`dump.csv` line 4, column `payload`: a quoted field is never closed (the input ends inside quotes): `cut in the mid`"
    );
}

#[test]
fn an_empty_column_with_no_name_is_dropped_with_one_warning() {
    let lines: Vec<String> = [HEADER.to_owned()]
        .into_iter()
        .chain((1..=3).map(|n| record(&format!("m{n}"), "s", "TEXT_MESSAGE", n)))
        .map(|line| line + ",")
        .collect();
    let converted = skip(lines.join("\n").as_bytes());
    assert_eq!(converted.messages.len(), 3);
    assert!(
        converted
            .messages
            .iter()
            .all(|message| message.extra.is_empty())
    );
    assert_eq!(
        converted.log.warnings,
        [Warning::EmptyColumnDropped { column: 11 }]
    );
    assert_eq!(
        converted.log.warnings[0].to_string(),
        "column 11 has no name and no value on any line (every line ends with a comma?): left out"
    );

    // A value in it makes it a real column, in the messages that have one.
    let mut lines = lines;
    lines[2] = record("m2", "s", "TEXT_MESSAGE", 2) + ",kept";
    let converted = skip(lines.join("\n").as_bytes());
    let extras: Vec<_> = converted
        .messages
        .iter()
        .map(|message| message.extra.clone())
        .collect();
    assert_eq!(
        extras,
        [vec![], vec![(String::new(), "kept".to_owned())], vec![]]
    );
    assert_eq!(
        converted.log.warnings,
        [Warning::UnnamedColumn {
            column: 11,
            messages: 1
        }]
    );
    assert_eq!(
        converted.log.warnings[0].to_string(),
        "column 11 has no name: its value is kept in `extra` under an empty key in the 1 message(s) where it is not empty"
    );
}

#[test]
fn whole_input_warnings_come_once_each_with_counts() {
    let header = format!("{HEADER},room\u{1b}[31m,notes");
    let mut lines = vec![header];
    for n in 1..=40 {
        let (session, payload_type) = match n % 4 {
            0 => ("s2", "POLL_MESSAGE"),
            1 => ("s1", "CUSTOM\u{202e}_MESSAGE"),
            _ => ("s1", "TEXT_MESSAGE"),
        };
        lines.push(record(&format!("m{n:02}"), session, payload_type, n) + ",r,");
    }
    let converted = skip(lines.join("\n").as_bytes());
    assert_eq!(converted.summary.messages, 40);
    let shown: Vec<String> = converted
        .log
        .warnings
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(
        shown,
        [
            "column `room\\u{1b}[31m` is not one of the ten documented columns: its values are kept in each message's `extra`",
            "column `notes` is not one of the ten documented columns: its values are kept in each message's `extra`",
            "10 message(s) with payloadType `CUSTOM\\u{202e}_MESSAGE`, which is not TEXT_MESSAGE, IMAGE_MESSAGE or FILE_MESSAGE: written with their payload as is and rendered generically in transcripts",
            "10 message(s) with payloadType `POLL_MESSAGE`, which is not TEXT_MESSAGE, IMAGE_MESSAGE or FILE_MESSAGE: written with their payload as is and rendered generically in transcripts",
            "the dump holds 2 different `sessionId` values: `s1` (30 message(s)), `s2` (10 message(s))",
        ]
    );
    // One session and one meeting, known payload types, documented columns: nothing to say.
    let plain = [HEADER.to_owned(), record("m1", "s", "TEXT_MESSAGE", 1)].join("\n");
    assert!(skip(plain.as_bytes()).log.warnings.is_empty());
}

#[test]
fn ids_beyond_the_counted_ones_are_counted_together() {
    let mut lines = vec![HEADER.to_owned()];
    for n in 0..20 {
        lines.push(record(
            &format!("m{n:02}"),
            &format!("s{n:02}"),
            "TEXT_MESSAGE",
            n,
        ));
    }
    let converted = skip(lines.join("\n").as_bytes());
    let [
        Warning::SeveralIds {
            column,
            ids,
            more_messages,
        },
    ] = &converted.log.warnings[..]
    else {
        panic!("{:?}", converted.log.warnings);
    };
    assert_eq!(*column, "sessionId");
    assert_eq!(ids.len(), export::MAX_COUNTED_IDS);
    assert_eq!(ids[0], ("s00".to_owned(), 1));
    assert_eq!(*more_messages, 4);
    assert!(converted.log.warnings[0].to_string().starts_with(
        "the dump holds more than 16 different `sessionId` values: `s00` (1 message(s)), "
    ));
}

/// A small xorshift generator: the property test is reproducible from its seed.
struct Random(u64);

impl Random {
    fn below(&mut self, bound: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        usize::try_from(self.0 % bound as u64).unwrap()
    }
    fn one_in(&mut self, n: usize) -> bool {
        self.below(n) == 0
    }
}

/// A quoted CSV field.
fn quoted(text: &str) -> Vec<u8> {
    format!("\"{}\"", text.replace('"', "\"\"")).into_bytes()
}

/// The fields of an intact record, as written (quoted where needed), and the message it must
/// come out as.
fn intact(random: &mut Random, n: usize) -> (Vec<Vec<u8>>, Message) {
    let pieces = [
        "a", "bc", ",", "\"", "\n", "\r\n", "é", "🍕", " ", "x,y", "''",
    ];
    let text = |random: &mut Random| -> String {
        (0..random.below(5))
            .map(|_| pieces[random.below(pieces.len())])
            .collect()
    };
    let display_name = text(random);
    let payload = if random.one_in(40) {
        // A huge but valid field.
        "long ".repeat(40_000 + random.below(60_000))
    } else {
        text(random)
    };
    let pinned = random.one_in(2);
    let edited = random.one_in(3);
    let millis = 1_715_677_200_000 + i64::try_from(random.below(100_000)).unwrap();
    let created_at = jiff::Timestamp::from_millisecond(millis).unwrap();
    let message = Message {
        id: format!("m{n}"),
        participant_id: format!("p{}", n % 3),
        session_id: "s".to_owned(),
        meeting_id: "mt".to_owned(),
        display_name: display_name.clone(),
        pinned,
        edited,
        created_at,
        payload_type: chatdump_core::model::PayloadType::Text,
        payload: payload.clone(),
        ..Message::default()
    };
    let created_at = if random.one_in(2) {
        format!("{created_at:.3}").into_bytes()
    } else {
        millis.to_string().into_bytes()
    };
    let fields = vec![
        message.id.clone().into_bytes(),
        message.participant_id.clone().into_bytes(),
        b"s".to_vec(),
        b"mt".to_vec(),
        quoted(&display_name),
        pinned.to_string().into_bytes(),
        edited.to_string().into_bytes(),
        b"TEXT_MESSAGE".to_vec(),
        if payload.contains(['"', ',', '\r', '\n']) || random.one_in(3) {
            quoted(&payload)
        } else {
            payload.into_bytes()
        },
        created_at,
    ];
    (fields, message)
}

/// Damages a record's fields so that it must be rejected, in one of several ways.
fn corrupt(random: &mut Random, fields: &mut Vec<Vec<u8>>) {
    match random.below(6) {
        0 => {
            let extra = match random.below(10) {
                0 => 250_000,
                1 => 1_000 + random.below(5_000),
                _ => 1 + random.below(20),
            };
            for _ in 0..extra {
                fields.push(b"x".to_vec());
            }
        }
        1 => {
            let keep = random.below(10);
            fields.truncate(keep.max(1));
        }
        2 => {
            // A stray quote inside the unquoted id.
            fields[0].insert(1, b'"');
        }
        3 => {
            // Invalid UTF-8, in a quoted or an unquoted field.
            let field = [0, 4, 8][random.below(3)];
            let at = fields[field].len() / 2;
            // A lone 0xff, or a lead byte that breaks whatever follows it.
            fields[field].insert(at, [0xff, 0xc3][random.below(2)]);
        }
        4 => {
            let bad = [
                "yesterday",
                "2024-05-14T09:00:04+24:00",
                "2024-05-14T09:00:04-25:30",
                "2024-13-01T00:00:00Z",
                "2024-05-14T09:00:04",
                "",
            ];
            fields[9] = bad[random.below(bad.len())].as_bytes().to_vec();
        }
        _ => {
            // Text after a closing quote.
            fields[4] = b"\"Ann\"x".to_vec();
        }
    }
}

/// Random valid dumps with random records damaged in random ways: every record read is accounted
/// for, every damaged one is rejected, and every intact one comes out exactly as written.
#[test]
fn skip_mode_accounts_for_every_record_and_keeps_every_intact_one() {
    let mut random = Random(0x9e37_79b9_7f4a_7c15);
    let mut kinds_seen = std::collections::BTreeSet::new();
    let mut duplicates_seen = 0;
    for round in 0..150 {
        let mut dump = Vec::new();
        dump.extend_from_slice(HEADER.as_bytes());
        dump.extend_from_slice(if random.one_in(2) { b"\n" } else { b"\r\n" });
        let mut expected = Vec::new();
        let (mut records, mut damaged, mut duplicates) = (0, 0, 0);
        let count = random.below(40);
        for n in 0..count {
            for _ in 0..random.below(2) {
                dump.extend_from_slice(b"\n");
            }
            let (mut fields, message) = intact(&mut random, n);
            let is_last = n + 1 == count;
            let cut = is_last && random.one_in(4);
            let is_damaged = if cut {
                // A download cut inside a quoted field: the last record never ends.
                fields.truncate(9);
                fields[8] = b"\"cut, in the mid".to_vec();
                true
            } else if random.one_in(4) {
                corrupt(&mut random, &mut fields);
                true
            } else {
                expected.push(message);
                false
            };
            let line = fields.join(&b","[..]);
            dump.extend_from_slice(&line);
            records += 1;
            damaged += usize::from(is_damaged);
            if !cut {
                dump.extend_from_slice(if random.one_in(2) { b"\n" } else { b"\r\n" });
                if !is_damaged && random.one_in(8) {
                    // An identical copy, dropped as a duplicate.
                    dump.extend_from_slice(&line);
                    dump.extend_from_slice(b"\n");
                    records += 1;
                    duplicates += 1;
                }
            }
        }
        let options = ReaderOptions {
            buffer_bytes: if random.one_in(2) {
                16 + random.below(500)
            } else {
                ReaderOptions::default().buffer_bytes
            },
            ..ReaderOptions::default()
        };
        let converted = convert(&dump, OnError::Skip, &options);
        let summary = &converted.summary;
        let context = format!("round {round}: {summary:?}");
        kinds_seen.extend(
            converted
                .log
                .rejects
                .iter()
                .map(|reject| reject.kind.code()),
        );
        duplicates_seen += summary.duplicates;
        assert_eq!(summary.records, records, "{context}");
        assert_eq!(
            summary.messages + summary.rejected + summary.duplicates,
            summary.records,
            "{context}"
        );
        assert_eq!(summary.rejected, damaged as u64, "{context}");
        assert_eq!(summary.duplicates, duplicates, "{context}");
        let mut written = converted.messages;
        for message in &mut written {
            message.position = chatdump_core::model::Position::default();
        }
        written.sort_by(|a, b| a.id.cmp(&b.id));
        expected.sort_by(|a, b| a.id.cmp(&b.id));
        assert_eq!(written.len(), expected.len(), "{context}");
        for (written, expected) in written.iter().zip(&expected) {
            assert_eq!(written, expected, "{context}");
        }
    }
    // Every kind of damage was tried.
    assert_eq!(
        kinds_seen.into_iter().collect::<Vec<_>>(),
        [
            "empty_value",
            "invalid_timestamp",
            "invalid_utf8",
            "ragged_row",
            "stray_quote",
            "text_after_quote",
            "unterminated_quote"
        ]
    );
    assert!(duplicates_seen > 10, "{duplicates_seen}");
}
