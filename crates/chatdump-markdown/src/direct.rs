//! The default group and pinned templates (`templates/group.md.jinja`,
//! `templates/pinned.md.jinja`) written out in Rust, used when the user has not overridden
//! them: the same bytes without the template engine, several times faster.
//!
//! The templates stay the specification. Each function below follows its template line by line
//! (the comments quote the template) and escapes exactly the values the template escapes, with
//! the very functions the template engine calls ([`escape_inline`], `md_url`, [`escape_lines`]).
//! The tests render generated groups and every fixture both ways and compare the bytes, so a
//! change to a template without the same change here fails them.

use chatdump_transcript::stats::Kind;
use chatdump_transcript::text::anchor_into;
use chatdump_transcript::view::{DirectGroup, GroupView, MessageView, PinView};
use chatdump_transcript::zone::{TimeLabels, day_label};

use crate::{escape_inline, escape_lines_into, is_inert, md_url};

/// Appends an optional value as `{{ value }}` writes it in an `*.md.jinja` template: escaped,
/// and nothing when it is missing.
fn escaped_or_nothing(out: &mut String, text: Option<&str>) {
    if let Some(text) = text {
        escape_inline(text, out);
    }
}

/// Appends what `write` appends, escaped as `{{ }}` does (written in place, then escaped only
/// when escaping changes it).
fn escaped_with(out: &mut String, write: impl FnOnce(&mut String)) {
    let start = out.len();
    write(out);
    if !is_inert(&out[start..]) {
        let raw = out.split_off(start);
        escape_inline(&raw, out);
    }
}

/// Whether a template's `{% if value %}` holds: present and not empty.
fn truthy(value: Option<&String>) -> bool {
    value.is_some_and(|value| !value.is_empty())
}

/// `group.md.jinja`, in the three parts a streaming writer needs.
pub(crate) const GROUP: DirectGroup = DirectGroup {
    open: write_group_open,
    message: write_message,
    close: write_group_close,
};

/// The day heading both group templates start with.
fn write_day(group: &GroupView, out: &mut String) {
    // {% if day %}### {{ day.label }}
    //
    // {% endif -%}
    if let Some(day) = group.day {
        out.push_str("### ");
        escape_inline(&day_label(day), out);
        out.push_str("\n\n");
    }
}

/// `group.md.jinja` up to the loop over `group.messages`.
fn write_group_open(group: &GroupView, _labels: &mut TimeLabels, out: &mut String) {
    write_day(group, out);
    // **{{ group.name }}**
    //
    out.push_str("**");
    escape_inline(&group.name, out);
    out.push_str("**\n\n");
    // {% for m in group.messages -%} ... {% endfor -%}: `write_message`, once each.
}

/// `group.md.jinja` after the loop: nothing (the template ends with the loop).
fn write_group_close(_out: &mut String) {}

/// One iteration of the loop over `group.messages`.
fn write_message(m: &MessageView<'_>, labels: &mut TimeLabels, out: &mut String) {
    // <a id="{{ m.anchor }}"></a>[{{ m.time }}](#{{ m.anchor }}){% if m.pinned %} · 📌 pinned
    // {% endif %}{% if m.edited %} · *edited*{% endif %} ·
    out.push_str("<a id=\"");
    let start = out.len();
    anchor_into(&m.id, out);
    let anchor = start..out.len();
    out.push_str("\"></a>[");
    escaped_with(out, |out| labels.write_time(m.at, out));
    out.push_str("](#");
    // The anchor written above, copied.
    out.extend_from_within(anchor);
    out.push(')');
    if m.pinned {
        out.push_str(" · 📌 pinned");
    }
    if m.edited {
        out.push_str(" · *edited*");
    }
    out.push_str(" ·");
    match m.kind {
        // {%- if m.kind == "text" and m.reply %} replying to:
        //
        // {{ m.quoted }}
        //
        // {{ m.text }}
        Kind::Reply => {
            out.push_str(" replying to:\n\n");
            if let Some(quoted) = &m.quoted {
                write_quoted(quoted, out);
            }
            out.push_str("\n\n");
            if let Some(text) = &m.text {
                escape_lines_into(text, "", out);
            }
        }
        // {%- elif m.kind == "text" %} {{ m.text }}
        Kind::Text => {
            out.push(' ');
            if let Some(text) = &m.text {
                escape_lines_into(text, "", out);
            }
        }
        // {%- elif m.kind == "image" %} 🖼️ {% if m.image_src %}![Image from {{ m.name }}]
        // ({{ m.image_src|md_url }}){% elif m.url %}[Image]({{ m.url|md_url }}){% else %}Image
        // (link not allowed): {{ m.url_text }}{% endif %}
        Kind::Image => {
            out.push_str(" 🖼️ ");
            if let Some(source) = m.image_src.as_ref().filter(|source| !source.is_empty()) {
                out.push_str("![Image from ");
                escape_inline(&m.name, out);
                out.push_str("](");
                md_url(source, out);
                out.push(')');
            } else if let Some(url) = m.url.as_ref().filter(|url| !url.is_empty()) {
                out.push_str("[Image](");
                md_url(url, out);
                out.push(')');
            } else {
                out.push_str("Image (link not allowed): ");
                escaped_or_nothing(out, m.url_text.as_deref());
            }
        }
        // {%- elif m.kind == "file" %} 📎 {% if m.url %}[{{ m.file_name if m.file_name else
        // "File" }}]({{ m.url|md_url }}){% else %}{{ m.file_name if m.file_name else "File" }}
        // (link not allowed: {{ m.url_text }}){% endif %}{% if m.file_size %}
        // ({{ m.file_size }}){% endif %}
        Kind::File => {
            let file_name = match &m.file_name {
                Some(name) if !name.is_empty() => name.as_str(),
                _ => "File",
            };
            out.push_str(" 📎 ");
            if let Some(url) = m.url.as_ref().filter(|url| !url.is_empty()) {
                out.push('[');
                escape_inline(file_name, out);
                out.push_str("](");
                md_url(url, out);
                out.push(')');
            } else {
                escape_inline(file_name, out);
                out.push_str(" (link not allowed: ");
                escaped_or_nothing(out, m.url_text.as_deref());
                out.push(')');
            }
            if truthy(m.file_size.as_ref()) {
                out.push_str(" (");
                escaped_or_nothing(out, m.file_size.as_deref());
                out.push(')');
            }
        }
        // {%- else %} Message of type {{ m.payload_type }}: {{ m.payload }}
        Kind::Other => {
            out.push_str(" Message of type ");
            escape_inline(m.payload_type.as_str(), out);
            out.push_str(": ");
            escaped_or_nothing(out, m.payload.as_deref());
        }
    }
    // {%- endif %}{% if m.unavailable %} · ⚠️ not saved: {{ m.unavailable }}{% endif %}
    if truthy(m.unavailable.as_ref()) {
        out.push_str(" · ⚠️ not saved: ");
        escaped_or_nothing(out, m.unavailable.as_deref());
    }
    //
    // {% endfor -%}
    out.push_str("\n\n");
}

