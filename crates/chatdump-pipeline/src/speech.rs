//! A meeting's other parts in a conversion (issue 18): the speech transcript and the summary.
//!
//! They are read before the chat ([`read`]): the Markdown and HTML transcripts merge them with
//! the chat ([`ExportContext::speech`]). The chat's pass records its session and meeting ids
//! ([`Probe`]); after it, the utterances are checked against that session and written to
//! outputs of their own ([`write`]): `<stem>.transcript.jsonl` when JSONL is planned,
//! `<stem>.transcript.parquet` when Parquet is, and `<stem>.summary.md` (or `.txt`) with a
//! summary. Every one is an [`AtomicFile`] committed with the chat's outputs.

use std::fs::File;
use std::io::{self, BufWriter, Read, Write as _};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use chatdump_core::escape::{EXCERPT_CHARS, escape_for_terminal};
use chatdump_core::export::{ExportContext, ExportError, Exporter, OnError};
use chatdump_core::model::Message;
use chatdump_core::output::{AtomicFile, StreamingFile};
use chatdump_core::speech::{
    DEFAULT_MAX_SUMMARY_BYTES, Speech, SpeechError, SpeechOptions, SummaryFormat, TranscriptReader,
    UtteranceError, check_session, read_summary,
};

use crate::convert::{Events, Options, OutputFile};
use crate::error::PipelineError;
use crate::format::Format;
use crate::hash::HashHandle;
use crate::input::{MeetingParts, Source};
use crate::plan::Plan;

/// The default cap on a speech transcript's size: 256 MiB (a ten-hour meeting's is a few MB).
pub const DEFAULT_MAX_TRANSCRIPT_BYTES: u64 = 256 << 20;

/// What a written file holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Part {
    /// The chat, in one of the planned formats.
    Chat,
    /// The speech transcript's utterances (`<stem>.transcript.jsonl`, `.transcript.parquet`).
    Transcript,
    /// The summary (`<stem>.summary.md` or `.txt`).
    Summary,
    /// The rejects file (skip mode): bad chat records and bad utterances.
    Rejects,
}

/// What a conversion read of a meeting's other parts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SpeechCounts {
    /// Whether a speech transcript was read.
    pub transcript: bool,
    /// Utterances read (and written, when JSONL or Parquet is planned).
    pub utterances: u64,
    /// Utterances skipped (skip mode), listed in the rejects file.
    pub rejected: u64,
    /// Whether a summary was read.
    pub summary: bool,
}

/// A meeting's parts, read.
pub(crate) struct Parts {
    /// The utterances in time order and the summary.
    pub(crate) speech: Arc<Speech>,
    /// The transcript's file name (no directory), for the rejects file.
    transcript_name: Option<String>,
    /// The bad utterances skipped, in file order.
    rejects: Vec<UtteranceError>,
}

impl Parts {
    /// The counts for [`crate::Converted::speech`].
    pub(crate) fn counts(&self) -> SpeechCounts {
        SpeechCounts {
            transcript: self.transcript_name.is_some(),
            utterances: self.speech.utterances.len() as u64,
            rejected: self.rejects.len() as u64,
            summary: self.speech.summary.is_some(),
        }
    }

    /// Writes the skipped utterances to the rejects file, after the chat's records: the same
    /// fields, the reason starting with `speech transcript `NAME`:`.
    pub(crate) fn write_rejects(&self, out: &mut dyn io::Write) -> io::Result<()> {
        let name = self.transcript_name.as_deref().unwrap_or_default();
        for error in &self.rejects {
            let mut reject = error.to_reject();
            reject.reason = format!(
                "speech transcript `{}`: {}",
                escape_for_terminal(name, 200),
                reject.reason
            );
            serde_json::to_writer(&mut *out, &reject).map_err(io::Error::from)?;
            out.write_all(b"\n")?;
        }
        Ok(())
    }
}

