//! `--jsonl-flavor`: each search-index flavor's shape, checked rule by rule, and snapshotted.

use serde_json::Value;

use crate::support::{Chatdump, convert_to_stdout, jsonl};

/// The only characters Meilisearch accepts in a document id (Typesense ids travel in URLs, so
/// they get the same).
fn is_search_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 511
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

fn flavor(fixture: &str, flavor: &str, extra: &[&str]) -> String {
    let mut args = vec!["--jsonl-flavor", flavor];
    args.extend_from_slice(extra);
    convert_to_stdout(fixture, &args)
}

#[test]
fn plain_is_the_default_and_unchanged() {
    for fixture in ["sample-chat-dump.csv", "hostile-text.csv"] {
        assert_eq!(
            flavor(fixture, "plain", &[]),
            convert_to_stdout(fixture, &[])
        );
    }
}

#[test]
fn elasticsearch_bulk_shape() {
    for fixture in ["sample-chat-dump.csv", "hostile-text.csv"] {
        let plain = convert_to_stdout(fixture, &[]);
        let bulk = flavor(fixture, "elasticsearch", &["--index", "chat-2024.05"]);
        // The body ends with a newline, as `_bulk` requires.
        assert!(bulk.ends_with('\n'));
        let lines: Vec<&str> = bulk.lines().collect();
        let documents: Vec<&str> = plain.lines().collect();
        // Pairs: an action line, then the plain document, unchanged.
        assert_eq!(lines.len(), 2 * documents.len());
        for (pair, document) in lines.chunks(2).zip(&documents) {
            let action: Value = serde_json::from_str(pair[0]).unwrap();
            let source: Value = serde_json::from_str(pair[1]).unwrap();
            assert_eq!(pair[1], *document);
            // `index` (not `create`): loading the file again overwrites, idempotently.
            let meta = action["index"].as_object().expect("an index action");
            assert_eq!(meta.len(), 2, "{action}");
            assert_eq!(meta["_index"], "chat-2024.05");
            assert_eq!(meta["_id"], source["id"], "the _id is the message id");
            assert!(action.as_object().unwrap().len() == 1);
        }
    }
    insta::assert_snapshot!(
        "elasticsearch",
        flavor(
            "sample-chat-dump.csv",
            "elasticsearch",
            &["--index", "chat"]
        )
    );
}

#[test]
fn elasticsearch_needs_a_valid_index() {
    for args in [
        vec!["--jsonl-flavor", "elasticsearch"],
        vec!["--jsonl-flavor", "elasticsearch", "--index", "Chat"],
        vec!["--jsonl-flavor", "elasticsearch", "--index", "a/b"],
        vec!["--jsonl-flavor", "elasticsearch", "--index", "_x"],
    ] {
        let mut all = vec!["convert", "sample-chat-dump.csv", "-o", "-"];
        all.extend(&args);
        let run = Chatdump::new(all).run();
        run.assert_code(2);
        assert!(run.stdout.is_empty(), "{args:?}");
    }
    // `opensearch` is the same flavor.
    assert_eq!(
        flavor("sample-chat-dump.csv", "opensearch", &["--index", "chat"]),
        flavor(
            "sample-chat-dump.csv",
            "elasticsearch",
            &["--index", "chat"]
        )
    );
}

#[test]
fn meilisearch_shape() {
    for fixture in ["sample-chat-dump.csv", "hostile-text.csv"] {
        let plain = jsonl(&convert_to_stdout(fixture, &[]));
        let documents = jsonl(&flavor(fixture, "meilisearch", &[]));
        assert_eq!(documents.len(), plain.len());
        let mut seen = std::collections::HashSet::new();
        for (document, plain) in documents.iter().zip(&plain) {
            let object = document.as_object().unwrap();
            // Exactly one primary-key candidate: one attribute whose name contains `id`.
            let candidates: Vec<&String> = object
                .keys()
                .filter(|key| key.to_ascii_lowercase().contains("id"))
                .collect();
            assert_eq!(candidates, ["id"], "{document}");
            // The id is a string of [A-Za-z0-9_-], unique.
            let id = document["id"].as_str().unwrap();
            assert!(is_search_id(id), "{id}");
            assert!(seen.insert(id.to_owned()), "duplicate id {id}");
            // A numeric timestamp to filter and sort on.
            assert!(document["created_at_ms"].is_i64(), "{document}");
            assert_eq!(document["created_at_ms"], plain["created_at_ms"]);
            // The other ids are kept under names without `id`.
            assert_eq!(document["session"], plain["session_id"]);
            assert_eq!(document["meeting"], plain["meeting_id"]);
            assert_eq!(document["participant"], plain["participant_id"]);
            assert_eq!(document["payload"], plain["payload"]);
            assert_eq!(document["extra"], plain["extra"]);
        }
    }
    // A raw id outside the alphabet is mapped deterministically: `_` + hex of each other byte.
    let documents = jsonl(&flavor("hostile-text.csv", "meilisearch", &[]));
    assert!(
        documents
            .iter()
            .any(|document| document["id"] == "msg_2F12_20_E2_98_83_5Fx"),
        "msg/12 ☃_x is mapped"
    );
    insta::assert_snapshot!(
        "meilisearch",
        flavor("sample-chat-dump.csv", "meilisearch", &[])
    );
}

#[test]
fn typesense_shape() {
    for fixture in ["sample-chat-dump.csv", "hostile-text.csv"] {
        let plain = jsonl(&convert_to_stdout(fixture, &[]));
        let documents = jsonl(&flavor(fixture, "typesense", &[]));
        assert_eq!(documents.len(), plain.len());
        let mut seen = std::collections::HashSet::new();
        for (document, plain) in documents.iter().zip(&plain) {
            // `id` is a string (never a number), safe in a URL, unique.
            let id = document["id"].as_str().expect("a string id");
            assert!(is_search_id(id), "{id}");
            assert!(seen.insert(id.to_owned()));
            // The timestamp is an int64.
            let ms = document["created_at_ms"].as_i64().expect("an int64");
            assert_eq!(ms, plain["created_at_ms"].as_i64().unwrap());
            // Everything else is the plain document.
            let mut rest = document.clone();
            let mut plain_rest = plain.clone();
            rest.as_object_mut().unwrap().remove("id");
            plain_rest.as_object_mut().unwrap().remove("id");
            assert_eq!(rest, plain_rest);
        }
    }
    insta::assert_snapshot!(
        "typesense",
        flavor("sample-chat-dump.csv", "typesense", &[])
    );
}

#[test]
fn flavors_are_byte_identical_between_runs() {
    for name in ["meilisearch", "typesense"] {
        assert_eq!(
            flavor("hostile-text.csv", name, &[]),
            flavor("hostile-text.csv", name, &[])
        );
    }
}
