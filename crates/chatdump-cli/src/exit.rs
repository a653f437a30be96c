//! The errors that choose an exit status other than 1.

use std::fmt;

/// A mistake in how chatdump was called: exit status 2.
#[derive(Debug)]
pub(crate) struct UsageError(pub(crate) String);

impl fmt::Display for UsageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UsageError {}

/// Some sessions failed and others succeeded (or a listing stopped early): exit status 3.
#[derive(Debug)]
pub(crate) struct SomeFailed(pub(crate) String);

impl fmt::Display for SomeFailed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for SomeFailed {}

/// The exit status for a failed command.
pub(crate) fn status(error: &anyhow::Error) -> u8 {
    let usage = error.downcast_ref::<UsageError>().is_some()
        || error
            .downcast_ref::<chatdump_pipeline::PipelineError>()
            .is_some_and(chatdump_pipeline::PipelineError::is_usage);
    if usage {
        2
    } else if error.downcast_ref::<SomeFailed>().is_some() {
        3
    } else {
        1
    }
}

/// Whether the error comes from writing to a closed pipe (`chatdump ... | head`): not an error.
pub(crate) fn is_broken_pipe(error: &anyhow::Error) -> bool {
    let is_broken_pipe = |error: &std::io::Error| error.kind() == std::io::ErrorKind::BrokenPipe;
    error.chain().any(|cause| {
        // `ExportError::Io` is transparent: its `io::Error` is not a separate link of the chain.
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(is_broken_pipe)
            || matches!(
                cause.downcast_ref::<chatdump_core::export::ExportError>(),
                Some(chatdump_core::export::ExportError::Io(error)) if is_broken_pipe(error)
            )
    })
}
