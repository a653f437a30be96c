//! Inputs that can be read twice: a path is opened again; standard input is copied to a spool
//! file in the caller's temporary directory as it is read, so a second pass reads the copy and
//! then the rest of standard input.

use std::fs::File;
use std::io::{self, Read, Seek as _, SeekFrom};
use std::path::{Path, PathBuf};

use chatdump_core::escape::escape_for_terminal;
pub use chatdump_core::model::MeetingParts;
use chatdump_core::stem::session_file_stem;

use crate::error::PipelineError;

/// Where a dump's bytes come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    /// A file.
    Path(PathBuf),
    /// Standard input.
    Stdin,
}

/// One dump to convert, and the names it goes by.
#[derive(Debug, Clone)]
pub struct Source {
    /// Where its bytes come from.
    pub input: Input,
    /// How errors and the summary name it: the path as given, `<stdin>`, or `<session>.csv`.
    pub display: String,
    /// How outputs name it (the Markdown front matter, the HTML footer, Parquet metadata): the
    /// file name only, `-` for standard input, the session id for a fetched dump. Never a
    /// directory: the same dump converted from two places gives the same bytes.
    pub name: String,
    /// The stem of its output files in a directory (`<stem>.jsonl`, `<stem>.rejects.jsonl`).
    pub stem: String,
    /// The session's other parts (issue 18): speech transcript, summary, start.
    pub parts: MeetingParts,
}

impl Source {
    /// A file given by the user (`-` means standard input). Outputs are named after its file stem.
    #[must_use]
    pub fn path(path: &Path) -> Self {
        if path.as_os_str() == "-" {
            return Self {
                input: Input::Stdin,
                display: "<stdin>".to_owned(),
                name: "-".to_owned(),
                stem: "stdin".to_owned(),
                parts: MeetingParts::default(),
            };
        }
        Self {
            input: Input::Path(path.to_owned()),
            display: path.display().to_string(),
            name: path.file_name().map_or_else(
                || path.display().to_string(),
                |name| name.to_string_lossy().into_owned(),
            ),
            stem: path.file_stem().map_or_else(
                || "chat".to_owned(),
                |stem| stem.to_string_lossy().into_owned(),
            ),
            parts: MeetingParts::default(),
        }
    }

    /// A session's dump downloaded to `path`: outputs are named after the session id, by
    /// [`session_file_stem`], the rule every entry point shares.
    pub fn session(path: &Path, session_id: &str) -> Result<Self, PipelineError> {
        let stem = session_stem(session_id)?;
        Ok(Self {
            input: Input::Path(path.to_owned()),
            display: format!("{stem}.csv"),
            name: session_id.to_owned(),
            stem,
            parts: MeetingParts::default(),
        })
    }
}

/// The file stem of a session's outputs ([`session_file_stem`]), or a usage error when the id is
/// too long to make one.
pub fn session_stem(session_id: &str) -> Result<String, PipelineError> {
    session_file_stem(session_id).ok_or_else(|| {
        PipelineError::Usage(format!(
            "the session id `{}` is too long to name a file",
            escape_for_terminal(session_id, 80)
        ))
    })
}

/// An input opened for one pass.
pub(crate) struct Opened {
    pub(crate) reader: Box<dyn Read + Send>,
    /// The size in bytes, when known (for the progress bar).
    pub(crate) size: Option<u64>,
}

/// What a second pass over standard input needs: the spool of what the first pass read.
#[derive(Default)]
pub(crate) struct Replay {
    spool: Option<File>,
}

impl Replay {
    /// Opens `source` for a pass. Standard input is spooled into `temp_dir` on the first pass
    /// when `second_pass_possible`; later passes read the spool, then the rest of standard input.
    pub(crate) fn open(
        &mut self,
        source: &Source,
        temp_dir: &Path,
        second_pass_possible: bool,
    ) -> Result<Opened, PipelineError> {
        match &source.input {
            Input::Path(path) => {
                let file = File::open(path).map_err(|error| {
                    PipelineError::io(
                        format!(
                            "cannot open `{}`",
                            escape_for_terminal(&source.display, 200)
                        ),
                        error,
                    )
                })?;
                let size = file.metadata().ok().map(|metadata| metadata.len());
                Ok(Opened {
                    reader: Box::new(file),
                    size,
                })
            }
            Input::Stdin => match &mut self.spool {
                Some(spool) => spool
                    .seek(SeekFrom::Start(0))
                    .and_then(|_| spool.try_clone())
                    .map(|copy| Opened {
                        reader: Box::new(copy.chain(io::stdin())),
                        size: None,
                    })
                    .map_err(|error| {
                        PipelineError::io("cannot read standard input's spool file", error)
                    }),
                None if second_pass_possible => {
                    let spool = tempfile::tempfile_in(temp_dir).map_err(|error| {
                        PipelineError::io(
                            format!(
                                "cannot create a spool file for standard input in `{}`",
                                escape_for_terminal(&temp_dir.display().to_string(), 200)
                            ),
                            error,
                        )
                    })?;
                    let copy = spool.try_clone().map_err(|error| {
                        PipelineError::io("cannot create standard input's spool file", error)
                    })?;
                    self.spool = Some(spool);
                    Ok(Opened {
                        reader: Box::new(Tee {
                            inner: io::stdin(),
                            copy,
                        }),
                        size: None,
                    })
                }
                None => Ok(Opened {
                    reader: Box::new(io::stdin()),
                    size: None,
                }),
            },
        }
    }
}

/// Reads from `inner` and writes every byte read to `copy` (unbuffered, so nothing is lost when
/// the reader is dropped midway; the reader asks for large blocks).
struct Tee<R> {
    inner: R,
    copy: File,
}

impl<R: Read> Read for Tee<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let read = self.inner.read(buf)?;
        io::Write::write_all(&mut self.copy, &buf[..read])?;
        Ok(read)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        let source = Source::path(Path::new("/home/user/Downloads/board/chat.csv"));
        assert_eq!(source.name, "chat.csv");
        assert_eq!(source.stem, "chat");
        assert_eq!(source.display, "/home/user/Downloads/board/chat.csv");
        let stdin = Source::path(Path::new("-"));
        assert_eq!(stdin.input, Input::Stdin);
        assert_eq!(stdin.name, "-");
        let session = Source::session(Path::new("/tmp/x/dump.csv"), "../evil id").unwrap();
        assert_eq!(session.stem, "_2E_2E_2Fevil_20id");
        assert_eq!(session.name, "../evil id");
        assert!(Source::session(Path::new("d.csv"), &"x".repeat(300)).is_err());
    }

    #[test]
    fn tee_copies_what_it_reads() {
        let dir = tempfile::tempdir().unwrap();
        let mut spool = tempfile::tempfile_in(dir.path()).unwrap();
        let mut tee = Tee {
            inner: &b"hello world"[..],
            copy: spool.try_clone().unwrap(),
        };
        let mut first = [0; 5];
        tee.read_exact(&mut first).unwrap();
        drop(tee);
        spool.seek(SeekFrom::Start(0)).unwrap();
        let mut copied = String::new();
        spool.read_to_string(&mut copied).unwrap();
        assert_eq!(copied, "hello");
    }
}
