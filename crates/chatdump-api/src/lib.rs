//! Fetching a session's chat dump from the Chat Replay API (Dyte or Cloudflare `RealtimeKit`).
//!
//! Behind the `fetch` feature; this is the only code in chatdump that talks to the network.
//!
//! A fetch is two steps: ask the API for a short-lived download link
//! (`{success, data: {chat_download_url, chat_download_url_expiry}}`), then stream the CSV from
//! that link into an [`AtomicFile`] beside the target, which is renamed into place only when the
//! whole body has arrived and checked out. Along the way:
//!
//! - connection errors, timeouts, resets mid-body, HTTP 408, 429 and 5xx are retried with
//!   jittered exponential backoff, honouring `Retry-After`, bounded in attempts and total time
//!   ([`RetryPolicy`]);
//! - a body cut short is resumed with a `Range` request guarded by `If-Match: <etag>` when the
//!   storage supports ranges, else the download restarts from zero;
//! - the byte count is checked against `Content-Length`, the MD5 against the `ETag` when the `ETag` is
//!   a plain MD5, and a 0-byte body is a failure, never an empty chat;
//! - an expired or nearly expired link, or a 403 from the storage, gets a fresh link from the API
//!   (bounded);
//! - the `Authorization` header goes to the API only: the download link carries its own
//!   signature, and storage rejects two auth mechanisms (and must never see the key);
//! - no secret reaches an error or an event: credentials are [`Secret`]s, the header is marked
//!   sensitive, and every URL shown is passed through [`redact_url`].
//!
//! The library never reads the clock itself: the caller passes a [`Clock`] (used only to compare
//! the link's expiry and to read `Retry-After` dates). Waiting uses the tokio timer, so a
//! [`Fetcher`] must be used inside a tokio runtime with the time driver enabled.
//!
//! ```no_run
//! use chatdump_core::time::Clock;
//! use chatdump_api::{AccountIds, Api, FetchOptions, Fetcher, IgnoreEvents, Provider, Secret};
//!
//! # async fn example() -> Result<(), Box<dyn std::error::Error>> {
//! let ids = AccountIds { org_id: Some("my-org"), ..AccountIds::default() };
//! let api = Api::new(Provider::Dyte, None, ids, Some(Secret::new("my-key")))?;
//! let fetcher = Fetcher::new(api, FetchOptions::new(Clock::new(jiff::Timestamp::now)))?;
//! let fetched = fetcher
//!     .fetch_to("4f1c2a8e-9b3d-4e57-a1c6-2d8e0f7b9a31", "chat.csv".as_ref(), &mut IgnoreEvents)
//!     .await?;
//! assert!(fetched.bytes > 0);
//! # Ok(())
//! # }
//! ```

pub mod allow;
mod api;
mod config;
mod download;
pub mod file;
pub mod guard;
pub mod parts;
mod provider;
mod redact;
mod retry;
pub mod sessions;

use std::fmt;
use std::io;
use std::path::Path;
use std::time::Duration;

use chatdump_core::time::Clock;
use jiff::{SignedDuration, Timestamp};
use reqwest::header::{ACCEPT, AUTHORIZATION, CONTENT_LENGTH, RETRY_AFTER};
use tokio::time::Instant;

pub use api::Api;
pub use config::{AccountIds, ApiConfigError, UrlError, http_url};
pub use parts::{FetchedParts, NotAvailable, Part, PartOutcome, PartsRequest, TranscriptFormat};
pub use provider::{DYTE_BASE_URL, Provider, REALTIMEKIT_BASE_URL};
pub use redact::{REDACTED, Secret, redact_url};
pub use reqwest::Url;
pub use retry::RetryPolicy;

use api::{Answer, Link};
use download::{DownloadState, Failure};
use guard::AddressGuard;
use retry::GiveUp;

/// The largest API answer read (a chat-link answer is a few hundred bytes).
const MAX_API_BODY: usize = 1 << 20;

