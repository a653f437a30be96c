//! `chatdump export --all` and `chatdump compact` against a real S3-compatible server (moto's
//! server mode, a Python HTTP server started on 127.0.0.1) and the local API test server
//! playing an organisation of 1,000 sessions with faults sprinkled in.
//!
//! `DuckDB` reads the dataset back. Its `httpfs` extension is downloaded on first use, which the
//! tests cannot do (no network), so the objects are downloaded with chatdump's own object-store
//! client and `DuckDB` reads the copy (`read_parquet(..., hive_partitioning = true)`).
//!
//! Every test here needs `python3` with `DuckDB` (and moto, or Azurite and the Azure SDK): they run
//! under the `test-tools` feature, which `scripts/test` turns on after installing them; a plain
//! `cargo test` lists them as ignored.

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use chatdump_bulk::{Manifest, Status, Store};
use chatdump_testserver::sessions::{OrgSpec, PARTICIPANTS, PagingPlacement, bulk_base_url};
use chatdump_testserver::{Config, Route, Server};

use crate::support::{Chatdump, Run, fixtures_dir, python3, temp_dir};

const ORG_ID: &str = "bulk-org";
const API_KEY: &str = "bulk-key";
const MESSAGES: usize = 20;
const BUCKET: &str = "warehouse";

/// Retries fast, so faults cost milliseconds.
const FAST: &[&str] = &[
    "--retry-delay",
    "20ms",
    "--retry-max-delay",
    "200ms",
    "--max-retry-after",
    "5s",
    "--retry-max-time",
    "30s",
    "--rate-limit",
    "0",
];

/// A server process listening on a free port of 127.0.0.1, killed when dropped.
struct LocalServer {
    child: Child,
    addr: SocketAddr,
}

