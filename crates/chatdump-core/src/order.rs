//! Chronological order in bounded memory.
//!
//! Two strategies, both bounded by [`OrderOptions::memory_budget`]:
//!
//! - [`Strategy::Window`] streams: messages pass through a reorder window (a sorted queue holding
//!   at most the budget) and leave it in order. A message in order is appended in O(1); a late
//!   one is inserted at its place, which costs as much as its distance from the end. Dumps that are in order, or only locally out of
//!   order (a message a few seconds late), stream through in constant memory with no temporary
//!   files. A message that arrives after a later one has already left the window cannot be
//!   placed: the window reports [`Pushed::TooLate`] and the caller starts again with
//!   [`Strategy::External`] (the CLI does this by re-reading the input file).
//! - [`Strategy::External`] is an external merge sort: messages are collected up to the budget,
//!   each full buffer is sorted and appended as a run to one temporary file, and the runs are
//!   merged at the end. Input that fits in the budget never touches the disk. The merge reads at
//!   most [`MERGE_FAN_IN`] runs at once (each through a [`RUN_READ_BUFFER`]-byte buffer); with
//!   more runs than that it merges them in groups into a second temporary file, as many passes
//!   as needed, so memory stays within the budget plus about 1 MiB of read buffers and at most
//!   two temporary files are open, whatever the input size.
//!
//! Either way, identical duplicates (same `created_at`, same `id`, same content) end up next to
//! each other and are dropped by [`Dedup`].

use std::cmp::{Ordering, Reverse};
use std::collections::{BinaryHeap, VecDeque};
use std::fs::File;
use std::io::{self, BufReader, BufWriter, Read, Write};
use std::ops::Range;
use std::path::{Path, PathBuf};

use crate::model::Message;

/// The default memory budget for ordering: 4 MiB of messages (about 8,000 typical messages in the
/// reorder window: hours of a busy meeting's chat).
pub const DEFAULT_MEMORY_BUDGET: usize = 4 << 20;

/// The most sorted runs the external sort merges at once. More runs are merged in groups of
/// this many first, in as many passes as needed.
pub const MERGE_FAN_IN: usize = 128;

/// The read buffer of each run being merged: [`MERGE_FAN_IN`] of them are 1 MiB, the fixed
/// allowance of the merge beyond the memory budget.
pub const RUN_READ_BUFFER: usize = 8 << 10;

/// The write buffer of the temporary file that holds the runs.
const RUN_WRITE_BUFFER: usize = 64 << 10;

/// How to put messages in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Strategy {
    /// Stream through a bounded reorder window; may report [`Pushed::TooLate`].
    Window,
    /// Sort externally, spilling sorted runs to temporary files beyond the budget.
    External,
}

/// Options for [`Orderer`].
#[derive(Debug, Clone)]
pub struct OrderOptions {
    /// The bytes of messages held in memory at most (approximately, see
    /// [`Message::approximate_size`]).
    pub memory_budget: usize,
    /// Where spilled runs go; the system temporary directory when `None`.
    pub temp_dir: Option<PathBuf>,
}

impl Default for OrderOptions {
    fn default() -> Self {
        Self {
            memory_budget: DEFAULT_MEMORY_BUDGET,
            temp_dir: None,
        }
    }
}

/// A message ordered by [`Message::sort_key`], for the merge heap.
struct Ordered(Box<Message>);

impl PartialEq for Ordered {
    fn eq(&self, other: &Self) -> bool {
        self.0.sort_key() == other.0.sort_key()
    }
}
impl Eq for Ordered {}
impl PartialOrd for Ordered {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Ordered {
    fn cmp(&self, other: &Self) -> Ordering {
        self.0.sort_key().cmp(&other.0.sort_key())
    }
}

/// What happened to a pushed message.
#[derive(Debug, PartialEq, Eq)]
pub enum Pushed {
    /// The message is placed.
    Placed,
    /// Window strategy only: the message belongs before one already released; the input must be
    /// ordered again with [`Strategy::External`].
    TooLate,
}

/// Puts messages in chronological order; see the module documentation.
pub struct Orderer {
    strategy: Strategy,
    options: OrderOptions,
    window: VecDeque<Box<Message>>,
    #[expect(
        clippy::vec_box,
        reason = "messages arrive and leave boxed; sorting moves pointers, not whole messages"
    )]
    buffer: Vec<Box<Message>>,
    bytes: usize,
    last_released: Option<(jiff::Timestamp, String, u64)>,
    /// The spilled runs, created at the first spill.
    runs: Option<RunFile>,
    /// [`MERGE_FAN_IN`], smaller in tests.
    fan_in: usize,
}

