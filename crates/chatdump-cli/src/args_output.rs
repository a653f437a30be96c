//! Command-line flags that shape the Parquet and JSONL outputs, and the Parquet dataset planning
//! that `convert` calls.

use std::path::{Path, PathBuf};

use chatdump_jsonl::{Flavor, validate_index_name};
use chatdump_parquet::{Compression, DEFAULT_ROW_GROUP_ROWS, Dataset, ParquetOptions};
use clap::{Args, ValueEnum};

/// How a Parquet output is split into files.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum PartitionBy {
    /// A hive-partitioned dataset: `ROOT/date=YYYY-MM-DD/<session_id>.parquet`.
    Date,
}

/// The shape of the JSONL output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum JsonlFlavorArg {
    /// One message object per line.
    Plain,
    /// An Elasticsearch / OpenSearch `_bulk` body (needs `--index`).
    #[value(alias = "opensearch")]
    Elasticsearch,
    /// Meilisearch documents: one primary-key field `id`.
    Meilisearch,
    /// Typesense documents: string `id`, int64 `created_at_ms`.
    Typesense,
}

/// Flags for the Parquet and JSONL outputs.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Parquet and JSONL output")]
pub(crate) struct OutputArgs {
    /// Parquet compression: `snappy`, `zstd` (level 3), `zstd=LEVEL` (1-22) or `none`.
    #[arg(long, value_name = "CODEC", default_value = "snappy", value_parser = parse_compression)]
    pub(crate) compression: Compression,
    /// The most rows in one Parquet row group (a group is also closed at 32 MiB).
    #[arg(long, value_name = "ROWS", default_value_t = DEFAULT_ROW_GROUP_ROWS, value_parser = parse_rows)]
    pub(crate) row_group_size: usize,
    /// Write Parquet as a hive-partitioned dataset under the output directory:
    /// `DIR/date=YYYY-MM-DD/<session_id>.parquet`; exporting a session again replaces its file.
    #[arg(long, value_enum, value_name = "KEY")]
    pub(crate) partition_by: Option<PartitionBy>,
    /// The JSONL shape: plain, or ready for a search index.
    #[arg(long, value_enum, value_name = "FLAVOR", default_value = "plain")]
    pub(crate) jsonl_flavor: JsonlFlavorArg,
    /// The Elasticsearch / OpenSearch index named in every `_bulk` action line.
    #[arg(
        long,
        value_name = "NAME",
        value_parser = parse_index,
        required_if_eq("jsonl_flavor", "elasticsearch")
    )]
    pub(crate) index: Option<String>,
}

fn parse_compression(text: &str) -> Result<Compression, String> {
    text.parse()
        .map_err(|error: chatdump_parquet::CompressionError| error.to_string())
}

fn parse_rows(text: &str) -> Result<usize, String> {
    match text.trim().replace('_', "").parse::<usize>() {
        Ok(rows) if rows > 0 => Ok(rows),
        _ => Err(format!("`{text}` is not a row count of at least 1")),
    }
}

fn parse_index(text: &str) -> Result<String, String> {
    validate_index_name(text).map(|()| text.to_owned())
}

impl OutputArgs {
    /// The Parquet writer options.
    pub(crate) fn parquet_options(&self) -> ParquetOptions {
        ParquetOptions {
            compression: self.compression,
            row_group_rows: self.row_group_size,
            ..ParquetOptions::default()
        }
    }

    /// The JSONL flavour.
    pub(crate) fn jsonl_flavor(&self) -> Flavor {
        match self.jsonl_flavor {
            JsonlFlavorArg::Plain => Flavor::Plain,
            JsonlFlavorArg::Elasticsearch => Flavor::Elasticsearch {
                index: self.index.clone().unwrap_or_default(),
            },
            JsonlFlavorArg::Meilisearch => Flavor::Meilisearch,
            JsonlFlavorArg::Typesense => Flavor::Typesense,
        }
    }

    /// The partitioned dataset Parquet is written to, if `--partition-by` asks for one: its root
    /// is the output directory (a path without `.parquet` names a directory here too).
    pub(crate) fn dataset(&self, output: &Path) -> Result<Option<Dataset>, String> {
        if self.partition_by.is_none() {
            return Ok(None);
        }
        if output.as_os_str() == "-" {
            return Err("--partition-by writes a directory, not standard output".into());
        }
        if output.is_file()
            || output
                .extension()
                .is_some_and(|extension| extension.eq_ignore_ascii_case("parquet"))
        {
            return Err(format!(
                "--partition-by writes a directory of files: give a directory, not `{}`",
                chatdump_core::escape::escape_for_terminal(&output.display().to_string(), 200)
            ));
        }
        Ok(Some(Dataset::new(
            PathBuf::from(output),
            self.parquet_options(),
        )))
    }
}
