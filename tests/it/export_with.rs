//! `chatdump export --with transcript,summary` against the test server (issue 18): every
//! transcript format, the session's start, a missing part, the chat's faults on the parts'
//! routes, and no secret in the output.

use std::path::Path;

use chatdump_core::speech::{SpeechOptions, TranscriptReader};
use chatdump_testserver::parts::{SESSION_START, TranscriptShape, UTTERANCES, summary, transcript};
use chatdump_testserver::{Route, Server, chat_csv};

use crate::fetch::{
    ACCOUNT_ID, API_TOKEN, APP_ID, FAST, MESSAGES, assert_no_secrets, chatdump, hermetic, server,
    statuses,
};
use crate::support::{Chatdump, Run, temp_dir};

/// `chatdump export --provider realtimekit ... --with transcript,summary --keep-csv EXTRA...`.
fn export_realtimekit(server: &Server, session: &str, out: &Path, extra: &[&str]) -> Run {
    let base = server.realtimekit_base_url();
    let out = out.display().to_string();
    let mut args = vec![
        "export",
        "--provider",
        "realtimekit",
        "--base-url",
        &base,
        "--session-id",
        session,
        "--format",
        "jsonl",
        "--output",
        &out,
        "--keep-csv",
        "--with",
        "transcript,summary",
        "-v",
    ];
    args.extend_from_slice(FAST);
    args.extend_from_slice(extra);
    hermetic(Chatdump::new(args))
        .env("CLOUDFLARE_ACCOUNT_ID", ACCOUNT_ID)
        .env("REALTIMEKIT_APP_ID", APP_ID)
        .env("CLOUDFLARE_API_TOKEN", API_TOKEN)
        .run()
}

/// `chatdump export` (Dyte) `--with transcript,summary --keep-csv` of `sessions` into `out`.
fn export_dyte(server: &Server, sessions: &[&str], out: &Path, extra: &[&str]) -> Run {
    let out = out.display().to_string();
    let args = [
        &[
            "--format",
            "jsonl",
            "--output",
            out.as_str(),
            "--keep-csv",
            "--with",
            "transcript,summary",
            "-v",
        ][..],
        extra,
    ]
    .concat();
    chatdump(server, "export", sessions, &args).run()
}

/// Reads a downloaded transcript as the pipeline will, anchored on the test server's
/// `started_at`; returns (peer id, start) of every utterance.
fn utterances(path: &Path) -> Vec<(Option<String>, String)> {
    let file = std::fs::File::open(path).unwrap();
    let options = SpeechOptions {
        session_start: Some(SESSION_START.parse().unwrap()),
        ..SpeechOptions::default()
    };
    TranscriptReader::new(file, path.display().to_string(), options)
        .unwrap()
        .map(|utterance| {
            let utterance = utterance.unwrap();
            (utterance.participant_id, utterance.start.to_string())
        })
        .collect()
}

/// The chat exported in full, beside the kept downloads.
#[track_caller]
fn assert_chat_exported(out: &Path, session: &str) {
    assert_eq!(
        std::fs::read(out.join(format!("{session}.csv"))).unwrap(),
        chat_csv(session, MESSAGES)
    );
    let jsonl = std::fs::read_to_string(out.join(format!("{session}.jsonl"))).unwrap();
    assert_eq!(jsonl.lines().count(), MESSAGES);
}

#[test]
fn every_transcript_format_is_fetched_and_anchored_on_the_session_start() {
    let server = server();
    let dir = temp_dir();
    let start: jiff::Timestamp = SESSION_START.parse().unwrap();
    let cases = [
        ("csv", TranscriptShape::Csv),
        ("json", TranscriptShape::Json),
        ("vtt", TranscriptShape::Vtt),
        ("srt", TranscriptShape::Srt),
    ];
    for (format, shape) in cases {
        let session = format!("ok--{format}");
        let out = dir.path().join(format);
        let run = export_realtimekit(
            &server,
            &session,
            &out,
            &["--transcript-format", &format.to_ascii_uppercase()],
        );
        run.assert_code(0);
        assert_no_secrets(&run, &server);
        assert_chat_exported(&out, &session);
        let source = out.join(format!("{session}.transcript.source.{format}"));
        assert_eq!(std::fs::read(&source).unwrap(), transcript(shape, start));
        assert_eq!(
            std::fs::read(out.join(format!("{session}.summary.source.txt"))).unwrap(),
            summary()
        );
        let read = utterances(&source);
        assert_eq!(read.len(), UTTERANCES, "{format}");
        assert_eq!(read[0].1, "2024-05-14T08:59:30Z", "{format}");
        assert_eq!(read[1].1, "2024-05-14T08:59:39.5Z", "{format}");
        if matches!(shape, TranscriptShape::Csv | TranscriptShape::Json) {
            // The transcript's peer ids are the chat's participant ids.
            let peer = read[1].0.clone().unwrap();
            assert!(
                String::from_utf8(chat_csv(&session, 8))
                    .unwrap()
                    .contains(&peer)
            );
        }
        // The session's start was asked for once.
        assert_eq!(statuses(&server, Route::SessionDetails, &session), [200]);
    }

    // Dyte: no format is sent; a headerless CSV counts milliseconds from the start.
    let out = dir.path().join("dyte");
    let session = "headerless-transcript--d";
    let run = export_dyte(&server, &[session], &out, &[]);
    run.assert_code(0);
    assert_no_secrets(&run, &server);
    assert_chat_exported(&out, session);
    let source = out.join(format!("{session}.transcript.source.csv"));
    assert_eq!(
        std::fs::read(&source).unwrap(),
        transcript(TranscriptShape::HeaderlessCsv, start)
    );
    let read = utterances(&source);
    assert_eq!(read.len(), UTTERANCES);
    assert_eq!(read[2].1, "2024-05-14T08:59:49Z");
}

