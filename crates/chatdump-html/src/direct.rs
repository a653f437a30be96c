//! The default group and pinned templates (`templates/group.html.jinja`,
//! `templates/pinned.html.jinja`) written out in Rust, used when the user has not overridden
//! them: the same bytes without the template engine, several times faster.
//!
//! The templates stay the specification. Each function below follows its template line by line
//! (the comments quote the template), escapes exactly the values the template escapes, with
//! the replacements of minijinja's own [`HtmlEscape`](chatdump_transcript::minijinja::HtmlEscape), and writes `None` where the template would print a missing
//! value. The tests render generated groups and every fixture both ways and compare the bytes, so
//! a change to a template without the same change here fails them.

use chatdump_transcript::stats::Kind;
use chatdump_transcript::text::{anchor_into, clean_value};
use chatdump_transcript::view::{DirectGroup, GroupView, MessageView, PinView};
use chatdump_transcript::writer::color;
use chatdump_transcript::zone::{TimeLabels, day_label};

use crate::markdown::render_text_into;

/// Whether minijinja's HTML escaping changes `text`.
fn needs_escaping(text: &str) -> bool {
    // A fold rather than `any`: without the early exit the compiler checks many bytes at once.
    text.bytes().fold(false, |found, byte| {
        found | matches!(byte, b'<' | b'>' | b'&' | b'"' | b'\'' | b'/')
    })
}

/// Appends `text` as `{{ text }}` writes it in an `*.html.jinja` template (one pass: text
/// without anything to escape is copied whole at the end of it).
fn escaped(out: &mut String, text: &str) {
    escape_like_minijinja(out, text);
}

/// The bytes minijinja's HTML escaping replaces, as a table (one look-up a byte).
static MINIJINJA_ESCAPED: [bool; 256] = {
    let mut table = [false; 256];
    table[b'<' as usize] = true;
    table[b'>' as usize] = true;
    table[b'&' as usize] = true;
    table[b'"' as usize] = true;
    table[b'\'' as usize] = true;
    table[b'/' as usize] = true;
    table
};

/// Appends `text` escaped as minijinja's
/// [`HtmlEscape`](chatdump_transcript::minijinja::HtmlEscape) escapes it (the same replacements),
/// without going through `fmt`: runs between the escaped characters (all ASCII) are copied whole.
fn escape_like_minijinja(out: &mut String, text: &str) {
    let mut run = 0;
    for (index, byte) in text.bytes().enumerate() {
        if !MINIJINJA_ESCAPED[usize::from(byte)] {
            continue;
        }
        let replacement = match byte {
            b'<' => "&lt;",
            b'>' => "&gt;",
            b'&' => "&amp;",
            b'"' => "&quot;",
            b'\'' => "&#x27;",
            b'/' => "&#x2f;",
            _ => continue,
        };
        out.push_str(&text[run..index]);
        out.push_str(replacement);
        run = index + 1;
    }
    out.push_str(&text[run..]);
}

/// Where [`escaped_once`] wrote a value: the text itself when escaping left it unchanged,
/// else the range of `out` that holds it escaped.
enum Written<'a> {
    Unchanged(&'a str),
    At(std::ops::Range<usize>),
}

/// Appends `text` escaped, for a value the template writes twice: the second time ([`again`])
/// copies what was written instead of escaping it again.
fn escaped_once<'a>(out: &mut String, text: &'a str) -> Written<'a> {
    let start = out.len();
    escaped(out, text);
    if out.len() - start == text.len() {
        // Escaping only lengthens, so the same length means nothing was replaced.
        Written::Unchanged(text)
    } else {
        Written::At(start..out.len())
    }
}

/// Appends a value [`escaped_once`] wrote, escaped, once more.
fn again(out: &mut String, written: Written<'_>) {
    match written {
        Written::Unchanged(text) => out.push_str(text),
        Written::At(range) => out.extend_from_within(range),
    }
}

