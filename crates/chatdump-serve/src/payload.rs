//! Reading a delivery's JSON body: nesting limit, the event name, the fields of
//! `meeting.chatSynced`, `meeting.transcript` and `meeting.summary`.

use serde_json::Value;

/// The chat's event.
pub const CHAT_SYNCED: &str = "meeting.chatSynced";
/// The speech transcript's event (issue 18).
pub const TRANSCRIPT: &str = "meeting.transcript";
/// The AI summary's event (issue 18).
pub const SUMMARY: &str = "meeting.summary";
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
    /// A `chatSynced`, `transcript` or `summary` event without a usable session id (or with
    /// two that differ: `sessionId` and `meeting.sessionId`).
    #[error("the event has no valid `sessionId`")]
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
    /// `meeting.transcript` or `meeting.summary`: another part of the session is ready.
    Part(PartReady),
    /// Any other event, by name.
    Other(String),
}

/// A part of a session besides its chat (issue 18).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Part {
    /// The speech transcript (`meeting.transcript`).
    Transcript,
    /// The AI summary (`meeting.summary`).
    Summary,
}

impl Part {
    /// The webhook event that announces it.
    #[must_use]
    pub fn event(self) -> &'static str {
        match self {
            Self::Transcript => TRANSCRIPT,
            Self::Summary => SUMMARY,
        }
    }

    /// The part for a job's event; `None` for the chat and anything else.
    #[must_use]
    pub fn from_event(event: &str) -> Option<Self> {
        match event {
            TRANSCRIPT => Some(Self::Transcript),
            SUMMARY => Some(Self::Summary),
            _ => None,
        }
    }

    /// Its name in messages.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Self::Transcript => "transcript",
            Self::Summary => "summary",
        }
    }
}

/// The fields of a `meeting.transcript` or `meeting.summary` event the receiver uses. Both
/// shapes are read: the fields at the top level (`sessionId`, `meetingId`, `startedAt`), or in
/// a `meeting` object (`meeting.sessionId`, `meeting.id`, `meeting.startedAt`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartReady {
    /// Which part.
    pub part: Part,
    /// The session.
    pub session_id: String,
    /// The meeting.
    pub meeting_id: Option<String>,
    /// The presigned download link (`transcriptDownloadUrl` / `summaryDownloadUrl`).
    pub download_url: Option<String>,
    /// Its stated expiry.
    pub download_url_expiry: Option<String>,
    /// The session's start, as the delivery states it (`startedAt`), verbatim.
    pub started_at: Option<String>,
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
    /// The session's start, as the delivery states it (`startedAt`, `RealtimeKit`), verbatim.
    pub started_at: Option<String>,
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
    let part = match event.as_str() {
        CHAT_SYNCED => None,
        TRANSCRIPT => Some(Part::Transcript),
        SUMMARY => Some(Part::Summary),
        _ => return Ok(Delivery::Other(event.clone())),
    };
    if let Some(part) = part {
        return part_ready(&object, part).map(Delivery::Part);
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
    let started_at = string_field(&object, &["startedAt", "started_at"], "startedAt")?;
    Ok(Delivery::ChatSynced(ChatSynced {
        session_id,
        meeting_id,
        chat_download_url,
        chat_download_url_expiry,
        started_at,
    }))
}

