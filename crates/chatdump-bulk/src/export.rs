//! `export --all`: list every session, export each one's chat into the dataset, keep the
//! manifest, and report.
//!
//! One task drives everything: a listing task feeds sessions through a small bounded channel,
//! and at most `concurrency` sessions are in flight at once (download, convert on a blocking
//! thread, upload). Each session's CSV and Parquet go to a temporary directory of their own,
//! removed when the session is done, so disk and memory hold at most `concurrency` sessions.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use chatdump_api::sessions::{Participant, Session, SessionQuery};
use chatdump_api::{FetchError, FetchEvent, FetchObserver, FetchedParts, Fetcher, PartsRequest};
use chatdump_core::error::error_chain;
use chatdump_core::escape::escape_for_terminal;
use chatdump_parquet::{ParquetOptions, ParticipantIds, Participants};
use chatdump_pipeline::{
    Conversion, Format, MediaLayout, MediaSettings, MeetingParts, NoEvents, Part, StoredFile,
};
use futures_util::StreamExt as _;
use futures_util::stream::FuturesUnordered;
use jiff::Timestamp;
use serde::Serialize;

use crate::BulkError;
use crate::listing::{FetchPage, Lister, RateLimiter};
use crate::manifest::{Manifest, OutputFile, PartRecord, PartStatus, SessionRecord, Status};
use crate::store::Store;

/// Sessions per listing page asked for.
pub const DEFAULT_PER_PAGE: u32 = 100;

/// How a bulk export runs.
#[derive(Debug, Clone)]
pub struct ExportOptions {
    /// Which sessions.
    pub query: SessionQuery,
    /// Sessions in flight at once (at least 1).
    pub concurrency: usize,
    /// API calls started per minute, at most (0: no limit). `None`: the provider's default
    /// ([`Provider::default_requests_per_minute`](chatdump_api::Provider::default_requests_per_minute)).
    pub requests_per_minute: Option<u32>,
    /// Items per listing page.
    pub per_page: u32,
    /// Join each session's participants (`user_id`, `custom_participant_id`).
    pub with_participants: bool,
    /// Try sessions skipped earlier (no chat) again.
    pub retry_skipped: bool,
    /// Parquet settings.
    pub parquet: ParquetOptions,
    /// Where each session's temporary files go.
    pub temp_dir: PathBuf,
    /// The time recorded in the manifest (the library reads no clock).
    pub now: Timestamp,
    /// The tool version recorded in each file.
    pub tool_version: String,
    /// The manifest is written after this many sessions change, and at the end.
    pub checkpoint_every: usize,
    /// Save each session's attachments (`--media`): stored once each under `_media/<sha256>`
    /// in the store and listed in the session's manifest line; `None` fetches nothing.
    pub media: Option<MediaSettings>,
    /// The meeting parts fetched and converted with each chat (`--with`; issue 18).
    pub parts: PartsRequest,
}

impl ExportOptions {
    /// Defaults: 4 sessions at once, the provider's default rate limit, pages of 100, a
    /// checkpoint every 50 sessions.
    #[must_use]
    pub fn new(now: Timestamp, temp_dir: PathBuf) -> Self {
        Self {
            query: SessionQuery::default(),
            concurrency: 4,
            requests_per_minute: None,
            per_page: DEFAULT_PER_PAGE,
            with_participants: false,
            retry_skipped: false,
            parquet: ParquetOptions::default(),
            temp_dir,
            now,
            tool_version: String::new(),
            checkpoint_every: 50,
            media: None,
            parts: PartsRequest::default(),
        }
    }
}

/// A session that was skipped or failed, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    /// The session id.
    pub session_id: String,
    /// Why.
    pub reason: String,
}

/// What a bulk export did. Serialised as the `--report-json` file.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Report {
    /// Sessions the listing returned.
    pub sessions_found: u64,
    /// Sessions exported by this run.
    pub exported: u64,
    /// Sessions already exported by an earlier run, left alone.
    pub already_exported: u64,
    /// Sessions without chat (this run's and earlier runs'), with why.
    pub skipped: Vec<Problem>,
    /// Sessions that failed in this run, with why.
    pub failed: Vec<Problem>,
    /// Messages written by this run.
    pub messages_written: u64,
    /// Bytes uploaded by this run (Parquet files; the manifest not counted).
    pub bytes_written: u64,
    /// Why the listing stopped early, if it did (the sessions listed before were processed).
    pub listing_error: Option<String>,
    /// Meeting parts asked for (`--with`) that sessions exported by this run did not have
    /// (HTTP 404), with why: those sessions' chat was exported without them.
    pub parts_not_available: Vec<Problem>,
}

