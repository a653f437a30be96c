//! Running a conversion: every input read, ordered and written to every planned output, then
//! everything put in place at once.

use std::fmt;
use std::fs;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chatdump_core::attachment::{Attachments, MediaMode};

use chatdump_core::error::{RecordError, RecordErrorKind};
use chatdump_core::escape::escape_for_terminal;
use chatdump_core::export::{
    self, ExportContext, ExportError, Observer, OnError, Outcome, Output, RunOptions, Summary,
    Warning,
};
use chatdump_core::order::{OrderOptions, Strategy};
use chatdump_core::output::{AtomicFile, BackgroundWriter, Sink, StreamingFile};
use chatdump_core::reader::{ChatReader, ReaderOptions};
use chatdump_core::speech::UtteranceError;
use chatdump_parquet::Dataset;
use jiff::Timestamp;

use crate::error::PipelineError;
use crate::format::{Format, FormatOptions, exporter};
use crate::hash::{HashHandle, hash_file};
use crate::input::{Input, MeetingParts, Replay, Source};
use crate::media::{self, FetchedMedia, MediaSettings, MediaSummary};
use crate::plan::{Destination, Plan};
use crate::speech::{self, ChatIds, Part, Probe, SpeechCounts};

/// How a conversion reads and writes.
#[derive(Debug, Clone)]
pub struct Options {
    /// What to do with a bad record.
    pub on_error: OnError,
    /// The largest record accepted, in bytes.
    pub max_record_size: usize,
    /// Memory for putting an out-of-order dump in order; beyond it sorted runs are spilled.
    pub sort_memory: usize,
    /// Where temporary files go: spilled sorted runs, transcript spools, standard input's
    /// copy. The caller chooses it (the library never reads `TMPDIR`).
    pub temp_dir: PathBuf,
    /// How each format is written.
    pub formats: FormatOptions,
    /// The version recorded in output metadata.
    pub tool_version: String,
    /// When the export ran, if it should be recorded; `None` keeps outputs byte-identical.
    pub generated_at: Option<Timestamp>,
    /// Compute every output's SHA-256 as it is written ([`Written::sha256`]). Off by default:
    /// it costs about a CPU-second per GB of output (on the writing threads).
    pub content_hashes: bool,
    /// The largest speech transcript accepted, in bytes (issue 18); larger is an error.
    pub max_transcript_size: u64,
    /// Fetch the images and files the chat links to (`--media`); `None` (the default) keeps
    /// the conversion offline and its outputs those of a chat alone.
    pub media: Option<MediaSettings>,
}

impl Options {
    /// The defaults of `chatdump convert`, with temporary files in `temp_dir`.
    #[must_use]
    pub fn new(temp_dir: PathBuf, tool_version: impl Into<String>) -> Self {
        Self {
            on_error: OnError::Fail,
            max_record_size: ReaderOptions::default().max_record_bytes,
            sort_memory: OrderOptions::default().memory_budget,
            temp_dir,
            formats: FormatOptions::default(),
            tool_version: tool_version.into(),
            generated_at: None,
            content_hashes: false,
            max_transcript_size: speech::DEFAULT_MAX_TRANSCRIPT_BYTES,
            media: None,
        }
    }
}

