//! Atomic output files: written beside their target and renamed into place only on success.

use std::collections::BTreeSet;
use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};

use tempfile::NamedTempFile;

/// Temporary files of every live [`AtomicFile`] in the process, so that a signal handler can
/// remove them before the process exits (see [`remove_pending_files`]).
static PENDING: Mutex<BTreeSet<PathBuf>> = Mutex::new(BTreeSet::new());

fn pending() -> std::sync::MutexGuard<'static, BTreeSet<PathBuf>> {
    PENDING.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Removes the temporary file of every [`AtomicFile`] not yet committed or dropped.
///
/// For a program about to exit on SIGINT or SIGTERM, when destructors will not run: call it from
/// the signal handler so an interrupted run leaves no partial file behind.
///
/// The list stays locked afterwards, for the rest of the process's life: a temporary file being
/// created meanwhile (which holds the lock from its creation until it is listed) is removed with
/// the others, and none can be created after the clean-up. So call it only right before exiting.
pub fn remove_pending_files() {
    let mut pending = pending();
    for path in std::mem::take(&mut *pending) {
        let _ = std::fs::remove_file(path);
    }
    std::mem::forget(pending);
}

/// The random characters in a temporary file's name (`.<name>.XXXXXX.tmp`).
const TEMP_RANDOM_CHARS: usize = 6;

/// Whether `file_name` is the name of one of `target_name`'s temporary files:
/// `.<target_name>.` then [`TEMP_RANDOM_CHARS`] ASCII letters or digits, then `.tmp`.
fn is_temporary_of(file_name: &str, target_name: &str) -> bool {
    file_name
        .strip_prefix('.')
        .and_then(|rest| rest.strip_prefix(target_name))
        .and_then(|rest| rest.strip_prefix('.'))
        .and_then(|rest| rest.strip_suffix(".tmp"))
        .is_some_and(|random| {
            random.len() == TEMP_RANDOM_CHARS && random.bytes().all(|b| b.is_ascii_alphanumeric())
        })
}

/// Removes the temporary files of `target_name` in `dir` that no live [`AtomicFile`] holds:
/// those a killed run left behind (SIGKILL, the OOM killer). Each live one is locked
/// (`flock`) by the process writing it, so a file whose lock can be taken is not in use.
/// Linux only: elsewhere nothing is removed.
/// Best effort: a file that cannot be opened, locked or removed is left alone.
#[cfg(target_os = "linux")]
fn remove_stale_temporaries(dir: &Path, target_name: &str) {
    use rustix::fs::{Mode, OFlags};

    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let file_name = entry.file_name();
        if !file_name
            .to_str()
            .is_some_and(|name| is_temporary_of(name, target_name))
        {
            continue;
        }
        let path = entry.path();
        // Never through a symbolic link, never blocking on a FIFO; regular files only.
        let Ok(fd) = rustix::fs::open(
            &path,
            OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC,
            Mode::empty(),
        ) else {
            continue;
        };
        let file = File::from(fd);
        if !file.metadata().is_ok_and(|metadata| metadata.is_file()) {
            continue;
        }
        // In use (or the file system cannot tell): keep it.
        if try_lock(&file) != Lock::Held {
            continue;
        }
        if is_at(&file, &path) {
            let _ = std::fs::remove_file(&path);
        }
    }
}

#[cfg(not(target_os = "linux"))]
fn remove_stale_temporaries(_dir: &Path, _target_name: &str) {}

/// What an attempt to lock a file found.
#[derive(Debug, PartialEq, Eq)]
enum Lock {
    /// The lock is ours now (until the file is closed).
    Held,
    /// Another open file holds it.
    Busy,
    /// The file system (or the platform) has no such locks.
    Unsupported,
}

/// Takes an exclusive advisory lock on `file` (`flock`, not waiting), on its open file
/// description: another `open` of the same file, in this process or another, cannot take it.
#[cfg(target_os = "linux")]
fn try_lock(file: &File) -> Lock {
    match rustix::fs::flock(file, rustix::fs::FlockOperation::NonBlockingLockExclusive) {
        Ok(()) => Lock::Held,
        Err(rustix::io::Errno::WOULDBLOCK) => Lock::Busy,
        Err(_) => Lock::Unsupported,
    }
}

#[cfg(not(target_os = "linux"))]
fn try_lock(_file: &File) -> Lock {
    Lock::Unsupported
}

