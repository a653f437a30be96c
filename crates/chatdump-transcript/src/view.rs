//! What the group, speech and pinned templates see: a group of messages or of utterances
//! (`group`, with `day`), one message or utterance (`m` in `{% for m in group.messages %}`) and
//! one pinned entry (`pin`), as plain structs. The template path wraps them in minijinja values, computing
//! each value from the fields as the field docs say ([`group_context`],
//! [`pin_context`]); a format's direct writers ([`crate::Flavor::direct_group`]) read the same
//! structs, so both paths render from the very same data.

use std::borrow::Cow;
use std::sync::Arc;

use chatdump_core::model::PayloadType;
use chatdump_core::time::format_utc;
use jiff::Timestamp;
use jiff::civil::Date;
use minijinja::context;
use minijinja::value::{Enumerator, Object, Value};

use crate::stats::Kind;
use crate::text::{anchor, clean_value, speech_anchor};
use crate::writer::color;
use crate::zone::{TimeLabels, Zone, day_label};

/// Renders message text (controls already cleaned) into ready HTML or Markdown.
pub type RenderFn = fn(&str) -> String;

/// The format's default group template written out in Rust, in the three parts a streaming
/// writer needs: what comes before the messages, one message, what comes after them. Together
/// they append exactly what the template renders for a group ([`DirectGroup::write`]), with the
/// times labelled by the [`TimeLabels`] of the transcript's zone.
#[derive(Debug, Clone, Copy)]
pub struct DirectGroup {
    /// The day heading (when `group.day` is set) and the group's opening; `group.messages` is
    /// not read, so a group can be opened before its messages are known.
    pub open: fn(&GroupView, &mut TimeLabels, &mut String),
    /// One iteration of the template's loop over `group.messages`.
    pub message: fn(&MessageView<'_>, &mut TimeLabels, &mut String),
    /// What follows the loop.
    pub close: fn(&mut String),
}

impl DirectGroup {
    /// Appends a whole group, as the template renders it.
    pub fn write(&self, group: &GroupView, labels: &mut TimeLabels, out: &mut String) {
        (self.open)(group, labels, out);
        for message in &group.messages {
            (self.message)(message, labels, out);
        }
        (self.close)(out);
    }
}

/// Appends one pinned entry exactly as the format's default pinned template renders it.
pub type WritePinFn = fn(&PinView, &mut String);

/// One run of messages from one person (`group`), with its day heading (`day`), or, when
/// `speech` is set, one run of utterances of one speaker (rendered by the speech template).
/// Fields hold what the template values are computed from; the comments say how.
#[derive(Debug, Clone)]
pub struct GroupView {
    /// The day, when this group is the first of its day: `day.date` is it as `2024-05-14`,
    /// `day.label` is [`day_label`], `day.timezone` the zone's name.
    pub day: Option<Date>,
    /// The display name, on one line (`group.name`; `group.color` is [`color`] of it).
    pub name: String,
    /// The participant id of the first message, as in the dump (`group.participant_id` is it
    /// with [`clean_value`]).
    pub participant_id: String,
    /// When the first message was sent (`group.datetime` is [`format_utc`] of it,
    /// `group.time` [`Zone::short_time_label`]).
    pub at: Timestamp,
    /// The messages (`group.messages`; `group.anchor` is the first one's `m.anchor`).
    pub messages: Vec<MessageView<'static>>,
    /// Whether these are utterances of the speech transcript (`group.speech`).
    pub speech: bool,
}

/// One message as group templates see it (`m`). Fields hold what the template values are
/// computed from; the comments say how. The id, name, participant id and texts are borrowed
/// from the message where they need no change (the direct writers write them at once); a view
/// kept for the template path is made owned ([`MessageView::into_owned`]).
#[derive(Debug, Clone)]
pub struct MessageView<'a> {
    /// The message id as in the dump (`m.id` is it with [`clean_value`], `m.anchor`
    /// [`anchor`] of it).
    pub id: Cow<'a, str>,
    /// The display name, on one line (`m.name`).
    pub name: Cow<'a, str>,
    /// The participant id as in the dump (`m.participant_id` is it with [`clean_value`]).
    pub participant_id: Cow<'a, str>,
    /// When it was sent (`m.datetime` is [`format_utc`] of it; `m.time` and `m.date_time` are
    /// [`Zone::time_and_date_time_labels`]).
    pub at: Timestamp,
    /// Pinned (`m.pinned`).
    pub pinned: bool,
    /// Edited (`m.edited`).
    pub edited: bool,
    /// Its kind (`m.kind` is [`Kind::as_str`], `m.reply` whether it is [`Kind::Reply`]).
    pub kind: Kind,
    /// The payload type (`m.payload_type` is its name as the dump writes it).
    pub payload_type: PayloadType,
    /// The text, controls cleaned, not yet rendered (`m.text` is it rendered).
    pub text: Option<Cow<'a, str>>,
    /// A reply's quoted text, controls cleaned, not yet rendered (`m.quoted` is it rendered).
    pub quoted: Option<Cow<'a, str>>,
    /// The link target, when the scheme is allowed (`m.url`).
    pub url: Option<String>,
    /// The image source, when remote images are on and the scheme is allowed (`m.image_src`).
    pub image_src: Option<String>,
    /// The URL as text, controls cleaned (`m.url_text`).
    pub url_text: Option<Cow<'a, str>>,
    /// A file's name, on one line (`m.file_name`).
    pub file_name: Option<String>,
    /// A file's size for people, `18.3 KiB` (`m.file_size`).
    pub file_size: Option<String>,
    /// A file's size in bytes (`m.file_size_bytes`).
    pub file_size_bytes: Option<u64>,
    /// The raw payload of another payload type, controls cleaned (`m.payload`).
    pub payload: Option<Cow<'a, str>>,
    /// When an utterance ends, when known (`m.end_datetime` is [`format_utc`] of it, `m.end_time`
    /// [`Zone::time_label`]; both none otherwise).
    pub end: Option<Timestamp>,
    /// An utterance's position in time order, from 0 (`m.speech` is whether it is set; the
    /// anchor is then [`speech_anchor`] of it, and `id` is empty); `None` for a chat message.
    pub utterance: Option<u64>,
    /// `m.url` is the stored copy of the attachment, by relative path (`--media`; `m.local`).
    pub local: bool,
    /// Why the attachment could not be stored, controls cleaned (`--media`; `m.unavailable`).
    pub unavailable: Option<String>,
}