/// What a conversion tells its caller as it goes. Every method has a default that ignores it.
///
/// Rejects and warnings are told once each: when a dump is read a second time (to sort it
/// externally), what the first pass already told is not told again.
pub trait Events {
    /// A pass over `source` begins; `size` is its length when known.
    fn started(&mut self, source: &Source, size: Option<u64>) {
        let _ = (source, size);
    }
    /// Input bytes consumed so far in this pass.
    fn progress(&mut self, bytes_read: u64) {
        let _ = bytes_read;
    }
    /// A record was skipped (skip mode); it is also in the rejects file.
    fn rejected(&mut self, error: &RecordError) {
        let _ = error;
    }
    /// Something worth a warning.
    fn warning(&mut self, warning: &Warning) {
        let _ = warning;
    }
    /// The pass ended (successfully or not).
    fn finished(&mut self) {}
    /// `source` is out of order beyond the reorder window: it is read again to sort it.
    fn reading_again(&mut self, source: &Source) {
        let _ = source;
    }
    /// An utterance of the speech transcript was skipped (skip mode); it is also in the
    /// rejects file. Told once, when the transcript is read (before the chat).
    fn rejected_utterance(&mut self, error: &UtteranceError) {
        let _ = error;
    }
    /// Media downloads (`--media`): `done` of `links` distinct links finished, `bytes` arrived
    /// so far. Told a few times a second while they run.
    fn media_progress(&mut self, links: usize, done: usize, bytes: u64) {
        let _ = (links, done, bytes);
    }
}

/// Events nobody listens to.
#[derive(Debug, Default)]
pub struct NoEvents;

impl Events for NoEvents {}

/// One file a conversion wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Written {
    /// Its format; `None` for the rejects file and the summary.
    pub format: Option<Format>,
    /// Where it is; `None` for standard output.
    pub path: Option<PathBuf>,
    /// Its length.
    pub bytes: u64,
    /// Its SHA-256, lower-case hex, when [`Options::content_hashes`] asked for it.
    pub sha256: Option<String>,
    /// What it holds: the chat, the speech transcript, the summary or the rejects.
    pub part: Part,
}

/// One input converted and put in place.
#[derive(Debug, Clone)]
pub struct Converted {
    /// How the input is named in messages.
    pub display: String,
    /// The counts.
    pub summary: Summary,
    /// Every output written, in plan order; then the speech transcript's (JSONL, Parquet)
    /// and the summary; then the rejects file when it lists any record.
    pub outputs: Vec<Written>,
    /// The time the conversion took (media downloads, reading, ordering, writing).
    pub elapsed: Duration,
    /// The meeting's other parts read with the chat, when there were any (issue 18).
    pub speech: Option<SpeechCounts>,
    /// What the attachments came to, when `--media` asked for them.
    pub media: Option<MediaSummary>,
}

/// The summary line, terminal-safe: `chat.csv: 30 messages written, 2 rejected, 10 utterances,
/// a summary, 5 attachments saved (5 files, 587 bytes), 1 unavailable in 0.02 s`.
impl fmt::Display for Converted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        /// `1 file`, `2 files`.
        fn counted(count: u64, noun: &str) -> String {
            let plural = if count == 1 { "" } else { "s" };
            format!("{count} {noun}{plural}")
        }
        let summary = &self.summary;
        write!(
            f,
            "{}: {} messages written",
            escape_for_terminal(&self.display, 200),
            summary.messages
        )?;
        if summary.rejected > 0 {
            write!(f, ", {} rejected", summary.rejected)?;
        }
        if summary.duplicates > 0 {
            write!(f, ", {} duplicates dropped", summary.duplicates)?;
        }
        if let Some(speech) = &self.speech {
            if speech.transcript {
                write!(f, ", {}", counted(speech.utterances, "utterance"))?;
                if speech.rejected > 0 {
                    write!(f, " ({} rejected)", speech.rejected)?;
                }
            }
            if speech.summary {
                f.write_str(", a summary")?;
            }
        }
        if let Some(media) = &self.media {
            write!(
                f,
                ", {} saved ({}, {} bytes",
                counted(media.fetched as u64, "attachment"),
                counted(media.files as u64, "file"),
                media.bytes
            )?;
            if media.reused > 0 {
                write!(
                    f,
                    "; {} kept from the last run, {} fetched",
                    media.reused,
                    media.fetched - media.reused
                )?;
            }
            f.write_str(")")?;
            if media.unavailable > 0 {
                write!(f, ", {} unavailable", media.unavailable)?;
            }
        }
        write!(f, " in {:.2} s", self.elapsed.as_secs_f64())
    }
}

