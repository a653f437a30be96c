//! One download attempt: stream the body to disk, resume or restart, and check what arrived.

use std::io::{self, SeekFrom};
use std::time::Duration;

use md5::{Digest, Md5};
use reqwest::header::{
    ACCEPT_RANGES, CONTENT_LENGTH, CONTENT_RANGE, ETAG, IF_MATCH, RANGE, RETRY_AFTER,
};
use reqwest::{RequestBuilder, Response, Url};
use tokio::fs::File;
use tokio::io::{AsyncSeekExt as _, AsyncWriteExt as _};

use chatdump_core::escape::escape_for_terminal;

use crate::guard::PrivateAddress;
use crate::redact::scrub;
use crate::{FetchEvent, FetchObserver, FetchOptions, retry};

const X_AMZ_SSE: reqwest::header::HeaderName =
    reqwest::header::HeaderName::from_static("x-amz-server-side-encryption");
const X_AMZ_SSE_CUSTOMER: reqwest::header::HeaderName =
    reqwest::header::HeaderName::from_static("x-amz-server-side-encryption-customer-algorithm");

/// Why one attempt at a request or a download failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DownloadError {
    /// A connection, TLS or protocol error (the reqwest error carries no URL).
    #[error("the connection failed")]
    Network(#[source] reqwest::Error),
    /// No connection was made within the connect timeout (a host that never answers, or a
    /// server too busy to accept).
    #[error("no connection within the connect timeout of {} s", .0.as_secs_f64())]
    ConnectTimeout(Duration),
    /// Nothing arrived for the read timeout.
    #[error("no data arrived for {} s", .0.as_secs_f64())]
    Idle(Duration),
    /// Fewer bytes than announced.
    #[error("the body ended after {received} of {expected} bytes")]
    Truncated {
        /// Bytes received in all.
        received: u64,
        /// Bytes announced by `Content-Length` / `Content-Range`.
        expected: u64,
    },
    /// A 2xx answer with no body at all.
    #[error("the body is empty (0 bytes), but a chat dump has at least a header line")]
    Empty,
    /// The content does not match the `ETag`'s MD5.
    #[error(
        "the MD5 of the {bytes} bytes received is `{actual}`, not `{expected}` as the ETag says"
    )]
    Checksum {
        /// Bytes received.
        bytes: u64,
        /// The `ETag`'s digest.
        expected: String,
        /// The digest of what arrived.
        actual: String,
    },
    /// An unexpected HTTP status.
    #[error("HTTP {status}{}", .message.as_ref().map_or_else(String::new, |message| format!(": {message}")))]
    Status {
        /// The status code.
        status: u16,
        /// The server's own message.
        message: Option<String>,
    },
    /// A range answer that does not continue where the file stopped.
    #[error(
        "the server answered a range request from byte {offset} with `Content-Range: {content_range}`"
    )]
    BadRange {
        /// The offset asked for.
        offset: u64,
        /// The header received, escaped.
        content_range: String,
    },
    /// An answer larger than allowed (API answers only).
    #[error("the answer is larger than {0} bytes")]
    TooLarge(u64),
    /// The link, or a redirect, leads to an internal address.
    #[error(transparent)]
    Refused(Box<PrivateAddress>),
}

/// What one attempt ended with, when it did not succeed.
#[derive(Debug)]
pub(crate) enum Failure {
    /// Worth retrying after a wait (`Some(ZERO)`: at once).
    Retry {
        cause: DownloadError,
        retry_after: Option<Duration>,
    },
    /// HTTP 403 from the storage: the link expired or was revoked.
    Forbidden(Option<String>),
    /// Not worth retrying.
    Fatal(DownloadError),
    /// The local disk failed.
    Write(io::Error),
}

/// What is on disk so far, carried from one attempt to the next.
#[derive(Debug, Default)]
pub(crate) struct DownloadState {
    received: u64,
    /// The full size, when the server said.
    total: Option<u64>,
    /// A strong `ETag`, as sent.
    etag: Option<String>,
    /// Whether the server said it accepts byte ranges.
    ranges: bool,
    /// Whether the object is encrypted with KMS or a customer key, whose `ETag` is not an MD5
    /// even when it looks like one.
    opaque_etag: bool,
    md5: Md5,
}

impl DownloadState {
    pub(crate) fn received(&self) -> u64 {
        self.received
    }

    async fn restart(&mut self, file: &mut File) -> Result<(), Failure> {
        file.set_len(0).await.map_err(Failure::Write)?;
        file.seek(SeekFrom::Start(0))
            .await
            .map_err(Failure::Write)?;
        *self = Self::default();
        Ok(())
    }