impl Orderer {
    /// Creates an orderer.
    #[must_use]
    pub fn new(strategy: Strategy, options: OrderOptions) -> Self {
        Self {
            strategy,
            options,
            window: VecDeque::new(),
            buffer: Vec::new(),
            bytes: 0,
            last_released: None,
            runs: None,
            fan_in: MERGE_FAN_IN,
        }
    }

    /// How many sorted runs were spilled to temporary files.
    #[must_use]
    pub fn spilled_runs(&self) -> usize {
        self.runs.as_ref().map_or(0, |runs| runs.runs.len())
    }

    /// Adds a message; messages that are ready leave through `release`, in order.
    pub fn push<E>(
        &mut self,
        message: Box<Message>,
        release: &mut impl FnMut(Box<Message>) -> Result<(), E>,
    ) -> Result<Pushed, OrderError<E>> {
        self.bytes += message.approximate_size();
        match self.strategy {
            Strategy::Window => {
                if let Some((created_at, id, byte)) = &self.last_released
                    && message.sort_key() < (*created_at, id.as_str(), *byte)
                {
                    return Ok(Pushed::TooLate);
                }
                let in_order = self
                    .window
                    .back()
                    .is_none_or(|last| last.sort_key() <= message.sort_key());
                if in_order {
                    self.window.push_back(message);
                } else {
                    let at = self
                        .window
                        .partition_point(|held| held.sort_key() <= message.sort_key());
                    self.window.insert(at, message);
                }
                while self.bytes > self.options.memory_budget {
                    let Some(first) = self.window.pop_front() else {
                        break;
                    };
                    self.bytes -= first.approximate_size();
                    self.remember(&first);
                    release(first).map_err(OrderError::Release)?;
                }
            }
            Strategy::External => {
                self.buffer.push(message);
                if self.bytes > self.options.memory_budget {
                    self.spill().map_err(OrderError::Spill)?;
                }
            }
        }
        Ok(Pushed::Placed)
    }

    fn remember(&mut self, message: &Message) {
        match &mut self.last_released {
            Some((created_at, id, byte)) => {
                *created_at = message.created_at;
                id.clear();
                id.push_str(&message.id);
                *byte = message.position.byte;
            }
            None => {
                self.last_released = Some((
                    message.created_at,
                    message.id.clone(),
                    message.position.byte,
                ));
            }
        }
    }

    fn spill(&mut self) -> io::Result<()> {
        sort(&mut self.buffer);
        let runs = match &mut self.runs {
            Some(runs) => runs,
            None => self
                .runs
                .insert(RunFile::create(self.options.temp_dir.as_deref())?),
        };
        for message in self.buffer.drain(..) {
            runs.write(&message)?;
        }
        runs.end_run();
        self.bytes = 0;
        Ok(())
    }

    /// Releases every message still held, in order.
    pub fn finish<E>(
        mut self,
        release: &mut impl FnMut(Box<Message>) -> Result<(), E>,
    ) -> Result<(), OrderError<E>> {
        match self.strategy {
            Strategy::Window => {
                for message in self.window.drain(..) {
                    release(message).map_err(OrderError::Release)?;
                }
                Ok(())
            }
            Strategy::External => match self.runs.take() {
                None => {
                    sort(&mut self.buffer);
                    for message in self.buffer.drain(..) {
                        release(message).map_err(OrderError::Release)?;
                    }
                    Ok(())
                }
                Some(runs) => {
                    self.runs = Some(runs);
                    if !self.buffer.is_empty() {
                        self.spill().map_err(OrderError::Spill)?;
                    }
                    let runs = self.runs.take().expect("spilled runs exist");
                    merge(runs, self.fan_in, self.options.temp_dir.as_deref(), release)
                }
            },
        }
    }
}

