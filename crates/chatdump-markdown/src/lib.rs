//! Markdown transcript output for chatdump: GitHub-flavored Markdown with YAML front matter,
//! readable raw and in any viewer, in which no message or name can create markup.
//!
//! See [`MarkdownWriter`] for the layout and the escaping guarantees.
//!
//! ```
//! use chatdump_core::export::{ExportContext, Exporter};
//! use chatdump_core::reader::{ChatReader, ReaderOptions};
//! use chatdump_markdown::MarkdownWriter;
//! use chatdump_transcript::TranscriptOptions;
//!
//! let csv = "id,participantId,sessionId,meetingId,displayName,pinned,isEdited,payloadType,payload,createdAt\n\
//!            m1,p1,s1,mt1,# Ann,false,false,TEXT_MESSAGE,**hi** <b>,2024-05-14T09:00:04.112Z\n";
//! let mut reader = ChatReader::new(csv.as_bytes(), "inline.csv", ReaderOptions::default())?;
//! let mut writer = MarkdownWriter::new(Vec::new(), TranscriptOptions::default());
//! writer.begin(&ExportContext::default())?;
//! writer.message(&reader.next_message().unwrap()?)?;
//! writer.finish()?;
//! let markdown = String::from_utf8(writer.into_inner()).unwrap();
//! assert!(markdown.starts_with("---\ntitle: \"Chat transcript\"\n"));
//! assert!(markdown.contains(r"**\# Ann**"));
//! assert!(markdown.contains(r"\*\*hi\*\* \<b\>"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#![cfg_attr(
    test,
    allow(
        clippy::disallowed_methods,
        reason = "unit tests may use the system temporary directory and the clock"
    )
)]

mod direct;
mod summary;

use std::fmt::Write as _;
use std::io::Write;

use chatdump_core::export::{ExportContext, ExportError, Exporter};
use chatdump_core::model::Message;
use chatdump_core::speech::SummaryFormat;
use chatdump_transcript::minijinja::value::{Value, ValueKind};
use chatdump_transcript::minijinja::{Environment, Error, ErrorKind};
use chatdump_transcript::templates::EscapeFn;
use chatdump_transcript::text::visible_bidi;
use chatdump_transcript::{
    DirectGroup, Flavor, RenderFn, Templates, TranscriptOptions, TranscriptWriter, WritePinFn,
};

/// The default templates, embedded from the top-level `templates/` directory.
const DEFAULTS: &[(&str, &str)] = &[
    (
        "transcript.md.jinja",
        include_str!("../../../templates/transcript.md.jinja"),
    ),
    (
        "group.md.jinja",
        include_str!("../../../templates/group.md.jinja"),
    ),
    (
        "pinned.md.jinja",
        include_str!("../../../templates/pinned.md.jinja"),
    ),
    (
        "speech.md.jinja",
        include_str!("../../../templates/speech.md.jinja"),
    ),
];

/// Writes a Markdown transcript.
///
/// # Layout
///
/// YAML front matter (`title`, `meeting_id`, `session_id`, `start`, `end`, `duration_seconds`,
/// `timezone`, `messages`, `participants`, `pinned`, `source`, `generator`, and
/// `generated_at` when the caller set it), a summary table, the pinned messages linked to where
/// they appear, the messages grouped into runs from the same person under a heading per day, and
/// the participants table. With a speech transcript, utterances are interleaved with the
/// messages by time, their groups headed `🎙 **Name**` and each marked `🎙`, and the summary
/// comes first, escaped like message text. Templates: `transcript.md.jinja`, `group.md.jinja`,
/// `speech.md.jinja` and `pinned.md.jinja` (see `docs/templates.md` for the variables each
/// receives).
///
/// # Escaping
///
/// Every value a template writes goes through [`escape_inline`]; message text through
/// [`escape_lines`]. Both backslash-escape (`CommonMark` §2.4) every character that could start
/// markup, so no display name or message can create a heading, list, table, link, image,
/// emphasis, code, HTML or an autolink, or leave its line or its message: line breaks are kept
/// as hard breaks inside the message's own paragraph, and there is no code fence to leave open.
/// Control characters are shown as Unicode control pictures and bidirectional controls as
/// `[U+202E]`, so neither a terminal nor a viewer can be tricked.
///
/// Speed: the default group and pinned templates are also written out in Rust (`direct.rs`),
/// used while they are not overridden; see [`TranscriptWriter`], *Templates and the fast path*.
///
/// Memory: as [`TranscriptWriter`]: one group of messages and the per-participant statistics.
pub struct MarkdownWriter<W: Write> {
    inner: TranscriptWriter<W, Markdown>,
}