impl MessageView<'_> {
    /// The view with everything it borrows copied, to be kept beyond the message.
    #[must_use]
    pub fn into_owned(self) -> MessageView<'static> {
        let owned = |text: Option<Cow<'_, str>>| text.map(|text| Cow::Owned(text.into_owned()));
        MessageView {
            id: Cow::Owned(self.id.into_owned()),
            name: Cow::Owned(self.name.into_owned()),
            participant_id: Cow::Owned(self.participant_id.into_owned()),
            at: self.at,
            pinned: self.pinned,
            edited: self.edited,
            kind: self.kind,
            payload_type: self.payload_type,
            text: owned(self.text),
            quoted: owned(self.quoted),
            url: self.url,
            image_src: self.image_src,
            url_text: owned(self.url_text),
            file_name: self.file_name,
            file_size: self.file_size,
            file_size_bytes: self.file_size_bytes,
            payload: owned(self.payload),
            end: self.end,
            utterance: self.utterance,
            local: self.local,
            unavailable: self.unavailable,
        }
    }

    /// The fragment identifier: [`speech_anchor`] of an utterance, else [`anchor`] of the id.
    #[must_use]
    pub fn anchor(&self) -> String {
        match self.utterance {
            Some(seq) => speech_anchor(seq),
            None => anchor(&self.id),
        }
    }
}

/// One entry of the pinned list (`pin`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PinView {
    /// The message id, controls cleaned (`pin.id`).
    pub id: String,
    /// The message's anchor (`pin.anchor`, ready to use: no escaping needed).
    pub anchor: String,
    /// The display name, on one line (`pin.name`).
    pub name: String,
    /// The instant in UTC, RFC 3339 (`pin.datetime`).
    pub datetime: String,
    /// The date and time, labelled (`pin.time`).
    pub time: String,
    /// The start of the message, on one line (`pin.excerpt`).
    pub excerpt: String,
}

/// The fields a group template can read from a message.
const FIELDS: &[&str] = &[
    "id",
    "anchor",
    "name",
    "participant_id",
    "datetime",
    "time",
    "date_time",
    "pinned",
    "edited",
    "kind",
    "reply",
    "payload_type",
    "text",
    "quoted",
    "url",
    "image_src",
    "url_text",
    "file_name",
    "file_size",
    "file_size_bytes",
    "payload",
    "speech",
    "end_datetime",
    "end_time",
    "local",
    "unavailable",
];