/// How a [`Fetcher`] behaves on a bad network.
#[derive(Debug, Clone)]
pub struct FetchOptions {
    /// Retries of API calls and downloads.
    pub retry: RetryPolicy,
    /// The longest wait for a TCP (and TLS) connection.
    pub connect_timeout: Duration,
    /// The longest wait for the response headers or for the next piece of the body: a slow but
    /// progressing download is never cut.
    pub read_timeout: Duration,
    /// How many fresh links one fetch may ask the API for (after an expired link or a 403 from
    /// the storage).
    pub max_link_refreshes: u32,
    /// A link expiring within this margin is treated as expired and refreshed before use.
    pub expiry_margin: Duration,
    /// The `User-Agent` header.
    pub user_agent: String,
    /// The wall clock.
    pub clock: Clock,
    /// Which internal addresses a download link may lead to (by default none). The API root is
    /// not guarded: it is the caller's own configuration.
    pub download_guard: AddressGuard,
}

impl FetchOptions {
    /// The defaults: 4 attempts, 500 ms backoff base, 20 s backoff cap, `Retry-After` up to
    /// 60 s, 5 min per session; 10 s connect and 30 s read timeouts; 3 link refreshes; 10 s
    /// expiry margin.
    #[must_use]
    pub fn new(clock: Clock) -> Self {
        Self {
            retry: RetryPolicy::default(),
            connect_timeout: Duration::from_secs(10),
            read_timeout: Duration::from_secs(30),
            max_link_refreshes: 3,
            expiry_margin: Duration::from_secs(10),
            user_agent: concat!("chatdump/", env!("CARGO_PKG_VERSION")).to_owned(),
            clock,
            download_guard: AddressGuard::new(),
        }
    }
}

/// Something that happened during a fetch, for the caller to report. URLs in events are already
/// redacted.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum FetchEvent {
    /// Asking the API for a download link.
    RequestingLink {
        /// The API URL.
        url: String,
    },
    /// The API gave a link.
    GotLink {
        /// The link, redacted.
        url: String,
        /// When it expires, if known.
        expires: Option<Timestamp>,
    },
    /// A request failed and will be tried again after `delay`.
    Retrying {
        /// `API request` or `download`.
        what: &'static str,
        /// The attempt that failed (1-based).
        attempt: u32,
        /// The wait before the next attempt.
        delay: Duration,
        /// The HTTP status of the failed attempt, when the server answered one.
        status: Option<u16>,
        /// What went wrong.
        reason: String,
    },
    /// The link is being replaced with a fresh one.
    RefreshingLink {
        /// Why.
        reason: String,
    },
    /// The download continues from `offset` with a range request.
    Resuming {
        /// Bytes already on disk.
        offset: u64,
    },
    /// The download starts again from zero.
    Restarting {
        /// Why.
        reason: String,
    },
}

impl FetchEvent {
    /// Whether the event is a detail, shown only on request (`-v`): the links asked for and
    /// given, and a resumed download. Retries, fresh links and restarts are always worth
    /// reporting.
    #[must_use]
    pub const fn is_detail(&self) -> bool {
        matches!(
            self,
            Self::RequestingLink { .. } | Self::GotLink { .. } | Self::Resuming { .. }
        )
    }
}

/// One line of text, without the session; every value from outside is escaped for a terminal
/// (URLs are redacted already).
impl fmt::Display for FetchEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use chatdump_core::escape::escape_for_terminal;
        match self {
            Self::RequestingLink { url } => write!(
                f,
                "asking `{}` for a download link",
                escape_for_terminal(url, 300)
            ),
            Self::GotLink { url, expires } => {
                write!(f, "download link `{}`", escape_for_terminal(url, 300))?;
                if let Some(expires) = expires {
                    write!(f, ", expires {}", chatdump_core::time::Utc(*expires))?;
                }
                Ok(())
            }
            Self::Retrying {
                what,
                attempt,
                delay,
                reason,
                ..
            } => write!(
                f,
                "{what} attempt {attempt} failed ({}); retrying in {:.1} s",
                escape_for_terminal(reason, 300),
                delay.as_secs_f64()
            ),
            Self::RefreshingLink { reason } => write!(
                f,
                "asking for a fresh download link: {}",
                escape_for_terminal(reason, 300)
            ),
            Self::Resuming { offset } => write!(f, "resuming the download at byte {offset}"),
            Self::Restarting { reason } => write!(
                f,
                "restarting the download: {}",
                escape_for_terminal(reason, 300)
            ),
        }
    }
}

