//! `remove_pending_files` on a signal: the temporary files of live outputs are removed, and no
//! new one can appear between the clean-up and the exit. Its own test binary: the clean-up
//! leaves the process's list locked for good.

#![allow(
    clippy::disallowed_methods,
    reason = "tests may use the system temporary directory"
)]

use std::sync::mpsc;
use std::time::Duration;

use chatdump_core::output::{AtomicFile, remove_pending_files};

fn entries(dir: &std::path::Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn no_temporary_file_appears_after_the_clean_up() {
    let dir = tempfile::tempdir().unwrap();
    let live = AtomicFile::create(dir.path().join("a.jsonl")).unwrap();
    assert_eq!(
        entries(dir.path()).len(),
        1,
        "the live output's temporary file"
    );

    remove_pending_files();
    assert!(entries(dir.path()).is_empty(), "{:?}", entries(dir.path()));

    // An output started after the clean-up (another writer thread, racing the exit) waits for
    // the exit instead of leaving a file behind.
    let (done, finished) = mpsc::channel();
    let target = dir.path().join("b.jsonl");
    std::thread::spawn(move || {
        let late = AtomicFile::create(target);
        let _ = done.send(late.is_ok());
    });
    assert!(
        finished.recv_timeout(Duration::from_millis(300)).is_err(),
        "a temporary file was created after the clean-up"
    );
    assert!(entries(dir.path()).is_empty(), "{:?}", entries(dir.path()));
    std::mem::forget(live);
}
