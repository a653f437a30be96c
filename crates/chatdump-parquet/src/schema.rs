//! The Arrow schema (version 1, and version 2 with the participant columns) and the column
//! builders that turn messages into record batches.

use std::sync::Arc;

use arrow::array::{
    ArrayRef, BooleanBuilder, Int32Array, Int64Builder, RecordBatch, StringBuilder,
    TimestampMicrosecondBuilder,
};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use arrow::error::ArrowError;
use chatdump_core::attachment::Attachments;
use chatdump_core::model::{BodyColumns, Message};
use serde::ser::{SerializeMap, Serializer};

use crate::participants::Participants;

/// The version of the Parquet schema, written in the `schema_version` column and in the
/// `chatdump.schema_version` footer key. It matches the JSONL schema version: the two carry the
/// same fields under the same names.
pub const SCHEMA_VERSION: i32 = 1;

/// The version of the schema with the participant columns (`user_id`, `custom_participant_id`):
/// version 1 plus those two nullable columns, written when [`crate::ParquetOptions::participants`]
/// is set (bulk export).
pub const SCHEMA_VERSION_PARTICIPANTS: i32 = 2;

/// The version of the schema with the media columns (`media_path`, `media_sha256`,
/// `media_bytes`, `media_type`; issue 19, `--media`): the columns of version 1 (or 2, with the
/// participant columns) plus those four nullable columns at the end.
pub const SCHEMA_VERSION_MEDIA: i32 = 3;

/// The time zone of `created_at`.
pub const UTC: &str = "UTC";

/// Columns written with Parquet dictionary encoding: values that repeat from row to row.
pub(crate) const DICTIONARY_COLUMNS: &[&str] = &[
    "schema_version",
    "session_id",
    "meeting_id",
    "participant_id",
    "display_name",
    "payload_type",
    "kind",
    "extra",
];

/// Columns of free text, unique per row: no dictionary, chunk-level statistics only (min/max and
/// null count for the whole column chunk, no page index).
pub(crate) const FREE_TEXT_COLUMNS: &[&str] =
    &["id", "text", "quoted_text", "url", "file_name", "payload"];

/// The long free-text columns, present on nearly every row: no statistics at all. Their min/max
/// (truncated prefixes of arbitrary chat text) prunes nothing, and computing it compares every
/// value twice.
pub(crate) const UNSTATISTICAL_COLUMNS: &[&str] = &["text", "payload"];

/// Columns left uncompressed when the codec is snappy, because snappy (an LZ77 coder without
/// entropy coding) finds next to nothing in them: random UUIDs in hex (about 10 % saved, at
/// about a fifth of snappy's time) and the bit-packed deltas of `created_at` (nothing saved).
/// zstd, which entropy-codes, still compresses them.
pub(crate) const SNAPPY_UNCOMPRESSED_COLUMNS: &[&str] = &["id", "created_at"];

/// The Arrow schema of every file chatdump writes; see [`crate::ParquetWriter`] for the table.
#[must_use]
pub fn schema() -> SchemaRef {
    let utf8 = |name: &str, nullable: bool| Field::new(name, DataType::Utf8, nullable);
    Arc::new(Schema::new(vec![
        Field::new("schema_version", DataType::Int32, false),
        utf8("id", false),
        utf8("session_id", false),
        utf8("meeting_id", false),
        utf8("participant_id", false),
        utf8("display_name", false),
        Field::new("pinned", DataType::Boolean, false),
        Field::new("edited", DataType::Boolean, false),
        Field::new(
            "created_at",
            DataType::Timestamp(TimeUnit::Microsecond, Some(UTC.into())),
            false,
        ),
        utf8("payload_type", false),
        utf8("kind", false),
        utf8("text", true),
        utf8("quoted_text", true),
        utf8("url", true),
        utf8("file_name", true),
        Field::new("file_size", DataType::Int64, true),
        utf8("payload", false),
        utf8("extra", false),
    ]))
}

/// The schema with the participant columns: [`schema`] plus `user_id` and
/// `custom_participant_id`, nullable strings (version [`SCHEMA_VERSION_PARTICIPANTS`]).
#[must_use]
pub fn schema_with_participants() -> SchemaRef {
    let mut fields: Vec<Field> = schema()
        .fields()
        .iter()
        .map(|field| field.as_ref().clone())
        .collect();
    fields.push(Field::new("user_id", DataType::Utf8, true));
    fields.push(Field::new("custom_participant_id", DataType::Utf8, true));
    Arc::new(Schema::new(fields))
}

