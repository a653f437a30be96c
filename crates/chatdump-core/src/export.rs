//! The exporter API and the driver that runs a conversion.
//!
//! Every output format implements [`Exporter`]: it is told [`Exporter::begin`] once, then given
//! each message in chronological order with [`Exporter::message`], then [`Exporter::finish`].
//! [`run`] reads a dump once and pushes every message into any number of exporters, so several
//! formats are written in one pass over the input; with more than one, each is written on a
//! thread of its own.

use std::error::Error as StdError;
use std::fmt;
use std::io::{self, Read};
use std::sync::{Arc, mpsc};

use jiff::Timestamp;

use crate::attachment::Attachments;
use crate::error::{ReadError, RecordError, RecordErrorKind};
use crate::escape::escape_for_terminal;
use crate::model::{Message, PayloadType, Position};
use crate::order::{Dedup, OrderError, OrderOptions, Orderer, Pushed, Strategy, Verdict};
use crate::reader::{ChatReader, is_blank_name};
use crate::speech::Speech;

mod fanout;

use fanout::FanOut;

/// What every exporter is told before the first message.
#[derive(Debug, Clone, Default)]
pub struct ExportContext {
    /// The input's display name (a file name, `-` for stdin).
    pub source: String,
    /// The version of the tool writing the output, recorded in output metadata.
    pub tool_version: String,
    /// When the export ran, if the caller wants it recorded. The library never reads the clock:
    /// leave it `None` for byte-identical output across runs.
    pub generated_at: Option<Timestamp>,
    /// The session's speech transcript and summary (issue 18), which the Markdown and HTML
    /// transcripts merge with the chat on one timeline; `None` for a chat alone. Other formats
    /// ignore it (the pipeline writes utterances to outputs of their own).
    pub speech: Option<Arc<Speech>>,
    /// The stored copies of the images and files the chat links to (issue 19, `--media`);
    /// `None` when media is off, and the outputs are then exactly those of a chat alone.
    pub attachments: Option<Arc<Attachments>>,
}

/// An error from an exporter.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// Writing failed.
    #[error(transparent)]
    Io(#[from] io::Error),
    /// The format's encoder failed.
    #[error(transparent)]
    Format(Box<dyn StdError + Send + Sync>),
}

impl ExportError {
    /// Wraps a format-specific error.
    pub fn format(error: impl Into<Box<dyn StdError + Send + Sync>>) -> Self {
        Self::Format(error.into())
    }
}

/// A format writer fed one message at a time.
///
/// Implementations document their memory bound on the type; none may hold more than a bounded
/// number of messages.
pub trait Exporter {
    /// Called once, before the first message.
    fn begin(&mut self, context: &ExportContext) -> Result<(), ExportError>;
    /// Called for each message, in chronological order.
    fn message(&mut self, message: &Message) -> Result<(), ExportError>;
    /// Called once after the last message; the output must be complete and flushed afterwards.
    fn finish(&mut self) -> Result<(), ExportError>;
}

/// What to do with a bad record.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum OnError {
    /// Stop at the first bad record (the default).
    #[default]
    Fail,
    /// Skip bad records, reporting each to [`Observer::rejected`].
    Skip,
}

