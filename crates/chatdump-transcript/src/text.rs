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
/// Bidirectional controls are kept: HTML isolates them (`<bdi>`, `dir="auto"`); Markdown shows
/// them visibly with [`visible_bidi`].
///
/// ```
/// use chatdump_transcript::text::clean_controls;
/// assert_eq!(clean_controls("a\r\nb\u{1b}[31m\u{0}"), "a\nb␛[31m␀");
/// ```
#[must_use]
pub fn clean_controls(text: &str) -> Cow<'_, str> {
    if !text
        .chars()
        .any(|c| c.is_control() && c != '\n' && c != '\t')
    {
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
    let cleaned = clean_controls(name);
    let one_line: String = visible_bidi(&cleaned)
        .chars()
        .map(|c| if c == '\n' || c == '\t' { ' ' } else { c })
        .collect();
    let trimmed = one_line.trim();
    if trimmed.is_empty() {
        NO_NAME.to_owned()
    } else {
        trimmed.to_owned()
    }
}

/// Whether `c` is a bidirectional embedding, override or isolate control: the characters that
/// can make text display in an order other than the one it is stored in (Trojan Source,
/// CVE-2021-42574).
#[must_use]
pub fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// Replaces bidirectional controls with a visible marker such as `[U+202E]`, for formats that
/// cannot isolate text (Markdown).
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
    out.push_str("msg-");
    for byte in id.bytes() {
        if byte.is_ascii_alphanumeric() || byte == b'-' {
            out.push(char::from(byte));
        } else {
            let _ = write!(out, "_{byte:02x}");
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
    if url.chars().any(char::is_control) {
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
    let mut out = String::with_capacity(url.len());
    for c in url.chars() {
        if matches!(
            c,
            ' ' | '"' | '<' | '>' | '\\' | '^' | '`' | '{' | '|' | '}'
        ) {
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
