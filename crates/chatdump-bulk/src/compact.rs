//! Compaction: rewrite one day's small per-session files into a few files of a target size,
//! keeping the dataset readable throughout and never showing a row twice.
//!
//! Engines want 100 MB+ files, not thousands of tiny ones. For each day:
//!
//! 1. the day's files that the manifest knows (a file no manifest record names, such as one an
//!    interrupted export wrote, is left alone: the next export replaces it; so are the files of
//!    sessions recorded while live, which the export replaces once they end) and that are
//!    smaller than the target are read in path order and written, whole files at a time, into
//!    new files of about the target size (a new file starts once the current one reaches it);
//! 2. the new files are uploaded to a staging name under `_chatdump/staging/`, which no
//!    dataset glob matches;
//! 3. an intent (`_chatdump/compaction.json`: which staged file becomes which final file, which
//!    old files go, and which compacted file now holds each old file's rows) and then the
//!    manifest (each session now points at its compacted file) are written;
//! 4. the old files are deleted, then each staged file is renamed to its final name
//!    `date=D/compacted_x<sha256 prefix>.parquet`, then the intent is deleted.
//!
//! A reader therefore sees the old files, or (for the moment between 4's delete and rename)
//! fewer rows, or the new files: never both, so never a duplicated row. Writing the new files
//! under their final names first and deleting the old ones after would show every row twice
//! in between, which is the worse failure for counts and joins. A compaction interrupted after
//! step 3 is finished by the next `compact` or `export --all` on the same root (the staged
//! files are complete before the intent names them); one interrupted before it leaves only
//! unreferenced staged files, removed by the next run.
//!
//! Row counts are checked: the rows written must equal the rows read, or nothing is swapped.
//! Do not run a compaction and an export on the same root at the same time.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fs::File;
use std::path::{Path, PathBuf};

use arrow::datatypes::SchemaRef;
use jiff::civil::Date;
use parquet::arrow::ArrowWriter;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::file::metadata::KeyValue;
use parquet::file::properties::WriterProperties;
use serde::{Deserialize, Serialize};

use crate::BulkError;
use crate::manifest::{Manifest, OutputFile};
use crate::store::Store;

/// The default target size of a compacted file: 128 MiB.
pub const DEFAULT_TARGET_SIZE: u64 = 128 << 20;

/// Where an interrupted compaction's intent is kept, relative to the root.
pub const INTENT_PATH: &str = "_chatdump/compaction.json";

const STAGING_DIR: &str = "_chatdump/staging";

/// How a compaction runs.
#[derive(Debug, Clone)]
pub struct CompactOptions {
    /// The first day.
    pub from: Date,
    /// The last day (inclusive).
    pub to: Date,
    /// The size at which a compacted file is closed; files this large already are left alone.
    pub target_size: u64,
    /// Where the day's files are downloaded and the new ones written before upload.
    pub temp_dir: PathBuf,
}

/// What compaction did to one day.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct DayReport {
    /// The day, `YYYY-MM-DD`.
    pub date: String,
    /// Files rewritten.
    pub files_before: usize,
    /// Files written.
    pub files_after: usize,
    /// Rows read and written (equal, or nothing was swapped).
    pub rows: u64,
    /// Bytes of the files rewritten.
    pub bytes_before: u64,
    /// Bytes of the files written.
    pub bytes_after: u64,
}

