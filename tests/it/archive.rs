//! The meeting archive through `convert` (issue 18): the chat with its speech transcript (CSV,
//! JSON, `WebVTT`, SRT) and summary; `<stem>.transcript.jsonl`, `.transcript.parquet` and
//! `.summary.*` beside the chat's outputs; JSON anchoring with `--session-start`; the session
//! check; skip mode; atomicity; byte-identical reruns.
//!
//! The fixtures `speech/sample-*` match the bundled `sample-chat-dump.csv`: its session, its
//! participants' peer ids, times within the meeting (which started at 09:00:00 UTC).

use std::fs;
use std::path::Path;

use serde_json::Value;

use crate::support::{Chatdump, fixture_bytes, jsonl, temp_dir, tree};

const CHAT: &str = "sample-chat-dump.csv";
const SESSION: &str = "4f1c2a8e-9b3d-4e57-a1c6-2d8e0f7b9a31";
const MEETING: &str = "bbb8940e-1b97-402a-97d6-2708b7feca41";
const START: &str = "2024-05-14T09:00:00Z";

/// `convert sample-chat-dump.csv --transcript speech/sample-transcript.EXT --session-start
/// START ARGS... --output DIR/`.
fn convert(dir: &Path, transcript: &str, args: &[&str]) -> crate::support::Run {
    let output = format!("{}/", dir.display());
    let mut all = vec![
        "convert",
        CHAT,
        "--transcript",
        transcript,
        "--session-start",
        START,
        "--output",
        &output,
    ];
    all.extend_from_slice(args);
    Chatdump::new(all).run()
}

fn read(dir: &Path, name: &str) -> String {
    fs::read_to_string(dir.join(name)).unwrap_or_else(|error| panic!("{name}: {error}"))
}

#[test]
fn every_transcript_format_gives_the_same_utterances() {
    let chat_alone = crate::support::convert_to_stdout(CHAT, &[]);
    let mut texts: Vec<Vec<Value>> = Vec::new();
    for extension in ["csv", "json", "vtt", "srt"] {
        let dir = temp_dir();
        let run = convert(
            dir.path(),
            &format!("speech/sample-transcript.{extension}"),
            &["--format", "jsonl,parquet"],
        );
        run.assert_code(0);
        assert!(
            run.stderr
                .contains("sample-chat-dump.csv: 30 messages written, 10 utterances in"),
            "{extension}: {}",
            run.stderr
        );
        let lines = jsonl(&read(dir.path(), "sample-chat-dump.transcript.jsonl"));
        assert_eq!(lines.len(), 10, "{extension}");
        for (seq, line) in lines.iter().enumerate() {
            assert_eq!(line["seq"], seq as u64, "{extension}");
            assert_eq!(line["session_id"], SESSION, "{extension}");
            assert_eq!(line["meeting_id"], MEETING, "{extension}");
        }
        assert!(
            dir.path()
                .join("sample-chat-dump.transcript.parquet")
                .is_file()
        );
        // The chat's own JSONL is unchanged by the transcript.
        assert_eq!(read(dir.path(), "sample-chat-dump.jsonl"), chat_alone);
        texts.push(
            lines
                .iter()
                .map(|line| serde_json::json!([line["start"], line["display_name"], line["text"]]))
                .collect(),
        );
    }
    assert!(
        texts.windows(2).all(|pair| pair[0] == pair[1]),
        "{texts:#?}"
    );
}

#[test]
fn transcript_jsonl_snapshots() {
    for extension in ["csv", "json"] {
        let dir = temp_dir();
        convert(
            dir.path(),
            &format!("speech/sample-transcript.{extension}"),
            &[],
        )
        .assert_code(0);
        insta::assert_snapshot!(
            format!("archive_transcript_{extension}"),
            read(dir.path(), "sample-chat-dump.transcript.jsonl")
        );
    }
}

#[test]
fn json_offsets_count_from_the_session_start() {
    let dir = temp_dir();
    Chatdump::new([
        "convert",
        CHAT,
        "--transcript",
        "speech/sample-transcript.json",
        "--session-start",
        "2024-05-14T11:00:00+02:00",
        "--output",
        &format!("{}/", dir.path().display()),
    ])
    .run()
    .assert_code(0);
    let lines = jsonl(&read(dir.path(), "sample-chat-dump.transcript.jsonl"));
    // `startTime` 1.5 and `endTime` 3.8 seconds after 09:00:00 UTC.
    assert_eq!(lines[0]["start"], "2024-05-14T09:00:01.500Z");
    assert_eq!(lines[0]["end"], "2024-05-14T09:00:03.800Z");
    assert_eq!(lines[9]["start"], "2024-05-14T09:12:50.000Z");
}