impl LocalServer {
    /// Starts `command(port)`, for a free port, and waits (60 s at most) until it listens.
    fn start(name: &str, command: impl FnOnce(&str) -> Command) -> Self {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .expect("a free port")
            .port();
        let child = command(&port.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|error| panic!("start {name} (scripts/test installs it): {error}"));
        let server = Self {
            child,
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        while TcpStream::connect(server.addr).is_err() {
            assert!(
                Instant::now() < deadline,
                "{name} did not listen on {} within 60 s",
                server.addr
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        server
    }

    fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }
}

impl Drop for LocalServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// moto's S3 server (`python3 -m moto.server`).
struct Moto(LocalServer);

impl Moto {
    fn start() -> Self {
        Self(LocalServer::start("moto's S3 server", |port| {
            let mut command = Command::new("python3");
            command
                .args(["-m", "moto.server", "-H", "127.0.0.1", "-p", port])
                // Small multipart parts, so a test-sized file is uploaded in several of them.
                .env("S3_UPLOAD_PART_MIN_SIZE", "1024");
            command
        }))
    }

    /// Creates a bucket with a plain `PUT /bucket` (moto does not check signatures).
    fn create_bucket(&self, bucket: &str) {
        let mut stream = TcpStream::connect(self.0.addr).expect("connect to moto");
        write!(
            stream,
            "PUT /{bucket} HTTP/1.1\r\nHost: {}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            self.0.addr
        )
        .expect("send to moto");
        let mut answer = String::new();
        stream
            .read_to_string(&mut answer)
            .expect("read moto's answer");
        assert!(
            answer.starts_with("HTTP/1.1 200"),
            "create bucket: {answer}"
        );
    }

    /// The settings the binary reads from the environment, for the library in the test.
    fn settings(&self) -> Vec<(String, String)> {
        [
            ("AWS_ENDPOINT", self.0.endpoint()),
            ("AWS_ALLOW_HTTP", "true".into()),
            ("AWS_ACCESS_KEY_ID", "testing".into()),
            ("AWS_SECRET_ACCESS_KEY", "testing".into()),
            ("AWS_REGION", "us-east-1".into()),
        ]
        .into_iter()
        .map(|(key, value)| (key.to_owned(), value))
        .collect()
    }
}

fn api_server() -> Server {
    Server::start(Config {
        org_id: ORG_ID.into(),
        api_key: API_KEY.into(),
        messages: MESSAGES,
        ..Config::default()
    })
    .expect("start the test server on 127.0.0.1")
}

/// `chatdump ARGS FAST` with the API credentials, the S3 settings and no proxy.
fn chatdump(args: &[&str], moto: Option<&Moto>) -> Chatdump {
    let mut all: Vec<&str> = args.to_vec();
    if args.first() == Some(&"export") {
        all.extend_from_slice(FAST);
    }
    let mut command = Chatdump::new(all)
        .allowing_test_server()
        .env("DYTE_ORG_ID", ORG_ID)
        .env("DYTE_API_KEY", API_KEY)
        .env("NO_PROXY", "127.0.0.1")
        .env("no_proxy", "127.0.0.1");
    if let Some(moto) = moto {
        for (key, value) in moto.settings() {
            command = command.env(&key, &value);
        }
    }
    command
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime")
}

/// Every object under the store's root: path to size.
fn objects(store: &Store) -> BTreeMap<String, u64> {
    runtime()
        .block_on(store.list(""))
        .expect("list the bucket")
        .into_iter()
        .map(|listed| (listed.path, listed.bytes))
        .collect()
}

fn manifest(store: &Store) -> (Vec<u8>, Manifest) {
    let bytes = runtime()
        .block_on(store.get_bytes(chatdump_bulk::MANIFEST_PATH))
        .expect("read the manifest")
        .expect("the manifest exists");
    let parsed = Manifest::parse(&bytes).expect("a readable manifest");
    (bytes, parsed)
}

/// Chat-link requests the API server has seen, by session.
fn chat_requests(server: &Server) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for request in server.requests() {
        if request.route == Route::DyteApi {
            *counts.entry(request.session).or_insert(0) += 1;
        }
    }
    counts
}

/// Downloads every Parquet object to `dir` (same relative paths) and asks `DuckDB`, reading it
/// as a hive-partitioned dataset: rows, distinct (session, message) pairs, distinct sessions,
/// and the distinct `date` partition values.
fn duckdb_counts(store: &Store, dir: &Path) -> serde_json::Value {
    let runtime = runtime();
    for (path, _) in objects(store) {
        if !path.ends_with(".parquet") {
            continue;
        }
        let local = dir.join(&path);
        std::fs::create_dir_all(local.parent().expect("a parent")).expect("create a directory");
        runtime
            .block_on(store.download(&path, &local))
            .expect("download an object");
    }
    read_dataset(dir)
}

/// What `tests/fixtures/bulk/read_dataset.py` (`DuckDB`) reads from the dataset under `dir`.
fn read_dataset(dir: &Path) -> serde_json::Value {
    let stdout = python3([
        fixtures_dir().join("bulk/read_dataset.py").as_os_str(),
        dir.as_os_str(),
    ]);
    serde_json::from_slice(&stdout).expect("JSON from read_dataset.py")
}

/// The participant columns of a dataset exported without `--with-participants`: present
/// (schema version 2) and null.
fn unenriched() -> serde_json::Value {
    let mut ids: Vec<&str> = PARTICIPANTS.iter().map(|(id, _, _)| *id).collect();
    ids.sort_unstable();
    ids.iter()
        .map(|id| serde_json::json!([id, null, null]))
        .collect()
}

fn report(path: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(path).expect("read the report")).expect("JSON report")
}

fn ids(problems: &serde_json::Value) -> Vec<String> {
    let mut ids: Vec<String> = problems
        .as_array()
        .expect("a list")
        .iter()
        .map(|problem| problem["session_id"].as_str().expect("an id").to_owned())
        .collect();
    ids.sort();
    ids
}

