//! An interrupted run (SIGINT or SIGTERM) leaves no partial output: the temporary files beside
//! the targets are removed before chatdump exits with status 128 + the signal's number (130 for
//! SIGINT, 143 for SIGTERM).

use std::fmt::Write as _;
use std::fs;
use std::path::Path;
use std::process::{Command, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

use crate::support::{CHATDUMP, temp_dir};

/// Writes a dump large enough that converting it takes a few seconds in a debug build.
fn write_large_dump(path: &Path) {
    let mut text = String::from(
        "id,participantId,sessionId,meetingId,displayName,pinned,isEdited,payloadType,payload,createdAt\n",
    );
    for index in 0..400_000_u32 {
        let _ = writeln!(
            text,
            "m{index:07},p{},s1,mt1,Person {},false,false,TEXT_MESSAGE,\"message number {index}, with a comma\",{}",
            index % 50,
            index % 50,
            1_715_677_200_000_u64 + u64::from(index) * 250,
        );
    }
    fs::write(path, text).expect("write the large dump");
}

fn interrupt_with(signal: &str, expected_code: i32) {
    let dir = temp_dir();
    let input = dir.path().join("large.csv");
    write_large_dump(&input);
    let output = dir.path().join("out");
    fs::create_dir(&output).unwrap();
    let mut child = Command::new(CHATDUMP)
        .args(["-q", "convert"])
        .arg(&input)
        .args(["--format", "jsonl", "--output"])
        .arg(&output)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start chatdump");
    // Wait until the run has created its temporary output, so the signal lands mid-run.
    let started = Instant::now();
    while fs::read_dir(&output).unwrap().next().is_none() {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "no temporary output appeared"
        );
        assert!(
            child.try_wait().unwrap().is_none(),
            "chatdump ended before it was interrupted"
        );
        sleep(Duration::from_millis(5));
    }
    let status = Command::new("kill")
        .args([signal, &child.id().to_string()])
        .status()
        .expect("run kill");
    assert!(status.success());
    let status = child.wait().unwrap();
    assert_eq!(
        status.code(),
        Some(expected_code),
        "exit status after {signal}"
    );
    let left: Vec<_> = fs::read_dir(&output)
        .unwrap()
        .map(|entry| entry.unwrap().file_name())
        .collect();
    assert!(
        left.is_empty(),
        "files left behind after {signal}: {left:?}"
    );
}

#[test]
fn sigterm_leaves_no_partial_output() {
    interrupt_with("-TERM", 143);
}

#[test]
fn sigint_leaves_no_partial_output() {
    interrupt_with("-INT", 130);
}
