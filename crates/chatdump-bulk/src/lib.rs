//! Bulk export: every session of an organisation, resumable, into a hive-partitioned Parquet
//! dataset on object storage.
//!
//! - [`export_all`] lists the sessions (`GET /sessions`, paged robustly: see [`listing`]),
//!   exports each one's chat with bounded concurrency under a client-side rate limit, and
//!   uploads one Parquet file per session to `ROOT/date=YYYY-MM-DD/<session_id>.parquet`,
//!   the layout of [`chatdump_parquet::Dataset`].
//! - The [`Manifest`] in `ROOT/_chatdump/manifest.jsonl` records every session (exported,
//!   skipped with why, failed with why), so a re-run skips what is done, retries what failed,
//!   and resumes an interrupted run; file names are fixed per session, so exporting a session
//!   again replaces its file rather than duplicating its rows.
//! - With [`ExportOptions::parts`] (`--with transcript,summary`, issue 18) each session's speech
//!   transcript and summary are fetched and converted with its chat; their files go to datasets
//!   of their own, `ROOT/_transcripts/date=YYYY-MM-DD/...` and `ROOT/_summaries/date=YYYY-MM-DD/...`,
//!   which engines reading the chat dataset never pick up (names starting with `_` are hidden from
//!   Spark's partition discovery, Hive and Trino, and match no `*/*.parquet` glob).
//! - [`compact()`] rewrites a day's small per-session files into a few large ones.
//! - [`Store`] is the root: `s3://`, `gs://`, `az://`, `file://` or a local directory.
//!
//! The library never prints, never reads the clock or the environment: the caller passes the
//! time, the object-store settings and an observer in.
//!
//! ```no_run
//! # async fn demo(fetcher: std::sync::Arc<chatdump_api::Fetcher>) -> Result<(), chatdump_bulk::BulkError> {
//! use chatdump_bulk::{ExportOptions, Quiet, Store, export_all};
//! let store = Store::open("s3://warehouse/chat", &[("AWS_REGION".into(), "eu-west-1".into())])?;
//! let options = ExportOptions::new(jiff::Timestamp::UNIX_EPOCH, std::env::temp_dir());
//! let report = export_all(fetcher, store, options, &mut Quiet).await?;
//! assert!(report.all_succeeded());
//! # Ok(()) }
//! ```

#![cfg_attr(
    test,
    allow(
        clippy::disallowed_methods,
        reason = "unit tests may use the system temporary directory and the clock"
    )
)]

pub mod compact;
mod export;
pub mod listing;
mod local;
mod manifest;
mod store;

use std::io;

use chatdump_api::FetchError;

pub use compact::{
    CompactOptions, CompactReport, DEFAULT_TARGET_SIZE, DayReport, compact, recover,
};
pub use export::{
    BulkObserver, DEFAULT_PER_PAGE, Event, ExportOptions, Problem, Quiet, Report, export_all,
};
pub use local::{RUN_DIR_PREFIX, RunDir, write_json};
pub use manifest::{
    MANIFEST_PATH, MANIFEST_VERSION, Manifest, OutputFile, PartRecord, PartStatus, SessionRecord,
    Status,
};
pub use store::{DEFAULT_PART_SIZE, Listed, Store, Uploaded};

/// An error that stops a bulk export or a compaction. Per-session failures are not errors:
/// they are recorded in the manifest and the report.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BulkError {
    /// The output location is not one this tool can write to.
    #[error(
        "`{location}` is not a supported output location: {reason} (use s3://, gs://, az://, file:// or a local path)"
    )]
    Location {
        /// The location, escaped.
        location: String,
        /// What is wrong.
        reason: String,
    },
    /// The object store could not be set up (bad URL or settings).
    #[error("cannot open the object store at `{location}`")]
    Store {
        /// The location, escaped.
        location: String,
        /// The cause.
        #[source]
        source: object_store::Error,
    },
    /// An object-store call failed.
    #[error("cannot {action} `{path}`")]
    Object {
        /// What was being done.
        action: &'static str,
        /// The object.
        path: String,
        /// The cause.
        #[source]
        source: object_store::Error,
    },
    /// A local file operation failed.
    #[error("cannot {action} `{path}`")]
    Io {
        /// What was being done.
        action: &'static str,
        /// The file.
        path: String,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// The manifest cannot be read.
    #[error("the manifest `{path}` is unreadable at line {line}: {reason}")]
    Manifest {
        /// Where it is.
        path: String,
        /// The 1-based line.
        line: usize,
        /// What is wrong.
        reason: String,
    },
    /// Listing the sessions failed.
    #[error("cannot list the sessions")]
    Listing(#[source] FetchError),
    /// The listing's paging makes no sense.
    #[error("the session listing's paging is inconsistent: {0}")]
    Paging(String),
    /// The API refused the credentials: every session would fail the same way.
    #[error("the run stopped")]
    Credentials(#[source] FetchError),
    /// A Parquet file could not be read or written during compaction.
    #[error("cannot {action} the Parquet file `{path}`")]
    Parquet {
        /// What was being done.
        action: &'static str,
        /// The file.
        path: String,
        /// The cause.
        #[source]
        source: parquet::errors::ParquetError,
    },
    /// A usage problem in the options (a bad date range, a zero target size).
    #[error("{0}")]
    Options(String),
}
