//! The Chat Replay API: which URL to call, how to authenticate, and reading its answers.

use base64::Engine as _;
use jiff::Timestamp;
use reqwest::Url;
use reqwest::header::HeaderValue;
use serde_json::Value;

use chatdump_core::escape::escape_for_terminal;
use chatdump_core::reader::parse_timestamp;

use crate::parts::Part;
use crate::provider::Provider;
#[cfg(doc)]
use crate::provider::{DYTE_BASE_URL, REALTIMEKIT_BASE_URL};
use crate::redact::Secret;

/// Which API to call, where, and with which credentials.
#[derive(Debug, Clone)]
pub enum Api {
    /// Dyte v2 paths (`{base}/sessions/{session_id}/chat`) with HTTP Basic auth
    /// (`base64(org_id:api_key)`). With another `base` this also covers the legacy-compatible
    /// `RealtimeKit` host and proxies.
    Dyte {
        /// The API root, normally [`DYTE_BASE_URL`].
        base: Url,
        /// The organization id.
        org_id: String,
        /// The API key.
        api_key: Secret,
    },
    /// Cloudflare `RealtimeKit`
    /// (`{base}/accounts/{account_id}/realtime/kit/{app_id}/sessions/{session_id}/chat`) with a
    /// Bearer API token.
    RealtimeKit {
        /// The API root, normally [`REALTIMEKIT_BASE_URL`].
        base: Url,
        /// The Cloudflare account id.
        account_id: String,
        /// The `RealtimeKit` app id.
        app_id: String,
        /// The Cloudflare API token (Realtime or Realtime Admin permission).
        api_token: Secret,
    },
}

impl Api {
    /// The chat route for `session_id`; every id is one percent-encoded path segment.
    #[must_use]
    pub fn chat_url(&self, session_id: &str) -> Url {
        self.sessions_route(&[session_id, "chat"])
    }

    /// The route that gives `part`'s download link for `session_id`: `.../chat`,
    /// `.../transcript` (with `?format=` when a format is given: `RealtimeKit` takes it, Dyte is
    /// sent none) or `.../summary`.
    #[must_use]
    pub fn part_url(&self, session_id: &str, part: Part) -> Url {
        match part {
            Part::Chat => self.chat_url(session_id),
            Part::Transcript(format) => {
                let mut url = self.sessions_route(&[session_id, "transcript"]);
                if let (Self::RealtimeKit { .. }, Some(format)) = (self, format) {
                    url.query_pairs_mut().append_pair("format", format.query());
                }
                url
            }
            Part::Summary => self.sessions_route(&[session_id, "summary"]),
        }
    }

    /// `GET /sessions/{session_id}`: the session's details (`started_at`).
    #[must_use]
    pub fn session_url(&self, session_id: &str) -> Url {
        self.sessions_route(&[session_id])
    }

    /// The `Authorization` header, marked sensitive so no `Debug` output shows it.
    pub(crate) fn authorization(&self) -> Result<HeaderValue, reqwest::header::InvalidHeaderValue> {
        let text = match self {
            Self::Dyte {
                org_id, api_key, ..
            } => format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD
                    .encode(format!("{org_id}:{}", api_key.expose()))
            ),
            Self::RealtimeKit { api_token, .. } => format!("Bearer {}", api_token.expose()),
        };
        let mut value = HeaderValue::from_str(&text)?;
        value.set_sensitive(true);
        Ok(value)
    }

    /// The provider these routes and credentials belong to.
    #[must_use]
    pub fn provider(&self) -> Provider {
        match self {
            Self::Dyte { .. } => Provider::Dyte,
            Self::RealtimeKit { .. } => Provider::RealtimeKit,
        }
    }
}

/// A download link from the API.
#[derive(Debug, Clone)]
pub(crate) struct Link {
    pub(crate) url: Url,
    /// When the link stops working, if the API said so in a form we could read.
    pub(crate) expires: Option<Timestamp>,
}

/// What a 2xx answer turned out to be.
#[derive(Debug)]
pub(crate) enum Answer {
    Link(Link),
    /// `success: false`, with the API's message.
    Refused(Option<String>),
    /// Not a chat link at all; the reason.
    Malformed(String),
}

/// Reads a 2xx body: `{success, data: {chat_download_url, chat_download_url_expiry}}`, leniently
/// (camelCase names too, `result` in place of `data`, a missing `success`); the names are the
/// part's (`transcript_download_url`, `summaryDownloadUrl`, ...: [`Part::link_keys`]).
pub(crate) fn parse_answer(body: &[u8], part: Part) -> Answer {
    let ([url_key, url_camel], [expiry_key, expiry_camel]) = part.link_keys();
    if body.iter().all(u8::is_ascii_whitespace) {
        return Answer::Malformed("the body is empty".into());
    }
    let value: Value = match serde_json::from_slice(body) {
        Ok(value) => value,
        Err(error) => return Answer::Malformed(format!("not JSON ({error})")),
    };
    if value.get("success").and_then(Value::as_bool) == Some(false) {
        return Answer::Refused(error_message(&value));
    }
    let data = ["data", "result"]
        .iter()
        .find_map(|key| value.get(key).filter(|data| data.is_object()))
        .unwrap_or(&value);
    let url = [url_key, url_camel]
        .iter()
        .find_map(|key| data.get(key).and_then(Value::as_str));
    let Some(url) = url else {
        return Answer::Malformed(format!("no `{url_key}` in the answer"));
    };
    let url: Url = match url.parse() {
        Ok(url) => url,
        Err(error) => {
            return Answer::Malformed(format!("`{url_key}` is not a URL ({error})"));
        }
    };
    if !matches!(url.scheme(), "http" | "https") {
        return Answer::Malformed(format!(
            "`{url_key}` is not an http(s) URL (scheme `{}`)",
            escape_for_terminal(url.scheme(), 20)
        ));
    }
    let expires = [expiry_key, expiry_camel]
        .iter()
        .find_map(|key| data.get(key))
        .and_then(|value| match value {
            Value::String(text) => parse_timestamp(text),
            Value::Number(number) => number
                .as_i64()
                .and_then(|n| parse_timestamp(&n.to_string())),
            _ => None,
        });
    Answer::Link(Link { url, expires })
}