#[test]
fn a_missing_part_still_exports_the_chat_with_a_note() {
    let server = server();
    let dir = temp_dir();
    let out = dir.path().join("out");
    let sessions = ["no-transcript--a", "no-summary--b", "no-parts--c"];
    let run = export_dyte(&server, &sessions, &out, &[]);
    run.assert_code(0);
    assert_no_secrets(&run, &server);
    for session in sessions {
        assert_chat_exported(&out, session);
    }
    let notes = run.stderr_lines("note: ");
    assert_eq!(notes.len(), 4, "{}", run.stderr);
    assert!(
        run.stderr.contains("note: no transcript for session `no-transcript--a` (HTTP 404: No transcript found for session no-transcript--a (code 404)): the feature may be off for the meeting, the transcript not generated, or past the 7-day retention; the chat is exported without it"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr
            .contains("note: no summary for session `no-summary--b` (HTTP 404"),
        "{}",
        run.stderr
    );
    // What was there was fetched; what was not left no file behind.
    assert!(out.join("no-transcript--a.summary.source.txt").is_file());
    assert!(!out.join("no-transcript--a.transcript.source.csv").exists());
    assert!(out.join("no-summary--b.transcript.source.csv").is_file());
    assert!(!out.join("no-summary--b.summary.source.txt").exists());
    // Without a transcript the session's start is not asked for.
    assert!(statuses(&server, Route::SessionDetails, "no-parts--c").is_empty());
    // Each 404 asked once: a missing part is not retried.
    assert_eq!(statuses(&server, Route::Transcript, "no-parts--c"), [404]);
    assert_eq!(statuses(&server, Route::Summary, "no-parts--c"), [404]);
}

#[test]
fn faults_on_the_parts_routes_are_overcome_like_the_chats() {
    let server = server();
    let dir = temp_dir();
    let out = dir.path().join("out");
    let start: jiff::Timestamp = SESSION_START.parse().unwrap();
    let sessions = [
        "api-500-once--p",
        "api-429-once--p",
        "expired-link-once--p",
        "revoked-link-once--p",
        "download-503-once--p",
        "reset-once--p",
        "reset-norange-once--p",
        "truncated-once--p",
        "camel-case--p",
    ];
    let run = export_dyte(&server, &sessions, &out, &[]);
    run.assert_code(0);
    assert_no_secrets(&run, &server);
    for session in sessions {
        assert_chat_exported(&out, session);
        assert_eq!(
            std::fs::read(out.join(format!("{session}.transcript.source.csv"))).unwrap(),
            transcript(TranscriptShape::Csv, start),
            "{session}"
        );
        assert_eq!(
            std::fs::read(out.join(format!("{session}.summary.source.txt"))).unwrap(),
            summary(),
            "{session}"
        );
    }
    for route in [Route::Transcript, Route::Summary, Route::SessionDetails] {
        assert_eq!(
            statuses(&server, route, "api-500-once--p")[0],
            500,
            "{route:?}"
        );
        assert_eq!(
            statuses(&server, route, "api-429-once--p")[0],
            429,
            "{route:?}"
        );
    }
    assert_eq!(
        statuses(&server, Route::Transcript, "expired-link-once--p").len(),
        2,
        "a fresh link for the expired one"
    );
    assert_eq!(
        statuses(&server, Route::SummaryDownload, "revoked-link-once--p"),
        [403, 200]
    );
    assert_eq!(
        statuses(&server, Route::TranscriptDownload, "download-503-once--p"),
        [503, 200]
    );
    let resumed = server.requests_for(Route::TranscriptDownload, "reset-once--p");
    assert_eq!(resumed.len(), 2);
    assert!(resumed[1].range.is_some() && resumed[1].if_match.is_some());
    assert_eq!(
        statuses(&server, Route::SummaryDownload, "truncated-once--p").len(),
        2,
        "a short body is completed"
    );
}
