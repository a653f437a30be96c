//! A conversion's settings held together, for the entry points that convert many dumps alike
//! (`export`, `serve`, `export --all`): the formats, the Parquet layout, the rejects file and the
//! options, and the one way a downloaded session's dump is converted into a directory.

use std::path::{Path, PathBuf};

use crate::convert::{Converted, Events, Options, convert};
use crate::error::PipelineError;
use crate::format::Format;
use crate::input::{MeetingParts, Source};
use crate::plan::{Destination, Plan};

/// What every dump is converted into.
#[derive(Debug, Clone)]
pub struct Conversion {
    /// The formats, each once.
    pub formats: Vec<Format>,
    /// Parquet as a hive-partitioned dataset under the output directory.
    pub partition_by_date: bool,
    /// Where skip mode lists rejected records; default `<stem>.rejects.jsonl` beside the outputs.
    pub rejects: Option<PathBuf>,
    /// Where a session's other parts go instead of beside its outputs ([`Plan::parts_dir`]).
    pub parts_dir: Option<PathBuf>,
    /// The pipeline's options.
    pub options: Options,
}

impl Conversion {
    /// The plan that writes these formats to `destination`.
    #[must_use]
    pub fn plan(&self, destination: Destination) -> Plan {
        let mut plan = Plan::new(&self.formats, destination);
        plan.partition_by_date = self.partition_by_date;
        plan.rejects.clone_from(&self.rejects);
        plan.parts_dir.clone_from(&self.parts_dir);
        plan
    }

    /// Converts the dump of `session_id` at `dump` into the directory `dir`, its files named by
    /// the session's stem ([`Source::session`]), with the session's other `parts` (issue 18).
    pub fn session(
        &self,
        dump: &Path,
        session_id: &str,
        parts: MeetingParts,
        dir: &Path,
        events: &mut dyn Events,
    ) -> Result<Converted, PipelineError> {
        let mut source = Source::session(dump, session_id)?;
        source.parts = parts;
        let plan = self.plan(Destination::Directory(dir.to_owned()));
        let mut converted = convert(&[source], &plan, &self.options, events)?;
        Ok(converted.remove(0))
    }
}
