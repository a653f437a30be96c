//! The HTML transcript in a real browser: headless Chromium, driven over the `DevTools` protocol.
//!
//! It loads the transcript of the hostile fixture and checks, from the browser's own point of
//! view, that no injected script ran (no dialog, no `window.__pwned`, no exception, no CSP
//! violation), that no network request was attempted, and that the search box filters as you
//! type. It saves light and dark screenshots under `target/transcript-screenshots/` for review.
//! The same for the hostile chat merged with a hostile speech transcript and summary (issue 18),
//! with the chat / speech filter.
//!
//! These tests run under the `test-tools` feature, which `scripts/test` turns on after installing
//! Debian's `chromium` when it is missing; with the feature and without Chromium they fail. A
//! plain `cargo test` lists them as ignored.

use std::collections::BTreeMap;
use std::fs;
use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::{Value, json};
use tungstenite::{Message, WebSocket};

use chatdump_core::export::{ExportContext, Exporter};
use chatdump_core::model::Position;
use chatdump_core::reader::{ChatReader, ReaderOptions};
use chatdump_core::speech::{Speech, Summary, SummaryFormat, Utterance};
use chatdump_html::HtmlWriter;
use chatdump_transcript::TranscriptOptions;

use crate::support::{Chatdump, fixtures_dir, temp_dir};

const CHROMIUM: &str = "/usr/bin/chromium";

/// A headless Chromium started for one test, killed (by its process id) when dropped.
struct Browser {
    child: Child,
    port: u16,
    _profile: tempfile::TempDir,
}

