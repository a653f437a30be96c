//! The transcript exporter both formats share: grouping, day separators, statistics, the
//! pinned list and the page, with the format supplying only its templates and text rendering.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;
use std::sync::mpsc::{SyncSender, sync_channel};
use std::thread::JoinHandle;

use chatdump_core::attachment::{Attachment, Attachments, MediaMode};
use chatdump_core::export::{ExportContext, ExportError, Exporter};
use chatdump_core::model::{Body, Message, PayloadType};
use chatdump_core::output::{BackgroundWriter, Sink};
use chatdump_core::speech::{SummaryFormat, Utterance};
use chatdump_core::time::format_utc;
use jiff::civil::Date;
use jiff::{SignedDuration, Timestamp};
use minijinja::value::Value;
use minijinja::{Environment, context};

use crate::stats::{Kind, Seen, Spoken, Statistics, Timeline};
use crate::templates::{EscapeFn, Spool, Spooled, Templates, render_page};
use crate::text::{
    UrlPolicy, anchor, clean_controls, clean_value, display_name, display_name_cow, excerpt,
    image_url_from_link, relative_href, safe_url,
};
use crate::view::{
    DirectGroup, GroupView, MessageView, PinView, RenderFn, WritePinFn, group_context, pin_context,
};
use crate::zone::{TimeLabels, Zone, human_duration, human_size};

/// The most messages one group holds; a longer run from one person continues in a new group,
/// so memory stays bounded whatever the input.
pub const MAX_GROUP_MESSAGES: usize = 100;
/// Characters of a pinned message shown in the pinned list.
pub const PINNED_EXCERPT_CHARS: usize = 200;
/// The number of colours participants' names cycle through (`color` in templates).
pub const NAME_COLORS: u64 = 8;

/// How a transcript is rendered; the same for both formats.
#[derive(Debug, Clone)]
pub struct TranscriptOptions {
    /// The zone every time is shown in (default UTC).
    pub zone: Zone,
    /// A directory whose files override the default templates by name.
    pub templates: Option<PathBuf>,
    /// Whether image messages are shown as images (loaded from their `https` URL when the
    /// transcript is opened) rather than as links.
    pub remote_images: bool,
    /// Consecutive messages from the same person at most this far apart form one group.
    pub group_gap: SignedDuration,
    /// Where the body and pinned list are spooled until the page is written; `None`: the
    /// system temporary directory.
    pub temp_dir: Option<PathBuf>,
    /// Inline the stored copies of raster images ([`Flavor::inline_image`]; `--media embed`).
    /// The pipeline turns it on together with `remote_images` off.
    pub embed_images: bool,
}

impl Default for TranscriptOptions {
    fn default() -> Self {
        Self {
            zone: Zone::utc(),
            templates: None,
            remote_images: true,
            group_gap: SignedDuration::from_mins(5),
            temp_dir: None,
            embed_images: false,
        }
    }
}

/// What differs between the Markdown and the HTML transcript.
pub trait Flavor {
    /// The page template (`transcript.html.jinja`).
    const PAGE: &'static str;
    /// The template of one group of messages.
    const GROUP: &'static str;
    /// The template of one entry of the pinned list.
    const PINNED: &'static str;
    /// The template of one group of utterances of the speech transcript.
    const SPEECH: &'static str;

    /// The default templates and assets, as (file name, source).
    fn defaults(&self) -> &'static [(&'static str, &'static str)];

    /// The escaping of `*.md.jinja` templates, if the format has one.
    fn markdown_escape(&self) -> Option<EscapeFn> {
        None
    }

    /// Adds the format's filters and globals to the template environment.
    fn configure(&self, environment: &mut minijinja::Environment<'static>) {
        let _ = environment;
    }

    /// Renders message text (controls already cleaned) into ready HTML or Markdown. Called
    /// when a template reads `m.text`, on the thread that renders groups.
    fn text_renderer(&self) -> RenderFn;

    /// The default group template ([`Flavor::GROUP`]) written out in Rust, if the format has
    /// one. It must write exactly what the default template renders for every [`GroupView`]
    /// (the format's tests compare the two); it is used only while the user has not overridden
    /// that template, and skips the template engine, most of a transcript's cost.
    fn direct_group(&self) -> Option<DirectGroup> {
        None
    }

    /// The default pinned template ([`Flavor::PINNED`]) written out in Rust, like
    /// [`Flavor::direct_group`].
    fn direct_pin(&self) -> Option<WritePinFn> {
        None
    }

    /// The default speech template ([`Flavor::SPEECH`]) written out in Rust, like
    /// [`Flavor::direct_group`].
    fn direct_speech(&self) -> Option<DirectGroup> {
        None
    }

    /// Renders the quoted text of a reply (`m.quoted`).
    fn quoted_renderer(&self) -> RenderFn;

    /// Renders the session's summary (controls already cleaned) for `summary.text`: by default
    /// as message text is ([`Flavor::text_renderer`]), whatever its format.
    fn summary_renderer(&self, format: SummaryFormat) -> RenderFn {
        let _ = format;
        self.text_renderer()
    }