impl Report {
    /// Whether every session found ended exported or skipped, and the listing completed.
    #[must_use]
    pub fn all_succeeded(&self) -> bool {
        self.failed.is_empty() && self.listing_error.is_none()
    }
}

/// What happened to one session, for progress reporting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    /// Exported now.
    Exported,
    /// Exported by an earlier run (or skipped by one): nothing to do.
    AlreadyDone,
    /// No chat.
    Skipped,
    /// Failed.
    Failed,
}

impl Event {
    /// The line reporting `session_id`'s outcome (`session `ID` failed: REASON`), every value
    /// escaped for a terminal; `None` when there is nothing to say (a session an earlier run
    /// finished, a skip or a failure without a reason).
    #[must_use]
    pub fn line(self, session_id: &str, reason: Option<&str>) -> Option<String> {
        let id = escape_for_terminal(session_id, 80);
        let reason = reason.map(|reason| escape_for_terminal(reason, 400));
        match (self, reason) {
            (Self::Failed, Some(reason)) => Some(format!("session `{id}` failed: {reason}")),
            (Self::Skipped, Some(reason)) => Some(format!("session `{id}` skipped: {reason}")),
            (Self::Exported, _) => Some(format!("session `{id}` exported")),
            _ => None,
        }
    }
}

/// Receives progress. Called from the task driving the export.
pub trait BulkObserver {
    /// The listing found `found` sessions so far; `total` is the server's count, if known.
    fn listed(&mut self, found: u64, total: Option<u64>) {
        let _ = (found, total);
    }
    /// A session is done.
    fn session(&mut self, session_id: &str, event: Event, reason: Option<&str>) {
        let _ = (session_id, event, reason);
    }
}

/// An observer that ignores everything.
#[derive(Debug, Default)]
pub struct Quiet;

impl BulkObserver for Quiet {}

/// A session's outcome inside the run.
enum Done {
    Record {
        record: SessionRecord,
        bytes: u64,
    },
    /// The credentials were refused: stop the run.
    Fatal(FetchError),
}

struct Context {
    fetcher: Arc<Fetcher>,
    store: Store,
    limiter: Arc<RateLimiter>,
    options: ExportOptions,
}

