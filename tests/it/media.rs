//! `--media` (issue 19) against the test server's `/media/*` fixtures: what is stored, how the
//! transcripts and data files point at it, every failure the issue lists, `--media-required`,
//! and byte-identical reruns.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use chatdump_testserver::media::{media_jpeg, media_png};
use chatdump_testserver::{Config, Route, Server};

use crate::support::{Chatdump, Run, temp_dir, tree};

/// Every signature in the dump carries this, so a leak is easy to find.
const SECRET: &str = "SIGSECRET";

pub(crate) fn server() -> Server {
    Server::start(Config {
        stall: Duration::from_secs(3),
        ..Config::default()
    })
    .expect("start the test server on 127.0.0.1")
}

/// A dump whose messages link to `/media/NAME` for each `(id, kind, name)`: `image` is an
/// `IMAGE_MESSAGE`, `file` a `FILE_MESSAGE` with the SDK's JSON payload.
pub(crate) fn dump(server: &Server, messages: &[(&str, &str, &str)]) -> String {
    let mut csv = String::from(
        "id,participantId,sessionId,meetingId,displayName,pinned,isEdited,payloadType,payload,createdAt\n",
    );
    for (index, (id, kind, name)) in messages.iter().enumerate() {
        let url = format!(
            "http://{}/media/{name}?X-Amz-Expires=604800&X-Amz-Signature={SECRET}{index}",
            server.addr()
        );
        let (payload_type, payload) = match *kind {
            "image" => ("IMAGE_MESSAGE", url),
            "file" => (
                "FILE_MESSAGE",
                format!(
                    "\"{{\"\"link\"\":\"\"{url}\"\",\"\"name\"\":\"\"Q2 report (v3) {name}\"\",\"\"size\"\":\"\"191\"\"}}\""
                ),
            ),
            "text" => ("TEXT_MESSAGE", (*name).to_owned()),
            other => panic!("unknown kind {other}"),
        };
        csv.push_str(&format!(
            "{id},p1,s1,mt1,Ann,false,false,{payload_type},{payload},2024-05-14T09:00:{:02}.000Z\n",
            index + 1
        ));
    }
    csv
}

/// Writes `csv` as `chat.csv` in `dir`.
pub(crate) fn write_dump(dir: &Path, csv: &str) -> PathBuf {
    let path = dir.join("chat.csv");
    fs::write(&path, csv).expect("write the dump");
    path
}

/// `chatdump convert INPUT -f FORMATS -o OUT --media MODE` allowed to fetch from the server.
pub(crate) fn convert(
    server: &Server,
    input: &Path,
    out: &Path,
    formats: &str,
    extra: &[&str],
) -> Run {
    let insecure = server.addr().to_string();
    let mut args = vec![
        "convert".to_owned(),
        input.display().to_string(),
        "-f".into(),
        formats.into(),
        "-o".into(),
        format!("{}/", out.display()),
        "--allow-insecure-media-host".into(),
        insecure,
        "--media-timeout".into(),
        "500ms".into(),
    ];
    args.extend(extra.iter().map(|arg| (*arg).to_owned()));
    Chatdump::new(args).run()
}

fn read(path: &Path) -> String {
    fs::read_to_string(path).unwrap_or_else(|error| panic!("read {}: {error}", path.display()))
}

