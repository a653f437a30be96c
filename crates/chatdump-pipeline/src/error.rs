//! What can stop a conversion.

use std::io;

use chatdump_core::error::ReadError;
use chatdump_core::export::RunError;
use chatdump_core::speech::{SpeechError, SummaryError};

/// An error that stops a conversion. Nothing of it was put in place.
#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    /// The conversion was asked for something that cannot be done (the CLI's exit status 2).
    #[error("{0}")]
    Usage(String),
    /// A file could not be opened, created, written or moved; the text says which, escaped.
    #[error("{what}")]
    Io {
        /// What was being done, naming the file.
        what: String,
        /// Why it failed.
        #[source]
        source: io::Error,
    },
    /// The input could not be read, or has a bad record (in fail mode).
    #[error(transparent)]
    Read(#[from] ReadError),
    /// The run failed: reading, ordering or writing an output.
    #[error(transparent)]
    Run(#[from] RunError),
    /// The speech transcript could not be read, has a bad utterance (in fail mode), or names
    /// another session than the chat's (issue 18).
    #[error(transparent)]
    Speech(#[from] SpeechError),
    /// The summary could not be read.
    #[error(transparent)]
    Summary(#[from] SummaryError),
    /// The meeting's parts do not go with the chat, or are too large; the text says why.
    #[error("{0}")]
    Parts(String),
    /// An attachment could not be fetched and `--media-required` was given; the text names
    /// the input, the message and the reason, escaped.
    #[error("{0}")]
    Media(String),
    /// Media downloads could not run at all (the HTTP client, or the media directory).
    #[error(transparent)]
    MediaFetch(#[from] chatdump_media::MediaError),
}

impl PipelineError {
    /// An I/O error with what was being done.
    pub(crate) fn io(what: impl Into<String>, source: io::Error) -> Self {
        Self::Io {
            what: what.into(),
            source,
        }
    }

    /// Whether this is a usage error (the CLI's exit status 2).
    #[must_use]
    pub fn is_usage(&self) -> bool {
        matches!(self, Self::Usage(_))
    }
}
