//! A Markdown summary, written back as Markdown that keeps its structure and nothing else.
//!
//! The AI summary of a session is Markdown, and hostile like every text of a dump. Rather than
//! escape all of it (which shows `# Heading` as text), it is parsed with pulldown-cmark and
//! written again from the parse: headings (moved two levels down, under the transcript's
//! `## Summary`), paragraphs, lists, block quotes, emphasis, strong, strikethrough, code, and
//! links whose target is `http`, `https` or `mailto`. Every piece of text goes through the
//! same escaping as message text ([`crate::escape_inline`]'s rules, line starts included), so
//! it cannot make markup of its own; raw HTML is shown as text, images become links (nothing is
//! loaded), other link targets are dropped (their text stays), and code is fenced so that it
//! cannot close its fence.

use std::fmt::Write as _;

use chatdump_transcript::text::{UrlPolicy, safe_url};
use pulldown_cmark::{Event, HeadingLevel, Options, Parser, Tag, TagEnd};

use crate::{escape_line, md_url};

/// The summary `markdown` (controls already cleaned), written again as safe Markdown.
#[must_use]
pub(crate) fn render_summary(markdown: &str) -> String {
    let mut writer = Writer::default();
    for event in Parser::new_ext(markdown, Options::ENABLE_STRIKETHROUGH) {
        writer.event(event);
    }
    let mut out = writer.out;
    let trimmed = out.trim_end().len();
    out.truncate(trimmed);
    out
}

/// A list being written: the next number of an ordered one.
struct List {
    next: Option<u64>,
}

#[derive(Default)]
struct Writer {
    out: String,
    /// What every new line starts with: `> ` per block quote, spaces per list item.
    prefix: String,
    /// The prefix's length before each container was opened.
    saved: Vec<usize>,
    lists: Vec<List>,
    /// The target of each open link or image; `None` when it was not kept.
    links: Vec<Option<String>>,
    /// Inside a code block: its text so far (written, fenced, when it ends).
    code: Option<String>,
    /// Nothing written on the current line yet but the prefix (or a list marker).
    at_line_start: bool,
    /// A block ended: the next block is separated by a blank line.
    block_ended: bool,
}

impl Writer {
    fn event(&mut self, event: Event<'_>) {
        match event {
            Event::Start(tag) => self.start(tag),
            Event::End(tag) => self.end(tag),
            Event::Text(text) => match &mut self.code {
                Some(code) => code.push_str(&text),
                None => self.text(&text),
            },
            Event::Code(code) => self.code_span(&code),
            Event::Html(html) | Event::InlineHtml(html) => {
                // Shown as text, line by line.
                for (index, line) in html.trim_end_matches('\n').split('\n').enumerate() {
                    if index > 0 {
                        self.out.push('\\');
                        self.new_line();
                    }
                    self.text(line);
                }
            }
            Event::SoftBreak => self.new_line(),
            Event::HardBreak => {
                self.out.push('\\');
                self.new_line();
            }
            Event::Rule => {
                self.block();
                self.out.push_str("***");
                self.end_block();
            }
            // Not enabled: footnotes, task lists, math, metadata.
            _ => {}
        }
    }

    fn start(&mut self, tag: Tag<'_>) {
        match tag {
            Tag::Paragraph | Tag::HtmlBlock => self.block(),
            Tag::Heading { level, .. } => {
                self.block();
                let level = match level {
                    HeadingLevel::H1 => 3,
                    HeadingLevel::H2 => 4,
                    HeadingLevel::H3 => 5,
                    _ => 6,
                };
                self.out.push_str(&"#".repeat(level));
                self.out.push(' ');
                self.at_line_start = false;
            }
            Tag::BlockQuote(_) => {
                self.block();
                self.saved.push(self.prefix.len());
                self.prefix.push_str("> ");
                self.out.push_str("> ");
            }
            // The info string is dropped: it is not shown, and could hold anything.
            Tag::CodeBlock(_) => {
                self.block();
                self.code = Some(String::new());
            }
            Tag::List(start) => {
                self.block();
                self.lists.push(List { next: start });
                self.block_ended = false;
            }
            Tag::Item => {
                if self.block_ended {
                    // After a nested list or a paragraph: the line is ended, not yet begun.
                    self.out.push_str(&self.prefix);
                    self.block_ended = false;
                } else if !self.at_line_start {
                    self.new_line();
                }
                let marker = match self.lists.last_mut() {
                    Some(List { next: Some(next) }) => {
                        let marker = format!("{next}. ");
                        *next += 1;
                        marker
                    }
                    _ => "- ".to_owned(),
                };
                self.out.push_str(&marker);
                self.saved.push(self.prefix.len());
                self.prefix.push_str(&" ".repeat(marker.len()));
                // The item's first text starts a line as far as escaping goes.
                self.at_line_start = true;
            }
            Tag::Emphasis => self.inline_mark("*"),
            Tag::Strong => self.inline_mark("**"),
            Tag::Strikethrough => self.inline_mark("~~"),
            Tag::Link { dest_url, .. } | Tag::Image { dest_url, .. } => {
                let target = safe_url(&dest_url, UrlPolicy::Link);
                if target.is_some() {
                    self.inline_mark("[");
                }
                self.links.push(target);
            }
            // Tables and the rest are not enabled; their text still comes as text.
            _ => {}
        }
    }

