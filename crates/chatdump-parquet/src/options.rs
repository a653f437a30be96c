//! Writer options: compression and row-group bounds, and the Parquet writer properties they map to.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use chatdump_core::export::ExportContext;
use chatdump_core::time::format_utc;
use parquet::basic::{Compression as ParquetCompression, Encoding, ZstdLevel};
use parquet::file::metadata::KeyValue;
use parquet::file::properties::{
    EnabledStatistics, WriterProperties, WriterPropertiesBuilder, WriterVersion,
};
use parquet::schema::types::ColumnPath;

use crate::participants::Participants;
use crate::schema::{
    DICTIONARY_COLUMNS, FREE_TEXT_COLUMNS, SCHEMA_VERSION, SCHEMA_VERSION_MEDIA,
    SCHEMA_VERSION_PARTICIPANTS, SNAPPY_UNCOMPRESSED_COLUMNS, UNSTATISTICAL_COLUMNS,
};

/// The default number of rows in a row group: 65,536. Large enough for engines to read
/// efficiently (`DuckDB` finds little difference above 100,000 rows, and a slowdown only below
/// 5,000), small enough that a whole conversion (reader included) stays under 64 MiB of peak
/// memory, at 1M and at 5M messages.
pub const DEFAULT_ROW_GROUP_ROWS: usize = 65_536;

/// The default bound on a row group's estimated encoded size: 32 MiB. A row group is closed at
/// whichever of the row and byte bounds comes first, so long messages cannot make it grow past
/// this.
pub const DEFAULT_ROW_GROUP_BYTES: usize = 32 << 20;

/// The Parquet compression codec.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Compression {
    /// Snappy: read by every engine (the default).
    #[default]
    Snappy,
    /// Zstandard at the given level (1–22; `zstd` alone means level 3).
    Zstd(i32),
    /// No compression.
    None,
}

/// The default zstd level, as `--compression zstd` means it.
pub const DEFAULT_ZSTD_LEVEL: i32 = 3;

/// An unknown or out-of-range `--compression` value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CompressionError {
    /// Not one of the codecs.
    #[error("unknown compression `{0}` (use `snappy`, `zstd`, `zstd=LEVEL` or `none`)")]
    Unknown(String),
    /// A zstd level outside 1–22.
    #[error("zstd level `{0}` is not a whole number from 1 to 22")]
    Level(String),
}

impl FromStr for Compression {
    type Err = CompressionError;

    /// Parses `snappy`, `zstd`, `zstd=LEVEL` (also `zstd:LEVEL`) or `none` (also
    /// `uncompressed`), in any case.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let lower = text.trim().to_ascii_lowercase();
        match lower.as_str() {
            "snappy" => return Ok(Self::Snappy),
            "none" | "uncompressed" => return Ok(Self::None),
            "zstd" => return Ok(Self::Zstd(DEFAULT_ZSTD_LEVEL)),
            _ => {}
        }
        let Some(level) = lower
            .strip_prefix("zstd=")
            .or_else(|| lower.strip_prefix("zstd:"))
        else {
            return Err(CompressionError::Unknown(text.to_owned()));
        };
        match level.parse::<i32>() {
            Ok(level) if (1..=22).contains(&level) => Ok(Self::Zstd(level)),
            _ => Err(CompressionError::Level(level.to_owned())),
        }
    }
}

impl fmt::Display for Compression {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Snappy => f.write_str("snappy"),
            Self::Zstd(level) => write!(f, "zstd={level}"),
            Self::None => f.write_str("none"),
        }
    }
}

impl Compression {
    pub(crate) fn to_parquet(self) -> ParquetCompression {
        match self {
            Self::Snappy => ParquetCompression::SNAPPY,
            // The level was range-checked by `from_str`; an out-of-range level built by hand
            // falls back to zstd's default rather than failing the export.
            Self::Zstd(level) => {
                ParquetCompression::ZSTD(ZstdLevel::try_new(level).unwrap_or_default())
            }
            Self::None => ParquetCompression::UNCOMPRESSED,
        }
    }
}

/// Options for [`crate::ParquetWriter`] and [`crate::Dataset`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParquetOptions {
    /// The compression codec.
    pub compression: Compression,
    /// The most rows in one row group (at least 1).
    pub row_group_rows: usize,
    /// The most estimated encoded bytes in one row group (at least 1).
    pub row_group_bytes: usize,
    /// Participants to join by `participant_id`: `Some` writes schema version 2, with the
    /// nullable columns `user_id` and `custom_participant_id` (see [`crate::ParquetWriter`]).
    pub participants: Option<Arc<Participants>>,
}

impl Default for ParquetOptions {
    fn default() -> Self {
        Self {
            compression: Compression::default(),
            row_group_rows: DEFAULT_ROW_GROUP_ROWS,
            row_group_bytes: DEFAULT_ROW_GROUP_BYTES,
            participants: None,
        }
    }
}

/// The key-value metadata keys written in every file's footer.
pub mod metadata_keys {
    /// The schema version (`"1"`), as in the `schema_version` column.
    pub const SCHEMA_VERSION: &str = "chatdump.schema_version";
    /// The version of chatdump that wrote the file.
    pub const TOOL_VERSION: &str = "chatdump.tool_version";
    /// The input the rows came from (a file name, or `<stdin>`).
    pub const SOURCE: &str = "chatdump.source";
    /// When the export ran; present only when the caller asked for it (never by default, so
    /// the same input gives the same bytes).
    pub const GENERATED_AT: &str = "chatdump.generated_at";
    /// The transcript schema version (`"1"`), in speech transcript files
    /// ([`crate::UtteranceParquetWriter`]) instead of [`SCHEMA_VERSION`].
    pub const TRANSCRIPT_SCHEMA_VERSION: &str = "chatdump.transcript_schema_version";
}