/// A message as a minijinja object: a struct rather than a map, with the costly fields (the
/// rendered text, the UTC timestamp) computed only when a template reads them.
#[derive(Debug)]
struct MessageObject {
    view: MessageView<'static>,
    time: String,
    date_time: String,
    end_time: Option<String>,
    render_text: RenderFn,
    render_quoted: RenderFn,
}

fn text(value: Option<&str>) -> Value {
    value.map_or(Value::from(()), Value::from)
}

impl Object for MessageObject {
    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        let view = &self.view;
        Some(match key.as_str()? {
            "id" => Value::from(clean_value(&view.id)),
            "anchor" => Value::from_safe_string(view.anchor()),
            "name" => Value::from(view.name.as_ref()),
            "participant_id" => Value::from(clean_value(&view.participant_id)),
            "datetime" => Value::from(format_utc(view.at)),
            "time" => Value::from(self.time.as_str()),
            "date_time" => Value::from(self.date_time.as_str()),
            "pinned" => Value::from(view.pinned),
            "edited" => Value::from(view.edited),
            "kind" => Value::from(view.kind.as_str()),
            "reply" => Value::from(view.kind == Kind::Reply),
            "payload_type" => Value::from(clean_value(view.payload_type.as_str())),
            "text" => view.text.as_ref().map_or(Value::from(()), |body| {
                Value::from_safe_string((self.render_text)(body))
            }),
            "quoted" => view.quoted.as_ref().map_or(Value::from(()), |body| {
                Value::from_safe_string((self.render_quoted)(body))
            }),
            "url" => text(view.url.as_deref()),
            "image_src" => text(view.image_src.as_deref()),
            "url_text" => text(view.url_text.as_deref()),
            "file_name" => text(view.file_name.as_deref()),
            "file_size" => text(view.file_size.as_deref()),
            "file_size_bytes" => Value::from(view.file_size_bytes),
            "payload" => text(view.payload.as_deref()),
            "speech" => Value::from(view.utterance.is_some()),
            "end_datetime" => view
                .end
                .map_or(Value::from(()), |end| Value::from(format_utc(end))),
            "end_time" => text(self.end_time.as_deref()),
            "local" => Value::from(view.local),
            "unavailable" => text(view.unavailable.as_deref()),
            _ => return None,
        })
    }

    fn enumerate(self: &Arc<Self>) -> Enumerator {
        Enumerator::Str(FIELDS)
    }
}

/// The context of the group template: `day` and `group`, times in `zone`, with message text
/// rendered by `render_text` and quoted text by `render_quoted` when the template reads them.
#[must_use]
pub fn group_context(
    group: GroupView,
    zone: &Zone,
    render_text: RenderFn,
    render_quoted: RenderFn,
) -> Value {
    let day = group.day.map(|date| {
        context! {
            date => date.to_string(),
            label => day_label(date),
            timezone => zone.name(),
        }
    });
    let first_anchor = group
        .messages
        .first()
        .map(MessageView::anchor)
        .unwrap_or_default();
    let messages: Vec<Value> = group
        .messages
        .into_iter()
        .map(|view| {
            let (time, date_time) = zone.time_and_date_time_labels(view.at);
            let end_time = view.end.map(|end| zone.time_label(end));
            Value::from_object(MessageObject {
                view,
                time,
                date_time,
                end_time,
                render_text,
                render_quoted,
            })
        })
        .collect();
    context! {
        day => day,
        group => context! {
            name => group.name.as_str(),
            participant_id => clean_value(&group.participant_id),
            color => color(&group.name),
            datetime => format_utc(group.at),
            time => zone.short_time_label(group.at),
            anchor => Value::from_safe_string(first_anchor),
            messages => messages,
            speech => group.speech,
        },
    }
}

/// The context of the pinned template: `pin`.
#[must_use]
pub fn pin_context(pin: PinView) -> Value {
    context! {
        pin => context! {
            id => pin.id,
            anchor => Value::from_safe_string(pin.anchor),
            name => pin.name,
            datetime => pin.datetime,
            time => pin.time,
            excerpt => pin.excerpt,
        },
    }
}

/// Generated groups (behind the `test-support` feature) for tests that compare a direct writer ([`crate::Flavor::direct_group`])
/// with its template: every message kind, missing and empty optional values, and text made of
/// the characters escaping cares about (HTML and Markdown specials, line ends, tabs, bidi
/// controls, non-ASCII). The same `seed` gives the same groups.
#[cfg(feature = "test-support")]
#[must_use]
pub fn generated_groups(seed: u64, count: usize) -> Vec<GroupView> {
    let mut random = Random(seed);
    (0..count).map(|_| random.group()).collect()
}

