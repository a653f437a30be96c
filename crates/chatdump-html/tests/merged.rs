//! The merged timeline: chat messages and the speech transcript on one page, with the summary on
//! top (issue 18). Built from `chatdump_transcript::fixture`.

#![allow(
    clippy::disallowed_methods,
    reason = "tests may use the system temporary directory"
)]

use std::path::Path;
use std::sync::Arc;

use chatdump_core::export::{ExportContext, Exporter};
use chatdump_core::speech::Speech;
use chatdump_html::HtmlWriter;
use chatdump_transcript::TranscriptOptions;
use chatdump_transcript::fixture::{merged_messages, merged_speech, plain_summary};

fn render(speech: Option<Speech>, templates: Option<&Path>) -> String {
    let options = TranscriptOptions {
        templates: templates.map(Path::to_owned),
        ..TranscriptOptions::default()
    };
    let mut writer = HtmlWriter::new(Vec::new(), options);
    let context = ExportContext {
        source: "chat.csv".into(),
        tool_version: "test".into(),
        generated_at: None,
        speech: speech.map(Arc::new),
        ..ExportContext::default()
    };
    writer.begin(&context).unwrap();
    for message in merged_messages() {
        writer.message(&message).unwrap();
    }
    writer.finish().unwrap();
    String::from_utf8(writer.into_inner()).unwrap()
}

/// Where each anchor first appears, in page order.
fn positions(html: &str, anchors: &[&str]) -> Vec<usize> {
    anchors
        .iter()
        .map(|anchor| {
            html.find(&format!("id=\"{anchor}\""))
                .unwrap_or_else(|| panic!("{anchor} is missing"))
        })
        .collect()
}

#[test]
fn merged_html_snapshot() {
    insta::assert_snapshot!(render(Some(merged_speech()), None));
}

#[test]
fn one_timeline_in_time_order_utterances_first_at_a_tie() {
    let html = render(Some(merged_speech()), None);
    let order = [
        "summary",
        "day-2024-05-14",
        "speech-0",
        "speech-1",
        "msg-m1",
        "speech-2",
        "msg-m2",
        "speech-3",
        "speech-4",
        "msg-m3",
        "speech-5",
        "speech-6",
        "day-2024-05-15",
        "speech-7",
        "participants",
    ];
    let found = positions(&html, &order);
    assert!(found.is_sorted(), "{order:?} at {found:?}");
    // Speech groups: 0 and 1 (one participant id, two names), 2, 3, 4, 5 and 6, 7.
    assert_eq!(html.matches("<article class=\"group speech\"").count(), 6);
    assert_eq!(html.matches("<article class=\"group\"").count(), 3);
    assert_eq!(html.matches("<div class=\"msg utterance\"").count(), 8);
}

#[test]
fn hostile_speech_and_summary_stay_text() {
    let html = render(Some(merged_speech()), None);
    assert_eq!(
        html.matches("<script").count(),
        1,
        "only the page's own script"
    );
    assert!(!html.contains("javascript:alert"), "no javascript: link");
    assert!(!html.contains("<img src=x"), "raw HTML is escaped");
    assert!(html.contains("&lt;script&gt;alert('speech')"));
    assert!(html.contains("&lt;script&gt;alert('summary')"));
    assert!(!html.contains('\u{1b}') && !html.contains('\u{7}'));
    // A name's bidi control is shown; the text's is isolated by dir="auto".
    assert!(html.contains("Eve[U+202E]&lt;b&gt;"));
    // The Markdown summary went through the safe renderer: the heading became bold text.
    assert!(html.contains("<strong>Owner</strong>"));
    assert!(html.contains(
        "<div class=\"summary body markdown\" dir=\"auto\">\n<p><strong>Summary</strong></p>"
    ));
}

#[test]
fn participants_count_messages_utterances_and_speaking_time() {
    let html = render(Some(merged_speech()), None);
    let table = &html[html.find("id=\"participants\"").unwrap()..];
    assert!(table.contains("<th scope=\"col\" class=\"num\">Utterances</th><th scope=\"col\" class=\"num\">Speaking time</th>"));
    // Ann: 2 messages, utterances 0 (5 s) and 3 (no end) by name "Ann", and the one of "Ann
    // (mic)" (10.5 s), a name of the transcript's with Ann's participant id: one person, one row.
    assert!(table.contains(">Ann</bdi></th><td class=\"num\">2</td><td class=\"num\">3</td><td class=\"num\">15 s</td><td><a href=\"#speech-0\">"), "{table}");
    assert!(!table.contains(">Ann (mic)</bdi>"), "{table}");
    // Bo: 1 message, utterances 2, 5, 6, 7: 5 + 30 + 0 (end before start) + 1 s; the first is
    // utterance 2 (before m2, at the same instant), the last the next day's utterance.
    assert!(table.contains(">Bo</bdi></th><td class=\"num\">1</td><td class=\"num\">4</td><td class=\"num\">36 s</td><td><a href=\"#speech-2\">"), "{table}");
    assert!(
        table.contains("<a href=\"#speech-7\"><time datetime=\"2024-05-15T00:00:05.000Z\">"),
        "{table}"
    );
    assert!(html.contains(
        "<dt>Speech</dt><dd>8 utterances <span class=\"muted\">(52 s speaking time)</span>"
    ));
    // Both on the activity timeline, and the filter.
    assert!(html.contains("<rect class=\"speech\""));
    assert!(html.contains("<select id=\"search-kind\">"));
    assert!(html.contains("body.only-chat .log .group.speech"));
}

#[test]
fn no_speech_or_an_empty_one_changes_nothing() {
    let alone = render(None, None);
    assert_eq!(render(Some(Speech::default()), None), alone);
    assert!(
        !alone.contains("speech"),
        "no trace of speech in a chat alone"
    );
}

#[test]
fn a_summary_alone_is_on_top_without_the_speech_filter() {
    let html = render(
        Some(Speech {
            utterances: Vec::new(),
            summary: Some(plain_summary()),
        }),
        None,
    );
    let summary = html.find("<section id=\"summary\"").unwrap();
    assert!(summary < html.find("id=\"msg-m1\"").unwrap());
    let section = &html[summary..html[summary..].find("</section>").unwrap() + summary];
    insta::assert_snapshot!(section);
    assert!(!html.contains("search-kind"));
    assert!(!html.contains("only-chat"));
}

#[test]
fn templates_and_their_fast_path_agree_on_the_merged_page() {
    let dir = tempfile::tempdir().unwrap();
    for name in ["group.html.jinja", "speech.html.jinja", "pinned.html.jinja"] {
        std::fs::copy(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../../templates")
                .join(name),
            dir.path().join(name),
        )
        .unwrap();
    }
    assert_eq!(
        render(Some(merged_speech()), Some(dir.path())),
        render(Some(merged_speech()), None)
    );
    // Only the speech template overridden: every group goes through the templates.
    let speech_only = tempfile::tempdir().unwrap();
    std::fs::copy(
        dir.path().join("speech.html.jinja"),
        speech_only.path().join("speech.html.jinja"),
    )
    .unwrap();
    assert_eq!(
        render(Some(merged_speech()), Some(speech_only.path())),
        render(Some(merged_speech()), None)
    );
}
