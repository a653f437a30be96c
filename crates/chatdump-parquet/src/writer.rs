//! [`ParquetWriter`]: one Parquet file, encoded on a second thread.

use std::io::Write;
use std::sync::Arc;
use std::sync::mpsc::{Receiver, SyncSender, channel, sync_channel};
use std::thread::JoinHandle;

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use chatdump_core::export::{ExportContext, ExportError, Exporter};
use chatdump_core::model::Message;
use parquet::arrow::ArrowWriter;
use parquet::errors::ParquetError;

use crate::options::ParquetOptions;
use crate::schema::{Columns, schema, schema_with_media, schema_with_participants};

/// Rows per record batch handed to the encoder.
const BATCH_ROWS: usize = 4096;
/// String bytes per record batch: a batch is cut early when messages are long.
const BATCH_BYTES: usize = 2 << 20;
/// Batches queued between the two threads: none, a finished batch is handed over when the
/// encoder is ready for it. Filling a batch takes about a third of the time encoding it does,
/// so the next batch is always ready and a queue would only hold one more batch in memory.
const QUEUE_BATCHES: usize = 0;

/// Writes messages as one Parquet file.
///
/// # Schema (version 1)
///
/// The same fields, under the same names and with the same values, as a JSONL line (minus
/// `created_at_ms`, which `created_at` already carries exactly).
///
/// The columns, their Arrow and Parquet types, nullability, dictionaries and meanings are
/// documented once, in `docs/formats/parquet.md` (a test checks that page against
/// [`crate::schema`]).
///
/// The footer carries the key-value metadata `chatdump.schema_version`, `chatdump.tool_version`
/// and `chatdump.source` (see [`crate::metadata_keys`]), plus the Arrow schema (`ARROW:schema`)
/// so Arrow readers restore the exact types. Nothing in the file depends on the clock: the same
/// input gives the same bytes.
///
/// # Schema version 2: participant columns
///
/// With [`ParquetOptions::participants`] set (bulk export: `chatdump export --all`), files carry
/// two more columns after `extra`, and `schema_version` is `2` (column and footer):
///
/// `user_id` (the sender's user id, from the session's participants) and
/// `custom_participant_id` (the organisation's own id for the sender), both nullable
/// dictionary strings (see `docs/formats/parquet.md`).
///
/// Both are looked up by `participant_id` and are null when the participant is not in the map
/// (an empty map, when enrichment is off, makes them null everywhere).
///
/// # Settings
///
/// Compression is set explicitly (snappy by default) and applies to every column, except that
/// with snappy `id` and `created_at` are stored uncompressed: snappy (LZ77 without entropy
/// coding) saves about 10 % on random UUIDs in hex, for about a fifth of its time, and nothing
/// on the bit-packed deltas of `created_at` (zstd still compresses both). Dictionary encoding is
/// on only for the repeated columns marked above; `created_at` is `DELTA_BINARY_PACKED` (about
/// 3 bytes a row for timestamps in nearly increasing order, instead of 8); every other column
/// without a dictionary is `PLAIN`. Statistics:
///
/// - page-level (chunk min/max and null count, plus the column and offset indexes) on every
///   column not named below: those that can prune, such as `created_at`, `session_id`,
///   `participant_id`, `pinned` or `kind`;
/// - chunk-level only (min/max and null count of the column chunk) on `id`, `quoted_text`,
///   `url` and `file_name`;
/// - none on `text` and `payload`: the min/max of arbitrary chat text prunes nothing, and
///   computing it compares every value twice.
///
/// Row groups are closed at [`ParquetOptions::row_group_rows`] rows or
/// [`ParquetOptions::row_group_bytes`] estimated bytes, whichever comes first; Parquet format
/// version 1.0.
///
/// # Memory and threads
///
/// Messages are appended to Arrow builders on the caller's thread and cut into batches of at
/// most 4096 rows or 2 MiB; a second thread encodes and compresses them. A finished batch is
/// handed over when the encoder is ready for it (no queue), the encoder's written batch is
/// freed as soon as it comes back, and a batch's builders are sized only when its first row
/// comes: at most two batches are alive (the one being encoded, the one being filled or
/// waiting). With the row group in flight in the encoder, memory is bounded by the row-group
/// bound plus two batches, whatever the input size.
pub struct ParquetWriter<W: Write + Send + 'static> {
    options: ParquetOptions,
    schema: SchemaRef,
    columns: Columns,
    state: State<W>,
    threaded: bool,
}

