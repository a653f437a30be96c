//! `chatdump fetch` and `chatdump export` against the local test server on 127.0.0.1: every
//! injected fault, its outcome, exit code and the files left behind, and that no secret ever
//! reaches the output.

use std::path::Path;
use std::time::{Duration, Instant};

use base64::Engine as _;
use chatdump_testserver::{Config, Route, Server, chat_csv};

use crate::support::{Chatdump, Run, temp_dir, tree};

pub(crate) const ORG_ID: &str = "org-6e1f0a";
pub(crate) const API_KEY: &str = "dyte-key-Zq8xK2pLm9";
pub(crate) const ACCOUNT_ID: &str = "acct-3b7c";
pub(crate) const APP_ID: &str = "app-9d2e";
pub(crate) const API_TOKEN: &str = "cf-token-Wv4Rt7Yh1N";
pub(crate) const MESSAGES: usize = 300;

/// Small waits and timeouts, so that every retry path runs in well under a second.
pub(crate) const FAST: &[&str] = &[
    "--retry-delay",
    "10ms",
    "--retry-max-delay",
    "50ms",
    "--read-timeout",
    "1500ms",
    "--connect-timeout",
    "2s",
    "--max-retry-after",
    "5s",
    "--retry-max-time",
    "30s",
];

pub(crate) fn server() -> Server {
    Server::start(Config {
        org_id: ORG_ID.into(),
        api_key: API_KEY.into(),
        account_id: ACCOUNT_ID.into(),
        app_id: APP_ID.into(),
        api_token: API_TOKEN.into(),
        messages: MESSAGES,
        slow_delay: Duration::from_millis(100),
        stall: Duration::from_secs(20),
        ..Config::default()
    })
    .expect("start the test server on 127.0.0.1")
}

/// `chatdump COMMAND --base-url ... --session-id ... FAST... EXTRA...` against the test server,
/// with Dyte credentials in the environment.
pub(crate) fn chatdump(
    server: &Server,
    command: &str,
    sessions: &[&str],
    extra: &[&str],
) -> Chatdump {
    chatdump_at(
        &server.dyte_base_url(),
        command,
        sessions,
        &[FAST, extra].concat(),
    )
}

/// `chatdump COMMAND --base-url BASE --session-id ... EXTRA...` with Dyte credentials in the
/// environment.
fn chatdump_at(base: &str, command: &str, sessions: &[&str], extra: &[&str]) -> Chatdump {
    let mut args = vec![command, "--base-url", base];
    for session in sessions {
        args.extend(["--session-id", session]);
    }
    args.extend_from_slice(extra);
    hermetic(Chatdump::new(args))
        .env("DYTE_ORG_ID", ORG_ID)
        .env("DYTE_API_KEY", API_KEY)
}

/// No proxy from the environment may stand between the binary and the server on 127.0.0.1, and
/// downloads from the `--base-url`'s host (the test server, on 127.0.0.1) are allowed.
pub(crate) fn hermetic(command: Chatdump) -> Chatdump {
    command
        .allowing_test_server()
        .env("NO_PROXY", "127.0.0.1")
        .env("no_proxy", "127.0.0.1")
}

fn fetch_into(server: &Server, session: &str, dir: &Path, extra: &[&str]) -> Run {
    fetch_from(
        &server.dyte_base_url(),
        session,
        dir,
        &[FAST, extra].concat(),
    )
}

/// `chatdump fetch --base-url BASE --session-id SESSION --output DIR EXTRA...` with Dyte
/// credentials, for any base URL.
fn fetch_from(base: &str, session: &str, dir: &Path, extra: &[&str]) -> Run {
    let out = dir.display().to_string();
    let args = [&["--output", out.as_str()], extra].concat();
    chatdump_at(base, "fetch", &[session], &args).run()
}

/// Asserts no credential and no part of any link's signature appears in the run's output, and
/// that no `Authorization` header ever reached the storage.
#[track_caller]
pub(crate) fn assert_no_secrets(run: &Run, server: &Server) {
    let output = format!("{}\n{}", String::from_utf8_lossy(&run.stdout), run.stderr);
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("{ORG_ID}:{API_KEY}"));
    let mut secrets = vec![API_KEY.to_owned(), API_TOKEN.to_owned(), basic];
    for link in server.links() {
        let query = link.split_once('?').map_or("", |(_, query)| query);
        for pair in query.split('&') {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            if name != "X-Amz-Algorithm"
                && name != "X-Amz-SignedHeaders"
                && name != "X-Amz-Date"
                && name != "X-Amz-Expires"
            {
                secrets.push(value.to_owned());
                secrets.push(value.replace("%2F", "/"));
            }
        }
    }
    for secret in secrets {
        assert!(
            !output.contains(&secret),
            "a secret (`{secret}`) leaked into the output:\n{output}"
        );
    }
    for request in server.requests() {
        if matches!(
            request.route,
            Route::Download | Route::TranscriptDownload | Route::SummaryDownload
        ) {
            assert!(
                !request.authorization,
                "Authorization reached the storage: {request:?}"
            );
        } else {
            assert!(
                request.authorization,
                "an API request without credentials: {request:?}"
            );
        }
    }
}

