//! SIGINT and SIGTERM: an interrupted run leaves no partial output and exits as shells, systemd
//! and container runtimes expect, with 128 + the signal's number (130 for SIGINT, 143 for
//! SIGTERM).
//!
//! `serve` does not use this: it handles both signals itself (graceful shutdown).

use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook::iterator::Signals;

/// On the first SIGINT or SIGTERM, removes every temporary output file
/// ([`chatdump_core::output::remove_pending_files`]) and exits with 128 + the signal's number.
///
/// The signal is taken on a thread of its own (not in the signal handler), where removing files
/// is safe. Should the handler not be installed, the signals keep their default action, which
/// ends the process without removing the temporaries; a later run removes them
/// ([`chatdump_core::output::AtomicFile::create`]).
pub(crate) fn exit_cleanly_on_interrupt() {
    let Ok(mut signals) = Signals::new([SIGINT, SIGTERM]) else {
        return;
    };
    let _ = std::thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            if let Some(signal) = signals.forever().next() {
                chatdump_core::output::remove_pending_files();
                #[expect(
                    clippy::exit,
                    reason = "the signal handler ends the process as the signal would"
                )]
                std::process::exit(128 + signal);
            }
        });
}
