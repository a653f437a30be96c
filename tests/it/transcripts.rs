//! Markdown and HTML transcripts: snapshots of the sample in two zones, the hostile fixture in
//! both formats (nothing live may come out), templates overrides and the options.

use std::collections::BTreeSet;
use std::fs;

use pulldown_cmark::{Event, Options, Parser, Tag, TagEnd};

use crate::support::{Chatdump, temp_dir};

/// Converts a fixture to one transcript format on standard output.
#[track_caller]
pub(crate) fn transcript(fixture: &str, format: &str, extra: &[&str]) -> String {
    let mut args = vec!["convert", fixture, "--format", format, "--output", "-"];
    args.extend_from_slice(extra);
    Chatdump::new(args).run().success().to_owned()
}

#[test]
fn sample_markdown_utc() {
    insta::assert_snapshot!(transcript("sample-chat-dump.csv", "md", &[]));
}

#[test]
fn sample_markdown_kolkata() {
    let text = transcript(
        "sample-chat-dump.csv",
        "md",
        &["--timezone", "Asia/Kolkata"],
    );
    assert!(text.contains("timezone: \"Asia/Kolkata\""));
    assert!(
        text.contains("[14:30:04 IST]"),
        "09:00:04 UTC is 14:30:04 IST"
    );
    insta::assert_snapshot!(text);
}

#[test]
fn sample_html_utc() {
    insta::assert_snapshot!(transcript("sample-chat-dump.csv", "html", &[]));
}

#[test]
fn sample_html_new_york() {
    let html = transcript(
        "sample-chat-dump.csv",
        "html",
        &["--timezone", "America/New_York"],
    );
    assert!(
        html.contains(">05:00:04 EDT</time>"),
        "09:00:04 UTC is 05:00:04 EDT"
    );
    // The machine-readable instant stays in UTC.
    assert!(html.contains("datetime=\"2024-05-14T09:00:04.112Z\""));
    insta::assert_snapshot!(html);
}

#[test]
fn hostile_markdown_snapshot() {
    insta::assert_snapshot!(transcript("hostile-transcript.csv", "md", &[]));
}

#[test]
fn hostile_html_snapshot() {
    insta::assert_snapshot!(transcript("hostile-transcript.csv", "html", &[]));
}

#[test]
fn output_is_identical_whatever_the_machine_zone_and_locale() {
    for format in ["md", "html"] {
        let args = [
            "convert",
            "sample-chat-dump.csv",
            "--format",
            format,
            "--output",
            "-",
            "--timezone",
            "Europe/Madrid",
        ];
        let utc = Chatdump::new(args).run().success().to_owned();
        let elsewhere = Chatdump::new(args)
            .env("TZ", "Pacific/Chatham")
            .env("LC_ALL", "de_DE.UTF-8")
            .env("TZDIR", "/nonexistent")
            .run()
            .success()
            .to_owned();
        assert_eq!(utc, elsewhere, "{format}");
    }
}

/// Characters that must never reach a transcript as themselves: terminal controls and bidi
/// overrides (Markdown shows the latter as `[U+202E]`).
fn assert_no_terminal_controls(text: &str) {
    for c in text.chars() {
        assert!(
            !c.is_control() || c == '\n' || c == '\t',
            "control character {c:?} in output"
        );
    }
}

