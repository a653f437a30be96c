//! Making hostile text safe to echo on a terminal or in a log line.

use std::fmt::Write as _;

/// The length, in characters, that values quoted in error messages are shortened to.
pub const EXCERPT_CHARS: usize = 80;

/// Escapes `text` for a terminal and shortens it to about `max_chars` characters.
///
/// Control characters (C0, DEL, C1) and the invisible formatting and bidirectional controls used
/// in "Trojan Source" attacks are written as Rust-style escapes (`\n`, `\u{202e}`), so a quoted
/// value can neither move the cursor, recolour the terminal nor reorder what is shown around it.
/// A shortened value ends with `…`.
///
/// ```
/// use chatdump_core::escape::escape_for_terminal;
/// assert_eq!(escape_for_terminal("a\x1b[31mb\u{202e}", 80), "a\\u{1b}[31mb\\u{202e}");
/// assert_eq!(escape_for_terminal("abcdef", 4), "abc…");
/// ```
#[must_use]
pub fn escape_for_terminal(text: &str, max_chars: usize) -> String {
    let mut out = String::with_capacity(text.len().min(max_chars * 2));
    let mut chars = text.chars().peekable();
    let mut shown = 0;
    while let Some(c) = chars.next() {
        if shown + 1 >= max_chars && chars.peek().is_some() {
            out.push('…');
            return out;
        }
        push_escaped(&mut out, c);
        shown += 1;
    }
    out
}

/// Whether `c` must not reach a terminal as itself.
#[must_use]
pub fn is_unsafe_for_terminal(c: char) -> bool {
    c.is_control() || is_bidi_or_invisible(c)
}

/// Bidirectional controls and invisible formatting characters (Trojan Source, CVE-2021-42574).
#[must_use]
pub fn is_bidi_or_invisible(c: char) -> bool {
    matches!(
        c,
        '\u{061c}' | '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2060}'..='\u{2069}' | '\u{feff}'
    )
}

fn push_escaped(out: &mut String, c: char) {
    match c {
        '\n' => out.push_str("\\n"),
        '\r' => out.push_str("\\r"),
        '\t' => out.push_str("\\t"),
        c if is_unsafe_for_terminal(c) => {
            let _ = write!(out, "\\u{{{:x}}}", u32::from(c));
        }
        c => out.push(c),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shortens_long_values() {
        let long = "é".repeat(200);
        let short = escape_for_terminal(&long, EXCERPT_CHARS);
        assert_eq!(short.chars().count(), EXCERPT_CHARS);
        assert!(short.ends_with('…'));
        assert_eq!(escape_for_terminal(&"x".repeat(80), 80), "x".repeat(80));
    }

    #[test]
    fn escapes_controls() {
        assert_eq!(
            escape_for_terminal("a\u{7}\u{9b}\u{2066}z", 80),
            "a\\u{7}\\u{9b}\\u{2066}z"
        );
    }
}
