//! Hive-partitioned datasets: `ROOT/date=YYYY-MM-DD/<session_id>.parquet`, one file per session.

use std::collections::HashMap;
use std::fs;
use std::io::{self, BufWriter};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use chatdump_core::export::{ExportContext, ExportError, Exporter};
use chatdump_core::model::Message;
use chatdump_core::output::{AtomicFile, StreamingFile};
use chatdump_core::stem::session_file_stem;

use crate::options::ParquetOptions;
use crate::writer::ParquetWriter;

/// The memory all open session files may buffer together before the largest is flushed.
pub const DEFAULT_DATASET_MEMORY: usize = 48 << 20;

/// A partitioned Parquet dataset being written under one root directory.
///
/// Layout: `ROOT/date=YYYY-MM-DD/<session_id>.parquet`, one file per session, where the date is
/// the UTC day of the session's first message. Meeting and session ids stay columns (every file
/// has the full [`crate::ParquetWriter`] schema); only the date is a directory. Spark,
/// Trino/Athena, `BigQuery` and `DuckDB` (`hive_partitioning = true`) read the root as one table with
/// an extra `date` column.
///
/// The file stem is [`chatdump_core::stem::session_file_stem`] of the session id, the one rule
/// every entry point names a session's files by.
///
/// Files are written beside their targets and appear only on [`Dataset::commit`], which the
/// caller runs after the whole export succeeded. Committing a session also deletes the same
/// session's file under any other `date=` directory of the root, so exporting a session again
/// replaces its rows rather than duplicating them.
#[derive(Debug, Clone)]
pub struct Dataset {
    root: PathBuf,
    options: ParquetOptions,
    memory: usize,
    /// Shared with its writer, which may run on another thread.
    finished: Arc<Mutex<Pending>>,
}

/// What a dataset has written but not committed yet.
#[derive(Debug, Default)]
struct Pending {
    files: Vec<FinishedFile>,
    /// Directories this dataset created (root first); removed again if they end up empty, so
    /// a failed run leaves the output as it was.
    created_dirs: Vec<PathBuf>,
}

impl Drop for Pending {
    fn drop(&mut self) {
        // Uncommitted temporary files go first, then the directories made for them.
        self.files.clear();
        for dir in self.created_dirs.iter().rev() {
            // `remove_dir` removes only empty directories: committed output stays.
            let _ = fs::remove_dir(dir);
        }
    }
}

#[derive(Debug)]
struct FinishedFile {
    file: AtomicFile,
    date_dir: String,
    file_name: String,
}

impl Dataset {
    /// What was written and not committed (a writer that panicked left it consistent: each
    /// change is one push).
    fn pending(&self) -> MutexGuard<'_, Pending> {
        self.finished.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A dataset under `root` (created when the first file is).
    pub fn new(root: impl Into<PathBuf>, options: ParquetOptions) -> Self {
        Self {
            root: root.into(),
            options,
            memory: DEFAULT_DATASET_MEMORY,
            finished: Arc::default(),
        }
    }

    /// The root directory.
    #[must_use]
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The exporter that writes the files. Its output is kept until [`Dataset::commit`].
    #[must_use]
    pub fn exporter(&self) -> DatasetWriter {
        DatasetWriter {
            dataset: self.clone(),
            context: ExportContext::default(),
            sessions: HashMap::new(),
            open: Vec::new(),
            since_check: 0,
        }
    }

    /// Moves every finished file into place, deletes older copies of the same sessions under
    /// other dates, and returns the paths written.
    pub fn commit(&self) -> io::Result<Vec<PathBuf>> {
        let finished = std::mem::take(&mut self.pending().files);
        let mut written = Vec::with_capacity(finished.len());
        for file in finished {
            let target = file.file.target().to_owned();
            file.file.commit()?;
            self.remove_stale(&file.date_dir, &file.file_name)?;
            written.push(target);
        }
        Ok(written)
    }

    fn remove_stale(&self, keep_dir: &str, file_name: &str) -> io::Result<()> {
        for entry in fs::read_dir(&self.root)? {
            let entry = entry?;
            let name = entry.file_name();
            let Some(name) = name.to_str() else { continue };
            if !name.starts_with("date=") || name == keep_dir || !entry.file_type()?.is_dir() {
                continue;
            }
            let stale = entry.path().join(file_name);
            match fs::remove_file(&stale) {
                Ok(()) => {
                    // Leave no empty partition behind; `remove_dir` fails if other files remain.
                    let _ = fs::remove_dir(entry.path());
                }
                Err(error) if error.kind() == io::ErrorKind::NotFound => {}
                Err(error) => return Err(error),
            }
        }
        Ok(())
    }
}