enum State<W: Write + Send + 'static> {
    /// Before `begin`.
    New(W),
    /// Encoding on the caller's thread.
    Inline(Box<ArrowWriter<W>>),
    /// Encoding on a second thread.
    Threaded {
        batches: SyncSender<RecordBatch>,
        /// Written batches come back to be freed on the thread that allocated them: allocators
        /// with per-thread heaps (mimalloc) otherwise hold on to cross-thread frees, which
        /// doubled peak memory.
        written: Receiver<RecordBatch>,
        encoder: JoinHandle<Result<W, ParquetError>>,
    },
    /// After `finish`.
    Done(W),
    /// After an error.
    Failed,
}

impl<W: Write + Send + 'static> std::fmt::Debug for ParquetWriter<W> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ParquetWriter")
            .field("options", &self.options)
            .field("threaded", &self.threaded)
            .finish_non_exhaustive()
    }
}

impl<W: Write + Send + 'static> ParquetWriter<W> {
    /// Creates a writer over `out` that encodes on a second thread.
    pub fn new(out: W, options: ParquetOptions) -> Self {
        let (schema, columns) = match &options.participants {
            Some(participants) => (
                schema_with_participants(),
                Columns::new().with_participants(Some(Arc::clone(participants))),
            ),
            None => (schema(), Columns::new()),
        };
        Self {
            options,
            schema,
            columns,
            state: State::New(out),
            threaded: true,
        }
    }

    /// Creates a writer that encodes on the caller's thread (used for many small files).
    pub fn new_inline(out: W, options: ParquetOptions) -> Self {
        let mut writer = Self::new(out, options);
        writer.threaded = false;
        writer
    }

    /// Returns the inner writer after [`Exporter::finish`], `None` before or after an error.
    pub fn into_inner(mut self) -> Option<W> {
        match std::mem::replace(&mut self.state, State::Failed) {
            State::Done(out) => Some(out),
            _ => None,
        }
    }

    /// Memory held by rows not yet written out: builders plus the row group in flight (inline
    /// mode only; a threaded writer reports its builders).
    pub(crate) fn buffered_bytes(&self) -> usize {
        let encoder = match &self.state {
            State::Inline(writer) => writer.memory_size(),
            _ => 0,
        };
        self.columns.bytes() + encoder
    }

    /// Writes out the buffered rows and closes the row group in flight (inline mode).
    pub(crate) fn flush_row_group(&mut self) -> Result<(), ExportError> {
        self.send_batch()?;
        if let State::Inline(writer) = &mut self.state {
            writer.flush().map_err(ExportError::format)?;
        }
        Ok(())
    }

    fn send_batch(&mut self) -> Result<(), ExportError> {
        if self.columns.rows() == 0 {
            return Ok(());
        }
        let batch = self
            .columns
            .finish(&self.schema)
            .map_err(ExportError::format)?;
        match &mut self.state {
            State::Inline(writer) => writer.write(&batch).map_err(ExportError::format),
            State::Threaded {
                batches, written, ..
            } => {
                while let Ok(done) = written.try_recv() {
                    drop(done);
                }
                if batches.send(batch).is_ok() {
                    // `send` returned once the encoder took this batch: the one it wrote before
                    // is back by now. Free it here rather than at the next batch, so it is not
                    // alive while the next one is filled.
                    while let Ok(done) = written.try_recv() {
                        drop(done);
                    }
                    return Ok(());
                }
                // The encoder stopped: it failed, and its error says why.
                match std::mem::replace(&mut self.state, State::Failed) {
                    State::Threaded { encoder, .. } => Err(join(encoder)
                        .err()
                        .unwrap_or_else(|| ExportError::format("the parquet encoder stopped"))),
                    _ => unreachable!("matched above"),
                }
            }
            State::New(_) | State::Done(_) | State::Failed => Err(ExportError::format(
                "the parquet writer is not open (begin was not called, or it failed)",
            )),
        }
    }
}

fn join<W>(encoder: JoinHandle<Result<W, ParquetError>>) -> Result<W, ExportError> {
    match encoder.join() {
        Ok(Ok(out)) => Ok(out),
        Ok(Err(ParquetError::External(error))) => Err(ExportError::Format(error)),
        Ok(Err(error)) => Err(ExportError::format(error)),
        Err(_) => Err(ExportError::format("the parquet encoder thread panicked")),
    }
}