/// The fields of a transcript or summary event, at the top level or in its `meeting` object
/// (dyte-api.md §3.3 and §4 show both shapes). A session id given in both places must agree.
fn part_ready(
    object: &serde_json::Map<String, Value>,
    part: Part,
) -> Result<PartReady, PayloadError> {
    let meeting = match object.get("meeting") {
        None | Some(Value::Null) => None,
        Some(Value::Object(meeting)) => Some(meeting),
        Some(_) => return Err(PayloadError::BadField("meeting")),
    };
    let flat_session = string_field(object, &["sessionId", "session_id"], "sessionId")?;
    let nested_session = match meeting {
        Some(meeting) => string_field(meeting, &["sessionId", "session_id"], "meeting.sessionId")?,
        None => None,
    };
    let session_id = match (flat_session, nested_session) {
        (Some(flat), Some(nested)) if flat != nested => return Err(PayloadError::BadSession),
        (flat, nested) => flat.or(nested),
    }
    .filter(|id| is_safe_id(id))
    .ok_or(PayloadError::BadSession)?;
    let either = |flat: &[&str], nested: &[&str], field: &'static str| {
        let top = string_field(object, flat, field)?;
        match (top, meeting) {
            (Some(value), _) => Ok(Some(value)),
            (None, Some(meeting)) => string_field(meeting, nested, field),
            (None, None) => Ok(None),
        }
    };
    let meeting_id = either(&["meetingId", "meeting_id"], &["id"], "meetingId")?;
    let started_at = either(
        &["startedAt", "started_at"],
        &["startedAt", "started_at"],
        "startedAt",
    )?;
    let (url, expiry): (&[&'static str], &[&'static str]) = match part {
        Part::Transcript => (
            &["transcriptDownloadUrl", "transcript_download_url"],
            &[
                "transcriptDownloadUrlExpiry",
                "transcript_download_url_expiry",
            ],
        ),
        Part::Summary => (
            &["summaryDownloadUrl", "summary_download_url"],
            &["summaryDownloadUrlExpiry", "summary_download_url_expiry"],
        ),
    };
    Ok(PartReady {
        part,
        session_id,
        meeting_id,
        download_url: string_field(object, url, url[0])?,
        download_url_expiry: string_field(object, expiry, expiry[0])?,
        started_at,
    })
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
    fn transcript_and_summary_flat_or_in_a_meeting_object() {
        // The shape of dyte-api.md §3.3: the ids in a `meeting` object.
        let nested = br#"{"event":"meeting.transcript","meeting":{"id":"m-1","sessionId":"s-1","startedAt":"2024-08-07T10:15:00.000Z","status":"LIVE"},"transcriptDownloadUrl":"https://b.s3.amazonaws.com/t.csv?X-Amz-Signature=x","transcriptDownloadUrlExpiry":"2024-08-14T10:15:30.000Z"}"#;
        assert_eq!(
            parse(nested),
            Ok(Delivery::Part(PartReady {
                part: Part::Transcript,
                session_id: "s-1".into(),
                meeting_id: Some("m-1".into()),
                download_url: Some("https://b.s3.amazonaws.com/t.csv?X-Amz-Signature=x".into()),
                download_url_expiry: Some("2024-08-14T10:15:30.000Z".into()),
                started_at: Some("2024-08-07T10:15:00.000Z".into()),
            }))
        );
        // The shape of the RealtimeKit example (§4): flat ids.
        let flat = br#"{"event":"meeting.summary","meetingId":"m-2","sessionId":"s-2","summaryDownloadUrl":"https://x/s.md","summaryDownloadUrlExpiry":"soon"}"#;
        assert_eq!(
            parse(flat),
            Ok(Delivery::Part(PartReady {
                part: Part::Summary,
                session_id: "s-2".into(),
                meeting_id: Some("m-2".into()),
                download_url: Some("https://x/s.md".into()),
                download_url_expiry: Some("soon".into()),
                started_at: None,
            }))
        );
        // A summary's link is not read from the transcript's field, and the other way round.
        let crossed =
            br#"{"event":"meeting.summary","sessionId":"s","transcriptDownloadUrl":"https://x/t"}"#;
        let Ok(Delivery::Part(part)) = parse(crossed) else {
            panic!("not a part");
        };
        assert_eq!(part.download_url, None);
        for bad in [
            // Two session ids that differ.
            r#"{"event":"meeting.transcript","sessionId":"a","meeting":{"sessionId":"b"}}"#,
            // None at all.
            r#"{"event":"meeting.transcript","meeting":{"id":"m"}}"#,
            r#"{"event":"meeting.summary","meeting":{"sessionId":"a\u0007"}}"#,
        ] {
            assert_eq!(
                parse(bad.as_bytes()),
                Err(PayloadError::BadSession),
                "{bad}"
            );
        }
        assert_eq!(
            parse(br#"{"event":"meeting.summary","sessionId":"s","meeting":[1]}"#),
            Err(PayloadError::BadField("meeting"))
        );
        assert_eq!(
            parse(br#"{"event":"meeting.summary","sessionId":"s","summaryDownloadUrl":7}"#),
            Err(PayloadError::BadField("summaryDownloadUrl"))
        );
        assert_eq!(Part::from_event(TRANSCRIPT), Some(Part::Transcript));
        assert_eq!(Part::from_event(CHAT_SYNCED), None);
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