#[test]
#[cfg_attr(
    not(feature = "test-tools"),
    ignore = "needs moto and duckdb (python3): run scripts/test"
)]
fn export_all_to_s3_killed_resumed_idempotent_compacted() {
    let moto = Moto::start();
    moto.create_bucket(BUCKET);
    let server = api_server();
    let mut spec = OrgSpec {
        sessions: 1000,
        first_page: 0,
        paging: PagingPlacement::InData,
        max_per_page: 100,
        faults: true,
        broken: true,
        all_ended: false,
        hostile: false,
        media: false,
    };
    let output = format!("s3://{BUCKET}/chat");
    let store = Store::open(&output, &moto.settings()).expect("open the bucket");
    let work = temp_dir();
    let scratch = work.path().join("tmp");
    std::fs::create_dir_all(&scratch).expect("create the scratch directory");
    let scratch_arg = scratch.display().to_string();
    let report_path = work.path().join("report.json");
    let report_arg = report_path.display().to_string();
    let base = bulk_base_url(&server, &spec);
    let args = |base: &str| -> Vec<String> {
        [
            "export",
            "--all",
            "--base-url",
            base,
            "--output",
            &output,
            "--concurrency",
            "8",
            "--temp-dir",
            &scratch_arg,
            "--report-json",
            &report_arg,
        ]
        .map(str::to_owned)
        .to_vec()
    };
    // `--part-size 4KiB`: a session's file (about 6 KiB) goes up as a two-part upload.
    let run = |base: &str| -> Run {
        let mut args = args(base);
        args.extend(["--part-size".to_owned(), "4KiB".to_owned()]);
        chatdump(
            &args.iter().map(String::as_str).collect::<Vec<_>>(),
            Some(&moto),
        )
        .run()
    };

    // A bucket that does not exist: every upload fails and the manifest cannot be written;
    // an error (1), not a panic.
    let small = OrgSpec {
        sessions: 3,
        ..OrgSpec::default()
    };
    let missing = chatdump(
        &[
            "export",
            "--all",
            "--base-url",
            &bulk_base_url(&server, &small),
            "--output",
            "s3://no-such-bucket/chat",
            "--temp-dir",
            &scratch_arg,
        ],
        Some(&moto),
    )
    .run();
    missing.assert_code(1);
    assert!(
        missing.stderr.contains("no-such-bucket"),
        "{}",
        missing.stderr
    );

    // Run A: killed with SIGKILL once a good part of the sessions is done.
    let args_a = args(&base);
    let mut child = chatdump(
        &args_a.iter().map(String::as_str).collect::<Vec<_>>(),
        Some(&moto),
    )
    .command(None)
    .stdin(Stdio::null())
    .stdout(Stdio::null())
    .stderr(Stdio::null())
    .spawn()
    .expect("start chatdump");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if chat_requests(&server).len() >= 400 {
            break;
        }
        assert!(
            child.try_wait().expect("poll chatdump").is_none(),
            "run A ended before it could be killed"
        );
        assert!(Instant::now() < deadline, "run A made too little progress");
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().expect("SIGKILL chatdump");
    child.wait().expect("reap chatdump");
    let (_, after_kill) = manifest(&store);
    let done_before: Vec<String> = after_kill
        .records()
        .filter(|record| record.status == Status::Exported)
        .map(|record| record.session_id.clone())
        .collect();
    assert!(
        !done_before.is_empty() && done_before.len() < 980,
        "a checkpoint was written mid-run: {} exported",
        done_before.len()
    );
    let requests_after_kill = chat_requests(&server);

    // Run B resumes: what run A recorded is not fetched again; the broken sessions fail (3).
    let leftovers = |dir: &Path| {
        std::fs::read_dir(dir)
            .expect("read the scratch directory")
            .count()
    };
    assert_eq!(
        leftovers(&scratch),
        1,
        "the killed run's temporary directory"
    );
    let resumed = run(&base);
    resumed.assert_code(3);
    assert_eq!(
        leftovers(&scratch),
        0,
        "removed by the next run, with its own"
    );
    let b = report(&report_path);
    assert_eq!(b["sessions_found"], 1000, "{b}");
    assert_eq!(ids(&b["failed"]), spec.broken_sessions(), "{b}");
    let mut without_chat = spec.sessions_without_chat();
    without_chat.sort();
    assert_eq!(
        ids(&b["skipped"]),
        without_chat,
        "404s are skipped, not failed"
    );
    assert_eq!(
        b["exported"].as_u64().unwrap() + b["already_exported"].as_u64().unwrap(),
        976,
        "{b}"
    );
    assert_eq!(
        b["already_exported"].as_u64().unwrap(),
        done_before.len() as u64
    );
    let requests_after_b = chat_requests(&server);
    for session in &done_before {
        assert_eq!(
            requests_after_b.get(session),
            requests_after_kill.get(session),
            "session `{session}` was exported again after the resume"
        );
    }
    assert!(resumed.stderr.contains("4 failed"), "{}", resumed.stderr);

    // Run C: the upstream bug is fixed; only the failed sessions are tried again.
    spec.broken = false;
    let healed = bulk_base_url(&server, &spec);
    run(&healed).assert_code(0);
    let c = report(&report_path);
    assert_eq!(c["exported"], 4, "{c}");
    assert_eq!(c["already_exported"], 976, "{c}");
    assert_eq!(c["messages_written"], 4 * MESSAGES as u64, "{c}");
    let requests_after_c = chat_requests(&server);
    // Those four were uploaded in parts (S3 ETag `<md5>-<parts>`): streamed, not one PUT.
    let listed = runtime().block_on(store.list("")).expect("list the bucket");
    for session in spec.broken_sessions() {
        let object = listed
            .iter()
            .find(|object| object.path == format!("date=2024-05-14/{session}.parquet"))
            .expect("the session's file");
        assert!(
            object.bytes > 4096
                && object
                    .e_tag
                    .as_deref()
                    .is_some_and(|tag| tag.ends_with("-2\"")),
            "a two-part upload: {object:?}"
        );
    }
    let retried: Vec<&String> = requests_after_c
        .iter()
        .filter(|(session, count)| requests_after_b.get(*session) != Some(*count))
        .map(|(session, _)| session)
        .collect();
    assert_eq!(retried, spec.broken_sessions().iter().collect::<Vec<_>>());

    // Run D changes nothing: same manifest bytes, same objects, no chat request.
    let (manifest_c, parsed_c) = manifest(&store);
    let objects_c = objects(&store);
    run(&healed).assert_code(0);
    assert_eq!(manifest(&store).0, manifest_c, "the manifest changed");
    assert_eq!(objects(&store), objects_c, "the objects changed");
    assert_eq!(chat_requests(&server), requests_after_c);
    assert_eq!(report(&report_path)["exported"], 0);

    // The manifest names every object's content hash; the bucket holds exactly those files.
    let parquet_objects: Vec<&String> = objects_c
        .keys()
        .filter(|path| path.ends_with(".parquet"))
        .collect();
    assert_eq!(parquet_objects.len(), 980);
    for record in parsed_c
        .records()
        .filter(|record| record.status == Status::Exported)
    {
        assert_eq!(record.messages, MESSAGES as u64);
        let [output] = record.outputs.as_slice() else {
            panic!("one file per session: {record:?}");
        };
        assert_eq!(objects_c.get(&output.path), Some(&output.bytes));
        assert_eq!(output.sha256.len(), 64);
    }

    // DuckDB reads the dataset: every row once, one date partition.
    let counts = duckdb_counts(&store, &work.path().join("copy"));
    assert_eq!(
        counts,
        serde_json::json!({"rows": 980 * MESSAGES, "distinct": 980 * MESSAGES, "sessions": 980, "dates": ["2024-05-14"], "versions": [2], "participants": unenriched()})
    );

    // Compaction: fewer, larger files, the same rows, no duplicates, the manifest follows.
    let target = "64KiB";
    let compacted = chatdump(
        &[
            "compact",
            &output,
            "--date",
            "2024-05-14",
            "--target-size",
            target,
            "--temp-dir",
            &scratch_arg,
            "--part-size",
            "8KiB",
        ],
        Some(&moto),
    )
    .run();
    compacted.assert_code(0);
    let objects_after = objects(&store);
    // The live sessions' files stay (the export replaces them once the sessions end).
    let (compacted_files, left): (Vec<&String>, Vec<&String>) = objects_after
        .keys()
        .filter(|path| path.ends_with(".parquet"))
        .partition(|path| path.starts_with("date=2024-05-14/compacted_x"));
    assert!(
        !compacted_files.is_empty() && compacted_files.len() < 20,
        "compacted into a few files: {compacted_files:?}"
    );
    let mut live: Vec<String> = (0..spec.sessions)
        .filter(|&index| spec.is_live(index))
        .map(|index| format!("date=2024-05-14/{}.parquet", spec.session_id(index)))
        .collect();
    live.sort();
    assert_eq!(left.len(), 50);
    assert_eq!(left, live.iter().collect::<Vec<_>>());
    assert!(
        !objects_after.keys().any(
            |path| path.starts_with("_chatdump/staging") || path == "_chatdump/compaction.json"
        ),
        "no staging leftovers: {objects_after:?}"
    );
    let counts = duckdb_counts(&store, &work.path().join("copy-compacted"));
    assert_eq!(
        counts,
        serde_json::json!({"rows": 980 * MESSAGES, "distinct": 980 * MESSAGES, "sessions": 980, "dates": ["2024-05-14"], "versions": [2], "participants": unenriched()})
    );
    let (_, after_compaction) = manifest(&store);
    for record in after_compaction
        .records()
        .filter(|record| record.status == Status::Exported)
    {
        assert!(
            record
                .outputs
                .iter()
                .all(|output| objects_after.get(&output.path) == Some(&output.bytes)),
            "{record:?}"
        );
    }
    // An export after compaction re-exports nothing, so no row appears twice.
    run(&healed).assert_code(0);
    assert_eq!(report(&report_path)["exported"], 0);
    assert_eq!(objects(&store), objects_after);
}