/// What a compaction did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct CompactReport {
    /// The days compacted (days with fewer than two small files are not listed).
    pub days: Vec<DayReport>,
    /// Whether an interrupted compaction was finished first.
    pub recovered: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Swap {
    staged: String,
    target: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Intent {
    swaps: Vec<Swap>,
    remove: Vec<String>,
    /// Each old file and the compacted file now holding its rows, for the manifest.
    #[serde(default)]
    moves: Vec<(String, OutputFile)>,
}

/// Points every manifest record at the files now holding its rows; whether anything changed.
fn apply_moves(manifest: &mut Manifest, moves: &[(String, OutputFile)]) -> bool {
    let by_old_path: HashMap<&str, &OutputFile> =
        moves.iter().map(|(old, new)| (old.as_str(), new)).collect();
    let mut changed = false;
    for record in manifest.records_mut() {
        let mut outputs: Vec<OutputFile> = Vec::with_capacity(record.outputs.len());
        for output in &record.outputs {
            let replacement = by_old_path
                .get(output.path.as_str())
                .map_or(output, |file| *file);
            if !outputs.contains(replacement) {
                outputs.push(replacement.clone());
            }
        }
        if outputs != record.outputs {
            record.outputs = outputs;
            changed = true;
        }
    }
    changed
}

/// Whether `path` is a compacted file (`date=D/compacted_x<hash>.parquet`); a session's own file
/// name never contains `_x` (its escapes are `_` and two upper-case hex digits).
#[must_use]
pub fn is_compacted(path: &str) -> bool {
    path.rsplit('/')
        .next()
        .is_some_and(|name| name.starts_with("compacted_x"))
}

/// Finishes a compaction that was interrupted after its intent was written. Returns whether
/// there was one. [`crate::export_all`] and [`compact`] call this first.
pub async fn recover(store: &Store) -> Result<bool, BulkError> {
    let Some(bytes) = store.get_bytes(INTENT_PATH).await? else {
        return Ok(false);
    };
    let intent: Intent = serde_json::from_slice(&bytes).map_err(|error| {
        BulkError::Options(format!(
            "the compaction intent `{INTENT_PATH}` is unreadable: {error}"
        ))
    })?;
    let mut manifest = Manifest::load(store).await?;
    if apply_moves(&mut manifest, &intent.moves) {
        manifest.save(store).await?;
    }
    finish_swap(store, &intent).await?;
    Ok(true)
}

async fn finish_swap(store: &Store, intent: &Intent) -> Result<(), BulkError> {
    for old in &intent.remove {
        store.delete(old).await?;
    }
    for swap in &intent.swaps {
        if store.exists(&swap.staged).await? {
            store.rename(&swap.staged, &swap.target).await?;
        }
    }
    store.delete(INTENT_PATH).await
}

/// Compacts every day from `options.from` to `options.to` under `store`.
pub async fn compact(store: &Store, options: &CompactOptions) -> Result<CompactReport, BulkError> {
    if options.target_size == 0 {
        return Err(BulkError::Options("the target size must be above 0".into()));
    }
    if options.from > options.to {
        return Err(BulkError::Options(format!(
            "the range starts on {} after it ends on {}",
            options.from, options.to
        )));
    }
    let mut report = CompactReport {
        recovered: recover(store).await?,
        ..CompactReport::default()
    };
    // Staged files no intent names are leftovers of a compaction interrupted before its intent.
    for leftover in store.list(STAGING_DIR).await? {
        store.delete(&leftover.path).await?;
    }
    let mut manifest = Manifest::load(store).await?;
    // Files of sessions recorded while live are left alone: the next export replaces them.
    let known: HashSet<String> = manifest
        .records()
        .filter(|record| record.session_status.as_deref() != Some("LIVE"))
        .flat_map(|record| record.outputs.iter().map(|output| output.path.clone()))
        .collect();
    let mut day = options.from;
    loop {
        if let Some(day_report) = compact_day(store, options, &mut manifest, &known, day).await? {
            report.days.push(day_report);
        }
        if day >= options.to {
            break;
        }
        day = day
            .tomorrow()
            .map_err(|error| BulkError::Options(error.to_string()))?;
    }
    Ok(report)
}

async fn compact_day(
    store: &Store,
    options: &CompactOptions,
    manifest: &mut Manifest,
    known: &HashSet<String>,
    day: Date,
) -> Result<Option<DayReport>, BulkError> {
    let date = day.to_string();
    let dir = format!("date={date}");
    let candidates: Vec<_> = store
        .list(&dir)
        .await?
        .into_iter()
        .filter(|file| {
            file.path.ends_with(".parquet")
                && file.path.matches('/').count() == 1
                && known.contains(&file.path)
                && file.bytes < options.target_size
        })
        .collect();
    if candidates.len() < 2 {
        return Ok(None);
    }
    let scratch = tempfile::Builder::new()
        .prefix(".chatdump-compact-")
        .tempdir_in(&options.temp_dir)
        .map_err(|source| BulkError::Io {
            action: "create a temporary directory in",
            path: options.temp_dir.display().to_string(),
            source,
        })?;
    let mut inputs = Vec::with_capacity(candidates.len());
    for (index, file) in candidates.iter().enumerate() {
        let local = scratch.path().join(format!("in-{index:06}.parquet"));
        store.download(&file.path, &local).await?;
        inputs.push((file.path.clone(), local));
    }
    let out_dir = scratch.path().join("out");
    let target_size = options.target_size;
    let rewritten = {
        let inputs = inputs.clone();
        let out_dir = out_dir.clone();
        tokio::task::spawn_blocking(move || rewrite(&inputs, &out_dir, target_size))
            .await
            .map_err(|error| BulkError::Options(format!("the compaction stopped: {error}")))??
    };
    if rewritten.rows_in != rewritten.rows_out {
        return Err(BulkError::Options(format!(
            "compaction of {date} read {} rows but wrote {}; nothing was changed",
            rewritten.rows_in, rewritten.rows_out
        )));
    }
    // Upload under staging names, and name each file by its content.
    let mut swaps = Vec::new();
    let mut finals: Vec<OutputFile> = Vec::new();
    for (index, local) in rewritten.outputs.iter().enumerate() {
        let staged = format!("{STAGING_DIR}/{date}-{index:04}.parquet.tmp");
        let uploaded = store.upload_file(local, &staged).await?;
        let target = format!("{dir}/compacted_x{}.parquet", &uploaded.sha256[..16]);
        swaps.push(Swap {
            staged,
            target: target.clone(),
        });
        finals.push(OutputFile {
            path: target,
            bytes: uploaded.bytes,
            sha256: uploaded.sha256,
        });
    }
    let remove: Vec<String> = candidates.iter().map(|file| file.path.clone()).collect();
    let moves = rewritten
        .placement
        .iter()
        .map(|(input, output)| (input.clone(), finals[*output].clone()))
        .collect();
    let intent = Intent {
        swaps,
        remove: remove.clone(),
        moves,
    };
    let intent_bytes = serde_json::to_vec(&intent)
        .map_err(|error| BulkError::Options(format!("cannot write the intent: {error}")))?;
    store.put_bytes(INTENT_PATH, intent_bytes).await?;
    // Point every session at the file that now holds its rows.
    apply_moves(manifest, &intent.moves);
    manifest.save(store).await?;
    finish_swap(store, &intent).await?;
    Ok(Some(DayReport {
        date,
        files_before: remove.len(),
        files_after: finals.len(),
        rows: rewritten.rows_out,
        bytes_before: candidates.iter().map(|file| file.bytes).sum(),
        bytes_after: finals.iter().map(|file| file.bytes).sum(),
    }))
}

struct Rewritten {
    outputs: Vec<PathBuf>,
    /// Input path (relative to the root) to the index of the output holding its rows.
    placement: BTreeMap<String, usize>,
    rows_in: u64,
    rows_out: u64,
}

/// Reads `inputs` in order and writes them into files of about `target_size` under `out_dir`.
fn rewrite(
    inputs: &[(String, PathBuf)],
    out_dir: &Path,
    target_size: u64,
) -> Result<Rewritten, BulkError> {
    let io_error = |action: &'static str, path: &Path| {
        let path = path.display().to_string();
        move |source| BulkError::Io {
            action,
            path,
            source,
        }
    };
    let parquet_error = |action: &'static str, path: &str| {
        let path = path.to_owned();
        move |source| BulkError::Parquet {
            action,
            path,
            source,
        }
    };
    std::fs::create_dir_all(out_dir).map_err(io_error("create", out_dir))?;
    let row_group_bytes = (target_size / 4).max(1 << 20);
    let mut rewritten = Rewritten {
        outputs: Vec::new(),
        placement: BTreeMap::new(),
        rows_in: 0,
        rows_out: 0,
    };
    let mut current: Option<(ArrowWriter<File>, SchemaRef)> = None;
    for (name, local) in inputs {
        let file = File::open(local).map_err(io_error("read", local))?;
        let builder =
            ParquetRecordBatchReaderBuilder::try_new(file).map_err(parquet_error("read", name))?;
        let schema = builder.schema().clone();
        let metadata: Vec<KeyValue> = builder
            .metadata()
            .file_metadata()
            .key_value_metadata()
            .map(|pairs| {
                pairs
                    .iter()
                    .filter(|pair| pair.key != "ARROW:schema")
                    .cloned()
                    .collect()
            })
            .unwrap_or_default();
        rewritten.rows_in +=
            u64::try_from(builder.metadata().file_metadata().num_rows()).unwrap_or(0);
        // A new output once the current one is big enough, or when the schema changes (files
        // written before and after a schema change are never mixed). The row group in progress
        // is counted at half its estimated (uncompressed) size.
        let full = current.as_ref().is_some_and(|(writer, current_schema)| {
            writer.bytes_written() as u64 + writer.in_progress_size() as u64 / 2 >= target_size
                || current_schema.fields() != schema.fields()
        });
        if full && let Some((writer, _)) = current.take() {
            writer
                .close()
                .map_err(parquet_error("write", "compacted file"))?;
        }
        if current.is_none() {
            let path = out_dir.join(format!("part-{:04}.parquet", rewritten.outputs.len()));
            let out = File::create(&path).map_err(io_error("create", &path))?;
            // The exporter's own column settings, so compacted files encode like fresh ones.
            let properties = chatdump_parquet::column_settings(
                WriterProperties::builder()
                    .set_key_value_metadata((!metadata.is_empty()).then_some(metadata)),
                chatdump_parquet::Compression::Snappy,
                schema.field_with_name("user_id").is_ok(),
            )
            .build();
            let writer = ArrowWriter::try_new(out, schema.clone(), Some(properties))
                .map_err(parquet_error("write", "compacted file"))?;
            rewritten.outputs.push(path);
            current = Some((writer, schema));
        }
        let reader = builder.build().map_err(parquet_error("read", name))?;
        let Some((writer, _)) = current.as_mut() else {
            unreachable!("an output was opened above");
        };
        for batch in reader {
            let batch = batch.map_err(|error| BulkError::Parquet {
                action: "read",
                path: name.clone(),
                source: error.into(),
            })?;
            rewritten.rows_out += batch.num_rows() as u64;
            writer
                .write(&batch)
                .map_err(parquet_error("write", "compacted file"))?;
            // Row groups of about a quarter of the target (engines want them large), closed
            // early so the bytes written, which decide when a file is full, stay accurate.
            if writer.in_progress_size() as u64 >= row_group_bytes {
                writer
                    .flush()
                    .map_err(parquet_error("write", "compacted file"))?;
            }
        }
        rewritten
            .placement
            .insert(name.clone(), rewritten.outputs.len() - 1);
    }
    if let Some((writer, _)) = current {
        writer
            .close()
            .map_err(parquet_error("write", "compacted file"))?;
    }
    Ok(rewritten)
}

