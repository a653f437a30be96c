//! [`UtteranceParquetWriter`]: the speech transcript as one Parquet file.

use std::io::Write;
use std::sync::Arc;

use arrow::array::{
    ArrayRef, Int32Array, Int64Builder, RecordBatch, StringBuilder, TimestampMicrosecondBuilder,
};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use chatdump_core::export::{ExportContext, ExportError};
use chatdump_core::speech::{Utterance, UtteranceSequence};
use jiff::Timestamp;
use parquet::arrow::ArrowWriter;
use parquet::basic::Encoding;
use parquet::file::properties::{EnabledStatistics, WriterPropertiesBuilder, WriterVersion};
use parquet::schema::types::ColumnPath;

use crate::options::{Compression, ParquetOptions, metadata_keys};
use crate::schema::UTC;

/// The version of the transcript schema, written in the `schema_version` column and in the
/// `chatdump.transcript_schema_version` footer key. It matches the JSONL transcript schema
/// version and is versioned apart from the chat's [`crate::SCHEMA_VERSION`].
pub const TRANSCRIPT_SCHEMA_VERSION: i32 = 1;

/// Rows per record batch handed to the encoder.
const BATCH_ROWS: usize = 4096;

/// Transcript columns written with dictionary encoding: values that repeat from row to row.
const DICTIONARY_COLUMNS: &[&str] = &[
    "schema_version",
    "session_id",
    "meeting_id",
    "participant_id",
    "user_id",
    "custom_participant_id",
    "display_name",
];

/// The Arrow schema of transcript files; see [`UtteranceParquetWriter`].
#[must_use]
pub fn transcript_schema() -> SchemaRef {
    let utf8 = |name: &str, nullable: bool| Field::new(name, DataType::Utf8, nullable);
    let timestamp = |name: &str, nullable: bool| {
        Field::new(
            name,
            DataType::Timestamp(TimeUnit::Microsecond, Some(UTC.into())),
            nullable,
        )
    };
    Arc::new(Schema::new(vec![
        Field::new("schema_version", DataType::Int32, false),
        utf8("session_id", true),
        utf8("meeting_id", true),
        utf8("participant_id", true),
        utf8("user_id", true),
        utf8("custom_participant_id", true),
        utf8("display_name", false),
        timestamp("start", false),
        timestamp("end", true),
        utf8("text", false),
        Field::new("seq", DataType::Int64, false),
    ]))
}

/// Writes the utterances of a speech transcript as one Parquet file, in the order given, which
/// must be time order (by `start`): an utterance that starts before the previous one is an
/// error, since `seq` claims time order.
///
/// # Schema (version 1)
///
/// The fields of [`chatdump_jsonl`'s `UtteranceWriter`] under the same names and with the same
/// values, but for `start_ms` and `end_ms` (`start` and `end` carry them exactly): `start` and
/// `end` are `Timestamp(Microsecond, "UTC")`, `seq` is `Int64`, the rest `Utf8`. The columns,
/// types and nullability are documented once, in `docs/formats/transcript.md` (a test checks
/// that page against [`transcript_schema`]). `session_id` and `meeting_id` come from
/// [`Self::with_session_id`] and [`Self::with_meeting_id`] as in JSONL.
///
/// The footer carries `chatdump.transcript_schema_version` (never `chatdump.schema_version`, so
/// a transcript file is not taken for a chat file), `chatdump.tool_version`, `chatdump.source`
/// and, only when the caller gives it, `chatdump.generated_at`. Nothing depends on the clock: the
/// same input gives the same bytes.
///
/// # Settings
///
/// From [`ParquetOptions`]: the codec (snappy by default) and the row-group bounds;
/// [`ParquetOptions::participants`] is ignored (utterances carry their own user ids).
/// Dictionary encoding on the id and name columns, `DELTA_BINARY_PACKED` on `start`, `end` and
/// `seq`, page statistics on every column but `text` (none); Parquet format 1.0.
///
/// # Memory
///
/// Encoding runs on the caller's thread (transcripts are small beside chats); memory is
/// bounded by one batch of 4096 rows plus the row group in flight.
///
/// [`chatdump_jsonl`'s `UtteranceWriter`]: ../chatdump_jsonl/struct.UtteranceWriter.html
pub struct UtteranceParquetWriter<W: Write + Send> {
    writer: ArrowWriter<W>,
    schema: SchemaRef,
    columns: Columns,
    sequence: UtteranceSequence,
}

impl<W: Write + Send> std::fmt::Debug for UtteranceParquetWriter<W> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UtteranceParquetWriter")
            .field("utterances", &self.sequence.count())
            .finish_non_exhaustive()
    }
}