/// The names in `dir`, sorted.
fn names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap_or_else(|error| panic!("list {}: {error}", dir.display()))
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn download_stores_each_link_once_and_the_transcripts_link_the_copy() {
    let server = server();
    let dir = temp_dir();
    let csv = dump(
        &server,
        &[
            ("m1", "image", "pixel.png"),
            ("m2", "image", "photo.jpg"),
            ("m3", "file", "doc.pdf"),
            ("m4", "text", "hello"),
        ],
    );
    // m5 repeats m1's link exactly: one fetch, one file.
    let repeated = csv
        .lines()
        .nth(1)
        .unwrap()
        .replacen("m1,", "m5,", 1)
        .replace(":01.000Z", ":05.000Z");
    let input = write_dump(dir.path(), &format!("{csv}{repeated}\n"));
    let out = dir.path().join("out");
    let run = convert(&server, &input, &out, "html,md", &["--media", "download"]);
    run.assert_code(0);
    assert!(
        run.stderr.contains("3 attachments saved (3 files, "),
        "{}",
        run.stderr
    );
    assert_eq!(server.requests_for(Route::Media, "pixel.png").len(), 1);
    assert!(
        server
            .requests()
            .iter()
            .all(|request| !request.authorization && request.referer.is_none())
    );
    // Only the outputs and the media directory: no temporary left behind.
    assert_eq!(names(&out), ["chat.html", "chat.md", "chat.media"]);
    let mut stored = names(&out.join("chat.media"));
    // The index of what is stored, for a re-run: one entry per link, its identity without the
    // query string (no signature), sorted.
    assert_eq!(stored.pop().as_deref(), Some("index.json"), "{stored:?}");
    assert_eq!(stored.len(), 3, "{stored:?}");
    let index_text = read(&out.join("chat.media/index.json"));
    assert!(
        !index_text.contains(SECRET) && !index_text.contains('?'),
        "{index_text}"
    );
    let index: serde_json::Value = serde_json::from_str(&index_text).expect("JSON");
    assert_eq!(index["chatdump_media_index"], 1);
    let listed: Vec<(&str, &str)> = index["links"]
        .as_array()
        .unwrap()
        .iter()
        .map(|entry| {
            (
                entry["link"].as_str().unwrap(),
                entry["file"].as_str().unwrap(),
            )
        })
        .collect();
    let base = format!("http://{}/media/", server.addr());
    let links: Vec<String> = ["doc.pdf", "photo.jpg", "pixel.png"]
        .iter()
        .map(|name| format!("{base}{name}"))
        .collect();
    assert_eq!(
        listed.iter().map(|(link, _)| *link).collect::<Vec<_>>(),
        links,
        "{index_text}"
    );
    for (_, file) in &listed {
        assert!(stored.iter().any(|name| name == file), "{file}");
    }
    let png = stored
        .iter()
        .find(|name| name.ends_with("-pixel.png"))
        .unwrap();
    assert_eq!(
        fs::read(out.join("chat.media").join(png)).unwrap(),
        media_png()
    );
    let jpeg = stored
        .iter()
        .find(|name| name.ends_with("-photo.jpg"))
        .unwrap();
    assert_eq!(
        fs::read(out.join("chat.media").join(jpeg)).unwrap(),
        media_jpeg()
    );
    let pdf = stored
        .iter()
        .find(|name| name.ends_with("-Q2_report_v3_doc.pdf"))
        .unwrap();
    let markdown = read(&out.join("chat.md"));
    assert!(
        markdown.contains(&format!("[Image](chat.media/{png})")),
        "{markdown}"
    );
    assert!(
        markdown.contains(&format!("(chat.media/{pdf})")),
        "{markdown}"
    );
    let html = read(&out.join("chat.html"));
    assert!(
        html.contains(&format!("href=\"chat.media&#x2f;{png}\"")),
        "{html}"
    );
    assert!(html.contains("(saved copy)"));
    // The stored links replace the signed ones: no signature is left in the transcripts.
    for text in [&markdown, &html, &run.stderr] {
        assert!(!text.contains(SECRET), "{text}");
    }
}

