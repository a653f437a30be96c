//! The normalised chat message: one type for every row of every dump.

use std::borrow::Cow;
use std::fmt;
use std::path::PathBuf;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

/// One chat message, normalised from one CSV record.
///
/// Text fields are kept exactly as the dump had them (no trimming, no Unicode normalisation);
/// the typed body is derived on demand from [`Message::payload`] by [`Message::body`], so no
/// output ever loses the raw payload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    /// The chat message id (`id`).
    pub id: String,
    /// The session the message was sent in (`sessionId`).
    pub session_id: String,
    /// The meeting the session belongs to (`meetingId`).
    pub meeting_id: String,
    /// The sender's per-join peer id (`participantId`).
    pub participant_id: String,
    /// The sender's display name (`displayName`).
    pub display_name: String,
    /// Whether the message is pinned (`pinned`).
    pub pinned: bool,
    /// Whether the message was edited (`isEdited`).
    pub edited: bool,
    /// When the message was sent (`createdAt`), in UTC, with whatever sub-second precision the
    /// dump gave (up to nanoseconds).
    pub created_at: Timestamp,
    /// The payload type (`payloadType`).
    pub payload_type: PayloadType,
    /// The raw payload (`payload`), verbatim.
    pub payload: String,
    /// Columns the dump had beyond the ten documented ones, as (header name, value), in header
    /// order.
    pub extra: Vec<(String, String)>,
    /// Where the record starts in its source file.
    pub position: Position,
}

impl Default for Message {
    /// An empty message (empty strings, the Unix epoch, `TEXT_MESSAGE`), for
    /// [`crate::reader::ChatReader::read_into`] to fill.
    fn default() -> Self {
        Self {
            id: String::new(),
            session_id: String::new(),
            meeting_id: String::new(),
            participant_id: String::new(),
            display_name: String::new(),
            pinned: false,
            edited: false,
            created_at: Timestamp::UNIX_EPOCH,
            payload_type: PayloadType::Text,
            payload: String::new(),
            extra: Vec::new(),
            position: Position::default(),
        }
    }
}

/// Where a record starts in its source: the physical line (the header is line 1) and the byte
/// offset of its first byte.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Position {
    /// The physical line, counting every `\n` (CRLF counts once, blank lines count).
    pub line: u64,
    /// The byte offset from the start of the input, BOM included.
    pub byte: u64,
}

/// The `payloadType` column.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum PayloadType {
    /// `TEXT_MESSAGE`.
    Text,
    /// `IMAGE_MESSAGE`.
    Image,
    /// `FILE_MESSAGE`.
    File,
    /// Any other value, kept verbatim (for example `CUSTOM_MESSAGE`).
    Other(String),
}

impl PayloadType {
    /// Maps the column value to a payload type; unknown names are kept as [`PayloadType::Other`].
    #[must_use]
    pub fn from_name(name: &str) -> Self {
        match name {
            "TEXT_MESSAGE" => Self::Text,
            "IMAGE_MESSAGE" => Self::Image,
            "FILE_MESSAGE" => Self::File,
            other => Self::Other(other.to_owned()),
        }
    }

    /// The name as it appears in the dump.
    #[must_use]
    pub fn as_str(&self) -> &str {
        match self {
            Self::Text => "TEXT_MESSAGE",
            Self::Image => "IMAGE_MESSAGE",
            Self::File => "FILE_MESSAGE",
            Self::Other(name) => name,
        }
    }
}

impl fmt::Display for PayloadType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The typed body of a message, derived from its payload type and raw payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Body<'a> {
    /// A text message. A reply in the SDK's convention
    /// (`<blockquote>QUOTED</blockquote>\n\nREPLY`) has `quoted` set and `text` is the reply.
    Text {
        /// The message text (the reply, for a reply).
        text: &'a str,
        /// The quoted text of a reply.
        quoted: Option<&'a str>,
    },
    /// An image message: the image URL.
    Image {
        /// The image URL.
        url: &'a str,
    },
    /// A file message. When the payload is the SDK's JSON `{"link","name","size"}`, all three
    /// are filled; otherwise the payload is taken as a bare URL.
    File {
        /// The file URL.
        url: Cow<'a, str>,
        /// The original file name, when known.
        name: Option<Cow<'a, str>>,
        /// The size in bytes, when known.
        size: Option<u64>,
    },
    /// Any other payload type, verbatim.
    Other {
        /// The payload type name.
        payload_type: &'a str,
        /// The raw payload.
        payload: &'a str,
    },
}

