//! Parquet output for chatdump: one file per dump ([`ParquetWriter`]) or a hive-partitioned
//! dataset of one file per session ([`Dataset`]).
//!
//! The Arrow schema is documented on [`ParquetWriter`]; it carries the same fields, under the
//! same names, as the JSONL output, with types every warehouse reads natively: `Utf8` strings,
//! booleans, `Int64` sizes and a `Timestamp(Microsecond, "UTC")` creation time.
//!
//! ```
//! use chatdump_core::export::{ExportContext, Exporter};
//! use chatdump_core::reader::{ChatReader, ReaderOptions};
//! use chatdump_parquet::{ParquetOptions, ParquetWriter};
//!
//! let csv = "id,participantId,sessionId,meetingId,displayName,pinned,isEdited,payloadType,payload,createdAt\n\
//!            m1,p1,s1,mt1,Ann,false,false,TEXT_MESSAGE,hello,2024-05-14T09:00:04.112Z\n";
//! let mut reader = ChatReader::new(csv.as_bytes(), "inline.csv", ReaderOptions::default())?;
//! let mut writer = ParquetWriter::new(Vec::new(), ParquetOptions::default());
//! writer.begin(&ExportContext::default())?;
//! writer.message(&reader.next_message().unwrap()?)?;
//! writer.finish()?;
//! let bytes = writer.into_inner().unwrap();
//! assert_eq!(&bytes[..4], b"PAR1");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#![cfg_attr(
    test,
    allow(
        clippy::disallowed_methods,
        reason = "unit tests may use the system temporary directory and the clock"
    )
)]

mod dataset;
mod options;
mod participants;
mod schema;
mod utterance;
mod writer;

pub use dataset::{DEFAULT_DATASET_MEMORY, Dataset, DatasetWriter, date_partition};
pub use options::{
    Compression, CompressionError, DEFAULT_ROW_GROUP_BYTES, DEFAULT_ROW_GROUP_ROWS,
    DEFAULT_ZSTD_LEVEL, ParquetOptions, column_settings, metadata_keys,
};
pub use participants::{ParticipantIds, Participants};
pub use schema::{
    SCHEMA_VERSION, SCHEMA_VERSION_MEDIA, SCHEMA_VERSION_PARTICIPANTS, UTC, schema,
    schema_with_media, schema_with_participants,
};
pub use utterance::{TRANSCRIPT_SCHEMA_VERSION, UtteranceParquetWriter, transcript_schema};
pub use writer::ParquetWriter;
