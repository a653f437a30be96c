//! The merged timeline in Markdown: chat messages and the speech transcript in one document,
//! with the summary on top (issue 18). Built from `chatdump_transcript::fixture`.

#![allow(
    clippy::disallowed_methods,
    reason = "tests may use the system temporary directory"
)]

use std::path::Path;
use std::sync::Arc;

use chatdump_core::export::{ExportContext, Exporter};
use chatdump_core::speech::Speech;
use chatdump_markdown::MarkdownWriter;
use chatdump_transcript::TranscriptOptions;
use chatdump_transcript::fixture::{merged_messages, merged_speech, plain_summary};

fn render(speech: Option<Speech>, templates: Option<&Path>) -> String {
    let options = TranscriptOptions {
        templates: templates.map(Path::to_owned),
        ..TranscriptOptions::default()
    };
    let mut writer = MarkdownWriter::new(Vec::new(), options);
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

#[test]
fn merged_markdown_snapshot() {
    insta::assert_snapshot!(render(Some(merged_speech()), None));
}

#[test]
fn one_timeline_in_time_order_utterances_first_at_a_tie() {
    let text = render(Some(merged_speech()), None);
    let order = [
        "## Summary",
        "### Tuesday, 14 May 2024",
        "<a id=\"speech-0\">",
        "<a id=\"speech-1\">",
        "<a id=\"msg-m1\">",
        "<a id=\"speech-2\">",
        "<a id=\"msg-m2\">",
        "<a id=\"speech-3\">",
        "<a id=\"speech-4\">",
        "<a id=\"msg-m3\">",
        "<a id=\"speech-5\">",
        "<a id=\"speech-6\">",
        "### Wednesday, 15 May 2024",
        "<a id=\"speech-7\">",
        "## Participants",
    ];
    let found: Vec<usize> = order
        .iter()
        .map(|needle| {
            text.find(needle)
                .unwrap_or_else(|| panic!("{needle} missing"))
        })
        .collect();
    assert!(found.is_sorted(), "{order:?} at {found:?}");
    // Every utterance carries the marker, each speech group's speaker too.
    assert_eq!(text.matches(") · 🎙 ").count(), 8);
    assert_eq!(text.matches("\n🎙 **").count(), 6);
    assert_eq!(text.matches("\n**Ann**\n").count(), 2);
}

/// Whether `needle` occurs in `text` other than right after a backslash (escaped).
fn unescaped(text: &str, needle: &str) -> bool {
    text.match_indices(needle)
        .any(|(at, _)| !text[..at].ends_with('\\'))
}

#[test]
fn hostile_speech_and_summary_cannot_make_markup() {
    let text = render(Some(merged_speech()), None);
    assert!(!unescaped(&text, "<script"), "raw HTML is escaped");
    assert!(!unescaped(&text, "<img"), "raw HTML is escaped");
    assert!(!unescaped(&text, "](javascript"), "no link to javascript:");
    assert!(!unescaped(&text, "[ship"), "no link text");
    assert!(!text.contains("\n# not"), "no heading from text");
    // A Markdown summary keeps its structure, headings under the transcript's `## Summary`,
    // and loses its link to `javascript:` (the text stays).
    assert!(text.contains("\n### Summary\n"), "{text}");
    assert!(!text.contains("\n# Summary"), "{text}");
    assert!(text.contains("\n- Decision: ship it\n"), "{text}");
    // What a Markdown viewer makes of the document: none of the injected elements.
    let mut html = String::new();
    pulldown_cmark::html::push_html(&mut html, pulldown_cmark::Parser::new(&text));
    for tag in ["<script", "<img", "<b>", "href=\"javascript"] {
        assert!(!html.contains(tag), "{tag} in {html}");
    }
    assert!(!text.contains('\u{1b}') && !text.contains('\u{7}') && !text.contains('\u{202e}'));
    assert!(text.contains(r"\<script\>alert('summary')\</script\>"));
    assert!(text.contains(r"🎙 **Eve\[U+202E\]\<b\>**"));
    assert!(text.contains(r"\[click\](javascript:alert(1)) \*\*bold\*\*"));
}

#[test]
fn participants_count_messages_utterances_and_speaking_time() {
    let text = render(Some(merged_speech()), None);
    assert!(text.contains(
        "| Participant | Messages | Utterances | Speaking time | First | Last |\n|---|--:|--:|--:|---|---|\n| **Ann** | 2 | 3 | 15 s | [Tue 14 May 2024, 23:49:50 UTC](#speech-0) |"
    ), "{text}");
    assert!(text.contains("| **Bo** | 1 | 4 | 36 s |"), "{text}");
    // "Ann (mic)" speaks with Ann's participant id: counted in Ann's row, not one of its own.
    assert!(!text.contains("| **Ann (mic)** |"), "{text}");
    assert!(text.contains("\nutterances: 8\nspeaking_seconds: 52\nsummary: \"markdown\"\n"));
    assert!(text.contains("| **Speech** | 8 utterances (52 s speaking time), marked 🎙 |"));
}

#[test]
fn no_speech_or_an_empty_one_changes_nothing() {
    let alone = render(None, None);
    assert_eq!(render(Some(Speech::default()), None), alone);
    assert!(!alone.contains("🎙") && !alone.contains("Utterances"));
}

#[test]
fn a_plain_summary_is_escaped_on_top() {
    let text = render(
        Some(Speech {
            utterances: Vec::new(),
            summary: Some(plain_summary()),
        }),
        None,
    );
    let start = text.find("## Summary").unwrap();
    let end = text.find("## Messages").unwrap();
    insta::assert_snapshot!(&text[start..end]);
    assert!(!text.contains("🎙"));
}

#[test]
fn templates_and_their_fast_path_agree_on_the_merged_document() {
    let dir = tempfile::tempdir().unwrap();
    for name in ["group.md.jinja", "speech.md.jinja", "pinned.md.jinja"] {
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
}

#[test]
fn speech_without_chat_is_a_transcript_too() {
    let mut writer = MarkdownWriter::new(Vec::new(), TranscriptOptions::default());
    writer
        .begin(&ExportContext {
            speech: Some(Arc::new(merged_speech())),
            ..ExportContext::default()
        })
        .unwrap();
    writer.finish().unwrap();
    let text = String::from_utf8(writer.into_inner()).unwrap();
    assert!(!text.contains("This chat has no messages"), "{text}");
    assert_eq!(text.matches(") · 🎙 ").count(), 8);
    assert!(
        text.contains("### Tuesday, 14 May 2024") && text.contains("### Wednesday, 15 May 2024")
    );
    assert!(text.contains("| **Participants** | 4 |"), "{text}");
}