/// The partition directory name for a message: `date=YYYY-MM-DD` of `created_at` in UTC.
#[must_use]
pub fn date_partition(message: &Message) -> String {
    let days = message.created_at.as_second().div_euclid(86_400);
    let (year, month, day) = civil_from_days(days);
    format!("date={year:04}-{month:02}-{day:02}")
}

/// The proleptic Gregorian date of a day number (days since 1970-01-01), after Howard Hinnant's
/// `civil_from_days`.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    // Both are in range by construction (1..=31 and 1..=12).
    let day = u32::try_from(doy - (153 * mp + 2) / 5 + 1).unwrap_or(1);
    let month = u32::try_from(if mp < 10 { mp + 3 } else { mp - 9 }).unwrap_or(1);
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// The [`Exporter`] of a [`Dataset`]: routes each message to its session's file.
///
/// Memory: each open session file buffers at most one row group; when all of them together
/// hold more than 48 MiB, the largest closes its row group early. The first session's file is
/// encoded on a second thread, the others on the caller's.
#[derive(Debug)]
pub struct DatasetWriter {
    dataset: Dataset,
    context: ExportContext,
    sessions: HashMap<String, usize>,
    open: Vec<SessionFile>,
    since_check: usize,
}

#[derive(Debug)]
struct SessionFile {
    writer: ParquetWriter<BufWriter<StreamingFile>>,
    file: AtomicFile,
    date_dir: String,
    file_name: String,
}

/// Messages between two checks of the memory bound.
const CHECK_EVERY: usize = 1024;

impl DatasetWriter {
    fn open(&mut self, message: &Message) -> Result<usize, ExportError> {
        let stem = session_file_stem(&message.session_id).ok_or_else(|| {
            ExportError::format(format!(
                "session id `{}…` is too long to name a file",
                chatdump_core::escape::escape_for_terminal(&message.session_id, 40)
            ))
        })?;
        let date_dir = date_partition(message);
        let dir = self.dataset.root.join(&date_dir);
        {
            let mut pending = self.dataset.pending();
            for path in [&self.dataset.root, &dir] {
                if !path.exists() {
                    pending.created_dirs.push(path.clone());
                }
            }
        }
        fs::create_dir_all(&dir).map_err(|error| {
            ExportError::Io(io::Error::new(
                error.kind(),
                format!(
                    "cannot create the partition directory `{}`: {error}",
                    dir.display()
                ),
            ))
        })?;
        let file_name = format!("{stem}.parquet");
        let file = AtomicFile::create(dir.join(&file_name))?;
        let out = BufWriter::with_capacity(256 << 10, file.writer()?);
        let options = self.dataset.options.clone();
        let mut writer = if self.open.is_empty() {
            ParquetWriter::new(out, options)
        } else {
            ParquetWriter::new_inline(out, options)
        };
        writer.begin(&self.context)?;
        self.open.push(SessionFile {
            writer,
            file,
            date_dir,
            file_name,
        });
        let index = self.open.len() - 1;
        self.sessions.insert(message.session_id.clone(), index);
        Ok(index)
    }

    /// Closes row groups, largest first, until the open files fit the memory bound.
    fn bound_memory(&mut self) -> Result<(), ExportError> {
        loop {
            let sizes = self.open.iter().map(|file| file.writer.buffered_bytes());
            if sizes.clone().sum::<usize>() <= self.dataset.memory {
                return Ok(());
            }
            let Some((largest, _)) = sizes.enumerate().max_by_key(|(_, size)| *size) else {
                return Ok(());
            };
            let before = self.open[largest].writer.buffered_bytes();
            self.open[largest].writer.flush_row_group()?;
            if self.open[largest].writer.buffered_bytes() >= before {
                // Nothing more can be released (a threaded writer's row group is its own).
                return Ok(());
            }
        }
    }
}

impl Exporter for DatasetWriter {
    fn begin(&mut self, context: &ExportContext) -> Result<(), ExportError> {
        self.context = context.clone();
        Ok(())
    }

    fn message(&mut self, message: &Message) -> Result<(), ExportError> {
        let index = match self.sessions.get(&message.session_id) {
            Some(index) => *index,
            None => self.open(message)?,
        };
        self.open[index].writer.message(message)?;
        self.since_check += 1;
        if self.since_check >= CHECK_EVERY && self.open.len() > 1 {
            self.since_check = 0;
            self.bound_memory()?;
        }
        Ok(())
    }