/// A body as the flat columns of the data formats (JSONL, Parquet): each `None` where the kind
/// has no such value.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BodyColumns<'a> {
    /// A text message's text (the reply, for a reply).
    pub text: Option<&'a str>,
    /// The quoted text of a reply.
    pub quoted_text: Option<&'a str>,
    /// An image's or a file's URL.
    pub url: Option<&'a str>,
    /// A file's original name, when known.
    pub file_name: Option<&'a str>,
    /// A file's size in bytes, when known.
    pub file_size: Option<u64>,
}

impl Body<'_> {
    /// The body's values as the data formats' columns.
    #[must_use]
    pub fn columns(&self) -> BodyColumns<'_> {
        match self {
            Body::Text { text, quoted } => BodyColumns {
                text: Some(text),
                quoted_text: *quoted,
                ..BodyColumns::default()
            },
            Body::Image { url } => BodyColumns {
                url: Some(url),
                ..BodyColumns::default()
            },
            Body::File { url, name, size } => BodyColumns {
                url: Some(url),
                file_name: name.as_deref(),
                file_size: *size,
                ..BodyColumns::default()
            },
            Body::Other { .. } => BodyColumns::default(),
        }
    }

    /// The kind name the outputs use: `text`, `image`, `file` or `other`.
    #[must_use]
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Text { .. } => "text",
            Self::Image { .. } => "image",
            Self::File { .. } => "file",
            Self::Other { .. } => "other",
        }
    }
}

impl Message {
    /// The typed body, parsed from the raw payload. Parsing never fails: a payload that does not
    /// have the expected shape is kept in the most faithful variant (see [`Body`]).
    #[must_use]
    pub fn body(&self) -> Body<'_> {
        match &self.payload_type {
            PayloadType::Text => {
                let (quoted, text) = split_reply(&self.payload);
                Body::Text { text, quoted }
            }
            PayloadType::Image => Body::Image { url: &self.payload },
            PayloadType::File => parse_file_payload(&self.payload),
            PayloadType::Other(name) => Body::Other {
                payload_type: name,
                payload: &self.payload,
            },
        }
    }

    /// The key every output is ordered by: `created_at`, then `id`, then the position in the
    /// input (so of two records with the same time and id, the one read first comes first).
    #[must_use]
    pub fn sort_key(&self) -> (Timestamp, &str, u64) {
        (self.created_at, &self.id, self.position.byte)
    }

    /// Whether two messages carry the same content (every field but the source position).
    #[must_use]
    pub fn same_content(&self, other: &Message) -> bool {
        self.id == other.id
            && self.created_at == other.created_at
            && self.session_id == other.session_id
            && self.meeting_id == other.meeting_id
            && self.participant_id == other.participant_id
            && self.display_name == other.display_name
            && self.pinned == other.pinned
            && self.edited == other.edited
            && self.payload_type == other.payload_type
            && self.payload == other.payload
            && self.extra == other.extra
    }

    /// An estimate of the heap and inline bytes this message holds, for memory budgets.
    #[must_use]
    pub fn approximate_size(&self) -> usize {
        let extra: usize = self
            .extra
            .iter()
            .map(|(name, value)| name.capacity() + value.capacity() + 2 * size_of::<String>())
            .sum();
        size_of::<Self>()
            + self.id.capacity()
            + self.session_id.capacity()
            + self.meeting_id.capacity()
            + self.participant_id.capacity()
            + self.display_name.capacity()
            + self.payload.capacity()
            + extra
            // Allocator size classes and bookkeeping for the six strings.
            + 6 * 32
    }
}

const REPLY_OPEN: &str = "<blockquote>";
const REPLY_CLOSE: &str = "</blockquote>";

/// Splits the SDK's reply convention, `<blockquote>QUOTED</blockquote>\n\nREPLY`, into
/// `(Some(QUOTED), REPLY)`; anything else is `(None, text)`. A CRLF blank line is accepted too.
fn split_reply(text: &str) -> (Option<&str>, &str) {
    let Some(rest) = text.strip_prefix(REPLY_OPEN) else {
        return (None, text);
    };
    let Some(close) = rest.find(REPLY_CLOSE) else {
        return (None, text);
    };
    let after = &rest[close + REPLY_CLOSE.len()..];
    for separator in ["\n\n", "\r\n\r\n"] {
        if let Some(reply) = after.strip_prefix(separator) {
            return (Some(&rest[..close]), reply);
        }
    }
    (None, text)
}

#[derive(Deserialize)]
struct FilePayload<'a> {
    #[serde(borrow)]
    link: Cow<'a, str>,
    #[serde(borrow, default)]
    name: Option<Cow<'a, str>>,
    #[serde(default)]
    size: Option<FileSize>,
}

/// The SDK writes the size as a number; some backends stringify numbers.
#[derive(Deserialize)]
#[serde(untagged)]
enum FileSize {
    Number(u64),
    Float(f64),
    Text(String),
}

