//! `chatdump export --with transcript,summary` against the test server (issue 18): every
//! transcript format, the session's start, a missing part, the chat's faults on the parts'
//! routes, and no secret in the output.

use std::path::Path;

use chatdump_bulk::{Manifest, PartStatus, Status};
use chatdump_core::speech::{SpeechOptions, TranscriptReader};
use chatdump_testserver::parts::{SESSION_START, TranscriptShape, UTTERANCES, summary, transcript};
use chatdump_testserver::sessions::{OrgSpec, bulk_base_url};
use chatdump_testserver::{Route, Server, chat_csv};

use crate::fetch::{
    ACCOUNT_ID, API_KEY, API_TOKEN, APP_ID, FAST, MESSAGES, ORG_ID, assert_no_secrets, chatdump,
    hermetic, server, statuses,
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
        let source = out.join(format!("{session}.transcript.source"));
        assert_eq!(std::fs::read(&source).unwrap(), transcript(shape, start));
        assert_eq!(
            std::fs::read(out.join(format!("{session}.summary.source"))).unwrap(),
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
        // The pipeline wrote the utterances, on the clock, and the summary.
        assert_transcript_output(
            &out,
            &session,
            matches!(shape, TranscriptShape::Csv | TranscriptShape::Json),
            shape != TranscriptShape::Csv,
        );
        assert!(
            std::fs::read_to_string(out.join(format!("{session}.summary.md")))
                .unwrap()
                .contains("# Meeting summary")
        );
    }

    // Dyte: no format is sent; a headerless CSV counts milliseconds from the start.
    let out = dir.path().join("dyte");
    let session = "headerless-transcript--d";
    let run = export_dyte(&server, &[session], &out, &[]);
    run.assert_code(0);
    assert_no_secrets(&run, &server);
    assert_chat_exported(&out, session);
    let source = out.join(format!("{session}.transcript.source"));
    assert_eq!(
        std::fs::read(&source).unwrap(),
        transcript(TranscriptShape::HeaderlessCsv, start)
    );
    let read = utterances(&source);
    assert_eq!(read.len(), UTTERANCES);
    assert_eq!(read[2].1, "2024-05-14T08:59:49Z");
    assert_transcript_output(&out, session, true, false);
}

