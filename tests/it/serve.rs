//! `chatdump serve` end to end: the real receiver on 127.0.0.1, deliveries signed with the
//! test-only key pair in `tests/fixtures/webhook/`, and the local API/storage test server
//! handing out the download links.

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine as _;
use chatdump_testserver::{Config, Route, Server, chat_csv};

use crate::support::{CHATDUMP, fixtures_dir, temp_dir, tree};

const ORG_ID: &str = "org-webhook";
const API_KEY: &str = "dyte-key-Webhook77";
const MESSAGES: usize = 40;
/// Dumps for the crash and shutdown tests: long enough that the slow download is still running
/// when the receiver is stopped.
const SLOW_MESSAGES: usize = 100;

fn test_server(messages: usize, slow_delay: Duration) -> Server {
    Server::start(Config {
        org_id: ORG_ID.into(),
        api_key: API_KEY.into(),
        messages,
        slow_delay,
        ..Config::default()
    })
    .expect("start the test server on 127.0.0.1")
}

/// A test-only private key from the fixtures, for `ring`.
fn key_pair(name: &str) -> ring::signature::RsaKeyPair {
    let pem = std::fs::read_to_string(fixtures_dir().join("webhook").join(name)).unwrap();
    let body: String = pem
        .lines()
        .filter(|line| !line.starts_with("-----"))
        .collect();
    let der = base64::engine::general_purpose::STANDARD
        .decode(body)
        .unwrap();
    ring::signature::RsaKeyPair::from_pkcs8(&der).unwrap()
}

/// The provider's signature of `body`: base64 RSA PKCS#1 v1.5 SHA-256.
fn sign_with(key: &ring::signature::RsaKeyPair, body: &[u8]) -> String {
    let mut signature = vec![0; key.public().modulus_len()];
    key.sign(
        &ring::signature::RSA_PKCS1_SHA256,
        &ring::rand::SystemRandom::new(),
        body,
        &mut signature,
    )
    .unwrap();
    base64::engine::general_purpose::STANDARD.encode(signature)
}

fn sign(body: &[u8]) -> String {
    static KEY: std::sync::OnceLock<ring::signature::RsaKeyPair> = std::sync::OnceLock::new();
    sign_with(KEY.get_or_init(|| key_pair("test-only-private.pem")), body)
}

/// A minimal HTTP/1.1 exchange over a fresh connection: the status and body.
fn http(address: SocketAddr, request_head: &str, body: &[u8]) -> (u16, String) {
    let mut stream = TcpStream::connect(address).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    // The server may answer (413) and close before the whole body is sent: a failed write is
    // fine, the answer is what counts.
    let _ = stream
        .write_all(request_head.as_bytes())
        .and_then(|()| stream.write_all(body));
    let mut response = Vec::new();
    let _ = stream.read_to_end(&mut response);
    let text = String::from_utf8_lossy(&response).into_owned();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("no HTTP answer: {text:?}"));
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, body)| body.to_owned())
        .unwrap_or_default();
    (status, body)
}

/// `POST /webhook` with `headers` (name, value).
fn post(address: SocketAddr, body: &[u8], headers: &[(&str, &str)]) -> (u16, String) {
    let mut head = format!(
        "POST /webhook HTTP/1.1\r\nHost: {address}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n",
        body.len()
    );
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    http(address, &head, body)
}

/// A correctly signed RealtimeKit-style delivery.
fn deliver(address: SocketAddr, body: &[u8], uuid: &str) -> (u16, String) {
    let signature = sign(body);
    post(
        address,
        body,
        &[("rtk-signature", &signature), ("rtk-uuid", uuid)],
    )
}

/// A fresh download link for `session` from the test server's Dyte route.
fn link_for(server: &Server, session: &str) -> (String, String) {
    let authorization =
        base64::engine::general_purpose::STANDARD.encode(format!("{ORG_ID}:{API_KEY}"));
    // The id is one path segment: every byte but letters, digits, `-` and `_` percent-encoded.
    let segment: String = session
        .bytes()
        .map(|byte| {
            if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_') {
                char::from(byte).to_string()
            } else {
                format!("%{byte:02X}")
            }
        })
        .collect();
    let head = format!(
        "GET /v2/sessions/{segment}/chat HTTP/1.1\r\nHost: {}\r\nAuthorization: Basic {authorization}\r\nConnection: close\r\n\r\n",
        server.addr()
    );
    let (status, body) = http(server.addr(), &head, b"");
    assert_eq!(status, 200, "{body}");
    let value: serde_json::Value = serde_json::from_str(&body).expect("JSON link answer");
    let data = &value["data"];
    let url = data["chat_download_url"]
        .as_str()
        .or_else(|| data["chatDownloadUrl"].as_str())
        .unwrap()
        .to_owned();
    let expiry = data["chat_download_url_expiry"]
        .as_str()
        .or_else(|| data["chatDownloadUrlExpiry"].as_str())
        .unwrap()
        .to_owned();
    (url, expiry)
}

fn chat_synced(session: &str, url: &str, expiry: &str) -> Vec<u8> {
    serde_json::json!({
        "event": "meeting.chatSynced",
        "sessionId": session,
        "meetingId": "meeting-1",
        "chatDownloadUrl": url,
        "chatDownloadUrlExpiry": expiry,
        "organizedBy": {"id": "org", "name": "Test"}
    })
    .to_string()
    .into_bytes()
}

/// A running `chatdump serve`, killed when dropped.
struct Receiver {
    child: Child,
    address: SocketAddr,
    log: Arc<Mutex<String>>,
}

/// Clears every variable `chatdump serve` reads, so the caller's environment cannot change a
/// test.
fn hermetic(command: &mut Command) {
    for (name, _) in std::env::vars_os() {
        let name = name.to_string_lossy();
        if name.starts_with("CHATDUMP_")
            || name.starts_with("DYTE_")
            || name.starts_with("CLOUDFLARE_")
            || name.starts_with("REALTIMEKIT_")
            || name == "RUST_LOG"
        {
            command.env_remove(name.as_ref());
        }
    }
    command.env("NO_COLOR", "1");
}

/// A bad key file is an error (1) naming the file; a bad key URL or download-host pattern is a
/// usage error (2); none starts the receiver or creates its output directory.
#[test]
fn bad_key_and_download_host_settings_are_refused_at_start() {
    let root = temp_dir();
    let output = root.path().join("out");
    let missing = root.path().join("missing.pem");
    let not_a_key = fixtures_dir().join("webhook").join("test-only-private.pem");
    let cases: [(Vec<String>, i32, String); 4] = [
        (
            vec!["--public-key".into(), missing.display().to_string()],
            1,
            format!(
                "error: cannot read the public key `{}`: No such file or directory (os error 2)",
                missing.display()
            ),
        ),
        (
            vec!["--public-key".into(), not_a_key.display().to_string()],
            1,
            format!(
                "error: `{}` is not a usable public key: ",
                not_a_key.display()
            ),
        ),
        (
            vec!["--public-key-url".into(), "ftp://u:pw@example.com/k?t=1".into()],
            2,
            "error: --public-key-url `ftp://example.com/k?t=<redacted>` is not an http or https URL"
                .into(),
        ),
        (
            vec!["--allow-download-host".into(), "*.com".into()],
            2,
            "error: --allow-download-host: `*.com` is too broad: name at least two fixed labels, like `*.s3.amazonaws.com`".into(),
        ),
    ];
    for (flags, code, expected) in cases {
        let mut command = Command::new(CHATDUMP);
        hermetic(&mut command);
        let run = command
            .args(["serve", "--listen", "127.0.0.1:0", "--output"])
            .arg(&output)
            .args(&flags)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&run.stderr);
        assert_eq!(run.status.code(), Some(code), "{flags:?}: {stderr}");
        assert!(stderr.starts_with(&expected), "{flags:?}: {stderr}");
        assert!(
            !stderr.contains("pw") && !stderr.contains("t=1"),
            "{stderr}"
        );
        assert!(!output.exists());
    }
}

impl Receiver {
    /// Starts `chatdump serve --output ROOT --listen 127.0.0.1:0 EXTRA...` and waits for it to
    /// listen. `server` adds the test server's credentials for the fallback and allows plain
    /// http to its storage; the test public key is used unless `EXTRA` names a key URL.
    fn start(root: &Path, server: Option<&Server>, extra: &[&str]) -> Self {
        let mut command = Command::new(CHATDUMP);
        command
            .args(["serve", "--listen", "127.0.0.1:0", "--output"])
            .arg(root);
        if !extra.contains(&"--public-key-url") {
            command
                .arg("--public-key")
                .arg(fixtures_dir().join("webhook/test-only-public.pem"));
        }
        command
            .args(["--format", "jsonl,md", "--job-retry-delay", "50ms"])
            .args(["--retry-delay", "10ms", "--retry-max-delay", "50ms"])
            .args(extra);
        hermetic(&mut command);
        if let Some(server) = server {
            command
                .args(["--base-url", &server.dyte_base_url()])
                .args(["--allow-insecure-download-host", &server.addr().to_string()])
                .args(["--allow-private-download-host", &server.addr().to_string()])
                .env("DYTE_ORG_ID", ORG_ID)
                .env("DYTE_API_KEY", API_KEY);
        }
        Self::spawn(command)
    }

    /// Runs a prepared `chatdump serve` command and waits for it to listen.
    fn spawn(mut command: Command) -> Self {
        command
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let mut child = command.spawn().expect("start chatdump serve");
        let stderr = child.stderr.take().unwrap();
        let log = Arc::new(Mutex::new(String::new()));
        let (sender, receiver) = std::sync::mpsc::channel();
        {
            let log = Arc::clone(&log);
            std::thread::spawn(move || {
                for line in BufReader::new(stderr).lines() {
                    let Ok(line) = line else { break };
                    if line.contains(" listening ")
                        && let Some(address) = line
                            .split_whitespace()
                            .find_map(|word| word.strip_prefix("address="))
                    {
                        let _ = sender.send(address.parse::<SocketAddr>().unwrap());
                    }
                    let mut log = log.lock().unwrap();
                    log.push_str(&line);
                    log.push('\n');
                }
            });
        }
        let Ok(address) = receiver.recv_timeout(Duration::from_secs(20)) else {
            let _ = child.kill();
            let _ = child.wait();
            panic!("chatdump serve did not start:\n{}", log.lock().unwrap());
        };
        Self {
            child,
            address,
            log,
        }
    }

    fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    /// SIGKILL: no chance to clean up.
    fn kill(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    /// SIGTERM, then waits (bounded) for the exit; returns whether it exited successfully.
    fn terminate(mut self) -> bool {
        // The shell's built-in `kill`: no dependency on a `kill` binary.
        let status = Command::new("sh")
            .args(["-c", &format!("kill -TERM {}", self.child.id())])
            .status()
            .unwrap();
        assert!(status.success());
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status.success();
            }
            assert!(
                Instant::now() < deadline,
                "no exit after SIGTERM:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `chatdump jobs --output ROOT --json`, parsed.
fn jobs(root: &Path) -> Vec<serde_json::Value> {
    let output = Command::new(CHATDUMP)
        .args(["jobs", "--limit", "1000", "--json", "--output"])
        .arg(root)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect()
}

fn job_for(root: &Path, session: &str) -> Option<serde_json::Value> {
    jobs(root)
        .into_iter()
        .find(|job| job["session_id"] == session)
}

/// Waits (bounded) until `session`'s job is `done` or `failed`; returns it.
fn wait_settled(root: &Path, session: &str, receiver: &Receiver) -> serde_json::Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(job) = job_for(root, session)
            && (job["status"] == "done" || job["status"] == "failed")
        {
            return job;
        }
        assert!(
            Instant::now() < deadline,
            "job for `{session}` not settled: {:?}\n{}",
            job_for(root, session),
            receiver.log()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Delivers a fresh, correctly signed `chatSynced` for `session` (delivery uuid `uuid`),
/// expects 200, and waits until its job in `root` settles; returns the job and the link.
fn deliver_and_settle(
    server: &Server,
    receiver: &Receiver,
    root: &Path,
    session: &str,
    uuid: &str,
) -> (serde_json::Value, String) {
    let (url, expiry) = link_for(server, session);
    let (status, answer) = deliver(receiver.address, &chat_synced(session, &url, &expiry), uuid);
    assert_eq!(status, 200, "{answer}");
    (wait_settled(root, session, receiver), url)
}

/// Asserts the outputs of `session` are complete: the dump as served, one JSONL line per
/// message, and a Markdown transcript.
#[track_caller]
fn assert_exported(root: &Path, session: &str, messages: usize) {
    let csv = std::fs::read(root.join(format!("{session}.csv"))).unwrap();
    assert!(csv == chat_csv(session, messages), "the dump differs");
    let jsonl = std::fs::read_to_string(root.join(format!("{session}.jsonl"))).unwrap();
    assert_eq!(jsonl.lines().count(), messages);
    assert!(root.join(format!("{session}.md")).is_file());
}

/// The files in `root` other than the receiver's state directory.
fn outputs(root: &Path) -> Vec<PathBuf> {
    tree(root)
        .into_keys()
        .filter(|path| !path.starts_with(".chatdump"))
        .collect()
}

#[test]
fn a_valid_delivery_is_exported_once_even_when_delivered_many_times_at_once() {
    let server = test_server(MESSAGES, Duration::from_millis(10));
    let root = temp_dir();
    let receiver = Receiver::start(root.path(), Some(&server), &[]);
    let session = "ok--webhook-valid";
    let (url, expiry) = link_for(&server, session);
    let body = chat_synced(session, &url, &expiry);
    // Eight concurrent deliveries: four retries of one delivery (same uuid), four with uuids
    // of their own (the provider's duplicates), plus one Dyte-style delivery.
    let answers: Vec<(u16, String)> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..8)
            .map(|index| {
                let body = &body;
                let uuid = if index < 4 {
                    "uuid-same".to_owned()
                } else {
                    format!("uuid-{index}")
                };
                scope.spawn(move || deliver(receiver.address, body, &uuid))
            })
            .collect();
        handles
            .into_iter()
            .map(|handle| handle.join().unwrap())
            .collect()
    });
    for (status, answer) in &answers {
        assert_eq!(*status, 200, "{answer}");
    }
    let accepted = answers
        .iter()
        .filter(|(_, answer)| answer.contains("\"accepted\""))
        .count();
    assert_eq!(accepted, 1, "{answers:?}");
    let signature = sign(&body);
    let (status, answer) = post(
        receiver.address,
        &body,
        &[("dyte-signature", &signature), ("dyte-uuid", "uuid-dyte")],
    );
    assert_eq!(
        (status, answer.contains("duplicate")),
        (200, true),
        "{answer}"
    );

    let job = wait_settled(root.path(), session, &receiver);
    assert_eq!(job["status"], "done", "{job}\n{}", receiver.log());
    assert_eq!(job["attempts"], 1);
    // Distinct deliveries: the four retries of `uuid-same` count once.
    assert_eq!(job["deliveries"], 6);
    assert_exported(root.path(), session, MESSAGES);
    assert_eq!(
        outputs(root.path()),
        [
            "ok--webhook-valid.csv",
            "ok--webhook-valid.jsonl",
            "ok--webhook-valid.md"
        ]
        .map(PathBuf::from)
    );
    // One download, no API call by the receiver (the link was good).
    assert_eq!(server.requests_for(Route::Download, session).len(), 1);
    assert_eq!(
        server.requests_for(Route::DyteApi, session).len(),
        1,
        "only the test's own"
    );
    // A late redelivery changes nothing.
    let (status, answer) = deliver(receiver.address, &body, "uuid-late");
    assert_eq!((status, answer.contains("duplicate")), (200, true));
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(server.requests_for(Route::Download, session).len(), 1);
    // No secret in the log: neither the link's signature nor the API key.
    let log = receiver.log();
    let query = url.split_once('?').map_or("", |(_, query)| query);
    for pair in query.split('&') {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        if name.contains("Signature") || name.contains("Credential") {
            assert!(!log.contains(value), "`{name}` leaked into the log:\n{log}");
        }
    }
    assert!(!log.contains(API_KEY));
    // The job database holds the links: only its owner may read it.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let state = root.path().join(".chatdump/state.sqlite3");
        let mode = std::fs::metadata(state).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "{mode:o}");
    }
}

#[test]
fn forged_malformed_and_oversized_deliveries_are_refused_and_change_nothing() {
    let server = test_server(MESSAGES, Duration::from_millis(10));
    let root = temp_dir();
    let receiver = Receiver::start(root.path(), Some(&server), &[]);
    let address = receiver.address;
    let session = "ok--webhook-forged";
    let body = chat_synced(
        session,
        &link_for(&server, session).0,
        "2099-01-01T00:00:00Z",
    );
    let good = sign(&body);
    let other = sign_with(&key_pair("test-only-other-private.pem"), &body);
    let mut tampered = body.clone();
    let position = tampered.len() - 3;
    tampered[position] ^= 0x01;

    let cases: Vec<Case<'_>> = vec![
        (
            "no signature header",
            body.clone(),
            vec![("rtk-uuid", "u1".into())],
            401,
        ),
        (
            "signed by another key",
            body.clone(),
            vec![("rtk-signature", other)],
            401,
        ),
        (
            "tampered body",
            tampered,
            vec![("rtk-signature", good.clone())],
            401,
        ),
        (
            "signature not base64",
            body.clone(),
            vec![("rtk-signature", "%%%not-base64".into())],
            401,
        ),
        (
            "empty signature",
            body.clone(),
            vec![("dyte-signature", String::new())],
            401,
        ),
        (
            "a signature for another body",
            body.clone(),
            vec![("rtk-signature", sign(b"{}"))],
            401,
        ),
    ];
    for (what, payload, headers, expected) in cases {
        let headers: Vec<(&str, &str)> = headers
            .iter()
            .map(|(name, value)| (*name, value.as_str()))
            .collect();
        let (status, answer) = post(address, &payload, &headers);
        assert_eq!(status, expected, "{what}: {answer}");
    }
    // Signed, but unacceptable.
    let oversized = {
        let padding = "x".repeat(70 * 1024);
        serde_json::json!({"event": "meeting.chatSynced", "sessionId": "ok--big", "padding": padding})
            .to_string()
            .into_bytes()
    };
    let deep = format!(
        "{{\"event\":\"meeting.chatSynced\",\"sessionId\":\"ok--deep\",\"x\":{}1{}}}",
        "[".repeat(64),
        "]".repeat(64)
    );
    let signed_cases: Vec<(&str, Vec<u8>, u16)> = vec![
        ("oversized", oversized, 413),
        (
            "malformed JSON",
            b"{\"event\":\"meeting.chatSynced\",".to_vec(),
            400,
        ),
        ("not an object", b"[1,2,3]".to_vec(), 400),
        ("deeply nested", deep.into_bytes(), 400),
        (
            "a session id with a control character",
            br#"{"event":"meeting.chatSynced","sessionId":"a\u001b]0;x\u0007b"}"#.to_vec(),
            400,
        ),
    ];
    for (what, payload, expected) in signed_cases {
        let (status, answer) = deliver(address, &payload, what);
        assert_eq!(status, expected, "{what}: {answer}");
    }
    // Unsigned and oversized: the size is checked first.
    let (status, _) = post(address, &vec![b' '; 100 * 1024], &[]);
    assert_eq!(status, 413);
    // Oversized without a `Content-Length`: counted as it arrives.
    let chunk = vec![b' '; 70 * 1024];
    let mut chunked = format!("{:x}\r\n", chunk.len()).into_bytes();
    chunked.extend_from_slice(&chunk);
    chunked.extend_from_slice(b"\r\n0\r\n\r\n");
    let (status, answer) = http(
        address,
        &format!(
            "POST /webhook HTTP/1.1\r\nHost: {address}\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
        ),
        &chunked,
    );
    assert_eq!(status, 413, "{answer}");
    // Another event: acknowledged, ignored.
    let started = br#"{"event":"meeting.started","meeting":{"id":"m","sessionId":"ok--other"}}"#;
    let (status, answer) = deliver(address, started, "u-started");
    assert_eq!(
        (status, answer.contains("ignored")),
        (200, true),
        "{answer}"
    );
    let (status, answer) = http(
        address,
        &format!("GET /healthz HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n"),
        b"",
    );
    assert_eq!(
        (status, answer.contains(r#""status":"ok""#)),
        (200, true),
        "{answer}"
    );

    std::thread::sleep(Duration::from_millis(300));
    assert!(jobs(root.path()).is_empty(), "{:?}", jobs(root.path()));
    assert!(
        outputs(root.path()).is_empty(),
        "{:?}",
        outputs(root.path())
    );
    assert!(server.requests_for(Route::Download, session).is_empty());
    assert_eq!(
        server.requests_for(Route::DyteApi, session).len(),
        1,
        "only the test's own"
    );
}

/// A delivery that must be refused: what it tests, the body, the headers, the expected status.
type Case<'a> = (&'a str, Vec<u8>, Vec<(&'a str, String)>, u16);

/// A listener that counts connections: a link pointing here must never be dereferenced.
fn trap() -> (SocketAddr, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    let hits = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&hits);
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            if stream.is_ok() {
                counter.fetch_add(1, Ordering::SeqCst);
            }
        }
    });
    (address, hits)
}