impl FileSize {
    fn bytes(&self) -> Option<u64> {
        match self {
            Self::Number(bytes) => Some(*bytes),
            #[expect(
                clippy::cast_sign_loss,
                reason = "checked non-negative, integral and in range first"
            )]
            Self::Float(bytes) => {
                (bytes.fract() == 0.0 && *bytes >= 0.0 && *bytes < 1.8e19).then_some(*bytes as u64)
            }
            Self::Text(text) => text.trim().parse().ok(),
        }
    }
}

/// The SDK's file payload exactly as it writes it, `{"link":"…","name":"…","size":N}` with
/// strings without escapes and a plain integer, read without the JSON parser; `None` for
/// anything else, which [`parse_file_payload`] hands to the parser. Where it gives a body, the
/// parser gives the same.
fn parse_common_file_payload(payload: &str) -> Option<Body<'_>> {
    let rest = payload.strip_prefix(r#"{"link":""#)?;
    let (link, rest) = plain_json_string(rest)?;
    let rest = rest.strip_prefix(r#","name":""#)?;
    let (name, rest) = plain_json_string(rest)?;
    let digits = rest.strip_prefix(r#","size":"#)?.strip_suffix('}')?;
    // At most 19 digits always fits a u64; a leading zero is not JSON.
    if digits.is_empty()
        || digits.len() > 19
        || (digits.len() > 1 && digits.starts_with('0'))
        || !digits.bytes().all(|byte| byte.is_ascii_digit())
    {
        return None;
    }
    Some(Body::File {
        url: Cow::Borrowed(link),
        name: Some(Cow::Borrowed(name)),
        size: Some(digits.parse().ok()?),
    })
}

/// Splits `text` at its first `"` into the string before it and the text after it, when no
/// byte before it is a `\` or a control character (a JSON string without escapes); else `None`.
fn plain_json_string(text: &str) -> Option<(&str, &str)> {
    fn special(byte: u8) -> bool {
        byte < 0x20 || byte == b'"' || byte == b'\\'
    }
    #[expect(
        clippy::needless_bitwise_bool,
        reason = "branch-free `|` is what lets the block check vectorise"
    )]
    fn block_special(block: &[u8]) -> bool {
        block.iter().fold(false, |found, &byte| {
            found | (byte < 0x20) | (byte == b'"') | (byte == b'\\')
        })
    }
    let bytes = text.as_bytes();
    let mut offset = 0;
    for block in bytes.chunks_exact(16) {
        if block_special(block) {
            break;
        }
        offset += 16;
    }
    let at = offset + bytes[offset..].iter().position(|&byte| special(byte))?;
    (bytes[at] == b'"').then(|| (&text[..at], &text[at + 1..]))
}

fn parse_file_payload(payload: &str) -> Body<'_> {
    if let Some(body) = parse_common_file_payload(payload) {
        return body;
    }
    if payload.trim_start().starts_with('{')
        && let Ok(file) = serde_json::from_str::<FilePayload<'_>>(payload)
    {
        return Body::File {
            url: file.link,
            name: file.name,
            size: file.size.as_ref().and_then(FileSize::bytes),
        };
    }
    Body::File {
        url: Cow::Borrowed(payload),
        name: None,
        size: None,
    }
}