/// Exports every session `options.query` lists into `store`, skipping what the manifest says
/// is done, and returns the report. The manifest is saved at checkpoints and at the end, also
/// when the run stops on an error.
pub async fn export_all(
    fetcher: Arc<Fetcher>,
    store: Store,
    options: ExportOptions,
    observer: &mut dyn BulkObserver,
) -> Result<Report, BulkError> {
    crate::compact::recover(&store).await?;
    let mut manifest = Manifest::load(&store).await?;
    let per_minute = options
        .requests_per_minute
        .unwrap_or_else(|| fetcher.api().provider().default_requests_per_minute());
    let limiter = Arc::new(RateLimiter::per_minute(per_minute));
    let context = Context {
        fetcher: Arc::clone(&fetcher),
        store: store.clone(),
        limiter: Arc::clone(&limiter),
        options: options.clone(),
    };
    let (sender, mut receiver) = tokio::sync::mpsc::channel::<ListItem>(1);
    let listing = tokio::spawn(list_sessions(
        Arc::clone(&fetcher),
        limiter,
        options.query.clone(),
        options.per_page,
        sender,
    ));
    let mut report = Report::default();
    let mut in_flight = FuturesUnordered::new();
    let mut listing_open = true;
    let mut changed = 0usize;
    let mut fatal: Option<FetchError> = None;
    // A listing that fails before its first session: nothing could be done.
    let mut listing_failed: Option<BulkError> = None;
    let concurrency = options.concurrency.max(1);
    // Sessions seen in this run: a listing that shifts may return one twice.
    let mut seen = HashSet::new();
    loop {
        let want_more = listing_open && fatal.is_none() && in_flight.len() < concurrency;
        if !want_more && in_flight.is_empty() {
            break;
        }
        tokio::select! {
            item = receiver.recv(), if want_more => match item {
                None => listing_open = false,
                Some(ListItem::Error(BulkError::Listing(error))) if error.is_credentials() => {
                    fatal.get_or_insert(error);
                }
                Some(ListItem::Error(error)) if report.sessions_found == 0 => {
                    listing_failed = Some(error);
                }
                Some(ListItem::Error(error)) => report.listing_error = Some(error_chain(&error)),
                Some(ListItem::Session(session, total)) => {
                    if !seen.insert(session.id.clone()) {
                        continue;
                    }
                    report.sessions_found += 1;
                    observer.listed(report.sessions_found, total);
                    let previous = manifest.get(&session.id).cloned();
                    // Exported again: a session recorded while live (it has more chat now that
                    // it has ended), or exported without the participants now asked for. Not
                    // when its rows were compacted with others': replacing them there would
                    // mean rewriting that file (compaction leaves live sessions alone for this).
                    let redo = previous.as_ref().is_some_and(|record| {
                        let was_live = record.session_status.as_deref() == Some("LIVE")
                            && session.status.as_deref() != Some("LIVE");
                        let unenriched = options.with_participants
                            && !record.participants
                            && record.status == Status::Exported;
                        // A part now asked for that the record does not mention (or, with
                        // `--retry-skipped`, one the platform had not got).
                        let parts_wanted = options.parts.names().iter().any(|part| {
                            !record.parts.iter().any(|done| {
                                done.part == *part
                                    && (done.status == PartStatus::Available
                                        || !options.retry_skipped)
                            })
                        }) && record.status == Status::Exported;
                        (was_live || unenriched || parts_wanted)
                            && !record
                                .outputs
                                .iter()
                                .any(|output| crate::compact::is_compacted(&output.path))
                    });
                    match previous.as_ref().map(|record| record.status).filter(|_| !redo) {
                        Some(Status::Exported) => {
                            report.already_exported += 1;
                            observer.session(&session.id, Event::AlreadyDone, None);
                        }
                        Some(Status::Skipped) if !options.retry_skipped => {
                            let reason = previous.and_then(|record| record.reason).unwrap_or_default();
                            observer.session(&session.id, Event::AlreadyDone, Some(&reason));
                            report.skipped.push(Problem { session_id: session.id, reason });
                        }
                        _ => in_flight.push(export_session(&context, session, previous)),
                    }
                }
            },
            Some(done) = in_flight.next(), if !in_flight.is_empty() => match done {
                Done::Fatal(error) => {
                    fatal.get_or_insert(error);
                }
                Done::Record { record, bytes } => {
                    let reason = record.reason.clone();
                    let event = match record.status {
                        Status::Exported => {
                            report.exported += 1;
                            for part in &record.parts {
                                if let (PartStatus::NotAvailable, Some(reason)) =
                                    (part.status, &part.reason)
                                {
                                    report.parts_not_available.push(Problem {
                                        session_id: record.session_id.clone(),
                                        reason: reason.clone(),
                                    });
                                }
                            }
                            report.messages_written += record.messages;
                            report.bytes_written += bytes;
                            Event::Exported
                        }
                        Status::Skipped => {
                            report.skipped.push(Problem {
                                session_id: record.session_id.clone(),
                                reason: reason.clone().unwrap_or_default(),
                            });
                            Event::Skipped
                        }
                        Status::Failed => {
                            report.failed.push(Problem {
                                session_id: record.session_id.clone(),
                                reason: reason.clone().unwrap_or_default(),
                            });
                            Event::Failed
                        }
                    };
                    observer.session(&record.session_id, event, reason.as_deref());
                    manifest.insert(record);
                    changed += 1;
                    if changed.is_multiple_of(options.checkpoint_every.max(1)) {
                        manifest.save(&store).await?;
                    }
                }
            },
        }
    }
    listing.abort();
    if changed > 0 {
        manifest.save(&store).await?;
    }
    if let Some(error) = fatal {
        return Err(BulkError::Credentials(error));
    }
    if let Some(error) = listing_failed {
        return Err(error);
    }
    Ok(report)
}