impl Browser {
    fn start() -> Self {
        assert!(
            Path::new(CHROMIUM).exists(),
            "{CHROMIUM} is missing: run scripts/test, which installs Debian's chromium"
        );
        let profile = temp_dir();
        let child = Command::new(CHROMIUM)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--disable-default-apps",
                "--disable-extensions",
                "--remote-debugging-address=127.0.0.1",
                "--remote-debugging-port=0",
                "--window-size=1100,1400",
            ])
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .arg("about:blank")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromium");
        // Chromium writes the port it chose to `DevToolsActivePort` in the profile.
        let active = profile.path().join("DevToolsActivePort");
        let started = Instant::now();
        let port = loop {
            if let Ok(text) = fs::read_to_string(&active)
                && let Some(port) = text.lines().next().and_then(|line| line.parse().ok())
            {
                break port;
            }
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "chromium did not open its DevTools port"
            );
            std::thread::sleep(Duration::from_millis(50));
        };
        Self {
            child,
            port,
            _profile: profile,
        }
    }

    /// The WebSocket URL of the first page target (from `/json/list`).
    fn page_url(&self) -> String {
        let mut stream = TcpStream::connect(("127.0.0.1", self.port)).expect("connect to devtools");
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        // HTTP/1.1 (Chromium does not answer 1.0); it keeps the connection open, so the body
        // is read by its Content-Length.
        write!(
            stream,
            "GET /json/list HTTP/1.1\r\nHost: 127.0.0.1:{}\r\n\r\n",
            self.port
        )
        .unwrap();
        let mut received = Vec::new();
        let mut buffer = [0_u8; 16 << 10];
        let body = loop {
            let read = stream.read(&mut buffer).expect("read /json/list");
            assert!(read > 0, "devtools closed the connection");
            received.extend_from_slice(&buffer[..read]);
            let text = String::from_utf8_lossy(&received);
            if let Some((head, body)) = text.split_once("\r\n\r\n") {
                let length: usize = head
                    .lines()
                    .find_map(|line| {
                        let (name, value) = line.split_once(':')?;
                        name.eq_ignore_ascii_case("content-length")
                            .then(|| value.trim().parse().ok())?
                    })
                    .expect("Content-Length");
                if body.len() >= length {
                    break body[..length].to_owned();
                }
            }
        };
        let targets: Vec<Value> = serde_json::from_str(&body).expect("target list");
        targets
            .iter()
            .find(|target| target["type"] == "page")
            .and_then(|target| target["webSocketDebuggerUrl"].as_str())
            .expect("a page target")
            .to_owned()
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A `DevTools` session on one page, recording every event it sees.
struct Page {
    socket: WebSocket<TcpStream>,
    next_id: u64,
    events: Vec<Value>,
}

impl Page {
    fn connect(browser: &Browser) -> Self {
        let url = browser.page_url();
        let stream = TcpStream::connect(("127.0.0.1", browser.port)).expect("connect");
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .unwrap();
        let (socket, _) = tungstenite::client(url.as_str(), stream).expect("websocket handshake");
        let mut page = Self {
            socket,
            next_id: 0,
            events: Vec::new(),
        };
        for domain in ["Page", "Network", "Runtime", "Log"] {
            page.call(&format!("{domain}.enable"), &json!({}));
        }
        page
    }

    fn read(&mut self) -> Value {
        loop {
            match self.socket.read().expect("devtools message") {
                Message::Text(text) => return serde_json::from_str(&text).expect("JSON"),
                Message::Close(_) => panic!("devtools closed the connection"),
                _ => {}
            }
        }
    }

    /// Sends a command and returns its result, recording events that arrive meanwhile. A
    /// JavaScript dialog (which only an injected `alert` could open) is dismissed and recorded.
    fn call(&mut self, method: &str, params: &Value) -> Value {
        self.next_id += 1;
        let id = self.next_id;
        let request = json!({ "id": id, "method": method, "params": params });
        self.socket
            .send(Message::Text(request.to_string().into()))
            .expect("send to devtools");
        loop {
            let message = self.read();
            if message["id"] == id {
                assert!(message.get("error").is_none(), "{method} failed: {message}");
                return message["result"].clone();
            }
            self.record(message);
        }
    }

    fn record(&mut self, event: Value) {
        if event["method"] == "Page.javascriptDialogOpening" {
            self.next_id += 1;
            let dismiss = json!({
                "id": self.next_id,
                "method": "Page.handleJavaScriptDialog",
                "params": { "accept": false },
            });
            self.socket
                .send(Message::Text(dismiss.to_string().into()))
                .expect("dismiss dialog");
        }
        self.events.push(event);
    }

    /// Reads events until one named `method` arrives, or `timeout` passes.
    fn wait_for(&mut self, method: &str, timeout: Duration) {
        let started = Instant::now();
        while started.elapsed() < timeout {
            let message = self.read();
            let found = message["method"] == method;
            self.record(message);
            if found {
                return;
            }
        }
        panic!("no {method} within {timeout:?}");
    }

    /// Evaluates a JavaScript expression in the page and returns its value.
    fn eval(&mut self, expression: &str) -> Value {
        let result = self.call(
            "Runtime.evaluate",
            &json!({ "expression": expression, "returnByValue": true, "awaitPromise": true }),
        );
        assert!(
            result.get("exceptionDetails").is_none(),
            "{expression}: {result}"
        );
        result["result"]["value"].clone()
    }

    fn load(&mut self, path: &Path) {
        let url = format!("file://{}", path.display());
        self.call("Page.navigate", &json!({ "url": url }));
        self.wait_for("Page.loadEventFired", Duration::from_secs(30));
        // Let anything that was going to run (timers, lazy images) run.
        self.eval("new Promise(resolve => setTimeout(resolve, 300))");
    }

    fn screenshot(&mut self, scheme: &str, path: &Path) {
        self.call(
            "Emulation.setEmulatedMedia",
            &json!({ "features": [{ "name": "prefers-color-scheme", "value": scheme }] }),
        );
        self.eval("new Promise(resolve => requestAnimationFrame(() => resolve(1)))");
        let shot = self.call("Page.captureScreenshot", &json!({ "format": "png" }));
        let png = base64::engine::general_purpose::STANDARD
            .decode(shot["data"].as_str().expect("screenshot data"))
            .expect("base64 PNG");
        fs::write(path, png).expect("save the screenshot");
    }

    /// Waits (up to 10 s: the search is debounced, and a loaded machine delays timers) until
    /// the search leaves `expected` messages visible; fails if it never does.
    fn assert_visible(&mut self, expected: u64) {
        let started = Instant::now();
        loop {
            let visible = self.eval(VISIBLE);
            if visible == expected || started.elapsed() > Duration::from_secs(10) {
                assert_eq!(visible, expected, "visible messages");
                return;
            }
            self.eval("new Promise(resolve => setTimeout(resolve, 50))");
        }
    }

    /// The URLs of every network request the page attempted.
    fn requests(&self) -> Vec<String> {
        self.events
            .iter()
            .filter(|event| event["method"] == "Network.requestWillBeSent")
            .map(|event| {
                event["params"]["request"]["url"]
                    .as_str()
                    .unwrap_or("")
                    .to_owned()
            })
            .collect()
    }

    /// Events that mean injected code ran or tried to: dialogs, exceptions, CSP violations.
    fn alarms(&self) -> Vec<&Value> {
        self.events
            .iter()
            .filter(|event| {
                let method = event["method"].as_str().unwrap_or("");
                let text = event.to_string();
                method == "Page.javascriptDialogOpening"
                    || method == "Runtime.exceptionThrown"
                    || method == "Runtime.consoleAPICalled"
                    || (method == "Log.entryAdded"
                        && (text.contains("Content Security Policy")
                            || event["params"]["entry"]["level"] == "error"))
            })
            .collect()
    }
}

fn write_transcript(fixture: &str, dir: &Path, extra: &[&str]) -> PathBuf {
    let output = dir.join(format!("{}.html", fixture.trim_end_matches(".csv")));
    let mut args = vec![
        "convert",
        fixture,
        "--format",
        "html",
        "--output",
        output.to_str().expect("UTF-8 path"),
    ];
    args.extend_from_slice(extra);
    Chatdump::new(args).run().assert_code(0);
    output
}

fn screenshots_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/transcript-screenshots");
    fs::create_dir_all(&dir).expect("create target/transcript-screenshots");
    dir
}