/// Something that happened during a run that is worth telling the user.
///
/// Its `Display` form is the text to show, with every value from the dump already escaped for a
/// terminal. [`Warning::Duplicate`] comes as it happens; the others are about the whole input and
/// come once each, at the end of a run that read it all, in a fixed order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Warning {
    /// An identical duplicate record was dropped.
    Duplicate {
        /// The message id.
        id: String,
        /// Where the kept copy is.
        first: Position,
        /// Where the dropped copy is.
        second: Position,
    },
    /// A column outside the documented ten; its values are kept in each message's `extra`.
    UnknownColumn {
        /// The column name as written in the header.
        name: String,
    },
    /// A column with a blank name (every line ending with a comma) whose values are all empty:
    /// left out of the output.
    EmptyColumnDropped {
        /// The column's position in the header, from 1.
        column: usize,
    },
    /// A column with a blank name that holds values in some records: kept in `extra`, under its
    /// blank name, in the messages where it is not empty.
    UnnamedColumn {
        /// The column's position in the header, from 1.
        column: usize,
        /// Messages written with a value in it.
        messages: u64,
    },
    /// Messages whose `payloadType` is none of the three known ones; they are written with their
    /// payload as is, and the transcripts render them generically.
    UnknownPayloadType {
        /// The payload type as written.
        name: String,
        /// Messages written with it.
        messages: u64,
    },
    /// The dump holds more than one value of `sessionId` or `meetingId`.
    SeveralIds {
        /// `sessionId` or `meetingId`.
        column: &'static str,
        /// The values, in first-seen order, with the number of messages written with each (at
        /// most [`MAX_COUNTED_IDS`]).
        ids: Vec<(String, u64)>,
        /// Messages written with values beyond those.
        more_messages: u64,
    },
    /// An attachment of a message could not be fetched (`--media`); the outputs show it as
    /// unavailable, with the reason.
    AttachmentUnavailable {
        /// The message id.
        id: String,
        /// Why, without the link's query string.
        reason: String,
    },
    /// A file an earlier run stored in the media directory, or its index, was not used
    /// (`--media`): its link is fetched again.
    MediaNotReused {
        /// Why, naming the index or file, the entry and the offending value.
        reason: String,
    },
}

/// How many distinct `sessionId`s, `meetingId`s or unknown `payloadType`s a run counts; values
/// beyond these are counted together, so memory does not grow with a hostile input.
pub const MAX_COUNTED_IDS: usize = 16;

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let shown = |value: &str| escape_for_terminal(value, 80);
        match self {
            Self::Duplicate { id, first, second } => write!(
                f,
                "line {}: identical duplicate of the message on line {} (id `{}`), written once",
                second.line,
                first.line,
                shown(id)
            ),
            Self::UnknownColumn { name } => write!(
                f,
                "column `{}` is not one of the ten documented columns: its values are kept in each message's `extra`",
                shown(name)
            ),
            Self::EmptyColumnDropped { column } => write!(
                f,
                "column {column} has no name and no value on any line (every line ends with a comma?): left out"
            ),
            Self::UnnamedColumn { column, messages } => write!(
                f,
                "column {column} has no name: its value is kept in `extra` under an empty key in the {messages} message(s) where it is not empty"
            ),
            Self::UnknownPayloadType { name, messages } => write!(
                f,
                "{messages} message(s) with payloadType `{}`, which is not TEXT_MESSAGE, IMAGE_MESSAGE or FILE_MESSAGE: written with their payload as is and rendered generically in transcripts",
                shown(name)
            ),
            Self::SeveralIds {
                column,
                ids,
                more_messages,
            } => {
                let more = if *more_messages > 0 { "more than " } else { "" };
                write!(
                    f,
                    "the dump holds {more}{} different `{column}` values: ",
                    ids.len()
                )?;
                for (index, (id, messages)) in ids.iter().enumerate() {
                    if index > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "`{}` ({messages} message(s))", shown(id))?;
                }
                if *more_messages > 0 {
                    write!(f, ", others ({more_messages} message(s))")?;
                }
                Ok(())
            }
            Self::AttachmentUnavailable { id, reason } => write!(
                f,
                "message `{}`: attachment not saved: {}",
                shown(id),
                escape_for_terminal(reason, 300)
            ),
            Self::MediaNotReused { reason } => write!(
                f,
                "media kept from an earlier run: {}",
                escape_for_terminal(reason, 500)
            ),
        }
    }
}

/// Counts of distinct values, in first-seen order, up to [`MAX_COUNTED_IDS`].
#[derive(Debug, Default)]
struct Tally {
    counts: Vec<(String, u64)>,
    more: u64,
}