/// Converts every source with the same plan and options, then puts every output in place.
///
/// All inputs are converted before any output is put in place, so a failure on a later input
/// leaves the destination exactly as it was (a directory it had to create is removed again).
pub fn convert(
    sources: &[Source],
    plan: &Plan,
    options: &Options,
    events: &mut dyn Events,
) -> Result<Vec<Converted>, PipelineError> {
    plan.check(sources, options.on_error == OnError::Skip)?;
    if options.media.is_some() {
        media::check(plan)?;
    }
    let mut created = Vec::new();
    let mut dirs = Vec::new();
    if let Destination::Directory(dir) = &plan.destination {
        dirs.push(dir);
    }
    if let Some(dir) = &plan.parts_dir
        && plan.destination != Destination::Stdout
        && sources
            .iter()
            .any(|source| source.parts != MeetingParts::default())
    {
        dirs.push(dir);
    }
    for dir in dirs {
        match create_directory(dir) {
            Ok(made) => created.extend(made),
            Err(error) => {
                remove_all_created(&created);
                return Err(error);
            }
        }
    }
    let mut pending = Vec::with_capacity(sources.len());
    for source in sources {
        match convert_with_media(source, plan, options, events) {
            Ok(done) => pending.push(done),
            Err(error) => {
                // Dropped uncommitted, the outputs of the inputs that succeeded vanish.
                drop(pending);
                remove_all_created(&created);
                return Err(error);
            }
        }
    }
    pending.into_iter().map(Pending::commit).collect()
}

/// Fetches the attachments of `source` when asked, then converts it.
fn convert_with_media(
    source: &Source,
    plan: &Plan,
    options: &Options,
    events: &mut dyn Events,
) -> Result<Pending, PipelineError> {
    let started = Instant::now();
    let mut replay = Replay::default();
    let fetched = match &options.media {
        Some(settings) => Some(media::fetch(
            source,
            plan,
            options,
            settings,
            &mut replay,
            events,
        )?),
        None => None,
    };
    let attachments = fetched.as_ref().map(|fetched| &fetched.attachments);
    let mut pending = convert_one(source, plan, options, events, replay, attachments)?;
    pending.media = fetched;
    // The media downloads are part of the conversion's time.
    pending.elapsed = started.elapsed();
    Ok(pending)
}

/// Creates `dir` if missing; returns it and the outermost directory created (`a` for a missing
/// `a/b/c`), to remove them again on failure.
fn create_directory(dir: &Path) -> Result<Option<(PathBuf, PathBuf)>, PipelineError> {
    if dir.exists() {
        return Ok(None);
    }
    let outermost = dir
        .ancestors()
        .take_while(|ancestor| !ancestor.as_os_str().is_empty() && !ancestor.exists())
        .last()
        .map(Path::to_path_buf);
    fs::create_dir_all(dir).map_err(|error| {
        PipelineError::io(
            format!(
                "cannot create the output directory `{}`",
                escape_for_terminal(&dir.display().to_string(), 200)
            ),
            error,
        )
    })?;
    Ok(outermost.map(|outermost| (dir.to_owned(), outermost)))
}

/// Removes the directories [`create_directory`] made, latest first, if they are still empty.
fn remove_all_created(created: &[(PathBuf, PathBuf)]) {
    for (dir, outermost) in created.iter().rev() {
        remove_created(dir, outermost);
    }
}

/// Removes the directories [`create_directory`] made, if they are still empty.
fn remove_created(dir: &Path, outermost: &Path) {
    for created in dir.ancestors() {
        if fs::remove_dir(created).is_err() || created == outermost {
            break;
        }
    }
}

/// An output file being written, with its running hash.
pub(crate) struct OutputFile {
    /// What it holds.
    pub(crate) part: Part,
    /// Its format; `None` for the summary (a copy).
    pub(crate) format: Option<Format>,
    pub(crate) file: AtomicFile,
    pub(crate) hash: HashHandle,
}

