//! The schemas written in `docs/` against what the code writes. Each schema is a Markdown table
//! under a `<!-- schema: NAME -->` marker; the names in the first cell of each row (every `code`
//! span) must be exactly the fields chatdump writes, in the same order: nothing documented that
//! is not written, nothing written that is not documented.

use std::fmt;
use std::fs;
use std::path::{Path, PathBuf};

use serde::de::{Deserializer, IgnoredAny, MapAccess, Visitor};

use crate::support::{Chatdump, convert_to_stdout, temp_dir};

/// The sample every schema is checked on (in `tests/fixtures/`).
const SAMPLE: &str = "sample-chat-dump.csv";

/// A page of the manual, relative to `docs/`.
fn page(name: &str) -> String {
    let path: PathBuf = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../docs")
        .join(name);
    fs::read_to_string(&path)
        .unwrap_or_else(|error| panic!("cannot read {}: {error}", path.display()))
}

/// One row of a documented table.
#[derive(Debug)]
struct Row {
    /// The names in the first cell: every `code` span, in order.
    names: Vec<String>,
    /// Every cell, the first included, trimmed (`\|` unescaped).
    cells: Vec<String>,
}

/// The `code` spans of a cell.
fn code_spans(cell: &str) -> Vec<String> {
    cell.split('`')
        .skip(1)
        .step_by(2)
        .map(str::to_owned)
        .collect()
}

/// The rows of the table that follows `<!-- schema: NAME -->` on the page (header and separator
/// left out). The marker must be there exactly once, directly followed by the table.
#[track_caller]
fn table(page_name: &str, schema: &str) -> Vec<Row> {
    let text = page(page_name);
    let marker = format!("<!-- schema: {schema} -->");
    let lines: Vec<&str> = text.lines().collect();
    let starts: Vec<usize> = lines
        .iter()
        .enumerate()
        .filter(|(_, line)| line.trim() == marker)
        .map(|(index, _)| index)
        .collect();
    assert_eq!(
        starts.len(),
        1,
        "`{marker}` must be on docs/{page_name} exactly once"
    );
    let body: Vec<&str> = lines[starts[0] + 1..]
        .iter()
        .take_while(|line| line.starts_with('|'))
        .copied()
        .collect();
    assert!(
        body.len() > 2 && body[1].starts_with("|---"),
        "`{marker}` on docs/{page_name} is not followed by a Markdown table"
    );
    body[2..]
        .iter()
        .map(|line| {
            let cells: Vec<String> = line
                .trim()
                .trim_matches('|')
                .replace("\\|", "\u{0}")
                .split('|')
                .map(|cell| cell.trim().replace('\u{0}', "|"))
                .collect();
            let names = code_spans(&cells[0]);
            assert!(
                !names.is_empty(),
                "a row without a `name` on docs/{page_name}: {line}"
            );
            Row { names, cells }
        })
        .collect()
}

/// Every name of a documented table, in order.
#[track_caller]
fn documented(page_name: &str, schema: &str) -> Vec<String> {
    table(page_name, schema)
        .into_iter()
        .flat_map(|row| row.names)
        .collect()
}

/// The keys of a JSON object, in the order they are written.
#[track_caller]
fn keys(json: &str) -> Vec<String> {
    struct Keys(Vec<String>);
    impl<'de> serde::Deserialize<'de> for Keys {
        fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
            struct KeysVisitor;
            impl<'de> Visitor<'de> for KeysVisitor {
                type Value = Keys;
                fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
                    formatter.write_str("a JSON object")
                }
                fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Keys, A::Error> {
                    let mut keys = Vec::new();
                    while let Some((key, IgnoredAny)) = map.next_entry::<String, IgnoredAny>()? {
                        keys.push(key);
                    }
                    Ok(Keys(keys))
                }
            }
            deserializer.deserialize_map(KeysVisitor)
        }
    }
    serde_json::from_str::<Keys>(json)
        .unwrap_or_else(|error| panic!("not a JSON object ({error}): {json}"))
        .0
}

/// Asserts that every line of `jsonl` has exactly the keys `expected`, in that order.
#[track_caller]
fn assert_every_line(jsonl: &str, expected: &[String], what: &str) {
    assert!(!jsonl.trim().is_empty(), "{what}: no lines written");
    for line in jsonl.lines() {
        assert_eq!(
            keys(line),
            expected,
            "{what}: written keys (left) against the documented ones (right)"
        );
    }
}

#[test]
fn jsonl_fields_are_the_documented_ones_in_order() {
    let expected = documented("formats/jsonl.md", "jsonl");
    assert_every_line(&convert_to_stdout(SAMPLE, &[]), &expected, "plain JSONL");
    assert_every_line(
        &convert_to_stdout(SAMPLE, &["--jsonl-flavor", "typesense"]),
        &expected,
        "Typesense JSONL",
    );
}