/// Asserts `dir` holds exactly the complete dump of `session` and nothing else (no temporary
/// file), or is empty.
#[track_caller]
fn assert_dir_holds(dir: &Path, session: Option<&str>) {
    let files = tree(dir);
    match session {
        Some(session) => {
            assert_eq!(
                files
                    .keys()
                    .map(|path| path.display().to_string())
                    .collect::<Vec<_>>(),
                vec![format!("{session}.csv")],
                "unexpected files"
            );
            let saved = files.values().next().cloned().flatten().unwrap_or_default();
            assert!(
                saved == chat_csv(session, MESSAGES),
                "the saved dump differs from the server's ({} bytes)",
                saved.len()
            );
        }
        None => assert!(files.is_empty(), "files left behind: {:?}", files.keys()),
    }
}

pub(crate) fn statuses(server: &Server, route: Route, session: &str) -> Vec<u16> {
    server
        .requests_for(route, session)
        .iter()
        .map(|request| request.status)
        .collect()
}

/// Runs a fault that the client must overcome: exit 0, the complete dump, nothing else. Faults
/// run with `-v`, whose output is a superset of the default's and of `-q`'s, so the secrets check
/// covers every verbosity.
#[track_caller]
fn fetch_recovers(session: &str) -> Server {
    let server = server();
    let dir = temp_dir();
    let run = fetch_into(&server, session, dir.path(), &["-v"]);
    run.assert_code(0);
    assert_dir_holds(dir.path(), Some(session));
    assert_no_secrets(&run, &server);
    server
}

/// Runs a fault that must fail the session: exit 1, no file, and `needle` in the error.
#[track_caller]
fn fetch_fails(session: &str, needle: &str) -> (Server, Run) {
    let server = server();
    let dir = temp_dir();
    let run = fetch_into(&server, session, dir.path(), &["-v"]);
    run.assert_code(1);
    assert!(
        run.stderr.contains(needle),
        "expected `{needle}` in stderr:\n{}",
        run.stderr
    );
    assert_dir_holds(dir.path(), None);
    assert_no_secrets(&run, &server);
    (server, run)
}

#[test]
fn fetch_saves_the_dump_at_every_verbosity_without_leaking_secrets() {
    let server = server();
    for verbosity in ["-q", "", "-v"] {
        let dir = temp_dir();
        let session = format!("ok--{}", verbosity.trim_start_matches('-'));
        let extra: Vec<&str> = [verbosity]
            .into_iter()
            .filter(|flag| !flag.is_empty())
            .collect();
        let run = fetch_into(&server, &session, dir.path(), &extra);
        run.assert_code(0);
        assert_dir_holds(dir.path(), Some(&session));
        assert_no_secrets(&run, &server);
        match verbosity {
            "-q" => assert_eq!(run.stderr, ""),
            "-v" => assert!(run.stderr.contains("<redacted>"), "{}", run.stderr),
            _ => assert!(run.stderr.contains("saved"), "{}", run.stderr),
        }
    }
}

#[test]
fn fetch_to_a_file_and_to_standard_output() {
    let server = server();
    let dir = temp_dir();
    let file = dir.path().join("chat.csv");
    let run = chatdump(
        &server,
        "fetch",
        &["ok--file"],
        &["-o", &file.display().to_string()],
    )
    .run();
    run.assert_code(0);
    assert_eq!(
        std::fs::read(&file).unwrap(),
        chat_csv("ok--file", MESSAGES)
    );
    let run = chatdump(&server, "fetch", &["ok--stdout"], &["-o", "-"]).run();
    run.assert_code(0);
    assert_eq!(run.stdout, chat_csv("ok--stdout", MESSAGES));
    assert_no_secrets(&run, &server);
}

#[test]
fn realtimekit_provider_with_bearer_token_and_camel_case_answer() {
    let server = server();
    let dir = temp_dir();
    let base = server.realtimekit_base_url();
    let out = dir.path().display().to_string();
    for session in ["ok--rtk", "camel-case--rtk"] {
        let mut args = vec![
            "fetch",
            "--provider",
            "realtimekit",
            "--base-url",
            &base,
            "--session-id",
            session,
            "-v",
            "--output",
            &out,
        ];
        args.extend_from_slice(FAST);
        let run = hermetic(Chatdump::new(args))
            .env("CLOUDFLARE_ACCOUNT_ID", ACCOUNT_ID)
            .env("REALTIMEKIT_APP_ID", APP_ID)
            .env("CLOUDFLARE_API_TOKEN", API_TOKEN)
            .run();
        run.assert_code(0);
        assert_no_secrets(&run, &server);
        assert_eq!(
            std::fs::read(dir.path().join(format!("{session}.csv"))).unwrap(),
            chat_csv(session, MESSAGES)
        );
    }
}

