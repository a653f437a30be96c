//! What a transcript's header shows: counts, the time span, participants and the activity
//! timeline, gathered while messages stream past in memory bounded by the number of
//! participants, never by the number of messages.

use std::collections::HashMap;

use jiff::{SignedDuration, Timestamp};

use crate::text::{anchor, speech_anchor};

/// How many distinct meeting or session ids are remembered (a dump normally has one of each).
pub const MAX_IDS: usize = 10;
/// How many participant ids are remembered per display name.
pub const MAX_PARTICIPANT_IDS: usize = 20;

/// Distinct values in first-seen order, up to [`MAX_IDS`]; the rest are only counted.
#[derive(Debug, Clone, Default)]
pub struct DistinctIds {
    /// The values kept, in first-seen order.
    pub values: Vec<String>,
    /// How many messages carried a value beyond those kept. Not how many more distinct values
    /// there were: values beyond the cap are not remembered (memory stays bounded), so a
    /// repeated one is counted again.
    pub more: u64,
    /// The position in `values` of the value last added or found: consecutive messages mostly
    /// carry the same id, so it is compared first.
    last: usize,
}

impl DistinctIds {
    fn add(&mut self, value: &str, cap: usize) {
        if self
            .values
            .get(self.last)
            .is_some_and(|known| known == value)
        {
            return;
        }
        if let Some(found) = self.values.iter().position(|known| known == value) {
            self.last = found;
            return;
        }
        if self.values.len() < cap {
            self.last = self.values.len();
            self.values.push(value.to_owned());
        } else {
            self.more += 1;
        }
    }
}

/// Where a participant's first or last message or utterance is on the page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Place {
    /// A chat message, by its id as in the dump.
    Message(String),
    /// An utterance of the speech transcript, by its position in time order (from 0).
    Utterance(u64),
}

impl Place {
    /// The fragment identifier it has on the page: [`anchor`] or [`speech_anchor`].
    #[must_use]
    pub fn anchor(&self) -> String {
        match self {
            Self::Message(id) => anchor(id),
            Self::Utterance(seq) => speech_anchor(*seq),
        }
    }

    /// Makes this the message `id`, reusing the buffer when it already names a message.
    fn set_message(&mut self, id: &str) {
        match self {
            Self::Message(known) => {
                known.clear();
                known.push_str(id);
            }
            Self::Utterance(_) => *self = Self::Message(id.to_owned()),
        }
    }
}

/// One person in the participants table: every message sent and every utterance spoken under
/// the same display name, even from several participant ids (someone who left and rejoined gets
/// a new id).
#[derive(Debug, Clone)]
pub struct Participant {
    /// The display name, on one line (see [`crate::text::display_name`]).
    pub name: String,
    /// The participant ids used, first-seen order, up to [`MAX_PARTICIPANT_IDS`].
    pub ids: DistinctIds,
    /// Messages sent.
    pub messages: u64,
    /// The first message or utterance: when, and where.
    pub first: (Timestamp, Place),
    /// The last message or utterance: when, and where.
    pub last: (Timestamp, Place),
    /// The order of first appearance (0 for the first person who wrote or spoke).
    pub order: usize,
    /// Utterances spoken (speech transcript).
    pub utterances: u64,
    /// Speaking time: the sum of `end - start` over the utterances whose end is known.
    pub speaking: SignedDuration,
    /// Utterances whose end is known: with none, the speaking time is unknown, not zero.
    pub timed_utterances: u64,
    /// The participant ids of this person's chat messages (those of `ids` that did not come
    /// from utterances only): what a speaker's ids are matched against.
    chat_ids: DistinctIds,
}

impl Participant {
    /// Counts one more message of this person.
    fn add(&mut self, seen: &Seen<'_>) {
        self.messages += 1;
        self.ids.add(seen.participant_id, MAX_PARTICIPANT_IDS);
        self.chat_ids.add(seen.participant_id, MAX_PARTICIPANT_IDS);
        if seen.at >= self.last.0 {
            // The last id's buffer is reused.
            self.last.0 = seen.at;
            self.last.1.set_message(seen.id);
        }
    }

    /// Counts one more utterance of this person.
    fn add_spoken(&mut self, spoken: &Spoken<'_>) {
        self.utterances += 1;
        self.speaking += spoken.duration();
        self.timed_utterances += u64::from(spoken.end.is_some());
        if let Some(id) = spoken.participant_id {
            self.ids.add(id, MAX_PARTICIPANT_IDS);
        }
        if spoken.start >= self.last.0 {
            self.last = (spoken.start, Place::Utterance(spoken.seq));
        }
    }

