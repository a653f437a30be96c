//! Unnamed temporary files, in the directory the caller chooses.

use std::fs::File;
use std::io;
use std::path::Path;

/// An unnamed temporary file in `dir` (it vanishes when closed), or in the system's temporary
/// directory when the caller gives none: the one place a library picks that directory, for
/// library users who pass no `--temp-dir` equivalent. The CLI always passes one.
pub fn temp_file(dir: Option<&Path>) -> io::Result<File> {
    match dir {
        Some(dir) => tempfile::tempfile_in(dir),
        #[expect(
            clippy::disallowed_methods,
            reason = "the documented default for callers that choose no directory"
        )]
        None => tempfile::tempfile(),
    }
}