    /// The image source inlining `bytes` of the raster image type `media_type` (`--media
    /// embed`), if the format inlines images (HTML: a `data:` URI).
    fn inline_image(&self, media_type: &str, bytes: &[u8]) -> Option<String> {
        let _ = (media_type, bytes);
        None
    }

    /// Variables only this format's page needs (for HTML: the stylesheet, script and
    /// Content-Security-Policy); `speech` when the transcript holds utterances.
    fn page_variables(
        &self,
        templates: &Templates,
        options: &TranscriptOptions,
        speech: bool,
    ) -> Result<Vec<(&'static str, Value)>, ExportError>;
}

struct Running {
    templates: Templates,
    body: Spooling,
    pinned: Spool,
    /// The default pinned template in Rust, when it was not overridden.
    direct_pin: Option<WritePinFn>,
    /// A buffer the direct pinned writer reuses.
    pin_buffer: String,
    /// The last message's display name (or the last utterance's speaker key, see
    /// [`speaker_key`]), time and day.
    last: Option<(String, Timestamp, Date)>,
    /// Whether `last` is an utterance.
    last_speech: bool,
    pending_day: Option<Date>,
    /// The next utterance of [`ExportContext::speech`] to write.
    next_utterance: usize,
}

/// Where messages go once grouped: the body of the page, spooled to a temporary file.
enum Spooling {
    /// Through the group template (the user overrode it): groups are collected whole and
    /// rendered on a thread of their own.
    Template {
        renderer: BodyRenderer,
        /// The group being collected.
        group: Option<GroupView>,
    },
    /// The default group template in Rust: each message is written as it arrives.
    Direct(Box<DirectBody>),
}

/// The size of the pieces [`DirectBody`] hands to its writing thread.
const DIRECT_PIECE: usize = 256 << 10;

/// The body written by the format's [`DirectGroup`] on the exporter's thread, as messages
/// arrive: one reused view, one reused group heading, no copies of whole groups and no hand-over
/// of views between threads. The text goes to the spool file through a [`BackgroundWriter`], so
/// the write system calls run on a thread of their own.
struct DirectBody {
    group: DirectGroup,
    /// The speech template in Rust (present whenever the transcript has utterances).
    speech: Option<DirectGroup>,
    /// Whether the open group is a group of utterances.
    open_speech: bool,
    labels: TimeLabels,
    /// The open group's heading (its `messages` stay empty), refilled for each group.
    header: GroupView,
    /// The messages written to the open group; `None` before the first group.
    open: Option<usize>,
    /// Text not yet handed to `out`.
    text: String,
    out: BackgroundWriter,
    /// The spool file `out` writes to (the same open file).
    spool: std::fs::File,
}

impl DirectBody {
    /// The writer of the open group's kind.
    fn current(&self) -> Result<DirectGroup, ExportError> {
        if self.open_speech {
            self.speech
                .ok_or_else(|| ExportError::format("no speech writer for the utterances"))
        } else {
            Ok(self.group)
        }
    }

    /// Hands the text written so far to the spool's writing thread, without copying it, and
    /// takes an empty buffer back.
    fn hand_over(&mut self) -> Result<(), ExportError> {
        let mut bytes = std::mem::take(&mut self.text).into_bytes();
        self.out.write_vec(&mut bytes)?;
        // `bytes` is now a spent buffer, empty, so it is valid UTF-8.
        self.text = String::from_utf8(bytes).unwrap_or_default();
        Ok(())
    }
}

impl Spooling {
    /// The messages in the group being collected or written.
    fn group_len(&self) -> usize {
        match self {
            Spooling::Template { group, .. } => {
                group.as_ref().map_or(0, |group| group.messages.len())
            }
            Spooling::Direct(direct) => direct.open.unwrap_or(0),
        }
    }

    /// Ends the current group, if any, and starts a new one (of utterances when `speech`).
    fn start_group(
        &mut self,
        day: Option<Date>,
        name: &str,
        participant_id: &str,
        at: Timestamp,
        speech: bool,
    ) -> Result<(), ExportError> {
        let fill = |group: &mut GroupView| {
            group.day = day;
            set(&mut group.name, name);
            set(&mut group.participant_id, participant_id);
            group.at = at;
            group.speech = speech;
        };
        match self {
            Spooling::Template { renderer, group } => {
                if let Some(done) = group.take() {
                    renderer.send(done)?;
                }
                let mut next = GroupView {
                    day: None,
                    name: String::new(),
                    participant_id: String::new(),
                    at,
                    messages: Vec::new(),
                    speech,
                };
                fill(&mut next);
                *group = Some(next);
            }
            Spooling::Direct(direct) => {
                if direct.open.is_some() {
                    (direct.current()?.close)(&mut direct.text);
                }
                fill(&mut direct.header);
                direct.open_speech = speech;
                (direct.current()?.open)(&direct.header, &mut direct.labels, &mut direct.text);
                direct.open = Some(0);
            }
        }
        Ok(())
    }