/// How many messages (and groups) the search leaves visible.
const VISIBLE: &str = "[...document.querySelectorAll('.log .msg')]\
    .filter(m => !m.hidden && !m.closest('.group').hidden).length";

#[test]
#[cfg_attr(
    not(feature = "test-tools"),
    ignore = "needs Chromium: run scripts/test"
)]
fn hostile_transcript_is_inert_offline_and_searchable_in_chromium() {
    let dir = temp_dir();
    let html = write_transcript(
        "hostile-transcript.csv",
        dir.path(),
        &["--no-remote-images"],
    );
    let browser = Browser::start();
    let mut page = Page::connect(&browser);
    page.load(&html);

    // No injected script ran.
    assert_eq!(page.eval("typeof window.__pwned"), "undefined");
    assert_eq!(page.eval("typeof window.alert"), "function");
    let alarms = page.alarms();
    assert!(
        alarms.is_empty(),
        "injected code ran or was blocked: {alarms:#?}"
    );
    // Only the page's own script and no element with an event handler attribute.
    assert_eq!(page.eval("document.scripts.length"), 1);
    assert_eq!(
        page.eval(
            "[...document.querySelectorAll('*')].filter(e => [...e.attributes].some(a => a.name.startsWith('on'))).length"
        ),
        0
    );
    assert_eq!(
        page.eval(
            "[...document.querySelectorAll('[href],[src]')].map(e => e.href || e.src)\
             .filter(u => !/^(https?:|mailto:|file:)/i.test(u)).length"
        ),
        0
    );
    // Nothing was requested but the page itself.
    let requests = page.requests();
    assert_eq!(requests.len(), 1, "network requests: {requests:#?}");
    assert!(requests[0].starts_with("file://"), "{requests:?}");

    // The search box: type, and only matching messages stay.
    assert_eq!(page.eval(VISIBLE), 20);
    assert_eq!(page.eval("document.querySelector('.search').hidden"), false);
    page.eval("document.getElementById('search-text').focus()");
    page.call("Input.insertText", &json!({ "text": "normal MESSAGE" }));
    page.assert_visible(1);
    assert_eq!(
        page.eval("document.getElementById('search-status').textContent"),
        "1 of 20 messages"
    );
    // By participant: clear the text, pick a sender.
    page.eval(
        "(() => { const input = document.getElementById('search-text'); input.value = '';\
         input.dispatchEvent(new Event('input')); const who = document.getElementById('search-who');\
         who.value = 'Imager'; who.dispatchEvent(new Event('change')); return 1; })()",
    );
    page.assert_visible(3);
    // Text and participant together; a name matches as text too.
    page.eval("document.getElementById('search-text').value = 'imager'; document.getElementById('search-text').dispatchEvent(new Event('input'))");
    page.assert_visible(3);
    page.eval(
        "(() => { const who = document.getElementById('search-who'); who.value = '';\
         who.dispatchEvent(new Event('change')); const input = document.getElementById('search-text');\
         input.value = ''; input.dispatchEvent(new Event('input')); return 1; })()",
    );
    page.assert_visible(20);

    let shots = screenshots_dir();
    page.screenshot("light", &shots.join("hostile-light.png"));
    page.screenshot("dark", &shots.join("hostile-dark.png"));
    assert!(page.alarms().is_empty(), "{:#?}", page.alarms());
    assert_eq!(page.requests().len(), 1, "{:#?}", page.requests());
}