/// The schema with the media columns (version [`SCHEMA_VERSION_MEDIA`]): [`schema`], or
/// [`schema_with_participants`] when `participants`, then `media_path`, `media_sha256`
/// (nullable strings), `media_bytes` (nullable `Int64`) and `media_type` (nullable string).
#[must_use]
pub fn schema_with_media(participants: bool) -> SchemaRef {
    let base = if participants {
        schema_with_participants()
    } else {
        schema()
    };
    let mut fields: Vec<Field> = base
        .fields()
        .iter()
        .map(|field| field.as_ref().clone())
        .collect();
    fields.push(Field::new("media_path", DataType::Utf8, true));
    fields.push(Field::new("media_sha256", DataType::Utf8, true));
    fields.push(Field::new("media_bytes", DataType::Int64, true));
    fields.push(Field::new("media_type", DataType::Utf8, true));
    Arc::new(Schema::new(fields))
}

/// Builders for one record batch.
pub(crate) struct Columns {
    id: Strings,
    session_id: Strings,
    meeting_id: Strings,
    participant_id: Strings,
    display_name: Strings,
    pinned: BooleanBuilder,
    edited: BooleanBuilder,
    created_at: TimestampMicrosecondBuilder,
    payload_type: Strings,
    kind: Strings,
    text: Strings,
    quoted_text: Strings,
    url: Strings,
    file_name: Strings,
    file_size: Sizes,
    payload: Strings,
    extra: Strings,
    /// The participants to look `user_id` and `custom_participant_id` up in (schema version 2),
    /// or `None` (version 1, without those columns).
    participants: Option<Arc<Participants>>,
    user_id: Strings,
    custom_participant_id: Strings,
    /// The stored attachments to fill the media columns from (schema version 3), or `None`
    /// (no media columns).
    attachments: Option<Arc<Attachments>>,
    media_path: Strings,
    media_sha256: Strings,
    media_bytes: Int64Builder,
    media_type: Strings,
    /// Reused buffer for the `extra` JSON.
    extra_json: Vec<u8>,
    rows: usize,
    /// String bytes appended since the last batch.
    bytes: usize,
}

impl Columns {
    pub(crate) fn new() -> Self {
        Self {
            id: Strings::default(),
            session_id: Strings::default(),
            meeting_id: Strings::default(),
            participant_id: Strings::default(),
            display_name: Strings::default(),
            pinned: BooleanBuilder::new(),
            edited: BooleanBuilder::new(),
            created_at: TimestampMicrosecondBuilder::new(),
            payload_type: Strings::default(),
            kind: Strings::default(),
            text: Strings::default(),
            quoted_text: Strings::default(),
            url: Strings::default(),
            file_name: Strings::default(),
            file_size: Sizes::default(),
            payload: Strings::default(),
            extra: Strings::default(),
            participants: None,
            user_id: Strings::default(),
            custom_participant_id: Strings::default(),
            attachments: None,
            media_path: Strings::default(),
            media_sha256: Strings::default(),
            media_bytes: Int64Builder::new(),
            media_type: Strings::default(),
            extra_json: Vec::new(),
            rows: 0,
            bytes: 0,
        }
    }

    /// Adds the participant columns (schema version 2), looked up in `participants`.
    pub(crate) fn with_participants(mut self, participants: Option<Arc<Participants>>) -> Self {
        self.participants = participants;
        self
    }

    /// Adds the media columns (schema version 3), filled from `attachments`.
    pub(crate) fn set_attachments(&mut self, attachments: Option<Arc<Attachments>>) {
        self.attachments = attachments;
    }

    /// Rows appended since the last batch.
    pub(crate) fn rows(&self) -> usize {
        self.rows
    }

    /// String bytes appended since the last batch (an estimate of the batch's memory).
    pub(crate) fn bytes(&self) -> usize {
        self.bytes
    }

