//! Helpers shared by the integration tests: run the real `chatdump` binary, find fixtures, make
//! temporary directories and take a byte-for-byte picture of one.

use std::collections::BTreeMap;
use std::ffi::{OsStr, OsString};
use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The binary under test, built by Cargo for this test target.
pub(crate) const CHATDUMP: &str = env!("CARGO_BIN_EXE_chatdump");

/// The fixtures directory. Tests run the binary from here and name fixtures relative to it, so
/// error messages quote the bare file name (`bom.csv`) and can be asserted exactly.
pub(crate) fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures")
}

/// Runs `python3 ARGS` and returns its standard output; the test fails, with Python's stderr,
/// unless it succeeds.
#[track_caller]
pub(crate) fn python3<S: AsRef<OsStr>>(args: impl IntoIterator<Item = S>) -> Vec<u8> {
    let args: Vec<OsString> = args
        .into_iter()
        .map(|arg| arg.as_ref().to_owned())
        .collect();
    let output = Command::new("python3")
        .args(&args)
        .output()
        .expect("run python3 (scripts/test installs its packages)");
    assert!(
        output.status.success(),
        "python3 {args:?} failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    output.stdout
}

/// The bytes of a fixture.
pub(crate) fn fixture_bytes(name: &str) -> Vec<u8> {
    let path = fixtures_dir().join(name);
    fs::read(&path).unwrap_or_else(|error| panic!("cannot read {}: {error}", path.display()))
}

/// A fresh temporary directory, removed when dropped.
pub(crate) fn temp_dir() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("chatdump-it-")
        .tempdir()
        .expect("create a temporary directory")
}

/// `HOST:PORT` of an `http://HOST:PORT/...` URL.
pub(crate) fn host_port(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    rest.split('/').next().unwrap_or_default().to_owned()
}

/// One invocation of `chatdump`, built up like a `Command`.
pub(crate) struct Chatdump {
    args: Vec<OsString>,
    env: Vec<(String, String)>,
    stdin: Option<Vec<u8>>,
}

impl Chatdump {
    /// `chatdump ARGS...`, to be run in the fixtures directory with a neutral environment: no
    /// colour, UTC, a UTF-8 C locale.
    pub(crate) fn new<I, S>(args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        Self {
            args: args
                .into_iter()
                .map(|arg| arg.as_ref().to_owned())
                .collect(),
            env: Vec::new(),
            stdin: None,
        }
    }

    /// Allows downloads from the host of the `--base-url` among the arguments (the local test
    /// server on 127.0.0.1, whose links point at itself): appends
    /// `--allow-private-download-host HOST:PORT`. Without `--base-url`, changes nothing.
    pub(crate) fn allowing_test_server(mut self) -> Self {
        let base = self
            .args
            .windows(2)
            .find(|pair| pair[0] == "--base-url")
            .map(|pair| pair[1].to_string_lossy().into_owned());
        if let Some(base) = base {
            self.args.push("--allow-private-download-host".into());
            self.args.push(host_port(&base).into());
        }
        self
    }

    /// Sets an environment variable for the run.
    pub(crate) fn env(mut self, key: &str, value: &str) -> Self {
        self.env.push((key.to_owned(), value.to_owned()));
        self
    }

    /// Feeds `bytes` to the binary's standard input (otherwise it gets an empty one).
    pub(crate) fn stdin(mut self, bytes: impl Into<Vec<u8>>) -> Self {
        self.stdin = Some(bytes.into());
        self
    }

    /// The command, ready to spawn: `wrapper WRAPPER_ARGS... chatdump ARGS...` with a wrapper.
    pub(crate) fn command(&self, wrapper: Option<(&Path, &[&str])>) -> Command {
        let mut command = match wrapper {
            Some((program, args)) => {
                let mut command = Command::new(program);
                command.args(args).arg(CHATDUMP);
                command
            }
            None => Command::new(CHATDUMP),
        };
        command
            .args(&self.args)
            .current_dir(fixtures_dir())
            .env("NO_COLOR", "1")
            .env("TZ", "UTC")
            .env("LC_ALL", "C.UTF-8")
            .env_remove("RUST_BACKTRACE");
        for (key, value) in &self.env {
            command.env(key, value);
        }
        command
    }