enum ListItem {
    Session(Session, Option<u64>),
    Error(BulkError),
}

async fn list_sessions(
    fetcher: Arc<Fetcher>,
    limiter: Arc<RateLimiter>,
    query: SessionQuery,
    per_page: u32,
    sender: tokio::sync::mpsc::Sender<ListItem>,
) {
    let fetch: FetchPage<Session> = Box::new(move |page_no, per_page| {
        let fetcher = Arc::clone(&fetcher);
        let query = query.clone();
        Box::pin(async move { fetcher.sessions_page(&query, page_no, per_page).await })
    });
    let mut lister = Lister::new(fetch, |session| session.id.as_str(), limiter, per_page);
    loop {
        match lister.next().await {
            Ok(None) => return,
            Ok(Some(sessions)) => {
                for session in sessions {
                    if sender
                        .send(ListItem::Session(session, lister.total))
                        .await
                        .is_err()
                    {
                        return;
                    }
                }
            }
            Err(error) => {
                let _ = sender.send(ListItem::Error(error)).await;
                return;
            }
        }
    }
}

/// Downloads, converts and uploads one session.
async fn export_session(
    context: &Context,
    session: Session,
    previous: Option<SessionRecord>,
) -> Done {
    let options = &context.options;
    let attempts = previous.as_ref().map_or(0, |record| record.attempts) + 1;
    let record = |status: Status, reason: Option<String>| SessionRecord {
        session_id: session.id.clone(),
        meeting_id: session.meeting_id.clone(),
        session_status: session.status.clone(),
        status,
        reason,
        messages: 0,
        // Until replaced, the files an earlier export wrote still hold the session's rows.
        outputs: previous
            .as_ref()
            .map(|record| record.outputs.clone())
            .unwrap_or_default(),
        participants: options.with_participants,
        attempts,
        at: options.now.to_string(),
        media: Vec::new(),
        parts: previous
            .as_ref()
            .map(|record| record.parts.clone())
            .unwrap_or_default(),
    };
    let failed = |reason: String| Done::Record {
        record: record(Status::Failed, Some(reason)),
        bytes: 0,
    };
    let scratch = match tempfile::Builder::new()
        .prefix(".chatdump-bulk-")
        .tempdir_in(&options.temp_dir)
    {
        Ok(scratch) => scratch,
        Err(error) => return failed(format!("cannot create a temporary directory: {error}")),
    };
    let csv = scratch.path().join("dump.csv");
    context.limiter.acquire().await;
    match context
        .fetcher
        .fetch_to(&session.id, &csv, &mut PauseOnRateLimit(&context.limiter))
        .await
    {
        Ok(_) => {}
        Err(error) if error.is_credentials() => return Done::Fatal(error),
        Err(error @ FetchError::NotFound { .. }) => {
            return Done::Record {
                record: record(Status::Skipped, Some(error_chain(&error))),
                bytes: 0,
            };
        }
        Err(error) => return failed(error_chain(&error)),
    }
    let fetched_parts = if options.parts.any() {
        // One slot of the rate limit per API call: the parts' links and the session's start.
        for _ in 0..=options.parts.names().len() {
            context.limiter.acquire().await;
        }
        match context
            .fetcher
            .fetch_parts(
                &session.id,
                &options.parts,
                scratch.path(),
                "dump",
                None,
                &mut PauseOnRateLimit(&context.limiter),
            )
            .await
        {
            Ok(parts) => parts,
            Err(error) if error.is_credentials() => return Done::Fatal(error),
            Err(error) => return failed(error_chain(&error)),
        }
    } else {
        FetchedParts::default()
    };
    let participants = if options.with_participants {
        match participants(context, &session.id).await {
            Ok(participants) => Some(participants),
            Err(error) if error.is_credentials() => return Done::Fatal(error),
            Err(error) => return failed(format!("participants: {}", error_chain(&error))),
        }
    } else {
        None
    };
    let out_root = scratch.path().join("dataset");
    let converted = {
        let csv = csv.clone();
        let out_root = out_root.clone();
        let parquet = options.parquet.clone();
        let session_id = session.id.clone();
        let parts_root = scratch.path().join("parts");
        let parts = fetched_parts.parts.clone();
        let mut pipeline = chatdump_pipeline::Options::new(
            scratch.path().to_owned(),
            options.tool_version.clone(),
        );
        pipeline.formats.parquet = parquet;
        pipeline.media = options.media.clone().map(|mut media| {
            media.layout = MediaLayout::ByContent;
            media
        });
        tokio::task::spawn_blocking(move || {
            convert(
                &csv,
                &session_id,
                [&out_root, &parts_root],
                pipeline,
                participants.as_ref(),
                parts,
            )
        })
        .await
    };
    let (messages, files, media) = match converted {
        Ok(Ok(converted)) => converted,
        Ok(Err(reason)) => return failed(reason),
        Err(error) => return failed(format!("the conversion stopped: {error}")),
    };
    let mut outputs = Vec::with_capacity(files.len());
    let mut bytes = 0;
    for (local, path) in files {
        match context.store.upload_file(&local, &path).await {
            Ok(uploaded) => {
                bytes += uploaded.bytes;
                outputs.push(OutputFile {
                    path,
                    bytes: uploaded.bytes,
                    sha256: uploaded.sha256,
                });
            }
            Err(error) => return failed(error_chain(&error)),
        }
    }
    // Attachments: one object per content, shared by every session; one already in the store
    // is not uploaded again.
    let mut stored_media = Vec::with_capacity(media.len());
    for file in media {
        match context.store.exists(&file.path).await {
            Ok(true) => {}
            Ok(false) => {
                if let Err(error) = context
                    .store
                    .upload_file(&out_root.join(&file.path), &file.path)
                    .await
                {
                    return failed(error_chain(&error));
                }
                bytes += file.bytes;
            }
            Err(error) => return failed(error_chain(&error)),
        }
        stored_media.push(OutputFile {
            path: file.path,
            bytes: file.bytes,
            sha256: file.sha256,
        });
    }
    // Files an earlier attempt wrote that this one did not (another date): remove them, so the
    // session's rows are in the dataset once.
    if let Some(previous) = &previous {
        for old in &previous.outputs {
            // A compacted file holds other sessions too: never deleted here (a session whose
            // rows are in one is not exported again).
            if !outputs.iter().any(|output| output.path == old.path)
                && !crate::compact::is_compacted(&old.path)
                && let Err(error) = context.store.delete(&old.path).await
            {
                return failed(error_chain(&error));
            }
        }
    }
    drop(scratch);
    let mut record = record(Status::Exported, None);
    record.messages = messages;
    record.outputs = outputs;
    record.media = stored_media;
    record.parts = part_records(options.parts, &fetched_parts);
    Done::Record { record, bytes }
}