/// Receives progress and events during a fetch.
pub trait FetchObserver {
    /// A download attempt got its headers: `total` is the full size when known, `offset` the
    /// bytes already on disk from an earlier attempt.
    fn download_started(&mut self, total: Option<u64>, offset: u64) {
        let _ = (total, offset);
    }

    /// `bytes` of the body are on disk.
    fn progress(&mut self, bytes: u64) {
        let _ = bytes;
    }

    /// Something worth reporting happened.
    fn event(&mut self, event: &FetchEvent) {
        let _ = event;
    }
}

/// An observer that ignores everything.
#[derive(Debug, Default)]
pub struct IgnoreEvents;

impl FetchObserver for IgnoreEvents {}

/// What a successful fetch did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Fetched {
    /// The size of the saved dump.
    pub bytes: u64,
    /// Calls to the API (1 unless links were refreshed or calls retried).
    pub api_calls: u32,
    /// Fresh links asked for after the first.
    pub link_refreshes: u32,
    /// Download attempts that failed and were retried.
    pub download_retries: u32,
}

/// Why no more attempts were made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GaveUp {
    /// The attempt limit was reached.
    Attempts(u32),
    /// The time budget for the session was spent.
    Budget(Duration),
    /// The server asked to wait longer than allowed.
    RetryAfter(Duration),
    /// The error is not one that retrying fixes.
    NotRetryable,
}

impl fmt::Display for GaveUp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Attempts(1) => f.write_str("gave up after 1 attempt"),
            Self::Attempts(attempts) => write!(f, "gave up after {attempts} attempts"),
            Self::Budget(budget) => write!(
                f,
                "gave up: the retry time budget of {} s is spent",
                budget.as_secs_f64()
            ),
            Self::RetryAfter(wait) => write!(
                f,
                "gave up: the server asks to wait {} s, longer than allowed",
                wait.as_secs()
            ),
            Self::NotRetryable => f.write_str("not retried"),
        }
    }
}

fn suffix(message: Option<&String>) -> String {
    message.map_or_else(String::new, |message| format!(": {message}"))
}

/// A fetch that failed. No message contains a credential or a link's signature.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FetchError {
    /// The HTTP client could not be built.
    #[error("cannot set up the HTTP client")]
    Client(#[source] reqwest::Error),
    /// A credential holds characters an HTTP header cannot carry.
    #[error("the credentials contain characters that cannot be sent in an HTTP header")]
    BadCredentials,
    /// HTTP 401 or 403 from the API.
    #[error("the API refused the credentials (HTTP {status}{message}); {hint}", message = suffix(.message.as_ref()))]
    Unauthorized {
        /// 401 or 403.
        status: u16,
        /// The API's own message.
        message: Option<String>,
        /// Which credentials to check.
        hint: String,
    },
    /// HTTP 404 from the API.
    #[error(
        "no chat for session `{session}` (HTTP 404{message}); likely reasons: the Chat Replay API is not enabled for this organization (it is off by default), the session is still live, or its chat is past the retention period",
        message = suffix(.message.as_ref())
    )]
    NotFound {
        /// The session id, escaped.
        session: String,
        /// The API's own message.
        message: Option<String>,
    },
    /// HTTP 429 from the API, still after retries.
    #[error("rate limited by the API (HTTP 429{message}); {gave_up}", message = suffix(.message.as_ref()))]
    RateLimited {
        /// The API's own message.
        message: Option<String>,
        /// Why the retries stopped.
        gave_up: GaveUp,
    },
    /// Another error status from the API.
    #[error("the API answered HTTP {status}{message} at `{url}`; {gave_up}", message = suffix(.message.as_ref()))]
    Status {
        /// The API URL.
        url: String,
        /// The status code.
        status: u16,
        /// The API's own message.
        message: Option<String>,
        /// Why the retries stopped.
        gave_up: GaveUp,
    },
    /// `success: false` in a 2xx answer.
    #[error("the API reported a failure for session `{session}`{message}", message = suffix(.message.as_ref()))]
    Refused {
        /// The session id, escaped.
        session: String,
        /// The API's own message.
        message: Option<String>,
    },
    /// A 2xx answer that is not what was asked for (a download link, a session list, the
    /// session's details); the URL names the route.
    #[error("the API's answer from `{url}` cannot be used: {reason}")]
    Malformed {
        /// The API URL.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The API could not be reached.
    #[error("cannot reach the API at `{url}`; {gave_up}")]
    Unreachable {
        /// The API URL.
        url: String,
        /// Why the retries stopped.
        gave_up: GaveUp,
        /// The last network error (without its URL).
        #[source]
        source: download::DownloadError,
    },
    /// The download failed.
    #[error("the download from `{url}` failed; {gave_up}")]
    Download {
        /// The link, redacted.
        url: String,
        /// Why the retries stopped.
        gave_up: GaveUp,
        /// The last failure.
        #[source]
        source: download::DownloadError,
    },
    /// The storage kept refusing links (HTTP 403) after the allowed number of fresh ones.
    #[error("the storage refused the download link (HTTP 403{message}) after {refreshes} fresh links from the API; the links may expire faster than they can be used, or the local clock may be wrong", message = suffix(.message.as_ref()))]
    LinkRefused {
        /// Fresh links asked for.
        refreshes: u32,
        /// The storage's own message.
        message: Option<String>,
    },
    /// The download link, or one of its redirects, leads to an internal address.
    #[error(transparent)]
    InternalAddress(Box<guard::PrivateAddress>),
    /// Writing the dump to disk failed.
    #[error("cannot write `{path}`")]
    Write {
        /// The target path.
        path: String,
        /// The I/O error.
        #[source]
        source: io::Error,
    },
}

