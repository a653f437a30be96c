//! JSONL flavors that search indexes ingest as they are: Elasticsearch/OpenSearch `_bulk`,
//! Meilisearch and Typesense. See [`Flavor`] for the shape of each.

use std::borrow::Cow;
use std::fmt::Write as _;
use std::io::Write;

use chatdump_core::export::{ExportContext, ExportError, Exporter};
use chatdump_core::model::Message;
use serde::Serialize;

use crate::{IdFieldNames, PLAIN_NAMES, Repeats, write_line};

/// The longest Elasticsearch `_id`, in bytes.
pub const MAX_ELASTICSEARCH_ID_BYTES: usize = 512;
/// The longest Meilisearch / Typesense document id chatdump writes, in bytes (Meilisearch's
/// limit is 511).
pub const MAX_SEARCH_ID_BYTES: usize = 511;

/// The shape of the JSONL output.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Flavor {
    /// One message object per line, as documented on [`JsonlWriter`] (the default).
    #[default]
    Plain,
    /// Elasticsearch / `OpenSearch` `_bulk` body: for each message an action line
    /// `{"index":{"_index":INDEX,"_id":ID}}` then the plain document line. `_id` is the message
    /// id, so loading the file again overwrites rather than duplicates. The file ends with a
    /// newline, as `_bulk` requires.
    Elasticsearch {
        /// The target index (`--index`); see [`validate_index_name`].
        index: String,
    },
    /// Meilisearch: the plain document with exactly one field whose name contains `id`, the
    /// primary key `id` (see [`search_id`]); the other ids are renamed `session`, `meeting` and
    /// `participant`. `created_at_ms` is the numeric timestamp to filter and sort on.
    Meilisearch,
    /// Typesense: the plain document with a string `id` (see [`search_id`]) and the `int64`
    /// timestamp `created_at_ms`.
    Typesense,
}

/// A message id that a search index cannot take.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "message id `{excerpt}` is {bytes} bytes, more than the {limit} a {target} document id may have"
)]
pub struct IdTooLong {
    /// The start of the id, escaped for a terminal.
    pub excerpt: String,
    /// The id's length (after mapping, where it is mapped).
    pub bytes: usize,
    /// The limit.
    pub limit: usize,
    /// The index it is too long for.
    pub target: &'static str,
}

/// The document id Meilisearch and Typesense get for a message id.
///
/// Both accept only `[A-Za-z0-9_-]` (Typesense ids travel in URLs). Letters, digits and `-` are
/// kept, so a UUID is its own id; any other byte, `_` included, becomes `_` and two upper-case
/// hex digits (`a b` → `a_20b`, `a_b` → `a_5Fb`). The mapping is deterministic and reversible,
/// so two messages never share an id. An empty id becomes `_`.
pub fn search_id(id: &str) -> Result<Cow<'_, str>, IdTooLong> {
    let too_long = |bytes| IdTooLong {
        excerpt: chatdump_core::escape::escape_for_terminal(id, 40),
        bytes,
        limit: MAX_SEARCH_ID_BYTES,
        target: "Meilisearch or Typesense",
    };
    if id.is_empty() {
        return Ok(Cow::Borrowed("_"));
    }
    if id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
        if id.len() > MAX_SEARCH_ID_BYTES {
            return Err(too_long(id.len()));
        }
        return Ok(Cow::Borrowed(id));
    }
    let mut mapped = String::with_capacity(id.len() + 8);
    for byte in id.bytes() {
        if byte.is_ascii_alphanumeric() || byte == b'-' {
            mapped.push(char::from(byte));
        } else {
            let _ = write!(mapped, "_{byte:02X}");
        }
    }
    if mapped.len() > MAX_SEARCH_ID_BYTES {
        return Err(too_long(mapped.len()));
    }
    Ok(Cow::Owned(mapped))
}

/// Checks an Elasticsearch / `OpenSearch` index name: lower case, 1–255 bytes, not `.` or `..`,
/// not starting with `-`, `_` or `+`, none of `\ / * ? " < > | , #`, spaces or `:`.
pub fn validate_index_name(name: &str) -> Result<(), String> {
    if name.is_empty() || name.len() > 255 {
        return Err("an index name has 1 to 255 bytes".into());
    }
    if name == "." || name == ".." {
        return Err("an index name cannot be `.` or `..`".into());
    }
    if name.starts_with(['-', '_', '+']) {
        return Err("an index name cannot start with `-`, `_` or `+`".into());
    }
    if let Some(bad) = name.chars().find(|c| {
        c.is_uppercase()
            || c.is_control()
            || matches!(
                c,
                '\\' | '/' | '*' | '?' | '"' | '<' | '>' | '|' | ',' | '#' | ' ' | ':'
            )
    }) {
        return Err(format!(
            "an index name cannot contain `{}` (use lower case, digits, `-`, `_` and `.`)",
            bad.escape_default()
        ));
    }
    Ok(())
}