    /// Appends one message as one row.
    pub(crate) fn push(&mut self, message: &Message) {
        if self.rows == 0 {
            self.reserve();
        }
        let body = message.body();
        let BodyColumns {
            text,
            quoted_text,
            url,
            file_name,
            file_size,
        } = body.columns();
        let extra = if message.extra.is_empty() {
            "{}"
        } else {
            self.extra_json.clear();
            write_extra(&mut self.extra_json, &message.extra);
            // `write_extra` writes JSON from `&str`s, which is UTF-8.
            std::str::from_utf8(&self.extra_json).unwrap_or("{}")
        };

        self.id.append_value(&message.id);
        self.session_id.append_value(&message.session_id);
        self.meeting_id.append_value(&message.meeting_id);
        self.participant_id.append_value(&message.participant_id);
        self.display_name.append_value(&message.display_name);
        self.pinned.append_value(message.pinned);
        self.edited.append_value(message.edited);
        self.created_at
            .append_value(message.created_at.as_microsecond());
        self.payload_type
            .append_value(message.payload_type.as_str());
        self.kind.append_value(body.kind());
        self.text.append_option(text);
        self.quoted_text.append_option(quoted_text);
        self.url.append_option(url);
        self.file_name.append_option(file_name);
        // Sizes beyond `i64::MAX` bytes cannot be real; they are written as null.
        self.file_size
            .append_option(file_size.and_then(|size| i64::try_from(size).ok()));
        self.payload.append_value(&message.payload);
        self.extra.append_value(extra);
        if let Some(participants) = &self.participants {
            let ids = participants.get(&message.participant_id);
            self.user_id
                .append_option(ids.and_then(|ids| ids.user_id.as_deref()));
            self.custom_participant_id
                .append_option(ids.and_then(|ids| ids.custom_participant_id.as_deref()));
        }
        if let Some(attachments) = &self.attachments {
            let stored = url.and_then(|url| attachments.stored(url));
            self.media_path
                .append_option(stored.map(|stored| stored.path.as_str()));
            self.media_sha256
                .append_option(stored.map(|stored| stored.sha256.as_str()));
            self.media_bytes
                .append_option(stored.and_then(|stored| i64::try_from(stored.bytes).ok()));
            self.media_type
                .append_option(stored.map(|stored| stored.media_type.as_str()));
        }

        self.rows += 1;
        self.bytes += message.id.len()
            + message.session_id.len()
            + message.meeting_id.len()
            + message.participant_id.len()
            + message.display_name.len()
            + text.map_or(0, str::len)
            + quoted_text.map_or(0, str::len)
            + url.map_or(0, str::len)
            + file_name.map_or(0, str::len)
            + message.payload.len()
            + extra.len()
            + 128;
    }

    /// Sizes every string builder for a batch like the last one (see [`Strings`]).
    fn reserve(&mut self) {
        for column in [
            &mut self.id,
            &mut self.session_id,
            &mut self.meeting_id,
            &mut self.participant_id,
            &mut self.display_name,
            &mut self.payload_type,
            &mut self.kind,
            &mut self.text,
            &mut self.quoted_text,
            &mut self.url,
            &mut self.file_name,
            &mut self.payload,
            &mut self.extra,
            &mut self.user_id,
            &mut self.custom_participant_id,
            &mut self.media_path,
            &mut self.media_sha256,
            &mut self.media_type,
        ] {
            column.reserve();
        }
    }

    /// Takes the appended rows as a record batch and resets the builders.
    pub(crate) fn finish(&mut self, schema: &SchemaRef) -> Result<RecordBatch, ArrowError> {
        let rows = self.rows;
        self.rows = 0;
        self.bytes = 0;
        let version = if self.attachments.is_some() {
            SCHEMA_VERSION_MEDIA
        } else if self.participants.is_some() {
            SCHEMA_VERSION_PARTICIPANTS
        } else {
            SCHEMA_VERSION
        };
        let mut columns: Vec<ArrayRef> = vec![
            Arc::new(Int32Array::from_value(version, rows)),
            Arc::new(self.id.take(rows)),
            Arc::new(self.session_id.take(rows)),
            Arc::new(self.meeting_id.take(rows)),
            Arc::new(self.participant_id.take(rows)),
            Arc::new(self.display_name.take(rows)),
            Arc::new(self.pinned.finish()),
            Arc::new(self.edited.finish()),
            Arc::new(self.created_at.finish().with_timezone(UTC)),
            Arc::new(self.payload_type.take(rows)),
            Arc::new(self.kind.take(rows)),
            Arc::new(self.text.take(rows)),
            Arc::new(self.quoted_text.take(rows)),
            Arc::new(self.url.take(rows)),
            Arc::new(self.file_name.take(rows)),
            Arc::new(self.file_size.finish()),
            Arc::new(self.payload.take(rows)),
            Arc::new(self.extra.take(rows)),
        ];
        if self.participants.is_some() {
            columns.push(Arc::new(self.user_id.take(rows)));
            columns.push(Arc::new(self.custom_participant_id.take(rows)));
        }
        if self.attachments.is_some() {
            columns.push(Arc::new(self.media_path.take(rows)));
            columns.push(Arc::new(self.media_sha256.take(rows)));
            columns.push(Arc::new(self.media_bytes.finish()));
            columns.push(Arc::new(self.media_type.take(rows)));
        }
        RecordBatch::try_new(Arc::clone(schema), columns)
    }
}

