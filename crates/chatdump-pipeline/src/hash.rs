//! The content hash of an output, computed as it is written.

use std::io::{self, Write};
use std::sync::{Arc, Mutex, PoisonError};

use sha2::{Digest as _, Sha256};

/// Counts and hashes what passes through to `inner`. Placed under the output's
/// `BackgroundWriter`, the hashing runs on the writing thread, beside the write system calls.
pub(crate) struct Hashing<W> {
    inner: W,
    state: Arc<Mutex<HashState>>,
}

/// The running count and hash of one output.
#[derive(Default)]
pub(crate) struct HashState {
    bytes: u64,
    /// `None` when the caller did not ask for content hashes: only the bytes are counted.
    hasher: Option<Sha256>,
}

/// A handle on an output's running count and hash, read after the output is finished.
#[derive(Clone, Default)]
pub(crate) struct HashHandle(Arc<Mutex<HashState>>);

impl HashHandle {
    /// A handle that counts the bytes, and hashes them when `hash` is set.
    pub(crate) fn new(hash: bool) -> Self {
        Self(Arc::new(Mutex::new(HashState {
            bytes: 0,
            hasher: hash.then(Sha256::new),
        })))
    }

    /// Wraps `inner` so that everything written through it is counted and hashed here.
    pub(crate) fn wrap<W: Write>(&self, inner: W) -> Hashing<W> {
        Hashing {
            inner,
            state: Arc::clone(&self.0),
        }
    }

    /// The bytes written so far and, when asked for, their SHA-256 as lower-case hex.
    pub(crate) fn finish(&self) -> (u64, Option<String>) {
        let state = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let sha256 = state.hasher.clone().map(|hasher| hex(&hasher.finalize()));
        (state.bytes, sha256)
    }
}

impl<W: Write> Write for Hashing<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let written = self.inner.write(buf)?;
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        state.bytes += written as u64;
        if let Some(hasher) = &mut state.hasher {
            hasher.update(&buf[..written]);
        }
        Ok(written)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// The SHA-256 of a whole file (a dataset's files, written by the Parquet crate).
pub(crate) fn hash_file(path: &std::path::Path) -> io::Result<(u64, String)> {
    let mut file = std::fs::File::open(path)?;
    let mut hasher = Sha256::new();
    let bytes = io::copy(&mut file, &mut hasher)?;
    Ok((bytes, hex(&hasher.finalize())))
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes
        .iter()
        .fold(String::with_capacity(64), |mut text, byte| {
            let _ = write!(text, "{byte:02x}");
            text
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_what_is_written() {
        let handle = HashHandle::new(true);
        let mut out = handle.wrap(Vec::new());
        out.write_all(b"ab").unwrap();
        out.write_all(b"c").unwrap();
        let (bytes, sha) = handle.finish();
        assert_eq!(bytes, 3);
        assert_eq!(
            sha.as_deref(),
            Some("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        );
        assert_eq!(out.inner, b"abc");
        // Not asked for: only counted.
        let counted = HashHandle::new(false);
        counted.wrap(Vec::new()).write_all(b"abc").unwrap();
        assert_eq!(counted.finish(), (3, None));
    }
}