    /// Adds a message's view to the current group: written at once on the direct path, kept
    /// (owned) for the template.
    fn push(&mut self, view: MessageView<'_>) -> Result<(), ExportError> {
        match self {
            Spooling::Template { group, .. } => {
                if let Some(group) = group {
                    group.messages.push(view.into_owned());
                }
            }
            Spooling::Direct(direct) => {
                (direct.current()?.message)(&view, &mut direct.labels, &mut direct.text);
                if let Some(count) = &mut direct.open {
                    *count += 1;
                }
                if direct.text.len() >= DIRECT_PIECE {
                    direct.hand_over()?;
                }
            }
        }
        Ok(())
    }

    /// Ends the last group and returns the spooled body.
    fn finish(self) -> Result<Spooled, ExportError> {
        match self {
            Spooling::Template {
                mut renderer,
                group,
            } => {
                if let Some(done) = group {
                    renderer.send(done)?;
                }
                Ok(renderer.finish()?.finish()?)
            }
            Spooling::Direct(mut direct) => {
                if direct.open.is_some() {
                    (direct.current()?.close)(&mut direct.text);
                }
                direct.hand_over()?;
                direct.out.flush()?;
                drop(direct.out);
                Ok(Spooled::new(direct.spool))
            }
        }
    }
}

/// How many finished groups may wait for the rendering thread.
const RENDER_QUEUE: usize = 4;
/// How many messages go to the rendering thread at once, in whole groups (fewer hand-overs,
/// fewer thread wake-ups): a batch is sent once it holds this many or more, so it holds at most
/// this many plus [`MAX_GROUP_MESSAGES`] - 1.
const RENDER_BATCH: usize = 512;

/// Renders groups through the group template into the body spool on a thread of its own, so
/// rendering (most of a transcript's cost) overlaps reading and parsing. Groups arrive in order,
/// in batches of about [`RENDER_BATCH`] messages, through a bounded channel (at most
/// [`RENDER_QUEUE`] batches wait), so the output is the same and memory stays bounded.
struct BodyRenderer {
    sender: Option<SyncSender<Vec<GroupView>>>,
    batch: Vec<GroupView>,
    /// The number of messages in `batch`.
    batch_messages: usize,
    thread: Option<JoinHandle<Result<Spool, ExportError>>>,
}

/// What the rendering thread needs to render a group through its template.
struct GroupTemplate {
    environment: Environment<'static>,
    name: &'static str,
    /// The template of groups of utterances.
    speech_name: &'static str,
    zone: Zone,
    render_text: RenderFn,
    render_quoted: RenderFn,
}

impl BodyRenderer {
    fn start(parts: GroupTemplate, mut body: Spool) -> Result<Self, ExportError> {
        let (sender, receiver) = sync_channel::<Vec<GroupView>>(RENDER_QUEUE);
        let thread = std::thread::Builder::new()
            .name("transcript-render".to_owned())
            .spawn(move || {
                let template = parts
                    .environment
                    .get_template(parts.name)
                    .map_err(ExportError::format)?;
                let speech = parts
                    .environment
                    .get_template(parts.speech_name)
                    .map_err(ExportError::format)?;
                for batch in receiver {
                    for group in batch {
                        let template = if group.speech { &speech } else { &template };
                        template
                            .render_captured_to(
                                group_context(
                                    group,
                                    &parts.zone,
                                    parts.render_text,
                                    parts.render_quoted,
                                ),
                                body.writer(),
                            )
                            .map_err(ExportError::format)?;
                    }
                }
                Ok(body)
            })?;
        Ok(Self {
            sender: Some(sender),
            batch: Vec::new(),
            batch_messages: 0,
            thread: Some(thread),
        })
    }

    fn send(&mut self, group: GroupView) -> Result<(), ExportError> {
        self.batch_messages += group.messages.len();
        self.batch.push(group);
        if self.batch_messages < RENDER_BATCH {
            return Ok(());
        }
        self.send_batch()
    }

    fn send_batch(&mut self) -> Result<(), ExportError> {
        let batch = std::mem::take(&mut self.batch);
        self.batch_messages = 0;
        let sent = self
            .sender
            .as_ref()
            .is_some_and(|sender| sender.send(batch).is_ok());
        if sent {
            return Ok(());
        }
        // The thread stopped early: only an error does that.
        match self.join() {
            Ok(_) => Err(ExportError::format("the transcript renderer stopped early")),
            Err(error) => Err(error),
        }
    }

    fn finish(mut self) -> Result<Spool, ExportError> {
        if !self.batch.is_empty() {
            self.send_batch()?;
        }
        drop(self.sender.take());
        self.join()
    }