impl<W: Write> MarkdownWriter<W> {
    /// Creates a writer over `out`.
    pub fn new(out: W, options: TranscriptOptions) -> Self {
        Self {
            inner: TranscriptWriter::new(out, Markdown, options),
        }
    }

    /// Returns the inner writer.
    pub fn into_inner(self) -> W {
        self.inner.into_inner()
    }
}

impl<W: chatdump_core::output::Sink> Exporter for MarkdownWriter<W> {
    fn begin(&mut self, context: &ExportContext) -> Result<(), ExportError> {
        self.inner.begin(context)
    }
    fn message(&mut self, message: &Message) -> Result<(), ExportError> {
        self.inner.message(message)
    }
    fn finish(&mut self) -> Result<(), ExportError> {
        self.inner.finish()
    }
}

/// The Markdown [`Flavor`].
#[derive(Debug, Clone, Copy, Default)]
pub struct Markdown;

impl Flavor for Markdown {
    const PAGE: &'static str = "transcript.md.jinja";
    const GROUP: &'static str = "group.md.jinja";
    const PINNED: &'static str = "pinned.md.jinja";
    const SPEECH: &'static str = "speech.md.jinja";

    fn defaults(&self) -> &'static [(&'static str, &'static str)] {
        DEFAULTS
    }

    fn markdown_escape(&self) -> Option<EscapeFn> {
        Some(escape_inline)
    }

    fn configure(&self, environment: &mut Environment<'static>) {
        environment.add_filter("yaml", yaml_filter);
        environment.add_filter("md_url", md_url_filter);
    }

    fn text_renderer(&self) -> RenderFn {
        |text| escape_lines(text, "")
    }

    fn summary_renderer(&self, format: SummaryFormat) -> RenderFn {
        match format {
            SummaryFormat::Markdown => summary::render_summary,
            SummaryFormat::Plain => |text| escape_lines(text, ""),
        }
    }

    fn quoted_renderer(&self) -> RenderFn {
        |text| {
            let mut out = String::with_capacity(text.len() + 8);
            direct::write_quoted(text, &mut out);
            out
        }
    }

    fn direct_group(&self) -> Option<DirectGroup> {
        Some(direct::GROUP)
    }

    fn direct_pin(&self) -> Option<WritePinFn> {
        Some(direct::write_pin)
    }

    fn direct_speech(&self) -> Option<DirectGroup> {
        Some(direct::SPEECH)
    }

    fn page_variables(
        &self,
        _templates: &Templates,
        _options: &TranscriptOptions,
        _speech: bool,
    ) -> Result<Vec<(&'static str, Value)>, ExportError> {
        Ok(Vec::new())
    }
}

/// Whether `c` is always backslash-escaped (the reference [`may_escape`] follows): it can open emphasis, code, links, images, HTML,
/// tables, strikethrough, math, headings or blockquotes, or an entity (`&`) or autolink (`@`).
#[cfg(test)]
fn always_escaped(c: char) -> bool {
    matches!(
        c,
        '\\' | '`' | '*' | '_' | '[' | ']' | '<' | '>' | '#' | '|' | '!' | '~' | '&' | '$' | '@'
    )
}

