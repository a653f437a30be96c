//! Attachments (issue 19, `--media`): a pre-pass over the dump collects the links of its image and
//! file messages, [`chatdump_media::fetch_all`] stores them in a hidden temporary directory beside
//! the outputs, and the result goes to the exporters as [`Attachments`]. The directory is renamed
//! into place with the other outputs, and removed when the conversion fails.
//!
//! A re-run keeps what the last one saved: `<stem>.media/index.json` lists each stored link by
//! its identity (no query string) with its file, size and SHA-256; links listed there whose file
//! checks out are copied into the new directory instead of fetched ([`chatdump_media::Kept`]),
//! so expired links lose nothing, and the outputs are those of a first run.

use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use chatdump_core::attachment::{Attachment, Attachments, MediaMode, StoredAttachment};
use chatdump_core::escape::escape_for_terminal;
use chatdump_core::export::Warning;
use chatdump_core::model::Body;
use chatdump_core::reader::{ChatReader, ReaderOptions};
use chatdump_media::{Kept, MediaEntry, MediaLink, MediaObserver, MediaOptions, fetch_all_keeping};

use crate::convert::{Events, Options};
use crate::error::PipelineError;
use crate::input::{Input, Replay, Source};
use crate::plan::{Destination, Plan};

/// Where a conversion's attachments are stored, and how they are named.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MediaLayout {
    /// `<stem>.media/<sha256 prefix>-<safe name>` beside the outputs (`convert`, `export`,
    /// `serve`), with `index.json`; a new run replaces the directory, taking from the old one
    /// the files its index lists instead of fetching them again.
    BesideOutputs,
    /// `_media/<sha256>` in the output directory, shared by every session converted there
    /// (`export --all`, whose store keeps them under `ROOT/_media/`); files are added, never
    /// removed.
    ByContent,
}

/// Whether and how attachments are fetched.
#[derive(Debug, Clone)]
pub struct MediaSettings {
    /// Download only, or also inline raster images in the HTML transcript.
    pub mode: MediaMode,
    /// How links are fetched (caps, concurrency, allowed hosts).
    pub fetch: MediaOptions,
    /// A link that cannot be fetched is an error (nothing is written), not a warning.
    pub required: bool,
    /// Where the files go.
    pub layout: MediaLayout,
}

impl MediaSettings {
    /// Settings for `mode` with the default fetch options, failures as warnings, beside the
    /// outputs.
    #[must_use]
    pub fn new(mode: MediaMode) -> Self {
        Self {
            mode,
            fetch: MediaOptions::default(),
            required: false,
            layout: MediaLayout::BesideOutputs,
        }
    }
}

/// What the media of one input came to.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MediaSummary {
    /// Distinct links in the dump.
    pub links: usize,
    /// Links whose bytes are stored (fetched now, or reused).
    pub fetched: usize,
    /// Links that could not be fetched (each is also a warning per message).
    pub unavailable: usize,
    /// Files stored (identical bytes are one file).
    pub files: usize,
    /// Their total size.
    pub bytes: u64,
    /// The directory they are in, once committed.
    pub dir: Option<PathBuf>,
    /// Every file stored, once each, by path.
    pub stored: Vec<StoredFile>,
    /// Of the links stored, those taken from the media directory an earlier run left
    /// (`BesideOutputs`), without a request.
    pub reused: usize,
}

/// One stored file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredFile {
    /// Its path relative to the output directory (`/`-separated), as in `media_path`.
    pub path: String,
    /// The SHA-256 of its bytes, lower-case hex.
    pub sha256: String,
    /// Its size.
    pub bytes: u64,
}

/// The attachments of one input, fetched but not yet in place; dropped, they vanish.
pub(crate) struct FetchedMedia {
    temp: tempfile::TempDir,
    target: PathBuf,
    layout: MediaLayout,
    pub(crate) attachments: Arc<Attachments>,
    pub(crate) summary: MediaSummary,
}

/// Counts shared with the fetch, read by the progress ticks.
#[derive(Default)]
struct Counters {
    links: AtomicUsize,
    done: AtomicUsize,
    bytes: AtomicU64,
}

struct Counting(Arc<Counters>);

impl MediaObserver for Counting {
    fn planned(&mut self, links: usize) {
        self.0.links.store(links, Ordering::Relaxed);
    }
    fn progress(&mut self, bytes: u64) {
        self.0.bytes.store(bytes, Ordering::Relaxed);
    }
    fn links_done(&mut self, done: usize) {
        self.0.done.store(done, Ordering::Relaxed);
    }
}

/// The directory the outputs of `plan` go to.
fn output_dir(plan: &Plan) -> Result<PathBuf, PipelineError> {
    match &plan.destination {
        Destination::Directory(dir) => Ok(dir.clone()),
        Destination::File(file) => Ok(match file.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => parent.to_owned(),
            _ => PathBuf::from("."),
        }),
        Destination::Stdout => Err(PipelineError::Usage(
            "--media needs an output directory or file, not standard output".into(),
        )),
    }
}

