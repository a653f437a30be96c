//! Text helpers both transcript formats share: control characters, names, anchors and URLs.

use std::borrow::Cow;
use std::fmt::Write as _;

/// The label shown for an empty display name.
pub const NO_NAME: &str = "(no name)";

/// Makes hostile text harmless to show anywhere, before any format-specific escaping.
///
/// - line ends are normalised to `\n` (a lone `\r` too);
/// - C0 controls other than `\n` and `\t` become their visible Unicode "control picture"
///   (`ESC` becomes `␛`), DEL becomes `␡` and C1 controls become `�`, so a transcript printed with
///   `cat` cannot recolour or move the cursor of a terminal, and NUL never reaches a parser.
///
/// Bidirectional controls are kept: HTML isolates message text (`dir="auto"`); Markdown shows
/// them visibly with [`visible_bidi`], and names, ids and URLs shown as text show them in both
/// formats ([`display_name`], [`clean_value`]).
///
/// ```
/// use chatdump_transcript::text::clean_controls;
/// assert_eq!(clean_controls("a\r\nb\u{1b}[31m\u{0}"), "a\nb␛[31m␀");
/// ```
#[must_use]
pub fn clean_controls(text: &str) -> Cow<'_, str> {
    if !has_controls(text) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\r' => {
                if chars.peek() != Some(&'\n') {
                    out.push('\n');
                }
            }
            '\n' | '\t' => out.push(c),
            '\u{0}'..='\u{1f}' => {
                out.push(char::from_u32(0x2400 + u32::from(c)).unwrap_or('\u{fffd}'));
            }
            '\u{7f}' => out.push('\u{2421}'),
            c if c.is_control() => out.push('\u{fffd}'),
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// Whether `text` has a control character (Unicode category Cc, what [`char::is_control`]
/// tests) other than `\n` and `\t`. Looks at bytes, which is faster than decoding characters:
/// C0 controls and DEL are single bytes, C1 controls (U+0080 to U+009F) are `0xC2` followed by
/// `0x80` to `0x9F` in UTF-8.
#[expect(
    clippy::needless_bitwise_bool,
    reason = "`|` without short-circuits lets the compiler check many bytes at once"
)]
fn has_controls(text: &str) -> bool {
    let bytes = text.as_bytes();
    // A quick look first (no control, line end, tab or `0xC2` at all: the common case), then
    // the exact one.
    // A fold rather than `any`: without the early exit the compiler checks many bytes at once.
    if !bytes.iter().fold(false, |found, &byte| {
        found | (byte < 0x20) | (byte == 0x7f) | (byte == 0xc2)
    }) {
        return false;
    }
    bytes.iter().enumerate().any(|(index, &byte)| {
        (byte < 0x20 && byte != b'\n' && byte != b'\t')
            || byte == 0x7f
            || (byte == 0xc2
                && bytes
                    .get(index + 1)
                    .is_some_and(|next| (0x80..=0x9f).contains(next)))
    })
}

/// A display name on one line: controls cleaned, bidirectional controls made visible (see
/// [`visible_bidi`]: a name must not be able to pass for another one), every line end and tab a
/// space, surrounding whitespace trimmed, and [`NO_NAME`] for an empty name.
///
/// ```
/// use chatdump_transcript::text::display_name;
/// assert_eq!(display_name("  Ann\n# Admin "), "Ann # Admin");
/// assert_eq!(display_name(" "), "(no name)");
/// ```
#[must_use]
pub fn display_name(name: &str) -> String {
    display_name_cow(name).into_owned()
}

/// [`display_name`], borrowing `name` when it is already one (most names have nothing to clean,
/// make visible, replace or trim).
#[must_use]
pub fn display_name_cow(name: &str) -> Cow<'_, str> {
    if !name.is_empty()
        && name.trim() == name
        && !name.chars().any(|c| c.is_control() || is_bidi_control(c))
    {
        return Cow::Borrowed(name);
    }
    let cleaned = clean_controls(name);
    let one_line: String = visible_bidi(&cleaned)
        .chars()
        .map(|c| if c == '\n' || c == '\t' { ' ' } else { c })
        .collect();
    let trimmed = one_line.trim();
    Cow::Owned(if trimmed.is_empty() {
        NO_NAME.to_owned()
    } else {
        trimmed.to_owned()
    })
}

/// Whether `c` is a bidirectional control: an embedding, override or isolate (LRE, RLE, PDF,
/// LRO, RLO, LRI, RLI, FSI, PDI), the characters that can make text display in an order other
/// than the one it is stored in (Trojan Source, CVE-2021-42574), or one of the invisible marks
/// (LRM, RLM, ALM), which cannot reorder a line but change how the punctuation and numbers
/// around them are placed and make two names that look the same differ.
#[must_use]
pub fn is_bidi_control(c: char) -> bool {
    matches!(
        c,
        '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{200e}' | '\u{200f}' | '\u{061c}'
    )
}

