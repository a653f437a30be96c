//! The one rule that turns a session id into a file name stem, used by every entry point
//! (`convert --partition-by date`, `export`, `serve`, `export --all`).

use std::fmt::Write as _;

/// The longest file stem a session id may map to.
pub const MAX_STEM_BYTES: usize = 200;

/// The suffix of a session's downloaded speech transcript kept beside its outputs
/// (`<stem>.transcript.source`: `export --keep-csv`, `serve`). No extension: its format (CSV,
/// JSON, `WebVTT`, SRT) is recognised from the content; no output takes the name.
pub const TRANSCRIPT_SOURCE_SUFFIX: &str = "transcript.source";

/// The suffix of a session's downloaded summary kept beside its outputs (`<stem>.summary.source`),
/// like [`TRANSCRIPT_SOURCE_SUFFIX`].
pub const SUMMARY_SOURCE_SUFFIX: &str = "summary.source";

/// The file stem for a session id.
///
/// A session id made only of ASCII letters, digits and `-` (every UUID) is the stem as it is.
/// Any other byte, `_` included, is written as `_` and two upper-case hex digits, so different
/// ids never share a file (the mapping is reversible), `a/b` becomes `a_2Fb` rather than a path,
/// and no stem starts with a dot. An empty id is `_`. `None` when the stem would be longer than
/// [`MAX_STEM_BYTES`].
#[must_use]
pub fn session_file_stem(session_id: &str) -> Option<String> {
    if session_id.is_empty() {
        return Some("_".to_owned());
    }
    let mut stem = String::with_capacity(session_id.len());
    for byte in session_id.bytes() {
        if byte.is_ascii_alphanumeric() || byte == b'-' {
            stem.push(char::from(byte));
        } else {
            let _ = write!(stem, "_{byte:02X}");
        }
        if stem.len() > MAX_STEM_BYTES {
            return None;
        }
    }
    Some(stem)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stems_are_safe_and_distinct() {
        assert_eq!(
            session_file_stem("4f1c2a8e-9b3d-4e57-a1c6-2d8e0f7b9a31").as_deref(),
            Some("4f1c2a8e-9b3d-4e57-a1c6-2d8e0f7b9a31")
        );
        assert_eq!(session_file_stem("../x").as_deref(), Some("_2E_2E_2Fx"));
        assert_eq!(session_file_stem(".hidden").as_deref(), Some("_2Ehidden"));
        assert_eq!(session_file_stem("a_b").as_deref(), Some("a_5Fb"));
        assert_ne!(session_file_stem("a_5Fb"), session_file_stem("a_b"));
        assert_eq!(session_file_stem("é").as_deref(), Some("_C3_A9"));
        assert_eq!(session_file_stem("").as_deref(), Some("_"));
        assert!(session_file_stem(&"x".repeat(201)).is_none());
        assert!(session_file_stem(&"x".repeat(200)).is_some());
    }
}
