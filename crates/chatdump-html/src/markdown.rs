//! Message text to HTML: the one function that owns the pulldown-cmark options, and the event
//! filter that makes hostile Markdown inert.

use std::borrow::Cow;

use chatdump_transcript::text::{UrlPolicy, clean_controls, safe_url};
use pulldown_cmark::{CodeBlockKind, CowStr, Event, LinkType, Options, Parser, Tag, TagEnd, html};

/// Message text longer than this (in bytes) is shown as escaped plain text instead of being
/// parsed as Markdown, so no single message can make rendering slow.
pub const MAX_MARKDOWN_BYTES: usize = 64 << 10;

/// The Markdown extensions message text may use: strikethrough and task lists. Tables,
/// footnotes (pulldown-cmark#1076), math and metadata blocks stay off.
fn options() -> Options {
    Options::ENABLE_STRIKETHROUGH | Options::ENABLE_TASKLISTS
}

/// Renders message text as HTML.
///
/// - Control characters other than tab and line feed, written or made by a character reference
///   (`&#27;`), are shown as Unicode control pictures (see [`clean_controls`]).
/// - Raw HTML (`Event::Html`, `Event::InlineHtml`) is turned into text, so it is escaped and
///   shown, never passed through.
/// - Every link keeps its target only when the scheme is `http`, `https` or `mailto` (see
///   [`safe_url`]); other links are reduced to their text.
/// - Images are never loaded: an image written in text becomes a link to it (same scheme rule).
/// - Headings become bold paragraphs, so message text cannot break the page's outline.
/// - Bare `http://` and `https://` URLs in text become links.
/// - Text over [`MAX_MARKDOWN_BYTES`] is escaped plain text in a `<p class="plain">`.
///
/// ```
/// let html = chatdump_html::render_text("**hi** <script>x</script> [a](javascript:b) https://x.example");
/// assert_eq!(
///     html,
///     "<p><strong>hi</strong> &lt;script&gt;x&lt;/script&gt; a <a href=\"https://x.example\">https://x.example</a></p>\n"
/// );
/// ```
#[must_use]
pub fn render_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + text.len() / 2 + 16);
    render_text_into(text, &mut out);
    out
}

/// [`render_text`], appending to `out`.
pub fn render_text_into(text: &str, out: &mut String) {
    // The writer cleans text before it gets here; a library caller may not have, and every
    // path below must agree with the parser's, which cleans what it decodes.
    let text = &*clean_controls(text);
    if text.len() > MAX_MARKDOWN_BYTES {
        out.push_str("<p class=\"plain\">");
        escape_html(text, out);
        out.push_str("</p>\n");
        return;
    }
    if is_plain(text) {
        out.push_str("<p>");
        escape_html(text, out);
        out.push_str("</p>\n");
        return;
    }
    if is_literal_paragraph(text) {
        out.push_str("<p>");
        out.push_str(text);
        out.push_str("</p>\n");
        return;
    }
    if is_literal_lines(text) {
        write_literal_lines(text, out);
        return;
    }
    render_with_parser(text, out);
}

/// Whether pulldown-cmark and the [`Filter`] make `text` paragraphs of literal lines: every
/// line is blank (spaces only) or, after at most three spaces (which the parser drops), a
/// [`is_literal_line`]; at least one is not blank. Blank lines separate paragraphs, and each
/// line end inside a paragraph is a soft break, which the filter makes `<br />`. Text that has
/// gone through [`clean_controls`] has no `\r`. The tests check it against the parser.
fn is_literal_lines(text: &str) -> bool {
    let single_line = !text.contains('\n');
    let mut any = false;
    for line in text.split('\n') {
        let content = line.trim_start_matches(' ');
        if content.is_empty() {
            continue;
        }
        if line.len() - content.len() > 3 || !is_literal_line(content, single_line) {
            return false;
        }
        any = true;
    }
    any
}