#[test]
fn ssrf_links_are_never_followed() {
    let (trap_address, hits) = trap();
    let root = temp_dir();
    // No API credentials: a refused link cannot be replaced, so the job fails with the reason.
    let receiver = Receiver::start(
        root.path(),
        None,
        &["--allow-download-host", "*.s3.amazonaws.com"],
    );
    let links = [
        format!("http://{trap_address}/chat.csv"),
        format!("https://{trap_address}/chat.csv"),
        "http://169.254.169.254/latest/meta-data/iam/security-credentials/".to_owned(),
        "https://169.254.169.254/latest/meta-data/".to_owned(),
        "http://[fd00:ec2::254]/latest/meta-data/".to_owned(),
        "file:///etc/passwd".to_owned(),
        "https://example.com/chat.csv".to_owned(),
        "https://bucket.s3.amazonaws.com.evil.example/chat.csv".to_owned(),
        "http://bucket.s3.amazonaws.com/chat.csv".to_owned(),
        format!("https://localhost:{}/chat.csv", trap_address.port()),
    ];
    for (index, link) in links.iter().enumerate() {
        let session = format!("ssrf-{index}");
        let body = chat_synced(&session, link, "2099-01-01T00:00:00Z");
        let (status, answer) = deliver(receiver.address, &body, &session);
        assert_eq!(status, 200, "{link}: {answer}");
    }
    for (index, link) in links.iter().enumerate() {
        let job = wait_settled(root.path(), &format!("ssrf-{index}"), &receiver);
        assert_eq!(job["status"], "failed", "{link}: {job}");
        let reason = job["last_error"].as_str().unwrap();
        assert!(
            reason.contains("not allowed")
                || reason.contains("IP address")
                || reason.contains("not on the allowed list"),
            "{link}: {reason}"
        );
        assert_eq!(job["attempts"], 1, "a refused link is not retried: {job}");
    }
    assert_eq!(
        hits.load(Ordering::SeqCst),
        0,
        "a refused link was dereferenced"
    );
    assert!(
        outputs(root.path()).is_empty(),
        "{:?}",
        outputs(root.path())
    );
}

#[test]
fn expired_refused_and_forbidden_links_fall_back_to_the_api() {
    let server = test_server(MESSAGES, Duration::from_millis(10));
    let (trap_address, hits) = trap();
    let root = temp_dir();
    let receiver = Receiver::start(root.path(), Some(&server), &[]);
    // The first link of `expired-link-once` has expired (as stated, and at the storage).
    let expired = "expired-link-once--webhook";
    let (url, expiry) = link_for(&server, expired);
    // The storage refuses the first link of `revoked-link-once` although its expiry is fine.
    let revoked = "revoked-link-once--webhook";
    let (revoked_url, revoked_expiry) = link_for(&server, revoked);
    // A link to a host that is not allowed: the API gives a good one.
    let foreign = "ok--webhook-foreign-link";
    let deliveries = [
        (expired, chat_synced(expired, &url, &expiry)),
        (revoked, chat_synced(revoked, &revoked_url, &revoked_expiry)),
        (
            foreign,
            chat_synced(
                foreign,
                &format!("http://{trap_address}/x.csv"),
                "2099-01-01T00:00:00Z",
            ),
        ),
    ];
    for (session, body) in &deliveries {
        let (status, answer) = deliver(receiver.address, body, session);
        assert_eq!(status, 200, "{answer}");
    }
    for (session, _) in &deliveries {
        let job = wait_settled(root.path(), session, &receiver);
        assert_eq!(job["status"], "done", "{job}\n{}", receiver.log());
        assert_exported(root.path(), session, MESSAGES);
        // The test's own API call (not for the foreign link), then the receiver's.
        let expected = if *session == foreign { 1 } else { 2 };
        assert_eq!(
            server.requests_for(Route::DyteApi, session).len(),
            expected,
            "{session}"
        );
    }
    // The expired link was recognised as expired and not even tried; the revoked one was.
    let statuses = |session| {
        server
            .requests_for(Route::Download, session)
            .iter()
            .map(|request| request.status)
            .collect::<Vec<_>>()
    };
    assert_eq!(statuses(expired), [200]);
    assert_eq!(statuses(revoked), [403, 200]);
    assert_eq!(hits.load(Ordering::SeqCst), 0);
}

#[test]
fn a_receiver_killed_mid_job_finishes_the_job_after_a_restart() {
    // The slow scenario sends 2 KiB pieces 300 ms apart: about 2.4 s for this dump, so the
    // receiver is killed well inside the download.
    let server = test_server(SLOW_MESSAGES, Duration::from_millis(300));
    let root = temp_dir();
    let session = "slow--webhook-crash";
    let (url, expiry) = link_for(&server, session);
    let body = chat_synced(session, &url, &expiry);
    let receiver = Receiver::start(root.path(), Some(&server), &["--workers", "1"]);
    let (status, answer) = deliver(receiver.address, &body, "uuid-crash");
    assert_eq!(
        (status, answer.contains("accepted")),
        (200, true),
        "{answer}"
    );
    // Kill it once the download has begun.
    let deadline = Instant::now() + Duration::from_secs(10);
    while server.requests_for(Route::Download, session).is_empty() {
        assert!(Instant::now() < deadline, "the download never started");
        std::thread::sleep(Duration::from_millis(10));
    }
    std::thread::sleep(Duration::from_millis(200));
    receiver.kill();
    let job = job_for(root.path(), session).unwrap();
    assert_eq!(job["status"], "running", "{job}");
    assert!(
        outputs(root.path())
            .iter()
            .all(|path| { path.extension().is_some_and(|extension| extension == "tmp") })
    );

    // The provider retries the delivery while the receiver is down, and again after.
    let receiver = Receiver::start(root.path(), Some(&server), &["--workers", "1"]);
    let (status, answer) = deliver(receiver.address, &body, "uuid-crash-retry");
    assert_eq!(
        (status, answer.contains("duplicate")),
        (200, true),
        "{answer}"
    );
    let job = wait_settled(root.path(), session, &receiver);
    assert_eq!(job["status"], "done", "{job}\n{}", receiver.log());
    assert_eq!(job["attempts"], 2, "{job}");
    assert_eq!(job["deliveries"], 2, "{job}");
    assert_exported(root.path(), session, SLOW_MESSAGES);
    // Exactly the three outputs: no temporary file from the killed attempt, nothing twice.
    assert_eq!(outputs(root.path()).len(), 3, "{:?}", outputs(root.path()));
    assert_eq!(jobs(root.path()).len(), 1);
}

#[test]
fn sigterm_puts_the_running_job_back_and_a_restart_finishes_it() {
    let server = test_server(SLOW_MESSAGES, Duration::from_millis(300));
    let root = temp_dir();
    let session = "slow--webhook-sigterm";
    let (url, expiry) = link_for(&server, session);
    let receiver = Receiver::start(
        root.path(),
        Some(&server),
        &["--workers", "1", "--shutdown-grace", "100ms"],
    );
    let (status, _) = deliver(
        receiver.address,
        &chat_synced(session, &url, &expiry),
        "u-term",
    );
    assert_eq!(status, 200);
    let deadline = Instant::now() + Duration::from_secs(10);
    while server.requests_for(Route::Download, session).is_empty() {
        assert!(Instant::now() < deadline, "the download never started");
        std::thread::sleep(Duration::from_millis(10));
    }
    let log = receiver.log.clone();
    assert!(receiver.terminate(), "{}", log.lock().unwrap());
    let job = job_for(root.path(), session).unwrap();
    assert_eq!(job["status"], "queued", "{job}");
    assert_eq!(
        job["attempts"], 0,
        "an interrupted attempt is not counted: {job}"
    );
    assert!(
        outputs(root.path()).is_empty(),
        "{:?}",
        outputs(root.path())
    );
    let receiver = Receiver::start(root.path(), Some(&server), &["--workers", "1"]);
    let job = wait_settled(root.path(), session, &receiver);
    assert_eq!(job["status"], "done", "{job}\n{}", receiver.log());
    assert_exported(root.path(), session, SLOW_MESSAGES);
}