/// Generated groups of utterances (`speech` set), like [`generated_groups`], for tests that
/// compare a direct speech writer ([`crate::Flavor::direct_speech`]) with its template.
#[cfg(feature = "test-support")]
#[must_use]
pub fn generated_speech_groups(seed: u64, count: usize) -> Vec<GroupView> {
    let mut random = Random(seed);
    (0..count)
        .map(|_| {
            let mut group = random.group();
            group.speech = true;
            for message in &mut group.messages {
                message.id = Cow::Borrowed("");
                message.utterance = Some(random.next() % 100_000);
                message.end = random.flip().then(|| random.instant());
            }
            group
        })
        .collect()
}

/// Generated pinned entries, like [`generated_groups`].
#[cfg(feature = "test-support")]
#[must_use]
pub fn generated_pins(seed: u64, count: usize) -> Vec<PinView> {
    let mut random = Random(seed);
    (0..count)
        .map(|_| PinView {
            id: random.text(),
            anchor: random.text(),
            name: random.text(),
            datetime: random.text(),
            time: random.text(),
            excerpt: random.text(),
        })
        .collect()
}

/// `SplitMix64`: deterministic and good enough to vary test data.
#[cfg(feature = "test-support")]
struct Random(u64);

#[cfg(feature = "test-support")]
impl Random {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, bound: u64) -> usize {
        usize::try_from(self.next() % bound).unwrap_or(0)
    }

    fn flip(&mut self) -> bool {
        self.next() & 1 == 1
    }

    fn text(&mut self) -> String {
        const PIECES: &[&str] = &[
            "a",
            "Zoë",
            "word ",
            " ",
            "  ",
            "\t",
            "\n",
            "\r\n",
            "<",
            ">",
            "&",
            "\"",
            "'",
            "/",
            "&amp;",
            "<b>",
            "*",
            "_",
            "`",
            "~",
            "[",
            "]",
            "(",
            ")",
            "!",
            "#",
            "-",
            "+",
            "=",
            "|",
            ":",
            ".",
            "1.",
            "12)",
            "\\",
            "$",
            "@",
            "www.",
            "https://x.example/a?b=1&c",
            "http:",
            "\u{202e}",
            "\u{a0}",
            "田中",
            "😅",
            "␛",
            "- ",
            "> ",
            "```",
            "none",
            "0",
        ];
        let length = self.below(8);
        (0..length)
            .map(|_| PIECES[self.below(PIECES.len() as u64)])
            .collect()
    }

    fn optional(&mut self) -> Option<String> {
        match self.below(4) {
            0 => None,
            1 => Some(String::new()),
            _ => Some(self.text()),
        }
    }

    fn instant(&mut self) -> Timestamp {
        // Whole seconds, milliseconds, microseconds and nanoseconds (each writes its own number
        // of digits), from 1938 to 2096.
        let nanos = [0, 112_000_000, 123_400_000, 1][self.below(4)];
        let seconds = i64::try_from(self.below(5_000_000_000)).unwrap_or(0) - 1_000_000_000;
        Timestamp::new(seconds, nanos).unwrap_or_default()
    }

    fn message(&mut self) -> MessageView<'static> {
        let kind = [
            Kind::Text,
            Kind::Reply,
            Kind::Image,
            Kind::File,
            Kind::Other,
        ][self.below(5)];
        MessageView {
            id: self.text().into(),
            name: self.text().into(),
            participant_id: self.text().into(),
            at: self.instant(),
            pinned: self.flip(),
            edited: self.flip(),
            kind,
            payload_type: PayloadType::from_name(&self.text()),
            text: self.optional().map(Cow::Owned),
            quoted: self.optional().map(Cow::Owned),
            url: self.optional(),
            image_src: self.optional(),
            url_text: self.optional().map(Cow::Owned),
            file_name: self.optional(),
            file_size: self.optional(),
            file_size_bytes: self.flip().then(|| self.next()),
            payload: self.optional().map(Cow::Owned),
            end: None,
            utterance: None,
            local: self.flip(),
            unavailable: self.optional(),
        }
    }

    fn group(&mut self) -> GroupView {
        let messages = (0..self.below(4)).map(|_| self.message()).collect();
        let at = self.instant();
        GroupView {
            day: self
                .flip()
                .then(|| jiff::tz::TimeZone::UTC.to_datetime(at).date()),
            name: self.text(),
            participant_id: self.text(),
            at,
            messages,
            speech: false,
        }
    }
}
