//! Reader reliability as a user sees it: skip mode loses no record after a damaged one, a dump
//! cut inside a quoted field keeps what came before, out-of-range offsets are errors, and what
//! is odd about a whole dump is told once, never once per row.

use crate::support::{Chatdump, ids, jsonl, temp_dir};

const HEADER: &str = "id,participantId,sessionId,meetingId,displayName,pinned,isEdited,payloadType,payload,createdAt";

fn record(id: &str, second: u32) -> String {
    format!("{id},p,s,mt,Ann,false,false,TEXT_MESSAGE,text {id},2024-05-14T09:00:{second:02}Z")
}

#[test]
fn skip_mode_rejects_a_record_of_250000_fields_alone() {
    let input = [
        HEADER.to_owned(),
        record("m1", 1),
        record("m2", 2),
        vec!["x"; 250_000].join(","),
        record("m4", 4),
        record("m5", 5),
    ]
    .join("\n");
    let dir = temp_dir();
    let rejects = dir.path().join("rejects.jsonl");
    let run = Chatdump::new([
        "convert",
        "-",
        "--format",
        "jsonl",
        "--output",
        "-",
        "--on-error",
        "skip",
        "--rejects",
        rejects.to_str().unwrap(),
    ])
    .stdin(input)
    .run();
    assert_eq!(ids(run.success()), ["m1", "m2", "m4", "m5"]);
    assert_eq!(
        run.stderr_lines("warning: "),
        [
            "warning: skipped: `<stdin>` line 4: the record has 250000 fields but the header has 10: `x`"
        ]
    );
    assert!(
        run.stderr
            .contains("<stdin>: 4 messages written, 1 rejected in "),
        "{}",
        run.stderr
    );
    let rejects = jsonl(&std::fs::read_to_string(rejects).unwrap());
    assert_eq!(rejects.len(), 1);
    assert_eq!(rejects[0]["line"], 4);
    assert_eq!(rejects[0]["error"], "ragged_row");
}

#[test]
fn skip_mode_keeps_the_records_before_a_cut_inside_quotes() {
    let dir = temp_dir();
    let rejects = dir.path().join("rejects.jsonl");
    let run = Chatdump::new([
        "convert",
        "skip-mode-cut-inside-quotes.csv",
        "--format",
        "jsonl",
        "--output",
        "-",
        "--on-error",
        "skip",
        "--rejects",
        rejects.to_str().unwrap(),
    ])
    .run();
    assert_eq!(ids(run.success()), ["m1", "m2"]);
    assert!(
        run.stderr
            .contains("skip-mode-cut-inside-quotes.csv: 2 messages written, 1 rejected in "),
        "{}",
        run.stderr
    );
    let rejects = jsonl(&std::fs::read_to_string(rejects).unwrap());
    assert_eq!(rejects.len(), 1);
    assert_eq!(rejects[0]["line"], 4);
    assert_eq!(rejects[0]["error"], "unterminated_quote");
    assert_eq!(rejects[0]["excerpt"], "the download was cut in the mid");

    // Strict mode: an error, as before.
    let run = Chatdump::new([
        "convert",
        "skip-mode-cut-inside-quotes.csv",
        "--format",
        "jsonl",
        "--output",
        "-",
    ])
    .run();
    run.assert_code(1);
    assert_eq!(
        run.stderr_lines("error: "),
        [
            "error: `skip-mode-cut-inside-quotes.csv` line 4, column `payload`: a quoted field is never closed (the input ends inside quotes): `the download was cut in the mid`"
        ]
    );
}

#[test]
fn an_offset_beyond_a_day_is_an_error() {
    let run = Chatdump::new([
        "convert",
        "error-offset-beyond-a-day.csv",
        "--format",
        "jsonl",
        "--output",
        "-",
    ])
    .run();
    run.assert_code(1);
    assert_eq!(
        run.stderr_lines("error: "),
        [
            "error: `error-offset-beyond-a-day.csv` line 3, column `createdAt`: not a timestamp: expected RFC 3339 / ISO 8601 with an offset (e.g. `2024-05-14T09:00:04.112Z`) or epoch seconds or milliseconds: `2024-05-14T09:00:02.000+24:00`"
        ]
    );
}

#[test]
fn a_comma_at_the_end_of_every_line_adds_nothing() {
    let run = Chatdump::new([
        "convert",
        "trailing-comma-every-line.csv",
        "--format",
        "jsonl",
        "--output",
        "-",
    ])
    .run();
    let lines = jsonl(run.success());
    assert_eq!(lines.len(), 3);
    for line in &lines {
        assert_eq!(line["extra"], serde_json::json!({}), "{line}");
    }
    assert_eq!(
        run.stderr_lines("warning: "),
        [
            "warning: column 11 has no name and no value on any line (every line ends with a comma?): left out"
        ]
    );
}