/// Whether `path` names `file` (the same inode on the same device), not another file put there
/// since it was opened, or nothing.
fn is_at(file: &File, path: &Path) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt as _;
        match (file.metadata(), std::fs::symlink_metadata(path)) {
            (Ok(open), Ok(named)) => open.dev() == named.dev() && open.ino() == named.ino(),
            _ => false,
        }
    }
    #[cfg(not(unix))]
    {
        let _ = (file, path);
        true
    }
}

/// A file that appears at its target path only when [`AtomicFile::commit`] is called.
///
/// The data goes to a hidden temporary file in the target's directory (so the final rename is
/// atomic on the same file system), `.<name>.XXXXXX.tmp`. Dropping an `AtomicFile` without
/// committing deletes the temporary file, leaving the target exactly as it was; so does
/// [`remove_pending_files`] when the process is interrupted.
///
/// A process killed outright (SIGKILL) cannot remove its temporary files. Every `AtomicFile`
/// holds an advisory lock on its temporary file while it lives, and [`AtomicFile::create`]
/// removes the temporary files of the same target that nobody holds: the next run into the same
/// directory cleans up after the killed one, and never touches a file another run is writing.
#[derive(Debug)]
pub struct AtomicFile {
    /// `None` only after `commit` took it.
    temp: Option<NamedTempFile>,
    target: PathBuf,
}

impl AtomicFile {
    /// Creates the temporary file beside `target`, locked, after removing the temporary files
    /// of `target` that no live `AtomicFile` holds (left by a killed process).
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
        remove_stale_temporaries(&dir, &name);
        let prefix = format!(".{name}.");
        let mut builder = tempfile::Builder::new();
        builder
            .prefix(&prefix)
            .suffix(".tmp")
            .rand_bytes(TEMP_RANDOM_CHARS);
        // Outputs are ordinary files, readable like any other the user creates (tempfile's
        // default is owner-only).
        #[cfg(unix)]
        builder.permissions(std::os::unix::fs::PermissionsExt::from_mode(0o644));
        // Listed under the same lock it is created under: a clean-up on a signal either comes
        // first (and this waits for the exit) or sees the file.
        let mut pending = pending();
        let temp = Self::create_locked(&builder, &dir)?;
        pending.insert(temp.path().to_path_buf());
        drop(pending);
        Ok(Self {
            temp: Some(temp),
            target,
        })
    }

    /// Creates a temporary file and locks it. Another run's clean-up may open the file between
    /// its creation and the lock and remove it: then the lock fails, or the name no longer
    /// leads to the file, and another one is made. On a file system without locks the file is
    /// used unlocked (clean-ups cannot lock it either, so they leave it alone).
    fn create_locked(builder: &tempfile::Builder<'_, '_>, dir: &Path) -> io::Result<NamedTempFile> {
        let mut attempts = 0;
        loop {
            let temp = builder.tempfile_in(dir)?;
            match try_lock(temp.as_file()) {
                Lock::Held if is_at(temp.as_file(), temp.path()) => return Ok(temp),
                Lock::Unsupported => return Ok(temp),
                Lock::Held | Lock::Busy => {}
            }
            attempts += 1;
            if attempts == 10 {
                return Err(io::Error::other(format!(
                    "cannot create a temporary file in `{}` that another process does not remove",
                    dir.display()
                )));
            }
        }
    }

    fn temp(&self) -> &NamedTempFile {
        self.temp
            .as_ref()
            .expect("an AtomicFile holds its temporary file until commit")
    }

    /// The target path.
    #[must_use]
    pub fn target(&self) -> &Path {
        &self.target
    }

    /// The temporary file's path (hidden, beside the target).
    #[must_use]
    pub fn temp_path(&self) -> &Path {
        self.temp().path()
    }

    /// The temporary file, to write to.
    pub fn file_mut(&mut self) -> &mut File {
        self.temp
            .as_mut()
            .expect("an AtomicFile holds its temporary file until commit")
            .as_file_mut()
    }

    /// A handle on the temporary file, to write to (its own file position, starting at 0).
    pub fn reopen(&self) -> io::Result<File> {
        self.temp().reopen()
    }

    /// A handle on the temporary file for writing it front to back, which starts the disk
    /// write-back as it goes and drops what is on disk from the page cache (see
    /// [`StreamingFile`]), so the flush in [`AtomicFile::commit`] finds little left to do.
    pub fn writer(&self) -> io::Result<StreamingFile> {
        Ok(StreamingFile::new(self.reopen()?))
    }

    /// Flushes the data to disk and renames the file to its target, replacing any old file.
    pub fn commit(mut self) -> io::Result<()> {
        let temp = self.temp.take().expect("commit runs once");
        let temp_path = temp.path().to_path_buf();
        let result = temp.as_file().sync_all().and_then(|()| {
            temp.persist(&self.target)
                .map(drop)
                .map_err(|error| error.error)
        });
        pending().remove(&temp_path);
        result
    }
}

