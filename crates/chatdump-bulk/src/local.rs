//! The local files of a run: its temporary directory, and the JSON report.

use std::fs;
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};

use chatdump_core::escape::escape_for_terminal;
use chatdump_core::output::AtomicFile;

use crate::BulkError;

/// What a run's temporary directory is called, before the process id.
pub const RUN_DIR_PREFIX: &str = ".chatdump-bulk-run-";

/// This run's temporary directory, `.chatdump-bulk-run-<pid>` in the caller's temporary
/// directory, removed when dropped. The sessions in flight keep their files there
/// ([`ExportOptions::temp_dir`](crate::ExportOptions::temp_dir)); a run that was killed (SIGINT
/// exits at once, SIGKILL cannot be caught) leaves it behind, so [`RunDir::create`] first
/// removes those of runs whose process is gone (Linux: no `/proc/<pid>`; elsewhere none are
/// removed).
#[derive(Debug)]
pub struct RunDir(PathBuf);

impl RunDir {
    /// Removes the run directories of dead processes in `temp_root`, then creates this
    /// process's.
    ///
    /// # Errors
    ///
    /// [`BulkError::Io`] when the directory cannot be created.
    pub fn create(temp_root: &Path) -> Result<Self, BulkError> {
        if cfg!(target_os = "linux")
            && let Ok(entries) = fs::read_dir(temp_root)
        {
            for entry in entries.flatten() {
                let name = entry.file_name();
                let pid = name
                    .to_str()
                    .and_then(|name| name.strip_prefix(RUN_DIR_PREFIX))
                    .and_then(|pid| pid.parse::<u32>().ok());
                if let Some(pid) = pid
                    && !Path::new(&format!("/proc/{pid}")).exists()
                {
                    let _ = fs::remove_dir_all(entry.path());
                }
            }
        }
        let dir = temp_root.join(format!("{RUN_DIR_PREFIX}{}", std::process::id()));
        fs::create_dir_all(&dir).map_err(|source| BulkError::Io {
            action: "create the temporary directory",
            path: escape_for_terminal(&dir.display().to_string(), 200),
            source,
        })?;
        Ok(Self(dir))
    }

    /// The directory.
    #[must_use]
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for RunDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// Writes `value` (a [`Report`](crate::Report), a [`CompactReport`](crate::CompactReport)) as
/// pretty JSON and a line feed to `path`, atomically.
///
/// # Errors
///
/// [`BulkError::Io`] (cannot write the file) when the file cannot be written.
pub fn write_json(path: &Path, value: &impl serde::Serialize) -> Result<(), BulkError> {
    let write = || -> io::Result<()> {
        let file = AtomicFile::create(path)?;
        let mut handle = file.reopen()?;
        serde_json::to_writer_pretty(&mut handle, value)?;
        handle.write_all(b"\n")?;
        drop(handle);
        file.commit()
    };
    write().map_err(|source| BulkError::Io {
        action: "write",
        path: escape_for_terminal(&path.display().to_string(), 200),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_dirs_of_dead_processes_are_removed_and_this_one_on_drop() {
        let root = tempfile::tempdir().unwrap();
        // No process has the largest pid (Linux caps pids at 2^22); pid 1 always runs.
        let dead = root.path().join(format!("{RUN_DIR_PREFIX}{}", u32::MAX));
        let alive = root.path().join(format!("{RUN_DIR_PREFIX}1"));
        let not_a_pid = root.path().join(format!("{RUN_DIR_PREFIX}x"));
        let other = root.path().join("other-123");
        for dir in [&dead, &alive, &not_a_pid, &other] {
            fs::create_dir(dir).unwrap();
            fs::write(dir.join("f"), "x").unwrap();
        }
        let run = RunDir::create(root.path()).unwrap();
        let own = root
            .path()
            .join(format!("{RUN_DIR_PREFIX}{}", std::process::id()));
        assert_eq!(run.path(), own);
        assert!(own.is_dir());
        if cfg!(target_os = "linux") {
            assert!(!dead.exists(), "a dead run's directory is left");
        }
        for kept in [&alive, &not_a_pid, &other] {
            assert!(kept.join("f").exists(), "{} removed", kept.display());
        }
        drop(run);
        assert!(!own.exists());
    }

    #[test]
    fn a_run_dir_that_cannot_be_created_names_it() {
        let root = tempfile::tempdir().unwrap();
        let file = root.path().join("file");
        fs::write(&file, "x").unwrap();
        let error = RunDir::create(&file).unwrap_err().to_string();
        assert!(
            error.starts_with("cannot create the temporary directory `")
                && error.contains(&format!("file/{RUN_DIR_PREFIX}")),
            "{error}"
        );
    }

    #[test]
    fn json_reports_are_written_whole_or_not_at_all() {
        let root = tempfile::tempdir().unwrap();
        let path = root.path().join("report.json");
        write_json(&path, &serde_json::json!({"sessions": 2})).unwrap();
        assert_eq!(
            fs::read_to_string(&path).unwrap(),
            "{\n  \"sessions\": 2\n}\n"
        );
        let missing = root.path().join("no/such/dir/report.json");
        let error = write_json(&missing, &1).unwrap_err().to_string();
        assert_eq!(
            error,
            format!(
                "cannot write `{}`",
                escape_for_terminal(&missing.display().to_string(), 200)
            )
        );
    }
}