/// Whether one line (its indentation removed) is literal text to the parser, as in
/// [`is_literal_paragraph`], except that these are allowed too, and escaped as the parser
/// escapes text (`&`, `<`, `>`; quotes stay as they are):
///
/// - `>` after the first character (no block quote starts there);
/// - `&` followed by anything but an ASCII letter, digit or `#` (no entity starts there);
/// - `\` followed, on the same line, by anything but ASCII punctuation (no escape: the
///   backslash is literal);
/// - `<` followed by a space; and in text of one line (`single_line`), `<` after the first
///   character when no `:` or `@` comes before the next space, `<` or `>` (no autolink starts
///   there). Raw HTML would start there, which the [`Filter`] turns back into the same text;
///   on one line it cannot swallow a line end.
#[expect(
    clippy::needless_bitwise_bool,
    reason = "`|` without short-circuits lets the compiler check many bytes at once"
)]
fn is_literal_line(line: &str, single_line: bool) -> bool {
    let bytes = line.as_bytes();
    let (Some(&first), Some(&last)) = (bytes.first(), bytes.last()) else {
        return false;
    };
    if matches!(
        first,
        b' ' | b'\t' | b'#' | b'-' | b'+' | b'=' | b'|' | b'<' | b'>'
    ) || matches!(last, b' ' | b'\t' | b'<' | b'&')
    {
        return false;
    }
    let digits = bytes
        .iter()
        .take_while(|byte| byte.is_ascii_digit())
        .count();
    if digits > 0 && matches!(bytes.get(digits), Some(b'.' | b')')) {
        return false;
    }
    // A fold rather than `any`: without the early exit the compiler checks many bytes at once.
    if bytes.iter().fold(false, |found, &byte| {
        found | (byte < 0x20) | matches!(byte, 0x7f | b'`' | b'*' | b'_' | b'~' | b'[' | b']')
    }) || line.contains("://")
    {
        return false;
    }
    // `\\`, `<` and `&` only where nothing starts (a few of them, if any, in a line).
    memchr::memchr3_iter(b'\\', b'<', b'&', bytes).all(|at| {
        let next = bytes.get(at + 1).copied();
        match bytes[at] {
            b'\\' => next.is_some_and(|next| !next.is_ascii_punctuation()),
            b'&' => next.is_some_and(|next| !next.is_ascii_alphanumeric() && next != b'#'),
            _ => {
                next == Some(b' ')
                    || (single_line
                        && next.is_some()
                        && !bytes[at + 1..]
                            .iter()
                            .take_while(|&&byte| !matches!(byte, b' ' | b'<' | b'>'))
                            .any(|&byte| matches!(byte, b':' | b'@')))
            }
        }
    })
}

/// Writes what the parser makes of text [`is_literal_lines`] accepts.
fn write_literal_lines(text: &str, out: &mut String) {
    let mut in_paragraph = false;
    for line in text.split('\n') {
        let content = line.trim_start_matches(' ');
        if content.is_empty() {
            if in_paragraph {
                out.push_str("</p>\n");
                in_paragraph = false;
            }
            continue;
        }
        out.push_str(if in_paragraph { "<br />\n" } else { "<p>" });
        in_paragraph = true;
        escape_body_text(content, out);
    }
    if in_paragraph {
        out.push_str("</p>\n");
    }
}

/// Appends `text` with `&`, `<` and `>` escaped, as the parser writes text.
fn escape_body_text(text: &str, out: &mut String) {
    let mut run = 0;
    for (index, byte) in text.bytes().enumerate() {
        let replacement = match byte {
            b'&' => "&amp;",
            b'<' => "&lt;",
            b'>' => "&gt;",
            _ => continue,
        };
        out.push_str(&text[run..index]);
        out.push_str(replacement);
        run = index + 1;
    }
    out.push_str(&text[run..]);
}

