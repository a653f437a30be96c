//! `chatdump-pipeline`: the one conversion pipeline every entry point calls (`chatdump
//! convert`, `export`, `serve` and `export --all`).
//!
//! A conversion is:
//! - [`Source`]s: re-openable inputs (a path is opened again; standard input is copied to a
//!   spool file in the caller's temporary directory as it is read), so no caller ever sees that
//!   an out-of-order dump needed a second pass to be sorted;
//! - a [`Plan`]: the [`Format`]s and their [`Destination`] (a file, a directory, standard
//!   output), Parquet optionally as a partitioned dataset, the rejects file; every file is named
//!   by [`Source::stem`], and a session's stem by [`chatdump_core::stem::session_file_stem`];
//! - a source's [`MeetingParts`] (issue 18): the speech transcript and the summary, read before
//!   the chat, merged into the Markdown and HTML transcripts ([`chatdump_core::export::ExportContext::speech`]),
//!   and written to outputs of their own beside the chat's: `<stem>.transcript.jsonl` (with
//!   JSONL), `<stem>.transcript.parquet` (with Parquet), `<stem>.summary.md` or `.txt`; bad
//!   utterances go to the same rejects file in skip mode, after the chat's records;
//! - [`Options`]: on-error mode, record-size cap, sort memory, temporary directory, the formats'
//!   options;
//! - the result: one [`Converted`] per source (the counts, and every output with its path,
//!   length and, when [`Options::content_hashes`] asks, SHA-256), or a [`PipelineError`].
//!
//! [`convert`] owns the atomic commit of every output (nothing is put in place unless every
//! input converted), the rejects file, the de-duplication of warnings across passes, and
//! partitioned datasets. It never prints, exits, or reads the clock or the environment.
//!
//! ```no_run
//! use std::path::Path;
//! use chatdump_pipeline::{Destination, Format, NoEvents, Options, Plan, Source, convert};
//!
//! let sources = [Source::path(Path::new("chat.csv"))];
//! let plan = Plan::new(&[Format::Jsonl, Format::Html], Destination::Directory("out".into()));
//! let options = Options::new("/tmp".into(), "0.1.0");
//! let converted = convert(&sources, &plan, &options, &mut NoEvents)?;
//! println!("{} messages", converted[0].summary.messages);
//! # Ok::<(), chatdump_pipeline::PipelineError>(())
//! ```

#![cfg_attr(
    test,
    allow(
        clippy::disallowed_methods,
        reason = "unit tests may use the system temporary directory and the clock"
    )
)]

mod conversion;
mod convert;
mod error;
mod format;
mod hash;
mod input;
mod media;
mod plan;
mod speech;

pub use chatdump_core::attachment::MediaMode;
pub use chatdump_core::export::{OnError, Summary, Warning};
pub use chatdump_media::MediaOptions;
pub use conversion::Conversion;
pub use convert::{Converted, Events, NoEvents, Options, Written, convert};
pub use error::PipelineError;
pub use format::{Format, FormatOptions};
pub use input::{Input, MeetingParts, Source, session_stem};
pub use media::{MediaLayout, MediaSettings, MediaSummary, StoredFile};
pub use plan::{Destination, Plan};
pub use speech::{DEFAULT_MAX_TRANSCRIPT_BYTES, Part, SpeechCounts};