/// Appends `line` (no line end in it) escaped; `at_line_start` when it begins a Markdown line,
/// where list, heading-underline and thematic-break markers must be escaped too.
fn escape_line(line: &str, at_line_start: bool, out: &mut String) {
    let line = visible_bidi(line);
    let rest = if at_line_start {
        escape_line_start(&line, out)
    } else {
        0
    };
    escape_line_rest(&line, rest, out);
}

/// The start of a line: leading spaces and tabs as no-break spaces, a list, underline or
/// thematic-break marker, an ordered-list number; returns where the rest of the line starts,
/// which [`escape_line_rest`] writes.
fn escape_line_start(line: &str, out: &mut String) -> usize {
    let mut leading = true;
    for (index, c) in line.char_indices() {
        let next = index + c.len_utf8();
        if leading {
            match c {
                ' ' => {
                    out.push('\u{a0}');
                    continue;
                }
                '\t' => {
                    out.push_str("\u{a0}\u{a0}\u{a0}\u{a0}");
                    continue;
                }
                '-' | '+' | '=' => {
                    out.push('\\');
                    out.push(c);
                    return next;
                }
                _ => leading = false,
            }
        }
        if c.is_ascii_digit() {
            out.push(c);
            continue;
        }
        // `1.` or `1)` followed by a space, a tab or nothing starts an ordered list.
        let rest = &line[next..];
        if matches!(c, '.' | ')') && (rest.is_empty() || rest.starts_with([' ', '\t'])) {
            out.push('\\');
            out.push(c);
            return next;
        }
        return index;
    }
    line.len()
}

/// Whether the ASCII `byte` may need a backslash in the middle of a line: the characters
/// [`always_escaped`], `:` (the `://` rule) and `.` (the `www.` rule).
const fn may_escape(byte: u8) -> bool {
    matches!(
        byte,
        b'\\'
            | b'`'
            | b'*'
            | b'_'
            | b'['
            | b']'
            | b'<'
            | b'>'
            | b'#'
            | b'|'
            | b'!'
            | b'~'
            | b'&'
            | b'$'
            | b'@'
            | b':'
            | b'.'
    )
}

/// [`may_escape`] as a table, one entry per byte.
static MAY_ESCAPE: [bool; 256] = {
    let mut table = [false; 256];
    let mut byte = 0;
    while byte < 128 {
        table[byte] = may_escape(byte as u8);
        byte += 1;
    }
    table
};

/// Appends `line[from..]` escaped (not at a line start): runs of characters that need no
/// backslash are copied whole; the characters that may need one are all ASCII, so a run never
/// splits a character.
fn escape_line_rest(line: &str, from: usize, out: &mut String) {
    let bytes = line.as_bytes();
    // A quick look first: a line without any of them is copied whole. A fold rather than `any`:
    // without the early exit the compiler checks many bytes at once.
    if !bytes[from..]
        .iter()
        .fold(false, |found, &byte| found | may_escape(byte))
    {
        out.push_str(&line[from..]);
        return;
    }
    let mut run = from;
    for index in from..bytes.len() {
        let byte = bytes[index];
        if !MAY_ESCAPE[usize::from(byte)] {
            continue;
        }
        let escape = match byte {
            // `http://` and the like: GitHub turns bare URLs into links.
            b':' => bytes[index + 1..].starts_with(b"//"),
            // `www.example.com`, likewise.
            // (Only the three bytes before: looking further would be quadratic on long lines.)
            b'.' => index >= 3 && bytes[index - 3..index].eq_ignore_ascii_case(b"www"),
            _ => true,
        };
        if escape {
            out.push_str(&line[run..index]);
            out.push('\\');
            run = index;
        }
    }
    out.push_str(&line[run..]);
}