pub use download::DownloadError;

impl FetchError {
    /// Whether the credentials were refused: every other session would fail the same way.
    #[must_use]
    pub fn is_credentials(&self) -> bool {
        matches!(self, Self::Unauthorized { .. } | Self::BadCredentials)
    }

    /// The HTTP status behind the error, when a server answered one (the API's, or the
    /// storage's for a failed download).
    #[must_use]
    pub fn status(&self) -> Option<u16> {
        match self {
            Self::Unauthorized { status, .. } | Self::Status { status, .. } => Some(*status),
            Self::NotFound { .. } => Some(404),
            Self::RateLimited { .. } => Some(429),
            Self::LinkRefused { .. } => Some(403),
            Self::Download { source, .. } | Self::Unreachable { source, .. } => source.status(),
            _ => None,
        }
    }
}

impl DownloadError {
    /// The HTTP status, when the failure was an error status.
    #[must_use]
    pub fn status(&self) -> Option<u16> {
        match self {
            Self::Status { status, .. } => Some(*status),
            _ => None,
        }
    }
}

/// Fetches chat dumps: one API and its credentials, an HTTP client for the API and one for the
/// download links (which applies the [`AddressGuard`]).
#[derive(Debug)]
pub struct Fetcher {
    client: reqwest::Client,
    download_client: reqwest::Client,
    api: Api,
    options: FetchOptions,
}

impl Fetcher {
    /// Builds the HTTP client (HTTP/1.1 over rustls; the ring provider is installed as the
    /// process default if none is).
    pub fn new(api: Api, options: FetchOptions) -> Result<Self, FetchError> {
        // `Err` means a provider is already installed, which is all that is needed.
        let _ = rustls::crypto::ring::default_provider().install_default();
        api.authorization()
            .map_err(|_| FetchError::BadCredentials)?;
        let builder = || {
            reqwest::Client::builder()
                .connect_timeout(options.connect_timeout)
                .read_timeout(options.read_timeout)
                .user_agent(options.user_agent.clone())
        };
        let client = builder()
            .build()
            .map_err(|error| FetchError::Client(error.without_url()))?;
        let download_client = builder()
            .dns_resolver(options.download_guard.resolver())
            .redirect(options.download_guard.redirect_policy(10, |_| Ok(())))
            .build()
            .map_err(|error| FetchError::Client(error.without_url()))?;
        Ok(Self {
            client,
            download_client,
            api,
            options,
        })
    }

    /// The API in use.
    #[must_use]
    pub fn api(&self) -> &Api {
        &self.api
    }

    /// Fetches the chat dump of `session_id` into `target` (whose directory must exist). On any
    /// error `target` is left as it was.
    ///
    /// The future is `Send`; file system calls run on tokio's blocking pool.
    pub async fn fetch_to(
        &self,
        session_id: &str,
        target: &Path,
        observer: &mut (dyn FetchObserver + Send),
    ) -> Result<Fetched, FetchError> {
        self.fetch_link_to(session_id, Part::Chat, target, observer)
            .await
    }