#[test]
fn hostile_markdown_creates_no_markup() {
    for extra in [&[][..], &["--no-remote-images"][..]] {
        let markdown = transcript("hostile-transcript.csv", "md", extra);
        assert_no_terminal_controls(&markdown);
        assert!(!markdown.contains('\u{202e}'));
        assert!(markdown.contains(r"Eve\[U+202E\]redivorp\[U+202C\]"));

        let body = markdown.split_once("\n---\n").expect("front matter ends").1;
        let options = Options::ENABLE_TABLES
            | Options::ENABLE_STRIKETHROUGH
            | Options::ENABLE_TASKLISTS
            | Options::ENABLE_FOOTNOTES
            | Options::ENABLE_MATH
            | Options::ENABLE_GFM
            | Options::ENABLE_HEADING_ATTRIBUTES;
        let mut headings = Vec::new();
        let mut heading: Option<String> = None;
        let mut tables = 0;
        let mut rows = 0;
        let mut in_code = false;
        let mut normal_message_seen = false;
        for event in Parser::new_ext(body, options) {
            match &event {
                Event::InlineHtml(html) if html.as_ref() == "</a>" => {}
                Event::Html(html) | Event::InlineHtml(html) => {
                    // The only HTML is the template's own anchors, with encoded ids.
                    let id = html
                        .strip_prefix("<a id=\"msg-")
                        .and_then(|rest| rest.strip_suffix("\">"))
                        .unwrap_or_else(|| panic!("HTML in the Markdown output: {html:?}"));
                    assert!(
                        id.bytes()
                            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'),
                        "{html}"
                    );
                }
                Event::Start(Tag::HtmlBlock) => panic!("an HTML block in the Markdown output"),
                Event::Start(Tag::Link { dest_url, .. }) => assert!(
                    dest_url.starts_with("#msg-")
                        || dest_url.starts_with("https://images.example/")
                        || dest_url.starts_with("https://files.example/"),
                    "link to {dest_url:?}"
                ),
                Event::Start(Tag::Image { dest_url, .. }) => {
                    assert!(
                        !extra.contains(&"--no-remote-images"),
                        "an image with --no-remote-images"
                    );
                    assert!(
                        dest_url.starts_with("https://images.example/"),
                        "image from {dest_url:?}"
                    );
                }
                Event::Start(Tag::Heading { .. }) => heading = Some(String::new()),
                Event::End(TagEnd::Heading(_)) => {
                    headings.push(heading.take().unwrap_or_default());
                }
                Event::Text(text) | Event::Code(text) => {
                    if let Some(heading) = &mut heading {
                        heading.push_str(text);
                    }
                    if text.contains("After all that, this is a normal message.") {
                        assert!(!in_code, "the last message was swallowed by a code block");
                        normal_message_seen = true;
                    }
                }
                Event::Start(Tag::CodeBlock(_)) => in_code = true,
                Event::End(TagEnd::CodeBlock) => in_code = false,
                Event::Start(Tag::Table(_)) => tables += 1,
                Event::Start(Tag::TableRow | Tag::TableHead) => rows += 1,
                Event::InlineMath(_) | Event::DisplayMath(_) | Event::FootnoteReference(_) => {
                    panic!("{event:?} in the Markdown output")
                }
                Event::TaskListMarker(_) => panic!("a task list in the Markdown output"),
                _ => {}
            }
        }
        assert!(normal_message_seen, "the last message is missing");
        assert_eq!(
            headings,
            [
                "Chat transcript",
                "Pinned messages",
                "Messages",
                "Tuesday, 14 May 2024",
                "Wednesday, 15 May 2024",
                "Participants"
            ]
        );
        // The summary table and the participants table, nothing from the messages.
        assert_eq!(tables, 2);
        let summary_rows = 10;
        let people = 15;
        assert_eq!(rows, summary_rows + 1 + people, "table rows");
    }
}

#[test]
fn hostile_markdown_front_matter_is_valid_yaml_strings() {
    let markdown = transcript("hostile-transcript.csv", "md", &[]);
    let front = markdown
        .strip_prefix("---\n")
        .and_then(|rest| rest.split_once("\n---\n"))
        .expect("front matter")
        .0;
    for line in front.lines() {
        let (key, value) = line.split_once(": ").expect("key: value");
        assert!(
            key.chars().all(|c| c.is_ascii_lowercase() || c == '_'),
            "{line}"
        );
        let scalar = value == "null" || value.parse::<f64>().is_ok();
        let quoted = value.starts_with('"') && value.ends_with('"') && value.len() >= 2;
        assert!(scalar || quoted, "{line}");
    }
}

/// Every tag the HTML transcript may contain: the template's own. Anything else came from input.
const ALLOWED_TAGS: &[&str] = &[
    "!doctype",
    "html",
    "head",
    "meta",
    "title",
    "style",
    "body",
    "a",
    "header",
    "h1",
    "h2",
    "h3",
    "dl",
    "div",
    "dt",
    "dd",
    "code",
    "time",
    "span",
    "figure",
    "svg",
    "rect",
    "figcaption",
    "nav",
    "ul",
    "li",
    "main",
    "section",
    "ol",
    "bdi",
    "form",
    "label",
    "input",
    "select",
    "option",
    "output",
    "article",
    "p",
    "blockquote",
    "img",
    "pre",
    "table",
    "thead",
    "tbody",
    "tr",
    "th",
    "td",
    "br",
    "footer",
    "script",
    "strong",
    "em",
    "del",
    "hr",
];

