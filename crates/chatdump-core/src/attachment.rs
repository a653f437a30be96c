//! What became of the images and files a chat links to (issue 19): for each link of an
//! `IMAGE_MESSAGE` or `FILE_MESSAGE`, the stored copy (relative path, SHA-256, size, media type
//! recognised from the bytes) or the reason there is none. The pipeline fetches the links before
//! the conversion and hands the result to every exporter in
//! [`ExportContext::attachments`](crate::export::ExportContext::attachments).

use std::collections::BTreeMap;
use std::io;
use std::path::PathBuf;

/// How attachments are kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MediaMode {
    /// Stored beside the outputs; transcripts link to the local copy.
    Download,
    /// As [`MediaMode::Download`], and the HTML transcript inlines raster images as `data:`
    /// URIs (no remote image at all).
    Embed,
}

/// One link and what became of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attachment {
    /// The link's bytes are stored.
    Stored(StoredAttachment),
    /// The link could not be fetched.
    Unavailable {
        /// Why: short, terminal-safe, without the link's query string (still hostile for
        /// HTML and Markdown: escape it).
        reason: String,
    },
}

/// A stored copy of an attachment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredAttachment {
    /// Where the copy is, relative to the outputs, with `/` separators
    /// (`chat.media/0123456789abcdef-photo.png`, or `_media/<sha256>` in a bulk export's store).
    pub path: String,
    /// The SHA-256 of the bytes, 64 lower-case hex digits.
    pub sha256: String,
    /// The size in bytes.
    pub bytes: u64,
    /// The media type recognised from the bytes (never from the name or `Content-Type`).
    pub media_type: String,
    /// Whether the bytes are a PNG, JPEG, GIF or `WebP` image (the only ones ever inlined).
    pub raster: bool,
    /// Where the bytes can be read while the conversion runs (for inlining).
    pub file: PathBuf,
}

impl StoredAttachment {
    /// The stored bytes.
    pub fn read(&self) -> io::Result<Vec<u8>> {
        std::fs::read(&self.file)
    }
}

/// Every attachment link of a dump and what became of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attachments {
    mode: MediaMode,
    entries: BTreeMap<String, Attachment>,
}

impl Attachments {
    /// No attachment yet, kept as `mode` says.
    #[must_use]
    pub fn new(mode: MediaMode) -> Self {
        Self {
            mode,
            entries: BTreeMap::new(),
        }
    }

    /// How attachments are kept.
    #[must_use]
    pub fn mode(&self) -> MediaMode {
        self.mode
    }

    /// Records what became of `url` (as written in the dump).
    pub fn insert(&mut self, url: impl Into<String>, attachment: Attachment) {
        self.entries.insert(url.into(), attachment);
    }

    /// What became of `url` (as written in the dump); `None` for a link never fetched.
    #[must_use]
    pub fn get(&self, url: &str) -> Option<&Attachment> {
        self.entries.get(url)
    }

    /// The stored copy of `url`, if there is one.
    #[must_use]
    pub fn stored(&self, url: &str) -> Option<&StoredAttachment> {
        match self.entries.get(url) {
            Some(Attachment::Stored(stored)) => Some(stored),
            _ => None,
        }
    }

    /// Every link and what became of it, in URL order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Attachment)> {
        self.entries
            .iter()
            .map(|(url, attachment)| (url.as_str(), attachment))
    }

    /// The number of links.
    #[must_use]
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether there are no links.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_are_looked_up_exactly() {
        let mut attachments = Attachments::new(MediaMode::Download);
        attachments.insert(
            "https://x.example/a.png?sig=1",
            Attachment::Stored(StoredAttachment {
                path: "chat.media/0123-a.png".into(),
                sha256: "0".repeat(64),
                bytes: 3,
                media_type: "image/png".into(),
                raster: true,
                file: PathBuf::from("missing"),
            }),
        );
        attachments.insert(
            "https://x.example/b.png",
            Attachment::Unavailable {
                reason: "HTTP 403".into(),
            },
        );
        assert_eq!(
            attachments
                .stored("https://x.example/a.png?sig=1")
                .map(|stored| stored.path.as_str()),
            Some("chat.media/0123-a.png")
        );
        assert!(attachments.stored("https://x.example/a.png").is_none());
        assert!(attachments.stored("https://x.example/b.png").is_none());
        assert_eq!(attachments.len(), 2);
        assert_eq!(attachments.mode(), MediaMode::Download);
    }
}