/// The manifest's account of the parts asked for.
fn part_records(request: PartsRequest, fetched: &FetchedParts) -> Vec<PartRecord> {
    request
        .names()
        .into_iter()
        .map(|part| {
            let missing = fetched
                .not_available
                .iter()
                .find(|missing| missing.part == part);
            PartRecord {
                part: part.to_owned(),
                status: if missing.is_some() {
                    PartStatus::NotAvailable
                } else {
                    PartStatus::Available
                },
                reason: missing.map(ToString::to_string),
            }
        })
        .collect()
}

/// Where a meeting part's file goes in the store: a speech transcript's under `_transcripts/`,
/// a summary's under `_summaries/`, each partitioned by `day` (the session's start, else its
/// chat's first day), so that they form datasets of their own that engines reading the chat
/// dataset never see (a leading `_` hides a directory from Spark's partition discovery, Hive
/// and Trino, and `_transcripts/date=D/x.parquet` matches no `*/*.parquet` glob).
fn part_path(part: Part, name: &str, day: Option<&str>) -> Option<String> {
    let prefix = match part {
        Part::Transcript => "_transcripts",
        Part::Summary => "_summaries",
        Part::Chat | Part::Rejects => return None,
    };
    Some(match day {
        Some(day) => format!("{prefix}/date={day}/{name}"),
        None => format!("{prefix}/{name}"),
    })
}

/// Passes a 429's wait on to every task: the API's limit is per IP, not per session.
struct PauseOnRateLimit<'l>(&'l RateLimiter);

