//! Bad input: every error names the file, the physical line the record starts on (the header is
//! line 1; CRLF, blank lines and multi-line fields counted), the column and the escaped value,
//! and exits 1. Skip mode: bad records go to the rejects file, and every record is accounted for.

use std::fs;
use std::io::{BufWriter, Write as _};
use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::json;

use crate::support::{Chatdump, Run, fixture_bytes, ids, jsonl, temp_dir, tree};

const TIMESTAMP_REASON: &str = "not a timestamp: expected RFC 3339 / ISO 8601 with an offset (e.g. `2024-05-14T09:00:04.112Z`) or epoch seconds or milliseconds";
const BOOLEAN_REASON: &str = "not a boolean: expected true/false, t/f, 1/0, yes/no or empty";

/// Converts `fixture` into a fresh output directory, asserts the run failed with exit code 1,
/// printed exactly `expected` as its only `error:` line, and wrote nothing.
#[track_caller]
fn assert_fails(fixture: &str, extra_args: &[&str], expected: &str) -> Run {
    let dir = temp_dir();
    let out = dir.path().join("out/");
    let mut args = vec!["convert", fixture, "--output", out.to_str().unwrap()];
    args.extend_from_slice(extra_args);
    let run = Chatdump::new(args).run();
    run.assert_code(1);
    assert_eq!(
        run.stderr_lines("error: "),
        [expected],
        "stderr:\n{}",
        run.stderr
    );
    assert!(run.stdout.is_empty());
    assert!(
        tree(dir.path()).is_empty(),
        "a failed run wrote {:?}",
        tree(dir.path()).keys().collect::<Vec<_>>()
    );
    run
}

#[test]
fn ragged_row_after_blank_lines() {
    // Lines 3, 4 and 6 are blank.
    assert_fails(
        "error-ragged-row.csv",
        &[],
        "error: `error-ragged-row.csv` line 7: the record has 9 fields but the header has 10: `m3`",
    );
}

#[test]
fn stray_quote_in_a_crlf_file() {
    // CRLF line ends and a blank line 3.
    assert_fails(
        "error-stray-quote-crlf.csv",
        &[],
        "error: `error-stray-quote-crlf.csv` line 4, column `payload`: a `\"` inside an unquoted field (quote the field and double the `\"`): `say \"hi\"`",
    );
}

#[test]
fn text_after_a_closing_quote_after_a_multiline_field() {
    // The record on line 2 spans lines 2-4.
    assert_fails(
        "error-text-after-quote.csv",
        &[],
        "error: `error-text-after-quote.csv` line 5, column `payload`: text after the closing quote of a quoted field: `quoted tail`",
    );
}

#[test]
fn unterminated_quote_in_a_crlf_file_after_a_multiline_field() {
    // CRLF; the record on line 2 spans lines 2-3 (a CRLF inside quotes). The open quote on
    // line 5 swallows the rest of the file, which the excerpt shows escaped and shortened.
    assert_fails(
        "error-unterminated-quote-crlf.csv",
        &[],
        "error: `error-unterminated-quote-crlf.csv` line 5, column `payload`: a quoted field is never closed (the input ends inside quotes): `never closed,2024-05-14T09:00:03.000Z\\r\\nm4,p-ann,sess-1,meet-1,Ann,false,false,T…`",
    );
}

#[test]
fn invalid_utf8_after_a_blank_line() {
    assert_fails(
        "error-invalid-utf8.csv",
        &[],
        "error: `error-invalid-utf8.csv` line 4, column `displayName`: the value is not valid UTF-8: `Ann\u{fffd}\u{fffd}`",
    );
}

#[test]
fn empty_required_value_in_a_crlf_file_after_blank_lines() {
    // CRLF; lines 3 and 4 are blank.
    assert_fails(
        "error-empty-value-crlf.csv",
        &[],
        "error: `error-empty-value-crlf.csv` line 5, column `sessionId`: the value is empty",
    );
}

#[test]
fn bad_timestamp_after_a_field_with_a_quoted_crlf() {
    // The record on line 2 spans lines 2-3 (a CRLF inside quotes, in an LF file).
    assert_fails(
        "error-bad-timestamp.csv",
        &[],
        &format!(
            "error: `error-bad-timestamp.csv` line 4, column `createdAt`: {TIMESTAMP_REASON}: `yesterday`"
        ),
    );
}

#[test]
fn timestamp_without_offset_is_not_guessed() {
    assert_fails(
        "error-timestamp-without-offset.csv",
        &[],
        &format!(
            "error: `error-timestamp-without-offset.csv` line 2, column `createdAt`: {TIMESTAMP_REASON}: `2024-05-14T09:00:04.112`"
        ),
    );
}