/// Every attribute the HTML transcript may contain.
const ALLOWED_ATTRIBUTES: &[&str] = &[
    "lang",
    "http-equiv",
    "content",
    "charset",
    "name",
    "class",
    "href",
    "id",
    "datetime",
    "viewbox",
    "preserveaspectratio",
    "role",
    "aria-labelledby",
    "aria-label",
    "x",
    "y",
    "width",
    "height",
    "hidden",
    "for",
    "type",
    "autocomplete",
    "spellcheck",
    "placeholder",
    "aria-keyshortcuts",
    "value",
    "aria-live",
    "dir",
    "title",
    "src",
    "alt",
    "loading",
    "decoding",
    "referrerpolicy",
    "scope",
    "start",
    "disabled",
    "checked",
];

/// The tags of an HTML document, as (name, attributes), skipping the contents of `<style>`
/// and `<script>` (the template's own, checked by hash in the CSP).
fn tags(html: &str) -> Vec<(String, Vec<(String, String)>)> {
    let mut found = Vec::new();
    let mut rest = html;
    while let Some(start) = rest.find('<') {
        rest = &rest[start + 1..];
        if rest.starts_with('/') {
            continue;
        }
        let end = rest.find('>').expect("tag ends");
        let tag = &rest[..end];
        rest = &rest[end + 1..];
        let tag = tag.strip_suffix('/').unwrap_or(tag).trim_end();
        let (name, mut attributes) = tag.split_once(' ').unwrap_or((tag, ""));
        let name = name.to_ascii_lowercase();
        if name == "!doctype" {
            found.push((name, Vec::new()));
            continue;
        }
        let mut parsed = Vec::new();
        loop {
            attributes = attributes.trim_start();
            if attributes.is_empty() {
                break;
            }
            let name_end = attributes.find(['=', ' ']).unwrap_or(attributes.len());
            let attribute = attributes[..name_end].to_ascii_lowercase();
            attributes = &attributes[name_end..];
            let mut value = String::new();
            if let Some(after) = attributes.strip_prefix("=\"") {
                let close = after.find('"').expect("attribute value ends");
                after[..close].clone_into(&mut value);
                attributes = &after[close + 1..];
            } else {
                assert!(
                    !attributes.starts_with('='),
                    "unquoted attribute value in <{name}>"
                );
            }
            parsed.push((attribute, value));
        }
        if name == "style" || name == "script" {
            let close = format!("</{name}>");
            let end = rest.find(&close).expect("element ends");
            rest = &rest[end..];
        }
        found.push((name, parsed));
    }
    found
}

#[test]
fn hostile_html_has_only_the_templates_markup() {
    for extra in [&[][..], &["--no-remote-images"][..]] {
        let html = transcript("hostile-transcript.csv", "html", extra);
        assert_no_terminal_controls(&html.replace(['\t'], " "));
        assert!(html.starts_with(
            "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; script-src 'sha256-"
        ));
        let mut scripts = 0;
        let mut images = BTreeSet::new();
        for (name, attributes) in tags(&html) {
            assert!(ALLOWED_TAGS.contains(&name.as_str()), "tag <{name}>");
            scripts += usize::from(name == "script");
            for (attribute, value) in attributes {
                assert!(
                    ALLOWED_ATTRIBUTES.contains(&attribute.as_str()),
                    "attribute {attribute} on <{name}>"
                );
                if attribute == "href" {
                    let value = value.replace("&#x2f;", "/");
                    assert!(
                        value.starts_with('#')
                            || value.starts_with("https://")
                            || value.starts_with("http://")
                            || value.starts_with("mailto:"),
                        "href {value:?}"
                    );
                }
                if attribute == "src" {
                    images.insert(value.replace("&#x2f;", "/").replace("&amp;", "&"));
                }
            }
        }
        assert_eq!(scripts, 1, "one script: the page's own");
        if extra.is_empty() {
            // The one image message with an https URL, and nothing else.
            assert_eq!(
                images.into_iter().collect::<Vec<_>>(),
                ["https://images.example/photo%20one.png?a=1&b=%3C2%3E"]
            );
            assert!(html.contains("img-src https:;"));
        } else {
            assert!(images.is_empty(), "{images:?}");
            assert!(html.contains("img-src 'none';"));
        }
        // What was written is still there to read, as text.
        assert!(html.contains("&lt;script&gt;window.__pwned="));
        assert!(html.contains("After all that, this is a normal message."));
    }
}

