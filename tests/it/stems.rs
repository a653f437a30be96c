//! One rule names a session's files in every entry point: a hostile session id gives the same
//! safe stem (`chatdump_core::stem::session_file_stem`) in `convert --partition-by date`,
//! `export`, `export --all` (and `serve`: see `serve::a_hostile_session_id_is_named_by_the_stem_rule`).

use std::path::{Path, PathBuf};

use chatdump_core::stem::session_file_stem;
use chatdump_testserver::sessions::{OrgSpec, bulk_base_url};
use chatdump_testserver::{Config, Server, chat_csv};

use crate::support::{Chatdump, temp_dir, tree};

const ORG_ID: &str = "org-stems";
const API_KEY: &str = "key-stems";

/// A session id with a path, a parent directory, a space, a dot and a non-ASCII letter; the
/// `ok--` prefix is the test server's "no fault" scenario.
const HOSTILE: &str = "ok--../évil id/x.y";

fn server() -> Server {
    Server::start(Config {
        org_id: ORG_ID.into(),
        api_key: API_KEY.into(),
        messages: 5,
        ..Config::default()
    })
    .expect("start the test server on 127.0.0.1")
}

fn with_api(args: &[&str]) -> Chatdump {
    Chatdump::new(args.to_vec())
        .allowing_test_server()
        .env("DYTE_ORG_ID", ORG_ID)
        .env("DYTE_API_KEY", API_KEY)
        .env("NO_PROXY", "127.0.0.1")
        .env("no_proxy", "127.0.0.1")
}

/// Every file under `root`, relative, as text.
fn files(root: &Path) -> Vec<String> {
    tree(root)
        .into_iter()
        .filter(|(_, content)| content.is_some())
        .map(|(path, _)| path.display().to_string())
        .collect()
}

#[test]
fn a_hostile_session_id_gets_the_same_safe_stem_in_convert_and_export() {
    let stem = session_file_stem(HOSTILE).expect("a stem");
    assert!(!stem.contains(['/', '.', ' ']), "{stem}");
    let work = temp_dir();

    // convert --partition-by date: the dataset file is named after the dump's session id.
    let csv = work.path().join("dump.csv");
    std::fs::write(&csv, chat_csv(HOSTILE, 5)).unwrap();
    let converted = work.path().join("converted");
    Chatdump::new([
        "convert",
        csv.to_str().unwrap(),
        "--format",
        "parquet",
        "--partition-by",
        "date",
        "--output",
        converted.to_str().unwrap(),
    ])
    .run()
    .success();
    let dataset = files(&converted);
    assert_eq!(dataset.len(), 1, "{dataset:?}");
    assert!(
        dataset[0].ends_with(&format!("/{stem}.parquet")),
        "{dataset:?}"
    );

    // export: the downloaded dump and every output are named after the session id.
    let server = server();
    let exported = work.path().join("exported");
    with_api(&[
        "export",
        "--base-url",
        &server.dyte_base_url(),
        "--session-id",
        HOSTILE,
        "--keep-csv",
        "--format",
        "jsonl,md,parquet",
        "--partition-by",
        "date",
        "--output",
        exported.to_str().unwrap(),
    ])
    .run()
    .success();
    let mut expected = vec![
        format!("{stem}.csv"),
        format!("{stem}.jsonl"),
        format!("{stem}.md"),
        dataset[0].clone(),
    ];
    expected.sort();
    assert_eq!(files(&exported), expected);
}

#[test]
fn export_all_names_hostile_session_ids_by_the_same_rule() {
    let server = server();
    let spec = OrgSpec {
        sessions: 3,
        hostile: true,
        media: false,
        all_ended: true,
        ..OrgSpec::default()
    };
    let work = temp_dir();
    let root = work.path().join("dataset");
    with_api(&[
        "export",
        "--all",
        "--base-url",
        &bulk_base_url(&server, &spec),
        "--format",
        "parquet",
        "--retry-delay",
        "10ms",
        "--output",
        root.to_str().unwrap(),
    ])
    .run()
    .success();
    let written: Vec<PathBuf> = files(&root)
        .into_iter()
        .filter(|path| path.ends_with(".parquet"))
        .map(PathBuf::from)
        .collect();
    let mut stems: Vec<String> = written
        .iter()
        .map(|path| path.file_stem().unwrap().to_string_lossy().into_owned())
        .collect();
    stems.sort();
    let mut expected: Vec<String> = (0..3)
        .map(|index| session_file_stem(&spec.session_id(index)).unwrap())
        .collect();
    expected.sort();
    assert_eq!(stems, expected);
    assert!(
        spec.session_id(0).contains("/../"),
        "the ids are hostile: {}",
        spec.session_id(0)
    );
}
