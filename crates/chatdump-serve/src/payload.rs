//! Reading a delivery's JSON body: nesting limit, the event name, the `chatSynced` fields.

use serde_json::Value;

/// The event this receiver acts on.
pub const CHAT_SYNCED: &str = "meeting.chatSynced";
/// The deepest JSON nesting accepted (a real delivery nests two levels).
pub const MAX_DEPTH: usize = 32;
/// The longest session or meeting id accepted.
const MAX_ID_LEN: usize = 128;

/// Why a body was refused (HTTP 400).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PayloadError {
    /// Nested deeper than [`MAX_DEPTH`].
    #[error("the JSON nests deeper than {MAX_DEPTH} levels")]
    TooDeep,
    /// Not JSON.
    #[error("the body is not JSON: {0}")]
    NotJson(String),
    /// JSON, but not an object with a string `event`.
    #[error("the body has no string `event` field")]
    NoEvent,
    /// A `chatSynced` event without a usable session id.
    #[error("the `{CHAT_SYNCED}` event has no valid `sessionId`")]
    BadSession,
    /// A field of the wrong type.
    #[error("the field `{0}` has the wrong type")]
    BadField(&'static str),
}

/// A parsed delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivery {
    /// `meeting.chatSynced`.
    ChatSynced(ChatSynced),
    /// Any other event, by name.
    Other(String),
}

/// The fields of a `meeting.chatSynced` event the receiver uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChatSynced {
    /// The session.
    pub session_id: String,
    /// The meeting.
    pub meeting_id: Option<String>,
    /// The presigned download link.
    pub chat_download_url: Option<String>,
    /// Its stated expiry.
    pub chat_download_url_expiry: Option<String>,
}

/// Whether `body` nests arrays and objects deeper than `limit`, scanning bytes without
/// parsing (so a deep body costs no recursion).
#[must_use]
pub fn nests_deeper_than(body: &[u8], limit: usize) -> bool {
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    for &byte in body {
        if in_string {
            match (escaped, byte) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
            continue;
        }
        match byte {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                if depth > limit {
                    return true;
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    false
}

/// Whether `id` is accepted as a session id: 1 to 128 bytes, no control character, and a file
/// stem by the one stem rule ([`chatdump_core::stem::session_file_stem`]: no path, no dot,
/// reversible; at most 200 bytes, so an id of many escaped bytes is refused here, with a 400,
/// rather than failing its job later). Session ids are UUIDs.
#[must_use]
pub fn is_safe_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= MAX_ID_LEN
        && !id.chars().any(char::is_control)
        && chatdump_core::stem::session_file_stem(id).is_some()
}

fn string_field(
    object: &serde_json::Map<String, Value>,
    names: &[&str],
    field: &'static str,
) -> Result<Option<String>, PayloadError> {
    match names.iter().find_map(|name| object.get(*name)) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) => Ok(Some(text.clone())),
        Some(_) => Err(PayloadError::BadField(field)),
    }
}

/// The body as Node's `JSON.stringify(JSON.parse(body))` writes it, which Dyte's own sample
/// receiver verifies signatures over: the same members in the same order, no whitespace between
/// tokens, strings escaped as `JSON.stringify` escapes them (`"`, `\\` and control characters;
/// not `/` or non-ASCII). Integers are written as given; a fraction or exponent may be written
/// differently than JavaScript would (`1.0` stays `1.0`), which no delivery field uses. `None`
/// when the body is not JSON, nests deeper than [`MAX_DEPTH`], or is compact already.
#[must_use]
pub fn compact(body: &[u8]) -> Option<Vec<u8>> {
    if nests_deeper_than(body, MAX_DEPTH) {
        return None;
    }
    let mut out = Vec::with_capacity(body.len());
    let mut input = serde_json::Deserializer::from_slice(body);
    serde_transcode::transcode(&mut input, &mut serde_json::Serializer::new(&mut out)).ok()?;
    input.end().ok()?;
    (out != body).then_some(out)
}