/// The API's own message from either error envelope (Dyte `{error: {code, message}}`, Cloudflare
/// `{errors: [{code, message}]}`) or a bare `{message}`, escaped and shortened.
pub(crate) fn error_message(value: &Value) -> Option<String> {
    fn describe(entry: &Value) -> Option<String> {
        match entry {
            Value::String(text) => Some(text.clone()),
            Value::Object(_) => {
                let message = entry.get("message").and_then(Value::as_str);
                let code = entry
                    .get("code")
                    .filter(|code| !code.is_null())
                    .map(|code| {
                        code.as_str()
                            .map_or_else(|| code.to_string(), str::to_owned)
                    });
                match (code, message) {
                    (Some(code), Some(message)) => Some(format!("{message} (code {code})")),
                    (None, Some(message)) => Some(message.to_owned()),
                    (Some(code), None) => Some(format!("code {code}")),
                    (None, None) => None,
                }
            }
            _ => None,
        }
    }
    let mut messages = Vec::new();
    if let Some(error) = value.get("error") {
        messages.extend(describe(error));
    }
    if let Some(Value::Array(errors)) = value.get("errors") {
        messages.extend(errors.iter().filter_map(describe));
    }
    if messages.is_empty() {
        messages.extend(value.get("message").and_then(describe));
    }
    if messages.is_empty() {
        None
    } else {
        Some(escape_for_terminal(&messages.join("; "), 200))
    }
}

/// The API's message from an error body, if it is JSON in a known shape.
pub(crate) fn error_body_message(body: &[u8]) -> Option<String> {
    serde_json::from_slice::<Value>(body)
        .ok()
        .and_then(|value| error_message(&value))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn link(body: &str) -> Link {
        match parse_answer(body.as_bytes(), Part::Chat) {
            Answer::Link(link) => link,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn both_expiry_spellings() {
        let dyte = link(
            r#"{"success":true,"data":{"chat_download_url":"https://s3.example/x.csv?X-Amz-Signature=1","chat_download_url_expiry":"2022-12-13 07:08:39.051621Z"}}"#,
        );
        assert_eq!(
            dyte.expires.unwrap().to_string(),
            "2022-12-13T07:08:39.051621Z"
        );
        let cloudflare = link(
            r#"{"data":{"chatDownloadUrl":"https://s3.example/x.csv","chatDownloadUrlExpiry":"2026-06-10T10:30:00.000+00"},"success":true}"#,
        );
        assert_eq!(
            cloudflare.expires.unwrap().to_string(),
            "2026-06-10T10:30:00Z"
        );
        let unknown = link(
            r#"{"data":{"chat_download_url":"https://s3.example/x.csv","chat_download_url_expiry":"soon"}}"#,
        );
        assert!(unknown.expires.is_none());
    }

    #[test]
    fn error_envelopes() {
        let dyte = br#"{"success":false,"error":{"code":404,"message":"No chat found"}}"#;
        assert_eq!(
            error_body_message(dyte).as_deref(),
            Some("No chat found (code 404)")
        );
        let cloudflare = br#"{"success":false,"errors":[{"code":10000,"message":"Authentication error"}],"messages":[],"result":null}"#;
        assert_eq!(
            error_body_message(cloudflare).as_deref(),
            Some("Authentication error (code 10000)")
        );
        assert_eq!(
            error_body_message(br#"{"message":"Unauthorized"}"#).as_deref(),
            Some("Unauthorized")
        );
        assert!(matches!(
            parse_answer(
                br#"{"success":false,"error":{"message":"nope"}}"#,
                Part::Chat
            ),
            Answer::Refused(Some(_))
        ));
        assert!(matches!(
            parse_answer(b"<html>", Part::Chat),
            Answer::Malformed(_)
        ));
        assert!(matches!(
            parse_answer(b"", Part::Chat),
            Answer::Malformed(_)
        ));
        assert!(matches!(
            parse_answer(
                br#"{"success":true,"data":{"chat_download_url":"file:///etc/passwd"}}"#,
                Part::Chat
            ),
            Answer::Malformed(_)
        ));
    }

    #[test]
    fn routes() {
        let dyte = Api::Dyte {
            base: "http://127.0.0.1:1/v2/".parse().unwrap(),
            org_id: "o".into(),
            api_key: Secret::new("k"),
        };
        assert_eq!(
            dyte.chat_url("a/b c").as_str(),
            "http://127.0.0.1:1/v2/sessions/a%2Fb%20c/chat"
        );
        let rtk = Api::RealtimeKit {
            base: Provider::RealtimeKit.default_base_url().parse().unwrap(),
            account_id: "acc".into(),
            app_id: "app".into(),
            api_token: Secret::new("t"),
        };
        assert_eq!(
            rtk.chat_url("s").as_str(),
            "https://api.cloudflare.com/client/v4/accounts/acc/realtime/kit/app/sessions/s/chat"
        );
        assert!(format!("{:?}", dyte.authorization().unwrap()).contains("Sensitive"));
    }
}
