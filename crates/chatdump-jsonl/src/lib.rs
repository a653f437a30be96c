//! JSON Lines output for chatdump: one JSON object per message, one message per line.
//!
//! See [`JsonlWriter`] for the schema.
//!
//! ```
//! use chatdump_core::export::{ExportContext, Exporter};
//! use chatdump_core::reader::{ChatReader, ReaderOptions};
//! use chatdump_jsonl::JsonlWriter;
//!
//! let csv = "id,participantId,sessionId,meetingId,displayName,pinned,isEdited,payloadType,payload,createdAt\n\
//!            m1,p1,s1,mt1,Ann,false,false,TEXT_MESSAGE,hello,2024-05-14T09:00:04.112Z\n";
//! let mut reader = ChatReader::new(csv.as_bytes(), "inline.csv", ReaderOptions::default())?;
//! let mut writer = JsonlWriter::new(Vec::new());
//! writer.begin(&ExportContext::default())?;
//! writer.message(&reader.next_message().unwrap()?)?;
//! writer.finish()?;
//! let line = String::from_utf8(writer.into_inner()).unwrap();
//! assert!(line.starts_with(r#"{"schema_version":1,"id":"m1","#));
//! assert!(line.contains(r#""created_at":"2024-05-14T09:00:04.112Z","created_at_ms":1715677204112"#));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#![cfg_attr(
    test,
    allow(
        clippy::disallowed_methods,
        reason = "unit tests may use the system temporary directory and the clock"
    )
)]

/// `,"name":`, the text that opens every field but the first.
macro_rules! key {
    ($name:literal) => {
        concat!(",\"", $name, "\":")
    };
}

/// `","name":"`: closes a string value and opens the next field, a string.
macro_rules! between {
    ($name:literal) => {
        concat!("\"", key!($name), "\"")
    };
}

mod flavor;
mod utterance;

pub use flavor::{
    Flavor, FlavorWriter, IdTooLong, MAX_ELASTICSEARCH_ID_BYTES, MAX_SEARCH_ID_BYTES, search_id,
    validate_index_name,
};

pub use utterance::{TRANSCRIPT_SCHEMA_VERSION, UtteranceWriter};

use std::io::Write;
use std::sync::Arc;

use chatdump_core::attachment::Attachments;
use chatdump_core::export::{ExportContext, ExportError, Exporter};
use chatdump_core::model::{Body, BodyColumns, Message, PayloadType};
use chatdump_core::output::Sink;
use chatdump_core::time::push_utc;
use serde::Serialize;

/// The version of the JSONL schema, written in every line as `schema_version`. It changes only
/// when a field is renamed, removed or changes type; new fields may be added within a version.
pub const SCHEMA_VERSION: u32 = 1;

/// The schema version of lines with the media fields (`media_path`, `media_sha256`,
/// `media_bytes`, `media_type`; issue 19, `--media`): version 1's fields, then those four.
/// Written only when the conversion saved attachments; otherwise lines stay version 1.
pub const SCHEMA_VERSION_MEDIA: u32 = 2;

// `write_line` writes both versions as literals.
const _: () = assert!(SCHEMA_VERSION == 1 && SCHEMA_VERSION_MEDIA == 2);

/// Writes one JSON object per message, each on its own line, in chronological order.
///
/// # Schema (version 1)
///
/// Every line has every field, in one fixed order; absent values are `null`. The fields, their
/// types and meanings are documented once, in `docs/formats/jsonl.md` (a test checks that page
/// against what this writer writes).
///
/// Strings are JSON-escaped exactly as `serde_json` escapes them (`\"`, `\\`, `\n` and the
/// other short forms, the remaining control characters as `\u00XX`; everything else as UTF-8),
/// so every line is one physical line.
///
/// The lines are built in a buffer of [`JsonlWriter::BUFFER_BYTES`] that is handed to the
/// [`Sink`] whole when full ([`Sink::write_vec`]): a [`chatdump_core::output::BackgroundWriter`]
/// takes it without a copy. Nothing reaches `out` before a buffer is full or
/// [`Exporter::finish`] is called.
///
/// Memory: one message at a time, plus the buffer.
#[derive(Debug)]
pub struct JsonlWriter<W: Write> {
    out: W,
    /// The lines not yet handed to `out`.
    line: Vec<u8>,
    /// The stored attachments (`--media`): every line then has the media fields.
    attachments: Option<Arc<Attachments>>,
    /// The session and meeting ids of the line before, escaped.
    repeats: Repeats,
}