/// Renders plain text (a plain-text summary) as HTML: controls cleaned as in [`render_text`],
/// everything escaped, line ends kept (`<p class="plain">`, shown with `white-space: pre-wrap`).
///
/// ```
/// # use chatdump_html::render_plain;
/// assert_eq!(render_plain("**a** <b>\nc"), "<p class=\"plain\">**a** &lt;b&gt;\nc</p>\n");
/// ```
#[must_use]
pub fn render_plain(text: &str) -> String {
    let text = &*clean_controls(text);
    let mut out = String::with_capacity(text.len() + 24);
    out.push_str("<p class=\"plain\">");
    escape_html(text, &mut out);
    out.push_str("</p>\n");
    out
}

/// Renders with pulldown-cmark and the event [`Filter`]: after [`clean_controls`], the
/// definition of [`render_text`], which the shortcuts before it must agree with.
fn render_with_parser(text: &str, out: &mut String) {
    let mut filter = Filter::default();
    let mut events = Vec::new();
    for event in Parser::new_ext(text, options()).map(clean_event) {
        filter.push(event, &mut events);
    }
    filter.flush_text(&mut events);
    html::push_html(out, events.into_iter());
}

/// Cleans what the parser made of the text again, as the text itself was cleaned: character
/// references decode to any character (`&#27;` is ESC, `&#13;` a carriage return), in text,
/// link and image titles and code-fence info strings, so without this a dump could still put a
/// raw control character in the page.
fn clean_event(event: Event<'_>) -> Event<'_> {
    match event {
        Event::Text(text) => Event::Text(cleaned(text)),
        Event::Start(Tag::Link {
            link_type,
            dest_url,
            title,
            id,
        }) => Event::Start(Tag::Link {
            link_type,
            dest_url,
            title: cleaned(title),
            id,
        }),
        Event::Start(Tag::Image {
            link_type,
            dest_url,
            title,
            id,
        }) => Event::Start(Tag::Image {
            link_type,
            dest_url,
            title: cleaned(title),
            id,
        }),
        Event::Start(Tag::CodeBlock(CodeBlockKind::Fenced(info))) => {
            Event::Start(Tag::CodeBlock(CodeBlockKind::Fenced(cleaned(info))))
        }
        other => other,
    }
}

/// `text` with [`clean_controls`], unchanged (not copied) when it has no control character.
fn cleaned(text: CowStr<'_>) -> CowStr<'_> {
    let clean = match clean_controls(&text) {
        Cow::Owned(clean) => Some(clean),
        Cow::Borrowed(_) => None,
    };
    clean.map_or(text, CowStr::from)
}

/// Whether `text` is one line with nothing Markdown would act on, so escaping gives the same
/// result as parsing (the common case, and much faster).
fn is_plain(text: &str) -> bool {
    !text.is_empty()
        && !text.starts_with([' ', '\t'])
        && !text.ends_with([' ', '\t'])
        // A fold rather than `any`: without the early exit the compiler checks many bytes at
        // once.
        && !text.bytes().fold(false, |found, byte| {
            found | matches!(
                byte,
                b'\n'
                    | b'\r'
                    | b'\\'
                    | b'`'
                    | b'*'
                    | b'_'
                    | b'['
                    | b']'
                    | b'<'
                    | b'>'
                    | b'#'
                    | b'!'
                    | b'~'
                    | b'&'
                    | b'-'
                    | b'+'
                    | b'='
                    | b'|'
                    | b':'
                    | b'.'
                    | b')'
            )
        })
}

/// Whether pulldown-cmark and the [`Filter`] make `text` one paragraph holding exactly `text`
/// with nothing escaped: one line, no leading or trailing space or tab, no control character;
/// none of `\\`, `` ` ``, `*`, `_`, `~`, `[`, `]`, `<`, `>` and `&` (escapes, code, emphasis,
/// strikethrough, links and images, HTML and autolinks, entities, and every character the body
/// text escaping changes); no `://` (a bare URL [`linkify`] would link); and no block start: the
/// line does not begin with `#`, `-`, `+`, `=` or `|`, or with digits followed by `.` or `)`.
/// With tables, footnotes, math and smart punctuation off, what is left (`.`, `:`, `!`, `#` in
/// the line, quotes, `(`, `)` …) is literal text. The tests check it against the parser.
#[expect(
    clippy::needless_bitwise_bool,
    reason = "`|` without short-circuits lets the compiler check many bytes at once"
)]
fn is_literal_paragraph(text: &str) -> bool {
    let bytes = text.as_bytes();
    let (Some(&first), Some(&last)) = (bytes.first(), bytes.last()) else {
        return false;
    };
    if matches!(first, b' ' | b'\t' | b'#' | b'-' | b'+' | b'=' | b'|')
        || matches!(last, b' ' | b'\t')
    {
        return false;
    }
    let digits = bytes
        .iter()
        .take_while(|byte| byte.is_ascii_digit())
        .count();
    if digits > 0 && matches!(bytes.get(digits), Some(b'.' | b')')) {
        return false;
    }
    // A fold rather than `any`: without the early exit the compiler checks many bytes at once.
    !bytes.iter().fold(false, |found, &byte| {
        found
            | (byte < 0x20)
            | matches!(
                byte,
                0x7f | b'\\' | b'`' | b'*' | b'_' | b'~' | b'[' | b']' | b'<' | b'>' | b'&'
            )
    }) && !text.contains("://")
}