fn sort(messages: &mut [Box<Message>]) {
    messages.sort_by(|a, b| a.sort_key().cmp(&b.sort_key()));
}

/// Sorted runs, one after the other in one temporary file (unnamed: nothing is left behind,
/// whatever happens to the process).
struct RunFile {
    writer: BufWriter<File>,
    /// Bytes written so far.
    written: u64,
    /// Where the current run starts.
    run_start: u64,
    /// The byte range of each complete run.
    runs: Vec<Range<u64>>,
}

impl RunFile {
    fn create(temp_dir: Option<&Path>) -> io::Result<Self> {
        let file = crate::temp::temp_file(temp_dir)?;
        Ok(Self {
            writer: BufWriter::with_capacity(RUN_WRITE_BUFFER, file),
            written: 0,
            run_start: 0,
            runs: Vec::new(),
        })
    }

    /// Appends `message` to the current run.
    fn write(&mut self, message: &Message) -> io::Result<()> {
        let mut counting = Counting {
            inner: &mut self.writer,
            count: 0,
        };
        serde_json::to_writer(&mut counting, message)?;
        counting.write_all(b"\n")?;
        self.written += counting.count;
        Ok(())
    }

    /// Ends the current run (an empty one is not kept).
    fn end_run(&mut self) {
        if self.written > self.run_start {
            self.runs.push(self.run_start..self.written);
        }
        self.run_start = self.written;
    }

    /// The file, flushed, and its runs.
    fn finish(self) -> io::Result<(File, Vec<Range<u64>>)> {
        let file = self
            .writer
            .into_inner()
            .map_err(io::IntoInnerError::into_error)?;
        Ok((file, self.runs))
    }
}

/// A writer that counts the bytes written through it.
struct Counting<W> {
    inner: W,
    count: u64,
}

impl<W: Write> Write for Counting<W> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let written = self.inner.write(data)?;
        self.count += written as u64;
        Ok(written)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Reads the bytes `range` of a file shared with other readers, each at its own position
/// (positioned reads: no file descriptor per run).
struct RangeReader<'a> {
    file: &'a File,
    range: Range<u64>,
}

impl Read for RangeReader<'_> {
    fn read(&mut self, buffer: &mut [u8]) -> io::Result<usize> {
        let left = self.range.end - self.range.start;
        let wanted = buffer
            .len()
            .min(usize::try_from(left).unwrap_or(usize::MAX));
        if wanted == 0 {
            return Ok(0);
        }
        #[cfg(unix)]
        let read = std::os::unix::fs::FileExt::read_at(
            self.file,
            &mut buffer[..wanted],
            self.range.start,
        )?;
        #[cfg(windows)]
        let read = std::os::windows::fs::FileExt::seek_read(
            self.file,
            &mut buffer[..wanted],
            self.range.start,
        )?;
        if read == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "a spilled run is shorter than written",
            ));
        }
        self.range.start += read as u64;
        Ok(read)
    }
}

type RunReader<'a> = serde_json::StreamDeserializer<
    'static,
    serde_json::de::IoRead<BufReader<RangeReader<'a>>>,
    Message,
>;

fn next_from(run: &mut RunReader<'_>) -> io::Result<Option<Box<Message>>> {
    run.next()
        .transpose()
        .map(|message| message.map(Box::new))
        .map_err(io::Error::other)
}