/// A value that is never meant to hold controls or right-to-left text shown as it is (ids,
/// payload types, URLs shown as text): [`clean_controls`], then [`visible_bidi`], so a link
/// or an id cannot pass for another one in either format.
///
/// ```
/// use chatdump_transcript::text::clean_value;
/// assert_eq!(clean_value("https://x.example/\u{202e}gnp.exe\u{1b}"), "https://x.example/[U+202E]gnp.exe␛");
/// ```
#[must_use]
pub fn clean_value(text: &str) -> Cow<'_, str> {
    match clean_controls(text) {
        Cow::Borrowed(text) => visible_bidi(text),
        Cow::Owned(text) => match visible_bidi(&text) {
            Cow::Borrowed(_) => Cow::Owned(text),
            Cow::Owned(shown) => Cow::Owned(shown),
        },
    }
}

/// Replaces bidirectional controls (see [`is_bidi_control`]) with a visible marker such as
/// `[U+202E]`, for formats that cannot isolate text (Markdown), and for names, ids and URLs in
/// every format.
///
/// ```
/// use chatdump_transcript::text::visible_bidi;
/// assert_eq!(visible_bidi("a\u{202e}b"), "a[U+202E]b");
/// ```
#[must_use]
pub fn visible_bidi(text: &str) -> Cow<'_, str> {
    if !text.chars().any(is_bidi_control) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        if is_bidi_control(c) {
            let _ = write!(out, "[U+{:04X}]", u32::from(c));
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// The fragment identifier of a message: `msg-` and the id, with every byte other than an ASCII
/// letter, digit or `-` written as `_` and two hex digits. The mapping is one-to-one, so two
/// different ids never share an anchor, and the result is safe in any HTML attribute, URL
/// fragment or Markdown link.
///
/// ```
/// use chatdump_transcript::text::anchor;
/// assert_eq!(anchor("8d3f-1e2a"), "msg-8d3f-1e2a");
/// assert_eq!(anchor("a b_\"c"), "msg-a_20b_5f_22c");
/// ```
#[must_use]
pub fn anchor(id: &str) -> String {
    let mut out = String::with_capacity(id.len() + 4);
    anchor_into(id, &mut out);
    out
}

/// The fragment identifier of an utterance of the speech transcript: `speech-` and its position
/// in time order (from 0). Chat anchors start with `msg-`, so the two never meet.
///
/// ```
/// assert_eq!(chatdump_transcript::text::speech_anchor(7), "speech-7");
/// ```
#[must_use]
pub fn speech_anchor(seq: u64) -> String {
    format!("speech-{seq}")
}

/// Appends [`anchor`] of `id` to `out`.
pub fn anchor_into(id: &str, out: &mut String) {
    out.push_str("msg-");
    let kept = |byte: u8| byte.is_ascii_alphanumeric() || byte == b'-';
    // A fold rather than `all`: without the early exit the compiler checks many bytes at once.
    if id.bytes().fold(true, |all, byte| all & kept(byte)) {
        out.push_str(id);
        return;
    }
    for byte in id.bytes() {
        if kept(byte) {
            out.push(char::from(byte));
        } else {
            let _ = write!(out, "_{byte:02x}");
        }
    }
}

/// A relative path (`/`-separated) as a link target: every byte but ASCII letters, digits,
/// `-`, `.`, `_`, `~` and `/` percent-encoded, so no name can read as a scheme, query or
/// fragment; a leading `/` cannot occur (paths are relative).
///
/// ```
/// use chatdump_transcript::text::relative_href;
/// assert_eq!(relative_href("my chat#1.media/ab-x.png"), "my%20chat%231.media/ab-x.png");
/// assert_eq!(relative_href("javascript:x/a"), "javascript%3Ax/a");
/// ```
#[must_use]
pub fn relative_href(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for byte in path.trim_start_matches('/').bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~' | b'/') {
            out.push(char::from(byte));
        } else {
            let _ = write!(out, "%{byte:02X}");
        }
    }
    out
}

/// Which URL schemes a link may have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UrlPolicy {
    /// `http:`, `https:` and `mailto:` (links people click).
    Link,
    /// `https:` only (images a browser loads by itself).
    Image,
}

