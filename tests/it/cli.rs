//! The command line itself: completions and the manual page, case-insensitive values, and
//! outputs that name their input by file name only.

use crate::support::{Chatdump, fixtures_dir, temp_dir};

#[test]
fn completions_and_the_manual_page_are_generated_for_every_shell() {
    for (shell, marker) in [
        ("bash", "complete -F"),
        ("zsh", "#compdef chatdump"),
        ("fish", "complete -c chatdump"),
        ("powershell", "Register-ArgumentCompleter"),
        ("elvish", "edit:completion:arg-completer"),
    ] {
        let run = Chatdump::new(["completions", shell]).run();
        let script = run.success();
        assert!(script.contains(marker), "{shell}: {script:.300}");
        for command in ["convert", "export", "serve", "compact"] {
            assert!(script.contains(command), "{shell} lacks `{command}`");
        }
    }
    let run = Chatdump::new(["man"]).run();
    let page = run.success();
    assert!(
        page.starts_with(".ie") || page.contains(".TH chatdump"),
        "{page:.300}"
    );
    for section in [
        "chatdump\\-convert",
        "chatdump\\-export",
        "\\-\\-partition\\-by",
    ] {
        assert!(page.contains(section), "the manual lacks `{section}`");
    }
}

#[test]
fn enum_values_are_case_insensitive() {
    let dir = temp_dir();
    let sample = fixtures_dir().join("sample-chat-dump.csv");
    let out = dir.path().join("out");
    Chatdump::new([
        "convert",
        sample.to_str().unwrap(),
        "--format",
        "JSONL,Md",
        "--on-error",
        "SKIP",
        "--jsonl-flavor",
        "Plain",
        "--output",
        out.to_str().unwrap(),
    ])
    .run()
    .success();
    assert!(out.join("sample-chat-dump.jsonl").is_file());
    assert!(out.join("sample-chat-dump.md").is_file());
    // `--status` takes the API's own spelling; `--all` accepts `--format parquet` (what it
    // writes) and refuses other formats as a usage error (2), before any network call.
    let refused = Chatdump::new([
        "export",
        "--all",
        "--status",
        "ENDED",
        "--format",
        "jsonl",
        "--output",
        out.to_str().unwrap(),
    ])
    .run();
    refused.assert_code(2);
    assert!(
        refused.stderr.contains("may only be `parquet`"),
        "{}",
        refused.stderr
    );
}

#[test]
fn outputs_name_their_input_by_file_name_only() {
    let sample = std::fs::read(fixtures_dir().join("sample-chat-dump.csv")).unwrap();
    let work = temp_dir();
    let mut outputs = Vec::new();
    for place in ["home/user/Downloads/board-meeting", "elsewhere"] {
        let dir = work.path().join(place);
        std::fs::create_dir_all(&dir).unwrap();
        let input = dir.join("chat.csv");
        std::fs::write(&input, &sample).unwrap();
        let out = dir.join("out");
        Chatdump::new([
            "convert",
            input.to_str().unwrap(),
            "--format",
            "md,html,parquet",
            "--output",
            out.to_str().unwrap(),
        ])
        .run()
        .success();
        let files: Vec<Vec<u8>> = ["md", "html", "parquet"]
            .iter()
            .map(|extension| std::fs::read(out.join(format!("chat.{extension}"))).unwrap())
            .collect();
        let markdown = String::from_utf8(files[0].clone()).unwrap();
        assert!(markdown.contains("source: \"chat.csv\""), "{markdown:.400}");
        for file in &files {
            let text = String::from_utf8_lossy(file);
            assert!(
                !text.contains("Downloads"),
                "a directory leaked into an output"
            );
        }
        outputs.push(files);
    }
    assert!(
        outputs[0] == outputs[1],
        "the same dump from two places differs"
    );
}

#[test]
fn a_closed_pipe_ends_completions_quietly() {
    use std::process::{Command, Stdio};
    let mut child = Command::new(env!("CARGO_BIN_EXE_chatdump"))
        .args(["completions", "bash"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run chatdump");
    // Close the pipe before anything is read (as `| head` does once it has its lines): every
    // write fails with a broken pipe.
    drop(child.stdout.take());
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(
        output.status.code().is_some_and(|code| code == 0),
        "{:?}: {stderr}",
        output.status
    );
}

#[test]
fn warnings_about_the_whole_dump_are_shown_past_the_warning_limit() {
    let work = temp_dir();
    let input = work.path().join("dump.csv");
    let mut csv = String::from(
        "id,participantId,sessionId,meetingId,displayName,pinned,isEdited,payloadType,payload,createdAt,mood\n",
    );
    for index in 0..12 {
        // Twelve records with a bad timestamp: twelve skipped-record warnings.
        csv.push_str(&format!(
            "bad{index},p1,s1,m1,Ann,false,false,TEXT_MESSAGE,hi,yesterday,calm\n"
        ));
    }
    csv.push_str("ok1,p1,s1,m1,Ann,false,false,TEXT_MESSAGE,hi,2024-05-14T09:00:04.112Z,calm\n");
    std::fs::write(&input, csv).unwrap();
    let run = Chatdump::new([
        "convert",
        input.to_str().unwrap(),
        "--on-error",
        "skip",
        "--output",
        work.path().join("out/").to_str().unwrap(),
    ])
    .run();
    run.success();
    let skipped = run.stderr_lines("warning: skipped");
    assert_eq!(skipped.len(), 10, "{}", run.stderr);
    assert!(
        run.stderr.contains("`mood`"),
        "the unknown-column warning is missing past the limit:\n{}",
        run.stderr
    );
}

#[test]
fn verbose_lists_every_file_written_with_its_size_and_sha256() {
    let work = temp_dir();
    let out = work.path().join("out");
    let sample = fixtures_dir().join("sample-chat-dump.csv");
    let run = Chatdump::new([
        "-v",
        "convert",
        sample.to_str().unwrap(),
        "--format",
        "jsonl,md,parquet",
        "--partition-by",
        "date",
        "--output",
        out.to_str().unwrap(),
    ])
    .run();
    run.success();
    let lines: Vec<&str> = run
        .stderr
        .lines()
        .filter(|line| line.trim_start().starts_with("wrote "))
        .collect();
    assert_eq!(lines.len(), 3, "{}", run.stderr);
    for line in lines {
        // `  wrote PATH (N bytes, sha256 HEX)`
        let (path, rest) = line
            .trim_start()
            .trim_start_matches("wrote ")
            .split_once(" (")
            .unwrap();
        let bytes = std::fs::read(path).unwrap();
        let digest = ring::digest::digest(&ring::digest::SHA256, &bytes);
        let hex = digest.as_ref().iter().fold(String::new(), |mut hex, byte| {
            use std::fmt::Write as _;
            let _ = write!(hex, "{byte:02x}");
            hex
        });
        assert_eq!(
            rest,
            format!("{} bytes, sha256 {hex})", bytes.len()),
            "{line}"
        );
    }
}