/// Appends `text` escaped for HTML text and attribute values.
pub(crate) fn escape_html(text: &str, out: &mut String) {
    /// The bytes replaced, as a table (one look-up a byte).
    static ESCAPED: [bool; 256] = {
        let mut table = [false; 256];
        table[b'&' as usize] = true;
        table[b'<' as usize] = true;
        table[b'>' as usize] = true;
        table[b'"' as usize] = true;
        table[b'\'' as usize] = true;
        table
    };
    let mut start = 0;
    for (index, byte) in text.bytes().enumerate() {
        if !ESCAPED[usize::from(byte)] {
            continue;
        }
        let replacement = match byte {
            b'&' => "&amp;",
            b'<' => "&lt;",
            b'>' => "&gt;",
            b'"' => "&quot;",
            b'\'' => "&#39;",
            _ => continue,
        };
        out.push_str(&text[start..index]);
        out.push_str(replacement);
        start = index + 1;
    }
    out.push_str(&text[start..]);
}

/// What an opened link or image became, so its end is written to match.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Opened {
    /// Kept as a link (an image turned into a link too).
    Link,
    /// Dropped (disallowed scheme): only its text is kept.
    Dropped,
}

#[derive(Default)]
struct Filter {
    links: Vec<Opened>,
    in_code_block: bool,
    /// Adjacent text events, joined: pulldown-cmark splits text at `_` and `*`, which would cut
    /// a bare URL in two.
    text: String,
}

impl Filter {
    fn flush_text(&mut self, out: &mut Vec<Event<'_>>) {
        if !self.text.is_empty() {
            linkify(CowStr::from(std::mem::take(&mut self.text)), out);
        }
    }