impl Drop for AtomicFile {
    fn drop(&mut self) {
        if let Some(temp) = &self.temp {
            pending().remove(temp.path());
        }
    }
}

/// A file written front to back that asks the kernel to start writing each
/// [`StreamingFile::WRITEBACK_BYTES`] to disk as soon as they are written, and to drop them from
/// the page cache once they are on disk.
///
/// An output is flushed to disk before it is renamed into place ([`AtomicFile::commit`]), so
/// that a crash cannot leave an empty or partial file under the target's name. Left to itself,
/// the kernel holds the written pages and that final flush waits for all of them at once (0.3 s
/// for 644 MB of JSONL on the benchmark VM, a fifth of the run). Started early, the disk writes
/// overlap the conversion instead.
///
/// Dropping the pages behind keeps a large export from filling the page cache (and pushing out
/// what other programs had cached): the output occupies a few windows of it at a time, and each
/// new page is one the kernel freed a moment ago, which on the benchmark VM is far cheaper than
/// a page it has to find (kernel time of a second JSONL run in a row: 0.3 s against 0.75–1.4 s).
/// The price: reading the output right after the export reads it from disk.
///
/// On Linux both are `posix_fadvise(POSIX_FADV_DONTNEED)`: on the range just written, it starts
/// the write-back without waiting for it (pages still dirty or under write-back stay cached); on
/// the window before, it drops the pages that are clean by now. Elsewhere nothing is done. A
/// failed hint is ignored: it is advice, and a real write error surfaces at the flush.
#[derive(Debug)]
pub struct StreamingFile {
    file: File,
    /// Bytes written so far.
    written: u64,
    /// Bytes whose write-back was started.
    started: u64,
    /// Bytes before this were advised out of the page cache.
    dropped: u64,
}

impl StreamingFile {
    /// Write-back is started every time this many more bytes were written.
    pub const WRITEBACK_BYTES: u64 = 8 << 20;

    /// Wraps `file`, positioned at its start.
    #[must_use]
    pub fn new(file: File) -> Self {
        Self {
            file,
            written: 0,
            started: 0,
            dropped: 0,
        }
    }

    fn write_back_and_drop(&mut self) {
        advise_dont_need(&self.file, self.started, self.written);
        // The window before, whose write-back started one window ago and has most likely
        // finished: its clean pages are dropped.
        advise_dont_need(&self.file, self.dropped, self.started);
        self.dropped = self.started;
        self.started = self.written;
    }
}

/// `posix_fadvise(POSIX_FADV_DONTNEED)` on the bytes `from..to` of `file` (nothing for an empty
/// range, which the call would take as "to the end of the file"); nothing off Linux.
fn advise_dont_need(file: &File, from: u64, to: u64) {
    #[cfg(target_os = "linux")]
    if let Some(length) = std::num::NonZeroU64::new(to - from) {
        let _ = rustix::fs::fadvise(file, from, Some(length), rustix::fs::Advice::DontNeed);
    }
    #[cfg(not(target_os = "linux"))]
    let _ = (file, from, to);
}