#[test]
fn failures_are_warnings_naming_the_message_and_the_transcript_says_why() {
    let server = server();
    let dir = temp_dir();
    let input = write_dump(
        dir.path(),
        &dump(
            &server,
            &[
                ("ok", "image", "pixel.png"),
                ("expired", "image", "expired.png"),
                ("missing", "file", "gone.pdf"),
                ("big", "file", "big.bin"),
                ("redirected", "image", "redirect-localhost.png"),
                ("metadata", "image", "redirect-metadata.png"),
                ("slow", "image", "slow.png"),
            ],
        ),
    );
    let out = dir.path().join("out");
    let run = convert(
        &server,
        &input,
        &out,
        "html,md",
        &["--media", "download", "--media-max-size", "32KiB"],
    );
    run.assert_code(0);
    let warnings = run.stderr_lines("warning: ");
    let expect = [
        ("expired", "HTTP 403"),
        ("missing", "HTTP 404"),
        ("big", "larger than the per-file cap of 32768 bytes"),
        ("redirected", "redirect refused"),
        ("metadata", "169.254.169.254` is a link-local address"),
        ("slow", "no data arrived for 0.5 s"),
    ];
    for (id, reason) in expect {
        assert!(
            warnings
                .iter()
                .any(|line| line.contains(&format!("message `{id}`")) && line.contains(reason)),
            "{id}: {reason} not in {warnings:#?}"
        );
    }
    assert!(
        run.stderr
            .contains("1 attachment saved (1 file, 67 bytes), 6 unavailable"),
        "{}",
        run.stderr
    );
    // One file and the index, which lists it alone: failures are tried again by a re-run.
    assert_eq!(names(&out.join("chat.media")).len(), 2);
    let index: serde_json::Value =
        serde_json::from_str(&read(&out.join("chat.media/index.json"))).unwrap();
    assert_eq!(index["links"].as_array().unwrap().len(), 1, "{index}");
    let html = read(&out.join("chat.html"));
    assert_eq!(
        html.matches("<p class=\"unavailable\">⚠️ Not saved: ")
            .count(),
        6
    );
    assert!(html.contains("Not saved: HTTP 403"), "{html}");
    let markdown = read(&out.join("chat.md"));
    assert_eq!(markdown.matches(" · ⚠️ not saved: ").count(), 6);
    assert!(!run.stderr.contains(SECRET), "{}", run.stderr);
}

#[test]
fn media_required_fails_and_writes_nothing() {
    let server = server();
    let dir = temp_dir();
    let input = write_dump(
        dir.path(),
        &dump(
            &server,
            &[
                ("ok", "image", "pixel.png"),
                ("expired", "image", "expired.png"),
            ],
        ),
    );
    let out = dir.path().join("out");
    let run = convert(
        &server,
        &input,
        &out,
        "html,jsonl",
        &["--media", "download", "--media-required"],
    );
    run.assert_code(1);
    assert!(
        run.stderr
            .contains("message `expired`: attachment not saved: HTTP 403"),
        "{}",
        run.stderr
    );
    assert!(!out.exists(), "{:?}", tree(&out).keys().collect::<Vec<_>>());
    assert!(!run.stderr.contains(SECRET), "{}", run.stderr);
}

#[test]
fn media_needs_an_output_directory_or_file() {
    let server = server();
    let dir = temp_dir();
    let input = write_dump(dir.path(), &dump(&server, &[("m1", "image", "pixel.png")]));
    let run = Chatdump::new([
        "convert",
        input.to_str().unwrap(),
        "-f",
        "md",
        "-o",
        "-",
        "--media",
        "download",
    ])
    .run();
    run.assert_code(2);
    assert!(
        run.stderr.contains("--media needs an output directory"),
        "{}",
        run.stderr
    );
    assert!(server.requests_for(Route::Media, "pixel.png").is_empty());
}

#[test]
fn the_same_dump_and_bytes_give_the_same_outputs() {
    let server = server();
    let dir = temp_dir();
    let input = write_dump(
        dir.path(),
        &dump(
            &server,
            &[
                ("m1", "image", "pixel.png"),
                ("m2", "image", "photo.jpg"),
                ("m3", "file", "doc.pdf"),
                ("m4", "image", "expired.png"),
                ("m5", "image", "evil.svg"),
            ],
        ),
    );
    let runs: Vec<_> = ["a", "b"]
        .into_iter()
        .map(|name| {
            let out = dir.path().join(name);
            convert(
                &server,
                &input,
                &out,
                "jsonl,parquet,md,html",
                &["--media", "embed", "--media-concurrency", "3"],
            )
            .assert_code(0);
            tree(&out)
        })
        .collect();
    assert_eq!(runs[0], runs[1]);
    // A rerun into the same directory replaces the media directory.
    let out = dir.path().join("a");
    convert(
        &server,
        &input,
        &out,
        "jsonl,parquet,md,html",
        &["--media", "embed"],
    )
    .assert_code(0);
    assert_eq!(tree(&out), runs[0]);
}