/// Escapes a value for one line of Markdown (names, labels, excerpts): line ends and tabs become
/// spaces, then every character that could start markup is backslash-escaped.
///
/// ```
/// let mut out = String::new();
/// chatdump_markdown::escape_inline("# [x](javascript:y)\n- z", &mut out);
/// assert_eq!(out, r"\# \[x\](javascript:y) - z");
/// ```
pub fn escape_inline(text: &str, out: &mut String) {
    if is_inert(text) {
        out.push_str(text);
    } else {
        escape_inline_fully(text, out);
    }
}

/// [`escape_inline`] without the shortcut for inert text.
fn escape_inline_fully(text: &str, out: &mut String) {
    if !text
        .bytes()
        .any(|byte| matches!(byte, b'\n' | b'\r' | b'\t'))
    {
        // Nothing to make a space: no copy of the text needed.
        escape_line(&chatdump_transcript::text::clean_controls(text), true, out);
        return;
    }
    let one_line: String = chatdump_transcript::text::clean_controls(text)
        .chars()
        .map(|c| {
            if matches!(c, '\n' | '\r' | '\t') {
                ' '
            } else {
                c
            }
        })
        .collect();
    escape_line(&one_line, true, out);
}

/// Whether [`escape_inline`] leaves `text` as it is: no control, line end, tab or bidirectional
/// control; none of the characters that are always escaped, nor `.` or `/` (the `www.` and `://`
/// rules) or `)` (the ordered-list rule); and no space, `-`, `+` or `=` at the start (the
/// line-start rules). Most names and every time label are like that, and skip the work.
pub(crate) fn is_inert(text: &str) -> bool {
    if text.starts_with([' ', '-', '+', '=']) {
        return false;
    }
    let mut suspect = false;
    for &byte in text.as_bytes() {
        match INERT_CLASS[usize::from(byte)] {
            Inert::Yes => {}
            Inert::No => return false,
            Inert::Maybe => suspect = true,
        }
    }
    // Only a lead byte of a C1 control or of a bidirectional control needs the characters.
    !suspect
        || text
            .chars()
            .all(|c| !c.is_control() && !chatdump_transcript::text::is_bidi_control(c))
}

/// What a byte says about [`is_inert`].
#[derive(Clone, Copy)]
enum Inert {
    /// Nothing.
    Yes,
    /// Not inert: controls, DEL, the characters [`always_escaped`], `.`, `/` and `)`.
    No,
    /// Maybe not: `0xC2` (C1 controls are `C2 80` to `C2 9F`), `0xD8` and `0xE2` (the lead
    /// bytes of the bidirectional controls).
    Maybe,
}

/// [`Inert`] for every byte.
static INERT_CLASS: [Inert; 256] = {
    let mut table = [Inert::Yes; 256];
    let mut byte = 0;
    while byte < 256 {
        let b = byte as u8;
        if b < 0x20 || b == 0x7f || (may_escape(b) && b != b':') || b == b'/' || b == b')' {
            table[byte] = Inert::No;
        } else if b == 0xc2 || b == 0xd8 || b == 0xe2 {
            table[byte] = Inert::Maybe;
        }
        byte += 1;
    }
    table
};

/// Escapes multi-line message text: each line as [`escape_inline`] would, with leading spaces
/// kept as no-break spaces, an empty line as a no-break space (so it cannot end the paragraph),
/// and lines joined by hard line breaks (`\` at the end of the line), each new line starting
/// with `prefix` (`"> "` inside a blockquote).
///
/// ```
/// let text = chatdump_markdown::escape_lines("```\n1. a\n\n<!--", "");
/// assert_eq!(text, "\\`\\`\\`\\\n1\\. a\\\n\u{a0}\\\n\\<\\!--");
/// ```
#[must_use]
pub fn escape_lines(text: &str, prefix: &str) -> String {
    let mut out = String::with_capacity(text.len() + text.len() / 8 + 4);
    escape_lines_into(text, prefix, &mut out);
    out
}