#[test]
fn empty_chat_says_so() {
    let header = "id,participantId,sessionId,meetingId,displayName,pinned,isEdited,payloadType,payload,createdAt\n";
    let markdown = Chatdump::new(["convert", "-", "--format", "md", "--output", "-"])
        .stdin(header)
        .run()
        .success()
        .to_owned();
    assert!(
        markdown.contains("*This chat has no messages.*"),
        "{markdown}"
    );
    assert!(markdown.contains("messages: 0\n"));
    let html = Chatdump::new(["convert", "-", "--format", "html", "--output", "-"])
        .stdin(header)
        .run()
        .success()
        .to_owned();
    assert!(html.contains("This chat has no messages."));
    assert!(html.trim_end().ends_with("</html>"));
}

#[test]
fn templates_directory_overrides_by_name() {
    let dir = temp_dir();
    fs::write(
        dir.path().join("group.md.jinja"),
        "{% for m in group.messages %}* {{ group.name }}: {{ m.text }}\n{% endfor %}",
    )
    .unwrap();
    fs::write(
        dir.path().join("transcript.css"),
        "body { color: rebeccapurple }",
    )
    .unwrap();
    let templates = dir.path().to_str().unwrap();
    let markdown = transcript("sample-chat-dump.csv", "md", &["--templates", templates]);
    assert!(markdown.contains("* Mary Sue (Host): Welcome everyone\\! We'll start in 2 minutes."));
    // Templates that were not overridden keep their defaults.
    assert!(markdown.starts_with("---\ntitle: \"Chat transcript\""));
    let html = transcript("sample-chat-dump.csv", "html", &["--templates", templates]);
    assert!(html.contains("<style>body { color: rebeccapurple }</style>"));
    // The policy allows the overridden stylesheet by its hash, so it still applies.
    assert!(html.contains("style-src 'sha256-"));
    assert!(!html.contains("style-src 'sha256-47DEQpj8HBSa"));
}

#[test]
fn bad_template_and_bad_options_are_reported() {
    let dir = temp_dir();
    fs::write(dir.path().join("pinned.md.jinja"), "{% for %}").unwrap();
    let output = dir.path().join("out.md");
    let run = Chatdump::new([
        "convert",
        "sample-chat-dump.csv",
        "--format",
        "md",
        "--templates",
        dir.path().to_str().unwrap(),
        "--output",
        output.to_str().unwrap(),
    ])
    .run();
    run.assert_code(1);
    assert!(run.stderr.contains("pinned.md.jinja"), "{}", run.stderr);
    assert!(!output.exists(), "no partial output");

    // An error while rendering a group (on the rendering thread) stops the run too.
    fs::write(dir.path().join("pinned.md.jinja"), "- {{ pin.name }}\n").unwrap();
    fs::write(
        dir.path().join("group.md.jinja"),
        "{{ group.no_such_field }}",
    )
    .unwrap();
    let run = Chatdump::new([
        "convert",
        "sample-chat-dump.csv",
        "--format",
        "md",
        "--templates",
        dir.path().to_str().unwrap(),
        "--output",
        output.to_str().unwrap(),
    ])
    .run();
    run.assert_code(1);
    assert!(run.stderr.contains("group.md.jinja"), "{}", run.stderr);
    assert!(!output.exists(), "no partial output");

    let run = Chatdump::new([
        "convert",
        "sample-chat-dump.csv",
        "--format",
        "html",
        "--timezone",
        "Mars/Olympus_Mons",
        "--output",
        "-",
    ])
    .run();
    run.assert_code(2);
    assert!(
        run.stderr.contains("unknown time zone `Mars/Olympus_Mons`"),
        "{}",
        run.stderr
    );
}

