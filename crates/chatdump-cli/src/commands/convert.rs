//! `chatdump convert`: CSV dumps in, one file per format out, through the pipeline.

use chatdump_pipeline::{Converted, Destination, Options, Plan, Source};

use crate::args::ConvertArgs;
use crate::report::{CliEvents, Reporter};
use crate::setup;

/// `chatdump convert`.
pub(crate) fn run(args: &ConvertArgs, reporter: &mut Reporter) -> anyhow::Result<()> {
    let sources: Vec<Source> = args
        .input
        .inputs
        .iter()
        .map(|path| Source::path(path))
        .collect();
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