#[test]
#[cfg_attr(
    not(feature = "test-tools"),
    ignore = "needs python3 with duckdb: run scripts/test"
)]
fn export_all_filters_and_live_sessions_into_a_local_directory() {
    let server = api_server();
    let mut spec = OrgSpec {
        sessions: 200,
        first_page: 1,
        paging: PagingPlacement::Top,
        max_per_page: 100,
        faults: false,
        broken: false,
        all_ended: false,
        hostile: false,
        media: false,
    };
    let work = temp_dir();
    let root = work.path().join("dataset");
    let root_arg = root.display().to_string();
    let report_path = work.path().join("report.json");
    let report_arg = report_path.display().to_string();
    let run = |spec: &OrgSpec, extra: &[&str]| -> serde_json::Value {
        let base = bulk_base_url(&server, spec);
        let mut args = vec![
            "export",
            "--all",
            "--base-url",
            &base,
            "--output",
            &root_arg,
            "--report-json",
            &report_arg,
        ];
        args.extend_from_slice(extra);
        chatdump(&args, None).run().assert_code(0);
        report(&report_path)
    };

    // Refused credentials stop the run at once (1), without the key in the message.
    let base = bulk_base_url(&server, &spec);
    let refused = chatdump(
        &[
            "export",
            "--all",
            "--base-url",
            &base,
            "--output",
            &root_arg,
        ],
        None,
    )
    .env("DYTE_API_KEY", "wrong-key-12345")
    .run();
    refused.assert_code(1);
    assert!(
        refused.stderr.contains("DYTE_API_KEY"),
        "{}",
        refused.stderr
    );
    assert!(
        !refused.stderr.contains("wrong-key-12345"),
        "{}",
        refused.stderr
    );
    // A base URL without a sessions route: the listing fails before any session (1).
    let nowhere = format!("http://{}/nowhere/v2", server.addr());
    chatdump(
        &[
            "export",
            "--all",
            "--base-url",
            &nowhere,
            "--output",
            &root_arg,
        ],
        None,
    )
    .run()
    .assert_code(1);

    // One meeting's ended sessions: 3, 40, 77, 114, 151 and 188.
    let meeting = run(&spec, &["--meeting-id", "meeting-3", "--status", "ended"]);
    assert_eq!(meeting["sessions_found"], 6, "{meeting}");
    assert_eq!(meeting["exported"], 6, "{meeting}");

    // An hour of sessions (one a minute): 60 to 119; 77 and 114 are done already.
    let hour = run(
        &spec,
        &[
            "--since",
            "2024-05-14T01:00:00Z",
            "--until",
            "2024-05-14T02:00:00Z",
        ],
    );
    assert_eq!(hour["sessions_found"], 60, "{hour}");
    assert_eq!(hour["already_exported"], 2, "{hour}");

    // Everything, then again once the live sessions (every 20th) have ended: only those ten
    // are exported again, and their files replaced.
    let live = run(&spec, &["--status", "live"]);
    assert_eq!(live["sessions_found"], 10, "{live}");
    assert_eq!(
        live["already_exported"], 3,
        "79, 99 and 119 are in the hour: {live}"
    );
    let everything = run(&spec, &[]);
    assert_eq!(everything["sessions_found"], 200, "{everything}");
    assert_eq!(everything["exported"], 200 - 6 - 58 - 7, "{everything}");
    spec.all_ended = true;
    let ended = run(&spec, &[]);
    assert_eq!(ended["exported"], 10, "{ended}");
    assert_eq!(ended["already_exported"], 190, "{ended}");
    let counts = read_dataset(&root);
    assert_eq!(
        counts,
        serde_json::json!({"rows": 200 * MESSAGES, "distinct": 200 * MESSAGES, "sessions": 200, "dates": ["2024-05-14"], "versions": [2], "participants": unenriched()})
    );

    // Enrichment: each message gains its sender's user id and custom participant id from the
    // participants route (which answers 503 once for sessions ending in 3; 404 for sessions
    // without chat, which are skipped anyway).
    let enriched_root = work.path().join("enriched");
    let enriched_arg = enriched_root.display().to_string();
    let faulty = OrgSpec {
        sessions: 30,
        faults: true,
        ..OrgSpec::default()
    };
    let base = bulk_base_url(&server, &faulty);
    let export = |extra: &[&str]| {
        let mut args = vec![
            "export",
            "--all",
            "--base-url",
            &base,
            "--output",
            &enriched_arg,
            "--report-json",
            &report_arg,
        ];
        args.extend_from_slice(extra);
        chatdump(&args, None).run().assert_code(0);
        report(&report_path)
    };
    // First without: then the flag exports the same sessions again, now with participants.
    assert_eq!(export(&[])["exported"], 29);
    let enriched = export(&["--with-participants"]);
    assert_eq!(enriched["exported"], 29, "{enriched}");
    assert_eq!(export(&["--with-participants"])["exported"], 0);
    let counts = read_dataset(&enriched_root);
    let mut expected: Vec<serde_json::Value> = PARTICIPANTS
        .iter()
        .map(|(id, user, custom)| serde_json::json!([id, user, custom]))
        .collect();
    expected.sort_by_key(ToString::to_string);
    assert_eq!(counts["versions"], serde_json::json!([2]));
    assert_eq!(counts["participants"], serde_json::Value::Array(expected));
    assert_eq!(counts["rows"], 29 * MESSAGES);
}