impl io::Write for StreamingFile {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let written = self.file.write(data)?;
        self.written += written as u64;
        if self.written - self.started >= Self::WRITEBACK_BYTES {
            self.write_back_and_drop();
        }
        Ok(written)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

/// A writer that can also take whole buffers: a writer that builds its output in a `Vec` hands
/// the buffer over with [`Sink::write_vec`] rather than having it copied ([`BackgroundWriter`]
/// sends it to its thread as it is, and gives back a spent buffer in its place).
///
/// The default `write_vec` writes the bytes with `write_all` and clears the buffer, so any
/// writer can be a sink; the common ones are.
pub trait Sink: io::Write + Send {
    /// Writes all of `data`, after whatever was written before it, and leaves `data` empty (the
    /// same buffer cleared, or another one, which may have room already).
    fn write_vec(&mut self, data: &mut Vec<u8>) -> io::Result<()> {
        self.write_all(data)?;
        data.clear();
        Ok(())
    }
}

impl Sink for Vec<u8> {
    fn write_vec(&mut self, data: &mut Vec<u8>) -> io::Result<()> {
        if self.is_empty() {
            std::mem::swap(self, data);
        } else {
            self.append(data);
        }
        Ok(())
    }
}

impl Sink for File {}
impl Sink for StreamingFile {}
impl Sink for io::Stdout {}
impl Sink for io::Sink {}
impl<W: io::Write + Send> Sink for io::BufWriter<W> {}

impl<S: Sink + ?Sized> Sink for Box<S> {
    fn write_vec(&mut self, data: &mut Vec<u8>) -> io::Result<()> {
        (**self).write_vec(data)
    }
}

impl<S: Sink + ?Sized> Sink for &mut S {
    fn write_vec(&mut self, data: &mut Vec<u8>) -> io::Result<()> {
        (**self).write_vec(data)
    }
}

impl Sink for BackgroundWriter {
    fn write_vec(&mut self, data: &mut Vec<u8>) -> io::Result<()> {
        BackgroundWriter::write_vec(self, data)
    }
}

/// A writer that hands full buffers to a thread of its own, which makes the write system calls,
/// so formatting and the kernel's copy into the page cache overlap.
///
/// Memory: at most [`BackgroundWriter::BUFFERS_IN_FLIGHT`] + 2 buffers of
/// [`BackgroundWriter::BUFFER_BYTES`] each; written buffers come back to be filled again, so a
/// long export neither allocates nor page-faults per buffer. A write error on the thread is
/// returned by the next `write` or `flush`; `flush` waits until everything before it is written,
/// so a writer whose `flush` succeeded has lost nothing. Dropping it without a flush waits for
/// the thread but cannot report an error: always flush (every exporter's `finish` does).
pub struct BackgroundWriter {
    buffer: Vec<u8>,
    /// The size of one buffer.
    buffer_bytes: usize,
    sender: Option<std::sync::mpsc::SyncSender<Chunk>>,
    /// Written buffers, cleared, for reuse.
    spent: std::sync::mpsc::Receiver<Vec<u8>>,
    thread: Option<std::thread::JoinHandle<()>>,
    /// Set by the thread when a write failed; the error itself is in `error`.
    failed: std::sync::Arc<std::sync::atomic::AtomicBool>,
    error: std::sync::Arc<std::sync::Mutex<Option<io::Error>>>,
}

enum Chunk {
    Data(Vec<u8>),
    Flush(std::sync::mpsc::SyncSender<io::Result<()>>),
}

/// A copy of `error` (`io::Error` is not `Clone`).
fn copy_error(error: &io::Error) -> io::Error {
    io::Error::new(error.kind(), error.to_string())
}

impl BackgroundWriter {
    /// The size of one buffer.
    pub const BUFFER_BYTES: usize = 1 << 20;
    /// Buffers queued for the thread at most.
    pub const BUFFERS_IN_FLIGHT: usize = 4;

    /// Starts the writing thread over `inner`, with [`BackgroundWriter::BUFFERS_IN_FLIGHT`]
    /// buffers of [`BackgroundWriter::BUFFER_BYTES`].
    pub fn new<W: io::Write + Send + 'static>(inner: W) -> Self {
        Self::with_buffers(inner, Self::BUFFER_BYTES, Self::BUFFERS_IN_FLIGHT)
    }