/// Parses a verified body.
pub fn parse(body: &[u8]) -> Result<Delivery, PayloadError> {
    if nests_deeper_than(body, MAX_DEPTH) {
        return Err(PayloadError::TooDeep);
    }
    let value: Value = serde_json::from_slice(body).map_err(|error| {
        PayloadError::NotJson(format!(
            "{} at line {} column {}",
            match error.classify() {
                serde_json::error::Category::Eof => "unexpected end",
                serde_json::error::Category::Syntax => "syntax error",
                serde_json::error::Category::Data => "unexpected data",
                serde_json::error::Category::Io => "read error",
            },
            error.line(),
            error.column()
        ))
    })?;
    let Value::Object(object) = value else {
        return Err(PayloadError::NoEvent);
    };
    let Some(Value::String(event)) = object.get("event") else {
        return Err(PayloadError::NoEvent);
    };
    if event != CHAT_SYNCED {
        return Ok(Delivery::Other(event.clone()));
    }
    // Snake case too: community receivers accept it "to be safe" (dyte-api.md §3.2).
    let session_id = string_field(&object, &["sessionId", "session_id"], "sessionId")?
        .filter(|id| is_safe_id(id))
        .ok_or(PayloadError::BadSession)?;
    let meeting_id = string_field(&object, &["meetingId", "meeting_id"], "meetingId")?;
    let chat_download_url = string_field(
        &object,
        &["chatDownloadUrl", "chat_download_url"],
        "chatDownloadUrl",
    )?;
    let chat_download_url_expiry = string_field(
        &object,
        &["chatDownloadUrlExpiry", "chat_download_url_expiry"],
        "chatDownloadUrlExpiry",
    )?;
    Ok(Delivery::ChatSynced(ChatSynced {
        session_id,
        meeting_id,
        chat_download_url,
        chat_download_url_expiry,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compact_is_what_json_stringify_writes() {
        // What `JSON.stringify(JSON.parse(body))` prints for this body in Node 20.
        let pretty = "{\n  \"event\": \"meeting.chatSynced\",\n  \"sessionId\": \"s-1\",\n  \"n\": [1, -2, 30000000000],\n  \"text\": \"a/b \\u00e9\\u0007 \\\"q\\\" \\n\",\n  \"z\": null, \"a\": {\"t\": true}\n}\n";
        let expected = r#"{"event":"meeting.chatSynced","sessionId":"s-1","n":[1,-2,30000000000],"text":"a/b é\u0007 \"q\" \n","z":null,"a":{"t":true}}"#;
        assert_eq!(
            String::from_utf8(compact(pretty.as_bytes()).unwrap()).unwrap(),
            expected
        );
        assert_eq!(compact(expected.as_bytes()), None, "already compact");
        assert_eq!(compact(b"{\"a\": 1} trailing"), None, "not one JSON value");
        assert_eq!(compact(b"{\"a\": "), None);
        let deep = format!("{}{}", "[".repeat(MAX_DEPTH + 1), "]".repeat(MAX_DEPTH + 1));
        assert_eq!(compact(deep.as_bytes()), None, "too deep");
    }

    #[test]
    fn chat_synced_and_others() {
        let body = br#"{"event":"meeting.chatSynced","sessionId":"79365b9b-1","meetingId":"d9","chatDownloadUrl":"https://sample.com","chatDownloadUrlExpiry":"2022-12-13 07:08:39.051621Z","organizedBy":{"id":"7","name":"Dyte"}}"#;
        let Delivery::ChatSynced(event) = parse(body).unwrap() else {
            panic!("not chatSynced");
        };
        assert_eq!(event.session_id, "79365b9b-1");
        assert_eq!(
            event.chat_download_url.as_deref(),
            Some("https://sample.com")
        );
        assert_eq!(
            parse(br#"{"event":"meeting.started","meeting":{}}"#).unwrap(),
            Delivery::Other("meeting.started".into())
        );
    }

    #[test]
    fn refusals() {
        assert_eq!(parse(b"[]"), Err(PayloadError::NoEvent));
        assert!(matches!(
            parse(b"{\"event\":"),
            Err(PayloadError::NotJson(_))
        ));
        let deep = format!("{}{}", "[".repeat(40), "]".repeat(40));
        assert_eq!(parse(deep.as_bytes()), Err(PayloadError::TooDeep));
        // Brackets inside strings do not count.
        let quoted = format!(r#"{{"event":"x","s":"{}"}}"#, "[".repeat(100));
        assert_eq!(parse(quoted.as_bytes()), Ok(Delivery::Other("x".into())));
        let long = format!("\"{}\"", "x".repeat(129));
        // 100 bytes, but 300 once every `/` is escaped: no file name.
        let escaped = format!("\"{}\"", "/".repeat(100));
        for session in [
            r#""""#,
            r#""a\u001bb""#,
            long.as_str(),
            escaped.as_str(),
            "1",
            "null",
        ] {
            let body = format!(r#"{{"event":"meeting.chatSynced","sessionId":{session}}}"#);
            assert!(parse(body.as_bytes()).is_err(), "{session}");
        }
        // Hostile but printable ids are accepted: their files are named by the stem rule.
        for session in [r#""../etc""#, r#""a/b""#, r#""a.b""#] {
            let body = format!(r#"{{"event":"meeting.chatSynced","sessionId":{session}}}"#);
            assert!(parse(body.as_bytes()).is_ok(), "{session}");
        }
    }
}