    fn join(&mut self) -> Result<Spool, ExportError> {
        let thread = self
            .thread
            .take()
            .ok_or_else(|| ExportError::format("the transcript renderer already stopped"))?;
        thread
            .join()
            .map_err(|_| ExportError::format("the transcript renderer panicked"))?
    }
}

/// A message view with nothing in it yet.
fn empty_view() -> MessageView<'static> {
    MessageView {
        id: Cow::Borrowed(""),
        name: Cow::Borrowed(""),
        participant_id: Cow::Borrowed(""),
        at: Timestamp::UNIX_EPOCH,
        pinned: false,
        edited: false,
        kind: Kind::Text,
        payload_type: PayloadType::Text,
        text: None,
        quoted: None,
        url: None,
        image_src: None,
        url_text: None,
        file_name: None,
        file_size: None,
        file_size_bytes: None,
        payload: None,
        end: None,
        utterance: None,
        local: false,
        unavailable: None,
    }
}

/// Replaces the text of `slot` with `value`, in its own buffer.
fn set(slot: &mut String, value: &str) {
    slot.clear();
    slot.push_str(value);
}

/// A transcript exporter: give it a [`Flavor`] and a writer.
///
/// Memory: with the default group template, one message view and about five buffers of 256 KiB
/// (the text being written and those the [`BackgroundWriter`] holds); with an overridden one, the group being collected (at most
/// [`MAX_GROUP_MESSAGES`] messages) and at most 5 batches of finished groups waiting for the
/// rendering thread (a batch is sent once it holds 512 messages, so it holds at most 611). Then
/// the statistics (bounded by the number of distinct display names) and I/O buffers. The body
/// and the pinned list are rendered to temporary files as messages arrive and copied into the
/// page in [`Exporter::finish`], after the header, whose counts are only known at the end.
/// A speech transcript is read from the context's `Arc`, never copied; only the position of the
/// next utterance to write is kept.
///
/// # Speech: one timeline
///
/// Before each message, the utterances of [`ExportContext::speech`] that start at or before it
/// are written (so at the same instant utterances come first; among themselves they keep the
/// transcript's `(start, index)` order); the rest after the last message. Consecutive utterances
/// of one speaker (the participant id, else the display name) form a group under the chat's
/// rule, rendered by [`Flavor::SPEECH`] (or [`Flavor::direct_speech`]); a message between two
/// utterances starts new groups. Each utterance counts in the statistics (utterances, speaking
/// time, the speaker's row) and on the timeline. The summary is the page's `summary`.
///
/// # Templates and the fast path
///
/// The templates are the specification of the output. When the user has not overridden the
/// group or pinned template by name, the format's Rust version of that default template
/// ([`Flavor::direct_group`], [`Flavor::direct_pin`]) writes the same bytes without the
/// template engine, from the same [`GroupView`]s and [`MessageView`]s, message by message on the
/// exporter's thread (no rendering thread, no views handed over); the page template always goes through minijinja
/// (it is rendered once). Each format's tests render generated groups both ways, and the
/// integration tests convert every fixture with the defaults and with a `--templates`
/// directory holding copies of them, requiring identical output, so the two cannot drift.
pub struct TranscriptWriter<W: Write, F: Flavor> {
    out: Option<W>,
    flavor: F,
    options: TranscriptOptions,
    context: ExportContext,
    stats: Statistics,
    timeline: Timeline,
    running: Option<Running>,
}

impl<W: Write, F: Flavor> TranscriptWriter<W, F> {
    /// Creates a writer of `flavor` over `out`.
    pub fn new(out: W, flavor: F, options: TranscriptOptions) -> Self {
        Self {
            out: Some(out),
            flavor,
            options,
            context: ExportContext::default(),
            stats: Statistics::default(),
            timeline: Timeline::default(),
            running: None,
        }
    }

    /// Returns the inner writer (after [`Exporter::finish`]).
    ///
    /// # Panics
    ///
    /// If called twice.
    pub fn into_inner(mut self) -> W {
        self.out.take().expect("into_inner is called once")
    }

    fn running(&mut self) -> Result<&mut Running, ExportError> {
        self.running
            .as_mut()
            .ok_or_else(|| ExportError::format("the transcript was not begun"))
    }