/// Reads the transcript and the summary of `parts`; `None` when there are none.
pub(crate) fn read(
    parts: &MeetingParts,
    options: &Options,
    events: &mut dyn Events,
) -> Result<Option<Parts>, PipelineError> {
    if parts.transcript.is_none() && parts.summary.is_none() {
        return Ok(None);
    }
    let mut speech = Speech::default();
    let mut rejects = Vec::new();
    let mut transcript_name = None;
    if let Some(path) = &parts.transcript {
        transcript_name = Some(file_name(path));
        read_transcript(path, parts, options, events, &mut speech, &mut rejects)?;
    }
    if let Some(path) = &parts.summary {
        let display = path.display().to_string();
        let file = open(path, "the summary")?;
        let format = path
            .extension()
            .and_then(|extension| extension.to_str())
            .and_then(|extension| match extension.to_ascii_lowercase().as_str() {
                "md" | "markdown" => Some(SummaryFormat::Markdown),
                "txt" => Some(SummaryFormat::Plain),
                _ => None,
            });
        speech.summary = Some(read_summary(
            file,
            &display,
            format,
            DEFAULT_MAX_SUMMARY_BYTES,
        )?);
    }
    Ok(Some(Parts {
        speech: Arc::new(speech),
        transcript_name,
        rejects,
    }))
}

fn read_transcript(
    path: &Path,
    parts: &MeetingParts,
    options: &Options,
    events: &mut dyn Events,
    speech: &mut Speech,
    rejects: &mut Vec<UtteranceError>,
) -> Result<(), PipelineError> {
    let display = path.display().to_string();
    let file = open(path, "the speech transcript")?;
    let too_large = || {
        PipelineError::Parts(format!(
            "`{}` is larger than {} MiB: too large for a speech transcript (a ten-hour meeting's is a few MB)",
            escape_for_terminal(&display, 200),
            options.max_transcript_size >> 20
        ))
    };
    if file
        .metadata()
        .is_ok_and(|metadata| metadata.len() > options.max_transcript_size)
    {
        return Err(too_large());
    }
    // Also enforced while reading, for inputs whose size is not known in advance (a pipe).
    let exceeded = Arc::new(AtomicBool::new(false));
    let capped = Capped {
        inner: file,
        left: options.max_transcript_size,
        exceeded: Arc::clone(&exceeded),
    };
    let speech_options = SpeechOptions {
        session_start: parts.session_start,
        // The chat's session is known only once it is read: checked after its pass.
        chat_session_id: None,
        max_record_bytes: options.max_record_size,
    };
    let stop = |error: SpeechError| {
        if exceeded.load(Ordering::Relaxed) {
            too_large()
        } else {
            speech_error(error)
        }
    };
    let reader = TranscriptReader::new(capped, display.clone(), speech_options).map_err(stop)?;
    for utterance in reader {
        match utterance {
            Ok(utterance) => speech.utterances.push(utterance),
            Err(SpeechError::Record(error))
                if options.on_error == OnError::Skip && error.kind.is_recoverable() =>
            {
                events.rejected_utterance(&error);
                rejects.push(*error);
            }
            Err(error) => return Err(stop(error)),
        }
    }
    speech
        .utterances
        .sort_by_key(|utterance| (utterance.start, utterance.index));
    Ok(())
}

/// A speech error as the pipeline reports it: a missing session start names `--session-start`
/// (a usage error: the caller has to give it; it is never guessed).
fn speech_error(error: SpeechError) -> PipelineError {
    match error {
        SpeechError::SessionStartNeeded { .. } => PipelineError::Usage(format!(
            "{error}: give the session's start with `--session-start` (RFC 3339, the session's \
             `started_at`, e.g. `2024-05-14T09:00:00Z`)"
        )),
        error => PipelineError::Speech(error),
    }
}

fn open(path: &Path, what: &str) -> Result<File, PipelineError> {
    File::open(path).map_err(|error| {
        PipelineError::io(
            format!(
                "cannot open {what} `{}`",
                escape_for_terminal(&path.display().to_string(), 200)
            ),
            error,
        )
    })
}