    fn push<'a>(&mut self, event: Event<'a>, out: &mut Vec<Event<'a>>) {
        if let Event::Text(text) = &event
            && self.links.is_empty()
            && !self.in_code_block
        {
            self.text.push_str(text);
            return;
        }
        self.flush_text(out);
        match event {
            Event::Html(raw) | Event::InlineHtml(raw) => out.push(Event::Text(raw)),
            // A line break in a chat message is meant: keep it.
            Event::SoftBreak => out.push(Event::HardBreak),
            Event::Start(Tag::HtmlBlock) => out.push(Event::Start(Tag::Paragraph)),
            Event::End(TagEnd::HtmlBlock) => out.push(Event::End(TagEnd::Paragraph)),
            Event::Start(Tag::Heading { .. }) => {
                out.push(Event::Start(Tag::Paragraph));
                out.push(Event::Start(Tag::Strong));
            }
            Event::End(TagEnd::Heading(_)) => {
                out.push(Event::End(TagEnd::Strong));
                out.push(Event::End(TagEnd::Paragraph));
            }
            Event::Start(Tag::Link {
                link_type,
                dest_url,
                title,
                id,
            }) => match safe_url(&dest_url, UrlPolicy::Link) {
                Some(url) => {
                    self.links.push(Opened::Link);
                    out.push(Event::Start(Tag::Link {
                        link_type,
                        dest_url: url.into(),
                        title,
                        id,
                    }));
                }
                None => self.links.push(Opened::Dropped),
            },
            Event::Start(Tag::Image {
                dest_url, title, ..
            }) => match safe_url(&dest_url, UrlPolicy::Link) {
                Some(url) => {
                    self.links.push(Opened::Link);
                    out.push(Event::Start(Tag::Link {
                        link_type: LinkType::Inline,
                        dest_url: url.into(),
                        title,
                        id: CowStr::Borrowed(""),
                    }));
                    out.push(Event::Text("🖼️ ".into()));
                }
                None => self.links.push(Opened::Dropped),
            },
            Event::End(TagEnd::Link | TagEnd::Image) => {
                if self.links.pop() == Some(Opened::Link) {
                    out.push(Event::End(TagEnd::Link));
                }
            }
            Event::Start(Tag::CodeBlock(kind)) => {
                self.in_code_block = true;
                out.push(Event::Start(Tag::CodeBlock(kind)));
            }
            Event::End(TagEnd::CodeBlock) => {
                self.in_code_block = false;
                out.push(Event::End(TagEnd::CodeBlock));
            }
            other => out.push(other),
        }
    }
}

/// Splits text at bare `http://` and `https://` URLs, making each a link.
fn linkify<'a>(text: CowStr<'a>, out: &mut Vec<Event<'a>>) {
    let mut rest: &str = &text;
    let mut pieces: Vec<Event<'a>> = Vec::new();
    let mut found = false;
    while let Some(start) = find_url_start(rest) {
        let candidate = &rest[start..];
        let mut end = candidate
            .find(|c: char| c.is_whitespace() || matches!(c, '<' | '>' | '"'))
            .unwrap_or(candidate.len());
        // Trailing punctuation belongs to the sentence, and a `)` only to a URL that opened one.
        // The parentheses are counted once and kept up to date, so this stays linear.
        let mut open = candidate[..end].matches('(').count();
        let mut close = candidate[..end].matches(')').count();
        while end > 0 {
            let last = candidate[..end].chars().next_back().unwrap_or(' ');
            let unbalanced_paren = last == ')' && open < close;
            if matches!(
                last,
                '.' | ',' | ';' | ':' | '!' | '?' | '\'' | '*' | '_' | '~' | '('
            ) || unbalanced_paren
            {
                end -= last.len_utf8();
                open -= usize::from(last == '(');
                close -= usize::from(last == ')');
            } else {
                break;
            }
        }
        let url = &candidate[..end];
        match safe_url(url, UrlPolicy::Link) {
            Some(target) if url.len() > "https://".len() => {
                found = true;
                if start > 0 {
                    pieces.push(Event::Text(rest[..start].to_owned().into()));
                }
                pieces.push(Event::Start(Tag::Link {
                    link_type: LinkType::Autolink,
                    dest_url: target.into(),
                    title: CowStr::Borrowed(""),
                    id: CowStr::Borrowed(""),
                }));
                pieces.push(Event::Text(url.to_owned().into()));
                pieces.push(Event::End(TagEnd::Link));
                rest = &candidate[end..];
            }
            _ => {
                let skip = start + "http".len();
                pieces.push(Event::Text(rest[..skip].to_owned().into()));
                rest = &rest[skip..];
            }
        }
    }
    if !found {
        out.push(Event::Text(text));
        return;
    }
    if !rest.is_empty() {
        pieces.push(Event::Text(rest.to_owned().into()));
    }
    out.extend(pieces);
}