    /// Fetches one part of `session_id` (its chat, speech transcript or summary) into `target`
    /// with the same machinery: a link from the part's route, refreshed, retried, checked and
    /// committed atomically. A 404 from the API is [`FetchError::NotFound`].
    pub(crate) async fn fetch_link_to(
        &self,
        session_id: &str,
        part: Part,
        target: &Path,
        observer: &mut (dyn FetchObserver + Send),
    ) -> Result<Fetched, FetchError> {
        let started = Instant::now();
        let write_error = |source: io::Error| FetchError::Write {
            path: chatdump_core::escape::escape_for_terminal(&target.display().to_string(), 200),
            source,
        };
        let (file, mut handle) = file::create(target).await.map_err(write_error)?;
        let mut fetched = Fetched::default();
        let mut link = self
            .request_link(session_id, part, started, observer, &mut fetched)
            .await?;
        let mut state = DownloadState::default();
        let mut failed_attempts = 0;
        let margin =
            SignedDuration::try_from(self.options.expiry_margin).unwrap_or(SignedDuration::ZERO);
        loop {
            // An expired or nearly expired link is replaced before use. At the bound it is tried
            // anyway: the storage, not the local clock, has the last word.
            if fetched.link_refreshes < self.options.max_link_refreshes
                && let Some(expires) = link.expires
                && expires.duration_since(self.options.clock.now()) <= margin
            {
                observer.event(&FetchEvent::RefreshingLink {
                    reason: format!(
                        "the link expires at {}",
                        chatdump_core::time::format_utc(expires)
                    ),
                });
                fetched.link_refreshes += 1;
                link = self
                    .request_link(session_id, part, started, observer, &mut fetched)
                    .await?;
                continue;
            }
            let shown = redact_url(&link.url);
            let result = download::attempt(
                &self.download_client,
                &link.url,
                &mut handle,
                &mut state,
                &self.options,
                observer,
            )
            .await;
            match result {
                Ok(()) => break,
                Err(Failure::Write(error)) => return Err(write_error(error)),
                Err(Failure::Forbidden(message)) => {
                    if fetched.link_refreshes >= self.options.max_link_refreshes {
                        return Err(FetchError::LinkRefused {
                            refreshes: fetched.link_refreshes,
                            message,
                        });
                    }
                    observer.event(&FetchEvent::RefreshingLink {
                        reason: format!(
                            "the storage refused the link (HTTP 403{})",
                            suffix(message.as_ref())
                        ),
                    });
                    fetched.link_refreshes += 1;
                    link = self
                        .request_link(session_id, part, started, observer, &mut fetched)
                        .await?;
                }
                Err(Failure::Fatal(DownloadError::Refused(refused))) => {
                    return Err(FetchError::InternalAddress(refused));
                }
                Err(Failure::Fatal(source)) => {
                    return Err(FetchError::Download {
                        url: shown,
                        gave_up: GaveUp::NotRetryable,
                        source,
                    });
                }
                Err(Failure::Retry { cause, retry_after }) => {
                    failed_attempts += 1;
                    match self.options.retry.next_delay(
                        failed_attempts,
                        retry_after,
                        started.elapsed(),
                    ) {
                        Err(give_up) => {
                            return Err(FetchError::Download {
                                url: shown,
                                gave_up: self.gave_up(give_up, failed_attempts),
                                source: cause,
                            });
                        }
                        Ok(delay) => {
                            observer.event(&FetchEvent::Retrying {
                                what: "download",
                                attempt: failed_attempts,
                                delay,
                                status: cause.status(),
                                reason: chatdump_core::error::error_chain(&cause),
                            });
                            fetched.download_retries += 1;
                            tokio::time::sleep(delay).await;
                        }
                    }
                }
            }
        }
        fetched.bytes = state.received();
        drop(handle);
        file::commit(file).await.map_err(write_error)?;
        Ok(fetched)
    }

    fn gave_up(&self, give_up: GiveUp, attempts: u32) -> GaveUp {
        match give_up {
            GiveUp::Attempts => GaveUp::Attempts(attempts),
            GiveUp::Budget => GaveUp::Budget(self.options.retry.max_total),
            GiveUp::RetryAfterTooLong(wait) => GaveUp::RetryAfter(wait),
        }
    }

