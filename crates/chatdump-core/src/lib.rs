//! `chatdump-core`: parse a Dyte / Cloudflare `RealtimeKit` chat dump into one normalised,
//! chronologically ordered message model, and push it into format writers.
//!
//! The pieces, in the order data flows through them:
//! - [`reader::ChatReader`] reads the CSV dump record by record, strictly, naming the file,
//!   physical line, column and offending value of every error;
//! - [`model::Message`] is the normalised message, with its typed [`model::Body`];
//! - [`order`] puts messages in chronological order (`created_at`, then `id`) in bounded memory,
//!   spilling sorted runs to temporary files when a dump is out of order, and drops identical
//!   duplicates;
//! - [`export::Exporter`] is the push API (begin / message / finish) every format implements,
//!   and [`export::run`] drives a whole conversion;
//! - [`output::AtomicFile`] writes an output beside its target and renames it only on success.
//!
//! The library never prints, never reads the clock or the environment: callers pass everything in.
//!
//! ```
//! use chatdump_core::reader::{ChatReader, ReaderOptions};
//!
//! let csv = "id,participantId,sessionId,meetingId,displayName,pinned,isEdited,payloadType,payload,createdAt\n\
//!            m1,p1,s1,mt1,Ann,false,false,TEXT_MESSAGE,hello,2024-05-14T09:00:04.112Z\n";
//! let mut reader = ChatReader::new(csv.as_bytes(), "inline.csv", ReaderOptions::default())?;
//! let message = reader.next_message().unwrap()?;
//! assert_eq!(message.display_name, "Ann");
//! assert_eq!(message.created_at.to_string(), "2024-05-14T09:00:04.112Z");
//! # Ok::<(), chatdump_core::error::ReadError>(())
//! ```

#![cfg_attr(
    test,
    allow(
        clippy::disallowed_methods,
        reason = "unit tests may use the system temporary directory and the clock"
    )
)]

pub mod attachment;
pub mod error;
pub mod escape;
pub mod export;
pub mod model;
pub mod order;
pub mod output;
pub mod reader;
pub mod speech;
pub mod stem;
pub mod temp;
pub mod time;

pub use error::{ReadError, RecordError};
pub use export::{ExportError, Exporter};
pub use model::{Body, Message, PayloadType, Position};
