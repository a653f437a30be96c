//! Fetching the images and files a chat links to, so that an export outlives its links.
//!
//! An `IMAGE_MESSAGE` or `FILE_MESSAGE` holds a presigned link that expires after a few days.
//! [`fetch_all`] downloads every distinct link once and stores it by content in a directory the
//! caller names, as `<first 16 hex digits of the SHA-256>-<safe original name>` ([`safe_name`]);
//! identical bytes under two links are stored once. The result is a [`MediaIndex`]: for every
//! link, where its copy is and what it is ([`sniff`], from the bytes alone), or why there is none.
//!
//! The links come from a dump, so they are hostile:
//!
//! - only `https`, and only to public addresses: loopback, private, link-local (the cloud
//!   metadata address included), shared and unique-local addresses are refused after DNS
//!   resolution and on every redirect ([`chatdump_api::guard::AddressGuard`]); an optional
//!   allow-list of host patterns narrows the hosts further; one exact `HOST:PORT` may be allowed
//!   plain `http` for tests ([`MediaOptions::allow_insecure_host`]);
//! - no `Authorization` header, cookie, `Referer` or other credential is ever sent;
//! - a per-file and a total size cap, enforced while the body streams in, not only from
//!   `Content-Length`;
//! - connect and read timeouts, retries with backoff ([`chatdump_api::RetryPolicy`]), a bounded
//!   number of downloads at once;
//! - failure reasons are short, terminal-safe, and never contain a link's query string.
//!
//! The outcome does not depend on timing: the index is in URL order, names are chosen in URL
//! order, and the total cap is applied in URL order (the first link that takes the total over
//! the cap, and every link after it, fail with "total cap spent", however the downloads
//! interleaved).
//!
//! ```no_run
//! use chatdump_media::{IgnoreMedia, MediaLink, MediaOptions, fetch_all};
//!
//! # async fn example() -> Result<(), chatdump_media::MediaError> {
//! let links = ["https://cdn.example.com/a/photo.png?X-Amz-Signature=abc"].map(MediaLink::from);
//! let index = fetch_all(links, "chat.media".as_ref(), &MediaOptions::default(), &mut IgnoreMedia)
//!     .await?;
//! for (url, entry) in index.iter() {
//!     let _ = (url, entry);
//! }
//! # Ok(()) }
//! ```

#![cfg_attr(
    test,
    allow(
        clippy::disallowed_methods,
        reason = "unit tests may use the system temporary directory and the clock"
    )
)]

mod fetch;
mod keep;
mod name;
mod options;
mod sniff;

use std::collections::{BTreeMap, BTreeSet};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use futures_util::StreamExt as _;
use futures_util::stream::FuturesUnordered;
use sha2::Sha256;

use chatdump_core::escape::escape_for_terminal;

pub use keep::{INDEX_FILE, INDEX_VERSION, Kept, index_json, link_identity, write_index};
pub use name::{MAX_NAME_BYTES, safe_name};
pub use options::{InsecureHost, MediaOptions};
pub use sniff::{SNIFF_LEN, Sniffed, sniff};

use fetch::{Downloaded, Outcome};

/// A link to fetch, with the file name the message gives, if any (a `FILE_MESSAGE`'s name).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaLink {
    /// The link, as it appears in the dump.
    pub url: String,
    /// The original file name, used (made safe) instead of the URL path's last segment.
    pub name: Option<String>,
}

impl From<&str> for MediaLink {
    fn from(url: &str) -> Self {
        Self {
            url: url.to_owned(),
            name: None,
        }
    }
}

impl From<String> for MediaLink {
    fn from(url: String) -> Self {
        Self { url, name: None }
    }
}

/// What became of one link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MediaEntry {
    /// The link's bytes are stored.
    Fetched {
        /// The stored file, relative to the media directory (a bare file name).
        path: PathBuf,
        /// The SHA-256 of the bytes, 64 lower-case hex digits.
        sha256: String,
        /// The size in bytes.
        bytes: u64,
        /// What the bytes are ([`sniff`]), never what the name or `Content-Type` claim.
        media_type: String,
        /// Whether the bytes are a PNG, JPEG, GIF or `WebP` image.
        is_raster_image: bool,
    },
    /// The link could not be fetched.
    Failed {
        /// Why, short and terminal-safe, without the link's query string.
        reason: String,
    },
}

/// Every distinct link and what became of it, in URL order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MediaIndex {
    entries: BTreeMap<String, MediaEntry>,
    /// The links whose file was taken from an earlier run ([`Kept`]), not fetched.
    reused: BTreeSet<String>,
    /// Why files an earlier run recorded were not taken, in URL order.
    notes: Vec<String>,
}