impl OutputFile {
    /// Puts the file in place.
    fn commit(self) -> Result<Written, PipelineError> {
        let target = self.file.target().to_owned();
        self.file.commit().map_err(|error| {
            PipelineError::io(
                format!(
                    "cannot move the output into place at `{}`",
                    escape_for_terminal(&target.display().to_string(), 200)
                ),
                error,
            )
        })?;
        let (bytes, sha256) = self.hash.finish();
        Ok(Written {
            format: self.format,
            path: Some(target),
            bytes,
            sha256,
            part: self.part,
        })
    }
}

/// One input converted, its outputs written but not yet in place; dropped, they vanish.
struct Pending {
    files: Vec<OutputFile>,
    /// Written to standard output: already delivered.
    stdout: Option<(Format, HashHandle)>,
    datasets: Vec<Dataset>,
    rejects: Option<(AtomicFile, HashHandle)>,
    summary: Summary,
    display: String,
    elapsed: Duration,
    /// Whether the dataset files are hashed when committed.
    content_hashes: bool,
    /// The meeting's parts' outputs (issue 18).
    parts: Vec<OutputFile>,
    speech: Option<SpeechCounts>,
    /// The attachments, in their temporary directory.
    media: Option<FetchedMedia>,
}

impl Pending {
    /// Puts the outputs in place.
    fn commit(self) -> Result<Converted, PipelineError> {
        let mut outputs = Vec::new();
        if let Some((format, hash)) = self.stdout {
            let (bytes, sha256) = hash.finish();
            outputs.push(Written {
                format: Some(format),
                path: None,
                bytes,
                sha256,
                part: Part::Chat,
            });
        }
        for file in self.files {
            outputs.push(file.commit()?);
        }
        for dataset in self.datasets {
            let root = dataset.root().display().to_string();
            let moved = |error| {
                PipelineError::io(
                    format!(
                        "cannot move the Parquet dataset files into place under `{}`",
                        escape_for_terminal(&root, 200)
                    ),
                    error,
                )
            };
            for path in dataset.commit().map_err(moved)? {
                let (bytes, sha256) = if self.content_hashes {
                    let (bytes, sha256) = hash_file(&path).map_err(moved)?;
                    (bytes, Some(sha256))
                } else {
                    let bytes = fs::metadata(&path).map_err(moved)?.len();
                    (bytes, None)
                };
                outputs.push(Written {
                    format: Some(Format::Parquet),
                    path: Some(path),
                    bytes,
                    sha256,
                    part: Part::Chat,
                });
            }
        }
        for file in self.parts {
            outputs.push(file.commit()?);
        }
        if let Some((file, hash)) = self.rejects {
            let target = file.target().to_owned();
            file.commit().map_err(|error| {
                PipelineError::io("cannot move the rejects file into place", error)
            })?;
            let utterances_rejected = self.speech.map_or(0, |speech| speech.rejected);
            if self.summary.rejected + utterances_rejected > 0 {
                let (bytes, sha256) = hash.finish();
                outputs.push(Written {
                    format: None,
                    path: Some(target),
                    bytes,
                    sha256,
                    part: Part::Rejects,
                });
            }
        }
        let media = self.media.map(FetchedMedia::commit).transpose()?;
        Ok(Converted {
            display: self.display,
            summary: self.summary,
            outputs,
            elapsed: self.elapsed,
            speech: self.speech,
            media,
        })
    }
}