fn find_url_start(text: &str) -> Option<usize> {
    let lower = text.as_bytes();
    let mut from = 0;
    while let Some(offset) = memchr_http(&lower[from..]) {
        let start = from + offset;
        // Bytes, not `str` slices: byte 7 or 8 may fall inside a character (`http:/é`).
        let tail = &lower[start..];
        let is_url = tail.len() > 8
            && (tail[..7].eq_ignore_ascii_case(b"http://")
                || tail[..8].eq_ignore_ascii_case(b"https://"));
        // A URL starts a word: `xhttp://` is not one.
        let starts_word = text[..start]
            .chars()
            .next_back()
            .is_none_or(|c| !c.is_alphanumeric());
        if is_url && starts_word {
            return Some(start);
        }
        from = start + 1;
    }
    None
}

fn memchr_http(bytes: &[u8]) -> Option<usize> {
    bytes
        .windows(4)
        .position(|window| window.eq_ignore_ascii_case(b"http"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The table-driven escaping replaces exactly `&`, `<`, `>`, `"` and `'`, at the start, in
    /// the middle, at the end and side by side, and copies the rest (other ASCII punctuation,
    /// `/`, non-ASCII text) unchanged.
    #[test]
    fn html_escaping() {
        for (text, expected) in [
            ("", ""),
            ("plain é 田/:", "plain é 田/:"),
            ("<a", "&lt;a"),
            ("a>", "a&gt;"),
            ("a&b\"c'd", "a&amp;b&quot;c&#39;d"),
            ("<>&\"'", "&lt;&gt;&amp;&quot;&#39;"),
            ("é<田>é", "é&lt;田&gt;é"),
        ] {
            let mut out = String::from("x");
            escape_html(text, &mut out);
            assert_eq!(out, format!("x{expected}"), "{text:?}");
        }
    }

    /// Character references that decode to control characters come out as control pictures,
    /// in text, link titles and code-fence info strings alike.
    #[test]
    fn character_references_cannot_make_controls() {
        let html = render_text(
            "a &#27;[31m &#x9B; &#127; &#13; &#0;\n\n[l](https://x.example \"t&#27;\")\n\n```x&#27;\n&#27;\n```",
        );
        assert!(
            !html.chars().any(|c| c.is_control() && c != '\n'),
            "{html:?}"
        );
        assert!(html.contains("a ␛[31m � ␡ \n"), "{html:?}");
        assert!(html.contains("title=\"t␛\""), "{html:?}");
        assert!(html.contains("language-x␛"), "{html:?}");
    }

    #[test]
    fn hostile_markdown_is_inert() {
        for input in [
            "<script>alert(1)</script>",
            "<img src=x onerror=alert(1)>",
            "[x](javascript:alert(1))",
            "[x](JAVASCRIPT:alert(1))",
            "[x](vbscript:msgbox(1))",
            "[x](data:text/html;base64,PHNjcmlwdD4=)",
            "![x](https://tracker.example/pixel.png)",
            "![x](javascript:alert(1))",
            "<a href=\"javascript:alert(1)\">x</a>",
            "[x]: javascript:alert(1)\n\n[x]",
            "<!-- comment",
            "```\nunclosed fence",
            "<svg onload=alert(1)>",
            "<https://x.example\">",
            "<javascript:alert(1)>",
        ] {
            let html = render_text(input);
            let lower = html.to_lowercase();
            assert!(!lower.contains("<script"), "{input:?} -> {html}");
            assert!(!lower.contains("<img"), "{input:?} -> {html}");
            assert!(!lower.contains("<svg"), "{input:?} -> {html}");
            assert!(
                !lower.contains("<a href=\"javascript"),
                "{input:?} -> {html}"
            );
            assert!(!lower.contains("href=\"vbscript"), "{input:?} -> {html}");
            assert!(!lower.contains("href=\"data"), "{input:?} -> {html}");
            assert!(!lower.contains("<!--"), "{input:?} -> {html}");
            assert!(!lower.contains("<h1"), "{input:?} -> {html}");
        }
    }

    /// The shortcuts give what the parser gives, over many generated texts made of the
    /// characters Markdown cares about. (The older plain-text shortcut also writes `"` and `'`
    /// as `&quot;` and `&#39;`, which the parser leaves as they are: the same text in HTML.)
    #[test]
    fn shortcuts_agree_with_the_parser() {
        let pieces = [
            "a",
            "word",
            " ",
            "  ",
            "\t",
            "\n",
            "\r",
            ".",
            ":",
            "!",
            "?",
            ",",
            ";",
            "#",
            "-",
            "+",
            "=",
            "|",
            ")",
            "(",
            "1",
            "12",
            "1.",
            "3)",
            "\\",
            "`",
            "*",
            "_",
            "~",
            "[",
            "]",
            "<",
            ">",
            "&",
            "&amp;",
            "\"",
            "'",
            "/",
            "://",
            "http",
            "https://x.example",
            "www.",
            "$",
            "@",
            "%",
            "^",
            "{",
            "}",
            "\u{a0}",
            "\u{3000}",
            "\u{2028}",
            "\u{85}",
            "\u{202e}",
            "é",
            "😅",
            "田中",
            "\u{0}",
            "\u{1b}",
            "\u{7f}",
            "- ",
            "> ",
            "# ",
            "```",
            "---",
            "***",
            "[x]: y",
            "< ",
            "& ",
            " > ",
            "<=",
            "&#",
            "\n\n",
            "\n ",
            "\n   ",
            "\n    ",
            "   ",
            "<1@x.example>",
            // Backslashes before letters, spaces, digits, other characters and punctuation.
            "\\a",
            "\\n",
            "C:\\Users\\me",
            "\\\\",
            "\\ ",
            "\\é",
            "\\1",
            "\\*",
            // Tags, autolinks and entities, whole and cut.
            "<b>",
            "</b>",
            "<b",
            "<a href=\"x\">",
            "<!-- c -->",
            "<?x?>",
            "<a:b>",
            "<ab:c>",
            "<x@y.z>",
            "<a@",
            "&amp;",
            "&a",
            "&#1;",
            "&#x41;",
            "&;",
            "&!",
            "->",
            "=>",
        ];
        let mut seed = 3_u64;
        let (mut literal, mut plain, mut lines) = (0, 0, 0);
        for _ in 0..300_000 {
            let mut text = String::new();
            for _ in 0..(seed % 9) {
                seed = seed
                    .wrapping_mul(6_364_136_223_846_793_005)
                    .wrapping_add(1_442_695_040_888_963_407);
                text.push_str(pieces[usize::try_from(seed >> 33).unwrap() % pieces.len()]);
            }
            seed = seed
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            let mut parsed = String::new();
            render_with_parser(&clean_controls(&text), &mut parsed);
            if is_plain(&text) {
                plain += 1;
                let parsed = parsed.replace('"', "&quot;").replace('\'', "&#39;");
                assert_eq!(render_text(&text), parsed, "{text:?}");
            } else {
                literal += usize::from(is_literal_paragraph(&text));
                let clean = clean_controls(&text);
                lines += usize::from(!is_literal_paragraph(&clean) && is_literal_lines(&clean));
                assert_eq!(render_text(&text), parsed, "{text:?}");
            }
        }
        assert!(
            literal > 4_000 && plain > 10_000 && lines > 20_000,
            "{literal} {plain} {lines}"
        );
    }

    #[test]
    fn markdown_still_works() {
        assert_eq!(
            render_text("# Title\n\n- *a*\n- `b`"),
            "<p><strong>Title</strong></p>\n<ul>\n<li><em>a</em></li>\n<li><code>b</code></li>\n</ul>\n"
        );
        assert_eq!(
            render_text("see (https://x.example/a_(b)), ok."),
            "<p>see (<a href=\"https://x.example/a_(b)\">https://x.example/a_(b)</a>), ok.</p>\n"
        );
        assert_eq!(render_text("plain words"), "<p>plain words</p>\n");
        // `http` followed by a character that straddles byte 7 or 8.
        assert_eq!(render_text("http:/é x"), "<p>http:/é x</p>\n");
        assert_eq!(render_text("https:/é x"), "<p>https:/é x</p>\n");
        let long = "a\n".repeat(MAX_MARKDOWN_BYTES);
        assert!(render_text(&long).starts_with("<p class=\"plain\">"));
    }
}