#[test]
fn sample_transcripts_have_what_the_issue_asks_for() {
    let markdown = transcript("sample-chat-dump.csv", "md", &[]);
    for expected in [
        "| **Meeting** | bbb8940e-1b97-402a-97d6-2708b7feca41 |",
        "| **Duration** | 12 min 55 s |",
        "## Pinned messages",
        "### Tuesday, 14 May 2024",
        "· *edited* ·",
        "replying to:\n\n> Question, Mary: is the \"beta\" date still 1 July, or later?\n\nStill 1 July 🤞",
        "(18.3 KiB)",
        "(rejoined: c2d7e1f0-3a4b-4c5d-8e9f-0a1b2c3d4e5f, d8e9f0a1-b2c3-4d4e-9f5a-6b7c8d9e0f1a)",
    ] {
        assert!(markdown.contains(expected), "missing {expected:?}");
    }
    let html = transcript("sample-chat-dump.csv", "html", &["--no-remote-images"]);
    for expected in [
        "<a class=\"time\" href=\"#msg-8d3f1e2a-0b4c-4d5e-9f6a-7b8c9d0e1f20\"",
        "<time datetime=\"2024-05-14T09:00:04.112Z\">09:00:04 UTC</time>",
        "<svg viewBox=\"0 0 720 60\"",
        "<input id=\"search-text\" type=\"search\"",
        "<bdi class=\"name c",
        "<div class=\"body\" dir=\"auto\">",
        "@media (prefers-color-scheme: dark)",
        "@media print",
        "Image</a> <span class=\"muted\">(not loaded)</span>",
    ] {
        assert!(html.contains(expected), "missing {expected:?}");
    }
    assert!(!html.contains("<img"));
}

/// `examples/` holds the sample's transcripts so a visitor can open one without building
/// anything. This test fails when they are stale; with `CHATDUMP_UPDATE_EXAMPLES=1` it writes
/// the fresh ones in place instead (commit them), and only then.
#[test]
fn example_transcripts_are_up_to_date() {
    let examples = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples");
    let update = std::env::var_os("CHATDUMP_UPDATE_EXAMPLES").is_some_and(|value| value == "1");
    let mut stale = Vec::new();
    for (format, extension) in [("md", "md"), ("html", "html")] {
        let fresh = transcript("sample-chat-dump.csv", format, &[]);
        let path = examples.join(format!("sample-chat-dump.{extension}"));
        if fs::read_to_string(&path).ok().as_deref() != Some(fresh.as_str()) {
            if update {
                fs::write(&path, &fresh).expect("write the example");
                eprintln!("rewrote {} (commit it)", path.display());
            } else {
                stale.push(path.display().to_string());
            }
        }
    }
    assert!(
        stale.is_empty(),
        "stale examples: {stale:?}; run `CHATDUMP_UPDATE_EXAMPLES=1 cargo test -p chatdump-cli \
         --test it example_transcripts` to rewrite them, then commit them"
    );
}

/// Long hostile messages must render in time linear in their size (a quadratic step would take
/// minutes here): dots after `www`, a URL followed by thousands of `)`, deep nesting, long
/// lines of markup characters.
#[test]
fn long_hostile_messages_render_in_linear_time() {
    let header = "id,participantId,sessionId,meetingId,displayName,pinned,isEdited,payloadType,payload,createdAt\n";
    let payloads = [
        format!("www{}", ".".repeat(1 << 20)),
        format!("https://x.example/{}", ")".repeat(60_000)),
        format!("see https://x.example/{}", "(".repeat(60_000)),
        ">".repeat(1 << 20),
        "*_[`<".repeat(200_000),
        "a\n".repeat(300_000),
    ];
    let mut csv = header.to_owned();
    for (index, payload) in payloads.iter().enumerate() {
        csv.push_str(&format!(
            "m{index},p,s,m,Name,false,false,TEXT_MESSAGE,\"{payload}\",2024-05-14T09:00:0{index}Z\n"
        ));
    }
    for format in ["md", "html"] {
        let started = std::time::Instant::now();
        let run = Chatdump::new(["convert", "-", "--format", format, "--output", "-"])
            .stdin(csv.clone())
            .run();
        run.assert_code(0);
        assert!(
            started.elapsed() < std::time::Duration::from_secs(30),
            "{format} took {:?}",
            started.elapsed()
        );
        assert!(run.stdout_text().contains("m5"));
    }
}