/// Appends what `write` appends, escaped as `{{ }}` does (written in place, then escaped only
/// when it has to be).
fn escaped_with(out: &mut String, write: impl FnOnce(&mut String)) {
    let start = out.len();
    write(out);
    if needs_escaping(&out[start..]) {
        let raw = out.split_off(start);
        escaped(out, &raw);
    }
}

/// Appends an optional value as the template writes it: `None` when it is missing.
fn escaped_or_none(out: &mut String, text: Option<&str>) {
    match text {
        Some(text) => escaped(out, text),
        None => out.push_str("None"),
    }
}

/// Whether a template's `{% if value %}` holds: present and not empty.
fn truthy(value: Option<&String>) -> bool {
    value.is_some_and(|value| !value.is_empty())
}

/// `group.html.jinja`, in the three parts a streaming writer needs.
pub(crate) const GROUP: DirectGroup = DirectGroup {
    open: write_group_open,
    message: write_message,
    close: write_group_close,
};

/// The day heading both group templates start with.
fn write_day(group: &GroupView, labels: &TimeLabels, out: &mut String) {
    // {% if day %}<h3 class="day" id="day-{{ day.date }}"><time datetime="{{ day.date }}">
    // {{ day.label }}</time> <span class="muted">({{ day.timezone }})</span></h3>
    // {% endif -%}
    if let Some(day) = group.day {
        let date = day.to_string();
        out.push_str("<h3 class=\"day\" id=\"day-");
        escaped(out, &date);
        out.push_str("\"><time datetime=\"");
        escaped(out, &date);
        out.push_str("\">");
        escaped(out, &day_label(day));
        out.push_str("</time> <span class=\"muted\">(");
        escaped(out, labels.zone().name());
        out.push_str(")</span></h3>\n");
    }
}

/// Appends `{{ group.color }}`: [`color`] of `name`, one digit (no `fmt` machinery).
fn push_color(out: &mut String, name: &str) {
    const _: () = assert!(chatdump_transcript::writer::NAME_COLORS <= 10);
    out.push(char::from(b'0' + color(name) as u8));
}

/// `group.html.jinja` up to the loop over `group.messages`.
fn write_group_open(group: &GroupView, labels: &mut TimeLabels, out: &mut String) {
    write_day(group, labels, out);
    // <article class="group" aria-label="{{ group.name }}, {{ group.time }}">
    // <p class="who"><bdi class="name c{{ group.color }}">{{ group.name }}</bdi></p>
    out.push_str("<article class=\"group\" aria-label=\"");
    let name = escaped_once(out, &group.name);
    out.push_str(", ");
    escaped_with(out, |out| labels.write_short_time(group.at, out));
    out.push_str("\">\n<p class=\"who\"><bdi class=\"name c");
    push_color(out, &group.name);
    out.push_str("\">");
    again(out, name);
    out.push_str("</bdi></p>");
    // {%- for m in group.messages %} ... {%- endfor %}: `write_message`, once each.
}

/// `group.html.jinja` after the loop: `</article>`, and the template file's final newline.
fn write_group_close(out: &mut String) {
    out.push_str("\n</article>\n");
}