#[cfg(test)]
mod tests {
    use chatdump_core::export::{ExportContext, Exporter as _};
    use chatdump_core::reader::{ChatReader, ReaderOptions};
    use chatdump_parquet::{ParquetOptions, ParquetWriter};

    use super::*;
    use crate::manifest::{SessionRecord, Status};

    const HEADER: &str = "id,participantId,sessionId,meetingId,displayName,pinned,isEdited,payloadType,payload,createdAt\n";

    /// A Parquet file with `rows` messages of `session`.
    fn parquet(session: &str, rows: usize) -> Vec<u8> {
        let mut csv = HEADER.to_owned();
        for row in 0..rows {
            csv.push_str(&format!(
                "m{row},p1,{session},mt,Ann,false,false,TEXT_MESSAGE,hello {row},2024-05-14T09:00:{:02}.000Z\n",
                row % 60
            ));
        }
        let mut reader =
            ChatReader::new(csv.as_bytes(), session, ReaderOptions::default()).unwrap();
        let mut writer = ParquetWriter::new_inline(Vec::new(), ParquetOptions::default());
        writer.begin(&ExportContext::default()).unwrap();
        while let Some(message) = reader.next_message() {
            writer.message(&message.unwrap()).unwrap();
        }
        writer.finish().unwrap();
        writer.into_inner().unwrap()
    }

