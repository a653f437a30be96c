//! `chatdump convert`: CSV dumps in, one file per format out, written atomically.

use std::collections::HashSet;
use std::fs::{self, File};
use std::io::{self, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use chatdump_core::error::{RecordError, RecordErrorKind};
use chatdump_core::escape::escape_for_terminal;
use chatdump_core::export::{
    self, ExportContext, ExportError, Observer, OnError, Outcome, Output, RunOptions, Summary,
    Warning,
};
use chatdump_core::order::{OrderOptions, Strategy};
use chatdump_core::output::{AtomicFile, BackgroundWriter, StreamingFile};
use chatdump_core::reader::{ChatReader, ReaderOptions};
use indicatif::ProgressBar;

use crate::UsageError;
use crate::cli::{ConvertArgs, Format, OnErrorArg};
use crate::formats;
use crate::report::Reporter;

/// Where outputs go.
enum Destination {
    Stdout,
    File(PathBuf),
    Directory(PathBuf),
}

/// One input: a path, or standard input.
enum Input {
    Path(PathBuf),
    Stdin,
}

impl Input {
    fn new(path: &Path) -> Self {
        if path.as_os_str() == "-" {
            Self::Stdin
        } else {
            Self::Path(path.to_owned())
        }
    }

    fn display(&self) -> String {
        match self {
            Self::Path(path) => path.display().to_string(),
            Self::Stdin => "<stdin>".to_owned(),
        }
    }

    fn stem(&self) -> String {
        match self {
            Self::Path(path) => path.file_stem().map_or_else(
                || "chat".to_owned(),
                |stem| stem.to_string_lossy().into_owned(),
            ),
            Self::Stdin => "stdin".to_owned(),
        }
    }

    fn open(&self) -> anyhow::Result<(Box<dyn Read + Send>, Option<u64>)> {
        match self {
            Self::Path(path) => {
                let file = File::open(path).with_context(|| {
                    format!(
                        "cannot open `{}`",
                        escape_for_terminal(&self.display(), 200)
                    )
                })?;
                let size = file.metadata().ok().map(|metadata| metadata.len());
                Ok((Box::new(file), size))
            }
            Self::Stdin => Ok((Box::new(io::stdin()), None)),
        }
    }
}

pub(crate) fn run(args: &ConvertArgs, reporter: &mut Reporter) -> anyhow::Result<()> {
    let mut formats: Vec<Format> = Vec::new();
    for format in &args.format {
        formats::check_available(*format).map_err(UsageError)?;
        if !formats.contains(format) {
            formats.push(*format);
        }
    }
    let inputs: Vec<Input> = args.inputs.iter().map(|path| Input::new(path)).collect();
    let destination = destination(&args.output, &formats, inputs.len())?;
    if let Destination::Stdout = destination
        && let Some(binary) = formats.iter().find(|format| !formats::is_text(**format))
    {
        return Err(UsageError(format!(
            "the {} format is binary: write it to a file, not standard output",
            formats::name(*binary)
        ))
        .into());
    }
    if inputs
        .iter()
        .filter(|input| matches!(input, Input::Stdin))
        .count()
        > 1
    {
        return Err(UsageError("`-` (standard input) can be given only once".into()).into());
    }
    if let Destination::Directory(_) = destination {
        let mut stems = HashSet::new();
        for input in &inputs {
            if !stems.insert(input.stem()) {
                return Err(UsageError(format!(
                    "two inputs would write the same output files (`{}.*`): convert them separately",
                    escape_for_terminal(&input.stem(), 80)
                ))
                .into());
            }
        }
    }
    if args.rejects.is_some() && args.on_error != OnErrorArg::Skip {
        return Err(UsageError("--rejects needs --on-error skip".into()).into());
    }
    if args.rejects.is_some() && inputs.len() > 1 {
        return Err(UsageError(
            "--rejects names one file: give one input, or let each input's rejects go to the output directory".into(),
        )
        .into());
    }

    let created_directory = match &destination {
        Destination::Directory(dir) if !dir.exists() => {
            // The outermost of the directories about to be created (`a` for a missing `a/b/c`).
            let outermost = dir
                .ancestors()
                .take_while(|ancestor| !ancestor.as_os_str().is_empty() && !ancestor.exists())
                .last()
                .map(Path::to_path_buf);
            fs::create_dir_all(dir).with_context(|| {
                format!(
                    "cannot create the output directory `{}`",
                    escape_for_terminal(&dir.display().to_string(), 200)
                )
            })?;
            outermost.map(|outermost| (dir.clone(), outermost))
        }
        _ => None,
    };
    // Every input is converted before any output is put in place, so that a failure on a later
    // input leaves the output directory exactly as it was.
    let mut converted = Vec::new();
    let mut failure = None;
    for input in &inputs {
        match convert_one(args, input, &formats, &destination, reporter) {
            Ok(done) => converted.push(done),
            Err(error) => {
                failure = Some(error);
                break;
            }
        }
    }
    if let Some(error) = failure {
        // Dropped uncommitted, the outputs of the inputs that succeeded vanish.
        drop(converted);
        if let Some((dir, outermost)) = created_directory {
            // Leave things as they were: the directories did not exist before. `remove_dir` only
            // removes empty ones.
            for created in dir.ancestors() {
                if fs::remove_dir(created).is_err() || created == outermost {
                    break;
                }
            }
        }
        return Err(error);
    }
    for done in converted {
        commit(done, reporter)?;
    }
    Ok(())
}

fn destination(output: &Path, formats: &[Format], inputs: usize) -> anyhow::Result<Destination> {
    if output.as_os_str() == "-" {
        if formats.len() != 1 || inputs != 1 {
            return Err(UsageError(
                "standard output (`--output -`) takes one format and one input".into(),
            )
            .into());
        }
        return Ok(Destination::Stdout);
    }
    let text = output.to_string_lossy();
    if output.is_dir() || text.ends_with('/') || formats.len() > 1 || inputs > 1 {
        if output.exists() && !output.is_dir() {
            return Err(UsageError(format!(
                "`{}` is a file, but several outputs need a directory",
                escape_for_terminal(&text, 200)
            ))
            .into());
        }
        return Ok(Destination::Directory(output.to_owned()));
    }
    Ok(Destination::File(output.to_owned()))
}

/// The files of one attempt at converting one input; dropped without commit, they vanish.
struct Attempt {
    files: Vec<AtomicFile>,
    rejects: Option<AtomicFile>,
    /// Partitioned Parquet datasets (`--partition-by`), committed with the files.
    datasets: Vec<chatdump_parquet::Dataset>,
}

/// One input converted, its outputs written but not yet in place (see [`commit`]).
struct Converted {
    attempt: Attempt,
    summary: Summary,
    display: String,
    elapsed: Duration,
}

fn convert_one(
    args: &ConvertArgs,
    input: &Input,
    formats: &[Format],
    destination: &Destination,
    reporter: &mut Reporter,
) -> anyhow::Result<Converted> {
    let started = Instant::now();
    let display = args.source_name.clone().unwrap_or_else(|| input.display());
    let mut strategy = match (input, destination) {
        (Input::Path(_), Destination::File(_) | Destination::Directory(_)) => Strategy::Window,
        // Standard input cannot be read twice, so it is sorted externally from the start; and
        // what reached standard output cannot be taken back if the window has to give up, so
        // that is sorted externally from the start too.
        (Input::Stdin, _) | (_, Destination::Stdout) => Strategy::External,
    };
    // What an abandoned window pass already reported; the external pass meets it again.
    let mut already_reported = Reported::default();
    loop {
        let (reader_input, size) = input.open()?;
        let reader = ChatReader::new(
            reader_input,
            display.clone(),
            ReaderOptions {
                max_record_bytes: args.max_record_size,
                ..ReaderOptions::default()
            },
        )?;
        let mut attempt = Attempt {
            files: Vec::new(),
            rejects: None,
            datasets: Vec::new(),
        };
        let mut outputs = Vec::new();
        for format in formats {
            if *format == Format::Parquet
                && let Some(dataset) = args
                    .output_options
                    .dataset(&args.output)
                    .map_err(UsageError)?
            {
                outputs.push(Output {
                    name: formats::name(*format).to_owned(),
                    exporter: Box::new(dataset.exporter()),
                });
                attempt.datasets.push(dataset);
                continue;
            }
            let writer: Box<dyn Write + Send> = match destination {
                Destination::Stdout => Box::new(BufWriter::with_capacity(256 << 10, io::stdout())),
                Destination::File(path) => open_atomic(path, &mut attempt.files)?,
                Destination::Directory(dir) => open_atomic(
                    &dir.join(format!("{}.{}", input.stem(), formats::extension(*format))),
                    &mut attempt.files,
                )?,
            };
            outputs.push(Output {
                name: formats::name(*format).to_owned(),
                exporter: formats::exporter(*format, writer, args),
            });
        }
        let rejects_writer = if args.on_error == OnErrorArg::Skip {
            let path = rejects_path(args, input, destination);
            let file = AtomicFile::create(&path).with_context(|| {
                format!(
                    "cannot create the rejects file `{}`",
                    escape_for_terminal(&path.display().to_string(), 200)
                )
            })?;
            let writer = BufWriter::new(file.writer()?);
            attempt.rejects = Some(file);
            Some(writer)
        } else {
            None
        };
        let progress = reporter.progress(size, &display);
        let mut observer = CliObserver {
            reporter,
            rejects: rejects_writer,
            progress: progress.clone(),
            already: already_reported,
            seen: Reported::default(),
        };
        let context = ExportContext {
            source: display.clone(),
            tool_version: env!("CARGO_PKG_VERSION").to_owned(),
            generated_at: None,
        };
        let options = RunOptions {
            on_error: match args.on_error {
                OnErrorArg::Fail => OnError::Fail,
                OnErrorArg::Skip => OnError::Skip,
            },
            order: OrderOptions {
                memory_budget: args.sort_memory,
                temp_dir: args.temp_dir.clone(),
            },
            strategy: Some(strategy),
        };
        let outcome = export::run(reader, &context, &mut outputs, &mut observer, &options);
        progress.finish_and_clear();
        drop(outputs);
        let rejects = observer.rejects.take();
        let seen = observer.seen;
        let outcome = outcome?;
        match outcome {
            Outcome::NeedsExternalSort => {
                reporter.detail(&format!(
                    "`{}` is out of order beyond the reorder window; reading it again to sort it",
                    escape_for_terminal(&display, 200)
                ));
                strategy = Strategy::External;
                already_reported = seen;
            }
            Outcome::Done(summary) => {
                if let Some(mut writer) = rejects {
                    writer.flush().context("cannot write the rejects file")?;
                }
                return Ok(Converted {
                    attempt,
                    summary,
                    display,
                    elapsed: started.elapsed(),
                });
            }
        }
    }
}

/// Puts the outputs of a converted input in place and reports it.
fn commit(converted: Converted, reporter: &Reporter) -> anyhow::Result<()> {
    let Converted {
        attempt,
        summary,
        display,
        elapsed,
    } = converted;
    let mut written = Vec::new();
    for file in attempt.files {
        let target = file.target().to_owned();
        file.commit().with_context(|| {
            format!(
                "cannot move the output into place at `{}`",
                escape_for_terminal(&target.display().to_string(), 200)
            )
        })?;
        written.push(target);
    }
    for dataset in attempt.datasets {
        written.extend(dataset.commit().with_context(|| {
            format!(
                "cannot move the Parquet dataset files into place under `{}`",
                escape_for_terminal(&dataset.root().display().to_string(), 200)
            )
        })?);
    }
    if let Some(file) = attempt.rejects {
        let target = file.target().to_owned();
        file.commit()
            .context("cannot move the rejects file into place")?;
        if summary.rejected > 0 {
            written.push(target);
        }
    }
    report_summary(reporter, &display, &summary, &written, elapsed);
    Ok(())
}

fn open_atomic(path: &Path, files: &mut Vec<AtomicFile>) -> anyhow::Result<Box<dyn Write + Send>> {
    let file = AtomicFile::create(path).with_context(|| {
        format!(
            "cannot create an output file beside `{}`",
            escape_for_terminal(&path.display().to_string(), 200)
        )
    })?;
    let writer = BackgroundWriter::new(file.writer()?);
    files.push(file);
    Ok(Box::new(writer))
}

fn rejects_path(args: &ConvertArgs, input: &Input, destination: &Destination) -> PathBuf {
    if let Some(path) = &args.rejects {
        return path.clone();
    }
    let name = format!("{}.rejects.jsonl", input.stem());
    match destination {
        Destination::Directory(dir) => dir.join(name),
        Destination::File(path) => path
            .parent()
            .filter(|parent| !parent.as_os_str().is_empty())
            .map_or_else(|| PathBuf::from(&name), |parent| parent.join(&name)),
        Destination::Stdout => PathBuf::from(name),
    }
}

fn report_summary(
    reporter: &Reporter,
    display: &str,
    summary: &Summary,
    written: &[PathBuf],
    elapsed: Duration,
) {
    let mut line = format!(
        "{}: {} messages written",
        escape_for_terminal(display, 200),
        summary.messages
    );
    if summary.rejected > 0 {
        line.push_str(&format!(", {} rejected", summary.rejected));
    }
    if summary.duplicates > 0 {
        line.push_str(&format!(", {} duplicates dropped", summary.duplicates));
    }
    line.push_str(&format!(" in {:.2} s", elapsed.as_secs_f64()));
    reporter.info(&line);
    for path in written {
        reporter.detail(&format!(
            "  wrote {}",
            escape_for_terminal(&path.display().to_string(), 200)
        ));
    }
    if summary.spilled_runs > 0 {
        reporter.detail(&format!(
            "  sorted out-of-order input in {} spilled runs",
            summary.spilled_runs
        ));
    }
}

/// Turns run events into a rejects file, warnings and progress.
struct CliObserver<'r> {
    reporter: &'r mut Reporter,
    rejects: Option<BufWriter<StreamingFile>>,
    progress: ProgressBar,
    /// What an abandoned earlier pass over the same input printed: not printed again. That pass
    /// met the same reader errors first (input order) and released a prefix of the same ordered
    /// messages (duplicates and conflicts), so counting each kind is enough.
    already: Reported,
    seen: Reported,
}