#[test]
fn realtimekit_wrong_token_is_a_credentials_error() {
    let server = server();
    let dir = temp_dir();
    let base = server.realtimekit_base_url();
    let out = dir.path().display().to_string();
    let mut args = vec![
        "fetch",
        "--provider",
        "realtimekit",
        "--base-url",
        &base,
        "--session-id",
        "ok",
        "--account-id",
        ACCOUNT_ID,
        "--app-id",
        APP_ID,
        "--output",
        &out,
    ];
    args.extend_from_slice(FAST);
    let run = hermetic(Chatdump::new(args))
        .env("CLOUDFLARE_API_TOKEN", "not-the-token")
        .run();
    run.assert_code(1);
    assert!(
        run.stderr
            .contains("refused the credentials (HTTP 401: Authentication error (code 10000))"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("CLOUDFLARE_API_TOKEN"),
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains("not-the-token"), "{}", run.stderr);
    assert_dir_holds(dir.path(), None);
}

#[test]
fn wrong_dyte_key_stops_every_session() {
    let server = server();
    let dir = temp_dir();
    let out = dir.path().display().to_string();
    let mut args = vec![
        "fetch",
        "--base-url",
        "",
        "--session-id",
        "ok--a",
        "--session-id",
        "ok--b",
        "--output",
        &out,
    ];
    let base = server.dyte_base_url();
    args[2] = &base;
    let run = hermetic(Chatdump::new(args))
        .env("DYTE_ORG_ID", ORG_ID)
        .env("DYTE_API_KEY", "wrong-key-123")
        .run();
    run.assert_code(1);
    assert!(
        run.stderr
            .contains("the API refused the credentials (HTTP 401: Unauthorized (code 401))"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("skipped the 1 remaining sessions"),
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains("wrong-key-123"));
    assert_eq!(
        server.requests().len(),
        1,
        "the second session must not be tried"
    );
    assert_dir_holds(dir.path(), None);
}

#[test]
fn api_key_from_a_file_or_standard_input() {
    let server = server();
    let dir = temp_dir();
    let key_file = dir.path().join("key");
    std::fs::write(&key_file, format!("{API_KEY}\n")).unwrap();
    let out = dir.path().join("out");
    let out_text = out.display().to_string();
    let key_text = key_file.display().to_string();
    let base = server.dyte_base_url();
    for (session, file) in [("ok--file-key", key_text.as_str()), ("ok--stdin-key", "-")] {
        let mut args = vec![
            "fetch",
            "--base-url",
            &base,
            "--org-id",
            ORG_ID,
            "--session-id",
            session,
            "--api-key-file",
            file,
            "--output",
            &out_text,
        ];
        args.extend_from_slice(FAST);
        let run = hermetic(Chatdump::new(args))
            .stdin(format!("{API_KEY}\n"))
            .run();
        run.assert_code(0);
        assert_no_secrets(&run, &server);
    }
}

#[test]
fn missing_credentials_and_help_are_usage_matters_without_secrets() {
    let run = Chatdump::new(["fetch", "--session-id", "x", "--output", "/nonexistent/dir"])
        .env("DYTE_ORG_ID", "org-secret-value")
        .env("DYTE_API_KEY", "")
        .run();
    run.assert_code(2);
    assert!(run.stderr.contains("DYTE_API_KEY"), "{}", run.stderr);
    for command in ["fetch", "export"] {
        let run = Chatdump::new([command, "--help"])
            .env("DYTE_ORG_ID", "org-secret-value")
            .env("DYTE_API_KEY", API_KEY)
            .env("CLOUDFLARE_API_TOKEN", API_TOKEN)
            .run();
        run.assert_code(0);
        let help = run.stdout_text();
        assert!(
            help.contains("DYTE_ORG_ID") && help.contains("REALTIMEKIT_APP_ID"),
            "{help}"
        );
        assert!(
            !help.contains("org-secret-value")
                && !help.contains(API_KEY)
                && !help.contains(API_TOKEN)
        );
    }
}

/// The API configuration is checked by `chatdump_api::Api::new`; each of its errors is a usage
/// error (exit 2) with the text that names what to set, and no secret.
#[test]
fn api_configuration_errors_are_usage_errors() {
    let cases: [(&[&str], &str); 5] = [
        (
            &["--base-url", "not a url"],
            "error: --base-url `not a url` is not a URL",
        ),
        (
            &["--base-url", "ftp://user:pw@example.com/v2?token=t"],
            "error: --base-url `ftp://example.com/v2?token=<redacted>` is not an http or https URL",
        ),
        (
            &["--org-id", " "],
            "error: the organization id (--org-id or DYTE_ORG_ID) is missing",
        ),
        (
            &["--provider", "realtimekit", "--account-id", "acc"],
            "error: the app id (--app-id or REALTIMEKIT_APP_ID) is missing",
        ),
        (
            &["--provider", "realtimekit", "--app-id", "app"],
            "error: the account id (--account-id or CLOUDFLARE_ACCOUNT_ID) is missing",
        ),
    ];
    for (flags, expected) in cases {
        let run = Chatdump::new([&["fetch", "--session-id", "x"], flags].concat())
            .env("DYTE_ORG_ID", "")
            .env("CLOUDFLARE_ACCOUNT_ID", "")
            .env("REALTIMEKIT_APP_ID", "")
            .env("DYTE_API_KEY", API_KEY)
            .env("CLOUDFLARE_API_TOKEN", API_TOKEN)
            .run();
        run.assert_code(2);
        assert_eq!(run.stderr.trim_end(), expected);
        assert!(!run.stderr.contains(API_KEY) && !run.stderr.contains(API_TOKEN));
    }
}

// Faults the client must overcome.

#[test]
fn api_500_once_is_retried() {
    let server = fetch_recovers("api-500-once");
    assert_eq!(
        statuses(&server, Route::DyteApi, "api-500-once"),
        [500, 200]
    );
}

#[test]
fn api_429_honours_retry_after_seconds() {
    let started = Instant::now();
    let server = fetch_recovers("api-429-once");
    assert_eq!(
        statuses(&server, Route::DyteApi, "api-429-once"),
        [429, 200]
    );
    assert!(
        started.elapsed() >= Duration::from_millis(900),
        "Retry-After: 1 was not honoured"
    );
}

#[test]
fn api_429_honours_retry_after_as_an_http_date() {
    let server = fetch_recovers("api-429-date");
    assert_eq!(
        statuses(&server, Route::DyteApi, "api-429-date"),
        [429, 200]
    );
}

#[test]
fn expired_link_is_refreshed_before_use() {
    let server = fetch_recovers("expired-link-once");
    assert_eq!(
        statuses(&server, Route::DyteApi, "expired-link-once"),
        [200, 200]
    );
    assert_eq!(
        statuses(&server, Route::Download, "expired-link-once"),
        [200]
    );
}

#[test]
fn nearly_expired_link_is_refreshed_before_use() {
    let server = fetch_recovers("expiring-link-once");
    assert_eq!(
        statuses(&server, Route::DyteApi, "expiring-link-once"),
        [200, 200]
    );
    assert_eq!(
        statuses(&server, Route::Download, "expiring-link-once"),
        [200]
    );
}

#[test]
fn storage_403_gets_a_fresh_link() {
    let server = fetch_recovers("revoked-link-once");
    assert_eq!(
        statuses(&server, Route::DyteApi, "revoked-link-once"),
        [200, 200]
    );
    assert_eq!(
        statuses(&server, Route::Download, "revoked-link-once"),
        [403, 200]
    );
}

#[test]
fn storage_500_and_503_are_retried() {
    let server = fetch_recovers("download-500-once");
    assert_eq!(
        statuses(&server, Route::Download, "download-500-once"),
        [500, 200]
    );
    let server = fetch_recovers("download-503-once");
    assert_eq!(
        statuses(&server, Route::Download, "download-503-once"),
        [503, 200]
    );
}

#[test]
fn reset_mid_body_resumes_with_a_guarded_range_request() {
    let server = fetch_recovers("reset-once");
    let requests = server.requests_for(Route::Download, "reset-once");
    assert_eq!(requests.len(), 2, "{requests:?}");
    let resume = &requests[1];
    assert_eq!(resume.status, 206);
    assert!(
        resume
            .range
            .as_deref()
            .is_some_and(|range| range.starts_with("bytes=") && range != "bytes=0-")
    );
    assert!(
        resume
            .if_match
            .as_deref()
            .is_some_and(|tag| tag.starts_with('"')),
        "{resume:?}"
    );
}

#[test]
fn reset_without_range_support_restarts_cleanly() {
    let server = fetch_recovers("reset-norange-once");
    let requests = server.requests_for(Route::Download, "reset-norange-once");
    assert_eq!(requests.len(), 2);
    assert_eq!(requests[1].range, None);
}

#[test]
fn changed_etag_makes_the_resume_restart() {
    let server = fetch_recovers("etag-changed-once");
    assert_eq!(
        statuses(&server, Route::Download, "etag-changed-once"),
        [200, 412, 200]
    );
}

#[test]
fn body_cut_short_once_is_completed() {
    fetch_recovers("truncated-once");
}

#[test]
fn slow_but_progressing_body_is_not_cut() {
    let started = Instant::now();
    let server = fetch_recovers("slow");
    // The whole body (27 pieces 100 ms apart) takes longer than the read timeout (1.5 s): only
    // an idle timeout lets it finish.
    assert!(started.elapsed() > Duration::from_millis(1500));
    assert_eq!(statuses(&server, Route::Download, "slow"), [200]);
}

#[test]
fn stalled_body_times_out_and_resumes() {
    let server = fetch_recovers("stall-once");
    assert_eq!(statuses(&server, Route::Download, "stall-once"), [200, 206]);
}

#[test]
fn kms_encrypted_object_etag_is_not_taken_for_an_md5() {
    fetch_recovers("kms-etag");
}

// Faults that must fail the session, leaving nothing behind.

#[test]
fn body_always_cut_at_a_record_boundary_is_an_error() {
    fetch_fails("truncated-always", "gave up after 4 attempts");
}

#[test]
fn lying_content_length_is_caught_by_the_etag_md5() {
    fetch_fails("lying-length", "the MD5 of the");
}

#[test]
fn resets_every_time_give_up_after_the_attempts() {
    let (server, _) = fetch_fails("reset-always", "gave up after 4 attempts");
    assert_eq!(
        server.requests_for(Route::Download, "reset-always").len(),
        4
    );
}

#[test]
fn empty_body_is_a_failed_download_not_an_empty_chat() {
    fetch_fails("empty-body", "the body is empty (0 bytes)");
}

#[test]
fn storage_refusing_every_link_is_bounded() {
    let (server, _) = fetch_fails(
        "revoked-link-always",
        "the storage refused the download link (HTTP 403: Request has expired) after 3 fresh links",
    );
    assert_eq!(
        server
            .requests_for(Route::DyteApi, "revoked-link-always")
            .len(),
        4
    );
}

#[test]
fn rate_limited_after_retries() {
    let (server, _) = fetch_fails(
        "api-429-always",
        "rate limited by the API (HTTP 429: Too many requests (code 429)); gave up after 4 attempts",
    );
    assert_eq!(
        server.requests_for(Route::DyteApi, "api-429-always").len(),
        4
    );
}

#[test]
fn retry_after_beyond_the_limit_fails_at_once() {
    let started = Instant::now();
    fetch_fails("api-429-long", "the server asks to wait 3600 s");
    assert!(started.elapsed() < Duration::from_secs(10));
}

#[test]
fn api_not_found_names_the_likely_reasons() {
    let (_, run) = fetch_fails(
        "not-found--x",
        "no chat for session `not-found--x` (HTTP 404: No chat found for session not-found--x (code 404))",
    );
    for reason in ["not enabled", "still live", "retention"] {
        assert!(run.stderr.contains(reason), "{}", run.stderr);
    }
}

#[test]
fn api_bad_answers_are_clear_errors() {
    fetch_fails("api-bad-json", "cannot be used: not JSON");
    fetch_fails("api-empty", "cannot be used: the body is empty");
    fetch_fails(
        "api-success-false",
        "the API reported a failure for session `api-success-false`: Chat replay is not enabled for this organization (code 1001)",
    );
}

// Several sessions, and export.

#[test]
fn some_sessions_failing_exit_3_and_keep_the_others() {
    let server = server();
    let dir = temp_dir();
    let out = dir.path().display().to_string();
    let run = chatdump(
        &server,
        "fetch",
        &["ok--one", "not-found--two", "ok--three"],
        &["--output", &out],
    )
    .run();
    run.assert_code(3);
    assert!(
        run.stderr
            .contains("error: session `not-found--two`: no chat"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("error: 1 of 3 sessions failed"),
        "{}",
        run.stderr
    );
    let files: Vec<String> = tree(dir.path())
        .keys()
        .map(|path| path.display().to_string())
        .collect();
    assert_eq!(files, ["ok--one.csv", "ok--three.csv"]);
    let run = chatdump(
        &server,
        "fetch",
        &["not-found--a", "empty-body--b"],
        &["--output", &out],
    )
    .run();
    run.assert_code(1);
    assert!(
        run.stderr.contains("all 2 sessions failed"),
        "{}",
        run.stderr
    );
    assert_no_secrets(&run, &server);
}

#[test]
fn export_converts_exactly_like_convert() {
    let server = server();
    let dir = temp_dir();
    let out = dir.path().join("out");
    let out_text = out.display().to_string();
    let run = chatdump(
        &server,
        "export",
        &["reset-once--e"],
        &[
            "--format",
            "jsonl",
            "--output",
            &out_text,
            "--keep-csv",
            "-v",
        ],
    )
    .run();
    run.assert_code(0);
    assert_no_secrets(&run, &server);
    let csv = out.join("reset-once--e.csv");
    assert_eq!(
        std::fs::read(&csv).unwrap(),
        chat_csv("reset-once--e", MESSAGES)
    );
    let exported = std::fs::read(out.join("reset-once--e.jsonl")).unwrap();
    let converted = Chatdump::new([
        "convert",
        csv.to_str().unwrap(),
        "--format",
        "jsonl",
        "--output",
        "-",
    ])
    .run();
    converted.assert_code(0);
    assert_eq!(exported, converted.stdout);
    assert_eq!(String::from_utf8_lossy(&exported).lines().count(), MESSAGES);

    // Without --keep-csv only the converted output remains, and no scratch directory.
    let other = dir.path().join("other");
    let run = chatdump(
        &server,
        "export",
        &["ok--e2"],
        &[
            "--format",
            "jsonl",
            "--output",
            &other.display().to_string(),
        ],
    )
    .run();
    run.assert_code(0);
    let files: Vec<String> = tree(&other)
        .keys()
        .map(|path| path.display().to_string())
        .collect();
    assert_eq!(files, ["ok--e2.jsonl"]);
}

#[test]
fn failed_export_leaves_the_output_directory_as_it_was() {
    let server = server();
    let dir = temp_dir();
    std::fs::write(dir.path().join("truncated-always.jsonl"), b"old\n").unwrap();
    let before = tree(dir.path());
    let out = dir.path().display().to_string();
    let run = chatdump(
        &server,
        "export",
        &["truncated-always"],
        &["--format", "jsonl", "--output", &out],
    )
    .run();
    run.assert_code(1);
    assert_eq!(tree(dir.path()), before);
    assert_no_secrets(&run, &server);
    // A directory the failed export created is removed again.
    let fresh = dir.path().join("fresh");
    let run = chatdump(
        &server,
        "export",
        &["lying-length"],
        &["--output", &fresh.display().to_string()],
    )
    .run();
    run.assert_code(1);
    assert!(!fresh.exists());
}

#[test]
fn export_output_names_the_session_not_a_temporary_path() {
    let server = server();
    let dir = temp_dir();
    let mut transcripts = Vec::new();
    for name in ["first", "second"] {
        let out = dir.path().join(name);
        let run = chatdump(
            &server,
            "export",
            &["ok--same"],
            &[
                "--format",
                "jsonl,md",
                "--output",
                &out.display().to_string(),
            ],
        )
        .run();
        run.assert_code(0);
        assert!(
            run.stderr.contains("ok--same.csv: 300 messages written"),
            "{}",
            run.stderr
        );
        assert!(!run.stderr.contains(".chatdump-export-"), "{}", run.stderr);
        transcripts.push(std::fs::read(out.join("ok--same.md")).unwrap());
    }
    assert_eq!(
        transcripts[0], transcripts[1],
        "the transcript depends on a temporary path"
    );
}

#[test]
fn unreachable_api_is_retried_then_reported() {
    // A port that was free a moment ago: connections to it are refused.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free port")
        .port();
    let dir = temp_dir();
    let base = format!("http://127.0.0.1:{port}/v2");
    let run = fetch_from(&base, "ok", dir.path(), &[FAST, &["-v"]].concat());
    run.assert_code(1);
    assert!(
        run.stderr.contains(&format!(
            "cannot reach the API at `http://127.0.0.1:{port}/v2/sessions/ok/chat`; gave up after 4 attempts"
        )),
        "{}",
        run.stderr
    );
    assert_eq!(
        run.stderr.matches("retrying in").count(),
        3,
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains(API_KEY));
    assert_dir_holds(dir.path(), None);
}

/// A listener whose accept queue is full: the kernel drops further SYNs, so a connection to it
/// neither succeeds nor is refused, as with a host that never answers. Returns the listener and
/// the connections that filled its queue (both must stay alive), and its address.
fn silent_listener() -> (
    socket2::Socket,
    Vec<std::net::TcpStream>,
    std::net::SocketAddr,
) {
    use socket2::{Domain, Socket, Type};
    let listener = Socket::new(Domain::IPV4, Type::STREAM, None).expect("a socket");
    let any: std::net::SocketAddr = "127.0.0.1:0".parse().unwrap();
    listener.bind(&any.into()).expect("bind 127.0.0.1");
    // Nothing accepts, and the queue holds about one connection (backlog 0).
    listener.listen(0).expect("listen");
    let addr = listener
        .local_addr()
        .ok()
        .and_then(|addr| addr.as_socket())
        .expect("its address");
    let mut held = Vec::new();
    for _ in 0..64 {
        match std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(200)) {
            Ok(stream) => held.push(stream),
            Err(error) if error.kind() == std::io::ErrorKind::TimedOut => {
                return (listener, held, addr);
            }
            Err(error) => panic!("filling the accept queue of {addr}: {error}"),
        }
    }
    panic!("the accept queue of {addr} never filled");
}

#[test]
fn api_that_never_answers_times_out_on_connect() {
    let (_listener, _held, addr) = silent_listener();
    let dir = temp_dir();
    let base = format!("http://{addr}/v2");
    let started = Instant::now();
    let run = fetch_from(
        &base,
        "ok",
        dir.path(),
        &[
            "--connect-timeout",
            "300ms",
            "--retries",
            "1",
            "--retry-delay",
            "10ms",
            "--retry-max-delay",
            "10ms",
        ],
    );
    let elapsed = started.elapsed();
    run.assert_code(1);
    let expected = format!(
        "cannot reach the API at `http://{addr}/v2/sessions/ok/chat`; gave up after 2 attempts: \
         no connection within the connect timeout of 0.3 s"
    );
    assert!(run.stderr.contains(&expected), "{}", run.stderr);
    // Two attempts of 0.3 s each, not the kernel's minutes of SYN retries.
    assert!(
        elapsed < Duration::from_secs(10),
        "took {elapsed:?}: {}",
        run.stderr
    );
    assert!(!run.stderr.contains(API_KEY));
    assert_dir_holds(dir.path(), None);
}

/// The check that no `Authorization` header reaches the storage is only worth something if the
/// server notices one: send it one by hand.
#[test]
fn test_server_refuses_and_records_an_authorization_header_on_downloads() {
    use std::io::{Read as _, Write as _};

    fn get(server: &Server, target: &str, authorization: &str) -> String {
        let mut stream = std::net::TcpStream::connect(server.addr()).expect("connect");
        write!(
            stream,
            "GET {target} HTTP/1.1\r\nHost: {}\r\nAuthorization: {authorization}\r\nConnection: close\r\n\r\n",
            server.addr()
        )
        .expect("send");
        let mut response = String::new();
        stream.read_to_string(&mut response).expect("receive");
        response
    }

    let server = server();
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("{ORG_ID}:{API_KEY}"));
    let answer = get(&server, "/v2/sessions/ok/chat", &format!("Basic {basic}"));
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    let link = server.links().pop().expect("a link was handed out");
    let target = link.split_once("127.0.0.1").map(|(_, rest)| rest).unwrap();
    let target = &target[target.find('/').unwrap()..];
    let answer = get(&server, target, &format!("Basic {basic}"));
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    assert!(
        answer.contains("Only one auth mechanism allowed"),
        "{answer}"
    );
    let downloads = server.requests_for(Route::Download, "ok");
    assert_eq!(downloads.len(), 1);
    assert!(downloads[0].authorization);
}

#[test]
fn retry_time_budget_stops_the_retries() {
    let server = server();
    let dir = temp_dir();
    let run = fetch_from(
        &server.dyte_base_url(),
        "api-429-always",
        dir.path(),
        &["--retry-max-time", "500ms"],
    );
    run.assert_code(1);
    assert!(
        run.stderr
            .contains("rate limited by the API (HTTP 429: Too many requests (code 429)); gave up: the retry time budget of 0.5 s is spent"),
        "{}",
        run.stderr
    );
    assert_eq!(server.requests().len(), 1);
    assert_dir_holds(dir.path(), None);
}

#[test]
fn quiet_failure_prints_only_the_error() {
    let server = server();
    let dir = temp_dir();
    let run = fetch_into(&server, "not-found--quiet", dir.path(), &["-q"]);
    run.assert_code(1);
    assert_eq!(run.stderr.lines().count(), 1, "{}", run.stderr);
    assert!(
        run.stderr
            .starts_with("error: session `not-found--quiet`: no chat"),
        "{}",
        run.stderr
    );
    assert!(run.stdout.is_empty());
    assert_no_secrets(&run, &server);
}

/// `chatdump COMMAND --base-url ... --session-id SESSION --output DIR FAST... EXTRA...` with
/// Dyte credentials, but without `--allow-private-download-host` for the test server.
fn unguarded(server: &Server, command: &str, session: &str, dir: &Path, extra: &[&str]) -> Run {
    let base = server.dyte_base_url();
    let out = dir.display().to_string();
    let mut args = vec![
        command,
        "--base-url",
        &base,
        "--session-id",
        session,
        "--output",
        &out,
    ];
    args.extend_from_slice(FAST);
    args.extend_from_slice(extra);
    Chatdump::new(args)
        .env("NO_PROXY", "127.0.0.1")
        .env("no_proxy", "127.0.0.1")
        .env("DYTE_ORG_ID", ORG_ID)
        .env("DYTE_API_KEY", API_KEY)
        .run()
}

/// The refusal names the host and the address, and shows neither the link's path nor its query.
#[track_caller]
fn assert_refused(run: &Run, server: &Server, expected: &str) {
    run.assert_code(1);
    assert!(run.stderr.contains(expected), "{}", run.stderr);
    for leak in ["X-Amz", "?", "/storage/", "chat-dumps"] {
        assert!(!run.stderr.contains(leak), "`{leak}` in: {}", run.stderr);
    }
    assert_no_secrets(run, server);
}

#[test]
fn a_link_to_a_loopback_address_is_refused_without_the_flag() {
    let server = server();
    for command in ["fetch", "export"] {
        let dir = temp_dir();
        let session = format!("ok--guard-{command}");
        let run = unguarded(&server, command, &session, dir.path(), &[]);
        assert_refused(
            &run,
            &server,
            "the download link's host `127.0.0.1` is a loopback address (127.0.0.1)",
        );
        // Refused before any request reached the storage, and not retried.
        assert!(server.requests_for(Route::Download, &session).is_empty());
        assert_eq!(server.requests_for(Route::DyteApi, &session).len(), 1);
        assert!(tree(dir.path()).is_empty(), "{:?}", tree(dir.path()));
    }
    // Another port of an allowed address is still refused.
    let dir = temp_dir();
    let other_port = format!("127.0.0.1:{}", server.addr().port().wrapping_add(1).max(1));
    let run = unguarded(
        &server,
        "fetch",
        "ok--guard-port",
        dir.path(),
        &["--allow-private-download-host", &other_port],
    );
    assert_refused(&run, &server, "host `127.0.0.1` is a loopback address");
    // A value that is not HOST:PORT is a usage error.
    let run = unguarded(
        &server,
        "fetch",
        "ok--guard-usage",
        dir.path(),
        &["--allow-private-download-host", "127.0.0.1"],
    );
    run.assert_code(2);
    assert!(
        run.stderr
            .contains("--allow-private-download-host: `127.0.0.1` is not HOST:PORT"),
        "{}",
        run.stderr
    );
}

#[test]
fn a_host_name_resolving_to_a_private_address_is_refused() {
    let server = server();
    let dir = temp_dir();
    // The test server is allowed by address; `localhost` is a name that resolves to loopback.
    let run = fetch_into(&server, "link-localhost--guard", dir.path(), &[]);
    assert_refused(
        &run,
        &server,
        "the download link's host `localhost` resolves to a loopback address",
    );
    assert!(
        server
            .requests_for(Route::Download, "link-localhost--guard")
            .is_empty()
    );
    assert_eq!(
        server
            .requests_for(Route::DyteApi, "link-localhost--guard")
            .len(),
        1
    );
    assert!(tree(dir.path()).is_empty());
}

#[test]
fn a_redirect_to_a_private_address_is_refused() {
    let server = server();
    let dir = temp_dir();
    let session = "redirect-localhost--guard";
    let run = fetch_into(&server, session, dir.path(), &[]);
    assert_refused(
        &run,
        &server,
        "the download link's host `localhost` resolves to a loopback address",
    );
    // The allowed first hop was asked; the redirect's target never was.
    assert_eq!(server.requests_for(Route::Download, session).len(), 1);
    assert!(tree(dir.path()).is_empty());

    // Allowed explicitly, the redirect is followed.
    let session = "redirect-localhost--allowed";
    let localhost = format!("localhost:{}", server.addr().port());
    let run = fetch_into(
        &server,
        session,
        dir.path(),
        &["--allow-private-download-host", &localhost],
    );
    run.assert_code(0);
    assert_eq!(server.requests_for(Route::Download, session).len(), 2);
    assert_dir_holds(dir.path(), Some(session));
}

/// The help pages repeat the providers' defaults as prose; they must say what
/// `chatdump_api::Provider` holds (the one place the defaults are written in code).
#[test]
fn help_states_the_providers_defaults() {
    use chatdump_api::Provider;
    let help = |args: &[&str]| {
        let run = Chatdump::new(args).run();
        run.assert_code(0);
        run.stdout_text()
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
    };
    let export = help(&["export", "--help"]);
    let serve = help(&["serve", "--help"]);
    for provider in [Provider::Dyte, Provider::RealtimeKit] {
        assert!(export.contains(provider.default_base_url()), "{export}");
        assert!(export.contains(provider.secret_variable()), "{export}");
        for variable in provider.id_variables() {
            assert!(export.contains(variable), "{export}");
        }
        assert!(
            export.contains(&format!(
                "{} for {provider}",
                provider.default_requests_per_minute()
            )),
            "{export}"
        );
        assert!(serve.contains(provider.webhook_key_url()), "{serve}");
    }
}
