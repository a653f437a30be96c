//! Parquet output: read back by DuckDB and pyarrow (through `python3`), compared value by value
//! with the JSONL of the same input; partitioned datasets; writer settings; byte-identical runs.
//!
//! The tests that need `python3` with duckdb and pyarrow run under the `test-tools` feature, which
//! `scripts/test` turns on after installing them; a plain `cargo test` lists them as ignored.

use std::ffi::OsStr;
use std::fs;
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::support::{Chatdump, fixtures_dir, python3, temp_dir};

/// Reads a Parquet file with pyarrow and DuckDB and compares every row with the JSONL file of
/// the same input. Prints one JSON report on stdout.
const COMPARE: &str = r#"
import json, sys
import duckdb, pyarrow as pa, pyarrow.parquet as pq

parquet_path, jsonl_path = sys.argv[1], sys.argv[2]
lines = [json.loads(line) for line in open(jsonl_path, encoding="utf-8")]
mismatches = []

def same(where, row, column, got, want):
    if got != want:
        mismatches.append(f"{where} row {row} {column}: {got!r} != {want!r}")

def expected(line, column):
    if column == "created_at":
        return line["created_at_ms"] * 1000
    if column == "extra":
        return line["extra"]
    return line[column]

# pyarrow
table = pq.read_table(parquet_path)
columns = [field.name for field in table.schema]
pa_types = {field.name: str(field.type) for field in table.schema}
rows = table.to_pylist()
as_int = table.column("created_at").cast(pa.int64()).to_pylist()
for i, (row, line) in enumerate(zip(rows, lines)):
    for column in columns:
        got = row[column]
        if column == "created_at":
            got = as_int[i]
        elif column == "extra":
            got = json.loads(got)
        same("pyarrow", i, column, got, expected(line, column))
jsonl_fields = set(lines[0]) if lines else set()
metadata = {k.decode(): v.decode() for k, v in (pq.ParquetFile(parquet_path).metadata.metadata or {}).items()
            if k != b"ARROW:schema"}

# DuckDB
con = duckdb.connect()
described = con.execute("DESCRIBE SELECT * FROM read_parquet(?)", [parquet_path]).fetchall()
duck_types = {name: kind for name, kind, *_ in described}
cursor = con.execute(
    "SELECT * REPLACE (epoch_us(created_at) AS created_at) FROM read_parquet(?)", [parquet_path])
names = [d[0] for d in cursor.description]
duck_rows = cursor.fetchall()
for i, (values, line) in enumerate(zip(duck_rows, lines)):
    for column, got in zip(names, values):
        if column == "extra":
            got = json.loads(got)
        same("duckdb", i, column, got, expected(line, column))

print(json.dumps({
    "jsonl_rows": len(lines),
    "pyarrow_rows": table.num_rows,
    "duckdb_rows": len(duck_rows),
    "pyarrow_types": pa_types,
    "duckdb_types": duck_types,
    "columns": columns,
    "jsonl_fields": sorted(jsonl_fields),
    "metadata": metadata,
    "mismatches": mismatches[:20],
}))
"#;

/// Runs a Python program with arguments and parses its JSON report.
#[track_caller]
fn python(program: &str, args: &[&Path]) -> Value {
    let mut command_line = vec![OsStr::new("-c"), OsStr::new(program)];
    command_line.extend(args.iter().map(|arg| arg.as_os_str()));
    serde_json::from_slice(&python3(command_line)).expect("a JSON report")
}

/// Converts a fixture to JSONL and Parquet in `dir`; returns (parquet, jsonl) paths.
fn convert_both(fixture: &str, dir: &Path, extra: &[&str]) -> (PathBuf, PathBuf) {
    let out = format!("{}/", dir.display());
    let mut args = vec![
        "convert",
        fixture,
        "--format",
        "jsonl,parquet",
        "--output",
        &out,
    ];
    args.extend_from_slice(extra);
    Chatdump::new(args).run().success();
    let stem = fixture.trim_end_matches(".csv");
    (
        dir.join(format!("{stem}.parquet")),
        dir.join(format!("{stem}.jsonl")),
    )
}