#[test]
fn odd_columns_payload_types_and_several_sessions_are_told_once() {
    let run = Chatdump::new([
        "convert",
        "several-sessions-unknown-columns-and-types.csv",
        "--format",
        "jsonl",
        "--output",
        "-",
    ])
    .run();
    let lines = jsonl(run.success());
    assert_eq!(lines.len(), 6);
    assert_eq!(
        lines[0]["extra"],
        serde_json::json!({"room": "r1", "notes": ""})
    );
    assert_eq!(
        run.stderr_lines("warning: "),
        [
            "warning: column `room` is not one of the ten documented columns: its values are kept in each message's `extra`",
            "warning: column `notes` is not one of the ten documented columns: its values are kept in each message's `extra`",
            "warning: 3 message(s) with payloadType `POLL_MESSAGE`, which is not TEXT_MESSAGE, IMAGE_MESSAGE or FILE_MESSAGE: written with their payload as is and rendered generically in transcripts",
            "warning: the dump holds 2 different `sessionId` values: `sess-1` (3 message(s)), `sess-2` (3 message(s))",
            "warning: the dump holds 2 different `meetingId` values: `meet-1` (5 message(s)), `meet-2` (1 message(s))",
        ]
    );
}

#[test]
fn transcript_headers_list_every_session_and_meeting() {
    let transcript = |format: &str| {
        let run = Chatdump::new([
            "convert",
            "several-sessions-unknown-columns-and-types.csv",
            "--format",
            format,
            "--output",
            "-",
        ])
        .run();
        run.success().to_owned()
    };
    let markdown = transcript("md");
    assert!(
        markdown.contains("| **Meetings** | meet-1, meet-2 |\n| **Sessions** | sess-1, sess-2 |\n"),
        "{markdown}"
    );
    let html = transcript("html");
    assert!(
        html.contains("<div><dt>Meetings</dt><dd><code>meet-1</code>, <code>meet-2</code></dd></div>\n<div><dt>Sessions</dt><dd><code>sess-1</code>, <code>sess-2</code></dd></div>"),
        "{html}"
    );
}

#[test]
fn transcript_headers_count_the_messages_of_ids_beyond_ten() {
    // Twelve sessions: the header names ten, and counts the messages of the others.
    let mut input = vec![HEADER.to_owned()];
    for n in 0..12_u32 {
        input.push(format!(
            "m{n},p,sess-{n:02},mt,Ann,false,false,TEXT_MESSAGE,hi,2024-05-14T09:00:{n:02}Z"
        ));
    }
    input.push("m12,p,sess-11,mt,Ann,false,false,TEXT_MESSAGE,hi,2024-05-14T09:00:12Z".to_owned());
    let run = Chatdump::new(["convert", "-", "--format", "md", "--output", "-"])
        .stdin(input.join("\n"))
        .run();
    let names: Vec<String> = (0..10).map(|n| format!("sess-{n:02}")).collect();
    let expected = format!(
        "| **Sessions** | {} (and others in 3 more messages) |\n",
        names.join(", ")
    );
    assert!(run.success().contains(&expected), "{}", run.stdout_text());
}

#[test]
fn whole_input_warnings_come_once_when_the_dump_is_read_twice() {
    // In reverse order with a tiny sort memory: the window gives up and the file is read again
    // with the external sort. The warnings about the whole input still come once each.
    let dir = temp_dir();
    let input = dir.path().join("reversed.csv");
    let mut lines = vec![format!("{HEADER},room")];
    for n in (0..60_u32).rev() {
        let session = if n < 30 { "s1" } else { "s2" };
        lines.push(format!(
            "m{n:02},p,{session},mt,Ann,false,false,TEXT_MESSAGE,{},2024-05-14T09:{n:02}:00Z,r",
            "long text ".repeat(40)
        ));
    }
    std::fs::write(&input, lines.join("\n")).unwrap();
    let out = dir.path().join("out.jsonl");
    let run = Chatdump::new([
        "-v",
        "convert",
        input.to_str().unwrap(),
        "--sort-memory",
        "4KiB",
        "--temp-dir",
        dir.path().to_str().unwrap(),
        "--output",
        out.to_str().unwrap(),
    ])
    .run();
    run.success();
    assert!(run.stderr.contains("reading it again"), "{}", run.stderr);
    assert_eq!(
        run.stderr_lines("warning: "),
        [
            "warning: column `room` is not one of the ten documented columns: its values are kept in each message's `extra`",
            "warning: the dump holds 2 different `sessionId` values: `s1` (30 message(s)), `s2` (30 message(s))",
        ]
    );
}