/// `<session>.transcript.jsonl` holds every utterance of the session, on the clock from the
/// session's start, with the chat's peer ids (when the format carries them: CSV, JSON).
#[track_caller]
fn assert_transcript_output(out: &Path, session: &str, with_ids: bool, with_end: bool) {
    let text = std::fs::read_to_string(out.join(format!("{session}.transcript.jsonl"))).unwrap();
    let lines = crate::support::jsonl(&text);
    assert_eq!(lines.len(), UTTERANCES, "{session}");
    let chat = String::from_utf8(chat_csv(session, 8)).unwrap();
    for line in &lines {
        assert_eq!(line["session_id"], session, "{line}");
    }
    assert_eq!(lines[1]["start"], "2024-05-14T08:59:39.500Z", "{session}");
    if with_end {
        assert_eq!(lines[1]["end"], "2024-05-14T08:59:43.750Z", "{session}");
    }
    assert_eq!(lines[1]["display_name"], "José Álvarez", "{session}");
    if with_ids {
        let peer = lines[1]["participant_id"].as_str().unwrap();
        assert!(chat.contains(peer), "{peer}");
    }
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
    // `-v` says what was downloaded.
    assert!(
        run.stderr
            .contains("session `no-transcript--a`: downloaded the summary ("),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr
            .contains("session `no-summary--b`: downloaded the transcript ("),
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains("session `no-parts--c`: downloaded the"));
    // What was there was fetched; what was not left no file behind.
    assert!(out.join("no-transcript--a.summary.source").is_file());
    assert!(!out.join("no-transcript--a.transcript.source").exists());
    assert!(out.join("no-summary--b.transcript.source").is_file());
    assert!(!out.join("no-summary--b.summary.source").exists());
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
            std::fs::read(out.join(format!("{session}.transcript.source"))).unwrap(),
            transcript(TranscriptShape::Csv, start),
            "{session}"
        );
        assert_eq!(
            std::fs::read(out.join(format!("{session}.summary.source"))).unwrap(),
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

/// `chatdump export --all` of `spec` into the local directory `root`, with `extra` flags.
fn export_all(server: &Server, spec: &OrgSpec, root: &Path, extra: &[&str]) -> Run {
    let scratch = root.with_extension("tmp");
    std::fs::create_dir_all(&scratch).unwrap();
    let (root, scratch) = (root.display().to_string(), scratch.display().to_string());
    let base = bulk_base_url(server, spec);
    let args = [
        &[
            "export",
            "--all",
            "--base-url",
            base.as_str(),
            "--output",
            root.as_str(),
            "--temp-dir",
            scratch.as_str(),
            "--rate-limit",
            "0",
            "-v",
        ][..],
        FAST,
        extra,
    ]
    .concat();
    hermetic(Chatdump::new(args))
        .env("DYTE_ORG_ID", ORG_ID)
        .env("DYTE_API_KEY", API_KEY)
        .run()
}

fn manifest(root: &Path) -> (Vec<u8>, Manifest) {
    let bytes = std::fs::read(root.join("_chatdump/manifest.jsonl")).unwrap();
    let manifest = Manifest::parse(&bytes).unwrap();
    (bytes, manifest)
}

#[test]
fn export_all_with_parts_records_them_and_reruns_idempotently() {
    let server = server();
    let dir = temp_dir();
    let root = dir.path().join("dataset");
    let report = dir.path().join("report.json");
    let report_arg = report.display().to_string();
    let spec = OrgSpec {
        sessions: 8,
        ..OrgSpec::default()
    };
    let with = ["--with", "transcript,summary", "--report-json", &report_arg];

    // A first run without `--with`: the chat alone, and no part asked for.
    let run = export_all(&server, &spec, &root, &[]);
    run.assert_code(0);
    let ids: Vec<String> = (0..spec.sessions).map(|i| spec.session_id(i)).collect();
    assert!(
        ids.iter()
            .all(|id| statuses(&server, Route::Transcript, id).is_empty())
    );
    let (_, before) = manifest(&root);
    assert!(before.records().all(|record| record.parts.is_empty()));

    // With `--with`: every session is exported again, with its parts.
    let run = export_all(&server, &spec, &root, &with);
    run.assert_code(0);
    assert_no_secrets(&run, &server);
    let json: serde_json::Value = serde_json::from_slice(&std::fs::read(&report).unwrap()).unwrap();
    assert_eq!(json["exported"], 8, "{json}");
    // Session i has no transcript when i % 4 == 3, no summary when i % 3 == 2.
    let missing = json["parts_not_available"].as_array().unwrap();
    let mut listed: Vec<(String, String)> = missing
        .iter()
        .map(|problem| {
            let reason = problem["reason"].as_str().unwrap();
            let part = reason.split(' ').nth(1).unwrap().to_owned();
            (problem["session_id"].as_str().unwrap().to_owned(), part)
        })
        .collect();
    listed.sort();
    assert_eq!(
        listed,
        [
            (ids[2].clone(), "summary".to_owned()),
            (ids[3].clone(), "transcript".to_owned()),
            (ids[5].clone(), "summary".to_owned()),
            (ids[7].clone(), "transcript".to_owned()),
        ]
    );
    assert!(
        run.stderr
            .contains("note: 4 meeting parts asked for with --with were not available"),
        "{}",
        run.stderr
    );
    let (bytes, after) = manifest(&root);
    for (index, id) in ids.iter().enumerate() {
        let record = after.get(id).unwrap();
        assert_eq!(record.status, Status::Exported, "{id}");
        assert_eq!(record.attempts, 2, "{id}");
        let status = |part: &str| {
            record
                .parts
                .iter()
                .find(|done| done.part == part)
                .map(|done| done.status)
        };
        let expect = |available: bool| {
            Some(if available {
                PartStatus::Available
            } else {
                PartStatus::NotAvailable
            })
        };
        assert_eq!(status("transcript"), expect(index % 4 != 3), "{id}");
        assert_eq!(status("summary"), expect(index % 3 != 2), "{id}");
        // The session's start was asked for only with a transcript to place.
        assert_eq!(
            statuses(&server, Route::SessionDetails, id).len(),
            usize::from(index % 4 != 3),
            "{id}"
        );
        // The parts' files, in datasets of their own.
        let stem = chatdump_core::stem::session_file_stem(id).unwrap();
        let has = |path: &str| record.outputs.iter().any(|output| output.path == path);
        let transcript = format!("_transcripts/date=2024-05-14/{stem}.transcript.parquet");
        let summary = format!("_summaries/date=2024-05-14/{stem}.summary.md");
        assert_eq!(has(&transcript), index % 4 != 3, "{id}");
        assert_eq!(has(&summary), index % 3 != 2, "{id}");
        assert_eq!(root.join(&transcript).is_file(), index % 4 != 3, "{id}");
        if index % 3 != 2 {
            let text = std::fs::read_to_string(root.join(&summary)).unwrap();
            assert!(text.contains("# Meeting summary"), "{text}");
        }
        // Chat files stay in the chat dataset; anything else is in a `_` dataset.
        for output in &record.outputs {
            let chat = output.path.starts_with("date=") && output.path.ends_with(".parquet");
            let part = output.path.starts_with("_transcripts/date=")
                || output.path.starts_with("_summaries/date=");
            assert!(chat || part, "{}", output.path);
        }
    }
    // Nothing but the chat dataset, the manifest and the parts' datasets under the root.
    for entry in std::fs::read_dir(&root).unwrap() {
        let name = entry.unwrap().file_name().to_string_lossy().into_owned();
        assert!(
            name.starts_with("date=")
                || ["_chatdump", "_transcripts", "_summaries"].contains(&name.as_str()),
            "{name}"
        );
    }

    // A re-run changes nothing and fetches nothing.
    let requests = server.requests().len();
    let run = export_all(&server, &spec, &root, &with);
    run.assert_code(0);
    assert_eq!(manifest(&root).0, bytes);
    let json: serde_json::Value = serde_json::from_slice(&std::fs::read(&report).unwrap()).unwrap();
    assert_eq!(json["already_exported"], 8, "{json}");
    let new = &server.requests()[requests..];
    assert!(new.is_empty(), "{new:?}");
}

/// DuckDB reads the chat dataset with the usual glob and finds only chat rows, and reads the
/// utterances as a hive-partitioned dataset of their own.
#[test]
#[cfg_attr(
    not(feature = "test-tools"),
    ignore = "needs python3 with duckdb (scripts/test installs it)"
)]
fn duckdb_reads_the_chat_and_the_transcripts_as_separate_datasets() {
    let server = server();
    let dir = temp_dir();
    let root = dir.path().join("dataset");
    let spec = OrgSpec {
        sessions: 4,
        ..OrgSpec::default()
    };
    export_all(&server, &spec, &root, &["--with", "transcript,summary"]).assert_code(0);
    let script = r#"
import sys, duckdb
root = sys.argv[1]
con = duckdb.connect()
chat = con.execute("SELECT count(*), count(DISTINCT session_id) FROM read_parquet(?, hive_partitioning = true)", [root + "/*/*.parquet"]).fetchone()
speech = con.execute("SELECT count(*), count(DISTINCT session_id), min(date)::VARCHAR, min(start)::VARCHAR FROM read_parquet(?, hive_partitioning = true)", [root + "/_transcripts/*/*.parquet"]).fetchone()
print(chat[0], chat[1], speech[0], speech[1], speech[2], speech[3])
"#;
    let output = crate::support::python3(["-c".as_ref(), script.as_ref(), root.as_os_str()]);
    // Session 3 has no transcript: 3 sessions of 12 utterances.
    assert_eq!(
        String::from_utf8_lossy(&output).trim(),
        format!(
            "{} 4 {} 3 2024-05-14 2024-05-14 00:00:00+00",
            4 * MESSAGES,
            3 * UTTERANCES
        )
    );
}