    fn new(name: &str, at: Timestamp, place: Place, order: usize) -> Self {
        Self {
            name: name.to_owned(),
            ids: DistinctIds::default(),
            messages: 0,
            first: (at, place.clone()),
            last: (at, place),
            order,
            utterances: 0,
            speaking: SignedDuration::ZERO,
            timed_utterances: 0,
            chat_ids: DistinctIds::default(),
        }
    }

    /// Adds the utterances of `speaker`, the same person under another name.
    fn absorb(&mut self, speaker: &Self) {
        self.utterances += speaker.utterances;
        self.speaking += speaker.speaking;
        self.timed_utterances += speaker.timed_utterances;
        if speaker.first.0 < self.first.0 {
            self.first.clone_from(&speaker.first);
        }
        if speaker.last.0 > self.last.0 {
            self.last.clone_from(&speaker.last);
        }
        self.order = self.order.min(speaker.order);
    }
}

/// The facts about one utterance of the speech transcript that statistics need.
#[derive(Debug, Clone, Copy)]
pub struct Spoken<'a> {
    /// The speaker's display name, on one line.
    pub name: &'a str,
    /// The speaker's participant id, when the transcript gives it.
    pub participant_id: Option<&'a str>,
    /// The utterance's position in time order (from 0).
    pub seq: u64,
    /// When it starts.
    pub start: Timestamp,
    /// When it ends, when known.
    pub end: Option<Timestamp>,
}

impl Spoken<'_> {
    /// `end - start` when the end is known and not before the start, else zero.
    #[must_use]
    pub fn duration(&self) -> SignedDuration {
        self.end
            .map(|end| end.duration_since(self.start))
            .filter(|duration| !duration.is_negative())
            .unwrap_or(SignedDuration::ZERO)
    }
}

/// Counts and participants of a whole transcript.
#[derive(Debug, Clone, Default)]
pub struct Statistics {
    /// Messages seen.
    pub messages: u64,
    /// Text messages (replies included).
    pub texts: u64,
    /// Replies.
    pub replies: u64,
    /// Image messages.
    pub images: u64,
    /// File messages.
    pub files: u64,
    /// Messages of any other payload type.
    pub others: u64,
    /// Pinned messages.
    pub pinned: u64,
    /// Edited messages.
    pub edited: u64,
    /// The first message's time.
    pub first: Option<Timestamp>,
    /// The last message's time.
    pub last: Option<Timestamp>,
    /// Meeting ids seen.
    pub meeting_ids: DistinctIds,
    /// Session ids seen.
    pub session_ids: DistinctIds,
    /// By display name. Names come from the dump (hostile): the hasher is keyed with a random
    /// seed per process and per table (`foldhash::fast::RandomState`), and nothing depends on
    /// the iteration order ([`Self::participants`] sorts by first appearance).
    participants: HashMap<String, Participant, foldhash::fast::RandomState>,
    /// Utterances seen (speech transcript).
    pub utterances: u64,
    /// The total speaking time (see [`Participant::speaking`]).
    pub speaking: SignedDuration,
    /// Utterances whose end is known: with none, the speaking time is unknown, not zero.
    pub timed_utterances: u64,
}

/// What kind of message was counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A text message.
    Text,
    /// A reply (a text message quoting another).
    Reply,
    /// An image.
    Image,
    /// A file.
    File,
    /// Any other payload type.
    Other,
}

impl Kind {
    /// The name templates see: `text`, `image`, `file` or `other` (a reply is `text`).
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Text | Self::Reply => "text",
            Self::Image => "image",
            Self::File => "file",
            Self::Other => "other",
        }
    }
}

/// The facts about one message that statistics need.
#[derive(Debug, Clone, Copy)]
pub struct Seen<'a> {
    /// The message id.
    pub id: &'a str,
    /// The display name, on one line.
    pub name: &'a str,
    /// The participant id.
    pub participant_id: &'a str,
    /// The meeting id.
    pub meeting_id: &'a str,
    /// The session id.
    pub session_id: &'a str,
    /// When it was sent.
    pub at: Timestamp,
    /// Its kind.
    pub kind: Kind,
    /// Pinned.
    pub pinned: bool,
    /// Edited.
    pub edited: bool,
}