    /// The message as group templates see it, borrowing from `message` and `name` what needs
    /// no change.
    fn view_of<'a>(&self, message: &'a Message, name: &'a str) -> MessageView<'a> {
        let mut view = empty_view();
        view.id = Cow::Borrowed(&message.id);
        view.name = Cow::Borrowed(name);
        view.participant_id = Cow::Borrowed(&message.participant_id);
        view.at = message.created_at;
        view.pinned = message.pinned;
        view.edited = message.edited;
        view.payload_type = message.payload_type.clone();
        let (mut url, mut image_src) = (None, None);
        let body = message.body();
        match &body {
            Body::Text { text, quoted } => {
                view.text = Some(clean_controls(text));
                if let Some(quote) = quoted {
                    view.kind = Kind::Reply;
                    view.quoted = Some(clean_controls(quote));
                }
            }
            Body::Image { url: raw } => {
                view.kind = Kind::Image;
                url = safe_url(raw, UrlPolicy::Link);
                if self.options.remote_images {
                    image_src = image_url_from_link(raw, url.as_deref());
                }
                view.url_text = Some(clean_value(raw));
            }
            Body::File {
                url: raw,
                name,
                size,
            } => {
                view.kind = Kind::File;
                url = safe_url(raw, UrlPolicy::Link);
                view.url_text = Some(match raw {
                    Cow::Borrowed(raw) => clean_value(raw),
                    Cow::Owned(raw) => Cow::Owned(clean_value(raw).into_owned()),
                });
                view.file_name = name.as_deref().map(display_name);
                view.file_size = size.map(human_size);
                view.file_size_bytes = *size;
            }
            Body::Other { payload: raw, .. } => {
                view.kind = Kind::Other;
                view.payload = Some(clean_controls(raw));
            }
        }
        let attachment = match &body {
            Body::Image { url } => Some((*url, self.options.embed_images)),
            Body::File { url, .. } => Some((url.as_ref(), false)),
            _ => None,
        };
        if let (Some(attachments), Some((raw, inline))) = (&self.context.attachments, attachment) {
            self.attachment_view(
                &mut view,
                attachments,
                raw,
                inline,
                &mut url,
                &mut image_src,
            );
        }
        view.url = url;
        view.image_src = image_src;
        view
    }

    /// Writes the utterances of [`ExportContext::speech`] not yet written that start at or
    /// before `until` (all of them when `None`): at the same instant, utterances come before
    /// chat messages.
    fn speak_until(&mut self, until: Option<Timestamp>) -> Result<(), ExportError> {
        let Some(speech) = self.context.speech.clone() else {
            return Ok(());
        };
        loop {
            let next = self.running()?.next_utterance;
            let Some(utterance) = speech.utterances.get(next) else {
                return Ok(());
            };
            if until.is_some_and(|until| utterance.start > until) {
                return Ok(());
            }
            self.running()?.next_utterance = next + 1;
            self.utterance(utterance, u64::try_from(next).unwrap_or(u64::MAX))?;
        }
    }

    /// Writes one utterance, grouped with the previous one when that was an utterance of the same
    /// speaker ([`speaker_key`]) under the chat's rules (same day, at most the group gap after the
    /// previous start, at most [`MAX_GROUP_MESSAGES`] to a group).
    fn utterance(&mut self, utterance: &Utterance, seq: u64) -> Result<(), ExportError> {
        let name = display_name_cow(&utterance.display_name);
        let key = speaker_key(utterance, &name);
        let at = utterance.start;
        let date = self.options.zone.date(at);
        let gap = self.options.group_gap;
        let participant_id = utterance.participant_id.as_deref().unwrap_or("");
        let running = self.running()?;
        let new_day = running.last.as_ref().is_none_or(|(_, _, day)| *day != date);
        let new_group = new_day
            || !running.last_speech
            || running.body.group_len() >= MAX_GROUP_MESSAGES
            || running.last.as_ref().is_none_or(|(last_key, last_at, _)| {
                *last_key != key || at.duration_since(*last_at) > gap
            });
        if new_day {
            running.pending_day = Some(date);
        }
        running.last = Some((key, at, date));
        running.last_speech = true;
        if new_group {
            let day = running.pending_day.take();
            running
                .body
                .start_group(day, &name, participant_id, at, true)?;
        }
        let mut view = empty_view();
        view.name = Cow::Borrowed(&name);
        view.participant_id = Cow::Borrowed(participant_id);
        view.at = at;
        view.text = Some(clean_controls(&utterance.text));
        view.end = utterance.end;
        view.utterance = Some(seq);
        self.stats.add_spoken(&Spoken {
            name: &name,
            participant_id: utterance.participant_id.as_deref(),
            seq,
            start: at,
            end: utterance.end,
        });
        self.timeline.add_speech(at);
        self.running()?.body.push(view)
    }

    /// Points `url` at the stored copy of the attachment `raw` (and `image_src` at its inlined
    /// bytes, when `inline` and it is a raster image), or records why there is none. With
    /// `--media embed`, no image is ever loaded from elsewhere.
    fn attachment_view(
        &self,
        view: &mut MessageView<'_>,
        attachments: &Attachments,
        raw: &str,
        inline: bool,
        url: &mut Option<String>,
        image_src: &mut Option<String>,
    ) {
        if attachments.mode() == MediaMode::Embed {
            *image_src = None;
        }
        match attachments.get(raw) {
            Some(Attachment::Stored(stored)) => {
                *url = Some(relative_href(&stored.path));
                view.local = true;
                *image_src = None;
                if inline && stored.raster {
                    match stored.read() {
                        Ok(bytes) => {
                            *image_src = self.flavor.inline_image(&stored.media_type, &bytes);
                        }
                        Err(_) => {
                            view.unavailable = Some("the saved copy cannot be read".to_owned());
                        }
                    }
                }
            }
            Some(Attachment::Unavailable { reason }) => {
                view.unavailable = Some(clean_value(reason).into_owned());
            }
            None => {}
        }
    }

