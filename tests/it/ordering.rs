//! Chronological order (`created_at`, then `id`) whatever the row order, in bounded memory, and
//! duplicates.

use std::fs;

use crate::support::{Chatdump, convert_to_stdout, fixture_bytes, ids, jsonl, temp_dir, tree};

const REREAD_NOTE: &str = "is out of order beyond the reorder window; reading it again to sort it";

/// The out-of-order fixture converted, compared with the same rows converted from a file that
/// is already sorted (`out-of-order-beyond-window.sorted.csv`, written in order by the fixture's
/// generator): the JSONL of the two must be byte-identical.
fn sorted_expectation() -> String {
    let sorted = convert_to_stdout("out-of-order-beyond-window.sorted.csv", &["-v"]);
    let expected_ids: Vec<String> = (0..60).map(|index| format!("r{index:02}")).collect();
    assert_eq!(ids(&sorted), expected_ids);
    sorted
}

#[test]
fn locally_out_of_order_rows_are_sorted_in_the_window() {
    let run = Chatdump::new(["-v", "convert", "out-of-order.csv", "--output", "-"]).run();
    let output = run.success();
    insta::assert_snapshot!("out-of-order", output);
    // Equal times are ordered by id.
    assert_eq!(ids(output), ["m1", "m2", "m3", "m4", "m5a", "m5b", "m6"]);
    assert_eq!(jsonl(output)[4]["payload"], "fifth, id m5a");
    assert!(!run.stderr.contains(REREAD_NOTE), "{}", run.stderr);
    assert!(!run.stderr.contains("spilled"), "{}", run.stderr);
}

#[test]
fn out_of_order_beyond_the_window_is_sorted_externally_with_spilled_runs() {
    let expected = sorted_expectation();
    let dir = temp_dir();
    let spill_dir = dir.path().join("spill");
    fs::create_dir(&spill_dir).unwrap();
    let out = dir.path().join("sorted.jsonl");
    let run = Chatdump::new([
        "-v",
        "convert",
        "out-of-order-beyond-window.csv",
        "--sort-memory",
        "4KiB",
        "--temp-dir",
        spill_dir.to_str().unwrap(),
        "--output",
        out.to_str().unwrap(),
    ])
    .run();
    run.success();
    assert_eq!(fs::read_to_string(&out).unwrap(), expected);
    assert!(
        run.stderr
            .contains(&format!("`out-of-order-beyond-window.csv` {REREAD_NOTE}")),
        "{}",
        run.stderr
    );
    let runs: usize = run
        .stderr
        .lines()
        .find_map(|line| {
            line.trim()
                .strip_prefix("sorted out-of-order input in ")?
                .strip_suffix(" spilled runs")
        })
        .unwrap_or_else(|| panic!("no spill report in:\n{}", run.stderr))
        .parse()
        .unwrap();
    // 60 messages of roughly 500 bytes each in 4 KiB: well over two runs.
    assert!(runs >= 3, "{runs} runs");
    // The runs are temporary: nothing is left where they were spilled.
    assert!(tree(&spill_dir).is_empty());
}

#[test]
fn out_of_order_beyond_the_window_to_stdout() {
    // Standard output cannot be taken back: what a first, abandoned pass wrote must not appear.
    let run = Chatdump::new([
        "convert",
        "out-of-order-beyond-window.csv",
        "--sort-memory",
        "4KiB",
        "--output",
        "-",
    ])
    .run();
    assert_eq!(run.success(), sorted_expectation());
}

#[test]
fn a_large_enough_window_sorts_the_same_file_without_reading_it_again() {
    let run = Chatdump::new([
        "-v",
        "convert",
        "out-of-order-beyond-window.csv",
        "--output",
        "-",
    ])
    .run();
    assert_eq!(run.success(), sorted_expectation());
    assert!(!run.stderr.contains(REREAD_NOTE), "{}", run.stderr);
}

#[test]
fn stdin_is_sorted_externally_with_spilled_runs() {
    let run = Chatdump::new([
        "-v",
        "convert",
        "-",
        "--sort-memory",
        "4KiB",
        "--output",
        "-",
    ])
    .stdin(fixture_bytes("out-of-order-beyond-window.csv"))
    .run();
    assert_eq!(run.success(), sorted_expectation());
    assert!(
        run.stderr.contains(" spilled runs"),
        "no spill report in:\n{}",
        run.stderr
    );
}