#[track_caller]
fn assert_reads_like_jsonl(fixture: &str, rows: u64) {
    let dir = temp_dir();
    let (parquet, jsonl) = convert_both(fixture, dir.path(), &[]);
    let report = python(COMPARE, &[&parquet, &jsonl]);
    assert_eq!(report["jsonl_rows"], rows, "{report}");
    assert_eq!(report["pyarrow_rows"], rows, "{report}");
    assert_eq!(report["duckdb_rows"], rows, "{report}");
    assert_eq!(report["mismatches"], serde_json::json!([]), "{report}");
    assert_eq!(
        report["pyarrow_types"]["created_at"],
        "timestamp[us, tz=UTC]"
    );
    assert_eq!(
        report["duckdb_types"]["created_at"],
        "TIMESTAMP WITH TIME ZONE"
    );
    for (column, pyarrow, duckdb) in [
        ("id", "string", "VARCHAR"),
        ("pinned", "bool", "BOOLEAN"),
        ("edited", "bool", "BOOLEAN"),
        ("file_size", "int64", "BIGINT"),
        ("schema_version", "int32", "INTEGER"),
        ("payload", "string", "VARCHAR"),
        ("extra", "string", "VARCHAR"),
    ] {
        assert_eq!(report["pyarrow_types"][column], pyarrow, "{column}");
        assert_eq!(report["duckdb_types"][column], duckdb, "{column}");
    }
    // Every Parquet column is a JSONL field of the same name (JSONL adds `created_at_ms`).
    let fields: Vec<&str> = report["jsonl_fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    for column in report["columns"].as_array().unwrap() {
        assert!(fields.contains(&column.as_str().unwrap()), "{column}");
    }
    assert_eq!(report["metadata"]["chatdump.schema_version"], "1");
    assert_eq!(report["metadata"]["chatdump.source"], fixture);
    assert_eq!(
        report["metadata"]["chatdump.tool_version"],
        env!("CARGO_PKG_VERSION")
    );
    assert!(report["metadata"].get("chatdump.generated_at").is_none());
}

#[test]
#[cfg_attr(
    not(feature = "test-tools"),
    ignore = "needs python3 with duckdb and pyarrow: run scripts/test"
)]
fn sample_reads_back_in_duckdb_and_pyarrow_equal_to_jsonl() {
    assert_reads_like_jsonl("sample-chat-dump.csv", 30);
}

#[test]
#[cfg_attr(
    not(feature = "test-tools"),
    ignore = "needs python3 with duckdb and pyarrow: run scripts/test"
)]
fn hostile_text_reads_back_in_duckdb_and_pyarrow_equal_to_jsonl() {
    // Emoji, RTL and bidi controls, C0 controls and DEL, CRLF inside a value, 2000-character
    // messages, a reply, a JSON file payload, an unknown payload type, an extra column.
    assert_reads_like_jsonl("hostile-text.csv", 14);
}

/// Describes a Parquet file: the Arrow schema pyarrow sees, DuckDB's `DESCRIBE`, the Parquet
/// physical and logical types, compression, dictionary use, encodings and statistics of the
/// first row group, and the key-value metadata.
const DESCRIBE: &str = r#"
import json, sys
import duckdb, pyarrow.parquet as pq
path = sys.argv[1]
f = pq.ParquetFile(path)
rg = f.metadata.row_group(0)
columns = {}
for i in range(rg.num_columns):
    c = rg.column(i)
    columns[c.path_in_schema] = {
        "physical": c.physical_type,
        "logical": str(f.schema.column(i).logical_type),
        "compression": c.compression,
        "dictionary": c.has_dictionary_page,
        "encodings": sorted(c.encodings),
        "statistics": c.is_stats_set and c.statistics.has_null_count,
        "min_max": bool(c.is_stats_set and c.statistics.has_min_max),
    }
con = duckdb.connect()
print(json.dumps({
    "arrow_schema": f.schema_arrow.to_string(show_schema_metadata=False),
    "duckdb_describe": [f"{n} {t}" for n, t, *_ in con.execute(
        "DESCRIBE SELECT * FROM read_parquet(?)", [path]).fetchall()],
    "row_groups": f.metadata.num_row_groups,
    "rows": f.metadata.num_rows,
    "format_version": f.metadata.format_version,
    "columns": columns,
    "metadata": {k.decode(): v.decode() for k, v in f.metadata.metadata.items() if k != b"ARROW:schema"},
}, indent=1, sort_keys=True))
"#;