#[test]
#[cfg_attr(
    not(feature = "test-tools"),
    ignore = "needs Chromium: run scripts/test"
)]
fn remote_images_are_the_only_requests_when_allowed() {
    let dir = temp_dir();
    let hostile = write_transcript("hostile-transcript.csv", dir.path(), &[]);
    let sample = write_transcript("sample-chat-dump.csv", dir.path(), &["--no-remote-images"]);
    let browser = Browser::start();
    let mut page = Page::connect(&browser);
    page.load(&hostile);
    // Scroll through so lazy images would load.
    page.eval("window.scrollTo(0, document.body.scrollHeight); 1");
    page.eval("new Promise(resolve => setTimeout(resolve, 500))");
    assert_eq!(page.eval("typeof window.__pwned"), "undefined");
    let mut requests: BTreeMap<String, usize> = BTreeMap::new();
    for url in page.requests() {
        *requests.entry(url).or_default() += 1;
    }
    for url in requests.keys() {
        assert!(
            url.starts_with("file://")
                || url == "https://images.example/photo%20one.png?a=1&b=%3C2%3E",
            "unexpected request to {url}"
        );
    }

    drop(page);

    // The positive control: the monitoring does see requests.
    assert!(
        requests.contains_key("https://images.example/photo%20one.png?a=1&b=%3C2%3E"),
        "{requests:#?}"
    );

    // The sample, for people to look at. `Log.enable` replays the previous page's log (its
    // failed image load): only what happens from here on counts.
    let mut page = Page::connect(&browser);
    page.events.clear();
    page.load(&sample);
    let shots = screenshots_dir();
    page.screenshot("light", &shots.join("sample-light.png"));
    page.screenshot("dark", &shots.join("sample-dark.png"));
    assert!(page.alarms().is_empty(), "{:#?}", page.alarms());
    assert_eq!(page.requests().len(), 1, "{:#?}", page.requests());
}