#[test]
fn stdin_to_a_file_is_read_again_from_its_copy_when_the_window_gives_up() {
    let dir = temp_dir();
    let spool_dir = dir.path().join("tmp");
    std::fs::create_dir(&spool_dir).unwrap();
    let out = dir.path().join("out.jsonl");
    let run = Chatdump::new([
        "-v",
        "convert",
        "-",
        "--sort-memory",
        "4KiB",
        "--temp-dir",
        spool_dir.to_str().unwrap(),
        "--output",
        out.to_str().unwrap(),
    ])
    .stdin(fixture_bytes("out-of-order-beyond-window.csv"))
    .run();
    run.success();
    // The window pass over standard input gave up; the second pass read the copy it kept.
    assert!(run.stderr.contains(REREAD_NOTE), "{}", run.stderr);
    assert_eq!(std::fs::read_to_string(&out).unwrap(), sorted_expectation());
    // The copy and the spilled runs were unnamed files: nothing is left in the temp dir.
    assert_eq!(std::fs::read_dir(&spool_dir).unwrap().count(), 0);
}

#[test]
fn identical_duplicates_are_written_once_with_a_warning() {
    let run = Chatdump::new(["convert", "duplicates-identical.csv", "--output", "-"]).run();
    let output = run.success();
    insta::assert_snapshot!("duplicates-identical", output);
    assert_eq!(ids(output), ["m1", "m2", "m3", "m4"]);
    assert_eq!(
        run.stderr_lines("warning: "),
        ["warning: line 5: identical duplicate of the message on line 3 (id `m2`), written once"]
    );
    assert!(
        run.stderr
            .contains("duplicates-identical.csv: 4 messages written, 1 duplicates dropped in "),
        "{}",
        run.stderr
    );
}

#[test]
fn warnings_and_rejects_are_reported_once_when_the_file_is_read_again() {
    // The out-of-order fixture with its second-earliest message, `r01`, moved to the top and
    // repeated, then a bad record: the duplicate leaves the reorder window (with a warning) and
    // the bad record is skipped long before the earliest message, last in the file, makes the
    // file be read again.
    let original = String::from_utf8(fixture_bytes("out-of-order-beyond-window.csv")).unwrap();
    let mut lines: Vec<&str> = original.lines().collect();
    let r01 = lines
        .iter()
        .position(|line| line.starts_with("r01,"))
        .unwrap();
    let r01 = lines.remove(r01);
    let bad = "bad,p,s,m,Ann,maybe,false,TEXT_MESSAGE,x,2024-05-14T09:00:30Z";
    lines.splice(1..1, [r01, r01, bad]);
    let input = lines.join("\n") + "\n";
    let dir = temp_dir();
    let path = dir.path().join("dup.csv");
    fs::write(&path, input).unwrap();
    let out = dir.path().join("out/");
    let run = Chatdump::new([
        "-v",
        "convert",
        path.to_str().unwrap(),
        "--sort-memory",
        "4KiB",
        "--on-error",
        "skip",
        "--output",
        out.to_str().unwrap(),
    ])
    .run();
    run.success();
    assert_eq!(
        fs::read_to_string(out.join("dup.jsonl")).unwrap(),
        sorted_expectation()
    );
    assert!(run.stderr.contains(REREAD_NOTE), "{}", run.stderr);
    assert_eq!(
        run.stderr_lines("warning: "),
        [
            format!(
                "warning: skipped: `{}` line 4, column `pinned`: not a boolean: expected true/false, t/f, 1/0, yes/no or empty: `maybe`",
                path.display()
            ),
            "warning: line 3: identical duplicate of the message on line 2 (id `r01`), written once"
                .to_owned(),
        ],
        "{}",
        run.stderr
    );
    let rejects = jsonl(&fs::read_to_string(out.join("dup.rejects.jsonl")).unwrap());
    assert_eq!(rejects.len(), 1);
    assert_eq!(rejects[0]["line"], 4);
    assert!(
        run.stderr
            .contains("60 messages written, 1 rejected, 1 duplicates dropped in "),
        "{}",
        run.stderr
    );
}

#[test]
fn same_id_with_different_content_is_an_error_naming_both_lines() {
    let dir = temp_dir();
    let out = dir.path().join("out/");
    let run = Chatdump::new([
        "convert",
        "duplicate-conflict.csv",
        "--output",
        out.to_str().unwrap(),
    ])
    .run();
    run.assert_code(1);
    assert_eq!(
        run.stderr_lines("error: "),
        [
            "error: `duplicate-conflict.csv` line 5, column `id`: the same id appears on line 3 with different content: `m2`"
        ]
    );
    assert!(tree(dir.path()).is_empty());
}