fn finish_writer<W: Write + Send>(writer: ArrowWriter<W>) -> Result<W, ParquetError> {
    let mut out = writer.into_inner()?;
    out.flush()?;
    Ok(out)
}

impl<W: Write + Send + 'static> Exporter for ParquetWriter<W> {
    fn begin(&mut self, context: &ExportContext) -> Result<(), ExportError> {
        let State::New(out) = std::mem::replace(&mut self.state, State::Failed) else {
            return Err(ExportError::format("begin was called twice"));
        };
        if context.attachments.is_some() {
            self.schema = schema_with_media(self.options.participants.is_some());
            self.columns.set_attachments(context.attachments.clone());
        }
        let properties = self.options.writer_properties(context);
        let writer = ArrowWriter::try_new(out, self.schema.clone(), Some(properties))
            .map_err(ExportError::format)?;
        if !self.threaded {
            self.state = State::Inline(Box::new(writer));
            return Ok(());
        }
        let (batches, queue) = sync_channel::<RecordBatch>(QUEUE_BATCHES);
        let (give_back, written) = channel::<RecordBatch>();
        let encoder = std::thread::Builder::new()
            .name("parquet-encoder".into())
            .spawn(move || {
                let mut writer = writer;
                for batch in queue {
                    writer.write(&batch)?;
                    // The caller may be gone (an error); then the batch is simply dropped here.
                    let _ = give_back.send(batch);
                }
                finish_writer(writer)
            })?;
        self.state = State::Threaded {
            batches,
            written,
            encoder,
        };
        Ok(())
    }

    fn message(&mut self, message: &Message) -> Result<(), ExportError> {
        self.columns.push(message);
        if self.columns.rows() >= BATCH_ROWS || self.columns.bytes() >= BATCH_BYTES {
            self.send_batch()?;
        }
        Ok(())
    }

    fn finish(&mut self) -> Result<(), ExportError> {
        self.send_batch()?;
        let out = match std::mem::replace(&mut self.state, State::Failed) {
            State::Inline(writer) => finish_writer(*writer).map_err(ExportError::format)?,
            State::Threaded {
                batches,
                written,
                encoder,
            } => {
                drop(batches);
                let out = join(encoder)?;
                drop(written);
                out
            }
            State::New(_) | State::Done(_) | State::Failed => {
                return Err(ExportError::format(
                    "the parquet writer is not open (begin was not called, or it failed)",
                ));
            }
        };
        self.state = State::Done(out);
        Ok(())
    }
}

