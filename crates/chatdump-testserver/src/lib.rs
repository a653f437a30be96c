//! A local stand-in for the Dyte / Cloudflare `RealtimeKit` Chat Replay API and its storage.
//!
//! It serves both providers' chat routes with their auth checks and error envelopes, hands out
//! presigned-looking download links whose expiry is enforced, serves the dumps with `ETag` and
//! `Range` support, and injects faults chosen by the session id (see [`Scenario`]). It records
//! every request so tests can check what the client sent (for example, that no `Authorization`
//! header reached the download route).
//!
//! Routes:
//! - `GET /v2/sessions/{session_id}/chat` (Dyte; `Authorization: Basic base64(org_id:api_key)`);
//! - `GET /client/v4/accounts/{account_id}/realtime/kit/{app_id}/sessions/{session_id}/chat`
//!   (`RealtimeKit`; `Authorization: Bearer <token>`);
//! - `GET /storage/chat-dumps/{session_id}.csv?X-Amz-...` (the storage; refuses any
//!   `Authorization` header, as S3 does for presigned URLs);
//! - `GET /media/{name}` (the images and files a chat links to, with their faults: see
//!   [`media`]);
//! - the speech transcript (every format), the summary and the session's details, for both
//!   providers, and their storage (see [`parts`]).
//!
//! ```no_run
//! let server = chatdump_testserver::Server::start(chatdump_testserver::Config::default())?;
//! println!(
//!     "try: chatdump fetch --base-url {} --allow-private-download-host {} --session-id demo",
//!     server.dyte_base_url(),
//!     server.addr()
//! );
//! # Ok::<(), std::io::Error>(())
//! ```

#![allow(
    clippy::disallowed_methods,
    reason = "a test server plays the platform: it reads the real clock to sign and expire links"
)]

mod dump;
pub mod media;
pub mod parts;
mod scenario;
pub mod sessions;

use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::Response;
use axum::routing::get;
use base64::Engine as _;
use jiff::{SignedDuration, Timestamp};
use md5::{Digest, Md5};

pub use dump::{chat_csv, record_boundary_before};
pub use scenario::Scenario;

/// The server's credentials and behaviour.
#[derive(Debug, Clone)]
pub struct Config {
    /// The Dyte organization id it accepts.
    pub org_id: String,
    /// The Dyte API key it accepts.
    pub api_key: String,
    /// The Cloudflare account id it accepts.
    pub account_id: String,
    /// The `RealtimeKit` app id it accepts.
    pub app_id: String,
    /// The Cloudflare API token it accepts.
    pub api_token: String,
    /// How long a download link works.
    pub link_ttl: Duration,
    /// Messages in every dump.
    pub messages: usize,
    /// The pause between pieces of a `slow` body.
    pub slow_delay: Duration,
    /// How long a `stall-once` body stalls.
    pub stall: Duration,
}

impl Default for Config {
    /// Demo credentials (`demo-org` / `demo-key`, `demo-account` / `demo-app` / `demo-token`),
    /// 15-minute links and 300 messages a dump.
    fn default() -> Self {
        Self {
            org_id: "demo-org".into(),
            api_key: "demo-key".into(),
            account_id: "demo-account".into(),
            app_id: "demo-app".into(),
            api_token: "demo-token".into(),
            link_ttl: Duration::from_secs(900),
            messages: 300,
            slow_delay: Duration::from_millis(100),
            stall: Duration::from_secs(60),
        }
    }
}

/// Which route a request hit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Route {
    /// The Dyte chat route.
    DyteApi,
    /// The `RealtimeKit` chat route.
    RealtimeKitApi,
    /// The storage (download links).
    Download,
    /// The media storage (`/media/{name}`; the request's session is the name).
    Media,
    /// A transcript route (`.../sessions/{id}/transcript`), either provider.
    Transcript,
    /// A summary route (`.../sessions/{id}/summary`), either provider.
    Summary,
    /// A session-details route (`.../sessions/{id}`), either provider.
    SessionDetails,
    /// The transcript storage.
    TranscriptDownload,
    /// The summary storage.
    SummaryDownload,
}

/// One request, as the server saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// The route.
    pub route: Route,
    /// The session id.
    pub session: String,
    /// Whether an `Authorization` header came with it.
    pub authorization: bool,
    /// The `Range` header.
    pub range: Option<String>,
    /// The `If-Match` header.
    pub if_match: Option<String>,
    /// The `Referer` header.
    pub referer: Option<String>,
    /// The status answered.
    pub status: u16,
}

