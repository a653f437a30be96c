//! The output plan: which formats go where.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use chatdump_core::escape::escape_for_terminal;

use crate::error::PipelineError;
use crate::format::Format;
use crate::input::{Input, Source};

/// Where the outputs of a conversion go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Destination {
    /// Standard output: one text format, one input.
    Stdout,
    /// One file: one format, one input.
    File(PathBuf),
    /// A directory: `<stem>.<extension>` per format and input (created if missing).
    Directory(PathBuf),
}

impl Destination {
    /// What `--output PATH` means for `formats` and `inputs` inputs: `-` is standard output; a
    /// path ending in `/`, an existing directory, several formats or several inputs mean a
    /// directory; anything else a file.
    pub fn infer(output: &Path, formats: usize, inputs: usize) -> Result<Self, PipelineError> {
        if output.as_os_str() == "-" {
            if formats != 1 || inputs != 1 {
                return Err(PipelineError::Usage(
                    "standard output (`--output -`) takes one format and one input".into(),
                ));
            }
            return Ok(Self::Stdout);
        }
        let text = output.to_string_lossy();
        if output.is_dir() || text.ends_with('/') || formats > 1 || inputs > 1 {
            if output.exists() && !output.is_dir() {
                return Err(PipelineError::Usage(format!(
                    "`{}` is a file, but several outputs need a directory",
                    escape_for_terminal(&text, 200)
                )));
            }
            return Ok(Self::Directory(output.to_owned()));
        }
        Ok(Self::File(output.to_owned()))
    }
}

/// What a conversion writes.
#[derive(Debug, Clone)]
pub struct Plan {
    /// The formats, each once, in the order given.
    pub formats: Vec<Format>,
    /// Where they go.
    pub destination: Destination,
    /// Parquet as a hive-partitioned dataset under the destination directory
    /// (`DIR/date=YYYY-MM-DD/<session stem>.parquet`) rather than one file.
    pub partition_by_date: bool,
    /// Where skip mode lists rejected records; default `<stem>.rejects.jsonl` beside the
    /// outputs.
    pub rejects: Option<PathBuf>,
}

impl Plan {
    /// A plan writing `formats` (duplicates dropped) to `destination`.
    #[must_use]
    pub fn new(formats: &[Format], destination: Destination) -> Self {
        let mut unique = Vec::new();
        for format in formats {
            if !unique.contains(format) {
                unique.push(*format);
            }
        }
        Self {
            formats: unique,
            destination,
            partition_by_date: false,
            rejects: None,
        }
    }