/// The default group and pinned templates are also written out in Rust (the fast path); a
/// `--templates` directory holding copies of the defaults sends everything through minijinja
/// instead. Both must give the same bytes for every fixture, format and option.
#[test]
fn default_templates_and_their_fast_path_agree_on_every_fixture() {
    let dir = temp_dir();
    let defaults = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../templates");
    for entry in fs::read_dir(&defaults).unwrap() {
        let path = entry.unwrap().path();
        fs::copy(&path, dir.path().join(path.file_name().unwrap())).unwrap();
    }
    let templates = dir.path().to_str().unwrap();
    // Skipped records of the fixtures with bad rows go here, not beside the fixtures.
    let rejects_dir = temp_dir();
    let rejects = rejects_dir.path().join("rejects.jsonl");
    let rejects = rejects.to_str().unwrap();
    let mut fixtures: Vec<String> = fs::read_dir(crate::support::fixtures_dir())
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| {
            std::path::Path::new(name)
                .extension()
                .is_some_and(|extension| extension == "csv")
                && !name.starts_with("error-")
        })
        .collect();
    fixtures.sort();
    assert!(fixtures.len() >= 15, "{fixtures:?}");
    let header = "id,participantId,sessionId,meetingId,displayName,pinned,isEdited,payloadType,payload,createdAt\n";
    for format in ["md", "html"] {
        for extra in [
            &[][..],
            &["--no-remote-images", "--timezone", "Asia/Kolkata"][..],
            &["--timezone", "America/New_York"][..],
        ] {
            for fixture in &fixtures {
                let mut args = vec![
                    "convert",
                    fixture.as_str(),
                    "--format",
                    format,
                    "--output",
                    "-",
                    "--on-error",
                    "skip",
                    "--rejects",
                    rejects,
                ];
                args.extend_from_slice(extra);
                let fast = Chatdump::new(&args).run().success().to_owned();
                args.extend_from_slice(&["--templates", templates]);
                let engine = Chatdump::new(&args).run().success().to_owned();
                assert!(
                    fast == engine,
                    "{fixture} {format} {extra:?}: the fast path differs from the templates"
                );
            }
            let mut args = vec!["convert", "-", "--format", format, "--output", "-"];
            args.extend_from_slice(extra);
            let fast = Chatdump::new(&args)
                .stdin(header)
                .run()
                .success()
                .to_owned();
            args.extend_from_slice(&["--templates", templates]);
            let engine = Chatdump::new(&args)
                .stdin(header)
                .run()
                .success()
                .to_owned();
            assert_eq!(fast, engine, "empty chat {format} {extra:?}");
        }
    }
}