impl<W: Write> JsonlWriter<W> {
    /// The size of the buffer the lines are built in: that of a
    /// [`chatdump_core::output::BackgroundWriter`]'s buffers. It is handed over once it holds
    /// more than 15/16 of this.
    pub const BUFFER_BYTES: usize = chatdump_core::output::BackgroundWriter::BUFFER_BYTES;

    /// Creates a writer over `out`.
    pub fn new(out: W) -> Self {
        Self {
            out,
            line: Vec::new(),
            attachments: None,
            repeats: Repeats::default(),
        }
    }

    /// Returns the inner writer.
    pub fn into_inner(self) -> W {
        self.out
    }
}

/// The escaped form of the last value written of a field whose value rarely changes from one
/// line to the next (a dump normally holds one session of one meeting), so that it is escaped
/// once rather than on every line: comparing it with the last value costs less than looking
/// for bytes to escape. Values longer than [`Repeated::MAX_BYTES`] are escaped every time, so
/// that memory does not grow with a hostile dump.
#[derive(Debug, Default)]
struct Repeated {
    value: String,
    escaped: Vec<u8>,
}

impl Repeated {
    const MAX_BYTES: usize = 256;

    /// Writes `value` escaped, as [`escaped`] does.
    fn write(&mut self, line: &mut Vec<u8>, value: &str) {
        if self.value != value {
            if value.len() > Self::MAX_BYTES {
                escaped(line, value);
                return;
            }
            self.value.clear();
            self.value.push_str(value);
            self.escaped.clear();
            escaped(&mut self.escaped, value);
        }
        line.extend_from_slice(&self.escaped);
    }
}

/// What `write_line` remembers from one line to the next.
#[derive(Debug, Default)]
pub(crate) struct Repeats {
    session: Repeated,
    meeting: Repeated,
}

/// Writes `key` (made by `key!`) and `value`.
fn field<T: Serialize + ?Sized>(
    line: &mut Vec<u8>,
    key: &str,
    value: &T,
) -> serde_json::Result<()> {
    line.extend_from_slice(key.as_bytes());
    serde_json::to_writer(&mut *line, value)
}

/// Writes `key` and `"value"`, JSON-escaped.
fn string_field(line: &mut Vec<u8>, key: &str, value: &str) {
    line.extend_from_slice(key.as_bytes());
    string(line, value);
}

/// Writes `key` and `"value"` or `null`.
fn optional_string_field(line: &mut Vec<u8>, key: &str, value: Option<&str>) {
    line.extend_from_slice(key.as_bytes());
    match value {
        Some(value) => string(line, value),
        None => line.extend_from_slice(b"null"),
    }
}

/// Writes `value` as a JSON string, escaped exactly as `serde_json` escapes it (`"`, `\` and
/// the control characters below U+0020; `\b`, `\t`, `\n`, `\f` and `\r` by their short
/// forms, the others as `\u00XX` with lower-case hex digits; everything else as UTF-8). The
/// runs between bytes that need an escape are copied whole: most strings need none and are
/// copied in one piece.
fn string(line: &mut Vec<u8>, value: &str) {
    line.reserve(value.len() + 2);
    line.push(b'"');
    escaped(line, value);
    line.push(b'"');
}

/// Writes `value` escaped as [`string`] does, without the quotes.
fn escaped(line: &mut Vec<u8>, value: &str) {
    let bytes = value.as_bytes();
    let mut start = 0;
    while let Some(at) = next_escape(bytes, start) {
        line.extend_from_slice(&bytes[start..at]);
        push_escape(line, bytes[at]);
        start = at + 1;
    }
    line.extend_from_slice(&bytes[start..]);
}