#[test]
fn embed_inlines_raster_images_only() {
    let server = server();
    let dir = temp_dir();
    let input = write_dump(
        dir.path(),
        &dump(
            &server,
            &[
                ("png", "image", "pixel.png"),
                ("jpeg", "image", "photo.jpg"),
                ("svg", "image", "evil.svg"),
                ("fake", "image", "fake.png"),
                ("expired", "image", "expired.png"),
                ("pdf", "file", "doc.pdf"),
            ],
        ),
    );
    let out = dir.path().join("out");
    convert(&server, &input, &out, "html,md", &["--media", "embed"]).assert_code(0);
    let html = read(&out.join("chat.html"));
    assert_eq!(
        html.matches("<img src=\"data:image&#x2f;png;base64,")
            .count(),
        1
    );
    assert_eq!(
        html.matches("<img src=\"data:image&#x2f;jpeg;base64,")
            .count(),
        1
    );
    assert_eq!(html.matches("<img ").count(), 2, "{html}");
    assert!(html.contains("img-src data:;"), "{html}");
    assert!(!html.contains("img-src https:"));
    // The SVG with a script and the HTML posing as a PNG stay links to their copies.
    for name in ["evil.svg", "fake.png"] {
        assert!(
            html.contains(&format!(
                "-{name}\">Image</a> <span class=\"muted\">(saved copy)"
            )),
            "{name}"
        );
    }
    assert!(!html.contains("<script>alert"), "{html}");
    // The Markdown transcript links its copies: nothing is inlined there.
    assert!(!read(&out.join("chat.md")).contains("data:"));
}

#[test]
fn jsonl_lines_carry_the_stored_copy_or_nulls() {
    let server = server();
    let dir = temp_dir();
    let input = write_dump(
        dir.path(),
        &dump(
            &server,
            &[
                ("png", "image", "pixel.png"),
                ("pdf", "file", "doc.pdf"),
                ("expired", "image", "expired.png"),
                ("text", "text", "hello"),
            ],
        ),
    );
    let out = dir.path().join("out");
    convert(&server, &input, &out, "jsonl", &["--media", "download"]).assert_code(0);
    let lines = crate::support::jsonl(&read(&out.join("chat.jsonl")));
    let by_id = |id: &str| {
        lines
            .iter()
            .find(|line| line["id"] == id)
            .unwrap_or_else(|| panic!("no line {id}"))
    };
    for line in &lines {
        assert_eq!(line["schema_version"], 2);
    }
    let png = by_id("png");
    let path = png["media_path"].as_str().unwrap();
    assert!(
        path.starts_with("chat.media/") && path.ends_with("-pixel.png"),
        "{path}"
    );
    assert_eq!(fs::read(out.join(path)).unwrap(), media_png());
    assert_eq!(png["media_bytes"], media_png().len());
    assert_eq!(png["media_type"], "image/png");
    assert_eq!(png["media_sha256"].as_str().unwrap().len(), 64);
    assert!(&path["chat.media/".len()..].starts_with(&png["media_sha256"].as_str().unwrap()[..16]));
    // The original link stays in its field.
    assert!(png["url"].as_str().unwrap().contains("/media/pixel.png?"));
    assert_eq!(by_id("pdf")["media_type"], "application/pdf");
    for id in ["expired", "text"] {
        for field in ["media_path", "media_sha256", "media_bytes", "media_type"] {
            assert!(by_id(id)[field].is_null(), "{id} {field}");
        }
    }
    // Without --media, lines stay version 1 with no media field.
    let plain = dir.path().join("plain");
    convert(&server, &input, &plain, "jsonl", &[]).assert_code(0);
    let plain = crate::support::jsonl(&read(&plain.join("chat.jsonl")));
    assert!(
        plain
            .iter()
            .all(|line| line["schema_version"] == 1 && line.get("media_path").is_none())
    );
}

/// Reads the old (no media) and new (media) Parquet files of the same dump together with
/// DuckDB's `union_by_name`; prints the rows as JSON.
const UNION: &str = r#"
import json, sys
import duckdb
rows = duckdb.sql(
    f"SELECT schema_version, id, media_path, media_sha256, media_bytes, media_type "
    f"FROM read_parquet('{sys.argv[1]}/*/chat.parquet', union_by_name = true, filename = true) "
    f"ORDER BY filename, id"
).fetchall()
print(json.dumps([list(row) for row in rows]))
"#;