/// A chat long enough for the fast path to reuse the buffers of groups it already wrote
/// (thousands of messages of every kind, long and short, with and without optional parts, in
/// runs of one person and alternating people, across days): every reused view must show only
/// its new message, so the fast path and the templates still agree byte for byte.
#[test]
fn fast_path_reusing_buffers_agrees_with_the_templates() {
    let dir = temp_dir();
    let defaults = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../templates");
    for entry in fs::read_dir(&defaults).unwrap() {
        let path = entry.unwrap().path();
        fs::copy(&path, dir.path().join(path.file_name().unwrap())).unwrap();
    }
    let templates = dir.path().to_str().unwrap();
    let payloads = [
        (
            "TEXT_MESSAGE",
            "hello **there** https://x.example/a_b".to_owned(),
        ),
        ("TEXT_MESSAGE", "plain words".to_owned()),
        (
            "TEXT_MESSAGE",
            "<blockquote>quoted *text*</blockquote>\n\nthe reply".to_owned(),
        ),
        ("TEXT_MESSAGE", format!("long {}", "word ".repeat(400))),
        ("IMAGE_MESSAGE", "https://images.example/a b.png".to_owned()),
        ("IMAGE_MESSAGE", "javascript:alert(1)".to_owned()),
        (
            "FILE_MESSAGE",
            r#"{"link":"https://files.example/r.pdf","name":"r.pdf","size":2044680}"#.to_owned(),
        ),
        ("FILE_MESSAGE", "ftp://files.example/plain".to_owned()),
        ("CUSTOM_MESSAGE", r#"{"poll":"<b>vote</b>"}"#.to_owned()),
        ("TEXT_MESSAGE", "1. list\n- item\n\n`code`".to_owned()),
    ];
    let names = ["Ann", "Bo", "Ann", "Ann", "Cy # admin", "Bo"];
    let mut csv = "id,participantId,sessionId,meetingId,displayName,pinned,isEdited,payloadType,payload,createdAt\n".to_owned();
    for index in 0..6_000_u64 {
        let (payload_type, payload) = &payloads[usize::try_from(index * 7 % 10).unwrap()];
        let name = names[usize::try_from(index / 3 % 6).unwrap()];
        // 37 s apart: groups break on the 5-minute gap now and then, and days change.
        let at = jiff::Timestamp::from_second(1_715_677_204 + i64::try_from(index).unwrap() * 37)
            .unwrap();
        csv.push_str(&format!(
            "m{index},p-{name},s,mt,{name},{},{},{payload_type},\"{}\",{at}\n",
            index % 13 == 0,
            index % 5 == 0,
            payload.replace('"', "\"\"")
        ));
    }
    for format in ["md", "html"] {
        for extra in [
            &[][..],
            &["--no-remote-images", "--timezone", "Asia/Kolkata"][..],
        ] {
            let mut args = vec!["convert", "-", "--format", format, "--output", "-"];
            args.extend_from_slice(extra);
            let fast = Chatdump::new(&args)
                .stdin(csv.clone())
                .run()
                .success()
                .to_owned();
            args.extend_from_slice(&["--templates", templates]);
            let engine = Chatdump::new(&args)
                .stdin(csv.clone())
                .run()
                .success()
                .to_owned();
            assert!(fast.contains("m5999"), "{format}");
            assert!(
                fast == engine,
                "{format} {extra:?}: the fast path differs from the templates"
            );
        }
    }
}

/// The bidirectional controls: embeddings, overrides and isolates, and the three marks.
const BIDI_CONTROLS: [char; 12] = [
    '\u{202a}', '\u{202b}', '\u{202c}', '\u{202d}', '\u{202e}', '\u{2066}', '\u{2067}', '\u{2068}',
    '\u{2069}', '\u{200e}', '\u{200f}', '\u{061c}',
];

/// `hostile-controls.csv` puts ESC, CSI (U+009B), DEL, CR and every bidirectional control in
/// every field that reaches a transcript (ids, session and meeting ids, display name, text,
/// quoted text, HTML character references that decode to controls, link title, code-fence info
/// string, image and file links, file name, payload type, payload, an extra column) and in the
/// input's file name. No transcript, in either format, on the fast path or through the template
/// engine, may carry a raw control character other than tab and line feed; a Markdown one no
/// bidirectional control either (it cannot isolate them, so it shows them as `[U+202E]`).
#[test]
fn controls_and_bidi_never_reach_a_transcript_raw() {
    let dir = temp_dir();
    let input = dir.path().join("dump\u{1b}[31m\u{9b}\u{202e}\u{200f}.csv");
    fs::write(
        &input,
        crate::support::fixture_bytes("hostile-controls.csv"),
    )
    .unwrap();
    let templates = dir.path().join("templates");
    fs::create_dir(&templates).unwrap();
    let defaults = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../templates");
    for entry in fs::read_dir(&defaults).unwrap() {
        let path = entry.unwrap().path();
        fs::copy(&path, templates.join(path.file_name().unwrap())).unwrap();
    }
    for format in ["md", "html"] {
        for extra in [
            &[][..],
            &["--templates".as_ref(), templates.as_os_str()][..],
        ] {
            let mut args = vec![
                "convert".as_ref(),
                input.as_os_str(),
                "--format".as_ref(),
                format.as_ref(),
                "--output".as_ref(),
                "-".as_ref(),
            ];
            args.extend_from_slice(extra);
            let text = Chatdump::new(&args).run().success().to_owned();
            let context = |index: usize| {
                let start = text.floor_char_boundary(index.saturating_sub(80));
                let end = text.ceil_char_boundary((index + 80).min(text.len()));
                text[start..end].to_owned()
            };
            for (index, c) in text.char_indices() {
                assert!(
                    !c.is_control() || c == '\n' || c == '\t',
                    "{format} {extra:?}: control {c:?} in output: {:?}",
                    context(index)
                );
                if format == "md" {
                    assert!(
                        !BIDI_CONTROLS.contains(&c),
                        "{format} {extra:?}: bidi control {c:?} in output: {:?}",
                        context(index)
                    );
                }
            }
            // Shown, not dropped: every message is there, the controls as pictures.
            for id in ["c1", "c2", "c3", "c4", "c5", "c6", "c7", "c8", "c9", "c10"] {
                assert!(text.contains(&format!("msg-{id}")), "{format}: {id}");
            }
            assert!(text.contains('␛') && text.contains('␡'), "{format}");
            // Names, ids, file names and URLs shown as text have their bidi controls shown in
            // both formats: they are never meant to be reordered.
            for expected in [
                "U+202E",  // names, ids
                "U+200F",  // the mark in a name
                "dp.exe",  // the file name
                "gnp.exe", // the image link (percent-encoded where it is a link target)
            ] {
                assert!(text.contains(expected), "{format}: missing {expected:?}");
            }
        }
    }
}