#[test]
fn bad_boolean() {
    assert_fails(
        "error-bad-boolean.csv",
        &[],
        &format!(
            "error: `error-bad-boolean.csv` line 3, column `isEdited`: {BOOLEAN_REASON}: `maybe`"
        ),
    );
}

#[test]
fn missing_required_column() {
    assert_fails(
        "error-missing-column.csv",
        &[],
        "error: `error-missing-column.csv` line 1: not a chat dump: missing column(s) `pinned`, `createdAt` (header: `id,participantId,sessionId,meetingId,displayName,isEdited,payloadType,payload`)",
    );
}

#[test]
fn empty_file() {
    let expected = "`error-empty-file.csv` is empty: a chat dump starts with the header line `id,participantId,sessionId,...`";
    assert_fails("error-empty-file.csv", &[], &format!("error: {expected}"));
    // Only blank lines is as empty as no bytes.
    assert_fails(
        "error-only-blank-lines.csv",
        &[],
        &format!(
            "error: {}",
            expected.replace("error-empty-file", "error-only-blank-lines")
        ),
    );
}

#[test]
fn not_a_chat_dump() {
    assert_fails(
        "error-not-a-chat-dump.csv",
        &[],
        "error: `error-not-a-chat-dump.csv` line 1: not a chat dump: none of the chat-dump columns (`id`, `participantId`, ... `createdAt`) is present (header: `name,email,age`)",
    );
}

#[test]
fn terminal_escapes_and_bidi_controls_are_shown_escaped() {
    // The bad value is ESC [2J ESC [31m "red" U+202E "gnp.exe" BEL and a hundred `9`s: shown
    // escaped, and shortened to 80 characters (79 and an ellipsis).
    let run = assert_fails(
        "error-terminal-escapes.csv",
        &[],
        &format!(
            "error: `error-terminal-escapes.csv` line 3, column `createdAt`: {TIMESTAMP_REASON}: `\\u{{1b}}[2J\\u{{1b}}[31mred\\u{{202e}}gnp.exe\\u{{7}}{}…`",
            "9".repeat(58)
        ),
    );
    for unsafe_char in ['\u{1b}', '\u{202e}', '\u{7}'] {
        assert!(
            !run.stderr.contains(unsafe_char),
            "{unsafe_char:?} reached stderr"
        );
    }
}

#[test]
fn conflicting_duplicate_in_a_crlf_file_names_both_lines() {
    assert_fails(
        "error-conflict-in-crlf.csv",
        &[],
        "error: `error-conflict-in-crlf.csv` line 4, column `id`: the same id appears on line 2 with different content: `m1`",
    );
}

/// A dump whose second record (line 3) has a payload of `payload_bytes` bytes.
fn dump_with_a_large_record(dir: &Path, payload_bytes: usize) -> String {
    let path = dir.join("large-record.csv");
    let csv = format!(
        "id,participantId,sessionId,meetingId,displayName,pinned,isEdited,payloadType,payload,createdAt\n\
         m1,p,s,m,Ann,false,false,TEXT_MESSAGE,short,2024-05-14T09:00:01Z\n\
         m2,p,s,m,Ann,false,false,TEXT_MESSAGE,{},2024-05-14T09:00:02Z\n",
        "x".repeat(payload_bytes)
    );
    fs::write(&path, csv).unwrap();
    path.to_str().unwrap().to_owned()
}

#[test]
fn record_over_max_record_size() {
    let dir = temp_dir();
    for (payload, limit, limit_bytes) in [
        (3_000, "2KiB", 2048),
        (3_000, "1000", 1000),
        (100_000, "64KiB", 65_536),
    ] {
        let input = dump_with_a_large_record(dir.path(), payload);
        let run = Chatdump::new([
            "convert",
            &input,
            "--max-record-size",
            limit,
            "--output",
            "-",
        ])
        .run();
        run.assert_code(1);
        // The excerpt is the start of the record, shortened.
        assert_eq!(
            run.stderr_lines("error: "),
            [format!(
                "error: `{input}` line 3: the record is larger than {limit_bytes} bytes (an unterminated quote?); raise --max-record-size if it is genuine: `m2,p,s,m,Ann,false,false,TEXT_MESSAGE,{}…`",
                "x".repeat(41)
            )],
            "{limit}"
        );
        // Just above the record's size, the same record is fine.
        let run = Chatdump::new([
            "convert",
            &input,
            "--max-record-size",
            &(payload + 200).to_string(),
            "--output",
            "-",
        ])
        .run();
        assert_eq!(ids(run.success()), ["m1", "m2"]);
    }
}

