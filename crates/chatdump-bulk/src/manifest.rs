//! The manifest: what a bulk export has done, kept in the dataset root so a re-run knows.
//!
//! `ROOT/_chatdump/manifest.jsonl` is JSON Lines: a header line, then one line per session,
//! sorted by session id (so the same state always gives the same bytes):
//!
//! ```text
//! {"chatdump_manifest":1}
//! {"session_id":"s1","meeting_id":"m1","session_status":"ENDED","status":"exported","messages":300,"outputs":[{"path":"date=2024-05-14/s1.parquet","bytes":18234,"sha256":"…"}],"participants":false,"attempts":1,"at":"2026-11-26T02:00:00Z"}
//! {"session_id":"s2","meeting_id":"m1","status":"skipped","reason":"no chat (HTTP 404) …","messages":0,"outputs":[],"participants":false,"attempts":1,"at":"…"}
//! {"session_id":"s3","meeting_id":null,"status":"failed","reason":"…","messages":0,"outputs":[],"participants":false,"attempts":2,"at":"…"}
//! ```
//!
//! Names starting with `_` are hidden from Spark, Hive and Trino, and the file does not match a
//! `*/*.parquet` glob, so engines reading the dataset never see it. The manifest is held in
//! memory (one small record per session: the only state that grows with the number of
//! sessions) and rewritten whole, atomically, at checkpoints.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::BulkError;
use crate::store::Store;

/// Where the manifest lives, relative to the root.
pub const MANIFEST_PATH: &str = "_chatdump/manifest.jsonl";

/// The manifest format version (the header line's `chatdump_manifest`).
pub const MANIFEST_VERSION: u32 = 1;

/// Where a session stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Its chat is in the dataset: a re-run leaves it alone.
    Exported,
    /// It has no chat to export (HTTP 404): a re-run leaves it alone unless asked.
    Skipped,
    /// The last attempt failed: a re-run tries again.
    Failed,
}

/// A file of the dataset that holds (some of) a session's rows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutputFile {
    /// The path relative to the root (`date=YYYY-MM-DD/<file>.parquet`).
    pub path: String,
    /// Its size in bytes.
    pub bytes: u64,
    /// The SHA-256 of its content, lower-case hex.
    pub sha256: String,
}

/// One session's line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionRecord {
    /// The session id.
    pub session_id: String,
    /// The meeting id, when the listing gave one.
    pub meeting_id: Option<String>,
    /// The session's state in the listing when it was exported (`LIVE`, `ENDED`): a session
    /// exported or skipped while `LIVE` is exported again once it is listed in another state.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_status: Option<String>,
    /// Where it stands.
    pub status: Status,
    /// Why it was skipped or failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Messages written.
    pub messages: u64,
    /// The files holding its rows (after compaction, the compacted file).
    pub outputs: Vec<OutputFile>,
    /// Whether the rows carry participant data (`--with-participants`).
    pub participants: bool,
    /// Attempts so far (failed ones included).
    pub attempts: u32,
    /// When the last attempt ended (RFC 3339, the time the caller passed in).
    pub at: String,
    /// The session's attachments in the store (`_media/<sha256>`, `--media`), each once; none
    /// (and no key in the line) without `--media`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub media: Vec<OutputFile>,
    /// The meeting parts asked for (`--with`) and whether the platform had each (issue 18);
    /// their files are in `outputs`, under `_transcripts/` and `_summaries/`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub parts: Vec<PartRecord>,
}

/// What became of one meeting part of a session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartRecord {
    /// `transcript` or `summary`.
    pub part: String,
    /// Whether the platform had it.
    pub status: PartStatus,
    /// Why it is not available (the API's 404, escaped).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// Whether the platform had a part.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PartStatus {
    /// Fetched and converted with the chat.
    Available,
    /// The API answered 404 (feature off, not generated, past retention): the chat was
    /// exported without it; a re-run leaves it alone unless `--retry-skipped`.
    NotAvailable,
}

#[derive(Serialize, Deserialize)]
struct Header {
    chatdump_manifest: u32,
}

/// Every session's record, by session id.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Manifest {
    records: BTreeMap<String, SessionRecord>,
}