/// One iteration of the loop over `group.messages`.
fn write_message(m: &MessageView<'_>, labels: &mut TimeLabels, out: &mut String) {
    // <div class="msg{% if m.pinned %} is-pinned{% endif %}" id="{{ m.anchor }}">
    out.push_str("\n<div class=\"msg");
    if m.pinned {
        out.push_str(" is-pinned");
    }
    out.push_str("\" id=\"");
    let start = out.len();
    anchor_into(&m.id, out);
    let anchor = start..out.len();
    // <p class="meta"><a class="time" href="#{{ m.anchor }}"><time datetime="{{ m.datetime }}">
    // {{ m.time }}</time></a>
    out.push_str("\">\n<p class=\"meta\"><a class=\"time\" href=\"#");
    // The anchor written above, copied.
    out.extend_from_within(anchor);
    out.push_str("\"><time datetime=\"");
    escaped_with(out, |out| labels.write_utc(m.at, out));
    out.push_str("\">");
    escaped_with(out, |out| labels.write_time(m.at, out));
    out.push_str("</time></a>");
    // {% if m.pinned %} <span class="tag">📌 pinned</span>{% endif %}
    // {% if m.edited %} <span class="tag">edited</span>{% endif %}</p>
    if m.pinned {
        out.push_str(" <span class=\"tag\">📌 pinned</span>");
    }
    if m.edited {
        out.push_str(" <span class=\"tag\">edited</span>");
    }
    out.push_str("</p>\n<div class=\"body\" dir=\"auto\">");
    match m.kind {
        // {%- if m.kind == "text" %}
        // {%- if m.reply %}<blockquote class="quoted" dir="auto">{{ m.quoted }}</blockquote>{% endif %}
        // {{ m.text }}
        Kind::Text | Kind::Reply => {
            if m.kind == Kind::Reply {
                out.push_str("<blockquote class=\"quoted\" dir=\"auto\">");
                rendered(out, m.quoted.as_deref());
                out.push_str("</blockquote>");
            }
            out.push('\n');
            rendered(out, m.text.as_deref());
        }
        // {%- elif m.kind == "image" %}
        Kind::Image => {
            if truthy(m.image_src.as_ref()) {
                // {%- if m.image_src %}<a href="{{ m.url }}"><img src="{{ m.image_src }}"
                // alt="Image from {{ m.name }}" loading="lazy" decoding="async"
                // referrerpolicy="no-referrer"></a>
                out.push_str("<a href=\"");
                match (&m.url, &m.image_src) {
                    // The usual case: the image is shown from its link.
                    (Some(url), Some(src)) if url == src => {
                        let url = escaped_once(out, url);
                        out.push_str("\"><img src=\"");
                        again(out, url);
                    }
                    _ => {
                        escaped_or_none(out, m.url.as_deref());
                        out.push_str("\"><img src=\"");
                        escaped_or_none(out, m.image_src.as_deref());
                    }
                }
                out.push_str("\" alt=\"Image from ");
                escaped(out, &m.name);
                out.push_str(
                    "\" loading=\"lazy\" decoding=\"async\" referrerpolicy=\"no-referrer\"></a>",
                );
            } else if truthy(m.url.as_ref()) {
                // {%- elif m.url %}<p>🖼️ <a href="{{ m.url }}">Image</a>
                // <span class="muted">({% if m.local %}saved copy{% else %}not loaded
                // {% endif %})</span></p>
                out.push_str("<p>🖼️ <a href=\"");
                escaped_or_none(out, m.url.as_deref());
                out.push_str("\">Image</a> <span class=\"muted\">(");
                out.push_str(if m.local { "saved copy" } else { "not loaded" });
                out.push_str(")</span></p>");
            } else {
                // {%- else %}<p>🖼️ Image, link not allowed: <code class="url">{{ m.url_text }}
                // </code></p>
                out.push_str("<p>🖼️ Image, link not allowed: <code class=\"url\">");
                escaped_or_none(out, m.url_text.as_deref());
                out.push_str("</code></p>");
            }
        }
        // {%- elif m.kind == "file" %}
        // <p class="file">📎 {% if m.url %}<a href="{{ m.url }}">{{ m.file_name if m.file_name
        // else "File" }}</a>{% else %}{{ m.file_name if m.file_name else "File" }}
        // <span class="muted">(link not allowed: <code class="url">{{ m.url_text }}</code>)</span>
        // {% endif %}{% if m.file_size %} <span class="muted">({{ m.file_size }})</span>{% endif %}</p>
        Kind::File => {
            let file_name = match &m.file_name {
                Some(name) if !name.is_empty() => name.as_str(),
                _ => "File",
            };
            out.push_str("\n<p class=\"file\">📎 ");
            if truthy(m.url.as_ref()) {
                out.push_str("<a href=\"");
                escaped_or_none(out, m.url.as_deref());
                out.push_str("\">");
                escaped(out, file_name);
                out.push_str("</a>");
            } else {
                escaped(out, file_name);
                out.push_str(" <span class=\"muted\">(link not allowed: <code class=\"url\">");
                escaped_or_none(out, m.url_text.as_deref());
                out.push_str("</code>)</span>");
            }
            if let Some(size) = m.file_size.as_ref().filter(|size| !size.is_empty()) {
                out.push_str(" <span class=\"muted\">(");
                escaped(out, size);
                out.push_str(")</span>");
            }
            out.push_str("</p>");
        }
        // {%- else %}
        // <p class="other"><span class="muted">Message of type</span> <code>{{ m.payload_type }}
        // </code></p><pre class="payload">{{ m.payload }}</pre>
        Kind::Other => {
            out.push_str(
                "\n<p class=\"other\"><span class=\"muted\">Message of type</span> <code>",
            );
            escaped(out, &clean_value(m.payload_type.as_str()));
            out.push_str("</code></p><pre class=\"payload\">");
            escaped_or_none(out, m.payload.as_deref());
            out.push_str("</pre>");
        }
    }
    // {%- endif %}
    // {%- if m.unavailable %}<p class="unavailable">⚠️ Not saved: {{ m.unavailable }}</p>
    // {%- endif %}
    if let Some(reason) = m.unavailable.as_ref().filter(|reason| !reason.is_empty()) {
        out.push_str("<p class=\"unavailable\">⚠️ Not saved: ");
        escaped(out, reason);
        out.push_str("</p>");
    }
    // </div>
    // </div>
    out.push_str("\n</div>\n</div>");
}