    /// Checks that the plan can be carried out for `sources` with `skip` mode on or off.
    pub(crate) fn check(&self, sources: &[Source], skip: bool) -> Result<(), PipelineError> {
        let usage = |text: String| Err(PipelineError::Usage(text));
        if self.formats.is_empty() {
            return usage("no output format".into());
        }
        if self.destination == Destination::Stdout {
            if let Some(binary) = self.formats.iter().find(|format| !format.is_text()) {
                return usage(format!(
                    "the {} format is binary: write it to a file, not standard output",
                    binary.name()
                ));
            }
            if self.formats.len() != 1 || sources.len() != 1 {
                return usage(
                    "standard output (`--output -`) takes one format and one input".into(),
                );
            }
        }
        if let Destination::File(_) = self.destination
            && (self.formats.len() != 1 || sources.len() != 1)
        {
            return usage("a file output takes one format and one input".into());
        }
        if sources
            .iter()
            .filter(|source| source.input == Input::Stdin)
            .count()
            > 1
        {
            return usage("`-` (standard input) can be given only once".into());
        }
        self.check_parts(sources)?;
        if let Destination::Directory(_) = self.destination {
            let mut stems = HashSet::new();
            for source in sources {
                // A source's parts take the stems `<stem>.transcript` and `<stem>.summary`.
                let parts = [
                    source.parts.transcript.as_ref().map(|_| "transcript"),
                    source.parts.summary.as_ref().map(|_| "summary"),
                ];
                for part in parts.into_iter().flatten() {
                    stems.insert(format!("{}.{part}", source.stem));
                }
                if !stems.insert(source.stem.clone()) {
                    return usage(format!(
                        "two inputs would write the same output files (`{}.*`): convert them separately",
                        escape_for_terminal(&source.stem, 80)
                    ));
                }
            }
        }
        if self.rejects.is_some() && !skip {
            return usage("--rejects needs --on-error skip".into());
        }
        if self.rejects.is_some() && sources.len() > 1 {
            return usage(
                "--rejects names one file: give one input, or let each input's rejects go to the output directory".into(),
            );
        }
        if self.partition_by_date && self.formats.contains(&Format::Parquet) {
            match &self.destination {
                Destination::Stdout => {
                    return usage("--partition-by writes a directory, not standard output".into());
                }
                Destination::File(path)
                    if path.is_file()
                        || path
                            .extension()
                            .is_some_and(|extension| extension.eq_ignore_ascii_case("parquet")) =>
                {
                    return usage(format!(
                        "--partition-by writes a directory of files: give a directory, not `{}`",
                        escape_for_terminal(&path.display().to_string(), 200)
                    ));
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// Checks where the meeting's parts (issue 18) can go: with standard output, only into
    /// the one Markdown or HTML document; not beside a partitioned Parquet dataset (the
    /// transcript's Parquet file would be taken for part of the chat's dataset); never onto the
    /// output file itself.
    fn check_parts(&self, sources: &[Source]) -> Result<(), PipelineError> {
        let usage = |text: String| Err(PipelineError::Usage(text));
        for source in sources {
            let parts = &source.parts;
            if parts.transcript.is_none() && parts.summary.is_none() {
                continue;
            }
            match &self.destination {
                Destination::Stdout => {
                    if let Some(format) = self
                        .formats
                        .iter()
                        .find(|format| !matches!(format, Format::Markdown | Format::Html))
                    {
                        return usage(format!(
                            "with `--output -`, a transcript or summary is merged into a Markdown or HTML document only; {} writes them to files of their own (`{}.transcript.{}`, `{}.summary.md`): give an output directory",
                            format.name(),
                            escape_for_terminal(&source.stem, 80),
                            format.extension(),
                            escape_for_terminal(&source.stem, 80),
                        ));
                    }
                }
                Destination::File(path) => {
                    let taken = [
                        "transcript.jsonl",
                        "transcript.parquet",
                        "summary.md",
                        "summary.txt",
                    ]
                    .into_iter()
                    .filter_map(|suffix| crate::speech::part_path(self, source, suffix))
                    .any(|part| part == *path);
                    if taken {
                        return usage(format!(
                            "`{}` is where the transcript or summary goes: name the output file otherwise",
                            escape_for_terminal(&path.display().to_string(), 200)
                        ));
                    }
                }
                Destination::Directory(_) => {}
            }
            if parts.transcript.is_some()
                && self.partition_by_date
                && self.formats.contains(&Format::Parquet)
            {
                return usage(
                    "--partition-by date with a transcript: the transcript's Parquet file would be read as part of the chat's dataset; convert the transcript in a run without --partition-by".into(),
                );
            }
        }
        Ok(())
    }

    /// The root of the partitioned dataset, when Parquet is written as one.
    pub(crate) fn dataset_root(&self) -> Option<&Path> {
        if !self.partition_by_date {
            return None;
        }
        match &self.destination {
            Destination::File(path) | Destination::Directory(path) => Some(path),
            Destination::Stdout => None,
        }
    }

    /// Where `format`'s output for `source` goes; `None` for standard output.
    pub(crate) fn path(&self, format: Format, source: &Source) -> Option<PathBuf> {
        match &self.destination {
            Destination::Stdout => None,
            Destination::File(path) => Some(path.clone()),
            Destination::Directory(dir) => {
                Some(dir.join(format!("{}.{}", source.stem, format.extension())))
            }
        }
    }

    /// Where the rejects of `source` go.
    pub(crate) fn rejects_path(&self, source: &Source) -> PathBuf {
        if let Some(path) = &self.rejects {
            return path.clone();
        }
        let name = format!("{}.rejects.jsonl", source.stem);
        match &self.destination {
            Destination::Directory(dir) => dir.join(name),
            Destination::File(path) => path
                .parent()
                .filter(|parent| !parent.as_os_str().is_empty())
                .map_or_else(|| PathBuf::from(&name), |parent| parent.join(&name)),
            Destination::Stdout => PathBuf::from(name),
        }
    }
}