/// A string column's builder, sized for the next batch only when that batch starts.
///
/// [`Strings::take`] leaves an empty builder and remembers the batch's size; before the next
/// batch's first row, [`Columns::push`] calls [`Strings::reserve`], which reserves that size
/// (plus an eighth) in one allocation instead of a series of doublings and their copies.
/// Reserving then rather than in `take` keeps the next batch's memory free while the finished
/// batch waits for the encoder (the send blocks until the encoder takes the batch before it).
///
/// Nulls are counted and appended a run at a time (most rows are null in `quoted_text`, `url`
/// and `file_name`): the same array as one `append_null` per row, for less work per row.
#[derive(Default)]
struct Strings {
    builder: StringBuilder,
    /// Nulls appended since the last value, not yet in `builder`.
    nulls: usize,
    /// Rows and value bytes of the last batch, to reserve before the next one.
    reserve: Option<(usize, usize)>,
}

impl Strings {
    /// Sizes the empty builder for the next batch, if [`Strings::take`] asked for it.
    fn reserve(&mut self) {
        if let Some((rows, bytes)) = self.reserve.take() {
            self.builder = StringBuilder::with_capacity(rows, bytes + bytes / 8 + 64);
        }
    }

    #[inline]
    fn append_value(&mut self, value: &str) {
        if self.nulls > 0 {
            self.builder.append_nulls(std::mem::take(&mut self.nulls));
        }
        self.builder.append_value(value);
    }

    #[inline]
    fn append_option(&mut self, value: Option<&str>) {
        match value {
            Some(value) => self.append_value(value),
            None => self.nulls += 1,
        }
    }

    /// Takes the appended rows as an array; [`Strings::reserve`] then sizes the builder for a
    /// batch like this one.
    fn take(&mut self, rows: usize) -> arrow::array::StringArray {
        if self.nulls > 0 {
            self.builder.append_nulls(std::mem::take(&mut self.nulls));
        }
        let bytes = self.builder.values_slice().len();
        self.reserve = Some((rows, bytes));
        std::mem::replace(&mut self.builder, StringBuilder::with_capacity(0, 0)).finish()
    }
}

/// `file_size`'s builder, nulls appended a run at a time as in [`Strings`].
#[derive(Default)]
struct Sizes {
    builder: Int64Builder,
    /// Nulls appended since the last value, not yet in `builder`.
    nulls: usize,
}

impl Sizes {
    #[inline]
    fn append_option(&mut self, value: Option<i64>) {
        match value {
            Some(value) => {
                if self.nulls > 0 {
                    self.builder.append_nulls(std::mem::take(&mut self.nulls));
                }
                self.builder.append_value(value);
            }
            None => self.nulls += 1,
        }
    }

    fn finish(&mut self) -> arrow::array::Int64Array {
        if self.nulls > 0 {
            self.builder.append_nulls(std::mem::take(&mut self.nulls));
        }
        self.builder.finish()
    }
}

/// Writes the extra columns as a JSON object, name to value in header order: the same text as
/// the JSONL `extra` field.
fn write_extra(out: &mut Vec<u8>, extra: &[(String, String)]) {
    let mut serializer = serde_json::Serializer::new(out);
    // Serialising string pairs into a `Vec` cannot fail.
    let _ = (|| -> serde_json::Result<()> {
        let mut map = serializer.serialize_map(Some(extra.len()))?;
        for (name, value) in extra {
            map.serialize_entry(name, value)?;
        }
        map.end()
    })();
}