impl Manifest {
    /// Reads the manifest from `store`; an empty one when there is none yet.
    pub async fn load(store: &Store) -> Result<Self, BulkError> {
        match store.get_bytes(MANIFEST_PATH).await? {
            None => Ok(Self::default()),
            Some(bytes) => Self::parse(&bytes).map_err(|(line, reason)| BulkError::Manifest {
                path: format!("{}/{MANIFEST_PATH}", store.shown().trim_end_matches('/')),
                line,
                reason,
            }),
        }
    }

    /// Parses manifest bytes; the error is the 1-based line and what is wrong.
    pub fn parse(bytes: &[u8]) -> Result<Self, (usize, String)> {
        let text = std::str::from_utf8(bytes).map_err(|error| (0, error.to_string()))?;
        let mut lines = text.lines().enumerate();
        match lines.next() {
            Some((_, line)) => {
                let header: Header =
                    serde_json::from_str(line).map_err(|error| (1, error.to_string()))?;
                if header.chatdump_manifest != MANIFEST_VERSION {
                    return Err((
                        1,
                        format!(
                            "manifest version {} is not supported (this chatdump reads {MANIFEST_VERSION})",
                            header.chatdump_manifest
                        ),
                    ));
                }
            }
            None => return Ok(Self::default()),
        }
        let mut records = BTreeMap::new();
        for (index, line) in lines {
            if line.trim().is_empty() {
                continue;
            }
            let record: SessionRecord =
                serde_json::from_str(line).map_err(|error| (index + 1, error.to_string()))?;
            records.insert(record.session_id.clone(), record);
        }
        Ok(Self { records })
    }

    /// The manifest as bytes.
    #[must_use]
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(64 + self.records.len() * 256);
        // Serialising these plain structs cannot fail.
        let _ = serde_json::to_writer(
            &mut out,
            &Header {
                chatdump_manifest: MANIFEST_VERSION,
            },
        );
        out.push(b'\n');
        for record in self.records.values() {
            let _ = serde_json::to_writer(&mut out, record);
            out.push(b'\n');
        }
        out
    }

    /// Writes the manifest to `store` (one atomic `PUT`).
    pub async fn save(&self, store: &Store) -> Result<(), BulkError> {
        store.put_bytes(MANIFEST_PATH, self.to_bytes()).await
    }

    /// A session's record.
    #[must_use]
    pub fn get(&self, session_id: &str) -> Option<&SessionRecord> {
        self.records.get(session_id)
    }

    /// Adds or replaces a record.
    pub fn insert(&mut self, record: SessionRecord) {
        self.records.insert(record.session_id.clone(), record);
    }

    /// Every record, by session id.
    pub fn records(&self) -> impl Iterator<Item = &SessionRecord> {
        self.records.values()
    }

    /// Every record, mutable.
    pub fn records_mut(&mut self) -> impl Iterator<Item = &mut SessionRecord> {
        self.records.values_mut()
    }

    /// The number of sessions recorded.
    #[must_use]
    pub fn len(&self) -> usize {
        self.records.len()
    }

    /// Whether no session is recorded.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_errors() {
        let mut manifest = Manifest::default();
        for id in ["b", "a"] {
            manifest.insert(SessionRecord {
                session_id: id.into(),
                meeting_id: None,
                session_status: None,
                status: Status::Failed,
                reason: Some("boom".into()),
                messages: 0,
                outputs: vec![],
                participants: false,
                attempts: 1,
                at: "2026-11-26T00:00:00Z".into(),
                media: Vec::new(),
                parts: vec![],
            });
        }
        let bytes = manifest.to_bytes();
        let text = String::from_utf8(bytes.clone()).unwrap();
        assert!(text.starts_with("{\"chatdump_manifest\":1}\n{\"session_id\":\"a\""));
        assert_eq!(Manifest::parse(&bytes).unwrap(), manifest);
        assert_eq!(Manifest::parse(b"").unwrap(), Manifest::default());
        assert_eq!(
            Manifest::parse(b"{\"chatdump_manifest\":9}\n")
                .unwrap_err()
                .0,
            1
        );
        assert_eq!(
            Manifest::parse(b"{\"chatdump_manifest\":1}\n{\"nope\":1}\n")
                .unwrap_err()
                .0,
            2
        );
    }
}