/// The file name only (outputs never name a directory).
fn file_name(path: &Path) -> String {
    path.file_name().map_or_else(
        || path.display().to_string(),
        |name| name.to_string_lossy().into_owned(),
    )
}

/// Reads at most `left` bytes; past them, fails and sets `exceeded`.
struct Capped<R> {
    inner: R,
    left: u64,
    exceeded: Arc<AtomicBool>,
}

impl<R: Read> Read for Capped<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        // One byte more than allowed tells a file of exactly the cap from a larger one.
        let allowed = usize::try_from(self.left.saturating_add(1))
            .unwrap_or(usize::MAX)
            .min(buf.len());
        let read = self.inner.read(&mut buf[..allowed])?;
        if read as u64 > self.left {
            self.exceeded.store(true, Ordering::Relaxed);
            return Err(io::Error::other("the transcript is too large"));
        }
        self.left -= read as u64;
        Ok(read)
    }
}

/// The chat's session and meeting, as its pass met them.
#[derive(Debug, Default)]
pub(crate) struct ChatIds {
    session_id: Option<String>,
    meeting_id: Option<String>,
    /// A second session met in the same dump, if any.
    other_session: Option<String>,
}

/// An exporter that writes nothing: it records the chat's ids ([`ChatIds`]).
pub(crate) struct Probe<'a>(pub(crate) &'a mut ChatIds);

impl Exporter for Probe<'_> {
    fn begin(&mut self, _context: &ExportContext) -> Result<(), ExportError> {
        Ok(())
    }

    fn message(&mut self, message: &Message) -> Result<(), ExportError> {
        let ids = &mut *self.0;
        match &ids.session_id {
            None => {
                ids.session_id = Some(message.session_id.clone());
                ids.meeting_id = Some(message.meeting_id.clone());
            }
            Some(session) if ids.other_session.is_none() && *session != message.session_id => {
                ids.other_session = Some(message.session_id.clone());
            }
            Some(_) => {}
        }
        Ok(())
    }

    fn finish(&mut self) -> Result<(), ExportError> {
        Ok(())
    }
}

/// Checks the utterances against the chat's session, then writes the parts' outputs (not yet
/// in place). Nothing is written for standard output: there the parts are merged into the one
/// Markdown or HTML document ([`Plan`] checks that).
pub(crate) fn write(
    parts: &Parts,
    ids: &ChatIds,
    source: &Source,
    plan: &Plan,
    options: &Options,
    context: &ExportContext,
) -> Result<Vec<OutputFile>, PipelineError> {
    let utterances = &parts.speech.utterances;
    if let (Some(first), Some(other), Some(utterance)) =
        (&ids.session_id, &ids.other_session, utterances.first())
    {
        return Err(PipelineError::Parts(format!(
            "`{}` holds the chat of several sessions (`{}`, `{}`, ...), but a speech transcript belongs to one session (line {} of `{}`): convert each session's chat with its own transcript",
            escape_for_terminal(&source.display, 200),
            escape_for_terminal(first, EXCERPT_CHARS),
            escape_for_terminal(other, EXCERPT_CHARS),
            utterance.position.line,
            escape_for_terminal(parts.transcript_name.as_deref().unwrap_or_default(), 200),
        )));
    }
    if let Some(session) = &ids.session_id
        && let Some(transcript) = &source.parts.transcript
    {
        let display = transcript.display().to_string();
        for utterance in utterances {
            check_session(utterance, &display, session).map_err(PipelineError::Speech)?;
        }
    }
    let mut files = Vec::new();
    if source.parts.transcript.is_some() {
        for format in [Format::Jsonl, Format::Parquet] {
            if !plan.formats.contains(&format) {
                continue;
            }
            let Some(path) = part_path(plan, source, &format!("transcript.{}", format.extension()))
            else {
                continue;
            };
            let (file, hash, out) = create(&path, options.content_hashes)?;
            let written = match format {
                Format::Jsonl => {
                    let mut writer = chatdump_jsonl::UtteranceWriter::new(out)
                        .with_session_id(ids.session_id.clone())
                        .with_meeting_id(ids.meeting_id.clone());
                    utterances
                        .iter()
                        .try_for_each(|utterance| writer.utterance(utterance))
                        .and_then(|()| writer.finish().map(drop))
                }
                _ => chatdump_parquet::UtteranceParquetWriter::new(
                    out,
                    &options.formats.parquet,
                    context,
                )
                .and_then(|writer| {
                    let mut writer = writer
                        .with_session_id(ids.session_id.clone())
                        .with_meeting_id(ids.meeting_id.clone());
                    utterances
                        .iter()
                        .try_for_each(|utterance| writer.utterance(utterance))
                        .and_then(|()| writer.finish().map(drop))
                }),
            };
            written.map_err(|error| write_error(&path, error))?;
            files.push(OutputFile {
                part: Part::Transcript,
                format: Some(format),
                file,
                hash,
            });
        }
    }
    if let Some(summary) = &parts.speech.summary
        && let Some(path) = part_path(
            plan,
            source,
            &format!("summary.{}", summary.format.extension()),
        )
    {
        let (file, hash, mut out) = create(&path, options.content_hashes)?;
        out.write_all(summary.text.as_bytes())
            .and_then(|()| out.flush())
            .map_err(|error| write_error(&path, ExportError::Io(error)))?;
        files.push(OutputFile {
            part: Part::Summary,
            format: None,
            file,
            hash,
        });
    }
    Ok(files)
}