#[test]
fn elasticsearch_bulk_lines_are_the_documented_action_then_the_plain_document() {
    let action_rows = table("formats/jsonl.md", "jsonl-elasticsearch-action");
    let action: Vec<String> = action_rows
        .iter()
        .flat_map(|row| row.names.clone())
        .collect();
    let document = documented("formats/jsonl.md", "jsonl");
    let written = convert_to_stdout(
        SAMPLE,
        &["--jsonl-flavor", "elasticsearch", "--index", "chat"],
    );
    let lines: Vec<&str> = written.lines().collect();
    assert!(
        !lines.is_empty() && lines.len().is_multiple_of(2),
        "{written}"
    );
    for pair in lines.chunks(2) {
        assert_eq!(keys(pair[0]), action, "the action line");
        // The table's meaning cell spells the action's own object, as JSON; its keys are
        // compared as written (`{"index":` then the object, then `}`).
        let inner = pair[0]
            .strip_prefix("{\"index\":")
            .and_then(|rest| rest.strip_suffix('}'))
            .unwrap_or_else(|| panic!("not an index action: {}", pair[0]));
        assert_eq!(
            keys(inner),
            keys(&code_spans(&action_rows[0].cells[2])[0]),
            "the action object"
        );
        assert_eq!(keys(pair[1]), document, "the document line");
    }
}

#[test]
fn meilisearch_documents_rename_exactly_the_documented_ids() {
    let plain = documented("formats/jsonl.md", "jsonl");
    let renamed = table("formats/jsonl.md", "jsonl-meilisearch-renamed");
    // Each renamed row says which plain field it replaces (the first `code` span of its meaning);
    // a row naming no plain field keeps its own name (`id`).
    let expected: Vec<String> = plain
        .iter()
        .map(|field| {
            renamed
                .iter()
                .find(|row| code_spans(&row.cells[2]).first() == Some(field))
                .map_or_else(|| field.clone(), |row| row.names[0].clone())
        })
        .collect();
    assert!(
        renamed.iter().all(|row| expected.contains(&row.names[0])),
        "every documented Meilisearch field is in the document: {expected:?}"
    );
    assert_eq!(
        expected
            .iter()
            .filter(|name| name.contains("id"))
            .collect::<Vec<_>>(),
        ["id"],
        "Meilisearch takes exactly one attribute whose name contains `id`"
    );
    assert_every_line(
        &convert_to_stdout(SAMPLE, &["--jsonl-flavor", "meilisearch"]),
        &expected,
        "Meilisearch JSONL",
    );
}

/// Asserts that the documented Parquet rows match `fields`: names in order, Arrow types and
/// nullability.
#[track_caller]
fn assert_parquet_columns(rows: &[Row], fields: &[(String, String, bool)]) {
    let documented: Vec<(String, String, bool)> = rows
        .iter()
        .flat_map(|row| {
            let arrow_type = code_spans(&row.cells[1]).join(" ");
            let nullable = match row.cells[3].as_str() {
                "yes" => true,
                "no" => false,
                other => panic!(
                    "the `null` cell of {:?} is `{other}`, not yes or no",
                    row.names
                ),
            };
            row.names
                .iter()
                .map(move |name| (name.clone(), arrow_type.clone(), nullable))
        })
        .collect();
    assert_eq!(
        fields, documented,
        "the writer's Arrow schema (left) against docs/formats/parquet.md (right)"
    );
}

/// `(name, Arrow type, nullable)` of every field of an Arrow schema; the type as arrow-rs's
/// `DataType` displays it, which is how the docs spell it.
macro_rules! arrow_fields {
    ($schema:expr) => {
        $schema
            .fields()
            .iter()
            .map(|field| {
                (
                    field.name().clone(),
                    field.data_type().to_string(),
                    field.is_nullable(),
                )
            })
            .collect::<Vec<_>>()
    };
}

#[test]
fn parquet_columns_are_the_documented_ones() {
    let version_1 = table("formats/parquet.md", "parquet");
    assert_parquet_columns(&version_1, &arrow_fields!(chatdump_parquet::schema()));
    let mut version_2 = version_1;
    version_2.extend(table("formats/parquet.md", "parquet-v2-added"));
    assert_parquet_columns(
        &version_2,
        &arrow_fields!(chatdump_parquet::schema_with_participants()),
    );
}

#[test]
fn parquet_media_columns_are_the_documented_ones() {
    let added = table("formats/parquet.md", "parquet-media-added");
    for participants in [false, true] {
        let mut rows = table("formats/parquet.md", "parquet");
        if participants {
            rows.extend(table("formats/parquet.md", "parquet-v2-added"));
        }
        rows.extend(table("formats/parquet.md", "parquet-media-added"));
        assert_parquet_columns(
            &rows,
            &arrow_fields!(chatdump_parquet::schema_with_media(participants)),
        );
    }
    // The same four names as the JSONL media fields.
    let names: Vec<String> = added.iter().flat_map(|row| row.names.clone()).collect();
    assert_eq!(names, documented("formats/jsonl.md", "jsonl-media-added"));
}