#[test]
fn offsets_without_session_start_are_a_usage_error_naming_the_flag() {
    for extension in ["json", "vtt", "srt"] {
        let dir = temp_dir();
        let out = dir.path().join("out");
        let run = Chatdump::new([
            "convert",
            CHAT,
            "--transcript",
            &format!("speech/sample-transcript.{extension}"),
            "--output",
            &format!("{}/", out.display()),
        ])
        .run();
        run.assert_code(2);
        let errors = run.stderr_lines("error: ");
        assert_eq!(errors.len(), 1, "{}", run.stderr);
        assert!(
            errors[0].starts_with(&format!("error: `speech/sample-transcript.{extension}`")),
            "{}",
            errors[0]
        );
        assert!(errors[0].contains("`--session-start`"), "{}", errors[0]);
        assert!(!out.exists(), "nothing is written");
    }
}

#[test]
fn a_transcript_of_another_session_is_an_error() {
    let dir = temp_dir();
    let run = convert(
        dir.path(),
        "speech/sample-transcript-other-session.json",
        &[],
    );
    run.assert_code(1);
    assert_eq!(
        run.stderr_lines("error: "),
        [format!(
            "error: `speech/sample-transcript-other-session.json` line 3, field `sessionId`: the transcript belongs to another session than the chat's (`{SESSION}`): `0ther-5e55ion\\u{{1b}}[31m`"
        )]
    );
    assert!(!run.stderr.contains('\u{1b}'));
    assert_eq!(tree(dir.path()).len(), 0, "nothing is written");
}

#[test]
fn skip_mode_lists_bad_utterances_in_the_rejects_file() {
    let dir = temp_dir();
    let run = convert(
        dir.path(),
        "speech/sample-transcript-errors.json",
        &["--on-error", "skip", "--format", "jsonl"],
    );
    run.assert_code(0);
    assert!(
        run.stderr
            .contains("sample-chat-dump.csv: 30 messages written, 3 utterances (2 rejected) in"),
        "{}",
        run.stderr
    );
    let skipped = run.stderr_lines("warning: skipped: ");
    assert_eq!(skipped.len(), 2, "{}", run.stderr);
    assert!(skipped[0].contains("element 1 (line 3), field `startTime`"));
    let rejects = jsonl(&read(dir.path(), "sample-chat-dump.rejects.jsonl"));
    assert_eq!(rejects.len(), 2);
    for reject in &rejects {
        // The chat's rejects fields (docs/commands/convert.md), no other.
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
    }
    assert_eq!(rejects[0]["line"], 3);
    assert_eq!(rejects[0]["column"], "startTime");
    assert_eq!(rejects[0]["error"], "invalid_offset");
    assert_eq!(rejects[0]["excerpt"], "\"soon\"");
    assert!(
        rejects[0]["reason"]
            .as_str()
            .unwrap()
            .starts_with("speech transcript `sample-transcript-errors.json`: element 1: "),
        "{}",
        rejects[0]
    );
    assert_eq!(rejects[1]["line"], 5);
    assert_eq!(rejects[1]["error"], "end_before_start");
    // The good utterances in time order, not file order.
    let lines = jsonl(&read(dir.path(), "sample-chat-dump.transcript.jsonl"));
    let texts: Vec<&str> = lines
        .iter()
        .map(|line| line["text"].as_str().unwrap())
        .collect();
    assert_eq!(
        texts,
        [
            "¡Buenos días!",
            "Sorry, my mic was muted.",
            "Listed before, said after"
        ]
    );
}

#[test]
fn a_bad_transcript_leaves_the_output_directory_untouched() {
    let dir = temp_dir();
    fs::write(dir.path().join("keep.txt"), "already here").unwrap();
    fs::write(dir.path().join("sample-chat-dump.jsonl"), "old").unwrap();
    let before = tree(dir.path());
    let run = convert(
        dir.path(),
        "speech/sample-transcript-errors.json",
        &[
            "--format",
            "jsonl,parquet,md,html",
            "--summary",
            "speech/sample-summary.md",
        ],
    );
    run.assert_code(1);
    assert_eq!(
        run.stderr_lines("error: "),
        [
            "error: `speech/sample-transcript-errors.json` element 1 (line 3), field `startTime`: not an offset: expected seconds from the session's start, a number at least 0 (e.g. `2.5`): `\"soon\"`"
        ]
    );
    assert_eq!(tree(dir.path()), before);
}

