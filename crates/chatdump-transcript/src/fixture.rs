//! A merged chat and speech transcript for the format crates' tests (behind the `test-support`
//! feature; not part of the library's API): a few chat messages and utterances that exercise
//! the merged order (an utterance before the first message, ties at one instant, utterances
//! after the last message and on the next day), grouping by speaker (participant id, else name),
//! and hostile text and names (HTML, Markdown links to `javascript:`, controls, bidi).

use chatdump_core::model::{Message, PayloadType, Position};
use chatdump_core::speech::{Speech, Summary, SummaryFormat, Utterance};

fn message(id: &str, participant_id: &str, name: &str, at: &str, text: &str) -> Message {
    Message {
        id: id.into(),
        session_id: "session-1".into(),
        meeting_id: "meeting-1".into(),
        participant_id: participant_id.into(),
        display_name: name.into(),
        pinned: false,
        edited: false,
        created_at: at.parse().expect("a fixture time"),
        payload_type: PayloadType::Text,
        payload: text.into(),
        extra: Vec::new(),
        position: Position::default(),
    }
}

fn utterance(
    index: u64,
    participant_id: Option<&str>,
    name: &str,
    start: &str,
    end: Option<&str>,
    text: &str,
) -> Utterance {
    Utterance {
        session_id: None,
        participant_id: participant_id.map(str::to_owned),
        user_id: None,
        custom_participant_id: None,
        display_name: name.into(),
        start: start.parse().expect("a fixture time"),
        end: end.map(|end| end.parse().expect("a fixture time")),
        text: text.into(),
        position: Position {
            line: index + 2,
            byte: 0,
        },
        index,
    }
}

/// The chat messages, in time order.
#[must_use]
pub fn merged_messages() -> Vec<Message> {
    vec![
        message(
            "m1",
            "p-ann",
            "Ann",
            "2024-05-14T23:50:10Z",
            "Hello from the chat",
        ),
        message(
            "m2",
            "p-bo",
            "Bo",
            "2024-05-14T23:50:20Z",
            "typed <script>alert('chat')</script>",
        ),
        message(
            "m3",
            "p-ann",
            "Ann",
            "2024-05-14T23:51:00Z",
            "last chat message",
        ),
    ]
}

/// The speech transcript (sorted by start, then index) with a Markdown summary.
///
/// The merged order is: utterances 0 and 1 (Ann, one group, before the first message), `m1`,
/// utterance 2 (Bo, at the same instant as `m2`, so before it), `m2`, utterances 3 (Ann) and
/// 4 (Eve, no participant id, same instant: by index), `m3`, utterances 5 and 6 (Bo, 09:05, one
/// group), utterance 7 (Bo, the next day: a day heading and a new group).
#[must_use]
pub fn merged_speech() -> Speech {
    Speech {
        utterances: vec![
            utterance(
                0,
                Some("p-ann"),
                "Ann",
                "2024-05-14T23:49:50Z",
                Some("2024-05-14T23:49:55Z"),
                "Good morning, before anyone typed.",
            ),
            utterance(
                1,
                Some("p-ann"),
                "Ann (mic)",
                "2024-05-14T23:49:58Z",
                Some("2024-05-14T23:50:08.500Z"),
                "Still Ann: same participant id.",
            ),
            utterance(
                2,
                Some("p-bo"),
                "Bo",
                "2024-05-14T23:50:20Z",
                Some("2024-05-14T23:50:25Z"),
                "said <script>alert('speech')</script> at the same instant",
            ),
            utterance(
                3,
                Some("p-ann"),
                "Ann",
                "2024-05-14T23:50:40Z",
                None,
                "[click](javascript:alert(1)) **bold** <img src=x onerror=alert(2)>",
            ),
            utterance(
                4,
                None,
                "Eve\u{202e}<b>",
                "2024-05-14T23:50:40Z",
                Some("2024-05-14T23:50:41Z"),
                "\u{1b}[31mred\u{7} and \u{202e}txt.exe\n# not a heading",
            ),
            utterance(
                5,
                Some("p-bo"),
                "Bo",
                "2024-05-14T23:55:00Z",
                Some("2024-05-14T23:55:30Z"),
                "After the last message.",
            ),
            utterance(
                6,
                Some("p-bo"),
                "Bo",
                "2024-05-14T23:55:40Z",
                Some("2024-05-14T23:55:35Z"),
                "An end before the start counts no speaking time.",
            ),
            utterance(
                7,
                Some("p-bo"),
                "Bo",
                "2024-05-15T00:00:05Z",
                Some("2024-05-15T00:00:06Z"),
                "The next day.",
            ),
        ],
        summary: Some(Summary {
            text: "# Summary\n\n<script>alert('summary')</script>\n\n- Decision: [ship](javascript:alert(3)) it\n- **Owner**: Ann \u{202e}x\u{1b}\n".into(),
            format: SummaryFormat::Markdown,
        }),
    }
}

/// A plain-text summary with characters that mean something in HTML and Markdown.
#[must_use]
pub fn plain_summary() -> Summary {
    Summary {
        text: "Plain <b>summary</b> & notes\n# not a heading\n- not a list [x](javascript:y)\n"
            .into(),
        format: SummaryFormat::Plain,
    }
}