/// Peak resident memory of a finished `/usr/bin/time -v` run, from its report on stderr.
fn peak_rss_kib(stderr: &str) -> Option<u64> {
    stderr
        .lines()
        .find_map(|line| {
            line.trim()
                .strip_prefix("Maximum resident set size (kbytes): ")
        })
        .and_then(|value| value.trim().parse().ok())
}

#[test]
fn unterminated_quote_at_the_top_of_a_huge_file_fails_fast() {
    // About 200 MB: a header, a record whose payload opens a quote that is never closed, then
    // ordinary records (no quotes) to the end.
    let dir = temp_dir();
    let input = dir.path().join("huge.csv");
    {
        let mut out = BufWriter::with_capacity(1 << 20, fs::File::create(&input).unwrap());
        out.write_all(b"id,participantId,sessionId,meetingId,displayName,pinned,isEdited,payloadType,payload,createdAt\n")
            .unwrap();
        out.write_all(b"m0,p,s,m,Ann,false,false,TEXT_MESSAGE,\"oops,2024-05-14T09:00:00Z\n")
            .unwrap();
        let row =
            b"m1,p,s,m,Ann,false,false,TEXT_MESSAGE,an ordinary message,2024-05-14T09:00:01Z\n";
        let block: Vec<u8> = row.iter().copied().cycle().take(row.len() * 8192).collect();
        while out.get_ref().metadata().unwrap().len() < 200_000_000 {
            out.write_all(&block).unwrap();
        }
        out.flush().unwrap();
    }
    let input = input.to_str().unwrap();
    let time = Path::new("/usr/bin/time");
    let started = Instant::now();
    let run = if time.exists() {
        Chatdump::new(["convert", input, "--output", "-"]).run_under(time, &["-v"])
    } else {
        Chatdump::new(["convert", input, "--output", "-"]).run()
    };
    let elapsed = started.elapsed();
    run.assert_code(1);
    assert_eq!(
        run.stderr_lines("error: "),
        [format!(
            "error: `{input}` line 2: the record is larger than 8388608 bytes (an unterminated quote?); raise --max-record-size if it is genuine: `m0,p,s,m,Ann,false,false,TEXT_MESSAGE,\"oops,2024-05-14T09:00:00Z\\nm1,p,s,m,Ann,f…`"
        )]
    );
    // In a debug build, stopping at the 8 MiB limit takes about 0.3 s and 70 MiB; reading the
    // whole quoted "field" (`--max-record-size 1GiB`) takes about 8 s and 730 MiB, more on a
    // busy machine.
    assert!(elapsed < Duration::from_secs(5), "took {elapsed:?}");
    if time.exists() {
        let peak = peak_rss_kib(&run.stderr).expect("/usr/bin/time -v reports the peak RSS");
        assert!(peak < 128 * 1024, "peak RSS {peak} KiB");
    }
}