#[cfg(test)]
mod tests {
    use arrow::array::Array;

    use super::*;

    fn text_message(id: usize, text: &str) -> Message {
        Message {
            id: format!("m{id}"),
            payload: text.into(),
            ..Message::default()
        }
    }

    /// Runs of nulls appended at once give the same arrays as one `append_null` per row, on
    /// generated columns (long and short null runs, values first and last, empty strings),
    /// across several batches.
    #[test]
    fn null_runs_match_the_plain_builders() {
        let mut state: u64 = 7;
        let mut next = move |bound: u64| {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (state >> 33) % bound
        };
        let mut strings = Strings::default();
        let mut sizes = Sizes::default();
        let mut checked = 0;
        for batch in 0..200 {
            let rows = 1 + next(40) as usize;
            // Some batches are nearly all nulls, some nearly all values.
            let null_share = next(11);
            let mut plain_strings = StringBuilder::new();
            let mut plain_sizes = Int64Builder::new();
            for row in 0..rows {
                let null = next(10) < null_share;
                let value = (!null).then(|| "v".repeat(next(4) as usize) + &row.to_string());
                if batch % 2 == 0 || value.is_none() {
                    strings.append_option(value.as_deref());
                } else {
                    strings.append_value(value.as_deref().unwrap());
                }
                plain_strings.append_option(value.as_deref());
                let size = (!null).then(|| i64::try_from(row).unwrap());
                sizes.append_option(size);
                plain_sizes.append_option(size);
            }
            let (ours, plain) = (strings.take(rows), plain_strings.finish());
            assert_eq!(ours, plain, "batch {batch}");
            assert_eq!(ours.null_count(), plain.null_count());
            assert_eq!(sizes.finish(), plain_sizes.finish(), "batch {batch}");
            strings.reserve();
            checked += rows;
        }
        assert!(checked > 2000, "{checked}");
    }

    #[test]
    fn builders_are_sized_when_the_next_batch_starts() {
        let schema = schema();
        let mut columns = Columns::new();
        let text = "x".repeat(1000);
        for i in 0..100 {
            columns.push(&text_message(i, &text));
        }
        let batch = columns.finish(&schema).unwrap();
        assert_eq!(batch.num_rows(), 100);
        // While the finished batch is on its way to the encoder, the builders hold nothing.
        assert!(columns.payload.builder.values_capacity() < 1000);
        assert!(columns.text.builder.values_capacity() < 1000);
        // The next batch's first row reserves the last batch's size, plus an eighth, at once.
        columns.push(&text_message(100, "y"));
        assert!(columns.payload.builder.values_capacity() >= 100_000 + 100_000 / 8);
        assert!(columns.text.builder.values_capacity() >= 100_000 + 100_000 / 8);
        let batch = columns.finish(&schema).unwrap();
        let payload = batch.column_by_name("payload").unwrap();
        assert_eq!(
            arrow::array::AsArray::as_string::<i32>(payload).value(0),
            "y"
        );
    }

    #[test]
    fn extra_is_json() {
        let mut out = Vec::new();
        write_extra(&mut out, &[]);
        assert_eq!(out, b"{}");
        out.clear();
        write_extra(
            &mut out,
            &[("a\"b".into(), "x\ny".into()), ("c".into(), String::new())],
        );
        assert_eq!(String::from_utf8(out).unwrap(), r#"{"a\"b":"x\ny","c":""}"#);
    }

    #[test]
    fn schema_types_are_portable() {
        let schema = schema();
        assert_eq!(
            schema.field_with_name("created_at").unwrap().data_type(),
            &DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
        );
        for field in schema.fields() {
            assert!(
                !matches!(
                    field.data_type(),
                    DataType::LargeUtf8 | DataType::Utf8View | DataType::Dictionary(..)
                ),
                "{} has a non-portable type",
                field.name()
            );
        }
        for column in DICTIONARY_COLUMNS.iter().chain(FREE_TEXT_COLUMNS) {
            assert!(schema.field_with_name(column).is_ok(), "{column}");
        }
    }
}
