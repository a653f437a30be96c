//! Keeping secrets out of everything that is shown: the credential wrapper and URL redaction.

use std::fmt;

use reqwest::Url;

/// A credential (API key or token). Its `Debug` and `Display` never show the value.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a credential. Surrounding whitespace (a file's final newline) is dropped.
    #[must_use]
    pub fn new(value: impl Into<String>) -> Self {
        let value = value.into();
        let trimmed = value.trim();
        if trimmed.len() == value.len() {
            Self(value)
        } else {
            Self(trimmed.to_owned())
        }
    }

    /// The value, for building the `Authorization` header and nothing else.
    #[must_use]
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Whether the credential is empty (after trimming).
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// The text shown in place of a redacted value.
pub const REDACTED: &str = "<redacted>";

/// A URL made safe to show: every query value (a presigned URL's signature, credential and
/// security token live there) and any user-info password are replaced with `<redacted>`; the
/// fragment is dropped. Parameter names stay, so the kind of link is still recognisable.
///
/// ```
/// use chatdump_api::redact_url;
/// let url = "https://bucket.s3.amazonaws.com/dump.csv?X-Amz-Signature=abc123&X-Amz-Expires=900"
///     .parse()
///     .unwrap();
/// assert_eq!(
///     redact_url(&url),
///     "https://bucket.s3.amazonaws.com/dump.csv?X-Amz-Signature=<redacted>&X-Amz-Expires=<redacted>"
/// );
/// ```
#[must_use]
pub fn redact_url(url: &Url) -> String {
    let mut shown = url.clone();
    shown.set_fragment(None);
    if shown.password().is_some() {
        let _ = shown.set_password(None);
    }
    if !shown.username().is_empty() {
        let _ = shown.set_username("");
    }
    let query = url.query().map(|query| {
        query
            .split('&')
            .filter(|pair| !pair.is_empty())
            .map(|pair| {
                let name = pair.split_once('=').map_or(pair, |(name, _)| name);
                format!("{name}={REDACTED}")
            })
            .collect::<Vec<_>>()
            .join("&")
    });
    shown.set_query(None);
    let mut text = shown.to_string();
    if let Some(query) = query {
        text.push('?');
        text.push_str(&query);
    }
    text
}

/// Removes the URL from a reqwest error (it may be a presigned URL), so its `Display` and
/// `Debug` cannot leak the signature. Callers name the URL themselves, redacted.
#[must_use]
pub(crate) fn scrub(error: reqwest::Error) -> reqwest::Error {
    error.without_url()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_do_not_show() {
        let secret = Secret::new("hunter2\n");
        assert_eq!(secret.expose(), "hunter2");
        assert!(!format!("{secret:?} {secret}").contains("hunter2"));
    }

    #[test]
    fn urls_lose_query_values_and_passwords() {
        let url: Url = "http://user:pw@127.0.0.1:9/a/b.csv?X-Amz-Credential=AKIA%2F1&sig=zz#frag"
            .parse()
            .unwrap();
        let shown = redact_url(&url);
        assert_eq!(
            shown,
            "http://127.0.0.1:9/a/b.csv?X-Amz-Credential=<redacted>&sig=<redacted>"
        );
        let plain: Url = "https://api.dyte.io/v2/sessions/s1/chat".parse().unwrap();
        assert_eq!(
            redact_url(&plain),
            "https://api.dyte.io/v2/sessions/s1/chat"
        );
    }
}
