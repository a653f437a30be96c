//! One link: the rules, then attempts with retries, streaming to a temporary file in the media
//! directory with the caps enforced and the SHA-256 computed on the way.

use std::io::{self, SeekFrom};
use std::time::Duration;

use reqwest::header::{CONTENT_LENGTH, RETRY_AFTER};
use reqwest::{Response, Url};
use sha2::Digest as _;
use tempfile::NamedTempFile;
use tokio::io::{AsyncSeekExt as _, AsyncWriteExt as _};
use tokio::time::Instant;

use chatdump_api::guard::PrivateAddress;
use chatdump_core::error::error_chain;
use chatdump_core::escape::escape_for_terminal;

use crate::{Hasher, MediaEvent, MediaOptions, SNIFF_LEN, Shared, lock, shown};

/// File system calls run on tokio's blocking pool (the api crate's helper).
pub(crate) use chatdump_api::file::blocking;

/// A body fully received.
#[derive(Debug)]
pub(crate) struct Downloaded {
    /// The temporary file holding it (removed when dropped).
    pub(crate) file: NamedTempFile,
    pub(crate) sha256: [u8; 32],
    pub(crate) bytes: u64,
    /// The first bytes, for [`sniff`](crate::sniff).
    pub(crate) head: Vec<u8>,
    /// Taken from an earlier run's directory ([`Kept`](crate::Kept)), not fetched.
    pub(crate) reused: bool,
}

/// What became of one link.
#[derive(Debug)]
pub(crate) enum Outcome {
    Fetched(Downloaded),
    /// Refused by the rules before any request: does not depend on the network.
    Refused(String),
    Failed(String),
    /// Stopped by the total cap.
    OverBudget,
    /// The media directory failed.
    Io(io::Error),
}

/// Why one attempt failed.
enum Attempt {
    Retry {
        reason: String,
        retry_after: Option<Duration>,
    },
    Final(String),
    OverBudget,
    Io(io::Error),
}

/// Fetches link `index`; returns the index with the outcome.
pub(crate) async fn fetch_one(shared: &Shared<'_>, index: usize, link: &str) -> (usize, Outcome) {
    (index, fetch_link(shared, index, link).await)
}

async fn fetch_link(shared: &Shared<'_>, index: usize, link: &str) -> Outcome {
    let Ok(url) = link.trim().parse::<Url>() else {
        return Outcome::Refused("not a URL".into());
    };
    if let Err(reason) = shared.options.rules().check(&url) {
        return Outcome::Refused(reason);
    }
    // IP literals never reach the resolver, and the redirect policy sees only redirects.
    if let Err(refused) = shared.options.address_guard().check_url(&url) {
        return Outcome::Refused(refused.to_string());
    }
    if lock(&shared.budget).over(index, 0, shared.options.max_total_bytes) {
        return Outcome::OverBudget;
    }
    if let Some(found) = shared.kept.find(link, shared.options.max_file_bytes) {
        let dir = shared.dir.to_path_buf();
        match blocking(move || Ok(found.take(&dir))).await {
            Ok(Ok(taken)) => {
                if lock(&shared.budget).over(index, taken.bytes, shared.options.max_total_bytes) {
                    return Outcome::OverBudget;
                }
                return Outcome::Fetched(taken);
            }
            // Not usable: told, then fetched as if it were not there.
            Ok(Err(Ok(note))) => {
                lock(&shared.notes).insert(index, format!("{note}; the link is fetched again"));
            }
            Ok(Err(Err(error))) | Err(error) => return Outcome::Io(error),
        }
    }
    let dir = shared.dir.to_path_buf();
    let created = blocking(move || {
        let mut builder = tempfile::Builder::new();
        builder.prefix(".chatdump-media-").suffix(".tmp");
        #[cfg(unix)]
        builder.permissions(std::os::unix::fs::PermissionsExt::from_mode(0o644));
        let file = builder.tempfile_in(dir)?;
        let handle = file.reopen()?;
        Ok((file, handle))
    })
    .await;
    let (file, handle) = match created {
        Ok(created) => created,
        Err(error) => return Outcome::Io(error),
    };
    let mut handle = tokio::fs::File::from_std(handle);
    let started = Instant::now();
    let mut failed_attempts = 0;
    loop {
        match attempt(shared, index, &url, &mut handle).await {
            Ok((sha256, bytes, head)) => {
                drop(handle);
                return Outcome::Fetched(Downloaded {
                    file,
                    sha256,
                    bytes,
                    head,
                    reused: false,
                });
            }
            Err(Attempt::Final(reason)) => return Outcome::Failed(reason),
            Err(Attempt::OverBudget) => return Outcome::OverBudget,
            Err(Attempt::Io(error)) => return Outcome::Io(error),
            Err(Attempt::Retry {
                reason,
                retry_after,
            }) => {
                failed_attempts += 1;
                match shared.options.retry.delay_after(
                    failed_attempts,
                    retry_after,
                    started.elapsed(),
                ) {
                    Ok(delay) => {
                        lock(&shared.observer)
                            .observer
                            .event(&MediaEvent::Retrying {
                                url: shown(link),
                                attempt: failed_attempts,
                                delay,
                                reason,
                            });
                        tokio::time::sleep(delay).await;
                    }
                    Err(gave_up) => return Outcome::Failed(format!("{reason}; {gave_up}")),
                }
            }
        }
    }
}