/// Azurite, Microsoft's Azure Blob Storage emulator (`scripts/test` installs it from npm under
/// `target/test-tools`), in memory.
struct Azurite(LocalServer);

impl Azurite {
    fn start() -> Self {
        let binary = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../target/test-tools/node_modules/.bin/azurite-blob");
        Self(LocalServer::start("Azurite", |port| {
            let mut command = Command::new(binary);
            command.args([
                "--blobHost",
                "127.0.0.1",
                "--blobPort",
                port,
                "--inMemoryPersistence",
                "--disableTelemetry",
                "--skipApiVersionCheck",
                "--silent",
            ]);
            command
        }))
    }

    /// Runs `tests/fixtures/bulk/azurite.py COMMAND ENDPOINT ARGS` (Microsoft's SDK).
    fn sdk(&self, command: &str, args: &[&str]) -> String {
        let script = fixtures_dir().join("bulk/azurite.py");
        let endpoint = self.0.endpoint();
        let mut command_line = vec![
            script.as_os_str(),
            OsStr::new(command),
            OsStr::new(&endpoint),
        ];
        command_line.extend(args.iter().map(OsStr::new));
        String::from_utf8(python3(command_line)).expect("UTF-8")
    }
}

/// `az://` goes to a real Azure Blob Storage API: the dataset, its manifest and the run's
/// idempotence are the same as on S3, read back with Microsoft's SDK and loaded with `DuckDB`.
#[test]
#[cfg_attr(
    not(feature = "test-tools"),
    ignore = "needs Azurite (npm) and the Azure SDK and duckdb (python3): run scripts/test"
)]
fn export_all_to_azure_blob_storage_on_azurite() {
    let azurite = Azurite::start();
    azurite.sdk("create", &["chats"]);
    let server = api_server();
    let spec = OrgSpec {
        sessions: 40,
        all_ended: true,
        ..OrgSpec::default()
    };
    let base = bulk_base_url(&server, &spec);
    let work = temp_dir();
    let report_path = work.path().join("report.json");
    let report_arg = report_path.display().to_string();
    let endpoint = azurite.0.endpoint();
    // `--part-size 4KiB`: a session's file (about 6 KiB) goes up as blocks and a block list.
    let export = || {
        chatdump(
            &[
                "export",
                "--all",
                "--base-url",
                &base,
                "--output",
                "az://chats/warehouse/chat",
                "--report-json",
                &report_arg,
                "--part-size",
                "4KiB",
            ],
            None,
        )
        .env("AZURE_STORAGE_USE_EMULATOR", "true")
        .env("AZURITE_BLOB_STORAGE_URL", &endpoint)
        .run()
        .assert_code(0);
        report(&report_path)
    };

    let first = export();
    let exported = first["exported"].as_u64().expect("a count");
    assert_eq!(first["sessions_found"], 40, "{first}");
    assert!(exported > 30, "most sessions have chat: {first}");
    // Again: nothing new to write.
    let again = export();
    assert_eq!(again["exported"], 0, "{again}");
    assert_eq!(again["already_exported"], exported, "{again}");

    let copy = work.path().join("copy");
    let listed: BTreeMap<String, u64> = serde_json::from_str(&azurite.sdk(
        "download",
        &["chats", "warehouse/chat", &copy.display().to_string()],
    ))
    .expect("JSON from azurite.py");
    assert!(
        listed.contains_key(chatdump_bulk::MANIFEST_PATH),
        "{listed:?}"
    );
    let parquet = listed.keys().filter(|path| path.ends_with(".parquet"));
    assert_eq!(parquet.count() as u64, exported, "{listed:?}");
    let manifest = Manifest::parse(
        &std::fs::read(copy.join(chatdump_bulk::MANIFEST_PATH)).expect("the manifest"),
    )
    .expect("a readable manifest");
    let recorded = manifest
        .records()
        .filter(|record| record.status == Status::Exported)
        .count();
    assert_eq!(recorded as u64, exported);
    let counts = read_dataset(&copy);
    let rows = exported * MESSAGES as u64;
    assert_eq!(counts["rows"], rows, "{counts}");
    assert_eq!(counts["distinct"], rows, "{counts}");
    assert_eq!(counts["sessions"], exported, "{counts}");
}
