//! Everything chatdump prints on stderr: errors, warnings, the summary and the progress bar.
//! stdout is reserved for data.

use std::io::{IsTerminal, Write};
use std::time::Duration;

use chatdump_core::error::RecordError;
use chatdump_core::escape::escape_for_terminal;
use chatdump_core::export::Warning;
use chatdump_pipeline::{Converted, Events, Source};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// How many warnings of one kind are shown before they are only counted (unless `-v`).
const WARNINGS_SHOWN: u64 = 10;

/// Prints messages on stderr, honouring `-q`, `-v` and `NO_COLOR`.
pub(crate) struct Reporter {
    quiet: bool,
    verbose: bool,
    color: bool,
    terminal: bool,
    warnings: u64,
}

impl Reporter {
    pub(crate) fn new(quiet: bool, verbose: bool, no_color: bool) -> Self {
        let terminal = std::io::stderr().is_terminal();
        Self {
            quiet,
            verbose,
            color: terminal && !no_color,
            terminal,
            warnings: 0,
        }
    }

    fn label(&self, label: &str, code: &str) -> String {
        if self.color {
            format!("\x1b[{code}m{label}\x1b[0m")
        } else {
            label.to_owned()
        }
    }

    /// Prints an error. The text must already be escaped where it quotes input.
    pub(crate) fn error(&self, text: &str) {
        let _ = writeln!(std::io::stderr(), "{}: {text}", self.label("error", "1;31"));
    }

    /// Prints a warning, up to a limit unless verbose.
    pub(crate) fn warning(&mut self, text: &str) {
        self.warnings += 1;
        if self.quiet {
            return;
        }
        if self.verbose || self.warnings <= WARNINGS_SHOWN {
            let _ = writeln!(
                std::io::stderr(),
                "{}: {text}",
                self.label("warning", "1;33")
            );
        } else if self.warnings == WARNINGS_SHOWN + 1 {
            let _ = writeln!(
                std::io::stderr(),
                "{}: more warnings follow; they are counted in the summary (-v shows them all)",
                self.label("warning", "1;33")
            );
        }
    }

    /// Prints a warning that comes once per run, whatever the limit (it is still counted).
    pub(crate) fn warning_always(&mut self, text: &str) {
        self.warnings += 1;
        if !self.quiet {
            let _ = writeln!(
                std::io::stderr(),
                "{}: {text}",
                self.label("warning", "1;33")
            );
        }
    }

    /// Prints an informational line unless quiet.
    pub(crate) fn info(&self, text: &str) {
        if !self.quiet {
            let _ = writeln!(std::io::stderr(), "{text}");
        }
    }

    /// Whether `-v` asked for detail (and not `-q`).
    pub(crate) fn is_verbose(&self) -> bool {
        self.verbose && !self.quiet
    }

    /// Prints a line only with `-v`.
    pub(crate) fn detail(&self, text: &str) {
        if self.verbose && !self.quiet {
            let _ = writeln!(std::io::stderr(), "{text}");
        }
    }

    /// A progress bar over `total` input bytes (unknown for stdin), drawn only on a terminal.
    pub(crate) fn progress(&self, total: Option<u64>, label: &str) -> ProgressBar {
        if self.quiet || !self.terminal {
            return ProgressBar::hidden();
        }
        let bar = match total {
            Some(total) => ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr())
                .with_style(
                    ProgressStyle::with_template(
                        "{msg} [{bar:30}] {bytes}/{total_bytes} {binary_bytes_per_sec} ETA {eta}",
                    )
                    .unwrap_or_else(|_| ProgressStyle::default_bar())
                    .progress_chars("=> "),
                ),
            None => ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr()).with_style(
                ProgressStyle::with_template("{msg} {spinner} {bytes} {binary_bytes_per_sec}")
                    .unwrap_or_else(|_| ProgressStyle::default_spinner()),
            ),
        };
        bar.set_message(escape_for_terminal(label, 40));
        bar.enable_steady_tick(Duration::from_millis(200));
        bar
    }
}

impl Reporter {
    /// The summary line of one converted input, then (with `-v`) the files it wrote.
    pub(crate) fn converted(&self, converted: &Converted) {
        self.info(&converted.to_string());
        for output in &converted.outputs {
            let Some(path) = &output.path else { continue };
            let mut line = format!(
                "  wrote {} ({} bytes",
                escape_for_terminal(&path.display().to_string(), 200),
                output.bytes
            );
            if let Some(sha256) = &output.sha256 {
                line.push_str(&format!(", sha256 {sha256}"));
            }
            line.push(')');
            self.detail(&line);
        }
        if converted.summary.spilled_runs > 0 {
            self.detail(&format!(
                "  sorted out-of-order input in {} spilled runs",
                converted.summary.spilled_runs
            ));
        }
    }
}

/// A conversion's events on the terminal: a progress bar, skipped records and warnings.
pub(crate) struct CliEvents<'r> {
    reporter: &'r mut Reporter,
    bar: ProgressBar,
}

impl<'r> CliEvents<'r> {
    pub(crate) fn new(reporter: &'r mut Reporter) -> Self {
        Self {
            reporter,
            bar: ProgressBar::hidden(),
        }
    }

    fn warn(&mut self, text: &str) {
        let reporter = &mut *self.reporter;
        self.bar.suspend(|| reporter.warning(text));
    }
}

impl Events for CliEvents<'_> {
    fn started(&mut self, source: &Source, size: Option<u64>) {
        self.bar.finish_and_clear();
        self.bar = self.reporter.progress(size, &source.display);
    }

    fn media_progress(&mut self, links: usize, done: usize, bytes: u64) {
        if self.bar.is_hidden() && self.bar.message().is_empty() {
            self.bar = self.reporter.progress(None, "media");
        }
        self.bar.set_message(format!("media {done}/{links}"));
        self.bar.set_position(bytes);
    }

    fn progress(&mut self, bytes_read: u64) {
        self.bar.set_position(bytes_read);
    }

    fn rejected(&mut self, error: &RecordError) {
        self.warn(&format!("skipped: {error}"));
    }

    fn rejected_utterance(&mut self, error: &chatdump_core::speech::UtteranceError) {
        // `UtteranceError`'s `Display` escapes the file name and the value for the terminal.
        self.warn(&format!("skipped: {error}"));
    }

    fn warning(&mut self, warning: &Warning) {
        // `Warning`'s `Display` escapes every value from the dump for the terminal. A duplicate
        // can come once per record, so it counts towards the limit; the warnings about the whole
        // dump come once each and are always shown.
        let text = warning.to_string();
        if let Warning::Duplicate { .. } = warning {
            self.warn(&text);
        } else {
            let reporter = &mut *self.reporter;
            self.bar.suspend(|| reporter.warning_always(&text));
        }
    }

    fn finished(&mut self) {
        self.bar.finish_and_clear();
    }

    fn reading_again(&mut self, source: &Source) {
        self.reporter.detail(&format!(
            "`{}` is out of order beyond the reorder window; reading it again to sort it",
            escape_for_terminal(&source.display, 200)
        ));
    }
}