/// Returns the URL when it is safe to put in a link (`href`) or image source, else `None` (the
/// URL is then shown as text): its scheme must be allowed by `policy` (compared ignoring case,
/// with nothing before it), and it must have no control character anywhere (browsers silently
/// remove tabs and line ends inside URLs, which is how `java\tscript:` slips past naive checks).
/// Spaces and the ASCII characters URLs may not contain (`"`, `<`, `>`, `\`, `^`, a backtick, `{`, `|`, `}`) are percent-encoded.
///
/// ```
/// use chatdump_transcript::text::{safe_url, UrlPolicy};
/// assert_eq!(safe_url("HTTPS://x.example/a b?c", UrlPolicy::Link).unwrap(), "HTTPS://x.example/a%20b?c");
/// assert_eq!(safe_url("javascript:alert(1)", UrlPolicy::Link), None);
/// assert_eq!(safe_url(" https://x.example", UrlPolicy::Link), None);
/// assert_eq!(safe_url("http://x.example/a.png", UrlPolicy::Image), None);
/// ```
#[must_use]
pub fn safe_url(url: &str, policy: UrlPolicy) -> Option<String> {
    if has_controls(url) || url.contains(['\n', '\t']) {
        return None;
    }
    let (scheme, rest) = url.split_once(':')?;
    let allowed = match policy {
        UrlPolicy::Link => {
            scheme.eq_ignore_ascii_case("http")
                || scheme.eq_ignore_ascii_case("https")
                || scheme.eq_ignore_ascii_case("mailto")
        }
        UrlPolicy::Image => scheme.eq_ignore_ascii_case("https"),
    };
    let has_host = !scheme.eq_ignore_ascii_case("mailto");
    if !allowed || (has_host && !rest.starts_with("//")) || rest.len() <= 2 {
        return None;
    }
    let encoded = |c: char| {
        matches!(
            c,
            ' ' | '"' | '<' | '>' | '\\' | '^' | '`' | '{' | '|' | '}'
        )
    };
    if !url.contains(encoded) {
        return Some(url.to_owned());
    }
    let mut out = String::with_capacity(url.len());
    for c in url.chars() {
        if encoded(c) {
            let _ = write!(out, "%{:02X}", u32::from(c));
        } else {
            out.push(c);
        }
    }
    Some(out)
}

/// Shortens `text` to at most `max_chars` characters on one line (line ends become spaces),
/// ending with `…` when something was cut. Used for pinned-message excerpts.
#[must_use]
pub fn excerpt(text: &str, max_chars: usize) -> String {
    let mut out = String::new();
    let mut chars = text.chars().map(|c| if c == '\n' { ' ' } else { c });
    for _ in 0..max_chars {
        match chars.next() {
            Some(c) => out.push(c),
            None => return out,
        }
    }
    if chars.next().is_some() {
        out.pop();
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn controls_are_visible() {
        assert_eq!(clean_controls("plain"), "plain");
        assert_eq!(clean_controls("a\rb\u{7f}\u{9b}c"), "a\nb␡�c");
    }

    /// The byte test for controls agrees with `char::is_control`, and names with nothing to
    /// clean take the shortcut with the same result as the full cleaning.
    #[test]
    fn shortcuts_agree_with_the_full_rules() {
        let pieces = [
            "a", "é", " ", "\n", "\t", "\r", "\u{0}", "\u{1b}", "\u{7f}", "\u{80}", "\u{9f}",
            "\u{a0}", "\u{c2}", "\u{100}", "\u{202e}", "\u{2066}", "\u{200f}", "\u{61c}",
            "\u{3000}", "😅", "田",
        ];
        let mut seed = 11_u64;
        for _ in 0..100_000 {
            let mut text = String::new();
            for _ in 0..(seed % 7) {
                seed = seed
                    .wrapping_mul(6_364_136_223_846_793_005)
                    .wrapping_add(1_442_695_040_888_963_407);
                text.push_str(pieces[usize::try_from(seed >> 33).unwrap() % pieces.len()]);
            }
            seed = seed
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            assert_eq!(
                has_controls(&text),
                text.chars()
                    .any(|c| c.is_control() && c != '\n' && c != '\t'),
                "{text:?}"
            );
            let cleaned = clean_controls(&text);
            let one_line: String = visible_bidi(&cleaned)
                .chars()
                .map(|c| if c == '\n' || c == '\t' { ' ' } else { c })
                .collect();
            let full = match one_line.trim() {
                "" => NO_NAME.to_owned(),
                trimmed => trimmed.to_owned(),
            };
            assert_eq!(display_name(&text), full, "{text:?}");
        }
    }

    #[test]
    fn anchors_are_injective() {
        assert_ne!(anchor("a_20"), anchor("a "));
        assert_eq!(anchor("a_20"), "msg-a_5f20");
    }

    #[test]
    fn url_policy() {
        for bad in [
            "JaVaScRiPt:alert(1)",
            "vbscript:msgbox",
            "data:text/html,<script>",
            "java\tscript:x",
            "https:",
            "https:/x",
            "//evil.example",
            "",
            "mailto:",
        ] {
            assert_eq!(safe_url(bad, UrlPolicy::Link), None, "{bad:?}");
        }
        assert!(safe_url("mailto:a@b.example", UrlPolicy::Link).is_some());
        assert!(safe_url("mailto:a@b.example", UrlPolicy::Image).is_none());
    }

    #[test]
    fn excerpts() {
        assert_eq!(excerpt("abc", 3), "abc");
        assert_eq!(excerpt("abcd", 3), "ab…");
        assert_eq!(excerpt("a\nb", 10), "a b");
    }
}