/// `speech.md.jinja`, in the three parts a streaming writer needs.
pub(crate) const SPEECH: DirectGroup = DirectGroup {
    open: write_speech_open,
    message: write_utterance,
    close: write_group_close,
};

/// `speech.md.jinja` up to the loop over `group.messages`.
fn write_speech_open(group: &GroupView, _labels: &mut TimeLabels, out: &mut String) {
    write_day(group, out);
    // 🎙 **{{ group.name }}**
    //
    out.push_str("🎙 **");
    escape_inline(&group.name, out);
    out.push_str("**\n\n");
}

/// One iteration of the loop over `group.messages` in `speech.md.jinja`.
fn write_utterance(m: &MessageView<'_>, labels: &mut TimeLabels, out: &mut String) {
    // <a id="{{ m.anchor }}"></a>[{{ m.time }}](#{{ m.anchor }}) · 🎙 {{ m.text }}
    //
    // {% endfor -%}
    let anchor = m.anchor();
    out.push_str("<a id=\"");
    out.push_str(&anchor);
    out.push_str("\"></a>[");
    escaped_with(out, |out| labels.write_time(m.at, out));
    out.push_str("](#");
    out.push_str(&anchor);
    out.push_str(") · 🎙 ");
    if let Some(text) = &m.text {
        escape_lines_into(text, "", out);
    }
    out.push_str("\n\n");
}

/// `m.quoted` as the Markdown flavor renders it: a blockquote.
pub(crate) fn write_quoted(text: &str, out: &mut String) {
    out.push_str("> ");
    escape_lines_into(text, "> ", out);
}

/// `pinned.md.jinja`.
pub(crate) fn write_pin(pin: &PinView, out: &mut String) {
    // - [{{ pin.time }}](#{{ pin.anchor }}) **{{ pin.name }}**: {{ pin.excerpt }}
    // and the template file's final newline.
    out.push_str("- [");
    escape_inline(&pin.time, out);
    out.push_str("](#");
    out.push_str(&pin.anchor);
    out.push_str(") **");
    escape_inline(&pin.name, out);
    out.push_str("**: ");
    escape_inline(&pin.excerpt, out);
    out.push('\n');
}

#[cfg(test)]
mod tests {
    use chatdump_transcript::view::{
        generated_groups, generated_pins, generated_speech_groups, group_context, pin_context,
    };
    use chatdump_transcript::{Flavor as _, TranscriptOptions, Zone, load_templates};

    use super::*;
    use crate::Markdown;

    /// The direct writers give the default templates' bytes for thousands of generated groups
    /// and pinned entries, hostile text and missing values included.
    #[test]
    fn direct_writers_match_the_default_templates() {
        let templates = load_templates(&Markdown, &TranscriptOptions::default()).unwrap();
        let group_template = templates.environment.get_template(Markdown::GROUP).unwrap();
        for name in ["UTC", "Asia/Kolkata", "America/New_York"] {
            let zone = Zone::from_name(name).unwrap();
            let mut labels = TimeLabels::new(zone.clone());
            for (index, group) in generated_groups(1, 2000).into_iter().enumerate() {
                let mut direct = String::new();
                GROUP.write(&group, &mut labels, &mut direct);
                let expected = group_template
                    .render(group_context(
                        group,
                        &zone,
                        Markdown.text_renderer(),
                        Markdown.quoted_renderer(),
                    ))
                    .unwrap();
                assert_eq!(direct, expected, "{name}: group {index}");
            }
        }
        let speech_template = templates
            .environment
            .get_template(Markdown::SPEECH)
            .unwrap();
        for name in ["UTC", "Asia/Kolkata", "America/New_York"] {
            let zone = Zone::from_name(name).unwrap();
            let mut labels = TimeLabels::new(zone.clone());
            for (index, group) in generated_speech_groups(3, 2000).into_iter().enumerate() {
                let mut direct = String::new();
                SPEECH.write(&group, &mut labels, &mut direct);
                let expected = speech_template
                    .render(group_context(
                        group,
                        &zone,
                        Markdown.text_renderer(),
                        Markdown.quoted_renderer(),
                    ))
                    .unwrap();
                assert_eq!(direct, expected, "{name}: speech group {index}");
            }
        }
        let pin_template = templates
            .environment
            .get_template(Markdown::PINNED)
            .unwrap();
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