    fn pinned_entry(&mut self, message: &Message, name: &str) -> Result<(), ExportError> {
        let zone = &self.options.zone;
        let summary = match message.body() {
            Body::Text { text, .. } => excerpt(&clean_controls(text), PINNED_EXCERPT_CHARS),
            Body::Image { .. } => "(image)".to_owned(),
            Body::File { name, url, .. } => format!(
                "(file) {}",
                display_name(name.as_deref().unwrap_or(url.as_ref()))
            ),
            Body::Other { payload_type, .. } => {
                format!("({})", display_name(payload_type))
            }
        };
        let pin = PinView {
            id: clean_value(&message.id).into_owned(),
            anchor: anchor(&message.id),
            name: name.to_owned(),
            datetime: format_utc(message.created_at),
            time: zone.date_time_label(message.created_at),
            excerpt: summary,
        };
        let running = self.running()?;
        if let Some(write_pin) = running.direct_pin {
            running.pin_buffer.clear();
            write_pin(&pin, &mut running.pin_buffer);
            running.pinned.write_all(running.pin_buffer.as_bytes())?;
            return Ok(());
        }
        let template = running
            .templates
            .environment
            .get_template(F::PINNED)
            .map_err(ExportError::format)?;
        template
            .render_captured_to(pin_context(pin), running.pinned.writer())
            .map_err(ExportError::format)?;
        Ok(())
    }

    /// The page's variables but the spooled `pinned` and `messages`.
    fn page_context(
        &self,
        templates: &Templates,
    ) -> Result<BTreeMap<&'static str, Value>, ExportError> {
        let zone = &self.options.zone;
        let stats = &self.stats;
        let moment = |at: Option<Timestamp>| {
            at.map(|at| {
                context! {
                    datetime => format_utc(at),
                    label => zone.date_time_label(at),
                    time => zone.time_label(at),
                }
            })
        };
        let duration = match (stats.first, stats.last) {
            (Some(first), Some(last)) => Some(last.duration_since(first)),
            _ => None,
        };
        let people = stats.participants();
        let participant_count = people.len();
        let participants: Vec<Value> = people
            .into_iter()
            .map(|participant| {
                context! {
                    name => participant.name.clone(),
                    ids => participant
                        .ids
                        .values
                        .iter()
                        .map(|id| clean_value(id).into_owned())
                        .collect::<Vec<_>>(),
                    more_ids => participant.ids.more,
                    rejoined => participant.ids.values.len() > 1,
                    messages => participant.messages,
                    utterances => participant.utterances,
                    speaking => (participant.timed_utterances > 0).then(|| human_duration(participant.speaking)),
                    speaking_seconds => (participant.timed_utterances > 0).then(|| participant.speaking.as_secs()),
                    color => color(&participant.name),
                    first => context! {
                        anchor => Value::from_safe_string(participant.first.1.anchor()),
                        datetime => format_utc(participant.first.0),
                        label => zone.date_time_label(participant.first.0),
                    },
                    last => context! {
                        anchor => Value::from_safe_string(participant.last.1.anchor()),
                        datetime => format_utc(participant.last.0),
                        label => zone.date_time_label(participant.last.0),
                    },
                }
            })
            .collect();
        let transcript = context! {
            // With what was said, the document is the meeting's, not only its chat's.
            title => if self.context.speech.as_ref().is_some_and(|speech| {
                !speech.utterances.is_empty() || speech.summary.is_some()
            }) {
                "Meeting transcript"
            } else {
                "Chat transcript"
            },
            meeting_id => stats.meeting_ids.values.first().map(|id| clean_value(id).into_owned()),
            meeting_ids => stats.meeting_ids.values.iter().map(|id| clean_value(id).into_owned()).collect::<Vec<_>>(),
            more_meeting_ids => stats.meeting_ids.more,
            session_id => stats.session_ids.values.first().map(|id| clean_value(id).into_owned()),
            session_ids => stats.session_ids.values.iter().map(|id| clean_value(id).into_owned()).collect::<Vec<_>>(),
            more_session_ids => stats.session_ids.more,
            start => moment(stats.first),
            end => moment(stats.last),
            duration => duration.map(human_duration),
            duration_seconds => duration.map(|duration| duration.as_secs()),
            messages => stats.messages,
            texts => stats.texts,
            replies => stats.replies,
            images => stats.images,
            files => stats.files,
            others => stats.others,
            pinned => stats.pinned,
            edited => stats.edited,
            participants => participant_count,
            empty => stats.messages == 0 && stats.utterances == 0,
            speech => stats.utterances > 0,
            utterances => stats.utterances,
            speaking => (stats.timed_utterances > 0).then(|| human_duration(stats.speaking)),
            speaking_seconds => (stats.timed_utterances > 0).then(|| stats.speaking.as_secs()),
            timezone => zone.name(),
            timezone_offset => stats.first.map(|first| zone.offset_label(first)),
            source => display_name(&self.context.source),
            tool_version => self.context.tool_version.clone(),
            generated_at => moment(self.context.generated_at),
        };
        let summary = self
            .context
            .speech
            .as_ref()
            .and_then(|speech| speech.summary.as_ref())
            .map(|summary| {
                let render = self.flavor.summary_renderer(summary.format);
                context! {
                    // Trailing line ends would only leave empty lines at the end.
                    text => Value::from_safe_string(render(&clean_controls(
                        summary.text.trim_end_matches(['\n', '\r']),
                    ))),
                    format => match summary.format {
                        SummaryFormat::Markdown => "markdown",
                        SummaryFormat::Plain => "plain",
                    },
                }
            });
        let mut ctx = vec![
            ("transcript", transcript),
            ("participants", Value::from(participants)),
            ("timeline", timeline_value(&self.timeline, zone)),
            ("summary", Value::from(summary)),
        ];
        ctx.extend(
            self.flavor
                .page_variables(templates, &self.options, stats.utterances > 0)?,
        );
        Ok(ctx.into_iter().collect())
    }
}