impl ParquetOptions {
    /// The writer properties: codec, dictionary only on repeated strings, statistics, bounded
    /// row groups, Parquet format 1.0, and the chatdump key-value metadata.
    pub(crate) fn writer_properties(&self, context: &ExportContext) -> WriterProperties {
        let version = if context.attachments.is_some() {
            SCHEMA_VERSION_MEDIA
        } else if self.participants.is_some() {
            SCHEMA_VERSION_PARTICIPANTS
        } else {
            SCHEMA_VERSION
        };
        let builder = self.base_properties(context, metadata_keys::SCHEMA_VERSION, version);
        column_settings(builder, self.compression, self.participants.is_some()).build()
    }

    /// The settings every file shares, chat or transcript: bounded row groups and the footer
    /// metadata, `version_key` = `version` first, then the tool version, the source and (only
    /// when the caller gave it) the export time.
    pub(crate) fn base_properties(
        &self,
        context: &ExportContext,
        version_key: &str,
        version: i32,
    ) -> WriterPropertiesBuilder {
        let mut metadata = vec![
            KeyValue::new(version_key.to_owned(), version.to_string()),
            KeyValue::new(
                metadata_keys::TOOL_VERSION.to_owned(),
                context.tool_version.clone(),
            ),
            KeyValue::new(metadata_keys::SOURCE.to_owned(), context.source.clone()),
        ];
        if let Some(generated_at) = context.generated_at {
            metadata.push(KeyValue::new(
                metadata_keys::GENERATED_AT.to_owned(),
                format_utc(generated_at),
            ));
        }
        WriterProperties::builder()
            .set_max_row_group_row_count(Some(self.row_group_rows.max(1)))
            .set_max_row_group_bytes(Some(self.row_group_bytes.max(1)))
            .set_key_value_metadata(Some(metadata))
    }
}

/// The settings every chatdump Parquet file shares, whoever writes it (the exporter, or
/// `chatdump compact` rewriting files): Parquet format 1.0, the codec (except on the columns
/// that codec cannot shrink), dictionary encoding only on repeated columns (with `participants`,
/// the schema-2 columns too), the statistics level of each column, and delta-encoded
/// `created_at`.
#[must_use]
pub fn column_settings(
    builder: WriterPropertiesBuilder,
    compression: Compression,
    participants: bool,
) -> WriterPropertiesBuilder {
    let mut builder = builder
        .set_writer_version(WriterVersion::PARQUET_1_0)
        .set_compression(compression.to_parquet())
        .set_dictionary_enabled(false)
        .set_statistics_enabled(EnabledStatistics::Page);
    for column in DICTIONARY_COLUMNS {
        builder = builder.set_column_dictionary_enabled(ColumnPath::from(*column), true);
    }
    if participants {
        for column in ["user_id", "custom_participant_id"] {
            builder = builder.set_column_dictionary_enabled(ColumnPath::from(column), true);
        }
    }
    for column in FREE_TEXT_COLUMNS {
        // Min/max of free text prunes little; chunk-level statistics (with null counts)
        // are kept, the per-page index is not worth its cost.
        builder = builder
            .set_column_statistics_enabled(ColumnPath::from(*column), EnabledStatistics::Chunk);
    }
    for column in UNSTATISTICAL_COLUMNS {
        builder = builder
            .set_column_statistics_enabled(ColumnPath::from(*column), EnabledStatistics::None);
    }
    // Timestamps in (nearly) increasing order: their deltas take a byte or two, where PLAIN
    // takes eight and leaves the codec a quarter to save.
    builder = builder.set_column_encoding(
        ColumnPath::from("created_at"),
        Encoding::DELTA_BINARY_PACKED,
    );
    if compression == Compression::Snappy {
        for column in SNAPPY_UNCOMPRESSED_COLUMNS {
            builder = builder.set_column_compression(
                ColumnPath::from(*column),
                ParquetCompression::UNCOMPRESSED,
            );
        }
    }
    builder
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compression_parses() {
        assert_eq!("snappy".parse(), Ok(Compression::Snappy));
        assert_eq!("ZSTD".parse(), Ok(Compression::Zstd(3)));
        assert_eq!("zstd=9".parse(), Ok(Compression::Zstd(9)));
        assert_eq!("zstd:1".parse(), Ok(Compression::Zstd(1)));
        assert_eq!("none".parse(), Ok(Compression::None));
        assert!(matches!(
            "zstd=0".parse::<Compression>(),
            Err(CompressionError::Level(_))
        ));
        assert!(matches!(
            "zstd=23".parse::<Compression>(),
            Err(CompressionError::Level(_))
        ));
        assert!(matches!(
            "gzip".parse::<Compression>(),
            Err(CompressionError::Unknown(_))
        ));
        for codec in [Compression::Snappy, Compression::Zstd(7), Compression::None] {
            assert_eq!(codec.to_string().parse(), Ok(codec));
        }
    }
}