impl Statistics {
    /// Counts one message.
    pub fn add(&mut self, seen: &Seen<'_>) {
        self.messages += 1;
        match seen.kind {
            Kind::Text => self.texts += 1,
            Kind::Reply => {
                self.texts += 1;
                self.replies += 1;
            }
            Kind::Image => self.images += 1,
            Kind::File => self.files += 1,
            Kind::Other => self.others += 1,
        }
        self.pinned += u64::from(seen.pinned);
        self.edited += u64::from(seen.edited);
        self.first = Some(self.first.map_or(seen.at, |first| first.min(seen.at)));
        self.last = Some(self.last.map_or(seen.at, |last| last.max(seen.at)));
        self.meeting_ids.add(seen.meeting_id, MAX_IDS);
        self.session_ids.add(seen.session_id, MAX_IDS);
        // Look up before inserting: the name is copied only for a new person.
        if let Some(participant) = self.participants.get_mut(seen.name) {
            participant.add(seen);
            return;
        }
        let mut participant = Participant::new(
            seen.name,
            seen.at,
            Place::Message(seen.id.to_owned()),
            self.participants.len(),
        );
        participant.add(seen);
        self.participants.insert(seen.name.to_owned(), participant);
    }

    /// Counts one utterance: in the time span (from its start to its end, when known), the
    /// speaking time, and its speaker's row of the participants table (by display name, like
    /// messages). Meeting and session ids stay the chat's.
    pub fn add_spoken(&mut self, spoken: &Spoken<'_>) {
        self.utterances += 1;
        self.speaking += spoken.duration();
        self.timed_utterances += u64::from(spoken.end.is_some());
        let last = spoken.end.map_or(spoken.start, |end| end.max(spoken.start));
        self.first = Some(
            self.first
                .map_or(spoken.start, |first| first.min(spoken.start)),
        );
        self.last = Some(self.last.map_or(last, |known| known.max(last)));
        if let Some(participant) = self.participants.get_mut(spoken.name) {
            participant.add_spoken(spoken);
            return;
        }
        let mut participant = Participant::new(
            spoken.name,
            spoken.start,
            Place::Utterance(spoken.seq),
            self.participants.len(),
        );
        participant.add_spoken(spoken);
        self.participants
            .insert(spoken.name.to_owned(), participant);
    }

    /// The number of people: rows of [`Statistics::participants`].
    #[must_use]
    pub fn participant_count(&self) -> usize {
        self.participants().len()
    }

    /// Every participant, in order of their first message or utterance: one row per display
    /// name, except that a speaker who never wrote, named otherwise by the transcript (`Mary`
    /// for the chat's `Mary (Host)`), joins the row of the one person who wrote with all of
    /// the speaker's participant ids (the transcript's `Participant ID` is the chat's). A
    /// speaker without ids, or whose ids are unknown to the chat or shared by several people
    /// who wrote, keeps a row of their own.
    #[must_use]
    pub fn participants(&self) -> Vec<Participant> {
        let mut list: Vec<Participant> = self.participants.values().cloned().collect();
        list.sort_by_key(|participant| participant.order);
        // Each chat participant id, and the one row that wrote under it (`None`: several).
        let mut writer_of: HashMap<&str, Option<usize>> = HashMap::new();
        for (row, participant) in list.iter().enumerate() {
            for id in &participant.chat_ids.values {
                writer_of
                    .entry(id.as_str())
                    .and_modify(|known| {
                        if *known != Some(row) {
                            *known = None;
                        }
                    })
                    .or_insert(Some(row));
            }
        }
        let merges: Vec<(usize, usize)> = list
            .iter()
            .enumerate()
            .filter(|(_, speaker)| {
                speaker.messages == 0 && !speaker.ids.values.is_empty() && speaker.ids.more == 0
            })
            .filter_map(|(row, speaker)| {
                let mut target = None;
                for id in &speaker.ids.values {
                    let writer = writer_of.get(id.as_str()).copied().flatten()?;
                    if target.is_some_and(|known| known != writer) {
                        return None;
                    }
                    target = Some(writer);
                }
                target.map(|writer| (row, writer))
            })
            .collect();
        if merges.is_empty() {
            return list;
        }
        let mut absorbed = vec![false; list.len()];
        for (row, writer) in merges {
            let speaker = list[row].clone();
            list[writer].absorb(&speaker);
            absorbed[row] = true;
        }
        let mut row = 0;
        list.retain(|_| {
            row += 1;
            !absorbed[row - 1]
        });
        list.sort_by_key(|participant| participant.order);
        list
    }
}