#[test]
fn the_summary_is_copied_beside_the_outputs() {
    let dir = temp_dir();
    let run = convert(
        dir.path(),
        "speech/sample-transcript.csv",
        &[
            "--summary",
            "speech/sample-summary.md",
            "--format",
            "md",
            "-v",
        ],
    );
    run.assert_code(0);
    assert!(
        run.stderr.contains("10 utterances, a summary in"),
        "{}",
        run.stderr
    );
    assert_eq!(
        fs::read(dir.path().join("sample-chat-dump.summary.md")).unwrap(),
        fixture_bytes("speech/sample-summary.md")
    );
    // `-v` lists every file written, the parts included.
    for name in ["sample-chat-dump.md", "sample-chat-dump.summary.md"] {
        assert!(run.stderr.contains(name), "{name}: {}", run.stderr);
    }
    // Markdown only: no transcript JSONL or Parquet.
    let mut names: Vec<_> = tree(dir.path()).into_keys().collect();
    names.sort();
    assert_eq!(
        names,
        [
            Path::new("sample-chat-dump.md"),
            Path::new("sample-chat-dump.summary.md")
        ]
    );
    // A plain-text summary is written as `.txt`, line ends normalised and the BOM removed.
    let dir = temp_dir();
    Chatdump::new([
        "convert",
        CHAT,
        "--summary",
        "speech/summary-plain-bom-crlf.txt",
        "--output",
        &format!("{}/", dir.path().display()),
    ])
    .run()
    .assert_code(0);
    let text = read(dir.path(), "sample-chat-dump.summary.txt");
    assert!(
        !text.contains('\r') && !text.starts_with('\u{feff}'),
        "{text:?}"
    );
}

#[test]
fn reruns_give_the_same_bytes() {
    let run = || {
        let dir = temp_dir();
        convert(
            dir.path(),
            "speech/sample-transcript.vtt",
            &[
                "--format",
                "jsonl,parquet,md,html",
                "--summary",
                "speech/sample-summary.md",
            ],
        )
        .assert_code(0);
        tree(dir.path())
    };
    let first = run();
    assert_eq!(first.len(), 7, "{:?}", first.keys());
    assert_eq!(first, run());
}

#[test]
fn where_the_parts_cannot_go_is_a_usage_error() {
    let cases: [(&[&str], &str); 4] = [
        (
            &[
                "convert",
                CHAT,
                "bom.csv",
                "--transcript",
                "speech/sample-transcript.csv",
                "--output",
                "out/",
            ],
            "error: --transcript and --summary go with one chat input: convert each session's chat on its own",
        ),
        (
            &[
                "convert",
                CHAT,
                "--transcript",
                "speech/sample-transcript.csv",
                "--output",
                "-",
            ],
            "error: with `--output -`, a transcript or summary is merged into a Markdown or HTML document only; JSONL writes them to files of their own (`sample-chat-dump.transcript.jsonl`, `sample-chat-dump.summary.md`): give an output directory",
        ),
        (
            &[
                "convert",
                CHAT,
                "--transcript",
                "speech/sample-transcript.csv",
                "--format",
                "parquet",
                "--partition-by",
                "date",
                "--output",
                "out/",
            ],
            "error: --partition-by date with a transcript: the transcript's Parquet file would be read as part of the chat's dataset; convert the transcript in a run without --partition-by",
        ),
        (
            &[
                "convert",
                CHAT,
                "--transcript",
                "speech/sample-transcript.csv",
                "--output",
                "sample-chat-dump.transcript.jsonl",
            ],
            "error: `sample-chat-dump.transcript.jsonl` is where the transcript or summary goes: name the output file otherwise",
        ),
    ];
    for (args, expected) in cases {
        let run = Chatdump::new(args).run();
        run.assert_code(2);
        assert_eq!(run.stderr_lines("error: "), [expected], "{args:?}");
    }
}

#[test]
fn markdown_on_standard_output_takes_the_parts() {
    let run = Chatdump::new([
        "convert",
        CHAT,
        "--transcript",
        "speech/sample-transcript.srt",
        "--session-start",
        START,
        "--summary",
        "speech/sample-summary.md",
        "--format",
        "md",
        "--output",
        "-",
    ])
    .run();
    assert!(run.success().starts_with("---\n"));
    assert!(
        run.stderr.contains("10 utterances, a summary"),
        "{}",
        run.stderr
    );
}