/// The templates of `flavor` as a transcript renders them: the defaults, overridden from
/// [`TranscriptOptions::templates`], with the format's filters and the globals `remote_images`
/// and `timezone`. The page, group and pinned templates are checked to exist and compile.
pub fn load_templates<F: Flavor>(
    flavor: &F,
    options: &TranscriptOptions,
) -> Result<Templates, ExportError> {
    let mut templates = Templates::load(
        flavor.defaults(),
        options.templates.as_deref(),
        flavor.markdown_escape(),
    )
    .map_err(ExportError::format)?;
    flavor.configure(&mut templates.environment);
    templates
        .environment
        .add_global("remote_images", options.remote_images);
    templates
        .environment
        .add_global("timezone", options.zone.name().to_owned());
    for name in [F::PAGE, F::GROUP, F::PINNED, F::SPEECH] {
        templates
            .environment
            .get_template(name)
            .map_err(ExportError::format)?;
    }
    Ok(templates)
}

/// What makes consecutive utterances one speaker's: the participant id when the transcript
/// gives one (it is the chat's `participantId`), else the display name (on one line), each
/// marked so that an id never equals a name.
fn speaker_key(utterance: &Utterance, name: &str) -> String {
    match utterance.participant_id.as_deref() {
        Some(id) if !id.is_empty() => format!("id:{id}"),
        _ => format!("name:{name}"),
    }
}

/// The colour index of a name (0 to [`NAME_COLORS`] - 1), the same on every machine.
#[must_use]
pub fn color(name: &str) -> u64 {
    // FNV-1a: stable across runs and platforms, unlike the standard library's hasher.
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in name.bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    hash % NAME_COLORS
}

/// The width of the timeline drawing, in SVG user units.
const TIMELINE_WIDTH: u32 = 720;
/// The height of the timeline drawing.
const TIMELINE_HEIGHT: u32 = 60;

/// The block characters of the Markdown activity sparkline, lowest first.
const LEVELS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];

fn timeline_value(timeline: &Timeline, zone: &Zone) -> Value {
    let bars = timeline.bars();
    let max = bars
        .iter()
        .map(|bar| bar.count + bar.speech)
        .max()
        .unwrap_or(0);
    #[expect(
        clippy::cast_precision_loss,
        reason = "bar counts and indexes are far below 2^52"
    )]
    let drawn: Vec<Value> = bars
        .iter()
        .enumerate()
        .map(|(index, bar)| {
            let width = f64::from(TIMELINE_WIDTH) / bars.len() as f64;
            let scale = |count: u64| {
                if count == 0 {
                    0.0
                } else {
                    (count as f64 / max as f64 * f64::from(TIMELINE_HEIGHT)).max(1.0)
                }
            };
            let height = scale(bar.count);
            // Utterances are drawn above the messages of the same bar.
            let speech_height = scale(bar.speech);
            context! {
                x => format!("{:.2}", index as f64 * width),
                y => format!("{:.2}", f64::from(TIMELINE_HEIGHT) - height),
                width => format!("{:.2}", (width - 0.5).max(0.5)),
                height => format!("{:.2}", height),
                count => bar.count,
                speech => bar.speech,
                speech_y => format!("{:.2}", (f64::from(TIMELINE_HEIGHT) - height - speech_height).max(0.0)),
                speech_height => format!("{:.2}", speech_height),
                datetime => format_utc(bar.start),
                label => zone.date_time_label(bar.start),
            }
        })
        .collect();
    let sparkline: String = bars
        .iter()
        .map(|bar| {
            let count = bar.count + bar.speech;
            if max == 0 || count == 0 {
                ' '
            } else {
                let level = (count * 7).div_ceil(max).min(7);
                LEVELS[usize::try_from(level).unwrap_or(7)]
            }
        })
        .collect();
    context! {
        bars => drawn,
        max => max,
        bar_minutes => timeline.bar_minutes(),
        width => TIMELINE_WIDTH,
        height => TIMELINE_HEIGHT,
        sparkline => sparkline,
    }
}