/// For each byte, what follows the backslash of its escape: 0 for none, `u` for `\u00XX`.
const ESCAPES: [u8; 256] = {
    let mut table = [0; 256];
    let mut byte = 0;
    while byte < 0x20 {
        table[byte] = b'u';
        byte += 1;
    }
    table[0x08] = b'b';
    table[0x09] = b't';
    table[0x0a] = b'n';
    table[0x0c] = b'f';
    table[0x0d] = b'r';
    table[b'"' as usize] = b'"';
    table[b'\\' as usize] = b'\\';
    table
};

/// Appends the escape of `byte`, one that needs an escape (see [`ESCAPES`]).
fn push_escape(line: &mut Vec<u8>, byte: u8) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    match ESCAPES[usize::from(byte)] {
        b'u' => line.extend_from_slice(&[
            b'\\',
            b'u',
            b'0',
            b'0',
            HEX[usize::from(byte >> 4)],
            HEX[usize::from(byte & 0xf)],
        ]),
        short => line.extend_from_slice(&[b'\\', short]),
    }
}

/// Whether JSON must escape `byte`: `"`, `\` or a control character below U+0020.
fn needs_escape(byte: u8) -> bool {
    byte < 0x20 || byte == b'"' || byte == b'\\'
}

/// Whether `block` holds a byte JSON must escape. Written so that the compiler turns it into a
/// few vector instructions (with only SSE2).
#[expect(
    clippy::needless_bitwise_bool,
    reason = "branch-free `|` is what lets the block check vectorise"
)]
fn block_needs_escape(block: &[u8; 16]) -> bool {
    block.iter().fold(false, |found, &byte| {
        found | (byte < 0x20) | (byte == b'"') | (byte == b'\\')
    })
}

/// The position of the first byte at or after `from` that JSON must escape. The bytes are
/// looked at in fixed 16-byte blocks, and only a block with such a byte byte by byte; the last,
/// shorter block is the string's last 16 bytes (some of them looked at already) or, for a
/// string shorter than a block, a copy padded with a byte that needs no escape. Most strings
/// here are ids of 20 to 40 bytes, so the short tail matters.
fn next_escape(bytes: &[u8], from: usize) -> Option<usize> {
    let first = |block: &[u8], offset: usize| {
        block
            .iter()
            .position(|&byte| needs_escape(byte))
            .map(|at| offset + at)
    };
    let mut blocks = bytes[from..].chunks_exact(16);
    let mut offset = from;
    for chunk in &mut blocks {
        if block_needs_escape(chunk.try_into().expect("chunks_exact(16) gives 16 bytes")) {
            return first(chunk, offset);
        }
        offset += 16;
    }
    let rest = blocks.remainder();
    if rest.is_empty() {
        return None;
    }
    let found = if bytes.len() >= 16 {
        block_needs_escape(bytes[bytes.len() - 16..].try_into().expect("16 bytes"))
    } else {
        let mut padded = [b'a'; 16];
        padded[..rest.len()].copy_from_slice(rest);
        block_needs_escape(&padded)
    };
    if found { first(rest, offset) } else { None }
}

/// The keys (made by `between!`: each closes the string before it and opens its own)
/// `write_line` gives the session, meeting and participant ids.
struct IdFieldNames {
    session: &'static str,
    meeting: &'static str,
    participant: &'static str,
}

/// The plain schema's names.
const PLAIN_NAMES: IdFieldNames = IdFieldNames {
    session: between!("session_id"),
    meeting: between!("meeting_id"),
    participant: between!("participant_id"),
};