pub(crate) struct Shared {
    config: Config,
    base: String,
    /// Keys link signatures; fixed per server.
    secret: String,
    counters: Mutex<HashMap<(Route, String), u32>>,
    requests: Mutex<Vec<Request>>,
    links: Mutex<Vec<String>>,
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Shared {
    /// Counts a request of `route` for `session`; returns its 1-based number.
    fn count(&self, route: Route, session: &str) -> u32 {
        let mut counters = lock(&self.counters);
        let count = counters.entry((route, session.to_owned())).or_insert(0);
        *count += 1;
        *count
    }

    fn record(&self, route: Route, session: &str, headers: &HeaderMap, status: StatusCode) {
        let text = |name: header::HeaderName| {
            headers
                .get(name)
                .and_then(|value| value.to_str().ok())
                .map(str::to_owned)
        };
        lock(&self.requests).push(Request {
            route,
            session: session.to_owned(),
            authorization: headers.contains_key(header::AUTHORIZATION),
            range: text(header::RANGE),
            if_match: text(header::IF_MATCH),
            referer: text(header::REFERER),
            status: status.as_u16(),
        });
    }

    fn signature(&self, session: &str, date: &str, expires: i64, credential: &str) -> String {
        hex(&Md5::digest(format!(
            "{}\n{session}\n{date}\n{expires}\n{credential}",
            self.secret
        )))
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().fold(String::new(), |mut out, byte| {
        out.push_str(&format!("{byte:02x}"));
        out
    })
}

/// A running server on 127.0.0.1, on a thread of its own; it stops when dropped.
pub struct Server {
    addr: SocketAddr,
    shared: Arc<Shared>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl Server {
    /// Starts a server on `127.0.0.1` on a free port.
    pub fn start(config: Config) -> io::Result<Self> {
        Self::start_on(SocketAddr::from(([127, 0, 0, 1], 0)), config)
    }

    /// Starts a server on `addr`.
    pub fn start_on(addr: SocketAddr, config: Config) -> io::Result<Self> {
        let listener = std::net::TcpListener::bind(addr)?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let shared = shared(addr, config);
        let (shutdown, stop) = tokio::sync::oneshot::channel::<()>();
        let app = router(Arc::clone(&shared));
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()?;
        std::thread::Builder::new()
            .name("chatdump-testserver".into())
            .spawn(move || {
                runtime.block_on(async move {
                    let Ok(listener) = tokio::net::TcpListener::from_std(listener) else {
                        return;
                    };
                    let serve = axum::serve(listener, app);
                    tokio::select! {
                        _ = serve => {}
                        _ = stop => {}
                    }
                });
                // Connections still open (a stalled body) are dropped with the runtime.
                runtime.shutdown_background();
            })?;
        Ok(Self {
            addr,
            shared,
            shutdown: Some(shutdown),
        })
    }

    /// The address it listens on.
    #[must_use]
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The `--base-url` for the `dyte` provider: `http://127.0.0.1:PORT/v2`.
    #[must_use]
    pub fn dyte_base_url(&self) -> String {
        format!("http://{}/v2", self.addr)
    }

    /// The `--base-url` for the `realtimekit` provider: `http://127.0.0.1:PORT/client/v4`.
    #[must_use]
    pub fn realtimekit_base_url(&self) -> String {
        format!("http://{}/client/v4", self.addr)
    }

    /// Every request so far, in order.
    #[must_use]
    pub fn requests(&self) -> Vec<Request> {
        lock(&self.shared.requests).clone()
    }

    /// The requests so far for `route` and `session`.
    #[must_use]
    pub fn requests_for(&self, route: Route, session: &str) -> Vec<Request> {
        self.requests()
            .into_iter()
            .filter(|request| request.route == route && request.session == session)
            .collect()
    }

    /// Every download link handed out, in full (with signatures).
    #[must_use]
    pub fn links(&self) -> Vec<String> {
        lock(&self.shared.links).clone()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
    }
}

fn shared(addr: SocketAddr, config: Config) -> Arc<Shared> {
    Arc::new(Shared {
        config,
        base: format!("http://{addr}"),
        secret: format!("{:x}", fastish_seed(addr)),
        counters: Mutex::new(HashMap::new()),
        requests: Mutex::new(Vec::new()),
        links: Mutex::new(Vec::new()),
    })
}

/// A per-server value for signing links (not security: this server is for tests).
fn fastish_seed(addr: SocketAddr) -> u128 {
    let now = Timestamp::now().as_nanosecond();
    now.unsigned_abs() ^ u128::from(addr.port())
}

/// Serves on `listener` until the process ends (for the binary).
pub async fn serve(listener: tokio::net::TcpListener, config: Config) -> io::Result<()> {
    let addr = listener.local_addr()?;
    axum::serve(listener, router(shared(addr, config))).await
}

fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/v2/sessions/{session}/chat", get(dyte_chat))
        .route(
            "/client/v4/accounts/{account}/realtime/kit/{app}/sessions/{session}/chat",
            get(realtimekit_chat),
        )
        .route("/storage/chat-dumps/{file}", get(download))
        .merge(sessions::routes())
        .merge(media::routes())
        .merge(parts::routes())
        .with_state(shared)
}

fn json(status: StatusCode, body: &serde_json::Value) -> Response {
    respond(status, "application/json", body.to_string())
}

pub(crate) fn respond(
    status: StatusCode,
    content_type: &'static str,
    body: impl Into<Body>,
) -> Response {
    let mut response = Response::new(body.into());
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

async fn dyte_chat(
    State(shared): State<Arc<Shared>>,
    Path(session): Path<String>,
    headers: HeaderMap,
) -> Response {
    let expected = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!(
            "{}:{}",
            shared.config.org_id, shared.config.api_key
        ))
    );
    let response = if auth_matches(&headers, &expected) {
        chat_link(&shared, Route::DyteApi, &session)
    } else {
        json(
            StatusCode::UNAUTHORIZED,
            &serde_json::json!({"success": false, "error": {"code": 401, "message": "Unauthorized"}}),
        )
    };
    shared.record(Route::DyteApi, &session, &headers, response.status());
    response
}

/// The `RealtimeKit` answer to a request with the wrong token, account or app; `None` when it
/// may go on.
pub(crate) fn realtimekit_refusal(
    shared: &Shared,
    headers: &HeaderMap,
    account: &str,
    app: &str,
) -> Option<Response> {
    let expected = format!("Bearer {}", shared.config.api_token);
    if !auth_matches(headers, &expected) {
        Some(json(
            StatusCode::UNAUTHORIZED,
            &serde_json::json!({"success": false, "errors": [{"code": 10000, "message": "Authentication error"}], "messages": [], "result": null}),
        ))
    } else if account != shared.config.account_id || app != shared.config.app_id {
        Some(json(
            StatusCode::FORBIDDEN,
            &serde_json::json!({"success": false, "errors": [{"code": 10000, "message": "Authentication error: not allowed for this account or app"}], "messages": [], "result": null}),
        ))
    } else {
        None
    }
}

async fn realtimekit_chat(
    State(shared): State<Arc<Shared>>,
    Path((account, app, session)): Path<(String, String, String)>,
    headers: HeaderMap,
) -> Response {
    let response = realtimekit_refusal(&shared, &headers, &account, &app)
        .unwrap_or_else(|| chat_link(&shared, Route::RealtimeKitApi, &session));
    shared.record(Route::RealtimeKitApi, &session, &headers, response.status());
    response
}

fn auth_matches(headers: &HeaderMap, expected: &str) -> bool {
    headers
        .get(header::AUTHORIZATION)
        .is_some_and(|value| value.as_bytes() == expected.as_bytes())
}

pub(crate) fn error_envelope(route: Route, code: u16, message: &str) -> serde_json::Value {
    if route == Route::RealtimeKitApi {
        serde_json::json!({"success": false, "errors": [{"code": code, "message": message}], "messages": [], "result": null})
    } else {
        serde_json::json!({"success": false, "error": {"code": code, "message": message}})
    }
}

fn retry_after(mut response: Response, value: &str) -> Response {
    if let Ok(value) = HeaderValue::from_str(value) {
        response.headers_mut().insert(header::RETRY_AFTER, value);
    }
    response
}

/// The API's 500 and 429 faults of `scenario` (for the request counted `first` or not).
pub(crate) fn rate_fault(route: Route, scenario: Scenario, first: bool) -> Option<Response> {
    match scenario {
        Scenario::Api500Once if first => Some(json(
            StatusCode::INTERNAL_SERVER_ERROR,
            &error_envelope(route, 500, "Internal server error"),
        )),
        Scenario::Api429Once
        | Scenario::Api429Always
        | Scenario::Api429Long
        | Scenario::Api429Date
            if first || matches!(scenario, Scenario::Api429Always | Scenario::Api429Long) =>
        {
            let response = json(
                StatusCode::TOO_MANY_REQUESTS,
                &error_envelope(route, 429, "Too many requests"),
            );
            let value = match scenario {
                Scenario::Api429Long => "3600".to_owned(),
                Scenario::Api429Date => {
                    let when = Timestamp::now() + SignedDuration::from_secs(2);
                    jiff::fmt::rfc2822::DateTimePrinter::new()
                        .timestamp_to_rfc9110_string(&when)
                        .unwrap_or_else(|_| "1".to_owned())
                }
                _ => "1".to_owned(),
            };
            Some(retry_after(response, &value))
        }
        _ => None,
    }
}

/// What an API route hands out a link to.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Served {
    /// The chat dump.
    Chat,
    /// The speech transcript of a session that started at `start`.
    Transcript {
        shape: parts::TranscriptShape,
        start: Timestamp,
    },
    /// The summary.
    Summary,
}

