//! Atomic output files: written beside their target and renamed into place only on success.

use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};

use tempfile::NamedTempFile;

/// A file that appears at its target path only when [`AtomicFile::commit`] is called.
///
/// The data goes to a hidden temporary file in the target's directory (so the final rename is
/// atomic on the same file system). Dropping an `AtomicFile` without committing deletes the
/// temporary file, leaving the target exactly as it was.
#[derive(Debug)]
pub struct AtomicFile {
    temp: NamedTempFile,
    target: PathBuf,
}

impl AtomicFile {
    /// Creates the temporary file beside `target`.
    pub fn create(target: impl Into<PathBuf>) -> io::Result<Self> {
        let target = target.into();
        let dir = match target.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let name = target.file_name().map_or_else(
            || "output".into(),
            |name| name.to_string_lossy().into_owned(),
        );
        let prefix = format!(".{name}.");
        let mut builder = tempfile::Builder::new();
        builder.prefix(&prefix).suffix(".tmp");
        // Outputs are ordinary files, readable like any other the user creates (tempfile's
        // default is owner-only).
        #[cfg(unix)]
        builder.permissions(std::os::unix::fs::PermissionsExt::from_mode(0o644));
        let temp = builder.tempfile_in(&dir)?;
        Ok(Self { temp, target })
    }

    /// The target path.
    #[must_use]
    pub fn target(&self) -> &Path {
        &self.target
    }

    /// The temporary file, to write to.
    pub fn file_mut(&mut self) -> &mut File {
        self.temp.as_file_mut()
    }

    /// A second handle on the temporary file, for writers that want to own one.
    pub fn reopen(&self) -> io::Result<File> {
        self.temp.reopen()
    }

    /// Flushes the data to disk and renames the file to its target, replacing any old file.
    pub fn commit(self) -> io::Result<()> {
        self.temp.as_file().sync_all()?;
        self.temp
            .persist(&self.target)
            .map(drop)
            .map_err(|error| error.error)
    }
}