#[test]
fn skip_mode_accounts_for_every_record() {
    let dir = temp_dir();
    let out = dir.path().join("out/");
    let run = Chatdump::new([
        "convert",
        "skip-mode-mixed.csv",
        "--on-error",
        "skip",
        "--output",
        out.to_str().unwrap(),
    ])
    .run();
    run.success();
    // The fixture has 13 data records: 4 good, 8 bad, 1 identical duplicate.
    let records = 13;
    let written = fs::read_to_string(out.join("skip-mode-mixed.jsonl")).unwrap();
    assert_eq!(ids(&written), ["m01", "m03", "m05", "m10"]);
    // The conflicting m01 (line 14) is rejected; the first one (line 2) is kept.
    assert_eq!(jsonl(&written)[0]["payload"], "good one");
    let rejects_text = fs::read_to_string(out.join("skip-mode-mixed.rejects.jsonl")).unwrap();
    let rejects = jsonl(&rejects_text);
    let got: Vec<_> = rejects
        .iter()
        .map(|reject| {
            (
                reject["line"].as_u64().unwrap(),
                reject["column"].clone(),
                reject["error"].as_str().unwrap().to_owned(),
                reject["excerpt"].clone(),
            )
        })
        .collect();
    let expected = [
        (
            3,
            json!("createdAt"),
            "invalid_timestamp",
            json!("yesterday"),
        ),
        (5, json!(null), "ragged_row", json!("m04")),
        (8, json!("pinned"), "invalid_boolean", json!("maybe")),
        (
            10,
            json!("payload"),
            "stray_quote",
            json!("a stray \" quote"),
        ),
        (
            11,
            json!("displayName"),
            "invalid_utf8",
            json!("Ann\u{fffd}"),
        ),
        (13, json!("participantId"), "empty_value", json!("")),
        (
            15,
            json!("payload"),
            "text_after_quote",
            json!("closed then text"),
        ),
        (14, json!("id"), "conflicting_duplicate", json!("m01")),
    ];
    let expected: Vec<_> = expected
        .into_iter()
        .map(|(line, column, error, excerpt)| (line, column, error.to_owned(), excerpt))
        .collect();
    assert_eq!(got, expected);
    // Every rejects line has exactly the documented fields, and its line and byte offset point
    // at the start of the record in the input.
    let input = fixture_bytes("skip-mode-mixed.csv");
    for reject in &rejects {
        let mut keys: Vec<&str> = reject
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        keys.sort_unstable();
        assert_eq!(
            keys,
            [
                "byte_offset",
                "column",
                "error",
                "excerpt",
                "line",
                "reason"
            ]
        );
        assert!(!reject["reason"].as_str().unwrap().is_empty());
        let offset = usize::try_from(reject["byte_offset"].as_u64().unwrap()).unwrap();
        // The physical line of a byte is one more than the line ends before it.
        let line = input[..offset].split(|&byte| byte == b'\n').count();
        assert_eq!(reject["line"], line, "{reject}");
        assert!(offset == 0 || input[offset - 1] == b'\n', "{reject}");
        assert!(input[offset..].starts_with(b"m"), "{reject}");
    }
    assert_eq!(
        rejects[7]["reason"],
        "the same id appears on line 2 with different content"
    );
    // The identical duplicate is a warning naming both lines.
    assert!(
        run.stderr_lines("warning: ").contains(
            &"warning: line 12: identical duplicate of the message on line 4 (id `m03`), written once"
        ),
        "{}",
        run.stderr
    );
    // accepted + rejected + duplicates = records read, in the files and in the summary.
    assert_eq!(ids(&written).len() + rejects.len() + 1, records);
    assert!(
        run.stderr.contains(
            "skip-mode-mixed.csv: 4 messages written, 8 rejected, 1 duplicates dropped in "
        ),
        "{}",
        run.stderr
    );
}

#[test]
fn skip_mode_rejects_file_can_be_named() {
    let dir = temp_dir();
    let rejects = dir.path().join("bad-rows.jsonl");
    let run = Chatdump::new([
        "convert",
        "error-bad-boolean.csv",
        "--on-error",
        "skip",
        "--rejects",
        rejects.to_str().unwrap(),
        "--output",
        "-",
    ])
    .run();
    assert_eq!(ids(run.success()), ["m1", "m3"]);
    let rejects = jsonl(&fs::read_to_string(&rejects).unwrap());
    assert_eq!(rejects.len(), 1);
    assert_eq!(
        rejects[0],
        json!({
            "line": 3,
            "byte_offset": 178,
            "column": "isEdited",
            "error": "invalid_boolean",
            "reason": BOOLEAN_REASON,
            "excerpt": "maybe",
        })
    );
    // The skipped record is also reported on stderr, with its location.
    assert_eq!(
        run.stderr_lines("warning: "),
        [format!(
            "warning: skipped: `error-bad-boolean.csv` line 3, column `isEdited`: {BOOLEAN_REASON}: `maybe`"
        )]
    );
}

#[test]
fn errors_in_standard_input_are_named_stdin() {
    let run = Chatdump::new(["convert", "-", "--output", "-"])
        .stdin(fixture_bytes("error-bad-boolean.csv"))
        .run();
    run.assert_code(1);
    assert!(run.stdout.is_empty());
    assert_eq!(
        run.stderr_lines("error: "),
        [format!(
            "error: `<stdin>` line 3, column `isEdited`: {BOOLEAN_REASON}: `maybe`"
        )]
    );
}