    fn finish(&mut self) -> Result<(), ExportError> {
        for mut session in self.open.drain(..) {
            session.writer.finish()?;
            drop(session.writer);
            self.dataset.pending().files.push(FinishedFile {
                file: session.file,
                date_dir: session.date_dir,
                file_name: session.file_name,
            });
        }
        self.sessions.clear();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_dates() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(-1), (1969, 12, 31));
        assert_eq!(civil_from_days(19_857), (2024, 5, 14));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
    }
}

#[cfg(test)]
mod dataset_tests {
    use std::fs::File;

    use chatdump_core::model::{PayloadType, Position};
    use parquet::file::reader::{FileReader, SerializedFileReader};

    use super::*;

    fn message(session: &str, id: usize, at: &str) -> Message {
        Message {
            id: format!("m{id}"),
            session_id: session.into(),
            meeting_id: "mt".into(),
            participant_id: "p".into(),
            display_name: "d".into(),
            pinned: false,
            edited: false,
            created_at: at.parse().unwrap(),
            payload_type: PayloadType::Text,
            payload: format!("message {id} {}", "x".repeat(200)),
            extra: Vec::new(),
            position: Position::default(),
        }
    }

    fn row_groups(path: &Path) -> (usize, i64) {
        let reader = SerializedFileReader::new(File::open(path).unwrap()).unwrap();
        let metadata = reader.metadata();
        (
            metadata.num_row_groups(),
            metadata.file_metadata().num_rows(),
        )
    }

    #[test]
    fn sessions_get_files_by_start_date_and_memory_stays_bounded() {
        let dir = tempfile::tempdir().unwrap();
        let mut dataset = Dataset::new(dir.path().join("root"), ParquetOptions::default());
        // A tiny budget: interleaved sessions force early row groups.
        dataset.memory = 64 << 10;
        let mut writer = dataset.exporter();
        writer.begin(&ExportContext::default()).unwrap();
        for i in 0..6000 {
            let session = ["a", "b", "c"][i % 3];
            let at = if session == "c" && i > 3 {
                "2024-05-15T00:00:01Z"
            } else {
                "2024-05-14T23:59:59Z"
            };
            writer.message(&message(session, i, at)).unwrap();
        }
        writer.finish().unwrap();
        assert!(!dir.path().join("root/date=2024-05-14/a.parquet").exists());
        let written = dataset.commit().unwrap();
        assert_eq!(written.len(), 3);
        for name in ["a", "b", "c"] {
            let path = dir
                .path()
                .join(format!("root/date=2024-05-14/{name}.parquet"));
            let (groups, rows) = row_groups(&path);
            assert_eq!(rows, 2000, "{name}");
            if name != "a" {
                // Inline writers were flushed to respect the budget.
                assert!(groups > 1, "{name}: {groups} row groups");
            }
        }
    }

    #[test]
    fn commit_removes_the_session_under_other_dates() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("root");
        let old = root.join("date=2024-01-01");
        fs::create_dir_all(&old).unwrap();
        fs::write(old.join("a.parquet"), b"old").unwrap();
        fs::write(old.join("b.parquet"), b"other session").unwrap();
        let dataset = Dataset::new(&root, ParquetOptions::default());
        let mut writer = dataset.exporter();
        writer.begin(&ExportContext::default()).unwrap();
        writer
            .message(&message("a", 1, "2024-05-14T10:00:00Z"))
            .unwrap();
        writer.finish().unwrap();
        drop(writer);
        dataset.commit().unwrap();
        drop(dataset);
        assert!(!old.join("a.parquet").exists());
        assert!(old.join("b.parquet").exists());
        assert!(root.join("date=2024-05-14/a.parquet").exists());
    }

    #[test]
    fn an_unfinished_dataset_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("root");
        let dataset = Dataset::new(&root, ParquetOptions::default());
        let mut writer = dataset.exporter();
        writer.begin(&ExportContext::default()).unwrap();
        writer
            .message(&message("a", 1, "2024-05-14T10:00:00Z"))
            .unwrap();
        drop(writer);
        let leftovers: Vec<_> = fs::read_dir(root.join("date=2024-05-14"))
            .unwrap()
            .collect();
        assert!(leftovers.is_empty(), "{leftovers:?}");
        // Dropping the dataset uncommitted removes the directories it created.
        drop(dataset);
        assert!(!root.exists());
        assert!(dir.path().exists());
    }
}
