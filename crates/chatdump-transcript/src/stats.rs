//! What a transcript's header shows: counts, the time span, participants and the activity
//! timeline, gathered while messages stream past in memory bounded by the number of
//! participants, never by the number of messages.

use std::collections::HashMap;

use jiff::Timestamp;

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
}

impl DistinctIds {
    fn add(&mut self, value: &str, cap: usize) {
        if self.values.iter().any(|known| known == value) {
            return;
        }
        if self.values.len() < cap {
            self.values.push(value.to_owned());
        } else {
            self.more += 1;
        }
    }
}

/// One person in the participants table: every message sent under the same display name, even
/// from several participant ids (someone who left and rejoined gets a new id).
#[derive(Debug, Clone)]
pub struct Participant {
    /// The display name, on one line (see [`crate::text::display_name`]).
    pub name: String,
    /// The participant ids used, first-seen order, up to [`MAX_PARTICIPANT_IDS`].
    pub ids: DistinctIds,
    /// Messages sent.
    pub messages: u64,
    /// The first message: when, and its id.
    pub first: (Timestamp, String),
    /// The last message: when, and its id.
    pub last: (Timestamp, String),
    /// The order of first appearance (0 for the first person who wrote).
    pub order: usize,
}

impl Participant {
    /// Counts one more message of this person.
    fn add(&mut self, seen: &Seen<'_>) {
        self.messages += 1;
        self.ids.add(seen.participant_id, MAX_PARTICIPANT_IDS);
        if seen.at >= self.last.0 {
            // The last id's buffer is reused.
            self.last.0 = seen.at;
            self.last.1.clear();
            self.last.1.push_str(seen.id);
        }
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
    participants: HashMap<String, Participant>,
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
        let mut participant = Participant {
            name: seen.name.to_owned(),
            ids: DistinctIds::default(),
            messages: 0,
            first: (seen.at, seen.id.to_owned()),
            last: (seen.at, seen.id.to_owned()),
            order: self.participants.len(),
        };
        participant.add(seen);
        self.participants.insert(seen.name.to_owned(), participant);
    }

    /// The number of people (distinct display names).
    #[must_use]
    pub fn participant_count(&self) -> usize {
        self.participants.len()
    }

    /// Every participant, in order of their first message.
    #[must_use]
    pub fn participants(&self) -> Vec<&Participant> {
        let mut list: Vec<&Participant> = self.participants.values().collect();
        list.sort_by_key(|participant| participant.order);
        list
    }
}

/// The widths, in minutes, an activity timeline's bars may have; each divides the next, so
/// counts can be merged without being split.
const BAR_MINUTES: [i64; 12] = [1, 2, 10, 30, 60, 120, 360, 720, 1440, 2880, 5760, 11_520];
/// The most bars a timeline has.
pub const MAX_BARS: usize = 120;

/// Messages per interval, for the activity timeline. The interval starts at one minute and
/// widens as the chat goes on so there are never more than [`MAX_BARS`] bars: memory is fixed.
#[derive(Debug, Clone, Default)]
pub struct Timeline {
    start: Option<i64>,
    width_index: usize,
    counts: Vec<u64>,
    /// Messages later than the widest bars can hold (a chat over ~2.6 years): counted in the
    /// last bar.
    overflow: u64,
}

/// One bar of the timeline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bar {
    /// When the interval starts.
    pub start: Timestamp,
    /// Messages sent in it.
    pub count: u64,
}

impl Timeline {
    /// Counts a message sent at `at`. Messages arrive in chronological order.
    pub fn add(&mut self, at: Timestamp) {
        let minute = at.as_second().div_euclid(60);
        let start = *self.start.get_or_insert(minute);
        let offset = (minute - start).max(0);
        loop {
            let width = BAR_MINUTES[self.width_index];
            let index = usize::try_from(offset / width).unwrap_or(usize::MAX);
            if index < MAX_BARS {
                if self.counts.len() <= index {
                    self.counts.resize(index + 1, 0);
                }
                self.counts[index] += 1;
                return;
            }
            if self.width_index + 1 == BAR_MINUTES.len() {
                self.overflow += 1;
                return;
            }
            self.widen();
        }
    }

    fn widen(&mut self) {
        let old = BAR_MINUTES[self.width_index];
        self.width_index += 1;
        let factor = usize::try_from(BAR_MINUTES[self.width_index] / old).unwrap_or(1);
        let mut merged = vec![0; self.counts.len().div_ceil(factor)];
        for (index, count) in self.counts.iter().enumerate() {
            merged[index / factor] += count;
        }
        self.counts = merged;
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
        let last = self.counts.len().saturating_sub(1);
        self.counts
            .iter()
            .enumerate()
            .map(|(index, count)| Bar {
                start: Timestamp::from_second(
                    (start + i64::try_from(index).unwrap_or(i64::MAX / 2) * width) * 60,
                )
                .unwrap_or(Timestamp::MAX),
                count: count + if index == last { self.overflow } else { 0 },
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
        assert_eq!(people[0].last.1, "c");
        assert_eq!(stats.meeting_ids.values, ["m"]);
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