impl Tally {
    fn add(&mut self, value: &str) {
        // A dump normally has one session and one meeting: the last value seen is checked first.
        if let Some((_, count)) = self
            .counts
            .iter_mut()
            .rev()
            .find(|(known, _)| known == value)
        {
            *count += 1;
        } else if self.counts.len() < MAX_COUNTED_IDS {
            self.counts.push((value.to_owned(), 1));
        } else {
            self.more += 1;
        }
    }
}

/// Receives what a run reports as it goes. The CLI turns it into a rejects file, warnings on
/// stderr and a progress bar; the library itself never prints.
pub trait Observer {
    /// A record was skipped (skip mode only). An error here stops the run.
    fn rejected(&mut self, error: &RecordError) -> Result<(), ExportError>;
    /// Something worth a warning happened.
    fn warning(&mut self, warning: &Warning);
    /// Progress: input bytes consumed so far. Called every few thousand records.
    fn progress(&mut self, bytes_read: u64);
}

/// An observer that ignores everything (rejects are still counted in the summary).
#[derive(Debug, Default)]
pub struct IgnoreObserver;

impl Observer for IgnoreObserver {
    fn rejected(&mut self, _error: &RecordError) -> Result<(), ExportError> {
        Ok(())
    }
    fn warning(&mut self, _warning: &Warning) {}
    fn progress(&mut self, _bytes_read: u64) {}
}

/// Options for [`run`].
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// What to do with a bad record.
    pub on_error: OnError,
    /// How to order messages, and in how much memory.
    pub order: OrderOptions,
    /// The ordering strategy; see [`crate::order`].
    pub strategy: Option<Strategy>,
}

/// The counts of a finished run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Summary {
    /// Data records read (good and bad): `messages + rejected + duplicates`.
    pub records: u64,
    /// Messages written to every exporter.
    pub messages: u64,
    /// Records skipped as bad (skip mode).
    pub rejected: u64,
    /// Identical duplicates dropped.
    pub duplicates: u64,
    /// Input bytes read.
    pub bytes: u64,
    /// Sorted runs spilled to temporary files.
    pub spilled_runs: usize,
}

/// How a run ended.
#[derive(Debug)]
pub enum Outcome {
    /// Every exporter finished.
    Done(Summary),
    /// The window strategy met a message it could not place (see [`crate::order`]): the
    /// exporters' output is incomplete and must be discarded, and the input read again with
    /// [`Strategy::External`].
    NeedsExternalSort,
}

/// An error that stops a run.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The input could not be read, or has a bad record (in fail mode).
    #[error(transparent)]
    Read(#[from] ReadError),
    /// An exporter failed.
    #[error("cannot write {format} output")]
    Export {
        /// The exporter's position in the list passed to [`run`], named by the caller.
        format: String,
        /// What failed.
        #[source]
        source: ExportError,
    },
    /// Writing the rejects failed.
    #[error("cannot record a rejected record")]
    Rejects(#[source] ExportError),
    /// Spilling sorted runs failed.
    #[error("cannot spill sorted messages to a temporary file")]
    Spill(#[source] io::Error),
    /// A bug: the records read are not all accounted for as written, rejected or dropped as
    /// duplicates. The outputs must not be committed.
    #[error(
        "internal error: {records} record(s) read but {messages} written + {rejected} rejected + {duplicates} duplicate(s) dropped; the outputs are discarded (please report this)"
    )]
    CountMismatch {
        /// Records read.
        records: u64,
        /// Messages written.
        messages: u64,
        /// Records rejected.
        rejected: u64,
        /// Duplicates dropped.
        duplicates: u64,
    },
}

/// A named exporter, as [`run`] takes them: the name is used in errors.
pub struct Output<'a> {
    /// The format name, for errors.
    pub name: String,
    /// The exporter. `Send`: with several outputs, each is written on a thread of its own.
    pub exporter: Box<dyn Exporter + Send + 'a>,
}

