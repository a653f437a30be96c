//! Several formats in one conversion (each written on a thread of its own) give the same bytes
//! as each format alone, and a format failing among several is named and leaves no output.

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

use chatdump_core::export::RunError;
use chatdump_pipeline::{
    Destination, Events, Format, NoEvents, Options, PipelineError, Plan, Source, convert,
};

const HEADER: &str = "id,participantId,sessionId,meetingId,displayName,pinned,isEdited,payloadType,payload,createdAt";

/// `records` records over two sessions and the three payload types, every tenth pair swapped,
/// some identical duplicates, and the very first message last: beyond a small reorder window, so
/// the dump is read a second time and sorted externally. `odd_session` replaces the session id
/// of the record in the middle.
fn dump(records: usize, odd_session: Option<&str>) -> String {
    let line = |i: usize| {
        let session = match odd_session {
            Some(odd) if i == records / 2 => odd.to_owned(),
            _ => format!("session-{}", i / 2_000),
        };
        let (kind, payload) = match i % 3 {
            0 => ("TEXT_MESSAGE", format!("**hello** <b>{i}</b> é")),
            1 => (
                "IMAGE_MESSAGE",
                format!("\"{{\"\"link\"\":\"\"https://example.com/{i}.png\"\"}}\""),
            ),
            _ => (
                "FILE_MESSAGE",
                format!(
                    "\"{{\"\"link\"\":\"\"https://example.com/{i}.pdf\"\",\"\"name\"\":\"\"f{i}.pdf\"\",\"\"size\"\":{i}}}\""
                ),
            ),
        };
        format!(
            "m{i},p{},{session},mt1,Person {},{},false,{kind},{payload},2024-05-{:02}T{:02}:{:02}:{:02}.{:03}Z",
            i % 7,
            i % 7,
            i.is_multiple_of(50),
            14 + i / 3_000,
            i / 3_600 % 24,
            i / 60 % 60,
            i % 60,
            i % 1000
        )
    };
    let mut lines = vec![HEADER.to_owned()];
    let mut index = 1;
    while index < records {
        if index % 10 == 1 {
            lines.push(line(index + 1));
            lines.push(line(index));
        } else {
            lines.push(line(index));
            lines.push(line(index + 1));
        }
        if index % 97 == 1 {
            lines.push(line(index + 1));
        }
        index += 2;
    }
    lines.push(line(0));
    lines.join("\n")
}

fn options(temp: &Path) -> Options {
    let mut options = Options::new(temp.to_owned(), "0.0.0-test");
    // Small enough that the first message, last in the file, is out of the window's reach.
    options.sort_memory = 256 << 10;
    options
}

/// Every file under `dir`, by path relative to it.
fn files(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut found = BTreeMap::new();
    let mut pending = vec![dir.to_owned()];
    while let Some(next) = pending.pop() {
        for entry in fs::read_dir(&next).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                pending.push(path);
            } else {
                let name = path.strip_prefix(dir).unwrap().display().to_string();
                found.insert(name, fs::read(&path).unwrap());
            }
        }
    }
    found
}

/// Counts the inputs read a second time, to be sorted externally.
#[derive(Default)]
struct Passes(usize);

impl Events for Passes {
    fn reading_again(&mut self, _source: &Source) {
        self.0 += 1;
    }
}

#[test]
fn four_formats_at_once_give_the_bytes_of_each_format_alone() {
    let temp = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let input = temp.path().join("chat.csv");
    fs::write(&input, dump(6_000, None)).unwrap();
    let sources = [Source::path(&input)];
    let options = options(temp.path());

    let all = temp.path().join("all");
    let plan = Plan::new(&Format::ALL, Destination::Directory(all.clone()));
    let mut passes = Passes::default();
    let converted = convert(&sources, &plan, &options, &mut passes).unwrap();
    assert_eq!(
        passes.0, 1,
        "the window pass gives up, the external one finishes"
    );
    assert_eq!(converted[0].outputs.len(), 4);
    let together = files(&all);
    assert_eq!(together.len(), 4, "{:?}", together.keys());

    let mut alone = BTreeMap::new();
    for format in Format::ALL {
        let dir = temp.path().join(format.extension());
        let plan = Plan::new(&[format], Destination::Directory(dir.clone()));
        let single = convert(&sources, &plan, &options, &mut NoEvents).unwrap();
        assert_eq!(single[0].summary, converted[0].summary);
        alone.extend(files(&dir));
    }
    assert_eq!(
        together.keys().collect::<Vec<_>>(),
        alone.keys().collect::<Vec<_>>()
    );
    for (name, bytes) in &together {
        assert!(bytes.len() > 10_000, "{name}");
        assert!(*bytes == alone[name], "{name} differs");
    }
}

#[test]
fn a_format_failing_among_several_is_named_and_leaves_no_output() {
    let temp = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let input = temp.path().join("chat.csv");
    // A session id too long for a file name: the partitioned Parquet dataset cannot name its
    // file, in the middle of the run, after the other formats have written thousands of rows.
    fs::write(&input, dump(6_000, Some(&"x".repeat(300)))).unwrap();
    let sources = [Source::path(&input)];
    let out = temp.path().join("out");
    let mut plan = Plan::new(&Format::ALL, Destination::Directory(out.clone()));
    plan.partition_by_date = true;
    let error = convert(&sources, &plan, &options(temp.path()), &mut NoEvents).unwrap_err();
    let PipelineError::Run(RunError::Export { format, .. }) = &error else {
        panic!("{error:?}")
    };
    assert_eq!(format, "Parquet");
    assert_eq!(error.to_string(), "cannot write Parquet output");
    assert!(!out.exists(), "{:?}", files(&out).keys());
    let mut left: Vec<_> = fs::read_dir(temp.path())
        .unwrap()
        .map(|entry| entry.unwrap().file_name())
        .collect();
    left.sort();
    assert_eq!(left, ["chat.csv"]);
}