/// Writes messages as JSONL in a [`Flavor`].
///
/// Memory: one message at a time, plus the writer's own buffer. Wrap files in a `BufWriter`.
#[derive(Debug)]
pub struct FlavorWriter<W: Write> {
    out: W,
    flavor: Flavor,
    /// The stored attachments (`--media`): every line then has the media fields.
    attachments: Option<std::sync::Arc<chatdump_core::attachment::Attachments>>,
    line: Vec<u8>,
    /// The session and meeting ids of the line before, escaped.
    repeats: Repeats,
}

impl<W: Write> FlavorWriter<W> {
    /// Creates a writer over `out`. Check an Elasticsearch index name with
    /// [`validate_index_name`] first: the writer writes whatever name it is given.
    pub fn new(out: W, flavor: Flavor) -> Self {
        Self {
            out,
            flavor,
            attachments: None,
            line: Vec::with_capacity(4096),
            repeats: Repeats::default(),
        }
    }

    /// Returns the inner writer.
    pub fn into_inner(self) -> W {
        self.out
    }

    /// Writes the line (with its newline) of `message` to `out`, with the id fields named by
    /// `names` and the document id `id`.
    fn document_line(
        &mut self,
        message: &Message,
        names: &IdFieldNames,
        id: &str,
    ) -> Result<(), ExportError> {
        self.line.clear();
        write_line(
            &mut self.line,
            &mut self.repeats,
            message,
            &message.body(),
            names,
            id,
            self.attachments.as_deref(),
        );
        self.line.push(b'\n');
        self.out.write_all(&self.line)?;
        Ok(())
    }
}

/// The action line of a `_bulk` request.
#[derive(Serialize)]
struct BulkAction<'a> {
    index: BulkTarget<'a>,
}

#[derive(Serialize)]
struct BulkTarget<'a> {
    _index: &'a str,
    _id: &'a str,
}

/// Meilisearch's names: only `id` may end in `id`, or Meilisearch cannot infer the primary key.
const MEILISEARCH_NAMES: IdFieldNames = IdFieldNames {
    session: between!("session"),
    meeting: between!("meeting"),
    participant: between!("participant"),
};

impl<W: Write> Exporter for FlavorWriter<W> {
    fn begin(&mut self, context: &ExportContext) -> Result<(), ExportError> {
        self.attachments.clone_from(&context.attachments);
        Ok(())
    }

    fn message(&mut self, message: &Message) -> Result<(), ExportError> {
        match &self.flavor {
            Flavor::Plain => self.document_line(message, &PLAIN_NAMES, &message.id)?,
            Flavor::Elasticsearch { index } => {
                if message.id.len() > MAX_ELASTICSEARCH_ID_BYTES {
                    return Err(ExportError::format(IdTooLong {
                        excerpt: chatdump_core::escape::escape_for_terminal(&message.id, 40),
                        bytes: message.id.len(),
                        limit: MAX_ELASTICSEARCH_ID_BYTES,
                        target: "Elasticsearch",
                    }));
                }
                self.line.clear();
                let action = BulkAction {
                    index: BulkTarget {
                        _index: index,
                        _id: &message.id,
                    },
                };
                serde_json::to_writer(&mut self.line, &action).map_err(ExportError::format)?;
                self.line.push(b'\n');
                self.out.write_all(&self.line)?;
                self.document_line(message, &PLAIN_NAMES, &message.id)?;
            }
            Flavor::Meilisearch | Flavor::Typesense => {
                // Both want ids in `[A-Za-z0-9_-]`; Meilisearch also wants `id` to be the only
                // field ending in `id`.
                let id = search_id(&message.id).map_err(ExportError::format)?;
                let names = match self.flavor {
                    Flavor::Meilisearch => &MEILISEARCH_NAMES,
                    _ => &PLAIN_NAMES,
                };
                self.document_line(message, names, &id)?;
            }
        }
        Ok(())
    }

    fn finish(&mut self) -> Result<(), ExportError> {
        self.out.flush()?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn search_ids() {
        let uuid = "8d3f1e2a-0b4c-4d5e-9f6a-7b8c9d0e1f20";
        assert!(matches!(search_id(uuid), Ok(Cow::Borrowed(id)) if id == uuid));
        assert_eq!(search_id("a b/é").unwrap(), "a_20b_2F_C3_A9");
        assert_eq!(search_id("a_b").unwrap(), "a_5Fb");
        assert_eq!(search_id("").unwrap(), "_");
        assert!(search_id(&"x".repeat(511)).is_ok());
        assert!(search_id(&"x".repeat(512)).is_err());
        assert!(search_id(&"/".repeat(200)).is_err());
    }

    #[test]
    fn index_names() {
        assert!(validate_index_name("chat-2024.05").is_ok());
        for bad in ["", "Chat", "_chat", "a b", "a/b", "..", "a,b", "a:b"] {
            assert!(validate_index_name(bad).is_err(), "{bad:?}");
        }
    }
}