#[test]
#[cfg_attr(
    not(feature = "test-tools"),
    ignore = "needs python3 with duckdb: run scripts/test"
)]
fn parquet_old_and_new_files_read_together() {
    let server = server();
    let dir = temp_dir();
    let input = write_dump(
        dir.path(),
        &dump(
            &server,
            &[
                ("a-png", "image", "pixel.png"),
                ("b-gone", "image", "expired.png"),
            ],
        ),
    );
    let root = dir.path().join("root");
    convert(
        &server,
        &input,
        &root.join("new"),
        "parquet",
        &["--media", "download"],
    )
    .assert_code(0);
    convert(&server, &input, &root.join("old"), "parquet", &[]).assert_code(0);
    let output = crate::support::python3(["-c", UNION, root.to_str().unwrap()]);
    let rows: serde_json::Value = serde_json::from_slice(&output).expect("JSON rows");
    let rows = rows.as_array().unwrap();
    assert_eq!(rows.len(), 4, "{rows:?}");
    // new/ sorts first: version 3 with the stored copy, then nulls; old/ is version 1, all null.
    assert_eq!(rows[0][0], 3);
    assert!(rows[0][2].as_str().unwrap().ends_with("-pixel.png"));
    assert_eq!(rows[0][4], media_png().len());
    assert_eq!(rows[0][5], "image/png");
    assert_eq!(rows[1][0], 3);
    assert!(rows[1][2].is_null());
    for row in &rows[2..] {
        assert_eq!(row[0], 1);
        let row = row.as_array().unwrap();
        assert!(row[2..].iter().all(serde_json::Value::is_null), "{row:?}");
    }
}

/// `chatdump ARGS` with the test server's demo credentials, its downloads allowed, its media
/// allowed over plain http, and no proxy.
fn against(server: &Server, args: &[&str]) -> Chatdump {
    let mut all: Vec<String> = args.iter().map(|arg| (*arg).to_owned()).collect();
    all.extend([
        "--allow-insecure-media-host".to_owned(),
        server.addr().to_string(),
        "--media-timeout".into(),
        "2s".into(),
    ]);
    Chatdump::new(all)
        .allowing_test_server()
        .env("DYTE_ORG_ID", "demo-org")
        .env("DYTE_API_KEY", "demo-key")
        .env("NO_PROXY", "127.0.0.1")
        .env("no_proxy", "127.0.0.1")
}

#[test]
fn export_saves_the_session_media_beside_its_files() {
    let server = server();
    let dir = temp_dir();
    let out = dir.path().join("out");
    let out_arg = format!("{}/", out.display());
    let base = server.dyte_base_url();
    let run = against(
        &server,
        &[
            "export",
            "--base-url",
            &base,
            "--session-id",
            "media--one",
            "-f",
            "jsonl,html",
            "-o",
            &out_arg,
            "--media",
            "download",
        ],
    )
    .run();
    run.assert_code(0);
    assert!(
        run.stderr
            .contains("message `media-3`: attachment not saved: HTTP 403"),
        "{}",
        run.stderr
    );
    let stem = names(&out)
        .into_iter()
        .find_map(|name| name.strip_suffix(".media").map(str::to_owned))
        .unwrap_or_else(|| panic!("no media directory in {:?}", names(&out)));
    // Three files and the index.
    assert_eq!(names(&out.join(format!("{stem}.media"))).len(), 4);
    let lines = crate::support::jsonl(&read(&out.join(format!("{stem}.jsonl"))));
    let stored: Vec<&str> = lines
        .iter()
        .filter_map(|line| line["media_path"].as_str())
        .collect();
    assert_eq!(stored.len(), 3, "{stored:?}");
    for path in stored {
        assert!(out.join(path).is_file(), "{path}");
    }
    assert!(!run.stderr.contains("media-secret"), "{}", run.stderr);
}