    /// The MD5 the `ETag` promises, when it is a plain 32-hex digest (single-part S3 uploads).
    fn expected_md5(&self) -> Option<String> {
        if self.opaque_etag {
            return None;
        }
        let tag = self.etag.as_deref()?.trim_matches('"');
        (tag.len() == 32 && tag.bytes().all(|b| b.is_ascii_hexdigit()))
            .then(|| tag.to_ascii_lowercase())
    }
}

/// Sends a request, bounding the wait for the response headers.
pub(crate) async fn send(
    request: RequestBuilder,
    options: &FetchOptions,
) -> Result<Response, DownloadError> {
    let limit = options.connect_timeout.saturating_add(options.read_timeout);
    match tokio::time::timeout(limit, request.send()).await {
        Err(_) => Err(DownloadError::Idle(limit)),
        Ok(Err(error)) if error.is_connect() && error.is_timeout() => {
            Err(DownloadError::ConnectTimeout(options.connect_timeout))
        }
        Ok(Err(error)) => Err(match PrivateAddress::find(&error) {
            Some(refused) => DownloadError::Refused(Box::new(refused.clone())),
            None => DownloadError::Network(scrub(error)),
        }),
        Ok(Ok(response)) => Ok(response),
    }
}

/// Reads a small body (an API answer or an error page) whole, up to `limit` bytes.
pub(crate) async fn read_small_body(
    mut response: Response,
    limit: usize,
    options: &FetchOptions,
) -> Result<Vec<u8>, DownloadError> {
    let mut body = Vec::new();
    loop {
        match tokio::time::timeout(options.read_timeout, response.chunk()).await {
            Err(_) => return Err(DownloadError::Idle(options.read_timeout)),
            Ok(Err(error)) => return Err(DownloadError::Network(scrub(error))),
            Ok(Ok(None)) => return Ok(body),
            Ok(Ok(Some(chunk))) => {
                if body.len() + chunk.len() > limit {
                    return Err(DownloadError::TooLarge(limit as u64));
                }
                body.extend_from_slice(&chunk);
            }
        }
    }
}

fn header<'r>(response: &'r Response, name: &reqwest::header::HeaderName) -> Option<&'r str> {
    response
        .headers()
        .get(name)
        .and_then(|value| value.to_str().ok())
}

/// `bytes START-END/TOTAL` → (START, TOTAL).
fn parse_content_range(value: &str) -> Option<(u64, Option<u64>)> {
    let rest = value.trim().strip_prefix("bytes ")?;
    let (range, total) = rest.split_once('/')?;
    let (start, _) = range.split_once('-')?;
    let total = if total == "*" {
        None
    } else {
        Some(total.parse().ok()?)
    };
    Some((start.parse().ok()?, total))
}

/// The storage's message from an S3-style XML error (`<Message>Request has expired</Message>`).
/// Falls back to the JSON error envelopes.
fn storage_message(body: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(body);
    let xml = || {
        let start = text.find("<Message>")? + "<Message>".len();
        let end = text[start..].find("</Message>")? + start;
        Some(escape_for_terminal(&text[start..end], 120))
    };
    xml().or_else(|| crate::api::error_body_message(body))
}