/// A hostile speech transcript and summary for `hostile-transcript.csv` (23:50 to 00:10): an
/// utterance before its first message, one at the same instant, one with controls and bidi, one
/// after its last message.
fn hostile_speech() -> Speech {
    let utterance =
        |index: u64, participant_id: Option<&str>, name: &str, start: &str, text: &str| Utterance {
            session_id: None,
            participant_id: participant_id.map(str::to_owned),
            user_id: None,
            custom_participant_id: None,
            display_name: name.into(),
            start: start.parse().unwrap(),
            end: None,
            text: text.into(),
            position: Position::default(),
            index,
        };
    Speech {
        utterances: vec![
            utterance(
                0,
                Some("p-script"),
                "<script>window.__pwned='uname'</script>",
                "2024-05-14T23:49:00Z",
                "<script>window.__pwned='utext'</script> <img src=x onerror=window.__pwned='uimg'>",
            ),
            utterance(
                1,
                Some("p-script"),
                "<script>window.__pwned='uname'</script>",
                "2024-05-14T23:50:00Z",
                "[click](javascript:window.__pwned='ujs') ![px](https://tracker.example/speech.png)",
            ),
            utterance(
                2,
                None,
                "Eve\u{202e}",
                "2024-05-14T23:55:00Z",
                "\u{1b}]0;title\u{7} \u{202e}txt.exe spoken words",
            ),
            utterance(
                3,
                Some("p-img"),
                "\"><svg onload=window.__pwned='uname2'>",
                "2024-05-15T00:20:00Z",
                "after everything <iframe src=\"javascript:window.__pwned='uframe'\"></iframe>",
            ),
        ],
        summary: Some(Summary {
            text: "# Summary\n\n<script>window.__pwned='summary'</script>\n\n\
                   ![pixel](https://tracker.example/summary.png) [x](javascript:window.__pwned='sjs')\n"
                .into(),
            format: SummaryFormat::Markdown,
        }),
    }
}

/// The hostile fixture merged with [`hostile_speech`], without remote images, through the
/// library (the chat is read in file order, which is time order).
fn write_merged_transcript(dir: &Path) -> PathBuf {
    let input = fs::File::open(fixtures_dir().join("hostile-transcript.csv")).unwrap();
    let mut reader =
        ChatReader::new(input, "hostile-transcript.csv", ReaderOptions::default()).unwrap();
    let options = TranscriptOptions {
        remote_images: false,
        ..TranscriptOptions::default()
    };
    let mut writer = HtmlWriter::new(Vec::new(), options);
    writer
        .begin(&ExportContext {
            source: "hostile-transcript.csv".into(),
            tool_version: "test".into(),
            generated_at: None,
            speech: Some(Arc::new(hostile_speech())),
            ..ExportContext::default()
        })
        .unwrap();
    while let Some(message) = reader.next_message() {
        writer.message(&message.unwrap()).unwrap();
    }
    writer.finish().unwrap();
    let output = dir.join("hostile-merged.html");
    fs::write(&output, writer.into_inner()).unwrap();
    output
}

/// How many messages and utterances are shown: neither hidden by the search nor by the chat /
/// speech filter (a class on `<body>` the stylesheet reads).
const SHOWN: &str = "[...document.querySelectorAll('.log .msg')]\
    .filter(m => !m.hidden && !m.closest('.group').hidden\
        && getComputedStyle(m.closest('.group')).display !== 'none').length";

/// The search's status line ("N of M messages").
const STATUS: &str = "document.getElementById('search-status').textContent";

/// Sets the chat / speech filter.
fn show(page: &mut Page, kind: &str) {
    page.eval(&format!(
        "(() => {{ const kind = document.getElementById('search-kind'); kind.value = '{kind}';\
         kind.dispatchEvent(new Event('change')); return 1; }})()"
    ));
}