impl FetchObserver for PauseOnRateLimit<'_> {
    fn event(&mut self, event: &FetchEvent) {
        if let FetchEvent::Retrying {
            status: Some(429),
            delay,
            ..
        } = event
        {
            self.0.pause(*delay);
        }
    }
}

/// Every participant of a session, keyed by participant (peer) id. A session the participants
/// route does not know (404) has none.
async fn participants(
    context: &Context,
    session_id: &str,
) -> Result<HashMap<String, Participant>, FetchError> {
    let fetcher = Arc::clone(&context.fetcher);
    let id = session_id.to_owned();
    let fetch: FetchPage<Participant> = Box::new(move |page_no, per_page| {
        let fetcher = Arc::clone(&fetcher);
        let id = id.clone();
        Box::pin(async move { fetcher.participants_page(&id, page_no, per_page).await })
    });
    let mut lister = Lister::new(
        fetch,
        |participant| participant.id.as_str(),
        Arc::clone(&context.limiter),
        DEFAULT_PER_PAGE,
    );
    let mut map = HashMap::new();
    loop {
        match lister.next().await {
            Ok(Some(items)) => {
                map.extend(items.into_iter().map(|item| (item.id.clone(), item)));
            }
            Err(BulkError::Listing(error)) if !matches!(error, FetchError::NotFound { .. }) => {
                return Err(error);
            }
            // The end, a session the route does not know (404), or a paging anomaly: keep
            // what was listed.
            _ => return Ok(map),
        }
    }
}

/// A converted file: where it is, and where it goes in the store.
type Upload = (PathBuf, String);