/// How many rejects and warnings a pass reported, by where they come from.
#[derive(Debug, Default, Clone, Copy)]
struct Reported {
    /// Records the reader rejected, in input order.
    read: u64,
    /// Duplicate warnings and conflicting duplicates, in output order.
    released: u64,
}

impl CliObserver<'_> {
    /// Counts one report; whether it is new (not printed by an earlier pass).
    fn is_new(&mut self, released: bool) -> bool {
        let (seen, already) = if released {
            (&mut self.seen.released, self.already.released)
        } else {
            (&mut self.seen.read, self.already.read)
        };
        *seen += 1;
        *seen > already
    }
}

impl Observer for CliObserver<'_> {
    fn rejected(&mut self, error: &RecordError) -> Result<(), ExportError> {
        if let Some(writer) = &mut self.rejects {
            serde_json::to_writer(&mut *writer, &error.to_reject()).map_err(io::Error::from)?;
            writer.write_all(b"\n")?;
        }
        let released = matches!(error.kind, RecordErrorKind::ConflictingDuplicate { .. });
        if self.is_new(released) {
            self.progress
                .suspend(|| self.reporter.warning(&format!("skipped: {error}")));
        }
        Ok(())
    }

    fn warning(&mut self, warning: &Warning) {
        // Already escaped for the terminal.
        let text = warning.to_string();
        if self.is_new(true) {
            self.progress.suspend(|| self.reporter.warning(&text));
        }
    }

    fn progress(&mut self, bytes_read: u64) {
        self.progress.set_position(bytes_read);
    }
}
