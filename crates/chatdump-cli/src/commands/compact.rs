//! `chatdump compact`: rewrite a day's small per-session Parquet files into large ones.

use chatdump_bulk::{CompactOptions, write_json};

use crate::args::CompactArgs;
use crate::exit::UsageError;
use crate::report::Reporter;
use crate::setup;

/// `chatdump compact`.
pub(crate) fn run(args: &CompactArgs, reporter: &mut Reporter) -> anyhow::Result<()> {
    let (from, to) = match (args.date, args.from, args.to) {
        (Some(date), _, _) => (date, date),
        (None, Some(from), Some(to)) => (from, to),
        _ => return Err(UsageError("give --date, or --from and --to".into()).into()),
    };
    if from > to {
        return Err(UsageError(format!("--from {from} is after --to {to}")).into());
    }
    if args.target_size == 0 {
        return Err(UsageError("--target-size must be above 0".into()).into());
    }
    let store = setup::open_store(&args.root, args.part_size)?;
    let options = CompactOptions {
        from,
        to,
        target_size: args.target_size as u64,
        temp_dir: setup::temp_dir(args.temp_dir.as_deref()),
    };
    let report =
        setup::multi_thread_runtime(2)?.block_on(chatdump_bulk::compact(&store, &options))?;
    if report.recovered {
        reporter.info("finished an interrupted compaction first");
    }
    if report.days.is_empty() {
        reporter.info("nothing to compact");
    }
    for day in &report.days {
        reporter.info(&format!(
            "{}: {} files ({} bytes) -> {} files ({} bytes), {} rows",
            day.date,
            day.files_before,
            day.bytes_before,
            day.files_after,
            day.bytes_after,
            day.rows
        ));
    }
    if let Some(path) = &args.report_json {
        write_json(path, &report)?;
    }
    Ok(())
}