#[test]
fn many_concurrent_deliveries_are_acknowledged_within_the_deadline() {
    const DELIVERIES: usize = 200;
    const CLIENTS: usize = 16;
    let server = test_server(5, Duration::from_millis(10));
    let root = temp_dir();
    let receiver = Receiver::start(root.path(), Some(&server), &[]);
    let bodies: Vec<Vec<u8>> = (0..DELIVERIES)
        .map(|index| {
            let session = format!("ok--load-{index}");
            let (url, expiry) = link_for(&server, &session);
            chat_synced(&session, &url, &expiry)
        })
        .collect();
    let next = AtomicUsize::new(0);
    let started = Instant::now();
    let mut latencies: Vec<Duration> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..CLIENTS)
            .map(|_| {
                let (bodies, next) = (&bodies, &next);
                let address = receiver.address;
                scope.spawn(move || {
                    let mut latencies = Vec::new();
                    loop {
                        let index = next.fetch_add(1, Ordering::SeqCst);
                        let Some(body) = bodies.get(index) else { break };
                        let signature = sign(body);
                        let uuid = format!("load-{index}");
                        let sent = Instant::now();
                        let (status, answer) = post(
                            address,
                            body,
                            &[("rtk-signature", &signature), ("rtk-uuid", &uuid)],
                        );
                        latencies.push(sent.elapsed());
                        assert_eq!(status, 200, "{answer}");
                    }
                    latencies
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|handle| handle.join().unwrap())
            .collect()
    });
    let elapsed = started.elapsed();
    latencies.sort();
    let percentile = |p: usize| latencies[(latencies.len() * p / 100).min(latencies.len() - 1)];
    eprintln!(
        "serve load test: {DELIVERIES} signed deliveries from {CLIENTS} clients in {:.2} s; acknowledgement latency p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        elapsed.as_secs_f64(),
        percentile(50).as_secs_f64() * 1000.0,
        percentile(99).as_secs_f64() * 1000.0,
        latencies.last().unwrap().as_secs_f64() * 1000.0,
    );
    assert_eq!(latencies.len(), DELIVERIES);
    assert!(
        *latencies.last().unwrap() < Duration::from_secs(3),
        "a delivery took longer than the provider's 3-second deadline"
    );
    // Every delivery became exactly one job, and the queue drains.
    let deadline = Instant::now() + Duration::from_secs(40);
    loop {
        let all = jobs(root.path());
        assert_eq!(all.len(), DELIVERIES);
        if all.iter().all(|job| job["status"] == "done") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the queue did not drain: {:?}",
            all.iter()
                .filter(|job| job["status"] != "done")
                .take(3)
                .collect::<Vec<_>>()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Serves the provider's key document (`{"success":true,"data":{"publicKey":PEM}}`) on
/// 127.0.0.1; counts the requests.
fn key_document_server() -> (String, Arc<AtomicUsize>) {
    let pem = std::fs::read_to_string(fixtures_dir().join("webhook/test-only-public.pem")).unwrap();
    let document =
        serde_json::json!({"success": true, "data": {"publicKey": pem}, "message": ""}).to_string();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!(
        "http://{}/.well-known/webhooks.json",
        listener.local_addr().unwrap()
    );
    let hits = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&hits);
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            counter.fetch_add(1, Ordering::SeqCst);
            let mut request = [0; 4096];
            let _ = stream.read(&mut request);
            let _ = write!(
                stream,
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{document}",
                document.len()
            );
        }
    });
    (url, hits)
}

#[test]
fn the_public_key_is_fetched_from_its_url_once_and_cached() {
    let server = test_server(MESSAGES, Duration::from_millis(10));
    let (key_url, key_fetches) = key_document_server();
    let root = temp_dir();
    let receiver = Receiver::start(root.path(), Some(&server), &["--public-key-url", &key_url]);
    let session = "ok--webhook-key-url";
    let (url, expiry) = link_for(&server, session);
    let body = chat_synced(session, &url, &expiry);
    // Forged deliveries do not make the receiver fetch the key again and again.
    let forged = sign_with(&key_pair("test-only-other-private.pem"), &body);
    for _ in 0..5 {
        let (status, _) = post(receiver.address, &body, &[("rtk-signature", &forged)]);
        assert_eq!(status, 401);
    }
    let (status, answer) = deliver(receiver.address, &body, "uuid-key-url");
    assert_eq!(
        (status, answer.contains("accepted")),
        (200, true),
        "{answer}"
    );
    let job = wait_settled(root.path(), session, &receiver);
    assert_eq!(job["status"], "done", "{job}");
    assert_exported(root.path(), session, MESSAGES);
    // Fetched at start-up; the failed verifications came too soon after to fetch it again.
    assert_eq!(key_fetches.load(Ordering::SeqCst), 1);
}

#[test]
fn without_a_key_deliveries_get_503_so_the_provider_retries() {
    // A port nothing listens on: the key cannot be fetched.
    let closed = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let key_url = format!("http://{closed}/.well-known/webhooks.json");
    let root = temp_dir();
    let receiver = Receiver::start(root.path(), None, &["--public-key-url", &key_url]);
    let body = chat_synced(
        "ok--no-key",
        "https://bucket.s3.amazonaws.com/x.csv",
        "2099-01-01T00:00:00Z",
    );
    let (status, answer) = deliver(receiver.address, &body, "uuid-no-key");
    assert_eq!(status, 503, "{answer}");
    assert!(jobs(root.path()).is_empty());
}

#[test]
fn a_job_that_keeps_failing_is_retried_then_marked_failed_with_the_reason() {
    let server = test_server(MESSAGES, Duration::from_millis(10));
    let root = temp_dir();
    let receiver = Receiver::start(
        root.path(),
        Some(&server),
        &["--max-attempts", "3", "--link-refreshes", "1"],
    );
    // The storage refuses every link of this session, fresh ones included.
    let session = "revoked-link-always--webhook";
    let (job, _) = deliver_and_settle(&server, &receiver, root.path(), session, "u-fail");
    assert_eq!(job["status"], "failed", "{job}");
    assert_eq!(job["attempts"], 3, "{job}");
    let reason = job["last_error"].as_str().unwrap();
    assert!(reason.contains("refused"), "{reason}");
    assert!(
        outputs(root.path()).is_empty(),
        "{:?}",
        outputs(root.path())
    );
    // `chatdump jobs` shows it, with the reason, in its table.
    let table = Command::new(CHATDUMP)
        .args(["jobs", "--status", "failed", "--output"])
        .arg(root.path())
        .output()
        .unwrap();
    let table = String::from_utf8(table.stdout).unwrap();
    assert!(
        table.contains(session) && table.contains("failed") && table.contains("refused"),
        "{table}"
    );
    assert!(table.contains("total: 1 failed"), "{table}");
}