/// [`escape_lines`], appending to `out`.
pub fn escape_lines_into(text: &str, prefix: &str, out: &mut String) {
    for (index, line) in text.split('\n').enumerate() {
        if index > 0 {
            out.push_str("\\\n");
            out.push_str(prefix);
        }
        if line.is_empty() {
            out.push('\u{a0}');
        } else {
            escape_line(line, true, out);
        }
    }
}

/// `{{ value|yaml }}`: the value as YAML (strings double-quoted with every control, line
/// separator and bidirectional character escaped; numbers and booleans plain; none as `null`;
/// lists in flow style).
fn yaml_filter(value: &Value) -> Result<Value, Error> {
    let mut out = String::new();
    write_yaml(value, &mut out)?;
    Ok(Value::from_safe_string(out))
}

fn write_yaml(value: &Value, out: &mut String) -> Result<(), Error> {
    if value.is_none() || value.is_undefined() {
        out.push_str("null");
    } else if let Some(text) = value.as_str() {
        yaml_string(text, out);
    } else if value.is_number() || value.kind() == ValueKind::Bool {
        out.push_str(&value.to_string());
    } else if let Ok(items) = value.try_iter() {
        out.push('[');
        for (index, item) in items.enumerate() {
            if index > 0 {
                out.push_str(", ");
            }
            write_yaml(&item, out)?;
        }
        out.push(']');
    } else {
        return Err(Error::new(
            ErrorKind::InvalidOperation,
            "the yaml filter takes strings, numbers, booleans, none or lists",
        ));
    }
    Ok(())
}