/// Builds one line (without the newline). Hand-assembled rather than derived so that the raw
/// payload, which for most text messages is the very same string as `text`, is escaped once and
/// copied: on a million-message dump that is a sixth of the output.
///
/// `names` chooses the names of the three id-like fields and `id` the document id, so flavors
/// that rename or map them (Meilisearch) share this one writer.
fn write_line(
    line: &mut Vec<u8>,
    repeats: &mut Repeats,
    message: &Message,
    body: &Body<'_>,
    names: &IdFieldNames,
    id: &str,
    attachments: Option<&Attachments>,
) {
    let BodyColumns {
        text,
        quoted_text,
        url,
        file_name,
        file_size,
    } = body.columns();
    // Up to `created_at`, every value is a string or a flag: each constant piece closes the
    // value before it and opens the next.
    line.extend_from_slice(if attachments.is_some() {
        concat!(r#"{"schema_version":2"#, key!("id"), "\"").as_bytes()
    } else {
        concat!(r#"{"schema_version":1"#, key!("id"), "\"").as_bytes()
    });
    escaped(line, id);
    line.extend_from_slice(names.session.as_bytes());
    repeats.session.write(line, &message.session_id);
    line.extend_from_slice(names.meeting.as_bytes());
    repeats.meeting.write(line, &message.meeting_id);
    line.extend_from_slice(names.participant.as_bytes());
    escaped(line, &message.participant_id);
    line.extend_from_slice(between!("display_name").as_bytes());
    escaped(line, &message.display_name);
    line.extend_from_slice(flags(message.pinned, message.edited).as_bytes());
    push_utc(line, message.created_at);
    line.extend_from_slice(concat!("\"", key!("created_at_ms")).as_bytes());
    integer(line, message.created_at.as_millisecond());
    // The payload type and kind: one piece for each known type (whose body is of its own
    // kind); a type of another name is escaped.
    macro_rules! typed {
        ($name:literal, $kind:literal) => {
            concat!(
                key!("payload_type"),
                "\"",
                $name,
                "\"",
                key!("kind"),
                "\"",
                $kind,
                "\""
            )
            .as_bytes()
        };
    }
    match (&message.payload_type, body) {
        (PayloadType::Text, Body::Text { .. }) => {
            line.extend_from_slice(typed!("TEXT_MESSAGE", "text"));
        }
        (PayloadType::Image, Body::Image { .. }) => {
            line.extend_from_slice(typed!("IMAGE_MESSAGE", "image"));
        }
        (PayloadType::File, Body::File { .. }) => {
            line.extend_from_slice(typed!("FILE_MESSAGE", "file"));
        }
        (payload_type, body) => {
            line.extend_from_slice(key!("payload_type").as_bytes());
            string(line, payload_type.as_str());
            line.extend_from_slice(key!("kind").as_bytes());
            string(line, body.kind());
        }
    }
    // The escaped form of `text` or `url` when it is the whole payload (a text that is not a
    // reply, an image, a file given as a bare link): the payload reuses it. A plain text and
    // an image, nearly every message, have their `null`s written as one piece.
    let escaped_payload = match body {
        Body::Text { text, quoted: None } => {
            line.extend_from_slice(concat!(key!("text"), "\"").as_bytes());
            let start = line.len() - 1;
            escaped(line, text);
            line.push(b'"');
            let escaped_text = start..line.len();
            line.extend_from_slice(
                concat!(
                    key!("quoted_text"),
                    "null",
                    key!("url"),
                    "null",
                    key!("file_name"),
                    "null",
                    key!("file_size"),
                    "null"
                )
                .as_bytes(),
            );
            (text.len() == message.payload.len()).then_some(escaped_text)
        }
        Body::Image { url } => {
            line.extend_from_slice(
                concat!(
                    key!("text"),
                    "null",
                    key!("quoted_text"),
                    "null",
                    key!("url"),
                    "\""
                )
                .as_bytes(),
            );
            let start = line.len() - 1;
            escaped(line, url);
            line.push(b'"');
            let escaped_url = start..line.len();
            line.extend_from_slice(
                concat!(key!("file_name"), "null", key!("file_size"), "null").as_bytes(),
            );
            is_whole(url, &message.payload).then_some(escaped_url)
        }
        _ => {
            let mut escaped_payload = None;
            let text_start = line.len() + key!("text").len();
            optional_string_field(line, key!("text"), text);
            if text.is_some_and(|text| text.len() == message.payload.len()) {
                escaped_payload = Some(text_start..line.len());
            }
            optional_string_field(line, key!("quoted_text"), quoted_text);
            let url_start = line.len() + key!("url").len();
            optional_string_field(line, key!("url"), url);
            if url.is_some_and(|url| is_whole(url, &message.payload)) {
                escaped_payload = Some(url_start..line.len());
            }
            optional_string_field(line, key!("file_name"), file_name);
            optional_integer_field(line, key!("file_size"), file_size);
            escaped_payload
        }
    };
    line.extend_from_slice(key!("payload").as_bytes());
    match escaped_payload {
        Some(escaped) => line.extend_from_within(escaped),
        None => string(line, &message.payload),
    }
    if message.extra.is_empty() && attachments.is_none() {
        line.extend_from_slice(concat!(key!("extra"), "{}}").as_bytes());
        return;
    }
    line.extend_from_slice(key!("extra").as_bytes());
    line.push(b'{');
    for (index, (name, value)) in message.extra.iter().enumerate() {
        if index > 0 {
            line.push(b',');
        }
        string(line, name);
        line.push(b':');
        string(line, value);
    }
    line.push(b'}');
    if let Some(attachments) = attachments {
        let stored = url.and_then(|url| attachments.stored(url));
        optional_string_field(
            line,
            key!("media_path"),
            stored.map(|stored| stored.path.as_str()),
        );
        optional_string_field(
            line,
            key!("media_sha256"),
            stored.map(|stored| stored.sha256.as_str()),
        );
        optional_integer_field(line, key!("media_bytes"), stored.map(|stored| stored.bytes));
        optional_string_field(
            line,
            key!("media_type"),
            stored.map(|stored| stored.media_type.as_str()),
        );
    }
    line.push(b'}');
}

/// Whether `part` is the whole of `whole` (the same bytes at the same address), not merely as
/// long.
fn is_whole(part: &str, whole: &str) -> bool {
    std::ptr::eq(part.as_ptr(), whole.as_ptr()) && part.len() == whole.len()
}

/// `","pinned":…,"edited":…,"created_at":"`: closes the display name, writes both flags and
/// opens the time.
fn flags(pinned: bool, edited: bool) -> &'static str {
    macro_rules! flags {
        ($pinned:literal, $edited:literal) => {
            concat!(
                "\"",
                key!("pinned"),
                $pinned,
                key!("edited"),
                $edited,
                key!("created_at"),
                "\""
            )
        };
    }
    match (pinned, edited) {
        (false, false) => flags!("false", "false"),
        (false, true) => flags!("false", "true"),
        (true, false) => flags!("true", "false"),
        (true, true) => flags!("true", "true"),
    }
}

/// Writes an integer as JSON does (as `serde_json` writes it, through the same `itoa`).
fn integer(line: &mut Vec<u8>, value: impl itoa::Integer) {
    line.extend_from_slice(itoa::Buffer::new().format(value).as_bytes());
}

/// Writes `key` and the integer or `null`.
fn optional_integer_field(line: &mut Vec<u8>, key: &str, value: Option<u64>) {
    line.extend_from_slice(key.as_bytes());
    match value {
        Some(value) => integer(line, value),
        None => line.extend_from_slice(b"null"),
    }
}

impl<W: Sink> Exporter for JsonlWriter<W> {
    fn begin(&mut self, context: &ExportContext) -> Result<(), ExportError> {
        self.attachments.clone_from(&context.attachments);
        Ok(())
    }

    fn message(&mut self, message: &Message) -> Result<(), ExportError> {
        if self.line.capacity() == 0 {
            self.line.reserve(Self::BUFFER_BYTES);
        }
        let body = message.body();
        write_line(
            &mut self.line,
            &mut self.repeats,
            message,
            &body,
            &PLAIN_NAMES,
            &message.id,
            self.attachments.as_deref(),
        );
        self.line.push(b'\n');
        if self.line.len() > Self::BUFFER_BYTES / 16 * 15 {
            self.out.write_vec(&mut self.line)?;
        }
        Ok(())
    }

    fn finish(&mut self) -> Result<(), ExportError> {
        if !self.line.is_empty() {
            self.out.write_vec(&mut self.line)?;
        }
        self.out.flush()?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use chatdump_core::attachment::{Attachment, Attachments, MediaMode, StoredAttachment};
    use chatdump_core::model::{Body, BodyColumns, Message, PayloadType};
    use serde::Serialize;

    /// The `extra` object as the writer wrote it before: a map in header order.
    struct Extra<'a>(&'a [(String, String)]);

    impl Serialize for Extra<'_> {
        fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
            serializer.collect_map(self.0.iter().map(|(name, value)| (name, value)))
        }
    }

    /// A line as the writer wrote it before its shortcuts: every value through `serde_json`, the
    /// payload escaped again.
    fn reference_line(message: &Message, attachments: Option<&Attachments>) -> Vec<u8> {
        fn put<T: Serialize + ?Sized>(line: &mut Vec<u8>, key: &str, value: &T) {
            if !line.is_empty() {
                line.push(b',');
            }
            line.extend_from_slice(serde_json::to_string(key).unwrap().as_bytes());
            line.push(b':');
            serde_json::to_writer(&mut *line, value).unwrap();
        }
        let body = message.body();
        let BodyColumns {
            text,
            quoted_text,
            url,
            file_name,
            file_size,
        } = body.columns();
        let mut line = Vec::new();
        put(
            &mut line,
            "schema_version",
            &(1 + u32::from(attachments.is_some())),
        );
        put(&mut line, "id", &message.id);
        put(&mut line, "session_id", &message.session_id);
        put(&mut line, "meeting_id", &message.meeting_id);
        put(&mut line, "participant_id", &message.participant_id);
        put(&mut line, "display_name", &message.display_name);
        put(&mut line, "pinned", &message.pinned);
        put(&mut line, "edited", &message.edited);
        let created_at = chatdump_core::time::format_utc(message.created_at);
        put(&mut line, "created_at", &created_at);
        put(
            &mut line,
            "created_at_ms",
            &message.created_at.as_millisecond(),
        );
        put(&mut line, "payload_type", message.payload_type.as_str());
        put(&mut line, "kind", body.kind());
        put(&mut line, "text", &text);
        put(&mut line, "quoted_text", &quoted_text);
        put(&mut line, "url", &url);
        put(&mut line, "file_name", &file_name);
        put(&mut line, "file_size", &file_size);
        put(&mut line, "payload", &message.payload);
        put(&mut line, "extra", &Extra(&message.extra));
        if let Some(attachments) = attachments {
            let stored = url.and_then(|url| attachments.stored(url));
            put(&mut line, "media_path", &stored.map(|s| &s.path));
            put(&mut line, "media_sha256", &stored.map(|s| &s.sha256));
            put(&mut line, "media_bytes", &stored.map(|s| s.bytes));
            put(&mut line, "media_type", &stored.map(|s| &s.media_type));
        }
        [b"{".as_slice(), &line, b"}"].concat()
    }

    /// The lines go to the sink in whole buffers (no `write`, so no copy), each nearly full and
    /// ending with a line, and make the same bytes as the lines written one by one.
    #[test]
    fn lines_are_handed_over_in_whole_buffers() {
        use chatdump_core::export::{ExportContext, Exporter};

        #[derive(Default)]
        struct Handed {
            bytes: Vec<u8>,
            buffers: Vec<usize>,
        }
        impl std::io::Write for Handed {
            fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
                Err(std::io::Error::other("copied through `write`"))
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        impl chatdump_core::output::Sink for Handed {
            fn write_vec(&mut self, data: &mut Vec<u8>) -> std::io::Result<()> {
                assert_eq!(data.last(), Some(&b'\n'));
                self.buffers.push(data.len());
                self.bytes.append(data);
                Ok(())
            }
        }

        let messages: Vec<Message> = (0..6_000)
            .map(|index| Message {
                id: format!("m{index}"),
                payload: format!("{index} \"{}\"", "x".repeat(index % 2_000)),
                ..Message::default()
            })
            .collect();
        let mut expected = Vec::new();
        for message in &messages {
            let body = message.body();
            super::write_line(
                &mut expected,
                &mut super::Repeats::default(),
                message,
                &body,
                &super::PLAIN_NAMES,
                &message.id,
                None,
            );
            expected.push(b'\n');
        }
        let mut handed = super::JsonlWriter::new(Handed::default());
        let mut plain = super::JsonlWriter::new(Vec::new());
        for writer in [&mut handed as &mut dyn Exporter, &mut plain] {
            writer.begin(&ExportContext::default()).unwrap();
            for message in &messages {
                writer.message(message).unwrap();
            }
            writer.finish().unwrap();
        }
        let handed = handed.into_inner();
        assert!(handed.bytes == expected, "the handed-over bytes differ");
        assert!(
            plain.into_inner() == expected,
            "the bytes written to a Vec differ"
        );
        let full = super::JsonlWriter::<Vec<u8>>::BUFFER_BYTES / 16 * 15;
        let (last, whole) = handed.buffers.split_last().unwrap();
        assert!(whole.len() >= 4, "{:?}", handed.buffers);
        assert!(
            whole.iter().all(|&bytes| bytes > full),
            "{:?}",
            handed.buffers
        );
        assert!(*last > 0);
    }

    /// The hand-assembled line (scalars written directly, the payload's escaped form reused from
    /// `text` or `url`, the `extra` object) is byte for byte the reference's, on generated
    /// messages of every payload type, with and without the media fields.
    #[test]
    fn lines_match_the_serde_json_reference() {
        let mut state = 0x2545_f491_4f6c_dd1d_u64;
        let mut next = move |bound: usize| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            usize::try_from(state % bound as u64).unwrap()
        };
        let pieces = [
            "a",
            "Zoë",
            "\"",
            "\\",
            "\n",
            "\u{1}",
            "https://x.example/a?b=c&d=%20",
            " ",
            "🍕",
            "<blockquote>",
            "</blockquote>\n\n",
            "{",
            "}",
            ":",
            ",",
        ];
        let text = |next: &mut dyn FnMut(usize) -> usize| -> String {
            (0..next(8)).map(|_| pieces[next(pieces.len())]).collect()
        };
        let mut attachments = Attachments::new(MediaMode::Download);
        attachments.insert(
            "https://x.example/stored.png",
            Attachment::Stored(StoredAttachment {
                path: "chat.media/ab-stored.png".into(),
                sha256: "0".repeat(64),
                bytes: 1234,
                media_type: "image/png".into(),
                raster: true,
                file: std::path::PathBuf::from("stored.png"),
            }),
        );
        let mut whole_payloads = 0;
        // One for all the lines, as a writer has: session and meeting ids are often those of
        // the line before, or of one a few lines back, some longer than what it keeps.
        let mut repeats = super::Repeats::default();
        let mut ids: Vec<String> = vec!["s".repeat(super::Repeated::MAX_BYTES + 1)];
        for round in 0..20_000 {
            let payload_type = match next(6) {
                0 | 1 => PayloadType::Text,
                2 => PayloadType::Image,
                3 => PayloadType::File,
                4 => PayloadType::Other("POLL".into()),
                _ => PayloadType::Other(text(&mut next)),
            };
            let payload = match (next(6), &payload_type) {
                (0, _) => "https://x.example/stored.png".to_owned(),
                (1, PayloadType::File) => format!(
                    r#"{{"link":{},"name":{},"size":{}}}"#,
                    serde_json::to_string(&text(&mut next)).unwrap(),
                    serde_json::to_string(&text(&mut next)).unwrap(),
                    next(100_000)
                ),
                (2, PayloadType::Text) => format!(
                    "<blockquote>{}</blockquote>\n\n{}",
                    text(&mut next),
                    text(&mut next)
                ),
                _ => text(&mut next),
            };
            let extra = (0..next(3))
                .map(|_| (text(&mut next), text(&mut next)))
                .collect();
            let seconds = i64::try_from(next(4_000_000_000)).unwrap() - 1_000_000_000;
            let mut repeated_id = |next: &mut dyn FnMut(usize) -> usize| -> String {
                if next(3) == 0 {
                    ids.push(text(next));
                }
                match next(8) {
                    0 => ids[0].clone(),
                    1 | 2 => ids[ids.len() - 1 - next(ids.len().min(5))].clone(),
                    _ => ids.last().unwrap().clone(),
                }
            };
            let session_id = repeated_id(&mut next);
            let meeting_id = repeated_id(&mut next);
            let message = Message {
                id: text(&mut next),
                session_id,
                meeting_id,
                participant_id: text(&mut next),
                display_name: text(&mut next),
                pinned: next(2) == 0,
                edited: next(2) == 0,
                created_at: jiff::Timestamp::new(
                    seconds,
                    1_000_000 * i32::try_from(next(1000)).unwrap(),
                )
                .unwrap(),
                payload_type,
                payload,
                extra,
                position: chatdump_core::model::Position::default(),
            };
            let media = (round % 2 == 0).then_some(&attachments);
            let mut line = b"before".to_vec();
            super::write_line(
                &mut line,
                &mut repeats,
                &message,
                &message.body(),
                &super::PLAIN_NAMES,
                &message.id,
                media,
            );
            let expected = [b"before".as_slice(), &reference_line(&message, media)].concat();
            assert_eq!(
                String::from_utf8(line).unwrap(),
                String::from_utf8(expected).unwrap(),
                "{message:?}"
            );
            whole_payloads += usize::from(matches!(
                message.body(),
                Body::Text { quoted: None, .. } | Body::Image { .. }
            ));
        }
        assert!(whole_payloads > 5_000, "{whole_payloads}");
    }

    /// The escaper and `serde_json` write the same bytes, for strings that need an escape at
    /// every position of the 16-byte blocks, for those that need none, for every control
    /// character and for generated strings with many escapes.
    #[test]
    fn strings_are_escaped_as_serde_json_does() {
        let mut cases: Vec<String> = [
            "",
            "plain",
            "quote \" here",
            "back\\slash",
            "tab\there",
            "nul\0",
            "\u{1f}",
            "\u{7f}",
            "\u{2028}\u{2029}",
            "emoji 🍕 and RTL مرحبا",
            "</script>",
        ]
        .map(String::from)
        .to_vec();
        for special in [
            '"', '\\', '\n', '\u{1}', '\u{1f}', ' ', '!', '#', '[', ']', '\u{7f}', 'é', '🍕',
        ] {
            for position in 0..70 {
                let mut text = "a".repeat(70);
                text.insert(position, special);
                cases.push(text);
                // Every length, so the special character lands in each part of the check.
                cases.push(format!("{}{special}", "a".repeat(position)));
            }
        }
        // Every character below U+0020 alone and between others.
        for byte in 0..0x20_u8 {
            let special = char::from(byte);
            cases.push(special.to_string());
            cases.push(format!("x{special}y{special}{special}"));
        }
        // Generated strings with several escapes, side by side, at block edges and in the tail.
        let pool = [
            "a",
            "b",
            "\"",
            "\\",
            "\n",
            "\r",
            "\t",
            "\u{0}",
            "\u{8}",
            "\u{c}",
            "\u{1b}",
            "\u{1f}",
            " ",
            "é",
            "🍕",
            "\u{2028}",
            "0123456789abcdef",
        ];
        let mut state = 0x9e37_79b9_7f4a_7c15_u64;
        let mut next = move |bound: usize| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            usize::try_from(state % bound as u64).unwrap()
        };
        for _ in 0..20_000 {
            let pieces = next(40);
            let case: String = (0..pieces).map(|_| pool[next(pool.len())]).collect();
            cases.push(case);
        }
        let mut escaped = 0;
        for case in &cases {
            let mut line = b"prefix".to_vec();
            super::string(&mut line, case);
            let expected = [b"prefix".as_slice(), &serde_json::to_vec(case).unwrap()].concat();
            assert_eq!(line, expected, "{case:?}");
            escaped += usize::from(line.len() != case.len() + 8);
        }
        assert!(escaped > 15_000, "{escaped}");
    }
}