#[test]
fn export_all_stores_media_once_by_content_and_a_rerun_fetches_nothing() {
    use chatdump_testserver::sessions::{OrgSpec, bulk_base_url};
    let server = server();
    let spec = OrgSpec {
        sessions: 3,
        media: true,
        ..OrgSpec::default()
    };
    let base = bulk_base_url(&server, &spec);
    let dir = temp_dir();
    let root = dir.path().join("store");
    let root_arg = root.display().to_string();
    let args = [
        "export",
        "--all",
        "--base-url",
        &base,
        "--output",
        &root_arg,
        "--media",
        "download",
    ];
    let run = against(&server, &args).run();
    run.assert_code(0);
    let media_requests = server.requests_for(Route::Media, "pixel.png").len();
    assert_eq!(media_requests, 3, "one fetch per session");
    // Three sessions share the same three contents: three objects under _media/.
    let stored = names(&root.join("_media"));
    assert_eq!(stored.len(), 3, "{stored:?}");
    assert!(stored.iter().all(|name| name.len() == 64), "{stored:?}");
    let manifest = chatdump_bulk::Manifest::parse(
        &fs::read(root.join(chatdump_bulk::MANIFEST_PATH)).expect("the manifest"),
    )
    .expect("a readable manifest");
    assert_eq!(manifest.len(), 3);
    for record in manifest.records() {
        let paths: Vec<&str> = record.media.iter().map(|file| file.path.as_str()).collect();
        assert_eq!(paths.len(), 3, "{record:?}");
        for file in &record.media {
            assert_eq!(file.path, format!("_media/{}", file.sha256));
            assert_eq!(
                fs::metadata(root.join(&file.path)).unwrap().len(),
                file.bytes
            );
        }
    }
    // A rerun fetches nothing it already has.
    let before = server.requests().len();
    against(&server, &args).run().assert_code(0);
    let media_after = server
        .requests()
        .into_iter()
        .skip(before)
        .filter(|request| request.route == Route::Media)
        .count();
    assert_eq!(media_after, 0);
}

#[test]
fn nothing_stored_makes_no_directory_and_the_total_cap_is_applied() {
    let server = server();
    let dir = temp_dir();
    let input = write_dump(
        dir.path(),
        &dump(
            &server,
            &[
                ("jpeg", "image", "photo.jpg"),
                ("png", "image", "pixel.png"),
            ],
        ),
    );
    // URL order: photo.jpg (141 bytes) comes first and takes the total over 100 bytes; every
    // link after it fails too, whatever its size.
    let out = dir.path().join("out");
    let run = convert(
        &server,
        &input,
        &out,
        "md",
        &["--media", "download", "--media-max-total", "100"],
    );
    run.assert_code(0);
    assert_eq!(
        run.stderr
            .matches("attachment not saved: the total media cap of 100 bytes is spent")
            .count(),
        2,
        "{}",
        run.stderr
    );
    assert_eq!(names(&out), ["chat.md"]);
}

/// The files of `out/chat.media`, with their bytes.
fn media_tree(out: &Path) -> std::collections::BTreeMap<PathBuf, Option<Vec<u8>>> {
    tree(&out.join("chat.media"))
}