/// Records handed from the reading thread to the exporting one, with the reader's counters.
///
/// Errors are rare, so they travel beside the messages rather than in a `Result` per message
/// (which would make every slot as large as an error): `errors` holds `(i, error)` for an
/// error read just before `messages[i]`, in input order.
struct Batch {
    messages: Spent,
    errors: Vec<(usize, ReadError)>,
    records_read: u64,
    bytes_read: u64,
}

const BATCH_MESSAGES: usize = 1024;

/// Spent messages on their way back to the reading thread, boxed as they travel everywhere.
type Spent = Vec<Box<Message>>;
/// Batches in flight between the threads: bounds the memory of the hand-over.
const BATCHES_IN_FLIGHT: usize = 4;

/// Reads and parses on its own thread, so parsing overlaps with formatting and writing. Stops at
/// the first unrecoverable error, or when the receiver hangs up.
///
/// Spent messages come back through `recycled` (in batches, to keep channel traffic low) and are
/// filled again, so in the steady state
/// neither thread allocates or frees per message (and no memory crosses threads to be freed,
/// which the system allocator handles slowly).
fn read_batches<R: Read>(
    mut reader: ChatReader<R>,
    sender: &mpsc::SyncSender<Batch>,
    recycled: &mpsc::Receiver<Spent>,
) {
    let mut spare: Spent = Vec::new();
    // Emptied vectors of spent messages become the next batches.
    let mut empty: Vec<Spent> = Vec::new();
    loop {
        let mut messages = empty
            .pop()
            .unwrap_or_else(|| Vec::with_capacity(BATCH_MESSAGES));
        let mut errors = Vec::new();
        let mut finished = true;
        loop {
            if spare.is_empty()
                && let Ok(more) = recycled.try_recv()
            {
                let drained = std::mem::replace(&mut spare, more);
                if drained.capacity() >= BATCH_MESSAGES {
                    empty.push(drained);
                }
            }
            let mut message = spare.pop().unwrap_or_default();
            match reader.read_into(&mut message) {
                None => break,
                Some(Ok(())) => messages.push(message),
                Some(Err(error)) => {
                    errors.push((messages.len(), error));
                    spare.push(message);
                }
            }
            if messages.len() == BATCH_MESSAGES {
                finished = false;
                break;
            }
        }
        let batch = Batch {
            messages,
            errors,
            records_read: reader.records_read(),
            bytes_read: reader.bytes_read(),
        };
        if sender.send(batch).is_err() || finished {
            return;
        }
    }
}