fn convert_one(
    source: &Source,
    plan: &Plan,
    options: &Options,
    events: &mut dyn Events,
    mut replay: Replay,
    attachments: Option<&Arc<Attachments>>,
) -> Result<Pending, PipelineError> {
    let started = Instant::now();
    // The meeting's other parts, read once before the chat: the Markdown and HTML transcripts
    // merge them with it.
    let parts = speech::read(&source.parts, options, events)?;
    // What reached standard output cannot be taken back if the window has to give up, so that
    // is sorted externally from the start.
    let mut strategy = if plan.destination == Destination::Stdout {
        Strategy::External
    } else {
        Strategy::Window
    };
    // What an abandoned window pass already reported; the external pass meets it again.
    let mut already = Reported::default();
    loop {
        let opened = replay.open(
            source,
            &options.temp_dir,
            strategy == Strategy::Window && source.input == Input::Stdin,
        )?;
        let reader = ChatReader::new(
            opened.reader,
            source.display.clone(),
            ReaderOptions {
                max_record_bytes: options.max_record_size,
                ..ReaderOptions::default()
            },
        )?;
        let mut pending = Pending {
            files: Vec::new(),
            stdout: None,
            datasets: Vec::new(),
            rejects: None,
            summary: Summary::default(),
            display: source.display.clone(),
            elapsed: Duration::ZERO,
            content_hashes: options.content_hashes,
            parts: Vec::new(),
            speech: parts.as_ref().map(speech::Parts::counts),
            media: None,
        };
        // Declared before the outputs that borrow it.
        let mut ids = ChatIds::default();
        let mut outputs = open_outputs(source, plan, options, &mut pending)?;
        if parts.is_some() {
            outputs.push(Output {
                name: "session check".to_owned(),
                exporter: Box::new(Probe(&mut ids)),
            });
        }
        let rejects = if options.on_error == OnError::Skip {
            let path = plan.rejects_path(source);
            let file = AtomicFile::create(&path).map_err(|error| {
                PipelineError::io(
                    format!(
                        "cannot create the rejects file `{}`",
                        escape_for_terminal(&path.display().to_string(), 200)
                    ),
                    error,
                )
            })?;
            let hash = HashHandle::new(options.content_hashes);
            let writer =
                BufWriter::new(hash.wrap(file.writer().map_err(|error| {
                    PipelineError::io("cannot create the rejects file", error)
                })?));
            pending.rejects = Some((file, hash));
            Some(writer)
        } else {
            None
        };
        events.started(source, opened.size);
        let mut observer = Relay {
            events: &mut *events,
            rejects,
            already,
            seen: Reported::default(),
        };
        let context = ExportContext {
            source: source.name.clone(),
            tool_version: options.tool_version.clone(),
            generated_at: options.generated_at,
            speech: parts.as_ref().map(|parts| Arc::clone(&parts.speech)),
            attachments: attachments.cloned(),
        };
        let run_options = RunOptions {
            on_error: options.on_error,
            order: OrderOptions {
                memory_budget: options.sort_memory,
                temp_dir: Some(options.temp_dir.clone()),
            },
            strategy: Some(strategy),
        };
        let outcome = export::run(reader, &context, &mut outputs, &mut observer, &run_options);
        drop(outputs);
        let Relay { rejects, seen, .. } = observer;
        events.finished();
        match outcome? {
            Outcome::NeedsExternalSort => {
                events.reading_again(source);
                strategy = Strategy::External;
                already = seen;
            }
            Outcome::Done(summary) => {
                if let Some(parts) = &parts {
                    pending.parts = speech::write(parts, &ids, source, plan, options, &context)?;
                }
                if let Some(mut writer) = rejects {
                    if let Some(parts) = &parts {
                        parts.write_rejects(&mut writer).map_err(|error| {
                            PipelineError::io("cannot write the rejects file", error)
                        })?;
                    }
                    writer.flush().map_err(|error| {
                        PipelineError::io("cannot write the rejects file", error)
                    })?;
                }
                pending.summary = summary;
                pending.elapsed = started.elapsed();
                return Ok(pending);
            }
        }
    }
}