#[test]
#[cfg_attr(
    not(feature = "test-tools"),
    ignore = "needs python3 with duckdb and pyarrow: run scripts/test"
)]
fn schema_and_settings_snapshot() {
    let dir = temp_dir();
    let (parquet, _) = convert_both("sample-chat-dump.csv", dir.path(), &[]);
    let report = python(DESCRIBE, &[&parquet]);
    // Timestamps: INT64 TIMESTAMP(MICROS, isAdjustedToUTC=true), never INT96 or nanoseconds.
    let created_at = &report["columns"]["created_at"];
    assert_eq!(created_at["physical"], "INT64");
    assert!(
        created_at["logical"]
            .as_str()
            .unwrap()
            .contains("isAdjustedToUTC=true, timeUnit=microseconds"),
        "{created_at}"
    );
    for (column, settings) in report["columns"].as_object().unwrap() {
        // Random hex ids and delta-encoded timestamps are left uncompressed under snappy, which
        // saves little or nothing on them.
        let codec = if ["id", "created_at"].contains(&column.as_str()) {
            "UNCOMPRESSED"
        } else {
            "SNAPPY"
        };
        assert_eq!(settings["compression"], codec, "{column}");
        // The long free-text columns carry no statistics; every other column does.
        let statistics = !["text", "payload"].contains(&column.as_str());
        assert_eq!(settings["statistics"], statistics, "{column}");
        let repeated = [
            "schema_version",
            "session_id",
            "meeting_id",
            "participant_id",
            "display_name",
            "payload_type",
            "kind",
            "extra",
        ]
        .contains(&column.as_str());
        assert_eq!(settings["dictionary"], repeated, "{column}");
    }
    assert_eq!(report["format_version"], "1.0");
    let mut report = report;
    assert_eq!(
        report["metadata"]["chatdump.tool_version"],
        env!("CARGO_PKG_VERSION")
    );
    report["metadata"]["chatdump.tool_version"] = "[version]".into();
    insta::assert_json_snapshot!("parquet-schema", report);
}

#[test]
fn output_is_byte_identical_between_runs_and_to_a_named_file() {
    let dir = temp_dir();
    let first = dir.path().join("first.parquet");
    let second = dir.path().join("second.parquet");
    for path in [&first, &second] {
        Chatdump::new([
            "convert",
            "hostile-text.csv",
            "--format",
            "parquet",
            "--output",
            path.to_str().unwrap(),
        ])
        .run()
        .success();
    }
    let first = fs::read(first).unwrap();
    assert_eq!(&first[..4], b"PAR1");
    assert_eq!(first, fs::read(second).unwrap());
    // The directory form writes the same bytes.
    let (parquet, _) = convert_both("hostile-text.csv", dir.path(), &[]);
    assert_eq!(first, fs::read(parquet).unwrap());
}

const ROW_GROUPS: &str = r#"
import json, sys
import pyarrow.parquet as pq
f = pq.ParquetFile(sys.argv[1])
rg = f.metadata.row_group(0)
print(json.dumps({
    "row_groups": f.metadata.num_row_groups,
    "rows": [f.metadata.row_group(i).num_rows for i in range(f.metadata.num_row_groups)],
    "compression": sorted({rg.column(i).compression for i in range(rg.num_columns)}),
}))
"#;

#[test]
#[cfg_attr(
    not(feature = "test-tools"),
    ignore = "needs python3 with pyarrow: run scripts/test"
)]
fn compression_and_row_group_size_flags() {
    let dir = temp_dir();
    // The codecs of the first row group's columns: under snappy, `id` and `created_at` are
    // stored uncompressed.
    let cases: [(&str, &[&str]); 4] = [
        ("zstd=9", &["ZSTD"]),
        ("zstd", &["ZSTD"]),
        ("none", &["UNCOMPRESSED"]),
        ("snappy", &["SNAPPY", "UNCOMPRESSED"]),
    ];
    for (flag, codec) in cases {
        let path = dir.path().join(format!("{flag}.parquet"));
        Chatdump::new([
            "convert",
            "sample-chat-dump.csv",
            "-f",
            "parquet",
            "-o",
            path.to_str().unwrap(),
            "--compression",
            flag,
            "--row-group-size",
            "7",
        ])
        .run()
        .success();
        let report = python(ROW_GROUPS, &[&path]);
        assert_eq!(report["compression"], serde_json::json!(codec), "{flag}");
        assert_eq!(report["rows"], serde_json::json!([7, 7, 7, 7, 2]), "{flag}");
    }
    let bigger = fs::metadata(dir.path().join("none.parquet")).unwrap().len();
    let smaller = fs::metadata(dir.path().join("zstd=9.parquet"))
        .unwrap()
        .len();
    assert!(smaller < bigger, "zstd {smaller} >= uncompressed {bigger}");
}

