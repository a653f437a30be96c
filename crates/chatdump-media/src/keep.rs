//! What an earlier run stored: the media directory's index (`index.json`), written with the
//! files, and read back so that a re-run takes the files it lists instead of fetching their
//! links again (the links may have expired since).
//!
//! A link is known by its identity: scheme, host, port and path, never its query string (a
//! presigned signature is never written anywhere new) nor its user information. The index is
//! trusted for nothing but a hint: an entry is used only when its file name is a plain name in
//! the directory (no separator, no leading dot, no link), and the file there has the recorded
//! size and SHA-256, checked while it is copied. Anything else is ignored entry by entry, with a
//! note, and the link is fetched as if there were no index.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, Read as _, Write as _};
use std::path::{Path, PathBuf};

use reqwest::Url;
use serde::Serialize;
use sha2::Digest as _;

use chatdump_core::escape::escape_for_terminal;

use crate::fetch::Downloaded;
use crate::{Hasher, MediaEntry, MediaIndex, SNIFF_LEN};

/// The index file in a media directory.
pub const INDEX_FILE: &str = "index.json";

/// The version of the index's shape, its `chatdump_media_index` field.
pub const INDEX_VERSION: u64 = 1;

/// The largest index read, in bytes; a larger one is ignored.
const MAX_INDEX_BYTES: u64 = 16 << 20;

/// The longest stored file name accepted from an index, in bytes.
const MAX_FILE_NAME_BYTES: usize = 255;

/// A link's identity: `scheme://host[:port]/path`, without user information, query string or
/// fragment; `None` when `link` is not a URL with a host.
///
/// ```
/// use chatdump_media::link_identity;
/// assert_eq!(
///     link_identity("https://u:pw@cdn.example.com/a/b.png?X-Amz-Signature=s#x").as_deref(),
///     Some("https://cdn.example.com/a/b.png")
/// );
/// assert_eq!(link_identity("not a link"), None);
/// ```
#[must_use]
pub fn link_identity(link: &str) -> Option<String> {
    let url: Url = link.trim().parse().ok()?;
    let host = url.host_str()?;
    let port = url
        .port()
        .map_or_else(String::new, |port| format!(":{port}"));
    Some(format!("{}://{host}{port}{}", url.scheme(), url.path()))
}

/// One file an earlier run recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
struct KeptFile {
    /// A plain file name in the directory.
    file: String,
    sha256: String,
    bytes: u64,
}

/// The usable entries of an earlier run's index, by link identity ([`Kept::read`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Kept {
    dir: PathBuf,
    entries: BTreeMap<String, KeptFile>,
}

impl Kept {
    /// Reads `dir`'s index. A missing index gives nothing and no note; an unreadable or
    /// malformed one, or a bad entry, is left out with a note (terminal-safe, naming the index,
    /// the entry and the offending value). Never reads anything but `dir/index.json`.
    #[must_use]
    pub fn read(dir: &Path) -> (Self, Vec<String>) {
        let mut kept = Self {
            dir: dir.to_owned(),
            entries: BTreeMap::new(),
        };
        let path = dir.join(INDEX_FILE);
        let shown = escape_for_terminal(&path.display().to_string(), 200);
        let mut notes = Vec::new();
        let text = match read_index(&path) {
            Ok(Some(text)) => text,
            Ok(None) => return (kept, notes),
            Err(reason) => {
                notes.push(format!("`{shown}` not used: {reason}"));
                return (kept, notes);
            }
        };
        let value: serde_json::Value = match serde_json::from_slice(&text) {
            Ok(value) => value,
            Err(error) => {
                notes.push(format!(
                    "`{shown}` not used: not JSON (line {}, column {})",
                    error.line(),
                    error.column()
                ));
                return (kept, notes);
            }
        };
        let version = value.get("chatdump_media_index");
        let Some(links) = value.get("links").and_then(serde_json::Value::as_array) else {
            notes.push(format!("`{shown}` not used: no `links` array"));
            return (kept, notes);
        };
        if version.and_then(serde_json::Value::as_u64) != Some(INDEX_VERSION) {
            notes.push(format!(
                "`{shown}` not used: `chatdump_media_index` is `{}`, not {INDEX_VERSION}",
                excerpt(&version.map_or_else(|| "missing".to_owned(), ToString::to_string))
            ));
            return (kept, notes);
        }
        for (number, entry) in links.iter().enumerate() {
            match entry_of(entry) {
                Ok((identity, file)) => match kept.entries.entry(identity) {
                    std::collections::btree_map::Entry::Occupied(known) => notes.push(format!(
                        "`{shown}` entry {number}: `link` `{}` is listed twice: ignored",
                        excerpt(known.key())
                    )),
                    std::collections::btree_map::Entry::Vacant(vacant) => {
                        vacant.insert(file);
                    }
                },
                Err(reason) => notes.push(format!("`{shown}` entry {number}: {reason}: ignored")),
            }
        }
        (kept, notes)
    }