/// Merges all the runs, releasing messages in order: in groups of `fan_in` into a new file
/// while there are more runs than that, then the last ones into `release`.
fn merge<E>(
    runs: RunFile,
    fan_in: usize,
    temp_dir: Option<&Path>,
    release: &mut impl FnMut(Box<Message>) -> Result<(), E>,
) -> Result<(), OrderError<E>> {
    let (mut file, mut ranges) = runs.finish().map_err(OrderError::Spill)?;
    while ranges.len() > fan_in {
        let mut next = RunFile::create(temp_dir).map_err(OrderError::Spill)?;
        for group in ranges.chunks(fan_in) {
            merge_group(&file, group, &mut |message: Box<Message>| {
                next.write(&message).map_err(OrderError::Spill)
            })?;
            next.end_run();
        }
        // The previous pass's file is closed (and so freed) here.
        (file, ranges) = next.finish().map_err(OrderError::Spill)?;
    }
    merge_group(&file, &ranges, &mut |message: Box<Message>| {
        release(message).map_err(OrderError::Release)
    })
}

/// Merges the sorted runs at `ranges` of `file` into `sink`.
fn merge_group<E>(
    file: &File,
    ranges: &[Range<u64>],
    sink: &mut impl FnMut(Box<Message>) -> Result<(), OrderError<E>>,
) -> Result<(), OrderError<E>> {
    let mut readers: Vec<RunReader<'_>> = ranges
        .iter()
        .map(|range| {
            let reader = RangeReader {
                file,
                range: range.clone(),
            };
            serde_json::Deserializer::from_reader(BufReader::with_capacity(RUN_READ_BUFFER, reader))
                .into_iter::<Message>()
        })
        .collect();
    let mut heads = BinaryHeap::with_capacity(readers.len());
    for (index, reader) in readers.iter_mut().enumerate() {
        if let Some(message) = next_from(reader).map_err(OrderError::Spill)? {
            heads.push(Reverse((Ordered(message), index)));
        }
    }
    while let Some(Reverse((Ordered(message), index))) = heads.pop() {
        sink(message)?;
        if let Some(next) = next_from(&mut readers[index]).map_err(OrderError::Spill)? {
            heads.push(Reverse((Ordered(next), index)));
        }
    }
    Ok(())
}

/// An error while ordering.
#[derive(Debug, thiserror::Error)]
pub enum OrderError<E> {
    /// Writing or reading a spilled run failed.
    #[error("cannot spill sorted messages to a temporary file")]
    Spill(#[source] io::Error),
    /// The release callback failed.
    #[error(transparent)]
    Release(E),
}

/// What [`Dedup`] decided about a message.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    /// A new message: pass it on.
    Keep,
    /// An identical copy of the previous message (which was read first, on `first_line`).
    Duplicate {
        /// The line of the copy that was kept.
        first_line: u64,
    },
    /// The same `created_at` and `id` as the previous message, with different content.
    Conflict {
        /// The line of the copy that was kept.
        first_line: u64,
    },
}

/// Drops identical duplicates from an ordered stream, and finds conflicting ones.
///
/// Ordering puts records with the same `created_at` and `id` next to each other, so comparing
/// each message with the last one kept finds every identical duplicate in constant memory. The
/// same id with a *different* `created_at` is not detected: that would need memory that grows
/// with the input.
#[derive(Default)]
pub struct Dedup {
    previous: Option<Box<Message>>,
}

impl Dedup {
    /// Judges `message` against the last message kept.
    #[must_use]
    pub fn judge(&self, message: &Message) -> Verdict {
        match &self.previous {
            Some(previous)
                if previous.id == message.id && previous.created_at == message.created_at =>
            {
                let first_line = previous.position.line;
                if previous.same_content(message) {
                    Verdict::Duplicate { first_line }
                } else {
                    Verdict::Conflict { first_line }
                }
            }
            _ => Verdict::Keep,
        }
    }

    /// Records `message` as the last one kept; returns the one it replaces, for reuse.
    pub fn kept(&mut self, message: Box<Message>) -> Option<Box<Message>> {
        self.previous.replace(message)
    }