    fn rows(bytes: &[u8]) -> i64 {
        let mut file = tempfile::tempfile().unwrap();
        std::io::Write::write_all(&mut file, bytes).unwrap();
        ParquetRecordBatchReaderBuilder::try_new(file)
            .unwrap()
            .metadata()
            .file_metadata()
            .num_rows()
    }

    async fn dataset(store: &Store, sessions: &[&str]) -> Manifest {
        let mut manifest = Manifest::default();
        for session in sessions {
            let path = format!("date=2024-05-14/{session}.parquet");
            let bytes = parquet(session, 10);
            let size = bytes.len() as u64;
            store.put_bytes(&path, bytes).await.unwrap();
            manifest.insert(SessionRecord {
                session_id: (*session).to_owned(),
                meeting_id: None,
                session_status: None,
                status: Status::Exported,
                reason: None,
                messages: 10,
                outputs: vec![OutputFile {
                    path,
                    bytes: size,
                    sha256: String::new(),
                }],
                participants: false,
                attempts: 1,
                at: String::new(),
                media: Vec::new(),
                parts: vec![],
            });
        }
        manifest.save(store).await.unwrap();
        manifest
    }

    fn options(temp: &Path) -> CompactOptions {
        CompactOptions {
            from: "2024-05-14".parse().unwrap(),
            to: "2024-05-14".parse().unwrap(),
            target_size: DEFAULT_TARGET_SIZE,
            temp_dir: temp.to_owned(),
        }
    }