#[test]
fn same_id_with_different_content_in_skip_mode_keeps_the_first() {
    let dir = temp_dir();
    let rejects = dir.path().join("rejects.jsonl");
    let run = Chatdump::new([
        "convert",
        "duplicate-conflict.csv",
        "--on-error",
        "skip",
        "--rejects",
        rejects.to_str().unwrap(),
        "--output",
        "-",
    ])
    .run();
    let output = run.success();
    assert_eq!(ids(output), ["m1", "m2", "m3", "m4"]);
    assert_eq!(jsonl(output)[1]["payload"], "two, the first version");
    let rejects = jsonl(&fs::read_to_string(&rejects).unwrap());
    assert_eq!(rejects.len(), 1);
    assert_eq!(rejects[0]["line"], 5);
    assert_eq!(rejects[0]["error"], "conflicting_duplicate");
    assert_eq!(rejects[0]["column"], "id");
    assert_eq!(rejects[0]["excerpt"], "m2");
    assert!(
        run.stderr
            .contains("duplicate-conflict.csv: 4 messages written, 1 rejected in "),
        "{}",
        run.stderr
    );
}

#[test]
fn a_small_window_streams_sorted_and_locally_shuffled_input_without_reading_it_again() {
    // About eight messages fit in 4 KiB: enough to fix rows at most three places out of order,
    // and an input already in order never needs more than one.
    for (fixture, expected) in [
        (
            "out-of-order.csv",
            convert_to_stdout("out-of-order.csv", &[]),
        ),
        (
            "out-of-order-beyond-window.sorted.csv",
            sorted_expectation(),
        ),
    ] {
        let dir = temp_dir();
        let out = dir.path().join("out.jsonl");
        let run = Chatdump::new([
            "-v",
            "convert",
            fixture,
            "--sort-memory",
            "4KiB",
            "--output",
            out.to_str().unwrap(),
        ])
        .run();
        run.success();
        assert_eq!(fs::read_to_string(&out).unwrap(), expected, "{fixture}");
        assert!(
            !run.stderr.contains(REREAD_NOTE),
            "{fixture}: {}",
            run.stderr
        );
        assert!(!run.stderr.contains("spilled"), "{fixture}: {}", run.stderr);
    }
}

/// A small deterministic pseudo-random generator (64-bit LCG), so the test needs no crate and
/// always sees the same inputs.
struct Lcg(u64);

impl Lcg {
    fn below(&mut self, bound: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) % bound
    }
}

#[test]
fn every_row_order_and_memory_budget_gives_the_same_sorted_output() {
    // 400 messages over 100 seconds (so many share a timestamp and are ordered by id), written
    // fully shuffled, and locally shuffled (each row moved up to 20 places).
    let mut random = Lcg(2024);
    let mut rows: Vec<(u64, String)> = (0..400)
        .map(|index| {
            (
                random.below(100),
                format!("id{:03}", random.below(1000) * 1000 + index),
            )
        })
        .collect();
    let mut expected = rows.clone();
    expected.sort();
    let expected: Vec<String> = expected.into_iter().map(|(_, id)| id).collect();
    let dir = temp_dir();
    let mut inputs = Vec::new();
    for shuffle in ["full", "local"] {
        for index in (1..rows.len()).rev() {
            let other = match shuffle {
                "full" => random.below(index as u64 + 1) as usize,
                _ => index - (random.below(20.min(index as u64) + 1) as usize),
            };
            rows.swap(index, other);
        }
        let mut csv = String::from(
            "id,participantId,sessionId,meetingId,displayName,pinned,isEdited,payloadType,payload,createdAt\n",
        );
        for (second, id) in &rows {
            csv.push_str(&format!(
                "{id},p,s,m,Ann,false,false,TEXT_MESSAGE,message {id},{}\n",
                1_715_677_200 + second
            ));
        }
        let path = dir.path().join(format!("{shuffle}.csv"));
        fs::write(&path, csv).unwrap();
        inputs.push(path);
    }
    for input in &inputs {
        for budget in ["1KiB", "8KiB", "64KiB", "16MiB"] {
            let out = dir.path().join("out.jsonl");
            Chatdump::new([
                "convert",
                input.to_str().unwrap(),
                "--sort-memory",
                budget,
                "--output",
                out.to_str().unwrap(),
            ])
            .run()
            .success();
            let got = ids(&fs::read_to_string(&out).unwrap());
            assert!(got == expected, "{} with {budget}", input.display());
        }
        // Standard input always takes the external sort.
        let run = Chatdump::new(["convert", "-", "--sort-memory", "2KiB", "--output", "-"])
            .stdin(fs::read(input).unwrap())
            .run();
        assert!(
            ids(run.success()) == expected,
            "{} on stdin",
            input.display()
        );
    }
}