impl<W: Write + Send> UtteranceParquetWriter<W> {
    /// Creates a writer over `out`; `context` gives the footer's tool version and source.
    pub fn new(
        out: W,
        options: &ParquetOptions,
        context: &ExportContext,
    ) -> Result<Self, ExportError> {
        let builder = options.base_properties(
            context,
            metadata_keys::TRANSCRIPT_SCHEMA_VERSION,
            TRANSCRIPT_SCHEMA_VERSION,
        );
        let properties = column_settings(builder, options.compression).build();
        let schema = transcript_schema();
        let writer = ArrowWriter::try_new(out, Arc::clone(&schema), Some(properties))
            .map_err(ExportError::format)?;
        Ok(Self {
            writer,
            schema,
            columns: Columns::default(),
            sequence: UtteranceSequence::default(),
        })
    }

    /// Sets the session id written when an utterance names none (the chat's session).
    #[must_use]
    pub fn with_session_id(mut self, session_id: Option<String>) -> Self {
        self.sequence.session_id = session_id;
        self
    }

    /// Sets the meeting id written on every row (the chat's meeting).
    #[must_use]
    pub fn with_meeting_id(mut self, meeting_id: Option<String>) -> Self {
        self.sequence.meeting_id = meeting_id;
        self
    }

    /// Appends one utterance as one row.
    pub fn utterance(&mut self, utterance: &Utterance) -> Result<(), ExportError> {
        let placed = self.sequence.next(utterance)?;
        let columns = &mut self.columns;
        columns.session_id.append_option(placed.session_id);
        columns.meeting_id.append_option(placed.meeting_id);
        columns
            .participant_id
            .append_option(utterance.participant_id.as_deref());
        columns.user_id.append_option(utterance.user_id.as_deref());
        columns
            .custom_participant_id
            .append_option(utterance.custom_participant_id.as_deref());
        columns.display_name.append_value(&utterance.display_name);
        columns.start.append_value(utterance.start.as_microsecond());
        columns
            .end
            .append_option(utterance.end.map(Timestamp::as_microsecond));
        columns.text.append_value(&utterance.text);
        columns
            .seq
            .append_value(i64::try_from(placed.seq).unwrap_or(i64::MAX));
        columns.rows += 1;
        if columns.rows >= BATCH_ROWS {
            self.write_batch()?;
        }
        Ok(())
    }

    /// Writes the last rows and the footer, and returns the output, flushed.
    pub fn finish(mut self) -> Result<W, ExportError> {
        self.write_batch()?;
        let mut out = self.writer.into_inner().map_err(ExportError::format)?;
        out.flush()?;
        Ok(out)
    }

    fn write_batch(&mut self) -> Result<(), ExportError> {
        if self.columns.rows == 0 {
            return Ok(());
        }
        let batch = self
            .columns
            .finish(&self.schema)
            .map_err(ExportError::format)?;
        self.writer.write(&batch).map_err(ExportError::format)
    }
}

/// The transcript's column settings: Parquet format 1.0, the codec, dictionaries on repeated
/// columns only, no statistics on `text`, delta-encoded times and `seq`.
fn column_settings(
    builder: WriterPropertiesBuilder,
    compression: Compression,
) -> WriterPropertiesBuilder {
    let mut builder = builder
        .set_writer_version(WriterVersion::PARQUET_1_0)
        .set_compression(compression.to_parquet())
        .set_dictionary_enabled(false)
        .set_statistics_enabled(EnabledStatistics::Page)
        .set_column_statistics_enabled(ColumnPath::from("text"), EnabledStatistics::None);
    for column in DICTIONARY_COLUMNS {
        builder = builder.set_column_dictionary_enabled(ColumnPath::from(*column), true);
    }
    for column in ["start", "end", "seq"] {
        builder =
            builder.set_column_encoding(ColumnPath::from(column), Encoding::DELTA_BINARY_PACKED);
    }
    builder
}

/// Builders for one record batch.
#[derive(Default)]
struct Columns {
    session_id: StringBuilder,
    meeting_id: StringBuilder,
    participant_id: StringBuilder,
    user_id: StringBuilder,
    custom_participant_id: StringBuilder,
    display_name: StringBuilder,
    start: TimestampMicrosecondBuilder,
    end: TimestampMicrosecondBuilder,
    text: StringBuilder,
    seq: Int64Builder,
    rows: usize,
}