    #[tokio::test]
    async fn compacts_known_files_only_and_updates_the_manifest() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path().join("root").to_str().unwrap(), &[]).unwrap();
        dataset(&store, &["a", "b", "c"]).await;
        // A file no manifest record names (an interrupted export's) is left alone.
        store
            .put_bytes("date=2024-05-14/orphan.parquet", parquet("orphan", 3))
            .await
            .unwrap();
        let report = compact(&store, &options(dir.path())).await.unwrap();
        assert_eq!(report.days.len(), 1);
        assert_eq!(report.days[0].files_before, 3);
        assert_eq!(report.days[0].files_after, 1);
        assert_eq!(report.days[0].rows, 30);
        let listed: Vec<String> = store
            .list("date=2024-05-14")
            .await
            .unwrap()
            .into_iter()
            .map(|file| file.path)
            .collect();
        assert_eq!(listed.len(), 2, "{listed:?}");
        assert!(listed.contains(&"date=2024-05-14/orphan.parquet".to_owned()));
        let compacted = listed
            .iter()
            .find(|path| path.contains("compacted_x"))
            .unwrap();
        let compacted_bytes = store.get_bytes(compacted).await.unwrap().unwrap();
        assert_eq!(rows(&compacted_bytes), 30);
        // Encoded with the exporter's column settings, not the parquet crate's defaults.
        let mut file = tempfile::tempfile().unwrap();
        std::io::Write::write_all(&mut file, &compacted_bytes).unwrap();
        let metadata = ParquetRecordBatchReaderBuilder::try_new(file)
            .unwrap()
            .metadata()
            .clone();
        let columns = metadata.row_group(0).columns();
        let column = |name: &str| {
            columns
                .iter()
                .find(|column| column.column_path().string() == name)
                .unwrap()
        };
        assert!(
            column("created_at")
                .encodings()
                .any(|encoding| encoding == parquet::basic::Encoding::DELTA_BINARY_PACKED)
        );
        assert!(column("payload").statistics().is_none());
        assert!(column("session_id").dictionary_page_offset().is_some());
        assert!(column("payload").dictionary_page_offset().is_none());
        let manifest = Manifest::load(&store).await.unwrap();
        for record in manifest.records() {
            assert_eq!(record.outputs.len(), 1);
            assert_eq!(&record.outputs[0].path, compacted);
        }
        // Again: one known file left, nothing to do.
        let again = compact(&store, &options(dir.path())).await.unwrap();
        assert!(again.days.is_empty());
    }

    #[tokio::test]
    async fn an_interrupted_swap_is_finished_by_the_next_run() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path().join("root").to_str().unwrap(), &[]).unwrap();
        dataset(&store, &["a", "b"]).await;
        // The state after step 3: staged file and intent written, nothing swapped yet.
        store
            .put_bytes(
                "_chatdump/staging/2024-05-14-0000.parquet.tmp",
                parquet("ab", 20),
            )
            .await
            .unwrap();
        let intent = Intent {
            swaps: vec![Swap {
                staged: "_chatdump/staging/2024-05-14-0000.parquet.tmp".into(),
                target: "date=2024-05-14/compacted_xfeed.parquet".into(),
            }],
            remove: vec![
                "date=2024-05-14/a.parquet".into(),
                "date=2024-05-14/b.parquet".into(),
            ],
            moves: ["a", "b"]
                .map(|session| {
                    (
                        format!("date=2024-05-14/{session}.parquet"),
                        OutputFile {
                            path: "date=2024-05-14/compacted_xfeed.parquet".into(),
                            bytes: 1,
                            sha256: "feed".into(),
                        },
                    )
                })
                .to_vec(),
        };
        store
            .put_bytes(INTENT_PATH, serde_json::to_vec(&intent).unwrap())
            .await
            .unwrap();
        assert!(recover(&store).await.unwrap());
        let listed: Vec<String> = store
            .list("")
            .await
            .unwrap()
            .into_iter()
            .map(|file| file.path)
            .collect();
        assert_eq!(
            listed,
            [
                "_chatdump/manifest.jsonl",
                "date=2024-05-14/compacted_xfeed.parquet"
            ]
        );
        for record in Manifest::load(&store).await.unwrap().records() {
            assert_eq!(
                record.outputs[0].path,
                "date=2024-05-14/compacted_xfeed.parquet"
            );
        }
        assert!(!recover(&store).await.unwrap());
    }
}