#[test]
fn rejects_point_at_the_record_in_a_crlf_file_with_a_bom() {
    // A BOM, CRLF line ends, blank lines and a multi-line field before each bad record.
    let input = "\u{feff}id,participantId,sessionId,meetingId,displayName,pinned,isEdited,payloadType,payload,createdAt\r\n\
                 \r\n\
                 m1,p,s,m,Ann,false,false,TEXT_MESSAGE,\"two\r\nlines\",2024-05-14T09:00:01Z\r\n\
                 m2,p,s,m,Ann,false,false,TEXT_MESSAGE,hi,soon\r\n\
                 \r\n\
                 \r\n\
                 m3,p,s,m,Ann,false,nope,TEXT_MESSAGE,hi,2024-05-14T09:00:03Z\r\n";
    let dir = temp_dir();
    let rejects_path = dir.path().join("rejects.jsonl");
    let run = Chatdump::new([
        "convert",
        "-",
        "--on-error",
        "skip",
        "--rejects",
        rejects_path.to_str().unwrap(),
        "--output",
        "-",
    ])
    .stdin(input)
    .run();
    assert_eq!(ids(run.success()), ["m1"]);
    let rejects = jsonl(&fs::read_to_string(&rejects_path).unwrap());
    let found: Vec<(u64, u64, &str)> = rejects
        .iter()
        .map(|reject| {
            (
                reject["line"].as_u64().unwrap(),
                reject["byte_offset"].as_u64().unwrap(),
                reject["column"].as_str().unwrap(),
            )
        })
        .collect();
    let offset_of = |needle: &str| input.find(needle).unwrap() as u64;
    assert_eq!(
        found,
        [
            (5, offset_of("m2,"), "createdAt"),
            (8, offset_of("m3,"), "isEdited"),
        ]
    );
}

#[test]
fn more_malformed_inputs_on_stdin() {
    const HEADER: &str = "id,participantId,sessionId,meetingId,displayName,pinned,isEdited,payloadType,payload,createdAt";
    const SHOWN_HEADER: &str =
        "id,participantId,sessionId,meetingId,displayName,pinned,isEdited,payloadType,pa…";
    let cases = [
        (
            "a column named twice",
            format!("{HEADER},ID\nm1,p,s,m,A,f,f,TEXT_MESSAGE,x,1715677200,y\n"),
            format!(
                "error: `<stdin>` line 1: not a chat dump: column `ID` appears twice (header: `{SHOWN_HEADER}`)"
            ),
        ),
        (
            "a stray quote in the header",
            format!("{}\nm1,p,s,m,A,f,f,TEXT_MESSAGE,x,1715677200\n", HEADER.replace("payload,", "pay\"load,")),
            format!(
                "error: `<stdin>` line 1: not a chat dump: a `\"` inside an unquoted field (quote the field and double the `\"`) (header: `{SHOWN_HEADER}`)"
            ),
        ),
        (
            "too many fields",
            format!("{HEADER}\nm1,p,s,m,A,f,f,TEXT_MESSAGE,x,1715677200,extra\n"),
            "error: `<stdin>` line 2: the record has 11 fields but the header has 10: `m1`".to_owned(),
        ),
        (
            "an unterminated quote in the last record",
            format!(
                "{HEADER}\nm1,p,s,m,A,f,f,TEXT_MESSAGE,x,1715677200\nm2,p,s,m,A,f,f,TEXT_MESSAGE,\"x,1715677201"
            ),
            "error: `<stdin>` line 3, column `payload`: a quoted field is never closed (the input ends inside quotes): `x,1715677201`".to_owned(),
        ),
        (
            "a required value of spaces",
            format!("{HEADER}\nm1,p,  ,m,A,f,f,TEXT_MESSAGE,x,1715677200\n"),
            "error: `<stdin>` line 2, column `sessionId`: the value is empty: `  `".to_owned(),
        ),
        (
            "an empty payload type",
            format!("{HEADER}\r\n\r\nm1,p,s,m,A,f,f,,x,1715677200\r\n"),
            "error: `<stdin>` line 3, column `payloadType`: the value is empty".to_owned(),
        ),
    ];
    for (name, input, expected) in cases {
        let run = Chatdump::new(["convert", "-", "--output", "-"])
            .stdin(input)
            .run();
        assert_eq!(run.code, Some(1), "{name}: {}", run.stderr);
        assert!(run.stdout.is_empty(), "{name}");
        assert_eq!(run.stderr_lines("error: "), [expected], "{name}");
    }
}

#[test]
fn last_record_without_a_line_end_and_trailing_blank_lines_are_fine() {
    let header = "id,participantId,sessionId,meetingId,displayName,pinned,isEdited,payloadType,payload,createdAt";
    for input in [
        format!("{header}\r\nm1,p,s,m,A,f,f,TEXT_MESSAGE,x,1715677200"),
        format!("{header}\nm1,p,s,m,A,f,f,TEXT_MESSAGE,\"x\",1715677200\n\n\r\n"),
    ] {
        let run = Chatdump::new(["convert", "-", "--output", "-"])
            .stdin(input)
            .run();
        let lines = jsonl(run.success());
        assert_eq!(lines.len(), 1);
        assert_eq!(lines[0]["created_at"], "2024-05-14T09:00:00.000Z");
        assert_eq!(lines[0]["payload"], "x");
    }
}