/// The widths, in minutes, an activity timeline's bars may have; each divides the next, so
/// counts can be merged without being split.
const BAR_MINUTES: [i64; 12] = [1, 2, 10, 30, 60, 120, 360, 720, 1440, 2880, 5760, 11_520];
/// The most bars a timeline has.
pub const MAX_BARS: usize = 120;

/// Messages (and utterances) per interval, for the activity timeline. The interval starts at
/// one minute and widens as the chat goes on so there are never more than [`MAX_BARS`] bars:
/// memory is fixed.
#[derive(Debug, Clone, Default)]
pub struct Timeline {
    start: Option<i64>,
    width_index: usize,
    counts: Vec<u64>,
    /// Utterances per bar, beside `counts` (empty until one is counted).
    speech: Vec<u64>,
    /// Messages later than the widest bars can hold (a chat over ~2.6 years): counted in the
    /// last bar.
    overflow: u64,
    /// Utterances likewise.
    speech_overflow: u64,
}

/// One bar of the timeline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bar {
    /// When the interval starts.
    pub start: Timestamp,
    /// Messages sent in it.
    pub count: u64,
    /// Utterances started in it.
    pub speech: u64,
}

impl Timeline {
    /// Counts a message sent at `at`. Messages and utterances arrive in chronological order.
    pub fn add(&mut self, at: Timestamp) {
        self.count(at, false);
    }

    /// Counts an utterance started at `at`, like [`Timeline::add`].
    pub fn add_speech(&mut self, at: Timestamp) {
        self.count(at, true);
    }

    fn count(&mut self, at: Timestamp, speech: bool) {
        let minute = at.as_second().div_euclid(60);
        let start = *self.start.get_or_insert(minute);
        let offset = (minute - start).max(0);
        loop {
            let width = BAR_MINUTES[self.width_index];
            let index = usize::try_from(offset / width).unwrap_or(usize::MAX);
            if index < MAX_BARS {
                let counts = if speech {
                    &mut self.speech
                } else {
                    &mut self.counts
                };
                if counts.len() <= index {
                    counts.resize(index + 1, 0);
                }
                counts[index] += 1;
                return;
            }
            if self.width_index + 1 == BAR_MINUTES.len() {
                if speech {
                    self.speech_overflow += 1;
                } else {
                    self.overflow += 1;
                }
                return;
            }
            self.widen();
        }
    }

    fn widen(&mut self) {
        let old = BAR_MINUTES[self.width_index];
        self.width_index += 1;
        let factor = usize::try_from(BAR_MINUTES[self.width_index] / old).unwrap_or(1);
        for counts in [&mut self.counts, &mut self.speech] {
            let mut merged = vec![0; counts.len().div_ceil(factor)];
            for (index, count) in counts.iter().enumerate() {
                merged[index / factor] += count;
            }
            *counts = merged;
        }
    }

    /// The width of each bar, in minutes.
    #[must_use]
    pub fn bar_minutes(&self) -> i64 {
        BAR_MINUTES[self.width_index]
    }