/// One attempt at downloading `url` into `file`, resuming from what `state` says is on disk when
/// the server allows it. The `Authorization` header is never sent here. `client` is the download
/// client, whose resolver and redirect policy apply the [`AddressGuard`](crate::guard::AddressGuard);
/// an IP-literal link is checked here first. The file is a `tokio::fs::File`: its writes run on
/// the blocking pool, never on the executor.
pub(crate) async fn attempt(
    client: &reqwest::Client,
    url: &Url,
    file: &mut File,
    state: &mut DownloadState,
    options: &FetchOptions,
    observer: &mut (dyn FetchObserver + Send),
) -> Result<(), Failure> {
    options
        .download_guard
        .check_url(url)
        .map_err(|refused| Failure::Fatal(DownloadError::Refused(Box::new(refused))))?;
    let resume = state.received > 0 && state.ranges && state.etag.is_some();
    if state.received > 0 && !resume {
        observer.event(&FetchEvent::Restarting {
            reason: "the server does not support resuming".into(),
        });
        state.restart(file).await?;
    }
    let mut request = client.get(url.clone());
    if resume && let Some(etag) = &state.etag {
        observer.event(&FetchEvent::Resuming {
            offset: state.received,
        });
        request = request
            .header(RANGE, format!("bytes={}-", state.received))
            .header(IF_MATCH, etag.as_str());
    }
    let mut response = send(request, options).await.map_err(|cause| match cause {
        DownloadError::Refused(_) => Failure::Fatal(cause),
        cause => Failure::Retry {
            cause,
            retry_after: None,
        },
    })?;
    let status = response.status().as_u16();
    let retry_after = header(&response, &RETRY_AFTER)
        .and_then(|value| retry::parse_retry_after(value, options.clock.now()));
    match status {
        200 => {
            if state.received > 0 {
                // The range was ignored: the full body follows, so start over.
                state.restart(file).await?;
            }
            state.total = header(&response, &CONTENT_LENGTH).and_then(|value| value.parse().ok());
            state.etag = header(&response, &ETAG)
                .filter(|tag| !tag.starts_with("W/"))
                .map(str::to_owned);
            // S3: SSE-KMS and SSE-C objects have ETags that are not the MD5 of the content.
            state.opaque_etag = header(&response, &X_AMZ_SSE)
                .is_some_and(|value| value.starts_with("aws:kms"))
                || response.headers().contains_key(X_AMZ_SSE_CUSTOMER);
            state.ranges = header(&response, &ACCEPT_RANGES)
                .is_some_and(|value| value.split(',').any(|unit| unit.trim() == "bytes"));
        }
        206 if resume => {
            let content_range = header(&response, &CONTENT_RANGE).unwrap_or_default();
            match parse_content_range(content_range) {
                Some((start, total)) if start == state.received => {
                    if total.is_some() {
                        state.total = total;
                    }
                }
                _ => {
                    let cause = DownloadError::BadRange {
                        offset: state.received,
                        content_range: escape_for_terminal(content_range, 80),
                    };
                    state.restart(file).await?;
                    return Err(Failure::Retry {
                        cause,
                        retry_after: None,
                    });
                }
            }
        }
        // The object changed since the first part (or the range is wrong): start again now.
        412 | 416 => {
            observer.event(&FetchEvent::Restarting {
                reason: format!("the server answered HTTP {status} to the range request"),
            });
            state.restart(file).await?;
            return Err(Failure::Retry {
                cause: DownloadError::Status {
                    status,
                    message: None,
                },
                retry_after: Some(Duration::ZERO),
            });
        }
        _ => {
            let body = read_small_body(response, 64 << 10, options)
                .await
                .unwrap_or_default();
            let message = storage_message(&body);
            return Err(match status {
                403 => Failure::Forbidden(message),
                408 | 429 | 500..=599 => Failure::Retry {
                    cause: DownloadError::Status { status, message },
                    retry_after,
                },
                _ => Failure::Fatal(DownloadError::Status { status, message }),
            });
        }
    }
    observer.download_started(state.total, state.received);
    loop {
        let chunk = match tokio::time::timeout(options.read_timeout, response.chunk()).await {
            Err(_) => Err(DownloadError::Idle(options.read_timeout)),
            Ok(Err(error)) => Err(DownloadError::Network(scrub(error))),
            Ok(Ok(chunk)) => Ok(chunk),
        };
        match chunk {
            Err(cause) => {
                return Err(Failure::Retry {
                    cause,
                    retry_after: None,
                });
            }
            Ok(None) => break,
            Ok(Some(bytes)) => {
                file.write_all(&bytes).await.map_err(Failure::Write)?;
                state.md5.update(&bytes);
                state.received += bytes.len() as u64;
                observer.progress(state.received);
            }
        }
    }
    if let Some(expected) = state.total
        && state.received != expected
    {
        return Err(Failure::Retry {
            cause: DownloadError::Truncated {
                received: state.received,
                expected,
            },
            retry_after: None,
        });
    }
    if state.received == 0 {
        return Err(Failure::Retry {
            cause: DownloadError::Empty,
            retry_after: None,
        });
    }
    if let Some(expected) = state.expected_md5() {
        let actual =
            state
                .md5
                .clone()
                .finalize()
                .iter()
                .fold(String::with_capacity(32), |mut hex, byte| {
                    hex.push_str(&format!("{byte:02x}"));
                    hex
                });
        if actual != expected {
            let cause = DownloadError::Checksum {
                bytes: state.received,
                expected,
                actual,
            };
            state.restart(file).await?;
            return Err(Failure::Retry {
                cause,
                retry_after: None,
            });
        }
    }
    file.flush().await.map_err(Failure::Write)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_ranges() {
        assert_eq!(
            parse_content_range("bytes 100-999/1000"),
            Some((100, Some(1000)))
        );
        assert_eq!(parse_content_range("bytes 5-9/*"), Some((5, None)));
        assert_eq!(parse_content_range("items 1-2/3"), None);
    }

    #[test]
    fn storage_messages() {
        let xml = b"<?xml version=\"1.0\"?><Error><Code>AccessDenied</Code><Message>Request has expired</Message></Error>";
        assert_eq!(storage_message(xml).as_deref(), Some("Request has expired"));
        assert_eq!(storage_message(b"nope"), None);
    }
}