    /// Gives back the last message kept, forgetting it.
    pub fn take_last(&mut self) -> Option<Box<Message>> {
        self.previous.take()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{PayloadType, Position};

    fn message(second: i64, id: &str, byte: u64) -> Message {
        Message {
            id: id.into(),
            session_id: "s".into(),
            meeting_id: "m".into(),
            participant_id: "p".into(),
            display_name: "d".into(),
            pinned: false,
            edited: false,
            created_at: jiff::Timestamp::from_second(second).unwrap(),
            payload_type: PayloadType::Text,
            payload: "x".repeat(100),
            extra: Vec::new(),
            position: Position { line: byte, byte },
        }
    }

    fn order(
        strategy: Strategy,
        budget: usize,
        input: &[(i64, &str)],
    ) -> (Vec<String>, bool, usize) {
        order_with_fan_in(strategy, budget, MERGE_FAN_IN, input)
    }

    fn order_with_fan_in(
        strategy: Strategy,
        budget: usize,
        fan_in: usize,
        input: &[(i64, &str)],
    ) -> (Vec<String>, bool, usize) {
        let mut orderer = Orderer::new(
            strategy,
            OrderOptions {
                memory_budget: budget,
                temp_dir: None,
            },
        );
        orderer.fan_in = fan_in;
        let mut out = Vec::new();
        let mut release = |m: Box<Message>| -> Result<(), ()> {
            out.push(format!("{}{}", m.created_at.as_second(), m.id));
            Ok(())
        };
        for (index, (second, id)) in input.iter().enumerate() {
            if orderer
                .push(Box::new(message(*second, id, index as u64)), &mut release)
                .unwrap()
                == Pushed::TooLate
            {
                return (out, true, 0);
            }
        }
        let runs = orderer.spilled_runs();
        orderer.finish(&mut release).unwrap();
        (out, false, runs)
    }

    #[test]
    fn window_reorders_locally_and_reports_late_messages() {
        let one = message(0, "a", 0).approximate_size();
        let (out, late, _) = order(
            Strategy::Window,
            one * 3,
            &[(1, "a"), (3, "c"), (2, "b"), (4, "d")],
        );
        assert!(!late);
        assert_eq!(out, ["1a", "2b", "3c", "4d"]);
        let (_, late, _) = order(
            Strategy::Window,
            one * 2,
            &[(5, "a"), (6, "b"), (7, "c"), (1, "z")],
        );
        assert!(late);
    }

    #[test]
    fn external_sort_spills_and_merges() {
        let one = message(0, "a", 0).approximate_size();
        let input: Vec<(i64, String)> = (0..100)
            .map(|i| ((i * 37) % 100, format!("{i:03}")))
            .collect();
        let borrowed: Vec<(i64, &str)> = input.iter().map(|(s, id)| (*s, id.as_str())).collect();
        let (out, late, runs) = order(Strategy::External, one * 7, &borrowed);
        assert!(!late);
        assert!(runs >= 10, "expected spilled runs, got {runs}");
        let mut expected: Vec<String> = input.iter().map(|(s, id)| format!("{s}{id}")).collect();
        expected.sort_by_key(|text| {
            let (second, id) = text.split_at(text.len() - 3);
            (second.parse::<i64>().unwrap(), id.to_owned())
        });
        assert_eq!(out, expected);
    }

    #[test]
    fn external_sort_merges_many_runs_in_passes() {
        let one = message(0, "a", 0).approximate_size();
        // Two messages a run: about 1,500 runs merged four at a time, so five passes merge
        // groups (the last group of a pass smaller) before the last merge; equal timestamps keep
        // their id order.
        let count = 3_000;
        let input: Vec<(i64, String)> = (0..count)
            .map(|i| (((count - i) * 7919) % 997, format!("{i:05}")))
            .collect();
        let borrowed: Vec<(i64, &str)> = input.iter().map(|(s, id)| (*s, id.as_str())).collect();
        let (out, late, runs) = order_with_fan_in(Strategy::External, one, 4, &borrowed);
        assert!(!late);
        assert!(
            runs > 4_usize.pow(5),
            "expected more than 4^5 runs, got {runs}"
        );
        let mut expected: Vec<(i64, String)> = input.clone();
        expected.sort();
        let expected: Vec<String> = expected.iter().map(|(s, id)| format!("{s}{id}")).collect();
        assert_eq!(out, expected);
    }
}