    /// Starts the writing thread over `inner`, with at most `in_flight` buffers of
    /// `buffer_bytes` queued (so at most `in_flight + 2` of them exist).
    pub fn with_buffers<W: io::Write + Send + 'static>(
        mut inner: W,
        buffer_bytes: usize,
        in_flight: usize,
    ) -> Self {
        use std::sync::atomic::Ordering;

        let (sender, receiver) = std::sync::mpsc::sync_channel::<Chunk>(in_flight);
        let (give_back, spent) = std::sync::mpsc::sync_channel::<Vec<u8>>(in_flight);
        let failed = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let error = std::sync::Arc::new(std::sync::Mutex::new(None::<io::Error>));
        let (thread_failed, thread_error) = (
            std::sync::Arc::clone(&failed),
            std::sync::Arc::clone(&error),
        );
        let thread = std::thread::spawn(move || {
            let mut result = Ok(());
            for chunk in receiver {
                match chunk {
                    Chunk::Data(mut data) => {
                        if result.is_ok() {
                            result = inner.write_all(&data);
                        }
                        data.clear();
                        // A full return channel means enough buffers are waiting: drop this one.
                        let _ = give_back.try_send(data);
                    }
                    Chunk::Flush(reply) => {
                        if result.is_ok() {
                            result = inner.flush();
                        }
                        let answer = match &result {
                            Ok(()) => Ok(()),
                            Err(error) => Err(copy_error(error)),
                        };
                        let _ = reply.send(answer);
                    }
                }
                if let Err(failure) = &result
                    && !thread_failed.load(Ordering::Relaxed)
                {
                    *thread_error
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner) =
                        Some(copy_error(failure));
                    thread_failed.store(true, Ordering::Release);
                }
            }
        });
        Self {
            buffer: Vec::with_capacity(buffer_bytes),
            buffer_bytes,
            sender: Some(sender),
            spent,
            thread: Some(thread),
            failed,
            error,
        }
    }

    fn check(&self) -> io::Result<()> {
        if !self.failed.load(std::sync::atomic::Ordering::Acquire) {
            return Ok(());
        }
        let slot = self
            .error
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        Err(slot
            .as_ref()
            .map_or_else(|| io::Error::other("the writing thread failed"), copy_error))
    }

    fn send(&mut self, chunk: Chunk) -> io::Result<()> {
        let sender = self
            .sender
            .as_ref()
            .ok_or_else(|| io::Error::other("writer closed"))?;
        sender
            .send(chunk)
            .map_err(|_| io::Error::other("the writing thread stopped"))
    }

    /// Hands `data` to the thread as it is, without copying it (after whatever was written
    /// before it), and leaves a spent buffer, empty, in its place.
    pub fn write_vec(&mut self, data: &mut Vec<u8>) -> io::Result<()> {
        self.check()?;
        self.send_buffer()?;
        let full = std::mem::replace(data, self.spare());
        self.send(Chunk::Data(full))
    }

    fn send_buffer(&mut self) -> io::Result<()> {
        if self.buffer.is_empty() {
            return Ok(());
        }
        let next = self.spare();
        let full = std::mem::replace(&mut self.buffer, next);
        self.send(Chunk::Data(full))
    }

    /// A written buffer given back by the thread, or a new one.
    fn spare(&self) -> Vec<u8> {
        self.spent
            .try_recv()
            .unwrap_or_else(|_| Vec::with_capacity(self.buffer_bytes))
    }
}

impl io::Write for BackgroundWriter {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.check()?;
        if self.buffer.len() + data.len() > self.buffer_bytes {
            self.send_buffer()?;
        }
        self.buffer.extend_from_slice(data);
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.send_buffer()?;
        let (reply, answer) = std::sync::mpsc::sync_channel(1);
        self.send(Chunk::Flush(reply))?;
        answer
            .recv()
            .map_err(|_| io::Error::other("the writing thread stopped"))??;
        self.check()
    }
}