    fn end(&mut self, tag: TagEnd) {
        match tag {
            TagEnd::Paragraph | TagEnd::Heading(_) | TagEnd::HtmlBlock => self.end_block(),
            TagEnd::BlockQuote(_) | TagEnd::Item => {
                if let Some(len) = self.saved.pop() {
                    self.prefix.truncate(len);
                }
                if tag != TagEnd::Item {
                    self.end_block();
                }
            }
            TagEnd::CodeBlock => {
                let code = self.code.take().unwrap_or_default();
                // A fence longer than any run of backticks inside, so nothing closes it early.
                let fence = "`".repeat(longest_run(&code, '`').max(2) + 1);
                self.out.push_str(&fence);
                for line in code.trim_end_matches('\n').split('\n') {
                    self.new_line();
                    self.out.push_str(line);
                }
                self.new_line();
                self.out.push_str(&fence);
                self.end_block();
            }
            TagEnd::List(_) => {
                self.lists.pop();
                self.end_block();
            }
            TagEnd::Emphasis => self.inline_mark("*"),
            TagEnd::Strong => self.inline_mark("**"),
            TagEnd::Strikethrough => self.inline_mark("~~"),
            TagEnd::Link | TagEnd::Image => {
                if let Some(Some(target)) = self.links.pop() {
                    self.out.push_str("](");
                    md_url(&target, &mut self.out);
                    self.out.push(')');
                }
            }
            _ => {}
        }
    }

    /// Starts a block: on a new line, after a blank one when a block ended before it.
    fn block(&mut self) {
        if self.out.is_empty() {
            self.out.push_str(&self.prefix);
        } else if self.block_ended {
            // The last block's line is ended: a blank line (quoted, inside a quote), then this.
            self.out.push_str(self.prefix.trim_end());
            self.out.push('\n');
            self.out.push_str(&self.prefix);
        } else if !self.at_line_start {
            self.new_line();
        }
        self.block_ended = false;
        self.at_line_start = true;
    }

    fn end_block(&mut self) {
        if !self.out.ends_with('\n') {
            self.out.push('\n');
        }
        // The next block writes the prefix itself.
        self.block_ended = true;
        self.at_line_start = true;
    }

    fn new_line(&mut self) {
        self.out.push('\n');
        self.out.push_str(&self.prefix);
        self.at_line_start = true;
    }

    fn inline_mark(&mut self, mark: &str) {
        self.out.push_str(mark);
        self.at_line_start = false;
    }

    fn text(&mut self, text: &str) {
        if text.is_empty() {
            return;
        }
        if self.block_ended {
            // Text outside any block (a tight list item's, after a nested list).
            self.block();
        }
        escape_line(text, self.at_line_start, &mut self.out);
        self.at_line_start = false;
    }

    /// `` `code` ``, with a fence longer than any run of backticks inside.
    fn code_span(&mut self, code: &str) {
        let fence = "`".repeat(longest_run(code, '`') + 1);
        let pad = if code.starts_with('`') || code.ends_with('`') {
            " "
        } else {
            ""
        };
        let _ = write!(self.out, "{fence}{pad}{code}{pad}{fence}");
        self.at_line_start = false;
    }
}

/// The length of the longest run of `c` in `text`.
fn longest_run(text: &str, c: char) -> usize {
    text.split(|other| other != c)
        .map(str::len)
        .max()
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::render_summary;

    #[test]
    fn structure_is_kept_and_headings_move_under_the_summary() {
        let summary = "# Weekly sync\n\n**Attendees:** Ann, Bob.\n\n## Action items\n\n1. Li: the plan.\n2. José: *the budget*.\n\n- a\n  - nested\n- b\n";
        assert_eq!(
            render_summary(summary),
            "### Weekly sync\n\n**Attendees:** Ann, Bob.\n\n#### Action items\n\n1. Li: the plan.\n2. José: *the budget*.\n\n- a\n  - nested\n- b"
        );
    }

    #[test]
    fn nothing_hostile_survives() {
        let summary = "<script>alert(1)</script>\n\n[click](javascript:alert(1)) ![x](https://evil.example/p.png) [ok](<https://example.com/a b>)\n\nText with <img src=x onerror=alert(1)> and a \u{202e}bidi.\n";
        let out = render_summary(summary);
        // What a Markdown viewer makes of it: no element but the summary's own structure.
        let mut html = String::new();
        pulldown_cmark::html::push_html(&mut html, pulldown_cmark::Parser::new(&out));
        for tag in ["<script", "<img", "javascript:", "onerror=alert(1)>"] {
            assert!(!html.contains(tag), "{tag} in {html}");
        }
        assert!(html.contains("&lt;script&gt;"), "{html}");
        assert!(!out.contains("!["), "no image: {out}");
        assert!(
            out.contains("\\<script\\>"),
            "raw HTML shown as text: {out}"
        );
        assert!(out.contains("[ok](https://example.com/a%20b)"), "{out}");
        assert!(
            out.contains("[x](https://evil.example/p.png)"),
            "an image becomes a link: {out}"
        );
        assert!(
            !out.contains('\u{202e}'),
            "bidi controls made visible: {out}"
        );
    }

    #[test]
    fn code_cannot_close_its_fence_and_block_quotes_keep_their_prefix() {
        let summary = "````sh\nrm -rf /\n```\n# not a heading\n````\n\n> quoted\n> - item\n";
        let out = render_summary(summary);
        assert_eq!(
            out,
            "````\nrm -rf /\n```\n# not a heading\n````\n\n> quoted\n>\n> - item"
        );
        let code = render_summary("`` a`b ``");
        assert_eq!(code, "``a`b``");
    }
}