impl MediaIndex {
    /// What became of `url` (as given to [`fetch_all`]).
    #[must_use]
    pub fn get(&self, url: &str) -> Option<&MediaEntry> {
        self.entries.get(url)
    }

    /// Every link and its entry, in URL order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &MediaEntry)> {
        self.entries
            .iter()
            .map(|(url, entry)| (url.as_str(), entry))
    }

    /// The number of distinct links.
    #[must_use]
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether there were no links.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Links fetched.
    #[must_use]
    pub fn fetched(&self) -> usize {
        self.entries
            .values()
            .filter(|entry| matches!(entry, MediaEntry::Fetched { .. }))
            .count()
    }

    /// Links stored from an earlier run's directory ([`fetch_all_keeping`]) without a request;
    /// they are among [`fetched`](Self::fetched).
    #[must_use]
    pub fn reused(&self) -> usize {
        self.reused.len()
    }

    /// Whether `url`'s file was taken from an earlier run's directory.
    #[must_use]
    pub fn was_reused(&self, url: &str) -> bool {
        self.reused.contains(url)
    }

    /// Why files an earlier run recorded were not taken (then the link was fetched): short,
    /// terminal-safe, in URL order.
    #[must_use]
    pub fn notes(&self) -> &[String] {
        &self.notes
    }

    /// Links that failed.
    #[must_use]
    pub fn failed(&self) -> usize {
        self.len() - self.fetched()
    }

    /// Files stored (identical bytes under several links are one file) and their total size.
    #[must_use]
    pub fn stored(&self) -> (usize, u64) {
        let mut files = BTreeMap::new();
        for entry in self.entries.values() {
            if let MediaEntry::Fetched { path, bytes, .. } = entry {
                files.insert(path, *bytes);
            }
        }
        (files.len(), files.values().sum())
    }
}

/// Something that happened to one link. URLs are redacted ([`chatdump_api::redact_url`]).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum MediaEvent {
    /// An attempt failed and another follows after `delay`.
    Retrying {
        /// The link, redacted.
        url: String,
        /// The attempt that failed (1-based).
        attempt: u32,
        /// The wait before the next one.
        delay: Duration,
        /// What went wrong.
        reason: String,
    },
    /// The link is stored (told after every download ended, in URL order).
    Fetched {
        /// The link, redacted.
        url: String,
        /// The stored file, relative to the media directory.
        path: PathBuf,
        /// Its size.
        bytes: u64,
    },
    /// The link failed (told after every download ended, in URL order).
    Failed {
        /// The link, redacted.
        url: String,
        /// Why.
        reason: String,
    },
}

/// Receives progress and events during [`fetch_all`], for a progress bar and warnings.
pub trait MediaObserver: Send {
    /// `links` distinct links are to be fetched.
    fn planned(&mut self, links: usize) {
        let _ = links;
    }

    /// `bytes` have arrived so far, over every link and attempt.
    fn progress(&mut self, bytes: u64) {
        let _ = bytes;
    }

    /// `done` links of the planned ones are finished (fetched or failed).
    fn links_done(&mut self, done: usize) {
        let _ = done;
    }

    /// Something happened to one link.
    fn event(&mut self, event: &MediaEvent) {
        let _ = event;
    }
}

/// An observer that ignores everything.
#[derive(Debug, Default)]
pub struct IgnoreMedia;

impl MediaObserver for IgnoreMedia {}

/// A failure of the whole fetch (a link's own failure is a [`MediaEntry::Failed`]).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MediaError {
    /// The HTTP client could not be built.
    #[error("cannot set up the HTTP client for media downloads")]
    Client(#[source] reqwest::Error),
    /// The media directory or a file in it could not be written.
    #[error("cannot write media into `{path}`")]
    Write {
        /// The directory, escaped.
        path: String,
        /// The I/O error.
        #[source]
        source: io::Error,
    },
}

/// The state the concurrent downloads share.
pub(crate) struct Shared<'a> {
    pub(crate) client: reqwest::Client,
    pub(crate) options: &'a MediaOptions,
    pub(crate) dir: &'a Path,
    pub(crate) observer: Mutex<Observed<'a>>,
    pub(crate) budget: Mutex<Budget>,
    /// What an earlier run stored, taken instead of fetching.
    pub(crate) kept: &'a Kept,
    /// Why a kept file was not taken, by link index.
    pub(crate) notes: Mutex<BTreeMap<usize, String>>,
}

pub(crate) struct Observed<'a> {
    pub(crate) observer: &'a mut dyn MediaObserver,
    pub(crate) bytes: u64,
    pub(crate) done: usize,
}

/// The total cap, applied in URL order: the sizes of the links fetched so far by index, and the
/// first index known to take the total over the cap.
#[derive(Debug, Default)]
pub(crate) struct Budget {
    pub(crate) fetched: Vec<u64>,
    pub(crate) over_at: Option<usize>,
}