impl Drop for BackgroundWriter {
    fn drop(&mut self) {
        let _ = self.send_buffer();
        self.sender = None;
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl std::fmt::Debug for BackgroundWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BackgroundWriter")
            .field("buffered", &self.buffer.len())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use std::fs;
    use std::io::Write;

    use super::*;

    #[test]
    fn background_writer_writes_everything_in_order() {
        let dir = tempfile::tempdir().unwrap();
        // About 12 buffers' worth with the default buffers, thousands with small ones (and
        // lines longer than a buffer), so written buffers come back and are filled again.
        for (name, buffer_bytes, in_flight, lines) in [
            (
                "default",
                BackgroundWriter::BUFFER_BYTES,
                BackgroundWriter::BUFFERS_IN_FLIGHT,
                200_000,
            ),
            ("small", 4096, 1, 20_000),
            ("tiny", 40, 2, 5_000),
        ] {
            let path = dir.path().join(name);
            let file = File::create(&path).unwrap();
            let mut writer = BackgroundWriter::with_buffers(file, buffer_bytes, in_flight);
            let mut expected = Vec::new();
            for index in 0..lines {
                let line = format!("{index:>60}\n");
                writer.write_all(line.as_bytes()).unwrap();
                expected.extend_from_slice(line.as_bytes());
            }
            // Whole buffers handed over too, between copied writes.
            let mut piece = b"handed over\n".to_vec();
            writer.write_vec(&mut piece).unwrap();
            assert!(piece.is_empty());
            expected.extend_from_slice(b"handed over\n");
            writer.write_all(b"last\n").unwrap();
            expected.extend_from_slice(b"last\n");
            writer.flush().unwrap();
            assert_eq!(std::fs::read(&path).unwrap(), expected, "{name}");
        }
    }

    #[test]
    fn streaming_file_writes_everything_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let file = AtomicFile::create(dir.path().join("out.bin")).unwrap();
        let mut writer = file.writer().unwrap();
        // Pieces of odd sizes over several write-back windows, one of them larger than a window.
        let window = StreamingFile::WRITEBACK_BYTES as usize;
        let mut expected = Vec::new();
        for (index, size) in [1, 4095, window - 7, window + window / 2, 3, window]
            .iter()
            .enumerate()
        {
            let piece = vec![b'a' + index as u8; *size];
            writer.write_all(&piece).unwrap();
            expected.extend_from_slice(&piece);
        }
        writer.flush().unwrap();
        drop(writer);
        file.commit().unwrap();
        assert_eq!(std::fs::read(dir.path().join("out.bin")).unwrap(), expected);
    }

    #[test]
    fn temporary_names_are_recognised_exactly() {
        assert!(is_temporary_of(".out.jsonl.a1B2c3.tmp", "out.jsonl"));
        for other in [
            ".out.jsonl.a1B2c.tmp",
            ".out.jsonl.a1B2c34.tmp",
            ".out.jsonl.a1-2c3.tmp",
            "out.jsonl.a1B2c3.tmp",
            ".out.jsonl.a1B2c3.tmpx",
            ".out.jsonlx.a1B2c3.tmp",
            ".other.jsonl.a1B2c3.tmp",
            ".out.jsonl.tmp",
        ] {
            assert!(!is_temporary_of(other, "out.jsonl"), "{other}");
        }
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn create_removes_only_stale_temporaries_of_its_target() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("out.jsonl");
        // A live AtomicFile of the same target: locked, so kept.
        let live = AtomicFile::create(&target).unwrap();
        let live_path = live.temp_path().to_path_buf();
        // What a killed run leaves: an unlocked temporary file.
        let stale = dir.path().join(".out.jsonl.Zz9Yy8.tmp");
        fs::write(&stale, b"partial").unwrap();
        // Not chatdump's temporaries of this target: kept.
        let kept = [
            ".out.jsonl.tmp",
            ".other.jsonl.Zz9Yy8.tmp",
            "out.jsonl.Zz9Yy8.tmp",
            ".out.jsonl.Zz9Yy8x.tmp",
        ];
        for name in kept {
            fs::write(dir.path().join(name), b"keep").unwrap();
        }
        // A symbolic link with a temporary's name is never followed.
        let outside = dir.path().join("outside");
        fs::write(&outside, b"outside").unwrap();
        std::os::unix::fs::symlink(&outside, dir.path().join(".out.jsonl.Link00.tmp")).unwrap();

        let second = AtomicFile::create(&target).unwrap();
        assert!(!stale.exists(), "the stale temporary was not removed");
        assert!(live_path.exists(), "a live temporary was removed");
        for name in kept {
            assert!(dir.path().join(name).exists(), "{name} was removed");
        }
        assert_eq!(fs::read(&outside).unwrap(), b"outside");
        // The second file is locked too: a third create leaves both.
        let second_path = second.temp_path().to_path_buf();
        let third = AtomicFile::create(&target).unwrap();
        assert!(live_path.exists() && second_path.exists());
        drop((live, second, third));
    }

    #[test]
    fn background_writer_reports_errors_on_flush() {
        struct Failing;
        impl Write for Failing {
            fn write(&mut self, _: &[u8]) -> io::Result<usize> {
                Err(io::Error::new(io::ErrorKind::StorageFull, "disk full"))
            }
            fn flush(&mut self) -> io::Result<()> {
                Ok(())
            }
        }
        let mut writer = BackgroundWriter::new(Failing);
        writer.write_all(b"data").unwrap();
        let error = writer.flush().unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::StorageFull);
    }
}
