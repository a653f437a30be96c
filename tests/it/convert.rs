//! `chatdump convert`: what the reader accepts, the JSONL it writes (snapshots), where outputs
//! go, atomicity, determinism and the command line's exit codes.

use std::fs;
use std::io::Read as _;
use std::process::Stdio;

use serde_json::json;

use crate::support::{Chatdump, convert_to_stdout, fixture_bytes, ids, jsonl, temp_dir, tree};

/// Converts `fixture` to JSONL on stdout and snapshots it (named after the fixture).
fn snapshot(fixture: &str) -> String {
    let output = convert_to_stdout(fixture, &[]);
    insta::assert_snapshot!(fixture.trim_end_matches(".csv"), output);
    output
}

#[test]
fn sample_chat_dump() {
    let output = snapshot("sample-chat-dump.csv");
    let lines = jsonl(&output);
    // dyte-api.md §2.4: 30 rows, 24 text, 3 image, 3 file; three pinned, three edited.
    assert_eq!(lines.len(), 30);
    let count = |key: &str, value: &serde_json::Value| {
        lines.iter().filter(|line| &line[key] == value).count()
    };
    assert_eq!(count("kind", &json!("text")), 24);
    assert_eq!(count("kind", &json!("image")), 3);
    assert_eq!(count("kind", &json!("file")), 3);
    assert_eq!(count("pinned", &json!(true)), 3);
    assert_eq!(count("edited", &json!(true)), 3);
    let times: Vec<i64> = lines
        .iter()
        .map(|line| line["created_at_ms"].as_i64().unwrap())
        .collect();
    assert!(times.is_sorted(), "messages are in chronological order");
    // The two replies are split into quoted text and reply.
    let replies: Vec<_> = lines
        .iter()
        .filter(|line| !line["quoted_text"].is_null())
        .map(|line| (line["quoted_text"].clone(), line["text"].clone()))
        .collect();
    assert_eq!(
        replies,
        [
            (
                json!("Agenda:\n1. Q2 numbers\n2. Roadmap, risks, \"open\" questions\n3. AOB"),
                json!("Can we add a point on hiring?")
            ),
            (
                json!("Question, Mary: is the \"beta\" date still 1 July, or later?"),
                json!("Still 1 July 🤞")
            ),
        ]
    );
    // The file payload's JSON is parsed; the name holds a comma.
    let report = lines
        .iter()
        .find(|line| line["id"] == "17c2ab1d-9e3f-4a4b-8c5d-6e7f8a9bacb9")
        .unwrap();
    assert_eq!(report["file_name"], "Q2 report, final (v3).pdf");
    assert_eq!(report["file_size"], 2_044_680);
    assert!(
        report["url"]
            .as_str()
            .unwrap()
            .starts_with("https://chat-uploads.example-bucket.s3.ap-south-1.amazonaws.com/")
    );
    // Leading and trailing spaces are kept.
    assert!(
        lines
            .iter()
            .any(|line| line["text"] == "  leading and trailing spaces kept?  ")
    );
}

#[test]
fn bom_is_ignored() {
    let output = snapshot("bom.csv");
    assert_eq!(ids(&output), ["m1", "m2"]);
    assert!(!output.contains('\u{feff}'));
}

#[test]
fn crlf_line_ends() {
    let output = snapshot("crlf.csv");
    let lines = jsonl(&output);
    assert_eq!(ids(&output), ["m1", "m2", "m3"]);
    // The CR of a line end is not part of the last field; a CRLF inside quotes is data.
    assert_eq!(lines[0]["created_at"], "2024-05-14T09:00:01.000Z");
    assert_eq!(
        lines[1]["payload"],
        "a quoted payload\r\nwith a CRLF inside"
    );
    assert_eq!(lines[2]["payload"], "last");
}