    /// The usable entries.
    #[must_use]
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether there is none.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The entry for `link`'s identity, if any.
    fn get(&self, link: &str) -> Option<&KeptFile> {
        self.entries.get(&link_identity(link)?)
    }

    /// The file recorded for `link`, unless there is none or it is larger than
    /// `max_file_bytes` (then the link is fetched, and refused, as usual).
    pub(crate) fn find(&self, link: &str, max_file_bytes: u64) -> Option<Found> {
        let kept = self.get(link)?;
        (kept.bytes <= max_file_bytes).then(|| Found {
            source: self.dir.join(&kept.file),
            sha256: kept.sha256.clone(),
            bytes: kept.bytes,
        })
    }
}

/// A file an earlier run recorded for a link, not yet checked.
#[derive(Debug)]
pub(crate) struct Found {
    source: PathBuf,
    sha256: String,
    bytes: u64,
}

impl Found {
    /// Copies the file into a temporary file in `dir`, checking its size and SHA-256 on the
    /// way (blocking). `Err(Ok(note))`: not usable; `Err(Err(_))`: `dir` cannot be written.
    pub(crate) fn take(&self, dir: &Path) -> Result<Downloaded, Result<String, io::Error>> {
        let shown = escape_for_terminal(&self.source.display().to_string(), 200);
        let not_used = |reason: String| Err(Ok(format!("`{shown}` not reused: {reason}")));
        let (mut reader, len) = match open_regular(&self.source) {
            Ok(opened) => opened,
            Err(reason) => return not_used(reason),
        };
        if len != self.bytes {
            return not_used(format!("{len} bytes, the index says {}", self.bytes));
        }
        let mut builder = tempfile::Builder::new();
        builder.prefix(".chatdump-media-").suffix(".tmp");
        #[cfg(unix)]
        builder.permissions(std::os::unix::fs::PermissionsExt::from_mode(0o644));
        let mut file = builder.tempfile_in(dir).map_err(Err)?;
        let mut hasher = Hasher::new();
        let mut head = Vec::with_capacity(SNIFF_LEN);
        let mut copied: u64 = 0;
        let mut buffer = vec![0; 64 * 1024];
        loop {
            let read = match reader.read(&mut buffer) {
                Ok(0) => break,
                Ok(read) => read,
                Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
                Err(error) => return not_used(format!("cannot read it: {error}")),
            };
            let chunk = &buffer[..read];
            copied = copied.saturating_add(read as u64);
            if copied > self.bytes {
                return not_used(format!("it grew past the {} bytes recorded", self.bytes));
            }
            if head.len() < SNIFF_LEN {
                let take = (SNIFF_LEN - head.len()).min(chunk.len());
                head.extend_from_slice(&chunk[..take]);
            }
            hasher.update(chunk);
            file.write_all(chunk).map_err(Err)?;
        }
        if copied != self.bytes {
            return not_used(format!("{copied} bytes, the index says {}", self.bytes));
        }
        let sha256: [u8; 32] = hasher.finalize().into();
        if hex(&sha256) != self.sha256 {
            return not_used("its SHA-256 is not the one recorded".into());
        }
        file.flush().map_err(Err)?;
        Ok(Downloaded {
            file,
            sha256,
            bytes: copied,
            head,
            reused: true,
        })
    }
}

/// The index's bytes; `None` when there is none.
fn read_index(path: &Path) -> Result<Option<Vec<u8>>, String> {
    let (mut file, len) = match open_regular(path) {
        Ok(opened) => opened,
        Err(_) if !path.exists() && path.symlink_metadata().is_err() => return Ok(None),
        Err(reason) => return Err(reason),
    };
    if len > MAX_INDEX_BYTES {
        return Err(format!("{len} bytes, more than the {MAX_INDEX_BYTES} read"));
    }
    let mut text = Vec::new();
    (&mut file)
        .take(MAX_INDEX_BYTES)
        .read_to_end(&mut text)
        .map_err(|error| format!("cannot read it: {error}"))?;
    Ok(Some(text))
}