/// DuckDB reads `.transcript.parquet` with the documented types, and the same values as the
/// transcript JSONL.
#[test]
#[cfg_attr(
    not(feature = "test-tools"),
    ignore = "needs python3 with duckdb (scripts/test installs it)"
)]
fn duckdb_reads_the_transcript_parquet() {
    let dir = temp_dir();
    convert(
        dir.path(),
        "speech/sample-transcript.json",
        &["--format", "jsonl,parquet"],
    )
    .assert_code(0);
    let script = r#"
import json, sys, duckdb
con = duckdb.connect()
types = {row[0]: row[1] for row in con.execute("DESCRIBE SELECT * FROM read_parquet(?)", [sys.argv[1]]).fetchall()}
rows = con.execute(
    "SELECT * REPLACE (epoch_ms(start) AS start, epoch_ms(\"end\") AS \"end\") FROM read_parquet(?) ORDER BY seq",
    [sys.argv[1]]).fetchall()
print(json.dumps({"types": types, "rows": rows}, ensure_ascii=False))
"#;
    let parquet = dir.path().join("sample-chat-dump.transcript.parquet");
    let output = crate::support::python3(["-c".as_ref(), script.as_ref(), parquet.as_os_str()]);
    let report: Value = serde_json::from_slice(&output).expect("the script's JSON");
    assert_eq!(report["types"]["start"], "TIMESTAMP WITH TIME ZONE");
    assert_eq!(report["types"]["end"], "TIMESTAMP WITH TIME ZONE");
    assert_eq!(report["types"]["seq"], "BIGINT");
    assert_eq!(report["types"]["text"], "VARCHAR");
    let lines = jsonl(&read(dir.path(), "sample-chat-dump.transcript.jsonl"));
    let rows = report["rows"].as_array().expect("rows");
    assert_eq!(rows.len(), lines.len());
    for (row, line) in rows.iter().zip(&lines) {
        // schema_version, session_id, meeting_id, participant_id, user_id,
        // custom_participant_id, display_name, start, end, text, seq
        let expected = serde_json::json!([
            line["schema_version"],
            line["session_id"],
            line["meeting_id"],
            line["participant_id"],
            line["user_id"],
            line["custom_participant_id"],
            line["display_name"],
            line["start_ms"],
            line["end_ms"],
            line["text"],
            line["seq"],
        ]);
        assert_eq!(row, &expected);
    }
}

/// `examples/` holds the sample's transcript and summary, matching the bundled chat, and what
/// `convert` makes of the three: the `.transcript.jsonl` and the merged Markdown and HTML
/// (`sample-meeting.md`, `sample-meeting.html`). This test fails when they are stale; with
/// `CHATDUMP_UPDATE_EXAMPLES=1` it writes the fresh files in place instead (commit them).
#[test]
fn example_archive_is_up_to_date() {
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples");
    for (example, fixture) in [
        ("sample-transcript.csv", "speech/sample-transcript.csv"),
        ("sample-summary.md", "speech/sample-summary.md"),
    ] {
        assert_eq!(
            fs::read(examples.join(example)).expect("the example input"),
            fixture_bytes(fixture),
            "examples/{example} and tests/fixtures/{fixture} differ"
        );
    }
    let dir = temp_dir();
    Chatdump::new([
        "convert".as_ref(),
        examples.join("sample-chat-dump.csv").as_os_str(),
        "--transcript".as_ref(),
        examples.join("sample-transcript.csv").as_os_str(),
        "--summary".as_ref(),
        examples.join("sample-summary.md").as_os_str(),
        "--output".as_ref(),
        dir.path().as_os_str(),
        "--format".as_ref(),
        "jsonl,markdown,html".as_ref(),
    ])
    .run()
    .assert_code(0);
    let update = std::env::var_os("CHATDUMP_UPDATE_EXAMPLES").is_some_and(|value| value == "1");
    for (written, example) in [
        (
            "sample-chat-dump.transcript.jsonl",
            "sample-chat-dump.transcript.jsonl",
        ),
        ("sample-chat-dump.md", "sample-meeting.md"),
        ("sample-chat-dump.html", "sample-meeting.html"),
    ] {
        let fresh = read(dir.path(), written);
        let path = examples.join(example);
        if fs::read_to_string(&path).ok().as_deref() != Some(fresh.as_str()) {
            assert!(
                update,
                "stale example {}; run `CHATDUMP_UPDATE_EXAMPLES=1 cargo test -p chatdump-cli \
                 --test it example_archive` to rewrite it, then commit it",
                path.display()
            );
            fs::write(&path, &fresh).expect("write the example");
            eprintln!("rewrote {} (commit it)", path.display());
        }
    }
    if !update {
        // The merged examples are what a reader opens: they hold speech and the summary.
        let html = fs::read_to_string(examples.join("sample-meeting.html")).expect("the example");
        assert!(html.contains("speech"), "the merged HTML shows speech");
        let markdown = fs::read_to_string(examples.join("sample-meeting.md")).expect("the example");
        assert!(markdown.contains("🎙"), "the merged Markdown marks speech");
        assert!(
            markdown.starts_with("---\ntitle: \"Meeting transcript\""),
            "a meeting's"
        );
        // A CSV transcript gives no end times: the speaking time is unknown, not zero.
        for text in [&html, &markdown] {
            assert!(text.contains("speaking time unknown"), "no end times");
            assert!(!text.contains("0 s speaking time"), "not zero");
        }
    }
}