/// The parts of a meeting besides its chat, converted with it (issue 18): the speech
/// transcript (CSV, JSON, `WebVTT` or SRT, recognised from the content), the AI summary, and the
/// session's start, which JSON, `WebVTT` and SRT times count from. All optional: without them a
/// conversion is of the chat alone. The API client fetches them into one, the pipeline converts
/// from one.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MeetingParts {
    /// The speech transcript file.
    pub transcript: Option<PathBuf>,
    /// The summary file (plain text or Markdown).
    pub summary: Option<PathBuf>,
    /// The session's `started_at`; never guessed from the chat.
    pub session_start: Option<Timestamp>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn body_columns_hold_each_kind_s_values() {
        let columns = |payload_type: &str, payload: &str| {
            let message = message(payload_type, payload);
            let body = message.body();
            let columns = body.columns();
            (
                columns.text.map(str::to_owned),
                columns.quoted_text.map(str::to_owned),
                columns.url.map(str::to_owned),
                columns.file_name.map(str::to_owned),
                columns.file_size,
            )
        };
        let some = |value: &str| Some(value.to_owned());
        assert_eq!(
            columns("TEXT_MESSAGE", "<blockquote>q</blockquote>\n\nr"),
            (some("r"), some("q"), None, None, None)
        );
        assert_eq!(
            columns("IMAGE_MESSAGE", "https://x/i.png"),
            (None, None, some("https://x/i.png"), None, None)
        );
        assert_eq!(
            columns(
                "FILE_MESSAGE",
                r#"{"link":"https://x/f.pdf","name":"f.pdf","size":12}"#
            ),
            (None, None, some("https://x/f.pdf"), some("f.pdf"), Some(12))
        );
        assert_eq!(columns("POLL", "{}"), (None, None, None, None, None));
    }

    fn message(payload_type: &str, payload: &str) -> Message {
        Message {
            id: "m1".into(),
            session_id: "s".into(),
            meeting_id: "m".into(),
            participant_id: "p".into(),
            display_name: "d".into(),
            pinned: false,
            edited: false,
            created_at: Timestamp::UNIX_EPOCH,
            payload_type: PayloadType::from_name(payload_type),
            payload: payload.into(),
            extra: Vec::new(),
            position: Position::default(),
        }
    }

    #[test]
    fn reply_is_split() {
        let msg = message("TEXT_MESSAGE", "<blockquote>a\nb</blockquote>\n\nyes!");
        assert_eq!(
            msg.body(),
            Body::Text {
                text: "yes!",
                quoted: Some("a\nb")
            }
        );
        let msg = message("TEXT_MESSAGE", "<blockquote>no separator</blockquote>x");
        assert_eq!(
            msg.body(),
            Body::Text {
                text: "<blockquote>no separator</blockquote>x",
                quoted: None
            }
        );
    }

    #[test]
    fn file_payloads() {
        let msg = message(
            "FILE_MESSAGE",
            r#"{"link":"https://x/a.pdf","name":"a \"b\".pdf","size":"12"}"#,
        );
        assert_eq!(
            msg.body(),
            Body::File {
                url: "https://x/a.pdf".into(),
                name: Some("a \"b\".pdf".into()),
                size: Some(12)
            }
        );
        let msg = message("FILE_MESSAGE", "https://x/b.zip");
        assert_eq!(
            msg.body(),
            Body::File {
                url: "https://x/b.zip".into(),
                name: None,
                size: None
            }
        );
        let msg = message("FILE_MESSAGE", r#"{"name":"no link"}"#);
        assert!(matches!(msg.body(), Body::File { name: None, .. }));
    }

    /// The shortcut for the SDK's own file payloads gives what the JSON parser gives, and
    /// leaves to it every payload it cannot read exactly.
    #[test]
    fn common_file_payloads_parse_as_the_parser_does() {
        let strings = [
            "https://x.example/a.pdf?X-Amz-Signature=abc&b=%20",
            "",
            "Q1 report, final (v2).pdf",
            "заметки.docx",
            "contract \\\"final\\\".pdf",
            "back\\\\slash",
            "tab\t",
            "line\\nend",
            "\\u0041",
            "🍕",
            &"x".repeat(40),
        ];
        let sizes = [
            "0",
            "7",
            "18681",
            "007",
            "-1",
            "1.5",
            "1e3",
            "\"12\"",
            "null",
            "18446744073709551615",
            "18446744073709551616",
            "9999999999999999999",
            "",
            " 5",
        ];
        let mut shortcut = 0;
        let mut checked = 0;
        for link in strings {
            for name in strings {
                for size in sizes {
                    for (open, close) in [("{", "}"), ("{", "} "), (" {", "}"), ("{", "}x")] {
                        for payload in [
                            format!(
                                r#"{open}"link":"{link}","name":"{name}","size":{size}{close}"#
                            ),
                            format!(
                                r#"{open}"name":"{name}","link":"{link}","size":{size}{close}"#
                            ),
                            format!(r#"{open}"link":"{link}","name":"{name}"{close}"#),
                            format!(
                                r#"{open}"link":"{link}","link":"{name}","size":{size}{close}"#
                            ),
                        ] {
                            let general = match serde_json::from_str::<FilePayload<'_>>(&payload) {
                                Ok(file) => Body::File {
                                    url: file.link,
                                    name: file.name,
                                    size: file.size.as_ref().and_then(FileSize::bytes),
                                },
                                Err(_) => Body::File {
                                    url: Cow::Borrowed(&payload),
                                    name: None,
                                    size: None,
                                },
                            };
                            if let Some(body) = parse_common_file_payload(&payload) {
                                shortcut += 1;
                                assert_eq!(body, general, "{payload}");
                            }
                            assert_eq!(parse_file_payload(&payload), general, "{payload}");
                            checked += 1;
                        }
                    }
                }
            }
        }
        assert!(shortcut >= 144, "{shortcut} of {checked}");
    }

    #[test]
    fn unknown_type_is_kept() {
        let msg = message("POLL", "{\"q\":1}");
        assert_eq!(
            msg.body(),
            Body::Other {
                payload_type: "POLL",
                payload: "{\"q\":1}"
            }
        );
    }
}