/// Opens `path` if it is a regular file itself, not a link to one; returns it and its size.
fn open_regular(path: &Path) -> Result<(File, u64), String> {
    let before = path
        .symlink_metadata()
        .map_err(|error| format!("cannot read it: {error}"))?;
    if !before.file_type().is_file() {
        return Err("not a regular file (a link, a directory...)".into());
    }
    let file = File::open(path).map_err(|error| format!("cannot open it: {error}"))?;
    let after = file
        .metadata()
        .map_err(|error| format!("cannot read it: {error}"))?;
    // What was opened is what was checked (not swapped for a link in between).
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt as _;
        if (before.dev(), before.ino()) != (after.dev(), after.ino()) {
            return Err("it changed while it was opened".into());
        }
    }
    if !after.is_file() {
        return Err("not a regular file".into());
    }
    Ok((file, after.len()))
}

/// A value from the index, escaped and shortened.
fn excerpt(text: &str) -> String {
    escape_for_terminal(text, chatdump_core::escape::EXCERPT_CHARS)
}

/// Whether `name` is a file name the media directory can hold: one plain component of
/// `[A-Za-z0-9._-]`, not starting with a dot, not the index itself.
fn plain_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_FILE_NAME_BYTES
        && !name.starts_with('.')
        && name != INDEX_FILE
        && name
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || matches!(byte, b'.' | b'_' | b'-'))
}

/// One entry of the index, checked: its link identity and file.
fn entry_of(entry: &serde_json::Value) -> Result<(String, KeptFile), String> {
    let field = |name: &str| entry.get(name).ok_or_else(|| format!("no `{name}`"));
    let string = |name: &str| {
        field(name)?
            .as_str()
            .ok_or_else(|| format!("`{name}` is not a string"))
    };
    let link = string("link")?;
    if link_identity(link).as_deref() != Some(link) {
        return Err(format!(
            "`link` `{}` is not a link's identity (scheme, host, path)",
            excerpt(link)
        ));
    }
    let file = string("file")?;
    if !plain_name(file) {
        return Err(format!(
            "`file` `{}` is not a plain file name in the directory",
            excerpt(file)
        ));
    }
    let sha256 = string("sha256")?;
    if sha256.len() != 64
        || !sha256
            .bytes()
            .all(|byte| byte.is_ascii_digit() || (b'a'..=b'f').contains(&byte))
    {
        return Err(format!(
            "`sha256` `{}` is not 64 lower-case hex digits",
            excerpt(sha256)
        ));
    }
    let bytes = field("bytes")?;
    let bytes = bytes
        .as_u64()
        .ok_or_else(|| format!("`bytes` `{}` is not a size", excerpt(&bytes.to_string())))?;
    Ok((
        link.to_owned(),
        KeptFile {
            file: file.to_owned(),
            sha256: sha256.to_owned(),
            bytes,
        },
    ))
}

/// Lower-case hex.
pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut hex, byte| {
            hex.push_str(&format!("{byte:02x}"));
            hex
        })
}

#[derive(Serialize)]
struct IndexOut<'a> {
    chatdump_media_index: u64,
    links: Vec<EntryOut<'a>>,
}

#[derive(Serialize)]
struct EntryOut<'a> {
    link: &'a str,
    file: &'a str,
    sha256: &'a str,
    bytes: u64,
    media_type: &'a str,
}

/// The index of what `index` stored, as written into the media directory: one entry per link
/// identity, sorted, for links fetched (failures are left out, so a re-run tries them again).
/// An identity shared by links that gave different bytes is left out too.
#[must_use]
pub fn index_json(index: &MediaIndex) -> Vec<u8> {
    let mut by_identity: BTreeMap<String, Option<EntryOut<'_>>> = BTreeMap::new();
    for (url, entry) in index.iter() {
        let MediaEntry::Fetched {
            path,
            sha256,
            bytes,
            media_type,
            ..
        } = entry
        else {
            continue;
        };
        let (Some(identity), Some(file)) = (link_identity(url), path.to_str()) else {
            continue;
        };
        let out = EntryOut {
            link: "",
            file,
            sha256,
            bytes: *bytes,
            media_type,
        };
        by_identity
            .entry(identity)
            .and_modify(|known| {
                if known.as_ref().is_some_and(|known| known.sha256 != sha256) {
                    *known = None;
                }
            })
            .or_insert(Some(out));
    }
    let links = by_identity
        .iter()
        .filter_map(|(identity, out)| {
            let out = out.as_ref()?;
            Some(EntryOut {
                link: identity,
                file: out.file,
                sha256: out.sha256,
                bytes: out.bytes,
                media_type: out.media_type,
            })
        })
        .collect();
    let mut json = serde_json::to_vec_pretty(&IndexOut {
        chatdump_media_index: INDEX_VERSION,
        links,
    })
    .unwrap_or_default();
    json.push(b'\n');
    json
}