#[test]
fn settings_come_from_a_configuration_file_below_flags() {
    let server = test_server(MESSAGES, Duration::from_millis(10));
    let root = temp_dir();
    let config = root.path().join("serve.conf");
    let output = root.path().join("out");
    let key = fixtures_dir().join("webhook/test-only-public.pem");
    std::fs::write(
        &config,
        format!(
            "# chatdump serve settings\nlisten = \"127.0.0.1:0\"\noutput = {}\nformat = jsonl\npublic-key = {}\nallow-insecure-download-host = {}\n",
            output.display(),
            key.display(),
            server.addr()
        ),
    )
    .unwrap();
    let mut command = Command::new(CHATDUMP);
    // The flag wins over the file's `format = jsonl`.
    command
        .args(["serve", "--format", "md", "--config"])
        .arg(&config);
    hermetic(&mut command);
    let receiver = Receiver::spawn(command);
    let session = "ok--webhook-config";
    let (job, _) = deliver_and_settle(&server, &receiver, &output, session, "u-cfg");
    assert_eq!(job["status"], "done", "{job}\n{}", receiver.log());
    assert_eq!(
        outputs(&output),
        [format!("{session}.csv"), format!("{session}.md")].map(PathBuf::from)
    );

    // A setting the receiver does not have is a usage error that names it.
    std::fs::write(
        &config,
        "listen = 127.0.0.1:0\nlisten-adress = 127.0.0.1:1\n",
    )
    .unwrap();
    let mut command = Command::new(CHATDUMP);
    command.args(["serve", "--config"]).arg(&config);
    hermetic(&mut command);
    let run = command.output().unwrap();
    assert_eq!(run.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(
        stderr.contains("line 2: unknown setting `listen-adress`"),
        "{stderr}"
    );
}

#[test]
fn slow_clients_are_cut_off_and_do_not_block_others() {
    let root = temp_dir();
    let receiver = Receiver::start(root.path(), None, &["--request-timeout", "500ms"]);
    let address = receiver.address;
    let started = Instant::now();
    // A request head that never ends.
    let mut slow_head = TcpStream::connect(address).unwrap();
    slow_head
        .write_all(b"POST /webhook HTTP/1.1\r\nHost: x\r\n")
        .unwrap();
    // A body that never arrives in full.
    let mut slow_body = TcpStream::connect(address).unwrap();
    slow_body
        .write_all(b"POST /webhook HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{\"event\"")
        .unwrap();
    // Meanwhile a normal request is served.
    let (status, _) = deliver(address, br#"{"event":"meeting.started"}"#, "u-fast");
    assert_eq!(status, 200);
    for (what, mut stream) in [("head", slow_head), ("body", slow_body)] {
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let mut answer = Vec::new();
        let _ = stream.read_to_end(&mut answer);
        let answer = String::from_utf8_lossy(&answer);
        if what == "body" {
            assert!(answer.starts_with("HTTP/1.1 408"), "{what}: {answer}");
        }
    }
    let elapsed = started.elapsed();
    assert!(
        elapsed < Duration::from_secs(5),
        "slow clients held on for {elapsed:?}"
    );
    assert!(jobs(root.path()).is_empty());
}

#[test]
fn a_dump_larger_than_allowed_is_not_kept() {
    let server = test_server(MESSAGES, Duration::from_millis(10));
    let root = temp_dir();
    let storage = server.addr().to_string();
    // No API credentials, so the link is the only way to the dump.
    let receiver = Receiver::start(
        root.path(),
        None,
        &[
            "--max-dump-size",
            "1KiB",
            "--allow-insecure-download-host",
            &storage,
        ],
    );
    let session = "ok--webhook-too-big";
    let (job, _) = deliver_and_settle(&server, &receiver, root.path(), session, "u-big");
    assert_eq!(job["status"], "failed", "{job}");
    let reason = job["last_error"].as_str().unwrap();
    assert!(reason.contains("larger than 1024 bytes"), "{reason}");
    assert!(
        outputs(root.path()).is_empty(),
        "{:?}",
        outputs(root.path())
    );
}

#[test]
fn sigterm_does_not_wait_for_an_api_fetch_and_leaves_no_temporary_file() {
    // 100 messages in 2 KiB pieces 600 ms apart: the fetch takes about 5 s.
    let server = test_server(SLOW_MESSAGES, Duration::from_millis(600));
    let (trap_address, _) = trap();
    let root = temp_dir();
    let session = "slow--webhook-sigterm-api";
    let receiver = Receiver::start(
        root.path(),
        Some(&server),
        &["--workers", "1", "--shutdown-grace", "100ms"],
    );
    // A link that is not allowed: the job goes through the API, on a blocking thread.
    let body = chat_synced(
        session,
        &format!("http://{trap_address}/x.csv"),
        "2099-01-01T00:00:00Z",
    );
    let (status, _) = deliver(receiver.address, &body, "u-term-api");
    assert_eq!(status, 200);
    let deadline = Instant::now() + Duration::from_secs(10);
    while server.requests_for(Route::Download, session).is_empty() {
        assert!(Instant::now() < deadline, "the download never started");
        std::thread::sleep(Duration::from_millis(10));
    }
    let log = Arc::clone(&receiver.log);
    let stopping = Instant::now();
    assert!(receiver.terminate(), "{}", log.lock().unwrap());
    let took = stopping.elapsed();
    assert!(
        took < Duration::from_millis(2500),
        "the shutdown waited {took:?} for the fetch"
    );
    let job = job_for(root.path(), session).unwrap();
    assert_eq!(
        (job["status"].as_str(), job["attempts"].as_u64()),
        (Some("queued"), Some(0))
    );
    assert!(
        outputs(root.path()).is_empty(),
        "{:?}",
        outputs(root.path())
    );
}

/// `GET /jobs` with an optional bearer token and query: the status and the body.
fn get_jobs(address: SocketAddr, token: Option<&str>, query: &str) -> (u16, String) {
    let authorization = token.map_or_else(String::new, |token| {
        format!("Authorization: Bearer {token}\r\n")
    });
    http(
        address,
        &format!(
            "GET /jobs{query} HTTP/1.1\r\nHost: {address}\r\n{authorization}Connection: close\r\n\r\n"
        ),
        b"",
    )
}

#[test]
fn the_jobs_endpoint_is_off_by_default_and_shows_the_queue_only_for_its_token() {
    let server = test_server(MESSAGES, Duration::from_millis(10));
    let root = temp_dir();
    {
        let receiver = Receiver::start(root.path(), Some(&server), &[]);
        let (status, body) = get_jobs(receiver.address, Some("anything"), "");
        assert_eq!(status, 404, "{body}");
    }
    let token = "jobs-t0ken-for-tests";
    let token_file = root.path().join("jobs.token");
    std::fs::write(&token_file, format!("{token}\n")).unwrap();
    let receiver = Receiver::start(
        root.path(),
        Some(&server),
        &["--jobs-token-file", &token_file.display().to_string()],
    );
    let session = "ok--jobs-endpoint";
    let (_, url) = deliver_and_settle(&server, &receiver, root.path(), session, "u-1");

    for wrong in [None, Some("jobs-t0ken-for-test"), Some("")] {
        let (status, body) = get_jobs(receiver.address, wrong, "");
        assert_eq!(status, 401, "{wrong:?}: {body}");
        assert!(!body.contains(session), "{body}");
    }
    let (status, body) = get_jobs(receiver.address, Some(token), "");
    assert_eq!(status, 200, "{body}");
    let listed: serde_json::Value = serde_json::from_str(&body).expect("JSON");
    assert_eq!(listed["counts"], serde_json::json!({"done": 1}), "{listed}");
    let job = &listed["jobs"][0];
    assert_eq!(job["session_id"], session, "{listed}");
    assert_eq!(job["status"], "done", "{listed}");
    assert_eq!(
        job,
        &job_for(root.path(), session).unwrap(),
        "as `chatdump jobs --json`"
    );
    // The presigned link is shown redacted, never as delivered.
    let (_, query) = url.split_once('?').expect("a presigned link has a query");
    assert!(!body.contains(query), "{body}");

    let (status, body) = get_jobs(receiver.address, Some(token), "?status=failed&limit=10");
    assert_eq!(status, 200, "{body}");
    let failed: serde_json::Value = serde_json::from_str(&body).expect("JSON");
    assert_eq!(failed["jobs"], serde_json::json!([]), "{failed}");
    let (status, body) = get_jobs(receiver.address, Some(token), "?limit=0");
    assert_eq!(status, 400, "{body}");
    assert!(!receiver.log().contains(token), "the token is never logged");
}

/// Dyte's sample receiver checks the signature over `JSON.stringify(req.body)`: a Dyte delivery
/// signed over that compact form is accepted even when its bytes are laid out otherwise. A
/// RealtimeKit signature covers the raw bytes only, as its documentation says.
#[test]
fn a_dyte_signature_over_the_reserialised_json_is_accepted_and_a_realtimekit_one_is_not() {
    let server = test_server(MESSAGES, Duration::from_millis(10));
    let root = temp_dir();
    let receiver = Receiver::start(root.path(), Some(&server), &[]);
    let session = "ok--dyte-reserialised";
    let (url, expiry) = link_for(&server, session);
    let compact = chat_synced(session, &url, &expiry);
    let value: serde_json::Value = serde_json::from_slice(&compact).unwrap();
    let pretty = serde_json::to_vec_pretty(&value).unwrap();
    assert_ne!(pretty, compact);
    let signature = sign(&compact);

    let (status, body) = post(
        receiver.address,
        &pretty,
        &[("rtk-signature", &signature), ("rtk-uuid", "u-rtk")],
    );
    assert_eq!(status, 401, "RealtimeKit signs the raw body: {body}");
    assert!(job_for(root.path(), session).is_none());

    let (status, body) = post(
        receiver.address,
        &pretty,
        &[("dyte-signature", &signature), ("dyte-uuid", "u-dyte")],
    );
    assert_eq!(status, 200, "{body}");
    let job = wait_settled(root.path(), session, &receiver);
    assert_eq!(job["status"], "done", "{job}\n{}", receiver.log());
    assert_exported(root.path(), session, MESSAGES);

    // A signature over neither form is still refused.
    let (status, body) = post(
        receiver.address,
        &pretty,
        &[
            ("dyte-signature", &sign(&pretty[1..])),
            ("dyte-uuid", "u-bad"),
        ],
    );
    assert_eq!(status, 401, "{body}");
}

#[test]
fn a_hostile_session_id_is_named_by_the_stem_rule() {
    let server = test_server(MESSAGES, Duration::ZERO);
    let root = temp_dir();
    let receiver = Receiver::start(root.path(), Some(&server), &[]);
    // The same id as `stems::HOSTILE`: `convert`, `export` and `export --all` name its files alike.
    let session = "ok--../évil id/x.y";
    let (job, _) = deliver_and_settle(&server, &receiver, root.path(), session, "uuid-hostile");
    assert_eq!(job["status"], "done", "{job}\n{}", receiver.log());
    let stem = chatdump_core::stem::session_file_stem(session).expect("a stem");
    let expected: Vec<PathBuf> = ["csv", "jsonl", "md"]
        .iter()
        .map(|extension| PathBuf::from(format!("{stem}.{extension}")))
        .collect();
    assert_eq!(outputs(root.path()), expected);
}

#[test]
fn with_partition_by_date_the_job_reports_the_files_it_wrote() {
    let server = test_server(MESSAGES, Duration::ZERO);
    let root = temp_dir();
    let receiver = Receiver::start(
        root.path(),
        Some(&server),
        &["--format", "parquet", "--partition-by", "date"],
    );
    let session = "ok--partitioned";
    let (job, _) = deliver_and_settle(&server, &receiver, root.path(), session, "uuid-part");
    assert_eq!(job["status"], "done", "{job}\n{}", receiver.log());
    let reported: Vec<PathBuf> = job["outputs"]
        .as_array()
        .expect("the job lists its outputs")
        .iter()
        .map(|path| PathBuf::from(path.as_str().unwrap()))
        .collect();
    // Every file reported exists, and every file written is reported.
    for path in &reported {
        assert!(
            path.is_file(),
            "reported but not written: {}",
            path.display()
        );
    }
    let written: Vec<PathBuf> = outputs(root.path())
        .into_iter()
        .map(|relative| root.path().join(relative))
        .filter(|path| path.is_file())
        .collect();
    let mut sorted = reported.clone();
    sorted.sort();
    assert_eq!(sorted, written, "{job}");
    assert!(
        reported
            .iter()
            .any(|path| path.to_string_lossy().contains("/date=")
                && path
                    .to_string_lossy()
                    .ends_with(&format!("{session}.parquet"))),
        "{reported:?}"
    );
}

// The meeting archive (issue 18): `meeting.transcript` and `meeting.summary` deliveries.

/// A storage stand-in for the parts' links on 127.0.0.1: `GET /{name}` (any query) answers
/// the bytes stored under `name`, 404 otherwise; names starting with `slow-` are sent in 64-byte
/// pieces 200 ms apart. Counts the requests per name.
struct PartServer {
    address: SocketAddr,
    files: Arc<Mutex<std::collections::HashMap<String, Vec<u8>>>>,
    hits: Arc<Mutex<std::collections::HashMap<String, usize>>>,
}

impl PartServer {
    fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let address = listener.local_addr().unwrap();
        let files: Arc<Mutex<std::collections::HashMap<String, Vec<u8>>>> = Arc::default();
        let hits: Arc<Mutex<std::collections::HashMap<String, usize>>> = Arc::default();
        let (served, counted) = (Arc::clone(&files), Arc::clone(&hits));
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let (files, hits) = (Arc::clone(&served), Arc::clone(&counted));
                std::thread::spawn(move || {
                    let mut head = Vec::new();
                    let mut byte = [0u8];
                    while !head.ends_with(b"\r\n\r\n") {
                        if stream.read_exact(&mut byte).is_err() {
                            return;
                        }
                        head.push(byte[0]);
                    }
                    let head = String::from_utf8_lossy(&head).into_owned();
                    let path = head.split(' ').nth(1).unwrap_or("/");
                    let name = path
                        .trim_start_matches('/')
                        .split('?')
                        .next()
                        .unwrap_or_default()
                        .to_owned();
                    *hits.lock().unwrap().entry(name.clone()).or_default() += 1;
                    let body = files.lock().unwrap().get(&name).cloned();
                    let Some(body) = body else {
                        let _ = stream.write_all(
                            b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                        );
                        return;
                    };
                    let _ = stream.write_all(
                        format!(
                            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                            body.len()
                        )
                        .as_bytes(),
                    );
                    if name.starts_with("slow-") {
                        for piece in body.chunks(64) {
                            if stream.write_all(piece).is_err() {
                                return;
                            }
                            std::thread::sleep(Duration::from_millis(200));
                        }
                    } else {
                        let _ = stream.write_all(&body);
                    }
                });
            }
        });
        Self {
            address,
            files,
            hits,
        }
    }

    /// Stores `bytes` under `name`; returns its link.
    fn put(&self, name: &str, bytes: &[u8]) -> String {
        self.files
            .lock()
            .unwrap()
            .insert(name.to_owned(), bytes.to_vec());
        format!(
            "http://{}/{name}?X-Amz-Signature=part-signature-secret",
            self.address
        )
    }

    fn hits(&self, name: &str) -> usize {
        self.hits.lock().unwrap().get(name).copied().unwrap_or(0)
    }

    /// The receiver's flags that let it download from here.
    fn flags(&self) -> [String; 4] {
        let address = self.address.to_string();
        [
            "--allow-insecure-download-host".into(),
            address.clone(),
            "--allow-private-download-host".into(),
            address,
        ]
    }
}