#[test]
fn reordered_and_extra_columns() {
    let output = snapshot("reordered-extra-columns.csv");
    let lines = jsonl(&output);
    assert_eq!(lines.len(), 2);
    let first = &lines[0];
    assert_eq!(first["id"], "m1");
    assert_eq!(first["participant_id"], "p-ann");
    assert_eq!(first["session_id"], "sess-1");
    assert_eq!(first["meeting_id"], "meet-1");
    assert_eq!(first["display_name"], "Ann");
    assert_eq!(first["pinned"], true);
    assert_eq!(first["edited"], false);
    assert_eq!(first["text"], "hi, all");
    assert_eq!(
        first["extra"],
        json!({"userId": "user-1", "channelId": "chan-a"})
    );
    assert_eq!(lines[1]["edited"], true);
    assert_eq!(lines[1]["extra"], json!({"userId": "", "channelId": ""}));
    // Extra columns keep the header's order.
    assert!(output.contains(r#""extra":{"userId":"user-1","channelId":"chan-a"}"#));
}

#[test]
fn quoted_and_multiline_payloads() {
    let output = snapshot("multiline-quoted.csv");
    let lines = jsonl(&output);
    let payloads: Vec<&str> = lines
        .iter()
        .map(|line| line["payload"].as_str().unwrap())
        .collect();
    assert_eq!(payloads[0], "commas, inside, quotes");
    assert_eq!(payloads[1], "she said \"ship it\"");
    assert_eq!(
        payloads[2],
        "line one\nline two\n\nline four after a blank line"
    );
    assert_eq!(payloads[3], "\"");
    assert_eq!(payloads[4], "");
    assert_eq!(lines[5]["quoted_text"], "line one\nline two");
    assert_eq!(lines[5]["text"], "replying, \"quoted\"");
    assert_eq!(lines[6]["kind"], "file");
    assert_eq!(lines[6]["url"], "https://files.example/a%2Fb.pdf?sig=1&x=2");
    assert_eq!(lines[6]["file_name"], "report, final \"v3\".pdf");
    assert_eq!(lines[6]["file_size"], 2_044_680);
    // A file payload that is not the SDK's JSON is a bare URL.
    assert_eq!(lines[7]["url"], "https://files.example/bare.zip");
    assert_eq!(lines[7]["file_name"], json!(null));
    assert_eq!(lines[8]["kind"], "image");
    assert_eq!(lines[8]["url"], "https://images.example/cat.png?a=1&b=2");
    assert_eq!(lines[8]["text"], json!(null));
}

#[test]
fn cjk_rtl_and_emoji_text() {
    let output = snapshot("cjk-rtl-emoji.csv");
    let lines = jsonl(&output);
    assert_eq!(lines[0]["display_name"], "李雷");
    assert_eq!(lines[1]["text"], "السلام عليكم، كيف حالكم؟");
    assert_eq!(lines[2]["text"], "שלום, mixed עברית and English 123");
    assert_eq!(
        lines[3]["text"],
        "👩\u{200d}👩\u{200d}👧\u{200d}👦 family, 🇮🇳 flag, 👍🏽 skin tone"
    );
    assert_eq!(lines[3]["display_name"], "Priya 🎧");
    assert_eq!(lines[4]["text"], "こんにちは、カタカナ、한국어");
    // Written as UTF-8, not as \u escapes.
    assert!(output.contains("大家好"));
}

#[test]
fn unknown_payload_type_is_kept() {
    let output = snapshot("unknown-payload-type.csv");
    let lines = jsonl(&output);
    assert_eq!(lines[0]["payload_type"], "CUSTOM_MESSAGE");
    assert_eq!(lines[0]["kind"], "other");
    assert_eq!(
        lines[0]["payload"],
        r#"{"message":"poll","html":"<b>vote</b>"}"#
    );
    assert_eq!(lines[0]["text"], json!(null));
    assert_eq!(lines[0]["url"], json!(null));
    assert_eq!(lines[1]["payload_type"], "POLL_MESSAGE");
    assert_eq!(lines[1]["kind"], "other");
}

#[test]
fn timestamp_variants() {
    let output = snapshot("timestamps-variants.csv");
    let got: Vec<(String, String, i64)> = jsonl(&output)
        .iter()
        .map(|line| {
            (
                line["id"].as_str().unwrap().to_owned(),
                line["created_at"].as_str().unwrap().to_owned(),
                line["created_at_ms"].as_i64().unwrap(),
            )
        })
        .collect();
    // 2024-05-14T09:00:00Z is 1_715_677_200 seconds after the epoch.
    let expected = [
        ("t01", "2024-05-14T09:00:04.112Z", 1_715_677_204_112),
        ("t02", "2024-05-14T09:00:05.112Z", 1_715_677_205_112),
        ("t03", "2024-05-14T09:00:06.112Z", 1_715_677_206_112),
        ("t04", "2024-05-14T09:00:07.000Z", 1_715_677_207_000),
        ("t05", "2024-05-14T09:00:08.500Z", 1_715_677_208_500),
        ("t06", "2024-05-14T09:00:09.123456Z", 1_715_677_209_123),
        ("t07", "2024-05-14T09:00:10.123456789Z", 1_715_677_210_123),
        ("t08", "2024-05-14T09:00:11.000Z", 1_715_677_211_000),
        ("t09", "2024-05-14T09:00:12.345Z", 1_715_677_212_345),
        ("t10", "2024-05-14T09:00:13.250Z", 1_715_677_213_250),
        ("t11", "2024-05-14T09:00:14.000Z", 1_715_677_214_000),
    ];
    let expected: Vec<(String, String, i64)> = expected
        .iter()
        .map(|(id, at, ms)| ((*id).to_owned(), (*at).to_owned(), *ms))
        .collect();
    assert_eq!(got, expected);
}

#[test]
fn boolean_variants() {
    let output = snapshot("booleans-variants.csv");
    let got: Vec<(bool, bool)> = jsonl(&output)
        .iter()
        .map(|line| {
            (
                line["pinned"].as_bool().unwrap(),
                line["edited"].as_bool().unwrap(),
            )
        })
        .collect();
    // true/false, TRUE/FALSE, t/f, T/F, 1/0, yes/no, YES/No, empty/empty, True/empty.
    assert_eq!(
        got,
        [
            (true, false),
            (true, false),
            (true, false),
            (true, false),
            (true, false),
            (true, false),
            (true, false),
            (false, false),
            (true, false),
        ]
    );
}

#[test]
fn every_line_has_every_field_in_order() {
    let output = convert_to_stdout("multiline-quoted.csv", &[]);
    let expected = [
        "schema_version",
        "id",
        "session_id",
        "meeting_id",
        "participant_id",
        "display_name",
        "pinned",
        "edited",
        "created_at",
        "created_at_ms",
        "payload_type",
        "kind",
        "text",
        "quoted_text",
        "url",
        "file_name",
        "file_size",
        "payload",
        "extra",
    ];
    for line in output.lines() {
        // Field order is part of the format: check it on the text, not on a parsed map.
        let mut rest = line;
        for field in expected {
            let key = format!("\"{field}\":");
            let at = rest
                .find(&key)
                .unwrap_or_else(|| panic!("`{field}` missing or out of order in {line}"));
            rest = &rest[at + key.len()..];
        }
        assert_eq!(jsonl(line)[0]["schema_version"], 1);
    }
}

#[test]
fn stdin_to_stdout() {
    let from_file = convert_to_stdout("sample-chat-dump.csv", &[]);
    let run = Chatdump::new(["convert", "-", "--output", "-"])
        .stdin(fixture_bytes("sample-chat-dump.csv"))
        .run();
    assert_eq!(run.success(), from_file);
    assert!(
        run.stderr.contains("<stdin>: 30 messages written"),
        "{}",
        run.stderr
    );
}

#[test]
fn stdin_to_a_directory_is_named_stdin() {
    let dir = temp_dir();
    let out = dir.path().join("out/");
    Chatdump::new(["convert", "-", "--output", out.to_str().unwrap()])
        .stdin(fixture_bytes("bom.csv"))
        .run()
        .success();
    let written = fs::read_to_string(out.join("stdin.jsonl")).unwrap();
    assert_eq!(written, convert_to_stdout("bom.csv", &[]));
}

#[test]
fn output_to_a_directory_and_to_a_file() {
    let dir = temp_dir();
    let expected = convert_to_stdout("sample-chat-dump.csv", &[]);
    // A path ending in `/` is a directory, created if missing; the file is `<stem>.jsonl`.
    let out_dir = dir.path().join("new-dir/");
    let run = Chatdump::new([
        "-v",
        "convert",
        "sample-chat-dump.csv",
        "--format",
        "jsonl",
        "--output",
        out_dir.to_str().unwrap(),
    ])
    .run();
    run.success();
    assert_eq!(
        fs::read_to_string(out_dir.join("sample-chat-dump.jsonl")).unwrap(),
        expected
    );
    // Nothing else is left in the directory (no temporary files).
    assert_eq!(tree(&out_dir).len(), 1);
    assert!(
        run.stderr
            .contains("sample-chat-dump.csv: 30 messages written"),
        "{}",
        run.stderr
    );
    // A path that is not a directory is the output file itself.
    let out_file = dir.path().join("chat.jsonl");
    Chatdump::new([
        "convert",
        "sample-chat-dump.csv",
        "--output",
        out_file.to_str().unwrap(),
    ])
    .run()
    .success();
    assert_eq!(fs::read_to_string(&out_file).unwrap(), expected);
}

#[test]
fn quiet_prints_nothing_on_success() {
    let run = Chatdump::new(["-q", "convert", "duplicates-identical.csv", "--output", "-"]).run();
    run.success();
    assert_eq!(run.stderr, "");
}

#[test]
fn failed_run_leaves_the_output_directory_untouched() {
    let dir = temp_dir();
    let out = dir.path().join("out");
    fs::create_dir(&out).unwrap();
    // An older output of the same name, which a failed run must not replace, and an unrelated
    // file.
    fs::write(out.join("error-bad-boolean.jsonl"), "older output\n").unwrap();
    fs::write(out.join("notes.txt"), "keep me").unwrap();
    let before = tree(dir.path());
    for extra in [&[][..], &["--on-error", "skip"][..]] {
        // A bad boolean fails in fail mode; a record over the size limit fails even in skip mode.
        let (fixture, extra) = if extra.is_empty() {
            ("error-bad-boolean.csv", extra)
        } else {
            (
                "error-unterminated-quote-crlf.csv",
                &["--on-error", "skip", "--max-record-size", "120"][..],
            )
        };
        let mut args = vec!["convert", fixture, "--output", out.to_str().unwrap()];
        args.extend_from_slice(extra);
        let run = Chatdump::new(args).run();
        run.assert_code(1);
        assert_eq!(tree(dir.path()), before, "after {fixture} {extra:?}");
    }
    // The same with the old file as the explicit output file.
    let target = out.join("error-bad-boolean.jsonl");
    Chatdump::new([
        "convert",
        "error-bad-boolean.csv",
        "--output",
        target.to_str().unwrap(),
    ])
    .run()
    .assert_code(1);
    assert_eq!(tree(dir.path()), before);
}

#[test]
fn failed_run_does_not_leave_a_directory_it_created() {
    let dir = temp_dir();
    for output in ["missing/", "missing/nested/deeper/"] {
        let out = dir.path().join(output);
        let run = Chatdump::new([
            "convert",
            "error-bad-timestamp.csv",
            "--output",
            out.to_str().unwrap(),
        ])
        .run();
        run.assert_code(1);
        assert!(
            tree(dir.path()).is_empty(),
            "left behind: {:?}",
            tree(dir.path()).keys().collect::<Vec<_>>()
        );
    }
}

#[test]
fn failed_second_input_leaves_no_output_of_the_first() {
    let dir = temp_dir();
    let out = dir.path().join("out");
    fs::create_dir(&out).unwrap();
    let before = tree(dir.path());
    let run = Chatdump::new([
        "convert",
        "bom.csv",
        "error-bad-boolean.csv",
        "--output",
        out.to_str().unwrap(),
    ])
    .run();
    run.assert_code(1);
    assert_eq!(
        tree(dir.path()).keys().collect::<Vec<_>>(),
        before.keys().collect::<Vec<_>>(),
        "a failed run leaves the output directory exactly as it was"
    );
}

#[test]
fn output_is_deterministic_across_runs_time_zones_and_locales() {
    let dir = temp_dir();
    let run_into = |name: &str, tz: &str, locale: &str| {
        let out = dir.path().join(name);
        Chatdump::new([
            "convert",
            "sample-chat-dump.csv",
            "timestamps-variants.csv",
            "--output",
            out.to_str().unwrap(),
        ])
        .env("TZ", tz)
        .env("LC_ALL", locale)
        .env("LANG", locale)
        .run()
        .success();
        tree(&out)
    };
    let first = run_into("first", "UTC", "C.UTF-8");
    assert_eq!(first.len(), 2);
    assert_eq!(first, run_into("second", "UTC", "C.UTF-8"));
    assert_eq!(first, run_into("kolkata", "Asia/Kolkata", "fr_FR.UTF-8"));
}

#[test]
fn usage_errors_exit_2() {
    let cases: [(&[&str], &str); 8] = [
        (
            &["convert", "bom.csv", "--format", "xml", "--output", "-"],
            "invalid value 'xml'",
        ),
        (
            &["convert", "bom.csv", "crlf.csv", "--output", "-"],
            "standard output (`--output -`) takes one format and one input",
        ),
        (
            &[
                "convert",
                "bom.csv",
                "--rejects",
                "r.jsonl",
                "--output",
                "-",
            ],
            "--rejects needs --on-error skip",
        ),
        (&["convert", "bom.csv"], "--output <PATH>"),
        (
            &[
                "convert",
                "bom.csv",
                "--max-record-size",
                "lots",
                "--output",
                "-",
            ],
            "`lots` is not a size",
        ),
        (
            &["-q", "-v", "convert", "bom.csv", "--output", "-"],
            "cannot be used with",
        ),
        (
            &[
                "convert",
                "bom.csv",
                "../fixtures/bom.csv",
                "--output",
                "/nonexistent-out/",
            ],
            "two inputs would write the same output files (`bom.*`): convert them separately",
        ),
        (
            // Two inputs need a directory; `crlf.csv` is a file.
            &[
                "convert",
                "bom.csv",
                "sample-chat-dump.csv",
                "--output",
                "crlf.csv",
            ],
            "`crlf.csv` is a file, but several outputs need a directory",
        ),
    ];
    for (args, message) in cases {
        let run = Chatdump::new(args).run();
        assert_eq!(run.code, Some(2), "{args:?}: {}", run.stderr);
        assert!(run.stderr.contains(message), "{args:?}: {}", run.stderr);
        assert!(run.stdout.is_empty());
    }
}

#[test]
fn two_formats_to_stdout_is_a_usage_error() {
    let run = Chatdump::new([
        "convert", "bom.csv", "--format", "jsonl,md", "--output", "-",
    ])
    .run();
    run.assert_code(2);
    assert!(run.stdout.is_empty());
    assert_eq!(
        run.stderr_lines("error: "),
        ["error: standard output (`--output -`) takes one format and one input"]
    );
}

#[test]
fn missing_input_is_an_error_naming_it() {
    let run = Chatdump::new(["convert", "no-such-file.csv", "--output", "-"]).run();
    run.assert_code(1);
    assert!(
        run.stderr
            .starts_with("error: cannot open `no-such-file.csv`: "),
        "{}",
        run.stderr
    );
}

#[test]
fn broken_pipe_exits_quietly() {
    // Enough messages that the output cannot fit in the pipe and the writer's buffers.
    let dir = temp_dir();
    let input = dir.path().join("many.csv");
    let mut csv = String::from(
        "id,participantId,sessionId,meetingId,displayName,pinned,isEdited,payloadType,payload,createdAt\n",
    );
    for index in 0..20_000 {
        csv.push_str(&format!(
            "m{index:06},p,s,m,Ann,false,false,TEXT_MESSAGE,message {index} with a little padding,{}\n",
            1_715_677_200_000_u64 + index
        ));
    }
    fs::write(&input, csv).unwrap();
    let mut child = Chatdump::new(["convert", input.to_str().unwrap(), "--output", "-"])
        .command(None)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let mut first = [0; 100];
    stdout.read_exact(&mut first).unwrap();
    assert!(first.starts_with(br#"{"schema_version":1,"id":"m000000""#));
    // The reader goes away, like `head -c 100`.
    drop(stdout);
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    assert!(!stderr.contains("error"), "{stderr}");
}

#[test]
fn help_shows_examples() {
    for args in [&["--help"][..], &["convert", "--help"][..]] {
        let run = Chatdump::new(args).run();
        let help = run.success();
        assert!(help.contains("Examples:"), "{args:?}: {help}");
        assert!(
            help.contains("chatdump convert examples/sample-chat-dump.csv"),
            "{help}"
        );
        assert!(help.contains("Exit status"), "{help}");
    }
}

#[test]
fn a_hostile_file_name_is_shown_escaped() {
    let dir = temp_dir();
    let name = "evil\u{1b}[2J\u{202e}vsc.csv";
    let input = dir.path().join(name);
    fs::write(&input, "name,email\n").unwrap();
    let run = Chatdump::new(["convert", input.to_str().unwrap(), "--output", "-"]).run();
    run.assert_code(1);
    assert!(!run.stderr.contains('\u{1b}'), "{}", run.stderr);
    assert!(!run.stderr.contains('\u{202e}'), "{}", run.stderr);
    assert!(
        run.stderr
            .contains("evil\\u{1b}[2J\\u{202e}vsc.csv` line 1: not a chat dump"),
        "{}",
        run.stderr
    );
}