#[test]
fn bad_flags_are_usage_errors() {
    let dir = temp_dir();
    let file = dir.path().join("out.parquet");
    let file = file.to_str().unwrap();
    for args in [
        vec!["--compression", "gzip"],
        vec!["--compression", "zstd=40"],
        vec!["--row-group-size", "0"],
        vec!["--partition-by", "meeting"],
        vec!["--partition-by", "date"],
    ] {
        let mut all = vec![
            "convert",
            "sample-chat-dump.csv",
            "-f",
            "parquet",
            "-o",
            file,
        ];
        all.extend(&args);
        let run = Chatdump::new(all).run();
        run.assert_code(2);
        assert!(!Path::new(file).exists(), "{args:?}");
    }
    // Parquet never goes to standard output.
    Chatdump::new([
        "convert",
        "sample-chat-dump.csv",
        "-f",
        "parquet",
        "-o",
        "-",
    ])
    .run()
    .assert_code(2);
}

/// Reads a hive-partitioned dataset with DuckDB.
const DATASET: &str = r#"
import json, sys
import duckdb
root = sys.argv[1]
con = duckdb.connect()
source = f"read_parquet('{root}/**/*.parquet', hive_partitioning = true)"
print(json.dumps({
    "rows": con.execute(f"SELECT count(*) FROM {source}").fetchone()[0],
    "by_partition": [list(r) for r in con.execute(
        f"SELECT CAST(date AS VARCHAR), session_id, count(*), CAST(min(created_at) AS VARCHAR) FROM {source} GROUP BY ALL ORDER BY ALL").fetchall()],
    "date_type": con.execute(f"SELECT typeof(date) FROM {source} LIMIT 1").fetchone()[0],
    "created_at_type": con.execute(f"SELECT typeof(created_at) FROM {source} LIMIT 1").fetchone()[0],
    "distinct_ids": con.execute(f"SELECT count(DISTINCT id) FROM {source}").fetchone()[0],
}))
"#;

/// Every file under `root`, relative, sorted.
fn files(root: &Path) -> Vec<String> {
    let mut out = Vec::new();
    for entry in walk(root) {
        out.push(
            entry
                .strip_prefix(root)
                .unwrap()
                .to_string_lossy()
                .into_owned(),
        );
    }
    out.sort();
    out
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path);
        }
    }
    out
}

#[test]
#[cfg_attr(
    not(feature = "test-tools"),
    ignore = "needs python3 with duckdb: run scripts/test"
)]
fn partitioned_dataset_reads_in_duckdb_and_reexport_replaces() {
    let dir = temp_dir();
    let root = dir.path().join("dataset");
    let root_arg = root.to_str().unwrap();
    let export = |fixture: &str| {
        Chatdump::new([
            "convert",
            fixture,
            "-f",
            "parquet",
            "--partition-by",
            "date",
            "-o",
            root_arg,
        ])
        .run()
        .success();
    };
    export("sessions-several-dates.csv");
    let expected_files = vec![
        "date=2024-05-14/s-alpha.parquet".to_owned(),
        "date=2024-05-14/s-beta.parquet".to_owned(),
        "date=2024-05-15/s-gamma.parquet".to_owned(),
    ];
    assert_eq!(files(&root), expected_files);

    // A second dump exported into the same root joins the dataset.
    export("sample-chat-dump.csv");
    let report = python(DATASET, &[&root]);
    assert_eq!(report["rows"], 40 + 30, "{report}");
    assert_eq!(report["distinct_ids"], 40 + 30, "{report}");
    assert_eq!(report["date_type"], "DATE", "{report}");
    assert_eq!(report["created_at_type"], "TIMESTAMP WITH TIME ZONE");
    assert_eq!(
        report["by_partition"],
        serde_json::json!([
            [
                "2024-05-14",
                "4f1c2a8e-9b3d-4e57-a1c6-2d8e0f7b9a31",
                30,
                "2024-05-14 09:00:04.112+00"
            ],
            ["2024-05-14", "s-alpha", 14, "2024-05-14 22:00:00.001+00"],
            // The session that crosses midnight stays whole, under the day it started.
            ["2024-05-14", "s-beta", 13, "2024-05-14 23:52:07.003+00"],
            ["2024-05-15", "s-gamma", 13, "2024-05-15 00:11:14.002+00"],
        ]),
        "{report}"
    );

    // Exporting the same sessions again replaces their files: no duplicated rows. A stale
    // copy of a session under another date (its first message used to be elsewhere) goes too.
    let stale = root.join("date=2024-05-01");
    fs::create_dir_all(&stale).unwrap();
    fs::copy(
        root.join("date=2024-05-14/s-alpha.parquet"),
        stale.join("s-alpha.parquet"),
    )
    .unwrap();
    export("sessions-several-dates.csv");
    let report = python(DATASET, &[&root]);
    assert_eq!(report["rows"], 40 + 30, "{report}");
    assert!(!stale.exists(), "the emptied stale partition is removed");
    assert_eq!(files(&root).len(), 4);
    // No temporary files are left behind.
    assert!(files(&root).iter().all(|name| name.ends_with(".parquet")));
}