/// Opens every planned output of `source`, recording the files in `pending`.
fn open_outputs<'a>(
    source: &Source,
    plan: &Plan,
    options: &Options,
    pending: &mut Pending,
) -> Result<Vec<Output<'a>>, PipelineError> {
    let mut outputs = Vec::with_capacity(plan.formats.len());
    let embedded;
    let formats = match &options.media {
        Some(media) if media.mode == MediaMode::Embed => {
            // Inlined copies only: no image is loaded from anywhere.
            let mut formats = options.formats.clone();
            formats.transcript.embed_images = true;
            formats.transcript.remote_images = false;
            embedded = formats;
            &embedded
        }
        _ => &options.formats,
    };
    for &format in &plan.formats {
        if format == Format::Parquet
            && let Some(root) = plan.dataset_root()
        {
            let dataset = Dataset::new(root.to_owned(), options.formats.parquet.clone());
            outputs.push(Output {
                name: format.name().to_owned(),
                exporter: Box::new(dataset.exporter()),
            });
            pending.datasets.push(dataset);
            continue;
        }
        let hash = HashHandle::new(options.content_hashes);
        let writer: Box<dyn Sink> = match plan.path(format, source) {
            None => {
                pending.stdout = Some((format, hash.clone()));
                Box::new(BufWriter::with_capacity(256 << 10, hash.wrap(io::stdout())))
            }
            Some(path) => {
                let file = AtomicFile::create(&path).map_err(|error| {
                    PipelineError::io(
                        format!(
                            "cannot create an output file beside `{}`",
                            escape_for_terminal(&path.display().to_string(), 200)
                        ),
                        error,
                    )
                })?;
                let streaming: StreamingFile = file
                    .writer()
                    .map_err(|error| PipelineError::io("cannot create an output file", error))?;
                let writer = BackgroundWriter::new(hash.wrap(streaming));
                pending.files.push(OutputFile {
                    part: Part::Chat,
                    format: Some(format),
                    file,
                    hash: hash.clone(),
                });
                Box::new(writer)
            }
        };
        outputs.push(Output {
            name: format.name().to_owned(),
            exporter: exporter(format, writer, formats),
        });
    }
    Ok(outputs)
}

/// Turns the core's run events into the caller's [`Events`] and the rejects file, telling
/// nothing twice across passes.
struct Relay<'e> {
    events: &'e mut dyn Events,
    rejects: Option<BufWriter<crate::hash::Hashing<StreamingFile>>>,
    /// What an abandoned earlier pass over the same input told: not told again. That pass met
    /// the same reader errors first (input order) and released a prefix of the same ordered
    /// messages (duplicates and conflicts), so counting each kind is enough.
    already: Reported,
    seen: Reported,
}

/// How many rejects and warnings a pass told, by where they come from.
#[derive(Debug, Default, Clone, Copy)]
struct Reported {
    /// Records the reader rejected, in input order.
    read: u64,
    /// Duplicate warnings and conflicting duplicates, in output order.
    released: u64,
}

impl Relay<'_> {
    /// Counts one report; whether it is new (not told by an earlier pass).
    fn is_new(&mut self, released: bool) -> bool {
        let (seen, already) = if released {
            (&mut self.seen.released, self.already.released)
        } else {
            (&mut self.seen.read, self.already.read)
        };
        *seen += 1;
        *seen > already
    }
}

impl Observer for Relay<'_> {
    fn rejected(&mut self, error: &RecordError) -> Result<(), ExportError> {
        if let Some(writer) = &mut self.rejects {
            serde_json::to_writer(&mut *writer, &error.to_reject()).map_err(io::Error::from)?;
            writer.write_all(b"\n")?;
        }
        let released = matches!(error.kind, RecordErrorKind::ConflictingDuplicate { .. });
        if self.is_new(released) {
            self.events.rejected(error);
        }
        Ok(())
    }

    fn warning(&mut self, warning: &Warning) {
        if self.is_new(true) {
            self.events.warning(warning);
        }
    }

    fn progress(&mut self, bytes_read: u64) {
        self.events.progress(bytes_read);
    }
}