impl Budget {
    /// Whether link `index`, with `bytes` of its own so far, is past the total cap: the links
    /// before it already fetched, plus its own bytes, exceed `cap` (links still downloading
    /// are not counted, so this never fails a link that the cap allows). Records the first such
    /// index.
    pub(crate) fn over(&mut self, index: usize, bytes: u64, cap: u64) -> bool {
        if self.over_at.is_some_and(|over| over < index) {
            return true;
        }
        let before: u64 = self.fetched[..index].iter().sum();
        if before.saturating_add(bytes) > cap {
            self.over_at = Some(self.over_at.map_or(index, |over| over.min(index)));
            true
        } else {
            false
        }
    }
}

pub(crate) fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The reason of every link failed by the total cap.
fn total_cap_reason(cap: u64) -> String {
    format!("the total media cap of {cap} bytes is spent")
}

/// A link as it may be shown: redacted when it is a URL, else escaped and shortened.
fn shown(url: &str) -> String {
    match url.parse::<reqwest::Url>() {
        Ok(parsed) => escape_for_terminal(&chatdump_api::redact_url(&parsed), 200),
        Err(_) => escape_for_terminal(url.split('?').next().unwrap_or_default(), 100),
    }
}

/// Fetches every distinct link once into `dir` (created when missing), at most
/// [`MediaOptions::concurrency`] at a time, and says what became of each.
///
/// As [`fetch_all_keeping`] with nothing kept.
pub async fn fetch_all(
    links: impl IntoIterator<Item = MediaLink>,
    dir: &Path,
    options: &MediaOptions,
    observer: &mut dyn MediaObserver,
) -> Result<MediaIndex, MediaError> {
    fetch_all_keeping(links, dir, &Kept::default(), options, observer).await
}

/// Stores every distinct link once into `dir` (created when missing), at most
/// [`MediaOptions::concurrency`] at a time, and says what became of each: a link an earlier run
/// stored (`kept`, by [`link_identity`]) is copied from there when the file checks out, with no
/// request; the others are fetched. A link passes the same rules and caps either way, and the
/// index does not tell one from the other (but [`MediaIndex::reused`]), so outputs do not depend
/// on what was kept.
///
/// A link's own failure (refused, expired, missing, too large, timed out...) is recorded in the
/// index, never an error; the error is for what stops every link: the HTTP client, or the
/// directory. Downloads go to temporary files in `dir` (removed on failure), which are renamed
/// into place once every download ended. The future is `Send`; it needs a tokio runtime with
/// the time driver, and runs file system calls on the blocking pool.
pub async fn fetch_all_keeping(
    links: impl IntoIterator<Item = MediaLink>,
    dir: &Path,
    kept: &Kept,
    options: &MediaOptions,
    observer: &mut dyn MediaObserver,
) -> Result<MediaIndex, MediaError> {
    let mut wanted: BTreeMap<String, Option<String>> = BTreeMap::new();
    for link in links {
        let name = wanted.entry(link.url).or_insert(None);
        if name.is_none() {
            *name = link.name;
        }
    }
    let links: Vec<(String, Option<String>)> = wanted.into_iter().collect();
    observer.planned(links.len());
    if links.is_empty() {
        return Ok(MediaIndex::default());
    }
    let write_error = |source: io::Error| MediaError::Write {
        path: escape_for_terminal(&dir.display().to_string(), 200),
        source,
    };
    let owned = dir.to_path_buf();
    fetch::blocking(move || std::fs::create_dir_all(owned))
        .await
        .map_err(write_error)?;
    let shared = Shared {
        client: options.client().map_err(MediaError::Client)?,
        options,
        dir,
        observer: Mutex::new(Observed {
            observer,
            bytes: 0,
            done: 0,
        }),
        budget: Mutex::new(Budget {
            fetched: vec![0; links.len()],
            over_at: None,
        }),
        kept,
        notes: Mutex::new(BTreeMap::new()),
    };
    let mut outcomes: Vec<Option<Outcome>> = (0..links.len()).map(|_| None).collect();
    {
        // A loop rather than `buffer_unordered` over a closure: the closure's borrowed
        // arguments make the future fail the `Send` check (a higher-ranked lifetime limitation).
        let mut downloads = FuturesUnordered::new();
        let mut next = links.iter().enumerate();
        loop {
            while downloads.len() < options.concurrency.max(1)
                && let Some((index, (url, _))) = next.next()
            {
                downloads.push(fetch::fetch_one(&shared, index, url));
            }
            let Some((index, outcome)) = downloads.next().await else {
                break;
            };
            if let Outcome::Io(error) = outcome {
                return Err(write_error(error));
            }
            if let Outcome::Fetched(downloaded) = &outcome {
                lock(&shared.budget).fetched[index] = downloaded.bytes;
            }
            outcomes[index] = Some(outcome);
            let mut told = lock(&shared.observer);
            told.done += 1;
            let done = told.done;
            told.observer.links_done(done);
        }
    }
    let cap = options.max_total_bytes;
    let owned = dir.to_path_buf();
    let (entries, reused) = fetch::blocking(move || commit(links, outcomes, &owned, cap))
        .await
        .map_err(write_error)?;
    let notes = shared
        .notes
        .into_inner()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .into_values()
        .collect();
    let told = shared
        .observer
        .into_inner()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    for (url, entry) in &entries {
        told.observer.event(&match entry {
            MediaEntry::Fetched { path, bytes, .. } => MediaEvent::Fetched {
                url: shown(url),
                path: path.clone(),
                bytes: *bytes,
            },
            MediaEntry::Failed { reason } => MediaEvent::Failed {
                url: shown(url),
                reason: reason.clone(),
            },
        });
    }
    Ok(MediaIndex {
        entries,
        reused,
        notes,
    })
}