impl Columns {
    /// Takes the appended rows as a record batch and resets the builders.
    fn finish(&mut self, schema: &SchemaRef) -> Result<RecordBatch, arrow::error::ArrowError> {
        let rows = std::mem::take(&mut self.rows);
        let columns: Vec<ArrayRef> = vec![
            Arc::new(Int32Array::from_value(TRANSCRIPT_SCHEMA_VERSION, rows)),
            Arc::new(self.session_id.finish()),
            Arc::new(self.meeting_id.finish()),
            Arc::new(self.participant_id.finish()),
            Arc::new(self.user_id.finish()),
            Arc::new(self.custom_participant_id.finish()),
            Arc::new(self.display_name.finish()),
            Arc::new(self.start.finish().with_timezone(UTC)),
            Arc::new(self.end.finish().with_timezone(UTC)),
            Arc::new(self.text.finish()),
            Arc::new(self.seq.finish()),
        ];
        RecordBatch::try_new(Arc::clone(schema), columns)
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write as _;

    use arrow::array::{Array, AsArray};
    use arrow::datatypes::{Int64Type, TimestampMicrosecondType};
    use chatdump_core::model::Position;
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
    use parquet::basic::Compression as ParquetCompression;
    use parquet::file::metadata::ParquetMetaData;

    use super::*;

    fn utterance(start: &str, end: Option<&str>, text: &str) -> Utterance {
        Utterance {
            session_id: None,
            participant_id: Some("peer-1".into()),
            user_id: Some("user-1".into()),
            custom_participant_id: Some("cust-1".into()),
            display_name: "Ann".into(),
            start: start.parse().unwrap(),
            end: end.map(|end| end.parse().unwrap()),
            text: text.into(),
            position: Position { line: 2, byte: 90 },
            index: 0,
        }
    }

    const HOSTILE: &str = "\u{202e}evil\u{0}\u{1b}[31m <script>alert(1)</script> \"q\" \\ \n";

    /// Hostile text, one utterance without an end and ids, one naming its session, one with
    /// sub-millisecond digits.
    fn sample() -> Vec<Utterance> {
        let mut anonymous = utterance("2024-05-14T09:00:07Z", None, HOSTILE);
        anonymous.participant_id = None;
        anonymous.user_id = None;
        anonymous.custom_participant_id = None;
        anonymous.display_name = String::new();
        let mut named = utterance(
            "2024-05-14T09:00:07Z",
            Some("2024-05-14T09:00:09.000500Z"),
            "tie",
        );
        named.session_id = Some("s1".into());
        vec![
            utterance(
                "2024-05-14T09:00:05.250Z",
                Some("2024-05-14T09:00:06.500Z"),
                "hello",
            ),
            anonymous,
            named,
        ]
    }

    fn context() -> ExportContext {
        ExportContext {
            source: "t.csv".into(),
            tool_version: "0.0.0-test".into(),
            generated_at: None,
            speech: None,
            attachments: None,
        }
    }

    fn write(utterances: &[Utterance], options: &ParquetOptions) -> Result<Vec<u8>, ExportError> {
        let mut writer = UtteranceParquetWriter::new(Vec::new(), options, &context())?
            .with_session_id(Some("s1".into()))
            .with_meeting_id(Some("mt1".into()));
        for utterance in utterances {
            writer.utterance(utterance)?;
        }
        writer.finish()
    }

    fn read(bytes: &[u8]) -> (Vec<RecordBatch>, Arc<ParquetMetaData>) {
        let mut file = tempfile::tempfile().unwrap();
        file.write_all(bytes).unwrap();
        let builder = ParquetRecordBatchReaderBuilder::try_new(file).unwrap();
        let metadata = Arc::clone(builder.metadata());
        let batches = builder.build().unwrap().map(Result::unwrap).collect();
        (batches, metadata)
    }

    #[test]
    fn utterances_round_trip_with_their_types_and_values() {
        let bytes = write(&sample(), &ParquetOptions::default()).unwrap();
        let (batches, metadata) = read(&bytes);
        assert_eq!(batches.len(), 1);
        let batch = &batches[0];
        assert_eq!(
            batch.schema(),
            transcript_schema(),
            "the Arrow types restored"
        );
        assert_eq!(batch.num_rows(), 3);
        let strings = |name: &str| -> Vec<Option<String>> {
            batch
                .column_by_name(name)
                .unwrap()
                .as_string::<i32>()
                .iter()
                .map(|value| value.map(str::to_owned))
                .collect()
        };
        let some = |value: &str| Some(value.to_owned());
        assert_eq!(strings("session_id"), [some("s1"), some("s1"), some("s1")]);
        assert_eq!(
            strings("meeting_id"),
            [some("mt1"), some("mt1"), some("mt1")]
        );
        assert_eq!(
            strings("participant_id"),
            [some("peer-1"), None, some("peer-1")]
        );
        assert_eq!(strings("user_id"), [some("user-1"), None, some("user-1")]);
        assert_eq!(
            strings("custom_participant_id"),
            [some("cust-1"), None, some("cust-1")]
        );
        assert_eq!(
            strings("display_name"),
            [some("Ann"), some(""), some("Ann")]
        );
        assert_eq!(strings("text"), [some("hello"), some(HOSTILE), some("tie")]);
        let times = |name: &str| -> Vec<Option<i64>> {
            let column = batch.column_by_name(name).unwrap();
            let column = column.as_primitive::<TimestampMicrosecondType>();
            assert_eq!(column.timezone(), Some("UTC"));
            column.iter().collect()
        };
        assert_eq!(
            times("start"),
            [
                Some(1_715_677_205_250_000),
                Some(1_715_677_207_000_000),
                Some(1_715_677_207_000_000)
            ]
        );
        assert_eq!(
            times("end"),
            [
                Some(1_715_677_206_500_000),
                None,
                Some(1_715_677_209_000_500)
            ]
        );
        let seq = batch.column_by_name("seq").unwrap();
        let seq: Vec<_> = seq.as_primitive::<Int64Type>().iter().collect();
        assert_eq!(seq, [Some(0), Some(1), Some(2)]);
        let version = batch.column_by_name("schema_version").unwrap();
        assert_eq!(version.null_count(), 0);
        assert_eq!(
            version
                .as_primitive::<arrow::datatypes::Int32Type>()
                .value(2),
            1
        );

        let footer = metadata.file_metadata().key_value_metadata().unwrap();
        let value = |key: &str| {
            footer
                .iter()
                .find(|entry| entry.key == key)
                .and_then(|entry| entry.value.clone())
        };
        assert_eq!(value("chatdump.transcript_schema_version"), some("1"));
        assert_eq!(value("chatdump.source"), some("t.csv"));
        assert_eq!(value("chatdump.tool_version"), some("0.0.0-test"));
        assert_eq!(
            value("chatdump.schema_version"),
            None,
            "not taken for a chat file"
        );
        assert_eq!(value("chatdump.generated_at"), None, "no clock");
        // The Parquet logical type of the times.
        let start = metadata.file_metadata().schema_descr().column(7);
        assert_eq!(start.name(), "start");
        assert_eq!(start.physical_type(), parquet::basic::Type::INT64);
        let logical = format!("{:?}", start.logical_type_ref());
        assert!(
            logical.contains("Timestamp")
                && logical.contains("is_adjusted_to_u_t_c: true")
                && logical.contains("MICROS"),
            "{logical}"
        );
    }

    #[test]
    fn the_same_utterances_give_the_same_bytes() {
        let options = ParquetOptions::default();
        assert_eq!(
            write(&sample(), &options).unwrap(),
            write(&sample(), &options).unwrap()
        );
    }

    #[test]
    fn compression_and_row_groups_follow_the_options() {
        let many: Vec<Utterance> = (0..10)
            .map(|i| utterance(&format!("2024-05-14T09:00:{i:02}Z"), None, "x"))
            .collect();
        let (_, metadata) = read(&write(&many, &ParquetOptions::default()).unwrap());
        assert_eq!(metadata.num_row_groups(), 1);
        let codec = |metadata: &ParquetMetaData| metadata.row_group(0).column(9).compression();
        assert_eq!(
            codec(&metadata),
            ParquetCompression::SNAPPY,
            "snappy by default"
        );
        let options = ParquetOptions {
            compression: Compression::Zstd(3),
            row_group_rows: 4,
            ..ParquetOptions::default()
        };
        let (batches, metadata) = read(&write(&many, &options).unwrap());
        assert_eq!(metadata.num_row_groups(), 3);
        assert!(matches!(codec(&metadata), ParquetCompression::ZSTD(_)));
        assert_eq!(batches.iter().map(RecordBatch::num_rows).sum::<usize>(), 10);
    }

    #[test]
    fn out_of_order_utterances_and_other_sessions_are_errors() {
        let mut utterances = sample();
        utterances.swap(0, 1);
        let error = write(&utterances, &ParquetOptions::default())
            .unwrap_err()
            .to_string();
        assert!(error.contains("time order"), "{error}");
        let mut utterances = sample();
        utterances[2].session_id = Some("other\u{1b}".into());
        let error = write(&utterances, &ParquetOptions::default())
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("`other") && error.contains("`s1`"),
            "{error}"
        );
        assert!(!error.contains('\u{1b}'), "{error}");
    }
}