#[test]
fn parquet_columns_are_the_jsonl_fields_but_created_at_ms() {
    // The Parquet page says the columns are the JSONL fields under the same names, but for
    // `created_at_ms`: keep the two tables from drifting apart.
    let mut jsonl = documented("formats/jsonl.md", "jsonl");
    jsonl.retain(|field| field != "created_at_ms");
    assert_eq!(documented("formats/parquet.md", "parquet"), jsonl);
}

#[test]
fn rejects_file_fields_are_the_documented_ones() {
    let dir = temp_dir();
    let rejects = dir.path().join("rejects.jsonl");
    Chatdump::new([
        "convert".as_ref(),
        "skip-mode-mixed.csv".as_ref(),
        "--on-error".as_ref(),
        "skip".as_ref(),
        "--rejects".as_ref(),
        rejects.as_os_str(),
        "--output".as_ref(),
        dir.path().join("out.jsonl").as_os_str(),
    ])
    .run()
    .assert_code(0);
    let written = fs::read_to_string(&rejects).expect("the rejects file");
    assert_every_line(
        &written,
        &documented("commands/convert.md", "rejects"),
        "rejects file",
    );
}

#[test]
fn bulk_manifest_fields_are_the_documented_ones() {
    let output = chatdump_bulk::OutputFile {
        path: "date=2024-05-14/s.parquet".into(),
        bytes: 1,
        sha256: "00".into(),
    };
    // Every optional field set, so that none is left out of the serialised line.
    let record = chatdump_bulk::SessionRecord {
        session_id: "s".into(),
        meeting_id: Some("m".into()),
        session_status: Some("ENDED".into()),
        status: chatdump_bulk::Status::Failed,
        reason: Some("why".into()),
        messages: 1,
        outputs: vec![output.clone()],
        participants: false,
        attempts: 1,
        at: "2024-05-14T00:00:00Z".into(),
        media: vec![chatdump_bulk::OutputFile {
            path: "_media/00".into(),
            ..output.clone()
        }],
        parts: vec![chatdump_bulk::PartRecord {
            part: "transcript".into(),
            status: chatdump_bulk::PartStatus::NotAvailable,
            reason: Some("why".into()),
        }],
    };
    let line = serde_json::to_string(&record).expect("serialise");
    assert_eq!(
        keys(&line),
        documented("commands/export-all.md", "manifest-session")
    );
    let line = serde_json::to_string(&output).expect("serialise");
    assert_eq!(
        keys(&line),
        documented("commands/export-all.md", "manifest-output")
    );
    let line = serde_json::to_string(&record.parts[0]).expect("serialise");
    assert_eq!(
        keys(&line),
        documented("commands/export-all.md", "manifest-part")
    );
}

#[test]
fn bulk_report_fields_are_the_documented_ones() {
    let report = chatdump_bulk::Report {
        listing_error: Some("why".into()),
        ..chatdump_bulk::Report::default()
    };
    let json = serde_json::to_string(&report).expect("serialise");
    assert_eq!(
        keys(&json),
        documented("commands/export-all.md", "bulk-report")
    );
}

#[test]
fn markdown_front_matter_keys_are_the_documented_ones() {
    /// Keys written only with a speech transcript.
    const SPEECH_ONLY: [&str; 3] = ["utterances", "speaking_seconds", "summary"];
    let keys_of = |args: &[&str]| {
        let written = Chatdump::new(args).run().success().to_owned();
        assert!(written.starts_with("---\n"), "{written}");
        written
            .lines()
            .skip(1)
            .take_while(|line| *line != "---")
            .map(|line| line.split(':').next().expect("a key").to_owned())
            .collect::<Vec<String>>()
    };
    let documented = documented("formats/markdown.md", "markdown-front-matter");
    let chat_only: Vec<String> = documented
        .iter()
        .filter(|key| !SPEECH_ONLY.contains(&key.as_str()))
        .cloned()
        .collect();
    assert_eq!(
        keys_of(&["convert", SAMPLE, "--format", "md", "--output", "-"]),
        chat_only
    );
    assert_eq!(
        keys_of(&[
            "convert",
            SAMPLE,
            "--transcript",
            "speech/sample-transcript.csv",
            "--summary",
            "speech/sample-summary.md",
            "--format",
            "md",
            "--output",
            "-"
        ]),
        documented
    );
}