/// Applies the total cap in URL order and stores the fetched files by content: the first link
/// (in URL order) with given bytes names their file.
fn commit(
    links: Vec<(String, Option<String>)>,
    outcomes: Vec<Option<Outcome>>,
    dir: &Path,
    cap: u64,
) -> io::Result<(BTreeMap<String, MediaEntry>, BTreeSet<String>)> {
    let mut entries = BTreeMap::new();
    let mut reused = BTreeSet::new();
    let mut stored: BTreeMap<[u8; 32], PathBuf> = BTreeMap::new();
    let mut total: u64 = 0;
    let mut over = false;
    for ((url, name), outcome) in links.into_iter().zip(outcomes) {
        let entry = match outcome {
            Some(Outcome::Refused(reason)) => MediaEntry::Failed { reason },
            // After the first link over the cap, what happened to a later one depends on
            // timing (skipped, or fetched first): all of them fail alike.
            _ if over => MediaEntry::Failed {
                reason: total_cap_reason(cap),
            },
            Some(Outcome::Failed(reason)) => MediaEntry::Failed { reason },
            Some(Outcome::Fetched(downloaded)) => {
                total = total.saturating_add(downloaded.bytes);
                if total > cap {
                    over = true;
                    MediaEntry::Failed {
                        reason: total_cap_reason(cap),
                    }
                } else {
                    if downloaded.reused {
                        reused.insert(url.clone());
                    }
                    store(downloaded, &url, name.as_deref(), dir, &mut stored)?
                }
            }
            Some(Outcome::OverBudget | Outcome::Io(_)) | None => {
                over = true;
                MediaEntry::Failed {
                    reason: total_cap_reason(cap),
                }
            }
        };
        entries.insert(url, entry);
    }
    Ok((entries, reused))
}

fn store(
    downloaded: Downloaded,
    url: &str,
    name: Option<&str>,
    dir: &Path,
    stored: &mut BTreeMap<[u8; 32], PathBuf>,
) -> io::Result<MediaEntry> {
    let Downloaded {
        file,
        sha256,
        bytes,
        head,
        reused: _,
    } = downloaded;
    let hex = keep::hex(&sha256);
    let path = if let Some(path) = stored.get(&sha256) {
        // The same bytes are already stored: the temporary file goes with `file`.
        path.clone()
    } else {
        let url: reqwest::Url = url
            .parse()
            .map_err(|_| io::Error::other("a fetched link is not a URL"))?;
        let path = PathBuf::from(format!("{}-{}", &hex[..16], safe_name(&url, name)));
        file.persist(dir.join(&path)).map_err(|error| error.error)?;
        stored.insert(sha256, path.clone());
        path
    };
    let sniffed = sniff(&head);
    Ok(MediaEntry::Fetched {
        path,
        sha256: hex,
        bytes,
        media_type: sniffed.media_type.to_owned(),
        is_raster_image: sniffed.is_raster_image,
    })
}

/// The SHA-256 being computed of a download.
pub(crate) type Hasher = Sha256;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_total_cap_is_applied_in_url_order() {
        let mut budget = Budget {
            fetched: vec![0; 4],
            over_at: None,
        };
        // Link 3 streams while 0..2 are still downloading: nothing before it counts yet.
        assert!(!budget.over(3, 60, 100));
        budget.fetched[0] = 50;
        budget.fetched[1] = 30;
        assert!(!budget.over(2, 20, 100));
        assert!(budget.over(2, 21, 100));
        assert_eq!(budget.over_at, Some(2));
        // Every later link is over too, whatever its own size.
        assert!(budget.over(3, 0, 100));
        // An earlier one is not.
        assert!(!budget.over(1, 30, 100));
    }
}