/// The chat route's answer for an authenticated request.
fn chat_link(shared: &Shared, route: Route, session: &str) -> Response {
    link_answer(shared, route, route, session, Served::Chat)
}

/// An API route's answer for an authenticated request: a link to `served`, or the fault the
/// session's scenario asks for. `route` is the provider's (`DyteApi`, `RealtimeKitApi`: the
/// error envelope); `counter` counts the requests that "once" faults look at.
pub(crate) fn link_answer(
    shared: &Shared,
    route: Route,
    counter: Route,
    session: &str,
    served: Served,
) -> Response {
    let count = shared.count(counter, session);
    let scenario = Scenario::for_session(session);
    let first = count == 1;
    if let Some(fault) = rate_fault(route, scenario, first) {
        return fault;
    }
    match scenario {
        Scenario::ApiBadJson => {
            return respond(
                StatusCode::OK,
                "application/json",
                "{\"success\": true, \"data\": {\"chat_download_url\": ",
            );
        }
        Scenario::ApiEmpty => return respond(StatusCode::OK, "application/json", ""),
        Scenario::ApiSuccessFalse => {
            return json(
                StatusCode::OK,
                &error_envelope(
                    route,
                    1001,
                    "Chat replay is not enabled for this organization",
                ),
            );
        }
        Scenario::NotFound => {
            return json(
                StatusCode::NOT_FOUND,
                &error_envelope(
                    route,
                    404,
                    &format!(
                        "No {} found for session {session}",
                        match served {
                            Served::Chat => "chat",
                            Served::Transcript { .. } => "transcript",
                            Served::Summary => "summary",
                        }
                    ),
                ),
            );
        }
        _ => {}
    }
    let now = Timestamp::now();
    let ttl = i64::try_from(shared.config.link_ttl.as_secs()).unwrap_or(900);
    // (when the link was signed, how long the storage honours it, the expiry the API states)
    let (signed_at, valid_for, stated_expiry) = match scenario {
        Scenario::ExpiredLinkOnce if first => {
            let signed = now - SignedDuration::from_secs(ttl + 60);
            (signed, ttl, signed + SignedDuration::from_secs(ttl))
        }
        Scenario::ExpiringLinkOnce if first => (now, 2, now + SignedDuration::from_secs(2)),
        Scenario::RevokedLinkOnce if first => (now, 0, now + SignedDuration::from_secs(ttl)),
        Scenario::RevokedLinkAlways => (now, 0, now + SignedDuration::from_secs(ttl)),
        _ => (now, ttl, now + SignedDuration::from_secs(ttl)),
    };
    let mut url = sign_link(shared, session, served, signed_at, valid_for, count);
    if scenario == Scenario::LinkLocalhost {
        url = url.replacen("//127.0.0.1:", "//localhost:", 1);
    }
    lock(&shared.links).push(url.clone());
    let camel = scenario == Scenario::CamelCase;
    // Dyte's webhook spelling (space, microseconds) on the Dyte route; Cloudflare's on theirs.
    let expiry = if route == Route::DyteApi {
        stated_expiry.strftime("%Y-%m-%d %H:%M:%S%.6fZ").to_string()
    } else {
        stated_expiry.strftime("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
    };
    let data = match (served, camel) {
        (Served::Chat, true) => {
            serde_json::json!({"chatDownloadUrl": url, "chatDownloadUrlExpiry": expiry})
        }
        (Served::Chat, false) => {
            serde_json::json!({"chat_download_url": url, "chat_download_url_expiry": expiry})
        }
        (Served::Transcript { .. }, true) => {
            serde_json::json!({"sessionId": session, "transcriptDownloadUrl": url, "transcriptDownloadUrlExpiry": expiry})
        }
        (Served::Transcript { .. }, false) => {
            serde_json::json!({"sessionId": session, "transcript_download_url": url, "transcript_download_url_expiry": expiry})
        }
        // Documented in camelCase; the `camel-case` scenario flips it to snake case.
        (Served::Summary, false) => {
            serde_json::json!({"sessionId": session, "summaryDownloadUrl": url, "summaryDownloadUrlExpiry": expiry})
        }
        (Served::Summary, true) => {
            serde_json::json!({"sessionId": session, "summary_download_url": url, "summary_download_url_expiry": expiry})
        }
    };
    json(
        StatusCode::OK,
        &serde_json::json!({"success": true, "data": data}),
    )
}

/// A presigned-looking link: AWS `SigV4` query parameters, with a signature this server checks.
fn sign_link(
    shared: &Shared,
    session: &str,
    served: Served,
    signed_at: Timestamp,
    valid_for: i64,
    serial: u32,
) -> String {
    let date = signed_at.strftime("%Y%m%dT%H%M%SZ").to_string();
    let day = signed_at.strftime("%Y%m%d").to_string();
    let nonce = hex(&Md5::digest(format!(
        "{}{session}{serial}{date}",
        shared.secret
    )));
    let credential = format!(
        "ASIA{}/{day}/us-east-1/s3/aws4_request",
        &nonce[..16].to_ascii_uppercase()
    );
    // The chat's signature covers its session, the other parts' their storage path.
    let (signed, path) = match served {
        Served::Chat => (
            session.to_owned(),
            format!("chat-dumps/{}", percent_encode(&format!("{session}.csv"))),
        ),
        Served::Transcript { shape, start } => parts::transcript_object(session, shape, start),
        Served::Summary => parts::summary_object(session),
    };
    let signature = shared.signature(&signed, &date, valid_for, &credential);
    let token = format!("IQoJb3JpZ2luX2VjE{}", &nonce[16..]);
    let mut url = format!("{}/storage/{path}", shared.base);
    url.push_str(&format!(
        "?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential={}&X-Amz-Date={date}&X-Amz-Expires={valid_for}&X-Amz-Security-Token={token}&X-Amz-SignedHeaders=host&X-Amz-Signature={signature}",
        percent_encode(&credential)
    ));
    url
}

pub(crate) fn percent_encode(text: &str) -> String {
    let mut out = String::new();
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"-_.~".contains(&byte) {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        if bytes[index] == b'%'
            && let Some(value) = text
                .get(index + 1..index + 3)
                .and_then(|hex| u8::from_str_radix(hex, 16).ok())
        {
            out.push(value);
            index += 3;
        } else {
            out.push(bytes[index]);
            index += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

pub(crate) fn s3_error(status: StatusCode, code: &str, message: &str) -> Response {
    respond(
        status,
        "application/xml",
        format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{code}</Code><Message>{message}</Message></Error>"
        ),
    )
}

async fn download(
    State(shared): State<Arc<Shared>>,
    Path(file): Path<String>,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let session = file.strip_suffix(".csv").unwrap_or(&file).to_owned();
    let object = Object {
        route: Route::Download,
        session: session.clone(),
        signed: session.clone(),
        body: Bytes::from(if Scenario::for_session(&session) == Scenario::Media {
            media::media_csv(&session, shared.config.messages, &shared.base)
        } else {
            chat_csv(&session, shared.config.messages)
        }),
        content_type: "text/csv",
    };
    let response = serve_object(&shared, &object, &uri, &headers);
    shared.record(Route::Download, &session, &headers, response.status());
    response
}

/// An object of the storage.
pub(crate) struct Object {
    /// What its requests are counted as ("once" faults).
    pub(crate) route: Route,
    /// The session (whose scenario picks the faults).
    pub(crate) session: String,
    /// What the link's signature covers.
    pub(crate) signed: String,
    /// The content.
    pub(crate) body: Bytes,
    /// Its `Content-Type`.
    pub(crate) content_type: &'static str,
}

/// The storage's answer for `object`: the signature and expiry checked, `Range` and `ETag`,
/// and the session's faults.
pub(crate) fn serve_object(
    shared: &Shared,
    object: &Object,
    uri: &Uri,
    headers: &HeaderMap,
) -> Response {
    let session = object.session.as_str();
    if headers.contains_key(header::AUTHORIZATION) {
        return s3_error(
            StatusCode::BAD_REQUEST,
            "InvalidArgument",
            "Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter, Signature query string parameter or the Authorization header should be specified",
        );
    }
    let query: HashMap<String, String> = uri
        .query()
        .unwrap_or_default()
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .map(|(name, value)| (name.to_owned(), percent_decode(value)))
        .collect();
    let get = |name: &str| query.get(name).map_or("", String::as_str);
    let valid_for: i64 = get("X-Amz-Expires").parse().unwrap_or(-1);
    if get("X-Amz-Signature")
        != shared.signature(
            &object.signed,
            get("X-Amz-Date"),
            valid_for,
            get("X-Amz-Credential"),
        )
    {
        return s3_error(
            StatusCode::FORBIDDEN,
            "SignatureDoesNotMatch",
            "The request signature we calculated does not match the signature you provided.",
        );
    }
    let signed_at = jiff::civil::DateTime::strptime("%Y%m%dT%H%M%SZ", get("X-Amz-Date"))
        .ok()
        .and_then(|date| date.to_zoned_datetime(jiff::tz::TimeZone::UTC).ok())
        .map(|zoned| zoned.timestamp());
    let expired = signed_at.is_none_or(|signed| {
        Timestamp::now() >= signed + SignedDuration::from_secs(valid_for.max(0))
    });
    if expired {
        return s3_error(StatusCode::FORBIDDEN, "AccessDenied", "Request has expired");
    }

    let count = shared.count(object.route, session);
    let first = count == 1;
    let scenario = Scenario::for_session(session);
    let asked_by_address = headers
        .get(header::HOST)
        .and_then(|host| host.to_str().ok())
        .is_some_and(|host| host.starts_with("127.0.0.1:"));
    if scenario == Scenario::RedirectLocalhost && asked_by_address {
        let target = format!(
            "{}{uri}",
            shared.base.replacen("//127.0.0.1:", "//localhost:", 1)
        );
        let mut response = Response::new(Body::empty());
        *response.status_mut() = StatusCode::FOUND;
        if let Ok(value) = HeaderValue::from_str(&target) {
            response.headers_mut().insert(header::LOCATION, value);
        }
        return response;
    }
    match scenario {
        Scenario::Download500Once if first => {
            return s3_error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "InternalError",
                "We encountered an internal error. Please try again.",
            );
        }
        Scenario::Download503Once if first => {
            return retry_after(
                s3_error(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "SlowDown",
                    "Please reduce your request rate.",
                ),
                "1",
            );
        }
        Scenario::EmptyBody => {
            let mut response = respond(StatusCode::OK, object.content_type, Body::empty());
            response
                .headers_mut()
                .insert(header::CONTENT_LENGTH, HeaderValue::from_static("0"));
            return response;
        }
        _ => {}
    }

    let csv = object.body.clone();
    let mut etag = format!("\"{}\"", hex(&Md5::digest(&csv)));
    if scenario == Scenario::KmsEtag {
        // SSE-KMS: 32 hex digits that are not the MD5 of the content.
        etag = format!("\"{}\"", hex(&Md5::digest(format!("kms{}", shared.secret))));
    }
    if scenario == Scenario::EtagChangedOnce && !first {
        // The object was replaced after the first request (a multipart-style ETag).
        etag = format!("\"{}-2\"", &etag[1..33]);
    }
    let ranges = scenario.supports_ranges();
    let range_start = headers
        .get(header::RANGE)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("bytes="))
        .and_then(|value| value.strip_suffix('-'))
        .and_then(|value| value.parse::<usize>().ok())
        .filter(|_| ranges);
    if range_start.is_some()
        && let Some(if_match) = headers.get(header::IF_MATCH)
        && if_match.as_bytes() != etag.as_bytes()
    {
        return s3_error(
            StatusCode::PRECONDITION_FAILED,
            "PreconditionFailed",
            "At least one of the pre-conditions you specified did not hold",
        );
    }
    let start = range_start.unwrap_or(0);
    if start >= csv.len() && range_start.is_some() {
        return s3_error(
            StatusCode::RANGE_NOT_SATISFIABLE,
            "InvalidRange",
            "The requested range is not satisfiable",
        );
    }
    let body = csv.slice(start..);
    let total = csv.len();
    let half = body.len() / 2;
    let boundary = record_boundary_before(&csv, total / 2);

    // (status, content length announced, the body)
    let mut announced = body.len();
    let stream_body = match scenario {
        Scenario::ResetOnce | Scenario::ResetNoRangeOnce | Scenario::EtagChangedOnce if first => {
            reset_after(body.slice(..half))
        }
        Scenario::ResetAlways => reset_after(body.slice(..half)),
        Scenario::TruncatedOnce | Scenario::TruncatedAlways
            if first || scenario == Scenario::TruncatedAlways =>
        {
            // A clean end of stream, short of the announced length, at a record boundary.
            let cut = boundary.saturating_sub(start).min(body.len());
            Body::from_stream(futures_util::stream::iter([Ok::<_, io::Error>(
                body.slice(..cut),
            )]))
        }
        Scenario::LyingLength => {
            let cut = boundary.saturating_sub(start).min(body.len());
            announced = cut;
            Body::from(body.slice(..cut))
        }
        Scenario::Slow => slow(body, shared.config.slow_delay),
        Scenario::StallOnce if first => stall_after(body.slice(..half), shared.config.stall),
        _ => Body::from(body),
    };
    let status = if range_start.is_some() {
        StatusCode::PARTIAL_CONTENT
    } else {
        StatusCode::OK
    };
    let mut response = respond(status, object.content_type, stream_body);
    let response_headers = response.headers_mut();
    response_headers.insert(header::CONTENT_LENGTH, HeaderValue::from(announced));
    if let Ok(value) = HeaderValue::from_str(&etag) {
        response_headers.insert(header::ETAG, value);
    }
    if ranges {
        response_headers.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    }
    if scenario == Scenario::KmsEtag {
        response_headers.insert(
            "x-amz-server-side-encryption",
            HeaderValue::from_static("aws:kms"),
        );
    }
    if let Some(start) = range_start
        && let Ok(value) = HeaderValue::from_str(&format!("bytes {start}-{}/{total}", total - 1))
    {
        response_headers.insert(header::CONTENT_RANGE, value);
    }
    response
}

/// A body that sends `part` and then breaks the connection (after a moment, so that `part` is
/// on the wire first rather than dropped from hyper's buffer).
fn reset_after(part: Bytes) -> Body {
    failing_after(part, Duration::from_millis(200), "injected reset")
}

/// A body that sends `part` and then goes silent for `stall`, then breaks the connection.
fn stall_after(part: Bytes, stall: Duration) -> Body {
    failing_after(part, stall, "injected stall")
}

/// A body that sends `part`, waits `pause`, then fails with `reason`.
fn failing_after(part: Bytes, pause: Duration, reason: &'static str) -> Body {
    let stream = futures_util::stream::unfold(Some(part), move |state| async move {
        if let Some(part) = state {
            Some((Ok(part), None))
        } else {
            tokio::time::sleep(pause).await;
            Some((
                Err(io::Error::new(io::ErrorKind::ConnectionReset, reason)),
                None,
            ))
        }
    });
    Body::from_stream(stream)
}

/// A body sent in 2 KiB pieces, `delay` apart.
fn slow(body: Bytes, delay: Duration) -> Body {
    let stream = futures_util::stream::unfold(body, move |rest| async move {
        if rest.is_empty() {
            return None;
        }
        tokio::time::sleep(delay).await;
        let mut rest = rest;
        let piece = rest.split_to(rest.len().min(2048));
        Some((Ok::<_, io::Error>(piece), rest))
    });
    Body::from_stream(stream)
}