#[test]
fn partitioned_dataset_beside_jsonl_and_with_odd_session_ids() {
    let dir = temp_dir();
    let out = format!("{}/", dir.path().display());
    Chatdump::new([
        "convert",
        "hostile-text.csv",
        "-f",
        "jsonl,parquet",
        "--partition-by",
        "date",
        "-o",
        &out,
    ])
    .run()
    .success();
    assert_eq!(
        files(dir.path()),
        vec![
            "date=2024-05-14/4f1c2a8e-9b3d-4e57-a1c6-2d8e0f7b9a31.parquet".to_owned(),
            "hostile-text.jsonl".to_owned(),
        ]
    );
    // A session id that is not a safe file name is encoded, never used as a path.
    let input = dir.path().join("odd.csv");
    fs::write(
        &input,
        "id,participantId,sessionId,meetingId,displayName,pinned,isEdited,payloadType,payload,createdAt\n\
         m1,p1,../../escape,mt,A,false,false,TEXT_MESSAGE,hi,2024-05-14T09:00:00.000Z\n",
    )
    .unwrap();
    let root = dir.path().join("ds");
    Chatdump::new([
        "convert",
        input.to_str().unwrap(),
        "-f",
        "parquet",
        "--partition-by",
        "date",
        "-o",
        root.to_str().unwrap(),
    ])
    .run()
    .success();
    assert_eq!(
        files(&root),
        vec!["date=2024-05-14/_2E_2E_2F_2E_2E_2Fescape.parquet".to_owned()]
    );
    assert!(fixtures_dir().join("hostile-text.csv").exists());
}

#[test]
fn a_failed_partitioned_export_leaves_the_output_as_it_was() {
    let dir = temp_dir();
    let input = dir.path().join("late-error.csv");
    let mut csv = String::from(
        "id,participantId,sessionId,meetingId,displayName,pinned,isEdited,payloadType,payload,createdAt\n",
    );
    for i in 0..50 {
        csv.push_str(&format!(
            "m{i},p,s-{},mt,A,false,false,TEXT_MESSAGE,hi,2024-05-14T09:00:{i:02}.000Z\n",
            i % 3
        ));
    }
    csv.push_str("bad,p,s-0,mt,A,maybe,false,TEXT_MESSAGE,hi,2024-05-14T09:01:00.000Z\n");
    fs::write(&input, csv).unwrap();
    let root = dir.path().join("out");
    fs::create_dir_all(root.join("date=2024-01-01")).unwrap();
    fs::write(root.join("date=2024-01-01/s-0.parquet"), b"kept").unwrap();
    let before = crate::support::tree(&root);
    let run = Chatdump::new([
        "convert",
        input.to_str().unwrap(),
        "-f",
        "jsonl,parquet",
        "--partition-by",
        "date",
        "-o",
        root.to_str().unwrap(),
    ])
    .run();
    run.assert_code(1);
    assert_eq!(crate::support::tree(&root), before);
    // Into a root that did not exist: nothing is left, not even the root.
    let fresh = dir.path().join("fresh");
    Chatdump::new([
        "convert",
        input.to_str().unwrap(),
        "-f",
        "parquet",
        "--partition-by",
        "date",
        "-o",
        fresh.to_str().unwrap(),
    ])
    .run()
    .assert_code(1);
    assert!(!fresh.exists());
}