/// Converts one session's CSV into a dataset under `roots[0]` with the one pipeline (so the
/// files are byte for byte those of `chatdump convert --partition-by date`); returns the
/// messages written and the files with their paths in the store.
///
/// With meeting parts, those are converted in the same pass, their files written into `roots[1]`
/// ([`chatdump_pipeline::Plan::parts_dir`], outside the dataset: a transcript's Parquet file
/// there would be read as chat), for `_transcripts/` and `_summaries/` in the store
/// ([`part_path`]).
fn convert(
    csv: &Path,
    session_id: &str,
    roots: [&Path; 2],
    mut options: chatdump_pipeline::Options,
    participants: Option<&HashMap<String, Participant>>,
    parts: MeetingParts,
) -> Result<(u64, Vec<Upload>, Vec<StoredFile>), String> {
    let [out_root, parts_root] = roots;
    // Bulk datasets always use schema version 2: the participant columns are null when
    // enrichment is off, so every file of the dataset has the same columns.
    let ids: Participants = participants
        .map(|participants| {
            participants
                .values()
                .map(|participant| {
                    (
                        participant.id.clone(),
                        ParticipantIds {
                            user_id: participant.user_id.clone(),
                            custom_participant_id: participant.custom_participant_id.clone(),
                        },
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    options.formats.parquet.participants = Some(Arc::new(ids));
    let has_parts = parts.transcript.is_some() || parts.summary.is_some();
    // The day of the part files: the session's start, else the chat's first (its first
    // partition).
    let start_day = parts
        .session_start
        .map(|start| jiff::tz::Offset::UTC.to_datetime(start).date().to_string());
    let conversion = Conversion {
        formats: vec![Format::Parquet],
        partition_by_date: true,
        rejects: None,
        parts_dir: has_parts.then(|| parts_root.to_owned()),
        options,
    };
    let converted = conversion
        .session(csv, session_id, parts, out_root, &mut NoEvents)
        .map_err(|error| error_chain(&error))?;
    let media = converted
        .media
        .map(|media| media.stored)
        .unwrap_or_default();
    let mut files: Vec<Upload> = converted
        .outputs
        .iter()
        .filter(|written| written.part == Part::Chat)
        .filter_map(|written| {
            let local = written.path.clone()?;
            let relative = local.strip_prefix(out_root).ok()?;
            let path = relative
                .components()
                .map(|part| part.as_os_str().to_string_lossy().into_owned())
                .collect::<Vec<_>>()
                .join("/");
            Some((local, path))
        })
        .collect();
    let day = start_day.or_else(|| {
        files
            .iter()
            .filter_map(|(_, path)| path.strip_prefix("date=")?.split('/').next())
            .min()
            .map(str::to_owned)
    });
    for written in &converted.outputs {
        let Some(local) = &written.path else { continue };
        let name = local
            .file_name()
            .map(|name| name.to_string_lossy().into_owned())
            .unwrap_or_default();
        if let Some(path) = part_path(written.part, &name, day.as_deref()) {
            files.push((local.clone(), path));
        }
    }
    Ok((converted.summary.messages, files, media))
}

#[cfg(test)]
mod rate_limit_tests {
    use std::time::Duration;

    use super::*;

    fn retrying(status: Option<u16>, reason: &str) -> FetchEvent {
        FetchEvent::Retrying {
            what: "API request",
            attempt: 1,
            delay: Duration::from_secs(30),
            status,
            reason: reason.into(),
        }
    }

    /// Whether `event` paused the limiter: the next slot is then far away.
    async fn pauses(event: &FetchEvent) -> bool {
        let limiter = RateLimiter::per_minute(0);
        PauseOnRateLimit(&limiter).event(event);
        tokio::time::timeout(Duration::from_millis(200), limiter.acquire())
            .await
            .is_err()
    }

    #[tokio::test]
    async fn a_429_status_pauses_every_task() {
        assert!(pauses(&retrying(Some(429), "rate limited")).await);
        // The status decides, not the text: an API message that mentions "HTTP 429" in a 503
        // is not a rate limit, and neither is a connection error.
        assert!(!pauses(&retrying(Some(503), "HTTP 503: see HTTP 429 docs")).await);
        assert!(!pauses(&retrying(None, "the connection failed: HTTP 429")).await);
    }
}

#[cfg(test)]
mod dataset_tests {
    use super::*;

    #[test]
    fn parts_go_to_datasets_of_their_own() {
        let day = Some("2024-05-13");
        assert_eq!(
            part_path(Part::Transcript, "s1.transcript.parquet", day).as_deref(),
            Some("_transcripts/date=2024-05-13/s1.transcript.parquet")
        );
        assert_eq!(
            part_path(Part::Summary, "s1.summary.md", day).as_deref(),
            Some("_summaries/date=2024-05-13/s1.summary.md")
        );
        assert_eq!(
            part_path(Part::Summary, "s1.summary.txt", None).as_deref(),
            Some("_summaries/s1.summary.txt")
        );
        // The chat's files (kept from the first pass) and rejects are not parts' files.
        assert_eq!(part_path(Part::Chat, "s1.parquet", day), None);
        assert_eq!(part_path(Part::Rejects, "s1.rejects.jsonl", day), None);
    }

    #[test]
    fn the_manifest_says_which_part_was_missing() {
        let request = PartsRequest {
            transcript: true,
            summary: true,
            transcript_format: None,
        };
        let fetched = FetchedParts {
            not_available: vec![chatdump_api::NotAvailable {
                part: "summary",
                session: "s".into(),
                message: None,
            }],
            ..FetchedParts::default()
        };
        let records = part_records(request, &fetched);
        assert_eq!(records.len(), 2);
        assert_eq!(records[0].status, PartStatus::Available);
        assert_eq!(records[1].part, "summary");
        assert_eq!(records[1].status, PartStatus::NotAvailable);
        assert!(
            records[1]
                .reason
                .as_deref()
                .unwrap()
                .starts_with("no summary for session `s` (HTTP 404)")
        );
    }
}

#[cfg(test)]
mod line_tests {
    use super::*;

    #[test]
    fn session_lines_escape_the_id_and_the_reason() {
        let id = "s\u{1b}[2J";
        assert_eq!(
            Event::Failed
                .line(id, Some("HTTP 500: \u{202e}boom"))
                .as_deref(),
            Some("session `s\\u{1b}[2J` failed: HTTP 500: \\u{202e}boom")
        );
        assert_eq!(
            Event::Skipped.line("s", Some("no chat\n")).as_deref(),
            Some("session `s` skipped: no chat\\n")
        );
        assert_eq!(
            Event::Exported.line("s", None).as_deref(),
            Some("session `s` exported")
        );
        assert_eq!(Event::AlreadyDone.line("s", Some("no chat")), None);
        assert_eq!(Event::Failed.line("s", None), None);
    }
}