/// Reads every record of `reader`, orders them, and pushes each message into every exporter.
///
/// Reading and parsing run on a second thread (scoped: it ends before `run` returns), handing
/// messages over in small batches, so memory stays bounded. With one output, the messages are
/// written on the calling thread; with several, each output has a writer thread of its own (also
/// scoped), and all of them read the same batches of messages, never copied. The first output (in
/// the order given) whose writer fails is named in [`RunError::Export`], and stops the run: the
/// others are not finished.
///
/// With [`Strategy::Window`] (the default) the run may end in [`Outcome::NeedsExternalSort`];
/// the caller then discards the outputs and runs again on a fresh reader with
/// [`Strategy::External`].
pub fn run<R: Read + Send>(
    reader: ChatReader<R>,
    context: &ExportContext,
    outputs: &mut [Output<'_>],
    observer: &mut dyn Observer,
    options: &RunOptions,
) -> Result<Outcome, RunError> {
    let strategy = options.strategy.unwrap_or(Strategy::Window);
    for output in outputs.iter_mut() {
        output
            .exporter
            .begin(context)
            .map_err(|source| export_error(output, source))?;
    }
    let file = reader.file().to_owned();
    let extra_columns: Vec<(usize, String)> = reader
        .extra_columns()
        .map(|(index, name)| (index + 1, name.to_owned()))
        .collect();
    std::thread::scope(move |scope| {
        let (sender, receiver) = mpsc::sync_channel(BATCHES_IN_FLIGHT);
        // Unbounded, but only ever holds messages that were read: at most the window plus the
        // batches in flight.
        let (recycle, recycled) = mpsc::channel();
        scope.spawn(move || read_batches(reader, &sender, &recycled));
        let mut orderer = Orderer::new(strategy, options.order.clone());
        let targets = if outputs.len() > 1 {
            let batch = Vec::with_capacity(BATCH_MESSAGES);
            Targets::Fan(FanOut::start(scope, outputs, &recycle, batch))
        } else {
            Targets::Inline(outputs)
        };
        let mut sink = Sink {
            targets,
            observer,
            dedup: Dedup::default(),
            on_error: options.on_error,
            file,
            summary: Summary::default(),
            recycle,
            spent: Vec::with_capacity(BATCH_MESSAGES),
            empty: Vec::new(),
            tallies: Tallies::default(),
        };
        let (mut records_read, mut bytes_read) = (0, 0);
        for mut batch in receiver {
            let mut errors = batch.errors.drain(..).peekable();
            // Where the next error comes (none: `usize::MAX`), compared with each message's
            // index rather than peeked at for every message.
            let next_error = |errors: &mut std::iter::Peekable<_>| {
                errors
                    .peek()
                    .map_or(usize::MAX, |(before, _): &(usize, ReadError)| *before)
            };
            let mut error_at = next_error(&mut errors);
            for (index, message) in batch.messages.drain(..).enumerate() {
                if index == error_at {
                    while let Some((_, error)) = errors.next_if(|(before, _)| *before == index) {
                        sink.read_error(error, options.on_error)?;
                    }
                    error_at = next_error(&mut errors);
                }
                match orderer
                    .push(message, &mut |message| sink.release(message))
                    .map_err(order_error)?
                {
                    Pushed::Placed => {}
                    Pushed::TooLate => return Ok(Outcome::NeedsExternalSort),
                }
            }
            for (_, error) in errors {
                sink.read_error(error, options.on_error)?;
            }
            sink.give_back(batch.messages);
            records_read = batch.records_read;
            bytes_read = batch.bytes_read;
            sink.observer.progress(bytes_read);
        }
        let spilled_runs = orderer.spilled_runs();
        orderer
            .finish(&mut |message| sink.release(message))
            .map_err(order_error)?;
        for warning in sink.tallies.warnings(&extra_columns) {
            sink.observer.warning(&warning);
        }
        check_accounting(&sink.summary, records_read)?;
        match sink.targets {
            Targets::Inline(outputs) => {
                for output in outputs.iter_mut() {
                    output
                        .exporter
                        .finish()
                        .map_err(|source| export_error(output, source))?;
                }
            }
            Targets::Fan(mut fan) => {
                if let Some(last) = sink.dedup.take_last() {
                    fan.push(last, Vec::new)?;
                }
                fan.finish()?;
            }
        }
        let mut summary = sink.summary;
        summary.records = records_read;
        summary.bytes = bytes_read;
        summary.spilled_runs = spilled_runs;
        Ok(Outcome::Done(summary))
    })
}

/// Every record read must be written, rejected or dropped as a duplicate: anything else is a
/// bug that lost (or invented) records, and the run must not succeed.
fn check_accounting(summary: &Summary, records_read: u64) -> Result<(), RunError> {
    if summary.messages + summary.rejected + summary.duplicates == records_read {
        return Ok(());
    }
    Err(RunError::CountMismatch {
        records: records_read,
        messages: summary.messages,
        rejected: summary.rejected,
        duplicates: summary.duplicates,
    })
}

fn export_error(output: &Output<'_>, source: ExportError) -> RunError {
    RunError::Export {
        format: output.name.clone(),
        source,
    }
}

fn order_error(error: OrderError<RunError>) -> RunError {
    match error {
        OrderError::Spill(source) => RunError::Spill(source),
        OrderError::Release(error) => error,
    }
}

/// What a run counts about the messages it writes, for the warnings about the whole input.
#[derive(Debug, Default)]
struct Tallies {
    sessions: Tally,
    meetings: Tally,
    payload_types: Tally,
    /// Messages with a value in a blank-named column (the reader leaves empty ones out), by name.
    unnamed: Tally,
}

impl Tallies {
    fn add(&mut self, message: &Message) {
        self.sessions.add(&message.session_id);
        self.meetings.add(&message.meeting_id);
        if let PayloadType::Other(name) = &message.payload_type {
            self.payload_types.add(name);
        }
        for (name, _) in &message.extra {
            if is_blank_name(name) {
                self.unnamed.add(name);
            }
        }
    }

    /// The warnings about the whole input, in a fixed order: columns (header order), payload
    /// types (first-seen order), then session and meeting ids.
    fn warnings(&self, extra_columns: &[(usize, String)]) -> Vec<Warning> {
        let mut warnings = Vec::new();
        for (column, name) in extra_columns {
            if !is_blank_name(name) {
                warnings.push(Warning::UnknownColumn { name: name.clone() });
                continue;
            }
            let messages = self
                .unnamed
                .counts
                .iter()
                .find(|(known, _)| known == name)
                .map_or(0, |(_, count)| *count);
            warnings.push(if messages == 0 {
                Warning::EmptyColumnDropped { column: *column }
            } else {
                Warning::UnnamedColumn {
                    column: *column,
                    messages,
                }
            });
        }
        for (name, messages) in &self.payload_types.counts {
            warnings.push(Warning::UnknownPayloadType {
                name: name.clone(),
                messages: *messages,
            });
        }
        for (column, tally) in [("sessionId", &self.sessions), ("meetingId", &self.meetings)] {
            if tally.counts.len() > 1 {
                warnings.push(Warning::SeveralIds {
                    column,
                    ids: tally.counts.clone(),
                    more_messages: tally.more,
                });
            }
        }
        warnings
    }
}

/// Where a run's ordered messages are written.
enum Targets<'o, 'a, 'scope> {
    /// One output (or none), written on the calling thread.
    Inline(&'o mut [Output<'a>]),
    /// Several outputs, each on a writer thread of its own.
    Fan(FanOut<'scope>),
}