/// Utterances for the transcript schema: one with every value, one with every optional value
/// absent.
fn transcript_utterances() -> Vec<chatdump_core::speech::Utterance> {
    let full = chatdump_core::speech::Utterance {
        session_id: Some("s1".into()),
        participant_id: Some("peer-1".into()),
        user_id: Some("user-1".into()),
        custom_participant_id: Some("cust-1".into()),
        display_name: "Ann".into(),
        start: "2024-05-14T09:00:05.250Z".parse().expect("a time"),
        end: Some("2024-05-14T09:00:06.500Z".parse().expect("a time")),
        text: "hello".into(),
        position: chatdump_core::model::Position { line: 2, byte: 90 },
        index: 0,
    };
    let bare = chatdump_core::speech::Utterance {
        session_id: None,
        participant_id: None,
        user_id: None,
        custom_participant_id: None,
        end: None,
        index: 1,
        ..full.clone()
    };
    vec![full, bare]
}

#[test]
fn transcript_fields_are_the_documented_ones_in_both_writers() {
    let rows = table("formats/transcript.md", "transcript");
    let nullable = |row: &Row| match row.cells[4].as_str() {
        "yes" => true,
        "no" => false,
        other => panic!("the `null` cell of {:?} is `{other}`", row.names),
    };

    // JSONL: every documented field, in order, of the documented JSON type, null only where
    // documented (and the bare utterance shows every nullable one null).
    let mut writer = chatdump_jsonl::UtteranceWriter::new(Vec::new());
    for utterance in transcript_utterances() {
        writer.utterance(&utterance).expect("written");
    }
    let written = String::from_utf8(writer.finish().expect("finished")).expect("UTF-8");
    let names = documented("formats/transcript.md", "transcript");
    assert_every_line(&written, &names, "transcript JSONL");
    let lines: Vec<serde_json::Value> = written
        .lines()
        .map(|line| serde_json::from_str(line).expect("JSON"))
        .collect();
    for row in &rows {
        for name in &row.names {
            for line in &lines {
                let value = &line[name];
                let fits = match row.cells[1].as_str() {
                    "string" => value.is_string(),
                    "integer" => value.is_i64() || value.is_u64(),
                    other => panic!("unknown JSONL type `{other}` for `{name}`"),
                };
                assert!(
                    fits || (value.is_null() && nullable(row)),
                    "`{name}` is {value}, documented as {} (null: {})",
                    row.cells[1],
                    row.cells[4]
                );
            }
            assert_eq!(
                lines[1][name].is_null(),
                nullable(row),
                "`{name}` on an utterance without optional values"
            );
        }
    }

    // Parquet: the rows with an Arrow type, with that type and nullability, and nothing else.
    let documented_columns: Vec<(String, String, bool)> = rows
        .iter()
        .filter(|row| !code_spans(&row.cells[2]).is_empty())
        .flat_map(|row| {
            let arrow_type = code_spans(&row.cells[2]).join(" ");
            let nullable = nullable(row);
            row.names
                .iter()
                .map(move |name| (name.clone(), arrow_type.clone(), nullable))
        })
        .collect();
    assert_eq!(
        arrow_fields!(chatdump_parquet::transcript_schema()),
        documented_columns,
        "the transcript Arrow schema (left) against docs/formats/transcript.md (right)"
    );
    // The rows without one are exactly the JSONL-only fields the page names.
    let jsonl_only: Vec<&str> = rows
        .iter()
        .filter(|row| code_spans(&row.cells[2]).is_empty())
        .flat_map(|row| row.names.iter().map(String::as_str))
        .collect();
    assert_eq!(jsonl_only, ["start_ms", "end_ms"]);
    // And the writer writes that schema.
    let mut writer = chatdump_parquet::UtteranceParquetWriter::new(
        Vec::new(),
        &chatdump_parquet::ParquetOptions::default(),
        &chatdump_core::export::ExportContext::default(),
    )
    .expect("a writer");
    for utterance in transcript_utterances() {
        writer.utterance(&utterance).expect("written");
    }
    assert!(writer.finish().expect("finished").starts_with(b"PAR1"));
}

#[test]
fn jsonl_media_fields_are_the_documented_ones_in_order() {
    let server = crate::media::server();
    let dir = temp_dir();
    let input = crate::media::write_dump(
        dir.path(),
        &crate::media::dump(
            &server,
            &[("png", "image", "pixel.png"), ("gone", "file", "gone.pdf")],
        ),
    );
    let out = dir.path().join("out");
    crate::media::convert(&server, &input, &out, "jsonl", &["--media", "download"]).assert_code(0);
    let mut expected = documented("formats/jsonl.md", "jsonl");
    expected.extend(documented("formats/jsonl.md", "jsonl-media-added"));
    let written = fs::read_to_string(out.join("chat.jsonl")).expect("read the JSONL");
    assert_every_line(&written, &expected, "JSONL with --media");
}