#[test]
#[cfg_attr(
    not(feature = "test-tools"),
    ignore = "needs Chromium: run scripts/test"
)]
fn hostile_merged_transcript_is_inert_offline_and_filters_chat_and_speech_in_chromium() {
    let dir = temp_dir();
    let html = write_merged_transcript(dir.path());
    let browser = Browser::start();
    let mut page = Page::connect(&browser);
    page.load(&html);

    // No injected script ran, nothing was blocked, nothing was requested.
    assert_eq!(page.eval("typeof window.__pwned"), "undefined");
    let alarms = page.alarms();
    assert!(
        alarms.is_empty(),
        "injected code ran or was blocked: {alarms:#?}"
    );
    assert_eq!(page.eval("document.scripts.length"), 1);
    assert_eq!(
        page.eval(
            "[...document.querySelectorAll('*')].filter(e => [...e.attributes].some(a => a.name.startsWith('on'))).length"
        ),
        0
    );
    assert_eq!(
        page.eval(
            "[...document.querySelectorAll('[href],[src]')].map(e => e.href || e.src)\
             .filter(u => !/^(https?:|mailto:|file:)/i.test(u)).length"
        ),
        0
    );
    let requests = page.requests();
    assert_eq!(requests.len(), 1, "network requests: {requests:#?}");
    assert!(requests[0].starts_with("file://"), "{requests:?}");

    // The summary is on top, speech is marked as such.
    assert_eq!(
        page.eval("document.querySelector('main > section').id"),
        "summary"
    );
    assert_eq!(
        page.eval("document.querySelectorAll('.log .group.speech .msg').length"),
        4
    );

    // The filter: everything, then chat only, then speech only.
    assert_eq!(page.eval(SHOWN), 24);
    show(&mut page, "chat");
    assert_eq!(page.eval(SHOWN), 20);
    show(&mut page, "speech");
    assert_eq!(page.eval(SHOWN), 4);
    // The search covers speech too, and combines with the filter.
    page.eval("document.getElementById('search-text').focus()");
    page.call("Input.insertText", &json!({ "text": "spoken words" }));
    page.assert_visible(1);
    assert_eq!(page.eval(SHOWN), 1);
    // The count covers what the filter shows.
    assert_eq!(page.eval(STATUS), "1 of 4 utterances");
    show(&mut page, "chat");
    assert_eq!(page.eval(SHOWN), 0);
    assert_eq!(page.eval(STATUS), "0 of 20 messages");
    show(&mut page, "");
    assert_eq!(page.eval(SHOWN), 1);
    assert_eq!(page.eval(STATUS), "1 of 24 messages and utterances");
    page.eval(
        "(() => { const input = document.getElementById('search-text'); input.value = '';\
         input.dispatchEvent(new Event('input')); return 1; })()",
    );
    page.assert_visible(24);

    let shots = screenshots_dir();
    page.screenshot("light", &shots.join("merged-light.png"));
    page.screenshot("dark", &shots.join("merged-dark.png"));
    assert!(page.alarms().is_empty(), "{:#?}", page.alarms());
    assert_eq!(page.requests().len(), 1, "{:#?}", page.requests());
}

#[test]
#[cfg_attr(
    not(feature = "test-tools"),
    ignore = "needs Chromium: run scripts/test"
)]
fn embedded_images_render_offline_with_no_request() {
    let server = crate::media::server();
    let dir = temp_dir();
    let input = crate::media::write_dump(
        dir.path(),
        &crate::media::dump(
            &server,
            &[
                ("png", "image", "pixel.png"),
                ("jpeg", "image", "photo.jpg"),
                ("svg", "image", "evil.svg"),
                ("fake", "image", "fake.png"),
                ("expired", "image", "expired.png"),
            ],
        ),
    );
    let out = dir.path().join("out");
    crate::media::convert(&server, &input, &out, "html", &["--media", "embed"]).assert_code(0);
    let asked = server.requests().len();

    let browser = Browser::start();
    let mut page = Page::connect(&browser);
    page.call(
        "Network.emulateNetworkConditions",
        &json!({ "offline": true, "latency": 0, "downloadThroughput": -1, "uploadThroughput": -1 }),
    );
    page.load(&out.join("chat.html"));
    // Both raster images decoded from their data: URIs.
    let rendered = page.eval(
        "Promise.all([...document.images].map(i => i.decode().then(() => i.naturalWidth, () => 0)))",
    );
    assert_eq!(rendered, json!([1, 1]), "image widths");
    assert_eq!(
        page.eval("[...document.images].every(i => i.src.startsWith('data:image/'))"),
        true
    );
    let alarms = page.alarms();
    assert!(alarms.is_empty(), "{alarms:#?}");
    // Nothing was requested but the page itself (and the inline data: URIs).
    let requests: Vec<String> = page
        .requests()
        .into_iter()
        .filter(|url| !url.starts_with("data:"))
        .collect();
    assert_eq!(requests.len(), 1, "network requests: {requests:#?}");
    assert!(requests[0].starts_with("file://"), "{requests:?}");
    assert_eq!(
        server.requests().len(),
        asked,
        "the media server was asked again"
    );
    page.screenshot("light", &screenshots_dir().join("media-embed-light.png"));
}