    /// Asks the API for a download link, retrying transient failures.
    async fn request_link(
        &self,
        session_id: &str,
        part: Part,
        started: Instant,
        observer: &mut (dyn FetchObserver + Send),
        fetched: &mut Fetched,
    ) -> Result<Link, FetchError> {
        let url = self.api.part_url(session_id, part);
        let shown = redact_url(&url);
        let body = self
            .api_get(&url, Some(session_id), started, observer, |observer| {
                observer.event(&FetchEvent::RequestingLink { url: shown.clone() });
                fetched.api_calls += 1;
            })
            .await?;
        match api::parse_answer(&body, part) {
            Answer::Link(link) => {
                observer.event(&FetchEvent::GotLink {
                    url: redact_url(&link.url),
                    expires: link.expires,
                });
                Ok(link)
            }
            Answer::Refused(message) => Err(FetchError::Refused {
                session: chatdump_core::escape::escape_for_terminal(session_id, 80),
                message,
            }),
            Answer::Malformed(reason) => Err(FetchError::Malformed { url: shown, reason }),
        }
    }

    /// One API GET under the retry policy; returns the body of a 2xx answer.
    ///
    /// 401/403 are a credentials error, 404 is "no chat" when `session` is named, other 4xx are
    /// final; connection failures, 408, 429 and 5xx are retried (honouring `Retry-After`) until
    /// the policy gives up. `on_attempt` runs before every attempt.
    ///
    /// Generic over the observer so that a caller with a `Send` observer gets a `Send` future.
    pub(crate) async fn api_get<O: FetchObserver + ?Sized>(
        &self,
        url: &Url,
        session: Option<&str>,
        started: Instant,
        observer: &mut O,
        mut on_attempt: impl FnMut(&mut O),
    ) -> Result<Vec<u8>, FetchError> {
        let shown = redact_url(url);
        let authorization = self
            .api
            .authorization()
            .map_err(|_| FetchError::BadCredentials)?;
        let mut failed_attempts = 0;
        loop {
            on_attempt(observer);
            let request = self
                .client
                .get(url.clone())
                .header(AUTHORIZATION, authorization.clone())
                .header(ACCEPT, "application/json");
            // Each arm either returns, or names the failure to retry and any `Retry-After`.
            let (cause, retry_after, status): Retryable =
                match download::send(request, &self.options).await {
                    Err(cause) => (cause, None, None),
                    Ok(response) => {
                        let status = response.status().as_u16();
                        let retry_after = response
                            .headers()
                            .get(RETRY_AFTER)
                            .and_then(|value| value.to_str().ok())
                            .and_then(|value| {
                                retry::parse_retry_after(value, self.options.clock.now())
                            });
                        let too_big = response
                            .headers()
                            .get(CONTENT_LENGTH)
                            .and_then(|value| value.to_str().ok())
                            .and_then(|value| value.parse::<u64>().ok())
                            .is_some_and(|length| length > MAX_API_BODY as u64);
                        let body = if too_big {
                            Err(DownloadError::TooLarge(MAX_API_BODY as u64))
                        } else {
                            download::read_small_body(response, MAX_API_BODY, &self.options).await
                        };
                        match (status, body) {
                            (200..=299, Ok(body)) => return Ok(body),
                            (_, Err(cause)) => (cause, retry_after, None),
                            (401 | 403, Ok(body)) => {
                                return Err(FetchError::Unauthorized {
                                    status,
                                    message: api::error_body_message(&body),
                                    hint: self.api.provider().credentials_hint(),
                                });
                            }
                            (404, Ok(body)) if session.is_some() => {
                                return Err(FetchError::NotFound {
                                    session: chatdump_core::escape::escape_for_terminal(
                                        session.unwrap_or_default(),
                                        80,
                                    ),
                                    message: api::error_body_message(&body),
                                });
                            }
                            (408 | 429 | 500..=599, Ok(body)) => {
                                let message = api::error_body_message(&body);
                                (
                                    DownloadError::Status {
                                        status,
                                        message: message.clone(),
                                    },
                                    retry_after,
                                    Some((status, message)),
                                )
                            }
                            (_, Ok(body)) => {
                                return Err(FetchError::Status {
                                    url: shown,
                                    status,
                                    message: api::error_body_message(&body),
                                    gave_up: GaveUp::NotRetryable,
                                });
                            }
                        }
                    }
                };
            failed_attempts += 1;
            match self
                .options
                .retry
                .next_delay(failed_attempts, retry_after, started.elapsed())
            {
                Ok(delay) => {
                    observer.event(&FetchEvent::Retrying {
                        what: "API request",
                        attempt: failed_attempts,
                        delay,
                        status: cause.status(),
                        reason: chatdump_core::error::error_chain(&cause),
                    });
                    tokio::time::sleep(delay).await;
                }
                Err(reason) => {
                    let gave_up = self.gave_up(reason, failed_attempts);
                    return Err(match status {
                        Some((429, message)) => FetchError::RateLimited { message, gave_up },
                        Some((status, message)) => FetchError::Status {
                            url: shown,
                            status,
                            message,
                            gave_up,
                        },
                        None => FetchError::Unreachable {
                            url: shown,
                            gave_up,
                            source: cause,
                        },
                    });
                }
            }
        }
    }
}

