//! `chatdump convert`: CSV dumps in, one file per format out, through the pipeline.

use chatdump_pipeline::{Converted, Destination, MeetingParts, Options, Plan, Source};

use crate::args::ConvertArgs;
use crate::exit::UsageError;
use crate::report::{CliEvents, Reporter};
use crate::setup;

/// `chatdump convert`.
pub(crate) fn run(args: &ConvertArgs, reporter: &mut Reporter) -> anyhow::Result<()> {
    let mut sources: Vec<Source> = args
        .input
        .inputs
        .iter()
        .map(|path| Source::path(path))
        .collect();
    let meeting = &args.meeting;
    if meeting.transcript.is_some() || meeting.summary.is_some() {
        let [source] = sources.as_mut_slice() else {
            return Err(UsageError(
                "--transcript and --summary go with one chat input: convert each session's chat on its own"
                    .into(),
            )
            .into());
        };
        source.parts = MeetingParts {
            transcript: meeting.transcript.clone(),
            summary: meeting.summary.clone(),
            session_start: meeting.session_start,
        };
    }
    let conversion = setup::conversion(&args.conversion, reporter.is_verbose());
    let destination = Destination::infer(
        &args.conversion.output,
        conversion.formats.len(),
        sources.len(),
    )?;
    let plan = conversion.plan(destination);
    convert_and_report(&sources, &plan, &conversion.options, reporter)?;
    Ok(())
}

/// Runs the pipeline with the terminal's progress bar and warnings, then prints a summary line
/// per input.
pub(crate) fn convert_and_report(
    sources: &[Source],
    plan: &Plan,
    options: &Options,
    reporter: &mut Reporter,
) -> anyhow::Result<Vec<Converted>> {
    let converted =
        chatdump_pipeline::convert(sources, plan, options, &mut CliEvents::new(reporter))?;
    for done in &converted {
        reporter.converted(done);
    }
    Ok(converted)
}