/// A delivery fixture from `tests/fixtures/webhook/` with its placeholders filled in.
fn delivery_fixture(name: &str, session: &str, url: &str) -> Vec<u8> {
    std::fs::read_to_string(fixtures_dir().join("webhook").join(name))
        .unwrap()
        .replace("{{SESSION}}", session)
        .replace("{{URL}}", url)
        .replace("{{EXPIRY}}", "2099-01-01T00:00:00.000Z")
        .into_bytes()
}

fn webhook_fixture(name: &str) -> Vec<u8> {
    std::fs::read(fixtures_dir().join("webhook").join(name)).unwrap()
}

/// The job of `event` for `session`, once it is `done` or `failed` (bounded wait).
fn wait_settled_event(
    root: &Path,
    session: &str,
    event: &str,
    receiver: &Receiver,
) -> serde_json::Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let job = jobs(root)
            .into_iter()
            .find(|job| job["session_id"] == session && job["event"] == event);
        if let Some(job) = &job
            && (job["status"] == "done" || job["status"] == "failed")
        {
            return job.clone();
        }
        assert!(
            Instant::now() < deadline,
            "the {event} job of `{session}` did not settle: {job:?}\n{}",
            receiver.log()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The three deliveries of a session, signed, by event name: the chat (with `startedAt` when
/// `started_at` is given), the transcript (`transcript_fixture` delivery, link to
/// `transcript_name` on `parts`) and the summary.
struct Archive {
    session: String,
    chat: Vec<u8>,
    transcript: Vec<u8>,
    summary: Vec<u8>,
}

impl Archive {
    fn new(
        parts: &PartServer,
        session: &str,
        started_at: Option<&str>,
        (transcript_fixture, transcript_name, transcript): (&str, &str, &[u8]),
    ) -> Self {
        let chat_url = parts.put(&format!("{session}.chat.csv"), &chat_csv(session, MESSAGES));
        let mut chat: serde_json::Value =
            serde_json::from_slice(&chat_synced(session, &chat_url, "2099-01-01T00:00:00.000Z"))
                .unwrap();
        if let Some(start) = started_at {
            chat["startedAt"] = start.into();
        }
        let transcript_url = parts.put(transcript_name, transcript);
        let summary_url = parts.put(
            &format!("{session}.summary.md"),
            &webhook_fixture("session-summary.md"),
        );
        Self {
            session: session.to_owned(),
            chat: chat.to_string().into_bytes(),
            transcript: delivery_fixture(transcript_fixture, session, &transcript_url),
            summary: delivery_fixture("meeting.summary.json", session, &summary_url),
        }
    }

    fn body(&self, event: &str) -> &[u8] {
        match event {
            "meeting.chatSynced" => &self.chat,
            "meeting.transcript" => &self.transcript,
            "meeting.summary" => &self.summary,
            other => panic!("{other}"),
        }
    }

    /// Delivers `events` in order, each settled before the next; returns the jobs.
    fn deliver_in_order(
        &self,
        receiver: &Receiver,
        root: &Path,
        events: &[&str],
    ) -> Vec<serde_json::Value> {
        events
            .iter()
            .map(|event| {
                let (status, answer) = deliver(
                    receiver.address,
                    self.body(event),
                    &format!("{event}-{}", self.session),
                );
                assert_eq!(
                    (status, answer.contains("accepted")),
                    (200, true),
                    "{event}: {answer}"
                );
                wait_settled_event(root, &self.session, event, receiver)
            })
            .collect()
    }
}

const CHAT: &str = "meeting.chatSynced";
const TRANSCRIPT: &str = "meeting.transcript";
const SUMMARY: &str = "meeting.summary";

/// The lines of `<session>.transcript.jsonl` in `root`, parsed.
#[track_caller]
fn transcript_lines(root: &Path, session: &str) -> Vec<serde_json::Value> {
    std::fs::read_to_string(root.join(format!("{session}.transcript.jsonl")))
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect()
}

/// Every file of `root` but the receiver's state, with its bytes.
fn output_tree(root: &Path) -> std::collections::BTreeMap<PathBuf, Option<Vec<u8>>> {
    tree(root)
        .into_iter()
        .filter(|(path, _)| !path.starts_with(".chatdump"))
        .collect()
}

#[test]
fn signed_transcript_and_summary_deliveries_give_the_same_files_chat_first_or_last() {
    let parts = PartServer::start();
    let session = "ok--archive-order";
    let csv = webhook_fixture("session-transcript.csv");
    let archive = Archive::new(
        &parts,
        session,
        None,
        ("meeting.transcript.json", "transcript.csv", &csv),
    );
    let mut trees = Vec::new();
    for order in [[CHAT, TRANSCRIPT, SUMMARY], [SUMMARY, TRANSCRIPT, CHAT]] {
        let root = temp_dir();
        let flags = parts.flags();
        let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
        let receiver = Receiver::start(root.path(), None, &flags);
        let settled = archive.deliver_in_order(&receiver, root.path(), &order);
        for job in &settled {
            assert_eq!(
                job["status"],
                "done",
                "{order:?}: {job}\n{}",
                receiver.log()
            );
        }
        // Every job ends done, whichever rendered last.
        for job in jobs(root.path()) {
            assert_eq!(job["status"], "done", "{order:?}: {job}");
            assert_eq!(job["attempts"], 1, "{order:?}: {job}");
        }
        let files = output_tree(root.path());
        // Each part is kept beside the chat, as downloaded.
        assert_eq!(
            files[Path::new("ok--archive-order.transcript.source")].as_deref(),
            Some(csv.as_slice())
        );
        assert_eq!(
            files[Path::new("ok--archive-order.summary.source")].as_deref(),
            Some(webhook_fixture("session-summary.md").as_slice())
        );
        assert_exported(root.path(), session, MESSAGES);
        // The outputs hold the utterances (in time order, the one before the chat first) and
        // the summary.
        let utterances = transcript_lines(root.path(), session);
        assert_eq!(utterances.len(), 4, "{order:?}");
        assert_eq!(utterances[0]["start"], "2024-05-14T08:59:58.500Z");
        assert_eq!(utterances[0]["session_id"], session);
        assert_eq!(
            utterances[3]["text"],
            "<script>alert(1)</script> is not a plan"
        );
        assert_eq!(
            files[Path::new("ok--archive-order.summary.md")].as_deref(),
            Some(webhook_fixture("session-summary.md").as_slice())
        );
        // The Markdown transcript: the summary on top, then speech and chat on one timeline.
        let markdown =
            String::from_utf8(files[Path::new("ok--archive-order.md")].clone().unwrap()).unwrap();
        let (summary, said, typed) = (
            markdown.find("Weekly sync"),
            markdown.find("Welcome, everyone, before we start"),
            markdown.find("Message 0: hello from Mary Sue"),
        );
        assert!(
            summary.is_some() && summary < said && said < typed,
            "{markdown}"
        );
        // The job that rendered last lists the parts it used.
        let last = &settled[2];
        let listed: Vec<&str> = last["outputs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|path| path.as_str().unwrap())
            .collect();
        for name in [
            "ok--archive-order.transcript.source",
            "ok--archive-order.summary.source",
        ] {
            assert!(
                listed.iter().any(|path| path.ends_with(name)),
                "{order:?}: {listed:?}"
            );
        }
        // The links' signatures stay out of the log.
        assert!(!receiver.log().contains("part-signature-secret"));
        // `chatdump jobs` names each job's part.
        let table = Command::new(CHATDUMP)
            .args(["jobs", "--output"])
            .arg(root.path())
            .output()
            .unwrap();
        let table = String::from_utf8(table.stdout).unwrap();
        for part in ["chat", "transcript", "summary"] {
            assert!(
                table
                    .lines()
                    .any(|line| line.contains(session) && line.contains(&format!("  {part}  "))),
                "{part}: {table}"
            );
        }
        assert!(table.contains("total: 3 done"), "{table}");
        trees.push(files);
    }
    assert_eq!(
        trees[0].keys().collect::<Vec<_>>(),
        trees[1].keys().collect::<Vec<_>>()
    );
    for (path, bytes) in &trees[0] {
        assert!(trees[1][path] == *bytes, "`{}` differs", path.display());
    }
}

#[test]
fn a_duplicate_transcript_or_summary_delivery_does_nothing() {
    let parts = PartServer::start();
    let session = "ok--archive-duplicate";
    let csv = webhook_fixture("session-transcript.csv");
    let archive = Archive::new(
        &parts,
        session,
        None,
        ("meeting.transcript.json", "dup-transcript.csv", &csv),
    );
    let root = temp_dir();
    let flags = parts.flags();
    let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
    let receiver = Receiver::start(root.path(), None, &flags);
    archive.deliver_in_order(&receiver, root.path(), &[CHAT, TRANSCRIPT, SUMMARY]);
    let before = output_tree(root.path());
    let modified = |root: &Path| -> Vec<std::time::SystemTime> {
        before
            .keys()
            .map(|path| {
                std::fs::metadata(root.join(path))
                    .unwrap()
                    .modified()
                    .unwrap()
            })
            .collect()
    };
    let times = modified(root.path());
    let jobs_before = jobs(root.path());
    // The provider's retry (same uuid) and its duplicate (a uuid of its own), Dyte-signed too.
    for event in [TRANSCRIPT, SUMMARY] {
        let body = archive.body(event);
        for uuid in [format!("{event}-{session}"), format!("{event}-again")] {
            let (status, answer) = deliver(receiver.address, body, &uuid);
            assert_eq!(
                (status, answer.contains("duplicate")),
                (200, true),
                "{answer}"
            );
        }
        let signature = sign(body);
        let (status, answer) = post(
            receiver.address,
            body,
            &[("dyte-signature", &signature), ("dyte-uuid", "dyte-dup")],
        );
        assert_eq!(
            (status, answer.contains("duplicate")),
            (200, true),
            "{answer}"
        );
    }
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(parts.hits("dup-transcript.csv"), 1);
    assert_eq!(parts.hits(&format!("{session}.summary.md")), 1);
    assert!(output_tree(root.path()) == before, "the files changed");
    assert_eq!(modified(root.path()), times, "a file was written again");
    let jobs_after = jobs(root.path());
    assert_eq!(jobs_after.len(), 3);
    for (before, after) in jobs_before.iter().zip(&jobs_after) {
        assert_eq!(before["status"], after["status"]);
        assert_eq!(before["attempts"], after["attempts"]);
    }
}

/// A forged delivery: what it tests, the body, the headers.
type Forged<'a> = (&'a str, &'a [u8], Vec<(&'a str, String)>);

#[test]
fn a_transcript_or_summary_delivery_with_a_bad_signature_is_refused() {
    let parts = PartServer::start();
    let session = "ok--archive-forged";
    let archive = Archive::new(
        &parts,
        session,
        None,
        ("meeting.transcript.json", "forged.csv", b"unused"),
    );
    let root = temp_dir();
    let flags = parts.flags();
    let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
    let receiver = Receiver::start(root.path(), None, &flags);
    let other = key_pair("test-only-other-private.pem");
    for event in [TRANSCRIPT, SUMMARY] {
        let body = archive.body(event);
        let mut tampered = body.to_vec();
        let at = tampered.len() - 3;
        tampered[at] ^= 0x01;
        let cases: [Forged<'_>; 4] = [
            ("unsigned", body, vec![("rtk-uuid", "u".into())]),
            (
                "signed by another key",
                body,
                vec![("rtk-signature", sign_with(&other, body))],
            ),
            ("tampered", &tampered, vec![("rtk-signature", sign(body))]),
            (
                "Dyte header, another key",
                body,
                vec![("dyte-signature", sign_with(&other, body))],
            ),
        ];
        for (what, payload, headers) in cases {
            let headers: Vec<(&str, &str)> = headers
                .iter()
                .map(|(name, value)| (*name, value.as_str()))
                .collect();
            let (status, answer) = post(receiver.address, payload, &headers);
            assert_eq!(status, 401, "{event}, {what}: {answer}");
        }
    }
    std::thread::sleep(Duration::from_millis(300));
    assert!(jobs(root.path()).is_empty());
    assert!(output_tree(root.path()).is_empty());
    assert_eq!(parts.hits("forged.csv"), 0);
}

#[test]
fn transcript_and_summary_links_to_private_addresses_are_refused() {
    let (trap_address, hits) = trap();
    let root = temp_dir();
    let receiver = Receiver::start(
        root.path(),
        None,
        &["--allow-download-host", "*.s3.amazonaws.com"],
    );
    let links = [
        format!("http://{trap_address}/t.csv"),
        format!("https://{trap_address}/t.csv"),
        format!("https://localhost:{}/t.csv", trap_address.port()),
        "http://169.254.169.254/latest/meta-data/".to_owned(),
        "https://[fd00:ec2::254]/latest/meta-data/".to_owned(),
        "file:///etc/passwd".to_owned(),
        "https://bucket.s3.amazonaws.com.evil.example/t.csv".to_owned(),
    ];
    let mut sessions = Vec::new();
    for (index, link) in links.iter().enumerate() {
        for (event, fixture) in [
            (TRANSCRIPT, "meeting.transcript.json"),
            (SUMMARY, "meeting.summary.json"),
        ] {
            let session = format!("ssrf-part-{index}-{}", &event[8..]);
            let body = delivery_fixture(fixture, &session, link);
            let (status, answer) = deliver(receiver.address, &body, &session);
            assert_eq!(status, 200, "{link}: {answer}");
            sessions.push((session, event, link));
        }
    }
    for (session, event, link) in &sessions {
        let job = wait_settled_event(root.path(), session, event, &receiver);
        assert_eq!(job["status"], "failed", "{link}: {job}");
        assert_eq!(job["attempts"], 1, "a refused link is not retried: {job}");
        let reason = job["last_error"].as_str().unwrap();
        assert!(
            reason.contains("not allowed")
                || reason.contains("IP address")
                || reason.contains("not on the allowed list"),
            "{link}: {reason}"
        );
    }
    assert_eq!(
        hits.load(Ordering::SeqCst),
        0,
        "a refused link was dereferenced"
    );
    assert!(output_tree(root.path()).is_empty());
}

#[test]
fn a_json_transcript_is_placed_on_the_clock_by_the_start_a_delivery_states() {
    let parts = PartServer::start();
    let json = webhook_fixture("session-transcript.json");
    let root = temp_dir();
    let flags = parts.flags();
    let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
    let receiver = Receiver::start(root.path(), None, &flags);
    // The transcript's delivery states no start; the chat's (RealtimeKit) does. Transcript
    // first: stored, waiting; the chat renders both.
    let started = Archive::new(
        &parts,
        "ok--archive-json-start",
        Some("2024-05-14T09:00:00.000Z"),
        ("meeting.transcript.flat.json", "start.json", &json),
    );
    let settled = started.deliver_in_order(&receiver, root.path(), &[TRANSCRIPT, CHAT]);
    assert_eq!(settled[0]["status"], "done", "{}", settled[0]);
    assert_eq!(settled[1]["status"], "done", "{}", settled[1]);
    // `jobs --json` shows the start the chat's delivery stated.
    assert_eq!(
        settled[1]["started_at"], "2024-05-14T09:00:00.000Z",
        "{}",
        settled[1]
    );
    let job = wait_settled_event(root.path(), &started.session, TRANSCRIPT, &receiver);
    assert_eq!(job["status"], "done", "{job}");
    assert!(
        settled[1]["outputs"]
            .as_array()
            .unwrap()
            .iter()
            .any(|path| path
                .as_str()
                .unwrap()
                .ends_with("ok--archive-json-start.transcript.source")),
        "{}",
        settled[1]
    );
    // The offsets counted from the chat delivery's `startedAt`.
    let utterances = transcript_lines(root.path(), &started.session);
    let starts: Vec<&str> = utterances
        .iter()
        .map(|utterance| utterance["start"].as_str().unwrap())
        .collect();
    assert_eq!(
        starts,
        ["2024-05-14T09:00:00.000Z", "2024-05-14T09:00:03.250Z"]
    );
    // No delivery states a start: the transcript job fails, saying so, in either order; the
    // chat is exported without it; the transcript is kept.
    for (session, order) in [
        ("ok--archive-json-nostart-1", [TRANSCRIPT, CHAT]),
        ("ok--archive-json-nostart-2", [CHAT, TRANSCRIPT]),
    ] {
        let archive = Archive::new(
            &parts,
            session,
            None,
            (
                "meeting.transcript.flat.json",
                &format!("{session}.json"),
                &json,
            ),
        );
        archive.deliver_in_order(&receiver, root.path(), &order);
        let chat = wait_settled_event(root.path(), session, CHAT, &receiver);
        assert_eq!(chat["status"], "done", "{chat}");
        let transcript = wait_settled_event(root.path(), session, TRANSCRIPT, &receiver);
        assert_eq!(transcript["status"], "failed", "{order:?}: {transcript}");
        let reason = transcript["last_error"].as_str().unwrap();
        assert!(
            reason.contains("session's start")
                && reason.contains("no delivery for this session stated its start")
                && reason.contains(&format!("`{session}.transcript.source`")),
            "{reason}"
        );
        assert!(
            root.path()
                .join(format!("{session}.transcript.source"))
                .is_file()
        );
        assert!(
            !root
                .path()
                .join(format!("{session}.transcript.jsonl"))
                .exists()
        );
        assert_exported(root.path(), session, MESSAGES);
    }
}

#[test]
fn a_receiver_killed_while_fetching_a_transcript_ends_with_the_same_files() {
    let parts = PartServer::start();
    let csv = webhook_fixture("session-transcript.csv");
    let session = "ok--archive-restart";
    // The reference: the same deliveries, uninterrupted.
    let archive = Archive::new(
        &parts,
        session,
        None,
        ("meeting.transcript.json", "restart-reference.csv", &csv),
    );
    let flags = parts.flags();
    let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
    let reference = temp_dir();
    {
        let receiver = Receiver::start(reference.path(), None, &flags);
        archive.deliver_in_order(&receiver, reference.path(), &[CHAT, SUMMARY, TRANSCRIPT]);
    }
    // Now with the transcript served slowly (about 2 s), and the receiver killed in the middle.
    let slow = Archive::new(
        &parts,
        session,
        None,
        ("meeting.transcript.json", "slow-restart.csv", &csv),
    );
    let root = temp_dir();
    let receiver = Receiver::start(root.path(), None, &flags);
    slow.deliver_in_order(&receiver, root.path(), &[CHAT, SUMMARY]);
    let (status, answer) = deliver(receiver.address, slow.body(TRANSCRIPT), "slow-transcript");
    assert_eq!(
        (status, answer.contains("accepted")),
        (200, true),
        "{answer}"
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    while parts.hits("slow-restart.csv") == 0 {
        assert!(Instant::now() < deadline, "the download never started");
        std::thread::sleep(Duration::from_millis(10));
    }
    std::thread::sleep(Duration::from_millis(300));
    receiver.kill();
    let running = jobs(root.path())
        .into_iter()
        .find(|job| job["event"] == TRANSCRIPT)
        .unwrap();
    assert_eq!(running["status"], "running", "{running}");
    assert!(
        !root
            .path()
            .join(format!("{session}.transcript.source"))
            .exists()
    );
    // The restart finishes it: the same files as without the crash, no temporary left.
    let receiver = Receiver::start(root.path(), None, &flags);
    let job = wait_settled_event(root.path(), session, TRANSCRIPT, &receiver);
    assert_eq!(job["status"], "done", "{job}\n{}", receiver.log());
    assert_eq!(job["attempts"], 2, "{job}");
    assert_eq!(parts.hits("slow-restart.csv"), 2);
    assert_eq!(transcript_lines(root.path(), session).len(), 4);
    let (expected, found) = (output_tree(reference.path()), output_tree(root.path()));
    assert_eq!(
        expected.keys().collect::<Vec<_>>(),
        found.keys().collect::<Vec<_>>()
    );
    for (path, bytes) in &expected {
        assert!(found[path] == *bytes, "`{}` differs", path.display());
    }
}

#[test]
fn media_is_saved_beside_a_delivered_session() {
    let server = test_server(MESSAGES, Duration::from_millis(10));
    let root = temp_dir();
    let media_host = server.addr().to_string();
    let receiver = Receiver::start(
        root.path(),
        Some(&server),
        &[
            "--media",
            "download",
            "--allow-insecure-media-host",
            &media_host,
        ],
    );
    let session = "media--webhook";
    let (job, _) = deliver_and_settle(&server, &receiver, root.path(), session, "uuid-media");
    assert_eq!(job["status"], "done", "{job}\n{}", receiver.log());
    let media = root.path().join(format!("{session}.media"));
    let stored = std::fs::read_dir(&media)
        .unwrap_or_else(|error| panic!("{}: {error}\n{}", media.display(), receiver.log()))
        .count();
    // Three files and the index.
    assert_eq!(stored, 4);
    let transcript = std::fs::read_to_string(root.path().join(format!("{session}.md"))).unwrap();
    assert!(
        transcript.contains(&format!("]({session}.media/")),
        "{transcript}"
    );
    assert!(transcript.contains("not saved: HTTP 403"), "{transcript}");
}

#[test]
fn with_api_credentials_a_refused_part_link_is_replaced_and_the_start_comes_from_the_session() {
    let server = test_server(MESSAGES, Duration::from_millis(10));
    let parts = PartServer::start();
    let root = temp_dir();
    let flags = parts.flags();
    let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
    let receiver = Receiver::start(root.path(), Some(&server), &flags);

    // A JSON transcript from its own link, no delivery stating the start: the API's session
    // details give it (the test server's sessions start at 08:59:30).
    let session = "ok--archive-api-start";
    let json_url = parts.put(
        "api-start.json",
        &webhook_fixture("session-transcript.json"),
    );
    let transcript = delivery_fixture("meeting.transcript.flat.json", session, &json_url);
    let (url, expiry) = link_for(&server, session);
    let chat = chat_synced(session, &url, &expiry);
    for (event, body) in [(TRANSCRIPT, &transcript), (CHAT, &chat)] {
        let (status, answer) = deliver(receiver.address, body, &format!("{event}-{session}"));
        assert_eq!(status, 200, "{answer}");
        let job = wait_settled_event(root.path(), session, event, &receiver);
        assert_eq!(job["status"], "done", "{job}\n{}", receiver.log());
    }
    let starts: Vec<String> = transcript_lines(root.path(), session)
        .iter()
        .map(|utterance| utterance["start"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        starts,
        ["2024-05-14T08:59:30.000Z", "2024-05-14T08:59:33.250Z"]
    );
    // Asked once: the answer is kept for later renders.
    assert_eq!(
        server.requests_for(Route::SessionDetails, session).len(),
        1,
        "{}",
        receiver.log()
    );

    // A transcript link to a host not allowed and a summary link already expired: fresh
    // links from the API's transcript and summary routes.
    let session = "ok--archive-api-links";
    let (url, expiry) = link_for(&server, session);
    let (status, _) = deliver(
        receiver.address,
        &chat_synced(session, &url, &expiry),
        session,
    );
    assert_eq!(status, 200);
    assert_eq!(
        wait_settled_event(root.path(), session, CHAT, &receiver)["status"],
        "done"
    );
    let transcript = delivery_fixture(
        "meeting.transcript.json",
        session,
        "https://elsewhere.example/t.csv",
    );
    let summary = String::from_utf8(delivery_fixture(
        "meeting.summary.json",
        session,
        "https://bucket.s3.amazonaws.com/s.md",
    ))
    .unwrap()
    .replace("2099-01-01T00:00:00.000Z", "2020-01-01T00:00:00.000Z")
    .into_bytes();
    for (event, body) in [(TRANSCRIPT, &transcript), (SUMMARY, &summary)] {
        let (status, answer) = deliver(receiver.address, body, &format!("{event}-{session}"));
        assert_eq!(status, 200, "{answer}");
        let job = wait_settled_event(root.path(), session, event, &receiver);
        assert_eq!(job["status"], "done", "{job}\n{}", receiver.log());
    }
    assert_eq!(server.requests_for(Route::Transcript, session).len(), 1);
    assert_eq!(server.requests_for(Route::Summary, session).len(), 1);
    assert_eq!(
        transcript_lines(root.path(), session).len(),
        chatdump_testserver::parts::UTTERANCES
    );
    assert_eq!(
        std::fs::read(root.path().join(format!("{session}.summary.md"))).unwrap(),
        chatdump_testserver::parts::summary()
    );

    // The API has no transcript for this session: the job fails, saying so; no retry.
    let session = "no-transcript--archive";
    let body = delivery_fixture(
        "meeting.transcript.json",
        session,
        "https://elsewhere.example/t",
    );
    let (status, _) = deliver(receiver.address, &body, session);
    assert_eq!(status, 200);
    let job = wait_settled_event(root.path(), session, TRANSCRIPT, &receiver);
    assert_eq!(job["status"], "failed", "{job}");
    assert_eq!(job["attempts"], 1, "{job}");
    let reason = job["last_error"].as_str().unwrap();
    assert!(
        reason.contains("not on the allowed list") && reason.contains("no transcript for session"),
        "{reason}"
    );
    assert!(!receiver.log().contains(API_KEY));
}

#[test]
fn a_transcript_delivered_after_the_chat_keeps_the_chat_attachments() {
    let server = test_server(MESSAGES, Duration::from_millis(10));
    let parts = PartServer::start();
    let root = temp_dir();
    let media_host = server.addr().to_string();
    let mut flags = vec![
        "--media".to_owned(),
        "download".into(),
        "--allow-insecure-media-host".into(),
        media_host,
    ];
    flags.extend(parts.flags());
    let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
    let receiver = Receiver::start(root.path(), Some(&server), &flags);
    let session = "media--late-transcript";
    let (job, _) = deliver_and_settle(&server, &receiver, root.path(), session, "uuid-late-chat");
    assert_eq!(job["status"], "done", "{job}\n{}", receiver.log());
    let media = root.path().join(format!("{session}.media"));
    let saved = tree(&media);
    let files = saved
        .keys()
        .filter(|path| path.as_os_str() != "index.json")
        .count();
    assert_eq!(files, 3, "{:?}\n{}", saved.keys(), receiver.log());
    let linked = format!("]({session}.media/");
    let markdown = std::fs::read_to_string(root.path().join(format!("{session}.md"))).unwrap();
    assert_eq!(markdown.matches(&linked).count(), 3, "{markdown}");
    // Days later the attachment links have expired: the storage is gone.
    let storage = server.addr();
    drop(server);
    let deadline = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect_timeout(&storage, Duration::from_millis(200)).is_ok() {
        assert!(Instant::now() < deadline, "the test server still answers");
        std::thread::sleep(Duration::from_millis(20));
    }
    // The transcript arrives, and the session is rendered again.
    let url = parts.put(
        "late-transcript.csv",
        &webhook_fixture("session-transcript.csv"),
    );
    let body = delivery_fixture("meeting.transcript.json", session, &url);
    let (status, answer) = deliver(receiver.address, &body, "uuid-late-transcript");
    assert_eq!(status, 200, "{answer}");
    let job = wait_settled_event(root.path(), session, TRANSCRIPT, &receiver);
    assert_eq!(job["status"], "done", "{job}\n{}", receiver.log());
    let markdown = std::fs::read_to_string(root.path().join(format!("{session}.md"))).unwrap();
    assert!(
        markdown.contains("Welcome, everyone, before we start"),
        "{markdown}"
    );
    // The chat's attachments are all still there, linked as before.
    assert_eq!(tree(&media), saved);
    assert_eq!(markdown.matches(&linked).count(), 3, "{markdown}");
    // Only the link that had already failed is unavailable (tried again, and failing now).
    assert_eq!(markdown.matches("not saved: ").count(), 1, "{markdown}");
}