/// A failed API call worth retrying: the cause, the server's `Retry-After`, and the status and
/// message when the API answered.
type Retryable = (
    DownloadError,
    Option<Duration>,
    Option<(u16, Option<String>)>,
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_read_as_one_escaped_line() {
        let cases = [
            (
                FetchEvent::RequestingLink {
                    url: "https://api.example/v2/sessions/s\u{1b}[2J/chat".into(),
                },
                "asking `https://api.example/v2/sessions/s\\u{1b}[2J/chat` for a download link",
                true,
            ),
            (
                FetchEvent::GotLink {
                    url: "https://storage.example/chat.csv?REDACTED".into(),
                    expires: Some("2026-01-01T00:05:00Z".parse().unwrap()),
                },
                "download link `https://storage.example/chat.csv?REDACTED`, expires 2026-01-01T00:05:00.000Z",
                true,
            ),
            (
                FetchEvent::GotLink {
                    url: "https://storage.example/chat.csv".into(),
                    expires: None,
                },
                "download link `https://storage.example/chat.csv`",
                true,
            ),
            (
                FetchEvent::Retrying {
                    what: "download",
                    attempt: 2,
                    delay: Duration::from_millis(1500),
                    status: Some(503),
                    reason: "HTTP 503\u{202e}".into(),
                },
                "download attempt 2 failed (HTTP 503\\u{202e}); retrying in 1.5 s",
                false,
            ),
            (
                FetchEvent::RefreshingLink {
                    reason: "the link expired".into(),
                },
                "asking for a fresh download link: the link expired",
                false,
            ),
            (
                FetchEvent::Resuming { offset: 4096 },
                "resuming the download at byte 4096",
                true,
            ),
            (
                FetchEvent::Restarting {
                    reason: "no\nranges".into(),
                },
                "restarting the download: no\\nranges",
                false,
            ),
        ];
        for (event, text, detail) in cases {
            assert_eq!(event.to_string(), text);
            assert_eq!(event.is_detail(), detail, "{event:?}");
        }
    }

    fn assert_send<T: Send>(value: T) -> T {
        value
    }

    /// The fetch futures can be awaited on a multi-thread runtime (the webhook receiver's
    /// workers do so); this does not compile when one of them holds something that is not
    /// `Send` across an `.await`.
    #[test]
    fn futures_are_send() {
        let api = Api::Dyte {
            base: "http://127.0.0.1:9/v2".parse().unwrap(),
            org_id: "o".into(),
            api_key: Secret::new("k"),
        };
        let fetcher = Fetcher::new(
            api,
            FetchOptions::new(Clock::new(|| "2026-01-01T00:00:00Z".parse().unwrap())),
        )
        .unwrap();
        let mut observer = IgnoreEvents;
        drop(assert_send(fetcher.fetch_to(
            "s",
            Path::new("unused.csv"),
            &mut observer,
        )));
        drop(assert_send(fetcher.sessions_page(
            &sessions::SessionQuery::default(),
            1,
            10,
        )));
        drop(assert_send(fetcher.participants_page("s", 1, 10)));
        drop(assert_send(fetcher.fetch_parts(
            "s",
            &PartsRequest {
                transcript: true,
                summary: true,
                transcript_format: None,
            },
            Path::new("."),
            "s",
            None,
            &mut observer,
        )));
    }
}