type PartWriter = BufWriter<crate::hash::Hashing<StreamingFile>>;

fn create(
    path: &Path,
    content_hashes: bool,
) -> Result<(AtomicFile, HashHandle, PartWriter), PipelineError> {
    let shown = || escape_for_terminal(&path.display().to_string(), 200);
    let file = AtomicFile::create(path).map_err(|error| {
        PipelineError::io(
            format!("cannot create an output file beside `{}`", shown()),
            error,
        )
    })?;
    let hash = HashHandle::new(content_hashes);
    let out = file
        .writer()
        .map_err(|error| PipelineError::io(format!("cannot create `{}`", shown()), error))?;
    Ok((file, hash.clone(), BufWriter::new(hash.wrap(out))))
}

fn write_error(path: &Path, error: ExportError) -> PipelineError {
    let what = format!(
        "cannot write `{}`",
        escape_for_terminal(&path.display().to_string(), 200)
    );
    match error {
        ExportError::Io(error) => PipelineError::io(what, error),
        ExportError::Format(error) => PipelineError::io(what, io::Error::other(error)),
    }
}

/// The path of a part's output: `<stem>.<suffix>` beside the chat's outputs; `None` for
/// standard output.
pub(crate) fn part_path(plan: &Plan, source: &Source, suffix: &str) -> Option<PathBuf> {
    let name = format!("{}.{suffix}", source.stem);
    if let Some(dir) = &plan.parts_dir
        && plan.destination != crate::plan::Destination::Stdout
    {
        return Some(dir.join(name));
    }
    match &plan.destination {
        crate::plan::Destination::Stdout => None,
        crate::plan::Destination::Directory(dir) => Some(dir.join(name)),
        crate::plan::Destination::File(path) => Some(
            path.parent()
                .filter(|parent| !parent.as_os_str().is_empty())
                .map_or_else(|| PathBuf::from(&name), |parent| parent.join(&name)),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capped_reads_up_to_the_cap_and_fails_past_it() {
        let exceeded = Arc::new(AtomicBool::new(false));
        let mut capped = Capped {
            inner: &b"12345"[..],
            left: 5,
            exceeded: Arc::clone(&exceeded),
        };
        let mut all = Vec::new();
        capped.read_to_end(&mut all).unwrap();
        assert_eq!(all, b"12345");
        assert!(!exceeded.load(Ordering::Relaxed));
        let mut capped = Capped {
            inner: &b"123456"[..],
            left: 5,
            exceeded: Arc::clone(&exceeded),
        };
        assert!(capped.read_to_end(&mut Vec::new()).is_err());
        assert!(exceeded.load(Ordering::Relaxed));
    }
}