impl<W: Write + Send + 'static> Drop for ParquetWriter<W> {
    fn drop(&mut self) {
        // An unfinished writer (a failed or restarted run) stops its encoder and waits for it,
        // so no thread outlives the output it writes to.
        if let State::Threaded {
            batches, encoder, ..
        } = std::mem::replace(&mut self.state, State::Failed)
        {
            drop(batches);
            let _ = encoder.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use arrow::array::{Array, AsArray};
    use arrow::datatypes::TimestampMicrosecondType;
    use bytes_reader::read;
    use chatdump_core::model::{PayloadType, Position};

    use super::*;

    mod bytes_reader {
        use arrow::array::RecordBatch;
        use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

        pub(super) fn read(bytes: &[u8]) -> (Vec<RecordBatch>, usize) {
            use std::io::Write as _;
            let mut file = tempfile::tempfile().unwrap();
            file.write_all(bytes).unwrap();
            let builder = ParquetRecordBatchReaderBuilder::try_new(file).unwrap();
            let groups = builder.metadata().num_row_groups();
            let batches = builder.build().unwrap().map(Result::unwrap).collect();
            (batches, groups)
        }
    }

    fn message(id: usize, payload_type: &str, payload: &str) -> Message {
        Message {
            id: format!("m{id}"),
            session_id: "s".into(),
            meeting_id: "mt".into(),
            participant_id: "p".into(),
            display_name: "Ann".into(),
            pinned: id.is_multiple_of(2),
            edited: false,
            created_at: "2024-05-14T09:00:04.112345Z".parse().unwrap(),
            payload_type: PayloadType::from_name(payload_type),
            payload: payload.into(),
            extra: if id == 0 {
                vec![("threadId".into(), "t\"1".into())]
            } else {
                Vec::new()
            },
            position: Position::default(),
        }
    }

    fn write(messages: &[Message], options: ParquetOptions, threaded: bool) -> Vec<u8> {
        let mut writer = if threaded {
            ParquetWriter::new(Vec::new(), options)
        } else {
            ParquetWriter::new_inline(Vec::new(), options)
        };
        writer.begin(&ExportContext::default()).unwrap();
        for message in messages {
            writer.message(message).unwrap();
        }
        writer.finish().unwrap();
        writer.into_inner().unwrap()
    }

    #[test]
    fn values_round_trip() {
        let messages = [
            message(0, "TEXT_MESSAGE", "<blockquote>q</blockquote>\n\nreply"),
            message(
                1,
                "FILE_MESSAGE",
                r#"{"link":"https://x/a","name":"a.pdf","size":12}"#,
            ),
            message(2, "IMAGE_MESSAGE", "https://x/i.png"),
            message(3, "POLL", "{}"),
        ];
        let (batches, _) = read(&write(&messages, ParquetOptions::default(), true));
        let batch = &batches[0];
        assert_eq!(batch.num_rows(), 4);
        let column = |name: &str| batch.column_by_name(name).unwrap().clone();
        let text = column("text");
        let text = text.as_string::<i32>();
        assert_eq!(text.value(0), "reply");
        assert!(text.is_null(1));
        assert_eq!(column("quoted_text").as_string::<i32>().value(0), "q");
        assert_eq!(column("url").as_string::<i32>().value(1), "https://x/a");
        assert_eq!(column("file_name").as_string::<i32>().value(1), "a.pdf");
        let sizes = column("file_size");
        let sizes = sizes.as_primitive::<arrow::datatypes::Int64Type>();
        assert_eq!(sizes.value(1), 12);
        assert!(sizes.is_null(0));
        assert_eq!(
            column("kind").as_string::<i32>().iter().collect::<Vec<_>>(),
            [Some("text"), Some("file"), Some("image"), Some("other")]
        );
        assert_eq!(
            column("extra").as_string::<i32>().value(0),
            r#"{"threadId":"t\"1"}"#
        );
        assert_eq!(column("extra").as_string::<i32>().value(1), "{}");
        let created = column("created_at");
        let created = created.as_primitive::<TimestampMicrosecondType>();
        assert_eq!(created.value(0), 1_715_677_204_112_345);
        assert_eq!(created.timezone(), Some("UTC"));
        assert!(column("pinned").as_boolean().value(0));
    }

    #[test]
    fn row_groups_are_bounded_and_threads_agree() {
        let messages: Vec<Message> = (0..20_000)
            .map(|i| message(i, "TEXT_MESSAGE", &format!("hello {i}")))
            .collect();
        let options = ParquetOptions {
            row_group_rows: 6000,
            ..ParquetOptions::default()
        };
        let threaded = write(&messages, options.clone(), true);
        let inline = write(&messages, options, false);
        assert_eq!(threaded, inline, "the same bytes on one thread or two");
        let (batches, groups) = read(&threaded);
        assert_eq!(groups, 4);
        assert_eq!(
            batches.iter().map(RecordBatch::num_rows).sum::<usize>(),
            20_000
        );
        // The byte bound closes row groups early when messages are long.
        let long: Vec<Message> = (0..300)
            .map(|i| message(i, "TEXT_MESSAGE", &"y".repeat(10_000 + i)))
            .collect();
        let options = ParquetOptions {
            row_group_bytes: 1 << 20,
            compression: crate::Compression::None,
            ..ParquetOptions::default()
        };
        let (_, groups) = read(&write(&long, options, true));
        assert!(groups >= 2, "{groups}");
    }

    #[test]
    fn message_before_begin_is_an_error_not_a_panic() {
        let mut writer = ParquetWriter::new(Vec::new(), ParquetOptions::default());
        for i in 0..BATCH_ROWS {
            let result = writer.message(&message(i, "TEXT_MESSAGE", "x"));
            if i + 1 < BATCH_ROWS {
                assert!(result.is_ok());
            } else {
                assert!(result.is_err());
            }
        }
        assert!(writer.finish().is_err());
    }
}