    /// Runs the binary to completion.
    pub(crate) fn run(self) -> Run {
        self.run_with(None)
    }

    /// Runs the binary to completion under `wrapper` (e.g. `/usr/bin/time -v`).
    pub(crate) fn run_under(self, wrapper: &Path, wrapper_args: &[&str]) -> Run {
        self.run_with(Some((wrapper, wrapper_args)))
    }

    fn run_with(mut self, wrapper: Option<(&Path, &[&str])>) -> Run {
        let mut command = self.command(wrapper);
        command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = command.spawn().expect("start chatdump");
        let mut stdin = child.stdin.take().expect("piped stdin");
        let input = self.stdin.take().unwrap_or_default();
        // Written from a thread so that a large input cannot deadlock against a full stdout.
        let writer = std::thread::spawn(move || {
            // The binary may stop reading early (an error): a broken pipe here is expected.
            let _ = stdin.write_all(&input);
        });
        let output = child.wait_with_output().expect("wait for chatdump");
        writer.join().expect("stdin writer thread");
        Run {
            code: output.status.code(),
            stdout: output.stdout,
            stderr: String::from_utf8(output.stderr).expect("stderr is UTF-8"),
        }
    }
}

/// What a run of the binary produced.
#[derive(Debug)]
pub(crate) struct Run {
    /// The exit code (`None` if killed by a signal).
    pub(crate) code: Option<i32>,
    /// Standard output, raw.
    pub(crate) stdout: Vec<u8>,
    /// Standard error.
    pub(crate) stderr: String,
}

impl Run {
    /// Asserts the run exited with `code`, showing stderr otherwise.
    #[track_caller]
    pub(crate) fn assert_code(&self, code: i32) -> &Self {
        assert_eq!(
            self.code,
            Some(code),
            "expected exit code {code}; stderr:\n{}",
            self.stderr
        );
        self
    }

    /// Asserts success and returns standard output as text.
    #[track_caller]
    pub(crate) fn success(&self) -> &str {
        self.assert_code(0);
        self.stdout_text()
    }

    /// Standard output as text.
    #[track_caller]
    pub(crate) fn stdout_text(&self) -> &str {
        std::str::from_utf8(&self.stdout).expect("stdout is UTF-8")
    }

    /// The lines of stderr that start with `prefix` (e.g. `"error: "`, `"warning: "`).
    pub(crate) fn stderr_lines(&self, prefix: &str) -> Vec<&str> {
        self.stderr
            .lines()
            .filter(|line| line.starts_with(prefix))
            .collect()
    }
}

/// Converts a fixture to JSONL on standard output and returns it, asserting success.
#[track_caller]
pub(crate) fn convert_to_stdout(fixture: &str, extra_args: &[&str]) -> String {
    let mut args = vec!["convert", fixture, "--format", "jsonl", "--output", "-"];
    args.extend_from_slice(extra_args);
    Chatdump::new(args).run().success().to_owned()
}

/// Parses JSONL text into one JSON value per line, checking each line is one object.
#[track_caller]
pub(crate) fn jsonl(text: &str) -> Vec<serde_json::Value> {
    text.lines()
        .map(|line| {
            let value: serde_json::Value = serde_json::from_str(line)
                .unwrap_or_else(|error| panic!("not JSON ({error}): {line}"));
            assert!(value.is_object(), "not an object: {line}");
            value
        })
        .collect()
}

/// The `id` of every JSONL line, in order.
#[track_caller]
pub(crate) fn ids(text: &str) -> Vec<String> {
    jsonl(text)
        .iter()
        .map(|line| line["id"].as_str().expect("id is a string").to_owned())
        .collect()
}

/// Every file and directory under `root` (hidden ones too), relative path to contents (`None`
/// for a directory), for checking that a failed run left a directory exactly as it was.
pub(crate) fn tree(root: &Path) -> BTreeMap<PathBuf, Option<Vec<u8>>> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<PathBuf, Option<Vec<u8>>>) {
        for entry in fs::read_dir(dir).expect("read a directory") {
            let path = entry.expect("a directory entry").path();
            let relative = path.strip_prefix(root).expect("under root").to_owned();
            if path.is_dir() {
                out.insert(relative, None);
                walk(root, &path, out);
            } else {
                out.insert(relative, Some(fs::read(&path).expect("read a file")));
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(root, root, &mut out);
    out
}
