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

/// Whether any byte of `bytes` passes `test`, looked at in blocks of 16 bytes: with a `test`
/// made of comparisons joined by `|` (no `||`, no `matches!`), the compiler checks each block
/// with a few vector instructions, where a byte-by-byte `any` (or even a `fold` over the whole
/// slice) is not vectorised. The last, shorter block is checked byte by byte. Worth it for long
/// text (a link, a message); for a name the plain `fold` costs less.
#[inline]
fn any_byte(bytes: &[u8], test: impl Fn(u8) -> bool) -> bool {
    let mut blocks = bytes.chunks_exact(16);
    for block in &mut blocks {
        let block: &[u8; 16] = block.try_into().expect("chunks_exact(16) gives 16 bytes");
        if block.iter().fold(false, |found, &byte| found | test(byte)) {
            return true;
        }
    }
    blocks.remainder().iter().any(|&byte| test(byte))
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

/// Whether `bytes` (UTF-8) hold a control character, `\n` and `\t` included: a C0 control, DEL,
/// or a C1 control (`0xC2` followed by `0x80` to `0x9F`). Byte for byte the same answer as
/// `chars().any(char::is_control)`.
fn has_any_control(bytes: &[u8]) -> bool {
    bytes.iter().enumerate().any(|(index, &byte)| {
        byte < 0x20
            || byte == 0x7f
            || (byte == 0xc2
                && bytes
                    .get(index + 1)
                    .is_some_and(|next| (0x80..=0x9f).contains(next)))
    })
}

/// Whether `bytes` (UTF-8) hold a bidirectional control ([`is_bidi_control`]), looking at bytes:
/// U+061C is `D8 9C`, U+200E and U+200F are `E2 80 8E` / `8F`, U+202A to U+202E are
/// `E2 80 AA` to `AE`, U+2066 to U+2069 are `E2 81 A6` to `A9`. Only the `0xD8` and `0xE2`
/// bytes are looked at, found with `memchr2` (vectorised): text has few or none (`0xE2` also
/// leads `…`, `’`, `—`, which are not controls).
fn has_bidi_controls(bytes: &[u8]) -> bool {
    memchr::memchr2_iter(0xd8, 0xe2, bytes).any(|index| match bytes[index] {
        0xd8 => bytes.get(index + 1) == Some(&0x9c),
        0xe2 => match (bytes.get(index + 1), bytes.get(index + 2)) {
            (Some(0x80), Some(&next)) => matches!(next, 0x8e | 0x8f | 0xaa..=0xae),
            (Some(0x81), Some(&next)) => matches!(next, 0xa6..=0xa9),
            _ => false,
        },
        _ => false,
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
#[expect(
    clippy::needless_bitwise_bool,
    reason = "`|` without short-circuits lets the compiler check many bytes at once"
)]
pub fn display_name_cow(name: &str) -> Cow<'_, str> {
    let bytes = name.as_bytes();
    // Any control, `0xC2` (C1 controls), `0xD8` or `0xE2` (bidirectional controls) sends the
    // name to the full cleaning, which leaves it as it is when none of them was one.
    // A fold rather than `any`: without the early exit the compiler checks many bytes at once.
    let suspect = |found: bool, &byte: &u8| {
        found | (byte < 0x20) | (byte == 0x7f) | (byte == 0xc2) | (byte == 0xd8) | (byte == 0xe2)
    };
    if !bytes.iter().fold(false, suspect)
        && name.chars().next().is_some_and(|c| !c.is_whitespace())
        && name.chars().next_back().is_some_and(|c| !c.is_whitespace())
    {
        return Cow::Borrowed(name);
    }
    if !name.is_empty()
        && name.trim() == name
        && !has_any_control(bytes)
        && !has_bidi_controls(bytes)
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
    if !has_bidi_controls(text.as_bytes()) {
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
#[expect(
    clippy::needless_bitwise_bool,
    clippy::manual_range_contains,
    reason = "comparisons joined by `&` and `|` let the compiler check a block of bytes at once"
)]
pub fn anchor_into(id: &str, out: &mut String) {
    out.push_str("msg-");
    let kept = |byte: u8| byte.is_ascii_alphanumeric() || byte == b'-';
    // In blocks of 16 bytes: an id (a UUID, 36 bytes) is checked with a few vector
    // instructions, where a byte-by-byte fold cost about 150 instructions.
    if !any_byte(id.as_bytes(), |byte| {
        !((byte >= b'0') & (byte <= b'9')
            | (byte >= b'a') & (byte <= b'z')
            | (byte >= b'A') & (byte <= b'Z')
            | (byte == b'-'))
    }) {
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
#[expect(
    clippy::needless_bitwise_bool,
    reason = "`|` without short-circuits lets the compiler check many bytes at once"
)]
pub fn safe_url(url: &str, policy: UrlPolicy) -> Option<String> {
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
    // The characters encoded are all ASCII, so runs between them are whole characters.
    let encoded = |byte: u8| {
        matches!(
            byte,
            b' ' | b'"' | b'<' | b'>' | b'\\' | b'^' | b'`' | b'{' | b'|' | b'}'
        )
    };
    let bytes = url.as_bytes();
    // A quick look first (no control, `0xC2` or character to encode: the common case), then the
    // exact one. A fold rather than `any`: without the early exit the compiler checks many
    // bytes at once.
    // In blocks of 16 bytes: a link is long (a presigned one is about 450 bytes).
    if !any_byte(bytes, |byte| {
        (byte < 0x20)
            | (byte == 0x7f)
            | (byte == 0xc2)
            | (byte == b' ')
            | (byte == b'"')
            | (byte == b'<')
            | (byte == b'>')
            | (byte == b'\\')
            | (byte == b'^')
            | (byte == b'`')
            | (byte == b'{')
            | (byte == b'|')
            | (byte == b'}')
    }) {
        return Some(url.to_owned());
    }
    // Every control (line ends and tabs included) refuses the URL; C1 controls are `0xC2`
    // followed by `0x80` to `0x9F`.
    if has_any_control(bytes) {
        return None;
    }
    let mut out = String::with_capacity(url.len());
    let mut run = 0;
    for (index, &byte) in bytes.iter().enumerate() {
        if encoded(byte) {
            out.push_str(&url[run..index]);
            push_percent(byte, &mut out);
            run = index + 1;
        }
    }
    out.push_str(&url[run..]);
    Some(out)
}

/// [`safe_url`] of `url` with [`UrlPolicy::Image`], given `link`, what it gives with
/// [`UrlPolicy::Link`]: the two differ only in the schemes allowed, and `https:` (the one image
/// scheme) is a link scheme too, so the image source is the link when the scheme is `https:`
/// and none otherwise; the URL is not looked at twice.
///
/// ```
/// use chatdump_transcript::text::{image_url_from_link, safe_url, UrlPolicy};
/// for url in ["https://x.example/a b.png", "http://x.example/a.png", "javascript:x"] {
///     let link = safe_url(url, UrlPolicy::Link);
///     assert_eq!(image_url_from_link(url, link.as_deref()), safe_url(url, UrlPolicy::Image));
/// }
/// ```
#[must_use]
pub fn image_url_from_link(url: &str, link: Option<&str>) -> Option<String> {
    let https = url
        .split_once(':')
        .is_some_and(|(scheme, _)| scheme.eq_ignore_ascii_case("https"));
    link.filter(|_| https).map(str::to_owned)
}

/// Appends `%` and the two upper-case hex digits of `byte`.
pub fn push_percent(byte: u8, out: &mut String) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    out.push('%');
    out.push(char::from(HEX[usize::from(byte >> 4)]));
    out.push(char::from(HEX[usize::from(byte & 0xf)]));
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
            "\u{3000}", "😅", "田", "…", "\u{200d}", "\u{2069}", "\u{206a}", "\u{2065}",
            "\u{202f}", "\u{2029}", "\u{61b}", "\u{61d}", "\u{9c}", "ؠ",
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
            assert_eq!(
                has_bidi_controls(text.as_bytes()),
                text.chars().any(is_bidi_control),
                "{text:?}"
            );
            assert_eq!(
                visible_bidi(&text).into_owned(),
                text.chars().fold(String::new(), |mut shown, c| {
                    if is_bidi_control(c) {
                        let _ = write!(shown, "[U+{:04X}]", u32::from(c));
                    } else {
                        shown.push(c);
                    }
                    shown
                }),
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

    /// The block-wise look finds a byte wherever it is: first, last, on either side of a block
    /// boundary, in the short tail, or nowhere, for every length up to three blocks and more.
    #[test]
    fn any_byte_finds_every_position() {
        for len in 0..50 {
            assert!(!any_byte(&vec![b'a'; len], |byte| byte == b'<'));
            for at in 0..len {
                let mut bytes = vec![b'a'; len];
                bytes[at] = b'<';
                assert!(any_byte(&bytes, |byte| byte == b'<'), "{len} {at}");
            }
        }
    }

    /// The block-wise look of [`anchor_into`] keeps exactly the ids the byte-by-byte rule
    /// keeps: every byte value at every position of ids up to three blocks long (the first,
    /// the last, either side of a block boundary, the tail), compared with the general path.
    #[test]
    fn anchor_shortcut_agrees_with_the_byte_rule() {
        fn reference(id: &str) -> String {
            let mut out = String::from("msg-");
            for byte in id.bytes() {
                if byte.is_ascii_alphanumeric() || byte == b'-' {
                    out.push(char::from(byte));
                } else {
                    out.push_str(&format!("_{byte:02x}"));
                }
            }
            out
        }
        let alphabet = b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ-";
        let mut checked = 0;
        for len in 0..50_usize {
            let base: String = (0..len)
                .map(|index| char::from(alphabet[(index * 7 + len) % alphabet.len()]))
                .collect();
            let mut out = String::new();
            anchor_into(&base, &mut out);
            assert_eq!(out, reference(&base), "{base:?}");
            for at in 0..len {
                for replacement in (0_u8..0x80).map(char::from).chain(['é', '田', '\u{202e}']) {
                    let mut id = base.clone().into_bytes();
                    let mut bytes = [0; 4];
                    let encoded = replacement.encode_utf8(&mut bytes).as_bytes();
                    id.splice(at..=at, encoded.iter().copied());
                    let id = String::from_utf8(id).unwrap();
                    let mut out = String::from("x");
                    anchor_into(&id, &mut out);
                    assert_eq!(out[1..], reference(&id), "{id:?}");
                    checked += 1;
                }
            }
        }
        assert!(checked > 100_000);
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
        for bad in [
            "https://x.example/\u{85}",
            "https://x\n.example",
            "https://x.example\t",
        ] {
            assert_eq!(safe_url(bad, UrlPolicy::Link), None, "{bad:?}");
        }
    }

    /// The characters URLs may not hold are encoded at the start, in the middle and at the end
    /// of the part after the scheme, side by side, and a URL without them comes back whole.
    #[test]
    fn url_encoding() {
        for (url, expected) in [
            ("https://x.example/a", "https://x.example/a"),
            (
                "https://x.example/é田?q=1&r=%20",
                "https://x.example/é田?q=1&r=%20",
            ),
            ("https://x.example/ a", "https://x.example/%20a"),
            ("https://x.example/a\"b", "https://x.example/a%22b"),
            ("https://x.example/a}", "https://x.example/a%7D"),
            (
                "https://<x>.example/{|}^`\\é",
                "https://%3Cx%3E.example/%7B%7C%7D%5E%60%5Cé",
            ),
            ("mailto:<a@b.example>", "mailto:%3Ca@b.example%3E"),
        ] {
            assert_eq!(
                safe_url(url, UrlPolicy::Link).as_deref(),
                Some(expected),
                "{url:?}"
            );
        }
        assert!(safe_url("mailto:a@b.example", UrlPolicy::Image).is_none());
    }

    /// The block-wise quick look of [`safe_url`] and [`image_url_from_link`] agree with the
    /// rules written character by character, on generated URLs: allowed and refused schemes,
    /// every ASCII byte, a C1 control, `0xC2` without a control and other non-ASCII characters
    /// at every position of bodies up to three blocks long.
    #[test]
    fn url_shortcuts_agree_with_the_rules() {
        fn reference(url: &str, policy: UrlPolicy) -> Option<String> {
            let (scheme, rest) = url.split_once(':')?;
            let scheme = scheme.to_ascii_lowercase();
            let allowed = match policy {
                UrlPolicy::Link => ["http", "https", "mailto"].contains(&scheme.as_str()),
                UrlPolicy::Image => scheme == "https",
            };
            if !allowed || (scheme != "mailto" && !rest.starts_with("//")) || rest.len() <= 2 {
                return None;
            }
            if url.chars().any(char::is_control) {
                return None;
            }
            let mut out = String::new();
            for c in url.chars() {
                if " \"<>\\^`{|}".contains(c) {
                    out.push_str(&format!("%{:02X}", u32::from(c)));
                } else {
                    out.push(c);
                }
            }
            Some(out)
        }
        let mut checked = 0;
        for prefix in [
            "https://",
            "HTTPS://",
            "http://",
            "mailto:",
            "javascript:",
            "data:",
            "",
        ] {
            for len in 0..50_usize {
                let base: String = (0..len)
                    .map(|index| char::from(b"abc/?&=%.-_~XYZ019"[(index * 5 + len) % 18]))
                    .collect();
                let mut bodies = vec![base.clone()];
                for at in 0..len {
                    for special in (0_u8..0x80)
                        .map(char::from)
                        .chain(['\u{85}', '\u{a0}', 'é', '田'])
                    {
                        let mut body = base.clone();
                        body.replace_range(at..=at, special.encode_utf8(&mut [0; 4]));
                        bodies.push(body);
                    }
                }
                for body in bodies {
                    let url = format!("{prefix}{body}");
                    let link = safe_url(&url, UrlPolicy::Link);
                    assert_eq!(link, reference(&url, UrlPolicy::Link), "{url:?}");
                    let image = reference(&url, UrlPolicy::Image);
                    assert_eq!(safe_url(&url, UrlPolicy::Image), image, "{url:?}");
                    assert_eq!(image_url_from_link(&url, link.as_deref()), image, "{url:?}");
                    checked += 1;
                }
            }
        }
        assert!(checked > 500_000);
    }

    #[test]
    fn excerpts() {
        assert_eq!(excerpt("abc", 3), "abc");
        assert_eq!(excerpt("abcd", 3), "ab…");
        assert_eq!(excerpt("a\nb", 10), "a b");
    }
}