/// Where ordered messages go: duplicate check, then every exporter.
struct Sink<'o, 'a, 'scope> {
    targets: Targets<'o, 'a, 'scope>,
    observer: &'o mut dyn Observer,
    dedup: Dedup,
    on_error: OnError,
    file: String,
    summary: Summary,
    /// Spent messages go back to the reading thread to be filled again.
    recycle: mpsc::Sender<Spent>,
    /// Spent messages not yet sent back.
    spent: Spent,
    /// Emptied batches, to collect spent messages in.
    empty: Vec<Spent>,
    tallies: Tallies,
}

/// Messages holding more than this are not reused: recycled strings keep their capacity, and a
/// few long messages would otherwise make every message in circulation large.
const REUSE_MAX_BYTES: usize = 1024;

/// Whether a spent message is worth filling again: it holds at most [`REUSE_MAX_BYTES`] once
/// a long payload's buffer is freed. A long payload (an attachment's link, a long text) should
/// not cost the whole message (seven allocations to make it again), only that buffer.
fn reusable(message: &mut Message) -> bool {
    if message.approximate_size() > REUSE_MAX_BYTES {
        message.payload = String::new();
    }
    message.approximate_size() <= REUSE_MAX_BYTES
}

impl Sink<'_, '_, '_> {
    fn reuse(&mut self, mut message: Box<Message>) {
        if reusable(&mut message) {
            self.spent.push(message);
            if self.spent.len() == BATCH_MESSAGES {
                let next = self
                    .empty
                    .pop()
                    .unwrap_or_else(|| Vec::with_capacity(BATCH_MESSAGES));
                let spent = std::mem::replace(&mut self.spent, next);
                // The reading thread may have finished; then the messages are simply dropped.
                let _ = self.recycle.send(spent);
            }
        }
    }

    /// Keeps an emptied batch to collect spent messages in (a few at most: the rest are freed).
    fn give_back(&mut self, batch: Spent) {
        if self.empty.len() < BATCHES_IN_FLIGHT {
            self.empty.push(batch);
        }
    }

    /// A record the reader could not read: rejected in skip mode when the reader can go on,
    /// the end of the run otherwise.
    fn read_error(&mut self, error: ReadError, on_error: OnError) -> Result<(), RunError> {
        match error {
            ReadError::Record(error)
                if on_error == OnError::Skip && error.kind.is_recoverable() =>
            {
                self.reject(&error)
            }
            error => Err(error.into()),
        }
    }

    fn reject(&mut self, error: &RecordError) -> Result<(), RunError> {
        self.summary.rejected += 1;
        self.observer.rejected(error).map_err(RunError::Rejects)
    }

    fn release(&mut self, message: Box<Message>) -> Result<(), RunError> {
        match self.dedup.judge(&message) {
            Verdict::Keep => {}
            Verdict::Duplicate { first_line } => {
                self.summary.duplicates += 1;
                self.observer.warning(&Warning::Duplicate {
                    id: message.id.clone(),
                    first: Position {
                        line: first_line,
                        byte: 0,
                    },
                    second: message.position,
                });
                self.reuse(message);
                return Ok(());
            }
            Verdict::Conflict { first_line } => {
                let error = RecordError {
                    file: self.file.clone(),
                    position: message.position,
                    column: Some("id".to_owned()),
                    kind: RecordErrorKind::ConflictingDuplicate { first_line },
                    excerpt: crate::escape::escape_for_terminal(
                        &message.id,
                        crate::escape::EXCERPT_CHARS,
                    ),
                };
                if self.on_error == OnError::Skip {
                    return self.reject(&error);
                }
                return Err(ReadError::Record(error).into());
            }
        }
        match &mut self.targets {
            Targets::Inline(outputs) => {
                for output in outputs.iter_mut() {
                    output
                        .exporter
                        .message(&message)
                        .map_err(|source| export_error(output, source))?;
                }
                self.summary.messages += 1;
                self.tallies.add(&message);
                if let Some(spent) = self.dedup.kept(message) {
                    self.reuse(spent);
                }
            }
            Targets::Fan(fan) => {
                self.summary.messages += 1;
                self.tallies.add(&message);
                // The duplicate check holds on to the last message kept: the writers get each
                // message when the next one is kept (and the last one at the end).
                if let Some(previous) = self.dedup.kept(message) {
                    let empty = &mut self.empty;
                    fan.push(previous, || {
                        empty
                            .pop()
                            .unwrap_or_else(|| Vec::with_capacity(BATCH_MESSAGES))
                    })?;
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reader::ReaderOptions;

    /// A spent message with a long payload is kept for reuse without that payload's buffer; one
    /// that is still too large without it is dropped; a small one is kept whole.
    #[test]
    fn long_payloads_are_freed_not_the_whole_message() {
        let mut small = Message {
            payload: "short".to_owned(),
            ..Message::default()
        };
        assert!(reusable(&mut small));
        assert_eq!(small.payload, "short");

        let mut long = Message {
            payload: "x".repeat(REUSE_MAX_BYTES),
            ..Message::default()
        };
        assert!(reusable(&mut long));
        assert_eq!(long.payload.capacity(), 0);
        assert!(long.approximate_size() <= REUSE_MAX_BYTES);

        let mut wide = Message {
            extra: vec![("column".to_owned(), "x".repeat(REUSE_MAX_BYTES))],
            ..Message::default()
        };
        assert!(!reusable(&mut wide));
    }

    /// With a reorder window that releases every message at once, rejected records and dropped
    /// duplicates are told in input order, however many of each a batch holds.
    #[test]
    fn rejects_and_duplicates_are_told_in_input_order() {
        struct Ignore;
        impl Exporter for Ignore {
            fn begin(&mut self, _context: &ExportContext) -> Result<(), ExportError> {
                Ok(())
            }
            fn message(&mut self, _message: &Message) -> Result<(), ExportError> {
                Ok(())
            }
            fn finish(&mut self) -> Result<(), ExportError> {
                Ok(())
            }
        }
        #[derive(Default)]
        struct Lines(Vec<u64>);
        impl Observer for Lines {
            fn rejected(&mut self, error: &RecordError) -> Result<(), ExportError> {
                self.0.push(error.position.line);
                Ok(())
            }
            fn warning(&mut self, warning: &Warning) {
                if let Warning::Duplicate { second, .. } = warning {
                    self.0.push(second.line);
                }
            }
            fn progress(&mut self, _bytes_read: u64) {}
        }
        let mut csv = String::from(
            "id,participantId,sessionId,meetingId,displayName,pinned,isEdited,payloadType,payload,createdAt\n",
        );
        let mut expected = Vec::new();
        for second in 0..3000 {
            let line = format!(
                "m{second},p,s,mt,Ann,false,false,TEXT_MESSAGE,hi,{}\n",
                1_700_000_000 + second
            );
            csv.push_str(&line);
            let next_line = csv.lines().count() as u64 + 1;
            match second % 7 {
                // A duplicate, a bad record, both, or two bad records in a row.
                1 | 4 => {
                    csv.push_str(&line);
                    expected.push(next_line);
                }
                2 => {
                    csv.push_str(",p,s,mt,Ann,false,false,TEXT_MESSAGE,hi,1\n");
                    expected.push(next_line);
                }
                5 => {
                    csv.push_str(&line);
                    csv.push_str(",p,s,mt,Ann,false,false,TEXT_MESSAGE,hi,1\n");
                    csv.push_str(",p,s,mt,Ann,maybe,false,TEXT_MESSAGE,hi,1\n");
                    expected.extend([next_line, next_line + 1, next_line + 2]);
                }
                _ => {}
            }
        }
        let reader =
            ChatReader::new(csv.as_bytes(), "order.csv", ReaderOptions::default()).unwrap();
        let mut outputs = [Output {
            name: "ignore".to_owned(),
            exporter: Box::new(Ignore),
        }];
        let mut lines = Lines::default();
        let options = RunOptions {
            on_error: OnError::Skip,
            order: OrderOptions {
                memory_budget: 0,
                temp_dir: None,
            },
            strategy: Some(Strategy::Window),
        };
        let outcome = run(
            reader,
            &ExportContext::default(),
            &mut outputs,
            &mut lines,
            &options,
        )
        .unwrap();
        assert!(matches!(outcome, Outcome::Done(_)));
        assert_eq!(lines.0, expected);
    }

    #[test]
    fn records_not_accounted_for_are_an_internal_error() {
        let summary = Summary {
            messages: 2,
            rejected: 1,
            duplicates: 1,
            ..Summary::default()
        };
        assert!(check_accounting(&summary, 4).is_ok());
        for records in [3, 5] {
            let error = check_accounting(&summary, records).unwrap_err();
            assert!(matches!(error, RunError::CountMismatch { .. }), "{error}");
            assert_eq!(
                error.to_string(),
                format!(
                    "internal error: {records} record(s) read but 2 written + 1 rejected + 1 duplicate(s) dropped; the outputs are discarded (please report this)"
                )
            );
        }
    }
}