    /// The bars, oldest first (empty when no message was counted).
    #[must_use]
    pub fn bars(&self) -> Vec<Bar> {
        let Some(start) = self.start else {
            return Vec::new();
        };
        let width = self.bar_minutes();
        let bars = self.counts.len().max(self.speech.len());
        let last = bars.saturating_sub(1);
        let at = |counts: &[u64], index: usize| counts.get(index).copied().unwrap_or(0);
        (0..bars)
            .map(|index| Bar {
                start: Timestamp::from_second(
                    (start + i64::try_from(index).unwrap_or(i64::MAX / 2) * width) * 60,
                )
                .unwrap_or(Timestamp::MAX),
                count: at(&self.counts, index) + if index == last { self.overflow } else { 0 },
                speech: at(&self.speech, index)
                    + if index == last {
                        self.speech_overflow
                    } else {
                        0
                    },
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(seconds: i64) -> Timestamp {
        Timestamp::from_second(1_715_677_200 + seconds).unwrap()
    }

    /// The shortcut (the position of the last id found) against the rule written plainly: a
    /// list searched from the start for every message.
    #[test]
    fn shortcuts_agree_with_a_plain_count() {
        fn reference_add(values: &mut Vec<String>, more: &mut u64, value: &str, cap: usize) {
            if values.iter().any(|known| known == value) {
                return;
            }
            if values.len() < cap {
                values.push(value.to_owned());
            } else {
                *more += 1;
            }
        }
        struct Row {
            name: String,
            ids: (Vec<String>, u64),
            messages: u64,
            utterances: u64,
            last: Place,
        }
        let mut seed: u64 = 0x2545_f491_4f6c_dd1d;
        let mut next = |below: u64| {
            seed = seed
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (seed >> 33) % below
        };
        let mut stats = Statistics::default();
        let mut rows: Vec<Row> = Vec::new();
        let mut meetings = (Vec::new(), 0);
        let (mut name, mut participant, mut meeting) = (0, 0, 0);
        for index in 0..20_000_u64 {
            // Runs of one name, one participant id and one meeting id, and changes.
            if next(10) < 3 {
                name = next(30);
            }
            if next(10) < 2 {
                participant = next(25);
            }
            if next(10) < 2 {
                meeting = next(14);
            }
            let name_text = format!("name {name}");
            let participant_text = format!("p{participant}");
            let meeting_text = format!("m{meeting}");
            let id = format!("id{index}");
            let row = rows
                .iter()
                .position(|row| row.name == name_text)
                .unwrap_or_else(|| {
                    rows.push(Row {
                        name: name_text.clone(),
                        ids: (Vec::new(), 0),
                        messages: 0,
                        utterances: 0,
                        last: Place::Utterance(0),
                    });
                    rows.len() - 1
                });
            if next(10) == 0 {
                stats.add_spoken(&Spoken {
                    name: &name_text,
                    participant_id: None,
                    seq: index,
                    start: at(i64::try_from(index).unwrap()),
                    end: None,
                });
                rows[row].utterances += 1;
                rows[row].last = Place::Utterance(index);
                continue;
            }
            stats.add(&Seen {
                id: &id,
                name: &name_text,
                participant_id: &participant_text,
                meeting_id: &meeting_text,
                session_id: "s",
                at: at(i64::try_from(index).unwrap()),
                kind: Kind::Text,
                pinned: false,
                edited: false,
            });
            reference_add(&mut meetings.0, &mut meetings.1, &meeting_text, MAX_IDS);
            let (values, more) = &mut rows[row].ids;
            reference_add(values, more, &participant_text, MAX_PARTICIPANT_IDS);
            rows[row].messages += 1;
            rows[row].last = Place::Message(id);
        }
        assert_eq!(stats.meeting_ids.values, meetings.0);
        assert_eq!(stats.meeting_ids.more, meetings.1);
        assert!(meetings.1 > 0, "the cap is reached");
        let people = stats.participants();
        assert_eq!(people.len(), rows.len());
        for (person, row) in people.iter().zip(&rows) {
            assert_eq!(person.name, row.name);
            assert_eq!(person.ids.values, row.ids.0);
            assert_eq!(person.ids.more, row.ids.1);
            assert_eq!(person.messages, row.messages);
            assert_eq!(person.utterances, row.utterances);
            assert_eq!(person.last.1, row.last);
        }
    }

    #[test]
    fn rejoins_are_one_person() {
        let mut stats = Statistics::default();
        for (id, participant, seconds) in [("a", "p1", 0), ("b", "p2", 10), ("c", "p3", 20)] {
            stats.add(&Seen {
                id,
                name: if participant == "p2" { "Bo" } else { "Ann" },
                participant_id: participant,
                meeting_id: "m",
                session_id: "s",
                at: at(seconds),
                kind: Kind::Text,
                pinned: false,
                edited: false,
            });
        }
        let people = stats.participants();
        assert_eq!(people.len(), 2);
        assert_eq!(people[0].name, "Ann");
        assert_eq!(people[0].ids.values, ["p1", "p3"]);
        assert_eq!(people[0].messages, 2);
        assert_eq!(people[0].last.1, Place::Message("c".into()));
        assert_eq!(stats.meeting_ids.values, ["m"]);
    }

    #[test]
    fn utterances_count_in_the_span_the_table_and_speaking_time() {
        let mut stats = Statistics::default();
        stats.add(&Seen {
            id: "m1",
            name: "Ann",
            participant_id: "p1",
            meeting_id: "m",
            session_id: "s",
            at: at(10),
            kind: Kind::Text,
            pinned: false,
            edited: false,
        });
        for (seq, name, start, end) in [
            (0, "Bo", 0, Some(4)),
            (1, "Ann", 20, Some(27)),
            (2, "Ann", 30, None),
            (3, "Ann", 40, Some(39)),
        ] {
            stats.add_spoken(&Spoken {
                name,
                participant_id: Some("p9"),
                seq,
                start: at(start),
                end: end.map(at),
            });
        }
        assert_eq!(stats.messages, 1);
        assert_eq!(stats.utterances, 4);
        assert_eq!(stats.speaking, SignedDuration::from_secs(11));
        assert_eq!((stats.first, stats.last), (Some(at(0)), Some(at(40))));
        let people = stats.participants();
        assert_eq!(people[0].name, "Ann");
        assert_eq!((people[0].messages, people[0].utterances), (1, 3));
        assert_eq!(people[0].speaking, SignedDuration::from_secs(7));
        assert_eq!(people[0].first.1.anchor(), "msg-m1");
        assert_eq!(people[0].last, (at(40), Place::Utterance(3)));
        assert_eq!(people[0].last.1.anchor(), "speech-3");
        assert_eq!(people[0].ids.values, ["p1", "p9"]);
        assert_eq!(people[1].name, "Bo");
        assert_eq!((people[1].messages, people[1].utterances), (0, 1));
    }

    #[test]
    fn a_speaker_named_otherwise_joins_the_one_writer_with_their_ids() {
        let mut stats = Statistics::default();
        for (id, name, participant_id, second) in [
            ("m1", "Mary (Host)", "p1", 10),
            ("m2", "Ann", "p5", 20),
            ("m3", "Annie", "p5", 30),
        ] {
            stats.add(&Seen {
                id,
                name,
                participant_id,
                meeting_id: "m",
                session_id: "s",
                at: at(second),
                kind: Kind::Text,
                pinned: false,
                edited: false,
            });
        }
        for (seq, name, participant_id, start) in [
            // Mary, by the transcript's name, before and after her message.
            (0, "Mary", Some("p1"), 5),
            (1, "Mary", Some("p1"), 40),
            // p5 wrote as two names: not merged.
            (2, "A.", Some("p5"), 25),
            // No id, or an id the chat does not know: rows of their own.
            (3, "Eve", None, 26),
            (4, "Bob", Some("p9"), 27),
        ] {
            stats.add_spoken(&Spoken {
                name,
                participant_id,
                seq,
                start: at(start),
                end: Some(at(start + 2)),
            });
        }
        let people = stats.participants();
        let rows: Vec<(&str, u64, u64)> = people
            .iter()
            .map(|person| (person.name.as_str(), person.messages, person.utterances))
            .collect();
        assert_eq!(
            rows,
            [
                ("Mary (Host)", 1, 2),
                ("Ann", 1, 0),
                ("Annie", 1, 0),
                ("A.", 0, 1),
                ("Eve", 0, 1),
                ("Bob", 0, 1)
            ]
        );
        let mary = &people[0];
        assert_eq!(mary.first, (at(5), Place::Utterance(0)));
        assert_eq!(mary.last, (at(40), Place::Utterance(1)));
        assert_eq!(mary.speaking, SignedDuration::from_secs(4));
        assert_eq!(stats.participant_count(), 6);
    }

    #[test]
    fn timeline_counts_speech_beside_messages() {
        let mut timeline = Timeline::default();
        timeline.add_speech(at(0));
        timeline.add(at(70));
        timeline.add_speech(at(80));
        for minute in 2..300 {
            timeline.add(at(minute * 60));
        }
        let bars = timeline.bars();
        assert_eq!(timeline.bar_minutes(), 10);
        assert_eq!((bars[0].count, bars[0].speech), (9, 2));
        assert_eq!(bars.iter().map(|bar| bar.speech).sum::<u64>(), 2);
        assert_eq!(bars.iter().map(|bar| bar.count).sum::<u64>(), 299);
    }

    #[test]
    fn timeline_widens_and_keeps_every_message() {
        let mut timeline = Timeline::default();
        for minute in 0..1000 {
            timeline.add(at(minute * 60));
        }
        let bars = timeline.bars();
        assert!(bars.len() <= MAX_BARS);
        assert_eq!(timeline.bar_minutes(), 10);
        assert_eq!(bars.iter().map(|bar| bar.count).sum::<u64>(), 1000);
        assert_eq!(bars[0].start, at(0));
        timeline.add(at(10_i64.pow(10)));
        assert_eq!(
            timeline.bars().iter().map(|bar| bar.count).sum::<u64>(),
            1001
        );
    }
}
