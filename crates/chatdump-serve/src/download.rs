//! Downloading a delivery's own link (`chatDownloadUrl`) after it passed the [`DownloadPolicy`].
//!
//! Plain and small on purpose: one GET, no `Authorization` header (the link is presigned),
//! every redirect checked against the same policy, a size cap, and the body streamed into an
//! [`AtomicFile`] that is committed only when complete. Anything that goes wrong is reported as
//! a [`LinkError`]; the worker then asks the Chat Replay API for a fresh link when it can, which
//! has its own retries and resume logic.

use std::path::Path;
use std::time::Duration;

use chatdump_api::allow::DownloadPolicy;
use chatdump_api::redact_url;
use reqwest::Url;
use reqwest::header::CONTENT_LENGTH;
use tokio::io::AsyncWriteExt as _;

/// Why a direct download failed. Messages show links redacted.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LinkError {
    /// The storage refused the link (HTTP 400, 401, 403, 404 or 410: expired, revoked or gone).
    #[error("the storage refused the link `{url}` (HTTP {status})")]
    Refused {
        /// The link, redacted.
        url: String,
        /// The status.
        status: u16,
    },
    /// Another error status.
    #[error("the storage answered HTTP {status} for `{url}`")]
    Status {
        /// The link, redacted.
        url: String,
        /// The status.
        status: u16,
    },
    /// A network failure (connection, timeout, redirect refused by the policy).
    #[error("cannot download `{url}`: {reason}")]
    Network {
        /// The link, redacted.
        url: String,
        /// What went wrong, without the URL.
        reason: String,
    },
    /// The body is larger than allowed.
    #[error("the dump at `{url}` is larger than {limit} bytes")]
    TooLarge {
        /// The link, redacted.
        url: String,
        /// The cap.
        limit: u64,
    },
    /// The body is empty or shorter than its `Content-Length`.
    #[error("the dump at `{url}` is incomplete ({received} of {expected} bytes)")]
    Incomplete {
        /// The link, redacted.
        url: String,
        /// Bytes received.
        received: u64,
        /// Bytes announced (0 for an empty body without a length).
        expected: u64,
    },
    /// Writing the file failed.
    #[error("cannot write `{path}`")]
    Write {
        /// The target.
        path: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
}

/// An HTTP client for delivery links: redirects are followed (up to 5) only while each target
/// passes `policy`, and no connection goes to an internal address (checked after DNS
/// resolution; the policy's plain-http test hosts excepted).
pub fn client(
    policy: &DownloadPolicy,
    connect_timeout: Duration,
    read_timeout: Duration,
) -> Result<reqwest::Client, reqwest::Error> {
    let guard = policy.address_guard();
    let policy = policy.clone();
    let redirects = guard.redirect_policy(5, move |url| {
        policy.check_url(url).map_err(|refused| refused.to_string())
    });
    reqwest::Client::builder()
        .redirect(redirects)
        .dns_resolver(guard.resolver())
        .connect_timeout(connect_timeout)
        .read_timeout(read_timeout)
        .user_agent(concat!("chatdump-serve/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(reqwest::Error::without_url)
}

/// An error's text and its sources, without any URL.
fn reason(error: reqwest::Error) -> String {
    let error = error.without_url();
    let mut text = error.to_string();
    let mut source = std::error::Error::source(&error);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// Downloads `url` into `target` (atomically), at most `limit` bytes. Returns the size.
pub async fn download(
    client: &reqwest::Client,
    url: &Url,
    target: &Path,
    limit: u64,
) -> Result<u64, LinkError> {
    let shown = redact_url(url);
    let write_error = |source| LinkError::Write {
        path: target.display().to_string(),
        source,
    };
    let mut response =
        client
            .get(url.clone())
            .send()
            .await
            .map_err(|error| LinkError::Network {
                url: shown.clone(),
                reason: reason(error),
            })?;
    let status = response.status().as_u16();
    match status {
        200 => {}
        400 | 401 | 403 | 404 | 410 => return Err(LinkError::Refused { url: shown, status }),
        _ => return Err(LinkError::Status { url: shown, status }),
    }
    let expected = response
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<u64>().ok());
    if expected.is_some_and(|length| length > limit) {
        return Err(LinkError::TooLarge { url: shown, limit });
    }
    // File system calls run on the blocking pool, never on the executor.
    let (file, mut handle) = chatdump_api::file::create(target)
        .await
        .map_err(write_error)?;
    let mut received = 0u64;
    while let Some(chunk) = response.chunk().await.map_err(|error| LinkError::Network {
        url: shown.clone(),
        reason: reason(error),
    })? {
        received += chunk.len() as u64;
        if received > limit {
            return Err(LinkError::TooLarge { url: shown, limit });
        }
        handle.write_all(&chunk).await.map_err(write_error)?;
    }
    if received == 0 || expected.is_some_and(|length| length != received) {
        return Err(LinkError::Incomplete {
            url: shown,
            received,
            expected: expected.unwrap_or(0),
        });
    }
    handle.flush().await.map_err(write_error)?;
    drop(handle);
    chatdump_api::file::commit(file)
        .await
        .map_err(write_error)?;
    Ok(received)
}