/// Checks that media can be stored for `plan`.
pub(crate) fn check(plan: &Plan) -> Result<(), PipelineError> {
    output_dir(plan).map(drop)
}

/// Every attachment link: the file name a message gives, and the ids of the messages holding it.
type Links = BTreeMap<String, (Option<String>, Vec<String>)>;

/// The links of `source`'s image and file messages, with the ids of the messages holding each
/// (in input order) and the file name a message gives. Bad records are left to the conversion.
fn collect_links(
    source: &Source,
    options: &Options,
    replay: &mut Replay,
) -> Result<Links, PipelineError> {
    let opened = replay.open(source, &options.temp_dir, source.input == Input::Stdin)?;
    let mut reader = ChatReader::new(
        opened.reader,
        source.display.clone(),
        ReaderOptions {
            max_record_bytes: options.max_record_size,
            ..ReaderOptions::default()
        },
    )?;
    let mut links = Links::new();
    while let Some(read) = reader.next_message() {
        let message = match read {
            Ok(message) => message,
            Err(chatdump_core::ReadError::Record(_)) => continue,
            // The conversion meets the same error and reports it.
            Err(_) => break,
        };
        let (url, name) = match message.body() {
            Body::Image { url } => (url.to_owned(), None),
            Body::File { url, name, .. } => {
                (url.into_owned(), name.map(std::borrow::Cow::into_owned))
            }
            _ => continue,
        };
        if url.is_empty() {
            continue;
        }
        let entry = links.entry(url).or_default();
        if entry.0.is_none() {
            entry.0 = name;
        }
        if !entry.1.contains(&message.id) {
            entry.1.push(message.id);
        }
    }
    Ok(links)
}

/// The stored path of a fetched file, relative to the outputs.
fn relative_path(layout: MediaLayout, stem: &str, file: &Path, sha256: &str) -> String {
    match layout {
        MediaLayout::BesideOutputs => format!("{stem}.media/{}", file.display()),
        MediaLayout::ByContent => format!("_media/{sha256}"),
    }
}

