//! Downloaded files, written without blocking the async executor: the file system calls that
//! may wait on the disk (create, sync and rename) run on tokio's blocking pool.

use std::io;
use std::path::{Path, PathBuf};

use chatdump_core::output::AtomicFile;

/// Runs `call` on the blocking pool; a panic there resumes here.
pub async fn blocking<T: Send + 'static>(
    call: impl FnOnce() -> io::Result<T> + Send + 'static,
) -> io::Result<T> {
    tokio::task::spawn_blocking(call)
        .await
        .unwrap_or_else(|error| std::panic::resume_unwind(error.into_panic()))
}

/// A download's target: the [`AtomicFile`] beside `target` and an async handle to write it.
pub async fn create(target: &Path) -> io::Result<(AtomicFile, tokio::fs::File)> {
    let owned: PathBuf = target.to_path_buf();
    let (file, handle) = blocking(move || {
        let file = AtomicFile::create(owned)?;
        let handle = file.reopen()?;
        Ok((file, handle))
    })
    .await?;
    Ok((file, tokio::fs::File::from_std(handle)))
}

/// Puts a finished download in place (flushed to disk, then renamed).
pub async fn commit(file: AtomicFile) -> io::Result<()> {
    blocking(move || file.commit()).await
}