impl<W: Sink, F: Flavor> Exporter for TranscriptWriter<W, F> {
    fn begin(&mut self, context: &ExportContext) -> Result<(), ExportError> {
        self.context = context.clone();
        let templates = load_templates(&self.flavor, &self.options)?;
        // The default group and pinned templates have Rust versions that write the same bytes
        // faster; a template the user overrode goes through minijinja.
        let has_speech = context
            .speech
            .as_ref()
            .is_some_and(|speech| !speech.utterances.is_empty());
        // With utterances, the fast path needs the speech template's Rust version too.
        let direct_speech = self
            .flavor
            .direct_speech()
            .filter(|_| templates.is_default(F::SPEECH));
        let body = match self.flavor.direct_group() {
            Some(group)
                if templates.is_default(F::GROUP) && (!has_speech || direct_speech.is_some()) =>
            {
                // An unnamed temporary file, written through one handle and read back
                // through the other (they share the file and its offset).
                let spool = chatdump_core::temp::temp_file(self.options.temp_dir.as_deref())?;
                Spooling::Direct(Box::new(DirectBody {
                    group,
                    speech: direct_speech,
                    open_speech: false,
                    labels: TimeLabels::new(self.options.zone.clone()),
                    header: GroupView {
                        day: None,
                        name: String::new(),
                        participant_id: String::new(),
                        at: Timestamp::UNIX_EPOCH,
                        messages: Vec::new(),
                        speech: false,
                    },
                    open: None,
                    text: String::with_capacity(DIRECT_PIECE + (64 << 10)),
                    out: BackgroundWriter::with_buffers(spool.try_clone()?, DIRECT_PIECE, 2),
                    spool,
                }))
            }
            _ => Spooling::Template {
                renderer: BodyRenderer::start(
                    GroupTemplate {
                        environment: templates.environment.clone(),
                        name: F::GROUP,
                        speech_name: F::SPEECH,
                        zone: self.options.zone.clone(),
                        render_text: self.flavor.text_renderer(),
                        render_quoted: self.flavor.quoted_renderer(),
                    },
                    Spool::new(self.options.temp_dir.as_deref())?,
                )?,
                group: None,
            },
        };
        let direct_pin = self
            .flavor
            .direct_pin()
            .filter(|_| templates.is_default(F::PINNED));
        self.running = Some(Running {
            templates,
            body,
            pinned: Spool::new(self.options.temp_dir.as_deref())?,
            direct_pin,
            pin_buffer: String::new(),
            last: None,
            last_speech: false,
            pending_day: None,
            next_utterance: 0,
        });
        Ok(())
    }

    fn message(&mut self, message: &Message) -> Result<(), ExportError> {
        let at = message.created_at;
        if self.context.speech.is_some() {
            self.speak_until(Some(at))?;
        }
        let name = display_name_cow(&message.display_name);
        let date = self.options.zone.date(at);
        let gap = self.options.group_gap;
        let running = self.running()?;
        let new_day = running.last.as_ref().is_none_or(|(_, _, day)| *day != date);
        let new_group = new_day
            || running.last_speech
            || running.body.group_len() >= MAX_GROUP_MESSAGES
            || running.last.as_ref().is_none_or(|(last_name, last_at, _)| {
                *last_name != name || at.duration_since(*last_at) > gap
            });
        if new_day {
            running.pending_day = Some(date);
        }
        running.last_speech = false;
        // The last name's buffer is reused: one copy fewer per message.
        match &mut running.last {
            Some((last_name, last_at, last_date)) => {
                last_name.clear();
                last_name.push_str(&name);
                *last_at = at;
                *last_date = date;
            }
            None => running.last = Some((name.clone().into_owned(), at, date)),
        }
        if new_group {
            let day = running.pending_day.take();
            running
                .body
                .start_group(day, &name, &message.participant_id, at, false)?;
        }
        if message.pinned {
            self.pinned_entry(message, &name)?;
        }
        let view = self.view_of(message, &name);
        self.stats.add(&Seen {
            id: &message.id,
            name: &name,
            participant_id: &message.participant_id,
            meeting_id: &message.meeting_id,
            session_id: &message.session_id,
            at,
            kind: view.kind,
            pinned: message.pinned,
            edited: message.edited,
        });
        self.timeline.add(at);
        self.running()?.body.push(view)
    }

    fn finish(&mut self) -> Result<(), ExportError> {
        // Utterances after the last message.
        self.speak_until(None)?;
        let running = self
            .running
            .take()
            .ok_or_else(|| ExportError::format("the transcript was not begun"))?;
        let Running {
            templates,
            body,
            pinned,
            ..
        } = running;
        let body = body.finish()?;
        let variables = self.page_context(&templates)?;
        let out = self
            .out
            .as_mut()
            .ok_or_else(|| ExportError::format("the transcript was already finished"))?;
        render_page(
            &templates
                .environment
                .get_template(F::PAGE)
                .map_err(ExportError::format)?,
            variables,
            vec![("pinned", pinned.finish()?), ("messages", body)],
            out,
        )
        .map_err(ExportError::format)?;
        out.flush()?;
        Ok(())
    }
}