/// Appends a YAML double-quoted string.
///
/// ```
/// let mut out = String::new();
/// chatdump_markdown::yaml_string("a\"b\\\n\u{2028}: #", &mut out);
/// assert_eq!(out, r#""a\"b\\\n\u2028: #""#);
/// ```
pub fn yaml_string(text: &str, out: &mut String) {
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            c if c.is_control()
                || matches!(c, '\u{2028}' | '\u{2029}' | '\u{feff}')
                || chatdump_transcript::text::is_bidi_control(c) =>
            {
                let _ = write!(out, "\\u{:04X}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// `{{ url|md_url }}`: a URL already checked against the scheme allow-list, percent-encoded so
/// it cannot end a Markdown link destination or a table cell early.
fn md_url_filter(url: &str) -> Value {
    let mut out = String::with_capacity(url.len());
    md_url(url, &mut out);
    Value::from_safe_string(out)
}

/// Appends what `{{ url|md_url }}` writes.
fn md_url(url: &str, out: &mut String) {
    let mut run = 0;
    for (index, byte) in url.bytes().enumerate() {
        if !MD_URL_KEPT[usize::from(byte)] {
            // A run starts after an encoded byte; it is empty when that byte was inside a
            // character (whose bytes are all encoded), else it starts at an ASCII byte.
            if run < index {
                out.push_str(&url[run..index]);
            }
            chatdump_transcript::text::push_percent(byte, out);
            run = index + 1;
        }
    }
    out.push_str(&url[run..]);
}

/// The bytes [`md_url`] keeps as they are: ASCII only (every byte of a non-ASCII character is
/// encoded).
static MD_URL_KEPT: [bool; 256] = {
    let mut table = [false; 256];
    let mut byte = 0;
    while byte < 128 {
        let b = byte as u8;
        table[byte] = b.is_ascii_alphanumeric() || {
            let kept = b"-._~:/?#@!$&+,;=%*'";
            let mut found = false;
            let mut k = 0;
            while k < kept.len() {
                found |= kept[k] == b;
                k += 1;
            }
            found
        };
        byte += 1;
    }
    table
};

#[cfg(test)]
mod tests {
    use super::*;

    /// The character-by-character escaping the run-based [`escape_line`] replaced, kept as the
    /// reference it must agree with.
    fn escape_line_reference(line: &str, at_line_start: bool, out: &mut String) {
        let line = visible_bidi(line);
        let mut leading = at_line_start;
        let mut digits_only = at_line_start;
        for (index, c) in line.char_indices() {
            if leading {
                match c {
                    ' ' => {
                        out.push('\u{a0}');
                        continue;
                    }
                    '\t' => {
                        out.push_str("\u{a0}\u{a0}\u{a0}\u{a0}");
                        continue;
                    }
                    '-' | '+' | '=' => {
                        out.push('\\');
                        out.push(c);
                        leading = false;
                        digits_only = false;
                        continue;
                    }
                    _ => leading = false,
                }
            }
            if digits_only && !c.is_ascii_digit() {
                digits_only = false;
                let rest = &line[index + c.len_utf8()..];
                if matches!(c, '.' | ')') && (rest.is_empty() || rest.starts_with([' ', '\t'])) {
                    out.push('\\');
                    out.push(c);
                    continue;
                }
            }
            let escape = always_escaped(c)
                || (c == ':' && line[index + c.len_utf8()..].starts_with("//"))
                || (c == '.'
                    && index >= 3
                    && line.as_bytes()[index - 3..index].eq_ignore_ascii_case(b"www"));
            if escape {
                out.push('\\');
            }
            out.push(c);
        }
    }

    /// The run-based escaping of a line, of a URL and the inert check agree with the
    /// character-by-character versions they replaced, with the special characters at the start,
    /// in the middle, at the end, side by side and absent.
    #[test]
    fn fast_paths_agree_with_the_reference() {
        let pieces = [
            "a", "Zoë", "田", " ", "\t", "-", "+", "=", "1", "12", ".", ")", ":", "//", "/", "www",
            "WwW", "ww", "#", "*", "\\", "`", "_", "[", "]", "<", ">", "|", "&", "@", "$", "!",
            "~", "\u{202e}", "\u{61c}", "…", "\u{85}", "\u{a0}", "😅", "%", "\"", "'", "?", "\n",
            "\r\n", "\r", "\u{1b}",
        ];
        let mut seed = 5_u64;
        for round in 0..200_000 {
            let mut text = String::new();
            for _ in 0..(seed % 8) {
                seed = seed
                    .wrapping_mul(6_364_136_223_846_793_005)
                    .wrapping_add(1_442_695_040_888_963_407);
                text.push_str(pieces[usize::try_from(seed >> 33).unwrap() % pieces.len()]);
            }
            seed = seed
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            let at_line_start = round % 2 == 0;
            let (mut fast, mut reference) = (String::from("x"), String::from("x"));
            escape_line(&text, at_line_start, &mut fast);
            escape_line_reference(&text, at_line_start, &mut reference);
            assert_eq!(fast, reference, "{text:?} {at_line_start}");

            let mut url = String::new();
            md_url(&text, &mut url);
            let mut expected = String::new();
            for byte in text.bytes() {
                if byte.is_ascii_alphanumeric() || b"-._~:/?#@!$&+,;=%*'".contains(&byte) {
                    expected.push(char::from(byte));
                } else {
                    let _ = write!(expected, "%{byte:02X}");
                }
            }
            assert_eq!(url, expected, "{text:?}");

            let inert = !text.starts_with([' ', '-', '+', '='])
                && text.chars().all(|c| {
                    if c.is_ascii() {
                        !c.is_ascii_control() && !always_escaped(c) && !matches!(c, '.' | '/' | ')')
                    } else {
                        !c.is_control() && !chatdump_transcript::text::is_bidi_control(c)
                    }
                });
            assert_eq!(is_inert(&text), inert, "{text:?}");

            let mut inline = String::new();
            escape_inline(&text, &mut inline);
            let one_line: String = chatdump_transcript::text::clean_controls(&text)
                .chars()
                .map(|c| {
                    if matches!(c, '\n' | '\r' | '\t') {
                        ' '
                    } else {
                        c
                    }
                })
                .collect();
            let mut expected = String::new();
            escape_line_reference(&one_line, true, &mut expected);
            assert_eq!(inline, expected, "{text:?}");
        }
    }

    #[test]
    fn line_starts() {
        for (input, expected) in [
            ("- a", r"\- a"),
            ("  + a", "\u{a0}\u{a0}\\+ a"),
            ("===", r"\==="),
            ("12) x", r"12\) x"),
            ("12a. x", "12a. x"),
            ("see https://x.example", r"see https\://x.example"),
            ("WWW.x.example", r"WWW\.x.example"),
            ("a\u{202e}b", r"a\[U+202E\]b"),
        ] {
            let mut out = String::new();
            escape_inline(input, &mut out);
            assert_eq!(out, expected, "{input:?}");
        }
    }

    fn message(id: &str, name: &str, at: &str) -> Message {
        Message {
            id: id.into(),
            session_id: "s".into(),
            meeting_id: "m".into(),
            participant_id: format!("p-{name}"),
            display_name: name.into(),
            pinned: false,
            edited: false,
            created_at: at.parse().unwrap(),
            payload_type: chatdump_core::model::PayloadType::Text,
            payload: format!("text {id}"),
            extra: Vec::new(),
            position: chatdump_core::model::Position::default(),
        }
    }

    #[test]
    fn groups_break_on_person_gap_and_day() {
        let mut writer = MarkdownWriter::new(Vec::new(), TranscriptOptions::default());
        writer.begin(&ExportContext::default()).unwrap();
        for (id, name, at) in [
            ("a", "Ann", "2024-05-14T23:50:00Z"),
            ("b", "Ann", "2024-05-14T23:54:59Z"),
            ("c", "Ann", "2024-05-14T23:59:59.5Z"),
            ("d", "Bo", "2024-05-14T23:59:59.9Z"),
            ("e", "Bo", "2024-05-15T00:00:01Z"),
        ] {
            writer.message(&message(id, name, at)).unwrap();
        }
        writer.finish().unwrap();
        let text = String::from_utf8(writer.into_inner()).unwrap();
        // a and b together (4 min 59 s apart); c alone (over 5 minutes after b); d; e on a new
        // day.
        assert_eq!(text.matches("\n**Ann**\n").count(), 2, "{text}");
        assert_eq!(text.matches("\n**Bo**\n").count(), 2, "{text}");
        assert!(text.contains("### Wednesday, 15 May 2024"));
        let day = text.find("### Wednesday").unwrap();
        assert!(text[day..].contains("text e") && !text[day..].contains("text d"));
    }

    /// Text [`is_inert`] accepts comes out of the full escaping unchanged.
    #[test]
    fn inert_text_needs_no_escaping() {
        let pieces = [
            "a", "Zoë", " ", "\t", "\n", "-", "+", "=", "1", "12", ".", ")", ":", "/", "//", "www",
            "#", "*", "\\", "`", "|", "&", "@", "$", "!", "~", "<", "\u{202e}", "\u{85}", "\u{a0}",
            "😅", ",", "(", "?", "\"",
        ];
        let mut seed = 7_u64;
        let mut inert = 0;
        for _ in 0..200_000 {
            let mut text = String::new();
            for _ in 0..(seed % 6) {
                seed = seed
                    .wrapping_mul(6_364_136_223_846_793_005)
                    .wrapping_add(1_442_695_040_888_963_407);
                text.push_str(pieces[usize::try_from(seed >> 33).unwrap() % pieces.len()]);
            }
            seed = seed
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            if is_inert(&text) {
                inert += 1;
                let mut fully = String::new();
                escape_inline_fully(&text, &mut fully);
                assert_eq!(fully, text, "{text:?}");
            }
        }
        assert!(inert > 10_000, "{inert}");
    }

    #[test]
    fn urls_cannot_break_out() {
        assert_eq!(
            md_url_filter("https://x.example/a b)(<|>\"é").as_str(),
            Some("https://x.example/a%20b%29%28%3C%7C%3E%22%C3%A9")
        );
    }
}