/// Stops `server` and waits (bounded) until its address refuses connections: its links fail.
fn stop(server: Server) {
    let addr = server.addr();
    drop(server);
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
        assert!(
            std::time::Instant::now() < deadline,
            "the test server still answers"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_rerun_after_the_links_failed_keeps_every_attachment_and_the_same_outputs() {
    let server = server();
    let addr = server.addr().to_string();
    let dir = temp_dir();
    let csv = dump(
        &server,
        &[
            ("png", "image", "pixel.png"),
            ("jpeg", "image", "photo.jpg"),
            ("pdf", "file", "doc.pdf"),
            ("svg", "image", "evil.svg"),
            ("text", "text", "hello"),
        ],
    );
    let input = write_dump(dir.path(), &csv);
    let out = dir.path().join("out");
    let formats = "jsonl,parquet,md,html";
    let required = ["--media", "embed", "--media-required"];
    convert(&server, &input, &out, formats, &required).assert_code(0);
    let first = tree(&out);
    // Every link now fails (connection refused): whatever were fetched again would be lost,
    // and `--media-required` would fail the run.
    stop(server);
    let run = Chatdump::new([
        "convert",
        input.to_str().unwrap(),
        "-f",
        formats,
        "-o",
        &format!("{}/", out.display()),
        "--allow-insecure-media-host",
        &addr,
        "--media-timeout",
        "500ms",
        "--media",
        "embed",
        "--media-required",
    ])
    .run();
    run.assert_code(0);
    assert!(
        run.stderr.contains(
            "4 attachments saved (4 files, 506 bytes; 4 kept from the last run, 0 fetched)"
        ),
        "{}",
        run.stderr
    );
    assert!(run.stderr_lines("warning: ").is_empty(), "{}", run.stderr);
    let second = tree(&out);
    assert_eq!(
        first.keys().collect::<Vec<_>>(),
        second.keys().collect::<Vec<_>>()
    );
    for (path, bytes) in &first {
        assert!(second[path] == *bytes, "`{}` differs", path.display());
    }
    // The same dump downloaded again, its links signed anew: the same attachments, kept.
    fs::write(&input, csv.replace(SECRET, "NEWSIGNATURE")).unwrap();
    let run = Chatdump::new([
        "convert",
        input.to_str().unwrap(),
        "-f",
        "md",
        "-o",
        &format!("{}/", out.display()),
        "--allow-insecure-media-host",
        &addr,
        "--media",
        "download",
        "--media-required",
    ])
    .run();
    run.assert_code(0);
    assert_eq!(media_tree(&out), {
        let mut media = first.clone();
        media.retain(|path, _| path.starts_with("chat.media"));
        media
            .into_iter()
            .map(|(path, bytes)| (path.strip_prefix("chat.media").unwrap().to_owned(), bytes))
            .filter(|(path, _)| !path.as_os_str().is_empty())
            .collect()
    });
    let index = read(&out.join("chat.media/index.json"));
    assert!(
        !index.contains(SECRET) && !index.contains("NEWSIGNATURE"),
        "{index}"
    );
}

#[test]
fn a_rerun_with_the_links_working_makes_no_request_for_what_it_has() {
    let server = server();
    let dir = temp_dir();
    let input = write_dump(
        dir.path(),
        &dump(
            &server,
            &[
                ("png", "image", "pixel.png"),
                ("pdf", "file", "doc.pdf"),
                ("expired", "image", "expired.png"),
            ],
        ),
    );
    let out = dir.path().join("out");
    convert(&server, &input, &out, "md", &["--media", "download"]).assert_code(0);
    let first = tree(&out);
    let before = server.requests().len();
    let run = convert(&server, &input, &out, "md", &["--media", "download"]);
    run.assert_code(0);
    assert!(
        run.stderr
            .contains("; 2 kept from the last run, 0 fetched), 1 unavailable"),
        "{}",
        run.stderr
    );
    // Only the link that failed is tried again.
    let asked: Vec<String> = server
        .requests()
        .into_iter()
        .skip(before)
        .filter(|request| request.route == Route::Media)
        .map(|request| request.session)
        .collect();
    assert_eq!(asked, ["expired.png"]);
    assert_eq!(tree(&out), first);
}

#[test]
fn a_tampered_or_broken_index_is_not_trusted() {
    let server = server();
    let dir = temp_dir();
    let input = write_dump(
        dir.path(),
        &dump(
            &server,
            &[
                ("png", "image", "pixel.png"),
                ("jpeg", "image", "photo.jpg"),
                ("pdf", "file", "doc.pdf"),
            ],
        ),
    );
    let out = dir.path().join("out");
    convert(&server, &input, &out, "md,jsonl", &["--media", "download"]).assert_code(0);
    let first = tree(&out);
    let index_path = out.join("chat.media/index.json");
    let mut index: serde_json::Value = serde_json::from_str(&read(&index_path)).unwrap();
    // A file outside the media directory, recorded with its own size and SHA-256: were it
    // followed, it would be taken as the attachment.
    let outside = dir.path().join("outside.png");
    let planted = b"not the attachment".as_slice();
    fs::write(&outside, planted).unwrap();
    let planted_sha256 = ring::digest::digest(&ring::digest::SHA256, planted)
        .as_ref()
        .iter()
        .fold(String::new(), |mut hex, byte| {
            use std::fmt::Write as _;
            let _ = write!(hex, "{byte:02x}");
            hex
        });
    let entry = |name: &str| -> usize {
        index["links"]
            .as_array()
            .unwrap()
            .iter()
            .position(|entry| entry["link"].as_str().unwrap().ends_with(name))
            .unwrap()
    };
    let (png, jpeg, pdf) = (entry("pixel.png"), entry("photo.jpg"), entry("doc.pdf"));
    for (at, file) in [
        (png, "../../outside.png".to_owned()),
        (jpeg, outside.display().to_string()),
    ] {
        index["links"][at]["file"] = file.into();
        index["links"][at]["sha256"] = planted_sha256.clone().into();
        index["links"][at]["bytes"] = planted.len().into();
    }
    let pdf_bytes = index["links"][pdf]["bytes"].as_u64().unwrap();
    index["links"][pdf]["bytes"] = (pdf_bytes + 1).into();
    fs::write(&index_path, serde_json::to_vec(&index).unwrap()).unwrap();
    let before = server.requests().len();
    let run = convert(&server, &input, &out, "md,jsonl", &["--media", "download"]);
    run.assert_code(0);
    let warnings = run.stderr_lines("warning: media kept from an earlier run: ");
    for expected in [
        format!("entry {png}: `file` `../../outside.png` is not a plain file name"),
        format!(
            "entry {jpeg}: `file` `{}` is not a plain file name",
            outside.display()
        ),
        format!("{pdf_bytes} bytes, the index says {}", pdf_bytes + 1),
    ] {
        assert!(
            warnings.iter().any(|line| line.contains(&expected)),
            "{expected} not in {warnings:#?}"
        );
    }
    assert_eq!(warnings.len(), 3, "{warnings:#?}");
    // Each untrusted link is fetched again; the outputs are the first run's, the planted file
    // untouched and never taken.
    let media_requests = |since: usize| {
        let mut asked: Vec<String> = server
            .requests()
            .into_iter()
            .skip(since)
            .filter(|request| request.route == Route::Media)
            .map(|request| request.session)
            .collect();
        asked.sort();
        asked
    };
    assert_eq!(
        media_requests(before),
        ["doc.pdf", "photo.jpg", "pixel.png"]
    );
    assert_eq!(tree(&out), first);
    assert_eq!(fs::read(&outside).unwrap(), planted);
    // An index that is not JSON is ignored as a whole: everything is fetched again.
    fs::write(&index_path, "{\"links\": [\u{1b}[31m").unwrap();
    let before = server.requests().len();
    let run = convert(&server, &input, &out, "md,jsonl", &["--media", "download"]);
    run.assert_code(0);
    let warnings = run.stderr_lines("warning: media kept from an earlier run: ");
    assert_eq!(warnings.len(), 1, "{}", run.stderr);
    assert!(
        warnings[0].contains("index.json` not used: not JSON (line 1, column 12)"),
        "{}",
        warnings[0]
    );
    assert!(!run.stderr.contains('\u{1b}'));
    assert_eq!(media_requests(before).len(), 3);
    assert_eq!(tree(&out), first);
    // A media directory that is a link to another directory is not read: what it holds stays
    // where it is, and the links are fetched again into a real directory.
    #[cfg(unix)]
    {
        let elsewhere = dir.path().join("elsewhere");
        fs::rename(out.join("chat.media"), &elsewhere).unwrap();
        std::os::unix::fs::symlink(&elsewhere, out.join("chat.media")).unwrap();
        let kept_elsewhere = tree(&elsewhere);
        let before = server.requests().len();
        let run = convert(&server, &input, &out, "md,jsonl", &["--media", "download"]);
        run.assert_code(0);
        assert!(
            !run.stderr.contains("kept from the last run"),
            "{}",
            run.stderr
        );
        assert_eq!(media_requests(before).len(), 3);
        assert!(
            !fs::symlink_metadata(out.join("chat.media"))
                .unwrap()
                .file_type()
                .is_symlink()
        );
        assert_eq!(tree(&out), first);
        assert_eq!(tree(&elsewhere), kept_elsewhere);
    }
}

#[test]
fn a_connection_failure_names_no_query_string() {
    let server = server();
    let dir = temp_dir();
    let input = write_dump(dir.path(), &dump(&server, &[("png", "image", "pixel.png")]));
    let out = dir.path().join("out");
    let addr = server.addr();
    stop(server);
    let run = Chatdump::new([
        "convert",
        input.to_str().unwrap(),
        "-f",
        "md",
        "-o",
        &format!("{}/", out.display()),
        "--allow-insecure-media-host",
        &addr.to_string(),
        "--media",
        "download",
    ])
    .run();
    run.assert_code(0);
    let warnings = run.stderr_lines("warning: ");
    assert!(
        warnings.len() == 1
            && warnings[0].contains("message `png`: attachment not saved: the connection failed"),
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains(SECRET), "{}", run.stderr);
    assert!(!run.stderr.contains("X-Amz-Expires"), "{}", run.stderr);
}