/// Why a request got no answer: the guard's refusal, a refused redirect, a timeout, or the
/// connection. reqwest's own text names the URL (its query string included), so the URL is
/// taken out before the error is shown.
fn request_failure(error: reqwest::Error, options: &MediaOptions) -> Attempt {
    if let Some(refused) = PrivateAddress::find(&error) {
        return Attempt::Final(refused.to_string());
    }
    if error.is_redirect() {
        // The innermost source is the redirect policy's own message.
        let mut cause: &dyn std::error::Error = &error;
        while let Some(source) = cause.source() {
            cause = source;
        }
        return Attempt::Final(escape_for_terminal(&cause.to_string(), 200));
    }
    if error.is_connect() && error.is_timeout() {
        return Attempt::Retry {
            reason: format!(
                "no connection within {} s",
                options.connect_timeout.as_secs_f64()
            ),
            retry_after: None,
        };
    }
    if error.is_timeout() {
        return idle(options.read_timeout);
    }
    Attempt::Retry {
        reason: format!(
            "the connection failed: {}",
            escape_for_terminal(&error_chain(&error.without_url()), 200)
        ),
        retry_after: None,
    }
}

/// Nothing arrived for the read timeout (the client's own, or the one around each piece).
fn idle(read_timeout: Duration) -> Attempt {
    Attempt::Retry {
        reason: format!("no data arrived for {} s", read_timeout.as_secs_f64()),
        retry_after: None,
    }
}

/// The storage's own message from an S3-style XML error (`<Message>Request has expired</Message>`).
async fn storage_message(response: Response, read_timeout: Duration) -> Option<String> {
    let body = tokio::time::timeout(read_timeout, response.bytes())
        .await
        .ok()?
        .ok()?;
    let text = String::from_utf8_lossy(&body[..body.len().min(4096)]);
    let start = text.find("<Message>")? + "<Message>".len();
    let end = text[start..].find("</Message>")? + start;
    Some(escape_for_terminal(&text[start..end], 80))
}

fn status_failure(status: u16, message: Option<String>, retry_after: Option<Duration>) -> Attempt {
    let message = message.map_or_else(String::new, |message| format!(": {message}"));
    match status {
        403 => Attempt::Final(format!(
            "HTTP 403 (the link has expired or was revoked){message}"
        )),
        404 => Attempt::Final(format!("HTTP 404 (not found){message}")),
        408 | 429 | 500..=599 => Attempt::Retry {
            reason: format!("HTTP {status}{message}"),
            retry_after,
        },
        _ => Attempt::Final(format!("HTTP {status}{message}")),
    }
}

/// One attempt: the request, then the body streamed into `file` (emptied first).
async fn attempt(
    shared: &Shared<'_>,
    index: usize,
    url: &Url,
    file: &mut tokio::fs::File,
) -> Result<([u8; 32], u64, Vec<u8>), Attempt> {
    let options = shared.options;
    file.set_len(0).await.map_err(Attempt::Io)?;
    file.seek(SeekFrom::Start(0)).await.map_err(Attempt::Io)?;
    // No header but the client's own (`User-Agent`, `Accept-Encoding`...): never a credential.
    let request = shared.client.get(url.clone()).send();
    let limit = options.connect_timeout.saturating_add(options.read_timeout);
    let mut response = match tokio::time::timeout(limit, request).await {
        Err(_) => {
            return Err(Attempt::Retry {
                reason: format!("no answer within {} s", limit.as_secs_f64()),
                retry_after: None,
            });
        }
        Ok(Err(error)) => return Err(request_failure(error, options)),
        Ok(Ok(response)) => response,
    };
    let status = response.status().as_u16();
    if status != 200 {
        let retry_after = response
            .headers()
            .get(RETRY_AFTER)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.trim().parse().ok())
            .map(Duration::from_secs);
        let message = storage_message(response, options.read_timeout).await;
        return Err(status_failure(status, message, retry_after));
    }
    let announced: Option<u64> = response
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse().ok());
    if let Some(announced) = announced {
        if announced > options.max_file_bytes {
            return Err(Attempt::Final(format!(
                "{announced} bytes, larger than the per-file cap of {} bytes",
                options.max_file_bytes
            )));
        }
        if lock(&shared.budget).over(index, announced, options.max_total_bytes) {
            return Err(Attempt::OverBudget);
        }
    }
    let mut hasher = Hasher::new();
    let mut head = Vec::with_capacity(SNIFF_LEN);
    let mut received: u64 = 0;
    loop {
        let chunk = match tokio::time::timeout(options.read_timeout, response.chunk()).await {
            Err(_) => return Err(idle(options.read_timeout)),
            Ok(Err(error)) => return Err(request_failure(error, options)),
            Ok(Ok(None)) => break,
            Ok(Ok(Some(chunk))) => chunk,
        };
        let size = received.saturating_add(chunk.len() as u64);
        if size > options.max_file_bytes {
            return Err(Attempt::Final(format!(
                "larger than the per-file cap of {} bytes",
                options.max_file_bytes
            )));
        }
        if lock(&shared.budget).over(index, size, options.max_total_bytes) {
            return Err(Attempt::OverBudget);
        }
        if head.len() < SNIFF_LEN {
            let take = (SNIFF_LEN - head.len()).min(chunk.len());
            head.extend_from_slice(&chunk[..take]);
        }
        hasher.update(&chunk);
        file.write_all(&chunk).await.map_err(Attempt::Io)?;
        received = size;
        let mut observed = lock(&shared.observer);
        observed.bytes = observed.bytes.saturating_add(chunk.len() as u64);
        let bytes = observed.bytes;
        observed.observer.progress(bytes);
    }
    if let Some(announced) = announced
        && announced != received
    {
        return Err(Attempt::Retry {
            reason: format!("the body ended after {received} of {announced} bytes"),
            retry_after: None,
        });
    }
    file.flush().await.map_err(Attempt::Io)?;
    Ok((hasher.finalize().into(), received, head))
}