/// Writes [`index_json`] as `dir/index.json`.
pub fn write_index(dir: &Path, index: &MediaIndex) -> io::Result<()> {
    std::fs::write(dir.join(INDEX_FILE), index_json(index))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identities_drop_queries_fragments_and_credentials() {
        for (link, identity) in [
            (
                "https://cdn.example.com/a/b.png?X-Amz-Signature=s",
                Some("https://cdn.example.com/a/b.png"),
            ),
            (
                "http://127.0.0.1:8787/media/x.png?sig#frag",
                Some("http://127.0.0.1:8787/media/x.png"),
            ),
            (
                "https://user:secret@h.example:443/x",
                Some("https://h.example/x"),
            ),
            ("data:image/png;base64,AAAA", None),
            ("", None),
        ] {
            assert_eq!(link_identity(link).as_deref(), identity, "{link}");
        }
    }

    #[test]
    fn only_plain_names_are_accepted() {
        for name in ["0123456789abcdef-photo.png", "a", "x_y-z.tar.gz"] {
            assert!(plain_name(name), "{name}");
        }
        for name in [
            "",
            ".",
            "..",
            "../x",
            "/etc/passwd",
            "a/b",
            "a\\b",
            ".hidden",
            "index.json",
            "caf\u{e9}",
            "a\0b",
        ] {
            assert!(!plain_name(name), "{name:?}");
        }
    }

    fn write(dir: &Path, text: &str) {
        std::fs::write(dir.join(INDEX_FILE), text).unwrap();
    }

    #[test]
    fn a_bad_index_or_entry_is_ignored_with_a_note() {
        let dir = tempfile::tempdir().unwrap();
        let (kept, notes) = Kept::read(dir.path());
        assert!(kept.is_empty() && notes.is_empty(), "no index: {notes:?}");
        write(dir.path(), "{\"links\": [");
        let (kept, notes) = Kept::read(dir.path());
        assert!(kept.is_empty());
        assert!(notes[0].contains("not used: not JSON (line 1"), "{notes:?}");
        write(dir.path(), r#"{"chatdump_media_index": 9, "links": []}"#);
        assert!(Kept::read(dir.path()).1[0].contains("is `9`, not 1"));
        let sha = "a".repeat(64);
        write(
            dir.path(),
            &format!(
                r#"{{"chatdump_media_index": 1, "links": [
                {{"link": "https://h.example/a.png", "file": "aaaa-a.png", "sha256": "{sha}", "bytes": 3}},
                {{"link": "https://h.example/b.png", "file": "../b.png", "sha256": "{sha}", "bytes": 3}},
                {{"link": "https://h.example/c.png", "file": "/etc/passwd", "sha256": "{sha}", "bytes": 3}},
                {{"link": "https://h.example/d.png?sig=1", "file": "d.png", "sha256": "{sha}", "bytes": 3}},
                {{"link": "https://h.example/e.png", "file": "e.png", "sha256": "ABC", "bytes": 3}},
                {{"link": "https://h.example/f.png", "file": "f.png", "sha256": "{sha}", "bytes": -1}},
                {{"link": "https://h.example/a.png", "file": "other.png", "sha256": "{sha}", "bytes": 3}},
                "\u001b[31m"
            ]}}"#
            ),
        );
        let (kept, notes) = Kept::read(dir.path());
        assert_eq!(kept.len(), 1);
        assert_eq!(
            kept.get("https://h.example/a.png?new=sig").unwrap().file,
            "aaaa-a.png"
        );
        let expected = [
            "entry 1: `file` `../b.png` is not a plain file name",
            "entry 2: `file` `/etc/passwd` is not a plain file name",
            "entry 3: `link` `https://h.example/d.png?sig=1` is not a link's identity",
            "entry 4: `sha256` `ABC` is not 64 lower-case hex digits",
            "entry 5: `bytes` `-1` is not a size",
            "entry 6: `link` `https://h.example/a.png` is listed twice",
            "entry 7: no `link`",
        ];
        assert_eq!(notes.len(), expected.len(), "{notes:#?}");
        for (note, expected) in notes.iter().zip(expected) {
            assert!(note.contains(expected), "{note} lacks {expected}");
        }
    }

    #[test]
    fn a_file_is_taken_only_with_its_recorded_size_and_hash() {
        let old = tempfile::tempdir().unwrap();
        let new = tempfile::tempdir().unwrap();
        std::fs::write(old.path().join("good.bin"), b"hello").unwrap();
        std::fs::write(old.path().join("short.bin"), b"hell").unwrap();
        std::fs::write(old.path().join("other.bin"), b"HELLO").unwrap();
        let sha = hex(&Sha256Of::of(b"hello"));
        write(
            old.path(),
            &format!(
                r#"{{"chatdump_media_index": 1, "links": [
                {{"link": "https://h.example/good", "file": "good.bin", "sha256": "{sha}", "bytes": 5}},
                {{"link": "https://h.example/short", "file": "short.bin", "sha256": "{sha}", "bytes": 5}},
                {{"link": "https://h.example/other", "file": "other.bin", "sha256": "{sha}", "bytes": 5}},
                {{"link": "https://h.example/gone", "file": "gone.bin", "sha256": "{sha}", "bytes": 5}}
            ]}}"#
            ),
        );
        let (kept, notes) = Kept::read(old.path());
        assert!(notes.is_empty(), "{notes:?}");
        let take = |link: &str, cap: u64| kept.find(link, cap).map(|found| found.take(new.path()));
        let taken = take("https://h.example/good?sig=2", 100).unwrap().unwrap();
        assert_eq!(std::fs::read(taken.file.path()).unwrap(), b"hello");
        assert_eq!((taken.bytes, taken.head.as_slice()), (5, &b"hello"[..]));
        // Too large for the cap: fetched (and refused) as usual.
        assert!(take("https://h.example/good", 4).is_none());
        assert!(take("https://h.example/unknown", 100).is_none());
        for (link, reason) in [
            ("https://h.example/short", "4 bytes, the index says 5"),
            (
                "https://h.example/other",
                "its SHA-256 is not the one recorded",
            ),
            ("https://h.example/gone", "cannot read it"),
        ] {
            match take(link, 100) {
                Some(Err(Ok(note))) => assert!(note.contains(reason), "{note}"),
                other => panic!("{link}: {other:?}"),
            }
        }
        drop(taken);
        // Only the file taken was copied, and it is gone with its handle.
        assert_eq!(std::fs::read_dir(new.path()).unwrap().count(), 0);
    }

    #[cfg(unix)]
    #[test]
    fn a_link_to_a_file_outside_is_not_followed() {
        let outside = tempfile::tempdir().unwrap();
        let old = tempfile::tempdir().unwrap();
        let new = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("secret"), b"hello").unwrap();
        std::os::unix::fs::symlink(outside.path().join("secret"), old.path().join("a.bin"))
            .unwrap();
        let sha = hex(&Sha256Of::of(b"hello"));
        write(
            old.path(),
            &format!(
                r#"{{"chatdump_media_index": 1, "links": [
                {{"link": "https://h.example/a", "file": "a.bin", "sha256": "{sha}", "bytes": 5}}
            ]}}"#
            ),
        );
        let (kept, _) = Kept::read(old.path());
        match kept
            .find("https://h.example/a", 100)
            .map(|found| found.take(new.path()))
        {
            Some(Err(Ok(note))) => assert!(note.contains("not a regular file"), "{note}"),
            other => panic!("{other:?}"),
        }
        // An index that is itself a link is not read either.
        std::fs::remove_file(old.path().join(INDEX_FILE)).unwrap();
        std::fs::write(outside.path().join("index"), "{}").unwrap();
        std::os::unix::fs::symlink(outside.path().join("index"), old.path().join(INDEX_FILE))
            .unwrap();
        let (kept, notes) = Kept::read(old.path());
        assert!(kept.is_empty());
        assert!(notes[0].contains("not a regular file"), "{notes:?}");
    }

    struct Sha256Of;

    impl Sha256Of {
        fn of(bytes: &[u8]) -> [u8; 32] {
            Hasher::digest(bytes).into()
        }
    }
}
