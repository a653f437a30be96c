//! Files and processes under stress: the external sort of a large reversed dump stays within a
//! few open files and its memory budget; SIGINT and SIGTERM exit as shells expect and leave no
//! temporary file; a run removes the temporaries that a killed run left behind.

use std::fmt::Write as _;
use std::fs;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

use crate::support::{CHATDUMP, temp_dir};

const HEADER: &str = "id,participantId,sessionId,meetingId,displayName,pinned,isEdited,payloadType,payload,createdAt\n";

/// Writes a dump of `rows` messages, newest first when `reversed` (every message after the
/// first is out of order).
fn write_dump(path: &Path, rows: u32, reversed: bool) {
    let mut text = String::from(HEADER);
    for step in 0..rows {
        let index = if reversed { rows - 1 - step } else { step };
        let _ = writeln!(
            text,
            "m{index:07},p{},s1,mt1,Person {},false,false,TEXT_MESSAGE,\"message number {index}, with a comma\",{}",
            index % 50,
            index % 50,
            1_715_677_200_000_u64 + u64::from(index) * 250,
        );
    }
    fs::write(path, text).expect("write the dump");
}

/// A `/proc/PID/status` field in KiB.
fn status_kib(pid: u32, field: &str) -> Option<u64> {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|line| line.starts_with(field))?;
    line[field.len()..]
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()
}

/// What was seen of a process while it ran.
struct Watched {
    code: Option<i32>,
    stderr: String,
    /// The peak resident set (`VmHWM`), in KiB, as last read before the process ended.
    peak_rss_kib: u64,
    /// The most open file descriptors seen at once.
    most_open_files: usize,
}

/// Polls `child`'s peak RSS and open file descriptors until it ends.
fn watch(mut child: Child) -> Watched {
    let pid = child.id();
    let (mut peak_rss_kib, mut most_open_files) = (0, 0);
    let status = loop {
        if let Some(hwm) = status_kib(pid, "VmHWM:") {
            peak_rss_kib = peak_rss_kib.max(hwm);
        }
        if let Ok(entries) = fs::read_dir(format!("/proc/{pid}/fd")) {
            most_open_files = most_open_files.max(entries.count());
        }
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        sleep(Duration::from_millis(2));
    };
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
    Watched {
        code: status.code(),
        stderr,
        peak_rss_kib,
        most_open_files,
    }
}

/// Converts `input` to JSONL in `output` with `--sort-memory 16KiB`, under `ulimit -n 256`.
fn convert_limited(input: &Path, output: &Path, spill: &Path) -> Watched {
    let child = Command::new("sh")
        .args(["-c", r#"ulimit -n 256 && exec "$0" "$@""#, CHATDUMP])
        .args(["-v", "convert"])
        .arg(input)
        .args(["--format", "jsonl", "--sort-memory", "16KiB", "--temp-dir"])
        .arg(spill)
        .arg("--output")
        .arg(output)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start chatdump");
    watch(child)
}

/// The ids of a JSONL file, in order.
fn jsonl_ids(path: &Path) -> Vec<String> {
    fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|line| {
            let value: serde_json::Value = serde_json::from_str(line).unwrap();
            value["id"].as_str().unwrap().to_owned()
        })
        .collect()
}

#[test]
fn external_sort_of_a_reversed_dump_stays_within_few_files_and_its_budget() {
    const ROWS: u32 = 200_000;
    let dir = temp_dir();
    let spill = dir.path().join("spill");
    fs::create_dir(&spill).unwrap();

    // The same messages in order stream through the reorder window: the baseline memory of a
    // conversion without any external sort.
    let ordered = dir.path().join("ordered.csv");
    write_dump(&ordered, ROWS, false);
    let baseline_dir = dir.path().join("baseline");
    fs::create_dir(&baseline_dir).unwrap();
    let baseline = convert_limited(&ordered, &baseline_dir, &spill);
    assert_eq!(baseline.code, Some(0), "{}", baseline.stderr);

    let reversed = dir.path().join("reversed.csv");
    write_dump(&reversed, ROWS, true);
    fs::remove_file(&ordered).unwrap();
    let output = dir.path().join("out");
    fs::create_dir(&output).unwrap();
    let run = convert_limited(&reversed, &output, &spill);
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    assert!(
        run.stderr.contains("spilled runs"),
        "the external sort was not used:\n{}",
        run.stderr
    );
    eprintln!(
        "reversed {ROWS} rows, --sort-memory 16KiB: peak RSS {} KiB (in order: {} KiB), \
         at most {} files open (in order: {})",
        run.peak_rss_kib, baseline.peak_rss_kib, run.most_open_files, baseline.most_open_files
    );
    assert!(
        run.most_open_files < 64,
        "{} files open at once",
        run.most_open_files
    );
    // The merge's fixed allowance is about 1 MiB of read buffers; leave room for allocator
    // slack, nothing like the 150 MB of one buffer per run.
    assert!(
        run.peak_rss_kib <= baseline.peak_rss_kib + 16 * 1024,
        "peak RSS {} KiB against {} KiB in order",
        run.peak_rss_kib,
        baseline.peak_rss_kib
    );
    let ids = jsonl_ids(&output.join("reversed.jsonl"));
    assert_eq!(ids.len(), ROWS as usize);
    assert_eq!(ids, jsonl_ids(&baseline_dir.join("ordered.jsonl")));
    assert_eq!(
        fs::read_dir(&spill).unwrap().count(),
        0,
        "spilled runs left behind"
    );
}

/// The names in `dir`, sorted.
fn names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// A random number below `bound`, different in every test run.
fn random_below(bound: u64) -> u64 {
    use std::hash::{BuildHasher as _, RandomState};
    RandomState::new().hash_one(Instant::now()) % bound
}

#[test]
fn a_run_removes_the_temporaries_that_killed_runs_left() {
    let dir = temp_dir();
    let input = dir.path().join("large.csv");
    write_dump(&input, 200_000, false);
    let output = dir.path().join("out");
    fs::create_dir(&output).unwrap();
    let convert = || {
        let mut command = Command::new(CHATDUMP);
        command
            .args(["-q", "convert"])
            .arg(&input)
            .args(["--format", "jsonl,md", "--output"])
            .arg(&output)
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        command
    };
    for round in 0..3 {
        let before = names(&output);
        let mut child = convert().spawn().expect("start chatdump");
        // Wait until this run made its own temporaries, then kill it at a random point.
        let started = Instant::now();
        while names(&output).iter().all(|name| before.contains(name)) {
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "no temporary output appeared"
            );
            assert!(
                child.try_wait().unwrap().is_none(),
                "chatdump ended before it was killed"
            );
            sleep(Duration::from_millis(2));
        }
        sleep(Duration::from_millis(random_below(300)));
        child.kill().expect("SIGKILL chatdump");
        let status = child.wait().unwrap();
        assert_eq!(
            status.code(),
            None,
            "round {round}: chatdump was not killed"
        );
        let left = names(&output);
        assert!(
            !left.is_empty()
                && left.iter().all(|name| {
                    name.starts_with('.')
                        && Path::new(name).extension().is_some_and(|ext| ext == "tmp")
                }),
            "round {round}: a killed run leaves only its temporaries: {left:?}"
        );
    }
    let run = convert().output().expect("run chatdump");
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    assert_eq!(names(&output), ["large.jsonl", "large.md"]);
}