/// `speech.html.jinja`, in the three parts a streaming writer needs.
pub(crate) const SPEECH: DirectGroup = DirectGroup {
    open: write_speech_open,
    message: write_utterance,
    close: write_group_close,
};

/// `speech.html.jinja` up to the loop over `group.messages`.
fn write_speech_open(group: &GroupView, labels: &mut TimeLabels, out: &mut String) {
    write_day(group, labels, out);
    // <article class="group speech" aria-label="{{ group.name }}, {{ group.time }}, speech">
    // <p class="who"><bdi class="name c{{ group.color }}">{{ group.name }}</bdi></p>
    out.push_str("<article class=\"group speech\" aria-label=\"");
    let name = escaped_once(out, &group.name);
    out.push_str(", ");
    escaped_with(out, |out| labels.write_short_time(group.at, out));
    out.push_str(", speech\">\n<p class=\"who\"><bdi class=\"name c");
    push_color(out, &group.name);
    out.push_str("\">");
    again(out, name);
    out.push_str("</bdi></p>");
}

/// One iteration of the loop over `group.messages` in `speech.html.jinja`.
fn write_utterance(m: &MessageView<'_>, labels: &mut TimeLabels, out: &mut String) {
    // <div class="msg utterance" id="{{ m.anchor }}">
    // <p class="meta"><a class="time" href="#{{ m.anchor }}"><time datetime="{{ m.datetime }}">
    // {{ m.time }}</time></a> <span class="tag said">🎙 speech</span></p>
    // <div class="body" dir="auto">
    // {{ m.text }}
    // </div>
    // </div>
    let anchor = m.anchor();
    out.push_str("\n<div class=\"msg utterance\" id=\"");
    out.push_str(&anchor);
    out.push_str("\">\n<p class=\"meta\"><a class=\"time\" href=\"#");
    out.push_str(&anchor);
    out.push_str("\"><time datetime=\"");
    escaped_with(out, |out| labels.write_utc(m.at, out));
    out.push_str("\">");
    escaped_with(out, |out| labels.write_time(m.at, out));
    out.push_str("</time></a> <span class=\"tag said\">🎙 speech</span></p>\n<div class=\"body\" dir=\"auto\">\n");
    rendered(out, m.text.as_deref());
    out.push_str("\n</div>\n</div>");
}

/// `{{ m.text }}` / `{{ m.quoted }}`: the rendered text (a safe string), or `None`.
fn rendered(out: &mut String, text: Option<&str>) {
    match text {
        Some(text) => render_text_into(text, out),
        None => out.push_str("None"),
    }
}