/// Fetches the attachments of `source` into a hidden temporary directory beside the outputs.
/// Failures are warnings naming the message (errors with [`MediaSettings::required`]).
pub(crate) fn fetch(
    source: &Source,
    plan: &Plan,
    options: &Options,
    settings: &MediaSettings,
    replay: &mut Replay,
    events: &mut dyn Events,
) -> Result<FetchedMedia, PipelineError> {
    let out = output_dir(plan)?;
    let target = match settings.layout {
        MediaLayout::BesideOutputs => out.join(format!("{}.media", source.stem)),
        MediaLayout::ByContent => out.join("_media"),
    };
    let shown_dir = |dir: &Path| escape_for_terminal(&dir.display().to_string(), 200);
    let temp = tempfile::Builder::new()
        .prefix(&format!(".{}.media.", source.stem))
        .tempdir_in(&out)
        .map_err(|error| {
            PipelineError::io(
                format!(
                    "cannot create a temporary media directory in `{}`",
                    shown_dir(&out)
                ),
                error,
            )
        })?;
    let links = collect_links(source, options, replay)?;
    // What the last run saved here, if anything (a real directory, not a link to one).
    let kept = if settings.layout == MediaLayout::BesideOutputs
        && !links.is_empty()
        && fs::symlink_metadata(&target).is_ok_and(|meta| meta.is_dir())
    {
        let (kept, notes) = Kept::read(&target);
        for reason in notes {
            events.warning(&Warning::MediaNotReused { reason });
        }
        kept
    } else {
        Kept::default()
    };
    let index = if links.is_empty() {
        chatdump_media::MediaIndex::default()
    } else {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|error| PipelineError::io("cannot start the media downloads", error))?;
        let counters = Arc::new(Counters::default());
        let mut observer = Counting(Arc::clone(&counters));
        let wanted = links.iter().map(|(url, (name, _))| MediaLink {
            url: url.clone(),
            name: name.clone(),
        });
        let fetching =
            fetch_all_keeping(wanted, temp.path(), &kept, &settings.fetch, &mut observer);
        runtime.block_on(async {
            let mut fetching = std::pin::pin!(fetching);
            loop {
                let tick = std::pin::pin!(tokio::time::sleep(Duration::from_millis(200)));
                match futures_util::future::select(fetching.as_mut(), tick).await {
                    futures_util::future::Either::Left((done, _)) => break done,
                    futures_util::future::Either::Right(((), _)) => events.media_progress(
                        counters.links.load(Ordering::Relaxed),
                        counters.done.load(Ordering::Relaxed),
                        counters.bytes.load(Ordering::Relaxed),
                    ),
                }
            }
        })?
    };
    let mut attachments = Attachments::new(settings.mode);
    let mut summary = MediaSummary {
        links: index.len(),
        fetched: index.fetched(),
        unavailable: index.failed(),
        reused: index.reused(),
        ..MediaSummary::default()
    };
    for reason in index.notes() {
        events.warning(&Warning::MediaNotReused {
            reason: reason.clone(),
        });
    }
    let mut files = BTreeMap::new();
    let mut failures = Vec::new();
    for (url, entry) in index.iter() {
        let attachment = match entry {
            MediaEntry::Fetched {
                path,
                sha256,
                bytes,
                media_type,
                is_raster_image,
            } => {
                let mut file = temp.path().join(path);
                if settings.layout == MediaLayout::ByContent {
                    let by_content = temp.path().join(sha256);
                    if !by_content.exists() {
                        fs::rename(&file, &by_content).map_err(|error| {
                            PipelineError::io("cannot name a media file by its content", error)
                        })?;
                    }
                    file = by_content;
                }
                let relative = relative_path(settings.layout, &source.stem, path, sha256);
                files.insert(
                    relative.clone(),
                    StoredFile {
                        path: relative.clone(),
                        sha256: sha256.clone(),
                        bytes: *bytes,
                    },
                );
                Attachment::Stored(StoredAttachment {
                    path: relative,
                    sha256: sha256.clone(),
                    bytes: *bytes,
                    media_type: media_type.clone(),
                    raster: *is_raster_image,
                    file,
                })
            }
            MediaEntry::Failed { reason } => {
                if let Some((_, ids)) = links.get(url) {
                    for id in ids {
                        failures.push(Warning::AttachmentUnavailable {
                            id: id.clone(),
                            reason: reason.clone(),
                        });
                    }
                }
                Attachment::Unavailable {
                    reason: reason.clone(),
                }
            }
        };
        attachments.insert(url, attachment);
    }
    summary.files = files.len();
    summary.bytes = files.values().map(|file| file.bytes).sum();
    summary.stored = files.into_values().collect();
    if settings.layout == MediaLayout::BesideOutputs && !summary.stored.is_empty() {
        chatdump_media::write_index(temp.path(), &index).map_err(|error| {
            PipelineError::io(
                format!(
                    "cannot write the media index in `{}`",
                    shown_dir(temp.path())
                ),
                error,
            )
        })?;
    }
    if settings.required
        && let Some(first) = failures.first()
    {
        let more = failures.len() - 1;
        let more = if more > 0 {
            format!(" (and {more} more)")
        } else {
            String::new()
        };
        return Err(PipelineError::Media(format!(
            "`{}`: {first}{more}; --media-required: nothing written",
            escape_for_terminal(&source.display, 200)
        )));
    }
    for warning in &failures {
        events.warning(warning);
    }
    Ok(FetchedMedia {
        temp,
        target,
        layout: settings.layout,
        attachments: Arc::new(attachments),
        summary,
    })
}

impl FetchedMedia {
    /// Puts the files in place: replaces `<stem>.media`, or adds to `_media`; creates no
    /// directory when nothing was stored.
    pub(crate) fn commit(self) -> Result<MediaSummary, PipelineError> {
        let Self {
            temp,
            target,
            layout,
            attachments,
            mut summary,
        } = self;
        let failed = |error: io::Error| {
            PipelineError::io(
                format!(
                    "cannot move the media files into place at `{}`",
                    escape_for_terminal(&target.display().to_string(), 200)
                ),
                error,
            )
        };
        if summary.stored.is_empty() {
            // Nothing stored: no directory (the temporary one goes with `temp`).
            return Ok(summary);
        }
        match layout {
            MediaLayout::BesideOutputs => {
                let parent = target.parent().unwrap_or(Path::new("."));
                let old = if target.exists() {
                    let old = tempfile::Builder::new()
                        .prefix(".old.media.")
                        .tempdir_in(parent)
                        .map_err(failed)?;
                    let moved = old.path().join("media");
                    fs::rename(&target, &moved).map_err(failed)?;
                    Some(old)
                } else {
                    None
                };
                let path = temp.keep();
                if let Err(error) = fs::rename(&path, &target) {
                    let _ = fs::remove_dir_all(&path);
                    return Err(failed(error));
                }
                drop(old);
            }
            MediaLayout::ByContent => {
                fs::create_dir_all(&target).map_err(failed)?;
                let mut moved = std::collections::BTreeSet::new();
                for (_, attachment) in attachments.iter() {
                    if let Attachment::Stored(stored) = attachment
                        && moved.insert(stored.sha256.as_str())
                    {
                        fs::rename(&stored.file, target.join(&stored.sha256)).map_err(failed)?;
                    }
                }
            }
        }
        summary.dir = Some(target);
        Ok(summary)
    }
}