/// `pinned.html.jinja`.
pub(crate) fn write_pin(pin: &PinView, out: &mut String) {
    // <li><a href="#{{ pin.anchor }}"><time datetime="{{ pin.datetime }}">{{ pin.time }}</time>
    // </a> <bdi class="name">{{ pin.name }}</bdi>: <bdi class="excerpt">{{ pin.excerpt }}</bdi>
    // </li>, and the template file's final newline.
    out.push_str("<li><a href=\"#");
    out.push_str(&pin.anchor);
    out.push_str("\"><time datetime=\"");
    escaped(out, &pin.datetime);
    out.push_str("\">");
    escaped(out, &pin.time);
    out.push_str("</time></a> <bdi class=\"name\">");
    escaped(out, &pin.name);
    out.push_str("</bdi>: <bdi class=\"excerpt\">");
    escaped(out, &pin.excerpt);
    out.push_str("</bdi></li>\n");
}

#[cfg(test)]
mod tests {
    use chatdump_transcript::view::{
        generated_groups, generated_pins, generated_speech_groups, group_context, pin_context,
    };
    use chatdump_transcript::{Flavor as _, TranscriptOptions, Zone, load_templates};

    use super::*;
    use crate::{Html, render_text};

    /// The run-based escaping gives minijinja's bytes, with the escaped characters at the start,
    /// in the middle, at the end, side by side and absent.
    #[test]
    fn escaping_matches_minijinja() {
        use chatdump_transcript::minijinja::HtmlEscape;
        for text in [
            "",
            "plain é 田",
            "<a",
            "a>",
            "a&b",
            "\"'/",
            "https://x.example/a?b=1&c='d'",
            "é<田>é",
            "//",
        ] {
            let mut out = String::from("x");
            escape_like_minijinja(&mut out, text);
            assert_eq!(out, format!("x{}", HtmlEscape(text)), "{text:?}");
            let mut out = String::new();
            escaped(&mut out, text);
            assert_eq!(out, HtmlEscape(text).to_string(), "{text:?}");
        }
    }

    /// The direct writers give the default templates' bytes for thousands of generated groups
    /// and pinned entries, hostile text and missing values included.
    #[test]
    fn direct_writers_match_the_default_templates() {
        let templates = load_templates(&Html, &TranscriptOptions::default()).unwrap();
        let group_template = templates.environment.get_template(Html::GROUP).unwrap();
        for name in ["UTC", "Asia/Kolkata", "America/New_York"] {
            let zone = Zone::from_name(name).unwrap();
            let mut labels = TimeLabels::new(zone.clone());
            for (index, group) in generated_groups(1, 2000).into_iter().enumerate() {
                let mut direct = String::new();
                GROUP.write(&group, &mut labels, &mut direct);
                let expected = group_template
                    .render(group_context(group, &zone, render_text, render_text))
                    .unwrap();
                assert_eq!(direct, expected, "{name}: group {index}");
            }
        }
        let speech_template = templates.environment.get_template(Html::SPEECH).unwrap();
        for name in ["UTC", "Asia/Kolkata", "America/New_York"] {
            let zone = Zone::from_name(name).unwrap();
            let mut labels = TimeLabels::new(zone.clone());
            for (index, group) in generated_speech_groups(3, 2000).into_iter().enumerate() {
                let mut direct = String::new();
                SPEECH.write(&group, &mut labels, &mut direct);
                let expected = speech_template
                    .render(group_context(group, &zone, render_text, render_text))
                    .unwrap();
                assert_eq!(direct, expected, "{name}: speech group {index}");
            }
        }
        let pin_template = templates.environment.get_template(Html::PINNED).unwrap();
        for (index, pin) in generated_pins(2, 1000).into_iter().enumerate() {
            let mut direct = String::new();
            write_pin(&pin, &mut direct);
            assert_eq!(
                direct,
                pin_template.render(pin_context(pin)).unwrap(),
                "pin {index}"
            );
        }
    }
}
